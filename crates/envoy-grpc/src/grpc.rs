//! Unary gRPC calls over cleartext HTTP/2 (h2c with prior knowledge).
//!
//! A call is an HTTP/2 `POST` to `/<package.Service>/<Method>` with
//! `content-type: application/grpc` and `te: trailers`, whose body is one length-prefixed
//! message (a compressed-flag byte, a 4-byte big-endian length, the protobuf bytes). The
//! answer is one such message followed by trailers carrying `grpc-status` and
//! `grpc-message`; a failure may instead come as a "trailers-only" response, where those
//! fields are in the headers and there is no body.

use std::error::Error as StdError;
use std::fmt::Display;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use http::uri::{Authority, PathAndQuery};
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::proto::DecodeError;

/// The largest response message accepted: gRPC's customary default receive limit. Verdicts
/// are tiny, so anything near this is a broken or hostile service.
const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// The gRPC message prefix: one compressed-flag byte and a 4-byte big-endian length.
const FRAME_HEADER_BYTES: usize = 5;

/// A failed gRPC call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GrpcError {
    /// The service address is not a valid `host:port`.
    #[error("invalid gRPC service address {address:?}: {reason}")]
    InvalidAddress { address: String, reason: String },
    /// The method path is not a valid request path.
    #[error("invalid gRPC method path {0:?}")]
    InvalidPath(String),
    /// No connection to the service could be opened (refused, unreachable, DNS failure,
    /// connect timeout).
    #[error("connecting to gRPC service at {address}: {detail}")]
    Connect {
        address: String,
        detail: String,
        #[source]
        source: hyper_util::client::legacy::Error,
    },
    /// The connection failed during the call (reset, HTTP/2 protocol error, not h2c).
    #[error("gRPC call to {address} failed: {detail}")]
    Transport {
        address: String,
        detail: String,
        #[source]
        source: hyper_util::client::legacy::Error,
    },
    /// The whole call (connecting included) took longer than the channel's timeout.
    #[error("gRPC call to {address} timed out after {timeout:?}")]
    Timeout { address: String, timeout: Duration },
    /// The service answered with an HTTP status other than 200, so no gRPC status exists.
    #[error("gRPC service answered HTTP status {0}")]
    HttpStatus(u16),
    /// The service answered with a non-OK gRPC status.
    #[error("gRPC service answered grpc-status {code} ({}): {message:?}", code_name(*code))]
    Status { code: u32, message: String },
    /// The response does not follow the gRPC protocol (content type, framing, trailers).
    #[error("malformed gRPC response: {0}")]
    Protocol(String),
    /// Reading the response body failed, or it was larger than 4 MiB.
    #[error("reading gRPC response body: {0}")]
    Body(#[source] Box<dyn StdError + Send + Sync>),
    /// The response message is not a valid protobuf encoding of the expected type.
    #[error("decoding gRPC {message} response: {source}")]
    Decode {
        message: &'static str,
        #[source]
        source: DecodeError,
    },
}

/// The canonical name of a gRPC status code, for messages.
pub fn code_name(code: u32) -> &'static str {
    match code {
        0 => "OK",
        1 => "CANCELLED",
        2 => "UNKNOWN",
        3 => "INVALID_ARGUMENT",
        4 => "DEADLINE_EXCEEDED",
        5 => "NOT_FOUND",
        6 => "ALREADY_EXISTS",
        7 => "PERMISSION_DENIED",
        8 => "RESOURCE_EXHAUSTED",
        9 => "FAILED_PRECONDITION",
        10 => "ABORTED",
        11 => "OUT_OF_RANGE",
        12 => "UNIMPLEMENTED",
        13 => "INTERNAL",
        14 => "UNAVAILABLE",
        15 => "DATA_LOSS",
        16 => "UNAUTHENTICATED",
        _ => "unknown code",
    }
}

