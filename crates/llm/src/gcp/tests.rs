//! Tests for the Google Cloud pieces, against the shared Vertex fixtures.

use super::*;
use ring::signature::{KeyPair, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use serde_json::json;

fn fixture_json(path: &str) -> Value {
    serde_json::from_slice(&crate::fixture(path)).unwrap()
}

/// The fake key file with `changes` applied; a `null` removes the field.
fn key_file(changes: Value) -> String {
    let mut file = fixture_json("vertex/service_account.FAKE.json");
    for (name, value) in changes.as_object().unwrap() {
        match value {
            Value::Null => file.as_object_mut().unwrap().remove(name),
            _ => file
                .as_object_mut()
                .unwrap()
                .insert(name.clone(), value.clone()),
        };
    }
    file.to_string()
}

fn fake_account() -> ServiceAccount {
    ServiceAccount::from_json(&key_file(json!({}))).unwrap()
}

fn decode_json(segment: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
}

#[test]
fn parses_the_fake_service_account_without_printing_the_key() {
    // Debug shows every parsed field, and must show no key material.
    assert_eq!(
        format!("{:?}", fake_account()),
        "ServiceAccount { client_email: \"gateway-fake@example-project-123456.iam.gserviceaccount.com\", \
         private_key_id: \"0123456789abcdef0123456789abcdef01234567\", \
         token_uri: \"https://oauth2.googleapis.com/token\", \
         project_id: Some(\"example-project-123456\"), key: \"<redacted>\" }"
    );

    // Escaped newlines are tolerated; a missing token_uri means Google's.
    let pem = fixture_json("vertex/service_account.FAKE.json")["private_key"].clone();
    let escaped = pem.as_str().unwrap().replace('\n', "\\n");
    let changes = json!({"private_key": escaped, "token_uri": null, "project_id": null});
    let account = ServiceAccount::from_json(&key_file(changes)).unwrap();
    assert_eq!(
        (account.token_uri.as_str(), account.project_id),
        (DEFAULT_TOKEN_URI, None)
    );
}

#[test]
fn assertion_matches_the_test_vector_and_verifies() {
    let vector = fixture_json("vertex/oauth_jwt_assertion.json");
    let account = fake_account();
    let jwt = account
        .assertion(
            CLOUD_PLATFORM_SCOPE,
            vector["claims"]["iat"].as_u64().unwrap(),
        )
        .unwrap();
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    assert_eq!(decode_json(parts[0]), vector["header"]);
    assert_eq!(decode_json(parts[1]), vector["claims"]);
    let signing_input = format!("{}.{}", parts[0], parts[1]);
    assert_eq!(signing_input, vector["signing_input"].as_str().unwrap());
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    UnparsedPublicKey::new(
        &RSA_PKCS1_2048_8192_SHA256,
        account.key.public_key().as_ref(),
    )
    .verify(signing_input.as_bytes(), &signature)
    .unwrap();
    // PKCS#1 v1.5 signing is deterministic, so the whole JWT must match byte for byte.
    assert_eq!(jwt, vector["assertion"].as_str().unwrap());
}

#[test]
fn token_request_body_matches_the_captured_request() {
    let vector = fixture_json("vertex/oauth_jwt_assertion.json");
    let request = String::from_utf8(crate::fixture("vertex/oauth_token_request.http")).unwrap();
    let body = token_request_body(vector["assertion"].as_str().unwrap());
    assert_eq!(body, request.lines().last().unwrap().trim());
    assert_eq!(percent_encode("a b+c/=&~", &[]), "a%20b%2Bc%2F%3D%26~");
}

#[test]
fn parses_token_responses() {
    let body = crate::fixture("vertex/oauth_token_response.json");
    let token = parse_token_response(200, &body).unwrap();
    assert!(token.token.starts_with("ya29.c.FAKE-access-token"));
    assert_eq!(token.expires_in, Duration::from_secs(3599));
    assert!(!format!("{token:?}").contains("ya29"));
}

#[test]
fn token_errors_carry_the_oauth_error() {
    let body = crate::fixture("vertex/oauth_token_error.json");
    let error = parse_token_response(400, &body).unwrap_err();
    assert!(matches!(
        &error,
        GcpError::TokenRejected { status: 400, error, description, .. }
            if error == "invalid_grant" && description == "Invalid JWT Signature."
    ));
    let message = error.to_string();
    assert!(
        message.contains("invalid_grant: Invalid JWT Signature. (check"),
        "{message}"
    );

    let html = parse_token_response(502, b"<html>Bad Gateway</html>").unwrap_err();
    assert!(
        html.to_string()
            .ends_with("HTTP 502 with an unexpected body: <html>Bad Gateway</html>")
    );
    let long = parse_token_response(500, &[b'x'; 300])
        .unwrap_err()
        .to_string();
    assert!(long.ends_with(&format!(": {}", "x".repeat(200))), "{long}");
}

#[test]
fn malformed_token_responses_never_echo_the_token() {
    let cases: [&[u8]; 5] = [
        br#"{"access_token":"secret-token","token_type":"Bearer"}"#,
        br#"{"access_token":"secret-token","expires_in":-1}"#,
        br#"{"access_token":"secret-token","expires_in":60,"token_type":"MAC"}"#,
        br#"{"access_token":"secret-token""#,
        br#"{"expires_in":60, "note":"secret-token"}"#,
    ];
    for body in cases {
        let error = parse_token_response(200, body).unwrap_err();
        assert!(matches!(error, GcpError::BadTokenResponse(_)), "{error}");
        assert!(!error.to_string().contains("secret-token"), "{error}");
    }
}

#[test]
fn rejects_the_wrong_kind_of_credentials() {
    let error = ServiceAccount::from_json(&key_file(json!({"type": "authorized_user"})));
    assert_eq!(
        error.unwrap_err().to_string(),
        "the Secret must hold a service-account JSON key file; got type 'authorized_user'"
    );
    let missing = ServiceAccount::from_json(&key_file(json!({"client_email": null})));
    assert_eq!(missing.unwrap_err(), GcpError::MissingField("client_email"));
    let not_json = ServiceAccount::from_json("-----BEGIN PRIVATE KEY-----").unwrap_err();
    assert!(matches!(&not_json, GcpError::NotJson(m) if !m.contains("BEGIN")));
}

#[test]
fn rejects_garbage_keys_without_echoing_them() {
    for pem in [
        "secret key text",
        "-----BEGIN PRIVATE KEY-----\nc2VjcmV0!!\n-----END PRIVATE KEY-----\n",
        "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWJ5dGVz\n-----END PRIVATE KEY-----\n",
        "-----BEGIN RSA PRIVATE KEY-----\nc2VjcmV0\n-----END RSA PRIVATE KEY-----",
    ] {
        let error = ServiceAccount::from_json(&key_file(json!({"private_key": pem})));
        let message = error.unwrap_err().to_string();
        assert!(message.contains("`private_key` is unusable"), "{message}");
        assert!(
            !message.contains("c2VjcmV0") && !message.contains("secret"),
            "{message}"
        );
    }
}

#[test]
fn vertex_urls() {
    let (gemini, claude) = ("gemini-2.5-flash", "claude-sonnet-4-5@20250929");
    let regional = "/v1/projects/p-1/locations/us-east5/publishers";
    let global = "/v1/projects/p-1/locations/global/publishers";
    let cases = [
        (
            vertex_host("us-east5"),
            "us-east5-aiplatform.googleapis.com",
        ),
        (vertex_host("global"), "aiplatform.googleapis.com"),
        (vertex_host("eu"), "aiplatform.eu.rep.googleapis.com"),
        (vertex_host("us"), "aiplatform.us.rep.googleapis.com"),
        (
            vertex_gemini_path("p-1", "us-east5", gemini, false),
            &format!("{regional}/google/models/{gemini}:generateContent"),
        ),
        (
            vertex_gemini_path("p-1", "global", gemini, true),
            &format!("{global}/google/models/{gemini}:streamGenerateContent?alt=sse"),
        ),
        (
            vertex_anthropic_path("p-1", "us-east5", claude, false),
            &format!("{regional}/anthropic/models/claude-sonnet-4-5@20250929:rawPredict"),
        ),
        (
            vertex_anthropic_path("p-1", "global", claude, true),
            &format!("{global}/anthropic/models/{claude}:streamRawPredict"),
        ),
        // A client-chosen model name must not reach another resource or method.
        (
            vertex_anthropic_path("..", "r", "../x:y?z#w", false),
            "/v1/projects/%2E%2E/locations/r/publishers/anthropic/models/..%2Fx%3Ay%3Fz%23w:rawPredict",
        ),
    ];
    for (url, expected) in cases {
        assert_eq!(url, expected);
    }
}

#[test]
fn anthropic_body_rewrite() {
    let expected = fixture_json("vertex/anthropic_raw_predict_request.json");
    let mut body = expected.clone();
    let fields = body.as_object_mut().unwrap();
    fields.remove("anthropic_version");
    fields.insert("model".to_string(), json!("claude-sonnet-4-5@20250929"));
    anthropic_body_for_vertex(&mut body);
    assert_eq!(body, expected);

    let mut pinned = json!({"model": "m", "anthropic_version": "vertex-2099-01-01"});
    anthropic_body_for_vertex(&mut pinned);
    assert_eq!(pinned, json!({"anthropic_version": "vertex-2099-01-01"}));
}
