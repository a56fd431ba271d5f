//! Red-team round 5 (needs root and keepalived 2.2.7): winning adverts (priority 254) that
//! reach a multicast router another way than through the VRRP group, or with odd headers.
//! vipd (r1: VI_1, VRID 51, IPv4; VI_6, VRID 52, IPv6) and keepalived (r2: VI_3, VRID 53;
//! VI_7, VRID 54), each the only router of its VRIDs and so master at priority 100, hear the
//! same frames from the lab's client: adverts sent to the router's own address (IPv4, IPv6
//! link-local and global), to the subnet broadcast and 255.255.255.255, to the all-hosts /
//! all-nodes groups; to the VRRP group behind IPv4 options (router alert; padding and an
//! unknown option), from the router's own address, with a v3 checksum without the IPv4
//! pseudo-header, with `max_adver_int` 0; IPv6 to ff02::12 from a global address (RFC 5798
//! sends from the link-local one but asks no receiver to check; both take it, and anyone on
//! the link has a link-local address to forge from). An advert taken makes the master yield
//! (a transition to BACKUP); one dropped leaves it master.
//!
//! What it found: vipd took the adverts sent to its own address and to broadcast, which only
//! their target hears, so a stranger could move one router of a pair without its peers
//! seeing anything (and a multicast instance took the unicast adverts of another instance on
//! the same VRID). keepalived drops them ("Expected multicast packet but received unicast
//! packet"), as RFC 5798 (5.1.1.2, 5.1.2.2) puts every advert on the group; vipd now does too
//! (counter `destination`). The rest both judge alike, except `max_adver_int` 0: keepalived
//! takes it (and then counts its down timer from an interval of 0), vipd drops it (printed,
//! not asserted).
//!
//! Round 6 added an IPv6 advert from the router's own link-local address (its primary
//! address), which the kernel delivers (an IPv4 one from the router's own address it drops):
//! keepalived 2.2.7 takes it and yields to its own address, vipd drops it as it drops every
//! advert from one of its own sources (printed for keepalived, asserted for vipd).

mod hostile_frames;
mod lab;
mod lab_vipd_support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use hostile_frames::{
    ipv4, ipv6, send_frames, BROADCAST, ETH_P_IP, ETH_P_IPV6, VRRP_MAC_V4, VRRP_MAC_V6,
};
use lab::keepalived_conf::{KeepalivedConf, VrrpInstance};
use lab::{wait_until, Daemon, Lab, Segment};
use lab_vipd_support::*;
use vipd::vrrp::packet::{self, Advertisement, Auth, ChecksumMode, Version};

const GROUP4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
const GROUP6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
const KEEPALIVED_VIP4: &str = "192.0.2.102";
const KEEPALIVED_VIP6: &str = "2001:db8::102";

fn keepalived_vip4() -> IpAddr {
    KEEPALIVED_VIP4.parse().expect("address")
}

fn keepalived_vip6() -> IpAddr {
    KEEPALIVED_VIP6.parse().expect("address")
}

/// A winning v3 advert (priority 254, 100 ms) for `vrid` with `vip`, from `src` to `dst`.
fn winning(src: IpAddr, dst: IpAddr, vrid: u8, vip: IpAddr) -> Vec<u8> {
    winning_with(src, dst, vrid, vip, 10, ChecksumMode::PseudoHeader)
}

fn winning_with(
    src: IpAddr,
    dst: IpAddr,
    vrid: u8,
    vip: IpAddr,
    interval_cs: u16,
    mode: ChecksumMode,
) -> Vec<u8> {
    Advertisement {
        version: Version::V3,
        vrid,
        priority: 254,
        advert_interval_cs: interval_cs,
        addresses: vec![vip],
        auth: Auth::None,
    }
    .to_bytes(src, dst, mode)
}

