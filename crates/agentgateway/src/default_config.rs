//! The configuration served by `agentgateway run` without `-f`: one Gateway on port 8080,
//! `/ollama` to a local Ollama, and a route per cloud provider whose API key is in the
//! environment (a provider without a key is left out, so nothing fails on a fresh machine).

use config::{CompileOptions, Document, load_str};

const BASE: &str = include_str!("default_config/base.yaml");

/// (environment variable, YAML added when it is set)
const PROVIDERS: [(&str, &str); 3] = [
    ("OPENAI_API_KEY", include_str!("default_config/openai.yaml")),
    (
        "ANTHROPIC_API_KEY",
        include_str!("default_config/anthropic.yaml"),
    ),
    ("GEMINI_API_KEY", include_str!("default_config/gemini.yaml")),
];

pub fn documents(options: &CompileOptions) -> Vec<Document> {
    let mut docs = load_str("<embedded default config>", BASE);
    for (variable, yaml) in PROVIDERS {
        if (options.env)(variable).is_some_and(|v| !v.is_empty()) {
            docs.extend(load_str(
                &format!("<embedded default config: {variable}>"),
                yaml,
            ));
        }
    }
    docs
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn options(keys: &'static [&'static str]) -> CompileOptions {
        CompileOptions {
            env: Arc::new(move |name| keys.contains(&name).then(|| format!("test-{name}"))),
        }
    }

    #[test]
    fn default_config_compiles_with_no_keys() {
        let opts = options(&[]);
        let config = config::load_and_compile(documents(&opts), &opts).unwrap();
        assert_eq!(config.ports.len(), 1);
        assert_eq!(config.ports[0].port, 8080);
        assert_eq!(config.backends.len(), 1, "only ollama without keys");
    }

    #[test]
    fn provider_routes_appear_when_their_keys_are_set() {
        let opts = options(&["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"]);
        let config = config::load_and_compile(documents(&opts), &opts).unwrap();
        assert_eq!(config.backends.len(), 4);
    }
}
