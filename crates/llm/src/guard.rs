//! Prompt guard (`backend.ai.promptGuard` of AgentgatewayPolicy), as pure functions over
//! text and JSON: operator rules of custom regexes and built-in detectors (credit cards,
//! emails, US social security numbers, phone numbers) that either refuse a request or a
//! response, or mask what they match. Request bodies and complete response bodies are
//! rewritten in place; streamed responses go through a [`StreamMasker`] that holds back a
//! short tail so a match split across deltas is still masked, with thin adapters for
//! OpenAI chat chunks ([`GuardedChatStream`]) and Anthropic Messages events
//! ([`GuardedMessagesStream`]). No I/O here: the proxy drives these.
//!
//! Defaults: a rule without an action rejects on the request side and masks on the
//! response side ([`GuardAction::REQUEST_DEFAULT`], [`GuardAction::RESPONSE_DEFAULT`]); a
//! rejection answers [`DEFAULT_BLOCK_STATUS`] (403) with a message naming the rule and the
//! detector, never the matched text; masks are `<CREDIT_CARD>`, `<EMAIL>`, `<SSN>`,
//! `<PHONE_NUMBER>` and `<MASKED>` for custom patterns.

use std::cmp::Reverse;
use std::fmt;
use std::sync::Arc;

use regex::{Regex, RegexSet};
use serde_json::Value;

use crate::error::{anthropic_error, openai_error};
use crate::route::ClientApi;

/// The status of a rejection when the rule sets none: the gateway understood the request
/// and refuses it on policy grounds.
pub const DEFAULT_BLOCK_STATUS: u16 = 403;

/// What replaces a custom pattern's match.
const CUSTOM_MASK: &str = "<MASKED>";

/// The longest tail a stream holds back on the heuristic alone (the last word, or a trailing
/// number that may still grow into a card or phone number). An email is at most 254 bytes.
const HOLD_BYTES: usize = 256;

/// How far back a stream may hold text for a match that is already visible but may still
/// grow (it reaches the end of what arrived) or crosses the heuristic cut.
const MATCH_HOLD_BYTES: usize = 1024;

/// Released text kept per stream channel so a match that began in text already sent is
/// still recognised; its unsent part is then masked (or the stream rejected).
const CONTEXT_BYTES: usize = 256;

/// What a rule does when one of its detectors matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardAction {
    /// Refuse the request, or replace the response by an error.
    Reject,
    /// Replace each match by a mask and carry on.
    Mask,
}

impl GuardAction {
    /// Request rules default to refusing: sensitive input should not reach a provider, and
    /// the client can fix its prompt.
    pub const REQUEST_DEFAULT: Self = Self::Reject;
    /// Response rules default to masking: the client has already paid for the completion,
    /// and masking keeps the rest of it useful.
    pub const RESPONSE_DEFAULT: Self = Self::Mask;
}

/// Detectors the gateway ships, named as in the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Builtin {
    /// 13 to 19 digits, bare or in groups split by spaces or dashes, passing the Luhn check.
    CreditCard,
    /// ASCII addresses with a dotted domain and a letter TLD (`jane.doe+tag@mail.example.org`).
    Email,
    /// US social security numbers `ddd-dd-dddd`, without never-issued areas, groups, serials.
    Ssn,
    /// North American numbers with separators (`(415) 555-2671`, `415-555-2671`,
    /// `+1 415 555 2671`) and international numbers starting with `+` (8 to 15 digits).
    PhoneNumber,
}

