//! Rule sets compiled from expression text and checked against hand-built requests: compile
//! errors and the combining semantics here, the variables in `attributes`.

mod attributes;
mod expression;

use std::net::IpAddr;

use http::{HeaderMap, HeaderValue};
use serde_json::{Map, Value, json};

use super::{
    Action, Authorizer, AuthzError, Decision, McpAttributes, RequestAttributes, RuleSet, compile,
};

fn rules(action: Action, expressions: &[&str]) -> RuleSet {
    let expressions: Vec<String> = expressions.iter().map(|e| (*e).to_owned()).collect();
    compile(&expressions, action).unwrap()
}

fn compile_err(expression: &str) -> AuthzError {
    compile(&[expression.to_owned()], Action::Allow).unwrap_err()
}

fn claims(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

/// A request built field by field; `attrs()` borrows it.
struct Req {
    method: &'static str,
    path: &'static str,
    host: &'static str,
    headers: HeaderMap,
    source_ip: Option<IpAddr>,
    jwt: Option<Map<String, Value>>,
    api_key: Option<(&'static str, Map<String, Value>)>,
    mcp: Option<McpAttributes<'static>>,
}

impl Req {
    fn new() -> Req {
        Req {
            method: "GET",
            path: "/v1/chat",
            host: "api.example.com",
            headers: HeaderMap::new(),
            source_ip: None,
            jwt: None,
            api_key: None,
            mcp: None,
        }
    }

    fn header(mut self, name: &'static str, value: &'static str) -> Req {
        self.headers.append(name, HeaderValue::from_static(value));
        self
    }

    fn jwt(mut self, value: Value) -> Req {
        self.jwt = Some(claims(value));
        self
    }

    fn attrs(&self) -> RequestAttributes<'_> {
        RequestAttributes {
            method: self.method,
            path: self.path,
            host: self.host,
            headers: &self.headers,
            source_ip: self.source_ip,
            jwt: self.jwt.as_ref(),
            api_key: self.api_key.as_ref().map(|(id, meta)| (*id, meta)),
            mcp: self.mcp,
        }
    }
}

fn check(sets: Vec<RuleSet>, req: &Req) -> Decision {
    Authorizer::new(sets).check(&req.attrs())
}

fn allowed(sets: Vec<RuleSet>, req: &Req) -> bool {
    check(sets, req) == Decision::Allowed
}

/// One Allow rule with one expression: true when the expression is true for `req`.
fn holds(expression: &str, req: &Req) -> bool {
    allowed(vec![rules(Action::Allow, &[expression])], req)
}

fn alice() -> Req {
    Req::new().jwt(json!({
        "sub": "alice",
        "roles": ["admin", "dev"],
        "org": {"id": "acme", "tier": 2},
        "exp": 1_700_000_000u64,
    }))
}

#[test]
fn authorizer_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Authorizer>();
    assert_send_sync::<RuleSet>();
}

// === compile errors ===

#[test]
fn parse_error_names_expression_and_parser_message() {
    let err = compile_err("jwt.sub ==");
    let AuthzError::Parse {
        expression,
        message,
    } = &err
    else {
        panic!("unexpected {err:?}");
    };
    assert_eq!(expression, "jwt.sub ==");
    assert!(message.starts_with("1:"), "{message}");
    assert!(err.to_string().contains("`jwt.sub ==`"), "{err}");
}

#[test]
fn second_bad_expression_is_the_one_named() {
    let exprs = ["jwt.sub == 'a'".to_owned(), "request.path.(".to_owned()];
    let err = compile(&exprs, Action::Deny).unwrap_err();
    assert!(err.to_string().contains("`request.path.(`"), "{err}");
}

#[test]
fn empty_rule_set_is_refused() {
    assert_eq!(
        compile(&[], Action::Allow).unwrap_err(),
        AuthzError::NoExpressions
    );
}

#[test]
fn unknown_variable_is_refused_but_macro_variables_are_not() {
    assert_eq!(
        compile_err("jwtt.sub == 'a'"),
        AuthzError::UnknownVariable {
            expression: "jwtt.sub == 'a'".into(),
            name: "jwtt".into()
        }
    );
    rules(Action::Allow, &["jwt.roles.exists(r, r == 'admin')"]);
    rules(Action::Allow, &["jwt.groups.all(g, g.startsWith('team-'))"]);
    // A macro variable is scoped to its macro.
    assert!(matches!(
        compile_err("jwt.roles.exists(r, r == 'a') && r == 'b'"),
        AuthzError::UnknownVariable { name, .. } if name == "r"
    ));
}

