//! JSON Web Key Sets (RFC 7517), parsed once into keys ready for verification, and the
//! swappable handle through which the proxy rotates them.
//!
//! A set is parsed leniently key by key: identity providers publish encryption keys, curves
//! and algorithms we do not verify next to the ones we do, and one odd key must not take the
//! whole issuer down. Each skipped key is kept with its reason so configuration status can
//! show it; only a set with no usable key at all is an error.

use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;
use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde_json::{Map, Value};

use super::alg::Algorithm;

/// base64url with or without padding: JWKS documents in the wild use both.
const B64URL_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// ring verifies RSA from 2048 bits on; refusing smaller keys at load time says so up front
/// instead of failing every token with "signature invalid".
const RSA_MIN_MODULUS_BYTES: usize = 256;
/// ring's upper bound (8192 bits); larger keys would fail every verification.
const RSA_MAX_MODULUS_BYTES: usize = 1024;

/// A parsed key set: the keys we can verify with, and those we skipped with why.
#[derive(Debug, Default)]
pub struct Jwks {
    keys: Vec<Jwk>,
    skipped: Vec<SkippedKey>,
}

/// One verification key.
#[derive(Debug)]
pub struct Jwk {
    kid: Option<String>,
    alg: Option<Algorithm>,
    material: KeyMaterial,
}

/// A key of the set that was not loaded, and why (safe to show: never key material).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedKey {
    /// Position in the `keys` array.
    pub index: usize,
    pub kid: Option<String>,
    pub reason: String,
}

/// A key set that cannot be used at all.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// The document is not JSON. Only the position is reported: an `oct` set holds secrets,
    /// and serde's messages can quote the offending value.
    #[error("JWKS is not valid JSON ({category} error at line {line}, column {column})")]
    Json {
        category: &'static str,
        line: usize,
        column: usize,
    },
    #[error("JWKS must be an object with a \"keys\" array (or a single JWK object)")]
    NotAKeySet,
    #[error("JWKS has no usable key{}", describe_skipped(.skipped))]
    NoUsableKeys { skipped: Vec<SkippedKey> },
}

/// A cheaply cloneable handle on an issuer's current key set. The proxy keeps a clone, and
/// swaps in a freshly fetched set with [`JwksHandle::replace`]; validations in flight keep the
/// set they loaded, and no lock is taken on the request path.
#[derive(Clone, Debug)]
pub struct JwksHandle(Arc<ArcSwap<Jwks>>);

/// Key material in the form verification needs.
pub(super) enum KeyMaterial {
    /// Big-endian modulus and exponent.
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// Uncompressed SEC1 point: `0x04 || x || y`.
    Ec {
        curve: Curve,
        point: Vec<u8>,
    },
    Ed25519(Vec<u8>),
    Oct(SecretBytes),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Curve {
    P256,
    P384,
}

/// An HMAC secret; never printed.
pub(super) struct SecretBytes(Vec<u8>);

// === impl Jwks ===

impl Jwks {
    /// Parses a JWKS document (`{"keys": [...]}`; a lone JWK object is accepted too, as people
    /// paste single keys into inline configuration).
    pub fn parse(json: &str) -> Result<Jwks, JwksError> {
        let doc: Value = serde_json::from_str(json).map_err(|e| JwksError::Json {
            category: match e.classify() {
                serde_json::error::Category::Io => "I/O",
                serde_json::error::Category::Syntax => "syntax",
                serde_json::error::Category::Data => "data",
                serde_json::error::Category::Eof => "unexpected end of input",
            },
            line: e.line(),
            column: e.column(),
        })?;
        let entries: Vec<&Value> = match &doc {
            Value::Object(obj) => match obj.get("keys") {
                Some(Value::Array(keys)) => keys.iter().collect(),
                Some(_) => return Err(JwksError::NotAKeySet),
                None if obj.contains_key("kty") => vec![&doc],
                None => return Err(JwksError::NotAKeySet),
            },
            _ => return Err(JwksError::NotAKeySet),
        };
        let mut jwks = Jwks::default();
        for (index, entry) in entries.into_iter().enumerate() {
            match Jwk::parse(entry) {
                Ok(key) => jwks.keys.push(key),
                Err(reason) => jwks.skipped.push(SkippedKey {
                    index,
                    kid: entry.get("kid").and_then(Value::as_str).map(str::to_owned),
                    reason,
                }),
            }
        }
        if jwks.keys.is_empty() {
            return Err(JwksError::NoUsableKeys {
                skipped: jwks.skipped,
            });
        }
        Ok(jwks)
    }

