//! A compiled configuration made ready to serve: upstream clients and metric series resolved
//! once, so the request path only reads.

use std::collections::HashMap;
use std::sync::Arc;

use config::ir::backend::{AiBackend, AiProvider};
use config::ir::route::RouteRule;
use config::ir::{Backend, BackendKind, Config, Listener, StaticBackend, WeightedBackend};

use crate::llm_route::cloud_auth::TokenCache;
use crate::mcp_route::{self, McpEndpoint};
use crate::metrics::{Metrics, RequestLabels, RequestSeries};
use crate::upstream::health::ProviderHealth;
use crate::upstream::{UpstreamClient, UpstreamPools};

pub struct Snapshot {
    pub config: Arc<Config>,
    /// Keyed by the address of the `Backend` inside `config`.
    clients: HashMap<usize, UpstreamClient>,
    /// Keyed by the address of the `WeightedBackend` inside `config`.
    series: HashMap<usize, Arc<RequestSeries>>,
    /// Requests a listener could not route, keyed by the listener's address.
    unrouted: HashMap<usize, Arc<RequestSeries>>,
    /// Requests no listener took.
    pub unmatched: Arc<RequestSeries>,
    /// Ejection state of providers in priority groups, keyed by target address.
    health: HashMap<usize, Arc<ProviderHealth>>,
    pub metrics: Arc<Metrics>,
    /// Access tokens minted for providers (shared with every other snapshot).
    pub tokens: Arc<TokenCache>,
    /// MCP backends with their sessions, keyed by the address of the `Backend`. Sessions
    /// belong to a configuration: stdio processes end with it.
    mcp: HashMap<usize, McpEndpoint>,
    /// Some backend is Gemini's (directly or on Vertex AI), whose thought signatures ride
    /// in tool-call ids (`llm::gemini::tool_call`): only then do requests for other
    /// providers need them taken out.
    pub gemini_backends: bool,
}

/// Creates (or reuses) the upstream client of every target of a backend, keyed by the
/// target's address.
fn add_backend<'c>(
    backend: &'c Arc<Backend>,
    pools: &UpstreamPools,
    clients: &mut HashMap<usize, UpstreamClient>,
    live: &mut Vec<&'c StaticBackend>,
) -> Result<(), rustls::Error> {
    for target in backend.targets() {
        add_target(target, pools, clients, live)?;
    }
    Ok(())
}

fn add_target<'c>(
    target: &'c StaticBackend,
    pools: &UpstreamPools,
    clients: &mut HashMap<usize, UpstreamClient>,
    live: &mut Vec<&'c StaticBackend>,
) -> Result<(), rustls::Error> {
    live.push(target);
    if let std::collections::hash_map::Entry::Vacant(slot) = clients.entry(addr(target)) {
        slot.insert(pools.client_for(target)?);
    }
    Ok(())
}

fn addr<T>(value: &T) -> usize {
    std::ptr::from_ref(value) as usize
}

