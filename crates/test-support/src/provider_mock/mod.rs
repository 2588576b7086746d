//! Mock LLM providers (OpenAI, Anthropic, Azure OpenAI, Gemini, Vertex AI, Bedrock) that speak the real wire formats: they answer
//! with the provider samples kept beside the project (checked against the official SDKs'
//! types), check the key, headers and body they receive, and record every request.
//!
//! Models with special meaning: `missing-model` answers the provider's "no such model"
//! error; `rate-limited` answers 429 (with `Retry-After: 30` where the provider sends it);
//! `break-stream` sends two pieces of the stream and then breaks the connection;
//! `cut-stream` sends the first half of the stream and then ends it cleanly, without the
//! rest (no finish reason, no end marker);
//! `garbled-answer` answers 200 with an HTML page, as a misbehaving intermediary would;
//! `not-an-answer` answers 200 with JSON of another API (a model list); `error-page`
//! answers 500 with an HTML page instead of the provider's error JSON.
//!
//! Anthropic requests with thinking on are held to Anthropic's thinking rules and answered
//! with the thinking samples kept in this repository (`anthropic.rs`, `samples/`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

mod anthropic;
mod bedrock;
mod bedrock_thinking;
mod google;

pub use bedrock::ACCESS_KEY_ID as BEDROCK_ACCESS_KEY_ID;
pub use google::access_token as google_access_token;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub(crate) type MockBody = http_body_util::combinators::BoxBody<Bytes, BoxError>;

/// The provider samples directory (shared by the project, beside the repository).
pub fn fixture(path: &str) -> Vec<u8> {
    let full = format!(
        "{}/../../../shared/fixtures/providers/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&full).unwrap_or_else(|e| panic!("fixture {full}: {e}"))
}

/// A sample kept in this repository (`samples/`), for what the shared samples lack.
pub fn sample(path: &str) -> Vec<u8> {
    let full = format!("{}/samples/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("sample {full}: {e}"))
}

/// Which provider a mock imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    OpenAi,
    Anthropic,
    /// Azure OpenAI: `api-key` header, deployments in the path, a dated `api-version`.
    Azure,
    /// Gemini API: `x-goog-api-key`, `models/{model}:generateContent`.
    Gemini,
    /// Vertex AI: OAuth tokens from its own `/token` endpoint, Gemini and Claude models.
    Vertex,
    /// Bedrock Converse: SigV4-signed requests, binary event streams.
    Bedrock,
}

/// One request as the provider saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: http::Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
}

pub struct ProviderMock {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ProviderMock {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ProviderMock {
    /// Starts the mock; `key` is the API key it requires (OpenAI: `Authorization: Bearer
    /// <key>`, Anthropic: `x-api-key: <key>`).
    pub async fn start(flavor: Flavor, key: Option<&str>) -> Self {
        Self::start_on(flavor, "127.0.0.1:0", key).await
    }

