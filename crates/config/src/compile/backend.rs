//! AgentgatewayBackend -> Backend.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use api::ResourceKind;
use api::backend::{
    AgentgatewayBackend, AiBackend as RawAiBackend, BackendAuth, BackendPolicies, BackendTls,
    LlmProvider, StaticBackend as RawStatic,
};

use crate::compile::secrets::ResolvedSecrets;
use crate::compile::tls::ca_bundle;
use crate::compile::{Ctx, cloud_credentials};
use crate::duration::parse_duration;
use crate::ir::backend::{
    AiBackend, AiGroups, AiProvider, AzureSettings, Backend, BackendCredential, BackendKind,
    BedrockSettings, Endpoint, NamedProvider, StaticBackend, UpstreamTls, VertexSettings,
};
use crate::status::Condition;
use crate::store::{Entry, ObjectKey};

/// Used when `policies.tcp.connectTimeout` is not set.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) fn compile_all(
    ctx: &mut Ctx<'_>,
    secrets: &ResolvedSecrets,
) -> BTreeMap<ObjectKey, Arc<Backend>> {
    let mut out = BTreeMap::new();
    for entry in ctx.store.backends.values() {
        if let Some(backend) = compile_backend(ctx, entry, secrets) {
            out.insert(entry.key.clone(), Arc::new(backend));
        }
    }
    out
}

fn compile_backend(
    ctx: &mut Ctx<'_>,
    entry: &Entry<AgentgatewayBackend>,
    secrets: &ResolvedSecrets,
) -> Option<Backend> {
    let spec = &entry.resource.spec;
    let set = [
        spec.static_backend.is_some(),
        spec.ai.is_some(),
        spec.mcp.is_some(),
    ];
    if set.iter().filter(|s| **s).count() != 1 {
        ctx.error(
            entry,
            "spec",
            "exactly one of `static`, `ai` or `mcp` must be set",
            "keep the one this backend is for",
        );
        return None;
    }
    let no_policies = BackendPolicies {
        auth: None,
        tls: None,
        http: None,
        tcp: None,
    };
    let policies = spec.policies.as_ref().unwrap_or(&no_policies);
    let credential = policies.auth.as_ref().and_then(|auth| {
        credential(
            ctx,
            entry,
            "spec.policies.auth",
            auth,
            secrets,
            spec.static_backend.is_some(),
        )
    });
    let kind = if let Some(raw) = &spec.static_backend {
        BackendKind::Static(Box::new(static_backend(
            ctx,
            entry,
            Fields {
                connection: "spec.static",
                policies: TOP_POLICIES,
            },
            raw,
            policies,
            secrets,
            credential,
        )?))
    } else if let Some(ai) = &spec.ai {
        check_ai(ctx, entry, ai, secrets);
        match ai_kind(ctx, entry, ai, policies, secrets, credential) {
            Served::Yes(kind) => kind,
            Served::Invalid => return None,
        }
    } else if let Some(mcp) = &spec.mcp {
        super::mcp_backend::check(ctx, entry, mcp);
        BackendKind::Mcp(Box::new(super::mcp_backend::compile(
            ctx, entry, mcp, policies, secrets, credential,
        )?))
    } else {
        return None;
    };
    let accepted = match kind {
        BackendKind::Static(_) => Some("static backend"),
        BackendKind::Mcp(_) => Some("MCP backend"),
        _ => None,
    };
    if let Some(message) = accepted {
        ctx.condition(&entry.key, Condition::ok("Accepted", "Accepted", message));
    }
    Some(Backend::new(entry.key.clone(), kind))
}

/// Where in a backend's spec a connection's fields and its policies are written, for the
/// paths (and so the lines) of its errors: a group's provider has its own of both.
#[derive(Clone, Copy)]
pub(super) struct Fields<'a> {
    /// The host and port, e.g. `spec.static`.
    pub connection: &'a str,
    /// The policies in force, e.g. `spec.policies`.
    pub policies: &'a str,
}

