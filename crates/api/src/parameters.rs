//! `agentgateway.dev/v1alpha1` `AgentgatewayParameters`: how the proxy itself runs.

use std::collections::BTreeMap;

use crate::meta::ObjectMeta;

api_struct! {
    pub struct AgentgatewayParameters {
        pub api_version: String,
        pub kind: String,
        pub metadata: ObjectMeta,
        pub spec: ParametersSpec,
    }
}

api_struct! {
    pub struct ParametersSpec {
        #[serde(default)]
        pub logging: Option<Logging>,
        #[serde(default)]
        pub image: Option<Image>,
        #[serde(default)]
        pub env: Vec<EnvVar>,
        /// Kubernetes `ResourceRequirements` (`requests`, `limits`).
        #[serde(default)]
        pub resources: Option<BTreeMap<String, BTreeMap<String, String>>>,
        #[serde(default)]
        pub workload: Option<Workload>,
        #[serde(default)]
        pub shutdown: Option<Shutdown>,
    }
}

api_enum! {
    /// Access and process log format.
    #[allow(non_camel_case_types)]
    pub enum LogFormat { text, json }
}

api_struct! {
    pub struct Logging {
        /// `RUST_LOG` syntax, e.g. `info` or `info,proxy=debug`.
        #[serde(default)]
        pub level: Option<String>,
        #[serde(default)]
        pub format: Option<LogFormat>,
    }
}

api_struct! {
    pub struct Image {
        #[serde(default)]
        pub registry: Option<String>,
        #[serde(default)]
        pub repository: Option<String>,
        #[serde(default)]
        pub tag: Option<String>,
    }
}

api_struct! {
    pub struct EnvVar {
        pub name: String,
        #[serde(default)]
        pub value: Option<String>,
    }
}

api_enum! {
    pub enum WorkloadKind { Deployment, DaemonSet }
}

api_struct! {
    pub struct Workload {
        #[serde(default)]
        pub kind: Option<WorkloadKind>,
    }
}

api_struct! {
    /// Drain window on shutdown, in seconds.
    pub struct Shutdown {
        #[serde(default)]
        pub min: Option<u32>,
        #[serde(default)]
        pub max: Option<u32>,
    }
}
