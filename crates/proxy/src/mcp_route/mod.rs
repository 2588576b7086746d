//! MCP backends over HTTP. One route serves both transports of the MCP spec:
//! - Streamable HTTP: POST messages, GET the standalone stream, DELETE the session
//!   (`Mcp-Session-Id`);
//! - legacy SSE: GET `<route>/sse` opens the stream, whose `endpoint` event names
//!   `<route>/message?sessionId=...`, where messages are POSTed.
//!
//! DNS-rebinding protection runs first, before any target is touched.

mod client;
mod guard;
mod legacy;
mod reply;
mod streamable;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use config::ir::backend::{McpBackend, McpPrefixMode, McpTransport};
use config::ir::hostname::HostnamePattern;
use config::ir::policy::TrafficSettings;
use config::ir::{Backend, Listener};
use http::{Response, StatusCode};
use mcp::dispatch::{Facts, ItemFilter};
use mcp::jsonrpc::code;
use mcp::service::{McpService, Options, PrefixMode, TargetSpec, Transport};
use mcp::session_token::SessionCodec;
use mcp::target::stdio::StdioCommand;
use policy::authorization::{Authorizer, Decision, McpAttributes, RequestAttributes};

use crate::body::BoxBody;
use crate::upstream::UpstreamClient;

pub(crate) use guard::{METADATA_PREFIX, challenge_with_metadata, metadata, metadata_url};

/// The gateway version `initialize` reports when it merges several servers.
const GATEWAY_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Largest message body read from a client.
const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// One MCP backend of a configuration: its service (targets, sessions) and the legacy SSE
/// connections open on it. A reload that leaves the backend as it was keeps the endpoint,
/// so sessions with stdio or SSE targets (which live in it) go on.
#[derive(Clone)]
pub struct McpEndpoint {
    pub(crate) service: Arc<McpService>,
    legacy: Arc<Mutex<HashMap<String, Arc<legacy::LegacyConnection>>>>,
}

/// What decides whether an MCP backend is unchanged by a reload: its whole compiled form,
/// target credentials included (which its `Debug` text leaves out).
pub(crate) fn fingerprint(backend: &Backend, mcp: &McpBackend) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    format!("{backend:?}").hash(&mut hasher);
    for target in &mcp.targets {
        if let McpTransport::StreamableHttp { backend, .. } | McpTransport::Sse { backend, .. } =
            &target.transport
            && let Some(config::ir::BackendCredential::Authorization(secret)) = &backend.credential
        {
            secret.expose().hash(&mut hasher);
        }
    }
    hasher.finish()
}

impl McpEndpoint {
    /// Builds the endpoint; `client` gives the pooled client of an HTTP target.
    pub(crate) fn new(
        backend: &Arc<Backend>,
        mcp: &McpBackend,
        codec: Arc<SessionCodec>,
        client: impl Fn(&config::ir::StaticBackend) -> Option<UpstreamClient>,
    ) -> Self {
        let targets = mcp
            .targets
            .iter()
            .enumerate()
            .filter_map(|(i, target)| {
                let http = |connection| {
                    let pooled = client(connection)?;
                    let http: Arc<dyn mcp::target::HttpClient> =
                        Arc::new(client::TargetClient::new(backend.clone(), i, pooled));
                    Some(http)
                };
                let transport = match &target.transport {
                    McpTransport::StreamableHttp { backend, path } => Transport::StreamableHttp {
                        client: http(backend)?,
                        path: path.clone(),
                    },
                    McpTransport::Sse { backend, path } => Transport::Sse {
                        client: http(backend)?,
                        path: path.clone(),
                    },
                    McpTransport::Stdio { cmd, args, env } => Transport::Stdio(StdioCommand {
                        cmd: cmd.clone(),
                        args: args.clone(),
                        env: env.clone(),
                    }),
                };
                Some(TargetSpec {
                    name: Arc::from(target.name.as_str()),
                    transport,
                })
            })
            .collect();
        let options = Options {
            stateful: mcp.stateful,
            fail_open: mcp.fail_open,
            prefix: match mcp.prefix_mode {
                McpPrefixMode::Conditional => PrefixMode::Conditional,
                McpPrefixMode::Always => PrefixMode::Always,
                McpPrefixMode::Never => PrefixMode::Never,
            },
            idle_timeout: mcp.idle_timeout,
            max_local_sessions: mcp::service::MAX_LOCAL_SESSIONS,
        };
        Self {
            service: McpService::new(targets, codec, options, GATEWAY_VERSION),
            legacy: Arc::new(Mutex::new(HashMap::new())),
        }
    }
}

/// What the pipeline knows about an MCP request.
pub(crate) struct McpRequest<'a> {
    pub endpoint: &'a McpEndpoint,
    pub mcp: &'a McpBackend,
    pub traffic: &'a TrafficSettings,
    pub listener: &'a Listener,
    pub host: &'a str,
    pub attributes: RequestAttributes<'a>,
}

