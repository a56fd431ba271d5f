//! Process check (keepalived `vrrp_track_process`, and the `killall -0`/`pidof`/`pgrep`/
//! `pkill -0` one-liners): counts the running processes that match, from /proc, without
//! forking. OK while the count is within the quorum, with keepalived's delays.
//!
//! keepalived learns about processes from the kernel's process-event connector; vipd reads
//! /proc at the check's interval instead (one scan costs about what one `pidof` run does,
//! without the fork and exec, and works in any PID namespace and under `ProtectProc=`).
//! Zombies are not counted: they are dead, they only wait to be reaped (keepalived agrees;
//! killall/pgrep would count them).
//!
//! Matching is pure ([`Matcher::matches`]) and the debouncing is sans-I/O ([`Quorum`]).

use std::path::Path;
use std::time::{Duration, Instant};

use super::ProbeResult;

/// The longest name the kernel keeps in a process's `comm` (TASK_COMM_LEN - 1).
pub const COMM_LEN: usize = 15;

/// How much of /proc/PID/cmdline is read: argv\[0\] and the parameters anyone matches on.
const CMDLINE_MAX: usize = 4096;

/// keepalived's parameter matching for `process NAME PARAMS...` (`param_match`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamMatch {
    /// Any parameters (keepalived `full_command` without parameters).
    Any,
    /// Exactly these parameters (and none when none are given).
    Exact,
    /// The first parameters are these; more may follow.
    Partial,
    /// Like `Partial`, but the last one configured may be a prefix of the process's.
    Initial,
}

/// Which processes count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matcher {
    /// The process name (`comm`, at most 15 bytes) equals this. keepalived's default,
    /// `killall -0 NAME`, `pgrep -x NAME`.
    Name(String),
    /// The process name contains this (`pgrep NAME` for a NAME without regex characters).
    NameContains(String),
    /// sysvinit `pidof NAME` (Debian's): argv\[0\] or its base name equals NAME; the process
    /// name when argv\[0\] is empty or has a space (setproctitle) or is a login shell's;
    /// with `scripts` (`pidof -x`) the same for the script an interpreter runs.
    Pidof { name: String, scripts: bool },
    /// argv\[0\] equals `argv0` and the parameters match (keepalived `full_command`,
    /// `process PATH PARAMS...`, `param_match`).
    Command {
        argv0: String,
        params: Vec<String>,
        param_match: ParamMatch,
    },
}

/// What is known about one process.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProcInfo {
    pub comm: String,
    /// argv as read from /proc/PID/cmdline (possibly cut short), when the matcher needs it.
    pub argv: Option<Vec<Vec<u8>>>,
}

fn base(word: &[u8]) -> &[u8] {
    match word.iter().rposition(|&b| b == b'/') {
        Some(i) => &word[i + 1..],
        None => word,
    }
}

impl Matcher {
    /// Does this matcher need the command line (a second read per process)?
    pub fn needs_cmdline(&self) -> bool {
        matches!(self, Matcher::Pidof { .. } | Matcher::Command { .. })
    }

    /// Whether matching a process with this command line looks at its name (reading `comm`
    /// costs a system call or two per process).
    fn needs_comm(&self, argv: &[Vec<u8>]) -> bool {
        match self {
            Matcher::Name(_) | Matcher::NameContains(_) => true,
            Matcher::Command { .. } => false,
            Matcher::Pidof { scripts, .. } => {
                let argv0 = argv.first().map(Vec::as_slice).unwrap_or_default();
                argv0.is_empty()
                    || argv0.contains(&b' ')
                    || argv0.first() == Some(&b'-')
                    || (*scripts && argv.len() > 1)
            }
        }
    }

    pub fn matches(&self, p: &ProcInfo) -> bool {
        match self {
            Matcher::Name(name) => p.comm == *name,
            Matcher::NameContains(part) => p.comm.contains(part.as_str()),
            Matcher::Pidof { name, scripts } => pidof_matches(name, *scripts, p),
            Matcher::Command {
                argv0,
                params,
                param_match,
            } => {
                let Some(argv) = &p.argv else { return false };
                let Some((first, rest)) = argv.split_first() else {
                    return false;
                };
                first.as_slice() == argv0.as_bytes() && params_match(params, *param_match, rest)
            }
        }
    }
}

