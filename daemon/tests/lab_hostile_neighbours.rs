//! Red-team round 4: a hostile host on the segment (router r3, which runs no VRRP) against
//! the path of a master's unicast adverts to its peer (needs root):
//!
//! - IPv6 unicast peers: forged Packet Too Big quoting the master's adverts, forged NDISC
//!   redirects sending them to the stranger (spoofed from the peer and from the stranger,
//!   with and without the redirected header), a forged router advertisement withdrawing the
//!   segment's prefix: nothing moves (the kernel takes a redirect only for a destination
//!   reached through a gateway, and a Packet Too Big only for a connected socket or one
//!   with `IPV6_RECVERR`, which vipd's are not);
//! - forged neighbour entries for the peer (an override NA, an ARP reply, both with the
//!   stranger's MAC): the kernel's neighbour table then sends the unicast adverts to the
//!   stranger, the backup takes over and both hold the VIPs (any unicast sender alike,
//!   keepalived too). Permanent neighbour entries for the peers stop it (asserted).

mod hostile_frames;
mod lab;
mod lab_vipd_support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use hostile_frames::*;
use lab::{Lab, Segment};
use lab_vipd_support::*;
use vipd::vrrp::packet::{Advertisement, Auth, ChecksumMode, Version};

const STRANGER: usize = 3;

fn ip4(router: usize) -> Ipv4Addr {
    Segment::Main.router_ip4(router)
}

fn ip6(router: usize) -> Ipv6Addr {
    Segment::Main.router_ip6(router)
}

/// r1's IPv6 unicast advert to r2 as it is on the wire.
fn advert6() -> Vec<u8> {
    let advert = Advertisement {
        version: Version::V3,
        vrid: 52,
        priority: 150,
        advert_interval_cs: 10,
        addresses: vec![vip6()],
        auth: Auth::None,
    }
    .to_bytes(ip6(1).into(), ip6(2).into(), ChecksumMode::PseudoHeader);
    ipv6(ip6(1), ip6(2), 255, 112, &advert)
}

/// An NDISC redirect from `src` to `dst`: `destination` is better reached through
/// `target` (whose MAC is `mac`), quoting `quoted` in a redirected header when given.
fn redirect(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    target: Ipv6Addr,
    destination: Ipv6Addr,
    mac: [u8; 6],
    quoted: Option<&[u8]>,
) -> Vec<u8> {
    let mut m = vec![137, 0, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&target.octets());
    m.extend_from_slice(&destination.octets());
    m.extend_from_slice(&[2, 1]);
    m.extend_from_slice(&mac);
    if let Some(quoted) = quoted {
        let mut body = quoted.to_vec();
        body.resize(quoted.len().div_ceil(8) * 8, 0);
        let units = u8::try_from(1 + body.len() / 8).expect("small option");
        m.extend_from_slice(&[4, units, 0, 0, 0, 0, 0, 0]);
        m.extend_from_slice(&body);
    }
    icmpv6(src, dst, m)
}

/// A Packet Too Big from `src` to `dst` with this MTU quoting `quoted`.
fn packet_too_big(src: Ipv6Addr, dst: Ipv6Addr, mtu: u32, quoted: &[u8]) -> Vec<u8> {
    let mut m = vec![2, 0, 0, 0];
    m.extend_from_slice(&mtu.to_be_bytes());
    m.extend_from_slice(quoted);
    icmpv6(src, dst, m)
}

/// A router advertisement from `src` to all nodes: default router for 30 minutes, the
/// segment's prefix 2001:db8::/64 on-link and autonomous with lifetimes 0 (a withdrawal),
/// a link MTU of 1280.
fn router_advertisement(src: Ipv6Addr, mac: [u8; 6]) -> Vec<u8> {
    let mut m = vec![134, 0, 0, 0, 64, 0];
    m.extend_from_slice(&1800u16.to_be_bytes());
    m.extend_from_slice(&[0; 8]);
    m.extend_from_slice(&[1, 1]);
    m.extend_from_slice(&mac);
    m.extend_from_slice(&[3, 4, 64, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    m.extend_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0).octets());
    m.extend_from_slice(&[5, 1, 0, 0]);
    m.extend_from_slice(&1280u32.to_be_bytes());
    icmpv6(src, Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1), m)
}

fn route6_to_r2(lab: &Lab) -> String {
    lab.exec_ok(lab.router_ns(1), &format!("ip -6 route get {}", ip6(2)))
}

