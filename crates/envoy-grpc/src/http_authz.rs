//! The external authorization client in plain-HTTP mode, as Envoy's `ext_authz` filter
//! calls a service configured with `http_service` instead of `grpc_service`.
//!
//! For each checked request the service gets a request of its own over HTTP/1.1:
//!
//! - the client's method, and the path `path_prefix` + the client's path and query, joined
//!   as they are (a prefix `/auth` and a path `/v1/x?y=1` give `/auth/v1/x?y=1`);
//! - no body, with `content-length: 0`;
//! - the client's `Host`, or the one set with [`HttpAuthzClient::with_host`];
//! - of the client's headers, only the allowed ones: [`DEFAULT_ALLOWED_HEADERS`] and the
//!   configured names. Repeated `cookie` headers become one (HTTP/1.1 allows a single
//!   `Cookie` line), and `x-forwarded-for` gets the client address appended, as the
//!   upstream will see it. Nothing else is added, no `x-forwarded-proto` or `-host` either.
//!
//! The answer decides as in Envoy:
//!
//! - `200` allows. The answer's headers named in `allowed_upstream_headers` (none by
//!   default) are to be set on the upstream request; repeated ones are joined with `, `.
//! - `5xx` is an error, like an unreachable service: the caller applies its failure mode.
//! - Any other status denies (`204` and `302` included, as in Envoy): the client is to get
//!   that status, the answer's body and its headers, minus `content-length` and the
//!   hop-by-hop ones.
//!
//! Envoy's `headers_to_add`, `allowed_client_headers` matchers,
//! `x-envoy-auth-headers-to-remove` and request-body forwarding are not supported.

use std::error::Error as StdError;
use std::fmt::Display;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::{Authority, PathAndQuery};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::authz::{AuthzRequest, AuthzVerdict};
use crate::grpc::error_chain;

/// The client headers always sent to the service, besides the configured ones. Envoy itself
/// only adds `authorization`; sessions (`cookie`), the client address and the request id
/// are what authorization services commonly need.
pub const DEFAULT_ALLOWED_HEADERS: &[&str] =
    &["authorization", "cookie", "x-forwarded-for", "x-request-id"];

/// The largest answer body read. Denial pages are small; anything near this is a broken
/// service, and an unread body would cost the pooled connection.
const MAX_BODY_BYTES: usize = 1024 * 1024;

const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// A failed call to an HTTP authorization service, or an unusable configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpAuthzError {
    /// The service address is not a valid `host:port`.
    #[error("invalid authorization service address {address:?}: {reason}")]
    InvalidAddress { address: String, reason: String },
    /// The path prefix is not empty and not an absolute path without query.
    #[error("invalid authorization path prefix {prefix:?}: {reason}")]
    InvalidPathPrefix { prefix: String, reason: String },
    /// The timeout is zero.
    #[error("the authorization service timeout must be positive")]
    InvalidTimeout,
    /// The checked request cannot be turned into an authorization request (a `CONNECT`, or a
    /// path that does not form a valid request target behind the prefix).
    #[error("cannot ask the authorization service about this request: {0}")]
    InvalidRequest(String),
    /// No connection to the service could be opened (refused, unreachable, DNS failure,
    /// connect timeout).
    #[error("connecting to the authorization service at {address}: {detail}")]
    Connect {
        address: String,
        detail: String,
        #[source]
        source: hyper_util::client::legacy::Error,
    },
    /// The connection failed during the call (reset, malformed HTTP).
    #[error("authorization call to {address} failed: {detail}")]
    Transport {
        address: String,
        detail: String,
        #[source]
        source: hyper_util::client::legacy::Error,
    },
    /// The whole call (connecting and reading the answer included) took longer than the
    /// client's timeout.
    #[error("authorization call to {address} timed out after {timeout:?}")]
    Timeout { address: String, timeout: Duration },
    /// The service answered a `5xx`, which Envoy treats as an error, not as a denial.
    #[error("the authorization service at {address} answered HTTP {status}")]
    ServerError { address: String, status: u16 },
    /// Reading the answer body failed, or it was larger than 1 MiB.
    #[error("reading the authorization answer from {address}: {source}")]
    Body {
        address: String,
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
}

