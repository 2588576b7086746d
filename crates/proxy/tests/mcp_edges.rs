//! MCP endpoints answer bad input and unreachable targets with the transport's errors
//! (JSON-RPC bodies, the right HTTP status) before or without touching a working target.
//! The end-to-end suite (e2e/test_mcp.py) drives real MCP servers and SDK clients.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{gateway, route_to, start};
use http::Request;
use serde_json::{Value, json};
use test_support::client::{Collected, send};
use test_support::free_port;

/// An MCP backend whose targets listen on ports nothing serves.
fn dead_targets(port: u16, failure_mode: &str, extra: &str) -> String {
    let closed = free_port();
    gateway(port)
        + &format!(
            "---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {{name: tools}}
spec:
  mcp:
    failureMode: {failure_mode}
    targets:
    - {{name: alpha, static: {{host: 127.0.0.1, port: {closed}}}}}
    - {{name: beta, static: {{host: 127.0.0.1, port: {closed}, protocol: SSE}}}}
{extra}"
        )
        + &route_to("tools")
}

async fn post(port: u16, body: &str, headers: &[(&str, &str)]) -> Collected {
    let mut request = Request::post(format!("http://127.0.0.1:{port}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send(request.body(body.to_string().into()).unwrap()).await
}

fn initialize() -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"}}})
    .to_string()
}

fn error_of(r: &Collected) -> (i64, String) {
    let body: Value = r.json();
    let error = &body["error"];
    (
        error["code"].as_i64().unwrap_or_default(),
        error["message"].as_str().unwrap_or_default().to_string(),
    )
}

#[tokio::test]
async fn malformed_messages_get_json_rpc_errors() {
    let port = free_port();
    let _gw = start(&dead_targets(port, "FailClosed", "")).await;

    let r = post(port, "{not json", &[]).await;
    assert_eq!(r.status, 400);
    assert_eq!(error_of(&r).0, -32700, "{}", r.text());

    let r = post(port, r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#, &[]).await;
    assert_eq!(r.status, 400);
    assert_eq!(error_of(&r).0, -32600);

    let request = Request::post(format!("http://127.0.0.1:{port}/mcp"))
        .header("content-type", "text/plain")
        .body(initialize().into())
        .unwrap();
    assert_eq!(send(request).await.status, 415);

    let oversized = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"x":"{}"}}}}"#,
        "a".repeat(5 << 20)
    );
    let r = post(port, &oversized, &[]).await;
    assert_eq!(r.status, 413);
    assert!(error_of(&r).1.contains("larger than"), "{}", r.text());
}

#[tokio::test]
async fn sessions_are_required_and_forged_ones_refused() {
    let port = free_port();
    let _gw = start(&dead_targets(port, "FailClosed", "")).await;
    let ping = r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#;

    let r = post(port, ping, &[]).await;
    assert_eq!(r.status, 400);
    assert!(error_of(&r).1.contains("Mcp-Session-Id"), "{}", r.text());

    // 404 makes clients start a new session, as the transport spec says.
    let r = post(port, ping, &[("mcp-session-id", "made-up")]).await;
    assert_eq!(r.status, 404);
    assert!(error_of(&r).1.contains("session"), "{}", r.text());

    let forged = "A".repeat(60);
    let r = post(port, ping, &[("mcp-session-id", &forged)]).await;
    assert_eq!(r.status, 404);
    assert!(
        error_of(&r)
            .1
            .contains("altered or sealed with another key"),
        "{}",
        r.text()
    );

    // Ending a session that was never issued (or has ended) is a 404 too.
    let delete = |id: &str| {
        Request::delete(format!("http://127.0.0.1:{port}/mcp"))
            .header("mcp-session-id", id)
            .body(Default::default())
            .unwrap()
    };
    let r = send(delete("garbage")).await;
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(
        error_of(&r).1.contains("unknown MCP session"),
        "{}",
        r.text()
    );
    assert_eq!(send(delete(&forged)).await.status, 404);

    let get = Request::get(format!("http://127.0.0.1:{port}/mcp"))
        .header("accept", "text/event-stream")
        .body(Default::default())
        .unwrap();
    assert_eq!(send(get).await.status, 400);
    let put = Request::put(format!("http://127.0.0.1:{port}/mcp"))
        .body(Default::default())
        .unwrap();
    let r = send(put).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.headers["allow"], "GET, POST, DELETE");
}

