//! Anthropic Messages, for clients and providers that both speak it: checked, model pinned,
//! otherwise passed untouched. Streams carry usage in `message_start` (input) and
//! `message_delta` (final output).

use bytes::Bytes;
use serde_json::Value;

use crate::error::LlmError;
use crate::openai::{PreparedChat, prepare};
use crate::usage::Usage;

/// The API version sent when the client names none (the one the SDKs send).
pub const DEFAULT_VERSION: &str = "2023-06-01";

/// Checks a Messages body: the shared checks, plus `max_tokens`, which Anthropic requires.
pub fn prepare_messages(
    body: Bytes,
    backend_model: Option<&str>,
) -> Result<PreparedChat, LlmError> {
    prepare(body, backend_model, |object| {
        match object.get("max_tokens") {
            Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n > 0) => Ok(()),
            None | Some(Value::Null) => Err(LlmError::MissingField {
                field: "max_tokens",
                why: "the Messages API needs an upper bound on output tokens",
            }),
            Some(_) => Err(LlmError::InvalidField {
                field: "max_tokens",
                why: "it must be a positive whole number".into(),
            }),
        }
    })
}

/// The model and usage of a non-streamed response.
pub fn response_facts(body: &[u8]) -> (Option<String>, Option<Usage>) {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => (
            v.get("model").and_then(Value::as_str).map(str::to_string),
            v.get("usage").and_then(Usage::from_anthropic),
        ),
        Err(_) => (None, None),
    }
}

/// Folds one stream event into what is known so far.
pub fn observe_event(
    data: impl AsRef<[u8]>,
    model: &mut Option<String>,
    usage: &mut Option<Usage>,
) {
    let Ok(v) = serde_json::from_slice::<Value>(data.as_ref()) else {
        return;
    };
    match v.get("type").and_then(Value::as_str) {
        Some("message_start") => {
            let message = &v["message"];
            if let Some(m) = message.get("model").and_then(Value::as_str) {
                *model = Some(m.to_string());
            }
            if let Some(u) = message.get("usage").and_then(Usage::from_anthropic) {
                *usage = Some(u);
            }
        }
        Some("message_delta") => {
            if let Some(delta) = v.get("usage") {
                let mut merged = usage.unwrap_or_default();
                if let Some(output) = delta.get("output_tokens").and_then(Value::as_u64) {
                    merged.output = output;
                }
                if let Some(full) = Usage::from_anthropic(delta) {
                    merged.input = full.input;
                    merged.cached = full.cached;
                }
                *usage = Some(merged);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;
    use crate::sse::SseDecoder;

    #[test]
    fn max_tokens_is_required() {
        let e = prepare_messages(
            Bytes::from(r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#),
            None,
        )
        .unwrap_err();
        assert!(matches!(
            e,
            LlmError::MissingField {
                field: "max_tokens",
                ..
            }
        ));
        let ok = prepare_messages(
            Bytes::from(r#"{"messages":[{"role":"user","content":"hi"}],"max_tokens":64}"#),
            Some("claude-sonnet-4-5"),
        )
        .unwrap();
        assert_eq!(ok.model, "claude-sonnet-4-5");
    }

    #[test]
    fn usage_from_the_sample_stream_and_response() {
        let mut decoder = SseDecoder::default();
        let (mut model, mut usage) = (None, None);
        for event in decoder.feed(&fixture("anthropic/messages_stream.sse")) {
            observe_event(&event.data, &mut model, &mut usage);
        }
        assert_eq!(model.as_deref(), Some("claude-sonnet-4-5-20250929"));
        let usage = usage.unwrap();
        assert_eq!(
            (usage.input, usage.output, usage.cached),
            (412 + 1536, 74, 1536)
        );
        let (model, usage) = response_facts(&fixture("anthropic/messages_response.json"));
        assert!(model.is_some());
        assert_eq!(usage.unwrap().output, 19);
    }
}
