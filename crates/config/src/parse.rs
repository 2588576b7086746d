//! YAML documents -> typed resources, with errors that point at the offending line.

use serde::de::DeserializeOwned;

use api::resource::TypeMeta;
use api::{Resource, ResourceKind};

use crate::error::{ConfigError, ConfigErrors, Location};
use crate::source::Document;
use crate::store::{ObjectKey, Origin, ResourceStore};

/// Parses every document, collecting all errors.
pub fn parse_documents(documents: &[Document]) -> Result<ResourceStore, ConfigErrors> {
    let (store, errors) = parse_documents_leniently(documents);
    if errors.is_empty() {
        Ok(store)
    } else {
        Err(errors)
    }
}

/// Every document that parses, in a store, and the errors of those that do not: so the
/// rest of the configuration can still be checked in the same run.
pub fn parse_documents_leniently(documents: &[Document]) -> (ResourceStore, ConfigErrors) {
    let mut store = ResourceStore::default();
    let mut errors = ConfigErrors::default();
    for doc in documents {
        match parse_document(doc) {
            Ok(resource) => {
                let origin = Origin::from_document(doc);
                let meta = resource.metadata().clone();
                let kind = resource.kind();
                if let Err(first) = store.insert(resource, origin) {
                    errors.push(
                        ConfigError::new(format!(
                            "{kind} {}/{} is declared twice (first at {}:{})",
                            meta.namespace(),
                            meta.name,
                            first.file,
                            first.start_line
                        ))
                        .at(Some(Location {
                            file: doc.file.clone(),
                            line: doc.start_line,
                        }))
                        .hint("rename one of them or delete the duplicate"),
                    );
                }
            }
            Err(e) => errors.0.extend(e),
        }
    }
    (store, errors)
}

/// Parses one document into the resource its `apiVersion` and `kind` name.
pub fn parse_document(doc: &Document) -> Result<Resource, Vec<ConfigError>> {
    parse_document_once(doc, &doc.text).map_err(|first| more_unknown_fields(doc, first))
}

/// After an unknown field, the document is read again without that field's lines, as
/// long as that finds further unknown fields: misspellings come in numbers, and each
/// should not take a run of its own. (Other errors stop the search: what follows them
/// cannot be trusted.)
fn more_unknown_fields(doc: &Document, first: ConfigError) -> Vec<ConfigError> {
    let mut errors = vec![first];
    if !errors[0].message.starts_with("unknown field") {
        return errors;
    }
    let mut text = doc.text.clone();
    for _ in 0..20 {
        let Some(last) = errors.last() else { break };
        let Some(line) = last.location.as_ref().map(|l| l.line - doc.start_line) else {
            break;
        };
        let Some(shorter) = without_block_at(&text, line) else {
            break;
        };
        text = shorter;
        match parse_document_once(doc, &text) {
            // A missing field now may be the one misspelled: not an error of its own.
            Err(next)
                if next.message.starts_with("unknown field")
                    && !errors.iter().any(|e| e.location == next.location) =>
            {
                errors.push(next)
            }
            _ => break,
        }
    }
    errors
}

/// `text` with the mapping entry that starts on 0-based `line` (and the deeper-indented
/// lines under it) blanked, so later line numbers stay right; None when that line is not
/// a plain `key:` entry (a list item's first key, a flow mapping).
fn without_block_at(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let entry = lines.get(line)?;
    let indent = entry.len() - entry.trim_start().len();
    let trimmed = entry.trim_start();
    if trimmed.starts_with('-') || trimmed.starts_with('{') || !trimmed.contains(':') {
        return None;
    }
    let mut end = line + 1;
    while let Some(next) = lines.get(end) {
        let next_indent = next.len() - next.trim_start().len();
        if !next.trim().is_empty() && next_indent <= indent {
            break;
        }
        end += 1;
    }
    let kept: Vec<&str> = lines
        .iter()
        .enumerate()
        .map(|(at, l)| if (line..end).contains(&at) { "" } else { *l })
        .collect();
    Some(kept.join("\n") + "\n")
}

