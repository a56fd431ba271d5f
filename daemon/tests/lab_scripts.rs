//! Scripts as keepalived users write them, end to end in namespaces (needs root): scripts
//! that are missing at start and appear later, native process checks (`vrrp_track_process`
//! and the `killall -0 NAME` one-liner), what a script child inherits (capabilities), and
//! that no process a check started outlives it.
//!
//! Process checks read /proc, which the lab's namespaces share with the whole machine: the
//! processes they look for get names unique to the test run.

mod lab;
mod lab_vipd_support;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use lab::{Daemon, Lab};
use vipd::control::StatusReport;

const SETTLE: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(25);

fn vip() -> IpAddr {
    lab_vipd_support::vip4()
}

/// Waits until `router` alone holds `ip`.
fn expect_holder(lab: &Lab, ip: IpAddr, router: usize, why: &str) -> Duration {
    lab_vipd_support::expect_sole_holder(lab, ip, router, SETTLE, why)
}

/// Polls `vipd status` until `cond` holds; returns that report.
fn expect_status(
    daemon: &Daemon,
    why: &str,
    cond: impl FnMut(&StatusReport) -> bool,
) -> StatusReport {
    lab_vipd_support::expect_status(daemon, SETTLE, why, cond)
}

fn check<'a>(report: &'a StatusReport, name: &str) -> &'a vipd::control::CheckStatus {
    report
        .checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check {name} in {report:#?}"))
}

/// keepalived.conf: one VRRPv3 instance on eth0 (100 ms adverts) with `tracking` lines, after
/// the given top-level blocks.
fn conf(router: usize, priority: u8, blocks: &str, tracking: &str) -> String {
    format!(
        "global_defs {{\n    router_id r{router}\n}}\n\n{blocks}\n\
         vrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 51\n    \
         priority {priority}\n    version 3\n    advert_int 0.1\n{tracking}\n    \
         virtual_ipaddress {{\n        192.0.2.100/24\n    }}\n}}\n"
    )
}

static NAMES: AtomicU32 = AtomicU32::new(0);

/// A copy of `sleep` under a name no other process on the machine has (at most 15 bytes,
/// so it is the whole process name).
fn unique_program(lab: &Lab) -> (String, PathBuf) {
    let name = format!(
        "vtp{:x}x{}",
        std::process::id(),
        NAMES.fetch_add(1, Ordering::SeqCst)
    );
    assert!(name.len() <= 15, "{name}");
    let path = lab.dir().join(&name);
    std::fs::copy("/bin/sleep", &path).unwrap();
    (name, path)
}

/// Starts `program 600` in the client namespace (killed with the lab).
fn start(lab: &Lab, program: &Path) -> Daemon {
    lab.spawn_in(lab.client_ns(), &[program.to_str().unwrap(), "600"], &[])
}

fn vipd_check(conf_text: &str, lab: &Lab, name: &str) -> lab::Exec {
    let path = lab.dir().join(format!("{name}.conf"));
    std::fs::write(&path, conf_text).unwrap();
    let binary = lab::vipd_binary().unwrap();
    lab::run(&[
        binary.to_str().unwrap(),
        "check",
        "-c",
        path.to_str().unwrap(),
    ])
}

/// A check whose script is missing at start does not stop vipd (keepalived disables it and
/// runs without it, whatever its weight); once the script is written it runs and counts
/// (beyond keepalived, which never looks again).
#[test]
fn lab_scripts_missing_script_runs_without_it_then_counts_once_written() {
    let lab = Lab::new("late-script", 2);
    let script = |router: usize| lab.dir().join(format!("chk-r{router}.sh"));
    let block = |router: usize| {
        format!(
            "vrrp_script chk {{\n    script \"{}\"\n    interval 1\n    weight 0\n}}\n",
            script(router).display()
        )
    };
    let track = "    track_script {\n        chk\n    }";
    let conf1 = conf(1, 150, &block(1), track);
    let conf2 = conf(2, 100, &block(2), track);
    lab.write_script("chk-r2.sh", "#!/bin/sh\nexit 0\n");

    let checked = vipd_check(&conf1, &lab, "late");
    assert!(checked.success, "vipd check refused:\n{}", checked.stderr);
    assert!(
        checked
            .stderr
            .contains("warning: check chk: disabled until its script can run")
            && checked.stderr.contains(&script(1).display().to_string()),
        "{}",
        checked.stderr
    );

    let r1 = lab.spawn_vipd(1, &conf1);
    let _r2 = lab.spawn_vipd(2, &conf2);
    // Weight 0 would fault on a failure; a disabled script is no failure.
    expect_holder(&lab, vip(), 1, "r1 runs without its missing script");
    let report = expect_status(&r1, "check disabled", |s| {
        check(s, "chk").state == "disabled"
    });
    let note = check(&report, "chk").note.clone().unwrap_or_default();
    assert!(note.contains("does not exist"), "{report:#?}");
    assert_eq!(report.instances[0].state, "MASTER");

    // The script appears (failing): vipd picks it up and the failure counts.
    lab.write_script("chk-r1.sh", "#!/bin/sh\nexit 1\n");
    expect_holder(&lab, vip(), 2, "the script now runs and fails: FAULT");
    let report = expect_status(&r1, "check down", |s| check(s, "chk").state == "down");
    assert_eq!(report.instances[0].state, "FAULT", "{report:#?}");
    assert!(r1.log().contains("enabled"), "{}", r1.log());

    lab.write_script("chk-r1.sh", "#!/bin/sh\nexit 0\n");
    expect_holder(&lab, vip(), 1, "the script succeeds");
}

