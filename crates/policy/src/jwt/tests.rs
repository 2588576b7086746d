//! Tokens signed here with ring (RSA from the shared fake service-account key, ECDSA and
//! Ed25519 generated per run, HMAC with a fixed secret) and validated against JWKS built from
//! their public parts.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::{HeaderMap, HeaderValue};
use ring::hmac;
use ring::rand::SystemRandom;
use ring::signature::{
    self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair, RsaPublicKeyComponents,
};
use serde_json::{Value, json};

use super::{AuthMode, Jwks, JwksHandle, JwtError, JwtProvider, JwtValidator, Outcome, Rejection};

mod parsing;

const ISS: &str = "https://idp.example.com";
const AUD: &str = "gateway";
const NOW: u64 = 1_700_000_000;
const HMAC_SECRET: &[u8] = b"a-test-hmac-secret-of-32-bytes!!";

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn rsa_key() -> RsaKeyPair {
    let path = format!(
        "{}/../../../shared/fixtures/providers/vertex/service_account.FAKE.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let sa: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let pem = sa["private_key"].as_str().unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    RsaKeyPair::from_pkcs8(&STANDARD.decode(body).unwrap()).unwrap()
}

fn rsa_jwk(key: &RsaKeyPair, kid: &str) -> Value {
    let public = RsaPublicKeyComponents::<Vec<u8>>::from(key.public());
    json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64(&public.n), "e": b64(&public.e)})
}

fn ec_key() -> EcdsaKeyPair {
    let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
    EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap()
}

fn ed_key() -> Ed25519KeyPair {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap()
}

fn jwks(keys: &[Value]) -> Jwks {
    Jwks::parse(&json!({ "keys": keys }).to_string()).unwrap()
}

fn validator(keys: Jwks) -> JwtValidator {
    let provider = JwtProvider::new(ISS, vec![AUD.to_owned()], JwksHandle::new(keys));
    JwtValidator::new(AuthMode::Strict, vec![provider]).unwrap()
}

fn claims() -> Value {
    json!({"iss": ISS, "aud": AUD, "sub": "alice", "iat": NOW - 10, "exp": NOW + 300,
           "realm_access": {"roles": ["admin", "dev"]}})
}

/// A compact JWS with the given header and claims, signed by `sign` over `header.payload`.
fn token(header: Value, claims: &Value, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    let signing_input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = sign(signing_input.as_bytes());
    format!("{signing_input}.{}", b64(&signature))
}

fn rs256(key: &RsaKeyPair, kid: &str, claims: &Value) -> String {
    token(
        json!({"alg": "RS256", "typ": "JWT", "kid": kid}),
        claims,
        |msg| {
            let mut sig = vec![0; key.public().modulus_len()];
            key.sign(
                &signature::RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                msg,
                &mut sig,
            )
            .unwrap();
            sig
        },
    )
}

fn hs256(secret: &[u8], kid: Option<&str>, claims: &Value) -> String {
    let header = match kid {
        Some(kid) => json!({"alg": "HS256", "kid": kid}),
        None => json!({"alg": "HS256"}),
    };
    token(header, claims, |msg| {
        hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), msg)
            .as_ref()
            .to_vec()
    })
}

#[test]
fn rs256_valid_token_yields_claims() {
    let key = rsa_key();
    let v = validator(jwks(&[rsa_jwk(&key, "rsa-1")]));
    let claims = v.validate(&rs256(&key, "rsa-1", &claims()), NOW).unwrap();
    assert_eq!(claims.sub(), Some("alice"));
    assert_eq!(claims.iss(), Some(ISS));
    assert_eq!(
        claims.get("realm_access.roles"),
        Some(&json!(["admin", "dev"]))
    );
    assert_eq!(claims.get("realm_access.roles.1"), Some(&json!("dev")));
    assert_eq!(claims.get("realm_access.missing"), None);
}

