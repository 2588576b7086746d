//! The top-level members of a JSON object, found without parsing their values.
//!
//! Usage accounting needs two members of a response (`model`, `usage`); the rest (the
//! choices, the generated text) only has to be stepped over. Stepping over a value is a
//! scan for the bytes that end it, which costs a fraction of deserializing it, and a scan
//! can stop as soon as the wanted members are found.

use std::borrow::Cow;
use std::ops::ControlFlow;

/// Deserializes `T` (borrowing from `bytes`) from JSON bytes checked as UTF-8 once, whole:
/// read from bytes, serde_json checks every string it borrows on its own, which cost more
/// than one pass over the document. Bytes that are not text are read as bytes, so the
/// error says where.
pub fn from_bytes<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> serde_json::Result<T> {
    match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(bytes),
    }
}

/// Calls `visit(key, value)` for each top-level member of the object `json`, in order,
/// until it returns `Break`. A key is the text between its quotes; a value is its raw
/// JSON text, for the caller to deserialize. Returns None when the text is not an object
/// as far as it was read, or when a key uses escapes (its raw text is then not its name);
/// callers then parse the document in full instead.
pub fn visit_members<'a>(
    json: &'a [u8],
    mut visit: impl FnMut(&'a [u8], &'a [u8]) -> ControlFlow<()>,
) -> Option<()> {
    let mut at = skip_space(json, 0);
    if *json.get(at)? != b'{' {
        return None;
    }
    at = skip_space(json, at + 1);
    if *json.get(at)? == b'}' {
        return Some(());
    }
    loop {
        if *json.get(at)? != b'"' {
            return None;
        }
        let key_end = string_end(json, at)?;
        let key = &json[at + 1..key_end];
        if key.contains(&b'\\') {
            return None;
        }
        at = skip_space(json, key_end + 1);
        if *json.get(at)? != b':' {
            return None;
        }
        let value_start = skip_space(json, at + 1);
        let value_end = value_end(json, value_start)?;
        if visit(key, &json[value_start..value_end]).is_break() {
            return Some(());
        }
        at = skip_space(json, value_end);
        match *json.get(at)? {
            b',' => at = skip_space(json, at + 1),
            b'}' => return Some(()),
            _ => return None,
        }
    }
}

/// Whether `json` is an object with one of `keys` as a member name: how an answer is told
/// from something else that came with a 200 (an intermediary's HTML page, another API's
/// JSON). A search for `"key":`, not a walk of the document: the answer's text can be
/// long, and `"key":` cannot occur inside a JSON string (its quotes would be escaped), so
/// it is always a member name (at whatever depth: the formats checked have theirs at the
/// top).
pub fn has_any_member(json: &[u8], keys: &[&str]) -> bool {
    let starts_as_object = json
        .get(skip_space(json, 0))
        .is_some_and(|&first| first == b'{');
    starts_as_object
        && keys.iter().any(|key| {
            let is_member = |at: usize| {
                at > 0 && json[at - 1] == b'"' && json[at + key.len()..].starts_with(b"\":")
            };
            match ANSWER_KEYS.iter().find(|(known, _)| known == key) {
                Some((_, finder)) => finder.find_iter(json).any(is_member),
                None => memchr::memmem::find_iter(json, key.as_bytes()).any(is_member),
            }
        })
}

