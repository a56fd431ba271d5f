//! The order of the checks a received datagram passes before an instance's state machine
//! sees its advert, written once: the daemon (the socket reader in `runtime/receive.rs`,
//! `Daemon::on_packet` in `runtime/mod.rs`) and the simulation's shell
//! (`tests/sim_adversary`) both call these functions, so the simulation tests the daemon's
//! order, not a copy of it.
//!
//! 1. [`screen`] (socket reader): IPv4 header, AH header when the protocol says so, a VRID
//!    the socket runs, [`packet::screen`] (size, structure).
//! 2. [`arrival`] (event loop): source, destination, hop limit and the advert's bytes.
//! 3. The caller's own checks: the group, its own source, the instance of the VRID.
//! 4. [`check_advert`] for that instance: peer source, peer TTL range, IPsec AH,
//!    [`packet::parse_advertisement`], [`packet::check_for_instance`], the destination
//!    (multicast or unicast, as the instance sends), the address list.
//!
//! Nothing here allocates or keeps state: the instance's state (AH replay counter, address
//! list warnings, counters) stays with the caller's [`Receiver`].

use std::net::IpAddr;

use super::ah;
use super::packet::{self, Advertisement, ChecksumMode, DropReason, Family, InstanceExpectation};

/// The socket reader's cheap checks on a datagram as the socket delivered it (IPv4 with its
/// header, IPv6 the VRRP message only): a drop is the instance's when the datagram carries
/// the VRID of one of the socket's instances (`known`), else the socket's (`None`).
pub fn screen(
    datagram: &[u8],
    ipv4: bool,
    known: impl Fn(u8) -> bool,
) -> Result<(), (Option<u8>, DropReason)> {
    let (payload, family) = if ipv4 {
        let (meta, payload) = packet::split_ipv4(datagram).map_err(|reason| (None, reason))?;
        // keepalived's `auth_type AH`: the advert follows a 24-byte AH header.
        let payload = if meta.protocol == ah::PROTOCOL_AH {
            ah::advert_of_payload(payload).ok_or((None, DropReason::Truncated))?
        } else {
            payload
        };
        (payload, Family::Ipv4)
    } else {
        (datagram, Family::Ipv6)
    };
    let vrid = match payload.get(1) {
        Some(vrid) if known(*vrid) => *vrid,
        _ => return Err((None, DropReason::UnknownVrid)),
    };
    packet::screen(payload, family)
        .map(drop)
        .map_err(|reason| (Some(vrid), reason))
}

/// Where an advert came from, and its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival<'d> {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit.
    pub hop_limit: u8,
    /// The VRRP message.
    pub advert: &'d [u8],
}

impl Arrival<'_> {
    /// The VRID the advert names, if it is long enough to name one.
    pub fn vrid(&self) -> Option<u8> {
        self.advert.get(1).copied()
    }
}

/// A datagram as the socket delivered it, with the source, destination and hop limit the
/// socket reported (used for IPv6; IPv4 has them in its header). `ah`: the socket's
/// instances use IPsec AH, and the advert follows the AH header (checked by
/// [`Receiver::open`]).
pub fn arrival(
    datagram: &[u8],
    src: IpAddr,
    dst: IpAddr,
    hop_limit: u8,
    ah: bool,
) -> Result<Arrival<'_>, DropReason> {
    match src {
        IpAddr::V4(_) => {
            let (meta, payload) = packet::split_ipv4(datagram)?;
            let advert = if ah {
                ah::advert_of_payload(payload).ok_or(DropReason::Truncated)?
            } else {
                payload
            };
            Ok(Arrival {
                src: IpAddr::V4(meta.src),
                dst: IpAddr::V4(meta.dst),
                hop_limit: meta.ttl,
                advert,
            })
        }
        IpAddr::V6(_) => Ok(Arrival {
            src,
            dst,
            hop_limit,
            advert: datagram,
        }),
    }
}

/// How an instance receives, read once per advert.
#[derive(Debug, Clone, Copy)]
pub struct Settings<'a> {
    pub unicast: bool,
    pub ipv6: bool,
    /// keepalived `unicast_ttl` (what the instance sends with).
    pub unicast_ttl: Option<u8>,
    /// keepalived `check_unicast_src`.
    pub check_unicast_src: bool,
    pub unicast_peers: &'a [IpAddr],
    /// keepalived `unicast_peer { SOURCE min_ttl N max_ttl M }` for this advert's source.
    pub peer_ttl: Option<(u8, u8)>,
    /// Whether any peer has such a range (it turns the source check on).
    pub any_peer_ttl: bool,
    pub checksum_mode: ChecksumMode,
}

