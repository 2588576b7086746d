//! Time is stepped by adding durations to a base `Instant` (paused time).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Bucket, KeyedLimiter, Limit, LimitError, Limiter, Rejection};

const MS: Duration = Duration::from_millis(1);
const SEC: Duration = Duration::from_secs(1);

fn limit(per_unit: u64, unit: Duration, burst: u64) -> Limit {
    Limit::new(per_unit, unit, Some(burst)).unwrap()
}

#[test]
fn burst_then_steady_rate() {
    let t0 = Instant::now();
    let mut b = Bucket::new(&limit(10, SEC, 5), t0);
    for i in 0..5 {
        let d = b.try_take(t0, 1);
        assert!(d.allowed, "request {i}");
        assert_eq!(d.remaining, 4 - i);
        assert_eq!(d.retry_after, None);
    }
    let d = b.try_take(t0, 1);
    assert!(!d.allowed);
    assert_eq!(d.retry_after, Some(100 * MS));
    assert_eq!(d.reset, 100 * MS);
    assert_eq!(d.remaining, 0);

    // Not yet: 99 ms refill 0.99 of a token.
    let d = b.try_take(t0 + 99 * MS, 1);
    assert!(!d.allowed);
    assert_eq!(d.retry_after, Some(MS));

    // Then one every 100 ms, exactly.
    for step in 1..=20u32 {
        let now = t0 + step * 100 * MS;
        assert!(b.try_take(now, 1).allowed, "step {step}");
        assert!(!b.try_take(now, 1).allowed, "step {step}");
    }
}

#[test]
fn refill_is_continuous_and_capped() {
    let t0 = Instant::now();
    let mut b = Bucket::new(&limit(7, SEC, 0), t0);
    assert_eq!(b.capacity(), 7, "burst 0 means per_unit");
    assert!(b.try_take(t0, 7).allowed);
    // 7 per second: one token every 142857142.857 ns, so 3 tokens after 428571429 ns.
    assert!(
        !b.try_take(t0 + Duration::from_nanos(428_571_428), 3)
            .allowed
    );
    let d = b.try_take(t0 + Duration::from_nanos(428_571_429), 3);
    assert!(d.allowed);
    assert_eq!(d.remaining, 0);
    // A long idle period never fills beyond capacity.
    assert_eq!(b.remaining(t0 + 3600 * SEC), 7);
    assert!(b.is_full(t0 + 3600 * SEC));
    assert!(!b.try_take(t0 + 3600 * SEC, 8).allowed);
}

#[test]
fn time_going_backwards_is_ignored() {
    let t0 = Instant::now();
    let mut b = Bucket::new(&limit(1, SEC, 1), t0 + SEC);
    assert!(b.try_take(t0 + SEC, 1).allowed);
    assert!(!b.try_take(t0, 1).allowed);
    assert!(b.try_take(t0 + 2 * SEC, 1).allowed);
}

#[test]
fn decision_headers() {
    let t0 = Instant::now();
    let mut b = Bucket::new(&limit(100, Duration::from_secs(60), 20), t0);
    let d = b.try_take(t0, 5);
    let headers = d.headers();
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.to_str().unwrap()))
        .collect();
    // 5 tokens at 100/min take 3 s to come back.
    assert_eq!(
        pairs,
        [
            ("x-ratelimit-limit", "20"),
            ("x-ratelimit-remaining", "15"),
            ("x-ratelimit-reset", "3")
        ]
    );
    assert_eq!(d.retry_after_header(), None);

    assert!(b.try_take(t0, 15).allowed);
    let d = b.try_take(t0, 1);
    assert!(!d.allowed);
    assert_eq!(d.retry_after, Some(Duration::from_millis(600)));
    let (name, value) = d.retry_after_header().unwrap();
    assert_eq!(name, http::header::RETRY_AFTER);
    assert_eq!(value, "1", "rounded up to whole seconds");
    assert_eq!(d.headers()[2].1, "1");
    assert_eq!(d.headers()[1].1, "0");
}

