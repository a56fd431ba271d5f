//! Pid files and keepalived's command line in the namespace lab (needs root): what units
//! (`PIDFile=`), scripts (`kill -HUP $(cat /run/keepalived.pid)`) and keepalived-exporter
//! (`--ka.pid-path`: it signals that pid for dumps) rely on, with vipd run as `vipd run
//! --pid-file`, as `keepalived` through a symlink, and as `vipd keepalived` without `-n`
//! (forking). Every pid file is unique to its daemon (lab support).

mod lab;
mod lab_vipd_support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lab::{run, wait_until, Daemon, Lab};
use lab_vipd_support::*;

/// A pid no process can have (above the kernel's largest pid_max, 2^22).
const NEVER_A_PID: &str = "4194305";

/// The pid files of a daemon from `Lab::spawn_vipd_keepalived` (`-p`, `-r`).
fn pid_files(daemon: &Daemon) -> (PathBuf, PathBuf) {
    let conf = daemon.conf_path.as_ref().expect("config path");
    (conf.with_extension("pid"), conf.with_extension("vrrp.pid"))
}

fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn kill(pid: i32, signal: i32) {
    // SAFETY: kill(2) with a pid a test process started.
    assert_eq!(
        unsafe { libc::kill(pid, signal) },
        0,
        "kill -{signal} {pid}"
    );
}

fn alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false)
}

/// Waits for the process started as `daemon` to exit; its exit code.
fn wait_exit(daemon: &mut Daemon, timeout: Duration) -> Option<i32> {
    wait_until(timeout, Duration::from_millis(10), || !daemon.is_running())?;
    daemon.stop().code()
}

/// Kills a daemon that is not our child (a forked vipd) when the test ends, however.
struct Reap(i32);

impl Drop for Reap {
    fn drop(&mut self) {
        if alive(self.0) {
            // SAFETY: as `kill`.
            unsafe { libc::kill(self.0, libc::SIGKILL) };
        }
    }
}

