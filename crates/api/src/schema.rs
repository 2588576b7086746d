//! JSON Schema and CustomResourceDefinition generation from the Rust types.
//!
//! The types are the single source of truth: `agentgateway schema` and `agentgateway crds`
//! print what is generated here, and a test keeps the checked-in copies from drifting.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema};
use serde_json::{Map, Value, json};

use crate::backend::{AgentgatewayBackend, BackendSpec};
use crate::gateway::{Gateway, GatewayClass};
use crate::grant::ReferenceGrant;
use crate::httproute::HttpRoute;
use crate::parameters::{AgentgatewayParameters, ParametersSpec};
use crate::policy::{AgentgatewayPolicy, PolicySpec};
use crate::resource::ResourceKind;
use crate::secret::Secret;

/// The JSON Schema (draft 2020-12) of one kind's whole document (None for kinds that are
/// only referred to, never written: `Service`).
pub fn json_schema(kind: ResourceKind) -> Option<Value> {
    let generator = SchemaSettings::draft2020_12().into_generator();
    let schema = match kind {
        ResourceKind::GatewayClass => generator.into_root_schema_for::<GatewayClass>(),
        ResourceKind::Gateway => generator.into_root_schema_for::<Gateway>(),
        ResourceKind::HttpRoute => generator.into_root_schema_for::<HttpRoute>(),
        ResourceKind::ReferenceGrant => generator.into_root_schema_for::<ReferenceGrant>(),
        ResourceKind::AgentgatewayBackend => {
            generator.into_root_schema_for::<AgentgatewayBackend>()
        }
        ResourceKind::AgentgatewayPolicy => generator.into_root_schema_for::<AgentgatewayPolicy>(),
        ResourceKind::AgentgatewayParameters => {
            generator.into_root_schema_for::<AgentgatewayParameters>()
        }
        ResourceKind::Secret => generator.into_root_schema_for::<Secret>(),
        ResourceKind::Service => return None,
    };
    Some(schema.to_value())
}

/// The agentgateway.dev kinds this project owns, with their CRD short names.
const OWNED_KINDS: [(ResourceKind, &[&str]); 3] = [
    (ResourceKind::AgentgatewayBackend, &["agbe"]),
    (ResourceKind::AgentgatewayPolicy, &["agpol"]),
    (ResourceKind::AgentgatewayParameters, &["agpar"]),
];

/// CustomResourceDefinitions (apiextensions.k8s.io/v1) for the agentgateway.dev kinds.
pub fn crds() -> Vec<Value> {
    OWNED_KINDS
        .iter()
        .map(|(kind, short_names)| {
            let spec = structural(spec_schema(*kind));
            crd(*kind, short_names, spec)
        })
        .collect()
}

fn spec_schema(kind: ResourceKind) -> Schema {
    // Kubernetes wants every subschema inline (no $ref) and OpenAPI v3 flavour.
    let generator = SchemaSettings::openapi3()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .into_generator();
    match kind {
        ResourceKind::AgentgatewayPolicy => generator.into_root_schema_for::<PolicySpec>(),
        ResourceKind::AgentgatewayParameters => generator.into_root_schema_for::<ParametersSpec>(),
        _ => generator.into_root_schema_for::<BackendSpec>(),
    }
}

fn crd(kind: ResourceKind, short_names: &[&str], spec: Value) -> Value {
    let plural = kind.plural();
    let group = kind.group();
    let mut status = Map::new();
    status.insert("type".into(), json!("object"));
    status.insert("x-kubernetes-preserve-unknown-fields".into(), json!(true));
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": { "name": format!("{plural}.{group}") },
        "spec": {
            "group": group,
            "names": {
                "kind": kind.as_str(),
                "listKind": format!("{}List", kind.as_str()),
                "plural": plural,
                "singular": kind.as_str().to_lowercase(),
                "shortNames": short_names,
                "categories": ["agentgateway"],
            },
            "scope": "Namespaced",
            "versions": [{
                "name": "v1alpha1",
                "served": true,
                "storage": true,
                "subresources": { "status": {} },
                "schema": { "openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "apiVersion": { "type": "string" },
                        "kind": { "type": "string" },
                        "metadata": { "type": "object" },
                        "spec": spec,
                        "status": Value::Object(status),
                    },
                    "required": ["spec"],
                }},
            }],
        },
    })
}

/// Rewrites a generated schema into a Kubernetes structural schema: no `$schema`/`title`,
/// `const` as a one-value `enum`, no `additionalProperties: false` (the API server prunes
/// unknown fields itself), only the integer formats it knows, and `nullable` dropped.
pub fn structural(schema: Schema) -> Value {
    let mut value = schema.to_value();
    clean(&mut value);
    value
}

fn clean(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.remove("$schema");
            map.remove("title");
            map.remove("nullable");
            if map.get("additionalProperties") == Some(&Value::Bool(false)) {
                map.remove("additionalProperties");
            }
            if let Some(constant) = map.remove("const") {
                map.insert("enum".into(), Value::Array(vec![constant]));
            }
            if let Some(Value::String(format)) = map.get("format")
                && !matches!(
                    format.as_str(),
                    "int32" | "int64" | "double" | "float" | "byte"
                )
            {
                map.remove("format");
            }
            // A `type: [string, "null"]` pair from an Option becomes plain `string`.
            if let Some(Value::Array(types)) = map.get("type") {
                let non_null: Vec<Value> = types
                    .iter()
                    .filter(|t| t.as_str() != Some("null"))
                    .cloned()
                    .collect();
                if let [only] = non_null.as_slice() {
                    map.insert("type".into(), only.clone());
                }
            }
            for v in map.values_mut() {
                clean(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(clean),
        _ => {}
    }
}

/// A type's schema, for tests and tooling that need one piece.
pub fn schema_of<T: JsonSchema>() -> Value {
    schemars::schema_for!(T).to_value()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_structural(path: &str, value: &Value) {
        match value {
            Value::Object(map) => {
                assert!(
                    !map.contains_key("$ref"),
                    "{path}: $ref is not allowed in a CRD"
                );
                assert!(!map.contains_key("const"), "{path}: const is not allowed");
                for (k, v) in map {
                    if k != "enum" && k != "required" && k != "example" {
                        assert_structural(&format!("{path}.{k}"), v);
                    }
                }
                if map.contains_key("properties") {
                    assert_eq!(
                        map.get("type"),
                        Some(&json!("object")),
                        "{path}: properties need type object"
                    );
                }
            }
            Value::Array(items) => items.iter().for_each(|v| assert_structural(path, v)),
            _ => {}
        }
    }

    #[test]
    fn crds_are_structural() {
        let crds = crds();
        assert_eq!(crds.len(), 3);
        for crd in &crds {
            assert_structural("crd", crd);
        }
        let backend = &crds[0];
        assert_eq!(backend["spec"]["names"]["shortNames"], json!(["agbe"]));
        let spec =
            &backend["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        assert_eq!(spec["type"], json!("object"));
        assert!(spec["properties"]["ai"]["properties"]["provider"].is_object());
    }

    #[test]
    fn every_kind_has_a_json_schema() {
        for kind in ResourceKind::ALL {
            let schema = json_schema(kind).unwrap();
            assert!(
                schema["properties"]["spec"].is_object() || kind == ResourceKind::Secret,
                "{kind}"
            );
        }
    }
}
