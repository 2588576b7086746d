//! Remote JWKS documents for JWT authentication: fetched when a configuration goes live and
//! again every `cacheDuration`, so an identity provider's key rotation reaches the gateway
//! without a reload. A failed fetch keeps the last good key set and is retried sooner.

use std::sync::{Arc, Weak};
use std::time::Duration;

use config::ir::policy::RemoteJwks;
use http::header::{self, HeaderValue};
use http::{Method, Request};
use policy::jwt::Jwks;

use crate::body::{collect_limited, empty};
use crate::snapshot::Snapshot;

/// JWKS documents are small; anything larger is not one.
const JWKS_LIMIT: usize = 1024 * 1024;
/// How soon a failed fetch is tried again.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts one refresher per remote key set of the snapshot. Each stops by itself once the
/// snapshot is gone (replaced and no request still using it).
pub(crate) fn spawn_refreshers(snapshot: &Arc<Snapshot>) {
    for (index, source) in snapshot.config.remote_jwks.iter().enumerate() {
        let weak = Arc::downgrade(snapshot);
        let source = source.clone();
        tokio::spawn(refresh(weak, index, source));
    }
}

async fn refresh(snapshot: Weak<Snapshot>, index: usize, source: Arc<RemoteJwks>) {
    loop {
        let wait = {
            let Some(snapshot) = snapshot.upgrade() else {
                return;
            };
            match fetch(&snapshot, &source).await {
                Ok(jwks) => {
                    tracing::debug!(url = %source.url, keys = jwks.len(), "JWKS fetched");
                    source.keys.replace(jwks);
                    source.refresh
                }
                Err(reason) => {
                    tracing::warn!(url = %source.url, jwks = index, %reason, "JWKS fetch failed; the last good key set stays in use");
                    RETRY_AFTER_FAILURE.min(source.refresh)
                }
            }
        };
        tokio::time::sleep(wait).await;
    }
}

async fn fetch(snapshot: &Snapshot, source: &RemoteJwks) -> Result<Jwks, String> {
    let endpoint = &source.target.endpoint;
    let uri = http::Uri::builder()
        .scheme(endpoint.scheme.clone())
        .authority(endpoint.authority.clone())
        .path_and_query(source.path.as_str())
        .build()
        .map_err(|e| e.to_string())?;
    let request = Request::builder()
        .method(Method::GET)
        .uri(uri)
        .header(header::HOST, endpoint.host_header.clone())
        .header(header::ACCEPT, HeaderValue::from_static("application/json"))
        .body(empty())
        .map_err(|e| e.to_string())?;
    let client = snapshot
        .client(&source.target)
        .ok_or_else(|| "no connection pool for the JWKS URL".to_string())?;
    let response = tokio::time::timeout(FETCH_TIMEOUT, client.request(request))
        .await
        .map_err(|_| format!("no answer within {FETCH_TIMEOUT:?}"))?
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let bytes = collect_limited(response.into_body(), JWKS_LIMIT)
        .await
        .map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("answered {status}"));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| "the JWKS is not UTF-8".to_string())?;
    Jwks::parse(text).map_err(|e| e.to_string())
}
