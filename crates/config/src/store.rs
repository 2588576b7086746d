//! All raw resources of one load, indexed by kind, namespace and name, each with its origin.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use api::backend::AgentgatewayBackend;
use api::gateway::{Gateway, GatewayClass};
use api::grant::ReferenceGrant;
use api::httproute::HttpRoute;
use api::parameters::AgentgatewayParameters;
use api::policy::AgentgatewayPolicy;
use api::secret::Secret;
use api::{Resource, ResourceKind};

use crate::error::Location;
use crate::locate::line_of;
use crate::source::Document;

/// `Kind namespace/name`: how errors, statuses and metrics name a resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct ObjectKey {
    #[serde(serialize_with = "serialize_kind")]
    pub kind: ResourceKind,
    pub namespace: String,
    pub name: String,
}

fn serialize_kind<S: serde::Serializer>(kind: &ResourceKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind.as_str())
}

impl ObjectKey {
    pub fn new(kind: ResourceKind, namespace: &str, name: &str) -> Self {
        Self {
            kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }

    /// `namespace/name`, the form used in metric labels.
    pub fn namespaced_name(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// Where a resource was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: Arc<str>,
    pub start_line: usize,
    pub text: Arc<str>,
}

impl Origin {
    pub fn from_document(doc: &Document) -> Self {
        Self {
            file: doc.file.clone(),
            start_line: doc.start_line,
            text: Arc::from(doc.text.as_str()),
        }
    }

    /// The file and line of a field path inside this resource (the resource's first line
    /// when the path cannot be found).
    pub fn locate(&self, path: &str) -> Location {
        let offset = line_of(&self.text, path).unwrap_or(0);
        Location {
            file: self.file.clone(),
            line: self.start_line + offset,
        }
    }
}

/// A resource with its identity and origin.
#[derive(Debug, Clone)]
pub struct Entry<T> {
    pub key: ObjectKey,
    pub origin: Origin,
    pub resource: T,
}

impl<T> Entry<T> {
    pub fn location(&self, path: &str) -> Location {
        self.origin.locate(path)
    }
}

/// Every resource of a load, sorted by key within each kind.
#[derive(Debug, Clone, Default)]
pub struct ResourceStore {
    pub gateway_classes: BTreeMap<ObjectKey, Entry<GatewayClass>>,
    pub gateways: BTreeMap<ObjectKey, Entry<Gateway>>,
    pub routes: BTreeMap<ObjectKey, Entry<HttpRoute>>,
    pub grants: BTreeMap<ObjectKey, Entry<ReferenceGrant>>,
    pub backends: BTreeMap<ObjectKey, Entry<AgentgatewayBackend>>,
    pub policies: BTreeMap<ObjectKey, Entry<AgentgatewayPolicy>>,
    pub parameters: BTreeMap<ObjectKey, Entry<AgentgatewayParameters>>,
    pub secrets: BTreeMap<ObjectKey, Entry<Secret>>,
}

impl ResourceStore {
    /// Adds a resource; returns the origin of an earlier one with the same key if any.
    pub fn insert(&mut self, resource: Resource, origin: Origin) -> Result<(), Origin> {
        let meta = resource.metadata();
        let key = ObjectKey::new(resource.kind(), meta.namespace(), &meta.name);
        fn put<T>(
            map: &mut BTreeMap<ObjectKey, Entry<T>>,
            key: ObjectKey,
            origin: Origin,
            resource: T,
        ) -> Result<(), Origin> {
            if let Some(existing) = map.get(&key) {
                return Err(existing.origin.clone());
            }
            map.insert(
                key.clone(),
                Entry {
                    key,
                    origin,
                    resource,
                },
            );
            Ok(())
        }
        match resource {
            Resource::GatewayClass(r) => put(&mut self.gateway_classes, key, origin, r),
            Resource::Gateway(r) => put(&mut self.gateways, key, origin, r),
            Resource::HttpRoute(r) => put(&mut self.routes, key, origin, r),
            Resource::ReferenceGrant(r) => put(&mut self.grants, key, origin, r),
            Resource::AgentgatewayBackend(r) => put(&mut self.backends, key, origin, r),
            Resource::AgentgatewayPolicy(r) => put(&mut self.policies, key, origin, r),
            Resource::AgentgatewayParameters(r) => put(&mut self.parameters, key, origin, r),
            Resource::Secret(r) => put(&mut self.secrets, key, origin, r),
        }
    }

    pub fn secret(&self, namespace: &str, name: &str) -> Option<&Entry<Secret>> {
        self.secrets
            .get(&ObjectKey::new(ResourceKind::Secret, namespace, name))
    }

    pub fn backend(&self, namespace: &str, name: &str) -> Option<&Entry<AgentgatewayBackend>> {
        self.backends.get(&ObjectKey::new(
            ResourceKind::AgentgatewayBackend,
            namespace,
            name,
        ))
    }

    pub fn gateway(&self, namespace: &str, name: &str) -> Option<&Entry<Gateway>> {
        self.gateways
            .get(&ObjectKey::new(ResourceKind::Gateway, namespace, name))
    }

    /// How many resources were loaded, for logs.
    pub fn len(&self) -> usize {
        self.gateway_classes.len()
            + self.gateways.len()
            + self.routes.len()
            + self.grants.len()
            + self.backends.len()
            + self.policies.len()
            + self.parameters.len()
            + self.secrets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
