//! vipd with real keepalived 2.2.7 on one segment (needs root and /usr/sbin/keepalived), both
//! ways round: keepalived master with vipd backup, vipd master with keepalived backup; for
//! v3 IPv4, v3 IPv6 and v2 with PASS authentication. Each: one holder, failover on SIGTERM,
//! and the restarted master taking the VIP back.

mod lab;
mod lab_vipd_support;

use std::time::Duration;

use lab::{Daemon, Lab};
use lab_vipd_support::*;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Speaker {
    Vipd,
    Keepalived,
}

fn start(lab: &Lab, speaker: Speaker, router: usize, text: &str) -> Daemon {
    match speaker {
        Speaker::Vipd => start_vipd(lab, router, text),
        Speaker::Keepalived => lab.spawn_keepalived(router, text),
    }
}

/// r1 (priority 150, `master`) and r2 (100, the other speaker).
fn interop(test: &str, variant: Variant, master: Speaker) {
    let backup = match master {
        Speaker::Vipd => Speaker::Keepalived,
        Speaker::Keepalived => Speaker::Vipd,
    };
    let lab = Lab::new(test, 2);
    let vip = variant.vip();
    let name = variant.name();
    let r1_text = conf(1, &[variant.instance(150)]);
    let mut r1 = start(&lab, master, 1, &r1_text);
    let r2 = start(&lab, backup, 2, &conf(2, &[variant.instance(100)]));
    expect_sole_holder(&lab, vip, 1, variant.settle(), "election");
    let vipd = if master == Speaker::Vipd { &r1 } else { &r2 };
    let expected_state = if master == Speaker::Vipd {
        "MASTER"
    } else {
        "BACKUP"
    };
    // vipd accepts every advert of keepalived (nothing dropped) and agrees on the master.
    let seen = wait_instance(vipd, name, variant.settle(), expected_state, |i| {
        i.state == expected_state && i.master_address.is_some()
    });
    if backup == Speaker::Vipd {
        wait_instance(vipd, name, variant.settle(), "hearing r1", |i| {
            i.adverts_received >= 2
        });
    }
    assert!(seen.dropped.values().all(|&n| n == 0), "{seen:#?}");
    if let (Variant::V3Ipv4 | Variant::V2Pass, Speaker::Vipd) = (variant, backup) {
        assert_eq!(seen.master_address.as_deref(), Some("192.0.2.11"));
    }
    if backup == Speaker::Keepalived {
        assert!(
            r2.wait_log("Entering BACKUP STATE", variant.settle())
                .is_some(),
            "{}",
            r2.log()
        );
    }
    expect_stays_sole_holder(&lab, vip, 1, variant.advert() * 4);
    if backup == Speaker::Keepalived {
        assert!(
            !r2.log().contains("Entering MASTER STATE"),
            "keepalived backup became master next to vipd:\n{}",
            r2.log()
        );
    }
    assert!(lab.client_ping(vip), "client cannot reach {vip}");

    // SIGTERM to the master: the other speaker takes over.
    let meter = lab.outage_meter(&[vip], Duration::from_millis(2));
    assert!(meter.wait_replies(20, SETTLE), "no replies before the stop");
    assert!(r1.stop().success(), "r1 exit:\n{}", r1.log());
    assert!(
        !lab.holders(vip).contains(&1),
        "r1 still holds {vip} after exiting"
    );
    expect_sole_holder(&lab, vip, 2, variant.settle(), "r1 stopped");
    assert!(meter.wait_replies(50, SETTLE), "no replies after the stop");
    let report = meter.stop();
    eprintln!("{test}: SIGTERM to the {master:?} master:\n{report}");
    assert_eq!(report.target(vip).last_replier(), Some(2), "{report}");
    if master == Speaker::Vipd {
        // The planned handover also works with a keepalived backup.
        assert!(
            report.longest_outage() < variant.advert() * 3,
            "handover to keepalived lost the VIP\n{report}\n{}",
            r1.log()
        );
    }
    if backup == Speaker::Vipd {
        wait_state(&r2, name, "MASTER");
    } else {
        assert!(
            r2.wait_log("Entering MASTER STATE", SETTLE).is_some(),
            "{}",
            r2.log()
        );
    }

    // The master comes back and, with the higher priority, takes the VIP back.
    let r1 = start(&lab, master, 1, &r1_text);
    expect_sole_holder(&lab, vip, 1, variant.settle(), "r1 restarted");
    if master == Speaker::Vipd {
        wait_state(&r1, name, "MASTER");
    } else {
        wait_instance(&r2, name, variant.settle(), "backup again", |i| {
            i.state == "BACKUP" && i.dropped.values().all(|&n| n == 0)
        });
    }
    expect_stays_sole_holder(&lab, vip, 1, variant.advert() * 3);
}

#[test]
fn keepalived_master_vipd_backup_v3_ipv4() {
    interop("ka-vipd-v3-4", Variant::V3Ipv4, Speaker::Keepalived);
}

#[test]
fn vipd_master_keepalived_backup_v3_ipv4() {
    interop("vipd-ka-v3-4", Variant::V3Ipv4, Speaker::Vipd);
}

#[test]
fn keepalived_master_vipd_backup_v3_ipv6() {
    interop("ka-vipd-v3-6", Variant::V3Ipv6, Speaker::Keepalived);
}

#[test]
fn vipd_master_keepalived_backup_v3_ipv6() {
    interop("vipd-ka-v3-6", Variant::V3Ipv6, Speaker::Vipd);
}

#[test]
fn keepalived_master_vipd_backup_v2_pass() {
    interop("ka-vipd-v2", Variant::V2Pass, Speaker::Keepalived);
}

#[test]
fn vipd_master_keepalived_backup_v2_pass() {
    interop("vipd-ka-v2", Variant::V2Pass, Speaker::Vipd);
}
