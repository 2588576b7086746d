//! Prompt guards on LLM routes: requests refused or masked before any provider call, and
//! answers masked or refused, complete and streamed, for OpenAI and Anthropic clients.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{llm_gateway, post_json, sse_data, streamed_text};
use std::sync::Arc;

use proxy::Gateway;
use serde_json::{Value, json};
use test_support::client::send;
use test_support::provider_mock::{Flavor, ProviderMock};

fn policy(guard: &str) -> String {
    format!(
        "---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {{name: guard}}
spec:
  targetRefs: [{{group: agentgateway.dev, kind: AgentgatewayBackend, name: llm}}]
  backend:
    ai:
      promptGuard:
{guard}"
    )
}

fn ask(text: &str) -> Value {
    json!({"model": "m", "max_tokens": 64, "messages": [{"role": "user", "content": text}]})
}

async fn guarded(flavor: Flavor, kind: &str, guard: &str) -> (ProviderMock, u16, Arc<Gateway>) {
    llm_gateway(flavor, kind, None, &policy(guard)).await
}

#[tokio::test]
async fn a_request_with_a_card_number_is_refused_before_the_provider_sees_it() {
    let guard = "        request: [{regex: {action: Reject, builtins: [CreditCard]}, response: {message: no card numbers please}}]\n";
    let (provider, port, _gw) = guarded(Flavor::OpenAi, "openai", guard).await;
    let r = send(post_json(
        port,
        "/v1/chat/completions",
        &ask("pay with 4111 1111 1111 1111"),
    ))
    .await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.json()["error"]["message"], "no card numbers please");
    assert_eq!(r.json()["error"]["code"], "prompt_guard");
    assert!(
        !r.text().contains("4111"),
        "the sensitive text is never echoed"
    );
    assert!(provider.received().is_empty());
    // Anthropic clients get their own error shape.
    let r = send(post_json(
        port,
        "/v1/messages",
        &ask("card 4111-1111-1111-1111"),
    ))
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["type"], "error");
    assert_eq!(r.json()["error"]["type"], "permission_error");
    // A number that fails the Luhn check is not a card.
    let r = send(post_json(
        port,
        "/v1/chat/completions",
        &ask("order 4111 1111 1111 1112"),
    ))
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn masked_requests_reach_the_provider_without_the_match() {
    let guard = "        request: [{regex: {action: Mask, builtins: [Email], matches: ['(?i)project falcon']}}]\n";
    let (provider, port, _gw) = guarded(Flavor::OpenAi, "openai", guard).await;
    let r = send(post_json(
        port,
        "/v1/chat/completions",
        &ask("mail bob@example.com about Project Falcon"),
    ))
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let sent = provider.received()[0].body["messages"][0]["content"].clone();
    assert_eq!(sent, "mail <EMAIL> about <MASKED>");
}

#[tokio::test]
async fn complete_answers_are_masked_or_refused() {
    let guard = "        response: [{regex: {action: Mask, matches: [Paris]}}]\n";
    let (_provider, port, _gw) = guarded(Flavor::OpenAi, "openai", guard).await;
    let r = send(post_json(port, "/v1/chat/completions", &ask("weather?"))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let content = r.json()["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        content,
        "It's 18 °C and partly cloudy in <MASKED> right now."
    );

    let guard = "        response: [{regex: {action: Reject, matches: [cloudy]}, response: {statusCode: 451}}]\n";
    let (_provider, port, _gw) = guarded(Flavor::OpenAi, "openai", guard).await;
    let r = send(post_json(port, "/v1/chat/completions", &ask("weather?"))).await;
    assert_eq!(r.status, 451, "{}", r.text());
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("promptGuard.response[0]")
    );
}

#[tokio::test]
async fn streamed_answers_are_masked_in_flight_for_both_client_apis() {
    let guard = "        response: [{regex: {action: Mask, matches: ['partly cloudy', Paris]}}]\n";
    let (_provider, port, _gw) = guarded(Flavor::OpenAi, "openai", guard).await;
    let mut request = ask("weather?");
    request["stream"] = json!(true);
    let text = streamed_text(port, "/v1/chat/completions", &request).await;
    let data = sse_data(&text);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{text}");
    let content: String = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str::<Value>(d).unwrap())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert_eq!(content, "It's 18 °C and <MASKED> in <MASKED>.", "{text}");
    assert!(!text.contains("Paris"), "{text}");

    let (_provider, port, _gw) = guarded(Flavor::Anthropic, "anthropic", guard).await;
    let text = streamed_text(port, "/v1/messages", &request).await;
    assert!(!text.contains("Paris"), "{text}");
    assert!(text.contains("<MASKED>"), "{text}");
    assert!(
        text.trim_end()
            .ends_with("data: {\"type\":\"message_stop\"}"),
        "{text}"
    );
}

#[tokio::test]
async fn a_refused_stream_ends_with_an_error_event() {
    let guard = "        response: [{regex: {action: Reject, matches: [Paris]}}]\n";
    let (_provider, port, _gw) = guarded(Flavor::Anthropic, "anthropic", guard).await;
    let mut request = ask("weather?");
    request["stream"] = json!(true);
    let text = streamed_text(port, "/v1/messages", &request).await;
    assert!(!text.contains("Paris"), "{text}");
    let last = text.trim_end().rsplit("\n\n").next().unwrap();
    assert!(last.starts_with("event: error\n"), "{text}");
}

#[tokio::test]
async fn an_invalid_pattern_is_a_config_error_naming_it() {
    let yaml = "apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: guard}
spec:
  targetRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: llm}]
  backend:
    ai:
      promptGuard:
        request: [{regex: {matches: ['([a-z']}}]
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: llm}
spec: {ai: {provider: {openai: {model: m}}}}
";
    let errors = config::load_and_compile(
        config::load_str("t.yaml", yaml),
        &config::CompileOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        errors.contains("spec.backend.ai.promptGuard.request[0].regex"),
        "{errors}"
    );
    assert!(errors.contains("([a-z"), "{errors}");
}
