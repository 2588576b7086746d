//! In-process ext_authz and rate limit services for tests: real h2c gRPC servers on
//! `127.0.0.1:0` that decode what the gateway sends, record it, and answer by a rule, and a
//! plain HTTP/1.1 ext_authz service for the HTTP mode.
//!
//! Each server runs until its handle is dropped. The gRPC servers check the request framing a
//! real gRPC server relies on (`POST`, `content-type: application/grpc`, `te: trailers`,
//! one uncompressed message) and fail the call otherwise, so client bugs show in tests.

// Test fixtures: a server that cannot bind, or a poisoned lock after a failed assertion,
// should fail the test loudly rather than be handled.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod authz;
mod http_authz;
mod ratelimit;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

pub use authz::{AuthzServer, CheckedRequest, Verdict};
pub use http_authz::{HttpAuthzServer, HttpCheck};
pub use ratelimit::{RateLimitCall, RateLimitServer};

use crate::grpc::{frame, percent_encode, unframe};

/// gRPC status codes the servers use.
const INVALID_ARGUMENT: u32 = 3;
const UNIMPLEMENTED: u32 = 12;

/// What a test service answers to one call.
pub(crate) enum Reply {
    /// A successful call's encoded response message.
    Message(Vec<u8>),
    /// A failed call, sent as a trailers-only response.
    Status { code: u32, message: String },
}

impl Reply {
    fn unimplemented(path: &str) -> Self {
        Reply::Status {
            code: UNIMPLEMENTED,
            message: format!("unknown method {path}"),
        }
    }
}

/// Aborts the server (its accept loop and, with it, every connection) when dropped.
pub(crate) struct ServerTask(JoinHandle<()>);

impl Drop for ServerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Binds a free loopback port and hands each accepted connection, with the client's address,
/// to `connection`, each on its own task, until the returned handle is dropped.
pub(crate) async fn listen<F, Fut>(connection: F) -> (SocketAddr, ServerTask)
where
    F: Fn(TcpStream, SocketAddr) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("listener address");
    let task = tokio::spawn(async move {
        // Connection tasks live in the set so that aborting the server ends them too.
        let mut connections = JoinSet::new();
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(_) => {
                    // Out of descriptors or similar: retry shortly instead of spinning.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            while connections.try_join_next().is_some() {}
            connections.spawn(connection(stream, peer));
        }
    });
    (addr, ServerTask(task))
}

/// Starts an h2c gRPC server on a free loopback port; `handler` gets each call's method path
/// and request message.
pub(crate) async fn serve<F, Fut>(handler: F) -> (SocketAddr, ServerTask)
where
    F: Fn(String, Bytes) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Reply> + Send + 'static,
{
    listen(move |stream, _peer| {
        let handler = handler.clone();
        async move {
            let service = service_fn(move |request| {
                let handler = handler.clone();
                async move { Ok::<_, Infallible>(handle(request, handler).await) }
            });
            // A client that goes away mid-call is not the test server's concern.
            let _ = http2::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        }
    })
    .await
}

async fn handle<F, Fut>(
    request: Request<Incoming>,
    handler: F,
) -> Response<BoxBody<Bytes, Infallible>>
where
    F: Fn(String, Bytes) -> Fut,
    Fut: Future<Output = Reply>,
{
    let (parts, body) = request.into_parts();
    let reply = match check_framing(&parts.method, &parts.headers) {
        Err(message) => Reply::Status {
            code: INVALID_ARGUMENT,
            message,
        },
        Ok(()) => match body.collect().await.map(|b| unframe(b.to_bytes())) {
            Ok(Ok(message)) => handler(parts.uri.path().to_owned(), message).await,
            Ok(Err(err)) => Reply::Status {
                code: INVALID_ARGUMENT,
                message: err.to_string(),
            },
            Err(err) => Reply::Status {
                code: INVALID_ARGUMENT,
                message: format!("reading the request: {err}"),
            },
        },
    };
    let mut response = match reply {
        Reply::Message(message) => {
            let mut trailers = HeaderMap::new();
            trailers.insert("grpc-status", HeaderValue::from_static("0"));
            Response::new(
                Full::new(frame(&message))
                    .with_trailers(async move { Some(Ok(trailers)) })
                    .boxed(),
            )
        }
        Reply::Status { code, message } => {
            let mut response = Response::new(Empty::new().boxed());
            let headers = response.headers_mut();
            headers.insert("grpc-status", HeaderValue::from(code));
            headers.insert(
                "grpc-message",
                HeaderValue::try_from(percent_encode(&message)).expect("percent-encoded is ASCII"),
            );
            response
        }
    };
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    response
}

fn check_framing(method: &Method, headers: &HeaderMap) -> Result<(), String> {
    if method != Method::POST {
        return Err(format!("method {method} is not POST"));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if !content_type.is_some_and(|v| v.starts_with("application/grpc")) {
        return Err(format!(
            "content-type {content_type:?} is not application/grpc"
        ));
    }
    if headers.get(header::TE).and_then(|v| v.to_str().ok()) != Some("trailers") {
        return Err("te: trailers is missing".to_owned());
    }
    Ok(())
}
