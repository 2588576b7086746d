//! Tests for the token estimate. Real counts quoted here were produced with the
//! `cl100k_base` and `o200k_base` vocabularies (tiktoken) on the exact strings below.

use super::*;
use serde_json::json;

fn fixture_json(path: &str) -> Value {
    serde_json::from_slice(&crate::fixture(path)).unwrap()
}

/// The pieces of `text` as strings, to compare with the GPT-4 pre-tokenizer.
fn split(text: &str) -> Vec<&str> {
    pieces(text).map(|(range, _)| &text[range]).collect()
}

fn assert_within(estimate: u64, real: u64, percent: u64) {
    let tolerance = real * percent / 100;
    assert!(
        estimate.abs_diff(real) <= tolerance,
        "estimate {estimate} is more than {percent}% away from {real}"
    );
}

#[test]
fn splits_like_the_gpt4_pre_tokenizer() {
    // Splits produced by the `cl100k_base` pattern itself.
    assert_eq!(
        split("fn main() {\n    let x = 12345;\n}"),
        [
            "fn", " main", "()", " {\n", "   ", " let", " x", " =", " ", "123", "45", ";\n", "}"
        ]
    );
    assert_eq!(
        split("Hello, world!  (see \"docs/api\")"),
        [
            "Hello", ",", " world", "!", " ", " (", "see", " \"", "docs", "/api", "\")"
        ]
    );
    assert_eq!(
        split("getElementById HTTPServer"),
        ["getElementById", " HTTPServer"]
    );
    assert_eq!(split("a\n\n  b  "), ["a", "\n\n", " ", " b", "  "]);
}

#[test]
fn short_strings_with_known_counts() {
    // cl100k_base and o200k_base: ["hello", " world"].
    assert_eq!(estimate_text("hello world"), 2);
    // Both: ["Hello", ",", " world", "!"].
    assert_eq!(estimate_text("Hello, world!"), 4);
    assert_eq!(estimate_text(""), 0);
    assert_eq!(estimate_text("   "), 1);
}

#[test]
fn english_prose_lands_near_the_real_count() {
    let text = "The old lighthouse stood at the edge of the cliff for more than a century, \
        watching ships pass through the narrow strait below. Its keeper, a quiet man named \
        Thomas, climbed the spiral staircase every evening to light the lamp, and every \
        morning he wrote a short note in the logbook about the weather, the tides, and any \
        vessels that had come too close to the rocks. Over the years the notes grew longer. \
        He began to describe the colour of the sea at dawn, the birds that nested in the \
        cracks of the tower, and the letters he received from his daughter, who had moved to \
        the city to study medicine.";
    // Real: 129 tokens in cl100k_base, 127 in o200k_base.
    assert_within(estimate_text(text), 129, 20);
}

#[test]
fn code_lands_near_the_real_count() {
    let code = r#"fn parse_header(line: &str) -> Option<(String, String)> {
    let (name, value) = line.split_once(':')?;
    let name = name.trim().to_ascii_lowercase();
    if name.is_empty() || name.contains(' ') {
        return None;
    }
    Some((name, value.trim().to_string()))
}
"#;
    // Real: 71 tokens in cl100k_base, 72 in o200k_base.
    assert_within(estimate_text(code), 71, 20);
}

#[test]
fn chinese_lands_between_the_two_vocabularies() {
    let text =
        "自然语言处理是人工智能领域中的一个重要方向，它研究如何让计算机理解和生成人类的语言。";
    // Real: 47 tokens in cl100k_base, 25 in o200k_base (41 characters).
    let estimate = estimate_text(text);
    assert!((25..=47).contains(&estimate), "{estimate}");
}

#[test]
fn odd_text_never_panics_and_costs_something() {
    let samples = [
        "e\u{301}\u{301}\u{301}",
        "👩‍👩‍👧‍👦🎉",
        "\u{0}\u{1}\u{7f}\r\r\n\t\u{b}",
        "١٢٣٤٥ ⅫⅫ",
        "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
        "'s 'll ’re",
    ];
    for text in samples {
        assert!(estimate_text(text) >= 1, "{text:?}");
    }
    let long_word = "a".repeat(100_000);
    assert!(estimate_text(&long_word) > 10_000);
    let long_space = " ".repeat(100_000);
    assert!(estimate_text(&long_space) >= 1_000);
}