pub(super) const TOP_POLICIES: &str = "spec.policies";

pub(super) fn static_backend(
    ctx: &mut Ctx<'_>,
    entry: &Entry<AgentgatewayBackend>,
    fields: Fields<'_>,
    raw: &RawStatic,
    policies: &BackendPolicies,
    secrets: &ResolvedSecrets,
    credential: Option<BackendCredential>,
) -> Option<StaticBackend> {
    let field = fields.connection;
    let mut ok = true;
    if raw.host.trim().is_empty() || raw.host.contains('/') || raw.host.contains(' ') {
        ctx.error(
            entry,
            &format!("{field}.host"),
            format!("'{}' is not a host name or IP address", raw.host),
            "write just the host, e.g. api.example.com (no scheme or path)",
        );
        ok = false;
    }
    if raw.port == 0 {
        ctx.error(entry, &format!("{field}.port"), "port must be 1..65535", "");
        ok = false;
    }
    let tls = policies
        .tls
        .as_ref()
        .map(|tls| upstream_tls(ctx, entry, fields.policies, tls, secrets, &mut ok));
    let connect_timeout = duration(
        ctx,
        entry,
        &format!("{}.tcp.connectTimeout", fields.policies),
        policies
            .tcp
            .as_ref()
            .and_then(|t| t.connect_timeout.as_deref()),
        &mut ok,
    )
    .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    let request_timeout = duration(
        ctx,
        entry,
        &format!("{}.http.requestTimeout", fields.policies),
        policies
            .http
            .as_ref()
            .and_then(|h| h.request_timeout.as_deref()),
        &mut ok,
    );
    let http2 =
        policies.http.as_ref().and_then(|h| h.version) == Some(api::backend::HttpVersion::HTTP2);
    let host = raw.host.trim().to_string();
    let endpoint = match Endpoint::new(&host, raw.port, tls.is_some()) {
        Ok(e) => e,
        Err(e) => {
            if ok {
                ctx.error(
                    entry,
                    &format!("{field}.host"),
                    e.to_string(),
                    "write just the host, e.g. api.example.com (no scheme or path)",
                );
            }
            return None;
        }
    };
    ok.then_some(StaticBackend {
        host,
        port: raw.port,
        tls,
        http2,
        connect_timeout,
        request_timeout,
        credential,
        endpoint,
    })
}

enum Served {
    Yes(BackendKind),
    Invalid,
}

/// The provider kinds this build serves, with the model the backend pins.
fn served_provider(p: &LlmProvider) -> Option<(AiProvider, Option<String>)> {
    if p.provider_count() != 1 {
        return None;
    }
    if let Some(o) = &p.openai {
        return Some((AiProvider::OpenAi, o.model.clone()));
    }
    if let Some(a) = &p.anthropic {
        return Some((AiProvider::Anthropic, a.model.clone()));
    }
    if p.azureopenai.is_some() {
        return Some((AiProvider::AzureOpenAi, None));
    }
    if let Some(g) = &p.gemini {
        return Some((AiProvider::Gemini, g.model.clone()));
    }
    if let Some(v) = &p.vertexai {
        return Some((AiProvider::VertexAi, v.model.clone()));
    }
    p.bedrock
        .as_ref()
        .map(|b| (AiProvider::Bedrock, b.model.clone()))
}

/// The Vertex AI location used when a backend names none.
const VERTEX_REGION: &str = "global";

/// The API version used when an Azure backend names none.
const AZURE_API_VERSION: &str = "2024-10-21";

