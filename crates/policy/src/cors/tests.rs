use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use http::{HeaderMap, Method};

use super::{CorsError, CorsPolicy, Preflight};

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn policy(origins: &[&str], methods: &[&str], headers: &[&str], credentials: bool) -> CorsPolicy {
    CorsPolicy::new(
        &strings(origins),
        &strings(methods),
        &strings(headers),
        &strings(&["x-request-id"]),
        credentials,
        Some(600),
    )
    .unwrap()
}

fn request(origin: Option<&str>, method: Option<&str>, headers: Option<&str>) -> HeaderMap {
    let mut map = HeaderMap::new();
    if let Some(o) = origin {
        map.insert(ORIGIN, o.parse().unwrap());
    }
    if let Some(m) = method {
        map.insert(ACCESS_CONTROL_REQUEST_METHOD, m.parse().unwrap());
    }
    if let Some(h) = headers {
        map.insert(ACCESS_CONTROL_REQUEST_HEADERS, h.parse().unwrap());
    }
    map
}

fn allowed(p: &CorsPolicy, origin: &str, method: &str, headers: Option<&str>) -> HeaderMap {
    match p.preflight(
        &Method::OPTIONS,
        &request(Some(origin), Some(method), headers),
    ) {
        Some(Preflight::Allowed(map)) => map,
        other => panic!("expected an allowed preflight, got {other:?}"),
    }
}

fn header<'a>(map: &'a HeaderMap, name: &http::HeaderName) -> Option<&'a str> {
    map.get(name).map(|v| v.to_str().unwrap())
}

#[test]
fn not_a_preflight() {
    let p = policy(&["https://a.com"], &["PUT"], &[], false);
    let full = request(Some("https://a.com"), Some("PUT"), None);
    assert_eq!(p.preflight(&Method::GET, &full), None);
    let no_origin = request(None, Some("PUT"), None);
    assert_eq!(p.preflight(&Method::OPTIONS, &no_origin), None);
    let no_method = request(Some("https://a.com"), None, None);
    assert_eq!(p.preflight(&Method::OPTIONS, &no_method), None);
}

#[test]
fn preflight_allowed_with_listed_values() {
    let p = policy(
        &["https://a.com"],
        &["PUT", "DELETE"],
        &["content-type", "X-Api-Key"],
        false,
    );
    let map = allowed(&p, "https://a.com", "PUT", Some("Content-Type, x-api-key"));
    assert_eq!(
        header(&map, &ACCESS_CONTROL_ALLOW_ORIGIN),
        Some("https://a.com")
    );
    assert_eq!(
        header(&map, &ACCESS_CONTROL_ALLOW_METHODS),
        Some("PUT, DELETE")
    );
    assert_eq!(
        header(&map, &ACCESS_CONTROL_ALLOW_HEADERS),
        Some("content-type, x-api-key")
    );
    assert_eq!(header(&map, &ACCESS_CONTROL_MAX_AGE), Some("600"));
    assert_eq!(header(&map, &ACCESS_CONTROL_ALLOW_CREDENTIALS), None);
    assert!(header(&map, &VARY).unwrap().starts_with("Origin"));
}

#[test]
fn preflight_rejections() {
    let p = policy(&["https://a.com"], &["PUT"], &["content-type"], false);
    let reject = |origin, method, headers| {
        p.preflight(
            &Method::OPTIONS,
            &request(Some(origin), Some(method), headers),
        )
    };
    assert_eq!(
        reject("https://b.com", "PUT", None),
        Some(Preflight::Rejected)
    );
    assert_eq!(
        reject("https://a.com", "DELETE", None),
        Some(Preflight::Rejected)
    );
    // Methods are case-sensitive.
    assert_eq!(
        reject("https://a.com", "put", None),
        Some(Preflight::Rejected)
    );
    assert_eq!(
        reject("https://a.com", "PUT", Some("content-type, x-secret")),
        Some(Preflight::Rejected)
    );
    assert_eq!(reject("null", "PUT", None), Some(Preflight::Rejected));
}

#[test]
fn safelisted_methods_always_allowed() {
    let p = policy(&["https://a.com"], &["PUT"], &[], false);
    for method in ["GET", "HEAD", "POST"] {
        let map = allowed(&p, "https://a.com", method, None);
        assert_eq!(header(&map, &ACCESS_CONTROL_ALLOW_METHODS), Some("PUT"));
    }
}

