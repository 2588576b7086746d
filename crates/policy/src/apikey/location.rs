//! Where a request carries its credential, how to read it, and how to remove it before the
//! request goes upstream (a key meant for the gateway must not leak to a third party).

use std::borrow::Cow;

use http::header::{AUTHORIZATION, COOKIE};
use http::request::Parts;
use http::uri::PathAndQuery;
use http::{HeaderName, HeaderValue, Uri};

use super::ApiKeyError;

/// Where the credential is read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredentialLocation {
    /// A header; when `prefix` is set (e.g. `Bearer `) only values starting with it count, and
    /// the credential is what follows it. The prefix matches case-insensitively, as auth
    /// schemes do.
    Header {
        name: HeaderName,
        prefix: Option<String>,
    },
    /// A query parameter (form-decoded: `%XX` and `+`).
    QueryParameter(String),
    /// A cookie.
    Cookie(String),
}

/// The credential could not be removed; the request must not be forwarded with it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("could not remove the credential from the request ({0})")]
pub struct StripError(&'static str);

// === impl CredentialLocation ===

impl Default for CredentialLocation {
    /// `Authorization: Bearer <key>`, what OpenAI-style clients send.
    fn default() -> Self {
        CredentialLocation::Header {
            name: AUTHORIZATION,
            prefix: Some("Bearer ".to_owned()),
        }
    }
}

impl CredentialLocation {
    pub fn header(name: &str, prefix: Option<&str>) -> Result<Self, ApiKeyError> {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| ApiKeyError::InvalidLocation(format!("'{name}' is not a header name")))?;
        Ok(CredentialLocation::Header {
            name,
            prefix: prefix.filter(|p| !p.is_empty()).map(str::to_owned),
        })
    }

    pub fn query_parameter(name: &str) -> Result<Self, ApiKeyError> {
        if name.is_empty() {
            return Err(ApiKeyError::InvalidLocation(
                "query parameter name is empty".to_owned(),
            ));
        }
        Ok(CredentialLocation::QueryParameter(name.to_owned()))
    }

    pub fn cookie(name: &str) -> Result<Self, ApiKeyError> {
        // RFC 6265: a cookie name is a token.
        let is_token = |c: char| c.is_ascii_graphic() && !"()<>@,;:\\\"/[]?={}".contains(c);
        if name.is_empty() || !name.chars().all(is_token) {
            return Err(ApiKeyError::InvalidLocation(format!(
                "'{name}' is not a cookie name"
            )));
        }
        Ok(CredentialLocation::Cookie(name.to_owned()))
    }
}

/// The credential at `location`, or `None` when the request carries none there (an empty
/// value counts as none).
pub fn extract<'a>(location: &CredentialLocation, parts: &'a Parts) -> Option<Cow<'a, str>> {
    match location {
        CredentialLocation::Header { name, prefix } => parts
            .headers
            .get_all(name)
            .iter()
            .find_map(|value| from_header(value, prefix.as_deref()))
            .map(Cow::Borrowed),
        CredentialLocation::QueryParameter(param) => query_pairs(parts.uri.query()?)
            .find(|(name, _)| form_decode(name).is_some_and(|n| n == param.as_str()))
            .and_then(|(_, value)| form_decode(value))
            .filter(|value| !value.is_empty()),
        CredentialLocation::Cookie(cookie) => parts
            .headers
            .get_all(COOKIE)
            .iter()
            .flat_map(|value| cookie_pairs(value.as_bytes()))
            .find(|(name, _)| *name == cookie.as_bytes())
            .and_then(|(_, value)| std::str::from_utf8(unquote(value)).ok())
            .filter(|value| !value.is_empty())
            .map(Cow::Borrowed),
    }
}

/// Removes the credential at `location` from the request: the whole header, the query
/// parameter (every occurrence), or the cookie (other cookies are kept).
pub fn strip(location: &CredentialLocation, parts: &mut Parts) -> Result<(), StripError> {
    match location {
        CredentialLocation::Header { name, .. } => {
            parts.headers.remove(name);
            Ok(())
        }
        CredentialLocation::QueryParameter(param) => strip_query(param, parts),
        CredentialLocation::Cookie(cookie) => {
            strip_cookie(cookie.as_bytes(), parts);
            Ok(())
        }
    }
}

