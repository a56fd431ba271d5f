//! Whole frames a hostile host puts on the lab's segment (a packet socket: the kernel adds
//! only the Ethernet header, with the sender's own MAC), what they are made of (IPv4, IPv6,
//! ARP, neighbour discovery), and the gaps between the adverts a capture saw.
#![allow(dead_code)]

use std::fs::File;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use nix::sched::{setns, CloneFlags};

pub const ETH_P_IP: u16 = 0x0800;
pub const ETH_P_ARP: u16 = 0x0806;
pub const ETH_P_IPV6: u16 = 0x86dd;
pub const BROADCAST: [u8; 6] = [0xff; 6];
/// 224.0.0.18 and ff02::12 on Ethernet.
pub const VRRP_MAC_V4: [u8; 6] = [0x01, 0x00, 0x5e, 0, 0, 0x12];
pub const VRRP_MAC_V6: [u8; 6] = [0x33, 0x33, 0, 0, 0, 0x12];

/// Sends `frames` (each an Ethernet payload of `ethertype`) to `dst` from `eth0` of the
/// namespace `ns`, `pause` apart (none: as fast as the socket takes them; a full queue
/// waits). Returns how many were sent.
pub fn send_frames(
    ns: &str,
    ethertype: u16,
    dst: [u8; 6],
    frames: Vec<Vec<u8>>,
    pause: Duration,
) -> usize {
    send_frames_on(ns, "eth0", ethertype, dst, frames, pause)
}

/// Like [`send_frames`] from interface `ifname`.
pub fn send_frames_on(
    ns: &str,
    ifname: &str,
    ethertype: u16,
    dst: [u8; 6],
    frames: Vec<Vec<u8>>,
    pause: Duration,
) -> usize {
    let path = format!("/run/netns/{ns}");
    let ifname = ifname.to_owned();
    let result = std::thread::spawn(move || -> Result<usize, String> {
        let ns = File::open(&path).map_err(|e| format!("open {path}: {e}"))?;
        setns(&ns, CloneFlags::CLONE_NEWNET).map_err(|e| format!("setns: {e}"))?;
        send_here(&ifname, ethertype, dst, &frames, pause)
    })
    .join()
    .expect("sender thread panicked");
    result.unwrap_or_else(|e| panic!("sending frames from {ns}: {e}"))
}

