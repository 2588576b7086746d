//! Google Cloud pieces the Vertex AI provider needs, as pure functions: loading a
//! service-account key, building and signing the OAuth2 JWT-bearer assertion, encoding the
//! token request, reading the token response, and Vertex AI hosts, paths and the Claude body
//! rewrite. The proxy performs the token HTTP call and caches the token.

use std::fmt;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use serde::Serialize;
use serde_json::Value;

/// The scope Vertex AI accepts; narrower scopes do not cover `aiplatform` calls.
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// The `anthropic_version` Vertex AI requires in Claude request bodies.
pub const VERTEX_ANTHROPIC_VERSION: &str = "vertex-2023-10-16";

/// Google's token endpoint, used when a key file omits `token_uri`.
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// Google refuses assertions valid for longer than an hour.
const ASSERTION_LIFETIME_SECS: u64 = 3600;

const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Everything that can go wrong on the Google side. Messages say what is wrong and how to fix
/// it, and never carry key material or access tokens.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GcpError {
    #[error(
        "the Secret must hold a service-account JSON key file (IAM > Service accounts > Keys > \
         Add key > JSON), but it is not valid JSON: {0}"
    )]
    NotJson(String),
    #[error("the Secret must hold a service-account JSON key file; got type '{0}'")]
    WrongType(String),
    #[error(
        "the service-account key file has no string field `{0}`; download a fresh JSON key \
         instead of editing it by hand"
    )]
    MissingField(&'static str),
    #[error("the service-account `private_key` is unusable: {0}")]
    BadPrivateKey(String),
    #[error("signing the token request with the service-account key failed")]
    Signing,
    #[error(
        "the Google token endpoint refused the service-account credentials (HTTP {status}): \
         {error}: {description}{hint}"
    )]
    TokenRejected {
        status: u16,
        error: String,
        description: String,
        hint: &'static str,
    },
    #[error("the Google token endpoint answered HTTP {status} with an unexpected body: {snippet}")]
    TokenEndpoint { status: u16, snippet: String },
    #[error("the Google token endpoint answered with an unusable token response: {0}")]
    BadTokenResponse(String),
}

/// A Google service account, ready to sign token requests.
pub struct ServiceAccount {
    pub client_email: String,
    pub private_key_id: String,
    pub token_uri: String,
    pub project_id: Option<String>,
    key: RsaKeyPair,
}

impl fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key stays out of logs; the identifying fields are enough to debug a setup.
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.client_email)
            .field("private_key_id", &self.private_key_id)
            .field("token_uri", &self.token_uri)
            .field("project_id", &self.project_id)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl ServiceAccount {
    /// Reads a service-account JSON key file as downloaded from the Cloud console.
    pub fn from_json(json: &str) -> Result<Self, GcpError> {
        // Parsed as a generic value first so that no serde message can echo a field's content.
        let file: Value =
            serde_json::from_str(json).map_err(|e| GcpError::NotJson(e.to_string()))?;
        let text = |name: &'static str| file.get(name).and_then(Value::as_str);
        let required = |name: &'static str| {
            text(name)
                .filter(|value| !value.is_empty())
                .ok_or(GcpError::MissingField(name))
        };
        match text("type") {
            Some("service_account") => {}
            Some(other) => return Err(GcpError::WrongType(other.to_string())),
            None => return Err(GcpError::MissingField("type")),
        }
        let key = load_private_key(required("private_key")?)?;
        Ok(Self {
            client_email: required("client_email")?.to_string(),
            private_key_id: required("private_key_id")?.to_string(),
            token_uri: text("token_uri")
                .filter(|uri| !uri.is_empty())
                .unwrap_or(DEFAULT_TOKEN_URI)
                .to_string(),
            project_id: text("project_id")
                .filter(|id| !id.is_empty())
                .map(str::to_string),
            key,
        })
    }

    /// The signed JWT to trade for an access token, valid for an hour from `now_unix`.
    pub fn assertion(&self, scope: &str, now_unix: u64) -> Result<String, GcpError> {
        // Field order is the serialization order; it matches what Google's own libraries send.
        #[derive(Serialize)]
        struct Header<'a> {
            alg: &'a str,
            typ: &'a str,
            kid: &'a str,
        }
        #[derive(Serialize)]
        struct Claims<'a> {
            iat: u64,
            exp: u64,
            iss: &'a str,
            aud: &'a str,
            scope: &'a str,
        }
        let header = Header {
            alg: "RS256",
            typ: "JWT",
            kid: &self.private_key_id,
        };
        let claims = Claims {
            iat: now_unix,
            exp: now_unix.saturating_add(ASSERTION_LIFETIME_SECS),
            iss: &self.client_email,
            aud: &self.token_uri,
            scope,
        };
        let mut jwt = jwt_segment(&header)?;
        jwt.push('.');
        jwt.push_str(&jwt_segment(&claims)?);
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                jwt.as_bytes(),
                &mut signature,
            )
            .map_err(|_| GcpError::Signing)?;
        jwt.push('.');
        jwt.push_str(&URL_SAFE_NO_PAD.encode(signature));
        Ok(jwt)
    }
}

