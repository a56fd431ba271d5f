//! IPv6 adverts behind extension headers (needs root and keepalived 2.2.7): vipd (r1, VI_6,
//! VRID 52) and keepalived (r2, VI_7, VRID 53), each the only router of its VRID and so
//! master at priority 100, hear the same crafted frames from the lab's client: a winning
//! advert (priority 254) behind a hop-by-hop or destination options header, a routing
//! header, an atomic fragment, split into fragments (with the hop limit 255 on every
//! fragment, only on the first, only on the last), overlapping fragments, a hop-by-hop header
//! after the fragment header, and with an option that must be discarded. An advert taken
//! makes the master yield (a transition to BACKUP); one dropped leaves it master.
//!
//! What RFC 5798 asks (7.1: hop limit 255, checked on the packet the kernel hands over, the
//! reassembled one) is asserted for vipd, and vipd must do what keepalived does with each
//! frame. Then the client floods the segment with such frames (incomplete fragments, adverts
//! behind headers with hop limit 254) while the backup measures the master's advert gaps.

mod hostile_frames;
mod lab;
mod lab_vipd_support;

use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

use hostile_frames::{advert_gaps, cadence_held, gap_summary, ipv6, ETH_P_IPV6, VRRP_MAC_V6};
use lab::keepalived_conf::VrrpInstance;
use lab::{wait_until, Daemon, Lab, Segment};
use lab_vipd_support::*;
use vipd::vrrp::packet::{Advertisement, Auth, ChecksumMode, Version};

const GROUP6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
const VIPD_VRID: u8 = 52;
const KEEPALIVED_VRID: u8 = 53;
const KEEPALIVED_VIP: &str = "2001:db8::101";

const HOP_BY_HOP: u8 = 0;
const ROUTING: u8 = 43;
const FRAGMENT: u8 = 44;
const DESTINATION: u8 = 60;
const VRRP: u8 = 112;

/// A winning advert (priority 254, 100 ms) for `vrid` with `vip`, from `src`.
fn advert(src: Ipv6Addr, vrid: u8, vip: IpAddr) -> Vec<u8> {
    Advertisement {
        version: Version::V3,
        vrid,
        priority: 254,
        advert_interval_cs: 10,
        addresses: vec![vip],
        auth: Auth::None,
    }
    .to_bytes(src.into(), GROUP6.into(), ChecksumMode::PseudoHeader)
}

/// An IPv6 packet to ff02::12: fixed header, then `rest` (extension headers and payload).
fn packet(src: Ipv6Addr, hop_limit: u8, next: u8, rest: &[u8]) -> Vec<u8> {
    ipv6(src, GROUP6, hop_limit, next, rest)
}

/// An 8-byte options header (hop-by-hop or destination) holding one option of `kind` with
/// 4 bytes of data, followed by `next`.
fn options(next: u8, kind: u8) -> Vec<u8> {
    vec![next, 0, kind, 4, 0, 0, 0, 0]
}

/// A routing header of `kind` with one address and `segments_left`.
fn routing(next: u8, kind: u8, segments_left: u8) -> Vec<u8> {
    let mut h = vec![next, 2, kind, segments_left, 0, 0, 0, 0];
    h.extend_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x99).octets());
    h
}

/// A fragment header: `offset` in bytes (a multiple of 8), more fragments or not.
fn fragment(next: u8, offset: usize, more: bool, id: u32) -> Vec<u8> {
    let field = u16::try_from(offset).expect("small offset") | u16::from(more);
    let mut h = vec![next, 0];
    h.extend_from_slice(&field.to_be_bytes());
    h.extend_from_slice(&id.to_be_bytes());
    h
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// One way of delivering an advert, built per daemon (VRID and VIP differ).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Form {
    /// The advert alone, hop limit 255: the control, taken.
    Plain,
    /// The advert alone, hop limit 254: dropped (RFC 5798 7.1).
    Plain254,
    /// Behind a hop-by-hop header with a PadN option.
    HopByHop,
    /// Behind a hop-by-hop header with a router alert option.
    RouterAlert,
    /// Behind a hop-by-hop header with an unknown option whose type says "discard".
    HopByHopDiscard,
    /// Behind a destination options header with a PadN option.
    DestinationOptions,
    /// Behind a destination options header with an unknown "discard" option.
    DestinationDiscard,
    /// Behind a type 0 routing header with no segments left: Linux drops every packet to a
    /// multicast address with a routing header, before any socket sees it.
    Routing0Done,
    /// Behind a type 0 routing header with one segment left (deprecated, RFC 5095).
    Routing0Pending,
    /// In one fragment (offset 0, no more: an atomic fragment, RFC 6946).
    AtomicFragment,
    /// Split in two fragments, both with hop limit 255.
    Fragments,
    /// Fragments: the first with hop limit 254, the second with 255.
    FragmentsFirst254,
    /// Fragments: the first with hop limit 255, the second with 254.
    FragmentsLast254,
    /// Fragments that overlap (RFC 5722: the whole packet is dropped).
    Overlapping,
    /// An atomic fragment whose payload is a hop-by-hop header (it must come first).
    HopByHopAfterFragment,
    /// Hop-by-hop, destination options and an atomic fragment, all at once.
    Chain,
}

