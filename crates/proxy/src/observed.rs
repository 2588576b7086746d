//! One body wrapper for every place that needs to watch a body go by: access logging,
//! returning pooled connections, mirroring, reading LLM usage from streams. Each supplies
//! only what it does with the data and at the end.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use crate::body::BoxError;

/// What a watcher does as a body passes.
pub trait Observer: Send + Sync + 'static {
    /// Whether `on_error` may append a frame; such bodies report no exact size.
    const MAY_APPEND: bool = false;

    /// Each data chunk, as it passes.
    fn on_data(&mut self, _data: &Bytes) {}

    /// Once, when the body has ended cleanly.
    fn on_end(&mut self) {}

    /// Once, when the inner body fails. Returning bytes ends the body cleanly with them
    /// (e.g. an error event) instead of passing the failure on.
    fn on_error(&mut self, _error: &BoxError) -> Option<Bytes> {
        None
    }

    /// Once, after `on_end`: bytes to send after the body's own (e.g. an error event for a
    /// stream that ended cleanly but too early). Only asked when `MAY_APPEND`.
    fn trailer(&mut self) -> Option<Bytes> {
        None
    }

    /// Once, when the body is dropped before it ended or failed: the client went away
    /// mid-body (its connection closed, its HTTP/2 stream was reset).
    fn on_abandon(&mut self) {}
}

pin_project_lite::pin_project! {
    pub struct Observed<B, O: Observer> {
        #[pin]
        inner: B,
        observer: O,
        finished: bool,
        // The observer's trailer, still to be sent after the inner body ended.
        trailer: Option<Bytes>,
    }

    // Runs before the fields are dropped, so an observer wrapped inside another (the LLM
    // usage inside the access log) has had its say when the outer one writes its record.
    impl<B, O: Observer> PinnedDrop for Observed<B, O> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if !*this.finished {
                this.observer.on_abandon();
            }
        }
    }
}

impl<B, O: Observer> Observed<B, O> {
    pub fn new(inner: B, observer: O) -> Self {
        Self {
            inner,
            observer,
            finished: false,
            trailer: None,
        }
    }
}

impl<B, O> Body for Observed<B, O>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
    O: Observer,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        if *this.finished {
            return Poll::Ready(this.trailer.take().map(|last| Ok(Frame::data(last))));
        }
        match this.inner.as_mut().poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.observer.on_data(data);
                }
                // The server stops polling once a body says it has ended, so the end is
                // noticed here rather than waiting for a `None` that never comes.
                if this.inner.is_end_stream() {
                    *this.finished = true;
                    this.observer.on_end();
                    if O::MAY_APPEND {
                        *this.trailer = this.observer.trailer();
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => {
                *this.finished = true;
                let error = error.into();
                match this.observer.on_error(&error) {
                    Some(last) => Poll::Ready(Some(Ok(Frame::data(last)))),
                    None => Poll::Ready(Some(Err(error))),
                }
            }
            Poll::Ready(None) => {
                *this.finished = true;
                this.observer.on_end();
                let last = if O::MAY_APPEND {
                    this.observer.trailer()
                } else {
                    None
                };
                Poll::Ready(last.map(|last| Ok(Frame::data(last))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        match self.finished {
            true => self.trailer.is_none(),
            false => !O::MAY_APPEND && self.inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        if O::MAY_APPEND {
            SizeHint::default()
        } else {
            self.inner.size_hint()
        }
    }
}
