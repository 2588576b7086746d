//! The request pipeline: every phase, once, in order, with the reason for its place.
//!
//! A phase either lets the request continue or answers it early (a redirect, a 404).
//! Early answers are not failures; failures are `ProxyError`s, mapped to a status and a
//! JSON body in one place (`error.rs`).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::server::idle::ClientBody;
use config::ir::filters::{PathModifier, Redirect};
use config::ir::policy::TrafficSettings;
use config::ir::route::PathMatch;
use config::ir::{
    BackendKind, Listener, RequestFacts, RouteEntry, RouteRule, StaticBackend, WeightedBackend,
};
use futures_util::FutureExt;
use futures_util::future::Either;
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode, Uri};

use crate::Shared;
use crate::access_log::{AccessLog, RequestLog, Unanswered};
use crate::admission;
use crate::body::{BoxBody, boxed, empty};
use crate::deadline::{Elapsed, deadline};
use crate::error::{GatewayAnswer, ProxyError};
use crate::forward::{self, Outbound, strip_hop_by_hop};
use crate::gen_ai_metrics::SharedGenAiFacts;
use crate::llm_route;
use crate::mcp_route;
use crate::mirror;
use crate::observed::Observed;
use crate::path_normal;
use crate::server::idle::Busy;
use crate::snapshot::Snapshot;
use crate::tunnel;
use crate::upstream::connector::UpstreamAddr;

/// Facts about the connection a request arrived on.
#[derive(Debug, Clone, Copy)]
pub struct Connection {
    pub client: SocketAddr,
    pub port: u16,
    pub tls: bool,
}

/// Serves one request. Never fails: every error becomes a response.
pub async fn handle(
    shared: Arc<Shared>,
    conn: Connection,
    request: Request<hyper::body::Incoming>,
    busy: Busy,
) -> Response<BoxBody> {
    let request = request.map(|body| busy.watch_body(body));
    // The snapshot is taken once: a reload during this request does not change its config.
    let snapshot = shared.snapshot.load_full();
    let start = Instant::now();
    let host = request_host(&request);
    let mut pending = Unanswered::new(RequestLog {
        start,
        method: request.method().clone(),
        host: host.clone(),
        path: request.uri().path_and_query().cloned(),
        status: 0,
        gateway: None,
        listener: None,
        route: None,
        backend: None,
        upstream: None,
        client: conn.client,
        error: None,
        series: Some(snapshot.unmatched.clone()),
        gen_ai: None,
        llm_client: None,
        mcp: None,
    });
    let Some(log) = pending.record() else {
        return ProxyError::Internal("the request's record is gone".into()).to_response();
    };
    // Boxed: the pipeline's state machine is large, and the server moves the future it is
    // given; a box keeps that move to one pointer.
    let response = match Box::pin(route_and_serve(&snapshot, conn, host, request, log)).await {
        Ok(response) => match response.extensions().get::<GatewayAnswer>().cloned() {
            Some(answer) => {
                log.error = Some(answer.kind);
                match log.llm_client {
                    Some(api) => llm_route::refusal_response(response, &answer, api),
                    None => response,
                }
            }
            None => response,
        },
        Err(error) => {
            log.error = Some(error.kind());
            shared.metrics.count_connect_failure(&error);
            match log.llm_client {
                Some(api) => llm_route::error_response(&error, api),
                None => error.to_response(),
            }
        }
    };
    log.status = response.status().as_u16();
    log.gen_ai = response.extensions().get::<SharedGenAiFacts>().cloned();
    let (parts, body) = response.into_parts();
    let Some(log) = pending.answered() else {
        return ProxyError::Internal("the request's record is gone".into()).to_response();
    };
    let mut access = AccessLog::new(log, busy);
    // An answer with no body (a redirect, a preflight) is whole with its head: the server
    // never polls such a body, so its end would otherwise read as the client going away.
    if http_body::Body::is_end_stream(&body) {
        access.finish_now();
    }
    Response::from_parts(parts, boxed(Observed::new(body, access)))
}

