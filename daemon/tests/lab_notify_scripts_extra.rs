//! The notify scripts keepalived runs outside ordinary transitions, end to end in
//! namespaces (needs root): keepalived 2.2.7 and vipd run the same keepalived.conf through
//! the same event and the scripts must have run with the same arguments.
//! - `notify_deleted`: instances removed by a reload report DELETED (with the keyword) or
//!   FAULT (without) to `notify`, run the `notify_deleted` script, and run neither
//!   `notify_fault` nor `notify_stop`.
//! - `notify_master_rx_lower_pri`: a master that hears a lower priority (a split brain
//!   healing) runs the script with no extra arguments. A flood of lower-priority adverts
//!   runs it one at a time (vipd only: keepalived starts one process per advert), while
//!   the master's 10 ms adverts keep its backup quiet.

mod lab;
mod lab_vipd_support;

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Duration;

use lab::{Daemon, Lab, Segment};
use vipd::vrrp::packet::{Advertisement, Auth, ChecksumMode, Version};

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

/// A 10 ms v3 instance VI_1 at `priority`, with `extra` lines.
fn fast_instance(router: &str, priority: u8, extra: &str) -> String {
    format!(
        "global_defs {{\n  router_id {router}\n  script_user root\n  enable_script_security\n}}\n\
         vrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  \
         priority {priority}\n  version 3\n  advert_int 0.01\n  virtual_ipaddress {{\n    \
         192.0.2.100/24\n  }}\n{extra}}}\n"
    )
}

#[test]
fn lab_notify_master_rx_lower_pri_flood_runs_one_script_at_a_time_and_adverts_keep_flowing() {
    const FLOOD: usize = 1500;
    let lab = Lab::new("notify-rxflood", 2);
    // Each run takes 0.3 s and says when it starts and ends.
    let slow = lab.write_script(
        "slow.sh",
        "#!/bin/sh\nlog=$1\necho \"start $$\" >> \"$log\"\nsleep 0.3\necho \"end $$\" >> \"$log\"\n",
    );
    let log = lab.dir().join("flood.log");
    let script = format!(
        "  notify_master_rx_lower_pri \"{} {}\"\n",
        slow.display(),
        log.display()
    );
    let mut dut = lab.spawn_vipd(1, &fast_instance("dut", 150, &script));
    lab_vipd_support::expect_sole_holder(&lab, vip(100), 1, SETTLE, "DUT master");
    let backup = lab_vipd_support::wait_started(lab.spawn_vipd(2, &fast_instance("b", 100, "")), 2);
    lab_vipd_support::wait_state(&backup, "VI_1", "BACKUP");
    // A third host floods priority 50 adverts, one every 2 ms or so.
    let client = Segment::Main.client_ip4();
    let group = Ipv4Addr::new(224, 0, 0, 18);
    let advert = Advertisement {
        version: Version::V3,
        vrid: 51,
        priority: 50,
        advert_interval_cs: 1,
        addresses: vec![vip(100)],
        auth: Auth::None,
    }
    .to_bytes(client.into(), group.into(), ChecksumMode::PseudoHeader);
    lab_vipd_support::inject_ipv4(&lab, group, 255, &vec![advert; FLOOD]);
    // At most one run waits: it ends soon after the flood.
    let settled = lab::wait_until(SETTLE, POLL, || {
        let l = lines(&log);
        l.len() % 2 == 0 && l.last().is_some_and(|x| x.starts_with("end"))
    });
    std::thread::sleep(Duration::from_secs(1));
    let runs = lines(&log);
    eprintln!("{} adverts, script lines: {runs:#?}", FLOOD);
    assert!(
        settled.is_some(),
        "runs did not end: {runs:#?}\n{}",
        dut.log()
    );
    // One at a time: start and end of one process, then the next.
    for pair in runs.chunks(2) {
        let pid = pair[0].strip_prefix("start ").expect("a start first");
        assert_eq!(
            pair.get(1).map(String::as_str),
            Some(&*format!("end {pid}")),
            "{runs:#?}"
        );
    }
    // A waiting run followed the first (the flood went on), and far fewer ran than adverts
    // came: each took 0.3 s of a flood of a few seconds.
    let count = runs.len() / 2;
    assert!(count >= 2, "{runs:#?}");
    assert!(count < FLOOD / 20, "{count} runs for {FLOOD} adverts");
    lab_vipd_support::expect_sole_holder(&lab, vip(100), 1, SETTLE, "DUT still master");
    assert!(
        !dut.log().contains("MASTER -> "),
        "the DUT left MASTER during the flood:\n{}",
        dut.log()
    );
    // A loaded machine may pause the DUT past the backup's 36 ms for a moment; the backup
    // gives way again at once (lower priority).
    let takeovers = backup.log().matches("-> MASTER").count();
    eprintln!("the backup took over {takeovers} time(s) for a moment");
    dut.stop();
}
