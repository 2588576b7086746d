//! What happens to each client message in a session: which targets it goes to, how their
//! answers combine, and what the caller is allowed to see and use.

use std::collections::BTreeMap;
use std::sync::Arc;

use policy::authorization::McpAttributes;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use crate::jsonrpc::{Kind, Message, code};
use crate::mux;
use crate::service::{McpService, first_response, join_all};
use crate::session::Session;
use crate::target::{STREAM_BUFFER, TargetError};

/// What the HTTP layer sends back.
pub enum Reply {
    /// A notification or a client's answer was delivered (HTTP 202).
    Accepted,
    /// The one message answering a request.
    Message(Message),
    /// Messages about a request (progress, logs, server requests), ending with its response.
    Stream(mpsc::Receiver<Message>),
    /// A target no longer knows the session: the client must start a new one (HTTP 404).
    SessionGone(String),
}

/// Decides whether the caller may see or use an item (the backend's `mcp.authorization`).
pub trait ItemFilter: Send + Sync {
    fn allows(&self, item: &McpAttributes<'_>) -> bool;
}

/// No MCP authorization configured.
pub struct AllowAll;

impl ItemFilter for AllowAll {
    fn allows(&self, _: &McpAttributes<'_>) -> bool {
        true
    }
}

/// What a message was about, for metrics and the access log.
#[derive(Debug, Default, Clone)]
pub struct Facts {
    pub method: Option<String>,
    pub target: Option<Arc<str>>,
    /// The tool called, prompt fetched or resource read (as the target knows it).
    pub item: Option<String>,
}

pub async fn handle(
    service: &Arc<McpService>,
    session: &Arc<Session>,
    message: Message,
    filter: &dyn ItemFilter,
    facts: &mut Facts,
) -> Reply {
    session.touch();
    facts.method = message.method().map(str::to_string);
    match message.kind() {
        Kind::Response => answer_server(session, message).await,
        Kind::Notification => notify(session, message).await,
        Kind::Request => {
            Request {
                service,
                session,
                filter,
                id: message.id().cloned().unwrap_or(Value::Null),
            }
            .handle(message, facts)
            .await
        }
    }
}

/// A client's answer to a server request (sampling, elicitation, roots) goes back to the
/// target that asked, under the id that target used.
async fn answer_server(session: &Session, mut message: Message) -> Reply {
    let Some((target, original)) = message.id().and_then(|id| session.server_request_of(id)) else {
        tracing::warn!("a client answered a request no MCP target of its session sent");
        return Reply::Accepted;
    };
    message.set_id(original);
    if let Err(e) = session.targets[target].upstream.deliver(message).await {
        tracing::warn!(error = %e, "could not pass a client's answer to its MCP target");
    }
    Reply::Accepted
}

async fn notify(session: &Session, message: Message) -> Reply {
    let targets = match message.method() {
        Some("notifications/cancelled") => message
            .params()
            .and_then(|p| p.get("requestId"))
            .map(|id| session.working_on(id))
            .unwrap_or_default(),
        _ => (0..session.targets.len()).collect(),
    };
    let sends = targets.into_iter().map(|i| {
        let message = message.clone();
        async move { (i, session.targets[i].upstream.deliver(message).await) }
    });
    for (i, outcome) in join_all(sends).await {
        if let Err(e) = outcome {
            tracing::warn!(target_name = %session.targets[i].name, error = %e, "a notification did not reach its MCP target");
        }
    }
    Reply::Accepted
}

struct Request<'a> {
    service: &'a Arc<McpService>,
    session: &'a Arc<Session>,
    filter: &'a dyn ItemFilter,
    id: Value,
}

/// Items a name-routed method names, with the list member they were learned from.
#[derive(Clone, Copy)]
enum Named {
    Tool,
    Prompt,
}

impl Named {
    fn member(self) -> &'static str {
        match self {
            Named::Tool => "tools",
            Named::Prompt => "prompts",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Named::Tool => "tool",
            Named::Prompt => "prompt",
        }
    }
}

