//! `agentgateway.dev/v1alpha1` `AgentgatewayPolicy`.

use std::collections::BTreeMap;

use crate::backend::{BackendAuth, FailureMode};
use crate::meta::{BackendObjectRef, HeaderModifier, LocalSecretRef, ObjectMeta};

api_struct! {
    /// Policies attached to Gateways, listeners, routes, rules or backends via `targetRefs`.
    pub struct AgentgatewayPolicy {
        pub api_version: String,
        pub kind: String,
        pub metadata: ObjectMeta,
        pub spec: PolicySpec,
        #[serde(default)]
        #[schemars(skip)]
        pub status: Option<serde_json::Value>,
    }
}

api_struct! {
    pub struct PolicySpec {
        /// 1..16 targets, all of one kind.
        #[serde(default)]
        pub target_refs: Vec<PolicyTargetRef>,
        /// Gateway-level settings (Gateway targets only).
        #[serde(default)]
        pub frontend: Option<FrontendPolicy>,
        #[serde(default)]
        pub traffic: Option<TrafficPolicy>,
        #[serde(default)]
        pub backend: Option<BackendPolicy>,
    }
}

api_struct! {
    pub struct PolicyTargetRef {
        #[serde(default)]
        pub group: Option<String>,
        pub kind: String,
        pub name: String,
        /// A listener, rule or provider name inside the target.
        #[serde(default)]
        pub section_name: Option<String>,
    }
}

api_struct! {
    pub struct FrontendPolicy {
        #[serde(default)]
        pub access_log: Option<AccessLogPolicy>,
        #[serde(default)]
        pub tracing: Option<TracingPolicy>,
    }
}

api_struct! {
    pub struct AccessLogPolicy {
        /// CEL expression; only requests for which it is true are logged.
        #[serde(default)]
        pub filter: Option<String>,
        #[serde(default)]
        pub attributes: Option<LogAttributes>,
    }
}

api_struct! {
    pub struct LogAttributes {
        #[serde(default)]
        pub add: Vec<NamedExpression>,
        #[serde(default)]
        pub remove: Vec<String>,
    }
}

api_struct! {
    pub struct NamedExpression {
        pub name: String,
        pub expression: String,
    }
}

api_struct! {
    pub struct TracingPolicy {
        pub url: String,
        #[serde(default)]
        pub random_sampling: Option<String>,
    }
}

api_struct! {
    pub struct TrafficPolicy {
        #[serde(default)]
        pub rate_limit: Option<RateLimit>,
        #[serde(default)]
        pub cors: Option<Cors>,
        #[serde(default)]
        pub jwt_authentication: Option<JwtAuthentication>,
        #[serde(default)]
        pub api_key_authentication: Option<ApiKeyAuthentication>,
        #[serde(default)]
        pub basic_authentication: Option<BasicAuthentication>,
        #[serde(default)]
        pub authorization: Option<Authorization>,
        #[serde(default)]
        pub ext_auth: Option<ExtAuth>,
        #[serde(default)]
        pub ext_proc: Option<ExtProc>,
        #[serde(default)]
        pub timeouts: Option<Timeouts>,
        #[serde(default)]
        pub retry: Option<Retry>,
        #[serde(default)]
        pub header_modifiers: Option<HeaderModifiers>,
    }
}

api_struct! {
    pub struct RateLimit {
        #[serde(default)]
        pub local: Vec<LocalRateLimit>,
        #[serde(default)]
        pub global: Option<GlobalRateLimit>,
    }
}

api_enum! {
    pub enum RateLimitUnit { Seconds, Minutes, Hours }
}

