//! Gateway API `HTTPRoute`.

use crate::meta::{BackendObjectRef, HeaderModifier, ObjectMeta};

api_struct! {
    /// Routes HTTP requests arriving on Gateway listeners to backends.
    pub struct HttpRoute {
        pub api_version: String,
        pub kind: String,
        pub metadata: ObjectMeta,
        pub spec: HttpRouteSpec,
        #[serde(default)]
        #[schemars(skip)]
        pub status: Option<serde_json::Value>,
    }
}

api_struct! {
    pub struct HttpRouteSpec {
        /// The Gateways (and optionally listeners, by `sectionName` or `port`) this route attaches to.
        #[serde(default)]
        pub parent_refs: Vec<ParentReference>,
        /// Host names this route serves; empty means every host the listener accepts.
        #[serde(default)]
        pub hostnames: Vec<String>,
        #[serde(default)]
        pub rules: Vec<HttpRouteRule>,
    }
}

api_struct! {
    pub struct ParentReference {
        #[serde(default)]
        pub group: Option<String>,
        #[serde(default)]
        pub kind: Option<String>,
        #[serde(default)]
        pub namespace: Option<String>,
        pub name: String,
        #[serde(default)]
        pub section_name: Option<String>,
        #[serde(default)]
        pub port: Option<u16>,
    }
}

api_struct! {
    pub struct HttpRouteRule {
        /// Optional name; policies may target a rule by it through `sectionName`.
        #[serde(default)]
        pub name: Option<String>,
        /// Empty means "match everything" (a `/` prefix).
        #[serde(default)]
        pub matches: Vec<HttpRouteMatch>,
        #[serde(default)]
        pub filters: Vec<HttpRouteFilter>,
        #[serde(default)]
        pub backend_refs: Vec<HttpBackendRef>,
        #[serde(default)]
        pub timeouts: Option<HttpRouteTimeouts>,
    }
}

api_struct! {
    pub struct HttpRouteMatch {
        #[serde(default)]
        pub path: Option<HttpPathMatch>,
        #[serde(default)]
        pub headers: Vec<HttpHeaderMatch>,
        #[serde(default)]
        pub query_params: Vec<HttpQueryParamMatch>,
        #[serde(default)]
        pub method: Option<HttpMethod>,
    }
}

api_enum! {
    pub enum PathMatchType { Exact, PathPrefix, RegularExpression }
}

api_enum! {
    pub enum HeaderMatchType { Exact, RegularExpression }
}

api_enum! {
    pub enum HttpMethod { GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH }
}

api_struct! {
    pub struct HttpPathMatch {
        #[serde(default, rename = "type")]
        pub match_type: Option<PathMatchType>,
        /// Defaults to `/`.
        #[serde(default)]
        pub value: Option<String>,
    }
}

api_struct! {
    pub struct HttpHeaderMatch {
        #[serde(default, rename = "type")]
        pub match_type: Option<HeaderMatchType>,
        pub name: String,
        pub value: String,
    }
}

api_struct! {
    pub struct HttpQueryParamMatch {
        #[serde(default, rename = "type")]
        pub match_type: Option<HeaderMatchType>,
        pub name: String,
        pub value: String,
    }
}

api_enum! {
    pub enum HttpRouteFilterType {
        RequestHeaderModifier,
        ResponseHeaderModifier,
        RequestMirror,
        RequestRedirect,
        URLRewrite,
        CORS,
        ExtensionRef,
    }
}

api_struct! {
    /// One filter; `type` says which of the other fields must be set.
    pub struct HttpRouteFilter {
        #[serde(rename = "type")]
        pub filter_type: HttpRouteFilterType,
        #[serde(default)]
        pub request_header_modifier: Option<HeaderModifier>,
        #[serde(default)]
        pub response_header_modifier: Option<HeaderModifier>,
        #[serde(default)]
        pub request_mirror: Option<HttpRequestMirrorFilter>,
        #[serde(default)]
        pub request_redirect: Option<HttpRequestRedirectFilter>,
        #[serde(default, rename = "urlRewrite")]
        pub url_rewrite: Option<HttpUrlRewriteFilter>,
        #[serde(default)]
        pub cors: Option<crate::policy::Cors>,
        #[serde(default)]
        pub extension_ref: Option<LocalObjectReference>,
    }
}

api_struct! {
    pub struct LocalObjectReference {
        pub group: String,
        pub kind: String,
        pub name: String,
    }
}

api_struct! {
    pub struct HttpRequestMirrorFilter {
        pub backend_ref: BackendObjectRef,
        /// Share of requests mirrored, 0..100 (default all).
        #[serde(default)]
        pub percent: Option<u32>,
        #[serde(default)]
        pub fraction: Option<Fraction>,
    }
}

api_struct! {
    pub struct Fraction {
        pub numerator: u32,
        #[serde(default)]
        pub denominator: Option<u32>,
    }
}

api_enum! {
    pub enum PathModifierType { ReplaceFullPath, ReplacePrefixMatch }
}

api_struct! {
    pub struct HttpPathModifier {
        #[serde(rename = "type")]
        pub modifier_type: PathModifierType,
        #[serde(default)]
        pub replace_full_path: Option<String>,
        #[serde(default)]
        pub replace_prefix_match: Option<String>,
    }
}

api_struct! {
    pub struct HttpRequestRedirectFilter {
        /// `http` or `https`.
        #[serde(default)]
        pub scheme: Option<String>,
        #[serde(default)]
        pub hostname: Option<String>,
        #[serde(default)]
        pub path: Option<HttpPathModifier>,
        #[serde(default)]
        pub port: Option<u16>,
        /// 301 or 302 (default).
        #[serde(default)]
        pub status_code: Option<u16>,
    }
}

api_struct! {
    pub struct HttpUrlRewriteFilter {
        #[serde(default)]
        pub hostname: Option<String>,
        #[serde(default)]
        pub path: Option<HttpPathModifier>,
    }
}

api_struct! {
    pub struct HttpBackendRef {
        #[serde(default)]
        pub group: Option<String>,
        #[serde(default)]
        pub kind: Option<String>,
        pub name: String,
        #[serde(default)]
        pub namespace: Option<String>,
        #[serde(default)]
        pub port: Option<u16>,
        /// Relative share of traffic (default 1; 0 sends none).
        #[serde(default)]
        pub weight: Option<u32>,
        #[serde(default)]
        pub filters: Vec<HttpRouteFilter>,
    }
}

api_struct! {
    pub struct HttpRouteTimeouts {
        /// Deadline for the whole exchange up to the response headers, retries included.
        #[serde(default)]
        pub request: Option<String>,
        /// Deadline for one attempt to one backend.
        #[serde(default)]
        pub backend_request: Option<String>,
    }
}