    /// The usable keys.
    pub fn keys(&self) -> &[Jwk] {
        &self.keys
    }

    /// Keys that were present but not loaded, with the reason.
    pub fn skipped(&self) -> &[SkippedKey] {
        &self.skipped
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True only for [`Jwks::default`], the placeholder before a remote set is first fetched.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Keys that may have signed a token with this header. A token's `kid` selects keys with
    /// that id; keys published without a `kid` are candidates for any token, since nothing
    /// rules them out. Without a `kid` every key is a candidate.
    pub(super) fn candidates<'a>(
        &'a self,
        kid: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Jwk> + 'a {
        self.keys.iter().filter(move |key| match (kid, &key.kid) {
            (Some(wanted), Some(have)) => wanted == have,
            (Some(_), None) | (None, _) => true,
        })
    }
}

fn describe_skipped(skipped: &[SkippedKey]) -> String {
    if skipped.is_empty() {
        return String::new();
    }
    let reasons: Vec<String> = skipped.iter().map(ToString::to_string).collect();
    format!(": {}", reasons.join("; "))
}

// === impl Jwk ===

impl Jwk {
    /// The key id, when the set gives one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The algorithm the key is pinned to, when the set gives one.
    pub fn alg(&self) -> Option<Algorithm> {
        self.alg
    }

    /// `RSA`, `EC`, `OKP` or `oct`.
    pub fn kty(&self) -> &'static str {
        match self.material {
            KeyMaterial::Rsa { .. } => "RSA",
            KeyMaterial::Ec { .. } => "EC",
            KeyMaterial::Ed25519(_) => "OKP",
            KeyMaterial::Oct(_) => "oct",
        }
    }

    /// Whether this key may verify a token signed with `alg`: the key's own `alg` pins it when
    /// present, and the key type must fit in any case.
    pub fn accepts(&self, alg: Algorithm) -> bool {
        self.alg.is_none_or(|pinned| pinned == alg) && alg.fits(&self.material)
    }

    pub(super) fn material(&self) -> &KeyMaterial {
        &self.material
    }

    /// Parses one JWK; the error is the reason to skip it.
    fn parse(value: &Value) -> Result<Jwk, String> {
        let Value::Object(obj) = value else {
            return Err("not a JSON object".to_owned());
        };
        if let Some(usage) = obj.get("use")
            && usage.as_str() != Some("sig")
        {
            return Err(format!("\"use\" is {usage}, not \"sig\""));
        }
        if let Some(ops) = obj.get("key_ops") {
            let verifies = ops
                .as_array()
                .is_some_and(|ops| ops.iter().any(|op| op.as_str() == Some("verify")));
            if !verifies {
                return Err("\"key_ops\" does not include \"verify\"".to_owned());
            }
        }
        let kid = match obj.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.clone()),
            Some(_) => return Err("\"kid\" is not a string".to_owned()),
        };
        let material = match str_field(obj, "kty")? {
            "RSA" => rsa_material(obj)?,
            "EC" => ec_material(obj)?,
            "OKP" => okp_material(obj)?,
            "oct" => {
                let secret = bytes_field(obj, "k")?;
                if secret.is_empty() {
                    return Err("\"k\" is empty".to_owned());
                }
                KeyMaterial::Oct(SecretBytes(secret))
            }
            other => return Err(format!("key type \"{other}\" is not supported")),
        };
        let alg = match obj.get("alg") {
            None => None,
            Some(Value::String(name)) => {
                let alg = Algorithm::from_name(name)
                    .ok_or_else(|| format!("algorithm \"{name}\" is not supported"))?;
                if !alg.fits(&material) {
                    return Err(format!("algorithm {alg} does not fit this key"));
                }
                Some(alg)
            }
            Some(_) => return Err("\"alg\" is not a string".to_owned()),
        };
        Ok(Jwk { kid, alg, material })
    }
}

