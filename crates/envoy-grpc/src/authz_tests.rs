//! Byte-exact tests of the ext_authz messages and of how requests and verdicts map onto them.
//! Expected bytes are worked out by hand from the field numbers; each line of an expected
//! vector is one field (tag, length, payload).

use std::borrow::Cow;

use http::HeaderMap;

use super::*;
use crate::authz_proto::{DeniedHttpResponse, OkHttpResponse};

fn sample_request() -> CheckRequest<'static> {
    CheckRequest {
        source: Some((Cow::Borrowed("10.0.0.1"), 5000)),
        http: HttpRequest {
            id: "",
            method: "GET",
            headers: vec![(Cow::Borrowed("a"), Cow::Borrowed("b"))],
            path: "/p?q",
            host: "h",
            scheme: "http",
            size: 5,
            protocol: "HTTP/2",
        },
    }
}

#[rustfmt::skip]
const SAMPLE_REQUEST_BYTES: &[u8] = &[
    0x0a, 0x3d,                         // CheckRequest.attributes, 61 bytes
      0x0a, 0x11,                       // AttributeContext.source (Peer), 17 bytes
        0x0a, 0x0f,                     // Peer.address (Address), 15 bytes
          0x0a, 0x0d,                   // Address.socket_address, 13 bytes
            0x12, 0x08, b'1', b'0', b'.', b'0', b'.', b'0', b'.', b'1', // .address
            0x18, 0x88, 0x27,           // .port_value = 5000
      0x22, 0x28,                       // AttributeContext.request (Request), 40 bytes
        0x12, 0x26,                     // Request.http (HttpRequest), 38 bytes
          0x12, 0x03, b'G', b'E', b'T', // .method
          0x1a, 0x06, 0x0a, 0x01, b'a', 0x12, 0x01, b'b', // .headers entry a: b
          0x22, 0x04, b'/', b'p', b'?', b'q', // .path
          0x2a, 0x01, b'h',             // .host
          0x32, 0x04, b'h', b't', b't', b'p', // .scheme
          0x48, 0x05,                   // .size = 5
          0x52, 0x06, b'H', b'T', b'T', b'P', b'/', b'2', // .protocol
];

#[test]
fn check_request_encodes_to_the_expected_bytes() {
    assert_eq!(sample_request().encode(), SAMPLE_REQUEST_BYTES);
}

#[test]
fn check_request_round_trips() {
    let decoded = CheckRequest::decode(SAMPLE_REQUEST_BYTES).unwrap();
    assert_eq!(decoded, sample_request());
    // An unknown size is -1, sent as a ten-byte varint, and read back as -1.
    let mut unknown = sample_request();
    unknown.http.size = -1;
    unknown.source = None;
    assert_eq!(CheckRequest::decode(&unknown.encode()).unwrap(), unknown);
}

#[rustfmt::skip]
const ALLOW_BYTES: &[u8] = &[
    0x0a, 0x00,                         // CheckResponse.status: code 0, no message
    0x1a, 0x22,                         // .ok_response, 34 bytes
      0x12, 0x11,                       // OkHttpResponse.headers (HeaderValueOption), 17 bytes
        0x0a, 0x0f,                     // HeaderValueOption.header (HeaderValue), 15 bytes
          0x0a, 0x06, b'x', b'-', b'u', b's', b'e', b'r', // .key
          0x12, 0x05, b'a', b'l', b'i', b'c', b'e',        // .value
      0x2a, 0x0d, b'a', b'u', b't', b'h', b'o', b'r', b'i', b'z', b'a', b't', b'i', b'o', b'n',
                                        // OkHttpResponse.headers_to_remove
];

#[rustfmt::skip]
const DENY_BYTES: &[u8] = &[
    0x0a, 0x02, 0x08, 0x10,             // CheckResponse.status: code 16 (UNAUTHENTICATED)
    0x12, 0x27,                         // .denied_response, 39 bytes
      0x0a, 0x03, 0x08, 0x91, 0x03,     // DeniedHttpResponse.status: HttpStatus.code = 401
      0x12, 0x1c,                       // .headers (HeaderValueOption), 28 bytes
        0x0a, 0x1a,                     // HeaderValueOption.header, 26 bytes
          0x0a, 0x10, b'w', b'w', b'w', b'-', b'a', b'u', b't', b'h', b'e', b'n', b't', b'i',
                      b'c', b'a', b't', b'e',               // .key
          0x12, 0x06, b'B', b'e', b'a', b'r', b'e', b'r', // .value
      0x1a, 0x02, b'n', b'o',           // .body
];

fn allow_response() -> CheckResponse {
    CheckResponse {
        code: 0,
        message: String::new(),
        http: Some(HttpResponse::Ok(OkHttpResponse {
            headers: vec![("x-user".into(), "alice".into())],
            headers_to_remove: vec!["authorization".into()],
        })),
    }
}

fn deny_response() -> CheckResponse {
    CheckResponse {
        code: 16,
        message: String::new(),
        http: Some(HttpResponse::Denied(DeniedHttpResponse {
            status: Some(401),
            headers: vec![("www-authenticate".into(), "Bearer".into())],
            body: "no".into(),
        })),
    }
}

#[test]
fn check_responses_encode_to_the_expected_bytes() {
    assert_eq!(allow_response().encode(), ALLOW_BYTES);
    assert_eq!(deny_response().encode(), DENY_BYTES);
}

