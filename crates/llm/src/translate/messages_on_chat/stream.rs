//! Chat Completions chunks as the Anthropic event sequence, for Messages clients on a
//! provider whose stream the gateway reads as chunks.

use serde_json::{Value, json};

use super::{anthropic_usage, error_to_anthropic};
use crate::error::anthropic_error;
use crate::sse::Event;
use crate::usage::Usage;

/// What is open in the Anthropic stream being built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    None,
    Text(usize),
    Thinking(usize),
    /// An open tool_use block and the OpenAI tool-call index feeding it.
    Tool(usize, u64),
}

/// Turns OpenAI chunks into the Anthropic event sequence: `message_start`, content blocks
/// (`content_block_start` / `_delta` / `_stop`), `message_delta`, `message_stop`.
#[derive(Debug)]
pub struct ChunkTranslator {
    model: String,
    started: bool,
    block: Block,
    next_index: usize,
    stop_reason: Option<&'static str>,
    /// The stop sequence the answer ended at, when it ended at one.
    stop_sequence: Value,
    usage: Option<Usage>,
    done: bool,
}

fn frame(kind: &str, data: &Value) -> String {
    format!("event: {kind}\ndata: {data}\n\n")
}

impl ChunkTranslator {
    pub fn new(model: &str) -> Self {
        Self {
            model: model.to_string(),
            started: false,
            block: Block::None,
            next_index: 0,
            stop_reason: None,
            stop_sequence: Value::Null,
            usage: None,
            done: false,
        }
    }

    fn start(&mut self, chunk: &Value, out: &mut String) {
        if self.started {
            return;
        }
        self.started = true;
        if let Some(m) = chunk["model"].as_str().filter(|m| !m.is_empty()) {
            self.model = m.to_string();
        }
        let message = json!({
            "id": chunk["id"], "type": "message", "role": "assistant", "model": self.model, "content": [],
            "stop_reason": null, "stop_sequence": null, "usage": { "input_tokens": 0, "output_tokens": 0 },
        });
        out.push_str(&frame(
            "message_start",
            &json!({ "type": "message_start", "message": message }),
        ));
    }

    fn close_block(&mut self, out: &mut String) {
        let index = match self.block {
            Block::None => return,
            Block::Text(i) | Block::Thinking(i) | Block::Tool(i, _) => i,
        };
        out.push_str(&frame(
            "content_block_stop",
            &json!({ "type": "content_block_stop", "index": index }),
        ));
        self.block = Block::None;
    }

    fn open(&mut self, block: Value, make: impl FnOnce(usize) -> Block, out: &mut String) -> usize {
        self.close_block(out);
        let index = self.next_index;
        self.next_index += 1;
        out.push_str(&frame(
            "content_block_start",
            &json!({ "type": "content_block_start", "index": index, "content_block": block }),
        ));
        self.block = make(index);
        index
    }

    fn text(&mut self, text: &str, out: &mut String) {
        let index = match self.block {
            Block::Text(i) => i,
            _ => self.open(json!({ "type": "text", "text": "" }), Block::Text, out),
        };
        out.push_str(&frame("content_block_delta", &json!({ "type": "content_block_delta", "index": index, "delta": { "type": "text_delta", "text": text } })));
    }

    /// A piece of the answer's thinking, into the open thinking block (opened if need be).
    fn thinking(&mut self, text: &str, out: &mut String) {
        let index = self.thinking_index(out);
        out.push_str(&frame("content_block_delta", &json!({ "type": "content_block_delta", "index": index, "delta": { "type": "thinking_delta", "thinking": text } })));
    }

    fn thinking_index(&mut self, out: &mut String) -> usize {
        match self.block {
            Block::Thinking(i) => i,
            _ => {
                let block = json!({ "type": "thinking", "thinking": "", "signature": "" });
                self.open(block, Block::Thinking, out)
            }
        }
    }