#[test]
fn pid_file_is_written_stale_ones_replaced_a_second_daemon_refused_and_removed_on_stop() {
    let lab = Lab::new("vipd-pidfile", 1);
    let stale = lab.dir().join("stale.pid");
    std::fs::write(&stale, format!("{NEVER_A_PID}\n")).unwrap();
    // A symlink someone placed: replaced, its target untouched.
    let target = lab.dir().join("precious");
    std::fs::write(&target, "precious\n").unwrap();
    let link = lab.dir().join("link.pid");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let conf = conf(1, &[v3_ipv4(150)]);
    let args = [
        "--pid-file",
        stale.to_str().unwrap(),
        "--pid-file",
        link.to_str().unwrap(),
    ];
    let mut r1 = start_vipd_args(&lab, 1, &conf, &args, &[]);
    wait_state(&r1, "VI_1", "MASTER");
    for path in [&stale, &link] {
        assert_eq!(read_pid(path), Some(r1.pid()), "{}", path.display());
        let meta = std::fs::symlink_metadata(path).unwrap();
        assert!(
            meta.file_type().is_file(),
            "{} is a regular file",
            path.display()
        );
        assert_eq!(meta.permissions().mode() & 0o777, 0o644);
    }
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
    let log = r1.log();
    assert!(
        log.contains(&format!("replaced the stale pid file {}", stale.display()))
            && log.contains(&format!("replaced the stale pid file {}", link.display())),
        "{log}"
    );

    // A second vipd on the same pid file (its own socket): refused before it touches
    // anything, with the pid it found; the first keeps its file and its VIP.
    let mut second = lab.spawn_vipd_args(1, &conf, &["--pid-file", stale.to_str().unwrap()], &[]);
    let code = wait_exit(&mut second, SETTLE);
    assert_eq!(code, Some(1), "second vipd:\n{}", second.log());
    assert!(
        second.log().contains(&format!(
            "{} names pid {}, a running vipd: a daemon is running already",
            stale.display(),
            r1.pid()
        )),
        "{}",
        second.log()
    );
    assert_eq!(read_pid(&stale), Some(r1.pid()));
    expect_stays_sole_holder(&lab, vip4(), 1, ADVERT * 3);

    assert!(r1.stop().success(), "{}", r1.log());
    assert!(
        !stale.exists() && !link.exists(),
        "pid files left after a clean stop"
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
}

#[test]
fn keepalived_symlink_runs_a_lab_instance_signalled_through_its_pid_file() {
    let lab = Lab::new("vipd-kasym", 1);
    let dumps = lab.dir().join("r1-tmp");
    std::fs::create_dir_all(&dumps).unwrap();
    let tmpdir = dumps.to_str().unwrap();
    // Debian's unit and /etc/default/keepalived, RHEL's KEEPALIVED_OPTIONS="-D".
    let daemon = lab.spawn_vipd_keepalived(
        1,
        &conf(1, &[v3_ipv4(150)]),
        &["--dont-fork", "-D", "-P", "-l", "-S", "0"],
        &[("TMPDIR", tmpdir)],
        true,
    );
    let mut daemon = wait_started(daemon, 1);
    wait_state(&daemon, "VI_1", "MASTER");
    expect_sole_holder(
        &lab,
        vip4(),
        1,
        SETTLE,
        "master through keepalived's command line",
    );
    assert!(
        daemon
            .log()
            .contains("vipd: note: -S/--log-facility ignored"),
        "{}",
        daemon.log()
    );
    let (pid_file, vrrp_pid_file) = pid_files(&daemon);
    assert_eq!(read_pid(&pid_file), Some(daemon.pid()));
    assert_eq!(read_pid(&vrrp_pid_file), Some(daemon.pid()));

    // keepalived-exporter: read --ka.pid-path, signal that pid, read the files.
    let pid = read_pid(&pid_file).unwrap();
    for (signal, file) in [
        (libc::SIGUSR1, "keepalived.data"),
        (libc::SIGUSR2, "keepalived.stats"),
        (36, "keepalived.json"),
    ] {
        kill(pid, signal);
        let path = dumps.join(file);
        assert!(
            wait_until(SETTLE, Duration::from_millis(10), || path.exists()).is_some(),
            "{file} not written:\n{}",
            daemon.log()
        );
    }
    let data = std::fs::read_to_string(dumps.join("keepalived.data")).unwrap();
    assert!(
        data.contains(" VRRP Instance = VI_1\n") && data.contains("   State = MASTER\n"),
        "{data}"
    );
    // Scripts and logrotate-style hooks.
    let hup = run(&[
        "sh",
        "-c",
        &format!("kill -HUP $(cat {})", pid_file.display()),
    ]);
    assert!(hup.success, "{}", hup.stderr);
    assert!(
        daemon.wait_log("reload done", SETTLE).is_some(),
        "{}",
        daemon.log()
    );
    assert!(daemon.is_running());

    // `kill $(cat /run/keepalived.pid)`: a clean stop, both files gone.
    kill(pid, libc::SIGTERM);
    assert_eq!(wait_exit(&mut daemon, SETTLE), Some(0), "{}", daemon.log());
    assert!(!pid_file.exists() && !vrrp_pid_file.exists());
    assert!(lab.holders(vip4()).is_empty(), "VIP left after the stop");
}

#[test]
fn keepalived_without_dont_fork_forks_once_up_and_reports_a_failed_start() {
    let lab = Lab::new("vipd-kafork", 1);
    // `vipd keepalived -D` (a Type=forking unit): the command returns once the daemon is up.
    let mut parent = lab.spawn_vipd_keepalived(1, &conf(1, &[v3_ipv4(150)]), &["-D"], &[], false);
    let code = wait_exit(&mut parent, SETTLE);
    assert_eq!(code, Some(0), "{}", parent.log());
    assert!(
        parent.log().contains("started with"),
        "exited before the daemon was up:\n{}",
        parent.log()
    );
    let (pid_file, _) = pid_files(&parent);
    let pid = read_pid(&pid_file).expect("pid file written before the parent exits");
    let _reap = Reap(pid);
    assert_ne!(
        pid,
        parent.pid(),
        "the pid file names the daemon, not the parent"
    );
    assert!(alive(pid));
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .unwrap()
            .trim(),
        "vipd"
    );
    expect_sole_holder(&lab, vip4(), 1, SETTLE, "forked daemon");
    kill(pid, libc::SIGTERM);
    assert!(
        wait_until(SETTLE, Duration::from_millis(10), || !alive(pid)).is_some(),
        "forked vipd did not stop"
    );
    assert!(!pid_file.exists(), "pid file left");

    // Started with its output read through a pipe (`OUT=$(keepalived -D)`, a configuration
    // tool): the command's output ends once the daemon is up, not when it stops.
    let conf_path = lab.dir().join("piped.conf");
    std::fs::write(&conf_path, conf(1, &[v3_ipv4(150)])).unwrap();
    let piped_pid = lab.dir().join("piped.pid");
    let socket = format!("--socket={}", lab.dir().join("piped.sock").display());
    let state = format!("--state-dir={}", lab.state_dir(1).display());
    let vipd = lab::vipd_binary().unwrap();
    let child = std::process::Command::new("ip")
        .args(["netns", "exec", lab.router_ns(1)])
        .arg(&vipd)
        .args(["keepalived", "-D", "-f"])
        .arg(&conf_path)
        .arg("-p")
        .arg(&piped_pid)
        .arg("-r")
        .arg(lab.dir().join("piped.vrrp.pid"))
        .args([&socket, &state])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (done, output) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(child.wait_with_output()));
    let output = output.recv_timeout(SETTLE);
    let pid = read_pid(&piped_pid);
    let _reap_piped = pid.map(Reap);
    let output = output
        .expect("the output did not end: the daemon kept the pipe")
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    // Its log so far reached the pipe before the daemon let go of it.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("started with"),
        "the start line did not reach the pipe:\n{stderr}"
    );
    let pid = pid.expect("pid file");
    assert!(alive(pid));
    kill(pid, libc::SIGTERM);
    assert!(wait_until(SETTLE, Duration::from_millis(10), || !alive(pid)).is_some());

    // A file it cannot run: the parent says so with the daemon's exit code, as keepalived's
    // parent (exit 0 at once) does not.
    let bad =
        "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 300\n  priority 100\n}\n";
    let mut parent = lab.spawn_vipd_keepalived(1, bad, &["-D"], &[], false);
    assert_eq!(wait_exit(&mut parent, SETTLE), Some(1), "{}", parent.log());
    assert!(
        parent.log().contains("`virtual_router_id`"),
        "{}",
        parent.log()
    );
    assert!(!pid_files(&parent).0.exists());
}

