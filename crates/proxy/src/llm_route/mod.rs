//! LLM routes to providers that speak the client's format natively (OpenAI-compatible and
//! Anthropic): the request is checked and given the backend's model and credential, the
//! answer flows back untouched, and token usage is read on the way (from the body, or from
//! the stream as it passes).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use config::ir::backend::{AiBackend, AiProvider, BackendCredential};
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Response, StatusCode};
use llm::policy::RequestPolicy;
use llm::translate::chain::{AnthropicPassthrough, ChatPassthrough};
use llm::translate::guarded::Guarded;
use llm::{ClientApi, LlmError, Usage};
use serde_json::Value;

use crate::body::{BoxBody, CollectError, boxed, collect_limited, full};
use crate::error::{GatewayAnswer, ProxyError};
use crate::forward::{self, Outbound};
use crate::gen_ai_metrics::{GenAiFacts, GenAiLabels, SharedGenAiFacts};
use crate::metrics::Metrics;
use crate::observed::Observed;
use crate::snapshot::Snapshot;

pub(crate) mod budget;
pub mod cloud_auth;
mod count_tokens;
mod dialect;
mod embeddings;
pub(crate) mod failover;
mod models;
mod reemit;
mod stream_accounting;
mod translated;
mod wire;
use dialect::Dialect;

/// Largest request body an LLM route reads (prompts with images can be large).
pub(crate) const REQUEST_LIMIT: usize = 32 * 1024 * 1024;
/// Largest non-streamed response or provider error read to find usage or a message.
pub(crate) const RESPONSE_LIMIT: usize = 64 * 1024 * 1024;

/// Serves one request to a provider. `api` is the one the client speaks (`client_api`);
/// `out` names the provider's connection, and its credential decides whether the client's
/// own reaches the provider.
pub async fn serve(
    snapshot: &Snapshot,
    ai: &AiBackend,
    policy: Option<&RequestPolicy>,
    api: ClientApi,
    mut out: Outbound<'_>,
    mut parts: http::request::Parts,
    body: BoxBody,
) -> Result<Response<BoxBody>, ProxyError> {
    let metrics = &snapshot.metrics;
    let client = Dialect::of_client(api);
    let chat_api = matches!(api, ClientApi::ChatCompletions | ClientApi::Messages);
    if chat_api && parts.method != Method::POST {
        let route = if client == Dialect::Anthropic {
            "/v1/messages"
        } else {
            "/v1/chat/completions"
        };
        let e = LlmError::MethodNotAllowed {
            route,
            method: parts.method.to_string(),
        };
        let mut response = json_response(StatusCode::METHOD_NOT_ALLOWED, &client.error_body(&e));
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return Ok(response);
    }
    if ai.provider != AiProvider::Anthropic
        && count_tokens::is_count_tokens(&parts.method, parts.uri.path())
    {
        return count_tokens::answer(body).await;
    }
    let deferred = apply_credential(&mut out, &mut parts, ai);
    let native = match client {
        Dialect::OpenAi => matches!(ai.provider, AiProvider::OpenAi | AiProvider::AzureOpenAi),
        Dialect::Anthropic => ai.provider == AiProvider::Anthropic,
    };
    if chat_api && !native {
        return translated::chat(
            snapshot, ai, client, policy, &out, deferred, parts, body, metrics,
        )
        .await;
    }
    if api == ClientApi::Models
        && let Some(list) = models::pinned_list([ai], policy)
    {
        return Ok(list);
    }
    if api == ClientApi::Embeddings
        && matches!(
            ai.provider,
            AiProvider::Gemini | AiProvider::VertexAi | AiProvider::Bedrock
        )
    {
        let provider = embeddings::Provider {
            snapshot,
            ai,
            out: &out,
            credential: deferred,
        };
        return embeddings::serve(provider, parts, body, metrics).await;
    }
    let openai_compatible = matches!(ai.provider, AiProvider::OpenAi | AiProvider::AzureOpenAi);
    let suffix = match api {
        ClientApi::ChatCompletions | ClientApi::Messages => client.chat_suffix(),
        ClientApi::Embeddings if openai_compatible => "/embeddings",
        ClientApi::Models if openai_compatible || ai.provider == AiProvider::Anthropic => "/models",
        ClientApi::Models => {
            let message = format!(
                "{} cannot list the models of a {} backend that pins none; set spec.ai.provider.*.model so the gateway can answer from configuration",
                parts.uri.path(),
                ai.provider.name()
            );
            return Ok(json_response(
                StatusCode::NOT_IMPLEMENTED,
                &client.message(StatusCode::NOT_IMPLEMENTED, "not_implemented", &message),
            ));
        }
        ClientApi::Embeddings => {
            let message = format!(
                "{} is not available for {} backends; route embeddings to an OpenAI-compatible, Gemini, Vertex AI or Bedrock backend",
                parts.uri.path(),
                ai.provider.name()
            );
            return Ok(json_response(
                StatusCode::NOT_IMPLEMENTED,
                &client.message(StatusCode::NOT_IMPLEMENTED, "not_implemented", &message),
            ));
        }
        ClientApi::Passthrough => {
            return forward_as_is(snapshot, ai, &out, deferred, parts, body).await;
        }
    };
    point_at(&mut parts, ai.provider_uri(suffix), || {
        ai.provider_path(suffix)
    })?;
    if !chat_api {
        return forward_as_is(snapshot, ai, &out, deferred, parts, body).await;
    }
    chat(
        snapshot, ai, client, policy, &out, deferred, parts, body, metrics,
    )
    .await
}

