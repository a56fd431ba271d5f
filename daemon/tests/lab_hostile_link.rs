//! A hostile host on the segment (needs root and keepalived 2.2.7), router r3, which runs
//! no VRRP:
//!
//! - winning adverts delivered on the wrong interface: tagged for a VLAN the routers do not
//!   have, to a router's address on another segment (`eth1`) or multicast there, to the
//!   address of a macvlan on top of the instance's interface; and as controls on the
//!   instance's interface, plain and priority-tagged (VLAN 0, which 802.1Q counts as the
//!   untagged network). vipd (r1) and keepalived (r2) count only what arrives on the
//!   instance's own interface: both bind their sockets to it (without, vipd took the adverts
//!   sent to the macvlan's and to the `eth1` address). VLAN devices are not tried: the
//!   kernels here may lack 8021q;
//! - forged lower-priority adverts at a master, vipd (r1) and keepalived (r2) in the same
//!   run, each the only router of its VRID: what each master sends is counted. RFC 5798
//!   6.4.3 (RFC 9568) has a master answer a lower-priority advert with its own; vipd does
//!   so at most once per advert interval (the bound asserted), keepalived 2.2.7 several
//!   times per interval (printed);
//! - ARP and neighbour discovery storms at a vipd pair: gratuitous ARPs and unsolicited
//!   neighbour advertisements claiming the VIPs with r3's MAC, then ARP requests and
//!   neighbour solicitations for them. The master must keep its VIPs and its advert cadence
//!   (measured by the backup), and answer no claim and at most one reply per request (the
//!   kernel answers requests; vipd itself reads no ARP).

mod hostile_frames;
mod lab;
mod lab_vipd_support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use hostile_frames::*;
use lab::keepalived_conf::{KeepalivedConf, VrrpInstance};
use lab::{Lab, Segment};
use lab_vipd_support::*;
use vipd::vrrp::packet::{Advertisement, Auth, ChecksumMode, Version};

const GROUP4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
const STRANGER: usize = 3;
const KEEPALIVED_VIP: &str = "192.0.2.102";

fn lower_priority_advert(src: Ipv4Addr, vrid: u8, vip: IpAddr) -> Vec<u8> {
    let payload = Advertisement {
        version: Version::V3,
        vrid,
        priority: 100,
        advert_interval_cs: 10,
        addresses: vec![vip],
        auth: Auth::None,
    }
    .to_bytes(src.into(), GROUP4.into(), ChecksumMode::PseudoHeader);
    ipv4(src, GROUP4, 255, 112, &payload)
}

/// Packets in a capture (tcpdump `-v` continuation lines joined).
fn count(capture: &lab::Capture) -> usize {
    capture.packets().len()
}

