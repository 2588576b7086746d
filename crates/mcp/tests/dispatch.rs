//! Sessions and message routing against an in-memory Streamable HTTP target that records
//! what reaches it: idle expiry, server requests answered by the client, cancellation.
//! (Real MCP servers are driven end to end in e2e/test_mcp.py.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use mcp::dispatch::{self, AllowAll, Facts, Reply};
use mcp::jsonrpc::Message;
use mcp::service::{McpService, Options, PrefixMode, SessionLookupError, TargetSpec, Transport};
use mcp::session::Session;
use mcp::session_token::SessionCodec;
use mcp::target::{BoxError, HttpClient, HttpFuture, ResponseBody};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// What the target received: method, session header, body, authorization header.
type Log = Arc<Mutex<Vec<(String, Option<String>, Value, Option<String>)>>>;

/// A body fed from a channel: an SSE stream the test writes into.
struct ChannelBody(mpsc::UnboundedReceiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = BoxError;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.0.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
    }
}

#[derive(Clone, Default)]
struct FakeTarget {
    log: Log,
    /// Where the open `ask` stream is written (to send the result once answered).
    asking: Arc<Mutex<Option<mpsc::UnboundedSender<Bytes>>>>,
    /// Streams kept open forever (`slow`).
    held: Arc<Mutex<Vec<mpsc::UnboundedSender<Bytes>>>>,
}

fn event(message: Value) -> Bytes {
    Bytes::from(format!("event: message\ndata: {message}\n\n"))
}

fn json_response(status: StatusCode, body: Value, session: bool) -> Response<ResponseBody> {
    let mut response = Response::new(
        http_body_util::Full::new(Bytes::from(body.to_string()))
            .map_err(|n| match n {})
            .boxed(),
    );
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    if session {
        response
            .headers_mut()
            .insert("mcp-session-id", "up-1".parse().unwrap());
    }
    response
}

impl HttpClient for FakeTarget {
    fn send(&self, request: Request<Bytes>) -> HttpFuture {
        let session = request
            .headers()
            .get("mcp-session-id")
            .map(|v| v.to_str().unwrap().to_string());
        let method = request.method().to_string();
        let authorization = request
            .headers()
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_string());
        let body: Value = serde_json::from_slice(request.body()).unwrap_or(Value::Null);
        self.log
            .lock()
            .unwrap()
            .push((method.clone(), session, body.clone(), authorization));
        let this = self.clone();
        Box::pin(async move {
            if method == "DELETE" {
                return Ok(json_response(StatusCode::OK, Value::Null, false));
            }
            let id = body["id"].clone();
            match body["method"].as_str() {
                Some("initialize") => Ok(json_response(
                    StatusCode::OK,
                    json!({"jsonrpc": "2.0", "id": id, "result": {"protocolVersion": "2025-06-18", "capabilities": {"tools": {}}, "serverInfo": {"name": "fake", "version": "1"}}}),
                    true,
                )),
                // The HTTP client gave up waiting (the backend's request timeout).
                Some("tools/call") if body["params"]["name"] == "slow" => {
                    Err(format!("{} 3s", mcp::target::TIMED_OUT))
                }
                // As the TypeScript SDK's servers answer after a restart.
                Some("tools/call") if body["params"]["name"] == "after-restart" => {
                    let mut response = Response::new(
                        http_body_util::Full::new(Bytes::from(
                            r#"{"jsonrpc":"2.0","error":{"code":-32000,"message":"Bad Request: No valid session ID provided"},"id":null}"#,
                        ))
                        .map_err(|n| match n {})
                        .boxed(),
                    );
                    *response.status_mut() = StatusCode::BAD_REQUEST;
                    Ok(response)
                }
                Some("tools/call") if body["params"]["name"] == "html" => {
                    let mut response = Response::new(
                        http_body_util::Full::new(Bytes::from("<html>maintenance</html>"))
                            .map_err(|n| match n {})
                            .boxed(),
                    );
                    response
                        .headers_mut()
                        .insert("content-type", "text/html".parse().unwrap());
                    Ok(response)
                }
                Some("tools/call") => {
                    let (tx, rx) = mpsc::unbounded_channel();
                    match body["params"]["name"].as_str() {
                        Some("ask") => {
                            tx.send(event(json!({"jsonrpc": "2.0", "id": 7, "method": "sampling/createMessage", "params": {"messages": []}}))).unwrap();
                            *this.asking.lock().unwrap() = Some(tx);
                        }
                        _ => this.held.lock().unwrap().push(tx),
                    }
                    let mut response = Response::new(ChannelBody(rx).boxed());
                    response
                        .headers_mut()
                        .insert("content-type", "text/event-stream".parse().unwrap());
                    Ok(response)
                }
                Some("ping") => Ok(json_response(
                    StatusCode::OK,
                    json!({"jsonrpc": "2.0", "id": id, "result": {}}),
                    false,
                )),
                Some(_) => Ok(json_response(StatusCode::ACCEPTED, Value::Null, false)),
                // The client's answer to the sampling request: the call can finish.
                None => {
                    if let Some(stream) = this.asking.lock().unwrap().take() {
                        let text = body["result"]["content"]["text"].clone();
                        stream.send(event(json!({"jsonrpc": "2.0", "id": 1, "result": {"content": [{"type": "text", "text": text}]}}))).unwrap();
                    }
                    Ok(json_response(StatusCode::ACCEPTED, Value::Null, false))
                }
            }
        })
    }
}

