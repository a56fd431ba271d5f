//! Files that appear whole or not at all: written to a hidden temp file in the target
//! directory, then renamed over the target. Dropping an uncommitted [`PendingFile`] removes it.

use crate::{err, Result};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

pub struct PendingFile {
    temp: PathBuf,
    target: PathBuf,
    file: Option<File>,
}

impl PendingFile {
    /// Creates the temp file next to `target`. Fails when the directory is missing or not
    /// writable, before any work is done.
    pub fn create(target: &Path) -> Result<PendingFile> {
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dir.is_dir() {
            return Err(err!("output directory {} does not exist", dir.display()));
        }
        let file_name = target
            .file_name()
            .ok_or_else(|| err!("{} has no file name", target.display()))?
            .to_string_lossy()
            .into_owned();
        let temp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&temp)
            .or_else(|e| {
                // A leftover from a killed run with the same pid: replace it.
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    std::fs::remove_file(&temp)?;
                    File::options().write(true).create_new(true).open(&temp)
                } else {
                    Err(e)
                }
            })
            .map_err(|e| err!("cannot write to {}: {e}", dir.display()))?;
        Ok(PendingFile {
            temp,
            target: target.to_path_buf(),
            file: Some(file),
        })
    }

    pub fn file(&mut self) -> &mut File {
        // `file` is only taken by `commit`, which consumes self.
        self.file.as_mut().unwrap_or_else(|| unreachable!())
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Flushes to disk and renames the temp file onto the target.
    pub fn commit(mut self) -> Result<()> {
        if let Some(mut file) = self.file.take() {
            file.flush()
                .and_then(|()| file.sync_all())
                .map_err(|e| err!("cannot write {}: {e}", self.temp.display()))?;
        }
        std::fs::set_permissions(
            &self.temp,
            std::os::unix::fs::PermissionsExt::from_mode(0o644),
        )
        .map_err(|e| err!("cannot set mode on {}: {e}", self.temp.display()))?;
        std::fs::rename(&self.temp, &self.target)
            .map_err(|e| err!("cannot rename onto {}: {e}", self.target.display()))?;
        self.temp = PathBuf::new();
        Ok(())
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        if !self.temp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// Writes `contents` to `target` atomically.
pub fn write(target: &Path, contents: &[u8]) -> Result<()> {
    let mut pending = PendingFile::create(target)?;
    pending
        .file()
        .write_all(contents)
        .map_err(|e| err!("cannot write {}: {e}", target.display()))?;
    pending.commit()
}

/// The first half of [`write`]: `contents` in the temp file, ready to [`PendingFile::commit`]
/// (for files that must all be written before any is renamed into place).
pub fn prepare(target: &Path, contents: &[u8]) -> Result<PendingFile> {
    let mut pending = PendingFile::create(target)?;
    pending
        .file()
        .write_all(contents)
        .map_err(|e| err!("cannot write {}: {e}", target.display()))?;
    Ok(pending)
}

/// Like [`write`] for files that may hold secrets (a rendered config with a VRRP password):
/// mode 0600 from the start.
pub fn write_private(target: &Path, contents: &[u8]) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut pending = PendingFile::create(target)?;
    pending
        .file()
        .set_permissions(std::fs::Permissions::from_mode(0o600))
        .and_then(|()| pending.file().write_all(contents))
        .map_err(|e| err!("cannot write {}: {e}", target.display()))?;
    pending.commit()
}

/// Creates `target` with `contents` and `mode`, whole or not at all, and never over an
/// existing file (an overwritten signing key is lost for good): a temp file created with
/// `mode` from the start (a secret is never readable by others, not even while empty), then
/// hard-linked to the name, which fails when the name exists.
pub fn create_new(target: &Path, contents: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(err!("output directory {} does not exist", dir.display()));
    }
    if target.symlink_metadata().is_ok() {
        return Err(err!("{} exists; not overwriting it", target.display()));
    }
    let name = target
        .file_name()
        .ok_or_else(|| err!("{} has no file name", target.display()))?
        .to_string_lossy();
    let temp = dir.join(format!(".{name}.new-{}", std::process::id()));
    let _ = std::fs::remove_file(&temp);
    let written = File::options()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&temp)
        .and_then(|mut f| {
            // The umask may have cleared bits of `mode`; set exactly `mode`.
            f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))?;
            f.write_all(contents)?;
            f.sync_all()
        })
        .map_err(|e| err!("cannot write {}: {e}", temp.display()))
        .and_then(|()| {
            std::fs::hard_link(&temp, target).map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    err!("{} exists; not overwriting it", target.display())
                } else {
                    err!("cannot create {}: {e}", target.display())
                }
            })
        });
    let _ = std::fs::remove_file(&temp);
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("bake-atomic-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn dropped_pending_file_leaves_nothing() {
        let dir = scratch("drop");
        {
            let mut p = PendingFile::create(&dir.join("x.raw")).unwrap();
            p.file().write_all(b"partial").unwrap();
        }
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        write(&dir.join("y"), b"whole").unwrap();
        assert_eq!(std::fs::read(dir.join("y")).unwrap(), b"whole");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_dir_is_an_error() {
        let e = write(Path::new("/nonexistent-bake-dir/x"), b"").unwrap_err();
        assert!(e.0.contains("does not exist"), "{e}");
    }
}
