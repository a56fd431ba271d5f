//! vipd SIGHUP reload in the namespace lab (needs root): a good new file is applied and
//! leaves unchanged instances alone; a bad one is refused and the old config keeps running.

mod lab;
mod lab_vipd_support;

use std::net::IpAddr;
use std::time::Duration;

use lab::keepalived_conf::VrrpInstance;
use lab::{Daemon, Lab};
use lab_vipd_support::*;

/// A second v3 instance next to `VI_1`: VRID 53, VIP 192.0.2.102.
fn other(priority: u8) -> VrrpInstance {
    VrrpInstance::new("VI_B", "eth0", 53)
        .priority(priority)
        .version(3)
        .advert(ADVERT)
        .vip("192.0.2.102/24")
}

fn vip_b() -> IpAddr {
    "192.0.2.102".parse().expect("address")
}

/// Sends SIGHUP and waits for the `count`-th reload outcome (`reload done` or `refused`).
fn reload(daemon: &Daemon, count: usize) {
    daemon.reload();
    let done = lab::wait_until(SETTLE, Duration::from_millis(10), || {
        let log = daemon.log();
        log.matches("reload done").count() + log.matches("reload refused").count() >= count
    });
    assert!(
        done.is_some(),
        "{}: reload {count} not finished:\n{}",
        daemon.name,
        daemon.log()
    );
}

/// r1 (150) and r2 (100), both with VI_1 and VI_B; r1 master of both.
fn pair(lab: &Lab) -> (Daemon, Daemon) {
    let r1 = start_vipd(lab, 1, &conf(1, &[v3_ipv4(150), other(150)]));
    let r2 = start_vipd(lab, 2, &conf(2, &[v3_ipv4(100), other(100)]));
    for vip in [vip4(), vip_b()] {
        expect_sole_holder(lab, vip, 1, SETTLE, "election");
    }
    for name in ["VI_1", "VI_B"] {
        wait_state(&r1, name, "MASTER");
        wait_state(&r2, name, "BACKUP");
    }
    (r1, r2)
}

#[test]
fn sighup_with_a_good_file_applies_it_and_keeps_unchanged_instances() {
    let lab = Lab::new("vipd-reload", 2);
    let (r1, r2) = pair(&lab);
    let before = instance(&r1, "VI_B");
    let meter = lab.outage_meter(&[vip_b()], Duration::from_millis(2));
    assert!(meter.wait_replies(20, SETTLE), "no replies from VI_B");

    // VI_1 drops below r2; VI_B is the same text.
    rewrite_conf(&r1, &conf(1, &[v3_ipv4(50), other(150)]));
    reload(&r1, 1);
    let changed = wait_instance(&r1, "VI_1", SETTLE, "priority 50", |i| {
        i.base_priority == 50 && i.effective_priority == 50
    });
    expect_sole_holder(&lab, vip4(), 2, SETTLE, "r1's VI_1 now has priority 50");
    wait_state(&r2, "VI_1", "MASTER");
    wait_instance(&r1, "VI_1", SETTLE, "backup of r2", |i| {
        i.state == "BACKUP" && i.master_address.as_deref() == Some("192.0.2.12")
    });
    eprintln!("VI_1 after reload: {changed:#?}");

    // The unchanged instance did not notice.
    expect_stays_sole_holder(&lab, vip_b(), 1, ADVERT * 5);
    let report = meter.stop();
    let after = instance(&r1, "VI_B");
    assert_eq!(after.state, "MASTER", "{after:#?}");
    assert_eq!(after.transitions, before.transitions, "{after:#?}");
    assert!(after.adverts_sent > before.adverts_sent, "{after:#?}");
    assert_eq!(
        instance(&r2, "VI_B").state,
        "BACKUP",
        "r2 must not have taken VI_B"
    );
    assert!(
        report.longest_outage() < Duration::from_millis(250),
        "VI_B's VIP had an outage during the reload\n{report}"
    );
    assert!(r1.log().contains("SIGHUP"), "{}", r1.log());
}