api_struct! {
    /// A token bucket: `requests` or `tokens` per `unit`, plus `burst`.
    pub struct LocalRateLimit {
        #[serde(default)]
        pub requests: Option<u64>,
        #[serde(default)]
        pub tokens: Option<u64>,
        pub unit: RateLimitUnit,
        /// Added to the refill amount to make the bucket's capacity (default 0).
        #[serde(default)]
        pub burst: Option<u64>,
        /// Gives each client its own bucket (memory is bounded: idle buckets are dropped);
        /// without it the policy has one bucket for everyone.
        #[serde(default)]
        pub key: Option<RateLimitKey>,
        /// Token budgets only: end a streamed answer with an error event once it has used
        /// more than it reserved plus what the bucket has left (default false: the overrun
        /// is charged afterwards).
        #[serde(default)]
        pub cut_streams: Option<bool>,
    }
}

api_struct! {
    /// Exactly one selector. Requests without the value share one bucket of their own.
    pub struct RateLimitKey {
        /// The value of this request header.
        #[serde(default)]
        pub header: Option<String>,
        /// The client's IP address (the TCP peer).
        #[serde(default)]
        pub client_ip: Option<crate::backend::Empty>,
        /// A claim of the validated JWT, e.g. `sub` or `org.id`.
        #[serde(default)]
        pub jwt_claim: Option<String>,
        /// The id (Secret key name) of the API key the request authenticated with.
        #[serde(default)]
        pub api_key_id: Option<crate::backend::Empty>,
    }
}

api_struct! {
    /// Limits shared by every replica: kept in Redis by the gateway itself (`redis` +
    /// `limits`), or asked of an Envoy rate-limit service (`backendRef` + `domain` +
    /// `descriptors`).
    pub struct GlobalRateLimit {
        #[serde(default)]
        pub backend_ref: Option<BackendObjectRef>,
        #[serde(default)]
        pub domain: Option<String>,
        #[serde(default)]
        pub descriptors: Vec<RateLimitDescriptor>,
        #[serde(default)]
        pub redis: Option<RedisRateLimit>,
        /// With `redis`: the buckets, as for `local` (each with its own optional key).
        #[serde(default)]
        pub limits: Vec<LocalRateLimit>,
    }
}

api_struct! {
    pub struct RedisRateLimit {
        /// `host:port` of the Redis server every replica uses.
        pub address: String,
        /// What happens while Redis cannot be reached (default `FailOpen`: traffic flows,
        /// unlimited, and `agentgateway_ratelimit_degraded_total` counts it).
        #[serde(default)]
        pub failure_mode: Option<crate::backend::FailureMode>,
        /// Prefix of the Redis keys (default `agentgateway:ratelimit:`).
        #[serde(default)]
        pub key_prefix: Option<String>,
    }
}

api_enum! {
    pub enum DescriptorUnit { Requests, Tokens }
}

api_struct! {
    pub struct RateLimitDescriptor {
        pub entries: Vec<NamedExpression>,
        #[serde(default)]
        pub unit: Option<DescriptorUnit>,
    }
}

api_struct! {
    /// Gateway API `HTTPCORSFilter` shape.
    pub struct Cors {
        #[serde(default)]
        pub allow_origins: Vec<String>,
        #[serde(default)]
        pub allow_methods: Vec<String>,
        #[serde(default)]
        pub allow_headers: Vec<String>,
        #[serde(default)]
        pub expose_headers: Vec<String>,
        #[serde(default)]
        pub allow_credentials: Option<bool>,
        #[serde(default)]
        pub max_age: Option<u32>,
    }
}

api_enum! {
    /// `Strict` requires valid credentials, `Optional` validates them when present,
    /// `Permissive` never rejects.
    pub enum AuthMode { Strict, Optional, Permissive }
}

api_struct! {
    pub struct JwtAuthentication {
        #[serde(default)]
        pub mode: Option<AuthMode>,
        pub providers: Vec<JwtProvider>,
        /// Claims of a valid token copied into request headers for the backend.
        #[serde(default)]
        pub claims_to_headers: Vec<ClaimToHeader>,
        /// Keep the token on the request to the backend (default: it is removed).
        #[serde(default)]
        pub forward_credential: Option<bool>,
    }
}

