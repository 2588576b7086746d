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
    // The providers that failed before the answer, for the client and the operator to see
    // that a failover happened and why.
    let mut failed: Vec<String> = Vec::new();
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
        // A failing provider is ejected even when it was the last to try: the next call
        // then starts with one that may have recovered.
        let eject = |wait: Duration| {
            if let Some(h) = snapshot.health(target) {
                h.eject(wait);
            }
        };
        match result {
            Ok(response) if !fails_over(response.status()) => {
                return Ok(with_failed_providers(response, &failed));
            }
            Ok(response) => {
                eject(retry_after(response.headers()).unwrap_or(DEFAULT_EJECTION));
                if is_last {
                    return Ok(with_failed_providers(response, &failed));
                }
                tracing::warn!(backend = %name, provider = %member.name, status = response.status().as_u16(), "provider failed; trying the next one");
                failed.push(format!("{} ({})", member.name, response.status().as_u16()));
                last = Some(Ok(response));
            }
            Err(e) if e.fails_over() => {
                eject(DEFAULT_EJECTION);
                if is_last {
                    // Counted with the answer, like any request's last failure.
                    return Err(e);
                }
                snapshot.metrics.count_connect_failure(&e);
                tracing::warn!(backend = %name, provider = %member.name, error = %e, "provider unreachable; trying the next one");
                failed.push(format!("{} ({})", member.name, e.kind()));
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

/// The header that names the providers that failed before this answer, with why.
const FAILED_PROVIDERS: http::HeaderName =
    http::HeaderName::from_static("x-agentgateway-failed-providers");

fn with_failed_providers(mut response: Response<BoxBody>, failed: &[String]) -> Response<BoxBody> {
    if !failed.is_empty()
        && let Ok(value) = http::HeaderValue::from_str(&failed.join(", "))
    {
        response.headers_mut().insert(FAILED_PROVIDERS, value);
    }
    response
}

/// How long a provider asks to be left alone: OpenAI's and Azure's `retry-after-ms`, else
/// `Retry-After` in seconds or as an HTTP date. Bounded, so a provider cannot eject itself
/// for hours by mistake.
fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    const LONGEST: Duration = Duration::from_secs(300);
    let text = |name: &str| headers.get(name)?.to_str().ok().map(str::trim);
    let wait = if let Some(ms) = text("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        Duration::try_from_secs_f64(ms / 1000.0).ok()?
    } else {
        let value = text(RETRY_AFTER.as_str())?;
        match value.parse::<u64>() {
            Ok(seconds) => Duration::from_secs(seconds),
            Err(_) => httpdate::parse_http_date(value)
                .ok()?
                .duration_since(std::time::SystemTime::now())
                .unwrap_or_default(),
        }
    };
    Some(wait.min(LONGEST))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> http::HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    http::HeaderName::from_static(k),
                    http::HeaderValue::from_str(v).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn retry_after_in_milliseconds_seconds_or_a_date() {
        let ms = headers(&[("retry-after-ms", "1500"), ("retry-after", "9")]);
        assert_eq!(retry_after(&ms), Some(Duration::from_millis(1500)));
        assert_eq!(
            retry_after(&headers(&[("retry-after", "7")])),
            Some(Duration::from_secs(7))
        );
        let now = std::time::SystemTime::now();
        let later = httpdate::fmt_http_date(now + Duration::from_secs(60));
        let wait = retry_after(&headers(&[("retry-after", &later)])).unwrap();
        assert!(
            wait > Duration::from_secs(50) && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(60));
        assert_eq!(
            retry_after(&headers(&[("retry-after", &past)])),
            Some(Duration::ZERO)
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "86400")])),
            Some(Duration::from_secs(300)),
            "bounded"
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")])), None);
        assert_eq!(retry_after(&headers(&[])), None);
    }
}
