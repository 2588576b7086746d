//! Google's Gemini API (`generateContent`, `streamGenerateContent?alt=sse`) as pure
//! functions: the model path, the model and usage a response reports, Google errors in the
//! OpenAI shape, tool schemas trimmed to the subset Gemini accepts, and the pieces of an
//! answer (finish reasons, parts, function calls) in OpenAI's terms. Whole requests and
//! answers are translated in `translate::chat_on_gemini` and `translate::gemini_stream`.

use serde_json::{Map, Value, json};

use crate::error::openai_error;
use crate::usage::Usage;

/// The path under the API version for one call on `model`. Clients and configs name
/// models both ways (`gemini-2.5-flash`, `models/gemini-2.5-flash`); a doubled prefix would
/// be a 404, so it is written once. `alt=sse` makes the stream server-sent events; without
/// it Gemini streams one JSON array that an SSE reader cannot see.
pub fn model_path(model: &str, stream: bool) -> String {
    let model = model.strip_prefix("models/").unwrap_or(model);
    if stream {
        format!("models/{model}:streamGenerateContent?alt=sse")
    } else {
        format!("models/{model}:generateContent")
    }
}

impl Usage {
    /// From Gemini's `usageMetadata`. Gemini counts thinking apart from the answer
    /// (`thoughtsTokenCount` is not in `candidatesTokenCount`) and tool-use prompt tokens
    /// apart from the prompt; both are added back so `input` and `output` mean what they
    /// mean for the other providers. Chunks without `promptTokenCount` (Vertex's first
    /// stream chunk carries only `trafficType`) give nothing.
    pub fn from_gemini(usage_metadata: &Value) -> Option<Self> {
        let count = |k: &str| usage_metadata.get(k).and_then(Value::as_u64).unwrap_or(0);
        let prompt = usage_metadata.get("promptTokenCount")?.as_u64()?;
        let thoughts = count("thoughtsTokenCount");
        Some(Self {
            input: prompt + count("toolUsePromptTokenCount"),
            output: count("candidatesTokenCount") + thoughts,
            cached: count("cachedContentTokenCount"),
            reasoning: thoughts,
            cache_write: 0,
        })
    }
}

/// A Google error (`{"error":{"code","message","status","details"}}`, or that inside a
/// one-element array as Vertex sends it on JSON-array streams) in the OpenAI shape. The
/// provider's message is kept; `type` and `code` follow the gRPC status so OpenAI clients
/// branch on them as usual. `status` is the HTTP status, used when the body names none.
pub fn error_to_openai(body: &Value, status: u16) -> Value {
    let error = match body {
        Value::Array(items) => items.first().map(|i| &i["error"]).unwrap_or(&Value::Null),
        _ => &body["error"],
    };
    let message = error["message"]
        .as_str()
        .unwrap_or("the provider reported an error");
    let status = error["code"]
        .as_u64()
        .and_then(|c| u16::try_from(c).ok())
        .unwrap_or(status);
    let (error_type, code) = classify(error["status"].as_str(), error_reason(error), status);
    openai_error(message, error_type, None, code)
}

/// The `reason` of a `google.rpc.ErrorInfo` detail (e.g. `API_KEY_INVALID`), which is more
/// precise than the status: a bad API key is a 400 `INVALID_ARGUMENT` on Gemini.
fn error_reason(error: &Value) -> Option<&str> {
    error["details"]
        .as_array()?
        .iter()
        .filter(|d| {
            d["@type"]
                .as_str()
                .is_some_and(|t| t.ends_with("google.rpc.ErrorInfo"))
        })
        .find_map(|d| d["reason"].as_str())
}

/// OpenAI's error `type` and `code` for a Google status name, ErrorInfo reason and HTTP
/// status.
fn classify(
    status_name: Option<&str>,
    reason: Option<&str>,
    http_status: u16,
) -> (&'static str, Option<&'static str>) {
    if matches!(reason, Some("API_KEY_INVALID" | "API_KEY_EXPIRED")) {
        return ("authentication_error", Some("invalid_api_key"));
    }
    match status_name {
        Some("INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE") => {
            ("invalid_request_error", None)
        }
        Some("UNAUTHENTICATED") => ("authentication_error", None),
        Some("PERMISSION_DENIED") => ("permission_error", None),
        Some("NOT_FOUND") => ("not_found_error", None),
        Some("RESOURCE_EXHAUSTED") => ("rate_limit_error", Some("rate_limit_exceeded")),
        Some("UNAVAILABLE") => ("overloaded_error", None),
        Some("DEADLINE_EXCEEDED") => ("timeout_error", None),
        Some(_) => ("api_error", None),
        None => match http_status {
            400 => ("invalid_request_error", None),
            401 => ("authentication_error", None),
            403 => ("permission_error", None),
            404 => ("not_found_error", None),
            429 => ("rate_limit_error", Some("rate_limit_exceeded")),
            503 => ("overloaded_error", None),
            504 => ("timeout_error", None),
            _ => ("api_error", None),
        },
    }
}

