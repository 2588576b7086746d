//! LLM routes to an OpenAI-compatible provider, against a mock that speaks OpenAI's wire
//! format (the project's provider samples).

// Test helpers outside #[test] functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{gateway, llm_gateway, route_to, start};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use test_support::client::{collect, get, http1, send};
use test_support::free_port;
use test_support::provider_mock::{Flavor, ProviderMock};

fn backend(port: u16, model: Option<&str>) -> String {
    common::ai_backend("openai", port, model)
}

fn chat(port: u16, body: Value) -> http::Request<http_body_util::Full<bytes::Bytes>> {
    http::Request::post(format!(
        "http://127.0.0.1:{port}/ollama/v1/chat/completions"
    ))
    .header("content-type", "application/json")
    .header("authorization", "Bearer client-secret")
    .body(body.to_string().into())
    .unwrap()
}

#[tokio::test]
async fn chat_completion_gets_the_backend_model_and_key_and_usage_is_counted() {
    let provider = ProviderMock::start(Flavor::OpenAi, Some("sk-gateway-key")).await;
    let port = free_port();
    let gw =
        start(&(gateway(port) + &backend(provider.port(), Some("llama3.2")) + &route_to("llm")))
            .await;
    let r = send(chat(port, json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.3}))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["choices"][0]["message"].is_object());
    let seen = &provider.received()[0];
    assert_eq!(
        seen.path, "/v1/chat/completions",
        "the route prefix is not sent to the provider"
    );
    assert_eq!(
        seen.body["model"], "llama3.2",
        "the backend's model replaces the client's"
    );
    assert_eq!(seen.body["temperature"], 0.3);
    assert_eq!(
        seen.headers["authorization"], "Bearer sk-gateway-key",
        "the client's own key never reaches the provider"
    );
    let metrics = gw.shared().metrics.render();
    assert!(metrics.contains("gen_ai_client_token_usage_sum{gen_ai_operation_name=\"chat\",gen_ai_provider_name=\"openai\",gen_ai_request_model=\"llama3.2\",gen_ai_response_model=\"o4-mini-2025-04-16\",gen_ai_token_type=\"input\"} 1418"), "{metrics}");
    assert!(
        metrics.contains("gen_ai_server_request_duration_count{"),
        "{metrics}"
    );
}

#[tokio::test]
async fn streams_pass_through_chunk_by_chunk_with_usage_from_the_last_chunk() {
    let (provider, port, gw) = llm_gateway(Flavor::OpenAi, "openai", None, "").await;
    let request = chat(
        port,
        json!({"model": "gpt-4o-mini", "stream": true, "stream_options": {"include_usage": true}, "messages": [{"role": "user", "content": "hi"}]}),
    );
    let response = http1().request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = collect(response).await.text();
    let expected = String::from_utf8(test_support::provider_mock::fixture(
        "openai/chat_stream.sse",
    ))
    .unwrap();
    assert_eq!(
        text.trim_end(),
        expected.trim_end(),
        "the stream arrives byte for byte"
    );
    assert_eq!(
        provider.received()[0].body["model"],
        "gpt-4o-mini",
        "no pinned model: the client's is used"
    );
    let metrics = gw.shared().metrics.render();
    assert!(
        metrics.contains("gen_ai_token_type=\"output\"} 12"),
        "{metrics}"
    );
    assert!(
        metrics.contains("gen_ai_server_time_to_first_token_count{"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_broken_stream_ends_with_an_error_event() {
    let (_provider, port, _gw) = llm_gateway(Flavor::OpenAi, "openai", None, "").await;
    let response = http1().request(chat(port, json!({"model": "break-stream", "stream": true, "messages": [{"role": "user", "content": "hi"}]}))).await.unwrap();
    let text = String::from_utf8(
        response
            .into_body()
            .collect()
            .await
            .expect("a clean end, not a cut")
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    let last = text.trim_end().rsplit("\n\n").next().unwrap();
    let event: Value = serde_json::from_str(last.strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(event["error"]["type"], "upstream_error");
    assert!(
        event["error"]["message"]
            .as_str()
            .unwrap()
            .contains("broke off")
    );
}

#[tokio::test]
async fn bad_requests_get_openai_shaped_errors() {
    let (provider, port, _gw) = llm_gateway(Flavor::OpenAi, "openai", None, "").await;
    let url = format!("http://127.0.0.1:{port}/ollama/v1/chat/completions");
    let r = get(&url).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.headers["allow"], "POST");
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("POST with a JSON body")
    );
    let r = send(http::Request::post(&url).body("{not json".into()).unwrap()).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");
    let r = send(chat(port, json!({"model": "m"}))).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["param"], "messages");
    assert!(
        provider.received().is_empty(),
        "nothing invalid reaches the provider"
    );
}

#[tokio::test]
async fn provider_404_is_passed_on_naming_the_model() {
    let (_provider, port, gw) =
        llm_gateway(Flavor::OpenAi, "openai", Some("missing-model"), "").await;
    let r = send(chat(
        port,
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}),
    ))
    .await;
    assert_eq!(r.status, 404);
    let body = r.json();
    assert_eq!(
        body["error"]["code"], "model_not_found",
        "the provider's error is kept"
    );
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("does not exist")
            && message.contains("default/llm")
            && message.contains("missing-model")
            && message.contains("(openai.model in its spec.ai)"),
        "{message}"
    );
    let metrics = gw.shared().metrics.render();
    assert!(
        metrics.contains("gen_ai_server_request_duration_count{gen_ai_operation_name=\"chat\",gen_ai_provider_name=\"openai\",gen_ai_request_model=\"missing-model\",gen_ai_response_model=\"missing-model\",error_type=\"404\"} 1"),
        "the failed call is measured as failed: {metrics}"
    );
}

