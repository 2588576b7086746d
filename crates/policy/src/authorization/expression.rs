//! CEL expressions that yield a string rather than a decision: the values of rate-limit
//! descriptor entries (`descriptors: [{entries: [{name: user, expression: jwt.sub}]}]`), so a
//! global limit can be keyed on the caller, a header or the client address.
//!
//! They read the same variables, with the same functions, as authorization rules (see the
//! parent module), and are refused at config time for the same reasons, so a descriptor that
//! could never produce a value is an error when the config loads, not a silently unlimited
//! route.
//!
//! # Result
//!
//! Strings are the value as-is; ints, uints, doubles and bools are formatted as CEL's `string()`
//! formats them (`42`, `1.5`, `true`). An optional (`jwt.?sub`) is its value, if it has one.
//! Anything else is no value (`None`): an absent attribute (`jwt.sub` without a token, a header
//! the request lacks), an evaluation error, `null`, maps, lists and bytes. There is no
//! sensible rendering of a map or list as one descriptor value, and guessing one would
//! silently merge callers that differ; what `None` means (skip the descriptor, use a default)
//! is the caller's choice, as in Envoy, where a descriptor with a missing entry is not sent.

use std::collections::HashMap;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use cel::objects::OptionalValue;
use cel::{Context, Value};
use regex::Regex;

use super::analysis::{self, Needs};
use super::{AuthzError, Expression, RequestAttributes, activation, parse, root_context};

/// One compiled value expression; cheap to clone, and shareable across workers.
#[derive(Clone)]
pub struct ValueExpression {
    inner: Arc<Inner>,
}

struct Inner {
    source: String,
    expr: Expression,
    needs: Needs,
    /// Standard functions plus `matches` over this expression's literal patterns, built once;
    /// each evaluation adds its variables in a child scope.
    root: Context<'static, 'static>,
}

/// Compiles one value expression, with the checks of [`super::compile`]: parse errors, unknown
/// variables and fields, upper-case header names, invalid regex literals, length and depth.
pub fn compile_value(expression: &str) -> Result<ValueExpression, AuthzError> {
    let expr = parse(expression)?;
    let analysis = analysis::analyze(&expr).map_err(|problem| problem.error(expression))?;
    let mut patterns = HashMap::new();
    for pattern in analysis.patterns {
        if patterns.contains_key(&pattern) {
            continue;
        }
        let regex = Regex::new(&pattern).map_err(|e| AuthzError::InvalidRegex {
            expression: expression.to_owned(),
            pattern: pattern.clone(),
            message: e.to_string(),
        })?;
        patterns.insert(pattern, regex);
    }
    Ok(ValueExpression {
        inner: Arc::new(Inner {
            source: expression.to_owned(),
            expr,
            needs: analysis.needs,
            root: root_context(patterns),
        }),
    })
}

// === impl ValueExpression ===

impl ValueExpression {
    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.inner.source
    }

    /// Whether the expression reads `jwt`: the proxy needs the claims at hand.
    pub fn references_jwt(&self) -> bool {
        self.inner.needs.jwt.is_used()
    }

    pub fn references_api_key(&self) -> bool {
        self.inner.needs.api_key.is_used()
    }

    pub fn references_mcp(&self) -> bool {
        self.inner.needs.mcp.is_used()
    }

    /// The expression's value for this request as a string, or `None` when it has none (see
    /// the module doc). Builds only the variables, and fields, the expression reads.
    pub fn eval(&self, attrs: &RequestAttributes<'_>) -> Option<String> {
        let mut ctx = self.inner.root.new_inner_scope();
        activation::bind(&mut ctx, &self.inner.needs, attrs);
        // As for rules: request data reaches third-party interpreter code, and a panic there
        // must cost this request its value, not the worker serving everyone.
        match catch_unwind(AssertUnwindSafe(|| Value::resolve(&self.inner.expr, &ctx))) {
            Ok(Ok(value)) => render(&value),
            Ok(Err(_)) | Err(_) => None,
        }
    }
}

impl fmt::Debug for ValueExpression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ValueExpression")
            .field(&self.inner.source)
            .finish()
    }
}

/// A scalar as CEL's `string()` would render it, so `x` and `string(x)` give the same value.
fn render(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.as_str().to_owned()),
        Value::Int(i) => Some(i.to_string()),
        Value::UInt(u) => Some(u.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Opaque(_) => <&OptionalValue>::try_from(value)
            .ok()?
            .value()
            .and_then(render),
        _ => None,
    }
}