/// keepalived 2.2.7 behaves the same with a missing script: it removes the script from the
/// instance and runs without it (no FAULT, even with weight 0), as vipd does.
#[test]
fn lab_scripts_keepalived_also_runs_without_a_missing_script() {
    let lab = Lab::new("late-ka", 2);
    let missing = lab.dir().join("never-written.sh");
    let block = format!(
        "vrrp_script chk {{\n    script \"{}\"\n    interval 1\n    weight 0\n}}\n",
        missing.display()
    );
    let track = "    track_script {\n        chk\n    }";
    let text = conf(1, 150, &block, track);
    let ka = lab.spawn_keepalived(1, &text);
    let vipd_conf = text
        .replace("192.0.2.100/24", "192.0.2.101/24")
        .replace("virtual_router_id 51", "virtual_router_id 52");
    let _vipd = lab.spawn_vipd(2, &vipd_conf);
    expect_holder(&lab, vip(), 1, "keepalived with a missing weight-0 script");
    expect_holder(&lab, "192.0.2.101".parse().unwrap(), 2, "vipd likewise");
    assert!(
        ka.log().contains("since not found") || ka.log().contains("Disabling track script"),
        "{}",
        ka.log()
    );
}

/// `vrrp_track_process` with a quorum: the instance loses 60 when fewer than two processes
/// run, and the VIP moves; with two again it moves back.
#[test]
fn lab_scripts_track_process_quorum_moves_the_vip() {
    let lab = Lab::new("track-process", 2);
    let (name, program) = unique_program(&lab);
    let block = format!(
        "vrrp_track_process svc {{\n    process {name}\n    quorum 2\n    weight -60\n}}\n"
    );
    let track = "    track_process {\n        svc\n    }";
    let conf1 = conf(1, 150, &block, track);
    let checked = vipd_check(&conf1, &lab, "tp");
    assert!(checked.success, "{}", checked.stderr);
    let mut a = start(&lab, &program);
    let _b = start(&lab, &program);
    let r1 = lab.spawn_vipd(1, &conf1);
    let _r2 = lab.spawn_vipd(2, &conf(2, 100, "", ""));
    expect_holder(&lab, vip(), 1, "two processes: quorum");
    let report = expect_status(&r1, "process check up", |s| check(s, "svc").state == "up");
    assert_eq!(check(&report, "svc").kind, "process");

    a.stop();
    expect_holder(&lab, vip(), 2, "one process: quorum lost, 150 - 60 < 100");
    let report = expect_status(&r1, "priority 90", |s| {
        s.instances[0].effective_priority == 90
    });
    assert!(
        check(&report, "svc")
            .last_result
            .as_deref()
            .unwrap_or("")
            .contains("1 process"),
        "{report:#?}"
    );
    let _c = start(&lab, &program);
    expect_holder(&lab, vip(), 1, "two again");
}

