//! One MCP backend: its targets, the sessions of its clients, and how a session starts,
//! resumes on another replica, expires and ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde_json::{Value, json};

use crate::jsonrpc::{Message, code};
use crate::mux;
use crate::session::{Session, SessionSlot, SessionTarget, close_all};
use crate::session_token::{InvalidSession, SessionCodec, SessionState};
use crate::target::http::{HttpTarget, lock};
use crate::target::sse::SseTarget;
use crate::target::stdio::{StdioCommand, StdioTarget};
use crate::target::{ForwardedCredential, HttpClient, TargetError, Upstream};

/// Protocol versions the gateway speaks with clients; the first is offered when a client
/// asks for one it does not know.
pub const PROTOCOL_VERSIONS: [&str; 4] = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// How long a session may stay unused before it is ended.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Sessions of a backend with stdio or legacy SSE targets each hold a process or an event
/// stream: beyond this many, new sessions are refused rather than letting clients start
/// processes and connections without bound.
pub const MAX_LOCAL_SESSIONS: usize = 256;

/// Sessions of HTTP targets kept in memory; beyond this, the least recently used eighth is
/// forgotten here (their ids still resume them, as on any other replica). One scan per
/// eighth keeps the cost per new session constant.
pub const MAX_CACHED_SESSIONS: usize = 10_000;

/// How one target is reached.
#[derive(Clone)]
pub enum Transport {
    StreamableHttp {
        client: Arc<dyn HttpClient>,
        path: String,
    },
    Sse {
        client: Arc<dyn HttpClient>,
        path: String,
    },
    Stdio(StdioCommand),
}

#[derive(Clone)]
pub struct TargetSpec {
    pub name: Arc<str>,
    pub transport: Transport,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrefixMode {
    Conditional,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Stateful: sessions with ids; Stateless: every request stands alone.
    pub stateful: bool,
    /// Serve the healthy targets when some fail (FailOpen) instead of failing (FailClosed).
    pub fail_open: bool,
    pub prefix: PrefixMode,
    pub idle_timeout: Duration,
    /// At most this many sessions with stdio or SSE targets (`MAX_LOCAL_SESSIONS`).
    pub max_local_sessions: usize,
}

/// Why a session id does not lead to a session; every case answers 404, so the client
/// starts a new session as the protocol says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionLookupError {
    #[error("{0}")]
    Invalid(#[from] InvalidSession),
    #[error("the session has ended or expired; start a new one with `initialize`")]
    Ended,
    #[error(
        "the session's stdio or SSE targets are gone (they live in one gateway process, and it has restarted or reloaded its configuration since, or the session was opened on another replica); start a new one with `initialize`"
    )]
    NotResumable,
    #[error("the session names target `{0}`, which this backend no longer has; start a new one")]
    UnknownTarget(String),
    #[error("the session was started by another caller; start your own with `initialize`")]
    OtherCaller,
}

/// The targets that answered `initialize`, and the merged answer for the client.
struct Opened {
    answer: Message,
    targets: Vec<SessionTarget>,
    /// The protocol version the answer names.
    agreed: String,
}

pub struct McpService {
    targets: Vec<TargetSpec>,
    codec: Arc<SessionCodec>,
    options: Options,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    /// Ids ended by DELETE or expiry, refused if they come back (bounded; see `mark_ended`).
    ended: Mutex<std::collections::HashSet<String>>,
    /// Sessions holding processes or event streams (see `SessionSlot`).
    local_sessions: Arc<std::sync::atomic::AtomicUsize>,
    reaper_started: std::sync::atomic::AtomicBool,
    gateway_version: &'static str,
}

