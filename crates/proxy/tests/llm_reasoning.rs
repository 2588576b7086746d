//! Reasoning ("extended thinking") through translated routes: clients ask for it with
//! `reasoning_effort` or Anthropic's `thinking`, get the thinking back in their own API's
//! shape (`reasoning_content` + signed `thinking_blocks` for Chat clients, `thinking`
//! blocks for Messages clients), and send it back on later turns so a tool loop with
//! thinking on keeps working. The mocks hold requests to each provider's thinking rules.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{bedrock_gateway, llm_gateway, post_json, sse_data, streamed_text};
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

fn anthropic_tools() -> Value {
    json!([{"name": "get_weather", "description": "Weather now", "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}}}])
}

#[tokio::test]
async fn claude_code_on_bedrock_gets_signed_thinking_and_replays_it_in_a_tool_loop() {
    let (mock, port, _gw) = bedrock_gateway("us.anthropic.claude-sonnet-4-5-20250929-v1:0").await;
    let question = json!({"role": "user", "content": "Weather in Paris?"});
    let thinking = json!({"type": "enabled", "budget_tokens": 4000});
    let first = send(post_json(
        port,
        "/v1/messages",
        &json!({"model": "claude-sonnet-4-5", "max_tokens": 2000, "thinking": thinking, "tools": anthropic_tools(), "top_k": 40, "messages": [question]}),
    ))
    .await;
    assert_eq!(first.status, 200, "{}", first.text());
    let sent = &mock.received()[0].body;
    assert_eq!(
        sent["additionalModelRequestFields"],
        json!({"thinking": thinking}),
        "top_k is left out beside thinking, which Claude refuses with it"
    );
    assert_eq!(sent["inferenceConfig"]["maxTokens"], 4000 + 2000);
    let message = first.json();
    let content = message["content"].as_array().unwrap().clone();
    let kinds: Vec<&str> = content
        .iter()
        .map(|b| b["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["thinking", "redacted_thinking", "text", "tool_use"]);
    assert!(
        content[0]["signature"]
            .as_str()
            .unwrap()
            .starts_with("ErcB")
    );
    assert!(
        content[0]["thinking"]
            .as_str()
            .unwrap()
            .starts_with("The user wants the weather")
    );

    // The next turn sends the assistant's content back as Claude Code does.
    let tool_use_id = content[3]["id"].clone();
    let answer = json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use_id, "content": "18C"}]});
    let turn = json!({"role": "assistant", "content": content});
    let second = send(post_json(
        port,
        "/v1/messages",
        &json!({"model": "claude-sonnet-4-5", "max_tokens": 2000, "thinking": thinking, "tools": anthropic_tools(), "messages": [question, turn, answer]}),
    ))
    .await;
    assert_eq!(second.status, 200, "{}", second.text());
    let replayed = &mock.received()[1].body["messages"][1]["content"];
    assert_eq!(
        replayed[0]["reasoningContent"]["reasoningText"]["signature"],
        content[0]["signature"]
    );
    assert_eq!(
        replayed[1]["reasoningContent"]["redactedContent"],
        content[1]["data"]
    );
    assert!(replayed[3].get("toolUse").is_some(), "{replayed}");

    // A turn sent back without its thinking: Bedrock's refusal, in Anthropic's shape.
    let bare = json!({"role": "assistant", "content": [content[2], content[3]]});
    let refused = send(post_json(
        port,
        "/v1/messages",
        &json!({"model": "claude-sonnet-4-5", "max_tokens": 2000, "thinking": thinking, "tools": anthropic_tools(), "messages": [question, bare, answer]}),
    ))
    .await;
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert_eq!(refused.json()["type"], "error");
    assert!(
        refused.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("must start with its thinking block"),
        "{}",
        refused.text()
    );
}

#[tokio::test]
async fn a_bedrock_reasoning_stream_reaches_anthropic_clients_as_thinking_events() {
    let (_mock, port, _gw) = bedrock_gateway("anthropic.claude-sonnet-4-5-20250929-v1:0").await;
    let request = json!({"model": "claude", "max_tokens": 8000, "stream": true, "thinking": {"type": "enabled", "budget_tokens": 2048}, "tools": anthropic_tools(), "messages": [{"role": "user", "content": "Weather in Paris?"}]});
    let text = streamed_text(port, "/v1/messages", &request).await;
    let events: Vec<Value> = sse_data(&text)
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let starts: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "content_block_start")
        .map(|e| e["content_block"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        starts,
        ["thinking", "redacted_thinking", "text", "tool_use"]
    );
    let thinking: String = events
        .iter()
        .filter_map(|e| e["delta"]["thinking"].as_str())
        .collect();
    assert_eq!(
        thinking,
        "The user wants the weather in Paris. I have a get_weather tool, so I should call it with the city."
    );
    let signatures: Vec<&Value> = events
        .iter()
        .filter(|e| e["delta"]["type"] == "signature_delta")
        .collect();
    assert_eq!(signatures.len(), 1);
    assert_eq!(signatures[0]["index"], 0);
    let last_delta = events
        .iter()
        .rfind(|e| e["type"] == "message_delta")
        .unwrap();
    assert_eq!(last_delta["delta"]["stop_reason"], "tool_use");
}

#[tokio::test]
async fn chat_clients_reasoning_effort_reaches_claude_on_bedrock() {
    let (mock, port, _gw) = bedrock_gateway("anthropic.claude-sonnet-4-5-20250929-v1:0").await;
    let r = send(post_json(
        port,
        "/v1/chat/completions",
        &json!({"model": "claude", "reasoning_effort": "medium", "messages": [{"role": "user", "content": "Weather in Paris?"}], "tools": weather_tools()}),
    ))
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let sent = &mock.received()[0].body;
    assert_eq!(
        sent["additionalModelRequestFields"]["thinking"],
        json!({"type": "enabled", "budget_tokens": 2048})
    );
    assert_eq!(
        sent["inferenceConfig"]["maxTokens"], 4096,
        "a limit is sent for the budget to fit below"
    );
    let message = &r.json()["choices"][0]["message"];
    assert!(
        message["reasoning_content"]
            .as_str()
            .unwrap()
            .contains("get_weather tool")
    );
    assert_eq!(message["thinking_blocks"][1]["type"], "redacted_thinking");
}
