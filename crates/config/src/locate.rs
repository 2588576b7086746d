//! Finds the line of a field path (`spec.rules[0].backendRefs[1].name`) in a YAML document.
//!
//! The compiler works on typed values that no longer know their lines; this maps an error's
//! field path back to the text by following indentation. It understands block style (what
//! people write by hand); inside flow style (`{a: 1}`) it stops at the nearest enclosing line.

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSegment {
    Key(String),
    Index(usize),
}

/// Parses `a.b[0].c` into segments.
pub fn parse_path(path: &str) -> Vec<PathSegment> {
    let mut segments = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix("[\"") {
            // A key with dots of its own (`stringData["tls.crt"]`).
            let Some(end) = quoted.find("\"]") else { break };
            segments.push(PathSegment::Key(quoted[..end].to_string()));
            rest = &quoted[end + 2..];
        } else if let Some(index) = rest.strip_prefix('[') {
            let end = index.find(']').unwrap_or(index.len());
            if let Ok(i) = index[..end].parse() {
                segments.push(PathSegment::Index(i));
            }
            rest = index.get(end + 1..).unwrap_or("");
        } else if let Some(after_dot) = rest.strip_prefix('.') {
            rest = after_dot;
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            segments.push(PathSegment::Key(rest[..end].to_string()));
            rest = &rest[end..];
        }
    }
    segments
}

/// The path of a map entry under `parent`: `parent.name`, or `parent["name"]` when the
/// name has dots of its own (Secret keys such as `tls.crt`).
pub fn entry_path(parent: &str, name: &str) -> String {
    match name.contains('.') {
        true => format!("{parent}[\"{name}\"]"),
        false => format!("{parent}.{name}"),
    }
}

struct Line<'a> {
    /// Column of the first key or value character, after any `- ` list markers.
    content_col: usize,
    /// Column of the first `-` list marker, if the line starts a list item.
    dash_col: Option<usize>,
    content: &'a str,
}

fn classify(raw: &str) -> Option<Line<'_>> {
    let indent = raw.len() - raw.trim_start().len();
    let mut content = raw.trim_start();
    if content.is_empty() || content.starts_with('#') {
        return None;
    }
    let mut col = indent;
    let mut dash_col = None;
    while let Some(rest) = content
        .strip_prefix('-')
        .filter(|r| r.starts_with(' ') || r.is_empty())
    {
        dash_col.get_or_insert(col);
        let trimmed = rest.trim_start();
        col += content.len() - trimmed.len();
        content = trimmed;
    }
    Some(Line {
        content_col: col,
        dash_col,
        content,
    })
}

fn is_key(content: &str, key: &str) -> bool {
    let unquoted = content
        .strip_prefix('"')
        .and_then(|c| c.strip_prefix(key))
        .and_then(|c| c.strip_prefix('"'))
        .or_else(|| content.strip_prefix(key));
    unquoted.is_some_and(|rest| rest.starts_with(':'))
}

/// The 0-based line in `text` where `path` is written, or the closest enclosing line found.
pub fn line_of(text: &str, path: &str) -> Option<usize> {
    let lines: Vec<Option<Line<'_>>> = text.lines().map(classify).collect();
    let mut best = None;
    let mut start = 0;
    // Column that a child must be deeper than; -1 for the document root.
    let mut parent_col: isize = -1;
    for segment in parse_path(path) {
        let found = match &segment {
            PathSegment::Key(key) => find_key(&lines, start, parent_col, key),
            PathSegment::Index(i) => find_item(&lines, start, parent_col, *i),
        };
        let Some((line, col)) = found else { break };
        best = Some(line);
        parent_col = col as isize;
        // A list item's first key sits on the item's own line.
        start = if matches!(segment, PathSegment::Index(_)) {
            line
        } else {
            line + 1
        };
    }
    best
}

fn find_key(
    lines: &[Option<Line<'_>>],
    start: usize,
    parent_col: isize,
    key: &str,
) -> Option<(usize, usize)> {
    for (n, line) in lines.iter().enumerate().skip(start) {
        let Some(line) = line else { continue };
        // A line at or left of the parent ends it; so does the next item of the list the
        // parent is an item of (its `-` at the parent's column, its key further right).
        let col = line.dash_col.unwrap_or(line.content_col) as isize;
        if col <= parent_col && n > start {
            return None;
        }
        if (line.content_col as isize) > parent_col && is_key(line.content, key) {
            return Some((n, line.content_col));
        }
    }
    None
}

fn find_item(
    lines: &[Option<Line<'_>>],
    start: usize,
    parent_col: isize,
    index: usize,
) -> Option<(usize, usize)> {
    let mut seen = 0;
    let mut item_col = None;
    for (n, line) in lines.iter().enumerate().skip(start) {
        let Some(line) = line else { continue };
        let col = line.dash_col.unwrap_or(line.content_col) as isize;
        // Items of a list under `key:` may sit at the key's own column.
        if col < parent_col || (col == parent_col && line.dash_col.is_none()) {
            return None;
        }
        let Some(dash) = line.dash_col else { continue };
        match item_col {
            None => item_col = Some(dash),
            Some(c) if c != dash => continue,
            Some(_) => {}
        }
        if seen == index {
            return Some((n, dash));
        }
        seen += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: r
spec:
  parentRefs:
  - name: gw
  rules:
  - matches:
    - path: {type: PathPrefix, value: /a}
    backendRefs:
    - name: one
    - name: two
      port: 80
  - backendRefs:
      - name: three
";

    #[test]
    fn finds_nested_fields() {
        assert_eq!(line_of(DOC, "metadata.name"), Some(3));
        assert_eq!(line_of(DOC, "spec.rules[0].backendRefs[1].name"), Some(12));
        assert_eq!(line_of(DOC, "spec.rules[0].backendRefs[1].port"), Some(13));
        assert_eq!(line_of(DOC, "spec.rules[1].backendRefs[0].name"), Some(15));
    }

    #[test]
    fn a_key_missing_from_a_list_item_is_not_found_in_the_next_item() {
        // `port` is missing from backendRefs[0]: the path stops at the item, and does not
        // run on into backendRefs[1], which has one.
        assert_eq!(line_of(DOC, "spec.rules[0].backendRefs[0].port"), Some(11));
    }

    #[test]
    fn falls_back_to_the_nearest_enclosing_line() {
        // Inside flow style the path ends at the enclosing key.
        assert_eq!(line_of(DOC, "spec.rules[0].matches[0].path.value"), Some(9));
        assert_eq!(line_of(DOC, "spec.missing"), Some(4));
    }

    #[test]
    fn keys_with_dots_are_quoted_and_found() {
        let secret = "kind: Secret\nstringData:\n  tls.crt: ${A}\n  tls.key: ${B}\n";
        let path = entry_path("stringData", "tls.key");
        assert_eq!(path, "stringData[\"tls.key\"]");
        assert_eq!(line_of(secret, &path), Some(3));
        assert_eq!(
            line_of(secret, &entry_path("stringData", "tls.crt")),
            Some(2)
        );
        assert_eq!(entry_path("stringData", "api-key"), "stringData.api-key");
    }

    #[test]
    fn parses_paths() {
        assert_eq!(
            parse_path("a.b[2][1].c"),
            vec![
                PathSegment::Key("a".into()),
                PathSegment::Key("b".into()),
                PathSegment::Index(2),
                PathSegment::Index(1),
                PathSegment::Key("c".into()),
            ]
        );
    }
}
