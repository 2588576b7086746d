//! The password hashes an htpasswd file may hold, and their verification.
//!
//! Supported: bcrypt (`$2y$`, `$2a$`, `$2b$`; what `htpasswd -B` writes), Apache's MD5 crypt
//! (`$apr1$`; the `htpasswd -m` default) and `{SHA}` (unsalted SHA-1, kept for old files).
//! Refused: plaintext and crypt(3) DES, which leak passwords, and schemes we do not verify.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use md5::{Digest as _, Md5};
use ring::digest::{SHA1_FOR_LEGACY_USE_ONLY, digest};
use subtle::ConstantTimeEq;

/// The crypt(3) base-64 alphabet (not RFC 4648's).
const CRYPT64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

const APR1_MAGIC: &str = "$apr1$";

/// A parsed htpasswd hash.
pub(super) enum PasswordHash {
    /// The whole 60-character hash, which the bcrypt crate parses again on each verification.
    Bcrypt(String),
    /// Salt (up to 8 characters) and the 22-character checksum.
    Apr1 {
        salt: String,
        checksum: String,
    },
    Sha1([u8; 20]),
}

// === impl PasswordHash ===

impl PasswordHash {
    /// Parses the hash field of a line; the error says why it cannot be used.
    pub(super) fn parse(hash: &str) -> Result<PasswordHash, String> {
        if let Some(rest) = ["$2y$", "$2a$", "$2b$"]
            .into_iter()
            .find_map(|prefix| hash.strip_prefix(prefix))
        {
            return parse_bcrypt(hash, rest);
        }
        if let Some(rest) = hash.strip_prefix(APR1_MAGIC) {
            return parse_apr1(rest);
        }
        if let Some(b64) = hash.strip_prefix("{SHA}") {
            let bytes = STANDARD
                .decode(b64)
                .map_err(|_| "{SHA} hash is not valid base64".to_owned())?;
            let digest: [u8; 20] = bytes
                .try_into()
                .map_err(|_| "{SHA} hash must decode to 20 bytes".to_owned())?;
            return Ok(PasswordHash::Sha1(digest));
        }
        Err(match hash.as_bytes() {
            [] => "the password hash is empty".to_owned(),
            [b'$', ..] => {
                let scheme = hash.split('$').nth(1).unwrap_or_default();
                format!("hash scheme '${scheme}$' is not supported (use bcrypt: htpasswd -B)")
            }
            _ => "plaintext or crypt(3) DES passwords are not supported (use bcrypt: htpasswd -B)"
                .to_owned(),
        })
    }

    /// Whether `password` matches; digests are compared in constant time.
    pub(super) fn verify(&self, password: &[u8]) -> bool {
        match self {
            // bcrypt::verify compares in constant time itself.
            PasswordHash::Bcrypt(hash) => bcrypt::verify(password, hash).unwrap_or(false),
            PasswordHash::Apr1 { salt, checksum } => apr1_checksum(password, salt.as_bytes())
                .as_bytes()
                .ct_eq(checksum.as_bytes())
                .into(),
            PasswordHash::Sha1(expected) => digest(&SHA1_FOR_LEGACY_USE_ONLY, password)
                .as_ref()
                .ct_eq(expected)
                .into(),
        }
    }

    /// Whether verifying costs enough to be worth caching (bcrypt is slow on purpose).
    pub(super) fn is_slow(&self) -> bool {
        matches!(self, PasswordHash::Bcrypt(_))
    }
}