impl Form {
    const ALL: [Form; 16] = [
        Form::Plain,
        Form::Plain254,
        Form::HopByHop,
        Form::RouterAlert,
        Form::HopByHopDiscard,
        Form::DestinationOptions,
        Form::DestinationDiscard,
        Form::Routing0Done,
        Form::Routing0Pending,
        Form::AtomicFragment,
        Form::Fragments,
        Form::FragmentsFirst254,
        Form::FragmentsLast254,
        Form::Overlapping,
        Form::HopByHopAfterFragment,
        Form::Chain,
    ];

    /// Whether the advert is to be taken (the master yields): RFC 5798 drops only a hop
    /// limit other than 255, which the kernel reports for the reassembled packet (that of
    /// the first fragment); the rest is the kernel's (RFC 8200: an option whose type says
    /// discard, a header out of place, RFC 5722 overlaps; a routing header to a multicast
    /// address).
    fn taken(self) -> bool {
        matches!(
            self,
            Form::Plain
                | Form::HopByHop
                | Form::RouterAlert
                | Form::DestinationOptions
                | Form::AtomicFragment
                | Form::Fragments
                | Form::FragmentsLast254
                | Form::Chain
        )
    }

    /// The IPv6 packets of this form carrying `vrrp` from `src`; `id` is the fragment id.
    fn packets(self, src: Ipv6Addr, vrrp: &[u8], id: u32) -> Vec<Vec<u8>> {
        let (head, tail) = vrrp.split_at(16);
        let one = |hop: u8, next: u8, rest: Vec<u8>| vec![packet(src, hop, next, &rest)];
        match self {
            Form::Plain => one(255, VRRP, vrrp.to_vec()),
            Form::Plain254 => one(254, VRRP, vrrp.to_vec()),
            Form::HopByHop => one(255, HOP_BY_HOP, cat(&[&options(VRRP, 1), vrrp])),
            Form::RouterAlert => {
                // Router alert (type 5, 2 bytes of data) and a PadN of 2.
                let header = vec![VRRP, 0, 5, 2, 0, 0, 1, 0];
                one(255, HOP_BY_HOP, cat(&[&header, vrrp]))
            }
            Form::HopByHopDiscard => one(255, HOP_BY_HOP, cat(&[&options(VRRP, 0x5e), vrrp])),
            Form::DestinationOptions => one(255, DESTINATION, cat(&[&options(VRRP, 1), vrrp])),
            Form::DestinationDiscard => one(255, DESTINATION, cat(&[&options(VRRP, 0x5e), vrrp])),
            Form::Routing0Done => one(255, ROUTING, cat(&[&routing(VRRP, 0, 0), vrrp])),
            Form::Routing0Pending => one(255, ROUTING, cat(&[&routing(VRRP, 0, 1), vrrp])),
            Form::AtomicFragment => one(255, FRAGMENT, cat(&[&fragment(VRRP, 0, false, id), vrrp])),
            Form::Fragments | Form::FragmentsFirst254 | Form::FragmentsLast254 => {
                let (first, last) = match self {
                    Form::FragmentsFirst254 => (254, 255),
                    Form::FragmentsLast254 => (255, 254),
                    _ => (255, 255),
                };
                vec![
                    packet(
                        src,
                        first,
                        FRAGMENT,
                        &cat(&[&fragment(VRRP, 0, true, id), head]),
                    ),
                    packet(
                        src,
                        last,
                        FRAGMENT,
                        &cat(&[&fragment(VRRP, 16, false, id), tail]),
                    ),
                ]
            }
            Form::Overlapping => {
                // The second starts 8 bytes into the first.
                let second = &vrrp[8..];
                vec![
                    packet(
                        src,
                        255,
                        FRAGMENT,
                        &cat(&[&fragment(VRRP, 0, true, id), head]),
                    ),
                    packet(
                        src,
                        255,
                        FRAGMENT,
                        &cat(&[&fragment(VRRP, 8, false, id), second]),
                    ),
                ]
            }
            Form::HopByHopAfterFragment => one(
                255,
                FRAGMENT,
                cat(&[&fragment(HOP_BY_HOP, 0, false, id), &options(VRRP, 1), vrrp]),
            ),
            Form::Chain => one(
                255,
                HOP_BY_HOP,
                cat(&[
                    &options(DESTINATION, 1),
                    &options(FRAGMENT, 1),
                    &fragment(VRRP, 0, false, id),
                    vrrp,
                ]),
            ),
        }
    }
}

