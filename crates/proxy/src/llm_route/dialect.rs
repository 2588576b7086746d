//! The two native wire formats a route can serve without translation, and what differs
//! between them: request checks, error shapes, usage, and how a broken stream is reported.

use std::sync::LazyLock;

use bytes::Bytes;
use http::StatusCode;
use llm::openai::PreparedChat;
use llm::{ClientApi, LlmError, Usage, anthropic, openai};
use memchr::memmem;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    OpenAi,
    Anthropic,
}

impl Dialect {
    /// The format a client speaks, by the API its path names.
    pub fn of_client(api: ClientApi) -> Self {
        match api {
            ClientApi::Messages => Self::Anthropic,
            _ => Self::OpenAi,
        }
    }

    /// The chat API this format is.
    pub fn api(self) -> ClientApi {
        match self {
            Self::OpenAi => ClientApi::ChatCompletions,
            Self::Anthropic => ClientApi::Messages,
        }
    }

    /// The provider path suffix of the chat API (after `/v1`).
    pub fn chat_suffix(self) -> &'static str {
        match self {
            Self::OpenAi => "/chat/completions",
            Self::Anthropic => "/messages",
        }
    }

    pub fn prepare(self, body: Bytes, model: Option<&str>) -> Result<PreparedChat, LlmError> {
        match self {
            Self::OpenAi => openai::prepare_chat(body, model),
            Self::Anthropic => anthropic::prepare_messages(body, model),
        }
    }

    pub fn error_body(self, error: &LlmError) -> Value {
        match self {
            Self::OpenAi => error.openai_body(),
            Self::Anthropic => error.anthropic_body(),
        }
    }

    /// An error of the gateway's own, e.g. `not_implemented` or `upstream_error`, answered
    /// with `status`: OpenAI's shape takes the type as it is, Anthropic's the type Anthropic
    /// uses for the status (its SDK knows no others).
    pub fn message(self, status: StatusCode, error_type: &str, message: &str) -> Value {
        match self {
            Self::OpenAi => llm::error::openai_error(message, error_type, None, None),
            Self::Anthropic => llm::error::anthropic_error(
                llm::error::anthropic_type_for_status(status.as_u16()),
                message,
            ),
        }
    }

    /// The provider format of this API.
    pub fn wire(self) -> super::wire::Wire {
        match self {
            Self::OpenAi => super::wire::Wire::OpenAiChat,
            Self::Anthropic => super::wire::Wire::AnthropicMessages,
        }
    }

    pub fn response_facts(self, body: &[u8]) -> (Option<String>, Option<Usage>) {
        match self {
            Self::OpenAi => openai::response_facts(body),
            Self::Anthropic => anthropic::response_facts(body),
        }
    }

    /// Folds one stream event into the model and usage seen so far.
    /// Only events that can carry them are parsed: the first chunk (model) and usage
    /// chunks for OpenAI, `message_start` / `message_delta` for Anthropic; text deltas pass
    /// by unparsed.
    pub fn observe(
        self,
        name: Option<&str>,
        data: &[u8],
        model: &mut Option<String>,
        usage: &mut Option<Usage>,
    ) {
        match self {
            Self::OpenAi => {
                let has_usage = carries_usage(data);
                // The first chunk names the model; after it only a usage chunk is read,
                // and only for its usage.
                if model.is_some() {
                    if has_usage && let Some(u) = openai::chunk_usage(data) {
                        *usage = Some(u);
                    }
                    return;
                }
                let (m, u) = openai::chunk_facts(data, has_usage);
                if m.is_some() {
                    *model = m;
                }
                if u.is_some() {
                    *usage = u;
                }
            }
            Self::Anthropic => {
                // The event name says what the data is; without one, the data's type does.
                let carries = match name {
                    Some(name) => matches!(name, "message_start" | "message_delta"),
                    None => {
                        memmem::find(data, b"\"message_start\"").is_some()
                            || memmem::find(data, b"\"message_delta\"").is_some()
                    }
                };
                if carries {
                    anthropic::observe_event(data, model, usage);
                }
            }
        }
    }

    /// Whether an event of the provider's stream says the answer is whole: OpenAI's
    /// `[DONE]` or a choice's finish reason, Anthropic's `message_delta` (the stop reason)
    /// or `message_stop`, or the provider's own error event. A stream that ends before
    /// one of these was cut short.
    pub fn ends_answer(self, name: Option<&str>, data: &[u8]) -> bool {
        match self {
            Self::OpenAi => {
                static FINISHED: LazyLock<memmem::Finder<'static>> =
                    LazyLock::new(|| memmem::Finder::new(b"\"finish_reason\":\""));
                // Most chunks end with their (last) choice still open, in OpenAI's exact
                // form: told from the tail, without a search.
                let tail = data.trim_ascii_end();
                let still_open = tail.ends_with(b"\"finish_reason\":null}]}")
                    || tail.ends_with(b"\"finish_reason\":null}],\"usage\":null}");
                !still_open
                    && (data == b"[DONE]"
                        || data.trim_ascii_start().starts_with(b"{\"error\"")
                        || FINISHED.find(data).is_some())
            }
            Self::Anthropic => match name {
                Some(name) => matches!(name, "message_delta" | "message_stop" | "error"),
                None => ["\"message_delta\"", "\"message_stop\"", "\"error\""]
                    .iter()
                    .any(|kind| memmem::find(data, kind.as_bytes()).is_some()),
            },
        }
    }

    /// The last event of a stream that ended cleanly before the answer was whole.
    pub fn cut_short_event(self) -> Bytes {
        self.broken_stream_event(llm::translate::CUT_SHORT)
    }

    /// The last event of a stream the provider broke off, as the client's SDK reports
    /// errors mid-stream.
    pub fn broken_stream_event(self, message: &str) -> Bytes {
        let body = self.message(StatusCode::BAD_GATEWAY, "upstream_error", message);
        Bytes::from(match self {
            Self::OpenAi => format!("data: {body}\n\n"),
            Self::Anthropic => format!("event: error\ndata: {body}\n\n"),
        })
    }
}

