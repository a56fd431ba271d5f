//! Exec check: run a command (no shell unless argv asks for one) as an unprivileged user,
//! exit 0 = success; on timeout the whole process group is killed.
//!
//! Like keepalived's `enable_script_security`, a program that a non-root user could replace
//! is refused: the file and every parent directory must be owned by root (or by vipd's own
//! user) and not writable by others, nor by a non-root group.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::{Gid, Pid, Uid, User};

use super::ProbeResult;

/// User exec checks run as when vipd is root and none is configured.
pub const DEFAULT_USER: &str = "nobody";

/// PATH used to resolve a bare command name when the environment has none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A validated command: absolute program path, arguments and the identity to run as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedExec {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// uid/gid to switch to; `None` = keep vipd's identity.
    pub run_as: Option<(Uid, Gid)>,
    pub user_name: Option<String>,
}

/// Resolve the program, check its security and resolve the user.
pub fn prepare(argv: &[String], user: Option<&str>) -> Result<PreparedExec, String> {
    let (command, args) = argv
        .split_first()
        .ok_or_else(|| "exec: command must not be empty".to_string())?;
    let program = resolve_program(command)?;
    check_script_security(&program)?;
    let root = Uid::effective().is_root();
    let user_name = match user {
        Some(u) => Some(u.to_string()),
        None if root => Some(DEFAULT_USER.to_string()),
        None => None,
    };
    let run_as = match &user_name {
        None => None,
        Some(name) => {
            let found = User::from_name(name)
                .map_err(|e| format!("exec: looking up user {name:?}: {e}"))?
                .ok_or_else(|| format!("exec: user {name:?} does not exist"))?;
            if !root && found.uid != Uid::effective() {
                // Under the hardened unit vipd is an unprivileged dynamic user and cannot
                // switch users; keepalived configs often say `script_user root`. Running the
                // script as vipd's own (even less privileged) user beats refusing to start.
                tracing::warn!(
                    "{}: running as vipd's own user, not {name:?} (vipd is not root)",
                    program.display()
                );
                None
            } else {
                Some((found.uid, found.gid))
            }
        }
    };
    Ok(PreparedExec {
        program,
        args: args.to_vec(),
        run_as,
        user_name,
    })
}

/// Absolute path of `command`: as given if it contains '/', else the first executable match in
/// `$PATH`.
pub fn resolve_program(command: &str) -> Result<PathBuf, String> {
    if command.is_empty() {
        return Err("exec: command must not be empty".into());
    }
    if command.contains('/') {
        let p = Path::new(command);
        return std::fs::canonicalize(p).map_err(|e| format!("exec: {command}: {e}"));
    }
    let path_var = std::env::var("PATH").unwrap_or_else(|_| DEFAULT_PATH.to_string());
    for dir in path_var.split(':').filter(|d| d.starts_with('/')) {
        let candidate = Path::new(dir).join(command);
        let Ok(meta) = std::fs::metadata(&candidate) else {
            continue;
        };
        if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
            return std::fs::canonicalize(&candidate)
                .map_err(|e| format!("exec: {}: {e}", candidate.display()));
        }
    }
    Err(format!("exec: command {command:?} not found in PATH"))
}

/// Refuse a program that a non-root user could modify (see module doc). `program` should be
/// canonical (symlinks resolved), as returned by [`resolve_program`].
pub fn check_script_security(program: &Path) -> Result<(), String> {
    let program =
        std::fs::canonicalize(program).map_err(|e| format!("exec: {}: {e}", program.display()))?;
    let meta =
        std::fs::metadata(&program).map_err(|e| format!("exec: {}: {e}", program.display()))?;
    if !meta.is_file() {
        return Err(format!("exec: {} is not a regular file", program.display()));
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(format!("exec: {} is not executable", program.display()));
    }
    let me = Uid::effective().as_raw();
    for path in program.ancestors() {
        let meta = std::fs::metadata(path).map_err(|e| format!("exec: {}: {e}", path.display()))?;
        let mode = meta.mode();
        let what = if path == program {
            "script"
        } else {
            "directory"
        };
        // A sticky directory (like /tmp) lets nobody rename or remove entries they do not
        // own, and the entry below it is checked as well, so its write bits are harmless.
        let sticky_dir = path != program && mode & 0o1000 != 0;
        let unsafe_why = if meta.uid() != 0 && meta.uid() != me {
            Some(format!("is owned by uid {}", meta.uid()))
        } else if sticky_dir {
            None
        } else if mode & 0o002 != 0 {
            Some("is writable by others".to_string())
        } else if mode & 0o020 != 0 && meta.gid() != 0 {
            Some(format!("is writable by group {}", meta.gid()))
        } else {
            None
        };
        if let Some(why) = unsafe_why {
            return Err(format!(
                "exec: refusing unsafe script {}: {what} {} {why} (mode {:o}); \
                 it and every parent directory must be owned by root and not writable by \
                 non-root users",
                program.display(),
                path.display(),
                mode & 0o7777
            ));
        }
    }
    Ok(())
}

/// Kills the child's process group unless disarmed (also when the probe future is dropped).
struct GroupKill(Option<Pid>);

impl Drop for GroupKill {
    fn drop(&mut self) {
        if let Some(pgid) = self.0.take() {
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }
}

/// Run the command once.
pub async fn probe(cmd: &PreparedExec, timeout: Duration) -> ProbeResult {
    let start = Instant::now();
    let mut command = tokio::process::Command::new(&cmd.program);
    command
        .args(&cmd.args)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    if let Some((uid, gid)) = cmd.run_as {
        command.uid(uid.as_raw()).gid(gid.as_raw());
    }
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => {
            return ProbeResult::fail(
                start.elapsed(),
                format!("spawn {}: {e}", cmd.program.display()),
            )
        }
    };
    let mut guard = GroupKill(
        child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw),
    );
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => {
            // The leader exited; leftovers in its group are the script's business.
            guard.0 = None;
            let latency = start.elapsed();
            match (status.code(), status.signal()) {
                (Some(0), _) => ProbeResult::ok(latency, "exit status 0"),
                (Some(code), _) => ProbeResult::fail(latency, format!("exit status {code}")),
                (None, Some(sig)) => ProbeResult::fail(latency, format!("killed by signal {sig}")),
                (None, None) => ProbeResult::fail(latency, "terminated"),
            }
        }
        Ok(Err(e)) => ProbeResult::fail(start.elapsed(), format!("wait: {e}")),
        Err(_) => {
            drop(guard);
            let _ = child.wait().await;
            ProbeResult::fail(
                start.elapsed(),
                format!("timeout after {timeout:?} (process group killed)"),
            )
        }
    }
}