/// `killall -0 NAME` as a vrrp_script runs natively: it sees a root process although scripts
/// run as nobody (the real killall as nobody cannot signal it and fails, so with weight 0
/// every node would sit in FAULT), and it needs no fork.
#[test]
fn lab_scripts_killall_one_liner_runs_natively_for_any_script_user() {
    let lab = Lab::new("killall", 2);
    let (name, program) = unique_program(&lab);
    let block = format!(
        "vrrp_script chk_svc {{\n    script \"killall -0 {name}\"\n    interval 1\n    weight 0\n}}\n"
    );
    let track = "    track_script {\n        chk_svc\n    }";
    let conf1 = conf(1, 150, &block, track);
    let checked = vipd_check(&conf1, &lab, "killall");
    assert!(checked.success, "{}", checked.stderr);
    assert!(
        checked.stderr.contains("note: check chk_svc: `killall -0"),
        "{}",
        checked.stderr
    );
    let mut svc = start(&lab, &program);
    let r1 = lab.spawn_vipd(1, &conf1);
    let _r2 = lab.spawn_vipd(2, &conf(2, 100, "", ""));
    expect_holder(&lab, vip(), 1, "the process runs (as root)");
    let report = expect_status(&r1, "check up", |s| check(s, "chk_svc").state == "up");
    let c = check(&report, "chk_svc");
    assert_eq!(c.kind, "process");
    assert!(
        c.note
            .as_deref()
            .unwrap_or("")
            .contains("native process check"),
        "{report:#?}"
    );
    assert!(r1.log().contains("runs as a native process check"));

    svc.stop();
    expect_holder(&lab, vip(), 2, "process gone: weight 0 faults r1");
    let _svc = start(&lab, &program);
    expect_holder(&lab, vip(), 1, "process back");
}

/// `Cap*` values of a /proc/PID/status text.
fn caps(status: &str) -> Vec<(String, u64)> {
    status
        .lines()
        .filter(|l| l.starts_with("Cap"))
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.to_string(), u64::from_str_radix(v.trim(), 16).unwrap())
        })
        .collect()
}

fn cap(status: &str, key: &str) -> u64 {
    caps(status)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no {key} in {status}"))
}

fn wait_file(path: &Path) -> String {
    lab::wait_until(SETTLE, POLL, || {
        std::fs::read_to_string(path).is_ok_and(|t| t.contains("CapAmb"))
    })
    .unwrap_or_else(|| panic!("{} never written", path.display()));
    std::fs::read_to_string(path).unwrap()
}

fn caps_script(out: &Path, file: &str) -> String {
    format!(
        "vrrp_script caps {{\n    script \"/bin/sh -c 'env > {o}/{file}.env; cat /proc/self/status > {o}/{file}.tmp; mv {o}/{file}.tmp {o}/{file}'\"\n    interval 1\n    weight -1\n}}\n",
        o = out.display()
    )
}

const CAPS_TRACK: &str = "    track_script {\n        caps\n    }";

/// What a check script can do is not what vipd can do. vipd as root: the script (as nobody)
/// has no capability at all, not even in its bounding set.
#[test]
fn lab_scripts_children_of_root_vipd_get_no_capabilities() {
    let lab = Lab::new("caps-root", 1);
    let out = lab.shared_dir("out");
    let _root = lab.spawn_vipd(1, &conf(1, 150, &caps_script(&out, "root"), CAPS_TRACK));
    let status = wait_file(&out.join("root"));
    for key in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(
            cap(&status, key),
            0,
            "{key} of a script of root vipd:\n{status}"
        );
    }
}

/// vipd as the shipped unit runs it: an unprivileged user with CAP_NET_ADMIN, CAP_NET_RAW and
/// CAP_DAC_READ_SEARCH as ambient capabilities, and systemd's variables. Its scripts get none
/// of the capabilities, and none of systemd's or the loader's variables.
#[test]
fn lab_scripts_children_of_unprivileged_vipd_get_no_ambient_capabilities() {
    let lab = Lab::new("caps-amb", 1);
    let out = lab.shared_dir("out");
    let binary = lab::vipd_binary().unwrap();
    let conf_path = lab.dir().join("unpriv.conf");
    std::fs::write(
        &conf_path,
        conf(1, 100, &caps_script(&out, "unpriv"), CAPS_TRACK),
    )
    .unwrap();
    // The control socket goes where that user may write.
    let socket = out.join("unpriv.sock");
    let caps_list = "+net_admin,+net_raw,+dac_read_search";
    let unpriv = lab.spawn(
        1,
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            &format!("--inh-caps={caps_list}"),
            &format!("--ambient-caps={caps_list}"),
            binary.to_str().unwrap(),
            "run",
            "-c",
            conf_path.to_str().unwrap(),
            "--socket",
            socket.to_str().unwrap(),
            "--state-dir",
            out.join("unpriv-state").to_str().unwrap(),
        ],
        &[
            ("VIPD_LOG", "debug"),
            ("NOTIFY_SOCKET", "/nonexistent/notify"),
            ("INVOCATION_ID", "0123456789abcdef"),
            ("LD_LIBRARY_PATH", "/nonexistent"),
            ("KUBERNETES_SERVICE_HOST", "198.51.100.1"),
        ],
    );
    let status = wait_file(&out.join("unpriv"));
    let env = std::fs::read_to_string(out.join("unpriv.env")).unwrap();
    for gone in [
        "NOTIFY_SOCKET",
        "INVOCATION_ID",
        "LD_LIBRARY_PATH",
        "VIPD_LOG",
    ] {
        assert!(
            !env.lines().any(|l| l.starts_with(&format!("{gone}="))),
            "{gone} reached the script:\n{env}"
        );
    }
    for kept in ["KUBERNETES_SERVICE_HOST=198.51.100.1", "USER=nobody"] {
        assert!(env.lines().any(|l| l == kept), "{kept} missing:\n{env}");
    }
    // The test means something: vipd itself holds those capabilities.
    let own = std::fs::read_to_string(format!("/proc/{}/status", unpriv.pid())).unwrap();
    assert_ne!(
        cap(&own, "CapAmb"),
        0,
        "vipd runs without ambient caps:\n{own}"
    );
    assert_ne!(cap(&own, "CapEff"), 0);
    for key in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
        assert_eq!(
            cap(&status, key),
            0,
            "{key} of a script of unprivileged vipd:\n{status}\n{}",
            unpriv.log()
        );
    }
}