impl Builtin {
    /// What replaces a match.
    pub const fn mask(self) -> &'static str {
        match self {
            Self::CreditCard => "<CREDIT_CARD>",
            Self::Email => "<EMAIL>",
            Self::Ssn => "<SSN>",
            Self::PhoneNumber => "<PHONE_NUMBER>",
        }
    }

    /// The policy's name for it.
    pub const fn name(self) -> &'static str {
        match self {
            Self::CreditCard => "CreditCard",
            Self::Email => "Email",
            Self::Ssn => "Ssn",
            Self::PhoneNumber => "PhoneNumber",
        }
    }

    /// Candidates, validated in code afterwards (the regex crate has no look-around, and the
    /// Luhn check and number boundaries are easier to state in Rust). Quantifiers are
    /// bounded so retrying after a rejected candidate stays linear in the text.
    fn scan_pattern(self) -> &'static str {
        match self {
            // Maximal runs of digit groups; card numbers are picked out of a run by group.
            Self::CreditCard => r"[0-9]+(?:[ \-][0-9]+)*",
            Self::Email => {
                r"[A-Za-z0-9._%+\-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,63}"
            }
            Self::Ssn => r"[0-9]{3}-[0-9]{2}-[0-9]{4}",
            Self::PhoneNumber => concat!(
                r"\+[1-9][0-9 ().\-]{6,24}[0-9]",
                "|",
                r"(?:1[ .\-]?)?(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}[ .\-])[2-9][0-9]{2}[ .\-][0-9]{4}",
            ),
        }
    }

    /// What the one-pass prefilter looks for: a necessary condition for a match. For cards
    /// the scan pattern matches any number, so the prefilter asks for 13 digits at least.
    fn prefilter_pattern(self) -> &'static str {
        match self {
            Self::CreditCard => r"[0-9](?:[ \-]?[0-9]){12,18}",
            other => other.scan_pattern(),
        }
    }
}

impl fmt::Display for Builtin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A rule the gateway cannot use, reported when the configuration is loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    #[error("prompt guard pattern `{pattern}` is not a valid regex: {error}")]
    InvalidRegex { pattern: String, error: String },
    #[error("a prompt guard rule needs at least one `matches` pattern or builtin")]
    NoDetectors,
    #[error("prompt guard status {0} is not an error status; use 400-599")]
    InvalidStatus(u16),
    #[error("the {direction} prompt guard rules are too large to compile together: {error}")]
    TooLarge {
        direction: &'static str,
        error: String,
    },
}

/// Why a request or response was refused: what the client is told. The message names the
/// rule and detector (or is the operator's message), never the matched text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Blocked {
    pub message: String,
    /// The rule's status, [`DEFAULT_BLOCK_STATUS`] when it sets none.
    pub status: u16,
    /// Index of the rule in its list (`promptGuard.request` or `promptGuard.response`).
    pub rule: usize,
}

impl Blocked {
    /// The error body clients of `client_api` parse; for Anthropic streams it is also the
    /// data of the closing `error` event.
    pub fn error_body(&self, client_api: ClientApi) -> Value {
        match client_api {
            ClientApi::Messages => {
                let kind = match self.status {
                    400 => "invalid_request_error",
                    401 => "authentication_error",
                    403 => "permission_error",
                    404 => "not_found_error",
                    413 => "request_too_large",
                    429 => "rate_limit_error",
                    500..=599 => "api_error",
                    _ => "invalid_request_error",
                };
                anthropic_error(kind, &self.message)
            }
            _ => openai_error(
                &self.message,
                "invalid_request_error",
                None,
                Some("prompt_guard"),
            ),
        }
    }
}

mod detectors;
mod stream;

use detectors::{Detector, DetectorKind, Hit};
pub use stream::{GuardedChatStream, GuardedMessagesStream, StreamMasker};

/// One operator rule: detectors, an action, and what a rejection answers.
#[derive(Debug, Clone)]
pub struct Rule {
    action: GuardAction,
    detectors: Vec<Detector>,
    message: Option<String>,
    status: Option<u16>,
}

impl Rule {
    /// Compiles a rule. Custom patterns use the regex crate's syntax (`(?i)` for case
    /// insensitivity); an empty `message` counts as unset.
    pub fn new(
        action: GuardAction,
        custom_regexes: &[String],
        builtins: &[Builtin],
        message: Option<String>,
        status: Option<u16>,
    ) -> Result<Rule, GuardError> {
        if let Some(status) = status
            && !(400..=599).contains(&status)
        {
            return Err(GuardError::InvalidStatus(status));
        }
        let mut detectors = Vec::with_capacity(custom_regexes.len() + builtins.len());
        for (index, pattern) in custom_regexes.iter().enumerate() {
            let scan = Regex::new(pattern).map_err(|e| GuardError::InvalidRegex {
                pattern: pattern.clone(),
                error: e.to_string(),
            })?;
            detectors.push(Detector {
                kind: DetectorKind::Custom(index),
                scan,
                prefilter: pattern.clone(),
            });
        }
        for &builtin in builtins {
            let kind = DetectorKind::Builtin(builtin);
            if detectors.iter().any(|d| d.kind == kind) {
                continue;
            }
            let scan =
                Regex::new(builtin.scan_pattern()).map_err(|e| GuardError::InvalidRegex {
                    pattern: format!("builtin {builtin}"),
                    error: e.to_string(),
                })?;
            detectors.push(Detector {
                kind,
                scan,
                prefilter: builtin.prefilter_pattern().to_owned(),
            });
        }
        if detectors.is_empty() {
            return Err(GuardError::NoDetectors);
        }
        Ok(Rule {
            action,
            detectors,
            message: message.filter(|m| !m.is_empty()),
            status,
        })
    }

