//! HTTPRoutes: rules compiled once, then attached to every listener their parentRefs select.

use std::collections::BTreeMap;
use std::sync::Arc;

use api::ResourceKind;
use api::httproute::{HttpBackendRef, HttpRoute, HttpRouteRule, ParentReference, PathMatchType};
use api::meta::BackendObjectRef;
use api::resource::{AGENTGATEWAY_GROUP, GATEWAY_API_GROUP};

use crate::compile::Ctx;
use crate::compile::backend::{DEFAULT_CONNECT_TIMEOUT, duration};
use crate::compile::filters::route_filters;
use crate::compile::gateway::ListenerDraft;
use crate::compile::matches::compile_matches;
use crate::compile::policy::{PolicyIndex, Target};
use crate::compile::refs::{From, To, grant_hint, reference_allowed};
use crate::ir::backend::{Backend, BackendKind, Endpoint, StaticBackend};
use crate::ir::filters::RouteFilters;
use crate::ir::hostname::HostnamePattern;
use crate::ir::policy::TrafficSettings;
use crate::ir::route::{RequestMatch, RouteEntry, RouteRule, Timeouts, WeightedBackend};
use crate::status::Condition;
use crate::store::{Entry, ObjectKey};

/// A rule compiled independently of the listeners it will be attached to.
struct RuleDraft {
    index: usize,
    name: Option<String>,
    matches: Vec<RequestMatch>,
    filters: RouteFilters,
    backends: Vec<(u32, Arc<Backend>, RouteFilters)>,
    timeouts: Timeouts,
}

/// Backends referred to as plain `Service`s, shared by every route that names them.
type ServiceBackends = BTreeMap<(ObjectKey, u16), Arc<Backend>>;

pub(crate) fn attach_all(
    ctx: &mut Ctx<'_>,
    listeners: &mut [ListenerDraft],
    backends: &BTreeMap<ObjectKey, Arc<Backend>>,
    policies: &PolicyIndex,
) {
    let mut services = ServiceBackends::new();
    for entry in ctx.store.routes.values() {
        let errors_before = ctx.errors.len();
        let hostnames = route_hostnames(ctx, entry);
        let rules: Vec<RuleDraft> = entry
            .resource
            .spec
            .rules
            .iter()
            .enumerate()
            .map(|(i, rule)| compile_rule(ctx, entry, i, rule, backends, &mut services))
            .collect();
        let attachments = select_listeners(ctx, entry, listeners, &hostnames);
        if ctx.errors.len() != errors_before {
            continue;
        }
        if entry.resource.spec.parent_refs.is_empty() {
            ctx.warn(
                entry,
                "spec",
                "route has no parentRefs, so it serves nothing",
                "add parentRefs: [{name: <gateway>}]",
            );
        }
        for (listener_index, patterns) in &attachments {
            let listener = &mut listeners[*listener_index];
            for rule in &rules {
                let compiled = Arc::new(route_rule(entry, rule, listener, policies));
                for matcher in &rule.matches {
                    for pattern in patterns {
                        listener.routes.insert(
                            pattern.clone(),
                            RouteEntry {
                                matcher: matcher.clone(),
                                rule: compiled.clone(),
                            },
                        );
                    }
                }
            }
            listener.attached_routes += 1;
        }
        ctx.condition(
            &entry.key,
            Condition::ok(
                "Accepted",
                "Accepted",
                format!("attached to {} listener(s)", attachments.len()),
            ),
        );
        ctx.condition(
            &entry.key,
            Condition::ok("ResolvedRefs", "ResolvedRefs", "all references resolved"),
        );
    }
}

fn route_hostnames(ctx: &mut Ctx<'_>, entry: &Entry<HttpRoute>) -> Vec<HostnamePattern> {
    let mut out = Vec::new();
    for (i, h) in entry.resource.spec.hostnames.iter().enumerate() {
        if h.is_empty()
            || h.contains(':')
            || h.contains('/')
            || h.parse::<std::net::IpAddr>().is_ok()
            || h[1..].contains('*')
        {
            ctx.error(
                entry,
                &format!("spec.hostnames[{i}]"),
                format!("'{h}' is not a host name"),
                "write a DNS name such as api.example.com or *.example.com, without port or scheme",
            );
        } else {
            out.push(HostnamePattern::parse(Some(h)));
        }
    }
    if out.is_empty() {
        out.push(HostnamePattern::Any);
    }
    out
}

