//! OpenAI Chat Completions clients on an Anthropic Messages provider: the request, the
//! response, the stream and errors, each translated the way it travels.

use std::sync::LazyLock;

use memchr::memmem;
use serde_json::{Value, json};

use crate::anthropic::AnthropicUsage;
use crate::sse::Event;
use crate::translate::openai_chunk::ChunkHead;
use crate::usage::Usage;

/// Anthropic requires `max_tokens`; OpenAI clients often send none.
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

mod request;
mod response;

pub use request::{MessagesRequest, MessagesTarget, chat_to_messages};
pub use response::{ChatAnswer, message_to_chat, message_to_chat_with};

/// Anthropic's `stop_reason` as OpenAI's `finish_reason`.
pub fn finish_reason(stop_reason: Option<&str>) -> &'static str {
    match stop_reason {
        Some("max_tokens" | "model_context_window_exceeded") => "length",
        Some("tool_use") => "tool_calls",
        Some("refusal") => "content_filter",
        _ => "stop",
    }
}

/// An Anthropic error body (`{"type":"error","error":{...}}`) in OpenAI's shape.
pub fn error_to_openai(body: &Value) -> Value {
    let error = &body["error"];
    crate::error::openai_error(
        error["message"]
            .as_str()
            .unwrap_or("the provider reported an error"),
        error["type"].as_str().unwrap_or("api_error"),
        None,
        None,
    )
}

/// Turns an Anthropic event stream into OpenAI chunks, event by event.
#[derive(Debug)]
pub struct StreamTranslator {
    head: ChunkHead,
    include_usage: bool,
    /// Anthropic content-block index -> OpenAI tool-call index.
    tool_calls: super::openai_chunk::StreamedToolCalls,
    pub usage: Option<Usage>,
    /// `message_delta` (the stop reason) has been seen: the answer is whole.
    stopped: bool,
    done: bool,
    /// The open thinking block's text, sent with its signature as a whole block when the
    /// signature comes (the client sends it back whole).
    thinking: String,
    /// Thinking blocks sent so far: each carries its position as `index`, which the OpenAI
    /// SDK's stream helper needs to gather list entries.
    thinking_blocks: u64,
    /// The answer to a `json_schema` request: the forced tool's input streams as content.
    structured: bool,
}

/// The delta of a stream's first chunk (fields in the order the JSON trees gave them).
#[derive(serde::Serialize)]
struct RoleDelta {
    content: &'static str,
    role: &'static str,
}

/// A text delta's text as the JSON string the provider sent, when the event is exactly
/// Anthropic's text delta (`{"type":"content_block_delta","index":N,"delta":{"type":
/// "text_delta","text":"…"}}`, the form nearly every event of a stream takes): the string
/// goes into the client's chunk as it is, escapes and all, without being read. None for
/// anything else, which is then parsed.
fn raw_text_delta(data: &str) -> Option<&str> {
    const HEAD: &str = r#"{"type":"content_block_delta","index":"#;
    const DELTA: &str = r#","delta":{"type":"text_delta","text":"#;
    let rest = data.strip_prefix(HEAD)?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let token = rest
        .get(digits..)?
        .strip_prefix(DELTA)?
        .strip_suffix("}}")?;
    // One whole string: it opens here and its closing quote is its last byte. Control
    // bytes (invalid in JSON text) send the event to the parser, which refuses it.
    let whole = token.starts_with('"')
        && digits > 0
        && crate::json_members::string_end(token.as_bytes(), 0) == Some(token.len() - 1)
        && !token.bytes().any(|b| b < 0x20);
    whole.then_some(token)
}

/// The parts of a `content_block_delta` event a text delta needs, borrowed from the event.
#[derive(serde::Deserialize)]
struct DeltaEvent<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    delta: TextDelta<'a>,
}

#[derive(serde::Deserialize)]
struct TextDelta<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(default, borrow)]
    text: Option<std::borrow::Cow<'a, str>>,
}

/// What the translator reads of an event other than a text delta, borrowed from the event.
/// An event it cannot read this way (a field of an unexpected type) is read as a tree.
#[derive(serde::Deserialize)]
struct EventKind<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(default, borrow)]
    content_block: Option<BlockKind<'a>>,
    /// `message_start`'s message.
    #[serde(default, borrow)]
    message: Option<StartedMessage<'a>>,
    /// `message_delta`'s delta.
    #[serde(default, borrow)]
    delta: Option<StopDelta<'a>>,
    /// `message_delta`'s usage.
    #[serde(default)]
    usage: Option<OutputUsage>,
}

#[derive(serde::Deserialize, Default)]
struct StartedMessage<'a> {
    #[serde(default, borrow)]
    id: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    model: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    usage: Option<AnthropicUsage>,
}

#[derive(serde::Deserialize)]
struct StopDelta<'a> {
    #[serde(default, borrow)]
    stop_reason: Option<std::borrow::Cow<'a, str>>,
}

#[derive(serde::Deserialize)]
struct OutputUsage {
    #[serde(default)]
    output_tokens: Option<u64>,
}

#[derive(serde::Deserialize)]
struct BlockKind<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
}