#[test]
fn ps256_es256_eddsa_and_hs256_verify() {
    let rsa = rsa_key();
    let ec = ec_key();
    let ed = ed_key();
    let ec_point = ec.public_key().as_ref();
    let keys = jwks(&[
        // No `alg` on the RSA key: it then serves RS* and PS* alike.
        json!({"kty": "RSA", "kid": "rsa", "n": b64(&RsaPublicKeyComponents::<Vec<u8>>::from(rsa.public()).n), "e": "AQAB"}),
        json!({"kty": "EC", "kid": "ec", "crv": "P-256", "x": b64(&ec_point[1..33]), "y": b64(&ec_point[33..])}),
        json!({"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": b64(ed.public_key().as_ref())}),
        json!({"kty": "oct", "kid": "hs", "k": b64(HMAC_SECRET)}),
    ]);
    let v = validator(keys);
    let rng = SystemRandom::new();
    let ps = token(json!({"alg": "PS256", "kid": "rsa"}), &claims(), |msg| {
        let mut sig = vec![0; rsa.public().modulus_len()];
        rsa.sign(&signature::RSA_PSS_SHA256, &rng, msg, &mut sig)
            .unwrap();
        sig
    });
    let es = token(json!({"alg": "ES256", "kid": "ec"}), &claims(), |msg| {
        ec.sign(&rng, msg).unwrap().as_ref().to_vec()
    });
    let eddsa = token(json!({"alg": "EdDSA", "kid": "ed"}), &claims(), |msg| {
        ed.sign(msg).as_ref().to_vec()
    });
    let hs = hs256(HMAC_SECRET, Some("hs"), &claims());
    for t in [ps, es, eddsa, hs] {
        assert_eq!(v.validate(&t, NOW).unwrap().sub(), Some("alice"));
    }
}

#[test]
fn expiry_honours_leeway() {
    let v = validator(jwks(&[json!({"kty": "oct", "k": b64(HMAC_SECRET)})]));
    let mut c = claims();
    c["exp"] = json!(NOW - 30); // expired, but within the 60 s leeway
    assert!(v.validate(&hs256(HMAC_SECRET, None, &c), NOW).is_ok());
    c["exp"] = json!(NOW - 61);
    let err = v.validate(&hs256(HMAC_SECRET, None, &c), NOW).unwrap_err();
    assert_eq!(err, JwtError::Expired(NOW - 61));
    assert_eq!(err.to_string(), "token expired at 2023-11-14T22:12:19Z");
    // With no leeway the 30 s case is refused too.
    c["exp"] = json!(NOW - 30);
    let strict = v.with_leeway(Duration::ZERO);
    assert!(matches!(
        strict.validate(&hs256(HMAC_SECRET, None, &c), NOW),
        Err(JwtError::Expired(_))
    ));
}

#[test]
fn nbf_in_future_iat_in_future_and_missing_exp() {
    let v = validator(jwks(&[json!({"kty": "oct", "k": b64(HMAC_SECRET)})]));
    let mut c = claims();
    c["nbf"] = json!(NOW + 120);
    assert_eq!(
        v.validate(&hs256(HMAC_SECRET, None, &c), NOW),
        Err(JwtError::NotYetValid(NOW + 120))
    );
    c["nbf"] = json!(NOW + 30); // within leeway
    assert!(v.validate(&hs256(HMAC_SECRET, None, &c), NOW).is_ok());
    let mut c = claims();
    c["iat"] = json!(NOW + 3600);
    assert_eq!(
        v.validate(&hs256(HMAC_SECRET, None, &c), NOW),
        Err(JwtError::IssuedInFuture(NOW + 3600))
    );
    let mut c = claims();
    c.as_object_mut().unwrap().remove("exp");
    let t = hs256(HMAC_SECRET, None, &c);
    assert_eq!(v.validate(&t, NOW), Err(JwtError::MissingExpiry));
    assert!(v.require_expiry(false).validate(&t, NOW).is_ok());
}