/// The schema keywords Gemini's `Schema` (an OpenAPI 3.0 subset) knows. Its JSON parser
/// rejects the whole request over any other key (`additionalProperties`, `$schema`,
/// `strict`, `$defs`...), and OpenAI tool schemas routinely carry those, so everything
/// else is dropped: the model loses a constraint rather than the request failing.
const SCHEMA_KEYWORDS: &[&str] = &[
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "items",
    "minItems",
    "maxItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "example",
    "default",
    "anyOf",
    "propertyOrdering",
];

/// A JSON schema trimmed, at every level, to what Gemini's `Schema` accepts. A JSON-schema
/// type list such as `["string", "null"]` becomes `type: "string"` plus `nullable`, as
/// Gemini takes one type only.
pub fn schema(json_schema: &Value) -> Value {
    let Value::Object(object) = json_schema else {
        return json_schema.clone();
    };
    let mut out = Map::new();
    for (key, value) in object {
        if !SCHEMA_KEYWORDS.contains(&key.as_str()) {
            continue;
        }
        let value = match (key.as_str(), value) {
            // Property names are the caller's, not keywords: only their schemas are trimmed.
            ("properties", Value::Object(properties)) => Value::Object(
                properties
                    .iter()
                    .map(|(name, s)| (name.clone(), schema(s)))
                    .collect(),
            ),
            ("items", s) => schema(s),
            ("anyOf", Value::Array(options)) => Value::Array(options.iter().map(schema).collect()),
            ("type", Value::Array(types)) => {
                if types.iter().any(|t| t == "null") {
                    out.insert("nullable".into(), Value::Bool(true));
                }
                match types.iter().find(|t| *t != "null") {
                    Some(t) => t.clone(),
                    None => continue,
                }
            }
            _ => value.clone(),
        };
        out.insert(key.clone(), value);
    }
    Value::Object(out)
}

/// Gemini's `finishReason` as OpenAI's `finish_reason`. Gemini has no tool reason: a
/// candidate that called functions stops with `STOP`.
pub fn finish_reason(reason: Option<&str>, called_tools: bool) -> &'static str {
    match reason {
        Some("MAX_TOKENS") => "length",
        Some(
            "SAFETY"
            | "RECITATION"
            | "BLOCKLIST"
            | "PROHIBITED_CONTENT"
            | "SPII"
            | "LANGUAGE"
            | "IMAGE_SAFETY"
            | "IMAGE_PROHIBITED_CONTENT"
            | "IMAGE_RECITATION",
        ) => "content_filter",
        _ if called_tools => "tool_calls",
        _ => "stop",
    }
}

/// One candidate's parts, sorted into the places OpenAI keeps them.
#[derive(Debug, Default)]
pub struct CandidateParts {
    pub text: String,
    /// Thought summaries (`thought: true`), which are not the answer.
    pub reasoning: String,
    /// The `functionCall` objects, whole.
    pub calls: Vec<Value>,
}

/// Sorts a candidate's parts: text, thought summaries and function calls travel in
/// different OpenAI fields.
pub fn candidate_parts(candidate: &Value) -> CandidateParts {
    let mut sorted = CandidateParts::default();
    for part in candidate["content"]["parts"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        if let Some(call) = part.get("functionCall") {
            let mut call = call.clone();
            // Gemini 3 signs its reasoning on the call's part; the signature travels in
            // the tool call's id (see `tool_call`).
            if let Some(signature) = part.get("thoughtSignature").filter(|s| s.is_string()) {
                call[SIGNATURE_KEY] = signature.clone();
            }
            sorted.calls.push(call);
        } else if let Some(text) = part["text"].as_str() {
            if part["thought"] == true {
                sorted.reasoning.push_str(text);
            } else {
                sorted.text.push_str(text);
            }
        }
    }
    sorted
}

/// Where `candidate_parts` keeps a call part's `thoughtSignature` beside the call.
const SIGNATURE_KEY: &str = "thoughtSignature";

/// Between a tool call's id and the thought signature it carries.
const SIGNATURE_SEPARATOR: &str = "__sig__";