fn service(target: &FakeTarget, idle: Duration) -> Arc<McpService> {
    let client = Arc::new(target.clone());
    let transport = Transport::StreamableHttp {
        client,
        path: "/mcp".into(),
    };
    service_of("fx", transport, idle, mcp::service::MAX_LOCAL_SESSIONS)
}

/// A stateful, fail-closed service with one target.
fn service_of(
    name: &str,
    transport: Transport,
    idle: Duration,
    max_local: usize,
) -> Arc<McpService> {
    let codec = Arc::new(SessionCodec::random().unwrap());
    sealing_with(codec, name, transport, idle, max_local)
}

/// `service_of`, sealing session ids with `codec` (replicas share one).
fn sealing_with(
    codec: Arc<SessionCodec>,
    name: &str,
    transport: Transport,
    idle: Duration,
    max_local: usize,
) -> Arc<McpService> {
    McpService::new(
        vec![TargetSpec {
            name: Arc::from(name),
            transport,
        }],
        codec,
        Options {
            stateful: true,
            fail_open: false,
            prefix: PrefixMode::Conditional,
            idle_timeout: idle,
            max_local_sessions: max_local,
        },
        "test",
    )
}

fn initialize() -> Message {
    Message::request(
        json!(0),
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}),
    )
}

async fn start_session(service: &Arc<McpService>) -> Arc<Session> {
    let init = initialize();
    let (answer, session) = service.initialize(init, None, None).await;
    assert!(answer.result().is_some(), "{answer:?}");
    session.unwrap()
}

async fn handle(service: &Arc<McpService>, session: &Arc<Session>, message: Message) -> Reply {
    dispatch::handle(service, session, message, &AllowAll, &mut Facts::default()).await
}

#[tokio::test(start_paused = true)]
async fn idle_sessions_end_and_their_upstream_sessions_are_deleted() {
    let target = FakeTarget::default();
    let service = service(&target, Duration::from_secs(60));
    let session = start_session(&service).await;
    assert_eq!(service.session_count(), 1);
    drop(session);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(service.session_count(), 1, "not idle long enough yet");
    tokio::time::sleep(Duration::from_secs(60)).await;
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(service.session_count(), 0);
    let log = target.log.lock().unwrap();
    assert!(
        log.iter()
            .any(|(method, session, _, _)| method == "DELETE" && session.as_deref() == Some("up-1")),
        "{log:?}"
    );
}

#[tokio::test]
async fn a_server_request_reaches_the_client_and_its_answer_the_target() {
    let target = FakeTarget::default();
    let service = service(&target, Duration::from_secs(600));
    let session = start_session(&service).await;
    let call = Message::request(
        json!(1),
        "tools/call",
        json!({"name": "ask", "arguments": {}}),
    );
    let Reply::Stream(mut stream) = handle(&service, &session, call).await else {
        panic!("a streamed reply")
    };
    let asked = stream.recv().await.unwrap();
    assert_eq!(asked.method(), Some("sampling/createMessage"));
    // The id names the target, so ids of several targets cannot collide.
    assert_eq!(asked.id(), Some(&json!("fx:7")));
    let answer = Message::result_for(
        json!("fx:7"),
        json!({"role": "assistant", "content": {"type": "text", "text": "from the client"}}),
    );
    assert!(matches!(
        handle(&service, &session, answer).await,
        Reply::Accepted
    ));
    let result = stream.recv().await.unwrap();
    assert_eq!(result.id(), Some(&json!(1)));
    assert_eq!(
        result.result().unwrap()["content"][0]["text"],
        "from the client"
    );
    let log = target.log.lock().unwrap();
    let delivered = log
        .iter()
        .find(|(_, _, body, _)| body.get("result").is_some() && body["id"] == json!(7));
    assert!(
        delivered.is_some(),
        "the target got its own id back: {log:?}"
    );
}

