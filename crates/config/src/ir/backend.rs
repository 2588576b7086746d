//! Compiled backends.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use http::uri::{Authority, Scheme};

use api::secret::SecretText;
use rustls_pki_types::CertificateDer;

use crate::store::ObjectKey;

#[derive(Debug)]
pub struct Backend {
    pub key: ObjectKey,
    /// `namespace/name`, computed once: logs and metrics use it on every request.
    name: Arc<str>,
    pub kind: BackendKind,
}

impl Backend {
    pub fn new(key: ObjectKey, kind: BackendKind) -> Self {
        Self {
            name: Arc::from(key.namespaced_name()),
            key,
            kind,
        }
    }

    /// `namespace/name`, as shown in errors, logs and metrics.
    pub fn name(&self) -> &Arc<str> {
        &self.name
    }
}

#[derive(Debug)]
pub enum BackendKind {
    Static(Box<StaticBackend>),
    /// An LLM provider; the connection settings live in `target`.
    Ai(Box<AiBackend>),
    /// LLM providers in priority groups: the first group first, the next when it fails.
    AiGroups(Box<AiGroups>),
    /// MCP servers multiplexed behind one endpoint.
    Mcp(Box<McpBackend>),
}

/// Which wire format a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AiProvider {
    /// OpenAI, or any OpenAI-compatible server (Ollama, vLLM, llama.cpp).
    OpenAi,
    /// Anthropic's Messages API.
    Anthropic,
    /// Azure OpenAI: the OpenAI API at a resource's endpoint, deployments in the path.
    AzureOpenAi,
    /// Google's Gemini API (`generateContent`).
    Gemini,
    /// Vertex AI: Gemini models natively, Anthropic models through `rawPredict`.
    VertexAi,
    /// AWS Bedrock's Converse API, SigV4-signed.
    Bedrock,
}

impl AiProvider {
    /// The OpenTelemetry GenAI provider name.
    pub fn name(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::Anthropic => "anthropic",
            Self::AzureOpenAi => "azure.ai.openai",
            Self::Gemini => "gcp.gemini",
            Self::VertexAi => "gcp.vertex_ai",
            Self::Bedrock => "aws.bedrock",
        }
    }

    /// The field that names this provider in `spec.ai` (`openai`, `vertexai`, ...).
    pub fn config_key(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::Anthropic => "anthropic",
            Self::AzureOpenAi => "azureopenai",
            Self::Gemini => "gemini",
            Self::VertexAi => "vertexai",
            Self::Bedrock => "bedrock",
        }
    }

    /// The public endpoint used when the backend does not override host and port (Azure
    /// names its own resource endpoint; Vertex and Bedrock endpoints depend on the region).
    pub fn public_host(self) -> Option<&'static str> {
        match self {
            Self::OpenAi => Some("api.openai.com"),
            Self::Anthropic => Some("api.anthropic.com"),
            Self::Gemini => Some("generativelanguage.googleapis.com"),
            Self::AzureOpenAi | Self::VertexAi | Self::Bedrock => None,
        }
    }
}

/// An LLM provider backend.
#[derive(Debug)]
pub struct AiBackend {
    pub provider: AiProvider,
    /// When set, the provider receives this model whatever the client asked for.
    pub model: Option<String>,
    /// Where and how to connect (the provider's public endpoint unless host/port say otherwise).
    pub target: StaticBackend,
    /// Replaces the whole request path (`path`).
    pub path: Option<String>,
    /// Replaces `/v1` in front of the API path (`pathPrefix`).
    pub path_prefix: Option<String>,
    /// Azure OpenAI only.
    pub azure: Option<AzureSettings>,
    /// Vertex AI only.
    pub vertex: Option<VertexSettings>,
    /// Bedrock only.
    pub bedrock: Option<BedrockSettings>,
    /// The chat calls' request URIs, parsed once.
    pub parsed_paths: ParsedPaths,
}

/// The request URIs of the two chat calls (`/chat/completions`, `/messages`), each parsed
/// on first use: parsing one for every request showed in the cost of every LLM call.
#[derive(Debug, Default)]
pub struct ParsedPaths {
    chat_completions: std::sync::OnceLock<Option<http::Uri>>,
    messages: std::sync::OnceLock<Option<http::Uri>>,
}

/// Where a Vertex AI request goes: the model decides the publisher (`claude*` models are
/// Anthropic's, served through `rawPredict`; the rest Google's).
#[derive(Debug, Clone)]
pub struct VertexSettings {
    pub project: String,
    pub region: String,
}

