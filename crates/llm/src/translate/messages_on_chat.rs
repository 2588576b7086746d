//! Anthropic Messages clients (Claude Code, the Anthropic SDKs) on an OpenAI-compatible
//! provider (OpenAI, Ollama, vLLM): the request, the response, the stream and errors, each
//! translated the way it travels.

use serde_json::{Map, Value, json};

use crate::LlmError;
use crate::error::anthropic_error;
use crate::sse::Event;
use crate::usage::Usage;

/// An Anthropic Messages request as an OpenAI Chat Completions request. Content with no
/// Chat Completions form (a document by URL) is an error naming it, never left out.
pub fn messages_to_chat(request: &Value) -> Result<Value, LlmError> {
    let mut out = Map::new();
    out.insert("model".into(), request["model"].clone());
    let mut messages = Vec::new();
    match &request["system"] {
        // Prompt-cache marks stay on their blocks, as text parts (see `cached`).
        Value::Array(blocks) if blocks.iter().any(|b| b.get("cache_control").is_some()) => {
            let parts: Vec<Value> = blocks
                .iter()
                .filter_map(|b| {
                    Some(cached(
                        json!({ "type": "text", "text": b["text"].as_str()? }),
                        b,
                    ))
                })
                .collect();
            messages.push(json!({ "role": "system", "content": parts }));
        }
        system => {
            let system = joined_text(system, "\n\n");
            if !system.is_empty() {
                messages.push(json!({ "role": "system", "content": system }));
            }
        }
    }
    for message in request["messages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        match message["role"].as_str() {
            Some("assistant") => messages.push(assistant(&message["content"])),
            _ => messages.extend(user(&message["content"])?),
        }
    }
    out.insert("messages".into(), Value::Array(messages));
    if let Some(max) = request.get("max_tokens").filter(|v| !v.is_null()) {
        out.insert("max_tokens".into(), max.clone());
    }
    for field in ["temperature", "top_p"] {
        if let Some(v) = request.get(field).filter(|v| !v.is_null()) {
            out.insert(field.into(), v.clone());
        }
    }
    if let Some(stop) = request.get("stop_sequences").filter(|v| v.is_array()) {
        out.insert("stop".into(), stop.clone());
    }
    if request["stream"] == Value::Bool(true) {
        out.insert("stream".into(), Value::Bool(true));
        // Anthropic streams always report usage; ask the provider for it.
        out.insert("stream_options".into(), json!({ "include_usage": true }));
    }
    if let Some(tools) = request["tools"].as_array().filter(|t| !t.is_empty()) {
        let tools = tools
            .iter()
            .map(|t| cached(json!({ "type": "function", "function": { "name": t["name"], "description": t.get("description").cloned().unwrap_or(Value::Null), "parameters": t["input_schema"] } }), t))
            .collect();
        out.insert("tools".into(), Value::Array(tools));
        let choice = &request["tool_choice"];
        let mapped = match choice["type"].as_str() {
            Some("any") => json!("required"),
            Some("none") => json!("none"),
            Some("tool") => json!({ "type": "function", "function": { "name": choice["name"] } }),
            _ => json!("auto"),
        };
        out.insert("tool_choice".into(), mapped);
        if choice["disable_parallel_tool_use"] == Value::Bool(true) {
            out.insert("parallel_tool_calls".into(), Value::Bool(false));
        }
    }
    if let Some(user) = request["metadata"]["user_id"].as_str() {
        out.insert("user".into(), json!(user));
    }
    Ok(Value::Object(out))
}

