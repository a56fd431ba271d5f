//! The adversary of `tests/simulation.rs`: a host on the segment that injects datagrams at
//! any time, and the receive path they go through, which is the daemon's.
//!
//! [`shell_receive`] does what the daemon does with a datagram before the core sees it, with
//! the daemon's own functions in the daemon's order: [`accept::screen`] (the socket reader
//! in `runtime/receive.rs`), [`accept::arrival`] and the own-source and VRID checks
//! (`Daemon::on_packet` in `runtime/mod.rs`), then [`accept::check_advert`] (peer source,
//! [`packet::parse_advertisement`], [`packet::check_for_instance`], the address list), with
//! this segment's router in place of the daemon's `Router`. Not modelled: IPsec AH (its
//! replay counter is per incarnation and restarts at 1, which the honest routers' simulated
//! traffic does not carry) and `unicast_peer { min_ttl max_ttl }`.
//!
//! What the adversary sends, by [`Kind`]: kinds that are invalid by construction (they must
//! fail a check or be discarded by the core: the simulation verifies each), and kinds that
//! are valid by construction (VRRPv3 has no authentication, a v2 password travels in clear
//! text, unicast peers are known by their source address only), sent only by a forger.

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use vipd::vrrp::accept;
use vipd::vrrp::instance::ReceivedAdvert;
use vipd::vrrp::packet::{
    self, Advertisement, Auth, ChecksumMode, DropReason, Family, InstanceExpectation,
};

use super::Rng;

/// What a seed's adversary does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Off,
    /// Only datagrams that are invalid by construction; the seed also runs without them and
    /// the honest routers must do exactly the same in both runs.
    Invalid,
    /// Valid forgeries and replays too (and invalid datagrams among them).
    Forger,
}

/// A hostile datagram by how it was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    RandomBytes,
    BitFlip,
    Truncated,
    Extended,
    BadIpHeader,
    BadVersion,
    OtherVersion,
    BadType,
    OtherVrid,
    BadCount,
    BadAuthType,
    V2Interval,
    V3ZeroInterval,
    MissingVip,
    WrongFamily,
    WrongHopLimit,
    WrongPassword,
    NonPeerSource,
    OwnSource,
    /// To a router's own address on a multicast segment, to the group on a unicast one.
    WrongDestination,
    /// Valid by construction from here on.
    Replay,
    ForgedLeaving,
    ForgedOwner,
    ForgedPriority,
}

impl Kind {
    const INVALID: &'static [Kind] = &[
        Kind::RandomBytes,
        Kind::BitFlip,
        Kind::Truncated,
        Kind::Extended,
        Kind::BadIpHeader,
        Kind::BadVersion,
        Kind::OtherVersion,
        Kind::BadType,
        Kind::OtherVrid,
        Kind::BadCount,
        Kind::BadAuthType,
        Kind::V2Interval,
        Kind::V3ZeroInterval,
        Kind::MissingVip,
        Kind::WrongFamily,
        Kind::WrongHopLimit,
        Kind::WrongPassword,
        Kind::NonPeerSource,
        Kind::OwnSource,
        Kind::WrongDestination,
    ];
    const VALID: &'static [Kind] = &[
        Kind::Replay,
        Kind::ForgedLeaving,
        Kind::ForgedOwner,
        Kind::ForgedPriority,
    ];

    pub fn valid(self) -> bool {
        Kind::VALID.contains(&self)
    }
}

/// Why the receive path turned a datagram away.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rejection {
    Drop(&'static str),
    /// The daemon ignores datagrams from its own addresses (looped multicast).
    OwnSource,
    /// It passed the shell; the core discarded it (`Instance::discarded_adverts`).
    CoreDiscarded,
}

impl Rejection {
    fn drop(reason: DropReason) -> Rejection {
        Rejection::Drop(reason.as_str())
    }
}

/// How the routers of a seed are configured to receive (the same for all but the address).
#[derive(Clone, Debug)]
pub struct Segment {
    pub version: packet::Version,
    pub ipv6: bool,
    pub vrid: u8,
    pub unicast: bool,
    pub check_unicast_src: bool,
    pub auth: Auth,
    pub vips: Vec<IpAddr>,
    pub checksum_mode: ChecksumMode,
    pub routers: Vec<IpAddr>,
    pub intervals: Vec<Duration>,
}

