//! Pooled connections to one backend.
//!
//! HTTP/1.1 connections (`http1.rs`, driven by the requests that use them) are kept in a
//! LIFO idle list (the warmest first) and handed back when a response body has been read
//! to its end. HTTP/2 (h2c by configuration, or h2 chosen by ALPN) shares one multiplexed
//! hyper connection.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{Request, Response, Version};
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

use crate::body::{BoxBody, BoxError, boxed};
use crate::upstream::connector::{ConnectError, Connector, UpstreamAddr};
use crate::upstream::http1::{self, Connection, SendError};

/// How long an idle connection is kept before it is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Idle HTTP/1.1 connections kept per backend.
const MAX_IDLE: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("{0}")]
    Protocol(String),
    /// The backend closed the connection without answering a request it may have seen.
    #[error("{0}")]
    Unanswered(String),
    /// The client's body failed: it went away (`gone`), or it was not valid HTTP.
    #[error("{reason}")]
    ClientBody { reason: String, gone: bool },
}

impl UpstreamError {
    fn protocol(error: &hyper::Error) -> Self {
        let mut reason = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            reason.push_str(": ");
            reason.push_str(&cause.to_string());
            source = cause.source();
        }
        Self::Protocol(reason)
    }
}

/// A handle on one backend's pool; cheap to clone.
#[derive(Clone)]
pub struct UpstreamClient {
    pool: Arc<Pool>,
}

struct Pool {
    connector: Connector,
    host: String,
    port: u16,
    /// Plain-text HTTP/2 by prior knowledge.
    h2c: bool,
    // Held only to push or pop one entry; never across an await.
    idle: Mutex<VecDeque<Idle>>,
    shared_h2: Mutex<Option<H2>>,
}

struct Idle {
    connection: Connection,
    peer: SocketAddr,
    since: Instant,
}

#[derive(Clone)]
struct H2 {
    sender: http2::SendRequest<BoxBody>,
    peer: SocketAddr,
}

enum Checkout {
    Http1 {
        connection: Connection,
        peer: SocketAddr,
        reused: bool,
    },
    Http2(H2),
}

impl UpstreamClient {
    pub fn new(connector: Connector, host: String, port: u16, h2c: bool) -> Self {
        Self {
            pool: Arc::new(Pool {
                connector,
                host,
                port,
                h2c,
                idle: Mutex::new(VecDeque::new()),
                shared_h2: Mutex::new(None),
            }),
        }
    }

    /// Sends a request whose URI carries scheme and authority. A request that fails on a
    /// reused connection before the backend can have acted on it is sent again on a fresh
    /// one (the backend may have closed the idle connection just then).
    pub async fn request(
        &self,
        mut request: Request<BoxBody>,
    ) -> Result<Response<BoxBody>, UpstreamError> {
        let mut fresh_only = false;
        loop {
            match self.checkout(fresh_only).await? {
                Checkout::Http2(_) if request.headers().contains_key(http::header::UPGRADE) => {
                    return Err(UpstreamError::Protocol(
                        "the backend speaks HTTP/2, where a connection cannot switch to \
                         WebSocket; point the route at an HTTP/1.1 port of the backend"
                            .into(),
                    ));
                }
                Checkout::Http2(mut h2) => {
                    *request.version_mut() = Version::HTTP_2;
                    let response = h2
                        .sender
                        .send_request(request)
                        .await
                        .map_err(|e| UpstreamError::protocol(&e))?;
                    return Ok(with_peer(response, h2.peer));
                }
                Checkout::Http1 {
                    connection,
                    peer,
                    reused,
                } => {
                    let release = ReturnTo {
                        pool: self.pool.clone(),
                        peer,
                    };
                    match connection.send(request, release).await {
                        Ok(response) => return Ok(with_peer(response, peer)),
                        Err(SendError::Unsent {
                            request: unsent, ..
                        }) if reused => {
                            request = *unsent;
                            fresh_only = true;
                        }
                        Err(SendError::Unanswered(reason)) => {
                            return Err(UpstreamError::Unanswered(reason));
                        }
                        Err(SendError::ClientBody { reason, gone }) => {
                            return Err(UpstreamError::ClientBody { reason, gone });
                        }
                        Err(SendError::Unsent { reason, .. } | SendError::Failed(reason)) => {
                            return Err(UpstreamError::Protocol(reason));
                        }
                    }
                }
            }
        }
    }

    async fn checkout(&self, fresh_only: bool) -> Result<Checkout, UpstreamError> {
        if let Some(h2) = self.pool.live_h2() {
            return Ok(Checkout::Http2(h2));
        }
        if !fresh_only && let Some(idle) = self.pool.pop_idle() {
            return Ok(Checkout::Http1 {
                connection: idle.connection,
                peer: idle.peer,
                reused: true,
            });
        }
        // Boxed: connecting (DNS, TCP, TLS, the HTTP/2 handshake) is rare next to reusing
        // a pooled connection, and inline its state would enlarge every request's.
        Box::pin(self.connect()).await
    }

