//! Exec check and notify scripts: run a command (no shell unless argv asks for one) as an
//! unprivileged user, exit 0 = success.
//!
//! Preparing ([`prepare`]) resolves the program like execvp (argv\[0\] stays as written, so
//! multi-call binaries such as busybox or `pidof -> killall5` keep their name), resolves the
//! user and group, and applies script security ([`super::security`]) to the program, the file
//! an interpreter is given and the `#!` interpreter. A command that cannot be prepared is not
//! run; callers decide whether that is fatal (it is not for checks: they are disabled and
//! tried again, see `runner`).
//!
//! Running ([`run`]) starts the child on a thread of its own, never on the event loop (the
//! wait for its `exec` took up to 195 ms on a busy machine), in a sandbox set up between
//! fork and exec:
//! - the child is the leader of its own process group; at the timeout the whole group is
//!   killed, and for checks also whatever the leader left behind when it exited;
//! - no ambient capabilities, an empty inheritable set, and an empty bounding set when vipd
//!   holds CAP_SETPCAP (vipd as root); vipd's CAP_NET_ADMIN/NET_RAW/DAC_READ_SEARCH never
//!   reach a script. A script configured to run as root while vipd is root keeps root's
//!   powers, as in keepalived (notify scripts that change routes or firewall rules need them);
//! - supplementary groups, then group, then user are switched (setgroups before setuid);
//! - the environment: vipd's own without systemd's and vipd's plumbing (`NOTIFY_SOCKET`,
//!   `LISTEN_FDS`, credentials, ...) and without `LD_*`; `PATH` (vipd's own, else
//!   [`DEFAULT_PATH`]), `HOME`, `USER` and `LOGNAME` of the user it runs as; plus what the
//!   caller adds (notify's sequence number);
//! - every inherited descriptor beyond stdio is closed on exec, stdio is /dev/null, the
//!   working directory is `/`, and the child gets SIGKILL if vipd dies.

use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::{Gid, Pid, Uid, User};

use super::security;
use super::ProbeResult;

/// User scripts run as when vipd is root, none is configured and [`KEEPALIVED_USER`] does
/// not exist.
pub const DEFAULT_USER: &str = "nobody";

/// keepalived's default script user, taken when it exists (keepalived 2.2.7 runs scripts
/// that name no user as `keepalived_script` whenever that user exists).
pub const KEEPALIVED_USER: &str = "keepalived_script";

/// The user a script that names none runs as (vipd being root): keepalived's
/// `keepalived_script` when `exists` finds it, else [`DEFAULT_USER`] (where keepalived uses
/// root, or with `enable_script_security` drops the script).
fn default_user(exists: impl Fn(&str) -> bool) -> &'static str {
    if exists(KEEPALIVED_USER) {
        KEEPALIVED_USER
    } else {
        DEFAULT_USER
    }
}

/// PATH of scripts (and of the lookup of a bare command name) when vipd has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Identity a script is switched to before exec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (the user's memberships, `getgrouplist`).
    pub groups: Vec<u32>,
}

/// A command ready to run; see the module doc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedExec {
    /// What is executed: as written when it contains a '/', else the `PATH` entry that
    /// matched (directory joined with the name, links not resolved).
    pub program: PathBuf,
    /// argv as written, argv\[0\] included.
    pub argv: Vec<String>,
    /// `None`: keep vipd's identity.
    pub run_as: Option<RunAs>,
    pub user_name: Option<String>,
    /// The script runs as root with root's capabilities (configured so, vipd being root).
    pub root_powers: bool,
    /// Files the run depends on, checked again before every run.
    pub depends_on: Vec<PathBuf>,
    /// Why the configured user or group is not used (vipd cannot switch users).
    pub identity_note: Option<String>,
    env: Vec<(String, String)>,
}

/// The `PATH` scripts get.
pub fn script_path() -> String {
    std::env::var("PATH")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| DEFAULT_PATH.to_string())
}