impl McpService {
    pub fn new(
        targets: Vec<TargetSpec>,
        codec: Arc<SessionCodec>,
        options: Options,
        gateway_version: &'static str,
    ) -> Arc<Self> {
        Arc::new(Self {
            targets,
            codec,
            options,
            sessions: Mutex::new(HashMap::new()),
            ended: Mutex::new(Default::default()),
            local_sessions: Arc::default(),
            reaper_started: std::sync::atomic::AtomicBool::new(false),
            gateway_version,
        })
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    pub fn target_names(&self) -> impl Iterator<Item = &str> {
        self.targets.iter().map(|t| &*t.name)
    }

    fn prefixed(&self) -> bool {
        match self.options.prefix {
            PrefixMode::Always => true,
            PrefixMode::Never => false,
            PrefixMode::Conditional => self.targets.len() > 1,
        }
    }

    fn connect(
        &self,
        spec: &TargetSpec,
        resumed: Option<(&str, Option<&str>)>,
        forwarded: &Arc<ForwardedCredential>,
    ) -> Upstream {
        match &spec.transport {
            Transport::StreamableHttp { client, path } => Upstream::Http(HttpTarget::new(
                spec.name.clone(),
                client.clone(),
                path.clone(),
                resumed.and_then(|(session, _)| (!session.is_empty()).then(|| session.to_string())),
                resumed.and_then(|(_, protocol)| protocol.map(str::to_string)),
                forwarded.clone(),
            )),
            Transport::Sse { client, path } => Upstream::Sse(SseTarget::new(
                spec.name.clone(),
                client.clone(),
                path.clone(),
                forwarded.clone(),
            )),
            Transport::Stdio(command) => {
                Upstream::Stdio(StdioTarget::new(spec.name.clone(), command.clone()))
            }
        }
    }

    /// Starts a session: `initialize` goes to every target; the answers merge into one.
    /// Returns the answer for the client and, when stateful, the session. `credential` is the
    /// client's `Authorization` for `passthrough` backends.
    pub async fn initialize(
        self: &Arc<Self>,
        request: Message,
        credential: Option<http::HeaderValue>,
        owner: Option<String>,
    ) -> (Message, Option<Arc<Session>>) {
        let forwarded = ForwardedCredential::new(credential);
        let id = request.id().cloned().unwrap_or(Value::Null);
        let limit = self.options.max_local_sessions;
        // Taken before any process starts, so concurrent `initialize`s cannot overshoot.
        let slot = match self.holds_local_connections() {
            true => SessionSlot::take(&self.local_sessions, limit),
            false => None,
        };
        if self.holds_local_connections() && slot.is_none() {
            let message = format!(
                "this MCP backend already holds {limit} sessions with stdio or SSE targets (a process or an event stream each); end unused sessions with DELETE or lower spec.mcp.sessionIdleTimeout"
            );
            return (
                Message::error_for(id, code::TARGET_UNAVAILABLE, message),
                None,
            );
        }
        let Opened {
            answer,
            targets,
            agreed,
        } = match self.open_targets(&request, &forwarded).await {
            Ok(opened) => opened,
            Err(refusal) => return (refusal, None),
        };
        if !self.options.stateful {
            // Nothing keeps them: a target that issued a session anyway has it ended.
            close_all(targets);
            return (answer, None);
        }
        let mut session = Session::new(None, agreed, targets, self.prefixed(), forwarded);
        session.hold(slot);
        session.owner = owner;
        match self.codec.seal(&session.state()) {
            Ok(sealed) => session.id = Some(sealed),
            Err(e) => {
                return (
                    Message::error_for(Value::Null, code::INTERNAL_ERROR, e.to_string()),
                    None,
                );
            }
        }
        let session = Arc::new(session);
        self.remember(&session);
        (answer, Some(session))
    }

    /// Sends `initialize` to every target and merges the answers (see `initialize`).
    async fn open_targets(
        &self,
        request: &Message,
        forwarded: &Arc<ForwardedCredential>,
    ) -> Result<Opened, Message> {
        let id = request.id().cloned().unwrap_or(Value::Null);
        let asked = request.param_str("protocolVersion").unwrap_or_default();
        let protocol = match PROTOCOL_VERSIONS.contains(&asked) {
            true => asked.to_string(),
            false => PROTOCOL_VERSIONS[0].to_string(),
        };
        let mut upstream_request = request.clone();
        if let Some(params) = upstream_request.params_mut() {
            params.insert("protocolVersion".into(), Value::String(protocol.clone()));
        }
        let started = self.targets.iter().map(|spec| {
            let upstream = self.connect(spec, None, forwarded);
            let message = upstream_request.clone();
            async move {
                let answered =
                    async { first_response(&spec.name, upstream.request(message).await).await };
                let outcome = tokio::time::timeout(crate::target::SETUP_TIMEOUT, answered)
                    .await
                    .unwrap_or_else(|_| {
                        Err(TargetError::Unreachable {
                            target: spec.name.clone(),
                            reason: format!(
                                "no answer to `initialize` within {:?}",
                                crate::target::SETUP_TIMEOUT
                            ),
                        })
                    });
                (spec.name.clone(), upstream, outcome)
            }
        });
        let outcomes = join_all(started).await;
        let mut targets = Vec::new();
        let mut results = Vec::new();
        for (name, upstream, outcome) in outcomes {
            let failure = match outcome {
                Ok(answer) if answer.result().is_some() => {
                    let result = answer.result().cloned().unwrap_or_default();
                    let version = result
                        .get("protocolVersion")
                        .and_then(Value::as_str)
                        .map(str::to_string);
                    if let (Upstream::Http(http), Some(version)) = (&upstream, &version) {
                        http.set_protocol(version);
                    }
                    targets.push(SessionTarget {
                        name: name.clone(),
                        upstream,
                        caps: mux::capability_bits(&result),
                        protocol: version,
                    });
                    results.push((name, result));
                    continue;
                }
                Ok(answer) => answer
                    .error()
                    .and_then(|e| e.get("message"))
                    .and_then(Value::as_str)
                    .unwrap_or("an error without a message")
                    .to_string(),
                Err(error) => error.to_string(),
            };
            let message = format!("MCP target `{name}` failed to initialize: {failure}");
            if !self.options.fail_open {
                close_all(targets);
                return Err(Message::error_for(id, code::TARGET_UNAVAILABLE, message));
            }
            tracing::warn!("{message}; serving the other targets (failureMode: FailOpen)");
        }
        if targets.is_empty() {
            let message = "no MCP target of this backend could be initialized";
            return Err(Message::error_for(id, code::TARGET_UNAVAILABLE, message));
        }
        let result = match results.as_slice() {
            [(_, only)] if self.targets.len() == 1 => only.clone(),
            _ => {
                let named: Vec<(&str, &Value)> = results.iter().map(|(n, r)| (&**n, r)).collect();
                let mut merged = mux::merge_initialize(&named, self.gateway_version);
                // The client gets the version it asked for when every target agreed to it.
                merged["protocolVersion"] = json!(
                    merged["protocolVersion"]
                        .as_str()
                        .filter(|v| !v.is_empty())
                        .unwrap_or(&protocol)
                );
                merged
            }
        };
        let agreed = result
            .get("protocolVersion")
            .and_then(Value::as_str)
            .unwrap_or(&protocol)
            .to_string();
        Ok(Opened {
            answer: Message::result_for(id, result),
            targets,
            agreed,
        })
    }

    /// Whether sessions hold processes or event streams (stdio and legacy SSE targets).
    fn holds_local_connections(&self) -> bool {
        self.targets
            .iter()
            .any(|t| !matches!(t.transport, Transport::StreamableHttp { .. }))
    }

    fn remember(self: &Arc<Self>, session: &Arc<Session>) {
        if let Some(id) = &session.id {
            let mut sessions = lock(&self.sessions);
            if sessions.len() >= MAX_CACHED_SESSIONS {
                forget_least_recent(&mut sessions);
            }
            sessions.insert(id.clone(), session.clone());
        }
        if !self
            .reaper_started
            .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            tokio::spawn(reap(Arc::downgrade(self)));
        }
    }

