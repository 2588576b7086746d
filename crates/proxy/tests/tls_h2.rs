//! HTTPS listeners (SNI), HTTP/2 downstream (ALPN and h2c) and upstream (h2c and TLS).

// Test helpers outside #[test] functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{backend, backend_ref, route, route_to, start};
use test_support::certs::{TestCa, indent};
use test_support::client::{collect, h2c, tls_request};
use test_support::free_port;
use test_support::upstream::Upstream;

fn tls_secret(name: &str, cert: &test_support::certs::TestCert) -> String {
    format!(
        "---
apiVersion: v1
kind: Secret
metadata: {{name: {name}}}
type: kubernetes.io/tls
stringData:
  tls.crt: |
{}  tls.key: |
{}",
        indent(&cert.cert_pem, 4),
        indent(&cert.key_pem, 4)
    )
}

#[tokio::test]
async fn https_listeners_choose_certificates_by_sni_and_speak_h2_by_alpn() {
    let up = Upstream::start("up").await;
    let ca = TestCa::new();
    let (a, b) = (ca.issue(&["a.example.com"]), ca.issue(&["b.example.com"]));
    let port = free_port();
    let yaml = format!(
        "apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: gw}}
spec:
  gatewayClassName: agentgateway
  listeners:
  - {{name: a, port: {port}, protocol: HTTPS, hostname: a.example.com, tls: {{certificateRefs: [{{name: cert-a}}]}}}}
  - {{name: b, port: {port}, protocol: HTTPS, hostname: b.example.com, tls: {{certificateRefs: [{{name: cert-b}}]}}}}
"
    ) + &tls_secret("cert-a", &a)
        + &tls_secret("cert-b", &b)
        + &backend("up", up.port())
        + &route_to("up");
    let _gw = start(&yaml).await;
    // Verification against the CA with each SNI name proves the right certificate was served.
    let (r, alpn) = tls_request(port, "a.example.com", &ca.pem(), true, "/x").await;
    assert_eq!(r.status, 200);
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));
    assert_eq!(r.version, http::Version::HTTP_2);
    let (r, alpn) = tls_request(port, "b.example.com", &ca.pem(), false, "/y").await;
    assert_eq!(r.status, 200);
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
    let seen = up.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].headers["x-forwarded-proto"], "https");
    assert_eq!(seen[0].headers["x-forwarded-host"], "a.example.com");
}

#[tokio::test]
async fn h2c_downstream_and_h2c_upstream() {
    let up = Upstream::start("up").await;
    let port = free_port();
    let yaml = common::gateway(port) + &common::h2c_backend("up", up.port()) + &route_to("up");
    let _gw = start(&yaml).await;
    let response = h2c()
        .request(
            http::Request::get(format!("http://127.0.0.1:{port}/h2"))
                .body(Default::default())
                .unwrap(),
        )
        .await
        .unwrap();
    let r = collect(response).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.version, http::Version::HTTP_2);
    assert_eq!(
        up.seen()[0].version,
        http::Version::HTTP_2,
        "the upstream is spoken to in h2c"
    );
}

#[tokio::test]
async fn upstream_tls_with_ca_ref_and_sni() {
    let ca = TestCa::new();
    let cert = ca.issue(&["backend.internal"]);
    let up = Upstream::start_tls("secure", &cert).await;
    let port = free_port();
    let yaml = common::gateway(port)
        + &format!(
            "---
apiVersion: v1
kind: Secret
metadata: {{name: ca}}
stringData:
  ca.crt: |
{}---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {{name: secure}}
spec:
  static: {{host: 127.0.0.1, port: {}}}
  policies:
    tls: {{caCertificateRefs: [{{name: ca}}], sni: backend.internal}}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {{name: wrong-name}}
spec:
  static: {{host: 127.0.0.1, port: {}}}
  policies:
    tls: {{caCertificateRefs: [{{name: ca}}], sni: other.internal}}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {{name: insecure}}
spec:
  static: {{host: 127.0.0.1, port: {}}}
  policies:
    tls: {{insecureSkipVerify: true}}
",
            indent(&ca.pem(), 4),
            up.port(),
            up.port(),
            up.port()
        )
        + &route(
            "r",
            &format!(
                "  - matches: [{{path: {{type: PathPrefix, value: /ok}}}}]\n    backendRefs: [{}]\n  - matches: [{{path: {{type: PathPrefix, value: /bad}}}}]\n    backendRefs: [{}]\n  - matches: [{{path: {{type: PathPrefix, value: /skip}}}}]\n    backendRefs: [{}]\n",
                backend_ref("secure"),
                backend_ref("wrong-name"),
                backend_ref("insecure")
            ),
        );
    let _gw = start(&yaml).await;
    let ok = test_support::client::get(&format!("http://127.0.0.1:{port}/ok")).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    let bad = test_support::client::get(&format!("http://127.0.0.1:{port}/bad")).await;
    assert_eq!(bad.status, 502);
    assert_eq!(bad.json()["error"]["type"], "upstream_tls_error");
    let skip = test_support::client::get(&format!("http://127.0.0.1:{port}/skip")).await;
    assert_eq!(skip.status, 200);
}
