//! The notify scripts keepalived runs outside ordinary transitions, end to end in
//! namespaces (needs root): keepalived 2.2.7 and vipd run the same keepalived.conf through
//! the same event and the scripts must have run with the same arguments.
//! - `notify_deleted`: instances removed by a reload report DELETED (with the keyword) or
//!   FAULT (without) to `notify`, run the `notify_deleted` script, and run neither
//!   `notify_fault` nor `notify_stop`.
//! - `notify_master_rx_lower_pri`: a master that hears a lower priority (a split brain
//!   healing) runs the script with no extra arguments.

mod lab;
mod lab_vipd_support;

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use lab::{Daemon, Lab};

const SETTLE: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(20);

fn vip(last: u8) -> IpAddr {
    IpAddr::from([192, 0, 2, last])
}

/// `note.sh LOG WORDS...` appends `WORDS...` (and what the daemon added) to LOG.
const NOTE: &str = "#!/bin/sh\nlog=$1\nshift\necho \"$*\" >> \"$log\"\n";

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn wait_lines(path: &Path, daemon: &Daemon, why: &str, cond: impl Fn(&[String]) -> bool) {
    let found = lab::wait_until(SETTLE, POLL, || cond(&lines(path)));
    assert!(
        found.is_some(),
        "{why}: {:#?}\n{}",
        lines(path),
        daemon.log()
    );
}

fn instance(name: &str, vrid: u8, vip_last: u8, notify: &str) -> String {
    format!(
        "vrrp_instance {name} {{\n  state BACKUP\n  interface eth0\n  virtual_router_id {vrid}\n  \
         priority 100\n  advert_int 0.1\n  virtual_ipaddress {{\n    192.0.2.{vip_last}/24\n  }}\n\
         {notify}}}\n"
    )
}

/// Every script of every instance logs; A has no notify_deleted, B one with a script, C
/// the keyword alone. D stays across the reload.
fn deleted_conf(note: &Path, log: &Path, with_removed: bool) -> String {
    let (n, l) = (note.display(), log.display());
    let scripts = |name: &str| {
        format!(
            "  notify \"{n} {l} notify\"\n  notify_fault \"{n} {l} fault-{name}\"\n  \
             notify_stop \"{n} {l} stop-{name}\"\n"
        )
    };
    let mut text = "global_defs {\n  router_id dut\n  script_user root\n  \
                    enable_script_security\n}\n"
        .to_string();
    text += &instance("D", 54, 103, &scripts("D"));
    if with_removed {
        text += &instance("A", 51, 100, &scripts("A"));
        text += &instance(
            "B",
            52,
            101,
            &format!("{}  notify_deleted \"{n} {l} deleted-B\"\n", scripts("B")),
        );
        text += &instance("C", 53, 102, &format!("{}  notify_deleted\n", scripts("C")));
    }
    text
}

/// The lines the scripts wrote from the reload that removes A, B and C until just before
/// the daemon stops.
fn removal_lines(lab: &Lab, keepalived: bool) -> Vec<String> {
    let tag = if keepalived { "ka" } else { "vipd" };
    let note = lab.write_script("note.sh", NOTE);
    let log = lab.dir().join(format!("{tag}-deleted.log"));
    let text = deleted_conf(&note, &log, true);
    let mut dut = if keepalived {
        lab.spawn_keepalived(1, &text)
    } else {
        lab.spawn_vipd(1, &text)
    };
    for last in 100..=103 {
        lab_vipd_support::expect_sole_holder(lab, vip(last), 1, SETTLE, "master alone");
    }
    wait_lines(&log, &dut, "MASTER notifications", |l| {
        l.iter().filter(|x| x.contains(" MASTER ")).count() == 4
    });
    let cut = lines(&log).len();
    let conf = dut.conf_path.clone().unwrap();
    std::fs::write(&conf, deleted_conf(&note, &log, false)).unwrap();
    dut.reload();
    wait_lines(&log, &dut, "removal notifications", |l| {
        l.len() >= cut + 4
            && l.iter()
                .skip(cut)
                .any(|x| x.starts_with("notify INSTANCE C"))
    });
    for last in 100..=102 {
        let gone = lab::wait_until(SETTLE, POLL, || lab.holders(vip(last)).is_empty());
        assert!(gone.is_some(), "{tag}: 192.0.2.{last} still held");
    }
    // Late or extra runs would show here.
    std::thread::sleep(Duration::from_secs(2));
    let mut after = lines(&log)[cut..].to_vec();
    dut.stop();
    // keepalived restarts the instances it keeps at a reload (`notify ... D BACKUP`, then
    // MASTER); vipd keeps them running: only the removed instances are compared.
    after.retain(|l| !l.contains(" D ") && !l.ends_with("-D"));
    after.sort();
    after
}

