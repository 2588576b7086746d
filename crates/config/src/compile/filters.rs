//! HTTPRoute filters -> RouteFilters.

use std::sync::Arc;

use api::httproute::{
    HttpPathModifier, HttpRequestMirrorFilter, HttpRequestRedirectFilter, HttpRouteFilter,
    HttpRouteFilterType, HttpUrlRewriteFilter, PathModifierType,
};
use api::meta::HeaderModifier;
use http::{HeaderName, HeaderValue, StatusCode};

use crate::compile::Ctx;
use crate::ir::backend::Backend;
use crate::ir::filters::{HeaderOps, Mirror, PathModifier, Redirect, RouteFilters, UrlRewrite};
use crate::store::Entry;

/// Parses a header modifier, reporting bad names and values.
pub(crate) fn header_ops<T>(
    ctx: &mut Ctx<'_>,
    entry: &Entry<T>,
    path: &str,
    m: &HeaderModifier,
) -> HeaderOps {
    let mut ops = HeaderOps::default();
    let pairs = |ctx: &mut Ctx<'_>,
                 list: &[api::meta::HttpHeader],
                 field: &str|
     -> Vec<(HeaderName, HeaderValue)> {
        list.iter()
            .enumerate()
            .filter_map(|(i, h)| {
                let name = header_name(ctx, entry, &format!("{path}.{field}[{i}].name"), &h.name)?;
                match HeaderValue::from_str(&h.value) {
                    Ok(v) => Some((name, v)),
                    Err(_) => {
                        ctx.error(
                            entry,
                            &format!("{path}.{field}[{i}].value"),
                            "header values must be visible ASCII",
                            "",
                        );
                        None
                    }
                }
            })
            .collect()
    };
    ops.set = pairs(ctx, &m.set, "set");
    ops.add = pairs(ctx, &m.add, "add");
    ops.remove = m
        .remove
        .iter()
        .enumerate()
        .filter_map(|(i, n)| header_name(ctx, entry, &format!("{path}.remove[{i}]"), n))
        .collect();
    ops
}

pub(crate) fn header_name<T>(
    ctx: &mut Ctx<'_>,
    entry: &Entry<T>,
    path: &str,
    name: &str,
) -> Option<HeaderName> {
    match HeaderName::from_bytes(name.as_bytes()) {
        Ok(n) => Some(n),
        Err(_) => {
            ctx.error(
                entry,
                path,
                format!("'{name}' is not a valid header name"),
                "header names are tokens such as x-team",
            );
            None
        }
    }
}

/// Resolves a mirror's backendRef; supplied by the route compiler, which owns ref rules.
pub(crate) type ResolveMirror<'f, 'c> =
    dyn FnMut(&mut Ctx<'c>, &api::meta::BackendObjectRef, &str) -> Option<Arc<Backend>> + 'f;

/// Compiles a list of filters. `all_prefix` says whether every match of the rule is a
/// PathPrefix match (required by ReplacePrefixMatch).
pub(crate) fn route_filters<'c, T>(
    ctx: &mut Ctx<'c>,
    entry: &Entry<T>,
    path: &str,
    filters: &[HttpRouteFilter],
    all_prefix: bool,
    resolve_mirror: &mut ResolveMirror<'_, 'c>,
) -> RouteFilters {
    let mut out = RouteFilters::default();
    for (i, filter) in filters.iter().enumerate() {
        let at = FilterAt {
            entry,
            path: format!("{path}[{i}]"),
            all_prefix,
        };
        let kind = filter.filter_type;
        match kind {
            HttpRouteFilterType::RequestHeaderModifier => match &filter.request_header_modifier {
                Some(m) => {
                    out.request_headers =
                        header_ops(ctx, entry, &at.field("requestHeaderModifier"), m)
                }
                None => at.missing(ctx, kind, "requestHeaderModifier"),
            },
            HttpRouteFilterType::ResponseHeaderModifier => match &filter.response_header_modifier {
                Some(m) => {
                    out.response_headers =
                        header_ops(ctx, entry, &at.field("responseHeaderModifier"), m)
                }
                None => at.missing(ctx, kind, "responseHeaderModifier"),
            },
            HttpRouteFilterType::RequestRedirect => match &filter.request_redirect {
                Some(r) => out.redirect = redirect(ctx, &at, r),
                None => at.missing(ctx, kind, "requestRedirect"),
            },
            HttpRouteFilterType::URLRewrite => match &filter.url_rewrite {
                Some(r) => out.rewrite = Some(rewrite(ctx, &at, r)),
                None => at.missing(ctx, kind, "urlRewrite"),
            },
            HttpRouteFilterType::RequestMirror => match &filter.request_mirror {
                Some(m) => {
                    let fraction = mirror_fraction(ctx, &at, m);
                    if let Some(backend) =
                        resolve_mirror(ctx, &m.backend_ref, &at.field("requestMirror.backendRef"))
                    {
                        out.mirrors.push(Mirror { backend, fraction });
                    }
                }
                None => at.missing(ctx, kind, "requestMirror"),
            },
            HttpRouteFilterType::CORS => ctx.error(
                entry,
                &at.path,
                "the CORS filter is not supported yet",
                "this build does not enforce it yet; remove it rather than believe it is applied",
            ),
            HttpRouteFilterType::ExtensionRef => ctx.error(
                entry,
                &at.path,
                "ExtensionRef filters are not supported",
                "attach an AgentgatewayPolicy to the route instead",
            ),
        }
    }
    if out.redirect.is_some() && out.rewrite.is_some() {
        ctx.error(
            entry,
            path,
            "RequestRedirect and URLRewrite cannot be used together",
            "a redirect answers the client; a rewrite changes what is forwarded: keep one",
        );
    }
    out
}

