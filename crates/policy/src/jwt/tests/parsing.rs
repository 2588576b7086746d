//! Parsing around validation: JWKS documents, the `Authorization` header, the challenge, and
//! configuration errors.

use http::{HeaderMap, HeaderValue};
use serde_json::json;

use super::{ISS, b64};
use crate::jwt::{
    AuthMode, Jwks, JwksHandle, JwtError, JwtProvider, JwtValidator, Rejection, bearer_challenge,
    bearer_token,
};

#[test]
fn jwks_skips_unusable_keys_and_fails_when_none_is_left() {
    let keys = json!({"keys": [
        {"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"},
        {"kty": "RSA", "kid": "small", "n": b64(&[0xff; 128]), "e": "AQAB"},
        {"kty": "EC", "kid": "p521", "crv": "P-521", "x": "AA", "y": "AA"},
        {"kty": "OKP", "kid": "x", "crv": "X25519", "x": "AA"},
        {"kty": "oct", "kid": "mismatch", "alg": "RS256", "k": "c2VjcmV0"},
        {"kty": "RSA", "kid": "huge", "n": b64(&[0xff; 1025]), "e": "AQAB"},
        {"kty": "oct", "kid": "ok", "k": "c2VjcmV0"},
    ]});
    let parsed = Jwks::parse(&keys.to_string()).unwrap();
    assert_eq!(parsed.len(), 1);
    assert_eq!(parsed.keys()[0].kid(), Some("ok"));
    let reasons: Vec<String> = parsed.skipped().iter().map(ToString::to_string).collect();
    assert_eq!(
        reasons,
        [
            "key #0 (kid \"enc\"): \"use\" is \"enc\", not \"sig\"",
            "key #1 (kid \"small\"): RSA modulus has 1024 bits; at least 2048 are required",
            "key #2 (kid \"p521\"): curve \"P-521\" is not supported",
            "key #3 (kid \"x\"): curve \"X25519\" is not supported",
            "key #4 (kid \"mismatch\"): algorithm RS256 does not fit this key",
            "key #5 (kid \"huge\"): RSA modulus has 8200 bits; at most 8192 are supported",
        ]
    );
    // Secrets never show in Debug output.
    assert!(!format!("{parsed:?}").contains("c2VjcmV0"));

    let none_left = json!({"keys": [{"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"}]});
    let err = Jwks::parse(&none_left.to_string()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "JWKS has no usable key: key #0: curve \"P-521\" is not supported"
    );
    assert!(
        Jwks::parse("{\"k\": \"s3cr3t\"")
            .unwrap_err()
            .to_string()
            .contains("line 1")
    );
    assert!(
        !Jwks::parse(r#"{"keys": "s3cr3t"}"#)
            .unwrap_err()
            .to_string()
            .contains("s3cr3t")
    );
    // A single JWK is accepted as a set of one.
    assert_eq!(
        Jwks::parse(r#"{"kty": "oct", "k": "c2VjcmV0"}"#)
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn bearer_token_extraction_and_challenge() {
    let mut h = HeaderMap::new();
    assert_eq!(bearer_token(&h), None);
    for (value, expected) in [
        ("Bearer abc.def.ghi", Some("abc.def.ghi")),
        ("BEARER  abc", Some("abc")),
        ("Bearer ", None),
        ("Basic abc", None),
        ("Bearerabc", None),
    ] {
        h.insert(http::header::AUTHORIZATION, HeaderValue::from_static(value));
        assert_eq!(bearer_token(&h), expected, "{value}");
    }
    assert_eq!(bearer_challenge(&Rejection::Missing), "Bearer");
    assert_eq!(
        bearer_challenge(&Rejection::Invalid(JwtError::UntrustedIssuer(
            "x\"y".into()
        ))),
        "Bearer error=\"invalid_token\", error_description=\"issuer 'x'y' is not trusted\""
    );
}

#[test]
fn config_errors() {
    let p = || JwtProvider::new(ISS, vec![], JwksHandle::pending());
    assert!(JwtValidator::new(AuthMode::Strict, vec![]).is_err());
    assert_eq!(
        JwtValidator::new(AuthMode::Strict, vec![p(), p()])
            .unwrap_err()
            .to_string(),
        format!("issuer '{ISS}' is configured by more than one JWT provider")
    );
}

#[test]
fn policies_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<JwtValidator>();
    shareable::<crate::apikey::ApiKeyAuthentication>();
    shareable::<crate::basic::BasicAuthentication>();
}