/// A client of one ext_authz service in HTTP mode. Cheap to clone; clones share one pool of
/// keep-alive HTTP/1.1 connections. Creating it opens nothing; the first check connects.
#[derive(Debug, Clone)]
pub struct HttpAuthzClient {
    client: Client<HttpConnector, Empty<Bytes>>,
    authority: Authority,
    path_prefix: Arc<str>,
    /// Lower-case names, defaults first, without duplicates or unforwardable names.
    allowed_headers: Arc<[HeaderName]>,
    allowed_upstream_headers: Arc<[HeaderName]>,
    host: Option<HeaderValue>,
    timeout: Duration,
}

impl HttpAuthzClient {
    /// A client of the service at `address` (`host:port`, or a [`std::net::SocketAddr`]).
    ///
    /// `path_prefix` is empty or starts with `/`. `allowed_headers` adds to
    /// [`DEFAULT_ALLOWED_HEADERS`]; `host`, `content-length` and hop-by-hop names are
    /// ignored there, since the client sets those itself. `allowed_upstream_headers` names
    /// the answer headers an allowed request gets; `content-length` and hop-by-hop names are
    /// ignored there, as copying them would corrupt the upstream request's framing. Each
    /// check fails with [`HttpAuthzError::Timeout`] after `timeout`, connecting included.
    pub fn new(
        address: impl Display,
        path_prefix: String,
        allowed_headers: Vec<HeaderName>,
        allowed_upstream_headers: Vec<HeaderName>,
        timeout: Duration,
    ) -> Result<Self, HttpAuthzError> {
        let address = address.to_string();
        let invalid = |reason: &str| HttpAuthzError::InvalidAddress {
            address: address.clone(),
            reason: reason.to_owned(),
        };
        let authority = crate::grpc::service_authority(&address).map_err(invalid)?;
        check_path_prefix(&path_prefix)?;
        if timeout.is_zero() {
            return Err(HttpAuthzError::InvalidTimeout);
        }

        let defaults = DEFAULT_ALLOWED_HEADERS
            .iter()
            .map(|name| HeaderName::from_static(name));
        let allowed_headers = unique(defaults.chain(allowed_headers).filter(|name| {
            name != header::HOST && name != header::CONTENT_LENGTH && !is_hop_by_hop(name)
        }));
        let allowed_upstream_headers = unique(
            allowed_upstream_headers
                .into_iter()
                .filter(|name| name != header::CONTENT_LENGTH && !is_hop_by_hop(name)),
        );

        let mut connector = HttpConnector::new();
        // Each check is one small request whose latency the client's request waits on.
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(timeout));
        let client = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .build(connector);
        Ok(Self {
            client,
            authority,
            path_prefix: path_prefix.into(),
            allowed_headers: allowed_headers.into(),
            allowed_upstream_headers: allowed_upstream_headers.into(),
            host: None,
            timeout,
        })
    }

    /// Sends `host` as the `Host` of every authorization request instead of the client's,
    /// for a service that routes by virtual host.
    pub fn with_host(mut self, host: HeaderValue) -> Self {
        self.host = Some(host);
        self
    }

    /// The `host:port` this client calls.
    pub fn address(&self) -> &str {
        self.authority.as_str()
    }

    /// The deadline of each check.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The client headers sent to the service, defaults included.
    pub fn allowed_headers(&self) -> &[HeaderName] {
        &self.allowed_headers
    }

    /// Asks the service about `request`. A denial is a verdict; a service that cannot be
    /// reached, is too slow, or answers `5xx` is an error, on which the caller decides
    /// whether to fail open or closed. `headers_to_remove` of an allowance is always empty.
    pub async fn check(&self, request: &AuthzRequest<'_>) -> Result<AuthzVerdict, HttpAuthzError> {
        let authz_request = self.authz_request(request)?;
        match tokio::time::timeout(self.timeout, self.exchange(authz_request)).await {
            Ok(result) => result,
            Err(_) => Err(HttpAuthzError::Timeout {
                address: self.address().to_owned(),
                timeout: self.timeout,
            }),
        }
    }

    /// Builds the request Envoy's HTTP client would send for `request`.
    fn authz_request(
        &self,
        request: &AuthzRequest<'_>,
    ) -> Result<Request<Empty<Bytes>>, HttpAuthzError> {
        let method = Method::from_bytes(request.method.as_bytes()).map_err(|_| {
            HttpAuthzError::InvalidRequest(format!("invalid method {:?}", request.method))
        })?;
        if method == Method::CONNECT {
            // hyper sends CONNECT in authority form, which would drop the path, and reads a
            // 200 answer as the start of a tunnel.
            return Err(HttpAuthzError::InvalidRequest(
                "CONNECT cannot be checked over HTTP".to_owned(),
            ));
        }
        let target = format!("{}{}", self.path_prefix, request.path);
        let invalid_target =
            || HttpAuthzError::InvalidRequest(format!("invalid request target {target:?}"));
        let path_and_query = PathAndQuery::try_from(target.as_str())
            .ok()
            .filter(|p| p.as_str().starts_with('/'))
            .ok_or_else(invalid_target)?;
        let uri = Uri::builder()
            .scheme("http")
            .authority(self.authority.clone())
            .path_and_query(path_and_query)
            .build()
            .map_err(|_| invalid_target())?;

        let mut authz_request = Request::new(Empty::new());
        *authz_request.method_mut() = method;
        *authz_request.uri_mut() = uri;
        *authz_request.headers_mut() = self.authz_headers(request);
        Ok(authz_request)
    }

    fn authz_headers(&self, request: &AuthzRequest<'_>) -> HeaderMap {
        let mut headers = HeaderMap::with_capacity(self.allowed_headers.len() + 2);
        // Set even for GET, where hyper would leave it out: Envoy always sends it, so
        // services written for Envoy may rely on it.
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        // Without a usable Host, hyper sends the service's own address.
        let host = self.host.clone().or_else(|| {
            HeaderValue::from_str(request.host)
                .ok()
                .filter(|host| !host.is_empty())
        });
        if let Some(host) = host {
            headers.insert(header::HOST, host);
        }
        let client_headers = request.headers;
        for name in self.allowed_headers.iter() {
            let values = client_headers.get_all(name).iter();
            if name == header::COOKIE {
                if let Some(joined) = join(values, "; ", None) {
                    headers.insert(name.clone(), joined);
                }
            } else if name == X_FORWARDED_FOR {
                let client = request.source_ip.to_string();
                if let Some(joined) = join(values, ", ", Some(client.as_bytes())) {
                    headers.insert(name.clone(), joined);
                }
            } else {
                for value in values {
                    headers.append(name.clone(), value.clone());
                }
            }
        }
        headers
    }

    async fn exchange(
        &self,
        request: Request<Empty<Bytes>>,
    ) -> Result<AuthzVerdict, HttpAuthzError> {
        let response = self.client.request(request).await.map_err(|source| {
            let address = self.address().to_owned();
            let detail = error_chain(&source);
            if source.is_connect() {
                HttpAuthzError::Connect {
                    address,
                    detail,
                    source,
                }
            } else {
                HttpAuthzError::Transport {
                    address,
                    detail,
                    source,
                }
            }
        })?;
        let status = response.status();
        if status.is_server_error() {
            // Drained only so the connection can be reused; the body explains nothing the
            // caller could pass on (its text may reach the client in a refusal).
            let _ = self.read_body(response).await;
            return Err(HttpAuthzError::ServerError {
                address: self.address().to_owned(),
                status: status.as_u16(),
            });
        }
        let headers = response.headers().clone();
        let body = self.read_body(response).await?;
        if status == StatusCode::OK {
            return Ok(AuthzVerdict::Allow {
                headers_to_set: self.upstream_headers(&headers),
                headers_to_remove: Vec::new(),
            });
        }
        Ok(AuthzVerdict::Deny {
            status: status.as_u16(),
            headers: client_headers(&headers),
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }

    async fn read_body(&self, response: Response<Incoming>) -> Result<Bytes, HttpAuthzError> {
        let collected = Limited::new(response.into_body(), MAX_BODY_BYTES)
            .collect()
            .await
            .map_err(|source| HttpAuthzError::Body {
                address: self.address().to_owned(),
                source,
            })?;
        Ok(collected.to_bytes())
    }

    /// The allowed answer headers, in configuration order, each name once.
    fn upstream_headers(&self, answer: &HeaderMap) -> Vec<(String, String)> {
        self.allowed_upstream_headers
            .iter()
            .filter_map(|name| {
                // The caller replaces a header with each pair, so repeated values must come
                // as one pair to survive.
                let separator = if name == header::COOKIE { "; " } else { ", " };
                let joined = join(answer.get_all(name).iter(), separator, None)?;
                Some((name.as_str().to_owned(), text(&joined)))
            })
            .collect()
    }
}

/// The denial's headers for the client: all but `content-length` (the caller's body sets its
/// own) and those that describe the connection to the service.
fn client_headers(answer: &HeaderMap) -> Vec<(String, String)> {
    let named_by_connection: Vec<HeaderName> = answer
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    answer
        .iter()
        .filter(|(name, _)| {
            *name != header::CONTENT_LENGTH
                && !is_hop_by_hop(name)
                && !named_by_connection.contains(name)
        })
        .map(|(name, value)| (name.as_str().to_owned(), text(value)))
        .collect()
}

/// The headers that describe one connection (RFC 9110 §7.6.1) and so are never copied
/// between the client's, the service's and the upstream's messages.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "proxy-connection"
            | "keep-alive"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    )
}