/// The API a client speaks, by its path (and the policy's `routes`, when set).
pub(crate) fn client_api(policy: Option<&RequestPolicy>, path: &str) -> ClientApi {
    policy.map_or_else(|| ClientApi::from_path(path), |p| p.client_api(path))
}

/// A gateway error on an LLM route (the backend unreachable, too slow, answering garbage),
/// in the shape of the client's API, so its SDK reads the message.
pub(crate) fn error_response(error: &ProxyError, api: ClientApi) -> Response<BoxBody> {
    let message = error.message();
    let body = match Dialect::of_client(api) {
        Dialect::OpenAi => llm::error::openai_error(&message, error.kind(), None, None),
        Dialect::Anthropic => llm::error::anthropic_error(
            llm::error::anthropic_type_for_status(error.status().as_u16()),
            &message,
        ),
    };
    error.response_with(body.to_string())
}

/// A policy's refusal on an LLM route (a 401, 403 or 429 the gateway answered itself), its
/// status and headers kept, its body in the shape of the client's API. A 429 is typed as
/// OpenAI types its request-rate limits.
pub(crate) fn refusal_response(
    response: Response<BoxBody>,
    answer: &GatewayAnswer,
    api: ClientApi,
) -> Response<BoxBody> {
    let (parts, _) = response.into_parts();
    let status = parts.status.as_u16();
    let body = match Dialect::of_client(api) {
        Dialect::OpenAi if status == 429 => llm::error::openai_error(
            &answer.message,
            "requests",
            None,
            Some("rate_limit_exceeded"),
        ),
        Dialect::OpenAi => llm::error::openai_error(&answer.message, answer.kind, None, None),
        Dialect::Anthropic => llm::error::anthropic_error(
            llm::error::anthropic_type_for_status(status),
            &answer.message,
        ),
    };
    Response::from_parts(parts, full(body.to_string()))
}

