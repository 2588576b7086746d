//! The global limiter against a real `redis-server`: the bucket, sharing between replicas,
//! expiry, settlement, failure modes and recovery.
//!
//! Timing: waits are generous and only ever assert that enough time has passed for a refill
//! (never that something happened quickly), so a loaded machine cannot make them flaky.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use redis_limit::{FailureMode, GlobalLimit, Outcome, RedisConfig, RedisLimiter};
use test_support::redis::RedisServer;
use tokio::task::JoinSet;

macro_rules! redis_or_skip {
    () => {
        match RedisServer::start() {
            Some(server) => server,
            None => return,
        }
    };
}

const PREFIX: &str = "test:rl:";

fn limiter(address: String, failure_mode: FailureMode) -> RedisLimiter {
    RedisLimiter::new(RedisConfig {
        address,
        key_prefix: PREFIX.into(),
        connect_timeout: Duration::from_secs(1),
        // Generous: the machine may be busy with other builds; no test relies on it firing.
        command_timeout: Duration::from_secs(3),
        pool_size: 4,
        failure_mode,
    })
}

fn limit(per_unit: u64, unit: Duration, capacity: u64) -> GlobalLimit {
    GlobalLimit {
        per_unit,
        unit,
        capacity,
    }
}

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn allows_up_to_capacity_then_limits_with_retry_after() {
    let server = redis_or_skip!();
    let limiter = limiter(server.address(), FailureMode::FailClosed);
    // 5 per 10 s: one token every 2 s, so the test runs long before anything refills.
    let limit = limit(5, Duration::from_secs(10), 5);
    for expected_remaining in (0..5).rev() {
        match limiter.check("caller", &limit, 1).await {
            Outcome::Allowed { remaining, reset } => {
                assert_eq!(remaining, expected_remaining);
                assert!(reset > Duration::ZERO && reset <= Duration::from_secs(10));
            }
            other => panic!("expected allowed, got {other:?}"),
        }
    }
    match limiter.check("caller", &limit, 1).await {
        Outcome::Limited {
            retry_after, reset, ..
        } => {
            let retry_after = retry_after.unwrap();
            assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_secs(2));
            assert_eq!(reset, retry_after);
        }
        other => panic!("expected limited, got {other:?}"),
    }
    // Another key has its own bucket.
    assert!(limiter.check("someone-else", &limit, 5).await.is_allowed());
    let stats = limiter.stats();
    assert_eq!((stats.allowed_total, stats.limited_total), (6, 1));
    assert_eq!(stats.degraded_total, 0);
}

#[tokio::test]
async fn an_amount_above_capacity_never_fits_and_takes_nothing() {
    let server = redis_or_skip!();
    let limiter = limiter(server.address(), FailureMode::FailOpen);
    let limit = limit(10, HOUR, 10);
    match limiter.check("big", &limit, 11).await {
        Outcome::Limited { retry_after, .. } => assert_eq!(retry_after, None),
        other => panic!("expected limited, got {other:?}"),
    }
    assert!(limiter.check("big", &limit, 10).await.is_allowed());
}