/// A long-lived connection to one gRPC service, shared by every call.
///
/// Build it once per configured service and clone it freely: clones share one pool, and
/// HTTP/2 multiplexes concurrent calls over a single connection, re-opened on demand after
/// the service closes it. Creating it opens nothing; the first call connects.
#[derive(Debug, Clone)]
pub struct GrpcChannel {
    client: Client<HttpConnector, Full<Bytes>>,
    authority: Authority,
    timeout: Duration,
    grpc_timeout: HeaderValue,
}

/// The `host:port` of a service, or why it is not one.
pub(crate) fn service_authority(address: &str) -> Result<Authority, &'static str> {
    let authority: Authority = address.parse().map_err(|_| "not host:port")?;
    if authority.port_u16().is_none() {
        return Err("the port is missing");
    }
    if address.contains('@') {
        return Err("credentials are not allowed");
    }
    Ok(authority)
}

impl GrpcChannel {
    /// A channel to `address` (`host:port`, or a [`std::net::SocketAddr`]) whose calls each
    /// fail with [`GrpcError::Timeout`] after `timeout`, connecting included.
    pub fn new(address: impl Display, timeout: Duration) -> Result<Self, GrpcError> {
        let address = address.to_string();
        let invalid = |reason: &str| GrpcError::InvalidAddress {
            address: address.clone(),
            reason: reason.to_owned(),
        };
        let authority = service_authority(&address).map_err(invalid)?;
        if timeout.is_zero() {
            return Err(invalid("the timeout must be positive"));
        }

        let mut connector = HttpConnector::new();
        // Each call is one small request whose latency the proxy waits on.
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(timeout));
        let client = Client::builder(TokioExecutor::new())
            .http2_only(true)
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            // Pings find a connection that died silently (a restarted service behind NAT)
            // before calls wait on it for their whole timeout.
            .http2_keep_alive_interval(Duration::from_secs(30))
            .http2_keep_alive_timeout(Duration::from_secs(10))
            .build(connector);
        Ok(Self {
            client,
            authority,
            timeout,
            grpc_timeout: grpc_timeout_header(timeout),
        })
    }

    /// The `host:port` this channel calls.
    pub fn address(&self) -> &str {
        self.authority.as_str()
    }

    /// The deadline of each call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends one protobuf-encoded `request` to the method at `path`
    /// (`/package.Service/Method`) and returns the response message's protobuf bytes.
    pub async fn unary(&self, path: &str, request: Bytes) -> Result<Bytes, GrpcError> {
        let uri = Uri::builder()
            .scheme("http")
            .authority(self.authority.clone())
            .path_and_query(
                PathAndQuery::try_from(path)
                    .map_err(|_| GrpcError::InvalidPath(path.to_owned()))?,
            )
            .build()
            .map_err(|_| GrpcError::InvalidPath(path.to_owned()))?;
        let mut http_request = Request::new(Full::new(frame(&request)));
        *http_request.method_mut() = Method::POST;
        *http_request.uri_mut() = uri;
        let headers = http_request.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc"),
        );
        // Required by gRPC: it tells intermediaries the client understands trailers.
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
        // The service can stop working on a call the proxy has already given up on.
        headers.insert("grpc-timeout", self.grpc_timeout.clone());
        headers.insert(
            header::USER_AGENT,
            HeaderValue::from_static(concat!(
                "agentgateway-envoy-grpc/",
                env!("CARGO_PKG_VERSION")
            )),
        );

        match tokio::time::timeout(self.timeout, self.exchange(http_request)).await {
            Ok(result) => result,
            Err(_) => Err(GrpcError::Timeout {
                address: self.address().to_owned(),
                timeout: self.timeout,
            }),
        }
    }

    async fn exchange(&self, request: Request<Full<Bytes>>) -> Result<Bytes, GrpcError> {
        let response = self.client.request(request).await.map_err(|source| {
            let address = self.address().to_owned();
            let detail = error_chain(&source);
            if source.is_connect() {
                GrpcError::Connect {
                    address,
                    detail,
                    source,
                }
            } else {
                GrpcError::Transport {
                    address,
                    detail,
                    source,
                }
            }
        })?;
        let (parts, body) = response.into_parts();
        if parts.status != StatusCode::OK {
            return Err(GrpcError::HttpStatus(parts.status.as_u16()));
        }
        // Trailers-only: the status is in the headers and the stream has ended.
        if let Some(status) = grpc_status(&parts.headers)? {
            return match status {
                (0, _) => Err(GrpcError::Protocol(
                    "OK status without a message".to_owned(),
                )),
                (code, message) => Err(GrpcError::Status { code, message }),
            };
        }
        let is_grpc = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/grpc"));
        if !is_grpc {
            return Err(GrpcError::Protocol(
                "content-type is not application/grpc".to_owned(),
            ));
        }
        let collected = Limited::new(body, MAX_MESSAGE_BYTES + FRAME_HEADER_BYTES)
            .collect()
            .await
            .map_err(GrpcError::Body)?;
        let status = match collected.trailers() {
            Some(trailers) => grpc_status(trailers)?,
            None => None,
        };
        match status {
            None => Err(GrpcError::Protocol(
                "response ended without grpc-status".to_owned(),
            )),
            Some((0, _)) => unframe(collected.to_bytes()),
            Some((code, message)) => Err(GrpcError::Status { code, message }),
        }
    }
}

