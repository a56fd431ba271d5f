//! Names that end up in file names, sysupdate patterns and transfer files: versions,
//! architectures, OS ids, base URLs. Below every other module: `release`, `remote` and
//! `firstboot` all check their names here.

use crate::{err, Result};

/// A sysext architecture as systemd spells it (`ARCHITECTURE=`, `%a`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Arch {
    X86_64,
    Arm64,
}

/// ELF `e_machine` values for the supported architectures.
pub const EM_X86_64: u16 = 62;
pub const EM_AARCH64: u16 = 183;

impl Arch {
    pub const ALL: [Arch; 2] = [Arch::X86_64, Arch::Arm64];

    pub fn parse(s: &str) -> Result<Arch> {
        match s {
            "x86-64" => Ok(Arch::X86_64),
            "arm64" => Ok(Arch::Arm64),
            _ => Err(err!("unknown architecture {s:?}: expected x86-64 or arm64")),
        }
    }

    /// The name systemd uses (`ARCHITECTURE=`, `%a` in sysupdate patterns).
    pub fn systemd_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86-64",
            Arch::Arm64 => "arm64",
        }
    }

    pub fn rust_target(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-linux-musl",
            Arch::Arm64 => "aarch64-unknown-linux-musl",
        }
    }

    pub fn elf_machine(self) -> u16 {
        match self {
            Arch::X86_64 => EM_X86_64,
            Arch::Arm64 => EM_AARCH64,
        }
    }

    pub fn from_elf_machine(machine: u16) -> Option<Arch> {
        Arch::ALL.into_iter().find(|a| a.elf_machine() == machine)
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.systemd_name())
    }
}

/// Parses a comma-separated list such as `x86-64,arm64` (duplicates removed, order kept).
pub fn parse_arch_list(s: &str) -> Result<Vec<Arch>> {
    let mut arches = Vec::new();
    for part in s.split(',') {
        let arch = Arch::parse(part.trim())?;
        if !arches.contains(&arch) {
            arches.push(arch);
        }
    }
    Ok(arches)
}

/// Checks a release version. `-` would make `NAME-@v-%a.raw` ambiguous, `/` would leave the
/// directory, whitespace breaks SHA256SUMS lines.
pub fn validate_version(version: &str) -> Result<()> {
    if version.is_empty() {
        return Err(err!("version must not be empty"));
    }
    if let Some(c) = version
        .chars()
        .find(|c| *c == '-' || *c == '/' || c.is_whitespace() || c.is_control())
    {
        return Err(err!(
            "version {version:?} contains {c:?}: versions must not contain '-', '/' or whitespace (the image name is NAME-VERSION-ARCH.raw)"
        ));
    }
    if version == "." || version == ".." {
        return Err(err!("version {version:?} is not a valid file name part"));
    }
    Ok(())
}

/// Checks an image name from a recipe: it is part of file and unit names.
pub fn validate_image_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(err!(
            "image name {name:?} must be non-empty and use only A-Z a-z 0-9 _ . -"
        ))
    }
}

/// Checks `--os-id`: `_any` or an os-release ID (lowercase letters, digits, `_ . -`).
pub fn validate_os_id(id: &str) -> Result<()> {
    let ok = id == "_any"
        || (!id.is_empty()
            && id.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.' || c == '-'
            }));
    if ok {
        Ok(())
    } else {
        Err(err!(
            "os id {id:?} must be `_any` or an os-release ID (a-z 0-9 _ . -)"
        ))
    }
}

/// `NAME-VERSION-ARCH.raw`, the file name sysupdate's `MatchPattern=NAME-@v-%a.raw` expects.
pub fn image_file_name(name: &str, version: &str, arch: Arch) -> String {
    format!("{name}-{version}-{}.raw", arch.systemd_name())
}

/// Splits `NAME-VERSION-ARCH.raw` into its parts when `name` is known.
pub fn parse_image_file_name<'a>(name: &str, file: &'a str) -> Option<(&'a str, Arch)> {
    let rest = file
        .strip_prefix(name)?
        .strip_prefix('-')?
        .strip_suffix(".raw")?;
    Arch::ALL.into_iter().find_map(|arch| {
        let version = rest.strip_suffix(arch.systemd_name())?.strip_suffix('-')?;
        validate_version(version).ok().map(|()| (version, arch))
    })
}

