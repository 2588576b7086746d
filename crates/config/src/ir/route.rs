//! Compiled routes and the Gateway API match precedence.

use std::cmp::Ordering;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderName, Method};
use regex::Regex;

use crate::ir::backend::Backend;
use crate::ir::filters::RouteFilters;
use crate::ir::hostname::HostnamePattern;
use crate::ir::policy::TrafficSettings;
use crate::store::ObjectKey;

/// What a request offers for matching.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    pub host: &'a str,
    pub method: &'a Method,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
}

/// The routes of one listener, bucketed by host name pattern, most specific first.
#[derive(Debug, Default)]
pub struct RouteTable {
    pub hosts: Vec<HostRoutes>,
}

#[derive(Debug)]
pub struct HostRoutes {
    pub hostname: HostnamePattern,
    /// In precedence order: the first entry whose match holds wins.
    pub entries: Vec<RouteEntry>,
}

/// One `matches[]` item of one rule.
#[derive(Debug, Clone)]
pub struct RouteEntry {
    pub matcher: RequestMatch,
    pub rule: Arc<RouteRule>,
}

impl RouteTable {
    /// Finds the rule for a request. Host buckets are tried from the most specific; within
    /// a bucket the entries are already sorted by Gateway API precedence.
    pub fn find(&self, facts: &RequestFacts<'_>) -> Option<&RouteEntry> {
        self.hosts
            .iter()
            .filter(|h| h.hostname.matches(facts.host))
            .find_map(|h| h.entries.iter().find(|e| e.matcher.matches(facts)))
    }

    pub fn is_empty(&self) -> bool {
        self.hosts.iter().all(|h| h.entries.is_empty())
    }

    /// Adds an entry under a host pattern, keeping buckets and entries in precedence order.
    pub fn insert(&mut self, hostname: HostnamePattern, entry: RouteEntry) {
        let bucket = match self.hosts.iter().position(|h| h.hostname == hostname) {
            Some(i) => &mut self.hosts[i],
            None => {
                self.hosts.push(HostRoutes {
                    hostname,
                    entries: Vec::new(),
                });
                self.hosts
                    .sort_by(|a, b| a.hostname.specificity_cmp(&b.hostname));
                let Some(i) = self.hosts.iter().position(|h| h.entries.is_empty()) else {
                    return;
                };
                &mut self.hosts[i]
            }
        };
        let at = bucket
            .entries
            .partition_point(|e| e.precedence_cmp(&entry) != Ordering::Greater);
        bucket.entries.insert(at, entry);
    }
}

impl RouteEntry {
    /// Gateway API precedence: exact path, longest prefix, regex; then method, more header
    /// matches, more query matches; then the older route, its name, rule and match order.
    pub fn precedence_cmp(&self, other: &Self) -> Ordering {
        let a = &self.matcher;
        let b = &other.matcher;
        a.path
            .rank()
            .cmp(&b.path.rank())
            .then_with(|| b.path.specificity().cmp(&a.path.specificity()))
            .then_with(|| b.method.is_some().cmp(&a.method.is_some()))
            .then_with(|| b.headers.len().cmp(&a.headers.len()))
            .then_with(|| b.query.len().cmp(&a.query.len()))
            .then_with(|| a.order.cmp(&b.order))
    }
}

/// The conditions of one `matches[]` item, all of which must hold.
#[derive(Debug, Clone)]
pub struct RequestMatch {
    pub path: PathMatch,
    pub method: Option<Method>,
    pub headers: Vec<HeaderMatch>,
    pub query: Vec<QueryMatch>,
    /// Tie-breaker: (route creation timestamp, namespace/name, rule index, match index).
    pub order: MatchOrder,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MatchOrder {
    /// Routes without a timestamp sort after those with one.
    pub created: (bool, String),
    pub route: String,
    pub rule: usize,
    pub index: usize,
}

#[derive(Debug, Clone)]
pub enum PathMatch {
    Exact(String),
    /// Stored without a trailing slash (except for `/` itself).
    Prefix(String),
    Regex(Regex),
}

impl PathMatch {
    fn rank(&self) -> u8 {
        match self {
            Self::Exact(_) => 0,
            Self::Prefix(_) => 1,
            Self::Regex(_) => 2,
        }
    }

    fn specificity(&self) -> usize {
        match self {
            Self::Exact(p) | Self::Prefix(p) => p.len(),
            Self::Regex(r) => r.as_str().len(),
        }
    }

