//! Token budgets on LLM routes: the estimated prompt plus `max_tokens` is reserved before
//! the provider is called and settled with the provider's real usage afterwards.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{llm_gateway, post_json};
use serde_json::json;
use test_support::client::send;
use test_support::provider_mock::Flavor;

const BUDGET: &str = "---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: budget}
spec:
  targetRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: llm}]
  traffic:
    rateLimit:
      local: [{tokens: 2000, unit: Hours, key: {header: x-team}}]
";

fn ask(max_tokens: u64) -> serde_json::Value {
    json!({"model": "gpt-4o", "max_tokens": max_tokens, "messages": [{"role": "user", "content": "hi"}]})
}

fn team(
    port: u16,
    team: &str,
    path: &str,
    body: &serde_json::Value,
) -> http::Request<http_body_util::Full<bytes::Bytes>> {
    let mut request = post_json(port, path, body);
    request
        .headers_mut()
        .insert("x-team", team.parse().unwrap());
    request
}

#[tokio::test]
async fn real_usage_is_charged_and_an_exhausted_budget_answers_429() {
    let (provider, port, _gw) = llm_gateway(Flavor::OpenAi, "openai", None, BUDGET).await;
    // Each answer reports 1632 tokens (the sample), far more than the ~110 reserved.
    let mut reported = Vec::new();
    for _ in 0..2 {
        let r = send(team(port, "a", "/v1/chat/completions", &ask(100))).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.headers["x-ratelimit-limit"], "2000");
        reported.push(
            r.headers["x-ratelimit-remaining"]
                .to_str()
                .unwrap()
                .parse::<u64>()
                .unwrap(),
        );
    }
    // The first left its reservation (~110) taken; the second saw the first's overrun.
    assert!(reported[0] < 2000 && reported[0] > 1800, "{reported:?}");
    assert!(reported[1] < reported[0], "{reported:?}");
    let r = send(team(port, "a", "/v1/chat/completions", &ask(100))).await;
    assert_eq!(r.status, 429, "the overrun was charged: {}", r.text());
    assert_eq!(r.json()["error"]["code"], "rate_limit_exceeded");
    assert!(r.headers.contains_key("retry-after"));
    assert_eq!(
        provider.received().len(),
        2,
        "a refused request never reaches the provider"
    );
    let r = send(team(port, "b", "/v1/chat/completions", &ask(100))).await;
    assert_eq!(r.status, 200, "each team has its own budget");
}

#[tokio::test]
async fn a_request_that_can_never_fit_is_refused_with_the_reason() {
    let (provider, port, _gw) = llm_gateway(Flavor::OpenAi, "openai", None, BUDGET).await;
    let r = send(team(port, "a", "/v1/chat/completions", &ask(5000))).await;
    assert_eq!(r.status, 429, "{}", r.text());
    let message = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(message.contains("can ever hold (2000)"), "{message}");
    assert!(message.contains("lower max_tokens"), "{message}");
    assert!(
        !r.headers.contains_key("retry-after"),
        "waiting cannot help"
    );
    assert_eq!(r.headers["x-should-retry"], "false", "SDKs must not retry");
    // Anthropic clients get their own shape.
    let anthropic =
        json!({"model": "m", "max_tokens": 5000, "messages": [{"role": "user", "content": "hi"}]});
    let r = send(team(port, "a", "/v1/messages", &anthropic)).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["error"]["type"], "rate_limit_error");
    assert!(provider.received().is_empty());
}

#[tokio::test]
async fn a_failed_call_gives_its_reservation_back() {
    let (_provider, port, _gw) = llm_gateway(Flavor::OpenAi, "openai", None, BUDGET).await;
    // 1500 of 2000 reserved each time; a provider 404 uses nothing, so both fit.
    for _ in 0..3 {
        let missing = json!({"model": "missing-model", "max_tokens": 1500, "messages": [{"role": "user", "content": "hi"}]});
        let r = send(team(port, "a", "/v1/chat/completions", &missing)).await;
        assert_eq!(r.status, 404, "{}", r.text());
    }
}

