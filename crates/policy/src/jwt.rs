//! JWT authentication: bearer tokens verified against the key sets of trusted issuers.
//!
//! A token is accepted when its header names a supported algorithm (never `none`), a key of
//! its issuer's set that fits that algorithm verifies the signature, its `iss` is a configured
//! provider, its `aud` meets the provider's audiences, and its `exp` / `nbf` / `iat` are within
//! a leeway of the caller's clock. Claims are only trusted after the signature: the unverified
//! payload is read for `iss` alone, to pick the key set.
//!
//! Error messages go to the client in a 401, so they name the failed check and never the
//! token; values taken from the token (issuer, kid) are truncated and stripped of control
//! characters first.

mod alg;
mod claims;
mod jwks;
#[cfg(test)]
mod tests;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};
use serde_json::{Map, Value};

pub use self::alg::Algorithm;
pub use self::claims::Claims;
pub use self::jwks::{Jwk, Jwks, JwksError, JwksHandle, SkippedKey};
pub use crate::auth::{AuthMode, Outcome, Rejection};

use self::claims::rfc3339;

/// Tokens are bounded by header limits already; this stops a huge one from costing base64 and
/// JSON work before it is refused.
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// How much of a token-supplied string (issuer, kid, alg) an error message repeats.
const MAX_ECHO_CHARS: usize = 64;

/// An issuer whose tokens are trusted, with the audiences it must name and its keys.
#[derive(Clone, Debug)]
pub struct JwtProvider {
    issuer: String,
    audiences: Vec<String>,
    keys: JwksHandle,
}

/// Compiled JWT authentication: the trusted providers, the mode and the clock leeway.
#[derive(Clone, Debug)]
pub struct JwtValidator {
    providers: Vec<JwtProvider>,
    mode: AuthMode,
    leeway: Duration,
    require_exp: bool,
}

/// A configuration that cannot be compiled.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtConfigError {
    #[error("at least one JWT provider is required")]
    NoProviders,
    #[error("JWT provider #{index} has an empty issuer")]
    EmptyIssuer { index: usize },
    #[error("issuer '{issuer}' is configured by more than one JWT provider")]
    DuplicateIssuer { issuer: String },
}

/// Why a token is refused. Every message is safe to send to the client.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    #[error("algorithm '{0}' is not allowed")]
    AlgorithmNotAllowed(String),
    #[error("token header has critical extensions that are not supported")]
    UnsupportedCritical,
    #[error("token has no 'iss' claim")]
    MissingIssuer,
    #[error("issuer '{0}' is not trusted")]
    UntrustedIssuer(String),
    #[error("signing keys of issuer '{0}' are not available yet")]
    KeysUnavailable(String),
    #[error("no key with id '{kid}' for issuer '{issuer}'")]
    UnknownKey { issuer: String, kid: String },
    #[error("no key of issuer '{issuer}' accepts algorithm {alg}")]
    AlgorithmMismatch { issuer: String, alg: Algorithm },
    #[error("signature invalid")]
    SignatureInvalid,
    #[error("token has no 'exp' claim")]
    MissingExpiry,
    #[error("token expired at {}", rfc3339(*.0))]
    Expired(u64),
    #[error("token is not valid before {}", rfc3339(*.0))]
    NotYetValid(u64),
    #[error("token was issued in the future ({})", rfc3339(*.0))]
    IssuedInFuture(u64),
    #[error("claim '{0}' is not a valid NumericDate")]
    InvalidTime(&'static str),
    #[error("audience does not match")]
    AudienceMismatch,
}

/// What a token's header tells, before anything is trusted.
struct Header<'a> {
    alg: Algorithm,
    kid: Option<&'a str>,
}

// === impl JwtProvider ===

