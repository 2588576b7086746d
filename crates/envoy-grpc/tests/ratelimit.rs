//! The rate limit client against the test RateLimitService, over real h2c connections.

// Tests: a failed unwrap is a failed test, with the message that explains it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use envoy_grpc::testing::{RateLimitCall, RateLimitServer};
use envoy_grpc::{GrpcChannel, RateLimitClient};

fn descriptor(entries: &[(&str, &str)]) -> Vec<(String, String)> {
    entries
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn client(server: &RateLimitServer) -> RateLimitClient {
    RateLimitClient::new(GrpcChannel::new(server.addr(), Duration::from_secs(5)).unwrap())
}

#[tokio::test]
async fn counts_up_to_the_limit_then_limits() {
    let server = RateLimitServer::start(3).await;
    let client = client(&server);
    let alice = [descriptor(&[("user", "alice")])];

    for expected_left in [2, 1, 0] {
        let verdict = client.should_rate_limit("gw", &alice, 1).await.unwrap();
        assert!(!verdict.over_limit);
        assert_eq!(verdict.limit_remaining, Some(expected_left));
        assert_eq!(verdict.reset, Some(Duration::from_secs(60)));
    }
    let verdict = client.should_rate_limit("gw", &alice, 1).await.unwrap();
    assert!(verdict.over_limit);
    assert_eq!(verdict.limit_remaining, Some(0));
    assert_eq!(server.hits("gw", &[("user", "alice")]), 4);

    // Another descriptor, and the same one in another domain, count on their own.
    let bob = [descriptor(&[("user", "bob")])];
    assert!(
        !client
            .should_rate_limit("gw", &bob, 1)
            .await
            .unwrap()
            .over_limit
    );
    assert!(
        !client
            .should_rate_limit("other", &alice, 1)
            .await
            .unwrap()
            .over_limit
    );
}

#[tokio::test]
async fn response_headers_are_passed_through() {
    let server = RateLimitServer::start(10).await;
    let verdict = client(&server)
        .should_rate_limit("gw", &[descriptor(&[("k", "v")])], 4)
        .await
        .unwrap();
    assert_eq!(
        verdict.response_headers,
        descriptor(&[("x-ratelimit-limit", "10"), ("x-ratelimit-remaining", "6")])
    );
}

#[tokio::test]
async fn hits_and_descriptors_reach_the_service() {
    let server = RateLimitServer::start(5).await;
    let client = client(&server);
    let descriptors = [
        descriptor(&[("route", "chat"), ("user", "alice")]),
        descriptor(&[("route", "chat")]),
    ];
    // Six hits at once exceed a limit of five.
    let verdict = client
        .should_rate_limit("llm", &descriptors, 6)
        .await
        .unwrap();
    assert!(verdict.over_limit);
    // Zero is sent as proto3's default and counted as one hit.
    let verdict = client
        .should_rate_limit("llm", &[descriptor(&[("route", "embed")])], 0)
        .await
        .unwrap();
    assert!(!verdict.over_limit);
    assert_eq!(verdict.limit_remaining, Some(4));

    assert_eq!(
        server.calls(),
        [
            RateLimitCall {
                domain: "llm".into(),
                descriptors: descriptors.to_vec(),
                hits: 6,
            },
            RateLimitCall {
                domain: "llm".into(),
                descriptors: vec![descriptor(&[("route", "embed")])],
                hits: 0,
            },
        ]
    );
}

#[tokio::test]
async fn one_descriptor_over_its_limit_limits_the_call() {
    let server = RateLimitServer::start(1).await;
    let client = client(&server);
    let busy = descriptor(&[("user", "busy")]);
    assert!(
        !client
            .should_rate_limit("gw", std::slice::from_ref(&busy), 1)
            .await
            .unwrap()
            .over_limit
    );
    let verdict = client
        .should_rate_limit("gw", &[descriptor(&[("user", "fresh")]), busy], 1)
        .await
        .unwrap();
    assert!(verdict.over_limit);
    assert_eq!(verdict.limit_remaining, Some(0));
}
