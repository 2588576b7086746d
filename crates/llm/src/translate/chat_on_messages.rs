//! OpenAI Chat Completions clients on an Anthropic Messages provider: the request, the
//! response, the stream and errors, each translated the way it travels.

use std::sync::LazyLock;

use memchr::memmem;
use serde_json::{Map, Value, json};

use crate::error::LlmError;
use crate::sse::Event;
use crate::translate::openai_chunk::ChunkHead;
use crate::usage::Usage;

/// Anthropic requires `max_tokens`; OpenAI clients often send none.
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

/// An OpenAI Chat Completions request as an Anthropic Messages request.
pub fn chat_to_messages(request: &Value) -> Result<Value, LlmError> {
    crate::request::single_choice(request, "Anthropic")?;
    let mut out = Map::new();
    out.insert("model".into(), request["model"].clone());
    let max_tokens = request
        .get("max_completion_tokens")
        .or_else(|| request.get("max_tokens"))
        .and_then(Value::as_u64)
        .unwrap_or(DEFAULT_MAX_TOKENS);
    out.insert("max_tokens".into(), json!(max_tokens));
    let (system, messages) = messages(
        request["messages"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default(),
    )?;
    if !system.is_empty() {
        out.insert("system".into(), json!(system));
    }
    out.insert("messages".into(), Value::Array(messages));
    for field in ["temperature", "top_p", "stream"] {
        if let Some(v) = request.get(field).filter(|v| !v.is_null()) {
            out.insert(field.into(), v.clone());
        }
    }
    match request.get("stop") {
        Some(Value::String(s)) => {
            out.insert("stop_sequences".into(), json!([s]));
        }
        Some(Value::Array(a)) => {
            out.insert("stop_sequences".into(), Value::Array(a.clone()));
        }
        _ => {}
    }
    if let Some(tools) = request
        .get("tools")
        .and_then(Value::as_array)
        .filter(|t| !t.is_empty())
    {
        out.insert(
            "tools".into(),
            Value::Array(tools.iter().map(tool).collect()),
        );
        if let Some(choice) = tool_choice(request) {
            out.insert("tool_choice".into(), choice);
        }
    }
    if let Some(user) = request.get("user").and_then(Value::as_str) {
        out.insert("metadata".into(), json!({ "user_id": user }));
    }
    Ok(Value::Object(out))
}

/// System and developer messages become the system prompt; tool results become user
/// turns; turns of one role in a row are merged, as Anthropic wants them alternating.
fn messages(input: &[Value]) -> Result<(String, Vec<Value>), LlmError> {
    let mut system = Vec::new();
    let mut out: Vec<(String, Vec<Value>)> = Vec::new();
    for message in input {
        let role = message["role"].as_str().unwrap_or_default();
        let (role, blocks) = match role {
            "system" | "developer" => {
                system.push(text_of(&message["content"]));
                continue;
            }
            "user" => ("user", content_blocks(&message["content"])),
            "assistant" => ("assistant", assistant_blocks(message)),
            "tool" => (
                "user",
                vec![json!({
                    "type": "tool_result",
                    "tool_use_id": message["tool_call_id"].as_str().unwrap_or_default(),
                    "content": text_of(&message["content"]),
                })],
            ),
            other => {
                return Err(LlmError::InvalidField {
                    field: "messages",
                    why: format!(
                        "role '{other}' is not one of system, developer, user, assistant, tool"
                    ),
                });
            }
        };
        match out.last_mut() {
            Some((last, existing)) if last == role => existing.extend(blocks),
            _ => out.push((role.to_string(), blocks)),
        }
    }
    let messages = out
        .into_iter()
        .map(|(role, content)| json!({ "role": role, "content": content }))
        .collect();
    Ok((system.join("\n\n"), messages))
}

/// The text of a content that is a string or a list of text parts.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

fn content_blocks(content: &Value) -> Vec<Value> {
    match content {
        Value::String(s) => vec![json!({ "type": "text", "text": s })],
        Value::Array(parts) => parts.iter().filter_map(part).collect(),
        _ => Vec::new(),
    }
}

fn part(part: &Value) -> Option<Value> {
    match part["type"].as_str()? {
        "text" => Some(json!({ "type": "text", "text": part["text"] })),
        "image_url" => {
            let url = part["image_url"]["url"].as_str()?;
            let source = match url
                .strip_prefix("data:")
                .and_then(|rest| rest.split_once(";base64,"))
            {
                Some((media_type, data)) => {
                    json!({ "type": "base64", "media_type": media_type, "data": data })
                }
                None => json!({ "type": "url", "url": url }),
            };
            Some(json!({ "type": "image", "source": source }))
        }
        _ => None,
    }
}

fn assistant_blocks(message: &Value) -> Vec<Value> {
    let mut blocks = Vec::new();
    let text = text_of(&message["content"]);
    if !text.is_empty() {
        blocks.push(json!({ "type": "text", "text": text }));
    }
    for call in message["tool_calls"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let arguments = call["function"]["arguments"].as_str().unwrap_or("{}");
        let input: Value = serde_json::from_str(arguments).unwrap_or_else(|_| json!({}));
        blocks.push(json!({ "type": "tool_use", "id": call["id"], "name": call["function"]["name"], "input": input }));
    }
    blocks
}

fn tool(tool: &Value) -> Value {
    let f = &tool["function"];
    let mut out = json!({ "name": f["name"], "input_schema": f.get("parameters").cloned().unwrap_or_else(|| json!({ "type": "object" })) });
    if let Some(d) = f.get("description").filter(|d| !d.is_null()) {
        out["description"] = d.clone();
    }
    out
}

fn tool_choice(request: &Value) -> Option<Value> {
    let mut choice = match request.get("tool_choice") {
        Some(Value::String(s)) if s == "none" => json!({ "type": "none" }),
        Some(Value::String(s)) if s == "required" => json!({ "type": "any" }),
        Some(Value::Object(o)) => {
            json!({ "type": "tool", "name": o.get("function")?.get("name")? })
        }
        _ => json!({ "type": "auto" }),
    };
    if request.get("parallel_tool_calls") == Some(&Value::Bool(false)) && choice["type"] != "none" {
        choice["disable_parallel_tool_use"] = Value::Bool(true);
    }
    Some(choice)
}

/// Anthropic's `stop_reason` as OpenAI's `finish_reason`.
pub fn finish_reason(stop_reason: Option<&str>) -> &'static str {
    match stop_reason {
        Some("max_tokens" | "model_context_window_exceeded") => "length",
        Some("tool_use") => "tool_calls",
        Some("refusal") => "content_filter",
        _ => "stop",
    }
}

