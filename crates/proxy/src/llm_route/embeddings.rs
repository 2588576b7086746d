//! OpenAI embeddings requests on providers whose embeddings API differs: Gemini
//! (`batchEmbedContents`), Vertex AI (`:predict` on Google's embedding models) and Bedrock (Titan text embeddings, one call per input; Cohere
//! embed, one call). OpenAI-compatible providers are forwarded as they are, elsewhere.

use std::sync::Arc;
use std::time::Instant;

use config::ir::backend::{AiBackend, AiProvider, BackendCredential};
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use llm::LlmError;
use llm::translate::embeddings::{self, BedrockEmbedder};
use serde_json::Value;

use crate::body::{BoxBody, collect_limited};
use crate::error::ProxyError;
use crate::forward::Outbound;
use crate::llm_route::dialect::Dialect;
use crate::llm_route::wire::Wire;
use crate::llm_route::{RESPONSE_LIMIT, json_response, read_request, send_json, set_path, settle};
use crate::metrics::Metrics;
use crate::snapshot::Snapshot;

/// Where one request goes and how it is authorised.
pub(crate) struct Provider<'a> {
    pub snapshot: &'a Snapshot,
    pub ai: &'a AiBackend,
    pub out: &'a Outbound<'a>,
    pub credential: Option<&'a BackendCredential>,
}

pub(crate) async fn serve(
    provider: Provider<'_>,
    parts: http::request::Parts,
    body: BoxBody,
    metrics: &Arc<Metrics>,
) -> Result<Response<BoxBody>, ProxyError> {
    let start = Instant::now();
    let request = match read_request(body, Dialect::OpenAi, None, |bytes| {
        serde_json::from_slice::<Value>(&bytes).map_err(|e| LlmError::InvalidJson(e.to_string()))
    })
    .await?
    {
        Ok(request) => request,
        Err(answer) => return Ok(answer),
    };
    let ai = provider.ai;
    let Some(model) = ai
        .model
        .clone()
        .or_else(|| request["model"].as_str().map(str::to_string))
    else {
        return Ok(invalid(&LlmError::MissingField {
            field: "model",
            why: "this backend pins no model, so the request must name one",
        }));
    };
    let translated = match ai.provider {
        AiProvider::Gemini => gemini(&provider, parts, &request, &model).await?,
        AiProvider::VertexAi => vertex(&provider, parts, &request, &model).await?,
        AiProvider::Bedrock => bedrock(&provider, parts, &request, &model).await?,
        other => {
            let message = format!(
                "embeddings are not available for {} backends; route them to an OpenAI-compatible, Gemini, Vertex AI or Bedrock backend",
                other.name()
            );
            return Ok(json_response(
                StatusCode::NOT_IMPLEMENTED,
                &Dialect::OpenAi.message(StatusCode::NOT_IMPLEMENTED, "not_implemented", &message),
            ));
        }
    };
    let (answer, labels, facts) = match translated {
        Ok(done) => done,
        Err(answer) => return Ok(answer),
    };
    let usage = answer["usage"]["prompt_tokens"]
        .as_u64()
        .map(|input| llm::Usage {
            input,
            ..Default::default()
        });
    metrics.gen_ai.record(&labels, usage, start.elapsed());
    settle(&facts, &labels, usage);
    let mut response = json_response(StatusCode::OK, &answer);
    response.extensions_mut().insert(facts);
    Ok(response)
}

type Translated = Result<
    (
        Value,
        crate::gen_ai_metrics::GenAiLabels,
        crate::gen_ai_metrics::SharedGenAiFacts,
    ),
    Response<BoxBody>,
>;

fn invalid(error: &LlmError) -> Response<BoxBody> {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST);
    json_response(status, &error.openai_body())
}

async fn gemini(
    provider: &Provider<'_>,
    parts: http::request::Parts,
    request: &Value,
    model: &str,
) -> Result<Translated, ProxyError> {
    let body = match embeddings::openai_to_gemini(request, model) {
        Ok(body) => body,
        Err(e) => return Ok(Err(invalid(&e))),
    };
    let path = embeddings::gemini_path(model, provider.ai.path_prefix.as_deref());
    let (answer, labels, facts) =
        match call(provider, parts, &path, &body, model, Wire::Gemini).await? {
            Ok(done) => done,
            Err(answer) => return Ok(Err(answer)),
        };
    Ok(Ok((
        embeddings::gemini_to_openai(request, &answer, model),
        labels,
        facts,
    )))
}

