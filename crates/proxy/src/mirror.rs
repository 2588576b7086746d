//! RequestMirror: a copy of the request goes to another backend; its answer is ignored and
//! it can never slow down or fail the real request.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Request;
use http_body::{Body, Frame};
use tokio::sync::mpsc;

use crate::body::{BoxBody, BoxError};
use crate::observed::{Observed, Observer};

/// How many body chunks may wait for a slow mirror before the mirror is abandoned.
const MIRROR_BUFFER: usize = 32;

/// Hands each chunk of the real body to the mirrors.
struct Tee {
    copies: Vec<mpsc::Sender<Bytes>>,
}

impl Observer for Tee {
    fn on_data(&mut self, data: &Bytes) {
        // A full or closed mirror is dropped: the real request never waits for it.
        self.copies.retain(|tx| tx.try_send(data.clone()).is_ok());
    }

    fn on_end(&mut self) {
        self.copies.clear();
    }

    fn on_error(&mut self, _: &BoxError) -> Option<Bytes> {
        self.copies.clear();
        None
    }
}

/// The mirror's side of the tee: ends when the real body ends.
struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.rx
            .poll_recv(cx)
            .map(|chunk| chunk.map(|b| Ok(Frame::data(b))))
    }
}

/// Splits `body` into the body for the real request and one body per mirror.
pub fn tee(body: BoxBody, mirrors: usize) -> (BoxBody, Vec<BoxBody>) {
    if body.is_end_stream() {
        let copies = (0..mirrors).map(|_| crate::body::empty()).collect();
        return (body, copies);
    }
    let mut senders = Vec::with_capacity(mirrors);
    let mut bodies = Vec::with_capacity(mirrors);
    for _ in 0..mirrors {
        let (tx, rx) = mpsc::channel(MIRROR_BUFFER);
        senders.push(tx);
        bodies.push(http_body_util::BodyExt::boxed(ChannelBody { rx }));
    }
    let main = http_body_util::BodyExt::boxed(Observed::new(body, Tee { copies: senders }));
    (main, bodies)
}

/// A copy of the request head with a new body.
pub fn copy_request(parts: &http::request::Parts, body: BoxBody) -> Request<BoxBody> {
    let mut request = Request::new(body);
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = parts.uri.clone();
    *request.version_mut() = parts.version;
    *request.headers_mut() = parts.headers.clone();
    request
}
