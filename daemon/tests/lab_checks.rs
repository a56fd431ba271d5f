//! Health checks, tracking, notifications and sync groups of vipd, end to end in namespaces
//! (needs root): real services inside the router namespaces (TCP, HTTP, HTTPS with a
//! self-signed certificate, scripts), two vipd daemons, and the VIP observed with `ip addr`.
//!
//! Assertions are on outcomes (who holds the VIP, what `vipd status` says, what scripts wrote),
//! with generous timeouts for a loaded CI; timing is only checked as a lower bound where the
//! configuration implies one (rise).

mod lab;
mod lab_vipd_support;

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use lab::keepalived_conf::{KeepalivedConf, VrrpInstance};
use lab::{Daemon, Lab, LabOptions, Segment, ServiceKind};
use vipd::control::{InstanceStatus, StatusReport};

/// Long enough for a debug build on a busy 2-core machine; outcomes usually come in < 1 s.
const SETTLE: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(25);
const PORT: u16 = 8080;

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

fn instance<'a>(report: &'a StatusReport, name: &str) -> &'a InstanceStatus {
    report
        .instances
        .iter()
        .find(|i| i.name == name)
        .unwrap_or_else(|| panic!("no instance {name} in {report:#?}"))
}

fn priority_of(report: &StatusReport, name: &str) -> u8 {
    instance(report, name).effective_priority
}

fn check_state(report: &StatusReport, name: &str) -> String {
    report
        .checks
        .iter()
        .find(|c| c.name == name)
        .map(|c| c.state.clone())
        .unwrap_or_else(|| panic!("no check {name} in {report:#?}"))
}

/// A native vipd.toml: `[global]` with VRRPv3, then the given instance and check blocks.
fn native(router: usize, blocks: &[String]) -> String {
    let mut text = format!("[global]\nrouter_id = \"r{router}\"\nvrrp_version = 3\n");
    for block in blocks {
        text.push('\n');
        text.push_str(block);
    }
    text
}

/// An `[[instance]]` on eth0 with 100 ms adverts.
fn native_instance(name: &str, vrid: u8, priority: u8, vip: &str, tracks: &str) -> String {
    format!(
        "[[instance]]\nname = \"{name}\"\ninterface = \"eth0\"\nvrid = {vrid}\n\
         priority = {priority}\nadvert_interval = \"100ms\"\nvips = [\"{vip}\"]\n\
         track_checks = [{tracks}]\n"
    )
}

/// A `[[check]]` with `fields` (kind-specific keys, interval, rise, ...).
fn native_check(name: &str, fields: &str) -> String {
    format!("[[check]]\nname = \"{name}\"\n{fields}\n")
}

/// Service killed (or unhealthy) on the master -> VIP at the backup; healthy again -> the VIP
/// returns (preempt), but not before `rise` successes.
fn failover_and_return(
    test: &str,
    kind: ServiceKind,
    check_fields: &str,
    fail: impl Fn(&mut lab::Service),
    heal: impl Fn(&mut lab::Service),
) {
    const INTERVAL_MS: u64 = 200;
    const RISE: u64 = 5;
    let lab = Lab::new(test, 2);
    let mut services: Vec<lab::Service> = lab
        .router_indices()
        .map(|r| lab.service(r, kind, PORT))
        .collect();
    let conf = |router: usize, priority: u8| {
        native(
            router,
            &[
                native_instance(
                    "VI_1",
                    51,
                    priority,
                    "192.0.2.100/24",
                    "{ check = \"svc\" }",
                ),
                native_check(
                    "svc",
                    &format!(
                        "{check_fields}\ninterval = \"{INTERVAL_MS}ms\"\ntimeout = \"2s\"\n\
                         fall = 2\nrise = {RISE}\nweight = -60"
                    ),
                ),
            ],
        )
    };
    let r1 = lab.spawn_vipd_toml(1, &conf(1, 150));
    let r2 = lab.spawn_vipd_toml(2, &conf(2, 100));
    expect_holder(&lab, vip(), 1, "start");
    expect_status(&r1, "check up on r1", |s| check_state(s, "svc") == "up");

    fail(&mut services[0]);
    expect_holder(&lab, vip(), 2, "service failed on r1");
    let report = expect_status(&r1, "r1 priority 150 - 60", |s| {
        priority_of(s, "VI_1") == 90
    });
    assert_eq!(check_state(&report, "svc"), "down", "{report:#?}");
    assert_eq!(instance(&report, "VI_1").state, "BACKUP", "{report:#?}");
    let r2_report = expect_status(&r2, "r2 master", |s| instance(s, "VI_1").state == "MASTER");
    assert_eq!(priority_of(&r2_report, "VI_1"), 100);

    let healed = Instant::now();
    heal(&mut services[0]);
    expect_holder(&lab, vip(), 1, "service healthy again on r1");
    let back = healed.elapsed();
    // rise 5 at 200 ms: the 5th success comes at least 4 intervals after the first.
    let floor = Duration::from_millis(INTERVAL_MS * (RISE - 1));
    assert!(
        back >= floor,
        "VIP returned after {back:?}, before {RISE} successes ({floor:?})"
    );
    let report = expect_status(&r1, "r1 master at 150 again", |s| {
        priority_of(s, "VI_1") == 150 && instance(s, "VI_1").state == "MASTER"
    });
    assert_eq!(check_state(&report, "svc"), "up");
    let check = report.checks.iter().find(|c| c.name == "svc").unwrap();
    assert!(check.last_latency_ms.is_some(), "{report:#?}");
    drop(r2);
}