/// Variables of vipd's environment that are vipd's or systemd's plumbing (a script must not
/// talk to systemd as vipd, or see its credentials), or that change how the dynamic loader
/// or vipd itself behave.
const PLUMBING: &[&str] = &[
    "NOTIFY_SOCKET",
    "WATCHDOG_PID",
    "WATCHDOG_USEC",
    "LISTEN_PID",
    "LISTEN_FDS",
    "LISTEN_FDNAMES",
    "INVOCATION_ID",
    "JOURNAL_STREAM",
    "SYSTEMD_EXEC_PID",
    "MAINPID",
    "MANAGERPID",
    "CREDENTIALS_DIRECTORY",
    "MEMORY_PRESSURE_WATCH",
    "MEMORY_PRESSURE_WRITE",
    "RUNTIME_DIRECTORY",
    "STATE_DIRECTORY",
    "CACHE_DIRECTORY",
    "LOGS_DIRECTORY",
    "CONFIGURATION_DIRECTORY",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "PATH",
];

/// What scripts keep of vipd's environment: everything but [`PLUMBING`] and the `LD_*` and
/// `VIPD_*` variables. keepalived passes its whole environment, and container setups rely on
/// it (`KUBERNETES_SERVICE_HOST`); under the shipped unit this is just `LANG` and what the
/// unit's `Environment=` sets.
fn inherited_env() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| {
            !PLUMBING.contains(&k.as_str()) && !k.starts_with("LD_") && !k.starts_with("VIPD_")
        })
        .collect()
}

/// Whom the script runs as, from vipd's own identity and the configuration.
struct Identity {
    run_as: Option<RunAs>,
    /// uid and groups the access checks are made for.
    uid: u32,
    gids: Vec<u32>,
    name: Option<String>,
    home: String,
    root_powers: bool,
    note: Option<String>,
}

fn resolve_identity(user: Option<&str>, group: Option<&str>) -> Result<Identity, String> {
    let me = Uid::effective();
    let my_gid = Gid::effective().as_raw();
    if !me.is_root() {
        // Under the hardened unit vipd is an unprivileged dynamic user and cannot switch
        // users; keepalived configs often say `script_user root`. Running the script as
        // vipd's own (even less privileged) user beats refusing it.
        let own = User::from_uid(me).ok().flatten();
        let note = match (user, group) {
            (Some(u), _) if own.as_ref().map(|o| o.name.as_str()) != Some(u) => Some(format!(
                "runs as vipd's own user, not {u:?} (vipd is not root)"
            )),
            (_, Some(g)) => Some(format!(
                "runs with vipd's own group, not {g:?} (vipd is not root)"
            )),
            _ => None,
        };
        let mut gids = vec![my_gid];
        if let Ok(extra) = nix::unistd::getgroups() {
            gids.extend(extra.iter().map(|g| g.as_raw()));
        }
        return Ok(Identity {
            run_as: None,
            uid: me.as_raw(),
            gids,
            name: own.as_ref().map(|o| o.name.clone()),
            home: own
                .map(|o| o.dir.display().to_string())
                .unwrap_or_else(|| "/".into()),
            root_powers: false,
            note,
        });
    }
    let name = match user {
        Some(name) => name,
        None => default_user(|name| matches!(User::from_name(name), Ok(Some(_)))),
    };
    let found = User::from_name(name)
        .map_err(|e| format!("looking up user {name:?}: {e}"))?
        .ok_or_else(|| format!("user {name:?} does not exist"))?;
    let gid = match group {
        Some(g) => {
            nix::unistd::Group::from_name(g)
                .map_err(|e| format!("looking up group {g:?}: {e}"))?
                .ok_or_else(|| format!("group {g:?} does not exist"))?
                .gid
        }
        None => found.gid,
    };
    let cname = std::ffi::CString::new(name).map_err(|_| format!("bad user name {name:?}"))?;
    let mut groups: Vec<u32> = nix::unistd::getgrouplist(&cname, gid)
        .map(|g| g.iter().map(|g| g.as_raw()).collect())
        .unwrap_or_else(|_| vec![gid.as_raw()]);
    groups.sort_unstable();
    groups.dedup();
    let uid = found.uid.as_raw();
    let root_powers = uid == 0 && user.is_some();
    Ok(Identity {
        run_as: Some(RunAs {
            uid,
            gid: gid.as_raw(),
            groups: groups.clone(),
        }),
        uid,
        gids: groups,
        name: Some(name.to_string()),
        home: found.dir.display().to_string(),
        root_powers,
        note: None,
    })
}