fn pids(path: &Path) -> Vec<i32> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn all_gone(pids: &[i32]) -> bool {
    lab::wait_until(Duration::from_secs(10), POLL, || {
        pids.iter().all(|&p| !lab::procfs::is_alive(p))
    })
    .is_some()
}

/// A check that forks and hangs is killed entirely at its timeout; one that exits leaving a
/// child behind has the child killed; and stopping vipd kills a check still running. No
/// orphan survives.
#[test]
fn lab_scripts_no_process_of_a_check_outlives_it() {
    let lab = Lab::new("orphans", 1);
    let out = lab.shared_dir("pids");
    let o = out.display();
    let blocks = format!(
        "vrrp_script hang {{\n    script \"/bin/sh -c 'sleep 600 & echo $! >> {o}/hang; echo $$ >> {o}/hang; sleep 600'\"\n    interval 1\n    timeout 1\n    weight -1\n}}\n\
         vrrp_script leave {{\n    script \"/bin/sh -c 'sleep 600 & echo $! >> {o}/leave; exit 0'\"\n    interval 1\n    weight -1\n}}\n\
         vrrp_script slow {{\n    script \"/bin/sh -c 'sleep 600 & echo $! >> {o}/slow; echo $$ >> {o}/slow; wait'\"\n    interval 1\n    timeout 120\n    weight -1\n}}\n"
    );
    let track = "    track_script {\n        hang\n        leave\n        slow\n    }";
    let mut daemon = lab.spawn_vipd(1, &conf(1, 150, &blocks, track));
    // A few runs of each.
    lab::wait_until(SETTLE, POLL, || {
        pids(&out.join("hang")).len() >= 4 && pids(&out.join("leave")).len() >= 2
    })
    .unwrap_or_else(|| panic!("scripts did not run:\n{}", daemon.log()));
    lab::wait_until(SETTLE, POLL, || pids(&out.join("slow")).len() >= 2).unwrap();
    // Runs that are over: nothing left (the last `hang` run may be in progress).
    let hang: Vec<i32> = pids(&out.join("hang"));
    let finished = &hang[..hang.len() - 2];
    assert!(
        all_gone(finished),
        "a timed-out check left processes: {hang:?}"
    );
    let leave = pids(&out.join("leave"));
    let done = &leave[..leave.len() - 1];
    assert!(
        all_gone(done),
        "processes left by a finished check survive: {leave:?}"
    );
    // Stopping vipd kills the check still running (and its child).
    let slow = pids(&out.join("slow"));
    assert!(slow.iter().all(|&p| lab::procfs::is_alive(p)));
    let status = daemon.stop_within(Duration::from_secs(15));
    assert!(status.success(), "{status:?}\n{}", daemon.log());
    let mut everything = pids(&out.join("hang"));
    everything.extend(pids(&out.join("leave")));
    everything.extend(pids(&out.join("slow")));
    assert!(
        all_gone(&everything),
        "processes of checks outlived vipd: {:?}",
        everything
            .iter()
            .filter(|&&p| lab::procfs::is_alive(p))
            .collect::<Vec<_>>()
    );
}
