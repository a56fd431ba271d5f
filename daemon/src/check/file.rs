//! File check (keepalived `track_file`): the file holds one integer.

use std::path::Path;
use std::time::Instant;

use super::ProbeResult;

/// Read the integer in `path`. A missing, unreadable or unparsable file reads as 0 (and the
/// result is marked not ok with the reason), so a weight-0 file is OK only while it says 0.
pub async fn probe(path: &Path) -> ProbeResult {
    let start = Instant::now();
    let read = tokio::fs::read(path).await;
    let latency = start.elapsed();
    let (value, ok, detail) = match read {
        Ok(bytes) => match parse_value(&bytes) {
            Some(v) => (v, true, format!("value {v}")),
            None => (0, false, "no integer in file (read as 0)".to_string()),
        },
        Err(e) => (0, false, format!("{}: {e} (read as 0)", path.display())),
    };
    ProbeResult {
        ok,
        latency,
        detail,
        value: Some(value),
    }
}

/// The leading decimal integer of the file (surrounding whitespace ignored).
pub fn parse_value(bytes: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(bytes.get(..bytes.len().min(64))?).ok()?;
    let token = text.split_whitespace().next()?;
    token.parse::<i64>().ok()
}

#[cfg(test)]
mod tests {
    use super::parse_value;

    #[test]
    fn parses_integers() {
        assert_eq!(parse_value(b"42\n"), Some(42));
        assert_eq!(parse_value(b"  -7  "), Some(-7));
        assert_eq!(parse_value(b"+3"), Some(3));
        assert_eq!(parse_value(b"3 extra"), Some(3));
        assert_eq!(parse_value(b""), None);
        assert_eq!(parse_value(b"abc"), None);
        assert_eq!(parse_value(b"1.5"), None);
    }
}