/// Where `command` is: as written if it contains '/' (relative to `/`, the scripts' working
/// directory), else the first `PATH` entry holding a file `uid`/`gids` may execute.
fn locate(command: &str, uid: u32, gids: &[u32]) -> Result<PathBuf, String> {
    if command.is_empty() {
        return Err("the command is empty".into());
    }
    // `</dev/tcp/HOST/PORT` and the like are bash syntax, not a program: joined to `/` they
    // would be reported as a mangled path.
    if command.starts_with(['<', '>', '|', '&', ';', '$', '(', '`']) {
        return Err(format!(
            "`{command}` is shell syntax, not the path of a program, and scripts run \
             without a shell (keepalived 2.2.7 tries to run it as a file, which fails, so \
             there the script counts as failed every time); run it through one, e.g. \
             /bin/bash -c '...'"
        ));
    }
    if command.contains('/') {
        return Ok(Path::new("/").join(command));
    }
    let path = script_path();
    let mut denied = None;
    for dir in path.split(':').filter(|d| d.starts_with('/')) {
        let candidate = Path::new(dir).join(command);
        let Ok(meta) = std::fs::metadata(&candidate) else {
            continue;
        };
        match security::check_executable(&candidate.display().to_string(), &meta, uid, gids) {
            Ok(()) => return Ok(candidate),
            Err(e) => denied = Some(e.to_string()),
        }
    }
    Err(match denied {
        Some(e) => e,
        None => format!("command {command:?} not found in PATH ({path})"),
    })
}

/// Checks `path` (and what it resolves through) for script security; returns its metadata.
fn secure(path: &Path) -> Result<std::fs::Metadata, String> {
    let me = Uid::effective().as_raw();
    security::check_path(path, me)
        .map(|(_, meta)| meta)
        .map_err(|e| e.to_string())
}

/// Resolves the program, the user and group, and checks script security; see the module doc.
pub fn prepare(
    argv: &[String],
    user: Option<&str>,
    group: Option<&str>,
) -> Result<PreparedExec, String> {
    let command = argv
        .first()
        .ok_or_else(|| "the command is empty".to_string())?;
    let identity = resolve_identity(user, group)?;
    let program = locate(command, identity.uid, &identity.gids)?;
    let meta = secure(&program)?;
    security::check_executable(
        &program.display().to_string(),
        &meta,
        identity.uid,
        &identity.gids,
    )
    .map_err(|e| e.to_string())?;
    let mut depends_on = vec![program.clone()];
    if let Some(file) = security::interpreted_file(argv) {
        let path = Path::new("/").join(file);
        let meta = secure(&path).map_err(|e| format!("script file of `{command}`: {e}"))?;
        if !meta.is_file() {
            return Err(format!("{} is not a regular file", path.display()));
        }
        depends_on.push(path);
    }
    for (i, interpreter) in security::shebang(&program).into_iter().enumerate() {
        let path = if i == 0 {
            Path::new("/").join(&interpreter)
        } else {
            locate(&interpreter, identity.uid, &identity.gids)
                .map_err(|e| format!("interpreter of {}: {e}", program.display()))?
        };
        secure(&path).map_err(|e| format!("interpreter of {}: {e}", program.display()))?;
        depends_on.push(path);
    }
    let mut env = inherited_env();
    env.push(("PATH".to_string(), script_path()));
    env.push(("HOME".to_string(), identity.home.clone()));
    if let Some(name) = &identity.name {
        env.push(("USER".to_string(), name.clone()));
        env.push(("LOGNAME".to_string(), name.clone()));
    }
    Ok(PreparedExec {
        program,
        argv: argv.to_vec(),
        run_as: identity.run_as,
        user_name: identity.name,
        root_powers: identity.root_powers,
        depends_on,
        identity_note: identity.note,
        env,
    })
}

