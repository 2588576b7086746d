//! Global rate limits shared by every gateway replica: token buckets kept in Redis.
//!
//! A local limit (in `policy::ratelimit`) counts per replica, so N replicas admit N times the
//! limit. A global limit keeps one bucket per key in Redis and updates it with one atomic Lua
//! script, so all replicas together admit what a single bucket would.
//!
//! # Semantics
//!
//! - Each bucket holds up to `capacity` tokens and refills continuously at `per_unit` tokens
//!   per `unit`; a new (or expired) bucket is full. [`RedisLimiter::check`] takes `amount`
//!   tokens if they are all there and otherwise takes nothing.
//! - **No overshoot**: the script reads, refills, decides and writes in one atomic step, so
//!   over any interval of length `t` the replicas together admit at most
//!   `capacity + per_unit * t / unit` tokens, exactly like one in-memory bucket, however many
//!   replicas race. Only the failure paths below can admit more.
//! - **One clock**: refill uses Redis's own time (`TIME` inside the script), never a
//!   gateway's, so replicas with skewed clocks agree. If Redis fails over to a host whose
//!   clock is behind, the elapsed time counts as zero rather than negative.
//! - **Idle keys expire**: every write sets the key's TTL to the time the bucket needs to
//!   refill, and a full bucket is deleted (a missing key *is* a full bucket).
//! - **LLM token budgets** are charged in two steps, as locally: `check` with the estimate at
//!   admission, then [`RedisLimiter::adjust`] with `estimate - actual` once the usage is
//!   known: positive refunds (capped at capacity), negative charges the overrun, possibly
//!   into debt so that the next requests wait until the refill pays it back.
//!
//! # When Redis is unavailable
//!
//! `check` never fails: a Redis problem (connect error, timeout, error reply) becomes
//! [`Outcome::Degraded`], whose `allowed` follows [`FailureMode`]: `FailOpen` lets traffic
//! through unlimited (availability over enforcement), `FailClosed` rejects it. Every degraded
//! answer counts in [`Stats::degraded_total`]; a warning is logged once when a failure burst
//! starts and an info line when Redis answers again, never once per request.
//!
//! After a failure the client backs off (100 ms doubling up to 2 s): calls fail at once
//! instead of each waiting for a timeout, and one call at a time probes Redis again. A call
//! waits at most `command_timeout` for a free connection, then `connect_timeout` to open one
//! if needed, then `command_timeout` for the reply.
//!
//! A reply lost after Redis ran the script (timeout, dropped connection) leaves the tokens
//! taken although the request was treated as degraded: errors only ever under-admit. Redis
//! replication is asynchronous, so a failover may lose the last writes and re-admit them.
//!
//! # Deployment notes
//!
//! Standalone Redis (or anything speaking RESP2 with Lua scripting, Redis 5 or later;
//! Valkey works too) without AUTH or TLS. Each script call touches one key, so a proxy in
//! front of a cluster can route it. Keys are `key_prefix` followed by the caller's key.
//!
//! ```no_run
//! # async fn demo() {
//! use std::time::Duration;
//! use redis_limit::{GlobalLimit, Outcome, RedisConfig, RedisLimiter};
//!
//! let limiter = RedisLimiter::new(RedisConfig {
//!     address: "127.0.0.1:6379".into(),
//!     ..RedisConfig::default()
//! });
//! let limit = GlobalLimit { per_unit: 100, unit: Duration::from_secs(60), capacity: 100 };
//! match limiter.check("route-a:client-1", &limit, 1).await {
//!     Outcome::Allowed { .. } => { /* forward */ }
//!     Outcome::Limited { retry_after, .. } => { /* 429, retry-after */ let _ = retry_after; }
//!     Outcome::Degraded { allowed, .. } => { /* forward only if allowed */ let _ = allowed; }
//! }
//! # }
//! ```

mod config;
mod conn;
mod error;
mod pool;
mod resp;
mod script;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use config::MAX_EXACT;
pub use config::{FailureMode, GlobalLimit, RedisConfig};
pub use error::RedisError;
use pool::Pool;
use script::{Op, Reply, Script};

/// The answer to [`RedisLimiter::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The tokens were taken.
    Allowed {
        /// Whole tokens left in the bucket.
        remaining: u64,
        /// Time until the bucket is full again.
        reset: Duration,
    },
    /// Nothing was taken.
    Limited {
        /// Whole tokens in the bucket (fewer than asked for).
        remaining: u64,
        /// Time until the amount is there; `None` when the amount is larger than the
        /// capacity and waiting will never help.
        retry_after: Option<Duration>,
        /// `retry_after` when set, otherwise the time until the bucket is full (the same
        /// meaning as `policy::ratelimit::Decision::reset` for a rejection).
        reset: Duration,
    },
    /// Redis could not answer; `allowed` is what the [`FailureMode`] says to do.
    Degraded { allowed: bool, error: String },
}

