//! Compiler rules, one behaviour per test, on small YAML inputs.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use config::dump::config_dump;
use config::{CompileOptions, Config, ConfigErrors, load_and_compile, load_str};

const GATEWAY: &str = "apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: agentgateway
  listeners:
  - {name: http, port: 8080, protocol: HTTP}
";

fn options() -> CompileOptions {
    CompileOptions {
        env: Arc::new(|name| (name == "API_KEY").then(|| "sk-live-very-secret".to_string())),
    }
}

fn compile(yaml: &str) -> Result<Config, ConfigErrors> {
    load_and_compile(load_str("t.yaml", yaml), &options())
}

/// A configuration that must compile, beside a Gateway (a configuration serves nothing
/// without one, which is an error of its own).
fn served(yaml: &str) -> Config {
    compile(&format!("{GATEWAY}---\n{yaml}")).unwrap()
}

fn errors(yaml: &str) -> String {
    compile(yaml)
        .map(|_| String::new())
        .unwrap_or_else(|e| e.to_string())
}

fn route(namespace: &str, extra_parent: &str) -> String {
    format!(
        "---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: r, namespace: {namespace}}}
spec:
  parentRefs: [{{name: gw, namespace: infra{extra_parent}}}]
  rules:
  - filters:
    - type: RequestRedirect
      requestRedirect: {{hostname: example.com}}
"
    )
}

#[test]
fn routes_from_other_namespaces_need_allowed_routes() {
    let e = errors(&(GATEWAY.to_string() + &route("team", "")));
    assert!(
        e.contains("listener http only accepts routes from namespace infra"),
        "{e}"
    );
    let open = GATEWAY.replace(
        "protocol: HTTP}",
        "protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}",
    );
    assert!(compile(&(open + &route("team", ""))).is_ok());
}

#[test]
fn listeners_can_refuse_http_routes_by_kind() {
    let g = GATEWAY.replace(
        "protocol: HTTP}",
        "protocol: HTTP, allowedRoutes: {kinds: [{kind: GRPCRoute}]}}",
    );
    let e = errors(&(g + &route("infra", "")));
    assert!(e.contains("does not allow HTTPRoutes"), "{e}");
}

#[test]
fn section_name_must_name_a_listener() {
    let e = errors(&(GATEWAY.to_string() + &route("infra", ", sectionName: https")));
    assert!(e.contains("has no listener named https"), "{e}");
}

