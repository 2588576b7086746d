//! The detectors behind prompt-guard rules: custom regexes and the built-in ones, whose
//! candidates are validated in code (Luhn for cards, issuing rules for SSNs, shapes for
//! phone numbers) because the regex engine has no look-around.

use std::fmt;
use std::ops::Range;

use regex::Regex;

use super::{Builtin, CUSTOM_MASK};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DetectorKind {
    /// Position in the rule's `matches` list.
    Custom(usize),
    Builtin(Builtin),
}

impl DetectorKind {
    pub(super) fn mask(self) -> &'static str {
        match self {
            Self::Custom(_) => CUSTOM_MASK,
            Self::Builtin(builtin) => builtin.mask(),
        }
    }
}

/// How a detector is named in rejection messages. Custom patterns are named by position so
/// the guard's configuration is not disclosed to clients.
impl fmt::Display for DetectorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Custom(index) => write!(f, "matches[{index}]"),
            Self::Builtin(builtin) => write!(f, "builtin {builtin}"),
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct Detector {
    pub(super) kind: DetectorKind,
    pub(super) scan: Regex,
    /// Source of this detector's entry in its rule set's `RegexSet`.
    pub(super) prefilter: String,
}

/// One validated match: a byte range of the scanned text and the detector (index in the
/// rule) that found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Hit {
    pub(super) range: Range<usize>,
    pub(super) detector: usize,
}

impl Detector {
    pub(super) fn find(&self, text: &str, detector: usize, hits: &mut Vec<Hit>) {
        match self.kind {
            DetectorKind::Custom(_) => {
                // An empty match masks nothing and is not a finding.
                hits.extend(
                    self.scan
                        .find_iter(text)
                        .filter(|m| !m.is_empty())
                        .map(|m| Hit {
                            range: m.range(),
                            detector,
                        }),
                );
            }
            DetectorKind::Builtin(Builtin::CreditCard) => {
                for run in self.scan.find_iter(text) {
                    card_numbers(text, run.range(), |range| {
                        hits.push(Hit { range, detector })
                    });
                }
            }
            DetectorKind::Builtin(builtin) => {
                let mut at = 0;
                while let Some(m) = self.scan.find_at(text, at) {
                    match validate(builtin, text, m.range()) {
                        Some(range) => {
                            at = range.end;
                            hits.push(Hit { range, detector });
                        }
                        // A rejected candidate may hide a valid one starting inside it.
                        None => at = m.start() + char_len_at(text, m.start()),
                    }
                }
            }
        }
    }
}

pub(super) fn char_len_at(text: &str, at: usize) -> usize {
    text[at..].chars().next().map_or(1, char::len_utf8)
}

/// Whether a number or address starting at `start` stands alone on its left: not glued to
/// a word, and not the tail of a longer number (`12-`, `0.`, `3/`).
pub(super) fn standalone_left(text: &str, start: usize) -> bool {
    let mut before = text[..start].chars().rev();
    match before.next() {
        None => true,
        Some(c) if c.is_alphanumeric() || c == '_' => false,
        Some('-' | '.' | ',' | '/' | '+') => !before.next().is_some_and(|c| c.is_ascii_digit()),
        Some(_) => true,
    }
}

/// The mirror of [`standalone_left`] at `end`.
pub(super) fn standalone_right(text: &str, end: usize) -> bool {
    let mut after = text[end..].chars();
    match after.next() {
        None => true,
        Some(c) if c.is_alphanumeric() || c == '_' => false,
        Some('-' | '.' | ',' | '/') => !after.next().is_some_and(|c| c.is_ascii_digit()),
        Some(_) => true,
    }
}

/// Checks a candidate of a builtin other than cards; the match to keep, possibly shorter.
pub(super) fn validate(
    builtin: Builtin,
    text: &str,
    candidate: Range<usize>,
) -> Option<Range<usize>> {
    match builtin {
        Builtin::Email => valid_email(text, candidate),
        Builtin::Ssn => valid_ssn(text, candidate),
        Builtin::PhoneNumber => valid_phone(text, candidate),
        Builtin::CreditCard => None,
    }
}

fn valid_email(text: &str, candidate: Range<usize>) -> Option<Range<usize>> {
    // A local part cannot start with a dot: `.bob@x.org` at the end of a sentence is `bob@x.org`.
    let start = candidate.start + text[candidate.clone()].find(|c| c != '.')?;
    if text[start..candidate.end].starts_with('@') {
        return None;
    }
    match text[candidate.end..].chars().next() {
        Some(c) if c.is_alphanumeric() || matches!(c, '_' | '-' | '@') => None,
        _ => Some(start..candidate.end),
    }
}

/// Numbers never issued: area 000, 666 and 900-999, group 00, serial 0000.
fn valid_ssn(text: &str, candidate: Range<usize>) -> Option<Range<usize>> {
    let &[a0, a1, a2, _, g0, g1, _, s0, s1, s2, s3] = text.as_bytes().get(candidate.clone())?
    else {
        return None;
    };
    let issued = [a0, a1, a2] != *b"000"
        && [a0, a1, a2] != *b"666"
        && a0 != b'9'
        && [g0, g1] != *b"00"
        && [s0, s1, s2, s3] != *b"0000";
    (issued && standalone_left(text, candidate.start) && standalone_right(text, candidate.end))
        .then_some(candidate)
}

