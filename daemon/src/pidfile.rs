//! Pid files, as keepalived writes them (`/run/keepalived.pid`, `/run/vrrp.pid`): one line with
//! the daemon's pid, so that `kill -HUP $(cat /run/keepalived.pid)`, units with `PIDFile=` and
//! exporters that signal the pid for dumps (keepalived-exporter's `--ka.pid-path`) work
//! unchanged.
//!
//! Unlike keepalived 2.2.7, which refuses to start whenever the file names any live process (a
//! pid reused after a reboot keeps it down) or cannot be parsed, a file only stops vipd when it
//! names a running vipd or keepalived; anything else (a dead pid, a reused one, garbage, a
//! symlink) is stale and replaced. Files are written beside their final name, `O_EXCL` and
//! `O_NOFOLLOW`, mode 0644 whatever the umask, and moved into place (`link(2)` when there was
//! none, so two daemons starting at once cannot both win; `rename(2)` over a stale one, which
//! replaces a symlink instead of writing through it). On a clean exit each file is removed if it
//! still names this process.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// keepalived's pid file for its parent process (`keepalived -p`), where keepalived 2.2.7 as
/// Debian and RHEL build it puts it.
pub const KEEPALIVED_PID_FILE: &str = "/run/keepalived.pid";
/// keepalived's pid file for its VRRP process (`keepalived -r`).
pub const VRRP_PID_FILE: &str = "/run/vrrp.pid";

/// Process names a pid file of ours may name while that daemon runs: vipd, or vipd started
/// through a `keepalived` symlink (its comm is then `keepalived`), or keepalived itself.
const DAEMON_NAMES: &[&str] = &["vipd", "keepalived"];

/// What an existing pid file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Existing {
    /// No file.
    None,
    /// The pid of a running vipd or keepalived (not this process).
    Running { pid: i32, name: String },
    /// Anything else: why it does not count.
    Stale(String),
}

/// The pid files this process holds; removed when dropped (a clean exit), with the
/// directories made for them once empty.
#[derive(Debug)]
pub struct PidFiles {
    paths: Vec<PathBuf>,
    pid: i32,
    made_dirs: Vec<PathBuf>,
}

impl PidFiles {
    /// Writes this process's pid into every path, in order. Refused (nothing left behind)
    /// when one names a running daemon or cannot be written. Each stale file replaced comes
    /// back as a note for the log.
    pub fn create(paths: &[PathBuf]) -> Result<(PidFiles, Vec<String>), String> {
        Self::create_in(&[], paths)
    }

    /// [`PidFiles::create`], after making those of `dirs` that are missing (in order, mode
    /// 0755 whatever the umask), as keepalived makes `/run/keepalived/NAMESPACE`.
    pub fn create_in(
        dirs: &[PathBuf],
        paths: &[PathBuf],
    ) -> Result<(PidFiles, Vec<String>), String> {
        let pid = std::process::id() as i32;
        let mut held = PidFiles {
            paths: Vec::new(),
            pid,
            made_dirs: Vec::new(),
        };
        for dir in dirs {
            match fs::create_dir(dir) {
                Ok(()) => held.made_dirs.push(dir.clone()),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(format!("cannot make {}: {e}", dir.display())),
            }
            fs::set_permissions(dir, fs::Permissions::from_mode(0o755))
                .map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
        }
        let mut notes = Vec::new();
        for path in paths {
            if held.paths.contains(path) {
                continue;
            }
            if let Some(note) = write_one(path, pid)? {
                notes.push(note);
            }
            held.paths.push(path.clone());
        }
        Ok((held, notes))
    }

    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }
}

impl Drop for PidFiles {
    fn drop(&mut self) {
        for path in &self.paths {
            // Only our own: a file someone replaced since is theirs.
            if read_pid(path).ok().flatten() == Some(self.pid) {
                let _ = fs::remove_file(path);
            }
        }
        // Only when empty: another daemon's files may be there by now.
        for dir in self.made_dirs.iter().rev() {
            let _ = fs::remove_dir(dir);
        }
    }
}

