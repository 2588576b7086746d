use std::borrow::Cow;

use http::Request;
use http::request::Parts;
use serde_json::json;

use super::{
    ApiKeyAuthentication, ApiKeyError, ApiKeys, AuthMode, CredentialLocation, InvalidApiKey,
    Outcome, Rejection, extract, strip,
};

fn parts(uri: &str, headers: &[(&str, &str)]) -> Parts {
    let mut builder = Request::builder().uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(()).unwrap().into_parts().0
}

fn entries(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(id, value)| ((*id).to_owned(), (*value).to_owned()))
        .collect()
}

fn sha256_hex(key: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, key.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn plain_hashed_and_json_entries() {
    let keys = ApiKeys::new(entries(&[
        ("team-a", "sk-plain\n"),
        ("team-b", &format!("sha256:{}", sha256_hex("sk-hashed"))),
        (
            "team-c",
            r#"{"key": "sk-json", "metadata": {"team": "search", "tier": "gold"}}"#,
        ),
        (
            "team-d",
            &format!(
                r#"{{"keyHash": "sha256:{}"}}"#,
                sha256_hex("sk-json-hash").to_uppercase()
            ),
        ),
    ]))
    .unwrap();
    assert_eq!(keys.len(), 4);
    assert_eq!(keys.authenticate("sk-plain").unwrap().id, "team-a");
    assert_eq!(keys.authenticate("sk-hashed").unwrap().id, "team-b");
    let c = keys.authenticate("sk-json").unwrap();
    assert_eq!(c.id, "team-c");
    assert_eq!(c.metadata.get("tier"), Some(&json!("gold")));
    assert_eq!(keys.authenticate("sk-json-hash").unwrap().id, "team-d");
    assert!(keys.authenticate("sk-plain ").is_none());
    assert!(keys.authenticate("").is_none());
    // The hash text itself is not a key.
    assert!(
        keys.authenticate(&format!("sha256:{}", sha256_hex("sk-hashed")))
            .is_none()
    );
    assert!(keys.authenticate(&sha256_hex("sk-hashed")).is_none());
    // Debug shows ids, not digests.
    let debug = format!("{keys:?}");
    assert!(debug.contains("team-a") && !debug.contains(&sha256_hex("sk-plain")));
}

#[test]
fn bad_entries_are_all_reported_without_values() {
    let err = ApiKeys::new(entries(&[
        ("empty", "  "),
        ("bad-json", r#"{"key": "sk-secret-1", "extra": 1}"#),
        ("both", r#"{"key": "sk-secret-2", "keyHash": "sha256:00"}"#),
        ("bad-hash", r#"{"keyHash": "sha256:xyz"}"#),
        ("first", "sk-dup"),
        ("second", "sk-dup"),
    ]))
    .unwrap_err();
    let ApiKeyError::InvalidEntries { problems } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(problems.len(), 5, "{problems:#?}");
    assert!(problems[0].starts_with("entry 'empty': the value is empty"));
    assert!(problems[1].starts_with("entry 'bad-json': value starts with '{'"));
    assert!(problems[4].contains("entries 'first' and 'second' hold the same key"));
    let message = err.to_string();
    assert!(
        !message.contains("sk-secret") && !message.contains("sk-dup"),
        "{message}"
    );
    assert_eq!(ApiKeys::new(Vec::new()).unwrap_err(), ApiKeyError::NoKeys);
}

#[test]
fn extract_from_header_query_and_cookie() {
    let bearer = CredentialLocation::default();
    let p = parts("/v1/chat", &[("authorization", "bearer  sk-1 ")]);
    assert_eq!(extract(&bearer, &p).as_deref(), Some("sk-1"));
    let p = parts("/v1/chat", &[("authorization", "Basic abc")]);
    assert_eq!(extract(&bearer, &p), None);

    let x_api_key = CredentialLocation::header("x-api-key", None).unwrap();
    let p = parts("/", &[("x-api-key", "sk-2")]);
    assert!(matches!(
        extract(&x_api_key, &p),
        Some(Cow::Borrowed("sk-2"))
    ));
    assert_eq!(extract(&x_api_key, &parts("/", &[("x-api-key", "")])), None);

    let query = CredentialLocation::query_parameter("api key").unwrap();
    let p = parts("/path?a=1&api+key=sk%2F3%20x&b", &[]);
    assert_eq!(extract(&query, &p).as_deref(), Some("sk/3 x"));
    assert_eq!(extract(&query, &parts("/path?api=sk", &[])), None);
    assert_eq!(extract(&query, &parts("/path", &[])), None);

    let cookie = CredentialLocation::cookie("session").unwrap();
    let p = parts(
        "/",
        &[("cookie", "a=1; session=\"sk-4\""), ("cookie", "b=2")],
    );
    assert_eq!(extract(&cookie, &p).as_deref(), Some("sk-4"));
    let p = parts("/", &[("cookie", "a=1"), ("cookie", "session=sk-5")]);
    assert_eq!(extract(&cookie, &p).as_deref(), Some("sk-5"));
    assert_eq!(
        extract(&cookie, &parts("/", &[("cookie", "xsession=sk")])),
        None
    );
}

#[test]
fn strip_removes_only_the_credential() {
    let header = CredentialLocation::header("x-api-key", Some("Key ")).unwrap();
    let mut p = parts("/", &[("x-api-key", "Key sk"), ("x-other", "1")]);
    strip(&header, &mut p).unwrap();
    assert!(p.headers.get("x-api-key").is_none() && p.headers.get("x-other").is_some());

    let query = CredentialLocation::query_parameter("key").unwrap();
    let mut p = parts("http://h.example/v1/x?a=1&key=sk&b=2&k%65y=sk2", &[]);
    strip(&query, &mut p).unwrap();
    assert_eq!(p.uri, "http://h.example/v1/x?a=1&b=2");
    let mut p = parts("/v1/x?key=sk", &[]);
    strip(&query, &mut p).unwrap();
    assert_eq!(p.uri, "/v1/x");
    let mut p = parts("/v1/x?a=%20", &[]);
    strip(&query, &mut p).unwrap();
    assert_eq!(p.uri, "/v1/x?a=%20");

    let cookie = CredentialLocation::cookie("session").unwrap();
    let mut p = parts("/", &[("cookie", "a=1; session=sk"), ("cookie", "b=2")]);
    strip(&cookie, &mut p).unwrap();
    let values: Vec<_> = p.headers.get_all("cookie").iter().collect();
    assert_eq!(values, ["a=1; b=2"]);
    let mut p = parts("/", &[("cookie", "session=sk")]);
    strip(&cookie, &mut p).unwrap();
    assert!(p.headers.get("cookie").is_none());
}

#[test]
fn invalid_locations() {
    assert!(CredentialLocation::header("bad header", None).is_err());
    assert!(CredentialLocation::query_parameter("").is_err());
    assert!(CredentialLocation::cookie("a;b").is_err());
}

#[test]
fn authentication_modes() {
    let keys = || ApiKeys::new(entries(&[("team-a", "sk-good")])).unwrap();
    let auth = |mode| ApiKeyAuthentication::new(mode, CredentialLocation::default(), keys());
    let good = parts("/", &[("authorization", "Bearer sk-good")]);
    let bad = parts("/", &[("authorization", "Bearer sk-bad")]);
    let none = parts("/", &[]);

    let strict = auth(AuthMode::Strict);
    assert_eq!(
        strict.authenticate(&good).identity().map(|i| i.id.as_str()),
        Some("team-a")
    );
    assert!(matches!(
        strict.authenticate(&none),
        Outcome::Rejected(Rejection::Missing)
    ));
    assert!(matches!(
        strict.authenticate(&bad),
        Outcome::Rejected(Rejection::Invalid(InvalidApiKey))
    ));
    assert_eq!(InvalidApiKey.to_string(), "API key is not valid");

    let optional = auth(AuthMode::Optional);
    assert!(matches!(
        optional.authenticate(&none),
        Outcome::Anonymous { ignored: None }
    ));
    assert!(optional.authenticate(&bad).is_rejected());

    let permissive = auth(AuthMode::Permissive);
    assert!(matches!(
        permissive.authenticate(&bad),
        Outcome::Anonymous {
            ignored: Some(InvalidApiKey)
        }
    ));

    let mut forwarded = parts("/", &[("authorization", "Bearer sk-good")]);
    strict.strip_credential(&mut forwarded).unwrap();
    assert!(forwarded.headers.get("authorization").is_none());
}
