//! What a parsed expression needs, found once at config time: which attributes it reads (so a
//! request builds only those), which regex literals it uses (so they are compiled once), and
//! whether it uses a construct that cannot work here.

use std::collections::BTreeMap;

use cel::common::ast::{CallExpr, EntryExpr, Expr, IdedExpr, LiteralValue, operators};

/// The variables an expression may name.
pub(super) const VARIABLES: [&str; 5] = ["request", "source", "jwt", "apiKey", "mcp"];

/// The fields of the variables whose shape the gateway defines (claims and API-key metadata are
/// the issuer's, so any field is accepted there). A field outside these is a typo that would
/// fail every request, so it is refused at config time.
const REQUEST_FIELDS: [&str; 4] = ["method", "path", "host", "headers"];
const SOURCE_FIELDS: [&str; 1] = ["address"];
const MCP_FIELDS: [(&str, &[&str]); 3] = [
    ("tool", &["name", "target"]),
    ("prompt", &["name"]),
    ("resource", &["uri"]),
];

/// Deeper trees are refused: evaluation recurses once per level, on a proxy worker's stack.
/// Real rules are a handful of levels deep (`&&` / `||` chains are balanced by the parser).
const MAX_DEPTH: usize = 48;

/// How much of a variable the expressions read.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) enum Access {
    /// Not referenced: not built at all.
    #[default]
    Unused,
    /// Only these fields, each with what is read below it.
    Fields(BTreeMap<String, Access>),
    /// Used as a value (iterated, `in`, `size`, indexed by a computed key): built entirely.
    Whole,
}

/// Per variable, what the expressions of one or more rule sets read.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Needs {
    pub request: Access,
    pub source: Access,
    pub jwt: Access,
    pub api_key: Access,
    pub mcp: Access,
}

/// Why an expression is refused after parsing.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Problem {
    UnknownVariable(String),
    UnknownField { variable: String, field: String },
    UpperCaseHeader(String),
    Unsupported(&'static str),
    TooDeep,
}

/// What one expression needs, and its regex literals.
#[derive(Debug, Default)]
pub(super) struct Analysis {
    pub needs: Needs,
    pub patterns: Vec<String>,
}

/// Walks `expr` and returns what it needs.
pub(super) fn analyze(expr: &IdedExpr) -> Result<Analysis, Problem> {
    let mut walker = Walker {
        analysis: Analysis::default(),
        bound: Vec::new(),
    };
    walker.walk(expr, 0)?;
    check_fields(&walker.analysis.needs)?;
    Ok(walker.analysis)
}

// === impl Access ===

impl Access {
    pub fn is_used(&self) -> bool {
        !matches!(self, Access::Unused)
    }

    /// What is read of field `name`: a whole value is read whole in every field.
    pub fn field(&self, name: &str) -> &Access {
        match self {
            Access::Whole => &Access::Whole,
            Access::Unused => &Access::Unused,
            Access::Fields(fields) => fields.get(name).unwrap_or(&Access::Unused),
        }
    }

    /// The fields read, or `None` when every field is (or none).
    pub fn fields(&self) -> Option<impl Iterator<Item = &str>> {
        match self {
            Access::Fields(fields) => Some(fields.keys().map(String::as_str)),
            Access::Unused | Access::Whole => None,
        }
    }

    /// Marks the value at `path` (below this one) as read whole.
    fn record(&mut self, path: &[&str]) {
        let Some((first, rest)) = path.split_first() else {
            *self = Access::Whole;
            return;
        };
        match self {
            Access::Whole => {}
            Access::Unused => {
                let mut below = Access::Unused;
                below.record(rest);
                *self = Access::Fields(BTreeMap::from([((*first).to_owned(), below)]));
            }
            Access::Fields(fields) => fields.entry((*first).to_owned()).or_default().record(rest),
        }
    }

    pub fn merge(&mut self, other: &Access) {
        match (&mut *self, other) {
            (Access::Whole, _) | (_, Access::Unused) => {}
            (_, Access::Whole) => *self = Access::Whole,
            (Access::Unused, Access::Fields(_)) => *self = other.clone(),
            (Access::Fields(mine), Access::Fields(theirs)) => {
                for (name, access) in theirs {
                    mine.entry(name.clone()).or_default().merge(access);
                }
            }
        }
    }
}

// === impl Needs ===

impl Needs {
    fn variable(&mut self, name: &str) -> Option<&mut Access> {
        match name {
            "request" => Some(&mut self.request),
            "source" => Some(&mut self.source),
            "jwt" => Some(&mut self.jwt),
            "apiKey" => Some(&mut self.api_key),
            "mcp" => Some(&mut self.mcp),
            _ => None,
        }
    }

    pub fn merge(&mut self, other: &Needs) {
        self.request.merge(&other.request);
        self.source.merge(&other.source);
        self.jwt.merge(&other.jwt);
        self.api_key.merge(&other.api_key);
        self.mcp.merge(&other.mcp);
    }
}

// === impl Walker ===

struct Walker {
    analysis: Analysis,
    /// Names bound by enclosing comprehensions (`r` in `jwt.roles.exists(r, ...)`), which
    /// shadow the variables.
    bound: Vec<String>,
}

