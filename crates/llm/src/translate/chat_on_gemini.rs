//! OpenAI Chat Completions clients on Google's Gemini API: the request becomes a
//! `GenerateContentRequest` body (the model travels in the URL, see `gemini::model_path`).
//! Answers are translated in `translate::gemini_stream` (re-exported here), errors by
//! `gemini::error_to_openai`.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::error::LlmError;
use crate::gemini;

pub use super::gemini_stream::{GeminiStreamTranslator, gemini_to_chat};

/// Google's documented placeholder for a `functionCall` part whose `thoughtSignature` was
/// lost. Gemini 3 rejects replayed function calls without a signature, and OpenAI clients
/// have nowhere to keep the real one.
const SIGNATURE_PLACEHOLDER: &str = "skip_thought_signature_validator";

/// An OpenAI Chat Completions request as a Gemini `GenerateContentRequest` body.
pub fn chat_to_gemini(request: &Value) -> Result<Value, LlmError> {
    let messages = request["messages"]
        .as_array()
        .ok_or(LlmError::MissingField {
            field: "messages",
            why: "a chat request needs a list of messages",
        })?;
    crate::request::check_content_parts(messages)?;
    let model = request["model"].as_str().unwrap_or_default();
    let (system, contents) = contents(messages, needs_signatures(model))?;
    let mut out = Map::new();
    if !system.is_empty() {
        out.insert("systemInstruction".into(), json!({ "parts": system }));
    }
    out.insert("contents".into(), Value::Array(contents));
    if let Some(tools) = request["tools"].as_array().filter(|t| !t.is_empty()) {
        let declarations = tools
            .iter()
            .map(function_declaration)
            .collect::<Result<Vec<_>, _>>()?;
        out.insert(
            "tools".into(),
            json!([{ "functionDeclarations": declarations }]),
        );
        if let Some(config) = tool_config(&request["tool_choice"])? {
            out.insert("toolConfig".into(), config);
        }
    }
    let config = generation_config(request)?;
    if !config.is_empty() {
        out.insert("generationConfig".into(), Value::Object(config));
    }
    Ok(Value::Object(out))
}

/// Whether `model` is Gemini 3 or later, the generation that requires thought signatures
/// on replayed function calls.
fn needs_signatures(model: &str) -> bool {
    let name = model.strip_prefix("models/").unwrap_or(model);
    name.strip_prefix("gemini-")
        .map(|rest| rest.split(['.', '-']).next().unwrap_or_default())
        .and_then(|major| major.parse::<u32>().ok())
        .is_some_and(|major| major >= 3)
}

/// The system parts and the turns. System and developer messages become the system
/// instruction; tool results become user turns; turns of one role in a row are merged, as
/// Gemini wants parallel function responses in one turn and roles alternating.
fn contents(input: &[Value], signatures: bool) -> Result<(Vec<Value>, Vec<Value>), LlmError> {
    let mut system = Vec::new();
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    // Tool results name only the call id; Gemini wants the function's name, and the
    // results in the order of the calls (it matches them by name and position).
    let mut call_names: HashMap<String, String> = HashMap::new();
    for (position, message) in results_in_call_order(input).into_iter().enumerate() {
        let (role, parts) = match message["role"].as_str().unwrap_or_default() {
            "system" | "developer" => {
                let text = text_of(&message["content"]);
                if !text.is_empty() {
                    system.push(json!({ "text": text }));
                }
                continue;
            }
            "user" => ("user", user_parts(&message["content"], position)?),
            "assistant" => (
                "model",
                model_parts(message, position, signatures, &mut call_names)?,
            ),
            "tool" | "function" => ("user", function_response(message, &call_names, position)?),
            other => {
                return Err(LlmError::InvalidField {
                    field: "messages",
                    why: format!(
                        "role '{other}' is not one of system, developer, user, assistant, tool"
                    ),
                });
            }
        };
        if parts.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((last, existing)) if *last == role => existing.extend(parts),
            _ => turns.push((role, parts)),
        }
    }
    if turns.is_empty() {
        return Err(LlmError::InvalidField {
            field: "messages",
            why: "Gemini needs at least one user or assistant message besides the system prompt"
                .into(),
        });
    }
    let turns = turns
        .into_iter()
        .map(|(role, mut parts)| {
            // Function responses first, in call order (Gemini pairs them with the calls by
            // position); the images tools returned and any user text follow them.
            parts.sort_by_key(|part| part.get("functionResponse").is_none());
            json!({ "role": role, "parts": parts })
        })
        .collect();
    Ok((system, turns))
}

