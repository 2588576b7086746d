//! Anthropic Messages clients (Claude Code, the Anthropic SDKs) on an OpenAI-compatible
//! provider (OpenAI, Ollama, vLLM): the request, the response, the stream and errors, each
//! translated the way it travels.

use serde_json::{Map, Value, json};

use crate::LlmError;
use crate::error::anthropic_error;
use crate::usage::Usage;

mod stream;

pub use stream::ChunkTranslator;

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
    // `thinking` and `top_k` have no Chat Completions field: they travel in the pivot
    // under Anthropic's names, for Bedrock and Gemini, and are removed for OpenAI wires.
    for field in ["temperature", "top_p", "thinking", "top_k"] {
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
    // Structured output (`output_config.format`, as the Anthropic SDK's `parse` sends it, or
    // the older `output_format`) is Chat Completions' `json_schema` response format.
    let format = match &request["output_config"]["format"] {
        Value::Null => &request["output_format"],
        format => format,
    };
    if format["type"] == "json_schema" {
        let schema = json!({ "name": "output", "schema": format["schema"] });
        out.insert(
            "response_format".into(),
            json!({ "type": "json_schema", "json_schema": schema }),
        );
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
            Some("tool_result") => out.push(tool_message(block)?),
            Some("text") => parts.push(cached(
                json!({ "type": "text", "text": block["text"] }),
                block,
            )),
            Some("image") => parts.push(cached(image_part(block), block)),
            Some("document") => parts.push(document_part(block)?),
            _ => {}
        }
    }
    if !parts.is_empty() {
        out.push(json!({ "role": "user", "content": parts }));
    }
    Ok(out)
}

/// An image block as an `image_url` part (a data URL for inline bytes).
fn image_part(block: &Value) -> Value {
    let source = &block["source"];
    let url = match source["type"].as_str() {
        Some("base64") => format!(
            "data:{};base64,{}",
            source["media_type"].as_str().unwrap_or("image/png"),
            source["data"].as_str().unwrap_or_default()
        ),
        _ => source["url"].as_str().unwrap_or_default().to_string(),
    };
    json!({ "type": "image_url", "image_url": { "url": url } })
}

/// A `tool_result` block as a `tool` message. Its text is the content; a result with
/// images (a screenshot tool, Claude Code reading an image file) keeps them as `image_url`
/// parts beside the text, and `is_error` is kept: Bedrock and Gemini take both, and for
/// Chat Completions servers `strip_pivot_fields` moves the images to a user message.
fn tool_message(block: &Value) -> Result<Value, LlmError> {
    let content = match &block["content"] {
        Value::Array(blocks) if blocks.iter().any(|b| b["type"] != "text") => {
            let mut parts = Vec::new();
            for inner in blocks {
                match inner["type"].as_str() {
                    Some("text") => parts.push(json!({ "type": "text", "text": inner["text"] })),
                    Some("image") => parts.push(image_part(inner)),
                    Some("document") => parts.push(document_part(inner)?),
                    other => {
                        return Err(LlmError::InvalidField {
                            field: "messages",
                            why: format!(
                                "a tool_result holds a block of type '{}', which this provider cannot take; tool results may hold text, images and documents",
                                other.unwrap_or("none")
                            ),
                        });
                    }
                }
            }
            Value::Array(parts)
        }
        content => json!(text_of(content)),
    };
    let mut message =
        json!({ "role": "tool", "tool_call_id": block["tool_use_id"], "content": content });
    if block["is_error"] == Value::Bool(true) {
        message["is_error"] = Value::Bool(true);
    }
    Ok(message)
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

/// Removes what `messages_to_chat` carried over that Chat Completions servers do not know
/// (prompt-cache marks, `thinking`, `top_k`, thinking blocks), for a provider that speaks
/// Chat Completions: OpenAI refuses unknown request fields.
pub fn strip_pivot_fields(chat: &mut Value) {
    if let Some(object) = chat.as_object_mut() {
        object.remove("thinking");
        object.remove("top_k");
    }
    images_out_of_tool_results(chat);
    let strip = |items: &mut Value| {
        for item in items.as_array_mut().into_iter().flatten() {
            if let Some(object) = item.as_object_mut() {
                object.remove("cache_control");
            }
        }
    };
    for message in chat["messages"].as_array_mut().into_iter().flatten() {
        strip(&mut message["content"]);
        if let Some(object) = message.as_object_mut() {
            object.remove("thinking_blocks");
            object.remove("reasoning_content");
        }
        // Gemini's thought signatures ride in tool-call ids (`gemini::tool_call`); OpenAI
        // takes ids of at most 40 characters, so a conversation Gemini answered before a
        // failover goes on with the plain ids.
        if let Some(id) = message["tool_call_id"].as_str() {
            message["tool_call_id"] = json!(crate::gemini::split_signature(id).0);
        }
        for call in message
            .get_mut("tool_calls")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if let Some(id) = call["id"].as_str() {
                call["id"] = json!(crate::gemini::split_signature(id).0);
            }
        }
        // The system prompt goes back to the one string it is without marks.
        if message["role"] == "system" && message["content"].is_array() {
            message["content"] = Value::String(joined_text(&message["content"], "\n\n"));
        }
    }
    // `chat["tools"]` would add a `"tools": null` to a request without tools.
    if let Some(tools) = chat.get_mut("tools") {
        strip(tools);
    }
}

