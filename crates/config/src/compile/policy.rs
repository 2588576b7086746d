//! AgentgatewayPolicy: validation, attachment to targets, and the field-by-field merge.

use std::collections::BTreeMap;
use std::sync::Arc;

use api::ResourceKind;

use api::policy::{AgentgatewayPolicy, AiPolicy, HeaderModifiers, TrafficPolicy};
use api::resource::{AGENTGATEWAY_GROUP, GATEWAY_API_GROUP};
use llm::ClientApi;
use llm::guard::{Builtin, GuardAction, PromptGuard, Rule};
use llm::policy::{PromptMessage, RequestPolicy};

use crate::compile::backend::{credential, duration};
use crate::compile::filters::header_ops;
use crate::compile::secrets::ResolvedSecrets;
use crate::compile::{Ctx, traffic};
use crate::ir::backend::BackendCredential;
use crate::ir::filters::HeaderOps;
use crate::ir::policy::{GlobalLimits, LocalLimit, RemoteJwks, RetryPolicy, TrafficSettings};
use crate::status::{AncestorStatus, Condition};
use crate::store::{Entry, ObjectKey, ResourceStore};

/// What a policy can attach to, most general first.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Target {
    Gateway(ObjectKey),
    Listener(ObjectKey, String),
    Route(ObjectKey),
    Rule(ObjectKey, String),
    Backend(ObjectKey),
}

/// The parts of one policy this build enforces, already parsed. `None` fields leave the
/// value of a less specific level in place.
#[derive(Debug, Clone, Default)]
pub(crate) struct PolicyParts {
    pub request_timeout: Option<std::time::Duration>,
    pub backend_request_timeout: Option<std::time::Duration>,
    pub retry: Option<RetryPolicy>,
    pub request_headers: Option<HeaderOps>,
    pub response_headers: Option<HeaderOps>,
    pub credential: Option<BackendCredential>,
    pub ai: Option<Arc<RequestPolicy>>,
    pub cors: Option<Arc<::policy::cors::CorsPolicy>>,
    pub jwt: Option<Arc<crate::ir::policy::JwtAuth>>,
    pub api_keys: Option<Arc<(::policy::apikey::ApiKeyAuthentication, bool)>>,
    pub basic: Option<Arc<(::policy::basic::BasicAuthentication, bool)>>,
    pub local_limits: Option<Vec<Arc<LocalLimit>>>,
    pub global_limits: Option<Arc<GlobalLimits>>,
    pub authorization: Option<::policy::authorization::RuleSet>,
    pub mcp_authorization: Option<::policy::authorization::RuleSet>,
    pub ext_authz: Option<Arc<crate::ir::policy::ExtAuthz>>,
    pub rate_limit_service: Option<Arc<crate::ir::policy::RateLimitService>>,
}

impl Target {
    /// The target as status messages name it.
    fn describe(&self) -> String {
        match self {
            Self::Gateway(key) | Self::Route(key) | Self::Backend(key) => key.to_string(),
            Self::Listener(key, name) => format!("{key} (listener {name})"),
            Self::Rule(key, name) => format!("{key} (rule {name})"),
        }
    }
}

/// Sections that only make sense on some kinds of target are errors elsewhere, naming the
/// target, rather than silently doing nothing there.
fn check_applies(ctx: &mut Ctx<'_>, entry: &Entry<AgentgatewayPolicy>, targets: &[Target]) {
    let spec = &entry.resource.spec;
    if spec.frontend.is_some()
        && let Some(other) = targets
            .iter()
            .find(|t| !matches!(t, Target::Gateway(_) | Target::Listener(..)))
    {
        ctx.error(
            entry,
            "spec.frontend",
            format!(
                "`frontend` applies to Gateway targets only; {} is not one",
                other.describe()
            ),
            "attach frontend settings to the Gateway in a policy of their own",
        );
    }
}

