//! Gateway API durations: `1h`, `30s`, `500ms`, `1m30s`.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{input}' is not a duration: {reason}")]
pub struct InvalidDuration {
    pub input: String,
    pub reason: &'static str,
}

/// Parses the Gateway API duration format: one to four `<number><unit>` parts with
/// units `h`, `m`, `s`, `ms`, e.g. `1m30s`. `0s` is allowed and means "no limit" to callers.
pub fn parse_duration(input: &str) -> Result<Duration, InvalidDuration> {
    let invalid = |reason| InvalidDuration {
        input: input.to_string(),
        reason,
    };
    if input.is_empty() {
        return Err(invalid("it is empty; write e.g. 30s, 500ms or 1m"));
    }
    let mut total = Duration::ZERO;
    let mut rest = input;
    let mut parts = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(invalid(
                "expected a number followed by h, m, s or ms (e.g. 30s)",
            ));
        }
        let (number, tail) = rest.split_at(digits);
        let value: u64 = number
            .parse()
            .map_err(|_| invalid("the number is too large"))?;
        let (unit, tail) = if let Some(t) = tail.strip_prefix("ms") {
            (Duration::from_millis(1), t)
        } else if let Some(t) = tail.strip_prefix('h') {
            (Duration::from_secs(3600), t)
        } else if let Some(t) = tail.strip_prefix('m') {
            (Duration::from_secs(60), t)
        } else if let Some(t) = tail.strip_prefix('s') {
            (Duration::from_secs(1), t)
        } else {
            return Err(invalid("the unit must be h, m, s or ms"));
        };
        let part =
            unit.checked_mul(u32::try_from(value).map_err(|_| invalid("the number is too large"))?);
        total += part.ok_or_else(|| invalid("the number is too large"))?;
        rest = tail;
        parts += 1;
    }
    if parts > 4 {
        return Err(invalid("at most four parts are allowed"));
    }
    Ok(total)
}

/// Formats a duration the way users write them, for dumps and messages.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) {
        format!("{ms}ms")
    } else {
        format!("{}s", ms / 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_gateway_api_durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("0s").unwrap(), Duration::ZERO);
    }

    #[test]
    fn rejects_malformed_durations_with_a_reason() {
        for bad in ["", "10", "s", "10x", "1.5s", "-1s", "1h1m1s1ms1s"] {
            let err = parse_duration(bad).unwrap_err();
            assert_eq!(err.input, bad);
        }
        assert!(
            parse_duration("10")
                .unwrap_err()
                .to_string()
                .contains("unit")
        );
    }

    #[test]
    fn formats_round_trip() {
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format_duration(Duration::from_secs(30)), "30s");
    }
}
