//! CEL authorization: rules over the request, the caller's identity and (for MCP) the item
//! being used, each allowing, denying or requiring.
//!
//! # Semantics
//!
//! Each policy is a rule set `{ expressions, action }`. A rule set *matches* a request when any
//! of its expressions evaluates to `true`. The rule sets that apply to a request accumulate
//! across attachment levels (Gateway < listener < route < rule < backend); over all of them:
//!
//! 1. if any `Deny` rule set matches, the request is denied;
//! 2. every `Require` rule set must match, else the request is denied;
//! 3. if there is at least one `Allow` rule set, at least one must match, else it is denied;
//! 4. otherwise the request is allowed (no rule sets at all allows everything).
//!
//! An expression that fails to evaluate (an absent attribute such as `jwt.sub` without a
//! token or a header the request lacks, a type error, a result that is not a bool) fails
//! closed: it is not a match for an `Allow` or `Require` rule set, and it *is* a match for a
//! `Deny` rule set. Another expression of the same `Allow`/`Require` rule set may still match.
//! So a `Deny` rule must guard attributes that are not always there, or it denies every request
//! without them: `has(mcp.tool) && mcp.tool.name == "delete"`, `"x-env" in request.headers &&
//! ...`, or CEL's optional syntax, `request.headers[?"x-env"].orValue("") == "prod"`,
//! `jwt.?sub.orValue("") == "mallory"`.
//!
//! # Variables
//!
//! | variable | value |
//! |---|---|
//! | `request.method`, `request.path`, `request.host` | strings (`path` without the query) |
//! | `request.headers["x-team"]` | first value of a header, by lower-case name; absent when not sent |
//! | `source.address` | the client's IP address as a string; absent when unknown |
//! | `jwt.<claim>` | the verified claims (nested objects and arrays converted); `{}` without a token |
//! | `apiKey.id`, `apiKey.<field>` | the key's Secret entry name and metadata; `{}` without a key |
//! | `mcp.tool.name`, `mcp.tool.target`, `mcp.prompt.name`, `mcp.resource.uri` | the MCP item; only its own kind is present |
//!
//! Unknown variables, unknown fields of `request` / `source` / `mcp`, and upper-case header
//! names are refused at compile time: they could never match. Functions are the CEL standard
//! library as the `cel` crate implements it, without timestamps and durations (`size`,
//! `contains`, `startsWith`, `endsWith`, `in`, `has`, `exists`, `all`, `map`, `filter`,
//! conversions, optionals), plus `matches` (RE2-style, as the `regex` crate reads it); literal
//! patterns are compiled, and checked, at config time.
//!
//! # Cost per request
//!
//! Expressions are parsed and analysed once ([`compile`]). A check builds only the variables
//! the expressions name and, for `request`, `jwt` and `apiKey` read by literal field, only those
//! fields (e.g. only the `x-team` header); then evaluates the expressions, stopping at the first
//! deciding one.

mod activation;
mod analysis;
mod expression;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use cel::common::ast::IdedExpr as Expression;
use cel::extractors::This;
use cel::{Context, FunctionContext, Value};
use regex::{Regex, RegexBuilder};

use self::analysis::{Needs, Problem};
pub use self::expression::{ValueExpression, compile_value};

/// Longer expressions are refused: it bounds parsing work, and no real rule comes close.
const MAX_EXPRESSION_LEN: usize = 4096;

/// How much of an over-long expression its error repeats.
const TOO_LONG_ECHO_CHARS: usize = 64;

/// Compiled-size limit for a regex whose pattern is only known per request (computed from
/// request data); literal patterns from config get the crate's default.
const DYNAMIC_REGEX_SIZE_LIMIT: usize = 256 * 1024;

/// What a rule set does when it matches (see the module doc).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Action {
    /// At least one `Allow` rule set must match. The default when a policy names no action.
    #[default]
    Allow,
    /// A match denies the request.
    Deny,
    /// This rule set must match.
    Require,
}