#[tokio::test]
async fn unsupported_protocol_versions_and_accept_headers_are_refused() {
    let port = free_port();
    let _gw = start(&dead_targets(port, "FailClosed", "")).await;
    let r = post(
        port,
        r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#,
        &[
            ("mcp-protocol-version", "1999-01-01"),
            ("mcp-session-id", "any"),
        ],
    )
    .await;
    assert_eq!(r.status, 400);
    let message = error_of(&r).1;
    assert!(message.contains("\"1999-01-01\""), "{message}");
    assert!(
        message.contains("2025-06-18"),
        "names what it speaks: {message}"
    );

    let html = Request::post(format!("http://127.0.0.1:{port}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "text/html")
        .body(initialize().into())
        .unwrap();
    let r = send(html).await;
    assert_eq!(r.status, 406);
    assert!(
        error_of(&r)
            .1
            .contains("Accept: application/json, text/event-stream")
    );
}

#[tokio::test]
async fn foreign_hosts_and_origins_are_refused_before_any_target() {
    let port = free_port();
    let _gw = start(&dead_targets(
        port,
        "FailClosed",
        "    allowedHosts: [gw.internal]\n",
    ))
    .await;
    let r = post(port, &initialize(), &[("host", "evil.example")]).await;
    assert_eq!(r.status, 403);
    assert!(error_of(&r).1.contains("DNS-rebinding"), "{}", r.text());
    let r = post(port, &initialize(), &[("origin", "http://evil.example")]).await;
    assert_eq!(r.status, 403);
    // An allowed host gets through to the targets (which are down here).
    let r = post(port, &initialize(), &[("host", "gw.internal")]).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn unreachable_targets_are_named_fail_closed_and_skipped_fail_open() {
    let port = free_port();
    let _gw = start(&dead_targets(port, "FailClosed", "")).await;
    let r = post(port, &initialize(), &[]).await;
    assert_eq!(r.status, 200);
    let (code, message) = error_of(&r);
    assert_eq!(code, -32001);
    assert!(
        message.contains("MCP target `alpha`") || message.contains("MCP target `beta`"),
        "{message}"
    );
    assert!(r.headers.get("mcp-session-id").is_none());

    let port = free_port();
    let _gw = start(&dead_targets(port, "FailOpen", "")).await;
    let r = post(port, &initialize(), &[]).await;
    let (code, message) = error_of(&r);
    assert_eq!(code, -32001);
    assert!(message.contains("no MCP target"), "{message}");
}

#[tokio::test]
async fn the_stateless_probe_of_newer_clients_is_refused_as_they_expect() {
    let port = free_port();
    let _gw = start(&dead_targets(port, "FailClosed", "")).await;
    let discover = json!({"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {}});
    let r = post(
        port,
        &discover.to_string(),
        &[("mcp-protocol-version", "2026-07-28")],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(error_of(&r).0, -32601, "{}", r.text());
    assert_eq!(r.json()["id"], 1);
}

#[tokio::test]
async fn stdio_targets_need_sessions_and_names_must_prefix_cleanly() {
    let yaml = gateway(free_port())
        + "---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: tools}
spec:
  mcp:
    sessionRouting: Stateless
    targets:
    - {name: local_server, stdio: {cmd: server}}
" + &route_to("tools");
    let errors = config::load_and_compile(config::load_str("t.yaml", &yaml), &Default::default())
        .unwrap_err()
        .to_string();
    assert!(errors.contains("sessionRouting: Stateful"), "{errors}");
    assert!(
        errors.contains("`local_server` cannot prefix tool names"),
        "{errors}"
    );
}

#[tokio::test]
async fn oauth_metadata_is_public_even_under_a_catch_all_protected_route() {
    let port = free_port();
    let jwks = r#"{"keys": [{"kty": "oct", "kid": "k", "alg": "HS256", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTAxMjM"}]}"#;
    let policy = format!(
        "---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {{name: jwt}}
spec:
  targetRefs: [{{group: agentgateway.dev, kind: AgentgatewayBackend, name: tools}}]
  traffic:
    jwtAuthentication:
      providers: [{{issuer: 'https://issuer.test', audiences: [mcp], jwks: {{inline: '{jwks}'}}}}]
"
    );
    let _gw = start(&dead_targets(port, "FailClosed", &policy)).await;
    let refused = post(port, &initialize(), &[]).await;
    assert_eq!(refused.status, 401);
    let challenge = refused.headers["www-authenticate"].to_str().unwrap();
    let url = format!("http://127.0.0.1:{port}/.well-known/oauth-protected-resource/mcp");
    assert!(challenge.contains(&url), "{challenge}");
    // The route takes every path, this one too; its JWT policy must not guard the document
    // that says where to get the JWT.
    let document = test_support::client::get(&url).await;
    assert_eq!(document.status, 200, "{}", document.text());
    assert_eq!(
        document.json()["resource"],
        format!("http://127.0.0.1:{port}/mcp")
    );
    assert_eq!(
        document.json()["authorization_servers"],
        json!(["https://issuer.test"])
    );
    let root = test_support::client::get(&format!(
        "http://127.0.0.1:{port}/.well-known/oauth-protected-resource"
    ))
    .await;
    assert_eq!(root.status, 200, "{}", root.text());
}