    /// A whole thinking block (`thinking_blocks` in a chunk): a signed block ends the open
    /// thinking with its signature (its text came as `reasoning_content` pieces, or comes
    /// now when it did not); a redacted block is a block of its own.
    fn thinking_block(&mut self, block: &Value, out: &mut String) {
        match block["type"].as_str() {
            Some("thinking") => {
                if !matches!(self.block, Block::Thinking(_))
                    && let Some(text) = block["thinking"].as_str().filter(|t| !t.is_empty())
                {
                    self.thinking(text, out);
                }
                let index = self.thinking_index(out);
                if let Some(signature) = block["signature"].as_str().filter(|s| !s.is_empty()) {
                    out.push_str(&frame("content_block_delta", &json!({ "type": "content_block_delta", "index": index, "delta": { "type": "signature_delta", "signature": signature } })));
                }
                self.close_block(out);
            }
            Some("redacted_thinking") => {
                let redacted = json!({ "type": "redacted_thinking", "data": block["data"] });
                self.open(redacted, Block::Thinking, out);
                self.close_block(out);
            }
            _ => {}
        }
    }

    fn tool_call(&mut self, call: &Value, out: &mut String) {
        let call_index = call["index"].as_u64().unwrap_or(0);
        let index = match self.block {
            Block::Tool(i, c) if c == call_index => i,
            _ => {
                let block = json!({ "type": "tool_use", "id": call["id"], "name": call["function"]["name"], "input": {} });
                self.open(block, |i| Block::Tool(i, call_index), out)
            }
        };
        if let Some(arguments) = call["function"]["arguments"]
            .as_str()
            .filter(|a| !a.is_empty())
        {
            out.push_str(&frame("content_block_delta", &json!({ "type": "content_block_delta", "index": index, "delta": { "type": "input_json_delta", "partial_json": arguments } })));
        }
    }

    fn end(&mut self, out: &mut String) {
        if self.done {
            return;
        }
        self.done = true;
        self.close_block(out);
        let usage = self.usage.unwrap_or_default();
        let delta = json!({ "type": "message_delta", "delta": { "stop_reason": self.stop_reason.unwrap_or("end_turn"), "stop_sequence": self.stop_sequence }, "usage": anthropic_usage(&usage) });
        out.push_str(&frame("message_delta", &delta));
        out.push_str(&frame("message_stop", &json!({ "type": "message_stop" })));
    }
}

impl crate::translate::EventTranslator for ChunkTranslator {
    fn event(&mut self, event: &Event) -> String {
        let mut out = String::new();
        if event.data == "[DONE]" {
            self.end(&mut out);
            return out;
        }
        let chunk = match crate::translate::event_json(&event.data) {
            Ok(Some(chunk)) => chunk,
            Ok(None) => return out,
            Err(message) => return self.error(&message),
        };
        if chunk.get("error").is_some() {
            // The provider's own error keeps its kind (a rate limit stays one); with no
            // status in a stream, an unknown kind is a server error.
            self.done = true;
            return frame("error", &error_to_anthropic(&chunk, 500));
        }
        // Azure opens its streams with a chunk of prompt filter results and no choices,
        // whose id and model are empty: the message starts with the first real chunk.
        let filter_results_only = !self.started
            && chunk.get("prompt_filter_results").is_some()
            && chunk["choices"].as_array().is_some_and(Vec::is_empty);
        if filter_results_only {
            return out;
        }
        self.start(&chunk, &mut out);
        if let Some(usage) = chunk.get("usage").and_then(Usage::from_openai) {
            self.usage = Some(usage);
        }
        for choice in chunk["choices"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let delta = &choice["delta"];
            if let Some(text) = super::reasoning_text(delta) {
                self.thinking(text, &mut out);
            }
            for block in delta["thinking_blocks"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                self.thinking_block(block, &mut out);
            }
            if let Some(text) = delta["content"].as_str().filter(|t| !t.is_empty()) {
                self.text(text, &mut out);
            }
            for call in delta["tool_calls"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                self.tool_call(call, &mut out);
            }
            if choice["finish_reason"].is_string() {
                let (stop, sequence) = super::stop_of(choice);
                self.stop_reason = Some(stop);
                self.stop_sequence = sequence;
            }
        }
        out
    }

