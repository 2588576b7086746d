//! Chat Completions requests written as Anthropic Messages requests.

use super::*;
use serde_json::{Value, json};

fn translate(request: &Value, target: MessagesTarget) -> Result<Value, LlmError> {
    let out = chat_to_messages(&serde_json::to_vec(request).unwrap(), target)?;
    Ok(serde_json::from_slice(&out.body).unwrap())
}

fn to_anthropic(request: Value) -> Value {
    translate(&request, MessagesTarget::Anthropic).unwrap()
}

#[test]
fn covers_system_tools_and_tool_results() {
    let out = to_anthropic(json!({
        "model": "claude-sonnet-4-5",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Use metric."}]},
            {"role": "user", "content": [{"type": "text", "text": "Weather?"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            {"role": "user", "content": "Thanks"}
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
        "tool_choice": "required",
        "stop": "END",
        "temperature": 0.1,
        "top_p": null,
        "user": "u-1"
    }));
    assert_eq!(out["model"], "claude-sonnet-4-5");
    assert_eq!(out["system"], "Be brief.\n\nUse metric.");
    assert_eq!(out["max_tokens"], DEFAULT_MAX_TOKENS);
    assert_eq!(out["stop_sequences"], json!(["END"]));
    assert_eq!(out["temperature"], 0.1);
    assert!(out.get("top_p").is_none(), "null knobs are left out");
    assert_eq!(out["metadata"], json!({"user_id": "u-1"}));
    assert_eq!(out["tool_choice"], json!({"type": "any"}));
    assert_eq!(
        out["tools"],
        json!([{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}])
    );
    let messages = out["messages"].as_array().unwrap();
    assert_eq!(
        messages.len(),
        3,
        "the tool result and the next user turn merge"
    );
    assert_eq!(
        messages[0]["content"],
        json!([
            {"type": "text", "text": "Weather?"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}
        ]),
        "audio has no counterpart and is left out"
    );
    assert_eq!(
        messages[1],
        json!({"role": "assistant", "content": [{"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}]})
    );
    assert_eq!(
        messages[2]["content"],
        json!([
            {"type": "tool_result", "tool_use_id": "call_1", "content": "18C"},
            {"type": "text", "text": "Thanks"}
        ])
    );
}

#[test]
fn escaped_text_urls_and_arguments_survive() {
    let out = to_anthropic(json!({
        "model": "m",
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "quote \" é \u{1F600} \n"},
                {"type": "image_url", "image_url": {"url": "https://x/a\"b.png"}},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,A\\/B="}}
            ]},
            {"role": "assistant", "content": "on it", "tool_calls": [
                {"id": "c1", "function": {"name": "f", "arguments": "{\"q\": \"a \\\"b\\\"\"}"}},
                {"id": "c2", "function": {"name": "g", "arguments": {"already": "an object"}}},
                {"id": "c3", "function": {"name": "h", "arguments": "not json"}},
                {"id": "c4", "function": {"name": "i"}}
            ]}
        ]
    }));
    let user = &out["messages"][0]["content"];
    assert_eq!(user[0]["text"], "quote \" é \u{1F600} \n");
    assert_eq!(
        user[1]["source"],
        json!({"type": "url", "url": "https://x/a\"b.png"})
    );
    assert_eq!(
        user[2]["source"],
        json!({"type": "base64", "media_type": "image/png", "data": "A\\/B="})
    );
    let assistant = &out["messages"][1]["content"];
    assert_eq!(assistant[0], json!({"type": "text", "text": "on it"}));
    assert_eq!(assistant[1]["input"], json!({"q": "a \"b\""}));
    assert_eq!(assistant[2]["input"], json!({"already": "an object"}));
    assert_eq!(assistant[3]["input"], json!({}));
    assert_eq!(assistant[4]["input"], json!({}));
}

#[test]
fn knobs_limits_and_choices() {
    let out = to_anthropic(json!({
        "model": "m", "messages": [{"role": "user", "content": "hi"}],
        "max_completion_tokens": 50, "max_tokens": 10, "stop": ["a", "b"], "stream": true,
        "tools": [{"type": "function", "function": {"name": "f"}}],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "parallel_tool_calls": false
    }));
    assert_eq!(out["max_tokens"], 50, "max_completion_tokens wins");
    assert_eq!(out["stop_sequences"], json!(["a", "b"]));
    assert_eq!(out["stream"], true);
    assert_eq!(out["tools"][0]["input_schema"], json!({"type": "object"}));
    assert_eq!(
        out["tool_choice"],
        json!({"type": "tool", "name": "f", "disable_parallel_tool_use": true})
    );
    let none = to_anthropic(json!({
        "model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10,
        "tools": [{"type": "function", "function": {"name": "f"}}],
        "tool_choice": "none", "parallel_tool_calls": false
    }));
    assert_eq!(none["max_tokens"], 10);
    assert_eq!(none["tool_choice"], json!({"type": "none"}));
    let no_tools = to_anthropic(json!({
        "model": "m", "messages": [{"role": "user", "content": "hi"}],
        "tools": [], "tool_choice": "auto"
    }));
    assert!(no_tools.get("tools").is_none());
    assert!(no_tools.get("tool_choice").is_none());
}

#[test]
fn vertex_takes_the_version_instead_of_the_model() {
    let out = translate(
        &json!({"model": "claude", "messages": [{"role": "user", "content": "hi"}]}),
        MessagesTarget::Vertex,
    )
    .unwrap();
    assert!(out.get("model").is_none());
    assert_eq!(
        out["anthropic_version"],
        crate::gcp::VERTEX_ANTHROPIC_VERSION
    );
}

#[test]
fn include_usage_is_read_from_stream_options() {
    let body = |options: Value| {
        let request = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": true, "stream_options": options});
        chat_to_messages(
            &serde_json::to_vec(&request).unwrap(),
            MessagesTarget::Anthropic,
        )
        .unwrap()
        .include_usage
    };
    assert!(body(json!({"include_usage": true})));
    assert!(!body(json!({"include_usage": false})));
    assert!(!body(json!(null)));
}

#[test]
fn empty_messages_are_left_out_and_their_neighbours_merge() {
    let out = to_anthropic(json!({"model": "m", "messages": [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": ""},
        {"role": "user", "content": [{"type": "text", "text": ""}, {"type": "text", "text": "b"}]}
    ]}));
    assert_eq!(
        out["messages"],
        json!([{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}])
    );
    let error = translate(
        &json!({"model": "m", "messages": [{"role": "user", "content": ""}]}),
        MessagesTarget::Anthropic,
    )
    .unwrap_err();
    assert!(error.to_string().contains("at least one"), "{error}");
}

#[test]
fn prompt_cache_marks_reach_anthropics_blocks() {
    let mark = json!({"type": "ephemeral"});
    let out = to_anthropic(json!({"model": "m", "messages": [
        {"role": "system", "content": [{"type": "text", "text": "long rules", "cache_control": mark}]},
        {"role": "user", "content": [{"type": "text", "text": "long file", "cache_control": mark}, {"type": "text", "text": "question"}]}
    ], "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}, "cache_control": mark}]}));
    assert_eq!(
        out["system"],
        json!([{"type": "text", "text": "long rules", "cache_control": mark}])
    );
    assert_eq!(
        out["messages"][0]["content"],
        json!([{"type": "text", "text": "long file", "cache_control": mark}, {"type": "text", "text": "question"}])
    );
    assert_eq!(out["tools"][0]["cache_control"], mark);
    // Without marks the system prompt stays one string.
    let plain = to_anthropic(json!({"model": "m", "messages": [
        {"role": "system", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {"role": "user", "content": "hi"}
    ]}));
    assert_eq!(plain["system"], "ab");
    assert!(!plain.to_string().contains("cache_control"));
}

#[test]
fn pdf_files_become_documents_and_other_files_are_refused() {
    let part = |part: Value| json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "read"}, part]}]});
    let out = to_anthropic(part(
        json!({"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0x"}}),
    ));
    assert_eq!(
        out["messages"][0]["content"][1],
        json!({"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"}})
    );
    for (refused, says) in [
        (
            json!({"type": "file", "file": {"file_id": "file-abc"}}),
            "file-abc",
        ),
        (
            json!({"type": "file", "file": {"file_data": "data:text/csv;base64,YQ=="}}),
            "PDF",
        ),
        (
            json!({"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}),
            "'input_audio'",
        ),
    ] {
        let error = translate(&part(refused), MessagesTarget::Anthropic).unwrap_err();
        assert!(error.to_string().contains(says), "{error}");
    }
}

#[test]
fn bad_requests_name_the_field_at_fault() {
    let error = |request: Value| translate(&request, MessagesTarget::Anthropic).unwrap_err();
    let two = error(json!({"model": "m", "n": 2, "messages": [{"role": "user", "content": "hi"}]}));
    assert!(matches!(two, LlmError::InvalidField { field: "n", .. }));
    let role = error(json!({"model": "m", "messages": [{"role": "robot", "content": "hi"}]}));
    assert!(role.to_string().contains("role 'robot'"), "{role}");
    let content = error(json!({"model": "m", "messages": [{"role": "user", "content": 5}]}));
    assert!(
        content
            .to_string()
            .contains("string or a list of content parts"),
        "{content}"
    );
    let part = error(
        json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]}),
    );
    assert!(part.to_string().contains("content"), "{part}");
    let message = error(json!({"model": "m", "messages": ["hi"]}));
    assert!(
        matches!(&message, LlmError::InvalidField { field: "messages", why } if why.contains("messages[0]")),
        "{message}"
    );
    let tools = error(
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": {"f": 1}}),
    );
    assert!(
        matches!(&tools, LlmError::InvalidField { field: "tools", .. }),
        "{tools}"
    );
}

