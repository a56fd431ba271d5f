//! Foreign protocol-112 traffic and mis-configured peers on vipd's segment (needs root,
//! keepalived 2.2.7 and ucarp). Each scenario runs with a vipd pair and, as the reference,
//! with a keepalived pair in vipd's place: vipd must end up where keepalived does (one
//! holder, or the same documented double master), with no extra transitions.
//!
//! - ucarp (CARP, also protocol 112 to 224.0.0.18, header also starting 0x21) with the
//!   VRID as vhid and with another vhid;
//! - a keepalived peer on the same VRID with another `auth_pass`, another v2 advert
//!   interval, another VIP list;
//! - VRRPv2 and VRRPv3 speakers on one VRID;
//! - keepalived running 20 other VRIDs at 100 ms while a vipd pair fails over.

mod lab;
mod lab_vipd_support;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use lab::keepalived_conf::VrrpInstance;
use lab::{Daemon, Lab, Segment};
use lab_vipd_support::*;

/// Bound for a v2 (1 s adverts) election: Master_Down_Interval is about 3.6 s.
const V2_SETTLE: Duration = Duration::from_secs(12);
/// How long a settled segment is watched for flaps.
const WATCH: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Speaker {
    Vipd,
    Keepalived,
}

fn start(lab: &Lab, speaker: Speaker, router: usize, instances: &[VrrpInstance]) -> Daemon {
    let text = conf(router, instances);
    match speaker {
        Speaker::Vipd => start_vipd(lab, router, &text),
        Speaker::Keepalived => lab.spawn_keepalived(router, &text),
    }
}

fn vip2() -> IpAddr {
    "192.0.2.101".parse().expect("address")
}

/// How often the daemon entered MASTER: vipd's counter, or keepalived's log lines.
fn times_master(daemon: &Daemon, speaker: Speaker, name: &str) -> u64 {
    match speaker {
        Speaker::Vipd => instance(daemon, name).became_master,
        Speaker::Keepalived => daemon
            .log()
            .matches(&format!("({name}) Entering MASTER STATE"))
            .count() as u64,
    }
}

/// Every distinct holder set of `vip` seen while sampling for `window`.
fn holder_sets(lab: &Lab, vip: IpAddr, window: Duration) -> BTreeSet<Vec<usize>> {
    let start = Instant::now();
    let mut seen = BTreeSet::new();
    while start.elapsed() < window {
        seen.insert(lab.holders(vip));
        std::thread::sleep(Duration::from_millis(20));
    }
    seen
}

/// Waits until the holders of `vip` are exactly `routers`, then watches them stay so.
fn expect_holders_settle(lab: &Lab, vip: IpAddr, routers: &[usize], settle: Duration, why: &str) {
    let reached = lab::wait_until(settle, Duration::from_millis(20), || {
        lab.holders(vip) == routers
    });
    assert!(
        reached.is_some(),
        "{why}: holders of {vip} should be {routers:?}, are {:?}",
        lab.holders(vip)
    );
    let seen = holder_sets(lab, vip, WATCH);
    assert_eq!(
        seen,
        BTreeSet::from([routers.to_vec()]),
        "{why}: holders of {vip} changed while watched"
    );
}

/// Packets from `src` with IP protocol 112 that the client saw.
fn packets_from(capture: &lab::Capture, src: &str) -> usize {
    capture
        .packets()
        .iter()
        .filter(|p| p.contains(&format!("{src} > 224.0.0.18")))
        .count()
}

// --- 1. ucarp on the segment -------------------------------------------------------------

/// ucarp in r3 with vhid = the pair's VRID (61) and ucarp in r4 with vhid 62, both at 1 s,
/// next to a v2 pair (r1 150, r2 100, VRID 61, PASS). A CARP advert reads as a v2 advert
/// with 7 addresses and no room for them: the pair must not react to it.
fn ucarp_next_to_pair(test: &str, speaker: Speaker) {
    let lab = Lab::new(test, 4);
    let capture = lab.capture(lab.client_ns(), "eth0", "ip proto 112");
    let r1 = start(&lab, speaker, 1, &[v2_pass(150)]);
    let r2 = start(&lab, speaker, 2, &[v2_pass(100)]);
    expect_holders_settle(&lab, vip2(), &[1], V2_SETTLE, "election");
    let _carp_same = spawn_ucarp(&lab, 3, 61, "192.0.2.200");
    let _carp_other = spawn_ucarp(&lab, 4, 62, "192.0.2.201");
    let carp_heard = lab::wait_until(V2_SETTLE, Duration::from_millis(50), || {
        packets_from(&capture, &Segment::Main.router_ip4(3).to_string()) >= 3
            && packets_from(&capture, &Segment::Main.router_ip4(4).to_string()) >= 3
    });
    assert!(
        carp_heard.is_some(),
        "both ucarps should advertise: {:#?}",
        capture.packets()
    );
    if speaker == Speaker::Keepalived {
        // keepalived drops CARP as too short, but its backup times out anyway while it
        // arrives: it takes the VIP for a moment every few seconds and sends GARPs (seen
        // here with 2.2.7; vipd does not). Recorded, not asserted: it depends on timing.
        std::thread::sleep(WATCH);
        for daemon in [&r1, &r2] {
            assert!(
                daemon.log().contains("vrrp packet too short"),
                "keepalived should drop the CARP adverts:\n{}",
                daemon.log()
            );
        }
        eprintln!(
            "{test}: keepalived backup entered MASTER {} time(s) with CARP on the segment",
            times_master(&r2, speaker, "VI_2")
        );
        return;
    }
    let before = (instance(&r1, "VI_2"), instance(&r2, "VI_2"));
    expect_holders_settle(&lab, vip2(), &[1], WATCH, "with CARP on the segment");
    let master = instance(&r1, "VI_2");
    let backup = instance(&r2, "VI_2");
    assert_eq!(master.state, "MASTER", "{master:#?}");
    assert_eq!(backup.state, "BACKUP", "{backup:#?}");
    assert_eq!(master.transitions, before.0.transitions, "{master:#?}");
    assert_eq!(backup.transitions, before.1.transitions, "{backup:#?}");
    assert_eq!(backup.became_master, 0, "{backup:#?}");
    assert_eq!(backup.master_address.as_deref(), Some("192.0.2.11"));
    // The same-vhid CARP adverts are the instance's drops, the other vhid the socket's.
    for status in [&master, &backup] {
        assert!(
            status.dropped.get("truncated").copied().unwrap_or(0) >= 2,
            "{status:#?}"
        );
        assert!(
            status.dropped.get("unknown_vrid").copied().unwrap_or(0) >= 2,
            "{status:#?}"
        );
    }
}

fn spawn_ucarp(lab: &Lab, router: usize, vhid: u8, addr: &str) -> Daemon {
    let src = Segment::Main.router_ip4(router).to_string();
    let vhid = vhid.to_string();
    lab.spawn(
        router,
        &[
            "ucarp",
            "--interface=eth0",
            &format!("--srcip={src}"),
            &format!("--vhid={vhid}"),
            "--pass=secret",
            &format!("--addr={addr}"),
            "--advbase=1",
            "--upscript=/bin/true",
            "--downscript=/bin/true",
            "--preempt",
        ],
        &[],
    )
}

#[test]
fn ucarp_on_the_vrid_and_beside_it_leaves_vipd_pair_alone() {
    ucarp_next_to_pair("coex-ucarp-vipd", Speaker::Vipd);
}

#[test]
fn ucarp_on_the_vrid_is_dropped_by_keepalived_as_too_short() {
    ucarp_next_to_pair("coex-ucarp-ka", Speaker::Keepalived);
}