/// The region a Bedrock request is addressed to and signed for.
#[derive(Debug, Clone)]
pub struct BedrockSettings {
    pub region: String,
}

/// Where an Azure OpenAI request goes: a deployment (classic API, dated `api-version`) or,
/// without one, the v1 API with the deployment named as the model.
#[derive(Debug, Clone)]
pub struct AzureSettings {
    pub deployment: Option<String>,
    pub api_version: String,
}

/// Priority groups of providers (`spec.ai.groups`).
#[derive(Debug)]
pub struct AiGroups {
    pub groups: Vec<Vec<NamedProvider>>,
}

#[derive(Debug)]
pub struct NamedProvider {
    pub name: String,
    pub backend: AiBackend,
}

impl Backend {
    /// Every connection target of the backend (one, several for provider groups, none for a
    /// backend this build does not serve).
    pub fn targets(&self) -> Vec<&StaticBackend> {
        match &self.kind {
            BackendKind::Static(s) => vec![s.as_ref()],
            BackendKind::Ai(ai) => ai.targets().collect(),
            BackendKind::AiGroups(g) => g
                .groups
                .iter()
                .flatten()
                .flat_map(|p| p.backend.targets())
                .collect(),
            BackendKind::Mcp(mcp) => mcp
                .targets
                .iter()
                .filter_map(|t| match &t.transport {
                    McpTransport::StreamableHttp { backend, .. }
                    | McpTransport::Sse { backend, .. } => Some(backend),
                    McpTransport::Stdio { .. } => None,
                })
                .collect(),
        }
    }
}

/// `spec.mcp`.
#[derive(Debug)]
pub struct McpBackend {
    pub targets: Vec<McpTarget>,
    /// `sessionRouting: Stateful` (the default).
    pub stateful: bool,
    /// `failureMode: FailOpen`.
    pub fail_open: bool,
    pub prefix_mode: McpPrefixMode,
    /// Extra host names allowed in `Host` / `Origin` (`*`: any).
    pub allowed_hosts: Vec<String>,
    pub idle_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum McpPrefixMode {
    Conditional,
    Always,
    Never,
}

#[derive(Debug)]
pub struct McpTarget {
    pub name: String,
    pub transport: McpTransport,
}

#[derive(Debug)]
pub enum McpTransport {
    StreamableHttp {
        backend: StaticBackend,
        path: String,
    },
    Sse {
        backend: StaticBackend,
        path: String,
    },
    Stdio {
        cmd: String,
        args: Vec<String>,
        env: std::collections::BTreeMap<String, String>,
    },
}

impl AiBackend {
    /// The provider, and the token endpoint its credential is minted at, if any.
    pub fn targets(&self) -> impl Iterator<Item = &StaticBackend> {
        let token = match &self.target.credential {
            Some(BackendCredential::Gcp(gcp)) => Some(&gcp.token_endpoint),
            Some(BackendCredential::Azure(azure)) => Some(&azure.token_endpoint),
            _ => None,
        };
        std::iter::once(&self.target).chain(token)
    }

    /// The provider path for an OpenAI-style API suffix such as `/chat/completions`.
    /// The model every request reaches regardless of the client's: the backend's `model`,
    /// or an Azure OpenAI deployment (which serves one model).
    pub fn pinned_model(&self) -> Option<&str> {
        self.model
            .as_deref()
            .or_else(|| self.azure.as_ref()?.deployment.as_deref())
    }

    /// `provider_path(suffix)` as a request URI, parsed once, for the chat suffixes; None
    /// for other suffixes (and a path that is not a valid URI, which `provider_path`'s
    /// caller then reports).
    pub fn provider_uri(&self, suffix: &str) -> Option<http::Uri> {
        let slot = match suffix {
            "/chat/completions" => &self.parsed_paths.chat_completions,
            "/messages" => &self.parsed_paths.messages,
            _ => return None,
        };
        slot.get_or_init(|| http::Uri::try_from(self.provider_path(suffix)).ok())
            .clone()
    }

