//! Buckets shared by a multi-threaded proxy: [`Limiter`] (one bucket for everyone) and
//! [`KeyedLimiter`] (one bucket per key, with bounded memory).
//!
//! The keyed map is split into shards, each behind its own mutex, so requests for different
//! keys rarely wait on each other; a lock is held only for a few arithmetic operations.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use super::{Bucket, Decision, Limit, Rejection, Reservation};

/// A default bound on the number of keys a [`KeyedLimiter`] remembers.
pub const DEFAULT_MAX_KEYS: usize = 100_000;

const SHARDS: usize = 16;

/// A bucket can only be left half-updated by a panic inside these short critical sections,
/// which hold no panicking code; even then its numbers remain a valid bucket. So a poisoned
/// lock is used as is rather than failing every later request.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One bucket shared by all requests (an unkeyed local rate limit).
#[derive(Debug)]
pub struct Limiter {
    limit: Limit,
    bucket: Mutex<Bucket>,
}

impl Limiter {
    pub fn new(limit: Limit, now: Instant) -> Self {
        Self {
            bucket: Mutex::new(Bucket::new(&limit, now)),
            limit,
        }
    }

    pub fn limit(&self) -> &Limit {
        &self.limit
    }

    /// See [`Bucket::try_take`].
    pub fn check(&self, now: Instant, amount: u64) -> Decision {
        lock(&self.bucket).try_take(now, amount)
    }

    /// See [`Bucket::reserve`].
    pub fn reserve(&self, now: Instant, estimate: u64) -> Result<Reservation, Rejection> {
        lock(&self.bucket).reserve(now, estimate)
    }

    /// See [`Bucket::settle`].
    pub fn settle(&self, now: Instant, reservation: Reservation, actual: u64) -> i64 {
        lock(&self.bucket).settle(now, reservation, actual)
    }

    /// See [`Bucket::remaining`].
    pub fn remaining(&self, now: Instant) -> i64 {
        lock(&self.bucket).remaining(now)
    }

    /// See [`Bucket::may_continue`].
    pub fn may_continue(&self, now: Instant, reservation: &Reservation, used: u64) -> bool {
        lock(&self.bucket).may_continue(now, reservation, used)
    }
}

/// One bucket per key (client IP, header value, JWT `sub`, API key id, ...).
///
/// Memory is bounded: at most `max_keys` buckets are kept. A bucket that has refilled to full
/// is indistinguishable from a new one, so such buckets are dropped first when room is
/// needed; if that is not enough (a flood of distinct keys), the fullest buckets are dropped,
/// which forgives the least recent usage. Room is made for an eighth of a shard at a time so
/// that the scan is paid once per many insertions, not on each.
#[derive(Debug)]
pub struct KeyedLimiter {
    limit: Limit,
    per_shard: usize,
    hasher: RandomState,
    shards: Box<[Mutex<HashMap<String, Bucket>>]>,
}

impl KeyedLimiter {
    /// A limiter remembering at most `max_keys` keys (at least 1); see [`DEFAULT_MAX_KEYS`].
    pub fn new(limit: Limit, max_keys: usize) -> Self {
        let max_keys = max_keys.max(1);
        let shard_count = SHARDS.min(max_keys);
        Self {
            limit,
            // Rounded down so that the shards together never exceed `max_keys`.
            per_shard: max_keys / shard_count,
            hasher: RandomState::new(),
            shards: (0..shard_count)
                .map(|_| Mutex::new(HashMap::new()))
                .collect(),
        }
    }

    pub fn limit(&self) -> &Limit {
        &self.limit
    }

    /// See [`Bucket::try_take`].
    pub fn check(&self, key: &str, now: Instant, amount: u64) -> Decision {
        self.with_bucket(key, now, |b| b.try_take(now, amount))
    }

    /// See [`Bucket::reserve`].
    pub fn reserve(
        &self,
        key: &str,
        now: Instant,
        estimate: u64,
    ) -> Result<Reservation, Rejection> {
        self.with_bucket(key, now, |b| b.reserve(now, estimate))
    }

    /// See [`Bucket::settle`]. A key evicted since its reservation starts again from a full
    /// bucket, so an extra charge is still applied.
    pub fn settle(&self, key: &str, now: Instant, reservation: Reservation, actual: u64) -> i64 {
        self.with_bucket(key, now, |b| b.settle(now, reservation, actual))
    }

    /// See [`Bucket::remaining`]; an unknown key has the full capacity.
    pub fn remaining(&self, key: &str, now: Instant) -> i64 {
        match lock(self.shard(key)).get(key) {
            Some(bucket) => bucket.remaining(now),
            None => i64::try_from(self.limit.capacity()).unwrap_or(i64::MAX),
        }
    }

    /// See [`Bucket::may_continue`].
    pub fn may_continue(
        &self,
        key: &str,
        now: Instant,
        reservation: &Reservation,
        used: u64,
    ) -> bool {
        let spare = u64::try_from(self.remaining(key, now)).unwrap_or(0);
        used <= reservation.amount().saturating_add(spare)
    }

    /// The number of keys currently remembered.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every bucket that has refilled to full (housekeeping, e.g. from a timer, so
    /// idle keys do not hold memory until the next time a shard fills up). Returns how many.
    pub fn evict_idle(&self, now: Instant) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                let mut buckets = lock(shard);
                let before = buckets.len();
                buckets.retain(|_, b| !b.is_full(now));
                before - buckets.len()
            })
            .sum()
    }

    fn shard(&self, key: &str) -> &Mutex<HashMap<String, Bucket>> {
        // Truncating the hash is fine: only its spread over a few shards matters.
        let index = self.hasher.hash_one(key) as usize % self.shards.len();
        &self.shards[index]
    }

    fn with_bucket<R>(&self, key: &str, now: Instant, f: impl FnOnce(&mut Bucket) -> R) -> R {
        let mut buckets = lock(self.shard(key));
        // Look up by `&str` first so that known keys cost no allocation.
        if let Some(bucket) = buckets.get_mut(key) {
            return f(bucket);
        }
        if buckets.len() >= self.per_shard {
            make_room(&mut buckets, now, self.per_shard);
        }
        let bucket = buckets
            .entry(key.to_owned())
            .or_insert_with(|| Bucket::new(&self.limit, now));
        f(bucket)
    }
}

/// Shrinks a full shard to at most `capacity - max(1, capacity / 8)` buckets.
fn make_room(buckets: &mut HashMap<String, Bucket>, now: Instant, capacity: usize) {
    buckets.retain(|_, b| !b.is_full(now));
    let keep = capacity.saturating_sub((capacity / 8).max(1));
    let Some(excess) = buckets.len().checked_sub(keep).filter(|e| *e > 0) else {
        return;
    };
    // Find the level of the `excess`-th fullest bucket, then drop that many at or above it.
    let mut levels: Vec<i128> = buckets.values().map(|b| b.level_at(now)).collect();
    let index = levels.len() - excess;
    if index >= levels.len() {
        return;
    }
    let (_, threshold, _) = levels.select_nth_unstable(index);
    let threshold = *threshold;
    let mut to_drop = excess;
    buckets.retain(|_, b| {
        if to_drop > 0 && b.level_at(now) >= threshold {
            to_drop -= 1;
            false
        } else {
            true
        }
    });
}
