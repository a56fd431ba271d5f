//! Gratuitous ARP and unsolicited Neighbor Advertisements for virtual IPs, so neighbours
//! update their caches to the new master at once.
//!
//! Frames are built by pure functions (tested on bytes) and sent whole on an `AF_PACKET`
//! socket. [`AnnouncePacer`] spaces them out on each interface as keepalived's
//! `vrrp_garp_interval` / `vrrp_gna_interval` do.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use pnet_base::MacAddr;
use pnet_packet::arp::{ArpHardwareTypes, ArpOperations, MutableArpPacket};
use pnet_packet::ethernet::{EtherType, EtherTypes, MutableEthernetPacket};
use pnet_packet::icmpv6::ndp::{
    MutableNeighborAdvertPacket, NdpOption, NdpOptionTypes, NeighborAdvertFlags,
};
use pnet_packet::icmpv6::{self, Icmpv6Code, Icmpv6Packet, Icmpv6Types};
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv6::MutableIpv6Packet;

use super::netlink::Netlink;

const ETHERNET_HEADER: usize = 14;
const ARP_LEN: usize = 28;
const IPV6_HEADER: usize = 40;
/// NA header (4) + flags/reserved (4) + target (16) + one 8-byte link-layer address option.
const NA_LEN: usize = 32;

pub const BROADCAST_MAC: [u8; 6] = [0xff; 6];
/// All-nodes multicast address, where unsolicited advertisements go (RFC 4861 7.2.6).
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

fn mac(bytes: [u8; 6]) -> MacAddr {
    MacAddr::new(bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5])
}