/// Searchers for the member names provider answers are recognised by, built once: building
/// one costs more than searching a short answer with it, on every request.
static ANSWER_KEYS: std::sync::LazyLock<[(&str, memchr::memmem::Finder<'static>); 5]> =
    std::sync::LazyLock::new(|| {
        [
            "choices",
            "content",
            "candidates",
            "promptFeedback",
            "output",
        ]
        .map(|key| (key, memchr::memmem::Finder::new(key)))
    });

/// JSON's whitespace between tokens.
fn is_space(b: &u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// The bytes a number, `true`, `false` or `null` is made of.
fn is_literal(b: &u8) -> bool {
    matches!(b, b'0'..=b'9' | b'a'..=b'z' | b'-' | b'+' | b'.' | b'E')
}

fn skip_space(json: &[u8], mut at: usize) -> usize {
    while json.get(at).is_some_and(is_space) {
        at += 1;
    }
    at
}

/// The index of the quote closing the string that opens at `open`. Short strings (keys,
/// ids, roles) are read byte by byte; past the first bytes `memchr2` takes over, which
/// reads long text many bytes at a time but costs more per call.
pub(crate) fn string_end(json: &[u8], open: usize) -> Option<usize> {
    const BYTEWISE: usize = 32;
    let mut at = open + 1;
    loop {
        let window = json.get(at..)?;
        let found = match window[..window.len().min(BYTEWISE)]
            .iter()
            .position(|&b| b == b'"' || b == b'\\')
        {
            Some(offset) => at + offset,
            None if window.len() <= BYTEWISE => return None,
            None => at + BYTEWISE + memchr::memchr2(b'"', b'\\', &window[BYTEWISE..])?,
        };
        if json[found] == b'"' {
            return Some(found);
        }
        // A backslash escapes the next byte (`\"`, `\\`; `\u` needs no special care).
        at = found + 2;
    }
}

/// The index just past the value that starts at `start`.
fn value_end(json: &[u8], start: usize) -> Option<usize> {
    match *json.get(start)? {
        b'"' => Some(string_end(json, start)? + 1),
        b'{' | b'[' => container_end(json, start),
        // A number, `true`, `false` or `null`: the run of bytes those are made of.
        _ => {
            let len = json[start..]
                .iter()
                .position(|b| !is_literal(b))
                .unwrap_or(json.len() - start);
            (len > 0).then_some(start + len)
        }
    }
}

/// Bytes that matter inside a container: quotes, and brackets of both kinds.
const STRUCTURAL: [bool; 256] = {
    let mut table = [false; 256];
    table[b'"' as usize] = true;
    table[b'{' as usize] = true;
    table[b'}' as usize] = true;
    table[b'[' as usize] = true;
    table[b']' as usize] = true;
    table
};

/// The opening and closing bracket of the kind `bracket` is.
fn brackets_of(bracket: u8) -> (u8, u8) {
    match bracket {
        b'{' | b'}' => (b'{', b'}'),
        _ => (b'[', b']'),
    }
}

/// The index just past the object or array that opens at `open`; strings inside are
/// stepped over whole, so brackets in text do not count. Only its own kind of bracket is
/// counted: in JSON the other kind nests inside it properly.
fn container_end(json: &[u8], open: usize) -> Option<usize> {
    let (opening, closing) = brackets_of(json[open]);
    let mut depth = 0usize;
    let mut at = open;
    loop {
        at += json
            .get(at..)?
            .iter()
            .position(|&b| STRUCTURAL[usize::from(b)])?;
        let byte = json[at];
        if byte == b'"' {
            at = string_end(json, at)?;
        } else if byte == opening {
            depth += 1;
        } else if byte == closing {
            depth -= 1;
            if depth == 0 {
                return Some(at + 1);
            }
        }
        at += 1;
    }
}

/// `visit_members` from the last member to the first: for a member that comes at the end
/// (OpenAI's `usage`, after the choices and their text), found without stepping over
/// everything before it. A quote is told to close a string by the backslashes before it
/// (an even number: not escaped), so strings read backwards as surely as forwards.
pub fn visit_members_backward<'a>(
    json: &'a [u8],
    mut visit: impl FnMut(&'a [u8], &'a [u8]) -> ControlFlow<()>,
) -> Option<()> {
    let open = skip_space(json, 0);
    if *json.get(open)? != b'{' {
        return None;
    }
    let close = last_non_space(json, json.len())?;
    if json[close] != b'}' || close == open {
        return None;
    }
    let mut end = last_non_space(json, close)?;
    if end == open {
        return Some(());
    }
    loop {
        let value_start = value_start(json, end)?;
        let colon = last_non_space(json, value_start)?;
        if json[colon] != b':' {
            return None;
        }
        let key_close = last_non_space(json, colon)?;
        if json[key_close] != b'"' {
            return None;
        }
        let key_open = string_start(json, key_close)?;
        let key = &json[key_open + 1..key_close];
        if key.contains(&b'\\') {
            return None;
        }
        if visit(key, &json[value_start..=end]).is_break() {
            return Some(());
        }
        let before = last_non_space(json, key_open)?;
        match json[before] {
            b',' => end = last_non_space(json, before)?,
            b'{' if before == open => return Some(()),
            _ => return None,
        }
    }
}

/// The index of the last byte before `before` that is not JSON whitespace.
fn last_non_space(json: &[u8], before: usize) -> Option<usize> {
    json.get(..before)?.iter().rposition(|b| !is_space(b))
}

/// The index of the quote opening the string whose closing quote is at `close`.
fn string_start(json: &[u8], close: usize) -> Option<usize> {
    let mut at = close;
    loop {
        let quote = memchr::memrchr(b'"', &json[..at])?;
        let backslashes = json[..quote]
            .iter()
            .rev()
            .take_while(|&&b| b == b'\\')
            .count();
        if backslashes % 2 == 0 {
            return Some(quote);
        }
        at = quote;
    }
}

/// The index where the value that ends at `end` (its last byte) starts.
fn value_start(json: &[u8], end: usize) -> Option<usize> {
    match json[end] {
        b'"' => string_start(json, end),
        b'}' | b']' => container_start(json, end),
        _ => {
            let len = json[..=end]
                .iter()
                .rev()
                .position(|b| !is_literal(b))
                .unwrap_or(end + 1);
            (len > 0).then(|| end + 1 - len)
        }
    }
}

/// The index of the bracket opening the object or array that closes at `close`
/// (`container_end` backwards).
fn container_start(json: &[u8], close: usize) -> Option<usize> {
    let (opening, closing) = brackets_of(json[close]);
    let mut depth = 0usize;
    let mut at = close;
    loop {
        let byte = json[at];
        if byte == b'"' {
            at = string_start(json, at)?;
        } else if byte == closing {
            depth += 1;
        } else if byte == opening {
            depth -= 1;
            if depth == 0 {
                return Some(at);
            }
        }
        at = json[..at]
            .iter()
            .rposition(|&b| STRUCTURAL[usize::from(b)])?;
    }
}

/// A small object (or `null`) read member by member into a `T`: `read` takes each member
/// and returns None for a value it cannot take in place, which makes the whole read None
/// (the caller then deserializes the object properly).
pub fn read_object<T: Default>(
    raw: &[u8],
    mut read: impl FnMut(&mut T, &[u8], &[u8]) -> Option<()>,
) -> Option<Option<T>> {
    if raw == b"null" {
        return Some(None);
    }
    let mut value = T::default();
    let mut plain = true;
    visit_members(raw, |key, member| {
        plain = read(&mut value, key, member).is_some();
        match plain {
            true => ControlFlow::Continue(()),
            false => ControlFlow::Break(()),
        }
    })?;
    plain.then_some(Some(value))
}

/// The text of a JSON string without escapes, read in place; None for anything else
/// (escapes, other types), which the caller then deserializes properly.
pub fn plain_str(raw: &[u8]) -> Option<&str> {
    let inner = raw.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    if inner.contains(&b'\\') {
        return None;
    }
    std::str::from_utf8(inner).ok()
}

/// A JSON count: a plain unsigned integer, or `null`. None for anything else (`8.0`,
/// `-1`, `"8"`), which the caller then deserializes properly.
pub fn count(raw: &[u8]) -> Option<Option<u64>> {
    if raw == b"null" {
        return Some(None);
    }
    if raw.is_empty() || raw.len() > 19 || !raw.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(raw).ok()?.parse().ok().map(Some)
}

/// Valid JSON text without the whitespace between its tokens (strings are kept as they
/// are); borrowed when there is none. Tool inputs travel as JSON text inside a string, and
/// clients expect it compact, as the provider's own APIs write it.
pub fn compact(json: &str) -> Cow<'_, str> {
    let bytes = json.as_bytes();
    if !bytes.iter().any(is_space) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in json.chars() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if !u8::try_from(c).is_ok_and(|b| is_space(&b)) {
            in_string = c == '"';
            out.push(c);
        }
    }
    match out.len() == json.len() {
        true => Cow::Borrowed(json),
        false => Cow::Owned(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_borrowed_text_and_says_where_bytes_are_not_text() {
        let unescaped: String = from_bytes(br#""caf\u00e9""#).unwrap();
        assert_eq!(unescaped, "caf\u{e9}");
        let borrowed: &str = from_bytes(br#""plain""#).unwrap();
        assert_eq!(borrowed, "plain");
        let error = from_bytes::<&str>(b"\"caf\xff\"").unwrap_err();
        assert!(error.to_string().contains("column"), "{error}");
    }

    /// The members of `json` in document order, read forwards or backwards.
    fn members_read(json: &str, backward: bool) -> Option<Vec<(String, String)>> {
        let mut seen = Vec::new();
        let record = |k: &[u8], v: &[u8]| {
            seen.push((
                String::from_utf8_lossy(k).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            ));
            ControlFlow::Continue(())
        };
        match backward {
            false => visit_members(json.as_bytes(), record)?,
            true => visit_members_backward(json.as_bytes(), record)?,
        }
        if backward {
            seen.reverse();
        }
        Some(seen)
    }

    fn members_backward(json: &str) -> Option<Vec<(String, String)>> {
        members_read(json, true)
    }

    #[test]
    fn backwards_finds_the_members_forwards_finds() {
        for json in [
            r#"{}"#,
            r#" { } "#,
            r#"{"a":1}"#,
            r#"{"id":"x","choices":[{"message":{"content":"a } ] { [ \" \\"}}],"usage":{"n":1},"z":null}"#,
            "{ \"a\" : [ 1 , { \"b\" : \"\\\\\" } ] ,\n\t\"c\" : -1.5e+3 , \"d\":true }",
            r#"{"s":"ends with backslash \\","t":"\"quoted\"","u":[[],[[]],{}],"v":"é 😀"}"#,
        ] {
            assert_eq!(members_backward(json), members(json), "{json}");
            assert!(members(json).is_some(), "{json}");
        }
    }

    #[test]
    fn backwards_gives_up_where_forwards_does() {
        for json in [
            "",
            "[]",
            r#"{"a":1"#,
            r#"{"a" 1}"#,
            r#"{"a\"b":1}"#,
            r#""a":1}"#,
            r#"{"a":1,}"#,
        ] {
            assert_eq!(members_backward(json), None, "{json}");
        }
    }

    #[test]
    fn backwards_stops_at_the_wanted_member() {
        let json = br#"{"model":"m","choices":[{"text":"long"}],"usage":{"total_tokens":3}}"#;
        let mut keys = Vec::new();
        visit_members_backward(json, |key, _| {
            keys.push(key.to_vec());
            ControlFlow::Break(())
        });
        assert_eq!(keys, [b"usage".to_vec()]);
    }

    #[test]
    fn compacts_whitespace_between_tokens_only() {
        assert!(matches!(compact(r#"{"a":[1,"bc"]}"#), Cow::Borrowed(_)));
        assert!(matches!(compact(r#"{"a":"b c"}"#), Cow::Borrowed(_)));
        assert_eq!(
            compact("{\n  \"a b\": [1, 2],\t\"c\\\" d\" : \"e \\\\\" }\r\n"),
            "{\"a b\":[1,2],\"c\\\" d\":\"e \\\\\"}"
        );
        for text in [
            r#"{"x": {"y": [true, null, 1.5, "s \" t"]}}"#,
            r#"[ ]"#,
            r#" "é  😀" "#,
        ] {
            let parsed: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(compact(text), parsed.to_string(), "{text}");
        }
    }

    fn members(json: &str) -> Option<Vec<(String, String)>> {
        members_read(json, false)
    }

    #[test]
    fn yields_each_top_level_member_with_its_raw_value() {
        let json = r#" { "id" : "a\"}b" , "n":-1.5,"ok":true,"none":null,
            "nested":{"usage":{"x":[1,"]",{}]}},"list":[{"model":"inner"}],"model":"m",
            "long":"0123456789012345678901234567890123456789\"}]\\","end":[["a\\\"]"]] } "#;
        let seen = members(json).unwrap();
        let keys: Vec<&str> = seen.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "id", "n", "ok", "none", "nested", "list", "model", "long", "end"
            ]
        );
        assert_eq!(seen[0].1, r#""a\"}b""#);
        assert_eq!(seen[1].1, "-1.5");
        assert_eq!(seen[4].1, r#"{"usage":{"x":[1,"]",{}]}}"#);
        assert_eq!(seen[6].1, r#""m""#);
        for (_, raw) in &seen {
            serde_json::from_str::<serde_json::Value>(raw).expect("each value is whole JSON");
        }
    }

    #[test]
    fn reads_plain_strings_and_counts_in_place() {
        assert_eq!(plain_str(br#""gpt-4o""#), Some("gpt-4o"));
        assert_eq!(plain_str(br#""a\"b""#), None);
        assert_eq!(plain_str(b"null"), None);
        assert_eq!(count(b"42"), Some(Some(42)));
        assert_eq!(count(b"null"), Some(None));
        for odd in [&b"8.0"[..], b"-1", b"\"8\"", b"", b"99999999999999999999"] {
            assert_eq!(count(odd), None);
        }
    }

    #[test]
    fn answers_are_told_by_their_members() {
        let chat = br#"{"id":"x","choices":[{"index":0}],"usage":null}"#;
        assert!(has_any_member(chat, &["choices"]));
        assert!(!has_any_member(chat, &["content"]));
        assert!(has_any_member(
            br#"{"promptFeedback":{}}"#,
            &["candidates", "promptFeedback"]
        ));
        assert!(!has_any_member(br#"{"unexpected":true}"#, &["choices"]));
        assert!(!has_any_member(
            b"<html><body>502</body></html>",
            &["choices"]
        ));
        // The name inside text is not a member.
        assert!(!has_any_member(
            br#"{"text":"say \"choices\": now"}"#,
            &["choices"]
        ));
    }

    #[test]
    fn stops_when_told() {
        let mut count = 0;
        visit_members(br#"{"a":1,"b":2,"c":3}"#, |_, _| {
            count += 1;
            if count == 2 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
        assert_eq!(count, 2);
    }

    #[test]
    fn refuses_what_it_cannot_read_exactly() {
        assert_eq!(members("{}"), Some(vec![]));
        for broken in [
            "",
            "[1]",
            r#"{"a":1"#,
            r#"{"a" 1}"#,
            r#"{"a":"unterminated}"#,
            r#"{"a":{"b":1}"#,
            r#"{"a":1;"b":2}"#,
            r#"{"mod\u0065l":"escaped key"}"#,
            r#"{"a":}"#,
        ] {
            assert_eq!(members(broken), None, "{broken}");
        }
    }
}