impl JwtProvider {
    /// `audiences` empty means the token's `aud` is not checked.
    pub fn new(issuer: impl Into<String>, audiences: Vec<String>, keys: JwksHandle) -> Self {
        JwtProvider {
            issuer: issuer.into(),
            audiences,
            keys,
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    /// The handle the proxy swaps a fetched key set into.
    pub fn keys(&self) -> &JwksHandle {
        &self.keys
    }

    /// Whether the token's `aud` (a string or an array of strings) names one of ours.
    fn audience_matches(&self, aud: Option<&Value>) -> bool {
        if self.audiences.is_empty() {
            return true;
        }
        let ours = |candidate: &Value| {
            candidate
                .as_str()
                .is_some_and(|aud| self.audiences.iter().any(|a| a == aud))
        };
        match aud {
            Some(Value::Array(items)) => items.iter().any(ours),
            Some(single) => ours(single),
            None => false,
        }
    }
}

// === impl JwtValidator ===

impl JwtValidator {
    /// The clock skew tolerated on `exp`, `nbf` and `iat` unless set otherwise.
    pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);

    pub fn new(mode: AuthMode, providers: Vec<JwtProvider>) -> Result<Self, JwtConfigError> {
        if providers.is_empty() {
            return Err(JwtConfigError::NoProviders);
        }
        for (index, provider) in providers.iter().enumerate() {
            if provider.issuer.is_empty() {
                return Err(JwtConfigError::EmptyIssuer { index });
            }
            if providers[..index]
                .iter()
                .any(|p| p.issuer == provider.issuer)
            {
                return Err(JwtConfigError::DuplicateIssuer {
                    issuer: provider.issuer.clone(),
                });
            }
        }
        Ok(JwtValidator {
            providers,
            mode,
            leeway: JwtValidator::DEFAULT_LEEWAY,
            require_exp: true,
        })
    }

    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Whether a token without `exp` is refused (the default: a token that never expires
    /// cannot be revoked by waiting). Some service-to-service issuers omit it.
    pub fn require_expiry(mut self, required: bool) -> Self {
        self.require_exp = required;
        self
    }

    pub fn mode(&self) -> AuthMode {
        self.mode
    }

    pub fn leeway(&self) -> Duration {
        self.leeway
    }

    pub fn providers(&self) -> &[JwtProvider] {
        &self.providers
    }

    /// The decision for a request: the bearer token of its `Authorization` header, checked
    /// under this policy's mode. A request whose `Authorization` holds another scheme has no
    /// bearer token, so `Optional` lets it pass (another policy may authenticate it).
    pub fn authenticate(&self, headers: &HeaderMap, now_unix: u64) -> Outcome<Claims, JwtError> {
        self.mode
            .decide(bearer_token(headers).map(|token| self.validate(token, now_unix)))
    }

    /// Validates one compact-serialized JWS token at `now_unix` (seconds).
    pub fn validate(&self, token: &str, now_unix: u64) -> Result<Claims, JwtError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(JwtError::Malformed("token is too large"));
        }
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed("expected three dot-separated parts"));
        };
        let header_json = decode_object(header_b64, "header is not base64url-encoded JSON")?;
        let header = parse_header(&header_json)?;
        let claims = decode_object(payload_b64, "payload is not base64url-encoded JSON")?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature_b64)
            .map_err(|_| JwtError::Malformed("signature is not base64url"))?;

        // The issuer is read before the signature is checked only to choose whose keys to use;
        // nothing else in the payload is looked at until the signature holds.
        let issuer = match claims.get("iss") {
            Some(Value::String(iss)) => iss.as_str(),
            _ => return Err(JwtError::MissingIssuer),
        };
        let provider = self
            .providers
            .iter()
            .find(|p| p.issuer == issuer)
            .ok_or_else(|| JwtError::UntrustedIssuer(echo(issuer)))?;

        let signed = &token.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];
        verify_signature(provider, &header, signed, &signature)?;
        self.check_times(&claims, now_unix)?;
        if !provider.audience_matches(claims.get("aud")) {
            return Err(JwtError::AudienceMismatch);
        }
        Ok(Claims::new(claims))
    }

    fn check_times(&self, claims: &Map<String, Value>, now: u64) -> Result<(), JwtError> {
        let leeway = self.leeway.as_secs();
        match numeric_date(claims, "exp")? {
            // RFC 7519: the token must not be accepted on or after `exp`.
            Some(exp) if now >= exp.saturating_add(leeway) => return Err(JwtError::Expired(exp)),
            Some(_) => {}
            None if self.require_exp => return Err(JwtError::MissingExpiry),
            None => {}
        }
        if let Some(nbf) = numeric_date(claims, "nbf")?
            && now.saturating_add(leeway) < nbf
        {
            return Err(JwtError::NotYetValid(nbf));
        }
        if let Some(iat) = numeric_date(claims, "iat")?
            && iat > now.saturating_add(leeway)
        {
            return Err(JwtError::IssuedInFuture(iat));
        }
        Ok(())
    }
}

