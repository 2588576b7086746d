//! One client session: a connection to each of its targets, the client requests in flight
//! (for cancellation), and which target owns which resource URI.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use tokio::time::Instant;

use serde_json::Value;

use crate::jsonrpc::{Message, id_key};
use crate::mux;
use crate::session_token::{SessionState, TargetState};
use crate::target::http::lock;
use crate::target::{ForwardedCredential, Upstream};

pub struct SessionTarget {
    pub name: Arc<str>,
    pub upstream: Upstream,
    /// Capability bits from the target's `initialize` result (`mux::caps`).
    pub caps: u8,
    pub protocol: Option<String>,
}

/// A place among the sessions a backend may hold with local connections (processes, event
/// streams): taken before the targets are started, given back when the session is dropped.
pub struct SessionSlot(Arc<std::sync::atomic::AtomicUsize>);

impl SessionSlot {
    /// Takes a place if fewer than `limit` are taken.
    pub fn take(counter: &Arc<std::sync::atomic::AtomicUsize>, limit: usize) -> Option<Self> {
        use std::sync::atomic::Ordering;
        counter
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()
            .map(|_| SessionSlot(counter.clone()))
    }
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if self.close_on_drop {
            close_all(std::mem::take(&mut self.targets));
        }
    }
}

/// Ends the upstream sessions of targets no session keeps (in the background: a DELETE,
/// a process to stop, a stream to close).
pub(crate) fn close_all(targets: Vec<SessionTarget>) {
    if targets.is_empty() {
        return;
    }
    // Dropped outside a runtime (at exit) there is nothing left to tell.
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            for target in targets {
                target.upstream.close().await;
            }
        });
    }
}

pub struct Session {
    /// None for stateless requests.
    pub id: Option<String>,
    /// The protocol version agreed with the client.
    pub protocol: String,
    pub targets: Vec<SessionTarget>,
    /// Whether names carry the target prefix.
    pub prefixed: bool,
    /// The client's credential for `passthrough` backends (see `ForwardedCredential`).
    pub forwarded: Arc<ForwardedCredential>,
    /// Who started the session, when the route authenticates callers (the JWT's issuer
    /// and subject, or the API key's id): only they may use or end it.
    pub owner: Option<String>,
    inflight: Mutex<HashMap<String, Vec<usize>>>,
    resource_owners: Mutex<Vec<(String, usize)>>,
    /// Tool and prompt names by kind, when names carry no prefix.
    name_owners: Mutex<HashMap<(&'static str, String), usize>>,
    last_used: Mutex<Instant>,
    /// A one-off session (stateless requests): its upstream sessions end with it.
    close_on_drop: bool,
    /// Standalone event streams (GET) the client holds open.
    listeners: std::sync::atomic::AtomicUsize,
    /// Held while the session lives (sessions with local connections only).
    slot: Option<SessionSlot>,
}

impl Session {
    pub fn new(
        id: Option<String>,
        protocol: String,
        targets: Vec<SessionTarget>,
        prefixed: bool,
        forwarded: Arc<ForwardedCredential>,
    ) -> Self {
        Self {
            id,
            protocol,
            targets,
            prefixed,
            forwarded,
            owner: None,
            inflight: Mutex::new(HashMap::new()),
            resource_owners: Mutex::new(Vec::new()),
            name_owners: Mutex::new(HashMap::new()),
            last_used: Mutex::new(Instant::now()),
            listeners: std::sync::atomic::AtomicUsize::new(0),
            close_on_drop: false,
            slot: None,
        }
    }

    /// Ends the upstream sessions when this session is dropped, after the last answer
    /// streamed from it.
    pub fn close_on_drop(&mut self) {
        self.close_on_drop = true;
    }

    /// Keeps a place among the backend's local sessions for as long as this session lives.
    pub fn hold(&mut self, slot: Option<SessionSlot>) {
        self.slot = slot;
    }

    /// What the session id carries.
    pub fn state(&self) -> SessionState {
        SessionState {
            protocol: self.protocol.clone(),
            targets: self
                .targets
                .iter()
                .map(|t| TargetState {
                    name: t.name.to_string(),
                    session: t.upstream.session_id(),
                    protocol: t.protocol.clone(),
                    caps: t.caps,
                    local: t.upstream.is_local(),
                })
                .collect(),
            owner: self.owner.clone(),
        }
    }

    pub fn names(&self) -> Vec<&str> {
        self.targets.iter().map(|t| &*t.name).collect()
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.targets.iter().position(|t| &*t.name == name)
    }

