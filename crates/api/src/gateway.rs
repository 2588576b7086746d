//! Gateway API `Gateway` and `GatewayClass`.

use crate::meta::ObjectMeta;

api_struct! {
    /// A Gateway: the listeners (ports, protocols, hostnames, certificates) this proxy serves.
    pub struct Gateway {
        pub api_version: String,
        pub kind: String,
        pub metadata: ObjectMeta,
        pub spec: GatewaySpec,
        /// Written by the controller; ignored on input.
        #[serde(default)]
        #[schemars(skip)]
        pub status: Option<serde_json::Value>,
    }
}

api_struct! {
    pub struct GatewaySpec {
        /// The GatewayClass this Gateway belongs to.
        pub gateway_class_name: String,
        /// 1..64 listeners; each (port, protocol, hostname) triple must be unique.
        pub listeners: Vec<Listener>,
        #[serde(default)]
        pub addresses: Vec<GatewayAddress>,
        /// Deployment settings for this Gateway's proxies.
        #[serde(default)]
        pub infrastructure: Option<GatewayInfrastructure>,
    }
}

api_struct! {
    pub struct GatewayAddress {
        #[serde(default, rename = "type")]
        pub address_type: Option<String>,
        pub value: String,
    }
}

api_struct! {
    pub struct GatewayInfrastructure {
        #[serde(default)]
        pub labels: std::collections::BTreeMap<String, String>,
        #[serde(default)]
        pub annotations: std::collections::BTreeMap<String, String>,
        /// Points at an `AgentgatewayParameters` resource.
        #[serde(default)]
        pub parameters_ref: Option<ParametersRef>,
    }
}

api_struct! {
    pub struct ParametersRef {
        pub group: String,
        pub kind: String,
        pub name: String,
        #[serde(default)]
        pub namespace: Option<String>,
    }
}

api_enum! {
    /// The application protocol of a listener. Only HTTP and HTTPS are served today.
    pub enum ListenerProtocol { HTTP, HTTPS, TLS, TCP, UDP }
}

api_struct! {
    pub struct Listener {
        /// Unique within the Gateway; HTTPRoute `parentRefs[].sectionName` refers to it.
        pub name: String,
        /// Requests whose Host matches (exactly, or `*.example.com` wildcards) are served here.
        #[serde(default)]
        pub hostname: Option<String>,
        pub port: u16,
        pub protocol: ListenerProtocol,
        /// Certificates for HTTPS listeners.
        #[serde(default)]
        pub tls: Option<ListenerTls>,
        #[serde(default)]
        pub allowed_routes: Option<AllowedRoutes>,
    }
}

api_enum! {
    pub enum TlsMode { Terminate, Passthrough }
}

api_struct! {
    pub struct ListenerTls {
        #[serde(default)]
        pub mode: Option<TlsMode>,
        /// Secrets of type `kubernetes.io/tls` with `tls.crt` and `tls.key`.
        #[serde(default)]
        pub certificate_refs: Vec<SecretObjectRef>,
        #[serde(default)]
        pub options: std::collections::BTreeMap<String, String>,
    }
}

api_struct! {
    pub struct SecretObjectRef {
        #[serde(default)]
        pub group: Option<String>,
        #[serde(default)]
        pub kind: Option<String>,
        pub name: String,
        #[serde(default)]
        pub namespace: Option<String>,
    }
}

api_struct! {
    pub struct AllowedRoutes {
        #[serde(default)]
        pub namespaces: Option<RouteNamespaces>,
        #[serde(default)]
        pub kinds: Vec<RouteGroupKind>,
    }
}

api_enum! {
    /// Which namespaces may attach routes: the Gateway's own (`Same`), `All`, or a label `Selector`.
    pub enum FromNamespaces { Same, All, Selector }
}

api_struct! {
    pub struct RouteNamespaces {
        #[serde(default)]
        pub from: Option<FromNamespaces>,
        #[serde(default)]
        pub selector: Option<LabelSelector>,
    }
}

api_struct! {
    pub struct LabelSelector {
        #[serde(default)]
        pub match_labels: std::collections::BTreeMap<String, String>,
    }
}

api_struct! {
    pub struct RouteGroupKind {
        #[serde(default)]
        pub group: Option<String>,
        pub kind: String,
    }
}

api_struct! {
    /// Declares which controller implements Gateways of this class.
    pub struct GatewayClass {
        pub api_version: String,
        pub kind: String,
        pub metadata: ObjectMeta,
        pub spec: GatewayClassSpec,
        #[serde(default)]
        #[schemars(skip)]
        pub status: Option<serde_json::Value>,
    }
}

/// The controller name this project answers to.
pub const CONTROLLER_NAME: &str = "agentgateway.dev/agentgateway";

api_struct! {
    pub struct GatewayClassSpec {
        /// Must be `agentgateway.dev/agentgateway` for this gateway to serve the class.
        pub controller_name: String,
        #[serde(default)]
        pub parameters_ref: Option<ParametersRef>,
        #[serde(default)]
        pub description: Option<String>,
    }
}
