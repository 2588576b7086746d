//! The HTTP-mode ext_authz client against the test HTTP authorization service, over real
//! HTTP/1.1 connections.

// Tests: a failed unwrap is a failed test, with the message that explains it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use envoy_grpc::testing::HttpAuthzServer;
use envoy_grpc::{AuthzRequest, AuthzVerdict, HttpAuthzClient, HttpAuthzError};
use http::{HeaderMap, HeaderName};

const TIMEOUT: Duration = Duration::from_secs(5);

fn client(addr: SocketAddr, prefix: &str, allowed: &[&str], upstream: &[&str]) -> HttpAuthzClient {
    let names = |list: &[&str]| {
        list.iter()
            .map(|n| HeaderName::try_from(*n).unwrap())
            .collect()
    };
    HttpAuthzClient::new(
        addr,
        prefix.to_owned(),
        names(allowed),
        names(upstream),
        TIMEOUT,
    )
    .unwrap()
}

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, value.parse().unwrap());
    }
    map
}

fn request<'a>(method: &'a str, path: &'a str, headers: &'a HeaderMap) -> AuthzRequest<'a> {
    AuthzRequest {
        method,
        path,
        host: "gw.example",
        scheme: "http",
        headers,
        source_ip: "192.0.2.7".parse().unwrap(),
        source_port: 51000,
        protocol: "HTTP/1.1",
    }
}

fn answer(
    status: u16,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Vec<(String, String)>, String) {
    let headers = headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

#[tokio::test]
async fn allow_copies_only_the_allowed_upstream_headers() {
    let server = HttpAuthzServer::start(|parts| {
        if parts
            .headers
            .get("authorization")
            .is_some_and(|v| v == "Bearer good")
        {
            answer(
                200,
                &[
                    ("x-user", "alice"),
                    ("x-groups", "admin"),
                    ("x-groups", "dev"),
                    ("x-internal-debug", "secret"),
                    ("set-cookie", "s=1"),
                ],
                "ok",
            )
        } else {
            answer(401, &[], "")
        }
    })
    .await;
    let client = client(server.addr(), "", &[], &["X-User", "x-groups", "x-tenant"]);
    let sent = headers(&[("authorization", "Bearer good")]);

    let verdict = client.check(&request("GET", "/", &sent)).await.unwrap();
    assert_eq!(
        verdict,
        AuthzVerdict::Allow {
            headers_to_set: vec![
                ("x-user".into(), "alice".into()),
                ("x-groups".into(), "admin, dev".into()),
            ],
            headers_to_remove: vec![],
        }
    );
}

#[tokio::test]
async fn deny_passes_status_headers_and_body() {
    let server = HttpAuthzServer::start(|parts| match parts.uri.path() {
        "/login-first" => answer(
            302,
            &[
                ("location", "https://idp.example/login"),
                ("set-cookie", "csrf=1; HttpOnly"),
                ("set-cookie", "state=2; HttpOnly"),
                ("connection", "x-hop"),
                ("x-hop", "1"),
            ],
            "",
        ),
        _ => answer(
            401,
            &[
                ("www-authenticate", "Bearer realm=\"gw\""),
                ("content-type", "text/plain"),
            ],
            "missing token",
        ),
    })
    .await;
    let client = client(server.addr(), "", &[], &[]);
    let sent = headers(&[]);
    // hyper's server adds a Date; it passes like any other header.
    let without_date = |verdict: AuthzVerdict| match verdict {
        AuthzVerdict::Deny {
            status,
            headers,
            body,
        } => AuthzVerdict::Deny {
            status,
            headers: headers.into_iter().filter(|(n, _)| n != "date").collect(),
            body,
        },
        other => panic!("expected a denial, got {other:?}"),
    };

    let verdict = client.check(&request("GET", "/", &sent)).await.unwrap();
    assert_eq!(
        without_date(verdict),
        AuthzVerdict::Deny {
            status: 401,
            headers: vec![
                ("www-authenticate".into(), "Bearer realm=\"gw\"".into()),
                ("content-type".into(), "text/plain".into()),
            ],
            body: "missing token".into(),
        }
    );

    let verdict = client
        .check(&request("GET", "/login-first", &sent))
        .await
        .unwrap();
    assert_eq!(
        without_date(verdict),
        AuthzVerdict::Deny {
            status: 302,
            headers: vec![
                ("location".into(), "https://idp.example/login".into()),
                ("set-cookie".into(), "csrf=1; HttpOnly".into()),
                ("set-cookie".into(), "state=2; HttpOnly".into()),
            ],
            body: String::new(),
        }
    );
}

#[tokio::test]
async fn only_allowed_client_headers_are_sent() {
    let server = HttpAuthzServer::start(|_| answer(200, &[], "")).await;
    let client = client(server.addr(), "", &["x-api-key"], &[]);
    let sent = headers(&[
        ("authorization", "Bearer t"),
        ("cookie", "a=1"),
        ("cookie", "b=2"),
        ("x-request-id", "req-42"),
        ("x-forwarded-for", "198.51.100.1"),
        ("x-api-key", "k1"),
        ("accept", "application/json"),
        ("user-agent", "curl/8"),
        ("content-type", "application/json"),
        ("content-length", "17"),
    ]);
    client.check(&request("POST", "/", &sent)).await.unwrap();

    let seen = server.requests();
    assert_eq!(seen.len(), 1);
    let seen = &seen[0];
    let mut names: Vec<&str> = seen.parts.headers.keys().map(|n| n.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "authorization",
            "content-length",
            "cookie",
            "host",
            "x-api-key",
            "x-forwarded-for",
            "x-request-id"
        ]
    );
    assert_eq!(seen.header("authorization"), Some("Bearer t"));
    assert_eq!(seen.header_all("cookie"), ["a=1; b=2"]);
    assert_eq!(seen.header("x-request-id"), Some("req-42"));
    assert_eq!(
        seen.header("x-forwarded-for"),
        Some("198.51.100.1, 192.0.2.7")
    );
    assert_eq!(seen.header("x-api-key"), Some("k1"));
    assert_eq!(seen.header("host"), Some("gw.example"));
    assert_eq!(seen.header("content-length"), Some("0"));
    assert!(seen.body.is_empty());
    assert_eq!(seen.parts.version, http::Version::HTTP_11);
}