/// For each listener this route attaches to, the host patterns it serves there.
fn select_listeners(
    ctx: &mut Ctx<'_>,
    entry: &Entry<HttpRoute>,
    listeners: &[ListenerDraft],
    hostnames: &[HostnamePattern],
) -> Vec<(usize, Vec<HostnamePattern>)> {
    let mut out: Vec<(usize, Vec<HostnamePattern>)> = Vec::new();
    for (p, parent) in entry.resource.spec.parent_refs.iter().enumerate() {
        let path = format!("spec.parentRefs[{p}]");
        let Some(gateway) = parent_gateway(ctx, entry, &path, parent) else {
            continue;
        };
        let mut reasons = Vec::new();
        let mut attached = false;
        for (index, listener) in listeners.iter().enumerate() {
            let selected = listener.gateway == gateway
                && parent
                    .section_name
                    .as_ref()
                    .is_none_or(|s| s == &listener.name)
                && parent.port.is_none_or(|port| port == listener.port);
            if !selected {
                continue;
            }
            match listener_accepts(listener, entry, hostnames) {
                Err(reason) => reasons.push(reason),
                Ok(patterns) => {
                    attached = true;
                    match out.iter_mut().find(|(i, _)| *i == index) {
                        Some((_, existing)) => existing.extend(patterns),
                        None => out.push((index, patterns)),
                    }
                }
            }
        }
        if !attached {
            let why = if reasons.is_empty() {
                format!(
                    "no listener of Gateway {} matches this parentRef",
                    gateway.namespaced_name()
                )
            } else {
                reasons.join("; ")
            };
            let hint =
                "check sectionName/port, the listener's allowedRoutes.namespaces and hostnames";
            ctx.error(entry, &path, format!("route cannot attach: {why}"), hint);
        }
    }
    out
}

/// The Gateway a parentRef names, checked to exist and to have the named listener.
fn parent_gateway(
    ctx: &mut Ctx<'_>,
    entry: &Entry<HttpRoute>,
    path: &str,
    parent: &ParentReference,
) -> Option<ObjectKey> {
    let group = parent.group.as_deref().unwrap_or(GATEWAY_API_GROUP);
    let kind = parent.kind.as_deref().unwrap_or("Gateway");
    if group != GATEWAY_API_GROUP || kind != "Gateway" {
        ctx.error(
            entry,
            path,
            format!("parentRefs of kind {group}/{kind} are not supported"),
            "attach routes to a Gateway",
        );
        return None;
    }
    let namespace = parent
        .namespace
        .clone()
        .unwrap_or_else(|| entry.key.namespace.clone());
    let Some(gateway) = ctx.store.gateway(&namespace, &parent.name) else {
        let message = format!("Gateway {namespace}/{} does not exist", parent.name);
        ctx.error(
            entry,
            &format!("{path}.name"),
            message,
            "fix the name (and namespace) or create the Gateway",
        );
        return None;
    };
    if let Some(section) = &parent.section_name
        && !gateway
            .resource
            .spec
            .listeners
            .iter()
            .any(|l| &l.name == section)
    {
        let message = format!(
            "Gateway {namespace}/{} has no listener named {section}",
            parent.name
        );
        ctx.error(
            entry,
            &format!("{path}.sectionName"),
            message,
            "sectionName names a listener of the Gateway",
        );
        return None;
    }
    Some(gateway.key.clone())
}

/// The host patterns a listener serves this route under, or why it does not take it.
fn listener_accepts(
    listener: &ListenerDraft,
    entry: &Entry<HttpRoute>,
    hostnames: &[HostnamePattern],
) -> Result<Vec<HostnamePattern>, String> {
    if !listener.allows_http_routes {
        return Err(format!(
            "listener {} does not allow HTTPRoutes (allowedRoutes.kinds)",
            listener.name
        ));
    }
    if !listener.allow_all_namespaces && listener.gateway.namespace != entry.key.namespace {
        return Err(format!(
            "listener {} only accepts routes from namespace {}",
            listener.name, listener.gateway.namespace
        ));
    }
    let patterns: Vec<HostnamePattern> = hostnames
        .iter()
        .filter_map(|h| listener.hostname.intersect(h))
        .collect();
    if patterns.is_empty() {
        return Err(format!(
            "listener {} serves host {}, which none of the route's hostnames match",
            listener.name, listener.hostname
        ));
    }
    Ok(patterns)
}

