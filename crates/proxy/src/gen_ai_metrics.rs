//! LLM metrics, named and labelled after the OpenTelemetry GenAI semantic conventions.
//! Recorded once per LLM call (calls take hundreds of milliseconds, so the short lock that
//! finds a series is noise next to them).

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

#[derive(Debug, Default)]
pub struct GenAiMetrics {
    /// Input and output token histograms of each series.
    tokens: Mutex<BTreeMap<GenAiLabels, [Histogram; 2]>>,
    duration: Mutex<BTreeMap<GenAiLabels, Histogram>>,
    first_token: Mutex<BTreeMap<GenAiLabels, Histogram>>,
}

fn seconds_histogram() -> Histogram {
    Histogram::new(&SECOND_BUCKETS)
}

/// Updates the series of `labels`, created on first use; the labels are copied only then.
fn update<T>(
    map: &mut BTreeMap<GenAiLabels, T>,
    labels: &GenAiLabels,
    new: impl FnOnce() -> T,
    change: impl FnOnce(&mut T),
) {
    if !map.contains_key(labels) {
        map.insert(labels.clone(), new());
    }
    if let Some(series) = map.get_mut(labels) {
        change(series);
    }
}

impl GenAiMetrics {
    /// One finished call: its usage (when the provider reported it) and its duration.
    pub fn record(&self, labels: &GenAiLabels, usage: Option<Usage>, elapsed: Duration) {
        if let Some(usage) = usage {
            let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
            let pair = || {
                [
                    Histogram::new(&TOKEN_BUCKETS),
                    Histogram::new(&TOKEN_BUCKETS),
                ]
            };
            update(&mut tokens, labels, pair, |[input, output]| {
                input.observe(usage.input as f64);
                output.observe(usage.output as f64);
            });
        }
        let mut duration = self.duration.lock().unwrap_or_else(|p| p.into_inner());
        let seconds = elapsed.as_secs_f64();
        update(&mut duration, labels, seconds_histogram, |h| {
            h.observe(seconds)
        });
    }

    pub fn first_token(&self, labels: &GenAiLabels, elapsed: Duration) {
        let mut first = self.first_token.lock().unwrap_or_else(|p| p.into_inner());
        let seconds = elapsed.as_secs_f64();
        update(&mut first, labels, seconds_histogram, |h| {
            h.observe(seconds)
        });
    }

    pub fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP gen_ai_client_token_usage Tokens used per LLM call, by token type."
        );
        let _ = writeln!(out, "# TYPE gen_ai_client_token_usage histogram");
        for (labels, pair) in self.tokens.lock().unwrap_or_else(|p| p.into_inner()).iter() {
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
        for (labels, h) in self
            .duration
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            h.render(out, "gen_ai_server_request_duration", &label_text(labels));
        }
        let _ = writeln!(
            out,
            "# HELP gen_ai_server_time_to_first_token Seconds until the first streamed token."
        );
        let _ = writeln!(out, "# TYPE gen_ai_server_time_to_first_token histogram");
        for (labels, h) in self
            .first_token
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
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
    format!(
        "gen_ai_operation_name=\"{}\",gen_ai_provider_name=\"{}\",gen_ai_request_model=\"{}\",gen_ai_response_model=\"{}\"",
        l.operation,
        l.provider,
        escape(&l.request_model),
        escape(&l.response_model)
    )
}
