//! Google's two model APIs as the gateway meets them: the Gemini API (`x-goog-api-key`) and
//! Vertex AI (OAuth access tokens from a token endpoint, which this mock also serves and
//! which verifies the signed assertion with the service account's public key).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::StatusCode;
use http::request::Parts;
use serde_json::Value;

use super::{MockBody, fixture, json, sse_events, streamed};

/// Top-level fields of a `GenerateContentRequest`; Google rejects any other.
const REQUEST_FIELDS: &[&str] = &[
    "contents",
    "tools",
    "toolConfig",
    "safetySettings",
    "systemInstruction",
    "generationConfig",
    "cachedContent",
    "labels",
];
/// The data fields of a `Part`: exactly one per part.
const PART_DATA: &[&str] = &[
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
];

/// The access token the mock's token endpoint hands out (the sample's).
pub fn access_token() -> String {
    let sample: Value =
        serde_json::from_slice(&fixture("vertex/oauth_token_response.json")).unwrap_or(Value::Null);
    sample["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn google_error(
    status: StatusCode,
    google_status: &str,
    message: &str,
) -> http::Response<MockBody> {
    let body = serde_json::json!({"error": {"code": status.as_u16(), "message": message, "status": google_status}});
    json(status, body.to_string().into_bytes())
}

/// What Google says about a request body that is not a `GenerateContentRequest`.
fn check_request(body: &Value) -> Result<(), String> {
    let Some(object) = body.as_object() else {
        return Err("Invalid JSON payload received.".into());
    };
    if let Some(unknown) = object
        .keys()
        .find(|k| !REQUEST_FIELDS.contains(&k.as_str()))
    {
        return Err(format!(
            "Invalid JSON payload received. Unknown name \"{unknown}\": Cannot find field."
        ));
    }
    let contents = body["contents"].as_array().filter(|c| !c.is_empty());
    let Some(contents) = contents else {
        return Err("* GenerateContentRequest.contents: contents is not specified".into());
    };
    for (i, content) in contents.iter().enumerate() {
        if let Some(role) = content["role"].as_str()
            && role != "user"
            && role != "model"
        {
            return Err(format!(
                "Please use a valid role: user, model. (contents[{i}].role '{role}')"
            ));
        }
        let parts = content["parts"].as_array().filter(|p| !p.is_empty());
        let Some(parts) = parts else {
            return Err(format!(
                "* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty."
            ));
        };
        for (j, part) in parts.iter().enumerate() {
            let data = PART_DATA.iter().filter(|f| part.get(**f).is_some()).count();
            if data != 1 {
                return Err(format!(
                    "* GenerateContentRequest.contents[{i}].parts[{j}].data: required oneof field 'data' must have one initialized field"
                ));
            }
        }
    }
    Ok(())
}

/// A `generateContent` / `streamGenerateContent` answer from the samples under `dir`.
fn generate(
    dir: &str,
    model: &str,
    action: &str,
    query: Option<&str>,
    body: &Value,
) -> http::Response<MockBody> {
    if let Err(message) = check_request(body) {
        return google_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", &message);
    }
    match model {
        "missing-model" => {
            return json(
                StatusCode::NOT_FOUND,
                fixture("gemini/error_404_model_not_found.json"),
            );
        }
        "rate-limited" => {
            return json(
                StatusCode::TOO_MANY_REQUESTS,
                fixture("gemini/error_429_resource_exhausted.json"),
            );
        }
        _ => {}
    }
    let tools = body["tools"].as_array().is_some_and(|t| !t.is_empty());
    let vertex = dir == "vertex";
    match action {
        "generateContent" => {
            let sample = match (vertex, tools) {
                (true, _) => "vertex/gemini_generate_content_response.json",
                (false, true) => "gemini/generate_content_response_function_call.json",
                (false, false) => "gemini/generate_content_response.json",
            };
            json(StatusCode::OK, fixture(sample))
        }
        "streamGenerateContent" if query.is_some_and(|q| q.contains("alt=sse")) => {
            let sample = match (vertex, tools) {
                (true, _) => "vertex/gemini_stream_generate_content.sse",
                (false, true) => "gemini/stream_generate_content_function_call.sse",
                (false, false) => "gemini/stream_generate_content.sse",
            };
            streamed(sse_events(&fixture(sample)), model, "text/event-stream")
        }
        "streamGenerateContent" => google_error(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            "this mock streams server-sent events only: ask with ?alt=sse",
        ),
        other => google_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            &format!("unknown method {other}"),
        ),
    }
}

