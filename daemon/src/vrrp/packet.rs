//! The VRRP wire format (RFC 3768 v2, RFC 5798 / RFC 9568 v3): a typed view over the bytes
//! of an advertisement ([`Packet`]), its meaning ([`Advertisement`]) and the receive checks
//! every advert must pass before it reaches an instance ([`parse_advertisement`],
//! [`check_for_instance`]).
//!
//! Sans-I/O: bytes and addresses in, values or a [`DropReason`] out. Nothing here panics on
//! received bytes.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::checksum::internet_checksum;

/// IP protocol / IPv6 next header number of VRRP.
pub const PROTOCOL: u8 = 112;
/// IPv4 multicast group adverts are sent to.
pub const IPV4_MULTICAST: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// IPv6 multicast group adverts are sent to.
pub const IPV6_MULTICAST: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// TTL / hop limit adverts are sent with and must arrive with (they never cross a router).
pub const HOP_LIMIT: u8 = 255;
/// The only VRRP message type.
pub const MSG_TYPE_ADVERTISEMENT: u8 = 1;
/// v2 auth type: no authentication.
pub const AUTH_TYPE_NONE: u8 = 0;
/// v2 auth type: simple text password (RFC 2338; what keepalived's `auth_type PASS` sends).
pub const AUTH_TYPE_PASSWORD: u8 = 1;
/// v2 auth type: IPsec AH (RFC 2338; keepalived's `auth_type AH`): the advert carries no
/// authentication data of its own, an AH header in front of it does (see [`super::ah`]).
pub const AUTH_TYPE_AH: u8 = 2;
/// Fixed part of every advert: version/type, VRID, priority, count, interval, checksum.
pub const HEADER_LEN: usize = 8;
/// v2 authentication data after the addresses.
pub const AUTH_DATA_LEN: usize = 8;
/// Largest interval a v3 advert can carry (12 bits of centiseconds: 40.95 s).
pub const MAX_V3_INTERVAL_CS: u16 = 0x0fff;
/// Longest VRRP message: the header and 255 IPv6 addresses (v2 carries at most 255 IPv4
/// addresses and 8 bytes of authentication, far less).
pub const MAX_MESSAGE_LEN: usize = HEADER_LEN + 255 * 16;

mod field {
    pub type Field = core::ops::Range<usize>;

    pub const VERSION_TYPE: usize = 0;
    pub const VRID: usize = 1;
    pub const PRIORITY: usize = 2;
    pub const COUNT: usize = 3;
    /// v2 only.
    pub const AUTH_TYPE: usize = 4;
    /// v2 only, seconds.
    pub const ADVER_INT: usize = 5;
    /// v3 only: 4 reserved bits, then 12 bits of centiseconds.
    pub const MAX_ADVER_INT: Field = 4..6;
    pub const CHECKSUM: Field = 6..8;
    pub const ADDRESSES: usize = 8;

    pub const fn address(index: usize, address_len: usize) -> Field {
        let start = ADDRESSES + index * address_len;
        start..start + address_len
    }

    /// v2 only; v2 addresses are always IPv4.
    pub const fn auth_data(count: usize) -> Field {
        let start = ADDRESSES + count * 4;
        start..start + super::AUTH_DATA_LEN
    }
}

/// VRRP protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// RFC 3768: IPv4 only, interval in seconds, optional password.
    V2,
    /// RFC 5798 / RFC 9568: IPv4 or IPv6, interval in centiseconds.
    V3,
}

impl Version {
    pub const fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }

    pub const fn from_number(number: u8) -> Option<Version> {
        match number {
            2 => Some(Version::V2),
            3 => Some(Version::V3),
            _ => None,
        }
    }
}

/// Address family of the IP packet an advert travels in (and so of its address list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    pub const fn of(address: &IpAddr) -> Family {
        match address {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }

    /// Bytes per address in the advert's address list.
    pub const fn address_len(self) -> usize {
        match self {
            Family::Ipv4 => 4,
            Family::Ipv6 => 16,
        }
    }

    /// Longest advert of this family: 255 addresses, and on IPv4 v2's authentication data.
    pub const fn max_message_len(self) -> usize {
        match self {
            Family::Ipv4 => HEADER_LEN + 255 * 4 + AUTH_DATA_LEN,
            Family::Ipv6 => MAX_MESSAGE_LEN,
        }
    }
}

/// How the checksum of a VRRPv3 advert over IPv4 is computed (RFC 5798 is ambiguous).
/// v2 never uses a pseudo-header and v3 over IPv6 always does, whatever this says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ChecksumMode {
    /// IPv4 pseudo-header (src, dst, 0, 112, VRRP length): keepalived's default, what
    /// tcpdump and Wireshark verify.
    #[default]
    PseudoHeader,
    /// VRRP message only, like v2: RFC 9568, Cisco/Juniper, keepalived `v3_checksum_as_v2`.
    NoPseudoHeader,
}

/// v2 authentication (ignored by v3, which carries none).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Auth {
    #[default]
    None,
    /// Simple text password, exactly the 8 bytes on the wire.
    Password([u8; AUTH_DATA_LEN]),
    /// IPsec AH: auth type 2, zero authentication data; the AH header checked before the
    /// advert is parsed carries the proof.
    Ah,
}

impl Auth {
    /// Password as keepalived sends it: the first 8 bytes, zero-padded when shorter.
    pub fn from_password(password: &str) -> Auth {
        let mut data = [0u8; AUTH_DATA_LEN];
        for (slot, byte) in data.iter_mut().zip(password.bytes()) {
            *slot = byte;
        }
        Auth::Password(data)
    }

    /// The v2 auth type number.
    pub const fn auth_type(&self) -> u8 {
        match self {
            Auth::None => AUTH_TYPE_NONE,
            Auth::Password(_) => AUTH_TYPE_PASSWORD,
            Auth::Ah => AUTH_TYPE_AH,
        }
    }
}

// Keeps passwords out of logs.
impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Password(_) => f.write_str("Password(..)"),
            Auth::Ah => f.write_str("Ah"),
        }
    }
}

/// Why a received advert was dropped. [`DropReason::as_str`] names the counters in
/// `vipd status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// TTL / hop limit is not 255: the advert crossed a router or was forged off-link.
    HopLimit,
    /// Version field is neither 2 nor 3.
    Version,
    /// Type field is not 1 (advertisement).
    Type,
    /// Shorter than the header, or than its address count announces.
    Truncated,
    /// Longer than its address count announces (trailing junk).
    Length,
    /// Checksum does not verify.
    Checksum,
    /// No instance configured for the VRID (decided by the caller).
    UnknownVrid,
    /// Version differs from the instance's.
    VersionMismatch,
    /// v2 auth type unknown or differs from the instance's.
    AuthType,
    /// v2 password differs from the instance's.
    AuthPassword,
    /// v2 advert interval differs from the instance's.
    IntervalMismatch,
    /// Source and destination of different families, or v2 over IPv6.
    AddressFamily,
    /// The IPv4 header in front of the advert is malformed.
    IpHeader,
    /// Larger than any advert (up to 255 IPv6 addresses): it did not fit the receive buffer.
    /// Any host can send one, fragmented, so it is dropped as cheaply as it is counted.
    Oversized,
    /// The socket reported an error instead of a datagram, or a datagram without the
    /// addresses it arrived with (decided by the caller).
    ReceiveError,
    /// A unicast advert from an address that is not one of the instance's peers.
    NotPeer,
    /// One of our own adverts could not be sent (send queue full, interface gone...): the
    /// shell drops it rather than wait, the next one follows.
    SendError,
    /// IPsec AH: the sequence number is not above the last one seen for the instance (a
    /// replayed advert, or a peer that restarted its count; keepalived drops these too).
    Replayed,
    /// The advert lacks one of the instance's VIPs: another virtual router that picked the
    /// same VRID (keepalived drops these too, "not present in MASTER advert").
    AddressList,
    /// Sent to a unicast (or broadcast) address while the instance is multicast, or to a
    /// multicast group while it is unicast (keepalived drops these too, "Expected multicast
    /// packet but received unicast packet").
    Destination,
}

impl DropReason {
    pub const ALL: &'static [DropReason] = &[
        DropReason::HopLimit,
        DropReason::Version,
        DropReason::Type,
        DropReason::Truncated,
        DropReason::Length,
        DropReason::Checksum,
        DropReason::UnknownVrid,
        DropReason::VersionMismatch,
        DropReason::AuthType,
        DropReason::AuthPassword,
        DropReason::IntervalMismatch,
        DropReason::AddressFamily,
        DropReason::IpHeader,
        DropReason::Oversized,
        DropReason::ReceiveError,
        DropReason::NotPeer,
        DropReason::SendError,
        DropReason::Replayed,
        DropReason::AddressList,
        DropReason::Destination,
    ];

    /// Position in [`DropReason::ALL`], for counters kept in an array.
    pub fn index(self) -> usize {
        DropReason::ALL
            .iter()
            .position(|reason| *reason == self)
            .unwrap_or(0)
    }

    /// Stable snake_case name, used as a counter key.
    pub const fn as_str(&self) -> &'static str {
        match self {
            DropReason::HopLimit => "hop_limit",
            DropReason::Version => "version",
            DropReason::Type => "type",
            DropReason::Truncated => "truncated",
            DropReason::Length => "length",
            DropReason::Checksum => "checksum",
            DropReason::UnknownVrid => "unknown_vrid",
            DropReason::VersionMismatch => "version_mismatch",
            DropReason::AuthType => "auth_type",
            DropReason::AuthPassword => "auth_password",
            DropReason::IntervalMismatch => "interval_mismatch",
            DropReason::AddressFamily => "address_family",
            DropReason::IpHeader => "ip_header",
            DropReason::Oversized => "oversized",
            DropReason::ReceiveError => "receive_error",
            DropReason::NotPeer => "not_peer",
            DropReason::SendError => "send_error",
            DropReason::Replayed => "replayed",
            DropReason::AddressList => "address_list",
            DropReason::Destination => "destination",
        }
    }

    fn description(&self) -> &'static str {
        match self {
            DropReason::HopLimit => "TTL/hop limit is not 255",
            DropReason::Version => "VRRP version is neither 2 nor 3",
            DropReason::Type => "VRRP type is not advertisement (1)",
            DropReason::Truncated => "packet shorter than its header or address count",
            DropReason::Length => "packet longer than its address count (trailing bytes)",
            DropReason::Checksum => "checksum mismatch",
            DropReason::UnknownVrid => "no instance for this VRID",
            DropReason::VersionMismatch => "VRRP version differs from the instance's",
            DropReason::AuthType => "authentication type differs from the instance's",
            DropReason::AuthPassword => "password differs from the instance's",
            DropReason::IntervalMismatch => "advert interval differs from the instance's",
            DropReason::AddressFamily => "address family does not fit the VRRP version",
            DropReason::IpHeader => "malformed IPv4 header",
            DropReason::Oversized => "larger than any advert",
            DropReason::ReceiveError => "receive error",
            DropReason::NotPeer => "source is not a unicast peer of the instance",
            DropReason::SendError => "our advert could not be sent",
            DropReason::Replayed => "AH sequence number not above the last one seen",
            DropReason::AddressList => "address list lacks one of the instance's VIPs",
            DropReason::Destination => {
                "sent unicast to a multicast instance, or multicast to a unicast one"
            }
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.description(), self.as_str())
    }
}

