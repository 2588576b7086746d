//! `agentgateway.dev/v1alpha1` `AgentgatewayBackend`.

use std::collections::BTreeMap;

use crate::meta::{LocalSecretRef, ObjectMeta};

api_struct! {
    /// Where traffic goes: exactly one of a static host, an AI provider (or priority groups
    /// of providers), or a set of MCP servers.
    pub struct AgentgatewayBackend {
        pub api_version: String,
        pub kind: String,
        pub metadata: ObjectMeta,
        pub spec: BackendSpec,
        #[serde(default)]
        #[schemars(skip)]
        pub status: Option<serde_json::Value>,
    }
}

api_struct! {
    pub struct BackendSpec {
        #[serde(default, rename = "static")]
        pub static_backend: Option<StaticBackend>,
        #[serde(default)]
        pub ai: Option<AiBackend>,
        #[serde(default)]
        pub mcp: Option<McpBackend>,
        #[serde(default)]
        pub policies: Option<BackendPolicies>,
    }
}

api_struct! {
    /// A plain HTTP(S) upstream.
    pub struct StaticBackend {
        pub host: String,
        pub port: u16,
    }
}

api_struct! {
    /// One provider, or priority groups of providers for failover.
    pub struct AiBackend {
        #[serde(default)]
        pub provider: Option<LlmProvider>,
        #[serde(default)]
        pub groups: Vec<PriorityGroup>,
    }
}

api_struct! {
    pub struct PriorityGroup {
        pub providers: Vec<NamedLlmProvider>,
    }
}

api_struct! {
    /// A provider inside a priority group; exactly one provider field is set.
    pub struct NamedLlmProvider {
        pub name: String,
        #[serde(default)]
        pub openai: Option<OpenAiProvider>,
        #[serde(default)]
        pub anthropic: Option<AnthropicProvider>,
        #[serde(default)]
        pub gemini: Option<GeminiProvider>,
        #[serde(default)]
        pub vertexai: Option<VertexAiProvider>,
        #[serde(default)]
        pub azureopenai: Option<AzureOpenAiProvider>,
        #[serde(default)]
        pub bedrock: Option<BedrockProvider>,
        #[serde(default)]
        pub host: Option<String>,
        #[serde(default)]
        pub port: Option<u16>,
        #[serde(default)]
        pub path: Option<String>,
        #[serde(default)]
        pub path_prefix: Option<String>,
        #[serde(default)]
        pub policies: Option<BackendPolicies>,
    }
}

api_struct! {
    /// Exactly one provider field is set; `host` and `port` (together) override the endpoint.
    pub struct LlmProvider {
        #[serde(default)]
        pub openai: Option<OpenAiProvider>,
        #[serde(default)]
        pub anthropic: Option<AnthropicProvider>,
        #[serde(default)]
        pub gemini: Option<GeminiProvider>,
        #[serde(default)]
        pub vertexai: Option<VertexAiProvider>,
        #[serde(default)]
        pub azureopenai: Option<AzureOpenAiProvider>,
        #[serde(default)]
        pub bedrock: Option<BedrockProvider>,
        #[serde(default)]
        pub host: Option<String>,
        #[serde(default)]
        pub port: Option<u16>,
        #[serde(default)]
        pub path: Option<String>,
        #[serde(default)]
        pub path_prefix: Option<String>,
    }
}

/// Both provider shapes (a backend's single provider and a named one in a group) carry the
/// same provider fields; "exactly one of" is checked the same way for both.
macro_rules! provider_choice {
    ($($ty:ty),*) => {$(
        impl $ty {
            /// How many of the provider fields are set (valid when exactly one).
            pub fn provider_count(&self) -> usize {
                self.provider_fields().len()
            }

            /// The names of the provider fields that are set.
            pub fn provider_fields(&self) -> Vec<&'static str> {
                [
                    ("openai", self.openai.is_some()),
                    ("anthropic", self.anthropic.is_some()),
                    ("gemini", self.gemini.is_some()),
                    ("vertexai", self.vertexai.is_some()),
                    ("azureopenai", self.azureopenai.is_some()),
                    ("bedrock", self.bedrock.is_some()),
                ]
                .into_iter()
                .filter_map(|(name, set)| set.then_some(name))
                .collect()
            }

            /// The models the provider fields pin, with the field each is under.
            pub fn pinned_models(&self) -> Vec<(&'static str, &str)> {
                [
                    ("openai", self.openai.as_ref().and_then(|p| p.model.as_deref())),
                    ("anthropic", self.anthropic.as_ref().and_then(|p| p.model.as_deref())),
                    ("gemini", self.gemini.as_ref().and_then(|p| p.model.as_deref())),
                    ("vertexai", self.vertexai.as_ref().and_then(|p| p.model.as_deref())),
                    ("bedrock", self.bedrock.as_ref().and_then(|p| p.model.as_deref())),
                ]
                .into_iter()
                .filter_map(|(name, model)| Some((name, model?)))
                .collect()
            }

            /// `host` and `port` override the endpoint together or not at all.
            pub fn endpoint_override_complete(&self) -> bool {
                self.host.is_some() == self.port.is_some()
            }
        }
    )*};
}

provider_choice!(LlmProvider, NamedLlmProvider);

api_struct! {
    /// OpenAI, or any OpenAI-compatible server (Ollama, vLLM, llama.cpp) through host/port.
    pub struct OpenAiProvider {
        /// When set, the provider receives this model whatever the client asked for.
        #[serde(default)]
        pub model: Option<String>,
    }
}

api_struct! {
    pub struct AnthropicProvider {
        #[serde(default)]
        pub model: Option<String>,
    }
}

