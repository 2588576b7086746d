//! OpenAI Chat Completions clients on AWS Bedrock's Converse API: the request body and the
//! error bodies. What Bedrock answers (the Converse response and the ConverseStream) is
//! translated in `converse_stream` and re-exported here, so this module is the one entry
//! point. The model is not part of a Converse body; it goes in the URL
//! (`/model/{modelId}/converse`).

use serde_json::{Map, Value, json};

use crate::error::LlmError;
use crate::translate::reasoning::{self, Budgets};

pub use super::converse_stream::{ConverseStreamTranslator, converse_to_chat, finish_reason};

/// An OpenAI Chat Completions request as a Converse request body.
pub fn chat_to_converse(request: &Value) -> Result<Value, LlmError> {
    crate::request::single_choice(request, "Bedrock Converse")?;
    let format_type = request["response_format"]["type"].as_str();
    crate::request::no_json_schema(format_type, "Bedrock Converse")?;
    let input = request["messages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    crate::request::check_content_parts(input)?;
    let (system, messages) = messages(input)?;
    if messages.is_empty() {
        return Err(LlmError::InvalidField {
            field: "messages",
            why: "Bedrock needs at least one user or assistant message with content besides the system prompt".into(),
        });
    }
    let mut out = Map::new();
    if !system.is_empty() {
        out.insert("system".into(), Value::Array(system));
    }
    out.insert("messages".into(), Value::Array(messages));
    let mut inference = inference_config(request);
    let extra = model_fields(request, &mut inference)?;
    if !inference.is_empty() {
        out.insert("inferenceConfig".into(), Value::Object(inference));
    }
    if !extra.is_empty() {
        out.insert("additionalModelRequestFields".into(), Value::Object(extra));
    }
    if let Some(tool_config) = tool_config(request)? {
        out.insert("toolConfig".into(), tool_config);
    }
    Ok(Value::Object(out))
}

fn inference_config(request: &Value) -> Map<String, Value> {
    let mut config = Map::new();
    let max_tokens = request
        .get("max_completion_tokens")
        .filter(|v| !v.is_null())
        .or_else(|| request.get("max_tokens"));
    let fields = [
        ("maxTokens", max_tokens),
        ("temperature", request.get("temperature")),
        ("topP", request.get("top_p")),
    ];
    for (name, value) in fields {
        if let Some(value) = value.filter(|v| !v.is_null()) {
            config.insert(name.into(), value.clone());
        }
    }
    let stop = match request.get("stop") {
        Some(Value::String(s)) => vec![json!(s)],
        Some(Value::Array(a)) => a.clone(),
        _ => Vec::new(),
    };
    if !stop.is_empty() {
        config.insert("stopSequences".into(), Value::Array(stop));
    }
    config
}

/// What Converse has no field of its own for goes to the model in
/// `additionalModelRequestFields`, in the model family's own terms: Claude takes Anthropic's
/// `thinking` object (with `maxTokens` raised to fit its budget) and `top_k`; OpenAI's
/// models on Bedrock take `reasoning_effort`. Other families are sent neither: their
/// fields differ, and a field a model does not know fails the whole request.
fn model_fields(
    request: &Value,
    inference: &mut Map<String, Value>,
) -> Result<Map<String, Value>, LlmError> {
    let mut extra = Map::new();
    let model = request["model"].as_str().unwrap_or_default();
    let effort = request["reasoning_effort"].as_str();
    if is_claude(model) {
        let object = reasoning::raw_thinking(request)?;
        let thinking = reasoning::requested(object.as_deref(), effort, Budgets::Anthropic)?;
        if let Some(thinking) = thinking {
            if thinking.budget.is_some() {
                let max = inference
                    .get("maxTokens")
                    .and_then(Value::as_u64)
                    .unwrap_or(super::DEFAULT_MAX_TOKENS);
                inference.insert(
                    "maxTokens".into(),
                    json!(reasoning::max_tokens_with(max, Some(&thinking))),
                );
            }
            let object: Value = serde_json::from_str(thinking.object.get()).unwrap_or(Value::Null);
            extra.insert("thinking".into(), object);
        }
        if let Some(top_k) = request.get("top_k").filter(|v| !v.is_null()) {
            extra.insert("top_k".into(), top_k.clone());
        }
    } else if is_openai(model)
        && let Some(effort) = effort
    {
        extra.insert("reasoning_effort".into(), json!(effort));
    }
    Ok(extra)
}

/// Anthropic's models, by their Bedrock id (`anthropic.claude-…`, with or without a
/// cross-region prefix such as `us.`) or an inference-profile ARN naming them.
fn is_claude(model: &str) -> bool {
    model.contains("anthropic.") || model.contains("claude")
}

/// OpenAI's open-weight models on Bedrock (`openai.gpt-oss-…`).
fn is_openai(model: &str) -> bool {
    model.starts_with("openai.") || model.contains(".openai.")
}

/// System and developer messages become `system` blocks; tool results become user turns;
/// turns of one role in a row are merged, because Converse requires them to alternate.
fn messages(input: &[Value]) -> Result<(Vec<Value>, Vec<Value>), LlmError> {
    let mut system = Vec::new();
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for (index, message) in input.iter().enumerate() {
        let (role, blocks) = match message["role"].as_str().unwrap_or_default() {
            "system" | "developer" => {
                match &message["content"] {
                    // Parts with prompt-cache marks stay apart, each mark a cache point.
                    Value::Array(parts) if parts.iter().any(has_cache_mark) => {
                        for part in parts {
                            if let Some(text) = part["text"].as_str().filter(|t| !t.is_empty()) {
                                system.push(json!({ "text": text }));
                                push_cache_point(&mut system, part);
                            }
                        }
                    }
                    content => {
                        let text = text_of(content);
                        if !text.is_empty() {
                            system.push(json!({ "text": text }));
                        }
                    }
                }
                continue;
            }
            "user" => ("user", user_blocks(&message["content"], index)?),
            "assistant" => ("assistant", assistant_blocks(message)),
            "tool" => ("user", vec![tool_result(message)]),
            other => {
                return Err(LlmError::InvalidField {
                    field: "messages",
                    why: format!(
                        "messages[{index}].role '{other}' is not one of system, developer, user, assistant, tool"
                    ),
                });
            }
        };
        // Converse rejects a turn with no content blocks.
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((last, existing)) if *last == role => existing.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    let messages = turns
        .into_iter()
        .map(|(role, content)| json!({ "role": role, "content": content }))
        .collect();
    Ok((system, messages))
}

/// Whether a part (or tool) carries a prompt-cache mark (`cache_control`, as Anthropic
/// clients and LiteLLM users send it).
fn has_cache_mark(part: &Value) -> bool {
    part.get("cache_control").is_some_and(|m| !m.is_null())
}

/// A Converse cache point after the block made from a marked part: what comes before it is
/// cached, as Anthropic caches up to a marked block.
fn push_cache_point(blocks: &mut Vec<Value>, part: &Value) {
    if has_cache_mark(part) {
        blocks.push(json!({ "cachePoint": { "type": "default" } }));
    }
}

/// The text of a content that is a string or a list of text parts.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str().or_else(|| p["refusal"].as_str()))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

fn user_blocks(content: &Value, index: usize) -> Result<Vec<Value>, LlmError> {
    let parts = match content {
        Value::String(s) if s.is_empty() => return Ok(Vec::new()),
        Value::String(s) => return Ok(vec![json!({ "text": s })]),
        Value::Array(parts) => parts,
        _ => return Ok(Vec::new()),
    };
    let mut blocks = Vec::new();
    for (part_index, part) in parts.iter().enumerate() {
        let at = || format!("messages[{index}].content[{part_index}]");
        match part["type"].as_str().unwrap_or_default() {
            "text" => {
                // Converse rejects blank text blocks.
                if let Some(text) = part["text"].as_str().filter(|t| !t.is_empty()) {
                    blocks.push(json!({ "text": text }));
                    push_cache_point(&mut blocks, part);
                }
            }
            "image_url" => {
                blocks.push(image_block(&part["image_url"]["url"], at)?);
                push_cache_point(&mut blocks, part);
            }
            other => {
                return Err(LlmError::InvalidField {
                    field: "messages",
                    why: format!(
                        "{}.type '{other}' is not supported on Bedrock; send text or image_url parts",
                        at()
                    ),
                });
            }
        }
    }
    Ok(blocks)
}

/// Converse only takes inline image bytes, so the image must be a base64 `data:` URL.
fn image_block(url: &Value, at: impl Fn() -> String) -> Result<Value, LlmError> {
    let invalid = |why: &str| LlmError::InvalidField {
        field: "messages",
        why: format!("{}.image_url.url {why}", at()),
    };
    let url = url.as_str().unwrap_or_default();
    let (media_type, data) = url
        .strip_prefix("data:")
        .and_then(|rest| rest.split_once(";base64,"))
        .ok_or_else(|| {
            invalid("must be a base64 data: URL; Bedrock Converse does not fetch image URLs")
        })?;
    let format = match media_type.to_ascii_lowercase().as_str() {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpeg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        other => {
            return Err(invalid(&format!(
                "has media type '{other}'; Bedrock takes png, jpeg, gif or webp"
            )));
        }
    };
    Ok(json!({ "image": { "format": format, "source": { "bytes": data } } }))
}

fn assistant_blocks(message: &Value) -> Vec<Value> {
    // Signed thinking first: Claude wants the turn's reasoning back before its tool calls.
    let mut blocks: Vec<Value> = message["thinking_blocks"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(reasoning_block)
        .collect();
    let text = text_of(&message["content"]);
    if !text.is_empty() {
        blocks.push(json!({ "text": text }));
    }
    for call in message["tool_calls"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        // Models sometimes emit arguments that are not JSON; the conversation is still
        // worth continuing, so such a call is replayed with empty input.
        let arguments = call["function"]["arguments"].as_str().unwrap_or("{}");
        let input: Value = serde_json::from_str(arguments).unwrap_or_else(|_| json!({}));
        blocks.push(json!({
            "toolUse": { "toolUseId": call["id"], "name": call["function"]["name"], "input": input }
        }));
    }
    blocks
}

/// A thinking block (Anthropic's shape, as the pivot carries it) as Converse's
/// `reasoningContent`; one without a signature cannot be replayed and is left out.
fn reasoning_block(block: &Value) -> Option<Value> {
    match block["type"].as_str()? {
        "thinking" => {
            let signature = block["signature"].as_str().filter(|s| !s.is_empty())?;
            Some(json!({ "reasoningContent": { "reasoningText": {
                "text": block["thinking"].as_str().unwrap_or_default(),
                "signature": signature,
            } } }))
        }
        "redacted_thinking" => {
            Some(json!({ "reasoningContent": { "redactedContent": block["data"].as_str()? } }))
        }
        _ => None,
    }
}

/// A tool message's content travels as a JSON block when it is a JSON object (as the AWS
/// SDKs send structured results) and as text otherwise.
fn tool_result(message: &Value) -> Value {
    let text = text_of(&message["content"]);
    let content = match serde_json::from_str::<Value>(&text) {
        Ok(object @ Value::Object(_)) => json!({ "json": object }),
        _ => json!({ "text": text }),
    };
    json!({
        "toolResult": {
            "toolUseId": message["tool_call_id"].as_str().unwrap_or_default(),
            "content": [content],
        }
    })
}

/// Converse has no way to say "do not call": `tool_choice: "none"` drops the tools, unless
/// the conversation already holds tool calls or results, which Converse refuses without a
/// `toolConfig`. Then the tools stay (with Converse's default choice), and a conversation
/// that offers none gets a placeholder tool described as unavailable, as other gateways do.
fn tool_config(request: &Value) -> Result<Option<Value>, LlmError> {
    let uses_tools = request["messages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .any(|m| m["role"] == "tool" || m.get("tool_calls").is_some_and(|c| !c.is_null()));
    let Some(tools) = request
        .get("tools")
        .and_then(Value::as_array)
        .filter(|t| !t.is_empty())
    else {
        return Ok(uses_tools.then(placeholder_tool_config));
    };
    let choice = match request.get("tool_choice") {
        Some(Value::String(s)) if s == "none" && !uses_tools => return Ok(None),
        Some(Value::String(s)) if s == "none" => None,
        Some(Value::String(s)) if s == "auto" => Some(json!({ "auto": {} })),
        Some(Value::String(s)) if s == "required" => Some(json!({ "any": {} })),
        Some(Value::Object(o)) => {
            let name = o.get("function").and_then(|f| f.get("name"));
            let name = name.ok_or_else(|| LlmError::InvalidField {
                field: "tool_choice",
                why: "an object tool_choice needs function.name".into(),
            })?;
            Some(json!({ "tool": { "name": name } }))
        }
        // Absent: Converse defaults to auto.
        _ => None,
    };
    let mut specs = Vec::with_capacity(tools.len());
    for tool in tools {
        specs.push(tool_spec(tool)?);
        push_cache_point(&mut specs, tool);
    }
    let mut config = json!({ "tools": specs });
    if let Some(choice) = choice {
        config["toolChoice"] = choice;
    }
    Ok(Some(config))
}

/// The `toolConfig` of a conversation with tool calls in its history but no tools now.
fn placeholder_tool_config() -> Value {
    json!({ "tools": [{ "toolSpec": {
        "name": "no_tools_available",
        "description": "No tools are available in this turn; do not call this tool.",
        "inputSchema": { "json": { "type": "object", "properties": {} } },
    } }] })
}

fn tool_spec(tool: &Value) -> Result<Value, LlmError> {
    if tool["type"].as_str().is_some_and(|t| t != "function") {
        return Err(LlmError::InvalidField {
            field: "tools",
            why: format!(
                "tool type '{}' is not supported on Bedrock; send function tools",
                tool["type"].as_str().unwrap_or_default()
            ),
        });
    }
    let function = &tool["function"];
    let schema = function
        .get("parameters")
        .filter(|p| !p.is_null())
        .cloned()
        .unwrap_or_else(|| json!({ "type": "object", "properties": {} }));
    let mut spec = json!({ "name": function["name"], "inputSchema": { "json": schema } });
    // Converse rejects an empty description, so only a real one is sent.
    if let Some(description) = function["description"].as_str().filter(|d| !d.is_empty()) {
        spec["description"] = json!(description);
    }
    Ok(json!({ "toolSpec": spec }))
}

/// A Bedrock error in OpenAI's shape. Bedrock puts the error code in the `x-amzn-ErrorType`
/// header (`ThrottlingException:http://...`), the message in the body, and some AWS
/// front ends use `Message` or `__type` in the body instead.
pub fn error_to_openai(body: &Value, error_type: Option<&str>, status: u16) -> Value {
    let code = error_type
        .or_else(|| body["__type"].as_str())
        .map(|t| t.split(':').next().unwrap_or(t))
        // `__type` may be namespaced: `com.amazon.coral.service#UnrecognizedClientException`.
        .map(|t| t.rsplit('#').next().unwrap_or(t))
        .filter(|t| !t.is_empty());
    let message = body["message"]
        .as_str()
        .or_else(|| body["Message"].as_str())
        .unwrap_or("the provider reported an error");
    crate::error::openai_error(message, openai_error_type(code, status), None, code)
}

/// The OpenAI error `type` closest to a Bedrock error code (stream exceptions spell it in
/// lower camel case), falling back on the HTTP status.
fn openai_error_type(code: Option<&str>, status: u16) -> &'static str {
    let code = code.unwrap_or_default().to_ascii_lowercase();
    match code.as_str() {
        "validationexception" => "invalid_request_error",
        "accessdeniedexception" => "permission_error",
        "unrecognizedclientexception"
        | "invalidsignatureexception"
        | "expiredtokenexception"
        | "incompletesignatureexception" => "authentication_error",
        "resourcenotfoundexception" => "not_found_error",
        "throttlingexception" | "modelnotreadyexception" | "servicequotaexceededexception" => {
            "rate_limit_error"
        }
        "modeltimeoutexception" => "timeout_error",
        "internalserverexception"
        | "serviceunavailableexception"
        | "modelerrorexception"
        | "modelstreamerrorexception" => "server_error",
        _ => match status {
            400 | 413 | 422 => "invalid_request_error",
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            429 => "rate_limit_error",
            500..=599 => "server_error",
            _ => "api_error",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    fn load(path: &str) -> Value {
        serde_json::from_slice(&fixture(path)).unwrap()
    }

    #[test]
    fn chat_request_becomes_the_converse_shape() {
        let expected = load("bedrock/converse_request.json");
        let out = chat_to_converse(&load("openai/chat_request.json")).unwrap();
        assert_eq!(out["system"], json!([expected["system"][0]]));
        assert_eq!(
            out["messages"],
            json!([{"role": "user", "content": [{"text": "What's the weather in Paris right now?"}]}])
        );
        assert_eq!(
            out["inferenceConfig"],
            json!({"maxTokens": 512, "temperature": 0.2})
        );
        // botocore's serialisation of the same tool and the same "auto" choice.
        assert_eq!(out["toolConfig"], expected["toolConfig"]);
        for openai_only in ["model", "stream", "stream_options", "tools", "user"] {
            assert!(out.get(openai_only).is_none(), "{openai_only}");
        }
    }

    #[test]
    fn tool_calls_and_results_become_tool_use_and_tool_result_turns() {
        let expected = load("bedrock/converse_request.json");
        let out = chat_to_converse(&load("openai/chat_request_tool_result.json")).unwrap();
        let messages = out["messages"].as_array().unwrap();
        let roles: Vec<&str> = messages
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect();
        assert_eq!(roles, ["user", "assistant", "user"]);
        assert_eq!(
            messages[1]["content"],
            json!([{"toolUse": {"toolUseId": "call_Qm3xV8pL2nR7tY4wZ1aB6cDe", "name": "get_weather", "input": {"location": "Paris", "unit": "celsius"}}}])
        );
        let result = &messages[2]["content"][0]["toolResult"];
        assert_eq!(result["toolUseId"], "call_Qm3xV8pL2nR7tY4wZ1aB6cDe");
        assert_eq!(
            result["content"],
            expected["messages"][2]["content"][0]["toolResult"]["content"]
        );
        assert_eq!(out["inferenceConfig"], json!({"maxTokens": 512}));
        assert_eq!(out["toolConfig"]["tools"], expected["toolConfig"]["tools"]);
        assert!(
            out["toolConfig"].get("toolChoice").is_none(),
            "absent means auto"
        );
    }

    #[test]
    fn images_merging_stops_and_tool_choices() {
        let expected = load("bedrock/converse_request.json");
        let png = expected["messages"][0]["content"][1]["image"]["source"]["bytes"]
            .as_str()
            .unwrap();
        let tools = json!([{"type": "function", "function": {"name": "f"}}]);
        let request = json!({
            "model": "m",
            "messages": [
                {"role": "developer", "content": [{"type": "text", "text": "Be brief."}]},
                {"role": "user", "content": [{"type": "text", "text": "Sky?"}, {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{png}")}}]},
                {"role": "user", "content": "And now?"},
                {"role": "assistant", "content": ""}
            ],
            "stop": "END", "top_p": 0.9, "max_tokens": 10, "tools": tools, "tool_choice": "required"
        });
        let out = chat_to_converse(&request).unwrap();
        assert_eq!(out["system"], json!([{"text": "Be brief."}]));
        let messages = out["messages"].as_array().unwrap();
        assert_eq!(
            messages.len(),
            1,
            "two user turns merge, the empty assistant one is dropped"
        );
        assert_eq!(
            messages[0]["content"][1],
            expected["messages"][0]["content"][1]
        );
        assert_eq!(messages[0]["content"][2]["text"], "And now?");
        assert_eq!(
            out["inferenceConfig"],
            json!({"maxTokens": 10, "topP": 0.9, "stopSequences": ["END"]})
        );
        assert_eq!(out["toolConfig"]["toolChoice"], json!({"any": {}}));
        assert_eq!(
            out["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]["type"],
            "object"
        );

        let hi = json!([{"role": "user", "content": "hi"}]);
        let named = json!({"messages": hi, "tools": tools, "tool_choice": {"type": "function", "function": {"name": "f"}}});
        assert_eq!(
            chat_to_converse(&named).unwrap()["toolConfig"]["toolChoice"],
            json!({"tool": {"name": "f"}})
        );
        let none = json!({"messages": hi, "tools": tools, "tool_choice": "none"});
        assert!(chat_to_converse(&none).unwrap().get("toolConfig").is_none());
    }

    #[test]
    fn a_conversation_with_tool_turns_keeps_a_tool_config() {
        let tools = json!([{"type": "function", "function": {"name": "f"}}]);
        let history = json!([
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"}
        ]);
        // "none" cannot be said to Converse, and the tool turns need the tools.
        let none = json!({"messages": history, "tools": tools, "tool_choice": "none"});
        let out = chat_to_converse(&none).unwrap();
        assert_eq!(out["toolConfig"]["tools"][0]["toolSpec"]["name"], "f");
        assert!(out["toolConfig"].get("toolChoice").is_none());
        // No tools offered now: a placeholder that says so.
        let without = json!({"messages": history});
        let out = chat_to_converse(&without).unwrap();
        assert_eq!(
            out["toolConfig"]["tools"][0]["toolSpec"]["name"],
            "no_tools_available"
        );
    }

    #[test]
    fn prompt_cache_marks_of_an_anthropic_client_become_cache_points() {
        let mark = json!({"type": "ephemeral"});
        let anthropic = json!({
            "model": "claude", "max_tokens": 64,
            "system": [{"type": "text", "text": "You are a coding agent.", "cache_control": mark}],
            "tools": [{"name": "read", "input_schema": {"type": "object"}, "cache_control": mark}],
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "the long file", "cache_control": mark},
                {"type": "text", "text": "the question"}
            ]}]
        });
        let chat = crate::translate::messages_on_chat::messages_to_chat(&anthropic).unwrap();
        let out = chat_to_converse(&chat).unwrap();
        let point = json!({"cachePoint": {"type": "default"}});
        assert_eq!(
            out["system"],
            json!([{"text": "You are a coding agent."}, point])
        );
        assert_eq!(
            out["messages"][0]["content"],
            json!([{"text": "the long file"}, point, {"text": "the question"}])
        );
        assert_eq!(out["toolConfig"]["tools"][1], point);
        // Without marks, nothing changes.
        let plain = json!({"model": "claude", "max_tokens": 64, "system": "Be brief.", "messages": [{"role": "user", "content": "hi"}]});
        let chat = crate::translate::messages_on_chat::messages_to_chat(&plain).unwrap();
        let out = chat_to_converse(&chat).unwrap();
        assert_eq!(out["system"], json!([{"text": "Be brief."}]));
        assert!(!out.to_string().contains("cachePoint"));
        // An OpenAI-compatible provider gets no marks at all.
        let mut chat = crate::translate::messages_on_chat::messages_to_chat(&anthropic).unwrap();
        crate::translate::messages_on_chat::strip_pivot_fields(&mut chat);
        assert!(!chat.to_string().contains("cache_control"), "{chat}");
    }

    #[test]
    fn a_conversation_left_empty_is_refused() {
        let empty = json!({"messages": [{"role": "user", "content": ""}]});
        let error = chat_to_converse(&empty).unwrap_err();
        assert!(error.to_string().contains("at least one"), "{error}");
    }

    #[test]
    fn unsupported_inputs_name_the_field() {
        let with_url = |url: &str| json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": url}}]}]});
        let Err(LlmError::InvalidField { field, why }) =
            chat_to_converse(&with_url("https://x/a.png"))
        else {
            panic!("http image URLs are not supported");
        };
        assert_eq!(field, "messages");
        assert!(
            why.starts_with("messages[0].content[1].image_url.url must be a base64 data: URL"),
            "{why}"
        );
        let svg = chat_to_converse(&with_url("data:image/svg+xml;base64,AAAA")).unwrap_err();
        assert!(svg.to_string().contains("'image/svg+xml'"));
        let audio = json!({"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]});
        assert!(
            chat_to_converse(&audio)
                .unwrap_err()
                .to_string()
                .contains("'input_audio'")
        );
        let n = chat_to_converse(&json!({"messages": [], "n": 2})).unwrap_err();
        assert_eq!(n.openai_body()["error"]["param"], "n");
        let role = chat_to_converse(&json!({"messages": [{"role": "bot", "content": "x"}]}));
        assert!(
            role.unwrap_err()
                .to_string()
                .contains("messages[0].role 'bot'")
        );
    }

    #[test]
    fn error_bodies_keep_the_message_and_code() {
        let coral = ":http://internal.amazon.com/coral/com.amazon.bedrock/";
        let cases = [
            (
                "error_throttling.json",
                Some("ThrottlingException"),
                429,
                "rate_limit_error",
            ),
            (
                "error_validation.json",
                Some("ValidationException"),
                400,
                "invalid_request_error",
            ),
            (
                "error_validation_conversation.json",
                Some("ValidationException"),
                400,
                "invalid_request_error",
            ),
            (
                "error_access_denied.json",
                Some("AccessDeniedException"),
                403,
                "permission_error",
            ),
            ("error_service_unavailable.json", None, 503, "server_error"),
        ];
        for (file, code, status, kind) in cases {
            let body = load(&format!("bedrock/{file}"));
            let header = code.map(|c| format!("{c}{coral}"));
            let out = error_to_openai(&body, header.as_deref(), status);
            assert_eq!(out["error"]["message"], body["message"], "{file}");
            assert_eq!(out["error"]["type"], kind, "{file}");
            assert_eq!(out["error"]["code"], json!(code), "{file}");
        }
        let namespaced = json!({"__type": "com.amazon.coral.service#UnrecognizedClientException", "Message": "bad key"});
        let out = error_to_openai(&namespaced, None, 403);
        assert_eq!(
            out["error"],
            json!({"message": "bad key", "type": "authentication_error", "param": null, "code": "UnrecognizedClientException"})
        );
    }

    #[test]
    fn reasoning_goes_to_each_model_family_in_its_own_terms() {
        let ask = |model: &str| {
            json!({"model": model, "reasoning_effort": "high", "top_k": 5, "max_tokens": 100,
                "messages": [{"role": "user", "content": "Hi"}]})
        };
        let claude = chat_to_converse(&ask("anthropic.claude-opus-4-1-20250805-v1:0")).unwrap();
        assert_eq!(
            claude["additionalModelRequestFields"],
            json!({"thinking": {"type": "enabled", "budget_tokens": 4096}, "top_k": 5})
        );
        assert_eq!(claude["inferenceConfig"]["maxTokens"], 4096 + 100);
        let gpt = chat_to_converse(&ask("openai.gpt-oss-120b-1:0")).unwrap();
        assert_eq!(
            gpt["additionalModelRequestFields"],
            json!({"reasoning_effort": "high"})
        );
        let nova = chat_to_converse(&ask("amazon.nova-pro-v1:0")).unwrap();
        assert!(nova.get("additionalModelRequestFields").is_none(), "{nova}");
        assert_eq!(nova["inferenceConfig"]["maxTokens"], 100);
    }

    #[test]
    fn only_signed_thinking_is_replayed_first_in_the_turn() {
        let chat = json!({"model": "anthropic.claude-sonnet-4-5", "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello", "thinking_blocks": [
                {"type": "thinking", "thinking": "unsigned", "signature": ""},
                {"type": "thinking", "thinking": "signed", "signature": "ErcB"},
                {"type": "redacted_thinking", "data": "EmwK"}
            ]},
            {"role": "user", "content": "Bye"}
        ]});
        let out = chat_to_converse(&chat).unwrap();
        assert_eq!(
            out["messages"][1]["content"],
            json!([
                {"reasoningContent": {"reasoningText": {"text": "signed", "signature": "ErcB"}}},
                {"reasoningContent": {"redactedContent": "EmwK"}},
                {"text": "Hello"}
            ])
        );
    }
}
