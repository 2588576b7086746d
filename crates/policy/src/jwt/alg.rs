//! JWS signature algorithms (RFC 7518) and their verification with ring.
//!
//! The algorithm a token claims is only trusted after checking that the key it selects is of
//! the matching kind: that check is what defeats the classic RS256 -> HS256 confusion, where
//! an RSA public key is misused as an HMAC secret.

use std::fmt;

use ring::hmac;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};

use super::jwks::{Curve, KeyMaterial};

/// A signature algorithm this gateway verifies. `none` is deliberately absent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
    EdDsa,
    Hs256,
    Hs384,
    Hs512,
}

// === impl Algorithm ===

impl Algorithm {
    /// Every supported algorithm, in the order of [`Algorithm::name`]'s table.
    pub const ALL: [Algorithm; 12] = [
        Algorithm::Rs256,
        Algorithm::Rs384,
        Algorithm::Rs512,
        Algorithm::Ps256,
        Algorithm::Ps384,
        Algorithm::Ps512,
        Algorithm::Es256,
        Algorithm::Es384,
        Algorithm::EdDsa,
        Algorithm::Hs256,
        Algorithm::Hs384,
        Algorithm::Hs512,
    ];

    /// The `alg` value of a JWS header or a JWK.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Rs256 => "RS256",
            Algorithm::Rs384 => "RS384",
            Algorithm::Rs512 => "RS512",
            Algorithm::Ps256 => "PS256",
            Algorithm::Ps384 => "PS384",
            Algorithm::Ps512 => "PS512",
            Algorithm::Es256 => "ES256",
            Algorithm::Es384 => "ES384",
            Algorithm::EdDsa => "EdDSA",
            Algorithm::Hs256 => "HS256",
            Algorithm::Hs384 => "HS384",
            Algorithm::Hs512 => "HS512",
        }
    }

    /// Parses an `alg` value; names are case-sensitive (RFC 7515 section 4.1.1).
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|alg| alg.name() == name)
    }

    /// Whether a key of this material can verify this algorithm.
    pub(super) fn fits(self, material: &KeyMaterial) -> bool {
        match (self, material) {
            (
                Algorithm::Rs256
                | Algorithm::Rs384
                | Algorithm::Rs512
                | Algorithm::Ps256
                | Algorithm::Ps384
                | Algorithm::Ps512,
                KeyMaterial::Rsa { .. },
            ) => true,
            (Algorithm::Es256, KeyMaterial::Ec { curve, .. }) => *curve == Curve::P256,
            (Algorithm::Es384, KeyMaterial::Ec { curve, .. }) => *curve == Curve::P384,
            (Algorithm::EdDsa, KeyMaterial::Ed25519(_)) => true,
            (Algorithm::Hs256 | Algorithm::Hs384 | Algorithm::Hs512, KeyMaterial::Oct(_)) => true,
            _ => false,
        }
    }

    /// Verifies `signature` over `message` with `key`. False when the key does not fit the
    /// algorithm, so a caller that forgot [`Algorithm::fits`] still cannot be confused.
    pub(super) fn verify(self, key: &KeyMaterial, message: &[u8], signature: &[u8]) -> bool {
        if !self.fits(key) {
            return false;
        }
        match key {
            KeyMaterial::Rsa { n, e } => {
                let Some(params) = self.rsa_params() else {
                    return false;
                };
                RsaPublicKeyComponents { n, e }
                    .verify(params, message, signature)
                    .is_ok()
            }
            KeyMaterial::Ec { curve, point } => {
                // JWS carries ECDSA signatures as fixed-width r || s, not DER.
                let params: &dyn signature::VerificationAlgorithm = match curve {
                    Curve::P256 => &signature::ECDSA_P256_SHA256_FIXED,
                    Curve::P384 => &signature::ECDSA_P384_SHA384_FIXED,
                };
                UnparsedPublicKey::new(params, point)
                    .verify(message, signature)
                    .is_ok()
            }
            KeyMaterial::Ed25519(public) => UnparsedPublicKey::new(&signature::ED25519, public)
                .verify(message, signature)
                .is_ok(),
            KeyMaterial::Oct(secret) => {
                let Some(hmac_alg) = self.hmac_alg() else {
                    return false;
                };
                // hmac::verify compares tags in constant time.
                hmac::verify(
                    &hmac::Key::new(hmac_alg, secret.expose()),
                    message,
                    signature,
                )
                .is_ok()
            }
        }
    }

    fn rsa_params(self) -> Option<&'static signature::RsaParameters> {
        // ring refuses moduli under 2048 bits in all of these, which is the floor we want.
        Some(match self {
            Algorithm::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Algorithm::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            Algorithm::Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            Algorithm::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
            Algorithm::Ps384 => &signature::RSA_PSS_2048_8192_SHA384,
            Algorithm::Ps512 => &signature::RSA_PSS_2048_8192_SHA512,
            _ => return None,
        })
    }

    fn hmac_alg(self) -> Option<hmac::Algorithm> {
        match self {
            Algorithm::Hs256 => Some(hmac::HMAC_SHA256),
            Algorithm::Hs384 => Some(hmac::HMAC_SHA384),
            Algorithm::Hs512 => Some(hmac::HMAC_SHA512),
            _ => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
