//! AWS Signature Version 4 (`AWS4-HMAC-SHA256`) for requests to Bedrock.
//!
//! Signs the way botocore's `SigV4Auth` does for `bedrock-runtime`: the signed headers are
//! `content-type;host;x-amz-date` plus `x-amz-security-token` with temporary credentials,
//! `x-amz-content-sha256` is not sent (the payload hash is still the last line of the
//! canonical request), and the canonical URI encodes the already-encoded path a second time,
//! as every service except S3 expects.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use ring::{digest, hmac};

const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Long-term or temporary AWS credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Present with temporary (STS) credentials; it is then sent and signed.
    pub session_token: Option<String>,
}

/// Written by hand so the secret and the session token never reach a log line.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// The parts of an HTTP request that go into its signature.
#[derive(Debug, Clone, Copy)]
pub struct SigningRequest<'a> {
    pub method: &'a str,
    /// The `Host` header exactly as sent (with the port when it is not the default one).
    pub host: &'a str,
    /// The path already percent-encoded as it goes on the wire, e.g.
    /// `/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse`.
    pub path: &'a str,
    /// The query string without `?`, if any.
    pub query: Option<&'a str>,
    pub content_type: &'a str,
    pub payload: &'a [u8],
}

/// The headers to add to the request: `x-amz-date`, `x-amz-security-token` (only with a
/// session token) and `authorization`.
pub fn sign(
    req: &SigningRequest,
    creds: &Credentials,
    region: &str,
    service: &str,
    time: SystemTime,
) -> Vec<(&'static str, String)> {
    let stamp = Timestamp::from_system_time(time);
    let token = creds.session_token.as_deref();
    let (canonical, signed_headers) = canonical_request(req, &stamp.amz_date, token);
    let scope = format!("{}/{region}/{service}/aws4_request", stamp.date);
    let to_sign = string_to_sign(&stamp.amz_date, &scope, &canonical);
    let key = signing_key(&creds.secret_access_key, &stamp.date, region, service);
    let signature = hex(hmac::sign(&key, to_sign.as_bytes()).as_ref());
    let authorization = format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        creds.access_key_id
    );
    let mut headers = vec![("x-amz-date", stamp.amz_date)];
    if let Some(token) = token {
        headers.push(("x-amz-security-token", token.to_string()));
    }
    headers.push(("authorization", authorization));
    headers
}

/// Percent-encodes one path segment: everything but `A-Z a-z 0-9 - . _ ~`, so a model id
/// like `anthropic.claude-3-haiku-20240307-v1:0` (or an ARN with `/`) stays one segment.
pub fn encode_path_segment(segment: &str) -> String {
    encode(segment.as_bytes(), false)
}

/// The canonical request and the `SignedHeaders` list it used.
fn canonical_request(
    req: &SigningRequest,
    amz_date: &str,
    token: Option<&str>,
) -> (String, String) {
    // Names are already lowercase and in sorted order, as the canonical form requires.
    let mut headers = vec![
        ("content-type", canonical_header_value(req.content_type)),
        ("host", canonical_header_value(req.host)),
        ("x-amz-date", amz_date.to_string()),
    ];
    if let Some(token) = token {
        headers.push(("x-amz-security-token", canonical_header_value(token)));
    }
    let canonical_headers: String = headers
        .iter()
        .map(|(name, value)| format!("{name}:{value}\n"))
        .collect();
    let signed_headers = headers
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(";");
    let path = if req.path.is_empty() { "/" } else { req.path };
    let canonical = format!(
        "{}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{}",
        req.method.to_ascii_uppercase(),
        encode(path.as_bytes(), true),
        canonical_query(req.query.unwrap_or_default()),
        hex(digest::digest(&digest::SHA256, req.payload).as_ref()),
    );
    (canonical, signed_headers)
}

fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    let hashed = hex(digest::digest(&digest::SHA256, canonical_request.as_bytes()).as_ref());
    format!("{ALGORITHM}\n{amz_date}\n{scope}\n{hashed}")
}

fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> hmac::Key {
    let step = |key: &[u8], data: &str| {
        hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes())
    };
    let k_date = step(format!("AWS4{secret}").as_bytes(), date);
    let k_region = step(k_date.as_ref(), region);
    let k_service = step(k_region.as_ref(), service);
    let k_signing = step(k_service.as_ref(), "aws4_request");
    hmac::Key::new(hmac::HMAC_SHA256, k_signing.as_ref())
}

/// Header values are trimmed and inner runs of spaces collapse to one.
fn canonical_header_value(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Each name and value is decoded and then encoded strictly, so a query given either raw or
/// already encoded canonicalises the same way; pairs are sorted by name, then value.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (
                encode(&percent_decode(name), false),
                encode(&percent_decode(value), false),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// RFC 3986 percent-encoding with uppercase hex; `keep_slash` leaves path separators alone.
fn encode(bytes: &[u8], keep_slash: bool) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &byte in bytes {
        if is_unreserved(byte) || (keep_slash && byte == b'/') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX_UPPER[usize::from(byte >> 4)]));
            out.push(char::from(HEX_UPPER[usize::from(byte & 0xf)]));
        }
    }
    out
}

/// `%XX` escapes become bytes; a malformed escape is kept literally (and encoded as `%25`).
fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&high), Some(&low)) => hex_value(high).zip(hex_value(low)),
            _ => None,
        };
        match escaped {
            Some((high, low)) => {
                out.push(high << 4 | low);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    out
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|v| u8::try_from(v).ok())
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";
const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";

/// Lowercase hex, as hashes and signatures are written in SigV4.
fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &byte in bytes {
        out.push(char::from(HEX_LOWER[usize::from(byte >> 4)]));
        out.push(char::from(HEX_LOWER[usize::from(byte & 0xf)]));
    }
    out
}

/// The two renderings of the signing time SigV4 uses, in UTC.
struct Timestamp {
    /// `YYYYMMDDTHHMMSSZ`
    amz_date: String,
    /// `YYYYMMDD`, the first element of the credential scope.
    date: String,
}

impl Timestamp {
    fn from_system_time(time: SystemTime) -> Self {
        // A clock before 1970 cannot produce a signature AWS accepts either way; signing
        // with the epoch lets the service answer with its clock-skew error.
        let secs = time
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let (year, month, day) = civil_from_days(secs / 86_400);
        let second_of_day = secs % 86_400;
        let date = format!("{year:04}{month:02}{day:02}");
        let amz_date = format!(
            "{date}T{:02}{:02}{:02}Z",
            second_of_day / 3600,
            second_of_day % 3600 / 60,
            second_of_day % 60
        );
        Self { amz_date, date }
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day). The calendar repeats
/// every 400 years (146 097 days); shifting the year to start on 1 March puts the leap day
/// at the end, so month lengths inside a year follow a fixed pattern.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // 719 468 days separate 0000-03-01 from 1970-01-01.
    let shifted = days + 719_468;
    let era = shifted / 146_097;
    let day_of_era = shifted % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Months counted from March: 153 days per five-month run (31+30+31+30+31).
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;
    use serde_json::Value;
    use std::time::Duration;

    fn example() -> Value {
        serde_json::from_slice(&fixture("bedrock/sigv4_example.json")).unwrap()
    }