#[tokio::test]
async fn the_path_prefix_and_query_are_kept() {
    let server = HttpAuthzServer::start(|_| answer(200, &[], "")).await;
    let sent = headers(&[]);
    client(server.addr(), "/authz", &[], &[])
        .check(&request("GET", "/v1/chat?model=a&q=%20x", &sent))
        .await
        .unwrap();
    client(server.addr(), "", &[], &[])
        .check(&request("GET", "/plain?k=v", &sent))
        .await
        .unwrap();
    let targets: Vec<String> = server
        .requests()
        .iter()
        .map(|r| r.target().to_owned())
        .collect();
    assert_eq!(targets, ["/authz/v1/chat?model=a&q=%20x", "/plain?k=v"]);
}

#[tokio::test]
async fn the_method_is_kept_and_the_connection_reused() {
    let server = HttpAuthzServer::start(|_| answer(200, &[], "")).await;
    let client = client(server.addr(), "", &[], &[]);
    let sent = headers(&[]);
    let methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"];
    for method in methods {
        let verdict = client.check(&request(method, "/", &sent)).await.unwrap();
        assert!(matches!(verdict, AuthzVerdict::Allow { .. }), "{method}");
    }
    let seen = server.requests();
    let seen_methods: Vec<&str> = seen.iter().map(|r| r.parts.method.as_str()).collect();
    assert_eq!(seen_methods, methods);
    // Sequential checks share one pooled keep-alive connection.
    assert!(seen.iter().all(|r| r.peer == seen[0].peer), "{seen:?}");
}

#[tokio::test]
async fn a_success_other_than_200_denies_as_in_envoy() {
    let server = HttpAuthzServer::start(|_| answer(202, &[("x-user", "alice")], "")).await;
    let sent = headers(&[]);
    let verdict = client(server.addr(), "", &[], &["x-user"])
        .check(&request("GET", "/", &sent))
        .await
        .unwrap();
    assert!(
        matches!(verdict, AuthzVerdict::Deny { status: 202, .. }),
        "{verdict:?}"
    );
}

#[tokio::test]
async fn a_server_error_is_an_error_not_a_denial() {
    let server =
        HttpAuthzServer::start(|_| answer(503, &[("retry-after", "1")], "policy store down")).await;
    let sent = headers(&[]);
    let err = client(server.addr(), "", &[], &[])
        .check(&request("GET", "/", &sent))
        .await
        .unwrap_err();
    assert!(
        matches!(err, HttpAuthzError::ServerError { status: 503, .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("503") && !text.contains("policy store"),
        "{text}"
    );
}

#[tokio::test]
async fn a_silent_service_times_out() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let client = HttpAuthzClient::new(
        addr,
        String::new(),
        vec![],
        vec![],
        Duration::from_millis(200),
    )
    .unwrap();
    let sent = headers(&[]);
    let started = Instant::now();
    let err = client.check(&request("GET", "/", &sent)).await.unwrap_err();
    assert!(matches!(err, HttpAuthzError::Timeout { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
    holder.abort();
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error() {
    // A port that was just free: nothing listens there any more.
    let addr = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let sent = headers(&[]);
    let err = client(addr, "", &[], &[])
        .check(&request("GET", "/", &sent))
        .await
        .unwrap_err();
    assert!(matches!(err, HttpAuthzError::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}