/// Policies by target, each list in policy-name order, and the remote key sets they need.
#[derive(Debug, Default)]
pub(crate) struct PolicyIndex {
    by_target: BTreeMap<Target, Vec<PolicyParts>>,
    pub remote_jwks: Vec<Arc<RemoteJwks>>,
}

impl PolicyIndex {
    pub fn at(&self, target: &Target) -> &[PolicyParts] {
        self.by_target
            .get(target)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
}

impl PolicyParts {
    /// Applies this level on top of `settings`: each field set here wins.
    pub fn apply_to(&self, settings: &mut TrafficSettings) {
        if let Some(t) = self.request_timeout {
            settings.timeouts.request = Some(t);
        }
        if let Some(t) = self.backend_request_timeout {
            settings.timeouts.backend_request = Some(t);
        }
        if let Some(r) = &self.retry {
            settings.retry = Some(r.clone());
        }
        if let Some(h) = &self.request_headers {
            settings.request_headers = h.clone();
        }
        if let Some(h) = &self.response_headers {
            settings.response_headers = h.clone();
        }
        if let Some(c) = &self.credential {
            settings.credential = Some(c.clone());
        }
        if let Some(ai) = &self.ai {
            settings.ai = Some(ai.clone());
        }
        if let Some(cors) = &self.cors {
            settings.cors = Some(cors.clone());
        }
        if let Some(jwt) = &self.jwt {
            settings.jwt = Some(jwt.clone());
        }
        if let Some(keys) = &self.api_keys {
            settings.api_keys = Some(keys.clone());
        }
        if let Some(basic) = &self.basic {
            settings.basic = Some(basic.clone());
        }
        if let Some(limits) = &self.local_limits {
            settings.local_limits = limits.clone();
        }
        if let Some(global) = &self.global_limits {
            settings.global_limits = Some(global.clone());
        }
        if let Some(ext) = &self.ext_authz {
            settings.ext_authz = Some(ext.clone());
        }
        if let Some(rls) = &self.rate_limit_service {
            settings.rate_limit_service = Some(rls.clone());
        }
        // Authorization rules accumulate: every level's rules must be satisfied.
        if let Some(rules) = &self.authorization {
            settings.authorization.push(rules.clone());
        }
        if let Some(rules) = &self.mcp_authorization {
            settings.mcp_authorization.push(rules.clone());
        }
    }
}

pub(crate) fn compile_all(ctx: &mut Ctx<'_>, secrets: &ResolvedSecrets) -> PolicyIndex {
    let mut index = PolicyIndex::default();
    for entry in ctx.store.policies.values() {
        let targets = targets(ctx, entry);
        let before = ctx.errors.len();
        check_applies(ctx, entry, &targets);
        let parts = parts(ctx, entry, secrets, &mut index.remote_jwks);
        if ctx.errors.len() != before || targets.is_empty() {
            continue;
        }
        ctx.condition(
            &entry.key,
            Condition::ok("Accepted", "Accepted", "policy is valid"),
        );
        ctx.condition(
            &entry.key,
            Condition::ok(
                "Attached",
                "Attached",
                format!("attached to {} target(s)", targets.len()),
            ),
        );
        let ancestors = targets
            .iter()
            .map(|target| AncestorStatus {
                ancestor: target.describe(),
                conditions: vec![
                    Condition::ok("Accepted", "Accepted", "policy is valid"),
                    Condition::ok(
                        "Attached",
                        "Attached",
                        format!("applies to every request through {}", target.describe()),
                    ),
                ],
            })
            .collect();
        ctx.ancestors.insert(entry.key.clone(), ancestors);
        for target in targets {
            index
                .by_target
                .entry(target)
                .or_default()
                .push(parts.clone());
        }
    }
    index
}

fn targets(ctx: &mut Ctx<'_>, entry: &Entry<AgentgatewayPolicy>) -> Vec<Target> {
    let refs = &entry.resource.spec.target_refs;
    if refs.is_empty() || refs.len() > 16 {
        ctx.error(
            entry,
            "spec.targetRefs",
            "a policy needs 1 to 16 targetRefs",
            "name the Gateway, HTTPRoute or AgentgatewayBackend it applies to",
        );
        return Vec::new();
    }
    let ns = entry.key.namespace.clone();
    let mut out = Vec::new();
    for (i, target) in refs.iter().enumerate() {
        let path = format!("spec.targetRefs[{i}]");
        if target.kind != refs[0].kind {
            ctx.error(
                entry,
                &format!("{path}.kind"),
                "all targetRefs of one policy must be of one kind",
                "split the policy in two",
            );
            continue;
        }
        let group = target.group.as_deref().unwrap_or("");
        let (kind, expected_group) = match target.kind.as_str() {
            "Gateway" => (ResourceKind::Gateway, GATEWAY_API_GROUP),
            "HTTPRoute" => (ResourceKind::HttpRoute, GATEWAY_API_GROUP),
            "AgentgatewayBackend" => (ResourceKind::AgentgatewayBackend, AGENTGATEWAY_GROUP),
            other => {
                ctx.error(
                    entry,
                    &format!("{path}.kind"),
                    format!("targetRefs of kind {other} are not supported by this build"),
                    "target a Gateway, HTTPRoute or AgentgatewayBackend",
                );
                continue;
            }
        };
        if group != expected_group {
            ctx.error(
                entry,
                &format!("{path}.group"),
                format!(
                    "{} belongs to group {expected_group}, not '{group}'",
                    target.kind
                ),
                format!("set group: {expected_group}"),
            );
            continue;
        }
        let key = ObjectKey::new(kind, &ns, &target.name);
        let resolved = find_target(ctx.store, key.clone(), target.section_name.clone());
        match resolved {
            None => ctx.error(
                entry,
                &format!("{path}.name"),
                format!(
                    "{} {} does not exist (policies target resources in their own namespace)",
                    target.kind,
                    key.namespaced_name()
                ),
                "fix the name, or create the target",
            ),
            Some(Err(message)) => ctx.error(
                entry,
                &format!("{path}.sectionName"),
                message,
                "sectionName names a listener of a Gateway or a rule of an HTTPRoute",
            ),
            Some(Ok(t)) => out.push(t),
        }
    }
    if entry.resource.spec.frontend.is_some()
        && out.iter().any(|t| !matches!(t, Target::Gateway(_)))
    {
        ctx.error(
            entry,
            "spec.frontend",
            "`frontend` settings apply to whole Gateways only",
            "target a Gateway without sectionName",
        );
    }
    out
}

/// The target a reference names: None when the object does not exist, an error message
/// when its `sectionName` names no listener or rule.
fn find_target(
    store: &ResourceStore,
    key: ObjectKey,
    section: Option<String>,
) -> Option<Result<Target, String>> {
    let name = key.namespaced_name();
    match key.kind {
        ResourceKind::Gateway => store.gateways.get(&key).map(|g| match section {
            Some(listener) if !g.resource.spec.listeners.iter().any(|l| l.name == listener) => {
                Err(format!("Gateway {name} has no listener named {listener}"))
            }
            Some(listener) => Ok(Target::Listener(key, listener)),
            None => Ok(Target::Gateway(key)),
        }),
        ResourceKind::HttpRoute => store.routes.get(&key).map(|r| {
            let has_rule = |rule: &str| {
                r.resource
                    .spec
                    .rules
                    .iter()
                    .any(|x| x.name.as_deref() == Some(rule))
            };
            match section {
                Some(rule) if !has_rule(&rule) => {
                    Err(format!("HTTPRoute {name} has no rule named {rule}"))
                }
                Some(rule) => Ok(Target::Rule(key, rule)),
                None => Ok(Target::Route(key)),
            }
        }),
        _ => store.backends.get(&key).map(|_| Ok(Target::Backend(key))),
    }
}

/// `backend.ai`: aliases, defaults, overrides, prompt enrichment, prompt guards and the
/// route table.
fn ai_policy(ctx: &mut Ctx<'_>, entry: &Entry<AgentgatewayPolicy>, ai: &AiPolicy) -> RequestPolicy {
    let guard = ai
        .prompt_guard
        .as_ref()
        .and_then(|g| prompt_guard(ctx, entry, g));
    let mut routes = Vec::new();
    for (suffix, kind) in &ai.routes {
        let api = match kind.as_str() {
            "Completions" => ClientApi::ChatCompletions,
            "Messages" => ClientApi::Messages,
            "Models" => ClientApi::Models,
            "Embeddings" => ClientApi::Embeddings,
            "Passthrough" => ClientApi::Passthrough,
            other => {
                ctx.error(
                    entry,
                    &format!("spec.backend.ai.routes.{suffix}"),
                    format!("'{other}' is not a route type"),
                    "use Completions, Messages, Models, Embeddings or Passthrough",
                );
                continue;
            }
        };
        if suffix != "*" && !suffix.starts_with('/') {
            ctx.error(
                entry,
                &format!("spec.backend.ai.routes.{suffix}"),
                format!("'{suffix}' is neither a path suffix nor `*`"),
                "write suffixes like /v1/chat/completions, and `*` for everything else",
            );
            continue;
        }
        routes.push((suffix.clone(), api));
    }
    // Longest suffix first, so the most specific entry wins; `*` only when nothing else does.
    routes.sort_by_key(|(suffix, _)| {
        (
            suffix == "*",
            std::cmp::Reverse(suffix.len()),
            suffix.clone(),
        )
    });
    // Values are JSON written as strings ("0.2", "true", "\"text\""); anything that is not
    // valid JSON is taken as a plain string.
    let value = |v: &str| {
        serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::String(v.to_string()))
    };
    let fields = |list: &[api::policy::FieldValue]| {
        list.iter()
            .map(|f| (f.field.clone(), value(&f.value)))
            .collect()
    };
    let messages = |list: &[api::policy::PromptMessage]| {
        list.iter()
            .map(|m| PromptMessage {
                role: m.role.clone(),
                content: m.content.clone(),
            })
            .collect()
    };
    RequestPolicy {
        model_aliases: ai
            .model_aliases
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        defaults: fields(&ai.defaults),
        overrides: fields(&ai.overrides),
        prepend: ai
            .prompt
            .as_ref()
            .map(|p| messages(&p.prepend))
            .unwrap_or_default(),
        append: ai
            .prompt
            .as_ref()
            .map(|p| messages(&p.append))
            .unwrap_or_default(),
        routes,
        guard,
    }
}

