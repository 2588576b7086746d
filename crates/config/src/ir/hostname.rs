//! Host name patterns of listeners and routes: exact (`api.example.com`), wildcard
//! (`*.example.com`, matching one or more labels) or any.

use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(into = "String")]
pub enum HostnamePattern {
    Exact(String),
    /// The suffix after `*`, e.g. `.example.com`.
    Wildcard(String),
    Any,
}

impl From<HostnamePattern> for String {
    fn from(p: HostnamePattern) -> String {
        match p {
            HostnamePattern::Exact(h) => h,
            HostnamePattern::Wildcard(s) => format!("*{s}"),
            HostnamePattern::Any => "*".to_string(),
        }
    }
}

impl HostnamePattern {
    /// Parses `example.com`, `*.example.com` or nothing (any host). Lower-cased.
    pub fn parse(hostname: Option<&str>) -> Self {
        match hostname.map(str::to_ascii_lowercase) {
            None => Self::Any,
            Some(h) if h.is_empty() || h == "*" => Self::Any,
            Some(h) => match h.strip_prefix('*') {
                Some(suffix) => Self::Wildcard(suffix.to_string()),
                None => Self::Exact(h),
            },
        }
    }

    /// Does a request's host (lower-case, no port) match?
    pub fn matches(&self, host: &str) -> bool {
        match self {
            Self::Exact(h) => h.eq_ignore_ascii_case(host),
            Self::Wildcard(suffix) => {
                host.len() > suffix.len()
                    && host[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
            }
            Self::Any => true,
        }
    }

    /// The intersection of a listener's and a route's patterns: the hosts both accept,
    /// or None when they share none.
    pub fn intersect(&self, other: &Self) -> Option<Self> {
        match (self, other) {
            (Self::Any, p) | (p, Self::Any) => Some(p.clone()),
            (Self::Exact(a), Self::Exact(b)) => (a == b).then(|| self.clone()),
            (Self::Wildcard(_), Self::Exact(h)) => self.matches(h).then(|| other.clone()),
            (Self::Exact(h), Self::Wildcard(_)) => other.matches(h).then(|| self.clone()),
            (Self::Wildcard(a), Self::Wildcard(b)) => {
                if a.ends_with(b.as_str()) {
                    Some(self.clone())
                } else if b.ends_with(a.as_str()) {
                    Some(other.clone())
                } else {
                    None
                }
            }
        }
    }

    /// Most specific first: exact names, then longer wildcards, then any.
    pub fn specificity_cmp(&self, other: &Self) -> Ordering {
        fn rank(p: &HostnamePattern) -> (u8, usize) {
            match p {
                HostnamePattern::Exact(h) => (0, usize::MAX - h.len()),
                HostnamePattern::Wildcard(s) => (1, usize::MAX - s.len()),
                HostnamePattern::Any => (2, 0),
            }
        }
        rank(self).cmp(&rank(other))
    }
}

impl std::fmt::Display for HostnamePattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from(self.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_one_or_more_labels_but_not_the_bare_domain() {
        let p = HostnamePattern::parse(Some("*.example.com"));
        assert!(p.matches("a.example.com"));
        assert!(p.matches("a.b.example.com"));
        assert!(!p.matches("example.com"));
        assert!(HostnamePattern::parse(Some("API.example.com")).matches("api.EXAMPLE.com"));
    }

    #[test]
    fn intersections() {
        let any = HostnamePattern::Any;
        let wild = HostnamePattern::parse(Some("*.example.com"));
        let exact = HostnamePattern::parse(Some("a.example.com"));
        let other = HostnamePattern::parse(Some("a.other.com"));
        assert_eq!(any.intersect(&exact), Some(exact.clone()));
        assert_eq!(wild.intersect(&exact), Some(exact.clone()));
        assert_eq!(wild.intersect(&other), None);
        let deeper = HostnamePattern::parse(Some("*.a.example.com"));
        assert_eq!(wild.intersect(&deeper), Some(deeper));
    }
}
