//! Gemini API backends for OpenAI and Anthropic clients, against a mock that checks the
//! `x-goog-api-key`, the path and the `GenerateContentRequest` body, and answers with the
//! project's Gemini samples.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{llm_gateway, post_json, sse_data, streamed_text};
use serde_json::{Value, json};
use test_support::client::{collect, http1, send};
use test_support::provider_mock::Flavor;

fn weather_tools() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city", "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"], "additionalProperties": false}}}])
}

#[tokio::test]
async fn openai_chat_reaches_gemini_with_the_backend_key_and_model() {
    let (provider, port, gw) =
        llm_gateway(Flavor::Gemini, "gemini", Some("gemini-2.5-flash"), "").await;
    let request = json!({"model": "gpt-4o", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}], "max_tokens": 100, "temperature": 0.2});
    let r = send(post_json(port, "/v1/chat/completions", &request)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let chat = r.json();
    assert_eq!(chat["object"], "chat.completion");
    assert_eq!(chat["choices"][0]["message"]["role"], "assistant");
    assert!(
        chat["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .len()
            > 5
    );
    assert_eq!(chat["choices"][0]["finish_reason"], "stop");
    assert!(chat["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    let seen = &provider.received()[0];
    assert_eq!(seen.path, "/v1beta/models/gemini-2.5-flash:generateContent");
    assert_eq!(seen.headers["x-goog-api-key"], "sk-gateway-key");
    assert!(
        !seen.headers.contains_key("authorization"),
        "the client's key never reaches Google"
    );
    assert_eq!(
        seen.body["systemInstruction"]["parts"][0]["text"],
        "Be brief."
    );
    assert_eq!(seen.body["contents"][0]["role"], "user");
    assert_eq!(seen.body["generationConfig"]["maxOutputTokens"], 100);
    let metrics = gw.shared().metrics.render();
    assert!(
        metrics.contains("gen_ai_provider_name=\"gcp.gemini\""),
        "{metrics}"
    );
}

#[tokio::test]
async fn tool_calls_round_trip_through_gemini() {
    let (provider, port, _gw) = llm_gateway(Flavor::Gemini, "gemini", None, "").await;
    let request = json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "Weather in Paris?"}], "tools": weather_tools(), "tool_choice": "required"});
    let r = send(post_json(port, "/v1/chat/completions", &request)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let chat = r.json();
    assert_eq!(chat["choices"][0]["finish_reason"], "tool_calls");
    let call = &chat["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["type"], "function");
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert!(args.is_object());
    let sent = &provider.received()[0].body;
    let declaration = &sent["tools"][0]["functionDeclarations"][0];
    assert_eq!(declaration["name"], "get_weather");
    assert!(
        declaration["parameters"]
            .get("additionalProperties")
            .is_none(),
        "Gemini rejects additionalProperties; it is left out"
    );
    assert_eq!(sent["toolConfig"]["functionCallingConfig"]["mode"], "ANY");
    // The follow-up carries the call and its result back as functionCall / functionResponse.
    let follow_up = json!({"model": "gemini-2.5-flash", "tools": weather_tools(), "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\": 18}"}
    ]});
    let r = send(post_json(port, "/v1/chat/completions", &follow_up)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let sent = &provider.received()[1].body;
    assert_eq!(sent["contents"][1]["role"], "model");
    assert_eq!(
        sent["contents"][1]["parts"][0]["functionCall"]["args"]["location"],
        "Paris"
    );
    assert_eq!(
        sent["contents"][2]["parts"][0]["functionResponse"]["name"],
        "get_weather"
    );
}