#[test]
fn wrong_issuer_and_wrong_audience_are_refused() {
    let v = validator(jwks(&[json!({"kty": "oct", "k": b64(HMAC_SECRET)})]));
    let mut c = claims();
    c["iss"] = json!("https://evil.example.com");
    let err = v.validate(&hs256(HMAC_SECRET, None, &c), NOW).unwrap_err();
    assert_eq!(
        err.to_string(),
        "issuer 'https://evil.example.com' is not trusted"
    );
    let mut c = claims();
    c["aud"] = json!(["other", "another"]);
    assert_eq!(
        v.validate(&hs256(HMAC_SECRET, None, &c), NOW),
        Err(JwtError::AudienceMismatch)
    );
    c["aud"] = json!(["other", AUD]);
    assert!(v.validate(&hs256(HMAC_SECRET, None, &c), NOW).is_ok());
    c.as_object_mut().unwrap().remove("aud");
    assert_eq!(
        v.validate(&hs256(HMAC_SECRET, None, &c), NOW),
        Err(JwtError::AudienceMismatch)
    );
}

#[test]
fn tampered_payload_fails_signature() {
    let key = rsa_key();
    let v = validator(jwks(&[rsa_jwk(&key, "rsa-1")]));
    let t = rs256(&key, "rsa-1", &claims());
    let mut forged = claims();
    forged["sub"] = json!("admin");
    let parts: Vec<&str> = t.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(forged.to_string().as_bytes()),
        parts[2]
    );
    let err = v.validate(&tampered, NOW).unwrap_err();
    assert_eq!(err, JwtError::SignatureInvalid);
    assert_eq!(err.to_string(), "signature invalid");
}

#[test]
fn hs256_signed_with_rsa_public_key_is_refused() {
    let key = rsa_key();
    let jwk = rsa_jwk(&key, "rsa-1");
    let unpinned = json!({"kty": "RSA", "kid": "rsa-1", "n": jwk["n"], "e": jwk["e"]});
    let public_der = key.public().as_ref().to_vec();
    let n = RsaPublicKeyComponents::<Vec<u8>>::from(key.public()).n;
    for keys in [jwks(std::slice::from_ref(&jwk)), jwks(&[unpinned])] {
        let v = validator(keys);
        for secret in [&public_der, &n] {
            let t = hs256(secret, Some("rsa-1"), &claims());
            assert!(matches!(
                v.validate(&t, NOW),
                Err(JwtError::AlgorithmMismatch { .. })
            ));
        }
    }
}