fn pidof_matches(name: &str, scripts: bool, p: &ProcInfo) -> bool {
    let name_b = name.as_bytes();
    let empty = Vec::new();
    let argv = p.argv.as_ref().unwrap_or(&empty);
    let argv0 = argv.first().map(Vec::as_slice).unwrap_or_default();
    // argv[1] as pidof reads it: the first later word not starting with '-'.
    let argv1 = argv
        .iter()
        .skip(1)
        .find(|w| w.first() != Some(&b'-'))
        .map(Vec::as_slice);
    let mut ok = !argv0.is_empty() && (argv0 == name_b || base(argv0) == name_b);
    if scripts {
        if let Some(a1) = argv1 {
            // pidof compares the first 15 bytes (strncmp): is this process the interpreter
            // running that script?
            let a1base = base(a1);
            let cut = |w: &[u8]| w[..w.len().min(COMM_LEN)].to_vec();
            if cut(p.comm.as_bytes()) == cut(a1base) {
                ok |= a1 == name_b || a1base == name_b;
            }
        }
    }
    if name.len() <= COMM_LEN {
        let setproctitle = argv0.is_empty() || argv0.contains(&b' ');
        let login_shell = argv0.first() == Some(&b'-') && argv1.is_none();
        if setproctitle || login_shell {
            ok |= p.comm == name;
        }
    }
    ok
}

fn params_match(want: &[String], how: ParamMatch, have: &[Vec<u8>]) -> bool {
    match how {
        ParamMatch::Any => true,
        ParamMatch::Exact => {
            have.len() == want.len() && want.iter().zip(have).all(|(w, h)| w.as_bytes() == *h)
        }
        ParamMatch::Partial => {
            have.len() >= want.len() && want.iter().zip(have).all(|(w, h)| w.as_bytes() == *h)
        }
        ParamMatch::Initial => {
            if have.len() < want.len() {
                return false;
            }
            let Some((last, init)) = want.split_last() else {
                return true;
            };
            init.iter().zip(have).all(|(w, h)| w.as_bytes() == *h)
                && have
                    .get(init.len())
                    .is_some_and(|h| h.starts_with(last.as_bytes()))
        }
    }
}

/// keepalived's quorum and delays, fed with one count per scan.
///
/// OK while `quorum <= count <= quorum_max`. A change is reported at once, or after
/// `terminate_delay` when the count went down / `fork_delay` when it went up, if it still
/// holds then (keepalived: avoid a down/up bounce when a service restarts or forks). The
/// first count is reported at once, as keepalived does with its start-up scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quorum {
    pub min: u32,
    pub max: u32,
    pub fork_delay: Duration,
    pub terminate_delay: Duration,
    reported: Option<bool>,
    last_count: Option<u32>,
    pending: Option<(bool, Instant)>,
}

impl Quorum {
    pub fn new(min: u32, max: u32, fork_delay: Duration, terminate_delay: Duration) -> Self {
        Quorum {
            min,
            max,
            fork_delay,
            terminate_delay,
            reported: None,
            last_count: None,
            pending: None,
        }
    }

    /// At least one process, no upper bound, no delay.
    pub fn any() -> Self {
        Quorum::new(1, u32::MAX, Duration::ZERO, Duration::ZERO)
    }

    /// Feeds one count; returns the state to report.
    pub fn observe(&mut self, count: u32, now: Instant) -> bool {
        let actual = self.min <= count && count <= self.max;
        let went_down = self.last_count.is_some_and(|last| count < last);
        self.last_count = Some(count);
        let Some(reported) = self.reported else {
            self.reported = Some(actual);
            return actual;
        };
        if actual == reported {
            self.pending = None;
            return reported;
        }
        match self.pending {
            Some((target, at)) if target == actual => {
                if now >= at {
                    self.pending = None;
                    self.reported = Some(actual);
                    return actual;
                }
                reported
            }
            _ => {
                let delay = if went_down {
                    self.terminate_delay
                } else {
                    self.fork_delay
                };
                if delay.is_zero() {
                    self.reported = Some(actual);
                    self.pending = None;
                    actual
                } else {
                    self.pending = Some((actual, now + delay));
                    reported
                }
            }
        }
    }

    /// Forget what was seen (the check starts over).
    pub fn reset(&mut self) {
        self.reported = None;
        self.last_count = None;
        self.pending = None;
    }
}

