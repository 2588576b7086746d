//! Chat Completions requests and errors written for Bedrock Converse.

use super::*;
use crate::fixture;

fn load(path: &str) -> Value {
    serde_json::from_slice(&fixture(path)).unwrap()
}

#[test]
fn chat_request_becomes_the_converse_shape() {
    let expected = load("bedrock/converse_request.json");
    let out = chat_to_converse(&load("openai/chat_request.json")).unwrap();
    assert_eq!(out["system"], json!([expected["system"][0]]));
    assert_eq!(
        out["messages"],
        json!([{"role": "user", "content": [{"text": "What's the weather in Paris right now?"}]}])
    );
    assert_eq!(
        out["inferenceConfig"],
        json!({"maxTokens": 512, "temperature": 0.2})
    );
    // botocore's serialisation of the same tool and the same "auto" choice.
    assert_eq!(out["toolConfig"], expected["toolConfig"]);
    for openai_only in ["model", "stream", "stream_options", "tools", "user"] {
        assert!(out.get(openai_only).is_none(), "{openai_only}");
    }
}

#[test]
fn tool_calls_and_results_become_tool_use_and_tool_result_turns() {
    let expected = load("bedrock/converse_request.json");
    let out = chat_to_converse(&load("openai/chat_request_tool_result.json")).unwrap();
    let messages = out["messages"].as_array().unwrap();
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "user"]);
    assert_eq!(
        messages[1]["content"],
        json!([{"toolUse": {"toolUseId": "call_Qm3xV8pL2nR7tY4wZ1aB6cDe", "name": "get_weather", "input": {"location": "Paris", "unit": "celsius"}}}])
    );
    let result = &messages[2]["content"][0]["toolResult"];
    assert_eq!(result["toolUseId"], "call_Qm3xV8pL2nR7tY4wZ1aB6cDe");
    assert_eq!(
        result["content"],
        expected["messages"][2]["content"][0]["toolResult"]["content"]
    );
    assert_eq!(out["inferenceConfig"], json!({"maxTokens": 512}));
    assert_eq!(out["toolConfig"]["tools"], expected["toolConfig"]["tools"]);
    assert!(
        out["toolConfig"].get("toolChoice").is_none(),
        "absent means auto"
    );
}

#[test]
fn images_merging_stops_and_tool_choices() {
    let expected = load("bedrock/converse_request.json");
    let png = expected["messages"][0]["content"][1]["image"]["source"]["bytes"]
        .as_str()
        .unwrap();
    let tools = json!([{"type": "function", "function": {"name": "f"}}]);
    let request = json!({
        "model": "m",
        "messages": [
            {"role": "developer", "content": [{"type": "text", "text": "Be brief."}]},
            {"role": "user", "content": [{"type": "text", "text": "Sky?"}, {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{png}")}}]},
            {"role": "user", "content": "And now?"},
            {"role": "assistant", "content": ""}
        ],
        "stop": "END", "top_p": 0.9, "max_tokens": 10, "tools": tools, "tool_choice": "required"
    });
    let out = chat_to_converse(&request).unwrap();
    assert_eq!(out["system"], json!([{"text": "Be brief."}]));
    let messages = out["messages"].as_array().unwrap();
    assert_eq!(
        messages.len(),
        1,
        "two user turns merge, the empty assistant one is dropped"
    );
    assert_eq!(
        messages[0]["content"][1],
        expected["messages"][0]["content"][1]
    );
    assert_eq!(messages[0]["content"][2]["text"], "And now?");
    assert_eq!(
        out["inferenceConfig"],
        json!({"maxTokens": 10, "topP": 0.9, "stopSequences": ["END"]})
    );
    assert_eq!(out["toolConfig"]["toolChoice"], json!({"any": {}}));
    assert_eq!(
        out["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]["type"],
        "object"
    );

    let hi = json!([{"role": "user", "content": "hi"}]);
    let named = json!({"messages": hi, "tools": tools, "tool_choice": {"type": "function", "function": {"name": "f"}}});
    assert_eq!(
        chat_to_converse(&named).unwrap()["toolConfig"]["toolChoice"],
        json!({"tool": {"name": "f"}})
    );
    let none = json!({"messages": hi, "tools": tools, "tool_choice": "none"});
    assert!(chat_to_converse(&none).unwrap().get("toolConfig").is_none());
}

#[test]
fn a_conversation_with_tool_turns_keeps_a_tool_config() {
    let tools = json!([{"type": "function", "function": {"name": "f"}}]);
    let history = json!([
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"}
    ]);
    // "none" cannot be said to Converse, and the tool turns need the tools.
    let none = json!({"messages": history, "tools": tools, "tool_choice": "none"});
    let out = chat_to_converse(&none).unwrap();
    assert_eq!(out["toolConfig"]["tools"][0]["toolSpec"]["name"], "f");
    assert!(out["toolConfig"].get("toolChoice").is_none());
    // No tools offered now: a placeholder that says so.
    let without = json!({"messages": history});
    let out = chat_to_converse(&without).unwrap();
    assert_eq!(
        out["toolConfig"]["tools"][0]["toolSpec"]["name"],
        "no_tools_available"
    );
}

#[test]
fn prompt_cache_marks_of_an_anthropic_client_become_cache_points() {
    let mark = json!({"type": "ephemeral"});
    let anthropic = json!({
        "model": "claude", "max_tokens": 64,
        "system": [{"type": "text", "text": "You are a coding agent.", "cache_control": mark}],
        "tools": [{"name": "read", "input_schema": {"type": "object"}, "cache_control": mark}],
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "the long file", "cache_control": mark},
            {"type": "text", "text": "the question"}
        ]}]
    });
    let chat = crate::translate::messages_on_chat::messages_to_chat(&anthropic).unwrap();
    let out = chat_to_converse(&chat).unwrap();
    let point = json!({"cachePoint": {"type": "default"}});
    assert_eq!(
        out["system"],
        json!([{"text": "You are a coding agent."}, point])
    );
    assert_eq!(
        out["messages"][0]["content"],
        json!([{"text": "the long file"}, point, {"text": "the question"}])
    );
    assert_eq!(out["toolConfig"]["tools"][1], point);
    // Without marks, nothing changes.
    let plain = json!({"model": "claude", "max_tokens": 64, "system": "Be brief.", "messages": [{"role": "user", "content": "hi"}]});
    let chat = crate::translate::messages_on_chat::messages_to_chat(&plain).unwrap();
    let out = chat_to_converse(&chat).unwrap();
    assert_eq!(out["system"], json!([{"text": "Be brief."}]));
    assert!(!out.to_string().contains("cachePoint"));
    // An OpenAI-compatible provider gets no marks at all.
    let mut chat = crate::translate::messages_on_chat::messages_to_chat(&anthropic).unwrap();
    crate::translate::messages_on_chat::strip_pivot_fields(&mut chat);
    assert!(!chat.to_string().contains("cache_control"), "{chat}");
}

