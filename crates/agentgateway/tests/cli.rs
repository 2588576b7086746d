//! The real binary, driven the way an operator drives it.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use test_support::client::{get, try_get};
use test_support::free_port;
use test_support::upstream::Upstream;
use tokio::io::AsyncBufReadExt;
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_agentgateway");

fn examples() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples"))
}

async fn output(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn validate_accepts_examples_and_lists_every_error() {
    let ok = output(&[
        "validate",
        "-f",
        examples().join("01-static-backend.yaml").to_str().unwrap(),
    ])
    .await;
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("valid (3 resources"));

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\nspec:\n  parentRefs: [{name: nope}]\n  rules:\n  - backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: gone}]\n---\nkind: Gatewy\napiVersion: gateway.networking.k8s.io/v1\nmetadata: {name: g}\n").unwrap();
    let failed = output(&["validate", "-f", bad.to_str().unwrap()]).await;
    assert_eq!(failed.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(stderr.contains("unknown kind `Gatewy`"), "{stderr}");
    assert!(
        stderr.contains(":9:"),
        "the line of the bad document: {stderr}"
    );
}

#[tokio::test]
async fn schema_crds_and_version() {
    let schema = output(&["schema", "AgentgatewayBackend"]).await;
    assert!(schema.status.success());
    let value: serde_json::Value = serde_json::from_slice(&schema.stdout).unwrap();
    assert!(
        value["$defs"]["StaticBackend"]["properties"]["host"].is_object(),
        "{value}"
    );
    let unknown = output(&["schema", "Widget"]).await;
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("known kinds"));
    let crds = output(&["crds"]).await;
    assert!(
        String::from_utf8_lossy(&crds.stdout)
            .contains("name: agentgatewaybackends.agentgateway.dev")
    );
    let version = output(&["version"]).await;
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("agentgateway "));
    let help = output(&["run", "--help"]).await;
    assert!(String::from_utf8_lossy(&help.stdout).contains("--drain-timeout"));
    // A reader that stops early (`crds | head`) ends the output quietly.
    for command in ["crds", "schema"] {
        let mut child = Command::new(BIN)
            .arg(command)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let done = child.wait_with_output().await.unwrap();
        assert!(done.status.success(), "{command}: {:?}", done.status);
        assert!(
            done.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&done.stderr)
        );
    }
}

struct Running {
    child: Child,
    admin: u16,
    readiness: u16,
}

async fn spawn(args: &[String]) -> Running {
    let (admin, metrics, readiness) = (free_port(), free_port(), free_port());
    let mut all: Vec<String> = args.to_vec();
    all.extend([
        "--bind".into(),
        "127.0.0.1".into(),
        "--admin-addr".into(),
        format!("127.0.0.1:{admin}"),
        "--metrics-addr".into(),
        format!("127.0.0.1:{metrics}"),
        "--readiness-addr".into(),
        format!("127.0.0.1:{readiness}"),
        "--reload-interval".into(),
        "100ms".into(),
        "--drain-timeout".into(),
        "5s".into(),
    ]);
    let child = Command::new(BIN)
        .args(&all)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let running = Running {
        child,
        admin,
        readiness,
    };
    for _ in 0..200 {
        if let Ok(Ok(r)) = tokio::time::timeout(
            Duration::from_millis(500),
            try_get(&format!("http://127.0.0.1:{readiness}/healthz/ready")),
        )
        .await
            && r.status == 200
        {
            return running;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the gateway did not become ready");
}

async fn wait_until<F: AsyncFnMut() -> bool>(mut check: F) -> bool {
    for _ in 0..100 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

fn config(port: u16, upstream: u16, header: &str) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: gw}}
spec:
  gatewayClassName: agentgateway
  listeners: [{{name: http, port: {port}, protocol: HTTP}}]
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {{name: up}}
spec:
  static: {{host: 127.0.0.1, port: {upstream}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: r}}
spec:
  parentRefs: [{{name: gw}}]
  rules:
  - filters:
    - type: ResponseHeaderModifier
      responseHeaderModifier: {{set: [{{name: x-version, value: {header}}}]}}
    backendRefs: [{{group: agentgateway.dev, kind: AgentgatewayBackend, name: up}}]
"
    )
}