/// One policy's expressions, compiled, with its action.
#[derive(Clone)]
pub struct RuleSet {
    action: Action,
    expressions: Arc<[Compiled]>,
    needs: Arc<Needs>,
    patterns: Arc<[(String, Regex)]>,
}

struct Compiled {
    source: String,
    expr: Expression,
}

/// An expression that cannot be compiled; each names the expression.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthzError {
    #[error("authorization policy has no match expressions")]
    NoExpressions,
    /// `start` is the expression's beginning, enough to find it.
    #[error("CEL expression `{start}...` is longer than {MAX_EXPRESSION_LEN} bytes")]
    TooLong { start: String },
    #[error("invalid CEL expression `{expression}`: {message}")]
    Parse { expression: String, message: String },
    #[error(
        "CEL expression `{expression}` references unknown variable `{name}` (known: request, source, jwt, apiKey, mcp)"
    )]
    UnknownVariable { expression: String, name: String },
    #[error("CEL expression `{expression}` references unknown field `{variable}.{field}`")]
    UnknownField {
        expression: String,
        variable: String,
        field: String,
    },
    #[error(
        "CEL expression `{expression}` reads header `{name}`: header names are lower-case here"
    )]
    UpperCaseHeader { expression: String, name: String },
    #[error("CEL expression `{expression}` uses {construct}, which is not supported")]
    Unsupported {
        expression: String,
        construct: &'static str,
    },
    #[error("CEL expression `{expression}` is nested too deeply")]
    TooDeep { expression: String },
    #[error("CEL expression `{expression}` has an invalid regex `{pattern}`: {message}")]
    InvalidRegex {
        expression: String,
        pattern: String,
        message: String,
    },
}

/// What the proxy knows about a request, borrowed; only what the rules read is converted.
#[derive(Clone, Copy, Debug)]
pub struct RequestAttributes<'a> {
    pub method: &'a str,
    /// The path without the query string.
    pub path: &'a str,
    pub host: &'a str,
    pub headers: &'a http::HeaderMap,
    pub source_ip: Option<IpAddr>,
    /// Verified JWT claims, when a token was validated.
    pub jwt: Option<&'a serde_json::Map<String, serde_json::Value>>,
    /// The verified API key's id and metadata.
    pub api_key: Option<(&'a str, &'a serde_json::Map<String, serde_json::Value>)>,
    /// The MCP item an MCP rule is evaluated for.
    pub mcp: Option<McpAttributes<'a>>,
}

/// The MCP item being used; one request (or one item of a list) is about exactly one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum McpAttributes<'a> {
    /// `mcp.tool.name`, and `mcp.tool.target`: the MCP server (backend target) offering it.
    Tool { name: &'a str, target: &'a str },
    /// `mcp.prompt.name`.
    Prompt { name: &'a str },
    /// `mcp.resource.uri`.
    Resource { uri: &'a str },
}

/// The rule sets that apply to a request, with what evaluating them needs.
pub struct Authorizer {
    rules: Vec<RuleSet>,
    needs: Needs,
    /// Standard functions plus `matches` (over this authorizer's precompiled patterns), built
    /// once; each check adds its variables in a child scope.
    root: Context<'static, 'static>,
}

/// The outcome of [`Authorizer::check`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// `reason` names the deciding rule set (1-based, in the order given to the authorizer)
    /// and expression, never expression text or request data, so it is safe for a 403 body.
    Denied {
        reason: String,
    },
}

/// Compiles one policy's expressions. Errors name the offending expression.
pub fn compile(expressions: &[String], action: Action) -> Result<RuleSet, AuthzError> {
    if expressions.is_empty() {
        return Err(AuthzError::NoExpressions);
    }
    let mut compiled = Vec::with_capacity(expressions.len());
    let mut needs = Needs::default();
    let mut patterns: Vec<(String, Regex)> = Vec::new();
    for source in expressions {
        let expr = parse(source)?;
        let analysis = analysis::analyze(&expr).map_err(|problem| problem.error(source))?;
        needs.merge(&analysis.needs);
        for pattern in analysis.patterns {
            if patterns.iter().any(|(known, _)| *known == pattern) {
                continue;
            }
            let regex = Regex::new(&pattern).map_err(|e| AuthzError::InvalidRegex {
                expression: source.clone(),
                pattern: pattern.clone(),
                message: e.to_string(),
            })?;
            patterns.push((pattern, regex));
        }
        compiled.push(Compiled {
            source: source.clone(),
            expr,
        });
    }
    Ok(RuleSet {
        action,
        expressions: compiled.into(),
        needs: Arc::new(needs),
        patterns: patterns.into(),
    })
}

