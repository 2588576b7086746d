//! Token usage, normalised across providers.

use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input: u64,
    pub output: u64,
    /// Input tokens served from the provider's prompt cache.
    pub cached: u64,
    /// Output tokens spent on reasoning.
    pub reasoning: u64,
    /// Input tokens written to the provider's prompt cache (Anthropic, Bedrock); part of
    /// `input`, like `cached`.
    pub cache_write: u64,
}

/// OpenAI's `usage` object, as translated answers and streams report usage to OpenAI
/// clients. `prompt_tokens` counts the whole prompt, cached parts included. Fields are in
/// alphabetical order, the order the JSON trees these replaced were written in.
#[derive(Debug, Serialize)]
pub(crate) struct OpenAiUsage {
    /// Not OpenAI's: prompt tokens written to the cache, as LiteLLM reports them for
    /// providers that count them; only when there are any.
    #[serde(skip_serializing_if = "is_zero")]
    cache_creation_input_tokens: u64,
    completion_tokens: u64,
    completion_tokens_details: ReasoningTokens,
    prompt_tokens: u64,
    prompt_tokens_details: CachedTokens,
    total_tokens: u64,
}

#[derive(Debug, Serialize)]
struct ReasoningTokens {
    reasoning_tokens: u64,
}

#[derive(Debug, Serialize)]
struct CachedTokens {
    cached_tokens: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Usage {
    pub(crate) fn to_openai(self) -> OpenAiUsage {
        OpenAiUsage {
            cache_creation_input_tokens: self.cache_write,
            completion_tokens: self.output,
            completion_tokens_details: ReasoningTokens {
                reasoning_tokens: self.reasoning,
            },
            prompt_tokens: self.input,
            prompt_tokens_details: CachedTokens {
                cached_tokens: self.cached,
            },
            total_tokens: self.input + self.output,
        }
    }
}

impl Usage {
    /// From an OpenAI `usage` object (responses and the final stream chunk).
    pub fn from_openai(usage: &Value) -> Option<Self> {
        let input = usage.get("prompt_tokens")?.as_u64()?;
        let output = usage
            .get("completion_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let nested = |outer: &str, inner: &str| {
            usage
                .get(outer)
                .and_then(|d| d.get(inner))
                .and_then(Value::as_u64)
                .unwrap_or(0)
        };
        Some(Self {
            input,
            output,
            cached: nested("prompt_tokens_details", "cached_tokens"),
            reasoning: nested("completion_tokens_details", "reasoning_tokens"),
            cache_write: usage
                .get("cache_creation_input_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(0),
        })
    }
}

impl Usage {
    /// From a Bedrock Converse `usage` object (the response and the stream's `metadata`
    /// event). Like Anthropic, Bedrock leaves cache reads and writes out of `inputTokens`
    /// (its `totalTokens` includes them); they are added back so `input` is the whole prompt.
    pub fn from_bedrock(usage: &Value) -> Option<Self> {
        let get = |k: &str| usage.get(k).and_then(Value::as_u64).unwrap_or(0);
        let input = usage.get("inputTokens")?.as_u64()?;
        let (cached, cache_write) = (get("cacheReadInputTokens"), get("cacheWriteInputTokens"));
        Some(Self {
            input: input + cached + cache_write,
            output: get("outputTokens"),
            cached,
            reasoning: 0,
            cache_write,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_openai_usage_with_details() {
        let v: Value = serde_json::from_str(r#"{"prompt_tokens":1418,"completion_tokens":12,"total_tokens":1430,"prompt_tokens_details":{"cached_tokens":1280},"completion_tokens_details":{"reasoning_tokens":3}}"#).unwrap();
        assert_eq!(
            Usage::from_openai(&v),
            Some(Usage {
                input: 1418,
                output: 12,
                cached: 1280,
                reasoning: 3,
                cache_write: 0
            })
        );
        assert_eq!(Usage::from_openai(&Value::Null), None);
    }
}
