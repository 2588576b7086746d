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
pub use response::{ChatAnswer, message_to_chat};

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
        }
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
        vec![self.chunk(&serde_json::Map::new(), Some(finish_reason(stop_reason)))]
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
            return vec![chunk];
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
        if !matches!(event.event.as_deref(), None | Some("content_block_delta")) {
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
mod tests {
    use super::*;
    use crate::fixture;
    use crate::sse::SseDecoder;

    #[test]
    fn text_deltas_take_the_fast_path_with_the_same_bytes() {
        let mut translator = StreamTranslator::new("claude", 7, false);
        let start = Event {
            event: Some("message_start".into()),
            data: json!({"type": "message_start", "message": {"id": "msg_1", "model": "claude-x", "usage": {"input_tokens": 3, "output_tokens": 1}}}).to_string(),
        };
        translator.payloads(&start);
        for text in [
            "plain",
            "quote \" and \\ backslash",
            "line\nbreak\ttab",
            "unicode é 😀 \u{1}",
        ] {
            let data = json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}).to_string();
            let fast = translator.text_chunk(&data).expect("a text delta");
            assert_eq!(
                fast,
                translator.chunk(&json!({ "content": text }), None),
                "{text:?}"
            );
            let event = Event {
                event: Some("content_block_delta".into()),
                data,
            };
            assert_eq!(translator.payloads(&event), vec![fast]);
        }
        let not_text = json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{"}}).to_string();
        assert_eq!(translator.text_chunk(&not_text), None);
    }

    #[test]
    fn wire_form_text_deltas_pass_their_string_through_unread() {
        let mut translator = StreamTranslator::new("claude", 7, false);
        for token in [
            r#""plain""#,
            r#""quote \" and \\ backslash""#,
            r#""line\nbreak\ttab \u00e9 \ud83d\ude00 \/""#,
            r#""unicode é 😀""#,
            r#""""#,
        ] {
            let data = format!(
                r#"{{"type":"content_block_delta","index":12,"delta":{{"type":"text_delta","text":{token}}}}}"#
            );
            assert_eq!(raw_text_delta(&data), Some(token), "{data}");
            let text: String = serde_json::from_str(token).unwrap();
            let chunk: Value =
                serde_json::from_str(&translator.text_chunk(&data).unwrap()).unwrap();
            let tree: Value =
                serde_json::from_str(&translator.chunk(&json!({ "content": text }), None)).unwrap();
            assert_eq!(chunk, tree, "{token}");
        }
        for not_whole in [
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"}} "#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a","x":1}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a\"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"b"}}"#,
            "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"a\u{1}\"}}",
            r#"{"type":"content_block_delta","index":,"delta":{"type":"text_delta","text":"a"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"a"}}"#,
        ] {
            assert_eq!(raw_text_delta(not_whole), None, "{not_whole}");
        }
    }

    #[test]
    fn text_deltas_written_in_place_are_the_frames_of_their_payloads() {
        use super::super::{ChunkStream, EventTranslator};
        let start = Event {
            event: Some("message_start".into()),
            data: r#"{"type":"message_start","message":{"id":"msg_1","model":"claude-x"}}"#.into(),
        };
        let mut direct = StreamTranslator::new("claude", 7, false);
        let mut listed = StreamTranslator::new("claude", 7, false);
        direct.event(&start);
        listed.payloads(&start);
        for (name, token) in [
            (Some("content_block_delta"), r#""plain""#),
            (None, r#""quote \" and \\ \u00e9 😀""#),
        ] {
            let event = Event {
                event: name.map(Into::into),
                data: format!(
                    r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":{token}}}}}"#
                ),
            };
            let mut out = String::from("data: earlier\n\n");
            assert!(direct.write_direct(&event, &mut out), "{token}");
            let payloads = listed.payloads(&event);
            assert_eq!(out, format!("data: earlier\n\ndata: {}\n\n", payloads[0]));
        }
        // Under another event name, or not in the wire form, the event is read instead.
        let pinged = Event {
            event: Some("ping".into()),
            data: r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}}"#.into(),
        };
        let spaced = Event {
            event: Some("content_block_delta".into()),
            data: r#"{"type": "content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}}"#.into(),
        };
        for event in [pinged, spaced] {
            let mut out = String::new();
            assert!(!direct.write_direct(&event, &mut out), "{}", event.data);
            assert!(out.is_empty());
        }
    }

    #[test]
    fn stream_translation_rebuilds_text_and_tool_arguments() {
        let mut decoder = SseDecoder::default();
        let mut translator = StreamTranslator::new("claude", 7, true);
        let payloads: Vec<String> = decoder
            .feed(&fixture("anthropic/messages_stream.sse"))
            .iter()
            .flat_map(|e| translator.payloads(e))
            .collect();
        assert_eq!(payloads.last().unwrap(), "[DONE]");
        let chunks: Vec<Value> = payloads
            .iter()
            .filter(|p| *p != "[DONE]")
            .map(|p| serde_json::from_str(p).unwrap())
            .collect();
        assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
        let text: String = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert!(!text.is_empty());
        let args: String = chunks
            .iter()
            .filter_map(|c| {
                c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str()
            })
            .collect();
        let parsed: Value = serde_json::from_str(&args).unwrap();
        assert!(parsed.is_object());
        let finish = chunks
            .iter()
            .find_map(|c| c["choices"][0]["finish_reason"].as_str())
            .unwrap();
        assert_eq!(finish, "tool_calls");
        let usage = chunks.last().unwrap();
        assert_eq!(usage["choices"], json!([]));
        assert_eq!(usage["usage"]["completion_tokens"], 74);
    }

    #[test]
    fn streamed_thinking_arrives_as_reasoning_content_and_whole_signed_blocks() {
        let mut translator = StreamTranslator::new("claude", 7, false);
        let events = [
            (
                "message_start",
                json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x", "content": [], "usage": {"input_tokens": 9, "output_tokens": 1}}}),
            ),
            (
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
            ),
            (
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Paris is "}}),
            ),
            (
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "in France."}}),
            ),
            (
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "EqQBCgIYAhIM"}}),
            ),
            (
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 0}),
            ),
            (
                "content_block_start",
                json!({"type": "content_block_start", "index": 1, "content_block": {"type": "redacted_thinking", "data": "EmwKAhgBEgy3"}}),
            ),
            (
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 1}),
            ),
            (
                "content_block_start",
                json!({"type": "content_block_start", "index": 2, "content_block": {"type": "text", "text": ""}}),
            ),
            (
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 2, "delta": {"type": "text_delta", "text": "Paris."}}),
            ),
        ];
        let deltas: Vec<Value> = events
            .iter()
            .flat_map(|(name, data)| {
                translator.payloads(&Event {
                    event: Some((*name).into()),
                    data: data.to_string(),
                })
            })
            .map(|p| serde_json::from_str::<Value>(&p).unwrap()["choices"][0]["delta"].clone())
            .collect();
        assert_eq!(
            deltas[1..],
            [
                json!({"reasoning_content": "Paris is "}),
                json!({"reasoning_content": "in France."}),
                json!({"thinking_blocks": [{"index": 0, "type": "thinking", "thinking": "Paris is in France.", "signature": "EqQBCgIYAhIM"}]}),
                json!({"thinking_blocks": [{"index": 1, "type": "redacted_thinking", "data": "EmwKAhgBEgy3"}]}),
                json!({"content": "Paris."}),
            ]
        );
    }

    /// The arguments a client reassembles for tool call 0 from these events.
    fn streamed_arguments(translator: &mut StreamTranslator, events: &[(&str, &str)]) -> String {
        events
            .iter()
            .flat_map(|(name, data)| {
                translator.payloads(&Event {
                    event: Some((*name).into()),
                    data: (*data).into(),
                })
            })
            .filter_map(|p| serde_json::from_str::<Value>(&p).ok())
            .filter_map(|c| {
                c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
                    .as_str()
                    .map(str::to_string)
            })
            .collect()
    }

    #[test]
    fn a_streamed_tool_call_without_arguments_gets_an_empty_object() {
        let start = r#"{"type":"message_start","message":{"id":"m","model":"claude","usage":{"input_tokens":3}}}"#;
        let tool = r#"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"now","input":{}}}"#;
        let nothing = r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":""}}"#;
        let stop = r#"{"type":"content_block_stop","index":0}"#;
        let mut translator = StreamTranslator::new("claude", 7, false);
        let args = streamed_arguments(
            &mut translator,
            &[
                ("message_start", start),
                ("content_block_start", tool),
                ("content_block_delta", nothing),
                ("content_block_stop", stop),
            ],
        );
        assert_eq!(args, "{}");
        // A call that did send arguments gets nothing more at its end.
        let some = r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"a\":1}"}}"#;
        let mut translator = StreamTranslator::new("claude", 7, false);
        let args = streamed_arguments(
            &mut translator,
            &[
                ("message_start", start),
                ("content_block_start", tool),
                ("content_block_delta", some),
                ("content_block_stop", stop),
            ],
        );
        assert_eq!(args, r#"{"a":1}"#);
    }

    #[test]
    fn a_providers_usual_events_are_read_without_a_tree() {
        let events = SseDecoder::default().feed(&fixture("anthropic/messages_stream.sse"));
        let mut translator = StreamTranslator::new("claude", 7, true);
        let mut read = 0;
        let usual =
            |e: &&Event| !e.data.contains("content_block_delta") && !e.data.contains("tool_use");
        for event in events.iter().filter(usual) {
            assert!(
                translator.quick_payloads(&event.data).is_some(),
                "{}",
                event.data
            );
            read += 1;
        }
        assert!(
            read >= 6,
            "message_start, ping, block start and stop, message_delta and _stop"
        );
    }

    #[test]
    fn quick_paths_give_what_the_tree_gives() {
        let mut events = SseDecoder::default().feed(&fixture("anthropic/messages_stream.sse"));
        events.extend(SseDecoder::default().feed(&fixture("anthropic/messages_stream_error.sse")));
        let odd = [
            r#"{"type":"message_start","message":{"id":7,"model":"m","usage":{"input_tokens":2}}}"#,
            r#"{"type":"message_start","message":{"id":"a","model":null,"usage":{"input_tokens":2.5}}}"#,
            r#"{"type":"message_start"}"#,
            r#"{"type":"message_start","message":{"id":null,"model":"m2","usage":null}}"#,
            r#"{"type":"message_start","message":{"id":"b","usage":{"input_tokens":4,"cache_creation":{"ephemeral_5m_input_tokens":1},"cache_read_input_tokens":2,"output_tokens":null}}}"#,
            r#"{"type":"message_start","message":{"id":"c\u0041","usage":"none"}}"#,
            r#"{"type":"message_start","message":[]}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":null},"usage":{"output_tokens":9}}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":null}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":null}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":"text"}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":3.0}}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":5},"usage":{}}"#,
            r#"{"type":"message_delta"}"#,
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t","name":"f"}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{"}}"#,
            r#"{"type":"content_block_start","index":2}"#,
            r#"{"type":"ping"}"#,
            r#"{"type":"message_stop"}"#,
        ];
        events.extend(odd.iter().map(|data| Event {
            event: None,
            data: data.to_string(),
        }));
        let mut quick = StreamTranslator::new("claude", 7, true);
        let mut tree = StreamTranslator::new("claude", 7, true);
        for event in &events {
            assert_eq!(
                quick.payloads(event),
                tree.payloads_from_tree(&event.data),
                "{}",
                event.data
            );
            assert_eq!(
                (quick.usage, quick.head.model()),
                (tree.usage, tree.head.model())
            );
        }
    }
}
