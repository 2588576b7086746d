//! `traffic` policy sections that decide about requests: CORS, JWT / API-key / basic
//! authentication and local rate limits, compiled into the `policy` crate's types so a bad
//! origin, key file or JWKS is a config error with its field path.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ::policy::apikey::{ApiKeyAuthentication, ApiKeys, CredentialLocation};
use ::policy::auth::AuthMode;
use ::policy::basic::{BasicAuthentication, BasicUsers};
use ::policy::cors::CorsPolicy;
use ::policy::jwt::{Jwks, JwksHandle, JwtProvider, JwtValidator};
use ::policy::ratelimit::{DEFAULT_MAX_KEYS, KeyedLimiter, Limit, Limiter};
use api::ResourceKind;
use api::policy::{AgentgatewayPolicy, Cors, JwtAuthentication, RateLimit, RateLimitUnit};

use crate::compile::Ctx;
use crate::compile::backend::duration;
use crate::compile::cloud_credentials::url_target;
use crate::compile::secrets::{ResolvedSecrets, SecretValues};
use crate::ir::policy::{
    Buckets, ExtAuthz, ExtAuthzClient, GlobalEntry, GlobalLimits, JwtAuth, LimitKey, LimitUnit,
    LocalLimit, RateLimitService, RemoteJwks, RlsDescriptor,
};
use crate::store::{Entry, ObjectKey};
use redis_limit::{FailureMode, GlobalLimit, RedisConfig, RedisLimiter};

type PolicyEntry = Entry<AgentgatewayPolicy>;

/// How often a remote JWKS is fetched again unless `cacheDuration` says otherwise.
const DEFAULT_JWKS_REFRESH: Duration = Duration::from_secs(300);

fn mode(mode: Option<api::policy::AuthMode>) -> AuthMode {
    match mode {
        Some(api::policy::AuthMode::Optional) => AuthMode::Optional,
        Some(api::policy::AuthMode::Permissive) => AuthMode::Permissive,
        Some(api::policy::AuthMode::Strict) | None => AuthMode::Strict,
    }
}

pub(crate) fn cors(ctx: &mut Ctx<'_>, entry: &PolicyEntry, cors: &Cors) -> Option<Arc<CorsPolicy>> {
    match CorsPolicy::new(
        &cors.allow_origins,
        &cors.allow_methods,
        &cors.allow_headers,
        &cors.expose_headers,
        cors.allow_credentials.unwrap_or(false),
        cors.max_age,
    ) {
        Ok(policy) => Some(Arc::new(policy)),
        Err(e) => {
            ctx.error(entry, "spec.traffic.cors", e.to_string(), "");
            None
        }
    }
}

