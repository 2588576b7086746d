//! `bench-upstream PORT`: a deliberately trivial HTTP/1.1 server on 127.0.0.1:PORT used as the
//! upstream of the benchmark. The request body is always read in full first. Then:
//!
//! - `POST /v1/chat/completions` answers a small OpenAI `chat.completion` (with `usage`), or,
//!   when the body asks for `"stream":true`, a short SSE stream of `chat.completion.chunk`
//!   events, a usage chunk and `data: [DONE]`;
//! - `POST /v1/messages` answers a small Anthropic `message` (with `usage`), or, for
//!   `"stream":true`, a short Anthropic event stream;
//! - `POST /mcp` is a minimal Streamable HTTP MCP server: `initialize` answers with a
//!   session id, notifications get `202`, any other request gets a one-line `tools/call`
//!   result for id 1 (the benchmark sends id 1);
//! - every other request gets `200 OK` with the same 64-byte JSON body.
//!
//! Responses are fixed byte strings over a kept-alive connection, so the upstream costs as
//! little as possible and the proxy dominates.

use std::convert::Infallible;
use std::error::Error;
use std::net::{Ipv4Addr, SocketAddr};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Exactly 64 bytes.
const BODY: &[u8; 64] =
    b"{\"ok\":true,\"service\":\"bench-upstream\",\"pad\":\"xxxxxxxxxxxxxxxx\"}\n";

const OPENAI_CHAT: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion","created":1755000000,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from bench-upstream.","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":8,"completion_tokens":5,"total_tokens":13}}"#;

const OPENAI_CHAT_STREAM: &str = concat!(
    r#"data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1755000000,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    "\n\n",
    r#"data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1755000000,"model":"m","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    "\n\n",
    r#"data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1755000000,"model":"m","choices":[{"index":0,"delta":{"content":" from"},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    "\n\n",
    r#"data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1755000000,"model":"m","choices":[{"index":0,"delta":{"content":" bench."},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    "\n\n",
    r#"data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1755000000,"model":"m","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}"#,
    "\n\n",
    r#"data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1755000000,"model":"m","choices":[],"usage":{"prompt_tokens":8,"completion_tokens":3,"total_tokens":11}}"#,
    "\n\n",
    "data: [DONE]\n\n",
);

const MCP_INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"bench-upstream","version":"1"}}}"#;

const MCP_TOOL_RESULT: &str = r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"ok"}],"isError":false}}"#;

fn contains(body: &[u8], needle: &[u8]) -> bool {
    body.windows(needle.len()).any(|w| w == needle)
}

/// The MCP endpoint: just enough of the protocol for a session and tool calls.
fn mcp(body: &[u8]) -> Response<Full<Bytes>> {
    if contains(body, b"\"method\":\"notifications/") {
        return respond(StatusCode::ACCEPTED, "application/json", Bytes::new());
    }
    if contains(body, b"\"method\":\"initialize\"") {
        let mut response = respond(
            StatusCode::OK,
            "application/json",
            Bytes::from_static(MCP_INITIALIZE.as_bytes()),
        );
        response
            .headers_mut()
            .insert("mcp-session-id", HeaderValue::from_static("bench-session"));
        return response;
    }
    respond(
        StatusCode::OK,
        "application/json",
        Bytes::from_static(MCP_TOOL_RESULT.as_bytes()),
    )
}

const ANTHROPIC_MESSAGE: &str = r#"{"id":"msg_bench","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"Hello from bench-upstream."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":8,"output_tokens":5}}"#;

const ANTHROPIC_STREAM: &str = concat!(
    "event: message_start\n",
    r#"data: {"type":"message_start","message":{"id":"msg_bench","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":8,"output_tokens":1}}}"#,
    "\n\n",
    "event: content_block_start\n",
    r#"data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
    "\n\n",
    "event: content_block_delta\n",
    r#"data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}"#,
    "\n\n",
    "event: content_block_delta\n",
    r#"data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" from"}}"#,
    "\n\n",
    "event: content_block_delta\n",
    r#"data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" bench."}}"#,
    "\n\n",
    "event: content_block_stop\n",
    r#"data: {"type":"content_block_stop","index":0}"#,
    "\n\n",
    "event: message_delta\n",
    r#"data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":3}}"#,
    "\n\n",
    "event: message_stop\n",
    r#"data: {"type":"message_stop"}"#,
    "\n\n",
);

/// Whether a JSON request body asks for streaming (`"stream":true`, optionally with a space).
fn wants_stream(body: &[u8]) -> bool {
    const NEEDLES: [&[u8]; 2] = [b"\"stream\":true", b"\"stream\": true"];
    NEEDLES
        .iter()
        .any(|needle| body.windows(needle.len()).any(|w| w == *needle))
}

fn respond(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

async fn handle(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    // Always read the whole request before answering, like a real provider.
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => {
            eprintln!("reading request body failed: {error}");
            return Ok(respond(
                StatusCode::BAD_REQUEST,
                "text/plain",
                Bytes::from_static(b"bad request body\n"),
            ));
        }
    };
    let (content_type, payload): (&'static str, &'static str) =
        match (&parts.method, parts.uri.path()) {
            (&Method::POST, "/v1/chat/completions") if wants_stream(&body) => {
                ("text/event-stream", OPENAI_CHAT_STREAM)
            }
            (&Method::POST, "/v1/chat/completions") => ("application/json", OPENAI_CHAT),
            (&Method::POST, "/v1/messages") if wants_stream(&body) => {
                ("text/event-stream", ANTHROPIC_STREAM)
            }
            (&Method::POST, "/v1/messages") => ("application/json", ANTHROPIC_MESSAGE),
            (&Method::POST, "/mcp") => return Ok(mcp(&body)),
            _ => {
                return Ok(respond(
                    StatusCode::OK,
                    "application/json",
                    Bytes::from_static(BODY),
                ));
            }
        };
    Ok(respond(
        StatusCode::OK,
        content_type,
        Bytes::from_static(payload.as_bytes()),
    ))
}

fn main() -> Result<(), Box<dyn Error>> {
    let port: u16 = std::env::args()
        .nth(1)
        .ok_or("usage: bench-upstream PORT")?
        .parse()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(SocketAddr::from((Ipv4Addr::LOCALHOST, port))))
}

async fn serve(addr: SocketAddr) -> Result<(), Box<dyn Error>> {
    let listener = TcpListener::bind(addr).await?;
    eprintln!("bench-upstream listening on {addr}");
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Transient (e.g. EMFILE): report and keep serving.
                eprintln!("accept failed: {error}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        // Best effort: small responses should not wait for Nagle.
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let connection = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service_fn(handle));
            if let Err(error) = connection.await
                && !error.is_incomplete_message()
            {
                eprintln!("connection error: {error}");
            }
        });
    }
}
