//! WebSocket upgrades through static backends: the handshake reaches the backend with its
//! upgrade headers, a 101 joins the two connections, and what is not WebSocket is not
//! tunnelled.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};

use common::{gateway, route_to, start};
use test_support::free_port;
use test_support::upstream::Upstream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const HANDSHAKE: &str = "GET /chat HTTP/1.1\r\nHost: ws.example\r\nConnection: Upgrade\r\n\
Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

/// A backend that switches every request that asks for it to an echo of bytes, sending
/// `greeting` right behind its 101 head; others get 400. Keeps each request head it read.
async fn echo_backend(greeting: &'static [u8]) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = heads.clone();
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let seen = seen.clone();
            tokio::spawn(async move {
                let head = read_head(&mut stream).await;
                seen.lock().unwrap().push(head.clone());
                if !head.to_ascii_lowercase().contains("upgrade: websocket") {
                    let refusal =
                        b"HTTP/1.1 400 Bad Request\r\ncontent-length: 10\r\n\r\nnot a ws\r\n";
                    return stream.write_all(refusal).await.unwrap();
                }
                let mut answer = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
                    .to_vec();
                answer.extend_from_slice(greeting);
                stream.write_all(&answer).await.unwrap();
                let mut buf = [0u8; 1024];
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => stream.write_all(&buf[..n]).await.unwrap(),
                    }
                }
            });
        }
    });
    (port, heads)
}

/// Reads up to and including the blank line that ends a head.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await.unwrap() == 0 {
            break;
        }
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

async fn read_exactly(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    stream.read_exact(&mut buf).await.unwrap();
    buf
}

#[tokio::test]
async fn a_websocket_handshake_is_switched_and_bytes_flow_both_ways() {
    let (backend, heads) = echo_backend(b"hello").await;
    let port = free_port();
    let _gw = start(&(gateway(port) + &common::backend("ws", backend) + &route_to("ws"))).await;

    let mut client = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    client.write_all(HANDSHAKE.as_bytes()).await.unwrap();
    let head = read_head(&mut client).await.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: websocket"), "{head}");
    assert!(head.contains("connection: upgrade"), "{head}");
    assert!(head.contains("sec-websocket-accept: "), "{head}");
    // What the backend sent right behind its 101 reaches the client first.
    assert_eq!(read_exactly(&mut client, 5).await, b"hello");
    for message in [&b"ping"[..], &[0x81, 0x02, b'h', b'i'][..]] {
        client.write_all(message).await.unwrap();
        assert_eq!(read_exactly(&mut client, message.len()).await, message);
    }

    let sent = heads.lock().unwrap()[0].to_ascii_lowercase();
    assert!(sent.contains("upgrade: websocket"), "{sent}");
    assert!(sent.contains("connection: upgrade"), "{sent}");
    assert!(sent.contains("sec-websocket-key: "), "{sent}");
    assert!(sent.contains("x-forwarded-for: 127.0.0.1"), "{sent}");
}

#[tokio::test]
async fn a_refused_handshake_is_an_ordinary_answer_and_the_connection_goes_on() {
    let (backend, _) = echo_backend(b"").await;
    let port = free_port();
    let yaml = gateway(port)
        + &common::backend("ws", backend)
        + &common::route(
            "ws",
            "  - backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: ws}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        remove: [upgrade]
",
        );
    let _gw = start(&yaml).await;

    let mut client = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    client.write_all(HANDSHAKE.as_bytes()).await.unwrap();
    let head = read_head(&mut client).await;
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    assert_eq!(read_exactly(&mut client, 10).await, b"not a ws\r\n");
    // Still HTTP: the next request on the same connection is answered as one.
    client.write_all(HANDSHAKE.as_bytes()).await.unwrap();
    let head = read_head(&mut client).await;
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
}

#[tokio::test]
async fn other_upgrades_such_as_h2c_are_not_forwarded() {
    let up = Upstream::start("up").await;
    let port = free_port();
    let _gw = start(&(gateway(port) + &common::backend("up", up.port()) + &route_to("up"))).await;
    let mut client = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let request = "GET /x HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\n\
Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n";
    client.write_all(request.as_bytes()).await.unwrap();
    let head = read_head(&mut client).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let seen = up.wait_for(1).await;
    assert!(!seen[0].headers.contains_key("upgrade"));
    assert!(!seen[0].headers.contains_key("http2-settings"));
}

#[tokio::test]
async fn an_http2_backend_cannot_switch_and_says_so() {
    let up = Upstream::start("up").await;
    let port = free_port();
    let yaml = gateway(port) + &common::h2c_backend("up", up.port()) + &route_to("up");
    let _gw = start(&yaml).await;
    let mut client = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    client.write_all(HANDSHAKE.as_bytes()).await.unwrap();
    let head = read_head(&mut client).await;
    assert!(head.starts_with("HTTP/1.1 502"), "{head}");
    let mut body = vec![0u8; 4096];
    let n = client.read(&mut body).await.unwrap();
    let body = String::from_utf8_lossy(&body[..n]);
    assert!(body.contains("cannot switch to WebSocket"), "{body}");
    assert!(up.seen().is_empty(), "nothing reached the backend");
}

#[tokio::test]
async fn policies_judge_the_handshake_before_it_reaches_the_backend() {
    let (backend, heads) = echo_backend(b"").await;
    let port = free_port();
    let yaml = gateway(port)
        + &common::backend("ws", backend)
        + &route_to("ws")
        + "---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: closed}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}]
  traffic:
    authorization: {action: Deny, policy: {matchExpressions: ['request.path == \"/chat\"']}}
";
    let _gw = start(&yaml).await;
    let mut client = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    client.write_all(HANDSHAKE.as_bytes()).await.unwrap();
    let head = read_head(&mut client).await;
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    assert!(heads.lock().unwrap().is_empty(), "the backend never saw it");
}