#[test]
fn wildcards_without_credentials() {
    let p = policy(&["*"], &["*"], &["*"], false);
    let map = allowed(
        &p,
        "https://anything.test",
        "PATCH",
        Some("x-a, authorization"),
    );
    assert_eq!(header(&map, &ACCESS_CONTROL_ALLOW_ORIGIN), Some("*"));
    assert_eq!(header(&map, &ACCESS_CONTROL_ALLOW_METHODS), Some("PATCH"));
    assert_eq!(
        header(&map, &ACCESS_CONTROL_ALLOW_HEADERS),
        Some("x-a, authorization")
    );
    // No requested headers: nothing to echo.
    let map = allowed(&p, "null", "PATCH", None);
    assert_eq!(header(&map, &ACCESS_CONTROL_ALLOW_HEADERS), None);
}

#[test]
fn wildcard_headers_with_credentials_are_expanded() {
    let p = policy(&["https://a.com"], &["*"], &["*"], true);
    let map = allowed(&p, "https://a.com", "PUT", Some("x-a"));
    assert_eq!(
        header(&map, &ACCESS_CONTROL_ALLOW_ORIGIN),
        Some("https://a.com")
    );
    assert_eq!(header(&map, &ACCESS_CONTROL_ALLOW_METHODS), Some("PUT"));
    assert_eq!(header(&map, &ACCESS_CONTROL_ALLOW_HEADERS), Some("x-a"));
    assert_eq!(
        header(&map, &ACCESS_CONTROL_ALLOW_CREDENTIALS),
        Some("true")
    );
}

#[test]
fn repeated_request_headers_lines_are_joined() {
    let p = policy(&["https://a.com"], &[], &["*"], false);
    let mut req = request(Some("https://a.com"), Some("GET"), Some("x-a"));
    req.append(ACCESS_CONTROL_REQUEST_HEADERS, "x-b".parse().unwrap());
    let Some(Preflight::Allowed(map)) = p.preflight(&Method::OPTIONS, &req) else {
        panic!("expected allowed");
    };
    assert_eq!(
        header(&map, &ACCESS_CONTROL_ALLOW_HEADERS),
        Some("x-a, x-b")
    );
}

#[test]
fn max_age_defaults_to_five_seconds() {
    let p = CorsPolicy::new(&strings(&["https://a.com"]), &[], &[], &[], false, None).unwrap();
    let map = allowed(&p, "https://a.com", "GET", None);
    assert_eq!(header(&map, &ACCESS_CONTROL_MAX_AGE), Some("5"));
    assert_eq!(header(&map, &ACCESS_CONTROL_ALLOW_METHODS), None);
}

#[test]
fn actual_request_headers() {
    let p = policy(&["https://a.com"], &["PUT"], &[], true);
    let map = p
        .response_headers(&request(Some("https://a.com"), None, None))
        .unwrap();
    assert_eq!(
        header(&map, &ACCESS_CONTROL_ALLOW_ORIGIN),
        Some("https://a.com")
    );
    assert_eq!(
        header(&map, &ACCESS_CONTROL_ALLOW_CREDENTIALS),
        Some("true")
    );
    assert_eq!(
        header(&map, &ACCESS_CONTROL_EXPOSE_HEADERS),
        Some("x-request-id")
    );
    assert_eq!(header(&map, &VARY), Some("Origin"));
    assert_eq!(header(&map, &ACCESS_CONTROL_ALLOW_METHODS), None);
    assert_eq!(
        p.response_headers(&request(Some("https://b.com"), None, None)),
        None
    );
    assert_eq!(p.response_headers(&request(None, None, None)), None);

    let any = policy(&["*"], &[], &[], false);
    let map = any
        .response_headers(&request(Some("https://z.com"), None, None))
        .unwrap();
    assert_eq!(header(&map, &ACCESS_CONTROL_ALLOW_ORIGIN), Some("*"));
    assert_eq!(header(&map, &ACCESS_CONTROL_ALLOW_CREDENTIALS), None);
    assert_eq!(any.response_headers(&request(None, None, None)), None);
}

fn origin_allowed(config: &str, origin: &str) -> bool {
    policy(&[config], &[], &[], false)
        .response_headers(&request(Some(origin), None, None))
        .is_some()
}

