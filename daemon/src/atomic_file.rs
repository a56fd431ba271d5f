//! Replacing a small file whole: the state directory's files (VIP records, AH sequence marks,
//! drains) are read back after a crash or a restart, so a reader must find the old version
//! or the new one, never part of one.
//!
//! The bytes go to a new temporary file beside the target (`.NAME.PID.tmp`: created with
//! `O_EXCL`, so a symlink or FIFO someone left at that name is neither followed nor waited
//! on; whatever is there is removed first), which is then renamed over the target (a symlink
//! at the target is replaced, not followed). Hand-written rather than the `tempfile` crate:
//! create-new in the same directory and `rename` is all it takes.
//!
//! The temporary name is unique per process and target: each caller writes one target at a
//! time (`VipState` through `&mut`, the AH marks behind their writers' lock, the drains one
//! write in flight).

use std::ffi::OsString;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Whether a write must outlast a crash of the machine, not only of the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// The page cache suffices: the file matters only until the next boot (the VIP record:
    /// a reboot took its addresses). No sync, so a write on the event loop never waits for a
    /// slow disk.
    ThisBoot,
    /// The file and its directory are synced before the call returns: after a power cut the
    /// file is the old or the new version (drains, AH marks). Call it off the event loop.
    AcrossReboots,
}

/// Replaces `path` with `bytes` (file mode `mode`, less the umask), atomically. The missing
/// directory is created, mode 0700. On error the old file, if any, is untouched and no
/// temporary file is left.
pub fn write_atomically(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    durability: Durability,
) -> io::Result<()> {
    let context =
        |e: io::Error| io::Error::new(e.kind(), format!("writing {}: {e}", path.display()));
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| io::Error::new(e.kind(), format!("creating {}: {e}", dir.display())))?;
    }
    let temporary = temporary_path(path);
    let result = (|| {
        match fs::remove_file(&temporary) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temporary)?;
        file.write_all(bytes)?;
        if durability == Durability::AcrossReboots {
            file.sync_all()?;
        }
        drop(file);
        fs::rename(&temporary, path)?;
        if durability == Durability::AcrossReboots {
            fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result.map_err(context)
}

/// `.NAME.PID.tmp` beside `path`.
pub fn temporary_path(path: &Path) -> PathBuf {
    let mut name = OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(".{}.tmp", std::process::id()));
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vipd-atomic-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_write_replaces_the_file_whole_and_leaves_nothing_else() {
        let dir = temp_dir("whole").join("state");
        let path = dir.join("f.json");
        for durability in [Durability::ThisBoot, Durability::AcrossReboots] {
            for n in 0..20u8 {
                let bytes = vec![b'a' + n % 26; usize::from(n) * 100];
                write_atomically(&path, &bytes, 0o600, durability).unwrap();
                assert_eq!(fs::read(&path).unwrap(), bytes);
            }
        }
        assert_eq!(names(&dir), ["f.json"]);
        assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    }

    /// A symlink at the target is replaced, its target left alone; a symlink or a FIFO at
    /// the temporary name is removed, not followed or waited on.
    #[test]
    fn symlinks_and_fifos_are_neither_followed_nor_waited_on() {
        let dir = temp_dir("hostile");
        fs::create_dir_all(&dir).unwrap();
        let victim = dir.join("victim");
        fs::write(&victim, b"keep").unwrap();
        let path = dir.join("f.json");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        write_atomically(&path, b"new", 0o600, Durability::ThisBoot).unwrap();
        assert!(fs::symlink_metadata(&path).unwrap().is_file());
        assert_eq!(fs::read(&victim).unwrap(), b"keep");

        std::os::unix::fs::symlink(&victim, temporary_path(&path)).unwrap();
        write_atomically(&path, b"newer", 0o600, Durability::ThisBoot).unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"keep");
        assert_eq!(fs::read(&path).unwrap(), b"newer");

        nix::unistd::mkfifo(
            &temporary_path(&path),
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )
        .unwrap();
        let (done, finished) = std::sync::mpsc::channel();
        let target = path.clone();
        std::thread::spawn(move || {
            let _ = done.send(write_atomically(
                &target,
                b"newest",
                0o600,
                Durability::AcrossReboots,
            ));
        });
        let result = finished.recv_timeout(std::time::Duration::from_secs(10));
        assert!(matches!(result, Ok(Ok(()))), "{result:?}");
        assert_eq!(fs::read(&path).unwrap(), b"newest");
        assert_eq!(names(&dir), ["f.json", "victim"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    /// A write that fails (here: a directory at the temporary name) leaves the old file.
    #[test]
    fn a_failed_write_leaves_the_old_file() {
        let dir = temp_dir("failed");
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f.json");
        write_atomically(&path, b"old", 0o644, Durability::ThisBoot).unwrap();
        fs::create_dir(temporary_path(&path)).unwrap();
        fs::write(temporary_path(&path).join("x"), b"").unwrap();
        let error = write_atomically(&path, b"new", 0o644, Durability::AcrossReboots)
            .unwrap_err()
            .to_string();
        assert!(error.contains("f.json"), "{error}");
        assert_eq!(fs::read(&path).unwrap(), b"old");
        fs::remove_dir_all(&dir).unwrap();
    }
}