/// The text of a content that is a string or a list of text parts.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
        _ => String::new(),
    }
}

/// A user content as parts. Empty texts are left out: Gemini rejects an empty text part.
fn user_parts(content: &Value, position: usize) -> Result<Vec<Value>, LlmError> {
    match content {
        Value::String(s) if s.is_empty() => Ok(Vec::new()),
        Value::String(s) => Ok(vec![json!({ "text": s })]),
        Value::Array(parts) => parts
            .iter()
            .filter(|p| p["text"] != "")
            .map(|p| user_part(p, position))
            .collect(),
        _ => Ok(Vec::new()),
    }
}

/// One OpenAI content part as a Gemini part. Unknown kinds are refused rather than
/// dropped: a model answering a question without the image it was about is worse than
/// an error.
fn user_part(part: &Value, position: usize) -> Result<Value, LlmError> {
    let unsupported = |why: String| LlmError::InvalidField {
        field: "messages",
        why: format!("messages[{position}]: {why}"),
    };
    match part["type"].as_str().unwrap_or_default() {
        "text" => Ok(json!({ "text": part["text"] })),
        "image_url" => {
            let url = part["image_url"]["url"].as_str().unwrap_or_default();
            if let Some((mime_type, data)) = data_url(url) {
                Ok(json!({ "inlineData": { "mimeType": mime_type, "data": data } }))
            } else if url.starts_with("https://") || url.starts_with("http://") {
                Ok(json!({ "fileData": { "mimeType": image_mime_type(url), "fileUri": url } }))
            } else {
                Err(unsupported(
                    "image_url must be a data: URL or an http(s) URL".into(),
                ))
            }
        }
        "input_audio" => {
            let format = part["input_audio"]["format"].as_str().unwrap_or("wav");
            Ok(
                json!({ "inlineData": { "mimeType": format!("audio/{format}"), "data": part["input_audio"]["data"] } }),
            )
        }
        "file" => part["file"]["file_data"]
            .as_str()
            .and_then(data_url)
            .map(|(mime_type, data)| {
                json!({ "inlineData": { "mimeType": mime_type, "data": data } })
            })
            .ok_or_else(|| {
                unsupported("only file parts with inline base64 file_data reach Gemini".into())
            }),
        other => Err(unsupported(format!(
            "content part type '{other}' has no Gemini equivalent"
        ))),
    }
}

/// The media type and base64 payload of a `data:<type>;base64,<data>` URL.
fn data_url(url: &str) -> Option<(&str, &str)> {
    url.strip_prefix("data:")?.split_once(";base64,")
}

/// Gemini requires a media type next to a file URI; the extension is the only hint a
/// bare URL gives.
fn image_mime_type(url: &str) -> &'static str {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let extension = path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "heic" => "image/heic",
        "heif" => "image/heif",
        _ => "image/*",
    }
}

