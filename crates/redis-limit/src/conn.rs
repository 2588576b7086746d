//! One Redis connection: a TCP stream that sends a command and reads its reply, one at a
//! time. Timeouts are applied by the caller around whole exchanges, so that a timed-out
//! connection (possibly mid-reply) is dropped rather than reused.

use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::error::RedisError;
use crate::resp::{self, Value};

pub(crate) struct Connection {
    stream: TcpStream,
    /// Bytes read but not yet decoded.
    input: BytesMut,
    /// Reused for encoding so that a command does not allocate a fresh buffer.
    output: Vec<u8>,
}

impl Connection {
    pub(crate) async fn connect(address: &str, timeout: Duration) -> Result<Self, RedisError> {
        let stream = match tokio::time::timeout(timeout, TcpStream::connect(address)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(source)) => {
                return Err(RedisError::Connect {
                    address: address.to_owned(),
                    source,
                });
            }
            Err(_) => {
                return Err(RedisError::ConnectTimeout {
                    address: address.to_owned(),
                    timeout,
                });
            }
        };
        // Commands are single small writes waiting on a reply: Nagle would only add delay.
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            input: BytesMut::with_capacity(512),
            output: Vec::with_capacity(512),
        })
    }

    /// Sends one command and returns its reply. An error reply from Redis is `Ok` with
    /// [`Value::Error`]: the caller decides what it means (NOSCRIPT is expected, for one).
    pub(crate) async fn request(&mut self, args: &[&[u8]]) -> Result<Value, RedisError> {
        self.output.clear();
        resp::encode_command(&mut self.output, args);
        self.stream.write_all(&self.output).await?;
        loop {
            if let Some((value, used)) = resp::decode(&self.input)? {
                self.input.advance(used);
                return Ok(value);
            }
            if self.stream.read_buf(&mut self.input).await? == 0 {
                return Err(RedisError::Closed);
            }
        }
    }

    /// Whether an idle connection is known to be unusable, checked without a round trip:
    /// a closed peer (Redis restarted, or an idle timeout on its side) has left an EOF to
    /// read, and an idle connection must have nothing else to read either. Catching this
    /// before use means a Redis restart does not fail one request per pooled connection.
    ///
    /// `try_read` only reads once the runtime's I/O driver has seen the socket become
    /// readable, which a serving gateway's runtime notices within moments; a close that
    /// arrived just before the call is found by the request instead, which then degrades.
    pub(crate) fn is_stale(&self) -> bool {
        if !self.input.is_empty() {
            return true;
        }
        let mut probe = [0u8; 1];
        match self.stream.try_read(&mut probe) {
            Err(err) => err.kind() != std::io::ErrorKind::WouldBlock,
            // EOF, or bytes nobody asked for: either way the stream is out of step.
            Ok(_) => true,
        }
    }
}
