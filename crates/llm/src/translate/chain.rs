//! Stream translators that compose: a provider's events become Chat Completions chunks,
//! and those chunks become the client's events. Every provider translates to and from
//! Chat Completions once, and Anthropic clients reach all of them through this chain.

use super::EventTranslator;
use crate::sse::{Event, SseDecoder};
use crate::usage::Usage;

/// Feeds the output of `first` (framed SSE) into `second`.
pub struct Chained {
    first: Box<dyn EventTranslator>,
    second: Box<dyn EventTranslator>,
    between: SseDecoder,
}

impl Chained {
    pub fn new(first: Box<dyn EventTranslator>, second: Box<dyn EventTranslator>) -> Self {
        Self {
            first,
            second,
            between: SseDecoder::default(),
        }
    }

    fn pass(&mut self, framed: &str) -> String {
        let mut out = String::new();
        for event in self.between.feed(framed.as_bytes()) {
            if self.second.finished() {
                break;
            }
            out.push_str(&self.second.event(&event));
        }
        out
    }
}

impl EventTranslator for Chained {
    fn event(&mut self, event: &Event) -> String {
        let framed = self.first.event(event);
        self.pass(&framed)
    }

    fn finish(&mut self) -> String {
        let framed = self.first.finish();
        let mut out = self.pass(&framed);
        if !self.second.finished() {
            out.push_str(&self.second.finish());
        }
        out
    }

    fn finished(&self) -> bool {
        self.second.finished()
    }

    fn error(&mut self, message: &str) -> String {
        self.second.error(message)
    }

    fn usage(&self) -> Option<Usage> {
        self.second.usage().or_else(|| self.first.usage())
    }

    fn model(&self) -> &str {
        self.second.model()
    }
}

/// Re-emits events as they came, for providers that already speak the client's format but
/// are reached through the translating path (Claude on Vertex AI). Usage and model are
/// read from Anthropic's `message_start` / `message_delta` as they pass.
pub struct AnthropicPassthrough {
    model: String,
    usage: Option<Usage>,
    done: bool,
}

impl AnthropicPassthrough {
    pub fn new(model: &str) -> Self {
        Self {
            model: model.to_string(),
            usage: None,
            done: false,
        }
    }
}

impl EventTranslator for AnthropicPassthrough {
    fn event(&mut self, event: &Event) -> String {
        let kind = event.event.as_deref().unwrap_or("message");
        if kind == "message_start" || kind == "message_delta" {
            let mut model = None;
            crate::anthropic::observe_event(&event.data, &mut model, &mut self.usage);
            if let Some(model) = model {
                self.model = model;
            }
        }
        if kind == "message_stop" || kind == "error" {
            self.done = true;
        }
        format!("event: {kind}\ndata: {}\n\n", event.data)
    }

    fn finish(&mut self) -> String {
        if self.done {
            return String::new();
        }
        self.error("the provider ended the stream before message_stop")
    }

    fn finished(&self) -> bool {
        self.done
    }

    fn error(&mut self, message: &str) -> String {
        self.done = true;
        let body = crate::error::anthropic_error("api_error", message);
        format!("event: error\ndata: {body}\n\n")
    }

    fn usage(&self) -> Option<Usage> {
        self.usage
    }

    fn model(&self) -> &str {
        &self.model
    }
}

/// Re-emits a Chat Completions stream as it came (for guarded native streams), reading the
/// model and usage from the chunks that carry them.
pub struct ChatPassthrough {
    model: String,
    usage: Option<Usage>,
    /// A choice's finish reason has been seen: the answer is whole.
    stopped: bool,
    done: bool,
    /// The usage chunk was asked for by the gateway, not the client: it is read, not sent.
    hide_usage_chunk: bool,
    /// Whether a chunk has named the model that answers.
    model_named: bool,
}

impl ChatPassthrough {
    pub fn new(model: &str) -> Self {
        Self {
            model: model.to_string(),
            usage: None,
            stopped: false,
            done: false,
            hide_usage_chunk: false,
            model_named: false,
        }
    }

    /// Keeps the usage-only chunk (no choices) from a client that did not ask for it.
    pub fn hiding_usage_chunk(mut self) -> Self {
        self.hide_usage_chunk = true;
        self
    }
}

impl EventTranslator for ChatPassthrough {
    fn event(&mut self, event: &Event) -> String {
        let data = &event.data;
        // `[DONE]`, or the provider's own error event, ends the stream.
        if data == "[DONE]" || data.trim_start().starts_with("{\"error\"") {
            self.done = true;
        } else {
            self.stopped = self.stopped || data.contains("\"finish_reason\":\"");
            let has_usage = data.contains("\"usage\":{") || data.contains("\"usage\": {");
            // The first chunk names the model; after it only the usage chunk is read.
            if !self.model_named || has_usage {
                let (model, usage) = crate::openai::chunk_facts(data, has_usage);
                if let Some(model) = model {
                    self.model = model;
                    self.model_named = true;
                }
                self.usage = usage.or(self.usage);
                if has_usage && self.hide_usage_chunk && data.contains("\"choices\":[]") {
                    return String::new();
                }
            }
        }
        format!("data: {}\n\n", event.data)
    }

    fn finish(&mut self) -> String {
        match self.done || self.stopped {
            true => String::new(),
            false => self.error(super::CUT_SHORT),
        }
    }

    fn finished(&self) -> bool {
        self.done
    }

    fn error(&mut self, message: &str) -> String {
        self.done = true;
        let body = crate::error::openai_error(message, "upstream_error", None, None);
        format!("data: {body}\n\n")
    }

    fn usage(&self) -> Option<Usage> {
        self.usage
    }

    fn model(&self) -> &str {
        &self.model
    }
}