/// The instance an advert is for: its settings, and the checks that use its own state.
pub trait Receiver {
    fn settings(&self, src: IpAddr) -> Settings<'_>;
    /// IPsec AH: checks the AH header of `datagram` (integrity, SPI, sequence number) and
    /// gives the advert behind it. Instances without AH return `advert`.
    fn open<'d>(&mut self, datagram: &'d [u8], advert: &'d [u8]) -> Result<&'d [u8], DropReason>;
    /// An advert was refused for an unknown authentication type (or not AH where AH is
    /// configured), before the instance's own auth check.
    fn count_unknown_auth_type(&mut self) {}
    fn expectation(&self) -> InstanceExpectation;
    /// The address list check (see [`packet::check_address_list`]).
    fn check_addresses(&mut self, from: IpAddr, addresses: &[IpAddr]) -> Result<(), DropReason>;
}

/// The checks of one instance on an advert that [`arrival`] read from `datagram`, in
/// keepalived's order: source and TTL rules first, the AH header before the advert, then the
/// advert itself, the instance's version, auth and interval, and its address list.
pub fn check_advert<R: Receiver>(
    receiver: &mut R,
    arrival: &Arrival<'_>,
    datagram: &[u8],
) -> Result<Advertisement, DropReason> {
    let mut advert = Advertisement::empty();
    check_advert_into(receiver, arrival, datagram, &mut advert).map(|()| advert)
}

