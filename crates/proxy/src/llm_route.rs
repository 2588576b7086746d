//! LLM routes to OpenAI-compatible providers: the request is checked and given the
//! backend's model and credential, the answer flows back untouched, and token usage is
//! read on the way (from the body, or from the stream as it passes).

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use config::ir::backend::{AiBackend, BackendCredential};
use http::header::{self, HeaderValue};
use http::{Method, Response, StatusCode};
use llm::sse::SseDecoder;
use llm::{ClientApi, LlmError, Usage, openai};
use serde_json::Value;

use crate::body::{BoxBody, BoxError, CollectError, boxed, collect_limited, full};
use crate::error::ProxyError;
use crate::forward::{self, Outbound};
use crate::gen_ai_metrics::GenAiLabels;
use crate::metrics::Metrics;
use crate::observed::{Observed, Observer};

/// Largest request body an LLM route reads (prompts with images can be large).
const REQUEST_LIMIT: usize = 32 * 1024 * 1024;
/// Largest non-streamed response or provider error read to find usage or a message.
const RESPONSE_LIMIT: usize = 64 * 1024 * 1024;

/// Serves one request to an OpenAI-compatible provider. `out` already names the provider's
/// connection; its credential decides whether the client's own reaches the provider.
pub async fn serve(
    ai: &AiBackend,
    out: Outbound<'_>,
    mut parts: http::request::Parts,
    body: BoxBody,
    metrics: &Arc<Metrics>,
) -> Result<Response<BoxBody>, ProxyError> {
    let api = ClientApi::from_path(parts.uri.path());
    if api == ClientApi::ChatCompletions && parts.method != Method::POST {
        let e = LlmError::MethodNotAllowed {
            route: "/v1/chat/completions",
            method: parts.method.to_string(),
        };
        let mut response = llm_error(&e);
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return Ok(response);
    }
    if api == ClientApi::Messages {
        let message = "this backend speaks the OpenAI API; Anthropic Messages clients are not translated by this build yet (use /v1/chat/completions)";
        return Ok(json_response(
            StatusCode::NOT_IMPLEMENTED,
            &llm::error::openai_error(message, "not_implemented", None, None),
        ));
    }
    if !matches!(out.credential, Some(BackendCredential::Passthrough)) {
        // The client's key is for the gateway, never for the provider.
        for name in ["authorization", "x-api-key", "api-key"] {
            parts.headers.remove(name);
        }
    }
    let suffix = match api {
        ClientApi::ChatCompletions => "/chat/completions",
        ClientApi::Embeddings => "/embeddings",
        ClientApi::Models => "/models",
        ClientApi::Messages | ClientApi::Passthrough => {
            return forward_as_is(&out, parts, body).await;
        }
    };
    set_path(&mut parts, &ai.provider_path(suffix))?;
    if api != ClientApi::ChatCompletions {
        return forward_as_is(&out, parts, body).await;
    }
    chat(ai, &out, parts, body, metrics).await
}

async fn chat(
    ai: &AiBackend,
    out: &Outbound<'_>,
    mut parts: http::request::Parts,
    body: BoxBody,
    metrics: &Arc<Metrics>,
) -> Result<Response<BoxBody>, ProxyError> {
    let start = Instant::now();
    let bytes = match collect_limited(body, REQUEST_LIMIT).await {
        Ok(bytes) => bytes,
        Err(CollectError::TooLarge(limit)) => return Ok(llm_error(&LlmError::TooLarge { limit })),
        Err(e) => return Err(ProxyError::InvalidRequest(e.to_string())),
    };
    let prepared = match openai::prepare_chat(bytes, ai.model.as_deref()) {
        Ok(p) => p,
        Err(e) => return Ok(llm_error(&e)),
    };
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(prepared.body.len()),
    );
    forward::prepare(out, &mut parts)?;
    let response = forward::send(out, parts, full(prepared.body)).await?;
    let labels = GenAiLabels {
        operation: "chat",
        provider: ai.provider.name(),
        request_model: prepared.model.clone(),
        response_model: prepared.model.clone(),
    };
    let (parts, body) = response.into_parts();
    if !parts.status.is_success() {
        metrics.gen_ai.record(&labels, None, start.elapsed());
        return Ok(provider_error(parts, body, ai, &prepared.model, &out.backend_name).await);
    }
    if prepared.stream {
        let observer = StreamUsage {
            decoder: SseDecoder::default(),
            labels,
            usage: None,
            start,
            first: false,
            metrics: metrics.clone(),
        };
        return Ok(Response::from_parts(
            parts,
            boxed(Observed::new(body, observer)),
        ));
    }
    let bytes =
        collect_limited(body, RESPONSE_LIMIT)
            .await
            .map_err(|e| ProxyError::UpstreamProtocol {
                backend: out.backend_name.to_string(),
                reason: e.to_string(),
            })?;
    let (model, usage) = openai::response_facts(&bytes);
    let labels = GenAiLabels {
        response_model: model.unwrap_or(labels.response_model.clone()),
        ..labels
    };
    metrics.gen_ai.record(&labels, usage, start.elapsed());
    Ok(Response::from_parts(parts, full(bytes)))
}

