//! Gateways -> listeners -> ports.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use api::ResourceKind;
use api::gateway::{
    CONTROLLER_NAME, FromNamespaces, Gateway, Listener as RawListener,
    ListenerProtocol as RawProtocol, ListenerTls, TlsMode,
};
use api::resource::GATEWAY_API_GROUP;

use crate::compile::Ctx;
use crate::compile::refs::{From, To, grant_hint, reference_allowed};
use crate::compile::secrets::ResolvedSecrets;
use crate::compile::tls::certified_key;
use crate::ir::hostname::HostnamePattern;
use crate::ir::listener::{Listener, ListenerProtocol, PortBinding, ServerCertificate};
use crate::ir::route::RouteTable;
use crate::status::Condition;
use crate::store::{Entry, ObjectKey};

/// A listener while routes are being attached to it.
pub(crate) struct ListenerDraft {
    pub gateway: ObjectKey,
    pub name: String,
    pub port: u16,
    pub protocol: ListenerProtocol,
    pub hostname: HostnamePattern,
    pub allow_all_namespaces: bool,
    /// False when `allowedRoutes.kinds` is set and does not name HTTPRoute.
    pub allows_http_routes: bool,
    pub certificates: Vec<ServerCertificate>,
    pub routes: RouteTable,
    pub attached_routes: usize,
}

pub(crate) fn compile_listeners(
    ctx: &mut Ctx<'_>,
    secrets: &ResolvedSecrets,
) -> Vec<ListenerDraft> {
    let mut out = Vec::new();
    for entry in ctx.store.gateways.values() {
        check_class(ctx, entry);
        let listeners = &entry.resource.spec.listeners;
        if listeners.is_empty() || listeners.len() > 64 {
            ctx.error(
                entry,
                "spec.listeners",
                "a Gateway needs 1 to 64 listeners",
                "add e.g. {name: http, port: 8080, protocol: HTTP}",
            );
        }
        let mut names = BTreeSet::new();
        for (i, listener) in listeners.iter().enumerate() {
            if !names.insert(listener.name.as_str()) {
                ctx.error(
                    entry,
                    &format!("spec.listeners[{i}].name"),
                    format!(
                        "listener name `{}` is used twice in this Gateway",
                        listener.name
                    ),
                    "listener names must be unique within a Gateway",
                );
            }
            if let Some(draft) = compile_listener(ctx, entry, i, listener, secrets) {
                out.push(draft);
            }
        }
    }
    out
}

fn check_class(ctx: &mut Ctx<'_>, entry: &Entry<Gateway>) {
    let class_name = &entry.resource.spec.gateway_class_name;
    let class = ctx
        .store
        .gateway_classes
        .values()
        .find(|c| &c.key.name == class_name);
    if let Some(class) = class
        && class.resource.spec.controller_name != CONTROLLER_NAME
    {
        ctx.error(
            entry,
            "spec.gatewayClassName",
            format!(
                "GatewayClass {class_name} belongs to controller {}, not {CONTROLLER_NAME}",
                class.resource.spec.controller_name
            ),
            format!("use a GatewayClass whose controllerName is {CONTROLLER_NAME}"),
        );
    }
}

