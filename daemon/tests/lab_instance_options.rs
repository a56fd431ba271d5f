//! keepalived instance options that change the host (needs root): `promote_secondaries`
//! and `track_src_ip`, run side by side with keepalived 2.2.7 where both should behave alike.
//!
//! - `promote_secondaries`: a master holding two instances' VIPs in one subnet, plus a host
//!   address of that subnet added later (a secondary), loses the instance whose VIP is the
//!   subnet's primary address. With the keyword, the other VIP and the host address stay;
//!   without it, the kernel deletes the host address with the primary, for vipd as for
//!   keepalived. Both set the interface's setting while running and restore it at exit.
//!   A reload that adds the keyword sets it for both; one that removes it gives it back at
//!   once for vipd, at exit for keepalived.
//! - `track_src_ip`: deleting the master's `unicast_src_ip` puts it in FAULT, the backup
//!   takes over (one master), and adding the address back brings it back. Without the
//!   keyword the master stays master, as keepalived's does.

mod lab;
mod lab_vipd_support;

use std::net::IpAddr;
use std::time::Duration;

use lab::keepalived_conf::VrrpInstance;
use lab::{wait_until, Daemon, Lab};
use lab_vipd_support::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Keepalived,
    Vipd,
}

fn spawn(lab: &Lab, kind: Kind, router: usize, conf: &str) -> Daemon {
    match kind {
        Kind::Keepalived => lab.spawn_keepalived(router, conf),
        Kind::Vipd => start_vipd(lab, router, conf),
    }
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("address")
}

/// The two VIPs of one subnet (each its own instance) and a host address of that subnet.
const VIP_A: &str = "198.51.100.10";
const VIP_B: &str = "198.51.100.11";
const HOST: &str = "198.51.100.50";

fn subnet_instances(priority_a: u8, priority_b: u8, promote: bool) -> Vec<VrrpInstance> {
    [
        ("VI_A", 51, priority_a, VIP_A),
        ("VI_B", 52, priority_b, VIP_B),
    ]
    .into_iter()
    .map(|(name, vrid, priority, vip)| {
        let inst = VrrpInstance::new(name, "eth0", vrid)
            .priority(priority)
            .version(3)
            .advert(ADVERT)
            .vip(&format!("{vip}/24"));
        if promote {
            inst.line("promote_secondaries")
        } else {
            inst
        }
    })
    .collect()
}

fn promote_setting(lab: &Lab, router: usize) -> String {
    lab.exec_ok(
        lab.router_ns(router),
        "sysctl -n net.ipv4.conf.eth0.promote_secondaries",
    )
    .trim()
    .to_string()
}

/// The primary address of 198.51.100.0/24 on r1's eth0.
fn subnet_primary(lab: &Lab) -> Option<String> {
    let out = lab.exec_ok(lab.router_ns(1), "ip -4 -o addr show dev eth0");
    out.lines()
        .filter(|l| l.contains(" 198.51.100.") && !l.contains("secondary"))
        .find_map(|l| {
            let word = l.split_whitespace().skip_while(|w| *w != "inet").nth(1)?;
            Some(word.split('/').next()?.to_string())
        })
}

#[derive(Debug, PartialEq, Eq)]
struct SubnetOutcome {
    setting_while_running: String,
    setting_after_exit: String,
    host_address_kept: bool,
    other_vip_on_r1: bool,
    /// Still there once r1's daemon has stopped (and removed its last VIP).
    host_address_after_exit: bool,
}

/// r1 masters VI_A and VI_B; a host address joins their subnet; the instance whose VIP is
/// the subnet's primary moves to r2 (r2 reloaded with a higher priority for it).
fn subnet_failover(kind: Kind, promote: bool) -> SubnetOutcome {
    let lab = Lab::new(&format!("promote_{kind:?}_{promote}"), 2);
    let r1_conf = conf(1, &subnet_instances(150, 150, promote));
    let mut r1 = spawn(&lab, kind, 1, &r1_conf);
    let r2 = spawn(&lab, kind, 2, &conf(2, &subnet_instances(100, 100, false)));
    for vip in [VIP_A, VIP_B] {
        expect_sole_holder(&lab, ip(vip), 1, SETTLE * 2, "r1 masters both");
    }
    let setting_while_running = promote_setting(&lab, 1);
    lab.exec_ok(lab.router_ns(1), &format!("ip addr add {HOST}/24 dev eth0"));
    let primary = subnet_primary(&lab).expect("a primary address in the VIPs' subnet");
    let (moved_a, other) = if primary == VIP_A {
        (true, VIP_B)
    } else {
        assert_eq!(
            primary, VIP_B,
            "the first VIP added is the subnet's primary"
        );
        (false, VIP_A)
    };
    let (a, b) = if moved_a { (200, 100) } else { (100, 200) };
    rewrite_conf(&r2, &conf(2, &subnet_instances(a, b, false)));
    r2.reload();
    expect_sole_holder(
        &lab,
        ip(&primary),
        2,
        SETTLE * 3,
        "the primary's instance moves",
    );
    // The kernel deletes the secondaries with the primary at once; a flushed VIP of a
    // master comes back (vipd at once, keepalived after a re-election): watch a while.
    let host_gone = wait_until(Duration::from_secs(2), Duration::from_millis(20), || {
        !lab.addresses(1, "eth0").contains(&ip(HOST))
    })
    .is_some();
    let other_vip_on_r1 = lab
        .wait_sole_holder(ip(other), 1, Duration::from_secs(10))
        .is_some();
    r1.stop();
    let setting_after_exit = promote_setting(&lab, 1);
    let host_address_after_exit = lab.addresses(1, "eth0").contains(&ip(HOST));
    println!(
        "{kind:?} promote_secondaries={promote}: log of r1:\n{}",
        r1.log()
    );
    SubnetOutcome {
        setting_while_running,
        setting_after_exit,
        host_address_kept: !host_gone,
        other_vip_on_r1,
        host_address_after_exit,
    }
}

