//! A received VRRP datagram, as the daemon handles it: IPv4 header split (or IPv6 addresses
//! from ancillary data), advert validation, the per-instance checks, then the state machine.
//!
//! Input: one flags byte, then
//! - flags bit 0 clear: an IPv4 datagram as the raw socket delivers it (header included);
//! - flags bit 0 set: 16 bytes source, 16 bytes destination, 1 byte hop limit, the payload.
//!
//! Flags bit 1 picks the v3 checksum mode, bit 2 turns the hop-limit check off (unicast).
//!
//! Properties beyond "no panic": an advert that passes validation emits back to bytes that
//! validate to the same advert, and the state machine takes it without panicking, whatever
//! its priority and interval.
#![no_main]

use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use vipd::vrrp::instance::{Instance, InstanceParams, ReceivedAdvert, Version};
use vipd::vrrp::packet::{
    self, Advertisement, Auth, ChecksumMode, InstanceExpectation, RxMeta, HOP_LIMIT,
};

fn ipv6(bytes: &[u8]) -> Option<IpAddr> {
    let octets: [u8; 16] = bytes.try_into().ok()?;
    Some(IpAddr::V6(Ipv6Addr::from(octets)))
}

fn split(flags: u8, rest: &[u8]) -> Option<(RxMeta, &[u8])> {
    let checksum_mode = if flags & 2 == 0 {
        ChecksumMode::PseudoHeader
    } else {
        ChecksumMode::NoPseudoHeader
    };
    let require_hop_limit_255 = flags & 4 == 0;
    if flags & 1 == 0 {
        let (meta, payload) = packet::split_ipv4(rest).ok()?;
        let rx = RxMeta {
            src: IpAddr::V4(meta.src),
            dst: IpAddr::V4(meta.dst),
            hop_limit: meta.ttl,
            require_hop_limit_255,
            checksum_mode,
        };
        Some((rx, payload))
    } else {
        let rx = RxMeta {
            src: ipv6(rest.get(..16)?)?,
            dst: ipv6(rest.get(16..32)?)?,
            hop_limit: *rest.get(32)?,
            require_hop_limit_255,
            checksum_mode,
        };
        Some((rx, rest.get(33..)?))
    }
}

/// The advert through the state machine of a backup and of a master of its VRID.
fn drive_state_machine(advert: &Advertisement, source: IpAddr) {
    let version = match advert.version {
        packet::Version::V2 => Version::V2,
        packet::Version::V3 => Version::V3,
    };
    let received = ReceivedAdvert {
        source,
        priority: advert.priority,
        advert_interval: Duration::from_millis(u64::from(advert.advert_interval_cs) * 10),
    };
    let ours = match source {
        IpAddr::V4(_) => "192.0.2.1".parse().unwrap_or(source),
        IpAddr::V6(_) => "2001:db8::1".parse().unwrap_or(source),
    };
    for priority in [1, 100, 254, 255] {
        let mut params = InstanceParams::new(advert.vrid, ours);
        params.version = version;
        params.priority = priority;
        params.advert_interval = received.advert_interval;
        let mut instance = Instance::new(params);
        let mut now = Instant::now();
        instance.start(now);
        for round in 0..4 {
            if round == 2 {
                // The same advert once more while master (or still backup).
                instance.handle_advert(now, &received);
            }
            instance.handle_advert(now, &received);
            while instance.poll_action().is_some() {}
            let Some(next) = instance.poll_timeout() else {
                break;
            };
            now = next.max(now);
            instance.handle_timeout(now);
            while instance.poll_action().is_some() {}
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let Some((rx, payload)) = split(flags, rest) else {
        return;
    };
    let Ok(advert) = packet::parse_advertisement(payload, &rx) else {
        return;
    };
    let expectation = InstanceExpectation {
        version: advert.version,
        auth: advert.auth,
        advert_interval_cs: advert.advert_interval_cs.max(100),
    };
    if packet::check_for_instance(&advert, &expectation).is_err() {
        // Dropped before any instance sees it (a v2 interval of 0 seconds, say).
        assert!(advert.version == packet::Version::V2 && advert.advert_interval_cs == 0);
        return;
    }
    // What an instance accepts means the same after a round trip through the wire format.
    let bytes = advert.to_bytes(rx.src, rx.dst, rx.checksum_mode);
    let again = packet::parse_advertisement(
        &bytes,
        &RxMeta {
            hop_limit: HOP_LIMIT,
            ..rx
        },
    );
    assert_eq!(again.as_ref(), Ok(&advert), "emitted {bytes:02x?}");
    let _ = packet::check_for_instance(
        &advert,
        &InstanceExpectation {
            version: packet::Version::V2,
            auth: Auth::from_password("secret"),
            advert_interval_cs: 100,
        },
    );
    drive_state_machine(&advert, rx.src);
});