#[test]
fn reasoning_effort_becomes_a_thinking_budget_that_fits_below_max_tokens() {
    let out = to_anthropic(json!({
        "model": "claude-sonnet-4-5",
        "messages": [{"role": "user", "content": "Plan a trip."}],
        "reasoning_effort": "medium",
        "max_completion_tokens": 1000
    }));
    assert_eq!(
        out["thinking"],
        json!({"type": "enabled", "budget_tokens": 2048})
    );
    assert_eq!(out["max_tokens"], 3048, "the answer keeps its 1000 tokens");
    let roomy = to_anthropic(json!({
        "messages": [{"role": "user", "content": "Plan a trip."}],
        "reasoning_effort": "high",
        "max_tokens": 20000
    }));
    assert_eq!(roomy["max_tokens"], 20000);
    let off = to_anthropic(json!({
        "messages": [{"role": "user", "content": "Hi"}],
        "reasoning_effort": "none"
    }));
    assert_eq!(off["thinking"], json!({"type": "disabled"}));
    let unasked = to_anthropic(json!({"messages": [{"role": "user", "content": "Hi"}]}));
    assert!(unasked.get("thinking").is_none());
}

#[test]
fn a_thinking_object_goes_on_as_the_client_wrote_it() {
    let out = to_anthropic(json!({
        "messages": [{"role": "user", "content": "Hi"}],
        "thinking": {"type": "enabled", "budget_tokens": 5000},
        "reasoning_effort": "low"
    }));
    assert_eq!(
        out["thinking"],
        json!({"type": "enabled", "budget_tokens": 5000})
    );
    assert_eq!(out["max_tokens"], 5000 + DEFAULT_MAX_TOKENS);
    let error = translate(
        &json!({"messages": [{"role": "user", "content": "Hi"}], "reasoning_effort": "extreme"}),
        MessagesTarget::Anthropic,
    )
    .unwrap_err();
    assert_eq!(error.openai_body()["error"]["param"], "reasoning_effort");
}

