//! The image contents as a sorted tree, and its reproducible SquashFS encoding (backhand).

use crate::elf::{self, Linkage};
use crate::names::Arch;
use crate::recipe::{render, Recipe, TemplateVars};
use crate::{err, Result};
use backhand::compression::{CompressionOptions, Compressor, Zstd};
use backhand::{FilesystemCompressor, FilesystemWriter, NodeHeader};
use std::collections::BTreeMap;
use std::io::{Cursor, Seek, Write};
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Compression {
    #[default]
    Gzip,
    Zstd,
    Xz,
}

impl Compression {
    /// The matching `mksquashfs -comp` name.
    pub fn mksquashfs_name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Xz => "xz",
        }
    }
}

/// What goes into an image besides the recipe.
#[derive(Clone, Debug)]
pub struct ImageParams {
    pub version: String,
    pub arch: Arch,
    pub base_url: String,
    /// The transfer's `Verify=yes`: releases of this image are signed.
    pub verify: bool,
    /// `ID=` of extension-release: `flatcar` or `_any`.
    pub os_id: String,
    pub sysext_level: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    Dir,
    File { mode: u16, data: Vec<u8> },
}

/// Image contents keyed by path without the leading `/`. BTreeMap order puts every directory
/// before its children and makes the encoding independent of insertion order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tree {
    pub entries: BTreeMap<String, Entry>,
}

impl Tree {
    /// Adds a file and its parent directories.
    pub fn add_file(&mut self, path: &str, mode: u16, data: Vec<u8>) -> Result<()> {
        let rel = path.trim_start_matches('/');
        let mut parent = String::new();
        let mut parts = rel.split('/').peekable();
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                break;
            }
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(part);
            match self.entries.get(&parent) {
                Some(Entry::File { .. }) => {
                    return Err(err!("{path}: /{parent} is a file, not a directory"))
                }
                Some(Entry::Dir) => {}
                None => {
                    self.entries.insert(parent.clone(), Entry::Dir);
                }
            }
        }
        if self.entries.contains_key(rel) {
            return Err(err!("{path} is added twice"));
        }
        self.entries
            .insert(rel.to_string(), Entry::File { mode, data });
        Ok(())
    }

    /// Writes the tree below `root` (for comparing with mksquashfs on the same input).
    pub fn write_to_dir(&self, root: &Path) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        for (path, entry) in &self.entries {
            let target = root.join(path);
            let (res, mode) = match entry {
                Entry::Dir => (std::fs::create_dir_all(&target), 0o755),
                Entry::File { mode, data } => (std::fs::write(&target, data), *mode),
            };
            res.and_then(|()| {
                std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode.into()))
            })
            .map_err(|e| err!("cannot write {}: {e}", target.display()))?;
        }
        Ok(())
    }
}

/// `/usr/lib/extension-release.d/extension-release.NAME`.
pub fn extension_release(params: &ImageParams) -> String {
    let mut text = format!("ID={}\n", params.os_id);
    if params.os_id != "_any" {
        text.push_str(&format!("SYSEXT_LEVEL={}\n", params.sysext_level));
    }
    text.push_str(&format!(
        "ARCHITECTURE={}\nEXTENSION_RELOAD_MANAGER=1\n",
        params.arch.systemd_name()
    ));
    text
}

/// Rejects a binary that is not a static ELF for `arch`.
pub fn check_binary(origin: &str, data: &[u8], arch: Arch) -> Result<()> {
    let info = elf::parse(data).map_err(|e| err!("{origin}: {e}"))?;
    if info.linkage == Linkage::Dynamic {
        return Err(err!(
            "{origin} is dynamically linked; a sysext binary must be static (build for {})",
            arch.rust_target()
        ));
    }
    if info.machine != arch.elf_machine() {
        let found = Arch::from_elf_machine(info.machine)
            .map(|a| a.to_string())
            .unwrap_or_else(|| format!("ELF machine {}", info.machine));
        return Err(err!(
            "{origin} is built for {found}, not {arch} (build for {})",
            arch.rust_target()
        ));
    }
    Ok(())
}

/// Everything the image holds: the binary, the recipe's files and the extension-release file.
pub fn assemble(recipe: &Recipe, binary: Vec<u8>, params: &ImageParams) -> Result<Tree> {
    let mut tree = Tree::default();
    tree.add_file(&recipe.binary.path, 0o755, binary)?;
    let vars = TemplateVars {
        name: &recipe.name,
        base_url: &params.base_url,
        version: &params.version,
        arch: params.arch.systemd_name(),
        verify: if params.verify { "yes" } else { "no" },
    };
    for file in &recipe.files {
        let contents = if file.template {
            render(&file.contents, &vars).map_err(|e| err!("{}: {e}", file.path))?
        } else {
            file.contents.clone()
        };
        tree.add_file(&file.path, file.mode, contents.into_bytes())?;
    }
    tree.add_file(
        &format!(
            "/usr/lib/extension-release.d/extension-release.{}",
            recipe.name
        ),
        0o644,
        extension_release(params).into_bytes(),
    )?;
    Ok(tree)
}