#[test]
fn openai_chat_fixture() {
    let body = fixture_json("openai/chat_request.json");
    // The cookbook's count of the two messages is 27 in cl100k_base (3 + role + content
    // each, 3 to prime the reply); the tools' compact JSON is 68 more.
    let estimate = estimate_request(ClientApi::ChatCompletions, &body);
    assert_within(estimate, 27 + 68, 20);
    assert_eq!(max_output(ClientApi::ChatCompletions, &body), Some(512));
}

#[test]
fn anthropic_messages_fixture() {
    let body = fixture_json("anthropic/messages_request.json");
    // System 7, one message 3 + 9, reply priming 3, the tool-use prompt 300 and the tools'
    // JSON 62 (cl100k_base).
    let estimate = estimate_request(ClientApi::Messages, &body);
    assert_within(estimate, 7 + 12 + 3 + ANTHROPIC_TOOL_PROMPT + 62, 20);
    assert_eq!(max_output(ClientApi::Messages, &body), Some(1024));
}

#[test]
fn images_cost_a_fixed_amount() {
    let text_only = json!({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is in this picture?"}
    ]}]});
    let with_images = json!({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}
    ]}]});
    let base = estimate_request(ClientApi::ChatCompletions, &text_only);
    assert_eq!(
        estimate_request(ClientApi::ChatCompletions, &with_images),
        base + OPENAI_IMAGE_LOW + OPENAI_IMAGE_HIGH
    );

    let anthropic = json!({"max_tokens": 64, "messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "text", "text": "What is in this picture?"}
    ]}]});
    let anthropic_text = json!({"max_tokens": 64, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is in this picture?"}
    ]}]});
    assert_eq!(
        estimate_request(ClientApi::Messages, &anthropic),
        estimate_request(ClientApi::Messages, &anthropic_text) + ANTHROPIC_IMAGE
    );
}

#[test]
fn tool_calls_and_results_are_counted() {
    let call = json!({"messages": [
        {"role": "assistant", "content": null, "tool_calls": [{
            "id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris\"}"}
        }]},
        {"role": "tool", "tool_call_id": "call_1", "content": "{\"temperature\": 18, \"unit\": \"celsius\"}"}
    ]});
    let estimate = estimate_request(ClientApi::ChatCompletions, &call);
    // Framing 3 + 3 + 3, roles 2, call name and arguments ~9, result ~14.
    assert!((25..=45).contains(&estimate), "{estimate}");

    let anthropic = fixture_json("anthropic/messages_request_tool_result.json");
    let with_results = estimate_request(ClientApi::Messages, &anthropic);
    let mut without = anthropic.clone();
    without["messages"] = json!([]);
    assert!(with_results > estimate_request(ClientApi::Messages, &without) + 10);
}

#[test]
fn embeddings_input_in_every_shape() {
    let texts = fixture_json("openai/embeddings_request.json");
    // "The food was delicious." and "The service was slow." are 5 tokens each.
    assert_eq!(estimate_request(ClientApi::Embeddings, &texts), 10);
    let ids = json!({"input": [[1, 2, 3], [4, 5]], "model": "m"});
    assert_eq!(estimate_request(ClientApi::Embeddings, &ids), 5);
    assert_eq!(max_output(ClientApi::Embeddings, &texts), None);
}

#[test]
fn max_output_prefers_the_newer_field_and_counts_choices() {
    let both = json!({"max_completion_tokens": 100, "max_tokens": 50});
    assert_eq!(max_output(ClientApi::ChatCompletions, &both), Some(100));
    let old = json!({"max_tokens": 50, "n": 3});
    assert_eq!(max_output(ClientApi::ChatCompletions, &old), Some(150));
    assert_eq!(max_output(ClientApi::ChatCompletions, &json!({})), None);
    assert_eq!(
        max_output(ClientApi::Messages, &json!({"max_tokens": "9"})),
        None
    );
    assert_eq!(
        max_output(
            ClientApi::ChatCompletions,
            &json!({"max_tokens": u64::MAX, "n": 2})
        ),
        Some(u64::MAX)
    );
    assert_eq!(max_output(ClientApi::Passthrough, &both), None);
}

#[test]
fn unknown_shapes_count_as_nothing() {
    for body in [
        json!(null),
        json!([]),
        json!({"messages": "hi"}),
        json!({"messages": [1, null]}),
    ] {
        assert!(
            estimate_request(ClientApi::ChatCompletions, &body)
                <= 2 * MESSAGE_OVERHEAD + REPLY_PRIMING
        );
        assert!(
            estimate_request(ClientApi::Messages, &body) <= 2 * MESSAGE_OVERHEAD + REPLY_PRIMING
        );
    }
    assert_eq!(
        estimate_request(ClientApi::Models, &json!({"input": "x"})),
        0
    );
}