#[tokio::test]
async fn models_are_listed_from_the_provider() {
    let (provider, port, _gw) = llm_gateway(Flavor::OpenAi, "openai", None, "").await;
    let r = get(&format!("http://127.0.0.1:{port}/ollama/v1/models")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["object"], "list");
    assert_eq!(provider.received()[0].path, "/v1/models");
}

fn anthropic_messages(port: u16, body: Value) -> http::Request<http_body_util::Full<bytes::Bytes>> {
    anthropic_post(port, "/ollama/v1/messages", body.to_string())
}

/// A POST as the Anthropic SDK sends it.
fn anthropic_post(
    port: u16,
    path: &str,
    body: String,
) -> http::Request<http_body_util::Full<bytes::Bytes>> {
    http::Request::post(format!("http://127.0.0.1:{port}{path}"))
        .header("content-type", "application/json")
        .header("anthropic-version", "2023-06-01")
        .body(body.into())
        .unwrap()
}

#[tokio::test]
async fn anthropic_clients_are_translated_to_chat_completions_and_back() {
    let (provider, port, _gw) = llm_gateway(Flavor::OpenAi, "openai", None, "").await;
    let tools = json!([{"name": "get_weather", "input_schema": {"type": "object"}}]);
    let request = json!({"model": "llama3.2", "max_tokens": 64, "system": "Be brief.", "tools": tools, "messages": [{"role": "user", "content": "Weather?"}]});
    let r = send(anthropic_messages(port, request)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let message = r.json();
    assert_eq!(message["type"], "message");
    assert_eq!(message["stop_reason"], "tool_use");
    assert_eq!(message["content"][0]["type"], "tool_use");
    let sent = &provider.received()[0];
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(
        sent.body["messages"][0],
        json!({"role": "system", "content": "Be brief."})
    );
    assert_eq!(sent.body["tools"][0]["function"]["name"], "get_weather");
    assert_eq!(sent.headers["authorization"], "Bearer sk-gateway-key");
    assert_eq!(
        sent.body["max_tokens"], 64,
        "a server that copies OpenAI's API (here: host and port) gets max_tokens"
    );
}

#[tokio::test]
async fn anthropic_streams_are_rebuilt_from_chat_chunks() {
    let (provider, port, _gw) = llm_gateway(Flavor::OpenAi, "openai", None, "").await;
    let request = json!({"model": "llama3.2", "max_tokens": 64, "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let response = http1()
        .request(anthropic_messages(port, request))
        .await
        .unwrap();
    let text = collect(response).await.text();
    let kinds: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(kinds.first(), Some(&"message_start"), "{text}");
    assert_eq!(&kinds[kinds.len() - 2..], ["message_delta", "message_stop"]);
    assert!(kinds.contains(&"content_block_delta"));
    assert_eq!(
        provider.received()[0].body["stream_options"]["include_usage"],
        true,
        "usage is asked for, as Anthropic streams always report it"
    );
    assert!(text.contains("\"output_tokens\":12"), "{text}");
}

#[tokio::test]
async fn ai_policies_alias_default_override_and_enrich_requests() {
    let provider = ProviderMock::start(Flavor::OpenAi, None).await;
    let port = free_port();
    let policy = "---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: ai}
spec:
  targetRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: llm}]
  backend:
    ai:
      modelAliases: {fast: llama3.2}
      defaults: [{field: temperature, value: \"0.2\"}]
      overrides: [{field: max_tokens, value: \"1024\"}]
      prompt:
        prepend: [{role: system, content: Answer in French.}]
";
    let _gw =
        start(&(gateway(port) + &backend(provider.port(), None) + &route_to("llm") + policy)).await;
    let r = send(chat(
        port,
        json!({"model": "fast", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}),
    ))
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let sent = &provider.received()[0].body;
    assert_eq!(sent["model"], "llama3.2", "the alias names the real model");
    assert_eq!(sent["temperature"], 0.2);
    assert_eq!(sent["max_tokens"], 1024);
    assert_eq!(
        sent["messages"][0],
        json!({"role": "system", "content": "Answer in French."})
    );
    assert_eq!(sent["messages"][1]["content"], "hi");
}

#[tokio::test]
async fn azure_openai_gets_deployment_path_api_version_and_api_key() {
    let provider = ProviderMock::start(Flavor::Azure, Some("azure-key")).await;
    let port = free_port();
    let yaml = gateway(port)
        + &format!(
            "---
apiVersion: v1
kind: Secret
metadata: {{name: azure-key}}
stringData: {{key: azure-key}}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {{name: llm}}
spec:
  ai:
    provider:
      azureopenai: {{endpoint: my-resource.openai.azure.com, deploymentName: gpt-4o-prod}}
      host: 127.0.0.1
      port: {}
  policies:
    auth: {{secretRef: {{name: azure-key}}}}
",
            provider.port()
        )
        + &route_to("llm");
    let _gw = start(&yaml).await;
    let r = send(chat(
        port,
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}),
    ))
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = &provider.received()[0];
    assert_eq!(
        seen.path,
        "/openai/deployments/gpt-4o-prod/chat/completions"
    );
    assert_eq!(seen.headers["api-key"], "azure-key");
    assert!(
        !seen.headers.contains_key("authorization"),
        "the client's credential never reaches Azure"
    );
    let streamed = send(chat(
        port,
        json!({"model": "gpt-4o", "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
    ))
    .await;
    assert_eq!(streamed.status, 200);
    assert!(streamed.text().trim_end().ends_with("data: [DONE]"));
    // Azure has no model list per deployment: the deployment is the route's one model.
    let models = get(&format!("http://127.0.0.1:{port}/v1/models")).await;
    assert_eq!(models.status, 200, "{}", models.text());
    assert_eq!(models.json()["data"][0]["id"], "gpt-4o-prod");
    assert_eq!(provider.received().len(), 2, "answered from configuration");
    // An Anthropic client's max_tokens goes as max_completion_tokens, which Azure's
    // reasoning models require.
    let r = send(anthropic_post(
        port,
        "/v1/messages",
        json!({"model": "gpt-4o", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}).to_string(),
    ))
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let sent = &provider.received()[2].body;
    assert_eq!(sent["max_completion_tokens"], 64, "{sent}");
    assert!(sent.get("max_tokens").is_none(), "{sent}");
}

/// The last SSE frame of a streamed answer, read to its clean end.
async fn last_frame(request: http::Request<http_body_util::Full<bytes::Bytes>>) -> String {
    let response = http1().request(request).await.unwrap();
    let text = collect(response).await.text();
    text.trim_end().rsplit("\n\n").next().unwrap().to_string()
}

#[tokio::test]
async fn a_stream_the_provider_ends_early_is_reported_cut_short() {
    let (_provider, port, _gw) = llm_gateway(Flavor::OpenAi, "openai", None, "").await;
    let cut = json!({"model": "cut-stream", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let last = last_frame(chat(port, cut)).await;
    let event: Value = serde_json::from_str(last.strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(event["error"]["type"], "upstream_error", "{last}");
    assert!(
        event["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cut short")
    );

    // A whole stream gets nothing after its `[DONE]`.
    let whole = json!({"model": "gpt-4o-mini", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(last_frame(chat(port, whole)).await, "data: [DONE]");

    // Translated for an Anthropic client: an error event, not a made-up `end_turn`.
    let cut = json!({"model": "cut-stream", "max_tokens": 16, "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let last = last_frame(anthropic_messages(port, cut)).await;
    assert!(last.starts_with("event: error\ndata: "), "{last}");
    assert!(last.contains("cut short"), "{last}");
}

#[tokio::test]
async fn a_200_that_is_not_a_chat_completion_is_a_502_in_the_clients_shape() {
    let (_provider, port, _gw) = llm_gateway(Flavor::OpenAi, "openai", None, "").await;
    for (model, stream) in [
        ("garbled-answer", false),
        ("garbled-answer", true),
        ("not-an-answer", false),
    ] {
        let request = json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]});
        let r = send(chat(port, request)).await;
        assert_eq!(r.status, 502, "{model} {stream}: {}", r.text());
        let error = &r.json()["error"];
        assert_eq!(error["type"], "upstream_protocol_error", "{}", r.text());
        let message = error["message"].as_str().unwrap();
        assert!(message.contains("content-type"), "{message}");
        assert!(message.contains("is not"), "{message}");
    }
    // For an Anthropic client, in Anthropic's shape.
    let r = send(anthropic_messages(
        port,
        json!({"model": "not-an-answer", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}),
    ))
    .await;
    assert_anthropic_error(&r, 502, "not an OpenAI chat completion");
}

/// An error in Anthropic's shape: `api_error` for the gateway's 5xx, the message naming it.
fn assert_anthropic_error(r: &test_support::client::Collected, status: u16, says: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    let body = r.json();
    assert_eq!(body["type"], "error", "{}", r.text());
    assert_eq!(body["error"]["type"], "api_error");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(says), "{message}");
}

#[tokio::test]
async fn an_unreachable_provider_is_a_503_in_the_clients_shape() {
    let (port, dead) = (free_port(), free_port());
    let gw = start(&(gateway(port) + &common::ai_backend("openai", dead, None) + &route_to("llm")))
        .await;
    let hi =
        json!({"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]});
    let r = send(chat(port, hi.clone())).await;
    assert_eq!(r.status, 503, "{}", r.text());
    let error = &r.json()["error"];
    assert_eq!(error["type"], "connection_refused");
    assert!(
        error["param"].is_null() && error["code"].is_null(),
        "{}",
        r.text()
    );
    assert!(error["message"].as_str().unwrap().contains("refused"));

    let r = send(anthropic_messages(port, hi)).await;
    assert_anthropic_error(&r, 503, "refused");
    drop(gw);
}

fn count_tokens(port: u16, body: &str) -> http::Request<http_body_util::Full<bytes::Bytes>> {
    anthropic_post(port, "/ollama/v1/messages/count_tokens", body.to_string())
}

#[tokio::test]
async fn anthropic_token_counts_are_estimated_by_the_gateway_for_other_providers() {
    let (provider, port, _gw) = llm_gateway(Flavor::OpenAi, "openai", None, "").await;
    let short = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    let long = json!({"model": "m", "system": "You answer questions about the weather in great detail.", "messages": [{"role": "user", "content": "What is the weather like in Paris today, and what should I wear?"}]});
    let mut counts = Vec::new();
    for body in [short, long] {
        let r = send(count_tokens(port, &body.to_string())).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.headers["x-agentgateway-token-count"], "estimate");
        counts.push(r.json()["input_tokens"].as_u64().unwrap());
    }
    assert!(0 < counts[0] && counts[0] < counts[1], "{counts:?}");
    assert!(provider.received().is_empty(), "answered by the gateway");

    for (body, says) in [("{not json", "not valid JSON"), ("{}", "messages")] {
        let r = send(count_tokens(port, body)).await;
        assert_eq!(r.status, 400, "{}", r.text());
        assert_eq!(r.json()["type"], "error");
        assert_eq!(r.json()["error"]["type"], "invalid_request_error");
        assert!(r.text().contains(says), "{}", r.text());
    }
}

/// The metrics text once `wanted` appears in it (a stream the client left is accounted
/// for as its body is dropped, after the client has moved on).
async fn metrics_with(gw: &proxy::Gateway, wanted: &str) -> String {
    let mut metrics = String::new();
    for _ in 0..100 {
        metrics = gw.shared().metrics.render();
        if metrics.contains(wanted) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    metrics
}

#[tokio::test]
async fn a_client_that_leaves_mid_stream_is_measured_under_the_streams_model() {
    let (_provider, port, gw) = llm_gateway(Flavor::OpenAi, "openai", None, "").await;
    let request = chat(
        port,
        json!({"model": "stall-stream", "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
    );
    let response = http1().request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert!(first.data_ref().is_some_and(|d| !d.is_empty()));
    drop(body);
    let labels = "gen_ai_operation_name=\"chat\",gen_ai_provider_name=\"openai\",gen_ai_request_model=\"stall-stream\",gen_ai_response_model=\"gpt-4o-mini-2024-07-18\"";
    let duration =
        format!("gen_ai_server_request_duration_count{{{labels},error_type=\"client_gone\"}} 1");
    let metrics = metrics_with(&gw, &duration).await;
    assert!(
        metrics.contains(&duration),
        "the left stream's duration is recorded: {metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "gen_ai_server_time_to_first_token_count{{{labels}}} 1"
        )),
        "its time to first token has the same labels: {metrics}"
    );
    assert!(
        !metrics.contains("gen_ai_client_token_usage_count"),
        "no usage was reported, so none is made up: {metrics}"
    );

    // The same for a stream translated for an Anthropic client.
    let request = anthropic_messages(
        port,
        json!({"model": "stall-stream", "max_tokens": 16, "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
    );
    let response = http1().request(request).await.unwrap();
    let mut body = response.into_body();
    body.frame().await.unwrap().unwrap();
    drop(body);
    let duration =
        format!("gen_ai_server_request_duration_count{{{labels},error_type=\"client_gone\"}} 2");
    let metrics = metrics_with(&gw, &duration).await;
    assert!(metrics.contains(&duration), "{metrics}");
    assert!(
        metrics.contains(&format!(
            "gen_ai_server_time_to_first_token_count{{{labels}}} 2"
        )),
        "{metrics}"
    );
}

#[tokio::test]
async fn usage_is_asked_for_on_streams_whose_client_did_not_and_kept_from_it() {
    let (provider, port, gw) = llm_gateway(Flavor::OpenAi, "openai", None, "").await;
    let request = chat(
        port,
        json!({"model": "gpt-4o-mini", "stream": true, "stream_options": {"include_obfuscation": false}, "messages": [{"role": "user", "content": "hi"}]}),
    );
    let response = http1().request(request).await.unwrap();
    let text = collect(response).await.text();
    let sent = &provider.received()[0].body;
    assert_eq!(sent["stream_options"]["include_usage"], true, "{sent}");
    assert_eq!(
        sent["stream_options"]["include_obfuscation"], false,
        "the client's own options are kept: {sent}"
    );
    let data = common::sse_data(&text);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{text}");
    assert!(
        data.iter()
            .filter(|d| d.as_str() != "[DONE]")
            .all(|d| serde_json::from_str::<Value>(d).unwrap()["choices"][0].is_object()),
        "the usage chunk the client did not ask for is not sent: {text}"
    );
    assert!(text.contains("Paris"), "the answer itself is whole: {text}");
    let metrics = gw.shared().metrics.render();
    assert!(
        metrics.contains("gen_ai_token_type=\"output\"} 12"),
        "the usage is counted all the same: {metrics}"
    );
}