    pub fn provider_path(&self, suffix: &str) -> String {
        if let (None, Some(azure)) = (&self.path, &self.azure) {
            return match &azure.deployment {
                Some(d) => format!(
                    "/openai/deployments/{d}{suffix}?api-version={}",
                    azure.api_version
                ),
                None => format!("/openai/v1{suffix}"),
            };
        }
        // Joined by hand: `format!` showed in the cost of every LLM request.
        let join = |prefix: &str| {
            let mut path = String::with_capacity(prefix.len() + suffix.len());
            path.push_str(prefix);
            path.push_str(suffix);
            path
        };
        match (&self.path, &self.path_prefix) {
            (Some(path), _) => path.clone(),
            (None, Some(prefix)) => join(prefix.trim_end_matches('/')),
            (None, None) => join("/v1"),
        }
    }
}

/// A plain HTTP(S) upstream.
#[derive(Debug)]
pub struct StaticBackend {
    pub host: String,
    pub port: u16,
    /// Some: the connection uses TLS.
    pub tls: Option<UpstreamTls>,
    pub http2: bool,
    pub connect_timeout: Duration,
    /// Per-attempt deadline from `policies.http.requestTimeout`.
    pub request_timeout: Option<Duration>,
    pub credential: Option<BackendCredential>,
    /// URL parts derived from host, port and TLS, parsed once for the request path.
    pub endpoint: Endpoint,
}

/// What a request to the backend is addressed with.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub scheme: Scheme,
    /// `host:port`, IPv6 bracketed: where connections go.
    pub authority: Authority,
    /// The `Host` header: the port is left out when it is the scheme's default.
    pub host_header: HeaderValue,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' cannot be used as a host name in a URL")]
pub struct InvalidHost(pub String);

impl Endpoint {
    pub fn new(host: &str, port: u16, tls: bool) -> Result<Self, InvalidHost> {
        let invalid = || InvalidHost(host.to_string());
        let bracketed = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        let authority =
            Authority::try_from(format!("{bracketed}:{port}")).map_err(|_| invalid())?;
        let default_port = if tls { 443 } else { 80 };
        let host_header = if port == default_port {
            bracketed
        } else {
            authority.as_str().to_string()
        };
        Ok(Self {
            scheme: if tls { Scheme::HTTPS } else { Scheme::HTTP },
            authority,
            host_header: HeaderValue::try_from(host_header).map_err(|_| invalid())?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct UpstreamTls {
    /// Extra roots; empty means the system roots.
    pub ca_certificates: Vec<CertificateDer<'static>>,
    pub insecure_skip_verify: bool,
    /// Name sent in SNI and verified; the backend host when unset.
    pub sni: Option<String>,
    pub alpn: Vec<Vec<u8>>,
}

/// A credential the gateway adds for the backend.
#[derive(Debug, Clone)]
pub enum BackendCredential {
    /// Sent as `Authorization` (prefixed with `Bearer ` unless it already names a scheme).
    Authorization(SecretText),
    /// The client's own `Authorization` header is forwarded untouched.
    Passthrough,
    /// AWS keys: every request is SigV4-signed with them.
    Aws(Arc<AwsCredential>),
    /// A Google service account: requests carry an OAuth access token minted from it.
    Gcp(Arc<GcpCredential>),
    /// An Entra ID app registration: requests carry a token from its client credentials.
    Azure(Arc<AzureCredential>),
}

/// An Entra ID app registration (client-credentials grant) and where its tokens come from.
#[derive(Debug)]
pub struct AzureCredential {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: SecretText,
    /// The tenant's token endpoint as a connection target (login.microsoftonline.com by
    /// default, `authorityHost` otherwise).
    pub token_endpoint: StaticBackend,
    pub token_path: String,
}

/// Static AWS keys (from a Secret or the standard environment variables).
#[derive(Debug)]
pub struct AwsCredential {
    pub keys: llm::aws::sigv4::Credentials,
    /// Overrides the provider's region for signing (`auth.aws.region`).
    pub region: Option<String>,
}

/// A service account and the token endpoint its access tokens come from.
#[derive(Debug)]
pub struct GcpCredential {
    pub account: llm::gcp::ServiceAccount,
    /// `token_uri` of the key file, as a connection target.
    pub token_endpoint: StaticBackend,
    /// Path (and query) of `token_uri`.
    pub token_path: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_leaves_default_ports_out_of_host() {
        let e = Endpoint::new("api.example.com", 443, true).unwrap();
        assert_eq!(e.authority.as_str(), "api.example.com:443");
        assert_eq!(e.host_header, "api.example.com");
        assert_eq!(
            Endpoint::new("localhost", 11434, false)
                .unwrap()
                .host_header,
            "localhost:11434"
        );
        assert_eq!(
            Endpoint::new("::1", 80, false).unwrap().host_header,
            "[::1]"
        );
        assert!(Endpoint::new("bad host", 80, false).is_err());
    }
}
