//! Routing through the real gateway to real upstreams: precedence, matches, hostnames, weights.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{backend, backend_ref, gateway, route, start};
use test_support::client::{get, send};
use test_support::free_port;
use test_support::upstream::Upstream;

fn upstream_of(response: &test_support::client::Collected) -> String {
    response
        .headers
        .get("x-upstream")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn path_precedence_exact_then_longest_prefix_then_regex() {
    let (exact, prefix, longer, regex) = (
        Upstream::start("exact").await,
        Upstream::start("prefix").await,
        Upstream::start("longer").await,
        Upstream::start("regex").await,
    );
    let port = free_port();
    let rules = format!(
        "  - matches: [{{path: {{type: RegularExpression, value: \"/api/.*\"}}}}]
    backendRefs: [{r}]
  - matches: [{{path: {{type: PathPrefix, value: /api}}}}]
    backendRefs: [{p}]
  - matches: [{{path: {{type: PathPrefix, value: /api/v1}}}}]
    backendRefs: [{l}]
  - matches: [{{path: {{type: Exact, value: /api/v1/models}}}}]
    backendRefs: [{e}]
",
        r = backend_ref("regex"),
        p = backend_ref("prefix"),
        l = backend_ref("longer"),
        e = backend_ref("exact")
    );
    let yaml = gateway(port)
        + &backend("exact", exact.port())
        + &backend("prefix", prefix.port())
        + &backend("longer", longer.port())
        + &backend("regex", regex.port())
        + &route("r", &rules);
    let _gw = start(&yaml).await;
    let base = format!("http://127.0.0.1:{port}");
    assert_eq!(
        upstream_of(&get(&format!("{base}/api/v1/models")).await),
        "exact"
    );
    assert_eq!(
        upstream_of(&get(&format!("{base}/api/v1/chat")).await),
        "longer"
    );
    assert_eq!(upstream_of(&get(&format!("{base}/api/v2")).await), "prefix");
    // Prefixes match whole segments: /apix is no /api prefix, so only the regex is left... which needs /api/.
    let miss = get(&format!("{base}/apix")).await;
    assert_eq!(miss.status, 404);
    let body = miss.json();
    assert_eq!(body["error"]["type"], "route_not_found");
    assert!(body["error"]["message"].as_str().unwrap().contains("/apix"));
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("default/gw/http")
    );
}

#[tokio::test]
async fn method_headers_and_query_refine_matches() {
    let (plain, post, header, query) = (
        Upstream::start("plain").await,
        Upstream::start("post").await,
        Upstream::start("header").await,
        Upstream::start("query").await,
    );
    let port = free_port();
    let rules = format!(
        "  - matches: [{{path: {{type: PathPrefix, value: /}}}}]
    backendRefs: [{a}]
  - matches: [{{path: {{type: PathPrefix, value: /}}, method: POST}}]
    backendRefs: [{b}]
  - matches: [{{path: {{type: PathPrefix, value: /}}, headers: [{{name: x-tenant, value: blue}}]}}]
    backendRefs: [{c}]
  - matches: [{{path: {{type: PathPrefix, value: /}}, queryParams: [{{name: v, type: RegularExpression, value: \"2|3\"}}]}}]
    backendRefs: [{d}]
",
        a = backend_ref("plain"), b = backend_ref("post"), c = backend_ref("header"), d = backend_ref("query")
    );
    let yaml = gateway(port)
        + &backend("plain", plain.port())
        + &backend("post", post.port())
        + &backend("header", header.port())
        + &backend("query", query.port())
        + &route("r", &rules);
    let _gw = start(&yaml).await;
    let base = format!("http://127.0.0.1:{port}");
    assert_eq!(upstream_of(&get(&format!("{base}/x")).await), "plain");
    let posted = send(
        http::Request::post(format!("{base}/x"))
            .body("hi".into())
            .unwrap(),
    )
    .await;
    assert_eq!(upstream_of(&posted), "post");
    let with_header = send(
        http::Request::get(format!("{base}/x"))
            .header("X-Tenant", "blue")
            .body(Default::default())
            .unwrap(),
    )
    .await;
    assert_eq!(upstream_of(&with_header), "header");
    assert_eq!(upstream_of(&get(&format!("{base}/x?v=3")).await), "query");
    assert_eq!(
        upstream_of(&get(&format!("{base}/x?v=23")).await),
        "plain",
        "regex matches the whole value"
    );
}

#[tokio::test]
async fn hostnames_pick_routes_and_listeners() {
    let (a, b, any) = (
        Upstream::start("a").await,
        Upstream::start("b").await,
        Upstream::start("any").await,
    );
    let port = free_port();
    let yaml = gateway(port)
        + &backend("a", a.port())
        + &backend("b", b.port())
        + &backend("any", any.port())
        + &format!(
            "---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: exact}}
spec:
  parentRefs: [{{name: gw}}]
  hostnames: [a.example.com]
  rules: [{{backendRefs: [{a}]}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: wild}}
spec:
  parentRefs: [{{name: gw}}]
  hostnames: [\"*.example.com\"]
  rules: [{{backendRefs: [{b}]}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: catchall}}
spec:
  parentRefs: [{{name: gw}}]
  rules: [{{backendRefs: [{c}]}}]
",
            a = backend_ref("a"),
            b = backend_ref("b"),
            c = backend_ref("any")
        );
    let _gw = start(&yaml).await;
    let url = format!("http://127.0.0.1:{port}/");
    let with_host = |host: &'static str| {
        http::Request::get(url.clone())
            .header("host", host)
            .body(Default::default())
            .unwrap()
    };
    assert_eq!(upstream_of(&send(with_host("a.example.com")).await), "a");
    assert_eq!(
        upstream_of(&send(with_host("A.Example.com:8080")).await),
        "a"
    );
    assert_eq!(upstream_of(&send(with_host("x.y.example.com")).await), "b");
    assert_eq!(upstream_of(&send(with_host("example.com")).await), "any");
}

#[tokio::test]
async fn weights_split_traffic_and_zero_weight_gets_none() {
    let (one, two, never) = (
        Upstream::start("one").await,
        Upstream::start("two").await,
        Upstream::start("never").await,
    );
    let port = free_port();
    let rules = "  - backendRefs:
    - {group: agentgateway.dev, kind: AgentgatewayBackend, name: one, weight: 1}
    - {group: agentgateway.dev, kind: AgentgatewayBackend, name: two, weight: 1}
    - {group: agentgateway.dev, kind: AgentgatewayBackend, name: never, weight: 0}
";
    let yaml = gateway(port)
        + &backend("one", one.port())
        + &backend("two", two.port())
        + &backend("never", never.port())
        + &route("r", rules);
    let _gw = start(&yaml).await;
    for _ in 0..200 {
        assert_eq!(get(&format!("http://127.0.0.1:{port}/")).await.status, 200);
    }
    let (n1, n2) = (one.seen().len(), two.seen().len());
    assert_eq!(n1 + n2, 200);
    // With equal weights, 200 requests all landing on one side has probability 2^-199.
    assert!(n1 > 0 && n2 > 0, "one={n1} two={n2}");
    assert!(never.seen().is_empty());
}
