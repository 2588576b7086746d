//! What a provider speaks on the wire, and everything that follows from it: the request
//! path, how its stream is framed, and how its errors read.

use bytes::Bytes;
use config::ir::backend::{AiBackend, AiProvider};
use llm::aws::eventstream::{EventStreamDecoder, to_sse_event};
use llm::sse::{Event, SseDecoder};
use llm::translate::chat_on_converse;
use serde_json::Value;

/// A provider's request/response format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    /// OpenAI Chat Completions (OpenAI, Azure OpenAI, Ollama, vLLM, ...).
    OpenAiChat,
    /// Anthropic Messages (Anthropic, and Claude models on Vertex AI).
    AnthropicMessages,
    /// Gemini `generateContent` (Gemini API, and Google models on Vertex AI).
    Gemini,
    /// Bedrock Converse.
    Converse,
}

impl Wire {
    /// What an answer of this format is called, for errors.
    pub fn answer_name(self) -> &'static str {
        match self {
            Self::OpenAiChat => "an OpenAI chat completion",
            Self::AnthropicMessages => "an Anthropic message",
            Self::Gemini => "a Gemini generateContent answer",
            Self::Converse => "a Bedrock Converse answer",
        }
    }

    /// The top-level members one of which every answer of this format has.
    pub fn answer_members(self) -> &'static [&'static str] {
        match self {
            Self::OpenAiChat => &["choices"],
            Self::AnthropicMessages => &["content"],
            // A blocked prompt has no candidates, only the feedback.
            Self::Gemini => &["candidates", "promptFeedback"],
            Self::Converse => &["output"],
        }
    }

    /// The format of a provider; on Vertex AI the model decides, since Claude models are
    /// served by Anthropic's own API there.
    pub fn of(ai: &AiBackend, model: &str) -> Self {
        match ai.provider {
            AiProvider::OpenAi | AiProvider::AzureOpenAi => Self::OpenAiChat,
            AiProvider::Anthropic => Self::AnthropicMessages,
            AiProvider::Gemini => Self::Gemini,
            AiProvider::VertexAi if is_claude(model) => Self::AnthropicMessages,
            AiProvider::VertexAi => Self::Gemini,
            AiProvider::Bedrock => Self::Converse,
        }
    }

    /// The request URI of a chat call, parsed once, when it does not depend on the model
    /// (OpenAI's and Anthropic's own APIs).
    pub fn parsed_uri(self, ai: &AiBackend) -> Option<http::Uri> {
        match (self, ai.provider) {
            (_, AiProvider::VertexAi) => None,
            (Self::OpenAiChat, _) => ai.provider_uri("/chat/completions"),
            (Self::AnthropicMessages, _) => ai.provider_uri("/messages"),
            _ => None,
        }
    }

    /// The request path (and query) of a chat call with this model.
    pub fn path(self, ai: &AiBackend, model: &str, stream: bool) -> String {
        if let (Some(vertex), AiProvider::VertexAi) = (&ai.vertex, ai.provider) {
            let (project, region) = (&vertex.project, &vertex.region);
            return match self {
                Self::AnthropicMessages => {
                    llm::gcp::vertex_anthropic_path(project, region, model, stream)
                }
                _ => llm::gcp::vertex_gemini_path(project, region, model, stream),
            };
        }
        match self {
            Self::OpenAiChat => ai.provider_path("/chat/completions"),
            Self::AnthropicMessages => ai.provider_path("/messages"),
            Self::Gemini => match &ai.path {
                Some(path) => path.clone(),
                None => {
                    let prefix = ai.path_prefix.as_deref().unwrap_or("/v1beta");
                    format!(
                        "{}/{}",
                        prefix.trim_end_matches('/'),
                        llm::gemini::model_path(model, stream)
                    )
                }
            },
            Self::Converse => match &ai.path {
                Some(path) => path.clone(),
                None => {
                    let action = if stream {
                        "converse-stream"
                    } else {
                        "converse"
                    };
                    let model = llm::aws::sigv4::encode_path_segment(model);
                    format!("/model/{model}/{action}")
                }
            },
        }
    }

    /// A provider error body as an OpenAI-shaped error, keeping the provider's message.
    /// `None` when the body is not one of this provider's error bodies.
    pub fn error_to_openai(
        self,
        body: &Value,
        status: u16,
        error_type: Option<&str>,
    ) -> Option<Value> {
        match self {
            Self::OpenAiChat => body.get("error").is_some().then(|| body.clone()),
            Self::AnthropicMessages => body
                .get("error")
                .is_some()
                .then(|| llm::translate::error_to_openai(body)),
            // Vertex wraps its error objects in an array.
            Self::Gemini => (body.get("error").is_some() || body[0].get("error").is_some())
                .then(|| llm::gemini::error_to_openai(body, status)),
            Self::Converse => body
                .get("message")
                .or_else(|| body.get("Message"))
                .is_some()
                .then(|| chat_on_converse::error_to_openai(body, error_type, status)),
        }
    }

    pub fn frames(self) -> FrameDecoder {
        match self {
            Self::Converse => FrameDecoder::AwsEventStream(EventStreamDecoder::default()),
            _ => FrameDecoder::sse(),
        }
    }
}