#[test]
fn promote_secondaries_keeps_the_subnet_when_its_primary_vip_fails_over_as_keepalived_does() {
    let expected = SubnetOutcome {
        setting_while_running: "1".into(),
        setting_after_exit: "0".into(),
        host_address_kept: true,
        other_vip_on_r1: true,
        host_address_after_exit: true,
    };
    let keepalived = subnet_failover(Kind::Keepalived, true);
    assert_eq!(keepalived, expected, "keepalived");
    let vipd = subnet_failover(Kind::Vipd, true);
    assert_eq!(vipd, expected, "vipd");
}

#[test]
fn without_promote_secondaries_the_kernel_flushes_the_subnet_for_vipd_as_for_keepalived() {
    let keepalived = subnet_failover(Kind::Keepalived, false);
    let vipd = subnet_failover(Kind::Vipd, false);
    assert_eq!(keepalived.setting_while_running, "0");
    assert!(
        !keepalived.host_address_kept,
        "keepalived: the host address went with the primary VIP"
    );
    assert_eq!(vipd.setting_while_running, "0");
    assert!(
        !vipd.host_address_kept,
        "vipd: the host address went with the primary VIP"
    );
    // The other instance's VIP went with the primary too. keepalived 2.2.7 does not notice
    // (the deletion came from its own request) and stays MASTER without it; vipd puts it
    // back ("removed while MASTER: restoring it").
    assert!(
        !keepalived.other_vip_on_r1,
        "keepalived 2.2.7 leaves it deleted"
    );
    assert!(vipd.other_vip_on_r1, "vipd restores it");
}

/// `promote_secondaries` on r1's eth0: at start without the keyword, after a reload that
/// adds it, after a reload that removes it again, after exit. The reload is over when the
/// setting changed or `SETTLE` passed.
fn promote_across_reloads(kind: Kind) -> Vec<String> {
    let lab = Lab::new(&format!("promote_reload_{kind:?}"), 1);
    let mut r1 = spawn(&lab, kind, 1, &conf(1, &subnet_instances(150, 150, false)));
    for vip in [VIP_A, VIP_B] {
        expect_sole_holder(&lab, ip(vip), 1, SETTLE * 2, "r1 masters both");
    }
    let mut seen = vec![promote_setting(&lab, 1)];
    for promote in [true, false] {
        rewrite_conf(&r1, &conf(1, &subnet_instances(150, 150, promote)));
        r1.reload();
        let before = seen.last().cloned().unwrap_or_default();
        let changed = wait_until(SETTLE, Duration::from_millis(20), || {
            promote_setting(&lab, 1) != before
        });
        seen.push(changed.map_or(before, |_| promote_setting(&lab, 1)));
        for vip in [VIP_A, VIP_B] {
            expect_sole_holder(&lab, ip(vip), 1, SETTLE, "r1 still masters both");
        }
    }
    r1.stop();
    seen.push(promote_setting(&lab, 1));
    println!(
        "{kind:?}: promote_secondaries {seen:?}; log of r1:\n{}",
        r1.log()
    );
    seen
}

#[test]
fn promote_secondaries_is_set_by_a_reload_that_adds_it_and_given_back_by_one_that_removes_it() {
    let vipd = promote_across_reloads(Kind::Vipd);
    assert_eq!(vipd, ["0", "1", "0", "0"], "vipd");
    // keepalived 2.2.7 sets it on the reload that adds it too, but gives it back only at
    // exit. vipd gives it back at once: the node is as a fresh start with that file leaves
    // it (documented in REFERENCE.md).
    let keepalived = promote_across_reloads(Kind::Keepalived);
    assert_eq!(keepalived, ["0", "1", "1", "0"], "keepalived 2.2.7");
}