fn openai_usage(usage: &Usage) -> Value {
    json!({
        "prompt_tokens": usage.input,
        "completion_tokens": usage.output,
        "total_tokens": usage.input + usage.output,
        "prompt_tokens_details": { "cached_tokens": usage.cached },
    })
}

/// An Anthropic Messages response as an OpenAI Chat Completion.
pub fn message_to_chat(message: &Value, created: u64) -> Value {
    let blocks = message["content"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
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
    let mut reply = json!({ "role": "assistant", "content": if text.is_empty() { Value::Null } else { json!(text) }, "refusal": null });
    if !calls.is_empty() {
        reply["tool_calls"] = Value::Array(calls);
    }
    let usage = message
        .get("usage")
        .and_then(Usage::from_anthropic)
        .unwrap_or_default();
    json!({
        "id": message["id"],
        "object": "chat.completion",
        "created": created,
        "model": message["model"],
        "choices": [{ "index": 0, "message": reply, "logprobs": null, "finish_reason": finish_reason(message["stop_reason"].as_str()) }],
        "usage": openai_usage(&usage),
    })
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
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
    /// Anthropic content-block index -> OpenAI tool-call index.
    tool_calls: Vec<(u64, usize)>,
    pub usage: Option<Usage>,
    done: bool,
    /// A text chunk rendered around a placeholder, split there: text deltas (most events of
    /// a stream) are written into it without building JSON trees. Reset when `id` or `model`
    /// change.
    text_frame: Option<(String, String)>,
}

/// Stands in for the text when the text-chunk frame is rendered; no real text is it.
const TEXT_PLACEHOLDER: &str = "\u{1}agentgateway-text\u{1}";

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
    usage: Option<Value>,
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
            id: String::new(),
            model: model.to_string(),
            created,
            include_usage,
            tool_calls: Vec::new(),
            usage: None,
            done: false,
            text_frame: None,
        }
    }

    /// The chunk for a text delta, when `data` is one; the same bytes `chunk` would give.
    fn text_chunk(&mut self, data: &str) -> Option<String> {
        let event: DeltaEvent<'_> = serde_json::from_str(data).ok()?;
        if event.kind != "content_block_delta" || event.delta.kind != "text_delta" {
            return None;
        }
        let text = event.delta.text?;
        if self.text_frame.is_none() {
            let rendered = self.chunk(json!({ "content": TEXT_PLACEHOLDER }), None);
            let marker = serde_json::to_string(TEXT_PLACEHOLDER).ok()?;
            let (prefix, suffix) = rendered.split_once(&marker)?;
            self.text_frame = Some((prefix.to_string(), suffix.to_string()));
        }
        let (prefix, suffix) = self.text_frame.as_ref()?;
        let mut out = String::with_capacity(prefix.len() + text.len() + suffix.len() + 8);
        out.push_str(prefix);
        out.push_str(&serde_json::to_string(&*text).ok()?);
        out.push_str(suffix);
        Some(out)
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> String {
        self.head().choice(0, &delta, finish)
    }

    fn head(&self) -> ChunkHead<'_> {
        ChunkHead::new(&self.id, &self.model, self.created)
    }

    /// What `message_start` becomes: the assistant's first chunk.
    fn started(&mut self, id: &str, model: Option<&str>, usage: Option<&Value>) -> Vec<String> {
        self.id = id.to_string();
        if let Some(m) = model {
            self.model = m.to_string();
        }
        self.text_frame = None;
        self.usage = usage.and_then(Usage::from_anthropic);
        vec![self.chunk(json!({ "role": "assistant", "content": "" }), None)]
    }

    /// What `message_delta` becomes: the final usage is noted, the finish reason sent.
    fn stopping(&mut self, output_tokens: Option<u64>, stop_reason: Option<&str>) -> Vec<String> {
        let mut usage = self.usage.unwrap_or_default();
        if let Some(output) = output_tokens {
            usage.output = output;
        }
        self.usage = Some(usage);
        vec![self.chunk(json!({}), Some(finish_reason(stop_reason)))]
    }

    /// What `message_stop` becomes: the usage chunk when asked for, then `[DONE]`.
    fn last_payloads(&self) -> Vec<String> {
        let usage = self
            .include_usage
            .then(|| openai_usage(&self.usage.unwrap_or_default()));
        self.head().end(usage.as_ref())
    }

    /// The `data:` payloads (without framing) that one Anthropic event becomes.
    pub fn payloads(&mut self, event: &Event) -> Vec<String> {
        // Text deltas are most of a stream: they take a path without JSON trees.
        static TEXT_DELTA: LazyLock<memmem::Finder<'static>> =
            LazyLock::new(|| memmem::Finder::new(b"\"text_delta\""));
        if TEXT_DELTA.find(event.data.as_bytes()).is_some()
            && let Some(chunk) = self.text_chunk(&event.data)
        {
            return vec![chunk];
        }
        // Events that become nothing, or need nothing from their body, skip the tree too.
        if let Ok(head) = serde_json::from_str::<EventKind<'_>>(&event.data) {
            match head.kind.as_ref() {
                "content_block_stop" | "ping" => return Vec::new(),
                "content_block_start"
                    if head.content_block.is_some_and(|b| b.kind != "tool_use") =>
                {
                    return Vec::new();
                }
                "message_start" if head.message.is_some() => {
                    let message = head.message.unwrap_or_default();
                    return self.started(
                        message.id.as_deref().unwrap_or_default(),
                        message.model.as_deref(),
                        message.usage.as_ref(),
                    );
                }
                "message_delta" => {
                    return self.stopping(
                        head.usage.and_then(|u| u.output_tokens),
                        head.delta.as_ref().and_then(|d| d.stop_reason.as_deref()),
                    );
                }
                "message_stop" => return self.last_payloads(),
                _ => {}
            }
        }
        self.payloads_from_tree(&event.data)
    }

    /// The general path: the event read as a JSON tree.
    fn payloads_from_tree(&mut self, data: &str) -> Vec<String> {
        let Ok(v) = serde_json::from_str::<Value>(data) else {
            return Vec::new();
        };
        match v["type"].as_str().unwrap_or_default() {
            "message_start" => {
                let message = &v["message"];
                self.started(
                    message["id"].as_str().unwrap_or_default(),
                    message["model"].as_str(),
                    message.get("usage"),
                )
            }
            "content_block_start" if v["content_block"]["type"] == "tool_use" => {
                let index = self.tool_calls.len();
                self.tool_calls
                    .push((v["index"].as_u64().unwrap_or(0), index));
                let block = &v["content_block"];
                let call = json!({ "index": index, "id": block["id"], "type": "function", "function": { "name": block["name"], "arguments": "" } });
                vec![self.chunk(json!({ "tool_calls": [call] }), None)]
            }
            "content_block_delta" => match v["delta"]["type"].as_str() {
                Some("text_delta") => {
                    vec![self.chunk(json!({ "content": v["delta"]["text"] }), None)]
                }
                Some("input_json_delta") => {
                    let block = v["index"].as_u64().unwrap_or(0);
                    let Some(&(_, index)) = self.tool_calls.iter().find(|(b, _)| *b == block)
                    else {
                        return Vec::new();
                    };
                    let call = json!({ "index": index, "function": { "arguments": v["delta"]["partial_json"] } });
                    vec![self.chunk(json!({ "tool_calls": [call] }), None)]
                }
                _ => Vec::new(),
            },
            "message_delta" => self.stopping(
                v["usage"]["output_tokens"].as_u64(),
                v["delta"]["stop_reason"].as_str(),
            ),
            "message_stop" => self.last_payloads(),
            "error" => vec![error_to_openai(&v).to_string()],
            _ => Vec::new(),
        }
    }
}

