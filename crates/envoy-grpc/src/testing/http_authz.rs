//! A test ext_authz service in Envoy's HTTP mode: a keep-alive HTTP/1.1 server that records
//! every request it gets and answers what a rule says.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use super::{ServerTask, listen};

/// One authorization request as the service received it.
#[derive(Debug, Clone)]
pub struct HttpCheck {
    /// Method, request target (origin form), version and headers.
    pub parts: Parts,
    pub body: Bytes,
    /// The client's address: equal for requests sent over one pooled connection.
    pub peer: SocketAddr,
}

impl HttpCheck {
    /// The request target: path and query.
    pub fn target(&self) -> &str {
        self.parts
            .uri
            .path_and_query()
            .map_or("", |target| target.as_str())
    }

    /// The first value of a header, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.parts.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every value of a header, in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.parts
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    }
}

/// What a rule answers: status, headers (repeatable) and body.
type Answer = (u16, Vec<(String, String)>, String);
type Rule = dyn Fn(&Parts) -> Answer + Send + Sync;

/// A running test HTTP authorization service; stops when dropped.
pub struct HttpAuthzServer {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<HttpCheck>>>,
    _task: ServerTask,
}

impl HttpAuthzServer {
    /// Starts a service that records each request and answers `rule`'s status, headers and
    /// body. A status that is not valid HTTP, or a header that is not, fails the test.
    pub async fn start(rule: impl Fn(&Parts) -> Answer + Send + Sync + 'static) -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let rule: Arc<Rule> = Arc::new(rule);
        let log = requests.clone();
        let (addr, task) = listen(move |stream, peer| {
            let (rule, log) = (rule.clone(), log.clone());
            async move {
                let service = service_fn(move |request| {
                    let (rule, log) = (rule.clone(), log.clone());
                    async move { Ok::<_, Infallible>(answer(request, peer, &*rule, &log).await) }
                });
                // A client that goes away mid-call is not the test server's concern.
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            }
        })
        .await;
        Self {
            addr,
            requests,
            _task: task,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<HttpCheck> {
        self.requests.lock().unwrap().clone()
    }
}

async fn answer(
    request: Request<Incoming>,
    peer: SocketAddr,
    rule: &Rule,
    log: &Mutex<Vec<HttpCheck>>,
) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .expect("read the request body")
        .to_bytes();
    let (status, headers, text) = rule(&parts);
    log.lock().unwrap().push(HttpCheck { parts, body, peer });
    let mut response = Response::new(Full::new(Bytes::from(text)));
    *response.status_mut() = StatusCode::from_u16(status).expect("a valid HTTP status");
    for (name, value) in headers {
        response.headers_mut().append(
            HeaderName::try_from(name).expect("a valid header name"),
            HeaderValue::try_from(value).expect("a valid header value"),
        );
    }
    response
}
