//! LLM routes to an Anthropic provider for Anthropic Messages clients, against a mock that
//! speaks Anthropic's wire format (the project's provider samples).

// Test helpers outside #[test] functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::llm_gateway;
use serde_json::{Value, json};
use test_support::client::{collect, get, http1, send};
use test_support::provider_mock::{Flavor, fixture};

fn messages(port: u16, body: Value) -> http::Request<http_body_util::Full<bytes::Bytes>> {
    http::Request::post(format!("http://127.0.0.1:{port}/anthropic/v1/messages"))
        .header("content-type", "application/json")
        .header("x-api-key", "client-key")
        .body(body.to_string().into())
        .unwrap()
}

fn hello(model: &str, stream: bool) -> Value {
    json!({"model": model, "max_tokens": 256, "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
}

#[tokio::test]
async fn messages_get_the_backend_key_version_and_model() {
    let (provider, port, gw) = llm_gateway(
        Flavor::Anthropic,
        "anthropic",
        Some("claude-sonnet-4-5"),
        "",
    )
    .await;
    let r = send(messages(port, hello("claude-3-haiku", false))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["type"], "message");
    let seen = &provider.received()[0];
    assert_eq!(seen.path, "/v1/messages");
    assert_eq!(
        seen.headers["x-api-key"], "sk-gateway-key",
        "the backend's key, never the client's"
    );
    assert_eq!(
        seen.headers["anthropic-version"], "2023-06-01",
        "a default version is sent when the client names none"
    );
    assert!(!seen.headers.contains_key("authorization"));
    assert_eq!(seen.body["model"], "claude-sonnet-4-5");
    let metrics = gw.shared().metrics.render();
    assert!(metrics.contains("gen_ai_provider_name=\"anthropic\",gen_ai_request_model=\"claude-sonnet-4-5\",gen_ai_response_model=\"claude-sonnet-4-5-20250929\",gen_ai_token_type=\"output\"} 19"), "{metrics}");
}

#[tokio::test]
async fn streams_keep_the_exact_event_sequence() {
    let (_provider, port, gw) = llm_gateway(Flavor::Anthropic, "anthropic", None, "").await;
    let response = http1()
        .request(messages(port, hello("claude-sonnet-4-5", true)))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = collect(response).await.text();
    assert_eq!(
        text.trim_end(),
        String::from_utf8(fixture("anthropic/messages_stream.sse"))
            .unwrap()
            .trim_end()
    );
    let metrics = gw.shared().metrics.render();
    assert!(
        metrics.contains("gen_ai_token_type=\"output\"} 74"),
        "usage from message_delta: {metrics}"
    );
    assert!(
        metrics.contains("gen_ai_token_type=\"input\"} 1948"),
        "input counts cached prompt tokens too: {metrics}"
    );
}

#[tokio::test]
async fn errors_come_back_in_anthropic_shape() {
    let (_provider, port, _gw) = llm_gateway(Flavor::Anthropic, "anthropic", None, "").await;
    let r = get(&format!("http://127.0.0.1:{port}/anthropic/v1/messages")).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.headers["allow"], "POST");
    assert_eq!(r.json()["type"], "error");
    let r = send(messages(
        port,
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
    ))
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_tokens")
    );
    let r = send(messages(port, hello("missing-model", false))).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["type"], "not_found_error");
    assert!(
        r.text().contains("default/llm") && r.text().contains("missing-model"),
        "{}",
        r.text()
    );
    // A provider error that is not the provider's JSON (a proxy's HTML page) keeps its
    // status and text, under the type Anthropic uses for the status.
    let r = send(messages(port, hello("error-page", false))).await;
    assert_eq!(r.status, 500);
    assert_eq!(r.json()["type"], "error");
    assert_eq!(r.json()["error"]["type"], "api_error", "{}", r.text());
    assert!(
        r.text().contains("500 Internal Server Error"),
        "{}",
        r.text()
    );
}

#[tokio::test]
async fn a_broken_or_cut_short_stream_ends_with_an_error_event() {
    let (_provider, port, _gw) = llm_gateway(Flavor::Anthropic, "anthropic", None, "").await;
    for (model, says) in [("break-stream", "broke off"), ("cut-stream", "cut short")] {
        let response = http1()
            .request(messages(port, hello(model, true)))
            .await
            .unwrap();
        let text = collect(response).await.text();
        let last = text.trim_end().rsplit("\n\n").next().unwrap();
        assert!(last.starts_with("event: error\ndata: "), "{last}");
        let event: Value = serde_json::from_str(last.split_once("data: ").unwrap().1).unwrap();
        assert_eq!(event["type"], "error");
        assert_eq!(event["error"]["type"], "api_error");
        assert!(event["error"]["message"].as_str().unwrap().contains(says));
    }
}