    /// 2025-08-12T09:30:00Z, the fixture's timestamp.
    fn example_time() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_754_991_000)
    }

    fn example_creds(inputs: &Value) -> Credentials {
        Credentials {
            access_key_id: inputs["access_key_id"].as_str().unwrap().into(),
            secret_access_key: inputs["secret_access_key"].as_str().unwrap().into(),
            session_token: inputs["session_token"].as_str().map(String::from),
        }
    }

    fn example_request(inputs: &Value) -> SigningRequest<'_> {
        let url = inputs["url"].as_str().unwrap();
        let rest = url.strip_prefix("https://").unwrap();
        let (host, path) = rest.split_at(rest.find('/').unwrap());
        SigningRequest {
            method: inputs["method"].as_str().unwrap(),
            host,
            path,
            query: None,
            content_type: inputs["headers_before_signing"]["Content-Type"]
                .as_str()
                .unwrap(),
            payload: inputs["body"].as_str().unwrap().as_bytes(),
        }
    }

    #[test]
    fn reproduces_botocore_canonical_request_string_to_sign_and_signature() {
        let example = example();
        let inputs = &example["inputs"];
        let req = example_request(inputs);
        let creds = example_creds(inputs);
        let stamp = Timestamp::from_system_time(example_time());
        assert_eq!(stamp.amz_date, inputs["timestamp"]);

        let (canonical, signed) =
            canonical_request(&req, &stamp.amz_date, creds.session_token.as_deref());
        assert_eq!(canonical, example["canonical_request"]);
        assert_eq!(signed, "content-type;host;x-amz-date;x-amz-security-token");
        let scope = "20250812/us-east-1/bedrock/aws4_request";
        assert_eq!(
            string_to_sign(&stamp.amz_date, scope, &canonical),
            example["string_to_sign"]
        );

        let headers = sign(&req, &creds, "us-east-1", "bedrock", example_time());
        let expected = &example["signed_request_headers"];
        assert_eq!(
            headers,
            vec![
                (
                    "x-amz-date",
                    expected["X-Amz-Date"].as_str().unwrap().into()
                ),
                (
                    "x-amz-security-token",
                    expected["X-Amz-Security-Token"].as_str().unwrap().into()
                ),
                (
                    "authorization",
                    expected["Authorization"].as_str().unwrap().into()
                ),
            ]
        );
    }

    #[test]
    fn payload_hash_matches_the_fixture() {
        let example = example();
        let body = example["inputs"]["body"].as_str().unwrap();
        assert_eq!(
            hex(digest::digest(&digest::SHA256, body.as_bytes()).as_ref()),
            example["payload_sha256"]
        );
    }

    #[test]
    fn long_term_credentials_sign_without_a_token_header() {
        let example = example();
        let mut creds = example_creds(&example["inputs"]);
        creds.session_token = None;
        let headers = sign(
            &example_request(&example["inputs"]),
            &creds,
            "us-east-1",
            "bedrock",
            example_time(),
        );
        let names: Vec<_> = headers.iter().map(|(name, _)| *name).collect();
        assert_eq!(names, ["x-amz-date", "authorization"]);
        assert!(
            headers[1]
                .1
                .contains("SignedHeaders=content-type;host;x-amz-date, ")
        );
    }

    #[test]
    fn model_ids_become_one_encoded_segment() {
        assert_eq!(
            encode_path_segment("anthropic.claude-3-haiku-20240307-v1:0"),
            "anthropic.claude-3-haiku-20240307-v1%3A0"
        );
        assert_eq!(
            encode_path_segment("arn:aws:bedrock:us-east-1:1:inference-profile/us.x~y z"),
            "arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fus.x~y%20z"
        );
    }

    #[test]
    fn query_is_sorted_and_strictly_encoded() {
        assert_eq!(canonical_query("b=2&a=x y&a=%41&c"), "a=A&a=x%20y&b=2&c=");
        assert_eq!(canonical_query(""), "");
    }

    #[test]
    fn dates_follow_the_gregorian_calendar() {
        let at = |secs| Timestamp::from_system_time(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0).amz_date, "19700101T000000Z");
        assert_eq!(at(951_782_400).date, "20000229");
        assert_eq!(at(4_107_542_399).amz_date, "21000228T235959Z");
        assert_eq!(at(4_107_542_400).date, "21000301");
    }

    #[test]
    fn debug_output_hides_secrets() {
        let creds = example_creds(&example()["inputs"]);
        let printed = format!("{creds:?}");
        assert!(printed.contains("AKIDEXAMPLE"));
        assert!(!printed.contains("wJalrXUtnFEMI"));
        assert!(!printed.contains("FAKE-SESSION-TOKEN"));
    }
}
