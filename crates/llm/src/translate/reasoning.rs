//! Reasoning ("extended thinking") requests across APIs.
//!
//! Clients ask for it two ways: OpenAI's `reasoning_effort` (a level), or Anthropic's
//! `thinking` object (a token budget), which Anthropic clients send and LiteLLM users put
//! in Chat requests too. Anthropic and Bedrock's Claude models take the object; Gemini
//! takes a budget. A level becomes a budget by the provider's own table (Anthropic's is
//! LiteLLM's, Gemini's is the one Google documents for its OpenAI-compatible endpoint).
//!
//! On the way back, thinking travels in the Chat answers as LiteLLM writes it:
//! `reasoning_content` (the text) and `thinking_blocks` (the blocks with their
//! signatures, which a client sends back on its assistant messages so a tool loop keeps
//! its thinking).

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::LlmError;

/// What the client asked for.
#[derive(Debug)]
pub struct Thinking<'a> {
    /// The `thinking` object as Anthropic takes it: the client's own, or one built from a
    /// level.
    pub object: Cow<'a, RawValue>,
    /// Tokens thinking may spend, when the request sets a budget.
    pub budget: Option<u64>,
    /// False for `{"type":"disabled"}` / `reasoning_effort: "none"`.
    pub enabled: bool,
}

#[derive(Deserialize)]
struct ThinkingObject<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    budget_tokens: Option<u64>,
}

/// Which provider's table turns a level into a budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budgets {
    Anthropic,
    Gemini,
}

const EFFORTS: &str = "none, minimal, low, medium, high, xhigh, max";

/// The thinking a request asks for: its `thinking` object when it has one (it is the more
/// precise), else its `reasoning_effort`; None when it asks for neither.
pub fn requested<'a>(
    thinking: Option<&'a RawValue>,
    effort: Option<&str>,
    budgets: Budgets,
) -> Result<Option<Thinking<'a>>, LlmError> {
    if let Some(raw) = thinking.filter(|raw| raw.get() != "null") {
        return from_object(raw).map(Some);
    }
    let Some(effort) = effort else {
        return Ok(None);
    };
    let budget = match (effort, budgets) {
        ("none", _) => None,
        ("minimal" | "low", _) => Some(1024),
        ("medium", Budgets::Anthropic) => Some(2048),
        ("high", Budgets::Anthropic) => Some(4096),
        ("xhigh", Budgets::Anthropic) => Some(8192),
        ("max", Budgets::Anthropic) => Some(16384),
        ("medium", Budgets::Gemini) => Some(8192),
        // 24576 is the most every Gemini 2.5 model takes.
        ("high" | "xhigh" | "max", Budgets::Gemini) => Some(24576),
        (other, _) => {
            return Err(LlmError::InvalidField {
                field: "reasoning_effort",
                why: format!("'{other}' is not one of {EFFORTS}"),
            });
        }
    };
    let text = match budget {
        Some(tokens) => format!(r#"{{"type":"enabled","budget_tokens":{tokens}}}"#),
        None => r#"{"type":"disabled"}"#.to_string(),
    };
    // Built from a number: always valid JSON.
    let object = RawValue::from_string(text).map_err(|e| LlmError::InvalidField {
        field: "reasoning_effort",
        why: e.to_string(),
    })?;
    Ok(Some(Thinking {
        object: Cow::Owned(object),
        budget,
        enabled: budget.is_some(),
    }))
}

/// A request tree's `thinking` member as raw JSON, for [`requested`].
pub fn raw_thinking(request: &serde_json::Value) -> Result<Option<Box<RawValue>>, LlmError> {
    request
        .get("thinking")
        .filter(|t| !t.is_null())
        .map(serde_json::value::to_raw_value)
        .transpose()
        .map_err(|e| LlmError::InvalidField {
            field: "thinking",
            why: e.to_string(),
        })
}

fn from_object(raw: &RawValue) -> Result<Thinking<'_>, LlmError> {
    let invalid = |why: String| LlmError::InvalidField {
        field: "thinking",
        why,
    };
    let object: ThinkingObject<'_> = serde_json::from_str(raw.get()).map_err(|e| {
        invalid(format!(
            "it must be an object like {{\"type\": \"enabled\", \"budget_tokens\": 2048}} ({e})"
        ))
    })?;
    match (object.kind.as_ref(), object.budget_tokens) {
        ("enabled", None) => Err(invalid(
            "type 'enabled' needs budget_tokens (at least 1024)".into(),
        )),
        // `between_tools` is thinking off too (progress notes between tool calls aside).
        ("disabled" | "between_tools", _) => Ok(Thinking {
            object: Cow::Borrowed(raw),
            budget: None,
            enabled: false,
        }),
        // `enabled` with its budget, or a newer type (such as `adaptive`) that the
        // provider reads itself.
        (_, budget) => Ok(Thinking {
            object: Cow::Borrowed(raw),
            budget,
            enabled: true,
        }),
    }
}

/// Puts an answer's thinking blocks (Anthropic's shape) on a Chat message, as LiteLLM does:
/// `thinking_blocks`, and their text joined as `reasoning_content`. Nothing when there are
/// none.
pub fn put_on_message(message: &mut serde_json::Value, blocks: Vec<serde_json::Value>) {
    if blocks.is_empty() {
        return;
    }
    let text: String = blocks
        .iter()
        .filter_map(|b| b["thinking"].as_str())
        .collect();
    message["reasoning_content"] = serde_json::Value::String(text);
    message["thinking_blocks"] = serde_json::Value::Array(blocks);
}