impl Segment {
    pub fn group(&self) -> IpAddr {
        if self.ipv6 {
            IpAddr::V6(packet::IPV6_MULTICAST)
        } else {
            IpAddr::V4(packet::IPV4_MULTICAST)
        }
    }

    /// Where router `from` sends to router `to`.
    pub fn destination(&self, to: usize) -> IpAddr {
        if self.unicast {
            self.routers[to]
        } else {
            self.group()
        }
    }

    fn expectation(&self, node: usize) -> InstanceExpectation {
        InstanceExpectation {
            version: self.version,
            auth: self.auth,
            advert_interval_cs: centiseconds(self.intervals[node]),
        }
    }

    /// The advert router `node` sends with `priority` (`Router::advertisement`).
    pub fn advert(&self, node: usize, priority: u8) -> Advertisement {
        Advertisement {
            version: self.version,
            vrid: self.vrid,
            priority,
            advert_interval_cs: centiseconds(self.intervals[node]),
            addresses: self.vips.clone(),
            auth: self.auth,
        }
    }

    /// `advert` on the wire from `src` to `dst` with this hop limit.
    pub fn wire(&self, advert: &Advertisement, src: IpAddr, dst: IpAddr, hop: u8) -> Datagram {
        let payload = advert.to_bytes(src, dst, self.checksum_mode);
        Datagram::new(payload, src, dst, hop)
    }
}

pub fn centiseconds(interval: Duration) -> u16 {
    u16::try_from(interval.as_millis() / 10).unwrap_or(u16::MAX)
}

/// A datagram as the socket delivers it: IPv4 with its header (src, dst and TTL are then
/// the header's), IPv6 without (they come from ancillary data).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    pub data: Vec<u8>,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub hop_limit: u8,
}

impl Datagram {
    fn new(payload: Vec<u8>, src: IpAddr, dst: IpAddr, hop_limit: u8) -> Datagram {
        let data = match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => ipv4(s, d, hop_limit, &payload),
            _ => payload,
        };
        Datagram {
            data,
            src,
            dst,
            hop_limit,
        }
    }

    fn header_len(&self) -> usize {
        match self.src {
            IpAddr::V4(_) => 20,
            IpAddr::V6(_) => 0,
        }
    }

    /// The VRRP message.
    fn payload(&self) -> &[u8] {
        &self.data[self.header_len().min(self.data.len())..]
    }

    fn with_payload(&self, payload: Vec<u8>) -> Datagram {
        Datagram::new(payload, self.src, self.dst, self.hop_limit)
    }
}

fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, payload: &[u8]) -> Vec<u8> {
    let mut data = vec![0x45, 0xc0, 0, 0, 0, 0, 0, 0, ttl, packet::PROTOCOL, 0, 0];
    data.extend_from_slice(&src.octets());
    data.extend_from_slice(&dst.octets());
    data.extend_from_slice(payload);
    let total = u16::try_from(data.len()).unwrap_or(u16::MAX).to_be_bytes();
    data[2..4].copy_from_slice(&total);
    data
}

/// Router `node` of `segment` as the receive checks see it: the instance of
/// [`accept::check_advert`] (`Router` is the daemon's).
struct Node<'s> {
    segment: &'s Segment,
    node: usize,
    /// The other routers: its unicast peers.
    peers: Vec<IpAddr>,
}

impl accept::Receiver for Node<'_> {
    fn settings(&self, _src: IpAddr) -> accept::Settings<'_> {
        accept::Settings {
            unicast: self.segment.unicast,
            ipv6: self.segment.ipv6,
            unicast_ttl: None,
            check_unicast_src: self.segment.check_unicast_src,
            unicast_peers: &self.peers,
            peer_ttl: None,
            any_peer_ttl: false,
            checksum_mode: self.segment.checksum_mode,
        }
    }

    fn open<'d>(&mut self, _datagram: &'d [u8], advert: &'d [u8]) -> Result<&'d [u8], DropReason> {
        Ok(advert)
    }

    fn expectation(&self) -> InstanceExpectation {
        self.segment.expectation(self.node)
    }

    fn check_addresses(&mut self, _from: IpAddr, addresses: &[IpAddr]) -> Result<(), DropReason> {
        packet::check_address_list(addresses, &self.segment.vips)
    }
}