#[test]
fn sighup_changing_the_vip_list_keeps_the_master_and_moves_only_those_vips() {
    let lab = Lab::new("vipd-reload-vips", 2);
    let (r1, r2) = pair(&lab);
    let before = instance(&r1, "VI_B");
    let backup_before = instance(&r2, "VI_B");
    let meter = lab.outage_meter(&[vip4()], Duration::from_millis(2));
    assert!(meter.wait_replies(20, SETTLE), "no replies from VI_1");
    let extra: IpAddr = "192.0.2.103".parse().expect("address");

    // Both routers get VI_B with 192.0.2.103 instead of 192.0.2.102 (backup first).
    let moved = |priority: u8| {
        VrrpInstance::new("VI_B", "eth0", 53)
            .priority(priority)
            .version(3)
            .advert(ADVERT)
            .vip("192.0.2.103/24")
    };
    rewrite_conf(&r2, &conf(2, &[v3_ipv4(100), moved(100)]));
    reload(&r2, 1);
    rewrite_conf(&r1, &conf(1, &[v3_ipv4(150), moved(150)]));
    reload(&r1, 1);
    expect_sole_holder(&lab, extra, 1, SETTLE, "the added VIP on the master");
    let gone = lab::wait_until(SETTLE, Duration::from_millis(20), || {
        lab.holders(vip_b()).is_empty()
    });
    assert!(
        gone.is_some(),
        "the removed VIP is still held: {:?}",
        lab.holders(vip_b())
    );

    // Same virtual router: no restart, no failover, VI_1 untouched.
    let after = instance(&r1, "VI_B");
    assert_eq!(after.state, "MASTER", "{after:#?}\n{}", r1.log());
    assert_eq!(
        after.transitions,
        before.transitions,
        "a VIP list change must not restart the instance: {after:#?}\n{}",
        r1.log()
    );
    assert_eq!(after.vips, vec!["192.0.2.103/24".to_string()], "{after:#?}");
    let backup_after = instance(&r2, "VI_B");
    assert_eq!(backup_after.state, "BACKUP");
    assert_eq!(
        backup_after.transitions,
        backup_before.transitions,
        "the backup must not have taken over in between: {backup_after:#?}\n{}",
        r2.log()
    );
    assert!(
        r1.log()
            .contains("VI_B: changed by reload: applied in place"),
        "{}",
        r1.log()
    );
    expect_stays_sole_holder(&lab, vip4(), 1, ADVERT * 5);
    let report = meter.stop();
    assert!(
        report.longest_outage() < Duration::from_millis(250),
        "VI_1 had an outage during the reload\n{report}"
    );
}

#[test]
fn sighup_raising_the_masters_priority_keeps_it_master() {
    let lab = Lab::new("vipd-reload-up", 2);
    let (r1, r2) = pair(&lab);
    let before = instance(&r1, "VI_1");
    let backup_before = instance(&r2, "VI_1");
    let meter = lab.outage_meter(&[vip4()], Duration::from_millis(2));
    assert!(meter.wait_replies(20, SETTLE), "no replies from VI_1");

    rewrite_conf(&r1, &conf(1, &[v3_ipv4(200), other(150)]));
    reload(&r1, 1);
    wait_instance(&r1, "VI_1", SETTLE, "priority 200", |i| {
        i.base_priority == 200
    });
    // r2 learns the new priority from r1's adverts.
    expect_stays_sole_holder(&lab, vip4(), 1, ADVERT * 5);
    let report = meter.stop();
    let after = instance(&r1, "VI_1");
    assert_eq!(after.state, "MASTER", "{after:#?}");
    assert_eq!(
        after.transitions,
        before.transitions,
        "a priority change must not restart the instance: {after:#?}\n{}",
        r1.log()
    );
    assert_eq!(
        instance(&r2, "VI_1").transitions,
        backup_before.transitions,
        "r2 must not have become master"
    );
    assert!(
        report.longest_outage() < Duration::from_millis(250),
        "outage during the reload\n{report}"
    );
}

