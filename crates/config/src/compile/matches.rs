//! HTTPRoute `matches[]` -> RequestMatch.

use api::httproute::{HeaderMatchType, HttpRoute, HttpRouteMatch, PathMatchType};
use http::Method;
use regex::Regex;

use crate::compile::Ctx;
use crate::compile::filters::header_name;
use crate::ir::route::{HeaderMatch, MatchOrder, PathMatch, QueryMatch, RequestMatch, ValueMatch};
use crate::store::Entry;

/// The matches of one rule; an empty list matches every request (a `/` prefix).
pub(crate) fn compile_matches(
    ctx: &mut Ctx<'_>,
    entry: &Entry<HttpRoute>,
    rule_index: usize,
    matches: &[HttpRouteMatch],
) -> Vec<RequestMatch> {
    let order = |index| MatchOrder {
        created: match &entry.resource.metadata.creation_timestamp {
            Some(t) => (false, t.clone()),
            None => (true, String::new()),
        },
        route: entry.key.namespaced_name(),
        rule: rule_index,
        index,
    };
    if matches.is_empty() {
        return vec![RequestMatch {
            path: PathMatch::Prefix("/".into()),
            method: None,
            headers: vec![],
            query: vec![],
            order: order(0),
        }];
    }
    matches
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            let path = format!("spec.rules[{rule_index}].matches[{i}]");
            let path_match = path_match(ctx, entry, &path, m)?;
            let method = m
                .method
                .map(|m| Method::from_bytes(m.as_str().as_bytes()))
                .and_then(Result::ok);
            let headers = m
                .headers
                .iter()
                .enumerate()
                .filter_map(|(h, hm)| {
                    let hpath = format!("{path}.headers[{h}]");
                    let name = header_name(ctx, entry, &format!("{hpath}.name"), &hm.name)?;
                    let value = value_match(
                        ctx,
                        entry,
                        &format!("{hpath}.value"),
                        hm.match_type,
                        &hm.value,
                    )?;
                    Some(HeaderMatch { name, value })
                })
                .collect();
            let query = m
                .query_params
                .iter()
                .enumerate()
                .filter_map(|(q, qm)| {
                    let value = value_match(
                        ctx,
                        entry,
                        &format!("{path}.queryParams[{q}].value"),
                        qm.match_type,
                        &qm.value,
                    )?;
                    Some(QueryMatch {
                        name: qm.name.clone(),
                        value,
                    })
                })
                .collect();
            Some(RequestMatch {
                path: path_match,
                method,
                headers,
                query,
                order: order(i),
            })
        })
        .collect()
}

fn path_match(
    ctx: &mut Ctx<'_>,
    entry: &Entry<HttpRoute>,
    path: &str,
    m: &HttpRouteMatch,
) -> Option<PathMatch> {
    let (kind, value) = match &m.path {
        None => (PathMatchType::PathPrefix, "/".to_string()),
        Some(p) => (
            p.match_type.unwrap_or(PathMatchType::PathPrefix),
            p.value.clone().unwrap_or_else(|| "/".into()),
        ),
    };
    let vpath = format!("{path}.path.value");
    match kind {
        PathMatchType::Exact | PathMatchType::PathPrefix => {
            if !value.starts_with('/') {
                ctx.error(
                    entry,
                    &vpath,
                    format!("path '{value}' must start with /"),
                    "",
                );
                return None;
            }
            if value.contains("//") || value.contains('?') || value.contains('#') {
                ctx.error(
                    entry,
                    &vpath,
                    format!("path '{value}' must not contain //, ? or #"),
                    "query parameters are matched with queryParams",
                );
                return None;
            }
            Some(if kind == PathMatchType::Exact {
                PathMatch::Exact(value)
            } else {
                let trimmed = value.trim_end_matches('/');
                PathMatch::Prefix(if trimmed.is_empty() {
                    "/".into()
                } else {
                    trimmed.to_string()
                })
            })
        }
        PathMatchType::RegularExpression => {
            anchored(ctx, entry, &vpath, &value).map(PathMatch::Regex)
        }
    }
}

fn value_match<T>(
    ctx: &mut Ctx<'_>,
    entry: &Entry<T>,
    path: &str,
    kind: Option<HeaderMatchType>,
    value: &str,
) -> Option<ValueMatch> {
    match kind.unwrap_or(HeaderMatchType::Exact) {
        HeaderMatchType::Exact => Some(ValueMatch::Exact(value.to_string())),
        HeaderMatchType::RegularExpression => {
            anchored(ctx, entry, path, value).map(ValueMatch::Regex)
        }
    }
}

/// Compiles a regex that must match the whole value, as Gateway API implementations do.
fn anchored<T>(ctx: &mut Ctx<'_>, entry: &Entry<T>, path: &str, pattern: &str) -> Option<Regex> {
    match Regex::new(&format!("^(?:{pattern})$")) {
        Ok(r) => Some(r),
        Err(e) => {
            let detail = e
                .to_string()
                .lines()
                .last()
                .unwrap_or_default()
                .trim()
                .to_string();
            ctx.error(
                entry,
                path,
                format!("'{pattern}' is not a valid regular expression: {detail}"),
                "the syntax is RE2's (Rust regex crate); look-around is not supported",
            );
            None
        }
    }
}
