//! HTTP Basic authentication (RFC 7617) against an htpasswd file.
//!
//! The file comes from a Secret key; each non-empty line that does not start with `#` is
//! `user:hash`, with the hash one of bcrypt (`$2y$`/`$2a$`/`$2b$`), `$apr1$` or `{SHA}`.
//! Plaintext and crypt(3) DES lines are refused when the configuration is compiled, with their
//! line number, rather than silently never matching.
//!
//! bcrypt costs milliseconds per check by design, so successful bcrypt verifications are
//! remembered in a small bounded cache (see `cache.rs`); the other schemes are cheap enough
//! to verify every time.

mod cache;
mod hash;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};

pub use crate::auth::{AuthMode, Outcome, Rejection};

use self::cache::VerifiedCache;
use self::hash::PasswordHash;

/// How many verified bcrypt credentials are remembered unless set otherwise.
pub const DEFAULT_CACHE_CAPACITY: usize = 1024;

/// The users of an htpasswd file.
pub struct BasicUsers {
    users: HashMap<String, PasswordHash>,
    /// A user whose hash is checked when the presented user is unknown, so that an unknown
    /// user costs as much as a wrong password and response times do not reveal which user
    /// names exist. A bcrypt user is chosen when the file has one.
    decoy: Option<String>,
    cache: Option<VerifiedCache>,
}

/// Compiled basic authentication: mode, realm and users.
pub struct BasicAuthentication {
    mode: AuthMode,
    realm: String,
    users: BasicUsers,
}

/// An htpasswd file that cannot be used; every bad line is reported at once.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BasicError {
    #[error("htpasswd has no users")]
    NoUsers,
    #[error("invalid htpasswd: {}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    InvalidLines { problems: Vec<LineProblem> },
}

/// One bad line: its 1-based number and what is wrong (never the hash itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineProblem {
    pub line: usize,
    pub reason: String,
}

/// Why presented Basic credentials are refused. Safe to show to the client, and deliberately
/// the same for an unknown user and a wrong password.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum BasicFailure {
    #[error("malformed Basic credentials")]
    Malformed,
    #[error("invalid user name or password")]
    InvalidCredentials,
}

// === impl BasicUsers ===

impl BasicUsers {
    /// Parses htpasswd content (with a cache of [`DEFAULT_CACHE_CAPACITY`]).
    pub fn new(htpasswd: &str) -> Result<Self, BasicError> {
        let mut users: HashMap<String, PasswordHash> = HashMap::new();
        let mut first_line: HashMap<String, usize> = HashMap::new();
        let mut problems = Vec::new();
        for (index, raw) in htpasswd.lines().enumerate() {
            let line = index + 1;
            let text = raw.trim();
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            let mut problem = |reason: String| problems.push(LineProblem { line, reason });
            let Some((user, hash)) = text.split_once(':') else {
                problem("expected user:hash".to_owned());
                continue;
            };
            if user.is_empty() {
                problem("user name is empty".to_owned());
                continue;
            }
            if let Some(first) = first_line.get(user) {
                problem(format!("user '{user}' is already defined on line {first}"));
                continue;
            }
            match PasswordHash::parse(hash) {
                Ok(parsed) => {
                    first_line.insert(user.to_owned(), line);
                    users.insert(user.to_owned(), parsed);
                }
                Err(reason) => problem(format!("user '{user}': {reason}")),
            }
        }
        if !problems.is_empty() {
            return Err(BasicError::InvalidLines { problems });
        }
        if users.is_empty() {
            return Err(BasicError::NoUsers);
        }
        let decoy = users
            .iter()
            .find(|(_, hash)| hash.is_slow())
            .or_else(|| users.iter().next())
            .map(|(user, _)| user.clone());
        Ok(BasicUsers {
            users,
            decoy,
            cache: VerifiedCache::new(DEFAULT_CACHE_CAPACITY),
        })
    }

    /// Sets how many verified bcrypt credentials are remembered; 0 turns the cache off.
    pub fn with_cache_capacity(mut self, capacity: usize) -> Self {
        self.cache = VerifiedCache::new(capacity);
        self
    }

