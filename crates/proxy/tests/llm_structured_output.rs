//! Structured output (`response_format: json_schema`) for OpenAI clients on providers
//! without a response format every model takes: Bedrock (and Anthropic, see the e2e tests
//! with the OpenAI SDK's parse helpers) is asked through a forced tool, and the tool's input
//! comes back as the answer's content.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{bedrock_gateway, post_json, sse_data, streamed_text};
use serde_json::{Value, json};
use test_support::client::send;

fn weather_request(stream: bool) -> Value {
    let schema = json!({"type": "object", "properties": {"location": {"type": "string"}, "unit": {"type": "string"}}, "required": ["location", "unit"], "additionalProperties": false});
    json!({"model": "claude", "stream": stream, "messages": [{"role": "user", "content": "Weather in Paris?"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "Weather", "schema": schema, "strict": true}}})
}

#[tokio::test]
async fn bedrock_answers_a_json_schema_request_through_a_forced_tool() {
    let (mock, port, _gw) = bedrock_gateway("anthropic.claude-sonnet-4-5-20250929-v1:0").await;
    let r = send(post_json(
        port,
        "/v1/chat/completions",
        &weather_request(false),
    ))
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let sent = &mock.received()[0].body;
    assert_eq!(
        sent["toolConfig"]["tools"][0]["toolSpec"]["name"],
        "json_answer"
    );
    assert_eq!(
        sent["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"],
        weather_request(false)["response_format"]["json_schema"]["schema"]
    );
    assert_eq!(
        sent["toolConfig"]["toolChoice"],
        json!({"tool": {"name": "json_answer"}})
    );
    let choice = &r.json()["choices"][0];
    assert_eq!(choice["finish_reason"], "stop");
    assert!(choice["message"].get("tool_calls").is_none());
    let answer: Value =
        serde_json::from_str(choice["message"]["content"].as_str().unwrap()).unwrap();
    assert_eq!(answer, json!({"location": "Paris", "unit": "celsius"}));
}

#[tokio::test]
async fn a_streamed_json_schema_answer_from_bedrock_is_the_tools_input_alone() {
    let (_mock, port, _gw) = bedrock_gateway("anthropic.claude-sonnet-4-5-20250929-v1:0").await;
    let text = streamed_text(port, "/v1/chat/completions", &weather_request(true)).await;
    let chunks: Vec<Value> = sse_data(&text)
        .iter()
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    let answer: Value = serde_json::from_str(&content).unwrap();
    assert_eq!(answer["location"], "Paris");
    let finish = chunks
        .iter()
        .find_map(|c| c["choices"][0]["finish_reason"].as_str());
    assert_eq!(finish, Some("stop"));
}

#[tokio::test]
async fn a_json_schema_beside_the_clients_own_tools_is_refused_naming_why() {
    let (mock, port, _gw) = bedrock_gateway("anthropic.claude-sonnet-4-5-20250929-v1:0").await;
    let mut request = weather_request(false);
    request["tools"] = json!([{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]);
    let r = send(post_json(port, "/v1/chat/completions", &request)).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["error"]["param"], "response_format");
    assert!(mock.received().is_empty());
}