/// Anthropic refuses thinking beside a forced tool choice, a changed `temperature` or
/// `top_k`, and a `top_p` below 0.95. Thinking the gateway was asked for is given up for a
/// forced tool (the client named the tool it needs); the sampling knobs are what is given
/// up otherwise (see `sampling_allowed`).
pub fn unless_forced_tool(
    thinking: Option<Thinking<'_>>,
    forced_tool: bool,
) -> Option<Thinking<'_>> {
    thinking.filter(|t| !(forced_tool && t.enabled))
}

/// Whether a sampling knob may go to Anthropic beside this thinking: `temperature` and
/// `top_k` only without thinking, `top_p` also from 0.95 up.
pub fn sampling_allowed(thinking: Option<&Thinking<'_>>, knob: &str, value: Option<f64>) -> bool {
    if !thinking.is_some_and(|t| t.enabled) {
        return true;
    }
    knob == "top_p" && value.is_some_and(|p| p >= 0.95)
}

/// Anthropic counts thinking inside `max_tokens`, and refuses a budget that does not fit
/// below it: a limit the budget would use up is raised by the budget, so the answer keeps
/// the room the client gave it.
pub fn max_tokens_with(max_tokens: u64, thinking: Option<&Thinking<'_>>) -> u64 {
    match thinking.and_then(|t| t.budget) {
        Some(budget) if max_tokens <= budget => budget + max_tokens,
        _ => max_tokens,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_string()).unwrap()
    }

    #[test]
    fn a_thinking_object_wins_over_a_level_and_goes_on_as_it_is() {
        let object = raw(r#"{"type":"enabled","budget_tokens":3000}"#);
        let thinking = requested(Some(&object), Some("low"), Budgets::Anthropic)
            .unwrap()
            .unwrap();
        assert_eq!(thinking.object.get(), object.get());
        assert_eq!((thinking.budget, thinking.enabled), (Some(3000), true));

        let adaptive = raw(r#"{"type":"adaptive"}"#);
        let thinking = requested(Some(&adaptive), None, Budgets::Anthropic)
            .unwrap()
            .unwrap();
        assert_eq!((thinking.budget, thinking.enabled), (None, true));
        assert_eq!(thinking.object.get(), adaptive.get());
    }

    #[test]
    fn levels_become_each_providers_budget() {
        let budget = |effort, budgets| {
            requested(None, Some(effort), budgets)
                .unwrap()
                .unwrap()
                .budget
        };
        assert_eq!(budget("low", Budgets::Anthropic), Some(1024));
        assert_eq!(budget("medium", Budgets::Anthropic), Some(2048));
        assert_eq!(budget("high", Budgets::Anthropic), Some(4096));
        assert_eq!(budget("medium", Budgets::Gemini), Some(8192));
        assert_eq!(budget("high", Budgets::Gemini), Some(24576));
        let high = requested(None, Some("high"), Budgets::Anthropic)
            .unwrap()
            .unwrap();
        assert_eq!(
            high.object.get(),
            r#"{"type":"enabled","budget_tokens":4096}"#
        );
        let none = requested(None, Some("none"), Budgets::Anthropic)
            .unwrap()
            .unwrap();
        assert!(!none.enabled);
        assert_eq!(none.object.get(), r#"{"type":"disabled"}"#);
        assert!(requested(None, None, Budgets::Anthropic).unwrap().is_none());
    }

    #[test]
    fn unknown_levels_and_budgetless_enabled_objects_are_named() {
        let error = requested(None, Some("maximum"), Budgets::Anthropic).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("'maximum' is not one of none, minimal")
        );
        let object = raw(r#"{"type":"enabled"}"#);
        let error = requested(Some(&object), None, Budgets::Anthropic).unwrap_err();
        assert!(error.to_string().contains("`thinking`"), "{error}");
        assert!(error.to_string().contains("budget_tokens"), "{error}");
        let object = raw(r#""on""#);
        assert!(requested(Some(&object), None, Budgets::Anthropic).is_err());
    }

    #[test]
    fn thinking_gives_way_to_a_forced_tool_and_takes_the_sampling_knobs_anthropic_refuses() {
        let on = || requested(None, Some("low"), Budgets::Anthropic).unwrap();
        assert!(unless_forced_tool(on(), true).is_none());
        assert!(unless_forced_tool(on(), false).is_some());
        let off = requested(None, Some("none"), Budgets::Anthropic).unwrap();
        assert!(
            unless_forced_tool(off, true).is_some(),
            "an explicit off stays"
        );
        let thinking = on().unwrap();
        assert!(!sampling_allowed(Some(&thinking), "temperature", Some(0.2)));
        assert!(!sampling_allowed(Some(&thinking), "top_k", Some(5.0)));
        assert!(!sampling_allowed(Some(&thinking), "top_p", Some(0.5)));
        assert!(sampling_allowed(Some(&thinking), "top_p", Some(0.97)));
        assert!(sampling_allowed(None, "temperature", Some(0.2)));
        let between = raw(r#"{"type":"between_tools"}"#);
        let between = requested(Some(&between), None, Budgets::Anthropic)
            .unwrap()
            .unwrap();
        assert!(!between.enabled);
        assert!(sampling_allowed(Some(&between), "temperature", Some(0.2)));
        let max = requested(None, Some("max"), Budgets::Anthropic)
            .unwrap()
            .unwrap();
        assert_eq!(max.budget, Some(16384));
    }

    #[test]
    fn max_tokens_grows_only_when_the_budget_would_use_it_up() {
        let thinking = requested(None, Some("high"), Budgets::Anthropic)
            .unwrap()
            .unwrap();
        assert_eq!(max_tokens_with(1000, Some(&thinking)), 5096);
        assert_eq!(max_tokens_with(16000, Some(&thinking)), 16000);
        assert_eq!(max_tokens_with(1000, None), 1000);
    }
}
