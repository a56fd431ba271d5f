//! IPsec AH authentication of VRRPv2 adverts over IPv4, as keepalived 2.2.7 does it
//! (`authentication { auth_type AH; auth_pass X }`, RFC 2338 5.3.6 with RFC 2402 AH and
//! RFC 2403 HMAC-MD5-96).
//!
//! The IP datagram is `IPv4 header (protocol 51) | AH header (24 bytes) | VRRP advert` whose
//! auth type is 2 with zero authentication data. The AH header carries:
//! - next header 112 (VRRP), payload length 4 (AH length in 32-bit words minus 2);
//! - SPI: the sender's IPv4 address;
//! - a sequence number: one counter per instance, shared between sending and receiving as
//!   in keepalived. A sent advert carries the counter plus one; a received advert must carry
//!   more than the counter, which then takes its value. keepalived counts from 1 again after
//!   a restart; vipd resumes at a high-water mark it keeps in its state directory
//!   ([`AhSession::resume_at`], [`AhSession::reservation_due`]), so adverts recorded before
//!   the restart stay replays. A peer whose counter is behind has its adverts dropped until
//!   it has heard a higher number (keepalived's peers converge within an advert or two);
//! - the ICV: the first 12 bytes of HMAC-MD5 keyed with the password's first 8 bytes
//!   (zero-padded) over the IP header with TOS, fragment offset/flags and checksum zeroed
//!   (and TTL too for unicast adverts, but not for multicast ones: keepalived's choice), the
//!   AH header with a zero ICV, and the advert.
//!
//! Sans-I/O: [`AhSession::seal`] turns an advert into the whole IP datagram to send (with
//! `IP_HDRINCL`), [`AhSession::open`] checks a received datagram and hands back the advert.

use std::fmt;
use std::net::Ipv4Addr;

use hmac::{Hmac, Mac};
use md5::Md5;

use super::packet::{DropReason, AUTH_DATA_LEN, PROTOCOL};

/// IP protocol number of the Authentication Header.
pub const PROTOCOL_AH: u8 = 51;
/// Length of the AH header keepalived sends: 12 fixed bytes and a 12-byte ICV.
pub const AH_LEN: usize = 24;
/// AH payload length field: the header's length in 32-bit words, minus 2.
const PAYLOAD_LEN_WORDS: u8 = (AH_LEN / 4 - 2) as u8;
/// HMAC-MD5-96: the digest truncated to 96 bits.
pub const ICV_LEN: usize = 12;
/// IPv4 header without options.
const IPV4_HEADER_LEN: usize = 20;
/// keepalived's TOS for adverts (internetwork control).
const TOS_INTERNETWORK_CONTROL: u8 = 0xc0;
/// keepalived stops counting here ("cycled"); 2^32 - 3 adverts of at least a second each.
const LAST_SEQUENCE: u32 = 0xffff_fffd;
/// How far above the counter the stored high-water mark is put: one write per this many
/// numbers (about 70 minutes of 1 s adverts), and a restart skips at most this many (a
/// million restarts before the counter runs out).
pub const RESERVE: u32 = 4096;

mod field {
    pub type Field = core::ops::Range<usize>;

    pub const NEXT_HEADER: usize = 0;
    pub const PAYLOAD_LEN: usize = 1;
    pub const SPI: Field = 4..8;
    pub const SEQUENCE: Field = 8..12;
    pub const ICV: Field = 12..24;
}

/// A typed view of an AH header at the start of `buffer`.
#[derive(Debug, Clone)]
pub struct AhHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> AhHeader<T> {
    /// Checks the buffer holds a whole AH header of keepalived's length.
    pub fn new_checked(buffer: T) -> Result<AhHeader<T>, DropReason> {
        if buffer.as_ref().len() < AH_LEN {
            return Err(DropReason::Truncated);
        }
        Ok(AhHeader { buffer })
    }