    fn finish(&mut self) -> String {
        if !self.done && self.stop_reason.is_none() {
            return self.error(crate::translate::CUT_SHORT);
        }
        let mut out = String::new();
        self.end(&mut out);
        out
    }

    fn finished(&self) -> bool {
        self.done
    }

    fn error(&mut self, message: &str) -> String {
        self.done = true;
        frame("error", &anthropic_error("api_error", message))
    }

    fn usage(&self) -> Option<Usage> {
        self.usage
    }

    fn model(&self) -> &str {
        &self.model
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;
    use crate::sse::SseDecoder;
    use crate::translate::EventTranslator;

    /// The events `chunks` become, as (event name, data) pairs.
    fn events_of(translator: &mut ChunkTranslator, deltas: &[Value]) -> Vec<(String, Value)> {
        let text: String = deltas
            .iter()
            .map(|delta| {
                let chunk = json!({"id": "chatcmpl-1", "model": "m", "choices": [{"index": 0, "delta": delta, "finish_reason": null}]});
                translator.event(&Event {
                    event: None,
                    data: chunk.to_string(),
                })
            })
            .collect();
        SseDecoder::default()
            .feed(text.as_bytes())
            .into_iter()
            .map(|e| {
                (
                    e.event.unwrap_or_default(),
                    serde_json::from_str(&e.data).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn reasoning_becomes_thinking_blocks_with_their_signatures() {
        let mut translator = ChunkTranslator::new("m");
        let events = events_of(
            &mut translator,
            &[
                json!({"role": "assistant", "content": ""}),
                json!({"reasoning_content": "Paris is "}),
                json!({"reasoning_content": "in France."}),
                json!({"thinking_blocks": [{"type": "thinking", "thinking": "Paris is in France.", "signature": "EqQB"}]}),
                json!({"thinking_blocks": [{"type": "redacted_thinking", "data": "EmwK"}]}),
                json!({"content": "Paris."}),
            ],
        );
        let shown: Vec<(&str, &Value)> = events[1..]
            .iter()
            .map(|(name, data)| {
                (
                    name.as_str(),
                    data.get("content_block")
                        .or(data.get("delta"))
                        .unwrap_or(&Value::Null),
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                (
                    "content_block_start",
                    &json!({"type": "thinking", "thinking": "", "signature": ""})
                ),
                (
                    "content_block_delta",
                    &json!({"type": "thinking_delta", "thinking": "Paris is "})
                ),
                (
                    "content_block_delta",
                    &json!({"type": "thinking_delta", "thinking": "in France."})
                ),
                (
                    "content_block_delta",
                    &json!({"type": "signature_delta", "signature": "EqQB"})
                ),
                ("content_block_stop", &Value::Null),
                (
                    "content_block_start",
                    &json!({"type": "redacted_thinking", "data": "EmwK"})
                ),
                ("content_block_stop", &Value::Null),
                ("content_block_start", &json!({"type": "text", "text": ""})),
                (
                    "content_block_delta",
                    &json!({"type": "text_delta", "text": "Paris."})
                ),
            ]
        );
        let indexes: Vec<u64> = events[1..]
            .iter()
            .filter_map(|(_, data)| data["index"].as_u64())
            .collect();
        assert_eq!(indexes, [0, 0, 0, 0, 0, 1, 1, 2, 2]);
    }

    #[test]
    fn unsigned_reasoning_is_a_thinking_block_closed_when_the_text_starts() {
        let mut translator = ChunkTranslator::new("m");
        // Ollama, newer vLLM and OpenRouter name the field `reasoning`.
        let events = events_of(
            &mut translator,
            &[
                json!({"reasoning": "Considering units."}),
                json!({"content": "18 C"}),
            ],
        );
        let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta"
            ]
        );
        assert_eq!(events[1].1["content_block"]["type"], "thinking");
        assert_eq!(events[4].1["content_block"]["type"], "text");
    }

    #[test]
    fn a_stop_at_a_stop_sequence_is_named_in_the_message_delta() {
        let mut translator = ChunkTranslator::new("m");
        let stop = json!({"id": "c", "model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop", "stop_reason": "END"}]});
        translator.event(&Event {
            event: None,
            data: stop.to_string(),
        });
        let end = translator.event(&Event {
            event: None,
            data: "[DONE]".into(),
        });
        let events = SseDecoder::default().feed(end.as_bytes());
        let delta: Value = serde_json::from_str(&events[events.len() - 2].data).unwrap();
        assert_eq!(
            delta["delta"],
            json!({"stop_reason": "stop_sequence", "stop_sequence": "END"})
        );
    }

    #[test]
    fn stream_translation_builds_the_anthropic_event_sequence() {
        let mut decoder = SseDecoder::default();
        let mut translator = ChunkTranslator::new("m");
        let text: String = decoder
            .feed(&fixture("openai/chat_stream_tool_call.sse"))
            .iter()
            .map(|e| translator.event(e))
            .collect();
        let mut events = SseDecoder::default();
        let events = events.feed(text.as_bytes());
        let kinds: Vec<&str> = events.iter().filter_map(|e| e.event.as_deref()).collect();
        assert_eq!(kinds.first(), Some(&"message_start"));
        assert_eq!(kinds.last(), Some(&"message_stop"));
        assert_eq!(
            kinds
                .iter()
                .filter(|k| **k == "content_block_start")
                .count(),
            2,
            "two parallel tool calls"
        );
        assert_eq!(
            kinds.iter().filter(|k| **k == "content_block_stop").count(),
            2
        );
        // Each tool block's argument fragments reassemble to JSON.
        for index in 0..2 {
            let args: String = events
                .iter()
                .filter_map(|e| serde_json::from_str::<Value>(&e.data).ok())
                .filter(|v| v["type"] == "content_block_delta" && v["index"] == index)
                .filter_map(|v| v["delta"]["partial_json"].as_str().map(str::to_string))
                .collect();
            assert!(
                serde_json::from_str::<Value>(&args).unwrap().is_object(),
                "{args}"
            );
        }
        let delta: Value = serde_json::from_str(&events[events.len() - 2].data).unwrap();
        assert_eq!(delta["delta"]["stop_reason"], "tool_use");
        assert!(translator.finished());
    }

    #[test]
    fn azures_filter_results_chunk_does_not_blank_the_message_id_and_model() {
        let mut translator = ChunkTranslator::new("requested");
        let text: String = SseDecoder::default()
            .feed(&fixture("azure/chat_stream.sse"))
            .iter()
            .map(|e| translator.event(e))
            .collect();
        let events = SseDecoder::default().feed(text.as_bytes());
        let start: Value = serde_json::from_str(&events[0].data).unwrap();
        assert_eq!(start["type"], "message_start");
        assert_ne!(start["message"]["id"], "", "{start}");
        assert_ne!(start["message"]["model"], "", "{start}");
    }

    #[test]
    fn a_providers_error_in_a_stream_keeps_its_kind() {
        let mut translator = ChunkTranslator::new("m");
        let out = translator.event(&Event {
            event: None,
            data: r#"{"error":{"message":"slow down","type":"rate_limit_exceeded","code":"rate_limit_exceeded"}}"#.into(),
        });
        let events = SseDecoder::default().feed(out.as_bytes());
        let error: Value = serde_json::from_str(&events[0].data).unwrap();
        assert_eq!(error["error"]["type"], "rate_limit_error", "{error}");
        assert!(translator.finished());
    }
}
