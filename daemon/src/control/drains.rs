//! Drains survive restarts and reboots: they are kept in `STATE_DIR/drain.json` (the unit's
//! `StateDirectory=vipd`, i.e. /var/lib/vipd), written atomically before a drain or resume
//! takes effect, and read at start before any instance runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::atomic_file::{write_atomically, Durability};
use crate::vrrp::instance::DrainMode;

pub const DEFAULT_STATE_DIR: &str = "/var/lib/vipd";
const FILE_NAME: &str = "drain.json";
/// A larger file is not ours: it is reported and ignored.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// One drained instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrainEntry {
    /// `soft` or `hard`.
    pub mode: String,
    /// Unix time of the request, seconds.
    pub since: u64,
    /// Who asked (peer credentials of the control client).
    pub by: String,
}

impl DrainEntry {
    pub fn new(mode: DrainMode, by: impl Into<String>) -> DrainEntry {
        DrainEntry {
            mode: mode.as_str().to_string(),
            since: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            by: by.into(),
        }
    }

    /// The mode; an unknown word (a newer vipd's file) counts as the stricter `hard`.
    pub fn mode(&self) -> DrainMode {
        match self.mode.as_str() {
            "soft" => DrainMode::Soft,
            _ => DrainMode::Hard,
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct DrainFile {
    version: u32,
    #[serde(default)]
    drained: BTreeMap<String, DrainEntry>,
}

/// The drained instances, by name, as persisted.
#[derive(Debug)]
pub struct DrainStore {
    dir: PathBuf,
    entries: BTreeMap<String, DrainEntry>,
}

impl DrainStore {
    /// Reads the drains kept in `dir`. A missing file means nothing is drained; an unreadable
    /// or malformed one is reported (second value) and treated as empty, and stays untouched
    /// until the next drain or resume rewrites it.
    pub fn open(dir: &Path) -> (DrainStore, Option<String>) {
        let path = dir.join(FILE_NAME);
        let mut store = DrainStore {
            dir: dir.to_path_buf(),
            entries: BTreeMap::new(),
        };
        let problem = match read_file(&path) {
            Ok(Some(file)) => {
                store.entries = file.drained;
                None
            }
            Ok(None) => None,
            Err(e) => Some(format!(
                "{}: {e}; starting with no instance drained",
                path.display()
            )),
        };
        (store, problem)
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    pub fn get(&self, name: &str) -> Option<&DrainEntry> {
        self.entries.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.entries.keys()
    }

    /// Applies `changes` (None removes the entry) and writes the file; on error nothing
    /// changes, in memory or on disk.
    pub fn update(&mut self, changes: &[(String, Option<DrainEntry>)]) -> Result<(), String> {
        let Some(next) = self.plan(changes) else {
            return Ok(());
        };
        self.writer(&next)()?;
        self.commit(next);
        Ok(())
    }

    /// The entries `changes` (None removes the entry) make of these; None when they make
    /// no change.
    pub fn plan(&self, changes: &[(String, Option<DrainEntry>)]) -> Option<DrainEntries> {
        let mut next = self.entries.clone();
        for (name, entry) in changes {
            match entry {
                Some(entry) => next.insert(name.clone(), entry.clone()),
                None => next.remove(name),
            };
        }
        (next != self.entries).then_some(DrainEntries(next))
    }

    /// What writes `next` to the file (synced), to run on a blocking thread: a slow disk
    /// must not hold up the event loop (a sync took 0.3 s on a busy one, and the backups
    /// took over).
    pub fn writer(&self, next: &DrainEntries) -> impl FnOnce() -> Result<(), String> + Send {
        let path = self.path();
        let file = DrainFile {
            version: 1,
            drained: next.0.clone(),
        };
        move || write_file(&path, &file).map_err(|e| format!("cannot write the drains: {e}"))
    }

    /// Takes `next` as the drains kept, once written.
    pub fn commit(&mut self, next: DrainEntries) {
        self.entries = next.0;
    }
}

/// Drained instances as they are to be kept (see [`DrainStore::plan`]).
#[derive(Debug)]
pub struct DrainEntries(BTreeMap<String, DrainEntry>);

fn read_file(path: &Path) -> Result<Option<DrainFile>, String> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    if !meta.is_file() || meta.len() > MAX_FILE_BYTES {
        return Err(format!(
            "not a regular file of at most {MAX_FILE_BYTES} bytes"
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let file: DrainFile = serde_json::from_str(&text).map_err(|e| format!("malformed: {e}"))?;
    Ok(Some(file))
}

/// Writes the file whole and synced: after a crash it is the old or the new version.
fn write_file(path: &Path, file: &DrainFile) -> std::io::Result<()> {
    let mut text = serde_json::to_vec_pretty(file).map_err(std::io::Error::other)?;
    text.push(b'\n');
    write_atomically(path, &text, 0o644, Durability::AcrossReboots)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "vipd-drains-{}-{name}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn drains_survive_a_reopen() {
        let dir = temp_dir("reopen");
        let (mut store, problem) = DrainStore::open(&dir);
        assert!(problem.is_none());
        assert!(store.get("VI_1").is_none());
        store
            .update(&[
                (
                    "VI_1".into(),
                    Some(DrainEntry::new(DrainMode::Soft, "uid 0")),
                ),
                (
                    "VI_2".into(),
                    Some(DrainEntry::new(DrainMode::Hard, "uid 0")),
                ),
            ])
            .unwrap();
        let (store, problem) = DrainStore::open(&dir);
        assert!(problem.is_none());
        assert_eq!(store.get("VI_1").unwrap().mode(), DrainMode::Soft);
        assert_eq!(store.get("VI_2").unwrap().mode(), DrainMode::Hard);
        assert_eq!(store.get("VI_2").unwrap().by, "uid 0");
        let mut store = store;
        store.update(&[("VI_1".into(), None)]).unwrap();
        let (store, _) = DrainStore::open(&dir);
        assert_eq!(store.names().collect::<Vec<_>>(), ["VI_2"]);
        // No temporary files left behind.
        let files: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(files.len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_malformed_file_is_reported_and_kept_until_rewritten() {
        let dir = temp_dir("malformed");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(FILE_NAME), "{not json").unwrap();
        let (store, problem) = DrainStore::open(&dir);
        let problem = problem.unwrap();
        assert!(problem.contains("drain.json: malformed"), "{problem}");
        assert!(store.get("VI_1").is_none());
        assert_eq!(
            std::fs::read_to_string(dir.join(FILE_NAME)).unwrap(),
            "{not json"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_write_changes_nothing() {
        // A file where the directory should be: every write fails.
        let dir = temp_dir("unwritable");
        std::fs::write(&dir, "").unwrap();
        let (mut store, _) = DrainStore::open(&dir);
        let error = store
            .update(&[("VI_1".into(), Some(DrainEntry::new(DrainMode::Soft, "x")))])
            .unwrap_err();
        assert!(error.contains("cannot write"), "{error}");
        assert!(store.get("VI_1").is_none());
        std::fs::remove_file(&dir).unwrap();
    }

    #[test]
    fn an_unknown_mode_counts_as_hard() {
        let entry = DrainEntry {
            mode: "future".into(),
            since: 0,
            by: String::new(),
        };
        assert_eq!(entry.mode(), DrainMode::Hard);
    }

    /// A FIFO at the temporary file's name (anyone who may write the directory can leave
    /// one) blocked the write for good, on the event loop: it is removed and the file made.
    #[test]
    fn a_fifo_at_the_temporary_name_does_not_block_the_write() {
        let dir = std::env::temp_dir().join(format!("vipd-drains-fifo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let tmp = dir.join(format!(".{FILE_NAME}.{}.tmp", std::process::id()));
        nix::unistd::mkfifo(&tmp, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let (done, finished) = std::sync::mpsc::channel();
        let path = dir.clone();
        std::thread::spawn(move || {
            let (mut store, _) = DrainStore::open(&path);
            let entry = DrainEntry::new(DrainMode::Soft, "x");
            let _ = done.send(store.update(&[("VI_1".into(), Some(entry))]));
        });
        let result = finished.recv_timeout(std::time::Duration::from_secs(10));
        assert!(matches!(result, Ok(Ok(()))), "{result:?}");
        let (store, problem) = DrainStore::open(&dir);
        assert_eq!((problem, store.names().count()), (None, 1));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
