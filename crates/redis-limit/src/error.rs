//! Why a call to Redis failed.

use std::time::Duration;

/// A failed Redis call. [`crate::RedisLimiter::check`] turns every one of these into
/// [`crate::Outcome::Degraded`]; [`crate::RedisLimiter::adjust`] returns it.
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    /// The TCP connection could not be opened.
    #[error("connecting to redis at {address}: {source}")]
    Connect {
        address: String,
        #[source]
        source: std::io::Error,
    },
    /// The TCP connection was not open within the connect timeout.
    #[error("connecting to redis at {address} timed out after {timeout:?}")]
    ConnectTimeout { address: String, timeout: Duration },
    /// Reading or writing an open connection failed.
    #[error("redis connection failed: {0}")]
    Io(#[from] std::io::Error),
    /// Redis closed the connection before replying.
    #[error("redis closed the connection")]
    Closed,
    /// No whole reply within the command timeout.
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    /// Every pooled connection stayed busy for the whole command timeout.
    #[error("all {size} redis connections stayed busy for {waited:?}")]
    PoolExhausted { size: usize, waited: Duration },
    /// A recent failure put the client in back-off: calls fail at once instead of each
    /// waiting for a timeout, until the next probe.
    #[error("redis is unavailable after a recent failure; next attempt in {0:?}")]
    Backoff(Duration),
    /// The peer sent something that is not a valid reply.
    #[error("unexpected reply from redis: {0}")]
    Protocol(String),
    /// Redis answered with an error (for example `OOM`, `READONLY`, `WRONGTYPE`).
    #[error("redis error: {0}")]
    Server(String),
    /// The limit cannot be evaluated (see [`crate::GlobalLimit::validate`]).
    #[error("invalid global rate limit: {0}")]
    InvalidLimit(&'static str),
}

impl RedisError {
    /// Whether the connection that produced this error can be used again: only when Redis
    /// itself answered (with an error reply). Anything else leaves the stream in an unknown
    /// state, possibly mid-reply, so the connection is dropped.
    pub(crate) fn keeps_connection(&self) -> bool {
        matches!(self, Self::Server(_))
    }

    /// Whether this error says the server is unreachable or unresponsive, which starts or
    /// extends the back-off.
    pub(crate) fn means_down(&self) -> bool {
        matches!(
            self,
            Self::Connect { .. }
                | Self::ConnectTimeout { .. }
                | Self::Io(_)
                | Self::Closed
                | Self::Timeout(_)
        )
    }
}

impl From<crate::resp::ProtocolError> for RedisError {
    fn from(err: crate::resp::ProtocolError) -> Self {
        Self::Protocol(err.0)
    }
}