    fn u32_at(&self, range: field::Field) -> u32 {
        let bytes = &self.buffer.as_ref()[range];
        u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
    }

    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NEXT_HEADER]
    }

    pub fn payload_len(&self) -> u8 {
        self.buffer.as_ref()[field::PAYLOAD_LEN]
    }

    /// Security parameters index: keepalived puts the sender's IPv4 address there.
    pub fn spi(&self) -> u32 {
        self.u32_at(field::SPI)
    }

    pub fn sequence(&self) -> u32 {
        self.u32_at(field::SEQUENCE)
    }

    pub fn icv(&self) -> [u8; ICV_LEN] {
        let mut icv = [0; ICV_LEN];
        icv.copy_from_slice(&self.buffer.as_ref()[field::ICV]);
        icv
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> AhHeader<T> {
    pub fn set_next_header(&mut self, value: u8) {
        self.buffer.as_mut()[field::NEXT_HEADER] = value;
    }

    pub fn set_payload_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::PAYLOAD_LEN] = value;
    }

    pub fn set_spi(&mut self, value: u32) {
        self.buffer.as_mut()[field::SPI].copy_from_slice(&value.to_be_bytes());
    }

    pub fn set_sequence(&mut self, value: u32) {
        self.buffer.as_mut()[field::SEQUENCE].copy_from_slice(&value.to_be_bytes());
    }

    pub fn set_icv(&mut self, icv: &[u8; ICV_LEN]) {
        self.buffer.as_mut()[field::ICV].copy_from_slice(icv);
    }
}

/// The HMAC key: the password's first 8 bytes, zero-padded (keepalived keys with its 8-byte
/// authentication data field).
#[derive(Clone, PartialEq, Eq)]
pub struct AhKey([u8; AUTH_DATA_LEN]);

impl AhKey {
    pub fn from_password(password: &str) -> AhKey {
        let mut key = [0u8; AUTH_DATA_LEN];
        for (slot, byte) in key.iter_mut().zip(password.bytes()) {
            *slot = byte;
        }
        AhKey(key)
    }
}

// Keeps passwords out of logs.
impl fmt::Debug for AhKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AhKey(..)")
    }
}

/// The ICV of a datagram: `ip_header` as sent (options included), `ah` with any ICV (it is
/// taken as zero), `advert` the VRRP message. TTL is left in unless `zero_ttl`.
pub fn icv(
    key: &AhKey,
    ip_header: &[u8],
    ah: &[u8],
    advert: &[u8],
    zero_ttl: bool,
) -> [u8; ICV_LEN] {
    let mut mac = <Hmac<Md5> as Mac>::new_from_slice(&key.0)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    let mut header = [0u8; 60];
    let header_len = ip_header.len().min(header.len());
    header[..header_len].copy_from_slice(&ip_header[..header_len]);
    // Mutable fields (RFC 2402 3.3.3.1.1.1): TOS, flags/fragment offset, checksum; TTL only
    // for unicast, as keepalived does.
    header[1] = 0;
    header[6] = 0;
    header[7] = 0;
    header[10] = 0;
    header[11] = 0;
    if zero_ttl {
        header[8] = 0;
    }
    mac.update(&header[..header_len]);
    let fixed = ah.get(..field::ICV.start).unwrap_or(ah);
    mac.update(fixed);
    mac.update(&[0u8; ICV_LEN]);
    mac.update(advert);
    let digest = mac.finalize().into_bytes();
    let mut out = [0u8; ICV_LEN];
    out.copy_from_slice(&digest[..ICV_LEN]);
    out
}

/// One instance's AH state: the key, keepalived's shared sequence counter, and the IP
/// identification of the datagrams it sends (keepalived numbers them 1, 2, ...; the ICV
/// covers the field, so it is set here rather than by the kernel).
#[derive(Debug, Clone)]
pub struct AhSession {
    key: AhKey,
    sequence: u32,
    ip_id: u16,
    /// The high-water mark last handed out to be stored (0: none yet).
    reserved: u32,
}

impl AhSession {
    pub fn new(key: AhKey) -> AhSession {
        AhSession {
            key,
            sequence: 0,
            ip_id: 0,
            reserved: 0,
        }
    }

    /// Starts the counter at a high-water mark stored by an earlier run (never lowers it):
    /// adverts numbered up to `mark`, recorded before a restart, are then dropped as
    /// replays, and the next advert sent carries `mark + 1`.
    pub fn resume_at(&mut self, mark: u32) {
        self.sequence = self.sequence.max(mark.min(LAST_SEQUENCE + 1));
    }

    /// Whether a high-water mark was handed out yet (a fresh session resumes first).
    pub fn has_reservation(&self) -> bool {
        self.reserved != 0
    }

