//! Targets that speak over one message stream each way (a child's stdin/stdout, a legacy SSE
//! stream plus POSTs): responses are matched to requests by id; other server messages go to
//! the request in flight (a sampling request during a tool call belongs to that call) or, when
//! none is, to the standalone listener.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use super::http::lock;
use super::{MessageStream, STREAM_BUFFER, TargetError};
use crate::jsonrpc::{Kind, Message, id_key};

/// Server messages kept for a standalone listener that has not connected yet.
const UNSOLICITED_BACKLOG: usize = 256;

type Reply = mpsc::Sender<Result<Message, TargetError>>;

struct Pending {
    key: String,
    token: Option<Value>,
    may_ask: bool,
    reply: Reply,
}

/// Methods during which a server never asks the client anything (it just answers): server
/// requests and notifications without a token are not routed to them.
fn may_ask_the_client(method: Option<&str>) -> bool {
    !matches!(
        method,
        Some(
            "ping"
                | "initialize"
                | "tools/list"
                | "prompts/list"
                | "resources/list"
                | "resources/templates/list"
                | "logging/setLevel"
        )
    )
}

#[derive(Default)]
struct Routes {
    /// Requests in flight by id key, in the order they were sent, with their progress token
    /// and whether the server may ask the client something while working on them.
    pending: Vec<Pending>,
    listener: Option<Reply>,
    backlog: VecDeque<Message>,
    closed: bool,
}

/// The request/response side of a duplex connection.
pub struct DuplexTarget {
    name: Arc<str>,
    outbox: mpsc::Sender<Message>,
    routes: Arc<Mutex<Routes>>,
    tasks: Vec<AbortHandle>,
}

