//! OpenAI `chat.completion.chunk` payloads for the translated streams, serialised from
//! borrowed fields instead of being built as JSON trees first: a stream emits one per
//! provider event, and the tree was most of the cost of translating it.
//!
//! Fields are declared in alphabetical order, the order serde_json's sorted maps gave the
//! tree-based rendering, so the bytes are the same as before.

use crate::usage::OpenAiUsage;
use serde::Serialize;

/// What identifies the chunks of one stream.
pub(crate) struct ChunkHead<'a> {
    pub id: &'a str,
    pub model: &'a str,
    pub created: u64,
}

#[derive(Serialize)]
struct Chunk<'a, D: Serialize> {
    choices: [Choice<'a, D>; 1],
    created: u64,
    id: &'a str,
    model: &'a str,
    object: &'static str,
}

#[derive(Serialize)]
struct Choice<'a, D: Serialize> {
    delta: &'a D,
    finish_reason: Option<&'a str>,
    index: u64,
    logprobs: Option<()>,
}

/// The last chunk of a stream that asked for usage: no choices, only `usage`.
#[derive(Serialize)]
struct UsageChunk<'a> {
    choices: [(); 0],
    created: u64,
    id: &'a str,
    model: &'a str,
    object: &'static str,
    usage: &'a OpenAiUsage,
}

const OBJECT: &str = "chat.completion.chunk";

impl<'a> ChunkHead<'a> {
    pub fn new(id: &'a str, model: &'a str, created: u64) -> Self {
        Self { id, model, created }
    }

    /// One choice's delta (and its finish reason, on its last chunk).
    pub fn choice(&self, index: u64, delta: &impl Serialize, finish: Option<&str>) -> String {
        let chunk = Chunk {
            choices: [Choice {
                delta,
                finish_reason: finish,
                index,
                logprobs: None,
            }],
            created: self.created,
            id: self.id,
            model: self.model,
            object: OBJECT,
        };
        // Plain structs, strings and JSON values always serialise.
        serde_json::to_string(&chunk).unwrap_or_default()
    }

    /// How a stream ends: the usage chunk when the client asked for one
    /// (`stream_options.include_usage`), then `[DONE]`.
    pub fn end(&self, usage: Option<&OpenAiUsage>) -> Vec<String> {
        let mut out = Vec::with_capacity(2);
        if let Some(usage) = usage {
            out.push(self.usage(usage));
        }
        out.push("[DONE]".to_string());
        out
    }

    /// The usage chunk.
    fn usage(&self, usage: &OpenAiUsage) -> String {
        let chunk = UsageChunk {
            choices: [],
            created: self.created,
            id: self.id,
            model: self.model,
            object: OBJECT,
            usage,
        };
        serde_json::to_string(&chunk).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const HEAD: ChunkHead<'static> = ChunkHead {
        id: "msg_1",
        model: "claude \"x\"",
        created: 7,
    };

    #[test]
    fn choice_chunks_are_the_bytes_the_json_tree_gave() {
        for (delta, finish) in [
            (json!({ "role": "assistant", "content": "" }), None),
            (json!({ "content": "h\u{e9}llo \"q\"\n" }), None),
            (json!({}), Some("stop")),
            (
                json!({ "tool_calls": [{ "index": 0, "function": { "arguments": "{\"a\":" } }] }),
                None,
            ),
        ] {
            let tree = json!({
                "id": HEAD.id,
                "object": "chat.completion.chunk",
                "created": HEAD.created,
                "model": HEAD.model,
                "choices": [{ "index": 2, "delta": delta, "logprobs": null, "finish_reason": finish }],
            })
            .to_string();
            assert_eq!(HEAD.choice(2, &delta, finish), tree);
        }
    }

    #[test]
    fn usage_chunks_are_the_bytes_the_json_tree_gave() {
        let usage = crate::Usage {
            input: 3,
            output: 2,
            cached: 1,
            reasoning: 0,
        }
        .to_openai();
        let tree = json!({
            "id": HEAD.id,
            "object": "chat.completion.chunk",
            "created": HEAD.created,
            "model": HEAD.model,
            "choices": [],
            "usage": {
                "prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5,
                "prompt_tokens_details": { "cached_tokens": 1 },
                "completion_tokens_details": { "reasoning_tokens": 0 },
            },
        })
        .to_string();
        assert_eq!(HEAD.usage(&usage), tree);
        assert_eq!(HEAD.end(Some(&usage)), [tree, "[DONE]".to_string()]);
        assert_eq!(HEAD.end(None), ["[DONE]"]);
    }
}
