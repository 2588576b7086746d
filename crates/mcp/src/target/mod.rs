//! Connections to MCP servers ("targets"): Streamable HTTP, legacy SSE and stdio.
//!
//! Every target answers a request with a stream of messages that ends with the response;
//! server messages not tied to a request (the standalone stream) are read with `listen`.

pub mod duplex;
pub mod http;
pub mod sse;
pub mod stdio;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::jsonrpc::Message;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type ResponseBody = http_body_util::combinators::BoxBody<Bytes, BoxError>;
pub type HttpFuture =
    Pin<Box<dyn Future<Output = Result<::http::Response<ResponseBody>, String>> + Send>>;

/// Sends HTTP requests to one target. The proxy implements it with its connection pools, so
/// targets get the same TLS, timeouts and credentials as every other backend. Requests carry
/// only a path and query; the implementation adds scheme, authority, Host and credentials.
pub trait HttpClient: Send + Sync {
    fn send(&self, request: ::http::Request<Bytes>) -> HttpFuture;
}

/// The client's own `Authorization`, sent on to the session's targets when the backend's
/// credential is `passthrough` (the proxy sets it; otherwise it stays empty). Shared by the
/// targets of one session and updated with every client request.
#[derive(Debug, Default)]
pub struct ForwardedCredential(std::sync::Mutex<Option<::http::HeaderValue>>);

impl ForwardedCredential {
    pub fn new(value: Option<::http::HeaderValue>) -> Arc<Self> {
        Arc::new(Self(std::sync::Mutex::new(value)))
    }

    pub fn set(&self, value: Option<::http::HeaderValue>) {
        *http::lock(&self.0) = value;
    }

    /// Adds the credential, if any, to a request going to a target.
    pub fn apply(&self, headers: &mut ::http::HeaderMap) {
        if let Some(value) = http::lock(&self.0).clone() {
            headers.insert(::http::header::AUTHORIZATION, value);
        }
    }
}

/// Messages from a target, ending with the response to the request (or an error).
pub type MessageStream = mpsc::Receiver<Result<Message, TargetError>>;

/// Why a target could not serve a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("MCP target `{target}` could not be reached: {reason}")]
    Unreachable { target: Arc<str>, reason: String },
    #[error("MCP target `{target}` answered HTTP {status}: {body}")]
    Status {
        target: Arc<str>,
        status: u16,
        body: String,
    },
    #[error("MCP target `{target}` no longer knows this session")]
    SessionGone { target: Arc<str> },
    #[error("MCP target `{target}` closed the connection before answering")]
    Closed { target: Arc<str> },
    #[error("MCP target `{target}` sent something that is not MCP: {reason}")]
    Protocol { target: Arc<str>, reason: String },
}

/// How an HTTP client reports that a target took longer than the backend's request
/// timeout to answer: the request may be running there still.
pub const TIMED_OUT: &str = "no response headers within";

/// How long a target may take to set a session up (answer `initialize`, send the SSE
/// `endpoint` event); a target that accepts connections and then stalls fails instead of
/// hanging the client.
pub const SETUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// How many messages of one reply may wait for the client before the target is slowed down.
pub(crate) const STREAM_BUFFER: usize = 64;

/// One target connection of a session.
pub enum Upstream {
    Http(http::HttpTarget),
    Stdio(stdio::StdioTarget),
    Sse(sse::SseTarget),
}

impl Upstream {
    /// Sends a request; the stream carries what the target sends about it, then the response.
    pub async fn request(&self, message: Message) -> Result<MessageStream, TargetError> {
        match self {
            Upstream::Http(t) => t.request(message).await,
            Upstream::Stdio(t) => t.request(message).await,
            Upstream::Sse(t) => t.request(message).await,
        }
    }

    /// Sends a notification or a response to a server request.
    pub async fn deliver(&self, message: Message) -> Result<(), TargetError> {
        match self {
            Upstream::Http(t) => t.deliver(message).await,
            Upstream::Stdio(t) => t.deliver(message).await,
            Upstream::Sse(t) => t.deliver(message).await,
        }
    }

    /// The target's messages that belong to no request (None: it has no such stream).
    pub async fn listen(&self) -> Option<MessageStream> {
        match self {
            Upstream::Http(t) => t.listen().await,
            Upstream::Stdio(t) => t.listen().await,
            Upstream::Sse(t) => t.listen().await,
        }
    }

    /// The upstream session id, for the gateway's own session id.
    pub fn session_id(&self) -> Option<String> {
        match self {
            Upstream::Http(t) => t.session_id(),
            Upstream::Stdio(_) | Upstream::Sse(_) => None,
        }
    }

    /// Whether only this process can hold the connection (a child process, an SSE stream).
    pub fn is_local(&self) -> bool {
        !matches!(self, Upstream::Http(_))
    }

    /// Ends the upstream session (HTTP `DELETE`; a child process is stopped when dropped).
    pub async fn close(&self) {
        if let Upstream::Http(t) = self {
            t.close().await;
        }
    }
}

/// Sends a request to a target; a transport failure names the target.
pub(crate) async fn send(
    name: &Arc<str>,
    client: &dyn HttpClient,
    request: ::http::Request<Bytes>,
) -> Result<::http::Response<ResponseBody>, TargetError> {
    client
        .send(request)
        .await
        .map_err(|reason| TargetError::Unreachable {
            target: name.clone(),
            reason,
        })
}

/// How much of an error answer is kept for the message to the client.
const ERROR_BODY_ECHO: usize = 512;

/// The error for a non-success answer, with the start of its body.
pub(crate) async fn status_error(
    name: &Arc<str>,
    response: ::http::Response<ResponseBody>,
) -> TargetError {
    let status = response.status().as_u16();
    let body = http::read_limited(response.into_body(), ERROR_BODY_ECHO).await;
    TargetError::Status {
        target: name.clone(),
        status,
        body: String::from_utf8_lossy(&body).trim().to_string(),
    }
}

/// Reads one JSON-RPC message sent by a target.
pub(crate) fn parse_message(target: &Arc<str>, data: &[u8]) -> Result<Message, TargetError> {
    let value = serde_json::from_slice(data).map_err(|e| TargetError::Protocol {
        target: target.clone(),
        reason: format!("invalid JSON: {e}"),
    })?;
    Message::from_value(value).map_err(|e| TargetError::Protocol {
        target: target.clone(),
        reason: e.message,
    })
}
