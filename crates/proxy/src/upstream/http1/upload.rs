//! Writing a request: its head, then its body as the client supplies it, framed by length
//! or in chunks. Small frames are copied behind the head so that a JSON request leaves in
//! one write; large ones are written from their own buffer.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http_body::Body as _;
use tokio::io::AsyncWrite;

use super::head::{RequestFraming, push_hex};
use crate::body::{BoxBody, BoxError};
use crate::upstream::connector::UpstreamStream;

/// Frames up to this size are copied into the write buffer.
const COPY_LIMIT: usize = 16 * 1024;

/// What is left to send the request again elsewhere.
pub(super) enum Replay {
    /// The body was never read (it had nothing to give).
    Untouched(BoxBody),
    /// The body so far is this one frame.
    Whole(Bytes),
    /// More than one frame was read: the body cannot be had again.
    Gone,
}

pub(super) enum UploadError {
    Write(io::Error),
    /// The client's body failed or did not match its declared length.
    Body(BoxError),
}

pub(super) struct Upload {
    /// None once the body has been read to its end, or given up.
    body: Option<BoxBody>,
    framing: RequestFraming,
    /// Bytes a sized body still owes.
    left: u64,
    /// How much of the write buffer has been written.
    written: usize,
    /// A large frame, written after the write buffer.
    frame: Bytes,
    /// A chunk's closing CRLF is still to be written.
    crlf_due: bool,
    flushed: bool,
    replay: Replay,
    frames: u32,
    /// The body has been read to its end.
    ended: bool,
    /// Some byte of the request has been written.
    sent_any: bool,
    /// Writing failed; the response may still be read.
    write_error: Option<io::Error>,
    abandoned: bool,
}

impl Upload {
    pub(super) fn new(body: BoxBody, framing: RequestFraming) -> Self {
        let left = match framing {
            RequestFraming::Sized(length) => length,
            RequestFraming::None | RequestFraming::Chunked => 0,
        };
        let ended = body.is_end_stream();
        let (body, replay) = if ended {
            (None, Replay::Untouched(body))
        } else {
            (Some(body), Replay::Gone)
        };
        Self {
            body,
            framing,
            left,
            written: 0,
            frame: Bytes::new(),
            crlf_due: false,
            flushed: false,
            replay,
            frames: 0,
            ended,
            sent_any: false,
            write_error: None,
            abandoned: false,
        }
    }

    /// The whole request has been written.
    pub(super) fn is_complete(&self) -> bool {
        !self.abandoned && self.body.is_none() && self.frame.is_empty() && self.flushed
    }

    /// Stops sending: the backend stopped reading (a failed write) or has answered.
    pub(super) fn abandon(&mut self, error: io::Error) {
        self.write_error = Some(error);
        self.abandoned = true;
        self.body = None;
        self.frame = Bytes::new();
    }

    pub(super) fn take_write_error(&mut self) -> Option<io::Error> {
        self.write_error.take()
    }

    /// Whether some byte of the request reached the socket.
    pub(super) fn sent_any(&self) -> bool {
        self.sent_any
    }

    /// The request body as it can be sent again: only a body read to its end can.
    pub(super) fn into_replay(self) -> Replay {
        if self.ended {
            self.replay
        } else {
            Replay::Gone
        }
    }

    /// Encodes the frames the body has ready and writes as much as the socket takes.
    /// Returns Ok when nothing more can be done now (the waker is registered) or all is sent.
    pub(super) fn poll_send(
        &mut self,
        io: &mut UpstreamStream,
        out: &mut Vec<u8>,
        cx: &mut Context<'_>,
    ) -> Result<(), UploadError> {
        if self.abandoned {
            return Ok(());
        }
        loop {
            let body_waiting = self.take_ready_frames(out, cx)?;
            while self.written < out.len() {
                match write(io, &out[self.written..], cx)? {
                    Some(n) => {
                        self.written += n;
                        self.sent_any = true;
                    }
                    None => return Ok(()),
                }
            }
            out.clear();
            self.written = 0;
            while !self.frame.is_empty() {
                match write(io, &self.frame, cx)? {
                    Some(n) => {
                        self.frame.advance(n);
                        self.sent_any = true;
                    }
                    None => return Ok(()),
                }
            }
            if self.body.is_none() {
                if !self.flushed {
                    match Pin::new(&mut *io).poll_flush(cx) {
                        Poll::Ready(Ok(())) => self.flushed = true,
                        Poll::Ready(Err(error)) => return Err(UploadError::Write(error)),
                        Poll::Pending => {}
                    }
                }
                return Ok(());
            }
            if body_waiting {
                return Ok(());
            }
        }
    }