fn send_here(
    ifname: &str,
    ethertype: u16,
    dst: [u8; 6],
    frames: &[Vec<u8>],
    pause: Duration,
) -> Result<usize, String> {
    let ifindex = nix::net::if_::if_nametoindex(ifname).map_err(|e| format!("{ifname}: {e}"))?;
    let protocol = ethertype.to_be();
    // SAFETY: plain socket(2); the descriptor is owned below.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM, i32::from(protocol)) };
    if fd < 0 {
        return Err(format!(
            "packet socket: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: a fresh descriptor nothing else owns.
    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    // SAFETY: all-zero is a valid sockaddr_ll.
    let mut to: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    to.sll_family = libc::AF_PACKET as u16;
    to.sll_protocol = protocol;
    to.sll_ifindex = i32::try_from(ifindex).map_err(|e| e.to_string())?;
    to.sll_halen = 6;
    to.sll_addr[..6].copy_from_slice(&dst);
    let mut sent = 0;
    for frame in frames {
        // SAFETY: the buffer and address outlive the call; the lengths are theirs.
        let rc = unsafe {
            libc::sendto(
                std::os::fd::AsRawFd::as_raw_fd(&fd),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&raw const to).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if rc < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ENOBUFS) {
                std::thread::sleep(Duration::from_micros(200));
                continue;
            }
            return Err(format!("sendto: {e}"));
        }
        sent += 1;
        if !pause.is_zero() {
            std::thread::sleep(pause);
        }
    }
    Ok(sent)
}

/// The Internet checksum of `data` with `sum` already added (pseudo-headers).
pub fn checksum(mut sum: u32, data: &[u8]) -> u16 {
    for pair in data.chunks(2) {
        let word = u16::from_be_bytes([pair[0], pair.get(1).copied().unwrap_or(0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 packet (no options, header checksum filled in).
pub fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, protocol: u8, payload: &[u8]) -> Vec<u8> {
    let total = u16::try_from(20 + payload.len()).expect("small packet");
    let mut p = vec![0x45, 0xc0];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0x40, 0, ttl, protocol, 0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let sum = checksum(0, &p);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// An IPv6 packet: fixed header, then `rest` (extension headers and payload).
pub fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8, next: u8, rest: &[u8]) -> Vec<u8> {
    let length = u16::try_from(rest.len()).expect("small packet");
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&length.to_be_bytes());
    p.extend_from_slice(&[next, hop_limit]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(rest);
    p
}

/// An ARP message over Ethernet for IPv4.
pub fn arp(
    op: u16,
    sender_mac: [u8; 6],
    sender: Ipv4Addr,
    target_mac: [u8; 6],
    target: Ipv4Addr,
) -> Vec<u8> {
    let mut m = vec![0, 1, 8, 0, 6, 4];
    m.extend_from_slice(&op.to_be_bytes());
    m.extend_from_slice(&sender_mac);
    m.extend_from_slice(&sender.octets());
    m.extend_from_slice(&target_mac);
    m.extend_from_slice(&target.octets());
    m
}

/// An ICMPv6 packet (hop limit 255) with its checksum over the pseudo-header.
pub fn icmpv6(src: Ipv6Addr, dst: Ipv6Addr, mut message: Vec<u8>) -> Vec<u8> {
    let mut sum = 0u32;
    for address in [src, dst] {
        for word in address.segments() {
            sum += u32::from(word);
        }
    }
    sum += u32::try_from(message.len()).expect("small message") + 58;
    message[2..4].copy_from_slice(&[0, 0]);
    let value = checksum(sum, &message);
    message[2..4].copy_from_slice(&value.to_be_bytes());
    ipv6(src, dst, 255, 58, &message)
}

/// A neighbour advertisement for `target` with `mac` as its link-layer address (override
/// flag set, not solicited: a claim), to all nodes.
pub fn unsolicited_na(src: Ipv6Addr, target: Ipv6Addr, mac: [u8; 6]) -> Vec<u8> {
    let mut m = vec![136, 0, 0, 0, 0x20, 0, 0, 0];
    m.extend_from_slice(&target.octets());
    m.extend_from_slice(&[2, 1]);
    m.extend_from_slice(&mac);
    icmpv6(src, Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1), m)
}

/// A neighbour solicitation for `target` from `src` (whose link-layer address is `mac`),
/// to the target's solicited-node group.
pub fn solicitation(src: Ipv6Addr, target: Ipv6Addr, mac: [u8; 6]) -> Vec<u8> {
    let mut m = vec![135, 0, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&target.octets());
    m.extend_from_slice(&[1, 1]);
    m.extend_from_slice(&mac);
    icmpv6(src, solicited_node(target), m)
}

pub fn solicited_node(target: Ipv6Addr) -> Ipv6Addr {
    let o = target.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(o[13]),
        u16::from_be_bytes([o[14], o[15]]),
    )
}

pub fn solicited_node_mac(target: Ipv6Addr) -> [u8; 6] {
    let o = target.octets();
    [0x33, 0x33, 0xff, o[13], o[14], o[15]]
}

/// The gaps between consecutive packets of a tcpdump capture (`HH:MM:SS.micros` first word
/// of each packet's line).
pub fn advert_gaps(lines: &[String]) -> Vec<Duration> {
    let times: Vec<f64> = lines
        .iter()
        .filter(|line| !line.starts_with(char::is_whitespace))
        .filter_map(|line| {
            let stamp = line.split_whitespace().next()?;
            let mut parts = stamp.split(':');
            let (h, m, s) = (parts.next()?, parts.next()?, parts.next()?);
            let h: f64 = h.parse().ok()?;
            let m: f64 = m.parse().ok()?;
            let s: f64 = s.parse().ok()?;
            Some(h * 3600.0 + m * 60.0 + s)
        })
        .collect();
    times
        .windows(2)
        .filter(|w| w[1] >= w[0])
        .map(|w| Duration::from_secs_f64(w[1] - w[0]))
        .collect()
}

/// Whether a master's adverts kept their cadence (`interval`) through an attack, from the gaps
/// between them on the wire; `Err` says how not. A master whose handling of the attack holds
/// it up stops advertising for as long as the attack lasts (a phase of one or more seconds)
/// or is late at every burst (the typical gap grows); a loaded 2-core machine (CI runs two lab
/// streams at once, and the kernel's own work on a flood competes for the CPUs) keeps a
/// healthy master off a CPU now and then for a few intervals (427 ms once), which moves
/// neither the median nor a gap past a second, while the cadence rule (a wake-up less than
/// half an interval late keeps the deadlines) keeps the median at the interval.
pub fn cadence_held(gaps: &[Duration], interval: Duration) -> Result<(), String> {
    let mut sorted = gaps.to_vec();
    sorted.sort();
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or_default();
    let longest = sorted.last().copied().unwrap_or_default();
    if longest >= Duration::from_secs(1) {
        return Err(format!("held up for {longest:?}: {}", gap_summary(gaps)));
    }
    if median > interval * 3 / 2 {
        return Err(format!("late throughout: {}", gap_summary(gaps)));
    }
    Ok(())
}

/// Median, 99th percentile and longest of `gaps`.
pub fn gap_summary(gaps: &[Duration]) -> String {
    let mut sorted = gaps.to_vec();
    sorted.sort();
    let at = |q: f64| {
        let i = ((sorted.len().saturating_sub(1)) as f64 * q).round() as usize;
        sorted.get(i).copied().unwrap_or_default()
    };
    format!(
        "{} gaps, median {:?}, p99 {:?}, longest {:?}",
        sorted.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    )
}

#[test]
fn checksums_of_known_packets() {
    // RFC 1071's example words sum to 0xddf2; the checksum is its complement.
    assert_eq!(
        checksum(0, &[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
        !0xddf2
    );
    let p = ipv4(
        "192.0.2.1".parse().unwrap(),
        "224.0.0.18".parse().unwrap(),
        255,
        112,
        &[],
    );
    assert_eq!(
        checksum(0, &p[..20]),
        0,
        "a header with its checksum sums to zero"
    );
    assert_eq!(
        solicited_node("2001:db8::100".parse().unwrap()),
        "ff02::1:ff00:100".parse::<Ipv6Addr>().unwrap()
    );
}
