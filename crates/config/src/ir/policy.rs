//! Traffic settings after merging every policy level, most specific last.

use std::time::Duration;

use crate::ir::backend::BackendCredential;
use crate::ir::filters::HeaderOps;
use crate::ir::route::Timeouts;

#[derive(Debug, Clone, Default)]
pub struct TrafficSettings {
    pub timeouts: Timeouts,
    pub retry: Option<RetryPolicy>,
    /// From `traffic.headerModifiers`, applied after the route's own filters.
    pub request_headers: HeaderOps,
    pub response_headers: HeaderOps,
    /// From `backend.auth` of a policy; overrides the backend's own credential.
    pub credential: Option<BackendCredential>,
    /// From `backend.ai`: applied to LLM requests before they are checked and sent.
    pub ai: Option<std::sync::Arc<llm::policy::RequestPolicy>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts including the first.
    pub attempts: u32,
    /// Response codes that trigger another attempt (connect failures always do).
    pub codes: Vec<u16>,
    pub backoff: Duration,
}
