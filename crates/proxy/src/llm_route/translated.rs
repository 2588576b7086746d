//! Clients on a provider that speaks the other API: the request is translated on the way
//! out, and the answer (a body, or a stream event by event) on the way back.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use llm::Usage;
use llm::openai::PreparedChat;
use llm::policy::RequestPolicy;
use llm::sse::SseDecoder;
use llm::translate::messages_on_chat::ChunkTranslator;
use llm::translate::{self, EventTranslator, StreamTranslator, messages_on_chat};
use serde_json::Value;

use crate::body::{BoxBody, BoxError, boxed, collect_limited, full};
use crate::error::ProxyError;
use crate::forward::Outbound;
use crate::gen_ai_metrics::{GenAiLabels, SharedGenAiFacts};
use crate::llm_route::dialect::Dialect;
use crate::llm_route::{RESPONSE_LIMIT, name_the_model, read_request, send_json, set_path, settle};
use crate::metrics::Metrics;
use config::ir::backend::AiBackend;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Which way a request is translated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// OpenAI Chat Completions client, Anthropic Messages provider.
    ChatOnMessages,
    /// Anthropic Messages client, OpenAI-compatible provider.
    MessagesOnChat,
}

impl Direction {
    fn client(self) -> Dialect {
        match self {
            Self::ChatOnMessages => Dialect::OpenAi,
            Self::MessagesOnChat => Dialect::Anthropic,
        }
    }

    /// Checks the client's request, pins the model, and writes it in the provider's API.
    fn request(
        self,
        bytes: Bytes,
        model: Option<&str>,
    ) -> Result<(PreparedChat, Value, bool), llm::LlmError> {
        let prepared = self.client().prepare(bytes, model)?;
        let request: Value = serde_json::from_slice(&prepared.body)
            .map_err(|e| llm::LlmError::InvalidJson(e.to_string()))?;
        let include_usage = request["stream_options"]["include_usage"]
            .as_bool()
            .unwrap_or(false);
        let translated = match self {
            Self::ChatOnMessages => translate::chat_to_messages(&request)?,
            Self::MessagesOnChat => messages_on_chat::messages_to_chat(&request),
        };
        Ok((prepared, translated, include_usage))
    }

    fn provider_suffix(self) -> &'static str {
        match self {
            Self::ChatOnMessages => "/messages",
            Self::MessagesOnChat => "/chat/completions",
        }
    }

    fn error(self, provider_error: &Value) -> Value {
        match self {
            Self::ChatOnMessages => translate::error_to_openai(provider_error),
            Self::MessagesOnChat => messages_on_chat::error_to_anthropic(provider_error),
        }
    }

    /// The provider's answer in the client's API, with the usage it reported.
    fn response(self, answer: &Value) -> (Value, Option<Usage>) {
        match self {
            Self::ChatOnMessages => (
                translate::message_to_chat(answer, now()),
                answer.get("usage").and_then(Usage::from_anthropic),
            ),
            Self::MessagesOnChat => (
                messages_on_chat::chat_to_message(answer),
                answer.get("usage").and_then(Usage::from_openai),
            ),
        }
    }

    fn stream(self, model: &str, include_usage: bool) -> Box<dyn EventTranslator> {
        match self {
            Self::ChatOnMessages => Box::new(StreamTranslator::new(model, now(), include_usage)),
            Self::MessagesOnChat => Box::new(ChunkTranslator::new(model)),
        }
    }
}

