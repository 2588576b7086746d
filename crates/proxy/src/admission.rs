//! The traffic policies that decide whether a request goes on: CORS first (preflights are
//! answered here, and every answer after it carries the CORS headers), then authentication
//! (JWT, API key, basic), authorization (CEL rules), then local request rate limits; token budgets are handed to the
//! LLM route, which knows the prompt. A refusal is an answer, not an error: 401 with a
//! challenge, 429 with `Retry-After`, a preflight verdict.

use std::net::IpAddr;
use std::time::{Instant, SystemTime};

use config::ir::policy::{Buckets, ExtAuthzClient, LimitKey, LimitUnit, TrafficSettings};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Response, StatusCode};
use policy::auth::{Outcome, Rejection};
use policy::authorization::{Decision as AuthzDecision, RequestAttributes};
use policy::cors::Preflight;
use policy::jwt::Claims;
use policy::ratelimit::Decision;
use serde_json::json;

use crate::body::{BoxBody, full};
use crate::llm_route::budget::{GlobalTokenBudgets, TokenBudgets};

/// Who the request is, once authenticated, and what its answer must carry.
#[derive(Default)]
pub(crate) struct Admitted {
    /// CORS and rate-limit headers for the answer.
    pub response_headers: HeaderMap,
    pub jwt: Option<Claims>,
    pub api_key_id: Option<String>,
    pub api_key_metadata: serde_json::Map<String, serde_json::Value>,
}

/// CORS and authentication; `Err` is the answer to send instead of forwarding.
pub(crate) fn admit(
    traffic: &TrafficSettings,
    parts: &mut http::request::Parts,
) -> Result<Admitted, Response<BoxBody>> {
    let mut admitted = Admitted::default();
    if let Some(cors) = &traffic.cors {
        match cors.preflight(&parts.method, &parts.headers) {
            Some(Preflight::Allowed(headers)) => {
                let mut response = Response::new(full(""));
                *response.status_mut() = StatusCode::NO_CONTENT;
                *response.headers_mut() = headers;
                return Err(response);
            }
            // Without CORS headers the browser refuses the real request; the body says why
            // for whoever reads it with curl.
            Some(Preflight::Rejected) => {
                return Err(refusal(
                    StatusCode::FORBIDDEN,
                    "cors_rejected",
                    "CORS preflight refused: the origin, method or headers are not allowed by the route's cors policy",
                    &HeaderMap::new(),
                ));
            }
            None => {}
        }
        if let Some(headers) = cors.response_headers(&parts.headers) {
            admitted.response_headers.extend(headers);
        }
    }
    authenticate(traffic, parts, &mut admitted)?;
    Ok(admitted)
}

/// After the external authorization service: the CEL rules, then the local request limits.
pub(crate) fn decide(
    traffic: &TrafficSettings,
    parts: &mut http::request::Parts,
    host: &str,
    client_ip: IpAddr,
    admitted: &mut Admitted,
) -> Result<(), Response<BoxBody>> {
    authorize(traffic, parts, host, client_ip, admitted)?;
    limit_requests(traffic, parts, client_ip, admitted)
}