/// Whether a Chat Completions chunk has a `usage` object (most chunks say `"usage":null`
/// or nothing): one scan, so that only the chunks that matter are parsed. The searcher is
/// built once: building it took longer than searching a chunk.
fn carries_usage(bytes: &[u8]) -> bool {
    // OpenAI ends every chunk without usage with `"usage":null}` when the client asked
    // for usage: told at once, without a search.
    if bytes.trim_ascii_end().ends_with(b"\"usage\":null}") {
        return false;
    }
    static USAGE_KEY: LazyLock<memmem::Finder<'static>> =
        LazyLock::new(|| memmem::Finder::new(b"\"usage\":"));
    USAGE_KEY.find_iter(bytes).any(|at| {
        bytes[at + 8..]
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b == b'{')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_which_events_end_an_answer() {
        let openai = |data: &str| Dialect::OpenAi.ends_answer(None, data.as_bytes());
        let open = r#"{"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}],"usage":null}"#;
        assert!(!openai(open));
        assert!(!openai(
            r#"{"choices":[{"delta":{},"finish_reason":null}]}"#
        ));
        assert!(openai(
            r#"{"choices":[{"delta":{},"finish_reason":"stop"}],"usage":null}"#
        ));
        // Another server's layout is searched.
        assert!(openai(
            r#"{"choices":[{"finish_reason":"length","stop_reason":null}]}"#
        ));
        assert!(openai("[DONE]"));
        assert!(openai(r#"{"error":{"message":"overloaded"}}"#));
        let anthropic =
            |name: Option<&str>, data: &str| Dialect::Anthropic.ends_answer(name, data.as_bytes());
        assert!(anthropic(Some("message_stop"), "{}"));
        assert!(anthropic(Some("error"), "{}"));
        assert!(!anthropic(Some("content_block_delta"), "{}"));
        assert!(anthropic(None, r#"{"type":"message_delta"}"#));
        assert!(!anthropic(None, r#"{"type":"ping"}"#));
    }

    #[test]
    fn finds_usage_objects_only() {
        assert!(carries_usage(
            br#"{"choices":[],"usage":{"prompt_tokens":1}}"#
        ));
        assert!(carries_usage(
            br#"{"choices":[],"usage": {"prompt_tokens":1}}"#
        ));
        assert!(carries_usage(br#"{"x":"\"usage\":","usage":{}}"#));
        assert!(!carries_usage(br#"{"choices":[],"usage":null}"#));
        assert!(!carries_usage(b"{\"choices\":[],\"usage\":null}\r\n"));
        // A usage object before a last member that is null is still found.
        assert!(carries_usage(
            br#"{"usage":{"prompt_tokens":1},"x":{"usage":null}}"#
        ));
        assert!(!carries_usage(br#"{"choices":[]}"#));
        assert!(!carries_usage(br#"{"usage":"#));
    }
}
