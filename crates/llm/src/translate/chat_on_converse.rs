//! OpenAI Chat Completions clients on AWS Bedrock's Converse API: the request body and the
//! error bodies. What Bedrock answers (the Converse response and the ConverseStream) is
//! translated in `converse_stream` and re-exported here, so this module is the one entry
//! point. The model is not part of a Converse body; it goes in the URL
//! (`/model/{modelId}/converse`).

use serde_json::{Map, Value, json};

use crate::error::LlmError;
use crate::translate::reasoning::{self, Budgets};

pub use super::converse_stream::{
    ConverseStreamTranslator, converse_to_chat, converse_to_chat_with, finish_reason,
};

/// An OpenAI Chat Completions request as a Converse request body.
pub fn chat_to_converse(request: &Value) -> Result<Value, LlmError> {
    crate::request::single_choice(request, "Bedrock Converse")?;
    let format_type = request["response_format"]["type"].as_str();
    let answer_tool = match format_type {
        Some("json_schema") => Some(answer_tool_config(request)?),
        _ => None,
    };
    let input = request["messages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    crate::request::check_content_parts(input)?;
    let model = request["model"].as_str().unwrap_or_default();
    // Only Claude and Nova take a tool result's `status` (and its images), as the Converse
    // reference says; other models get the error said in the result's text.
    let status_taken = is_claude(model) || model.contains("amazon.nova");
    let (system, messages) = messages(input, status_taken)?;
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
    // Claude says which stop sequence ended its answer when asked; Anthropic clients get
    // it back as `stop_sequence`.
    let model = request["model"].as_str().unwrap_or_default();
    let stops = out
        .get("inferenceConfig")
        .is_some_and(|c| c.get("stopSequences").is_some());
    if stops && is_claude(model) {
        out.insert(
            "additionalModelResponseFieldPaths".into(),
            json!(["/stop_sequence"]),
        );
    }
    let tool_config = match answer_tool {
        Some(config) => Some(config),
        None => tool_config(request)?,
    };
    if let Some(tool_config) = tool_config {
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

/// The `toolConfig` of a `json_schema` request: the schema as the input schema of a tool
/// the model must call (`crate::request::ANSWER_TOOL`), whose input `converse_to_chat` and
/// the stream translator then give as the answer's content.
fn answer_tool_config(request: &Value) -> Result<Value, LlmError> {
    use crate::request::{AnswerSchemaProblem, answer_schema_error, is_object_schema};
    let with_tools = request["tools"].as_array().is_some_and(|t| !t.is_empty());
    if with_tools {
        return Err(answer_schema_error(
            "Bedrock",
            AnswerSchemaProblem::WithTools,
        ));
    }
    // Converse's `toolChoice.tool` is for Claude and Nova only.
    let model = request["model"].as_str().unwrap_or_default();
    if !(is_claude(model) || model.contains("amazon.nova")) {
        return Err(answer_schema_error(
            "Bedrock",
            AnswerSchemaProblem::CannotForceATool,
        ));
    }
    let format = &request["response_format"]["json_schema"];
    let schema = format
        .get("schema")
        .filter(|s| is_object_schema(s))
        .ok_or_else(|| answer_schema_error("Bedrock", AnswerSchemaProblem::NotAnObject))?;
    let description = format["description"]
        .as_str()
        .unwrap_or(crate::request::ANSWER_TOOL_DESCRIPTION);
    let name = crate::request::ANSWER_TOOL;
    Ok(json!({
        "tools": [{ "toolSpec": { "name": name, "description": description, "inputSchema": { "json": schema } } }],
        "toolChoice": { "tool": { "name": name } },
    }))
}

/// A Converse body (built from JSON trees, whose objects sort their keys) with the answer
/// tool's input schema put back as the client wrote it: models fill the JSON in the
/// schema's order of properties, and schemas that put the reasoning before the answer rely
/// on it. The body unchanged when the client's request has no schema to restore.
pub fn with_client_schema_order(converse: &[u8], client: &[u8]) -> Vec<u8> {
    #[derive(serde::Deserialize)]
    struct Request<'a> {
        #[serde(borrow)]
        response_format: Option<Format<'a>>,
    }
    #[derive(serde::Deserialize)]
    struct Format<'a> {
        #[serde(borrow)]
        json_schema: Option<Schema<'a>>,
    }
    #[derive(serde::Deserialize)]
    struct Schema<'a> {
        #[serde(borrow)]
        schema: Option<&'a serde_json::value::RawValue>,
    }
    let raw = serde_json::from_slice::<Request<'_>>(client)
        .ok()
        .and_then(|r| r.response_format?.json_schema?.schema);
    let Some(raw) = raw else {
        return converse.to_vec();
    };
    // The schema as the tree wrote it, found in the body and swapped for the client's text.
    let sorted = serde_json::from_str::<Value>(raw.get())
        .ok()
        .and_then(|tree| serde_json::to_vec(&tree).ok());
    let found = sorted
        .as_ref()
        .and_then(|sorted| memchr::memmem::find(converse, sorted).map(|at| (at, sorted.len())));
    match found {
        Some((at, len)) => [&converse[..at], raw.get().as_bytes(), &converse[at + len..]].concat(),
        None => converse.to_vec(),
    }
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
        let forced_tool = match &request["tool_choice"] {
            Value::String(choice) => choice == "required",
            choice => choice.is_object(),
        } || request["response_format"]["type"] == "json_schema";
        let thinking = reasoning::unless_forced_tool(thinking, forced_tool);
        for (knob, name) in [("temperature", "temperature"), ("top_p", "topP")] {
            let value = inference.get(name).and_then(Value::as_f64);
            if inference.contains_key(name)
                && !reasoning::sampling_allowed(thinking.as_ref(), knob, value)
            {
                inference.remove(name);
            }
        }
        let top_k = request
            .get("top_k")
            .filter(|v| !v.is_null())
            .filter(|_| reasoning::sampling_allowed(thinking.as_ref(), "top_k", None));
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
        if let Some(top_k) = top_k {
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
fn messages(input: &[Value], status_taken: bool) -> Result<(Vec<Value>, Vec<Value>), LlmError> {
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
            "tool" => ("user", vec![tool_result(message, index, status_taken)?]),
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
            "file" => {
                blocks.push(document_block(&part["file"], at)?);
                push_cache_point(&mut blocks, part);
            }
            other => {
                return Err(LlmError::InvalidField {
                    field: "messages",
                    why: format!(
                        "{}.type '{other}' is not supported on Bedrock; send text, image_url or file parts",
                        at()
                    ),
                });
            }
        }
    }
    Ok(blocks)
}