/// Chat Completions tool messages hold text only: the images and files of a run of tool
/// results (see `tool_message`) go in a user message right after the run, so the model still sees
/// them, and the tool messages keep their text. `is_error` has no counterpart there.
fn images_out_of_tool_results(chat: &mut Value) {
    let Some(messages) = chat["messages"].as_array_mut() else {
        return;
    };
    let mut out = Vec::with_capacity(messages.len());
    let mut images = Vec::new();
    for mut message in messages.drain(..) {
        let is_tool = message["role"] == "tool";
        if !is_tool && !images.is_empty() {
            out.push(json!({ "role": "user", "content": std::mem::take(&mut images) }));
        }
        if is_tool {
            if let Some(object) = message.as_object_mut() {
                object.remove("is_error");
            }
            if let Value::Array(parts) = &message["content"] {
                let (pictures, texts): (Vec<Value>, Vec<Value>) = parts
                    .iter()
                    .cloned()
                    .partition(|p| p["type"] == "image_url" || p["type"] == "file");
                images.extend(pictures);
                message["content"] = json!(joined_text(&Value::Array(texts), ""));
            }
        }
        out.push(message);
    }
    if !images.is_empty() {
        out.push(json!({ "role": "user", "content": images }));
    }
    *messages = out;
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
    // Signed thinking goes back to the provider that signed it (Bedrock's Claude wants it
    // before the turn's tool calls); unsigned thinking cannot be replayed and is left out.
    let thinking = blocks
        .iter()
        .filter(|b| match b["type"].as_str() {
            Some("thinking") => b["signature"].as_str().is_some_and(|s| !s.is_empty()),
            Some("redacted_thinking") => b["data"].is_string(),
            _ => false,
        })
        .cloned()
        .collect();
    super::reasoning::put_on_message(&mut message, thinking);
    message
}

/// A choice's end as Anthropic's `stop_reason` and `stop_sequence`: a stop at one of the
/// client's stop sequences names it in the choice's `stop_reason` (as vLLM writes it, and
/// the Bedrock translation from Converse's answer), which is Anthropic's `stop_sequence`.
pub(crate) fn stop_of(choice: &Value) -> (&'static str, Value) {
    let finish = choice["finish_reason"].as_str();
    match (finish, &choice["stop_reason"]) {
        (Some("stop"), Value::String(sequence)) => ("stop_sequence", json!(sequence)),
        _ => (stop_reason(finish), Value::Null),
    }
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
    let mut content = thinking_blocks(message);
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
    let (stop, sequence) = stop_of(choice);
    json!({
        "id": chat["id"],
        "type": "message",
        "role": "assistant",
        "model": chat["model"],
        "content": content,
        "stop_reason": stop,
        "stop_sequence": sequence,
        "usage": anthropic_usage(&usage),
    })
}

/// An answer's thinking as Anthropic blocks: the signed blocks when the provider gave them,
/// else its reasoning text (`reasoning_content` or `reasoning`) as one thinking block with an empty signature (an
/// OpenAI-compatible server's or Gemini's thoughts, which carry none).
fn thinking_blocks(message: &Value) -> Vec<Value> {
    if let Some(blocks) = message["thinking_blocks"]
        .as_array()
        .filter(|b| !b.is_empty())
    {
        return blocks.clone();
    }
    match reasoning_text(message) {
        Some(text) => vec![json!({ "type": "thinking", "thinking": text, "signature": "" })],
        None => Vec::new(),
    }
}