/// Joins an error and its sources into one line: hyper's own message ("client error
/// (Connect)") says nothing without the io error beneath it.
pub(crate) fn error_chain(err: &dyn StdError) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// Formats a deadline as gRPC's `grpc-timeout` value: at most 8 digits and a unit.
fn grpc_timeout_header(timeout: Duration) -> HeaderValue {
    const MAX_DIGITS: u128 = 99_999_999;
    let millis = timeout.as_millis().max(1);
    let value = if millis <= MAX_DIGITS {
        format!("{millis}m")
    } else {
        format!("{}S", timeout.as_secs().min(MAX_DIGITS as u64))
    };
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("99999999S"))
}

/// Prefixes one message with gRPC's uncompressed message header.
pub(crate) fn frame(message: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(FRAME_HEADER_BYTES + message.len());
    buf.put_u8(0);
    // Messages here are built from a bounded request, far below 4 GiB.
    buf.put_u32(u32::try_from(message.len()).unwrap_or(u32::MAX));
    buf.extend_from_slice(message);
    buf.freeze()
}

/// Extracts the single message of a unary body.
pub(crate) fn unframe(body: Bytes) -> Result<Bytes, GrpcError> {
    if body.len() < FRAME_HEADER_BYTES {
        return Err(GrpcError::Protocol(format!(
            "expected one message, got {} body bytes",
            body.len()
        )));
    }
    if body[0] != 0 {
        // No grpc-accept-encoding is sent, so a compressed message is a protocol violation.
        return Err(GrpcError::Protocol("message is compressed".to_owned()));
    }
    let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
    if body.len() - FRAME_HEADER_BYTES != len {
        return Err(GrpcError::Protocol(format!(
            "message length {len} does not match the {} bytes after the prefix",
            body.len() - FRAME_HEADER_BYTES
        )));
    }
    Ok(body.slice(FRAME_HEADER_BYTES..))
}

/// Reads `grpc-status` and the percent-decoded `grpc-message`, if a status is present.
fn grpc_status(headers: &HeaderMap) -> Result<Option<(u32, String)>, GrpcError> {
    let Some(status) = headers.get("grpc-status") else {
        return Ok(None);
    };
    let code = status
        .to_str()
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .ok_or_else(|| GrpcError::Protocol(format!("invalid grpc-status {status:?}")))?;
    let message = headers
        .get("grpc-message")
        .map(|m| percent_decode(m.as_bytes()))
        .unwrap_or_default();
    Ok(Some((code, message)))
}

