//! A real HTTP server to proxy to. It echoes what it received as JSON and has paths that
//! misbehave on purpose: `/status/{code}`, `/delay/{ms}`, `/stream/{chunks}`, `/reset`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode, Version};
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::certs::TestCert;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type TestBody = http_body_util::combinators::BoxBody<Bytes, BoxError>;

/// One request as the upstream saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: http::Method,
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub version: Version,
    pub body: Bytes,
}

pub struct Upstream {
    pub addr: SocketAddr,
    pub name: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    connections: Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Upstream {
    /// Plain text, HTTP/1.1 and h2c.
    pub async fn start(name: &str) -> Self {
        Self::serve(name, None).await
    }

    /// TLS with `cert`, offering h2 and http/1.1 by ALPN.
    pub async fn start_tls(name: &str, cert: &TestCert) -> Self {
        use rustls_pki_types::pem::PemObject;
        let chain = rustls_pki_types::CertificateDer::pem_slice_iter(cert.cert_pem.as_bytes())
            .map(|c| c.unwrap())
            .collect();
        let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Self::serve(
            name,
            Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))),
        )
        .await
    }

    async fn serve(name: &str, tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (task_seen, task_name, task_connections) =
            (seen.clone(), name.to_string(), connections.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                task_connections.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let (seen, name, tls) = (task_seen.clone(), task_name.clone(), tls.clone());
                tokio::spawn(async move {
                    let service =
                        service_fn(move |request| handle(name.clone(), seen.clone(), request));
                    let builder = Builder::new(TokioExecutor::new());
                    let _ = match tls {
                        None => {
                            builder
                                .serve_connection(TokioIo::new(stream), service)
                                .await
                        }
                        Some(acceptor) => match acceptor.accept(stream).await {
                            Ok(s) => builder.serve_connection(TokioIo::new(s), service).await,
                            Err(_) => return,
                        },
                    };
                });
            }
        });
        Self {
            addr,
            name: name.to_string(),
            seen,
            connections,
            task,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// How many connections were accepted.
    pub fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Every request received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits (up to 5 s) until at least `n` requests have arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<Seen> {
        for _ in 0..500 {
            let seen = self.seen();
            if seen.len() >= n {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.seen()
    }
}

async fn handle(
    name: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    request: Request<Incoming>,
) -> Result<Response<TestBody>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    seen.lock().unwrap().push(Seen {
        method: parts.method.clone(),
        path_and_query: path_and_query.clone(),
        headers: parts.headers.clone(),
        version: parts.version,
        body: body.clone(),
    });
    let segments: Vec<&str> = parts
        .uri
        .path()
        .trim_start_matches('/')
        .split('/')
        .collect();
    let mut status = StatusCode::OK;
    match segments.as_slice() {
        ["status", code, ..] => {
            status = code
                .parse()
                .ok()
                .and_then(|c| StatusCode::from_u16(c).ok())
                .unwrap_or(StatusCode::BAD_REQUEST)
        }
        ["delay", ms, ..] => {
            tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(0))).await
        }
        ["stream", chunks, ..] => return Ok(streamed(&name, chunks.parse().unwrap_or(3), false)),
        ["reset", ..] => return Ok(streamed(&name, 2, true)),
        _ => {}
    }
    let headers: serde_json::Map<String, serde_json::Value> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                serde_json::Value::String(v.to_str().unwrap_or("").to_string()),
            )
        })
        .collect();
    let echo = serde_json::json!({
        "upstream": name,
        "method": parts.method.as_str(),
        "path": path_and_query,
        "version": format!("{:?}", parts.version),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    });
    let mut response = Response::new(
        http_body_util::Full::new(Bytes::from(echo.to_string()))
            .map_err(|n| match n {})
            .boxed(),
    );
    *response.status_mut() = status;
    response.headers_mut().insert(
        "content-type",
        http::HeaderValue::from_static("application/json"),
    );
    response
        .headers_mut()
        .insert("x-upstream", http::HeaderValue::from_str(&name).unwrap());
    response
        .headers_mut()
        .insert("x-hop", http::HeaderValue::from_static("drop-me"));
    response
        .headers_mut()
        .insert("connection", http::HeaderValue::from_static("x-hop"));
    Ok(response)
}

/// `chunks` lines 20 ms apart; with `fail`, the stream breaks after them instead of ending.
fn streamed(name: &str, chunks: usize, fail: bool) -> Response<TestBody> {
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        for i in 0..chunks {
            if tx
                .send(Ok(Bytes::from(format!("chunk {i}\n"))))
                .await
                .is_err()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if fail {
            let _ = tx
                .send(Err("upstream broke the stream on purpose".into()))
                .await;
        }
    });
    let mut response = Response::new(ChannelBody { rx }.boxed());
    response
        .headers_mut()
        .insert("content-type", http::HeaderValue::from_static("text/plain"));
    response
        .headers_mut()
        .insert("x-upstream", http::HeaderValue::from_str(name).unwrap());
    response
}

struct ChannelBody {
    rx: mpsc::Receiver<Result<Bytes, BoxError>>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.rx
            .poll_recv(cx)
            .map(|item| item.map(|r| r.map(Frame::data)))
    }
}