/// The daemon's receive path for router `node` (see the module documentation): the advert
/// the core is given, or why there is none.
pub fn shell_receive(
    segment: &Segment,
    node: usize,
    datagram: &Datagram,
) -> Result<ReceivedAdvert, Rejection> {
    let data = &datagram.data[..];
    // runtime/receive.rs `screen` (the socket reader).
    accept::screen(data, datagram.src.is_ipv4(), |vrid| vrid == segment.vrid)
        .map_err(|(_, reason)| Rejection::drop(reason))?;
    // runtime/mod.rs `Daemon::on_packet` (the event loop).
    let arrival = accept::arrival(data, datagram.src, datagram.dst, datagram.hop_limit, false)
        .map_err(Rejection::drop)?;
    if arrival.src == segment.routers[node] {
        return Err(Rejection::OwnSource);
    }
    if arrival.vrid() != Some(segment.vrid) {
        return Err(Rejection::drop(DropReason::UnknownVrid));
    }
    let mut receiver = Node {
        segment,
        node,
        peers: (segment.routers.iter())
            .enumerate()
            .filter(|(i, _)| *i != node)
            .map(|(_, a)| *a)
            .collect(),
    };
    let advert = accept::check_advert(&mut receiver, &arrival, data).map_err(Rejection::drop)?;
    Ok(ReceivedAdvert {
        source: arrival.src,
        priority: advert.priority,
        advert_interval: Duration::from_millis(u64::from(advert.advert_interval_cs) * 10),
    })
}

/// Figures of the adversaries of a run.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub seeds: u64,
    pub injected: BTreeMap<Kind, u64>,
    /// Deliveries (one datagram reaches every router it is sent to) by outcome.
    pub rejected: BTreeMap<Rejection, u64>,
    pub accepted: u64,
    pub differential_runs: u64,
}

impl Stats {
    pub fn add(&mut self, o: &Stats) {
        self.seeds += o.seeds;
        for (k, v) in &o.injected {
            *self.injected.entry(*k).or_default() += v;
        }
        for (k, v) in &o.rejected {
            *self.rejected.entry(*k).or_default() += v;
        }
        self.accepted += o.accepted;
        self.differential_runs += o.differential_runs;
    }

    pub fn summary(&self) -> String {
        let injected: u64 = self.injected.values().sum();
        let rejected: u64 = self.rejected.values().sum();
        let kinds: Vec<String> = (self.injected.iter())
            .map(|(k, v)| format!("{k:?} {v}"))
            .collect();
        let reasons: Vec<String> = (self.rejected.iter())
            .map(|(k, v)| match k {
                Rejection::Drop(reason) => format!("{reason} {v}"),
                other => format!("{other:?} {v}"),
            })
            .collect();
        format!(
            "adversary: {} seeds ({} also run without it, traces compared), {injected} hostile \
             datagrams ({}), {} deliveries rejected ({}), {} valid forgeries accepted",
            self.seeds,
            self.differential_runs,
            kinds.join(", "),
            rejected,
            reasons.join(", "),
            self.accepted
        )
    }
}

/// A host on the segment that sniffs the honest adverts and injects its own.
pub struct Adversary {
    pub mode: Mode,
    pub rng: Rng,
    /// Honest adverts seen on the wire: (sender, datagram).
    observed: VecDeque<(usize, Datagram)>,
    /// Its own address: on the segment, not a router.
    stranger: IpAddr,
    /// The longest interval a forgery advertises (a v3 backup that believes it waits three
    /// of them).
    pub max_forged_interval: Duration,
    pub stats: Stats,
}

/// One crafted datagram and the routers it reaches.
pub struct Crafted {
    pub kind: Kind,
    pub datagram: Datagram,
    pub targets: Vec<usize>,
}

