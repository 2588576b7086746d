//! A bounded memory of credentials that recently verified against a slow (bcrypt) hash, so a
//! client sending the same `Authorization` on every request pays bcrypt once, not each time.
//!
//! Entries are keyed by HMAC-SHA256 of `user:password` under a key drawn at start-up: a memory
//! dump then holds nothing that can be brute-forced offline the way a plain hash could. The
//! cache belongs to one compiled user list, so a changed htpasswd Secret starts empty and an
//! old password stops working at once. A poisoned lock is recovered, never propagated: the
//! set it guards is always consistent (inserts and evictions are single operations).

use std::collections::{HashSet, VecDeque};
use std::sync::{Mutex, PoisonError};

use ring::hmac;
use ring::rand::SystemRandom;

type Tag = [u8; 32];

pub(super) struct VerifiedCache {
    key: hmac::Key,
    capacity: usize,
    inner: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    set: HashSet<Tag>,
    /// Insertion order, oldest first, for eviction.
    order: VecDeque<Tag>,
}

// === impl VerifiedCache ===

impl VerifiedCache {
    /// `None` when the system cannot provide randomness for the key; callers then verify
    /// every time, which is slower but still correct.
    pub(super) fn new(capacity: usize) -> Option<VerifiedCache> {
        if capacity == 0 {
            return None;
        }
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &SystemRandom::new()).ok()?;
        Some(VerifiedCache {
            key,
            capacity,
            inner: Mutex::new(Entries::default()),
        })
    }

    pub(super) fn contains(&self, user: &str, password: &[u8]) -> bool {
        let tag = self.tag(user, password);
        self.lock().set.contains(&tag)
    }

    pub(super) fn insert(&self, user: &str, password: &[u8]) {
        let tag = self.tag(user, password);
        let mut entries = self.lock();
        if !entries.set.insert(tag) {
            return;
        }
        entries.order.push_back(tag);
        while entries.order.len() > self.capacity {
            if let Some(oldest) = entries.order.pop_front() {
                entries.set.remove(&oldest);
            }
        }
    }

    fn tag(&self, user: &str, password: &[u8]) -> Tag {
        let mut ctx = hmac::Context::with_key(&self.key);
        // The user name cannot contain ':' (htpasswd's separator), so `user:password` is
        // unambiguous.
        ctx.update(user.as_bytes());
        ctx.update(b":");
        ctx.update(password);
        let mut tag = [0u8; 32];
        tag.copy_from_slice(ctx.sign().as_ref());
        tag
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
