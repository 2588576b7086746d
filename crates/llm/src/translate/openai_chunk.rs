//! OpenAI `chat.completion.chunk` payloads for the translated streams, written from the
//! parts that change (the delta, the finish reason) around the parts that do not, rendered
//! once per stream: a stream emits one chunk per provider event, and building each as a
//! JSON tree was most of the cost of translating it.
//!
//! Fields are written in alphabetical order, the order serde_json's sorted maps gave the
//! tree-based rendering, so the bytes are the same as before.

use std::io::Write as _;
use std::sync::OnceLock;

use serde::Serialize;

use crate::usage::OpenAiUsage;

/// What follows a choice's last field, before the head's fields.
const CHOICE_END: &str = r#","logprobs":null}],"#;

/// What identifies the chunks of one stream, with the part of every chunk it decides
/// rendered once: `"created":…,"id":…,"model":…,"object":"chat.completion.chunk"`.
/// Rendered when the first chunk is written, and again only after the provider changes
/// the id or model (it names them at the start of the stream, before any chunk).
#[derive(Debug)]
pub(crate) struct ChunkHead {
    id: String,
    model: String,
    created: u64,
    fields: OnceLock<String>,
}

impl ChunkHead {
    pub fn new(id: &str, model: &str, created: u64) -> Self {
        Self {
            id: id.to_string(),
            model: model.to_string(),
            created,
            fields: OnceLock::new(),
        }
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    pub fn created(&self) -> u64 {
        self.created
    }

    pub fn set_id(&mut self, id: &str) {
        if self.id != id {
            self.id = id.to_string();
            self.fields = OnceLock::new();
        }
    }

    pub fn set_model(&mut self, model: &str) {
        if self.model != model {
            self.model = model.to_string();
            self.fields = OnceLock::new();
        }
    }

    fn fields(&self) -> &str {
        self.fields.get_or_init(|| {
            let mut out = Vec::with_capacity(self.id.len() + self.model.len() + 72);
            let _ = write!(out, "\"created\":{},\"id\":", self.created);
            // Strings always serialise.
            let _ = serde_json::to_writer(&mut out, &self.id);
            out.extend_from_slice(br#","model":"#);
            let _ = serde_json::to_writer(&mut out, &self.model);
            out.extend_from_slice(br#","object":"chat.completion.chunk""#);
            String::from_utf8(out).unwrap_or_default()
        })
    }

    /// One choice's delta (and its finish reason, on its last chunk).
    pub fn choice(&self, index: u64, delta: &impl Serialize, finish: Option<&str>) -> String {
        let mut out = Vec::with_capacity(self.fields().len() + 128);
        out.extend_from_slice(br#"{"choices":[{"delta":"#);
        // Plain structs, strings and JSON values always serialise.
        let _ = serde_json::to_writer(&mut out, delta);
        out.extend_from_slice(br#","finish_reason":"#);
        let _ = serde_json::to_writer(&mut out, &finish);
        out.extend_from_slice(br#","index":"#);
        out.extend_from_slice(index.to_string().as_bytes());
        self.close(out)
    }

    /// The chunk of choice 0 carrying one piece of text: most chunks of a stream, so
    /// written without a delta struct.
    pub fn text(&self, text: &str) -> String {
        // Strings always serialise.
        let token = serde_json::to_string(text).unwrap_or_default();
        self.text_token(&token)
    }

    /// `text` with the text given as a JSON string token (quotes and escapes included),
    /// written as it is.
    pub fn text_token(&self, token: &str) -> String {
        let mut out = String::with_capacity(self.fields().len() + token.len() + 96);
        self.write_text_token(token, &mut out);
        out
    }

    /// `text_token`, appended to `out`. Every piece is text already, so the chunk is
    /// built as a `String` and never checked as UTF-8 again.
    pub fn write_text_token(&self, token: &str, out: &mut String) {
        out.push_str(r#"{"choices":[{"delta":{"content":"#);
        out.push_str(token);
        out.push_str(r#"},"finish_reason":null,"index":0"#);
        out.push_str(CHOICE_END);
        out.push_str(self.fields());
        out.push('}');
    }

    /// The end of a choice chunk: the choice's last field, then the head's fields.
    fn close(&self, mut out: Vec<u8>) -> String {
        out.extend_from_slice(CHOICE_END.as_bytes());
        out.extend_from_slice(self.fields().as_bytes());
        out.push(b'}');
        String::from_utf8(out).unwrap_or_default()
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

    /// The usage chunk: no choices, only `usage`.
    fn usage(&self, usage: &OpenAiUsage) -> String {
        let mut out = Vec::with_capacity(self.fields().len() + 256);
        out.extend_from_slice(br#"{"choices":[],"#);
        out.extend_from_slice(self.fields().as_bytes());
        out.extend_from_slice(br#","usage":"#);
        let _ = serde_json::to_writer(&mut out, usage);
        out.push(b'}');
        String::from_utf8(out).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn tree(head: &ChunkHead, choices: Value, usage: Option<Value>) -> String {
        let mut chunk = json!({
            "id": head.id,
            "object": "chat.completion.chunk",
            "created": head.created,
            "model": head.model,
            "choices": choices,
        });
        if let Some(usage) = usage {
            chunk["usage"] = usage;
        }
        chunk.to_string()
    }

    #[test]
    fn choice_chunks_are_the_bytes_the_json_tree_gave() {
        let mut head = ChunkHead::new("msg_1", "claude \"x\"", 7);
        for (delta, finish) in [
            (json!({ "role": "assistant", "content": "" }), None),
            (json!({ "content": "h\u{e9}llo \"q\"\n" }), None),
            (json!({}), Some("stop")),
            (
                json!({ "tool_calls": [{ "index": 0, "function": { "arguments": "{\"a\":" } }] }),
                None,
            ),
        ] {
            let expected = tree(
                &head,
                json!([{ "index": 2, "delta": delta, "logprobs": null, "finish_reason": finish }]),
                None,
            );
            assert_eq!(head.choice(2, &delta, finish), expected);
        }
        head.set_id("msg_2");
        head.set_model("m\u{e9}");
        for text in ["", "plain", "quote \" \\ \n\t \u{1} \u{1F600}"] {
            let expected = tree(
                &head,
                json!([{ "index": 0, "delta": { "content": text }, "logprobs": null, "finish_reason": null }]),
                None,
            );
            assert_eq!(head.text(text), expected);
        }
    }

    #[test]
    fn usage_chunks_are_the_bytes_the_json_tree_gave() {
        let head = ChunkHead::new("msg_1", "claude", 7);
        let usage = crate::Usage {
            input: 3,
            output: 2,
            cached: 1,
            reasoning: 0,
            cache_write: 0,
        }
        .to_openai();
        let expected = tree(
            &head,
            json!([]),
            Some(json!({
                "prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5,
                "prompt_tokens_details": { "cached_tokens": 1 },
                "completion_tokens_details": { "reasoning_tokens": 0 },
            })),
        );
        assert_eq!(head.usage(&usage), expected);
        assert_eq!(head.end(Some(&usage)), [expected, "[DONE]".to_string()]);
        assert_eq!(head.end(None), ["[DONE]"]);
    }
}

/// The tool calls of a stream being rebuilt as Chat Completions chunks: the provider's
/// block index of each, its tool-call index in the chunks, and whether any of its
/// arguments were sent. A call whose block ends without arguments (a tool that takes
/// none) gets `{}`, as OpenAI sends and as clients that parse the arguments expect.
#[derive(Debug, Default)]
pub(crate) struct StreamedToolCalls(Vec<(u64, usize, bool)>);

impl StreamedToolCalls {
    /// A tool-use block opens: its tool-call index.
    pub fn open(&mut self, block: u64) -> usize {
        let index = self.0.len();
        self.0.push((block, index, false));
        index
    }

    /// The tool-call index of `block` for an arguments fragment, which is noted as sent
    /// when it is not empty.
    pub fn arguments(&mut self, block: u64, fragment: &str) -> Option<usize> {
        let call = self.0.iter_mut().find(|(b, _, _)| *b == block)?;
        call.2 |= !fragment.is_empty();
        Some(call.1)
    }

    /// Whether a call is open that has sent no arguments yet (so a block's end matters).
    pub fn any_without_arguments(&self) -> bool {
        self.0.iter().any(|(_, _, sent)| !sent)
    }

    /// `block` ends: the tool-call index to send `{}` for, when it sent no arguments.
    pub fn close(&mut self, block: u64) -> Option<usize> {
        let call = self.0.iter_mut().find(|(b, _, _)| *b == block)?;
        let empty = !call.2;
        call.2 = true;
        empty.then_some(call.1)
    }
}