/// The client's key is for the gateway, never for the provider (unless `passthrough`);
/// the backend's key goes in the provider's own header. Credentials that depend on the
/// final request (AWS signatures, Google tokens) are returned to be added just before
/// sending.
fn apply_credential<'a>(
    out: &mut Outbound<'a>,
    parts: &mut http::request::Parts,
    ai: &AiBackend,
) -> Option<&'a BackendCredential> {
    let credential = out.credential.take();
    if matches!(credential, Some(BackendCredential::Passthrough)) {
        return None;
    }
    forward::remove_matching(&mut parts.headers, |name| {
        CLIENT_CREDENTIAL_HEADERS.contains(name)
    });
    if ai.provider == AiProvider::Anthropic && !parts.headers.contains_key(&ANTHROPIC_VERSION) {
        parts.headers.insert(
            ANTHROPIC_VERSION,
            HeaderValue::from_static(llm::anthropic::DEFAULT_VERSION),
        );
    }
    let secret = match credential {
        Some(BackendCredential::Authorization(secret)) => secret,
        deferred => return deferred,
    };
    let key = secret.expose().trim_start_matches("Bearer ");
    let (name, value) = match ai.provider {
        AiProvider::OpenAi | AiProvider::VertexAi | AiProvider::Bedrock => {
            ("authorization", format!("Bearer {key}"))
        }
        AiProvider::Anthropic => ("x-api-key", key.to_string()),
        AiProvider::AzureOpenAi => ("api-key", key.to_string()),
        AiProvider::Gemini => ("x-goog-api-key", key.to_string()),
    };
    if let Ok(mut value) = HeaderValue::from_str(&value) {
        value.set_sensitive(true);
        parts.headers.insert(name, value);
    }
    None
}

/// Headers a client may authenticate to the gateway with; none reaches a provider.
/// Header names, not strings, so a request does not parse them again.
const CLIENT_CREDENTIAL_HEADERS: [HeaderName; 7] = [
    header::AUTHORIZATION,
    HeaderName::from_static("x-api-key"),
    HeaderName::from_static("api-key"),
    HeaderName::from_static("x-goog-api-key"),
    HeaderName::from_static("x-amz-security-token"),
    HeaderName::from_static("x-amz-date"),
    HeaderName::from_static("x-amz-content-sha256"),
];

const ANTHROPIC_VERSION: HeaderName = HeaderName::from_static("anthropic-version");

