//! The Butane (variant `flatcar`) subset the vipd templates use, as typed data: what
//! `bake butane` renders and what the rendered YAML parses back into.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub variant: String,
    pub version: String,
    #[serde(default)]
    pub storage: Storage,
    #[serde(default)]
    pub systemd: Systemd,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Storage {
    #[serde(default)]
    pub files: Vec<File>,
    #[serde(default)]
    pub links: Vec<Link>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    pub path: String,
    /// Permission bits. YAML `0644` is octal (420), as Butane's YAML 1.1 reader takes it.
    #[serde(default, deserialize_with = "octal_mode")]
    pub mode: Option<u32>,
    pub contents: Contents,
}

/// Exactly one of `source` and `inline` (checked by [`Config::check`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contents {
    pub source: Option<String>,
    pub inline: Option<String>,
    pub compression: Option<String>,
    pub verification: Option<Verification>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verification {
    /// `sha256-<hex>` or `sha512-<hex>`.
    pub hash: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    pub path: String,
    pub target: String,
    pub hard: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Systemd {
    #[serde(default)]
    pub units: Vec<Unit>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unit {
    pub name: String,
    pub enabled: Option<bool>,
    pub contents: Option<String>,
    #[serde(default)]
    pub dropins: Vec<Dropin>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dropin {
    pub name: String,
    pub contents: String,
}

/// A mode as an integer, or the text of a YAML 1.1 octal (`0644`, `0o644`), which YAML 1.2
/// readers hand over as a string.
fn octal_mode<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Mode {
        Int(u32),
        Text(String),
    }
    let parsed = match Option::<Mode>::deserialize(d)? {
        None => return Ok(None),
        Some(Mode::Int(n)) => n,
        Some(Mode::Text(t)) => {
            let digits = t.strip_prefix("0o").or_else(|| t.strip_prefix('0'));
            digits
                .filter(|d| !d.is_empty())
                .and_then(|d| u32::from_str_radix(d, 8).ok())
                .ok_or_else(|| {
                    serde::de::Error::custom(format!("mode {t:?} is not an octal number"))
                })?
        }
    };
    if parsed > 0o7777 {
        return Err(serde::de::Error::custom(format!(
            "mode {parsed:#o} is above 07777"
        )));
    }
    Ok(Some(parsed))
}

impl Config {
    /// The mistakes seen in copied snippets: a file with no contents (an empty `contents:`) or
    /// with both a URL and inline text, and hashes Ignition would refuse.
    pub fn check(&self) -> Result<(), String> {
        for (i, f) in self.storage.files.iter().enumerate() {
            let at = format!("storage.files[{i}] ({})", f.path);
            match (&f.contents.source, &f.contents.inline) {
                (Some(_), None) | (None, Some(_)) => {}
                (None, None) => {
                    return Err(format!("{at}: contents has neither source nor inline"))
                }
                (Some(_), Some(_)) => {
                    return Err(format!("{at}: contents has both source and inline"))
                }
            }
            if let Some(v) = &f.contents.verification {
                check_hash(&v.hash).map_err(|e| format!("{at}: verification.hash: {e}"))?;
            }
        }
        Ok(())
    }
}

/// `sha256-<64 hex>` or `sha512-<128 hex>`, lowercase, as Ignition accepts.
pub fn check_hash(hash: &str) -> Result<(), String> {
    let (len, hex) = match hash.split_once('-') {
        Some(("sha256", hex)) => (64, hex),
        Some(("sha512", hex)) => (128, hex),
        _ => return Err(format!("{hash:?} is not sha256-<hex> or sha512-<hex>")),
    };
    if hex.len() == len
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(format!("{hash:?}: expected {len} lowercase hex digits"))
    }
}
