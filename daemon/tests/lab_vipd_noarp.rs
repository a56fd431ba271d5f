//! Links without ARP or multicast (WireGuard, GRE, tun), emulated by a veth pair with `arp
//! off`/`multicast off` and by relayed tun devices (needs root): unicast VRRP elects, fails
//! over and preempts back with the VIP on the link itself; no gratuitous ARP/NA is attempted
//! there (no announcement errors in the log); `vipd check` and `vipd run` warn about
//! multicast adverts on such a link.

mod lab;
mod lab_vipd_support;

use std::net::IpAddr;
use std::time::Duration;

use lab::keepalived_conf::VrrpInstance;
use lab::tunnel::{veth_without_arp, TunPair};
use lab::{Daemon, Lab};
use lab_vipd_support::*;

const VIP: &str = "203.0.113.100";

fn vip() -> IpAddr {
    VIP.parse().expect("address")
}

/// Unicast VRRPv3 on `ifname` between 203.0.113.1 (r1) and 203.0.113.2 (r2).
fn unicast(router: usize, ifname: &str, priority: u8) -> VrrpInstance {
    let (own, peer) = if router == 1 {
        ("203.0.113.1", "203.0.113.2")
    } else {
        ("203.0.113.2", "203.0.113.1")
    };
    VrrpInstance::new("VI_T", ifname, 71)
        .priority(priority)
        .version(3)
        .advert(ADVERT)
        .unicast(own, &[peer])
        .vip(&format!("{VIP}/32"))
}

fn assert_no_announcement_errors(daemon: &Daemon) {
    let log = daemon.log();
    for needle in [&format!("announcing {VIP}"), "no Ethernet address", "ERROR"] {
        assert!(
            !log.contains(needle),
            "`{needle}` in the log of {}:\n{log}",
            daemon.name
        );
    }
}

fn failover_on(lab: &Lab, ifname: &str) {
    let r1_text = conf(1, &[unicast(1, ifname, 150)]);
    let mut r1 = start_vipd(lab, 1, &r1_text);
    let r2 = start_vipd(lab, 2, &conf(2, &[unicast(2, ifname, 100)]));
    expect_sole_holder(lab, vip(), 1, SETTLE, "election");
    wait_instance(&r2, "VI_T", SETTLE, "BACKUP hearing r1", |i| {
        i.state == "BACKUP" && i.adverts_received >= 2
    });
    assert!(lab.addresses(1, ifname).contains(&vip()));
    // The VIP answers across the link.
    lab.exec_ok(lab.router_ns(2), &format!("ping -c 1 -W 1 {VIP}"));

    assert!(r1.stop().success(), "r1 exit:\n{}", r1.log());
    expect_sole_holder(lab, vip(), 2, SETTLE, "r1 stopped");
    wait_state(&r2, "VI_T", "MASTER");
    let r1 = start_vipd(lab, 1, &r1_text);
    expect_sole_holder(lab, vip(), 1, SETTLE, "r1 preempts back");
    wait_state(&r2, "VI_T", "BACKUP");
    // Both became master at least once: neither tried to announce on the link.
    assert_no_announcement_errors(&r1);
    assert_no_announcement_errors(&r2);
}

#[test]
fn noarp_veth_unicast_failover_without_announcements() {
    let lab = Lab::new("noarp-veth", 2);
    veth_without_arp(&lab, "p2p0", 1, "203.0.113.1/24", 2, "203.0.113.2/24");
    let mut capture = lab.capture(lab.router_ns(2), "p2p0", "arp");
    failover_on(&lab, "p2p0");
    let arp: Vec<String> = capture
        .stop()
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .collect();
    assert!(arp.is_empty(), "ARP on a link with ARP off: {arp:#?}");
}

#[test]
fn tun_unicast_failover_without_announcements() {
    let lab = Lab::new("noarp-tun", 2);
    let _tunnel = TunPair::new(&lab, "tun0", 1, "203.0.113.1", 2, "203.0.113.2");
    // A point-to-point link routes only the peer's address: the VIP needs a route on every
    // router (as it needs AllowedIPs on WireGuard peers).
    for router in [1, 2] {
        lab.exec_ok(
            lab.router_ns(router),
            "ip route add 203.0.113.0/24 dev tun0",
        );
    }
    failover_on(&lab, "tun0");
}

/// Multicast adverts on a link without multicast reach nobody: `vipd check` (when the
/// interface exists) and `vipd run` say so.
#[test]
fn multicast_on_a_tun_link_is_warned_about() {
    let lab = Lab::new("noarp-warn", 2);
    let _tunnel = TunPair::new(&lab, "tun0", 1, "203.0.113.1", 2, "203.0.113.2");
    let text = conf(
        1,
        &[VrrpInstance::new("VI_M", "tun0", 72)
            .version(3)
            .advert(ADVERT)
            .vip("203.0.113.72/32")],
    );
    let path = lab.dir().join("multicast-on-tun.conf");
    std::fs::write(&path, &text).expect("write conf");
    let check = lab.exec(
        lab.router_ns(1),
        &format!(
            "{} check -c {}",
            lab::vipd_binary().expect("vipd").display(),
            path.display()
        ),
    );
    let expected = "warning: instance `VI_M`: tun0 is a point-to-point link";
    assert!(check.success, "{}{}", check.stdout, check.stderr);
    assert!(check.stderr.contains(expected), "{}", check.stderr);
    let strict = lab.exec(
        lab.router_ns(1),
        &format!(
            "{} check --strict -c {}",
            lab::vipd_binary().expect("vipd").display(),
            path.display()
        ),
    );
    assert!(!strict.success, "--strict refuses it:\n{}", strict.stderr);
    // Outside the namespace tun0 does not exist: nothing to judge.
    let elsewhere = vipd_cli(&["check", "-c", path.to_str().expect("utf-8")]);
    assert!(!elsewhere.stderr.contains(expected), "{}", elsewhere.stderr);
    let r1 = start_vipd(&lab, 1, &text);
    assert!(
        r1.wait_log(
            "instance `VI_M`: tun0 is a point-to-point link",
            Duration::from_secs(5)
        )
        .is_some(),
        "{}",
        r1.log()
    );
}
