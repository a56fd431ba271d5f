//! SHA256SUMS in the format systemd-sysupdate reads: `<64 lowercase hex><two spaces><name>\n`
//! (a space and `*` is accepted when reading), one line per file, ending in a newline.

use crate::{err, Result};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// File name -> lowercase hex SHA-256.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    pub entries: BTreeMap<String, String>,
}

impl Manifest {
    /// Parses a manifest; `origin` names it in errors (with the line number).
    pub fn parse(origin: &str, text: &str) -> Result<Manifest> {
        let mut entries = BTreeMap::new();
        if !text.is_empty() && !text.ends_with('\n') {
            return Err(err!("{origin}: does not end with a newline"));
        }
        for (i, line) in text.lines().enumerate() {
            let at = format!("{origin}:{}", i + 1);
            let (hash, name) = match (line.get(..64), line.get(64..66), line.get(66..)) {
                (Some(h), Some("  " | " *"), Some(n)) => (h, n),
                _ => {
                    return Err(err!(
                        "{at}: expected `<64 hex digits>  <file name>`, found {line:?}"
                    ))
                }
            };
            if !hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return Err(err!("{at}: {hash:?} is not a lowercase hex SHA-256"));
            }
            if name.is_empty()
                || name.contains('/')
                || name.chars().any(|c| c.is_control())
                || name.starts_with(char::is_whitespace)
            {
                return Err(err!("{at}: bad file name {name:?}"));
            }
            if entries.insert(name.to_string(), hash.to_string()).is_some() {
                return Err(err!("{at}: {name} is listed twice"));
            }
        }
        Ok(Manifest { entries })
    }

    /// Reads `path`; a missing file is an empty manifest.
    pub fn load(path: &Path) -> Result<Manifest> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let text = String::from_utf8(bytes)
                    .map_err(|_| err!("{}: not UTF-8 text", path.display()))?;
                Manifest::parse(&path.display().to_string(), &text)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest::default()),
            Err(e) => Err(err!("cannot read {}: {e}", path.display())),
        }
    }

    pub fn set(&mut self, name: &str, sha256_hex: String) {
        self.entries.insert(name.to_string(), sha256_hex);
    }

    /// Lines sorted by file name.
    pub fn render(&self) -> String {
        self.entries
            .iter()
            .map(|(name, hash)| format!("{hash}  {name}\n"))
            .collect()
    }
}

/// Lowercase hex SHA-256 of a file.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file =
        std::fs::File::open(path).map_err(|e| err!("cannot read {}: {e}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| err!("cannot read {}: {e}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const H1: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn round_trip_and_sorting() {
        let text = format!("{H1}  vipd-2-x86-64.raw\n{H1} *vipd-1-x86-64.raw\n");
        let m = Manifest::parse("t", &text).unwrap();
        assert_eq!(
            m.render(),
            format!("{H1}  vipd-1-x86-64.raw\n{H1}  vipd-2-x86-64.raw\n")
        );
        assert_eq!(Manifest::parse("t", "").unwrap().entries.len(), 0);
    }

    #[test]
    fn corrupt_manifests_are_refused_with_line_numbers() {
        let upper = H1.to_uppercase();
        let cases = [
            format!("{H1}  a\n{H1} a\n"),
            format!("{H1}  a"),
            format!("{upper}  a\n"),
            format!("{}  a\n", &H1[..63]),
            format!("{H1}  \n"),
            format!("{H1}  a/b\n"),
            format!("{H1}  a\n{H1}  a\n"),
            "garbage\n".to_string(),
        ];
        for case in cases {
            let e = Manifest::parse("SUMS", &case).unwrap_err();
            assert!(e.0.starts_with("SUMS"), "{case:?}: {e}");
        }
        let e = Manifest::parse("SUMS", &format!("{H1}  a\nxx\n")).unwrap_err();
        assert!(e.0.starts_with("SUMS:2:"), "{e}");
    }

    #[test]
    fn hashes_a_file() {
        let p = std::env::temp_dir().join(format!("bake-sha-{}", std::process::id()));
        std::fs::write(&p, b"").unwrap();
        assert_eq!(sha256_file(&p).unwrap(), H1);
        std::fs::remove_file(&p).unwrap();
    }
}
