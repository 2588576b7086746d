//! MCP targets reached over HTTP use the gateway's own pools: the same TLS settings,
//! connect and request timeouts and credentials as every other backend.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use config::ir::backend::McpTransport;
use config::ir::{Backend, BackendCredential, BackendKind, StaticBackend};
use http::header::{self, HeaderValue};
use http::{Request, Uri, Version};
use mcp::target::{HttpClient, HttpFuture};

use crate::body::full;
use crate::upstream::UpstreamClient;

pub(crate) struct TargetClient {
    /// The backend holding the target's connection settings (kept alive with it).
    backend: Arc<Backend>,
    index: usize,
    client: UpstreamClient,
}

impl TargetClient {
    pub(crate) fn new(backend: Arc<Backend>, index: usize, client: UpstreamClient) -> Self {
        Self {
            backend,
            index,
            client,
        }
    }

    fn target(&self) -> Option<&StaticBackend> {
        let BackendKind::Mcp(mcp) = &self.backend.kind else {
            return None;
        };
        match &mcp.targets.get(self.index)?.transport {
            McpTransport::StreamableHttp { backend, .. } | McpTransport::Sse { backend, .. } => {
                Some(backend)
            }
            McpTransport::Stdio { .. } => None,
        }
    }

    fn prepare(
        &self,
        request: Request<Bytes>,
    ) -> Result<(Request<crate::body::BoxBody>, Option<Duration>), String> {
        let target = self
            .target()
            .ok_or_else(|| "the MCP target is not reached over HTTP".to_string())?;
        let (mut parts, body) = request.into_parts();
        let endpoint = &target.endpoint;
        let mut uri = http::uri::Parts::default();
        uri.scheme = Some(endpoint.scheme.clone());
        uri.authority = Some(endpoint.authority.clone());
        uri.path_and_query = parts.uri.path_and_query().cloned();
        parts.uri =
            Uri::from_parts(uri).map_err(|e| format!("cannot build the target URL: {e}"))?;
        parts.version = if target.http2 && target.tls.is_none() {
            Version::HTTP_2
        } else {
            Version::HTTP_11
        };
        parts
            .headers
            .insert(header::HOST, endpoint.host_header.clone());
        if let Some(BackendCredential::Authorization(secret)) = &target.credential {
            let value = secret.expose();
            let value = if value.contains(' ') {
                value.to_string()
            } else {
                format!("Bearer {value}")
            };
            let mut value = HeaderValue::from_str(&value)
                .map_err(|_| "the target credential is not a valid header value".to_string())?;
            value.set_sensitive(true);
            parts.headers.insert(header::AUTHORIZATION, value);
        }
        Ok((
            Request::from_parts(parts, full(body)),
            target.request_timeout,
        ))
    }
}

impl HttpClient for TargetClient {
    fn send(&self, request: Request<Bytes>) -> HttpFuture {
        let prepared = self.prepare(request);
        let client = self.client.clone();
        Box::pin(async move {
            let (request, timeout) = prepared?;
            let sent = client.request(request);
            let response = match timeout {
                Some(limit) => tokio::time::timeout(limit, sent)
                    .await
                    .map_err(|_| format!("{} {limit:?}", mcp::target::TIMED_OUT))?,
                None => sent.await,
            };
            response.map_err(|e| e.to_string())
        })
    }
}