async fn route_and_serve(
    snapshot: &Snapshot,
    conn: Connection,
    host: String,
    mut request: Request<ClientBody>,
    log: &mut RequestLog,
) -> Result<Response<BoxBody>, ProxyError> {
    // 0. Requests the gateway does not serve, and one form of the path for matching,
    //    policies and the backend alike.
    check_form(&request)?;
    if let Some(uri) = path_normal::normalize(request.uri())? {
        *request.uri_mut() = uri;
    }

    // 1. The OAuth metadata of a protected MCP route is public: it is how a client learns
    //    where to get the token the route asks for, so no route's policies may stand in
    //    front of it (a catch-all route would otherwise take its path and ask for a token).
    if let Some(document) = mcp_route::protected_resource_metadata(snapshot, conn, &host, &request)
    {
        return Ok(document);
    }

    // 2. Listener and route: every later phase depends on which rule applies.
    let (listener, entry) = match_route(snapshot, conn, &host, &request, log)?;
    let rule = &entry.rule;

    // 3. Redirect: answers the client directly, before anything is forwarded.
    if let Some(redirect) = &rule.filters.redirect {
        let prefix = matched_prefix(entry);
        return Ok(redirect_response(
            redirect,
            &host,
            conn,
            request.uri(),
            prefix,
        ));
    }

    // 4. Backend choice (weights) comes before header edits, which may be per backend.
    let backend = pick_backend(&rule.backends).ok_or_else(|| ProxyError::NoBackends {
        route: rule.display_name().to_string(),
    })?;
    log.backend = Some(backend.backend.name().clone());
    log.series = snapshot.series(backend).cloned().or(log.series.take());
    // On LLM routes the policies' refusals, too, come in the shape of the client's API.
    if let BackendKind::Ai(_) | BackendKind::AiGroups(_) = &backend.backend.kind {
        log.llm_client = Some(llm_route::client_api(
            backend.traffic.ai.as_deref(),
            request.uri().path(),
        ));
    }

    // 5. Traffic policies: CORS (preflights answered here), authentication, the external
    //    authorization service, CEL authorization, local then global request limits. They
    //    come before any edit so they judge the request the client sent.
    let (mut parts, body) = request.into_parts();
    let traffic = &backend.traffic;
    let mut admitted = match admission::admit(traffic, &mut parts) {
        Ok(admitted) => admitted,
        Err(answer) => return Ok(mcp_route::point_to_metadata(backend, answer, conn, &parts)),
    };
    // The services asked over the network are boxed and only when configured: their
    // futures are large, and inline they would enlarge every request's future.
    if traffic.ext_authz.is_some() {
        let checked: AdmissionFuture<'_> = Box::pin(admission::external_authz(
            traffic,
            &mut parts,
            conn.client,
            conn.tls,
            &admitted,
        ));
        if let Err(answer) = checked.await {
            return Ok(answer);
        }
    }
    if let Err(answer) =
        admission::decide(traffic, &mut parts, &host, conn.client.ip(), &mut admitted)
    {
        return Ok(answer);
    }
    if traffic.rate_limit_service.is_some() || traffic.global_limits.is_some() {
        let limited: AdmissionFuture<'_> = Box::pin(admission::limit_globally(
            traffic,
            &mut parts,
            &host,
            conn.client.ip(),
            &mut admitted,
            &snapshot.metrics,
        ));
        if let Err(answer) = limited.await {
            return Ok(answer);
        }
    }

    // MCP routes answer from the gateway's own sessions: no request edits apply to them.
    if let BackendKind::Mcp(settings) = &backend.backend.kind {
        let endpoint = snapshot.mcp(&backend.backend).ok_or_else(|| {
            ProxyError::Internal(format!(
                "no MCP endpoint for backend {}",
                backend.backend.name()
            ))
        })?;
        let request = mcp_route::McpRequest {
            endpoint,
            mcp: settings,
            traffic,
            listener,
            host: &host,
            attributes: admission::attributes(&parts, &host, conn.client.ip(), &admitted),
        };
        let mut facts = mcp_route::McpLogFacts::default();
        // Boxed, as LLM routes are: the MCP future is large, and inline it would make every
        // request's pipeline future (plain proxying included) that much larger to move.
        let served: Pin<Box<dyn Future<Output = Response<BoxBody>> + Send + '_>> =
            Box::pin(mcp_route::serve(request, &parts, body, &mut facts));
        let mut response = served.await;
        snapshot.metrics.mcp_request(backend.backend.name(), &facts);
        log.mcp = Some(facts);
        response.headers_mut().extend(admitted.response_headers);
        return Ok(response);
    }

    // 6. Request edits, in Gateway API order: the rule's filters, the backendRef's, then
    //    policy header modifiers; the URL rewrite last so header edits see the original path.
    let rewritten_host = edit_request(&mut parts, entry, backend)?;

    // 7. Mirrors get the request as the backend will see it; they never hold it up.
    let body = match rule.filters.mirrors.is_empty() {
        true => boxed(body),
        false => spawn_mirrors(snapshot, entry, &parts, boxed(body), conn, &host),
    };

    // 8. Forward to the backend, within the route's overall deadline.
    //    A URL rewrite may have changed which API the path names; the rewritten path decides.
    if log.llm_client.is_some() && rule.filters.rewrite.is_some() {
        log.llm_client = Some(llm_route::client_api(
            traffic.ai.as_deref(),
            parts.uri.path(),
        ));
    }
    let llm_api = log.llm_client;
    if let Some(api) = llm_api {
        // A path the gateway passes through reaches the provider without the route's
        // prefix, as the paths it interprets do (`/openai/v1/responses` -> `/v1/responses`),
        // unless the rule rewrites the path itself.
        if api == llm::ClientApi::Passthrough
            && rule.filters.rewrite.is_none()
            && let Some(prefix) = matched_prefix(entry).filter(|p| *p != "/")
        {
            let strip = PathModifier::ReplacePrefixMatch("/".to_string());
            parts.uri = rewrite_path(&parts.uri, &strip, Some(prefix))?;
        }
    }
    // A WebSocket handshake to a static backend keeps its upgrade headers (`tunnel.rs`).
    let upgrade = match &backend.backend.kind {
        BackendKind::Static(_) => tunnel::requested(&mut parts),
        _ => None,
    };
    let hop = Hop {
        conn,
        original_host: host,
        rewritten_host,
        llm_api,
        websocket: upgrade.is_some(),
    };
    let response = forward_to_backend(snapshot, rule, backend, parts, body, hop)?.await?;

    // 9. Response edits: hop-by-hop headers out, then the rule's, backendRef's and policy's
    //    modifiers, then what the traffic policies owe the answer (CORS, rate-limit state).
    //    A switch to WebSocket joins the two connections once the 101 is written.
    let (mut parts, body) = response.into_parts();
    log.upstream = parts.extensions.get::<UpstreamAddr>().map(|a| a.0);
    let switched = parts.status == StatusCode::SWITCHING_PROTOCOLS;
    if switched {
        tunnel::open(upgrade, &mut parts.extensions, backend.backend.name())?;
    }
    strip_hop_by_hop(&mut parts.headers);
    if switched {
        tunnel::restore_headers(&mut parts.headers);
    }
    rule.filters.response_headers.apply(&mut parts.headers);
    backend.filters.response_headers.apply(&mut parts.headers);
    backend.traffic.response_headers.apply(&mut parts.headers);
    for (name, value) in admitted.response_headers.iter() {
        if name == header::VARY {
            parts.headers.append(name, value.clone());
        } else {
            parts.headers.insert(name, value.clone());
        }
    }
    Ok(Response::from_parts(parts, body))
}

