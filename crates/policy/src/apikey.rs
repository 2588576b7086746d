//! API-key authentication: keys from a Secret, presented in a header, query parameter or
//! cookie.
//!
//! # Secret format
//!
//! Each Secret entry is one key; the entry's name is the key's id (what logs, metrics and CEL
//! see, never the key). The value is either
//!
//! - the key itself, e.g. `sk-team-a-5f1c...`, or `sha256:<64 hex digits>`, the SHA-256 of the
//!   key, so the Secret need not hold the key in clear; or
//! - a JSON object `{"key": "...", "metadata": {...}}` or `{"keyHash": "sha256:<hex>",
//!   "metadata": {...}}`, where `metadata` (optional, any JSON object) is attached to the
//!   caller's identity, e.g. `{"team": "search", "tier": "gold"}`.
//!
//! Surrounding whitespace is ignored (Secrets made from files often end in a newline). A value
//! of the exact form `sha256:` + 64 hex digits is always read as a hash.
//!
//! # Why the lookup is constant-time safe
//!
//! Keys are stored by the SHA-256 of the key, and a presented key is hashed once and looked up
//! by digest. The map compares digests, and how long that takes depends only on how the
//! presented key's digest relates to stored digests; finding an input whose digest shares a
//! prefix with a stored one reveals nothing useful about the key behind it (that would take a
//! preimage), so the timing does not leak keys the way a byte-by-byte comparison of the keys
//! themselves would.

mod location;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;

use http::request::Parts;
use ring::digest::{SHA256, digest};
use serde::Deserialize;
use serde_json::{Map, Value};

pub use self::location::{CredentialLocation, StripError, extract, strip};
pub use crate::auth::{AuthMode, Outcome, Rejection};

const HASH_PREFIX: &str = "sha256:";

type Digest = [u8; 32];

/// The keys of one Secret, by digest.
#[derive(Clone, Default)]
pub struct ApiKeys {
    by_digest: HashMap<Digest, ApiKeyIdentity>,
}

/// Who presented a valid key.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiKeyIdentity {
    /// The Secret entry's name.
    pub id: String,
    /// The entry's metadata; empty when it has none.
    pub metadata: Map<String, Value>,
}

/// Compiled API-key authentication: mode, where the key is read from, and the keys.
#[derive(Clone, Debug)]
pub struct ApiKeyAuthentication {
    mode: AuthMode,
    location: CredentialLocation,
    keys: ApiKeys,
}

/// A configuration that cannot be compiled. Messages name Secret entries, never their values.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ApiKeyError {
    #[error("the API key Secret has no entries")]
    NoKeys,
    #[error("invalid API key Secret: {}", problems.join("; "))]
    InvalidEntries { problems: Vec<String> },
    #[error("invalid API key location: {0}")]
    InvalidLocation(String),
}

/// The presented key is not one of the configured keys.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[error("API key is not valid")]
pub struct InvalidApiKey;

/// The JSON form of a Secret value.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JsonEntry {
    key: Option<String>,
    key_hash: Option<String>,
    metadata: Option<Map<String, Value>>,
}

// === impl ApiKeys ===

impl ApiKeys {
    /// Compiles Secret entries `(id, value)`; every bad entry is reported at once.
    pub fn new(entries: impl IntoIterator<Item = (String, String)>) -> Result<Self, ApiKeyError> {
        let mut by_digest: HashMap<Digest, ApiKeyIdentity> = HashMap::new();
        let mut problems = Vec::new();
        for (id, value) in entries {
            let (digest, metadata) = match parse_entry(&value) {
                Ok(parsed) => parsed,
                Err(problem) => {
                    problems.push(format!("entry '{id}': {problem}"));
                    continue;
                }
            };
            match by_digest.entry(digest) {
                Entry::Occupied(existing) => problems.push(format!(
                    "entries '{}' and '{id}' hold the same key",
                    existing.get().id
                )),
                Entry::Vacant(slot) => {
                    slot.insert(ApiKeyIdentity { id, metadata });
                }
            }
        }
        if !problems.is_empty() {
            return Err(ApiKeyError::InvalidEntries { problems });
        }
        if by_digest.is_empty() {
            return Err(ApiKeyError::NoKeys);
        }
        Ok(ApiKeys { by_digest })
    }

