//! The request head a backend is sent and the response head it answers with.

use std::mem::MaybeUninit;
use std::ops::Range;

use bytes::{Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version};

/// More header lines than this in one response is refused, as hyper does.
const MAX_HEADERS: usize = 100;

/// How the request body is framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RequestFraming {
    /// No body and no length header (a GET, for instance).
    None,
    Sized(u64),
    Chunked,
}

impl RequestFraming {
    /// `ended` says the body is already known to be empty; `exact` is its size if known.
    pub(super) fn of(method: &Method, had_length: bool, ended: bool, exact: Option<u64>) -> Self {
        if ended {
            // A method that carries a body says it is empty; a GET says nothing.
            let says_empty =
                had_length || matches!(*method, Method::POST | Method::PUT | Method::PATCH);
            return if says_empty {
                Self::Sized(0)
            } else {
                Self::None
            };
        }
        exact.map_or(Self::Chunked, Self::Sized)
    }
}

/// Writes the request line and headers. The framing headers are ours: whatever the message
/// carried under `content-length` or `transfer-encoding` is replaced by `framing`.
pub(super) fn encode_request(
    out: &mut Vec<u8>,
    parts: &http::request::Parts,
    framing: RequestFraming,
) {
    out.extend_from_slice(parts.method.as_str().as_bytes());
    out.push(b' ');
    let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    out.extend_from_slice(if target.is_empty() {
        b"/"
    } else {
        target.as_bytes()
    });
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if !parts.headers.contains_key(HOST)
        && let Some(authority) = parts.uri.authority()
    {
        push_header(out, b"host", authority.as_str().as_bytes());
    }
    for (name, value) in &parts.headers {
        if name != CONTENT_LENGTH && name != TRANSFER_ENCODING {
            push_header(out, name.as_str().as_bytes(), value.as_bytes());
        }
    }
    match framing {
        RequestFraming::None => {}
        RequestFraming::Sized(length) => {
            out.extend_from_slice(b"content-length: ");
            push_decimal(out, length);
            out.extend_from_slice(b"\r\n");
        }
        RequestFraming::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
    }
    out.extend_from_slice(b"\r\n");
}

fn push_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

pub(super) fn push_decimal(out: &mut Vec<u8>, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

pub(super) fn push_hex(out: &mut Vec<u8>, mut value: u64) {
    let mut digits = [0u8; 16];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b"0123456789abcdef"[(value & 0xf) as usize];
        value >>= 4;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// How a response body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ResponseFraming {
    Empty,
    Sized(u64),
    Chunked,
    /// Everything until the backend closes the connection.
    UntilClose,
}

/// A parsed response head.
pub(super) struct ResponseHead {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    pub framing: ResponseFraming,
    /// The connection can carry another request once this response is read.
    pub keep_alive: bool,
}

/// Parses a response head at the start of `buf` and removes it from there. `None`: the head
/// is not complete yet.
pub(super) fn parse_response(
    buf: &mut BytesMut,
    method: &Method,
) -> Result<Option<ResponseHead>, String> {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut []);
    let status = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut parsed,
        buf,
        &mut slots,
    );
    let length = match status {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(error) => return Err(format!("the backend's response head is invalid: {error}")),
    };
    let status = parsed
        .code
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or_else(|| "the backend's response has no valid status code".to_string())?;
    let version = if parsed.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    // Header values are kept as slices of the head's bytes, so note where each one is.
    let base = buf.as_ptr() as usize;
    let at = |part: &[u8]| {
        let start = part.as_ptr() as usize - base;
        start..start + part.len()
    };
    let places: Vec<(Range<usize>, Range<usize>)> = parsed
        .headers
        .iter()
        .map(|header| (at(header.name.as_bytes()), at(header.value)))
        .collect();
    let head = buf.split_to(length).freeze();
    let mut headers = header_map(&head, &places)?;
    let framing = response_framing(method, status, &headers)?;
    let mut keep_alive =
        framing != ResponseFraming::UntilClose && wants_keep_alive(version, &headers);
    if headers.contains_key(TRANSFER_ENCODING) && headers.remove(CONTENT_LENGTH).is_some() {
        // Both framings at once: the transfer coding wins, the length must not travel on
        // (the client would cut the body at it), and the connection is not trusted again.
        keep_alive = false;
    }
    Ok(Some(ResponseHead {
        status,
        version,
        headers,
        framing,
        keep_alive,
    }))
}