impl Drop for DuplexTarget {
    fn drop(&mut self) {
        // The tasks own the child process or the SSE stream: stopping them ends those.
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Lets a transport's writer fail a request it could not send.
#[derive(Clone)]
pub struct Failer {
    name: Arc<str>,
    routes: Arc<Mutex<Routes>>,
}

impl Failer {
    pub fn fail(&self, id: &Value, error: TargetError) {
        let key = id_key(id);
        let reply = {
            let mut routes = lock(&self.routes);
            let position = routes.pending.iter().position(|p| p.key == key);
            position.map(|i| routes.pending.remove(i).reply)
        };
        if let Some(reply) = reply {
            let _ = reply.try_send(Err(error));
        }
    }

    pub fn name(&self) -> &Arc<str> {
        &self.name
    }
}

impl DuplexTarget {
    /// Starts routing `inbound`; `outbox` is where messages to the server go. `tasks` are the
    /// transport's own tasks, stopped with this target.
    pub fn start(
        name: Arc<str>,
        outbox: mpsc::Sender<Message>,
        inbound: mpsc::Receiver<Message>,
        mut tasks: Vec<AbortHandle>,
    ) -> Self {
        let routes = Arc::new(Mutex::new(Routes::default()));
        let router = tokio::spawn(route(name.clone(), inbound, routes.clone()));
        tasks.push(router.abort_handle());
        Self {
            name,
            outbox,
            routes,
            tasks,
        }
    }

    pub fn failer(&self) -> Failer {
        Failer {
            name: self.name.clone(),
            routes: self.routes.clone(),
        }
    }

    /// Whether the connection has ended (the process exited, the stream closed).
    pub fn is_closed(&self) -> bool {
        lock(&self.routes).closed || self.outbox.is_closed()
    }

    pub async fn request(&self, message: Message) -> Result<MessageStream, TargetError> {
        let Some(id) = message.id().map(id_key) else {
            return Err(self.closed_error());
        };
        let token = message
            .params()
            .and_then(|p| p.get("_meta"))
            .and_then(|m| m.get("progressToken"))
            .cloned();
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        {
            let mut routes = lock(&self.routes);
            if routes.closed {
                return Err(self.closed_error());
            }
            let may_ask = may_ask_the_client(message.method());
            routes.pending.push(Pending {
                key: id,
                token,
                may_ask,
                reply: tx,
            });
        }
        self.outbox
            .send(message)
            .await
            .map_err(|_| self.closed_error())?;
        Ok(rx)
    }

    pub async fn deliver(&self, message: Message) -> Result<(), TargetError> {
        self.outbox
            .send(message)
            .await
            .map_err(|_| self.closed_error())
    }

    pub fn listen(&self) -> Option<MessageStream> {
        let (tx, rx) = mpsc::channel(UNSOLICITED_BACKLOG);
        let mut routes = lock(&self.routes);
        while let Some(message) = routes.backlog.pop_front() {
            let _ = tx.try_send(Ok(message));
        }
        routes.listener = Some(tx);
        Some(rx)
    }

    fn closed_error(&self) -> TargetError {
        TargetError::Closed {
            target: self.name.clone(),
        }
    }
}

async fn route(name: Arc<str>, mut inbound: mpsc::Receiver<Message>, routes: Arc<Mutex<Routes>>) {
    while let Some(message) = inbound.recv().await {
        let (reply, message) = {
            let mut routes = lock(&routes);
            match destination(&mut routes, message) {
                Some(found) => found,
                None => continue,
            }
        };
        // Waiting here slows a fast server down to its slowest client instead of buffering.
        let _ = reply.send(Ok(message)).await;
    }
    let pending = {
        let mut routes = lock(&routes);
        routes.closed = true;
        routes.listener = None;
        std::mem::take(&mut routes.pending)
    };
    for Pending { reply, .. } in pending {
        let _ = reply.try_send(Err(TargetError::Closed {
            target: name.clone(),
        }));
    }
}

/// Where a server message goes; None when it was kept in the backlog or dropped.
fn destination(routes: &mut Routes, message: Message) -> Option<(Reply, Message)> {
    if message.kind() == Kind::Response {
        let key = message.id().map(id_key)?;
        let index = routes.pending.iter().position(|p| p.key == key)?;
        return Some((routes.pending.remove(index).reply, message));
    }
    let token = message.params().and_then(|p| p.get("progressToken"));
    let by_token = token.and_then(|token| {
        routes
            .pending
            .iter()
            .find(|p| p.token.as_ref() == Some(token))
    });
    let working = || routes.pending.iter().rev().find(|p| p.may_ask);
    if let Some(pending) = by_token.or_else(working) {
        return Some((pending.reply.clone(), message));
    }
    if let Some(listener) = routes.listener.as_ref().filter(|l| !l.is_closed()) {
        return Some((listener.clone(), message));
    }
    if routes.backlog.len() == UNSOLICITED_BACKLOG {
        routes.backlog.pop_front();
    }
    routes.backlog.push_back(message);
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn target() -> (DuplexTarget, mpsc::Receiver<Message>, mpsc::Sender<Message>) {
        let (out_tx, out_rx) = mpsc::channel(8);
        let (in_tx, in_rx) = mpsc::channel(8);
        (
            DuplexTarget::start("t".into(), out_tx, in_rx, Vec::new()),
            out_rx,
            in_tx,
        )
    }

    #[tokio::test]
    async fn responses_go_to_their_request_and_notifications_to_the_one_in_flight() {
        let (target, mut sent, server) = target();
        let params = json!({"name": "x", "_meta": {"progressToken": "p1"}});
        let mut first = target
            .request(Message::request(json!(1), "tools/call", params))
            .await
            .unwrap();
        let mut second = target
            .request(Message::request(json!(2), "tools/call", json!({})))
            .await
            .unwrap();
        assert_eq!(sent.recv().await.unwrap().id(), Some(&json!(1)));
        sent.recv().await.unwrap();
        let progress = json!({"progressToken": "p1", "progress": 1});
        server
            .send(Message::notification("notifications/progress", progress))
            .await
            .unwrap();
        server
            .send(Message::result_for(json!(2), json!({})))
            .await
            .unwrap();
        server
            .send(Message::result_for(json!(1), json!({"ok": true})))
            .await
            .unwrap();
        let note = first.recv().await.unwrap().unwrap();
        assert_eq!(note.method(), Some("notifications/progress"));
        assert_eq!(first.recv().await.unwrap().unwrap().id(), Some(&json!(1)));
        assert_eq!(second.recv().await.unwrap().unwrap().id(), Some(&json!(2)));
    }

    #[tokio::test]
    async fn a_server_request_goes_to_the_call_in_flight_not_to_a_later_ping() {
        let (target, mut sent, server) = target();
        let mut call = target
            .request(Message::request(
                json!(1),
                "tools/call",
                json!({"name": "x"}),
            ))
            .await
            .unwrap();
        let mut ping = target
            .request(Message::request(json!(2), "ping", json!({})))
            .await
            .unwrap();
        sent.recv().await.unwrap();
        sent.recv().await.unwrap();
        let ask = Message::request(json!(9), "sampling/createMessage", json!({}));
        server.send(ask).await.unwrap();
        server
            .send(Message::result_for(json!(2), json!({})))
            .await
            .unwrap();
        let asked = call.recv().await.unwrap().unwrap();
        assert_eq!(asked.method(), Some("sampling/createMessage"));
        let pong = ping.recv().await.unwrap().unwrap();
        assert_eq!(pong.id(), Some(&json!(2)));
    }

    #[tokio::test]
    async fn unsolicited_messages_wait_for_a_listener_and_a_closed_server_fails_requests() {
        let (target, _sent, server) = target();
        server
            .send(Message::notification(
                "notifications/tools/list_changed",
                json!({}),
            ))
            .await
            .unwrap();
        tokio::task::yield_now().await;
        let mut listener = target.listen().unwrap();
        let message = tokio::time::timeout(std::time::Duration::from_secs(5), listener.recv())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(message.method(), Some("notifications/tools/list_changed"));
        let mut reply = target
            .request(Message::request(json!(7), "ping", json!({})))
            .await
            .unwrap();
        drop(server);
        let error = reply.recv().await.unwrap().unwrap_err();
        assert!(matches!(error, TargetError::Closed { .. }));
        assert!(target.is_closed());
    }
}