impl Walker {
    fn walk(&mut self, expr: &IdedExpr, depth: usize) -> Result<(), Problem> {
        if depth > MAX_DEPTH {
            return Err(Problem::TooDeep);
        }
        if let Some((root, path)) = self.attribute_path(expr) {
            if let Some(access) = self.analysis.needs.variable(root) {
                access.record(&path);
            }
            return Ok(());
        }
        let depth = depth + 1;
        match &expr.expr {
            Expr::Literal(_) => Ok(()),
            Expr::Ident(name) => self.ident(name),
            Expr::Select(select) => self.walk(&select.operand, depth),
            Expr::Call(call) => {
                if let Some(pattern) = regex_literal(call) {
                    self.analysis.patterns.push(pattern.to_owned());
                }
                if let Some(target) = &call.target {
                    self.walk(target, depth)?;
                }
                call.args.iter().try_for_each(|arg| self.walk(arg, depth))
            }
            Expr::List(list) => list
                .elements
                .iter()
                .try_for_each(|element| self.walk(element, depth)),
            Expr::Map(map) => map.entries.iter().try_for_each(|entry| match &entry.expr {
                EntryExpr::MapEntry(entry) => {
                    self.walk(&entry.key, depth)?;
                    self.walk(&entry.value, depth)
                }
                // The interpreter panics on a field entry in a map; the parser only makes them
                // in message literals anyway.
                EntryExpr::StructField(_) => Err(Problem::Unsupported("message literals")),
            }),
            Expr::Comprehension(comp) => {
                self.walk(&comp.iter_range, depth)?;
                self.walk(&comp.accu_init, depth)?;
                let scope = self.bound.len();
                self.bound.push(comp.iter_var.clone());
                self.bound.extend(comp.iter_var2.clone());
                self.bound.push(comp.accu_var.clone());
                let inner = [&comp.loop_cond, &comp.loop_step, &comp.result]
                    .into_iter()
                    .try_for_each(|part| self.walk(part, depth));
                self.bound.truncate(scope);
                inner
            }
            // No message types are registered here, so a message literal could only fail.
            Expr::Struct(_) => Err(Problem::Unsupported("message literals")),
            Expr::Unspecified => Err(Problem::Unsupported("an empty expression")),
        }
    }

    fn ident(&mut self, name: &str) -> Result<(), Problem> {
        // `@`-names are the parser's own (macro accumulators), never the user's.
        if name.starts_with('@') || self.bound.iter().any(|bound| bound == name) {
            return Ok(());
        }
        match self.analysis.needs.variable(name) {
            Some(access) => {
                access.record(&[]);
                Ok(())
            }
            None => Err(Problem::UnknownVariable(name.to_owned())),
        }
    }

    /// `jwt.org.id`, `request.headers["x-team"]`, `has(jwt.sub)`, `jwt.?sub`: a chain of field
    /// selections and string-literal indexes on a variable, as (variable, fields). Only these
    /// can be narrowed to the fields they name.
    fn attribute_path<'e>(&self, expr: &'e IdedExpr) -> Option<(&'e str, Vec<&'e str>)> {
        let mut path = Vec::new();
        let mut current = expr;
        loop {
            match &current.expr {
                Expr::Select(select) => {
                    path.push(select.field.as_str());
                    current = &select.operand;
                }
                Expr::Call(call) if call.target.is_none() && is_field_access(&call.func_name) => {
                    let [operand, key] = call.args.as_slice() else {
                        return None;
                    };
                    let Expr::Literal(LiteralValue::String(key)) = &key.expr else {
                        return None;
                    };
                    path.push(key.inner());
                    current = operand;
                }
                Expr::Ident(name) => {
                    let shadowed = self.bound.iter().any(|bound| bound == name);
                    if path.is_empty() || shadowed || !VARIABLES.contains(&name.as_str()) {
                        return None;
                    }
                    path.reverse();
                    return Some((name.as_str(), path));
                }
                _ => return None,
            }
        }
    }
}

/// `a[k]`, `a[?k]` and `a.?k` (the parser's calls for the latter two): with a literal `k`,
/// each reads field `k` of `a`.
fn is_field_access(func: &str) -> bool {
    [
        operators::INDEX,
        operators::OPT_INDEX,
        operators::OPT_SELECT,
    ]
    .contains(&func)
}

/// The pattern of `x.matches("...")` / `matches(x, "...")` when it is a literal.
fn regex_literal(call: &CallExpr) -> Option<&str> {
    if call.func_name != "matches" {
        return None;
    }
    let pattern = match (&call.target, call.args.as_slice()) {
        (Some(_), [pattern]) | (None, [_, pattern]) => pattern,
        _ => return None,
    };
    match &pattern.expr {
        Expr::Literal(LiteralValue::String(pattern)) => Some(pattern.inner()),
        _ => None,
    }
}

fn check_fields(needs: &Needs) -> Result<(), Problem> {
    let unknown = |variable: &str, access: &Access, known: &[&str]| -> Result<(), Problem> {
        match access.fields() {
            Some(mut fields) => match fields.find(|field| !known.contains(field)) {
                Some(field) => Err(Problem::UnknownField {
                    variable: variable.to_owned(),
                    field: field.to_owned(),
                }),
                None => Ok(()),
            },
            None => Ok(()),
        }
    };
    unknown("request", &needs.request, &REQUEST_FIELDS)?;
    unknown("source", &needs.source, &SOURCE_FIELDS)?;
    let kinds: Vec<&str> = MCP_FIELDS.iter().map(|(kind, _)| *kind).collect();
    unknown("mcp", &needs.mcp, &kinds)?;
    for (kind, fields) in MCP_FIELDS {
        unknown(&format!("mcp.{kind}"), needs.mcp.field(kind), fields)?;
    }
    // Header names are stored lower-case (HTTP/2 requires it, HTTP/1 names are normalized),
    // so `request.headers["X-Team"]` could never match anything.
    if let Some(mut names) = needs.request.field("headers").fields()
        && let Some(name) = names.find(|name| name.bytes().any(|b| b.is_ascii_uppercase()))
    {
        return Err(Problem::UpperCaseHeader(name.to_owned()));
    }
    Ok(())
}