/// Sends whole IPv6 packets from the client to ff02::12's MAC, `pause` apart.
fn send_frames(lab: &Lab, packets: Vec<Vec<u8>>, pause: Duration) {
    hostile_frames::send_frames(lab.client_ns(), ETH_P_IPV6, VRRP_MAC_V6, packets, pause);
}

fn keepalived_instance() -> VrrpInstance {
    VrrpInstance::new("VI_7", "eth0", KEEPALIVED_VRID)
        .priority(100)
        .version(3)
        .advert(ADVERT)
        .vip(&format!("{KEEPALIVED_VIP}/64"))
}

/// Transitions so far: vipd's count, keepalived's "Entering" lines.
fn moves(vipd: &Daemon, keepalived: &Daemon) -> (u64, usize) {
    (
        instance(vipd, "VI_6").transitions,
        keepalived.log().matches("(VI_7) Entering").count(),
    )
}

fn both_master(lab: &Lab, vipd: &Daemon) -> bool {
    let keepalived_vip: IpAddr = KEEPALIVED_VIP.parse().expect("address");
    wait_until(SETTLE, Duration::from_millis(20), || {
        instance(vipd, "VI_6").state == "MASTER"
            && lab.holders(vip6()) == [1]
            && lab.holders(keepalived_vip) == [2]
    })
    .is_some()
}