#[allow(clippy::too_many_arguments)]
async fn chat(
    snapshot: &Snapshot,
    ai: &AiBackend,
    dialect: Dialect,
    policy: Option<&RequestPolicy>,
    out: &Outbound<'_>,
    credential: Option<&BackendCredential>,
    parts: http::request::Parts,
    body: BoxBody,
    metrics: &Arc<Metrics>,
) -> Result<Response<BoxBody>, ProxyError> {
    let start = Instant::now();
    let prepared = match read_request(body, dialect, policy, |bytes| {
        dialect.prepare(bytes, ai.model.as_deref())
    })
    .await?
    {
        Ok(prepared) => prepared,
        Err(answer) => return Ok(answer),
    };
    let reserved = match budget::reserve(&parts, dialect, &prepared.body, metrics).await {
        Ok(reserved) => reserved,
        Err(answer) => return Ok(answer),
    };
    // OpenAI streams report usage only when asked; the gateway asks for clients that did
    // not, and keeps the extra chunk from them. (Azure's older API versions refuse the
    // option, so Azure streams go as the client sent them.)
    let hide_usage_chunk = dialect == Dialect::OpenAi
        && ai.provider == AiProvider::OpenAi
        && prepared.stream
        && !prepared.usage_requested;
    let body = match hide_usage_chunk {
        true => match llm::openai::request_stream_usage(&prepared.body) {
            Ok(body) => body,
            Err(e) => return Ok(client_error(dialect, &e)),
        },
        false => prepared.body,
    };
    // A conversation Gemini answered before (a failover group mixing providers) carries
    // Gemini's thought signatures in its tool-call ids; they stay with Gemini. Looked for
    // only where some backend is Gemini's.
    let unsigned = (dialect == Dialect::OpenAi && snapshot.gemini_backends)
        .then(|| llm::gemini::ids_without_signatures(&body))
        .flatten();
    let body = unsigned.map_or(body, Bytes::from);
    let model = prepared.model.clone();
    let sent = send_json(snapshot, ai, out, credential, parts, body, &model).await;
    let (parts, body, labels, facts) = budget::after_send(sent, reserved)?;
    if !parts.status.is_success() {
        let failed = labels.failed(parts.status.as_u16().to_string());
        metrics.gen_ai.record(&failed, None, start.elapsed());
        budget::settle(&facts, Some(Usage::default()));
        return Ok(provider_error(parts, body, ai, dialect, &model, &out.backend_name).await);
    }
    if prepared.stream && !is_event_stream(&parts) {
        return Err(not_an_answer(&out.backend_name, "an event stream", &parts, body).await);
    }
    let guard = policy.and_then(RequestPolicy::response_guard);
    let watched = budget::stream_watch(&facts).is_some();
    if prepared.stream && (guard.is_some() || watched || hide_usage_chunk) {
        // A guarded (or budget-cut) stream is re-emitted event by event, so text can be
        // masked, or the stream ended, in flight, or a chunk the client did not ask for
        // kept back.
        let passthrough: Box<dyn llm::translate::EventTranslator> = match dialect {
            Dialect::OpenAi if hide_usage_chunk => {
                Box::new(ChatPassthrough::new(&model).hiding_usage_chunk())
            }
            Dialect::OpenAi => Box::new(ChatPassthrough::new(&model)),
            Dialect::Anthropic => Box::new(AnthropicPassthrough::new(&model)),
        };
        let translator = match guard {
            Some(guard) => Guarded::wrap(passthrough, guard, dialect.api()),
            None => passthrough,
        };
        let stream = reemit::StreamParts {
            frames: wire::FrameDecoder::sse(),
            translator,
            labels,
            start,
            metrics: metrics.clone(),
            facts,
        };
        return Ok(stream.respond(parts, body));
    }
    if prepared.stream {
        let observer = stream_accounting::StreamUsage::new(dialect, labels, start, metrics, facts);
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
    let wire = dialect.wire();
    if !llm::has_any_member(&bytes, wire.answer_members()) {
        return Err(not_an_answer_in(
            &out.backend_name,
            wire.answer_name(),
            &parts,
            &bytes,
        ));
    }
    let (model, usage) = dialect.response_facts(&bytes);
    let labels = GenAiLabels {
        response_model: model.unwrap_or(labels.response_model.clone()),
        ..labels
    };
    metrics.gen_ai.record(&labels, usage, start.elapsed());
    settle(&facts, &labels, usage);
    let Some(guard) = guard else {
        return Ok(Response::from_parts(parts, full(bytes)));
    };
    guarded_body(guard, dialect, parts, bytes)
}

/// Whether a streamed answer came as a stream: SSE, or AWS's event stream. An answer that
/// names no type is taken as one.
pub(crate) fn is_event_stream(parts: &http::response::Parts) -> bool {
    parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.contains("event-stream") || v.contains("eventstream"))
}

/// A 200 whose body is not the provider's answer (an intermediary's HTML page, another
/// API's JSON): a 502 naming what came instead. The body is read (bounded) to quote it.
pub(crate) async fn not_an_answer(
    backend: &str,
    expected: &str,
    parts: &http::response::Parts,
    body: BoxBody,
) -> ProxyError {
    let bytes = collect_limited(body, 64 * 1024).await.unwrap_or_default();
    not_an_answer_in(backend, expected, parts, &bytes)
}

/// `not_an_answer` for a body already read.
pub(crate) fn not_an_answer_in(
    backend: &str,
    expected: &str,
    parts: &http::response::Parts,
    bytes: &[u8],
) -> ProxyError {
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none");
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]);
    ProxyError::UpstreamProtocol {
        backend: backend.to_string(),
        reason: format!(
            "the provider answered {} with something that is not {expected} (content-type {content_type}): {}; is the backend's host/port/path the provider's API?",
            parts.status,
            text.trim()
        ),
    }
}