/// A message's or delta's reasoning text: `reasoning_content` (DeepSeek, vLLM's older
/// releases, LiteLLM) or `reasoning` (Ollama, newer vLLM, OpenRouter).
pub(crate) fn reasoning_text(message: &Value) -> Option<&str> {
    message["reasoning_content"]
        .as_str()
        .or_else(|| message["reasoning"].as_str())
        .filter(|t| !t.is_empty())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

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
    fn thinking_travels_in_the_pivot_and_is_removed_for_chat_wires() {
        let request = json!({
            "model": "anthropic.claude-sonnet-4-5", "max_tokens": 3000,
            "thinking": {"type": "enabled", "budget_tokens": 2000}, "top_k": 40,
            "messages": [
                {"role": "user", "content": "Weather?"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "Use the tool.", "signature": "EqQB"},
                    {"type": "thinking", "thinking": "Unsigned, from elsewhere.", "signature": ""},
                    {"type": "redacted_thinking", "data": "EmwK"},
                    {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {}}
                ]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "18C"}]}
            ]
        });
        let mut chat = messages_to_chat(&request).unwrap();
        assert_eq!(
            chat["thinking"],
            json!({"type": "enabled", "budget_tokens": 2000})
        );
        assert_eq!(chat["top_k"], 40);
        let assistant = &chat["messages"][1];
        assert_eq!(assistant["reasoning_content"], "Use the tool.");
        assert_eq!(
            assistant["thinking_blocks"],
            json!([
                {"type": "thinking", "thinking": "Use the tool.", "signature": "EqQB"},
                {"type": "redacted_thinking", "data": "EmwK"}
            ])
        );
        chat["messages"][1]["tool_calls"][0]["id"] = json!("t1__sig__RkFLRS10");
        chat["messages"][2]["tool_call_id"] = json!("t1__sig__RkFLRS10");
        strip_pivot_fields(&mut chat);
        assert!(chat.get("thinking").is_none() && chat.get("top_k").is_none());
        assert_eq!(
            chat["messages"][2]["tool_call_id"], "t1",
            "a Gemini signature in an id stays out of OpenAI's 40-character ids"
        );
        assert!(chat["messages"][1].get("thinking_blocks").is_none());
        assert!(chat["messages"][1].get("reasoning_content").is_none());
        assert_eq!(chat["messages"][1]["tool_calls"][0]["id"], "t1");
    }

    #[test]
    fn tool_results_keep_their_images_and_errors_and_chat_wires_get_the_images_after_them() {
        let screenshot = json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0K"}});
        let request = json!({"model": "m", "max_tokens": 50, "messages": [
            {"role": "user", "content": "Open the page"},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "t1", "name": "screenshot", "input": {}},
                {"type": "tool_use", "id": "t2", "name": "click", "input": {}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "Page shown"}, screenshot]},
                {"type": "tool_result", "tool_use_id": "t2", "is_error": true, "content": "no such button"},
                {"type": "text", "text": "Go on"}
            ]}
        ]});
        let mut chat = messages_to_chat(&request).unwrap();
        let messages = chat["messages"].as_array().unwrap();
        assert_eq!(
            messages[2],
            json!({"role": "tool", "tool_call_id": "t1", "content": [
                {"type": "text", "text": "Page shown"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}}
            ]})
        );
        assert_eq!(
            messages[3],
            json!({"role": "tool", "tool_call_id": "t2", "content": "no such button", "is_error": true})
        );
        strip_pivot_fields(&mut chat);
        let roles: Vec<&str> = chat["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect();
        assert_eq!(roles, ["user", "assistant", "tool", "tool", "user", "user"]);
        assert_eq!(chat["messages"][2]["content"], "Page shown");
        assert!(chat["messages"][3].get("is_error").is_none());
        assert_eq!(
            chat["messages"][4]["content"],
            json!([{"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}}])
        );
        let pdf_result = json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t1", "content": [
                {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"}}
            ]}
        ]}]});
        let mut chat = messages_to_chat(&pdf_result).unwrap();
        strip_pivot_fields(&mut chat);
        assert_eq!(chat["messages"][0]["content"], "");
        assert_eq!(chat["messages"][1]["content"][0]["type"], "file", "{chat}");
        assert!(
            chat.get("tools").is_none(),
            "no tools key is made up: {chat}"
        );
        let audio = json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "search_result", "source": "x"}]}
        ]}]});
        let error = messages_to_chat(&audio).unwrap_err();
        assert!(error.to_string().contains("'search_result'"), "{error}");
    }

    #[test]
    fn structured_output_becomes_a_json_schema_response_format() {
        let schema = json!({"type": "object", "properties": {"city": {"type": "string"}}});
        for request in [
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "Where?"}],
                "output_config": {"format": {"type": "json_schema", "schema": schema}}}),
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "Where?"}],
                "output_format": {"type": "json_schema", "schema": schema}}),
        ] {
            let chat = messages_to_chat(&request).unwrap();
            assert_eq!(
                chat["response_format"],
                json!({"type": "json_schema", "json_schema": {"name": "output", "schema": schema}})
            );
        }
    }

    #[test]
    fn an_answers_reasoning_comes_first_as_thinking_blocks() {
        let answer = |message: Value| {
            chat_to_message(
                &json!({"id": "c1", "model": "m", "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}),
            )
        };
        let signed = answer(
            json!({"role": "assistant", "content": "Paris.", "reasoning_content": "Think.",
            "thinking_blocks": [{"type": "thinking", "thinking": "Think.", "signature": "EqQB"}]}),
        );
        assert_eq!(
            signed["content"],
            json!([
                {"type": "thinking", "thinking": "Think.", "signature": "EqQB"},
                {"type": "text", "text": "Paris."}
            ])
        );
        let unsigned = answer(
            json!({"role": "assistant", "content": "Paris.", "reasoning_content": "Think."}),
        );
        assert_eq!(
            unsigned["content"][0],
            json!({"type": "thinking", "thinking": "Think.", "signature": ""})
        );
        let none = answer(json!({"role": "assistant", "content": "Paris."}));
        assert_eq!(none["content"][0]["type"], "text");
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
}
