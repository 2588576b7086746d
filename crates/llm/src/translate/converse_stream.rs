//! What Bedrock answers, for OpenAI Chat Completions clients: a Converse response becomes a
//! `chat.completion`, and a ConverseStream, decoded into events by
//! `aws::eventstream::to_sse_event`, becomes `chat.completion.chunk` frames.
//!
//! Bedrock sends `messageStart`, then per content block an optional `contentBlockStart`
//! (tool use only), `contentBlockDelta`s and a `contentBlockStop`, then `messageStop` with
//! the stop reason and finally `metadata` with the usage; that last event ends the stream.

use serde_json::{Value, json};

use super::chat_on_converse::error_to_openai;
use crate::sse::Event;
use crate::translate::openai_chunk::{ChunkHead, StreamedToolCalls};
use crate::usage::Usage;

/// Converse's `stopReason` as OpenAI's `finish_reason`.
pub fn finish_reason(stop_reason: Option<&str>) -> &'static str {
    match stop_reason {
        Some("max_tokens" | "model_context_window_exceeded") => "length",
        Some("tool_use") => "tool_calls",
        Some("guardrail_intervened" | "content_filtered") => "content_filter",
        _ => "stop",
    }
}

/// The stop sequence a Converse answer (or `messageStop` event) ended at, as the choice's
/// `stop_reason` (vLLM's field, which Anthropic clients get as `stop_sequence`): Claude
/// names it in `additionalModelResponseFields` when the request asks for `/stop_sequence`.
fn matched_stop_sequence(answer: &Value) -> Value {
    match (
        answer["stopReason"].as_str(),
        &answer["additionalModelResponseFields"]["stop_sequence"],
    ) {
        (Some("stop_sequence"), Value::String(sequence)) => json!(sequence),
        _ => Value::Null,
    }
}

/// Converse responses carry no id, but OpenAI clients expect a unique `chatcmpl-` one.
fn completion_id() -> String {
    let mut bytes = [0u8; 12];
    let random = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    if random.is_err() {
        // Without randomness the id is only a label; the time still tells requests apart.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        return format!("chatcmpl-{nanos:x}");
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("chatcmpl-{hex}")
}

/// A Converse response as an OpenAI Chat Completion. `model` is the one the client asked
/// for, since Converse does not echo it.
pub fn converse_to_chat(response: &Value, model: &str, created: u64) -> Value {
    converse_to_chat_with(response, model, created, false)
}

/// `converse_to_chat`; with `structured`, the answer to a `json_schema` request: the forced
/// answer tool's input is the content, and its call ends the answer normally.
pub fn converse_to_chat_with(
    response: &Value,
    model: &str,
    created: u64,
    structured: bool,
) -> Value {
    let blocks = response["output"]["message"]["content"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut text: String = blocks.iter().filter_map(|b| b["text"].as_str()).collect();
    // The answer tool's input is the answer; an answer without it (a guardrail's or a
    // refusal's words) keeps its text, for the client to see why.
    if structured && let Some(tool_use) = blocks.iter().find_map(|b| b.get("toolUse")) {
        text = tool_use["input"].to_string();
    }
    let calls: Vec<Value> = blocks
        .iter()
        .filter_map(|b| b.get("toolUse"))
        .filter(|_| !structured)
        .map(|tool_use| {
            json!({
                "id": tool_use["toolUseId"],
                "type": "function",
                "function": { "name": tool_use["name"], "arguments": tool_use["input"].to_string() },
            })
        })
        .collect();
    let content = if text.is_empty() {
        Value::Null
    } else {
        json!(text)
    };
    let mut reply = json!({ "role": "assistant", "content": content, "refusal": null });
    if !calls.is_empty() {
        reply["tool_calls"] = Value::Array(calls);
    }
    let thinking = blocks
        .iter()
        .filter_map(|b| b.get("reasoningContent"))
        .filter_map(thinking_block)
        .collect();
    super::reasoning::put_on_message(&mut reply, thinking);
    let usage = response
        .get("usage")
        .and_then(Usage::from_bedrock)
        .unwrap_or_default();
    let mut chat = json!({
        "id": completion_id(),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "message": reply,
            "logprobs": null,
            "finish_reason": match response["stopReason"].as_str() {
                Some("tool_use") if structured => "stop",
                other => finish_reason(other),
            },
        }],
        "usage": usage.to_openai(),
    });
    let sequence = matched_stop_sequence(response);
    if !sequence.is_null() {
        chat["choices"][0]["stop_reason"] = sequence;
    }
    chat
}