/// A user turn: tool results become `tool` messages (first, as OpenAI wants them right
/// after the assistant's calls), the rest one user message.
fn user(content: &Value) -> Result<Vec<Value>, LlmError> {
    let blocks = match content {
        Value::String(s) => return Ok(vec![json!({ "role": "user", "content": s })]),
        Value::Array(blocks) => blocks,
        _ => return Ok(Vec::new()),
    };
    let mut out = Vec::new();
    let mut parts = Vec::new();
    for block in blocks {
        match block["type"].as_str() {
            Some("tool_result") => out.push(json!({ "role": "tool", "tool_call_id": block["tool_use_id"], "content": text_of(&block["content"]) })),
            Some("text") => parts.push(cached(json!({ "type": "text", "text": block["text"] }), block)),
            Some("image") => {
                let source = &block["source"];
                let url = match source["type"].as_str() {
                    Some("base64") => format!("data:{};base64,{}", source["media_type"].as_str().unwrap_or("image/png"), source["data"].as_str().unwrap_or_default()),
                    _ => source["url"].as_str().unwrap_or_default().to_string(),
                };
                parts.push(cached(json!({ "type": "image_url", "image_url": { "url": url } }), block));
            }
            Some("document") => parts.push(document_part(block)?),
            _ => {}
        }
    }
    if !parts.is_empty() {
        out.push(json!({ "role": "user", "content": parts }));
    }
    Ok(out)
}

/// `part` with the prompt-cache mark of the Anthropic `block` it comes from, if any: the
/// Chat Completions pivot carries `cache_control` on parts and tools (as LiteLLM does), so
/// that a provider with prompt caching (Bedrock's `cachePoint`) gets it; it is removed
/// before a request goes to an OpenAI-compatible server.
fn cached(mut part: Value, block: &Value) -> Value {
    if let Some(mark) = block.get("cache_control").filter(|m| !m.is_null()) {
        part["cache_control"] = mark.clone();
    }
    part
}

/// Removes the prompt-cache marks `messages_to_chat` carried over, for a provider that
/// speaks Chat Completions and would not know them.
pub fn strip_cache_marks(chat: &mut Value) {
    let strip = |items: &mut Value| {
        for item in items.as_array_mut().into_iter().flatten() {
            if let Some(object) = item.as_object_mut() {
                object.remove("cache_control");
            }
        }
    };
    for message in chat["messages"].as_array_mut().into_iter().flatten() {
        strip(&mut message["content"]);
        // The system prompt goes back to the one string it is without marks.
        if message["role"] == "system" && message["content"].is_array() {
            message["content"] = Value::String(joined_text(&message["content"], "\n\n"));
        }
    }
    strip(&mut chat["tools"]);
}

/// A document block as a Chat Completions part: an inline PDF as a file part, plain text
/// as text. A document by URL has no such form.
fn document_part(block: &Value) -> Result<Value, LlmError> {
    let source = &block["source"];
    let filename = block["title"].as_str().unwrap_or("document.pdf");
    match source["type"].as_str() {
        Some("base64") => {
            let media_type = source["media_type"].as_str().unwrap_or("application/pdf");
            let data = source["data"].as_str().unwrap_or_default();
            Ok(json!({ "type": "file", "file": {
                "filename": filename,
                "file_data": format!("data:{media_type};base64,{data}"),
            } }))
        }
        Some("text") => Ok(json!({ "type": "text", "text": source["data"] })),
        other => Err(LlmError::InvalidField {
            field: "messages",
            why: format!(
                "a document with a source of type '{}' cannot be passed on to this provider; send the PDF inline (base64) or as text",
                other.unwrap_or("none")
            ),
        }),
    }
}

fn text_of(content: &Value) -> String {
    joined_text(content, "")
}

/// The text of a string, or of a list of blocks joined by `separator`.
fn joined_text(content: &Value, separator: &str) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b["text"].as_str())
            .collect::<Vec<_>>()
            .join(separator),
        _ => String::new(),
    }
}

fn assistant(content: &Value) -> Value {
    let blocks = match content {
        Value::String(s) => return json!({ "role": "assistant", "content": s }),
        Value::Array(blocks) => blocks.as_slice(),
        _ => &[],
    };
    let text: String = blocks
        .iter()
        .filter(|b| b["type"] == "text")
        .filter_map(|b| b["text"].as_str())
        .collect();
    let calls: Vec<Value> = blocks
        .iter()
        .filter(|b| b["type"] == "tool_use")
        .map(|b| json!({ "id": b["id"], "type": "function", "function": { "name": b["name"], "arguments": b["input"].to_string() } }))
        .collect();
    let mut message = json!({ "role": "assistant", "content": if text.is_empty() { Value::Null } else { json!(text) } });
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    message
}

