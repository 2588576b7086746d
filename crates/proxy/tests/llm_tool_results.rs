//! Tool results from Anthropic clients (Claude Code, computer-use agents) on translated
//! providers: a result with a screenshot keeps its image and a failed tool keeps its error
//! flag wherever the provider has a place for them; nothing is dropped silently.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{bedrock_gateway, llm_gateway, post_json};
use serde_json::{Value, json};
use test_support::client::send;
use test_support::provider_mock::Flavor;

const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

/// A browsing turn: two tool calls, one answered with text and a screenshot, one failed.
fn browsing_turn() -> Value {
    let screenshot = json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}});
    json!({"model": "claude", "max_tokens": 300, "messages": [
        {"role": "user", "content": "Open the pricing page"},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_1", "name": "screenshot", "input": {}},
            {"type": "tool_use", "id": "toolu_2", "name": "click", "input": {"selector": "#buy"}}
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "Pricing page"}, screenshot]},
            {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": true, "content": "no element matches #buy"}
        ]}
    ], "tools": [
        {"name": "screenshot", "input_schema": {"type": "object"}},
        {"name": "click", "input_schema": {"type": "object", "properties": {"selector": {"type": "string"}}}}
    ]})
}

#[tokio::test]
async fn bedrock_gets_the_screenshot_inside_the_tool_result_and_the_error_status() {
    let (mock, port, _gw) = bedrock_gateway("anthropic.claude-sonnet-4-5-20250929-v1:0").await;
    let r = send(post_json(port, "/v1/messages", &browsing_turn())).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let results = &mock.received()[0].body["messages"][2]["content"];
    assert_eq!(
        results[0]["toolResult"]["content"],
        json!([{"text": "Pricing page"}, {"image": {"format": "png", "source": {"bytes": PNG}}}])
    );
    assert_eq!(results[1]["toolResult"]["status"], "error");
}

#[tokio::test]
async fn a_chat_completions_provider_sees_the_screenshot_right_after_the_tool_results() {
    let (provider, port, _gw) = llm_gateway(Flavor::OpenAi, "openai", Some("gpt-4o"), "").await;
    let r = send(post_json(port, "/v1/messages", &browsing_turn())).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let messages = provider.received()[0].body["messages"].clone();
    let roles: Vec<&str> = messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "tool", "tool", "user"]);
    assert_eq!(messages[2]["content"], "Pricing page");
    assert!(
        messages[3].get("is_error").is_none(),
        "OpenAI refuses unknown fields"
    );
    assert_eq!(
        messages[4]["content"][0]["image_url"]["url"],
        format!("data:image/png;base64,{PNG}")
    );
}