impl std::error::Error for DropReason {}

/// A read/write view of a VRRP advert (the IP payload).
///
/// Use [`Packet::new_checked`] on received bytes: after it succeeds no accessor can index
/// out of range. On a view made with [`Packet::new_unchecked`] over a buffer that
/// `new_checked` would reject, fixed-field getters and the setters panic.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
    family: Family,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` carried in an IP packet of `family`, without checks.
    pub const fn new_unchecked(buffer: T, family: Family) -> Packet<T> {
        Packet { buffer, family }
    }

    /// Wraps `buffer` and checks that every field it announces is inside it.
    pub fn new_checked(buffer: T, family: Family) -> Result<Packet<T>, DropReason> {
        let packet = Packet::new_unchecked(buffer, family);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks the header, the version (it decides the layout) and that the buffer holds the
    /// address list and v2 auth data. Does not reject trailing bytes; see
    /// [`Packet::message_len`].
    #[inline]
    pub fn check_len(&self) -> Result<(), DropReason> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(DropReason::Truncated);
        }
        match (Version::from_number(self.version()), self.family) {
            (None, _) => return Err(DropReason::Version),
            (Some(Version::V2), Family::Ipv6) => return Err(DropReason::AddressFamily),
            _ => {}
        }
        if len < self.message_len() {
            return Err(DropReason::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub const fn family(&self) -> Family {
        self.family
    }

    /// Length the header announces: header, addresses and (v2) auth data.
    #[inline]
    pub fn message_len(&self) -> usize {
        let count = usize::from(self.count());
        if self.version() == 2 {
            HEADER_LEN + count * 4 + AUTH_DATA_LEN
        } else {
            HEADER_LEN + count * self.family.address_len()
        }
    }

    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION_TYPE] >> 4
    }

    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION_TYPE] & 0x0f
    }

    #[inline]
    pub fn vrid(&self) -> u8 {
        self.buffer.as_ref()[field::VRID]
    }

    #[inline]
    pub fn priority(&self) -> u8 {
        self.buffer.as_ref()[field::PRIORITY]
    }

    /// Number of addresses in the list.
    #[inline]
    pub fn count(&self) -> u8 {
        self.buffer.as_ref()[field::COUNT]
    }

    /// v2: authentication type.
    pub fn auth_type(&self) -> u8 {
        self.buffer.as_ref()[field::AUTH_TYPE]
    }

    /// v2: advert interval in seconds.
    pub fn adver_int_seconds(&self) -> u8 {
        self.buffer.as_ref()[field::ADVER_INT]
    }

    /// v3: maximum advert interval in centiseconds (reserved bits masked off).
    #[inline]
    pub fn max_adver_int_cs(&self) -> u16 {
        let data = self.buffer.as_ref();
        u16::from_be_bytes([
            data[field::MAX_ADVER_INT.start],
            data[field::MAX_ADVER_INT.start + 1],
        ]) & MAX_V3_INTERVAL_CS
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        let data = self.buffer.as_ref();
        u16::from_be_bytes([data[field::CHECKSUM.start], data[field::CHECKSUM.start + 1]])
    }

    /// Address `index` of the list, in the packet's family; `None` past the count or buffer.
    pub fn address(&self, index: usize) -> Option<IpAddr> {
        if index >= usize::from(self.count()) {
            return None;
        }
        let bytes = self
            .buffer
            .as_ref()
            .get(field::address(index, self.family.address_len()))?;
        match self.family {
            Family::Ipv4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
            Family::Ipv6 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        }
    }

    /// The address list, in order.
    pub fn addresses(&self) -> impl Iterator<Item = IpAddr> + '_ {
        (0..usize::from(self.count())).filter_map(|index| self.address(index))
    }

    /// v2: the 8 bytes of authentication data; `None` when the buffer ends before them.
    pub fn auth_data(&self) -> Option<[u8; AUTH_DATA_LEN]> {
        let bytes = self
            .buffer
            .as_ref()
            .get(field::auth_data(usize::from(self.count())))?;
        <[u8; AUTH_DATA_LEN]>::try_from(bytes).ok()
    }

    /// Whether the checksum over the announced message (see [`Packet::message_len`]) is
    /// right for an advert from `src` to `dst`.
    pub fn verify_checksum(&self, src: IpAddr, dst: IpAddr, mode: ChecksumMode) -> bool {
        match self.buffer.as_ref().get(..self.message_len()) {
            Some(message) => vrrp_checksum(self.version(), message, src, dst, mode) == 0,
            None => false,
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_version(&mut self, version: u8) {
        let byte = &mut self.buffer.as_mut()[field::VERSION_TYPE];
        *byte = (*byte & 0x0f) | (version << 4);
    }

    pub fn set_msg_type(&mut self, msg_type: u8) {
        let byte = &mut self.buffer.as_mut()[field::VERSION_TYPE];
        *byte = (*byte & 0xf0) | (msg_type & 0x0f);
    }

    pub fn set_vrid(&mut self, vrid: u8) {
        self.buffer.as_mut()[field::VRID] = vrid;
    }

    pub fn set_priority(&mut self, priority: u8) {
        self.buffer.as_mut()[field::PRIORITY] = priority;
    }

    pub fn set_count(&mut self, count: u8) {
        self.buffer.as_mut()[field::COUNT] = count;
    }

    /// v2.
    pub fn set_auth_type(&mut self, auth_type: u8) {
        self.buffer.as_mut()[field::AUTH_TYPE] = auth_type;
    }

    /// v2, seconds.
    pub fn set_adver_int_seconds(&mut self, seconds: u8) {
        self.buffer.as_mut()[field::ADVER_INT] = seconds;
    }

    /// v3, centiseconds; the reserved bits are written as zero, values above 4095 saturate.
    pub fn set_max_adver_int_cs(&mut self, centiseconds: u16) {
        let value = centiseconds.min(MAX_V3_INTERVAL_CS);
        self.buffer.as_mut()[field::MAX_ADVER_INT].copy_from_slice(&value.to_be_bytes());
    }

    pub fn set_checksum(&mut self, checksum: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&checksum.to_be_bytes());
    }

    /// Writes address `index`. An address of the other family than the packet's is a
    /// caller bug and is not written.
    pub fn set_address(&mut self, index: usize, address: IpAddr) {
        let range = field::address(index, self.family.address_len());
        match (self.family, address) {
            (Family::Ipv4, IpAddr::V4(v4)) => {
                self.buffer.as_mut()[range].copy_from_slice(&v4.octets());
            }
            (Family::Ipv6, IpAddr::V6(v6)) => {
                self.buffer.as_mut()[range].copy_from_slice(&v6.octets());
            }
            _ => debug_assert!(
                false,
                "address {address} does not fit a {:?} packet",
                self.family
            ),
        }
    }

    /// v2: writes the authentication data after the `count()` addresses.
    pub fn set_auth_data(&mut self, data: &[u8; AUTH_DATA_LEN]) {
        let range = field::auth_data(usize::from(self.count()));
        self.buffer.as_mut()[range].copy_from_slice(data);
    }

    /// Computes and writes the checksum over the announced message.
    pub fn fill_checksum(&mut self, src: IpAddr, dst: IpAddr, mode: ChecksumMode) {
        self.set_checksum(0);
        let len = self.message_len();
        let version = self.version();
        let checksum = vrrp_checksum(version, &self.buffer.as_ref()[..len], src, dst, mode);
        self.set_checksum(checksum);
    }
}

/// The checksum of `message` (checksum field included): the value to write when the field
/// holds 0, and 0 when the field is right.
fn vrrp_checksum(version: u8, message: &[u8], src: IpAddr, dst: IpAddr, mode: ChecksumMode) -> u16 {
    let protocol = [0, PROTOCOL];
    match (version, src, dst) {
        (3, IpAddr::V6(src), IpAddr::V6(dst)) => {
            // RFC 8200 8.1: src, dst, 32-bit upper-layer length, 3 zero bytes, next header.
            let length = u32::try_from(message.len())
                .unwrap_or(u32::MAX)
                .to_be_bytes();
            internet_checksum(&[
                &src.octets(),
                &dst.octets(),
                &length,
                &[0, 0],
                &protocol,
                message,
            ])
        }
        (3, IpAddr::V4(src), IpAddr::V4(dst)) if mode == ChecksumMode::PseudoHeader => {
            // RFC 768-style: src, dst, zero, protocol, 16-bit length.
            let length = u16::try_from(message.len())
                .unwrap_or(u16::MAX)
                .to_be_bytes();
            internet_checksum(&[&src.octets(), &dst.octets(), &protocol, &length, message])
        }
        _ => internet_checksum(&[message]),
    }
}

/// What a VRRP advert says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advertisement {
    pub version: Version,
    pub vrid: u8,
    pub priority: u8,
    /// v3: the 12-bit interval in centiseconds. v2: seconds x 100 (sent rounded to whole
    /// seconds, at least 1).
    pub advert_interval_cs: u16,
    /// v2: IPv4 only. v3: one family, that of the IP packet. On emit, the family is that of
    /// the first address (IPv4 for v2); addresses of the other family and any beyond 255
    /// are left out.
    pub addresses: Vec<IpAddr>,
    /// v2 only; v3 adverts carry none and parse as [`Auth::None`].
    pub auth: Auth,
}

/// The fixed part of an advert: everything but its address list. With the list borrowed
/// (an instance's VIPs), [`emit_advert`] writes an advert without building an
/// [`Advertisement`], whose list is a fresh allocation (an instance sends one every advert
/// interval, 51,000 a second at 510 instances).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdvertHeader {
    pub version: Version,
    pub vrid: u8,
    pub priority: u8,
    /// See [`Advertisement::advert_interval_cs`].
    pub advert_interval_cs: u16,
    pub auth: Auth,
}

/// Family of the address list on the wire: that of the first address (v3), IPv4 (v2).
fn list_family(version: Version, first: Option<IpAddr>) -> Family {
    match (version, first) {
        (Version::V3, Some(first)) => Family::of(&first),
        _ => Family::Ipv4,
    }
}

/// The addresses an advert carries: those of the list's family, at most 255.
fn wire_addresses<I>(version: Version, addresses: I) -> impl Iterator<Item = IpAddr>
where
    I: Iterator<Item = IpAddr> + Clone,
{
    let family = list_family(version, addresses.clone().next());
    addresses
        .filter(move |address| Family::of(address) == family)
        .take(usize::from(u8::MAX))
}

/// Bytes [`emit_advert`] writes for `header` and `addresses`.
pub fn advert_len<I>(header: &AdvertHeader, addresses: I) -> usize
where
    I: Iterator<Item = IpAddr> + Clone,
{
    let family = list_family(header.version, addresses.clone().next());
    let addresses = wire_addresses(header.version, addresses).count() * family.address_len();
    match header.version {
        Version::V2 => HEADER_LEN + addresses + AUTH_DATA_LEN,
        Version::V3 => HEADER_LEN + addresses,
    }
}

/// Writes the advert of `header` and `addresses` with its checksum for an IP packet from
/// `src` to `dst` into the first [`advert_len`] bytes of `buf`; see
/// [`Advertisement::emit`], which it is.
///
/// # Panics
/// If `buf` is shorter than `advert_len()` (a caller bug).
pub fn emit_advert<I>(
    header: &AdvertHeader,
    addresses: I,
    buf: &mut [u8],
    src: IpAddr,
    dst: IpAddr,
    mode: ChecksumMode,
) where
    I: Iterator<Item = IpAddr> + Clone,
{
    let len = advert_len(header, addresses.clone());
    assert!(
        buf.len() >= len,
        "VRRP emit buffer {} < {len} bytes",
        buf.len()
    );
    let buf = &mut buf[..len];
    buf.fill(0);
    let family = list_family(header.version, addresses.clone().next());
    let mut packet = Packet::new_unchecked(buf, family);
    packet.set_version(header.version.number());
    packet.set_msg_type(MSG_TYPE_ADVERTISEMENT);
    packet.set_vrid(header.vrid);
    packet.set_priority(header.priority);
    let mut count = 0u8;
    for (index, address) in wire_addresses(header.version, addresses).enumerate() {
        packet.set_address(index, address);
        count = count.saturating_add(1);
    }
    packet.set_count(count);
    match header.version {
        Version::V2 => {
            packet.set_auth_type(header.auth.auth_type());
            packet.set_adver_int_seconds(v2_interval_seconds(header.advert_interval_cs));
            if let Auth::Password(data) = &header.auth {
                packet.set_auth_data(data);
            }
        }
        Version::V3 => packet.set_max_adver_int_cs(header.advert_interval_cs),
    }
    packet.fill_checksum(src, dst, mode);
}

/// Appends the advert of `header` and `addresses` (see [`emit_advert`]) to `out`; the
/// allocation of `out` is reused from one advert to the next.
pub fn append_advert<I>(
    header: &AdvertHeader,
    addresses: I,
    out: &mut Vec<u8>,
    src: IpAddr,
    dst: IpAddr,
    mode: ChecksumMode,
) where
    I: Iterator<Item = IpAddr> + Clone,
{
    let start = out.len();
    out.resize(start + advert_len(header, addresses.clone()), 0);
    emit_advert(header, addresses, &mut out[start..], src, dst, mode);
}

/// The adverts one instance wrote last, one per destination, copied instead of written and
/// checksummed again while what they are made of stays the same (a master sends the same
/// bytes every interval; at 510 instances and 10 ms adverts, writing and checksumming them
/// was a seventh of the master's own instructions per advert). Every use compares all the
/// inputs, the address list included, so nothing has to remember to invalidate it: a new
/// priority, source, address list or checksum mode writes the advert afresh.
#[derive(Debug, Default, Clone)]
pub struct AdvertCache {
    /// What the adverts below were written from (but for their destinations).
    made_of: Option<(AdvertHeader, IpAddr, ChecksumMode)>,
    addresses: smallvec::SmallVec<[IpAddr; 2]>,
    /// Per destination, the advert's bytes.
    adverts: smallvec::SmallVec<[(IpAddr, smallvec::SmallVec<[u8; 32]>); 1]>,
}

/// Destinations an [`AdvertCache`] keeps adverts for (unicast peers beyond this are written
/// every time).
const CACHED_DESTINATIONS: usize = 4;

impl AdvertCache {
    /// What [`append_advert`] appends, from the cache when it holds that advert.
    pub fn append<I>(
        &mut self,
        header: &AdvertHeader,
        addresses: I,
        out: &mut Vec<u8>,
        src: IpAddr,
        dst: IpAddr,
        mode: ChecksumMode,
    ) where
        I: Iterator<Item = IpAddr> + Clone,
    {
        let made_of = Some((*header, src, mode));
        if self.made_of != made_of || !self.addresses.iter().copied().eq(addresses.clone()) {
            self.made_of = made_of;
            self.addresses.clear();
            self.addresses.extend(addresses.clone());
            self.adverts.clear();
        }
        if let Some((_, bytes)) = self.adverts.iter().find(|(to, _)| *to == dst) {
            out.extend_from_slice(bytes);
            return;
        }
        let start = out.len();
        append_advert(header, addresses, out, src, dst, mode);
        if self.adverts.len() < CACHED_DESTINATIONS {
            let bytes = out.get(start..).unwrap_or_default();
            self.adverts.push((dst, bytes.iter().copied().collect()));
        }
    }
}

impl Advertisement {
    /// Reads an advert from a checked packet: type, address count, exact length and (v2)
    /// auth type. Hop limit and checksum are [`parse_advertisement`]'s job.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Advertisement, DropReason> {
        let mut advert = Advertisement::empty();
        advert.parse_from(packet)?;
        Ok(advert)
    }

    /// An advert of nothing, for [`Advertisement::parse_from`] to fill in.
    pub fn empty() -> Advertisement {
        Advertisement {
            version: Version::V3,
            vrid: 0,
            priority: 0,
            advert_interval_cs: 0,
            addresses: Vec::new(),
            auth: Auth::None,
        }
    }

    /// [`Advertisement::parse`] into `self`, reusing its address list's allocation (a
    /// backup parses every advert it hears). On an error `self` holds no advert.
    pub fn parse_from<T: AsRef<[u8]>>(&mut self, packet: &Packet<T>) -> Result<(), DropReason> {
        self.addresses.clear();
        let version = check_structure(packet)?;
        let (advert_interval_cs, auth) = match version {
            Version::V2 => {
                let auth = match packet.auth_type() {
                    AUTH_TYPE_NONE => Auth::None,
                    AUTH_TYPE_PASSWORD => {
                        Auth::Password(packet.auth_data().ok_or(DropReason::Truncated)?)
                    }
                    AUTH_TYPE_AH => Auth::Ah,
                    _ => return Err(DropReason::AuthType),
                };
                (u16::from(packet.adver_int_seconds()) * 100, auth)
            }
            Version::V3 => (packet.max_adver_int_cs(), Auth::None),
        };
        self.version = version;
        self.vrid = packet.vrid();
        self.priority = packet.priority();
        self.advert_interval_cs = advert_interval_cs;
        self.addresses.extend(packet.addresses());
        self.auth = auth;
        Ok(())
    }

    /// Everything but the address list.
    pub fn header(&self) -> AdvertHeader {
        AdvertHeader {
            version: self.version,
            vrid: self.vrid,
            priority: self.priority,
            advert_interval_cs: self.advert_interval_cs,
            auth: self.auth,
        }
    }

    /// Family of the address list on the wire.
    pub fn family(&self) -> Family {
        list_family(self.version, self.addresses.first().copied())
    }

    /// Bytes [`Advertisement::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        advert_len(&self.header(), self.addresses.iter().copied())
    }

    /// Writes the advert with its checksum for an IP packet from `src` to `dst` into the
    /// first [`Advertisement::buffer_len`] bytes of `buf`.
    ///
    /// # Panics
    /// If `buf` is shorter than `buffer_len()` (a caller bug; [`Advertisement::to_bytes`]
    /// cannot hit it).
    pub fn emit(&self, buf: &mut [u8], src: IpAddr, dst: IpAddr, mode: ChecksumMode) {
        emit_advert(
            &self.header(),
            self.addresses.iter().copied(),
            buf,
            src,
            dst,
            mode,
        );
    }

    /// The advert as a new buffer; see [`Advertisement::emit`].
    pub fn to_bytes(&self, src: IpAddr, dst: IpAddr, mode: ChecksumMode) -> Vec<u8> {
        let mut buf = vec![0; self.buffer_len()];
        self.emit(&mut buf, src, dst, mode);
        buf
    }
}

