//! Priority groups of providers: failover on connection errors and on 429/5xx, ejection of
//! the failing provider, and no retry once an answer has started.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{gateway, route_to, start};
use serde_json::json;
use test_support::client::send;
use test_support::free_port;
use test_support::provider_mock::{Flavor, ProviderMock};

fn groups(first_port: u16, first_model: &str, second_port: u16) -> String {
    format!(
        "---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {{name: llm}}
spec:
  ai:
    groups:
    - providers:
      - {{name: primary, openai: {{model: {first_model}}}, host: 127.0.0.1, port: {first_port}}}
    - providers:
      - {{name: fallback, openai: {{model: llama3.2}}, host: 127.0.0.1, port: {second_port}}}
"
    )
}

fn chat(port: u16) -> http::Request<http_body_util::Full<bytes::Bytes>> {
    let body = json!({"model": "any", "messages": [{"role": "user", "content": "hi"}]});
    http::Request::post(format!("http://127.0.0.1:{port}/v1/chat/completions"))
        .body(body.to_string().into())
        .unwrap()
}

#[tokio::test]
async fn an_unreachable_first_group_fails_over_to_the_next() {
    let fallback = ProviderMock::start(Flavor::OpenAi, None).await;
    let (port, dead) = (free_port(), free_port());
    let gw =
        start(&(gateway(port) + &groups(dead, "llama3.2", fallback.port()) + &route_to("llm")))
            .await;
    for _ in 0..3 {
        let r = send(chat(port)).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    assert_eq!(fallback.received().len(), 3);
    // The failed connection is counted though the request succeeded (once: the dead
    // provider is then ejected).
    let metrics = gw.shared().metrics.render();
    assert!(
        metrics.contains(r#"agentgateway_upstream_connect_errors_total{backend="default/llm",reason="refused"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_rate_limited_provider_is_ejected_for_its_retry_after() {
    let (primary, fallback) = (
        ProviderMock::start(Flavor::OpenAi, None).await,
        ProviderMock::start(Flavor::OpenAi, None).await,
    );
    let port = free_port();
    let _gw = start(
        &(gateway(port)
            + &groups(primary.port(), "rate-limited", fallback.port())
            + &route_to("llm")),
    )
    .await;
    for _ in 0..3 {
        assert_eq!(send(chat(port)).await.status, 200);
    }
    assert_eq!(
        primary.received().len(),
        1,
        "after its 429 the primary is skipped while Retry-After lasts"
    );
    assert_eq!(fallback.received().len(), 3);
    assert_eq!(
        fallback.received()[0].body["model"],
        "llama3.2",
        "each provider gets its own pinned model"
    );
}

#[tokio::test]
async fn the_last_provider_answer_is_passed_on_when_all_fail() {
    let (primary, fallback) = (
        ProviderMock::start(Flavor::OpenAi, None).await,
        ProviderMock::start(Flavor::OpenAi, None).await,
    );
    let port = free_port();
    let config = groups(primary.port(), "rate-limited", fallback.port())
        .replace("{model: llama3.2}", "{model: rate-limited}");
    let _gw = start(&(gateway(port) + &config + &route_to("llm"))).await;
    let r = send(chat(port)).await;
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(
        r.headers["x-agentgateway-failed-providers"],
        "primary (429)"
    );
    assert_eq!(
        r.json()["error"]["type"],
        "tokens",
        "the provider's own error is kept"
    );
}

/// A provider that takes each request and closes the connection without a byte of answer
/// (a crashed process behind a load balancer, say).
async fn hanging_up_provider() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = vec![0; 64 * 1024];
            let mut read = Vec::new();
            while !read.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => read.extend_from_slice(&buf[..n]),
                }
            }
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    (port, seen)
}

#[tokio::test]
async fn a_provider_that_hangs_up_without_answering_fails_over() {
    let fallback = ProviderMock::start(Flavor::OpenAi, None).await;
    let (hanging, seen) = hanging_up_provider().await;
    let port = free_port();
    let _gw =
        start(&(gateway(port) + &groups(hanging, "llama3.2", fallback.port()) + &route_to("llm")))
            .await;
    let r = send(chat(port)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.headers["x-agentgateway-failed-providers"], "primary (upstream_no_answer)",
        "the answer says which provider failed before it, and why"
    );
    let r = send(chat(port)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(!r.headers.contains_key("x-agentgateway-failed-providers"));
    assert_eq!(fallback.received().len(), 2);
    assert_eq!(
        seen.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the provider that hung up is ejected after the first time"
    );

    // On its own, it is a 502 saying what happened, in the client's shape.
    let port = free_port();
    let _gw =
        start(&(gateway(port) + &common::ai_backend("openai", hanging, None) + &route_to("llm")))
            .await;
    let r = send(common::post_json(
        port,
        "/v1/chat/completions",
        &json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
    ))
    .await;
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(
        r.json()["error"]["type"],
        "upstream_no_answer",
        "{}",
        r.text()
    );
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("closed the connection before answering"),
        "{}",
        r.text()
    );
}
