//! RequestMirror: a copy of the request goes to another backend; its answer is ignored and
//! it can never slow down or fail the real request.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Request;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

use crate::body::{BoxBody, BoxError};
use crate::observed::{Observed, Observer};

/// How many body chunks may wait for a slow mirror before the mirror is abandoned.
const MIRROR_BUFFER: usize = 32;

/// One mirror's end of the tee, and whether its copy was cut off (it fell behind, or the
/// real body failed or was abandoned): the mirror's request is then aborted rather than
/// ended as if the body were whole.
struct Copy {
    tx: mpsc::Sender<Bytes>,
    cut: Arc<AtomicBool>,
}

impl Copy {
    fn cut_off(&self) {
        self.cut.store(true, Ordering::Release);
    }
}

/// Hands each chunk of the real body to the mirrors.
struct Tee {
    copies: Vec<Copy>,
}

impl Tee {
    fn cut_all(&mut self) {
        for copy in self.copies.drain(..) {
            copy.cut_off();
        }
    }
}

impl Observer for Tee {
    fn on_data(&mut self, data: &Bytes) {
        // A full or closed mirror is dropped: the real request never waits for it.
        self.copies.retain(|copy| {
            let sent = copy.tx.try_send(data.clone()).is_ok();
            if !sent {
                copy.cut_off();
            }
            sent
        });
    }

    fn on_end(&mut self) {
        self.copies.clear();
    }

    fn on_error(&mut self, _: &BoxError) -> Option<Bytes> {
        self.cut_all();
        None
    }

    fn on_abandon(&mut self) {
        self.cut_all();
    }
}

/// The mirror's side of the tee: ends when the real body ends, fails when its copy was cut
/// off, and announces the real body's length so the mirror can tell a short body too.
struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
    cut: Arc<AtomicBool>,
    size: SizeHint,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(chunk)) => Poll::Ready(Some(Ok(Frame::data(chunk)))),
            Poll::Ready(None) if self.cut.load(Ordering::Acquire) => Poll::Ready(Some(Err(
                "the mirrored copy of the body was cut off (the mirror fell behind, or the client's body failed)".into(),
            ))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn size_hint(&self) -> SizeHint {
        self.size
    }
}

/// Splits `body` into the body for the real request and one body per mirror.
pub fn tee(body: BoxBody, mirrors: usize) -> (BoxBody, Vec<BoxBody>) {
    if body.is_end_stream() {
        let copies = (0..mirrors).map(|_| crate::body::empty()).collect();
        return (body, copies);
    }
    let size = match body.size_hint().exact() {
        Some(length) => SizeHint::with_exact(length),
        None => SizeHint::default(),
    };
    let mut copies = Vec::with_capacity(mirrors);
    let mut bodies = Vec::with_capacity(mirrors);
    for _ in 0..mirrors {
        let (tx, rx) = mpsc::channel(MIRROR_BUFFER);
        let cut = Arc::new(AtomicBool::new(false));
        copies.push(Copy {
            tx,
            cut: cut.clone(),
        });
        bodies.push(http_body_util::BodyExt::boxed(ChannelBody {
            rx,
            cut,
            size,
        }));
    }
    let main = http_body_util::BodyExt::boxed(Observed::new(body, Tee { copies }));
    (main, bodies)
}

/// How many mirrored requests may be in flight at once, in the whole process: a mirror
/// that stops answering holds a connection per request, and must not run the gateway out
/// of them. Past this, requests are not mirrored.
const MAX_IN_FLIGHT: usize = 256;

static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// A place among the mirrored requests in flight, given back when dropped.
pub struct InFlight(());

impl InFlight {
    /// None when `MAX_IN_FLIGHT` mirrored requests are already on their way.
    pub fn take() -> Option<Self> {
        IN_FLIGHT
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_IN_FLIGHT).then_some(n + 1)
            })
            .ok()
            .map(|_| Self(()))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
    }
}

/// How long a mirrored request may take when the route sets no timeout.
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A copy of the request head with a new body.
pub fn copy_request(parts: &http::request::Parts, body: BoxBody) -> Request<BoxBody> {
    let mut request = Request::new(body);
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = parts.uri.clone();
    *request.version_mut() = parts.version;
    *request.headers_mut() = parts.headers.clone();
    request
}