    /// The high-water mark to store now, when the counter came within half a [`RESERVE`] of
    /// the last one handed out (or none was): the counter plus [`RESERVE`]. Writing it before
    /// the counter climbs another half reservation keeps every number used below the stored
    /// mark, without a write per advert.
    pub fn reservation_due(&mut self) -> Option<u32> {
        if self.reserved != 0
            && (self.sequence.saturating_add(RESERVE / 2) < self.reserved
                || self.reserved == u32::MAX)
        {
            return None;
        }
        self.reserved = self.sequence.saturating_add(RESERVE);
        Some(self.reserved)
    }

    /// The sequence counter: the last number sent or accepted.
    pub fn sequence(&self) -> u32 {
        self.sequence
    }

    /// The whole IPv4 datagram carrying `advert` (a VRRPv2 advert with auth type AH) from
    /// `src` to `dst` with this TTL; `unicast` decides whether the TTL is in the ICV.
    pub fn seal(
        &mut self,
        advert: &[u8],
        src: Ipv4Addr,
        dst: Ipv4Addr,
        ttl: u8,
        unicast: bool,
    ) -> Vec<u8> {
        if self.sequence <= LAST_SEQUENCE {
            self.sequence += 1;
        }
        // The kernel fills in an identification of 0 itself; keepalived skips it too.
        self.ip_id = self.ip_id.wrapping_add(1).max(1);
        let total = IPV4_HEADER_LEN + AH_LEN + advert.len();
        let mut datagram = vec![0u8; total];
        let total_len = u16::try_from(total).unwrap_or(u16::MAX);
        let header = &mut datagram[..IPV4_HEADER_LEN];
        header[0] = 0x45;
        header[1] = TOS_INTERNETWORK_CONTROL;
        header[2..4].copy_from_slice(&total_len.to_be_bytes());
        header[4..6].copy_from_slice(&self.ip_id.to_be_bytes());
        header[8] = ttl;
        header[9] = PROTOCOL_AH;
        header[12..16].copy_from_slice(&src.octets());
        header[16..20].copy_from_slice(&dst.octets());
        // Checksum left 0: the kernel computes it for IP_HDRINCL sockets.
        datagram[IPV4_HEADER_LEN + AH_LEN..].copy_from_slice(advert);
        {
            let mut ah = AhHeader {
                buffer: &mut datagram[IPV4_HEADER_LEN..IPV4_HEADER_LEN + AH_LEN],
            };
            ah.set_next_header(PROTOCOL);
            ah.set_payload_len(PAYLOAD_LEN_WORDS);
            ah.set_spi(u32::from(src));
            ah.set_sequence(self.sequence);
        }
        let (header, rest) = datagram.split_at(IPV4_HEADER_LEN);
        let (ah, advert) = rest.split_at(AH_LEN);
        let icv = icv(&self.key, header, ah, advert, unicast);
        datagram[IPV4_HEADER_LEN + field::ICV.start..IPV4_HEADER_LEN + AH_LEN]
            .copy_from_slice(&icv);
        datagram
    }

    /// Checks a received IPv4 datagram (header included, as a raw socket delivers it) in
    /// keepalived's order: AH layout, ICV (a wrong password or a changed field), SPI equal
    /// to the source, then the sequence number, which is recorded. Returns the advert.
    pub fn open<'a>(&mut self, datagram: &'a [u8], unicast: bool) -> Result<&'a [u8], DropReason> {
        let (header, rest) = split_header(datagram)?;
        if header.get(9) != Some(&PROTOCOL_AH) {
            return Err(DropReason::AuthType);
        }
        let ah_bytes = rest.get(..AH_LEN).ok_or(DropReason::Truncated)?;
        let advert = rest.get(AH_LEN..).ok_or(DropReason::Truncated)?;
        let ah = AhHeader::new_checked(ah_bytes)?;
        if ah.next_header() != PROTOCOL || ah.payload_len() != PAYLOAD_LEN_WORDS {
            return Err(DropReason::AuthType);
        }
        let expected = icv(&self.key, header, ah_bytes, advert, unicast);
        if !constant_time_eq(&expected, &ah.icv()) {
            return Err(DropReason::AuthPassword);
        }
        let src = u32::from_be_bytes([header[12], header[13], header[14], header[15]]);
        if ah.spi() != src {
            return Err(DropReason::AuthPassword);
        }
        if ah.sequence() <= self.sequence {
            return Err(DropReason::Replayed);
        }
        self.sequence = ah.sequence();
        Ok(advert)
    }
}

