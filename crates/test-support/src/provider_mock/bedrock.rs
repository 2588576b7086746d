//! Bedrock's Converse API as the gateway meets it: SigV4 `Authorization` (checked for
//! shape and scope here; the Python end-to-end tests recompute the signature with
//! botocore), a strict Converse body, rest-json errors with `x-amzn-ErrorType`, and binary
//! event streams.
//!
//! Models with special meaning besides the shared ones: `stream-exception` streams the
//! sample that ends in a `throttlingException`.

use bytes::Bytes;
use http::StatusCode;
use http::request::Parts;
use serde_json::Value;

use super::{MockBody, fixture, json, streamed};

/// Top-level members of a Converse request; Bedrock rejects any other.
const REQUEST_FIELDS: &[&str] = &[
    "messages",
    "system",
    "inferenceConfig",
    "toolConfig",
    "guardrailConfig",
    "additionalModelRequestFields",
    "promptVariables",
    "additionalModelResponseFieldPaths",
    "requestMetadata",
    "performanceConfig",
];

/// The access key id the mock expects (the one the tests configure).
pub const ACCESS_KEY_ID: &str = "AKIDEXAMPLE";

pub(super) fn error(
    status: StatusCode,
    error_type: &str,
    message: &str,
) -> http::Response<MockBody> {
    let body = serde_json::json!({ "message": message });
    let mut r = json(status, body.to_string().into_bytes());
    let value = format!("{error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/");
    if let Ok(v) = http::HeaderValue::from_str(&value) {
        r.headers_mut().insert("x-amzn-errortype", v);
    }
    r
}

/// What Bedrock says about a malformed SigV4 header, or `None` when it is well formed for
/// this region's bedrock service.
fn check_signature(parts: &Parts) -> Option<String> {
    let header = |n: &str| parts.headers.get(n).and_then(|v| v.to_str().ok());
    let Some(auth) = header("authorization") else {
        return Some("Missing Authentication Token".into());
    };
    let Some(date) = header("x-amz-date").filter(|d| d.len() == 16 && d.ends_with('Z')) else {
        return Some("x-amz-date is missing or not YYYYMMDDTHHMMSSZ".into());
    };
    let Some(rest) = auth.strip_prefix("AWS4-HMAC-SHA256 Credential=") else {
        return Some(format!(
            "Authorization header requires AWS4-HMAC-SHA256, got '{auth}'"
        ));
    };
    let host = header("host").unwrap_or_default();
    let region = host
        .strip_prefix("bedrock-runtime.")
        .and_then(|h| h.split('.').next())
        .unwrap_or("us-east-1");
    let scope = format!(
        "{ACCESS_KEY_ID}/{}/{region}/bedrock/aws4_request, ",
        &date[..8]
    );
    if !rest.starts_with(&scope) {
        return Some(format!("Credential should be scoped to '{scope}': {rest}"));
    }
    let signed = rest[scope.len()..]
        .strip_prefix("SignedHeaders=")
        .and_then(|s| s.split_once(", Signature="));
    match signed {
        Some((headers, signature))
            if headers.split(';').any(|h| h == "host")
                && headers.split(';').any(|h| h == "x-amz-date")
                && signature.len() == 64
                && signature.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            None
        }
        _ => Some(format!("malformed SignedHeaders / Signature: {rest}")),
    }
}

fn check_request(body: &Value) -> Result<(), String> {
    let Some(object) = body.as_object() else {
        return Err("Malformed input request, please reformat your input and try again.".into());
    };
    if let Some(unknown) = object
        .keys()
        .find(|k| !REQUEST_FIELDS.contains(&k.as_str()))
    {
        return Err(format!(
            "Malformed input request: extraneous key [{unknown}] is not permitted, please reformat your input and try again."
        ));
    }
    let messages = body["messages"].as_array().filter(|m| !m.is_empty());
    let Some(messages) = messages else {
        return Err("The messages field is required.".into());
    };
    let mut expected = "user";
    for message in messages {
        let role = message["role"].as_str().unwrap_or_default();
        if role != expected {
            return Err(if expected == "user" && role == "assistant" {
                "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.".into()
            } else {
                format!(
                    "A conversation must start with a user message and alternate roles (got '{role}')."
                )
            });
        }
        if message["content"].as_array().is_none_or(|c| c.is_empty()) {
            return Err("The content field in the Message object is empty.".into());
        }
        expected = if expected == "user" {
            "assistant"
        } else {
            "user"
        };
    }
    Ok(())
}