fn valid_phone(text: &str, candidate: Range<usize>) -> Option<Range<usize>> {
    if !standalone_left(text, candidate.start) {
        return None;
    }
    let bytes = text.as_bytes();
    if bytes.get(candidate.start) == Some(&b'+') {
        // The greedy candidate may have swallowed a following number: try the longest prefix
        // ending on a whole digit group that is a plausible E.164 number.
        for end in (candidate.start + 2..=candidate.end).rev() {
            let ends_group = bytes.get(end - 1).is_some_and(u8::is_ascii_digit)
                && !bytes.get(end).is_some_and(u8::is_ascii_digit);
            if !ends_group {
                continue;
            }
            let number = &text[candidate.start..end];
            let digits = number.bytes().filter(u8::is_ascii_digit).count();
            if (8..=15).contains(&digits)
                && international_shape(number)
                && standalone_right(text, end)
            {
                return Some(candidate.start..end);
            }
        }
        return None;
    }
    let number = &text[candidate.clone()];
    // Without parentheses the separators must agree: `415-555-2671`, not `415-555.2671`.
    if !number.contains('(') {
        let mut separators = number.chars().filter(|c| !c.is_ascii_digit());
        if let Some(first) = separators.next()
            && separators.any(|c| c != first)
        {
            return None;
        }
    }
    standalone_right(text, candidate.end).then_some(candidate)
}

/// `+` then digits with single separators and at most one parenthesised group of 1-4 digits.
fn international_shape(number: &str) -> bool {
    let mut after_separator = false;
    let mut in_parens = false;
    let mut parens_seen = false;
    let mut paren_digits = 0;
    for c in number.chars().skip(1) {
        match c {
            '0'..='9' => {
                after_separator = false;
                if in_parens {
                    paren_digits += 1;
                }
            }
            ' ' | '.' | '-' => {
                if after_separator || in_parens {
                    return false;
                }
                after_separator = true;
            }
            '(' => {
                if parens_seen {
                    return false;
                }
                parens_seen = true;
                in_parens = true;
                after_separator = false;
            }
            ')' => {
                if !in_parens || !(1..=4).contains(&paren_digits) {
                    return false;
                }
                in_parens = false;
            }
            _ => return false,
        }
    }
    !in_parens
}

/// Finds card numbers in a run of digit groups joined by single spaces or dashes. A card is
/// one group of 13-19 digits, or 2+ groups of 3-6 digits with one kind of separator (4-4-4-4,
/// 4-6-5, 4-4-4-4-3...), 13-19 digits in all, not starting with 0, passing the Luhn check.
/// Inside a run it must be set off by spaces (a dash joins it to its neighbour); at the run's
/// edges it must stand alone. Longest candidates are tried first.
pub(super) fn card_numbers(text: &str, run: Range<usize>, mut emit: impl FnMut(Range<usize>)) {
    let bytes = text.as_bytes();
    let Some(run_bytes) = bytes.get(run.clone()) else {
        return;
    };
    // Most numbers in prose are short: decide without allocating.
    if run_bytes.iter().filter(|b| b.is_ascii_digit()).count() < 13 {
        return;
    }
    let mut groups: Vec<Range<usize>> = Vec::new();
    let mut group_start = run.start;
    for (offset, byte) in run_bytes.iter().enumerate() {
        if !byte.is_ascii_digit() {
            groups.push(group_start..run.start + offset);
            group_start = run.start + offset + 1;
        }
    }
    groups.push(group_start..run.end);
    let separator_after = |group: &Range<usize>| bytes.get(group.end).copied();

    let mut first = 0;
    while first < groups.len() {
        let mut found = None;
        for last in (first..groups.len()).rev() {
            let window = &groups[first..=last];
            let digits: usize = window.iter().map(ExactSizeIterator::len).sum();
            if digits > 19 {
                continue;
            }
            if digits < 13 {
                break;
            }
            let mut separators = window[..window.len() - 1].iter().map(separator_after);
            let one_separator = separators
                .next()
                .is_none_or(|first| separators.all(|s| s == first));
            let shaped = window.len() == 1
                || (one_separator && window.iter().all(|g| (3..=6).contains(&g.len())));
            let left = if first == 0 {
                standalone_left(text, run.start)
            } else {
                separator_after(&groups[first - 1]) == Some(b' ')
            };
            let right = if last + 1 == groups.len() {
                standalone_right(text, run.end)
            } else {
                separator_after(&groups[last]) == Some(b' ')
            };
            let number = groups[first].start..groups[last].end;
            if shaped
                && left
                && right
                && bytes.get(number.start) != Some(&b'0')
                && luhn_valid(&bytes[number.clone()])
            {
                found = Some((last, number));
                break;
            }
        }
        match found {
            Some((last, number)) => {
                emit(number);
                first = last + 1;
            }
            None => first += 1,
        }
    }
}

/// The Luhn checksum over the ASCII digits of `number` (separators are skipped).
pub(super) fn luhn_valid(number: &[u8]) -> bool {
    let mut sum = 0u32;
    let mut double = false;
    for digit in number.iter().rev().filter(|b| b.is_ascii_digit()) {
        let mut value = u32::from(digit - b'0');
        if double {
            value *= 2;
            if value > 9 {
                value -= 9;
            }
        }
        sum += value;
        double = !double;
    }
    sum.is_multiple_of(10)
}