/// Forged Packet Too Big, redirects and router advertisements about the master's IPv6
/// unicast adverts, straight at the master: its adverts keep reaching the peer.
#[test]
fn forged_ndisc_diverts_no_ipv6_unicast_advert() {
    let lab = Lab::new("h4-ndisc", 3);
    let (r1, r2) = settled_pair(&lab, |r, p| vec![unicast_v4(r, p), unicast_v6(r, p)]);
    let before = (states(&r1), states(&r2));
    let (r1_ll, r2_ll, r3_ll) = (
        link_local(&lab, 1),
        link_local(&lab, 2),
        link_local(&lab, STRANGER),
    );
    let r3_mac = Segment::Main.router_mac(STRANGER);
    let quoted = advert6();
    let mut frames = Vec::new();
    for _ in 0..10 {
        for src in [r2_ll, r3_ll, ip6(2)] {
            for mtu in [1280, 600] {
                frames.push(packet_too_big(src, ip6(1), mtu, &quoted));
            }
        }
        for src in [r2_ll, r3_ll] {
            for dst in [r1_ll, ip6(1)] {
                for quote in [Some(&quoted[..]), None] {
                    frames.push(redirect(src, dst, r3_ll, ip6(2), r3_mac, quote));
                    // A redirect to the stranger's global address ("on-link").
                    frames.push(redirect(src, dst, ip6(STRANGER), ip6(2), r3_mac, quote));
                }
            }
        }
        frames.push(router_advertisement(r3_ll, r3_mac));
    }
    let count = frames.len();
    let sent = send_frames(
        lab.router_ns(STRANGER),
        ETH_P_IPV6,
        Segment::Main.router_mac(1),
        frames,
        Duration::from_millis(2),
    );
    assert_eq!(sent, count);
    std::thread::sleep(ADVERT * 10);
    let route = route6_to_r2(&lab);
    println!("{count} forged ICMPv6 messages; r1's route to r2 now: {route}");
    assert!(!route.contains("via"), "r1's adverts diverted: {route}");
    assert_eq!(
        (states(&r1), states(&r2)),
        before,
        "a router moved:\nr1:\n{}\nr2:\n{}",
        r1.log(),
        r2.log()
    );
    assert_eq!(lab.holders(vip6()), [1]);
    assert_eq!(lab.holders(vip4()), [1]);
}

/// An override NA for `peer` with the stranger's MAC, to r1, and an ARP reply for the IPv4
/// peer with the stranger's MAC, `rounds` times every 200 ms.
fn poison(lab: &Lab, rounds: usize) {
    let r3_mac = Segment::Main.router_mac(STRANGER);
    let r1_mac = Segment::Main.router_mac(1);
    let r3_ll = link_local(lab, STRANGER);
    for _ in 0..rounds {
        let mut na = vec![136, 0, 0, 0, 0x20, 0, 0, 0];
        na.extend_from_slice(&ip6(2).octets());
        na.extend_from_slice(&[2, 1]);
        na.extend_from_slice(&r3_mac);
        let na = icmpv6(r3_ll, ip6(1), na);
        send_frames(
            lab.router_ns(STRANGER),
            ETH_P_IPV6,
            r1_mac,
            vec![na],
            Duration::ZERO,
        );
        let reply = arp(2, r3_mac, ip4(2), r1_mac, ip4(1));
        send_frames(
            lab.router_ns(STRANGER),
            ETH_P_ARP,
            r1_mac,
            vec![reply],
            Duration::ZERO,
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn neighbour(lab: &Lab, router: usize, address: IpAddr) -> String {
    lab.exec_ok(
        lab.router_ns(router),
        &format!("ip neigh show {address} dev eth0"),
    )
}

/// Forged neighbour entries for the unicast peer on the master. Without protection the
/// kernel sends the adverts to the forger and the backup takes over (printed: the kernel's
/// doing, for every unicast sender); with permanent entries for the peers nothing moves.
#[test]
fn forged_neighbour_entries_for_a_unicast_peer_need_permanent_entries() {
    let lab = Lab::new("h4-neigh", 3);
    let (r1, r2) = settled_pair(&lab, |r, p| vec![unicast_v4(r, p), unicast_v6(r, p)]);
    poison(&lab, 10);
    println!(
        "after forged NA and ARP replies: r1's entries for r2: {} / {}; holders of the \
         VIPs: {:?} {:?}",
        neighbour(&lab, 1, ip4(2).into()).trim(),
        neighbour(&lab, 1, ip6(2).into()).trim(),
        lab.holders(vip4()),
        lab.holders(vip6())
    );
    let r2_mac = Segment::Main.router_mac_text(2);
    for address in [IpAddr::from(ip4(2)), ip6(2).into()] {
        lab.exec_ok(
            lab.router_ns(1),
            &format!("ip neigh replace {address} lladdr {r2_mac} dev eth0 nud permanent"),
        );
    }
    expect_sole_holder(&lab, vip4(), 1, SETTLE, "r1 heard again (IPv4)");
    expect_sole_holder(&lab, vip6(), 1, SETTLE, "r1 heard again (IPv6)");
    for name in ["VI_1", "VI_6"] {
        wait_instance(&r2, name, SETTLE, "backup again", |i| i.state == "BACKUP");
    }
    let before = (states(&r1), states(&r2));
    poison(&lab, 10);
    std::thread::sleep(ADVERT * 5);
    assert_eq!(
        (states(&r1), states(&r2)),
        before,
        "a router moved:\nr1:\n{}\nr2:\n{}",
        r1.log(),
        r2.log()
    );
    assert_eq!(lab.holders(vip6()), [1]);
    assert_eq!(lab.holders(vip4()), [1]);
}
