//! Compiled HTTPRoute filters.

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use crate::ir::backend::Backend;

/// Header edits, applied in the Gateway API order: set, add, remove.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderOps {
    pub set: Vec<(HeaderName, HeaderValue)>,
    pub add: Vec<(HeaderName, HeaderValue)>,
    pub remove: Vec<HeaderName>,
}

impl HeaderOps {
    pub fn apply(&self, headers: &mut HeaderMap) {
        for (name, value) in &self.set {
            headers.insert(name.clone(), value.clone());
        }
        for (name, value) in &self.add {
            headers.append(name.clone(), value.clone());
        }
        for name in &self.remove {
            headers.remove(name);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.add.is_empty() && self.remove.is_empty()
    }
}

/// How a path is rewritten or redirected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathModifier {
    ReplaceFullPath(String),
    /// Replaces the prefix the route matched; only valid on PathPrefix matches.
    ReplacePrefixMatch(String),
}

impl PathModifier {
    /// The new path for `path`, which matched the prefix `matched_prefix`.
    pub fn apply(&self, path: &str, matched_prefix: Option<&str>) -> String {
        match self {
            Self::ReplaceFullPath(p) => p.clone(),
            Self::ReplacePrefixMatch(replacement) => {
                let prefix = matched_prefix.unwrap_or("/");
                let prefix = if prefix == "/" { "" } else { prefix };
                let rest = path.get(prefix.len()..).unwrap_or("");
                let replacement = replacement.trim_end_matches('/');
                match (replacement.is_empty(), rest.is_empty()) {
                    (true, true) => "/".to_string(),
                    (true, false) => rest.to_string(),
                    (false, _) => format!("{replacement}{rest}"),
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    pub scheme: Option<String>,
    pub hostname: Option<String>,
    pub port: Option<u16>,
    pub path: Option<PathModifier>,
    pub status: StatusCode,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlRewrite {
    pub hostname: Option<HeaderValue>,
    pub path: Option<PathModifier>,
}

#[derive(Debug, Clone)]
pub struct Mirror {
    pub backend: std::sync::Arc<Backend>,
    /// Share of requests mirrored, 0.0..=1.0.
    pub fraction: f64,
}

/// The filters of a rule (or of one backendRef), in the order they apply.
#[derive(Debug, Clone, Default)]
pub struct RouteFilters {
    pub request_headers: HeaderOps,
    pub response_headers: HeaderOps,
    pub redirect: Option<Redirect>,
    pub rewrite: Option<UrlRewrite>,
    pub mirrors: Vec<Mirror>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_prefix_match_keeps_the_rest_of_the_path() {
        let m = PathModifier::ReplacePrefixMatch("/v1".into());
        assert_eq!(m.apply("/api/chat", Some("/api")), "/v1/chat");
        assert_eq!(m.apply("/api", Some("/api")), "/v1");
        let root = PathModifier::ReplacePrefixMatch("/".into());
        assert_eq!(root.apply("/api/chat", Some("/api")), "/chat");
        assert_eq!(root.apply("/api", Some("/api")), "/");
        assert_eq!(m.apply("/x", Some("/")), "/v1/x");
    }

    #[test]
    fn header_ops_set_add_remove() {
        let mut headers = HeaderMap::new();
        headers.insert("x-a", HeaderValue::from_static("old"));
        headers.insert("x-gone", HeaderValue::from_static("1"));
        let ops = HeaderOps {
            set: vec![(
                HeaderName::from_static("x-a"),
                HeaderValue::from_static("new"),
            )],
            add: vec![(
                HeaderName::from_static("x-b"),
                HeaderValue::from_static("1"),
            )],
            remove: vec![HeaderName::from_static("x-gone")],
        };
        ops.apply(&mut headers);
        assert_eq!(headers["x-a"], "new");
        assert_eq!(headers["x-b"], "1");
        assert!(!headers.contains_key("x-gone"));
    }
}
