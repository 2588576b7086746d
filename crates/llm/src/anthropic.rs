//! Anthropic Messages, for clients and providers that both speak it: checked, model pinned,
//! otherwise passed untouched. Streams carry usage in `message_start` (input) and
//! `message_delta` (final output).

use std::borrow::Cow;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;

use crate::error::LlmError;
use crate::json_members;
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

/// Anthropic's token counts, as its answers and its `message_start` and `message_delta`
/// events carry them.
#[derive(Deserialize, Default)]
pub(crate) struct AnthropicUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
}

impl AnthropicUsage {
    /// The counts as the gateway keeps them; none without `input_tokens`. Anthropic counts
    /// cached prompt tokens apart from `input_tokens`; they are added back so `input` means
    /// the whole prompt everywhere.
    pub(crate) fn normalised(&self) -> Option<Usage> {
        let cached = self.cache_read_input_tokens.unwrap_or(0);
        let cache_write = self.cache_creation_input_tokens.unwrap_or(0);
        Some(Usage {
            input: self.input_tokens? + cached + cache_write,
            output: self.output_tokens.unwrap_or(0),
            cached,
            reasoning: 0,
            cache_write,
        })
    }
}

/// What usage accounting reads of an answer (or of `message_start`'s message); the rest
/// (the content, the text) is skipped by the parser rather than built into a tree.
#[derive(Deserialize)]
struct Facts<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    usage: Option<AnthropicUsage>,
}

/// The model and usage of a non-streamed response.
pub fn response_facts(body: &[u8]) -> (Option<String>, Option<Usage>) {
    match json_members::from_bytes::<Facts<'_>>(body) {
        Ok(facts) => (
            facts.model.map(Cow::into_owned),
            facts.usage.as_ref().and_then(AnthropicUsage::normalised),
        ),
        Err(_) => (None, None),
    }
}

/// The parts of a stream event usage accounting reads.
#[derive(Deserialize)]
struct StreamEvent<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    message: Option<Facts<'a>>,
    #[serde(default)]
    usage: Option<AnthropicUsage>,
}

/// Folds one stream event into what is known so far.
pub fn observe_event(
    data: impl AsRef<[u8]>,
    model: &mut Option<String>,
    usage: &mut Option<Usage>,
) {
    let Ok(event) = json_members::from_bytes::<StreamEvent<'_>>(data.as_ref()) else {
        return;
    };
    match (event.kind.as_ref(), event.message, event.usage) {
        ("message_start", Some(message), _) => {
            if let Some(m) = message.model {
                *model = Some(m.into_owned());
            }
            if let Some(u) = message.usage.as_ref().and_then(AnthropicUsage::normalised) {
                *usage = Some(u);
            }
        }
        ("message_delta", _, Some(delta)) => {
            let mut merged = usage.unwrap_or_default();
            if let Some(output) = delta.output_tokens {
                merged.output = output;
            }
            if let Some(full) = delta.normalised() {
                merged.input = full.input;
                merged.cached = full.cached;
            }
            *usage = Some(merged);
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
    fn stream_usage_merges_start_and_delta_counts() {
        let (mut model, mut usage) = (None, None);
        for data in [
            r#"{"type":"message_start","message":{"id":"m1","model":"claude-x","content":[],"usage":{"input_tokens":10,"cache_read_input_tokens":4,"output_tokens":1,"service_tier":"standard"}}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}"#,
            "not json",
            r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":7}}"#,
        ] {
            observe_event(data, &mut model, &mut usage);
        }
        assert_eq!(model.as_deref(), Some("claude-x"));
        let usage = usage.unwrap();
        assert_eq!((usage.input, usage.output, usage.cached), (14, 7, 4));
        let (model, usage) = response_facts(b"<html>");
        assert_eq!((model, usage), (None, None));
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
