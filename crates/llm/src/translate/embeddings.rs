//! OpenAI embeddings clients on providers whose embeddings API differs: Gemini's
//! `batchEmbedContents`, and Amazon Titan Text Embeddings V2 and Cohere Embed through
//! Bedrock's `InvokeModel`. Requests become provider bodies; provider answers become the
//! OpenAI `{"object": "list", "data": [...], "model", "usage"}` shape.
//!
//! `encoding_format: "base64"` is honoured on the way back: the official OpenAI SDKs ask
//! for it by default and decode each embedding as little-endian `f32`s, so returning JSON
//! numbers instead would break them. `apply_encoding_format` does the same for
//! OpenAI-compatible providers that ignore the field (Ollama answers with numbers).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use crate::error::LlmError;
use crate::tokens::estimate_text;

/// The dimensions Titan Text Embeddings V2 can produce.
const TITAN_DIMENSIONS: [u64; 3] = [256, 512, 1024];

/// Cohere Embed takes at most this many texts in one call.
const COHERE_MAX_TEXTS: usize = 96;

/// Cohere needs to know what the vectors are for. OpenAI has no such field; documents are
/// the common case (what gets stored and searched), and a client may say otherwise with
/// an extra `input_type` field.
const COHERE_DEFAULT_INPUT_TYPE: &str = "search_document";

const COHERE_INPUT_TYPES: [&str; 4] = [
    "search_document",
    "search_query",
    "classification",
    "clustering",
];

/// An OpenAI embeddings request as a Gemini `batchEmbedContents` body for `model`.
pub fn openai_to_gemini(request: &Value, model: &str) -> Result<Value, LlmError> {
    let texts = input_texts(request, "Gemini")?;
    let dimensions = dimensions(request)?;
    encoding(request)?;
    let model = format!("models/{}", bare_gemini_model(model));
    let requests = texts
        .iter()
        .map(|text| {
            let mut one = Map::new();
            one.insert("model".into(), Value::from(model.as_str()));
            one.insert("content".into(), json!({ "parts": [{ "text": text }] }));
            if let Some(dimensions) = dimensions {
                one.insert("outputDimensionality".into(), Value::from(dimensions));
            }
            Value::Object(one)
        })
        .collect::<Vec<_>>();
    Ok(json!({ "requests": requests }))
}

/// A Gemini `batchEmbedContents` answer (`{"embeddings": [{"values": [...]}]}`) to the
/// OpenAI `request`, in the OpenAI shape.
pub fn gemini_to_openai(request: &Value, response: &Value, model: &str) -> Value {
    let vectors = response
        .get("embeddings")
        .and_then(Value::as_array)
        .map(|all| all.iter().map(|e| e.get("values")).collect::<Vec<_>>())
        .unwrap_or_default();
    // Gemini reports no usage for embeddings; the estimate keeps token budgets and
    // metrics moving instead of reporting a free call.
    let prompt_tokens = estimated_input_tokens(request);
    openai_list(request, &vectors, model, prompt_tokens)
}

/// The `batchEmbedContents` path for `model`: under `prefix` (the API version, `/v1beta`
/// when none is configured). A model named with its `models/` prefix is not doubled, and
/// the name is percent-encoded so a client cannot reach another resource through it.
pub fn gemini_path(model: &str, prefix: Option<&str>) -> String {
    let prefix = prefix.unwrap_or("/v1beta").trim_end_matches('/');
    let model = crate::aws::sigv4::encode_path_segment(bare_gemini_model(model));
    format!("{prefix}/models/{model}:batchEmbedContents")
}

fn bare_gemini_model(model: &str) -> &str {
    model.strip_prefix("models/").unwrap_or(model)
}

/// An OpenAI embeddings request as a Vertex AI `:predict` body for Google's text embedding
/// models: one instance per input, the OpenAI `dimensions` as `outputDimensionality`.
pub fn openai_to_vertex(request: &Value) -> Result<Value, LlmError> {
    let texts = input_texts(request, "Vertex AI")?;
    let dimensions = dimensions(request)?;
    encoding(request)?;
    let instances: Vec<Value> = texts
        .into_iter()
        .map(|text| serde_json::json!({ "content": text }))
        .collect();
    let mut body = serde_json::json!({ "instances": instances });
    if let Some(d) = dimensions {
        body["parameters"] = serde_json::json!({ "outputDimensionality": d });
    }
    Ok(body)
}

/// A Vertex AI `:predict` embeddings answer in the OpenAI shape; usage is the sum of the
/// token counts Vertex reports per instance.
pub fn vertex_to_openai(request: &Value, response: &Value, model: &str) -> Value {
    let predictions = response
        .get("predictions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let vectors: Vec<Option<&Value>> = predictions
        .iter()
        .map(|p| p.get("embeddings").and_then(|e| e.get("values")))
        .collect();
    let prompt_tokens = predictions
        .iter()
        .filter_map(|p| p["embeddings"]["statistics"]["token_count"].as_f64())
        .map(|n| n as u64)
        .fold(0, u64::saturating_add);
    openai_list(request, &vectors, model, prompt_tokens)
}

/// Which Bedrock embeddings family a model id belongs to. Ids may carry a cross-region
/// prefix (`us.cohere.embed-v4:0`) or be ARNs, so the family is found inside the id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BedrockEmbedder {
    /// `amazon.titan-embed-text-v2:0`: one text per call.
    Titan,
    /// `cohere.embed-*`: up to 96 texts per call.
    Cohere,
}