/// Finds the listener for the port and host, then the route entry; records both in the log.
fn match_route<'s>(
    snapshot: &'s Snapshot,
    conn: Connection,
    host: &str,
    request: &Request<ClientBody>,
    log: &mut RequestLog,
) -> Result<(&'s Listener, &'s RouteEntry), ProxyError> {
    let listener = snapshot
        .config
        .port(conn.port)
        .and_then(|p| p.listener_for(host))
        .ok_or_else(|| ProxyError::ListenerNotFound {
            port: conn.port,
            host: host.to_string(),
        })?;
    log.gateway = Some(listener.gateway_name.clone());
    log.listener = Some(listener.qualified_name.clone());
    log.series = Some(snapshot.unrouted(listener).clone());
    let entry = find_route(listener, host, request)?;
    log.route = Some(entry.rule.display_name().clone());
    if let Some(series) = snapshot.rule_series(&entry.rule) {
        log.series = Some(series.clone());
    }
    Ok((listener, entry))
}

/// Applies header modifiers and the URL rewrite; returns the Host a rewrite asks for.
fn edit_request(
    parts: &mut http::request::Parts,
    entry: &RouteEntry,
    backend: &WeightedBackend,
) -> Result<Option<HeaderValue>, ProxyError> {
    let rule = &entry.rule;
    rule.filters.request_headers.apply(&mut parts.headers);
    backend.filters.request_headers.apply(&mut parts.headers);
    backend.traffic.request_headers.apply(&mut parts.headers);
    let Some(rewrite) = &rule.filters.rewrite else {
        return Ok(None);
    };
    if let Some(path) = &rewrite.path {
        parts.uri = rewrite_path(&parts.uri, path, matched_prefix(entry))?;
    }
    Ok(rewrite.hostname.clone())
}

