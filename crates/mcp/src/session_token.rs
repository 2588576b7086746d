//! Gateway session ids that carry their own state: which targets the session uses, the
//! upstream session id and protocol version of each. Sealed with ChaCha20-Poly1305, so any
//! replica holding the key can resume a session, and a client can neither read nor forge one.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

/// Bytes of key material the session key needs.
pub const KEY_LEN: usize = 32;

/// Binds tokens to their purpose, so a token sealed for something else never opens as one.
const ASSOCIATED_DATA: &[u8] = b"agentgateway mcp session v1";

/// What a session id carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionState {
    /// The protocol version negotiated with the client.
    #[serde(rename = "p")]
    pub protocol: String,
    #[serde(rename = "t")]
    pub targets: Vec<TargetState>,
    /// Who started the session (see `Session::owner`).
    #[serde(rename = "o", default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// One target of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetState {
    #[serde(rename = "n")]
    pub name: String,
    /// The upstream's `Mcp-Session-Id`, if it issued one.
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// The protocol version this target agreed to.
    #[serde(rename = "v", default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Capability bits (see `capabilities::Caps`).
    #[serde(rename = "c", default)]
    pub caps: u8,
    /// The connection lives in one process (stdio, legacy SSE): no other replica can resume it.
    #[serde(rename = "l", default, skip_serializing_if = "std::ops::Not::not")]
    pub local: bool,
}

/// Why a session id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSession {
    #[error("the session id is not one this gateway issued (malformed)")]
    Malformed,
    #[error("the session id was altered or sealed with another key")]
    Tampered,
}

/// Seals and opens session ids.
pub struct SessionCodec {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for SessionCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionCodec(<redacted>)")
    }
}

/// Why a key could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error(
        "the MCP session key must be {KEY_LEN} bytes, written as 64 hex digits or base64 (got {0} bytes)"
    )]
    Length(usize),
    #[error("the system random source failed")]
    Random,
}

impl SessionCodec {
    /// A codec with the given key: 64 hex digits or base64 of 32 bytes.
    pub fn from_text(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        let bytes = decode_hex(text)
            .or_else(|| base64::engine::general_purpose::STANDARD.decode(text).ok())
            .or_else(|| URL_SAFE_NO_PAD.decode(text).ok())
            .unwrap_or_default();
        Self::from_bytes(&bytes)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let key = UnboundKey::new(&CHACHA20_POLY1305, bytes)
            .map_err(|_| KeyError::Length(bytes.len()))?;
        Ok(Self {
            key: LessSafeKey::new(key),
            rng: SystemRandom::new(),
        })
    }

    /// A codec with a fresh random key: sessions then live as long as this process.
    pub fn random() -> Result<Self, KeyError> {
        let mut bytes = [0u8; KEY_LEN];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| KeyError::Random)?;
        Self::from_bytes(&bytes)
    }

    /// The session id for a state: base64url of nonce, ciphertext and tag.
    pub fn seal(&self, state: &SessionState) -> Result<String, KeyError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| KeyError::Random)?;
        let mut data = serde_json::to_vec(state).unwrap_or_default();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                ring::aead::Aad::from(ASSOCIATED_DATA),
                &mut data,
            )
            .map_err(|_| KeyError::Random)?;
        let mut token = Vec::with_capacity(NONCE_LEN + data.len());
        token.extend_from_slice(&nonce);
        token.extend_from_slice(&data);
        Ok(URL_SAFE_NO_PAD.encode(token))
    }

    pub fn open(&self, id: &str) -> Result<SessionState, InvalidSession> {
        let mut token = URL_SAFE_NO_PAD
            .decode(id)
            .map_err(|_| InvalidSession::Malformed)?;
        if token.len() < NONCE_LEN + CHACHA20_POLY1305.tag_len() {
            return Err(InvalidSession::Malformed);
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&token[..NONCE_LEN]);
        let plain = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                ring::aead::Aad::from(ASSOCIATED_DATA),
                &mut token[NONCE_LEN..],
            )
            .map_err(|_| InvalidSession::Tampered)?;
        serde_json::from_slice(plain).map_err(|_| InvalidSession::Malformed)
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != KEY_LEN * 2 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> SessionState {
        SessionState {
            protocol: "2025-06-18".into(),
            targets: vec![TargetState {
                name: "everything".into(),
                session: Some("upstream-1".into()),
                protocol: Some("2025-06-18".into()),
                caps: 7,
                local: false,
            }],
            owner: Some("jwt https://idp.test alice".into()),
        }
    }

    #[test]
    fn sealed_ids_open_to_the_same_state_and_differ_each_time() {
        let codec = SessionCodec::random().unwrap();
        let a = codec.seal(&state()).unwrap();
        let b = codec.seal(&state()).unwrap();
        assert_ne!(a, b, "a fresh nonce per id");
        assert_eq!(codec.open(&a).unwrap(), state());
        assert!(
            !a.contains("upstream-1"),
            "the upstream session id is not readable"
        );
    }

    #[test]
    fn altered_or_foreign_ids_are_refused() {
        let codec = SessionCodec::random().unwrap();
        let id = codec.seal(&state()).unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(&id).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let altered = URL_SAFE_NO_PAD.encode(bytes);
        assert_eq!(codec.open(&altered), Err(InvalidSession::Tampered));
        let other = SessionCodec::random().unwrap();
        assert_eq!(other.open(&id), Err(InvalidSession::Tampered));
        assert_eq!(codec.open("not base64!"), Err(InvalidSession::Malformed));
        assert_eq!(codec.open("c2hvcnQ"), Err(InvalidSession::Malformed));
    }

    #[test]
    fn keys_are_read_from_hex_or_base64() {
        let hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        let a = SessionCodec::from_text(hex).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(decode_hex(hex).unwrap());
        let b = SessionCodec::from_text(&b64).unwrap();
        assert_eq!(b.open(&a.seal(&state()).unwrap()).unwrap(), state());
        assert_eq!(
            SessionCodec::from_text("short").unwrap_err(),
            KeyError::Length(0)
        );
    }
}
