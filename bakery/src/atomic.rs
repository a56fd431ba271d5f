//! Files that appear whole or not at all: written to a hidden temp file in the target
//! directory, then renamed over the target. Dropping an uncommitted [`PendingFile`] removes it.
//!
//! `tempfile` does the hard parts (an unpredictable name opened with O_EXCL, mode 0600 from
//! the first byte, removal on drop, `persist` and `persist_noclobber`); this module adds the
//! fsync before the rename and the final mode: 0644 for images and release files, 0600 kept
//! for files that may hold secrets, and error messages that name the file.

use crate::{err, Result};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use tempfile::NamedTempFile;

pub struct PendingFile {
    temp: NamedTempFile,
    target: PathBuf,
}

impl PendingFile {
    /// Creates the temp file (mode 0600) next to `target`. Fails when the directory is
    /// missing or not writable, before any work is done.
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
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{file_name}.tmp-"))
            .tempfile_in(&dir)
            .map_err(|e| err!("cannot write to {}: {e}", dir.display()))?;
        Ok(PendingFile {
            temp,
            target: target.to_path_buf(),
        })
    }

    pub fn file(&mut self) -> &mut File {
        self.temp.as_file_mut()
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Flushes to disk, sets `mode` and renames the temp file onto the target.
    fn commit_with_mode(mut self, mode: u32) -> Result<()> {
        let temp_path = self.temp.path().to_path_buf();
        let file = self.temp.as_file_mut();
        file.flush()
            .and_then(|()| file.set_permissions(std::fs::Permissions::from_mode(mode)))
            .and_then(|()| file.sync_all())
            .map_err(|e| err!("cannot write {}: {e}", temp_path.display()))?;
        self.temp
            .persist(&self.target)
            .map_err(|e| err!("cannot rename onto {}: {}", self.target.display(), e.error))?;
        Ok(())
    }

    /// Commits a world-readable (0644) file.
    pub fn commit(self) -> Result<()> {
        self.commit_with_mode(0o644)
    }

    /// Commits a file only its owner may read (0600): it never had another mode.
    pub fn commit_private(self) -> Result<()> {
        self.commit_with_mode(0o600)
    }
}

/// Writes `contents` to `target` atomically, world-readable.
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
/// mode 0600 from the first byte to the end.
pub fn write_private(target: &Path, contents: &[u8]) -> Result<()> {
    let mut pending = PendingFile::create(target)?;
    pending
        .file()
        .write_all(contents)
        .map_err(|e| err!("cannot write {}: {e}", target.display()))?;
    pending.commit_private()
}

/// Creates `target` with `contents` and `mode`, whole or not at all, and never over an
/// existing file (an overwritten signing key is lost for good): the temp file of
/// [`PendingFile`] (mode 0600 from creation, so a secret is never readable by others, not
/// even while empty) gets `mode`, `contents` and an fsync, then `tempfile`'s
/// `persist_noclobber` gives it the name, which fails when the name exists.
pub fn create_new(target: &Path, contents: &[u8], mode: u32) -> Result<()> {
    if target.symlink_metadata().is_ok() {
        return Err(err!("{} exists; not overwriting it", target.display()));
    }
    let mut pending = PendingFile::create(target)?;
    let temp_path = pending.temp.path().to_path_buf();
    let file = pending.file();
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .and_then(|()| file.write_all(contents))
        .and_then(|()| file.sync_all())
        .map_err(|e| err!("cannot write {}: {e}", temp_path.display()))?;
    pending
        .temp
        .persist_noclobber(&pending.target)
        .map(drop)
        .map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                err!("{} exists; not overwriting it", target.display())
            } else {
                err!("cannot create {}: {}", target.display(), e.error)
            }
        })
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

    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn private_file_stays_owner_only_and_public_file_is_world_readable() {
        let dir = scratch("mode");
        write_private(&dir.join("secret.ign"), b"password").unwrap();
        assert_eq!(mode(&dir.join("secret.ign")), 0o600);
        write(&dir.join("image.raw"), b"image").unwrap();
        assert_eq!(mode(&dir.join("image.raw")), 0o644);
        // Replacing an existing world-readable file does not keep its mode.
        write_private(&dir.join("image.raw"), b"secret now").unwrap();
        assert_eq!(mode(&dir.join("image.raw")), 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn create_new_sets_the_mode_and_never_replaces_a_file() {
        let dir = scratch("new");
        create_new(&dir.join("key.asc"), b"secret", 0o600).unwrap();
        assert_eq!(mode(&dir.join("key.asc")), 0o600);
        create_new(&dir.join("key.pub"), b"public", 0o644).unwrap();
        assert_eq!(mode(&dir.join("key.pub")), 0o644);
        let e = create_new(&dir.join("key.asc"), b"other", 0o600).unwrap_err();
        assert!(e.0.contains("exists; not overwriting it"), "{e}");
        assert_eq!(std::fs::read(dir.join("key.asc")).unwrap(), b"secret");
        // Nothing is left behind: the two files and no temp file.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_dir_is_an_error() {
        let e = write(Path::new("/nonexistent-bake-dir/x"), b"").unwrap_err();
        assert!(e.0.contains("does not exist"), "{e}");
    }
}