impl Outcome {
    /// Whether the request may proceed.
    pub fn is_allowed(&self) -> bool {
        match self {
            Self::Allowed { .. } => true,
            Self::Limited { .. } => false,
            Self::Degraded { allowed, .. } => *allowed,
        }
    }
}

/// Counters since the limiter was created, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// `check` calls answered [`Outcome::Allowed`].
    pub allowed_total: u64,
    /// `check` calls answered [`Outcome::Limited`].
    pub limited_total: u64,
    /// `check` calls answered [`Outcome::Degraded`].
    pub degraded_total: u64,
    /// `adjust` calls that failed.
    pub adjust_errors_total: u64,
    /// Redis connections opened (the first ones and every reconnect).
    pub connects_total: u64,
    /// Times the script was loaded into Redis (first use, and after Redis forgot it).
    pub script_loads_total: u64,
}

/// A client for global rate limits. Cheap to clone; clones share connections and counters.
#[derive(Clone)]
pub struct RedisLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    config: RedisConfig,
    pool: Pool,
    script: Script,
    allowed: AtomicU64,
    limited: AtomicU64,
    degraded: AtomicU64,
    adjust_errors: AtomicU64,
    /// Set while a failure burst lasts, so that it is logged once.
    failing: AtomicBool,
    /// `degraded + adjust_errors` when the current burst started, to report its size.
    burst_start: AtomicU64,
}

impl std::fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLimiter")
            .field("config", &self.inner.config)
            .field("stats", &self.stats())
            .finish()
    }
}

impl RedisLimiter {
    /// A limiter for `config`. Connects lazily, on the first call.
    pub fn new(config: RedisConfig) -> Self {
        let pool = Pool::new(
            config.address.clone(),
            config.connect_timeout,
            config.pool_size,
        );
        Self {
            inner: Arc::new(Inner {
                config,
                pool,
                script: Script::default(),
                allowed: AtomicU64::new(0),
                limited: AtomicU64::new(0),
                degraded: AtomicU64::new(0),
                adjust_errors: AtomicU64::new(0),
                failing: AtomicBool::new(false),
                burst_start: AtomicU64::new(0),
            }),
        }
    }

    /// Takes `amount` tokens from the bucket `key` if they are all there. Never fails: see
    /// [`Outcome::Degraded`]. An `amount` of 0 takes nothing and reports the bucket.
    pub async fn check(&self, key: &str, limit: &GlobalLimit, amount: u64) -> Outcome {
        let inner = &self.inner;
        // Anything above the capacity never fits; capping keeps it exact in the script.
        let amount = amount.min(MAX_EXACT);
        match self.run(key, limit, Op::Take(amount)).await {
            Ok(reply) => {
                self.recovered();
                let reset = Duration::from_millis(reply.reset_ms);
                if reply.allowed {
                    inner.allowed.fetch_add(1, Ordering::Relaxed);
                    Outcome::Allowed {
                        remaining: reply.remaining,
                        reset,
                    }
                } else {
                    inner.limited.fetch_add(1, Ordering::Relaxed);
                    let retry_after = reply.retry_after_ms.map(Duration::from_millis);
                    Outcome::Limited {
                        remaining: reply.remaining,
                        retry_after,
                        reset: retry_after.unwrap_or(reset),
                    }
                }
            }
            Err(err) => {
                inner.degraded.fetch_add(1, Ordering::Relaxed);
                let allowed = inner.config.failure_mode == FailureMode::FailOpen;
                self.failed(&err, "check");
                Outcome::Degraded {
                    allowed,
                    error: err.to_string(),
                }
            }
        }
    }

