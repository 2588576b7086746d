//! Translation between the two client APIs and the providers that speak the other one.
//! Each direction lives in its own file; both stream translators share one trait so the
//! proxy drives them the same way.

pub mod chain;
pub mod chat_on_converse;
pub mod chat_on_gemini;
pub mod chat_on_messages;
pub mod converse_stream;
pub mod gemini_stream;
pub mod messages_on_chat;

use crate::sse::Event;
use crate::usage::Usage;

pub use chat_on_messages::{
    DEFAULT_MAX_TOKENS, StreamTranslator, chat_to_messages, error_to_openai, finish_reason,
    message_to_chat,
};

/// Re-emits a provider's event stream in the client's format.
pub trait EventTranslator: Send + Sync {
    /// The framed SSE text (`event:`/`data:` lines and the blank line) one provider event
    /// becomes; often nothing.
    fn event(&mut self, event: &Event) -> String;
    /// What closes the stream when the provider ended without its own terminator.
    fn finish(&mut self) -> String;
    /// Whether the client's terminator has been sent.
    fn finished(&self) -> bool;
    /// An error event in the client's format.
    fn error(&mut self, message: &str) -> String;
    fn usage(&self) -> Option<Usage>;
    /// The model the provider reported (the requested one until it says).
    fn model(&self) -> &str;
}