/// OpenAI's `finish_reason` as Anthropic's `stop_reason`.
pub fn stop_reason(finish_reason: Option<&str>) -> &'static str {
    match finish_reason {
        Some("length") => "max_tokens",
        Some("tool_calls" | "function_call") => "tool_use",
        Some("content_filter") => "refusal",
        _ => "end_turn",
    }
}

fn anthropic_usage(usage: &Usage) -> Value {
    let uncached = usage.input.saturating_sub(usage.cached + usage.cache_write);
    json!({ "input_tokens": uncached, "cache_creation_input_tokens": usage.cache_write, "cache_read_input_tokens": usage.cached, "output_tokens": usage.output })
}

/// An OpenAI Chat Completion as an Anthropic message.
pub fn chat_to_message(chat: &Value) -> Value {
    let choice = &chat["choices"][0];
    let message = &choice["message"];
    let mut content = Vec::new();
    if let Some(text) = message["content"].as_str().filter(|t| !t.is_empty()) {
        content.push(json!({ "type": "text", "text": text }));
    }
    for call in message["tool_calls"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let input: Value =
            serde_json::from_str(call["function"]["arguments"].as_str().unwrap_or("{}"))
                .unwrap_or_else(|_| json!({}));
        content.push(json!({ "type": "tool_use", "id": call["id"], "name": call["function"]["name"], "input": input }));
    }
    let usage = chat
        .get("usage")
        .and_then(Usage::from_openai)
        .unwrap_or_default();
    json!({
        "id": chat["id"],
        "type": "message",
        "role": "assistant",
        "model": chat["model"],
        "content": content,
        "stop_reason": stop_reason(choice["finish_reason"].as_str()),
        "stop_sequence": null,
        "usage": anthropic_usage(&usage),
    })
}

/// An OpenAI error body (answered with `status`) in Anthropic's shape.
pub fn error_to_anthropic(body: &Value, status: u16) -> Value {
    let error = &body["error"];
    // OpenAI calls most client errors `invalid_request_error`; where the status says
    // more (a missing model is a 404), Anthropic's type for the status is the closer one.
    let by_status = crate::error::anthropic_type_for_status(status);
    // Types Anthropic shares with the translated error pass through; OpenAI's own names
    // for a rate limit (as type or code) become Anthropic's.
    let code = error["code"].as_str();
    let kind = match error["type"].as_str() {
        Some(
            kind @ ("invalid_request_error"
            | "authentication_error"
            | "permission_error"
            | "not_found_error"
            | "rate_limit_error"
            | "overloaded_error"),
        ) => kind,
        Some("rate_limit_exceeded" | "insufficient_quota") => "rate_limit_error",
        _ if matches!(code, Some("rate_limit_exceeded" | "insufficient_quota")) => {
            "rate_limit_error"
        }
        // No type (Azure's content filter says `null`) or one of OpenAI's own: the
        // status decides.
        _ => by_status,
    };
    let kind = match (kind, by_status) {
        ("invalid_request_error" | "api_error", specific)
            if !matches!(specific, "invalid_request_error" | "api_error") =>
        {
            specific
        }
        _ => kind,
    };
    anthropic_error(
        kind,
        error["message"]
            .as_str()
            .unwrap_or("the provider reported an error"),
    )
}

/// What is open in the Anthropic stream being built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    None,
    Text(usize),
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
            Block::Text(i) | Block::Tool(i, _) => i,
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
        let delta = json!({ "type": "message_delta", "delta": { "stop_reason": self.stop_reason.unwrap_or("end_turn"), "stop_sequence": null }, "usage": anthropic_usage(&usage) });
        out.push_str(&frame("message_delta", &delta));
        out.push_str(&frame("message_stop", &json!({ "type": "message_stop" })));
    }
}