impl PreparedExec {
    /// Script security again for everything the run depends on (a file may have been
    /// replaced or made writable since it was prepared).
    pub fn verify(&self) -> Result<(), String> {
        for path in &self.depends_on {
            secure(path)?;
        }
        Ok(())
    }

    /// The command line as written.
    pub fn line(&self) -> String {
        self.argv.join(" ")
    }
}

/// Is this refusal about a file that is missing (rather than unsafe or unusable)?
pub fn is_missing(message: &str) -> bool {
    message.contains("does not exist") || message.contains("not found in PATH")
}

/// What [`run`] does with processes the leader leaves behind when it exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leftovers {
    /// Kill them (checks: a check has no business leaving processes behind).
    Kill,
    /// Leave them (notify scripts may start something on purpose, as with keepalived).
    Keep,
}

/// Kills the child's process group unless disarmed (also when the run is dropped: the check
/// was stopped or vipd is exiting).
struct GroupKill(Option<Pid>);

impl Drop for GroupKill {
    fn drop(&mut self) {
        if let Some(pgid) = self.0.take() {
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }
}

/// How long a killed group's leader may take to be reaped before it is left to tokio.
const REAP_BOUND: Duration = Duration::from_secs(5);

/// Starts the command in its own process group with the clean environment (plus
/// `extra_env`), as its user, stdin/stdout/stderr on /dev/null; killed when dropped. The
/// caller has checked it with [`PreparedExec::verify`].
pub fn spawn(
    cmd: &PreparedExec,
    extra_env: &[(String, String)],
) -> std::io::Result<tokio::process::Child> {
    let mut command = tokio::process::Command::new(&cmd.program);
    let (arg0, args) = cmd
        .argv
        .split_first()
        .map_or(("", &[][..]), |(a, r)| (a, r));
    command
        .arg0(arg0)
        .args(args)
        .env_clear()
        .envs(cmd.env.iter().map(|(k, v)| (k, v)))
        .envs(extra_env.iter().map(|(k, v)| (k, v)))
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    let setup = ChildSetup {
        run_as: cmd.run_as.clone(),
        drop_powers: !cmd.root_powers,
        parent: std::process::id() as libc::pid_t,
    };
    // SAFETY: the closure runs between fork and exec and only makes raw system calls on
    // data prepared before the fork (no allocation, no locks).
    unsafe {
        command.pre_exec(move || setup.apply());
    }
    command.spawn()
}

/// A spawn waiting for the spawner thread.
type SpawnJob = Box<dyn FnOnce() + Send>;

/// The thread that starts scripts, for vipd's lifetime (`None`: it could not be started;
/// scripts are then started on the caller's thread).
static SPAWNER: std::sync::OnceLock<Option<std::sync::mpsc::Sender<SpawnJob>>> =
    std::sync::OnceLock::new();

fn spawner() -> Option<&'static std::sync::mpsc::Sender<SpawnJob>> {
    SPAWNER
        .get_or_init(|| {
            let (tx, rx) = std::sync::mpsc::channel::<SpawnJob>();
            std::thread::Builder::new()
                .name("vipd-spawn".into())
                .spawn(move || {
                    // Ends never: the sender is in a static.
                    while let Ok(job) = rx.recv() {
                        job();
                    }
                })
                .ok()
                .map(|_| tx)
        })
        .as_ref()
}

