//! Cloud providers that need minted credentials: Vertex AI (an OAuth token from a
//! service-account key, fetched from the token endpoint and cached) and Bedrock (SigV4
//! signatures, binary event streams). The mocks check the token's assertion signature, the
//! signature's shape and scope, and each API's body.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{bedrock_gateway, gateway, post_json, route_to, sse_data, start, streamed_text};
use std::sync::Arc;

use proxy::gateway::Gateway;
use serde_json::{Value, json};
use test_support::client::send;
use test_support::provider_mock::{Flavor, ProviderMock, fixture};

/// A gateway whose backend is Vertex AI (served by a mock, which also serves the token
/// endpoint) pinning `model`, with the sample service account changed by `edit`.
async fn vertex_gateway(
    model: &str,
    edit: impl FnOnce(&mut Value),
) -> (ProviderMock, u16, Arc<Gateway>) {
    let mock = ProviderMock::start(Flavor::Vertex, None).await;
    let mut account: Value =
        serde_json::from_slice(&fixture("vertex/service_account.FAKE.json")).unwrap();
    account["token_uri"] = json!(format!("http://127.0.0.1:{}/token", mock.port()));
    edit(&mut account);
    let port = test_support::free_port();
    let yaml = gateway(port)
        + &format!(
            "---
apiVersion: v1
kind: Secret
metadata: {{name: gcp-sa}}
stringData:
  key.json: '{account}'
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {{name: llm}}
spec:
  ai:
    provider:
      vertexai: {{projectId: my-proj, region: us-central1, model: '{model}'}}
      host: 127.0.0.1
      port: {}
  policies:
    auth: {{gcp: {{secretRef: {{name: gcp-sa}}}}}}
",
            mock.port()
        )
        + &route_to("llm");
    let gw = start(&yaml).await;
    (mock, port, gw)
}

#[tokio::test]
async fn vertex_gemini_gets_a_minted_token_that_is_cached() {
    let (mock, port, _gw) = vertex_gateway("gemini-2.5-pro", |_| {}).await;
    let hello = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]});
    for _ in 0..3 {
        let r = send(post_json(port, "/v1/chat/completions", &hello.clone())).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["object"], "chat.completion");
    }
    let seen = mock.received();
    let tokens = seen.iter().filter(|r| r.path == "/token").count();
    assert_eq!(
        tokens, 1,
        "one token serves every request until it nears expiry"
    );
    let call = seen.iter().find(|r| r.path != "/token").unwrap();
    assert_eq!(
        call.path,
        "/v1/projects/my-proj/locations/us-central1/publishers/google/models/gemini-2.5-pro:generateContent"
    );
    let bearer = format!(
        "Bearer {}",
        test_support::provider_mock::google_access_token()
    );
    assert_eq!(call.headers["authorization"], bearer.as_str());
}

#[tokio::test]
async fn vertex_claude_models_use_raw_predict_for_both_client_apis() {
    let (mock, port, _gw) = vertex_gateway("claude-sonnet-4-5@20250929", |_| {}).await;
    let anthropic = json!({"model": "claude", "max_tokens": 256, "messages": [{"role": "user", "content": "Weather in Paris?"}]});
    let r = send(post_json(port, "/v1/messages", &anthropic.clone())).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["type"], "message");
    let call = mock
        .received()
        .into_iter()
        .find(|r| r.path != "/token")
        .unwrap();
    assert!(
        call.path
            .ends_with("/publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict"),
        "{}",
        call.path
    );
    assert_eq!(call.body["anthropic_version"], "vertex-2023-10-16");
    assert!(
        call.body.get("model").is_none(),
        "Vertex takes the model from the path"
    );

    let chat = json!({"model": "x", "stream": true, "stream_options": {"include_usage": true}, "messages": [{"role": "user", "content": "Weather in Paris?"}]});
    let text = streamed_text(port, "/v1/chat/completions", &chat).await;
    let payloads = sse_data(&text);
    assert_eq!(
        payloads.last().map(String::as_str),
        Some("[DONE]"),
        "{text}"
    );
    let mut streamed = anthropic;
    streamed["stream"] = json!(true);
    let text = streamed_text(port, "/v1/messages", &streamed).await;
    assert!(text.starts_with("event: message_start\n"), "{text}");
    assert!(
        text.trim_end()
            .ends_with("data: {\"type\":\"message_stop\"}"),
        "{text}"
    );
}