    pub fn action(&self) -> GuardAction {
        self.action
    }

    /// Every detector's matches, by start (longest first on ties); empty without allocating
    /// when nothing matches.
    fn find(&self, text: &str) -> Vec<Hit> {
        let mut hits = Vec::new();
        for (index, detector) in self.detectors.iter().enumerate() {
            detector.find(text, index, &mut hits);
        }
        hits.sort_unstable_by_key(|hit| (hit.range.start, Reverse(hit.range.end)));
        hits
    }

    /// `text` with each hit replaced by its detector's mask; overlapping hits share one.
    fn mask(&self, text: &str, hits: &[Hit]) -> String {
        let mut out = String::with_capacity(text.len());
        let mut position = 0;
        for hit in hits {
            if hit.range.start < position {
                position = position.max(hit.range.end);
                continue;
            }
            out.push_str(&text[position..hit.range.start]);
            out.push_str(
                self.detectors
                    .get(hit.detector)
                    .map_or(CUSTOM_MASK, |d| d.kind.mask()),
            );
            position = hit.range.end;
        }
        out.push_str(&text[position..]);
        out
    }

    fn detector_name(&self, detector: usize) -> String {
        self.detectors
            .get(detector)
            .map_or_else(|| "a detector".to_owned(), |d| d.kind.to_string())
    }
}

#[derive(Debug, Clone, Copy)]
enum Direction {
    Request,
    Response,
}

impl Direction {
    fn field(self) -> &'static str {
        match self {
            Self::Request => "request",
            Self::Response => "response",
        }
    }
}

/// The rules of one direction, with every detector compiled into one `RegexSet` so text
/// that matches nothing is dismissed in a single pass.
#[derive(Debug)]
struct RuleSet {
    direction: Direction,
    rules: Vec<Rule>,
    prefilter: RegexSet,
    /// Rule `i` owns set patterns `first_pattern[i]..first_pattern[i + 1]`.
    first_pattern: Vec<usize>,
}

impl RuleSet {
    fn new(direction: Direction, rules: Vec<Rule>) -> Result<Self, GuardError> {
        let mut patterns = Vec::new();
        let mut first_pattern = Vec::with_capacity(rules.len() + 1);
        for rule in &rules {
            first_pattern.push(patterns.len());
            patterns.extend(rule.detectors.iter().map(|d| d.prefilter.as_str()));
        }
        first_pattern.push(patterns.len());
        let prefilter = RegexSet::new(patterns).map_err(|e| GuardError::TooLarge {
            direction: direction.field(),
            error: e.to_string(),
        })?;
        Ok(Self {
            direction,
            rules,
            prefilter,
            first_pattern,
        })
    }

    fn blocked(&self, index: usize, rule: &Rule, detector: usize) -> Blocked {
        let message = rule.message.clone().unwrap_or_else(|| {
            format!(
                "the {0} was blocked by the gateway's prompt guard (promptGuard.{0}[{index}]: {1})",
                self.direction.field(),
                rule.detector_name(detector),
            )
        });
        Blocked {
            message,
            status: rule.status.unwrap_or(DEFAULT_BLOCK_STATUS),
            rule: index,
        }
    }

