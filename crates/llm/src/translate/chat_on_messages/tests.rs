//! Anthropic event streams translated into Chat Completions chunks.

use super::*;
use crate::fixture;
use crate::sse::SseDecoder;

#[test]
fn text_deltas_take_the_fast_path_with_the_same_bytes() {
    let mut translator = StreamTranslator::new("claude", 7, false);
    let start = Event {
        event: Some("message_start".into()),
        data: json!({"type": "message_start", "message": {"id": "msg_1", "model": "claude-x", "usage": {"input_tokens": 3, "output_tokens": 1}}}).to_string(),
    };
    translator.payloads(&start);
    for text in [
        "plain",
        "quote \" and \\ backslash",
        "line\nbreak\ttab",
        "unicode é 😀 \u{1}",
    ] {
        let data = json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}).to_string();
        let fast = translator.text_chunk(&data).expect("a text delta");
        assert_eq!(
            fast,
            translator.chunk(&json!({ "content": text }), None),
            "{text:?}"
        );
        let event = Event {
            event: Some("content_block_delta".into()),
            data,
        };
        assert_eq!(translator.payloads(&event), vec![fast]);
    }
    let not_text = json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{"}}).to_string();
    assert_eq!(translator.text_chunk(&not_text), None);
}

#[test]
fn wire_form_text_deltas_pass_their_string_through_unread() {
    let mut translator = StreamTranslator::new("claude", 7, false);
    for token in [
        r#""plain""#,
        r#""quote \" and \\ backslash""#,
        r#""line\nbreak\ttab \u00e9 \ud83d\ude00 \/""#,
        r#""unicode é 😀""#,
        r#""""#,
    ] {
        let data = format!(
            r#"{{"type":"content_block_delta","index":12,"delta":{{"type":"text_delta","text":{token}}}}}"#
        );
        assert_eq!(raw_text_delta(&data), Some(token), "{data}");
        let text: String = serde_json::from_str(token).unwrap();
        let chunk: Value = serde_json::from_str(&translator.text_chunk(&data).unwrap()).unwrap();
        let tree: Value =
            serde_json::from_str(&translator.chunk(&json!({ "content": text }), None)).unwrap();
        assert_eq!(chunk, tree, "{token}");
    }
    for not_whole in [
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"}} "#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a","x":1}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a\"}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"b"}}"#,
        "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"a\u{1}\"}}",
        r#"{"type":"content_block_delta","index":,"delta":{"type":"text_delta","text":"a"}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"a"}}"#,
    ] {
        assert_eq!(raw_text_delta(not_whole), None, "{not_whole}");
    }
}

#[test]
fn text_deltas_written_in_place_are_the_frames_of_their_payloads() {
    use super::super::{ChunkStream, EventTranslator};
    let start = Event {
        event: Some("message_start".into()),
        data: r#"{"type":"message_start","message":{"id":"msg_1","model":"claude-x"}}"#.into(),
    };
    let mut direct = StreamTranslator::new("claude", 7, false);
    let mut listed = StreamTranslator::new("claude", 7, false);
    direct.event(&start);
    listed.payloads(&start);
    for (name, token) in [
        (Some("content_block_delta"), r#""plain""#),
        (None, r#""quote \" and \\ \u00e9 😀""#),
    ] {
        let event = Event {
            event: name.map(Into::into),
            data: format!(
                r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":{token}}}}}"#
            ),
        };
        let mut out = String::from("data: earlier\n\n");
        assert!(direct.write_direct(&event, &mut out), "{token}");
        let payloads = listed.payloads(&event);
        assert_eq!(out, format!("data: earlier\n\ndata: {}\n\n", payloads[0]));
    }
    // Under another event name, or not in the wire form, the event is read instead.
    let pinged = Event {
        event: Some("ping".into()),
        data:
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}}"#
                .into(),
    };
    let spaced = Event {
        event: Some("content_block_delta".into()),
        data:
            r#"{"type": "content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}}"#
                .into(),
    };
    for event in [pinged, spaced] {
        let mut out = String::new();
        assert!(!direct.write_direct(&event, &mut out), "{}", event.data);
        assert!(out.is_empty());
    }
}

