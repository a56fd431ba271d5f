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
//!
//! Red-team round 3:
//!
//! - what a master logs: forged priority-255 adverts at an address owner from ever new
//!   sources, and adverts whose address list lacks the VIP, alternating between two lists.
//!   Each was one warning line (the memo of "already said" held only the last source or
//!   list), so a stranger's flood became a log flood. vipd now says each at most once a
//!   second and still counts every advert; keepalived 2.2.7 alongside is printed;
//! - ICMP and ICMPv6 errors (unreachable of every code, fragmentation needed / packet too
//!   big, time exceeded, parameter problem) quoting the master's adverts, unicast IPv4 and
//!   multicast IPv6, from the stranger and spoofed from the backup: no send fails, nobody
//!   moves;
//! - forged redirects of the master's unicast adverts to the stranger (see the test):
//!   diverted vipd's and keepalived's adverts (two masters); vipd's no longer.

mod hostile_frames;
mod lab;
mod lab_vipd_support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use hostile_frames::*;
use lab::keepalived_conf::{KeepalivedConf, VrrpInstance};
use lab::{wait_until, Lab, Segment};
use lab_vipd_support::*;
use vipd::vrrp::packet::{Advertisement, Auth, ChecksumMode, Version};

const GROUP4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
const STRANGER: usize = 3;
const KEEPALIVED_VIP: &str = "192.0.2.102";
const KEEPALIVED_VRID: u8 = 53;

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