#[test]
fn none_and_unknown_algorithms_are_refused() {
    let v = validator(jwks(&[json!({"kty": "oct", "k": b64(HMAC_SECRET)})]));
    for alg in ["none", "None", "ES512", "HS1"] {
        let t = token(json!({"alg": alg}), &claims(), |_| Vec::new());
        assert_eq!(
            v.validate(&t, NOW),
            Err(JwtError::AlgorithmNotAllowed(alg.to_owned()))
        );
    }
    let no_sig = format!(
        "{}.{}.",
        b64(br#"{"alg":"none"}"#),
        b64(claims().to_string().as_bytes())
    );
    assert!(matches!(
        v.validate(&no_sig, NOW),
        Err(JwtError::AlgorithmNotAllowed(_))
    ));
}

#[test]
fn malformed_tokens_are_refused_without_echo() {
    let v = validator(jwks(&[json!({"kty": "oct", "k": b64(HMAC_SECRET)})]));
    for t in [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "!!!.e30.",
        "e30.!!!.",
        "e30.e30.@@",
    ] {
        let err = v.validate(t, NOW).unwrap_err();
        assert!(matches!(err, JwtError::Malformed(_)), "{t}: {err}");
    }
    let secret_looking = "eyJzZWNyZXQiOiJzM2NyM3QifQ.e30.sig";
    let message = v.validate(secret_looking, NOW).unwrap_err().to_string();
    assert!(!message.contains("eyJ"), "{message}");
}

#[test]
fn unknown_kid_and_key_rotation() {
    let old = rsa_key();
    let new = ec_key();
    let handle = JwksHandle::new(jwks(&[rsa_jwk(&old, "2024")]));
    let provider = JwtProvider::new(ISS, vec![], handle.clone());
    let v = JwtValidator::new(AuthMode::Strict, vec![provider]).unwrap();

    let point = new.public_key().as_ref();
    let new_token = token(json!({"alg": "ES256", "kid": "2025"}), &claims(), |msg| {
        new.sign(&SystemRandom::new(), msg)
            .unwrap()
            .as_ref()
            .to_vec()
    });
    let old_token = rs256(&old, "2024", &claims());
    assert!(v.validate(&old_token, NOW).is_ok());
    assert_eq!(
        v.validate(&new_token, NOW).unwrap_err().to_string(),
        format!("no key with id '2025' for issuer '{ISS}'")
    );

    // The proxy fetched the rotated set and swaps it in through its clone of the handle.
    handle.replace(jwks(&[json!({"kty": "EC", "kid": "2025", "crv": "P-256",
        "x": b64(&point[1..33]), "y": b64(&point[33..])})]));
    assert!(v.validate(&new_token, NOW).is_ok());
    assert!(matches!(
        v.validate(&old_token, NOW),
        Err(JwtError::UnknownKey { .. })
    ));
}

#[test]
fn no_kid_tries_every_key_and_pending_set_is_reported() {
    let v = validator(jwks(&[
        json!({"kty": "oct", "kid": "a", "k": b64(b"some other secret value")}),
        json!({"kty": "oct", "kid": "b", "k": b64(HMAC_SECRET)}),
    ]));
    assert!(
        v.validate(&hs256(HMAC_SECRET, None, &claims()), NOW)
            .is_ok()
    );
    assert_eq!(
        v.validate(&hs256(b"wrong", None, &claims()), NOW),
        Err(JwtError::SignatureInvalid)
    );

    let pending = JwtProvider::new(ISS, vec![], JwksHandle::pending());
    let v = JwtValidator::new(AuthMode::Strict, vec![pending]).unwrap();
    assert_eq!(
        v.validate(&hs256(HMAC_SECRET, None, &claims()), NOW),
        Err(JwtError::KeysUnavailable(ISS.to_owned()))
    );
}

#[test]
fn authenticate_applies_modes() {
    let keys = || jwks(&[json!({"kty": "oct", "k": b64(HMAC_SECRET)})]);
    let with_mode = |mode| {
        let p = JwtProvider::new(ISS, vec![AUD.to_owned()], JwksHandle::new(keys()));
        JwtValidator::new(mode, vec![p]).unwrap()
    };
    let headers = |value: Option<&str>| {
        let mut h = HeaderMap::new();
        if let Some(v) = value {
            h.insert(
                http::header::AUTHORIZATION,
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    };
    let good = format!("Bearer {}", hs256(HMAC_SECRET, None, &claims()));
    let bad = format!("bearer {}", hs256(b"wrong", None, &claims()));

    let strict = with_mode(AuthMode::Strict);
    assert!(matches!(
        strict.authenticate(&headers(Some(&good)), NOW),
        Outcome::Authenticated(_)
    ));
    assert!(matches!(
        strict.authenticate(&headers(None), NOW),
        Outcome::Rejected(Rejection::Missing)
    ));
    assert!(matches!(
        strict.authenticate(&headers(Some(&bad)), NOW),
        Outcome::Rejected(Rejection::Invalid(JwtError::SignatureInvalid))
    ));

    let optional = with_mode(AuthMode::Optional);
    assert!(matches!(
        optional.authenticate(&headers(None), NOW),
        Outcome::Anonymous { ignored: None }
    ));
    assert!(matches!(
        optional.authenticate(&headers(Some("Basic dXNlcjpwdw==")), NOW),
        Outcome::Anonymous { ignored: None }
    ));
    assert!(
        optional
            .authenticate(&headers(Some(&bad)), NOW)
            .is_rejected()
    );

    let permissive = with_mode(AuthMode::Permissive);
    assert!(matches!(
        permissive.authenticate(&headers(Some(&bad)), NOW),
        Outcome::Anonymous {
            ignored: Some(JwtError::SignatureInvalid)
        }
    ));
    let ok = permissive.authenticate(&headers(Some(&good)), NOW);
    assert_eq!(ok.identity().and_then(|c| c.sub()), Some("alice"));
}