/// Layout, version, type, address count and exact length: what a packet must have to be an
/// advert at all, whoever it is for.
fn check_structure<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Version, DropReason> {
    packet.check_len()?;
    let version = Version::from_number(packet.version()).ok_or(DropReason::Version)?;
    if packet.msg_type() != MSG_TYPE_ADVERTISEMENT {
        return Err(DropReason::Type);
    }
    // Count 0 is an advert too: vipd and keepalived 2.2.7 send one for an instance without
    // VIPs (notify-only setups), and keepalived yields to it (behavioural corpus run); two
    // such routers that dropped each other's adverts would both be master.
    if packet.buffer.as_ref().len() != packet.message_len() {
        return Err(DropReason::Length);
    }
    Ok(version)
}

/// The checks a received VRRP message (the IP payload) gets as soon as it is read, before it
/// is queued for an instance: [`check_structure`] without the checksum, which needs the
/// instance's checksum mode. Cheap and allocation-free, so junk costs only its own reading.
/// Returns the VRID, for the caller's lookup.
pub fn screen(payload: &[u8], family: Family) -> Result<u8, DropReason> {
    if payload.len() > family.max_message_len() {
        return Err(DropReason::Oversized);
    }
    let packet = Packet::new_checked(payload, family)?;
    check_structure(&packet)?;
    Ok(packet.vrid())
}

/// Whole seconds a v2 advert carries for an interval in centiseconds: rounded, 1..=255.
fn v2_interval_seconds(centiseconds: u16) -> u8 {
    let seconds = (centiseconds.saturating_add(50) / 100).clamp(1, u16::from(u8::MAX));
    u8::try_from(seconds).unwrap_or(u8::MAX)
}

/// How an advert arrived: from the IP header (IPv4) or socket ancillary data (IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxMeta {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit.
    pub hop_limit: u8,
    /// RFC: MUST. keepalived skips it for unicast peers unless configured.
    pub require_hop_limit_255: bool,
    /// For v3 over IPv4 only.
    pub checksum_mode: ChecksumMode,
}

/// Validates a received VRRP message (the IP payload) in RFC order: hop limit, families,
/// version, length, checksum, type, address count, exact length, v2 auth type. The VRID
/// lookup and [`check_for_instance`] come after.
pub fn parse_advertisement(payload: &[u8], rx: &RxMeta) -> Result<Advertisement, DropReason> {
    let mut advert = Advertisement::empty();
    parse_advertisement_into(payload, rx, &mut advert).map(|()| advert)
}

/// [`parse_advertisement`] into `out`, reusing its address list's allocation.
pub fn parse_advertisement_into(
    payload: &[u8],
    rx: &RxMeta,
    out: &mut Advertisement,
) -> Result<(), DropReason> {
    out.addresses.clear();
    if rx.require_hop_limit_255 && rx.hop_limit != HOP_LIMIT {
        return Err(DropReason::HopLimit);
    }
    let family = Family::of(&rx.src);
    if Family::of(&rx.dst) != family {
        return Err(DropReason::AddressFamily);
    }
    let packet = Packet::new_checked(payload, family)?;
    if !packet.verify_checksum(rx.src, rx.dst, rx.checksum_mode) {
        return Err(DropReason::Checksum);
    }
    out.parse_from(&packet)
}

/// Whether a received advert must arrive with TTL / hop limit 255 (RFC 5798 5.1.1.3: an
/// advert that crossed a router, or was forged off-link, is dropped).
///
/// Multicast adverts always must. keepalived skips the check for unicast (unless a peer has
/// `min_ttl`/`max_ttl`), which lets any host that can route to us forge one; vipd keeps it for
/// unicast too, as long as the instance sends with TTL 255 itself (keepalived's default, so
/// peers on the link interoperate). `unicast_ttl` below 255 declares peers behind routers,
/// whose adverts arrive with whatever TTL is left: the check is then off and only the peer
/// source check ([`check_unicast_source`]) protects the instance. Over IPv6 keepalived 2.2.7
/// sends unicast adverts with the system's hop limit (64), so IPv6 unicast is checked by
/// source only, as keepalived checks it.
pub fn hop_limit_255_required(unicast: bool, ipv6: bool, unicast_ttl: Option<u8>) -> bool {
    !unicast || (!ipv6 && unicast_ttl.unwrap_or(HOP_LIMIT) == HOP_LIMIT)
}

