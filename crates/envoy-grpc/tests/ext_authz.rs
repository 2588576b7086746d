//! The ext_authz client against the test Authorization service, over real h2c connections.

// Tests: a failed unwrap is a failed test, with the message that explains it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::Duration;

use envoy_grpc::testing::{AuthzServer, Verdict};
use envoy_grpc::{AuthzRequest, AuthzVerdict, ExtAuthzClient, GrpcChannel, GrpcError};
use http::HeaderMap;

const TIMEOUT: Duration = Duration::from_secs(5);

fn client(addr: SocketAddr, timeout: Duration) -> ExtAuthzClient {
    ExtAuthzClient::new(GrpcChannel::new(addr, timeout).unwrap())
}

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, value.parse().unwrap());
    }
    map
}

fn request<'a>(path: &'a str, headers: &'a HeaderMap) -> AuthzRequest<'a> {
    AuthzRequest {
        method: "POST",
        path,
        host: "gw.example",
        scheme: "http",
        headers,
        source_ip: "192.0.2.7".parse().unwrap(),
        source_port: 51000,
        protocol: "HTTP/1.1",
    }
}

#[tokio::test]
async fn allow_adds_headers_and_the_service_sees_the_request() {
    let server = AuthzServer::start(|req| {
        if req.header("authorization") == Some("Bearer good") {
            Verdict::Allow {
                headers_to_set: vec![("X-User".into(), "alice".into())],
                headers_to_remove: vec!["authorization".into()],
            }
        } else {
            Verdict::deny(401, &[], "")
        }
    })
    .await;
    let client = client(server.addr(), TIMEOUT);
    let sent = headers(&[
        ("authorization", "Bearer good"),
        ("accept", "text/plain"),
        ("accept", "application/json"),
        ("x-request-id", "req-42"),
    ]);

    let verdict = client
        .check(&request("/v1/chat?model=a", &sent))
        .await
        .unwrap();
    assert_eq!(
        verdict,
        AuthzVerdict::Allow {
            headers_to_set: vec![("x-user".into(), "alice".into())],
            headers_to_remove: vec!["authorization".into()],
        }
    );

    let seen = server.requests();
    assert_eq!(seen.len(), 1);
    let seen = &seen[0];
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.path, "/v1/chat?model=a");
    assert_eq!(seen.host, "gw.example");
    assert_eq!(seen.scheme, "http");
    assert_eq!(seen.protocol, "HTTP/1.1");
    assert_eq!(seen.id, "req-42");
    assert_eq!(seen.size, -1);
    assert_eq!(seen.source, Some("192.0.2.7:51000".parse().unwrap()));
    assert_eq!(seen.header("accept"), Some("text/plain,application/json"));
    assert_eq!(seen.header(":authority"), Some("gw.example"));
    assert_eq!(seen.header(":method"), Some("POST"));
    assert_eq!(seen.header(":path"), Some("/v1/chat?model=a"));
}

#[tokio::test]
async fn deny_carries_status_headers_and_body() {
    let server = AuthzServer::start(|_| {
        Verdict::deny(
            401,
            &[("www-authenticate", "Bearer realm=\"gw\"")],
            "missing token",
        )
    })
    .await;
    let sent = headers(&[]);
    let verdict = client(server.addr(), TIMEOUT)
        .check(&request("/", &sent))
        .await
        .unwrap();
    assert_eq!(
        verdict,
        AuthzVerdict::Deny {
            status: 401,
            headers: vec![("www-authenticate".into(), "Bearer realm=\"gw\"".into())],
            body: "missing token".into(),
        }
    );
}

#[tokio::test]
async fn deny_without_a_status_is_403() {
    let server = AuthzServer::start(|_| Verdict::Deny {
        status: None,
        headers: vec![],
        body: String::new(),
    })
    .await;
    let sent = headers(&[]);
    let verdict = client(server.addr(), TIMEOUT)
        .check(&request("/", &sent))
        .await
        .unwrap();
    assert!(
        matches!(verdict, AuthzVerdict::Deny { status: 403, .. }),
        "{verdict:?}"
    );
}

#[tokio::test]
async fn trailers_only_failure_names_status_and_message() {
    let server = AuthzServer::start(|_| Verdict::Fail {
        code: 14,
        message: "policy engine down: 100% busy".into(),
    })
    .await;
    let sent = headers(&[]);
    let err = client(server.addr(), TIMEOUT)
        .check(&request("/", &sent))
        .await
        .unwrap_err();
    match &err {
        GrpcError::Status { code, message } => {
            assert_eq!(*code, 14);
            assert_eq!(message, "policy engine down: 100% busy");
        }
        other => panic!("expected a gRPC status, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains("grpc-status 14 (UNAVAILABLE)"), "{text}");
    assert!(text.contains("policy engine down: 100% busy"), "{text}");
}

#[tokio::test]
async fn unknown_method_is_unimplemented() {
    let server = AuthzServer::start(|_| Verdict::allow()).await;
    let channel = GrpcChannel::new(server.addr(), TIMEOUT).unwrap();
    let err = channel
        .unary(
            "/envoy.service.auth.v3.Authorization/Nope",
            Default::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, GrpcError::Status { code: 12, .. }), "{err:?}");
}

#[tokio::test]
async fn server_down_is_a_connect_error() {
    // A port that was just free: nothing listens there any more.
    let addr = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let sent = headers(&[]);
    let err = client(addr, TIMEOUT)
        .check(&request("/", &sent))
        .await
        .unwrap_err();
    assert!(matches!(err, GrpcError::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

#[tokio::test]
async fn slow_service_times_out_and_the_channel_recovers() {
    let server = AuthzServer::start(|req| {
        if req.path == "/slow" {
            Verdict::Delay {
                delay: Duration::from_secs(2),
                then: Box::new(Verdict::allow()),
            }
        } else {
            Verdict::allow()
        }
    })
    .await;
    let client = client(server.addr(), Duration::from_millis(200));
    let sent = headers(&[]);

    let started = std::time::Instant::now();
    let err = client.check(&request("/slow", &sent)).await.unwrap_err();
    assert!(matches!(err, GrpcError::Timeout { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    // The timed-out call is abandoned; the shared connection still serves the next one.
    let verdict = client.check(&request("/fast", &sent)).await.unwrap();
    assert!(matches!(verdict, AuthzVerdict::Allow { .. }));
}

#[tokio::test]
async fn concurrent_checks_share_one_client() {
    let server = AuthzServer::start(|req| Verdict::allow_with(&[("x-path", &req.path)])).await;
    let client = client(server.addr(), TIMEOUT);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let client = client.clone();
        tasks.spawn(async move {
            let sent = HeaderMap::new();
            let path = format!("/r/{i}");
            let verdict = client.check(&request(&path, &sent)).await.unwrap();
            assert_eq!(
                verdict,
                AuthzVerdict::Allow {
                    headers_to_set: vec![("x-path".into(), path.clone())],
                    headers_to_remove: vec![],
                }
            );
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    assert_eq!(server.requests().len(), 20);
}