#[test]
fn lab_checks_tcp_service_killed_moves_vip_and_back_after_rise() {
    failover_and_return(
        "tcp-kill",
        ServiceKind::Tcp,
        &format!("kind = \"tcp\"\nhost = \"127.0.0.1\"\nport = {PORT}"),
        |s| {
            s.kill();
        },
        |s| s.restart(),
    );
}

#[test]
fn lab_checks_http_unhealthy_status_moves_vip_and_back() {
    failover_and_return(
        "http-503",
        ServiceKind::Http,
        &format!(
            "kind = \"http\"\nurl = \"http://127.0.0.1:{PORT}/healthz\"\n\
             expected_status = [200, 204]\nhost_header = \"api.example\""
        ),
        |s| s.set_status(503),
        |s| s.set_status(204),
    );
}

#[test]
fn lab_checks_https_self_signed_killed_moves_vip_and_back() {
    failover_and_return(
        "https-kill",
        ServiceKind::Https,
        &format!(
            "kind = \"http\"\nurl = \"https://127.0.0.1:{PORT}/readyz\"\n\
             insecure_skip_verify = true"
        ),
        |s| {
            s.kill();
        },
        |s| s.restart(),
    );
}

/// keepalived semantics: positive weights add while up, negative subtract while down, the
/// sum is clamped to 1..=254, and the address owner's 255 never changes.
#[test]
fn lab_checks_weight_arithmetic_and_clamping() {
    let lab = Lab::new("weights", 1);
    let mut svc = [8081u16, 8082, 8083].map(|port| lab.service(1, ServiceKind::Tcp, port));
    let tcp = |port: u16, weight: i32| {
        format!(
            "kind = \"tcp\"\nhost = \"127.0.0.1\"\nport = {port}\ninterval = \"100ms\"\n\
             timeout = \"2s\"\nweight = {weight}"
        )
    };
    let conf = native(
        1,
        &[
            native_instance(
                "A",
                51,
                200,
                "192.0.2.100/24",
                "{ check = \"plus30\" }, { check = \"plus40\" }, { check = \"minus250\" }",
            ),
            native_instance(
                "OWNER",
                52,
                255,
                "192.0.2.101/24",
                "{ check = \"minus250\" }",
            ),
            // The instance's weight overrides the check's: -20 instead of +30.
            native_instance(
                "C",
                53,
                100,
                "192.0.2.102/24",
                "{ check = \"plus30\", weight = -20 }",
            ),
            native_check("plus30", &tcp(8081, 30)),
            native_check("plus40", &tcp(8082, 40)),
            native_check("minus250", &tcp(8083, -250)),
        ],
    );
    let r1 = lab.spawn_vipd_toml(1, &conf);
    let expect = |why: &str, a: u8, owner: u8, c: u8| {
        expect_status(&r1, why, |s| {
            (
                priority_of(s, "A"),
                priority_of(s, "OWNER"),
                priority_of(s, "C"),
            ) == (a, owner, c)
        })
    };
    // 200 + 30 + 40 = 270 -> 254.
    let report = expect("all up", 254, 255, 100);
    assert_eq!(instance(&report, "A").base_priority, 200);
    svc[0].kill();
    expect("plus30 down", 240, 255, 80);
    svc[2].kill();
    // 200 + 40 - 250 = -10 -> 1; the owner stays 255.
    expect("plus30 and minus250 down", 1, 255, 80);
    svc[1].kill();
    expect("all down", 1, 255, 80);
    svc[2].restart();
    expect("minus250 up again", 200, 255, 80);
    svc[0].restart();
    svc[1].restart();
    let report = expect("all up again", 254, 255, 100);
    for name in ["plus30", "plus40", "minus250"] {
        assert_eq!(check_state(&report, name), "up", "{report:#?}");
    }
    // Every instance stayed master: a lone router whatever its priority.
    for name in ["A", "OWNER", "C"] {
        assert_eq!(instance(&report, name).state, "MASTER", "{report:#?}");
    }
}

