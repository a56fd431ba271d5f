//! Short blocking rtnetlink requests: interface lookups and adding/removing addresses.
//!
//! Every call is one request and its reply on a private route socket, a few microseconds of
//! kernel work, so it is fine to call from async code.

use std::io::{self, Cursor};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU32, Ordering};

use neli::consts::nl::{NlmF, Nlmsg};
use neli::consts::rtnl::{Ifa, IfaF, Iff, Ifla, RtAddrFamily, RtScope, Rtm};
use neli::consts::socket::NlFamily;
use neli::nl::{NlPayload, NlmsghdrBuilder};
use neli::rtnl::{Ifaddrmsg, IfaddrmsgBuilder, Ifinfomsg, IfinfomsgBuilder, RtattrBuilder};
use neli::socket::synchronous::NlSocketHandle;
use neli::types::{Buffer, RtBuffer};
use neli::utils::Groups;
use neli::{FromBytesWithInput, Size, ToBytes};

/// `IFA_F_*` flags of an address (the 32-bit `IFA_FLAGS` value when the kernel sends it).
pub mod address_flags {
    pub const SECONDARY: u32 = libc::IFA_F_SECONDARY;
    pub const NODAD: u32 = libc::IFA_F_NODAD;
    pub const DADFAILED: u32 = libc::IFA_F_DADFAILED;
    pub const TENTATIVE: u32 = libc::IFA_F_TENTATIVE;
    pub const PERMANENT: u32 = libc::IFA_F_PERMANENT;
}

/// What the kernel says about one interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    pub index: u32,
    pub name: String,
    /// Administratively up (`IFF_UP`) and operationally running (`IFF_RUNNING`, i.e. carrier).
    pub up: bool,
    /// Hardware address, when the link has a 6-byte one (Ethernet, veth, bridge, bond...).
    pub mac: Option<[u8; 6]>,
}

/// One address configured on an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceAddress {
    pub index: u32,
    pub addr: IpAddr,
    pub prefix_len: u8,
    /// `IFA_F_*` bits, see [`address_flags`].
    pub flags: u32,
    /// `IFA_LABEL` (IPv4 only), e.g. `eth0:vip`.
    pub label: Option<String>,
    /// `ifa_scope`: 0 global, 253 link, 254 host.
    pub scope: u8,
}

impl InterfaceAddress {
    pub fn is_usable(&self) -> bool {
        self.flags & (address_flags::TENTATIVE | address_flags::DADFAILED) == 0
    }
}

/// A route netlink socket for request/reply calls.
pub struct Netlink {
    socket: NlSocketHandle,
    seq: AtomicU32,
}

pub(crate) fn neli_error(context: &str, err: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("netlink {context}: {err}"))
}

fn socket_error(context: &str, err: neli::err::SocketError) -> io::Error {
    match err {
        neli::err::SocketError::Io(e) => {
            io::Error::new(e.kind(), format!("netlink {context}: {e}"))
        }
        other => neli_error(context, other),
    }
}

impl Netlink {
    /// Open a route netlink socket in the calling thread's network namespace.
    pub fn new() -> io::Result<Self> {
        let socket = NlSocketHandle::connect(NlFamily::Route, None, Groups::empty())
            .map_err(|e| socket_error("connect", e))?;
        Ok(Netlink {
            socket,
            seq: AtomicU32::new(1),
        })
    }