/// Where the request came from and which Host it goes out with.
#[derive(Clone)]
pub(crate) struct Hop {
    pub conn: Connection,
    pub original_host: String,
    pub rewritten_host: Option<HeaderValue>,
    /// On LLM routes, the API the client speaks (decided once, by path and policy).
    pub llm_api: Option<llm::ClientApi>,
    /// The client asked to switch to WebSocket (static backends only).
    pub websocket: bool,
}

/// Starts sending the request to the backend (with retries and per-attempt deadlines)
/// under the route's overall request timeout.
///
/// A plain function returning the future, not an async fn: an async fn keeps its
/// arguments (the request head among them) in its own state beside the future it awaits,
/// and every such layer is copied when the request's future is built. The common case, a
/// single attempt at a static backend, is one future under one timer; retries and LLM
/// routes are boxed, being larger and rarer.
fn forward_to_backend<'a>(
    snapshot: &'a Snapshot,
    rule: &'a RouteRule,
    backend: &'a WeightedBackend,
    mut parts: http::request::Parts,
    body: BoxBody,
    hop: Hop,
) -> Result<
    Either<
        impl Future<Output = Forwarded> + Send + 'a,
        impl Future<Output = Forwarded> + Send + 'a,
    >,
    ProxyError,
> {
    let name = backend.backend.name();
    let traffic = &backend.traffic;
    let limit = traffic.timeouts.request;
    let boxed: BoxedForward<'a> = match &backend.backend.kind {
        BackendKind::Static(target) => {
            let outbound = outbound(snapshot, name, target, traffic, hop)?;
            forward::prepare(&outbound, &mut parts)?;
            match outbound.retry.filter(|r| r.attempts > 1) {
                None => {
                    let request = Request::from_parts(parts, body);
                    let timeout = move || route_timeout(rule, limit);
                    return Ok(Either::Left(forward::send_once(
                        &outbound, request, limit, timeout,
                    )));
                }
                Some(retry) => Box::pin(async move {
                    forward::send_with_retries(&outbound, retry, parts, body).await
                }),
            }
        }
        BackendKind::Ai(ai) => {
            let api = hop
                .llm_api
                .unwrap_or_else(|| llm_route::client_api(traffic.ai.as_deref(), parts.uri.path()));
            let outbound = outbound(snapshot, name, &ai.target, traffic, hop)?;
            Box::pin(llm_route::serve(
                snapshot,
                ai,
                traffic.ai.as_deref(),
                api,
                outbound,
                parts,
                body,
            ))
        }
        BackendKind::AiGroups(groups) => Box::pin(llm_route::failover::serve(
            snapshot, name, groups, traffic, hop, parts, body,
        )),
        BackendKind::Mcp(_) => {
            return Err(ProxyError::Internal(format!(
                "MCP backend {name} reached the HTTP forwarder"
            )));
        }
    };
    // The deadline goes around the box, not inside it: built inside, the large future
    // would be copied into the deadline and then into the box.
    let within_route = move |r: Result<Forwarded, Elapsed>| {
        r.unwrap_or_else(|Elapsed| Err(route_timeout(rule, limit)))
    };
    Ok(Either::Right(deadline(limit, boxed).map(within_route)))
}

type Forwarded = Result<Response<BoxBody>, ProxyError>;

type BoxedForward<'a> = Pin<Box<dyn Future<Output = Forwarded> + Send + 'a>>;

type AdmissionFuture<'a> = Pin<Box<dyn Future<Output = Result<(), Response<BoxBody>>> + Send + 'a>>;

/// How one request goes out to one connection target.
pub(crate) fn outbound<'a>(
    snapshot: &'a Snapshot,
    name: &Arc<str>,
    target: &'a StaticBackend,
    traffic: &'a TrafficSettings,
    hop: Hop,
) -> Result<Outbound<'a>, ProxyError> {
    let client = snapshot
        .client(target)
        .ok_or_else(|| ProxyError::Internal(format!("no upstream pool for backend {name}")))?;
    Ok(Outbound {
        backend_name: name.clone(),
        backend: target,
        client,
        credential: traffic.credential.as_ref().or(target.credential.as_ref()),
        host: hop
            .rewritten_host
            .unwrap_or_else(|| target.endpoint.host_header.clone()),
        client_addr: hop.conn.client,
        downstream_tls: hop.conn.tls,
        original_host: hop.original_host,
        retry: traffic.retry.as_ref(),
        attempt_timeout: traffic.timeouts.backend_request.or(target.request_timeout),
        websocket: hop.websocket,
        metrics: &snapshot.metrics,
    })
}

