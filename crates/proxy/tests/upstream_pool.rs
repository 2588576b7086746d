//! Upstream connection handling: reuse, backends that close idle connections, HTTP/2 by ALPN.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{gateway, route_to, start};
use test_support::certs::{TestCa, indent};
use test_support::client::get;
use test_support::free_port;
use test_support::upstream::Upstream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A raw HTTP/1.1 server that answers one request per connection and then closes it
/// without saying so (no `Connection: close`), as servers with short keep-alive do.
async fn one_shot_server() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await;
                tokio::time::sleep(Duration::from_millis(20)).await;
                drop(stream);
            });
        }
    });
    (port, connections)
}

#[tokio::test]
async fn backends_closing_idle_connections_do_not_fail_requests() {
    let (upstream, connections) = one_shot_server().await;
    let port = free_port();
    let _gw = start(&(gateway(port) + &common::backend("up", upstream) + &route_to("up"))).await;
    for _ in 0..5 {
        let r = get(&format!("http://127.0.0.1:{port}/")).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.text(), "ok");
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    assert_eq!(
        connections.load(Ordering::SeqCst),
        5,
        "a closed connection is never reused"
    );
}

#[tokio::test]
async fn keep_alive_connections_are_reused() {
    let up = Upstream::start("up").await;
    let port = free_port();
    let _gw = start(&(gateway(port) + &common::backend("up", up.port()) + &route_to("up"))).await;
    for _ in 0..20 {
        assert_eq!(get(&format!("http://127.0.0.1:{port}/")).await.status, 200);
    }
    assert_eq!(up.seen().len(), 20);
    assert_eq!(
        up.connections(),
        1,
        "sequential requests share one upstream connection"
    );
}

#[tokio::test]
async fn http2_is_negotiated_by_alpn_over_tls() {
    let ca = TestCa::new();
    let up = Upstream::start_tls("secure", &ca.issue(&["backend.internal"])).await;
    let port = free_port();
    let yaml = gateway(port)
        + &format!(
            "---
apiVersion: v1
kind: Secret
metadata: {{name: ca}}
stringData:
  ca.crt: |
{}---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {{name: up}}
spec:
  static: {{host: 127.0.0.1, port: {}}}
  policies:
    tls: {{caCertificateRefs: [{{name: ca}}], sni: backend.internal}}
    http: {{version: HTTP2}}
",
            indent(&ca.pem(), 4),
            up.port()
        )
        + &route_to("up");
    let _gw = start(&yaml).await;
    for _ in 0..3 {
        let r = get(&format!("http://127.0.0.1:{port}/x")).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    assert!(up.seen().iter().all(|s| s.version == http::Version::HTTP_2));
}

#[tokio::test]
async fn large_and_streamed_bodies_pass_and_the_connection_is_reused_after_them() {
    let up = Upstream::start("up").await;
    let port = free_port();
    let _gw = start(&(gateway(port) + &common::backend("up", up.port()) + &route_to("up"))).await;
    let payload = "x".repeat(3 * 1024 * 1024);
    for _ in 0..3 {
        let request = http::Request::post(format!("http://127.0.0.1:{port}/upload"))
            .body(http_body_util::Full::new(bytes::Bytes::from(
                payload.clone(),
            )))
            .unwrap();
        let r = test_support::client::send(request).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["body"].as_str().map(str::len), Some(payload.len()));
    }
    for _ in 0..2 {
        let r = get(&format!("http://127.0.0.1:{port}/stream/5")).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.text().lines().count(), 5, "{}", r.text());
    }
    assert_eq!(up.seen().len(), 5);
    assert_eq!(
        up.connections(),
        1,
        "one upstream connection carried every exchange, streamed ones included"
    );
}
