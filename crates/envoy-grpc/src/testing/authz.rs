//! A test `envoy.service.auth.v3.Authorization` service.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;

use super::{Reply, ServerTask, serve};
use crate::CHECK_PATH;
use crate::authz_proto::{
    CheckRequest, CheckResponse, DeniedHttpResponse, HttpResponse, OkHttpResponse,
};

/// gRPC `PERMISSION_DENIED`, the status of a denial.
const PERMISSION_DENIED: i32 = 7;

/// One `CheckRequest` as the service received it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckedRequest {
    /// `HttpRequest.id` (the gateway sends `x-request-id`).
    pub id: String,
    pub method: String,
    /// Path with query string.
    pub path: String,
    pub host: String,
    pub scheme: String,
    /// `HTTP/1.1`, `HTTP/2`, ...
    pub protocol: String,
    /// The body size, -1 when unknown.
    pub size: i64,
    /// Every header sent, pseudo-headers (`:authority`, `:method`, ...) included.
    pub headers: BTreeMap<String, String>,
    /// The downstream client's address, when sent as an IP and port.
    pub source: Option<SocketAddr>,
}

impl CheckedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// How the test service answers a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Status OK, with an `ok_response` setting and removing request headers.
    Allow {
        headers_to_set: Vec<(String, String)>,
        headers_to_remove: Vec<String>,
    },
    /// Status `PERMISSION_DENIED`, with a `denied_response`; `status: None` leaves the HTTP
    /// status unset (the client then uses 403).
    Deny {
        status: Option<u16>,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Fail the call itself with this gRPC status, as a trailers-only response.
    Fail { code: u32, message: String },
    /// Wait, then answer `then`: for client timeouts.
    Delay { delay: Duration, then: Box<Verdict> },
}

impl Verdict {
    /// Allow without changing anything.
    pub fn allow() -> Self {
        Self::allow_with(&[])
    }

    /// Allow, setting these request headers.
    pub fn allow_with(headers: &[(&str, &str)]) -> Self {
        Verdict::Allow {
            headers_to_set: owned(headers),
            headers_to_remove: Vec::new(),
        }
    }

    /// Deny with this HTTP status, headers and body.
    pub fn deny(status: u16, headers: &[(&str, &str)], body: &str) -> Self {
        Verdict::Deny {
            status: Some(status),
            headers: owned(headers),
            body: body.to_owned(),
        }
    }
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

type Rule = dyn Fn(&CheckedRequest) -> Verdict + Send + Sync;

/// A running test ext_authz service; stops when dropped.
pub struct AuthzServer {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<CheckedRequest>>>,
    _task: ServerTask,
}

impl AuthzServer {
    /// Starts a service that records each check and answers what `rule` says.
    pub async fn start(rule: impl Fn(&CheckedRequest) -> Verdict + Send + Sync + 'static) -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let rule: Arc<Rule> = Arc::new(rule);
        let log = requests.clone();
        let (addr, task) = serve(move |path: String, message: Bytes| {
            let (rule, log) = (rule.clone(), log.clone());
            async move {
                if path != CHECK_PATH {
                    return Reply::unimplemented(&path);
                }
                let request = match CheckRequest::decode(&message) {
                    Ok(request) => checked(&request),
                    Err(err) => {
                        return Reply::Status {
                            code: super::INVALID_ARGUMENT,
                            message: format!("undecodable CheckRequest: {err}"),
                        };
                    }
                };
                let mut verdict = rule(&request);
                log.lock().unwrap().push(request);
                while let Verdict::Delay { delay, then } = verdict {
                    tokio::time::sleep(delay).await;
                    verdict = *then;
                }
                answer(verdict)
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

    /// Every check received so far, oldest first.
    pub fn requests(&self) -> Vec<CheckedRequest> {
        self.requests.lock().unwrap().clone()
    }
}

fn checked(request: &CheckRequest<'_>) -> CheckedRequest {
    let http = &request.http;
    let source = request.source.as_ref().and_then(|(address, port)| {
        let ip: IpAddr = address.parse().ok()?;
        Some(SocketAddr::new(ip, u16::try_from(*port).ok()?))
    });
    CheckedRequest {
        id: http.id.to_owned(),
        method: http.method.to_owned(),
        path: http.path.to_owned(),
        host: http.host.to_owned(),
        scheme: http.scheme.to_owned(),
        protocol: http.protocol.to_owned(),
        size: http.size,
        headers: http
            .headers
            .iter()
            .map(|(k, v)| (k.clone().into_owned(), v.clone().into_owned()))
            .collect(),
        source,
    }
}

fn answer(verdict: Verdict) -> Reply {
    let response = match verdict {
        Verdict::Allow {
            headers_to_set,
            headers_to_remove,
        } => CheckResponse {
            http: Some(HttpResponse::Ok(OkHttpResponse {
                headers: headers_to_set,
                headers_to_remove,
            })),
            ..Default::default()
        },
        Verdict::Deny {
            status,
            headers,
            body,
        } => CheckResponse {
            code: PERMISSION_DENIED,
            message: String::new(),
            http: Some(HttpResponse::Denied(DeniedHttpResponse {
                status: status.map(u32::from),
                headers,
                body,
            })),
        },
        Verdict::Fail { code, message } => return Reply::Status { code, message },
        // `start` unwraps delays before answering.
        Verdict::Delay { then, .. } => return answer(*then),
    };
    Reply::Message(response.encode())
}
