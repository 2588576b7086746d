//! Rule sets compiled from expression text and checked against hand-built requests.

use std::net::IpAddr;

use http::{HeaderMap, HeaderValue};
use serde_json::{Map, Value, json};

use super::analysis::{Access, Needs};
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

// --- compile errors ---

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
    let deep = format!("{}1{} == 1", "(".repeat(100), ")".repeat(100));
    // Parentheses alone add no AST levels; a chain of additions does.
    rules(Action::Allow, &[&deep]);
    let chain = format!("{}1 == 1", "1 + ".repeat(200));
    assert!(matches!(compile_err(&chain), AuthzError::TooDeep { .. }));
}

// --- semantics ---

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
    let gateway = rules(Action::Deny, &["request.headers['x-blocked'] == 'true'"]);
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

// --- fail closed ---

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

// --- attributes ---

#[test]
fn jwt_claims_nested_and_lists() {
    let req = alice();
    assert!(holds("jwt.sub == 'alice'", &req));
    assert!(holds("jwt.org.id == 'acme'", &req));
    assert!(holds("jwt.org.tier >= 2", &req));
    assert!(holds("'admin' in jwt.roles", &req));
    assert!(!holds("'root' in jwt.roles", &req));
    assert!(holds("jwt.exp > 1600000000", &req));
    assert!(holds("size(jwt.roles) == 2", &req));
    assert!(holds("jwt.roles.all(r, r in ['admin', 'dev'])", &req));
    assert!(holds(r#"jwt["sub"] == "alice""#, &req));
    assert!(holds("has(jwt.org) && !has(jwt.email)", &req));
    // Namespaced claims are reached by index.
    let ns = Req::new().jwt(json!({"https://example.com/groups": ["ops"]}));
    assert!(holds(r#""ops" in jwt["https://example.com/groups"]"#, &ns));
}

#[test]
fn headers_method_path_host() {
    let req = Req::new()
        .header("x-team", "search")
        .header("x-team", "second-value-ignored")
        .header("authorization", "Bearer t");
    assert!(holds(r#"request.headers["x-team"] == "search""#, &req));
    assert!(holds(
        "request.headers.authorization.startsWith('Bearer ')",
        &req
    ));
    assert!(holds(r#"request.headers["x-missing"] == null"#, &req));
    assert!(holds(
        "'x-team' in request.headers && size(request.headers) == 2",
        &req
    ));
    assert!(holds("request.method == 'GET'", &req));
    assert!(holds("request.path.startsWith('/v1/')", &req));
    assert!(!holds("request.path.startsWith('/admin')", &req));
    assert!(holds("request.host.endsWith('.example.com')", &req));
    assert!(holds(r#"request.path.matches("^/v[0-9]+/chat$")"#, &req));
    assert!(holds(r#"matches(request.path, "chat")"#, &req));
    assert!(holds("request.path.contains('chat')", &req));
}

#[test]
fn regex_computed_from_request_data_is_compiled_per_call() {
    let req = Req::new().header("x-pattern", "^/v1/");
    assert!(holds(
        r#"request.path.matches(request.headers["x-pattern"])"#,
        &req
    ));
    let bad = Req::new().header("x-pattern", "[");
    assert!(!holds(
        r#"request.path.matches(request.headers["x-pattern"])"#,
        &bad
    ));
}

#[test]
fn source_address() {
    let mut req = Req::new();
    req.source_ip = Some("10.1.2.3".parse().unwrap());
    assert!(holds("source.address == '10.1.2.3'", &req));
    assert!(holds("source.address.startsWith('10.')", &req));
    req.source_ip = Some("::1".parse().unwrap());
    assert!(holds("source.address == '::1'", &req));
    // Unknown source: fails closed.
    assert!(!holds("source.address != '10.1.2.3'", &Req::new()));
}

#[test]
fn api_key_id_and_metadata() {
    let mut req = Req::new();
    let metadata = claims(json!({"team": "search", "tier": "gold", "id": "spoofed", "quota": 5}));
    req.api_key = Some(("team-a-key", metadata));
    assert!(holds("apiKey.id == 'team-a-key'", &req));
    assert!(holds("apiKey.team == 'search' && apiKey.quota > 3", &req));
    assert!(holds("apiKey.tier in ['gold', 'platinum']", &req));
    assert!(
        holds("size(apiKey) == 4", &req),
        "metadata `id` is replaced by the key id"
    );
    assert!(!holds("apiKey.id == 'x'", &Req::new()));
    assert!(holds("!has(apiKey.id)", &Req::new()));
}

#[test]
fn mcp_attributes() {
    let mut req = Req::new();
    req.mcp = Some(McpAttributes::Tool {
        name: "echo",
        target: "everything",
    });
    assert!(holds("mcp.tool.name == 'echo'", &req));
    assert!(holds(
        "mcp.tool.target == 'everything' && !has(mcp.prompt)",
        &req
    ));
    req.mcp = Some(McpAttributes::Prompt { name: "summarize" });
    assert!(holds("mcp.prompt.name == 'summarize'", &req));
    assert!(!holds("mcp.tool.name == 'echo'", &req));
    req.mcp = Some(McpAttributes::Resource {
        uri: "file:///etc/motd",
    });
    assert!(holds("mcp.resource.uri.startsWith('file:///etc/')", &req));

    // A tool deny rule must guard: unguarded it fails closed on other kinds.
    let deny = || rules(Action::Deny, &["mcp.tool.name == 'delete'"]);
    let guarded = || {
        rules(
            Action::Deny,
            &["has(mcp.tool) && mcp.tool.name == 'delete'"],
        )
    };
    assert!(!allowed(vec![deny()], &req));
    assert!(allowed(vec![guarded()], &req));
    req.mcp = Some(McpAttributes::Tool {
        name: "delete",
        target: "fs",
    });
    assert!(!allowed(vec![guarded()], &req));
}

#[test]
fn identity_of_caller_combines_with_mcp_item() {
    let mut req = alice();
    req.mcp = Some(McpAttributes::Tool {
        name: "deploy",
        target: "ops",
    });
    let set = || {
        rules(
            Action::Allow,
            &["mcp.tool.name != 'deploy' || 'admin' in jwt.roles"],
        )
    };
    assert!(allowed(vec![set()], &req));
    req.jwt = Some(claims(json!({"roles": ["dev"]})));
    assert!(!allowed(vec![set()], &req));
}

// --- what is built per request ---

fn needs(expression: &str) -> Needs {
    (*rules(Action::Allow, &[expression]).needs).clone()
}

fn fields(names: &[&str]) -> Access {
    Access::Fields(
        names
            .iter()
            .map(|n| ((*n).to_owned(), Access::Whole))
            .collect(),
    )
}

#[test]
fn only_referenced_variables_and_fields_are_needed() {
    let n = needs("request.path.startsWith('/a') && jwt.sub == 'x'");
    assert_eq!(n.request, fields(&["path"]));
    assert_eq!(n.jwt, fields(&["sub"]));
    assert_eq!(n.source, Access::Unused);
    assert_eq!(n.api_key, Access::Unused);
    assert_eq!(n.mcp, Access::Unused);

    let n = needs(r#"request.headers["x-team"] == "a""#);
    let Access::Fields(request) = &n.request else {
        panic!("{:?}", n.request)
    };
    assert_eq!(request["headers"], fields(&["x-team"]));

    // Used as a value: built whole.
    assert_eq!(needs("'admin' in jwt.roles").jwt, fields(&["roles"]));
    assert_eq!(needs("size(jwt) > 0").jwt, Access::Whole);
    assert_eq!(needs("jwt[request.method] == 1").jwt, Access::Whole);
    assert_eq!(needs("jwt.exists(k, k == 'sub')").jwt, Access::Whole);
    // A macro variable shadowing a variable name is not the variable.
    assert_eq!(needs("[1].exists(jwt, jwt == 1)").jwt, Access::Unused);
}

#[test]
fn authorizer_reports_what_it_references() {
    let authz = Authorizer::new(vec![
        rules(Action::Allow, &["request.method == 'GET'"]),
        rules(Action::Deny, &["has(mcp.tool) && mcp.tool.name == 'x'"]),
    ]);
    assert!(!authz.references_jwt());
    assert!(!authz.references_api_key());
    assert!(authz.references_mcp());
    assert!(rules(Action::Allow, &["jwt.sub == 'a'"]).references_jwt());
    assert_eq!(authz.rules().len(), 2);
    assert_eq!(
        authz.rules()[1].expressions().collect::<Vec<_>>(),
        ["has(mcp.tool) && mcp.tool.name == 'x'"]
    );
    assert_eq!(authz.rules()[1].action(), Action::Deny);
}

#[test]
fn partial_build_sees_what_a_full_build_would() {
    // The same claims through a narrowed and a whole-map path must agree.
    let req = alice();
    assert!(holds("jwt.sub == 'alice' && size(jwt) == 4", &req));
    assert!(holds("jwt.sub == 'alice'", &req));
    assert!(!holds("has(jwt.nope)", &req));
    assert!(!holds("has(jwt.nope) || size(jwt) == 3", &req));
}
