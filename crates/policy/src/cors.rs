//! CORS with the semantics of the Gateway API `HTTPCORSFilter`, compiled once from
//! configuration into matchers and ready-made header values, so that the request path only
//! compares bytes and clones values (no parsing of configuration, no formatting).
//!
//! Two decisions: [`CorsPolicy::preflight`] for `OPTIONS` preflights (answered by the gateway,
//! never forwarded) and [`CorsPolicy::response_headers`] for the headers to add to the response
//! of an actual cross-origin request, including the gateway's own early responses (401, 429)
//! so that browsers let the page read them.

use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method};

mod origin;
#[cfg(test)]
mod tests;

use origin::{OriginPattern, RequestOrigin};

/// The Gateway API default for `Access-Control-Max-Age` when `maxAge` is unset.
const DEFAULT_MAX_AGE_SECS: u32 = 5;

/// A configuration that cannot be compiled; each message names the field and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CorsError {
    #[error(
        "allowOrigins: `{origin}` is not a valid origin ({reason}); expected `*`, \
         `scheme://host[:port]` or `scheme://*.domain[:port]`"
    )]
    InvalidOrigin {
        origin: String,
        reason: &'static str,
    },
    #[error(
        "allowOrigins `*` cannot be combined with allowCredentials: true, because browsers refuse \
         credentialed responses for any origin; list the allowed origins explicitly \
         (e.g. `https://app.example.com` or `https://*.example.com`)"
    )]
    WildcardOriginWithCredentials,
    #[error(
        "exposeHeaders `*` cannot be combined with allowCredentials: true, because browsers then \
         read `*` as a header literally named `*`; list the headers to expose"
    )]
    WildcardExposeWithCredentials,
    #[error("{field}: `*` already allows everything; remove the other entries")]
    WildcardNotAlone { field: &'static str },
    #[error("allowMethods: `{0}` is not a valid HTTP method token")]
    InvalidMethod(String),
    #[error("allowMethods: `{given}` does not match `{expected}`; HTTP methods are case-sensitive")]
    MethodCase { given: String, expected: String },
    #[error("{field}: `{name}` is not a valid HTTP header name")]
    InvalidHeader { field: &'static str, name: String },
}

/// The answer to a CORS preflight.
#[derive(Debug, Clone, PartialEq)]
pub enum Preflight {
    /// Answer `204 No Content` with these headers.
    Allowed(HeaderMap),
    /// The origin, method or a requested header is not allowed. Answer the preflight (204/200
    /// or 403) without CORS headers: the browser then blocks the actual request.
    Rejected,
}

#[derive(Debug, Clone)]
enum Origins {
    Any,
    List(Vec<OriginPattern>),
}

#[derive(Debug, Clone)]
enum Allowed<T> {
    Any,
    List(Vec<T>),
}

/// A compiled CORS policy. Cheap to share (`Arc`) across requests; immutable.
#[derive(Debug, Clone)]
pub struct CorsPolicy {
    origins: Origins,
    methods: Allowed<Method>,
    headers: Allowed<HeaderName>,
    credentials: bool,
    /// `Access-Control-Allow-Methods` for a configured list; `None` when it is `*` (echoed) or
    /// empty (only the CORS-safelisted methods, which browsers allow without it).
    allow_methods_value: Option<HeaderValue>,
    /// `Access-Control-Allow-Headers` for a configured list; `None` when `*` (echoed) or empty.
    allow_headers_value: Option<HeaderValue>,
    expose_value: Option<HeaderValue>,
    max_age_value: HeaderValue,
}

const TRUE: HeaderValue = HeaderValue::from_static("true");
const STAR: HeaderValue = HeaderValue::from_static("*");
const VARY_ORIGIN: HeaderValue = HeaderValue::from_static("Origin");
// A preflight answer depends on all three request headers (echoes, per-method and per-header
// rejections), so a shared cache must key on all of them.
const VARY_PREFLIGHT: HeaderValue = HeaderValue::from_static(
    "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
);

impl CorsPolicy {
    /// Compiles a policy from the `HTTPCORSFilter` fields.
    ///
    /// `*` is accepted alone in every list. `max_age` defaults to 5 seconds, as in the Gateway
    /// API. An empty `allow_origins` allows no origin at all.
    pub fn new(
        allow_origins: &[String],
        allow_methods: &[String],
        allow_headers: &[String],
        expose_headers: &[String],
        allow_credentials: bool,
        max_age: Option<u32>,
    ) -> Result<Self, CorsError> {
        let origins = compile_origins(allow_origins)?;
        if matches!(origins, Origins::Any) && allow_credentials {
            return Err(CorsError::WildcardOriginWithCredentials);
        }
        let methods = compile_list("allowMethods", allow_methods, compile_method)?;
        let headers = compile_list("allowHeaders", allow_headers, |h| {
            header_name("allowHeaders", h)
        })?;
        let expose = compile_list("exposeHeaders", expose_headers, |h| {
            header_name("exposeHeaders", h)
        })?;
        let expose_value = match &expose {
            Allowed::Any if allow_credentials => {
                return Err(CorsError::WildcardExposeWithCredentials);
            }
            Allowed::Any => Some(STAR),
            Allowed::List(names) => joined(names.iter().map(HeaderName::as_str), "exposeHeaders")?,
        };
        let allow_methods_value = match &methods {
            Allowed::Any => None,
            Allowed::List(list) => joined(list.iter().map(Method::as_str), "allowMethods")?,
        };
        let allow_headers_value = match &headers {
            Allowed::Any => None,
            Allowed::List(names) => joined(names.iter().map(HeaderName::as_str), "allowHeaders")?,
        };
        Ok(Self {
            origins,
            methods,
            headers,
            credentials: allow_credentials,
            allow_methods_value,
            allow_headers_value,
            expose_value,
            max_age_value: HeaderValue::from(max_age.unwrap_or(DEFAULT_MAX_AGE_SECS)),
        })
    }

    /// Decides a CORS preflight. `None` when the request is not one (not `OPTIONS`, or no
    /// `Origin`, or no `Access-Control-Request-Method`): it then goes through the normal
    /// pipeline like any request.
    pub fn preflight(&self, method: &Method, headers: &HeaderMap) -> Option<Preflight> {
        if method != Method::OPTIONS {
            return None;
        }
        let origin = headers.get(ORIGIN)?;
        let requested_method = headers.get(ACCESS_CONTROL_REQUEST_METHOD)?;
        let Some(allow_origin) = self.allow_origin(origin) else {
            return Some(Preflight::Rejected);
        };
        if !self.method_allowed(requested_method) {
            return Some(Preflight::Rejected);
        }
        let Some(allow_headers) = self.allow_headers(headers) else {
            return Some(Preflight::Rejected);
        };
        let mut out = HeaderMap::with_capacity(7);
        out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
        // Echoing the requested method is valid with or without credentials (the Gateway API
        // forbids `*` with credentials) and is understood by browsers predating wildcards.
        let allow_methods = match self.methods {
            Allowed::Any => Some(requested_method.clone()),
            Allowed::List(_) => self.allow_methods_value.clone(),
        };
        if let Some(value) = allow_methods {
            out.insert(ACCESS_CONTROL_ALLOW_METHODS, value);
        }
        if let Some(value) = allow_headers {
            out.insert(ACCESS_CONTROL_ALLOW_HEADERS, value);
        }
        if self.credentials {
            out.insert(ACCESS_CONTROL_ALLOW_CREDENTIALS, TRUE);
        }
        out.insert(ACCESS_CONTROL_MAX_AGE, self.max_age_value.clone());
        out.insert(VARY, VARY_PREFLIGHT);
        Some(Preflight::Allowed(out))
    }

    /// The CORS headers for the response to an actual (non-preflight) request, or `None` when
    /// the request has no `Origin` or its origin is not allowed (then no CORS header is added
    /// and the browser keeps the response from the page).
    ///
    /// The map holds `Vary: Origin`: add it to the response with `append`, not `insert`, so
    /// that an upstream `Vary` is kept.
    pub fn response_headers(&self, request_headers: &HeaderMap) -> Option<HeaderMap> {
        let allow_origin = self.allow_origin(request_headers.get(ORIGIN)?)?;
        let mut out = HeaderMap::with_capacity(4);
        out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
        if self.credentials {
            out.insert(ACCESS_CONTROL_ALLOW_CREDENTIALS, TRUE);
        }
        if let Some(value) = &self.expose_value {
            out.insert(ACCESS_CONTROL_EXPOSE_HEADERS, value.clone());
        }
        // Even with `*` the answer differs between requests with and without `Origin`.
        out.insert(VARY, VARY_ORIGIN);
        Some(out)
    }

    /// The `Access-Control-Allow-Origin` value for this request origin, if allowed.
    fn allow_origin(&self, origin: &HeaderValue) -> Option<HeaderValue> {
        match &self.origins {
            // With credentials the literal `*` is refused by browsers: echo instead. (`new`
            // currently rejects that combination; this keeps the answer right if it is allowed.)
            Origins::Any if self.credentials => Some(origin.clone()),
            Origins::Any => Some(STAR),
            Origins::List(patterns) => {
                let request = RequestOrigin::parse(origin.to_str().ok()?)?;
                patterns
                    .iter()
                    .any(|p| p.matches(&request))
                    .then(|| origin.clone())
            }
        }
    }

    fn method_allowed(&self, requested: &HeaderValue) -> bool {
        let requested = requested.as_bytes();
        match &self.methods {
            Allowed::Any => true,
            // The Gateway API (after the Fetch standard) always allows the safelisted methods.
            Allowed::List(list) => {
                matches!(requested, b"GET" | b"HEAD" | b"POST")
                    || list.iter().any(|m| m.as_str().as_bytes() == requested)
            }
        }
    }

    /// Checks `Access-Control-Request-Headers`. `None`: a header is not allowed;
    /// `Some(value)`: the `Access-Control-Allow-Headers` to send, if any.
    fn allow_headers(&self, headers: &HeaderMap) -> Option<Option<HeaderValue>> {
        let mut requested = headers.get_all(ACCESS_CONTROL_REQUEST_HEADERS).iter();
        match &self.headers {
            Allowed::Any => {
                let Some(first) = requested.next() else {
                    return Some(None);
                };
                // `*` is echoed rather than sent literally: with credentials `*` is not a
                // wildcard, and even without it `*` does not cover `Authorization`.
                match requested.next() {
                    None => Some(Some(first.clone())),
                    Some(_) => join_values(headers).map(Some),
                }
            }
            Allowed::List(allowed) => {
                for value in requested {
                    let value = value.to_str().ok()?;
                    let all_allowed = value
                        .split(',')
                        .map(str::trim)
                        .filter(|name| !name.is_empty())
                        .all(|name| {
                            allowed
                                .iter()
                                .any(|a| a.as_str().eq_ignore_ascii_case(name))
                        });
                    if !all_allowed {
                        return None;
                    }
                }
                Some(self.allow_headers_value.clone())
            }
        }
    }
}

/// Joins repeated `Access-Control-Request-Headers` lines (rare; browsers send one).
fn join_values(headers: &HeaderMap) -> Option<HeaderValue> {
    let mut joined = Vec::new();
    for value in headers.get_all(ACCESS_CONTROL_REQUEST_HEADERS) {
        if !joined.is_empty() {
            joined.extend_from_slice(b", ");
        }
        joined.extend_from_slice(value.as_bytes());
    }
    HeaderValue::from_bytes(&joined).ok()
}

fn compile_origins(list: &[String]) -> Result<Origins, CorsError> {
    if list.iter().any(|o| o == "*") {
        return if list.len() == 1 {
            Ok(Origins::Any)
        } else {
            Err(CorsError::WildcardNotAlone {
                field: "allowOrigins",
            })
        };
    }
    list.iter()
        .map(|o| OriginPattern::parse(o))
        .collect::<Result<_, _>>()
        .map(Origins::List)
}

fn compile_list<T>(
    field: &'static str,
    list: &[String],
    compile: impl Fn(&str) -> Result<T, CorsError>,
) -> Result<Allowed<T>, CorsError> {
    if list.iter().any(|v| v == "*") {
        return if list.len() == 1 {
            Ok(Allowed::Any)
        } else {
            Err(CorsError::WildcardNotAlone { field })
        };
    }
    list.iter()
        .map(|v| compile(v))
        .collect::<Result<_, _>>()
        .map(Allowed::List)
}

fn compile_method(name: &str) -> Result<Method, CorsError> {
    let method =
        Method::from_bytes(name.as_bytes()).map_err(|_| CorsError::InvalidMethod(name.into()))?;
    // `get` is a valid extension method that would never match `GET`: almost surely a typo.
    let upper = name.to_ascii_uppercase();
    let standard = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    ];
    if upper != name && standard.contains(&upper.as_str()) {
        return Err(CorsError::MethodCase {
            given: name.into(),
            expected: upper,
        });
    }
    Ok(method)
}

fn header_name(field: &'static str, name: &str) -> Result<HeaderName, CorsError> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| CorsError::InvalidHeader {
        field,
        name: name.into(),
    })
}

/// A precomputed comma-separated header value; `None` for an empty list.
fn joined<'a>(
    items: impl Iterator<Item = &'a str>,
    field: &'static str,
) -> Result<Option<HeaderValue>, CorsError> {
    let joined = items.collect::<Vec<_>>().join(", ");
    if joined.is_empty() {
        return Ok(None);
    }
    // The items were validated as tokens, so this only fails on a bug; report it anyway.
    HeaderValue::from_str(&joined)
        .map(Some)
        .map_err(|_| CorsError::InvalidHeader {
            field,
            name: joined,
        })
}