fn compile_listener(
    ctx: &mut Ctx<'_>,
    entry: &Entry<Gateway>,
    i: usize,
    listener: &RawListener,
    secrets: &ResolvedSecrets,
) -> Option<ListenerDraft> {
    let path = format!("spec.listeners[{i}]");
    let protocol = match listener.protocol {
        RawProtocol::HTTP => ListenerProtocol::Http,
        RawProtocol::HTTPS => ListenerProtocol::Https,
        other => {
            ctx.error(
                entry,
                &format!("{path}.protocol"),
                format!("protocol {other} is not supported"),
                "use HTTP or HTTPS",
            );
            return None;
        }
    };
    if listener.port == 0 {
        ctx.error(entry, &format!("{path}.port"), "port must be 1..65535", "");
        return None;
    }
    if let Some(h) = &listener.hostname
        && (h.contains(':') || h.contains('/') || h.parse::<std::net::IpAddr>().is_ok())
    {
        ctx.error(
            entry,
            &format!("{path}.hostname"),
            format!("'{h}' is not a host name"),
            "write a DNS name such as api.example.com or *.example.com, without port or scheme",
        );
        return None;
    }
    let hostname = HostnamePattern::parse(listener.hostname.as_deref());
    let certificates = match (protocol, &listener.tls) {
        (ListenerProtocol::Http, Some(_)) => {
            ctx.error(
                entry,
                &format!("{path}.tls"),
                "an HTTP listener cannot have tls",
                "set protocol: HTTPS, or remove tls",
            );
            return None;
        }
        (ListenerProtocol::Https, None) => {
            ctx.error(
                entry,
                &path,
                "an HTTPS listener needs tls.certificateRefs",
                "add tls: {certificateRefs: [{name: my-cert}]} naming a kubernetes.io/tls Secret",
            );
            return None;
        }
        (ListenerProtocol::Https, Some(tls)) => {
            certificates(ctx, entry, &path, tls, &hostname, secrets)
        }
        (ListenerProtocol::Http, None) => Vec::new(),
    };
    let allow_all_namespaces = match listener
        .allowed_routes
        .as_ref()
        .and_then(|a| a.namespaces.as_ref())
        .and_then(|n| n.from)
    {
        None | Some(FromNamespaces::Same) => false,
        Some(FromNamespaces::All) => true,
        Some(FromNamespaces::Selector) => {
            ctx.error(
                entry,
                &format!("{path}.allowedRoutes.namespaces.from"),
                "from: Selector needs namespace labels, which only a cluster has",
                "use Same or All when running from files",
            );
            return None;
        }
    };
    let allows_http_routes = listener.allowed_routes.as_ref().is_none_or(|a| {
        a.kinds.is_empty()
            || a.kinds.iter().any(|k| {
                k.kind == "HTTPRoute"
                    && k.group.as_deref().unwrap_or(GATEWAY_API_GROUP) == GATEWAY_API_GROUP
            })
    });
    Some(ListenerDraft {
        gateway: entry.key.clone(),
        name: listener.name.clone(),
        port: listener.port,
        protocol,
        hostname,
        allow_all_namespaces,
        allows_http_routes,
        certificates,
        routes: RouteTable::default(),
        attached_routes: 0,
    })
}

/// The served certificates of an HTTPS listener, from `kubernetes.io/tls` Secrets (another
/// namespace's only with a ReferenceGrant).
fn certificates(
    ctx: &mut Ctx<'_>,
    entry: &Entry<Gateway>,
    path: &str,
    tls: &ListenerTls,
    hostname: &HostnamePattern,
    secrets: &ResolvedSecrets,
) -> Vec<ServerCertificate> {
    if tls.mode == Some(TlsMode::Passthrough) {
        ctx.error(
            entry,
            &format!("{path}.tls.mode"),
            "TLS passthrough is not supported on HTTPS listeners",
            "use mode: Terminate",
        );
    }
    if tls.certificate_refs.is_empty() {
        ctx.error(
            entry,
            &format!("{path}.tls.certificateRefs"),
            "an HTTPS listener needs at least one certificate",
            "",
        );
    }
    let mut out = Vec::new();
    for (c, cert_ref) in tls.certificate_refs.iter().enumerate() {
        let cpath = format!("{path}.tls.certificateRefs[{c}]");
        let namespace = cert_ref
            .namespace
            .clone()
            .unwrap_or_else(|| entry.key.namespace.clone());
        let key = ObjectKey::new(ResourceKind::Secret, &namespace, &cert_ref.name);
        let from = From {
            group: GATEWAY_API_GROUP,
            kind: "Gateway",
            namespace: &entry.key.namespace,
        };
        let to = To {
            group: "",
            kind: "Secret",
            namespace: &namespace,
            name: &cert_ref.name,
        };
        if !reference_allowed(ctx.store, &from, &to) {
            let message = format!(
                "Secret {namespace}/{} is in another namespace and no ReferenceGrant allows it",
                cert_ref.name
            );
            ctx.error(entry, &cpath, message, grant_hint(&from, &to));
            continue;
        }
        let Some(values) = secrets.get(&key) else {
            let message = format!("Secret {namespace}/{} does not exist", cert_ref.name);
            ctx.error(
                entry,
                &format!("{cpath}.name"),
                message,
                "create a kubernetes.io/tls Secret with tls.crt and tls.key",
            );
            continue;
        };
        match certified_key(values) {
            Ok(key_pair) => out.push(ServerCertificate {
                hostname: hostname.clone(),
                key: key_pair,
                secret: key,
            }),
            Err(e) => {
                let message = format!("Secret {namespace}/{}: {e}", cert_ref.name);
                ctx.error(
                    entry,
                    &cpath,
                    message,
                    "tls.crt holds the PEM chain, tls.key its PEM private key",
                );
            }
        }
    }
    out
}