/// JWT providers; remote key sets are registered in `remote` to be fetched by the proxy.
pub(crate) fn jwt(
    ctx: &mut Ctx<'_>,
    entry: &PolicyEntry,
    jwt: &JwtAuthentication,
    remote: &mut Vec<Arc<RemoteJwks>>,
) -> Option<Arc<JwtAuth>> {
    let mut providers = Vec::new();
    let mut ok = true;
    for (i, provider) in jwt.providers.iter().enumerate() {
        let path = format!("spec.traffic.jwtAuthentication.providers[{i}].jwks");
        let jwks = &provider.jwks;
        let keys = match (&jwks.inline, &jwks.remote, &jwks.file) {
            (Some(inline), None, None) => match Jwks::parse(inline) {
                Ok(jwks) => JwksHandle::new(jwks),
                Err(e) => {
                    ctx.error(entry, &format!("{path}.inline"), e.to_string(), "");
                    ok = false;
                    continue;
                }
            },
            (None, None, Some(file)) => {
                let parsed = std::fs::read_to_string(file)
                    .map_err(|e| format!("cannot read {file}: {e}"))
                    .and_then(|text| Jwks::parse(&text).map_err(|e| format!("{file}: {e}")));
                match parsed {
                    Ok(jwks) => JwksHandle::new(jwks),
                    Err(message) => {
                        ctx.error(entry, &format!("{path}.file"), message, "");
                        ok = false;
                        continue;
                    }
                }
            }
            (None, Some(source), None) => {
                let refresh = duration(
                    ctx,
                    entry,
                    &format!("{path}.remote.cacheDuration"),
                    source.cache_duration.as_deref(),
                    &mut ok,
                )
                .unwrap_or(DEFAULT_JWKS_REFRESH);
                let Some((target, url_path)) = url_target(&source.url) else {
                    ctx.error(
                        entry,
                        &format!("{path}.remote.url"),
                        format!("'{}' is not an http(s) URL", source.url),
                        "e.g. https://idp.example.com/.well-known/jwks.json",
                    );
                    ok = false;
                    continue;
                };
                let keys = JwksHandle::pending();
                remote.push(Arc::new(RemoteJwks {
                    url: source.url.clone(),
                    target,
                    path: url_path,
                    refresh,
                    keys: keys.clone(),
                }));
                keys
            }
            _ => {
                ctx.error(
                    entry,
                    &path,
                    "exactly one of `inline`, `file` or `remote` must be set",
                    "",
                );
                ok = false;
                continue;
            }
        };
        providers.push(JwtProvider::new(
            provider.issuer.clone(),
            provider.audiences.clone(),
            keys,
        ));
    }
    if !ok {
        return None;
    }
    let mut claims_to_headers = Vec::new();
    for (i, forward) in jwt.claims_to_headers.iter().enumerate() {
        match http::HeaderName::try_from(forward.header.as_str()) {
            Ok(header) => claims_to_headers.push((forward.claim.clone(), header)),
            Err(_) => {
                ctx.error(
                    entry,
                    &format!("spec.traffic.jwtAuthentication.claimsToHeaders[{i}].header"),
                    format!("'{}' is not a header name", forward.header),
                    "",
                );
                return None;
            }
        }
    }
    match JwtValidator::new(mode(jwt.mode), providers) {
        Ok(validator) => Some(Arc::new(JwtAuth {
            validator,
            claims_to_headers,
            forward_credential: jwt.forward_credential.unwrap_or(false),
        })),
        Err(e) => {
            ctx.error(
                entry,
                "spec.traffic.jwtAuthentication.providers",
                e.to_string(),
                "",
            );
            None
        }
    }
}

/// The Secret a policy names, or an error.
fn policy_secret<'s>(
    ctx: &mut Ctx<'_>,
    entry: &PolicyEntry,
    path: &str,
    name: &str,
    secrets: &'s ResolvedSecrets,
) -> Option<&'s SecretValues> {
    let key = ObjectKey::new(ResourceKind::Secret, &entry.key.namespace, name);
    let values = secrets.get(&key);
    if values.is_none() {
        ctx.error(
            entry,
            path,
            format!("Secret {}/{} does not exist", key.namespace, key.name),
            "",
        );
    }
    values
}

pub(crate) fn api_keys(
    ctx: &mut Ctx<'_>,
    entry: &PolicyEntry,
    auth: &api::policy::ApiKeyAuthentication,
    secrets: &ResolvedSecrets,
) -> Option<Arc<(ApiKeyAuthentication, bool)>> {
    let base = "spec.traffic.apiKeyAuthentication";
    let path = format!("{base}.secretRef.name");
    let values = policy_secret(ctx, entry, &path, &auth.secret_ref.name, secrets)?;
    let keys = ApiKeys::new(
        values
            .iter()
            .map(|(id, value)| (id.clone(), value.expose().to_string())),
    );
    let keys = match keys {
        Ok(keys) => keys,
        Err(e) => {
            ctx.error(entry, &path, e.to_string(), "each Secret entry: the key, `sha256:<hex>` of it, or JSON {\"key\"|\"keyHash\", \"metadata\"}");
            return None;
        }
    };
    let location = match &auth.location {
        None => Ok(CredentialLocation::default()),
        Some(l) => match (&l.header, &l.query_parameter, &l.cookie) {
            (Some(h), None, None) => CredentialLocation::header(&h.name, h.prefix.as_deref()),
            (None, Some(q), None) => CredentialLocation::query_parameter(q),
            (None, None, Some(c)) => CredentialLocation::cookie(c),
            _ => {
                ctx.error(
                    entry,
                    &format!("{base}.location"),
                    "exactly one of header, queryParameter or cookie must be set",
                    "",
                );
                return None;
            }
        },
    };
    match location {
        Ok(location) => Some(Arc::new((
            ApiKeyAuthentication::new(mode(auth.mode), location, keys),
            auth.forward_credential.unwrap_or(false),
        ))),
        Err(e) => {
            ctx.error(entry, &format!("{base}.location"), e.to_string(), "");
            None
        }
    }
}