/// A complete answer checked by the response guard: masked, or refused.
pub(crate) fn guarded_body(
    guard: &llm::guard::PromptGuard,
    client: Dialect,
    mut parts: http::response::Parts,
    bytes: Bytes,
) -> Result<Response<BoxBody>, ProxyError> {
    let Ok(mut answer) = serde_json::from_slice::<Value>(&bytes) else {
        return Ok(Response::from_parts(parts, full(bytes)));
    };
    match guard.guard_response(client.api(), &mut answer) {
        Err(blocked) => Ok(translated::blocked_response(&blocked, client)),
        Ok(false) => Ok(Response::from_parts(parts, full(bytes))),
        Ok(true) => {
            parts.headers.remove(header::CONTENT_LENGTH);
            Ok(Response::from_parts(parts, full(json_bytes(&answer))))
        }
    }
}

/// Forwards a request the gateway does not interpret (a provider's own API, embeddings,
/// models), adding the provider's credential. A signed credential needs the whole body.
async fn forward_as_is(
    snapshot: &Snapshot,
    ai: &AiBackend,
    out: &Outbound<'_>,
    credential: Option<&BackendCredential>,
    mut parts: http::request::Parts,
    body: BoxBody,
) -> Result<Response<BoxBody>, ProxyError> {
    forward::prepare(out, &mut parts)?;
    if credential.is_none() {
        return forward::send(out, parts, body).await;
    }
    let bytes = collect_limited(body, REQUEST_LIMIT)
        .await
        .map_err(|e| ProxyError::InvalidRequest(e.to_string()))?;
    cloud_auth::authorize(snapshot, ai, out, credential, &mut parts, &bytes).await?;
    forward::send(out, parts, full(bytes)).await
}

/// Points the request at the provider: the URI parsed once for this call when there is
/// one and the client sent no query (which must follow), else `path()` joined with it.
pub(crate) fn point_at(
    parts: &mut http::request::Parts,
    parsed: Option<http::Uri>,
    path: impl FnOnce() -> String,
) -> Result<(), ProxyError> {
    match parsed.filter(|_| parts.uri.query().is_none()) {
        Some(uri) => {
            parts.uri = uri;
            Ok(())
        }
        None => set_path(parts, &path()),
    }
}

