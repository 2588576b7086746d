//! Ports, listeners and their certificates.

use std::sync::Arc;

use rustls::sign::CertifiedKey;

use crate::ir::hostname::HostnamePattern;
use crate::ir::route::RouteTable;
use crate::store::ObjectKey;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ListenerProtocol {
    Http,
    Https,
}

/// Everything served on one port: the listeners of every Gateway that use it.
#[derive(Debug)]
pub struct PortBinding {
    pub port: u16,
    pub protocol: ListenerProtocol,
    /// Most specific hostname first, so the first match wins.
    pub listeners: Vec<Arc<Listener>>,
    /// For HTTPS ports: certificates chosen by SNI.
    pub certificates: Vec<ServerCertificate>,
}

impl PortBinding {
    /// The listener that serves a request for `host` (lower-case, without port).
    pub fn listener_for(&self, host: &str) -> Option<&Arc<Listener>> {
        self.listeners.iter().find(|l| l.hostname.matches(host))
    }

    /// The certificate for a TLS client hello's server name (or the catch-all one).
    pub fn certificate_for(&self, server_name: Option<&str>) -> Option<&Arc<CertifiedKey>> {
        let name = server_name.map(str::to_ascii_lowercase);
        self.certificates
            .iter()
            .find(|c| match &name {
                Some(n) => c.hostname.matches(n),
                None => c.hostname == HostnamePattern::Any,
            })
            .or_else(|| {
                self.certificates
                    .iter()
                    .find(|c| c.hostname == HostnamePattern::Any)
            })
            .or_else(|| self.certificates.first())
            .map(|c| &c.key)
    }
}

#[derive(Debug)]
pub struct ServerCertificate {
    pub hostname: HostnamePattern,
    pub key: Arc<CertifiedKey>,
    /// Which Secret it came from, for the config dump.
    pub secret: ObjectKey,
}

/// One listener of one Gateway.
#[derive(Debug)]
pub struct Listener {
    pub gateway: ObjectKey,
    /// `namespace/name` of the Gateway, computed once for logs and metrics.
    pub gateway_name: Arc<str>,
    /// `namespace/gateway/listener`, as error messages name it.
    pub qualified_name: Arc<str>,
    pub name: String,
    pub hostname: HostnamePattern,
    pub routes: RouteTable,
}
