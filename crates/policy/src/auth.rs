//! What every authentication policy (JWT, API key, basic) shares: the mode that says how strict
//! it is, and the outcome it hands to the request pipeline.

/// How an authentication policy treats a request.
///
/// | credential | `Strict` | `Optional` | `Permissive` |
/// |---|---|---|---|
/// | valid   | authenticated | authenticated | authenticated |
/// | missing | rejected      | anonymous     | anonymous     |
/// | invalid | rejected      | rejected      | anonymous (error kept for logs) |
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AuthMode {
    /// A valid credential is required. The default: an authentication policy that lets
    /// anonymous requests through by accident is worse than one that is too strict.
    #[default]
    Strict,
    /// A credential is checked when present; requests without one pass anonymously.
    Optional,
    /// Never rejects: a valid credential yields an identity, anything else passes anonymously.
    Permissive,
}

/// The decision of an authentication policy for one request. A rejection is an early response
/// (401), not an error of the gateway.
#[derive(Debug)]
pub enum Outcome<I, E> {
    /// The credential is valid; `I` is who the caller is (claims, key identity, user name).
    Authenticated(I),
    /// The request continues without an identity. `ignored` holds the reason when a credential
    /// was present but invalid (`Permissive` mode), so it can still be logged.
    Anonymous { ignored: Option<E> },
    /// The request must be answered with 401.
    Rejected(Rejection<E>),
}

/// Why a request is rejected; `Display` is safe to send to the client.
#[derive(Debug, thiserror::Error)]
pub enum Rejection<E> {
    /// No credential was presented where one is required.
    #[error("credentials are required")]
    Missing,
    /// A credential was presented and is not valid.
    #[error("{0}")]
    Invalid(E),
}

// === impl AuthMode ===

impl AuthMode {
    /// Applies the mode to the result of checking a request's credential: `None` when the
    /// request carried none, `Some(Ok(identity))` or `Some(Err(reason))` otherwise.
    pub fn decide<I, E>(self, attempt: Option<Result<I, E>>) -> Outcome<I, E> {
        match (attempt, self) {
            (Some(Ok(identity)), _) => Outcome::Authenticated(identity),
            (None, AuthMode::Strict) => Outcome::Rejected(Rejection::Missing),
            (None, AuthMode::Optional | AuthMode::Permissive) => {
                Outcome::Anonymous { ignored: None }
            }
            (Some(Err(e)), AuthMode::Strict | AuthMode::Optional) => {
                Outcome::Rejected(Rejection::Invalid(e))
            }
            (Some(Err(e)), AuthMode::Permissive) => Outcome::Anonymous { ignored: Some(e) },
        }
    }
}

// === impl Outcome ===

impl<I, E> Outcome<I, E> {
    /// The identity, when the request is authenticated.
    pub fn identity(&self) -> Option<&I> {
        match self {
            Outcome::Authenticated(identity) => Some(identity),
            Outcome::Anonymous { .. } | Outcome::Rejected(_) => None,
        }
    }

    /// True when the request must be answered with 401.
    pub fn is_rejected(&self) -> bool {
        matches!(self, Outcome::Rejected(_))
    }

    /// Converts the identity, keeping the decision.
    pub fn map<J>(self, f: impl FnOnce(I) -> J) -> Outcome<J, E> {
        match self {
            Outcome::Authenticated(identity) => Outcome::Authenticated(f(identity)),
            Outcome::Anonymous { ignored } => Outcome::Anonymous { ignored },
            Outcome::Rejected(rejection) => Outcome::Rejected(rejection),
        }
    }
}
