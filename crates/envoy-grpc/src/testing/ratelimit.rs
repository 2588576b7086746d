//! A test `envoy.service.ratelimit.v3.RateLimitService`: one fixed limit per descriptor.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;

use super::{Reply, ServerTask, serve};
use crate::SHOULD_RATE_LIMIT_PATH;
use crate::ratelimit_proto::{
    CODE_OK, CODE_OVER_LIMIT, DescriptorStatus, RateLimit, RateLimitRequest, RateLimitResponse,
};

/// `RateLimit.Unit.MINUTE`: the window the test service claims, for the reset time.
const UNIT_MINUTE: u32 = 2;
const WINDOW: Duration = Duration::from_secs(60);

/// One `ShouldRateLimit` call as the service received it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimitCall {
    pub domain: String,
    pub descriptors: Vec<Vec<(String, String)>>,
    /// `hits_addend` as sent (0 counts as 1).
    pub hits: u32,
}

type Key = (String, Vec<(String, String)>);

#[derive(Default)]
struct State {
    limit: u32,
    hits: HashMap<Key, u64>,
    calls: Vec<RateLimitCall>,
}

/// A running test rate limit service; stops when dropped.
///
/// It counts hits per (domain, descriptor) and never resets them. A descriptor is over
/// its limit once its count exceeds `limit_per_descriptor`; the call is `OVER_LIMIT` when
/// any of its descriptors is. Every answer carries the response headers
/// `x-ratelimit-limit` and `x-ratelimit-remaining` (the fewest left), a 60 s reset time,
/// and a request header `x-ratelimit-domain` to add.
pub struct RateLimitServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    _task: ServerTask,
}

impl RateLimitServer {
    pub async fn start(limit_per_descriptor: u32) -> Self {
        let state = Arc::new(Mutex::new(State {
            limit: limit_per_descriptor,
            ..State::default()
        }));
        let shared = state.clone();
        let (addr, task) = serve(move |path: String, message: Bytes| {
            let state = shared.clone();
            async move {
                if path != SHOULD_RATE_LIMIT_PATH {
                    return Reply::unimplemented(&path);
                }
                match RateLimitRequest::decode(&message) {
                    Ok(request) => Reply::Message(state.lock().unwrap().count(request).encode()),
                    Err(err) => Reply::Status {
                        code: super::INVALID_ARGUMENT,
                        message: format!("undecodable RateLimitRequest: {err}"),
                    },
                }
            }
        })
        .await;
        Self {
            addr,
            state,
            _task: task,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every call received so far, oldest first.
    pub fn calls(&self) -> Vec<RateLimitCall> {
        self.state.lock().unwrap().calls.clone()
    }

    /// The hits counted so far for one descriptor of `domain`.
    pub fn hits(&self, domain: &str, descriptor: &[(&str, &str)]) -> u64 {
        let key = (
            domain.to_owned(),
            descriptor
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        );
        self.state
            .lock()
            .unwrap()
            .hits
            .get(&key)
            .copied()
            .unwrap_or(0)
    }
}

impl State {
    fn count(&mut self, request: RateLimitRequest) -> RateLimitResponse {
        // The proto defines an absent (zero) hits_addend as one hit.
        let hits = u64::from(request.hits_addend.max(1));
        let mut response = RateLimitResponse {
            overall_code: CODE_OK,
            ..Default::default()
        };
        let mut fewest_left = u64::from(self.limit);
        for descriptor in &request.descriptors {
            let count = self
                .hits
                .entry((request.domain.clone(), descriptor.clone()))
                .or_insert(0);
            *count = count.saturating_add(hits);
            let left = u64::from(self.limit).saturating_sub(*count);
            fewest_left = fewest_left.min(left);
            let over = *count > u64::from(self.limit);
            if over {
                response.overall_code = CODE_OVER_LIMIT;
            }
            response.statuses.push(DescriptorStatus {
                code: if over { CODE_OVER_LIMIT } else { CODE_OK },
                current_limit: Some(RateLimit {
                    requests_per_unit: self.limit,
                    unit: UNIT_MINUTE,
                    name: String::new(),
                }),
                limit_remaining: u32::try_from(left).unwrap_or(u32::MAX),
                duration_until_reset: Some(WINDOW),
            });
        }
        response.response_headers_to_add = vec![
            ("x-ratelimit-limit".to_owned(), self.limit.to_string()),
            ("x-ratelimit-remaining".to_owned(), fewest_left.to_string()),
        ];
        response.request_headers_to_add =
            vec![("x-ratelimit-domain".to_owned(), request.domain.clone())];
        self.calls.push(RateLimitCall {
            domain: request.domain,
            descriptors: request.descriptors,
            hits: request.hits_addend,
        });
        response
    }
}
