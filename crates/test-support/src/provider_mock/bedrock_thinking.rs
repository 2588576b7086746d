//! Claude's extended thinking on Bedrock Converse, as Bedrock checks and answers it: the
//! `thinking` object in `additionalModelRequestFields`, the rules a request with thinking
//! on must keep (each broken one answers a `ValidationException`), and the reasoning
//! samples, streamed as AWS event-stream messages.

use bytes::Bytes;
use http::StatusCode;
use llm::aws::eventstream::encode_message;
use serde_json::Value;

use super::anthropic::{budget_rule, replayed_rule};
use super::{MockBody, json, sample, streamed};

/// The answer to a Converse request with thinking on; None for any other request.
pub(crate) fn thinking(
    model: &str,
    action: &str,
    body: &Value,
) -> Option<http::Response<MockBody>> {
    let thinking = &body["additionalModelRequestFields"]["thinking"];
    if thinking["type"] != "enabled" {
        return None;
    }
    if let Err(message) = rules(body, thinking) {
        return Some(super::bedrock::error(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            &message,
        ));
    }
    Some(match action {
        "converse-stream" => {
            let frames: Vec<u8> =
                String::from_utf8_lossy(&sample("bedrock/converse_stream_reasoning.jsonl"))
                    .lines()
                    .filter_map(|line| serde_json::from_str::<Value>(line).ok())
                    .flat_map(|event| {
                        let kind = event[":event-type"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string();
                        let headers = [
                            (":event-type", kind.as_str()),
                            (":content-type", "application/json"),
                            (":message-type", "event"),
                        ];
                        encode_message(&headers, event["payload"].to_string().as_bytes())
                    })
                    .collect();
            // Pieces that do not line up with messages, as TCP delivers them.
            let pieces = frames.chunks(89).map(Bytes::copy_from_slice).collect();
            streamed(pieces, model, "application/vnd.amazon.eventstream")
        }
        _ => json(
            StatusCode::OK,
            sample("bedrock/converse_response_reasoning.json"),
        ),
    })
}

/// Claude's thinking rules, as Bedrock reports what the model said about the request.
fn rules(body: &Value, thinking: &Value) -> Result<(), String> {
    let model_says =
        |message: String| format!("The model returned the following errors: {message}");
    let max_tokens = body["inferenceConfig"]["maxTokens"].as_u64();
    budget_rule(thinking, max_tokens).map_err(model_says)?;
    let signed = |block: &Value| {
        let reasoning = &block["reasoningContent"];
        reasoning["reasoningText"]["signature"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
            || reasoning["redactedContent"].is_string()
    };
    let first_kind = |turn: &Value| {
        let first = &turn["content"][0];
        first
            .as_object()
            .and_then(|o| o.keys().next().cloned())
            .unwrap_or_else(|| "nothing".into())
    };
    replayed_rule(body, |b| b.get("toolUse").is_some(), signed, first_kind).map_err(model_says)
}
