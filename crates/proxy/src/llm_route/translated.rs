//! Clients on a provider that speaks another format: the request is translated on the way
//! out, and the answer (a body, or a stream event by event) on the way back. Every
//! provider format is translated to and from Chat Completions; Anthropic clients reach the
//! others through that pivot.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use config::ir::backend::{AiBackend, AiProvider, BackendCredential};
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use llm::Usage;
use llm::openai::PreparedChat;
use llm::policy::RequestPolicy;
use llm::translate::chain::{AnthropicPassthrough, Chained};
use llm::translate::chat_on_converse::{ConverseStreamTranslator, converse_to_chat_with};
use llm::translate::chat_on_gemini::{GeminiStreamTranslator, chat_to_gemini, gemini_to_chat};
use llm::translate::chat_on_messages::{ChatAnswer, MessagesTarget};
use llm::translate::guarded::Guarded;
use llm::translate::messages_on_chat::ChunkTranslator;
use llm::translate::{self, EventTranslator, StreamTranslator, messages_on_chat};
use serde_json::Value;

use crate::body::{BoxBody, collect_limited, full};
use crate::error::ProxyError;
use crate::forward::Outbound;
use crate::gen_ai_metrics::GenAiLabels;
use crate::llm_route::dialect::Dialect;
use crate::llm_route::wire::Wire;
use crate::llm_route::{
    RESPONSE_LIMIT, json_bytes, name_the_model, point_at, read_request, send_json, settle,
};
use crate::metrics::Metrics;
use crate::snapshot::Snapshot;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// A request body the gateway has checked is JSON, as a tree.
fn parse_request(body: &[u8]) -> Result<Value, llm::LlmError> {
    serde_json::from_slice(body).map_err(|e| llm::LlmError::InvalidJson(e.to_string()))
}

/// How one request travels: the client's format, the provider's, and whether the provider
/// is Vertex AI (whose Anthropic endpoint wants the model out of the body).
#[derive(Debug, Clone, Copy)]
struct Plan {
    client: Dialect,
    wire: Wire,
    vertex: bool,
    /// The provider is OpenAI's own API or Azure OpenAI, whose reasoning models refuse
    /// `max_tokens` and take `max_completion_tokens` (servers that copy the API, such as
    /// Ollama, may know only `max_tokens`).
    completion_tokens: bool,
    /// An OpenAI client's `json_schema` answer comes from Anthropic or Bedrock as a forced
    /// tool's input (`MessagesRequest::structured`), which becomes the answer's content.
    structured: bool,
}

/// The client's request, checked, with its model pinned and written in the provider's format.
struct Translated {
    prepared: PreparedChat,
    plan: Plan,
    body: Bytes,
    /// Whether the stream translator should report usage in a final chunk.
    include_usage: bool,
}

impl Plan {
    fn translate(
        client: Dialect,
        ai: &AiBackend,
        bytes: Bytes,
    ) -> Result<Translated, llm::LlmError> {
        let prepared = client.prepare(bytes, ai.model.as_deref())?;
        let mut plan = Plan {
            client,
            wire: Wire::of(ai, &prepared.model),
            vertex: ai.provider == AiProvider::VertexAi,
            completion_tokens: ai.provider == AiProvider::AzureOpenAi
                || (ai.provider == AiProvider::OpenAi
                    && AiProvider::OpenAi.public_host() == Some(ai.target.host.as_str())),
            structured: false,
        };
        let (body, include_usage, structured) = plan.request(&prepared.body)?;
        plan.structured = structured;
        Ok(Translated {
            prepared,
            plan,
            body,
            include_usage,
        })
    }