/// An IPv4 packet to 224.0.0.18 with `options` (a multiple of 4 bytes) in its header.
fn ipv4_with_options(src: Ipv4Addr, options: &[u8], payload: &[u8]) -> Vec<u8> {
    let plain = ipv4(src, GROUP4, 255, packet::PROTOCOL, payload);
    let header_len = 20 + options.len();
    let mut p = plain[..20].to_vec();
    p[0] = 0x40 | u8::try_from(header_len / 4).expect("short header");
    let total = u16::try_from(header_len + payload.len()).expect("small packet");
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p[10..12].copy_from_slice(&[0, 0]);
    p.extend_from_slice(options);
    let sum = hostile_frames::checksum(0, &p);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// Multicast MAC of an IPv4 group / IPv6 group.
fn mac4(group: Ipv4Addr) -> [u8; 6] {
    let o = group.octets();
    [0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]
}

fn mac6(group: Ipv6Addr) -> [u8; 6] {
    let o = group.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

/// What each daemon must do with a case: `Some(taken)`, or `None` where only printed.
struct Case {
    what: &'static str,
    ipv6: bool,
    vipd: bool,
    keepalived: Option<bool>,
    /// (Ethernet type, destination MAC, packet) for vipd's VRID, then keepalived's.
    frames: Vec<(u16, [u8; 6], Vec<u8>)>,
}

/// Transitions of the IPv4 or IPv6 instance: vipd's count, keepalived's "Entering" lines.
fn moves(vipd: &Daemon, keepalived: &Daemon, ipv6: bool) -> (u64, usize) {
    let (ours, theirs) = if ipv6 {
        ("VI_6", "(VI_7) Entering")
    } else {
        ("VI_1", "(VI_3) Entering")
    };
    (
        instance(vipd, ours).transitions,
        keepalived.log().matches(theirs).count(),
    )
}

fn all_master(lab: &Lab, vipd: &Daemon) -> bool {
    wait_until(SETTLE, Duration::from_millis(20), || {
        instance(vipd, "VI_1").state == "MASTER"
            && instance(vipd, "VI_6").state == "MASTER"
            && lab.holders(vip4()) == [1]
            && lab.holders(vip6()) == [1]
            && lab.holders(keepalived_vip4()) == [2]
            && lab.holders(keepalived_vip6()) == [2]
    })
    .is_some()
}

fn cases(lab: &Lab) -> Vec<Case> {
    let main = Segment::Main;
    let src4 = main.client_ip4();
    let src6 = client_link_local(lab);
    let (k4, k6) = (keepalived_vip4(), keepalived_vip6());
    // vipd's and keepalived's adverts to the same destination (the group, a broadcast).
    let both4 = |dst: Ipv4Addr, mac: [u8; 6]| {
        [(51, vip4()), (53, k4)]
            .into_iter()
            .map(|(vrid, vip)| {
                let advert = winning(src4.into(), dst.into(), vrid, vip);
                (
                    ETH_P_IP,
                    mac,
                    ipv4(src4, dst, 255, packet::PROTOCOL, &advert),
                )
            })
            .collect::<Vec<_>>()
    };
    let both6 = |dst: Ipv6Addr, mac: [u8; 6]| {
        [(52, vip6()), (54, k6)]
            .into_iter()
            .map(|(vrid, vip)| {
                let advert = winning(src6.into(), dst.into(), vrid, vip);
                (
                    ETH_P_IPV6,
                    mac,
                    ipv6(src6, dst, 255, packet::PROTOCOL, &advert),
                )
            })
            .collect::<Vec<_>>()
    };
    // Each router's advert to its own address.
    let own4 = [(1, 51, vip4()), (2, 53, k4)]
        .into_iter()
        .map(|(router, vrid, vip)| {
            let dst = main.router_ip4(router);
            let advert = winning(src4.into(), dst.into(), vrid, vip);
            let packet = ipv4(src4, dst, 255, packet::PROTOCOL, &advert);
            (ETH_P_IP, main.router_mac(router), packet)
        })
        .collect();
    let own6 = |global: bool| {
        [(1, 52, vip6()), (2, 54, k6)]
            .into_iter()
            .map(|(router, vrid, vip)| {
                let dst = if global {
                    main.router_ip6(router)
                } else {
                    link_local(lab, router)
                };
                let advert = winning(src6.into(), dst.into(), vrid, vip);
                let packet = ipv6(src6, dst, 255, packet::PROTOCOL, &advert);
                (ETH_P_IPV6, main.router_mac(router), packet)
            })
            .collect::<Vec<_>>()
    };
    let with_options = |options: &'static [u8]| {
        [(51, vip4()), (53, k4)]
            .into_iter()
            .map(|(vrid, vip)| {
                let advert = winning(src4.into(), GROUP4.into(), vrid, vip);
                let packet = ipv4_with_options(src4, options, &advert);
                (ETH_P_IP, VRRP_MAC_V4, packet)
            })
            .collect::<Vec<_>>()
    };
    // To the group, from the router's own address.
    let from_own = [(1, 51, vip4()), (2, 53, k4)]
        .into_iter()
        .map(|(router, vrid, vip)| {
            let src = main.router_ip4(router);
            let advert = winning(src.into(), GROUP4.into(), vrid, vip);
            let packet = ipv4(src, GROUP4, 255, packet::PROTOCOL, &advert);
            (ETH_P_IP, VRRP_MAC_V4, packet)
        })
        .collect();
    // IPv6 from the router's own link-local address (its primary): the kernel delivers it.
    let from_own6 = [(1, 52, vip6()), (2, 54, k6)]
        .into_iter()
        .map(|(router, vrid, vip)| {
            let src = link_local(lab, router);
            let advert = winning(src.into(), GROUP6.into(), vrid, vip);
            let packet = ipv6(src, GROUP6, 255, packet::PROTOCOL, &advert);
            (ETH_P_IPV6, VRRP_MAC_V6, packet)
        })
        .collect();
    let odd = |interval_cs: u16, mode: ChecksumMode| {
        [(51, vip4()), (53, k4)]
            .into_iter()
            .map(|(vrid, vip)| {
                let advert = winning_with(src4.into(), GROUP4.into(), vrid, vip, interval_cs, mode);
                let packet = ipv4(src4, GROUP4, 255, packet::PROTOCOL, &advert);
                (ETH_P_IP, VRRP_MAC_V4, packet)
            })
            .collect::<Vec<_>>()
    };
    // RFC 5798 5.1.2.1: sent from the link-local address; 7.1 does not ask receivers to check.
    let global6 = main.client_ip6();
    let from_global = [(52, vip6()), (54, k6)]
        .into_iter()
        .map(|(vrid, vip)| {
            let advert = winning(global6.into(), GROUP6.into(), vrid, vip);
            let packet = ipv6(global6, GROUP6, 255, packet::PROTOCOL, &advert);
            (ETH_P_IPV6, VRRP_MAC_V6, packet)
        })
        .collect();
    let all_hosts = Ipv4Addr::new(224, 0, 0, 1);
    let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
    let case = |what, ipv6, vipd, keepalived, frames| Case {
        what,
        ipv6,
        vipd,
        keepalived,
        frames,
    };
    vec![
        case(
            "IPv4 to 224.0.0.18 (control)",
            false,
            true,
            Some(true),
            both4(GROUP4, VRRP_MAC_V4),
        ),
        case(
            "IPv4 to the router's own address",
            false,
            false,
            Some(false),
            own4,
        ),
        case(
            "IPv4 to the subnet broadcast",
            false,
            false,
            Some(false),
            both4(Ipv4Addr::new(192, 0, 2, 255), BROADCAST),
        ),
        case(
            "IPv4 to 255.255.255.255",
            false,
            false,
            Some(false),
            both4(Ipv4Addr::BROADCAST, BROADCAST),
        ),
        case(
            "IPv4 to 224.0.0.1 (all hosts)",
            false,
            false,
            Some(false),
            both4(all_hosts, mac4(all_hosts)),
        ),
        case(
            "IPv4 to the group with a router alert option",
            false,
            true,
            Some(true),
            with_options(&[0x94, 0x04, 0, 0]),
        ),
        case(
            "IPv4 to the group with padding and an unknown option",
            false,
            true,
            Some(true),
            with_options(&[0x01, 0x01, 0x1f, 0x04, 0xab, 0xcd, 0x00, 0x00]),
        ),
        case(
            "IPv4 from the router's own address",
            false,
            false,
            None,
            from_own,
        ),
        case(
            "IPv4 v3 checksummed without the pseudo-header",
            false,
            false,
            Some(false),
            odd(10, ChecksumMode::NoPseudoHeader),
        ),
        case(
            "IPv4 v3 with max_adver_int 0",
            false,
            false,
            None,
            odd(0, ChecksumMode::PseudoHeader),
        ),
        case(
            "IPv6 to ff02::12 (control)",
            true,
            true,
            Some(true),
            both6(GROUP6, VRRP_MAC_V6),
        ),
        case(
            "IPv6 to the router's link-local address",
            true,
            false,
            Some(false),
            own6(false),
        ),
        case(
            "IPv6 to the router's global address",
            true,
            false,
            Some(false),
            own6(true),
        ),
        case(
            "IPv6 to ff02::12 from a global address",
            true,
            true,
            Some(true),
            from_global,
        ),
        case(
            "IPv6 from the router's own link-local address",
            true,
            false,
            None,
            from_own6,
        ),
        case(
            "IPv6 to ff02::1 (all nodes)",
            true,
            false,
            Some(false),
            both6(all_nodes, mac6(all_nodes)),
        ),
    ]
}

#[test]
fn adverts_not_sent_to_the_group_are_dropped_like_keepalived() {
    let lab = Lab::new("h-dest", 2);
    let vipd = start_vipd(&lab, 1, &conf(1, &[v3_ipv4(100), v3_ipv6(100)]));
    let keepalived_instance = |name, vrid, vip: &str| {
        VrrpInstance::new(name, "eth0", vrid)
            .priority(100)
            .version(3)
            .advert(ADVERT)
            .vip(vip)
    };
    let keepalived = lab.spawn_keepalived(
        2,
        &KeepalivedConf::new("r2")
            .instance(keepalived_instance(
                "VI_3",
                53,
                &format!("{KEEPALIVED_VIP4}/24"),
            ))
            .instance(keepalived_instance(
                "VI_7",
                54,
                &format!("{KEEPALIVED_VIP6}/64"),
            ))
            .render(),
    );
    assert!(all_master(&lab, &vipd), "no masters:\n{}", keepalived.log());

    let mut table = Vec::new();
    let mut wrong = Vec::new();
    for case in cases(&lab) {
        let before = moves(&vipd, &keepalived, case.ipv6);
        for (ethertype, mac, packet) in case.frames {
            send_frames(
                lab.client_ns(),
                ethertype,
                mac,
                vec![packet],
                Duration::ZERO,
            );
        }
        // A taken advert makes the master yield at once; give a loaded machine its time.
        let deadline = Instant::now() + Duration::from_millis(600);
        let mut after = before;
        while Instant::now() < deadline {
            after = moves(&vipd, &keepalived, case.ipv6);
            if after.0 > before.0 && after.1 > before.1 {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let (vipd_took, keepalived_took) = (after.0 > before.0, after.1 > before.1);
        let said = |took: bool| if took { "took it" } else { "dropped it" };
        table.push(format!(
            "{}: vipd {}, keepalived {}",
            case.what,
            said(vipd_took),
            said(keepalived_took)
        ));
        if vipd_took != case.vipd || case.keepalived.is_some_and(|k| k != keepalived_took) {
            wrong.push(case.what);
        }
        assert!(
            all_master(&lab, &vipd),
            "{}: the masters did not come back\n{}",
            case.what,
            keepalived.log()
        );
    }
    eprintln!("{}", table.join("\n"));
    assert!(
        wrong.is_empty(),
        "judged unlike keepalived 2.2.7 / RFC 5798: {wrong:?}\n{}\nvipd log:\n{}",
        table.join("\n"),
        vipd.log()
    );
    for name in ["VI_1", "VI_6"] {
        let dropped = instance(&vipd, name).dropped;
        eprintln!("vipd {name} dropped: {dropped:?}");
        assert!(
            dropped.get("destination").copied().unwrap_or(0) >= 2,
            "{name}: {dropped:?}"
        );
    }
}