#[test]
fn forged_lower_priority_adverts_get_at_most_one_answer_per_interval() {
    let lab = Lab::new("h-amplify", 3);
    let vipd = start_vipd(&lab, 1, &conf(1, &[v3_ipv4(150)]));
    let keepalived_instance = VrrpInstance::new("VI_3", "eth0", 53)
        .priority(150)
        .version(3)
        .advert(ADVERT)
        .vip(&format!("{KEEPALIVED_VIP}/24"));
    let keepalived = lab.spawn_keepalived(
        2,
        &KeepalivedConf::new("r2")
            .instance(keepalived_instance)
            .render(),
    );
    let keepalived_vip: IpAddr = KEEPALIVED_VIP.parse().expect("address");
    expect_sole_holder(&lab, vip4(), 1, SETTLE, "vipd master");
    expect_sole_holder(&lab, keepalived_vip, 2, SETTLE, "keepalived master");

    let stranger = Segment::Main.router_ip4(STRANGER);
    let to_vipd = lower_priority_advert(stranger, 51, vip4());
    let to_keepalived = lower_priority_advert(stranger, 53, keepalived_vip);
    let mut chunk = Vec::new();
    for _ in 0..50 {
        chunk.push(to_vipd.clone());
        chunk.push(to_keepalived.clone());
    }
    let ns = lab.router_ns(STRANGER);
    let filter = |router: usize| {
        format!(
            "ip proto 112 and ether src {}",
            Segment::Main.router_mac_text(router)
        )
    };
    let mut from_vipd = lab.capture(ns, "eth0", &filter(1));
    let mut from_keepalived = lab.capture(ns, "eth0", &filter(2));
    let started = Instant::now();
    // Bursts of 100 for 1.5 s (the rate is measured).
    let mut sent = 0;
    while started.elapsed() < Duration::from_millis(1500) {
        sent += send_frames(ns, ETH_P_IP, VRRP_MAC_V4, chunk.clone(), Duration::ZERO);
        std::thread::sleep(Duration::from_millis(5));
    }
    // The capture runs from before the flood to after: the bound counts that time too.
    std::thread::sleep(Duration::from_millis(50));
    let window = started.elapsed() + Duration::from_millis(100);
    from_vipd.stop();
    from_keepalived.stop();
    let (vipd_sent, keepalived_sent) = (count(&from_vipd), count(&from_keepalived));
    let intervals = window.as_secs_f64() / ADVERT.as_secs_f64();
    eprintln!(
        "{sent} forged lower-priority adverts in {:.2} s ({:.0}/s per master): vipd's master \
         sent {vipd_sent} adverts, keepalived's {keepalived_sent} ({intervals:.0} intervals)",
        window.as_secs_f64(),
        sent as f64 / 2.0 / window.as_secs_f64()
    );
    // Its own advert each interval and at most one answer per interval (plus the edges).
    let bound = (2.0 * intervals).ceil() as usize + 4;
    assert!(
        vipd_sent <= bound,
        "vipd's master sent {vipd_sent} adverts in {intervals:.0} intervals (bound {bound})"
    );
    assert!(
        vipd_sent >= intervals as usize / 2,
        "vipd's master fell silent: {vipd_sent}"
    );
    // Neither master yields to a lower priority.
    assert_eq!(instance(&vipd, "VI_1").state, "MASTER");
    assert_eq!(lab.holders(vip4()), [1]);
    assert_eq!(lab.holders(keepalived_vip), [2], "{}", keepalived.log());
}

