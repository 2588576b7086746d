//! Passive health of providers in priority groups: a failing provider is ejected for a
//! while (as long as its `Retry-After` asks, or a default) and skipped meanwhile.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// How long a provider is skipped after a failure that named no time.
pub const DEFAULT_EJECTION: Duration = Duration::from_secs(10);
/// The longest ejection a `Retry-After` can ask for.
pub const MAX_EJECTION: Duration = Duration::from_secs(300);

#[derive(Debug, Default)]
pub struct ProviderHealth {
    /// Milliseconds since the epoch until which the provider is skipped.
    ejected_until: AtomicU64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

impl ProviderHealth {
    pub fn available(&self) -> bool {
        self.ejected_until.load(Ordering::Relaxed) <= now_ms()
    }

    pub fn eject(&self, for_how_long: Duration) {
        let until = now_ms() + for_how_long.min(MAX_EJECTION).as_millis() as u64;
        self.ejected_until.fetch_max(until, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ejection_expires() {
        let h = ProviderHealth::default();
        assert!(h.available());
        h.eject(Duration::from_secs(60));
        assert!(!h.available());
        let expired = ProviderHealth::default();
        expired.eject(Duration::ZERO);
        assert!(expired.available());
    }
}