/// `spec.ai`: one provider, or priority groups of them (served when every provider is).
fn ai_kind(
    ctx: &mut Ctx<'_>,
    entry: &Entry<AgentgatewayBackend>,
    ai: &RawAiBackend,
    policies: &BackendPolicies,
    secrets: &ResolvedSecrets,
    credential: Option<BackendCredential>,
) -> Served {
    if let Some(provider) = &ai.provider {
        let Some((kind, model)) = served_provider(provider) else {
            return Served::Invalid;
        };
        let fields = Fields {
            connection: "spec.ai.provider",
            policies: TOP_POLICIES,
        };
        return match provider_backend(
            ctx, entry, fields, provider, kind, model, policies, secrets, credential,
        ) {
            Some(backend) => Served::Yes(BackendKind::Ai(Box::new(backend))),
            None => Served::Invalid,
        };
    }
    let mut groups = Vec::new();
    // Every provider is compiled, so that all of their errors are reported at once.
    let mut invalid = false;
    for (g, group) in ai.groups.iter().enumerate() {
        let mut members = Vec::new();
        for (p, named) in group.providers.iter().enumerate() {
            let provider = LlmProvider {
                openai: named.openai.clone(),
                anthropic: named.anthropic.clone(),
                gemini: named.gemini.clone(),
                vertexai: named.vertexai.clone(),
                azureopenai: named.azureopenai.clone(),
                bedrock: named.bedrock.clone(),
                host: named.host.clone(),
                port: named.port,
                path: named.path.clone(),
                path_prefix: named.path_prefix.clone(),
            };
            let Some((kind, model)) = served_provider(&provider) else {
                invalid = true;
                continue;
            };
            // A provider's own policies replace the backend's (each has its own key).
            let own = named.policies.as_ref().unwrap_or(policies);
            let connection = format!("spec.ai.groups[{g}].providers[{p}]");
            let own_policies = format!("{connection}.policies");
            // Without policies of its own a provider uses the backend's; when there are
            // none either, its errors point at the provider, where they would be added.
            let backend_has_policies = entry.resource.spec.policies.is_some();
            let fields = Fields {
                connection: &connection,
                policies: match named.policies {
                    None if backend_has_policies => TOP_POLICIES,
                    _ => &own_policies,
                },
            };
            let own_credential = match named.policies.as_ref().and_then(|p| p.auth.as_ref()) {
                Some(auth) => quiet_credential(ctx, entry, auth, secrets),
                None => credential.clone(),
            };
            match provider_backend(
                ctx,
                entry,
                fields,
                &provider,
                kind,
                model,
                own,
                secrets,
                own_credential,
            ) {
                Some(backend) => members.push(NamedProvider {
                    name: named.name.clone(),
                    backend,
                }),
                None => invalid = true,
            }
        }
        groups.push(members);
    }
    if invalid {
        return Served::Invalid;
    }
    Served::Yes(BackendKind::AiGroups(Box::new(AiGroups { groups })))
}

/// The credential of a provider's own `policies.auth`; its errors were already reported
/// when the groups were checked.
fn quiet_credential(
    ctx: &mut Ctx<'_>,
    entry: &Entry<AgentgatewayBackend>,
    auth: &api::backend::BackendAuth,
    secrets: &ResolvedSecrets,
) -> Option<BackendCredential> {
    let before = ctx.errors.len();
    let found = credential(ctx, entry, "spec.ai.groups", auth, secrets, false);
    ctx.errors.0.truncate(before);
    found
}