    /// The provider's body, whether the client wants a usage chunk, and whether the answer
    /// is a structured one (`Plan::structured`).
    fn request(self, body: &Bytes) -> Result<(Bytes, bool, bool), llm::LlmError> {
        type ToProvider = fn(&Value) -> Result<Bytes, llm::LlmError>;
        let to_provider: ToProvider = match (self.wire, self.client) {
            // A Messages client on Anthropic's own API: the body goes as it is, but Vertex
            // wants the model out of it.
            (Wire::AnthropicMessages, Dialect::Anthropic) if !self.vertex => {
                return Ok((body.clone(), false, false));
            }
            (Wire::AnthropicMessages, Dialect::Anthropic) => {
                let mut body = parse_request(body)?;
                llm::gcp::anthropic_body_for_vertex(&mut body);
                return Ok((json_bytes(&body), false, false));
            }
            // The common translation has a path of its own, without JSON trees.
            (Wire::AnthropicMessages, Dialect::OpenAi) => {
                let target = match self.vertex {
                    true => MessagesTarget::Vertex,
                    false => MessagesTarget::Anthropic,
                };
                let translated = translate::chat_to_messages(body, target)?;
                return Ok((
                    Bytes::from(translated.body),
                    translated.include_usage,
                    translated.structured,
                ));
            }
            // Everything else goes through Chat Completions.
            (Wire::OpenAiChat, _) => |chat| Ok(json_bytes(chat)),
            (Wire::Gemini, _) => |chat| Ok(json_bytes(&chat_to_gemini(chat)?)),
            (Wire::Converse, _) => |chat| {
                Ok(json_bytes(
                    &llm::translate::chat_on_converse::chat_to_converse(chat)?,
                ))
            },
        };
        let request = parse_request(body)?;
        let chat = match self.client {
            Dialect::OpenAi => request,
            Dialect::Anthropic => {
                let mut chat = messages_on_chat::messages_to_chat(&request)?;
                if self.wire == Wire::OpenAiChat {
                    messages_on_chat::strip_pivot_fields(&mut chat);
                }
                if self.completion_tokens
                    && let Some(object) = chat.as_object_mut()
                    && let Some(max) = object.remove("max_tokens")
                {
                    object.insert("max_completion_tokens".into(), max);
                }
                chat
            }
        };
        let include_usage = chat["stream_options"]["include_usage"]
            .as_bool()
            .unwrap_or(false);
        // Bedrock is asked for a json_schema answer through a forced tool, as Anthropic is.
        let structured =
            self.wire == Wire::Converse && chat["response_format"]["type"] == "json_schema";
        let mut out = to_provider(&chat)?;
        if structured {
            out = llm::translate::chat_on_converse::with_client_schema_order(&out, body).into();
        }
        Ok((out, include_usage, structured))
    }

    /// The provider's error in the client's shape; `None` when the body is not an error
    /// body this provider sends.
    fn error(self, body: &Value, status: u16, error_type: Option<&str>) -> Option<Value> {
        if let (Dialect::Anthropic, Wire::AnthropicMessages) = (self.client, self.wire) {
            return body.get("error").is_some().then(|| body.clone());
        }
        let openai = self.wire.error_to_openai(body, status, error_type)?;
        Some(match self.client {
            Dialect::OpenAi => openai,
            Dialect::Anthropic => messages_on_chat::error_to_anthropic(&openai, status),
        })
    }

    /// The provider's answer in the client's format, with the usage and model it reported.
    fn response(self, answer: &[u8], model: &str) -> Result<ChatAnswer, String> {
        let tree = |answer: &[u8]| {
            serde_json::from_slice::<Value>(answer)
                .map_err(|e| format!("the provider's answer is not JSON: {e}"))
        };
        let chat = match (self.wire, self.client) {
            (Wire::AnthropicMessages, Dialect::Anthropic) => {
                let (model, usage) = Dialect::Anthropic.response_facts(answer);
                return Ok(ChatAnswer {
                    body: answer.to_vec(),
                    usage,
                    model,
                });
            }
            // The common translation has a path of its own, without JSON trees.
            (Wire::AnthropicMessages, Dialect::OpenAi) => {
                return translate::message_to_chat_with(answer, now(), self.structured).map_err(
                    |e| format!("the provider's answer is not an Anthropic message: {e}"),
                );
            }
            (Wire::OpenAiChat, _) => tree(answer)?,
            (Wire::Gemini, _) => gemini_to_chat(&tree(answer)?, model, now()),
            (Wire::Converse, _) => {
                converse_to_chat_with(&tree(answer)?, model, now(), self.structured)
            }
        };
        let usage = chat.get("usage").and_then(Usage::from_openai);
        let reply = match self.client {
            Dialect::OpenAi => chat,
            Dialect::Anthropic => messages_on_chat::chat_to_message(&chat),
        };
        Ok(ChatAnswer {
            body: json_bytes(&reply).to_vec(),
            usage,
            model: reply["model"].as_str().map(str::to_string),
        })
    }

