//! Script security, as keepalived's `enable_script_security` (always on in vipd): everything
//! a script run depends on must be safe from non-root users. That is the program, every file
//! it is given to interpret (`/bin/sh /path/x.sh`, `python3 x.py`), the interpreter named on
//! a `#!` line, every directory on the way to each of them and every symbolic link followed.
//!
//! keepalived's rules (lib/notify.c `check_security`), applied to each object on the way:
//! - it is owned by root (vipd also accepts its own uid: a daemon can only hurt itself);
//! - a directory without the sticky bit, or a regular file, is neither world-writable nor
//!   group-writable by a group other than root. A sticky directory (like /tmp) only lets
//!   owners rename or remove entries, and the entry below it is checked in turn.
//!
//! Unlike keepalived, which resolves the path with realpath(3) and then runs the resolved
//! file (so `pidof -> killall5` runs as killall5), vipd walks the path as written, checks
//! each symbolic link it follows and the link's target, and leaves the path it executes as
//! written: multi-call binaries keep their name.

use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

/// Symbolic links followed at most while resolving one path (Linux's limit).
const MAX_LINKS: usize = 40;

/// Why a program or file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// It (or a directory on the way) does not exist.
    Missing(String),
    /// A non-root user could change what runs.
    Unsafe(String),
    /// Exists but cannot be used (not a file, not executable, unreadable).
    Unusable(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Missing(m) | Refusal::Unsafe(m) | Refusal::Unusable(m) => f.write_str(m),
        }
    }
}

/// Why one object on the way is unsafe, if it is.
fn unsafe_reason(meta: &std::fs::Metadata, me: u32) -> Option<String> {
    let mode = meta.mode();
    if meta.uid() != 0 && meta.uid() != me {
        return Some(format!("is owned by uid {}", meta.uid()));
    }
    let ft = meta.file_type();
    let checked_for_writes = (ft.is_dir() && mode & 0o1000 == 0) || ft.is_file();
    if !checked_for_writes {
        return None;
    }
    if mode & 0o002 != 0 {
        return Some("is writable by others".to_string());
    }
    if mode & 0o020 != 0 && meta.gid() != 0 {
        return Some(format!("is writable by group {}", meta.gid()));
    }
    None
}

fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    let ft = meta.file_type();
    if ft.is_dir() {
        "directory"
    } else if ft.is_symlink() {
        "symbolic link"
    } else {
        "file"
    }
}

/// Resolves absolute `path` component by component, checking every directory, symbolic link
/// and the final object against the rules above. Returns the final object's metadata
/// (symbolic links followed) and its resolved location.
pub fn check_path(path: &Path, me: u32) -> Result<(PathBuf, std::fs::Metadata), Refusal> {
    if !path.is_absolute() {
        return Err(Refusal::Unusable(format!(
            "{}: not an absolute path",
            path.display()
        )));
    }
    let shown = path.display().to_string();
    // Components still to walk, last first.
    let mut pending: Vec<std::ffi::OsString> = Vec::new();
    push_components(&mut pending, path);
    let mut current = PathBuf::from("/");
    check_one(&current, &shown, me)?;
    let mut links = 0;
    while let Some(name) = pending.pop() {
        if name == ".." {
            current.pop();
            continue;
        }
        let next = current.join(&name);
        let meta = check_one(&next, &shown, me)?;
        if meta.file_type().is_symlink() {
            links += 1;
            if links > MAX_LINKS {
                return Err(Refusal::Unusable(format!(
                    "{shown}: too many symbolic links"
                )));
            }
            let target = std::fs::read_link(&next)
                .map_err(|e| Refusal::Unusable(format!("{shown}: {}: {e}", next.display())))?;
            if target.is_absolute() {
                current = PathBuf::from("/");
            }
            push_components(&mut pending, &target);
            continue;
        }
        if !pending.is_empty() && !meta.is_dir() {
            return Err(Refusal::Missing(format!(
                "{shown}: {} is not a directory",
                next.display()
            )));
        }
        current = next;
    }
    let meta =
        std::fs::metadata(&current).map_err(|e| Refusal::Missing(format!("{shown}: {e}")))?;
    Ok((current, meta))
}

fn push_components(pending: &mut Vec<std::ffi::OsString>, path: &Path) {
    let parts: Vec<std::ffi::OsString> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    pending.extend(parts.into_iter().rev());
}