fn rsa_material(obj: &Map<String, Value>) -> Result<KeyMaterial, String> {
    let n = strip_leading_zeros(bytes_field(obj, "n")?);
    let e = strip_leading_zeros(bytes_field(obj, "e")?);
    if n.len() < RSA_MIN_MODULUS_BYTES {
        return Err(format!(
            "RSA modulus has {} bits; at least 2048 are required",
            n.len() * 8
        ));
    }
    if n.len() > RSA_MAX_MODULUS_BYTES {
        return Err(format!(
            "RSA modulus has {} bits; at most 8192 are supported",
            n.len() * 8
        ));
    }
    if e.is_empty() {
        return Err("RSA exponent is zero".to_owned());
    }
    Ok(KeyMaterial::Rsa { n, e })
}

fn ec_material(obj: &Map<String, Value>) -> Result<KeyMaterial, String> {
    let (curve, width) = match str_field(obj, "crv")? {
        "P-256" => (Curve::P256, 32),
        "P-384" => (Curve::P384, 48),
        other => return Err(format!("curve \"{other}\" is not supported")),
    };
    let x = bytes_field(obj, "x")?;
    let y = bytes_field(obj, "y")?;
    if x.len() != width || y.len() != width {
        return Err(format!("EC coordinates must be {width} bytes each"));
    }
    let mut point = Vec::with_capacity(1 + 2 * width);
    point.push(0x04);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    Ok(KeyMaterial::Ec { curve, point })
}

fn okp_material(obj: &Map<String, Value>) -> Result<KeyMaterial, String> {
    match str_field(obj, "crv")? {
        "Ed25519" => {
            let x = bytes_field(obj, "x")?;
            if x.len() != 32 {
                return Err("Ed25519 public key must be 32 bytes".to_owned());
            }
            Ok(KeyMaterial::Ed25519(x))
        }
        other => Err(format!("curve \"{other}\" is not supported")),
    }
}

fn str_field<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<&'a str, String> {
    match obj.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(format!("\"{name}\" is not a string")),
        None => Err(format!("\"{name}\" is missing")),
    }
}

fn bytes_field(obj: &Map<String, Value>, name: &str) -> Result<Vec<u8>, String> {
    B64URL_LENIENT
        .decode(str_field(obj, name)?)
        .map_err(|_| format!("\"{name}\" is not valid base64url"))
}

fn strip_leading_zeros(mut bytes: Vec<u8>) -> Vec<u8> {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    bytes.drain(..zeros);
    bytes
}

impl fmt::Display for SkippedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key #{}", self.index)?;
        if let Some(kid) = &self.kid {
            write!(f, " (kid \"{kid}\")")?;
        }
        write!(f, ": {}", self.reason)
    }
}

// === impl JwksHandle ===

impl JwksHandle {
    pub fn new(jwks: Jwks) -> JwksHandle {
        JwksHandle(Arc::new(ArcSwap::from_pointee(jwks)))
    }

    /// A handle with no keys yet, for a remote set before its first fetch: tokens are refused
    /// with "keys not available" until [`JwksHandle::replace`] is called.
    pub fn pending() -> JwksHandle {
        JwksHandle::new(Jwks::default())
    }

    /// Swaps in a new key set (rotation); every clone of this handle sees it.
    pub fn replace(&self, jwks: Jwks) {
        self.0.store(Arc::new(jwks));
    }

    /// The current key set.
    pub fn load(&self) -> Arc<Jwks> {
        self.0.load_full()
    }
}

impl From<Jwks> for JwksHandle {
    fn from(jwks: Jwks) -> Self {
        JwksHandle::new(jwks)
    }
}

// === impl KeyMaterial ===

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyMaterial::Rsa { n, .. } => write!(f, "Rsa({} bits)", n.len() * 8),
            KeyMaterial::Ec { curve, .. } => write!(f, "Ec({curve:?})"),
            KeyMaterial::Ed25519(_) => f.write_str("Ed25519"),
            KeyMaterial::Oct(_) => f.write_str("Oct(<redacted>)"),
        }
    }
}

impl SecretBytes {
    pub(super) fn expose(&self) -> &[u8] {
        &self.0
    }
}