/// An assistant message as model parts: its text, then one `functionCall` per tool call.
fn model_parts(
    message: &Value,
    position: usize,
    signatures: bool,
    call_names: &mut HashMap<String, String>,
) -> Result<Vec<Value>, LlmError> {
    let mut parts = Vec::new();
    let text = text_of(&message["content"]);
    if !text.is_empty() {
        parts.push(json!({ "text": text }));
    }
    let calls = message["tool_calls"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (n, call) in calls.iter().enumerate() {
        let name = call["function"]["name"].as_str().unwrap_or_default();
        let arguments = call["function"]["arguments"].as_str().unwrap_or_default();
        let args: Value = if arguments.trim().is_empty() {
            json!({})
        } else {
            serde_json::from_str(arguments).map_err(|e| LlmError::InvalidField {
                field: "messages",
                why: format!(
                    "messages[{position}].tool_calls[{n}].function.arguments is not JSON: {e}"
                ),
            })?
        };
        if !args.is_object() {
            return Err(LlmError::InvalidField {
                field: "messages",
                why: format!(
                    "messages[{position}].tool_calls[{n}].function.arguments must be a JSON object"
                ),
            });
        }
        let id = call["id"].as_str();
        if let Some(id) = id {
            call_names.insert(id.to_string(), name.to_string());
        }
        let (id, signature) = match id {
            Some(id) => gemini::split_signature(id),
            None => ("", None),
        };
        let mut part = json!({ "functionCall": { "name": name, "args": args } });
        if issued_by_gemini(id) {
            part["functionCall"]["id"] = json!(id);
        }
        // The signature Gemini gave the call, back on its part; a call it never signed
        // (from another provider, or written by the client) gets Google's placeholder.
        match signature {
            Some(signature) => part["thoughtSignature"] = json!(signature),
            None if signatures => part["thoughtSignature"] = json!(SIGNATURE_PLACEHOLDER),
            None => {}
        }
        parts.push(part);
    }
    Ok(parts)
}

/// A tool (or legacy function) result as a `functionResponse` part. Gemini's `response` is
/// an object: a JSON object result is passed as it is (Gemini reads the whole object as
/// the output), anything else is wrapped as `{"content": ...}`.
fn function_response(
    message: &Value,
    call_names: &HashMap<String, String>,
    position: usize,
) -> Result<Vec<Value>, LlmError> {
    let id = message["tool_call_id"].as_str().unwrap_or_default();
    let name = call_names
        .get(id)
        .map(String::as_str)
        .or_else(|| message["name"].as_str())
        .ok_or_else(|| LlmError::InvalidField {
            field: "messages",
            why: format!(
                "the tool message for tool_call_id '{id}' follows no assistant tool call with that id"
            ),
        })?;
    let text = text_of(&message["content"]);
    // A failed tool's output goes under `error`, as Gemini's docs name it.
    let key = match message["is_error"] == Value::Bool(true) {
        true => "error",
        false => "content",
    };
    let response = match serde_json::from_str::<Value>(&text) {
        Ok(object @ Value::Object(_)) if key == "content" => object,
        Ok(other) => json!({ key: other }),
        Err(_) => json!({ key: text }),
    };
    let mut part = json!({ "functionResponse": { "name": name, "response": response } });
    let (id, _) = gemini::split_signature(id);
    if issued_by_gemini(id) {
        part["functionResponse"]["id"] = json!(id);
    }
    // Images and files a tool returned (a screenshot, a PDF) follow its response in the
    // same turn.
    let mut parts = vec![part];
    if let Value::Array(content) = &message["content"] {
        for attached in content.iter().filter(|p| p["type"] != "text") {
            parts.push(user_part(attached, position)?);
        }
    }
    Ok(parts)
}

/// The messages, with each run of tool results put in the order of the calls they answer:
/// Gemini matches function responses to calls by name and position.
fn results_in_call_order(input: &[Value]) -> Vec<&Value> {
    let is_result = |m: &Value| matches!(m["role"].as_str(), Some("tool" | "function"));
    let mut out: Vec<&Value> = input.iter().collect();
    let mut calls: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < out.len() {
        if !is_result(out[i]) {
            if out[i]["role"] == "assistant" {
                calls = out[i]["tool_calls"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|c| c["id"].as_str())
                    .collect();
            }
            i += 1;
            continue;
        }
        let start = i;
        while i < out.len() && is_result(out[i]) {
            i += 1;
        }
        // Stable: results that answer no known call keep their place after the others.
        out[start..i].sort_by_key(|m| {
            let id = m["tool_call_id"].as_str().unwrap_or_default();
            calls.iter().position(|c| *c == id).unwrap_or(usize::MAX)
        });
    }
    out
}

/// Whether a tool-call id is one Gemini gave (it is then sent back with the call and its
/// result, for Gemini to match them); ids the gateway mints for calls Gemini gave none
/// (`call_...`, see `gemini::tool_call`) mean nothing to Gemini.
fn issued_by_gemini(id: &str) -> bool {
    !id.is_empty() && !id.starts_with("call_")
}

fn function_declaration(tool: &Value) -> Result<Value, LlmError> {
    if tool["type"].as_str().is_some_and(|t| t != "function") {
        return Err(LlmError::InvalidField {
            field: "tools",
            why: format!("tool type '{}' has no Gemini equivalent", tool["type"]),
        });
    }
    let function = &tool["function"];
    let mut out = json!({ "name": function["name"] });
    if let Some(description) = function["description"].as_str() {
        out["description"] = json!(description);
    }
    // Gemini refuses an object schema without properties; a tool without arguments is
    // declared without parameters instead.
    let parameters = &function["parameters"];
    let no_properties = parameters["properties"]
        .as_object()
        .is_none_or(|p| p.is_empty());
    let takes_no_arguments =
        parameters.is_null() || (parameters["type"] == "object" && no_properties);
    if !takes_no_arguments {
        out["parameters"] = gemini::schema(parameters);
    }
    Ok(out)
}

/// OpenAI's `tool_choice` as Gemini's `toolConfig`; `None` leaves Gemini's default (AUTO).
fn tool_config(choice: &Value) -> Result<Option<Value>, LlmError> {
    let config = |mode: &str, names: Vec<Value>| {
        let mut calling = json!({ "mode": mode });
        if !names.is_empty() {
            calling["allowedFunctionNames"] = Value::Array(names);
        }
        Some(json!({ "functionCallingConfig": calling }))
    };
    Ok(match choice {
        Value::Null => None,
        Value::String(s) if s == "auto" => config("AUTO", Vec::new()),
        Value::String(s) if s == "none" => config("NONE", Vec::new()),
        Value::String(s) if s == "required" => config("ANY", Vec::new()),
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("function") => {
            config("ANY", vec![choice["function"]["name"].clone()])
        }
        // Gemini allows a list of names only when a call is forced (mode ANY).
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("allowed_tools") => {
            let allowed = &choice["allowed_tools"];
            if allowed["mode"] == "required" {
                let names = allowed["tools"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .map(|t| t["function"]["name"].clone())
                    .collect();
                config("ANY", names)
            } else {
                config("AUTO", Vec::new())
            }
        }
        other => {
            return Err(LlmError::InvalidField {
                field: "tool_choice",
                why: format!("{other} is not auto, none, required or a function"),
            });
        }
    })
}

/// The sampling and output settings, thinking included.
fn generation_config(request: &Value) -> Result<Map<String, Value>, LlmError> {
    let mut out = Map::new();
    let renames = [
        ("temperature", "temperature"),
        ("top_p", "topP"),
        // Anthropic clients' `top_k`, which the pivot carries under its own name.
        ("top_k", "topK"),
        ("n", "candidateCount"),
        ("seed", "seed"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
    ];
    for (openai, gemini) in renames {
        if let Some(v) = request.get(openai).filter(|v| !v.is_null()) {
            out.insert(gemini.into(), v.clone());
        }
    }
    if let Some(max) = request
        .get("max_completion_tokens")
        .filter(|v| !v.is_null())
        .or_else(|| request.get("max_tokens").filter(|v| !v.is_null()))
    {
        out.insert("maxOutputTokens".into(), max.clone());
    }
    match &request["stop"] {
        Value::String(s) => {
            out.insert("stopSequences".into(), json!([s]));
        }
        Value::Array(a) => {
            out.insert("stopSequences".into(), Value::Array(a.clone()));
        }
        _ => {}
    }
    let format = &request["response_format"];
    match format["type"].as_str() {
        Some("json_object") => {
            out.insert("responseMimeType".into(), json!("application/json"));
        }
        Some("json_schema") => {
            out.insert("responseMimeType".into(), json!("application/json"));
            // `responseJsonSchema` takes full JSON Schema ($ref, $defs, additionalProperties),
            // which structured-output schemas from OpenAI SDKs rely on; `responseSchema`
            // would need them flattened.
            if let Some(schema) = format["json_schema"].get("schema") {
                out.insert("responseJsonSchema".into(), schema.clone());
            }
        }
        _ => {}
    }
    if let Some((thinking, budget)) = thinking_config(request)? {
        // Gemini counts thoughts inside `maxOutputTokens`, as Anthropic does.
        if let Some(budget) = budget
            && let Some(max) = out.get("maxOutputTokens").and_then(Value::as_u64)
            && max <= budget
        {
            out.insert("maxOutputTokens".into(), json!(budget + max));
        }
        out.insert("thinkingConfig".into(), thinking);
    }
    Ok(out)
}

/// `reasoning_effort` or Anthropic's `thinking` as Gemini's `thinkingConfig`, with the
/// thoughts included so the client gets them as `reasoning_content`. Gemini 3 models take a
/// level (`low` or `high`, which every Gemini 3 model knows); a budget (Gemini 2.5, or a
/// `thinking` object's) is `thinkingBudget`, which Gemini 3 still accepts. Off is a zero
/// budget for `reasoning_effort: "none"` (Gemini refuses it, clearly, for the models that
/// always think); a `thinking` object that turns thinking off leaves the model's default,
/// since Anthropic clients send it for models that can think or not. With the config, the
/// budget it sets, which `maxOutputTokens` must leave room for.
fn thinking_config(request: &Value) -> Result<Option<(Value, Option<u64>)>, LlmError> {
    let effort = request["reasoning_effort"].as_str();
    let object = super::reasoning::raw_thinking(request)?;
    let Some(thinking) =
        super::reasoning::requested(object.as_deref(), effort, super::reasoning::Budgets::Gemini)?
    else {
        return Ok(None);
    };
    if !thinking.enabled {
        return Ok(object
            .is_none()
            .then(|| (json!({ "thinkingBudget": 0 }), None)));
    }
    let gemini_3 = request["model"]
        .as_str()
        .is_some_and(|m| m.trim_start_matches("models/").starts_with("gemini-3"));
    Ok(Some(match (object.is_none(), gemini_3, effort) {
        (true, true, Some("minimal" | "low")) => (
            json!({ "thinkingLevel": "low", "includeThoughts": true }),
            None,
        ),
        (true, true, Some(_)) => (
            json!({ "thinkingLevel": "high", "includeThoughts": true }),
            None,
        ),
        _ => match thinking.budget {
            Some(budget) => (
                json!({ "thinkingBudget": budget, "includeThoughts": true }),
                Some(budget),
            ),
            // A `thinking` type without a budget (adaptive): Gemini's dynamic budget.
            None => (
                json!({ "thinkingBudget": -1, "includeThoughts": true }),
                None,
            ),
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    #[test]
    fn a_tools_images_follow_its_response_and_a_failure_is_an_error() {
        let chat = json!({"model": "gemini-2.5-flash", "messages": [
            {"role": "user", "content": "Open the page"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "screenshot", "arguments": "{}"}},
                {"id": "call_2", "type": "function", "function": {"name": "click", "arguments": "{}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": [
                {"type": "text", "text": "Page shown"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}}
            ]},
            {"role": "tool", "tool_call_id": "call_2", "content": "no such button", "is_error": true}
        ]});
        let out = chat_to_gemini(&chat).unwrap();
        assert_eq!(
            out["contents"][2]["parts"],
            json!([
                {"functionResponse": {"name": "screenshot", "response": {"content": "Page shown"}}},
                {"functionResponse": {"name": "click", "response": {"error": "no such button"}}},
                {"inlineData": {"mimeType": "image/png", "data": "iVBORw0K"}}
            ])
        );
    }

    #[test]
    fn thinking_becomes_gemini_thinking_config_with_thoughts_included() {
        let config = |request: Value| {
            let mut request = request;
            request["messages"] = json!([{"role": "user", "content": "Hi"}]);
            chat_to_gemini(&request).unwrap()["generationConfig"].clone()
        };
        assert_eq!(
            config(json!({"model": "gemini-2.5-flash", "reasoning_effort": "medium"}))["thinkingConfig"],
            json!({"thinkingBudget": 8192, "includeThoughts": true})
        );
        assert_eq!(
            config(json!({"model": "gemini-3-pro-preview", "reasoning_effort": "medium"}))["thinkingConfig"],
            json!({"thinkingLevel": "high", "includeThoughts": true})
        );
        assert_eq!(
            config(json!({"model": "gemini-3-flash", "reasoning_effort": "low"}))["thinkingConfig"],
            json!({"thinkingLevel": "low", "includeThoughts": true})
        );
        assert_eq!(
            config(json!({"model": "gemini-2.5-flash", "reasoning_effort": "none"}))["thinkingConfig"],
            json!({"thinkingBudget": 0})
        );
        let anthropic_client = config(json!({"model": "gemini-3-pro-preview", "top_k": 20,
            "thinking": {"type": "enabled", "budget_tokens": 3000}}));
        assert_eq!(
            anthropic_client["thinkingConfig"],
            json!({"thinkingBudget": 3000, "includeThoughts": true})
        );
        assert_eq!(anthropic_client["topK"], 20);
        assert!(
            config(json!({"model": "gemini-2.5-pro"}))
                .get("thinkingConfig")
                .is_none()
        );
        let off = config(json!({"model": "gemini-2.5-pro", "thinking": {"type": "disabled"}}));
        assert!(
            off.get("thinkingConfig").is_none(),
            "the model's default: {off}"
        );
        let short = config(json!({"model": "gemini-2.5-flash", "max_tokens": 100,
            "thinking": {"type": "enabled", "budget_tokens": 1024}}));
        assert_eq!(
            short["maxOutputTokens"], 1124,
            "room for the answer besides thoughts"
        );
    }

    fn load(path: &str) -> Value {
        serde_json::from_slice(&fixture(path)).unwrap()
    }

    #[test]
    fn chat_request_becomes_generate_content() {
        let out = chat_to_gemini(&load("openai/chat_request.json")).unwrap();
        let native = load("gemini/generate_content_request.json");
        assert_eq!(out["systemInstruction"], native["systemInstruction"]);
        assert_eq!(out["contents"], native["contents"]);
        assert_eq!(out["tools"], native["tools"]);
        assert_eq!(out["toolConfig"], native["toolConfig"]);
        assert_eq!(
            out["generationConfig"],
            json!({ "temperature": 0.2, "maxOutputTokens": 512 })
        );
        for openai_only in ["model", "messages", "stream", "stream_options", "user"] {
            assert!(out.get(openai_only).is_none(), "{openai_only} leaked");
        }
    }

    #[test]
    fn gemini_call_ids_go_back_and_results_follow_the_calls_order() {
        let call = |id: &str| json!({"id": id, "type": "function", "function": {"name": "f", "arguments": "{}"}});
        let request = json!({"model": "g", "messages": [
            {"role": "user", "content": "twice"},
            {"role": "assistant", "content": null, "tool_calls": [call("fc-a"), call("fc-b")]},
            {"role": "tool", "tool_call_id": "fc-b", "content": "second"},
            {"role": "tool", "tool_call_id": "fc-a", "content": "first"}
        ]});
        let out = chat_to_gemini(&request).unwrap();
        let calls = &out["contents"][1]["parts"];
        assert_eq!(calls[0]["functionCall"]["id"], "fc-a");
        assert_eq!(calls[1]["functionCall"]["id"], "fc-b");
        assert_eq!(
            out["contents"][2]["parts"],
            json!([
                {"functionResponse": {"name": "f", "id": "fc-a", "response": {"content": "first"}}},
                {"functionResponse": {"name": "f", "id": "fc-b", "response": {"content": "second"}}}
            ])
        );
        // Ids the gateway minted (Gemini gave none) are not sent to Gemini.
        let minted = json!({"model": "g", "messages": [
            {"role": "user", "content": "once"},
            {"role": "assistant", "content": null, "tool_calls": [call("call_r1_0")]},
            {"role": "tool", "tool_call_id": "call_r1_0", "content": "done"}
        ]});
        let out = chat_to_gemini(&minted).unwrap();
        assert!(
            out["contents"][1]["parts"][0]["functionCall"]
                .get("id")
                .is_none()
        );
        assert!(
            out["contents"][2]["parts"][0]["functionResponse"]
                .get("id")
                .is_none()
        );
    }

    #[test]
    fn tool_results_become_function_responses_named_by_call_id() {
        let request = load("openai/chat_request_tool_result.json");
        let out = chat_to_gemini(&request).unwrap();
        let native = load("gemini/generate_content_request_function_response.json");
        let contents = out["contents"].as_array().unwrap();
        assert_eq!(contents.len(), 3);
        assert_eq!(contents[0], native["contents"][0]);
        assert_eq!(
            contents[1],
            json!({"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"location": "Paris", "unit": "celsius"}}}]})
        );
        assert_eq!(contents[2], native["contents"][2]);
        assert_eq!(out["generationConfig"], json!({ "maxOutputTokens": 512 }));
        assert!(out.get("toolConfig").is_none());

        let mut gemini_3 = request.clone();
        gemini_3["model"] = json!("gemini-3-pro-preview");
        let out = chat_to_gemini(&gemini_3).unwrap();
        assert_eq!(
            out["contents"][1]["parts"][0]["thoughtSignature"],
            SIGNATURE_PLACEHOLDER
        );

        let mut bad = request.clone();
        bad["messages"][2]["tool_calls"][0]["function"]["arguments"] = json!("{\"location\":");
        let e = chat_to_gemini(&bad).unwrap_err();
        assert!(
            matches!(e, LlmError::InvalidField { field: "messages", ref why } if why.contains("messages[2].tool_calls[0].function.arguments"))
        );
        let mut orphan = request;
        orphan["messages"][3]["tool_call_id"] = json!("call_unknown");
        assert!(chat_to_gemini(&orphan).is_err());
    }

    #[test]
    fn content_parts_tool_choice_and_generation_settings() {
        let request = json!({
            "model": "gemini-2.5-flash",
            "messages": [
                {"role": "developer", "content": [{"type": "text", "text": "Be brief."}]},
                {"role": "user", "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.JPG?size=2"}}
                ]},
                {"role": "user", "content": [{"type": "text", "text": ""}, {"type": "text", "text": "And this?"}]},
                {"role": "assistant", "content": "A cat."},
                {"role": "tool", "tool_call_id": "call_x", "name": "lookup", "content": "plain text"}
            ],
            "tools": [
                {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "additionalProperties": false, "properties": {"city": {"type": "string"}}}}},
                {"type": "function", "function": {"name": "now", "parameters": {"type": "object", "properties": {}}}}
            ],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            "top_p": 0.9, "max_tokens": 100, "stop": "END", "n": 2, "seed": 7,
            "presence_penalty": 0.5, "frequency_penalty": 0.25,
            "response_format": {"type": "json_schema", "json_schema": {"name": "w", "schema": {"type": "object", "additionalProperties": false}}}
        });
        let out = chat_to_gemini(&request).unwrap();
        assert_eq!(
            out["systemInstruction"],
            json!({"parts": [{"text": "Be brief."}]})
        );
        // The two user turns merge; the empty text is left out.
        assert_eq!(
            out["contents"],
            json!([
                {"role": "user", "parts": [
                    {"text": "What is this?"},
                    {"inlineData": {"mimeType": "image/png", "data": "iVBORw0K"}},
                    {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/cat.JPG?size=2"}},
                    {"text": "And this?"}
                ]},
                {"role": "model", "parts": [{"text": "A cat."}]},
                {"role": "user", "parts": [{"functionResponse": {"name": "lookup", "response": {"content": "plain text"}}}]}
            ])
        );
        let declarations = &out["tools"][0]["functionDeclarations"];
        assert_eq!(
            declarations[0]["parameters"],
            json!({"type": "object", "properties": {"city": {"type": "string"}}})
        );
        assert_eq!(declarations[1], json!({"name": "now"}));
        assert_eq!(
            out["toolConfig"],
            load("gemini/tool_config_any.json")["toolConfig"]
        );
        assert_eq!(
            out["generationConfig"],
            json!({
                "topP": 0.9, "maxOutputTokens": 100, "stopSequences": ["END"], "candidateCount": 2,
                "seed": 7, "presencePenalty": 0.5, "frequencyPenalty": 0.25,
                "responseMimeType": "application/json",
                "responseJsonSchema": {"type": "object", "additionalProperties": false}
            })
        );

        let choice = |c: Value| tool_config(&c).unwrap().unwrap()["functionCallingConfig"].clone();
        assert_eq!(choice(json!("none")), json!({"mode": "NONE"}));
        assert_eq!(choice(json!("required")), json!({"mode": "ANY"}));
        assert!(tool_config(&json!("sometimes")).is_err());
        let unknown_part = json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "video_url"}]}]});
        assert!(chat_to_gemini(&unknown_part).is_err());
        let only_system = json!({"model": "m", "messages": [{"role": "system", "content": "x"}]});
        assert!(chat_to_gemini(&only_system).is_err());
    }
}