#[test]
fn exact_origin_matching() {
    assert!(origin_allowed("https://a.com", "https://a.com"));
    assert!(origin_allowed("https://a.com", "HTTPS://A.COM"));
    assert!(origin_allowed("https://A.com", "https://a.com"));
    assert!(origin_allowed("https://a.com", "https://a.com:443"));
    assert!(origin_allowed("https://a.com:443", "https://a.com"));
    assert!(origin_allowed("http://a.com", "http://a.com:80"));
    assert!(origin_allowed(
        "http://localhost:3000",
        "http://localhost:3000"
    ));
    assert!(origin_allowed("http://[::1]:8080", "http://[::1]:8080"));
    assert!(!origin_allowed("https://a.com", "http://a.com"));
    assert!(!origin_allowed("https://a.com", "https://a.com:8443"));
    assert!(!origin_allowed("http://localhost:3000", "http://localhost"));
    assert!(!origin_allowed("https://a.com", "https://a.com.evil.com"));
    assert!(!origin_allowed("https://a.com", "https://a.com/"));
    assert!(!origin_allowed("https://a.com", "null"));
}

#[test]
fn wildcard_subdomain_matching() {
    let w = "https://*.example.com";
    assert!(origin_allowed(w, "https://api.example.com"));
    assert!(origin_allowed(w, "https://a.b.example.com"));
    assert!(origin_allowed(w, "https://API.Example.COM:443"));
    assert!(!origin_allowed(w, "https://example.com"));
    assert!(!origin_allowed(w, "https://evilexample.com"));
    assert!(!origin_allowed(w, "https://example.com.evil.com"));
    assert!(!origin_allowed(w, "http://api.example.com"));
    assert!(!origin_allowed(w, "https://api.example.com:8443"));
    assert!(origin_allowed("http://*.local:8080", "http://x.local:8080"));
}

fn build(origins: &[&str], methods: &[&str], headers: &[&str], credentials: bool) -> CorsError {
    CorsPolicy::new(
        &strings(origins),
        &strings(methods),
        &strings(headers),
        &[],
        credentials,
        None,
    )
    .unwrap_err()
}

#[test]
fn invalid_configurations() {
    assert_eq!(
        build(&["*"], &[], &[], true),
        CorsError::WildcardOriginWithCredentials
    );
    assert!(
        build(&["*"], &[], &[], true)
            .to_string()
            .contains("browsers refuse")
    );
    for bad in [
        "a.com",
        "https://",
        "https://a.com/",
        "https://a.com/path",
        "https://user@a.com",
        "https://a.com:0",
        "https://a.com:99999",
        "https://a.com:x",
        "https://*",
        "https://*example.com",
        "https://api.*.com",
        "https://*.",
        "1https://a.com",
        "https://a b.com",
    ] {
        assert!(
            matches!(
                build(&[bad], &[], &[], false),
                CorsError::InvalidOrigin { .. }
            ),
            "{bad} should be rejected"
        );
    }
    assert_eq!(
        build(&["*", "https://a.com"], &[], &[], false),
        CorsError::WildcardNotAlone {
            field: "allowOrigins"
        }
    );
    assert!(matches!(
        build(&["https://a.com"], &["GE T"], &[], false),
        CorsError::InvalidMethod(_)
    ));
    assert_eq!(
        build(&["https://a.com"], &["get"], &[], false),
        CorsError::MethodCase {
            given: "get".into(),
            expected: "GET".into()
        }
    );
    assert!(matches!(
        build(&["https://a.com"], &[], &["bad header"], false),
        CorsError::InvalidHeader {
            field: "allowHeaders",
            ..
        }
    ));
    let expose = CorsPolicy::new(
        &strings(&["https://a.com"]),
        &[],
        &[],
        &strings(&["*"]),
        true,
        None,
    );
    assert_eq!(
        expose.unwrap_err(),
        CorsError::WildcardExposeWithCredentials
    );
}

#[test]
fn empty_origins_allow_nothing() {
    let p = CorsPolicy::new(&[], &[], &[], &[], false, None).unwrap();
    let req = request(Some("https://a.com"), Some("GET"), None);
    assert_eq!(
        p.preflight(&Method::OPTIONS, &req),
        Some(Preflight::Rejected)
    );
    assert_eq!(p.response_headers(&req), None);
}
