//! One token bucket with continuous refill, in exact integer arithmetic.
//!
//! The level is kept in "scaled" units, one token being `unit` in nanoseconds, so a refill of
//! `per_unit` tokens per `unit` adds exactly `elapsed_ns * per_unit` scaled units: no rounding
//! drift for rates like 7 per second, and waits come out to the nanosecond. The level is signed
//! because a settled LLM call may cost more than was reserved and leave the bucket in debt.

use std::time::{Duration, Instant};

use super::{Decision, Limit, Rejection, elapsed};

/// A token bucket. Starts full. Not synchronised: see [`super::Limiter`] and
/// [`super::KeyedLimiter`] for shared use.
#[derive(Debug, Clone)]
pub struct Bucket {
    /// Scaled units added per nanosecond (= `Limit::per_unit`).
    rate: i128,
    /// Scaled units per token (= `Limit::unit` in nanoseconds, at least 1).
    scale: i128,
    capacity: u64,
    /// `capacity * scale`.
    full: i128,
    /// The level at `last`, in scaled units; negative while in debt.
    level: i128,
    last: Instant,
}

/// Tokens taken at admission for an LLM call, to be corrected with [`Bucket::settle`] once
/// the actual usage is known. Dropping it unsettled keeps the estimate as the cost.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "settle the reservation with the actual usage"]
pub struct Reservation {
    amount: u64,
    /// The bucket as the reservation left it, for the rate limit headers.
    after: Decision,
}

impl Reservation {
    /// The reserved (estimated) amount.
    pub fn amount(&self) -> u64 {
        self.amount
    }

    /// The bucket as the reservation left it.
    pub fn decision(&self) -> Decision {
        self.after
    }
}

impl Bucket {
    /// A full bucket for `limit`. A zero `unit` counts as one nanosecond and a zero
    /// `per_unit` never refills (use [`Limit::new`] to reject both).
    pub fn new(limit: &Limit, now: Instant) -> Self {
        let scale = i128::try_from(limit.unit.as_nanos())
            .unwrap_or(i128::MAX)
            .max(1);
        let capacity = limit.capacity();
        let full = i128::from(capacity).saturating_mul(scale);
        Self {
            rate: i128::from(limit.per_unit),
            scale,
            capacity,
            full,
            level: full,
            last: now,
        }
    }

    /// Takes `amount` if available; otherwise takes nothing and says when to retry.
    pub fn try_take(&mut self, now: Instant, amount: u64) -> Decision {
        self.refill(now);
        let need = self.scaled(amount);
        if self.level >= need {
            self.level -= need;
            return self.decision(true, self.until_full(), None);
        }
        let wait = self.wait_for(need);
        // An amount above capacity never fits: report when the bucket is full instead.
        let reset = wait.unwrap_or_else(|| self.until_full());
        self.decision(false, reset, wait)
    }

    /// Takes an LLM call's estimated tokens at admission.
    ///
    /// `Rejection::NeverFits` when the estimate exceeds the capacity: no amount of waiting
    /// admits it, so the caller should not send the request upstream.
    pub fn reserve(&mut self, now: Instant, estimate: u64) -> Result<Reservation, Rejection> {
        if estimate > self.capacity {
            return Err(Rejection::NeverFits {
                needed: estimate,
                capacity: self.capacity,
            });
        }
        let decision = self.try_take(now, estimate);
        if decision.allowed {
            Ok(Reservation {
                amount: estimate,
                after: decision,
            })
        } else {
            Err(Rejection::Limited(decision))
        }
    }

    /// Corrects a reservation with the actual usage and returns `estimate - actual`: positive
    /// is refunded (capped at the capacity), negative is charged on top, possibly into debt
    /// so that the following requests wait until it is paid back by the refill.
    pub fn settle(&mut self, now: Instant, reservation: Reservation, actual: u64) -> i64 {
        self.refill(now);
        let reserved = reservation.amount;
        if actual <= reserved {
            let refund = reserved - actual;
            self.level = self
                .level
                .saturating_add(self.scaled(refund))
                .min(self.full);
            i64::try_from(refund).unwrap_or(i64::MAX)
        } else {
            let extra = actual - reserved;
            self.level = self.level.saturating_sub(self.scaled(extra));
            i64::try_from(extra).map_or(i64::MIN, |e| -e)
        }
    }

    /// Whole tokens available at `now` (negative while in debt), without taking any.
    ///
    /// For budget enforcement mid-stream: a stream that reserved `r` and has used `u` so far
    /// may continue while `u <= r + remaining.max(0)`; see [`Bucket::may_continue`].
    pub fn remaining(&self, now: Instant) -> i64 {
        let whole = self.level_at(now).div_euclid(self.scale);
        i64::try_from(whole).unwrap_or(if whole < 0 { i64::MIN } else { i64::MAX })
    }

    /// Whether a stream that holds `reservation` and has used `used` tokens so far stays
    /// within its reservation plus what the bucket has left.
    pub fn may_continue(&self, now: Instant, reservation: &Reservation, used: u64) -> bool {
        let spare = u64::try_from(self.remaining(now)).unwrap_or(0);
        used <= reservation.amount.saturating_add(spare)
    }

    /// Whether the bucket has refilled to capacity at `now`: such a bucket behaves exactly
    /// like a new one, so a keyed limiter may drop it.
    pub fn is_full(&self, now: Instant) -> bool {
        self.level_at(now) >= self.full
    }

    /// The capacity (`Limit::capacity`).
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// The level at `now`, in scaled units, for comparing buckets of one limit.
    pub(super) fn level_at(&self, now: Instant) -> i128 {
        let ns = i128::try_from(elapsed(self.last, now).as_nanos()).unwrap_or(i128::MAX);
        self.level
            .saturating_add(ns.saturating_mul(self.rate))
            .min(self.full)
    }

    fn refill(&mut self, now: Instant) {
        self.level = self.level_at(now);
        if now > self.last {
            self.last = now;
        }
    }

    fn scaled(&self, tokens: u64) -> i128 {
        i128::from(tokens).saturating_mul(self.scale)
    }

    /// Time until the level reaches `target` scaled units; `None` if it never will (the
    /// target is above capacity, or the bucket does not refill).
    fn wait_for(&self, target: i128) -> Option<Duration> {
        if target > self.full || (self.rate == 0 && target > self.level) {
            return None;
        }
        let deficit = target.saturating_sub(self.level).max(0);
        if deficit == 0 {
            return Some(Duration::ZERO);
        }
        // Round up: after this many nanoseconds the amount is really there.
        let ns = deficit.saturating_add(self.rate - 1) / self.rate;
        Some(Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX)))
    }

    fn until_full(&self) -> Duration {
        self.wait_for(self.full).unwrap_or(Duration::MAX)
    }

    fn decision(&self, allowed: bool, reset: Duration, retry_after: Option<Duration>) -> Decision {
        let whole = self.level.div_euclid(self.scale).max(0);
        Decision {
            allowed,
            limit: self.capacity,
            remaining: u64::try_from(whole).unwrap_or(u64::MAX),
            reset,
            retry_after: if allowed { None } else { retry_after },
        }
    }
}