#[test]
fn stream_translation_rebuilds_text_and_tool_arguments() {
    let mut decoder = SseDecoder::default();
    let mut translator = StreamTranslator::new("claude", 7, true);
    let payloads: Vec<String> = decoder
        .feed(&fixture("anthropic/messages_stream.sse"))
        .iter()
        .flat_map(|e| translator.payloads(e))
        .collect();
    assert_eq!(payloads.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = payloads
        .iter()
        .filter(|p| *p != "[DONE]")
        .map(|p| serde_json::from_str(p).unwrap())
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(!text.is_empty());
    let args: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str())
        .collect();
    let parsed: Value = serde_json::from_str(&args).unwrap();
    assert!(parsed.is_object());
    let finish = chunks
        .iter()
        .find_map(|c| c["choices"][0]["finish_reason"].as_str())
        .unwrap();
    assert_eq!(finish, "tool_calls");
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["completion_tokens"], 74);
}

#[test]
fn streamed_thinking_arrives_as_reasoning_content_and_whole_signed_blocks() {
    let mut translator = StreamTranslator::new("claude", 7, false);
    let events = [
        (
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x", "content": [], "usage": {"input_tokens": 9, "output_tokens": 1}}}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Paris is "}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "in France."}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "EqQBCgIYAhIM"}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "redacted_thinking", "data": "EmwKAhgBEgy3"}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 1}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 2, "content_block": {"type": "text", "text": ""}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 2, "delta": {"type": "text_delta", "text": "Paris."}}),
        ),
    ];
    let deltas: Vec<Value> = events
        .iter()
        .flat_map(|(name, data)| {
            translator.payloads(&Event {
                event: Some((*name).into()),
                data: data.to_string(),
            })
        })
        .map(|p| serde_json::from_str::<Value>(&p).unwrap()["choices"][0]["delta"].clone())
        .collect();
    assert_eq!(
        deltas[1..],
        [
            json!({"reasoning_content": "Paris is "}),
            json!({"reasoning_content": "in France."}),
            json!({"thinking_blocks": [{"index": 0, "type": "thinking", "thinking": "Paris is in France.", "signature": "EqQBCgIYAhIM"}]}),
            json!({"thinking_blocks": [{"index": 1, "type": "redacted_thinking", "data": "EmwKAhgBEgy3"}]}),
            json!({"content": "Paris."}),
        ]
    );
}

#[test]
fn a_structured_answer_streams_the_tools_input_as_content() {
    let mut translator = StreamTranslator::new("claude", 7, false).structured(true);
    let events = [
        (
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_1", "model": "claude-x", "usage": {"input_tokens": 3, "output_tokens": 1}}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Here it is:"}}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "json_answer", "input": {}}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": ""}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{\"city\": "}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "\"Paris\"}"}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        (
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}}),
        ),
    ];
    let chunks: Vec<Value> = events
        .iter()
        .flat_map(|(name, data)| {
            translator.payloads(&Event {
                event: Some((*name).into()),
                data: data.to_string(),
            })
        })
        .map(|p| serde_json::from_str(&p).unwrap())
        .collect();
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, "{\"city\": \"Paris\"}");
    assert!(
        chunks
            .iter()
            .all(|c| c["choices"][0]["delta"].get("tool_calls").is_none())
    );
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "stop"
    );
}

/// The arguments a client reassembles for tool call 0 from these events.
fn streamed_arguments(translator: &mut StreamTranslator, events: &[(&str, &str)]) -> String {
    events
        .iter()
        .flat_map(|(name, data)| {
            translator.payloads(&Event {
                event: Some((*name).into()),
                data: (*data).into(),
            })
        })
        .filter_map(|p| serde_json::from_str::<Value>(&p).ok())
        .filter_map(|c| {
            c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
                .as_str()
                .map(str::to_string)
        })
        .collect()
}

