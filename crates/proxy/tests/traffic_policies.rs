//! Traffic policies enforced by a running gateway: CORS preflights and headers, API-key,
//! basic and JWT authentication (inline and rotating remote JWKS), local request rate
//! limits (shared and per client), and how levels merge.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use common::{backend, gateway, route_to, start};
use http_body_util::Full;
use serde_json::json;
use test_support::client::send;
use test_support::free_port;
use test_support::upstream::Upstream;

/// A policy `name` on `kind`/`target` with this `traffic` section (indented 4 spaces).
fn policy(name: &str, kind: &str, target: &str, traffic: &str) -> String {
    let group = if kind == "AgentgatewayBackend" {
        "agentgateway.dev"
    } else {
        "gateway.networking.k8s.io"
    };
    format!(
        "---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {{name: {name}}}
spec:
  targetRefs: [{{group: {group}, kind: {kind}, name: {target}}}]
  traffic:
{traffic}"
    )
}

async fn app(extra: &str) -> (Upstream, u16, Arc<proxy::Gateway>) {
    let upstream = Upstream::start("app").await;
    let port = free_port();
    let yaml = gateway(port) + &backend("app", upstream.port()) + &route_to("app") + extra;
    let gw = start(&yaml).await;
    (upstream, port, gw)
}

fn request(port: u16, method: &str, headers: &[(&str, &str)]) -> http::Request<Full<Bytes>> {
    let mut builder = http::Request::builder()
        .method(method)
        .uri(format!("http://127.0.0.1:{port}/items"));
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Full::new(Bytes::new())).unwrap()
}

#[tokio::test]
async fn cors_preflights_are_answered_and_disallowed_origins_get_nothing() {
    let cors = "    cors: {allowOrigins: ['https://app.example.com', 'https://*.example.org'], allowMethods: [GET, PUT], allowHeaders: [content-type], exposeHeaders: [x-request-id], allowCredentials: true, maxAge: 600}\n";
    let (upstream, port, _gw) = app(&policy("cors", "Gateway", "gw", cors)).await;
    let preflight = |origin: &'static str| {
        request(
            port,
            "OPTIONS",
            &[
                ("origin", origin),
                ("access-control-request-method", "PUT"),
                ("access-control-request-headers", "content-type"),
            ],
        )
    };
    let r = send(preflight("https://app.example.com")).await;
    assert_eq!(r.status, 204);
    assert_eq!(
        r.headers["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(r.headers["access-control-allow-credentials"], "true");
    assert_eq!(r.headers["access-control-max-age"], "600");
    assert!(
        r.headers["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("PUT")
    );
    let r = send(preflight("https://api.eu.example.org")).await;
    assert_eq!(r.status, 204, "wildcard subdomains match");
    let r = send(preflight("https://evil.example.com")).await;
    assert_eq!(r.status, 403);
    assert!(!r.headers.contains_key("access-control-allow-origin"));
    assert!(
        upstream.seen().is_empty(),
        "preflights never reach the backend"
    );

    let r = send(request(
        port,
        "GET",
        &[("origin", "https://app.example.com")],
    ))
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.headers["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(r.headers["access-control-expose-headers"], "x-request-id");
    let r = send(request(port, "GET", &[("origin", "https://example.net")])).await;
    assert_eq!(r.status, 200, "the request itself is not refused");
    assert!(!r.headers.contains_key("access-control-allow-origin"));
}

const API_KEYS: &str = "---
apiVersion: v1
kind: Secret
metadata: {name: api-keys}
stringData:
  team-a: sk-team-a-1234
  team-b: '{\"keyHash\": \"sha256:292d075b18c9240a48b848c521422c5f418f7dd16b5c66755fe58d0fb6a43e1f\", \"metadata\": {\"tier\": \"gold\"}}'
";

#[tokio::test]
async fn api_keys_are_checked_and_never_reach_the_backend() {
    let auth = "    apiKeyAuthentication: {secretRef: {name: api-keys}}\n";
    let (upstream, port, _gw) =
        app(&(API_KEYS.to_string() + &policy("keys", "HTTPRoute", "r", auth))).await;
    let r = send(request(port, "GET", &[])).await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(
        r.text().contains("credentials are required"),
        "{}",
        r.text()
    );
    assert_eq!(
        r.headers["www-authenticate"],
        "Bearer realm=\"agentgateway\""
    );
    let r = send(request(
        port,
        "GET",
        &[("authorization", "Bearer sk-wrong")],
    ))
    .await;
    assert_eq!(r.status, 401);
    let r = send(request(
        port,
        "GET",
        &[("authorization", "Bearer sk-team-a-1234")],
    ))
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    assert!(
        !seen[0].headers.contains_key("authorization"),
        "the key is stripped"
    );
}

#[tokio::test]
async fn basic_auth_challenges_and_accepts_htpasswd_users() {
    let secret = "---
apiVersion: v1
kind: Secret
metadata: {name: htpasswd}
stringData:
  .htaccess: |
    alice:$apr1$gwsalt1$FgtWGX26LP2W6hVH4ldOi0
    bob:{SHA}W8r/fyL/UzygmbNAjq2HbA67qac=
";
    let auth = "    basicAuthentication: {realm: Ops, secretRef: {name: htpasswd}}\n";
    let (_upstream, port, _gw) =
        app(&(secret.to_string() + &policy("basic", "HTTPRoute", "r", auth))).await;
    let r = send(request(port, "GET", &[])).await;
    assert_eq!(r.status, 401);
    assert!(
        r.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic realm=\"Ops\"")
    );
    let basic = |user: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:open sesame"))
        )
    };
    for user in ["alice", "bob"] {
        let r = send(request(port, "GET", &[("authorization", &basic(user))])).await;
        assert_eq!(r.status, 200, "{user}: {}", r.text());
    }
    let r = send(request(
        port,
        "GET",
        &[("authorization", &basic("mallory"))],
    ))
    .await;
    assert_eq!(r.status, 401);
}

