//! `${ENV_VAR}` interpolation for Secret `stringData`, so keys never sit in files.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterpolationError {
    #[error("environment variable {0} is not set")]
    Unset(String),
    #[error("unterminated '${{' (write ${{NAME}}, or $${{ for a literal)")]
    Unterminated,
    #[error("'${{{0}}}' is not a valid variable name (letters, digits and _ only)")]
    InvalidName(String),
}

/// Replaces each `${NAME}` in `input` with `lookup(NAME)`. `$${` stands for a literal `${`.
/// The lookup is passed in so tests never mutate the process environment.
pub fn interpolate(
    input: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, InterpolationError> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let end = tail.find('}').ok_or(InterpolationError::Unterminated)?;
            let name = &tail[..end];
            let valid = !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit());
            if !valid {
                return Err(InterpolationError::InvalidName(name.to_string()));
            }
            let value = lookup(name).ok_or_else(|| InterpolationError::Unset(name.to_string()))?;
            out.push_str(&value);
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The real process environment, for the binary.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "OPENAI_API_KEY").then(|| "sk-test".to_string())
    }

    #[test]
    fn replaces_variables() {
        assert_eq!(
            interpolate("Bearer ${OPENAI_API_KEY}", &env).unwrap(),
            "Bearer sk-test"
        );
        assert_eq!(interpolate("no vars $HOME", &env).unwrap(), "no vars $HOME");
        assert_eq!(interpolate("$${LITERAL}", &env).unwrap(), "${LITERAL}");
    }

    #[test]
    fn names_the_missing_variable() {
        let err = interpolate("${ANTHROPIC_API_KEY}", &env).unwrap_err();
        assert_eq!(err, InterpolationError::Unset("ANTHROPIC_API_KEY".into()));
        assert!(err.to_string().contains("ANTHROPIC_API_KEY"));
        assert_eq!(
            interpolate("${OPEN", &env).unwrap_err(),
            InterpolationError::Unterminated
        );
        assert!(matches!(
            interpolate("${1X}", &env),
            Err(InterpolationError::InvalidName(_))
        ));
    }
}