api_struct! {
    pub struct ClaimToHeader {
        /// A claim name, or a dotted path into nested claims (`org.id`).
        pub claim: String,
        pub header: String,
    }
}

api_struct! {
    pub struct JwtProvider {
        pub issuer: String,
        #[serde(default)]
        pub audiences: Vec<String>,
        pub jwks: Jwks,
    }
}

api_struct! {
    pub struct Jwks {
        #[serde(default)]
        pub remote: Option<RemoteJwks>,
        /// The JWKS JSON document as a string.
        #[serde(default)]
        pub inline: Option<String>,
        /// A file holding the JWKS JSON document, read when the configuration is loaded.
        #[serde(default)]
        pub file: Option<String>,
    }
}

api_struct! {
    pub struct RemoteJwks {
        pub url: String,
        #[serde(default)]
        pub cache_duration: Option<String>,
    }
}

api_struct! {
    pub struct ApiKeyAuthentication {
        #[serde(default)]
        pub mode: Option<AuthMode>,
        pub secret_ref: LocalSecretRef,
        #[serde(default)]
        pub location: Option<CredentialLocation>,
        /// Keep the key on the request to the backend (default: it is removed).
        #[serde(default)]
        pub forward_credential: Option<bool>,
    }
}

api_struct! {
    /// Where the credential is read from: a header (with an optional prefix such as `Bearer `),
    /// a query parameter or a cookie.
    pub struct CredentialLocation {
        #[serde(default)]
        pub header: Option<HeaderLocation>,
        #[serde(default)]
        pub query_parameter: Option<String>,
        #[serde(default)]
        pub cookie: Option<String>,
    }
}

api_struct! {
    pub struct HeaderLocation {
        pub name: String,
        #[serde(default)]
        pub prefix: Option<String>,
    }
}

api_struct! {
    pub struct BasicAuthentication {
        #[serde(default)]
        pub mode: Option<AuthMode>,
        #[serde(default)]
        pub realm: Option<String>,
        pub secret_ref: LocalSecretRef,
        /// Keep the credentials on the request to the backend (default: they are removed).
        #[serde(default)]
        pub forward_credential: Option<bool>,
    }
}

api_enum! {
    pub enum AuthorizationAction { Allow, Deny, Require }
}

api_struct! {
    pub struct Authorization {
        pub policy: AuthorizationPolicy,
        #[serde(default)]
        pub action: Option<AuthorizationAction>,
    }
}

api_struct! {
    pub struct AuthorizationPolicy {
        /// CEL expressions.
        pub match_expressions: Vec<String>,
    }
}

api_struct! {
    pub struct ExtAuth {
        pub backend_ref: BackendObjectRef,
        #[serde(default)]
        pub grpc: Option<crate::backend::Empty>,
        #[serde(default)]
        pub http: Option<ExtAuthHttp>,
        /// What happens when the authorization service cannot be reached or fails
        /// (default `FailClosed`: the request is refused with 403).
        #[serde(default)]
        pub failure_mode: Option<FailureMode>,
        /// Deadline of one check (default 1s).
        #[serde(default)]
        pub timeout: Option<String>,
    }
}

api_struct! {
    pub struct ExtAuthHttp {
        #[serde(default)]
        pub path: Option<String>,
        /// Client request headers sent to the service besides authorization, cookie,
        /// x-forwarded-for and x-request-id.
        #[serde(default)]
        pub allowed_request_headers: Vec<String>,
        /// Headers of the service's 200 answer copied onto the request to the backend.
        #[serde(default)]
        pub allowed_upstream_headers: Vec<String>,
    }
}

api_struct! {
    pub struct ExtProc {
        pub backend_ref: BackendObjectRef,
        #[serde(default)]
        pub failure_mode: Option<FailureMode>,
        #[serde(default)]
        pub processing_options: Option<ProcessingOptions>,
    }
}

api_enum! {
    pub enum HeaderSendMode { Send, Skip }
}

api_enum! {
    pub enum BodySendMode { None, Streamed, Buffered, BufferedPartial, FullDuplexStreamed }
}