#[test]
fn a_streamed_tool_call_without_arguments_gets_an_empty_object() {
    let start = r#"{"type":"message_start","message":{"id":"m","model":"claude","usage":{"input_tokens":3}}}"#;
    let tool = r#"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"now","input":{}}}"#;
    let nothing = r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":""}}"#;
    let stop = r#"{"type":"content_block_stop","index":0}"#;
    let mut translator = StreamTranslator::new("claude", 7, false);
    let args = streamed_arguments(
        &mut translator,
        &[
            ("message_start", start),
            ("content_block_start", tool),
            ("content_block_delta", nothing),
            ("content_block_stop", stop),
        ],
    );
    assert_eq!(args, "{}");
    // A call that did send arguments gets nothing more at its end.
    let some = r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"a\":1}"}}"#;
    let mut translator = StreamTranslator::new("claude", 7, false);
    let args = streamed_arguments(
        &mut translator,
        &[
            ("message_start", start),
            ("content_block_start", tool),
            ("content_block_delta", some),
            ("content_block_stop", stop),
        ],
    );
    assert_eq!(args, r#"{"a":1}"#);
}

#[test]
fn a_providers_usual_events_are_read_without_a_tree() {
    let events = SseDecoder::default().feed(&fixture("anthropic/messages_stream.sse"));
    let mut translator = StreamTranslator::new("claude", 7, true);
    let mut read = 0;
    let usual =
        |e: &&Event| !e.data.contains("content_block_delta") && !e.data.contains("tool_use");
    for event in events.iter().filter(usual) {
        assert!(
            translator.quick_payloads(&event.data).is_some(),
            "{}",
            event.data
        );
        read += 1;
    }
    assert!(
        read >= 6,
        "message_start, ping, block start and stop, message_delta and _stop"
    );
}

#[test]
fn quick_paths_give_what_the_tree_gives() {
    let mut events = SseDecoder::default().feed(&fixture("anthropic/messages_stream.sse"));
    events.extend(SseDecoder::default().feed(&fixture("anthropic/messages_stream_error.sse")));
    let odd = [
        r#"{"type":"message_start","message":{"id":7,"model":"m","usage":{"input_tokens":2}}}"#,
        r#"{"type":"message_start","message":{"id":"a","model":null,"usage":{"input_tokens":2.5}}}"#,
        r#"{"type":"message_start"}"#,
        r#"{"type":"message_start","message":{"id":null,"model":"m2","usage":null}}"#,
        r#"{"type":"message_start","message":{"id":"b","usage":{"input_tokens":4,"cache_creation":{"ephemeral_5m_input_tokens":1},"cache_read_input_tokens":2,"output_tokens":null}}}"#,
        r#"{"type":"message_start","message":{"id":"c\u0041","usage":"none"}}"#,
        r#"{"type":"message_start","message":[]}"#,
        r#"{"type":"message_delta","delta":{"stop_reason":null},"usage":{"output_tokens":9}}"#,
        r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":null}"#,
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
        r#"{"type":"content_block_start","index":0,"content_block":{"type":null}}"#,
        r#"{"type":"content_block_start","index":0,"content_block":"text"}"#,
        r#"{"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":3.0}}"#,
        r#"{"type":"message_delta","delta":{"stop_reason":5},"usage":{}}"#,
        r#"{"type":"message_delta"}"#,
        r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t","name":"f"}}"#,
        r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{"}}"#,
        r#"{"type":"content_block_start","index":2}"#,
        r#"{"type":"ping"}"#,
        r#"{"type":"message_stop"}"#,
    ];
    events.extend(odd.iter().map(|data| Event {
        event: None,
        data: data.to_string(),
    }));
    let mut quick = StreamTranslator::new("claude", 7, true);
    let mut tree = StreamTranslator::new("claude", 7, true);
    for event in &events {
        assert_eq!(
            quick.payloads(event),
            tree.payloads_from_tree(&event.data),
            "{}",
            event.data
        );
        assert_eq!(
            (quick.usage, quick.head.model()),
            (tree.usage, tree.head.model())
        );
    }
}