fn from_header<'a>(value: &'a HeaderValue, prefix: Option<&str>) -> Option<&'a str> {
    let value = value.to_str().ok()?;
    let rest = match prefix {
        None => value,
        Some(prefix) => {
            let head = value.get(..prefix.len())?;
            if !head.eq_ignore_ascii_case(prefix) {
                return None;
            }
            &value[prefix.len()..]
        }
    };
    let credential = rest.trim_matches(|c| c == ' ' || c == '\t');
    (!credential.is_empty()).then_some(credential)
}

fn strip_query(param: &str, parts: &mut Parts) -> Result<(), StripError> {
    let Some(query) = parts.uri.query() else {
        return Ok(());
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let name = pair.split_once('=').map_or(*pair, |(name, _)| name);
            form_decode(name).is_none_or(|n| n != param)
        })
        .collect();
    if kept.len() == query.split('&').count() {
        return Ok(());
    }
    let path = parts.uri.path();
    let path_and_query = if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", kept.join("&"))
    };
    let mut uri = parts.uri.clone().into_parts();
    uri.path_and_query = Some(
        PathAndQuery::try_from(path_and_query).map_err(|_| StripError("rebuilding the path"))?,
    );
    parts.uri = Uri::from_parts(uri).map_err(|_| StripError("rebuilding the URI"))?;
    Ok(())
}

fn strip_cookie(cookie: &[u8], parts: &mut Parts) {
    let mut found = false;
    let mut kept: Vec<u8> = Vec::new();
    for value in parts.headers.get_all(COOKIE) {
        // Each pair is re-emitted as it came (HTTP/2 splits cookies over several headers;
        // they are joined back into one, which RFC 9113 section 8.2.3 allows).
        for pair in split_cookie_header(value.as_bytes()) {
            if cookie_name(pair) == cookie {
                found = true;
                continue;
            }
            if !kept.is_empty() {
                kept.extend_from_slice(b"; ");
            }
            kept.extend_from_slice(pair);
        }
    }
    if !found {
        return;
    }
    parts.headers.remove(COOKIE);
    // Bytes taken from valid header values, joined with "; ", form a valid header value;
    // should that ever fail, the cookie header stays removed, which still keeps the credential
    // from the upstream.
    if !kept.is_empty()
        && let Ok(value) = HeaderValue::from_bytes(&kept)
    {
        parts.headers.insert(COOKIE, value);
    }
}

/// `name=value` pairs of a query string, undecoded.
fn query_pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
}

/// The non-empty, trimmed `name=value` items of one Cookie header.
fn split_cookie_header(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|b| *b == b';')
        .map(<[u8]>::trim_ascii)
        .filter(|pair| !pair.is_empty())
}

fn cookie_pairs(value: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    split_cookie_header(value).map(|pair| match pair.iter().position(|b| *b == b'=') {
        Some(eq) => (pair[..eq].trim_ascii(), pair[eq + 1..].trim_ascii()),
        None => (pair, &pair[pair.len()..]),
    })
}

fn cookie_name(pair: &[u8]) -> &[u8] {
    match pair.iter().position(|b| *b == b'=') {
        Some(eq) => pair[..eq].trim_ascii(),
        None => pair,
    }
}

/// RFC 6265 allows a cookie value in double quotes.
fn unquote(value: &[u8]) -> &[u8] {
    match value {
        [b'"', inner @ .., b'"'] => inner,
        _ => value,
    }
}

/// Decodes `application/x-www-form-urlencoded` text: `+` is a space and `%XX` a byte; a `%`
/// not followed by two hex digits stays as it is. `None` when the bytes are not UTF-8.
fn form_decode(s: &str) -> Option<Cow<'_, str>> {
    if !s.contains(['%', '+']) {
        return Some(Cow::Borrowed(s));
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = match bytes[i] {
            b'+' => Some((b' ', 1)),
            b'%' => hex_pair(bytes.get(i + 1..i + 3)).map(|b| (b, 3)),
            _ => None,
        };
        let (byte, used) = decoded.unwrap_or((bytes[i], 1));
        out.push(byte);
        i += used;
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

fn hex_pair(pair: Option<&[u8]>) -> Option<u8> {
    let [high, low] = pair? else {
        return None;
    };
    let high = char::from(*high).to_digit(16)?;
    let low = char::from(*low).to_digit(16)?;
    u8::try_from((high << 4) | low).ok()
}
