//! Extended thinking as Anthropic's Messages API checks and answers it: the rules a request
//! with thinking on must keep (each broken one answers Anthropic's 400), and the thinking
//! samples for the requests that keep them.

use http::{Response, StatusCode};
use serde_json::{Value, json};

use super::{MockBody, sample, sse_events, streamed};

/// The answer to a request with thinking on (`thinking.type` = `enabled`); None for any
/// other request, which the usual samples answer.
pub(crate) fn thinking(body: &Value) -> Option<Response<MockBody>> {
    let thinking = body.get("thinking")?;
    if thinking["type"] != "enabled" {
        return None;
    }
    if let Err(message) = thinking_rules(body, thinking) {
        let error = json!({"type": "error", "error": {"type": "invalid_request_error", "message": message}});
        return Some(super::json(
            StatusCode::BAD_REQUEST,
            error.to_string().into_bytes(),
        ));
    }
    Some(match body["stream"].as_bool() == Some(true) {
        true => streamed(
            sse_events(&sample("anthropic/messages_stream_thinking.sse")),
            body["model"].as_str().unwrap_or_default(),
            "text/event-stream",
        ),
        false => super::json(
            StatusCode::OK,
            sample("anthropic/messages_response_thinking.json"),
        ),
    })
}

fn thinking_rules(body: &Value, thinking: &Value) -> Result<(), String> {
    budget_rule(thinking, body["max_tokens"].as_u64())?;
    if body
        .get("temperature")
        .is_some_and(|t| t.as_f64() != Some(1.0))
    {
        return Err("`temperature` may only be set to 1 when thinking is enabled".into());
    }
    let signed = |block: &Value| match block["type"].as_str() {
        Some("thinking") => block["signature"].as_str().is_some_and(|s| !s.is_empty()),
        Some("redacted_thinking") => block["data"].is_string(),
        _ => false,
    };
    let first_kind = |turn: &Value| {
        turn["content"][0]["type"]
            .as_str()
            .unwrap_or("nothing")
            .to_string()
    };
    replayed_rule(body, |b| b["type"] == "tool_use", signed, first_kind)
}

/// The budget must be at least 1024 tokens and below the request's limit.
pub(crate) fn budget_rule(thinking: &Value, max_tokens: Option<u64>) -> Result<(), String> {
    let Some(budget) = thinking["budget_tokens"].as_u64() else {
        return Err("thinking.enabled.budget_tokens: Field required".into());
    };
    if budget < 1024 {
        return Err("thinking.enabled.budget_tokens: must be at least 1024".into());
    }
    if max_tokens.is_none_or(|max| max <= budget) {
        return Err("`max_tokens` must be greater than `thinking.budget_tokens`".into());
    }
    Ok(())
}

/// The last assistant turn that called tools (a block `is_tool` says is a call) must
/// start with its signed thinking (a block `signed` accepts), as it was returned.
pub(crate) fn replayed_rule(
    body: &Value,
    is_tool: impl Fn(&Value) -> bool,
    signed: impl Fn(&Value) -> bool,
    first_kind: impl Fn(&Value) -> String,
) -> Result<(), String> {
    let messages = body["messages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let last_tool_turn = messages.iter().enumerate().rev().find(|(_, m)| {
        m["role"] == "assistant"
            && m["content"]
                .as_array()
                .is_some_and(|c| c.iter().any(&is_tool))
    });
    match last_tool_turn {
        Some((index, turn)) if !signed(&turn["content"][0]) => Err(format!(
            "messages.{index}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{}`. With thinking enabled, the last assistant turn that used tools must start with its thinking block as it was returned",
            first_kind(turn)
        )),
        _ => Ok(()),
    }
}