fn header_map(head: &Bytes, places: &[(Range<usize>, Range<usize>)]) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::with_capacity(places.len());
    for (name, value) in places {
        let name = HeaderName::from_bytes(&head[name.clone()])
            .map_err(|_| "the backend sent an invalid header name".to_string())?;
        let value = HeaderValue::from_maybe_shared(head.slice(value.clone()))
            .map_err(|_| format!("the backend sent an invalid value for header '{name}'"))?;
        headers.append(name, value);
    }
    Ok(headers)
}

fn response_framing(
    method: &Method,
    status: StatusCode,
    headers: &HeaderMap,
) -> Result<ResponseFraming, String> {
    if *method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Ok(ResponseFraming::Empty);
    }
    if headers.contains_key(TRANSFER_ENCODING) {
        // The last coding must be chunked for the body to have an end of its own.
        let last = headers
            .get_all(TRANSFER_ENCODING)
            .iter()
            .flat_map(|value| value.as_bytes().split(|&b| b == b','))
            .next_back()
            .map(<[u8]>::trim_ascii);
        // Codings other than chunked (gzip, ...) would be lost with the hop-by-hop header
        // and reach the client as if the bytes were plain.
        let other = headers
            .get_all(TRANSFER_ENCODING)
            .iter()
            .flat_map(|value| value.as_bytes().split(|&b| b == b','))
            .map(<[u8]>::trim_ascii)
            .find(|coding| !coding.is_empty() && !coding.eq_ignore_ascii_case(b"chunked"));
        if let Some(coding) = other {
            return Err(format!(
                "the backend sent its body with transfer coding '{}', which the gateway does not decode; have it use Content-Encoding instead",
                String::from_utf8_lossy(coding)
            ));
        }
        let chunked = last.is_some_and(|coding| coding.eq_ignore_ascii_case(b"chunked"));
        return Ok(if chunked {
            ResponseFraming::Chunked
        } else {
            ResponseFraming::UntilClose
        });
    }
    let mut length = None;
    for value in headers.get_all(CONTENT_LENGTH) {
        for item in value.as_bytes().split(|&b| b == b',') {
            let parsed = parse_length(item.trim_ascii())
                .ok_or_else(|| format!("the backend sent an invalid content-length {value:?}"))?;
            if length.is_some_and(|seen| seen != parsed) {
                return Err("the backend sent conflicting content-length values".into());
            }
            length = Some(parsed);
        }
    }
    Ok(length.map_or(ResponseFraming::UntilClose, ResponseFraming::Sized))
}

fn parse_length(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        digits
            .iter()
            .fold(0u64, |n, d| n * 10 + u64::from(d - b'0')),
    )
}

