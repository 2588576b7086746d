//! Secrets: base64 `data` decoded, `${VAR}` in `stringData` filled from the environment.

use std::collections::BTreeMap;

use api::secret::SecretText;
use base64::Engine;

use crate::compile::{Ctx, EnvLookup};
use crate::env::interpolate;
use crate::store::ObjectKey;

pub(crate) type SecretValues = BTreeMap<String, SecretText>;

/// Every Secret's values, keyed by the Secret.
#[derive(Debug, Default)]
pub(crate) struct ResolvedSecrets(BTreeMap<ObjectKey, SecretValues>);

impl ResolvedSecrets {
    pub fn get(&self, key: &ObjectKey) -> Option<&SecretValues> {
        self.0.get(key)
    }
}

pub(crate) fn resolve(ctx: &mut Ctx<'_>, env: &EnvLookup) -> ResolvedSecrets {
    let mut resolved = ResolvedSecrets::default();
    for entry in ctx.store.secrets.values() {
        let mut values = SecretValues::new();
        for (name, encoded) in &entry.resource.data {
            let compact: String = encoded.expose().split_whitespace().collect();
            match base64::engine::general_purpose::STANDARD.decode(compact) {
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(text) => {
                        values.insert(name.clone(), SecretText::new(text));
                    }
                    Err(_) => ctx.error(
                        entry,
                        &crate::locate::entry_path("data", name),
                        "value is not UTF-8 text after base64 decoding",
                        "",
                    ),
                },
                Err(_) => ctx.error(
                    entry,
                    &crate::locate::entry_path("data", name),
                    "value is not valid base64",
                    "put plain text under stringData instead of data",
                ),
            }
        }
        for (name, text) in &entry.resource.string_data {
            match interpolate(text.expose(), env.as_ref()) {
                Ok(value) => {
                    values.insert(name.clone(), SecretText::new(value));
                }
                Err(e) => ctx.error(
                    entry,
                    &crate::locate::entry_path("stringData", name),
                    e.to_string(),
                    "export the variable before starting the gateway, or remove the reference",
                ),
            }
        }
        resolved.0.insert(entry.key.clone(), values);
    }
    resolved
}