api_struct! {
    pub struct ProcessingOptions {
        #[serde(default)]
        pub request_header_mode: Option<HeaderSendMode>,
        #[serde(default)]
        pub request_body_mode: Option<BodySendMode>,
        #[serde(default)]
        pub response_header_mode: Option<HeaderSendMode>,
        #[serde(default)]
        pub response_body_mode: Option<BodySendMode>,
        #[serde(default)]
        pub allow_mode_override: Option<bool>,
    }
}

api_struct! {
    pub struct Timeouts {
        /// Deadline for the whole exchange up to the response headers.
        #[serde(default)]
        pub request: Option<String>,
        /// Deadline for one attempt to one backend.
        #[serde(default)]
        pub backend_request: Option<String>,
    }
}

api_struct! {
    pub struct Retry {
        /// Total attempts including the first (at least 1).
        pub attempts: u32,
        /// Response codes that are retried; connect errors always are.
        #[serde(default)]
        pub codes: Vec<u16>,
        /// Wait between attempts.
        #[serde(default)]
        pub backoff: Option<String>,
    }
}

api_struct! {
    pub struct HeaderModifiers {
        #[serde(default)]
        pub request: Option<HeaderModifier>,
        #[serde(default)]
        pub response: Option<HeaderModifier>,
    }
}

api_struct! {
    pub struct BackendPolicy {
        #[serde(default)]
        pub ai: Option<AiPolicy>,
        #[serde(default)]
        pub mcp: Option<McpPolicy>,
        #[serde(default)]
        pub auth: Option<BackendAuth>,
    }
}

api_struct! {
    pub struct AiPolicy {
        #[serde(default)]
        pub model_aliases: BTreeMap<String, String>,
        #[serde(default)]
        pub defaults: Vec<FieldValue>,
        #[serde(default)]
        pub overrides: Vec<FieldValue>,
        #[serde(default)]
        pub prompt: Option<PromptEnrichment>,
        #[serde(default)]
        pub prompt_guard: Option<PromptGuard>,
        /// Path suffix -> `Completions | Messages | Models | Embeddings | Passthrough`.
        #[serde(default)]
        pub routes: BTreeMap<String, String>,
    }
}

api_struct! {
    pub struct FieldValue {
        pub field: String,
        /// A JSON value written as a string (`"0.2"`, `"true"`, `"\"text\""`).
        pub value: String,
    }
}

api_struct! {
    pub struct PromptEnrichment {
        #[serde(default)]
        pub prepend: Vec<PromptMessage>,
        #[serde(default)]
        pub append: Vec<PromptMessage>,
    }
}

api_struct! {
    pub struct PromptMessage {
        pub role: String,
        pub content: String,
    }
}

api_struct! {
    pub struct PromptGuard {
        #[serde(default)]
        pub request: Vec<PromptGuardRule>,
        #[serde(default)]
        pub response: Vec<PromptGuardRule>,
    }
}

api_struct! {
    pub struct PromptGuardRule {
        #[serde(default)]
        pub regex: Option<RegexGuard>,
        #[serde(default)]
        pub response: Option<GuardResponse>,
    }
}

api_enum! {
    pub enum GuardAction { Reject, Mask }
}

api_enum! {
    pub enum BuiltinDetector { CreditCard, Email, Ssn, PhoneNumber }
}

api_struct! {
    pub struct RegexGuard {
        #[serde(default)]
        pub action: Option<GuardAction>,
        #[serde(default)]
        pub matches: Vec<String>,
        #[serde(default)]
        pub builtins: Vec<BuiltinDetector>,
    }
}

api_struct! {
    pub struct GuardResponse {
        #[serde(default)]
        pub message: Option<String>,
        #[serde(default)]
        pub status_code: Option<u16>,
    }
}

api_struct! {
    pub struct McpPolicy {
        #[serde(default)]
        pub authorization: Option<Authorization>,
    }
}