    /// Send one request and collect the payloads of the reply (all parts of a dump).
    /// A netlink error reply becomes an `io::Error` carrying the errno.
    pub(crate) fn request<S, R>(
        &self,
        ty: Rtm,
        flags: NlmF,
        payload: S,
        context: &str,
    ) -> io::Result<Vec<R>>
    where
        S: Size + ToBytes + std::fmt::Debug,
        R: FromBytesWithInput<Input = usize>,
    {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let msg = NlmsghdrBuilder::default()
            .nl_type(ty)
            .nl_flags(flags | NlmF::REQUEST | NlmF::ACK)
            .nl_seq(seq)
            .nl_payload(NlPayload::Payload(payload))
            .build()
            .map_err(|e| neli_error(context, e))?;
        self.socket
            .send(&msg)
            .map_err(|e| socket_error(context, e))?;

        let reply_type: u16 = match ty {
            Rtm::Getlink => Rtm::Newlink.into(),
            Rtm::Getaddr => Rtm::Newaddr.into(),
            other => other.into(),
        };
        let done: u16 = Nlmsg::Done.into();
        let mut out = Vec::new();
        loop {
            let (messages, _) = self
                .socket
                .recv::<u16, Buffer>()
                .map_err(|e| socket_error(context, e))?;
            for message in messages {
                let message = message.map_err(|e| socket_error(context, e))?;
                if *message.nl_seq() != seq {
                    continue;
                }
                match message.nl_payload() {
                    NlPayload::Err(err) => {
                        // Keep the bare errno so callers can match on it.
                        return Err(io::Error::from_raw_os_error(-*err.error()));
                    }
                    NlPayload::Ack(_) | NlPayload::DumpExtAck(_) | NlPayload::Empty => {
                        return Ok(out)
                    }
                    NlPayload::Payload(bytes) => {
                        if *message.nl_type() == done {
                            return Ok(out);
                        }
                        if *message.nl_type() == reply_type {
                            let len = bytes.as_ref().len();
                            let parsed =
                                R::from_bytes_with_input(&mut Cursor::new(bytes.as_ref()), len)
                                    .map_err(|e| neli_error(context, e))?;
                            out.push(parsed);
                        }
                    }
                }
            }
        }
    }

    fn links(&self) -> io::Result<Vec<LinkInfo>> {
        let msg = IfinfomsgBuilder::default()
            .ifi_family(RtAddrFamily::Unspecified)
            .build()
            .map_err(|e| neli_error("link dump", e))?;
        let replies: Vec<Ifinfomsg> = self.request(Rtm::Getlink, NlmF::DUMP, msg, "link dump")?;
        Ok(replies.iter().filter_map(link_info).collect())
    }