/// An OpenAI tool call for a Gemini `functionCall`. Gemini gives an id only sometimes; the
/// minted one includes the response id so calls from different turns never share an id.
/// A call Gemini signed (Gemini 3 signs its reasoning on the first call of a turn, and
/// refuses the call back without it) carries the signature in its id, URL-safe, after
/// `__sig__`: every client sends a call's id back as it got it, where other fields it
/// does not know are often lost. `split_signature` takes it out again.
pub fn tool_call(call: &Value, response_id: &str, n: usize) -> Value {
    let mut id = match call["id"].as_str().filter(|id| !id.is_empty()) {
        Some(id) => id.to_string(),
        None if response_id.is_empty() => format!("call_{n}"),
        None => format!("call_{response_id}_{n}"),
    };
    if let Some(signature) = call[SIGNATURE_KEY].as_str() {
        id.push_str(SIGNATURE_SEPARATOR);
        id.extend(signature.chars().filter(|c| *c != '=').map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        }));
    }
    let args = call.get("args").filter(|a| !a.is_null()).cloned();
    json!({
        "id": id,
        "type": "function",
        "function": { "name": call["name"], "arguments": args.unwrap_or_else(|| json!({})).to_string() },
    })
}

/// A tool call's id without the thought signature `tool_call` put in it, and the signature
/// as Gemini gave it (standard base64, padded).
pub fn split_signature(id: &str) -> (&str, Option<String>) {
    let Some((base, signature)) = id.split_once(SIGNATURE_SEPARATOR) else {
        return (id, None);
    };
    let mut standard: String = signature
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    while !standard.len().is_multiple_of(4) {
        standard.push('=');
    }
    (base, Some(standard))
}

/// A Chat Completions body with the thought signatures taken out of its tool-call ids, for
/// a provider that Gemini's signatures mean nothing to (OpenAI takes ids of at most 40
/// characters); None when no id carries one, which a search finds without reading the body.
pub fn ids_without_signatures(body: &[u8]) -> Option<Vec<u8>> {
    static MARK: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(SIGNATURE_SEPARATOR));
    MARK.find(body)?;
    let mut chat: Value = serde_json::from_slice(body).ok()?;
    let unsigned = |id: &mut Value| {
        if let Some(text) = id.as_str() {
            *id = Value::String(split_signature(text).0.to_string());
        }
    };
    for message in chat["messages"].as_array_mut()?.iter_mut() {
        if message.get("tool_call_id").is_some() {
            unsigned(&mut message["tool_call_id"]);
        }
        for call in message
            .get_mut("tool_calls")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            unsigned(&mut call["id"]);
        }
    }
    serde_json::to_vec(&chat).ok()
}

