//! LLM metrics, named and labelled after the OpenTelemetry GenAI semantic conventions.
//! Recorded once per LLM call, under one short lock that finds the call's series.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use llm::Usage;

/// Token-count buckets recommended by the GenAI conventions (powers of 4).
const TOKEN_BUCKETS: [f64; 14] = [
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];
/// Duration buckets of the conventions, in seconds.
const SECOND_BUCKETS: [f64; 14] = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

/// What an LLM call was, for its access-log line. Shared between the LLM route (which fills
/// it in, at the end of a stream for streamed answers) and the access log (which reads it
/// when the response is done).
#[derive(Debug, Clone, Default)]
pub struct GenAiFacts {
    pub provider: &'static str,
    pub request_model: String,
    pub response_model: Option<String>,
    pub usage: Option<Usage>,
    /// How a streamed answer ended when that was not cleanly (the provider broke off or
    /// stopped early, a budget cut it): the access log's `outcome`, since the client's
    /// stream itself still ends cleanly, with an error event.
    pub stream_end: Option<&'static str>,
    /// Tokens reserved in token budgets, settled with `usage` when the answer ends.
    pub(crate) budget: Option<std::sync::Arc<crate::llm_route::budget::PendingBudget>>,
}

pub type SharedGenAiFacts = std::sync::Arc<Mutex<GenAiFacts>>;

/// Labels shared by every GenAI series.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct GenAiLabels {
    pub operation: &'static str,
    pub provider: &'static str,
    pub request_model: String,
    pub response_model: String,
    /// Why the call failed (the provider's status code, or how its stream ended), as the
    /// conventions' `error.type`; None for a call that succeeded.
    pub error_type: Option<String>,
}

impl GenAiLabels {
    /// The labels of the same call, failed for `reason`.
    pub fn failed(&self, reason: impl Into<String>) -> Self {
        Self {
            error_type: Some(reason.into()),
            ..self.clone()
        }
    }
}

#[derive(Debug, Clone)]
struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    fn observe(&mut self, value: f64) {
        if let Some(i) = self.bounds.iter().position(|b| value <= *b) {
            self.counts[i] += 1;
        }
        self.sum += value;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (bound, n) in self.bounds.iter().zip(&self.counts) {
            cumulative += n;
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

/// The histograms of one label set. A series gets only those its calls recorded: a
/// call that never streamed has no time to first token.
#[derive(Debug, Default)]
struct Series {
    /// Input and output tokens, once a call reported usage.
    tokens: Option<[Histogram; 2]>,
    duration: Option<Histogram>,
    first_token: Option<Histogram>,
}

/// All GenAI series behind one lock, so a call finds its series with one lookup.
#[derive(Debug, Default)]
pub struct GenAiMetrics {
    series: Mutex<BTreeMap<GenAiLabels, Series>>,
}

fn seconds_histogram() -> Histogram {
    Histogram::new(&SECOND_BUCKETS)
}

impl GenAiMetrics {
    /// Changes the series of `labels`, created on first use; the labels are copied only then.
    fn update(&self, labels: &GenAiLabels, change: impl FnOnce(&mut Series)) {
        let mut series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        match series.get_mut(labels) {
            Some(found) => change(found),
            None => change(series.entry(labels.clone()).or_default()),
        }
    }

    /// One finished call: its usage (when the provider reported it) and its duration.
    pub fn record(&self, labels: &GenAiLabels, usage: Option<Usage>, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        self.update(labels, |series| {
            if let Some(usage) = usage {
                let [input, output] = series.tokens.get_or_insert_with(|| {
                    [
                        Histogram::new(&TOKEN_BUCKETS),
                        Histogram::new(&TOKEN_BUCKETS),
                    ]
                });
                input.observe(usage.input as f64);
                output.observe(usage.output as f64);
            }
            series
                .duration
                .get_or_insert_with(seconds_histogram)
                .observe(seconds);
        });
    }

    pub fn first_token(&self, labels: &GenAiLabels, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        self.update(labels, |series| {
            series
                .first_token
                .get_or_insert_with(seconds_histogram)
                .observe(seconds);
        });
    }

    pub fn render(&self, out: &mut String) {
        let series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(
            out,
            "# HELP gen_ai_client_token_usage Tokens used per LLM call, by token type."
        );
        let _ = writeln!(out, "# TYPE gen_ai_client_token_usage histogram");
        for (labels, pair) in series
            .iter()
            .filter_map(|(l, s)| Some((l, s.tokens.as_ref()?)))
        {
            for (kind, h) in ["input", "output"].into_iter().zip(pair) {
                h.render(
                    out,
                    "gen_ai_client_token_usage",
                    &format!("{},gen_ai_token_type=\"{kind}\"", label_text(labels)),
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP gen_ai_server_request_duration LLM call duration in seconds, to the end of the response."
        );
        let _ = writeln!(out, "# TYPE gen_ai_server_request_duration histogram");
        for (labels, h) in series
            .iter()
            .filter_map(|(l, s)| Some((l, s.duration.as_ref()?)))
        {
            h.render(out, "gen_ai_server_request_duration", &label_text(labels));
        }
        let _ = writeln!(
            out,
            "# HELP gen_ai_server_time_to_first_token Seconds until the first streamed token."
        );
        let _ = writeln!(out, "# TYPE gen_ai_server_time_to_first_token histogram");
        for (labels, h) in series
            .iter()
            .filter_map(|(l, s)| Some((l, s.first_token.as_ref()?)))
        {
            h.render(
                out,
                "gen_ai_server_time_to_first_token",
                &label_text(labels),
            );
        }
    }
}

fn label_text(l: &GenAiLabels) -> String {
    let escape = |v: &str| {
        v.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    };
    let mut text = format!(
        "gen_ai_operation_name=\"{}\",gen_ai_provider_name=\"{}\",gen_ai_request_model=\"{}\",gen_ai_response_model=\"{}\"",
        l.operation,
        l.provider,
        escape(&l.request_model),
        escape(&l.response_model)
    );
    if let Some(error) = &l.error_type {
        let _ = write!(text, ",error_type=\"{}\"", escape(error));
    }
    text
}