/// Asks the Envoy ext_authz service. Its headers are added to the request when it allows;
/// its status, headers and body are the answer when it denies. An unreachable or failing
/// service refuses the request (403) unless the policy fails open.
pub(crate) async fn external_authz(
    traffic: &TrafficSettings,
    parts: &mut http::request::Parts,
    client: std::net::SocketAddr,
    tls: bool,
    admitted: &Admitted,
) -> Result<(), Response<BoxBody>> {
    let Some(ext) = &traffic.ext_authz else {
        return Ok(());
    };
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let host = request_authority(parts);
    let protocol = match parts.version {
        http::Version::HTTP_2 => "HTTP/2",
        http::Version::HTTP_10 => "HTTP/1.0",
        _ => "HTTP/1.1",
    };
    let request = envoy_grpc::AuthzRequest {
        method: parts.method.as_str(),
        path,
        host,
        scheme: if tls { "https" } else { "http" },
        headers: &parts.headers,
        source_ip: client.ip(),
        source_port: client.port(),
        protocol,
    };
    let verdict = match &ext.client {
        ExtAuthzClient::Grpc(client) => client.check(&request).await.map_err(|e| e.to_string()),
        ExtAuthzClient::Http(client) => client.check(&request).await.map_err(|e| e.to_string()),
    };
    match verdict {
        Ok(envoy_grpc::AuthzVerdict::Allow {
            headers_to_set,
            headers_to_remove,
        }) => {
            for name in headers_to_remove {
                parts.headers.remove(name.as_str());
            }
            set_headers(&mut parts.headers, headers_to_set);
            Ok(())
        }
        Ok(envoy_grpc::AuthzVerdict::Deny {
            status,
            headers,
            body,
        }) => {
            let mut response = Response::new(full(body));
            *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN);
            *response.headers_mut() = admitted.response_headers.clone();
            // Appended, not set: a denial may carry several Set-Cookie headers.
            for (name, value) in headers {
                if let (Ok(name), Ok(value)) = (
                    HeaderName::try_from(name.as_str()),
                    HeaderValue::from_str(&value),
                ) {
                    response.headers_mut().append(name, value);
                }
            }
            Err(response)
        }
        Err(error) if ext.fail_open => {
            tracing::warn!(service = %ext.address, %error, "ext_authz failed; the policy fails open");
            Ok(())
        }
        Err(error) => Err(refusal(
            StatusCode::FORBIDDEN,
            "ext_authz_unavailable",
            &format!(
                "the authorization service at {} could not decide ({error}) and the policy fails closed",
                ext.address
            ),
            &admitted.response_headers,
        )),
    }
}

/// The authority the client addressed, as it wrote it (port included), with the same
/// precedence as routing: the request target's authority (HTTP/2, or an HTTP/1.1
/// absolute-form target, where `Host` must be ignored), else `Host`.
fn request_authority(parts: &http::request::Parts) -> &str {
    parts
        .uri
        .authority()
        .map(|a| a.as_str())
        .or_else(|| {
            parts
                .headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
        })
        .unwrap_or_default()
}

/// Sets the headers a service asked for, skipping any that are not valid HTTP.
fn set_headers(headers: &mut HeaderMap, pairs: Vec<(String, String)>) {
    for (name, value) in pairs {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::from_str(&value),
        ) {
            headers.insert(name, value);
        }
    }
}

/// What CEL expressions see of the request and of who sent it.
/// `host` is the one the request was routed by (lower case, no port), so that a rule about
/// a host judges exactly the requests routed as that host, however the client spelled it.
pub(crate) fn attributes<'a>(
    parts: &'a http::request::Parts,
    host: &'a str,
    client_ip: IpAddr,
    admitted: &'a Admitted,
) -> RequestAttributes<'a> {
    RequestAttributes {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        host,
        headers: &parts.headers,
        source_ip: Some(client_ip),
        jwt: admitted.jwt.as_ref().map(Claims::as_map),
        api_key: admitted
            .api_key_id
            .as_deref()
            .map(|id| (id, &admitted.api_key_metadata)),
        mcp: None,
    }
}

/// CEL rules over the request and who sent it; a rule that cannot be evaluated denies.
fn authorize(
    traffic: &TrafficSettings,
    parts: &http::request::Parts,
    host: &str,
    client_ip: IpAddr,
    admitted: &Admitted,
) -> Result<(), Response<BoxBody>> {
    let Some(authorizer) = &traffic.authorizer else {
        return Ok(());
    };
    let attributes = attributes(parts, host, client_ip, admitted);
    match authorizer.check(&attributes) {
        AuthzDecision::Allowed => Ok(()),
        AuthzDecision::Denied { reason } => Err(refusal(
            StatusCode::FORBIDDEN,
            "forbidden",
            &reason,
            &admitted.response_headers,
        )),
    }
}