/// `promptGuard`: every rule compiled now, so a bad pattern is a config error naming it.
fn prompt_guard(
    ctx: &mut Ctx<'_>,
    entry: &Entry<AgentgatewayPolicy>,
    guard: &api::policy::PromptGuard,
) -> Option<PromptGuard> {
    let mut compile_rules =
        |rules: &[api::policy::PromptGuardRule], direction: &str, default: GuardAction| {
            let mut compiled = Vec::new();
            for (i, rule) in rules.iter().enumerate() {
                let path = format!("spec.backend.ai.promptGuard.{direction}[{i}]");
                let Some(regex) = &rule.regex else {
                    ctx.error(
                        entry,
                        &path,
                        "a prompt guard rule needs `regex` (matches and/or builtins)",
                        "e.g. regex: {action: Reject, builtins: [Email]}",
                    );
                    continue;
                };
                let action = match regex.action {
                    Some(api::policy::GuardAction::Reject) => GuardAction::Reject,
                    Some(api::policy::GuardAction::Mask) => GuardAction::Mask,
                    None => default,
                };
                let builtins: Vec<Builtin> = regex
                    .builtins
                    .iter()
                    .map(|b| match b {
                        api::policy::BuiltinDetector::CreditCard => Builtin::CreditCard,
                        api::policy::BuiltinDetector::Email => Builtin::Email,
                        api::policy::BuiltinDetector::Ssn => Builtin::Ssn,
                        api::policy::BuiltinDetector::PhoneNumber => Builtin::PhoneNumber,
                    })
                    .collect();
                let response = rule.response.as_ref();
                match Rule::new(
                    action,
                    &regex.matches,
                    &builtins,
                    response.and_then(|r| r.message.clone()),
                    response.and_then(|r| r.status_code),
                ) {
                    Ok(rule) => compiled.push(rule),
                    Err(e) => ctx.error(entry, &format!("{path}.regex"), e.to_string(), ""),
                }
            }
            compiled
        };
    let request = compile_rules(&guard.request, "request", GuardAction::REQUEST_DEFAULT);
    let response = compile_rules(&guard.response, "response", GuardAction::RESPONSE_DEFAULT);
    match PromptGuard::new(request, response) {
        Ok(guard) => Some(guard),
        Err(e) => {
            ctx.error(entry, "spec.backend.ai.promptGuard", e.to_string(), "");
            None
        }
    }
}