/// Groups listeners by port, rejecting conflicts: one protocol per port, and no two
/// listeners on a port with the same hostname.
pub(crate) fn bind_ports(ctx: &mut Ctx<'_>, drafts: Vec<ListenerDraft>) -> Vec<PortBinding> {
    let mut by_port: BTreeMap<u16, Vec<ListenerDraft>> = BTreeMap::new();
    for draft in drafts {
        by_port.entry(draft.port).or_default().push(draft);
    }
    let mut gateway_listeners: BTreeMap<ObjectKey, (usize, usize)> = BTreeMap::new();
    let mut ports = Vec::new();
    for (port, drafts) in by_port {
        let protocol = drafts[0].protocol;
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        let mut conflict = false;
        for draft in &drafts {
            let id = format!("{}/{}", draft.gateway.namespaced_name(), draft.name);
            let entry = ctx.store.gateways.get(&draft.gateway);
            let listener_path = entry
                .and_then(|g| {
                    g.resource
                        .spec
                        .listeners
                        .iter()
                        .position(|l| l.name == draft.name)
                })
                .map(|i| format!("spec.listeners[{i}]"))
                .unwrap_or_else(|| "spec.listeners".into());
            if draft.protocol != protocol {
                if let Some(entry) = entry {
                    ctx.error(
                        entry,
                        &format!("{listener_path}.protocol"),
                        format!("port {port} is used by both HTTP and HTTPS listeners"),
                        "give HTTP and HTTPS listeners different ports",
                    );
                }
                conflict = true;
            }
            if let Some(other) = seen.insert(draft.hostname.to_string(), id.clone()) {
                if let Some(entry) = entry {
                    ctx.error(entry, &listener_path, format!("listener {id} duplicates listener {other}: both serve port {port} for hostname {}", draft.hostname), "give one of them another port or a distinct hostname");
                }
                conflict = true;
            }
        }
        if conflict {
            continue;
        }
        let mut listeners = Vec::new();
        let mut certificates = Vec::new();
        for draft in drafts {
            let counts = gateway_listeners.entry(draft.gateway.clone()).or_default();
            counts.0 += 1;
            counts.1 += draft.attached_routes;
            certificates.extend(draft.certificates);
            let gateway_name: Arc<str> = Arc::from(draft.gateway.namespaced_name());
            let qualified_name = Arc::from(format!("{gateway_name}/{}", draft.name));
            listeners.push(Arc::new(Listener {
                gateway: draft.gateway,
                gateway_name,
                qualified_name,
                name: draft.name,
                hostname: draft.hostname,
                routes: draft.routes,
            }));
        }
        listeners.sort_by(|a, b| a.hostname.specificity_cmp(&b.hostname));
        certificates.sort_by(|a, b| a.hostname.specificity_cmp(&b.hostname));
        ports.push(PortBinding {
            port,
            protocol,
            listeners,
            certificates,
        });
    }
    for (gateway, (listeners, routes)) in gateway_listeners {
        ctx.condition(
            &gateway,
            Condition::ok("Accepted", "Accepted", "gateway is valid"),
        );
        ctx.condition(
            &gateway,
            Condition::ok(
                "Programmed",
                "Programmed",
                format!("{listeners} listener(s), {routes} route attachment(s)"),
            ),
        );
    }
    ports
}
