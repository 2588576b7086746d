//! Reasoning ("extended thinking") through translated routes: clients ask for it with
//! `reasoning_effort` or Anthropic's `thinking`, get the thinking back in their own API's
//! shape (`reasoning_content` + signed `thinking_blocks` for Chat clients, `thinking`
//! blocks for Messages clients), and send it back on later turns so a tool loop with
//! thinking on keeps working. The mocks hold requests to each provider's thinking rules.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::llm_gateway;
use serde_json::{Value, json};
use test_support::client::{collect, http1, send};
use test_support::provider_mock::Flavor;

fn chat(port: u16, prefix: &str, body: Value) -> http::Request<http_body_util::Full<bytes::Bytes>> {
    http::Request::post(format!(
        "http://127.0.0.1:{port}/{prefix}/v1/chat/completions"
    ))
    .header("content-type", "application/json")
    .body(body.to_string().into())
    .unwrap()
}

fn weather_tools() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}}}])
}

/// The data payloads of an SSE body, parsed (`[DONE]` left out).
fn chunks(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|p| *p != "[DONE]")
        .map(|p| serde_json::from_str(p).unwrap())
        .collect()
}

#[tokio::test]
async fn chat_clients_get_claudes_thinking_and_send_it_back_in_a_tool_loop() {
    let (provider, port, _gw) = llm_gateway(Flavor::Anthropic, "anthropic", None, "").await;
    let question = json!({"role": "user", "content": "Weather in Paris?"});
    let first = send(chat(
        port,
        "anthropic",
        json!({"model": "claude-sonnet-4-5", "messages": [question], "tools": weather_tools(), "reasoning_effort": "low", "max_completion_tokens": 800}),
    ))
    .await;
    assert_eq!(first.status, 200, "{}", first.text());
    let sent = &provider.received()[0].body;
    assert_eq!(
        sent["thinking"],
        json!({"type": "enabled", "budget_tokens": 1024})
    );
    assert_eq!(sent["max_tokens"], 1024 + 800);
    let message = first.json()["choices"][0]["message"].clone();
    assert!(
        message["reasoning_content"]
            .as_str()
            .unwrap()
            .starts_with("The user wants the weather in Paris.")
    );
    let blocks = message["thinking_blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[0]["type"], "thinking");
    assert!(blocks[0]["signature"].as_str().unwrap().starts_with("EqQB"));
    assert_eq!(blocks[1]["type"], "redacted_thinking");

    // The assistant turn goes back as the answer gave it (the OpenAI SDK keeps unknown
    // fields of a message dict), then the tool's result.
    let call_id = message["tool_calls"][0]["id"].clone();
    let tool_result = json!({"role": "tool", "tool_call_id": call_id, "content": "18C"});
    let second = send(chat(
        port,
        "anthropic",
        json!({"model": "claude-sonnet-4-5", "messages": [question, message, tool_result], "tools": weather_tools(), "reasoning_effort": "low", "max_completion_tokens": 800}),
    ))
    .await;
    assert_eq!(second.status, 200, "{}", second.text());
    let resent = &provider.received()[1].body["messages"][1]["content"];
    assert_eq!(resent[0]["type"], "thinking");
    assert_eq!(resent[0]["signature"], blocks[0]["signature"]);
    assert_eq!(resent[1]["type"], "redacted_thinking");
    assert_eq!(resent[2]["type"], "text");
    assert_eq!(resent[3]["type"], "tool_use");

    // Without its thinking the turn is refused by Anthropic; the client reads why.
    let mut bare = message.clone();
    bare.as_object_mut().unwrap().remove("thinking_blocks");
    let refused = send(chat(
        port,
        "anthropic",
        json!({"model": "claude-sonnet-4-5", "messages": [question, bare, tool_result], "tools": weather_tools(), "reasoning_effort": "low"}),
    ))
    .await;
    assert_eq!(refused.status, 400, "{}", refused.text());
    let error = &refused.json()["error"];
    assert_eq!(error["type"], "invalid_request_error");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("must start with its thinking block"),
        "{error}"
    );
}

#[tokio::test]
async fn streamed_thinking_reaches_chat_clients_as_reasoning_deltas_and_a_signed_block() {
    let (_provider, port, _gw) = llm_gateway(Flavor::Anthropic, "anthropic", None, "").await;
    let request = json!({"model": "claude-sonnet-4-5", "stream": true, "messages": [{"role": "user", "content": "Weather in Paris?"}], "tools": weather_tools(), "thinking": {"type": "enabled", "budget_tokens": 2000}});
    let response = http1()
        .request(chat(port, "anthropic", request))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let chunks = chunks(&collect(response).await.text());
    let deltas: Vec<&Value> = chunks.iter().map(|c| &c["choices"][0]["delta"]).collect();
    let reasoning: String = deltas
        .iter()
        .filter_map(|d| d["reasoning_content"].as_str())
        .collect();
    assert_eq!(
        reasoning,
        "The user wants the weather in Paris. I have a get_weather tool, so I should call it with the city."
    );
    let blocks: Vec<&Value> = deltas
        .iter()
        .filter_map(|d| d["thinking_blocks"].as_array())
        .flatten()
        .collect();
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[0]["thinking"], reasoning.as_str());
    assert!(blocks[0]["signature"].as_str().unwrap().starts_with("EqQB"));
    assert_eq!(blocks[1]["type"], "redacted_thinking");
    let text: String = deltas
        .iter()
        .filter_map(|d| d["content"].as_str())
        .collect();
    assert_eq!(text, "Let me check the current weather in Paris.");
    let finish = chunks
        .iter()
        .find_map(|c| c["choices"][0]["finish_reason"].as_str());
    assert_eq!(finish, Some("tool_calls"));
}
