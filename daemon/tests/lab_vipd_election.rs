//! vipd against vipd in the namespace lab (needs root): who becomes master, preempt and
//! nopreempt, IPv4 and IPv6, multicast and unicast.

mod lab;
mod lab_vipd_support;

use std::time::Duration;

use lab::keepalived_conf::InitialState;
use lab::{Lab, Segment};
use lab_vipd_support::*;

#[test]
fn two_routers_elect_the_highest_priority() {
    let lab = Lab::new("vipd-elect2", 2);
    let r1 = start_vipd(&lab, 1, &conf(1, &[v3_ipv4(150)]));
    let r2 = start_vipd(&lab, 2, &conf(2, &[v3_ipv4(100)]));
    expect_sole_holder(&lab, vip4(), 1, SETTLE, "election");
    let master = wait_state(&r1, "VI_1", "MASTER");
    let backup = wait_instance(&r2, "VI_1", SETTLE, "backup of r1", |i| {
        i.state == "BACKUP" && i.master_address.as_deref() == Some("192.0.2.11")
    });
    assert_eq!(master.master_address.as_deref(), Some("192.0.2.11"));
    assert_eq!(
        (master.base_priority, master.effective_priority),
        (150, 150)
    );
    assert_eq!(backup.advert_interval_ms, 100, "{backup:#?}");
    assert!(backup.adverts_received > 0, "{backup:#?}");
    assert!(master.adverts_sent > 0, "{master:#?}");
    for i in [&master, &backup] {
        assert!(i.dropped.values().all(|&n| n == 0), "{i:#?}");
    }
    assert!(lab.client_ping(vip4()), "client cannot reach the VIP");
    // Stable: nobody flaps while both run.
    expect_stays_sole_holder(&lab, vip4(), 1, ADVERT * 10);
    assert_eq!(instance(&r1, "VI_1").transitions, master.transitions);
    assert_eq!(instance(&r2, "VI_1").transitions, backup.transitions);
}

#[test]
fn three_routers_ipv6_elect_and_fail_over_to_the_next_highest() {
    let lab = Lab::new("vipd-elect3", 3);
    let priorities = [100, 150, 120];
    let mut routers: Vec<_> = (1..=3)
        .map(|r| start_vipd(&lab, r, &conf(r, &[v3_ipv6(priorities[r - 1])])))
        .collect();
    expect_sole_holder(&lab, vip6(), 2, SETTLE, "IPv6 election of three");
    wait_state(&routers[1], "VI_6", "MASTER");
    for r in [0, 2] {
        let i = wait_instance(&routers[r], "VI_6", SETTLE, "backup", |i| {
            i.state == "BACKUP" && i.master_address.is_some()
        });
        let master: std::net::Ipv6Addr = i
            .master_address
            .as_deref()
            .and_then(|a| a.parse().ok())
            .expect("an IPv6 master address");
        assert!(master.is_unicast_link_local(), "v3 IPv6 source: {i:#?}");
    }
    assert!(lab.client_ping(vip6()), "client cannot reach the IPv6 VIP");

    assert!(routers[1].stop().success(), "{}", routers[1].log());
    expect_sole_holder(&lab, vip6(), 3, SETTLE, "r2 stopped");
    wait_state(&routers[2], "VI_6", "MASTER");
    wait_state(&routers[0], "VI_6", "BACKUP");
    assert!(
        lab.client_ping(vip6()),
        "client cannot reach the IPv6 VIP on r3"
    );
}

#[test]
fn restarted_higher_priority_router_preempts() {
    let lab = Lab::new("vipd-preempt", 2);
    let text = conf(1, &[v3_ipv4(150)]);
    let mut r1 = start_vipd(&lab, 1, &text);
    let r2 = start_vipd(&lab, 2, &conf(2, &[v3_ipv4(100)]));
    expect_sole_holder(&lab, vip4(), 1, SETTLE, "election");
    assert!(r1.stop().success(), "{}", r1.log());
    expect_sole_holder(&lab, vip4(), 2, SETTLE, "r1 stopped");
    wait_state(&r2, "VI_1", "MASTER");

    let _r1 = start_vipd(&lab, 1, &text);
    expect_sole_holder(&lab, vip4(), 1, SETTLE, "r1 back with priority 150");
    wait_instance(&r2, "VI_1", SETTLE, "backup of r1", |i| {
        i.state == "BACKUP" && i.master_address.as_deref() == Some("192.0.2.11")
    });
}