    /// Adds `delta` tokens to the bucket `key` (capped at capacity), or removes `-delta`
    /// (possibly into debt): the settlement of an LLM call's estimate against its usage.
    pub async fn adjust(
        &self,
        key: &str,
        limit: &GlobalLimit,
        delta: i64,
    ) -> Result<(), RedisError> {
        if delta == 0 {
            return Ok(());
        }
        // Beyond 2^53 the script's doubles are inexact; no budget is that large anyway.
        let bound = i64::try_from(MAX_EXACT).unwrap_or(i64::MAX);
        match self
            .run(key, limit, Op::Adjust(delta.clamp(-bound, bound)))
            .await
        {
            Ok(_) => {
                self.recovered();
                Ok(())
            }
            Err(err) => {
                self.inner.adjust_errors.fetch_add(1, Ordering::Relaxed);
                self.failed(&err, "adjust");
                Err(err)
            }
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        let inner = &self.inner;
        Stats {
            allowed_total: inner.allowed.load(Ordering::Relaxed),
            limited_total: inner.limited.load(Ordering::Relaxed),
            degraded_total: inner.degraded.load(Ordering::Relaxed),
            adjust_errors_total: inner.adjust_errors.load(Ordering::Relaxed),
            connects_total: inner.pool.connects(),
            script_loads_total: inner.script.loads(),
        }
    }

    /// One script call: a pooled connection, the script, and the bookkeeping that decides
    /// whether the connection is reused and whether Redis counts as down.
    async fn run(&self, key: &str, limit: &GlobalLimit, op: Op) -> Result<Reply, RedisError> {
        let inner = &self.inner;
        let params = limit.params()?;
        let timeout = inner.config.command_timeout;
        let mut full_key = Vec::with_capacity(inner.config.key_prefix.len() + key.len());
        full_key.extend_from_slice(inner.config.key_prefix.as_bytes());
        full_key.extend_from_slice(key.as_bytes());

        let mut lease = inner.pool.lease(timeout).await?;
        let result = tokio::time::timeout(
            timeout,
            inner.script.run(&mut lease.conn, &full_key, &params, op),
        )
        .await
        .unwrap_or(Err(RedisError::Timeout(timeout)));
        match &result {
            Ok(_) => {
                lease.release();
                inner.pool.succeeded();
            }
            Err(err) if err.keeps_connection() => {
                lease.release();
                inner.pool.succeeded();
            }
            Err(err) => {
                // The lease is dropped here, closing a connection that may be mid-reply.
                if err.means_down() {
                    inner.pool.failed();
                }
            }
        }
        result
    }

    fn failed(&self, err: &RedisError, call: &str) {
        let inner = &self.inner;
        if inner.failing.swap(true, Ordering::AcqRel) {
            tracing::debug!(error = %err, call, "global rate limit: redis still failing");
            return;
        }
        let errors =
            inner.degraded.load(Ordering::Relaxed) + inner.adjust_errors.load(Ordering::Relaxed);
        inner
            .burst_start
            .store(errors.saturating_sub(1), Ordering::Relaxed);
        let mode = match inner.config.failure_mode {
            FailureMode::FailOpen => "allowed (fail-open)",
            FailureMode::FailClosed => "rejected (fail-closed)",
        };
        tracing::warn!(
            error = %err,
            address = %inner.config.address,
            call,
            "global rate limit: redis unavailable; requests are {mode} until it answers again"
        );
    }

    fn recovered(&self) {
        let inner = &self.inner;
        // Load first: the common healthy path then never writes the shared flag.
        if inner.failing.load(Ordering::Relaxed) && inner.failing.swap(false, Ordering::AcqRel) {
            let errors = inner.degraded.load(Ordering::Relaxed)
                + inner.adjust_errors.load(Ordering::Relaxed);
            let failed_calls = errors.saturating_sub(inner.burst_start.load(Ordering::Relaxed));
            tracing::info!(
                address = %inner.config.address,
                failed_calls,
                "global rate limit: redis answers again"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Level, Metadata};

    use super::*;

    /// Counts warnings; everything else is ignored.
    #[derive(Default)]
    struct CountWarnings(Arc<AtomicUsize>);

    impl tracing::Subscriber for CountWarnings {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            if *event.metadata().level() == Level::WARN {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    #[test]
    fn warns_once_per_failure_burst() {
        let warnings = Arc::new(AtomicUsize::new(0));
        let subscriber = CountWarnings(warnings.clone());
        tracing::subscriber::with_default(subscriber, || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                // Nothing listens on port 1 of the loopback address.
                let limiter = RedisLimiter::new(RedisConfig {
                    address: "127.0.0.1:1".into(),
                    ..RedisConfig::default()
                });
                let limit = GlobalLimit {
                    per_unit: 1,
                    unit: Duration::from_secs(1),
                    capacity: 1,
                };
                for _ in 0..5 {
                    assert!(limiter.check("k", &limit, 1).await.is_allowed());
                }
                assert!(limiter.adjust("k", &limit, -1).await.is_err());
                let stats = limiter.stats();
                assert_eq!((stats.degraded_total, stats.adjust_errors_total), (5, 1));
            });
        });
        assert_eq!(warnings.load(Ordering::Relaxed), 1);
    }
}