/// Ethernet multicast address for an IPv6 multicast group (RFC 2464 7).
pub fn ipv6_multicast_mac(group: Ipv6Addr) -> [u8; 6] {
    let o = group.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

fn write_ethernet(frame: &mut [u8], dst: [u8; 6], src: [u8; 6], ethertype: EtherType) {
    if let Some(mut ethernet) = MutableEthernetPacket::new(frame) {
        ethernet.set_destination(mac(dst));
        ethernet.set_source(mac(src));
        ethernet.set_ethertype(ethertype);
    }
}

/// A gratuitous ARP request announcing `vip` at `src_mac`: sender IP = target IP = VIP,
/// target MAC broadcast (as keepalived sends it), Ethernet destination broadcast.
pub fn gratuitous_arp_frame(src_mac: [u8; 6], vip: Ipv4Addr) -> Vec<u8> {
    let mut frame = vec![0u8; ETHERNET_HEADER + ARP_LEN];
    write_ethernet(&mut frame, BROADCAST_MAC, src_mac, EtherTypes::Arp);
    if let Some(mut arp) = frame
        .get_mut(ETHERNET_HEADER..)
        .and_then(MutableArpPacket::new)
    {
        arp.set_hardware_type(ArpHardwareTypes::Ethernet);
        arp.set_protocol_type(EtherTypes::Ipv4);
        arp.set_hw_addr_len(6);
        arp.set_proto_addr_len(4);
        arp.set_operation(ArpOperations::Request);
        arp.set_sender_hw_addr(mac(src_mac));
        arp.set_sender_proto_addr(vip);
        arp.set_target_hw_addr(mac(BROADCAST_MAC));
        arp.set_target_proto_addr(vip);
    }
    frame
}

/// An unsolicited Neighbor Advertisement for `vip` from `src_ip` (the interface's link-local
/// address) to all nodes: Override set, Router and Solicited clear, Target Link-Layer Address
/// option = `src_mac`, hop limit 255, ICMPv6 checksum filled in.
pub fn unsolicited_na_frame(src_mac: [u8; 6], src_ip: Ipv6Addr, vip: Ipv6Addr) -> Vec<u8> {
    let mut frame = vec![0u8; ETHERNET_HEADER + IPV6_HEADER + NA_LEN];
    write_ethernet(
        &mut frame,
        ipv6_multicast_mac(ALL_NODES),
        src_mac,
        EtherTypes::Ipv6,
    );
    if let Some(mut ip) = frame
        .get_mut(ETHERNET_HEADER..)
        .and_then(MutableIpv6Packet::new)
    {
        ip.set_version(6);
        ip.set_payload_length(NA_LEN as u16);
        ip.set_next_header(IpNextHeaderProtocols::Icmpv6);
        ip.set_hop_limit(255);
        ip.set_source(src_ip);
        ip.set_destination(ALL_NODES);
    }
    let icmp_start = ETHERNET_HEADER + IPV6_HEADER;
    if let Some(mut na) = frame
        .get_mut(icmp_start..)
        .and_then(MutableNeighborAdvertPacket::new)
    {
        na.set_icmpv6_type(Icmpv6Types::NeighborAdvert);
        na.set_icmpv6_code(Icmpv6Code::new(0));
        na.set_flags(NeighborAdvertFlags::Override);
        na.set_target_addr(vip);
        na.set_options(&[NdpOption {
            option_type: NdpOptionTypes::TargetLLAddr,
            length: 1,
            data: src_mac.to_vec(),
        }]);
    }
    let checksum = frame
        .get(icmp_start..)
        .and_then(Icmpv6Packet::new)
        .map(|packet| icmpv6::checksum(&packet, &src_ip, &ALL_NODES));
    if let (Some(checksum), Some(field)) = (checksum, frame.get_mut(icmp_start + 2..icmp_start + 4))
    {
        field.copy_from_slice(&checksum.to_be_bytes());
    }
    frame
}

/// Sends GARPs and unsolicited NAs on any interface.
pub struct Announcer {
    socket: OwnedFd,
    netlink: Netlink,
    /// What announcements read of each interface, until [`Announcer::forget_interfaces`]:
    /// a master taking over 255 IPv6 VIPs on one interface dumped every address of the node
    /// (its VIPs among them) for each announcement.
    interfaces: Mutex<BTreeMap<u32, InterfaceFacts>>,
}

/// What an announcement needs of its interface.
#[derive(Clone)]
struct InterfaceFacts {
    name: String,
    mac: Option<[u8; 6]>,
    /// Read on the first IPv6 announcement.
    link_local: Option<Option<Ipv6Addr>>,
}

impl Announcer {
    /// Open the packet socket in the calling thread's network namespace.
    pub fn new() -> io::Result<Self> {
        // Protocol 0: this socket only sends, so it never queues received frames.
        // SAFETY: plain socket(2) call; the result is checked before being owned.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        };
        if raw < 0 {
            let err = io::Error::last_os_error();
            return Err(io::Error::new(
                err.kind(),
                format!("socket(AF_PACKET): {err}"),
            ));
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let socket = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(Announcer {
            socket,
            netlink: Netlink::new()?,
            interfaces: Mutex::new(BTreeMap::new()),
        })
    }

    /// The cache, also after a panic elsewhere left its lock poisoned (it only caches).
    fn facts(&self) -> MutexGuard<'_, BTreeMap<u32, InterfaceFacts>> {
        self.interfaces
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Interfaces or their link-local addresses changed: read them again when needed.
    pub fn forget_interfaces(&self) {
        self.facts().clear();
    }

    fn interface(&self, ifindex: u32) -> io::Result<InterfaceFacts> {
        if let Some(facts) = self.facts().get(&ifindex) {
            return Ok(facts.clone());
        }
        let link = self.netlink.link(ifindex)?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("no interface with index {ifindex}"),
            )
        })?;
        let facts = InterfaceFacts {
            name: link.name,
            mac: link.mac,
            link_local: None,
        };
        self.facts().insert(ifindex, facts.clone());
        Ok(facts)
    }

    fn link_local(&self, ifindex: u32) -> io::Result<Option<Ipv6Addr>> {
        let known = (self.facts().get(&ifindex)).and_then(|facts| facts.link_local);
        if let Some(link_local) = known {
            return Ok(link_local);
        }
        let link_local = self.netlink.ipv6_link_local(ifindex)?;
        if let Some(facts) = self.facts().get_mut(&ifindex) {
            facts.link_local = Some(link_local);
        }
        Ok(link_local)
    }

    /// Announce `vip` on the interface: a GARP for IPv4, an unsolicited NA for IPv6, from the
    /// interface's MAC (and, for IPv6, its link-local address, else the VIP itself).
    pub fn send(&self, ifindex: u32, vip: IpAddr) -> io::Result<()> {
        let link = self.interface(ifindex)?;
        let src_mac = link.mac.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::Unsupported,
                format!("interface {} has no Ethernet address", link.name),
            )
        })?;
        let (frame, dst_mac, ethertype) = match vip {
            IpAddr::V4(v4) => (
                gratuitous_arp_frame(src_mac, v4),
                BROADCAST_MAC,
                libc::ETH_P_ARP,
            ),
            IpAddr::V6(v6) => {
                // A VMAC adverts do not leave from holds no link-local address (keepalived
                // 2.2.7 neither): the VIP, assigned to it, is the source (as keepalived sends).
                let src_ip = self.link_local(ifindex)?.unwrap_or(v6);
                (
                    unsolicited_na_frame(src_mac, src_ip, v6),
                    ipv6_multicast_mac(ALL_NODES),
                    libc::ETH_P_IPV6,
                )
            }
        };
        self.send_frame(ifindex, &frame, dst_mac, ethertype)
            .map_err(|e| io::Error::new(e.kind(), format!("announce {vip} on {}: {e}", link.name)))
    }

    fn send_frame(
        &self,
        ifindex: u32,
        frame: &[u8],
        dst_mac: [u8; 6],
        ethertype: libc::c_int,
    ) -> io::Result<()> {
        // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
        let mut address: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        address.sll_family = libc::AF_PACKET as libc::c_ushort;
        address.sll_protocol = (ethertype as u16).to_be();
        address.sll_ifindex = libc::c_int::try_from(ifindex).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, "interface index out of range")
        })?;
        address.sll_halen = 6;
        address.sll_addr[..6].copy_from_slice(&dst_mac);
        // SAFETY: frame and address are live for the call and their lengths are passed.
        let sent = unsafe {
            libc::sendto(
                self.socket.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&address as *const libc::sockaddr_ll).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// One gratuitous ARP or unsolicited NA waiting for its turn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingAnnouncement {
    /// Name of the instance it is for.
    pub owner: String,
    pub ifindex: u32,
    pub address: IpAddr,
}