/// [`spawn`] off the event loop: `fork` returns at once, but the standard library then waits
/// until the child has called `exec` (to report a failed `exec`), and on a busy machine the
/// child may wait that long for a CPU: 45 to 195 ms in red-team round 8, a stall of every
/// advert while it was done on the event loop. The thread is one that lives as long as vipd
/// (a script's `PR_SET_PDEATHSIG` fires when the thread that forked it ends, so not tokio's
/// blocking pool, whose idle threads end). Waits at most `wait`; a run dropped or given up
/// meanwhile has its group killed.
async fn spawn_beside(
    cmd: &PreparedExec,
    extra_env: &[(String, String)],
    wait: Duration,
) -> std::io::Result<(tokio::process::Child, GroupKill)> {
    let start = move |cmd: &PreparedExec, extra_env: &[(String, String)]| {
        let child = spawn(cmd, extra_env)?;
        let pid = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw);
        Ok((child, GroupKill(pid)))
    };
    let Some(spawner) = spawner() else {
        return start(cmd, extra_env);
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let runtime = tokio::runtime::Handle::current();
    let (cmd, extra_env) = (cmd.clone(), extra_env.to_vec());
    let job: SpawnJob = Box::new(move || {
        let _context = runtime.enter();
        // Not taken (the run was dropped or gave up): dropped here, which kills the group.
        let _ = tx.send(start(&cmd, &extra_env));
    });
    if spawner.send(job).is_err() {
        return Err(std::io::Error::other("the spawner thread is gone"));
    }
    match tokio::time::timeout(wait, rx).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(std::io::Error::other("the spawner thread is gone")),
        Err(_) => Err(std::io::Error::other(format!(
            "not started within {wait:?}"
        ))),
    }
}

/// Runs the command once; `extra_env` is added to the clean environment.
pub async fn run(
    cmd: &PreparedExec,
    timeout: Duration,
    leftovers: Leftovers,
    extra_env: &[(String, String)],
) -> ProbeResult {
    let start = Instant::now();
    if let Err(e) = cmd.verify() {
        return ProbeResult::fail(start.elapsed(), format!("not run: {e}"));
    }
    let (mut child, mut guard) = match spawn_beside(cmd, extra_env, timeout).await {
        Ok(spawned) => spawned,
        Err(e) => {
            return ProbeResult::fail(
                start.elapsed(),
                format!("spawn {}: {e}", cmd.program.display()),
            )
        }
    };
    let pid = guard.0;
    let pidfd = pid.and_then(open_pidfd);
    let leader_exited = async {
        match &pidfd {
            // Readable once the leader has exited; it stays a zombie, so its process group
            // id cannot be reused before it is reaped below.
            Some(fd) => {
                let _ = fd.readable().await;
                None
            }
            None => Some(child.wait().await),
        }
    };
    let waited = match tokio::time::timeout(timeout, leader_exited).await {
        Ok(waited) => waited,
        Err(_) => {
            drop(guard);
            let _ = tokio::time::timeout(REAP_BOUND, child.wait()).await;
            return ProbeResult::fail(
                start.elapsed(),
                format!("timeout after {timeout:?} (process group killed)"),
            );
        }
    };
    let latency = start.elapsed();
    if leftovers == Leftovers::Kill {
        if let Some(pgid) = guard.0 {
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }
    let status = match waited {
        Some(status) => status,
        None => child.wait().await,
    };
    guard.0 = None;
    match status {
        Ok(status) => match (status.code(), status.signal()) {
            (Some(0), _) => ProbeResult::ok(latency, "exit status 0"),
            (Some(code), _) => ProbeResult::fail(latency, format!("exit status {code}")),
            (None, Some(sig)) => ProbeResult::fail(latency, format!("killed by signal {sig}")),
            (None, None) => ProbeResult::fail(latency, "terminated"),
        },
        Err(e) => ProbeResult::fail(latency, format!("wait: {e}")),
    }
}

/// Runs a check command once (leftover processes are killed).
pub async fn probe(cmd: &PreparedExec, timeout: Duration) -> ProbeResult {
    run(cmd, timeout, Leftovers::Kill, &[]).await
}

fn open_pidfd(pid: Pid) -> Option<tokio::io::unix::AsyncFd<OwnedFd>> {
    // SAFETY: pidfd_open(2) with a pid and no flags; the result is checked.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if fd < 0 {
        return None;
    }
    let fd = i32::try_from(fd).ok()?;
    // SAFETY: a fresh descriptor returned by the kernel, owned from here on.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: the OwnedFd stays open and unchanged for as long as the AsyncFd owns it.
    unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(owned, tokio::io::Interest::READABLE)
    }
    .ok()
}

