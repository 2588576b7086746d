//! HTTPRoute filters and header hygiene, observed at a real upstream and client.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{backend, backend_ref, gateway, route, route_to, start};
use test_support::client::{get, send};
use test_support::free_port;
use test_support::upstream::Upstream;

#[tokio::test]
async fn header_modifiers_and_forwarding_headers() {
    let up = Upstream::start("up").await;
    let port = free_port();
    let rules = format!(
        "  - filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set: [{{name: x-team, value: ai}}]
        add: [{{name: x-added, value: \"1\"}}]
        remove: [x-debug]
    - type: ResponseHeaderModifier
      responseHeaderModifier:
        set: [{{name: x-served-by, value: agentgateway}}]
        remove: [x-upstream]
    backendRefs: [{b}]
",
        b = backend_ref("up")
    );
    let _gw = start(&(gateway(port) + &backend("up", up.port()) + &route("r", &rules))).await;
    let response = send(
        http::Request::get(format!("http://127.0.0.1:{port}/p?q=1"))
            .header("x-team", "other")
            .header("x-debug", "secret")
            .header("x-forwarded-for", "10.0.0.9")
            .header("x-forwarded-host", "attacker.example")
            .header("connection", "x-private-hop")
            .header("x-private-hop", "1")
            .body(Default::default())
            .unwrap(),
    )
    .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.headers["x-served-by"], "agentgateway");
    assert!(!response.headers.contains_key("x-upstream"));
    // The upstream's own hop-by-hop header (named in its Connection header) never reaches the client.
    assert!(!response.headers.contains_key("x-hop"));
    let seen = &up.seen()[0];
    assert_eq!(seen.path_and_query, "/p?q=1");
    assert_eq!(seen.headers["x-team"], "ai");
    assert_eq!(seen.headers["x-added"], "1");
    assert!(!seen.headers.contains_key("x-debug"));
    assert!(!seen.headers.contains_key("x-private-hop"));
    assert_eq!(seen.headers["x-forwarded-for"], "10.0.0.9, 127.0.0.1");
    assert_eq!(seen.headers["x-forwarded-proto"], "http");
    assert_eq!(
        seen.headers["x-forwarded-host"], "127.0.0.1",
        "the host the client reached, not one it names"
    );
    assert_eq!(
        seen.headers["host"],
        format!("127.0.0.1:{}", up.port()),
        "Host is rewritten to the backend"
    );
}

#[tokio::test]
async fn url_rewrite_prefix_full_path_and_hostname() {
    let up = Upstream::start("up").await;
    let port = free_port();
    let rules = format!(
        "  - matches: [{{path: {{type: PathPrefix, value: /ollama}}}}]
    filters:
    - type: URLRewrite
      urlRewrite:
        hostname: llm.internal
        path: {{type: ReplacePrefixMatch, replacePrefixMatch: /v1}}
    backendRefs: [{b}]
  - matches: [{{path: {{type: Exact, value: /health}}}}]
    filters:
    - type: URLRewrite
      urlRewrite:
        path: {{type: ReplaceFullPath, replaceFullPath: /status/204}}
    backendRefs: [{b}]
",
        b = backend_ref("up")
    );
    let _gw = start(&(gateway(port) + &backend("up", up.port()) + &route("r", &rules))).await;
    let r = get(&format!(
        "http://127.0.0.1:{port}/ollama/chat/completions?stream=true"
    ))
    .await;
    assert_eq!(r.status, 200);
    let seen = &up.seen()[0];
    assert_eq!(seen.path_and_query, "/v1/chat/completions?stream=true");
    assert_eq!(seen.headers["host"], "llm.internal");
    assert_eq!(
        get(&format!("http://127.0.0.1:{port}/health")).await.status,
        204
    );
}

#[tokio::test]
async fn request_redirect_builds_the_location() {
    let port = free_port();
    let rules = "  - matches: [{path: {type: PathPrefix, value: /old}}]
    filters:
    - type: RequestRedirect
      requestRedirect:
        scheme: https
        hostname: new.example.com
        path: {type: ReplacePrefixMatch, replacePrefixMatch: /new}
        statusCode: 301
  - matches: [{path: {type: PathPrefix, value: /moved}}]
    filters:
    - type: RequestRedirect
      requestRedirect: {hostname: other.example.com}
";
    let gw = start(&(gateway(port) + &route("r", rules))).await;
    let r = get(&format!("http://127.0.0.1:{port}/old/page?x=1")).await;
    assert_eq!(r.status, 301);
    assert_eq!(
        r.headers["location"],
        "https://new.example.com/new/page?x=1"
    );
    let r = get(&format!("http://127.0.0.1:{port}/moved")).await;
    assert_eq!(r.status, 302);
    assert_eq!(
        r.headers["location"],
        format!("http://other.example.com:{port}/moved")
    );
    // Counted under the rule that answered, though no backend did.
    let metrics = gw.shared().metrics.render();
    let redirects = metrics
        .lines()
        .find(|l| l.starts_with("agentgateway_requests_total") && l.contains("status=\"301\""))
        .unwrap_or_default();
    assert!(redirects.contains("route=\"default/r"), "{metrics}");
}

#[tokio::test]
async fn request_mirror_copies_method_path_and_body() {
    let (main, shadow) = (
        Upstream::start("main").await,
        Upstream::start("shadow").await,
    );
    let (port, _gw) = mirrored_gateway(&main, shadow.port(), "").await;
    let body = "x".repeat(100_000);
    let r = send(
        http::Request::post(format!("http://127.0.0.1:{port}/upload"))
            .body(body.clone().into())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.headers["x-upstream"], "main",
        "the client gets the main backend's answer"
    );
    let mirrored = shadow.wait_for(1).await;
    assert_eq!(mirrored.len(), 1);
    assert_eq!(mirrored[0].method, "POST");
    assert_eq!(mirrored[0].path_and_query, "/upload");
    assert_eq!(mirrored[0].body.len(), body.len());
    assert_eq!(
        mirrored[0].headers["content-length"], "100000",
        "the mirror is told the length, so it can tell a short body"
    );
    assert_eq!(main.seen()[0].body.len(), body.len());
}

/// A gateway whose route `/` goes to `main` and is mirrored to a backend on `shadow_port`,
/// with `timeouts` (YAML, indented for the rule) when given.
async fn mirrored_gateway(
    main: &Upstream,
    shadow_port: u16,
    timeouts: &str,
) -> (u16, std::sync::Arc<proxy::Gateway>) {
    let port = free_port();
    let rules = format!(
        "  - filters:
    - type: RequestMirror
      requestMirror: {{backendRef: {s}}}
    backendRefs: [{m}]
{timeouts}",
        s = backend_ref("shadow"),
        m = backend_ref("main")
    );
    let gw = start(
        &(gateway(port)
            + &backend("main", main.port())
            + &backend("shadow", shadow_port)
            + &route("r", &rules)),
    )
    .await;
    (port, gw)
}

#[tokio::test]
async fn a_client_body_cut_off_is_not_mirrored_as_a_whole_request() {
    use tokio::io::AsyncWriteExt;
    let (main, shadow) = (
        Upstream::start("main").await,
        Upstream::start("shadow").await,
    );
    let (port, _gw) = mirrored_gateway(&main, shadow.port(), "").await;
    let mut client = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let head = "POST /upload HTTP/1.1\r\nhost: app\r\ncontent-length: 200000\r\n\r\n";
    client.write_all(head.as_bytes()).await.unwrap();
    client.write_all(&[b'x'; 100_000]).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    drop(client);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    // The test upstream records an aborted body as empty.
    assert!(
        main.seen().iter().all(|r| r.body.is_empty()),
        "the main backend saw an aborted body"
    );
    assert!(
        shadow.seen().iter().all(|r| r.body.is_empty()),
        "the mirror saw an aborted body too, not a complete request of half of it"
    );
}

#[tokio::test]
async fn a_mirror_that_never_answers_is_given_up_after_the_route_timeout() {
    use tokio::io::AsyncReadExt;
    let main = Upstream::start("main").await;
    // A mirror that takes connections and never answers; it notes when the gateway hangs up.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let shadow_port = listener.local_addr().unwrap().port();
    let (closed_tx, mut closed) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let closed_tx = closed_tx.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
                let _ = closed_tx.send(());
            });
        }
    });
    let (port, _gw) =
        mirrored_gateway(&main, shadow_port, "    timeouts: {request: 300ms}\n").await;
    let r = get(&format!("http://127.0.0.1:{port}/")).await;
    assert_eq!(r.status, 200, "the real request never waits for the mirror");
    let hung_up = tokio::time::timeout(std::time::Duration::from_secs(5), closed.recv()).await;
    assert!(
        hung_up.is_ok(),
        "the mirror's connection is closed once the route's timeout passes"
    );
}

#[tokio::test]
async fn backend_credentials_replace_the_clients() {
    let up = Upstream::start("up").await;
    let port = free_port();
    let yaml = gateway(port)
        + &format!(
            "---
apiVersion: v1
kind: Secret
metadata: {{name: key}}
stringData: {{api-key: sk-from-secret}}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {{name: up}}
spec:
  static: {{host: 127.0.0.1, port: {}}}
  policies:
    auth: {{secretRef: {{name: key}}}}
",
            up.port()
        )
        + &route_to("up");
    let _gw = start(&yaml).await;
    let r = send(
        http::Request::get(format!("http://127.0.0.1:{port}/"))
            .header("authorization", "Bearer client-token")
            .body(Default::default())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        up.seen()[0].headers["authorization"],
        "Bearer sk-from-secret"
    );
}
