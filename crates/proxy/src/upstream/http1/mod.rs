//! HTTP/1.1 to a backend, driven by the request that uses the connection.
//!
//! hyper's client connection runs in a task of its own and hands each request and response
//! across channels, waking two tasks per exchange. Here the request's task writes the
//! request and reads the response head, and the response body reads from the socket as it
//! is polled, so a proxied request is one task and no channels. While the request body is
//! still being written the response is read too: a backend that answers early (a 413, say)
//! is heard, and the rest of the body is not sent. HTTP/2 stays with hyper (`pool.rs`).

mod body;
mod head;
#[cfg(test)]
mod tests;
mod upload;

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::BytesMut;
use http::{Method, Request, Response};
use http_body::Body as _;

pub use body::{BodyError, Release, ResponseBody};
use head::{RequestFraming, ResponseHead};
use upload::{Replay, Upload, UploadError};

use crate::body::{BoxBody, BoxError, full};
use crate::tunnel::SwitchedConnection;
use crate::upstream::connector::UpstreamStream;

/// A response head longer than this is refused.
const MAX_HEAD: usize = 64 * 1024;
/// Bytes asked of the socket per read.
const READ_SIZE: usize = 8 * 1024;
/// A write buffer grown past this by a large request is not kept for the next one.
const KEEP_WRITE_BUFFER: usize = 64 * 1024;

/// One HTTP/1.1 connection to a backend, idle between requests.
pub struct Connection {
    io: UpstreamStream,
    /// Bytes read from the backend and not consumed yet.
    read_buf: BytesMut,
    /// Encoded request bytes waiting to be written; reused across requests.
    out: Vec<u8>,
}

/// Why a request got no response.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The connection failed before the backend can have acted on the request, which is
    /// handed back whole to be sent on another connection.
    #[error("{reason}")]
    Unsent {
        request: Box<Request<BoxBody>>,
        reason: String,
    },
    /// The connection closed (or was reset) after the request, or part of it, went out
    /// and before a byte of answer came: the backend may or may not have acted on it.
    #[error("{0}")]
    Unanswered(String),
    #[error("{0}")]
    Failed(String),
    /// The client's body could not be read: it went away mid-body (`gone`), or sent one
    /// that is not valid HTTP (a malformed chunk).
    #[error("{reason}")]
    ClientBody { reason: String, gone: bool },
}

/// Whether a failure to read the client's body is the client hanging up (its connection
/// closed or reset, its HTTP/2 stream cancelled) rather than a body that is not valid HTTP.
fn client_went_away(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if let Some(hyper) = error.downcast_ref::<hyper::Error>()
            && (hyper.is_incomplete_message() || hyper.is_canceled() || hyper.is_closed())
        {
            return true;
        }
        if let Some(io) = error.downcast_ref::<io::Error>()
            && matches!(
                io.kind(),
                io::ErrorKind::UnexpectedEof
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
            )
        {
            return true;
        }
        cause = error.source();
    }
    false
}

/// How the exchange before the response head ended badly.
enum Failure {
    Write(io::Error),
    /// The backend closed the connection (or reset it) before a whole response head.
    Closed {
        read_nothing: bool,
        reason: String,
    },
    Body(BoxError),
    Head(String),
}

impl Connection {
    pub fn new(io: UpstreamStream) -> Self {
        Self {
            io,
            read_buf: BytesMut::new(),
            out: Vec::new(),
        }
    }

    /// Whether an idle connection can take a request: the backend has not closed it and
    /// sent nothing unasked. Costs no system call while the socket has had no news.
    pub fn is_usable(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        let tcp = match &self.io {
            UpstreamStream::Plain(tcp) => tcp,
            UpstreamStream::Tls(tls) => tls.get_ref().0,
        };
        if tcp.poll_read_ready(&mut cx).is_pending() {
            return true;
        }
        // Something arrived: the end of the stream, stray bytes, or (on TLS) a session
        // ticket that the TLS layer takes by itself and that leaves the connection usable.
        matches!(self.poll_fill(&mut cx), Poll::Pending)
    }