/// What the access log and metrics record of an MCP request.
#[derive(Debug, Clone, Default)]
pub struct McpLogFacts {
    pub method: String,
    pub target: String,
    pub tool: String,
    /// A prefix of the session id that identifies it without letting anyone resume it.
    pub session: String,
}

/// The methods of the MCP specification, counted by name; any other name a client sends
/// is counted as `other`, so clients cannot mint metric series.
const KNOWN_METHODS: [&str; 27] = [
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "prompts/list",
    "prompts/get",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "completion/complete",
    "logging/setLevel",
    "tasks/list",
    "tasks/get",
    "tasks/result",
    "tasks/cancel",
    "notifications/initialized",
    "notifications/cancelled",
    "notifications/progress",
    "notifications/roots/list_changed",
    "sampling/createMessage",
    "elicitation/create",
    "roots/list",
    "notifications/message",
    "notifications/tasks/status",
    "notifications/elicitation/complete",
];

pub(crate) fn metric_method(method: &str) -> &str {
    match KNOWN_METHODS.contains(&method) {
        true => method,
        false => "other",
    }
}

impl McpLogFacts {
    fn record(&mut self, facts: &Facts) {
        self.method = facts.method.clone().unwrap_or_default();
        self.target = facts.target.as_deref().unwrap_or_default().to_string();
        self.tool = match self.method.as_str() {
            "tools/call" => facts.item.clone().unwrap_or_default(),
            _ => String::new(),
        };
    }
}

/// Session ids start with their random nonce: 12 characters of it name a session in logs.
fn session_fingerprint(id: &str) -> String {
    id.chars().take(12).collect()
}

pub(crate) async fn serve(
    request: McpRequest<'_>,
    parts: &http::request::Parts,
    body: crate::server::idle::ClientBody,
    log: &mut McpLogFacts,
) -> Response<BoxBody> {
    let hostnames: Vec<&HostnamePattern> = std::iter::once(&request.listener.hostname)
        .chain(
            request
                .listener
                .routes
                .hosts
                .iter()
                .map(|h| &h.hostname)
                .filter(|p| p.matches(request.host)),
        )
        .collect();
    let allowed = guard::AllowedHosts {
        declared: &hostnames,
        extra: &request.mcp.allowed_hosts,
    };
    if let Some(reason) = allowed.check(request.host, &parts.headers) {
        return reply::error(StatusCode::FORBIDDEN, code::INVALID_REQUEST, reason);
    }
    let filter = PolicyFilter {
        authorizer: request.traffic.mcp_authorizer.as_deref(),
        request: request.attributes,
    };
    let caller = Caller {
        filter: &filter,
        passthrough: passes_credential(request.mcp),
        authorization: parts.headers.get(http::header::AUTHORIZATION),
        protocol: parts.headers.get(mcp::target::http::PROTOCOL_HEADER),
        owner: owner_of(&request.attributes),
    };
    let path = parts.uri.path();
    // A GET of `.../sse` without a session is a legacy client opening its stream; with one,
    // it is a Streamable HTTP client's standalone stream on a route that ends in `/sse`.
    let legacy_stream = parts.method == http::Method::GET
        && path.ends_with("/sse")
        && !parts
            .headers
            .contains_key(mcp::target::http::SESSION_HEADER);
    if legacy_stream {
        return legacy::open(request.endpoint, parts);
    }
    if parts.method == http::Method::POST
        && let Some(id) = legacy::session_param(parts)
    {
        return legacy::post(request.endpoint, &id, body, &caller, log).await;
    }
    streamable::serve(&request.endpoint.service, parts, body, &caller, log).await
}

/// Who is asking, as the session's targets see it.
struct Caller<'a> {
    /// `backend.mcp.authorization`.
    filter: &'a dyn ItemFilter,
    /// The backend passes the client's `Authorization` through to its targets.
    passthrough: bool,
    authorization: Option<&'a http::HeaderValue>,
    /// Who calls, when the route authenticates callers: sessions are theirs alone.
    owner: Option<String>,
    /// The client's `MCP-Protocol-Version`.
    protocol: Option<&'a http::HeaderValue>,
}

/// The authenticated caller, as sessions remember who started them: a JWT's issuer and
/// subject, else an API key's id. None on routes that authenticate nobody.
fn owner_of(attributes: &policy::authorization::RequestAttributes<'_>) -> Option<String> {
    if let Some(claims) = attributes.jwt {
        let claim = |name: &str| claims.get(name).and_then(|v| v.as_str()).unwrap_or("");
        return Some(format!("jwt {} {}", claim("iss"), claim("sub")));
    }
    attributes.api_key.map(|(id, _)| format!("key {id}"))
}

impl Caller<'_> {
    /// The credential this request's messages carry to the targets: the client's own with
    /// `passthrough`, else none.
    fn credential(&self) -> Option<http::HeaderValue> {
        self.authorization.filter(|_| self.passthrough).cloned()
    }

    /// Every request sets the session's credential, so one without `Authorization` never
    /// travels with an earlier request's token.
    fn forward_credential(&self, session: &mcp::session::Session) {
        if self.passthrough {
            session.forwarded.set(self.credential());
        }
    }
}