fn parse_bcrypt(hash: &str, rest: &str) -> Result<PasswordHash, String> {
    // `$2y$` + cost (2 digits) + `$` + 22 salt + 31 hash characters.
    let malformed = || "bcrypt hash is malformed (expected 60 characters: $2y$NN$...)".to_owned();
    if hash.len() != 60 || !hash.is_ascii() {
        return Err(malformed());
    }
    let (cost, body) = rest.split_once('$').ok_or_else(malformed)?;
    let cost: u32 = match cost.as_bytes() {
        [a, b] if a.is_ascii_digit() && b.is_ascii_digit() => {
            cost.parse().map_err(|_| malformed())?
        }
        _ => return Err(malformed()),
    };
    if !(4..=31).contains(&cost) {
        return Err(format!("bcrypt cost {cost} is outside 4..=31"));
    }
    if body.len() != 53 || !body.bytes().all(|b| CRYPT64.contains(&b)) {
        return Err(malformed());
    }
    Ok(PasswordHash::Bcrypt(hash.to_owned()))
}

fn parse_apr1(rest: &str) -> Result<PasswordHash, String> {
    let (salt, checksum) = rest
        .split_once('$')
        .ok_or_else(|| "$apr1$ hash is malformed (expected $apr1$salt$checksum)".to_owned())?;
    if salt.is_empty() || salt.len() > 8 || !salt.bytes().all(|b| CRYPT64.contains(&b)) {
        return Err("$apr1$ salt must be 1 to 8 characters of [./0-9A-Za-z]".to_owned());
    }
    if checksum.len() != 22 || !checksum.bytes().all(|b| CRYPT64.contains(&b)) {
        return Err("$apr1$ checksum must be 22 characters of [./0-9A-Za-z]".to_owned());
    }
    Ok(PasswordHash::Apr1 {
        salt: salt.to_owned(),
        checksum: checksum.to_owned(),
    })
}

/// Apache's variant of the FreeBSD MD5 crypt (only the magic string differs): the 22-character
/// checksum that follows `$apr1$<salt>$`. Written from the published algorithm description.
pub(super) fn apr1_checksum(password: &[u8], salt: &[u8]) -> String {
    // The alternate sum: MD5(password, salt, password).
    let alternate = Md5::new()
        .chain_update(password)
        .chain_update(salt)
        .chain_update(password)
        .finalize();

    let mut ctx = Md5::new()
        .chain_update(password)
        .chain_update(APR1_MAGIC)
        .chain_update(salt);
    let mut remaining = password.len();
    while remaining > 0 {
        let take = remaining.min(16);
        ctx.update(&alternate[..take]);
        remaining -= take;
    }
    // One byte per bit of the password length: a NUL for a set bit, the password's first byte
    // for a clear one (an original implementation quirk every implementation must repeat).
    let mut bits = password.len();
    while bits > 0 {
        if bits & 1 == 1 {
            ctx.update([0u8]);
        } else {
            ctx.update(&password[..1]);
        }
        bits >>= 1;
    }
    let mut sum = ctx.finalize();

    // 1000 rounds to slow down guessing (by 1990s standards).
    for round in 0..1000 {
        let mut ctx = Md5::new();
        if round % 2 == 1 {
            ctx.update(password);
        } else {
            ctx.update(sum);
        }
        if round % 3 != 0 {
            ctx.update(salt);
        }
        if round % 7 != 0 {
            ctx.update(password);
        }
        if round % 2 == 1 {
            ctx.update(sum);
        } else {
            ctx.update(password);
        }
        sum = ctx.finalize();
    }

    // Output bytes are regrouped in this fixed order, each group of three written as four
    // crypt64 characters, least significant six bits first; byte 11 goes last on its own.
    let mut out = String::with_capacity(22);
    for [a, b, c] in [[0, 6, 12], [1, 7, 13], [2, 8, 14], [3, 9, 15], [4, 10, 5]] {
        let group = (u32::from(sum[a]) << 16) | (u32::from(sum[b]) << 8) | u32::from(sum[c]);
        push_crypt64(&mut out, group, 4);
    }
    push_crypt64(&mut out, u32::from(sum[11]), 2);
    out
}

fn push_crypt64(out: &mut String, mut value: u32, chars: usize) {
    for _ in 0..chars {
        out.push(char::from(CRYPT64[(value & 0x3f) as usize]));
        value >>= 6;
    }
}