/// A Converse `reasoningContent` block as the pivot's thinking block (Anthropic's shape, as
/// LiteLLM carries it): reasoning text with its signature, or redacted content.
fn thinking_block(reasoning: &Value) -> Option<Value> {
    if let Some(text) = reasoning.get("reasoningText") {
        let signature = text.get("signature").cloned().unwrap_or(json!(""));
        return Some(
            json!({ "type": "thinking", "thinking": text["text"], "signature": signature }),
        );
    }
    let data = reasoning.get("redactedContent")?;
    Some(json!({ "type": "redacted_thinking", "data": data }))
}

/// Turns a ConverseStream into OpenAI chunks, event by event.
#[derive(Debug)]
pub struct ConverseStreamTranslator {
    head: ChunkHead,
    include_usage: bool,
    /// Converse `contentBlockIndex` -> OpenAI tool-call index, for tool-use blocks.
    tool_calls: StreamedToolCalls,
    usage: Option<Usage>,
    /// `messageStop` (the stop reason) has been seen: the answer is whole.
    stopped: bool,
    done: bool,
    /// The reasoning block's text so far, sent whole with its signature when it comes.
    reasoning: String,
    /// Thinking blocks sent so far (each carries its position as `index`, for the OpenAI
    /// SDK's stream helper).
    thinking_blocks: u64,
    /// The answer to a `json_schema` request: the forced tool's input streams as content.
    structured: bool,
}

impl ConverseStreamTranslator {
    /// `model` is the one the client asked for; Converse never names it.
    pub fn new(model: &str, created: u64, include_usage: bool) -> Self {
        Self {
            head: ChunkHead::new(&completion_id(), model, created),
            include_usage,
            tool_calls: StreamedToolCalls::default(),
            usage: None,
            stopped: false,
            done: false,
            reasoning: String::new(),
            thinking_blocks: 0,
            structured: false,
        }
    }