/// One pid file: refused if it names a running daemon, else written (a stale one replaced:
/// the note says so).
fn write_one(path: &Path, pid: i32) -> Result<Option<String>, String> {
    let show = path.display();
    // Two rounds: a file that appears between our look and our link is judged again.
    for _ in 0..2 {
        let existing = judge(path, pid);
        if let Existing::Running { pid: other, name } = &existing {
            return Err(format!(
                "{show} names pid {other}, a running {name}: a daemon is running already (stop \
                 it first, or give this one its own pid file)"
            ));
        }
        let temporary = temporary_beside(path, pid)?;
        let placed = match &existing {
            Existing::None => fs::hard_link(&temporary, path),
            _ => fs::rename(&temporary, path),
        };
        let _ = fs::remove_file(&temporary);
        match placed {
            Ok(()) => {
                return Ok(match existing {
                    Existing::Stale(why) => {
                        Some(format!("replaced the stale pid file {show} ({why})"))
                    }
                    _ => None,
                })
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("cannot write the pid file {show}: {e}")),
        }
    }
    Err(format!(
        "cannot write the pid file {show}: another process keeps creating it"
    ))
}

/// `DIR/.NAME.PID.tmp` holding "PID\n", mode 0644, created exclusively (never through a
/// symlink).
fn temporary_beside(path: &Path, pid: i32) -> Result<PathBuf, String> {
    let name = path
        .file_name()
        .ok_or_else(|| format!("{}: not a file name", path.display()))?;
    let mut temporary_name = std::ffi::OsString::from(".");
    temporary_name.push(name);
    temporary_name.push(format!(".{pid}.tmp"));
    let temporary = path.with_file_name(temporary_name);
    // Left over from a crashed start with the same pid (a container restart): ours to reuse.
    let _ = fs::remove_file(&temporary);
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&temporary)
        .and_then(|mut file| {
            // The mode without the umask (the shipped unit's is 0077): tools that read the
            // file run as other users.
            file.set_permissions(fs::Permissions::from_mode(0o644))?;
            file.write_all(format!("{pid}\n").as_bytes())
        });
    match written {
        Ok(()) => Ok(temporary),
        Err(e) => {
            let _ = fs::remove_file(&temporary);
            Err(format!("cannot write the pid file {}: {e}", path.display()))
        }
    }
}

/// What the file at `path` says, for a process whose own pid is `own`.
pub fn judge(path: &Path, own: i32) -> Existing {
    let pid = match read_pid(path) {
        Ok(None) => return Existing::None,
        Ok(Some(pid)) => pid,
        Err(why) => return Existing::Stale(why),
    };
    if pid == own {
        // A restart that got the same pid (pid 1 in a container): left by our predecessor.
        return Existing::Stale(format!("pid {pid} is this process"));
    }
    match process_name(pid) {
        None => Existing::Stale(format!("pid {pid} is not running")),
        Some(name) if DAEMON_NAMES.contains(&name.as_str()) => Existing::Running { pid, name },
        Some(name) => Existing::Stale(format!("pid {pid} is `{name}`, not vipd or keepalived")),
    }
}

/// The pid in the file: `Ok(None)` when there is no file, `Err` with the reason it does not
/// hold one (not a regular file, a symlink, no number).
fn read_pid(path: &Path) -> Result<Option<i32>, String> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path);
    let file = match file {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Err("a symlink".to_string()),
        Err(e) => return Err(format!("unreadable: {e}")),
    };
    match file.metadata() {
        Ok(meta) if meta.is_file() => {}
        _ => return Err("not a regular file".to_string()),
    }
    let mut text = String::new();
    file.take(64)
        .read_to_string(&mut text)
        .map_err(|e| format!("unreadable: {e}"))?;
    match text.trim().parse::<i32>() {
        Ok(pid) if pid > 0 => Ok(Some(pid)),
        _ => Err(format!("`{}` is not a pid", text.trim().escape_debug())),
    }
}