/// Where one filter sits, for error messages.
struct FilterAt<'e, T> {
    entry: &'e Entry<T>,
    path: String,
    /// Whether every match of the rule is a PathPrefix match (ReplacePrefixMatch needs it).
    all_prefix: bool,
}

impl<T> FilterAt<'_, T> {
    fn field(&self, name: &str) -> String {
        format!("{}.{name}", self.path)
    }

    fn missing(&self, ctx: &mut Ctx<'_>, kind: HttpRouteFilterType, field: &str) {
        ctx.error(
            self.entry,
            &self.path,
            format!("type {kind} needs the field `{field}`"),
            format!("add {field}: {{...}} next to type"),
        );
    }
}

fn redirect<T>(
    ctx: &mut Ctx<'_>,
    at: &FilterAt<'_, T>,
    r: &HttpRequestRedirectFilter,
) -> Option<Redirect> {
    let status = match r.status_code.unwrap_or(302) {
        code @ (301 | 302 | 303 | 307 | 308) => StatusCode::from_u16(code).ok(),
        other => {
            ctx.error(
                at.entry,
                &at.field("requestRedirect.statusCode"),
                format!("{other} is not a redirect status"),
                "use 301 or 302 (303, 307 and 308 also work)",
            );
            None
        }
    };
    if let Some(scheme) = r
        .scheme
        .as_deref()
        .filter(|s| !matches!(*s, "http" | "https"))
    {
        ctx.error(
            at.entry,
            &at.field("requestRedirect.scheme"),
            format!("scheme must be http or https, not '{scheme}'"),
            "",
        );
    }
    let path = r.path.as_ref().and_then(|p| {
        path_modifier(
            ctx,
            at.entry,
            &at.field("requestRedirect.path"),
            p,
            at.all_prefix,
        )
    });
    status.map(|status| Redirect {
        scheme: r.scheme.clone(),
        hostname: r.hostname.clone(),
        port: r.port,
        path,
        status,
    })
}

fn rewrite<T>(ctx: &mut Ctx<'_>, at: &FilterAt<'_, T>, r: &HttpUrlRewriteFilter) -> UrlRewrite {
    let hostname = r
        .hostname
        .as_ref()
        .and_then(|h| match HeaderValue::from_str(h) {
            Ok(v) => Some(v),
            Err(_) => {
                ctx.error(
                    at.entry,
                    &at.field("urlRewrite.hostname"),
                    format!("'{h}' is not a valid host name"),
                    "",
                );
                None
            }
        });
    let path = r.path.as_ref().and_then(|p| {
        path_modifier(
            ctx,
            at.entry,
            &at.field("urlRewrite.path"),
            p,
            at.all_prefix,
        )
    });
    UrlRewrite { hostname, path }
}

/// The share of requests to mirror: `percent`, or `fraction`, or all.
fn mirror_fraction<T>(ctx: &mut Ctx<'_>, at: &FilterAt<'_, T>, m: &HttpRequestMirrorFilter) -> f64 {
    match (&m.percent, &m.fraction) {
        (Some(p), _) => f64::from((*p).min(100)) / 100.0,
        (None, Some(f)) => {
            let denominator = f.denominator.unwrap_or(100);
            if denominator == 0 || f.numerator > denominator {
                ctx.error(
                    at.entry,
                    &at.field("requestMirror.fraction"),
                    "numerator must be <= denominator and denominator > 0",
                    "",
                );
            }
            f64::from(f.numerator) / f64::from(denominator.max(1))
        }
        (None, None) => 1.0,
    }
}

fn path_modifier<T>(
    ctx: &mut Ctx<'_>,
    entry: &Entry<T>,
    path: &str,
    p: &HttpPathModifier,
    all_prefix: bool,
) -> Option<PathModifier> {
    match p.modifier_type {
        PathModifierType::ReplaceFullPath => match &p.replace_full_path {
            Some(v) if v.starts_with('/') => Some(PathModifier::ReplaceFullPath(v.clone())),
            _ => {
                ctx.error(
                    entry,
                    &format!("{path}.replaceFullPath"),
                    "ReplaceFullPath needs replaceFullPath starting with /",
                    "",
                );
                None
            }
        },
        PathModifierType::ReplacePrefixMatch => {
            if !all_prefix {
                ctx.error(entry, path, "ReplacePrefixMatch only works when every match of the rule is a PathPrefix match", "use ReplaceFullPath, or make the matches PathPrefix");
                return None;
            }
            match &p.replace_prefix_match {
                Some(v) if v.starts_with('/') => Some(PathModifier::ReplacePrefixMatch(v.clone())),
                _ => {
                    ctx.error(
                        entry,
                        &format!("{path}.replacePrefixMatch"),
                        "ReplacePrefixMatch needs replacePrefixMatch starting with /",
                        "",
                    );
                    None
                }
            }
        }
    }
}