fn authenticate(
    traffic: &TrafficSettings,
    parts: &mut http::request::Parts,
    admitted: &mut Admitted,
) -> Result<(), Response<BoxBody>> {
    if let Some(jwt) = &traffic.jwt {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        match jwt.validator.authenticate(&parts.headers, now) {
            Outcome::Authenticated(claims) => {
                for (claim, name) in &jwt.claims_to_headers {
                    let value = match claims.get(claim) {
                        Some(serde_json::Value::String(s)) => HeaderValue::from_str(s).ok(),
                        Some(serde_json::Value::Null) | None => None,
                        Some(other) => HeaderValue::from_str(&other.to_string()).ok(),
                    };
                    parts.headers.remove(name);
                    if let Some(value) = value {
                        parts.headers.insert(name.clone(), value);
                    }
                }
                admitted.jwt = Some(claims);
                // The token was for the gateway; the backend gets its own credential.
                if !jwt.forward_credential {
                    parts.headers.remove(header::AUTHORIZATION);
                }
            }
            Outcome::Anonymous { ignored } => {
                // Without a valid token the claim headers are empty: a client must never
                // name its own identity in them.
                for (_, name) in &jwt.claims_to_headers {
                    parts.headers.remove(name);
                }
                // A token that failed (Permissive mode) was for the gateway all the same.
                if ignored.is_some() && !jwt.forward_credential {
                    parts.headers.remove(header::AUTHORIZATION);
                }
            }
            Outcome::Rejected(rejection) => {
                let mut challenge = admitted.response_headers.clone();
                challenge.insert(
                    header::WWW_AUTHENTICATE,
                    policy::jwt::bearer_challenge(&rejection),
                );
                return Err(unauthorized(&rejection, "JWT", &challenge));
            }
        }
    }
    if let Some(policy) = &traffic.api_keys {
        let (keys, forward) = (&policy.0, policy.1);
        match keys.authenticate(parts) {
            Outcome::Authenticated(identity) => {
                admitted.api_key_id = Some(identity.id.clone());
                admitted.api_key_metadata = identity.metadata.clone();
                if !forward && keys.strip_credential(parts).is_err() {
                    return Err(refusal(
                        StatusCode::BAD_REQUEST,
                        "invalid_request",
                        "the API key could not be removed from the request URL",
                        &admitted.response_headers,
                    ));
                }
            }
            // A key that failed (Permissive mode) is stripped as a valid one is.
            Outcome::Anonymous { ignored: Some(_) } if !forward => {
                let _ = keys.strip_credential(parts);
            }
            Outcome::Anonymous { .. } => {}
            Outcome::Rejected(rejection) => {
                // A 401 names how to authenticate (RFC 9110 §11.6.1): keys travel as
                // bearer credentials.
                let mut challenge = admitted.response_headers.clone();
                challenge.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"agentgateway\""),
                );
                return Err(unauthorized(&rejection, "API key", &challenge));
            }
        }
    }
    if let Some(policy) = &traffic.basic {
        let (basic, forward) = (&policy.0, policy.1);
        match basic.authenticate(&parts.headers) {
            Outcome::Authenticated(_) => {
                if !forward {
                    parts.headers.remove(header::AUTHORIZATION);
                }
            }
            Outcome::Anonymous { ignored: Some(_) } if !forward => {
                parts.headers.remove(header::AUTHORIZATION);
            }
            Outcome::Anonymous { .. } => {}
            Outcome::Rejected(rejection) => {
                let mut challenge = admitted.response_headers.clone();
                challenge.insert(header::WWW_AUTHENTICATE, basic.challenge());
                return Err(unauthorized(&rejection, "basic", &challenge));
            }
        }
    }
    Ok(())
}

fn unauthorized<E: std::fmt::Display>(
    rejection: &Rejection<E>,
    method: &str,
    headers: &HeaderMap,
) -> Response<BoxBody> {
    refusal(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        &format!("{method} authentication failed: {rejection}"),
        headers,
    )
}