#[test]
fn lab_notify_deleted_removed_instances_run_what_keepalived_runs() {
    let lab = Lab::new("notify-del", 1);
    let ka = removal_lines(&lab, true);
    let vipd = removal_lines(&lab, false);
    eprintln!("keepalived: {ka:#?}\nvipd: {vipd:#?}");
    let expected: Vec<String> = [
        "deleted-B",
        "notify INSTANCE A FAULT 100",
        "notify INSTANCE B DELETED 100",
        "notify INSTANCE C DELETED 100",
    ]
    .map(String::from)
    .to_vec();
    assert_eq!(ka, expected, "keepalived 2.2.7 changed?");
    assert_eq!(vipd, ka);
}

/// Runs the split brain with keepalived or vipd as the DUT (priority 100) and a vipd at
/// priority 50 that became master while cut off; returns what the DUT's scripts wrote
/// from then on.
fn lower_priority_lines(lab: &Lab, keepalived: bool) -> Vec<String> {
    let tag = if keepalived { "ka" } else { "vipd" };
    let note = lab.write_script("note.sh", NOTE);
    let log = lab.dir().join(format!("{tag}-lower.log"));
    let (n, l) = (note.display(), log.display());
    let text = format!(
        "global_defs {{\n  router_id dut\n  script_user root\n  enable_script_security\n}}\n{}",
        instance(
            "VI_1",
            51,
            100,
            &format!(
                "  notify \"{n} {l} notify\"\n  notify_master_rx_lower_pri \"{n} {l} lower\"\n"
            ),
        )
    );
    let mut dut = if keepalived {
        lab.spawn_keepalived(1, &text)
    } else {
        lab.spawn_vipd(1, &text)
    };
    lab_vipd_support::expect_sole_holder(lab, vip(100), 1, SETTLE, "DUT master");
    wait_lines(&log, &dut, "MASTER notification", |l| {
        l.iter().any(|x| x == "notify INSTANCE VI_1 MASTER 100")
    });
    assert!(
        !lines(&log).iter().any(|x| x.starts_with("lower")),
        "{tag}: ran before any lower advert"
    );
    let cut = lines(&log).len();
    lab.partition(2);
    let lower_conf = "global_defs {\n  router_id lower\n}\n\
                      vrrp_instance VI_1 {\n  state BACKUP\n  interface eth0\n  \
                      virtual_router_id 51\n  priority 50\n  advert_int 0.1\n  \
                      virtual_ipaddress {\n    192.0.2.100/24\n  }\n}\n";
    let mut lower = lab.spawn_vipd(2, lower_conf);
    let alone = lab::wait_until(SETTLE, POLL, || lower.log().contains("-> MASTER"));
    assert!(alone.is_some(), "r2 not master alone:\n{}", lower.log());
    lab.heal(2);
    wait_lines(&log, &dut, "notify_master_rx_lower_pri", |l| {
        l.iter().any(|x| x.starts_with("lower"))
    });
    lab_vipd_support::expect_sole_holder(lab, vip(100), 1, SETTLE, "DUT stays master");
    std::thread::sleep(Duration::from_secs(1));
    let out = lines(&log)[cut..].to_vec();
    lower.stop();
    dut.stop();
    out
}

#[test]
fn lab_notify_master_rx_lower_pri_runs_the_script_keepalived_runs() {
    let lab = Lab::new("notify-rxlow", 2);
    let ka = lower_priority_lines(&lab, true);
    let vipd = lower_priority_lines(&lab, false);
    eprintln!("keepalived: {ka:#?}\nvipd: {vipd:#?}");
    let runs = |l: &[String]| -> Vec<String> {
        l.iter()
            .filter(|x| x.starts_with("lower"))
            .cloned()
            .collect()
    };
    // No extra arguments, and the DUT stayed master (no `notify` for a transition).
    for (who, l) in [("keepalived", &ka), ("vipd", &vipd)] {
        let r = runs(l);
        assert!(!r.is_empty() && r.len() == l.len(), "{who}: {l:?}");
        assert!(r.iter().all(|x| x == "lower"), "{who}: {l:?}");
    }
}
