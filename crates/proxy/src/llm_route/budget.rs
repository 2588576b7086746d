//! LLM token budgets (`rateLimit.local` entries counting `tokens`): the estimated input plus
//! `max_tokens` is reserved before the provider is called, and the reservation is settled
//! with the provider's real usage when the answer (or stream) ends: unused tokens go back,
//! an overrun is taken (the bucket may go into debt, so the next requests wait).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use config::ir::policy::{Buckets, GlobalLimits, LocalLimit};
use http::header::HeaderValue;
use http::{Response, StatusCode};
use llm::Usage;
use policy::ratelimit::{Decision, Rejection, Reservation};

use crate::body::BoxBody;
use crate::error::ProxyError;
use crate::gen_ai_metrics::{GenAiLabels, SharedGenAiFacts};
use crate::llm_route::dialect::Dialect;
use crate::llm_route::json_response;
use crate::metrics::Metrics;

/// The token buckets a request must fit in, each with the key of its bucket; put on the
/// request by admission, read by the LLM route.
#[derive(Clone, Default)]
pub(crate) struct TokenBudgets(pub Vec<(Arc<LocalLimit>, String)>);

/// Tokens taken from every budget, to settle once the real usage is known, and the
/// estimated input they include (what a stream has used before its first token).
pub(crate) struct Reserved {
    taken: Vec<(Arc<LocalLimit>, String, Reservation)>,
    /// Tokens taken from buckets in Redis (shared by every replica).
    global: Vec<GlobalTaken>,
    input: u64,
    /// The tightest budget after the reservation (the fewest tokens left), reported in
    /// the answer's `x-ratelimit-*` headers.
    tightest: Option<Decision>,
}

/// The token buckets in Redis a request must fit in, with their Redis keys.
#[derive(Clone, Default)]
pub(crate) struct GlobalTokenBudgets(pub Vec<(Arc<GlobalLimits>, usize, String)>);

/// Tokens taken from one bucket in Redis.
struct GlobalTaken {
    limiter: redis_limit::RedisLimiter,
    key: String,
    limit: redis_limit::GlobalLimit,
    amount: u64,
}

/// A reservation waiting for the answer's usage; shared with the access-log facts so every
/// way an answer ends settles it once.
#[derive(Default)]
pub(crate) struct PendingBudget(Mutex<Option<Reserved>>);

impl std::fmt::Debug for PendingBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PendingBudget")
    }
}

/// Reserves the request's estimated tokens in every budget on it, local and in Redis. `Err`
/// is the client's 429 (in its API's shape) naming the budget and, when it can never fit,
/// why.
pub(crate) async fn reserve(
    parts: &http::request::Parts,
    client: Dialect,
    body: &[u8],
    metrics: &Metrics,
) -> Result<Option<Reserved>, Response<BoxBody>> {
    let local = parts.extensions.get::<TokenBudgets>();
    let global = parts.extensions.get::<GlobalTokenBudgets>();
    if local.is_none() && global.is_none() {
        return Ok(None);
    }
    let Ok(request) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Ok(None);
    };
    let api = client.api();
    let input = llm::tokens::estimate_request(api, &request);
    let estimate = input.saturating_add(llm::tokens::max_output(api, &request).unwrap_or(0));
    let now = Instant::now();
    let mut reserved = Reserved {
        taken: Vec::new(),
        global: Vec::new(),
        input,
        tightest: None,
    };
    for (limit, key) in local.map(|b| b.0.as_slice()).unwrap_or_default() {
        let result = match &limit.buckets {
            Buckets::Shared(bucket) => bucket.reserve(now, estimate),
            Buckets::PerKey(buckets, _) => buckets.reserve(key, now, estimate),
        };
        match result {
            Ok(reservation) => {
                reserved.report(reservation.decision());
                reserved
                    .taken
                    .push((limit.clone(), key.clone(), reservation));
            }
            Err(rejection) => {
                // What was already taken goes back: this request never runs.
                reserved.settle(0);
                return Err(refusal(client, estimate, &rejection));
            }
        }
    }
    for (limits, index, key) in global.map(|b| b.0.as_slice()).unwrap_or_default() {
        let Some(entry) = limits.entries.get(*index) else {
            continue;
        };
        match limits.limiter.check(key, &entry.limit, estimate).await {
            redis_limit::Outcome::Allowed { remaining, reset } => {
                reserved.report(Decision {
                    allowed: true,
                    limit: entry.limit.effective_capacity(),
                    remaining,
                    reset,
                    retry_after: None,
                });
                reserved.global.push(GlobalTaken {
                    limiter: limits.limiter.clone(),
                    key: key.clone(),
                    limit: entry.limit,
                    amount: estimate,
                });
            }
            redis_limit::Outcome::Limited {
                remaining,
                retry_after,
                ..
            } => {
                reserved.settle(0);
                let capacity = entry.limit.effective_capacity();
                let rejection = match retry_after {
                    None => Rejection::NeverFits {
                        needed: estimate,
                        capacity,
                    },
                    Some(wait) => Rejection::Limited(Decision {
                        allowed: false,
                        limit: capacity,
                        remaining,
                        reset: wait,
                        retry_after: Some(wait),
                    }),
                };
                return Err(refusal(client, estimate, &rejection));
            }
            // The failure mode decided; the limiter logged it.
            redis_limit::Outcome::Degraded { allowed: true, .. } => metrics.ratelimit_degraded(),
            redis_limit::Outcome::Degraded {
                allowed: false,
                error,
            } => {
                metrics.ratelimit_degraded();
                reserved.settle(0);
                let message = format!(
                    "the shared token budget cannot be checked ({error}) and the policy fails closed"
                );
                let body = match client {
                    Dialect::OpenAi => llm::error::openai_error(&message, "api_error", None, None),
                    Dialect::Anthropic => llm::error::anthropic_error("api_error", &message),
                };
                return Err(json_response(StatusCode::SERVICE_UNAVAILABLE, &body));
            }
        }
    }
    Ok(Some(reserved))
}

