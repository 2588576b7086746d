//! Sending a request to a static backend: header hygiene, credentials, deadlines and retries.

use std::fmt::Write as _;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use config::ir::policy::RetryPolicy;
use config::ir::{BackendCredential, StaticBackend};
use futures_util::FutureExt;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, Uri, Version};
use http_body_util::BodyExt;

use crate::body::{BoxBody, full};
use crate::deadline::{Elapsed, deadline};
use crate::error::ProxyError;
use crate::upstream::{UpstreamClient, UpstreamError};

/// Largest request body kept in memory so that a retry can send it again. Bigger bodies
/// stream straight through and are not retried.
const RETRY_BUFFER_LIMIT: u64 = 64 * 1024;

// Constants, so a request does not parse these names again.
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Headers that describe one connection and must not be forwarded (RFC 9110 §7.6.1), and
/// `Expect`: the gateway's server has already answered `100-continue` to the client by
/// the time the body is read, so the backend would only hold up the body it is sent.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "expect"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    )
}

/// Removes hop-by-hop headers, including those the `Connection` header names. One scan
/// finds them; most requests have none, and then nothing else is done.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    if !headers.keys().any(is_hop_by_hop) {
        return;
    }
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    let keeps_trailers = headers
        .get(header::TE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("trailers"));
    remove_matching(headers, is_hop_by_hop);
    for name in named {
        headers.remove(name);
    }
    if keeps_trailers {
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
    }
}

/// Removes every header whose name `matches`: one pass over the (few) headers finds them,
/// and only those are removed by name (a removal hashes the name).
pub fn remove_matching(headers: &mut HeaderMap, matches: impl Fn(&HeaderName) -> bool) {
    let found: Vec<HeaderName> = headers.keys().filter(|n| matches(n)).cloned().collect();
    for name in found {
        headers.remove(name);
    }
}

/// What the pipeline decided about the request before it is sent.
pub struct Outbound<'a> {
    pub backend_name: std::sync::Arc<str>,
    pub backend: &'a StaticBackend,
    pub client: &'a UpstreamClient,
    pub credential: Option<&'a BackendCredential>,
    /// The Host the backend sees: a URLRewrite hostname, or the backend's own.
    pub host: HeaderValue,
    pub client_addr: SocketAddr,
    pub downstream_tls: bool,
    pub original_host: String,
    pub retry: Option<&'a RetryPolicy>,
    pub attempt_timeout: Option<Duration>,
    /// The client asked to switch to WebSocket: the upgrade headers go to the backend.
    pub websocket: bool,
    /// Where failed attempts that are retried are counted (the last is counted with the
    /// request's answer).
    pub metrics: &'a crate::metrics::Metrics,
}