async fn vertex(
    provider: &Provider<'_>,
    parts: http::request::Parts,
    request: &Value,
    model: &str,
) -> Result<Translated, ProxyError> {
    let Some(settings) = &provider.ai.vertex else {
        return Err(ProxyError::Internal(
            "a Vertex AI backend without its project settings".to_string(),
        ));
    };
    let body = match embeddings::openai_to_vertex(request) {
        Ok(body) => body,
        Err(e) => return Ok(Err(invalid(&e))),
    };
    let path = llm::gcp::vertex_predict_path(&settings.project, &settings.region, model);
    let (answer, labels, facts) =
        match call(provider, parts, &path, &body, model, Wire::Gemini).await? {
            Ok(done) => done,
            Err(answer) => return Ok(Err(answer)),
        };
    Ok(Ok((
        embeddings::vertex_to_openai(request, &answer, model),
        labels,
        facts,
    )))
}

async fn bedrock(
    provider: &Provider<'_>,
    parts: http::request::Parts,
    request: &Value,
    model: &str,
) -> Result<Translated, ProxyError> {
    let path = embeddings::bedrock_invoke_path(model);
    match BedrockEmbedder::for_model(model) {
        Some(BedrockEmbedder::Titan) => {
            let bodies = match embeddings::openai_to_titan(request) {
                Ok(bodies) => bodies,
                Err(e) => return Ok(Err(invalid(&e))),
            };
            // Titan embeds one text per call.
            let mut answers = Vec::with_capacity(bodies.len());
            let mut last = None;
            for body in &bodies {
                match call(provider, parts.clone(), &path, body, model, Wire::Converse).await? {
                    Ok((answer, labels, facts)) => {
                        answers.push(answer);
                        last = Some((labels, facts));
                    }
                    Err(answer) => return Ok(Err(answer)),
                }
            }
            let Some((labels, facts)) = last else {
                return Ok(Err(invalid(&LlmError::MissingField {
                    field: "input",
                    why: "there is nothing to embed",
                })));
            };
            Ok(Ok((
                embeddings::titan_to_openai(request, &answers, model),
                labels,
                facts,
            )))
        }
        Some(BedrockEmbedder::Cohere) => {
            let body = match embeddings::openai_to_cohere(request) {
                Ok(body) => body,
                Err(e) => return Ok(Err(invalid(&e))),
            };
            let (answer, labels, facts) =
                match call(provider, parts, &path, &body, model, Wire::Converse).await? {
                    Ok(done) => done,
                    Err(answer) => return Ok(Err(answer)),
                };
            Ok(Ok((
                embeddings::cohere_to_openai(request, &answer, model, None),
                labels,
                facts,
            )))
        }
        None => Ok(Err(invalid(&LlmError::InvalidField {
            field: "model",
            why: format!(
                "'{model}' is not a Bedrock embedding model this gateway translates (amazon.titan-embed-text-*, cohere.embed-*)"
            ),
        }))),
    }
}

/// One provider call: the answer as JSON, or the provider's error in the OpenAI shape.
async fn call(
    provider: &Provider<'_>,
    mut parts: http::request::Parts,
    path: &str,
    body: &Value,
    model: &str,
    wire: Wire,
) -> Result<Translated, ProxyError> {
    set_path(&mut parts, path)?;
    let body = super::json_bytes(body);
    let (mut head, answer, mut labels, facts) = send_json(
        provider.snapshot,
        provider.ai,
        provider.out,
        provider.credential,
        parts,
        body,
        model,
    )
    .await?;
    labels.operation = "embeddings";
    let bytes = collect_limited(answer, RESPONSE_LIMIT).await.map_err(|e| {
        ProxyError::UpstreamProtocol {
            backend: provider.out.backend_name.to_string(),
            reason: e.to_string(),
        }
    })?;
    let value = serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null);
    if head.status.is_success() {
        return Ok(Ok((value, labels, facts)));
    }
    let error_type = head
        .headers
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok());
    let error = wire
        .error_to_openai(&value, head.status.as_u16(), error_type)
        .unwrap_or_else(|| {
            Dialect::OpenAi.message(
                head.status,
                "api_error",
                &format!(
                    "provider answered {}: {}",
                    head.status,
                    String::from_utf8_lossy(&bytes).trim()
                ),
            )
        });
    head.headers.remove(header::CONTENT_LENGTH);
    head.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(Err(Response::from_parts(
        head,
        crate::body::full(error.to_string()),
    )))
}
