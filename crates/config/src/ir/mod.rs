//! The compiled configuration: immutable, shared behind `Arc`, already parsed so the proxy
//! never re-validates anything on the request path.

pub mod backend;
pub mod filters;
pub mod hostname;
pub mod listener;
pub mod policy;
pub mod route;

use std::collections::BTreeMap;
use std::sync::Arc;

use api::parameters::LogFormat;

pub use backend::{Backend, BackendCredential, BackendKind, StaticBackend, UpstreamTls};
pub use listener::{Listener, ListenerProtocol, PortBinding, ServerCertificate};
pub use route::{RequestFacts, RouteEntry, RouteRule, RouteTable, WeightedBackend};

use crate::error::ConfigError;
use crate::status::ResourceStatus;
use crate::store::ObjectKey;

/// A whole compiled configuration, swapped in atomically by the proxy.
#[derive(Debug, Default)]
pub struct Config {
    /// One entry per listening port, sorted by port.
    pub ports: Vec<PortBinding>,
    pub backends: BTreeMap<ObjectKey, Arc<Backend>>,
    /// From the `AgentgatewayParameters` a Gateway or GatewayClass refers to.
    pub logging: LoggingSettings,
    /// From the same `AgentgatewayParameters`: read when the proxy starts.
    pub shutdown: ShutdownSettings,
    pub statuses: Vec<ResourceStatus>,
    /// Problems that do not stop the configuration from serving.
    pub warnings: Vec<ConfigError>,
    pub resource_count: usize,
    /// JWKS documents to fetch (and keep fresh) for JWT authentication.
    pub remote_jwks: Vec<Arc<crate::ir::policy::RemoteJwks>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoggingSettings {
    pub level: Option<String>,
    pub format: Option<LogFormat>,
}

/// `AgentgatewayParameters.spec.shutdown`: after a stop signal the proxy reports not
/// ready but keeps serving for `min` (so load balancers stop sending), then stops
/// accepting and lets open requests finish for up to `max`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShutdownSettings {
    pub min: Option<std::time::Duration>,
    pub max: Option<std::time::Duration>,
}

impl Config {
    pub fn port(&self, port: u16) -> Option<&PortBinding> {
        self.ports.iter().find(|p| p.port == port)
    }
}