/// `models/{model}:{action}` split at the colon.
fn model_action(rest: &str) -> Option<(&str, &str)> {
    rest.rsplit_once(':')
}

pub(super) fn gemini(parts: &Parts, body: &Value, key: Option<&str>) -> http::Response<MockBody> {
    let given = parts
        .headers
        .get("x-goog-api-key")
        .and_then(|v| v.to_str().ok());
    if key.is_some() && given != key {
        return json(
            StatusCode::BAD_REQUEST,
            fixture("gemini/error_400_api_key_invalid.json"),
        );
    }
    let path = parts.uri.path();
    let rest = path
        .strip_prefix("/v1beta/models/")
        .or_else(|| path.strip_prefix("/v1/models/"));
    match rest.and_then(model_action) {
        Some((model, "batchEmbedContents")) if parts.method == http::Method::POST => {
            embed(model, body)
        }
        Some((model, action)) if parts.method == http::Method::POST => {
            generate("gemini", model, action, parts.uri.query(), body)
        }
        _ => google_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            &format!("no such method: {path}"),
        ),
    }
}

pub(super) fn vertex(
    parts: &Parts,
    raw: &[u8],
    body: &Value,
    _key: Option<&str>,
) -> http::Response<MockBody> {
    let path = parts.uri.path();
    if path == "/token" {
        return token(raw);
    }
    let bearer = format!("Bearer {}", access_token());
    if parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        != Some(bearer.as_str())
    {
        return google_error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials. Expected OAuth 2 access token.",
        );
    }
    // /v1/projects/{p}/locations/{l}/publishers/{publisher}/models/{model}:{action}
    let segments: Vec<&str> = path.trim_start_matches('/').splitn(8, '/').collect();
    let [
        "v1",
        "projects",
        _,
        "locations",
        _,
        "publishers",
        publisher,
        models_rest,
    ] = segments.as_slice()
    else {
        return google_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            &format!("no such resource: {path}"),
        );
    };
    let Some((model, action)) = models_rest.strip_prefix("models/").and_then(model_action) else {
        return google_error(StatusCode::NOT_FOUND, "NOT_FOUND", "no model in the path");
    };
    match *publisher {
        "google" if action == "predict" => predict(body),
        "google" => generate("vertex", model, action, parts.uri.query(), body),
        "anthropic" => claude(model, action, body),
        other => google_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            &format!("Publisher Model `{other}/{model}` not found."),
        ),
    }
}

/// Claude on Vertex: Anthropic's Messages body without `model`, with Vertex's
/// `anthropic_version`.
fn claude(model: &str, action: &str, body: &Value) -> http::Response<MockBody> {
    let invalid = |message: &str| {
        let body = serde_json::json!({"type": "error", "error": {"type": "invalid_request_error", "message": message}});
        json(StatusCode::BAD_REQUEST, body.to_string().into_bytes())
    };
    if body.get("model").is_some() {
        return invalid("model: Extra inputs are not permitted");
    }
    if body["anthropic_version"] != "vertex-2023-10-16" {
        return invalid("anthropic_version: Input should be 'vertex-2023-10-16'");
    }
    if body["messages"].as_array().is_none_or(|m| m.is_empty()) || body["max_tokens"].is_null() {
        return invalid("messages and max_tokens are required");
    }
    let stream = body["stream"] == Value::Bool(true);
    match (action, stream) {
        ("rawPredict", false) => json(
            StatusCode::OK,
            fixture("vertex/anthropic_raw_predict_response.json"),
        ),
        ("streamRawPredict", true) => streamed(
            sse_events(&fixture("vertex/anthropic_stream_raw_predict.sse")),
            model,
            "text/event-stream",
        ),
        _ => invalid("rawPredict takes stream: false, streamRawPredict stream: true"),
    }
}

/// The OAuth token endpoint: a JWT-bearer grant whose assertion must be signed by the
/// sample service account's key, for the cloud-platform scope, at most an hour long.
fn token(raw: &[u8]) -> http::Response<MockBody> {
    let form = String::from_utf8_lossy(raw).to_string();
    let field = |name: &str| {
        form.split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .map(|v| v.replace("%3A", ":").replace("%3a", ":"))
    };
    let refused = || {
        json(
            StatusCode::BAD_REQUEST,
            fixture("vertex/oauth_token_error.json"),
        )
    };
    if field("grant_type").as_deref() != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
        return refused();
    }
    let Some(assertion) = field("assertion") else {
        return refused();
    };
    match verify_assertion(&assertion) {
        Ok(()) => json(StatusCode::OK, fixture("vertex/oauth_token_response.json")),
        Err(_) => refused(),
    }
}