    /// Checks the value of an `Authorization` header (`Basic <base64(user:password)>`) and
    /// returns the user name.
    pub fn authenticate(&self, authorization: &str) -> Result<&str, BasicFailure> {
        let (user, password) = decode_basic(authorization).ok_or(BasicFailure::Malformed)?;
        self.verify(&user, &password)
    }

    /// Checks a user name and password.
    pub fn verify(&self, user: &str, password: &[u8]) -> Result<&str, BasicFailure> {
        let Some((name, hash)) = self.users.get_key_value(user) else {
            if let Some(decoy) = self.decoy.as_ref().and_then(|d| self.users.get(d)) {
                // Spend the time a real check would; the answer is no either way.
                let _ = decoy.verify(password);
            }
            return Err(BasicFailure::InvalidCredentials);
        };
        let cache = self.cache.as_ref().filter(|_| hash.is_slow());
        if cache.is_some_and(|cache| cache.contains(name, password)) {
            return Ok(name);
        }
        if !hash.verify(password) {
            return Err(BasicFailure::InvalidCredentials);
        }
        if let Some(cache) = cache {
            cache.insert(name, password);
        }
        Ok(name)
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    pub fn contains_user(&self, user: &str) -> bool {
        self.users.contains_key(user)
    }
}

/// Lists user names only.
impl fmt::Debug for BasicUsers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.users.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("BasicUsers").field("users", &names).finish()
    }
}

/// `Basic <base64>` -> (user, password). The scheme is case-insensitive; the user must be
/// UTF-8 to match a line of the file, the password may be any bytes.
fn decode_basic(authorization: &str) -> Option<(String, Vec<u8>)> {
    let (scheme, encoded) = authorization.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let colon = decoded.iter().position(|b| *b == b':')?;
    let user = std::str::from_utf8(&decoded[..colon]).ok()?.to_owned();
    Some((user, decoded[colon + 1..].to_vec()))
}

/// The `WWW-Authenticate` value that asks a browser or client for Basic credentials
/// (RFC 7617 section 2). Quotes and backslashes in the realm are escaped and control
/// characters dropped, so any configured realm yields a valid header.
pub fn www_authenticate(realm: &str) -> HeaderValue {
    let mut value = String::with_capacity(realm.len() + 32);
    value.push_str("Basic realm=\"");
    for c in realm.chars().filter(|c| !c.is_control()) {
        if c == '"' || c == '\\' {
            value.push('\\');
        }
        value.push(c);
    }
    value.push_str("\", charset=\"UTF-8\"");
    HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| HeaderValue::from_static("Basic"))
}

impl fmt::Display for LineProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

// === impl BasicAuthentication ===

impl BasicAuthentication {
    /// The realm shown by browsers when none is configured.
    pub const DEFAULT_REALM: &'static str = "Restricted";

    pub fn new(mode: AuthMode, realm: Option<String>, users: BasicUsers) -> Self {
        BasicAuthentication {
            mode,
            realm: realm.unwrap_or_else(|| BasicAuthentication::DEFAULT_REALM.to_owned()),
            users,
        }
    }

    /// The decision for a request. An `Authorization` header with another scheme (a bearer
    /// token for another policy) counts as no Basic credentials.
    pub fn authenticate(&self, headers: &HeaderMap) -> Outcome<&str, BasicFailure> {
        let attempt = headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .filter(|value| is_basic_scheme(value))
            .map(|value| self.users.authenticate(value));
        self.mode.decide(attempt)
    }

    /// The `WWW-Authenticate` value for this policy's 401.
    pub fn challenge(&self) -> HeaderValue {
        www_authenticate(&self.realm)
    }

    pub fn mode(&self) -> AuthMode {
        self.mode
    }

    pub fn realm(&self) -> &str {
        &self.realm
    }

    pub fn users(&self) -> &BasicUsers {
        &self.users
    }
}

impl fmt::Debug for BasicAuthentication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicAuthentication")
            .field("mode", &self.mode)
            .field("realm", &self.realm)
            .field("users", &self.users)
            .finish()
    }
}

fn is_basic_scheme(value: &str) -> bool {
    value
        .trim_start()
        .split_once(' ')
        .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
}