#[test]
fn a_conversation_left_empty_is_refused() {
    let empty = json!({"messages": [{"role": "user", "content": ""}]});
    let error = chat_to_converse(&empty).unwrap_err();
    assert!(error.to_string().contains("at least one"), "{error}");
}

#[test]
fn unsupported_inputs_name_the_field() {
    let with_url = |url: &str| json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": url}}]}]});
    let Err(LlmError::InvalidField { field, why }) = chat_to_converse(&with_url("https://x/a.png"))
    else {
        panic!("http image URLs are not supported");
    };
    assert_eq!(field, "messages");
    assert!(
        why.starts_with("messages[0].content[1].image_url.url must be a base64 data: URL"),
        "{why}"
    );
    let svg = chat_to_converse(&with_url("data:image/svg+xml;base64,AAAA")).unwrap_err();
    assert!(svg.to_string().contains("'image/svg+xml'"));
    let audio = json!({"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]});
    assert!(
        chat_to_converse(&audio)
            .unwrap_err()
            .to_string()
            .contains("'input_audio'")
    );
    let n = chat_to_converse(&json!({"messages": [], "n": 2})).unwrap_err();
    assert_eq!(n.openai_body()["error"]["param"], "n");
    let role = chat_to_converse(&json!({"messages": [{"role": "bot", "content": "x"}]}));
    assert!(
        role.unwrap_err()
            .to_string()
            .contains("messages[0].role 'bot'")
    );
}

#[test]
fn error_bodies_keep_the_message_and_code() {
    let coral = ":http://internal.amazon.com/coral/com.amazon.bedrock/";
    let cases = [
        (
            "error_throttling.json",
            Some("ThrottlingException"),
            429,
            "rate_limit_error",
        ),
        (
            "error_validation.json",
            Some("ValidationException"),
            400,
            "invalid_request_error",
        ),
        (
            "error_validation_conversation.json",
            Some("ValidationException"),
            400,
            "invalid_request_error",
        ),
        (
            "error_access_denied.json",
            Some("AccessDeniedException"),
            403,
            "permission_error",
        ),
        ("error_service_unavailable.json", None, 503, "server_error"),
    ];
    for (file, code, status, kind) in cases {
        let body = load(&format!("bedrock/{file}"));
        let header = code.map(|c| format!("{c}{coral}"));
        let out = error_to_openai(&body, header.as_deref(), status);
        assert_eq!(out["error"]["message"], body["message"], "{file}");
        assert_eq!(out["error"]["type"], kind, "{file}");
        assert_eq!(out["error"]["code"], json!(code), "{file}");
    }
    let namespaced = json!({"__type": "com.amazon.coral.service#UnrecognizedClientException", "Message": "bad key"});
    let out = error_to_openai(&namespaced, None, 403);
    assert_eq!(
        out["error"],
        json!({"message": "bad key", "type": "authentication_error", "param": null, "code": "UnrecognizedClientException"})
    );
}

#[test]
fn reasoning_goes_to_each_model_family_in_its_own_terms() {
    let ask = |model: &str| {
        json!({"model": model, "reasoning_effort": "high", "top_k": 5, "max_tokens": 100,
            "messages": [{"role": "user", "content": "Hi"}]})
    };
    let claude = chat_to_converse(&ask("anthropic.claude-opus-4-1-20250805-v1:0")).unwrap();
    assert_eq!(
        claude["additionalModelRequestFields"],
        json!({"thinking": {"type": "enabled", "budget_tokens": 4096}}),
        "Claude refuses top_k beside thinking"
    );
    assert_eq!(claude["inferenceConfig"]["maxTokens"], 4096 + 100);
    let mut forced = ask("anthropic.claude-opus-4-1-20250805-v1:0");
    forced["tool_choice"] = json!("required");
    forced["temperature"] = json!(0.2);
    forced["tools"] =
        json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]);
    let forced = chat_to_converse(&forced).unwrap();
    assert_eq!(
        forced["additionalModelRequestFields"],
        json!({"top_k": 5}),
        "a forced tool wins over thinking, and the knobs stay"
    );
    assert_eq!(forced["inferenceConfig"]["temperature"], 0.2);
    let gpt = chat_to_converse(&ask("openai.gpt-oss-120b-1:0")).unwrap();
    assert_eq!(
        gpt["additionalModelRequestFields"],
        json!({"reasoning_effort": "high"})
    );
    let nova = chat_to_converse(&ask("amazon.nova-pro-v1:0")).unwrap();
    assert!(nova.get("additionalModelRequestFields").is_none(), "{nova}");
    assert_eq!(nova["inferenceConfig"]["maxTokens"], 100);
}