/// The completion id: Gemini's `responseId` when it sent one.
pub fn completion_id(response_id: &str, created: u64) -> String {
    if response_id.is_empty() {
        format!("chatcmpl-gemini-{created}")
    } else {
        format!("chatcmpl-{response_id}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    #[test]
    fn signatures_leave_the_ids_of_a_body_for_another_provider() {
        let body = br#"{"model":"gpt-4o","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"call_r_0__sig__YWJj","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"call_r_0__sig__YWJj","content":"x"}]}"#;
        let out: Value = serde_json::from_slice(&ids_without_signatures(body).unwrap()).unwrap();
        assert_eq!(out["messages"][0]["tool_calls"][0]["id"], "call_r_0");
        assert_eq!(out["messages"][1]["tool_call_id"], "call_r_0");
        assert!(ids_without_signatures(br#"{"messages":[]}"#).is_none());
    }

    #[test]
    fn a_calls_thought_signature_rides_in_its_id_url_safe_and_comes_back_whole() {
        // Signatures are base64 (standard alphabet, padded), as Gemini sends them.
        for signature in ["ab+/cd==", "Zm9vYmFy", "YWJj+/8=", "eA=="] {
            let call = json!({"name": "f", "args": {}, "thoughtSignature": signature});
            let id = tool_call(&call, "resp", 0)["id"]
                .as_str()
                .unwrap()
                .to_string();
            assert!(id.starts_with("call_resp_0__sig__"), "{id}");
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
                "ids stay in the characters every provider takes: {id}"
            );
            assert_eq!(
                split_signature(&id),
                ("call_resp_0", Some(signature.to_string()))
            );
        }
        let plain = tool_call(&json!({"name": "f", "args": {}}), "resp", 1);
        assert_eq!(
            split_signature(plain["id"].as_str().unwrap()),
            ("call_resp_1", None)
        );
    }

    fn load(path: &str) -> Value {
        serde_json::from_slice(&fixture(path)).unwrap()
    }

    #[test]
    fn model_paths_name_the_model_once() {
        assert_eq!(
            model_path("gemini-2.5-flash", false),
            "models/gemini-2.5-flash:generateContent"
        );
        assert_eq!(
            model_path("models/gemini-2.5-flash", true),
            "models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        );
    }

    #[test]
    fn usage_from_responses_and_stream_chunks() {
        let usage_of = |path: &str| {
            let response: Value = serde_json::from_slice(&fixture(path)).unwrap();
            Usage::from_gemini(&response["usageMetadata"])
        };
        assert_eq!(
            usage_of("gemini/generate_content_response.json"),
            Some(Usage {
                input: 1152,
                output: 14 + 184,
                cached: 1024,
                reasoning: 184,
                cache_write: 0
            })
        );
        assert_eq!(
            usage_of("gemini/generate_content_response_blocked_prompt.json"),
            Some(Usage {
                input: 12,
                ..Usage::default()
            })
        );
        // Vertex's first stream chunk carries only the traffic type.
        assert_eq!(
            Usage::from_gemini(&json!({"trafficType": "ON_DEMAND"})),
            None
        );
        let tool_use = json!({"promptTokenCount": 10, "toolUsePromptTokenCount": 5, "candidatesTokenCount": 2});
        assert_eq!(Usage::from_gemini(&tool_use).unwrap().input, 15);
    }

    #[test]
    fn finish_reasons_in_openai_terms() {
        assert_eq!(finish_reason(Some("STOP"), false), "stop");
        assert_eq!(finish_reason(Some("STOP"), true), "tool_calls");
        assert_eq!(finish_reason(Some("MAX_TOKENS"), true), "length");
        assert_eq!(finish_reason(Some("RECITATION"), false), "content_filter");
        assert_eq!(
            finish_reason(Some("MALFORMED_FUNCTION_CALL"), false),
            "stop"
        );
    }

    #[test]
    fn google_errors_in_the_openai_shape() {
        let key = error_to_openai(&load("gemini/error_400_api_key_invalid.json"), 400);
        assert_eq!(
            key["error"]["message"],
            "API key not valid. Please pass a valid API key."
        );
        assert_eq!(key["error"]["type"], "authentication_error");
        assert_eq!(key["error"]["code"], "invalid_api_key");

        let missing = error_to_openai(&load("gemini/error_404_model_not_found.json"), 404);
        assert_eq!(missing["error"]["type"], "not_found_error");
        assert!(
            missing["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("models/gemini-9.9-flash is not found")
        );

        let quota = error_to_openai(&load("gemini/error_429_resource_exhausted.json"), 429);
        assert_eq!(quota["error"]["type"], "rate_limit_error");
        assert_eq!(quota["error"]["code"], "rate_limit_exceeded");
        assert!(
            quota["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("You exceeded your current quota")
        );

        let busy = error_to_openai(&load("gemini/error_503_unavailable.json"), 503);
        assert_eq!(busy["error"]["type"], "overloaded_error");
        assert_eq!(
            busy["error"]["message"],
            "The model is overloaded. Please try again later."
        );
        assert_eq!(busy["error"]["param"], Value::Null);

        let denied = error_to_openai(&load("vertex/error_403_permission_denied.json"), 403);
        assert_eq!(denied["error"]["type"], "permission_error");
        let wrapped = json!([load("vertex/error_429_resource_exhausted.json")]);
        assert_eq!(
            error_to_openai(&wrapped, 429)["error"]["type"],
            "rate_limit_error"
        );
        let bare = error_to_openai(&json!({"error": {"message": "nope"}}), 401);
        assert_eq!(bare["error"]["type"], "authentication_error");
        assert_eq!(bare["error"]["message"], "nope");
    }

    #[test]
    fn schemas_keep_only_what_gemini_accepts() {
        let openai = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "additionalProperties": {"type": "string", "const": "x"},
                "tags": {"type": "array", "items": {"type": "object", "additionalProperties": false, "properties": {"k": {"type": ["string", "null"]}}}}
            },
            "required": ["tags"]
        });
        assert_eq!(
            schema(&openai),
            json!({
                "type": "object",
                "properties": {
                    "additionalProperties": {"type": "string"},
                    "tags": {"type": "array", "items": {"type": "object", "properties": {"k": {"type": "string", "nullable": true}}}}
                },
                "required": ["tags"]
            })
        );
    }
}