/// keepalived `unicast_peer { ADDRESS min_ttl N max_ttl M }`: adverts from that peer must
/// arrive with a TTL / hop limit in `min..=max`, which replaces [`hop_limit_255_required`]'s
/// rule for it.
pub fn check_hop_limit_range(hop_limit: u8, min: u8, max: u8) -> Result<(), DropReason> {
    if (min..=max).contains(&hop_limit) {
        Ok(())
    } else {
        Err(DropReason::HopLimit)
    }
}

/// keepalived `check_unicast_src`, on by default in vipd: a unicast instance accepts adverts
/// only from its configured peers.
pub fn check_unicast_source(src: IpAddr, peers: &[IpAddr]) -> Result<(), DropReason> {
    if peers.contains(&src) {
        Ok(())
    } else {
        Err(DropReason::NotPeer)
    }
}

/// RFC 5798 5.1.1.2 / 5.1.2.2: an advert goes to the VRRP multicast group, or with
/// keepalived's `unicast_peer` to each peer's address. One that came the other way is not
/// for this instance: a multicast instance's raw socket also reads what is sent to the
/// router's own addresses and to broadcast (another instance's unicast peers on the same
/// VRID, or a stranger aiming at one router of a pair only), a unicast one what other
/// sockets of the host joined. keepalived 2.2.7 drops both ("Expected multicast packet but
/// received unicast packet"); vipd took them, so a unicast advert, which only its target
/// hears, moved a multicast router keepalived leaves alone (`lab_hostile_destination`).
pub fn check_destination(dst: IpAddr, unicast: bool) -> Result<(), DropReason> {
    if dst.is_multicast() == unicast {
        Err(DropReason::Destination)
    } else {
        Ok(())
    }
}

/// What an instance requires of the adverts for its VRID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceExpectation {
    pub version: Version,
    /// Checked for v2 only.
    pub auth: Auth,
    /// Checked for v2 only (v3 backups learn the master's interval), in whole seconds as
    /// sent on the wire.
    pub advert_interval_cs: u16,
}

/// The per-instance receive checks: version, then for v2 auth type, password and interval.
pub fn check_for_instance(
    advert: &Advertisement,
    expect: &InstanceExpectation,
) -> Result<(), DropReason> {
    if advert.version != expect.version {
        return Err(DropReason::VersionMismatch);
    }
    if advert.version == Version::V3 {
        return Ok(());
    }
    match (&advert.auth, &expect.auth) {
        (Auth::None, Auth::None) | (Auth::Ah, Auth::Ah) => {}
        (Auth::Password(got), Auth::Password(want)) => {
            if got != want {
                return Err(DropReason::AuthPassword);
            }
        }
        _ => return Err(DropReason::AuthType),
    }
    // The whole seconds on the wire (a received v2 advert carries seconds x 100): a 0 there
    // is no interval at all, not one rounded up to a second (found by fuzzing).
    if advert.advert_interval_cs / 100 != u16::from(v2_interval_seconds(expect.advert_interval_cs))
    {
        return Err(DropReason::IntervalMismatch);
    }
    Ok(())
}

/// The check of the advertised addresses (RFC 5798 7.1 "MAY verify"): an advert that lacks
/// one of our VIPs comes from another virtual router that picked the same VRID, and following
/// it would leave that VIP with no holder (keepalived drops it too: "not present in MASTER
/// advert"). One that lists all of ours and more is followed: its sender holds our VIPs, and
/// a VIP added master first (or removed backup first) then moves no VIP (keepalived drops it
/// for its count and has two masters until every router has the new list).
pub fn check_address_list(theirs: &[IpAddr], ours: &[IpAddr]) -> Result<(), DropReason> {
    if ours.iter().all(|address| theirs.contains(address)) {
        Ok(())
    } else {
        Err(DropReason::AddressList)
    }
}

/// How a received advert's address list compares with an instance's VIPs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListMatch {
    /// The same addresses, each as many times, in any order.
    Same,
    /// Every one of ours, and others (or one twice): followed (see [`check_address_list`]).
    Covers,
    /// Lacks one of ours: another virtual router on the VRID, dropped.
    Lacks,
}

impl ListMatch {
    /// [`check_address_list`]'s verdict.
    pub fn verdict(self) -> Result<(), DropReason> {
        match self {
            ListMatch::Lacks => Err(DropReason::AddressList),
            ListMatch::Same | ListMatch::Covers => Ok(()),
        }
    }
}

/// [`check_address_list`] for every advert an instance hears, with what it needs to say a
/// differing list once: the last list compared and the last one reported, kept sorted in
/// buffers whose allocations are reused.
///
/// An advert lists up to 255 addresses, anyone on the segment can send one (VRRPv3 has no
/// authentication), and the check runs on the loop that also reads the master's adverts: it
/// must cost what reading the advert costs. A peer's list in our order is recognised in one
/// pass; any other is sorted once (n log n) and compared in one pass, with ours and with the
/// last one reported. Comparing them pair by pair (255 x 510 comparisons per advert with the
/// last one reported) let a flood of 1,000 such adverts a second keep a backup's loop busy
/// until the kernel dropped its master's adverts and it took over (`lab_hostile_floods`).
#[derive(Debug, Clone, Default)]
pub struct AddressLists {
    theirs: Vec<IpAddr>,
    ours: Vec<IpAddr>,
    reported: Option<Vec<IpAddr>>,
}

impl AddressLists {
    /// Compares `theirs` with `ours` (an instance's VIPs in their order). After anything but
    /// [`ListMatch::Same`], [`AddressLists::theirs`] and [`AddressLists::ours`] hold both
    /// lists sorted.
    pub fn compare<I>(&mut self, theirs: &[IpAddr], ours: I) -> ListMatch
    where
        I: Iterator<Item = IpAddr> + Clone,
    {
        let mut in_order = ours.clone();
        if theirs
            .iter()
            .all(|address| in_order.next() == Some(*address))
            && in_order.next().is_none()
        {
            return ListMatch::Same;
        }
        fill_sorted(&mut self.theirs, theirs.iter().copied());
        fill_sorted(&mut self.ours, ours);
        compare_sorted(&self.theirs, &self.ours)
    }

    /// The list last compared, sorted.
    pub fn theirs(&self) -> &[IpAddr] {
        &self.theirs
    }

    /// Our list as last compared, sorted.
    pub fn ours(&self) -> &[IpAddr] {
        &self.ours
    }

    /// Whether the list last compared is another than the last one reported (as a multiset).
    pub fn is_new(&self) -> bool {
        self.reported.as_deref() != Some(self.theirs.as_slice())
    }

    /// The list last compared has been reported: [`AddressLists::is_new`] is false for it
    /// until another one is reported or [`AddressLists::forget`] is called.
    pub fn mark_reported(&mut self) {
        let reported = self.reported.get_or_insert_with(Vec::new);
        reported.clear();
        reported.extend_from_slice(&self.theirs);
    }

    /// Forgets the list last reported (the lists agree again: a new mismatch is said anew).
    pub fn forget(&mut self) {
        self.reported = None;
    }
}

/// `buf` emptied, then filled with `items` in ascending order (its allocation reused).
fn fill_sorted<T: Ord>(buf: &mut Vec<T>, items: impl Iterator<Item = T>) {
    buf.clear();
    buf.extend(items);
    buf.sort_unstable();
}

/// [`ListMatch`] of two ascending lists, in one pass over both.
fn compare_sorted<T: Ord>(theirs: &[T], ours: &[T]) -> ListMatch {
    if theirs == ours {
        return ListMatch::Same;
    }
    let mut rest = theirs;
    for address in ours {
        while rest.first().is_some_and(|first| first < address) {
            rest = &rest[1..];
        }
        // Not consumed: an address listed twice by us is found by the same one of theirs.
        if rest.first() != Some(address) {
            return ListMatch::Lacks;
        }
    }
    ListMatch::Covers
}

/// What the IPv4 header of a received advert says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Meta {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
    pub protocol: u8,
}