fn compile_rule(
    ctx: &mut Ctx<'_>,
    entry: &Entry<HttpRoute>,
    index: usize,
    rule: &HttpRouteRule,
    backends: &BTreeMap<ObjectKey, Arc<Backend>>,
    services: &mut ServiceBackends,
) -> RuleDraft {
    let path = format!("spec.rules[{index}]");
    let matches = compile_matches(ctx, entry, index, &rule.matches);
    let all_prefix = rule.matches.iter().all(|m| {
        m.path.as_ref().is_none_or(|p| {
            p.match_type.unwrap_or(PathMatchType::PathPrefix) == PathMatchType::PathPrefix
        })
    });
    let mut resolve = |ctx: &mut Ctx<'_>, r: &BackendObjectRef, p: &str| {
        resolve_backend(ctx, entry, p, r, backends, services)
    };
    let filters = route_filters(
        ctx,
        entry,
        &format!("{path}.filters"),
        &rule.filters,
        all_prefix,
        &mut resolve,
    );
    let mut weighted = Vec::new();
    for (b, backend_ref) in rule.backend_refs.iter().enumerate() {
        let bpath = format!("{path}.backendRefs[{b}]");
        let object_ref = object_ref(backend_ref);
        let backend_filters = {
            let mut resolve = |ctx: &mut Ctx<'_>, r: &BackendObjectRef, p: &str| {
                resolve_backend(ctx, entry, p, r, backends, services)
            };
            route_filters(
                ctx,
                entry,
                &format!("{bpath}.filters"),
                &backend_ref.filters,
                all_prefix,
                &mut resolve,
            )
        };
        if backend_filters.redirect.is_some()
            || backend_filters.rewrite.is_some()
            || !backend_filters.mirrors.is_empty()
        {
            ctx.error(
                entry,
                &format!("{bpath}.filters"),
                "backendRef filters may only modify headers",
                "move redirects, rewrites and mirrors to the rule's filters",
            );
        }
        let weight = backend_ref.weight.unwrap_or(1);
        if weight > 1_000_000 {
            ctx.error(
                entry,
                &format!("{bpath}.weight"),
                "weight must be 0..1000000",
                "",
            );
        }
        if let Some(backend) = resolve_backend(ctx, entry, &bpath, &object_ref, backends, services)
        {
            weighted.push((weight, backend, backend_filters));
        }
    }
    let mut ok = true;
    let timeouts = rule
        .timeouts
        .as_ref()
        .map(|t| Timeouts {
            request: duration(
                ctx,
                entry,
                &format!("{path}.timeouts.request"),
                t.request.as_deref(),
                &mut ok,
            ),
            backend_request: duration(
                ctx,
                entry,
                &format!("{path}.timeouts.backendRequest"),
                t.backend_request.as_deref(),
                &mut ok,
            ),
        })
        .unwrap_or_default();
    if let (Some(request), Some(backend)) = (timeouts.request, timeouts.backend_request)
        && backend > request
    {
        ctx.error(
            entry,
            &format!("{path}.timeouts.backendRequest"),
            "backendRequest must not be longer than request",
            "the request timeout covers all attempts; make it the larger one",
        );
    }
    RuleDraft {
        index,
        name: rule.name.clone(),
        matches,
        filters,
        backends: weighted,
        timeouts,
    }
}

fn object_ref(r: &HttpBackendRef) -> BackendObjectRef {
    BackendObjectRef {
        group: r.group.clone(),
        kind: r.kind.clone(),
        name: r.name.clone(),
        namespace: r.namespace.clone(),
        port: r.port,
    }
}