#[tokio::test]
async fn gemini_3_gets_its_own_thought_signature_back_with_the_call() {
    let (provider, port, _gw) = llm_gateway(Flavor::Gemini, "gemini", None, "").await;
    let question = json!({"role": "user", "content": "Weather in Paris?"});
    let ask =
        json!({"model": "gemini-3-pro-preview", "messages": [question], "tools": weather_tools()});
    let r = send(post_json(port, "/v1/chat/completions", &ask)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    // The assistant message goes back as the client got it, with the tool's result.
    let message = r.json()["choices"][0]["message"].clone();
    let id = message["tool_calls"][0]["id"].clone();
    let result = json!({"role": "tool", "tool_call_id": id, "content": "18C"});
    let follow_up = json!({"model": "gemini-3-pro-preview", "tools": weather_tools(), "messages": [question, message, result]});
    let r = send(post_json(port, "/v1/chat/completions", &follow_up)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let sent = &provider.received()[1].body;
    let call_part = &sent["contents"][1]["parts"][0];
    assert_eq!(
        call_part["thoughtSignature"], "RkFLRS10aG91Z2h0LXNpZ25hdHVyZS1vcGFxdWUtYnl0ZXMtMDAwMQ==",
        "the signature Gemini gave, not the placeholder: {call_part}"
    );
    assert!(call_part["functionCall"].get("id").is_none(), "{call_part}");
    assert_eq!(
        sent["contents"][2]["parts"][0]["functionResponse"]["name"],
        "get_weather"
    );
}

#[tokio::test]
async fn gemini_signatures_stay_out_of_the_ids_an_openai_provider_gets() {
    // A Gemini backend beside the OpenAI one, as a failover group mixing them would have.
    let gemini = "---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: gemini-too}
spec:
  ai:
    provider:
      gemini: {}
      host: 127.0.0.1
      port: 9
";
    let (provider, port, _gw) = llm_gateway(Flavor::OpenAi, "openai", Some("gpt-4o"), gemini).await;
    let signed = "call_r1_0__sig__RkFLRS10aG91Z2h0";
    let request = json!({"model": "gpt-4o", "messages": [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": signed, "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": signed, "content": "18C"}
    ]});
    let r = send(post_json(port, "/v1/chat/completions", &request)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let sent = &provider.received()[0].body["messages"];
    assert_eq!(sent[1]["tool_calls"][0]["id"], "call_r1_0");
    assert_eq!(sent[2]["tool_call_id"], "call_r1_0");
}

#[tokio::test]
async fn gemini_streams_become_openai_chunks_with_usage_and_done() {
    let (provider, port, _gw) = llm_gateway(Flavor::Gemini, "gemini", None, "").await;
    let request = json!({"model": "gemini-2.5-flash", "stream": true, "stream_options": {"include_usage": true}, "messages": [{"role": "user", "content": "hi"}]});
    let response = http1()
        .request(post_json(port, "/v1/chat/completions", &request))
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = collect(response).await.text();
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
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(!content.is_empty(), "{text}");
    assert!(
        chunks
            .iter()
            .any(|c| c["choices"][0]["finish_reason"] == "stop"),
        "{text}"
    );
    assert!(
        chunks.last().unwrap()["usage"]["total_tokens"]
            .as_u64()
            .unwrap()
            > 0,
        "{text}"
    );
    let seen = &provider.received()[0];
    assert_eq!(
        seen.path,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    );
}

#[tokio::test]
async fn anthropic_clients_reach_gemini_through_the_chat_pivot() {
    let (_provider, port, _gw) =
        llm_gateway(Flavor::Gemini, "gemini", Some("gemini-2.5-flash"), "").await;
    let request = json!({"model": "claude-sonnet-4-5", "max_tokens": 256, "system": "Be brief.", "messages": [{"role": "user", "content": "hi"}]});
    let r = send(post_json(port, "/v1/messages", &request.clone())).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let message = r.json();
    assert_eq!(message["type"], "message");
    assert_eq!(message["content"][0]["type"], "text");
    assert_eq!(message["stop_reason"], "end_turn");
    assert!(message["usage"]["output_tokens"].as_u64().unwrap() > 0);
    let mut streamed = request;
    streamed["stream"] = json!(true);
    let text = streamed_text(port, "/v1/messages", &streamed).await;
    let kinds: Vec<&str> = text
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("event: "))
        .map(|e| e.lines().next().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"message_start"), "{text}");
    assert!(kinds.contains(&"content_block_delta"), "{text}");
    assert_eq!(
        &kinds[kinds.len() - 2..],
        ["message_delta", "message_stop"],
        "{text}"
    );
}

#[tokio::test]
async fn gemini_errors_come_back_in_the_clients_shape() {
    let (_provider, port, _gw) = llm_gateway(Flavor::Gemini, "gemini", None, "").await;
    let hello = |model: &str| json!({"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]});
    let r = send(post_json(
        port,
        "/v1/chat/completions",
        &hello("missing-model"),
    ))
    .await;
    assert_eq!(r.status, 404);
    let message = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("is not found for API version"),
        "provider's message kept: {message}"
    );
    assert!(message.contains("sent model 'missing-model'"), "{message}");
    let r = send(post_json(port, "/v1/messages", &hello("rate-limited"))).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["type"], "error");
    assert_eq!(
        r.json()["error"]["type"],
        "rate_limit_error",
        "{}",
        r.text()
    );
}

#[tokio::test]
async fn a_broken_or_cut_short_gemini_stream_ends_with_an_error_chunk() {
    let (_provider, port, _gw) = llm_gateway(Flavor::Gemini, "gemini", None, "").await;
    // Gemini has no end marker: a stream that ends before a finish reason was cut.
    for (model, says) in [("break-stream", "broke off"), ("cut-stream", "cut short")] {
        let request = json!({"model": model, "stream": true, "messages": [{"role": "user", "content": "hi"}]});
        let text = streamed_text(port, "/v1/chat/completions", &request).await;
        let last: Value = serde_json::from_str(sse_data(&text).last().unwrap())
            .unwrap_or_else(|e| panic!("{e}: {text}"));
        assert!(
            last["error"]["message"].as_str().unwrap().contains(says),
            "{text}"
        );
    }
}

#[tokio::test]
async fn openai_embeddings_are_translated_to_batch_embed_contents() {
    let (provider, port, _gw) =
        llm_gateway(Flavor::Gemini, "gemini", Some("text-embedding-004"), "").await;
    let request = json!({"model": "text-embedding-3-small", "input": ["first text", "second"]});
    let r = send(post_json(port, "/v1/embeddings", &request)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let answer = r.json();
    assert_eq!(answer["object"], "list");
    assert_eq!(answer["data"][1]["index"], 1);
    assert_eq!(
        answer["data"][0]["embedding"][0], 0.1,
        "first text is 10 bytes long"
    );
    assert!(answer["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    let seen = &provider.received()[0];
    assert_eq!(
        seen.path,
        "/v1beta/models/text-embedding-004:batchEmbedContents"
    );
    assert_eq!(seen.headers["x-goog-api-key"], "sk-gateway-key");
    assert_eq!(
        seen.body["requests"][1]["content"]["parts"][0]["text"],
        "second"
    );
    // The OpenAI SDK asks for base64 by default; it gets little-endian f32s.
    let request = json!({"model": "m", "input": "first text", "encoding_format": "base64"});
    let r = send(post_json(port, "/v1/embeddings", &request)).await;
    assert!(r.json()["data"][0]["embedding"].is_string(), "{}", r.text());
    // Token ids cannot be sent to Gemini: a 400 naming the field.
    let r = send(post_json(
        port,
        "/v1/embeddings",
        &json!({"model": "m", "input": [[1, 2, 3]]}),
    ))
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["param"], "input");
}