    /// Applies the rules in order, each to the text as the previous ones left it: the first
    /// matching Reject rule refuses, Mask rules rewrite. `None` when nothing changed.
    fn apply(&self, text: &str) -> Result<Option<String>, Blocked> {
        if self.rules.is_empty() || !self.prefilter.is_match(text) {
            return Ok(None);
        }
        let candidates = self.prefilter.matches(text);
        let mut current: Option<String> = None;
        for ((index, rule), bounds) in self
            .rules
            .iter()
            .enumerate()
            .zip(self.first_pattern.windows(2))
        {
            // The set ran on the original text; once a mask changed it, ask the rule itself.
            if current.is_none()
                && let &[from, to] = bounds
                && !(from..to).any(|pattern| candidates.matched(pattern))
            {
                continue;
            }
            let view = current.as_deref().unwrap_or(text);
            let hits = rule.find(view);
            let Some(first) = hits.first() else {
                continue;
            };
            match rule.action {
                GuardAction::Reject => return Err(self.blocked(index, rule, first.detector)),
                GuardAction::Mask => {
                    let masked = rule.mask(view, &hits);
                    current = Some(masked);
                }
            }
        }
        Ok(current.filter(|masked| masked != text))
    }

    /// Applies the rules to `segment`, the stream text released now, seeing the text already
    /// released before it (`context`) and the text still held after it (`ahead`) so that
    /// boundaries and matches crossing either edge are judged on real text. Only the part of
    /// a match inside `segment` is masked: text before it has been sent, text after it is
    /// handled when released.
    fn apply_window(&self, context: &str, segment: &str, ahead: &str) -> Result<String, Blocked> {
        let mut current = segment.to_owned();
        for (index, rule) in self.rules.iter().enumerate() {
            let combined = [context, current.as_str(), ahead].concat();
            let low = context.len();
            let high = low + current.len();
            let hits: Vec<Hit> = rule
                .find(&combined)
                .into_iter()
                .filter(|hit| hit.range.end > low && hit.range.start < high)
                .map(|hit| Hit {
                    range: hit.range.start.max(low) - low..hit.range.end.min(high) - low,
                    detector: hit.detector,
                })
                .collect();
            let Some(first) = hits.first() else {
                continue;
            };
            match rule.action {
                GuardAction::Reject => return Err(self.blocked(index, rule, first.detector)),
                GuardAction::Mask => current = rule.mask(&current, &hits),
            }
        }
        Ok(current)
    }
}

/// The operator's prompt guard for one route: request rules and response rules.
#[derive(Debug, Clone)]
pub struct PromptGuard {
    request: Arc<RuleSet>,
    response: Arc<RuleSet>,
}

impl PromptGuard {
    pub fn new(request: Vec<Rule>, response: Vec<Rule>) -> Result<Self, GuardError> {
        Ok(Self {
            request: Arc::new(RuleSet::new(Direction::Request, request)?),
            response: Arc::new(RuleSet::new(Direction::Response, response)?),
        })
    }

    pub fn is_empty(&self) -> bool {
        !self.has_request_rules() && !self.has_response_rules()
    }

    pub fn has_request_rules(&self) -> bool {
        !self.request.rules.is_empty()
    }

    pub fn has_response_rules(&self) -> bool {
        !self.response.rules.is_empty()
    }

    /// Applies the request rules to every text a model would read in a request of
    /// `client_api`: OpenAI chat `messages[].content` (a string, or `text` parts), Anthropic
    /// `system` and `messages[].content` (strings, `text` blocks, and the text of
    /// `tool_result` blocks), and embeddings `input` strings. Other APIs pass unchecked.
    /// Returns whether a mask changed the body; a Reject rule that matches refuses it.
    pub fn check_request(&self, client_api: ClientApi, body: &mut Value) -> Result<bool, Blocked> {
        if !self.has_request_rules() {
            return Ok(false);
        }
        let mut changed = false;
        {
            let mut guard = |text: &mut String| -> Result<(), Blocked> {
                if let Some(masked) = self.request.apply(text)? {
                    *text = masked;
                    changed = true;
                }
                Ok(())
            };
            match client_api {
                ClientApi::ChatCompletions => {
                    for message in array_mut(body, "messages") {
                        if let Some(content) = message.get_mut("content") {
                            visit_text_content(content, &mut guard)?;
                        }
                    }
                }
                ClientApi::Messages => {
                    if let Some(system) = body.get_mut("system") {
                        visit_text_content(system, &mut guard)?;
                    }
                    for message in array_mut(body, "messages") {
                        if let Some(content) = message.get_mut("content") {
                            visit_anthropic_content(content, &mut guard)?;
                        }
                    }
                }
                ClientApi::Embeddings => match body.get_mut("input") {
                    Some(Value::String(text)) => guard(text)?,
                    Some(Value::Array(items)) => {
                        for item in items {
                            if let Value::String(text) = item {
                                guard(text)?;
                            }
                        }
                    }
                    _ => {}
                },
                ClientApi::Models | ClientApi::Passthrough => {}
            }
        }
        Ok(changed)
    }