pub(super) fn converse(parts: &Parts, body: &Value, key: Option<&str>) -> http::Response<MockBody> {
    let bearer = key.map(|k| format!("Bearer {k}"));
    let given = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    // A Bedrock API key (bearer) is accepted instead of a signature when one is configured.
    let bearer_ok = bearer.is_some() && given == bearer.as_deref();
    if !bearer_ok && let Some(message) = check_signature(parts) {
        return error(StatusCode::FORBIDDEN, "AccessDeniedException", &message);
    }
    let path = parts.uri.path();
    let Some((model, action)) = path
        .strip_prefix("/model/")
        .and_then(|rest| rest.rsplit_once('/'))
    else {
        return error(StatusCode::NOT_FOUND, "UnknownOperationException", path);
    };
    if model.contains(':') {
        return error(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            "the model id must be percent-encoded in the path (':' as %3A)",
        );
    }
    if action == "invoke" {
        return invoke(model, body);
    }
    if let Err(message) = check_request(body) {
        return error(StatusCode::BAD_REQUEST, "ValidationException", &message);
    }
    match model {
        "missing-model" => {
            return error(
                StatusCode::BAD_REQUEST,
                "ValidationException",
                "The provided model identifier is invalid.",
            );
        }
        "rate-limited" => {
            return error(
                StatusCode::TOO_MANY_REQUESTS,
                "ThrottlingException",
                "Too many tokens, please wait before trying again.",
            );
        }
        _ => {}
    }
    if let Some(answer) = super::bedrock_thinking::thinking(model, action, body) {
        return answer;
    }
    let tools = body["toolConfig"]["tools"]
        .as_array()
        .is_some_and(|t| !t.is_empty());
    match action {
        "converse" if tools => json(
            StatusCode::OK,
            fixture("bedrock/converse_response_tool_use.json"),
        ),
        "converse" => json(StatusCode::OK, fixture("bedrock/converse_response.json")),
        "converse-stream" => {
            let sample = match model {
                "stream-exception" => "bedrock/converse_stream_exception.bin",
                _ => "bedrock/converse_stream.bin",
            };
            // Pieces that do not line up with messages, as TCP delivers them.
            let pieces = fixture(sample)
                .chunks(97)
                .map(Bytes::copy_from_slice)
                .collect();
            streamed(pieces, model, "application/vnd.amazon.eventstream")
        }
        other => error(StatusCode::NOT_FOUND, "UnknownOperationException", other),
    }
}

/// InvokeModel for the embedding models: Titan text v2 (one `inputText`) and Cohere embed
/// (`texts` with an `input_type`).
fn invoke(model: &str, body: &Value) -> http::Response<MockBody> {
    if model.starts_with("amazon.titan-embed-text") {
        let Some(text) = body["inputText"].as_str() else {
            return error(
                StatusCode::BAD_REQUEST,
                "ValidationException",
                "Malformed input request: #: required key [inputText] not found",
            );
        };
        let answer = serde_json::json!({
            "embedding": super::google::vector(text),
            "inputTextTokenCount": text.split_whitespace().count(),
        });
        return json(StatusCode::OK, answer.to_string().into_bytes());
    }
    if model.starts_with("cohere.embed") {
        let texts: Vec<&str> = body["texts"]
            .as_array()
            .map(|t| t.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if texts.is_empty() || body["input_type"].as_str().is_none() {
            return error(
                StatusCode::BAD_REQUEST,
                "ValidationException",
                "Malformed input request: texts and input_type are required",
            );
        }
        let answer = serde_json::json!({
            "id": "emb-mock",
            "response_type": "embeddings_floats",
            "texts": texts,
            "embeddings": texts.iter().map(|t| super::google::vector(t)).collect::<Vec<_>>(),
        });
        return json(StatusCode::OK, answer.to_string().into_bytes());
    }
    error(
        StatusCode::BAD_REQUEST,
        "ValidationException",
        "The provided model identifier is invalid.",
    )
}
