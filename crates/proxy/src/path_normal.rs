//! The request path in one canonical form, before routes are matched, policies judge it
//! and the backend receives it. Without this, `/public/../admin`, `//admin` or
//! `/%61dmin` match a route other than the one the backend serves (most backends
//! normalise paths), and a policy scoped to `/admin` is walked around.
//!
//! What is done, as RFC 3986 §6.2.2 describes and Envoy does by default: percent-encoded
//! unreserved characters are decoded, runs of slashes become one, and `.` / `..` segments
//! are resolved (never above the root). An encoded slash or backslash (`%2F`, `%5C`) would
//! mean one path to the gateway and another to many backends, so it is refused.

use http::Uri;

use crate::error::ProxyError;

/// The URI with its path in canonical form; the same URI (no copy) when it already was.
pub fn normalize(uri: &Uri) -> Result<Option<Uri>, ProxyError> {
    let path = uri.path();
    if is_canonical(path.as_bytes()) {
        return Ok(None);
    }
    let decoded = decode_unreserved(path)?;
    let canonical = resolve_segments(&decoded);
    if canonical == path {
        return Ok(None);
    }
    let path_and_query = match uri.query() {
        Some(query) => format!("{canonical}?{query}"),
        None => canonical,
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query.parse().map_err(|_| invalid(path))?);
    Uri::from_parts(parts).map(Some).map_err(|_| invalid(path))
}

fn invalid(path: &str) -> ProxyError {
    ProxyError::InvalidRequest(format!("the path '{path}' is not a valid URL path"))
}

/// Whether nothing needs doing: no percent sign, no `//`, no `.` segment. One pass over
/// the bytes, so ordinary paths cost next to nothing.
fn is_canonical(path: &[u8]) -> bool {
    let mut previous_slash = false;
    for (at, &byte) in path.iter().enumerate() {
        match byte {
            b'%' => return false,
            b'/' if previous_slash => return false,
            b'.' if previous_slash && is_dot_segment(&path[at..]) => return false,
            _ => {}
        }
        previous_slash = byte == b'/';
    }
    true
}

/// Whether `rest` (starting at a `.` after a slash) is a `.` or `..` segment.
fn is_dot_segment(rest: &[u8]) -> bool {
    matches!(
        rest,
        [b'.'] | [b'.', b'/', ..] | [b'.', b'.'] | [b'.', b'.', b'/', ..]
    )
}

/// `%XX` of unreserved characters decoded; other escapes kept, upper-cased. Encoded
/// slashes and backslashes are refused.
fn decode_unreserved(path: &str) -> Result<String, ProxyError> {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] != b'%' {
            // Only ASCII reaches here in practice (the URI parser allows no other bytes);
            // a multi-byte character is copied whole all the same.
            let end = bytes[at..]
                .iter()
                .position(|&b| b == b'%')
                .map_or(bytes.len(), |offset| at + offset);
            out.push_str(&path[at..end]);
            at = end;
            continue;
        }
        let value = bytes
            .get(at + 1..at + 3)
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            .ok_or_else(|| {
                ProxyError::InvalidRequest(format!(
                    "the path '{path}' has a '%' that is not followed by two hex digits"
                ))
            })?;
        match value {
            b'/' | b'\\' => {
                return Err(ProxyError::InvalidRequest(format!(
                    "the path '{path}' has an encoded slash or backslash (%2F, %5C), which backends read differently; send the path with its slashes unencoded"
                )));
            }
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(value));
            }
            _ => {
                out.push('%');
                out.push_str(&path[at + 1..at + 3].to_ascii_uppercase());
            }
        }
        at += 3;
    }
    Ok(out)
}

/// Slashes merged and dot segments resolved (RFC 3986 §5.2.4, never above the root). A
/// trailing slash is kept, and so is the one a final `.` or `..` leaves.
fn resolve_segments(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    // The path starts with '/': what comes before it is no segment.
    for segment in path.split('/').skip(1) {
        match segment {
            "" | "." => trailing_slash = true,
            ".." => {
                segments.pop();
                trailing_slash = true;
            }
            named => {
                segments.push(named);
                trailing_slash = false;
            }
        }
    }
    let mut out = String::with_capacity(path.len());
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() || trailing_slash {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normal(path: &str) -> String {
        let uri: Uri = path.parse().unwrap();
        match normalize(&uri).unwrap() {
            Some(changed) => changed.to_string(),
            None => uri.to_string(),
        }
    }

    #[test]
    fn ways_around_a_prefix_all_become_the_path_they_mean() {
        for path in [
            "/public/../admin/x",
            "/public/%2e%2e/admin/x",
            "/public/%2E%2E/admin/x",
            "//admin/x",
            "/admin//x",
            "/%61dmin/x",
            "/./admin/./x",
            "/../../admin/x",
        ] {
            assert_eq!(normal(path), "/admin/x", "{path}");
        }
    }

    #[test]
    fn ordinary_paths_and_queries_are_left_alone() {
        for path in [
            "/",
            "/v1/chat/completions",
            "/a/b/",
            "/file.txt",
            "/a/.well-known/x",
            "/a/..b/c",
            "/q?x=../y&z=%2F",
        ] {
            let uri: Uri = path.parse().unwrap();
            assert!(normalize(&uri).unwrap().is_none(), "{path}");
        }
        assert_eq!(normal("/a/b/../?q=1"), "/a/?q=1");
        assert_eq!(normal("/a/."), "/a/");
        assert_eq!(normal("/a%20b/%7e"), "/a%20b/~");
        assert_eq!(
            normal("/a%3ab//c"),
            "/a%3Ab/c",
            "reserved escapes stay, upper-cased"
        );
    }

    #[test]
    fn encoded_slashes_and_broken_escapes_are_refused() {
        for path in ["/admin%2Fx", "/admin%2fx", "/a%5Cb", "/a%zz", "/a%2"] {
            let uri: Uri = path.parse().unwrap();
            let error = normalize(&uri).unwrap_err();
            assert_eq!(error.status(), http::StatusCode::BAD_REQUEST, "{path}");
        }
    }
}