fn is_claude(model: &str) -> bool {
    model.starts_with("claude")
}

/// Splits a provider's streamed body into events: SSE for most, AWS's binary event stream
/// for Bedrock (whose messages become events named by their `:event-type`).
pub(crate) enum FrameDecoder {
    /// The decoder, and the event it hands over, refilled for each: its strings keep their
    /// allocations from one event to the next.
    Sse(SseDecoder, Event),
    AwsEventStream(EventStreamDecoder),
}

impl FrameDecoder {
    pub fn sse() -> Self {
        Self::Sse(SseDecoder::default(), Event::default())
    }

    /// Calls `on_event` with each event completed by `data`. An error means the stream
    /// cannot be read on; the events of that read are not handed over.
    pub fn feed_each(
        &mut self,
        data: &Bytes,
        mut on_event: impl FnMut(&Event),
    ) -> Result<(), String> {
        match self {
            Self::Sse(decoder, event) => {
                decoder.feed_each(data, |name, text| {
                    refill(event, name, text);
                    on_event(event);
                });
                Ok(())
            }
            Self::AwsEventStream(decoder) => {
                let messages = decoder.feed(data).map_err(|e| e.to_string())?;
                for message in &messages {
                    on_event(&to_sse_event(message));
                }
                Ok(())
            }
        }
    }
}

fn refill(event: &mut Event, name: Option<&str>, data: &str) {
    event.data.clear();
    event.data.push_str(data);
    match (name, &mut event.event) {
        (Some(name), Some(kept)) => {
            kept.clear();
            kept.push_str(name);
        }
        (name, slot) => *slot = name.map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_are_handed_over_with_their_own_names() {
        let mut frames = FrameDecoder::sse();
        let mut seen = Vec::new();
        let read = Bytes::from_static(
            b"event: message_start\ndata: {\"a\":1}\n\ndata: [DONE]\n\nevent: ping\ndata: {}\n\nevent: long\ndata: x",
        );
        frames
            .feed_each(&read, |event| seen.push(event.clone()))
            .unwrap();
        frames
            .feed_each(&Bytes::from_static(b"y\n\n"), |event| {
                seen.push(event.clone())
            })
            .unwrap();
        let named = |name: Option<&str>, data: &str| Event {
            event: name.map(str::to_string),
            data: data.to_string(),
        };
        assert_eq!(
            seen,
            [
                named(Some("message_start"), "{\"a\":1}"),
                named(None, "[DONE]"),
                named(Some("ping"), "{}"),
                named(Some("long"), "xy"),
            ]
        );
    }
}
