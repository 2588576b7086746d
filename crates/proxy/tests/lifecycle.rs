//! Reloads, retries, graceful shutdown and metrics of a running gateway.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{
    backend, backend_ref, compile, gateway, route, route_to, start, start_with, test_options,
};
use test_support::client::get;
use test_support::free_port;
use test_support::upstream::Upstream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn reload_swaps_routes_without_failing_in_flight_requests() {
    let (old, new) = (Upstream::start("old").await, Upstream::start("new").await);
    let port = free_port();
    let config = |name: &str, up: &Upstream| {
        gateway(port)
            + &backend(name, up.port())
            + &route("r", &format!("  - backendRefs: [{}]\n", backend_ref(name)))
    };
    let gw = start(&config("old", &old)).await;
    let url = format!("http://127.0.0.1:{port}");
    // A slow request is in flight while the configuration changes under it.
    let in_flight = tokio::spawn({
        let url = url.clone();
        async move { get(&format!("{url}/delay/300")).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    gw.apply(compile(&config("new", &new))).await.unwrap();
    let answer = in_flight.await.unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.headers["x-upstream"], "old",
        "the request keeps the config it started with"
    );
    assert_eq!(get(&format!("{url}/")).await.headers["x-upstream"], "new");
    let status = gw.shared().status_report();
    assert_eq!(status["lastReload"]["ok"], true);
}

#[tokio::test]
async fn rejected_config_keeps_the_old_one_serving() {
    let up = Upstream::start("up").await;
    let port = free_port();
    let gw = start(&(gateway(port) + &backend("up", up.port()) + &route_to("up"))).await;
    let bad = config::load_and_compile(
        config::load_str(
            "bad.yaml",
            &(gateway(port)
                + &route(
                    "r",
                    "  - backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: missing}]\n",
                )),
        ),
        &Default::default(),
    );
    let errors = bad.unwrap_err();
    gw.reject(&errors);
    assert_eq!(get(&format!("http://127.0.0.1:{port}/")).await.status, 200);
    let status = gw.shared().status_report();
    assert_eq!(status["lastReload"]["ok"], false);
    assert!(
        status["lastReload"]["errors"][0]
            .as_str()
            .unwrap()
            .contains("missing")
    );
    assert!(
        gw.shared()
            .metrics
            .render()
            .contains(r#"agentgateway_config_reloads_total{result="failure"} 1"#)
    );
}

#[tokio::test]
async fn reload_moves_listeners_to_new_ports() {
    let up = Upstream::start("up").await;
    let (first, second) = (free_port(), free_port());
    let config = |port| gateway(port) + &backend("up", up.port()) + &route_to("up");
    let gw = start(&config(first)).await;
    assert_eq!(get(&format!("http://127.0.0.1:{first}/")).await.status, 200);
    gw.apply(compile(&config(second))).await.unwrap();
    assert_eq!(
        get(&format!("http://127.0.0.1:{second}/")).await.status,
        200
    );
    // The old port stops accepting (give its loop a moment to notice).
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", first))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_reload_to_a_busy_port_is_refused_and_the_old_port_keeps_serving() {
    let up = Upstream::start("up").await;
    let first = free_port();
    // Another process holds this port.
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = holder.local_addr().unwrap().port();
    let config = |port| gateway(port) + &backend("up", up.port()) + &route_to("up");
    let gw = start(&config(first)).await;
    let error = gw.apply(compile(&config(busy))).await.unwrap_err();
    assert!(error.to_string().contains(&busy.to_string()), "{error}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        get(&format!("http://127.0.0.1:{first}/")).await.status,
        200,
        "the old listener was not touched"
    );
}

/// A policy on route `r` with this `retry` setting.
fn retry_policy(retry: &str) -> String {
    format!(
        "---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {{name: retry}}
spec:
  targetRefs: [{{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}}]
  traffic:
    retry: {retry}
"
    )
}

#[tokio::test]
async fn retries_replay_the_request_on_configured_codes() {
    let up = Upstream::start("up").await;
    let port = free_port();
    let yaml = gateway(port)
        + &backend("up", up.port())
        + &route_to("up")
        + &retry_policy("{attempts: 3, codes: [503], backoff: 10ms}");
    let _gw = start(&yaml).await;
    let request = http::Request::post(format!("http://127.0.0.1:{port}/status/503"))
        .body("payload".into())
        .unwrap();
    let r = test_support::client::send(request).await;
    assert_eq!(r.status, 503, "the last answer is passed on");
    let seen = up.seen();
    assert_eq!(seen.len(), 3);
    assert!(
        seen.iter().all(|s| &s.body[..] == b"payload"),
        "each attempt carries the body"
    );
    assert_eq!(
        get(&format!("http://127.0.0.1:{port}/status/404"))
            .await
            .status,
        404
    );
    assert_eq!(up.seen().len(), 4, "codes not listed are not retried");
}

#[tokio::test]
async fn shutdown_drains_in_flight_requests_and_stops_accepting() {
    let up = Upstream::start("up").await;
    let port = free_port();
    let gw = start(&(gateway(port) + &backend("up", up.port()) + &route_to("up"))).await;
    let in_flight =
        tokio::spawn(async move { get(&format!("http://127.0.0.1:{port}/delay/300")).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    gw.shutdown().await;
    assert_eq!(
        in_flight.await.unwrap().status,
        200,
        "the in-flight request finished"
    );
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
    );
    assert!(!gw.shared().ready.load(std::sync::atomic::Ordering::Acquire));
}

#[tokio::test]
async fn policies_merge_header_modifiers_and_count_requests() {
    let up = Upstream::start("up").await;
    let port = free_port();
    let yaml = gateway(port)
        + &backend("up", up.port())
        + &route_to("up")
        + "---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: gateway-wide}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
  traffic:
    headerModifiers: {request: {set: [{name: x-level, value: gateway}]}}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: backend-specific}
spec:
  targetRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: up}]
  traffic:
    headerModifiers: {request: {set: [{name: x-level, value: backend}]}, response: {add: [{name: x-policy, value: backend}]}}
";
    let gw = start(&yaml).await;
    let r = get(&format!("http://127.0.0.1:{port}/")).await;
    assert_eq!(r.headers["x-policy"], "backend");
    assert_eq!(
        up.seen()[0].headers["x-level"],
        "backend",
        "the more specific level wins"
    );
    let metrics = gw.shared().metrics.render();
    assert!(metrics.contains(r#"agentgateway_requests_total{gateway="default/gw",route="default/r",backend="default/up",status="200"} 1"#), "{metrics}");
}

/// Reads until the gateway closes the connection; returns what it sent before that.
async fn read_until_closed(stream: &mut tokio::net::TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("the gateway closes the connection");
        match read {
            Ok(0) | Err(_) => return received,
            Ok(n) => received.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn idle_and_slow_header_connections_are_closed_but_slow_responses_are_not() {
    let up = Upstream::start("up").await;
    let port = free_port();
    let options = proxy::GatewayOptions {
        client_idle_timeout: Duration::from_millis(200),
        ..test_options()
    };
    let _gw = start_with(
        &(gateway(port) + &backend("up", up.port()) + &route_to("up")),
        options,
    )
    .await;

    // A client that starts a request head and never finishes it.
    let mut slow_header = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    slow_header
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    assert!(read_until_closed(&mut slow_header).await.is_empty());

    // A keep-alive connection left idle after its answer.
    let mut idle = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    idle.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answered = read_until_closed(&mut idle).await;
    assert!(
        answered.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answered)
    );

    // A response that takes several idle periods is still delivered.
    let slow = get(&format!("http://127.0.0.1:{port}/delay/1000")).await;
    assert_eq!(slow.status, 200);

    // A body that keeps coming, slowly, is read to its end...
    let mut trickle = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    trickle
        .write_all(b"POST / HTTP/1.1\r\nHost: x\r\ncontent-length: 10\r\n\r\n")
        .await
        .unwrap();
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        trickle.write_all(b"x").await.unwrap();
    }
    let answered = read_until_closed(&mut trickle).await;
    assert!(
        answered.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answered)
    );

    // ...but one that stops coming does not hold its connection (nor the backend's).
    let mut stalled = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    stalled
        .write_all(b"POST / HTTP/1.1\r\nHost: x\r\ncontent-length: 10\r\n\r\nxx")
        .await
        .unwrap();
    // (`read_until_closed` fails if the gateway keeps the connection open.)
    read_until_closed(&mut stalled).await;
}

/// Records the levels the gateway sets.
#[derive(Default)]
struct RecordedLevels(std::sync::Mutex<Vec<String>>);

impl proxy::LogControl for RecordedLevels {
    fn level(&self) -> String {
        self.0.lock().unwrap().last().cloned().unwrap_or_default()
    }

    fn set_level(&self, filter: &str) -> Result<(), String> {
        self.0.lock().unwrap().push(filter.to_string());
        Ok(())
    }
}

#[tokio::test]
async fn a_reloaded_log_level_takes_effect() {
    let up = Upstream::start("up").await;
    let port = free_port();
    let config = |level: &str| {
        gateway(port)
            + &backend("up", up.port())
            + &route_to("up")
            + &format!(
                "---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayParameters
metadata: {{name: params}}
spec:
  logging: {{level: {level}}}
"
            )
    };
    let levels = std::sync::Arc::new(RecordedLevels::default());
    let gw = proxy::Gateway::start(
        compile(&config("info")),
        test_options(),
        Some(levels.clone()),
    )
    .await
    .unwrap();
    gw.apply(compile(&config("info"))).await.unwrap();
    assert!(
        levels.0.lock().unwrap().is_empty(),
        "unchanged: not set again"
    );
    gw.apply(compile(&config("warn"))).await.unwrap();
    assert_eq!(*levels.0.lock().unwrap(), ["warn"]);
}

#[tokio::test]
async fn every_failed_connection_is_counted_retries_included() {
    let (port, dead) = (free_port(), free_port());
    let yaml = gateway(port)
        + &backend("up", dead)
        + &route_to("up")
        + &retry_policy("{attempts: 3, backoff: 1ms}");
    let gw = start(&yaml).await;
    assert_eq!(get(&format!("http://127.0.0.1:{port}/")).await.status, 503);
    let metrics = gw.shared().metrics.render();
    assert!(
        metrics.contains(
            r#"agentgateway_upstream_connect_errors_total{backend="default/up",reason="refused"} 3"#
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_file_still_being_written_is_applied_once_it_settles() {
    let (old, new) = (Upstream::start("old").await, Upstream::start("new").await);
    let port = free_port();
    let config = |up: &Upstream| gateway(port) + &backend("up", up.port()) + &route_to("up");
    let gw = start(&config(&old)).await;
    let dir = std::env::temp_dir().join(format!("agw-settle-{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("gateway.yaml");
    std::fs::write(&file, config(&old)).unwrap();
    let interval = Duration::from_millis(50);
    let watcher = tokio::spawn(proxy::reload::watch(
        gw.clone(),
        file.clone(),
        config::CompileOptions::default(),
        interval,
    ));
    let url = format!("http://127.0.0.1:{port}/");
    // The file changes faster than the polls for a while (a slow writer): nothing of it
    // is applied, though each state on its own would be a valid configuration.
    for i in 0..12 {
        std::fs::write(&file, format!("{}# write {i}\n", config(&new))).unwrap();
        tokio::time::sleep(interval / 2).await;
        assert_eq!(get(&url).await.headers["x-upstream"], "old", "write {i}");
    }
    // Then it settles, and is applied.
    let mut upstream = String::new();
    for _ in 0..100 {
        upstream = get(&url).await.headers["x-upstream"]
            .to_str()
            .unwrap()
            .to_string();
        if upstream == "new" {
            break;
        }
        tokio::time::sleep(interval).await;
    }
    assert_eq!(upstream, "new");
    watcher.abort();
    let _ = std::fs::remove_dir_all(dir);
}
