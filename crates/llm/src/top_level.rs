//! Finds where the values of a JSON object's top-level keys start, in one pass that only
//! follows strings and nesting. Reading two fields of a provider's answer this way and
//! parsing just those values costs a fraction of running the whole answer through the
//! parser, which also visits every choice and every word of text.
//!
//! The pass checks structure, not grammar: a body it accepts may still be invalid JSON
//! elsewhere (its values are then parsed by serde_json, which does check them). Whatever
//! it cannot vouch for (no object, unbalanced nesting, escaped or repeated keys) gives None,
//! and the caller parses the whole body instead.

/// Offsets of the values of `keys` (in that order) in the top-level object `body`;
/// None for a key that is absent. None overall when the body is not a simple object.
pub(crate) fn value_offsets<const N: usize>(
    body: &[u8],
    keys: [&[u8]; N],
) -> Option<[Option<usize>; N]> {
    let mut found = [None; N];
    let mut i = skip_whitespace(body, 0);
    if body.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    let mut depth = 1usize;
    let mut expecting_key = true;
    while i < body.len() {
        match body[i] {
            b'"' => {
                let end = string_end(body, i + 1)?;
                if depth == 1 && expecting_key {
                    let key = &body[i + 1..end];
                    if key.contains(&b'\\') {
                        return None;
                    }
                    let colon = skip_whitespace(body, end + 1);
                    if body.get(colon) != Some(&b':') {
                        return None;
                    }
                    let value = skip_whitespace(body, colon + 1);
                    if let Some(slot) = keys.iter().position(|k| *k == key) {
                        if found[slot].is_some() {
                            return None;
                        }
                        found[slot] = Some(value);
                    }
                    expecting_key = false;
                    i = value;
                    continue;
                }
                i = end + 1;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    let rest = skip_whitespace(body, i + 1);
                    return (rest == body.len()).then_some(found);
                }
            }
            b',' if depth == 1 => expecting_key = true,
            _ => {}
        }
        i += 1;
    }
    None
}

/// The index of the quote that closes the string whose content starts at `from`.
fn string_end(body: &[u8], mut from: usize) -> Option<usize> {
    loop {
        let at = from + memchr::memchr2(b'"', b'\\', body.get(from..)?)?;
        if body[at] == b'"' {
            return Some(at);
        }
        // A backslash escapes the next byte, whatever it is.
        from = at + 2;
    }
}

fn skip_whitespace(body: &[u8], mut i: usize) -> usize {
    while body.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(body: &str) -> Option<[Option<usize>; 2]> {
        value_offsets(body.as_bytes(), [b"model", b"usage"])
    }

    #[test]
    fn finds_top_level_keys_only() {
        let body = r#" {"id":"x","choices":[{"model":"inner","usage":{}}],"model" : "m","usage":{"a":1}} "#;
        let [model, usage] = find(body).unwrap();
        assert_eq!(&body[model.unwrap()..model.unwrap() + 3], r#""m""#);
        assert!(body[usage.unwrap()..].starts_with(r#"{"a":1}"#));
    }

    #[test]
    fn strings_may_hold_anything() {
        let body = r#"{"text":"a \"model\": {[ \\","model":"m"}"#;
        let [model, usage] = find(body).unwrap();
        assert!(body[model.unwrap()..].starts_with(r#""m""#));
        assert_eq!(usage, None);
    }

    #[test]
    fn refuses_what_it_cannot_vouch_for() {
        for body in [
            "",
            "[1]",
            r#"{"model":"m""#,
            r#"{"model":"m"}}"#,
            r#"{"model":"m"} x"#,
            r#"{"mod\u0065l":"m"}"#,
            r#"{"model":"a","model":"b"}"#,
            r#"{"model" "m"}"#,
            r#"{"text":"unterminated}"#,
        ] {
            assert_eq!(find(body), None, "{body}");
        }
    }
}
