//! `validate` reports every problem of a configuration at once, each with its place and a
//! hint; this pins the whole report for one file full of mistakes.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use config::{CompileOptions, load_and_compile, load_str};

const BROKEN: &str = "\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: agentgateway
  listeners:
  - name: http
    port: 8080
    protocol: HTTP
  - name: again
    port: 8080
    protocol: HTTP
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: keyed}
spec:
  static:
    host: api.example.com
    port: 443
  policies:
    auth:
      secretRef:
        name: no-such-secret
---
apiVersion: v1
kind: Secret
metadata: {name: from-env}
stringData:
  key: ${UNSET_VARIABLE}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  parentRefs:
  - name: no-such-gateway
  - name: gw
  rules:
  - matches:
    - path:
        type: RegularExpression
        value: \"/v1/(unclosed\"
    backendRefs:
    - group: agentgateway.dev
      kind: AgentgatewayBackend
      name: missing-backend
    - group: agentgateway.dev
      kind: AgentgatewayBackend
      name: keyed
      namespace: other
    timeouts:
      request: 1s
      backendRequest: 5s
";

#[test]
fn all_errors_at_once_with_locations_and_hints() {
    let options = CompileOptions {
        env: Arc::new(|_| None),
    };
    let errors = load_and_compile(load_str("broken.yaml", BROKEN), &options).unwrap_err();
    insta::assert_snapshot!(errors.to_string());
}

#[test]
fn parse_errors_are_all_reported_too() {
    let text = "\
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: a}
spec:
  static: {host: h, port: \"not a number\"}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: b}
spec:
  statik: {host: h, port: 1}
";
    let errors =
        load_and_compile(load_str("typos.yaml", text), &CompileOptions::default()).unwrap_err();
    insta::assert_snapshot!(errors.to_string());
}

/// Mistakes in LLM backends: every provider of a failover group is checked (not only up to
/// the first bad one), and each error points at the provider it is about.
const BROKEN_LLM: &str = "\
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: groups}
spec:
  ai:
    groups:
    - providers:
      - name: a
        openai: {}
        policies:
          http: {requestTimeout: 1 sec}
      - name: b
        bedrock: {region: us-east-1}
      - name: c
        vertexai: {projectId: p}
      - name: d
        openai: {model: \"\"}
        policies:
          tcp: {connectTimeout: 5 s}
          tls: {caCertificateRefs: [{name: no-such-ca}]}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: both}
spec:
  ai:
    provider:
      openai: {}
      anthropic: {}
";

#[test]
fn every_provider_of_an_llm_backend_is_checked_and_located() {
    let options = CompileOptions {
        env: Arc::new(|_| None),
    };
    let errors = load_and_compile(load_str("llm.yaml", BROKEN_LLM), &options).unwrap_err();
    insta::assert_snapshot!(errors.to_string());
}