/// A failing check with weight 0 puts the instance in FAULT: VIP released, the backup takes
/// over; when it passes again the instance comes back and preempts.
#[test]
fn lab_checks_weight_zero_failure_faults_and_backup_takes_over() {
    let lab = Lab::new("fault-w0", 2);
    let mut svc = lab.service(1, ServiceKind::Tcp, PORT);
    let _svc2 = lab.service(2, ServiceKind::Tcp, PORT);
    let conf = |router: usize, priority: u8| {
        native(
            router,
            &[
                native_instance(
                    "VI_1",
                    51,
                    priority,
                    "192.0.2.100/24",
                    "{ check = \"svc\" }",
                ),
                native_check(
                    "svc",
                    &format!(
                        "kind = \"tcp\"\nhost = \"127.0.0.1\"\nport = {PORT}\n\
                         interval = \"100ms\"\ntimeout = \"2s\""
                    ),
                ),
            ],
        )
    };
    let r1 = lab.spawn_vipd_toml(1, &conf(1, 150));
    let r2 = lab.spawn_vipd_toml(2, &conf(2, 100));
    expect_holder(&lab, vip(), 1, "start");
    svc.kill();
    expect_holder(&lab, vip(), 2, "r1 in FAULT");
    let report = expect_status(&r1, "r1 FAULT", |s| instance(s, "VI_1").state == "FAULT");
    assert!(
        lab.addresses(1, "eth0").iter().all(|a| *a != vip()),
        "FAULT must release the VIP: {report:#?}"
    );
    expect_status(&r2, "r2 MASTER", |s| instance(s, "VI_1").state == "MASTER");
    svc.restart();
    expect_holder(&lab, vip(), 1, "r1 out of FAULT preempts");
    expect_status(&r1, "r1 MASTER", |s| instance(s, "VI_1").state == "MASTER");
}

/// An exec check that overruns its timeout fails and its process is killed.
#[test]
fn lab_checks_exec_timeout_fails_and_kills_the_script() {
    let lab = Lab::new("exec-timeout", 2);
    let out = lab.shared_dir("out");
    // The file system is shared by the namespaces: one flag per router (first argument).
    let flag = lab.dir().join("hang-r1");
    let script = lab.write_script(
        "probe.sh",
        &format!(
            "#!/bin/sh\nif [ -e {dir}/hang-$1 ]; then\n  echo $$ >> {out}/pids\n  exec sleep 60\nfi\nexit 0\n",
            dir = lab.dir().display(),
            out = out.display()
        ),
    );
    let conf = |router: usize, priority: u8| {
        native(
            router,
            &[
                native_instance(
                    "VI_1",
                    51,
                    priority,
                    "192.0.2.100/24",
                    "{ check = \"slow\" }",
                ),
                native_check(
                    "slow",
                    &format!(
                        "kind = \"exec\"\ncommand = \"{} r{router}\"\ninterval = \"500ms\"\n\
                         timeout = \"300ms\"\nweight = -60",
                        script.display()
                    ),
                ),
            ],
        )
    };
    let r1 = lab.spawn_vipd_toml(1, &conf(1, 150));
    let _r2 = lab.spawn_vipd_toml(2, &conf(2, 100));
    expect_holder(&lab, vip(), 1, "start");
    expect_status(&r1, "script ok", |s| check_state(s, "slow") == "up");

    std::fs::write(&flag, "").unwrap();
    expect_holder(&lab, vip(), 2, "a hanging script counts as failure");
    let report = expect_status(&r1, "timeout reported", |s| {
        let check = s.checks.iter().find(|c| c.name == "slow");
        check.is_some_and(|c| {
            c.state == "down" && c.last_result.as_deref().unwrap_or("").contains("timeout")
        })
    });
    assert_eq!(priority_of(&report, "VI_1"), 90);
    std::fs::remove_file(&flag).unwrap();
    expect_holder(&lab, vip(), 1, "script ok again");
    // Every script that hung was killed (after its 300 ms timeout, not after sleep's 60 s).
    let pids: Vec<i32> = std::fs::read_to_string(out.join("pids"))
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert!(!pids.is_empty());
    let all_gone = lab::wait_until(Duration::from_secs(5), POLL, || {
        pids.iter().all(|&p| !lab::procfs::is_alive(p))
    });
    assert!(all_gone.is_some(), "hung scripts still running: {pids:?}");
}