/// Rewrites the request head for the backend.
pub fn prepare(out: &Outbound<'_>, parts: &mut http::request::Parts) -> Result<(), ProxyError> {
    let endpoint = &out.backend.endpoint;
    let mut uri = http::uri::Parts::default();
    uri.scheme = Some(endpoint.scheme.clone());
    uri.authority = Some(endpoint.authority.clone());
    uri.path_and_query = Some(
        parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/")),
    );
    parts.uri = Uri::from_parts(uri)
        .map_err(|e| ProxyError::InvalidRequest(format!("cannot build the backend URL: {e}")))?;
    // Plain-text h2 is prior knowledge; otherwise HTTP/1.1 unless ALPN upgrades the connection.
    parts.version = if out.backend.http2 && out.backend.tls.is_none() {
        Version::HTTP_2
    } else {
        Version::HTTP_11
    };
    let headers = &mut parts.headers;
    strip_hop_by_hop(headers);
    if out.websocket {
        crate::tunnel::restore_headers(headers);
    }
    headers.insert(header::HOST, out.host.clone());
    // Built in one buffer and handed to the header without another copy.
    let mut forwarded_for = String::with_capacity(64);
    if let Some(existing) = headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        forwarded_for.push_str(existing);
        forwarded_for.push_str(", ");
    }
    push_ip(&mut forwarded_for, out.client_addr.ip());
    if let Ok(value) = HeaderValue::from_maybe_shared(bytes::Bytes::from(forwarded_for)) {
        headers.insert(X_FORWARDED_FOR, value);
    }
    headers.insert(
        X_FORWARDED_PROTO,
        HeaderValue::from_static(if out.downstream_tls { "https" } else { "http" }),
    );
    // Overwritten, as the protocol is: a host the client names itself must not reach a
    // backend that builds links (password resets, OAuth redirects) from this header.
    match HeaderValue::from_str(&out.original_host) {
        Ok(value) => headers.insert(X_FORWARDED_HOST, value),
        Err(_) => headers.remove(X_FORWARDED_HOST),
    };
    match out.credential {
        Some(BackendCredential::Authorization(secret)) => {
            let value = secret.expose();
            // A bare key is a bearer token; a value with a scheme (`Basic ...`) is used as is.
            let value = if value.contains(' ') {
                value.to_string()
            } else {
                format!("Bearer {value}")
            };
            let mut value = HeaderValue::from_str(&value).map_err(|_| {
                ProxyError::Internal("the backend credential is not a valid header value".into())
            })?;
            value.set_sensitive(true);
            headers.insert(header::AUTHORIZATION, value);
        }
        // Signatures and minted tokens depend on the final request; the LLM layer adds them.
        Some(
            BackendCredential::Passthrough
            | BackendCredential::Aws(_)
            | BackendCredential::Gcp(_)
            | BackendCredential::Azure(_),
        )
        | None => {}
    }
    Ok(())
}

/// Appends `ip` in its usual text form. IPv4 digits are written directly: through the
/// formatting machinery this was a noticeable part of every request's CPU time.
fn push_ip(out: &mut String, ip: IpAddr) {
    let IpAddr::V4(v4) = ip else {
        let _ = write!(out, "{ip}");
        return;
    };
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        if octet >= 100 {
            out.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            out.push(char::from(b'0' + octet / 10 % 10));
        }
        out.push(char::from(b'0' + octet % 10));
    }
}

/// Sends the request once, under whichever deadline passes first: the route's overall
/// `route_limit` (then `on_route_timeout` is the error) or the attempt's own. One timer
/// and no async layer of its own, so the request is not copied from layer to layer.
pub fn send_once<'a, T>(
    out: &Outbound<'a>,
    request: Request<BoxBody>,
    route_limit: Option<Duration>,
    on_route_timeout: T,
) -> impl Future<Output = Result<Response<BoxBody>, ProxyError>> + Send + use<'a, T>
where
    T: FnOnce() -> ProxyError + Send + 'a,
{
    // On a tie the attempt's deadline is the one reported, as the nested deadlines did.
    let (limit, route_first) = match (route_limit, out.attempt_timeout) {
        (Some(route), Some(attempt)) if route < attempt => (Some(route), true),
        (Some(route), None) => (Some(route), true),
        (_, attempt) => (attempt, false),
    };
    let backend = out.backend_name.clone();
    deadline(limit, out.client.request(request)).map(move |result| match result {
        Ok(sent) => sent.map_err(|e| upstream_error(&backend, e)),
        Err(Elapsed) if route_first => Err(on_route_timeout()),
        Err(Elapsed) => Err(ProxyError::UpstreamTimeout {
            backend: backend.to_string(),
            after: limit.unwrap_or_default(),
        }),
    })
}

/// Sends the request, retrying per policy when the body can be replayed.
pub async fn send(
    out: &Outbound<'_>,
    parts: http::request::Parts,
    body: BoxBody,
) -> Result<Response<BoxBody>, ProxyError> {
    match out.retry.filter(|r| r.attempts > 1) {
        None => attempt_once(out, Request::from_parts(parts, body)).await,
        // Boxed: retries are the exception, and their buffering and backoff would
        // otherwise enlarge every request's state.
        Some(retry) => Box::pin(send_with_retries(out, retry, parts, body)).await,
    }
}