    /// Reads more of the backend's bytes into `read_buf`; Ok(0) is the end of the stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.read_buf.capacity() - self.read_buf.len() < READ_SIZE / 8 {
            self.read_buf.reserve(READ_SIZE);
        }
        tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.read_buf)
    }

    /// Sends `request` (its URI in absolute form) and reads the response head. The body
    /// that comes back gives this connection to `release` once read to its end, if the
    /// connection can carry another request then.
    pub async fn send<R: Release>(
        mut self,
        request: Request<BoxBody>,
        release: R,
    ) -> Result<Response<ResponseBody<R>>, SendError> {
        let (parts, body) = request.into_parts();
        let framing = RequestFraming::of(
            &parts.method,
            parts.headers.contains_key(http::header::CONTENT_LENGTH),
            body.is_end_stream(),
            body.size_hint().exact(),
        );
        self.out.clear();
        head::encode_request(&mut self.out, &parts, framing);
        let mut upload = Upload::new(body, framing);
        // The pipeline forwards `Upgrade` only for a WebSocket handshake it can tunnel.
        let asks_switch = parts.headers.contains_key(http::header::UPGRADE);
        let outcome =
            std::future::poll_fn(|cx| self.exchange(&mut upload, &parts.method, asks_switch, cx))
                .await;
        if self.out.capacity() > KEEP_WRITE_BUFFER {
            self.out = Vec::new();
        }
        let head = match outcome {
            Ok(head) => head,
            Err(failure) => return Err(failed(failure, parts, upload)),
        };
        if head.status == http::StatusCode::SWITCHING_PROTOCOLS {
            // The connection now carries the new protocol: it leaves HTTP, and the pool.
            let switched = SwitchedConnection::new(self.io, self.read_buf.freeze());
            let mut response = Response::new(ResponseBody::ended());
            *response.status_mut() = head.status;
            *response.version_mut() = head.version;
            *response.headers_mut() = head.headers;
            response.extensions_mut().insert(switched);
            return Ok(response);
        }
        // A backend that answered before the whole request was sent gets no more of it,
        // and the connection, left mid-request, is not used again.
        let reusable = head.keep_alive && upload.is_complete();
        let mut response = Response::new(ResponseBody::new(
            self,
            head.framing,
            reusable.then_some(release),
        ));
        *response.status_mut() = head.status;
        *response.version_mut() = head.version;
        *response.headers_mut() = head.headers;
        Ok(response)
    }

    /// Writes what can be written and reads until a final response head is complete.
    fn exchange(
        &mut self,
        upload: &mut Upload,
        method: &Method,
        asks_switch: bool,
        cx: &mut Context<'_>,
    ) -> Poll<Result<ResponseHead, Failure>> {
        loop {
            if let Err(error) = upload.poll_send(&mut self.io, &mut self.out, cx) {
                match error {
                    UploadError::Body(error) => return Poll::Ready(Err(Failure::Body(error))),
                    // The backend may have answered before it stopped reading; look for that.
                    UploadError::Write(error) => upload.abandon(error),
                }
            }
            match head::parse_response(&mut self.read_buf, method) {
                // A switch is followed only when the request asked for it and is sent whole:
                // what comes after the 101 is no longer HTTP.
                Ok(Some(head)) if head.status == http::StatusCode::SWITCHING_PROTOCOLS => {
                    if asks_switch && upload.is_complete() {
                        return Poll::Ready(Ok(head));
                    }
                    return Poll::Ready(Err(Failure::Head(
                        "the backend switched protocols (101) unasked, which is not proxied".into(),
                    )));
                }
                // An interim answer (100 Continue, 103 Early Hints) is passed over.
                Ok(Some(head)) if head.status.is_informational() => continue,
                Ok(Some(head)) => return Poll::Ready(Ok(head)),
                Ok(None) if self.read_buf.len() > MAX_HEAD => {
                    return Poll::Ready(Err(Failure::Head(format!(
                        "the backend's response head is longer than {MAX_HEAD} bytes"
                    ))));
                }
                Ok(None) => {}
                Err(reason) => return Poll::Ready(Err(Failure::Head(reason))),
            }
            let read_nothing = self.read_buf.is_empty();
            match self.poll_fill(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(match upload.take_write_error() {
                        Some(error) if read_nothing => Failure::Write(error),
                        _ => Failure::Closed {
                            read_nothing,
                            reason: "the backend closed the connection before answering".into(),
                        },
                    }));
                }
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(error)) => {
                    return Poll::Ready(Err(Failure::Closed {
                        read_nothing,
                        reason: format!("reading the response from the backend failed: {error}"),
                    }));
                }
            }
        }
    }
}

/// The error for a failed exchange, with the request handed back when sending it again
/// cannot repeat anything the backend did: the first write failed, or the connection
/// closed without a byte of answer to a request that is safe to repeat.
fn failed(failure: Failure, parts: http::request::Parts, upload: Upload) -> SendError {
    let idempotent = parts.method.is_idempotent();
    let retry = match &failure {
        Failure::Write(_) => !upload.sent_any() || idempotent,
        Failure::Closed { read_nothing, .. } => *read_nothing && idempotent,
        Failure::Body(_) | Failure::Head(_) => false,
    };
    let body = match upload.into_replay() {
        Replay::Whole(bytes) if retry => Some(full(bytes)),
        Replay::Untouched(body) if retry => Some(body),
        _ => None,
    };
    if let Failure::Body(error) = &failure {
        // The client's fault, not the backend's: it went away, or sent a broken body.
        return SendError::ClientBody {
            gone: client_went_away(error.as_ref()),
            reason: format!("reading the request body from the client failed: {error}"),
        };
    }
    let unanswered = matches!(
        failure,
        Failure::Write(_)
            | Failure::Closed {
                read_nothing: true,
                ..
            }
    );
    let reason = match failure {
        Failure::Write(error) => format!("writing the request to the backend failed: {error}"),
        Failure::Closed { reason, .. } => reason,
        Failure::Body(error) => format!("reading the request body from the client failed: {error}"),
        Failure::Head(reason) => reason,
    };
    match body {
        Some(body) => SendError::Unsent {
            request: Box::new(Request::from_parts(parts, body)),
            reason,
        },
        None if unanswered => SendError::Unanswered(reason),
        None => SendError::Failed(reason),
    }
}