fn verify_assertion(jwt: &str) -> Result<(), String> {
    let account: Value = serde_json::from_slice(&fixture("vertex/service_account.FAKE.json"))
        .map_err(|e| e.to_string())?;
    let mut pieces = jwt.split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (pieces.next(), pieces.next(), pieces.next(), pieces.next())
    else {
        return Err("not a JWT".into());
    };
    let decode = |s: &str| URL_SAFE_NO_PAD.decode(s).map_err(|e| e.to_string());
    let header: Value = serde_json::from_slice(&decode(header)?).map_err(|e| e.to_string())?;
    let claims: Value = serde_json::from_slice(&decode(claims)?).map_err(|e| e.to_string())?;
    if header["alg"] != "RS256" || header["kid"] != account["private_key_id"] {
        return Err("header".into());
    }
    let lifetime =
        claims["exp"].as_u64().unwrap_or(0) as i64 - claims["iat"].as_u64().unwrap_or(0) as i64;
    if claims["iss"] != account["client_email"]
        || claims["scope"] != "https://www.googleapis.com/auth/cloud-platform"
        || !claims["aud"]
            .as_str()
            .is_some_and(|a| a.ends_with("/token"))
        || !(1..=3600).contains(&lifetime)
    {
        return Err("claims".into());
    }
    let pem = account["private_key"].as_str().unwrap_or_default();
    let der: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(der)
        .map_err(|e| e.to_string())?;
    let key = ring::signature::RsaKeyPair::from_pkcs8(&der).map_err(|e| e.to_string())?;
    let public = ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        ring::signature::KeyPair::public_key(&key).as_ref().to_vec(),
    );
    let signed = &jwt[..jwt.rfind('.').unwrap_or(0)];
    public
        .verify(signed.as_bytes(), &decode(signature)?)
        .map_err(|_| "signature".to_string())
}

/// `batchEmbedContents`: each request must name this model and carry text parts; each
/// answer is a small vector derived from its text, so tests can tell them apart.
fn embed(model: &str, body: &Value) -> http::Response<MockBody> {
    let Some(requests) = body["requests"].as_array().filter(|r| !r.is_empty()) else {
        return google_error(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            "* BatchEmbedContentsRequest.requests: requests is not specified",
        );
    };
    let mut embeddings = Vec::new();
    for (i, request) in requests.iter().enumerate() {
        if request["model"] != format!("models/{model}") {
            return google_error(
                StatusCode::BAD_REQUEST,
                "INVALID_ARGUMENT",
                &format!("requests[{i}].model must be models/{model}"),
            );
        }
        let text: String = request["content"]["parts"]
            .as_array()
            .map(|parts| parts.iter().filter_map(|p| p["text"].as_str()).collect())
            .unwrap_or_default();
        if text.is_empty() {
            return google_error(
                StatusCode::BAD_REQUEST,
                "INVALID_ARGUMENT",
                &format!("requests[{i}].content has no text"),
            );
        }
        embeddings.push(serde_json::json!({"values": vector(&text)}));
    }
    json(
        StatusCode::OK,
        serde_json::json!({"embeddings": embeddings})
            .to_string()
            .into_bytes(),
    )
}

/// A deterministic 4-value vector for a text (its length and first bytes).
pub(super) fn vector(text: &str) -> Vec<f64> {
    let bytes = text.as_bytes();
    let at = |i: usize| f64::from(bytes.get(i).copied().unwrap_or(0)) / 256.0;
    vec![text.len() as f64 / 100.0, at(0), at(1), at(2)]
}

/// `:predict` on a Google text embedding model: one `{content}` instance per text.
fn predict(body: &Value) -> http::Response<MockBody> {
    let Some(instances) = body["instances"].as_array().filter(|i| !i.is_empty()) else {
        return google_error(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            "instances is required",
        );
    };
    let mut predictions = Vec::new();
    for (i, instance) in instances.iter().enumerate() {
        let Some(text) = instance["content"].as_str() else {
            return google_error(
                StatusCode::BAD_REQUEST,
                "INVALID_ARGUMENT",
                &format!("instances[{i}].content is required"),
            );
        };
        predictions.push(serde_json::json!({"embeddings": {
            "values": vector(text),
            "statistics": {"token_count": text.split_whitespace().count(), "truncated": false},
        }}));
    }
    json(
        StatusCode::OK,
        serde_json::json!({"predictions": predictions})
            .to_string()
            .into_bytes(),
    )
}
