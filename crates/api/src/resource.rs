//! The closed set of kinds a configuration may hold, and how a document names its kind.

use crate::backend::AgentgatewayBackend;
use crate::gateway::{Gateway, GatewayClass};
use crate::grant::ReferenceGrant;
use crate::httproute::HttpRoute;
use crate::meta::ObjectMeta;
use crate::parameters::AgentgatewayParameters;
use crate::policy::AgentgatewayPolicy;
use crate::secret::Secret;

pub const GATEWAY_API_GROUP: &str = "gateway.networking.k8s.io";
pub const AGENTGATEWAY_GROUP: &str = "agentgateway.dev";

/// Every kind this gateway understands, with the apiVersions accepted for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceKind {
    GatewayClass,
    Gateway,
    HttpRoute,
    ReferenceGrant,
    AgentgatewayBackend,
    AgentgatewayPolicy,
    AgentgatewayParameters,
    Secret,
    /// Only ever referred to (a route's `backendRefs`), never loaded from a file.
    Service,
}

impl ResourceKind {
    pub const ALL: [ResourceKind; 8] = [
        Self::GatewayClass,
        Self::Gateway,
        Self::HttpRoute,
        Self::ReferenceGrant,
        Self::AgentgatewayBackend,
        Self::AgentgatewayPolicy,
        Self::AgentgatewayParameters,
        Self::Secret,
    ];

    /// The `kind:` string as written in YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GatewayClass => "GatewayClass",
            Self::Gateway => "Gateway",
            Self::HttpRoute => "HTTPRoute",
            Self::ReferenceGrant => "ReferenceGrant",
            Self::AgentgatewayBackend => "AgentgatewayBackend",
            Self::AgentgatewayPolicy => "AgentgatewayPolicy",
            Self::AgentgatewayParameters => "AgentgatewayParameters",
            Self::Secret => "Secret",
            Self::Service => "Service",
        }
    }

    pub fn group(self) -> &'static str {
        match self {
            Self::GatewayClass | Self::Gateway | Self::HttpRoute | Self::ReferenceGrant => {
                GATEWAY_API_GROUP
            }
            Self::AgentgatewayBackend | Self::AgentgatewayPolicy | Self::AgentgatewayParameters => {
                AGENTGATEWAY_GROUP
            }
            Self::Secret | Self::Service => "",
        }
    }

    /// apiVersions accepted on input; the first is the one this project writes.
    pub fn api_versions(self) -> &'static [&'static str] {
        match self {
            Self::GatewayClass | Self::Gateway | Self::HttpRoute => &[
                "gateway.networking.k8s.io/v1",
                "gateway.networking.k8s.io/v1beta1",
            ],
            Self::ReferenceGrant => &[
                "gateway.networking.k8s.io/v1beta1",
                "gateway.networking.k8s.io/v1",
            ],
            Self::AgentgatewayBackend | Self::AgentgatewayPolicy | Self::AgentgatewayParameters => {
                &["agentgateway.dev/v1alpha1"]
            }
            Self::Secret | Self::Service => &["v1"],
        }
    }

    pub fn from_kind(kind: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == kind)
    }

    /// The plural lower-case name used in CRDs and URLs.
    pub fn plural(self) -> &'static str {
        match self {
            Self::GatewayClass => "gatewayclasses",
            Self::Gateway => "gateways",
            Self::HttpRoute => "httproutes",
            Self::ReferenceGrant => "referencegrants",
            Self::AgentgatewayBackend => "agentgatewaybackends",
            Self::AgentgatewayPolicy => "agentgatewaypolicies",
            Self::AgentgatewayParameters => "agentgatewayparameters",
            Self::Secret => "secrets",
            Self::Service => "services",
        }
    }
}

impl std::fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One parsed resource of any supported kind. Lives only between parsing and the store,
/// so the size difference between variants does not matter.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Resource {
    GatewayClass(GatewayClass),
    Gateway(Gateway),
    HttpRoute(HttpRoute),
    ReferenceGrant(ReferenceGrant),
    AgentgatewayBackend(AgentgatewayBackend),
    AgentgatewayPolicy(AgentgatewayPolicy),
    AgentgatewayParameters(AgentgatewayParameters),
    Secret(Secret),
}

impl Resource {
    pub fn kind(&self) -> ResourceKind {
        match self {
            Self::GatewayClass(_) => ResourceKind::GatewayClass,
            Self::Gateway(_) => ResourceKind::Gateway,
            Self::HttpRoute(_) => ResourceKind::HttpRoute,
            Self::ReferenceGrant(_) => ResourceKind::ReferenceGrant,
            Self::AgentgatewayBackend(_) => ResourceKind::AgentgatewayBackend,
            Self::AgentgatewayPolicy(_) => ResourceKind::AgentgatewayPolicy,
            Self::AgentgatewayParameters(_) => ResourceKind::AgentgatewayParameters,
            Self::Secret(_) => ResourceKind::Secret,
        }
    }

    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Self::GatewayClass(r) => &r.metadata,
            Self::Gateway(r) => &r.metadata,
            Self::HttpRoute(r) => &r.metadata,
            Self::ReferenceGrant(r) => &r.metadata,
            Self::AgentgatewayBackend(r) => &r.metadata,
            Self::AgentgatewayPolicy(r) => &r.metadata,
            Self::AgentgatewayParameters(r) => &r.metadata,
            Self::Secret(r) => &r.metadata,
        }
    }
}

/// The two fields every document starts with; read first to pick the type for the rest.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TypeMeta {
    #[serde(default)]
    pub api_version: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    /// Read leniently so that even a document with type errors can be named in messages.
    #[serde(default)]
    pub metadata: Option<LooseMeta>,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct LooseMeta {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
}
