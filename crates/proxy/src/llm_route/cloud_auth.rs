//! Credentials made per request: a SigV4 signature over the final request for Bedrock, and
//! an OAuth access token for Vertex AI, minted from the service account, cached and
//! refreshed before it expires.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use config::ir::backend::{AiBackend, AwsCredential, BackendCredential, GcpCredential};
use http::header::{self, HeaderValue};
use http::{Method, Request};
use llm::aws::sigv4::{self, SigningRequest};

use crate::body::{collect_limited, full};
use crate::error::ProxyError;
use crate::forward::Outbound;
use crate::snapshot::Snapshot;

/// Tokens are renewed this long before they expire, so no request carries one that lapses
/// in flight.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// Token endpoint answers are small; anything larger is not one.
const TOKEN_RESPONSE_LIMIT: usize = 64 * 1024;

/// Access tokens by service account, shared by every configuration so a reload does not
/// mint new ones.
#[derive(Default)]
pub struct TokenCache {
    tokens: Mutex<HashMap<String, CachedToken>>,
    /// One refresh at a time: requests arriving meanwhile wait for its token instead of
    /// each asking the token endpoint.
    refresh: tokio::sync::Mutex<()>,
}

struct CachedToken {
    header: HeaderValue,
    renew_at: Instant,
}

impl TokenCache {
    fn fresh(&self, key: &str) -> Option<HeaderValue> {
        let tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens
            .get(key)
            .filter(|t| t.renew_at > Instant::now())
            .map(|t| t.header.clone())
    }

    /// `Authorization: Bearer <token>` for the service account.
    async fn bearer(
        &self,
        snapshot: &Snapshot,
        gcp: &GcpCredential,
        backend: &str,
    ) -> Result<HeaderValue, ProxyError> {
        let key = format!(
            "{}|{}|{}",
            gcp.account.client_email, gcp.account.private_key_id, gcp.account.token_uri
        );
        if let Some(header) = self.fresh(&key) {
            return Ok(header);
        }
        let _refreshing = self.refresh.lock().await;
        if let Some(header) = self.fresh(&key) {
            return Ok(header);
        }
        let token = mint(snapshot, gcp)
            .await
            .map_err(|reason| ProxyError::Credential {
                backend: backend.to_string(),
                reason,
            })?;
        let mut header =
            HeaderValue::from_str(&format!("Bearer {}", token.token)).map_err(|_| {
                ProxyError::Credential {
                    backend: backend.to_string(),
                    reason: "the token endpoint returned a token that is not a valid header value"
                        .to_string(),
                }
            })?;
        header.set_sensitive(true);
        let lifetime = token.expires_in.saturating_sub(REFRESH_MARGIN);
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens.insert(
            key,
            CachedToken {
                header: header.clone(),
                renew_at: Instant::now() + lifetime,
            },
        );
        Ok(header)
    }
}

/// Exchanges a signed assertion for an access token at the account's token endpoint.
async fn mint(snapshot: &Snapshot, gcp: &GcpCredential) -> Result<llm::gcp::AccessToken, String> {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let assertion = gcp
        .account
        .assertion(llm::gcp::CLOUD_PLATFORM_SCOPE, now)
        .map_err(|e| e.to_string())?;
    let body = llm::gcp::token_request_body(&assertion);
    let endpoint = &gcp.token_endpoint.endpoint;
    let uri = http::Uri::builder()
        .scheme(endpoint.scheme.clone())
        .authority(endpoint.authority.clone())
        .path_and_query(gcp.token_path.as_str())
        .build()
        .map_err(|e| format!("token_uri: {e}"))?;
    let request = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(header::HOST, endpoint.host_header.clone())
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::CONTENT_LENGTH, body.len())
        .body(full(body))
        .map_err(|e| e.to_string())?;
    let client = snapshot
        .client(&gcp.token_endpoint)
        .ok_or_else(|| "no connection pool for the token endpoint".to_string())?;
    let limit = gcp
        .token_endpoint
        .request_timeout
        .unwrap_or(Duration::from_secs(30));
    let response = tokio::time::timeout(limit, client.request(request))
        .await
        .map_err(|_| format!("{} did not answer within {limit:?}", gcp.account.token_uri))?
        .map_err(|e| format!("{}: {e}", gcp.account.token_uri))?;
    let status = response.status().as_u16();
    let bytes = collect_limited(response.into_body(), TOKEN_RESPONSE_LIMIT)
        .await
        .map_err(|e| format!("reading the token response: {e}"))?;
    llm::gcp::parse_token_response(status, &bytes).map_err(|e| e.to_string())
}

/// Adds the credential that depends on the final request (a token, a signature). Runs after
/// the head is addressed to the provider and before it is sent.
pub(crate) async fn authorize(
    snapshot: &Snapshot,
    ai: &AiBackend,
    out: &Outbound<'_>,
    credential: Option<&BackendCredential>,
    parts: &mut http::request::Parts,
    body: &Bytes,
) -> Result<(), ProxyError> {
    match credential {
        Some(BackendCredential::Gcp(gcp)) => {
            let header = snapshot
                .tokens
                .bearer(snapshot, gcp, &out.backend_name)
                .await?;
            parts.headers.insert(header::AUTHORIZATION, header);
        }
        Some(BackendCredential::Aws(aws)) => sign(ai, aws, out, parts, body)?,
        _ => {}
    }
    Ok(())
}

fn sign(
    ai: &AiBackend,
    aws: &AwsCredential,
    out: &Outbound<'_>,
    parts: &mut http::request::Parts,
    body: &Bytes,
) -> Result<(), ProxyError> {
    let region = aws
        .region
        .as_deref()
        .or(ai.bedrock.as_ref().map(|b| b.region.as_str()))
        .unwrap_or("us-east-1");
    let host = out.host.to_str().map_err(|_| ProxyError::Credential {
        backend: out.backend_name.to_string(),
        reason: "the Host header is not text, so the request cannot be signed".to_string(),
    })?;
    let request = SigningRequest {
        method: parts.method.as_str(),
        host,
        path: parts.uri.path(),
        query: parts.uri.query(),
        content_type: "application/json",
        payload: body,
    };
    for (name, value) in sigv4::sign(&request, &aws.keys, region, "bedrock", SystemTime::now()) {
        let mut value = HeaderValue::from_str(&value).map_err(|_| ProxyError::Credential {
            backend: out.backend_name.to_string(),
            reason: format!("the {name} header could not be built (check the AWS keys)"),
        })?;
        value.set_sensitive(name != "x-amz-date");
        parts.headers.insert(name, value);
    }
    Ok(())
}
