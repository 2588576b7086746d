//! Builds a gateway from a YAML string, bound to 127.0.0.1, for in-process tests.

#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use config::{CompileOptions, Config, load_and_compile, load_str};
use proxy::{Gateway, GatewayOptions};

pub fn compile(yaml: &str) -> Config {
    load_and_compile(load_str("test.yaml", yaml), &CompileOptions::default())
        .unwrap_or_else(|e| panic!("{e}"))
}

pub async fn start(yaml: &str) -> Arc<Gateway> {
    start_with(yaml, test_options()).await
}

pub async fn start_with(yaml: &str, options: GatewayOptions) -> Arc<Gateway> {
    Gateway::start(compile(yaml), options, None).await.unwrap()
}

/// Loopback, short drain, defaults otherwise.
pub fn test_options() -> GatewayOptions {
    GatewayOptions {
        bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
        drain_timeout: Duration::from_secs(5),
        source: "test".into(),
        ..GatewayOptions::default()
    }
}

/// A Gateway named `gw` with one HTTP listener on `port`.
pub fn gateway(port: u16) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: gw}}
spec:
  gatewayClassName: agentgateway
  listeners:
  - {{name: http, port: {port}, protocol: HTTP}}
"
    )
}

/// A static AgentgatewayBackend `name` at 127.0.0.1:`port`.
pub fn backend(name: &str, port: u16) -> String {
    format!(
        "---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {{name: {name}}}
spec:
  static: {{host: 127.0.0.1, port: {port}}}
"
    )
}

/// A static AgentgatewayBackend `name` at 127.0.0.1:`port`, spoken to in h2c.
pub fn h2c_backend(name: &str, port: u16) -> String {
    backend(name, port) + "  policies:\n    http: {version: HTTP2}\n"
}

/// An HTTPRoute `name` on `gw` whose rules are given as YAML (indented by 2).
pub fn route(name: &str, rules: &str) -> String {
    format!(
        "---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: {name}}}
spec:
  parentRefs: [{{name: gw}}]
  rules:
{rules}"
    )
}

/// A backendRef line for a static AgentgatewayBackend.
pub fn backend_ref(name: &str) -> String {
    format!("{{group: agentgateway.dev, kind: AgentgatewayBackend, name: {name}}}")
}

/// An HTTPRoute `r` on `gw` sending everything to the backend `name`.
pub fn route_to(name: &str) -> String {
    route("r", &format!("  - backendRefs: [{}]\n", backend_ref(name)))
}

/// A Secret `provider-key` and an AgentgatewayBackend `llm` for `provider` (`openai` or
/// `anthropic`) at 127.0.0.1:`port`, optionally pinning `model`.
pub fn ai_backend(provider: &str, port: u16, model: Option<&str>) -> String {
    let model = model.map(|m| format!("model: {m}")).unwrap_or_default();
    format!(
        "---
apiVersion: v1
kind: Secret
metadata: {{name: provider-key}}
stringData: {{api-key: sk-gateway-key}}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {{name: llm}}
spec:
  ai:
    provider:
      {provider}: {{{model}}}
      host: 127.0.0.1
      port: {port}
  policies:
    auth: {{secretRef: {{name: provider-key}}}}
"
    )
}

/// A mock provider of `flavor` (requiring the key `ai_backend` gives the gateway) behind a
/// gateway whose route sends everything to a `provider_kind` backend, optionally pinning
/// `model`, plus `extra` YAML. Returns the mock, the gateway port and the gateway.
pub async fn llm_gateway(
    flavor: test_support::provider_mock::Flavor,
    provider_kind: &str,
    model: Option<&str>,
    extra: &str,
) -> (test_support::provider_mock::ProviderMock, u16, Arc<Gateway>) {
    let provider =
        test_support::provider_mock::ProviderMock::start(flavor, Some("sk-gateway-key")).await;
    let port = test_support::free_port();
    let yaml = gateway(port)
        + &ai_backend(provider_kind, provider.port(), model)
        + &route_to("llm")
        + extra;
    let gw = start(&yaml).await;
    (provider, port, gw)
}

/// A JSON POST with a client key the gateway must not pass on.
pub fn post_json(
    port: u16,
    path: &str,
    body: &serde_json::Value,
) -> http::Request<http_body_util::Full<bytes::Bytes>> {
    http::Request::post(format!("http://127.0.0.1:{port}{path}"))
        .header("content-type", "application/json")
        .header("authorization", "Bearer client-key")
        .body(body.to_string().into())
        .unwrap()
}

/// The whole body of a streamed answer to a JSON POST.
pub async fn streamed_text(port: u16, path: &str, body: &serde_json::Value) -> String {
    let response = test_support::client::http1()
        .request(post_json(port, path, body))
        .await
        .unwrap();
    test_support::client::collect(response).await.text()
}

/// The `data:` payloads of an SSE body, in order.
pub fn sse_data(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
        .map(str::to_string)
        .collect()
}

/// A gateway whose backend is Bedrock (served by a mock checking SigV4) pinning `model`,
/// with static keys from a Secret.
pub async fn bedrock_gateway(
    model: &str,
) -> (test_support::provider_mock::ProviderMock, u16, Arc<Gateway>) {
    use test_support::provider_mock::{Flavor, ProviderMock};
    let mock = ProviderMock::start(Flavor::Bedrock, None).await;
    let port = test_support::free_port();
    let yaml = gateway(port)
        + &format!(
            "---
apiVersion: v1
kind: Secret
metadata: {{name: aws-creds}}
stringData: {{accessKeyId: {}, secretAccessKey: wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, sessionToken: FAKE-SESSION}}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {{name: llm}}
spec:
  ai:
    provider:
      bedrock: {{region: us-east-1, model: '{model}'}}
      host: 127.0.0.1
      port: {}
  policies:
    auth: {{aws: {{secretRef: {{name: aws-creds}}}}}}
",
            test_support::provider_mock::BEDROCK_ACCESS_KEY_ID,
            mock.port()
        )
        + &route_to("llm");
    let gw = start(&yaml).await;
    (mock, port, gw)
}
