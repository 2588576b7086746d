//! A Streamable HTTP target: every message is a POST; the answer is JSON or an SSE stream; the
//! standalone stream is a GET; the session ends with a DELETE.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use llm::sse::SseDecoder;
use tokio::sync::mpsc;

use super::{
    ForwardedCredential, HttpClient, MessageStream, ResponseBody, STREAM_BUFFER, TargetError,
    parse_message,
};
use crate::jsonrpc::{Kind, Message, id_key};

pub const SESSION_HEADER: &str = "mcp-session-id";
pub const PROTOCOL_HEADER: &str = "mcp-protocol-version";

/// The most of a JSON answer read into memory.
const MAX_JSON_BODY: usize = 16 * 1024 * 1024;

pub struct HttpTarget {
    name: Arc<str>,
    client: Arc<dyn HttpClient>,
    path: String,
    session: Mutex<Option<String>>,
    protocol: Mutex<Option<String>>,
    forwarded: Arc<ForwardedCredential>,
}

impl HttpTarget {
    /// A target at `path`; `session` resumes an upstream session issued earlier.
    pub fn new(
        name: Arc<str>,
        client: Arc<dyn HttpClient>,
        path: String,
        session: Option<String>,
        protocol: Option<String>,
        forwarded: Arc<ForwardedCredential>,
    ) -> Self {
        Self {
            name,
            client,
            path,
            session: Mutex::new(session),
            protocol: Mutex::new(protocol),
            forwarded,
        }
    }

    pub fn session_id(&self) -> Option<String> {
        lock(&self.session).clone()
    }

    /// The version later requests announce in `MCP-Protocol-Version`.
    pub fn set_protocol(&self, version: &str) {
        *lock(&self.protocol) = Some(version.to_string());
    }

    fn build(&self, method: Method, body: Bytes) -> Result<Request<Bytes>, TargetError> {
        let mut request = Request::builder().method(method).uri(self.path.as_str());
        request = match body.is_empty() {
            true => request.header(header::ACCEPT, "text/event-stream"),
            false => request
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::ACCEPT, "application/json, text/event-stream"),
        };
        if let Some(session) = lock(&self.session).as_deref() {
            request = request.header(SESSION_HEADER, session);
        }
        if let Some(version) = lock(&self.protocol).as_deref() {
            request = request.header(PROTOCOL_HEADER, version);
        }
        let mut request = request.body(body).map_err(|e| TargetError::Protocol {
            target: self.name.clone(),
            reason: format!("cannot build the request: {e}"),
        })?;
        self.forwarded.apply(request.headers_mut());
        Ok(request)
    }

    async fn exchange(
        &self,
        method: Method,
        body: Bytes,
    ) -> Result<http::Response<ResponseBody>, TargetError> {
        let had_session = lock(&self.session).is_some();
        let request = self.build(method, body)?;
        let response =
            self.client
                .send(request)
                .await
                .map_err(|reason| TargetError::Unreachable {
                    target: self.name.clone(),
                    reason,
                })?;
        if let Some(id) = response
            .headers()
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
        {
            *lock(&self.session) = Some(id.to_string());
        }
        let status = response.status();
        if status == StatusCode::NOT_FOUND && had_session {
            return Err(TargetError::SessionGone {
                target: self.name.clone(),
            });
        }
        if !status.is_success() {
            let error = super::status_error(&self.name, response).await;
            // Some servers (the TypeScript SDK's among them) answer 400 "no valid session
            // ID" rather than 404 for a session they no longer know, after a restart: it
            // is the same news, and the client must start anew either way.
            if let TargetError::Status {
                status: 400, body, ..
            } = &error
                && had_session
                && body.to_ascii_lowercase().contains("session")
            {
                return Err(TargetError::SessionGone {
                    target: self.name.clone(),
                });
            }
            return Err(error);
        }
        Ok(response)
    }

    pub async fn request(&self, message: Message) -> Result<MessageStream, TargetError> {
        let id = message.id().map(id_key);
        let response = self
            .exchange(Method::POST, Bytes::from(message.to_json()))
            .await?;
        if response.status() == StatusCode::ACCEPTED {
            return Err(TargetError::Protocol {
                target: self.name.clone(),
                reason: "answered a request with 202 Accepted and no response".into(),
            });
        }
        if is_event_stream(&response) {
            return Ok(self.read_messages(response, id));
        }
        // A JSON answer is read here: no task is needed for a body that is already complete.
        let content_type = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("none")
            .to_string();
        let messages = json_messages(&self.name, &content_type, response.into_body()).await?;
        let (tx, rx) = mpsc::channel(messages.len().max(1));
        for message in messages {
            let _ = tx.try_send(Ok(message));
        }
        Ok(rx)
    }

    pub async fn deliver(&self, message: Message) -> Result<(), TargetError> {
        let response = self
            .exchange(Method::POST, Bytes::from(message.to_json()))
            .await?;
        // 202 is the rule; a body, if any, is drained so the connection can be reused.
        let _ = read_limited(response.into_body(), MAX_JSON_BODY).await;
        Ok(())
    }

    pub async fn listen(&self) -> Option<MessageStream> {
        lock(&self.session).as_ref()?;
        match self.exchange(Method::GET, Bytes::new()).await {
            Ok(response) if is_event_stream(&response) => Some(self.read_messages(response, None)),
            // 405: the target has no standalone stream, which the protocol allows.
            Ok(_) | Err(_) => None,
        }
    }

    pub async fn close(&self) {
        if lock(&self.session).is_none() {
            return;
        }
        if let Err(e) = self.exchange(Method::DELETE, Bytes::new()).await {
            tracing::debug!(target_name = %self.name, error = %e, "ending the upstream MCP session failed");
        }
    }

    /// Turns an SSE answer into messages; an answer to a request ends with the response
    /// carrying `id`.
    fn read_messages(
        &self,
        response: http::Response<ResponseBody>,
        id: Option<String>,
    ) -> MessageStream {
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let name = self.name.clone();
        let body = response.into_body();
        tokio::spawn(async move {
            if let Err(error) = relay_events(&name, body, id.as_deref(), &tx).await {
                let _ = tx.send(Err(error)).await;
            }
        });
        rx
    }
}

