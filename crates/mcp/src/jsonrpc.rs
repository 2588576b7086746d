//! JSON-RPC 2.0 messages as MCP uses them, kept as JSON objects: the gateway forwards fields
//! it does not know (newer protocol versions add them), so nothing is parsed into narrower
//! types than the routing needs.

use serde_json::{Map, Value, json};

/// Error codes of JSON-RPC 2.0 and the ones MCP servers use.
pub mod code {
    pub const PARSE_ERROR: i64 = -32700;
    pub const INVALID_REQUEST: i64 = -32600;
    pub const METHOD_NOT_FOUND: i64 = -32601;
    pub const INVALID_PARAMS: i64 = -32602;
    pub const INTERNAL_ERROR: i64 = -32603;
    /// Implementation-defined server errors (-32000..-32099): a target could not be reached.
    pub const TARGET_UNAVAILABLE: i64 = -32001;
    /// The caller is not allowed to use the item it named.
    pub const FORBIDDEN: i64 = -32003;
}

/// One JSON-RPC message (request, notification or response), as a JSON object.
#[derive(Debug, Clone, PartialEq)]
pub struct Message(Map<String, Value>);

/// What a message is, read from which members it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Request,
    Notification,
    Response,
}

/// Why a body is not a JSON-RPC message: the error to answer with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    pub code: i64,
    pub message: String,
}

impl Invalid {
    fn request(message: impl Into<String>) -> Self {
        Self {
            code: code::INVALID_REQUEST,
            message: message.into(),
        }
    }
}

/// Parses a request body: one message, or a batch (an array; protocol 2025-03-26 allows them).
pub fn parse_body(body: &[u8]) -> Result<Vec<Message>, Invalid> {
    let value: Value = serde_json::from_slice(body).map_err(|e| Invalid {
        code: code::PARSE_ERROR,
        message: format!("the body is not valid JSON ({e}); send one JSON-RPC 2.0 message"),
    })?;
    match value {
        Value::Array(items) if items.is_empty() => Err(Invalid::request("empty JSON-RPC batch")),
        Value::Array(items) => items.into_iter().map(Message::from_value).collect(),
        other => Ok(vec![Message::from_value(other)?]),
    }
}

impl Message {
    /// Checks the envelope: an object with `"jsonrpc": "2.0"` and either a method or a result
    /// or error with an id.
    pub fn from_value(value: Value) -> Result<Self, Invalid> {
        let Value::Object(map) = value else {
            return Err(Invalid::request("a JSON-RPC message must be a JSON object"));
        };
        if map.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return Err(Invalid::request(
                r#"the message must have "jsonrpc": "2.0""#,
            ));
        }
        let message = Message(map);
        match (message.0.get("method"), message.0.get("id")) {
            (Some(Value::String(_)), None | Some(Value::String(_) | Value::Number(_))) => {}
            (Some(_), _) => {
                return Err(Invalid::request(
                    "`method` must be a string and `id` a string or number",
                ));
            }
            (None, Some(_))
                if message.0.contains_key("result") || message.0.contains_key("error") => {}
            (None, _) => {
                return Err(Invalid::request(
                    "the message has no `method` (request) nor `result`/`error` with an `id` (response)",
                ));
            }
        }
        Ok(message)
    }

    pub fn kind(&self) -> Kind {
        match (self.0.contains_key("method"), self.0.contains_key("id")) {
            (true, true) => Kind::Request,
            (true, false) => Kind::Notification,
            (false, _) => Kind::Response,
        }
    }

    pub fn id(&self) -> Option<&Value> {
        self.0.get("id")
    }

    pub fn set_id(&mut self, id: Value) {
        self.0.insert("id".into(), id);
    }

    pub fn method(&self) -> Option<&str> {
        self.0.get("method").and_then(Value::as_str)
    }

    pub fn params(&self) -> Option<&Value> {
        self.0.get("params")
    }

    pub fn params_mut(&mut self) -> Option<&mut Map<String, Value>> {
        self.0.get_mut("params").and_then(Value::as_object_mut)
    }

    pub fn result(&self) -> Option<&Value> {
        self.0.get("result")
    }

    pub fn result_mut(&mut self) -> Option<&mut Value> {
        self.0.get_mut("result")
    }

    pub fn error(&self) -> Option<&Value> {
        self.0.get("error")
    }

    /// A string parameter, e.g. `name` of `tools/call`.
    pub fn param_str(&self, key: &str) -> Option<&str> {
        self.params()?.get(key)?.as_str()
    }

    pub fn is_error(&self) -> bool {
        self.0.contains_key("error")
    }

    /// The error's code, when this is an error response.
    pub fn error_code(&self) -> Option<i64> {
        self.error()?.get("code")?.as_i64()
    }

    pub fn request(id: Value, method: &str, params: Value) -> Self {
        Self::object(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }))
    }

    pub fn notification(method: &str, params: Value) -> Self {
        Self::object(json!({ "jsonrpc": "2.0", "method": method, "params": params }))
    }

    pub fn result_for(id: Value, result: Value) -> Self {
        Self::object(json!({ "jsonrpc": "2.0", "id": id, "result": result }))
    }

    pub fn error_for(id: Value, code: i64, message: impl Into<String>) -> Self {
        Self::object(json!({
            "jsonrpc": "2.0",
            "id": id,
            "error": { "code": code, "message": message.into() },
        }))
    }

    fn object(value: Value) -> Self {
        match value {
            Value::Object(map) => Message(map),
            _ => Message(Map::new()),
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&self.0).unwrap_or_default()
    }

    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }

    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }
}

/// A request id as a map key: ids are strings or numbers, and `1` and `"1"` differ.
pub fn id_key(id: &Value) -> String {
    id.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_requests_notifications_and_responses() {
        let parsed = parse_body(
            br#"[{"jsonrpc":"2.0","id":1,"method":"ping"},
                {"jsonrpc":"2.0","method":"notifications/initialized"},
                {"jsonrpc":"2.0","id":"a","result":{}}]"#,
        )
        .unwrap();
        let kinds: Vec<Kind> = parsed.iter().map(Message::kind).collect();
        assert_eq!(kinds, [Kind::Request, Kind::Notification, Kind::Response]);
    }

    #[test]
    fn refuses_what_is_not_json_rpc() {
        assert_eq!(parse_body(b"{").unwrap_err().code, code::PARSE_ERROR);
        let cases: [&[u8]; 5] = [
            br#"{"id":1,"method":"ping"}"#,
            br#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
            br#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#,
            br#"{"jsonrpc":"2.0","id":1}"#,
            b"[]",
        ];
        for case in cases {
            let error = parse_body(case).unwrap_err();
            assert_eq!(
                error.code,
                code::INVALID_REQUEST,
                "{}",
                String::from_utf8_lossy(case)
            );
        }
    }

    #[test]
    fn id_keys_keep_strings_and_numbers_apart() {
        assert_ne!(id_key(&json!(1)), id_key(&json!("1")));
    }
}
