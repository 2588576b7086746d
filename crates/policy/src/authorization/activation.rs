//! The CEL variables of one request, built from [`RequestAttributes`] as far as the compiled
//! expressions read them ([`Needs`]): a rule on `request.path` does not pay for converting the
//! headers or the token's claims.

use std::collections::HashMap;
use std::sync::Arc;

use cel::objects::{Key, Map};
use cel::{Context, Value};
use http::HeaderMap;

use super::analysis::{Access, Needs};
use super::{McpAttributes, RequestAttributes};

/// Adds the variables `needs` names to `ctx`. A variable whose source is absent (no token, no
/// API key) is an empty map, so `jwt.sub` fails to evaluate (and the rule fails closed) while
/// `has(jwt.sub)` is simply false.
pub(super) fn bind(ctx: &mut Context<'_, '_>, needs: &Needs, attrs: &RequestAttributes<'_>) {
    if needs.request.is_used() {
        ctx.add_variable_from_value("request", request(&needs.request, attrs));
    }
    if needs.source.is_used() {
        let mut source = HashMap::new();
        if let Some(ip) = attrs.source_ip {
            source.insert(key("address"), string(ip.to_string()));
        }
        ctx.add_variable_from_value("source", map(source));
    }
    if needs.jwt.is_used() {
        let claims = attrs
            .jwt
            .map(|claims| json_fields(&needs.jwt, claims))
            .unwrap_or_default();
        ctx.add_variable_from_value("jwt", map(claims));
    }
    if needs.api_key.is_used() {
        let mut fields = HashMap::new();
        if let Some((id, metadata)) = attrs.api_key {
            fields = json_fields(&needs.api_key, metadata);
            // The key's own id wins over a metadata field of the same name: it is the identity
            // the gateway verified, the metadata only describes it.
            fields.insert(key("id"), string(id.to_owned()));
        }
        ctx.add_variable_from_value("apiKey", map(fields));
    }
    if needs.mcp.is_used() {
        ctx.add_variable_from_value("mcp", mcp(attrs.mcp.as_ref()));
    }
}

fn request(access: &Access, attrs: &RequestAttributes<'_>) -> Value {
    let mut fields = HashMap::new();
    for (name, value) in [
        ("method", attrs.method),
        ("path", attrs.path),
        ("host", attrs.host),
    ] {
        if access.field(name).is_used() {
            fields.insert(key(name), string(value.to_owned()));
        }
    }
    let headers = access.field("headers");
    if headers.is_used() {
        fields.insert(key("headers"), map(header_fields(headers, attrs.headers)));
    }
    map(fields)
}

/// Header name to its first value. Values that are not valid UTF-8 (obs-text) are converted
/// lossily rather than dropped, so a rule still sees that the header is present.
fn header_fields(access: &Access, headers: &HeaderMap) -> HashMap<Key, Value> {
    let value = |v: &http::HeaderValue| string(String::from_utf8_lossy(v.as_bytes()).into_owned());
    match access.fields() {
        // Only the named headers; names were checked to be lower-case at compile time, as the
        // map's own names are, so this sees exactly what a full map would.
        Some(names) => names
            .filter_map(|name| Some((key(name), value(headers.get(name)?))))
            .collect(),
        None => headers
            .keys()
            .filter_map(|name| Some((key(name.as_str()), value(headers.get(name)?))))
            .collect(),
    }
}

/// The fields of a JSON object that `access` reads (all of them when read whole), converted.
fn json_fields(
    access: &Access,
    object: &serde_json::Map<String, serde_json::Value>,
) -> HashMap<Key, Value> {
    match access.fields() {
        Some(names) => names
            .filter_map(|name| Some((key(name), json(object.get(name)?))))
            .collect(),
        None => object
            .iter()
            .map(|(name, value)| (key(name), json(value)))
            .collect(),
    }
}

/// JSON to CEL: integers stay integers (`jwt.exp > 1700000000` compares ints), other numbers
/// become doubles.
fn json(value: &serde_json::Value) -> Value {
    match value {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::Int(i),
            (None, Some(u)) => Value::UInt(u),
            (None, None) => n.as_f64().map_or(Value::Null, Value::Float),
        },
        serde_json::Value::String(s) => string(s.clone()),
        serde_json::Value::Array(items) => Value::List(Arc::new(items.iter().map(json).collect())),
        serde_json::Value::Object(object) => map(object
            .iter()
            .map(|(name, value)| (key(name), json(value)))
            .collect()),
    }
}

fn mcp(attrs: Option<&McpAttributes<'_>>) -> Value {
    let item = |kind: &str, fields: &[(&str, &str)]| {
        let fields = fields
            .iter()
            .map(|(name, value)| (key(name), string((*value).to_owned())))
            .collect();
        HashMap::from([(key(kind), map(fields))])
    };
    map(match attrs {
        Some(McpAttributes::Tool { name, target }) => {
            item("tool", &[("name", name), ("target", target)])
        }
        Some(McpAttributes::Prompt { name }) => item("prompt", &[("name", name)]),
        Some(McpAttributes::Resource { uri }) => item("resource", &[("uri", uri)]),
        None => HashMap::new(),
    })
}

fn key(name: &str) -> Key {
    Key::String(Arc::new(name.to_owned()))
}

fn string(value: String) -> Value {
    Value::String(Arc::new(value))
}

fn map(fields: HashMap<Key, Value>) -> Value {
    Value::Map(Map {
        map: Arc::new(fields),
    })
}
