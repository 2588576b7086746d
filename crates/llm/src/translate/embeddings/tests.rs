//! Tests for the embeddings translations, on the shared OpenAI and Ollama fixtures and
//! provider answers written after the Gemini, Titan and Cohere reference pages.

use super::*;

fn fixture_json(path: &str) -> Value {
    serde_json::from_slice(&crate::fixture(path)).unwrap()
}

/// The OpenAI fixture request (two texts, 8 dimensions, floats).
fn request() -> Value {
    fixture_json("openai/embeddings_request.json")
}

fn with(mut request: Value, field: &str, value: Value) -> Value {
    request[field] = value;
    request
}

const FIRST: [f64; 8] = [
    0.0412, -0.3127, 0.5583, 0.1029, -0.2254, 0.6671, -0.0873, 0.2731,
];
const SECOND: [f64; 8] = [
    -0.1534, 0.2208, 0.4417, -0.5902, 0.0316, 0.3349, 0.4875, -0.1862,
];

fn decode_f32(encoded: &Value) -> Vec<f32> {
    let bytes = STANDARD.decode(encoded.as_str().unwrap()).unwrap();
    assert_eq!(bytes.len() % 4, 0);
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn assert_base64_of(encoded: &Value, expected: &[f64]) {
    let decoded = decode_f32(encoded);
    let expected: Vec<f32> = expected.iter().map(|v| *v as f32).collect();
    assert_eq!(decoded, expected);
}

fn field_of(error: LlmError) -> &'static str {
    match error {
        LlmError::InvalidField { field, .. } | LlmError::MissingField { field, .. } => field,
        other => panic!("not a field error: {other:?}"),
    }
}

#[test]
fn gemini_request_from_the_openai_fixture() {
    let body = openai_to_gemini(&request(), "gemini-embedding-001").unwrap();
    assert_eq!(
        body,
        json!({"requests": [
            {"model": "models/gemini-embedding-001",
             "content": {"parts": [{"text": "The food was delicious."}]},
             "outputDimensionality": 8},
            {"model": "models/gemini-embedding-001",
             "content": {"parts": [{"text": "The service was slow."}]},
             "outputDimensionality": 8}
        ]})
    );
    let single = json!({"model": "m", "input": "hello"});
    let body = openai_to_gemini(&single, "models/text-embedding-004").unwrap();
    assert_eq!(
        body,
        json!({"requests": [{"model": "models/text-embedding-004",
                             "content": {"parts": [{"text": "hello"}]}}]})
    );
}

#[test]
fn gemini_answer_becomes_the_openai_fixture() {
    let gemini = json!({"embeddings": [{"values": FIRST}, {"values": SECOND}]});
    let answer = gemini_to_openai(&request(), &gemini, "text-embedding-3-small");
    // The fixture's usage (10) is also what the estimate gives for its two sentences
    // (5 + 5 tokens in cl100k_base and o200k_base).
    assert_eq!(answer, fixture_json("openai/embeddings_response.json"));
}

#[test]
fn gemini_answer_in_base64() {
    let request = with(request(), "encoding_format", json!("base64"));
    let gemini = json!({"embeddings": [{"values": FIRST}, {"values": SECOND}]});
    let answer = gemini_to_openai(&request, &gemini, "gemini-embedding-001");
    assert_eq!(answer["data"][1]["index"], 1);
    assert_base64_of(&answer["data"][0]["embedding"], &FIRST);
    assert_base64_of(&answer["data"][1]["embedding"], &SECOND);
}

#[test]
fn token_ids_are_refused_naming_input() {
    for input in [json!([1, 2, 3]), json!([[1, 2], [3]]), json!(["text", 4])] {
        let request = with(request(), "input", input);
        for error in [
            openai_to_gemini(&request, "gemini-embedding-001").unwrap_err(),
            openai_to_titan(&request).unwrap_err(),
            openai_to_cohere(&request).unwrap_err(),
        ] {
            assert_eq!(error.openai_body()["error"]["param"], "input");
            assert!(error.to_string().contains("token ids"), "{error}");
        }
    }
}