#[test]
fn nopreempt_router_does_not_take_the_vip_back() {
    let lab = Lab::new("vipd-nopreempt", 2);
    let instance_conf = |priority| v3_ipv4(priority).state(InitialState::Backup).nopreempt();
    let text = conf(1, &[instance_conf(150)]);
    let mut r1 = start_vipd(&lab, 1, &text);
    let r2 = start_vipd(&lab, 2, &conf(2, &[instance_conf(100)]));
    expect_sole_holder(&lab, vip4(), 1, SETTLE, "election");
    assert!(r1.stop().success(), "{}", r1.log());
    expect_sole_holder(&lab, vip4(), 2, SETTLE, "r1 stopped");
    let transitions = wait_state(&r2, "VI_1", "MASTER").transitions;

    let r1 = start_vipd(&lab, 1, &text);
    wait_instance(&r1, "VI_1", SETTLE, "backup of r2", |i| {
        i.state == "BACKUP" && i.master_address.as_deref() == Some("192.0.2.12")
    });
    // Many Master_Down_Intervals: r1 must stay backup.
    expect_stays_sole_holder(&lab, vip4(), 2, ADVERT * 15);
    assert_eq!(instance(&r1, "VI_1").state, "BACKUP");
    assert_eq!(instance(&r2, "VI_1").transitions, transitions);
}

#[test]
fn unicast_peers_ipv4_and_ipv6() {
    let lab = Lab::new("vipd-unicast", 2);
    let ip4 = |r: usize| Segment::Main.router_ip4(r).to_string();
    let ip6 = |r: usize| Segment::Main.router_ip6(r).to_string();
    let unicast_conf = |r: usize, peer: usize, priority| {
        conf(
            r,
            &[
                v3_ipv4(priority).unicast(&ip4(r), &[&ip4(peer)]),
                v3_ipv6(priority).unicast(&ip6(r), &[&ip6(peer)]),
            ],
        )
    };
    // What r2 receives: adverts addressed to it, none to the VRRP groups.
    let mut capture = lab.capture(lab.router_ns(2), "eth0", "ip proto 112 or ip6 proto 112");
    let mut r1 = start_vipd(&lab, 1, &unicast_conf(1, 2, 150));
    let r2 = start_vipd(&lab, 2, &unicast_conf(2, 1, 100));
    for vip in [vip4(), vip6()] {
        expect_sole_holder(&lab, vip, 1, SETTLE, "unicast election");
    }
    let backup4 = wait_instance(&r2, "VI_1", SETTLE, "backup of r1", |i| {
        i.state == "BACKUP" && i.master_address.as_deref() == Some("192.0.2.11")
    });
    let backup6 = wait_instance(&r2, "VI_6", SETTLE, "backup of r1", |i| {
        i.state == "BACKUP" && i.master_address.as_deref() == Some("2001:db8::11")
    });
    assert!(backup4.adverts_received > 0 && backup6.adverts_received > 0);
    // tcpdump hands packets over in blocks (up to a second late): wait for both kinds.
    let unicast = ["192.0.2.11 > 192.0.2.12", "2001:db8::11 > 2001:db8::12"];
    let seen = lab::wait_until(SETTLE, Duration::from_millis(50), || {
        let packets = capture.packets();
        unicast
            .iter()
            .all(|u| packets.iter().any(|p| p.contains(u)))
    });
    let packets = capture.stop();
    assert!(seen.is_some(), "no unicast adverts to r2 in {packets:#?}");
    let multicast: Vec<_> = packets
        .iter()
        .filter(|p| p.contains("224.0.0.18") || p.contains("ff02::12"))
        .collect();
    assert!(multicast.is_empty(), "multicast adverts: {multicast:#?}");

    assert!(r1.stop().success(), "{}", r1.log());
    for vip in [vip4(), vip6()] {
        expect_sole_holder(&lab, vip, 2, SETTLE, "r1 stopped");
    }
    assert!(lab.client_ping(vip4()) && lab.client_ping(vip6()));
}

#[test]
fn native_toml_and_keepalived_conf_peers_behave_alike() {
    let lab = Lab::new("vipd-toml", 2);
    let mut r1 = start_vipd_toml(&lab, 1, &conf(1, &[v3_ipv4(150), v3_ipv6(150)]));
    let text = std::fs::read_to_string(r1.conf_path.as_ref().unwrap()).unwrap();
    assert!(
        text.contains("VI_1") && text.contains("2001:db8::100"),
        "{text}"
    );
    let r2 = start_vipd(&lab, 2, &conf(2, &[v3_ipv4(100), v3_ipv6(100)]));
    for vip in [vip4(), vip6()] {
        expect_sole_holder(&lab, vip, 1, SETTLE, "election with a TOML config");
    }
    let master = wait_state(&r1, "VI_1", "MASTER");
    assert_eq!(master.base_priority, 150);
    assert_eq!(master.advert_interval_ms, 100);
    assert!(r1.stop().success(), "{}", r1.log());
    for vip in [vip4(), vip6()] {
        expect_sole_holder(&lab, vip, 2, SETTLE, "TOML master stopped");
    }
    wait_state(&r2, "VI_6", "MASTER");
}
