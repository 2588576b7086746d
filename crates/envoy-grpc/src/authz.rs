//! The external authorization client: asks an `envoy.service.auth.v3.Authorization`
//! service whether a request may proceed, as Envoy's `ext_authz` filter does over gRPC.

use std::borrow::Cow;
use std::net::IpAddr;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, header};

use crate::authz_proto::{CheckRequest, CheckResponse, HttpRequest, HttpResponse};
use crate::grpc::{GrpcChannel, GrpcError};

/// The gRPC method path of `Authorization.Check`.
pub const CHECK_PATH: &str = "/envoy.service.auth.v3.Authorization/Check";

/// The HTTP status sent for a denial that does not set one, as in Envoy.
const DEFAULT_DENY_STATUS: u16 = 403;

/// What the gateway tells the authorization service about one request.
#[derive(Debug, Clone, Copy)]
pub struct AuthzRequest<'a> {
    /// The request method, e.g. `GET`.
    pub method: &'a str,
    /// The request target as received: path and query string, undecoded.
    pub path: &'a str,
    /// The `Host` or `:authority` value.
    pub host: &'a str,
    /// `http` or `https`.
    pub scheme: &'a str,
    /// The request headers. Names are sent lower-case; repeated headers are joined with `,`
    /// (`cookie` with `; `, as HTTP/2 requires for it).
    pub headers: &'a HeaderMap,
    /// The downstream client's address.
    pub source_ip: IpAddr,
    pub source_port: u16,
    /// `HTTP/1.0`, `HTTP/1.1` or `HTTP/2`, as Envoy spells them.
    pub protocol: &'a str,
}

/// The authorization service's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthzVerdict {
    /// Forward the request upstream after changing its headers.
    Allow {
        /// Request headers to set, replacing any of the same name (lower-case names).
        headers_to_set: Vec<(String, String)>,
        /// Request headers to remove (lower-case names; pseudo-headers and `host` are left
        /// out, as Envoy ignores them).
        headers_to_remove: Vec<String>,
    },
    /// Answer the client directly with this response.
    Deny {
        /// The HTTP status, 403 when the service did not set a valid one.
        status: u16,
        /// Response headers (lower-case names).
        headers: Vec<(String, String)>,
        body: String,
    },
}

/// A client of one ext_authz service. Cheap to clone; calls share the channel's connection.
#[derive(Debug, Clone)]
pub struct ExtAuthzClient {
    channel: GrpcChannel,
}

impl ExtAuthzClient {
    pub fn new(channel: GrpcChannel) -> Self {
        Self { channel }
    }

    pub fn channel(&self) -> &GrpcChannel {
        &self.channel
    }

    /// Asks the service about `request`. A non-OK gRPC status of the call itself (as
    /// opposed to a denial in the response) is an error: the caller decides whether to fail
    /// open or closed.
    pub async fn check(&self, request: &AuthzRequest<'_>) -> Result<AuthzVerdict, GrpcError> {
        let message = Bytes::from(check_request(request).encode());
        let response = self.channel.unary(CHECK_PATH, message).await?;
        let response = CheckResponse::decode(&response).map_err(|source| GrpcError::Decode {
            message: "CheckResponse",
            source,
        })?;
        Ok(verdict(response))
    }
}

/// Builds the `CheckRequest` Envoy would send for `request`.
fn check_request<'a>(request: &AuthzRequest<'a>) -> CheckRequest<'a> {
    let headers = request.headers;
    let mut sent = Vec::with_capacity(headers.keys_len() + 4);
    // Envoy's header map holds the pseudo-headers too, and policies written for Envoy read
    // them from this map (OPA's examples match on `:authority` and `:path`, for one).
    sent.push((Cow::Borrowed(":authority"), Cow::Borrowed(request.host)));
    sent.push((Cow::Borrowed(":method"), Cow::Borrowed(request.method)));
    sent.push((Cow::Borrowed(":path"), Cow::Borrowed(request.path)));
    sent.push((Cow::Borrowed(":scheme"), Cow::Borrowed(request.scheme)));
    for name in headers.keys() {
        let separator = if name == header::COOKIE { "; " } else { "," };
        let mut values = headers.get_all(name).iter();
        let Some(first) = values.next() else { continue };
        let mut value = header_text(first);
        for next in values {
            let joined = value.to_mut();
            joined.push_str(separator);
            joined.push_str(&header_text(next));
        }
        sent.push((Cow::Borrowed(name.as_str()), value));
    }
    // The proto asks for X-Request-ID as the request id, and -1 for an unknown size.
    let id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let size = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or(-1);
    CheckRequest {
        source: Some((
            Cow::Owned(request.source_ip.to_string()),
            u32::from(request.source_port),
        )),
        http: HttpRequest {
            id,
            method: request.method,
            headers: sent,
            path: request.path,
            host: request.host,
            scheme: request.scheme,
            size,
            protocol: request.protocol,
        },
    }
}

/// A header value as proto3 string: the proto says non-UTF-8 characters become `!`.
fn header_text(value: &HeaderValue) -> Cow<'_, str> {
    match std::str::from_utf8(value.as_bytes()) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => Cow::Owned(String::from_utf8_lossy(value.as_bytes()).replace('\u{fffd}', "!")),
    }
}

/// Turns a `CheckResponse` into a verdict the way Envoy's ext_authz filter reads it: the
/// status decides, and only the matching half of the `http_response` oneof is used.
fn verdict(response: CheckResponse) -> AuthzVerdict {
    if response.code == 0 {
        let ok = match response.http {
            Some(HttpResponse::Ok(ok)) => ok,
            _ => Default::default(),
        };
        let headers_to_remove = ok
            .headers_to_remove
            .into_iter()
            .map(|name| name.to_ascii_lowercase())
            .filter(|name| {
                let kept = !name.starts_with(':') && name != "host";
                if !kept {
                    tracing::debug!(header = %name, "ext_authz asked to remove a header that cannot be removed");
                }
                kept
            })
            .collect();
        return AuthzVerdict::Allow {
            headers_to_set: lower_names(ok.headers),
            headers_to_remove,
        };
    }
    // An `error_response` describes the reply just like a denial; the status is non-OK
    // either way, so both deny.
    let denied = match response.http {
        Some(HttpResponse::Denied(denied) | HttpResponse::Error(denied)) => denied,
        _ => Default::default(),
    };
    let status = denied
        .status
        .and_then(|code| u16::try_from(code).ok())
        // A 1xx is not a final response, and other values are not HTTP statuses at all.
        .filter(|code| (200..=599).contains(code))
        .unwrap_or(DEFAULT_DENY_STATUS);
    AuthzVerdict::Deny {
        status,
        headers: lower_names(denied.headers),
        body: denied.body,
    }
}

fn lower_names(headers: Vec<(String, String)>) -> Vec<(String, String)> {
    headers
        .into_iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value))
        .collect()
}

#[cfg(test)]
#[path = "authz_tests.rs"]
mod tests;
