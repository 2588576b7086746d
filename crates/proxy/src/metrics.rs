//! Prometheus metrics. Series handles are looked up when a configuration is prepared, so a
//! request only touches atomics.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Upper bounds of the request duration histogram, in seconds.
const DURATION_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Labels of the request series.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestLabels {
    pub gateway: String,
    pub route: String,
    pub backend: String,
}

/// Counters and histogram of one (gateway, route, backend).
#[derive(Debug)]
pub struct RequestSeries {
    /// Indexed by status code (100..=599 used).
    by_status: Box<[AtomicU64]>,
    buckets: [AtomicU64; DURATION_BUCKETS.len()],
    duration_sum_micros: AtomicU64,
    duration_count: AtomicU64,
}

impl RequestSeries {
    fn new() -> Self {
        Self {
            by_status: (0..600).map(|_| AtomicU64::new(0)).collect(),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            duration_sum_micros: AtomicU64::new(0),
            duration_count: AtomicU64::new(0),
        }
    }

    pub fn record(&self, status: u16, elapsed: Duration) {
        if let Some(counter) = self.by_status.get(usize::from(status)) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        let seconds = elapsed.as_secs_f64();
        if let Some(i) = DURATION_BUCKETS.iter().position(|b| seconds <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.duration_sum_micros.fetch_add(
            u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        self.duration_count.fetch_add(1, Ordering::Relaxed);
    }
}

/// Joins the labels of an MCP series into one key (a character no label is made of).
const MCP_KEY_SEPARATOR: char = '\u{1f}';

#[derive(Debug, Default)]
pub struct Metrics {
    // Locked when a series is created (at config preparation) and when scraped.
    requests: Mutex<BTreeMap<RequestLabels, Arc<RequestSeries>>>,
    connect_errors: Mutex<BTreeMap<(String, &'static str), Arc<AtomicU64>>>,
    reload_success: AtomicU64,
    reload_failure: AtomicU64,
    /// Requests decided without the shared rate-limit store (it could not be reached).
    ratelimit_degraded: AtomicU64,
    /// MCP messages by backend, method, target and tool.
    /// Keyed by backend, method, target and tool joined with `MCP_KEY_SEPARATOR`: one string
    /// to build per message instead of four.
    mcp: Mutex<BTreeMap<String, u64>>,
    pub gen_ai: crate::gen_ai_metrics::GenAiMetrics,
}

impl Metrics {
    pub fn request_series(&self, labels: RequestLabels) -> Arc<RequestSeries> {
        let mut map = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(labels)
            .or_insert_with(|| Arc::new(RequestSeries::new()))
            .clone()
    }

    /// Counts `error` when it is a failed connection to a backend: once per failed
    /// attempt, whether the request then fails or a retry or another provider succeeds.
    pub fn count_connect_failure(&self, error: &crate::error::ProxyError) {
        use crate::upstream::connector::ConnectError as E;
        let crate::error::ProxyError::Connect { backend, source } = error else {
            return;
        };
        let reason = match source {
            E::Dns { .. } => "dns",
            E::Refused { .. } => "refused",
            E::Timeout { .. } => "timeout",
            E::Io { .. } => "io",
            E::Tls { .. } | E::InvalidServerName(_) => "tls",
        };
        self.connect_error(backend, reason);
    }

    /// Counts a failed upstream connection; rare, so a lock here costs nothing.
    fn connect_error(&self, backend: &str, reason: &'static str) {
        let counter = {
            let mut map = self
                .connect_errors
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            map.entry((backend.to_string(), reason))
                .or_default()
                .clone()
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A global rate-limit decision taken without Redis (by the failure mode).
    pub fn ratelimit_degraded(&self) {
        self.ratelimit_degraded.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one MCP message. Series are capped: tool names come from clients, and past the
    /// cap unknown combinations are counted under `tool="other"`.
    pub fn mcp_request(&self, backend: &str, facts: &crate::mcp_route::McpLogFacts) {
        // Tool names come from the client (a call to a tool no target has still names
        // it): past this many series, new ones are counted as `other`.
        const MAX_SERIES: usize = 2_000;
        let sep = MCP_KEY_SEPARATOR;
        let method = crate::mcp_route::metric_method(&facts.method);
        let mut key = format!("{backend}{sep}{method}{sep}{}{sep}", facts.target);
        let prefix = key.len();
        key.push_str(&facts.tool);
        let mut series = self.mcp.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = series.get_mut(&key) {
            *count += 1;
            return;
        }
        if series.len() >= MAX_SERIES {
            key.truncate(prefix);
            key.push_str("other");
        }
        *series.entry(key).or_default() += 1;
    }

    pub fn reload(&self, success: bool) {
        let counter = if success {
            &self.reload_success
        } else {
            &self.reload_failure
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP agentgateway_requests_total Requests handled, by gateway, route, backend and status code."
        );
        let _ = writeln!(out, "# TYPE agentgateway_requests_total counter");
        let requests = self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for (labels, series) in &requests {
            for (status, counter) in series.by_status.iter().enumerate() {
                let n = counter.load(Ordering::Relaxed);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "agentgateway_requests_total{{{},status=\"{status}\"}} {n}",
                        label_text(labels)
                    );
                }
            }
        }
        let _ = writeln!(
            out,
            "# HELP agentgateway_request_duration_seconds Time from request start to the end of the response."
        );
        let _ = writeln!(
            out,
            "# TYPE agentgateway_request_duration_seconds histogram"
        );
        for (labels, series) in &requests {
            let count = series.duration_count.load(Ordering::Relaxed);
            if count == 0 {
                continue;
            }
            let labels = label_text(labels);
            let mut cumulative = 0;
            for (bound, bucket) in DURATION_BUCKETS.iter().zip(&series.buckets) {
                cumulative += bucket.load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "agentgateway_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "agentgateway_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}"
            );
            let sum = series.duration_sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(
                out,
                "agentgateway_request_duration_seconds_sum{{{labels}}} {sum}"
            );
            let _ = writeln!(
                out,
                "agentgateway_request_duration_seconds_count{{{labels}}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP agentgateway_upstream_connect_errors_total Failed connections to backends (every failed attempt, retried or not), by reason."
        );
        let _ = writeln!(
            out,
            "# TYPE agentgateway_upstream_connect_errors_total counter"
        );
        for ((backend, reason), counter) in self
            .connect_errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "agentgateway_upstream_connect_errors_total{{backend=\"{}\",reason=\"{reason}\"}} {}",
                escape(backend),
                counter.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP agentgateway_config_reloads_total Configuration loads, by result."
        );
        let _ = writeln!(out, "# TYPE agentgateway_config_reloads_total counter");
        let _ = writeln!(
            out,
            "agentgateway_config_reloads_total{{result=\"success\"}} {}",
            self.reload_success.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "agentgateway_config_reloads_total{{result=\"failure\"}} {}",
            self.reload_failure.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP agentgateway_ratelimit_degraded_total Global rate-limit decisions taken by the failure mode because Redis could not be reached."
        );
        let _ = writeln!(out, "# TYPE agentgateway_ratelimit_degraded_total counter");
        let _ = writeln!(
            out,
            "agentgateway_ratelimit_degraded_total {}",
            self.ratelimit_degraded.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP agentgateway_mcp_requests_total MCP messages from clients, by method and by the target and tool they went to."
        );
        let _ = writeln!(out, "# TYPE agentgateway_mcp_requests_total counter");
        for (key, count) in self.mcp.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            // The tool comes last, so a separator inside a client-given tool name stays in it.
            let mut parts = key.splitn(4, MCP_KEY_SEPARATOR);
            let mut next = || parts.next().unwrap_or_default();
            let (backend, method, target, tool) = (next(), next(), next(), next());
            let _ = writeln!(
                out,
                "agentgateway_mcp_requests_total{{backend=\"{}\",method=\"{}\",target=\"{}\",tool=\"{}\"}} {count}",
                escape(backend),
                escape(method),
                escape(target),
                escape(tool)
            );
        }
        self.gen_ai.render(&mut out);
        out
    }
}

fn label_text(l: &RequestLabels) -> String {
    format!(
        "gateway=\"{}\",route=\"{}\",backend=\"{}\"",
        escape(&l.gateway),
        escape(&l.route),
        escape(&l.backend)
    )
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histogram() {
        let metrics = Metrics::default();
        let labels = RequestLabels {
            gateway: "default/gw".into(),
            route: "default/r".into(),
            backend: "default/b".into(),
        };
        let series = metrics.request_series(labels.clone());
        series.record(200, Duration::from_millis(3));
        series.record(200, Duration::from_millis(30));
        metrics
            .request_series(labels)
            .record(503, Duration::from_secs(60));
        metrics.reload(true);
        metrics.connect_error("default/b", "connection_refused");
        let text = metrics.render();
        assert!(text.contains(r#"agentgateway_requests_total{gateway="default/gw",route="default/r",backend="default/b",status="200"} 2"#), "{text}");
        assert!(text.contains(r#"status="503"} 1"#));
        assert!(text.contains(r#"le="0.005"} 1"#), "{text}");
        assert!(text.contains(r#"le="+Inf"} 3"#));
        assert!(text.contains(r#"agentgateway_config_reloads_total{result="success"} 1"#));
        assert!(text.contains(r#"reason="connection_refused"} 1"#));
    }

    #[test]
    fn renders_mcp_series_by_backend_method_target_and_tool() {
        let metrics = Metrics::default();
        let facts = crate::mcp_route::McpLogFacts {
            method: "tools/call".into(),
            target: "everything".into(),
            tool: "echo".into(),
            session: String::new(),
        };
        metrics.mcp_request("default/tools", &facts);
        metrics.mcp_request("default/tools", &facts);
        let text = metrics.render();
        assert!(text.contains(r#"agentgateway_mcp_requests_total{backend="default/tools",method="tools/call",target="everything",tool="echo"} 2"#), "{text}");
    }

    #[test]
    fn method_names_outside_the_specification_share_one_series() {
        let metrics = Metrics::default();
        for made_up in ["x/1", "x/2", "y"] {
            let facts = crate::mcp_route::McpLogFacts {
                method: made_up.into(),
                ..Default::default()
            };
            metrics.mcp_request("default/tools", &facts);
        }
        let text = metrics.render();
        assert!(
            text.contains(r#"method="other",target="",tool=""} 3"#),
            "{text}"
        );
        assert!(!text.contains("x/1"), "{text}");
    }
}