    /// The request rules over one text: the masked text if a mask changed it.
    pub fn check_request_text(&self, text: &str) -> Result<Option<String>, Blocked> {
        self.request.apply(text)
    }

    /// The response rules over one complete text: the masked text if a mask changed it.
    pub fn check_response_text(&self, text: &str) -> Result<Option<String>, Blocked> {
        self.response.apply(text)
    }

    /// Applies the response rules to a complete (not streamed) response of `client_api`:
    /// OpenAI `choices[].message.content`, Anthropic `content[]` text blocks. Returns whether
    /// a mask changed the body; a Reject rule that matches refuses the whole response.
    pub fn guard_response(&self, client_api: ClientApi, body: &mut Value) -> Result<bool, Blocked> {
        if !self.has_response_rules() {
            return Ok(false);
        }
        let mut changed = false;
        {
            let mut guard = |text: &mut String| -> Result<(), Blocked> {
                if let Some(masked) = self.response.apply(text)? {
                    *text = masked;
                    changed = true;
                }
                Ok(())
            };
            match client_api {
                ClientApi::ChatCompletions => {
                    for choice in array_mut(body, "choices") {
                        if let Some(content) = choice
                            .get_mut("message")
                            .and_then(|message| message.get_mut("content"))
                        {
                            visit_text_content(content, &mut guard)?;
                        }
                    }
                }
                ClientApi::Messages => {
                    if let Some(content) = body.get_mut("content") {
                        visit_text_content(content, &mut guard)?;
                    }
                }
                ClientApi::Embeddings | ClientApi::Models | ClientApi::Passthrough => {}
            }
        }
        Ok(changed)
    }

    /// A masker for one streamed response; `None` without response rules. Custom patterns
    /// anchored with `^` or `$` see the masker's window, not the whole response.
    pub fn stream_masker(&self) -> Option<StreamMasker> {
        self.has_response_rules()
            .then(|| StreamMasker::new(Arc::clone(&self.response)))
    }

    /// A guard for one OpenAI chat completion stream; `None` without response rules.
    pub fn chat_stream(&self) -> Option<GuardedChatStream> {
        self.stream_masker().map(GuardedChatStream::new)
    }

    /// A guard for one Anthropic Messages stream; `None` without response rules.
    pub fn messages_stream(&self) -> Option<GuardedMessagesStream> {
        self.stream_masker().map(GuardedMessagesStream::new)
    }
}

type TextVisitor<'a> = dyn FnMut(&mut String) -> Result<(), Blocked> + 'a;

/// The elements of `body[field]` when it is an array, nothing otherwise.
fn array_mut<'a>(body: &'a mut Value, field: &str) -> impl Iterator<Item = &'a mut Value> {
    body.get_mut(field)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
}

/// A content field that is a string or a list of parts, where `{"type": "text", "text"}`
/// parts carry text (OpenAI chat parts, Anthropic text blocks).
fn visit_text_content(content: &mut Value, visit: &mut TextVisitor<'_>) -> Result<(), Blocked> {
    match content {
        Value::String(text) => visit(text),
        Value::Array(parts) => {
            for part in parts {
                if part.get("type").and_then(Value::as_str) == Some("text")
                    && let Some(Value::String(text)) = part.get_mut("text")
                {
                    visit(text)?;
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Anthropic message content: text blocks, and tool results whose content is text too.
fn visit_anthropic_content(
    content: &mut Value,
    visit: &mut TextVisitor<'_>,
) -> Result<(), Blocked> {
    let Value::Array(blocks) = content else {
        return visit_text_content(content, visit);
    };
    for block in blocks {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => {
                if let Some(Value::String(text)) = block.get_mut("text") {
                    visit(text)?;
                }
            }
            Some("tool_result") => {
                if let Some(inner) = block.get_mut("content") {
                    visit_text_content(inner, visit)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
