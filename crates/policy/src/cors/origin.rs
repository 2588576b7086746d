//! Origins (`scheme://host[:port]`): configured patterns, parsed once, and the request's
//! `Origin`, parsed per request into borrowed slices and compared without allocating.
//!
//! Scheme and host compare case-insensitively; a missing port is the scheme's default port, so
//! `https://a.com` and `https://a.com:443` are the same origin (the Gateway API says so).

/// The request's `Origin`, borrowed from the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RequestOrigin<'a> {
    scheme: &'a str,
    host: &'a str,
    /// The explicit port, or the scheme's default one.
    port: Option<u16>,
}

impl<'a> RequestOrigin<'a> {
    /// `None` for anything that is not a serialized origin (e.g. `null`): such a request
    /// matches no listed origin.
    pub(super) fn parse(origin: &'a str) -> Option<Self> {
        let parts = split(origin).ok()?;
        Some(Self {
            scheme: parts.scheme,
            host: parts.host,
            port: parts.port.or_else(|| default_port(parts.scheme)),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    /// Lowercase host.
    Exact(String),
    /// Lowercase suffix including its leading dot (`.example.com`), so that a match always
    /// has at least one label before it and `evilexample.com` never matches.
    Subdomains(String),
}

/// One configured origin other than `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct OriginPattern {
    /// Lowercase scheme.
    scheme: String,
    host: HostPattern,
    port: Option<u16>,
}

impl OriginPattern {
    pub(super) fn parse(origin: &str) -> Result<Self, super::CorsError> {
        let invalid = |reason| super::CorsError::InvalidOrigin {
            origin: origin.to_owned(),
            reason,
        };
        let parts = split(origin).map_err(invalid)?;
        let host = parts.host.to_ascii_lowercase();
        let host = if let Some(domain) = host.strip_prefix("*.") {
            if domain.is_empty() || domain.contains('*') {
                return Err(invalid(
                    "a wildcard needs a domain after it, as in `*.example.com`",
                ));
            }
            HostPattern::Subdomains(format!(".{domain}"))
        } else if host.contains('*') {
            return Err(invalid(
                "`*` may only be the left-most label of the host, as in `https://*.example.com`",
            ));
        } else {
            HostPattern::Exact(host)
        };
        let valid_chars = |h: &str| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        };
        let host_ok = match &host {
            HostPattern::Exact(h) if h.starts_with('[') => true,
            HostPattern::Exact(h) | HostPattern::Subdomains(h) => valid_chars(h),
        };
        if !host_ok {
            return Err(invalid("the host has characters a hostname cannot have"));
        }
        Ok(Self {
            scheme: parts.scheme.to_ascii_lowercase(),
            port: parts.port.or_else(|| default_port(parts.scheme)),
            host,
        })
    }

    pub(super) fn matches(&self, request: &RequestOrigin<'_>) -> bool {
        if self.port != request.port || !self.scheme.eq_ignore_ascii_case(request.scheme) {
            return false;
        }
        match &self.host {
            HostPattern::Exact(host) => host.eq_ignore_ascii_case(request.host),
            HostPattern::Subdomains(suffix) => {
                let host = request.host.as_bytes();
                host.len() > suffix.len()
                    && host[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
            }
        }
    }
}

struct Parts<'a> {
    scheme: &'a str,
    host: &'a str,
    port: Option<u16>,
}

/// Splits `scheme://host[:port]`, rejecting paths, user info and malformed ports.
fn split(origin: &str) -> Result<Parts<'_>, &'static str> {
    let (scheme, authority) = origin
        .split_once("://")
        .ok_or("it has no `://` after the scheme")?;
    let mut scheme_bytes = scheme.bytes();
    let scheme_ok = scheme_bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && scheme_bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !scheme_ok {
        return Err("the scheme is not valid");
    }
    if authority.contains(['/', '?', '#']) {
        return Err("an origin has no path, query or trailing `/`");
    }
    if authority.contains('@') {
        return Err("an origin has no user info");
    }
    let (host, port) = if authority.starts_with('[') {
        // IPv6 literal: the port, if any, follows the closing bracket.
        let end = authority
            .find(']')
            .ok_or("the IPv6 address has no closing `]`")?;
        let (host, rest) = authority.split_at(end + 1);
        match rest {
            "" => (host, None),
            _ => (
                host,
                Some(
                    rest.strip_prefix(':')
                        .ok_or("junk after the IPv6 address")?,
                ),
            ),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err("the host is empty or has spaces");
    }
    let port = match port {
        None => None,
        Some(port) => Some(
            port.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| port.parse::<u16>().ok())
                .flatten()
                .filter(|p| *p != 0)
                .ok_or("the port is not a number from 1 to 65535")?,
        ),
    };
    Ok(Parts { scheme, host, port })
}

fn default_port(scheme: &str) -> Option<u16> {
    if scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("wss") {
        Some(443)
    } else if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("ws") {
        Some(80)
    } else {
        None
    }
}