    /// Starts the mock on a given address (the `provider-mock` binary uses it).
    pub async fn start_on(flavor: Flavor, addr: &str, key: Option<&str>) -> Self {
        let listener = TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let (task_received, key) = (received.clone(), key.map(str::to_string));
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (received, key) = (task_received.clone(), key.clone());
                tokio::spawn(async move {
                    let service =
                        service_fn(move |r| handle(flavor, r, received.clone(), key.clone()));
                    let _ = Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            received,
            task,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

pub(crate) fn json(status: StatusCode, body: Vec<u8>) -> Response<MockBody> {
    let mut r = Response::new(
        http_body_util::Full::new(Bytes::from(body))
            .map_err(|n| match n {})
            .boxed(),
    );
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        http::HeaderValue::from_static("application/json"),
    );
    r
}

async fn handle(
    flavor: Flavor,
    request: Request<Incoming>,
    received: Arc<Mutex<Vec<Received>>>,
    key: Option<String>,
) -> Result<Response<MockBody>, Infallible> {
    let (parts, body) = request.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    received.lock().unwrap().push(Received {
        method: parts.method.clone(),
        path: parts.uri.path().to_string(),
        headers: parts.headers.clone(),
        body: value.clone(),
    });
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let route = (parts.method.as_str(), parts.uri.path());
    Ok(match flavor {
        Flavor::Gemini => google::gemini(&parts, &value, key.as_deref()),
        Flavor::Vertex => google::vertex(&parts, &bytes, &value, key.as_deref()),
        Flavor::Bedrock => bedrock::converse(&parts, &value, key.as_deref()),
        Flavor::OpenAi => {
            if let Some(key) = key
                && header("authorization") != Some(format!("Bearer {key}"))
            {
                return Ok(json(
                    StatusCode::UNAUTHORIZED,
                    fixture("openai/error_401_invalid_api_key.json"),
                ));
            }
            match route {
                ("GET", "/v1/models") => json(StatusCode::OK, fixture("openai/models_list.json")),
                ("POST", "/v1/chat/completions") => chat(&value, &OPENAI),
                _ => json(StatusCode::NOT_FOUND, br#"{"error":{"message":"Invalid URL","type":"invalid_request_error","param":null,"code":null}}"#.to_vec()),
            }
        }
        Flavor::Azure => {
            if parts.uri.path().ends_with("/oauth2/v2.0/token") {
                return Ok(entra_token(&bytes));
            }
            let entra = header("authorization") == Some(format!("Bearer {ENTRA_TOKEN}"));
            if let Some(key) = key
                && header("api-key") != Some(key)
                && !entra
            {
                return Ok(json(
                    StatusCode::UNAUTHORIZED,
                    fixture("azure/error_401_invalid_key.json"),
                ));
            }
            let versioned = parts
                .uri
                .query()
                .is_some_and(|q| q.split('&').any(|kv| kv.starts_with("api-version=20")));
            let path = parts.uri.path();
            match path
                .strip_prefix("/openai/deployments/")
                .and_then(|rest| rest.split_once('/'))
            {
                Some((_, "chat/completions"))
                    if versioned && parts.method == http::Method::POST =>
                {
                    chat(&value, &AZURE)
                }
                Some((_, _)) if !versioned => json(
                    StatusCode::NOT_FOUND,
                    br#"{"error":{"code":"404","message":"Resource not found"}}"#.to_vec(),
                ),
                _ => json(
                    StatusCode::NOT_FOUND,
                    fixture("azure/error_404_deployment_not_found.json"),
                ),
            }
        }
        Flavor::Anthropic => {
            if let Some(key) = key
                && header("x-api-key") != Some(key)
            {
                return Ok(json(
                    StatusCode::UNAUTHORIZED,
                    fixture("anthropic/error_401_authentication.json"),
                ));
            }
            if header("anthropic-version").is_none() {
                return Ok(json(StatusCode::BAD_REQUEST, br#"{"type":"error","error":{"type":"invalid_request_error","message":"anthropic-version: header is required"}}"#.to_vec()));
            }
            match route {
                ("POST", "/v1/messages") => {
                    anthropic::thinking(&value).unwrap_or_else(|| chat(&value, &ANTHROPIC))
                }
                _ => json(
                    StatusCode::NOT_FOUND,
                    br#"{"type":"error","error":{"type":"not_found_error","message":"Not found"}}"#
                        .to_vec(),
                ),
            }
        }
    })
}

/// The token the mock's Entra ID endpoint issues, and the client secret it requires.
pub const ENTRA_TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.entra-mock-token";
pub const ENTRA_CLIENT_SECRET: &str = "entra-client-secret";

/// Entra ID's client-credentials grant, as Azure OpenAI callers use it.
fn entra_token(form: &[u8]) -> Response<MockBody> {
    let form = String::from_utf8_lossy(form);
    let field = |name: &str| {
        form.split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .map(str::to_string)
    };
    let valid = field("grant_type").as_deref() == Some("client_credentials")
        && field("client_secret").as_deref() == Some(ENTRA_CLIENT_SECRET)
        && field("client_id").is_some()
        && field("scope").as_deref()
            == Some("https%3A%2F%2Fcognitiveservices.azure.com%2F.default");
    if !valid {
        let body = br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}"#;
        return json(StatusCode::UNAUTHORIZED, body.to_vec());
    }
    let body = format!(
        r#"{{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"{ENTRA_TOKEN}"}}"#
    );
    json(StatusCode::OK, body.into_bytes())
}

/// The samples one provider answers with.
struct Samples {
    response: &'static str,
    stream: &'static str,
    /// Answers to requests that offer `tools` (OpenAI streams tool calls in pieces; the
    /// Anthropic sample stream already uses a tool).
    tool_response: &'static str,
    tool_stream: &'static str,
    not_found: &'static str,
}

const OPENAI: Samples = Samples {
    response: "openai/chat_response.json",
    stream: "openai/chat_stream.sse",
    tool_response: "openai/chat_response_tool_calls.json",
    tool_stream: "openai/chat_stream_tool_call.sse",
    not_found: "openai/error_404_model_not_found.json",
};

const AZURE: Samples = Samples {
    response: "azure/chat_response.json",
    stream: "azure/chat_stream.sse",
    tool_response: "azure/chat_response.json",
    tool_stream: "azure/chat_stream.sse",
    not_found: "azure/error_404_deployment_not_found.json",
};

const ANTHROPIC: Samples = Samples {
    response: "anthropic/messages_response.json",
    stream: "anthropic/messages_stream.sse",
    tool_response: "anthropic/messages_response_tool_use.json",
    tool_stream: "anthropic/messages_stream.sse",
    not_found: "anthropic/error_404_not_found.json",
};

/// A chat answer from the samples: the response, the stream, or the provider's 404.
fn chat(body: &Value, samples: &Samples) -> Response<MockBody> {
    let tools = body["tools"].as_array().is_some_and(|t| !t.is_empty());
    let (response, stream, not_found) = match tools {
        true => (
            samples.tool_response,
            samples.tool_stream,
            samples.not_found,
        ),
        false => (samples.response, samples.stream, samples.not_found),
    };
    let model = body["model"].as_str().unwrap_or_default();
    if body["messages"].as_array().is_none_or(|m| m.is_empty()) || model.is_empty() {
        return json(StatusCode::BAD_REQUEST, br#"{"error":{"message":"missing model or messages","type":"invalid_request_error","param":null,"code":null}}"#.to_vec());
    }
    if model == "missing-model" {
        return json(StatusCode::NOT_FOUND, fixture(not_found));
    }
    if model == "garbled-answer" {
        return html_page(StatusCode::OK, "502 Bad Gateway");
    }
    if model == "error-page" {
        return html_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "500 Internal Server Error",
        );
    }
    if model == "not-an-answer" {
        return json(StatusCode::OK, br#"{"object":"list","data":[]}"#.to_vec());
    }
    if model == "rate-limited" {
        let mut r = json(
            StatusCode::TOO_MANY_REQUESTS,
            fixture("openai/error_429_rate_limit.json"),
        );
        r.headers_mut()
            .insert("retry-after", http::HeaderValue::from_static("30"));
        return r;
    }
    if body["stream"].as_bool() != Some(true) {
        return json(StatusCode::OK, fixture(response));
    }
    streamed(sse_events(&fixture(stream)), model, "text/event-stream")
}

/// An HTML page where the provider's JSON belongs, as a misbehaving intermediary sends.
fn html_page(status: StatusCode, text: &str) -> Response<MockBody> {
    let mut r = json(
        status,
        format!("<html><body>{text}</body></html>").into_bytes(),
    );
    r.headers_mut()
        .insert("content-type", http::HeaderValue::from_static("text/html"));
    r
}

/// The events of an SSE sample, each with its blank line (`\n\n`, or `\r\n\r\n` as
/// Google sends them), kept byte for byte.
fn sse_events(sample: &[u8]) -> Vec<Bytes> {
    let mut events = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < sample.len() {
        let end = if sample[i..].starts_with(b"\r\n\r\n") {
            Some(i + 4)
        } else if sample[i..].starts_with(b"\n\n") {
            Some(i + 2)
        } else {
            None
        };
        match end {
            Some(end) => {
                events.push(Bytes::copy_from_slice(&sample[start..end]));
                start = end;
                i = end;
            }
            None => i += 1,
        }
    }
    if start < sample.len() && !sample[start..].iter().all(u8::is_ascii_whitespace) {
        events.push(Bytes::copy_from_slice(&sample[start..]));
    }
    events
}

/// A streamed answer, a piece at a time as a provider sends it. The model decides how it
/// ends: `break-stream` cuts the connection after two pieces, `cut-stream` ends the body
/// cleanly halfway, `stall-stream` sends half and then nothing until the gateway hangs up.
fn streamed(pieces: Vec<Bytes>, model: &str, content_type: &'static str) -> Response<MockBody> {
    let breaks = model == "break-stream";
    let stalls = model == "stall-stream";
    let cut_at = match model {
        "cut-stream" | "stall-stream" => pieces.len() / 2,
        _ => pieces.len(),
    };
    let (tx, rx) = mpsc::channel::<Result<Bytes, BoxError>>(4);
    tokio::spawn(async move {
        if stalls {
            for piece in pieces.into_iter().take(cut_at) {
                if tx.send(Ok(piece)).await.is_err() {
                    return;
                }
            }
            tx.closed().await;
            return;
        }
        for (i, piece) in pieces.into_iter().take(cut_at).enumerate() {
            if breaks && i == 2 {
                let _ = tx.send(Err("provider connection lost".into())).await;
                return;
            }
            if tx.send(Ok(piece)).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    let mut r = Response::new(ChannelStream { rx }.boxed());
    r.headers_mut()
        .insert("content-type", http::HeaderValue::from_static(content_type));
    r
}

struct ChannelStream {
    rx: mpsc::Receiver<Result<Bytes, BoxError>>,
}

impl http_body::Body for ChannelStream {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        self.rx
            .poll_recv(cx)
            .map(|item| item.map(|r| r.map(http_body::Frame::data)))
    }
}