/// An HS256 token for `claims`, signed with `secret`, with key id `kid`.
fn hs256(secret: &[u8], kid: &str, claims: serde_json::Value) -> String {
    let header =
        URL_SAFE_NO_PAD.encode(json!({"alg": "HS256", "typ": "JWT", "kid": kid}).to_string());
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let signature = ring::hmac::sign(&key, format!("{header}.{payload}").as_bytes());
    format!(
        "{header}.{payload}.{}",
        URL_SAFE_NO_PAD.encode(signature.as_ref())
    )
}

fn jwks(secret: &[u8], kid: &str) -> String {
    json!({"keys": [{"kty": "oct", "kid": kid, "alg": "HS256", "k": URL_SAFE_NO_PAD.encode(secret)}]}).to_string()
}

fn claims(sub: &str) -> serde_json::Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    json!({"iss": "https://idp.test", "aud": "gateway", "sub": sub, "exp": now + 600, "iat": now})
}

/// Serves whatever JWKS the test puts in `document`.
async fn jwks_server(document: Arc<Mutex<String>>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let document = document.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_r| {
                    let body = document.lock().unwrap().clone();
                    async move {
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                            Bytes::from(body),
                        )))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    port
}

#[tokio::test]
async fn jwt_keys_from_a_remote_jwks_rotate_without_a_reload() {
    let document = Arc::new(Mutex::new(jwks(b"first-secret-0123456789abcdef", "k1")));
    let jwks_port = jwks_server(document.clone()).await;
    let auth = format!(
        "    jwtAuthentication:\n      providers: [{{issuer: 'https://idp.test', audiences: [gateway], jwks: {{remote: {{url: 'http://127.0.0.1:{jwks_port}/jwks.json', cacheDuration: 200ms}}}}}}]\n"
    );
    let (upstream, port, _gw) = app(&policy("jwt", "HTTPRoute", "r", &auth)).await;
    let first = format!(
        "Bearer {}",
        hs256(b"first-secret-0123456789abcdef", "k1", claims("alice"))
    );
    let status = eventually(port, &first, 200).await;
    assert_eq!(status, 200);
    assert!(!upstream.seen()[0].headers.contains_key("authorization"));
    let r = send(request(port, "GET", &[])).await;
    assert_eq!(r.status, 401);
    assert!(
        r.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let forged = format!(
        "Bearer {}",
        hs256(b"not-the-secret-0123456789abcd", "k1", claims("alice"))
    );
    assert_eq!(
        send(request(port, "GET", &[("authorization", &forged)]))
            .await
            .status,
        401
    );

    // The identity provider rotates its key: new tokens work, old ones stop working.
    *document.lock().unwrap() = jwks(b"second-secret-0123456789abcde", "k2");
    let second = format!(
        "Bearer {}",
        hs256(b"second-secret-0123456789abcde", "k2", claims("alice"))
    );
    assert_eq!(eventually(port, &second, 200).await, 200);
    assert_eq!(eventually(port, &first, 401).await, 401);
}

/// Retries for a few seconds until the request with `authorization` gets `want`.
async fn eventually(port: u16, authorization: &str, want: u16) -> u16 {
    let mut status = 0;
    for _ in 0..100 {
        status = send(request(port, "GET", &[("authorization", authorization)]))
            .await
            .status
            .as_u16();
        if status == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    status
}

#[tokio::test]
async fn request_limits_answer_429_with_rate_limit_headers_per_client() {
    let limits =
        "    rateLimit:\n      local: [{requests: 2, unit: Minutes, key: {header: x-user}}]\n";
    let (_upstream, port, _gw) = app(&policy("limits", "HTTPRoute", "r", limits)).await;
    for remaining in ["1", "0"] {
        let r = send(request(port, "GET", &[("x-user", "alice")])).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.headers["x-ratelimit-limit"], "2");
        assert_eq!(r.headers["x-ratelimit-remaining"], remaining);
    }
    let r = send(request(port, "GET", &[("x-user", "alice")])).await;
    assert_eq!(r.status, 429, "{}", r.text());
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(
        (1..=30).contains(&retry),
        "one request refills in 30 s: {retry}"
    );
    assert_eq!(r.headers["x-ratelimit-remaining"], "0");
    let r = send(request(port, "GET", &[("x-user", "bob")])).await;
    assert_eq!(r.status, 200, "another client has its own bucket");
}

#[tokio::test]
async fn levels_merge_field_by_field_and_the_most_specific_wins() {
    let gateway_level = "    rateLimit:\n      local: [{requests: 1, unit: Hours}]\n    cors: {allowOrigins: ['https://app.example.com']}\n";
    let route_level = "    rateLimit:\n      local: [{requests: 100, unit: Hours}]\n";
    let extra = policy("everywhere", "Gateway", "gw", gateway_level)
        + &policy("route", "HTTPRoute", "r", route_level);
    let (_upstream, port, _gw) = app(&extra).await;
    for _ in 0..3 {
        let r = send(request(
            port,
            "GET",
            &[("origin", "https://app.example.com")],
        ))
        .await;
        assert_eq!(
            r.status, 200,
            "the route's own limit replaces the Gateway's"
        );
        assert_eq!(r.headers["x-ratelimit-limit"], "100");
        assert_eq!(
            r.headers["access-control-allow-origin"], "https://app.example.com",
            "the Gateway's CORS still applies"
        );
    }
}

#[test]
fn policy_mistakes_are_config_errors() {
    let yaml = gateway(8080)
        + &policy(
            "bad",
            "Gateway",
            "gw",
            "    cors: {allowOrigins: ['*'], allowCredentials: true}\n    rateLimit:\n      local: [{requests: 5, tokens: 5, unit: Minutes}]\n    apiKeyAuthentication: {secretRef: {name: missing}}\n",
        );
    let errors = config::load_and_compile(
        config::load_str("t.yaml", &yaml),
        &config::CompileOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(errors.contains("spec.traffic.cors"), "{errors}");
    assert!(
        errors.contains("exactly one of `requests` or `tokens`"),
        "{errors}"
    );
    assert!(
        errors.contains("Secret default/missing does not exist"),
        "{errors}"
    );
}

#[tokio::test]
async fn hashed_api_keys_with_metadata_work_too() {
    let auth = "    apiKeyAuthentication: {secretRef: {name: api-keys}, location: {header: {name: x-api-key}}}\n";
    let (_upstream, port, _gw) =
        app(&(API_KEYS.to_string() + &policy("keys", "HTTPRoute", "r", auth))).await;
    let r = send(request(port, "GET", &[("x-api-key", "sk-team-b")])).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = send(request(
        port,
        "GET",
        &[("authorization", "Bearer sk-team-b")],
    ))
    .await;
    assert_eq!(r.status, 401, "the key is read where the policy says");
}

#[tokio::test]
async fn cel_authorization_rules_accumulate_and_fail_closed() {
    let route_level = "    apiKeyAuthentication: {secretRef: {name: api-keys}, location: {header: {name: x-api-key}}}\n    authorization: {action: Require, policy: {matchExpressions: ['apiKey.tier == \"gold\"']}}\n";
    let gateway_level = "    authorization: {action: Deny, policy: {matchExpressions: ['request.path.startsWith(\"/items/secret\")']}}\n";
    let extra = API_KEYS.to_string()
        + &policy("gold-only", "HTTPRoute", "r", route_level)
        + &policy("no-secrets", "Gateway", "gw", gateway_level);
    let (upstream, port, _gw) = app(&extra).await;
    let r = send(request(port, "GET", &[("x-api-key", "sk-team-b")])).await;
    assert_eq!(r.status, 200, "gold tier passes: {}", r.text());
    let r = send(request(port, "GET", &[("x-api-key", "sk-team-a-1234")])).await;
    assert_eq!(
        r.status, 403,
        "no tier metadata: the Require rule cannot match"
    );
    assert!(
        r.text().contains("required authorization rule"),
        "{}",
        r.text()
    );
    let secret = http::Request::get(format!("http://127.0.0.1:{port}/items/secret"))
        .header("x-api-key", "sk-team-b")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let r = send(secret).await;
    assert_eq!(r.status, 403, "the Gateway's Deny rule still applies");
    assert_eq!(upstream.seen().len(), 1);
}

#[tokio::test]
async fn a_rule_about_a_host_sees_the_host_the_request_was_routed_by() {
    let deny = "    authorization: {action: Deny, policy: {matchExpressions: ['request.host == \"admin.example.com\"']}}\n";
    let (_upstream, port, _gw) = app(&policy("no-admin", "Gateway", "gw", deny)).await;
    // However the client spells the host, the rule judges the one the route matched.
    for (host, want) in [
        ("admin.example.com", 403),
        ("admin.example.com:8443", 403),
        ("ADMIN.Example.com", 403),
        ("www.example.com", 200),
    ] {
        let r = send(request(port, "GET", &[("host", host)])).await;
        assert_eq!(r.status, want, "Host: {host}: {}", r.text());
    }
}

#[test]
fn a_cel_mistake_is_a_config_error_naming_the_expression() {
    let yaml = gateway(8080)
        + &policy(
            "bad",
            "Gateway",
            "gw",
            "    authorization: {policy: {matchExpressions: ['jwt.sub ==']}}\n",
        );
    let errors = config::load_and_compile(
        config::load_str("t.yaml", &yaml),
        &config::CompileOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        errors.contains("spec.traffic.authorization.policy.matchExpressions"),
        "{errors}"
    );
    assert!(errors.contains("jwt.sub =="), "{errors}");
}

fn ext_authz_policy(port: u16, failure_mode: &str) -> String {
    policy(
        "ext",
        "HTTPRoute",
        "r",
        &format!(
            "    extAuth: {{backendRef: {{name: 127.0.0.1, port: {port}}}, grpc: {{}}, failureMode: {failure_mode}}}\n"
        ),
    )
}

#[tokio::test]
async fn an_ext_authz_grpc_service_allows_denies_and_adds_headers() {
    use envoy_grpc::testing::{AuthzServer, Verdict};
    let authz = AuthzServer::start(|request| {
        if request.header("x-user") == Some("alice") {
            Verdict::allow_with(&[("x-authz-user", "alice")])
        } else {
            Verdict::deny(401, &[("www-authenticate", "Custom")], "who are you?")
        }
    })
    .await;
    let (upstream, port, _gw) = app(&ext_authz_policy(authz.addr().port(), "FailClosed")).await;
    let r = send(request(port, "GET", &[("x-user", "alice")])).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(upstream.seen()[0].headers["x-authz-user"], "alice");
    let r = send(request(port, "GET", &[("x-user", "mallory")])).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.text(), "who are you?");
    assert_eq!(r.headers["www-authenticate"], "Custom");
    assert_eq!(upstream.seen().len(), 1);
    let checked = authz.requests();
    assert_eq!(checked[0].method, "GET");
    assert_eq!(checked[0].path, "/items");
    assert_eq!(checked[0].header("x-user"), Some("alice"));
    assert!(checked[0].source.is_some_and(|s| s.ip().is_loopback()));
}

#[tokio::test]
async fn an_unreachable_ext_authz_service_fails_closed_or_open_as_configured() {
    let dead = free_port();
    let (_upstream, port, _gw) = app(&ext_authz_policy(dead, "FailClosed")).await;
    let r = send(request(port, "GET", &[])).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("fails closed"), "{}", r.text());
    let (_upstream, port, _gw) = app(&ext_authz_policy(dead, "FailOpen")).await;
    let r = send(request(port, "GET", &[])).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn an_envoy_rate_limit_service_decides_on_cel_descriptors() {
    let service = envoy_grpc::testing::RateLimitServer::start(2).await;
    let limits = format!(
        "    rateLimit:\n      global:\n        backendRef: {{name: 127.0.0.1, port: {}}}\n        domain: ai\n        descriptors: [{{entries: [{{name: user, expression: 'request.headers[\"x-user\"]'}}, {{name: method, expression: request.method}}]}}]\n",
        service.addr().port()
    );
    let (_upstream, port, _gw) = app(&policy("rls", "HTTPRoute", "r", &limits)).await;
    for _ in 0..2 {
        let r = send(request(port, "GET", &[("x-user", "alice")])).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let r = send(request(port, "GET", &[("x-user", "alice")])).await;
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(
        service.hits("ai", &[("user", "alice"), ("method", "GET")]),
        3
    );
    let r = send(request(port, "GET", &[("x-user", "bob")])).await;
    assert_eq!(r.status, 200, "another descriptor value, another limit");
    // Without the header the descriptor has no value and is not sent.
    let r = send(request(port, "GET", &[])).await;
    assert_eq!(r.status, 200);
    assert_eq!(service.calls().len(), 4);
}

#[tokio::test]
async fn a_plain_http_authz_service_allows_with_200_and_denies_with_its_answer() {
    use envoy_grpc::testing::HttpAuthzServer;
    let authz = HttpAuthzServer::start(|parts| {
        let token = parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        match token {
            Some("Bearer good") => (
                200,
                vec![
                    ("x-user-id".into(), "u-1".into()),
                    ("x-internal".into(), "not for the backend".into()),
                ],
                String::new(),
            ),
            _ => (
                302,
                vec![
                    ("location".into(), "https://login.example.com".into()),
                    ("set-cookie".into(), "state=1".into()),
                    ("set-cookie".into(), "csrf=2".into()),
                ],
                "log in first".into(),
            ),
        }
    })
    .await;
    let ext = policy(
        "ext",
        "HTTPRoute",
        "r",
        &format!(
            "    extAuth: {{backendRef: {{name: 127.0.0.1, port: {}}}, http: {{path: /check, allowedRequestHeaders: [x-tenant], allowedUpstreamHeaders: [x-user-id]}}}}\n",
            authz.addr().port()
        ),
    );
    let (upstream, port, _gw) = app(&ext).await;
    let r = send(request(
        port,
        "GET",
        &[
            ("authorization", "Bearer good"),
            ("x-tenant", "t1"),
            ("x-other", "no"),
        ],
    ))
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = &upstream.seen()[0];
    assert_eq!(seen.headers["x-user-id"], "u-1");
    assert!(
        !seen.headers.contains_key("x-internal"),
        "only allowed upstream headers"
    );
    let checked = &authz.requests()[0];
    assert_eq!(checked.header("x-tenant"), Some("t1"));
    assert_eq!(
        checked.header("x-other"),
        None,
        "only allowed request headers"
    );
    let r = send(request(port, "GET", &[])).await;
    assert_eq!(r.status, 302);
    assert_eq!(r.headers["location"], "https://login.example.com");
    assert_eq!(
        r.headers.get_all("set-cookie").iter().count(),
        2,
        "both cookies kept"
    );
    assert_eq!(r.text(), "log in first");
    assert_eq!(upstream.seen().len(), 1);
    assert_eq!(authz.requests()[0].target(), "/check/items");
}

#[tokio::test]
async fn jwks_from_a_file_and_claims_forwarded_as_headers() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jwks.json");
    std::fs::write(&file, jwks(b"file-secret-0123456789abcdefgh", "f1")).unwrap();
    let auth = format!(
        "    jwtAuthentication:\n      providers: [{{issuer: 'https://idp.test', audiences: [gateway], jwks: {{file: '{}'}}}}]\n      claimsToHeaders: [{{claim: sub, header: x-user}}]\n      forwardCredential: true\n",
        file.display()
    );
    let (upstream, port, _gw) = app(&policy("jwt", "HTTPRoute", "r", &auth)).await;
    let token = format!(
        "Bearer {}",
        hs256(b"file-secret-0123456789abcdefgh", "f1", claims("alice"))
    );
    let r = send(request(
        port,
        "GET",
        &[("authorization", &token), ("x-user", "mallory")],
    ))
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = &upstream.seen()[0];
    assert_eq!(
        seen.headers["x-user"], "alice",
        "the token's claim, not the client's header"
    );
    assert_eq!(
        seen.headers["authorization"],
        token.as_str(),
        "forwardCredential keeps the token"
    );
}

#[tokio::test]
async fn without_a_valid_token_claim_headers_are_empty_and_the_failed_token_stays_behind() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jwks.json");
    std::fs::write(&file, jwks(b"file-secret-0123456789abcdefgh", "f1")).unwrap();
    let auth = format!(
        "    jwtAuthentication:\n      mode: Permissive\n      providers: [{{issuer: 'https://idp.test', audiences: [gateway], jwks: {{file: '{}'}}}}]\n      claimsToHeaders: [{{claim: sub, header: x-user}}]\n",
        file.display()
    );
    let (upstream, port, _gw) = app(&policy("jwt", "HTTPRoute", "r", &auth)).await;
    let forged = format!(
        "Bearer {}",
        hs256(b"another-secret-0123456789abcdef", "f1", claims("admin"))
    );
    let no_token = send(request(port, "GET", &[("x-user", "admin")])).await;
    assert_eq!(no_token.status, 200, "{}", no_token.text());
    let bad_token = send(request(
        port,
        "GET",
        &[("x-user", "admin"), ("authorization", &forged)],
    ))
    .await;
    assert_eq!(bad_token.status, 200, "Permissive lets it through");
    let seen = upstream.seen();
    for request in &seen {
        assert!(
            !request.headers.contains_key("x-user"),
            "a client cannot name itself in a claim header"
        );
    }
    assert!(
        !seen[1].headers.contains_key("authorization"),
        "a token that failed is stripped as a valid one is"
    );
}

