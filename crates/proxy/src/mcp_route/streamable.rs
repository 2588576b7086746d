//! The Streamable HTTP transport, gateway side.

use std::sync::Arc;

use http::header::{self, HeaderValue};
use http::{Method, Response, StatusCode};
use mcp::dispatch::{self, Facts, Reply};
use mcp::jsonrpc::{self, Kind, Message, code};
use mcp::service::McpService;
use mcp::session::Session;
use mcp::target::http::{PROTOCOL_HEADER, SESSION_HEADER};

use super::reply;
use super::{Caller, McpLogFacts, read_body, session_fingerprint};
use crate::body::BoxBody;

pub(super) async fn serve(
    service: &Arc<McpService>,
    parts: &http::request::Parts,
    body: crate::server::idle::ClientBody,
    caller: &Caller<'_>,
    log: &mut McpLogFacts,
) -> Response<BoxBody> {
    let session_id = parts
        .headers
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Some(id) = &session_id {
        log.session = session_fingerprint(id);
    }
    // The version is checked within a session, where it was negotiated; before one, a
    // newer client's probe (`server/discover`) must get its JSON-RPC answer to fall back.
    if session_id.is_some()
        && let Some(answer) = unsupported_version(&parts.headers)
    {
        return answer;
    }
    match parts.method {
        Method::POST => {
            if !accepts_answers(&parts.headers) {
                return reply::error(
                    StatusCode::NOT_ACCEPTABLE,
                    code::INVALID_REQUEST,
                    "MCP answers come as JSON or as an event stream: send Accept: application/json, text/event-stream",
                );
            }
            if !is_json(&parts.headers) {
                return reply::error(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    code::INVALID_REQUEST,
                    "MCP messages are POSTed as JSON: set Content-Type: application/json",
                );
            }
            let body = match read_body(body).await {
                Ok(body) => body,
                Err(answer) => return answer,
            };
            post(service, session_id.as_deref(), &body, caller, log).await
        }
        Method::GET => {
            let accepts_events = parts
                .headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("text/event-stream") || v.contains("*/*"));
            if !accepts_events {
                return reply::error(
                    StatusCode::NOT_ACCEPTABLE,
                    code::INVALID_REQUEST,
                    "GET opens the server's event stream: send Accept: text/event-stream (messages are POSTed)",
                );
            }
            if !service.options().stateful {
                return method_not_allowed(
                    "this MCP endpoint is stateless: it has no standalone event stream",
                );
            }
            match find_session(service, session_id.as_deref(), caller) {
                Ok(session) => reply::events(None, dispatch::listen(&session).await),
                Err(answer) => answer,
            }
        }
        Method::DELETE => {
            if !service.options().stateful {
                return method_not_allowed(
                    "this MCP endpoint is stateless: there is no session to end",
                );
            }
            // Only a live session, and only its own caller, can be ended.
            match find_session(service, session_id.as_deref(), caller) {
                Ok(session) => {
                    if let Some(id) = &session.id {
                        service.end(id).await;
                    }
                    let mut response = Response::new(crate::body::empty());
                    *response.status_mut() = StatusCode::OK;
                    response
                }
                Err(answer) => answer,
            }
        }
        _ => method_not_allowed(
            "MCP endpoints take POST (messages), GET (event stream) and DELETE (end the session)",
        ),
    }
}

/// A request in a session naming a protocol version the gateway does not speak is a 400
/// (the MCP transport says so); without the header the client is taken to speak
/// 2025-03-26.
fn unsupported_version(headers: &http::HeaderMap) -> Option<Response<BoxBody>> {
    let version = headers.get(PROTOCOL_HEADER)?;
    if version
        .to_str()
        .is_ok_and(|v| mcp::service::PROTOCOL_VERSIONS.contains(&v.trim()))
    {
        return None;
    }
    Some(reply::error(
        StatusCode::BAD_REQUEST,
        code::INVALID_REQUEST,
        format!(
            "unsupported MCP-Protocol-Version {:?}: this gateway speaks {}",
            String::from_utf8_lossy(version.as_bytes()),
            mcp::service::PROTOCOL_VERSIONS.join(", ")
        ),
    ))
}

/// Whether the client takes JSON or event-stream answers. A client that names neither (a
/// browser's `text/html`) could read no answer; one that sends no Accept takes anything.
fn accepts_answers(headers: &http::HeaderMap) -> bool {
    let mut accepts = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .peekable();
    accepts.peek().is_none()
        || accepts.any(|v| {
            let v = v.to_ascii_lowercase();
            [
                "application/json",
                "text/event-stream",
                "*/*",
                "application/*",
                "text/*",
            ]
            .iter()
            .any(|kind| v.contains(kind))
        })
}

fn is_json(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        })
}