/// r1's advert source, an address of its own beside its 192.0.2.11.
const SOURCE: &str = "192.0.2.201";

fn unicast_instance(router: usize, priority: u8, track: bool) -> VrrpInstance {
    let (own, peer) = if router == 1 {
        (SOURCE.to_string(), router_ip4(2).to_string())
    } else {
        (router_ip4(2).to_string(), SOURCE.to_string())
    };
    let inst = VrrpInstance::new("VI_1", "eth0", 51)
        .priority(priority)
        .version(3)
        .advert(ADVERT)
        .unicast(&own, &[&peer])
        .vip("192.0.2.100/24");
    if track {
        inst.line("track_src_ip")
    } else {
        inst
    }
}

fn source_lab(name: &str, kind: Kind, track: bool) -> (Lab, Daemon, Daemon) {
    let lab = Lab::new(name, 2);
    lab.exec_ok(
        lab.router_ns(1),
        &format!("ip addr add {SOURCE}/24 dev eth0"),
    );
    let r1 = spawn(&lab, kind, 1, &conf(1, &[unicast_instance(1, 150, track)]));
    let r2 = spawn(&lab, kind, 2, &conf(2, &[unicast_instance(2, 100, false)]));
    expect_sole_holder(&lab, vip4(), 1, SETTLE * 2, "election");
    (lab, r1, r2)
}

#[test]
fn track_src_ip_faults_the_master_whose_source_address_goes_and_brings_it_back() {
    let (lab, r1, r2) = source_lab("track_src_ip", Kind::Vipd, true);
    wait_state(&r2, "VI_1", "BACKUP");
    lab.exec_ok(
        lab.router_ns(1),
        &format!("ip addr del {SOURCE}/24 dev eth0"),
    );
    wait_instance(&r1, "VI_1", SETTLE, "FAULT", |i| i.state == "FAULT");
    expect_sole_holder(&lab, vip4(), 2, SETTLE, "the backup takes over");
    wait_state(&r2, "VI_1", "MASTER");
    expect_stays_sole_holder(&lab, vip4(), 2, Duration::from_secs(1));
    assert!(
        r1.log()
            .contains(&format!("source address {SOURCE} is not on eth0")),
        "{}",
        r1.log()
    );
    lab.exec_ok(
        lab.router_ns(1),
        &format!("ip addr add {SOURCE}/24 dev eth0"),
    );
    wait_state(&r1, "VI_1", "MASTER");
    expect_sole_holder(&lab, vip4(), 1, SETTLE, "r1 back and preempting");
    wait_state(&r2, "VI_1", "BACKUP");
}

/// Without `track_src_ip`, deleting the master's `unicast_src_ip`: which routers hold the
/// VIP over the next seconds (sampled), for this daemon on both routers.
fn holders_after_source_goes(kind: Kind) -> Vec<Vec<usize>> {
    let (lab, r1, r2) = source_lab(&format!("untracked_{kind:?}"), kind, false);
    lab.exec_ok(
        lab.router_ns(1),
        &format!("ip addr del {SOURCE}/24 dev eth0"),
    );
    let mut seen = Vec::new();
    for _ in 0..30 {
        std::thread::sleep(Duration::from_millis(100));
        let holders = lab.holders(vip4());
        if seen.last() != Some(&holders) {
            seen.push(holders);
        }
    }
    println!("{kind:?}: r1:\n{}\nr2:\n{}", r1.log(), r2.log());
    seen
}

#[test]
fn without_track_src_ip_the_master_losing_its_source_stays_the_only_master_as_with_keepalived() {
    let keepalived = holders_after_source_goes(Kind::Keepalived);
    assert_eq!(keepalived, vec![vec![1]], "keepalived");
    let vipd = holders_after_source_goes(Kind::Vipd);
    assert_eq!(vipd, vec![vec![1]], "vipd");
}

#[test]
fn an_untracked_unicast_source_missing_at_start_faults_until_it_appears() {
    // keepalived 2.2.7 starts such an instance in FAULT too ("src address not configured"),
    // but stays there when the address appears; vipd comes back.
    let lab = Lab::new("late_source", 2);
    let r2 = start_vipd(&lab, 2, &conf(2, &[unicast_instance(2, 100, false)]));
    let r1 = start_vipd(&lab, 1, &conf(1, &[unicast_instance(1, 150, false)]));
    wait_state(&r1, "VI_1", "FAULT");
    expect_sole_holder(&lab, vip4(), 2, SETTLE * 2, "r2 alone");
    expect_stays_sole_holder(&lab, vip4(), 2, Duration::from_secs(1));
    lab.exec_ok(
        lab.router_ns(1),
        &format!("ip addr add {SOURCE}/24 dev eth0"),
    );
    wait_state(&r1, "VI_1", "MASTER");
    expect_sole_holder(
        &lab,
        vip4(),
        1,
        SETTLE,
        "r1 preempts once its source is there",
    );
    wait_state(&r2, "VI_1", "BACKUP");
}

