//! The verified claims of a token, as CEL (`jwt.*`) and header forwarding read them.

use serde_json::{Map, Value};

/// The payload of a token whose signature, issuer, audience and times have been checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Claims {
    claims: Map<String, Value>,
}

// === impl Claims ===

impl Claims {
    pub(super) fn new(claims: Map<String, Value>) -> Claims {
        Claims { claims }
    }

    /// The `sub` claim, when it is a string.
    pub fn sub(&self) -> Option<&str> {
        self.claims.get("sub").and_then(Value::as_str)
    }

    /// The `iss` claim (always present on validated claims).
    pub fn iss(&self) -> Option<&str> {
        self.claims.get("iss").and_then(Value::as_str)
    }

    /// A claim by dotted path, e.g. `realm_access.roles` or `groups.0`; a path segment that is
    /// a number indexes an array.
    ///
    /// A claim whose own name contains dots (common for namespaced claims such as
    /// `https://example.com/roles`) is found too: the whole path is first tried as one
    /// top-level name.
    pub fn get(&self, path: &str) -> Option<&Value> {
        if let Some(value) = self.claims.get(path) {
            return Some(value);
        }
        let mut segments = path.split('.');
        let first = segments.next()?;
        segments.try_fold(self.claims.get(first)?, |value, segment| match value {
            Value::Object(obj) => obj.get(segment),
            Value::Array(items) => items.get(segment.parse::<usize>().ok()?),
            _ => None,
        })
    }

    /// All claims.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.claims
    }

    pub fn into_map(self) -> Map<String, Value> {
        self.claims
    }
}

/// Formats a Unix time as RFC 3339 UTC (`2024-05-01T12:00:00Z`), for error messages a client
/// reads. Days-to-civil conversion on the proleptic Gregorian calendar, counted in 400-year
/// eras of 146097 days so no table or library is needed.
pub(super) fn rfc3339(unix: u64) -> String {
    let days = unix / 86_400;
    let secs = unix % 86_400;
    // Shift the epoch to 0000-03-01 so leap days fall at the end of each year.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3_600,
        secs % 3_600 / 60,
        secs % 60
    )
}