#[test]
fn arp_and_neighbour_storms_neither_move_the_vips_nor_delay_the_master() {
    let lab = Lab::new("h-arp-storm", 3);
    let r1 = start_vipd(&lab, 1, &conf(1, &[v3_ipv4(150), v3_ipv6(150)]));
    // The backup waits 20 missed adverts (2 s), so a loaded machine's scheduling does not
    // decide: the storm's frames are processed in softirq, and under CI's parallel labs the
    // backup once went 0.6 s without the CPU while r1's adverts reached its interface on time
    // (the capture below measures the master's cadence on the wire, which is the point).
    let r2 = start_vipd(
        &lab,
        2,
        &conf(
            2,
            &[
                v3_ipv4(100).line("down_timer_adverts 20"),
                v3_ipv6(100).line("down_timer_adverts 20"),
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
    // `cadence_held` tells a master held up by the storm (vipd reading or handling it would
    // stop the adverts for a phase, 1.5-2.6 s, or make every one late) from one the kernel's
    // own work on the storm kept off a CPU of this 2-core machine for a few intervals (427 ms
    // once in a CI run alone).
    if let Err(how) = cadence_held(&gaps, ADVERT) {
        panic!("the storm held up the master's adverts: {how}");
    }
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

/// A v3 advert on the wire (IPv4 header included) from `src` to 224.0.0.18.
fn advert(src: Ipv4Addr, vrid: u8, priority: u8, addresses: Vec<IpAddr>) -> Vec<u8> {
    let payload = Advertisement {
        version: Version::V3,
        vrid,
        priority,
        advert_interval_cs: 10,
        addresses,
        auth: Auth::None,
    }
    .to_bytes(src.into(), GROUP4.into(), ChecksumMode::PseudoHeader);
    ipv4(src, GROUP4, 255, 112, &payload)
}

/// 100 sources on the segment that are no router's: 192.0.2.150 to .249.
fn forged_source(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, 150 + (i % 100) as u8)
}

/// Lines of `daemon`'s log that contain `needle`.
fn log_lines(daemon: &lab::Daemon, needle: &str) -> usize {
    daemon.log().lines().filter(|l| l.contains(needle)).count()
}

#[test]
fn forged_owners_and_address_lists_cost_no_log_line_each() {
    let lab = Lab::new("h3-logflood", 3);
    let vipd = start_vipd(&lab, 1, &conf(1, &[v3_ipv4(255)]));
    let keepalived_vip: IpAddr = KEEPALIVED_VIP.parse().expect("address");
    let keepalived = lab.spawn_keepalived(
        2,
        &KeepalivedConf::new("r2")
            .instance(
                VrrpInstance::new("VI_3", "eth0", KEEPALIVED_VRID)
                    .priority(255)
                    .version(3)
                    .advert(ADVERT)
                    .vip(&format!("{KEEPALIVED_VIP}/24")),
            )
            .render(),
    );
    expect_sole_holder(&lab, vip4(), 1, SETTLE, "vipd owner");
    expect_sole_holder(&lab, keepalived_vip, 2, SETTLE, "keepalived owner");
    std::thread::sleep(ADVERT * 3);
    let before = instance(&vipd, "VI_1");
    // vipd's warnings (its debug lines about drops were at most one a second already), every
    // line of keepalived's.
    let (vipd_lines, keepalived_lines) = (log_lines(&vipd, " WARN "), log_lines(&keepalived, ""));

    const COPIES: usize = 1000;
    let stranger = Segment::Main.router_ip4(STRANGER);
    let other_lists: [Vec<IpAddr>; 2] = [
        vec!["192.0.2.201".parse().expect("address")],
        vec!["192.0.2.202".parse().expect("address")],
    ];
    let mut frames = Vec::new();
    for i in 0..COPIES {
        // Another "owner" of the VIPs, from a new source each time.
        for (vrid, vip) in [(51, vip4()), (KEEPALIVED_VRID, keepalived_vip)] {
            frames.push(advert(forged_source(i), vrid, 255, vec![vip]));
        }
        // A router of another virtual router on the VRID, its list changing every time.
        for vrid in [51, KEEPALIVED_VRID] {
            frames.push(advert(stranger, vrid, 100, other_lists[i % 2].clone()));
        }
    }
    let started = Instant::now();
    let sent = send_frames(
        lab.router_ns(STRANGER),
        ETH_P_IP,
        VRRP_MAC_V4,
        frames,
        Duration::from_micros(100),
    );
    let took = started.elapsed();
    assert_eq!(sent, 4 * COPIES);
    // The daemon may still be working through its socket's queue on a loaded machine: wait
    // until its counters stand still.
    let mut after = instance(&vipd, "VI_1");
    let settle_by = Instant::now() + Duration::from_secs(10);
    loop {
        std::thread::sleep(ADVERT * 3);
        let now = instance(&vipd, "VI_1");
        let still = now.adverts_received == after.adverts_received;
        after = now;
        if still || Instant::now() > settle_by {
            break;
        }
    }
    let vipd_added = log_lines(&vipd, " WARN ") - vipd_lines;
    let keepalived_added = log_lines(&keepalived, "") - keepalived_lines;
    println!(
        "{} forged owners and {} changing lists per daemon in {took:?}: vipd logged {vipd_added} \
         warnings, keepalived {keepalived_added} lines",
        COPIES, COPIES
    );
    assert_eq!(
        (after.state.as_str(), after.transitions),
        ("MASTER", before.transitions),
        "{after:#?}\n{}",
        vipd.log()
    );
    // Every advert read is still counted. A loaded machine (CI runs other suites alongside)
    // may drop some on the socket before vipd reads them: 28 % once at 3,400 frames a second.
    let mismatches = after.address_list_mismatch - before.address_list_mismatch;
    let received = after.adverts_received - before.adverts_received;
    assert!(
        received >= (COPIES / 2) as u64 && mismatches + (COPIES / 100) as u64 >= received,
        "counted {mismatches} list mismatches and {received} adverts of {COPIES}: {after:#?}"
    );
    // Each kind at most once a second (and the second it began in).
    let bound = 2 * (took.as_secs() as usize + 2);
    assert!(
        vipd_added <= bound,
        "vipd logged {vipd_added} warnings (bound {bound}) for the forged adverts:\n{}",
        vipd.log()
    );
    assert_eq!(lab.holders(vip4()), [1]);
    assert!(lab.client_ping(vip4()) || lab.client_ping(vip4()));
}

fn mac(lab: &Lab, router: usize) -> [u8; 6] {
    let text = lab.exec_ok(lab.router_ns(router), "cat /sys/class/net/eth0/address");
    let bytes: Vec<u8> = (text.trim().split(':'))
        .map(|b| u8::from_str_radix(b, 16).expect("MAC"))
        .collect();
    <[u8; 6]>::try_from(bytes).expect("MAC")
}

/// An ICMP error of `kind` (type, code) with `word` in its second word (unused, the
/// next-hop MTU or a redirect's gateway) quoting `original` (header and 8 bytes).
fn icmp4_error(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    kind: (u8, u8),
    word: u32,
    original: &[u8],
) -> Vec<u8> {
    let mut m = vec![kind.0, kind.1, 0, 0];
    m.extend_from_slice(&word.to_be_bytes());
    m.extend_from_slice(&original[..original.len().min(28)]);
    let sum = checksum(0, &m);
    m[2..4].copy_from_slice(&sum.to_be_bytes());
    ipv4(src, dst, 64, 1, &m)
}

/// An ICMPv6 error of `kind` with `word` (unused, MTU or pointer) quoting `original`.
fn icmp6_error(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    kind: (u8, u8),
    word: u32,
    original: &[u8],
) -> Vec<u8> {
    let mut m = vec![kind.0, kind.1, 0, 0];
    m.extend_from_slice(&word.to_be_bytes());
    m.extend_from_slice(&original[..original.len().min(48)]);
    icmpv6(src, dst, m)
}

/// r1's advert to r2 on the wire (VI_1, unicast), as ICMP errors quote it.
fn unicast_advert() -> Vec<u8> {
    let (r1, r2) = (Segment::Main.router_ip4(1), Segment::Main.router_ip4(2));
    let advert = Advertisement {
        version: Version::V3,
        vrid: 51,
        priority: 150,
        advert_interval_cs: 10,
        addresses: vec![vip4()],
        auth: Auth::None,
    }
    .to_bytes(r1.into(), r2.into(), ChecksumMode::PseudoHeader);
    ipv4(r1, r2, 255, 112, &advert)
}

/// r1's route to r2.
fn route_to_r2(lab: &Lab) -> String {
    let r2 = Segment::Main.router_ip4(2);
    lab.exec_ok(lab.router_ns(1), &format!("ip route get {r2}"))
}

/// ICMP errors about the master's adverts: a raw socket that takes them as errors (a
/// connected one, or one with `IP_RECVERR`) fails its next send or receive with them, a
/// "fragmentation needed" can lower the path MTU to a peer. The stranger sends every kind
/// of ICMP and ICMPv6 error but redirects (see the next test) quoting r1's adverts (IPv4
/// unicast to r2, IPv6 multicast), from its own address and spoofed from r2, straight at
/// r1: no advert of r1 may fail, no router may move.
#[test]
fn icmp_errors_quoting_the_masters_adverts_stop_none_of_them() {
    let lab = Lab::new("h3-icmp", 3);
    let (r1, r2) = settled_pair(&lab, |r, p| vec![unicast_v4(r, p), v3_ipv6(p)]);
    let before = (states(&r1), states(&r2));
    let sent_before: Vec<u64> = ["VI_1", "VI_6"]
        .iter()
        .map(|name| instance(&r1, name).adverts_sent)
        .collect();

    let ip4 = |router| Segment::Main.router_ip4(router);
    let (r1_ll, r2_ll, r3_ll) = (
        link_local(&lab, 1),
        link_local(&lab, 2),
        link_local(&lab, 3),
    );
    let stranger = ip4(STRANGER);
    let advert4 = unicast_advert();
    let group6 = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
    let advert6 = ipv6(r1_ll, group6, 255, 112, &[0x31, 52, 150, 1, 0, 10, 0, 0]);
    let kinds4: [((u8, u8), u32); 8] = [
        ((3, 0), 0),  // network unreachable
        ((3, 1), 0),  // host unreachable
        ((3, 2), 0),  // protocol unreachable (ENOPROTOOPT)
        ((3, 3), 0),  // port unreachable (ECONNREFUSED)
        ((3, 4), 68), // fragmentation needed, MTU 68
        ((3, 13), 0), // administratively prohibited
        ((11, 0), 0), // TTL exceeded
        ((12, 0), 0), // parameter problem
    ];
    let kinds6: [((u8, u8), u32); 7] = [
        ((1, 0), 0),    // no route
        ((1, 1), 0),    // administratively prohibited
        ((1, 3), 0),    // address unreachable
        ((1, 4), 0),    // port unreachable
        ((2, 0), 1280), // packet too big
        ((3, 0), 0),    // hop limit exceeded
        ((4, 1), 6),    // parameter problem: unknown next header
    ];
    let (mut frames4, mut frames6) = (Vec::new(), Vec::new());
    for _ in 0..200 {
        for (kind, word) in kinds4 {
            for src in [stranger, ip4(2)] {
                frames4.push(icmp4_error(src, ip4(1), kind, word, &advert4));
            }
        }
        for (kind, word) in kinds6 {
            for src in [r3_ll, r2_ll] {
                frames6.push(icmp6_error(src, r1_ll, kind, word, &advert6));
            }
        }
    }
    let (count4, count6) = (frames4.len(), frames6.len());
    let r1_mac = mac(&lab, 1);
    let r3 = lab.router_ns(STRANGER).to_string();
    let started = Instant::now();
    let sender = {
        let r3 = r3.clone();
        std::thread::spawn(move || {
            send_frames(&r3, ETH_P_IPV6, r1_mac, frames6, Duration::from_micros(150))
        })
    };
    let sent4 = send_frames(&r3, ETH_P_IP, r1_mac, frames4, Duration::from_micros(150));
    let sent6 = sender.join().expect("sender thread");
    let took = started.elapsed();
    assert_eq!((sent4, sent6), (count4, count6));
    std::thread::sleep(ADVERT * 3);

    let sent: Vec<u64> = ["VI_1", "VI_6"]
        .iter()
        .zip(&sent_before)
        .map(|(name, before)| instance(&r1, name).adverts_sent - before)
        .collect();
    println!(
        "{count4} ICMP and {count6} ICMPv6 errors in {took:?}: r1 sent {sent:?} adverts \
         (VI_1, VI_6) meanwhile"
    );
    assert_eq!(
        (states(&r1), states(&r2)),
        before,
        "a router moved:\nr1:\n{}\nr2:\n{}",
        r1.log(),
        r2.log()
    );
    assert!(
        !r1.log().contains("sending advert"),
        "r1 failed to send:\n{}",
        r1.log()
    );
    assert!(!route_to_r2(&lab).contains("via"), "{}", route_to_r2(&lab));
    assert_eq!(lab.holders(vip4()), [1]);
    assert_eq!(lab.holders(vip6()), [1]);
}

/// A unicast pair of keepalived 2.2.7 like [`pair`]'s VI_1.
fn keepalived_pair(lab: &Lab) -> (lab::Daemon, lab::Daemon) {
    let ip4 = |router| Segment::Main.router_ip4(router);
    let conf = |router: usize, priority| {
        let peer = if router == 1 { 2 } else { 1 };
        KeepalivedConf::new(&format!("r{router}"))
            .instance(
                v3_ipv4(priority).unicast(&ip4(router).to_string(), &[&ip4(peer).to_string()]),
            )
            .render()
    };
    let k1 = lab.spawn_keepalived(1, &conf(1, 150));
    let k2 = lab.spawn_keepalived(2, &conf(2, 100));
    expect_sole_holder(lab, vip4(), 1, SETTLE, "keepalived unicast election");
    std::thread::sleep(ADVERT * 5);
    (k1, k2)
}

/// The two-step: a "fragmentation needed" quoting r1's unicast advert to r2 (the kernel
/// leaves a route exception for r2 when a socket takes it), then redirects to the stranger
/// quoting the same advert, spoofed from r2 and from the stranger.
fn divert(lab: &Lab) {
    let ip4 = |router| Segment::Main.router_ip4(router);
    let advert = unicast_advert();
    let mut frames: Vec<Vec<u8>> = [ip4(2), ip4(STRANGER)]
        .iter()
        .map(|src| icmp4_error(*src, ip4(1), (3, 4), 68, &advert))
        .collect();
    for _ in 0..20 {
        for src in [ip4(2), ip4(STRANGER)] {
            let gateway = u32::from(ip4(STRANGER));
            frames.push(icmp4_error(src, ip4(1), (5, 1), gateway, &advert));
        }
    }
    let count = frames.len();
    let r1_mac = mac(lab, 1);
    let sent = send_frames(
        lab.router_ns(STRANGER),
        ETH_P_IP,
        r1_mac,
        frames,
        Duration::from_millis(1),
    );
    assert_eq!(sent, count);
}

/// ICMP redirects quoting the master's unicast advert to its peer, spoofed from the peer
/// with the stranger as the new gateway, after a "fragmentation needed" quoting the same
/// advert. The kernel hands both to every raw socket of protocol 112 (`raw_err`: the path
/// MTU, then the redirect, whatever the socket's other options); once a route exception
/// for the peer exists (the first message leaves one when a socket takes it) it takes the
/// redirect while the interface accepts redirects (Linux's default on a host): the adverts
/// go to the stranger for five minutes, the backup takes over, both hold the VIP.
///
/// vipd's sockets ignore path MTU messages (`IP_PMTUDISC_OMIT`): nothing moves (before,
/// the redirect was taken). keepalived 2.2.7 takes both (printed). With the exception in
/// place (left by keepalived's socket; any UDP listener or connection to the peer could
/// leave one too), `accept_redirects` 0 on `all` and the interface is what stops it.
#[test]
fn forged_redirects_divert_no_unicast_advert() {
    let lab = Lab::new("h3-redirect", 3);
    let ip4 = |router| Segment::Main.router_ip4(router);
    let diverted = |route: &str| route.contains(&format!("via {}", ip4(STRANGER)));
    {
        let (mut r1, mut r2) = settled_pair(&lab, |r, p| vec![unicast_v4(r, p), v3_ipv6(p)]);
        let before = (states(&r1), states(&r2));
        divert(&lab);
        std::thread::sleep(ADVERT * 5);
        let route = route_to_r2(&lab);
        assert!(!diverted(&route), "redirect taken: {route}");
        assert_eq!(
            (states(&r1), states(&r2)),
            before,
            "a router moved:\n{}",
            r2.log()
        );
        assert_eq!(lab.holders(vip4()), [1]);
        r2.stop();
        r1.stop();
    }

    let (_k1, k2) = keepalived_pair(&lab);
    let masters = |k: &lab::Daemon| k.log().matches("Entering MASTER").count();
    let before = masters(&k2);
    divert(&lab);
    let route = route_to_r2(&lab);
    let taken = wait_until(
        Duration::from_millis(2500),
        Duration::from_millis(20),
        || masters(&k2) > before,
    );
    println!(
        "keepalived 2.2.7: r1's route to r2 after the redirects: {}; r2 {}",
        route.lines().next().unwrap_or(""),
        match taken {
            Some(after) => format!("took over after {after:?} (split brain)"),
            None => "stayed backup".to_string(),
        }
    );

    // The exception is there now; refusing redirects on r1 is what keeps them out.
    let ns1 = lab.router_ns(1);
    lab.exec_ok(ns1, "sysctl -qw net.ipv4.conf.all.accept_redirects=0");
    lab.exec_ok(ns1, "sysctl -qw net.ipv4.conf.eth0.accept_redirects=0");
    lab.exec_ok(ns1, "ip route flush cache");
    expect_sole_holder(&lab, vip4(), 1, SETTLE, "r1 heard again");
    let before = masters(&k2);
    divert(&lab);
    std::thread::sleep(ADVERT * 5);
    let route = route_to_r2(&lab);
    assert!(!diverted(&route), "redirect taken: {route}");
    assert_eq!(masters(&k2), before, "{}", k2.log());
    assert_eq!(lab.holders(vip4()), [1]);
}
