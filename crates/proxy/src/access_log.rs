//! One access-log line and one metric sample per request, written when the response body
//! ends (or is dropped), so durations and byte counts cover the whole stream.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use crate::body::{BoxBody, BoxError};
use crate::metrics::RequestSeries;

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
}

/// Emits the record once: on end of stream, on error, or when the client goes away.
struct Finisher {
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
            upstream = %r.upstream.map(|a| a.to_string()).unwrap_or_default(),
            client = %r.client,
            duration_ms = format!("{:.3}", elapsed.as_secs_f64() * 1000.0),
            bytes = self.bytes,
            error = r.error.unwrap_or(""),
            outcome,
        );
    }
}

impl Drop for Finisher {
    fn drop(&mut self) {
        self.finish("client_gone");
    }
}

pin_project_lite::pin_project! {
    /// A response body that logs when it is done.
    pub struct LoggedBody {
        #[pin]
        inner: BoxBody,
        finisher: Finisher,
    }
}

impl LoggedBody {
    pub fn new(inner: BoxBody, record: RequestLog) -> Self {
        Self {
            inner,
            finisher: Finisher {
                record: Some(record),
                bytes: 0,
            },
        }
    }
}

impl Body for LoggedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        let polled = this.inner.as_mut().poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.finisher.bytes += data.len() as u64;
                }
                // The server stops polling once the body says it has ended.
                if this.inner.is_end_stream() {
                    this.finisher.finish("complete");
                }
            }
            Poll::Ready(Some(Err(_))) => this.finisher.finish("upstream_reset"),
            Poll::Ready(None) => this.finisher.finish("complete"),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