#[test]
fn unknown_fields_of_gateway_variables_are_refused() {
    assert!(matches!(
        compile_err("request.paht == '/'"),
        AuthzError::UnknownField { variable, field, .. } if variable == "request" && field == "paht"
    ));
    assert!(matches!(
        compile_err("mcp.tool.nmae == 'x'"),
        AuthzError::UnknownField { variable, field, .. } if variable == "mcp.tool" && field == "nmae"
    ));
    assert!(matches!(
        compile_err("source.ip == '1.2.3.4'"),
        AuthzError::UnknownField { .. }
    ));
    // Claims and API-key metadata are open.
    rules(
        Action::Allow,
        &["jwt.anything == 1", "apiKey.whatever == 'x'"],
    );
}

#[test]
fn upper_case_header_name_is_refused() {
    assert!(matches!(
        compile_err(r#"request.headers["X-Team"] == "a""#),
        AuthzError::UpperCaseHeader { name, .. } if name == "X-Team"
    ));
}

#[test]
fn invalid_regex_literal_is_refused_at_compile_time() {
    let err = compile_err(r#"request.path.matches("[unclosed")"#);
    assert!(matches!(&err, AuthzError::InvalidRegex { pattern, .. } if pattern == "[unclosed"));
}

#[test]
fn message_literals_and_huge_expressions_are_refused() {
    assert!(matches!(
        compile_err("Foo{a: 1} == 1"),
        AuthzError::Unsupported { .. }
    ));
    let long = format!("request.path == '{}'", "a".repeat(5000));
    assert!(matches!(compile_err(&long), AuthzError::TooLong { .. }));
    // Parentheses add no AST levels, but the parser has its own recursion limit.
    let nested = |n| format!("{}1{} == 1", "(".repeat(n), ")".repeat(n));
    rules(Action::Allow, &[&nested(20)]);
    assert!(matches!(
        compile_err(&nested(100)),
        AuthzError::Parse { .. }
    ));
    let chain = format!("{}1 == 1", "1 + ".repeat(60));
    assert!(matches!(compile_err(&chain), AuthzError::TooDeep { .. }));
}

// === semantics ===

#[test]
fn no_rule_sets_allows() {
    assert!(allowed(vec![], &Req::new()));
}

#[test]
fn allow_rule_set_matches_when_any_expression_is_true() {
    let set = || rules(Action::Allow, &["jwt.sub == 'bob'", "jwt.sub == 'alice'"]);
    assert!(allowed(vec![set()], &alice()));
    let carol = Req::new().jwt(json!({"sub": "carol"}));
    assert_eq!(
        check(vec![set()], &carol),
        Decision::Denied {
            reason: "denied: no allow authorization rule matched".into()
        }
    );
}

#[test]
fn one_matching_allow_among_several_is_enough() {
    let sets = || {
        vec![
            rules(Action::Allow, &["jwt.sub == 'bob'"]),
            rules(Action::Allow, &["request.method == 'GET'"]),
        ]
    };
    assert!(allowed(sets(), &alice()));
    let mut post = alice();
    post.method = "POST";
    assert!(!allowed(sets(), &post));
}

#[test]
fn deny_overrides_allow() {
    let sets = || {
        vec![
            rules(Action::Allow, &["true"]),
            rules(Action::Deny, &["request.path.startsWith('/admin')"]),
        ]
    };
    assert!(allowed(sets(), &alice()));
    let mut admin = alice();
    admin.path = "/admin/users";
    assert_eq!(
        check(sets(), &admin),
        Decision::Denied {
            reason: "denied by authorization rule 2 (deny), expression 1".into()
        }
    );
}

#[test]
fn deny_alone_allows_what_it_does_not_match() {
    let set = || rules(Action::Deny, &["jwt.sub == 'mallory'"]);
    assert!(allowed(vec![set()], &alice()));
    assert!(!allowed(
        vec![set()],
        &Req::new().jwt(json!({"sub": "mallory"}))
    ));
}

#[test]
fn every_require_must_match() {
    let sets = || {
        vec![
            rules(Action::Require, &["'admin' in jwt.roles"]),
            rules(Action::Require, &["jwt.org.id == 'acme'"]),
        ]
    };
    assert!(allowed(sets(), &alice()));
    let other_org = Req::new().jwt(json!({"roles": ["admin"], "org": {"id": "evil"}}));
    assert_eq!(
        check(sets(), &other_org),
        Decision::Denied {
            reason: "denied: required authorization rule 2 did not match".into()
        }
    );
}

#[test]
fn require_and_allow_combine() {
    // Require a team header; among those, allow admins or GETs.
    let sets = || {
        vec![
            rules(Action::Require, &["'x-team' in request.headers"]),
            rules(
                Action::Allow,
                &["'admin' in jwt.roles", "request.method == 'GET'"],
            ),
        ]
    };
    assert!(!allowed(sets(), &alice()), "no team header");
    assert!(allowed(sets(), &alice().header("x-team", "search")));
    let mut dev_post = Req::new()
        .header("x-team", "search")
        .jwt(json!({"roles": ["dev"]}));
    dev_post.method = "POST";
    assert!(
        !allowed(sets(), &dev_post),
        "required matched, no allow did"
    );
}

#[test]
fn rule_sets_accumulate_across_levels() {
    // Gateway: deny blocked clients; route: require a JWT subject; backend: allow two users.
    let gateway = rules(
        Action::Deny,
        &["request.headers[?'x-blocked'].orValue('') == 'true'"],
    );
    let route = rules(Action::Require, &["has(jwt.sub)"]);
    let backend = rules(Action::Allow, &["jwt.sub in ['alice', 'bob']"]);
    let authz = Authorizer::new(vec![gateway, route, backend]);
    assert_eq!(authz.check(&alice().attrs()), Decision::Allowed);
    assert!(matches!(
        authz.check(&alice().header("x-blocked", "true").attrs()),
        Decision::Denied { reason } if reason.contains("rule 1 (deny)")
    ));
    assert!(matches!(
        authz.check(&Req::new().attrs()),
        Decision::Denied { reason } if reason.contains("required authorization rule 2")
    ));
    let carol = Req::new().jwt(json!({"sub": "carol"}));
    assert!(matches!(
        authz.check(&carol.attrs()),
        Decision::Denied { reason } if reason.contains("no allow")
    ));
}

// === fail closed ===

#[test]
fn evaluation_error_does_not_match_allow_or_require() {
    // No token: `jwt` is `{}` and `jwt.sub` has no such key.
    assert!(!holds("jwt.sub == 'x'", &Req::new()));
    assert!(!holds("jwt.sub != 'x'", &Req::new()));
    assert!(!allowed(
        vec![rules(Action::Require, &["jwt.sub != 'x'"])],
        &Req::new()
    ));
    // Type errors and non-bool results.
    assert!(!holds("jwt.org < 3", &alice()));
    assert!(!holds("jwt.sub", &alice()));
    assert!(!holds("size(jwt.org.tier) > 0", &alice()));
}

#[test]
fn erroring_expression_does_not_hide_a_matching_one() {
    let set = rules(Action::Allow, &["jwt.missing == 'x'", "jwt.sub == 'alice'"]);
    assert!(allowed(vec![set], &alice()));
}

#[test]
fn evaluation_error_in_deny_denies() {
    let set = rules(Action::Deny, &["jwt.sub == 'mallory'"]);
    assert_eq!(
        check(vec![set], &Req::new()),
        Decision::Denied {
            reason: "denied: authorization rule 1 (deny), expression 1, could not be evaluated"
                .into()
        }
    );
    // Guarded, the same rule lets anonymous requests through.
    let guarded = rules(Action::Deny, &["has(jwt.sub) && jwt.sub == 'mallory'"]);
    assert!(allowed(vec![guarded], &Req::new()));
}

#[test]
fn iterating_a_non_collection_fails_closed_instead_of_panicking() {
    let req = Req::new().jwt(json!({"roles": "admin"}));
    assert!(!holds("jwt.roles.exists(r, r == 'admin')", &req));
    let deny = rules(Action::Deny, &["jwt.roles.exists(r, r == 'banned')"]);
    assert!(!allowed(vec![deny], &req));
    assert!(holds("jwt.roles.exists(r, r == 'admin')", &alice()));
}