fn jwt_segment(part: &impl Serialize) -> Result<String, GcpError> {
    let json = serde_json::to_vec(part).map_err(|_| GcpError::Signing)?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

/// Decodes the unencrypted PKCS#8 PEM that Google puts in `private_key`.
fn load_private_key(pem: &str) -> Result<RsaKeyPair, GcpError> {
    const BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
    const END: &str = "-----END PRIVATE KEY-----";
    let bad = |why: &str| GcpError::BadPrivateKey(why.to_string());
    // Keys pasted through a shell or an env var often keep `\n` as two literal characters.
    let pem = pem.replace("\\n", "\n");
    let body = pem
        .split_once(BEGIN)
        .and_then(|(_, rest)| rest.split_once(END))
        .map(|(body, _)| body)
        .ok_or_else(|| {
            bad(
                "expected an unencrypted PKCS#8 PEM block '-----BEGIN PRIVATE KEY----- ... \
                 -----END PRIVATE KEY-----'; copy the field unchanged from the downloaded key",
            )
        })?;
    let base64_text: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = STANDARD
        .decode(base64_text)
        .map_err(|_| bad("the PEM body is not valid base64; the key was damaged in copying"))?;
    // ring's rejection reasons are fixed descriptions, never key bytes.
    RsaKeyPair::from_pkcs8(&der).map_err(|rejected| {
        GcpError::BadPrivateKey(format!(
            "not a usable RSA key ({rejected}); Google service-account keys are 2048-bit RSA"
        ))
    })
}

/// The `application/x-www-form-urlencoded` body of the token request.
pub fn token_request_body(assertion: &str) -> String {
    format!(
        "grant_type={}&assertion={}",
        percent_encode(JWT_BEARER_GRANT, &[]),
        percent_encode(assertion, &[])
    )
}

/// Percent-encodes all but RFC 3986 unreserved characters and `keep`. Good for form values
/// too: form decoders read `%XX` for any byte.
pub(crate) fn percent_encode(value: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) || keep.contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// An OAuth2 access token for `Authorization: Bearer`.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub token: String,
    /// Lifetime counted from when the response arrived.
    pub expires_in: Duration,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// Reads the token endpoint's answer to [`token_request_body`].
pub fn parse_token_response(status: u16, body: &[u8]) -> Result<AccessToken, GcpError> {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    // An OAuth2 error body is authoritative whatever the status says.
    if let Some(error) = parsed.as_ref().and_then(|json| json.get("error")?.as_str()) {
        let description = parsed
            .as_ref()
            .and_then(|json| json.get("error_description")?.as_str())
            .unwrap_or("no description given");
        return Err(GcpError::TokenRejected {
            status,
            error: error.to_string(),
            description: description.to_string(),
            hint: rejection_hint(error),
        });
    }
    if !(200..300).contains(&status) {
        return Err(GcpError::TokenEndpoint {
            status,
            snippet: snippet(body),
        });
    }
    // From here the body holds a live token: errors describe its shape, never echo it.
    let json = parsed.ok_or_else(|| GcpError::BadTokenResponse("not JSON".to_string()))?;
    let token = json
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|token| !token.is_empty())
        .ok_or_else(|| GcpError::BadTokenResponse("no `access_token`".to_string()))?;
    if let Some(kind) = json.get("token_type").and_then(Value::as_str)
        && !kind.eq_ignore_ascii_case("bearer")
    {
        return Err(GcpError::BadTokenResponse(format!(
            "`token_type` is '{kind}', the gateway only sends bearer tokens"
        )));
    }
    let expires_in = json
        .get("expires_in")
        .and_then(Value::as_u64)
        .ok_or_else(|| {
            GcpError::BadTokenResponse("`expires_in` is missing or not whole seconds".to_string())
        })?;
    Ok(AccessToken {
        token: token.to_string(),
        expires_in: Duration::from_secs(expires_in),
    })
}