#[tokio::test]
async fn paths_are_normalised_before_routes_and_policies_see_them() {
    let upstream = Upstream::start("app").await;
    let port = free_port();
    let rules = format!(
        "  - name: admin
    matches: [{{path: {{type: PathPrefix, value: /admin}}}}]
    backendRefs: [{}]
  - name: public
    matches: [{{path: {{type: PathPrefix, value: /}}}}]
    backendRefs: [{}]
",
        common::backend_ref("app"),
        common::backend_ref("app")
    );
    let auth = "---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: admin-keys}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r, sectionName: admin}]
  traffic:
    apiKeyAuthentication: {secretRef: {name: api-keys}}
";
    let yaml = gateway(port)
        + &backend("app", upstream.port())
        + &common::route("r", &rules)
        + API_KEYS
        + auth;
    let _gw = start(&yaml).await;
    let get = |path: &str| {
        http::Request::get(format!("http://127.0.0.1:{port}{path}"))
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    for path in [
        "/admin/x",
        "/public/../admin/x",
        "/public/%2e%2e/admin/x",
        "//admin/x",
        "/%61dmin/x",
    ] {
        let r = send(get(path)).await;
        assert_eq!(
            r.status,
            401,
            "{path} must reach the protected rule: {}",
            r.text()
        );
    }
    let r = send(get("/admin%2Fx")).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("encoded slash"), "{}", r.text());
    // The backend gets the path the gateway judged.
    let r = send(get("/docs/./a/../b")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(upstream.seen()[0].path_and_query, "/docs/b");
}
