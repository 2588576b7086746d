//! What protects an MCP endpoint before any target is touched: DNS-rebinding protection
//! (the transport spec asks servers to check `Origin`, and `Host` for local servers) and the
//! OAuth protected-resource metadata (RFC 9728) that tells clients where to get a token.

use config::ir::hostname::HostnamePattern;
use config::ir::policy::JwtAuth;
use http::header::{self, HeaderMap, HeaderValue};
use serde_json::{Value, json};

/// Where RFC 9728 metadata lives; the resource's path follows it.
pub(crate) const METADATA_PREFIX: &str = "/.well-known/oauth-protected-resource";

/// Whether a host name (no port) is a loopback name or address.
fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn strip_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority.split(']').next().map_or(authority, |h| &h[1..]);
    }
    authority
        .rsplit_once(':')
        .map_or(authority, |(host, port)| {
            if port.chars().all(|c| c.is_ascii_digit()) {
                host
            } else {
                authority
            }
        })
}

/// The hosts an MCP route accepts in `Host` and `Origin`.
pub(crate) struct AllowedHosts<'a> {
    /// The listener's and route's hostnames: routing already required `Host` to match them.
    pub declared: &'a [&'a HostnamePattern],
    /// `spec.mcp.allowedHosts`.
    pub extra: &'a [String],
}

impl AllowedHosts<'_> {
    fn allows(&self, host: &str) -> bool {
        is_loopback(host)
            || self
                .extra
                .iter()
                .any(|h| h == "*" || h.eq_ignore_ascii_case(host))
            || self
                .declared
                .iter()
                .any(|p| !matches!(p, HostnamePattern::Any) && p.matches(host))
    }

    /// `None` when the request may go on; otherwise why not.
    pub(crate) fn check(&self, host: &str, headers: &HeaderMap) -> Option<String> {
        if !self.allows(host) {
            return Some(format!(
                "Host `{host}` is not allowed for this MCP endpoint (DNS-rebinding protection); add it to the listener's or route's hostnames, or to the backend's spec.mcp.allowedHosts"
            ));
        }
        let origin = headers.get(header::ORIGIN)?.to_str().unwrap_or("invalid");
        // `null` origins come from sandboxed documents: never a legitimate MCP client.
        let origin_host = origin
            .split_once("://")
            .map(|(_, rest)| strip_port(rest.split('/').next().unwrap_or_default()));
        match origin_host {
            Some(origin_host)
                if self.allows(origin_host) || origin_host.eq_ignore_ascii_case(host) =>
            {
                None
            }
            _ => Some(format!(
                "Origin `{origin}` is not allowed for this MCP endpoint (DNS-rebinding protection); add its host to the backend's spec.mcp.allowedHosts"
            )),
        }
    }
}

/// The metadata URL for a resource path, as `WWW-Authenticate` names it.
pub(crate) fn metadata_url(scheme: &str, authority: &str, resource_path: &str) -> String {
    let path = resource_path.trim_end_matches('/');
    format!("{scheme}://{authority}{METADATA_PREFIX}{path}")
}

/// `Bearer resource_metadata="..."` added to the JWT challenge of a 401.
pub(crate) fn challenge_with_metadata(
    existing: Option<&HeaderValue>,
    url: &str,
) -> Option<HeaderValue> {
    let existing = existing.and_then(|v| v.to_str().ok()).unwrap_or("Bearer");
    let value = match existing.strip_prefix("Bearer") {
        Some(rest) if rest.trim().is_empty() => format!("Bearer resource_metadata=\"{url}\""),
        Some(rest) => format!("Bearer resource_metadata=\"{url}\",{rest}"),
        None => format!("{existing}, Bearer resource_metadata=\"{url}\""),
    };
    HeaderValue::from_str(&value).ok()
}

/// The RFC 9728 document for a protected MCP resource.
pub(crate) fn metadata(resource: &str, jwt: &JwtAuth) -> Value {
    let issuers: Vec<&str> = jwt
        .validator
        .providers()
        .iter()
        .map(|p| p.issuer())
        .collect();
    json!({
        "resource": resource,
        "authorization_servers": issuers,
        "bearer_methods_supported": ["header"],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        }
        headers
    }

    #[test]
    fn loopback_and_declared_hosts_pass_foreign_ones_do_not() {
        let declared = HostnamePattern::parse(Some("mcp.example.com"));
        let any = HostnamePattern::Any;
        let extra = vec!["gw.internal".to_string()];
        let allowed = AllowedHosts {
            declared: &[&declared, &any],
            extra: &extra,
        };
        for host in [
            "localhost",
            "127.0.0.1",
            "::1",
            "mcp.example.com",
            "gw.internal",
        ] {
            assert_eq!(allowed.check(host, &headers(None)), None, "{host}");
        }
        assert!(
            allowed
                .check("evil.example", &headers(None))
                .unwrap()
                .contains("Host `evil.example`")
        );
        assert_eq!(
            allowed.check("127.0.0.1", &headers(Some("http://localhost:6274"))),
            None
        );
        assert!(
            allowed
                .check("127.0.0.1", &headers(Some("http://evil.example")))
                .is_some()
        );
        assert!(allowed.check("127.0.0.1", &headers(Some("null"))).is_some());
        let anything = vec!["*".to_string()];
        let open = AllowedHosts {
            declared: &[],
            extra: &anything,
        };
        assert_eq!(
            open.check("evil.example", &headers(Some("https://evil.example"))),
            None
        );
    }

    #[test]
    fn the_challenge_names_the_metadata_and_keeps_the_error() {
        let url = metadata_url("http", "127.0.0.1:8080", "/mcp");
        assert_eq!(
            url,
            "http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp"
        );
        let plain =
            challenge_with_metadata(Some(&HeaderValue::from_static("Bearer")), &url).unwrap();
        assert_eq!(
            plain,
            format!("Bearer resource_metadata=\"{url}\"").as_str()
        );
        let invalid = HeaderValue::from_static("Bearer error=\"invalid_token\"");
        let with_error = challenge_with_metadata(Some(&invalid), &url).unwrap();
        assert!(
            with_error
                .to_str()
                .unwrap()
                .ends_with(", error=\"invalid_token\""),
            "{with_error:?}"
        );
    }
}