/// Encodes `tree` as SquashFS: root-owned, every time set to `mtime`, 128 KiB blocks.
pub fn write_squashfs<W: Write + Seek>(
    tree: &Tree,
    compression: Compression,
    mtime: u32,
    out: W,
) -> Result<u64> {
    let mut fs = FilesystemWriter::default();
    fs.set_time(mtime);
    // backhand's root directory defaults to mode 000, which hides /usr from the service user.
    fs.set_root_mode(0o755);
    fs.set_root_uid(0);
    fs.set_root_gid(0);
    // The same levels as mksquashfs's defaults (gzip 9, xz 6, zstd 15).
    let (compressor, options) = match compression {
        Compression::Gzip => (Compressor::Gzip, None),
        Compression::Zstd => (
            Compressor::Zstd,
            Some(CompressionOptions::Zstd(Zstd {
                compression_level: 15,
            })),
        ),
        Compression::Xz => (Compressor::Xz, None),
    };
    fs.set_compressor(
        FilesystemCompressor::new(compressor, options)
            .map_err(|e| err!("compressor {compression:?}: {e}"))?,
    );
    for (path, entry) in &tree.entries {
        let result = match entry {
            Entry::Dir => fs.push_dir(path, NodeHeader::new(0o755, 0, 0, mtime)),
            Entry::File { mode, data } => fs.push_file(
                Cursor::new(data.as_slice()),
                path,
                NodeHeader::new(*mode, 0, 0, mtime),
            ),
        };
        result.map_err(|e| err!("image: cannot add /{path}: {e}"))?;
    }
    let (_, size) = fs
        .write(out)
        .map_err(|e| err!("image: cannot write SquashFS: {e}"))?;
    Ok(size)
}

/// Reads SOURCE_DATE_EPOCH (default 0), the time stamped on every inode.
pub fn source_date_epoch() -> Result<u32> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Err(_) => Ok(0),
        Ok(s) if s.is_empty() => Ok(0),
        Ok(s) => s.trim().parse::<u32>().map_err(|_| {
            err!("SOURCE_DATE_EPOCH={s:?} is not a number of seconds between 0 and 4294967295")
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_adds_parents_and_refuses_duplicates() {
        let mut t = Tree::default();
        t.add_file("/usr/bin/a", 0o755, vec![1]).unwrap();
        t.add_file("/usr/lib/b", 0o644, vec![2]).unwrap();
        let keys: Vec<&str> = t.entries.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["usr", "usr/bin", "usr/bin/a", "usr/lib", "usr/lib/b"]
        );
        assert!(t.add_file("/usr/bin/a", 0o644, vec![]).is_err());
        assert!(t.add_file("/usr/bin/a/c", 0o644, vec![]).is_err());
    }

    #[test]
    fn extension_release_variants() {
        let mut p = ImageParams {
            version: "1".into(),
            arch: Arch::Arm64,
            base_url: String::new(),
            verify: true,
            os_id: "flatcar".into(),
            sysext_level: "1.0".into(),
        };
        assert_eq!(
            extension_release(&p),
            "ID=flatcar\nSYSEXT_LEVEL=1.0\nARCHITECTURE=arm64\nEXTENSION_RELOAD_MANAGER=1\n"
        );
        p.os_id = "_any".into();
        assert_eq!(
            extension_release(&p),
            "ID=_any\nARCHITECTURE=arm64\nEXTENSION_RELOAD_MANAGER=1\n"
        );
    }

    #[test]
    fn encoding_is_independent_of_insertion_order() {
        let mut a = Tree::default();
        a.add_file("/usr/bin/x", 0o755, b"x".to_vec()).unwrap();
        a.add_file("/opt/y", 0o644, b"y".to_vec()).unwrap();
        let mut b = Tree::default();
        b.add_file("/opt/y", 0o644, b"y".to_vec()).unwrap();
        b.add_file("/usr/bin/x", 0o755, b"x".to_vec()).unwrap();
        let mut out_a = Cursor::new(Vec::new());
        let mut out_b = Cursor::new(Vec::new());
        write_squashfs(&a, Compression::Gzip, 0, &mut out_a).unwrap();
        write_squashfs(&b, Compression::Gzip, 0, &mut out_b).unwrap();
        assert_eq!(out_a.into_inner(), out_b.into_inner());
    }
}