#[test]
fn check_responses_decode_from_the_expected_bytes() {
    assert_eq!(
        CheckResponse::decode(ALLOW_BYTES).unwrap(),
        allow_response()
    );
    assert_eq!(CheckResponse::decode(DENY_BYTES).unwrap(), deny_response());
    assert_eq!(
        CheckResponse::decode(&[]).unwrap(),
        CheckResponse::default()
    );
}

#[test]
fn check_response_decoding_skips_what_it_does_not_use() {
    #[rustfmt::skip]
    let bytes = [
        0x22, 0x02, 0x0a, 0x00,         // dynamic_metadata (Struct), ignored
        0x0a, 0x07, 0x08, 0x07, 0x12, 0x03, b'n', b'o', b'p', // status 7, message "nop"
        0x2a, 0x0d,                     // error_response, 13 bytes
          0x12, 0x0b, 0x0a, 0x09,       // .headers → .header, 9 bytes
            0x0a, 0x01, b'k',           // HeaderValue.key
            0x1a, 0x02, 0xc3, 0xa9,     // HeaderValue.raw_value (bytes) instead of value
            0x20, 0x01,                 // a field from the future, ignored
        0x7d, 0x01, 0x02, 0x03, 0x04,   // fixed32 field 15, ignored
    ];
    let decoded = CheckResponse::decode(&bytes).unwrap();
    assert_eq!(decoded.code, 7);
    assert_eq!(decoded.message, "nop");
    assert_eq!(
        decoded.http,
        Some(HttpResponse::Error(DeniedHttpResponse {
            status: None,
            headers: vec![("k".into(), "\u{e9}".into())],
            body: String::new(),
        }))
    );
}

#[test]
fn gateway_requests_carry_what_envoy_sends() {
    let mut headers = HeaderMap::new();
    headers.append("accept", "a".parse().unwrap());
    headers.append("accept", "b".parse().unwrap());
    headers.append("cookie", "x=1".parse().unwrap());
    headers.append("cookie", "y=2".parse().unwrap());
    headers.append("x-request-id", "req-1".parse().unwrap());
    headers.append("content-length", "12".parse().unwrap());
    headers.append("x-bin", http::HeaderValue::from_bytes(b"a\xffb").unwrap());
    let request = AuthzRequest {
        method: "POST",
        path: "/v1/chat?stream=1",
        host: "gw.example",
        scheme: "https",
        headers: &headers,
        source_ip: "2001:db8::1".parse().unwrap(),
        source_port: 40000,
        protocol: "HTTP/1.1",
    };
    let built = check_request(&request);
    assert_eq!(built.source, Some((Cow::Borrowed("2001:db8::1"), 40000)));
    assert_eq!(built.http.id, "req-1");
    assert_eq!(built.http.size, 12);
    let sent: Vec<(&str, &str)> = built
        .http
        .headers
        .iter()
        .map(|(k, v)| (&**k, &**v))
        .collect();
    assert_eq!(
        sent,
        [
            (":authority", "gw.example"),
            (":method", "POST"),
            (":path", "/v1/chat?stream=1"),
            (":scheme", "https"),
            ("accept", "a,b"),
            ("cookie", "x=1; y=2"),
            ("x-request-id", "req-1"),
            ("content-length", "12"),
            ("x-bin", "a!b"),
        ]
    );
    let mut without_length = headers.clone();
    without_length.remove("content-length");
    let request = AuthzRequest {
        headers: &without_length,
        ..request
    };
    assert_eq!(check_request(&request).http.size, -1);
}

#[test]
fn verdicts_follow_the_status() {
    assert_eq!(
        verdict(allow_response()),
        AuthzVerdict::Allow {
            headers_to_set: vec![("x-user".into(), "alice".into())],
            headers_to_remove: vec!["authorization".into()],
        }
    );
    assert_eq!(
        verdict(deny_response()),
        AuthzVerdict::Deny {
            status: 401,
            headers: vec![("www-authenticate".into(), "Bearer".into())],
            body: "no".into(),
        }
    );
    // OK without an ok_response allows unchanged, even when a denial is attached.
    let mut ok_with_denial = deny_response();
    ok_with_denial.code = 0;
    assert_eq!(
        verdict(ok_with_denial),
        AuthzVerdict::Allow {
            headers_to_set: vec![],
            headers_to_remove: vec![]
        }
    );
    // A bare non-OK status denies with Envoy's default 403.
    let bare = CheckResponse {
        code: 7,
        ..Default::default()
    };
    assert_eq!(
        verdict(bare),
        AuthzVerdict::Deny {
            status: 403,
            headers: vec![],
            body: String::new()
        }
    );
    // Invalid statuses fall back to 403 as well.
    for code in [100, 600, 70_000] {
        let mut odd = deny_response();
        if let Some(HttpResponse::Denied(d)) = &mut odd.http {
            d.status = Some(code);
        }
        assert!(
            matches!(verdict(odd), AuthzVerdict::Deny { status: 403, .. }),
            "{code}"
        );
    }
}

#[test]
fn allow_verdicts_lower_case_names_and_skip_unremovable_headers() {
    let response = CheckResponse {
        http: Some(HttpResponse::Ok(OkHttpResponse {
            headers: vec![("X-User".into(), "Alice".into())],
            headers_to_remove: vec![":path".into(), "Host".into(), "Authorization".into()],
        })),
        ..Default::default()
    };
    assert_eq!(
        verdict(response),
        AuthzVerdict::Allow {
            headers_to_set: vec![("x-user".into(), "Alice".into())],
            headers_to_remove: vec!["authorization".into()],
        }
    );
}
