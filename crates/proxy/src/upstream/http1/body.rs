//! A response body read straight from its connection as it is polled, which gives the
//! connection back once the body's last byte is read.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use http_body::{Frame, SizeHint};

use super::Connection;
use super::head::ResponseFraming;
use crate::body::BoxError;

/// Takes back a connection whose response has been read to its end.
pub trait Release: Send + Sync + Unpin + 'static {
    fn release(self, connection: Connection);
}

/// Why a response body could not be read to its end.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the backend closed the connection {0}")]
    Closed(&'static str),
    #[error("reading the response body from the backend failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("the backend's chunked response body is malformed: {0}")]
    Malformed(&'static str),
}

/// Where the reader is in the body's framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decode {
    Sized {
        left: u64,
    },
    /// Before a chunk-size line.
    ChunkSize,
    ChunkData {
        left: u64,
    },
    /// The CRLF after a chunk's data.
    ChunkEnd,
    /// Trailer lines after the last chunk, up to an empty line. They are read and dropped.
    Trailers,
    UntilClose,
    Done,
}

/// A chunk-size line (with any extensions) longer than this is refused.
const MAX_LINE: usize = 4096;

pub struct ResponseBody<R: Release> {
    decode: Decode,
    /// None once the body has ended or failed.
    connection: Option<Connection>,
    /// Some while the connection may go back to its pool at the end.
    release: Option<R>,
}

impl<R: Release> ResponseBody<R> {
    pub(super) fn new(
        connection: Connection,
        framing: ResponseFraming,
        release: Option<R>,
    ) -> Self {
        let decode = match framing {
            ResponseFraming::Empty | ResponseFraming::Sized(0) => Decode::Done,
            ResponseFraming::Sized(left) => Decode::Sized { left },
            ResponseFraming::Chunked => Decode::ChunkSize,
            ResponseFraming::UntilClose => Decode::UntilClose,
        };
        let mut body = Self {
            decode,
            connection: Some(connection),
            release,
        };
        // A framing fault is left in the buffer, to be reported by the first poll.
        if body.settle().is_ok() && body.decode == Decode::Done {
            body.finish();
        }
        body
    }

    /// A body that has ended before it began, on no connection (a 101's).
    pub(super) fn ended() -> Self {
        Self {
            decode: Decode::Done,
            connection: None,
            release: None,
        }
    }

    /// Steps over framing already buffered (chunk sizes, CRLFs, trailers) up to data or
    /// the end, so that a body whose end has arrived says so at once.
    fn settle(&mut self) -> Result<(), BodyError> {
        let Some(connection) = self.connection.as_mut() else {
            return Ok(());
        };
        let buf = &mut connection.read_buf;
        loop {
            match self.decode {
                Decode::ChunkSize => {
                    let Some(line) = line_length(buf)? else {
                        return Ok(());
                    };
                    let size = chunk_size(&buf[..line])?;
                    buf.advance(line);
                    self.decode = if size == 0 {
                        Decode::Trailers
                    } else {
                        Decode::ChunkData { left: size }
                    };
                }
                Decode::ChunkEnd => {
                    if buf.len() < 2 {
                        return Ok(());
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(BodyError::Malformed("a chunk is longer than its size"));
                    }
                    buf.advance(2);
                    self.decode = Decode::ChunkSize;
                }
                Decode::Trailers => {
                    let Some(line) = line_length(buf)? else {
                        return Ok(());
                    };
                    buf.advance(line);
                    if line == 2 {
                        self.decode = Decode::Done;
                    }
                }
                Decode::Sized { .. }
                | Decode::ChunkData { .. }
                | Decode::UntilClose
                | Decode::Done => return Ok(()),
            }
        }
    }

    /// The body's bytes already buffered, up to what the framing allows.
    fn take_data(&mut self) -> Option<Bytes> {
        let buf = &mut self.connection.as_mut()?.read_buf;
        if buf.is_empty() {
            return None;
        }
        let (taken, rest) = match self.decode {
            Decode::Sized { left } | Decode::ChunkData { left } => {
                let taken = usize::try_from(left).map_or(buf.len(), |left| left.min(buf.len()));
                (taken, left - taken as u64)
            }
            Decode::UntilClose => (buf.len(), 0),
            _ => return None,
        };
        let data = buf.split_to(taken).freeze();
        self.decode = match self.decode {
            Decode::Sized { .. } if rest == 0 => Decode::Done,
            Decode::Sized { .. } => Decode::Sized { left: rest },
            Decode::ChunkData { .. } if rest == 0 => Decode::ChunkEnd,
            Decode::ChunkData { .. } => Decode::ChunkData { left: rest },
            other => other,
        };
        Some(data)
    }

    /// The body has been read to its end: the connection goes back if it can carry
    /// another request and nothing unexpected follows the body.
    fn finish(&mut self) {
        self.decode = Decode::Done;
        let Some(connection) = self.connection.take() else {
            return;
        };
        if let Some(release) = self.release.take()
            && connection.read_buf.is_empty()
        {
            release.release(connection);
        }
    }

    fn fail(&mut self, error: BodyError) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.decode = Decode::Done;
        self.connection = None;
        Poll::Ready(Some(Err(error.into())))
    }
}

impl<R: Release> http_body::Body for ResponseBody<R> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        loop {
            if let Err(error) = this.settle() {
                return this.fail(error);
            }
            if this.decode == Decode::Done {
                this.finish();
                return Poll::Ready(None);
            }
            if let Some(data) = this.take_data() {
                if let Err(error) = this.settle() {
                    return this.fail(error);
                }
                if this.decode == Decode::Done {
                    this.finish();
                }
                return Poll::Ready(Some(Ok(Frame::data(data))));
            }
            let Some(connection) = this.connection.as_mut() else {
                return Poll::Ready(None);
            };
            match ready!(connection.poll_fill(cx)) {
                Ok(0) if this.decode == Decode::UntilClose => {
                    this.decode = Decode::Done;
                    this.connection = None;
                    return Poll::Ready(None);
                }
                Ok(0) => {
                    return this.fail(BodyError::Closed("before the response body was complete"));
                }
                Ok(_) => {}
                Err(error) => return this.fail(BodyError::Io(error)),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.decode == Decode::Done
    }

    fn size_hint(&self) -> SizeHint {
        match self.decode {
            Decode::Sized { left } => SizeHint::with_exact(left),
            Decode::Done => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}

/// The length of the CRLF-ended line at the front of `buf`, or None if it has not all arrived.
fn line_length(buf: &[u8]) -> Result<Option<usize>, BodyError> {
    match memchr::memchr(b'\n', buf) {
        Some(end) if end > 0 && buf[end - 1] == b'\r' => Ok(Some(end + 1)),
        Some(_) => Err(BodyError::Malformed("a line ends without CR")),
        None if buf.len() > MAX_LINE => Err(BodyError::Malformed(
            "a chunk-size or trailer line is too long",
        )),
        None => Ok(None),
    }
}

fn chunk_size(line: &[u8]) -> Result<u64, BodyError> {
    match httparse::parse_chunk_size(line) {
        Ok(httparse::Status::Complete((_, size))) => Ok(size),
        _ => Err(BodyError::Malformed("a chunk size is not hexadecimal")),
    }
}
