//! `vipd drain` / `vipd resume` in the namespace lab (needs root): the drain hands the VIP
//! over without a client-visible gap, survives a restart of the daemon, resume preempts
//! back, the documented rule holds when no other router is left, and keepalived peers
//! behave with a drained vipd on the segment.

mod lab;
mod lab_vipd_support;

use std::net::IpAddr;
use std::time::Duration;

use lab::keepalived_conf::{KeepalivedConf, VrrpInstance};
use lab::{Daemon, Lab};
use lab_vipd_support::*;

fn socket(daemon: &Daemon) -> &str {
    daemon
        .socket_path
        .as_ref()
        .and_then(|p| p.to_str())
        .expect("vipd daemon has a socket")
}

/// `vipd ARGS --socket SOCK` for this daemon; panics unless it succeeds. Returns stdout.
fn ctl(daemon: &Daemon, args: &[&str]) -> String {
    let mut argv = args.to_vec();
    argv.extend(["--socket", socket(daemon)]);
    let out = vipd_cli(&argv);
    assert!(
        out.success,
        "vipd {} failed:\n{}{}",
        argv.join(" "),
        out.stdout,
        out.stderr
    );
    out.stdout
}

fn drained_mode(daemon: &Daemon) -> Option<String> {
    instance(daemon, "VI_1").drained.map(|d| d.mode)
}

#[test]
fn drain_hands_over_without_a_gap_survives_a_restart_and_resume_preempts_back() {
    let lab = Lab::new("drain-restart-resume", 2);
    let vip = vip4();
    let r1_conf = conf(1, &[v3_ipv4(150)]);
    let mut r1 = start_vipd(&lab, 1, &r1_conf);
    let r2 = start_vipd(&lab, 2, &conf(2, &[v3_ipv4(100)]));
    expect_sole_holder(&lab, vip, 1, SETTLE, "r1 (priority 150) wins");
    wait_state(&r2, "VI_1", "BACKUP");
    std::thread::sleep(ADVERT * 4);

    // The drill: drain the master while a client pings the VIP every 2 ms.
    let meter = lab.outage_meter(&[vip], Duration::from_millis(2));
    assert!(
        meter.wait_replies(20, SETTLE),
        "no replies before the drain"
    );
    let reply = ctl(&r1, &["drain", "VI_1"]);
    assert!(
        reply.contains("VI_1: drained (soft), handing over"),
        "{reply}"
    );
    expect_sole_holder(&lab, vip, 2, SETTLE, "the drained master hands over to r2");
    assert!(meter.wait_replies(50, SETTLE), "no replies after the drain");
    let report = meter.stop();
    eprintln!("drain of the master:\n{report}");
    let target = report.target(vip);
    assert_eq!(target.last_replier(), Some(2), "{report}");
    assert!(
        report.longest_outage() < ADVERT * 3,
        "client-visible gap {:?} during the drain\n{report}\n{}",
        report.longest_outage(),
        r1.log()
    );
    let drained = wait_state(&r1, "VI_1", "BACKUP");
    assert_eq!(drained.advertised_priority, 1);
    assert_eq!(drained.effective_priority, 150);
    let by = drained.drained.clone().expect("status shows the drain").by;
    assert!(by.starts_with("uid 0"), "drain recorded as by {by:?}");
    assert!(
        r1.log().contains("VI_1: drained (soft) by uid 0"),
        "the log names who asked:\n{}",
        r1.log()
    );
    assert!(
        drained
            .last_transition_reason
            .as_deref()
            .is_some_and(|r| r.starts_with("drained, 192.0.2.12 took over")),
        "{drained:?}"
    );
    assert!(drained.last_handover_ms.is_some_and(|ms| ms > 0.0));

    // Drained and higher priority: r1 must not preempt r2, also across kill -TERM + start.
    expect_stays_sole_holder(&lab, vip, 2, ADVERT * 10);
    let status = r1.stop();
    assert!(status.success(), "{status:?}\n{}", r1.log());
    let r1 = start_vipd(&lab, 1, &r1_conf);
    assert_eq!(
        drained_mode(&r1).as_deref(),
        Some("soft"),
        "drain lost across a restart"
    );
    assert!(
        r1.log().contains("VI_1: drained (soft) since"),
        "the restart reports the kept drain:\n{}",
        r1.log()
    );
    // Several master down intervals (each 3 adverts + skew) pass without a takeover.
    expect_stays_sole_holder(&lab, vip, 2, ADVERT * 15);
    assert_eq!(instance(&r1, "VI_1").state, "BACKUP");

    // Resume: r1 outranks r2 again and preempts it.
    let reply = ctl(&r1, &["resume", "VI_1"]);
    assert!(reply.contains("VI_1: resumed"), "{reply}");
    expect_sole_holder(&lab, vip, 1, SETTLE, "resume lets r1 preempt back");
    let resumed = wait_state(&r1, "VI_1", "MASTER");
    assert!(resumed.drained.is_none());
    assert_eq!(resumed.advertised_priority, 150);
    // And the resume is kept too: no drain after another restart.
    let state_file = lab.state_dir(1).join("drain.json");
    let kept = std::fs::read_to_string(&state_file).expect("drain state file");
    assert!(!kept.contains("VI_1"), "{kept}");
    drop(r2);
}