/// Messages of one kind (ARP or NA) on one physical interface: (owner, address, interface
/// to send on, which is the lane's own or a VMAC/ipvlan on it).
#[derive(Debug, Default)]
struct Lane {
    queue: VecDeque<(String, IpAddr, u32)>,
    /// How many times each message is in `queue`: whether one is waiting is looked up here,
    /// not by a walk along the queue (5 rounds of 4,000 VIPs queued at once made that 10
    /// million comparisons, a stall of the event loop).
    counts: HashMap<(String, IpAddr, u32), u32>,
    interval: Duration,
    /// The next message may not leave before this.
    not_before: Option<Instant>,
    /// The queue's first message came while the lane was free: keepalived sends that one at
    /// once, it is not "pending" (see [`AnnouncePacer::push`]).
    head_immediate: bool,
}

impl Lane {
    fn forget_one(&mut self, key: &(String, IpAddr, u32)) {
        if let Some(count) = self.counts.get_mut(key) {
            *count -= 1;
            if *count == 0 {
                self.counts.remove(key);
            }
        }
    }
}

/// Spaces announcements as keepalived does: two gratuitous ARPs on one interface are at least
/// `vrrp_garp_interval` apart, two unsolicited NAs at least `vrrp_gna_interval`; interfaces
/// and the two kinds do not wait for each other. With a zero interval everything goes at
/// once, at most [`AnnouncePacer::BATCH`] per call so a huge burst never holds up the event
/// loop, and at most [`AnnouncePacer::MAX_QUEUED`] wait (more are dropped).
///
/// With an interval, an address already waiting is not queued again (keepalived 2.2.7's
/// `queue_garp` marks the address pending, and a pending address is sent once): a burst of
/// `garp_master_repeat` announcements of one address on a paced interface puts two on the
/// wire, the one sent at once and the one that waited.
///
/// A VMAC or ipvlan is paced with the interface it sits on, in that interface's lane
/// (keepalived 2.2.7 keeps the pacing on `IF_BASE_IFP`: the base's `garp_group` applies, and
/// two VMACs on one interface share its pause).
#[derive(Debug, Default)]
pub struct AnnouncePacer {
    lanes: BTreeMap<(u32, bool), Lane>,
    queued: usize,
}

