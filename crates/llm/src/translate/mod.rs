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
pub mod reasoning;

use crate::sse::Event;
use crate::usage::Usage;

pub use chat_on_messages::{
    DEFAULT_MAX_TOKENS, StreamTranslator, chat_to_messages, error_to_openai, finish_reason,
    message_to_chat, message_to_chat_with,
};

/// What the client is told when the provider ended its stream cleanly but before the
/// answer was whole (no finish reason, no end marker): never a normal end.
pub const CUT_SHORT: &str = "the provider ended the stream before the answer was complete (no finish reason or end marker); the answer is cut short";

/// A provider stream event's data as JSON; None for blank data (a keep-alive). Data that
/// is not JSON is an error for the client (the answer cannot be trusted to be whole):
/// never a silent skip.
pub(crate) fn event_json(data: &str) -> Result<Option<serde_json::Value>, String> {
    if data.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str(data).map(Some).map_err(|error| {
        let shown: String = data.chars().take(120).collect();
        format!("the provider sent a stream event that is not JSON ({error}): {shown}")
    })
}

/// An OpenAI error chunk's payload, for chunk streams that end on an error of their own.
pub(crate) fn error_payload(message: &str) -> String {
    crate::error::openai_error(message, "upstream_error", None, None).to_string()
}

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
        format!("data: {}\n\n", error_payload(message))
    }

    fn usage(&self) -> Option<Usage> {
        ChunkStream::usage(self)
    }

    fn model(&self) -> &str {
        ChunkStream::model(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream event that is not JSON ends every translated stream with an error naming
    /// it; a blank one (a keep-alive) is passed over.
    #[test]
    fn events_that_are_not_json_end_translated_streams_with_an_error() {
        let translators: Vec<Box<dyn EventTranslator>> = vec![
            Box::new(chat_on_messages::StreamTranslator::new("m", 1, false)),
            Box::new(gemini_stream::GeminiStreamTranslator::new("m", 1, false)),
            Box::new(converse_stream::ConverseStreamTranslator::new(
                "m", 1, false,
            )),
            Box::new(messages_on_chat::ChunkTranslator::new("m")),
        ];
        for mut translator in translators {
            let blank = Event {
                event: None,
                data: " ".into(),
            };
            assert_eq!(translator.event(&blank), "");
            let garbage = Event {
                event: Some("contentBlockDelta".into()),
                data: "{not json".into(),
            };
            let out = translator.event(&garbage);
            assert!(
                out.contains("not JSON") && out.contains("{not json"),
                "{out}"
            );
        }
    }
}
