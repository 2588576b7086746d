//! One access-log line and one metric sample per request, written when the response body
//! ends (or is dropped), so durations and byte counts cover the whole stream.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::body::BoxError;
use crate::gen_ai_metrics::SharedGenAiFacts;
use crate::metrics::RequestSeries;
use crate::observed::Observer;
use crate::server::idle::Busy;

/// What is known about a request by the time its response starts.
#[derive(Debug)]
pub struct RequestLog {
    pub start: Instant,
    pub method: http::Method,
    pub host: String,
    pub path: Option<http::uri::PathAndQuery>,
    pub status: u16,
    // Names are shared with the configuration: logging them costs a reference count.
    pub gateway: Option<Arc<str>>,
    /// `namespace/gateway/listener`.
    pub listener: Option<Arc<str>>,
    pub route: Option<Arc<str>>,
    pub backend: Option<Arc<str>>,
    pub upstream: Option<SocketAddr>,
    pub client: SocketAddr,
    /// The error kind when the gateway answered on its own behalf.
    pub error: Option<&'static str>,
    pub series: Option<Arc<RequestSeries>>,
    /// Set on LLM routes.
    pub gen_ai: Option<SharedGenAiFacts>,
    /// The API an LLM route's client speaks (set on LLM routes): the gateway's own errors
    /// answer in its shape.
    pub llm_client: Option<llm::ClientApi>,
    /// Set on MCP routes.
    pub mcp: Option<crate::mcp_route::McpLogFacts>,
}

/// Emits the record once: on end of stream, on error, or when the client goes away.
pub struct Finisher {
    record: Option<RequestLog>,
    bytes: u64,
}

impl Finisher {
    fn finish(&mut self, outcome: &'static str) {
        let Some(r) = self.record.take() else { return };
        let elapsed = r.start.elapsed();
        if let Some(series) = &r.series {
            series.record(r.status, elapsed);
        }
        // The metrics above are always kept; the line is built only when it is written.
        if !tracing::enabled!(target: "access", tracing::Level::INFO) {
            return;
        }
        let gen_ai = r
            .gen_ai
            .as_ref()
            .map(|shared| shared.lock().unwrap_or_else(|p| p.into_inner()).clone());
        // A stream that ended badly says how, though the client saw a clean end.
        let outcome = match (outcome, &gen_ai) {
            ("complete", Some(facts)) => facts.stream_end.unwrap_or(outcome),
            _ => outcome,
        };
        let duration_ms = Millis(elapsed);
        let upstream = OrEmpty(r.upstream);
        // One line shape for every request; LLM calls add the GenAI fields.
        macro_rules! access_line {
            ($($extra:tt)*) => {
                tracing::info!(
                    target: "access",
                    method = %r.method,
                    host = %r.host,
                    path = r.path.as_ref().map_or("/", |p| p.as_str()),
                    status = r.status,
                    gateway = r.gateway.as_deref().unwrap_or(""),
                    listener = r.listener.as_deref().unwrap_or(""),
                    route = r.route.as_deref().unwrap_or(""),
                    backend = r.backend.as_deref().unwrap_or(""),
                    upstream = %upstream,
                    client = %r.client,
                    duration_ms = %duration_ms,
                    bytes = self.bytes,
                    error = r.error.unwrap_or(""),
                    outcome,
                    $($extra)*
                )
            };
        }
        if let Some(mcp) = &r.mcp {
            access_line!(
                mcp.method = mcp.method.as_str(),
                mcp.target = mcp.target.as_str(),
                mcp.tool = mcp.tool.as_str(),
                mcp.session = mcp.session.as_str(),
            );
            return;
        }
        match gen_ai {
            None => access_line!(),
            Some(facts) => {
                // Usage nobody reported is left out rather than logged as zero tokens.
                access_line!(
                    gen_ai.provider.name = facts.provider,
                    gen_ai.request.model = facts.request_model.as_str(),
                    gen_ai.response.model = facts.response_model.as_deref().unwrap_or(""),
                    gen_ai.usage.input_tokens = facts.usage.map(|u| u.input),
                    gen_ai.usage.output_tokens = facts.usage.map(|u| u.output),
                )
            }
        }
    }
}

/// Milliseconds with three decimals.
struct Millis(Duration);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.3}", self.0.as_secs_f64() * 1000.0)
    }
}

/// A value, or nothing when there is none.
struct OrEmpty<T>(Option<T>);

impl<T: fmt::Display> fmt::Display for OrEmpty<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(value) => value.fmt(f),
            None => Ok(()),
        }
    }
}

impl Drop for Finisher {
    fn drop(&mut self) {
        self.finish("client_gone");
    }
}

/// A request's record while the gateway works on its answer. Dropped before the answer is
/// ready (the client reset its HTTP/2 stream, or closed the connection, mid-request; the
/// server then drops the request's future), it is written with status 499, as nginx logs
/// a client that closed the request, so no request goes unlogged and uncounted.
pub struct Unanswered(Option<RequestLog>);

/// The status logged for a request the client gave up before its answer.
pub const CLIENT_CLOSED: u16 = 499;

impl Unanswered {
    pub fn new(record: RequestLog) -> Self {
        Self(Some(record))
    }

    /// The record; None only after `answered`.
    pub fn record(&mut self) -> Option<&mut RequestLog> {
        self.0.as_mut()
    }

    /// The record, now that the answer is ready: it is logged with the answer.
    pub fn answered(mut self) -> Option<RequestLog> {
        self.0.take()
    }
}

impl Drop for Unanswered {
    fn drop(&mut self) {
        if let Some(mut record) = self.0.take() {
            record.status = CLIENT_CLOSED;
            Finisher {
                record: Some(record),
                bytes: 0,
            }
            .finish("client_gone");
        }
    }
}

/// Logs when the response body is done.
pub struct AccessLog {
    finisher: Finisher,
    /// Keeps the request counted as in flight on its connection until the body is gone.
    _busy: Busy,
}

impl AccessLog {
    pub fn new(record: RequestLog, busy: Busy) -> Self {
        Self {
            finisher: Finisher {
                record: Some(record),
                bytes: 0,
            },
            _busy: busy,
        }
    }
}

impl AccessLog {
    /// Records the request as complete before its (empty) body is sent.
    pub fn finish_now(&mut self) {
        self.finisher.finish("complete");
    }
}

impl Observer for AccessLog {
    fn on_data(&mut self, data: &Bytes) {
        self.finisher.bytes += data.len() as u64;
    }

    fn on_end(&mut self) {
        self.finisher.finish("complete");
    }

    fn on_error(&mut self, _: &BoxError) -> Option<Bytes> {
        self.finisher.finish("upstream_reset");
        None
    }
}