    /// One link, asked for by index or by name: the kernel answers for that link alone. (A
    /// dump of every link per lookup made each VIP added and each GARP sent cost a walk over
    /// all interfaces, hundreds of pod veths on a Kubernetes node.)
    fn link_by(&self, index: i32, name: Option<&str>) -> io::Result<Option<LinkInfo>> {
        let context = "link lookup";
        let mut attrs = RtBuffer::new();
        if let Some(name) = name {
            // No interface has an empty name or one longer than IFNAMSIZ - 1 bytes.
            if name.is_empty() || name.len() >= libc::IFNAMSIZ {
                return Ok(None);
            }
            let mut text = name.as_bytes().to_vec();
            text.push(0);
            attrs.push(
                RtattrBuilder::default()
                    .rta_type(Ifla::Ifname)
                    .rta_payload(Buffer::from(text))
                    .build()
                    .map_err(|e| neli_error(context, e))?,
            );
        }
        let msg = IfinfomsgBuilder::default()
            .ifi_family(RtAddrFamily::Unspecified)
            .ifi_index(index)
            .rtattrs(attrs)
            .build()
            .map_err(|e| neli_error(context, e))?;
        match self.request::<_, Ifinfomsg>(Rtm::Getlink, NlmF::empty(), msg, context) {
            Ok(replies) => Ok(replies.iter().find_map(link_info)),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The index of the interface called `name`, if it exists.
    pub fn link_index(&self, name: &str) -> io::Result<Option<u32>> {
        Ok(self
            .link_by(0, Some(name))?
            .filter(|link| link.name == name)
            .map(|link| link.index))
    }

    /// State of the interface with this index; `None` if there is no such interface.
    pub fn link(&self, index: u32) -> io::Result<Option<LinkInfo>> {
        let Ok(index) = i32::try_from(index) else {
            return Ok(None);
        };
        if index == 0 {
            return Ok(None);
        }
        Ok(self
            .link_by(index, None)?
            .filter(|link| link.index as i32 == index))
    }

    /// All addresses of one interface, in kernel order (IPv4 primary before its secondaries).
    pub fn addresses(&self, index: u32) -> io::Result<Vec<InterfaceAddress>> {
        Ok(self
            .all_addresses()?
            .into_iter()
            .filter(|a| a.index == index)
            .collect())
    }

    /// Every address of every interface, in kernel order.
    pub fn all_addresses(&self) -> io::Result<Vec<InterfaceAddress>> {
        let msg = IfaddrmsgBuilder::default()
            .ifa_family(RtAddrFamily::Unspecified)
            .ifa_prefixlen(0)
            .ifa_scope(RtScope::Universe)
            .ifa_index(0)
            .build()
            .map_err(|e| neli_error("address dump", e))?;
        let replies: Vec<Ifaddrmsg> =
            self.request(Rtm::Getaddr, NlmF::DUMP, msg, "address dump")?;
        Ok(replies.iter().filter_map(interface_address).collect())
    }

    /// Every link: index, name, state.
    pub fn all_links(&self) -> io::Result<Vec<LinkInfo>> {
        self.links()
    }

    /// The primary (first non-secondary) IPv4 address of an interface, one of global scope
    /// first: the kernel lists a link or host scope address (keepalived's `static_ipaddress
    /// ... scope link`) before the interface's own, and keepalived 2.2.7 keeps sending from
    /// the address it found first (corpus run).
    pub fn primary_ipv4(&self, index: u32) -> io::Result<Option<Ipv4Addr>> {
        Ok(primary_ipv4_of(&self.addresses(index)?))
    }

    /// The (usable, i.e. not tentative) IPv6 link-local address of an interface.
    pub fn ipv6_link_local(&self, index: u32) -> io::Result<Option<Ipv6Addr>> {
        Ok(self
            .addresses(index)?
            .into_iter()
            .find_map(|a| match a.addr {
                IpAddr::V6(v6) if is_link_local(&v6) && a.is_usable() => Some(v6),
                _ => None,
            }))
    }

    /// Add an address: `Ok(true)` when added, `Ok(false)` when it was already there (for
    /// IPv4 the same address with the same prefix; for IPv6 the same address). IPv6 addresses
    /// are added with `IFA_F_NODAD` so a virtual IP is usable at once. The label (IPv4 only)
    /// must start with the interface name, like `ip addr add ... label eth0:vip` requires.
    pub fn add_address(
        &self,
        index: u32,
        addr: IpAddr,
        prefix_len: u8,
        label: Option<&str>,
    ) -> io::Result<bool> {
        let options = AddressOptions {
            label,
            ..AddressOptions::default()
        };
        self.add_address_with(index, addr, prefix_len, &options)
    }

    /// Like [`Netlink::add_address`] with every option of a keepalived VIP.
    pub fn add_address_with(
        &self,
        index: u32,
        addr: IpAddr,
        prefix_len: u8,
        options: &AddressOptions<'_>,
    ) -> io::Result<bool> {
        let msg = address_message(index, addr, prefix_len, options)?;
        match self.request::<_, Ifaddrmsg>(
            Rtm::Newaddr,
            NlmF::CREATE | NlmF::EXCL,
            msg,
            "add address",
        ) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(false),
            other => other.map(|_| true),
        }
    }

    /// Delete an address; an address that is not there counts as success.
    pub fn delete_address(&self, index: u32, addr: IpAddr, prefix_len: u8) -> io::Result<()> {
        let msg = address_message(index, addr, prefix_len, &AddressOptions::default())?;
        match self.request::<_, Ifaddrmsg>(Rtm::Deladdr, NlmF::empty(), msg, "delete address") {
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EADDRNOTAVAIL) | Some(libc::ENOENT)
                ) =>
            {
                Ok(())
            }
            other => other.map(drop),
        }
    }
}

impl AsRawFd for Netlink {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

pub(crate) fn is_link_local(addr: &Ipv6Addr) -> bool {
    addr.segments()[0] & 0xffc0 == 0xfe80
}

/// What `ip address add` takes besides the address (keepalived's VIP options).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddressOptions<'a> {
    /// IPv4 only.
    pub label: Option<&'a str>,
    /// `brd`, IPv4 only.
    pub broadcast: Option<Ipv4Addr>,
    /// `scope` as the kernel numbers it: 0 global, 200 site, 253 link, 254 host, 255 nowhere.
    pub scope: u8,
    /// Metric of the prefix route (`ip address add ... metric N`).
    pub metric: Option<u32>,
}