/// Decodes gRPC's percent-encoding of `grpc-message`; a malformed escape stays as it is,
/// as the gRPC spec asks of clients.
fn percent_decode(raw: &[u8]) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%'
            && let Some((hi, lo)) = raw.get(i + 1).zip(raw.get(i + 2))
            && let (Some(hi), Some(lo)) = (hex(*hi), hex(*lo))
        {
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes a `grpc-message` as servers must: printable ASCII except `%` passes.
#[cfg(any(test, feature = "testing"))]
pub(crate) fn percent_encode(message: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(message.len());
    for &b in message.as_bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let framed = frame(b"abc");
        assert_eq!(&framed[..], &[0, 0, 0, 0, 3, b'a', b'b', b'c']);
        assert_eq!(&unframe(framed).unwrap()[..], b"abc");
        assert_eq!(&unframe(frame(b"")).unwrap()[..], b"");
    }

    #[test]
    fn bad_frames_are_protocol_errors() {
        for body in [
            &[0u8, 0, 0][..],
            &[1, 0, 0, 0, 0],
            &[0, 0, 0, 0, 2, b'a'],
            &[0, 0, 0, 0, 0, 9],
        ] {
            let err = unframe(Bytes::copy_from_slice(body)).unwrap_err();
            assert!(matches!(err, GrpcError::Protocol(_)), "{body:?}: {err}");
        }
    }

    #[test]
    fn grpc_message_is_percent_decoded() {
        let encoded = percent_encode("no auth: 100% \u{e9}t\u{e9}");
        assert_eq!(encoded, "no auth: 100%25 %C3%A9t%C3%A9");
        assert_eq!(
            percent_decode(encoded.as_bytes()),
            "no auth: 100% \u{e9}t\u{e9}"
        );
        // Malformed escapes are kept verbatim.
        assert_eq!(percent_decode(b"50%zz%4"), "50%zz%4");
    }

    #[test]
    fn status_comes_from_headers_or_trailers() {
        let mut headers = HeaderMap::new();
        assert_eq!(grpc_status(&headers).unwrap(), None);
        headers.insert("grpc-status", HeaderValue::from_static("7"));
        headers.insert("grpc-message", HeaderValue::from_static("go%20away"));
        assert_eq!(
            grpc_status(&headers).unwrap(),
            Some((7, "go away".to_owned()))
        );
        headers.insert("grpc-status", HeaderValue::from_static("seven"));
        assert!(matches!(grpc_status(&headers), Err(GrpcError::Protocol(_))));
    }

    #[test]
    fn timeout_header_fits_eight_digits() {
        assert_eq!(grpc_timeout_header(Duration::from_millis(250)), "250m");
        assert_eq!(grpc_timeout_header(Duration::from_micros(10)), "1m");
        assert_eq!(grpc_timeout_header(Duration::from_secs(200_000)), "200000S");
    }

    #[test]
    fn addresses_are_validated() {
        let timeout = Duration::from_secs(1);
        assert!(GrpcChannel::new("127.0.0.1:9000", timeout).is_ok());
        assert!(GrpcChannel::new("authz.internal:9000", timeout).is_ok());
        let v6: std::net::SocketAddr = "[::1]:9000".parse().unwrap();
        assert_eq!(
            GrpcChannel::new(v6, timeout).unwrap().address(),
            "[::1]:9000"
        );
        for bad in ["authz.internal", "http://x:1", "a b:1", "user@host:1"] {
            assert!(
                matches!(
                    GrpcChannel::new(bad, timeout),
                    Err(GrpcError::InvalidAddress { .. })
                ),
                "{bad}"
            );
        }
        assert!(GrpcChannel::new("127.0.0.1:9000", Duration::ZERO).is_err());
    }

    #[test]
    fn status_errors_name_the_code_and_message() {
        let err = GrpcError::Status {
            code: 7,
            message: "nope".to_owned(),
        };
        assert_eq!(
            err.to_string(),
            "gRPC service answered grpc-status 7 (PERMISSION_DENIED): \"nope\""
        );
    }
}