impl BedrockEmbedder {
    pub fn for_model(model_id: &str) -> Option<Self> {
        if model_id.contains("amazon.titan-embed-text") {
            Some(Self::Titan)
        } else if model_id.contains("cohere.embed") {
            Some(Self::Cohere)
        } else {
            None
        }
    }
}

/// The `InvokeModel` path for a Bedrock model id (encoded: ids contain `:`, ARNs `/`).
pub fn bedrock_invoke_path(model_id: &str) -> String {
    format!(
        "/model/{}/invoke",
        crate::aws::sigv4::encode_path_segment(model_id)
    )
}

/// An OpenAI embeddings request as Titan Text Embeddings V2 `InvokeModel` bodies, one per
/// input in input order: Titan embeds a single text per call.
pub fn openai_to_titan(request: &Value) -> Result<Vec<Value>, LlmError> {
    let texts = input_texts(request, "Titan")?;
    let dimensions = dimensions(request)?;
    if let Some(d) = dimensions
        && !TITAN_DIMENSIONS.contains(&d)
    {
        return Err(LlmError::InvalidField {
            field: "dimensions",
            why: format!("Titan Text Embeddings V2 produces 256, 512 or 1024 dimensions, not {d}"),
        });
    }
    encoding(request)?;
    Ok(texts
        .iter()
        .map(|text| {
            let mut body = Map::new();
            body.insert("inputText".into(), Value::from(*text));
            if let Some(dimensions) = dimensions {
                body.insert("dimensions".into(), Value::from(dimensions));
            }
            // OpenAI's vectors are unit length; Titan's default agrees, but saying so keeps
            // it true if the default ever changes.
            body.insert("normalize".into(), Value::Bool(true));
            Value::Object(body)
        })
        .collect())
}

/// Titan answers (`{"embedding": [...], "inputTextTokenCount": n}`, one per body of
/// `openai_to_titan`, in the same order) to the OpenAI `request`, in the OpenAI shape.
pub fn titan_to_openai(request: &Value, responses: &[Value], model: &str) -> Value {
    let vectors = responses
        .iter()
        .map(|r| {
            r.get("embedding")
                .or_else(|| r.get("embeddingsByType").and_then(|t| t.get("float")))
        })
        .collect::<Vec<_>>();
    let prompt_tokens = responses
        .iter()
        .filter_map(|r| r.get("inputTextTokenCount").and_then(Value::as_u64))
        .fold(0, u64::saturating_add);
    openai_list(request, &vectors, model, prompt_tokens)
}

/// An OpenAI embeddings request as a Cohere Embed `InvokeModel` body. `dimensions` becomes
/// `output_dimension`, which only Embed v4 accepts: an older model rejects the request
/// rather than answering with vectors of a size the client did not ask for.
pub fn openai_to_cohere(request: &Value) -> Result<Value, LlmError> {
    let texts = input_texts(request, "Cohere")?;
    if texts.len() > COHERE_MAX_TEXTS {
        return Err(LlmError::InvalidField {
            field: "input",
            why: format!(
                "Cohere Embed takes at most {COHERE_MAX_TEXTS} texts per request, not {}",
                texts.len()
            ),
        });
    }
    let dimensions = dimensions(request)?;
    encoding(request)?;
    let input_type = match request.get("input_type") {
        None | Some(Value::Null) => COHERE_DEFAULT_INPUT_TYPE,
        Some(Value::String(t)) if COHERE_INPUT_TYPES.contains(&t.as_str()) => t.as_str(),
        Some(_) => {
            return Err(LlmError::InvalidField {
                field: "input_type",
                why: format!("must be one of {}", COHERE_INPUT_TYPES.join(", ")),
            });
        }
    };
    let mut body = Map::new();
    body.insert("texts".into(), json!(texts));
    body.insert("input_type".into(), Value::from(input_type));
    if let Some(dimensions) = dimensions {
        body.insert("output_dimension".into(), Value::from(dimensions));
    }
    Ok(Value::Object(body))
}

/// A Cohere Embed answer to the OpenAI `request`, in the OpenAI shape. Cohere answers
/// with `"embeddings": [[...]]` (`embeddings_floats`) or, when embedding types were named
/// (Embed v4 may do so by default), `"embeddings": {"float": [[...]]}`. Bedrock reports
/// the input tokens in a response header, passed as `prompt_tokens`; without it the
/// body's billed units are used, then an estimate.
pub fn cohere_to_openai(
    request: &Value,
    response: &Value,
    model: &str,
    prompt_tokens: Option<u64>,
) -> Value {
    let embeddings = response.get("embeddings");
    let vectors = embeddings
        .and_then(|e| e.as_array().or_else(|| e.get("float")?.as_array()))
        .map(|all| all.iter().map(Some).collect::<Vec<_>>())
        .unwrap_or_default();
    let prompt_tokens = prompt_tokens
        .or_else(|| {
            response
                .get("meta")
                .and_then(|m| m.get("billed_units"))
                .and_then(|b| b.get("input_tokens"))
                .and_then(Value::as_u64)
        })
        .unwrap_or_else(|| estimated_input_tokens(request));
    openai_list(request, &vectors, model, prompt_tokens)
}