impl Adversary {
    pub fn new(mode: Mode, seed: u64, segment: &Segment) -> Adversary {
        let mut rng = Rng(seed ^ 0x5eed_adfe_0000_0001);
        let stranger = if segment.ipv6 {
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xbad))
        } else {
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 66))
        };
        let honest = segment.intervals.iter().max().copied().unwrap_or_default();
        // v2 adverts must carry the receiver's interval; v3 ones may claim up to 40.95 s
        // (a long one only where honest intervals are long: it is slow to simulate).
        let max_forged_interval = match segment.version {
            packet::Version::V2 => honest,
            packet::Version::V3 if honest >= Duration::from_secs(1) && rng.chance(300) => {
                Duration::from_millis(u64::from(packet::MAX_V3_INTERVAL_CS) * 10)
            }
            packet::Version::V3 => honest * 2,
        };
        Adversary {
            mode,
            rng,
            observed: VecDeque::new(),
            stranger,
            max_forged_interval,
            stats: Stats {
                seeds: 1,
                ..Stats::default()
            },
        }
    }

    /// An honest advert went out: remembered for replays and mutations.
    pub fn observe(&mut self, sender: usize, datagram: Datagram) {
        if self.observed.len() >= 64 {
            // Keep some old ones: replays of long-gone states are the interesting ones.
            let drop_at = self.rng.below(64) as usize;
            self.observed.remove(drop_at);
        }
        self.observed.push_back((sender, datagram));
    }

    fn everyone_but(&self, segment: &Segment, sender: Option<usize>) -> Vec<usize> {
        (0..segment.routers.len())
            .filter(|&i| Some(i) != sender)
            .collect()
    }

    /// A source for a forgery: the adversary's own, or a router's (spoofed), returned with
    /// the router it is, if any (which then does not get the datagram: it would drop it as
    /// its own).
    fn source(&mut self, segment: &Segment, allow_stranger: bool) -> (IpAddr, Option<usize>) {
        if allow_stranger && self.rng.chance(400) {
            return (self.stranger, None);
        }
        let node = self.rng.below(segment.routers.len() as u64) as usize;
        (segment.routers[node], Some(node))
    }

    /// A valid advert from `src` (the password sniffed: it travels in clear text).
    fn forged_advert(&mut self, segment: &Segment, priority: u8) -> Advertisement {
        let interval = match segment.version {
            packet::Version::V2 => *self.rng.pick(&segment.intervals),
            packet::Version::V3 => {
                let choices = [
                    *self.rng.pick(&segment.intervals),
                    self.max_forged_interval,
                    Duration::from_millis(10),
                ];
                *self.rng.pick(&choices)
            }
        };
        Advertisement {
            version: segment.version,
            vrid: segment.vrid,
            priority,
            advert_interval_cs: centiseconds(interval),
            addresses: segment.vips.clone(),
            auth: segment.auth,
        }
    }

    /// Sends `advert` from `src` to `targets` (unicast: to one of them).
    fn send(
        &mut self,
        segment: &Segment,
        kind: Kind,
        advert: &Advertisement,
        src: IpAddr,
        hop: u8,
        targets: Vec<usize>,
    ) -> Option<Crafted> {
        let targets = self.narrow(segment, targets)?;
        let dst = segment.destination(targets[0]);
        Some(Crafted {
            kind,
            datagram: segment.wire(advert, src, dst, hop),
            targets,
        })
    }

    /// Unicast reaches one router; multicast all of them.
    fn narrow(&mut self, segment: &Segment, targets: Vec<usize>) -> Option<Vec<usize>> {
        if targets.is_empty() {
            return None;
        }
        if segment.unicast {
            Some(vec![*self.rng.pick(&targets)])
        } else {
            Some(targets)
        }
    }

    /// Something to mutate: an honest advert seen, or a valid forgery.
    fn base(&mut self, segment: &Segment) -> Crafted {
        if !self.observed.is_empty() && self.rng.chance(700) {
            let index = self.rng.below(self.observed.len() as u64) as usize;
            let (sender, datagram) = self.observed[index].clone();
            let targets = if segment.unicast {
                (0..segment.routers.len())
                    .filter(|&i| segment.routers[i] == datagram.dst)
                    .collect()
            } else {
                self.everyone_but(segment, Some(sender))
            };
            return Crafted {
                kind: Kind::Replay,
                datagram,
                targets,
            };
        }
        let priority = 1 + self.rng.below(255) as u8;
        let advert = self.forged_advert(segment, priority);
        let allow_stranger = !(segment.unicast && segment.check_unicast_src);
        let (src, spoofed) = self.source(segment, allow_stranger);
        let targets = self.everyone_but(segment, spoofed);
        let targets = self.narrow(segment, targets).unwrap_or_default();
        let dst = segment.destination(targets.first().copied().unwrap_or(0));
        Crafted {
            kind: Kind::ForgedPriority,
            datagram: segment.wire(&advert, src, dst, packet::HOP_LIMIT),
            targets,
        }
    }

    /// The next hostile datagram; None when there is nothing to send it to.
    pub fn craft(&mut self, segment: &Segment) -> Option<Crafted> {
        let kind = if self.mode == Mode::Forger && self.rng.chance(500) {
            *self.rng.pick(Kind::VALID)
        } else {
            *self.rng.pick(Kind::INVALID)
        };
        let crafted = self.craft_kind(segment, kind)?;
        if crafted.targets.is_empty() {
            return None;
        }
        *self.stats.injected.entry(crafted.kind).or_default() += 1;
        Some(crafted)
    }

    fn craft_kind(&mut self, segment: &Segment, kind: Kind) -> Option<Crafted> {
        let v2 = segment.version == packet::Version::V2;
        let mutate = |c: Crafted, kind: Kind, payload: Vec<u8>| Crafted {
            kind,
            datagram: c.datagram.with_payload(payload),
            targets: c.targets,
        };
        // The VRRP message of a valid base, with `edit` applied and the checksum fixed.
        let edited = |this: &mut Self, kind: Kind, edit: &dyn Fn(&mut Self, &mut Vec<u8>)| {
            let base = this.base(segment);
            let mut message = base.datagram.payload().to_vec();
            edit(this, &mut message);
            let family = Family::of(&base.datagram.src);
            let mut view = packet::Packet::new_unchecked(&mut message[..], family);
            view.set_checksum(0);
            view.fill_checksum(base.datagram.src, base.datagram.dst, segment.checksum_mode);
            Some(mutate(base, kind, message))
        };
        match kind {
            Kind::RandomBytes => {
                let base = self.base(segment);
                let len = self.rng.below(120) as usize;
                let mut bytes: Vec<u8> = (0..len).map(|_| self.rng.below(256) as u8).collect();
                if bytes.len() > 1 && self.rng.chance(500) {
                    bytes[1] = segment.vrid;
                }
                Some(mutate(base, kind, bytes))
            }
            Kind::BitFlip => {
                // One's complement sums catch every single-bit error.
                let base = self.base(segment);
                let mut message = base.datagram.payload().to_vec();
                let bit = self.rng.below(message.len() as u64 * 8) as usize;
                message[bit / 8] ^= 1 << (bit % 8);
                Some(mutate(base, kind, message))
            }
            Kind::Truncated => {
                let base = self.base(segment);
                let message = base.datagram.payload();
                let cut = self.rng.below(message.len() as u64) as usize;
                let message = message[..cut].to_vec();
                Some(mutate(base, kind, message))
            }
            Kind::Extended => {
                let base = self.base(segment);
                let mut message = base.datagram.payload().to_vec();
                for _ in 0..1 + self.rng.below(40) {
                    message.push(self.rng.below(256) as u8);
                }
                Some(mutate(base, kind, message))
            }
            Kind::BadIpHeader => {
                let mut base = self.base(segment);
                if !matches!(base.datagram.src, IpAddr::V4(_)) {
                    return self.craft_kind(segment, Kind::Truncated);
                }
                let data = &mut base.datagram.data;
                match self.rng.below(3) {
                    0 => data[0] = (self.rng.below(16) as u8) << 4 | 5,
                    1 => data[0] = 0x40 | self.rng.below(5) as u8,
                    _ => {
                        let total = data.len() as u16 + 1 + self.rng.below(100) as u16;
                        data[2..4].copy_from_slice(&total.to_be_bytes());
                    }
                }
                if data[0] == 0x45 {
                    data[0] = 0x55;
                }
                base.kind = kind;
                Some(base)
            }
            Kind::BadVersion => edited(self, kind, &|this, m| {
                let version = *this.rng.pick(&[0u8, 1, 4, 5, 7, 15]);
                m[0] = version << 4 | (m[0] & 0x0f);
            }),
            Kind::OtherVersion => {
                let other = match segment.version {
                    packet::Version::V2 => packet::Version::V3,
                    packet::Version::V3 => packet::Version::V2,
                };
                let mut advert = self.forged_advert(segment, 200);
                advert.version = other;
                advert.auth = Auth::None;
                advert.advert_interval_cs = 100;
                let (src, spoofed) = self.source(segment, true);
                let targets = self.everyone_but(segment, spoofed);
                self.send(segment, kind, &advert, src, packet::HOP_LIMIT, targets)
            }
            Kind::BadType => edited(self, kind, &|this, m| {
                let t = *this.rng.pick(&[0u8, 2, 3, 15]);
                m[0] = (m[0] & 0xf0) | t;
            }),
            Kind::OtherVrid => edited(self, kind, &|this, m| {
                m[1] = m[1].wrapping_add(1 + this.rng.below(255) as u8);
            }),
            Kind::BadCount => {
                // The checksum stays the old one: it covers as many addresses as the count
                // says, and the length checks come first anyway.
                let base = self.base(segment);
                let mut message = base.datagram.payload().to_vec();
                message[3] = match self.rng.below(3) {
                    0 => 0,
                    1 => message[3].wrapping_add(1),
                    _ => message[3].wrapping_add(1 + self.rng.below(255) as u8),
                };
                Some(mutate(base, kind, message))
            }
            Kind::BadAuthType if v2 => edited(self, kind, &|this, m| {
                m[4] = m[4].wrapping_add(1 + this.rng.below(255) as u8);
            }),
            Kind::V2Interval if v2 => edited(self, kind, &|this, m| {
                m[5] = m[5].wrapping_add(1 + this.rng.below(255) as u8);
            }),
            Kind::V3ZeroInterval if !v2 => {
                let priority = 1 + self.rng.below(255) as u8;
                let mut advert = self.forged_advert(segment, priority);
                advert.advert_interval_cs = 0;
                let (src, spoofed) = self.source(segment, self.stranger_allowed(segment));
                let targets = self.everyone_but(segment, spoofed);
                self.send(segment, kind, &advert, src, packet::HOP_LIMIT, targets)
            }
            Kind::MissingVip => {
                let priority = 1 + self.rng.below(255) as u8;
                let mut advert = self.forged_advert(segment, priority);
                let other = match segment.vips[0] {
                    IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)),
                    IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 7)),
                };
                let drop = self.rng.below(advert.addresses.len() as u64) as usize;
                advert.addresses[drop] = other;
                let (src, spoofed) = self.source(segment, self.stranger_allowed(segment));
                let targets = self.everyone_but(segment, spoofed);
                self.send(segment, kind, &advert, src, packet::HOP_LIMIT, targets)
            }
            Kind::WrongFamily => {
                let priority = 1 + self.rng.below(255) as u8;
                let mut advert = self.forged_advert(segment, priority);
                if segment.ipv6 {
                    // VRRPv2 does not exist over IPv6.
                    advert.version = packet::Version::V2;
                    advert.auth = Auth::None;
                    advert.advert_interval_cs = 100;
                    advert.addresses = vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100))];
                } else {
                    advert.version = packet::Version::V3;
                    advert.addresses = segment
                        .vips
                        .iter()
                        .map(|v| match v {
                            IpAddr::V4(v4) => IpAddr::V6(v4.to_ipv6_mapped()),
                            v6 => *v6,
                        })
                        .collect();
                }
                let (src, spoofed) = self.source(segment, self.stranger_allowed(segment));
                let targets = self.everyone_but(segment, spoofed);
                self.send(segment, kind, &advert, src, packet::HOP_LIMIT, targets)
            }
            // RFC 5798 5.1.1.3 / 5.1.2.3: 255; keepalived lets IPv6 unicast through (it sends
            // those with the system's hop limit).
            Kind::WrongHopLimit if !(segment.unicast && segment.ipv6) => {
                let priority = *self.rng.pick(&[0u8, 255, 254, 1]);
                let advert = self.forged_advert(segment, priority);
                let (src, spoofed) = self.source(segment, self.stranger_allowed(segment));
                let targets = self.everyone_but(segment, spoofed);
                let hop = self.rng.below(255) as u8;
                self.send(segment, kind, &advert, src, hop, targets)
            }
            Kind::WrongPassword if matches!(segment.auth, Auth::Password(_)) => {
                let priority = *self.rng.pick(&[0u8, 255, 254, 1]);
                let mut advert = self.forged_advert(segment, priority);
                advert.auth = match self.rng.below(3) {
                    0 => Auth::None,
                    1 => Auth::from_password("guess"),
                    _ => Auth::from_password("secret!!extra"),
                };
                if advert.auth == segment.auth {
                    advert.auth = Auth::from_password("Secret");
                }
                let (src, spoofed) = self.source(segment, self.stranger_allowed(segment));
                let targets = self.everyone_but(segment, spoofed);
                self.send(segment, kind, &advert, src, packet::HOP_LIMIT, targets)
            }
            Kind::NonPeerSource if segment.unicast && segment.check_unicast_src => {
                let priority = *self.rng.pick(&[0u8, 255, 254, 1]);
                let advert = self.forged_advert(segment, priority);
                let targets = self.everyone_but(segment, None);
                let stranger = self.stranger;
                self.send(segment, kind, &advert, stranger, packet::HOP_LIMIT, targets)
            }
            Kind::OwnSource => {
                let priority = *self.rng.pick(&[0u8, 255, 254, 1]);
                let advert = self.forged_advert(segment, priority);
                let node = self.rng.below(segment.routers.len() as u64) as usize;
                let (src, dst) = (segment.routers[node], segment.destination(node));
                Some(Crafted {
                    kind,
                    datagram: segment.wire(&advert, src, dst, packet::HOP_LIMIT),
                    targets: vec![node],
                })
            }
            // RFC 5798 5.1.1.2 / 5.1.2.2, keepalived's "Expected multicast packet but received
            // unicast packet" (and the other way round): to one router only.
            Kind::WrongDestination => {
                let priority = *self.rng.pick(&[0u8, 255, 254, 1]);
                let advert = self.forged_advert(segment, priority);
                let (src, spoofed) = self.source(segment, self.stranger_allowed(segment));
                let targets = self.everyone_but(segment, spoofed);
                if targets.is_empty() {
                    return None;
                }
                let node = *self.rng.pick(&targets);
                let dst = if segment.unicast {
                    segment.group()
                } else {
                    segment.routers[node]
                };
                Some(Crafted {
                    kind,
                    datagram: segment.wire(&advert, src, dst, packet::HOP_LIMIT),
                    targets: vec![node],
                })
            }
            // Not applicable to this segment: something else invalid.
            Kind::BadAuthType
            | Kind::V2Interval
            | Kind::V3ZeroInterval
            | Kind::WrongHopLimit
            | Kind::WrongPassword
            | Kind::NonPeerSource => self.craft_kind(segment, Kind::BitFlip),
            Kind::Replay => {
                if self.observed.is_empty() {
                    return None;
                }
                let mut base = self.base(segment);
                while base.kind != Kind::Replay {
                    base = self.base(segment);
                }
                Some(base)
            }
            Kind::ForgedLeaving | Kind::ForgedOwner | Kind::ForgedPriority => {
                let priority = match kind {
                    Kind::ForgedLeaving => 0,
                    Kind::ForgedOwner => 255,
                    _ => 1 + self.rng.below(254) as u8,
                };
                let advert = self.forged_advert(segment, priority);
                let (src, spoofed) = self.source(segment, self.stranger_allowed(segment));
                let targets = self.everyone_but(segment, spoofed);
                self.send(segment, kind, &advert, src, packet::HOP_LIMIT, targets)
            }
        }
    }

    fn stranger_allowed(&self, segment: &Segment) -> bool {
        !(segment.unicast && segment.check_unicast_src)
    }
}