/// Takes one request from every request bucket; the answer carries the headers of the
/// tightest one (the fewest requests left).
fn limit_requests(
    traffic: &TrafficSettings,
    parts: &mut http::request::Parts,
    client_ip: IpAddr,
    admitted: &mut Admitted,
) -> Result<(), Response<BoxBody>> {
    let now = Instant::now();
    let mut tightest: Option<Decision> = None;
    let mut budgets = TokenBudgets::default();
    for limit in &traffic.local_limits {
        if limit.unit == LimitUnit::Tokens {
            // Token budgets are taken by the LLM route, which knows the prompt.
            let key = match &limit.buckets {
                Buckets::Shared(_) => String::new(),
                Buckets::PerKey(_, key) => bucket_key(key, parts, client_ip, admitted),
            };
            budgets.0.push((limit.clone(), key));
            continue;
        }
        let decision = match &limit.buckets {
            Buckets::Shared(bucket) => bucket.check(now, 1),
            Buckets::PerKey(buckets, key) => {
                let key = bucket_key(key, parts, client_ip, admitted);
                buckets.check(&key, now, 1)
            }
        };
        if !decision.allowed {
            let message = format!(
                "rate limit of {} requests exceeded; retry after the Retry-After seconds",
                decision.limit
            );
            return Err(limited(&decision, &message, admitted));
        }
        if tightest
            .as_ref()
            .is_none_or(|t| decision.remaining < t.remaining)
        {
            tightest = Some(decision);
        }
    }
    if let Some(decision) = tightest {
        admitted.response_headers.extend(decision.headers());
    }
    if !budgets.0.is_empty() {
        parts.extensions.insert(budgets);
    }
    Ok(())
}

/// The bucket of this request; requests without the value share the empty key's bucket.
fn bucket_key(
    key: &LimitKey,
    parts: &http::request::Parts,
    client_ip: IpAddr,
    admitted: &Admitted,
) -> String {
    match key {
        LimitKey::ClientIp => client_ip.to_string(),
        LimitKey::Header(name) => header_text(&parts.headers, name),
        LimitKey::JwtClaim(claim) => admitted
            .jwt
            .as_ref()
            .and_then(|c| c.get(claim))
            .map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .unwrap_or_default(),
        LimitKey::ApiKeyId => admitted.api_key_id.clone().unwrap_or_default(),
    }
}

fn header_text(headers: &HeaderMap, name: &HeaderName) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Puts a bucket's state on an answer: `x-ratelimit-*`, and `Retry-After` when refused.
pub(crate) fn add_limit_headers(headers: &mut HeaderMap, decision: &Decision) {
    headers.extend(decision.headers());
    if let Some((name, value)) = decision.retry_after_header() {
        headers.insert(name, value);
    }
}

/// A 429 for a bucket that refused, keeping the headers the answer already owes.
fn limited(decision: &Decision, message: &str, admitted: &Admitted) -> Response<BoxBody> {
    let mut headers = admitted.response_headers.clone();
    add_limit_headers(&mut headers, decision);
    refusal(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        message,
        &headers,
    )
}

/// A policy's refusal as JSON, with the headers the answer must carry.
fn refusal(
    status: StatusCode,
    kind: &'static str,
    message: &str,
    headers: &HeaderMap,
) -> Response<BoxBody> {
    let body = json!({ "error": { "message": message, "type": kind, "code": status.as_u16() } });
    let mut response = Response::new(full(body.to_string()));
    *response.status_mut() = status;
    *response.headers_mut() = headers.clone();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
        .extensions_mut()
        .insert(crate::error::GatewayAnswer {
            kind,
            message: message.into(),
        });
    response
}