fn openai_chat(port: u16, body: Value) -> http::Request<http_body_util::Full<bytes::Bytes>> {
    http::Request::post(format!(
        "http://127.0.0.1:{port}/anthropic/v1/chat/completions"
    ))
    .header("content-type", "application/json")
    .body(body.to_string().into())
    .unwrap()
}

#[tokio::test]
async fn openai_clients_are_translated_to_messages_and_back() {
    let (provider, port, _gw) = llm_gateway(Flavor::Anthropic, "anthropic", None, "").await;
    let tools = json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]);
    let request = json!({"model": "claude-sonnet-4-5", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather?"}], "tools": tools});
    let r = send(openai_chat(port, request)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let chat = r.json();
    assert_eq!(chat["object"], "chat.completion");
    assert_eq!(chat["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        chat["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
        "get_weather"
    );
    let sent = &provider.received()[0];
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.body["system"], "Be brief.");
    assert_eq!(
        sent.body["max_tokens"], 4096,
        "Anthropic needs max_tokens; a default is sent"
    );
    assert_eq!(
        sent.body["tools"][0]["input_schema"],
        json!({"type": "object"})
    );
    assert_eq!(sent.headers["x-api-key"], "sk-gateway-key");
}

#[tokio::test]
async fn translated_streams_end_with_usage_and_done() {
    let (_provider, port, _gw) = llm_gateway(Flavor::Anthropic, "anthropic", None, "").await;
    let request = json!({"model": "claude-sonnet-4-5", "stream": true, "stream_options": {"include_usage": true}, "messages": [{"role": "user", "content": "hi"}]});
    let response = http1().request(openai_chat(port, request)).await.unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = collect(response).await.text();
    let payloads: Vec<&str> = text
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .collect();
    assert_eq!(payloads.last(), Some(&"[DONE]"));
    let usage: Value = serde_json::from_str(payloads[payloads.len() - 2]).unwrap();
    assert_eq!(usage["usage"]["completion_tokens"], 74);
    let first: Value = serde_json::from_str(payloads[0]).unwrap();
    assert_eq!(first["object"], "chat.completion.chunk");
    assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
}

#[tokio::test]
async fn translated_errors_use_the_openai_shape() {
    let (_provider, port, _gw) = llm_gateway(Flavor::Anthropic, "anthropic", None, "").await;
    let r = send(openai_chat(
        port,
        json!({"model": "missing-model", "messages": [{"role": "user", "content": "hi"}]}),
    ))
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["type"], "not_found_error");
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sent model 'missing-model'"),
        "{}",
        r.text()
    );
    let r = send(openai_chat(
        port,
        json!({"model": "m", "n": 2, "messages": [{"role": "user", "content": "hi"}]}),
    ))
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["param"], "n");
    // A message the Messages API has no form for is refused before it is sent, by name.
    let r = send(openai_chat(
        port,
        json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]}),
    ))
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");
    assert_eq!(r.json()["error"]["param"], "messages");
    assert!(r.text().contains("content"), "{}", r.text());
    // A 200 that is not a Messages response (an intermediary's HTML page) is the provider's
    // fault, said as such.
    let r = send(openai_chat(
        port,
        json!({"model": "garbled-answer", "messages": [{"role": "user", "content": "hi"}]}),
    ))
    .await;
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(
        r.text().contains("not an Anthropic message"),
        "{}",
        r.text()
    );
}

#[tokio::test]
async fn a_translated_stream_the_provider_ends_early_is_reported_cut_short() {
    let (_provider, port, _gw) = llm_gateway(Flavor::Anthropic, "anthropic", None, "").await;
    // An error chunk for the OpenAI client, never `[DONE]` after half an answer.
    let request = json!({"model": "cut-stream", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let response = http1().request(openai_chat(port, request)).await.unwrap();
    let text = collect(response).await.text();
    assert!(!text.contains("[DONE]"), "{text}");
    let last = text.trim_end().rsplit("\n\n").next().unwrap();
    let event: Value = serde_json::from_str(last.strip_prefix("data: ").unwrap()).unwrap();
    assert!(
        event["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cut short"),
        "{text}"
    );
}
