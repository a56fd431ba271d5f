//! Durations as people write them: `"100ms"`, `"1s"`, `"1.5s"`, `"2m"`.
//!
//! keepalived writes times as decimal seconds (`advert_int 0.5`); that form is read by
//! [`parse_seconds`]. vipd's own files use a number with a unit, read by [`parse`] and
//! written back by [`format`] so that `parse(format(d)) == d` for every duration.

use std::time::Duration;

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Reads a decimal number (`"3"`, `"0.25"`) and scales it by `unit_nanos`, exactly.
fn parse_decimal(number: &str, unit_nanos: u128) -> Option<Duration> {
    let (whole, fraction) = match number.split_once('.') {
        Some((w, f)) => (w, f),
        None => (number, ""),
    };
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if fraction.len() > 18 {
        return None;
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let fraction_value: u128 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().ok()?
    };
    let scale = 10u128.checked_pow(u32::try_from(fraction.len()).ok()?)?;
    let nanos = whole
        .checked_mul(unit_nanos)?
        .checked_add(fraction_value.checked_mul(unit_nanos)? / scale)?;
    let secs = u64::try_from(nanos / NANOS_PER_SEC).ok()?;
    let sub = u32::try_from(nanos % NANOS_PER_SEC).ok()?;
    Some(Duration::new(secs, sub))
}

/// Decimal seconds as keepalived writes them: `"1"`, `"0.92"`, `"0.000001"`.
pub fn parse_seconds(text: &str) -> Option<Duration> {
    parse_decimal(text, NANOS_PER_SEC)
}

/// A number with a unit: `ns`, `us`, `ms`, `s`, `m` or `h` (`"1.5s"`, `"100ms"`, `"2m"`).
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.starts_with('-') {
        return Err(format!("duration `{text}` is negative"));
    }
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit_nanos: u128 = match unit {
        "ns" => 1,
        "us" => 1_000,
        "ms" => 1_000_000,
        "s" => NANOS_PER_SEC,
        "m" => 60 * NANOS_PER_SEC,
        "h" => 3600 * NANOS_PER_SEC,
        "" => {
            return Err(format!(
                "duration `{text}` needs a unit, e.g. \"{text}s\" or \"{text}ms\""
            ))
        }
        other => {
            return Err(format!(
                "duration `{text}` has unknown unit `{other}` (use ms, s, m, h, us or ns)"
            ))
        }
    };
    parse_decimal(number, unit_nanos).ok_or_else(|| format!("`{text}` is not a duration"))
}

/// The shortest exact text for `d` that [`parse`] reads back to the same value.
pub fn format(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    if nanos % 1_000 != 0 {
        return format!("{nanos}ns");
    }
    let micros = nanos / 1_000;
    if micros % 1_000 != 0 {
        return format!("{micros}us");
    }
    let millis = micros / 1_000;
    if millis % 1_000 != 0 {
        if millis < 1_000 {
            return format!("{millis}ms");
        }
        let fraction = format!("{:03}", millis % 1_000);
        return format!("{}.{}s", millis / 1_000, fraction.trim_end_matches('0'));
    }
    let secs = millis / 1_000;
    if secs % 3600 == 0 {
        format!("{}h", secs / 3600)
    } else if secs % 60 == 0 {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

/// `#[serde(with = "duration::serde_text")]` for `Duration` fields.
pub mod serde_text {
    use serde::{Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_any(DurationText)
    }

    /// A duration string; a bare number (TOML `interval = 1`) gets an error that says how
    /// to write it rather than serde's "expected a string".
    pub(super) struct DurationText;

    impl DurationText {
        fn bare<E: serde::de::Error>(number: impl std::fmt::Display) -> E {
            E::custom(format!(
                "`{number}` is a bare number: write a duration with its unit as a string, \
                 e.g. \"{number}s\" or \"{number}ms\""
            ))
        }
    }

    impl serde::de::Visitor<'_> for DurationText {
        type Value = Duration;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a duration with its unit, such as \"1s\" or \"100ms\"")
        }

        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Duration, E> {
            super::parse(text).map_err(E::custom)
        }

        fn visit_i64<E: serde::de::Error>(self, number: i64) -> Result<Duration, E> {
            Err(Self::bare(number))
        }

        fn visit_u64<E: serde::de::Error>(self, number: u64) -> Result<Duration, E> {
            Err(Self::bare(number))
        }

        fn visit_f64<E: serde::de::Error>(self, number: f64) -> Result<Duration, E> {
            Err(Self::bare(number))
        }
    }
}

/// `#[serde(with = "duration::serde_text_opt")]` for `Option<Duration>` fields.
pub mod serde_text_opt {
    use serde::{Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&super::format(*d)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        d.deserialize_any(super::serde_text::DurationText).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("10us"), Ok(Duration::from_micros(10)));
        assert!(parse("5").is_err());
        assert!(parse("5 parsecs").is_err());
        assert!(parse("s").is_err());
        assert!(parse("1.2.3s").is_err());
    }

    #[test]
    fn keepalived_seconds() {
        assert_eq!(parse_seconds("0.92"), Some(Duration::from_millis(920)));
        assert_eq!(parse_seconds("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_seconds("0.000001"), Some(Duration::from_micros(1)));
        assert_eq!(parse_seconds("-1"), None);
        assert_eq!(parse_seconds("abc"), None);
    }

    #[test]
    fn format_round_trips() {
        for d in [
            Duration::ZERO,
            Duration::from_nanos(7),
            Duration::from_micros(1),
            Duration::from_millis(10),
            Duration::from_millis(1500),
            Duration::from_millis(40_950),
            Duration::from_secs(5),
            Duration::from_secs(120),
            Duration::from_secs(7200),
            Duration::from_secs(3661),
        ] {
            assert_eq!(parse(&format(d)), Ok(d), "{}", format(d));
        }
        assert_eq!(format(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format(Duration::from_millis(100)), "100ms");
        assert_eq!(format(Duration::from_secs(120)), "2m");
    }
}