/// What the child does between fork and exec; see the module doc.
struct ChildSetup {
    run_as: Option<RunAs>,
    drop_powers: bool,
    parent: libc::pid_t,
}

const CAP_VERSION_3: u32 = 0x2008_0522;
const CLOSE_RANGE_CLOEXEC: libc::c_uint = 4;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

impl ChildSetup {
    /// Runs in the child: raw system calls only (see the SAFETY note in [`run`]).
    fn apply(&self) -> std::io::Result<()> {
        // SAFETY: plain system calls on values owned by `self`; errors are checked where
        // they matter for security.
        unsafe {
            // Descriptors vipd opened without CLOEXEC (none should be) never reach a script.
            libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, CLOSE_RANGE_CLOEXEC);
            if self.drop_powers {
                // Needs CAP_SETPCAP (vipd as root); without it the bounding set stays as
                // vipd's, which the unit already limits.
                for cap in 0..64 {
                    if libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 {
                        break;
                    }
                }
            }
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL,
                0,
                0,
                0,
            );
            if let Some(id) = &self.run_as {
                if libc::syscall(libc::SYS_setgroups, id.groups.len(), id.groups.as_ptr()) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::syscall(libc::SYS_setresgid, id.gid, id.gid, id.gid) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::syscall(libc::SYS_setresuid, id.uid, id.uid, id.uid) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            if self.drop_powers {
                let header = CapHeader {
                    version: CAP_VERSION_3,
                    pid: 0,
                };
                let data = [
                    CapData {
                        effective: 0,
                        permitted: 0,
                        inheritable: 0,
                    },
                    CapData {
                        effective: 0,
                        permitted: 0,
                        inheritable: 0,
                    },
                ];
                if libc::syscall(libc::SYS_capset, &header, data.as_ptr()) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            // Set after the identity switch, which clears it.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
            if libc::getppid() != self.parent {
                libc::_exit(1);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Starting a script waits until its `exec`; on a busy machine that took up to 195 ms,
    /// on the event loop. The first poll of a run must not start it: an `exec` that fails
    /// at once (EACCES: no longer executable since it was prepared) is only reported on a
    /// later poll.
    #[test]
    fn a_run_starts_its_child_beside_the_callers_thread() {
        use std::future::Future;
        use std::os::unix::fs::PermissionsExt;
        let path = std::env::temp_dir().join(format!("vipd-noexec-{}", std::process::id()));
        std::fs::write(&path, b"\x7fELF not really").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let cmd = prepare(&[path.display().to_string()], None, None).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let result = runtime.block_on(async {
            let mut run = std::pin::pin!(run(&cmd, Duration::from_secs(5), Leftovers::Kill, &[]));
            let first =
                std::future::poll_fn(|cx| std::task::Poll::Ready(run.as_mut().poll(cx))).await;
            assert!(
                first.is_pending(),
                "started (and failed) on the caller's thread: {first:?}"
            );
            run.await
        });
        let _ = std::fs::remove_file(&path);
        assert!(!result.ok, "{result:?}");
        assert!(result.detail.starts_with("spawn "), "{result:?}");
    }

    #[test]
    fn scripts_without_a_user_run_as_keepalived_script_when_it_exists() {
        assert_eq!(
            default_user(|name| name == "keepalived_script"),
            "keepalived_script"
        );
        assert_eq!(default_user(|_| false), "nobody");
    }

    #[test]
    fn a_bash_redirection_as_script_is_named_as_shell_syntax_not_a_mangled_path() {
        let argv = ["</dev/tcp/127.0.0.1/80".to_string()];
        let err = prepare(&argv, None, None).unwrap_err();
        assert!(
            err.starts_with("`</dev/tcp/127.0.0.1/80` is shell syntax, not the path of a program"),
            "{err}"
        );
        assert!(!err.contains("/</"), "{err}");
        assert!(err.contains("keepalived 2.2.7"), "{err}");
    }
}