#[test]
fn only_signed_thinking_is_replayed_first_in_the_turn() {
    let chat = json!({"model": "anthropic.claude-sonnet-4-5", "messages": [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello", "thinking_blocks": [
            {"type": "thinking", "thinking": "unsigned", "signature": ""},
            {"type": "thinking", "thinking": "signed", "signature": "ErcB"},
            {"type": "redacted_thinking", "data": "EmwK"}
        ]},
        {"role": "user", "content": "Bye"}
    ]});
    let out = chat_to_converse(&chat).unwrap();
    assert_eq!(
        out["messages"][1]["content"],
        json!([
            {"reasoningContent": {"reasoningText": {"text": "signed", "signature": "ErcB"}}},
            {"reasoningContent": {"redactedContent": "EmwK"}},
            {"text": "Hello"}
        ])
    );
}

#[test]
fn tool_results_carry_their_images_and_error_status() {
    let chat = json!({"model": "anthropic.claude-sonnet-4-5", "messages": [
        {"role": "user", "content": "Open the page"},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "t1", "type": "function", "function": {"name": "screenshot", "arguments": "{}"}},
            {"id": "t2", "type": "function", "function": {"name": "click", "arguments": "{}"}}
        ]},
        {"role": "tool", "tool_call_id": "t1", "content": [
            {"type": "text", "text": "Page shown"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}}
        ]},
        {"role": "tool", "tool_call_id": "t2", "content": "no such button", "is_error": true}
    ]});
    let out = chat_to_converse(&chat).unwrap();
    assert_eq!(
        out["messages"][2]["content"],
        json!([
            {"toolResult": {"toolUseId": "t1", "content": [
                {"text": "Page shown"},
                {"image": {"format": "png", "source": {"bytes": "iVBORw0K"}}}
            ]}},
            {"toolResult": {"toolUseId": "t2", "content": [{"text": "no such button"}], "status": "error"}}
        ])
    );
}

#[test]
fn pdfs_become_named_documents_in_user_turns_and_tool_results() {
    let pdf = |name: &str| json!({"type": "file", "file": {"filename": name, "file_data": "data:application/pdf;base64,JVBERi0x"}});
    let chat = json!({"model": "anthropic.claude-sonnet-4-5", "messages": [
        {"role": "user", "content": [pdf("Q3 report (final).v2.pdf"), {"type": "text", "text": "Summarise"}]},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "fetch", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "t1", "content": [{"type": "text", "text": "fetched"}, pdf("résumé.pdf")]}
    ]});
    let out = chat_to_converse(&chat).unwrap();
    assert_eq!(
        out["messages"][0]["content"][0],
        json!({"document": {"format": "pdf", "name": "Q3 report (final) v2", "source": {"bytes": "JVBERi0x"}}})
    );
    assert_eq!(
        out["messages"][2]["content"][0]["toolResult"]["content"][1],
        json!({"document": {"format": "pdf", "name": "r sum", "source": {"bytes": "JVBERi0x"}}})
    );
    let zip = json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "file", "file": {"filename": "a.zip", "file_data": "data:application/zip;base64,UEsD"}}
    ]}]});
    let error = chat_to_converse(&zip).unwrap_err();
    assert!(error.to_string().contains("'application/zip'"), "{error}");
}