/// [`check_advert`] parsing into `out`, whose address list's allocation is reused: the
/// daemon keeps one for every advert it hears.
pub fn check_advert_into<R: Receiver>(
    receiver: &mut R,
    arrival: &Arrival<'_>,
    datagram: &[u8],
    out: &mut Advertisement,
) -> Result<(), DropReason> {
    let src = arrival.src;
    let settings = receiver.settings(src);
    // keepalived: a peer's own TTL range replaces the default rule, and turns the source
    // check on.
    let unicast = settings.unicast;
    let peer_ttl = settings.peer_ttl.filter(|_| unicast);
    let rx = packet::RxMeta {
        src,
        dst: arrival.dst,
        hop_limit: arrival.hop_limit,
        require_hop_limit_255: peer_ttl.is_none()
            && packet::hop_limit_255_required(
                settings.unicast,
                settings.ipv6,
                settings.unicast_ttl,
            ),
        checksum_mode: settings.checksum_mode,
    };
    if settings.unicast && (settings.check_unicast_src || settings.any_peer_ttl) {
        packet::check_unicast_source(src, settings.unicast_peers)?;
    }
    if let Some((min, max)) = peer_ttl {
        packet::check_hop_limit_range(arrival.hop_limit, min, max)?;
    }
    let parsed = receiver
        .open(datagram, arrival.advert)
        .and_then(|advert| packet::parse_advertisement_into(advert, &rx, out));
    if matches!(parsed, Err(DropReason::AuthType)) {
        receiver.count_unknown_auth_type();
    }
    parsed?;
    packet::check_for_instance(out, &receiver.expectation())?;
    // keepalived's order: after the checksum and the instance's own fields.
    packet::check_destination(arrival.dst, unicast)?;
    receiver.check_addresses(src, &out.addresses)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vrrp::packet::{Auth, Version};

    /// A unicast IPv4 instance with one peer, recording which of its steps ran.
    struct Probe {
        /// Multicast instead (no peers, no source check).
        multicast: bool,
        peers: Vec<IpAddr>,
        steps: Vec<&'static str>,
        open_fails: Option<DropReason>,
        unknown_auth_types: u32,
    }

    impl Receiver for Probe {
        fn settings(&self, _src: IpAddr) -> Settings<'_> {
            Settings {
                unicast: !self.multicast,
                ipv6: false,
                unicast_ttl: None,
                check_unicast_src: true,
                unicast_peers: &self.peers,
                peer_ttl: None,
                any_peer_ttl: false,
                checksum_mode: ChecksumMode::PseudoHeader,
            }
        }
        fn open<'d>(
            &mut self,
            _datagram: &'d [u8],
            advert: &'d [u8],
        ) -> Result<&'d [u8], DropReason> {
            self.steps.push("open");
            self.open_fails.map_or(Ok(advert), Err)
        }
        fn count_unknown_auth_type(&mut self) {
            self.unknown_auth_types += 1;
        }
        fn expectation(&self) -> InstanceExpectation {
            InstanceExpectation {
                version: Version::V3,
                auth: Auth::None,
                advert_interval_cs: 100,
            }
        }
        fn check_addresses(
            &mut self,
            _from: IpAddr,
            _addresses: &[IpAddr],
        ) -> Result<(), DropReason> {
            self.steps.push("addresses");
            Ok(())
        }
    }

    fn datagram(src: [u8; 4], ttl: u8) -> Vec<u8> {
        datagram_to(src, [192, 0, 2, 2], ttl)
    }

    fn datagram_to(src: [u8; 4], to: [u8; 4], ttl: u8) -> Vec<u8> {
        let ip = IpAddr::from(src);
        let dst = IpAddr::from(to);
        let advert = Advertisement {
            version: Version::V3,
            vrid: 51,
            priority: 100,
            advert_interval_cs: 100,
            addresses: vec!["192.0.2.100".parse().unwrap()],
            auth: Auth::None,
        };
        let payload = advert.to_bytes(ip, dst, ChecksumMode::PseudoHeader);
        let mut data = vec![0x45, 0, 0, 0, 0, 0, 0, 0, ttl, packet::PROTOCOL, 0, 0];
        data.extend_from_slice(&src);
        data.extend_from_slice(&to);
        data.extend_from_slice(&payload);
        let total = u16::try_from(data.len()).unwrap().to_be_bytes();
        data[2..4].copy_from_slice(&total);
        data
    }

    fn check(probe: &mut Probe, data: &[u8]) -> Result<Advertisement, DropReason> {
        let unused: IpAddr = "203.0.113.9".parse().unwrap();
        let arrival = arrival(data, unused, unused, 0, false).unwrap();
        check_advert(probe, &arrival, data)
    }

    fn probe(open_fails: Option<DropReason>) -> Probe {
        Probe {
            multicast: false,
            peers: vec!["192.0.2.1".parse().unwrap()],
            steps: Vec::new(),
            open_fails,
            unknown_auth_types: 0,
        }
    }

    #[test]
    fn a_peer_advert_passes_every_step_in_order() {
        let data = datagram([192, 0, 2, 1], 255);
        assert!(screen(&data, true, |vrid| vrid == 51).is_ok());
        let mut p = probe(None);
        assert_eq!(check(&mut p, &data).map(|a| a.priority), Ok(100));
        assert_eq!(p.steps, ["open", "addresses"]);
    }

    #[test]
    fn the_source_is_checked_before_the_ah_header_and_the_advert() {
        // Not a peer: refused before the AH header is opened (its replay counter untouched).
        let mut p = probe(Some(DropReason::AuthType));
        let data = datagram([192, 0, 2, 7], 255);
        assert_eq!(check(&mut p, &data), Err(DropReason::NotPeer));
        assert!(p.steps.is_empty());
        // A peer whose AH header is wrong: counted as an unknown auth type, once.
        let data = datagram([192, 0, 2, 1], 255);
        assert_eq!(check(&mut p, &data), Err(DropReason::AuthType));
        assert_eq!(
            (p.steps.as_slice(), p.unknown_auth_types),
            (&["open"][..], 1)
        );
        // TTL below 255 from a peer on the link (unicast_ttl 255): dropped after opening.
        let mut p = probe(None);
        let data = datagram([192, 0, 2, 1], 254);
        assert_eq!(check(&mut p, &data), Err(DropReason::HopLimit));
        assert_eq!(p.steps, ["open"]);
    }

    /// keepalived 2.2.7: "Expected multicast packet but received unicast packet" and the
    /// other way round. A multicast instance's socket reads what is sent to the router's
    /// own address or to broadcast; a unicast one what the host's other sockets joined.
    #[test]
    fn an_advert_sent_the_other_way_than_the_instance_sends_is_dropped() {
        let group = [224, 0, 0, 18];
        let mut multicast = probe(None);
        multicast.multicast = true;
        for to in [[192, 0, 2, 2], [192, 0, 2, 255], [255, 255, 255, 255]] {
            let data = datagram_to([192, 0, 2, 1], to, 255);
            assert_eq!(
                check(&mut multicast, &data),
                Err(DropReason::Destination),
                "{to:?}"
            );
        }
        let data = datagram_to([192, 0, 2, 1], group, 255);
        assert_eq!(check(&mut multicast, &data).map(|a| a.priority), Ok(100));
        // The unicast instance: its peer's multicast advert is dropped, its unicast one taken.
        let mut unicast = probe(None);
        let data = datagram_to([192, 0, 2, 1], group, 255);
        assert_eq!(check(&mut unicast, &data), Err(DropReason::Destination));
        assert!(!unicast.steps.contains(&"addresses"));
        let data = datagram_to([192, 0, 2, 1], [192, 0, 2, 2], 255);
        assert_eq!(check(&mut unicast, &data).map(|a| a.priority), Ok(100));
    }
}
