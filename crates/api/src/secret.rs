//! Core `v1` Secret, with values that never print.

use std::collections::BTreeMap;
use std::fmt;

use crate::meta::ObjectMeta;

api_struct! {
    /// A Secret: provider keys, TLS certificates, API keys, htpasswd files.
    pub struct Secret {
        pub api_version: String,
        pub kind: String,
        pub metadata: ObjectMeta,
        /// e.g. `Opaque` or `kubernetes.io/tls`.
        #[serde(default, rename = "type")]
        pub secret_type: Option<String>,
        /// Base64-encoded values.
        #[serde(default)]
        pub data: BTreeMap<String, SecretText>,
        /// Plain values; `${ENV_VAR}` is replaced by the variable's value when loaded.
        #[serde(default)]
        pub string_data: BTreeMap<String, SecretText>,
        #[serde(default)]
        pub immutable: Option<bool>,
    }
}

/// A secret value. Its `Debug` and `Display` show `<redacted>` so that no log line,
/// error or config dump can leak it by accident; `expose` is the one way in.
#[derive(Clone, PartialEq, Eq, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct SecretText(String);

impl SecretText {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where it is sent where it belongs.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl serde::Serialize for SecretText {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_text_never_prints_its_value() {
        let s = SecretText::new("sk-very-secret");
        assert_eq!(format!("{s:?} {s}"), "<redacted> <redacted>");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"<redacted>\"");
        assert_eq!(s.expose(), "sk-very-secret");
    }

    #[test]
    fn secret_debug_redacts_all_values() {
        let yaml =
            "apiVersion: v1\nkind: Secret\nmetadata: {name: k}\nstringData: {api-key: sk-1}\n";
        let secret: Secret = serde_yaml::from_str(yaml).unwrap();
        let debug = format!("{secret:?}");
        assert!(!debug.contains("sk-1"), "{debug}");
    }
}