/// The hint for sections that parse but are not enforced yet: refusing beats silently
/// serving traffic without, say, the authentication the operator asked for.
const NOT_YET: &str =
    "this build does not enforce it yet; remove it rather than believe it is applied";

fn parts(
    ctx: &mut Ctx<'_>,
    entry: &Entry<AgentgatewayPolicy>,
    secrets: &ResolvedSecrets,
    remote_jwks: &mut Vec<Arc<RemoteJwks>>,
) -> PolicyParts {
    let spec = &entry.resource.spec;
    let mut parts = PolicyParts::default();
    if let Some(frontend) = &spec.frontend {
        if frontend.access_log.is_some() {
            ctx.error(
                entry,
                "spec.frontend.accessLog",
                "`frontend.accessLog` is not supported yet",
                NOT_YET,
            );
        }
        if frontend.tracing.is_some() {
            ctx.error(
                entry,
                "spec.frontend.tracing",
                "`frontend.tracing` is not supported yet",
                NOT_YET,
            );
        }
    }
    if let Some(traffic) = &spec.traffic {
        traffic_parts(ctx, entry, traffic, &mut parts);
        if let Some(c) = &traffic.cors {
            parts.cors = traffic::cors(ctx, entry, c);
        }
        if let Some(j) = &traffic.jwt_authentication {
            parts.jwt = traffic::jwt(ctx, entry, j, remote_jwks);
        }
        if let Some(k) = &traffic.api_key_authentication {
            parts.api_keys = traffic::api_keys(ctx, entry, k, secrets);
        }
        if let Some(b) = &traffic.basic_authentication {
            parts.basic = traffic::basic(ctx, entry, b, secrets);
        }
        if let Some(ext) = &traffic.ext_auth {
            parts.ext_authz = traffic::ext_authz(ctx, entry, ext);
        }
        if let Some(limits) = &traffic.rate_limit {
            if !limits.local.is_empty() {
                parts.local_limits = traffic::local_limits(ctx, entry, limits);
            }
            if let Some(global) = &limits.global {
                parts.global_limits = traffic::global_limits(ctx, entry, global);
                parts.rate_limit_service = traffic::rate_limit_service(ctx, entry, global);
            }
        }
    }
    if let Some(backend) = &spec.backend {
        if let Some(ai) = &backend.ai {
            parts.ai = Some(Arc::new(ai_policy(ctx, entry, ai)));
        }
        if let Some(authorization) = backend.mcp.as_ref().and_then(|m| m.authorization.as_ref()) {
            parts.mcp_authorization = authorization_rules(
                ctx,
                entry,
                "spec.backend.mcp.authorization.policy.matchExpressions",
                authorization,
                "CEL over mcp.tool.name, mcp.tool.target, mcp.prompt.name, mcp.resource.uri, jwt.*; guard with has(mcp.tool)",
            );
        }
        if let Some(auth) = &backend.auth {
            parts.credential = credential(ctx, entry, "spec.backend.auth", auth, secrets, true);
        }
    }
    parts
}