    /// The session an id names: a live one here, or one resumed from what the id carries.
    /// The session `id`, if `owner` (who calls now) is who started it.
    pub fn session(
        self: &Arc<Self>,
        id: &str,
        owner: Option<&str>,
    ) -> Result<Arc<Session>, SessionLookupError> {
        let session = self.find(id)?;
        match session.owner.as_deref() == owner {
            true => Ok(session),
            false => Err(SessionLookupError::OtherCaller),
        }
    }

    fn find(self: &Arc<Self>, id: &str) -> Result<Arc<Session>, SessionLookupError> {
        if lock(&self.ended).contains(id) {
            return Err(SessionLookupError::Ended);
        }
        if let Some(session) = lock(&self.sessions).get(id) {
            session.touch();
            return Ok(session.clone());
        }
        let state = self.codec.open(id)?;
        let session = Arc::new(self.resume(id, state)?);
        self.remember(&session);
        Ok(session)
    }

    fn resume(&self, id: &str, state: SessionState) -> Result<Session, SessionLookupError> {
        if state.targets.iter().any(|t| t.local) {
            // The process that held them may be this one, before a restart or reload.
            return Err(SessionLookupError::NotResumable);
        }
        let mut targets = Vec::new();
        let forwarded = Arc::new(ForwardedCredential::default());
        for target in &state.targets {
            let spec = self
                .targets
                .iter()
                .find(|s| *s.name == target.name)
                .ok_or_else(|| SessionLookupError::UnknownTarget(target.name.clone()))?;
            let upstream = self.connect(
                spec,
                Some((
                    target.session.as_deref().unwrap_or_default(),
                    target.protocol.as_deref(),
                )),
                &forwarded,
            );
            targets.push(SessionTarget {
                name: spec.name.clone(),
                upstream,
                caps: target.caps,
                protocol: target.protocol.clone(),
            });
        }
        let mut session = Session::new(
            Some(id.to_string()),
            state.protocol,
            targets,
            self.prefixed(),
            forwarded,
        );
        session.owner = state.owner;
        Ok(session)
    }

