//! Handlers of the operator endpoints.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;

use crate::Shared;
use crate::body::{BoxBody, full};

fn respond(status: StatusCode, content_type: &'static str, body: String) -> Response<BoxBody> {
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn json_response(status: StatusCode, value: &serde_json::Value) -> Response<BoxBody> {
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "{}".into());
    respond(status, "application/json", text)
}

/// `127.0.0.1:15000`: `/config_dump`, `/status`, `/logging`.
pub async fn admin(shared: Arc<Shared>, request: Request<Incoming>) -> Response<BoxBody> {
    match (request.method(), request.uri().path()) {
        (&Method::GET, "/") => json_response(
            StatusCode::OK,
            &json!({
                "endpoints": {
                    "/config_dump": "the resolved configuration (secrets redacted)",
                    "/status": "conditions of every resource and the last reload",
                    "/logging": "GET the log filter; POST /logging?level=<RUST_LOG filter> to change it",
                }
            }),
        ),
        (&Method::GET, "/config_dump") => {
            let snapshot = shared.snapshot.load();
            json_response(StatusCode::OK, &config::dump::config_dump(&snapshot.config))
        }
        (&Method::GET, "/status") => json_response(StatusCode::OK, &shared.status_report()),
        (&Method::GET, "/logging") => match &shared.log_control {
            Some(control) => json_response(StatusCode::OK, &json!({"level": control.level()})),
            None => json_response(
                StatusCode::NOT_IMPLEMENTED,
                &json!({"error": "log level control is not available in this process"}),
            ),
        },
        (&Method::POST | &Method::PUT, "/logging") => {
            let level = request
                .uri()
                .query()
                .unwrap_or("")
                .split('&')
                .find_map(|kv| kv.strip_prefix("level="))
                .unwrap_or("");
            match (&shared.log_control, level) {
                (_, "") => json_response(
                    StatusCode::BAD_REQUEST,
                    &json!({"error": "give the new filter as ?level=, e.g. ?level=debug or ?level=info,proxy=trace"}),
                ),
                (Some(control), level) => match control.set_level(level) {
                    Ok(()) => json_response(StatusCode::OK, &json!({"level": control.level()})),
                    Err(e) => json_response(StatusCode::BAD_REQUEST, &json!({"error": e})),
                },
                (None, _) => json_response(
                    StatusCode::NOT_IMPLEMENTED,
                    &json!({"error": "log level control is not available in this process"}),
                ),
            }
        }
        (_, path) => json_response(
            StatusCode::NOT_FOUND,
            &json!({"error": format!("no admin endpoint {path}; GET / lists them")}),
        ),
    }
}

/// `:15020/metrics` in the Prometheus text format.
pub async fn metrics(shared: Arc<Shared>, request: Request<Incoming>) -> Response<BoxBody> {
    match request.uri().path() {
        "/metrics" | "/stats/prometheus" => respond(
            StatusCode::OK,
            "text/plain; version=0.0.4",
            shared.metrics.render(),
        ),
        _ => respond(
            StatusCode::NOT_FOUND,
            "text/plain",
            "metrics are served at /metrics\n".into(),
        ),
    }
}

/// `:15021/healthz/ready`: 200 once the configuration is loaded and every port is bound.
pub async fn readiness(shared: Arc<Shared>, request: Request<Incoming>) -> Response<BoxBody> {
    match request.uri().path() {
        "/healthz/ready" if shared.ready.load(Ordering::Acquire) => {
            respond(StatusCode::OK, "text/plain", "ready\n".into())
        }
        "/healthz/ready" => respond(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "not ready\n".into(),
        ),
        _ => respond(
            StatusCode::NOT_FOUND,
            "text/plain",
            "readiness is served at /healthz/ready\n".into(),
        ),
    }
}