/// The process name and state from /proc/PID/stat (`pid (comm) S ...`; comm may contain
/// spaces and parentheses, so the last ')' ends it).
fn parse_stat(stat: &[u8]) -> Option<(String, u8)> {
    let open = stat.iter().position(|&b| b == b'(')?;
    let close = stat.iter().rposition(|&b| b == b')')?;
    let comm = stat.get(open + 1..close)?;
    let state = *stat.get(close + 2)?;
    Some((String::from_utf8_lossy(comm).into_owned(), state))
}

/// Reads `PID/FILE` under the open /proc directory with one read(2) into `buf` (the kernel
/// hands these files out whole up to the buffer size); returns the bytes read.
fn read_at(proc_dir: &std::fs::File, pid: &str, file: &str, buf: &mut [u8]) -> Option<usize> {
    use nix::fcntl::{openat, OFlag};
    let mut path = [0u8; 40];
    let len = pid.len() + 1 + file.len();
    if len >= path.len() {
        return None;
    }
    path[..pid.len()].copy_from_slice(pid.as_bytes());
    path[pid.len()] = b'/';
    path[pid.len() + 1..len].copy_from_slice(file.as_bytes());
    let name = std::ffi::CStr::from_bytes_until_nul(&path[..=len]).ok()?;
    let fd = openat(
        proc_dir,
        name,
        OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
        nix::sys::stat::Mode::empty(),
    )
    .ok()?;
    nix::unistd::read(&fd, buf).ok()
}

/// argv from the bytes of /proc/PID/cmdline.
fn split_cmdline(bytes: &[u8]) -> Vec<Vec<u8>> {
    if bytes.is_empty() {
        return Vec::new();
    }
    bytes
        .strip_suffix(b"\0")
        .unwrap_or(bytes)
        .split(|&b| b == 0)
        .map(<[u8]>::to_vec)
        .collect()
}

/// Counts the live processes under `proc_root` (normally `/proc`) that match, leaving out
/// vipd itself.
///
/// Cheap files first: a name matcher reads `comm` and only for a match `stat` (to leave
/// zombies out); a command-line matcher reads `cmdline`, which is empty exactly for zombies
/// and kernel threads, and only then `stat`.
pub fn count(matcher: &Matcher, proc_root: &Path) -> std::io::Result<u32> {
    let me = std::process::id().to_string();
    let mut stat = [0u8; 512];
    let mut comm = [0u8; 64];
    let mut cmdline = vec![0u8; CMDLINE_MAX];
    let mut n = 0u32;
    let name_of = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes.strip_suffix(b"\n").unwrap_or(bytes)).into_owned()
    };
    let dir = std::fs::File::open(proc_root)?;
    for entry in std::fs::read_dir(proc_root)? {
        let Ok(entry) = entry else { continue };
        let file_name = entry.file_name();
        let Some(pid) = file_name.to_str() else {
            continue;
        };
        if !pid.bytes().all(|b| b.is_ascii_digit()) || pid == me {
            continue;
        }
        let alive = |stat: &mut [u8]| -> Option<(String, bool)> {
            let len = read_at(&dir, pid, "stat", stat)?;
            let (comm, state) = parse_stat(&stat[..len])?;
            Some((comm, state != b'Z' && state != b'X'))
        };
        let matched = if matcher.needs_cmdline() {
            let Some(len) = read_at(&dir, pid, "cmdline", &mut cmdline) else {
                continue;
            };
            let argv = split_cmdline(&cmdline[..len]);
            let comm = if argv.is_empty() {
                // Zombie or kernel thread.
                match alive(&mut stat) {
                    Some((comm, true)) => comm,
                    _ => continue,
                }
            } else if matcher.needs_comm(&argv) {
                match read_at(&dir, pid, "comm", &mut comm) {
                    Some(len) => name_of(&comm[..len]),
                    None => continue,
                }
            } else {
                String::new()
            };
            matcher.matches(&ProcInfo {
                comm,
                argv: Some(argv),
            })
        } else {
            let Some(len) = read_at(&dir, pid, "comm", &mut comm) else {
                continue;
            };
            let info = ProcInfo {
                comm: name_of(&comm[..len]),
                argv: None,
            };
            matcher.matches(&info) && alive(&mut stat).is_some_and(|(_, live)| live)
        };
        if matched {
            n = n.saturating_add(1);
        }
    }
    Ok(n)
}