fn link_local(lab: &Lab, router: usize) -> Ipv6Addr {
    let out = lab.exec_ok(
        lab.router_ns(router),
        "ip -o -6 addr show dev eth0 scope link",
    );
    out.split_whitespace()
        .skip_while(|w| *w != "inet6")
        .nth(1)
        .and_then(|cidr| cidr.split('/').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no link-local address on r{router}: {out}"))
}

#[test]
fn arp_and_neighbour_storms_neither_move_the_vips_nor_delay_the_master() {
    let lab = Lab::new("h-arp-storm", 3);
    let r1 = start_vipd(&lab, 1, &conf(1, &[v3_ipv4(150), v3_ipv6(150)]));
    // The backup waits 6 missed adverts, so a loaded machine's scheduling does not decide.
    let r2 = start_vipd(
        &lab,
        2,
        &conf(
            2,
            &[
                v3_ipv4(100).line("down_timer_adverts 6"),
                v3_ipv6(100).line("down_timer_adverts 6"),
            ],
        ),
    );
    expect_sole_holder(&lab, vip4(), 1, SETTLE, "election v4");
    expect_sole_holder(&lab, vip6(), 1, SETTLE, "election v6");
    let settled = |daemon: &lab::Daemon, name: &str| {
        wait_instance(daemon, name, SETTLE, "settled", |i| {
            i.adverts_received >= 3 || i.state == "MASTER"
        })
    };
    let before: Vec<u64> = [(&r1, "VI_1"), (&r1, "VI_6"), (&r2, "VI_1"), (&r2, "VI_6")]
        .iter()
        .map(|(d, n)| settled(d, n).transitions)
        .collect();

    let ns = lab.router_ns(STRANGER);
    let mac = Segment::Main.router_mac(STRANGER);
    let me4 = Segment::Main.router_ip4(STRANGER);
    let me6 = link_local(&lab, STRANGER);
    let (IpAddr::V4(v4), IpAddr::V6(v6)) = (vip4(), vip6()) else {
        panic!("families");
    };
    let r1_mac = Segment::Main.router_mac_text(1);
    let mut adverts = lab.capture(
        lab.router_ns(2),
        "eth0",
        &format!("ip proto 112 and ether src {r1_mac}"),
    );
    let mut answers = lab.capture(
        ns,
        "eth0",
        &format!("ether src {r1_mac} and (arp or (icmp6 and (ip6[40] == 136 or ip6[40] == 135)))"),
    );
    std::thread::sleep(Duration::from_millis(300));
    let chunk = 200;
    let phase = Duration::from_millis(1500);
    // Phase 1: claims. Gratuitous ARP (request and reply forms) and unsolicited NAs (override)
    // saying the VIPs are at r3's MAC.
    let garp_request = arp(1, mac, v4, [0; 6], v4);
    let garp_reply = arp(2, mac, v4, BROADCAST, v4);
    let claim6 = unsolicited_na(me6, v6, mac);
    let mut claims = 0;
    let started = Instant::now();
    while started.elapsed() < phase {
        let mut garps = vec![garp_request.clone(); chunk / 2];
        garps.extend(vec![garp_reply.clone(); chunk / 2]);
        claims += send_frames(ns, ETH_P_ARP, BROADCAST, garps, Duration::ZERO);
        let all_nodes = [0x33, 0x33, 0, 0, 0, 1];
        claims += send_frames(
            ns,
            ETH_P_IPV6,
            all_nodes,
            vec![claim6.clone(); chunk],
            Duration::ZERO,
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let claim_time = started.elapsed();
    std::thread::sleep(Duration::from_millis(200));
    let after_claims = answers.packets().len();
    // Phase 2: requests. ARP requests and neighbour solicitations for the VIPs.
    let request4 = arp(1, mac, me4, [0; 6], v4);
    let request6 = solicitation(me6, v6, mac);
    let mut requests = 0;
    let started = Instant::now();
    while started.elapsed() < phase {
        requests += send_frames(
            ns,
            ETH_P_ARP,
            BROADCAST,
            vec![request4.clone(); chunk],
            Duration::ZERO,
        );
        requests += send_frames(
            ns,
            ETH_P_IPV6,
            solicited_node_mac(v6),
            vec![request6.clone(); chunk],
            Duration::ZERO,
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let request_time = started.elapsed();
    std::thread::sleep(Duration::from_millis(200));
    let advert_lines = adverts.stop();
    let answer_packets = answers.packets();
    answers.stop();
    let gaps = advert_gaps(&advert_lines);
    eprintln!(
        "{claims} claims in {:.1} s, {requests} requests in {:.1} s; r1 sent {} frames to \
         the claims and {} to the requests; its adverts as r2 saw them: {}",
        claim_time.as_secs_f64(),
        request_time.as_secs_f64(),
        after_claims,
        answer_packets.len() - after_claims,
        gap_summary(&gaps)
    );
    // Both VIPs stayed on r1 (the VIP addresses; the segment's caches are another matter:
    // see README), no instance moved, and the master kept its cadence.
    assert_eq!(lab.holders(vip4()), [1]);
    assert_eq!(lab.holders(vip6()), [1]);
    let after: Vec<u64> = [(&r1, "VI_1"), (&r1, "VI_6"), (&r2, "VI_1"), (&r2, "VI_6")]
        .iter()
        .map(|(d, n)| instance(d, n).transitions)
        .collect();
    assert_eq!(
        after, before,
        "transitions (r1 VI_1, VI_6, r2 VI_1, VI_6) moved"
    );
    assert!(gaps.len() >= 25, "too few adverts captured: {}", gaps.len());
    let longest = gaps.iter().max().copied().unwrap_or_default();
    assert!(
        longest < Duration::from_millis(350),
        "the storm held up the master's adverts: {}",
        gap_summary(&gaps)
    );
    // No answer to a claim (r1 does not fight it), and no more answers than requests.
    assert!(
        after_claims <= 2,
        "r1 answered {after_claims} of {claims} claims: {:?}",
        &answer_packets[..after_claims.min(5)]
    );
    assert!(
        // (plus r1's own few neighbour lookups of r3)
        answer_packets.len() - after_claims <= requests + 30,
        "r1 sent {} answers to {requests} requests",
        answer_packets.len() - after_claims
    );
    assert!(lab.client_ping(vip4()) || lab.client_ping(vip4()));
}

/// A winning advert (priority 254) for `vrid` with `vip`, from `src` to `dst`.
fn winning_advert(src: Ipv4Addr, dst: Ipv4Addr, vrid: u8, vip: IpAddr) -> Vec<u8> {
    let payload = Advertisement {
        version: Version::V3,
        vrid,
        priority: 254,
        advert_interval_cs: 10,
        addresses: vec![vip],
        auth: Auth::None,
    }
    .to_bytes(src.into(), dst.into(), ChecksumMode::PseudoHeader);
    ipv4(src, dst, 255, 112, &payload)
}

#[test]
fn adverts_arriving_on_another_interface_are_not_counted() {
    let lab = Lab::with_options(
        "h-wrong-if",
        lab::LabOptions {
            routers: 3,
            second_segment: true,
        },
    );
    // A macvlan on top of r1's and r2's eth0, with an address of its own. (VLAN devices
    // would be the other case; the kernels here may lack 8021q, so a tagged frame arrives
    // on eth0 for a VLAN the routers do not have.)
    let mut macvlan = Vec::new();
    for router in 1..=2 {
        let ns = lab.router_ns(router);
        lab.exec_ok(
            ns,
            "ip link add link eth0 name mv0 type macvlan mode bridge",
        );
        lab.exec_ok(ns, &format!("ip addr add 203.0.113.{router}/24 dev mv0"));
        lab.exec_ok(ns, "ip link set mv0 up");
        let mac = lab.exec_ok(ns, "cat /sys/class/net/mv0/address");
        let bytes: Vec<u8> = mac
            .trim()
            .split(':')
            .map(|b| u8::from_str_radix(b, 16).expect("MAC"))
            .collect();
        macvlan.push(<[u8; 6]>::try_from(bytes).expect("MAC"));
    }
    let r3 = lab.router_ns(STRANGER);
    lab.exec_ok(r3, "ip addr add 203.0.113.3/24 dev eth0");
    let vipd = start_vipd(&lab, 1, &conf(1, &[v3_ipv4(150)]));
    let keepalived = lab.spawn_keepalived(
        2,
        &KeepalivedConf::new("r2")
            .instance(
                VrrpInstance::new("VI_3", "eth0", 53)
                    .priority(150)
                    .version(3)
                    .advert(ADVERT)
                    .vip(&format!("{KEEPALIVED_VIP}/24")),
            )
            .render(),
    );
    let keepalived_vip: IpAddr = KEEPALIVED_VIP.parse().expect("address");
    expect_sole_holder(&lab, vip4(), 1, SETTLE, "vipd master");
    expect_sole_holder(&lab, keepalived_vip, 2, SETTLE, "keepalived master");

    let moves = || {
        (
            instance(&vipd, "VI_1").transitions,
            keepalived.log().matches("(VI_3) Entering").count(),
        )
    };
    let main = Segment::Main.router_ip4(STRANGER);
    let both = |src: Ipv4Addr| {
        vec![
            winning_advert(src, GROUP4, 51, vip4()),
            winning_advert(src, GROUP4, 53, keepalived_vip),
        ]
    };
    // 802.1Q by hand: the Ethernet payload is the tag's last two bytes (priority and VLAN
    // id) and the inner type, then the IP packet.
    let tagged = |vlan: u16, packets: Vec<Vec<u8>>| -> Vec<Vec<u8>> {
        packets
            .into_iter()
            .map(|p| [&vlan.to_be_bytes()[..], &ETH_P_IP.to_be_bytes(), &p].concat())
            .collect()
    };
    let macvlan_ip = |router: u8| Ipv4Addr::new(203, 0, 113, router);
    let from_vlan_net = Ipv4Addr::new(203, 0, 113, 3);
    // (what, taken, then what r3 sends: interface, Ethernet type, destination, packets)
    type Send = (&'static str, u16, [u8; 6], Vec<Vec<u8>>);
    let cases: Vec<(&str, bool, Vec<Send>)> = vec![
        (
            "tagged for a VLAN the routers lack (20)",
            false,
            vec![("eth0", 0x8100, VRRP_MAC_V4, tagged(20, both(main)))],
        ),
        (
            "on the other segment (eth1)",
            false,
            vec![(
                "eth1",
                ETH_P_IP,
                VRRP_MAC_V4,
                both(Segment::Second.router_ip4(STRANGER)),
            )],
        ),
        (
            "to the router's address on the other segment (eth1)",
            false,
            [(1, 51, vip4()), (2, 53, keepalived_vip)]
                .into_iter()
                .map(|(router, vrid, vip)| {
                    let second = Segment::Second;
                    let to = second.router_ip4(router);
                    let src = second.router_ip4(STRANGER);
                    let packet = winning_advert(src, to, vrid, vip);
                    ("eth1", ETH_P_IP, second.router_mac(router), vec![packet])
                })
                .collect(),
        ),
        (
            "to the address of a macvlan on top of eth0",
            false,
            vec![
                (
                    "eth0",
                    ETH_P_IP,
                    macvlan[0],
                    vec![winning_advert(from_vlan_net, macvlan_ip(1), 51, vip4())],
                ),
                (
                    "eth0",
                    ETH_P_IP,
                    macvlan[1],
                    vec![winning_advert(
                        from_vlan_net,
                        macvlan_ip(2),
                        53,
                        keepalived_vip,
                    )],
                ),
            ],
        ),
        // The controls: the same adverts on eth0 itself, priority-tagged (VLAN 0, which
        // 802.1Q counts as the untagged network) and plain, are taken by both.
        (
            "priority-tagged (VLAN 0) on eth0",
            true,
            vec![("eth0", 0x8100, VRRP_MAC_V4, tagged(0, both(main)))],
        ),
        (
            "on eth0 itself",
            true,
            vec![("eth0", ETH_P_IP, VRRP_MAC_V4, both(main))],
        ),
    ];
    let mut table = Vec::new();
    let mut wrong = Vec::new();
    for (what, taken, sends) in cases {
        let before = moves();
        for (ifname, ethertype, dst, packets) in sends {
            send_frames_on(
                r3,
                ifname,
                ethertype,
                dst,
                packets,
                Duration::from_millis(1),
            );
        }
        let deadline = Instant::now() + Duration::from_millis(700);
        let mut after = before;
        while Instant::now() < deadline {
            after = moves();
            if after.0 > before.0 && after.1 > before.1 {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let (vipd_took, keepalived_took) = (after.0 > before.0, after.1 > before.1);
        table.push(format!(
            "{what}: vipd {}, keepalived {}",
            if vipd_took { "took it" } else { "ignored it" },
            if keepalived_took {
                "took it"
            } else {
                "ignored it"
            }
        ));
        if vipd_took != taken || keepalived_took != taken {
            wrong.push(what);
        }
        expect_sole_holder(&lab, vip4(), 1, SETTLE, "vipd master again");
        expect_sole_holder(&lab, keepalived_vip, 2, SETTLE, "keepalived master again");
    }
    eprintln!("{}", table.join("\n"));
    assert!(
        wrong.is_empty(),
        "{wrong:?}\n{}\nvipd log:\n{}",
        table.join("\n"),
        vipd.log()
    );
}
