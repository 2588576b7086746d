//! Priority groups of providers: the first group first; inside a group, providers in a
//! random order (spreading load); a provider that fails with a connection error, a timeout,
//! 429 or a 5xx is ejected for a while (its `Retry-After`, or a default) and the next one
//! is tried. An answer that has started (any other status) is never retried, streams
//! included.

use std::time::Duration;

use bytes::Bytes;
use config::ir::backend::{AiGroups, NamedProvider};
use config::ir::policy::TrafficSettings;
use http::header::RETRY_AFTER;
use http::{Response, StatusCode};
use llm::ClientApi;

use crate::body::{BoxBody, CollectError, collect_limited, full};
use crate::error::ProxyError;
use crate::llm_route::dialect::Dialect;
use crate::llm_route::{REQUEST_LIMIT, json_response};
use crate::pipeline::{Hop, outbound};
use crate::snapshot::Snapshot;
use crate::upstream::health::DEFAULT_EJECTION;

/// Provider answers that move on to the next provider.
fn fails_over(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

/// The order providers are tried in: groups in priority order, each shuffled, available
/// providers before ejected ones (which are still tried as a last resort).
fn candidates<'a>(snapshot: &Snapshot, groups: &'a AiGroups) -> Vec<&'a NamedProvider> {
    let mut available = Vec::new();
    let mut ejected = Vec::new();
    for group in &groups.groups {
        let mut members: Vec<&NamedProvider> = group.iter().collect();
        fastrand::shuffle(&mut members);
        for member in members {
            let healthy = snapshot
                .health(&member.backend.target)
                .is_none_or(|h| h.available());
            if healthy {
                available.push(member)
            } else {
                ejected.push(member)
            }
        }
    }
    available.extend(ejected);
    available
}

pub(crate) async fn serve(
    snapshot: &Snapshot,
    name: &std::sync::Arc<str>,
    groups: &AiGroups,
    traffic: &TrafficSettings,
    hop: Hop,
    parts: http::request::Parts,
    body: BoxBody,
) -> Result<Response<BoxBody>, ProxyError> {
    // Read once so that every attempt can send it again.
    let api = hop
        .llm_api
        .unwrap_or_else(|| super::client_api(traffic.ai.as_deref(), parts.uri.path()));
    let client = Dialect::of_client(api);
    if api == ClientApi::Models {
        let members = groups.groups.iter().flatten().map(|m| &m.backend);
        if let Some(list) = super::models::pinned_list(members, traffic.ai.as_deref()) {
            return Ok(list);
        }
    }
    let bytes: Bytes = match collect_limited(body, REQUEST_LIMIT).await {
        Ok(bytes) => bytes,
        Err(CollectError::TooLarge(limit)) => {
            return Ok(json_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                &client.error_body(&llm::LlmError::TooLarge { limit }),
            ));
        }
        Err(e) => return Err(ProxyError::InvalidRequest(e.to_string())),
    };
    let order = candidates(snapshot, groups);
    let mut last = None;
    for (attempt, member) in order.iter().enumerate() {
        let is_last = attempt + 1 == order.len();
        let target = &member.backend.target;
        let out = outbound(snapshot, name, target, traffic, hop.clone())?;
        let result = super::serve(
            snapshot,
            &member.backend,
            traffic.ai.as_deref(),
            api,
            out,
            parts.clone(),
            full(bytes.clone()),
        )
        .await;
        let health = snapshot.health(target);
        match result {
            Ok(response) if !fails_over(response.status()) || is_last => return Ok(response),
            Ok(response) => {
                let wait = retry_after(&response).unwrap_or(DEFAULT_EJECTION);
                tracing::warn!(backend = %name, provider = %member.name, status = %response.status(), "provider failed; trying the next one");
                if let Some(h) = health {
                    h.eject(wait);
                }
                last = Some(Ok(response));
            }
            Err(e) if e.retryable() && !is_last => {
                tracing::warn!(backend = %name, provider = %member.name, error = %e, "provider unreachable; trying the next one");
                snapshot.metrics.count_connect_failure(&e);
                if let Some(h) = health {
                    h.eject(DEFAULT_EJECTION);
                }
                last = Some(Err(e));
            }
            Err(e) => return Err(e),
        }
    }
    last.unwrap_or_else(|| {
        Err(ProxyError::NoBackends {
            route: name.to_string(),
        })
    })
}

/// `Retry-After` in seconds (the HTTP-date form is rare from LLM providers).
fn retry_after(response: &Response<BoxBody>) -> Option<Duration> {
    let value = response.headers().get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}