impl AnnouncePacer {
    pub const MAX_QUEUED: usize = 65_536;
    pub const BATCH: usize = 256;

    /// Queues one message at `now`, `interval` being the pacing of its kind on that
    /// interface; a message for an address of `owner` already waiting its turn there is
    /// merged into that one. False when the queue is full and the message was dropped.
    pub fn push(
        &mut self,
        owner: &str,
        ifindex: u32,
        address: IpAddr,
        interval: Duration,
        now: Instant,
    ) -> bool {
        self.push_on(owner, ifindex, ifindex, address, interval, now)
    }

    /// [`push`](Self::push) for a message sent on `ifindex` but paced in the lane of the
    /// interface `base` (a VMAC's or ipvlan's parent; `base == ifindex` otherwise).
    pub fn push_on(
        &mut self,
        owner: &str,
        base: u32,
        ifindex: u32,
        address: IpAddr,
        interval: Duration,
        now: Instant,
    ) -> bool {
        if self.queued >= Self::MAX_QUEUED {
            return false;
        }
        let lane = self.lanes.entry((base, address.is_ipv6())).or_default();
        lane.interval = interval;
        let free = lane.queue.is_empty() && lane.not_before.is_none_or(|t| t <= now);
        if free {
            lane.head_immediate = true;
        } else if !interval.is_zero() {
            let key = (owner.to_string(), address, ifindex);
            let queued = lane.counts.get(&key).copied().unwrap_or(0);
            // The head that went out at once is not waiting.
            let head = lane.head_immediate && lane.queue.front() == Some(&key);
            if queued > u32::from(head) {
                return true;
            }
        }
        let key = (owner.to_string(), address, ifindex);
        *lane.counts.entry(key.clone()).or_default() += 1;
        lane.queue.push_back(key);
        self.queued += 1;
        true
    }

    /// The messages that may leave at `now`, in the order they were queued per lane.
    pub fn due(&mut self, now: Instant) -> Vec<PendingAnnouncement> {
        let mut out = Vec::new();
        for lane in self.lanes.values_mut() {
            while out.len() < Self::BATCH && lane.not_before.is_none_or(|t| t <= now) {
                let Some(key) = lane.queue.pop_front() else {
                    break;
                };
                lane.forget_one(&key);
                let (owner, address, ifindex) = key;
                lane.head_immediate = false;
                lane.not_before = (!lane.interval.is_zero()).then(|| later(now, lane.interval));
                out.push(PendingAnnouncement {
                    owner,
                    ifindex,
                    address,
                });
            }
        }
        self.queued -= out.len();
        self.lanes
            .retain(|_, lane| !lane.queue.is_empty() || lane.not_before.is_some_and(|t| t > now));
        out
    }