#[tokio::test]
async fn run_serves_reloads_rejects_bad_changes_and_stops_on_sigterm() {
    let up = Upstream::start("up").await;
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gateway.yaml");
    std::fs::write(&file, config(port, up.port(), "one")).unwrap();
    let mut gw = spawn(&[
        "run".into(),
        "-f".into(),
        file.display().to_string(),
        "--log-format".into(),
        "json".into(),
    ])
    .await;
    let url = format!("http://127.0.0.1:{port}/hello");
    assert_eq!(get(&url).await.headers["x-version"], "one");

    // An edit is picked up without a restart.
    std::fs::write(&file, config(port, up.port(), "two")).unwrap();
    assert!(
        wait_until(async || get(&url).await.headers["x-version"] == "two").await,
        "reload not applied"
    );

    // A broken edit is rejected; the last good configuration keeps serving.
    std::fs::write(
        &file,
        config(port, up.port(), "three").replace("static:", "statik:"),
    )
    .unwrap();
    let admin = gw.admin;
    assert!(
        wait_until(async || get(&format!("http://127.0.0.1:{admin}/status"))
            .await
            .json()["lastReload"]["ok"]
            == false)
        .await
    );
    let status = get(&format!("http://127.0.0.1:{admin}/status"))
        .await
        .json();
    assert!(
        status["lastReload"]["errors"][0]
            .as_str()
            .unwrap()
            .contains("statik"),
        "{status}"
    );
    assert_eq!(get(&url).await.headers["x-version"], "two");

    // The admin API: config dump (no secrets) and runtime log level.
    let dump = get(&format!("http://127.0.0.1:{admin}/config_dump"))
        .await
        .json();
    assert_eq!(dump["backends"][0]["name"], "default/up");
    let set = test_support::client::send(
        http::Request::post(format!("http://127.0.0.1:{admin}/logging?level=debug"))
            .body(Default::default())
            .unwrap(),
    )
    .await;
    assert_eq!(set.status, 200, "{}", set.text());
    assert_eq!(set.json()["level"], "debug");

    // SIGTERM: an in-flight request still completes, then the process exits 0.
    let slow =
        tokio::spawn(async move { get(&format!("http://127.0.0.1:{port}/delay/400")).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let pid = gw.child.id().unwrap().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .unwrap()
            .success()
    );
    assert_eq!(slow.await.unwrap().status, 200);
    let status = tokio::time::timeout(Duration::from_secs(10), gw.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());

    // Access log lines are JSON with the fields operators filter on.
    let mut lines = tokio::io::BufReader::new(gw.child.stdout.take().unwrap()).lines();
    let mut access = None;
    while let Some(line) = lines.next_line().await.unwrap() {
        if line.contains("\"target\":\"access\"") && line.contains("/hello") {
            access = Some(serde_json::from_str::<serde_json::Value>(&line).unwrap());
            break;
        }
    }
    let access = access.expect("an access log line");
    for field in [
        "method",
        "path",
        "status",
        "route",
        "backend",
        "duration_ms",
        "bytes",
        "upstream",
    ] {
        assert!(access.get(field).is_some(), "{field} missing in {access}");
    }
    assert_eq!(access["route"], "default/r");
    let _ = gw.readiness;
}

#[tokio::test]
async fn run_without_a_file_serves_the_embedded_default() {
    let mut gw = spawn(&["run".into()]).await;
    // Nothing listens on Ollama's port here: the answer says so, naming the backend.
    let r = get("http://127.0.0.1:8080/ollama/v1/models").await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["error"]["type"], "connection_refused");
    assert!(r.text().contains("default/ollama"), "{}", r.text());
    assert_eq!(get("http://127.0.0.1:8080/elsewhere").await.status, 404);
    let status = get(&format!("http://127.0.0.1:{}/status", gw.admin))
        .await
        .json();
    assert_eq!(status["source"], "embedded default configuration");
    gw.child.start_kill().unwrap();
}

#[tokio::test]
async fn shutdown_min_keeps_serving_while_reporting_not_ready() {
    let up = Upstream::start("up").await;
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gateway.yaml");
    let parameters = "---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayParameters
metadata: {name: p}
spec:
  shutdown: {min: 2, max: 5}
";
    std::fs::write(&file, config(port, up.port(), "one") + parameters).unwrap();
    let mut gw = spawn(&["run".into(), "-f".into(), file.display().to_string()]).await;
    let pid = gw.child.id().unwrap().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().await;
    assert!(killed.unwrap().success());
    let readiness = format!("http://127.0.0.1:{}/healthz/ready", gw.readiness);
    assert!(wait_until(async || get(&readiness).await.status == 503).await);
    // Not ready, yet still serving new requests until `min` has passed.
    let r = get(&format!("http://127.0.0.1:{port}/")).await;
    assert_eq!(r.status, 200);
    let status = tokio::time::timeout(Duration::from_secs(10), gw.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
}