/// Resolves a backendRef to an AgentgatewayBackend, or to a Service, which outside a
/// cluster is reached by its name as a DNS host on the given port.
fn resolve_backend(
    ctx: &mut Ctx<'_>,
    entry: &Entry<HttpRoute>,
    path: &str,
    r: &BackendObjectRef,
    backends: &BTreeMap<ObjectKey, Arc<Backend>>,
    services: &mut ServiceBackends,
) -> Option<Arc<Backend>> {
    let group = r.group.as_deref().unwrap_or("");
    let kind = r.kind.as_deref().unwrap_or("Service");
    let namespace = r
        .namespace
        .clone()
        .unwrap_or_else(|| entry.key.namespace.clone());
    let resource_kind = match (group, kind) {
        (AGENTGATEWAY_GROUP, "AgentgatewayBackend") => ResourceKind::AgentgatewayBackend,
        ("" | "core", "Service") => ResourceKind::Service,
        _ => {
            ctx.error(
                entry,
                &format!("{path}.kind"),
                format!("backendRefs of kind {group}/{kind} are not supported"),
                "use group: agentgateway.dev, kind: AgentgatewayBackend (or a Service)",
            );
            return None;
        }
    };
    let from = From {
        group: GATEWAY_API_GROUP,
        kind: "HTTPRoute",
        namespace: &entry.key.namespace,
    };
    let to = To {
        group: resource_kind.group(),
        kind: resource_kind.as_str(),
        namespace: &namespace,
        name: &r.name,
    };
    if !reference_allowed(ctx.store, &from, &to) {
        ctx.error(
            entry,
            path,
            format!(
                "{kind} {namespace}/{} is in another namespace and no ReferenceGrant allows it",
                r.name
            ),
            grant_hint(&from, &to),
        );
        return None;
    }
    let key = ObjectKey::new(resource_kind, &namespace, &r.name);
    if resource_kind == ResourceKind::Service {
        let Some(port) = r.port else {
            ctx.error(
                entry,
                &format!("{path}.port"),
                "a Service backendRef needs a port",
                "add port: <number>",
            );
            return None;
        };
        let endpoint = match Endpoint::new(&r.name, port, false) {
            Ok(e) => e,
            Err(e) => {
                ctx.error(entry, &format!("{path}.name"), e.to_string(), "");
                return None;
            }
        };
        let backend = services.entry((key.clone(), port)).or_insert_with(|| {
            Arc::new(Backend::new(
                key,
                BackendKind::Static(Box::new(StaticBackend {
                    host: r.name.clone(),
                    port,
                    tls: None,
                    http2: false,
                    connect_timeout: DEFAULT_CONNECT_TIMEOUT,
                    request_timeout: None,
                    credential: None,
                    endpoint,
                })),
            ))
        });
        return Some(backend.clone());
    }
    match backends.get(&key) {
        Some(b) => Some(b.clone()),
        // A backend that exists but failed to compile has already been reported.
        None if ctx.store.backends.contains_key(&key) => None,
        None => {
            ctx.error(
                entry,
                &format!("{path}.name"),
                format!("AgentgatewayBackend {namespace}/{} does not exist", r.name),
                "fix the name or create the backend",
            );
            None
        }
    }
}

/// Builds the rule as served on one listener, merging policies from the least to the most
/// specific level: Gateway, listener, route, the rule's own timeouts, rule, backend.
fn route_rule(
    entry: &Entry<HttpRoute>,
    rule: &RuleDraft,
    listener: &ListenerDraft,
    policies: &PolicyIndex,
) -> RouteRule {
    let mut traffic = TrafficSettings::default();
    let apply = |target: Target, traffic: &mut TrafficSettings| {
        for parts in policies.at(&target) {
            parts.apply_to(traffic);
        }
    };
    apply(Target::Gateway(listener.gateway.clone()), &mut traffic);
    apply(
        Target::Listener(listener.gateway.clone(), listener.name.clone()),
        &mut traffic,
    );
    apply(Target::Route(entry.key.clone()), &mut traffic);
    if rule.timeouts.request.is_some() {
        traffic.timeouts.request = rule.timeouts.request;
    }
    if rule.timeouts.backend_request.is_some() {
        traffic.timeouts.backend_request = rule.timeouts.backend_request;
    }
    if let Some(name) = &rule.name {
        apply(Target::Rule(entry.key.clone(), name.clone()), &mut traffic);
    }
    let backends = rule
        .backends
        .iter()
        .map(|(weight, backend, filters)| {
            let mut backend_traffic = traffic.clone();
            apply(Target::Backend(backend.key.clone()), &mut backend_traffic);
            backend_traffic.seal();
            WeightedBackend {
                weight: *weight,
                backend: backend.clone(),
                filters: filters.clone(),
                traffic: Arc::new(backend_traffic),
            }
        })
        .collect();
    RouteRule::new(
        entry.key.clone(),
        rule.index,
        rule.name.clone(),
        rule.filters.clone(),
        backends,
        traffic,
    )
}
