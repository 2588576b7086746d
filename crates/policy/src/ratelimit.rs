//! Local rate limits: token buckets that refill continuously, for request counts and for LLM
//! tokens, kept in this proxy's memory (one bucket, or one per key such as a client IP or a
//! JWT subject).
//!
//! Time is always passed in as an [`Instant`]; nothing here reads the clock, so tests step
//! time forward deterministically and callers read the clock once per request.
//!
//! LLM token budgets are charged in two steps because the real cost is only known after the
//! response: [`Bucket::reserve`] takes the estimate at admission, [`Bucket::settle`] corrects
//! it with the actual usage (refund, or extra charge that may leave the bucket in debt so that
//! the next requests wait).

use std::time::{Duration, Instant};

use http::{HeaderName, HeaderValue};

mod bucket;
mod keyed;
#[cfg(test)]
mod tests;

pub use bucket::{Bucket, Reservation};
pub use keyed::{DEFAULT_MAX_KEYS, KeyedLimiter, Limiter};

/// A refill rate and a capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Units (requests or tokens) added per `unit` of time, continuously (not in steps).
    pub per_unit: u64,
    pub unit: Duration,
    /// Capacity: the most that can be taken at once after a quiet period. `0` means
    /// `per_unit` (a bucket that holds one unit of time's worth).
    pub burst: u64,
}

/// A limit that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("a rate limit of 0 per unit would never admit anything; remove the limit instead")]
    ZeroRate,
    #[error("the rate limit unit must be longer than zero")]
    ZeroUnit,
}

impl Limit {
    /// A validated limit; `burst` of `None` or `Some(0)` means `per_unit`.
    pub fn new(per_unit: u64, unit: Duration, burst: Option<u64>) -> Result<Self, LimitError> {
        if per_unit == 0 {
            return Err(LimitError::ZeroRate);
        }
        if unit.is_zero() {
            return Err(LimitError::ZeroUnit);
        }
        Ok(Self {
            per_unit,
            unit,
            burst: burst.unwrap_or(0),
        })
    }

    /// The bucket capacity: `burst`, or `per_unit` when `burst` is 0.
    pub fn capacity(&self) -> u64 {
        if self.burst == 0 {
            self.per_unit
        } else {
            self.burst
        }
    }
}

/// The outcome of taking from a bucket, with what the rate limit headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// The bucket capacity (not the refill rate), so that `remaining <= limit` always holds.
    pub limit: u64,
    /// Whole units left after this decision (0 while in debt).
    pub remaining: u64,
    /// Allowed: time until the bucket is full again. Rejected: time until the requested amount
    /// is available, like `retry_after`.
    pub reset: Duration,
    /// Set on rejections that waiting can cure; `None` when allowed, and when the amount is
    /// larger than the capacity (it will never fit).
    pub retry_after: Option<Duration>,
}

const LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

impl Decision {
    /// `x-ratelimit-limit`, `x-ratelimit-remaining`, `x-ratelimit-reset` (whole seconds,
    /// rounded up so that a client waiting that long is never early).
    pub fn headers(&self) -> [(HeaderName, HeaderValue); 3] {
        [
            (LIMIT, HeaderValue::from(self.limit)),
            (REMAINING, HeaderValue::from(self.remaining)),
            (RESET, HeaderValue::from(ceil_secs(self.reset))),
        ]
    }

    /// `retry-after` in whole seconds (rounded up) for a rejection that waiting cures.
    pub fn retry_after_header(&self) -> Option<(HeaderName, HeaderValue)> {
        self.retry_after
            .map(|d| (http::header::RETRY_AFTER, HeaderValue::from(ceil_secs(d))))
    }
}

/// Why a reservation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Not enough budget now; `decision.retry_after` says when.
    #[error("rate limit exceeded; retry in {}s", ceil_secs(.0.retry_after.unwrap_or(.0.reset)))]
    Limited(Decision),
    /// The request alone needs more than the bucket can ever hold: waiting will not help, so
    /// answer 429 with this explanation instead of calling upstream.
    #[error(
        "the request needs an estimated {needed} tokens but the rate limit allows at most \
         {capacity} at once; shorten the input or lower max_tokens"
    )]
    NeverFits { needed: u64, capacity: u64 },
}

impl Rejection {
    /// The bucket state to report in rate limit headers (`None` for `NeverFits`).
    pub fn decision(&self) -> Option<&Decision> {
        match self {
            Self::Limited(decision) => Some(decision),
            Self::NeverFits { .. } => None,
        }
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// `now` as seen by a bucket last updated at `last`: time never runs backwards for a bucket,
/// because threads may read the clock in one order and lock in another.
fn elapsed(last: Instant, now: Instant) -> Duration {
    now.saturating_duration_since(last)
}
