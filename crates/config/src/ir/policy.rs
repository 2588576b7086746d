//! Traffic settings after merging every policy level, most specific last.

use std::sync::Arc;
use std::time::Duration;

use ::policy::apikey::ApiKeyAuthentication;
use ::policy::basic::BasicAuthentication;
use ::policy::cors::CorsPolicy;
use ::policy::jwt::{JwksHandle, JwtValidator};
use ::policy::ratelimit::{KeyedLimiter, Limiter};

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
    /// `traffic.cors`: preflights answered by the gateway, CORS headers on answers.
    pub cors: Option<Arc<CorsPolicy>>,
    /// `traffic.jwtAuthentication`.
    pub jwt: Option<Arc<JwtAuth>>,
    /// `traffic.apiKeyAuthentication`, and whether the key goes on to the backend.
    pub api_keys: Option<Arc<(ApiKeyAuthentication, bool)>>,
    /// `traffic.basicAuthentication`, and whether the credentials go on to the backend.
    pub basic: Option<Arc<(BasicAuthentication, bool)>>,
    /// `traffic.rateLimit.local`: every bucket must admit the request.
    pub local_limits: Vec<Arc<LocalLimit>>,
    /// `traffic.rateLimit.global`: buckets in Redis, shared by every replica.
    pub global_limits: Option<Arc<GlobalLimits>>,
    /// `traffic.rateLimit.global` with `backendRef`: an Envoy rate-limit service decides.
    pub rate_limit_service: Option<Arc<RateLimitService>>,
    /// `traffic.extAuth`: an Envoy ext_authz service asked about every request.
    pub ext_authz: Option<Arc<ExtAuthz>>,
    /// `traffic.authorization` rules of every level, least specific first: they accumulate.
    pub authorization: Vec<::policy::authorization::RuleSet>,
    /// The rules above, ready to evaluate (built once the levels are merged).
    pub authorizer: Option<Arc<::policy::authorization::Authorizer>>,
    /// `backend.mcp.authorization` rules of every level: they decide which tools, prompts
    /// and resources an MCP client sees and may use.
    pub mcp_authorization: Vec<::policy::authorization::RuleSet>,
    pub mcp_authorizer: Option<Arc<::policy::authorization::Authorizer>>,
}

impl TrafficSettings {
    /// Called once every level is applied: prepares what is evaluated per request.
    pub fn seal(&mut self) {
        self.authorizer = (!self.authorization.is_empty()).then(|| {
            Arc::new(::policy::authorization::Authorizer::new(
                self.authorization.clone(),
            ))
        });
        self.mcp_authorizer = (!self.mcp_authorization.is_empty()).then(|| {
            Arc::new(::policy::authorization::Authorizer::new(
                self.mcp_authorization.clone(),
            ))
        });
    }
}

/// An Envoy ext_authz service, over gRPC (v3) or plain HTTP.
#[derive(Debug)]
pub struct ExtAuthz {
    pub address: String,
    pub client: ExtAuthzClient,
    /// Let requests through when the service cannot be asked (`FailOpen`).
    pub fail_open: bool,
}

/// An Envoy rate-limit service (RLS v3) and the descriptors sent to it.
#[derive(Debug)]
pub struct RateLimitService {
    pub address: String,
    pub client: envoy_grpc::RateLimitClient,
    pub domain: String,
    pub descriptors: Vec<RlsDescriptor>,
}

/// One descriptor: entries whose values come from CEL over the request. A descriptor with
/// an entry that has no value for a request is not sent (as Envoy does).
#[derive(Debug)]
pub struct RlsDescriptor {
    pub entries: Vec<(String, ::policy::authorization::ValueExpression)>,
    pub unit: LimitUnit,
}

#[derive(Debug)]
pub enum ExtAuthzClient {
    Grpc(envoy_grpc::ExtAuthzClient),
    Http(envoy_grpc::HttpAuthzClient),
}

/// Buckets kept in Redis.
#[derive(Debug)]
pub struct GlobalLimits {
    pub address: String,
    pub limiter: redis_limit::RedisLimiter,
    pub entries: Vec<GlobalEntry>,
}

#[derive(Debug)]
pub struct GlobalEntry {
    /// Names the bucket in Redis (with the key's value, if any).
    pub id: String,
    pub unit: LimitUnit,
    pub limit: redis_limit::GlobalLimit,
    pub key: Option<LimitKey>,
}

/// JWT authentication and what a valid token passes on to the backend.
#[derive(Debug)]
pub struct JwtAuth {
    pub validator: JwtValidator,
    /// Claim (path) -> request header.
    pub claims_to_headers: Vec<(String, http::HeaderName)>,
    /// Keep the token on the request to the backend.
    pub forward_credential: bool,
}

/// One `rateLimit.local` entry: its buckets live as long as the configuration.
#[derive(Debug)]
pub struct LocalLimit {
    /// What the bucket counts.
    pub unit: LimitUnit,
    pub buckets: Buckets,
    /// Token budgets: streams that run past the budget are ended with an error event.
    pub cut_streams: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitUnit {
    Requests,
    /// LLM tokens: reserved at admission from the estimate, settled with the real usage.
    Tokens,
}

/// One bucket for everyone, or one per client.
#[derive(Debug)]
pub enum Buckets {
    Shared(Limiter),
    PerKey(KeyedLimiter, LimitKey),
}

/// What tells clients apart for a keyed limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitKey {
    Header(http::HeaderName),
    ClientIp,
    JwtClaim(String),
    ApiKeyId,
}

/// A JWKS fetched from a URL and refreshed in the background.
#[derive(Debug)]
pub struct RemoteJwks {
    pub url: String,
    pub target: crate::ir::backend::StaticBackend,
    pub path: String,
    pub refresh: Duration,
    /// Where fetched key sets go; the validator reads it.
    pub keys: JwksHandle,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts including the first.
    pub attempts: u32,
    /// Response codes that trigger another attempt (connect failures always do).
    pub codes: Vec<u16>,
    pub backoff: Duration,
}