/// The answer when the route's overall request timeout passes.
fn route_timeout(rule: &RouteRule, limit: Option<Duration>) -> ProxyError {
    ProxyError::RequestTimeout {
        route: rule.display_name().to_string(),
        after: limit.unwrap_or_default(),
    }
}

/// Refuses what no route can serve: a tunnel (CONNECT), and an HTTP/1.1 request without
/// exactly one `Host` (RFC 9112 §3.2), whose host the gateway would have to guess.
/// The most a request's target and headers may take (names and values), as Envoy's
/// default `max_request_headers_kb`: larger ones are answered 431 in JSON here (hyper's own
/// limits, set above it, answer without a body) rather than passed on to a backend.
const MAX_HEAD_BYTES: usize = 60 * 1024;

fn check_form<B>(request: &Request<B>) -> Result<(), ProxyError> {
    // HTTP/2's `:authority` is in the URI, not among the headers.
    let uri = request.uri();
    let target = uri.path_and_query().map_or(0, |p| p.as_str().len())
        + uri.authority().map_or(0, |a| a.as_str().len());
    let size = request.headers().iter().fold(target, |sum, (name, value)| {
        sum + name.as_str().len() + value.len()
    });
    if size > MAX_HEAD_BYTES {
        return Err(ProxyError::HeadersTooLarge {
            size,
            limit: MAX_HEAD_BYTES,
        });
    }
    if request.method() == http::Method::CONNECT {
        return Err(ProxyError::MethodNotAllowed(
            "CONNECT is not served: the gateway proxies HTTP requests (and WebSocket upgrades), not tunnels".into(),
        ));
    }
    if request.version() == http::Version::HTTP_11 && request.uri().authority().is_none() {
        let mut hosts = request.headers().get_all(header::HOST).iter();
        let valid = match (hosts.next(), hosts.next()) {
            // Checked by hand: parsing it as an authority would copy it on every request.
            (Some(host), None) => {
                !host.is_empty() && host.as_bytes().iter().all(u8::is_ascii_graphic)
            }
            _ => false,
        };
        if !valid {
            return Err(ProxyError::InvalidRequest(
                "an HTTP/1.1 request needs exactly one valid Host header".into(),
            ));
        }
    }
    Ok(())
}

/// Host of the request, lower-case and without port: `:authority` for HTTP/2, else `Host`.
fn request_host<B>(request: &Request<B>) -> String {
    let raw = match request.uri().authority() {
        Some(authority) => authority.as_str(),
        None => request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default(),
    };
    strip_port(raw).to_ascii_lowercase()
}

fn strip_port(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    }
}

fn find_route<'a>(
    listener: &'a Listener,
    host: &str,
    request: &Request<ClientBody>,
) -> Result<&'a RouteEntry, ProxyError> {
    let facts = RequestFacts {
        host,
        method: request.method(),
        path: request.uri().path(),
        query: request.uri().query(),
        headers: request.headers(),
    };
    listener
        .routes
        .find(&facts)
        .ok_or_else(|| ProxyError::RouteNotFound {
            method: request.method().to_string(),
            host: host.to_string(),
            path: request.uri().path().to_string(),
            listener: listener.qualified_name.to_string(),
        })
}

fn matched_prefix(entry: &RouteEntry) -> Option<&str> {
    match &entry.matcher.path {
        PathMatch::Prefix(p) => Some(p.as_str()),
        _ => None,
    }
}

/// Weighted random choice; backends with weight 0 are never picked.
fn pick_backend(backends: &[WeightedBackend]) -> Option<&WeightedBackend> {
    let total: u64 = backends.iter().map(|b| u64::from(b.weight)).sum();
    if total == 0 {
        return None;
    }
    let mut ticket = fastrand::u64(0..total);
    backends.iter().find(|b| {
        let w = u64::from(b.weight);
        if ticket < w {
            true
        } else {
            ticket -= w;
            false
        }
    })
}

