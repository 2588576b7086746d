//! Legacy SSE targets (protocol 2024-11-05): a GET opens the event stream, whose first
//! `endpoint` event names the URL messages are POSTed to; every answer arrives on the stream.
//! One stream per gateway session, opened with the session's first message.

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::BodyExt;
use llm::sse::SseDecoder;
use tokio::sync::{Mutex, mpsc};

use super::duplex::{DuplexTarget, Failer};
use super::http::read_limited;
use super::{
    ForwardedCredential, HttpClient, MessageStream, ResponseBody, TargetError, parse_message,
};
use crate::jsonrpc::{Kind, Message};

const ERROR_BODY_ECHO: usize = 512;

pub struct SseTarget {
    name: Arc<str>,
    client: Arc<dyn HttpClient>,
    path: String,
    current: Mutex<Option<DuplexTarget>>,
    forwarded: Arc<ForwardedCredential>,
}

impl SseTarget {
    pub fn new(
        name: Arc<str>,
        client: Arc<dyn HttpClient>,
        path: String,
        forwarded: Arc<ForwardedCredential>,
    ) -> Self {
        Self {
            name,
            client,
            path,
            current: Mutex::new(None),
            forwarded,
        }
    }

    pub async fn request(&self, message: Message) -> Result<MessageStream, TargetError> {
        let mut current = self.current.lock().await;
        let connection = self.connected(&mut current).await?;
        connection.request(message).await
    }

    pub async fn deliver(&self, message: Message) -> Result<(), TargetError> {
        let mut current = self.current.lock().await;
        let connection = self.connected(&mut current).await?;
        connection.deliver(message).await
    }

    pub async fn listen(&self) -> Option<MessageStream> {
        let mut current = self.current.lock().await;
        self.connected(&mut current).await.ok()?.listen()
    }

    /// The open stream; a closed one is not reopened, since the server's session ended with it.
    async fn connected<'a>(
        &self,
        current: &'a mut Option<DuplexTarget>,
    ) -> Result<&'a DuplexTarget, TargetError> {
        if current.is_none() {
            *current = Some(self.open().await?);
        }
        match current.as_ref() {
            Some(connection) if !connection.is_closed() => Ok(connection),
            _ => Err(TargetError::SessionGone {
                target: self.name.clone(),
            }),
        }
    }

    async fn open(&self) -> Result<DuplexTarget, TargetError> {
        tokio::time::timeout(super::SETUP_TIMEOUT, self.connect())
            .await
            .map_err(|_| TargetError::Unreachable {
                target: self.name.clone(),
                reason: format!(
                    "no `endpoint` event within {:?} of opening the event stream",
                    super::SETUP_TIMEOUT
                ),
            })?
    }

    async fn connect(&self) -> Result<DuplexTarget, TargetError> {
        let mut request = Request::builder()
            .method(Method::GET)
            .uri(self.path.as_str())
            .header(header::ACCEPT, "text/event-stream")
            .body(Bytes::new())
            .map_err(|e| self.protocol(format!("cannot build the request: {e}")))?;
        self.forwarded.apply(request.headers_mut());
        let response = super::send(&self.name, self.client.as_ref(), request).await?;
        if !response.status().is_success() {
            return Err(super::status_error(&self.name, response).await);
        }
        let mut body = response.into_body();
        let mut decoder = SseDecoder::default();
        let endpoint = loop {
            let Some(frame) = body.frame().await else {
                return Err(self.protocol("the stream ended before the `endpoint` event".into()));
            };
            let frame = frame.map_err(|e| self.protocol(format!("the stream broke: {e}")))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            let endpoint = decoder
                .feed(&data)
                .into_iter()
                .find(|e| e.event.as_deref() == Some("endpoint"));
            if let Some(event) = endpoint {
                break message_path(&event.data)
                    .ok_or_else(|| self.protocol(format!("unusable endpoint `{}`", event.data)))?;
            }
        };
        let (outbox, outgoing) = mpsc::channel(super::STREAM_BUFFER);
        let (inbound_tx, inbound) = mpsc::channel(super::STREAM_BUFFER);
        let reader = tokio::spawn(read_stream(self.name.clone(), body, decoder, inbound_tx));
        let target = DuplexTarget::start(
            self.name.clone(),
            outbox,
            inbound,
            vec![reader.abort_handle()],
        );
        // The poster only fails requests; dropping the target closes its outbox, which ends it.
        tokio::spawn(post_messages(
            self.client.clone(),
            self.forwarded.clone(),
            endpoint,
            outgoing,
            target.failer(),
        ));
        Ok(target)
    }

    fn protocol(&self, reason: String) -> TargetError {
        TargetError::Protocol {
            target: self.name.clone(),
            reason,
        }
    }
}

/// The path and query messages go to; the endpoint may be a path or an absolute URL.
fn message_path(endpoint: &str) -> Option<String> {
    let endpoint = endpoint.trim();
    if endpoint.starts_with('/') {
        return Some(endpoint.to_string());
    }
    let uri: http::Uri = endpoint.parse().ok()?;
    uri.path_and_query().map(|p| p.as_str().to_string())
}

async fn read_stream(
    name: Arc<str>,
    mut body: ResponseBody,
    mut decoder: SseDecoder,
    inbound: mpsc::Sender<Message>,
) {
    while let Some(Ok(frame)) = body.frame().await {
        let Ok(data) = frame.into_data() else {
            continue;
        };
        for event in decoder.feed(&data) {
            if !matches!(event.event.as_deref(), None | Some("message"))
                || event.data.trim().is_empty()
            {
                continue;
            }
            match parse_message(&name, event.data.as_bytes()) {
                Ok(message) => {
                    if inbound.send(message).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(target_name = %name, error = %e, "ignoring an event from an MCP SSE target")
                }
            }
        }
    }
}

async fn post_messages(
    client: Arc<dyn HttpClient>,
    forwarded: Arc<ForwardedCredential>,
    endpoint: String,
    mut outgoing: mpsc::Receiver<Message>,
    failer: Failer,
) {
    while let Some(message) = outgoing.recv().await {
        let request = Request::builder()
            .method(Method::POST)
            .uri(endpoint.as_str())
            .header(header::CONTENT_TYPE, "application/json")
            .body(Bytes::from(message.to_json()));
        let sent = match request {
            Err(e) => Err(format!("cannot build the request: {e}")),
            Ok(mut request) => {
                forwarded.apply(request.headers_mut());
                Ok(client.send(request).await)
            }
        };
        let failure = match sent {
            Err(reason) => Some(reason),
            Ok(sent) => match sent {
                Err(reason) => Some(reason),
                Ok(response) if response.status().is_success() => {
                    let _ = read_limited(response.into_body(), ERROR_BODY_ECHO).await;
                    None
                }
                Ok(response) => Some(format!("the message POST got HTTP {}", response.status())),
            },
        };
        if let Some(reason) = failure {
            let error = TargetError::Unreachable {
                target: failer.name().clone(),
                reason,
            };
            match (message.kind(), message.id()) {
                (Kind::Request, Some(id)) => failer.fail(id, error),
                _ => tracing::warn!(error = %error, "a message to an MCP SSE target was lost"),
            }
        }
    }
}