#[test]
fn reservation_refund() {
    let t0 = Instant::now();
    let mut b = Bucket::new(&limit(1000, SEC, 1000), t0);
    let r = b.reserve(t0, 800).unwrap();
    assert_eq!(r.amount(), 800);
    assert_eq!(b.remaining(t0), 200);
    assert_eq!(b.settle(t0, r, 300), 500);
    assert_eq!(b.remaining(t0), 700);
    // A refund never fills beyond capacity.
    let r = b.reserve(t0, 100).unwrap();
    assert_eq!(b.settle(t0 + SEC, r, 0), 100);
    assert_eq!(b.remaining(t0 + SEC), 1000);
}

#[test]
fn reservation_debt_delays_next_requests() {
    let t0 = Instant::now();
    let mut b = Bucket::new(&limit(100, SEC, 100), t0);
    let r = b.reserve(t0, 50).unwrap();
    assert!(b.may_continue(t0, &r, 100), "50 reserved + 50 left");
    assert!(!b.may_continue(t0, &r, 101));
    assert_eq!(b.settle(t0, r, 250), -200);
    assert_eq!(b.remaining(t0), -150);
    assert!(b.is_full(t0 + 10 * SEC));

    let d = b.try_take(t0, 1);
    assert!(!d.allowed);
    // 151 tokens to earn back at 100/s.
    assert_eq!(d.retry_after, Some(Duration::from_millis(1510)));
    assert!(matches!(
        b.reserve(t0 + SEC, 1),
        Err(Rejection::Limited(d)) if d.retry_after == Some(Duration::from_millis(510))
    ));
    assert_eq!(
        b.remaining(t0 + Duration::from_millis(1495)),
        -1,
        "floor in debt"
    );
    let limited = b.reserve(t0 + Duration::from_millis(1200), 1).unwrap_err();
    assert_eq!(limited.to_string(), "rate limit exceeded; retry in 1s");
    assert_eq!(limited.decision().unwrap().limit, 100);
    assert!(b.reserve(t0 + Duration::from_millis(1510), 1).is_ok());
}

#[test]
fn never_fits() {
    let t0 = Instant::now();
    let mut b = Bucket::new(&limit(50_000, 3600 * SEC, 0), t0);
    let err = b.reserve(t0, 50_001).unwrap_err();
    assert_eq!(
        err,
        Rejection::NeverFits {
            needed: 50_001,
            capacity: 50_000
        }
    );
    assert!(err.to_string().contains("at most 50000"));
    assert_eq!(err.decision(), None);
    assert_eq!(b.remaining(t0), 50_000, "nothing taken");

    // The same through a plain check: rejected, and retrying is pointless.
    let d = b.try_take(t0, 50_001);
    assert!(!d.allowed);
    assert_eq!(d.retry_after, None);
    assert_eq!(d.retry_after_header(), None);
}

#[test]
fn limit_validation() {
    assert_eq!(Limit::new(0, SEC, None), Err(LimitError::ZeroRate));
    assert_eq!(
        Limit::new(1, Duration::ZERO, None),
        Err(LimitError::ZeroUnit)
    );
    assert_eq!(Limit::new(10, SEC, None).unwrap().capacity(), 10);
    assert_eq!(Limit::new(10, SEC, Some(0)).unwrap().capacity(), 10);
    assert_eq!(Limit::new(10, SEC, Some(25)).unwrap().capacity(), 25);
}

#[test]
fn unkeyed_limiter() {
    let t0 = Instant::now();
    let l = Limiter::new(limit(2, SEC, 2), t0);
    assert!(l.check(t0, 1).allowed);
    assert!(l.check(t0, 1).allowed);
    assert!(!l.check(t0, 1).allowed);
    assert_eq!(l.remaining(t0 + SEC), 2);
    let r = l.reserve(t0 + SEC, 2).unwrap();
    assert_eq!(l.settle(t0 + SEC, r, 1), 1);
    assert_eq!(l.remaining(t0 + SEC), 1);
}