#[tokio::test]
async fn a_service_account_the_token_endpoint_refuses_is_a_clear_502() {
    // Signed by the right key but claiming to be another account: the endpoint refuses it.
    let (_mock, port, _gw) = vertex_gateway("gemini-2.5-pro", |account| {
        account["client_email"] = json!("someone-else@example.iam.gserviceaccount.com");
    })
    .await;
    let hello = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    let r = send(post_json(port, "/v1/chat/completions", &hello)).await;
    assert_eq!(r.status, 502, "{}", r.text());
    let message = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("could not obtain a credential"),
        "{message}"
    );
    assert!(
        message.contains("invalid_grant"),
        "the endpoint's reason is kept: {message}"
    );
}

#[tokio::test]
async fn bedrock_converse_is_signed_and_translated() {
    let (mock, port, _gw) = bedrock_gateway("anthropic.claude-3-haiku-20240307-v1:0").await;
    let request = json!({"model": "gpt-4o", "max_tokens": 64, "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]});
    let r = send(post_json(port, "/v1/chat/completions", &request)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let chat = r.json();
    assert_eq!(chat["object"], "chat.completion");
    assert!(chat["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    let seen = &mock.received()[0];
    assert_eq!(
        seen.path,
        "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
    );
    let auth = seen.headers["authorization"].to_str().unwrap();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"),
        "{auth}"
    );
    assert!(auth.contains("/us-east-1/bedrock/aws4_request"), "{auth}");
    assert_eq!(seen.headers["x-amz-security-token"], "FAKE-SESSION");
    assert_eq!(seen.body["system"][0]["text"], "Be brief.");
    assert_eq!(seen.body["inferenceConfig"]["maxTokens"], 64);
    assert!(seen.body.get("model").is_none());
}

#[tokio::test]
async fn bedrock_event_streams_become_chat_chunks_and_anthropic_events() {
    let (_mock, port, _gw) = bedrock_gateway("anthropic.claude-3-haiku-20240307-v1:0").await;
    let tools = json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]);
    let chat = json!({"model": "m", "stream": true, "stream_options": {"include_usage": true}, "tools": tools, "messages": [{"role": "user", "content": "Weather in Paris?"}]});
    let text = streamed_text(port, "/v1/chat/completions", &chat).await;
    let payloads = sse_data(&text);
    assert_eq!(
        payloads.last().map(String::as_str),
        Some("[DONE]"),
        "{text}"
    );
    let chunks: Vec<Value> = payloads[..payloads.len() - 1]
        .iter()
        .map(|p| serde_json::from_str(p).unwrap())
        .collect();
    let arguments: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str())
        .collect();
    let arguments: Value = serde_json::from_str(&arguments).unwrap();
    assert_eq!(arguments["location"], "Paris");
    assert!(
        chunks
            .iter()
            .any(|c| c["choices"][0]["finish_reason"] == "tool_calls"),
        "{text}"
    );
    let usage = &chunks.last().unwrap()["usage"];
    assert_eq!(
        usage["prompt_tokens"], 1948,
        "input plus cache reads, as OpenAI counts them: {text}"
    );
    assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], 1536);

    let anthropic = json!({"model": "m", "max_tokens": 100, "stream": true, "messages": [{"role": "user", "content": "Weather in Paris?"}]});
    let text = streamed_text(port, "/v1/messages", &anthropic).await;
    assert!(text.starts_with("event: message_start\n"), "{text}");
    assert!(text.contains("\"input_json_delta\""), "{text}");
    assert!(text.contains("\"stop_reason\":\"tool_use\""), "{text}");
    assert!(
        text.trim_end()
            .ends_with("data: {\"type\":\"message_stop\"}"),
        "{text}"
    );
}

#[tokio::test]
async fn bedrock_errors_and_in_stream_exceptions_reach_the_client() {
    let (_mock, port, _gw) = bedrock_gateway("rate-limited").await;
    let hello = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    let r = send(post_json(port, "/v1/chat/completions", &hello)).await;
    assert_eq!(r.status, 429);
    let error = &r.json()["error"];
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("Too many tokens"),
        "{}",
        r.text()
    );

    let (_mock, port, _gw) = bedrock_gateway("stream-exception").await;
    let chat =
        json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let text = streamed_text(port, "/v1/chat/completions", &chat).await;
    let last: Value = serde_json::from_str(sse_data(&text).last().unwrap()).unwrap();
    assert!(
        last["error"].is_object(),
        "the exception ends the stream as an error: {text}"
    );
}

