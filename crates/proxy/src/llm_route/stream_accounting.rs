//! The accounting of a streamed answer: its time to first token, the usage read as it
//! passes, and how it ended (whole, broken off, cut short, cut by a budget, or left by the
//! client), for the metrics, the access log and token budgets.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use llm::Usage;
use llm::sse::SseDecoder;

use super::dialect::Dialect;
use super::{budget, settle};
use crate::body::BoxError;
use crate::gen_ai_metrics::{GenAiLabels, SharedGenAiFacts};
use crate::metrics::Metrics;
use crate::observed::Observer;

/// Reads usage from a provider's event stream as it passes through untouched. If the
/// provider breaks the stream, or ends it before the answer is whole, the client gets an
/// error event in its own format and a clean end, never a silent cut.
pub(crate) struct StreamUsage {
    dialect: Dialect,
    decoder: SseDecoder,
    labels: GenAiLabels,
    model: Option<String>,
    usage: Option<Usage>,
    start: Instant,
    /// When the first bytes came, until the time to first token is recorded: once the
    /// stream has named its model, so the sample has the same labels as the call's others.
    first: FirstToken,
    /// Whether the provider has said the answer is whole (see `Dialect::ends_answer`).
    whole: bool,
    /// Output tokens streamed so far, estimated, when a token budget waits for the usage:
    /// what a client that leaves mid-answer is charged.
    streamed: Option<u64>,
    metrics: Arc<Metrics>,
    facts: SharedGenAiFacts,
}

impl StreamUsage {
    pub fn new(
        dialect: Dialect,
        labels: GenAiLabels,
        start: Instant,
        metrics: &Arc<Metrics>,
        facts: SharedGenAiFacts,
    ) -> Self {
        let budgeted = facts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .budget
            .is_some();
        Self {
            dialect,
            decoder: SseDecoder::default(),
            labels,
            model: None,
            usage: None,
            start,
            first: FirstToken::default(),
            whole: false,
            streamed: budgeted.then_some(0),
            metrics: metrics.clone(),
            facts,
        }
    }

    /// The response model, once the stream has named it, goes into every later sample.
    fn take_model(&mut self) {
        if let Some(model) = self.model.take() {
            self.labels.response_model = model;
        }
    }

    fn end(&mut self, how: StreamEnd) {
        self.take_model();
        self.first.record_pending(&self.metrics, &self.labels);
        if let StreamEnd::Broken(outcome) = how {
            self.labels.error_type = Some(outcome.to_string());
        }
        self.metrics
            .gen_ai
            .record(&self.labels, self.usage, self.start.elapsed());
        match how {
            StreamEnd::Whole => settle(&self.facts, &self.labels, self.usage),
            StreamEnd::Broken(outcome) => settle_unfinished(
                &self.facts,
                &self.labels,
                self.usage,
                self.streamed,
                outcome,
            ),
        }
    }
}

/// How a stream ended, for its accounting.
pub(crate) enum StreamEnd {
    /// The provider ended it (whole or not: its usage, if any, is the provider's count).
    Whole,
    /// It stopped before the provider's end: the provider broke off, or the client left.
    Broken(&'static str),
}

/// The time to first token of a stream: taken when its first bytes pass, recorded once the
/// response model is known (or the stream ends).
#[derive(Default)]
pub(crate) struct FirstToken {
    taken: Option<std::time::Duration>,
    recorded: bool,
}

impl FirstToken {
    /// Notes the first bytes; true the first time.
    pub fn arrived(&mut self, start: Instant) -> bool {
        if self.taken.is_some() || self.recorded {
            return false;
        }
        self.taken = Some(start.elapsed());
        true
    }

    /// Whether the first bytes came and their time waits to be recorded.
    pub fn pending(&self) -> bool {
        self.taken.is_some()
    }

    pub fn record_pending(&mut self, metrics: &Metrics, labels: &GenAiLabels) {
        if let Some(elapsed) = self.taken.take() {
            self.recorded = true;
            metrics.gen_ai.first_token(labels, elapsed);
        }
    }
}

impl Observer for StreamUsage {
    const MAY_APPEND: bool = true;

    fn on_data(&mut self, data: &Bytes) {
        self.first.arrived(self.start);
        let streamed = &mut self.streamed;
        self.decoder.feed_each_raw(data, |name, payload| {
            self.dialect
                .observe(name, payload, &mut self.model, &mut self.usage);
            self.whole = self.whole || self.dialect.ends_answer(name, payload);
            if let Some(streamed) = streamed {
                *streamed += budget::event_output_tokens(payload);
            }
        });
        if self.first.pending()
            && let Some(model) = &self.model
        {
            // Kept in `model` too: the dialect reads the model only until it has one.
            self.labels.response_model.clone_from(model);
            self.first.record_pending(&self.metrics, &self.labels);
        }
    }

    fn on_end(&mut self) {
        // Ended by the provider before its answer was whole: the trailer tells the client.
        let how = match self.whole {
            true => StreamEnd::Whole,
            false => StreamEnd::Broken(CUT_SHORT),
        };
        self.end(how);
    }

    fn on_error(&mut self, error: &BoxError) -> Option<Bytes> {
        self.end(StreamEnd::Broken(UPSTREAM_RESET));
        Some(
            self.dialect
                .broken_stream_event(&format!("the provider stream broke off: {error}")),
        )
    }

    fn trailer(&mut self) -> Option<Bytes> {
        (!self.whole).then(|| self.dialect.cut_short_event())
    }

    fn on_abandon(&mut self) {
        self.end(StreamEnd::Broken(CLIENT_GONE));
    }
}

/// Access-log outcomes of streams that did not end whole.
pub(crate) const UPSTREAM_RESET: &str = "upstream_reset";
pub(crate) const CUT_SHORT: &str = "cut_short";
pub(crate) const CLIENT_GONE: &str = "client_gone";
pub(crate) const BUDGET_EXHAUSTED: &str = "budget_exhausted";

/// Completes the facts of a stream that stopped before the provider ended it: the usage
/// the provider reported so far is logged, and a token budget is charged the input (as
/// reported, or as estimated) plus the output streamed until then.
pub(crate) fn settle_unfinished(
    facts: &SharedGenAiFacts,
    labels: &GenAiLabels,
    usage: Option<Usage>,
    streamed: Option<u64>,
    outcome: &'static str,
) {
    {
        let mut facts = facts.lock().unwrap_or_else(|p| p.into_inner());
        facts.response_model = Some(labels.response_model.clone());
        facts.usage = usage;
        facts.stream_end = Some(outcome);
    }
    budget::settle_unfinished(facts, usage, streamed.unwrap_or(0));
}