impl StreamTranslator {
    pub fn new(model: &str, created: u64, include_usage: bool) -> Self {
        Self {
            head: ChunkHead::new("", model, created),
            include_usage,
            tool_calls: Default::default(),
            usage: None,
            stopped: false,
            done: false,
            thinking: String::new(),
            thinking_blocks: 0,
            structured: false,
        }
    }

    /// For the answer to a `json_schema` request (`MessagesRequest::structured`): the
    /// forced tool's input arrives as the content, and its call ends the answer normally.
    pub fn structured(mut self, structured: bool) -> Self {
        self.structured = structured;
        self
    }

    /// The chunk for a text delta, when `data` is one; the JSON `chunk` would give.
    fn text_chunk(&mut self, data: &str) -> Option<String> {
        if let Some(token) = raw_text_delta(data) {
            return Some(self.head.text_token(token));
        }
        let event: DeltaEvent<'_> = serde_json::from_str(data).ok()?;
        if event.kind != "content_block_delta" || event.delta.kind != "text_delta" {
            return None;
        }
        Some(self.head.text(&event.delta.text?))
    }

    fn chunk(&self, delta: &impl serde::Serialize, finish: Option<&str>) -> String {
        self.head.choice(0, delta, finish)
    }

    fn next_thinking_block(&mut self) -> u64 {
        self.thinking_blocks += 1;
        self.thinking_blocks - 1
    }

    /// What `message_start` becomes: the assistant's first chunk.
    fn started(&mut self, id: &str, model: Option<&str>, usage: Option<Usage>) -> Vec<String> {
        self.head.set_id(id);
        if let Some(model) = model {
            self.head.set_model(model);
        }
        self.usage = usage;
        let delta = RoleDelta {
            content: "",
            role: "assistant",
        };
        vec![self.chunk(&delta, None)]
    }

    /// What `message_delta` becomes: the final usage is noted, the finish reason sent.
    fn stopping(&mut self, output_tokens: Option<u64>, stop_reason: Option<&str>) -> Vec<String> {
        let mut usage = self.usage.unwrap_or_default();
        if let Some(output) = output_tokens {
            usage.output = output;
        }
        self.usage = Some(usage);
        self.stopped = true;
        let finish = match stop_reason {
            Some("tool_use") if self.structured => "stop",
            other => finish_reason(other),
        };
        vec![self.chunk(&serde_json::Map::new(), Some(finish))]
    }

    /// What `message_stop` becomes: the usage chunk when asked for, then `[DONE]`.
    fn last_payloads(&self) -> Vec<String> {
        let usage = self
            .include_usage
            .then(|| self.usage.unwrap_or_default().to_openai());
        self.head.end(usage.as_ref())
    }

    /// The `data:` payloads (without framing) that one Anthropic event becomes.
    pub fn payloads(&mut self, event: &Event) -> Vec<String> {
        // Anthropic names each event by its type: the ones that need nothing from their
        // body are not read at all.
        match event.event.as_deref() {
            Some("ping") => return Vec::new(),
            // A block's end matters only to a tool call that has sent no arguments.
            Some("content_block_stop") if !self.tool_calls.any_without_arguments() => {
                return Vec::new();
            }
            Some("message_stop") => return self.last_payloads(),
            _ => {}
        }
        // Text deltas are most of a stream: they take a path without JSON trees.
        static TEXT_DELTA: LazyLock<memmem::Finder<'static>> =
            LazyLock::new(|| memmem::Finder::new(b"\"text_delta\""));
        if TEXT_DELTA.find(event.data.as_bytes()).is_some()
            && let Some(chunk) = self.text_chunk(&event.data)
        {
            // A structured answer is the tool's input alone: words around it would make
            // the content something other than the JSON asked for.
            return match self.structured {
                true => Vec::new(),
                false => vec![chunk],
            };
        }
        // The other events skip the tree too when they take the usual form.
        if let Some(payloads) = self.quick_payloads(&event.data) {
            return payloads;
        }
        self.payloads_from_tree(&event.data)
    }

    /// The payloads of an event other than a text delta, read into borrowed structs
    /// (serde steps over the rest faster than a hand-written scan did); None when the
    /// event needs the general path (a tool-use block, a field of an unexpected type).
    fn quick_payloads(&mut self, data: &str) -> Option<Vec<String>> {
        let head = serde_json::from_str::<EventKind<'_>>(data).ok()?;
        match head.kind.as_ref() {
            "content_block_stop" if !self.tool_calls.any_without_arguments() => Some(Vec::new()),
            "ping" => Some(Vec::new()),
            "content_block_start"
                if head.content_block.is_some_and(|b| {
                    !matches!(b.kind.as_ref(), "tool_use" | "redacted_thinking")
                }) =>
            {
                Some(Vec::new())
            }
            "message_start" if head.message.is_some() => {
                let message = head.message.unwrap_or_default();
                Some(self.started(
                    message.id.as_deref().unwrap_or_default(),
                    message.model.as_deref(),
                    message.usage.as_ref().and_then(AnthropicUsage::normalised),
                ))
            }
            "message_delta" => Some(self.stopping(
                head.usage.and_then(|u| u.output_tokens),
                head.delta.as_ref().and_then(|d| d.stop_reason.as_deref()),
            )),
            "message_stop" => Some(self.last_payloads()),
            _ => None,
        }
    }