fn traffic_parts(
    ctx: &mut Ctx<'_>,
    entry: &Entry<AgentgatewayPolicy>,
    traffic: &TrafficPolicy,
    parts: &mut PolicyParts,
) {
    if let Some(authorization) = &traffic.authorization {
        parts.authorization = authorization_rules(
            ctx,
            entry,
            "spec.traffic.authorization.policy.matchExpressions",
            authorization,
            "CEL over request.*, source.address, jwt.*, apiKey.*; guard optional values with has(...)",
        );
    }
    let unsupported = [("extProc", traffic.ext_proc.is_some())];
    for (field, set) in unsupported {
        if set {
            ctx.error(
                entry,
                &format!("spec.traffic.{field}"),
                format!("`traffic.{field}` is not supported yet"),
                NOT_YET,
            );
        }
    }
    let mut ok = true;
    if let Some(timeouts) = &traffic.timeouts {
        parts.request_timeout = duration(
            ctx,
            entry,
            "spec.traffic.timeouts.request",
            timeouts.request.as_deref(),
            &mut ok,
        );
        parts.backend_request_timeout = duration(
            ctx,
            entry,
            "spec.traffic.timeouts.backendRequest",
            timeouts.backend_request.as_deref(),
            &mut ok,
        );
    }
    if let Some(retry) = &traffic.retry {
        if retry.attempts == 0 || retry.attempts > 10 {
            ctx.error(
                entry,
                "spec.traffic.retry.attempts",
                "attempts counts the first try too and must be 1..10",
                "",
            );
        }
        if let Some(code) = retry.codes.iter().find(|c| !(100..=599).contains(*c)) {
            ctx.error(
                entry,
                "spec.traffic.retry.codes",
                format!("{code} is not an HTTP status code"),
                "",
            );
        }
        let backoff = duration(
            ctx,
            entry,
            "spec.traffic.retry.backoff",
            retry.backoff.as_deref(),
            &mut ok,
        )
        .unwrap_or_default();
        parts.retry = Some(RetryPolicy {
            attempts: retry.attempts,
            codes: retry.codes.clone(),
            backoff,
        });
    }
    if let Some(HeaderModifiers { request, response }) = &traffic.header_modifiers {
        parts.request_headers = request
            .as_ref()
            .map(|m| header_ops(ctx, entry, "spec.traffic.headerModifiers.request", m));
        parts.response_headers = response
            .as_ref()
            .map(|m| header_ops(ctx, entry, "spec.traffic.headerModifiers.response", m));
    }
}

/// Compiles one `authorization` block; errors name the field.
fn authorization_rules(
    ctx: &mut Ctx<'_>,
    entry: &Entry<AgentgatewayPolicy>,
    field: &str,
    authorization: &api::policy::Authorization,
    hint: &str,
) -> Option<::policy::authorization::RuleSet> {
    let action = match authorization.action {
        Some(api::policy::AuthorizationAction::Deny) => ::policy::authorization::Action::Deny,
        Some(api::policy::AuthorizationAction::Require) => ::policy::authorization::Action::Require,
        Some(api::policy::AuthorizationAction::Allow) | None => {
            ::policy::authorization::Action::Allow
        }
    };
    match ::policy::authorization::compile(&authorization.policy.match_expressions, action) {
        Ok(rules) => Some(rules),
        Err(e) => {
            ctx.error(entry, field, e.to_string(), hint);
            None
        }
    }
}