    /// Targets that declared what `method` needs (all, for methods with no capability).
    pub fn capable(&self, method: &str) -> Vec<usize> {
        let needed = mux::caps::needed_by(method);
        (0..self.targets.len())
            .filter(|i| needed.is_none_or(|bit| self.targets[*i].caps & bit != 0))
            .collect()
    }

    pub fn touch(&self) {
        *lock(&self.last_used) = Instant::now();
    }

    pub fn idle_since(&self) -> Instant {
        *lock(&self.last_used)
    }

    pub fn start_request(&self, id: &Value, targets: &[usize]) {
        lock(&self.inflight).insert(id_key(id), targets.to_vec());
    }

    pub fn end_request(&self, id: &Value) {
        lock(&self.inflight).remove(&id_key(id));
        // Idle time counts from the end of the last use, not from its start.
        self.touch();
    }

    /// Whether the client is using the session now: a request in flight or an event stream
    /// open. Such a session is not idle, however long ago its last message came.
    pub fn is_busy(&self) -> bool {
        self.listeners.load(std::sync::atomic::Ordering::Relaxed) > 0
            || !lock(&self.inflight).is_empty()
    }

    pub fn listener_opened(&self) {
        self.listeners
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn listener_closed(&self) {
        self.listeners
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        self.touch();
    }

    /// The targets working on a client request (for `notifications/cancelled`).
    pub fn working_on(&self, id: &Value) -> Vec<usize> {
        lock(&self.inflight)
            .get(&id_key(id))
            .cloned()
            .unwrap_or_default()
    }

    /// Remembers which target listed a resource URI or template.
    pub fn learn_resources(&self, target: usize, result: &Value) {
        let uris = ["resources", "resourceTemplates"]
            .into_iter()
            .flat_map(|member| {
                result
                    .get(member)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|item| {
                        item.get("uri")
                            .or_else(|| item.get("uriTemplate"))
                            .and_then(Value::as_str)
                            .map(|uri| mux::template_stem(uri).to_string())
                    })
            });
        let mut owners = lock(&self.resource_owners);
        for uri in uris {
            if !owners.iter().any(|(known, _)| *known == uri) {
                owners.push((uri, target));
            }
        }
    }

    /// Remembers which target listed a tool or prompt (`member` is the list member).
    pub fn learn_names(&self, target: usize, member: &'static str, items: &[Value]) {
        let mut owners = lock(&self.name_owners);
        for name in items
            .iter()
            .filter_map(|i| i.get("name").and_then(Value::as_str))
        {
            owners.entry((member, name.to_string())).or_insert(target);
        }
    }

    pub fn name_owner(&self, member: &'static str, name: &str) -> Option<usize> {
        lock(&self.name_owners)
            .get(&(member, name.to_string()))
            .copied()
    }

    /// The target that listed this URI (exactly, or as a template's stem; longest stem wins).
    pub fn resource_owner(&self, uri: &str) -> Option<usize> {
        lock(&self.resource_owners)
            .iter()
            .filter(|(stem, _)| uri.starts_with(stem.as_str()) && !stem.is_empty())
            .max_by_key(|(stem, _)| stem.len())
            .map(|(_, target)| *target)
    }

    /// A server request's id as the client sees it: the target name and the original id, so
    /// that ids of different targets never collide and the answer finds its way back.
    pub fn client_facing_id(&self, target: usize, id: &Value) -> Value {
        Value::String(format!("{}:{}", self.targets[target].name, id))
    }

    /// The target and original id of a client's answer to a server request.
    pub fn server_request_of(&self, id: &Value) -> Option<(usize, Value)> {
        let id = id.as_str()?;
        self.targets.iter().enumerate().find_map(|(i, t)| {
            let original = id.strip_prefix(&*t.name)?.strip_prefix(':')?;
            Some((i, serde_json::from_str(original).ok()?))
        })
    }

    /// Prepares a message from a target for the client: server requests get collision-free
    /// ids, and a cancellation of one names it by that id.
    pub fn to_client(&self, target: usize, mut message: Message) -> Message {
        match message.kind() {
            crate::jsonrpc::Kind::Request => {
                if let Some(id) = message.id().cloned() {
                    message.set_id(self.client_facing_id(target, &id));
                }
            }
            crate::jsonrpc::Kind::Notification
                if message.method() == Some("notifications/cancelled") =>
            {
                let facing = message
                    .params()
                    .and_then(|p| p.get("requestId"))
                    .map(|id| self.client_facing_id(target, id));
                if let (Some(facing), Some(params)) = (facing, message.params_mut()) {
                    params.insert("requestId".into(), facing);
                }
            }
            _ => {}
        }
        message
    }

    /// Ends every upstream session.
    pub async fn close(&self) {
        for target in &self.targets {
            target.upstream.close().await;
        }
    }
}