impl super::ChunkStream for StreamTranslator {
    fn translate(&mut self, event: &Event) -> Vec<String> {
        self.payloads(event)
    }

    fn is_done(&self) -> bool {
        self.done
    }

    fn mark_done(&mut self) {
        self.done = true;
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

    #[test]
    fn request_translation_covers_system_tools_and_tool_results() {
        let request = json!({
            "model": "claude-sonnet-4-5",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "Weather?"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
                {"role": "user", "content": "Thanks"}
            ],
            "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": {"type": "object"}}}],
            "tool_choice": "required",
            "stop": "END",
            "temperature": 0.1
        });
        let out = chat_to_messages(&request).unwrap();
        assert_eq!(out["system"], "Be brief.");
        assert_eq!(out["max_tokens"], DEFAULT_MAX_TOKENS);
        assert_eq!(out["stop_sequences"], json!(["END"]));
        assert_eq!(out["tool_choice"], json!({"type": "any"}));
        assert_eq!(out["tools"][0]["input_schema"], json!({"type": "object"}));
        let messages = out["messages"].as_array().unwrap();
        assert_eq!(
            messages.len(),
            3,
            "the tool result and the next user turn merge"
        );
        assert_eq!(
            messages[0]["content"][1]["source"],
            json!({"type": "base64", "media_type": "image/png", "data": "AAAA"})
        );
        assert_eq!(messages[1]["content"][0]["input"], json!({"city": "Paris"}));
        assert_eq!(messages[2]["content"][0]["type"], "tool_result");
        assert_eq!(messages[2]["content"][1]["text"], "Thanks");
        assert!(chat_to_messages(&json!({"model": "m", "n": 2, "messages": []})).is_err());
    }

    #[test]
    fn response_translation_keeps_text_tools_and_usage() {
        let message: Value =
            serde_json::from_slice(&fixture("anthropic/messages_response_tool_use.json")).unwrap();
        let chat = message_to_chat(&message, 7);
        assert_eq!(chat["choices"][0]["finish_reason"], "tool_calls");
        let call = &chat["choices"][0]["message"]["tool_calls"][0];
        assert_eq!(call["function"]["name"], "get_weather");
        let args: Value =
            serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(args["location"], "Paris");
        assert_eq!(chat["usage"]["completion_tokens"], 74);
        assert_eq!(chat["usage"]["prompt_tokens"], 412 + 1536);
    }

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
                translator.chunk(json!({ "content": text }), None),
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
    fn quick_paths_give_what_the_tree_gives() {
        let mut events = SseDecoder::default().feed(&fixture("anthropic/messages_stream.sse"));
        events.extend(SseDecoder::default().feed(&fixture("anthropic/messages_stream_error.sse")));
        let odd = [
            r#"{"type":"message_start","message":{"id":7,"model":"m","usage":{"input_tokens":2}}}"#,
            r#"{"type":"message_start","message":{"id":"a","model":null,"usage":{"input_tokens":2.5}}}"#,
            r#"{"type":"message_start"}"#,
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
            assert_eq!((quick.usage, &quick.model), (tree.usage, &tree.model));
        }
    }
}
