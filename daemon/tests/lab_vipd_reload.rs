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
        report.longest_gap() < Duration::from_millis(250),
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
        report.longest_gap() < Duration::from_millis(250),
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
        report.longest_gap() < Duration::from_millis(250),
        "outage during the reload\n{report}"
    );
}

#[test]
fn sighup_with_a_bad_file_is_refused_and_the_old_config_keeps_running() {
    let lab = Lab::new("vipd-reload-bad", 2);
    let (mut r1, r2) = pair(&lab);
    let before = instance(&r1, "VI_1");

    let good = conf(1, &[v3_ipv4(50), other(150)]);
    // A real error (an unknown keyword would only be a warning).
    let bad = good.replace("    priority 50\n", "    priority fifty\n");
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
        refused.contains("`priority`: `fifty`"),
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

    // Fixing the file and reloading again works.
    rewrite_conf(&r1, &good);
    reload(&r1, 2);
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