fn wants_keep_alive(version: Version, headers: &HeaderMap) -> bool {
    let has = |token: &[u8]| {
        headers.get_all(CONNECTION).iter().any(|value| {
            value
                .as_bytes()
                .split(|&b| b == b',')
                .any(|item| item.trim_ascii().eq_ignore_ascii_case(token))
        })
    };
    if version == Version::HTTP_10 {
        has(b"keep-alive")
    } else {
        !has(b"close")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(request: http::Request<()>, framing: RequestFraming) -> String {
        let (parts, ()) = request.into_parts();
        let mut out = Vec::new();
        encode_request(&mut out, &parts, framing);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_request_head_carries_our_framing_not_the_clients() {
        let request = http::Request::post("http://backend:8080/v1/chat?x=1")
            .header("host", "backend")
            .header("content-length", "999")
            .header("transfer-encoding", "gzip")
            .header("x-a", "b")
            .body(())
            .unwrap();
        assert_eq!(
            encoded(request, RequestFraming::Sized(42)),
            "POST /v1/chat?x=1 HTTP/1.1\r\nhost: backend\r\nx-a: b\r\ncontent-length: 42\r\n\r\n"
        );
    }

    #[test]
    fn a_request_without_host_names_the_uri_authority() {
        let request = http::Request::get("http://backend:8080").body(()).unwrap();
        assert_eq!(
            encoded(request, RequestFraming::Chunked),
            "GET / HTTP/1.1\r\nhost: backend:8080\r\ntransfer-encoding: chunked\r\n\r\n"
        );
    }

    #[test]
    fn an_empty_body_says_so_only_for_methods_that_carry_one() {
        assert_eq!(
            RequestFraming::of(&Method::GET, false, true, Some(0)),
            RequestFraming::None
        );
        assert_eq!(
            RequestFraming::of(&Method::GET, true, true, Some(0)),
            RequestFraming::Sized(0)
        );
        assert_eq!(
            RequestFraming::of(&Method::POST, false, true, Some(0)),
            RequestFraming::Sized(0)
        );
        assert_eq!(
            RequestFraming::of(&Method::POST, false, false, Some(7)),
            RequestFraming::Sized(7)
        );
        assert_eq!(
            RequestFraming::of(&Method::POST, true, false, None),
            RequestFraming::Chunked
        );
    }

    #[test]
    fn numbers_are_written_in_decimal_and_hex() {
        let mut out = Vec::new();
        for n in [0, 9, 10, 255, u64::MAX] {
            push_decimal(&mut out, n);
            out.push(b' ');
            push_hex(&mut out, n);
            out.push(b';');
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("0 0;9 9;10 a;255 ff;{} ffffffffffffffff;", u64::MAX)
        );
    }

    fn parse(text: &str, method: &Method) -> Result<Option<ResponseHead>, String> {
        parse_response(&mut BytesMut::from(text), method)
    }

    #[test]
    fn a_response_head_is_taken_off_the_buffer_and_its_body_is_left() {
        let mut buf = BytesMut::from(
            "HTTP/1.1 201 Created\r\ncontent-length: 5\r\nx-a: 1\r\nx-a: 2\r\n\r\nhello",
        );
        let head = parse_response(&mut buf, &Method::GET).unwrap().unwrap();
        assert_eq!(head.status, StatusCode::CREATED);
        assert_eq!(head.version, Version::HTTP_11);
        assert_eq!(head.framing, ResponseFraming::Sized(5));
        assert!(head.keep_alive);
        let values: Vec<_> = head.headers.get_all("x-a").iter().collect();
        assert_eq!(values, ["1", "2"]);
        assert_eq!(&buf[..], b"hello");
    }

    #[test]
    fn a_partial_head_waits_for_more() {
        assert!(
            parse("HTTP/1.1 200 OK\r\ncontent-le", &Method::GET)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let framing = |text: &str, method: &Method| parse(text, method).unwrap().unwrap().framing;
        assert_eq!(
            framing(
                "HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\n",
                &Method::HEAD
            ),
            ResponseFraming::Empty
        );
        assert_eq!(
            framing("HTTP/1.1 204 No Content\r\n\r\n", &Method::GET),
            ResponseFraming::Empty
        );
        assert_eq!(
            framing(
                "HTTP/1.1 304 Not Modified\r\ncontent-length: 3\r\n\r\n",
                &Method::GET
            ),
            ResponseFraming::Empty
        );
        assert_eq!(
            framing(
                "HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\ncontent-length: 3\r\n\r\n",
                &Method::GET
            ),
            ResponseFraming::Chunked
        );
        for coded in ["gzip", "gzip, chunked"] {
            let text = format!("HTTP/1.1 200 OK\r\ntransfer-encoding: {coded}\r\n\r\n");
            assert!(
                parse(&text, &Method::GET).is_err(),
                "a coding the gateway cannot decode is refused: {coded}"
            );
        }
        assert_eq!(
            framing(
                "HTTP/1.1 200 OK\r\ncontent-length: 3, 3\r\n\r\n",
                &Method::GET
            ),
            ResponseFraming::Sized(3)
        );
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\n\r\n", &Method::GET),
            ResponseFraming::UntilClose
        );
    }

    #[test]
    fn keep_alive_follows_the_version_and_connection_header() {
        let keep = |text: &str| parse(text, &Method::GET).unwrap().unwrap().keep_alive;
        assert!(keep("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"));
        assert!(!keep(
            "HTTP/1.1 200 OK\r\nconnection: keep-alive, Close\r\ncontent-length: 0\r\n\r\n"
        ));
        assert!(!keep("HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n"));
        assert!(keep(
            "HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 0\r\n\r\n"
        ));
        assert!(
            !keep("HTTP/1.1 200 OK\r\n\r\n"),
            "a body delimited by close ends the connection"
        );
    }

    #[test]
    fn bad_heads_are_errors_naming_the_fault() {
        for (text, fault) in [
            ("HTTP/1.1 2x0 OK\r\n\r\n", "invalid"),
            (
                "HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n",
                "content-length",
            ),
            (
                "HTTP/1.1 200 OK\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\n",
                "conflicting",
            ),
        ] {
            let Err(error) = parse(text, &Method::GET) else {
                panic!("{text:?} was accepted");
            };
            assert!(error.contains(fault), "{text:?}: {error}");
        }
    }
}