    /// When `due` has something to hand out next.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.lanes
            .values()
            .filter(|lane| !lane.queue.is_empty())
            .map(|lane| lane.not_before)
            .min()
            .map(|at| at.unwrap_or_else(Instant::now))
    }

    /// Drops what is still queued for `owner` (it stopped being master).
    pub fn cancel(&mut self, owner: &str) {
        for lane in self.lanes.values_mut() {
            let before = lane.queue.len();
            lane.queue.retain(|(o, ..)| o != owner);
            lane.counts.retain(|(o, ..), _| o != owner);
            self.queued -= before - lane.queue.len();
        }
    }

    pub fn queued(&self) -> usize {
        self.queued
    }
}

/// `now + delay`, saturating instead of panicking on overflow (a huge interval means "not
/// again for a century", not "at once").
fn later(now: Instant, delay: Duration) -> Instant {
    crate::vrrp::timer::deadline_after(now, delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x10, 0x20, 0x30];

    #[test]
    fn garp_bytes() {
        let frame = gratuitous_arp_frame(MAC, Ipv4Addr::new(192, 0, 2, 100));
        #[rustfmt::skip]
        let expected: [u8; 42] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // dst broadcast
            0x02, 0x00, 0x5e, 0x10, 0x20, 0x30, // src
            0x08, 0x06,                         // ARP
            0x00, 0x01, 0x08, 0x00, 6, 4,       // Ethernet/IPv4
            0x00, 0x01,                         // request
            0x02, 0x00, 0x5e, 0x10, 0x20, 0x30, 192, 0, 2, 100, // sender
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 192, 0, 2, 100, // target
        ];
        assert_eq!(frame, expected);
    }

    #[test]
    fn na_bytes_and_checksum() {
        let src: Ipv6Addr = "fe80::200:5eff:fe10:2030".parse().unwrap();
        let vip: Ipv6Addr = "2001:db8::100".parse().unwrap();
        let frame = unsolicited_na_frame(MAC, src, vip);
        assert_eq!(frame.len(), 14 + 40 + 32);
        assert_eq!(&frame[0..6], &[0x33, 0x33, 0, 0, 0, 1]);
        assert_eq!(&frame[6..12], &MAC);
        assert_eq!(&frame[12..14], &[0x86, 0xdd]);
        let ip = &frame[14..54];
        assert_eq!(ip[0] >> 4, 6);
        assert_eq!(u16::from_be_bytes([ip[4], ip[5]]), 32);
        assert_eq!(ip[6], 58);
        assert_eq!(ip[7], 255);
        assert_eq!(&ip[8..24], &src.octets());
        assert_eq!(&ip[24..40], &ALL_NODES.octets());
        let na = &frame[54..];
        assert_eq!(na[0], 136);
        assert_eq!(na[1], 0);
        assert_eq!(&na[4..8], &[0x20, 0, 0, 0]); // O only
        assert_eq!(&na[8..24], &vip.octets());
        assert_eq!(&na[24..32], &[2, 1, 0x02, 0x00, 0x5e, 0x10, 0x20, 0x30]);
        assert_eq!(internet_checksum_with_pseudo_header(src, ALL_NODES, na), 0);
    }

    /// Independent checksum: the one's complement sum over pseudo-header and message,
    /// checksum field included, must fold to 0xffff (i.e. its complement is zero).
    fn internet_checksum_with_pseudo_header(src: Ipv6Addr, dst: Ipv6Addr, msg: &[u8]) -> u16 {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&src.octets());
        bytes.extend_from_slice(&dst.octets());
        bytes.extend_from_slice(&(msg.len() as u32).to_be_bytes());
        bytes.extend_from_slice(&[0, 0, 0, 58]);
        bytes.extend_from_slice(msg);
        let mut sum: u32 = bytes
            .chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
            .sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    #[test]
    fn multicast_mac_mapping() {
        let group: Ipv6Addr = "ff02::1:ff00:100".parse().unwrap();
        assert_eq!(
            ipv6_multicast_mac(group),
            [0x33, 0x33, 0xff, 0x00, 0x01, 0x00]
        );
    }

    fn v4(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn pacer_sends_everything_at_once_without_an_interval() {
        let t0 = Instant::now();
        let mut pacer = AnnouncePacer::default();
        for _ in 0..3 {
            pacer.push("a", 2, v4("192.0.2.1"), Duration::ZERO, t0);
            pacer.push("a", 2, v4("192.0.2.2"), Duration::ZERO, t0);
        }
        let due = pacer.due(t0);
        assert_eq!(due.len(), 6);
        assert_eq!(due[0].address, v4("192.0.2.1"));
        assert_eq!(due[1].address, v4("192.0.2.2"));
        assert_eq!(pacer.next_deadline(), None);
        assert_eq!(pacer.queued(), 0);
    }

    #[test]
    fn pacer_spaces_messages_per_interface_and_kind() {
        let t0 = Instant::now();
        let mut pacer = AnnouncePacer::default();
        for last in 1..=3 {
            pacer.push("a", 2, v4(&format!("192.0.2.{last}")), 10 * MS, t0);
        }
        pacer.push("a", 2, v4("2001:db8::1"), 20 * MS, t0);
        pacer.push("a", 2, v4("2001:db8::2"), 20 * MS, t0);
        pacer.push("b", 3, v4("192.0.2.9"), 10 * MS, t0);
        // First of every lane at once.
        let first: Vec<IpAddr> = pacer.due(t0).iter().map(|p| p.address).collect();
        assert_eq!(first, [v4("192.0.2.1"), v4("2001:db8::1"), v4("192.0.2.9")]);
        assert_eq!(pacer.next_deadline(), Some(t0 + 10 * MS));
        assert!(pacer.due(t0 + 9 * MS).is_empty());
        let second: Vec<IpAddr> = pacer.due(t0 + 10 * MS).iter().map(|p| p.address).collect();
        assert_eq!(second, [v4("192.0.2.2")]);
        // A late wake-up still keeps the interval after the message actually sent.
        let third: Vec<IpAddr> = pacer.due(t0 + 25 * MS).iter().map(|p| p.address).collect();
        assert_eq!(third, [v4("192.0.2.3"), v4("2001:db8::2")]);
        assert_eq!(pacer.next_deadline(), None);
        // The lane remembers its last message: a new one waits out the interval.
        pacer.push("a", 2, v4("192.0.2.1"), 10 * MS, t0 + 25 * MS);
        assert_eq!(pacer.next_deadline(), Some(t0 + 35 * MS));
    }

    /// keepalived 2.2.7 (`send_gratuitous_arp`/`queue_garp`): on a paced interface the first
    /// announcement leaves at once and the repeats of an address merge into one pending
    /// message, so `garp_master_repeat 5` puts 2 on the wire per address; the corpus run saw
    /// keepalived send 2 where vipd sent 5 (`vrrp_garp_interval 0.001`).
    #[test]
    fn pacer_merges_repeats_of_an_address_waiting_its_turn() {
        let t0 = Instant::now();
        let mut pacer = AnnouncePacer::default();
        for _ in 0..5 {
            pacer.push("a", 2, v4("192.0.2.1"), MS, t0);
            pacer.push("a", 2, v4("192.0.2.2"), MS, t0);
            pacer.push("b", 2, v4("192.0.2.1"), MS, t0);
        }
        let mut sent = Vec::new();
        let mut now = t0;
        while let Some(at) = pacer.next_deadline() {
            now = now.max(at);
            sent.extend(pacer.due(now).into_iter().map(|p| (p.owner, p.address)));
        }
        let a = |n: &str| ("a".to_string(), v4(n));
        let b = ("b".to_string(), v4("192.0.2.1"));
        assert_eq!(
            sent,
            [a("192.0.2.1"), a("192.0.2.2"), b.clone(), a("192.0.2.1")]
        );
        // Without an interval every repeat goes (keepalived sends them at once).
        for _ in 0..5 {
            pacer.push("a", 3, v4("192.0.2.1"), Duration::ZERO, now);
        }
        assert_eq!(pacer.due(now).len(), 5);
        // Once sent, an address may wait again.
        let later = now + 10 * MS;
        for _ in 0..5 {
            pacer.push("a", 2, v4("192.0.2.1"), MS, later);
        }
        assert_eq!(pacer.due(later).len(), 1);
        assert_eq!(pacer.due(later + MS).len(), 1);
        assert_eq!(pacer.next_deadline(), None);
    }

    /// An instance with thousands of VIPs under `vrrp_gna_interval`: its 5 rounds are queued
    /// in one turn of the event loop. Whether an address is waiting was a walk along the
    /// queue: 100,000 pushes along up to 20,000 waiting took minutes of the loop.
    #[test]
    fn pacer_queues_five_rounds_of_twenty_thousand_addresses_at_once() {
        let t0 = Instant::now();
        let mut pacer = AnnouncePacer::default();
        let addresses: Vec<IpAddr> = (0..20_000u32)
            .map(|n| {
                IpAddr::V6(std::net::Ipv6Addr::from(
                    0x2001_0db8_u128 << 96 | u128::from(n),
                ))
            })
            .collect();
        for _ in 0..5 {
            for &address in &addresses {
                pacer.push("BIG", 2, address, MS, t0);
            }
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
        // Each address once, and the first (sent at once) once more.
        assert_eq!(pacer.queued(), 20_001);
    }

    /// Two VMACs (ifindex 7 and 8) on one interface (2) share its pause, as keepalived's
    /// pacing on the base interface does; each message still leaves on its VMAC.
    #[test]
    fn pacer_paces_vmacs_in_their_base_interfaces_lane() {
        let t0 = Instant::now();
        let mut pacer = AnnouncePacer::default();
        pacer.push_on("a", 2, 7, v4("192.0.2.1"), 10 * MS, t0);
        pacer.push_on("b", 2, 8, v4("192.0.2.2"), 10 * MS, t0);
        pacer.push("c", 2, v4("192.0.2.3"), 10 * MS, t0);
        let first = pacer.due(t0);
        assert_eq!(first.len(), 1);
        assert_eq!((first[0].owner.as_str(), first[0].ifindex), ("a", 7));
        assert!(pacer.due(t0 + 9 * MS).is_empty());
        let second = pacer.due(t0 + 10 * MS);
        assert_eq!((second[0].owner.as_str(), second[0].ifindex), ("b", 8));
        let third = pacer.due(t0 + 20 * MS);
        assert_eq!((third[0].owner.as_str(), third[0].ifindex), ("c", 2));
    }

    #[test]
    fn pacer_cancel_drops_only_that_instance() {
        let t0 = Instant::now();
        let mut pacer = AnnouncePacer::default();
        pacer.push("a", 2, v4("192.0.2.1"), 10 * MS, t0);
        pacer.push("a", 2, v4("192.0.2.1"), 10 * MS, t0);
        pacer.push("b", 2, v4("192.0.2.2"), 10 * MS, t0);
        assert_eq!(pacer.due(t0).len(), 1);
        pacer.cancel("a");
        assert_eq!(pacer.queued(), 1);
        let rest = pacer.due(t0 + 10 * MS);
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].owner, "b");
    }

    #[test]
    fn pacer_bounds_its_queue_and_its_batches() {
        let t0 = Instant::now();
        let mut pacer = AnnouncePacer::default();
        let accepted = (0..AnnouncePacer::MAX_QUEUED + 10)
            .filter(|_| pacer.push("a", 2, v4("192.0.2.1"), Duration::ZERO, t0))
            .count();
        assert_eq!(accepted, AnnouncePacer::MAX_QUEUED);
        assert_eq!(pacer.due(t0).len(), AnnouncePacer::BATCH);
        // The rest is due at once, batch by batch.
        assert!(pacer.next_deadline().is_some_and(|t| t <= Instant::now()));
    }
}