/// A provider backend (OpenAI, an OpenAI-compatible server, Anthropic). The public
/// endpoint is always TLS; an overridden one is plain HTTP unless `policies.tls` says so.
#[allow(clippy::too_many_arguments)]
fn provider_backend(
    ctx: &mut Ctx<'_>,
    entry: &Entry<AgentgatewayBackend>,
    fields: Fields<'_>,
    provider: &LlmProvider,
    kind: AiProvider,
    model: Option<String>,
    policies: &BackendPolicies,
    secrets: &ResolvedSecrets,
    credential: Option<BackendCredential>,
) -> Option<AiBackend> {
    let (host, port, default_tls) = match (&provider.host, provider.port) {
        (Some(host), Some(port)) => (host.clone(), port, false),
        _ => {
            let host = match (kind.public_host(), provider) {
                (Some(host), _) => host.to_string(),
                (
                    None,
                    LlmProvider {
                        azureopenai: Some(azure),
                        ..
                    },
                ) => azure
                    .endpoint
                    .trim_start_matches("https://")
                    .trim_end_matches('/')
                    .to_string(),
                (
                    None,
                    LlmProvider {
                        vertexai: Some(v), ..
                    },
                ) => llm::gcp::vertex_host(v.region.as_deref().unwrap_or(VERTEX_REGION)),
                (
                    None,
                    LlmProvider {
                        bedrock: Some(b), ..
                    },
                ) => {
                    format!("bedrock-runtime.{}.amazonaws.com", b.region)
                }
                (None, _) => return None,
            };
            (host, 443, true)
        }
    };
    let raw = RawStatic { host, port };
    let auth_field = format!("{}.auth", fields.policies);
    let credential = match (kind, credential) {
        // Bedrock signs with the standard AWS environment variables unless told otherwise.
        (AiProvider::Bedrock, None) => {
            let default = api::backend::AwsAuth {
                secret_ref: None,
                region: None,
            };
            Some(cloud_credentials::aws(
                ctx,
                entry,
                &auth_field,
                &default,
                secrets,
            )?)
        }
        (AiProvider::VertexAi, None) => {
            ctx.error(
                entry,
                &auth_field,
                "Vertex AI needs a credential: requests carry an OAuth token minted from a service account",
                "set policies.auth.gcp.secretRef to a Secret holding the service-account JSON key",
            );
            return None;
        }
        (_, credential) => credential,
    };
    let mut target = static_backend(ctx, entry, fields, &raw, policies, secrets, credential)?;
    if default_tls && target.tls.is_none() {
        target.tls = Some(UpstreamTls {
            ca_certificates: Vec::new(),
            insecure_skip_verify: false,
            sni: None,
            alpn: Vec::new(),
        });
        target.endpoint = Endpoint::new(&target.host, target.port, true).ok()?;
    }
    if target.request_timeout.is_none() {
        // Model calls are slow; a generous default still ends a hung provider.
        target.request_timeout = Some(DEFAULT_LLM_TIMEOUT);
    }
    ctx.condition(
        &entry.key,
        Condition::ok("Accepted", "Accepted", format!("{} provider", kind.name())),
    );
    Some(AiBackend {
        provider: kind,
        model,
        target,
        path: provider.path.clone(),
        path_prefix: provider.path_prefix.clone(),
        azure: provider.azureopenai.as_ref().map(|a| AzureSettings {
            deployment: a.deployment_name.clone(),
            api_version: a
                .api_version
                .clone()
                .unwrap_or_else(|| AZURE_API_VERSION.to_string()),
        }),
        vertex: provider.vertexai.as_ref().map(|v| VertexSettings {
            project: v.project_id.clone(),
            region: v
                .region
                .clone()
                .unwrap_or_else(|| VERTEX_REGION.to_string()),
        }),
        bedrock: provider.bedrock.as_ref().map(|b| BedrockSettings {
            region: b.region.clone(),
        }),
        parsed_paths: Default::default(),
    })
}

/// Per-attempt deadline for LLM calls unless `policies.http.requestTimeout` sets one.
const DEFAULT_LLM_TIMEOUT: Duration = Duration::from_secs(600);

/// Exactly one provider field, and a pinned model that names one.
fn check_provider_fields(
    ctx: &mut Ctx<'_>,
    entry: &Entry<AgentgatewayBackend>,
    path: &str,
    set: &[&str],
    models: &[(&str, &str)],
) {
    match set {
        [_] => {}
        [] => ctx.error(
            entry,
            path,
            "no provider is set: exactly one of openai, anthropic, gemini, vertexai, azureopenai or bedrock must be",
            "e.g. openai: {} (with host and port for an OpenAI-compatible server)",
        ),
        several => ctx.error(
            entry,
            path,
            format!(
                "{} are all set; exactly one of openai, anthropic, gemini, vertexai, azureopenai or bedrock must be",
                several.join(", ")
            ),
            "a backend talks to one provider; use spec.ai.groups to fail over between several",
        ),
    }
    for (kind, model) in models {
        if model.trim().is_empty() {
            ctx.error(
                entry,
                &format!("{path}.{kind}.model"),
                "the model is empty: every request would be sent with no model",
                "name the model to pin, or remove the field so that the client's model is used",
            );
        }
    }
}