pub(crate) fn basic(
    ctx: &mut Ctx<'_>,
    entry: &PolicyEntry,
    auth: &api::policy::BasicAuthentication,
    secrets: &ResolvedSecrets,
) -> Option<Arc<(BasicAuthentication, bool)>> {
    let path = "spec.traffic.basicAuthentication.secretRef.name";
    let values = policy_secret(ctx, entry, path, &auth.secret_ref.name, secrets)?;
    // The htpasswd file sits under `.htaccess` (as the docs name it) or `.htpasswd`, or is
    // the Secret's only key.
    let file = values
        .get(".htaccess")
        .or_else(|| values.get(".htpasswd"))
        .or_else(|| {
            (values.len() == 1)
                .then(|| values.values().next())
                .flatten()
        });
    let Some(file) = file else {
        ctx.error(
            entry,
            path,
            format!(
                "Secret {} holds no htpasswd file (key .htaccess or .htpasswd)",
                auth.secret_ref.name
            ),
            "kubectl create secret generic NAME --from-file=.htaccess=htpasswd",
        );
        return None;
    };
    match BasicUsers::new(file.expose()) {
        Ok(users) => Some(Arc::new((
            BasicAuthentication::new(mode(auth.mode), auth.realm.clone(), users),
            auth.forward_credential.unwrap_or(false),
        ))),
        Err(e) => {
            ctx.error(entry, path, e.to_string(), "create lines with htpasswd -B");
            None
        }
    }
}

/// One `rateLimit` bucket entry, checked: what it counts, its rate and capacity, its key.
struct BucketSpec {
    unit: LimitUnit,
    per_unit: u64,
    period: Duration,
    capacity: u64,
    key: Option<LimitKey>,
}

fn bucket_spec(
    ctx: &mut Ctx<'_>,
    entry: &PolicyEntry,
    path: &str,
    raw: &api::policy::LocalRateLimit,
) -> Option<BucketSpec> {
    let (unit, per_unit) = match (raw.requests, raw.tokens) {
        (Some(n), None) => (LimitUnit::Requests, n),
        (None, Some(n)) => (LimitUnit::Tokens, n),
        _ => {
            ctx.error(
                entry,
                path,
                "exactly one of `requests` or `tokens` must be set",
                "",
            );
            return None;
        }
    };
    let period = match raw.unit {
        RateLimitUnit::Seconds => Duration::from_secs(1),
        RateLimitUnit::Minutes => Duration::from_secs(60),
        RateLimitUnit::Hours => Duration::from_secs(3600),
    };
    let key = match &raw.key {
        Some(key) => Some(limit_key(ctx, entry, &format!("{path}.key"), key)?),
        None => None,
    };
    Some(BucketSpec {
        unit,
        per_unit,
        period,
        // The bucket holds one period's worth plus `burst`.
        capacity: per_unit.saturating_add(raw.burst.unwrap_or(0)),
        key,
    })
}