#[test]
fn a_failed_tool_is_a_status_for_claude_and_nova_and_said_in_the_text_for_others() {
    let failed = |model: &str| {
        let chat = json!({"model": model, "messages": [
            {"role": "user", "content": "Go"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "t1", "content": "timed out", "is_error": true}
        ]});
        chat_to_converse(&chat).unwrap()["messages"][2]["content"][0]["toolResult"].clone()
    };
    assert_eq!(failed("us.amazon.nova-pro-v1:0")["status"], "error");
    let llama = failed("meta.llama3-3-70b-instruct-v1:0");
    assert!(llama.get("status").is_none(), "{llama}");
    assert_eq!(llama["content"][0]["text"], "Error: timed out");
}

#[test]
fn gemini_thought_signatures_in_ids_stay_out_of_converse_ids() {
    let signed = "call_r1_0__sig__RkFLRS10aG91Z2h0";
    let chat = json!({"model": "anthropic.claude-sonnet-4-5", "messages": [
        {"role": "user", "content": "Go"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": signed, "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": signed, "content": "done"}
    ]});
    let out = chat_to_converse(&chat).unwrap();
    assert_eq!(
        out["messages"][1]["content"][0]["toolUse"]["toolUseId"],
        "call_r1_0"
    );
    assert_eq!(
        out["messages"][2]["content"][0]["toolResult"]["toolUseId"],
        "call_r1_0"
    );
}

#[test]
fn the_answer_schema_keeps_the_clients_order_of_properties() {
    let client = br#"{"model":"anthropic.claude-sonnet-4-5","messages":[{"role":"user","content":"2+2?"}],"response_format":{"type":"json_schema","json_schema":{"name":"Math","schema":{"type":"object","properties":{"steps":{"type":"array","items":{"type":"string"}},"final_answer":{"type":"string"}},"required":["steps","final_answer"]}}}}"#;
    let tree: Value = serde_json::from_slice(client).unwrap();
    let sorted = serde_json::to_vec(&chat_to_converse(&tree).unwrap()).unwrap();
    let text = String::from_utf8(with_client_schema_order(&sorted, client)).unwrap();
    let steps = text.find(r#""steps""#).unwrap();
    let answer = text.find(r#""final_answer""#).unwrap();
    assert!(steps < answer, "the client's order: {text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        body["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"],
        tree["response_format"]["json_schema"]["schema"]
    );
    let plain = br#"{"model":"m","messages":[]}"#;
    assert_eq!(with_client_schema_order(&sorted, plain), sorted);
}

#[test]
fn claude_is_asked_which_stop_sequence_ended_the_answer_and_anthropic_clients_hear_it() {
    let chat = json!({"model": "anthropic.claude-sonnet-4-5", "stop": ["END"], "messages": [{"role": "user", "content": "Count"}]});
    let out = chat_to_converse(&chat).unwrap();
    assert_eq!(
        out["additionalModelResponseFieldPaths"],
        json!(["/stop_sequence"])
    );
    let llama = chat_to_converse(&json!({"model": "meta.llama3", "stop": ["END"], "messages": [{"role": "user", "content": "Count"}]})).unwrap();
    assert!(llama.get("additionalModelResponseFieldPaths").is_none());

    let answer = json!({"output": {"message": {"role": "assistant", "content": [{"text": "1 2 3 "}]}},
        "stopReason": "stop_sequence", "additionalModelResponseFields": {"stop_sequence": "END"},
        "usage": {"inputTokens": 5, "outputTokens": 4, "totalTokens": 9}});
    let chat = converse_to_chat(&answer, "claude", 7);
    assert_eq!(chat["choices"][0]["finish_reason"], "stop");
    assert_eq!(chat["choices"][0]["stop_reason"], "END");
    let message = crate::translate::messages_on_chat::chat_to_message(&chat);
    assert_eq!(message["stop_reason"], "stop_sequence");
    assert_eq!(message["stop_sequence"], "END");
    let plain = converse_to_chat(
        &json!({"output": {"message": {"content": [{"text": "hi"}]}}, "stopReason": "end_turn"}),
        "claude",
        7,
    );
    assert!(plain["choices"][0].get("stop_reason").is_none());
}