/// Splits an IPv4 datagram as an IPv4 raw socket delivers it into header facts and payload.
/// The payload ends where the total length says; bytes after it are not part of the
/// datagram (bytes inside it after the advert are, and [`parse_advertisement`] drops them).
pub fn split_ipv4(datagram: &[u8]) -> Result<(Ipv4Meta, &[u8]), DropReason> {
    const MIN_HEADER_LEN: usize = 20;
    let header = datagram
        .get(..MIN_HEADER_LEN)
        .ok_or(DropReason::Truncated)?;
    let fixed = <&[u8; MIN_HEADER_LEN]>::try_from(header).map_err(|_| DropReason::Truncated)?;
    if fixed[0] >> 4 != 4 {
        return Err(DropReason::IpHeader);
    }
    let header_len = usize::from(fixed[0] & 0x0f) * 4;
    let total_len = usize::from(u16::from_be_bytes([fixed[2], fixed[3]]));
    if header_len < MIN_HEADER_LEN || total_len < header_len {
        return Err(DropReason::IpHeader);
    }
    let payload = datagram
        .get(header_len..total_len)
        .ok_or(DropReason::Truncated)?;
    let meta = Ipv4Meta {
        src: Ipv4Addr::new(fixed[12], fixed[13], fixed[14], fixed[15]),
        dst: Ipv4Addr::new(fixed[16], fixed[17], fixed[18], fixed[19]),
        ttl: fixed[8],
        protocol: fixed[9],
    };
    Ok((meta, payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|a| a.parse().expect("address")).collect()
    }

    #[test]
    fn advert_lacking_one_of_our_vips_is_dropped_one_covering_them_is_followed() {
        let ours = ips(&["192.0.2.100", "192.0.2.101"]);
        for theirs in [
            ours.clone(),
            ips(&["192.0.2.101", "192.0.2.100"]),
            ips(&["192.0.2.100", "192.0.2.101", "192.0.2.102"]),
        ] {
            assert_eq!(check_address_list(&theirs, &ours), Ok(()), "{theirs:?}");
        }
        for theirs in [
            ips(&["192.0.2.150"]),
            ips(&["192.0.2.100"]),
            ips(&["192.0.2.100", "192.0.2.150"]),
            ips(&["192.0.2.100", "192.0.2.100"]),
            Vec::new(),
        ] {
            assert_eq!(
                check_address_list(&theirs, &ours),
                Err(DropReason::AddressList),
                "{theirs:?}"
            );
        }
    }

    /// `AddressLists` against the plain check: the same verdicts, `Same` exactly for the
    /// same multiset, and a differing list new until it is reported.
    #[test]
    fn address_lists_agree_with_the_plain_check_and_say_each_list_once() {
        let ip = |t: &str| -> IpAddr { t.parse().unwrap() };
        let (a, b, c) = (ip("192.0.2.1"), ip("192.0.2.2"), ip("2001:db8::3"));
        let lists: [&[IpAddr]; 10] = [
            &[],
            &[a],
            &[a, b],
            &[b, a],
            &[a, b, c],
            &[c, b, a],
            &[a, a, b],
            &[a, b, b],
            &[c],
            &[a, c],
        ];
        let mut checker = AddressLists::default();
        for theirs in lists {
            for ours in lists {
                let found = checker.compare(theirs, ours.iter().copied());
                let why = format!("{theirs:?} {ours:?}");
                assert_eq!(found.verdict(), check_address_list(theirs, ours), "{why}");
                let (mut x, mut y) = (theirs.to_vec(), ours.to_vec());
                x.sort();
                y.sort();
                assert_eq!(found == ListMatch::Same, x == y, "{why}");
                if found != ListMatch::Same {
                    assert_eq!(
                        (checker.theirs(), checker.ours()),
                        (&x[..], &y[..]),
                        "{why}"
                    );
                }
            }
        }
        let ours = [a];
        assert_eq!(checker.compare(&[b, c], ours.into_iter()), ListMatch::Lacks);
        checker.forget();
        assert!(checker.is_new());
        checker.mark_reported();
        // The same list in another order is not new; another list is.
        assert_eq!(checker.compare(&[c, b], ours.into_iter()), ListMatch::Lacks);
        assert!(!checker.is_new());
        assert_eq!(
            checker.compare(&[c, a], ours.into_iter()),
            ListMatch::Covers
        );
        assert!(checker.is_new());
        checker.forget();
        assert_eq!(checker.compare(&[c, b], ours.into_iter()), ListMatch::Lacks);
        assert!(checker.is_new());
    }

    /// An `Ord` value that counts how often it is compared.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct Counted(u32);

    thread_local! {
        static COMPARISONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }

    impl PartialOrd for Counted {
        fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(other))
        }
    }

    impl Ord for Counted {
        fn cmp(&self, other: &Self) -> std::cmp::Ordering {
            COMPARISONS.with(|c| c.set(c.get() + 1));
            self.0.cmp(&other.0)
        }
    }

    /// The longest list an advert carries, against one VIP and against 255: the sort and the
    /// pass cost a few thousand comparisons (comparing pair by pair with the last list
    /// reported took 255 x 510 = 130,050 for every advert of a flood).
    #[test]
    fn sorting_and_comparing_the_longest_lists_costs_n_log_n() {
        // Shuffled: 97 is prime to 255.
        let theirs: Vec<u32> = (0..255).map(|i| i * 97 % 255).collect();
        for ours in [vec![1000], (1..256).collect::<Vec<u32>>()] {
            COMPARISONS.with(|c| c.set(0));
            let (mut x, mut y) = (Vec::new(), Vec::new());
            fill_sorted(&mut x, theirs.iter().map(|&v| Counted(v)));
            fill_sorted(&mut y, ours.iter().map(|&v| Counted(v)));
            assert_eq!(compare_sorted(&x, &y), ListMatch::Lacks);
            let spent = COMPARISONS.with(std::cell::Cell::get);
            assert!(
                spent <= 12 * 510,
                "{spent} comparisons for {} VIPs",
                ours.len()
            );
        }
    }

    // IP datagrams captured from keepalived 2.2.7; see daemon/tests/data/captures/README.md.

    /// v2, 192.0.2.1 -> 224.0.0.18, TTL 255, vrid 51, prio 150, PASS "secret42", 1 s,
    /// VIPs 192.0.2.100 and 192.0.2.101.
    static V2_IPV4_PASS: [u8; 44] = [
        0x45, 0xc0, 0x00, 0x2c, 0x00, 0x01, 0x00, 0x00, 0xff, 0x70, 0x18, 0x8d, //
        0xc0, 0x00, 0x02, 0x01, 0xe0, 0x00, 0x00, 0x12, 0x21, 0x33, 0x96, 0x02, //
        0x01, 0x01, 0x52, 0x80, 0xc0, 0x00, 0x02, 0x64, 0xc0, 0x00, 0x02, 0x65, //
        0x73, 0x65, 0x63, 0x72, 0x65, 0x74, 0x34, 0x32,
    ];
    /// The same instance's priority-0 advert on SIGTERM.
    static V2_IPV4_PASS_PRIO0: [u8; 44] = [
        0x45, 0xc0, 0x00, 0x2c, 0x00, 0x04, 0x00, 0x00, 0xff, 0x70, 0x18, 0x8a, //
        0xc0, 0x00, 0x02, 0x01, 0xe0, 0x00, 0x00, 0x12, 0x21, 0x33, 0x00, 0x02, //
        0x01, 0x01, 0xe8, 0x80, 0xc0, 0x00, 0x02, 0x64, 0xc0, 0x00, 0x02, 0x65, //
        0x73, 0x65, 0x63, 0x72, 0x65, 0x74, 0x34, 0x32,
    ];
    /// v3, 192.0.2.1 -> 224.0.0.18, vrid 52, prio 150, 10 cs, VIP 192.0.2.110, checksum with
    /// the IPv4 pseudo-header.
    static V3_IPV4: [u8; 32] = [
        0x45, 0xc0, 0x00, 0x20, 0x00, 0x01, 0x00, 0x00, 0xff, 0x70, 0x18, 0x99, //
        0xc0, 0x00, 0x02, 0x01, 0xe0, 0x00, 0x00, 0x12, 0x31, 0x34, 0x96, 0x01, //
        0x00, 0x0a, 0xd3, 0xc0, 0xc0, 0x00, 0x02, 0x6e,
    ];
    static V3_IPV4_PRIO0: [u8; 32] = [
        0x45, 0xc0, 0x00, 0x20, 0x00, 0x3a, 0x00, 0x00, 0xff, 0x70, 0x18, 0x60, //
        0xc0, 0x00, 0x02, 0x01, 0xe0, 0x00, 0x00, 0x12, 0x31, 0x34, 0x00, 0x01, //
        0x00, 0x0a, 0x69, 0xc1, 0xc0, 0x00, 0x02, 0x6e,
    ];
    /// v3, fe80::84c6:17ff:fe2f:3789 -> ff02::12, hop limit 255, vrid 53, prio 150, 100 cs,
    /// VIP 2001:db8::100.
    static V3_IPV6: [u8; 64] = [
        0x6c, 0x02, 0x3d, 0x6a, 0x00, 0x18, 0x70, 0xff, //
        0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //
        0x84, 0xc6, 0x17, 0xff, 0xfe, 0x2f, 0x37, 0x89, //
        0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x12, //
        0x31, 0x35, 0x96, 0x01, 0x00, 0x64, 0x39, 0x0f, //
        0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, //
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
    ];
    static V3_IPV6_PRIO0: [u8; 64] = [
        0x6c, 0x02, 0x3d, 0x6a, 0x00, 0x18, 0x70, 0xff, //
        0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //
        0x84, 0xc6, 0x17, 0xff, 0xfe, 0x2f, 0x37, 0x89, //
        0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x12, //
        0x31, 0x35, 0x00, 0x01, 0x00, 0x64, 0xcf, 0x0f, //
        0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, //
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
    ];
    /// Built by hand (keepalived 2.2.7 cannot send it): V3_IPV4's VRRP message with the
    /// RFC 9568 checksum over the message alone, 0x7651 computed independently in Python.
    static V3_IPV4_NO_PSEUDO: [u8; 12] = [
        0x31, 0x34, 0x96, 0x01, 0x00, 0x0a, 0x76, 0x51, 0xc0, 0x00, 0x02, 0x6e,
    ];

    const V4_SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const V6_SRC: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0x84c6, 0x17ff, 0xfe2f, 0x3789);

    fn v4_rx(ttl: u8) -> RxMeta {
        RxMeta {
            src: V4_SRC.into(),
            dst: IPV4_MULTICAST.into(),
            hop_limit: ttl,
            require_hop_limit_255: true,
            checksum_mode: ChecksumMode::PseudoHeader,
        }
    }

    fn v6_rx() -> RxMeta {
        RxMeta {
            src: V6_SRC.into(),
            dst: IPV6_MULTICAST.into(),
            hop_limit: 255,
            require_hop_limit_255: true,
            checksum_mode: ChecksumMode::PseudoHeader,
        }
    }

    fn ipv4_payload(datagram: &[u8]) -> &[u8] {
        split_ipv4(datagram).unwrap().1
    }

    /// IPv6 captures: the raw socket delivers what follows the 40-byte header.
    fn ipv6_payload(datagram: &[u8]) -> &[u8] {
        &datagram[40..]
    }

    fn v2_pass_advert(priority: u8) -> Advertisement {
        Advertisement {
            version: Version::V2,
            vrid: 51,
            priority,
            advert_interval_cs: 100,
            addresses: vec![
                Ipv4Addr::new(192, 0, 2, 100).into(),
                Ipv4Addr::new(192, 0, 2, 101).into(),
            ],
            auth: Auth::from_password("secret42"),
        }
    }

    fn v3_ipv4_advert(priority: u8) -> Advertisement {
        Advertisement {
            version: Version::V3,
            vrid: 52,
            priority,
            advert_interval_cs: 10,
            addresses: vec![Ipv4Addr::new(192, 0, 2, 110).into()],
            auth: Auth::None,
        }
    }

    fn v3_ipv6_advert(priority: u8) -> Advertisement {
        Advertisement {
            version: Version::V3,
            vrid: 53,
            priority,
            advert_interval_cs: 100,
            addresses: vec!["2001:db8::100".parse().unwrap()],
            auth: Auth::None,
        }
    }

    #[test]
    fn split_ipv4_reads_captured_header() {
        let (meta, payload) = split_ipv4(&V2_IPV4_PASS).unwrap();
        assert_eq!(
            meta,
            Ipv4Meta {
                src: V4_SRC,
                dst: IPV4_MULTICAST,
                ttl: 255,
                protocol: PROTOCOL
            }
        );
        assert_eq!(payload, &V2_IPV4_PASS[20..]);
    }

    #[test]
    fn split_ipv4_uses_total_length_and_ihl() {
        // Bytes after total length are not part of the datagram.
        let mut padded = V3_IPV4.to_vec();
        padded.extend_from_slice(&[0xde, 0xad]);
        assert_eq!(split_ipv4(&padded).unwrap().1, &V3_IPV4[20..]);

        // Options: IHL 6 moves the payload by 4 bytes.
        let mut with_options = V3_IPV4[..20].to_vec();
        with_options[0] = 0x46;
        with_options[3] += 4;
        with_options.extend_from_slice(&[1, 1, 1, 1]);
        with_options.extend_from_slice(&V3_IPV4[20..]);
        assert_eq!(split_ipv4(&with_options).unwrap().1, &V3_IPV4[20..]);
    }

    #[test]
    fn split_ipv4_rejects_bad_headers() {
        assert_eq!(split_ipv4(&V3_IPV4[..19]), Err(DropReason::Truncated));
        assert_eq!(split_ipv4(&V3_IPV4[..31]), Err(DropReason::Truncated));
        let mut bad = V3_IPV4;
        bad[0] = 0x65;
        assert_eq!(split_ipv4(&bad), Err(DropReason::IpHeader));
        let mut bad = V3_IPV4;
        bad[0] = 0x44;
        assert_eq!(split_ipv4(&bad), Err(DropReason::IpHeader));
        let mut bad = V3_IPV4;
        bad[3] = 19;
        assert_eq!(split_ipv4(&bad), Err(DropReason::IpHeader));
        let mut bad = V3_IPV4;
        bad[0] = 0x4f; // 60-byte header in a 32-byte datagram
        bad[3] = 60;
        assert_eq!(split_ipv4(&bad), Err(DropReason::Truncated));
    }

    #[test]
    fn deconstruct_v2_pass() {
        let packet = Packet::new_checked(ipv4_payload(&V2_IPV4_PASS), Family::Ipv4).unwrap();
        assert_eq!(packet.version(), 2);
        assert_eq!(packet.msg_type(), 1);
        assert_eq!(packet.vrid(), 51);
        assert_eq!(packet.priority(), 150);
        assert_eq!(packet.count(), 2);
        assert_eq!(packet.auth_type(), AUTH_TYPE_PASSWORD);
        assert_eq!(packet.adver_int_seconds(), 1);
        assert_eq!(packet.checksum(), 0x5280);
        assert_eq!(packet.message_len(), 24);
        assert_eq!(
            packet.addresses().collect::<Vec<_>>(),
            vec![
                IpAddr::from([192, 0, 2, 100]),
                IpAddr::from([192, 0, 2, 101])
            ]
        );
        assert_eq!(packet.address(2), None);
        assert_eq!(packet.auth_data(), Some(*b"secret42"));
        assert!(packet.verify_checksum(
            V4_SRC.into(),
            IPV4_MULTICAST.into(),
            ChecksumMode::PseudoHeader
        ));
    }

    #[test]
    fn deconstruct_v3_ipv4() {
        let packet = Packet::new_checked(ipv4_payload(&V3_IPV4), Family::Ipv4).unwrap();
        assert_eq!(packet.version(), 3);
        assert_eq!(packet.msg_type(), 1);
        assert_eq!(packet.vrid(), 52);
        assert_eq!(packet.priority(), 150);
        assert_eq!(packet.count(), 1);
        assert_eq!(packet.max_adver_int_cs(), 10);
        assert_eq!(packet.checksum(), 0xd3c0);
        assert_eq!(packet.address(0), Some(IpAddr::from([192, 0, 2, 110])));
        let (src, dst) = (V4_SRC.into(), IPV4_MULTICAST.into());
        assert!(packet.verify_checksum(src, dst, ChecksumMode::PseudoHeader));
        assert!(!packet.verify_checksum(src, dst, ChecksumMode::NoPseudoHeader));
    }

    #[test]
    fn deconstruct_v3_ipv6() {
        let packet = Packet::new_checked(ipv6_payload(&V3_IPV6), Family::Ipv6).unwrap();
        assert_eq!(packet.version(), 3);
        assert_eq!(packet.vrid(), 53);
        assert_eq!(packet.priority(), 150);
        assert_eq!(packet.count(), 1);
        assert_eq!(packet.max_adver_int_cs(), 100);
        assert_eq!(packet.checksum(), 0x390f);
        assert_eq!(packet.message_len(), 24);
        assert_eq!(packet.address(0), Some("2001:db8::100".parse().unwrap()));
        // The IPv6 pseudo-header is used whatever the mode says.
        for mode in [ChecksumMode::PseudoHeader, ChecksumMode::NoPseudoHeader] {
            assert!(packet.verify_checksum(V6_SRC.into(), IPV6_MULTICAST.into(), mode));
        }
        let other_src: IpAddr = "fe80::1".parse().unwrap();
        assert!(!packet.verify_checksum(
            other_src,
            IPV6_MULTICAST.into(),
            ChecksumMode::PseudoHeader
        ));
    }

    #[test]
    fn construct_v2_pass_with_setters() {
        let mut bytes = vec![0xa5; 24];
        let mut packet = Packet::new_unchecked(&mut bytes, Family::Ipv4);
        packet.set_version(2);
        packet.set_msg_type(1);
        packet.set_vrid(51);
        packet.set_priority(150);
        packet.set_count(2);
        packet.set_auth_type(AUTH_TYPE_PASSWORD);
        packet.set_adver_int_seconds(1);
        packet.set_address(0, Ipv4Addr::new(192, 0, 2, 100).into());
        packet.set_address(1, Ipv4Addr::new(192, 0, 2, 101).into());
        packet.set_auth_data(b"secret42");
        packet.fill_checksum(
            V4_SRC.into(),
            IPV4_MULTICAST.into(),
            ChecksumMode::PseudoHeader,
        );
        assert_eq!(&bytes[..], ipv4_payload(&V2_IPV4_PASS));
    }

    #[test]
    fn construct_v3_ipv6_with_setters() {
        let mut bytes = vec![0xa5; 24];
        let mut packet = Packet::new_unchecked(&mut bytes, Family::Ipv6);
        packet.set_version(3);
        packet.set_msg_type(1);
        packet.set_vrid(53);
        packet.set_priority(150);
        packet.set_count(1);
        packet.set_max_adver_int_cs(100);
        packet.set_address(0, "2001:db8::100".parse().unwrap());
        packet.fill_checksum(
            V6_SRC.into(),
            IPV6_MULTICAST.into(),
            ChecksumMode::NoPseudoHeader,
        );
        assert_eq!(&bytes[..], ipv6_payload(&V3_IPV6));
    }

    #[test]
    fn parse_captured_adverts() {
        let cases: [(&[u8], RxMeta, Advertisement); 6] = [
            (ipv4_payload(&V2_IPV4_PASS), v4_rx(255), v2_pass_advert(150)),
            (
                ipv4_payload(&V2_IPV4_PASS_PRIO0),
                v4_rx(255),
                v2_pass_advert(0),
            ),
            (ipv4_payload(&V3_IPV4), v4_rx(255), v3_ipv4_advert(150)),
            (ipv4_payload(&V3_IPV4_PRIO0), v4_rx(255), v3_ipv4_advert(0)),
            (ipv6_payload(&V3_IPV6), v6_rx(), v3_ipv6_advert(150)),
            (ipv6_payload(&V3_IPV6_PRIO0), v6_rx(), v3_ipv6_advert(0)),
        ];
        for (payload, rx, want) in cases {
            assert_eq!(parse_advertisement(payload, &rx), Ok(want));
        }
    }

    #[test]
    fn emit_reproduces_keepalived_bytes() {
        let v4 = (IpAddr::from(V4_SRC), IpAddr::from(IPV4_MULTICAST));
        let v6 = (IpAddr::from(V6_SRC), IpAddr::from(IPV6_MULTICAST));
        let cases: [(Advertisement, (IpAddr, IpAddr), &[u8]); 6] = [
            (v2_pass_advert(150), v4, ipv4_payload(&V2_IPV4_PASS)),
            (v2_pass_advert(0), v4, ipv4_payload(&V2_IPV4_PASS_PRIO0)),
            (v3_ipv4_advert(150), v4, ipv4_payload(&V3_IPV4)),
            (v3_ipv4_advert(0), v4, ipv4_payload(&V3_IPV4_PRIO0)),
            (v3_ipv6_advert(150), v6, ipv6_payload(&V3_IPV6)),
            (v3_ipv6_advert(0), v6, ipv6_payload(&V3_IPV6_PRIO0)),
        ];
        for (advert, (src, dst), want) in cases {
            assert_eq!(advert.buffer_len(), want.len());
            let bytes = advert.to_bytes(src, dst, ChecksumMode::PseudoHeader);
            assert_eq!(bytes, want, "{advert:?}");
            // emit into a larger dirty buffer writes exactly buffer_len bytes.
            let mut big = vec![0xee; want.len() + 4];
            advert.emit(&mut big, src, dst, ChecksumMode::PseudoHeader);
            assert_eq!(&big[..want.len()], want);
            assert_eq!(&big[want.len()..], &[0xee; 4]);
        }
    }

    #[test]
    fn v3_ipv4_without_pseudo_header() {
        let advert = v3_ipv4_advert(150);
        let (src, dst) = (IpAddr::from(V4_SRC), IpAddr::from(IPV4_MULTICAST));
        assert_eq!(
            advert.to_bytes(src, dst, ChecksumMode::NoPseudoHeader),
            V3_IPV4_NO_PSEUDO
        );

        let mut rx = v4_rx(255);
        rx.checksum_mode = ChecksumMode::NoPseudoHeader;
        assert_eq!(parse_advertisement(&V3_IPV4_NO_PSEUDO, &rx), Ok(advert));
        // Each mode rejects the other's checksum.
        assert_eq!(
            parse_advertisement(ipv4_payload(&V3_IPV4), &rx),
            Err(DropReason::Checksum)
        );
        assert_eq!(
            parse_advertisement(&V3_IPV4_NO_PSEUDO, &v4_rx(255)),
            Err(DropReason::Checksum)
        );
    }

    #[test]
    fn v2_checksum_ignores_mode_and_addresses() {
        let advert = v2_pass_advert(150);
        let want = ipv4_payload(&V2_IPV4_PASS);
        let other: IpAddr = Ipv4Addr::new(192, 0, 2, 9).into();
        assert_eq!(
            advert.to_bytes(other, other, ChecksumMode::NoPseudoHeader),
            want
        );
    }

    #[test]
    fn unicast_checksum_uses_real_destination() {
        let advert = v3_ipv4_advert(150);
        let peer: IpAddr = Ipv4Addr::new(192, 0, 2, 2).into();
        let bytes = advert.to_bytes(V4_SRC.into(), peer, ChecksumMode::PseudoHeader);
        let mut rx = v4_rx(64);
        rx.dst = peer;
        rx.require_hop_limit_255 = false;
        assert_eq!(parse_advertisement(&bytes, &rx), Ok(advert));
        rx.dst = IPV4_MULTICAST.into();
        assert_eq!(parse_advertisement(&bytes, &rx), Err(DropReason::Checksum));
    }

    #[test]
    fn hop_limit_must_be_255_when_required() {
        let payload = ipv4_payload(&V3_IPV4);
        assert_eq!(
            parse_advertisement(payload, &v4_rx(254)),
            Err(DropReason::HopLimit)
        );
        let mut rx = v4_rx(1);
        rx.require_hop_limit_255 = false;
        assert!(parse_advertisement(payload, &rx).is_ok());
    }

    /// Changes one byte of the VRRP message and fixes the checksum, so the check under test
    /// is the one that fires.
    fn tweak_v4(datagram: &[u8], index: usize, value: u8) -> Vec<u8> {
        let mut bytes = ipv4_payload(datagram).to_vec();
        bytes[index] = value;
        let mut packet = Packet::new_unchecked(&mut bytes, Family::Ipv4);
        packet.fill_checksum(
            V4_SRC.into(),
            IPV4_MULTICAST.into(),
            ChecksumMode::PseudoHeader,
        );
        bytes
    }

    #[test]
    fn an_advert_without_addresses_is_heard() {
        // What an instance without VIPs sends (vipd and keepalived 2.2.7 alike); keepalived
        // yields to it, so dropping it would leave two masters.
        for mut advert in [v2_pass_advert(200), v3_ipv4_advert(200)] {
            advert.addresses.clear();
            let bytes = advert.to_bytes(
                V4_SRC.into(),
                IPV4_MULTICAST.into(),
                ChecksumMode::PseudoHeader,
            );
            assert_eq!(parse_advertisement(&bytes, &v4_rx(255)), Ok(advert));
        }
    }

    #[test]
    fn structural_checks() {
        let rx = v4_rx(255);
        let v3 = ipv4_payload(&V3_IPV4);
        assert_eq!(
            parse_advertisement(&tweak_v4(&V3_IPV4, 0, 0x41), &rx),
            Err(DropReason::Version)
        );
        assert_eq!(
            parse_advertisement(&tweak_v4(&V3_IPV4, 0, 0x11), &rx),
            Err(DropReason::Version)
        );
        assert_eq!(
            parse_advertisement(&tweak_v4(&V3_IPV4, 0, 0x32), &rx),
            Err(DropReason::Type)
        );
        // Count 0 with an address behind it: longer than announced.
        assert_eq!(
            parse_advertisement(&tweak_v4(&V3_IPV4, 3, 0), &rx),
            Err(DropReason::Length)
        );
        assert_eq!(
            parse_advertisement(&tweak_v4(&V2_IPV4_PASS, 3, 0), &rx),
            Err(DropReason::Length)
        );
        // Count 2 but room for one address.
        let mut short = v3.to_vec();
        short[3] = 2;
        assert_eq!(parse_advertisement(&short, &rx), Err(DropReason::Truncated));
        assert_eq!(
            parse_advertisement(&v3[..7], &rx),
            Err(DropReason::Truncated)
        );
        assert_eq!(parse_advertisement(&[], &rx), Err(DropReason::Truncated));
        // v2 without room for the auth data.
        let v2 = ipv4_payload(&V2_IPV4_PASS);
        assert_eq!(
            parse_advertisement(&v2[..20], &rx),
            Err(DropReason::Truncated)
        );
        // Unknown v2 auth type.
        assert_eq!(
            parse_advertisement(&tweak_v4(&V2_IPV4_PASS, 4, 3), &rx),
            Err(DropReason::AuthType)
        );
        // Auth type 2 (IP AH) parses; an instance that is not AH refuses it.
        let ah = parse_advertisement(&tweak_v4(&V2_IPV4_PASS, 4, 2), &rx).unwrap();
        assert_eq!(ah.auth, Auth::Ah);
        let expect = InstanceExpectation {
            version: Version::V2,
            auth: Auth::from_password("secret42"),
            advert_interval_cs: 100,
        };
        assert_eq!(check_for_instance(&ah, &expect), Err(DropReason::AuthType));
    }

    #[test]
    fn screening_keeps_adverts_and_drops_junk_without_the_checksum() {
        assert_eq!(screen(ipv4_payload(&V2_IPV4_PASS), Family::Ipv4), Ok(51));
        assert_eq!(screen(ipv4_payload(&V3_IPV4), Family::Ipv4), Ok(52));
        assert_eq!(screen(ipv6_payload(&V3_IPV6), Family::Ipv6), Ok(53));
        // The checksum is the instance's business (its mode), not the screen's.
        let mut bad_sum = ipv4_payload(&V3_IPV4).to_vec();
        bad_sum[6] ^= 0xff;
        assert_eq!(screen(&bad_sum, Family::Ipv4), Ok(52));
        let v3 = ipv4_payload(&V3_IPV4);
        let cases: [(Vec<u8>, Family, DropReason); 8] = [
            (v3[..7].to_vec(), Family::Ipv4, DropReason::Truncated),
            (Vec::new(), Family::Ipv4, DropReason::Truncated),
            (
                tweak_v4(&V3_IPV4, 0, 0x41),
                Family::Ipv4,
                DropReason::Version,
            ),
            (tweak_v4(&V3_IPV4, 0, 0x32), Family::Ipv4, DropReason::Type),
            (tweak_v4(&V3_IPV4, 3, 0), Family::Ipv4, DropReason::Length),
            (
                [v3, &[0, 0, 0, 0]].concat(),
                Family::Ipv4,
                DropReason::Length,
            ),
            (v3.to_vec(), Family::Ipv6, DropReason::Truncated),
            (
                ipv4_payload(&V2_IPV4_PASS).to_vec(),
                Family::Ipv6,
                DropReason::AddressFamily,
            ),
        ];
        for (bytes, family, reason) in cases {
            assert_eq!(screen(&bytes, family), Err(reason), "{bytes:02x?}");
        }
        // Bigger than 255 IPv6 addresses: oversized, whatever it looks like.
        let mut huge = ipv6_payload(&V3_IPV6).to_vec();
        huge.resize(MAX_MESSAGE_LEN + 1, 0);
        assert_eq!(screen(&huge, Family::Ipv6), Err(DropReason::Oversized));
        // Over IPv4 the bound is 255 IPv4 addresses and v2's authentication data: a
        // 1,600-byte datagram is no advert of any count (it was counted as `length`, and
        // lab_hostile_segment failed for seeds whose oversized bursts were all that small).
        let mut big_v4 = ipv4_payload(&V3_IPV4).to_vec();
        big_v4.resize(Family::Ipv4.max_message_len() + 1, 0);
        assert_eq!(screen(&big_v4, Family::Ipv4), Err(DropReason::Oversized));
        big_v4.resize(1600, 0);
        assert_eq!(screen(&big_v4, Family::Ipv4), Err(DropReason::Oversized));
        // What screening passes, full parsing judges alike apart from the checksum.
        let mut rng = Rng(0x0ddb_a11c_afe5_eed5);
        for _ in 0..50_000 {
            let mut bytes = ipv4_payload(&V3_IPV4).to_vec();
            for _ in 0..rng.below(3) {
                let index = rng.below(bytes.len());
                bytes[index] = rng.next() as u8;
            }
            bytes.truncate(rng.below(bytes.len() + 4));
            if let Err(reason) = screen(&bytes, Family::Ipv4) {
                let parsed = Packet::new_checked(&bytes[..], Family::Ipv4)
                    .and_then(|p| Advertisement::parse(&p));
                assert_eq!(parsed, Err(reason), "{bytes:02x?}");
            }
        }
    }

    #[test]
    fn unicast_adverts_only_from_peers_and_ttl_255_unless_routed() {
        let peers: Vec<IpAddr> = vec!["192.0.2.2".parse().unwrap(), "2001:db8::2".parse().unwrap()];
        assert_eq!(check_unicast_source(peers[0], &peers), Ok(()));
        assert_eq!(check_unicast_source(peers[1], &peers), Ok(()));
        for stranger in ["192.0.2.3", "2001:db8::3", "0.0.0.0"] {
            assert_eq!(
                check_unicast_source(stranger.parse().unwrap(), &peers),
                Err(DropReason::NotPeer)
            );
        }
        assert_eq!(
            check_unicast_source(peers[0], &[]),
            Err(DropReason::NotPeer)
        );
        // Multicast: always 255. Unicast: 255 while we send with 255 ourselves.
        for ipv6 in [false, true] {
            assert!(hop_limit_255_required(false, ipv6, None));
            assert!(hop_limit_255_required(false, ipv6, Some(64)));
            assert!(!hop_limit_255_required(true, ipv6, Some(254)));
            assert!(!hop_limit_255_required(true, ipv6, Some(1)));
        }
        assert!(hop_limit_255_required(true, false, None));
        assert!(hop_limit_255_required(true, false, Some(255)));
        // IPv6 unicast: keepalived 2.2.7 sends with hop limit 64.
        assert!(!hop_limit_255_required(true, true, None));
        assert!(!hop_limit_255_required(true, true, Some(255)));
        // A peer's own range.
        assert_eq!(check_hop_limit_range(250, 250, 255), Ok(()));
        assert_eq!(check_hop_limit_range(255, 250, 255), Ok(()));
        assert_eq!(
            check_hop_limit_range(249, 250, 255),
            Err(DropReason::HopLimit)
        );
        assert_eq!(check_hop_limit_range(64, 0, 63), Err(DropReason::HopLimit));
        assert_eq!(check_hop_limit_range(0, 0, 0), Ok(()));
    }

    #[test]
    fn trailing_bytes_are_junk() {
        // Count says 1 address but 2 are there, checksum right over the announced length
        // and over the whole: dropped either way.
        let mut bytes = ipv4_payload(&V3_IPV4).to_vec();
        bytes.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(
            parse_advertisement(&bytes, &v4_rx(255)),
            Err(DropReason::Length)
        );
        let mut v2 = ipv4_payload(&V2_IPV4_PASS).to_vec();
        v2.extend_from_slice(&[0, 0]);
        assert_eq!(
            parse_advertisement(&v2, &v4_rx(255)),
            Err(DropReason::Length)
        );
    }

    #[test]
    fn family_mismatches() {
        let mut rx = v4_rx(255);
        rx.dst = IPV6_MULTICAST.into();
        assert_eq!(
            parse_advertisement(ipv4_payload(&V3_IPV4), &rx),
            Err(DropReason::AddressFamily)
        );
        // v2 in an IPv6 packet.
        let v2 = ipv4_payload(&V2_IPV4_PASS);
        assert_eq!(
            parse_advertisement(v2, &v6_rx()),
            Err(DropReason::AddressFamily)
        );
        // An IPv4-sized v3 advert in an IPv6 packet: 4-byte address read as 16 bytes.
        assert_eq!(
            parse_advertisement(ipv4_payload(&V3_IPV4), &v6_rx()),
            Err(DropReason::Truncated)
        );
    }

    #[test]
    fn every_single_byte_change_is_dropped() {
        let captures: [(&[u8], RxMeta); 6] = [
            (ipv4_payload(&V2_IPV4_PASS), v4_rx(255)),
            (ipv4_payload(&V2_IPV4_PASS_PRIO0), v4_rx(255)),
            (ipv4_payload(&V3_IPV4), v4_rx(255)),
            (ipv4_payload(&V3_IPV4_PRIO0), v4_rx(255)),
            (ipv6_payload(&V3_IPV6), v6_rx()),
            (ipv6_payload(&V3_IPV6_PRIO0), v6_rx()),
        ];
        for (payload, rx) in captures {
            for index in 0..payload.len() {
                for flip in [0x01, 0x80, 0xff, 0x5a] {
                    let mut bytes = payload.to_vec();
                    bytes[index] ^= flip;
                    assert!(
                        parse_advertisement(&bytes, &rx).is_err(),
                        "byte {index} ^ {flip:#x} of {payload:02x?} accepted"
                    );
                }
            }
        }
    }

    #[test]
    fn instance_checks() {
        let advert = v2_pass_advert(150);
        let expect = InstanceExpectation {
            version: Version::V2,
            auth: Auth::from_password("secret42"),
            advert_interval_cs: 100,
        };
        assert_eq!(check_for_instance(&advert, &expect), Ok(()));
        let wrong = |change: fn(&mut InstanceExpectation)| {
            let mut expect = expect.clone();
            change(&mut expect);
            check_for_instance(&advert, &expect)
        };
        assert_eq!(
            wrong(|e| e.version = Version::V3),
            Err(DropReason::VersionMismatch)
        );
        assert_eq!(wrong(|e| e.auth = Auth::None), Err(DropReason::AuthType));
        assert_eq!(
            wrong(|e| e.auth = Auth::from_password("secret43")),
            Err(DropReason::AuthPassword)
        );
        assert_eq!(
            wrong(|e| e.advert_interval_cs = 200),
            Err(DropReason::IntervalMismatch)
        );
        // An advert interval of 0 seconds matches no instance (it used to round up to 1 s).
        let zero = Advertisement {
            advert_interval_cs: 0,
            ..advert.clone()
        };
        assert_eq!(
            check_for_instance(&zero, &expect),
            Err(DropReason::IntervalMismatch)
        );

        let plain = Advertisement {
            auth: Auth::None,
            ..advert.clone()
        };
        assert_eq!(
            check_for_instance(&plain, &expect),
            Err(DropReason::AuthType)
        );

        // v3 ignores auth and interval (backups learn the master's interval).
        let v3 = v3_ipv4_advert(100);
        let expect_v3 = InstanceExpectation {
            version: Version::V3,
            auth: Auth::from_password("whatever"),
            advert_interval_cs: 100,
        };
        assert_eq!(check_for_instance(&v3, &expect_v3), Ok(()));
        assert_eq!(
            check_for_instance(&v3, &expect),
            Err(DropReason::VersionMismatch)
        );
    }

    #[test]
    fn password_is_truncated_and_padded_like_keepalived() {
        assert_eq!(
            Auth::from_password("secret42"),
            Auth::Password(*b"secret42")
        );
        assert_eq!(
            Auth::from_password("secret42-and-more"),
            Auth::Password(*b"secret42")
        );
        assert_eq!(
            Auth::from_password("abc"),
            Auth::Password(*b"abc\0\0\0\0\0")
        );
        assert_eq!(format!("{:?}", Auth::from_password("abc")), "Password(..)");
    }

    #[test]
    fn emit_edge_cases() {
        // v2 interval: whole seconds, rounded, at least 1.
        let mut advert = v2_pass_advert(100);
        for (cs, seconds) in [
            (100, 1),
            (149, 1),
            (150, 2),
            (10, 1),
            (0, 1),
            (u16::MAX, 255),
        ] {
            advert.advert_interval_cs = cs;
            let bytes = advert.to_bytes(
                V4_SRC.into(),
                IPV4_MULTICAST.into(),
                ChecksumMode::PseudoHeader,
            );
            assert_eq!(bytes[5], seconds, "{cs} cs");
        }
        // v3 interval saturates at 12 bits, reserved bits stay zero.
        let mut advert = v3_ipv4_advert(100);
        advert.advert_interval_cs = 5000;
        let bytes = advert.to_bytes(
            V4_SRC.into(),
            IPV4_MULTICAST.into(),
            ChecksumMode::PseudoHeader,
        );
        assert_eq!(&bytes[4..6], &[0x0f, 0xff]);
        // Addresses of the other family are left out; count and length follow.
        advert.addresses.push("2001:db8::1".parse().unwrap());
        assert_eq!(advert.buffer_len(), 12);
        let bytes = advert.to_bytes(
            V4_SRC.into(),
            IPV4_MULTICAST.into(),
            ChecksumMode::PseudoHeader,
        );
        assert_eq!(bytes[3], 1);
        // At most 255 addresses.
        advert.addresses = (0..300u32)
            .map(|n| IpAddr::from(Ipv4Addr::from(0xc000_0200 + n)))
            .collect();
        let bytes = advert.to_bytes(
            V4_SRC.into(),
            IPV4_MULTICAST.into(),
            ChecksumMode::PseudoHeader,
        );
        assert_eq!(bytes.len(), 8 + 255 * 4);
        assert_eq!(bytes[3], 255);
        assert!(parse_advertisement(&bytes, &v4_rx(255)).is_ok());
    }

    #[test]
    fn drop_reason_names_are_unique_snake_case() {
        let names: Vec<&str> = DropReason::ALL.iter().map(DropReason::as_str).collect();
        for (i, name) in names.iter().enumerate() {
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{name}"
            );
            assert!(!names[..i].contains(name), "duplicate {name}");
        }
        assert_eq!(names.len(), DropReason::ALL.len());
        for (index, reason) in DropReason::ALL.iter().enumerate() {
            assert_eq!(reason.index(), index, "{reason:?}");
        }
    }

    /// xorshift64*: deterministic, no dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn random_input_never_panics() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let seeds: [&[u8]; 6] = [
            &V2_IPV4_PASS,
            &V2_IPV4_PASS_PRIO0,
            &V3_IPV4,
            &V3_IPV4_PRIO0,
            &V3_IPV6,
            &V3_IPV6_PRIO0,
        ];
        let metas = [v4_rx(255), v6_rx(), {
            let mut mixed = v4_rx(255);
            mixed.dst = IPV6_MULTICAST.into();
            mixed
        }];
        let mut accepted = 0;
        for round in 0..200_000 {
            let mut bytes: Vec<u8> = if round % 2 == 0 {
                (0..rng.below(100)).map(|_| rng.next() as u8).collect()
            } else {
                // Mutate a capture: flip bytes, cut or extend it.
                let mut bytes = seeds[rng.below(seeds.len())].to_vec();
                for _ in 0..rng.below(4) {
                    let index = rng.below(bytes.len());
                    bytes[index] = rng.next() as u8;
                }
                match rng.below(3) {
                    0 => bytes.truncate(rng.below(bytes.len() + 1)),
                    1 => bytes.extend((0..rng.below(8)).map(|_| rng.next() as u8)),
                    _ => {}
                }
                bytes
            };
            if round % 7 == 0 && bytes.len() > 40 {
                bytes.drain(..40);
            }
            for rx in &metas {
                if parse_advertisement(&bytes, rx).is_ok() {
                    accepted += 1;
                }
            }
            if let Ok((_, payload)) = split_ipv4(&bytes) {
                let _ = parse_advertisement(payload, &metas[0]);
            }
            for family in [Family::Ipv4, Family::Ipv6] {
                if let Ok(packet) = Packet::new_checked(&bytes[..], family) {
                    let _ = (packet.vrid(), packet.priority(), packet.checksum());
                    let _ = (
                        packet.auth_type(),
                        packet.adver_int_seconds(),
                        packet.max_adver_int_cs(),
                    );
                    let _ = packet.addresses().count();
                    let _ = packet.auth_data();
                    let _ = Advertisement::parse(&packet);
                }
            }
        }
        // Mutated captures sometimes survive intact (no flips, no cut), so some pass.
        assert!(accepted > 0);
    }

    /// Writing an advert from a borrowed list (what an instance sends every interval) gives
    /// the very bytes of building the [`Advertisement`] first, appended after what `out`
    /// already held.
    #[test]
    fn an_advert_appended_from_a_borrowed_list_is_the_one_built() {
        let v4 = ips(&["192.0.2.100", "192.0.2.101"]);
        let v6 = ips(&["2001:db8::100", "192.0.2.7", "2001:db8::101"]);
        let many: Vec<IpAddr> = (0..300u32)
            .map(|i| IpAddr::V4(std::net::Ipv4Addr::from(0xc000_0200 + i)))
            .collect();
        let (src4, dst4) = (ips(&["192.0.2.1"])[0], ips(&["224.0.0.18"])[0]);
        let (src6, dst6) = (ips(&["fe80::1"])[0], ips(&["ff02::12"])[0]);
        let cases = [
            (
                Version::V2,
                Auth::Password(*b"secret42"),
                v4.clone(),
                src4,
                dst4,
            ),
            (Version::V2, Auth::None, v4.clone(), src4, dst4),
            (Version::V3, Auth::None, v4, src4, dst4),
            (Version::V3, Auth::None, v6, src6, dst6),
            (Version::V3, Auth::None, many, src4, dst4),
            (Version::V3, Auth::None, Vec::new(), src4, dst4),
        ];
        let mut out = vec![0xaa; 3];
        for (version, auth, addresses, src, dst) in cases {
            let advert = Advertisement {
                version,
                vrid: 51,
                priority: 150,
                advert_interval_cs: 100,
                addresses,
                auth,
            };
            for mode in [ChecksumMode::PseudoHeader, ChecksumMode::NoPseudoHeader] {
                let built = advert.to_bytes(src, dst, mode);
                let header = advert.header();
                let list = advert.addresses.iter().copied();
                assert_eq!(advert_len(&header, list.clone()), built.len());
                out.truncate(3);
                append_advert(&header, list, &mut out, src, dst, mode);
                assert_eq!(out[..3], [0xaa; 3]);
                assert_eq!(out[3..], built[..], "{version:?} {mode:?}");
            }
        }
    }

    /// The cached advert is always the one written afresh, whatever changed in between:
    /// priority, address list, source, destination (more than it keeps), checksum mode.
    #[test]
    fn cached_adverts_are_always_what_would_be_written() {
        let sources = ips(&["192.0.2.1", "192.0.2.9"]);
        let destinations = ips(&[
            "224.0.0.18",
            "192.0.2.2",
            "192.0.2.3",
            "192.0.2.4",
            "192.0.2.5",
            "192.0.2.6",
        ]);
        let lists = [
            ips(&["198.51.100.1"]),
            ips(&["198.51.100.2"]),
            ips(&["198.51.100.1", "198.51.100.2"]),
            Vec::new(),
        ];
        let mut cache = AdvertCache::default();
        let mut out = Vec::new();
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for step in 0..5_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let pick = |shift: u32, n: usize| ((seed >> shift) as usize) % n;
            let advert = Advertisement {
                version: Version::V3,
                vrid: 51,
                priority: [150, 150, 150, 0, 100][pick(0, 5)],
                advert_interval_cs: 1,
                addresses: lists[pick(8, lists.len())].clone(),
                auth: Auth::None,
            };
            let (src, dst) = (sources[pick(16, 2)], destinations[pick(24, 6)]);
            let mode = [ChecksumMode::PseudoHeader, ChecksumMode::NoPseudoHeader][pick(32, 2)];
            out.clear();
            out.push(0xaa);
            let list = advert.addresses.iter().copied();
            cache.append(&advert.header(), list, &mut out, src, dst, mode);
            assert_eq!(out[1..], advert.to_bytes(src, dst, mode)[..], "step {step}");
        }
    }

    /// A backup parses every advert into one reused [`Advertisement`]: each parse leaves
    /// exactly what [`parse_advertisement`] returns, nothing of the advert before it, and a
    /// refused advert leaves no addresses behind.
    #[test]
    fn parsing_into_a_reused_advert_leaves_exactly_the_new_one() {
        let (src, dst) = (ips(&["192.0.2.1"])[0], ips(&["224.0.0.18"])[0]);
        let rx = RxMeta {
            src,
            dst,
            hop_limit: HOP_LIMIT,
            require_hop_limit_255: true,
            checksum_mode: ChecksumMode::PseudoHeader,
        };
        let advert = |priority: u8, addresses: &[&str]| Advertisement {
            version: Version::V3,
            vrid: 7,
            priority,
            advert_interval_cs: 1,
            addresses: ips(addresses),
            auth: Auth::None,
        };
        let long = advert(150, &["192.0.2.100", "192.0.2.101", "192.0.2.102"]);
        let short = advert(0, &["192.0.2.200"]);
        let mut reused = Advertisement::empty();
        for sent in [&long, &short, &long] {
            let bytes = sent.to_bytes(src, dst, ChecksumMode::PseudoHeader);
            assert_eq!(parse_advertisement_into(&bytes, &rx, &mut reused), Ok(()));
            assert_eq!(&reused, sent);
            assert_eq!(parse_advertisement(&bytes, &rx).as_ref(), Ok(sent));
        }
        let mut corrupt = short.to_bytes(src, dst, ChecksumMode::PseudoHeader);
        corrupt[2] ^= 1;
        assert_eq!(
            parse_advertisement_into(&corrupt, &rx, &mut reused),
            Err(DropReason::Checksum)
        );
        assert!(reused.addresses.is_empty());
    }
}
