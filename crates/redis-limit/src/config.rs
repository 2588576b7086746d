//! What the limiter is configured with: where Redis is, what to do when it is not there,
//! and the shape of a bucket.

use std::time::Duration;

use crate::error::RedisError;
use crate::script::Params;

/// Where Redis is and how to talk to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// `host:port`.
    pub address: String,
    /// Prepended to every bucket key, to share one Redis between deployments or uses.
    pub key_prefix: String,
    pub connect_timeout: Duration,
    /// For one command, and separately for waiting on a free pooled connection.
    pub command_timeout: Duration,
    /// Connections kept open (and commands in flight at once); at least 1.
    pub pool_size: usize,
    pub failure_mode: FailureMode,
}

impl Default for RedisConfig {
    /// Local Redis, short timeouts (a rate limit check sits on every request's path) and
    /// fail-open.
    fn default() -> Self {
        Self {
            address: "127.0.0.1:6379".into(),
            key_prefix: "agentgateway:ratelimit:".into(),
            connect_timeout: Duration::from_millis(500),
            command_timeout: Duration::from_millis(200),
            pool_size: 4,
            failure_mode: FailureMode::FailOpen,
        }
    }
}

/// What [`crate::RedisLimiter::check`] answers while Redis cannot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailureMode {
    /// Allow the request: an outage of the limiter does not become an outage of the gateway.
    #[default]
    FailOpen,
    /// Reject the request: the limit protects something that must not be overrun.
    FailClosed,
}

/// A bucket: `capacity` tokens, refilled continuously at `per_unit` per `unit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GlobalLimit {
    pub per_unit: u64,
    /// At least one millisecond; sub-millisecond parts are ignored.
    pub unit: Duration,
    /// `0` means `per_unit`, as for local limits.
    pub capacity: u64,
}

/// Largest count the script handles exactly (its numbers are doubles).
pub(crate) const MAX_EXACT: u64 = 1 << 53;

impl GlobalLimit {
    /// The capacity in effect: `capacity`, or `per_unit` when it is 0.
    pub fn effective_capacity(&self) -> u64 {
        if self.capacity == 0 {
            self.per_unit
        } else {
            self.capacity
        }
    }

    /// Checks that the script can evaluate this limit; config validation should call it so
    /// that a bad limit is reported at load time rather than degrading requests.
    pub fn validate(&self) -> Result<(), RedisError> {
        if self.per_unit == 0 {
            return Err(RedisError::InvalidLimit("per_unit must be at least 1"));
        }
        if self.unit < Duration::from_millis(1) {
            return Err(RedisError::InvalidLimit("unit must be at least 1ms"));
        }
        if self.per_unit > MAX_EXACT || self.effective_capacity() > MAX_EXACT {
            return Err(RedisError::InvalidLimit(
                "per_unit and capacity must be at most 2^53",
            ));
        }
        Ok(())
    }

    pub(crate) fn params(&self) -> Result<Params, RedisError> {
        self.validate()?;
        Ok(Params {
            per_unit: self.per_unit,
            unit_ms: u64::try_from(self.unit.as_millis()).unwrap_or(u64::MAX),
            capacity: self.effective_capacity(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Outcome, RedisLimiter};

    #[test]
    fn validates_limits() {
        let ok = GlobalLimit {
            per_unit: 10,
            unit: Duration::from_secs(1),
            capacity: 0,
        };
        assert!(ok.validate().is_ok());
        assert_eq!(ok.effective_capacity(), 10);
        for bad in [
            GlobalLimit { per_unit: 0, ..ok },
            GlobalLimit {
                unit: Duration::from_micros(999),
                ..ok
            },
            GlobalLimit {
                capacity: MAX_EXACT + 1,
                ..ok
            },
        ] {
            assert!(
                matches!(bad.validate(), Err(RedisError::InvalidLimit(_))),
                "{bad:?}"
            );
        }
    }

    #[tokio::test]
    async fn invalid_limit_degrades_without_touching_redis() {
        let limiter = RedisLimiter::new(RedisConfig {
            failure_mode: FailureMode::FailClosed,
            ..RedisConfig::default()
        });
        let bad = GlobalLimit {
            per_unit: 0,
            unit: Duration::from_secs(1),
            capacity: 1,
        };
        let outcome = limiter.check("k", &bad, 1).await;
        assert!(
            matches!(outcome, Outcome::Degraded { allowed: false, .. }),
            "{outcome:?}"
        );
        assert_eq!(limiter.stats().connects_total, 0);
        assert_eq!(limiter.stats().degraded_total, 1);
    }
}