    /// Prefix matching is by path segment: `/foo` matches `/foo` and `/foo/bar`, not `/foobar`.
    pub fn matches(&self, path: &str) -> bool {
        match self {
            Self::Exact(p) => p == path,
            Self::Prefix(p) if p == "/" => true,
            Self::Prefix(p) => {
                path.starts_with(p.as_str())
                    && matches!(path.as_bytes().get(p.len()), None | Some(b'/'))
            }
            Self::Regex(r) => r.is_match(path),
        }
    }
}

#[derive(Debug, Clone)]
pub struct HeaderMatch {
    pub name: HeaderName,
    pub value: ValueMatch,
}

#[derive(Debug, Clone)]
pub struct QueryMatch {
    pub name: String,
    pub value: ValueMatch,
}

#[derive(Debug, Clone)]
pub enum ValueMatch {
    Exact(String),
    /// Anchored so the whole value must match.
    Regex(Regex),
}

impl ValueMatch {
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Self::Exact(v) => v == value,
            Self::Regex(r) => r.is_match(value),
        }
    }
}

impl RequestMatch {
    pub fn matches(&self, facts: &RequestFacts<'_>) -> bool {
        self.path.matches(facts.path)
            && self.method.as_ref().is_none_or(|m| m == facts.method)
            && self.headers.iter().all(|h| {
                // Repeated headers are matched on their comma-joined value, as in HTTP semantics.
                let values: Vec<&str> = facts
                    .headers
                    .get_all(&h.name)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .collect();
                !values.is_empty() && h.value.matches(&values.join(","))
            })
            && self
                .query
                .iter()
                .all(|q| query_value(facts.query, &q.name).is_some_and(|v| q.value.matches(&v)))
    }
}

/// The first value of a query parameter, percent-decoded.
fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k) == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = match bytes[i] {
            b'%' if i + 2 < bytes.len() => hex(bytes[i + 1])
                .zip(hex(bytes[i + 2]))
                .map(|(h, l)| h * 16 + l),
            _ => None,
        };
        match (decoded, bytes[i]) {
            (Some(b), _) => {
                out.push(b);
                i += 3;
                continue;
            }
            (None, b'+') => out.push(b' '),
            (None, b) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One rule of one HTTPRoute as attached to one listener.
#[derive(Debug)]
pub struct RouteRule {
    /// `namespace/name`, with `#rule` when the rule is named; computed once.
    name: Arc<str>,
    pub route: ObjectKey,
    pub rule_index: usize,
    pub rule_name: Option<String>,
    pub filters: RouteFilters,
    pub backends: Vec<WeightedBackend>,
    /// Settings from the route rule and the policies attached above it.
    pub traffic: TrafficSettings,
}

impl RouteRule {
    pub fn new(
        route: ObjectKey,
        rule_index: usize,
        rule_name: Option<String>,
        filters: RouteFilters,
        backends: Vec<WeightedBackend>,
        traffic: TrafficSettings,
    ) -> Self {
        let name = match &rule_name {
            Some(rule) => format!("{}#{rule}", route.namespaced_name()),
            None => route.namespaced_name(),
        };
        Self {
            name: Arc::from(name),
            route,
            rule_index,
            rule_name,
            filters,
            backends,
            traffic,
        }
    }

    /// `namespace/name` of the route, with `#rule` when the rule is named.
    pub fn display_name(&self) -> &Arc<str> {
        &self.name
    }
}

#[derive(Debug)]
pub struct WeightedBackend {
    pub weight: u32,
    pub backend: Arc<Backend>,
    /// Header modifiers declared on the backendRef itself.
    pub filters: RouteFilters,
    /// Rule settings merged with policies that target this backend.
    pub traffic: Arc<TrafficSettings>,
}

/// Timeouts of a rule, after policy merge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Timeouts {
    pub request: Option<Duration>,
    pub backend_request: Option<Duration>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_matches_whole_segments() {
        let p = PathMatch::Prefix("/foo".into());
        assert!(p.matches("/foo"));
        assert!(p.matches("/foo/bar"));
        assert!(!p.matches("/foobar"));
        assert!(PathMatch::Prefix("/".into()).matches("/anything"));
    }

    #[test]
    fn query_values_are_decoded() {
        assert_eq!(
            query_value(Some("a=1&b=x%20y"), "b").as_deref(),
            Some("x y")
        );
        assert_eq!(query_value(Some("flag"), "flag").as_deref(), Some(""));
        assert_eq!(query_value(Some("a=%zz"), "a").as_deref(), Some("%zz"));
        assert_eq!(query_value(Some("a=%4"), "a").as_deref(), Some("%4"));
        assert_eq!(query_value(None, "a"), None);
    }
}
