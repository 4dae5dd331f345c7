//! Durations written like `10s`, `2h4m`, `300ms`, `1h 30m` (a subset of the
//! humantime syntax: units `ms`, `s`, `m`, `h`, `d`; components may be
//! separated by spaces; every number needs a unit).

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration; write e.g. \"10s\"")]
    Empty,
    #[error("missing unit after {number}; write e.g. \"{number}s\" (units: ms, s, m, h, d)")]
    MissingUnit { number: u64 },
    #[error("unknown unit {unit:?} (units: ms, s, m, h, d)")]
    UnknownUnit { unit: String },
    #[error("expected a number at {found:?} (write e.g. \"2h4m\")")]
    ExpectedNumber { found: String },
    #[error("fractions are not supported; write e.g. \"1s500ms\" instead of \"1.5s\"")]
    Fraction,
    #[error("duration too large")]
    Overflow,
}

const MILLIS_PER_SECOND: u64 = 1000;
const MILLIS_PER_MINUTE: u64 = 60 * MILLIS_PER_SECOND;
const MILLIS_PER_HOUR: u64 = 60 * MILLIS_PER_MINUTE;
const MILLIS_PER_DAY: u64 = 24 * MILLIS_PER_HOUR;

fn unit_millis(unit: &str) -> Option<u64> {
    match unit {
        "ms" => Some(1),
        "s" => Some(MILLIS_PER_SECOND),
        "m" => Some(MILLIS_PER_MINUTE),
        "h" => Some(MILLIS_PER_HOUR),
        "d" => Some(MILLIS_PER_DAY),
        _ => None,
    }
}

/// Parses `"2h4m"`-style text. Millisecond resolution.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(DurationError::Empty);
    }
    let mut total_millis: u64 = 0;
    while !rest.is_empty() {
        let digits_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits_end == 0 {
            return Err(DurationError::ExpectedNumber {
                found: rest.to_string(),
            });
        }
        let number: u64 = rest[..digits_end]
            .parse()
            .map_err(|_| DurationError::Overflow)?;
        rest = &rest[digits_end..];
        let unit_end = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        if rest.starts_with('.') {
            return Err(DurationError::Fraction);
        }
        if unit_end == 0 {
            return Err(DurationError::MissingUnit { number });
        }
        let unit = &rest[..unit_end];
        let millis = unit_millis(unit).ok_or_else(|| DurationError::UnknownUnit {
            unit: unit.to_string(),
        })?;
        total_millis = number
            .checked_mul(millis)
            .and_then(|m| total_millis.checked_add(m))
            .ok_or(DurationError::Overflow)?;
        rest = rest[unit_end..].trim_start();
    }
    Ok(Duration::from_millis(total_millis))
}

/// The shortest text `parse_duration` reads back as the same duration
/// (millisecond resolution): `7440s` → `"2h4m"`, `300ms` → `"300ms"`.
pub fn format_duration(duration: Duration) -> String {
    let mut millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    if millis == 0 {
        return "0s".to_string();
    }
    let mut text = String::new();
    for (unit, size) in [
        ("d", MILLIS_PER_DAY),
        ("h", MILLIS_PER_HOUR),
        ("m", MILLIS_PER_MINUTE),
        ("s", MILLIS_PER_SECOND),
        ("ms", 1),
    ] {
        if millis >= size {
            text.push_str(&format!("{}{unit}", millis / size));
            millis %= size;
        }
    }
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn parses_single_units() {
        assert_eq!(parse_duration("10s"), Ok(secs(10)));
        assert_eq!(parse_duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse_duration("5m"), Ok(secs(300)));
        assert_eq!(parse_duration("2h"), Ok(secs(7200)));
        assert_eq!(parse_duration("1d"), Ok(secs(86_400)));
        assert_eq!(parse_duration("0s"), Ok(secs(0)));
    }

    #[test]
    fn parses_compound_and_spaced() {
        assert_eq!(parse_duration("2h4m"), Ok(secs(7440)));
        assert_eq!(parse_duration("1h 30m"), Ok(secs(5400)));
        assert_eq!(
            parse_duration(" 1m30s500ms "),
            Ok(Duration::from_millis(90_500))
        );
    }

    #[test]
    fn rejects_bad_text_with_reasons() {
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert_eq!(parse_duration("  "), Err(DurationError::Empty));
        assert_eq!(
            parse_duration("10"),
            Err(DurationError::MissingUnit { number: 10 })
        );
        assert_eq!(
            parse_duration("10 s"),
            Err(DurationError::MissingUnit { number: 10 })
        );
        assert_eq!(
            parse_duration("10sec"),
            Err(DurationError::UnknownUnit {
                unit: "sec".to_string()
            })
        );
        assert_eq!(
            parse_duration("s"),
            Err(DurationError::ExpectedNumber {
                found: "s".to_string()
            })
        );
        assert_eq!(
            parse_duration("-1s"),
            Err(DurationError::ExpectedNumber {
                found: "-1s".to_string()
            })
        );
        assert_eq!(parse_duration("1.5s"), Err(DurationError::Fraction));
    }

    #[test]
    fn rejects_overflow() {
        assert_eq!(
            parse_duration("99999999999999999999s"),
            Err(DurationError::Overflow)
        );
        assert_eq!(
            parse_duration("18446744073709551615d"),
            Err(DurationError::Overflow)
        );
    }

    #[test]
    fn formats_shortest_round_trip() {
        assert_eq!(format_duration(secs(7440)), "2h4m");
        assert_eq!(format_duration(secs(240)), "4m");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1s500ms");
        assert_eq!(format_duration(secs(0)), "0s");
        for text in ["2h4m", "1d1h1m1s1ms", "300ms", "59s"] {
            let parsed = parse_duration(text).unwrap();
            assert_eq!(format_duration(parsed), text);
        }
    }
}