#[test]
fn a_drained_node_with_no_other_router_follows_the_soft_and_hard_rules() {
    let lab = Lab::new("drain-alone", 2);
    let vip = vip4();
    let r1 = start_vipd(&lab, 1, &conf(1, &[v3_ipv4(150)]));
    let mut r2 = start_vipd(&lab, 2, &conf(2, &[v3_ipv4(100)]));
    expect_sole_holder(&lab, vip, 1, SETTLE, "r1 wins");
    ctl(&r1, &["drain", "--all"]);
    expect_sole_holder(&lab, vip, 2, SETTLE, "drained r1 hands over");

    // Soft (default): the last router left takes the VIP rather than drop it, advertising 1.
    r2.stop();
    expect_sole_holder(&lab, vip, 1, SETTLE, "soft drain: alone, r1 serves the VIP");
    let alone = wait_state(&r1, "VI_1", "MASTER");
    assert_eq!(alone.advertised_priority, 1);
    assert_eq!(
        alone.last_transition_reason.as_deref(),
        Some("drained, but no other router is master")
    );

    // Hard: never master. The VIP goes after the handover bound, and stays gone.
    let reply = ctl(&r1, &["drain", "--hard", "VI_1"]);
    assert!(reply.contains("drained (hard)"), "{reply}");
    assert!(
        lab::wait_until(SETTLE, Duration::from_millis(10), || lab
            .holders(vip)
            .is_empty())
        .is_some(),
        "hard drain: r1 keeps {vip}"
    );
    let hard = wait_state(&r1, "VI_1", "BACKUP");
    assert_eq!(hard.drained.map(|d| d.mode).as_deref(), Some("hard"));
    std::thread::sleep(ADVERT * 10);
    assert!(
        lab.holders(vip).is_empty(),
        "a hard-drained router took the VIP"
    );
    assert_eq!(instance(&r1, "VI_1").state, "BACKUP");

    // Another router coming back serves it; resuming r1 then preempts as usual.
    let _r2 = start_vipd(&lab, 2, &conf(2, &[v3_ipv4(100)]));
    expect_sole_holder(&lab, vip, 2, SETTLE, "r2 is back");
    ctl(&r1, &["resume", "--all"]);
    expect_sole_holder(&lab, vip, 1, SETTLE, "resumed r1 preempts");
}

#[test]
fn keepalived_peers_take_over_from_a_drained_vipd() {
    let lab = Lab::new("drain-keepalived", 2);
    let vip = vip4();
    let r1 = start_vipd(&lab, 1, &conf(1, &[v3_ipv4(150)]));
    let keepalived_conf = KeepalivedConf::new("r2").instance(v3_ipv4(100)).render();
    let mut keepalived = lab.spawn_keepalived(2, &keepalived_conf);
    expect_sole_holder(
        &lab,
        vip,
        1,
        SETTLE,
        "vipd (150) wins over keepalived (100)",
    );
    std::thread::sleep(ADVERT * 5);

    // keepalived answers the drain's priority 0 like a planned stop.
    ctl(&r1, &["drain", "VI_1"]);
    expect_sole_holder(&lab, vip, 2, SETTLE, "keepalived takes over from the drain");
    expect_stays_sole_holder(&lab, vip, 2, ADVERT * 10);

    // keepalived leaves: the soft-drained vipd serves the VIP at priority 1 ...
    keepalived.stop();
    expect_sole_holder(
        &lab,
        vip,
        1,
        SETTLE,
        "alone, the drained vipd serves the VIP",
    );
    // ... and a returning keepalived preempts it, priority 100 > 1.
    let _keepalived = lab.spawn_keepalived(2, &keepalived_conf);
    expect_sole_holder(&lab, vip, 2, SETTLE, "keepalived preempts the drained vipd");
    assert_eq!(wait_state(&r1, "VI_1", "BACKUP").advertised_priority, 1);
}