pub(crate) async fn chat(
    ai: &AiBackend,
    direction: Direction,
    policy: Option<&RequestPolicy>,
    out: &Outbound<'_>,
    mut parts: http::request::Parts,
    body: BoxBody,
    metrics: &Arc<Metrics>,
) -> Result<Response<BoxBody>, ProxyError> {
    let start = Instant::now();
    let client = direction.client();
    let (prepared, request, include_usage) = match read_request(body, client, policy, |bytes| {
        direction.request(bytes, ai.model.as_deref())
    })
    .await?
    {
        Ok(translated) => translated,
        Err(answer) => return Ok(answer),
    };
    set_path(&mut parts, &ai.provider_path(direction.provider_suffix()))?;
    let body = Bytes::from(request.to_string());
    let (mut parts, body, labels, facts) = send_json(ai, out, parts, body, &prepared.model).await?;
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::TRANSFER_ENCODING);
    if !parts.status.is_success() {
        metrics.gen_ai.record(&labels, None, start.elapsed());
        let bytes = collect_limited(body, RESPONSE_LIMIT)
            .await
            .unwrap_or_default();
        let mut error = match serde_json::from_slice::<Value>(&bytes) {
            Ok(v) if v.get("error").is_some() => direction.error(&v),
            _ => client.message(
                "api_error",
                &format!(
                    "provider answered {}: {}",
                    parts.status,
                    String::from_utf8_lossy(&bytes).trim()
                ),
            ),
        };
        if parts.status == StatusCode::NOT_FOUND {
            name_the_model(&mut error, ai, &prepared.model, &out.backend_name);
        }
        parts.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        return Ok(Response::from_parts(parts, full(error.to_string())));
    }
    if prepared.stream {
        let stream = TranslatedStream {
            inner: body,
            decoder: SseDecoder::default(),
            translator: direction.stream(&prepared.model, include_usage),
            pending: VecDeque::new(),
            done: false,
            labels,
            start,
            first: false,
            metrics: metrics.clone(),
            facts,
        };
        parts.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        return Ok(Response::from_parts(parts, boxed(stream)));
    }
    let bytes =
        collect_limited(body, RESPONSE_LIMIT)
            .await
            .map_err(|e| ProxyError::UpstreamProtocol {
                backend: out.backend_name.to_string(),
                reason: e.to_string(),
            })?;
    let answer: Value =
        serde_json::from_slice(&bytes).map_err(|e| ProxyError::UpstreamProtocol {
            backend: out.backend_name.to_string(),
            reason: format!("the provider's answer is not JSON: {e}"),
        })?;
    let (translated, usage) = direction.response(&answer);
    let labels = GenAiLabels {
        response_model: answer["model"]
            .as_str()
            .unwrap_or(&prepared.model)
            .to_string(),
        ..labels
    };
    metrics.gen_ai.record(&labels, usage, start.elapsed());
    settle(&facts, &labels, usage);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(Response::from_parts(parts, full(translated.to_string())))
}

/// A provider's event stream re-emitted in the client's format, ending with the client's
/// terminator, or with an error event in the client's format when the provider breaks off.
struct TranslatedStream {
    inner: BoxBody,
    decoder: SseDecoder,
    translator: Box<dyn EventTranslator>,
    pending: VecDeque<Bytes>,
    done: bool,
    labels: GenAiLabels,
    start: Instant,
    first: bool,
    metrics: Arc<Metrics>,
    facts: SharedGenAiFacts,
}

impl TranslatedStream {
    fn finish(&mut self) {
        self.done = true;
        self.labels.response_model = self.translator.model().to_string();
        let usage = self.translator.usage();
        self.metrics
            .gen_ai
            .record(&self.labels, usage, self.start.elapsed());
        settle(&self.facts, &self.labels, usage);
    }

    fn push(&mut self, text: String) {
        if !text.is_empty() {
            self.pending.push_back(Bytes::from(text));
        }
    }
}

impl Body for TranslatedStream {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            if let Some(bytes) = this.pending.pop_front() {
                return Poll::Ready(Some(Ok(Frame::data(bytes))));
            }
            if this.done {
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let Some(data) = frame.data_ref() else {
                        continue;
                    };
                    if !this.first {
                        this.first = true;
                        this.metrics
                            .gen_ai
                            .first_token(&this.labels, this.start.elapsed());
                    }
                    for event in this.decoder.feed(data) {
                        let text = this.translator.event(&event);
                        this.push(text);
                        if this.translator.finished() {
                            this.finish();
                            break;
                        }
                    }
                }
                Poll::Ready(Some(Err(error))) => {
                    let text = this
                        .translator
                        .error(&format!("the provider stream broke off: {error}"));
                    this.push(text);
                    this.finish();
                }
                Poll::Ready(None) => {
                    // A provider that ends without its terminator still gets the client a clean end.
                    let text = this.translator.finish();
                    this.push(text);
                    this.finish();
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.pending.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}
