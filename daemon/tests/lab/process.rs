//! A program running in a lab namespace, with its output in a log file.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::procfs;

/// A process started by the lab (`ip netns exec NS PROGRAM ...`, which execs in place, so
/// `pid()` is the program itself). Dropping it kills its whole process tree; while a test
/// panics the log is printed.
pub struct Daemon {
    /// 1-based router index, 0 for other namespaces.
    pub router: usize,
    pub name: String,
    pub log_path: PathBuf,
    pub conf_path: Option<PathBuf>,
    pub socket_path: Option<PathBuf>,
    child: Child,
    exit: Option<ExitStatus>,
}

pub(super) fn spawn_in_ns(
    ns: &str,
    router: usize,
    tag: &str,
    dir: &Path,
    argv: &[&str],
    env: &[(&str, &str)],
) -> Daemon {
    let log_path = dir.join(format!("{tag}.log"));
    let log = File::create(&log_path).expect("create process log");
    let log_err = log.try_clone().expect("clone log handle");
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns])
        .args(argv)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {} in {ns}: {e}", argv.join(" ")));
    Daemon {
        router,
        name: tag.to_owned(),
        log_path,
        conf_path: None,
        socket_path: None,
        child,
        exit: None,
    }
}

impl Daemon {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The process and its children (e.g. keepalived's VRRP child).
    pub fn tree_pids(&self) -> Vec<i32> {
        if self.exit.is_some() {
            return Vec::new();
        }
        procfs::tree(self.pid())
    }

    pub fn is_running(&mut self) -> bool {
        if self.exit.is_some() {
            return false;
        }
        match self.child.try_wait() {
            Ok(Some(status)) => {
                self.exit = Some(status);
                false
            }
            Ok(None) => true,
            Err(_) => false,
        }
    }

    pub fn signal(&self, signal: Signal) {
        if self.exit.is_none() {
            let _ = kill(Pid::from_raw(self.pid()), signal);
        }
    }

    /// SIGHUP (reload for keepalived and vipd).
    pub fn reload(&self) {
        self.signal(Signal::SIGHUP);
    }

    /// SIGTERM and wait up to 10 s (then SIGKILL). Returns the exit status.
    pub fn stop(&mut self) -> ExitStatus {
        self.stop_within(Duration::from_secs(10))
    }

    pub fn stop_within(&mut self, grace: Duration) -> ExitStatus {
        if let Some(status) = self.exit {
            return status;
        }
        self.signal(Signal::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exit = Some(status);
                return status;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        eprintln!("{} did not stop within {grace:?}; killing it", self.name);
        self.kill9()
    }

    /// SIGKILL of the whole process tree at once, like a crash: nothing gets to clean up.
    pub fn kill9(&mut self) -> ExitStatus {
        if let Some(status) = self.exit {
            return status;
        }
        procfs::kill_tree(self.pid());
        let status = self.child.wait().expect("wait for killed process");
        self.exit = Some(status);
        status
    }

    /// Everything the process wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Waits until the log contains `needle`; returns how long that took.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> Option<Duration> {
        super::wait_until(timeout, Duration::from_millis(10), || {
            self.log().contains(needle)
        })
    }

    /// CPU time (user + system) of the process tree so far.
    pub fn cpu_time(&self) -> Duration {
        procfs::tree_cpu(self.pid())
    }

    /// Resident memory of the process tree, bytes.
    pub fn rss_bytes(&self) -> u64 {
        procfs::tree_rss(self.pid())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.exit.is_none() {
            procfs::kill_tree(self.pid());
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!("=== log of {} ({}) ===", self.name, self.log_path.display());
            eprintln!("{}", self.log());
        }
    }
}