impl super::EventTranslator for ChunkTranslator {
    fn event(&mut self, event: &Event) -> String {
        let mut out = String::new();
        if event.data == "[DONE]" {
            self.end(&mut out);
            return out;
        }
        let chunk = match super::event_json(&event.data) {
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
            if let Some(reason) = choice["finish_reason"].as_str() {
                self.stop_reason = Some(stop_reason(Some(reason)));
            }
        }
        out
    }

    fn finish(&mut self) -> String {
        if !self.done && self.stop_reason.is_none() {
            return self.error(super::CUT_SHORT);
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

    #[test]
    fn openai_errors_take_the_anthropic_type_their_status_says() {
        let error = |kind: &str, code: Option<&str>| json!({"error": {"message": "m", "type": kind, "code": code}});
        let cases = [
            (
                error("invalid_request_error", Some("model_not_found")),
                404,
                "not_found_error",
            ),
            (
                error("invalid_request_error", None),
                400,
                "invalid_request_error",
            ),
            (
                error("requests", Some("rate_limit_exceeded")),
                429,
                "rate_limit_error",
            ),
            (
                error("invalid_request_error", Some("invalid_api_key")),
                401,
                "authentication_error",
            ),
            (error("server_error", None), 500, "api_error"),
            (
                json!({"error": {"message": "m", "type": null, "code": "content_filter"}}),
                400,
                "invalid_request_error",
            ),
        ];
        for (body, status, want) in cases {
            let out = error_to_anthropic(&body, status);
            assert_eq!(out["type"], "error");
            assert_eq!(out["error"]["type"], want, "{body} {status}");
            assert_eq!(out["error"]["message"], "m");
        }
    }

    #[test]
    fn request_translation_moves_system_tools_and_results() {
        let request = json!({
            "model": "llama3.2", "max_tokens": 100, "system": [{"type": "text", "text": "Be brief."}], "stream": true,
            "messages": [
                {"role": "user", "content": "Weather?"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "Paris"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "18C"}, {"type": "text", "text": "Thanks"}]}
            ],
            "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "any"}
        });
        let chat = messages_to_chat(&request).unwrap();
        let messages = chat["messages"].as_array().unwrap();
        assert_eq!(
            messages[0],
            json!({"role": "system", "content": "Be brief."})
        );
        assert_eq!(
            messages[2]["tool_calls"][0]["function"]["arguments"],
            "{\"city\":\"Paris\"}"
        );
        assert_eq!(
            messages[3],
            json!({"role": "tool", "tool_call_id": "t1", "content": "18C"})
        );
        assert_eq!(messages[4]["content"][0]["text"], "Thanks");
        assert_eq!(chat["tool_choice"], "required");
        assert_eq!(chat["stream_options"]["include_usage"], true);
    }

    #[test]
    fn response_translation() {
        let chat: Value =
            serde_json::from_slice(&fixture("openai/chat_response_tool_calls.json")).unwrap();
        let message = chat_to_message(&chat);
        assert_eq!(message["stop_reason"], "tool_use");
        assert_eq!(message["content"][0]["type"], "tool_use");
        assert_eq!(message["content"][0]["input"]["location"], "Paris");
        assert_eq!(message["usage"]["output_tokens"], 19);
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
    fn documents_become_file_or_text_parts_and_a_url_document_is_refused() {
        let with = |document: Value| {
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [
                document, {"type": "text", "text": "summarise"}
            ]}]})
        };
        let pdf = json!({"type": "document", "title": "report.pdf", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"}});
        let chat = messages_to_chat(&with(pdf)).unwrap();
        assert_eq!(
            chat["messages"][0]["content"][0],
            json!({"type": "file", "file": {"filename": "report.pdf", "file_data": "data:application/pdf;base64,JVBERi0x"}})
        );
        let text = json!({"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "notes"}});
        let chat = messages_to_chat(&with(text)).unwrap();
        assert_eq!(
            chat["messages"][0]["content"][0],
            json!({"type": "text", "text": "notes"})
        );
        let url = json!({"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}});
        let error = messages_to_chat(&with(url)).unwrap_err();
        assert!(error.to_string().contains("'url'"), "{error}");
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