async fn forward_as_is(
    out: &Outbound<'_>,
    mut parts: http::request::Parts,
    body: BoxBody,
) -> Result<Response<BoxBody>, ProxyError> {
    forward::prepare(out, &mut parts)?;
    forward::send(out, parts, body).await
}

fn set_path(parts: &mut http::request::Parts, path: &str) -> Result<(), ProxyError> {
    let path_and_query = match parts.uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    parts.uri = path_and_query
        .parse()
        .map_err(|_| ProxyError::Internal(format!("'{path}' is not a valid provider path")))?;
    Ok(())
}

/// A provider's error, in the OpenAI shape with the provider's message kept. A 404 also
/// says which model this backend sent, since that is what usually needs fixing.
async fn provider_error(
    mut parts: http::response::Parts,
    body: BoxBody,
    ai: &AiBackend,
    model: &str,
    backend: &str,
) -> Response<BoxBody> {
    let bytes = collect_limited(body, RESPONSE_LIMIT)
        .await
        .unwrap_or_default();
    let mut value = match serde_json::from_slice::<Value>(&bytes) {
        Ok(v) if v.get("error").is_some() => v,
        _ => {
            let text = String::from_utf8_lossy(&bytes);
            let message = format!("provider answered {}: {}", parts.status, text.trim());
            llm::error::openai_error(&message, "upstream_error", None, None)
        }
    };
    if parts.status == StatusCode::NOT_FOUND
        && let Some(message) = value.pointer_mut("/error/message")
    {
        let pinned = match &ai.model {
            Some(m) => format!("the backend pins model '{m}' (spec.ai.provider.openai.model)"),
            None => "the backend pins no model, so the client's model was sent".to_string(),
        };
        let original = message.as_str().unwrap_or_default().to_string();
        *message = Value::String(format!(
            "{original} (backend {backend} sent model '{model}'; {pinned})"
        ));
    }
    let body = value.to_string();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::TRANSFER_ENCODING);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, full(body))
}

fn llm_error(e: &LlmError) -> Response<BoxBody> {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    json_response(status, &e.openai_body())
}

fn json_response(status: StatusCode, value: &Value) -> Response<BoxBody> {
    let mut response = Response::new(full(value.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Reads usage from a provider's event stream as it passes through untouched. If the
/// provider breaks the stream, the client gets an error event in the OpenAI format and a
/// clean end, never a silent cut.
struct StreamUsage {
    decoder: SseDecoder,
    labels: GenAiLabels,
    usage: Option<Usage>,
    start: Instant,
    first: bool,
    metrics: Arc<Metrics>,
}

impl Observer for StreamUsage {
    const MAY_APPEND: bool = true;

    fn on_data(&mut self, data: &Bytes) {
        if !self.first {
            self.first = true;
            self.metrics
                .gen_ai
                .first_token(&self.labels, self.start.elapsed());
        }
        for event in self.decoder.feed(data) {
            let (model, usage) = openai::chunk_facts(&event.data);
            if let Some(model) = model {
                self.labels.response_model = model;
            }
            if usage.is_some() {
                self.usage = usage;
            }
        }
    }

    fn on_end(&mut self) {
        self.metrics
            .gen_ai
            .record(&self.labels, self.usage, self.start.elapsed());
    }

    fn on_error(&mut self, error: &BoxError) -> Option<Bytes> {
        self.on_end();
        let event = llm::error::openai_error(
            &format!("the provider stream broke off: {error}"),
            "upstream_error",
            None,
            None,
        );
        Some(Bytes::from(format!("data: {event}\n\n")))
    }
}
