//! A small pool of Redis connections, opened lazily, with a back-off while Redis is down.
//!
//! At most `size` commands are in flight at once, each on its own connection. A connection
//! goes back to the pool only after a clean exchange (or an error reply, which leaves the
//! stream in step); after any I/O error or timeout it is dropped, and a new one is opened on
//! demand: that is the whole reconnect logic.
//!
//! While Redis is down, calls fail at once with [`RedisError::Backoff`] instead of each
//! paying a connect or command timeout; one call at a time probes again after the back-off
//! delay, which doubles on every failed probe up to a cap.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

use crate::conn::Connection;
use crate::error::RedisError;

/// First back-off delay after a failure: short, so that a single dropped connection costs
/// little, yet long enough to turn a flood of requests into a trickle of probes.
const BACKOFF_INITIAL: Duration = Duration::from_millis(100);
/// Longest back-off delay: bounds how long recovery goes unnoticed.
const BACKOFF_MAX: Duration = Duration::from_secs(2);

pub(crate) struct Pool {
    address: String,
    connect_timeout: Duration,
    size: usize,
    permits: Semaphore,
    idle: Mutex<Vec<Connection>>,
    /// Fast path for healthy operation: the back-off lock is only taken while this is set.
    down: AtomicBool,
    backoff: Mutex<Backoff>,
    connects: AtomicU64,
}

struct Backoff {
    /// Calls fail fast until then; `None` while Redis is up.
    retry_at: Option<Instant>,
    delay: Duration,
}

/// A connection taken from the pool. Dropping it closes the connection; [`Lease::release`]
/// returns it for reuse.
pub(crate) struct Lease<'a> {
    pool: &'a Pool,
    pub(crate) conn: Connection,
    _permit: SemaphorePermit<'a>,
}

impl Lease<'_> {
    pub(crate) fn release(self) {
        lock(&self.pool.idle).push(self.conn);
    }
}

impl Pool {
    pub(crate) fn new(address: String, connect_timeout: Duration, size: usize) -> Self {
        let size = size.max(1);
        Self {
            address,
            connect_timeout,
            size,
            permits: Semaphore::new(size),
            idle: Mutex::new(Vec::with_capacity(size)),
            down: AtomicBool::new(false),
            backoff: Mutex::new(Backoff {
                retry_at: None,
                delay: BACKOFF_INITIAL,
            }),
            connects: AtomicU64::new(0),
        }
    }

    /// A connection for one exchange, waiting at most `wait` for a free slot.
    pub(crate) async fn lease(&self, wait: Duration) -> Result<Lease<'_>, RedisError> {
        let permit = match tokio::time::timeout(wait, self.permits.acquire()).await {
            Ok(Ok(permit)) => permit,
            // The semaphore is never closed; treat it like a busy pool all the same.
            Ok(Err(_)) | Err(_) => {
                return Err(RedisError::PoolExhausted {
                    size: self.size,
                    waited: wait,
                });
            }
        };
        // Before reusing an idle connection too: a hung Redis leaves idle connections that
        // look healthy, and each would cost a full command timeout.
        self.gate()?;
        loop {
            let candidate = lock(&self.idle).pop();
            match candidate {
                Some(conn) if !conn.is_stale() => {
                    return Ok(Lease {
                        pool: self,
                        conn,
                        _permit: permit,
                    });
                }
                Some(_) => {} // dropped: closes the dead socket
                None => break,
            }
        }
        self.connects.fetch_add(1, Ordering::Relaxed);
        match Connection::connect(&self.address, self.connect_timeout).await {
            Ok(conn) => Ok(Lease {
                pool: self,
                conn,
                _permit: permit,
            }),
            Err(err) => {
                self.failed();
                Err(err)
            }
        }
    }

    /// Connections opened so far (first connects and reconnects).
    pub(crate) fn connects(&self) -> u64 {
        self.connects.load(Ordering::Relaxed)
    }

    /// Records that Redis answered: ends any back-off.
    pub(crate) fn succeeded(&self) {
        if self.down.load(Ordering::Relaxed) {
            let mut backoff = lock(&self.backoff);
            backoff.retry_at = None;
            backoff.delay = BACKOFF_INITIAL;
            self.down.store(false, Ordering::Relaxed);
        }
    }

    /// Records that Redis could not be reached or did not answer: starts the back-off, or
    /// doubles it if this was a probe during one.
    pub(crate) fn failed(&self) {
        let mut backoff = lock(&self.backoff);
        backoff.delay = if self.down.load(Ordering::Relaxed) {
            (backoff.delay * 2).min(BACKOFF_MAX)
        } else {
            BACKOFF_INITIAL
        };
        backoff.retry_at = Some(Instant::now() + backoff.delay);
        self.down.store(true, Ordering::Relaxed);
    }

    /// Fails fast during a back-off. Once it has elapsed, lets this one call through as the
    /// probe and keeps the others failing fast until the probe has an answer.
    fn gate(&self) -> Result<(), RedisError> {
        if !self.down.load(Ordering::Relaxed) {
            return Ok(());
        }
        let mut backoff = lock(&self.backoff);
        let Some(retry_at) = backoff.retry_at else {
            return Ok(());
        };
        let now = Instant::now();
        if now < retry_at {
            return Err(RedisError::Backoff(retry_at - now));
        }
        // If the probe hangs until its timeout, the next one may start after another delay.
        backoff.retry_at = Some(now + backoff.delay);
        Ok(())
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked (each critical
/// section is a single push, pop or assignment), so poisoning is ignored.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