#[tokio::test]
async fn bedrock_embeddings_call_titan_once_per_input_signed() {
    let (mock, port, _gw) = bedrock_gateway("amazon.titan-embed-text-v2:0").await;
    let request = json!({"model": "x", "input": ["one two three", "four"], "dimensions": 256});
    let r = send(post_json(port, "/v1/embeddings", &request)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let answer = r.json();
    assert_eq!(answer["data"].as_array().unwrap().len(), 2);
    assert_eq!(
        answer["usage"]["prompt_tokens"], 4,
        "Titan's own token counts, summed"
    );
    let seen = mock.received();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].path, "/model/amazon.titan-embed-text-v2%3A0/invoke");
    assert_eq!(seen[1].body["inputText"], "four");
    assert_eq!(seen[0].body["dimensions"], 256);
    let auth = seen[1].headers["authorization"].to_str().unwrap();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"),
        "{auth}"
    );
}

async fn entra_gateway(secret: &str) -> (ProviderMock, u16, Arc<Gateway>) {
    let mock = ProviderMock::start(Flavor::Azure, Some("an-api-key-nobody-sends")).await;
    let port = test_support::free_port();
    let yaml = gateway(port)
        + &format!(
            "---
apiVersion: v1
kind: Secret
metadata: {{name: entra-app}}
stringData: {{tenantId: tenant-1, clientId: app-1, clientSecret: {secret}, authorityHost: 'http://127.0.0.1:{}'}}
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
    auth: {{azure: {{secretRef: {{name: entra-app}}}}}}
",
            mock.port(),
            mock.port()
        )
        + &route_to("llm");
    let gw = start(&yaml).await;
    (mock, port, gw)
}

#[tokio::test]
async fn azure_openai_gets_a_cached_entra_id_token() {
    let (mock, port, _gw) = entra_gateway(test_support::provider_mock::ENTRA_CLIENT_SECRET).await;
    let hello = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]});
    for _ in 0..2 {
        let r = send(post_json(port, "/v1/chat/completions", &hello)).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let seen = mock.received();
    let tokens: Vec<_> = seen
        .iter()
        .filter(|r| r.path == "/tenant-1/oauth2/v2.0/token")
        .collect();
    assert_eq!(tokens.len(), 1, "one token for both requests");
    let call = seen
        .iter()
        .rfind(|r| r.path.ends_with("/chat/completions"))
        .unwrap();
    let bearer = format!("Bearer {}", test_support::provider_mock::ENTRA_TOKEN);
    assert_eq!(call.headers["authorization"], bearer.as_str());
    assert!(!call.headers.contains_key("api-key"));
}

#[tokio::test]
async fn a_wrong_entra_secret_is_a_502_with_entras_reason() {
    let (_mock, port, _gw) = entra_gateway("wrong").await;
    let hello = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]});
    let r = send(post_json(port, "/v1/chat/completions", &hello)).await;
    assert_eq!(r.status, 502, "{}", r.text());
    let message = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(message.contains("invalid_client"), "{message}");
    assert!(message.contains("AADSTS7000215"), "{message}");
    assert!(
        !message.contains("wrong"),
        "the secret never shows: {message}"
    );
}

#[tokio::test]
async fn vertex_embeddings_use_predict_with_the_minted_token() {
    let (mock, port, _gw) = vertex_gateway("text-embedding-005", |_| {}).await;
    let request = json!({"model": "x", "input": ["one two", "three"], "dimensions": 256});
    let r = send(post_json(port, "/v1/embeddings", &request)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let answer = r.json();
    assert_eq!(answer["data"].as_array().unwrap().len(), 2);
    assert_eq!(
        answer["usage"]["prompt_tokens"], 3,
        "Vertex's token counts, summed"
    );
    let call = mock
        .received()
        .into_iter()
        .find(|r| r.path != "/token")
        .unwrap();
    assert_eq!(
        call.path,
        "/v1/projects/my-proj/locations/us-central1/publishers/google/models/text-embedding-005:predict"
    );
    assert_eq!(call.body["parameters"]["outputDimensionality"], 256);
    assert_eq!(call.body["instances"][1]["content"], "three");
}

#[tokio::test]
async fn a_bedrock_stream_that_ends_early_is_reported_cut_short() {
    let (_mock, port, _gw) = bedrock_gateway("cut-stream").await;
    let chat =
        json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let text = streamed_text(port, "/v1/chat/completions", &chat).await;
    assert!(!text.contains("[DONE]"), "{text}");
    let last: Value = serde_json::from_str(sse_data(&text).last().unwrap()).unwrap();
    assert!(last["error"].is_object(), "{text}");
}
