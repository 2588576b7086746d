// Tests: a failed unwrap is a failed test, with the message that explains it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

const TIMEOUT: Duration = Duration::from_secs(1);

fn names(list: &[&'static str]) -> Vec<HeaderName> {
    list.iter().map(|n| HeaderName::from_static(n)).collect()
}

fn client(prefix: &str, allowed: &[&'static str], upstream: &[&'static str]) -> HttpAuthzClient {
    HttpAuthzClient::new(
        "authz.internal:8080",
        prefix.to_owned(),
        names(allowed),
        names(upstream),
        TIMEOUT,
    )
    .unwrap()
}

fn header_map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, HeaderValue::from_static(value));
    }
    map
}

fn request<'a>(method: &'a str, path: &'a str, headers: &'a HeaderMap) -> AuthzRequest<'a> {
    AuthzRequest {
        method,
        path,
        host: "gw.example",
        scheme: "https",
        headers,
        source_ip: "192.0.2.7".parse().unwrap(),
        source_port: 51000,
        protocol: "HTTP/2",
    }
}

fn values<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect()
}

#[test]
fn configuration_is_validated() {
    let new = |address: &str, prefix: &str, timeout| {
        HttpAuthzClient::new(address, prefix.to_owned(), vec![], vec![], timeout)
    };
    assert!(new("127.0.0.1:9000", "", TIMEOUT).is_ok());
    assert!(new("authz.internal:9000", "/auth/check", TIMEOUT).is_ok());
    for bad in ["authz.internal", "http://x:1", "a b:1", "user@host:1"] {
        assert!(
            matches!(
                new(bad, "", TIMEOUT),
                Err(HttpAuthzError::InvalidAddress { .. })
            ),
            "{bad}"
        );
    }
    for bad in ["auth", "/auth?x=1", "/auth#top", "/a b"] {
        assert!(
            matches!(
                new("127.0.0.1:9000", bad, TIMEOUT),
                Err(HttpAuthzError::InvalidPathPrefix { .. })
            ),
            "{bad}"
        );
    }
    assert!(matches!(
        new("127.0.0.1:9000", "", Duration::ZERO),
        Err(HttpAuthzError::InvalidTimeout)
    ));
}

#[test]
fn allowed_headers_extend_the_defaults_once_and_skip_what_the_client_sets() {
    let client = client(
        "",
        &[
            "x-api-key",
            "cookie",
            "host",
            "content-length",
            "transfer-encoding",
            "x-api-key",
        ],
        &[],
    );
    let allowed: Vec<&str> = client
        .allowed_headers()
        .iter()
        .map(|n| n.as_str())
        .collect();
    assert_eq!(
        allowed,
        [
            "authorization",
            "cookie",
            "x-forwarded-for",
            "x-request-id",
            "x-api-key"
        ]
    );
}

#[test]
fn the_request_keeps_method_host_and_prefixed_target_without_a_body() {
    let sent = header_map(&[]);
    let built = client("/authz", &[], &[])
        .authz_request(&request("DELETE", "/v1/items/7?force=1", &sent))
        .unwrap();
    assert_eq!(built.method(), Method::DELETE);
    assert_eq!(
        built.uri().to_string(),
        "http://authz.internal:8080/authz/v1/items/7?force=1"
    );
    assert_eq!(values(built.headers(), "host"), ["gw.example"]);
    assert_eq!(values(built.headers(), "content-length"), ["0"]);
    // Only the length and the host: no allowed header was present, and the client
    // address is still reported.
    assert_eq!(values(built.headers(), "x-forwarded-for"), ["192.0.2.7"]);
    assert_eq!(built.headers().len(), 3);
}

#[test]
fn only_allowed_client_headers_are_copied() {
    let sent = header_map(&[
        ("authorization", "Bearer t"),
        ("cookie", "a=1"),
        ("cookie", "b=2"),
        ("x-forwarded-for", "198.51.100.1"),
        ("x-request-id", "req-1"),
        ("x-api-key", "k1"),
        ("x-api-key", "k2"),
        ("accept", "text/plain"),
        ("content-length", "42"),
        ("transfer-encoding", "chunked"),
        ("host", "spoofed.example"),
    ]);
    let built = client("", &["x-api-key", "content-length", "host"], &[])
        .authz_request(&request("POST", "/", &sent))
        .unwrap();
    let headers = built.headers();
    assert_eq!(values(headers, "authorization"), ["Bearer t"]);
    assert_eq!(values(headers, "cookie"), ["a=1; b=2"]);
    assert_eq!(
        values(headers, "x-forwarded-for"),
        ["198.51.100.1, 192.0.2.7"]
    );
    assert_eq!(values(headers, "x-request-id"), ["req-1"]);
    assert_eq!(values(headers, "x-api-key"), ["k1", "k2"]);
    assert_eq!(values(headers, "content-length"), ["0"]);
    // The Host comes from the request's host field, not from the header map.
    assert_eq!(values(headers, "host"), ["gw.example"]);
    assert!(headers.get("accept").is_none());
    assert!(headers.get("transfer-encoding").is_none());
}

#[test]
fn a_configured_host_replaces_the_clients() {
    let sent = header_map(&[]);
    let built = client("", &[], &[])
        .with_host(HeaderValue::from_static("authz.internal"))
        .authz_request(&request("GET", "/", &sent))
        .unwrap();
    assert_eq!(values(built.headers(), "host"), ["authz.internal"]);

    // Without any host, hyper fills in the service address.
    let mut hostless = request("GET", "/", &sent);
    hostless.host = "";
    let built = client("", &[], &[]).authz_request(&hostless).unwrap();
    assert!(built.headers().get("host").is_none());
}

#[test]
fn unusable_requests_are_errors() {
    let sent = header_map(&[]);
    let client = client("", &[], &[]);
    for (method, path) in [
        ("CONNECT", "/"),
        ("GE T", "/"),
        ("GET", "no-slash"),
        ("GET", "/a b"),
    ] {
        assert!(
            matches!(
                client.authz_request(&request(method, path, &sent)),
                Err(HttpAuthzError::InvalidRequest(_))
            ),
            "{method} {path}"
        );
    }
}

#[test]
fn upstream_headers_are_the_allowed_ones_joined() {
    let client = client(
        "",
        &[],
        &["x-user", "x-groups", "content-length", "x-absent"],
    );
    let answer = header_map(&[
        ("x-groups", "admin"),
        ("x-user", "alice"),
        ("x-groups", "dev"),
        ("x-other", "no"),
        ("content-length", "0"),
    ]);
    assert_eq!(
        client.upstream_headers(&answer),
        [
            ("x-user".to_owned(), "alice".to_owned()),
            ("x-groups".to_owned(), "admin, dev".to_owned()),
        ]
    );
}

#[test]
fn denial_headers_drop_framing_and_connection_headers() {
    let answer = header_map(&[
        ("www-authenticate", "Bearer"),
        ("set-cookie", "a=1"),
        ("set-cookie", "b=2"),
        ("content-length", "12"),
        ("connection", "keep-alive, x-hop"),
        ("keep-alive", "timeout=5"),
        ("x-hop", "1"),
        ("transfer-encoding", "chunked"),
    ]);
    assert_eq!(
        client_headers(&answer),
        [
            ("www-authenticate".to_owned(), "Bearer".to_owned()),
            ("set-cookie".to_owned(), "a=1".to_owned()),
            ("set-cookie".to_owned(), "b=2".to_owned()),
        ]
    );
}