    /// The identity holding `presented`, if any (see the module docs on timing).
    pub fn authenticate(&self, presented: &str) -> Option<&ApiKeyIdentity> {
        self.by_digest.get(&sha256(presented.as_bytes()))
    }

    pub fn len(&self) -> usize {
        self.by_digest.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_digest.is_empty()
    }
}

/// Lists ids only: digests of short keys could be brute-forced from a debug dump.
impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<&str> = self.by_digest.values().map(|i| i.id.as_str()).collect();
        ids.sort_unstable();
        f.debug_struct("ApiKeys").field("ids", &ids).finish()
    }
}

/// One Secret value -> digest and metadata, or what is wrong with it (never the value).
fn parse_entry(value: &str) -> Result<(Digest, Map<String, Value>), String> {
    let value = value.trim();
    if !value.starts_with('{') {
        return Ok((key_digest(value, "the value")?, Map::new()));
    }
    let entry: JsonEntry = serde_json::from_str(value).map_err(|e| {
        // serde's own message may quote the key, so only the position is reported.
        format!(
            "value starts with '{{' but is not {{\"key\"|\"keyHash\": \"...\", \"metadata\": {{...}}}} \
             (error at line {}, column {})",
            e.line(),
            e.column()
        )
    })?;
    let digest = match (entry.key, entry.key_hash) {
        (Some(key), None) => key_digest(key.trim(), "\"key\"")?,
        (None, Some(hash)) => {
            parse_hash(hash.trim()).ok_or("\"keyHash\" must be sha256:<64 hex digits>")?
        }
        (Some(_), Some(_)) => return Err("give either \"key\" or \"keyHash\", not both".into()),
        (None, None) => return Err("\"key\" or \"keyHash\" is required".into()),
    };
    Ok((digest, entry.metadata.unwrap_or_default()))
}

/// The digest a key value stands for: its hash when written as `sha256:<hex>`, else the
/// SHA-256 of the key itself.
fn key_digest(key: &str, what: &str) -> Result<Digest, String> {
    if key.is_empty() {
        return Err(format!("{what} is empty"));
    }
    Ok(parse_hash(key).unwrap_or_else(|| sha256(key.as_bytes())))
}

/// `sha256:` followed by exactly 64 hex digits (either case).
fn parse_hash(s: &str) -> Option<Digest> {
    let hex = s.strip_prefix(HASH_PREFIX)?.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let high = char::from(pair[0]).to_digit(16)?;
        let low = char::from(pair[1]).to_digit(16)?;
        *byte = u8::try_from((high << 4) | low).ok()?;
    }
    Some(out)
}

fn sha256(bytes: &[u8]) -> Digest {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, bytes).as_ref());
    out
}

// === impl ApiKeyAuthentication ===

impl ApiKeyAuthentication {
    pub fn new(mode: AuthMode, location: CredentialLocation, keys: ApiKeys) -> Self {
        ApiKeyAuthentication {
            mode,
            location,
            keys,
        }
    }

    /// The decision for a request.
    pub fn authenticate(&self, parts: &Parts) -> Outcome<&ApiKeyIdentity, InvalidApiKey> {
        let attempt = extract(&self.location, parts)
            .map(|key| self.keys.authenticate(&key).ok_or(InvalidApiKey));
        self.mode.decide(attempt)
    }

    /// Removes the credential from the request so the upstream never sees it.
    pub fn strip_credential(&self, parts: &mut Parts) -> Result<(), StripError> {
        strip(&self.location, parts)
    }

    pub fn mode(&self) -> AuthMode {
        self.mode
    }

    pub fn location(&self) -> &CredentialLocation {
        &self.location
    }

    pub fn keys(&self) -> &ApiKeys {
        &self.keys
    }
}
