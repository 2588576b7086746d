//! Compiled backends.

use std::sync::Arc;
use std::time::Duration;

use api::secret::SecretText;
use rustls_pki_types::CertificateDer;

use crate::store::ObjectKey;

#[derive(Debug)]
pub struct Backend {
    pub key: ObjectKey,
    /// `namespace/name`, computed once: logs and metrics use it on every request.
    name: Arc<str>,
    pub kind: BackendKind,
}

impl Backend {
    pub fn new(key: ObjectKey, kind: BackendKind) -> Self {
        Self {
            name: Arc::from(key.namespaced_name()),
            key,
            kind,
        }
    }

    /// `namespace/name`, as shown in errors, logs and metrics.
    pub fn name(&self) -> &Arc<str> {
        &self.name
    }
}

#[derive(Debug)]
pub enum BackendKind {
    Static(StaticBackend),
    /// A valid backend of a kind this build does not serve yet; requests get a 501 that says so.
    NotYetServed {
        what: &'static str,
    },
}

/// A plain HTTP(S) upstream.
#[derive(Debug)]
pub struct StaticBackend {
    pub host: String,
    pub port: u16,
    /// Some: the connection uses TLS.
    pub tls: Option<UpstreamTls>,
    pub http2: bool,
    pub connect_timeout: Duration,
    /// Per-attempt deadline from `policies.http.requestTimeout`.
    pub request_timeout: Option<Duration>,
    pub credential: Option<BackendCredential>,
}

impl StaticBackend {
    /// `host:port`, with IPv6 addresses bracketed.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The `Host` header value: the port is left out when it is the scheme's default.
    pub fn host_header(&self) -> String {
        let default_port = if self.tls.is_some() { 443 } else { 80 };
        if self.port == default_port {
            if self.host.contains(':') {
                format!("[{}]", self.host)
            } else {
                self.host.clone()
            }
        } else {
            self.authority()
        }
    }
}

#[derive(Debug, Clone)]
pub struct UpstreamTls {
    /// Extra roots; empty means the system roots.
    pub ca_certificates: Vec<CertificateDer<'static>>,
    pub insecure_skip_verify: bool,
    /// Name sent in SNI and verified; the backend host when unset.
    pub sni: Option<String>,
    pub alpn: Vec<Vec<u8>>,
}

/// A credential the gateway adds for the backend.
#[derive(Debug, Clone)]
pub enum BackendCredential {
    /// Sent as `Authorization` (prefixed with `Bearer ` unless it already names a scheme).
    Authorization(SecretText),
    /// The client's own `Authorization` header is forwarded untouched.
    Passthrough,
}