/// The messages of a JSON answer (one, or a batch).
async fn json_messages(
    name: &Arc<str>,
    content_type: &str,
    body: ResponseBody,
) -> Result<Vec<Message>, TargetError> {
    let bytes = read_limited(body, MAX_JSON_BODY).await;
    crate::jsonrpc::parse_body(&bytes).map_err(|e| {
        let start = String::from_utf8_lossy(&bytes[..bytes.len().min(120)]).into_owned();
        TargetError::Protocol {
            target: name.clone(),
            reason: format!(
                "answered with something other than JSON-RPC (content type {content_type}: {}): {start:?}",
                e.message
                    .split(';')
                    .next()
                    .unwrap_or_default()
            ),
        }
    })
}

async fn relay_events(
    name: &Arc<str>,
    mut body: ResponseBody,
    id: Option<&str>,
    tx: &mpsc::Sender<Result<Message, TargetError>>,
) -> Result<(), TargetError> {
    let mut decoder = SseDecoder::default();
    loop {
        // A quiet stream is dropped as soon as its reader goes away, not at its next event.
        let frame = tokio::select! {
            _ = tx.closed() => return Ok(()),
            frame = body.frame() => frame,
        };
        let Some(frame) = frame else { break };
        let frame = frame.map_err(|e| TargetError::Unreachable {
            target: name.clone(),
            reason: format!("the event stream broke: {e}"),
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        for event in decoder.feed(&data) {
            // Servers that support resumption send events with no data to prime the stream.
            if event.data.trim().is_empty() {
                continue;
            }
            let message = parse_message(name, event.data.as_bytes())?;
            let done = message.kind() == Kind::Response
                && id.is_some_and(|id| message.id().map(id_key).as_deref() == Some(id));
            if tx.send(Ok(message)).await.is_err() || done {
                return Ok(());
            }
        }
    }
    match id {
        Some(_) => Err(TargetError::Closed {
            target: name.clone(),
        }),
        None => Ok(()),
    }
}

fn is_event_stream(response: &http::Response<ResponseBody>) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"))
}

/// Reads up to `limit` bytes of a body (the rest is dropped).
pub(crate) async fn read_limited(mut body: ResponseBody, limit: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(Ok(frame)) = body.frame().await {
        if let Ok(data) = frame.into_data() {
            let room = limit.saturating_sub(out.len());
            out.extend_from_slice(&data[..data.len().min(room)]);
            if out.len() >= limit {
                break;
            }
        }
    }
    out
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