/// Takes one request from every Redis-kept bucket (shared by all replicas). Redis being
/// unreachable is decided by the policy's failure mode, counted and logged (once per burst,
/// by the limiter).
pub(crate) async fn limit_globally(
    traffic: &TrafficSettings,
    parts: &mut http::request::Parts,
    host: &str,
    client_ip: IpAddr,
    admitted: &mut Admitted,
    metrics: &crate::metrics::Metrics,
) -> Result<(), Response<BoxBody>> {
    if let Some(rls) = &traffic.rate_limit_service {
        ask_rate_limit_service(rls, parts, host, client_ip, admitted, metrics).await?;
    }
    let Some(global) = &traffic.global_limits else {
        return Ok(());
    };
    let mut token_budgets = GlobalTokenBudgets::default();
    for (index, entry) in global.entries.iter().enumerate() {
        let value = entry
            .key
            .as_ref()
            .map(|key| bucket_key(key, parts, client_ip, admitted))
            .unwrap_or_default();
        let key = format!("{}:{value}", entry.id);
        if entry.unit == LimitUnit::Tokens {
            // Token budgets are taken by the LLM route, which knows the prompt.
            token_budgets.0.push((global.clone(), index, key));
            continue;
        }
        let capacity = entry.limit.effective_capacity();
        match global.limiter.check(&key, &entry.limit, 1).await {
            redis_limit::Outcome::Allowed { remaining, reset } => {
                let decision = Decision {
                    allowed: true,
                    limit: capacity,
                    remaining,
                    reset,
                    retry_after: None,
                };
                admitted.response_headers.extend(decision.headers());
            }
            redis_limit::Outcome::Limited {
                remaining,
                retry_after,
                reset,
            } => {
                let decision = Decision {
                    allowed: false,
                    limit: capacity,
                    remaining,
                    reset,
                    retry_after,
                };
                let message = format!(
                    "shared rate limit of {capacity} requests exceeded; retry after the Retry-After seconds"
                );
                return Err(limited(&decision, &message, admitted));
            }
            redis_limit::Outcome::Degraded { allowed, error } => {
                metrics.ratelimit_degraded();
                if !allowed {
                    return Err(refusal(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "rate_limit_unavailable",
                        &format!(
                            "the shared rate-limit store at {} cannot be reached ({error}) and the policy fails closed",
                            global.address
                        ),
                        &admitted.response_headers,
                    ));
                }
            }
        }
    }
    if !token_budgets.0.is_empty() {
        parts.extensions.insert(token_budgets);
    }
    Ok(())
}

/// Asks an Envoy rate-limit service about the request's descriptors (those whose values all
/// exist). An unreachable service lets the request through, as Envoy does by default, and
/// is counted as a degraded decision.
async fn ask_rate_limit_service(
    rls: &config::ir::policy::RateLimitService,
    parts: &http::request::Parts,
    host: &str,
    client_ip: IpAddr,
    admitted: &mut Admitted,
    metrics: &crate::metrics::Metrics,
) -> Result<(), Response<BoxBody>> {
    let descriptors: Vec<Vec<(String, String)>> = {
        let attributes = attributes(parts, host, client_ip, admitted);
        rls.descriptors
            .iter()
            .filter(|d| d.unit == LimitUnit::Requests)
            .filter_map(|d| {
                d.entries
                    .iter()
                    .map(|(name, value)| Some((name.clone(), value.eval(&attributes)?)))
                    .collect::<Option<Vec<_>>>()
            })
            .collect()
    };
    if descriptors.is_empty() {
        return Ok(());
    }
    match rls
        .client
        .should_rate_limit(&rls.domain, &descriptors, 1)
        .await
    {
        Ok(verdict) => {
            let mut headers = admitted.response_headers.clone();
            set_headers(&mut headers, verdict.response_headers);
            if let Some(reset) = verdict.reset.filter(|_| verdict.over_limit) {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(reset.as_secs().max(1)),
                );
            }
            if verdict.over_limit {
                return Err(refusal(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    &format!(
                        "the rate-limit service refused the request (domain {})",
                        rls.domain
                    ),
                    &headers,
                ));
            }
            admitted.response_headers = headers;
            Ok(())
        }
        Err(error) => {
            metrics.ratelimit_degraded();
            tracing::warn!(service = %rls.address, %error, "rate-limit service unavailable; letting the request through");
            Ok(())
        }
    }
}