fn parse(source: &str) -> Result<Expression, AuthzError> {
    if source.len() > MAX_EXPRESSION_LEN {
        return Err(AuthzError::TooLong {
            start: source.chars().take(TOO_LONG_ECHO_CHARS).collect(),
        });
    }
    // The parser is generated code (ANTLR); earlier releases panicked on some invalid input.
    // Should one still do, that is a refused expression, not a crashed config load.
    let parsed = catch_unwind(|| {
        // Optional syntax (`request.headers[?"x"].orValue("")`, `jwt.?sub`) is how a rule reads
        // an attribute that may be absent without failing to evaluate.
        cel::parser::Parser::default()
            .enable_optional_syntax(true)
            .parse(source)
            .map_err(|errors| {
                // Position and message only: the parser's own rendering repeats the source over
                // several lines, and the error already names the expression.
                let messages: Vec<String> = errors
                    .errors
                    .iter()
                    .map(|e| format!("{}:{}: {}", e.pos.0, e.pos.1, e.msg))
                    .collect();
                messages.join("; ")
            })
    });
    match parsed {
        Ok(Ok(expr)) => Ok(expr),
        Ok(Err(message)) => Err(AuthzError::Parse {
            expression: source.to_owned(),
            message,
        }),
        Err(_) => Err(AuthzError::Parse {
            expression: source.to_owned(),
            message: "the parser failed on this input".to_owned(),
        }),
    }
}

// === impl Problem ===

impl Problem {
    fn error(self, source: &str) -> AuthzError {
        let expression = source.to_owned();
        match self {
            Problem::UnknownVariable(name) => AuthzError::UnknownVariable { expression, name },
            Problem::UnknownField { variable, field } => AuthzError::UnknownField {
                expression,
                variable,
                field,
            },
            Problem::UpperCaseHeader(name) => AuthzError::UpperCaseHeader { expression, name },
            Problem::Unsupported(construct) => AuthzError::Unsupported {
                expression,
                construct,
            },
            Problem::TooDeep => AuthzError::TooDeep { expression },
        }
    }
}

// === impl RuleSet ===

impl RuleSet {
    pub fn action(&self) -> Action {
        self.action
    }

    /// The expressions as written.
    pub fn expressions(&self) -> impl Iterator<Item = &str> {
        self.expressions.iter().map(|c| c.source.as_str())
    }

    /// Whether an expression reads `jwt`: the proxy needs the claims at hand.
    pub fn references_jwt(&self) -> bool {
        self.needs.jwt.is_used()
    }

    pub fn references_api_key(&self) -> bool {
        self.needs.api_key.is_used()
    }

    pub fn references_mcp(&self) -> bool {
        self.needs.mcp.is_used()
    }

    /// Any expression true; one that fails to evaluate does not count (fail closed).
    fn matches(&self, ctx: &Context<'_, '_>) -> bool {
        self.expressions
            .iter()
            .any(|compiled| evaluate(&compiled.expr, ctx) == Some(true))
    }
}

impl fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuleSet")
            .field("action", &self.action)
            .field("expressions", &self.expressions().collect::<Vec<_>>())
            .finish()
    }
}

// === impl Authorizer ===