pub(crate) fn local_limits(
    ctx: &mut Ctx<'_>,
    entry: &PolicyEntry,
    limits: &RateLimit,
) -> Option<Vec<Arc<LocalLimit>>> {
    let mut out = Vec::new();
    let now = Instant::now();
    for (i, raw) in limits.local.iter().enumerate() {
        let path = format!("spec.traffic.rateLimit.local[{i}]");
        let spec = bucket_spec(ctx, entry, &path, raw)?;
        let limit = match Limit::new(spec.per_unit, spec.period, Some(spec.capacity)) {
            Ok(limit) => limit,
            Err(e) => {
                ctx.error(entry, &path, e.to_string(), "");
                return None;
            }
        };
        let buckets = match spec.key {
            None => Buckets::Shared(Limiter::new(limit, now)),
            Some(key) => Buckets::PerKey(KeyedLimiter::new(limit, DEFAULT_MAX_KEYS), key),
        };
        out.push(Arc::new(LocalLimit {
            unit: spec.unit,
            buckets,
            cut_streams: raw.cut_streams.unwrap_or(false),
        }));
    }
    Some(out)
}

/// `rateLimit.global` kept in Redis by the gateway. The Envoy rate-limit service protocol
/// (`backendRef`) is refused until it is served.
pub(crate) fn global_limits(
    ctx: &mut Ctx<'_>,
    entry: &PolicyEntry,
    global: &api::policy::GlobalRateLimit,
) -> Option<Arc<GlobalLimits>> {
    let base = "spec.traffic.rateLimit.global";
    let Some(redis) = &global.redis else {
        if global.backend_ref.is_none() {
            ctx.error(
                entry,
                base,
                "set `redis` (+ `limits`) or `backendRef` (+ `domain`, `descriptors`)",
                "",
            );
        }
        // The rate-limit service form is compiled by `rate_limit_service`.
        return None;
    };
    if global.backend_ref.is_some() {
        ctx.error(
            entry,
            base,
            "set either `redis` (+ `limits`) or `backendRef` (+ `domain`, `descriptors`), not both",
            "",
        );
        return None;
    }
    if global.limits.is_empty() {
        ctx.error(
            entry,
            &format!("{base}.limits"),
            "`redis` needs at least one entry in `limits`",
            "e.g. limits: [{requests: 100, unit: Minutes}]",
        );
        return None;
    }
    let mut entries = Vec::new();
    for (i, raw) in global.limits.iter().enumerate() {
        let path = format!("{base}.limits[{i}]");
        let spec = bucket_spec(ctx, entry, &path, raw)?;
        let limit = GlobalLimit {
            per_unit: spec.per_unit,
            unit: spec.period,
            capacity: spec.capacity,
        };
        if let Err(e) = limit.validate() {
            ctx.error(entry, &path, e.to_string(), "");
            return None;
        }
        entries.push(GlobalEntry {
            // Replicas with the same configuration share keys; the policy names the bucket.
            id: format!("{}/{}/{i}", entry.key.namespace, entry.key.name),
            unit: spec.unit,
            limit,
            key: spec.key,
        });
    }
    let defaults = RedisConfig::default();
    let limiter = RedisLimiter::new(RedisConfig {
        address: redis.address.clone(),
        key_prefix: redis
            .key_prefix
            .clone()
            .unwrap_or(defaults.key_prefix.clone()),
        failure_mode: match redis.failure_mode {
            Some(api::backend::FailureMode::FailClosed) => FailureMode::FailClosed,
            _ => FailureMode::FailOpen,
        },
        ..defaults
    });
    Some(Arc::new(GlobalLimits {
        address: redis.address.clone(),
        limiter,
        entries,
    }))
}