/// The command name of a live process (`/proc/PID/comm`); None when there is no such process
/// or it is a zombie.
fn process_name(pid: i32) -> Option<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "PID (COMM) STATE ...": the state follows the last ')'.
    let state = stat.rsplit_once(')')?.1.trim_start().chars().next()?;
    if state == 'Z' || state == 'X' {
        return None;
    }
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(comm.trim_end().to_string())
}

/// The write end of the pipe the parent of a forked daemon waits on.
static READY: std::sync::Mutex<Option<std::os::fd::OwnedFd>> = std::sync::Mutex::new(None);

/// keepalived without `-n`: the process forks, the child goes on as the daemon in a new
/// session (stdin from /dev/null; stdout and stderr stay, so its log still reaches the journal
/// or the terminal), and the parent exits once the daemon is up ([`background_ready`]): 0, or
/// the daemon's own exit code when it stopped first (a bad configuration, a second daemon),
/// where keepalived's parent exits 0 at once whatever follows. Returns in the child only.
/// Must run while the process has one thread.
pub fn fork_to_background() -> Result<(), String> {
    use nix::unistd::{fork, pipe, setsid, ForkResult};
    let (read_end, write_end) = pipe().map_err(|e| format!("cannot fork: pipe: {e}"))?;
    // SAFETY: called before any other thread exists (first thing of `runtime::run`), so
    // the child may run any code.
    match unsafe { fork() }.map_err(|e| format!("cannot fork: {e}"))? {
        ForkResult::Parent { child } => {
            drop(write_end);
            let mut byte = [0u8; 1];
            let mut pipe = fs::File::from(read_end);
            let up = matches!(pipe.read(&mut byte), Ok(1));
            if up {
                std::process::exit(0);
            }
            let code = match nix::sys::wait::waitpid(child, None) {
                Ok(nix::sys::wait::WaitStatus::Exited(_, code)) if code != 0 => code,
                _ => 1,
            };
            std::process::exit(code);
        }
        ForkResult::Child => {
            drop(read_end);
            let _ = setsid();
            if let Ok(null) = fs::File::open("/dev/null") {
                use std::os::fd::AsRawFd;
                // SAFETY: dup2 onto stdin; both descriptors are valid.
                unsafe { libc::dup2(null.as_raw_fd(), libc::STDIN_FILENO) };
            }
            if let Ok(mut ready) = READY.lock() {
                *ready = Some(write_end);
            }
            Ok(())
        }
    }
}