/// A script that non-root users can modify is never run: `vipd check` warns and `vipd run`
/// runs without it (keepalived with `enable_script_security` disables it too), here with
/// weight 0, which would fault the instance if the script counted as failed.
#[test]
fn lab_checks_unsafe_script_disabled_by_check_and_run() {
    use std::os::unix::fs::PermissionsExt;
    let lab = Lab::new("unsafe", 1);
    let out = lab.shared_dir("ran");
    let writable_dir = lab.dir().join("open");
    std::fs::create_dir(&writable_dir).unwrap();
    std::fs::set_permissions(&writable_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let in_open_dir = writable_dir.join("check.sh");
    let body = format!("#!/bin/sh\ntouch {}/ran\nexit 1\n", out.display());
    std::fs::write(&in_open_dir, &body).unwrap();
    std::fs::set_permissions(&in_open_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let world_writable = lab.write_script("ww.sh", &body);
    std::fs::set_permissions(&world_writable, std::fs::Permissions::from_mode(0o777)).unwrap();
    let binary = lab::vipd_binary().unwrap();

    for (script, culprit) in [
        (&in_open_dir, &writable_dir),
        (&world_writable, &world_writable),
    ] {
        let conf = KeepalivedConf::new("r1")
            .instance(
                VrrpInstance::new("VI_1", "eth0", 51)
                    .priority(150)
                    .version(3)
                    .advert_ms(100)
                    .vip("192.0.2.100/24")
                    .line("track_script {\n        chk\n    }"),
            )
            .render();
        let conf = format!(
            "vrrp_script chk {{\n    script \"{}\"\n    interval 1\n    weight 0\n}}\n\n{conf}",
            script.display()
        );
        let path = lab.dir().join("unsafe.conf");
        std::fs::write(&path, &conf).unwrap();
        let checked = lab::run(&[
            binary.to_str().unwrap(),
            "check",
            "-c",
            path.to_str().unwrap(),
        ]);
        assert!(checked.success, "vipd check refused {}", script.display());
        for needle in [
            "warning: check chk: disabled".to_string(),
            "refusing unsafe script".to_string(),
            culprit.display().to_string(),
        ] {
            assert!(
                checked.stderr.contains(&needle),
                "`{needle}` missing from vipd check's warning:\n{}",
                checked.stderr
            );
        }

        let mut daemon = lab.spawn_vipd(1, &conf);
        expect_holder(&lab, vip(), 1, "runs without the unsafe script");
        let report = expect_status(&daemon, "check disabled", |s| {
            check_state(s, "chk") == "disabled"
        });
        let note = report.checks[0].note.clone().unwrap_or_default();
        assert!(note.contains("refusing unsafe script"), "{report:#?}");
        assert!(daemon.is_running());
        assert!(!out.join("ran").exists(), "the unsafe script was run");
        daemon.stop();
        lab::wait_until(SETTLE, POLL, || lab.holders(vip()).is_empty()).unwrap();
    }
}

/// Lines the notify scripts appended, in order.
fn notify_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// notify_master/backup/fault and `notify` (INSTANCE name STATE priority), in transition order,
/// the specific script before `notify`.
#[test]
fn lab_checks_notify_scripts_arguments_and_order() {
    let lab = Lab::new("notify", 2);
    let out = lab.shared_dir("out");
    // The first argument names the log file (one per router), the rest is logged.
    let script = lab.write_script(
        "notify.sh",
        &format!(
            "#!/bin/sh\nlog=\"$1\"\nshift\necho \"$*\" >> {}/\"$log\".log\n",
            out.display()
        ),
    );
    // One flag per router (the file system is shared by the namespaces).
    for router in lab.router_indices() {
        std::fs::write(lab.dir().join(format!("healthy-r{router}")), "").unwrap();
    }
    let flag = lab.dir().join("healthy-r1");
    let check = lab.write_script(
        "healthy.sh",
        &format!(
            "#!/bin/sh\nexec test -e {}/healthy-$1\n",
            lab.dir().display()
        ),
    );
    let conf = |router: usize, priority: u8| {
        let s = script.display();
        let body = KeepalivedConf::new(&format!("r{router}"))
            .instance(
                VrrpInstance::new("VI_1", "eth0", 51)
                    .priority(priority)
                    .version(3)
                    .advert_ms(100)
                    .vip("192.0.2.100/24")
                    .line(&format!("notify_master \"{s} r{router} master\""))
                    .line(&format!("notify_backup \"{s} r{router} backup\""))
                    .line(&format!("notify_fault \"{s} r{router} fault\""))
                    .line(&format!("notify_stop \"{s} r{router} stop\""))
                    .line(&format!("notify \"{s} r{router} any\""))
                    .line("track_script {\n        healthy\n    }"),
            )
            .render();
        format!(
            "vrrp_script healthy {{\n    script \"{} r{router}\"\n    interval 0.2\n    weight 0\n}}\n\n{body}",
            check.display()
        )
    };
    let r1_log = out.join("r1.log");
    let r2_log = out.join("r2.log");
    let _r2 = lab.spawn_vipd(2, &conf(2, 100));
    expect_holder(&lab, vip(), 2, "r2 alone");
    let mut r1 = lab.spawn_vipd(1, &conf(1, 150));
    expect_holder(&lab, vip(), 1, "r1 preempts");
    std::fs::remove_file(&flag).unwrap();
    expect_holder(&lab, vip(), 2, "r1 in FAULT");
    expect_status(&r1, "r1 FAULT", |s| instance(s, "VI_1").state == "FAULT");
    std::fs::write(&flag, "").unwrap();
    expect_holder(&lab, vip(), 1, "r1 back");
    expect_status(&r1, "r1 MASTER", |s| instance(s, "VI_1").state == "MASTER");

    let pair = |state: &str, specific: &str, prio: u8| {
        [
            specific.to_string(),
            format!("any INSTANCE VI_1 {state} {prio}"),
        ]
    };
    let expected_r1: Vec<String> = [
        pair("BACKUP", "backup", 150),
        pair("MASTER", "master", 150),
        pair("FAULT", "fault", 150),
        pair("BACKUP", "backup", 150),
        pair("MASTER", "master", 150),
    ]
    .concat();
    let got = lab::wait_until(SETTLE, POLL, || {
        notify_lines(&r1_log).len() >= expected_r1.len()
    });
    assert!(
        got.is_some(),
        "r1 notifications: {:?}",
        notify_lines(&r1_log)
    );
    // Notifications are asynchronous: give late ones a moment to show up as extras.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(notify_lines(&r1_log), expected_r1);

    // A stop runs notify_stop and `notify ... STOP` before vipd exits.
    assert!(r1.stop().success(), "vipd r1 exit:\n{}", r1.log());
    let expected_r1: Vec<String> = [expected_r1, pair("STOP", "stop", 150).to_vec()].concat();
    assert_eq!(notify_lines(&r1_log), expected_r1);
    expect_holder(&lab, vip(), 2, "r1 stopped");

    let expected_r2: Vec<String> = [
        pair("BACKUP", "backup", 100),
        pair("MASTER", "master", 100),
        pair("BACKUP", "backup", 100),
        pair("MASTER", "master", 100),
        pair("BACKUP", "backup", 100),
        pair("MASTER", "master", 100),
    ]
    .concat();
    let got = lab::wait_until(SETTLE, POLL, || {
        notify_lines(&r2_log).len() >= expected_r2.len()
    });
    assert!(
        got.is_some(),
        "r2 notifications: {:?}",
        notify_lines(&r2_log)
    );
    assert_eq!(notify_lines(&r2_log), expected_r2);
}

/// Two instances on two interfaces in a `vrrp_sync_group`: one member's interface goes down,
/// both move to the backup; it comes back, both return.
#[test]
fn lab_checks_sync_group_members_move_together() {
    let lab = Lab::with_options(
        "syncgroup",
        LabOptions {
            routers: 2,
            second_segment: true,
        },
    );
    let out = lab.shared_dir("out");
    let script = lab.write_script(
        "group.sh",
        &format!(
            "#!/bin/sh\nlog=\"$1\"\nshift\necho \"$*\" >> {}/\"$log\".log\n",
            out.display()
        ),
    );
    let vip_b: IpAddr = Segment::Second.vip4().into();
    let conf = |router: usize, priority: u8| {
        let body = KeepalivedConf::new(&format!("r{router}"))
            .instance(
                VrrpInstance::new("VI_A", "eth0", 51)
                    .priority(priority)
                    .version(3)
                    .advert_ms(100)
                    .vip("192.0.2.100/24"),
            )
            .instance(
                VrrpInstance::new("VI_B", "eth1", 52)
                    .priority(priority)
                    .version(3)
                    .advert_ms(100)
                    .vip("198.51.100.100/24"),
            )
            .render();
        format!(
            "{body}\nvrrp_sync_group G {{\n    group {{\n        VI_A\n        VI_B\n    }}\n    \
             notify \"{} r{router}\"\n}}\n",
            script.display()
        )
    };
    let r1 = lab.spawn_vipd(1, &conf(1, 150));
    let _r2 = lab.spawn_vipd(2, &conf(2, 100));
    expect_holder(&lab, vip(), 1, "start A");
    expect_holder(&lab, vip_b, 1, "start B");

    lab.set_link(1, Segment::Second, "down");
    expect_holder(&lab, vip_b, 2, "VI_B's interface down on r1");
    expect_holder(&lab, vip(), 2, "VI_A follows its sync group");
    let report = expect_status(&r1, "both in FAULT", |s| {
        instance(s, "VI_A").state == "FAULT" && instance(s, "VI_B").state == "FAULT"
    });
    assert_eq!(report.instances.len(), 2);

    lab.set_link(1, Segment::Second, "up");
    expect_holder(&lab, vip(), 1, "A back on r1");
    expect_holder(&lab, vip_b, 1, "B back on r1");
    let r2_log = out.join("r2.log");
    let seen = lab::wait_until(SETTLE, POLL, || {
        let lines = notify_lines(&r2_log);
        lines.iter().any(|l| l == "GROUP G MASTER 0")
            && lines.last().is_some_and(|l| l == "GROUP G BACKUP 0")
    });
    assert!(
        seen.is_some(),
        "r2 group notifications: {:?}",
        notify_lines(&r2_log)
    );
    // Notifications run in the background: wait for r1's return to MASTER to be written.
    let r1_log = out.join("r1.log");
    let back_to_master = lab::wait_until(SETTLE, POLL, || {
        let lines = notify_lines(&r1_log);
        let fault_at = lines.iter().position(|l| l == "GROUP G FAULT 0");
        let master_at = lines.iter().rposition(|l| l == "GROUP G MASTER 0");
        matches!((fault_at, master_at), (Some(f), Some(m)) if f < m)
    });
    assert!(
        back_to_master.is_some(),
        "r1 group notifications: {:?}",
        notify_lines(&r1_log)
    );
}

/// A sync group also moves together when a check only lowers one member's priority: the
/// other member takes the same change, so the peer takes over both.
#[test]
fn lab_checks_sync_group_follows_a_members_priority_drop() {
    let lab = Lab::with_options(
        "syncprio",
        LabOptions {
            routers: 2,
            second_segment: true,
        },
    );
    let value = lab.dir().join("prio");
    std::fs::write(&value, "0\n").unwrap();
    let vip_b: IpAddr = Segment::Second.vip4().into();
    let conf = |router: usize, priority: u8, track: bool| {
        let mut a = VrrpInstance::new("VI_A", "eth0", 51)
            .priority(priority)
            .version(3)
            .advert_ms(100)
            .vip("192.0.2.100/24");
        if track {
            a = a.line("track_file {\n        tf weight -10\n    }");
        }
        let body = KeepalivedConf::new(&format!("r{router}"))
            .instance(a)
            .instance(
                VrrpInstance::new("VI_B", "eth1", 52)
                    .priority(priority)
                    .version(3)
                    .advert_ms(100)
                    .vip("198.51.100.100/24"),
            )
            .render();
        let group = "vrrp_sync_group G {\n    group {\n        VI_A\n        VI_B\n    }\n}\n";
        if track {
            format!(
                "vrrp_track_file tf {{\n    file \"{}\"\n}}\n\n{body}\n{group}",
                value.display()
            )
        } else {
            format!("{body}\n{group}")
        }
    };
    let r1 = lab.spawn_vipd(1, &conf(1, 150, true));
    let _r2 = lab.spawn_vipd(2, &conf(2, 100, false));
    expect_holder(&lab, vip(), 1, "start A");
    expect_holder(&lab, vip_b, 1, "start B");

    std::fs::write(&value, "7\n").unwrap();
    expect_holder(&lab, vip(), 2, "VI_A: 150 + 7 x -10 = 80 < 100");
    expect_holder(&lab, vip_b, 2, "VI_B follows its group");
    expect_status(&r1, "both at 80", |s| {
        priority_of(s, "VI_A") == 80 && priority_of(s, "VI_B") == 80
    });

    std::fs::write(&value, "0\n").unwrap();
    expect_holder(&lab, vip(), 1, "A back");
    expect_holder(&lab, vip_b, 1, "B back");
}

/// `track_interface`: without weight a down interface faults the instance; with a weight it
/// lowers the priority.
#[test]
fn lab_checks_track_interface_fault_and_weight() {
    let lab = Lab::with_options(
        "trackif",
        LabOptions {
            routers: 2,
            second_segment: true,
        },
    );
    let vip_w: IpAddr = "192.0.2.101".parse().unwrap();
    let conf = |router: usize, priority: u8| {
        KeepalivedConf::new(&format!("r{router}"))
            .instance(
                VrrpInstance::new("VI_F", "eth0", 51)
                    .priority(priority)
                    .version(3)
                    .advert_ms(100)
                    .vip("192.0.2.100/24")
                    .track_interface("eth1"),
            )
            .instance(
                VrrpInstance::new("VI_W", "eth0", 52)
                    .priority(priority)
                    .version(3)
                    .advert_ms(100)
                    .vip("192.0.2.101/24")
                    .track_interface("eth1 weight -60"),
            )
            .render()
    };
    let r1 = lab.spawn_vipd(1, &conf(1, 150));
    let _r2 = lab.spawn_vipd(2, &conf(2, 100));
    expect_holder(&lab, vip(), 1, "start F");
    expect_holder(&lab, vip_w, 1, "start W");

    lab.set_link(1, Segment::Second, "down");
    expect_holder(&lab, vip(), 2, "tracked interface down: FAULT");
    expect_holder(&lab, vip_w, 2, "tracked interface down: 150 - 60 < 100");
    let report = expect_status(&r1, "F fault, W backup at 90", |s| {
        instance(s, "VI_F").state == "FAULT"
            && instance(s, "VI_W").state == "BACKUP"
            && priority_of(s, "VI_W") == 90
    });
    assert_eq!(priority_of(&report, "VI_W"), 90);

    lab.set_link(1, Segment::Second, "up");
    expect_holder(&lab, vip(), 1, "F back");
    expect_holder(&lab, vip_w, 1, "W back");
    expect_status(&r1, "both master at 150", |s| {
        ["VI_F", "VI_W"]
            .iter()
            .all(|n| instance(s, n).state == "MASTER" && priority_of(s, n) == 150)
    });
}

/// `track_file`: the file's number times the weight is added, clamped to 1..=254; below
/// -253 the instance faults.
#[test]
fn lab_checks_track_file_value_times_weight() {
    let lab = Lab::new("trackfile", 2);
    let value = lab.dir().join("prio");
    std::fs::write(&value, "0\n").unwrap();
    let conf = |router: usize, priority: u8, track: bool| {
        let mut instance = VrrpInstance::new("VI_1", "eth0", 51)
            .priority(priority)
            .version(3)
            .advert_ms(100)
            .vip("192.0.2.100/24");
        if track {
            instance = instance.line("track_file {\n        tf weight -10\n    }");
        }
        let body = KeepalivedConf::new(&format!("r{router}"))
            .instance(instance)
            .render();
        if track {
            format!(
                "vrrp_track_file tf {{\n    file \"{}\"\n}}\n\n{body}",
                value.display()
            )
        } else {
            body
        }
    };
    let r1 = lab.spawn_vipd(1, &conf(1, 150, true));
    let _r2 = lab.spawn_vipd(2, &conf(2, 100, false));
    expect_holder(&lab, vip(), 1, "start");
    expect_status(&r1, "value 0", |s| priority_of(s, "VI_1") == 150);

    std::fs::write(&value, "7\n").unwrap();
    expect_holder(&lab, vip(), 2, "150 + 7 x -10 = 80 < 100");
    expect_status(&r1, "value 7", |s| priority_of(s, "VI_1") == 80);

    std::fs::write(&value, "-30\n").unwrap();
    expect_holder(&lab, vip(), 1, "150 + 300 -> 254");
    expect_status(&r1, "value -30", |s| priority_of(s, "VI_1") == 254);

    std::fs::write(&value, "20\n").unwrap();
    expect_holder(&lab, vip(), 2, "150 - 200 -> 1");
    expect_status(&r1, "value 20", |s| priority_of(s, "VI_1") == 1);

    // keepalived: a product below -253 faults the instance.
    std::fs::write(&value, "30\n").unwrap();
    expect_status(&r1, "value 30", |s| instance(s, "VI_1").state == "FAULT");
    expect_holder(&lab, vip(), 2, "r1 in FAULT");

    std::fs::write(&value, "0\n").unwrap();
    expect_holder(&lab, vip(), 1, "back to 150");
    let report = expect_status(&r1, "value 0 again", |s| priority_of(s, "VI_1") == 150);
    assert_eq!(check_state(&report, "tf"), "value 0", "{report:#?}");
}

/// SIGHUP with a changed check (another port) and a new tracked interface: the new checks
/// run and the priority follows them.
#[test]
fn lab_checks_reload_applies_changed_checks() {
    let lab = Lab::with_options(
        "reload-checks",
        LabOptions {
            routers: 1,
            second_segment: true,
        },
    );
    let _svc = lab.service(1, ServiceKind::Tcp, PORT);
    let conf = |port: u16, track_if: &str| {
        let mut instance =
            native_instance("VI_1", 51, 150, "192.0.2.100/24", "{ check = \"svc\" }");
        instance.push_str(track_if);
        native(
            1,
            &[
                instance,
                native_check(
                    "svc",
                    &format!(
                        "kind = \"tcp\"\nhost = \"127.0.0.1\"\nport = {port}\n\
                         interval = \"100ms\"\ntimeout = \"2s\"\nweight = -60"
                    ),
                ),
            ],
        )
    };
    // Nothing listens on PORT + 1: 150 - 60.
    let r1 = lab.spawn_vipd_toml(1, &conf(PORT + 1, ""));
    expect_status(&r1, "closed port", |s| priority_of(s, "VI_1") == 90);
    let path = r1.conf_path.clone().unwrap();
    std::fs::write(&path, conf(PORT, "")).unwrap();
    r1.reload();
    expect_status(&r1, "reloaded: open port", |s| {
        priority_of(s, "VI_1") == 150 && check_state(s, "svc") == "up"
    });
    lab.set_link(1, Segment::Second, "down");
    std::fs::write(
        &path,
        conf(
            PORT,
            "track_interfaces = [{ name = \"eth1\", weight = -20 }]\n",
        ),
    )
    .unwrap();
    r1.reload();
    expect_status(&r1, "reloaded: eth1 tracked and down", |s| {
        priority_of(s, "VI_1") == 130
    });
    lab.set_link(1, Segment::Second, "up");
    expect_status(&r1, "eth1 up", |s| priority_of(s, "VI_1") == 150);
}