/// The IPv4 header (options included) and what follows it, up to the total length.
fn split_header(datagram: &[u8]) -> Result<(&[u8], &[u8]), DropReason> {
    let first = *datagram.first().ok_or(DropReason::Truncated)?;
    if first >> 4 != 4 {
        return Err(DropReason::IpHeader);
    }
    let header_len = usize::from(first & 0x0f) * 4;
    let total = datagram.get(2..4).ok_or(DropReason::Truncated)?;
    let total_len = usize::from(u16::from_be_bytes([total[0], total[1]]));
    if header_len < IPV4_HEADER_LEN || total_len < header_len {
        return Err(DropReason::IpHeader);
    }
    let datagram = datagram.get(..total_len).ok_or(DropReason::Truncated)?;
    Ok(datagram.split_at(header_len))
}

fn constant_time_eq(a: &[u8; ICV_LEN], b: &[u8; ICV_LEN]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The advert inside an AH datagram's payload (after the IPv4 header), for the cheap checks
/// that run before the instance is known: `None` when it cannot be one.
pub fn advert_of_payload(payload: &[u8]) -> Option<&[u8]> {
    let ah = AhHeader::new_checked(payload).ok()?;
    (ah.next_header() == PROTOCOL).then(|| payload.get(AH_LEN..))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vrrp::packet::{self, Advertisement, Auth, ChecksumMode, Version};

    // IP datagrams captured from keepalived 2.2.7 (daemon/tests/data/captures/v2_ipv4_ah.pcap):
    // 192.0.2.1 -> 224.0.0.18, vrid 51, priority 150, 1 s, VIP 192.0.2.100,
    // `auth_type AH`, `auth_pass secret`. The kernel filled in the IP checksum.

    /// The first advert: IP id 1, sequence 1.
    static AH_SEQ1: [u8; 64] = [
        0x45, 0xc0, 0x00, 0x40, 0x00, 0x01, 0x00, 0x00, 0xff, 0x33, 0x18, 0xb6, //
        0xc0, 0x00, 0x02, 0x01, 0xe0, 0x00, 0x00, 0x12, 0x70, 0x04, 0x00, 0x00, //
        0xc0, 0x00, 0x02, 0x01, 0x00, 0x00, 0x00, 0x01, 0x70, 0x54, 0x1b, 0x79, //
        0x02, 0xa0, 0x8f, 0x2e, 0xdc, 0xbd, 0x9d, 0xe3, 0x21, 0x33, 0x96, 0x01, //
        0x02, 0x01, 0x84, 0x65, 0xc0, 0x00, 0x02, 0x64, 0x00, 0x00, 0x00, 0x00, //
        0x00, 0x00, 0x00, 0x00,
    ];
    /// The priority-0 advert on SIGTERM: IP id 4, sequence 4.
    static AH_SEQ4_PRIO0: [u8; 64] = [
        0x45, 0xc0, 0x00, 0x40, 0x00, 0x04, 0x00, 0x00, 0xff, 0x33, 0x18, 0xb3, //
        0xc0, 0x00, 0x02, 0x01, 0xe0, 0x00, 0x00, 0x12, 0x70, 0x04, 0x00, 0x00, //
        0xc0, 0x00, 0x02, 0x01, 0x00, 0x00, 0x00, 0x04, 0x14, 0x78, 0x1e, 0x52, //
        0x07, 0x43, 0x9e, 0x13, 0xce, 0x9d, 0xaa, 0x9f, 0x21, 0x33, 0x00, 0x01, //
        0x02, 0x01, 0x1a, 0x66, 0xc0, 0x00, 0x02, 0x64, 0x00, 0x00, 0x00, 0x00, //
        0x00, 0x00, 0x00, 0x00,
    ];

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

    fn session(password: &str) -> AhSession {
        AhSession::new(AhKey::from_password(password))
    }

    fn advert(priority: u8) -> Vec<u8> {
        Advertisement {
            version: Version::V2,
            vrid: 51,
            priority,
            advert_interval_cs: 100,
            addresses: vec!["192.0.2.100".parse().unwrap()],
            auth: Auth::Ah,
        }
        .to_bytes(
            SRC.into(),
            packet::IPV4_MULTICAST.into(),
            ChecksumMode::default(),
        )
    }

    #[test]
    fn deconstructs_keepalived_ah_header() {
        let ah = AhHeader::new_checked(&AH_SEQ1[20..44]).unwrap();
        assert_eq!(ah.next_header(), 112);
        assert_eq!(ah.payload_len(), 4);
        assert_eq!(ah.spi(), u32::from(SRC));
        assert_eq!(ah.sequence(), 1);
        assert!(AhHeader::new_checked(&AH_SEQ1[20..40]).is_err());
    }

    #[test]
    fn seals_byte_for_byte_as_keepalived_except_the_kernel_checksum() {
        let mut ours = session("secret");
        let first = ours.seal(&advert(150), SRC, packet::IPV4_MULTICAST, 255, false);
        let mut expected = AH_SEQ1.to_vec();
        expected[10..12].fill(0);
        assert_eq!(first, expected);
        ours.seal(&advert(150), SRC, packet::IPV4_MULTICAST, 255, false);
        ours.seal(&advert(150), SRC, packet::IPV4_MULTICAST, 255, false);
        let fourth = ours.seal(&advert(0), SRC, packet::IPV4_MULTICAST, 255, false);
        let mut expected = AH_SEQ4_PRIO0.to_vec();
        expected[10..12].fill(0);
        assert_eq!(fourth, expected);
    }

    #[test]
    fn opens_keepalived_adverts_and_parses_the_advert_inside() {
        let mut peer = session("secret");
        let inside = peer.open(&AH_SEQ1, false).unwrap();
        let parsed = Advertisement::parse(
            &packet::Packet::new_checked(inside, packet::Family::Ipv4).unwrap(),
        )
        .unwrap();
        assert_eq!(
            (parsed.vrid, parsed.priority, parsed.auth),
            (51, 150, Auth::Ah)
        );
        assert_eq!(peer.sequence(), 1);
        assert!(peer.open(&AH_SEQ4_PRIO0, false).is_ok());
        assert_eq!(peer.sequence(), 4);
    }

    #[test]
    fn a_wrong_password_a_changed_field_or_a_replay_is_dropped() {
        assert_eq!(
            session("secreT").open(&AH_SEQ1, false),
            Err(DropReason::AuthPassword)
        );
        // Only the first 8 bytes of the password count, as in keepalived.
        assert!(session("secret\0\0ignored").open(&AH_SEQ1, false).is_ok());
        let mut changed = AH_SEQ1;
        changed[46] = 254; // priority
        assert_eq!(
            session("secret").open(&changed, false),
            Err(DropReason::AuthPassword)
        );
        // Mutable fields are outside the ICV: TOS, checksum, TTL of multicast...
        let mut mutable = AH_SEQ1;
        mutable[1] = 0;
        mutable[10] = 0x12;
        assert!(session("secret").open(&mutable, false).is_ok());
        // ...but the TTL is inside for multicast (keepalived zeroes it only for unicast).
        let mut ttl = AH_SEQ1;
        ttl[8] = 64;
        assert_eq!(
            session("secret").open(&ttl, false),
            Err(DropReason::AuthPassword)
        );
        // The SPI must be the source (a copied advert from elsewhere fails the ICV first).
        let mut replay = session("secret");
        replay.open(&AH_SEQ4_PRIO0, false).unwrap();
        assert_eq!(replay.open(&AH_SEQ1, false), Err(DropReason::Replayed));
        assert_eq!(
            replay.open(&AH_SEQ4_PRIO0, false),
            Err(DropReason::Replayed)
        );
        // Malformed input costs nothing and panics nowhere.
        for cut in 0..AH_SEQ1.len() {
            assert!(session("secret").open(&AH_SEQ1[..cut], false).is_err());
        }
        let mut plain = AH_SEQ1;
        plain[9] = 112;
        assert_eq!(
            session("secret").open(&plain, false),
            Err(DropReason::AuthType)
        );
    }

    #[test]
    fn the_sequence_counter_is_shared_between_sending_and_receiving_like_keepalived() {
        let mut router = session("secret");
        // Heard the master up to 4: our first own advert carries 5.
        router.open(&AH_SEQ4_PRIO0, false).unwrap();
        let sent = router.seal(&advert(100), SRC, packet::IPV4_MULTICAST, 255, false);
        let ah = AhHeader::new_checked(&sent[20..44]).unwrap();
        assert_eq!(ah.sequence(), 5);
        // A unicast advert leaves the TTL out of the ICV: any TTL verifies.
        let mut a = session("pw");
        let mut sent = a.seal(&advert(100), SRC, Ipv4Addr::new(192, 0, 2, 2), 64, true);
        sent[8] = 61;
        assert!(session("pw").open(&sent, true).is_ok());
        assert_eq!(
            session("pw").open(&sent, false),
            Err(DropReason::AuthPassword)
        );
    }

    #[test]
    fn every_single_byte_change_is_refused_or_harmless_and_never_panics() {
        // Every value of every byte: only the fields outside the ICV (TOS, flags/fragment
        // offset, IP checksum) may change without the advert being refused.
        for position in 0..AH_SEQ1.len() {
            for value in 0..=u8::MAX {
                let mut bytes = AH_SEQ1;
                if bytes[position] == value {
                    continue;
                }
                bytes[position] = value;
                let opened = session("secret").open(&bytes, false);
                let mutable = matches!(position, 1 | 6 | 7 | 10 | 11);
                assert_eq!(
                    opened.is_ok(),
                    mutable,
                    "byte {position} = {value:#04x}: {opened:?}"
                );
            }
        }
        // Longer than the total length says: the rest is not part of the datagram.
        let mut longer = AH_SEQ1.to_vec();
        longer.extend_from_slice(&[0xff; 40]);
        assert!(session("secret").open(&longer, false).is_ok());
    }

    #[test]
    fn a_restart_resumes_at_the_stored_mark_and_drops_older_recordings() {
        // keepalived's behaviour (and vipd's before the mark): a fresh counter takes the
        // recording of sequence 4 as new.
        assert!(session("secret").open(&AH_SEQ4_PRIO0, false).is_ok());
        // Resumed at a stored mark of 4: both recordings are replays, a newer advert passes.
        let mut restarted = session("secret");
        restarted.resume_at(4);
        assert_eq!(restarted.sequence(), 4);
        assert_eq!(restarted.open(&AH_SEQ1, false), Err(DropReason::Replayed));
        assert_eq!(
            restarted.open(&AH_SEQ4_PRIO0, false),
            Err(DropReason::Replayed)
        );
        let mut master = session("secret");
        master.resume_at(4);
        let fifth = master.seal(&advert(150), SRC, packet::IPV4_MULTICAST, 255, false);
        assert_eq!(AhHeader::new_checked(&fifth[20..44]).unwrap().sequence(), 5);
        assert!(restarted.open(&fifth, false).is_ok());
        assert_eq!(restarted.sequence(), 5);
        // A mark never lowers the counter, and stops where keepalived stops counting.
        restarted.resume_at(2);
        assert_eq!(restarted.sequence(), 5);
        restarted.resume_at(u32::MAX);
        assert_eq!(restarted.sequence(), LAST_SEQUENCE + 1);
    }

    #[test]
    fn a_reservation_is_handed_out_once_per_half_reserve() {
        let mut router = session("secret");
        assert!(!router.has_reservation());
        router.resume_at(100);
        assert_eq!(router.reservation_due(), Some(100 + RESERVE));
        assert!(router.has_reservation());
        // Nothing to store per advert...
        let mut peer = session("secret");
        peer.resume_at(100);
        for _ in 0..RESERVE / 2 - 1 {
            let sent = peer.seal(&advert(150), SRC, packet::IPV4_MULTICAST, 255, false);
            router.open(&sent, false).unwrap();
            assert_eq!(router.reservation_due(), None);
        }
        // ...until the counter is within half a reservation of the mark.
        let sent = peer.seal(&advert(150), SRC, packet::IPV4_MULTICAST, 255, false);
        router.open(&sent, false).unwrap();
        let mark = router.sequence() + RESERVE;
        assert_eq!(router.reservation_due(), Some(mark));
        assert_eq!(router.reservation_due(), None);
        // A peer far ahead moves the counter past the mark: due at once.
        router.resume_at(mark + 10);
        assert_eq!(router.reservation_due(), Some(mark + 10 + RESERVE));
        // At the end of the numbers the mark saturates and stays.
        router.resume_at(u32::MAX);
        assert_eq!(router.reservation_due(), Some(u32::MAX));
        assert_eq!(router.reservation_due(), None);
    }

    #[test]
    fn advert_of_payload_skips_the_ah_header() {
        assert_eq!(advert_of_payload(&AH_SEQ1[20..]), Some(&AH_SEQ1[44..]));
        assert_eq!(advert_of_payload(&AH_SEQ1[20..30]), None);
    }
}