pub(crate) fn set_path(parts: &mut http::request::Parts, path: &str) -> Result<(), ProxyError> {
    // The provider path may carry its own query (Azure's api-version); the client's follows.
    let path_and_query = match parts.uri.query() {
        Some(q) if path.contains('?') => format!("{path}&{q}"),
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    // From the String itself: the URI keeps its bytes rather than copying them.
    parts.uri = http::Uri::try_from(path_and_query)
        .map_err(|_| ProxyError::Internal(format!("'{path}' is not a valid provider path")))?;
    Ok(())
}

/// A provider's error, in the OpenAI shape with the provider's message kept. A 404 also
/// says which model this backend sent, since that is what usually needs fixing.
async fn provider_error(
    mut parts: http::response::Parts,
    body: BoxBody,
    ai: &AiBackend,
    dialect: Dialect,
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
            dialect.message(parts.status, "upstream_error", &message)
        }
    };
    if parts.status == StatusCode::NOT_FOUND {
        name_the_model(&mut value, ai, model, backend);
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

/// A JSON body. `serde_json::to_vec` writes straight into a buffer; `Value::to_string`
/// goes through the formatting machinery and took several times longer on every
/// translated request.
pub(crate) fn json_bytes(value: &Value) -> Bytes {
    // Serialising a `Value` cannot fail: its keys are strings.
    serde_json::to_vec(value)
        .map(Bytes::from)
        .unwrap_or_default()
}

pub(crate) fn json_response(status: StatusCode, value: &Value) -> Response<BoxBody> {
    let mut response = Response::new(full(json_bytes(value)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Reads the client's body (bounded) and prepares it for the provider. The inner `Err` is
/// the answer for the client (413, 400), in its own API's shape.
pub(crate) async fn read_request<T>(
    body: BoxBody,
    client: Dialect,
    policy: Option<&RequestPolicy>,
    prepare: impl FnOnce(Bytes) -> Result<T, LlmError>,
) -> Result<Result<T, Response<BoxBody>>, ProxyError> {
    let bytes = match collect_limited(body, REQUEST_LIMIT).await {
        Ok(bytes) => bytes,
        Err(CollectError::TooLarge(limit)) => {
            return Ok(Err(client_error(client, &LlmError::TooLarge { limit })));
        }
        Err(e) => return Err(ProxyError::InvalidRequest(e.to_string())),
    };
    // The operator's policy (aliases, defaults, overrides, prompts) applies before the checks.
    let prepared = match policy {
        Some(policy) => policy.apply(bytes, client.api()).and_then(prepare),
        None => prepare(bytes),
    };
    Ok(prepared.map_err(|e| client_error(client, &e)))
}

fn client_error(client: Dialect, error: &LlmError) -> Response<BoxBody> {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST);
    json_response(status, &client.error_body(error))
}

/// Sends a JSON body to the provider. Returns the answer's head and body, the metric labels
/// and the access-log facts (already attached to the head) of the call.
pub(crate) async fn send_json(
    snapshot: &Snapshot,
    ai: &AiBackend,
    out: &Outbound<'_>,
    credential: Option<&BackendCredential>,
    mut parts: http::request::Parts,
    body: Bytes,
    model: &str,
) -> Result<
    (
        http::response::Parts,
        BoxBody,
        GenAiLabels,
        SharedGenAiFacts,
    ),
    ProxyError,
> {
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    forward::prepare(out, &mut parts)?;
    cloud_auth::authorize(snapshot, ai, out, credential, &mut parts, &body).await?;
    let response = forward::send(out, parts, full(body)).await?;
    let labels = GenAiLabels {
        operation: "chat",
        provider: ai.provider.name(),
        request_model: model.to_string(),
        response_model: model.to_string(),
        error_type: None,
    };
    let (mut parts, body) = response.into_parts();
    let facts = new_facts(ai, model);
    parts.extensions.insert(facts.clone());
    Ok((parts, body, labels, facts))
}

/// A provider's "no such model" says which model this backend sent and where it is pinned,
/// since that is what usually needs fixing.
pub(crate) fn name_the_model(error: &mut Value, ai: &AiBackend, model: &str, backend: &str) {
    let Some(message) = error.pointer_mut("/error/message") else {
        return;
    };
    let deployment = ai.azure.as_ref().and_then(|a| a.deployment.as_deref());
    let pinned = match (&ai.model, deployment) {
        (Some(m), _) => format!(
            "the backend pins model '{m}' ({}.model in its spec.ai)",
            ai.provider.config_key()
        ),
        (None, Some(d)) => format!(
            "requests go to Azure OpenAI deployment '{d}' (spec.ai.provider.azureopenai.deploymentName): check that it exists"
        ),
        (None, None) => "the backend pins no model, so the client's model was sent".to_string(),
    };
    let original = message.as_str().unwrap_or_default().to_string();
    *message = Value::String(format!(
        "{original} (backend {backend} sent model '{model}'; {pinned})"
    ));
}

/// The access-log facts of a call, before its answer is known.
pub(crate) fn new_facts(ai: &AiBackend, request_model: &str) -> SharedGenAiFacts {
    Arc::new(Mutex::new(GenAiFacts {
        provider: ai.provider.name(),
        request_model: request_model.to_string(),
        ..Default::default()
    }))
}

/// Completes the access-log facts of a call once its answer is known.
pub(crate) fn settle(facts: &SharedGenAiFacts, labels: &GenAiLabels, usage: Option<Usage>) {
    {
        let mut facts = facts.lock().unwrap_or_else(|p| p.into_inner());
        facts.response_model = Some(labels.response_model.clone());
        facts.usage = usage;
    }
    budget::settle(facts, usage);
}
