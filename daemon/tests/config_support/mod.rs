//! What the tests that put keepalived.conf files through keepalived 2.2.7 and vipd share
//! (`config_differential`, `config_keyword_sweep`, `config_corpus`; root needed): running
//! a command for its exit code and output, a network namespace holding the interfaces the
//! files name, a root-owned work directory, and keepalived started on a file.

#![allow(dead_code)] // each test file uses a part

pub mod rewrite;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A number unique in this test process (names of namespaces, directories, files).
pub fn unique() -> u32 {
    COUNTER.fetch_add(1, Ordering::SeqCst)
}

/// Runs `argv`: its exit code (-1 when killed) and stdout followed by stderr.
pub fn output(argv: &[&str]) -> (i32, String) {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", argv[0]));
    (exit_code(&out.status), stdout_and_stderr(&out))
}

/// The exit status as a shell reports it: 128 + N for a process killed by signal N.
pub fn exit_code(status: &std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
        .unwrap_or(-1)
}

/// Runs `argv`; panics with its output unless it exits 0.
pub fn output_ok(argv: &[&str]) {
    let (rc, out) = output(argv);
    assert_eq!(rc, 0, "{argv:?} failed:\n{out}");
}

/// stdout followed by stderr, as text.
pub fn stdout_and_stderr(out: &std::process::Output) -> String {
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    text
}

/// A network namespace (`vipd-TAG-PID-N`, loopback up), removed on drop.
pub struct Namespace(pub String);

impl Namespace {
    pub fn new(tag: &str) -> Namespace {
        let name = format!("vipd-{tag}-{}-{}", std::process::id(), unique());
        output_ok(&["ip", "netns", "add", &name]);
        let ns = Namespace(name);
        output_ok(&["ip", "-n", &ns.0, "link", "set", "lo", "up"]);
        ns
    }

    /// Adds `ifname` (one end of a veth pair, both ends up) with `addresses` (no DAD). Fails
    /// with `ip`'s message when the kernel refuses the name or an address.
    pub fn add_interface(&self, ifname: &str, addresses: &[&str]) -> Result<(), String> {
        let peer = format!("vethp{}", unique());
        let mut steps: Vec<Vec<&str>> = vec![
            vec![
                "ip", "-n", &self.0, "link", "add", ifname, "type", "veth", "peer", "name", &peer,
            ],
            vec!["ip", "-n", &self.0, "link", "set", ifname, "up"],
            vec!["ip", "-n", &self.0, "link", "set", &peer, "up"],
        ];
        for address in addresses {
            steps.push(vec![
                "ip", "-n", &self.0, "addr", "add", address, "dev", ifname, "nodad",
            ]);
        }
        for argv in steps {
            let (rc, out) = output(&argv);
            if rc != 0 {
                return Err(format!("{argv:?}: {out}"));
            }
        }
        Ok(())
    }

    /// `keepalived -t -f CONF [EXTRA...]` in this namespace: exit code and output.
    pub fn keepalived_test(&self, conf: &Path, extra: &[&str]) -> (i32, String) {
        let conf = conf.to_str().expect("utf-8 path");
        let mut argv = vec![
            "ip",
            "netns",
            "exec",
            &self.0,
            "keepalived",
            "-t",
            "-f",
            conf,
        ];
        argv.extend_from_slice(extra);
        output(&argv)
    }

    /// keepalived's VRRP process started on `conf` in this namespace, in the foreground
    /// with its log on stdout/stderr, pid files in `work`; `extra` arguments after them
    /// (`-i ID`).
    pub fn spawn_keepalived(
        &self,
        conf: &Path,
        work: &Path,
        extra: &[&str],
        stdout: Stdio,
        stderr: Stdio,
    ) -> Child {
        let n = unique();
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.0,
                "keepalived",
                "-n",
                "-l",
                "-D",
                "--vrrp",
                "-f",
            ])
            .arg(conf)
            .arg("-p")
            .arg(work.join(format!("keepalived-{n}.pid")))
            .arg("-r")
            .arg(work.join(format!("keepalived-vrrp-{n}.pid")))
            .arg("-c")
            .arg(work.join(format!("keepalived-checkers-{n}.pid")))
            .arg("-b")
            .arg(work.join(format!("keepalived-bfd-{n}.pid")))
            .args(extra)
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("start keepalived")
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

/// A root-owned directory `/run/vipd-TAG-PID-N`, mode 0755 (keepalived's script security
/// refuses scripts and files below a directory others may write, such as /tmp); removed
/// on drop.
pub struct WorkDir(pub PathBuf);

impl WorkDir {
    pub fn new(tag: &str) -> WorkDir {
        let dir = PathBuf::from(format!(
            "/run/vipd-{tag}-{}-{}",
            std::process::id(),
            unique()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create work dir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
            .expect("chmod work dir");
        WorkDir(dir)
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Whether keepalived's VRRP process is still running the file after a few seconds.
pub fn keepalived_keeps_running(ns: &Namespace, conf: &Path, work: &Path) -> bool {
    let mut child = ns.spawn_keepalived(conf, work, &[], Stdio::piped(), Stdio::piped());
    let deadline = std::time::Instant::now() + Duration::from_millis(2500);
    while std::time::Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            // No ip_vs module on the machine (lvs_sync_daemon): a host limit, not the file.
            return log(child).contains("Can't initialize ipvs");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Still running: stop it (SIGINT, as `timeout -s INT` would) and wait for it.
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    !log(child).contains("permanent error")
}

fn log(child: std::process::Child) -> String {
    stdout_and_stderr(&child.wait_with_output().expect("keepalived output"))
}