fn method_not_allowed(reason: &str) -> Response<BoxBody> {
    let mut response = reply::error(
        StatusCode::METHOD_NOT_ALLOWED,
        code::INVALID_REQUEST,
        reason,
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, POST, DELETE"));
    response
}

fn missing_session() -> Response<BoxBody> {
    reply::error(
        StatusCode::BAD_REQUEST,
        code::INVALID_REQUEST,
        "the Mcp-Session-Id header is required: start a session with `initialize` and send the id it returns",
    )
}

fn find_session(
    service: &Arc<McpService>,
    id: Option<&str>,
    caller: &Caller<'_>,
) -> Result<Arc<Session>, Response<BoxBody>> {
    let Some(id) = id else {
        return Err(missing_session());
    };
    service.session(id, caller.owner.as_deref()).map_err(|e| {
        reply::error(
            StatusCode::NOT_FOUND,
            code::INVALID_REQUEST,
            format!("unknown MCP session: {e}"),
        )
    })
}

async fn post(
    service: &Arc<McpService>,
    session_id: Option<&str>,
    body: &[u8],
    caller: &Caller<'_>,
    log: &mut McpLogFacts,
) -> Response<BoxBody> {
    let mut messages = match jsonrpc::parse_body(body) {
        Ok(messages) => messages,
        Err(e) => {
            let status = StatusCode::BAD_REQUEST;
            return reply::error(status, e.code, e.message);
        }
    };
    if messages.len() == 1
        && let Some(message) = messages.pop()
    {
        return match one(service, session_id, message, caller, log).await {
            Outcome::Reply(reply) => into_response(service, session_id, reply).await,
            Outcome::Http(response) => response,
        };
    }
    // A batch (protocol 2025-03-26): every answer in one JSON array.
    let mut answers = Vec::new();
    for message in messages {
        match one(service, session_id, message, caller, log).await {
            Outcome::Http(response) => return response,
            Outcome::Reply(Reply::Accepted) => {}
            Outcome::Reply(Reply::Message(answer)) => answers.push(answer.into_value()),
            Outcome::Reply(Reply::Stream(mut stream)) => {
                // Only the response goes into a batch answer.
                while let Some(message) = stream.recv().await {
                    if message.kind() == Kind::Response {
                        answers.push(message.into_value());
                        break;
                    }
                }
            }
            Outcome::Reply(reply @ Reply::SessionGone(_)) => {
                return into_response(service, session_id, reply).await;
            }
        }
    }
    if answers.is_empty() {
        return reply::accepted();
    }
    let mut response = Response::new(crate::body::full(
        serde_json::to_vec(&answers).unwrap_or_default(),
    ));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A message's outcome: a reply from the session, or an HTTP answer of the transport's own.
enum Outcome {
    Reply(Reply),
    Http(Response<BoxBody>),
}

async fn into_response(
    service: &Arc<McpService>,
    session_id: Option<&str>,
    reply: Reply,
) -> Response<BoxBody> {
    match reply {
        Reply::Accepted => reply::accepted(),
        Reply::Message(message) => reply::json(StatusCode::OK, &message),
        Reply::Stream(messages) => reply::events(None, messages),
        Reply::SessionGone(reason) => {
            if let Some(id) = session_id {
                service.end(id).await;
            }
            reply::error(StatusCode::NOT_FOUND, code::INVALID_REQUEST, reason)
        }
    }
}

async fn one(
    service: &Arc<McpService>,
    session_id: Option<&str>,
    message: Message,
    caller: &Caller<'_>,
    log: &mut McpLogFacts,
) -> Outcome {
    let method = message.method().unwrap_or_default().to_string();
    log.method = method.clone();
    let id = message.id().cloned().unwrap_or_default();
    match (message.kind(), method.as_str()) {
        (Kind::Request, "initialize") => {
            let (answer, session) = service
                .initialize(message, caller.credential(), caller.owner.clone())
                .await;
            let mut response = reply::json(StatusCode::OK, &answer);
            if let Some(sid) = session.as_ref().and_then(|s| s.id.as_deref()) {
                log.session = session_fingerprint(sid);
                if let Ok(value) = HeaderValue::from_str(sid) {
                    response.headers_mut().insert(SESSION_HEADER, value);
                }
            }
            return Outcome::Http(response);
        }
        // The probe of clients that prefer the stateless protocol (2026-07-28): "method not
        // found" makes them fall back to `initialize`, which the gateway serves.
        (Kind::Request, "server/discover") => {
            let refusal = Message::error_for(
                id,
                code::METHOD_NOT_FOUND,
                "server/discover is not supported by this gateway; use initialize (protocol 2025-11-25 or earlier)",
            );
            return Outcome::Reply(Reply::Message(refusal));
        }
        _ => {}
    }
    let session = match service.options().stateful {
        true => match find_session(service, session_id, caller) {
            Ok(session) => session,
            Err(answer) => return Outcome::Http(answer),
        },
        // Stateless: no session lives between requests. A notification or an answer has
        // nothing to belong to; a request gets targets initialized for it alone.
        false if message.kind() != Kind::Request => return Outcome::Reply(Reply::Accepted),
        false => {
            let protocol = caller.protocol.and_then(|v| v.to_str().ok());
            match service
                .one_off_session(caller.credential(), protocol, id)
                .await
            {
                Ok(session) => session,
                Err(refusal) => return Outcome::Reply(Reply::Message(refusal)),
            }
        }
    };
    caller.forward_credential(&session);
    let mut facts = Facts::default();
    let handled = dispatch::handle(service, &session, message, caller.filter, &mut facts).await;
    log.record(&facts);
    Outcome::Reply(handled)
}