fn check_one(path: &Path, shown: &str, me: u32) -> Result<std::fs::Metadata, Refusal> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            if path.as_os_str() == shown {
                Refusal::Missing(format!("{shown} does not exist"))
            } else {
                Refusal::Missing(format!(
                    "{shown} does not exist ({} is missing)",
                    path.display()
                ))
            }
        } else {
            Refusal::Unusable(format!("{shown}: {}: {e}", path.display()))
        }
    })?;
    if let Some(why) = unsafe_reason(&meta, me) {
        let what = kind_of(&meta);
        return Err(Refusal::Unsafe(format!(
            "refusing unsafe script {shown}: {what} {} {why} (mode {:o}); it and every \
             directory and link on its path must be owned by root and not writable by \
             non-root users",
            path.display(),
            meta.mode() & 0o7777
        )));
    }
    Ok(meta)
}

/// A regular file that `uid`/`gids` may execute (root: any execute bit).
pub fn check_executable(
    shown: &str,
    meta: &std::fs::Metadata,
    uid: u32,
    gids: &[u32],
) -> Result<(), Refusal> {
    let ft = meta.file_type();
    if !ft.is_file() {
        let what = if ft.is_dir() {
            "a directory"
        } else if ft.is_fifo() || ft.is_socket() || ft.is_char_device() || ft.is_block_device() {
            "a special file"
        } else {
            "not a regular file"
        };
        return Err(Refusal::Unusable(format!("{shown} is {what}")));
    }
    let mode = meta.mode();
    let allowed = if uid == 0 {
        mode & 0o111 != 0
    } else if meta.uid() == uid {
        mode & 0o100 != 0
    } else if gids.contains(&meta.gid()) {
        mode & 0o010 != 0
    } else {
        mode & 0o001 != 0
    };
    if allowed {
        Ok(())
    } else {
        Err(Refusal::Unusable(format!(
            "{shown} is not executable by uid {uid} (mode {:o})",
            mode & 0o7777
        )))
    }
}

/// What an interpreter program takes as its script file, judged by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Interpreter {
    Shell,
    Python,
    Perl,
    Other,
}

fn interpreter_of(program: &str) -> Option<Interpreter> {
    let base = program.rsplit('/').next().unwrap_or(program);
    let family = base.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    match family {
        "sh" | "bash" | "dash" | "ash" | "ksh" | "mksh" | "zsh" => Some(Interpreter::Shell),
        "python" => Some(Interpreter::Python),
        "perl" => Some(Interpreter::Perl),
        "ruby" | "php" | "node" | "nodejs" | "lua" | "tclsh" => Some(Interpreter::Other),
        _ => None,
    }
}

/// The file an interpreter invocation (`bash -e x.sh`, `python3 -u x.py`) runs, if it runs
/// one: `None` for inline code (`sh -c`, `python3 -c/-m`, `perl -e`), stdin, or a program
/// that is no known interpreter.
pub fn interpreted_file(argv: &[String]) -> Option<&str> {
    let (program, args) = argv.split_first()?;
    let kind = interpreter_of(program)?;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let a = arg.as_str();
        if a == "--" {
            return args.next().map(String::as_str).filter(|f| *f != "-");
        }
        if a == "-" {
            return None;
        }
        let option = a.starts_with('-') || (kind == Interpreter::Shell && a.starts_with('+'));
        if !option {
            return Some(a);
        }
        if a.starts_with("--") {
            continue;
        }
        let letters = &a[1..];
        let inline = match kind {
            Interpreter::Shell => letters.contains('c'),
            Interpreter::Python => letters.contains('c') || letters.contains('m'),
            Interpreter::Perl => letters.contains('e') || letters.contains('E'),
            Interpreter::Other => {
                letters.contains('e') || letters.contains('r') || letters.contains('c')
            }
        };
        if inline {
            return None;
        }
        let takes_value = match kind {
            Interpreter::Shell => matches!(letters, "o" | "O"),
            Interpreter::Python => letters.ends_with('W') || letters.ends_with('X'),
            _ => false,
        };
        if takes_value {
            args.next();
        }
    }
    None
}

