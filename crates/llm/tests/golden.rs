//! Golden snapshots of every translation direction, per provider: the request the provider
//! receives, the answer the client gets, and the stream the client reads, all from the
//! shared provider samples. A change to any translation shows up here as a diff to review.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use llm::aws::eventstream::{EventStreamDecoder, to_sse_event};
use llm::sse::SseDecoder;
use llm::translate::chain::Chained;
use llm::translate::chat_on_converse::{
    ConverseStreamTranslator, chat_to_converse, converse_to_chat,
};
use llm::translate::chat_on_gemini::{GeminiStreamTranslator, chat_to_gemini, gemini_to_chat};
use llm::translate::chat_on_messages::MessagesTarget;
use llm::translate::messages_on_chat::{ChunkTranslator, chat_to_message, messages_to_chat};
use llm::translate::{EventTranslator, StreamTranslator, chat_to_messages, message_to_chat};
use serde_json::Value;

const CREATED: u64 = 1_755_000_000;

fn bytes(path: &str) -> Vec<u8> {
    let full = format!(
        "{}/../../../shared/fixtures/providers/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn json(path: &str) -> Value {
    serde_json::from_slice(&bytes(path)).unwrap()
}

/// A Chat Completions sample as the Messages request it becomes, read back as a tree.
fn messages_request(path: &str, target: MessagesTarget) -> Value {
    serde_json::from_slice(&chat_to_messages(&bytes(path), target).unwrap().body).unwrap()
}

/// Ids some translations mint at random are replaced, so snapshots are stable.
fn stable(mut value: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    if k == "id" && v.as_str().is_some_and(|s| s.starts_with("chatcmpl-")) {
                        *v = Value::String("chatcmpl-[minted]".into());
                    } else {
                        walk(v);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut value);
    value
}

/// Runs a stream through `translator` in small pieces; returns the client's events as
/// `[event name, data]` pairs (data parsed when it is JSON).
fn stream_sse(translator: &mut dyn EventTranslator, sample: &[u8]) -> Value {
    let mut decoder = SseDecoder::default();
    let mut out = String::new();
    for piece in sample.chunks(7) {
        for event in decoder.feed(piece) {
            out.push_str(&translator.event(&event));
        }
    }
    out.push_str(&translator.finish());
    client_events(&out)
}

fn client_events(framed: &str) -> Value {
    let mut decoder = SseDecoder::default();
    let events: Vec<Value> = decoder
        .feed(framed.as_bytes())
        .into_iter()
        .map(|e| {
            let data = serde_json::from_str(&e.data).unwrap_or(Value::String(e.data.clone()));
            serde_json::json!([e.event, data])
        })
        .collect();
    stable(Value::Array(events))
}

#[test]
fn openai_clients_on_anthropic() {
    insta::assert_json_snapshot!(
        "chat_to_messages_request",
        messages_request("openai/chat_request.json", MessagesTarget::Anthropic)
    );
    insta::assert_json_snapshot!(
        "messages_to_chat_response",
        stable(
            serde_json::from_slice(
                &message_to_chat(&bytes("anthropic/messages_response_tool_use.json"), CREATED)
                    .unwrap()
                    .body
            )
            .unwrap()
        )
    );
    let mut translator = StreamTranslator::new("claude-sonnet-4-5", CREATED, true);
    insta::assert_json_snapshot!(
        "messages_stream_as_chat_chunks",
        stream_sse(&mut translator, &bytes("anthropic/messages_stream.sse"))
    );
}

#[test]
fn anthropic_clients_on_openai() {
    // What an OpenAI-compatible provider receives: the pivot without prompt-cache marks.
    let mut chat = messages_to_chat(&json("anthropic/messages_request.json")).unwrap();
    llm::translate::messages_on_chat::strip_pivot_fields(&mut chat);
    insta::assert_json_snapshot!("messages_to_chat_request", chat);
    insta::assert_json_snapshot!(
        "chat_to_message_response",
        chat_to_message(&json("openai/chat_response_tool_calls.json"))
    );
    let mut translator = ChunkTranslator::new("gpt-4o");
    insta::assert_json_snapshot!(
        "chat_stream_as_messages_events",
        stream_sse(&mut translator, &bytes("openai/chat_stream_tool_call.sse"))
    );
}

#[test]
fn openai_clients_on_gemini() {
    insta::assert_json_snapshot!(
        "chat_to_gemini_request",
        chat_to_gemini(&json("openai/chat_request.json")).unwrap()
    );
    insta::assert_json_snapshot!(
        "gemini_to_chat_response",
        stable(gemini_to_chat(
            &json("gemini/generate_content_response_function_call.json"),
            "gemini-2.5-flash",
            CREATED
        ))
    );
    let mut translator = GeminiStreamTranslator::new("gemini-2.5-flash", CREATED, true);
    insta::assert_json_snapshot!(
        "gemini_stream_as_chat_chunks",
        stream_sse(
            &mut translator,
            &bytes("gemini/stream_generate_content.sse")
        )
    );
}

#[test]
fn anthropic_clients_on_gemini_through_chat() {
    let request = messages_to_chat(&json("anthropic/messages_request.json")).unwrap();
    insta::assert_json_snapshot!(
        "messages_to_gemini_request",
        chat_to_gemini(&request).unwrap()
    );
    let mut translator = Chained::new(
        Box::new(GeminiStreamTranslator::new(
            "gemini-2.5-flash",
            CREATED,
            true,
        )),
        Box::new(ChunkTranslator::new("gemini-2.5-flash")),
    );
    insta::assert_json_snapshot!(
        "gemini_stream_as_messages_events",
        stream_sse(
            &mut translator,
            &bytes("gemini/stream_generate_content_function_call.sse")
        )
    );
}

#[test]
fn openai_clients_on_bedrock() {
    insta::assert_json_snapshot!(
        "chat_to_converse_request",
        chat_to_converse(&json("openai/chat_request_tool_result.json")).unwrap()
    );
    insta::assert_json_snapshot!(
        "converse_to_chat_response",
        stable(converse_to_chat(
            &json("bedrock/converse_response_tool_use.json"),
            "anthropic.claude-3-5-haiku",
            CREATED
        ))
    );
    let mut translator = ConverseStreamTranslator::new("anthropic.claude-3-5-haiku", CREATED, true);
    let mut decoder = EventStreamDecoder::default();
    let mut out = String::new();
    for piece in bytes("bedrock/converse_stream.bin").chunks(37) {
        for message in decoder.feed(piece).unwrap() {
            out.push_str(&translator.event(&to_sse_event(&message)));
        }
    }
    out.push_str(&translator.finish());
    insta::assert_json_snapshot!("converse_stream_as_chat_chunks", client_events(&out));
}

#[test]
fn claude_on_vertex_gets_the_vertex_body() {
    insta::assert_json_snapshot!(
        "chat_to_vertex_claude_request",
        messages_request("openai/chat_request.json", MessagesTarget::Vertex)
    );
}