/// TLS settings for the backend; CA bundles come from Secrets (key `ca.crt`).
fn upstream_tls(
    ctx: &mut Ctx<'_>,
    entry: &Entry<AgentgatewayBackend>,
    policies_field: &str,
    tls: &BackendTls,
    secrets: &ResolvedSecrets,
    ok: &mut bool,
) -> UpstreamTls {
    let mut ca_certificates = Vec::new();
    for (i, ca_ref) in tls.ca_certificate_refs.iter().enumerate() {
        let path = format!("{policies_field}.tls.caCertificateRefs[{i}].name");
        let key = ObjectKey::new(ResourceKind::Secret, &entry.key.namespace, &ca_ref.name);
        let bundle = match secrets.get(&key) {
            None => Err((
                format!("Secret {}/{} does not exist", key.namespace, key.name),
                "create it with the CA certificate under the key ca.crt",
            )),
            Some(values) => ca_bundle(values).map_err(|e| {
                (
                    format!("Secret {}/{}: {e}", key.namespace, key.name),
                    "put the PEM CA certificate under the key ca.crt",
                )
            }),
        };
        match bundle {
            Ok(certs) => ca_certificates.extend(certs),
            Err((message, hint)) => {
                ctx.error(entry, &path, message, hint);
                *ok = false;
            }
        }
    }
    UpstreamTls {
        ca_certificates,
        insecure_skip_verify: tls.insecure_skip_verify.unwrap_or(false),
        sni: tls.sni.clone(),
        alpn: tls
            .alpn_protocols
            .iter()
            .map(|p| p.as_bytes().to_vec())
            .collect(),
    }
}

/// A duration field; zero means "no limit".
pub(crate) fn duration<T>(
    ctx: &mut Ctx<'_>,
    entry: &Entry<T>,
    path: &str,
    value: Option<&str>,
    ok: &mut bool,
) -> Option<Duration> {
    let value = value?;
    match parse_duration(value) {
        Ok(d) if d.is_zero() => None,
        Ok(d) => Some(d),
        Err(e) => {
            ctx.error(
                entry,
                path,
                e.to_string(),
                "durations look like 500ms, 30s, 5m or 1h",
            );
            *ok = false;
            None
        }
    }
}