/// Whether the backend's `policies.auth` is `passthrough` (it applies to every HTTP target).
fn passes_credential(mcp: &McpBackend) -> bool {
    mcp.targets.iter().any(|t| match &t.transport {
        McpTransport::StreamableHttp { backend, .. } | McpTransport::Sse { backend, .. } => {
            matches!(
                backend.credential,
                Some(config::ir::BackendCredential::Passthrough)
            )
        }
        McpTransport::Stdio { .. } => false,
    })
}

/// `backend.mcp.authorization` over the request and the item.
struct PolicyFilter<'a> {
    authorizer: Option<&'a Authorizer>,
    request: RequestAttributes<'a>,
}

impl ItemFilter for PolicyFilter<'_> {
    fn allows(&self, item: &McpAttributes<'_>) -> bool {
        let Some(authorizer) = self.authorizer else {
            return true;
        };
        let mut attributes = self.request;
        attributes.mcp = Some(*item);
        authorizer.check(&attributes) == Decision::Allowed
    }
}

/// Reads a client's message body, refusing more than the limit.
async fn read_body(
    body: crate::server::idle::ClientBody,
) -> Result<bytes::Bytes, Response<BoxBody>> {
    crate::body::collect_limited(crate::body::boxed(body), MAX_MESSAGE_BYTES)
        .await
        .map_err(|e| match e {
            crate::body::CollectError::TooLarge(limit) => reply::error(
                StatusCode::PAYLOAD_TOO_LARGE,
                code::INVALID_REQUEST,
                format!("the message is larger than {limit} bytes; send smaller messages"),
            ),
            crate::body::CollectError::Read(reason) => reply::error(
                StatusCode::BAD_REQUEST,
                code::PARSE_ERROR,
                format!("reading the message failed: {reason}"),
            ),
        })
}

/// The scheme and authority a client used, for URLs the gateway hands back.
fn origin_of<B>(request: &http::Request<B>, tls: bool) -> (&'static str, String) {
    let authority = request
        .uri()
        .authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| {
            request
                .headers()
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_string)
        })
        .unwrap_or_default();
    (if tls { "https" } else { "http" }, authority)
}

/// A 401 from JWT authentication on an MCP route names the route's OAuth metadata
/// (`WWW-Authenticate: Bearer resource_metadata=...`), as MCP's authorization spec asks, so
/// clients can discover the authorization server.
pub(crate) fn point_to_metadata(
    backend: &config::ir::WeightedBackend,
    mut answer: Response<BoxBody>,
    conn: crate::pipeline::Connection,
    parts: &http::request::Parts,
) -> Response<BoxBody> {
    if answer.status() != StatusCode::UNAUTHORIZED
        || !matches!(backend.backend.kind, config::ir::BackendKind::Mcp(_))
        || backend.traffic.jwt.is_none()
    {
        return answer;
    }
    let probe = http::Request::from_parts(parts.clone(), ());
    let (scheme, authority) = origin_of(&probe, conn.tls);
    let url = metadata_url(scheme, &authority, parts.uri.path());
    let headers = answer.headers_mut();
    if let Some(value) = challenge_with_metadata(headers.get(http::header::WWW_AUTHENTICATE), &url)
    {
        headers.insert(http::header::WWW_AUTHENTICATE, value);
    }
    answer
}

/// `GET /.well-known/oauth-protected-resource/<route path>`: the RFC 9728 document of an MCP
/// route that requires JWTs. None when the path names no such route (the 404 stands).
pub(crate) fn protected_resource_metadata(
    snapshot: &crate::snapshot::Snapshot,
    conn: crate::pipeline::Connection,
    host: &str,
    request: &http::Request<crate::server::idle::ClientBody>,
) -> Option<Response<BoxBody>> {
    if !matches!(*request.method(), http::Method::GET | http::Method::HEAD) {
        return None;
    }
    let resource_path = request.uri().path().strip_prefix(METADATA_PREFIX)?;
    if !(resource_path.is_empty() || resource_path.starts_with('/')) {
        return None;
    }
    let resource_path = if resource_path.is_empty() {
        "/"
    } else {
        resource_path
    };
    let listener = snapshot.config.port(conn.port)?.listener_for(host)?;
    let facts = config::ir::RequestFacts {
        host,
        method: &http::Method::POST,
        path: resource_path,
        query: None,
        headers: request.headers(),
    };
    let entry = listener.routes.find(&facts)?;
    let jwt = entry
        .rule
        .backends
        .iter()
        .find_map(|b| match b.backend.kind {
            config::ir::BackendKind::Mcp(_) => b.traffic.jwt.clone(),
            _ => None,
        })?;
    let (scheme, authority) = origin_of(request, conn.tls);
    let document = metadata(&format!("{scheme}://{authority}{resource_path}"), &jwt);
    let mut response = Response::new(crate::body::full(document.to_string()));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    Some(response)
}