    fn stream(self, model: &str, include_usage: bool) -> Box<dyn EventTranslator> {
        let to_chat: Option<Box<dyn EventTranslator>> = match self.wire {
            Wire::OpenAiChat => None,
            Wire::AnthropicMessages if self.client == Dialect::Anthropic => {
                return Box::new(AnthropicPassthrough::new(model));
            }
            Wire::AnthropicMessages => {
                let translator = StreamTranslator::new(model, now(), include_usage);
                Some(Box::new(translator.structured(self.structured)))
            }
            Wire::Gemini => Some(Box::new(GeminiStreamTranslator::new(
                model,
                now(),
                include_usage,
            ))),
            Wire::Converse => Some(Box::new(
                ConverseStreamTranslator::new(model, now(), include_usage)
                    .structured(self.structured),
            )),
        };
        match (self.client, to_chat) {
            (Dialect::OpenAi, Some(to_chat)) => to_chat,
            (Dialect::Anthropic, Some(to_chat)) => {
                Box::new(Chained::new(to_chat, Box::new(ChunkTranslator::new(model))))
            }
            // Chat Completions to an OpenAI client is served natively, never here; an
            // Anthropic client on it needs only the chunk translator.
            (_, None) => Box::new(ChunkTranslator::new(model)),
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn chat(
    snapshot: &Snapshot,
    ai: &AiBackend,
    client: Dialect,
    policy: Option<&RequestPolicy>,
    out: &Outbound<'_>,
    credential: Option<&BackendCredential>,
    mut parts: http::request::Parts,
    body: BoxBody,
    metrics: &Arc<Metrics>,
) -> Result<Response<BoxBody>, ProxyError> {
    let start = Instant::now();
    let translated = match read_request(body, client, policy, |bytes| {
        Plan::translate(client, ai, bytes)
    })
    .await?
    {
        Ok(translated) => translated,
        Err(answer) => return Ok(answer),
    };
    let Translated {
        prepared,
        plan,
        body,
        include_usage,
    } = translated;
    point_at(&mut parts, plan.wire.parsed_uri(ai), || {
        plan.wire.path(ai, &prepared.model, prepared.stream)
    })?;
    let reserved = match super::budget::reserve(&parts, client, &prepared.body, metrics).await {
        Ok(reserved) => reserved,
        Err(answer) => return Ok(answer),
    };
    let sent = send_json(snapshot, ai, out, credential, parts, body, &prepared.model).await;
    let (mut parts, body, labels, facts) = super::budget::after_send(sent, reserved)?;
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::TRANSFER_ENCODING);
    if !parts.status.is_success() {
        let failed = labels.failed(parts.status.as_u16().to_string());
        metrics.gen_ai.record(&failed, None, start.elapsed());
        super::budget::settle(&facts, Some(Usage::default()));
        let bytes = collect_limited(body, RESPONSE_LIMIT)
            .await
            .unwrap_or_default();
        let error_type = parts
            .headers
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok());
        let translated = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| plan.error(&v, parts.status.as_u16(), error_type));
        let mut error = translated.unwrap_or_else(|| {
            client.message(
                parts.status,
                "api_error",
                &format!(
                    "provider answered {}: {}",
                    parts.status,
                    String::from_utf8_lossy(&bytes).trim()
                ),
            )
        });
        if parts.status == StatusCode::NOT_FOUND {
            name_the_model(&mut error, ai, &prepared.model, &out.backend_name);
        }
        parts.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        return Ok(Response::from_parts(parts, full(error.to_string())));
    }
    if prepared.stream && !super::is_event_stream(&parts) {
        return Err(super::not_an_answer(&out.backend_name, "an event stream", &parts, body).await);
    }
    if prepared.stream {
        let mut translator = plan.stream(&prepared.model, include_usage);
        if let Some(guard) = policy.and_then(RequestPolicy::response_guard) {
            translator = Guarded::wrap(translator, guard, client.api());
        }
        let stream = super::reemit::StreamParts {
            frames: plan.wire.frames(),
            translator,
            labels,
            start,
            metrics: metrics.clone(),
            facts,
        };
        return Ok(stream.respond(parts, body));
    }
    let bytes =
        collect_limited(body, RESPONSE_LIMIT)
            .await
            .map_err(|e| ProxyError::UpstreamProtocol {
                backend: out.backend_name.to_string(),
                reason: e.to_string(),
            })?;
    if !llm::has_any_member(&bytes, plan.wire.answer_members()) {
        let expected = plan.wire.answer_name();
        return Err(super::not_an_answer_in(
            &out.backend_name,
            expected,
            &parts,
            &bytes,
        ));
    }
    let answer =
        plan.response(&bytes, &prepared.model)
            .map_err(|reason| ProxyError::UpstreamProtocol {
                backend: out.backend_name.to_string(),
                reason,
            })?;
    let labels = GenAiLabels {
        response_model: answer.model.unwrap_or(prepared.model),
        ..labels
    };
    metrics
        .gen_ai
        .record(&labels, answer.usage, start.elapsed());
    settle(&facts, &labels, answer.usage);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let body = Bytes::from(answer.body);
    match policy.and_then(RequestPolicy::response_guard) {
        Some(guard) => super::guarded_body(guard, client, parts, body),
        None => Ok(Response::from_parts(parts, full(body))),
    }
}

/// The client's answer when the prompt guard refuses a response.
pub(crate) fn blocked_response(
    blocked: &llm::guard::Blocked,
    client: Dialect,
) -> Response<BoxBody> {
    let status = StatusCode::from_u16(blocked.status).unwrap_or(StatusCode::FORBIDDEN);
    crate::llm_route::json_response(status, &blocked.error_body(client.api()))
}