#[test]
fn adverts_behind_ipv6_extension_headers_are_judged_like_keepalived_and_rfc_5798() {
    let lab = Lab::new("h-ipv6-ext", 2);
    let vipd = start_vipd(&lab, 1, &conf(1, &[v3_ipv6(100)]));
    let keepalived = lab.spawn_keepalived(
        2,
        &lab::keepalived_conf::KeepalivedConf::new("r2")
            .instance(keepalived_instance())
            .render(),
    );
    assert!(
        both_master(&lab, &vipd),
        "no masters:\n{}",
        keepalived.log()
    );
    let src = client_link_local(&lab);
    let keepalived_vip: IpAddr = KEEPALIVED_VIP.parse().expect("address");
    let to_vipd = advert(src, VIPD_VRID, vip6());
    let to_keepalived = advert(src, KEEPALIVED_VRID, keepalived_vip);

    let mut table = Vec::new();
    let mut wrong = Vec::new();
    for (n, form) in Form::ALL.into_iter().enumerate() {
        let id = 0x7000 + u32::try_from(n).expect("few forms");
        let before = moves(&vipd, &keepalived);
        let mut frames = form.packets(src, &to_vipd, id);
        frames.extend(form.packets(src, &to_keepalived, id + 0x100));
        send_frames(&lab, frames, Duration::from_millis(1));
        // A taken advert makes the master yield at once; give a loaded machine its time.
        let deadline = Instant::now() + Duration::from_millis(700);
        let mut after = before;
        while Instant::now() < deadline {
            after = moves(&vipd, &keepalived);
            if after.0 > before.0 && after.1 > before.1 {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let vipd_took = after.0 > before.0;
        let keepalived_took = after.1 > before.1;
        table.push(format!(
            "{form:?}: vipd {}, keepalived {}, RFC {}",
            if vipd_took { "took it" } else { "dropped it" },
            if keepalived_took {
                "took it"
            } else {
                "dropped it"
            },
            if form.taken() { "take" } else { "drop" },
        ));
        if vipd_took != form.taken() || vipd_took != keepalived_took {
            wrong.push(form);
        }
        assert!(
            both_master(&lab, &vipd),
            "{form:?}: the masters did not come back\n{}",
            keepalived.log()
        );
    }
    eprintln!("{}", table.join("\n"));
    assert!(
        wrong.is_empty(),
        "judged unlike RFC 5798 or keepalived: {wrong:?}\n{}\nvipd log:\n{}",
        table.join("\n"),
        vipd.log()
    );
    let dropped = instance(&vipd, "VI_6").dropped;
    eprintln!("vipd dropped: {dropped:?}");
    assert!(
        dropped.get("hop_limit").copied().unwrap_or(0) >= 2,
        "{dropped:?}"
    );
}

#[test]
fn a_flood_of_ipv6_adverts_behind_extension_headers_does_not_stall_the_master() {
    let lab = Lab::new("h-ipv6-flood", 2);
    let r1 = start_vipd(&lab, 1, &conf(1, &[v3_ipv6(150)]));
    // The backup waits 20 missed adverts (2 s), longer than a loaded CI machine keeps the
    // master off a CPU (see `cadence_held`); a master or backup held up by the flood misses
    // its 3 s.
    let r2 = start_vipd(
        &lab,
        2,
        &conf(2, &[v3_ipv6(100).line("down_timer_adverts 20")]),
    );
    expect_sole_holder(&lab, vip6(), 1, SETTLE, "election");
    let before = wait_instance(&r2, "VI_6", SETTLE, "settled backup", |i| {
        i.state == "BACKUP" && i.adverts_received >= 3
    });
    let src = client_link_local(&lab);
    // Per round: adverts (VRID 52, priority 254) behind each kind of header with hop limit
    // 254, lone first fragments the kernel holds until they time out, and overlapping pairs.
    let vrrp = advert(src, VIPD_VRID, vip6());
    let mut round = Vec::new();
    for (n, form) in Form::ALL.into_iter().enumerate() {
        let id = 0x10_0000 + u32::try_from(n).expect("few forms");
        for mut p in form.packets(src, &vrrp, id) {
            p[7] = 254;
            round.push(p);
        }
    }
    let r1_mac = Segment::Main.router_mac_text(1);
    let mut capture = lab.capture(
        lab.router_ns(2),
        "eth0",
        &format!("ip6 and ether src {r1_mac} and ip6[6] == 112"),
    );
    std::thread::sleep(Duration::from_secs(1));
    let flood_for = Duration::from_secs(3);
    let started_at = capture.lines().len();
    let started = Instant::now();
    let mut sent = 0usize;
    let mut rounds = 0u32;
    while started.elapsed() < flood_for {
        let mut burst = Vec::with_capacity(round.len() * 20 + 400);
        for _ in 0..20 {
            burst.extend(round.iter().cloned());
        }
        // Fresh first fragments: each takes reassembly memory until it times out.
        for k in 0..400u32 {
            let id = 0x20_0000 + rounds * 400 + k;
            let (head, _) = vrrp.split_at(16);
            burst.push(packet(
                src,
                255,
                FRAGMENT,
                &cat(&[&fragment(VRRP, 0, true, id), head]),
            ));
        }
        sent += burst.len();
        rounds += 1;
        send_frames(&lab, burst, Duration::ZERO);
        std::thread::sleep(Duration::from_millis(5));
    }
    let lines = capture.stop();
    let gaps = advert_gaps(lines.get(started_at..).unwrap_or_default());
    let rate = sent as f64 / started.elapsed().as_secs_f64();
    eprintln!(
        "{sent} frames ({rate:.0}/s); master's advert gaps (100 ms interval): {}",
        gap_summary(&gaps)
    );
    assert!(gaps.len() >= 15, "too few adverts captured: {}", gaps.len());
    if let Err(how) = cadence_held(&gaps, ADVERT) {
        panic!("the flood held up the master's adverts: {how}");
    }
    let after = instance(&r2, "VI_6");
    assert_eq!(
        (after.state.as_str(), after.transitions),
        ("BACKUP", before.transitions),
        "the backup moved during the flood: {after:#?}"
    );
    let master = instance(&r1, "VI_6");
    assert_eq!(master.state, "MASTER", "{master:#?}");
    assert!(
        after.adverts_received >= before.adverts_received + 15,
        "adverts heard during the flood: {} -> {}",
        before.adverts_received,
        after.adverts_received
    );
    // Each hop limit 254 advert the kernel completed was counted by both.
    for daemon in [&r1, &r2] {
        let dropped = instance(daemon, "VI_6").dropped;
        eprintln!("{} dropped: {dropped:?}", daemon.name);
        assert!(
            dropped.get("hop_limit").copied().unwrap_or(0) > 100,
            "{dropped:?}"
        );
    }
}
