//! Every way a request can fail, with the one mapping to a status code and a JSON body.

use std::time::Duration;

use http::{HeaderValue, Response, StatusCode, header};

use crate::body::{BoxBody, full};
use crate::upstream::connector::ConnectError;

/// Who caused a failure: it decides the log level, the metric label and whether a retry
/// can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorSource {
    Downstream,
    Upstream,
    Internal,
}

/// Marks an answer the gateway gave on its own (a policy's refusal) with its error type,
/// for the access log.
#[derive(Debug, Clone)]
pub struct GatewayAnswer {
    pub kind: &'static str,
    /// What the answer's body says, for an LLM route to say it in its client's shape.
    pub message: std::sync::Arc<str>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("no route for {method} {host}{path} on listener {listener}")]
    RouteNotFound {
        method: String,
        host: String,
        path: String,
        listener: String,
    },
    #[error("no listener on port {port} serves host '{host}'")]
    ListenerNotFound { port: u16, host: String },
    #[error("route {route} has no backend to send requests to")]
    NoBackends { route: String },
    #[error("backend {backend}: {source}")]
    Connect {
        backend: String,
        source: ConnectError,
    },
    #[error("backend {backend} did not send response headers within {after:?}")]
    UpstreamTimeout { backend: String, after: Duration },
    #[error("route {route} timed out after {after:?} without a response")]
    RequestTimeout { route: String, after: Duration },
    #[error("backend {backend} closed the connection or sent an invalid response: {reason}")]
    UpstreamProtocol { backend: String, reason: String },
    #[error("backend {backend} did not answer: {reason}")]
    UpstreamUnanswered { backend: String, reason: String },
    #[error("backend {backend}: could not obtain a credential for the provider: {reason}")]
    Credential { backend: String, reason: String },
    #[error("the request could not be forwarded: {0}")]
    InvalidRequest(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error(
        "the request's target and headers take {size} bytes; the gateway accepts at most {limit}"
    )]
    HeadersTooLarge { size: usize, limit: usize },
    /// The client went away before its request was whole (logged as nginx's 499).
    #[error("the client went away: {0}")]
    ClientGone(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ProxyError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::RouteNotFound { .. } | Self::ListenerNotFound { .. } => StatusCode::NOT_FOUND,
            Self::NoBackends { .. } | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Connect {
                source: ConnectError::Tls { .. },
                ..
            }
            | Self::UpstreamProtocol { .. }
            | Self::UpstreamUnanswered { .. }
            | Self::Credential { .. } => StatusCode::BAD_GATEWAY,
            Self::Connect { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::UpstreamTimeout { .. } | Self::RequestTimeout { .. } => {
                StatusCode::GATEWAY_TIMEOUT
            }
            Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::ClientGone(_) => StatusCode::from_u16(crate::access_log::CLIENT_CLOSED)
                .unwrap_or(StatusCode::BAD_REQUEST),
        }
    }

    pub fn source_kind(&self) -> ErrorSource {
        match self {
            Self::RouteNotFound { .. }
            | Self::ListenerNotFound { .. }
            | Self::InvalidRequest(_)
            | Self::MethodNotAllowed(_)
            | Self::HeadersTooLarge { .. }
            | Self::ClientGone(_) => ErrorSource::Downstream,
            Self::Connect { .. }
            | Self::UpstreamTimeout { .. }
            | Self::RequestTimeout { .. }
            | Self::UpstreamProtocol { .. }
            | Self::UpstreamUnanswered { .. }
            | Self::Credential { .. } => ErrorSource::Upstream,
            Self::NoBackends { .. } | Self::Internal(_) => ErrorSource::Internal,
        }
    }

    /// Whether another attempt may succeed: only failures where the backend never saw
    /// the request, or said so, qualify.
    pub fn retryable(&self) -> bool {
        matches!(self, Self::Connect { .. } | Self::UpstreamTimeout { .. })
    }

    /// Whether another provider may be asked: besides what `retryable` allows, a provider
    /// that closed the connection without a byte of answer (crashed, or a load balancer
    /// reset it). An LLM call has no effect beyond its answer, so asking again is safe;
    /// it is not for the plain retries of any request.
    pub fn fails_over(&self) -> bool {
        self.retryable() || matches!(self, Self::UpstreamUnanswered { .. })
    }

    /// A short machine-readable name, used as the JSON `type` and in logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::RouteNotFound { .. } => "route_not_found",
            Self::ListenerNotFound { .. } => "listener_not_found",
            Self::NoBackends { .. } => "no_backends",
            Self::Connect {
                source: ConnectError::Dns { .. },
                ..
            } => "dns_failure",
            Self::Connect {
                source: ConnectError::Refused { .. },
                ..
            } => "connection_refused",
            Self::Connect {
                source: ConnectError::Timeout { .. },
                ..
            } => "connect_timeout",
            Self::Connect {
                source: ConnectError::Tls { .. } | ConnectError::InvalidServerName(_),
                ..
            } => "upstream_tls_error",
            Self::Connect { .. } => "connect_error",
            Self::UpstreamTimeout { .. } => "upstream_timeout",
            Self::RequestTimeout { .. } => "request_timeout",
            Self::UpstreamProtocol { .. } => "upstream_protocol_error",
            Self::UpstreamUnanswered { .. } => "upstream_no_answer",
            Self::Credential { .. } => "credential_error",
            Self::InvalidRequest(_) => "invalid_request",
            Self::MethodNotAllowed(_) => "method_not_allowed",
            Self::HeadersTooLarge { .. } => "headers_too_large",
            Self::ClientGone(_) => "client_gone",
            Self::Internal(_) => "internal_error",
        }
    }

    /// What the operator can do about it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Self::RouteNotFound { .. } => "check the HTTPRoute matches (path, method, headers, hostnames); GET /config_dump on the admin port lists the routes in match order".into(),
            Self::ListenerNotFound { .. } => "add a listener for this host name, or drop the listener hostname".into(),
            Self::Connect { source: ConnectError::Dns { .. }, .. } => {
                "the host name does not resolve from the gateway; for a service on the gateway's own machine use localhost, and from a container host.internal or host.docker.internal".into()
            }
            Self::Connect { source: ConnectError::Refused { .. }, .. } => "nothing is listening there: is the backend running, and is the port right?".into(),
            Self::Connect { source: ConnectError::Timeout { .. }, .. } => "the backend did not accept the connection in time: check firewalls and policies.tcp.connectTimeout".into(),
            Self::Connect { source: ConnectError::Tls { .. }, .. } => "check policies.tls (caCertificateRefs, sni), or that the backend speaks TLS at all".into(),
            Self::UpstreamTimeout { .. } | Self::RequestTimeout { .. } => "raise the route's timeouts.request / backendRequest, or look at why the backend is slow".into(),
            Self::HeadersTooLarge { .. } => "send large data in the body; a cookie or token this large is usually a client bug".into(),
            Self::Credential { .. } => "check the backend's policies.auth Secret (service-account key or AWS keys) and that the token endpoint is reachable".into(),
            _ => return None,
        })
    }

    /// The JSON error answer. The shape (`{"error": {"message", "type", "code"}}`) is the one
    /// OpenAI-style clients already parse, and reads well with curl.
    /// What the client reads: the cause, and what to do about it.
    pub fn message(&self) -> String {
        match self.hint() {
            Some(hint) => format!("{self} (hint: {hint})"),
            None => self.to_string(),
        }
    }

    pub fn to_response(&self) -> Response<BoxBody> {
        let body = serde_json::json!({
            "error": { "message": self.message(), "type": self.kind(), "code": self.status().as_u16() }
        });
        self.response_with(body.to_string())
    }

    /// The answer with `body` (JSON) as its body and this error's status.
    pub fn response_with(&self, body: String) -> Response<BoxBody> {
        let mut response = Response::new(full(body));
        *response.status_mut() = self.status();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_failure_names_backend_host_and_hint() {
        let e = ProxyError::Connect {
            backend: "default/ollama".into(),
            source: ConnectError::Dns {
                host: "ollama.invalid".into(),
                reason: "no such host".into(),
            },
        };
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.kind(), "dns_failure");
        let text = format!("{e} {}", e.hint().unwrap());
        for needle in ["default/ollama", "ollama.invalid", "DNS", "host.internal"] {
            assert!(text.contains(needle), "{needle} missing in {text}");
        }
        assert!(e.retryable());
        assert_eq!(e.source_kind(), ErrorSource::Upstream);
    }

    #[test]
    fn statuses_follow_the_cause() {
        let timeout = ProxyError::UpstreamTimeout {
            backend: "b".into(),
            after: Duration::from_secs(1),
        };
        assert_eq!(timeout.status(), StatusCode::GATEWAY_TIMEOUT);
        let nf = ProxyError::RouteNotFound {
            method: "GET".into(),
            host: "h".into(),
            path: "/x".into(),
            listener: "default/gw/http".into(),
        };
        assert_eq!(nf.status(), StatusCode::NOT_FOUND);
        assert!(!nf.retryable());
    }
}