/// An OpenAI-shaped embeddings response with each embedding base64-encoded when the
/// request asked for `encoding_format: "base64"` and the provider sent numbers anyway.
/// Embeddings that are already strings are left as they are.
pub fn apply_encoding_format(request: &Value, mut response: Value) -> Value {
    if !wants_base64(request) {
        return response;
    }
    let data = response.get_mut("data").and_then(Value::as_array_mut);
    for item in data.into_iter().flatten() {
        if let Some(embedding) = item.get_mut("embedding")
            && let Some(values) = embedding.as_array()
        {
            *embedding = Value::String(base64_f32(values));
        }
    }
    response
}

/// The texts an OpenAI embeddings request asks for. Token-id inputs are refused: none of
/// these providers uses OpenAI's vocabulary, so the ids would mean other words.
fn input_texts<'a>(request: &'a Value, provider: &str) -> Result<Vec<&'a str>, LlmError> {
    if !request.is_object() {
        return Err(LlmError::NotAnObject);
    }
    let token_ids = || LlmError::InvalidField {
        field: "input",
        why: format!("{provider} embeds text, not token ids; send the input as strings"),
    };
    match request.get("input") {
        None | Some(Value::Null) => Err(LlmError::MissingField {
            field: "input",
            why: "an embeddings request needs the text to embed",
        }),
        Some(Value::String(text)) => Ok(vec![text.as_str()]),
        Some(Value::Array(items)) if items.is_empty() => Err(LlmError::InvalidField {
            field: "input",
            why: "must hold at least one text".into(),
        }),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(text) => Ok(text.as_str()),
                Value::Number(_) | Value::Array(_) => Err(token_ids()),
                _ => Err(LlmError::InvalidField {
                    field: "input",
                    why: "must be a string or an array of strings".into(),
                }),
            })
            .collect(),
        Some(_) => Err(LlmError::InvalidField {
            field: "input",
            why: "must be a string or an array of strings".into(),
        }),
    }
}

fn dimensions(request: &Value) -> Result<Option<u64>, LlmError> {
    match request.get("dimensions") {
        None | Some(Value::Null) => Ok(None),
        Some(value) => match value.as_u64() {
            Some(d) if d > 0 => Ok(Some(d)),
            _ => Err(LlmError::InvalidField {
                field: "dimensions",
                why: "must be a positive integer".into(),
            }),
        },
    }
}

/// Checks `encoding_format`: the answer is produced in the requested one later.
fn encoding(request: &Value) -> Result<(), LlmError> {
    match request.get("encoding_format") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(f)) if f == "float" || f == "base64" => Ok(()),
        Some(_) => Err(LlmError::InvalidField {
            field: "encoding_format",
            why: "must be \"float\" or \"base64\"".into(),
        }),
    }
}

fn wants_base64(request: &Value) -> bool {
    request.get("encoding_format").and_then(Value::as_str) == Some("base64")
}

fn estimated_input_tokens(request: &Value) -> u64 {
    match request.get("input") {
        Some(Value::String(text)) => estimate_text(text),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(estimate_text)
            .fold(0, u64::saturating_add),
        _ => 0,
    }
}

/// The OpenAI list object. A missing vector becomes an empty one so indices still line up
/// with the inputs.
fn openai_list(
    request: &Value,
    vectors: &[Option<&Value>],
    model: &str,
    prompt_tokens: u64,
) -> Value {
    let base64 = wants_base64(request);
    let empty = Vec::new();
    let data = vectors
        .iter()
        .enumerate()
        .map(|(index, vector)| {
            let values = vector.and_then(Value::as_array).unwrap_or(&empty);
            let embedding = if base64 {
                Value::String(base64_f32(values))
            } else {
                Value::Array(values.clone())
            };
            json!({ "object": "embedding", "index": index, "embedding": embedding })
        })
        .collect::<Vec<_>>();
    json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": { "prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens },
    })
}

/// What OpenAI sends for `encoding_format: "base64"`: the vector as little-endian `f32`s,
/// base64-encoded. A non-number (never sent by these providers) becomes 0.
fn base64_f32(values: &[Value]) -> String {
    let mut bytes = Vec::with_capacity(values.len() * 4);
    for value in values {
        // Narrowing to f32 is the point: that is the precision OpenAI's format carries.
        let float = value.as_f64().unwrap_or(0.0) as f32;
        bytes.extend_from_slice(&float.to_le_bytes());
    }
    STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests;