fn limit_key(
    ctx: &mut Ctx<'_>,
    entry: &PolicyEntry,
    path: &str,
    key: &api::policy::RateLimitKey,
) -> Option<LimitKey> {
    let chosen = [
        key.header.is_some(),
        key.client_ip.is_some(),
        key.jwt_claim.is_some(),
        key.api_key_id.is_some(),
    ];
    if chosen.iter().filter(|c| **c).count() != 1 {
        ctx.error(
            entry,
            path,
            "exactly one of header, clientIp, jwtClaim or apiKeyId must be set",
            "",
        );
        return None;
    }
    if let Some(name) = &key.header {
        return match http::HeaderName::try_from(name.as_str()) {
            Ok(name) => Some(LimitKey::Header(name)),
            Err(_) => {
                ctx.error(
                    entry,
                    &format!("{path}.header"),
                    format!("'{name}' is not a header name"),
                    "",
                );
                None
            }
        };
    }
    if let Some(claim) = &key.jwt_claim {
        return Some(LimitKey::JwtClaim(claim.clone()));
    }
    Some(if key.client_ip.is_some() {
        LimitKey::ClientIp
    } else {
        LimitKey::ApiKeyId
    })
}

/// How long one ext_authz check may take unless `timeout` says otherwise.
const DEFAULT_EXT_AUTHZ_TIMEOUT: Duration = Duration::from_secs(1);

/// `extAuth` in gRPC mode (Envoy ext_authz v3). The service is a `Service` reached by name
/// and port, or a `static` AgentgatewayBackend.
pub(crate) fn ext_authz(
    ctx: &mut Ctx<'_>,
    entry: &PolicyEntry,
    ext: &api::policy::ExtAuth,
) -> Option<Arc<ExtAuthz>> {
    let base = "spec.traffic.extAuth";
    if ext.http.is_some() == ext.grpc.is_some() {
        ctx.error(
            entry,
            base,
            "exactly one of `grpc` or `http` must be set",
            "grpc: {} for an Envoy ext_authz v3 service, http: {path: /auth} for a plain HTTP one",
        );
        return None;
    }
    let mut ok = true;
    let timeout = duration(
        ctx,
        entry,
        &format!("{base}.timeout"),
        ext.timeout.as_deref(),
        &mut ok,
    )
    .unwrap_or(DEFAULT_EXT_AUTHZ_TIMEOUT);
    let address = service_address(ctx, entry, &format!("{base}.backendRef"), &ext.backend_ref)?;
    if !ok {
        return None;
    }
    let client = match &ext.http {
        Some(http) => envoy_grpc::HttpAuthzClient::new(
            &address,
            http.path.clone().unwrap_or_default(),
            header_names(
                ctx,
                entry,
                &format!("{base}.http.allowedRequestHeaders"),
                &http.allowed_request_headers,
            )?,
            header_names(
                ctx,
                entry,
                &format!("{base}.http.allowedUpstreamHeaders"),
                &http.allowed_upstream_headers,
            )?,
            timeout,
        )
        .map(ExtAuthzClient::Http)
        .map_err(|e| e.to_string()),
        None => envoy_grpc::GrpcChannel::new(&address, timeout)
            .map(|channel| ExtAuthzClient::Grpc(envoy_grpc::ExtAuthzClient::new(channel)))
            .map_err(|e| e.to_string()),
    };
    match client {
        Ok(client) => Some(Arc::new(ExtAuthz {
            address,
            client,
            fail_open: ext.failure_mode == Some(api::backend::FailureMode::FailOpen),
        })),
        Err(e) => {
            ctx.error(entry, base, e, "");
            None
        }
    }
}