/// Joins header values with `separator`, then `last` if given; `None` when there is nothing.
fn join<'a>(
    values: impl Iterator<Item = &'a HeaderValue>,
    separator: &str,
    last: Option<&'a [u8]>,
) -> Option<HeaderValue> {
    let mut joined: Vec<u8> = Vec::new();
    for part in values.map(HeaderValue::as_bytes).chain(last) {
        if !joined.is_empty() {
            joined.extend_from_slice(separator.as_bytes());
        }
        joined.extend_from_slice(part);
    }
    if joined.is_empty() {
        return None;
    }
    // Valid values joined by visible separators stay valid; `last` is an IP address.
    HeaderValue::from_bytes(&joined).ok()
}

/// A header value as text for the verdict, whose headers are strings.
fn text(value: &HeaderValue) -> String {
    String::from_utf8_lossy(value.as_bytes()).into_owned()
}

fn unique(names: impl Iterator<Item = HeaderName>) -> Vec<HeaderName> {
    let mut kept: Vec<HeaderName> = Vec::new();
    for name in names {
        if !kept.contains(&name) {
            kept.push(name);
        }
    }
    kept
}

fn check_path_prefix(prefix: &str) -> Result<(), HttpAuthzError> {
    let invalid = |reason: &str| HttpAuthzError::InvalidPathPrefix {
        prefix: prefix.to_owned(),
        reason: reason.to_owned(),
    };
    if prefix.is_empty() {
        return Ok(());
    }
    if !prefix.starts_with('/') {
        return Err(invalid("it must start with '/'"));
    }
    if prefix.contains(['?', '#']) {
        return Err(invalid("it must not contain a query or fragment"));
    }
    PathAndQuery::try_from(prefix).map_err(|_| invalid("not a valid URL path"))?;
    Ok(())
}

#[cfg(test)]
#[path = "http_authz_tests.rs"]
mod tests;
