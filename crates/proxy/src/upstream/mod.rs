//! Connections to backends: one pooled client per distinct connection setting, kept across
//! reloads so that a config change does not drop warm keep-alive connections.

pub mod connector;
pub mod health;
pub mod http1;
pub mod pool;
pub mod tls;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use config::ir::StaticBackend;
use connector::Connector;
pub use pool::{UpstreamClient, UpstreamError};

/// What makes two backends share a pool.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PoolKey {
    host: String,
    port: u16,
    http2: bool,
    connect_timeout: Duration,
    /// TLS settings, rendered; None for plain text.
    tls: Option<String>,
}

pub struct UpstreamPools {
    // Taken only while a configuration is being prepared, never per request.
    clients: Mutex<HashMap<PoolKey, UpstreamClient>>,
    /// Provider access tokens outlive configurations just as connections do.
    pub tokens: std::sync::Arc<crate::llm_route::cloud_auth::TokenCache>,
    /// Seals MCP session ids; the same key for every configuration, so sessions of HTTP
    /// targets survive reloads.
    pub mcp_sessions: std::sync::Arc<mcp::session_token::SessionCodec>,
    /// MCP endpoints by backend, with the fingerprint of the configuration they were built
    /// from: an unchanged backend keeps its endpoint (and its sessions) across reloads.
    pub mcp_endpoints: Mutex<HashMap<String, (u64, crate::mcp_route::McpEndpoint)>>,
}

impl UpstreamPools {
    pub fn new(mcp_sessions: std::sync::Arc<mcp::session_token::SessionCodec>) -> Self {
        Self {
            clients: Mutex::default(),
            tokens: Default::default(),
            mcp_sessions,
            mcp_endpoints: Mutex::default(),
        }
    }

    /// The client for a backend, reusing the pool of an identical earlier one.
    pub fn client_for(&self, backend: &StaticBackend) -> Result<UpstreamClient, rustls::Error> {
        let key = PoolKey {
            host: backend.host.clone(),
            port: backend.port,
            http2: backend.http2,
            connect_timeout: backend.connect_timeout,
            tls: backend.tls.as_ref().map(|t| {
                format!(
                    "{:?}|{}|{:?}|{:?}",
                    t.ca_certificates, t.insecure_skip_verify, t.sni, t.alpn
                )
            }),
        };
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        let tls = match &backend.tls {
            Some(t) => Some((
                tls::client_config(t, backend.http2)?,
                t.sni.clone().unwrap_or_else(|| backend.host.clone()),
            )),
            None => None,
        };
        let connector = Connector {
            connect_timeout: backend.connect_timeout,
            tls,
        };
        // Plain-text HTTP/2 is prior knowledge (h2c); over TLS, ALPN decides.
        let h2c = backend.http2 && backend.tls.is_none();
        let client = UpstreamClient::new(connector, backend.host.clone(), backend.port, h2c);
        clients.insert(key, client.clone());
        Ok(client)
    }

    /// Drops pools no configuration uses any more.
    pub fn retain(&self, live: &[&StaticBackend]) {
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        clients.retain(|k, _| live.iter().any(|b| b.host == k.host && b.port == k.port));
    }
}