/// Tries the candidate keys of the provider's current set, reporting why none verified.
fn verify_signature(
    provider: &JwtProvider,
    header: &Header<'_>,
    signed: &[u8],
    signature: &[u8],
) -> Result<(), JwtError> {
    let jwks = provider.keys.load();
    if jwks.is_empty() {
        return Err(JwtError::KeysUnavailable(echo(&provider.issuer)));
    }
    let mut any_candidate = false;
    let mut any_fitting = false;
    for key in jwks.candidates(header.kid) {
        any_candidate = true;
        if !key.accepts(header.alg) {
            continue;
        }
        any_fitting = true;
        if header.alg.verify(key.material(), signed, signature) {
            return Ok(());
        }
    }
    match (any_candidate, any_fitting, header.kid) {
        (false, _, Some(kid)) => Err(JwtError::UnknownKey {
            issuer: echo(&provider.issuer),
            kid: echo(kid),
        }),
        (_, false, _) => Err(JwtError::AlgorithmMismatch {
            issuer: echo(&provider.issuer),
            alg: header.alg,
        }),
        _ => Err(JwtError::SignatureInvalid),
    }
}

fn decode_object(part: &str, what: &'static str) -> Result<Map<String, Value>, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::Malformed(what))?;
    serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed(what))
}

fn parse_header(header: &Map<String, Value>) -> Result<Header<'_>, JwtError> {
    let name = match header.get("alg") {
        Some(Value::String(name)) => name,
        _ => return Err(JwtError::Malformed("header has no 'alg'")),
    };
    let alg =
        Algorithm::from_name(name).ok_or_else(|| JwtError::AlgorithmNotAllowed(echo(name)))?;
    // RFC 7515 section 4.1.11: extensions marked critical must be understood, and we
    // understand none (e.g. `b64: false` would change what is signed).
    if header.contains_key("crit") {
        return Err(JwtError::UnsupportedCritical);
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.as_str()),
        Some(_) => return Err(JwtError::Malformed("'kid' is not a string")),
    };
    Ok(Header { alg, kid })
}

/// A NumericDate claim (RFC 7519: seconds, possibly fractional), truncated to whole seconds.
fn numeric_date(claims: &Map<String, Value>, name: &'static str) -> Result<Option<u64>, JwtError> {
    let Some(value) = claims.get(name) else {
        return Ok(None);
    };
    if let Some(secs) = value.as_u64() {
        return Ok(Some(secs));
    }
    match value.as_f64() {
        // `as` saturates for values beyond u64, which only makes a far-future time farther.
        Some(secs) if secs.is_finite() && secs >= 0.0 => Ok(Some(secs as u64)),
        _ => Err(JwtError::InvalidTime(name)),
    }
}

/// A token-supplied string made fit for an error message: bounded, without control characters
/// (the message may end up in a header or a log line).
fn echo(s: &str) -> String {
    s.chars()
        .take(MAX_ECHO_CHARS)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// The token of an `Authorization: Bearer <token>` header; the scheme is case-insensitive
/// (RFC 9110 section 11.1). `None` when the header is absent, holds another scheme, or the
/// token is empty.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim_matches(' ');
    (!token.is_empty()).then_some(token)
}

/// The `WWW-Authenticate` value for a 401 from JWT authentication (RFC 6750 section 3): no
/// error code when the token was missing, `invalid_token` with a description otherwise.
pub fn bearer_challenge(rejection: &Rejection<JwtError>) -> HeaderValue {
    match rejection {
        Rejection::Missing => HeaderValue::from_static("Bearer"),
        Rejection::Invalid(error) => {
            // A quoted-string may not hold `"` or `\` unescaped; replacing them keeps the
            // message readable and the header well-formed.
            let description: String = error
                .to_string()
                .chars()
                .map(|c| match c {
                    '"' | '\\' => '\'',
                    c if c.is_ascii_graphic() || c == ' ' => c,
                    _ => '?',
                })
                .collect();
            HeaderValue::from_str(&format!(
                "Bearer error=\"invalid_token\", error_description=\"{description}\""
            ))
            .unwrap_or_else(|_| HeaderValue::from_static("Bearer error=\"invalid_token\""))
        }
    }
}