/// The sysext name systemd derives from an image file name: `NAME.raw` or the versioned
/// `NAME-VERSION-ARCH.raw`.
pub fn sysext_name_from_file(file: &str) -> String {
    let stem = file.strip_suffix(".raw").unwrap_or(file);
    for arch in Arch::ALL {
        if let Some(without_arch) = stem
            .strip_suffix(arch.systemd_name())
            .and_then(|s| s.strip_suffix('-'))
        {
            if let Some((name, version)) = without_arch.rsplit_once('-') {
                if !name.is_empty() && validate_version(version).is_ok() {
                    return name.to_string();
                }
            }
        }
    }
    stem.to_string()
}

/// Orders versions the way humans (and sysupdate) expect: digit runs compare as numbers.
pub fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            let boundary =
                i == bytes.len() || bytes[i].is_ascii_digit() != bytes[i - 1].is_ascii_digit();
            if boundary {
                out.push((bytes[start].is_ascii_digit(), &s[start..i]));
                start = i;
            }
        }
        out
    }
    if a.is_empty() || b.is_empty() {
        return a.cmp(b);
    }
    for (x, y) in chunks(a).into_iter().zip(chunks(b)) {
        let ord = match (x, y) {
            ((true, x), (true, y)) => {
                let (x, y) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
                x.len().cmp(&y.len()).then_with(|| x.cmp(y))
            }
            ((_, x), (_, y)) => x.cmp(y),
        };
        if ord.is_ne() {
            return ord;
        }
    }
    chunks(a).len().cmp(&chunks(b).len()).then_with(|| a.cmp(b))
}

/// A base URL nodes and bake fetch from: `https://`, or `http://` only with `allow_http`
/// (`--insecure-http`): over plain HTTP anyone on the path can hold updates back or, for an
/// unsigned release, hand nodes any image.
pub fn validate_base_url(url: &str, allow_http: bool) -> Result<()> {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(err!("base URL {url:?} contains whitespace"));
    }
    if url.starts_with("https://") || (allow_http && url.starts_with("http://")) {
        Ok(())
    } else if url.starts_with("http://") {
        Err(err!(
            "base URL {url:?} is plain http: use https://, or pass --insecure-http to accept that anyone on the network path can tamper with what nodes download"
        ))
    } else {
        Err(err!("base URL {url:?} must start with https://"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        for good in ["1.0", "1.2.3", "2024.11.1", "1_0", "v1"] {
            assert!(validate_version(good).is_ok(), "{good}");
        }
        for bad in ["", "1-0", "a/b", "1 0", "1\t", ".", ".."] {
            assert!(validate_version(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn file_names_round_trip() {
        let file = image_file_name("vipd", "1.2.3", Arch::X86_64);
        assert_eq!(file, "vipd-1.2.3-x86-64.raw");
        assert_eq!(
            parse_image_file_name("vipd", &file),
            Some(("1.2.3", Arch::X86_64))
        );
        assert_eq!(
            parse_image_file_name("vipd", "vipd-1-arm64.raw"),
            Some(("1", Arch::Arm64))
        );
        assert_eq!(parse_image_file_name("vipd", "vipd.raw"), None);
        assert_eq!(parse_image_file_name("vipd", "other-1-arm64.raw"), None);
        assert_eq!(sysext_name_from_file("vipd-1.0-x86-64.raw"), "vipd");
        assert_eq!(sysext_name_from_file("vipd.raw"), "vipd");
        assert_eq!(
            sysext_name_from_file("docker-compose-2.1-arm64.raw"),
            "docker-compose"
        );
    }

    #[test]
    fn version_order() {
        use std::cmp::Ordering::*;
        assert_eq!(compare_versions("1.9", "1.10"), Less);
        assert_eq!(compare_versions("2.0", "1.10"), Greater);
        assert_eq!(compare_versions("1.0", "1.0"), Equal);
        assert_eq!(compare_versions("1.0", "1.0.1"), Less);
    }

    #[test]
    fn arch_lists() {
        assert_eq!(
            parse_arch_list("x86-64,arm64,x86-64").unwrap(),
            vec![Arch::X86_64, Arch::Arm64]
        );
        assert!(parse_arch_list("x86_64").is_err());
    }
}
