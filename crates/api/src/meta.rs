//! Object metadata and references shared by every kind.

use std::collections::BTreeMap;

api_struct! {
    /// The subset of Kubernetes `ObjectMeta` a configuration file may carry.
    pub struct ObjectMeta {
        /// Name of the resource, unique per kind and namespace.
        pub name: String,
        /// Namespace; `default` when omitted.
        #[serde(default)]
        pub namespace: Option<String>,
        #[serde(default)]
        pub labels: BTreeMap<String, String>,
        #[serde(default)]
        pub annotations: BTreeMap<String, String>,
        /// Used for route precedence ties (older first), as in Gateway API.
        #[serde(default)]
        pub creation_timestamp: Option<String>,
        #[serde(default)]
        pub generation: Option<i64>,
        #[serde(default)]
        pub resource_version: Option<String>,
        #[serde(default)]
        pub uid: Option<String>,
    }
}

/// The namespace a resource lives in when its metadata names none.
pub const DEFAULT_NAMESPACE: &str = "default";

impl ObjectMeta {
    pub fn namespace(&self) -> &str {
        self.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE)
    }
}

api_struct! {
    /// A reference to a Secret in the referrer's namespace.
    pub struct LocalSecretRef {
        pub name: String,
    }
}

api_struct! {
    /// A reference to a backend (an `AgentgatewayBackend` or a `Service`) by name and port.
    pub struct BackendObjectRef {
        #[serde(default)]
        pub group: Option<String>,
        #[serde(default)]
        pub kind: Option<String>,
        pub name: String,
        #[serde(default)]
        pub namespace: Option<String>,
        #[serde(default)]
        pub port: Option<u16>,
    }
}

api_struct! {
    /// A name/value header pair (Gateway API `HTTPHeader`).
    pub struct HttpHeader {
        pub name: String,
        pub value: String,
    }
}

api_struct! {
    /// Adds, sets and removes headers (Gateway API `HTTPHeaderFilter`).
    pub struct HeaderModifier {
        #[serde(default)]
        pub set: Vec<HttpHeader>,
        #[serde(default)]
        pub add: Vec<HttpHeader>,
        #[serde(default)]
        pub remove: Vec<String>,
    }
}