#[test]
fn keyed_isolation() {
    let t0 = Instant::now();
    let l = KeyedLimiter::new(limit(1, SEC, 2), 1000);
    assert!(l.check("alice", t0, 2).allowed);
    assert!(!l.check("alice", t0, 1).allowed);
    assert!(l.check("bob", t0, 1).allowed);
    assert_eq!(l.remaining("bob", t0), 1);
    assert_eq!(l.remaining("carol", t0), 2, "unknown key: full");
    assert_eq!(l.len(), 2);

    let r = l.reserve("bob", t0, 1).unwrap();
    assert!(l.may_continue("bob", t0, &r, 1));
    assert!(!l.may_continue("bob", t0, &r, 2));
    assert_eq!(l.settle("bob", t0, r, 3), -2);
    assert_eq!(l.remaining("bob", t0), -2);
    assert_eq!(l.remaining("alice", t0), 0);
    assert!(matches!(
        l.reserve("carol", t0, 3),
        Err(Rejection::NeverFits {
            needed: 3,
            capacity: 2
        })
    ));
}

#[test]
fn eviction_keeps_memory_bounded() {
    let t0 = Instant::now();
    let max = 1000;
    let l = KeyedLimiter::new(limit(10, SEC, 10), max);
    // Idle keys: each takes one token and is full again 100 ms later.
    for i in 0..10 * max {
        let now = t0 + (i as u32) * MS;
        assert!(l.check(&format!("client-{i}"), now, 1).allowed);
        assert!(l.len() <= max);
    }
    assert!(l.len() <= max);
    assert!(l.evict_idle(t0 + 3600 * SEC) > 0);
    assert!(l.is_empty());
}

#[test]
fn eviction_under_a_flood_of_active_keys() {
    let t0 = Instant::now();
    let max = 64;
    // Nothing refills within the test, so no bucket is ever idle.
    let l = KeyedLimiter::new(limit(1, 3600 * SEC, 5), max);
    for i in 0..10 * max {
        l.check(&format!("k{i}"), t0, 1 + (i % 5) as u64);
        assert!(l.len() <= max);
    }
    // A key that keeps coming back stays limited as long as it is not the fullest.
    let hot = KeyedLimiter::new(limit(1, 3600 * SEC, 5), max);
    assert!(hot.check("hot", t0, 5).allowed);
    for i in 0..10 * max {
        hot.check(&format!("k{i}"), t0, 1);
        assert!(!hot.check("hot", t0, 1).allowed, "iteration {i}");
    }
}

#[test]
fn tiny_max_keys() {
    let t0 = Instant::now();
    let l = KeyedLimiter::new(limit(1, SEC, 1), 0);
    assert!(l.check("a", t0, 1).allowed);
    assert!(l.check("b", t0, 1).allowed);
    assert_eq!(l.len(), 1);
}

#[test]
fn concurrent_checks_never_over_admit() {
    let t0 = Instant::now();
    let keyed = Arc::new(KeyedLimiter::new(limit(1, 3600 * SEC, 100), 10_000));
    let shared = Arc::new(Limiter::new(limit(1, 3600 * SEC, 1000), t0));
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let keyed = Arc::clone(&keyed);
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                let mut admitted = [0u32; 4];
                let mut shared_admitted = 0u32;
                for i in 0..1000 {
                    let key = i % 4;
                    if keyed.check(&format!("key-{key}"), t0, 1).allowed {
                        admitted[key] += 1;
                    }
                    if shared.check(t0, 1).allowed {
                        shared_admitted += 1;
                    }
                    // Per-thread keys too, so shards see mixed traffic.
                    keyed.check(&format!("thread-{t}-{i}"), t0, 1);
                }
                (admitted, shared_admitted)
            })
        })
        .collect();
    let mut per_key = [0u32; 4];
    let mut shared_total = 0;
    for h in handles {
        let (admitted, shared_admitted) = h.join().unwrap();
        for (total, n) in per_key.iter_mut().zip(admitted) {
            *total += n;
        }
        shared_total += shared_admitted;
    }
    assert_eq!(per_key, [100; 4], "exactly the capacity of each key");
    assert_eq!(shared_total, 1000);
    assert!(keyed.len() <= 10_000);
}
