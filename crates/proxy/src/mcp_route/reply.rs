//! Turning MCP replies into HTTP answers: JSON, server-sent events, JSON-RPC errors.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body::{Body, Frame};
use mcp::jsonrpc::Message;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::body::{BoxBody, BoxError, boxed, empty, full};

pub(crate) fn json(status: StatusCode, message: &Message) -> Response<BoxBody> {
    let mut response = Response::new(full(message.to_json()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A JSON-RPC error not tied to a request (`id: null`), with an HTTP status.
pub(crate) fn error(
    status: StatusCode,
    code: i64,
    message: impl Into<String>,
) -> Response<BoxBody> {
    json(status, &Message::error_for(Value::Null, code, message))
}

pub(crate) fn accepted() -> Response<BoxBody> {
    let mut response = Response::new(empty());
    *response.status_mut() = StatusCode::ACCEPTED;
    response
}

/// An event stream of messages; `first` events (e.g. the legacy `endpoint`) come before them.
pub(crate) fn events(first: Option<Bytes>, messages: mpsc::Receiver<Message>) -> Response<BoxBody> {
    let mut response = Response::new(boxed(EventBody {
        first,
        messages,
        on_close: None,
    }));
    set_event_headers(&mut response);
    response
}

/// Like [`events`], running `on_close` when the client goes away or the stream ends.
pub(crate) fn events_with_close(
    first: Option<Bytes>,
    messages: mpsc::Receiver<Message>,
    on_close: Box<dyn FnOnce() + Send + Sync>,
) -> Response<BoxBody> {
    let mut response = Response::new(boxed(EventBody {
        first,
        messages,
        on_close: Some(on_close),
    }));
    set_event_headers(&mut response);
    response
}

fn set_event_headers(response: &mut Response<BoxBody>) {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
}

/// One SSE `message` event.
pub(crate) fn event(message: &Message) -> Bytes {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(b"event: message\ndata: ");
    out.extend_from_slice(&message.to_json());
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

struct EventBody {
    first: Option<Bytes>,
    messages: mpsc::Receiver<Message>,
    on_close: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl Drop for EventBody {
    fn drop(&mut self) {
        if let Some(on_close) = self.on_close.take() {
            on_close();
        }
    }
}

impl Body for EventBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(Frame::data(first))));
        }
        match self.messages.poll_recv(cx) {
            Poll::Ready(Some(message)) => Poll::Ready(Some(Ok(Frame::data(event(&message))))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}
