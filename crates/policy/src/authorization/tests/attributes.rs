//! Each variable as CEL sees it, and which parts of it a check builds.

use serde_json::json;

use super::super::analysis::{Access, Needs};
use super::super::{Action, Authorizer, McpAttributes, compile};
use super::{Req, alice, allowed, claims, holds, rules};

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
    assert!(holds("jwt.?email.orValue('none') == 'none'", &req));
    assert!(holds("jwt.?sub.orValue('none') == 'alice'", &req));
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
    // An absent header is an absent key: reading it fails to evaluate (CEL semantics), so
    // rules test for it or use optional syntax.
    assert!(!holds(r#"request.headers["x-missing"] == null"#, &req));
    assert!(holds(r#"!("x-missing" in request.headers)"#, &req));
    assert!(holds(
        r#"request.headers[?"x-missing"].orValue("none") == "none""#,
        &req
    ));
    assert!(holds(
        r#"request.headers[?"x-team"].orValue("none") == "search""#,
        &req
    ));
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

// === what is built per request ===

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
    let n = needs(r#"request.headers[?"x-team"].orValue("") == "a" && jwt.?sub.hasValue()"#);
    let Access::Fields(request) = &n.request else {
        panic!("{:?}", n.request)
    };
    assert_eq!(request["headers"], fields(&["x-team"]));
    assert_eq!(n.jwt, fields(&["sub"]));

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

#[test]
fn deepest_accepted_expressions_evaluate_on_a_worker_sized_stack() {
    // The deepest chain the depth limit lets through, and the deepest parenthesization the
    // parser accepts, on a thread with a tokio worker's default stack.
    let deepest = (1..)
        .map(|n| format!("{}1 == {}", "1 + ".repeat(n), n + 1))
        .take_while(|e| compile(std::slice::from_ref(e), Action::Allow).is_ok())
        .last()
        .unwrap();
    let parens = (1..)
        .map(|n| format!("{}jwt.sub{} == 'alice'", "(".repeat(n), ")".repeat(n)))
        .take_while(|e| compile(std::slice::from_ref(e), Action::Allow).is_ok())
        .last()
        .unwrap();
    let handle = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || holds(&deepest, &alice()) && holds(&parens, &alice()))
        .unwrap();
    assert!(handle.join().unwrap());
}