#[test]
fn a_sync_group_drains_together() {
    let lab = Lab::new("drain-sync-group", 2);
    let second = VrrpInstance::new("VI_2", "eth0", 53)
        .priority(150)
        .version(3)
        .advert(ADVERT)
        .vip("192.0.2.101/24");
    let group = |router: usize, p1: u8, p2: u8| {
        let mut text = KeepalivedConf::new(&format!("r{router}"))
            .instance(v3_ipv4(p1))
            .instance(second.clone().priority(p2))
            .render();
        text.push_str("vrrp_sync_group G {\n  group {\n    VI_1\n    VI_2\n  }\n}\n");
        text
    };
    let r1 = start_vipd(&lab, 1, &group(1, 150, 150));
    let _r2 = start_vipd(&lab, 2, &group(2, 100, 100));
    let vip2: IpAddr = "192.0.2.101".parse().unwrap();
    expect_sole_holder(&lab, vip4(), 1, SETTLE, "r1 holds VI_1");
    expect_sole_holder(&lab, vip2, 1, SETTLE, "r1 holds VI_2");
    let reply = ctl(&r1, &["drain", "VI_1"]);
    assert!(
        reply.contains("VI_1: drained") && reply.contains("VI_2: drained"),
        "{reply}"
    );
    expect_sole_holder(&lab, vip4(), 2, SETTLE, "VI_1 moves");
    expect_sole_holder(&lab, vip2, 2, SETTLE, "VI_2 moves with its group");
    // Unknown instances are refused and change nothing.
    let out = vipd_cli(&["drain", "VI_9", "--socket", socket(&r1)]);
    assert!(
        !out.success && out.stderr.contains("no such instance: VI_9"),
        "{out:?}"
    );
}

#[test]
fn a_drained_master_alone_offers_the_role_to_a_nopreempt_keepalived() {
    let lab = Lab::new("drain-nopreempt", 2);
    let vip = vip4();
    let r1 = start_vipd(&lab, 1, &conf(1, &[v3_ipv4(150)]));
    expect_sole_holder(&lab, vip, 1, SETTLE, "r1 alone holds the VIP");
    // Drained with nobody else: the soft drain keeps serving the VIP.
    ctl(&r1, &["drain", "VI_1"]);
    std::thread::sleep(ADVERT * 8);
    assert_eq!(lab.holders(vip), [1], "a soft drain dropped the VIP");
    // keepalived without preemption accepts a priority 1 master and would never take over
    // by itself; the drained master's periodic priority 0 hands it the role.
    let keepalived_conf = KeepalivedConf::new("r2")
        .instance(v3_ipv4(100).nopreempt())
        .render();
    let _keepalived = lab.spawn_keepalived(2, &keepalived_conf);
    expect_sole_holder(&lab, vip, 2, SETTLE, "keepalived takes the role offered");
    let after = wait_state(&r1, "VI_1", "BACKUP");
    assert_eq!(
        after.last_transition_reason.as_deref(),
        Some("drained, 192.0.2.12 took over")
    );
    expect_stays_sole_holder(&lab, vip, 2, ADVERT * 10);
}

/// Resumed while its drain's handover lingers, after keepalived answered it: the VIP stays
/// with vipd, keepalived lets go without an advert of its own (its default
/// `vrrp_higher_prio_send_advert` is off) after announcing the VIP with its MAC, and vipd
/// must announce again or the client keeps sending to keepalived's MAC until its neighbour
/// entry expires. The drain starts within a Master_Down_Interval of vipd becoming master,
/// so the handover lasts its whole bound (seconds at 1 s adverts) and the resume lands in it.
#[test]
fn resume_during_an_answered_drain_announces_the_vip_again() {
    let lab = Lab::new("drain-resume-announce", 2);
    let vip = vip4();
    let slow = |priority| v3_ipv4(priority).advert(Duration::from_secs(1));
    let keepalived_conf = KeepalivedConf::new("r2").instance(slow(100)).render();
    let _keepalived = lab.spawn_keepalived(2, &keepalived_conf);
    let r1 = start_vipd(&lab, 1, &conf(1, &[slow(150)]));
    wait_state(&r1, "VI_1", "MASTER");
    let (mac1, mac2) = (
        lab::Segment::Main.router_mac_text(1),
        lab::Segment::Main.router_mac_text(2),
    );
    assert_eq!(reach_and_read_neighbour(&lab, vip), mac1, "r1 master");
    ctl(&r1, &["drain", "VI_1"]);
    let follows_keepalived = lab::wait_until(SETTLE, Duration::from_millis(10), || {
        client_neighbour_mac(&lab, vip).as_deref() == Some(mac2.as_str())
    });
    assert!(
        follows_keepalived.is_some(),
        "keepalived's announcement does not reach the client"
    );
    let handing_over = instance(&r1, "VI_1");
    assert!(
        handing_over.state == "MASTER" && lab.holders(vip).contains(&1),
        "the drain came too late to test a resume during its handover: {handing_over:?}"
    );
    ctl(&r1, &["resume", "VI_1"]);
    expect_sole_holder(&lab, vip, 1, SETTLE, "the resumed r1 keeps the VIP");
    let back = lab::wait_until(Duration::from_secs(2), Duration::from_millis(10), || {
        client_neighbour_mac(&lab, vip).as_deref() == Some(mac1.as_str())
    });
    assert!(
        back.is_some(),
        "the client still sends to {:?} (r2 {mac2}) after the resume\n{}",
        client_neighbour_mac(&lab, vip),
        r1.log()
    );
    assert!(lab.client_ping(vip), "{vip} unreachable after the resume");
}
