//! Value expressions (rate-limit descriptor values): what each kind of result renders as, and
//! that they are refused at compile time exactly as rules are.

use serde_json::json;

use super::super::{AuthzError, ValueExpression, compile_value};
use super::{Req, alice, claims};

fn value(expression: &str, req: &Req) -> Option<String> {
    compile_value(expression).unwrap().eval(&req.attrs())
}

fn some(s: &str) -> Option<String> {
    Some(s.to_owned())
}

#[test]
fn value_expression_is_send_sync_and_clone() {
    fn assert_traits<T: Send + Sync + Clone>() {}
    assert_traits::<ValueExpression>();
}

#[test]
fn jwt_claims() {
    let req = alice();
    assert_eq!(value("jwt.sub", &req), some("alice"));
    assert_eq!(value("jwt.org.id", &req), some("acme"));
    // Numbers are formatted: an int claim, and a uint too big for an int.
    assert_eq!(value("jwt.org.tier", &req), some("2"));
    assert_eq!(value("jwt.exp", &req), some("1700000000"));
    let big = Req::new().jwt(json!({"n": u64::MAX, "ratio": 1.5, "admin": true}));
    assert_eq!(value("jwt.n", &big), some("18446744073709551615"));
    assert_eq!(value("jwt.ratio", &big), some("1.5"));
    assert_eq!(value("jwt.admin", &big), some("true"));
}

#[test]
fn missing_values_are_none() {
    let req = alice();
    assert_eq!(value("jwt.team", &req), None, "missing claim");
    assert_eq!(value("jwt.sub", &Req::new()), None, "no token");
    assert_eq!(value(r#"request.headers["x-team"]"#, &req), None);
    assert_eq!(value("source.address", &req), None, "unknown client");
    assert_eq!(value("apiKey.id", &req), None, "no key");
    assert_eq!(value("jwt.sub + 1", &req), None, "evaluation error");
}

#[test]
fn non_scalars_are_none() {
    let req = alice().jwt(json!({"sub": "alice", "roles": ["a"], "org": {"id": 1}, "x": null}));
    assert_eq!(value("jwt.roles", &req), None);
    assert_eq!(value("jwt.org", &req), None);
    assert_eq!(value("jwt.x", &req), None);
    assert_eq!(value("b'abc'", &req), None);
}

#[test]
fn optionals_are_their_value() {
    let req = alice();
    assert_eq!(value("jwt.?sub", &req), some("alice"));
    assert_eq!(value("jwt.?team", &req), None);
    assert_eq!(value(r#"jwt.?team.orValue("none")"#, &req), some("none"));
    assert_eq!(
        value(r#"request.headers[?"x-team"].orValue("default")"#, &req),
        some("default")
    );
}

#[test]
fn headers_source_and_api_key() {
    let mut req = Req::new().header("x-team", "search");
    assert_eq!(value(r#"request.headers["x-team"]"#, &req), some("search"));
    req.source_ip = Some("10.1.2.3".parse().unwrap());
    assert_eq!(value("source.address", &req), some("10.1.2.3"));
    req.api_key = Some(("team-a-key", claims(json!({"tier": "gold"}))));
    assert_eq!(value("apiKey.id", &req), some("team-a-key"));
    assert_eq!(value("apiKey.tier", &req), some("gold"));
}

#[test]
fn computed_values() {
    let req = Req::new();
    assert_eq!(
        value(r#"request.method + ":" + request.path"#, &req),
        some("GET:/v1/chat")
    );
    assert_eq!(value("request.path.matches('^/v1/')", &req), some("true"));
    // The same rendering as CEL's own `string()`.
    for scalar in ["42", "42u", "1.5", "-0.25", "true", "1e21"] {
        let rendered = value(scalar, &req);
        assert!(rendered.is_some(), "{scalar}");
        assert_eq!(
            rendered,
            value(&format!("string({scalar})"), &req),
            "{scalar}"
        );
    }
}

#[test]
fn references_report_what_is_read() {
    let jwt = compile_value("jwt.sub").unwrap();
    assert!(jwt.references_jwt() && !jwt.references_api_key() && !jwt.references_mcp());
    let key = compile_value("apiKey.id").unwrap();
    assert!(key.references_api_key() && !key.references_jwt());
    assert_eq!(key.source(), "apiKey.id");
    assert_eq!(format!("{key:?}"), r#"ValueExpression("apiKey.id")"#);
}

#[test]
fn compile_errors_are_those_of_rules() {
    let err = |expression: &str| compile_value(expression).unwrap_err();
    assert!(matches!(err("jwt.sub +"), AuthzError::Parse { .. }));
    assert!(matches!(
        err("user.sub"),
        AuthzError::UnknownVariable { name, .. } if name == "user"
    ));
    assert!(matches!(
        err("request.user"),
        AuthzError::UnknownField { field, .. } if field == "user"
    ));
    assert!(matches!(
        err(r#"request.headers["X-Team"]"#),
        AuthzError::UpperCaseHeader { .. }
    ));
    assert!(matches!(
        err("request.path.matches('[')"),
        AuthzError::InvalidRegex { .. }
    ));
    let long = format!("'{}'", "a".repeat(5000));
    assert!(matches!(err(&long), AuthzError::TooLong { .. }));
    let deep = format!("{}1", "1 + ".repeat(200));
    assert!(matches!(err(&deep), AuthzError::TooDeep { .. }));
    let message = err("jwt.sub +").to_string();
    assert!(message.contains("`jwt.sub +`"), "{message}");
}