#[tokio::test]
async fn refills_after_waiting() {
    let server = redis_or_skip!();
    let limiter = limiter(server.address(), FailureMode::FailClosed);
    // One token per 200 ms, three at most.
    let limit = limit(1, Duration::from_millis(200), 3);
    assert!(limiter.check("r", &limit, 3).await.is_allowed());
    let retry_after = match limiter.check("r", &limit, 3).await {
        Outcome::Limited { retry_after, .. } => retry_after.unwrap(),
        other => panic!("expected limited, got {other:?}"),
    };
    assert!(retry_after <= Duration::from_millis(600), "{retry_after:?}");
    tokio::time::sleep(retry_after + Duration::from_millis(100)).await;
    match limiter.check("r", &limit, 3).await {
        Outcome::Allowed { remaining, .. } => assert_eq!(remaining, 0),
        other => panic!("expected a refilled bucket, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_enforce_one_combined_limit() {
    let server = redis_or_skip!();
    // Two limiters with their own pools, like two gateway processes.
    let replicas = [
        limiter(server.address(), FailureMode::FailOpen),
        limiter(server.address(), FailureMode::FailOpen),
    ];
    let limit = limit(20, HOUR, 20);
    let mut replica_tasks = JoinSet::new();
    for replica in replicas.clone() {
        replica_tasks.spawn(async move {
            let mut requests = JoinSet::new();
            for _ in 0..50 {
                let replica = replica.clone();
                requests.spawn(async move { replica.check("shared", &limit, 1).await });
            }
            let mut outcomes = Vec::new();
            while let Some(outcome) = requests.join_next().await {
                outcomes.push(outcome.unwrap());
            }
            outcomes
        });
    }
    let mut allowed = 0;
    let mut limited = 0;
    while let Some(outcomes) = replica_tasks.join_next().await {
        for outcome in outcomes.unwrap() {
            match outcome {
                Outcome::Allowed { .. } => allowed += 1,
                Outcome::Limited { .. } => limited += 1,
                Outcome::Degraded { error, .. } => panic!("degraded: {error}"),
            }
        }
    }
    assert_eq!((allowed, limited), (20, 80));
    let per_replica: Vec<u64> = replicas.iter().map(|r| r.stats().allowed_total).collect();
    assert_eq!(per_replica.iter().sum::<u64>(), 20, "{per_replica:?}");
}

#[tokio::test]
async fn buckets_expire_once_refilled() {
    let server = redis_or_skip!();
    let limiter = limiter(server.address(), FailureMode::FailOpen);
    let key = format!("{PREFIX}ttl");
    let limit = limit(10, Duration::from_secs(1), 10);

    // A look (amount 0) at a new bucket writes nothing.
    assert!(limiter.check("ttl", &limit, 0).await.is_allowed());
    assert_eq!(server.cmd(&["EXISTS", &key]), ":0");

    // 5 tokens missing at 10 per second: full again, and gone, within 500 ms.
    assert!(limiter.check("ttl", &limit, 5).await.is_allowed());
    let ttl: i64 = server
        .cmd(&["PTTL", &key])
        .trim_start_matches(':')
        .parse()
        .unwrap();
    assert!(ttl > 0 && ttl <= 500, "PTTL {ttl}");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(server.cmd(&["EXISTS", &key]), ":0");
}

#[tokio::test]
async fn adjust_refunds_up_to_capacity_and_charges_into_debt() {
    let server = redis_or_skip!();
    let limiter = limiter(server.address(), FailureMode::FailClosed);
    // 10 per hour: one token per 6 minutes, so nothing refills during the test.
    let limit = limit(10, HOUR, 10);
    assert!(limiter.check("llm", &limit, 10).await.is_allowed());
    assert!(!limiter.check("llm", &limit, 1).await.is_allowed());

    // Refund: the call used less than its estimate.
    limiter.adjust("llm", &limit, 4).await.unwrap();
    match limiter.check("llm", &limit, 4).await {
        Outcome::Allowed { remaining, .. } => assert_eq!(remaining, 0),
        other => panic!("expected the refund to be usable, got {other:?}"),
    }
    assert!(!limiter.check("llm", &limit, 1).await.is_allowed());

    // A refund never fills the bucket past its capacity.
    limiter.adjust("llm", &limit, 1000).await.unwrap();
    assert!(!limiter.check("llm", &limit, 11).await.is_allowed());
    assert!(limiter.check("llm", &limit, 10).await.is_allowed());

    // Overrun: 20 more tokens than reserved leaves the bucket 20 in debt, so one token is
    // 21 refills (6 minutes each) away.
    limiter.adjust("llm", &limit, -20).await.unwrap();
    match limiter.check("llm", &limit, 1).await {
        Outcome::Limited { retry_after, .. } => {
            let retry_after = retry_after.unwrap();
            assert!(retry_after > 20 * HOUR / 10, "{retry_after:?}");
            // Rounded up to whole milliseconds, possibly one more for float rounding.
            assert!(
                retry_after <= 21 * HOUR / 10 + Duration::from_secs(1),
                "{retry_after:?}"
            );
        }
        other => panic!("expected the debt to limit, got {other:?}"),
    }
    let ttl: i64 = server
        .cmd(&["PTTL", &format!("{PREFIX}llm")])
        .trim_start_matches(':')
        .parse()
        .unwrap();
    assert!(
        ttl > 29 * 360_000,
        "the key lives until the debt is paid back: {ttl}"
    );

    // A refund on a missing (hence full) bucket creates nothing.
    limiter.adjust("fresh", &limit, 5).await.unwrap();
    assert_eq!(server.cmd(&["EXISTS", &format!("{PREFIX}fresh")]), ":0");
}

#[tokio::test]
async fn reloads_the_script_after_script_flush() {
    let server = redis_or_skip!();
    let limiter = limiter(server.address(), FailureMode::FailClosed);
    let limit = limit(10, HOUR, 10);
    assert!(limiter.check("s", &limit, 3).await.is_allowed());
    assert_eq!(limiter.stats().script_loads_total, 1);

    assert_eq!(server.cmd(&["SCRIPT", "FLUSH"]), "+OK");
    // NOSCRIPT, then EVAL: the bucket state survived, only the script was forgotten.
    match limiter.check("s", &limit, 3).await {
        Outcome::Allowed { remaining, .. } => assert_eq!(remaining, 4),
        other => panic!("expected allowed after SCRIPT FLUSH, got {other:?}"),
    }
    assert_eq!(limiter.stats().script_loads_total, 2);
    // Reloaded: EVALSHA works again without another load.
    assert!(limiter.check("s", &limit, 1).await.is_allowed());
    assert_eq!(limiter.stats().script_loads_total, 2);
    assert_eq!(limiter.stats().degraded_total, 0);
}

/// Kills Redis mid-test, checks the degraded answer for `mode`, then brings Redis back and
/// waits (generously) for the limiter to use it again.
async fn outage_and_recovery(mode: FailureMode) {
    let mut server = redis_or_skip!();
    let limiter = limiter(server.address(), mode);
    let limit = limit(10, HOUR, 10);
    assert!(limiter.check("k", &limit, 1).await.is_allowed());

    server.stop();
    for _ in 0..5 {
        match limiter.check("k", &limit, 1).await {
            Outcome::Degraded { allowed, error } => {
                assert_eq!(allowed, mode == FailureMode::FailOpen);
                assert!(!error.is_empty());
            }
            other => panic!("expected degraded while redis is down, got {other:?}"),
        }
    }
    assert!(limiter.adjust("k", &limit, 1).await.is_err());
    let stats = limiter.stats();
    assert_eq!(stats.degraded_total, 5);
    assert_eq!(stats.adjust_errors_total, 1);

    server.restart();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match limiter.check("k", &limit, 1).await {
            // The new server is empty: a full bucket again.
            Outcome::Allowed { remaining, .. } => {
                assert_eq!(remaining, 9);
                break;
            }
            Outcome::Degraded { .. } if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => panic!("redis is back but the limiter answered {other:?}"),
        }
    }
}

#[tokio::test]
async fn fail_open_allows_while_redis_is_down_and_recovers() {
    outage_and_recovery(FailureMode::FailOpen).await;
}

#[tokio::test]
async fn fail_closed_rejects_while_redis_is_down_and_recovers() {
    outage_and_recovery(FailureMode::FailClosed).await;
}

#[tokio::test]
async fn a_restart_between_requests_is_not_a_failure() {
    let mut server = redis_or_skip!();
    let limiter = limiter(server.address(), FailureMode::FailClosed);
    let limit = limit(10, HOUR, 10);
    assert!(limiter.check("k", &limit, 1).await.is_allowed());
    // The pooled connection is now dead; it is noticed before use, not by a failed request.
    server.restart();
    // The restart above blocked this single-threaded runtime; a gateway's runtime polls its
    // sockets continuously, which is how it learns that the old connection was closed.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(limiter.check("k", &limit, 1).await.is_allowed());
    let stats = limiter.stats();
    assert_eq!(stats.degraded_total, 0);
    assert_eq!(stats.connects_total, 2);
    assert_eq!(
        stats.script_loads_total, 2,
        "the new server needed the script again"
    );
}

#[tokio::test]
async fn unreachable_redis_degrades_at_once() {
    let limiter = limiter(
        format!("127.0.0.1:{}", test_support::free_port()),
        FailureMode::FailClosed,
    );
    let limit = limit(10, HOUR, 10);
    let outcome = limiter.check("k", &limit, 1).await;
    assert!(
        matches!(outcome, Outcome::Degraded { allowed: false, .. }),
        "{outcome:?}"
    );
    assert!(!limiter.check("k", &limit, 1).await.is_allowed());
    assert_eq!(limiter.stats().degraded_total, 2);
}

#[tokio::test]
async fn a_silent_server_times_out_into_degraded() {
    // Accepts connections and never answers, like a hung Redis.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let limiter = RedisLimiter::new(RedisConfig {
        address,
        command_timeout: Duration::from_millis(200),
        failure_mode: FailureMode::FailOpen,
        ..RedisConfig::default()
    });
    let started = Instant::now();
    match limiter.check("k", &limit(10, HOUR, 10), 1).await {
        Outcome::Degraded { allowed, error } => {
            assert!(allowed);
            assert!(error.contains("did not answer"), "{error}");
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    // Only a sanity bound: the timeout fired rather than the call hanging.
    assert!(started.elapsed() < Duration::from_secs(30));
    hold.abort();
}