#[test]
fn sighup_with_a_bad_file_is_refused_and_the_old_config_keeps_running() {
    let lab = Lab::new("vipd-reload-bad", 2);
    let (mut r1, r2) = pair(&lab);
    let before = instance(&r1, "VI_1");

    let good = conf(1, &[v3_ipv4(50), other(150)]);
    // A real error (an unknown keyword or a value keepalived ignores would only be a
    // warning; a keyword without its value stops keepalived too).
    let bad = good.replace("    priority 50\n", "    priority\n");
    assert_ne!(good, bad);
    rewrite_conf(&r1, &bad);
    reload(&r1, 1);
    assert!(r1.is_running(), "r1 exited on a bad reload:\n{}", r1.log());
    let log = r1.log();
    let refused = log
        .lines()
        .find(|l| l.contains("reload refused"))
        .unwrap_or_else(|| panic!("no refusal logged:\n{log}"));
    assert!(refused.contains("ERROR"), "{refused}");
    assert!(
        refused.contains("`priority` needs a value"),
        "the error should name the keyword: {refused}"
    );
    let conf_path = r1.conf_path.as_ref().expect("conf").display().to_string();
    assert!(
        refused.contains(&format!("{conf_path}:")),
        "the error should name file:line: {refused}"
    );

    // Still the old configuration: priority 150, master, same transitions.
    expect_stays_sole_holder(&lab, vip4(), 1, ADVERT * 5);
    let after = instance(&r1, "VI_1");
    assert_eq!(after.base_priority, 150, "{after:#?}");
    assert_eq!(after.state, "MASTER");
    assert_eq!(after.transitions, before.transitions);
    assert_eq!(instance(&r2, "VI_1").state, "BACKUP");

    // `vipd reload` is refused the same way and says why.
    let socket = r1
        .socket_path
        .as_ref()
        .expect("socket")
        .display()
        .to_string();
    // The event stream reports the refusal with its errors (not as "no change").
    let mut events = std::process::Command::new(lab::vipd_binary().unwrap())
        .args(["events", "--json", "--socket", &socket])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, event_lines) = std::sync::mpsc::channel();
    let stdout = events.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    // The stream is open once vipd counts the client (no event before then is asked for).
    std::thread::sleep(Duration::from_millis(500));
    let out = vipd_cli(&["reload", "--socket", &socket]);
    assert!(!out.success, "a refused reload exited 0: {out:?}");
    let reload_event = event_lines
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("no reload event: {e}"));
    let _ = events.kill();
    let _ = events.wait();
    assert!(
        reload_event.contains("\"type\":\"reload\"")
            && reload_event.contains("\"refused\":")
            && reload_event.contains("`priority` needs a value"),
        "{reload_event}"
    );
    assert!(
        out.stderr.contains("reload refused") && out.stderr.contains("`priority` needs a value"),
        "{out:?}"
    );
    assert_eq!(instance(&r1, "VI_1").base_priority, 150);

    // Fixing the file and reloading again works.
    rewrite_conf(&r1, &good);
    let out = vipd_cli(&["reload", "--socket", &socket]);
    assert!(out.success && out.stdout.contains("reloaded"), "{out:?}");
    wait_instance(&r1, "VI_1", SETTLE, "priority 50", |i| {
        i.base_priority == 50
    });
    expect_sole_holder(&lab, vip4(), 2, SETTLE, "after the fixed reload");
}

#[test]
fn sighup_removing_an_instance_hands_its_vip_over() {
    let lab = Lab::new("vipd-reload-rm", 2);
    let (r1, r2) = pair(&lab);
    let kept = instance(&r1, "VI_1");
    rewrite_conf(&r1, &conf(1, &[v3_ipv4(150)]));
    reload(&r1, 1);
    // The removed instance left like a stopped one: priority 0, VIP gone, r2 took over.
    expect_sole_holder(&lab, vip_b(), 2, SETTLE, "VI_B removed from r1");
    wait_state(&r2, "VI_B", "MASTER");
    let names: Vec<String> = status(&r1).instances.into_iter().map(|i| i.name).collect();
    assert_eq!(names, ["VI_1"]);
    expect_stays_sole_holder(&lab, vip4(), 1, ADVERT * 3);
    assert_eq!(instance(&r1, "VI_1").transitions, kept.transitions);
}

