//! High-water marks of the AH sequence counters (`auth_type AH`), kept in the state directory
//! across restarts so that adverts recorded before a restart stay replays after it.
//!
//! One small JSON file per daemon (named after the control socket, as the VIP record is):
//! instance name -> mark. Read once at start; a missing, garbled or odd file (a symlink, a
//! FIFO, too large) is ignored with a warning and the counters start at 0 as keepalived's do.
//! While running, a mark is written ahead of the counter ([`crate::vrrp::ah::RESERVE`]), so a
//! write happens about once an hour per instance, and never on the event loop after start:
//! [`AhMarks::writer`] runs on a blocking thread. On a clean stop the marks are the counters
//! themselves ([`AhMarks::set_exact`]), so a restarted backup accepts its live master's next
//! adverts; after a crash the reservation is all there is (see REFERENCE.md). Each write
//! keeps the marks of the instances configured then (any authentication: one switched to
//! AH again resumes above its mark), so a removed instance's goes at the next write.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tracing::warn;

use crate::atomic_file::{write_atomically, Durability};

const SUFFIX: &str = "ah.json";
/// Far more than any configuration's instance names with their marks.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// The marks of this daemon: the latest handed out, shared with the writer threads.
#[derive(Debug, Clone)]
pub struct AhMarks {
    path: PathBuf,
    latest: Arc<Mutex<BTreeMap<String, u32>>>,
    /// Held by a writer for its whole write; the loop only takes `latest`, briefly.
    writing: Arc<Mutex<()>>,
}

impl AhMarks {
    /// The marks of the daemon with control socket `socket`, as stored in `state_dir` (none
    /// when the file is missing or cannot be trusted: that is logged).
    pub fn load(state_dir: &Path, socket: &Path) -> AhMarks {
        let path = super::vip_state::named_state_path(state_dir, socket, SUFFIX);
        let latest = match read(&path) {
            Ok(marks) => marks,
            Err(e) if e.kind() == io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => {
                warn!(
                    "ignoring AH sequence marks in {}: {e}; AH counters start at 0",
                    path.display()
                );
                BTreeMap::new()
            }
        };
        AhMarks {
            path,
            latest: Arc::new(Mutex::new(latest)),
            writing: Arc::default(),
        }
    }

    #[cfg(test)]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored or last handed-out mark of instance `name`.
    pub fn get(&self, name: &str) -> Option<u32> {
        self.lock().get(name).copied()
    }

    /// Records a mark to be written (never lowers one).
    pub fn note(&self, name: &str, mark: u32) {
        let mut marks = self.lock();
        let slot = marks.entry(name.to_string()).or_insert(0);
        *slot = (*slot).max(mark);
    }

    /// Sets the mark of instance `name` to its counter itself, lower than the reservation
    /// (on a clean stop: nothing above the counter was used).
    pub fn set_exact(&self, name: &str, sequence: u32) {
        self.lock().insert(name.to_string(), sequence);
    }

    /// Forgets the marks of instances not in `names` (removed from the configuration): the
    /// next write leaves them out, so the file does not keep every name it ever held.
    pub fn keep_only<'a>(&self, names: impl IntoIterator<Item = &'a str>) {
        let names: std::collections::BTreeSet<&str> = names.into_iter().collect();
        self.lock().retain(|name, _| names.contains(name.as_str()));
    }

    /// Writes the latest marks now (at start before the loop runs, and after it ended).
    pub fn write(&self) -> io::Result<()> {
        let _turn = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let marks = self.lock().clone();
        write(&self.path, &marks)
    }

    /// A write of the latest marks, for a blocking thread. Writers take turns and each takes
    /// the latest marks once its turn came, so the file never goes back to older ones.
    pub fn writer(&self) -> impl FnOnce() + Send + 'static {
        let marks = self.clone();
        move || {
            let _turn = marks.writing.lock().unwrap_or_else(|e| e.into_inner());
            let latest = marks.lock().clone();
            if let Err(e) = write(&marks.path, &latest) {
                warn!("AH sequence marks: {e}");
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, u32>> {
        // A writer that panicked left a whole map behind.
        self.latest.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Reads a marks file: a regular file (not followed if a symlink, not waited on if a FIFO),
/// bounded in size, of JSON `{"instance": mark, ...}`.
fn read(path: &Path) -> io::Result<BTreeMap<String, u32>> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a regular file",
        ));
    }
    let mut text = Vec::new();
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut text)?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "larger than a marks file of vipd",
        ));
    }
    serde_json::from_slice(&text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Writes the marks, whole and synced (they guard against replays across reboots too).
fn write(path: &Path, marks: &BTreeMap<String, u32>) -> io::Result<()> {
    let text = serde_json::to_vec(marks).map_err(io::Error::other)?;
    write_atomically(path, &text, 0o600, Durability::AcrossReboots)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vipd-ah-marks-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn marks_survive_a_restart_and_never_go_down() {
        let dir = temp_dir("restart");
        let socket = Path::new("/run/vipd/a.sock");
        let marks = AhMarks::load(&dir, socket);
        assert_eq!(marks.get("VI_1"), None);
        marks.note("VI_1", 5000);
        marks.note("VI_1", 10);
        marks.write().unwrap();
        marks.note("VI_2", 7);
        marks.writer()();
        let again = AhMarks::load(&dir, socket);
        assert_eq!(
            (again.get("VI_1"), again.get("VI_2")),
            (Some(5000), Some(7))
        );
        // VI_2 left the configuration: gone from the file at the next write.
        again.keep_only(["VI_1", "VI_3"]);
        again.write().unwrap();
        let text = fs::read_to_string(again.path()).unwrap();
        assert_eq!(text, r#"{"VI_1":5000}"#);
        // Another daemon's socket: another file.
        assert_eq!(
            AhMarks::load(&dir, Path::new("/run/other/a.sock")).get("VI_1"),
            None
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_garbled_huge_symlinked_or_fifo_file_is_ignored() {
        let dir = temp_dir("hostile");
        fs::create_dir_all(&dir).unwrap();
        let socket = Path::new("/run/vipd/b.sock");
        let path = AhMarks::load(&dir, socket).path().to_path_buf();
        let good = dir.join("good.json");
        fs::write(&good, br#"{"VI_1": 9}"#).unwrap();
        for (what, make) in [
            (
                "garbled",
                Box::new(|p: &Path| fs::write(p, b"{\"VI_1\": -1").unwrap()) as Box<dyn Fn(&Path)>,
            ),
            (
                "huge",
                Box::new(|p: &Path| {
                    fs::write(p, vec![b' '; (MAX_FILE_BYTES + 1) as usize]).unwrap()
                }),
            ),
            (
                "symlink",
                Box::new(|p: &Path| std::os::unix::fs::symlink(&good, p).unwrap()),
            ),
            ("directory", Box::new(|p: &Path| fs::create_dir(p).unwrap())),
            (
                "fifo",
                Box::new(|p: &Path| {
                    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
                    // SAFETY: a valid C string for the call's duration.
                    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
                }),
            ),
        ] {
            make(&path);
            assert_eq!(AhMarks::load(&dir, socket).get("VI_1"), None, "{what}");
            let _ = fs::remove_file(&path);
            let _ = fs::remove_dir(&path);
        }
        let _ = fs::remove_dir_all(&dir);
    }
}