/// The daemon is up: a parent waiting in [`fork_to_background`] exits 0, after `flush_log`
/// (the log lines so far reach the output first). Nothing otherwise.
/// A forked daemon then lets go of stdout, and of stderr when it is a pipe: whoever started
/// it (`$(keepalived)`, a configuration tool reading its output) would otherwise wait for the
/// pipe to close as long as vipd runs. The journal's stream, a terminal or a file keep the log.
pub fn background_ready(flush_log: impl FnOnce()) {
    let Ok(mut ready) = READY.lock() else {
        return;
    };
    let Some(fd) = ready.take() else {
        return;
    };
    flush_log();
    let _ = fs::File::from(fd).write_all(&[1]);
    let Ok(null) = OpenOptions::new().write(true).open("/dev/null") else {
        return;
    };
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::FileTypeExt;
    let stderr_is_pipe = fs::metadata("/proc/self/fd/2").is_ok_and(|m| m.file_type().is_fifo());
    // SAFETY: dup2 onto the standard descriptors; both are valid.
    unsafe {
        libc::dup2(null.as_raw_fd(), libc::STDOUT_FILENO);
        if stderr_is_pipe {
            libc::dup2(null.as_raw_fd(), libc::STDERR_FILENO);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "vipd-pidfile-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("test dir");
        dir
    }

    fn own() -> i32 {
        std::process::id() as i32
    }

    #[test]
    fn written_0644_with_the_pid_and_removed_on_drop() {
        let dir = dir("write");
        let path = dir.join("keepalived.pid");
        let (held, notes) = PidFiles::create(std::slice::from_ref(&path)).expect("create");
        assert!(notes.is_empty());
        assert_eq!(
            fs::read_to_string(&path).expect("read"),
            format!("{}\n", own())
        );
        let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        drop(held);
        assert!(!path.exists());
        assert_eq!(
            fs::read_dir(&dir).expect("dir").count(),
            0,
            "no temporary left"
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn stale_files_are_replaced_and_a_symlink_is_not_followed() {
        let dir = dir("stale");
        let target = dir.join("target");
        fs::write(&target, "precious\n").expect("target");
        type Make<'a> = Box<dyn Fn(&Path) + 'a>;
        let cases: Vec<(&str, Make)> = vec![
            (
                "garbage",
                Box::new(|p| fs::write(p, "garbage\n").expect("w")),
            ),
            (
                "dead pid",
                Box::new(|p| fs::write(p, "2147483646\n").expect("w")),
            ),
            (
                "this pid",
                Box::new(|p| fs::write(p, format!("{}\n", own())).expect("w")),
            ),
            (
                "symlink",
                Box::new(|p| symlink(&target, p).expect("symlink")),
            ),
        ];
        for (label, make) in cases {
            let path = dir.join(format!("{}.pid", label.replace(' ', "-")));
            make(&path);
            let (held, notes) = PidFiles::create(std::slice::from_ref(&path)).expect(label);
            assert_eq!(notes.len(), 1, "{label}: {notes:?}");
            assert!(notes[0].contains("stale"), "{label}: {notes:?}");
            let meta = fs::symlink_metadata(&path).expect("meta");
            assert!(meta.file_type().is_file(), "{label}: a regular file now");
            assert_eq!(
                fs::read_to_string(&path).expect("r"),
                format!("{}\n", own())
            );
            drop(held);
            assert!(!path.exists(), "{label}: removed");
        }
        assert_eq!(fs::read_to_string(&target).expect("r"), "precious\n");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_file_naming_another_process_that_is_no_daemon_is_stale() {
        let dir = dir("other");
        let path = dir.join("vrrp.pid");
        // pid 1 is init (or the sandbox's first process): alive, not vipd or keepalived.
        let name = process_name(1).expect("pid 1 runs");
        fs::write(&path, "1\n").expect("w");
        let judged = judge(&path, own());
        let _ = fs::remove_dir_all(&dir);
        if !DAEMON_NAMES.contains(&name.as_str()) {
            assert!(matches!(judged, Existing::Stale(_)), "{judged:?}");
        }
    }

    #[test]
    fn a_file_naming_a_running_daemon_refuses_and_is_kept() {
        let dir = dir("running");
        let path = dir.join("keepalived.pid");
        // This test binary is not called vipd: judge a running `keepalived`-named process by
        // its /proc name through a copy of `sleep` called keepalived.
        let sleep = dir.join("keepalived");
        fs::copy("/bin/sleep", &sleep).expect("copy sleep");
        let mut child = std::process::Command::new(&sleep)
            .arg("30")
            .spawn()
            .expect("spawn");
        let pid = child.id() as i32;
        fs::write(&path, format!("{pid}\n")).expect("w");
        // The child may not have exec'd yet: wait for its name.
        for _ in 0..200 {
            if process_name(pid).as_deref() == Some("keepalived") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let second = dir.join("second.pid");
        let refused = PidFiles::create(&[second.clone(), path.clone()]).expect_err("refused");
        assert!(
            refused.contains(&format!("names pid {pid}, a running keepalived")),
            "{refused}"
        );
        assert_eq!(fs::read_to_string(&path).expect("r"), format!("{pid}\n"));
        assert!(!second.exists(), "the first file went again");
        let _ = child.kill();
        let _ = child.wait();
        // Once it is gone, the file is stale.
        assert!(matches!(judge(&path, own()), Existing::Stale(_)));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_directory_is_a_clear_error() {
        let path = PathBuf::from("/nonexistent-vipd-dir/keepalived.pid");
        let error = PidFiles::create(&[path]).expect_err("refused");
        assert!(
            error.contains("cannot write the pid file /nonexistent-vipd-dir/keepalived.pid"),
            "{error}"
        );
    }
}
