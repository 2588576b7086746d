//! Every failure answers clearly, as JSON, with the right status.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{backend, backend_ref, gateway, route, route_to, start};
use http_body_util::BodyExt;
use test_support::client::{get, http1};
use test_support::free_port;
use test_support::upstream::Upstream;

fn static_backend(name: &str, host: &str, port: u16, extra: &str) -> String {
    format!(
        "---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {{name: {name}}}
spec:
  static: {{host: {host}, port: {port}}}
{extra}"
    )
}

#[tokio::test]
async fn dns_failure_is_503_naming_backend_host_and_hint() {
    let port = free_port();
    let yaml = gateway(port)
        + &static_backend("ollama", "ollama.invalid", 11434, "")
        + &route_to("ollama");
    let gw = start(&yaml).await;
    let r = get(&format!("http://127.0.0.1:{port}/v1/models")).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.headers["content-type"], "application/json");
    let message = r.json()["error"]["message"].as_str().unwrap().to_string();
    for needle in ["default/ollama", "ollama.invalid", "DNS", "host.internal"] {
        assert!(
            message.contains(needle),
            "'{needle}' missing from: {message}"
        );
    }
    assert_eq!(r.json()["error"]["type"], "dns_failure");
    let metrics = gw.shared().metrics.render();
    assert!(
        metrics.contains(
            r#"agentgateway_upstream_connect_errors_total{backend="default/ollama",reason="dns"} 1"#
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn connection_refused_is_503() {
    let (port, dead) = (free_port(), free_port());
    let yaml = gateway(port) + &backend("dead", dead) + &route_to("dead");
    let _gw = start(&yaml).await;
    let r = get(&format!("http://127.0.0.1:{port}/")).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["error"]["type"], "connection_refused");
    assert!(r.text().contains(&format!("127.0.0.1:{dead}")));
}

#[tokio::test]
async fn slow_upstream_is_504_after_the_backend_request_timeout() {
    let up = Upstream::start("slow").await;
    let port = free_port();
    let rules = format!(
        "  - backendRefs: [{}]\n    timeouts: {{request: 2s, backendRequest: 100ms}}\n",
        backend_ref("slow")
    );
    let _gw = start(&(gateway(port) + &backend("slow", up.port()) + &route("r", &rules))).await;
    let r = get(&format!("http://127.0.0.1:{port}/delay/3000")).await;
    assert_eq!(r.status, 504);
    assert_eq!(r.json()["error"]["type"], "upstream_timeout");
    assert_eq!(
        get(&format!("http://127.0.0.1:{port}/delay/0"))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn route_request_timeout_is_504() {
    let up = Upstream::start("slow").await;
    let port = free_port();
    let rules = format!(
        "  - backendRefs: [{}]\n    timeouts: {{request: 100ms}}\n",
        backend_ref("slow")
    );
    let _gw = start(&(gateway(port) + &backend("slow", up.port()) + &route("r", &rules))).await;
    let r = get(&format!("http://127.0.0.1:{port}/delay/3000")).await;
    assert_eq!(r.status, 504);
    assert_eq!(r.json()["error"]["type"], "request_timeout");
}

#[tokio::test]
async fn upstream_reset_mid_body_aborts_the_client_stream() {
    let up = Upstream::start("flaky").await;
    let port = free_port();
    let _gw = start(&(gateway(port) + &backend("flaky", up.port()) + &route_to("flaky"))).await;
    let response = http1()
        .request(
            http::Request::get(format!("http://127.0.0.1:{port}/reset"))
                .body(Default::default())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "headers were already sent");
    let read = tokio::time::timeout(Duration::from_secs(5), response.into_body().collect())
        .await
        .expect("the stream must end, not hang");
    assert!(
        read.is_err(),
        "the client must see the stream abort, not a clean end"
    );
}

#[tokio::test]
async fn streaming_bodies_pass_through_chunk_by_chunk() {
    let up = Upstream::start("stream").await;
    let port = free_port();
    let _gw = start(&(gateway(port) + &backend("stream", up.port()) + &route_to("stream"))).await;
    let response = http1()
        .request(
            http::Request::get(format!("http://127.0.0.1:{port}/stream/5"))
                .body(Default::default())
                .unwrap(),
        )
        .await
        .unwrap();
    let mut body = response.into_body();
    // The first chunk arrives on its own, long before the upstream has produced the rest.
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(&first[..], b"chunk 0\n");
    let rest = body.collect().await.unwrap().to_bytes();
    assert_eq!(&rest[..], b"chunk 1\nchunk 2\nchunk 3\nchunk 4\n");
}

#[tokio::test]
async fn unknown_host_on_a_hostname_listener_is_404() {
    let port = free_port();
    let yaml = format!(
        "apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: gw}}
spec:
  gatewayClassName: agentgateway
  listeners:
  - {{name: api, port: {port}, protocol: HTTP, hostname: api.example.com}}
"
    );
    let _gw = start(&yaml).await;
    let r = get(&format!("http://127.0.0.1:{port}/")).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["type"], "listener_not_found");
}

#[tokio::test]
async fn a_request_the_client_abandons_is_still_counted_as_499() {
    let up = Upstream::start("slow").await;
    let port = free_port();
    let yaml = gateway(port) + &backend("slow", up.port()) + &route_to("slow");
    let gw = start(&yaml).await;
    // An HTTP/2 client gives up on its request: the stream is reset before any answer.
    let request = http::Request::get(format!("http://127.0.0.1:{port}/delay/2000"))
        .body(Default::default())
        .unwrap();
    let client = test_support::client::h2c();
    let abandoned = tokio::time::timeout(
        std::time::Duration::from_millis(200),
        client.request(request),
    )
    .await;
    assert!(abandoned.is_err(), "the answer takes 2 s");
    let mut metrics = String::new();
    for _ in 0..50 {
        metrics = gw.shared().metrics.render();
        if metrics.contains(r#"status="499""#) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        metrics.contains(r#"route="default/r",backend="default/slow",status="499"} 1"#),
        "{metrics}"
    );
}

/// Sends `raw` on a fresh connection and returns what comes back until the gateway closes
/// the connection or stops sending.
async fn raw_exchange(port: u16, raw: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    stream.write_all(raw.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(Ok(n)) =
        tokio::time::timeout(std::time::Duration::from_millis(500), stream.read(&mut buf)).await
    {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn tunnels_and_requests_without_one_host_are_refused_with_json() {
    let up = Upstream::start("app").await;
    let port = free_port();
    let _gw = start(&(gateway(port) + &backend("app", up.port()) + &route_to("app"))).await;
    let answer = raw_exchange(
        port,
        "CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
    assert!(
        answer.contains("\"method_not_allowed\"") && answer.contains("not tunnels"),
        "{answer}"
    );
    for head in [
        "GET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nhost: a.example\r\nhost: b.example\r\n\r\n",
    ] {
        let answer = raw_exchange(port, head).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{head:?}: {answer}");
        assert!(answer.contains("exactly one valid Host"), "{answer}");
    }
    // HTTP/1.0 needs no Host.
    let answer = raw_exchange(port, "GET / HTTP/1.0\r\n\r\n").await;
    assert!(
        answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"),
        "{answer}"
    );
    assert!(up.seen().iter().all(|r| r.method != "CONNECT"));
}

#[tokio::test]
async fn oversized_request_heads_are_refused_with_json_before_the_backend() {
    let up = Upstream::start("app").await;
    let port = free_port();
    let _gw = start(&(gateway(port) + &backend("app", up.port()) + &route_to("app"))).await;
    let cookie = "c".repeat(70 * 1024);
    let answer = raw_exchange(
        port,
        &format!("GET / HTTP/1.1\r\nhost: app.example\r\ncookie: {cookie}\r\n\r\n"),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{}", &answer[..80]);
    assert!(answer.contains("\"headers_too_large\""), "{answer}");
    assert!(answer.contains("at most 61440"), "{answer}");
    let target = format!("/search?q={}", "q".repeat(62 * 1024));
    let answer = raw_exchange(
        port,
        &format!("GET {target} HTTP/1.1\r\nhost: app.example\r\n\r\n"),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{}", &answer[..80]);
    // HTTP/2 gets the same answer (h2's own limit is set above the gateway's).
    let h2 = test_support::client::h2c()
        .request(
            http::Request::get(format!("http://127.0.0.1:{port}/"))
                .header("cookie", "c".repeat(70 * 1024))
                .body(Default::default())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(h2.status(), 431);
    let body = test_support::client::collect(h2).await.text();
    assert!(body.contains("\"headers_too_large\""), "{body}");
    assert!(up.seen().is_empty(), "nothing reached the backend");
    // Just under the limit goes through.
    let cookie = "c".repeat(50 * 1024);
    let answer = raw_exchange(
        port,
        &format!("GET / HTTP/1.1\r\nhost: app.example\r\ncookie: {cookie}\r\n\r\n"),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{}", &answer[..80]);
}

#[tokio::test]
async fn a_broken_or_abandoned_request_body_is_the_clients_fault_not_the_backends() {
    let up = Upstream::start("app").await;
    let port = free_port();
    let gw = start(&(gateway(port) + &backend("app", up.port()) + &route_to("app"))).await;
    // A chunk size that is not hexadecimal.
    let answer = raw_exchange(
        port,
        "POST /upload HTTP/1.1\r\nhost: app\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("\"invalid_request\""), "{answer}");

    // A client that hangs up half-way through its body.
    {
        use tokio::io::AsyncWriteExt;
        let mut client = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let head = "POST /upload HTTP/1.1\r\nhost: app\r\ncontent-length: 100000\r\n\r\n";
        client.write_all(head.as_bytes()).await.unwrap();
        client.write_all(&[b'x'; 50_000]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut metrics = String::new();
    for _ in 0..50 {
        metrics = gw.shared().metrics.render();
        if metrics.contains(r#"status="499""#) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(metrics.contains(r#"status="499"} 1"#), "{metrics}");
    assert!(
        !metrics.contains(r#"status="502""#),
        "no backend error is counted for the client's doing: {metrics}"
    );
}
