//! What an LLM route answers besides chat: `GET /v1/models` from configuration (pinned
//! models and aliases, across failover groups) and operator route tables that give custom
//! paths an API.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{gateway, llm_gateway, post_json, route_to, start};
use serde_json::{Value, json};
use test_support::client::{get, send};
use test_support::free_port;
use test_support::provider_mock::{Flavor, ProviderMock};

fn ids(list: &Value) -> Vec<&str> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect()
}

const ALIASES: &str = "---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: ai}
spec:
  targetRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: llm}]
  backend:
    ai:
      modelAliases: {fast: gpt-4o-mini}
";

#[tokio::test]
async fn a_pinned_backend_lists_its_model_and_aliases_without_asking_the_provider() {
    let (provider, port, _gw) =
        llm_gateway(Flavor::OpenAi, "openai", Some("gpt-4o"), ALIASES).await;
    let r = get(&format!("http://127.0.0.1:{port}/v1/models")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let list = r.json();
    assert_eq!(list["object"], "list");
    assert_eq!(ids(&list), ["gpt-4o", "fast"]);
    assert_eq!(list["data"][0]["owned_by"], "openai");
    assert!(
        provider.received().is_empty(),
        "answered from configuration"
    );
}

#[tokio::test]
async fn failover_groups_list_every_providers_model() {
    let port = free_port();
    let yaml = gateway(port)
        + "---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: llm}
spec:
  ai:
    groups:
    - providers:
      - {name: primary, openai: {model: gpt-4o}, host: 127.0.0.1, port: 9}
    - providers:
      - {name: backup, anthropic: {model: claude-sonnet-4-5}, host: 127.0.0.1, port: 9}
" + &route_to("llm");
    let _gw = start(&yaml).await;
    let r = get(&format!("http://127.0.0.1:{port}/v1/models")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(ids(&r.json()), ["gpt-4o", "claude-sonnet-4-5"]);
}

#[tokio::test]
async fn an_unpinned_cloud_backend_says_why_it_cannot_list_models() {
    let (_provider, port, _gw) = llm_gateway(Flavor::Gemini, "gemini", None, "").await;
    let r = get(&format!("http://127.0.0.1:{port}/v1/models")).await;
    assert_eq!(r.status, 501);
    let message = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(message.contains("pins none"), "{message}");
}

#[tokio::test]
async fn a_route_table_gives_custom_paths_an_api() {
    let provider = ProviderMock::start(Flavor::OpenAi, None).await;
    let port = free_port();
    let yaml = gateway(port)
        + &format!(
            "---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {{name: llm}}
spec:
  ai:
    provider:
      openai: {{model: gpt-4o}}
      host: 127.0.0.1
      port: {}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {{name: routes}}
spec:
  targetRefs: [{{group: agentgateway.dev, kind: AgentgatewayBackend, name: llm}}]
  backend:
    ai:
      routes: {{/generate: Completions, '*': Passthrough}}
",
            provider.port()
        )
        + &route_to("llm");
    let _gw = start(&yaml).await;
    let hello = json!({"model": "x", "messages": [{"role": "user", "content": "hi"}]});
    let r = send(post_json(port, "/team-a/generate", &hello)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["object"], "chat.completion");
    let seen = provider.received();
    assert_eq!(
        seen[0].path, "/v1/chat/completions",
        "a Completions route calls the chat API"
    );
    assert_eq!(
        seen[0].body["model"], "gpt-4o",
        "and gets the chat treatment (model pinned)"
    );
    // Everything else is passed through untouched: the pinned model is not applied.
    let r = send(post_json(port, "/v1/chat/completions", &hello)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(provider.received()[1].body["model"], "x");
}

#[tokio::test]
async fn route_table_mistakes_are_config_errors() {
    let yaml = "apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: routes}
spec:
  targetRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: llm}]
  backend:
    ai:
      routes: {/generate: Chat, v1/x: Models}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: llm}
spec: {ai: {provider: {openai: {model: m}}}}
";
    let errors = config::load_and_compile(
        config::load_str("t.yaml", yaml),
        &config::CompileOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(errors.contains("'Chat' is not a route type"), "{errors}");
    assert!(
        errors.contains("'v1/x' is neither a path suffix nor `*`"),
        "{errors}"
    );
}

#[tokio::test]
async fn passed_through_paths_lose_the_route_prefix_as_interpreted_ones_do() {
    let provider = ProviderMock::start(Flavor::OpenAi, Some("sk-gateway-key")).await;
    let port = free_port();
    let rules = format!(
        "  - matches: [{{path: {{type: PathPrefix, value: /openai}}}}]\n    backendRefs: [{}]\n",
        common::backend_ref("llm")
    );
    let yaml = gateway(port)
        + &common::ai_backend("openai", provider.port(), None)
        + &common::route("r", &rules);
    let _gw = start(&yaml).await;
    let hello = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]});
    send(post_json(port, "/openai/v1/chat/completions", &hello)).await;
    let responses = json!({"model": "gpt-4o", "input": "hi"});
    send(post_json(port, "/openai/v1/responses?trace=1", &responses)).await;
    let seen = provider.received();
    assert_eq!(seen[0].path, "/v1/chat/completions");
    assert_eq!(
        seen[1].path, "/v1/responses",
        "the Responses API is passed through, without the route's /openai"
    );
    assert_eq!(seen[1].body["input"], "hi");
}

#[tokio::test]
async fn a_url_rewrite_decides_the_api_by_the_path_it_writes() {
    let provider = ProviderMock::start(Flavor::OpenAi, Some("sk-gateway-key")).await;
    let port = free_port();
    let rules = "  - matches: [{path: {type: Exact, value: /chat}}]
    filters:
    - type: URLRewrite
      urlRewrite: {path: {type: ReplaceFullPath, replaceFullPath: /v1/chat/completions}}
    backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: llm}]
";
    let yaml = gateway(port)
        + &common::ai_backend("openai", provider.port(), None)
        + &common::route("r", rules);
    let _gw = start(&yaml).await;
    let ask = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]});
    // `/chat` names no API; what it is rewritten to does: a chat, checked and answered.
    let r = send(post_json(port, "/chat", &ask)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["object"], "chat.completion");
    assert_eq!(provider.received()[0].path, "/v1/chat/completions");
    let r = send(post_json(port, "/chat", &json!({"model": "gpt-4o"}))).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["error"]["param"], "messages");
    assert_eq!(
        provider.received().len(),
        1,
        "the gateway's chat checks refused it, not the provider"
    );
}