#[test]
fn keepalived_namespace_option_runs_the_instances_in_that_namespace() {
    let lab = Lab::new("vipd-kans", 2);
    // Started in r1's namespace, told to run in r2's: the VIP must appear on r2.
    let ns2 = lab.router_ns(2).to_string();
    let daemon = lab.spawn_vipd_keepalived(
        1,
        &conf(2, &[v3_ipv4(150)]),
        &["-n", "-s", &ns2],
        &[],
        false,
    );
    let daemon = wait_started(daemon, 1);
    expect_sole_holder(&lab, vip4(), 2, SETTLE, "instance in the -s namespace");
    // A reload reads the file again: still that namespace, no complaint about a change.
    daemon.reload();
    assert!(
        daemon.wait_log("reload done", SETTLE).is_some(),
        "{}",
        daemon.log()
    );
    assert!(
        !daemon.log().contains("net_namespace changed by reload"),
        "{}",
        daemon.log()
    );
    expect_stays_sole_holder(&lab, vip4(), 2, ADVERT * 3);
}

/// keepalived 2.2.7 moves its pid files for `net_namespace`, `instance` and `use_pid_dir`
/// (`/run/keepalived/NAMESPACE/vrrp_INSTANCE.pid` here), `-p`/`-r` still winning each for its
/// file; vipd's keepalived command line kept both in /run. The directories it made go with
/// the files on a clean stop, as keepalived's do.
#[test]
fn keepalived_pid_files_move_with_namespace_and_instance_as_keepalived_s() {
    let lab = Lab::new("vipd-kapid", 1);
    let ns = lab.router_ns(1).to_string();
    let instance = format!("t{}", std::process::id());
    let conf_path = lab.dir().join("moved.conf");
    std::fs::write(
        &conf_path,
        format!(
            "net_namespace {ns}\ninstance {instance}\n{}",
            conf(1, &[v3_ipv4(150)])
        ),
    )
    .unwrap();
    let main_pid = lab.dir().join("main.pid");
    let dir = Path::new("/run/keepalived").join(&ns);
    let vrrp_pid = dir.join(format!("vrrp_{instance}.pid"));
    let vipd = lab::vipd_binary().unwrap();
    let socket = format!("--socket={}", lab.dir().join("moved.sock").display());
    let state = format!("--state-dir={}", lab.state_dir(1).display());
    let daemon = lab.spawn(
        1,
        &[
            vipd.to_str().unwrap(),
            "keepalived",
            "-n",
            "-f",
            conf_path.to_str().unwrap(),
            "-p",
            main_pid.to_str().unwrap(),
            &socket,
            &state,
        ],
        &[],
    );
    let mut daemon = wait_started(daemon, 1);
    assert_eq!(read_pid(&main_pid), Some(daemon.pid()), "{}", daemon.log());
    assert_eq!(read_pid(&vrrp_pid), Some(daemon.pid()), "{}", daemon.log());
    assert_eq!(
        std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o755
    );
    kill(daemon.pid(), libc::SIGTERM);
    assert_eq!(wait_exit(&mut daemon, SETTLE), Some(0), "{}", daemon.log());
    assert!(!main_pid.exists() && !vrrp_pid.exists() && !dir.exists());
}