fn rejection_hint(error: &str) -> &'static str {
    match error {
        "invalid_grant" => {
            " (check that the key is not deleted or disabled in IAM and that the gateway's \
             clock is correct)"
        }
        "invalid_scope" => " (the service account may not use the requested scope)",
        "unauthorized_client" => " (the service account is disabled or lacks permission)",
        "invalid_client" => {
            " (check the client id and secret, and that the secret has not expired)"
        }
        _ => "",
    }
}

/// The start of an unexpected body (e.g. an HTML page from a proxy), enough to recognise it.
fn snippet(body: &[u8]) -> String {
    // A cut through a UTF-8 sequence just becomes U+FFFD.
    String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned()
}

/// The Vertex AI host serving a location. `region` is pasted in unchanged, so configuration
/// must only accept location names (lowercase letters, digits, `-`).
pub fn vertex_host(region: &str) -> String {
    match region {
        "global" => "aiplatform.googleapis.com".to_string(),
        "us" | "eu" => format!("aiplatform.{region}.rep.googleapis.com"),
        _ => format!("{region}-aiplatform.googleapis.com"),
    }
}

/// The Gemini `generateContent` path (SSE when `stream`).
pub fn vertex_gemini_path(project: &str, region: &str, model: &str, stream: bool) -> String {
    let method = if stream {
        "streamGenerateContent?alt=sse"
    } else {
        "generateContent"
    };
    publisher_model_path(project, region, "google", model, method)
}

/// The `:predict` path of a Google model on Vertex AI (text embedding models).
pub fn vertex_predict_path(project: &str, region: &str, model: &str) -> String {
    vertex_gemini_path(project, region, model, false).replace(":generateContent", ":predict")
}

/// The Claude `rawPredict` path; the body's `stream` flag must agree with `stream`.
pub fn vertex_anthropic_path(project: &str, region: &str, model: &str, stream: bool) -> String {
    let method = if stream {
        "streamRawPredict"
    } else {
        "rawPredict"
    };
    publisher_model_path(project, region, "anthropic", model, method)
}

fn publisher_model_path(
    project: &str,
    region: &str,
    publisher: &str,
    model: &str,
    method: &str,
) -> String {
    format!(
        "/v1/projects/{}/locations/{}/publishers/{publisher}/models/{}:{method}",
        encode_segment(project),
        encode_segment(region),
        encode_segment(model)
    )
}

/// Percent-encodes one path segment. `@` stays because Vertex model ids carry it
/// (`claude-sonnet-4-5@20250929`); `/`, `:`, `?` and `#` are encoded so a model name from a
/// client cannot reach another resource or method.
fn encode_segment(segment: &str) -> String {
    // A segment of only dots would be read as `.` / `..` and move up the path.
    if !segment.is_empty() && segment.bytes().all(|b| b == b'.') {
        return "%2E".repeat(segment.len());
    }
    percent_encode(segment, b"@")
}

/// Turns an Anthropic Messages body into a Vertex `rawPredict` body: the model moves to the
/// URL, and Vertex requires its own `anthropic_version` in the body.
pub fn anthropic_body_for_vertex(body: &mut Value) {
    if let Some(fields) = body.as_object_mut() {
        fields.remove("model");
        fields
            .entry("anthropic_version")
            .or_insert_with(|| Value::from(VERTEX_ANTHROPIC_VERSION));
    }
}

#[cfg(test)]
mod tests;