    /// For the answer to a `json_schema` request: the forced answer tool's input arrives
    /// as the content, and its call ends the answer normally.
    pub fn structured(mut self, structured: bool) -> Self {
        self.structured = structured;
        self
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> String {
        self.head.choice(0, &delta, finish)
    }

    /// The `data:` payloads (without framing) that one Converse event becomes.
    pub fn payloads(&mut self, event: &Event) -> Vec<String> {
        if self.done {
            return Vec::new();
        }
        let v = match super::event_json(&event.data) {
            Ok(Some(v)) => v,
            Ok(None) => return Vec::new(),
            Err(message) => {
                self.done = true;
                return vec![super::error_payload(&message)];
            }
        };
        match event.event.as_deref().unwrap_or_default() {
            "messageStart" => {
                vec![self.chunk(json!({ "role": "assistant", "content": "" }), None)]
            }
            "contentBlockStart" if self.structured => Vec::new(),
            "contentBlockStart" => {
                let Some(tool_use) = v["start"].get("toolUse") else {
                    return Vec::new();
                };
                let block = v["contentBlockIndex"].as_u64().unwrap_or(0);
                let index = self.tool_calls.open(block);
                let call = json!({
                    "index": index,
                    "id": tool_use["toolUseId"],
                    "type": "function",
                    "function": { "name": tool_use["name"], "arguments": "" },
                });
                vec![self.chunk(json!({ "tool_calls": [call] }), None)]
            }
            "contentBlockDelta" => self.delta(&v),
            "contentBlockStop" => {
                let block = v["contentBlockIndex"].as_u64().unwrap_or(0);
                match self.tool_calls.close(block) {
                    Some(index) => {
                        let call = json!({ "index": index, "function": { "arguments": "{}" } });
                        vec![self.chunk(json!({ "tool_calls": [call] }), None)]
                    }
                    None => Vec::new(),
                }
            }
            "messageStop" => {
                self.stopped = true;
                let finish = match v["stopReason"].as_str() {
                    Some("tool_use") if self.structured => "stop",
                    other => finish_reason(other),
                };
                let chunk = self.chunk(json!({}), Some(finish));
                let sequence = matched_stop_sequence(&v);
                if sequence.is_null() {
                    return vec![chunk];
                }
                // Rare: the chunk is read back to name the sequence in its choice.
                let mut tree: Value = serde_json::from_str(&chunk).unwrap_or_default();
                tree["choices"][0]["stop_reason"] = sequence;
                vec![tree.to_string()]
            }
            "metadata" => {
                self.usage = v.get("usage").and_then(Usage::from_bedrock);
                let usage = self
                    .include_usage
                    .then(|| self.usage.unwrap_or_default().to_openai());
                self.head.end(usage.as_ref())
            }
            "exception" => {
                // Stream exceptions spell the code in lower camel case (`throttlingException`);
                // it is capitalised to match the `x-amzn-ErrorType` of non-streaming errors.
                let code = v["type"].as_str().map(|code| {
                    let mut chars = code.chars();
                    chars
                        .next()
                        .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                        .unwrap_or_default()
                });
                self.done = true;
                vec![error_to_openai(&v, code.as_deref(), 0).to_string()]
            }
            _ => Vec::new(),
        }
    }

    fn delta(&mut self, v: &Value) -> Vec<String> {
        let delta = &v["delta"];
        if self.structured {
            // The answer is the tool's input alone; words around it are left out.
            return match delta["toolUse"]["input"].as_str().filter(|j| !j.is_empty()) {
                Some(json) => vec![self.chunk(json!({ "content": json }), None)],
                None => Vec::new(),
            };
        }
        if let Some(text) = delta["text"].as_str() {
            return vec![self.chunk(json!({ "content": text }), None)];
        }
        if let Some(reasoning) = delta.get("reasoningContent") {
            return self.reasoning(reasoning);
        }
        let Some(fragment) = delta["toolUse"]["input"].as_str() else {
            // Citation deltas have no Chat Completions counterpart.
            return Vec::new();
        };
        let block = v["contentBlockIndex"].as_u64().unwrap_or(0);
        let Some(index) = self.tool_calls.arguments(block, fragment) else {
            return Vec::new();
        };
        // Bedrock opens every tool input with an empty fragment; it carries nothing.
        if fragment.is_empty() {
            return Vec::new();
        }
        let call = json!({ "index": index, "function": { "arguments": fragment } });
        vec![self.chunk(json!({ "tool_calls": [call] }), None)]
    }
}

impl ConverseStreamTranslator {
    /// A reasoning delta: its text as `reasoning_content`; the signature that ends a
    /// reasoning block as the whole signed block; redacted content as a block of its own.
    fn reasoning(&mut self, reasoning: &Value) -> Vec<String> {
        if let Some(text) = reasoning["text"].as_str() {
            self.reasoning.push_str(text);
            return vec![self.chunk(json!({ "reasoning_content": text }), None)];
        }
        let index = self.thinking_blocks;
        let block = match (reasoning.get("signature"), reasoning.get("redactedContent")) {
            (Some(signature), _) => {
                let text = std::mem::take(&mut self.reasoning);
                json!({ "index": index, "type": "thinking", "thinking": text, "signature": signature })
            }
            (None, Some(data)) => {
                json!({ "index": index, "type": "redacted_thinking", "data": data })
            }
            (None, None) => return Vec::new(),
        };
        self.thinking_blocks += 1;
        vec![self.chunk(json!({ "thinking_blocks": [block] }), None)]
    }
}

impl super::ChunkStream for ConverseStreamTranslator {
    fn translate(&mut self, event: &Event) -> Vec<String> {
        self.payloads(event)
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
    use crate::aws::eventstream::{EventStreamDecoder, to_sse_event};
    use crate::fixture;
    use crate::translate::EventTranslator;

    /// Decodes a binary fixture in 37-byte reads and translates it, framed as the client
    /// would receive it.
    fn translate(path: &str, include_usage: bool) -> (String, ConverseStreamTranslator) {
        let mut decoder = EventStreamDecoder::new();
        let mut translator = ConverseStreamTranslator::new("claude-on-bedrock", 7, include_usage);
        let mut out = String::new();
        for chunk in fixture(path).chunks(37) {
            for message in decoder.feed(chunk).unwrap() {
                out.push_str(&translator.event(&to_sse_event(&message)));
            }
        }
        out.push_str(&translator.finish());
        (out, translator)
    }

    fn load(path: &str) -> Value {
        serde_json::from_slice(&fixture(path)).unwrap()
    }

    fn chunks(framed: &str) -> Vec<Value> {
        framed
            .split("\n\n")
            .filter_map(|frame| frame.strip_prefix("data: "))
            .filter(|data| *data != "[DONE]")
            .map(|data| serde_json::from_str(data).unwrap())
            .collect()
    }

    #[test]
    fn a_streamed_tool_call_without_arguments_gets_an_empty_object() {
        let mut translator = ConverseStreamTranslator::new("m", 7, false);
        let event = |name: &str, data: &str| Event {
            event: Some(name.into()),
            data: data.into(),
        };
        let mut framed = String::new();
        for e in [
            event("messageStart", r#"{"role":"assistant"}"#),
            event(
                "contentBlockStart",
                r#"{"contentBlockIndex":0,"start":{"toolUse":{"toolUseId":"t","name":"now"}}}"#,
            ),
            event(
                "contentBlockDelta",
                r#"{"contentBlockIndex":0,"delta":{"toolUse":{"input":""}}}"#,
            ),
            event("contentBlockStop", r#"{"contentBlockIndex":0}"#),
        ] {
            framed.push_str(&translator.event(&e));
        }
        let args: String = chunks(&framed)
            .iter()
            .filter_map(|c| {
                c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
                    .as_str()
                    .map(str::to_string)
            })
            .collect();
        assert_eq!(args, "{}");
    }

    #[test]
    fn stream_rebuilds_text_tool_call_finish_and_usage() {
        let (framed, translator) = translate("bedrock/converse_stream.bin", true);
        assert!(framed.ends_with("data: [DONE]\n\n"));
        assert_eq!(framed.matches("[DONE]").count(), 1, "finish adds nothing");
        assert!(translator.finished());
        let chunks = chunks(&framed);
        assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
        assert!(
            chunks
                .iter()
                .all(|c| c["object"] == "chat.completion.chunk")
        );
        assert!(
            chunks
                .iter()
                .all(|c| c["id"] == chunks[0]["id"] && c["model"] == "claude-on-bedrock")
        );
        let delta = |c: &Value| c["choices"][0]["delta"].clone();
        let text: String = chunks
            .iter()
            .filter_map(|c| delta(c)["content"].as_str().map(String::from))
            .collect();
        assert_eq!(text, "I'll look up the current weather in Paris.");
        let calls: Vec<Value> = chunks
            .iter()
            .filter_map(|c| delta(c)["tool_calls"].get(0).cloned())
            .collect();
        assert_eq!(calls[0]["id"], "tooluse_Xq3vR8kLmN2pT5wY7zA1bC");
        assert_eq!(calls[0]["function"]["name"], "get_weather");
        assert!(calls.iter().all(|c| c["index"] == 0));
        let args: String = calls
            .iter()
            .filter_map(|c| c["function"]["arguments"].as_str())
            .collect();
        assert_eq!(args, r#"{"location": "Paris", "unit": "celsius"}"#);
        let finishes: Vec<&str> = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["finish_reason"].as_str())
            .collect();
        assert_eq!(finishes, ["tool_calls"]);
        let usage = chunks.last().unwrap();
        assert_eq!(usage["choices"], json!([]));
        assert_eq!(
            usage["usage"],
            json!({"prompt_tokens": 412 + 1536, "completion_tokens": 74, "total_tokens": 2022, "prompt_tokens_details": {"cached_tokens": 1536}, "completion_tokens_details": {"reasoning_tokens": 0}})
        );
        assert_eq!(
            translator.usage(),
            Some(Usage {
                input: 1948,
                output: 74,
                cached: 1536,
                reasoning: 0,
                cache_write: 0
            })
        );
    }

    #[test]
    fn usage_chunk_is_only_sent_when_asked_for() {
        let (framed, translator) = translate("bedrock/converse_stream.bin", false);
        assert!(chunks(&framed).iter().all(|c| c.get("usage").is_none()));
        assert!(framed.ends_with("data: [DONE]\n\n"));
        assert_eq!(translator.usage().map(|u| u.output), Some(74));
    }

    #[test]
    fn in_stream_exception_becomes_an_error_frame_and_ends_the_stream() {
        let (framed, translator) = translate("bedrock/converse_stream_exception.bin", true);
        assert!(translator.finished());
        assert!(!framed.contains("[DONE]"), "the error is the last frame");
        let chunks = chunks(&framed);
        let error = &chunks.last().unwrap()["error"];
        assert_eq!(
            error["message"],
            "Too many tokens, please wait before trying again."
        );
        assert_eq!(error["type"], "rate_limit_error");
        assert_eq!(error["code"], "ThrottlingException");
        let text: String = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert!(text.ends_with("Paris is"), "{text}");
    }

    #[test]
    fn a_stream_cut_before_its_stop_reason_ends_with_an_error_and_after_it_closes() {
        let start = Event {
            event: Some("messageStart".into()),
            data: r#"{"role":"assistant"}"#.into(),
        };
        let mut translator = ConverseStreamTranslator::new("m", 1, true);
        assert!(translator.event(&start).starts_with("data: {"));
        assert!(!translator.finished());
        let cut = translator.finish();
        let error: Value = serde_json::from_str(
            cut.strip_prefix("data: ")
                .and_then(|c| c.strip_suffix("\n\n"))
                .unwrap(),
        )
        .unwrap();
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .contains("cut short"),
            "{cut}"
        );
        assert!(translator.finished());
        assert_eq!(translator.finish(), "");
        assert_eq!(translator.usage(), None);

        // Ended after `messageStop` but before `metadata`: the answer is whole.
        let mut translator = ConverseStreamTranslator::new("m", 1, false);
        translator.event(&start);
        let stop = Event {
            event: Some("messageStop".into()),
            data: r#"{"stopReason":"end_turn"}"#.into(),
        };
        assert!(
            translator
                .event(&stop)
                .contains("\"finish_reason\":\"stop\"")
        );
        assert_eq!(translator.finish(), "data: [DONE]\n\n");
    }

    #[test]
    fn a_streamed_stop_at_a_stop_sequence_names_it_in_the_choice() {
        let mut translator = ConverseStreamTranslator::new("m", 1, false);
        let stop = Event {
            event: Some("messageStop".into()),
            data: r#"{"stopReason":"stop_sequence","additionalModelResponseFields":{"stop_sequence":"END"}}"#.into(),
        };
        let payloads = translator.payloads(&stop);
        let chunk: Value = serde_json::from_str(&payloads[0]).unwrap();
        assert_eq!(chunk["choices"][0]["finish_reason"], "stop");
        assert_eq!(chunk["choices"][0]["stop_reason"], "END");
    }

    #[test]
    fn text_response_translates_with_usage() {
        let chat = converse_to_chat(&load("bedrock/converse_response.json"), "claude", 7);
        assert!(chat["id"].as_str().unwrap().starts_with("chatcmpl-"));
        assert_eq!(chat["object"], "chat.completion");
        assert_eq!(chat["model"], "claude");
        assert_eq!(chat["created"], 7);
        let choice = &chat["choices"][0];
        assert_eq!(
            choice["message"]["content"],
            "It's 18 °C and partly cloudy in Paris right now."
        );
        assert!(choice["message"].get("tool_calls").is_none());
        assert_eq!(choice["finish_reason"], "stop");
        assert_eq!(
            chat["usage"],
            json!({"prompt_tokens": 57 + 1536, "cache_creation_input_tokens": 1536, "completion_tokens": 19, "total_tokens": 1612, "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0}})
        );
        // An Anthropic client sees the cache write apart, as Anthropic reports it.
        let message = crate::translate::messages_on_chat::chat_to_message(&chat);
        assert_eq!(message["usage"]["input_tokens"], 57);
        assert_eq!(message["usage"]["cache_creation_input_tokens"], 1536);
        assert_eq!(message["usage"]["cache_read_input_tokens"], 0);
    }

    #[test]
    fn tool_use_response_translates_to_tool_calls() {
        let chat = converse_to_chat(
            &load("bedrock/converse_response_tool_use.json"),
            "claude",
            7,
        );
        let choice = &chat["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls");
        assert_eq!(
            choice["message"]["content"],
            "I'll look up the current weather in Paris."
        );
        let call = &choice["message"]["tool_calls"][0];
        assert_eq!(call["id"], "tooluse_Xq3vR8kLmN2pT5wY7zA1bC");
        assert_eq!(call["function"]["name"], "get_weather");
        let args: Value =
            serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(args, json!({"location": "Paris", "unit": "celsius"}));
        assert_eq!(chat["usage"]["prompt_tokens"], 412 + 1536);
        assert_eq!(chat["usage"]["total_tokens"], 2022);
        assert_eq!(
            chat["usage"]["prompt_tokens_details"]["cached_tokens"],
            1536
        );
        for (stop, finish) in [
            ("max_tokens", "length"),
            ("stop_sequence", "stop"),
            ("guardrail_intervened", "content_filter"),
            ("content_filtered", "content_filter"),
        ] {
            assert_eq!(finish_reason(Some(stop)), finish);
        }
    }
}