/// The interpreter named on the `#!` line of `file`, with the program `/usr/bin/env` runs
/// when the line uses env. Unreadable or binary files give nothing.
pub fn shebang(file: &Path) -> Vec<String> {
    let mut head = [0u8; 256];
    let Ok(mut f) = std::fs::File::open(file) else {
        return Vec::new();
    };
    let n = f.read(&mut head).unwrap_or(0);
    let head = &head[..n];
    let Some(rest) = head.strip_prefix(b"#!") else {
        return Vec::new();
    };
    let line = rest.split(|&b| b == b'\n').next().unwrap_or_default();
    let words: Vec<String> = OsStr::from_bytes(line)
        .to_string_lossy()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let Some(first) = words.first() else {
        return Vec::new();
    };
    let mut out = vec![first.clone()];
    if first.rsplit('/').next() == Some("env") {
        if let Some(program) = words.iter().skip(1).find(|w| !w.starts_with('-')) {
            out.push(program.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn finds_the_file_an_interpreter_runs() {
        assert_eq!(
            interpreted_file(&argv(&["/bin/sh", "/etc/x.sh", "a"])),
            Some("/etc/x.sh")
        );
        assert_eq!(
            interpreted_file(&argv(&["bash", "-e", "-o", "pipefail", "x.sh"])),
            Some("x.sh")
        );
        assert_eq!(
            interpreted_file(&argv(&["python3", "-u", "-W", "ignore", "/opt/c.py"])),
            Some("/opt/c.py")
        );
        assert_eq!(
            interpreted_file(&argv(&["python3.11", "/opt/c.py"])),
            Some("/opt/c.py")
        );
        assert_eq!(
            interpreted_file(&argv(&["perl", "-w", "/opt/c.pl"])),
            Some("/opt/c.pl")
        );
        assert_eq!(interpreted_file(&argv(&["sh", "--", "x.sh"])), Some("x.sh"));
        for inline in [
            &["/bin/sh", "-c", "exit 0"][..],
            &["/bin/bash", "-ec", "exit 0"],
            &["python3", "-c", "print()"],
            &["python3", "-m", "http.server"],
            &["perl", "-e", "1"],
            &["sh", "-"],
            &["sh"],
            &["/usr/bin/curl", "http://x/"],
            &["killall", "-0", "haproxy"],
        ] {
            assert_eq!(interpreted_file(&argv(inline)), None, "{inline:?}");
        }
    }

    #[test]
    fn reads_the_shebang() {
        let dir = std::env::temp_dir().join(format!("vipd-shebang-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("a");
        std::fs::write(&f, "#!/bin/bash -e\necho\n").unwrap();
        assert_eq!(shebang(&f), vec!["/bin/bash".to_string()]);
        std::fs::write(&f, "#! /usr/bin/env -S python3 -u\n").unwrap();
        assert_eq!(
            shebang(&f),
            vec!["/usr/bin/env".to_string(), "python3".to_string()]
        );
        std::fs::write(&f, "\x7fELF....").unwrap();
        assert!(shebang(&f).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn walks_symlinks_and_reports_the_unsafe_part() {
        use std::os::unix::fs::PermissionsExt;
        if !nix::unistd::Uid::effective().is_root() {
            return;
        }
        let base = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("target")
            .join(format!("vipd-secwalk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("real")).unwrap();
        let base = std::fs::canonicalize(&base).unwrap();
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).unwrap();
        let file = base.join("real/prog");
        std::fs::write(&file, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("real", base.join("link")).unwrap();
        let (resolved, meta) = check_path(&base.join("link/prog"), 0).unwrap();
        assert_eq!(resolved, file);
        assert!(meta.is_file());
        // The directory a link points into is checked too.
        std::fs::set_permissions(base.join("real"), std::fs::Permissions::from_mode(0o777))
            .unwrap();
        let err = check_path(&base.join("link/prog"), 0).unwrap_err();
        assert!(
            matches!(&err, Refusal::Unsafe(m) if m.contains("real") && m.contains("writable by others")),
            "{err:?}"
        );
        std::fs::set_permissions(base.join("real"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        // A link owned by someone else could be pointed anywhere.
        std::os::unix::fs::lchown(base.join("link"), Some(65534), None).unwrap();
        let err = check_path(&base.join("link/prog"), 0).unwrap_err();
        assert!(
            matches!(&err, Refusal::Unsafe(m) if m.contains("symbolic link") && m.contains("uid 65534")),
            "{err:?}"
        );
        let err = check_path(&base.join("real/none"), 0).unwrap_err();
        assert!(matches!(err, Refusal::Missing(_)), "{err:?}");
        std::fs::remove_dir_all(&base).unwrap();
    }
}