impl Authorizer {
    /// The rule sets of every attachment level, outermost first (the order only numbers the
    /// rule sets in denial reasons).
    pub fn new(rules: Vec<RuleSet>) -> Authorizer {
        let mut needs = Needs::default();
        let mut patterns = HashMap::new();
        for rule in &rules {
            needs.merge(&rule.needs);
            for (pattern, regex) in rule.patterns.iter() {
                patterns.insert(pattern.clone(), regex.clone());
            }
        }
        Authorizer {
            rules,
            needs,
            root: root_context(patterns),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn rules(&self) -> &[RuleSet] {
        &self.rules
    }

    /// Whether any rule reads `jwt`: the claims must be passed in [`RequestAttributes`].
    pub fn references_jwt(&self) -> bool {
        self.needs.jwt.is_used()
    }

    pub fn references_api_key(&self) -> bool {
        self.needs.api_key.is_used()
    }

    /// Whether any rule reads `mcp`, i.e. this is an MCP authorization.
    pub fn references_mcp(&self) -> bool {
        self.needs.mcp.is_used()
    }

    /// Decides a request (see the module doc for the semantics).
    pub fn check(&self, attrs: &RequestAttributes<'_>) -> Decision {
        if self.rules.is_empty() {
            return Decision::Allowed;
        }
        let mut ctx = self.root.new_inner_scope();
        activation::bind(&mut ctx, &self.needs, attrs);
        let numbered = || self.rules.iter().enumerate().map(|(i, rule)| (i + 1, rule));

        // Deny first: one match decides, whatever the other rule sets say.
        for (n, rule) in numbered().filter(|(_, rule)| rule.action == Action::Deny) {
            for (m, compiled) in (1..).zip(rule.expressions.iter()) {
                let reason = match evaluate(&compiled.expr, &ctx) {
                    Some(false) => continue,
                    Some(true) => {
                        format!("denied by authorization rule {n} (deny), expression {m}")
                    }
                    None => format!(
                        "denied: authorization rule {n} (deny), expression {m}, could not be evaluated"
                    ),
                };
                return Decision::Denied { reason };
            }
        }
        for (n, rule) in numbered().filter(|(_, rule)| rule.action == Action::Require) {
            if !rule.matches(&ctx) {
                let reason = format!("denied: required authorization rule {n} did not match");
                return Decision::Denied { reason };
            }
        }
        let mut allows = numbered()
            .filter(|(_, rule)| rule.action == Action::Allow)
            .peekable();
        if allows.peek().is_some() && !allows.any(|(_, rule)| rule.matches(&ctx)) {
            let reason = "denied: no allow authorization rule matched".to_owned();
            return Decision::Denied { reason };
        }
        Decision::Allowed
    }
}

impl fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorizer")
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

impl FromIterator<RuleSet> for Authorizer {
    fn from_iter<I: IntoIterator<Item = RuleSet>>(iter: I) -> Authorizer {
        Authorizer::new(iter.into_iter().collect())
    }
}

/// `Some(result)` for a bool result, `None` when evaluation fails or yields anything else.
fn evaluate(expr: &Expression, ctx: &Context<'_, '_>) -> Option<bool> {
    // Request data reaches third-party interpreter code; should some path panic instead of
    // erroring, that must fail this request closed, not take down the worker serving everyone.
    match catch_unwind(AssertUnwindSafe(|| Value::resolve(expr, ctx))) {
        Ok(Ok(Value::Bool(result))) => Some(result),
        Ok(Ok(_) | Err(_)) | Err(_) => None,
    }
}

fn root_context(patterns: HashMap<String, Regex>) -> Context<'static, 'static> {
    let mut root = Context::default();
    let matches =
        move |ftx: &FunctionContext, This(text): This<Arc<String>>, pattern: Arc<String>| {
            if let Some(regex) = patterns.get(pattern.as_str()) {
                return Ok(regex.is_match(&text));
            }
            // A pattern computed from request data: compiled per call, size-bounded so a
            // client cannot make the gateway build a huge automaton.
            RegexBuilder::new(&pattern)
                .size_limit(DYNAMIC_REGEX_SIZE_LIMIT)
                .build()
                .map(|regex| regex.is_match(&text))
                .map_err(|e| ftx.error(e))
        };
    // Only fails for a name the standard library declares, and it declares `matches` only with
    // cel's `regex` feature, which is off. Were it to fail, `matches` would be undeclared and
    // every expression calling it would fail closed; the tests cover it working.
    let _ = root.add_function("matches", matches);
    root
}