fn rewrite_path(
    uri: &Uri,
    modifier: &PathModifier,
    prefix: Option<&str>,
) -> Result<Uri, ProxyError> {
    let path = modifier.apply(uri.path(), prefix);
    let path_and_query = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query.parse().map_err(|_| {
        ProxyError::InvalidRequest("the rewritten path is not a valid URL path".into())
    })?);
    Uri::from_parts(parts)
        .map_err(|e| ProxyError::InvalidRequest(format!("the rewritten URL is invalid: {e}")))
}

fn redirect_response(
    redirect: &Redirect,
    host: &str,
    conn: Connection,
    uri: &Uri,
    prefix: Option<&str>,
) -> Response<BoxBody> {
    let request_scheme = if conn.tls { "https" } else { "http" };
    let scheme = redirect.scheme.as_deref().unwrap_or(request_scheme);
    let hostname = redirect.hostname.as_deref().unwrap_or(host);
    let default_port = if scheme == "https" { 443 } else { 80 };
    // Without an explicit port, a scheme change goes to the new scheme's default port;
    // otherwise the port the client used is kept.
    let port = redirect
        .port
        .or(if redirect.scheme.is_some() {
            None
        } else {
            Some(conn.port)
        })
        .filter(|p| *p != default_port);
    let path = match &redirect.path {
        Some(modifier) => modifier.apply(uri.path(), prefix),
        None => uri.path().to_string(),
    };
    let mut location = match port {
        Some(p) => format!("{scheme}://{hostname}:{p}{path}"),
        None => format!("{scheme}://{hostname}{path}"),
    };
    if let Some(q) = uri.query() {
        location.push('?');
        location.push_str(q);
    }
    let mut response = Response::new(empty());
    *response.status_mut() = redirect.status;
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    } else {
        *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    }
    response
}

fn spawn_mirrors(
    snapshot: &Snapshot,
    entry: &RouteEntry,
    parts: &http::request::Parts,
    body: BoxBody,
    conn: Connection,
    host: &str,
) -> BoxBody {
    let chosen: Vec<_> = entry
        .rule
        .filters
        .mirrors
        .iter()
        .filter(|m| fastrand::f64() < m.fraction)
        .collect();
    if chosen.is_empty() {
        return body;
    }
    let (main, copies) = mirror::tee(body, chosen.len());
    for (m, copy) in chosen.into_iter().zip(copies) {
        let BackendKind::Static(backend) = &m.backend.kind else {
            continue;
        };
        let Some(client) = snapshot.client(backend) else {
            continue;
        };
        let host_header = backend.endpoint.host_header.clone();
        let outbound = Outbound {
            backend_name: m.backend.name().clone(),
            backend,
            client,
            credential: backend.credential.as_ref(),
            host: host_header,
            client_addr: conn.client,
            downstream_tls: conn.tls,
            original_host: host.to_string(),
            retry: None,
            attempt_timeout: None,
            websocket: false,
            metrics: &snapshot.metrics,
        };
        let (mut head, body) = mirror::copy_request(parts, copy).into_parts();
        if forward::prepare(&outbound, &mut head).is_err() {
            continue;
        }
        let Some(place) = mirror::InFlight::take() else {
            tracing::debug!(backend = %m.backend.name(), "too many mirrored requests in flight; not mirrored");
            continue;
        };
        let client = client.clone();
        let name = m.backend.name().clone();
        // A mirror that never answers must not hold its connection for ever: it gets the
        // route's timeout, as the real request does.
        let limit = entry
            .rule
            .traffic
            .timeouts
            .request
            .or(backend.request_timeout)
            .unwrap_or(mirror::DEFAULT_TIMEOUT);
        tokio::spawn(async move {
            let _place = place;
            let sent = tokio::time::timeout(limit, client.request(Request::from_parts(head, body)));
            match sent.await {
                Ok(Ok(response)) => {
                    tracing::debug!(backend = %name, status = %response.status(), "mirror answered")
                }
                Ok(Err(error)) => tracing::debug!(backend = %name, %error, "mirror failed"),
                Err(_) => tracing::debug!(backend = %name, ?limit, "mirror timed out"),
            }
        });
    }
    main
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_without_port() {
        assert_eq!(strip_port("example.com:8080"), "example.com");
        assert_eq!(strip_port("[::1]:8080"), "::1");
        assert_eq!(strip_port("example.com"), "example.com");
    }
}
