//! Translation between the two client APIs and the providers that speak the other one.
//! Each direction lives in its own file; both stream translators share one trait so the
//! proxy drives them the same way.

pub mod chain;
pub mod chat_on_converse;
pub mod chat_on_gemini;
pub mod chat_on_messages;
pub mod converse_stream;
pub mod embeddings;
pub mod gemini_stream;
pub mod guarded;
pub mod messages_on_chat;
mod openai_chunk;

use crate::sse::Event;
use crate::usage::Usage;

pub use chat_on_messages::{
    DEFAULT_MAX_TOKENS, StreamTranslator, chat_to_messages, error_to_openai, finish_reason,
    message_to_chat,
};

/// What the client is told when the provider ended its stream cleanly but before the
/// answer was whole (no finish reason, no end marker): never a normal end.
pub const CUT_SHORT: &str = "the provider ended the stream before the answer was complete (no finish reason or end marker); the answer is cut short";

/// Re-emits a provider's event stream in the client's format.
pub trait EventTranslator: Send + Sync {
    /// The framed SSE text (`event:`/`data:` lines and the blank line) one provider event
    /// becomes; often nothing.
    fn event(&mut self, event: &Event) -> String;
    /// What `event` gives, appended to `out` (the frames of one read of the provider's
    /// body go out together). Translators that write frames themselves append in place.
    fn write_event(&mut self, event: &Event, out: &mut String) {
        let text = self.event(event);
        match out.is_empty() {
            true => *out = text,
            false => out.push_str(&text),
        }
    }
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

/// A provider stream translated into Chat Completions chunk payloads (JSON texts, the last
/// one `[DONE]`). The SSE framing and the end-of-stream bookkeeping every such stream
/// needs are written once, in the `EventTranslator` implementation below.
pub trait ChunkStream: Send + Sync {
    /// The payloads one provider event becomes.
    fn translate(&mut self, event: &Event) -> Vec<String>;
    /// Appends the frame of an event the stream can write straight into `out` (its most
    /// common event, in the common form), with no payload list or string of its own; false
    /// when `translate` is to handle the event.
    fn write_direct(&mut self, _event: &Event, _out: &mut String) -> bool {
        false
    }
    /// Whether the provider has given the answer's finish reason: a stream that ends
    /// after it is closed normally, one that ends before it is reported as cut short.
    fn stopped(&self) -> bool;
    /// The payloads that close a stream the provider ended without its own end marker.
    fn close(&mut self) -> Vec<String> {
        vec!["[DONE]".to_string()]
    }
    /// Whether the stream has ended (its `[DONE]` or an error sent).
    fn is_done(&self) -> bool;
    fn mark_done(&mut self);
    fn usage(&self) -> Option<Usage>;
    fn model(&self) -> &str;
}

/// `data:` frames around the payloads, appended to `out` (a `format!` per payload showed
/// up in the cost of every translated event).
fn write_frames(payloads: &[String], out: &mut String) {
    out.reserve(payloads.iter().map(|p| p.len() + 8).sum());
    for payload in payloads {
        write_data_frame(out, |out| out.push_str(payload));
    }
}

/// One `data:` frame whose payload `write` appends.
pub(crate) fn write_data_frame(out: &mut String, write: impl FnOnce(&mut String)) {
    out.push_str("data: ");
    write(out);
    out.push_str("\n\n");
}

fn data_frames(payloads: &[String]) -> String {
    let mut frames = String::new();
    write_frames(payloads, &mut frames);
    frames
}

impl<T: ChunkStream> EventTranslator for T {
    fn event(&mut self, event: &Event) -> String {
        let mut out = String::new();
        self.write_event(event, &mut out);
        out
    }

    fn write_event(&mut self, event: &Event, out: &mut String) {
        if self.is_done() || self.write_direct(event, out) {
            return;
        }
        let payloads = self.translate(event);
        if payloads.last().is_some_and(|p| p == "[DONE]") {
            self.mark_done();
        }
        write_frames(&payloads, out);
    }

    fn finish(&mut self) -> String {
        if self.is_done() {
            return String::new();
        }
        if !self.stopped() {
            return EventTranslator::error(self, CUT_SHORT);
        }
        let payloads = self.close();
        self.mark_done();
        data_frames(&payloads)
    }

    fn finished(&self) -> bool {
        self.is_done()
    }

    fn error(&mut self, message: &str) -> String {
        self.mark_done();
        let error = crate::error::openai_error(message, "upstream_error", None, None);
        format!("data: {error}\n\n")
    }

    fn usage(&self) -> Option<Usage> {
        ChunkStream::usage(self)
    }

    fn model(&self) -> &str {
        ChunkStream::model(self)
    }
}