/// A provider's answer head and body, with the call's labels and facts.
type Sent = (
    http::response::Parts,
    BoxBody,
    GenAiLabels,
    SharedGenAiFacts,
);

impl Reserved {
    /// Keeps `decision` for the headers when it leaves fewer tokens than those seen so far.
    fn report(&mut self, decision: Decision) {
        if self
            .tightest
            .is_none_or(|tightest| decision.remaining < tightest.remaining)
        {
            self.tightest = Some(decision);
        }
    }

    /// Gives back what the request did not use, or takes what it used beyond the estimate.
    pub fn settle(self, actual: u64) {
        for taken in self.global {
            // Redis is asked in the background: settling must not hold up the answer.
            let delta = i64::try_from(taken.amount).unwrap_or(i64::MAX)
                - i64::try_from(actual).unwrap_or(i64::MAX);
            if delta != 0 {
                tokio::spawn(async move {
                    if let Err(error) = taken.limiter.adjust(&taken.key, &taken.limit, delta).await
                    {
                        tracing::debug!(%error, "could not settle a shared token budget");
                    }
                });
            }
        }
        let now = Instant::now();
        for (limit, key, reservation) in self.taken {
            match &limit.buckets {
                Buckets::Shared(bucket) => {
                    bucket.settle(now, reservation, actual);
                }
                Buckets::PerKey(buckets, _) => {
                    buckets.settle(&key, now, reservation, actual);
                }
            }
        }
    }
}

/// Keeps the reservation with the call's facts until the answer's usage is known; a call
/// that never reached the provider gives it all back.
pub(crate) fn after_send(
    sent: Result<Sent, ProxyError>,
    reserved: Option<Reserved>,
) -> Result<Sent, ProxyError> {
    match (sent, reserved) {
        (Err(error), Some(reserved)) => {
            reserved.settle(0);
            Err(error)
        }
        (Ok(mut sent), Some(reserved)) => {
            if let Some(tightest) = reserved.tightest {
                for (name, value) in tightest.headers() {
                    sent.0.headers.insert(name, value);
                }
            }
            let mut facts = sent.3.lock().unwrap_or_else(|p| p.into_inner());
            facts.budget = Some(Arc::new(PendingBudget(Mutex::new(Some(reserved)))));
            drop(facts);
            Ok(sent)
        }
        (sent, None) => sent,
    }
}

/// Settles the call's reservation with its usage (a failed call used nothing).
pub(crate) fn settle(facts: &SharedGenAiFacts, usage: Option<Usage>) {
    // Without a usage report the estimate stands: nothing is given back.
    if let (Some(reserved), Some(usage)) = (take_reserved(facts), usage) {
        reserved.settle(usage.input.saturating_add(usage.output));
    }
}

/// Settles the reservation of a stream that stopped before the provider ended it (the
/// client left, the provider broke off): the input as reported (or as estimated when the
/// provider has not said) plus what was streamed. Providers bill what they generated, and
/// they stop generating when the gateway closes the connection.
pub(crate) fn settle_unfinished(facts: &SharedGenAiFacts, usage: Option<Usage>, streamed: u64) {
    let Some(reserved) = take_reserved(facts) else {
        return;
    };
    let reported = usage.unwrap_or_default();
    let input = match reported.input {
        0 => reserved.input,
        n => n,
    };
    reserved.settle(input.saturating_add(reported.output.max(streamed)));
}

