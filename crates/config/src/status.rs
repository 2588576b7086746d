//! Gateway API style status conditions, per resource.

use crate::store::ObjectKey;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ResourceStatus {
    pub resource: ObjectKey,
    pub conditions: Vec<Condition>,
    /// Policies: their conditions per target they attach to (Gateway API policy status).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ancestors: Vec<AncestorStatus>,
}

/// A policy's conditions at one of its targets.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AncestorStatus {
    /// e.g. `HTTPRoute default/app` or `Gateway default/gw (listener http)`.
    pub ancestor: String,
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Condition {
    /// `Accepted`, `ResolvedRefs`, `Programmed`, `Attached`.
    #[serde(rename = "type")]
    pub condition_type: &'static str,
    /// `True` or `False`.
    pub status: &'static str,
    pub reason: String,
    pub message: String,
}

impl Condition {
    pub fn ok(condition_type: &'static str, reason: &str, message: impl Into<String>) -> Self {
        Self {
            condition_type,
            status: "True",
            reason: reason.to_string(),
            message: message.into(),
        }
    }

    pub fn failed(condition_type: &'static str, reason: &str, message: impl Into<String>) -> Self {
        Self {
            condition_type,
            status: "False",
            reason: reason.to_string(),
            message: message.into(),
        }
    }
}