fn parse_document_once(doc: &Document, text: &str) -> Result<Resource, ConfigError> {
    let doc_location = Location {
        file: doc.file.clone(),
        line: doc.start_line,
    };
    let type_meta: TypeMeta = serde_yaml::from_str(text).map_err(|e| {
        ConfigError::new(format!(
            "not valid YAML: {}",
            strip_location(&e.to_string())
        ))
        .at(Some(yaml_location(doc, &e).unwrap_or(doc_location.clone())))
        .hint("check indentation and quoting")
    })?;
    let Some(kind_name) = type_meta.kind else {
        return Err(ConfigError::new("document has no `kind`")
            .at(Some(doc_location))
            .hint(format!(
                "every document needs apiVersion and kind; known kinds: {}",
                known_kinds()
            )));
    };
    let Some(kind) = ResourceKind::from_kind(&kind_name) else {
        return Err(ConfigError::new(format!("unknown kind `{kind_name}`"))
            .at(Some(doc_location))
            .field("kind")
            .hint(format!("known kinds: {}", known_kinds())));
    };
    let api_version = type_meta.api_version.unwrap_or_default();
    if !kind.api_versions().contains(&api_version.as_str()) {
        return Err(ConfigError::new(format!(
            "apiVersion `{api_version}` is not served for kind {kind}"
        ))
        .at(Some(doc_location))
        .field("apiVersion")
        .hint(format!("use apiVersion: {}", kind.api_versions()[0])));
    }
    let name = type_meta.metadata.clone().unwrap_or_default();
    let key = ObjectKey::new(
        kind,
        name.namespace
            .as_deref()
            .unwrap_or(api::meta::DEFAULT_NAMESPACE),
        name.name.as_deref().unwrap_or("<unnamed>"),
    );
    match kind {
        ResourceKind::GatewayClass => typed(doc, text).map(Resource::GatewayClass),
        ResourceKind::Gateway => typed(doc, text).map(Resource::Gateway),
        ResourceKind::HttpRoute => typed(doc, text).map(Resource::HttpRoute),
        ResourceKind::ReferenceGrant => typed(doc, text).map(Resource::ReferenceGrant),
        ResourceKind::AgentgatewayBackend => typed(doc, text).map(Resource::AgentgatewayBackend),
        ResourceKind::AgentgatewayPolicy => typed(doc, text).map(Resource::AgentgatewayPolicy),
        ResourceKind::AgentgatewayParameters => {
            typed(doc, text).map(Resource::AgentgatewayParameters)
        }
        ResourceKind::Secret => typed(doc, text).map(Resource::Secret),
        ResourceKind::Service => Err(ConfigError::new(
            "Services are read from a cluster, not from files",
        )
        .at(Some(doc_location))
        .field("kind")),
    }
    .map_err(|e| {
        e.resource(&key).hint(format!(
            "`agentgateway schema {kind_name}` prints every field of {kind_name}"
        ))
    })
}

fn typed<T: DeserializeOwned>(doc: &Document, text: &str) -> Result<T, ConfigError> {
    let deserializer = serde_yaml::Deserializer::from_str(text);
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let location =
            yaml_location(doc, &inner).unwrap_or_else(|| Origin::from_document(doc).locate(&path));
        let mut message = strip_location(&inner.to_string());
        // serde_yaml starts some messages with the path (or the parent's path) again.
        if let Some((prefix, rest)) = message.split_once(": ")
            && !prefix.contains(' ')
            && path.starts_with(prefix)
        {
            message = rest.to_string();
        }
        let error = ConfigError::new(message).at(Some(location));
        if path == "." {
            error
        } else {
            error.field(path)
        }
    })
}

fn yaml_location(doc: &Document, e: &serde_yaml::Error) -> Option<Location> {
    e.location().map(|l| Location {
        file: doc.file.clone(),
        line: doc.start_line + l.line().saturating_sub(1),
    })
}

/// serde_yaml appends " at line N column M"; the location is shown separately.
fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(pos) => message[..pos].to_string(),
        None => message.to_string(),
    }
}

fn known_kinds() -> String {
    ResourceKind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::load_str;

    fn parse(text: &str) -> Result<ResourceStore, ConfigErrors> {
        parse_documents(&load_str("cfg.yaml", text))
    }

    #[test]
    fn unknown_field_names_file_line_field_and_choices() {
        let text = "\
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata:
  name: b
spec:
  static:
    host: example.com
    prot: 80
";
        let errors = parse(text).unwrap_err();
        assert_eq!(errors.len(), 1);
        let e = &errors.0[0];
        assert_eq!(e.location.as_ref().unwrap().line, 8, "{e}");
        assert_eq!(e.field.as_deref(), Some("spec.static.prot"));
        assert!(e.message.contains("unknown field `prot`"), "{e}");
        assert!(e.message.contains("port"), "{e}");
    }

    #[test]
    fn reports_every_bad_document() {
        let text = "\
kind: Gateway
apiVersion: gateway.networking.k8s.io/v1
metadata: {name: g}
spec:
  gatewayClassName: agentgateway
  listeners:
  - name: http
    port: eighty
    protocol: HTTP
---
kind: Widget
apiVersion: v1
metadata: {name: w}
---
apiVersion: agentgateway.dev/v1
kind: AgentgatewayBackend
metadata: {name: b}
spec: {}
";
        let errors = parse(text).unwrap_err();
        assert_eq!(errors.len(), 3, "{errors}");
        assert_eq!(errors.0[0].location.as_ref().unwrap().line, 8, "{errors}");
        assert!(errors.0[1].message.contains("unknown kind `Widget`"));
        assert_eq!(errors.0[1].location.as_ref().unwrap().line, 11);
        assert!(
            errors.0[2]
                .hint
                .as_deref()
                .unwrap()
                .contains("agentgateway.dev/v1alpha1")
        );
    }

    #[test]
    fn duplicate_resources_are_errors() {
        let doc = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {k: v}\n";
        let errors = parse(&format!("{doc}---\n{doc}")).unwrap_err();
        assert!(
            errors.0[0]
                .message
                .contains("declared twice (first at cfg.yaml:1)"),
            "{errors}"
        );
    }

    #[test]
    fn invalid_yaml_is_reported_with_its_line() {
        let errors = parse("kind: Secret\napiVersion: v1\nmetadata: {name: s\n").unwrap_err();
        assert!(
            errors.0[0].message.starts_with("not valid YAML"),
            "{errors}"
        );
    }
}