/// `IFA_RT_PRIORITY`: the metric of the address's prefix route.
const IFA_RT_PRIORITY: u16 = 9;

fn address_message(
    index: u32,
    addr: IpAddr,
    prefix_len: u8,
    options: &AddressOptions<'_>,
) -> io::Result<Ifaddrmsg> {
    let label = options.label;
    let context = "address message";
    let (family, bytes, max_prefix) = match addr {
        IpAddr::V4(v4) => (RtAddrFamily::Inet, v4.octets().to_vec(), 32),
        IpAddr::V6(v6) => (RtAddrFamily::Inet6, v6.octets().to_vec(), 128),
    };
    if prefix_len > max_prefix {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("prefix length {prefix_len} is too long for {addr}"),
        ));
    }
    let attr = |ty: Ifa, payload: Buffer| {
        RtattrBuilder::default()
            .rta_type(ty)
            .rta_payload(payload)
            .build()
            .map_err(|e| neli_error(context, e))
    };
    let mut attrs = RtBuffer::new();
    attrs.push(attr(Ifa::Local, Buffer::from(bytes.clone()))?);
    attrs.push(attr(Ifa::Address, Buffer::from(bytes))?);
    if let Some(metric) = options.metric {
        attrs.push(attr(
            Ifa::UnrecognizedConst(IFA_RT_PRIORITY),
            Buffer::from(metric.to_ne_bytes().to_vec()),
        )?);
    }
    let flags = match addr {
        IpAddr::V4(_) => {
            if let Some(broadcast) = options.broadcast {
                attrs.push(attr(
                    Ifa::Broadcast,
                    Buffer::from(broadcast.octets().to_vec()),
                )?);
            }
            if let Some(label) = label {
                let mut text = label.as_bytes().to_vec();
                text.push(0);
                attrs.push(attr(Ifa::Label, Buffer::from(text))?);
            }
            IfaF::empty()
        }
        IpAddr::V6(_) => {
            attrs.push(attr(
                Ifa::Flags,
                Buffer::from(address_flags::NODAD.to_ne_bytes().to_vec()),
            )?);
            IfaF::NODAD
        }
    };
    IfaddrmsgBuilder::default()
        .ifa_family(family)
        .ifa_prefixlen(prefix_len)
        .ifa_flags(flags)
        .ifa_scope(RtScope::from(options.scope))
        .ifa_index(index)
        .rtattrs(attrs)
        .build()
        .map_err(|e| neli_error(context, e))
}

pub(crate) fn link_info(msg: &Ifinfomsg) -> Option<LinkInfo> {
    let index = u32::try_from(*msg.ifi_index()).ok()?;
    let mut name = None;
    let mut mac = None;
    for attr in msg.rtattrs().iter() {
        let payload = attr.rta_payload().as_ref();
        if *attr.rta_type() == Ifla::Ifname {
            let text = payload.split(|b| *b == 0).next().unwrap_or_default();
            name = Some(String::from_utf8_lossy(text).into_owned());
        } else if *attr.rta_type() == Ifla::Address {
            mac = <[u8; 6]>::try_from(payload).ok();
        }
    }
    let flags = *msg.ifi_flags();
    Some(LinkInfo {
        index,
        name: name.unwrap_or_default(),
        up: flags.contains(Iff::UP) && flags.contains(Iff::RUNNING),
        mac,
    })
}

/// See [`Netlink::primary_ipv4`].
fn primary_ipv4_of(addresses: &[InterfaceAddress]) -> Option<Ipv4Addr> {
    let primaries = || {
        addresses.iter().filter_map(|a| match a.addr {
            IpAddr::V4(v4) if a.flags & address_flags::SECONDARY == 0 => Some((v4, a.scope)),
            _ => None,
        })
    };
    (primaries().find(|(_, scope)| *scope == 0))
        .or_else(|| primaries().next())
        .map(|(v4, _)| v4)
}

