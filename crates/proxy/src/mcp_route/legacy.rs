//! The legacy SSE transport (protocol 2024-11-05), gateway side: the client keeps a GET
//! stream open and POSTs its messages to the URL the stream's `endpoint` event names; every
//! answer travels on the stream. Connections live in this process, so they end with it (and
//! with a configuration reload).

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Response, StatusCode};
use mcp::dispatch::{self, Facts, Reply};
use mcp::jsonrpc::{self, Kind, Message, code};
use mcp::session::Session;
use ring::rand::{SecureRandom, SystemRandom};
use tokio::sync::mpsc;

use super::reply;
use super::{Caller, McpEndpoint, McpLogFacts, read_body, session_fingerprint};
use crate::body::BoxBody;

/// Messages waiting for a slow legacy client before the sender waits.
const BACKLOG: usize = 256;

pub(super) struct LegacyConnection {
    outgoing: mpsc::Sender<Message>,
    session: Mutex<Option<Arc<Session>>>,
}

/// The `sessionId` query parameter of a message POST.
pub(super) fn session_param(parts: &http::request::Parts) -> Option<String> {
    parts
        .uri
        .query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("sessionId="))
        .map(str::to_string)
}

fn new_id() -> Option<String> {
    let mut bytes = [0u8; 16];
    SystemRandom::new().fill(&mut bytes).ok()?;
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// GET `.../sse`: the stream, announcing where messages go.
pub(super) fn open(endpoint: &McpEndpoint, parts: &http::request::Parts) -> Response<BoxBody> {
    let Some(id) = new_id() else {
        return reply::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            code::INTERNAL_ERROR,
            "no random source for a session id",
        );
    };
    let (outgoing, messages) = mpsc::channel(BACKLOG);
    let connection = Arc::new(LegacyConnection {
        outgoing,
        session: Mutex::new(None),
    });
    lock(&endpoint.legacy).insert(id.clone(), connection);
    let announce_id = id.clone();
    let base = parts.uri.path().strip_suffix("/sse").unwrap_or_default();
    let announce = Bytes::from(format!(
        "event: endpoint\ndata: {base}/message?sessionId={announce_id}\n\n"
    ));
    let service = endpoint.service.clone();
    let connections = Arc::downgrade(&endpoint.legacy);
    reply::events_with_close(
        Some(announce),
        messages,
        Box::new(move || {
            // The client went away: its session ends with the stream.
            let Some(connections) = connections.upgrade() else {
                return;
            };
            let Some(connection) = lock(&connections).remove(&id) else {
                return;
            };
            let session = lock(&connection.session).take();
            if let Some(sid) = session.and_then(|s| s.id.clone()) {
                tokio::spawn(async move { service.end(&sid).await });
            }
        }),
    )
}

/// POST `...?sessionId=`: handle the message; its answer goes to the stream.
pub(super) async fn post(
    endpoint: &McpEndpoint,
    id: &str,
    body: crate::server::idle::ClientBody,
    caller: &Caller<'_>,
    log: &mut McpLogFacts,
) -> Response<BoxBody> {
    log.session = session_fingerprint(id);
    let Some(connection) = lock(&endpoint.legacy).get(id).cloned() else {
        return reply::error(
            StatusCode::NOT_FOUND,
            code::INVALID_REQUEST,
            "unknown SSE session: open a new event stream with GET .../sse",
        );
    };
    if connection.outgoing.is_closed() {
        lock(&endpoint.legacy).remove(id);
        return reply::error(
            StatusCode::NOT_FOUND,
            code::INVALID_REQUEST,
            "the SSE stream of this session has closed",
        );
    }
    let body = match read_body(body).await {
        Ok(body) => body,
        Err(answer) => return answer,
    };
    let messages = match jsonrpc::parse_body(&body) {
        Ok(messages) => messages,
        Err(e) => return reply::error(StatusCode::BAD_REQUEST, e.code, e.message),
    };
    let service = &endpoint.service;
    for message in messages {
        log.method = message.method().unwrap_or_default().to_string();
        let id = message.id().cloned().unwrap_or_default();
        let session = lock(&connection.session).clone();
        let is_request = message.kind() == Kind::Request;
        if is_request && message.method() == Some("initialize") {
            if session.is_some() {
                let refusal = Message::error_for(
                    id,
                    code::INVALID_REQUEST,
                    "this connection's session is already initialized; open a new event stream for another",
                );
                let _ = connection.outgoing.send(refusal).await;
                continue;
            }
            let (answer, session) = service
                .initialize(message, caller.credential(), caller.owner.clone())
                .await;
            let session = match (session, service.options().stateful) {
                (Some(session), _) => Some(session),
                // A stateless backend: the connection keeps targets initialized for it
                // until it closes.
                (None, false) if answer.result().is_some() => {
                    let agreed = answer.result().and_then(|r| r["protocolVersion"].as_str());
                    service
                        .one_off_session(caller.credential(), agreed, id.clone())
                        .await
                        .ok()
                }
                // A failed `initialize` leaves the connection without a session.
                (None, _) => None,
            };
            if let Some(session) = &session {
                *lock(&connection.session) = Some(session.clone());
                relay_standalone(&connection, session.clone());
            }
            let _ = connection.outgoing.send(answer).await;
            continue;
        }
        // The connection's session is its starter's alone.
        if let Some(session) = &session
            && session.owner != caller.owner
        {
            return reply::error(
                StatusCode::NOT_FOUND,
                code::INVALID_REQUEST,
                "this SSE session was started by another caller; open your own event stream",
            );
        }
        let Some(session) = session else {
            // Notifications and answers get no response, whatever their fate.
            if is_request {
                let refusal =
                    Message::error_for(id, code::INVALID_REQUEST, "send `initialize` first");
                let _ = connection.outgoing.send(refusal).await;
            }
            continue;
        };
        caller.forward_credential(&session);
        let mut facts = Facts::default();
        let handled = dispatch::handle(service, &session, message, caller.filter, &mut facts).await;
        log.record(&facts);
        match handled {
            Reply::Accepted => {}
            Reply::Message(answer) => {
                let _ = connection.outgoing.send(answer).await;
            }
            Reply::Stream(mut stream) => {
                let outgoing = connection.outgoing.clone();
                tokio::spawn(async move {
                    while let Some(message) = stream.recv().await {
                        if outgoing.send(message).await.is_err() {
                            break;
                        }
                    }
                });
            }
            Reply::SessionGone(reason) => {
                // The session is over: the client is told, under its request's id, and the
                // connection needs a new `initialize`.
                lock(&connection.session).take();
                if let Some(sid) = &session.id {
                    service.end(sid).await;
                }
                let gone = Message::error_for(id, code::INVALID_REQUEST, reason);
                let _ = connection.outgoing.send(gone).await;
            }
        }
    }
    reply::accepted()
}

/// Server messages that belong to no request go to the client's stream too.
fn relay_standalone(connection: &Arc<LegacyConnection>, session: Arc<Session>) {
    let outgoing = connection.outgoing.clone();
    tokio::spawn(async move {
        let mut standalone = dispatch::listen(&session).await;
        drop(session);
        loop {
            tokio::select! {
                _ = outgoing.closed() => break,
                message = standalone.recv() => {
                    let Some(message) = message else { break };
                    if outgoing.send(message).await.is_err() {
                        break;
                    }
                }
            }
        }
    });
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