    async fn connect(&self) -> Result<Checkout, UpstreamError> {
        let pool = &self.pool;
        let (stream, peer) = pool.connector.open(&pool.host, pool.port).await?;
        if pool.h2c || stream.negotiated_h2() {
            let io = TokioIo::new(stream);
            let (sender, connection) = http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .handshake(io)
                .await
                .map_err(|e| UpstreamError::protocol(&e))?;
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::debug!(%error, "upstream HTTP/2 connection ended");
                }
            });
            let h2 = H2 { sender, peer };
            *pool.shared_h2.lock().unwrap_or_else(|p| p.into_inner()) = Some(h2.clone());
            return Ok(Checkout::Http2(h2));
        }
        Ok(Checkout::Http1 {
            connection: Connection::new(stream),
            peer,
            reused: false,
        })
    }
}

impl Pool {
    fn live_h2(&self) -> Option<H2> {
        let shared = self.shared_h2.lock().unwrap_or_else(|p| p.into_inner());
        shared.as_ref().filter(|h2| !h2.sender.is_closed()).cloned()
    }

    /// The most recently used connection that is still open and not too old.
    fn pop_idle(&self) -> Option<Idle> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(mut entry) = idle.pop_back() {
            if entry.is_fresh() {
                return Some(entry);
            }
        }
        None
    }

    fn push_idle(&self, connection: Connection, peer: SocketAddr) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        // No task watches an idle connection: the oldest one is looked at on each return,
        // so that connections the backend has closed do not linger at the cold end.
        if idle.front_mut().is_some_and(|oldest| !oldest.is_fresh()) {
            idle.pop_front();
        }
        if idle.len() < MAX_IDLE {
            idle.push_back(Idle {
                connection,
                peer,
                since: Instant::now(),
            });
        }
    }
}

impl Idle {
    fn is_fresh(&mut self) -> bool {
        self.since.elapsed() < IDLE_TIMEOUT && self.connection.is_usable()
    }
}

/// Gives an HTTP/1.1 connection back to its pool once its response has been read.
struct ReturnTo {
    pool: Arc<Pool>,
    peer: SocketAddr,
}

impl http1::Release for ReturnTo {
    fn release(self, connection: Connection) {
        self.pool.push_idle(connection, self.peer);
    }
}

/// The answer as the rest of the proxy takes it: one body type, and the address that
/// answered (for the access log).
fn with_peer<B>(response: Response<B>, peer: SocketAddr) -> Response<BoxBody>
where
    B: http_body::Body<Data = bytes::Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    let (mut parts, body) = response.into_parts();
    parts.extensions.insert(UpstreamAddr(peer));
    Response::from_parts(parts, boxed(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use bytes::Bytes;
    use http_body_util::BodyExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use crate::body::empty;

    /// A keep-alive HTTP/1.1 server answering every request with `answer`; counts the
    /// connections it accepts.
    async fn server(answer: &'static [u8]) -> (u16, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut seen = Vec::new();
                    let mut buf = [0u8; 1024];
                    loop {
                        let Ok(n) = stream.read(&mut buf).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        seen.extend_from_slice(&buf[..n]);
                        while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                            seen.drain(..end + 4);
                            if stream.write_all(answer).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        (port, accepted)
    }

    fn client(port: u16) -> UpstreamClient {
        let connector = Connector {
            connect_timeout: Duration::from_secs(5),
            tls: None,
        };
        UpstreamClient::new(connector, "127.0.0.1".into(), port, false)
    }

    fn get(port: u16) -> Request<BoxBody> {
        Request::get(format!("http://127.0.0.1:{port}/"))
            .body(empty())
            .unwrap()
    }

    async fn read_all(client: &UpstreamClient, port: u16) -> Bytes {
        let response = client.request(get(port)).await.unwrap();
        // `collect` asks for frames until the body says there are none: the body must end
        // although its connection may already be back in the pool.
        tokio::time::timeout(Duration::from_secs(5), response.into_body().collect())
            .await
            .expect("the body ends once its last byte is read")
            .unwrap()
            .to_bytes()
    }

    /// Three requests to a server giving `answer`, each body read to its end, travel on
    /// one connection.
    async fn assert_reused_after(answer: &'static [u8], body: &str) {
        let (port, accepted) = server(answer).await;
        let client = client(port);
        for _ in 0..3 {
            assert_eq!(read_all(&client, port).await, body);
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1, "one connection, reused");
    }

    #[tokio::test]
    async fn a_sized_body_read_to_its_end_ends_and_frees_the_connection() {
        assert_reused_after(
            b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
            "hello",
        )
        .await;
    }

    #[tokio::test]
    async fn a_chunked_body_read_to_its_end_frees_the_connection() {
        assert_reused_after(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
            "abcde",
        )
        .await;
    }

    #[tokio::test]
    async fn a_body_dropped_half_read_takes_its_connection_with_it() {
        let (port, accepted) =
            server(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n").await;
        let client = client(port);
        let mut body = client.request(get(port)).await.unwrap().into_body();
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(first, "abc");
        drop(body);
        let _second = client.request(get(port)).await.unwrap();
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            2,
            "the half-read one is not reused"
        );
    }
}