/// The call's reservation, once: whichever way the answer ends settles it.
fn take_reserved(facts: &SharedGenAiFacts) -> Option<Reserved> {
    let pending = facts
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .budget
        .take()?;
    pending.0.lock().unwrap_or_else(|p| p.into_inner()).take()
}

impl Reserved {
    /// Whether a budget that cuts streams is overrun once `output` tokens were streamed.
    fn overrun(&self, output: u64) -> bool {
        let now = Instant::now();
        let used = self.input.saturating_add(output);
        self.taken.iter().any(|(limit, key, reservation)| {
            limit.cut_streams
                && !match &limit.buckets {
                    Buckets::Shared(bucket) => bucket.may_continue(now, reservation, used),
                    Buckets::PerKey(buckets, _) => {
                        buckets.may_continue(key, now, reservation, used)
                    }
                }
        })
    }

    fn cuts_streams(&self) -> bool {
        self.taken.iter().any(|(limit, _, _)| limit.cut_streams)
    }
}

impl PendingBudget {
    /// Whether this stream has to be ended: it streamed `output` tokens past its budget.
    pub fn overrun(&self, output: u64) -> bool {
        let reserved = self.0.lock().unwrap_or_else(|p| p.into_inner());
        reserved.as_ref().is_some_and(|r| r.overrun(output))
    }
}

/// The reservation of a call whose budget cuts streams, for the stream to check as it goes.
pub(crate) fn stream_watch(facts: &SharedGenAiFacts) -> Option<Arc<PendingBudget>> {
    let facts = facts.lock().unwrap_or_else(|p| p.into_inner());
    let pending = facts.budget.as_ref()?;
    let cuts = pending
        .0
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .is_some_and(Reserved::cuts_streams);
    cuts.then(|| pending.clone())
}

/// Tokens of the answer text in client-format stream frames (chunk deltas, text and tool
/// argument deltas), estimated: what a stream has produced so far.
pub(crate) fn output_tokens(framed: &str) -> u64 {
    let mut decoder = llm::sse::SseDecoder::default();
    decoder
        .feed(framed.as_bytes())
        .iter()
        .map(|event| event_output_tokens(event.data.as_bytes()))
        .sum()
}

/// Tokens of the answer text in one event's data, OpenAI chunk or Anthropic event, estimated.
pub(crate) fn event_output_tokens(data: &[u8]) -> u64 {
    let Ok(data) = serde_json::from_slice::<serde_json::Value>(data) else {
        return 0;
    };
    let mut tokens = 0;
    for choice in data["choices"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let delta = &choice["delta"];
        for text in [&delta["content"], &delta["reasoning_content"]] {
            tokens += text.as_str().map_or(0, llm::tokens::estimate_text);
        }
        for call in delta["tool_calls"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            tokens += call["function"]["arguments"]
                .as_str()
                .map_or(0, llm::tokens::estimate_text);
        }
    }
    let delta = &data["delta"];
    for text in [&delta["text"], &delta["partial_json"], &delta["thinking"]] {
        tokens += text.as_str().map_or(0, llm::tokens::estimate_text);
    }
    tokens
}

fn refusal(client: Dialect, estimate: u64, rejection: &Rejection) -> Response<BoxBody> {
    let message = match rejection {
        Rejection::NeverFits { needed, capacity } => format!(
            "this request needs about {needed} tokens (estimated input plus max_tokens), more than the token budget can ever hold ({capacity}); lower max_tokens or shorten the prompt"
        ),
        Rejection::Limited(decision) => format!(
            "token budget exhausted: this request needs about {estimate} tokens and {} are left; retry after the Retry-After seconds",
            decision.remaining
        ),
    };
    let body = match client {
        Dialect::OpenAi => {
            llm::error::openai_error(&message, "tokens", None, Some("rate_limit_exceeded"))
        }
        Dialect::Anthropic => llm::error::anthropic_error("rate_limit_error", &message),
    };
    let mut response = json_response(StatusCode::TOO_MANY_REQUESTS, &body);
    if let Some(decision) = rejection.decision() {
        crate::admission::add_limit_headers(response.headers_mut(), decision);
    } else if let Rejection::NeverFits { capacity, .. } = rejection {
        let headers = response.headers_mut();
        headers.insert("x-ratelimit-limit", HeaderValue::from(*capacity));
        // Waiting cannot help; the OpenAI and Anthropic SDKs, which retry every 429 by
        // default, read this header and give up at once.
        headers.insert("x-should-retry", HeaderValue::from_static("false"));
    }
    response
}
