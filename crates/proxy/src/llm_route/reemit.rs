//! A provider's event stream re-emitted in the client's format, event by event, ending
//! with the client's terminator, or with an error event in the client's format when the
//! provider breaks off. Translated streams take this path, and so do native streams whose
//! text a guard must see or a token budget may cut.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::Response;
use http::header::{self, HeaderValue};
use http_body::{Body, Frame, SizeHint};
use llm::sse::Event;
use llm::translate::EventTranslator;

use crate::body::{BoxBody, BoxError, boxed};
use crate::gen_ai_metrics::{GenAiLabels, SharedGenAiFacts};
use crate::llm_route::budget::{self, PendingBudget};
use crate::llm_route::settle;
use crate::llm_route::stream_accounting::{
    BUDGET_EXHAUSTED, CLIENT_GONE, FirstToken, StreamEnd, UPSTREAM_RESET, settle_unfinished,
};
use crate::llm_route::wire::FrameDecoder;
use crate::metrics::Metrics;

/// What a re-emitted stream needs besides the provider's body.
pub(crate) struct StreamParts {
    pub frames: FrameDecoder,
    pub translator: Box<dyn EventTranslator>,
    pub labels: GenAiLabels,
    pub start: Instant,
    pub metrics: Arc<Metrics>,
    pub facts: SharedGenAiFacts,
}

impl StreamParts {
    /// The client's streamed answer: the provider's body re-emitted event by event.
    pub fn respond(self, mut parts: http::response::Parts, body: BoxBody) -> Response<BoxBody> {
        parts.headers.remove(header::CONTENT_LENGTH);
        parts.headers.remove(header::TRANSFER_ENCODING);
        parts.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        let budgeted = self
            .facts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .budget
            .is_some();
        let stream = ReemittedStream {
            inner: body,
            frames: self.frames,
            emitter: Emitter {
                translator: self.translator,
                pending: VecDeque::new(),
                done: false,
                labels: self.labels,
                start: self.start,
                first: FirstToken::default(),
                budget: budget::stream_watch(&self.facts),
                streamed_tokens: budgeted.then_some(0),
                metrics: self.metrics,
                facts: self.facts,
            },
        };
        Response::from_parts(parts, boxed(stream))
    }
}

struct ReemittedStream {
    inner: BoxBody,
    frames: FrameDecoder,
    emitter: Emitter,
}

/// What the events become, and the stream's bookkeeping: apart from the decoder, so the
/// decoder can hand each event over borrowed.
struct Emitter {
    translator: Box<dyn EventTranslator>,
    pending: VecDeque<Bytes>,
    done: bool,
    labels: GenAiLabels,
    start: Instant,
    first: FirstToken,
    metrics: Arc<Metrics>,
    facts: SharedGenAiFacts,
    /// A token budget that ends the stream once it is overrun.
    budget: Option<Arc<PendingBudget>>,
    /// Output tokens streamed so far, estimated, when a token budget waits for the usage
    /// (to cut the stream, or to charge a client that leaves mid-answer).
    streamed_tokens: Option<u64>,
}

impl Emitter {
    /// Appends what one provider event becomes to `out`; the stream ends after the
    /// client's terminator, or once the budget is overrun.
    fn event(&mut self, event: &Event, out: &mut String) {
        if self.done {
            return;
        }
        let from = out.len();
        self.translator.write_event(event, out);
        if self.over_budget(&out[from..]) {
            let message = format!(
                "token budget exhausted after about {} streamed tokens; the answer was cut",
                self.streamed_tokens.unwrap_or(0)
            );
            out.push_str(&self.translator.error(&message));
            self.finish(StreamEnd::Broken(BUDGET_EXHAUSTED));
        } else if self.translator.finished() {
            self.finish(StreamEnd::Whole);
        }
    }

    /// Counts the tokens of the text just produced (when a budget waits for them), and
    /// says whether they take the stream past a budget that cuts streams.
    fn over_budget(&mut self, text: &str) -> bool {
        let Some(streamed) = &mut self.streamed_tokens else {
            return false;
        };
        *streamed += budget::output_tokens(text);
        self.budget
            .as_ref()
            .is_some_and(|budget| budget.overrun(*streamed))
    }

    /// Once the first read of the provider's body has been translated, the stream's model
    /// is known (when the provider names it up front), and so the labels of its time to
    /// first token.
    fn first_read_done(&mut self) {
        if self.first.pending() {
            self.labels.response_model = self.translator.model().to_string();
            self.first.record_pending(&self.metrics, &self.labels);
        }
    }

    /// Ends the stream with an error event in the client's format.
    fn fail(&mut self, message: &str) {
        let text = self.translator.error(message);
        self.push(text);
        self.finish(StreamEnd::Broken(UPSTREAM_RESET));
    }

    fn finish(&mut self, how: StreamEnd) {
        self.done = true;
        self.labels.response_model = self.translator.model().to_string();
        self.first.record_pending(&self.metrics, &self.labels);
        if let StreamEnd::Broken(outcome) = how {
            self.labels.error_type = Some(outcome.to_string());
        }
        let usage = self.translator.usage();
        self.metrics
            .gen_ai
            .record(&self.labels, usage, self.start.elapsed());
        match how {
            StreamEnd::Whole => settle(&self.facts, &self.labels, usage),
            StreamEnd::Broken(outcome) => settle_unfinished(
                &self.facts,
                &self.labels,
                usage,
                self.streamed_tokens,
                outcome,
            ),
        }
    }

    fn push(&mut self, text: String) {
        if !text.is_empty() {
            self.pending.push_back(Bytes::from(text));
        }
    }
}

impl Body for ReemittedStream {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let emitter = &mut this.emitter;
        loop {
            if let Some(bytes) = emitter.pending.pop_front() {
                return Poll::Ready(Some(Ok(Frame::data(bytes))));
            }
            if emitter.done {
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let Some(data) = frame.data_ref() else {
                        continue;
                    };
                    emitter.first.arrived(emitter.start);
                    // What one read of the provider's body becomes goes out as one frame:
                    // a frame per event cost a trip through the body and the encoder each.
                    // Room for what the read becomes (chunks run larger than the events
                    // they come from), so the frames are not copied as they grow.
                    let mut out = String::with_capacity(2 * data.len());
                    let fed = this
                        .frames
                        .feed_each(data, |event| emitter.event(event, &mut out));
                    emitter.push(out);
                    emitter.first_read_done();
                    if let Err(error) = fed {
                        emitter.fail(&format!("the provider's stream could not be read: {error}"));
                    }
                }
                Poll::Ready(Some(Err(error))) => {
                    emitter.fail(&format!("the provider stream broke off: {error}"));
                }
                Poll::Ready(None) => {
                    // A provider that ends without its terminator still gets the client a clean end.
                    let text = emitter.translator.finish();
                    emitter.push(text);
                    emitter.finish(StreamEnd::Whole);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.emitter.done && self.emitter.pending.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

impl Drop for ReemittedStream {
    /// A stream dropped before its end: the client went away mid-answer.
    fn drop(&mut self) {
        if !self.emitter.done {
            self.emitter.finish(StreamEnd::Broken(CLIENT_GONE));
        }
    }
}