/// r1's second address, its advert source once its primary address goes.
const SECOND: &str = "192.0.2.21";

/// VI_1 unicast to the other router, without `unicast_src_ip`: keepalived 2.2.7 sends from
/// the interface's primary IPv4 address. r2 lists both addresses r1 may send from (it checks
/// the source, `check_unicast_src`, vipd's default).
fn interface_sourced_instance(router: usize, priority: u8) -> VrrpInstance {
    let peers = if router == 1 {
        router_ip4(2).to_string()
    } else {
        format!("{} {SECOND}", router_ip4(1))
    };
    let mut inst = VrrpInstance::new("VI_1", "eth0", 51)
        .priority(priority)
        .version(3)
        .advert(ADVERT)
        .line("unicast_peer {");
    for peer in peers.split(' ') {
        inst = inst.line(peer);
    }
    inst.line("}").vip("192.0.2.100/24")
}

/// The sources of the VRRP packets a capture saw, in order, without repeats.
fn advert_sources(capture: &lab::capture::Capture) -> Vec<String> {
    let mut sources: Vec<String> = Vec::new();
    for packet in capture.packets() {
        let Some((_, after)) = packet.split_once(") ") else {
            continue;
        };
        let Some(src) = after.split_whitespace().next() else {
            continue;
        };
        if sources.last().map(String::as_str) != Some(src) {
            sources.push(src.to_string());
        }
    }
    sources
}

/// `unicast_peer` without `unicast_src_ip`, as keepalived 2.2.7 does it (measured): an
/// interface without an IPv4 address at start puts the instance in FAULT ("no IPv4 address
/// for interface"), the address appearing starts it with that address as source, and when
/// the primary address goes, the adverts come from the new primary. vipd opened its socket
/// with the unspecified address and sent adverts from 0.0.0.0 (their checksum made with it,
/// so the peer dropped them: two masters), and kept a deleted primary as source.
#[test]
fn unicast_without_a_source_address_follows_the_interfaces_primary_address() {
    let lab = Lab::new("iface_source", 2);
    let own = router_ip4(1);
    lab.exec_ok(lab.router_ns(1), &format!("ip addr del {own}/24 dev eth0"));
    lab.exec_ok(
        lab.router_ns(1),
        "sysctl -qw net.ipv4.conf.eth0.promote_secondaries=1",
    );
    let mut capture = lab.capture(lab.router_ns(2), "eth0", "ip proto 112");
    let r2 = start_vipd(&lab, 2, &conf(2, &[interface_sourced_instance(2, 100)]));
    let r1 = start_vipd(&lab, 1, &conf(1, &[interface_sourced_instance(1, 150)]));
    wait_state(&r1, "VI_1", "FAULT");
    expect_sole_holder(&lab, vip4(), 2, SETTLE * 2, "r2 alone");
    expect_stays_sole_holder(&lab, vip4(), 2, Duration::from_secs(1));
    lab.exec_ok(lab.router_ns(1), &format!("ip addr add {own}/24 dev eth0"));
    wait_state(&r1, "VI_1", "MASTER");
    expect_sole_holder(
        &lab,
        vip4(),
        1,
        SETTLE,
        "r1 preempts once it has an address",
    );
    wait_state(&r2, "VI_1", "BACKUP");
    // A second address in the subnet, after the VIP; then the primary goes: the kernel
    // promotes the VIP (next in line), and r1 sends from SECOND, never from its VIP (which
    // leaves with the master role).
    lab.exec_ok(
        lab.router_ns(1),
        &format!("ip addr add {SECOND}/24 dev eth0"),
    );
    lab.exec_ok(lab.router_ns(1), &format!("ip addr del {own}/24 dev eth0"));
    let promoted = wait_until(SETTLE, Duration::from_millis(50), || {
        advert_sources(&capture).last().map(String::as_str) == Some(SECOND)
    });
    expect_stays_sole_holder(&lab, vip4(), 1, Duration::from_secs(1));
    assert_eq!(instance(&r2, "VI_1").state, "BACKUP");
    let sources = advert_sources(&capture);
    capture.stop();
    println!("r1:\n{}", r1.log());
    assert!(promoted.is_some(), "advert sources seen by r2: {sources:?}");
    let mut r1_sources: Vec<&String> = sources
        .iter()
        .filter(|s| *s != &router_ip4(2).to_string())
        .collect();
    r1_sources.dedup();
    assert_eq!(
        r1_sources,
        [&own.to_string(), &SECOND.to_string()],
        "r1's advert sources in order (never 0.0.0.0)"
    );
}