pub(crate) fn interface_address(msg: &Ifaddrmsg) -> Option<InterfaceAddress> {
    let mut local = None;
    let mut address = None;
    let mut label = None;
    let mut flags = u32::from(u8::from(*msg.ifa_flags()));
    for attr in msg.rtattrs().iter() {
        let payload = attr.rta_payload().as_ref();
        let ty = *attr.rta_type();
        if ty == Ifa::Local {
            local = parse_ip(payload);
        } else if ty == Ifa::Address {
            address = parse_ip(payload);
        } else if ty == Ifa::Label {
            let text = payload.split(|b| *b == 0).next().unwrap_or_default();
            label = Some(String::from_utf8_lossy(text).into_owned());
        } else if ty == Ifa::Flags {
            if let Ok(bytes) = <[u8; 4]>::try_from(payload) {
                flags = u32::from_ne_bytes(bytes);
            }
        }
    }
    // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on point-to-point
    // links and the only one present for ordinary IPv6 addresses.
    Some(InterfaceAddress {
        index: *msg.ifa_index(),
        addr: local.or(address)?,
        prefix_len: *msg.ifa_prefixlen(),
        flags,
        label,
        scope: u8::from(*msg.ifa_scope()),
    })
}

fn parse_ip(bytes: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        Some(IpAddr::from(v4))
    } else {
        <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Corpus run (keepalived's own sample `static_ipaddress { ... dev eth0 scope link }`):
    /// the kernel lists the link scope address first; adverts still leave from the
    /// interface's global address, as keepalived 2.2.7 sends them.
    #[test]
    fn the_primary_ipv4_address_is_one_of_global_scope_first() {
        let a = |text: &str, scope: u8, flags: u32| InterfaceAddress {
            index: 2,
            addr: text.parse().unwrap(),
            prefix_len: 24,
            flags,
            label: None,
            scope,
        };
        let listed = [
            a("2001:db8::1", 0, 0),
            a("192.0.2.100", 253, 0),
            a("192.0.2.90", 0, address_flags::SECONDARY),
            a("192.0.2.11", 0, 0),
        ];
        assert_eq!(
            primary_ipv4_of(&listed),
            Some("192.0.2.11".parse().unwrap())
        );
        assert_eq!(
            primary_ipv4_of(&listed[..2]),
            Some("192.0.2.100".parse().unwrap())
        );
        assert_eq!(primary_ipv4_of(&listed[..1]), None);
    }

    #[test]
    fn vip_options_reach_the_address_message() {
        // keepalived's `192.0.2.110/25 brd 192.0.2.127 scope link label eth0:x metric`: each
        // option must be in the request (vipd once parsed brd and scope but never sent them).
        let options = AddressOptions {
            label: Some("eth0:x"),
            broadcast: Some(Ipv4Addr::new(192, 0, 2, 127)),
            scope: 253,
            metric: Some(1024),
        };
        let addr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 110));
        let msg = address_message(7, addr, 25, &options).unwrap();
        assert_eq!(u8::from(*msg.ifa_scope()), 253);
        let payload = |ty: Ifa| {
            msg.rtattrs()
                .iter()
                .find(|a| *a.rta_type() == ty)
                .map(|a| a.rta_payload().as_ref().to_vec())
        };
        assert_eq!(payload(Ifa::Broadcast), Some(vec![192, 0, 2, 127]));
        assert_eq!(payload(Ifa::Label), Some(b"eth0:x\0".to_vec()));
        assert_eq!(
            payload(Ifa::UnrecognizedConst(IFA_RT_PRIORITY)),
            Some(1024u32.to_ne_bytes().to_vec())
        );
        let plain = address_message(7, addr, 25, &AddressOptions::default()).unwrap();
        assert_eq!(u8::from(*plain.ifa_scope()), 0);
        assert!(!plain
            .rtattrs()
            .iter()
            .any(|a| *a.rta_type() == Ifa::Broadcast));
    }
}