/// Resolves `auth` to the credential a static backend sends. AI-only methods (aws, gcp,
/// azure) are checked here and turned into credentials by the LLM layer.
pub(crate) fn credential<T>(
    ctx: &mut Ctx<'_>,
    entry: &Entry<T>,
    path: &str,
    auth: &BackendAuth,
    secrets: &ResolvedSecrets,
    is_static: bool,
) -> Option<BackendCredential> {
    let set = [
        auth.secret_ref.is_some(),
        auth.key.is_some(),
        auth.passthrough.is_some(),
        auth.aws.is_some(),
        auth.gcp.is_some(),
        auth.azure.is_some(),
    ];
    if set.iter().filter(|s| **s).count() != 1 {
        ctx.error(
            entry,
            path,
            "exactly one of secretRef, key, passthrough, aws, gcp or azure must be set",
            "",
        );
        return None;
    }
    if let Some(secret_ref) = &auth.secret_ref {
        let key = ObjectKey::new(ResourceKind::Secret, &entry.key.namespace, &secret_ref.name);
        let Some(values) = secrets.get(&key) else {
            ctx.error(entry, &format!("{path}.secretRef.name"), format!("Secret {}/{} does not exist", key.namespace, key.name), format!("create it, e.g. kubectl create secret generic {} --from-literal=Authorization=<key>", key.name));
            return None;
        };
        let value = values.get("Authorization").or_else(|| {
            (values.len() == 1)
                .then(|| values.values().next())
                .flatten()
        });
        return match value {
            Some(v) => Some(BackendCredential::Authorization(v.clone())),
            None => {
                ctx.error(
                    entry,
                    &format!("{path}.secretRef.name"),
                    format!(
                        "Secret {}/{} has {} keys and none is named Authorization",
                        key.namespace,
                        key.name,
                        values.len()
                    ),
                    "keep one key, or name the key holding the credential Authorization",
                );
                None
            }
        };
    }
    if let Some(key) = &auth.key {
        return Some(BackendCredential::Authorization(key.clone()));
    }
    if auth.passthrough.is_some() {
        return Some(BackendCredential::Passthrough);
    }
    let method = match (&auth.aws, &auth.gcp) {
        (Some(_), _) => "aws",
        (_, Some(_)) => "gcp",
        _ => "azure",
    };
    if is_static {
        ctx.error(
            entry,
            &format!("{path}.{method}"),
            format!("`{method}` credentials are minted for AI provider backends only"),
            "use secretRef or key for a static backend",
        );
        return None;
    }
    match (&auth.aws, &auth.gcp, &auth.azure) {
        (Some(aws), _, _) => cloud_credentials::aws(ctx, entry, path, aws, secrets),
        (_, Some(gcp), _) => cloud_credentials::gcp(ctx, entry, path, gcp, secrets),
        (_, _, Some(azure)) => cloud_credentials::azure(ctx, entry, path, azure, secrets),
        _ => None,
    }
}

fn check_ai(
    ctx: &mut Ctx<'_>,
    entry: &Entry<AgentgatewayBackend>,
    ai: &RawAiBackend,
    secrets: &ResolvedSecrets,
) {
    match (&ai.provider, ai.groups.is_empty()) {
        (Some(_), false) | (None, true) => {
            ctx.error(
                entry,
                "spec.ai",
                "exactly one of `provider` or `groups` must be set",
                "use groups only for priority failover between providers",
            );
        }
        (Some(provider), true) => {
            check_provider_fields(
                ctx,
                entry,
                "spec.ai.provider",
                &provider.provider_fields(),
                &provider.pinned_models(),
            );
            if !provider.endpoint_override_complete() {
                ctx.error(
                    entry,
                    "spec.ai.provider",
                    "`host` and `port` must be set together",
                    "e.g. host: localhost, port: 11434 for a local Ollama",
                );
            }
        }
        (None, false) => {
            let mut names = BTreeSet::new();
            for (g, group) in ai.groups.iter().enumerate() {
                if group.providers.is_empty() {
                    ctx.error(
                        entry,
                        &format!("spec.ai.groups[{g}].providers"),
                        "a group needs at least one provider",
                        "",
                    );
                }
                for (p, provider) in group.providers.iter().enumerate() {
                    let path = format!("spec.ai.groups[{g}].providers[{p}]");
                    if !names.insert(provider.name.clone()) {
                        ctx.error(
                            entry,
                            &format!("{path}.name"),
                            format!("provider name `{}` is used twice", provider.name),
                            "provider names must be unique within a backend",
                        );
                    }
                    check_provider_fields(
                        ctx,
                        entry,
                        &path,
                        &provider.provider_fields(),
                        &provider.pinned_models(),
                    );
                    if !provider.endpoint_override_complete() {
                        ctx.error(entry, &path, "`host` and `port` must be set together", "");
                    }
                    if let Some(auth) = provider.policies.as_ref().and_then(|p| p.auth.as_ref()) {
                        credential(
                            ctx,
                            entry,
                            &format!("{path}.policies.auth"),
                            auth,
                            secrets,
                            false,
                        );
                    }
                }
            }
        }
    }
}
