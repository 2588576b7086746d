//! The subset of `envoy.service.auth.v3` messages that the gateway sends and reads.
//!
//! Field numbers follow envoyproxy/data-plane-api:
//! `envoy/service/auth/v3/external_auth.proto` (CheckRequest, CheckResponse,
//! DeniedHttpResponse, OkHttpResponse), `envoy/service/auth/v3/attribute_context.proto`
//! (AttributeContext, Peer, Request, HttpRequest), `envoy/config/core/v3/address.proto`
//! (Address, SocketAddress), `envoy/config/core/v3/base.proto` (HeaderValueOption,
//! HeaderValue), `envoy/type/v3/http_status.proto` (HttpStatus), and googleapis'
//! `google/rpc/status.proto` (Status). Each field written or read names its proto field in a
//! comment.
//!
//! Requests are encoded by the client and decoded only by the test server; responses the
//! other way round. Fields the gateway has no use for are skipped when decoding.

use std::borrow::Cow;

use crate::proto::{DecodeError, Encoder, fields};

/// The attributes of one HTTP request to authorize.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CheckRequest<'a> {
    /// The downstream peer's `SocketAddress` address and port.
    pub source: Option<(Cow<'a, str>, u32)>,
    pub http: HttpRequest<'a>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct HttpRequest<'a> {
    pub id: &'a str,
    pub method: &'a str,
    /// Lower-case names, duplicates already joined, in the order they are sent.
    pub headers: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    pub path: &'a str,
    pub host: &'a str,
    pub scheme: &'a str,
    /// The body size in bytes, or -1 when unknown (as the proto asks).
    pub size: i64,
    pub protocol: &'a str,
}

impl<'a> CheckRequest<'a> {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut enc = Encoder::new();
        // CheckRequest.attributes = 1 (AttributeContext)
        enc.message(1, |attrs| {
            if let Some((address, port)) = &self.source {
                // AttributeContext.source = 1 (Peer)
                attrs.message(1, |peer| {
                    // Peer.address = 1 (Address)
                    peer.message(1, |addr| {
                        // Address.socket_address = 1 (SocketAddress)
                        addr.message(1, |socket| {
                            // SocketAddress.protocol = 1 is TCP, the zero default: not written.
                            socket.string(2, address); // SocketAddress.address
                            socket.uint(3, u64::from(*port)); // SocketAddress.port_value
                        });
                    });
                });
            }
            // AttributeContext.request = 4 (Request)
            attrs.message(4, |request| {
                // Request.http = 2 (HttpRequest)
                request.message(2, |http| self.http.encode(http));
            });
        });
        enc.finish()
    }

    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn decode(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let mut out = CheckRequest::default();
        for item in fields(buf) {
            // CheckRequest.attributes = 1
            if let (1, v) = item? {
                out.decode_attributes(v.bytes(1)?)?;
            }
        }
        Ok(out)
    }

    #[cfg(any(test, feature = "testing"))]
    fn decode_attributes(&mut self, buf: &'a [u8]) -> Result<(), DecodeError> {
        for item in fields(buf) {
            match item? {
                // AttributeContext.source = 1 → Peer.address = 1 → Address.socket_address = 1
                (1, v) => {
                    if let Some(address) = only_field(v.bytes(1)?, 1)?
                        && let Some(socket) = only_field(address, 1)?
                    {
                        self.source = Some(decode_socket_address(socket)?);
                    }
                }
                // AttributeContext.request = 4 → Request.http = 2
                (4, v) => {
                    if let Some(http) = only_field(v.bytes(4)?, 2)? {
                        self.http = HttpRequest::decode(http)?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

impl<'a> HttpRequest<'a> {
    fn encode(&self, http: &mut Encoder) {
        http.string(1, self.id); // HttpRequest.id
        http.string(2, self.method); // HttpRequest.method
        for (name, value) in &self.headers {
            http.map_entry(3, name, value); // HttpRequest.headers (map<string, string>)
        }
        http.string(4, self.path); // HttpRequest.path (with the query string)
        http.string(5, self.host); // HttpRequest.host
        http.string(6, self.scheme); // HttpRequest.scheme
        // query (7) and fragment (8) are documented as always empty.
        http.int(9, self.size); // HttpRequest.size
        http.string(10, self.protocol); // HttpRequest.protocol
    }

    #[cfg(any(test, feature = "testing"))]
    fn decode(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let mut out = HttpRequest::default();
        for item in fields(buf) {
            match item? {
                (1, v) => out.id = v.str(1)?,
                (2, v) => out.method = v.str(2)?,
                (3, v) => {
                    let (name, value) = crate::proto::decode_pair(v.bytes(3)?)?;
                    out.headers.push((Cow::Owned(name), Cow::Owned(value)));
                }
                (4, v) => out.path = v.str(4)?,
                (5, v) => out.host = v.str(5)?,
                (6, v) => out.scheme = v.str(6)?,
                (9, v) => out.size = v.i64(9)?,
                (10, v) => out.protocol = v.str(10)?,
                _ => {}
            }
        }
        Ok(out)
    }
}

/// The bytes of the last occurrence of length-delimited `field` in `buf`, if any.
#[cfg(any(test, feature = "testing"))]
fn only_field(buf: &[u8], field: u32) -> Result<Option<&[u8]>, DecodeError> {
    let mut found = None;
    for item in fields(buf) {
        let (number, v) = item?;
        if number == field {
            found = Some(v.bytes(field)?);
        }
    }
    Ok(found)
}

#[cfg(any(test, feature = "testing"))]
fn decode_socket_address(buf: &[u8]) -> Result<(Cow<'_, str>, u32), DecodeError> {
    let (mut address, mut port) = (Cow::Borrowed(""), 0);
    for item in fields(buf) {
        match item? {
            (2, v) => address = Cow::Borrowed(v.str(2)?), // SocketAddress.address
            (3, v) => port = v.u32(3)?,                   // SocketAddress.port_value
            _ => {}
        }
    }
    Ok((address, port))
}

/// The authorization service's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CheckResponse {
    /// `google.rpc.Status.code`; an absent status is code 0, OK.
    pub code: i32,
    /// `google.rpc.Status.message`.
    pub message: String,
    pub http: Option<HttpResponse>,
}

/// The `http_response` oneof of `CheckResponse`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HttpResponse {
    Denied(DeniedHttpResponse),
    Ok(OkHttpResponse),
    /// The service failed and describes the response to send; same shape as a denial.
    Error(DeniedHttpResponse),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DeniedHttpResponse {
    /// `HttpStatus.code`, absent when the service left the status unset.
    pub status: Option<u32>,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct OkHttpResponse {
    pub headers: Vec<(String, String)>,
    pub headers_to_remove: Vec<String>,
}

impl CheckResponse {
    pub(crate) fn decode(buf: &[u8]) -> Result<Self, DecodeError> {
        let mut out = CheckResponse::default();
        for item in fields(buf) {
            match item? {
                // CheckResponse.status = 1 (google.rpc.Status)
                (1, v) => {
                    for item in fields(v.bytes(1)?) {
                        match item? {
                            (1, v) => out.code = v.i32(1)?,       // Status.code
                            (2, v) => out.message = v.string(2)?, // Status.message
                            _ => {}
                        }
                    }
                }
                // CheckResponse.denied_response = 2 (DeniedHttpResponse)
                (2, v) => out.http = Some(HttpResponse::Denied(decode_denied(v.bytes(2)?)?)),
                // CheckResponse.ok_response = 3 (OkHttpResponse)
                (3, v) => out.http = Some(HttpResponse::Ok(decode_ok(v.bytes(3)?)?)),
                // CheckResponse.error_response = 5 (DeniedHttpResponse)
                (5, v) => out.http = Some(HttpResponse::Error(decode_denied(v.bytes(5)?)?)),
                // dynamic_metadata (4) has no use in the gateway yet.
                _ => {}
            }
        }
        Ok(out)
    }

    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut enc = Encoder::new();
        // CheckResponse.status = 1: Status.code = 1, Status.message = 2
        enc.message(1, |status| {
            status.int(1, i64::from(self.code));
            status.string(2, &self.message);
        });
        match &self.http {
            None => {}
            Some(HttpResponse::Denied(denied)) => enc.message(2, |m| encode_denied(m, denied)),
            Some(HttpResponse::Ok(ok)) => enc.message(3, |m| {
                for (name, value) in &ok.headers {
                    encode_header_option(m, 2, name, value); // OkHttpResponse.headers
                }
                for name in &ok.headers_to_remove {
                    m.string(5, name); // OkHttpResponse.headers_to_remove
                }
            }),
            Some(HttpResponse::Error(denied)) => enc.message(5, |m| encode_denied(m, denied)),
        }
        enc.finish()
    }
}

fn decode_denied(buf: &[u8]) -> Result<DeniedHttpResponse, DecodeError> {
    let mut out = DeniedHttpResponse::default();
    for item in fields(buf) {
        match item? {
            // DeniedHttpResponse.status = 1 (HttpStatus); HttpStatus.code = 1
            (1, v) => {
                let mut code = 0;
                for item in fields(v.bytes(1)?) {
                    if let (1, v) = item? {
                        code = v.u32(1)?;
                    }
                }
                // Code 0 is the enum's `Empty`, which is as good as unset.
                out.status = (code != 0).then_some(code);
            }
            (2, v) => out.headers.push(decode_header_option(v.bytes(2)?)?), // .headers
            (3, v) => out.body = v.string(3)?,                              // .body
            _ => {}
        }
    }
    Ok(out)
}

fn decode_ok(buf: &[u8]) -> Result<OkHttpResponse, DecodeError> {
    let mut out = OkHttpResponse::default();
    for item in fields(buf) {
        match item? {
            (2, v) => out.headers.push(decode_header_option(v.bytes(2)?)?), // .headers
            (5, v) => out.headers_to_remove.push(v.string(5)?),             // .headers_to_remove
            _ => {}
        }
    }
    Ok(out)
}

/// A `HeaderValueOption`'s header (field 1). Its append settings are not read: the
/// gateway's verdict sets headers, which is the proto's default for ext_authz.
fn decode_header_option(buf: &[u8]) -> Result<(String, String), DecodeError> {
    let mut header = (String::new(), String::new());
    for item in fields(buf) {
        if let (1, v) = item? {
            header = decode_header_value(v.bytes(1)?)?;
        }
    }
    Ok(header)
}

/// A `HeaderValue`: key = 1, value = 2, or raw_value = 3 (bytes) instead of value.
pub(crate) fn decode_header_value(buf: &[u8]) -> Result<(String, String), DecodeError> {
    let (mut key, mut value) = (String::new(), String::new());
    for item in fields(buf) {
        match item? {
            (1, v) => key = v.string(1)?,
            (2, v) => value = v.string(2)?,
            (3, v) => value = String::from_utf8_lossy(v.bytes(3)?).into_owned(),
            _ => {}
        }
    }
    Ok((key, value))
}

#[cfg(any(test, feature = "testing"))]
fn encode_denied(m: &mut Encoder, denied: &DeniedHttpResponse) {
    if let Some(code) = denied.status {
        m.message(1, |status| status.uint(1, u64::from(code))); // .status.code
    }
    for (name, value) in &denied.headers {
        encode_header_option(m, 2, name, value); // .headers
    }
    m.string(3, &denied.body); // .body
}

/// A `HeaderValueOption` with only its header (field 1) set.
#[cfg(any(test, feature = "testing"))]
fn encode_header_option(m: &mut Encoder, field: u32, name: &str, value: &str) {
    m.message(field, |option| option.map_entry(1, name, value));
}