/// A running process check: matcher plus quorum state.
#[derive(Debug)]
pub struct ProcessProbe {
    pub matcher: Matcher,
    pub quorum: Quorum,
}

impl ProcessProbe {
    /// Scans /proc once (off the event loop) and feeds the quorum.
    pub async fn probe(&mut self) -> ProbeResult {
        let start = std::time::Instant::now();
        let matcher = self.matcher.clone();
        let counted =
            tokio::task::spawn_blocking(move || count(&matcher, Path::new("/proc"))).await;
        let latency = start.elapsed();
        let n = match counted {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return ProbeResult::fail(latency, format!("reading /proc: {e}")),
            Err(e) => return ProbeResult::fail(latency, format!("scan: {e}")),
        };
        let ok = self.quorum.observe(n, Instant::now());
        let range = if self.quorum.max == u32::MAX {
            format!("{}..", self.quorum.min)
        } else {
            format!("{}..{}", self.quorum.min, self.quorum.max)
        };
        let detail = format!(
            "{n} process{} (quorum {range})",
            if n == 1 { "" } else { "es" }
        );
        if ok {
            ProbeResult::ok(latency, detail)
        } else {
            ProbeResult::fail(latency, detail)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc_(comm: &str, argv: &[&str]) -> ProcInfo {
        ProcInfo {
            comm: comm.into(),
            argv: Some(argv.iter().map(|a| a.as_bytes().to_vec()).collect()),
        }
    }

    #[test]
    fn name_matches_comm_exactly() {
        let m = Matcher::Name("haproxy".into());
        assert!(m.matches(&proc_("haproxy", &["/usr/sbin/haproxy", "-f", "x"])));
        assert!(!m.matches(&proc_("haproxy-exporte", &["haproxy-exporter"])));
        assert!(!m.matches(&proc_("haprox", &[])));
        let m = Matcher::NameContains("proxy".into());
        assert!(m.matches(&proc_("haproxy", &[])));
        assert!(!m.matches(&proc_("nginx", &[])));
    }

    #[test]
    fn pidof_rules_follow_sysvinit() {
        let m = Matcher::Pidof {
            name: "haproxy".into(),
            scripts: false,
        };
        // argv[0] base name, whatever comm says.
        assert!(m.matches(&proc_("haproxy", &["/usr/sbin/haproxy", "-Ws"])));
        assert!(m.matches(&proc_("other", &["haproxy"])));
        // comm alone only counts for setproctitle-style argv[0].
        assert!(!m.matches(&proc_("haproxy", &["/usr/bin/python3", "x"])));
        assert!(m.matches(&proc_("haproxy", &["haproxy: worker"])));
        assert!(m.matches(&proc_("haproxy", &[])));
        // Login shell.
        assert!(m.matches(&proc_("haproxy", &["-haproxy"])));
        // Scripts only with -x.
        let script = proc_("check.sh", &["/bin/sh", "/usr/local/bin/check.sh"]);
        let plain = Matcher::Pidof {
            name: "check.sh".into(),
            scripts: false,
        };
        let x = Matcher::Pidof {
            name: "check.sh".into(),
            scripts: true,
        };
        assert!(!plain.matches(&script));
        assert!(x.matches(&script));
        // -x needs the process name to be the script's.
        assert!(!x.matches(&proc_("sh", &["/bin/sh", "/usr/local/bin/check.sh"])));
    }

    #[test]
    fn command_params_like_keepalived() {
        let exact = |p: &[&str]| Matcher::Command {
            argv0: "/usr/sbin/haproxy".into(),
            params: p.iter().map(|s| s.to_string()).collect(),
            param_match: ParamMatch::Exact,
        };
        let running = proc_("haproxy", &["/usr/sbin/haproxy", "-f", "/etc/h.cfg"]);
        assert!(exact(&["-f", "/etc/h.cfg"]).matches(&running));
        assert!(!exact(&["-f"]).matches(&running));
        assert!(!exact(&[]).matches(&running));
        assert!(exact(&[]).matches(&proc_("haproxy", &["/usr/sbin/haproxy"])));
        let with = |how, p: &[&str]| Matcher::Command {
            argv0: "/usr/sbin/haproxy".into(),
            params: p.iter().map(|s| s.to_string()).collect(),
            param_match: how,
        };
        assert!(with(ParamMatch::Partial, &["-f"]).matches(&running));
        assert!(!with(ParamMatch::Partial, &["-f", "/etc"]).matches(&running));
        assert!(with(ParamMatch::Initial, &["-f", "/etc"]).matches(&running));
        assert!(!with(ParamMatch::Initial, &["-x"]).matches(&running));
        assert!(with(ParamMatch::Any, &[]).matches(&running));
        // argv[0] must be exactly as configured.
        assert!(!with(ParamMatch::Any, &[]).matches(&proc_("haproxy", &["haproxy"])));
    }

    #[test]
    fn stat_parsing_handles_odd_names() {
        assert_eq!(
            parse_stat(b"12 (a) b) S 1 2"),
            Some(("a) b".to_string(), b'S'))
        );
        assert_eq!(parse_stat(b"12 (x) Z 1"), Some(("x".to_string(), b'Z')));
        assert_eq!(parse_stat(b"garbage"), None);
    }

    #[test]
    fn quorum_and_delays() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut q = Quorum::new(2, 3, Duration::from_secs(2), Duration::from_secs(5));
        assert!(q.observe(2, t0));
        // Lost by a termination: only after terminate_delay, if still lost.
        assert!(q.observe(1, t0 + s));
        assert!(q.observe(1, t0 + 5 * s));
        assert!(!q.observe(1, t0 + 6 * s));
        // Regained by a fork: after fork_delay.
        assert!(!q.observe(2, t0 + 7 * s));
        assert!(q.observe(2, t0 + 9 * s));
        // Back within the delay cancels the change.
        assert!(q.observe(1, t0 + 10 * s));
        assert!(q.observe(2, t0 + 11 * s));
        assert!(q.observe(2, t0 + 20 * s));
        // Too many processes is a failure too (reached by a fork: fork_delay).
        assert!(q.observe(4, t0 + 21 * s));
        assert!(!q.observe(4, t0 + 23 * s));
        let mut none = Quorum::new(0, 0, Duration::ZERO, Duration::ZERO);
        assert!(none.observe(0, t0));
        assert!(!none.observe(1, t0));
        let mut any = Quorum::any();
        assert!(!any.observe(0, t0));
        assert!(any.observe(1, t0));
    }

    #[test]
    fn counts_running_processes_not_zombies() {
        // A copy of sleep under a name nothing else has.
        let dir = std::env::temp_dir().join(format!("vipd-proc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let name = format!("vtc{:x}", std::process::id());
        let program = dir.join(&name);
        std::fs::copy("/bin/sleep", &program).unwrap();
        let root = Path::new("/proc");
        let by_name = Matcher::Name(name.clone());
        let by_pidof = Matcher::Pidof {
            name: name.clone(),
            scripts: false,
        };
        let by_command = Matcher::Command {
            argv0: program.to_str().unwrap().to_string(),
            params: vec!["30".into()],
            param_match: ParamMatch::Exact,
        };
        assert_eq!(count(&by_name, root).unwrap(), 0);
        let mut a = std::process::Command::new(&program)
            .arg("30")
            .spawn()
            .unwrap();
        let mut b = std::process::Command::new(&program)
            .arg("31")
            .spawn()
            .unwrap();
        // spawn returns once the child's exec has released our memory (vfork), which is a
        // moment before the kernel gives it its new name: wait for both names.
        let named = std::time::Instant::now() + Duration::from_secs(5);
        while count(&by_name, root).unwrap() != 2 && std::time::Instant::now() < named {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(count(&by_name, root).unwrap(), 2);
        assert_eq!(count(&by_pidof, root).unwrap(), 2);
        assert_eq!(count(&by_command, root).unwrap(), 1);
        // Killed but not reaped: a zombie, which does not count.
        a.kill().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while count(&by_name, root).unwrap() != 1 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(count(&by_name, root).unwrap(), 1);
        assert_eq!(count(&by_pidof, root).unwrap(), 1);
        assert_eq!(count(&by_command, root).unwrap(), 0);
        b.kill().unwrap();
        let _ = a.wait();
        let _ = b.wait();
        assert_eq!(count(&by_name, root).unwrap(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