impl Snapshot {
    pub fn prepare(
        config: Arc<Config>,
        pools: &UpstreamPools,
        metrics: &Arc<Metrics>,
    ) -> Result<Self, rustls::Error> {
        let mut clients = HashMap::new();
        let mut series = HashMap::new();
        let mut unrouted = HashMap::new();
        let mut live: Vec<&StaticBackend> = Vec::new();
        for port in &config.ports {
            for listener in &port.listeners {
                let gateway = listener.gateway_name.to_string();
                unrouted.insert(
                    addr(listener.as_ref()),
                    metrics.request_series(RequestLabels {
                        gateway: gateway.clone(),
                        route: String::new(),
                        backend: String::new(),
                    }),
                );
                for host in &listener.routes.hosts {
                    for entry in &host.entries {
                        // Answers a rule gives without a backend (redirects, refusals
                        // before one is picked) count under the rule.
                        let labels = RequestLabels {
                            gateway: gateway.clone(),
                            route: entry.rule.display_name().to_string(),
                            backend: String::new(),
                        };
                        series
                            .entry(addr(entry.rule.as_ref()))
                            .or_insert_with(|| metrics.request_series(labels));
                        for mirror in &entry.rule.filters.mirrors {
                            add_backend(&mirror.backend, pools, &mut clients, &mut live)?;
                        }
                        for wb in &entry.rule.backends {
                            add_backend(&wb.backend, pools, &mut clients, &mut live)?;
                            let labels = RequestLabels {
                                gateway: gateway.clone(),
                                route: entry.rule.display_name().to_string(),
                                backend: wb.backend.name().to_string(),
                            };
                            series
                                .entry(addr(wb))
                                .or_insert_with(|| metrics.request_series(labels));
                        }
                    }
                }
            }
        }
        for backend in config.backends.values() {
            add_backend(backend, pools, &mut clients, &mut live)?;
        }
        for jwks in &config.remote_jwks {
            add_target(&jwks.target, pools, &mut clients, &mut live)?;
        }
        pools.retain(&live);
        let mut kept = pools
            .mcp_endpoints
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let mut endpoints = HashMap::new();
        let mcp = config
            .backends
            .values()
            .filter_map(|backend| {
                let BackendKind::Mcp(settings) = &backend.kind else {
                    return None;
                };
                let name = backend.name().to_string();
                let fingerprint = mcp_route::fingerprint(backend, settings);
                let endpoint = match kept.remove(&name) {
                    Some((same, endpoint)) if same == fingerprint => endpoint,
                    _ => McpEndpoint::new(backend, settings, pools.mcp_sessions.clone(), |t| {
                        clients.get(&addr(t)).cloned()
                    }),
                };
                endpoints.insert(name, (fingerprint, endpoint.clone()));
                Some((addr(backend.as_ref()), endpoint))
            })
            .collect();
        // Backends that are gone or changed take their endpoints (and sessions) with them.
        *kept = endpoints;
        drop(kept);
        let health = live
            .iter()
            .map(|t| (addr(*t), Arc::new(ProviderHealth::default())))
            .collect();
        let unmatched = metrics.request_series(RequestLabels {
            gateway: String::new(),
            route: String::new(),
            backend: String::new(),
        });
        let gemini_backends = config.backends.values().any(|backend| {
            let is_gemini =
                |ai: &AiBackend| matches!(ai.provider, AiProvider::Gemini | AiProvider::VertexAi);
            match &backend.kind {
                BackendKind::Ai(ai) => is_gemini(ai),
                BackendKind::AiGroups(groups) => groups
                    .groups
                    .iter()
                    .flatten()
                    .any(|named| is_gemini(&named.backend)),
                _ => false,
            }
        });
        Ok(Self {
            gemini_backends,
            config,
            clients,
            series,
            unrouted,
            unmatched,
            health,
            metrics: metrics.clone(),
            tokens: pools.tokens.clone(),
            mcp,
        })
    }

    /// The pool of one connection target (see `Backend::targets`).
    pub fn client(&self, target: &StaticBackend) -> Option<&UpstreamClient> {
        self.clients.get(&addr(target))
    }

    /// Whether a provider target may be tried now, and a place to record that it failed.
    pub fn health(&self, target: &StaticBackend) -> Option<&Arc<ProviderHealth>> {
        self.health.get(&addr(target))
    }

    pub fn mcp(&self, backend: &Backend) -> Option<&McpEndpoint> {
        self.mcp.get(&addr(backend))
    }

    pub fn series(&self, backend: &WeightedBackend) -> Option<&Arc<RequestSeries>> {
        self.series.get(&addr(backend))
    }

    /// The series of a rule's answers that no backend gave.
    pub fn rule_series(&self, rule: &RouteRule) -> Option<&Arc<RequestSeries>> {
        self.series.get(&addr(rule))
    }

    pub fn unrouted(&self, listener: &Listener) -> &Arc<RequestSeries> {
        self.unrouted
            .get(&addr(listener))
            .unwrap_or(&self.unmatched)
    }
}