/// `host:port` of a service a policy calls: a `Service` (its name as a DNS host, with the
/// ref's port) or a `static` AgentgatewayBackend in the policy's namespace.
fn service_address(
    ctx: &mut Ctx<'_>,
    entry: &PolicyEntry,
    path: &str,
    r: &api::meta::BackendObjectRef,
) -> Option<String> {
    match r.kind.as_deref().unwrap_or("Service") {
        "Service" => match r.port {
            Some(port) => Some(format!("{}:{port}", r.name)),
            None => {
                ctx.error(
                    entry,
                    &format!("{path}.port"),
                    "a Service reference needs a port",
                    "add port: <number>",
                );
                None
            }
        },
        "AgentgatewayBackend" => {
            let key = ObjectKey::new(
                ResourceKind::AgentgatewayBackend,
                &entry.key.namespace,
                &r.name,
            );
            let found = ctx
                .store
                .backends
                .get(&key)
                .and_then(|b| b.resource.spec.static_backend.as_ref())
                .map(|s| format!("{}:{}", s.host, s.port));
            if found.is_none() {
                ctx.error(
                    entry,
                    &format!("{path}.name"),
                    format!(
                        "AgentgatewayBackend {}/{} does not exist or is not `static`",
                        key.namespace, key.name
                    ),
                    "",
                );
            }
            found
        }
        other => {
            ctx.error(
                entry,
                &format!("{path}.kind"),
                format!("{other} cannot be called as a service"),
                "use a Service or an AgentgatewayBackend",
            );
            None
        }
    }
}

/// How long one rate-limit service call may take.
const RLS_TIMEOUT: Duration = Duration::from_millis(500);

/// `rateLimit.global` with `backendRef`: the Envoy rate-limit service protocol, with
/// descriptor values from CEL.
pub(crate) fn rate_limit_service(
    ctx: &mut Ctx<'_>,
    entry: &PolicyEntry,
    global: &api::policy::GlobalRateLimit,
) -> Option<Arc<RateLimitService>> {
    let base = "spec.traffic.rateLimit.global";
    let backend_ref = global.backend_ref.as_ref()?;
    // Both forms at once is reported by `global_limits`.
    if global.redis.is_some() {
        return None;
    }
    let Some(domain) = global.domain.clone().filter(|d| !d.is_empty()) else {
        ctx.error(
            entry,
            &format!("{base}.domain"),
            "a rate-limit service needs the `domain` its limits are configured under",
            "",
        );
        return None;
    };
    if global.descriptors.is_empty() {
        ctx.error(
            entry,
            &format!("{base}.descriptors"),
            "at least one descriptor is needed",
            "e.g. descriptors: [{entries: [{name: user, expression: jwt.sub}]}]",
        );
        return None;
    }
    let mut descriptors = Vec::new();
    let mut ok = true;
    for (i, descriptor) in global.descriptors.iter().enumerate() {
        let mut entries = Vec::new();
        for (j, named) in descriptor.entries.iter().enumerate() {
            match ::policy::authorization::compile_value(&named.expression) {
                Ok(expression) => entries.push((named.name.clone(), expression)),
                Err(e) => {
                    ctx.error(
                        entry,
                        &format!("{base}.descriptors[{i}].entries[{j}].expression"),
                        e.to_string(),
                        "",
                    );
                    ok = false;
                }
            }
        }
        let unit = match descriptor.unit {
            Some(api::policy::DescriptorUnit::Tokens) => LimitUnit::Tokens,
            _ => LimitUnit::Requests,
        };
        descriptors.push(RlsDescriptor { entries, unit });
    }
    let address = service_address(ctx, entry, &format!("{base}.backendRef"), backend_ref)?;
    if !ok {
        return None;
    }
    match envoy_grpc::GrpcChannel::new(&address, RLS_TIMEOUT) {
        Ok(channel) => Some(Arc::new(RateLimitService {
            address,
            client: envoy_grpc::RateLimitClient::new(channel),
            domain,
            descriptors,
        })),
        Err(e) => {
            ctx.error(entry, &format!("{base}.backendRef"), e.to_string(), "");
            None
        }
    }
}

fn header_names(
    ctx: &mut Ctx<'_>,
    entry: &PolicyEntry,
    path: &str,
    names: &[String],
) -> Option<Vec<http::HeaderName>> {
    let mut out = Vec::new();
    for name in names {
        match http::HeaderName::try_from(name.as_str()) {
            Ok(header) => out.push(header),
            Err(_) => {
                ctx.error(entry, path, format!("'{name}' is not a header name"), "");
                return None;
            }
        }
    }
    Some(out)
}