#[test]
fn thinking_blocks_go_back_before_the_turns_tool_calls() {
    let out = to_anthropic(json!({
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": null,
             "reasoning_content": "Need the tool.",
             "thinking_blocks": [
                {"type": "thinking", "thinking": "Need the tool.", "signature": "EqQBCgIYAhIM"},
                {"type": "redacted_thinking", "data": "EmwKAhgBEgy3"}
             ],
             "tool_calls": [{"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"}
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
        "reasoning_effort": "low"
    }));
    assert_eq!(
        out["messages"][1]["content"],
        json!([
            {"type": "thinking", "thinking": "Need the tool.", "signature": "EqQBCgIYAhIM"},
            {"type": "redacted_thinking", "data": "EmwKAhgBEgy3"},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
        ])
    );
    let unsigned = translate(
        &json!({"messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello", "thinking_blocks": [{"type": "thinking", "thinking": "x"}]}
        ]}),
        MessagesTarget::Anthropic,
    )
    .unwrap_err();
    assert!(
        unsigned
            .to_string()
            .contains("needs thinking and signature"),
        "{unsigned}"
    );
}

#[test]
fn a_json_schema_answer_is_asked_for_through_a_forced_tool() {
    let schema =
        json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]});
    let request = json!({
        "model": "claude-sonnet-4-5",
        "messages": [{"role": "user", "content": "Where is the Louvre?"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "Place", "schema": schema, "strict": true}},
        "reasoning_effort": "low",
        "temperature": 0.2
    });
    let out = chat_to_messages(
        &serde_json::to_vec(&request).unwrap(),
        MessagesTarget::Anthropic,
    )
    .unwrap();
    assert!(out.structured);
    let body: Value = serde_json::from_slice(&out.body).unwrap();
    assert_eq!(body["tools"][0]["name"], "json_answer");
    assert_eq!(body["tools"][0]["input_schema"], schema);
    assert_eq!(
        body["tool_choice"],
        json!({"type": "tool", "name": "json_answer", "disable_parallel_tool_use": true})
    );
    assert!(
        body.get("thinking").is_none(),
        "Anthropic refuses thinking beside a forced tool"
    );
    assert_eq!(body["temperature"], 0.2);

    let mut with_tools = request.clone();
    with_tools["tools"] =
        json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]);
    let error = translate(&with_tools, MessagesTarget::Anthropic).unwrap_err();
    assert_eq!(error.openai_body()["error"]["param"], "response_format");
    assert!(error.to_string().contains("together with tools"), "{error}");
    let mut array = request.clone();
    array["response_format"]["json_schema"]["schema"] =
        json!({"type": "array", "items": {"type": "integer"}});
    let error = translate(&array, MessagesTarget::Anthropic).unwrap_err();
    assert!(
        error.to_string().contains("top level is an object"),
        "{error}"
    );
    let mut no_schema = request.clone();
    no_schema["response_format"] = json!({"type": "json_schema", "json_schema": {"name": "Place"}});
    let error = translate(&no_schema, MessagesTarget::Anthropic).unwrap_err();
    assert!(
        error.to_string().contains("top level is an object"),
        "{error}"
    );
}

#[test]
fn the_answer_tools_json_strings_say_what_the_shared_constants_say() {
    assert_eq!(
        serde_json::to_string(crate::request::ANSWER_TOOL).unwrap(),
        ANSWER_TOOL_NAME
    );
    assert_eq!(
        serde_json::to_string(crate::request::ANSWER_TOOL_DESCRIPTION).unwrap(),
        ANSWER_TOOL_DESCRIPTION
    );
}