#[tokio::test]
async fn cancellation_goes_to_the_target_working_on_the_request() {
    let target = FakeTarget::default();
    let service = service(&target, Duration::from_secs(600));
    let session = start_session(&service).await;
    let call = Message::request(
        json!(5),
        "tools/call",
        json!({"name": "slow", "arguments": {}}),
    );
    let (svc, sess) = (service.clone(), session.clone());
    let pending = tokio::spawn(async move { handle(&svc, &sess, call).await });
    for _ in 0..100 {
        if !target.held.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let cancel = Message::notification(
        "notifications/cancelled",
        json!({"requestId": 5, "reason": "user"}),
    );
    assert!(matches!(
        handle(&service, &session, cancel).await,
        Reply::Accepted
    ));
    let log = target.log.lock().unwrap();
    let cancelled = log
        .iter()
        .find(|(_, _, body, _)| body["method"] == "notifications/cancelled");
    let (_, upstream_session, body, authorization) =
        cancelled.expect("the cancellation reached the target");
    assert_eq!(body["params"]["requestId"], 5);
    assert_eq!(upstream_session.as_deref(), Some("up-1"));
    assert_eq!(
        authorization, &None,
        "the client's credential is never sent unless passed through"
    );
    pending.abort();
}

#[tokio::test]
async fn a_passed_through_credential_reaches_the_targets_and_follows_the_client() {
    let target = FakeTarget::default();
    let service = service(&target, Duration::from_secs(600));
    let init = initialize();
    let (_, session) = service
        .initialize(init, Some("Bearer first".parse().unwrap()), None)
        .await;
    let session = session.unwrap();
    session
        .forwarded
        .set(Some("Bearer second".parse().unwrap()));
    handle(
        &service,
        &session,
        Message::request(json!(1), "ping", json!({})),
    )
    .await;
    let log = target.log.lock().unwrap();
    let seen: Vec<Option<&str>> = log.iter().map(|(_, _, _, a)| a.as_deref()).collect();
    assert_eq!(seen, [Some("Bearer first"), Some("Bearer second")]);
}

#[tokio::test]
async fn sessions_that_start_processes_are_capped() {
    // A stdio server in one line of shell: it answers every message as a successful initialize.
    let answer = r#"{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-06-18","capabilities":{},"serverInfo":{"name":"sh","version":"1"}}}"#;
    let script = format!("while read line; do echo '{answer}'; done");
    let transport = Transport::Stdio(mcp::target::stdio::StdioCommand {
        cmd: "sh".into(),
        args: vec!["-c".into(), script],
        env: Default::default(),
    });
    let service = service_of("sh", transport, Duration::from_secs(600), 1);
    let init = initialize;
    let (first, session) = service.initialize(init(), None, None).await;
    assert!(first.result().is_some(), "{first:?}");
    let (second, none) = service.initialize(init(), None, None).await;
    assert!(none.is_none());
    assert_eq!(second.error_code(), Some(-32001));
    let message = second.error().unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("already holds 1 sessions"), "{message}");
    // Ending the session makes room again.
    service.end(session.unwrap().id.as_deref().unwrap()).await;
    let (third, _) = service.initialize(init(), None, None).await;
    assert!(third.result().is_some(), "{third:?}");
}

#[tokio::test]
async fn the_session_cache_is_bounded_and_forgotten_sessions_resume() {
    let target = FakeTarget::default();
    let service = service(&target, Duration::from_secs(600));
    let first = start_session(&service).await;
    let first_id = first.id.clone().unwrap();
    drop(first);
    for _ in 0..mcp::service::MAX_CACHED_SESSIONS {
        start_session(&service).await;
    }
    assert!(service.session_count() <= mcp::service::MAX_CACHED_SESSIONS);
    // The oldest was forgotten here, yet its id brings it back with its upstream session.
    let resumed = service.session(&first_id, None).unwrap();
    let Reply::Message(pong) = handle(
        &service,
        &resumed,
        Message::request(json!(9), "ping", json!({})),
    )
    .await
    else {
        panic!("ping answers with one message")
    };
    assert_eq!(pong.result(), Some(&json!({})), "{pong:?}");
    let log = target.log.lock().unwrap();
    let (_, session, _, _) = log.last().unwrap();
    assert_eq!(
        session.as_deref(),
        Some("up-1"),
        "the resumed session speaks to its upstream session"
    );
}

#[tokio::test]
async fn an_ended_session_id_is_refused_even_where_it_could_resume() {
    let target = FakeTarget::default();
    let service = service(&target, Duration::from_secs(600));
    let session = start_session(&service).await;
    let id = session.id.clone().unwrap();
    drop(session);
    service.end(&id).await;
    assert_eq!(
        service.session(&id, None).err(),
        Some(mcp::service::SessionLookupError::Ended)
    );
}

/// A target that accepts requests and never answers.
struct Stalled;