/// Samples who holds `vip` every 5 ms for `duration`; panics as soon as `router` holds it.
fn expect_never_holds(lab: &Lab, vip: IpAddr, router: usize, duration: Duration, why: &str) {
    let start = std::time::Instant::now();
    while start.elapsed() < duration {
        let holders = lab.holders(vip);
        assert!(
            !holders.contains(&router),
            "{why}: r{router} took {vip} {:?} after the reload (holders {holders:?})",
            start.elapsed()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until a daemon serves its control socket.
fn started(mut daemon: Daemon) -> Daemon {
    let up = lab::wait_until(SETTLE, Duration::from_millis(10), || {
        daemon.log().contains("started with") || !daemon.is_running()
    });
    assert!(
        up.is_some() && daemon.is_running(),
        "{} did not start:\n{}",
        daemon.name,
        daemon.log()
    );
    daemon
}

/// Native config: VI_1 (100 ms adverts) at `priority`, tracking the checks in `checks`
/// (each `(name, fields)`, all tracked with their own weight).
fn native_with_checks(router: usize, priority: u8, checks: &[(&str, String)]) -> String {
    let tracks: Vec<String> = checks
        .iter()
        .map(|(name, _)| format!("{{ check = \"{name}\" }}"))
        .collect();
    let mut text = format!(
        "[global]\nrouter_id = \"r{router}\"\nvrrp_version = 3\n\n[[instance]]\nname = \"VI_1\"\n\
         interface = \"eth0\"\nvrid = 51\npriority = {priority}\nadvert_interval = \"100ms\"\n\
         vips = [\"192.0.2.100/24\"]\ntrack_checks = [{}]\n",
        tracks.join(", ")
    );
    for (name, fields) in checks {
        text.push_str(&format!("\n[[check]]\nname = \"{name}\"\n{fields}\n"));
    }
    text
}

/// Defect 6: a reload used to restart every check as `unknown`, which counts for nothing, so
/// r1 (150, its service down: 90) outranked r2 (100) until the first probe failed again and
/// took the VIP for that long. Now an unchanged check keeps its state and a changed one goes
/// on from the health it had: r1 never becomes master, whichever check the reload changes.
#[test]
fn sighup_changing_checks_never_lets_a_node_with_its_service_down_win() {
    let lab = Lab::new("vipd-reload-health", 2);
    // The failing probe takes 600 ms: long enough to see a wrong master in between.
    let slow_fail = lab.write_script("slow-fail.sh", "#!/bin/sh\nsleep 0.6\nexit 1\n");
    let svc = |interval: &str| {
        format!(
            "kind = \"exec\"\ncommand = \"{}\"\ninterval = \"{interval}\"\ntimeout = \"3s\"\n\
             fall = 1\nrise = 1\nweight = -60",
            slow_fail.display()
        )
    };
    let other = |interval: &str| {
        format!("kind = \"interface\"\ninterface = \"lo\"\ninterval = \"{interval}\"\nweight = 0")
    };
    let r1_conf = |svc_interval: &str, other_interval: &str| {
        native_with_checks(
            1,
            150,
            &[("svc", svc(svc_interval)), ("other", other(other_interval))],
        )
    };
    let r1 = started(lab.spawn_vipd_toml(1, &r1_conf("1s", "500ms")));
    let r2 = started(lab.spawn_vipd_toml(2, &native_with_checks(2, 100, &[])));
    expect_sole_holder(&lab, vip4(), 2, SETTLE, "r1's service is down (150 - 60)");
    wait_instance(&r1, "VI_1", SETTLE, "backup at 90", |i| {
        i.state == "BACKUP" && i.effective_priority == 90
    });
    let r1_before = instance(&r1, "VI_1");
    let r2_before = instance(&r2, "VI_1");

    // 1. A reload that changes only an unrelated check.
    rewrite_conf(&r1, &r1_conf("1s", "700ms"));
    reload(&r1, 1);
    expect_never_holds(
        &lab,
        vip4(),
        1,
        Duration::from_secs(2),
        "unrelated check changed",
    );
    // 2. A reload that changes the failing check itself (another interval).
    rewrite_conf(&r1, &r1_conf("1100ms", "700ms"));
    reload(&r1, 2);
    expect_never_holds(
        &lab,
        vip4(),
        1,
        Duration::from_secs(2),
        "failing check changed",
    );

    let r1_after = instance(&r1, "VI_1");
    assert_eq!(r1_after.state, "BACKUP", "{r1_after:#?}\n{}", r1.log());
    assert_eq!(r1_after.effective_priority, 90, "{r1_after:#?}");
    assert_eq!(
        r1_after.transitions,
        r1_before.transitions,
        "r1 changed state during the reloads:\n{}",
        r1.log()
    );
    assert_eq!(
        instance(&r2, "VI_1").transitions,
        r2_before.transitions,
        "r2 lost the VIP in between:\n{}",
        r2.log()
    );
    let status = status(&r1);
    let svc_state = status
        .checks
        .iter()
        .find(|c| c.name == "svc")
        .map(|c| c.state.clone());
    assert_eq!(svc_state.as_deref(), Some("down"), "{status:#?}");
    expect_stays_sole_holder(&lab, vip4(), 2, ADVERT * 5);
}

/// Defect 6: any `[global]` change used to restart every instance, so every VIP moved. A
/// new router_id and GARP settings change nothing on the wire: applied in place, no state
/// change anywhere, no outage.
#[test]
fn sighup_changing_router_id_and_garp_settings_moves_no_vip() {
    let lab = Lab::new("vipd-reload-global", 2);
    let (r1, r2) = pair(&lab);
    let meter = lab.outage_meter(&[vip4(), vip_b()], Duration::from_millis(2));
    assert!(
        meter.wait_replies(20, SETTLE),
        "no replies before the reload"
    );
    let before: Vec<_> = [&r1, &r2]
        .iter()
        .flat_map(|d| ["VI_1", "VI_B"].map(|name| instance(d, name)))
        .collect();

    for (daemon, router, priority) in [(&r2, 2, 100), (&r1, 1, 150)] {
        let text = lab::KeepalivedConf::new(&format!("r{router}-renamed"))
            .global("vrrp_garp_master_delay 1")
            .global("vrrp_garp_master_repeat 2")
            .instance(v3_ipv4(priority))
            .instance(other(priority))
            .render();
        rewrite_conf(daemon, &text);
        reload(daemon, 1);
    }
    for vip in [vip4(), vip_b()] {
        expect_stays_sole_holder(&lab, vip, 1, ADVERT * 5);
    }
    let report = meter.stop();
    let after: Vec<_> = [&r1, &r2]
        .iter()
        .flat_map(|d| ["VI_1", "VI_B"].map(|name| instance(d, name)))
        .collect();
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(
            (a.state.as_str(), a.transitions),
            (b.state.as_str(), b.transitions),
            "{} changed state on a global change that does not touch the wire:\n{}\n{}",
            a.name,
            r1.log(),
            r2.log()
        );
    }
    assert!(
        report.longest_outage() < Duration::from_millis(250),
        "outage during the reload\n{report}"
    );
    assert!(
        r1.log()
            .contains("VI_1: changed by reload: applied in place"),
        "{}",
        r1.log()
    );
}

/// A reload of a file that takes long to read (here 900,000 lines of `~SEQ` repetition,
/// within the limits, about two seconds in a debug build): the master's adverts must go on
/// meanwhile. The file was read on the event loop, which sent nothing until it was done: the
/// backup took over while the master still held the VIP (two holders), and a hostile or
/// merely large file was a way to stall every instance.
#[test]
fn a_reload_that_takes_long_to_read_does_not_hold_up_the_masters_adverts() {
    let lab = Lab::new("slow_reload", 2);
    let (r1, r2) = pair(&lab);
    let slow = "~SEQ(N, 1, 100000) ! $N\n".repeat(9);
    rewrite_conf(
        &r1,
        &format!("{slow}{}", conf(1, &[v3_ipv4(150), other(150)])),
    );
    let before = instance(&r2, "VI_1").became_master;
    for count in 1..=2 {
        r1.reload();
        expect_stays_sole_holder(&lab, vip4(), 1, Duration::from_secs(3));
        reload(&r1, count);
    }
    assert_eq!(instance(&r2, "VI_1").state, "BACKUP");
    assert_eq!(
        instance(&r2, "VI_1").became_master,
        before,
        "r2 took over during r1's reload:\n{}",
        r2.log()
    );
    assert!(r1.log().contains("reload done"), "{}", r1.log());
}
