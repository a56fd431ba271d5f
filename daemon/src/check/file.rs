//! File check (keepalived `track_file`): the file holds one integer.
//!
//! Reading is bounded: only the first [`READ_MAX`] bytes are read, only a regular file is
//! read (a FIFO or a device would block or never end), the file is opened non-blocking, and
//! the read runs off the event loop within the check's timeout. A read that hangs anyway (a
//! dead network file system) is not started again until it returns, so a stuck mount costs
//! one thread, not one per interval.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::ProbeResult;

/// Bytes read from the file: an integer and some white space fit many times.
pub const READ_MAX: usize = 64;

/// A file check with its read in progress, if any.
#[derive(Debug)]
pub struct FileProbe {
    path: PathBuf,
    busy: Arc<AtomicBool>,
}

impl FileProbe {
    pub fn new(path: PathBuf) -> Self {
        FileProbe {
            path,
            busy: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Reads the integer; see the module doc. A missing, unreadable, special or unparsable
    /// file reads as 0 (and the result is marked not ok with the reason), so a weight-0 file
    /// is OK only while it says 0.
    pub async fn probe(&self, timeout: Duration) -> ProbeResult {
        let start = Instant::now();
        if self.busy.swap(true, Ordering::AcqRel) {
            return zero(
                start,
                format!(
                    "{}: the previous read is still blocked",
                    self.path.display()
                ),
            );
        }
        let path = self.path.clone();
        let busy = self.busy.clone();
        let read = tokio::task::spawn_blocking(move || {
            let out = read_head(&path);
            busy.store(false, Ordering::Release);
            out
        });
        let outcome = match tokio::time::timeout(timeout, read).await {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => Err(format!("read task: {e}")),
            Err(_) => Err(format!("no answer within {timeout:?}")),
        };
        let latency = start.elapsed();
        let (value, ok, detail) = match outcome {
            Ok(bytes) => match parse_value(&bytes) {
                Some(v) => (v, true, format!("value {v}")),
                None => (0, false, "no integer in file (read as 0)".to_string()),
            },
            Err(e) => (
                0,
                false,
                format!("{}: {e} (read as 0)", self.path.display()),
            ),
        };
        ProbeResult {
            ok,
            latency,
            detail,
            value: Some(value),
        }
    }
}

fn zero(start: Instant, why: String) -> ProbeResult {
    ProbeResult {
        ok: false,
        latency: start.elapsed(),
        detail: format!("{why} (read as 0)"),
        value: Some(0),
    }
}

/// The first [`READ_MAX`] bytes of a regular file.
fn read_head(path: &Path) -> Result<Vec<u8>, String> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| e.to_string())?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".to_string());
    }
    let mut head = Vec::with_capacity(READ_MAX);
    file.take(READ_MAX as u64)
        .read_to_end(&mut head)
        .map_err(|e| e.to_string())?;
    Ok(head)
}

/// Reads the integer in `path` once (without the in-progress guard of [`FileProbe`]).
pub async fn probe(path: &Path) -> ProbeResult {
    FileProbe::new(path.to_path_buf())
        .probe(Duration::from_secs(5))
        .await
}

/// The leading decimal integer of the file (surrounding whitespace ignored). `bytes` is what
/// was read: a number running into the end of a full [`READ_MAX`] read may be cut short, so
/// it does not count.
pub fn parse_value(bytes: &[u8]) -> Option<i64> {
    let head = &bytes[..bytes.len().min(READ_MAX)];
    let at_end = bytes.len() < READ_MAX;
    let start = head.iter().position(|b| !b.is_ascii_whitespace())?;
    let token = match head[start..].iter().position(u8::is_ascii_whitespace) {
        Some(n) => &head[start..start + n],
        None if at_end => &head[start..],
        None => return None,
    };
    std::str::from_utf8(token).ok()?.parse().ok()
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
        let mut long = b"5\n".to_vec();
        long.resize(super::READ_MAX, b'x');
        assert_eq!(parse_value(&long), Some(5));
    }
}