impl HttpClient for Stalled {
    fn send(&self, _: Request<Bytes>) -> HttpFuture {
        Box::pin(std::future::pending())
    }
}

#[tokio::test(start_paused = true)]
async fn a_target_that_never_answers_initialize_fails_instead_of_hanging() {
    let transport = Transport::StreamableHttp {
        client: Arc::new(Stalled),
        path: "/mcp".into(),
    };
    let service = service_of("stuck", transport, Duration::from_secs(600), 1);
    let init = initialize();
    let (answer, session) = service.initialize(init, None, None).await;
    assert!(session.is_none());
    let message = answer.error().unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains("MCP target `stuck`") && message.contains("within"),
        "{message}"
    );
}

#[tokio::test]
async fn a_session_is_its_starters_alone_here_and_on_other_replicas() {
    let target = FakeTarget::default();
    let codec = Arc::new(SessionCodec::from_bytes(&[7u8; 32]).unwrap());
    let replica_of = |target: &FakeTarget| {
        let transport = Transport::StreamableHttp {
            client: Arc::new(target.clone()),
            path: "/mcp".into(),
        };
        sealing_with(codec.clone(), "fx", transport, Duration::from_secs(600), 8)
    };
    let service = replica_of(&target);
    let alice = Some("jwt https://idp.test alice".to_string());
    let (answer, session) = service.initialize(initialize(), None, alice.clone()).await;
    assert!(answer.result().is_some(), "{answer:?}");
    let id = session.unwrap().id.clone().unwrap();
    assert!(service.session(&id, alice.as_deref()).is_ok());
    for other in [None, Some("jwt https://idp.test bob")] {
        assert_eq!(
            service.session(&id, other).err(),
            Some(SessionLookupError::OtherCaller)
        );
    }
    // A replica with the same key reads the owner from the sealed id.
    let replica = replica_of(&target);
    assert_eq!(
        replica.session(&id, Some("jwt https://idp.test bob")).err(),
        Some(SessionLookupError::OtherCaller)
    );
    assert!(replica.session(&id, alice.as_deref()).is_ok());
}

#[tokio::test(start_paused = true)]
async fn sessions_in_use_are_not_idle() {
    let target = FakeTarget::default();
    let service = service(&target, Duration::from_secs(60));
    let session = start_session(&service).await;
    // An open event stream is use: the session outlives the timeout many times over.
    let stream = mcp::dispatch::listen(&session).await;
    tokio::time::sleep(Duration::from_secs(300)).await;
    assert_eq!(service.session_count(), 1, "the stream keeps it");
    // So is a request in flight.
    drop(stream);
    session.start_request(&json!(42), &[0]);
    tokio::time::sleep(Duration::from_secs(300)).await;
    assert_eq!(service.session_count(), 1, "the request keeps it");
    // Idle time counts from the end of the last use.
    session.end_request(&json!(42));
    drop(session);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(service.session_count(), 1);
    tokio::time::sleep(Duration::from_secs(60)).await;
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(service.session_count(), 0, "idle at last");
}

#[tokio::test]
async fn a_target_that_forgot_the_session_ends_it_and_garbage_is_quoted() {
    let target = FakeTarget::default();
    let service = service(&target, Duration::from_secs(600));
    let session = start_session(&service).await;
    let html = Message::request(json!(1), "tools/call", json!({"name": "html"}));
    let Reply::Message(answer) = handle(&service, &session, html).await else {
        panic!("an error answer")
    };
    let message = answer.error().unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("content type text/html"), "{message}");
    assert!(message.contains("<html>maintenance</html>"), "{message}");
    assert!(
        !message.contains("send one JSON-RPC"),
        "advice for clients: {message}"
    );
    // A 400 about the session id is the target's way of saying it no longer knows it.
    let call = Message::request(json!(2), "tools/call", json!({"name": "after-restart"}));
    assert!(matches!(
        handle(&service, &session, call).await,
        Reply::SessionGone(_)
    ));
}

#[tokio::test]
async fn a_request_the_gateway_gave_up_on_is_cancelled_at_the_target() {
    let target = FakeTarget::default();
    let service = service(&target, Duration::from_secs(600));
    let session = start_session(&service).await;
    let call = Message::request(json!(88), "tools/call", json!({"name": "slow"}));
    let Reply::Message(answer) = handle(&service, &session, call).await else {
        panic!("an error answer")
    };
    assert_eq!(answer.error_code(), Some(-32001));
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    let log = target.log.lock().unwrap();
    let cancel = log
        .iter()
        .find(|(_, _, body, _)| body["method"] == "notifications/cancelled")
        .expect("the target is told to stop");
    assert_eq!(cancel.2["params"]["requestId"], 88);
    assert_eq!(
        cancel.1.as_deref(),
        Some("up-1"),
        "in the request's session"
    );
}