api_struct! {
    pub struct GeminiProvider {
        #[serde(default)]
        pub model: Option<String>,
    }
}

api_struct! {
    pub struct VertexAiProvider {
        pub project_id: String,
        /// Defaults to `global`.
        #[serde(default)]
        pub region: Option<String>,
        #[serde(default)]
        pub model: Option<String>,
    }
}

api_struct! {
    pub struct AzureOpenAiProvider {
        /// e.g. `my-resource.openai.azure.com`.
        pub endpoint: String,
        #[serde(default)]
        pub deployment_name: Option<String>,
        #[serde(default)]
        pub api_version: Option<String>,
    }
}

api_struct! {
    pub struct BedrockProvider {
        pub region: String,
        #[serde(default)]
        pub model: Option<String>,
    }
}

api_struct! {
    pub struct McpBackend {
        /// 1..128 MCP servers multiplexed behind one endpoint.
        pub targets: Vec<McpTarget>,
        #[serde(default)]
        pub session_routing: Option<McpSessionRouting>,
        #[serde(default)]
        pub failure_mode: Option<FailureMode>,
        #[serde(default)]
        pub prefix_mode: Option<McpPrefixMode>,
        /// Host names (of `Host` and `Origin`) allowed besides the listener's and route's
        /// hostnames and loopback; requests from others get 403 (DNS-rebinding protection).
        /// `"*"` allows any.
        #[serde(default)]
        pub allowed_hosts: Vec<String>,
        /// How long a session may stay unused before it is ended (default 30m).
        #[serde(default)]
        pub session_idle_timeout: Option<String>,
    }
}

api_enum! {
    pub enum McpSessionRouting { Stateful, Stateless }
}

api_enum! {
    /// What happens when a dependency fails: refuse (`FailClosed`) or carry on (`FailOpen`).
    pub enum FailureMode { FailClosed, FailOpen }
}

api_enum! {
    pub enum McpPrefixMode { Conditional, Always, Never }
}

api_struct! {
    pub struct McpTarget {
        pub name: String,
        #[serde(default, rename = "static")]
        pub static_target: Option<McpStaticTarget>,
        #[serde(default)]
        pub stdio: Option<McpStdioTarget>,
    }
}

api_enum! {
    pub enum McpProtocol { StreamableHTTP, SSE }
}

api_struct! {
    pub struct McpStaticTarget {
        pub host: String,
        pub port: u16,
        #[serde(default)]
        pub path: Option<String>,
        #[serde(default)]
        pub protocol: Option<McpProtocol>,
    }
}

api_struct! {
    pub struct McpStdioTarget {
        pub cmd: String,
        #[serde(default)]
        pub args: Vec<String>,
        #[serde(default)]
        pub env: BTreeMap<String, String>,
    }
}

api_struct! {
    /// Policies that apply to connections to this backend.
    pub struct BackendPolicies {
        #[serde(default)]
        pub auth: Option<BackendAuth>,
        #[serde(default)]
        pub tls: Option<BackendTls>,
        #[serde(default)]
        pub http: Option<BackendHttp>,
        #[serde(default)]
        pub tcp: Option<BackendTcp>,
    }
}

api_struct! {
    /// Credentials the gateway adds on the way to the backend; exactly one field is set.
    pub struct BackendAuth {
        #[serde(default)]
        pub secret_ref: Option<LocalSecretRef>,
        /// Inline key (discouraged: prefer `secretRef`).
        #[serde(default)]
        pub key: Option<crate::secret::SecretText>,
        /// Forward the client's own credential.
        #[serde(default)]
        pub passthrough: Option<Empty>,
        #[serde(default)]
        pub aws: Option<AwsAuth>,
        #[serde(default)]
        pub gcp: Option<SecretRefAuth>,
        #[serde(default)]
        pub azure: Option<SecretRefAuth>,
    }
}

api_struct! {
    /// A field whose presence is the setting (`passthrough: {}`).
    pub struct Empty {}
}

api_struct! {
    pub struct AwsAuth {
        #[serde(default)]
        pub secret_ref: Option<LocalSecretRef>,
        #[serde(default)]
        pub region: Option<String>,
    }
}

api_struct! {
    pub struct SecretRefAuth {
        #[serde(default)]
        pub secret_ref: Option<LocalSecretRef>,
    }
}

api_struct! {
    /// TLS to the backend. Present (even empty) means the connection uses TLS.
    pub struct BackendTls {
        /// Secrets (or ConfigMaps) holding PEM CA certificates under `ca.crt`; system roots otherwise.
        #[serde(default)]
        pub ca_certificate_refs: Vec<LocalSecretRef>,
        /// Accept any certificate. For tests only.
        #[serde(default)]
        pub insecure_skip_verify: Option<bool>,
        /// Server name sent in SNI and verified; defaults to the backend host.
        #[serde(default)]
        pub sni: Option<String>,
        /// ALPN protocols to offer, e.g. `[h2, http/1.1]`.
        #[serde(default)]
        pub alpn_protocols: Vec<String>,
    }
}

api_enum! {
    pub enum HttpVersion { HTTP1, HTTP2 }
}

api_struct! {
    pub struct BackendHttp {
        /// Deadline for one request to this backend, up to its response headers.
        #[serde(default)]
        pub request_timeout: Option<String>,
        /// `HTTP2` speaks HTTP/2 to the backend (h2c in plain text, ALPN over TLS).
        #[serde(default)]
        pub version: Option<HttpVersion>,
    }
}

api_struct! {
    pub struct BackendTcp {
        #[serde(default)]
        pub connect_timeout: Option<String>,
    }
}
