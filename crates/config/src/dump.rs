//! The resolved configuration as JSON, for the admin API's `/config_dump`.
//! Secrets never appear: credentials are shown as `<redacted>`.

use serde_json::{Value, json};

use crate::duration::format_duration;
use crate::ir::Config;
use crate::ir::backend::{
    AiBackend, BackendCredential, BackendKind, McpBackend, McpTransport, StaticBackend,
};
use crate::ir::filters::{HeaderOps, PathModifier, RouteFilters};
use crate::ir::policy::{Buckets, LimitKey, LimitUnit, TrafficSettings};
use crate::ir::route::{PathMatch, RequestMatch, ValueMatch};

pub fn config_dump(config: &Config) -> Value {
    json!({
        "ports": config.ports.iter().map(|p| json!({
            "port": p.port,
            "protocol": p.protocol,
            "certificates": p.certificates.iter().map(|c| json!({"hostname": c.hostname, "secret": c.secret.to_string()})).collect::<Vec<_>>(),
            "listeners": p.listeners.iter().map(|l| json!({
                "gateway": l.gateway.namespaced_name(),
                "name": l.name,
                "hostname": l.hostname,
                "routes": l.routes.hosts.iter().map(|h| json!({
                    "hostname": h.hostname,
                    "entries": h.entries.iter().map(|e| json!({
                        "route": e.rule.display_name(),
                        "rule": e.rule.rule_index,
                        "match": request_match(&e.matcher),
                        "filters": filters(&e.rule.filters),
                        "traffic": traffic(&e.rule.traffic),
                        "backends": e.rule.backends.iter().map(|b| json!({
                            "backend": b.backend.name(),
                            "weight": b.weight,
                            "filters": filters(&b.filters),
                            "traffic": traffic(&b.traffic),
                        })).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "backends": config.backends.values().map(|b| match &b.kind {
            BackendKind::Static(s) => json!({"name": b.name(), "static": target(s)}),
            BackendKind::Ai(ai) => json!({"name": b.name(), "ai": provider(ai)}),
            BackendKind::AiGroups(groups) => json!({
                "name": b.name(),
                "ai": {"groups": groups.groups.iter().map(|g| g.iter().map(|p| json!({"name": p.name, "provider": provider(&p.backend)})).collect::<Vec<_>>()).collect::<Vec<_>>()},
            }),
            BackendKind::Mcp(mcp) => json!({"name": b.name(), "mcp": mcp_backend(mcp)}),
        }).collect::<Vec<_>>(),
        "logging": {"level": config.logging.level, "format": config.logging.format.map(|f| f.as_str())},
        "shutdown": {"min_seconds": config.shutdown.min.map(|d| d.as_secs()), "max_seconds": config.shutdown.max.map(|d| d.as_secs())},
    })
}

fn mcp_backend(mcp: &McpBackend) -> Value {
    json!({
        "stateful": mcp.stateful,
        "failOpen": mcp.fail_open,
        "prefixMode": format!("{:?}", mcp.prefix_mode),
        "allowedHosts": mcp.allowed_hosts,
        "idleTimeout": format_duration(mcp.idle_timeout),
        "targets": mcp.targets.iter().map(|t| match &t.transport {
            McpTransport::StreamableHttp { backend, path } => json!({"name": t.name, "streamableHttp": target(backend), "path": path}),
            McpTransport::Sse { backend, path } => json!({"name": t.name, "sse": target(backend), "path": path}),
            // Environment values may hold credentials: only their names are shown.
            McpTransport::Stdio { cmd, args, env } => json!({"name": t.name, "stdio": {"cmd": cmd, "args": args, "env": env.keys().collect::<Vec<_>>()}}),
        }).collect::<Vec<_>>(),
    })
}

fn provider(ai: &AiBackend) -> Value {
    let mut value = json!({
        "provider": ai.provider.name(),
        "model": ai.model,
        "path": ai.path,
        "pathPrefix": ai.path_prefix,
        "target": target(&ai.target),
    });
    // Region settings only appear for the providers that have them.
    if let Some(v) = &ai.vertex {
        value["vertex"] = json!({"project": v.project, "region": v.region});
    }
    if let Some(b) = &ai.bedrock {
        value["bedrock"] = json!({"region": b.region});
    }
    value
}

fn target(s: &StaticBackend) -> Value {
    json!({
        "host": s.host,
        "port": s.port,
        "tls": s.tls.as_ref().map(|t| json!({
            "caCertificates": t.ca_certificates.len(),
            "insecureSkipVerify": t.insecure_skip_verify,
            "sni": t.sni,
        })),
        "http2": s.http2,
        "connectTimeout": format_duration(s.connect_timeout),
        "requestTimeout": s.request_timeout.map(format_duration),
        "auth": s.credential.as_ref().map(credential),
    })
}

fn credential(c: &BackendCredential) -> Value {
    match c {
        BackendCredential::Authorization(_) => json!({"authorization": "<redacted>"}),
        BackendCredential::Passthrough => json!({"passthrough": {}}),
        BackendCredential::Aws(aws) => json!({"aws": {
            "accessKeyId": "<redacted>",
            "sessionToken": aws.keys.session_token.is_some(),
            "region": aws.region,
        }}),
        BackendCredential::Azure(azure) => json!({"azure": {
            "tenantId": azure.tenant_id,
            "clientId": azure.client_id,
            "clientSecret": "<redacted>",
            "tokenEndpoint": target(&azure.token_endpoint),
        }}),
        BackendCredential::Gcp(gcp) => json!({"gcp": {
            "serviceAccount": gcp.account.client_email,
            "tokenEndpoint": target(&gcp.token_endpoint),
        }}),
    }
}

fn request_match(m: &RequestMatch) -> Value {
    let path = match &m.path {
        PathMatch::Exact(p) => json!({"type": "Exact", "value": p}),
        PathMatch::Prefix(p) => json!({"type": "PathPrefix", "value": p}),
        PathMatch::Regex(r) => json!({"type": "RegularExpression", "value": r.as_str()}),
    };
    let value = |v: &ValueMatch| match v {
        ValueMatch::Exact(s) => json!({"type": "Exact", "value": s}),
        ValueMatch::Regex(r) => json!({"type": "RegularExpression", "value": r.as_str()}),
    };
    json!({
        "path": path,
        "method": m.method.as_ref().map(|m| m.as_str()),
        "headers": m.headers.iter().map(|h| json!({"name": h.name.as_str(), "match": value(&h.value)})).collect::<Vec<_>>(),
        "queryParams": m.query.iter().map(|q| json!({"name": q.name, "match": value(&q.value)})).collect::<Vec<_>>(),
    })
}

fn header_ops(ops: &HeaderOps) -> Value {
    let pairs = |list: &[(http::HeaderName, http::HeaderValue)]| {
        list.iter()
            .map(|(n, v)| json!({"name": n.as_str(), "value": v.to_str().unwrap_or("<binary>")}))
            .collect::<Vec<_>>()
    };
    json!({"set": pairs(&ops.set), "add": pairs(&ops.add), "remove": ops.remove.iter().map(|n| n.as_str()).collect::<Vec<_>>()})
}

fn path_modifier(p: &PathModifier) -> Value {
    match p {
        PathModifier::ReplaceFullPath(v) => json!({"replaceFullPath": v}),
        PathModifier::ReplacePrefixMatch(v) => json!({"replacePrefixMatch": v}),
    }
}

fn filters(f: &RouteFilters) -> Value {
    let mut out = serde_json::Map::new();
    if !f.request_headers.is_empty() {
        out.insert(
            "requestHeaderModifier".into(),
            header_ops(&f.request_headers),
        );
    }
    if !f.response_headers.is_empty() {
        out.insert(
            "responseHeaderModifier".into(),
            header_ops(&f.response_headers),
        );
    }
    if let Some(r) = &f.redirect {
        out.insert(
            "requestRedirect".into(),
            json!({
                "scheme": r.scheme, "hostname": r.hostname, "port": r.port,
                "path": r.path.as_ref().map(path_modifier), "statusCode": r.status.as_u16(),
            }),
        );
    }
    if let Some(r) = &f.rewrite {
        out.insert(
            "urlRewrite".into(),
            json!({
                "hostname": r.hostname.as_ref().and_then(|h| h.to_str().ok()),
                "path": r.path.as_ref().map(path_modifier),
            }),
        );
    }
    if !f.mirrors.is_empty() {
        out.insert(
            "requestMirror".into(),
            f.mirrors
                .iter()
                .map(|m| json!({"backend": m.backend.name(), "fraction": m.fraction}))
                .collect(),
        );
    }
    Value::Object(out)
}

fn traffic(t: &TrafficSettings) -> Value {
    let mut value = traffic_basics(t);
    // Request policies appear only where set, so dumps of routes without them stay short.
    if let Some(policies) = request_policies(t) {
        value["policies"] = policies;
    }
    value
}

/// CORS, authentication and rate limits, without their secrets.
fn request_policies(t: &TrafficSettings) -> Option<Value> {
    let limit = |unit: LimitUnit, limit: &::policy::ratelimit::Limit, key: Option<&LimitKey>| {
        json!({
            "unit": format!("{unit:?}"),
            "perUnit": limit.per_unit,
            "period": format_duration(limit.unit),
            "capacity": limit.capacity(),
            "key": key.map(|k| format!("{k:?}")),
        })
    };
    let locals: Vec<Value> = t
        .local_limits
        .iter()
        .map(|l| match &l.buckets {
            Buckets::Shared(b) => limit(l.unit, b.limit(), None),
            Buckets::PerKey(b, key) => limit(l.unit, b.limit(), Some(key)),
        })
        .collect();
    let rules = |sets: &[::policy::authorization::RuleSet]| {
        sets.iter()
            .map(|r| json!({"action": format!("{:?}", r.action()), "matchExpressions": r.expressions().collect::<Vec<_>>()}))
            .collect::<Vec<_>>()
    };
    let any = t.cors.is_some()
        || !t.authorization.is_empty()
        || !t.mcp_authorization.is_empty()
        || t.jwt.is_some()
        || t.api_keys.is_some()
        || t.basic.is_some()
        || !locals.is_empty()
        || t.global_limits.is_some();
    any.then(|| {
        json!({
            "cors": t.cors.is_some(),
            "authorization": rules(&t.authorization),
            "mcpAuthorization": rules(&t.mcp_authorization),
            "jwtIssuers": t.jwt.as_ref().map(|j| j.validator.providers().iter().map(|p| p.issuer().to_string()).collect::<Vec<_>>()),
            "apiKeys": t.api_keys.as_ref().map(|k| k.0.keys().len()),
            "basicUsers": t.basic.as_ref().map(|b| b.0.users().len()),
            "localLimits": locals,
            "globalLimits": t.global_limits.as_ref().map(|g| json!({
                "redis": g.address,
                "limits": g.entries.iter().map(|e| json!({
                    "unit": format!("{:?}", e.unit),
                    "perUnit": e.limit.per_unit,
                    "period": format_duration(e.limit.unit),
                    "capacity": e.limit.effective_capacity(),
                    "key": e.key.as_ref().map(|k| format!("{k:?}")),
                })).collect::<Vec<_>>(),
            })),
        })
    })
}

fn traffic_basics(t: &TrafficSettings) -> Value {
    json!({
        "timeouts": {
            "request": t.timeouts.request.map(format_duration),
            "backendRequest": t.timeouts.backend_request.map(format_duration),
        },
        "retry": t.retry.as_ref().map(|r| json!({"attempts": r.attempts, "codes": r.codes, "backoff": format_duration(r.backoff)})),
        "requestHeaders": header_ops(&t.request_headers),
        "responseHeaders": header_ops(&t.response_headers),
        "auth": t.credential.as_ref().map(credential),
        "ai": t.ai.as_ref().map(|ai| json!({
            "modelAliases": ai.model_aliases.iter().map(|(k, v)| json!({"from": k, "to": v})).collect::<Vec<_>>(),
            "defaults": ai.defaults.iter().map(|(f, v)| json!({"field": f, "value": v})).collect::<Vec<_>>(),
            "overrides": ai.overrides.iter().map(|(f, v)| json!({"field": f, "value": v})).collect::<Vec<_>>(),
            "prepend": ai.prepend.iter().map(|m| json!({"role": m.role, "content": m.content})).collect::<Vec<_>>(),
            "append": ai.append.iter().map(|m| json!({"role": m.role, "content": m.content})).collect::<Vec<_>>(),
        })),
    })
}