#[test]
fn secret_values_stay_out_of_dumps_and_errors() {
    let yaml = GATEWAY.to_string()
        + "---
apiVersion: v1
kind: Secret
metadata: {name: key, namespace: infra}
stringData: {Authorization: \"${API_KEY}\", other: x}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: b, namespace: infra}
spec:
  static: {host: api.example.com, port: 443}
  policies: {auth: {secretRef: {name: key}}, tls: {}}
";
    let config = compile(&yaml).unwrap();
    let dump = config_dump(&config).to_string();
    assert!(!dump.contains("sk-live"), "{dump}");
    assert!(dump.contains("<redacted>"));
    assert!(
        !format!("{config:?}").contains("sk-live"),
        "Debug of the IR leaks the secret"
    );
    // A broken neighbour's error message does not leak it either.
    let e = errors(
        &(yaml
            + "---\napiVersion: v1\nkind: Secret\nmetadata: {name: bad, namespace: infra}\ndata: {k: \"not base64!\"}\n"),
    );
    assert!(
        e.contains("not valid base64") && !e.contains("sk-live"),
        "{e}"
    );
}

#[test]
fn unsupported_policy_sections_are_refused_not_ignored() {
    let yaml = GATEWAY.to_string()
        + "---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: p, namespace: infra}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
  traffic:
    extProc: {backendRef: {name: processor, port: 9001}}
    jwtAuthentication:
      providers: [{issuer: https://idp, jwks: {inline: '{}'}}]
";
    let e = errors(&yaml);
    assert!(
        e.contains("spec.traffic.extProc: `traffic.extProc` is not supported yet"),
        "{e}"
    );
    assert!(
        e.contains("spec.traffic.jwtAuthentication.providers[0].jwks.inline: JWKS must be"),
        "a served section is checked instead: {e}"
    );
}

#[test]
fn policy_targets_must_exist() {
    let yaml = GATEWAY.to_string()
        + "---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: p, namespace: infra}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: nope}]
  traffic: {timeouts: {request: 5s}}
";
    assert!(errors(&yaml).contains("HTTPRoute infra/nope does not exist"));
}

#[test]
fn ai_backends_are_checked_field_by_field() {
    let yaml = "apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: ai}
spec:
  ai:
    provider:
      openai: {}
      anthropic: {}
      host: localhost
";
    let e = errors(yaml);
    assert!(e.contains("exactly one of openai, anthropic"), "{e}");
    assert!(e.contains("`host` and `port` must be set together"), "{e}");
    let openai = served(
        "apiVersion: agentgateway.dev/v1alpha1\nkind: AgentgatewayBackend\nmetadata: {name: ai}\nspec: {ai: {provider: {openai: {model: m}, host: localhost, port: 11434}}}\n",
    );
    assert!(
        openai.warnings.is_empty(),
        "OpenAI-compatible providers are served"
    );
    let gemini = served(
        "apiVersion: agentgateway.dev/v1alpha1\nkind: AgentgatewayBackend\nmetadata: {name: ai}\nspec: {ai: {provider: {gemini: {model: m}}}}\n",
    );
    assert!(gemini.warnings.is_empty(), "Gemini is served");
}

const BACKEND_HEAD: &str = "apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: cloud}
spec:
  ai:
    provider:
";

#[test]
fn cloud_providers_need_a_credential_they_can_use() {
    // No AWS keys in the (injected) environment and no Secret: nothing to sign with.
    let e = errors(&format!(
        "{BACKEND_HEAD}      bedrock: {{region: us-east-1, model: m}}\n"
    ));
    assert!(
        e.contains("AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY are not in the environment"),
        "{e}"
    );
    let e = errors(&format!(
        "{BACKEND_HEAD}      vertexai: {{projectId: p, model: m}}\n"
    ));
    assert!(e.contains("Vertex AI needs a credential"), "{e}");
    // A Secret that is not a service-account key file is refused at compile time.
    let e = errors(&format!(
        "{BACKEND_HEAD}      vertexai: {{projectId: p, model: m}}
  policies:
    auth: {{gcp: {{secretRef: {{name: sa}}}}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: sa}}
stringData: {{key.json: '{{\"type\": \"authorized_user\"}}'}}
"
    ));
    assert!(e.contains("Secret sa: "), "{e}");
    assert!(e.contains("authorized_user"), "{e}");
    let e = errors(&format!(
        "{BACKEND_HEAD}      bedrock: {{region: us-east-1}}
  policies:
    auth: {{aws: {{secretRef: {{name: aws}}}}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: aws}}
stringData: {{accessKeyId: AKID}}
"
    ));
    assert!(
        e.contains("needs the keys accessKeyId and secretAccessKey"),
        "{e}"
    );
    let e = errors(&format!(
        "{BACKEND_HEAD}      azureopenai: {{endpoint: r.openai.azure.com}}
  policies:
    auth: {{azure: {{}}}}
"
    ));
    assert!(
        e.contains("azure credentials need a Secret with the app registration's tenantId"),
        "{e}"
    );
}

#[test]
fn cloud_credentials_never_show_their_secrets() {
    let aws = served(&format!(
        "{BACKEND_HEAD}      bedrock: {{region: eu-west-1, model: m}}
  policies:
    auth: {{aws: {{secretRef: {{name: aws}}}}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: aws}}
stringData: {{accessKeyId: AKIDSECRET, secretAccessKey: very-secret-key}}
"
    ));
    let dump = config_dump(&aws).to_string();
    assert!(
        dump.contains("bedrock-runtime.eu-west-1.amazonaws.com"),
        "{dump}"
    );
    assert!(
        !dump.contains("very-secret-key") && !dump.contains("AKIDSECRET"),
        "{dump}"
    );
    assert!(!format!("{aws:?}").contains("very-secret-key"));
}

#[test]
fn https_listeners_need_valid_certificates() {
    let gateway = "apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: agentgateway
  listeners:
  - {name: https, port: 8443, protocol: HTTPS, tls: {certificateRefs: [{name: cert}]}}
  - {name: plain, port: 8443, protocol: HTTP}
---
apiVersion: v1
kind: Secret
metadata: {name: cert}
type: kubernetes.io/tls
stringData: {tls.crt: not a pem, tls.key: nor this}
";
    let e = errors(gateway);
    assert!(e.contains("`tls.crt` holds no PEM certificate"), "{e}");
    assert!(
        e.contains("port 8443 is used by both HTTP and HTTPS listeners"),
        "{e}"
    );
}

#[test]
fn rule_precedence_is_resolved_at_compile_time() {
    let yaml = GATEWAY.to_string()
        + "---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: RegularExpression, value: /.*}}]
    filters: [{type: RequestRedirect, requestRedirect: {hostname: regex}}]
  - matches: [{path: {type: PathPrefix, value: /a}}]
    filters: [{type: RequestRedirect, requestRedirect: {hostname: short}}]
  - matches: [{path: {type: PathPrefix, value: /a/b}}, {path: {type: Exact, value: /a/b/c}}]
    filters: [{type: RequestRedirect, requestRedirect: {hostname: long}}]
";
    let config = compile(&yaml).unwrap();
    let dump = config_dump(&config);
    let entries = dump["ports"][0]["listeners"][0]["routes"][0]["entries"]
        .as_array()
        .unwrap();
    let order: Vec<String> = entries
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["match"]["path"]["type"].as_str().unwrap(),
                e["match"]["path"]["value"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            "Exact /a/b/c",
            "PathPrefix /a/b",
            "PathPrefix /a",
            "RegularExpression ^(?:/.*)$"
        ],
        "regexes are anchored to the whole path"
    );
}

#[test]
fn policies_report_their_conditions_per_target() {
    let yaml = GATEWAY.to_string()
        + "---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: p, namespace: infra}
spec:
  targetRefs:
  - {group: gateway.networking.k8s.io, kind: Gateway, name: gw}
  - {group: gateway.networking.k8s.io, kind: Gateway, name: gw, sectionName: http}
  traffic: {timeouts: {request: 5s}}
";
    let config = compile(&yaml).unwrap();
    let status = config
        .statuses
        .iter()
        .find(|s| s.resource.name == "p")
        .unwrap();
    let ancestors: Vec<&str> = status
        .ancestors
        .iter()
        .map(|a| a.ancestor.as_str())
        .collect();
    assert_eq!(
        ancestors,
        ["Gateway infra/gw", "Gateway infra/gw (listener http)"]
    );
    let attached = &status.ancestors[1].conditions[1];
    assert_eq!(
        (attached.condition_type, attached.status),
        ("Attached", "True")
    );
}

#[test]
fn a_section_that_does_not_apply_to_a_target_kind_is_an_error_naming_it() {
    let yaml = GATEWAY.to_string()
        + &route("infra", "")
        + "---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: p, namespace: infra}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}]
  frontend: {tracing: {url: 'http://otel:4317'}}
";
    let e = errors(&yaml);
    assert!(
        e.contains("`frontend` applies to Gateway targets only; HTTPRoute infra/r is not one"),
        "{e}"
    );
}

#[test]
fn a_configuration_without_listeners_is_refused() {
    for yaml in [
        "",
        "# only a comment\n",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {k: v}\n",
    ] {
        let e = errors(yaml);
        assert!(e.contains("no Gateway listener"), "{yaml:?}: {e}");
    }
    assert!(compile(GATEWAY).is_ok());
}

#[test]
fn parameters_set_the_shutdown_window() {
    let params = |min: u32, max: u32| {
        format!(
            "{GATEWAY}---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayParameters
metadata: {{name: p}}
spec:
  shutdown: {{min: {min}, max: {max}}}
"
        )
    };
    let config = compile(&params(5, 30)).unwrap();
    assert_eq!(config.shutdown.min, Some(std::time::Duration::from_secs(5)));
    assert_eq!(
        config.shutdown.max,
        Some(std::time::Duration::from_secs(30))
    );
    let e = errors(&params(40, 30));
    assert!(
        e.contains("spec.shutdown.min") && e.contains("longer than max"),
        "{e}"
    );
}

/// One run shows every misspelled field and every broken reference, but nothing that only
/// follows from a document that could not be read.
#[test]
fn every_error_is_listed_in_one_run() {
    let yaml = format!(
        "{GATEWAY}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: r, namespace: infra}}
spec:
  parentRefs: [{{name: gw}}]
  rules:
  - backendRefs: [{{group: agentgateway.dev, kind: AgentgatewayBackend, name: typo-backend}}]
  - backendRefs: [{{group: agentgateway.dev, kind: AgentgatewayBackend, name: b}}]
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {{name: b, namespace: infra}}
spec:
  static:
    host: example.com
    prot: 80
    extra:
      deep: 1
    tls_mode: x
"
    );
    let e = errors(&yaml);
    for expected in [
        "unknown field `prot`",
        "unknown field `extra`",
        "unknown field `tls_mode`",
        "typo-backend does not exist",
    ] {
        assert!(e.contains(expected), "{expected} missing from {e}");
    }
    assert!(!e.contains("infra/b does not exist"), "a consequence: {e}");
    assert!(!e.contains("missing field"), "a consequence: {e}");
}

/// An unset variable in a Secret is reported once, at its own line, not again by each
/// user of the Secret as a missing key.
#[test]
fn an_unset_secret_variable_is_one_error_at_its_line() {
    let yaml = format!(
        "{GATEWAY}---
apiVersion: v1
kind: Secret
metadata: {{name: cert, namespace: infra}}
type: kubernetes.io/tls
stringData:
  tls.crt: ${{NO_SUCH_CRT}}
  tls.key: ${{NO_SUCH_KEY}}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {{name: b, namespace: infra}}
spec:
  static: {{host: example.com, port: 443}}
  policies:
    tls: {{caCertificateRefs: [{{name: cert}}]}}
"
    );
    let e = compile(&yaml).unwrap_err();
    assert_eq!(e.len(), 2, "{e}");
    let lines: Vec<usize> = e
        .iter()
        .map(|error| error.location.as_ref().unwrap().line)
        .collect();
    assert_eq!(lines, [14, 15], "{e}");
}
