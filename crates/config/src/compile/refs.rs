//! Cross-namespace references and the ReferenceGrants that allow them.

use api::resource::GATEWAY_API_GROUP;

use crate::store::ResourceStore;

/// Who refers.
pub(crate) struct From<'a> {
    pub group: &'a str,
    pub kind: &'a str,
    pub namespace: &'a str,
}

/// What is referred to.
pub(crate) struct To<'a> {
    pub group: &'a str,
    pub kind: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
}

/// Same-namespace references are always allowed; others need a ReferenceGrant in the
/// target namespace naming the referrer's namespace and kind, and the target's kind.
pub(crate) fn reference_allowed(store: &ResourceStore, from: &From<'_>, to: &To<'_>) -> bool {
    if from.namespace == to.namespace {
        return true;
    }
    store
        .grants
        .values()
        .filter(|g| g.key.namespace == to.namespace)
        .any(|grant| {
            let spec = &grant.resource.spec;
            spec.from.iter().any(|f| {
                f.group == from.group && f.kind == from.kind && f.namespace == from.namespace
            }) && spec.to.iter().any(|t| {
                t.group == to.group
                    && t.kind == to.kind
                    && t.name.as_deref().is_none_or(|n| n == to.name)
            })
        })
}

/// The hint shown when a grant is missing.
pub(crate) fn grant_hint(from: &From<'_>, to: &To<'_>) -> String {
    format!(
        "add a ReferenceGrant ({GATEWAY_API_GROUP}/v1beta1) in namespace {} with from: [{{group: \"{}\", kind: {}, namespace: {}}}] and to: [{{group: \"{}\", kind: {}}}]",
        to.namespace, from.group, from.kind, from.namespace, to.group, to.kind
    )
}