    /// A session for one stateless request (or one legacy SSE connection of a stateless
    /// backend): every target is initialized for it, as a client would, since most servers
    /// take no other request before `initialize`, and its upstream sessions end when the
    /// session is dropped, once the answer is complete. `protocol` is the client's
    /// `MCP-Protocol-Version`. Err is the JSON-RPC error for the client's request.
    pub async fn one_off_session(
        &self,
        credential: Option<http::HeaderValue>,
        protocol: Option<&str>,
        request_id: Value,
    ) -> Result<Arc<Session>, Message> {
        let forwarded = ForwardedCredential::new(credential);
        let protocol = protocol
            .filter(|p| PROTOCOL_VERSIONS.contains(p))
            .unwrap_or(PROTOCOL_VERSIONS[0]);
        let initialize = Message::request(
            request_id.clone(),
            "initialize",
            json!({
                "protocolVersion": protocol,
                "capabilities": {},
                "clientInfo": {"name": "agentgateway", "version": self.gateway_version},
            }),
        );
        // The error, if any, already answers the client's request (it has its id).
        let opened = self.open_targets(&initialize, &forwarded).await?;
        let initialized = Message::notification("notifications/initialized", json!({}));
        let told = opened
            .targets
            .iter()
            .map(|t| t.upstream.deliver(initialized.clone()));
        for outcome in join_all(told).await {
            if let Err(error) = outcome {
                tracing::debug!(%error, "a target missed `notifications/initialized`");
            }
        }
        let mut session = Session::new(
            None,
            opened.agreed,
            opened.targets,
            self.prefixed(),
            forwarded,
        );
        session.close_on_drop();
        Ok(Arc::new(session))
    }

    /// Ends a session (the client's DELETE). Unknown ids are fine: the result is the same.
    pub async fn end(&self, id: &str) {
        self.mark_ended(id);
        let session = lock(&self.sessions).remove(id);
        if let Some(session) = session {
            session.close().await;
        }
    }

    /// Remembers an ended id, so that it is not resumed from what it carries (DELETE must
    /// end a session for good, also with targets that keep no session of their own).
    fn mark_ended(&self, id: &str) {
        let mut ended = lock(&self.ended);
        if ended.len() >= MAX_CACHED_SESSIONS {
            ended.clear();
        }
        ended.insert(id.to_string());
    }

    /// Live sessions, for tests and the admin view.
    pub fn session_count(&self) -> usize {
        lock(&self.sessions).len()
    }
}

/// Drops the least recently used eighth of the cached sessions. Only reached by backends
/// whose targets are all HTTP (the others are capped far lower), so nothing ends: every
/// forgotten session resumes from its id.
fn forget_least_recent(sessions: &mut HashMap<String, Arc<Session>>) {
    let mut ages: Vec<(tokio::time::Instant, String)> = sessions
        .iter()
        .map(|(id, s)| (s.idle_since(), id.clone()))
        .collect();
    let cut = (ages.len() / 8).max(1);
    ages.select_nth_unstable_by_key(cut - 1, |(at, _)| *at);
    for (_, id) in ages.into_iter().take(cut) {
        sessions.remove(&id);
    }
}

/// Ends sessions idle longer than the timeout, until the service is dropped.
async fn reap(service: Weak<McpService>) {
    let every = match service.upgrade() {
        Some(s) => (s.options.idle_timeout / 4).max(Duration::from_millis(50)),
        None => return,
    };
    loop {
        tokio::time::sleep(every).await;
        let Some(service) = service.upgrade() else {
            return;
        };
        let limit = service.options.idle_timeout;
        let expired: Vec<Arc<Session>> = {
            let mut sessions = lock(&service.sessions);
            let ids: Vec<String> = sessions
                .iter()
                .filter(|(_, s)| !s.is_busy() && s.idle_since().elapsed() > limit)
                .map(|(id, _)| id.clone())
                .collect();
            ids.iter().filter_map(|id| sessions.remove(id)).collect()
        };
        for session in &expired {
            if let Some(id) = &session.id {
                service.mark_ended(id);
            }
        }
        for session in expired {
            tracing::debug!("ending an idle MCP session");
            tokio::spawn(async move { session.close().await });
        }
    }
}

/// The response in a reply stream (notifications during `initialize` are dropped).
pub(crate) async fn first_response(
    name: &Arc<str>,
    stream: Result<crate::target::MessageStream, TargetError>,
) -> Result<Message, TargetError> {
    let mut stream = stream?;
    while let Some(message) = stream.recv().await {
        let message = message?;
        if message.kind() == crate::jsonrpc::Kind::Response {
            return Ok(message);
        }
    }
    Err(TargetError::Closed {
        target: name.clone(),
    })
}

/// Runs futures concurrently and collects their outputs in order.
pub(crate) async fn join_all<F: std::future::Future>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    let handles: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs = Vec::with_capacity(handles.len());
    let mut pending: Vec<_> = handles.into_iter().map(Some).collect();
    let mut results: Vec<Option<F::Output>> = (0..pending.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (slot, result) in pending.iter_mut().zip(results.iter_mut()) {
            if let Some(future) = slot {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(output) => {
                        *result = Some(output);
                        *slot = None;
                    }
                    std::task::Poll::Pending => done = false,
                }
            }
        }
        if done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    outputs.extend(results.into_iter().flatten());
    outputs
}
