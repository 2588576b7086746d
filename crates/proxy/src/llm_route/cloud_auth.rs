//! Credentials made per request: a SigV4 signature over the final request for Bedrock, and
//! OAuth access tokens (Vertex AI: minted from a service account; Azure OpenAI: Entra ID
//! client credentials), cached and refreshed before they expire.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use std::future::Future;

use config::ir::backend::{
    AiBackend, AwsCredential, AzureCredential, BackendCredential, GcpCredential, StaticBackend,
};
use http::header::{self, HeaderValue};
use http::{Method, Request};
use llm::aws::sigv4::{self, SigningRequest};
use llm::gcp::AccessToken;

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

    /// `Authorization: Bearer <token>` for the credential named by `key`, minting a token
    /// with `mint` when there is no fresh one.
    async fn bearer<F>(
        &self,
        key: String,
        backend: &str,
        mint: F,
    ) -> Result<HeaderValue, ProxyError>
    where
        F: Future<Output = Result<llm::gcp::AccessToken, String>>,
    {
        if let Some(header) = self.fresh(&key) {
            return Ok(header);
        }
        let _refreshing = self.refresh.lock().await;
        if let Some(header) = self.fresh(&key) {
            return Ok(header);
        }
        let credential_error = |reason: String| ProxyError::Credential {
            backend: backend.to_string(),
            reason,
        };
        let token = mint.await.map_err(credential_error)?;
        let mut header =
            HeaderValue::from_str(&format!("Bearer {}", token.token)).map_err(|_| {
                credential_error(
                    "the token endpoint returned a token that is not a valid header value"
                        .to_string(),
                )
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
async fn mint_gcp(snapshot: &Snapshot, gcp: &GcpCredential) -> Result<AccessToken, String> {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let assertion = gcp
        .account
        .assertion(llm::gcp::CLOUD_PLATFORM_SCOPE, now)
        .map_err(|e| e.to_string())?;
    let body = llm::gcp::token_request_body(&assertion);
    post_form(snapshot, &gcp.token_endpoint, &gcp.token_path, body).await
}

/// Asks Entra ID for a token with the app registration's client credentials.
async fn mint_azure(snapshot: &Snapshot, azure: &AzureCredential) -> Result<AccessToken, String> {
    let body = llm::azure::client_credentials_body(
        &azure.client_id,
        azure.client_secret.expose(),
        llm::azure::COGNITIVE_SERVICES_SCOPE,
    );
    post_form(snapshot, &azure.token_endpoint, &azure.token_path, body).await
}

/// POSTs an OAuth2 token request and reads the standard answer.
async fn post_form(
    snapshot: &Snapshot,
    endpoint: &StaticBackend,
    path: &str,
    body: String,
) -> Result<AccessToken, String> {
    let address = &endpoint.endpoint;
    let shown = format!("{}://{}{path}", address.scheme, address.authority);
    let uri = http::Uri::builder()
        .scheme(address.scheme.clone())
        .authority(address.authority.clone())
        .path_and_query(path)
        .build()
        .map_err(|e| format!("token endpoint: {e}"))?;
    let request = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(header::HOST, address.host_header.clone())
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::CONTENT_LENGTH, body.len())
        .body(full(body))
        .map_err(|e| e.to_string())?;
    let client = snapshot
        .client(endpoint)
        .ok_or_else(|| "no connection pool for the token endpoint".to_string())?;
    let limit = endpoint.request_timeout.unwrap_or(Duration::from_secs(30));
    let response = tokio::time::timeout(limit, client.request(request))
        .await
        .map_err(|_| format!("{shown} did not answer within {limit:?}"))?
        .map_err(|e| format!("{shown}: {e}"))?;
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
            let key = format!(
                "gcp|{}|{}|{}",
                gcp.account.client_email, gcp.account.private_key_id, gcp.account.token_uri
            );
            let mint = mint_gcp(snapshot, gcp);
            let header = snapshot.tokens.bearer(key, &out.backend_name, mint).await?;
            parts.headers.insert(header::AUTHORIZATION, header);
        }
        Some(BackendCredential::Azure(azure)) => {
            let key = format!(
                "azure|{}|{}|{}",
                azure.tenant_id, azure.client_id, azure.token_endpoint.endpoint.authority
            );
            let mint = mint_azure(snapshot, azure);
            let header = snapshot.tokens.bearer(key, &out.backend_name, mint).await?;
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