#[test]
fn malformed_requests_name_the_field() {
    let missing = json!({"model": "m"});
    assert_eq!(
        field_of(openai_to_gemini(&missing, "g").unwrap_err()),
        "input"
    );
    let empty = with(request(), "input", json!([]));
    assert_eq!(field_of(openai_to_cohere(&empty).unwrap_err()), "input");
    let object = with(request(), "input", json!({"text": "x"}));
    assert_eq!(field_of(openai_to_titan(&object).unwrap_err()), "input");
    let dimensions = with(request(), "dimensions", json!(-3));
    assert_eq!(
        field_of(openai_to_gemini(&dimensions, "g").unwrap_err()),
        "dimensions"
    );
    let format = with(request(), "encoding_format", json!("int8"));
    assert_eq!(
        field_of(openai_to_gemini(&format, "g").unwrap_err()),
        "encoding_format"
    );
    assert_eq!(
        openai_to_gemini(&json!(["x"]), "g").unwrap_err(),
        LlmError::NotAnObject
    );
}

#[test]
fn paths_name_the_model_once_and_encoded() {
    assert_eq!(
        gemini_path("gemini-embedding-001", None),
        "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    );
    assert_eq!(
        gemini_path("models/text-embedding-004", Some("/v1/")),
        "/v1/models/text-embedding-004:batchEmbedContents"
    );
    assert_eq!(
        gemini_path("../files?x", None),
        "/v1beta/models/..%2Ffiles%3Fx:batchEmbedContents"
    );
    assert_eq!(
        bedrock_invoke_path("amazon.titan-embed-text-v2:0"),
        "/model/amazon.titan-embed-text-v2%3A0/invoke"
    );
    assert_eq!(
        BedrockEmbedder::for_model("amazon.titan-embed-text-v2:0"),
        Some(BedrockEmbedder::Titan)
    );
    assert_eq!(
        BedrockEmbedder::for_model("us.cohere.embed-v4:0"),
        Some(BedrockEmbedder::Cohere)
    );
    assert_eq!(BedrockEmbedder::for_model("anthropic.claude-3-haiku"), None);
}

#[test]
fn titan_takes_one_text_per_call() {
    // The fixture asks for 8 dimensions, which Titan cannot produce.
    let error = openai_to_titan(&request()).unwrap_err();
    assert_eq!(field_of(error), "dimensions");

    let request = with(request(), "dimensions", json!(256));
    let bodies = openai_to_titan(&request).unwrap();
    assert_eq!(
        bodies,
        [
            json!({"inputText": "The food was delicious.", "dimensions": 256, "normalize": true}),
            json!({"inputText": "The service was slow.", "dimensions": 256, "normalize": true}),
        ]
    );
    let plain = json!({"input": "hello", "model": "m"});
    assert_eq!(
        openai_to_titan(&plain).unwrap(),
        [json!({"inputText": "hello", "normalize": true})]
    );
}

#[test]
fn titan_answers_become_one_list_with_summed_usage() {
    let responses = [
        json!({"embedding": FIRST, "inputTextTokenCount": 6,
               "embeddingsByType": {"float": FIRST}}),
        json!({"embedding": SECOND, "inputTextTokenCount": 5,
               "embeddingsByType": {"float": SECOND}}),
    ];
    let answer = titan_to_openai(&request(), &responses, "amazon.titan-embed-text-v2:0");
    assert_eq!(answer["object"], "list");
    assert_eq!(answer["model"], "amazon.titan-embed-text-v2:0");
    assert_eq!(
        answer["data"][0],
        json!({"object": "embedding", "index": 0, "embedding": FIRST})
    );
    assert_eq!(answer["data"][1]["embedding"], json!(SECOND));
    assert_eq!(
        answer["usage"],
        json!({"prompt_tokens": 11, "total_tokens": 11})
    );

    let base64 = with(request(), "encoding_format", json!("base64"));
    let answer = titan_to_openai(&base64, &responses, "amazon.titan-embed-text-v2:0");
    assert_base64_of(&answer["data"][0]["embedding"], &FIRST);
    assert_base64_of(&answer["data"][1]["embedding"], &SECOND);
}

#[test]
fn cohere_request_carries_every_text() {
    let body = openai_to_cohere(&request()).unwrap();
    assert_eq!(
        body,
        json!({"texts": ["The food was delicious.", "The service was slow."],
               "input_type": "search_document", "output_dimension": 8})
    );
    let query = json!({"input": "where is my order", "input_type": "search_query"});
    assert_eq!(
        openai_to_cohere(&query).unwrap(),
        json!({"texts": ["where is my order"], "input_type": "search_query"})
    );
    let bad_type = with(query, "input_type", json!("image"));
    assert_eq!(
        field_of(openai_to_cohere(&bad_type).unwrap_err()),
        "input_type"
    );
    let too_many = json!({"input": vec!["x"; 97]});
    assert_eq!(field_of(openai_to_cohere(&too_many).unwrap_err()), "input");
}

#[test]
fn cohere_answers_in_both_shapes() {
    let floats = json!({
        "id": "6a6d7d0e-3c1b-4c55-9d1e-3f1c2b7a9e10",
        "texts": ["The food was delicious.", "The service was slow."],
        "embeddings": [FIRST, SECOND],
        "response_type": "embeddings_floats"
    });
    let by_type = json!({
        "id": "b0c5e1f2-8f6e-4a4b-9c9d-2d7e6f5a4b3c",
        "texts": ["The food was delicious.", "The service was slow."],
        "embeddings": {"float": [FIRST, SECOND]},
        "response_type": "embeddings_by_type"
    });
    for response in [&floats, &by_type] {
        let answer = cohere_to_openai(&request(), response, "cohere.embed-v4:0", Some(12));
        assert_eq!(answer["data"][0]["embedding"], json!(FIRST));
        assert_eq!(answer["data"][1]["index"], 1);
        assert_eq!(answer["usage"]["prompt_tokens"], 12);
    }
    // Without Bedrock's token header: billed units if Cohere sent them, else an estimate.
    let mut billed = floats.clone();
    billed["meta"] = json!({"billed_units": {"input_tokens": 9}});
    let answer = cohere_to_openai(&request(), &billed, "cohere.embed-english-v3", None);
    assert_eq!(answer["usage"]["total_tokens"], 9);
    let answer = cohere_to_openai(&request(), &floats, "cohere.embed-english-v3", None);
    assert_eq!(answer["usage"]["prompt_tokens"], 10);

    let base64 = with(request(), "encoding_format", json!("base64"));
    let answer = cohere_to_openai(&base64, &by_type, "cohere.embed-v4:0", Some(12));
    assert_base64_of(&answer["data"][1]["embedding"], &SECOND);
}

#[test]
fn numbers_from_openai_compatible_providers_become_base64_when_asked() {
    let ollama = fixture_json("ollama/embeddings_response.json");
    let floats = json!({"model": "all-minilm", "input": "hi"});
    assert_eq!(apply_encoding_format(&floats, ollama.clone()), ollama);

    let base64 = with(floats, "encoding_format", json!("base64"));
    let answer = apply_encoding_format(&base64, ollama.clone());
    assert_base64_of(
        &answer["data"][0]["embedding"],
        &[0.0123, -0.0456, 0.0789, -0.0112],
    );
    assert_eq!(answer["usage"], ollama["usage"]);
    // A provider that did encode is left alone.
    assert_eq!(apply_encoding_format(&base64, answer.clone()), answer);
}

#[test]
fn missing_vectors_keep_their_place() {
    let gemini = json!({"embeddings": [{"values": FIRST}, {}]});
    let answer = gemini_to_openai(&request(), &gemini, "g");
    assert_eq!(
        answer["data"][1],
        json!({"object": "embedding", "index": 1, "embedding": []})
    );
    let answer = gemini_to_openai(&request(), &json!({"error": "x"}), "g");
    assert_eq!(answer["data"], json!([]));
}