impl Request<'_> {
    async fn handle(self, message: Message, facts: &mut Facts) -> Reply {
        let method = message.method().unwrap_or_default().to_string();
        match method.as_str() {
            "initialize" => self.error(
                code::INVALID_REQUEST,
                "this session is already initialized; to start another, send `initialize` without an Mcp-Session-Id header",
            ),
            "ping" | "logging/setLevel" => self.acknowledge(&method, message).await,
            "tools/call" => self.by_name(Named::Tool, message, facts).await,
            "prompts/get" => self.by_name(Named::Prompt, message, facts).await,
            "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
                let uri = message.param_str("uri").map(str::to_string);
                self.by_uri(uri, message, facts).await
            }
            "completion/complete" => self.complete(message, facts).await,
            _ => match mux::list_member(&method) {
                Some(member) => self.list(&method, member, message).await,
                None => self.other(&method, message, facts).await,
            },
        }
    }

    fn error(&self, code: i64, message: impl Into<String>) -> Reply {
        Reply::Message(Message::error_for(self.id.clone(), code, message))
    }

    /// A request the gateway stopped waiting for may still run at the target: it is told
    /// to stop, as the client would have told it (the protocol asks the sender to).
    fn cancel_if_timed_out(&self, target: usize, error: &TargetError) {
        let TargetError::Unreachable { reason, .. } = error else {
            return;
        };
        if !reason.starts_with(crate::target::TIMED_OUT) {
            return;
        }
        let cancel = Message::notification(
            "notifications/cancelled",
            json!({"requestId": self.id, "reason": reason}),
        );
        let session = self.session.clone();
        tokio::spawn(async move {
            if let Err(error) = session.targets[target].upstream.deliver(cancel).await {
                tracing::debug!(%error, "the cancellation did not reach the MCP target");
            }
        });
    }

    fn target_error(&self, error: TargetError) -> Reply {
        if let TargetError::SessionGone { .. } = error {
            return Reply::SessionGone(error.to_string());
        }
        self.error(code::TARGET_UNAVAILABLE, error.to_string())
    }

    /// Methods every target should answer (`ping`, `logging/setLevel`): the client gets `{}`
    /// when all targets did (FailOpen: when any did).
    async fn acknowledge(&self, method: &str, message: Message) -> Reply {
        let targets = self.session.capable(method);
        let sends = targets.iter().map(|&i| {
            let message = message.clone();
            let target = &self.session.targets[i];
            async move { first_response(&target.name, target.upstream.request(message).await).await }
        });
        let outcomes = join_all(sends).await;
        let mut failure = None;
        let mut any_ok = targets.is_empty();
        for (&i, outcome) in targets.iter().zip(outcomes) {
            match outcome {
                Ok(answer) if !answer.is_error() => any_ok = true,
                Ok(answer) if targets.len() == 1 => return Reply::Message(answer),
                Ok(answer) => {
                    let reason = answer.error().cloned().unwrap_or_default();
                    let name = &self.session.targets[i].name;
                    failure = Some(format!("MCP target `{name}` refused `{method}`: {reason}"));
                }
                Err(e) => failure = Some(e.to_string()),
            }
        }
        match failure {
            Some(reason) if !self.service.options().fail_open || !any_ok => {
                self.error(code::TARGET_UNAVAILABLE, reason)
            }
            _ => Reply::Message(Message::result_for(self.id.clone(), json!({}))),
        }
    }

    /// Which target a tool or prompt name belongs to, and its name there.
    fn resolve(&self, kind: Named, name: &str) -> Result<(usize, String), String> {
        let session = self.session;
        if session.prefixed {
            return mux::split_prefix(&session.names(), name)
                .map(|(i, rest)| (i, rest.to_string()))
                .ok_or_else(|| {
                    format!(
                        "unknown {} `{name}`: names here are `<target>{}<name>` and no target matches (targets: {})",
                        kind.noun(),
                        mux::SEPARATOR,
                        session.names().join(", ")
                    )
                });
        }
        let owner = session
            .name_owner(kind.member(), name)
            .or_else(|| (session.targets.len() == 1).then_some(0))
            .or_else(|| {
                session
                    .capable(&format!("{}/list", kind.member()))
                    .first()
                    .copied()
            });
        owner
            .map(|i| (i, name.to_string()))
            .ok_or_else(|| format!("unknown {} `{name}`", kind.noun()))
    }

    async fn by_name(&self, kind: Named, mut message: Message, facts: &mut Facts) -> Reply {
        let Some(name) = message.param_str("name").map(str::to_string) else {
            return self.error(
                code::INVALID_PARAMS,
                format!("`params.name` is required: the {} to use", kind.noun()),
            );
        };
        let (target, original) = match self.resolve(kind, &name) {
            Ok(found) => found,
            Err(reason) => return self.error(code::INVALID_PARAMS, reason),
        };
        let target_name = self.session.targets[target].name.clone();
        facts.target = Some(target_name.clone());
        facts.item = Some(original.clone());
        let item = match kind {
            Named::Tool => McpAttributes::Tool {
                name: &original,
                target: &target_name,
            },
            Named::Prompt => McpAttributes::Prompt { name: &original },
        };
        if !self.filter.allows(&item) {
            return self.error(
                code::FORBIDDEN,
                format!(
                    "{} `{name}` is not allowed by the MCP authorization policy",
                    kind.noun()
                ),
            );
        }
        if let Some(params) = message.params_mut() {
            params.insert("name".into(), Value::String(original));
        }
        self.forward(target, message).await
    }

    async fn by_uri(&self, uri: Option<String>, message: Message, facts: &mut Facts) -> Reply {
        let Some(uri) = uri else {
            return self.error(code::INVALID_PARAMS, "`params.uri` is required");
        };
        facts.item = Some(uri.clone());
        if !self.filter.allows(&McpAttributes::Resource { uri: &uri }) {
            return self.error(
                code::FORBIDDEN,
                format!("resource `{uri}` is not allowed by the MCP authorization policy"),
            );
        }
        let method = message.method().unwrap_or_default().to_string();
        let capable = self.session.capable(&method);
        let only_capable = match capable.as_slice() {
            [only] => Some(*only),
            _ => None,
        };
        if let Some(owner) = self.session.resource_owner(&uri).or(only_capable) {
            facts.target = Some(self.session.targets[owner].name.clone());
            return self.forward(owner, message).await;
        }
        // Not listed (yet): the first target that knows the URI answers.
        self.first_that_answers(&capable, message, facts, code::INVALID_PARAMS)
            .await
    }

    async fn complete(&self, mut message: Message, facts: &mut Facts) -> Reply {
        let reference = message
            .params()
            .and_then(|p| p.get("ref"))
            .cloned()
            .unwrap_or_default();
        match reference.get("type").and_then(Value::as_str) {
            Some("ref/prompt") => {
                let name = reference.get("name").and_then(Value::as_str).unwrap_or_default();
                let (target, original) = match self.resolve(Named::Prompt, name) {
                    Ok(found) => found,
                    Err(reason) => return self.error(code::INVALID_PARAMS, reason),
                };
                facts.target = Some(self.session.targets[target].name.clone());
                facts.item = Some(original.clone());
                // Completing a prompt's arguments uses the prompt: the same rule decides.
                if !self.filter.allows(&McpAttributes::Prompt { name: &original }) {
                    return self.error(
                        code::FORBIDDEN,
                        format!("prompt `{name}` is not allowed by the MCP authorization policy"),
                    );
                }
                if let Some(params) = message.params_mut() {
                    params.insert("ref".into(), json!({"type": "ref/prompt", "name": original}));
                }
                self.forward(target, message).await
            }
            Some("ref/resource") => {
                let uri = reference.get("uri").and_then(Value::as_str).map(str::to_string);
                self.by_uri(uri, message, facts).await
            }
            _ => self.error(
                code::INVALID_PARAMS,
                "`params.ref` must be {\"type\": \"ref/prompt\", \"name\"} or {\"type\": \"ref/resource\", \"uri\"}",
            ),
        }
    }

    /// A method the gateway has no rule for goes to the one target, or to the first of
    /// several that knows it.
    async fn other(&self, method: &str, message: Message, facts: &mut Facts) -> Reply {
        if self.session.targets.len() == 1 {
            facts.target = Some(self.session.targets[0].name.clone());
            return self.forward(0, message).await;
        }
        let all: Vec<usize> = (0..self.session.targets.len()).collect();
        match self
            .first_that_answers(&all, message, facts, code::METHOD_NOT_FOUND)
            .await
        {
            Reply::Message(m) if m.error_code() == Some(code::METHOD_NOT_FOUND) => self.error(
                code::METHOD_NOT_FOUND,
                format!("no MCP target of this backend supports `{method}`"),
            ),
            reply => reply,
        }
    }

    /// Tries targets in order; an error with `skip_code` moves on to the next.
    async fn first_that_answers(
        &self,
        targets: &[usize],
        message: Message,
        facts: &mut Facts,
        skip_code: i64,
    ) -> Reply {
        let mut last = None;
        for &i in targets {
            let target = &self.session.targets[i];
            match first_response(&target.name, target.upstream.request(message.clone()).await).await
            {
                Ok(answer) if answer.error_code() == Some(skip_code) => {
                    last = Some(Reply::Message(answer))
                }
                Ok(answer)
                    if answer.is_error() && answer.error_code() == Some(code::INVALID_PARAMS) =>
                {
                    last = Some(Reply::Message(answer));
                }
                Ok(answer) => {
                    facts.target = Some(target.name.clone());
                    return Reply::Message(answer);
                }
                Err(e) => last = Some(self.target_error(e)),
            }
        }
        last.unwrap_or_else(|| {
            self.error(skip_code, "no MCP target of this backend can answer this")
        })
    }

    /// Sends a request to one target and relays what comes back.
    async fn forward(&self, target: usize, message: Message) -> Reply {
        let session = self.session;
        session.start_request(&self.id, &[target]);
        let upstream = &session.targets[target].upstream;
        let mut stream = match upstream.request(message).await {
            Ok(stream) => stream,
            Err(e) => {
                session.end_request(&self.id);
                self.cancel_if_timed_out(target, &e);
                return self.target_error(e);
            }
        };
        let first = match stream.recv().await {
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                session.end_request(&self.id);
                return self.target_error(e);
            }
            None => {
                session.end_request(&self.id);
                let name = session.targets[target].name.clone();
                return self.target_error(TargetError::Closed { target: name });
            }
        };
        if first.kind() == Kind::Response {
            session.end_request(&self.id);
            return Reply::Message(first);
        }
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let _ = tx.try_send(session.to_client(target, first));
        let session = session.clone();
        let id = self.id.clone();
        tokio::spawn(async move {
            while let Some(item) = stream.recv().await {
                let message = match item {
                    Ok(m) => session.to_client(target, m),
                    Err(e) => {
                        Message::error_for(id.clone(), code::TARGET_UNAVAILABLE, e.to_string())
                    }
                };
                let last = message.kind() == Kind::Response;
                if tx.send(message).await.is_err() || last {
                    break;
                }
            }
            session.end_request(&id);
        });
        Reply::Stream(rx)
    }

    /// `tools/list` and friends: every capable target's items, prefixed, filtered, merged,
    /// with one cursor for all targets' next pages.
    async fn list(&self, method: &str, member: &'static str, message: Message) -> Reply {
        let session = self.session;
        let single = session.targets.len() == 1;
        let cursor = message.param_str("cursor").map(str::to_string);
        let plan: Vec<(usize, Option<String>)> = match (&cursor, single) {
            (None, _) => session
                .capable(method)
                .into_iter()
                .map(|i| (i, None))
                .collect(),
            (Some(c), true) => vec![(0, Some(c.clone()))],
            (Some(c), false) => {
                let Some(cursors) = mux::decode_cursor(c) else {
                    return self.error(
                        code::INVALID_PARAMS,
                        "invalid cursor: pass back the nextCursor of the previous page unchanged",
                    );
                };
                cursors
                    .into_iter()
                    .filter_map(|(name, c)| Some((session.index_of(&name)?, Some(c))))
                    .collect()
            }
        };
        let sends = plan.iter().map(|(i, cursor)| {
            let mut message = message.clone();
            if let Some(params) = message.params_mut() {
                params.remove("cursor");
                if let Some(c) = cursor {
                    params.insert("cursor".into(), Value::String(c.clone()));
                }
            } else if let Some(c) = cursor {
                message = Message::request(self.id.clone(), method, json!({ "cursor": c }));
            }
            let target = &session.targets[*i];
            async move { first_response(&target.name, target.upstream.request(message).await).await }
        });
        let outcomes = join_all(sends).await;
        let mut merged: Option<Map<String, Value>> = None;
        let mut items = Vec::new();
        let mut next = BTreeMap::new();
        for ((i, _), outcome) in plan.iter().zip(outcomes) {
            let name = &session.targets[*i].name;
            let result = match outcome {
                Ok(answer) => match answer.result() {
                    Some(result) => result.clone(),
                    None if single => return Reply::Message(answer),
                    None => {
                        let reason = answer.error().cloned().unwrap_or_default();
                        match self.skip_or_fail(format!(
                            "MCP target `{name}` failed `{method}`: {reason}"
                        )) {
                            Some(reply) => return reply,
                            None => continue,
                        }
                    }
                },
                Err(e) => match self.skip_or_fail(e.to_string()) {
                    Some(reply) => return reply,
                    None => continue,
                },
            };
            session.learn_resources(*i, &result);
            let listed = result
                .get(member)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            session.learn_names(*i, member, &listed);
            for mut item in listed {
                if !self.visible(member, name, &item) {
                    continue;
                }
                if session.prefixed {
                    mux::prefix_item(&mut item, name);
                }
                items.push(item);
            }
            if let Some(c) = result.get("nextCursor").and_then(Value::as_str) {
                next.insert(name.to_string(), c.to_string());
            }
            if single && let Value::Object(map) = result {
                merged = Some(map);
            }
        }
        let mut result = merged.unwrap_or_default();
        result.insert(member.into(), Value::Array(items));
        result.remove("nextCursor");
        let next_cursor = match single {
            true => next.into_values().next(),
            false => (!next.is_empty()).then(|| mux::encode_cursor(&next)),
        };
        if let Some(c) = next_cursor {
            result.insert("nextCursor".into(), Value::String(c));
        }
        Reply::Message(Message::result_for(self.id.clone(), Value::Object(result)))
    }

    /// FailOpen: log and go on (None); FailClosed: the error reply naming the target.
    fn skip_or_fail(&self, reason: String) -> Option<Reply> {
        if self.service.options().fail_open {
            tracing::warn!("{reason}; serving the other targets (failureMode: FailOpen)");
            return None;
        }
        Some(self.error(code::TARGET_UNAVAILABLE, reason))
    }

    fn visible(&self, member: &str, target: &str, item: &Value) -> bool {
        let field = |key: &str| item.get(key).and_then(Value::as_str).unwrap_or_default();
        let attributes = match member {
            "tools" => McpAttributes::Tool {
                name: field("name"),
                target,
            },
            "prompts" => McpAttributes::Prompt {
                name: field("name"),
            },
            "resources" => McpAttributes::Resource { uri: field("uri") },
            // A client's own tasks: no rule is about them.
            "tasks" => return true,
            _ => McpAttributes::Resource {
                uri: field("uriTemplate"),
            },
        };
        self.filter.allows(&attributes)
    }
}

/// The standalone stream of a session: every target's messages that belong to no request.
/// It stays open until the client goes away, even when no target has such a stream.
pub async fn listen(session: &Arc<Session>) -> mpsc::Receiver<Message> {
    let (tx, rx) = mpsc::channel(STREAM_BUFFER);
    for (i, target) in session.targets.iter().enumerate() {
        let Some(mut stream) = target.upstream.listen().await else {
            continue;
        };
        let tx = tx.clone();
        let session = Arc::downgrade(session);
        tokio::spawn(async move {
            loop {
                let message = tokio::select! {
                    // The client went away: stop reading the target's stream.
                    _ = tx.closed() => break,
                    message = stream.recv() => match message {
                        Some(Ok(message)) => message,
                        _ => break,
                    },
                };
                let Some(session) = session.upgrade() else {
                    break;
                };
                if tx.send(session.to_client(i, message)).await.is_err() {
                    break;
                }
            }
        });
    }
    // The stream counts as use of the session until the client closes it.
    session.listener_opened();
    let session = Arc::downgrade(session);
    tokio::spawn(async move {
        tx.closed().await;
        if let Some(session) = session.upgrade() {
            session.listener_closed();
        }
    });
    rx
}