    /// The general path: the event read as a JSON tree.
    fn payloads_from_tree(&mut self, data: &str) -> Vec<String> {
        let v = match super::event_json(data) {
            Ok(Some(v)) => v,
            Ok(None) => return Vec::new(),
            Err(message) => {
                self.done = true;
                return vec![super::error_payload(&message)];
            }
        };
        match v["type"].as_str().unwrap_or_default() {
            "message_start" => {
                let message = &v["message"];
                self.started(
                    message["id"].as_str().unwrap_or_default(),
                    message["model"].as_str(),
                    message
                        .get("usage")
                        .and_then(|u| <AnthropicUsage as serde::Deserialize>::deserialize(u).ok())
                        .and_then(|u| u.normalised()),
                )
            }
            "content_block_start"
                if v["content_block"]["type"] == "tool_use" && self.structured =>
            {
                Vec::new()
            }
            "content_block_start" if v["content_block"]["type"] == "tool_use" => {
                let index = self.tool_calls.open(v["index"].as_u64().unwrap_or(0));
                let block = &v["content_block"];
                let call = json!({ "index": index, "id": block["id"], "type": "function", "function": { "name": block["name"], "arguments": "" } });
                vec![self.chunk(&json!({ "tool_calls": [call] }), None)]
            }
            "content_block_start" if v["content_block"]["type"] == "redacted_thinking" => {
                let index = self.next_thinking_block();
                let block = json!({"index": index, "type": "redacted_thinking", "data": v["content_block"]["data"]});
                vec![self.chunk(&json!({ "thinking_blocks": [block] }), None)]
            }
            "content_block_delta" => match v["delta"]["type"].as_str() {
                Some("thinking_delta") => {
                    let text = v["delta"]["thinking"].as_str().unwrap_or_default();
                    self.thinking.push_str(text);
                    vec![self.chunk(&json!({ "reasoning_content": text }), None)]
                }
                Some("signature_delta") => {
                    let thinking = std::mem::take(&mut self.thinking);
                    let index = self.next_thinking_block();
                    let block = json!({"index": index, "type": "thinking", "thinking": thinking, "signature": v["delta"]["signature"]});
                    vec![self.chunk(&json!({ "thinking_blocks": [block] }), None)]
                }
                Some("text_delta") => {
                    vec![self.chunk(&json!({ "content": v["delta"]["text"] }), None)]
                }
                Some("input_json_delta") if self.structured => match v["delta"]["partial_json"]
                    .as_str()
                    .filter(|j| !j.is_empty())
                {
                    Some(json) => vec![self.chunk(&json!({ "content": json }), None)],
                    None => Vec::new(),
                },
                Some("input_json_delta") => {
                    let block = v["index"].as_u64().unwrap_or(0);
                    let fragment = v["delta"]["partial_json"].as_str().unwrap_or_default();
                    let Some(index) = self.tool_calls.arguments(block, fragment) else {
                        return Vec::new();
                    };
                    let call = json!({ "index": index, "function": { "arguments": v["delta"]["partial_json"] } });
                    vec![self.chunk(&json!({ "tool_calls": [call] }), None)]
                }
                _ => Vec::new(),
            },
            "content_block_stop" => match self.tool_calls.close(v["index"].as_u64().unwrap_or(0)) {
                Some(index) => {
                    let call = json!({ "index": index, "function": { "arguments": "{}" } });
                    vec![self.chunk(&json!({ "tool_calls": [call] }), None)]
                }
                None => Vec::new(),
            },
            "message_delta" => self.stopping(
                v["usage"]["output_tokens"].as_u64(),
                v["delta"]["stop_reason"].as_str(),
            ),
            "message_stop" => self.last_payloads(),
            // The provider's own error ends the stream: nothing is added after it.
            "error" => {
                self.done = true;
                vec![error_to_openai(&v).to_string()]
            }
            _ => Vec::new(),
        }
    }
}

impl super::ChunkStream for StreamTranslator {
    fn translate(&mut self, event: &Event) -> Vec<String> {
        self.payloads(event)
    }

    /// A text delta in Anthropic's exact wire form (nearly every event of a stream) goes
    /// into `out` as its chunk's frame, the chunk written in place.
    fn write_direct(&mut self, event: &Event, out: &mut String) -> bool {
        if self.structured || !matches!(event.event.as_deref(), None | Some("content_block_delta"))
        {
            return false;
        }
        let Some(token) = raw_text_delta(&event.data) else {
            return false;
        };
        super::write_data_frame(out, |out| self.head.write_text_token(token, out));
        true
    }

    fn is_done(&self) -> bool {
        self.done
    }

    fn stopped(&self) -> bool {
        self.stopped
    }

    fn mark_done(&mut self) {
        self.done = true;
    }

    fn usage(&self) -> Option<Usage> {
        self.usage
    }

    fn model(&self) -> &str {
        self.head.model()
    }
}

#[cfg(test)]
mod tests;