/// `x-ratelimit-remaining` of an answer.
fn remaining(r: &test_support::client::Collected) -> u64 {
    r.headers["x-ratelimit-remaining"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_stream_the_client_leaves_is_charged_what_it_streamed_not_its_reservation() {
    use http_body_util::BodyExt;
    let (_provider, port, gw) = llm_gateway(Flavor::OpenAi, "openai", None, BUDGET).await;
    // 1500 reserved for the answer; the provider sends a few words, then the client leaves.
    let stall = json!({"model": "stall-stream", "max_tokens": 1500, "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let response = test_support::client::http1()
        .request(team(port, "a", "/v1/chat/completions", &stall))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    body.frame().await.unwrap().unwrap();
    drop(body);
    // The gateway runs on this test's thread: once the stream's duration is recorded, its
    // budget has been settled too.
    for _ in 0..100 {
        if gw
            .shared()
            .metrics
            .render()
            .contains("gen_ai_request_model=\"stall-stream\"")
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let mut probe = ask(10);
    probe["model"] = json!("missing-model");
    let r = send(team(port, "a", "/v1/chat/completions", &probe)).await;
    assert_eq!(r.status, 404, "{}", r.text());
    let left = remaining(&r);
    assert!(
        left > 1900,
        "the left stream gave back what it did not stream (remaining {left} of 2000)"
    );
}

#[tokio::test]
async fn a_stream_past_its_budget_is_cut_with_an_error_event() {
    let budget = "---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: budget}
spec:
  targetRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: llm}]
  traffic:
    rateLimit:
      local: [{tokens: 12, unit: Hours, cutStreams: true}]
";
    let (_provider, port, _gw) = llm_gateway(Flavor::OpenAi, "openai", None, budget).await;
    let mut request = ask(1);
    request["stream"] = json!(true);
    let text = common::streamed_text(port, "/v1/chat/completions", &request).await;
    let data = common::sse_data(&text);
    let last: serde_json::Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert!(
        last["error"]["message"]
            .as_str()
            .unwrap()
            .contains("token budget exhausted"),
        "{text}"
    );
    let content: String = data
        .iter()
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert!(
        !content.contains("Paris"),
        "the answer was cut before its end: {content}"
    );
}

#[tokio::test]
async fn a_token_budget_in_redis_is_shared_by_replicas_and_settled_with_usage() {
    let Some(redis) = test_support::redis::RedisServer::start() else {
        return;
    };
    let budget = format!(
        "---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {{name: budget}}
spec:
  targetRefs: [{{group: agentgateway.dev, kind: AgentgatewayBackend, name: llm}}]
  traffic:
    rateLimit:
      global:
        redis: {{address: '{}'}}
        limits: [{{tokens: 2000, unit: Hours}}]
",
        redis.address()
    );
    // Two gateways (replicas) in front of providers that report 1632 tokens per answer.
    let (_a, port_a, gw_a) = llm_gateway(Flavor::OpenAi, "openai", None, &budget).await;
    let (_b, port_b, _gw_b) = llm_gateway(Flavor::OpenAi, "openai", None, &budget).await;
    let r = send(post_json(port_a, "/v1/chat/completions", &ask(100))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.headers["x-ratelimit-limit"], "2000");
    let left: u64 = r.headers["x-ratelimit-remaining"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        left > 1800 && left < 2000,
        "the reservation is taken: {left}"
    );
    // The answer was charged 1632 tokens (settled in the background; the replica sees it
    // once Redis has it): about 368 are left, fewer than the ~510 the next request needs.
    let mut refused = None;
    for _ in 0..40 {
        let r = send(post_json(port_b, "/v1/chat/completions", &ask(500))).await;
        if r.status == 429 {
            refused = Some(r);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let refused = refused.expect("the shared budget of 2000 runs short");
    let left: u64 = refused.headers["x-ratelimit-remaining"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((300..500).contains(&left), "what is really left: {left}");
    let message = refused.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains(&format!("and {left} are left")),
        "{message}"
    );
    let r = send(post_json(port_a, "/v1/chat/completions", &ask(5000))).await;
    assert_eq!(r.status, 429);
    assert!(r.text().contains("can ever hold (2000)"), "{}", r.text());

    // With Redis gone the default failure mode lets calls through, and counts them.
    let mut redis = redis;
    redis.stop();
    let r = send(post_json(port_a, "/v1/chat/completions", &ask(10))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let metrics = gw_a.shared().metrics.render();
    assert!(
        metrics.contains("agentgateway_ratelimit_degraded_total 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn policy_refusals_on_llm_routes_come_in_the_clients_shape() {
    let policies = "---
apiVersion: v1
kind: Secret
metadata: {name: client-keys}
stringData: {team-a: sk-team-a-1234}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: guarded}
spec:
  targetRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: llm}]
  traffic:
    apiKeyAuthentication: {secretRef: {name: client-keys}, location: {header: {name: x-api-key}}}
    rateLimit:
      local: [{requests: 1, unit: Minutes}]
";
    let (_provider, port, _gw) = llm_gateway(Flavor::OpenAi, "openai", None, policies).await;
    let anthropic =
        json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});

    let r = send(post_json(port, "/v1/messages", &anthropic)).await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(r.headers.contains_key("www-authenticate"));
    assert_eq!(r.json()["type"], "error");
    assert_eq!(r.json()["error"]["type"], "authentication_error");
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("API key authentication failed"),
        "{}",
        r.text()
    );

    let keyed = |path: &str, body: &serde_json::Value| {
        let mut request = post_json(port, path, body);
        request
            .headers_mut()
            .insert("x-api-key", "sk-team-a-1234".parse().unwrap());
        request
    };
    let r = send(keyed("/v1/chat/completions", &ask(10))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = send(keyed("/v1/chat/completions", &ask(10))).await;
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(r.json()["error"]["type"], "requests");
    assert_eq!(r.json()["error"]["code"], "rate_limit_exceeded");
    assert!(r.json()["error"].get("param").is_some(), "OpenAI's shape");
    assert!(r.headers.contains_key("retry-after"));
    assert_eq!(r.headers["x-ratelimit-limit"], "1");
    let r = send(keyed("/v1/messages", &anthropic)).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["error"]["type"], "rate_limit_error");
}