    /// Reads the frames the body has ready while little waits to be written; true when
    /// the body has nothing more yet.
    fn take_ready_frames(
        &mut self,
        out: &mut Vec<u8>,
        cx: &mut Context<'_>,
    ) -> Result<bool, UploadError> {
        while self.frame.is_empty() && out.len() - self.written < COPY_LIMIT {
            let Some(body) = self.body.as_mut() else {
                return Ok(false);
            };
            match Pin::new(&mut *body).poll_frame(cx) {
                Poll::Pending => return Ok(true),
                Poll::Ready(None) => self.end(out)?,
                Poll::Ready(Some(Err(error))) => return Err(UploadError::Body(error)),
                Poll::Ready(Some(Ok(frame))) => {
                    let ended = body.is_end_stream();
                    // Trailers have no place in an HTTP/1.1 request we send; they are dropped.
                    if let Ok(data) = frame.into_data() {
                        self.push(out, data)?;
                    }
                    if ended {
                        self.end(out)?;
                    }
                }
            }
        }
        Ok(false)
    }

    fn push(&mut self, out: &mut Vec<u8>, data: Bytes) -> Result<(), UploadError> {
        if data.is_empty() {
            return Ok(());
        }
        self.frames += 1;
        self.replay = if self.frames == 1 {
            Replay::Whole(data.clone())
        } else {
            Replay::Gone
        };
        match self.framing {
            RequestFraming::Sized(_) => {
                let length = data.len() as u64;
                if length > self.left {
                    return Err(UploadError::Body(
                        "the request body is longer than its content-length".into(),
                    ));
                }
                self.left -= length;
            }
            RequestFraming::Chunked => {
                if self.crlf_due {
                    out.extend_from_slice(b"\r\n");
                }
                push_hex(out, data.len() as u64);
                out.extend_from_slice(b"\r\n");
                self.crlf_due = true;
            }
            RequestFraming::None => {
                return Err(UploadError::Body(
                    "a request without a body gave data".into(),
                ));
            }
        }
        if data.len() <= COPY_LIMIT {
            out.extend_from_slice(&data);
        } else {
            self.frame = data;
        }
        Ok(())
    }

    fn end(&mut self, out: &mut Vec<u8>) -> Result<(), UploadError> {
        self.body = None;
        self.ended = true;
        if self.frames == 0 {
            self.replay = Replay::Whole(Bytes::new());
        }
        match self.framing {
            RequestFraming::Sized(_) if self.left > 0 => Err(UploadError::Body(
                format!(
                    "the request body ended {} bytes short of its content-length",
                    self.left
                )
                .into(),
            )),
            RequestFraming::Chunked => {
                if self.crlf_due {
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n\r\n");
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// One write; None when the socket is full (the waker is registered).
fn write(
    io: &mut UpstreamStream,
    bytes: &[u8],
    cx: &mut Context<'_>,
) -> Result<Option<usize>, UploadError> {
    match Pin::new(io).poll_write(cx, bytes) {
        Poll::Ready(Ok(0)) => Err(UploadError::Write(io::ErrorKind::WriteZero.into())),
        Poll::Ready(Ok(n)) => Ok(Some(n)),
        Poll::Ready(Err(error)) => Err(UploadError::Write(error)),
        Poll::Pending => Ok(None),
    }
}