/// Sends the request up to `retry.attempts` times, while the answer is one to retry.
pub async fn send_with_retries(
    out: &Outbound<'_>,
    retry: &RetryPolicy,
    parts: http::request::Parts,
    body: BoxBody,
) -> Result<Response<BoxBody>, ProxyError> {
    let bytes = match buffer_for_replay(body).await? {
        Replay::Stream(body) => return attempt_once(out, Request::from_parts(parts, body)).await,
        Replay::Buffered(bytes) => bytes,
    };
    let mut attempt = 1;
    loop {
        let result =
            attempt_once(out, Request::from_parts(parts.clone(), full(bytes.clone()))).await;
        let should_retry = attempt < retry.attempts
            && match &result {
                Ok(response) => retry.codes.contains(&response.status().as_u16()),
                Err(e) => e.retryable(),
            };
        if !should_retry {
            return result;
        }
        if let Err(error) = &result {
            out.metrics.count_connect_failure(error);
        }
        tracing::debug!(backend = %out.backend_name, attempt, "retrying request");
        if !retry.backoff.is_zero() {
            // Linear backoff with up to 50% jitter, so retries from many clients spread out.
            let base = retry.backoff * attempt;
            let jitter = base.mul_f64(fastrand::f64() * 0.5);
            tokio::time::sleep(base + jitter).await;
        }
        attempt += 1;
    }
}

enum Replay {
    Stream(BoxBody),
    Buffered(Bytes),
}

/// Keeps small bodies so they can be sent again; large or unknown-length ones stream.
async fn buffer_for_replay(body: BoxBody) -> Result<Replay, ProxyError> {
    let hint = http_body::Body::size_hint(&body);
    match hint.upper() {
        Some(n) if n <= RETRY_BUFFER_LIMIT => {
            let collected = body.collect().await.map_err(|e| {
                ProxyError::InvalidRequest(format!("reading the request body failed: {e}"))
            })?;
            Ok(Replay::Buffered(collected.to_bytes()))
        }
        _ => Ok(Replay::Stream(body)),
    }
}

async fn attempt_once(
    out: &Outbound<'_>,
    request: Request<BoxBody>,
) -> Result<Response<BoxBody>, ProxyError> {
    let limit = out.attempt_timeout;
    let result = deadline(limit, out.client.request(request))
        .await
        .map_err(|Elapsed| ProxyError::UpstreamTimeout {
            backend: out.backend_name.to_string(),
            after: limit.unwrap_or_default(),
        })?;
    result.map_err(|e| upstream_error(&out.backend_name, e))
}

fn upstream_error(backend: &str, error: UpstreamError) -> ProxyError {
    match error {
        UpstreamError::Connect(source) => ProxyError::Connect {
            backend: backend.to_string(),
            source,
        },
        UpstreamError::Protocol(reason) => ProxyError::UpstreamProtocol {
            backend: backend.to_string(),
            reason,
        },
        UpstreamError::Unanswered(reason) => ProxyError::UpstreamUnanswered {
            backend: backend.to_string(),
            reason,
        },
        UpstreamError::ClientBody { reason, gone: true } => ProxyError::ClientGone(reason),
        UpstreamError::ClientBody {
            reason,
            gone: false,
        } => ProxyError::InvalidRequest(reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_addresses_as_display_does() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.255.9",
            "192.168.100.1",
            "::1",
            "2001:db8::8a2e:370:7334",
            "::ffff:10.0.0.1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            let mut written = String::new();
            push_ip(&mut written, ip);
            assert_eq!(written, ip.to_string());
        }
    }

    #[test]
    fn strips_hop_by_hop_and_connection_named_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret-hop"),
        );
        headers.insert("x-secret-hop", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert(header::TE, HeaderValue::from_static("trailers, deflate"));
        headers.insert("x-keep", HeaderValue::from_static("1"));
        headers.insert(header::EXPECT, HeaderValue::from_static("100-continue"));
        strip_hop_by_hop(&mut headers);
        assert!(!headers.contains_key(header::EXPECT));
        assert!(!headers.contains_key("x-secret-hop"));
        assert!(!headers.contains_key("keep-alive"));
        assert!(!headers.contains_key(header::CONNECTION));
        assert_eq!(headers[header::TE], "trailers");
        assert_eq!(headers["x-keep"], "1");
    }
}