/// A file part (inline, as a data URL) as a Converse document: PDFs, text and office
/// files, the kinds Converse reads. Its name (Converse requires one, of letters, digits,
/// single spaces, hyphens, parentheses and brackets) comes from the file name.
fn document_block(file: &Value, at: impl Fn() -> String) -> Result<Value, LlmError> {
    let invalid = |why: String| LlmError::InvalidField {
        field: "messages",
        why: format!("{}.file {why}", at()),
    };
    let (media_type, data) = file["file_data"]
        .as_str()
        .and_then(|url| url.strip_prefix("data:"))
        .and_then(|rest| rest.split_once(";base64,"))
        .ok_or_else(|| {
            invalid("must carry file_data as a base64 data: URL; Bedrock cannot read files stored elsewhere".into())
        })?;
    let format = match media_type.to_ascii_lowercase().as_str() {
        "application/pdf" => "pdf",
        "text/plain" => "txt",
        "text/csv" => "csv",
        "text/html" => "html",
        "text/markdown" => "md",
        "application/msword" => "doc",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => "docx",
        "application/vnd.ms-excel" => "xls",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "xlsx",
        other => {
            return Err(invalid(format!(
                "has media type '{other}'; Bedrock reads pdf, txt, csv, html, md, doc, docx, xls and xlsx documents"
            )));
        }
    };
    let stem = file["filename"]
        .as_str()
        .map(|name| name.rsplit_once('.').map_or(name, |(stem, _)| stem))
        .unwrap_or_default();
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-()[] ".contains(c);
    let cleaned: String = stem
        .chars()
        .map(|c| if allowed(c) { c } else { ' ' })
        .collect();
    let name = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    let name = if name.is_empty() {
        "document".to_string()
    } else {
        name
    };
    Ok(json!({ "document": { "format": format, "name": name, "source": { "bytes": data } } }))
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
        // A Gemini thought signature in the id (a conversation Gemini answered before a
        // failover) is left out: Converse ids are at most 64 characters.
        let id = call["id"]
            .as_str()
            .map(|id| crate::gemini::split_signature(id).0);
        blocks.push(json!({
            "toolUse": { "toolUseId": id, "name": call["function"]["name"], "input": input }
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
/// SDKs send structured results) and as text otherwise; a result with images (which the
/// pivot carries for Anthropic clients' screenshot and file tools) keeps them as image
/// blocks, and `is_error` is Converse's `status: "error"`.
fn tool_result(message: &Value, index: usize, status_taken: bool) -> Result<Value, LlmError> {
    let failed = message["is_error"] == Value::Bool(true);
    let content = match &message["content"] {
        Value::Array(parts) if parts.iter().any(|p| p["type"] != "text") => {
            let mut blocks = Vec::new();
            for (part_index, part) in parts.iter().enumerate() {
                let at = || format!("messages[{index}].content[{part_index}]");
                match part["type"].as_str() {
                    Some("image_url") => blocks.push(image_block(&part["image_url"]["url"], at)?),
                    Some("file") => blocks.push(document_block(&part["file"], at)?),
                    _ => {
                        if let Some(text) = part["text"].as_str().filter(|t| !t.is_empty()) {
                            blocks.push(json!({ "text": text }));
                        }
                    }
                }
            }
            blocks
        }
        content => {
            let mut text = text_of(content);
            if failed && !status_taken {
                text.insert_str(0, "Error: ");
            }
            vec![match serde_json::from_str::<Value>(&text) {
                Ok(object @ Value::Object(_)) => json!({ "json": object }),
                _ => json!({ "text": text }),
            }]
        }
    };
    let mut result = json!({
        "toolUseId": crate::gemini::split_signature(message["tool_call_id"].as_str().unwrap_or_default()).0,
        "content": content,
    });
    if failed && status_taken {
        result["status"] = json!("error");
    }
    Ok(json!({ "toolResult": result }))
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
mod tests;
