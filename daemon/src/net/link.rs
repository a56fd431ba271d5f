//! What vipd asks of and changes on links beyond addresses: their kind, parent, flags and
//! hardware type, creating and deleting macvlans, up/down, IPv4 devconf values (arp_ignore
//! and friends, set over netlink because the hardened unit cannot write /proc/sys) and the
//! IPv6 address generation mode.

use std::io;

use neli::consts::nl::NlmF;
use neli::consts::rtnl::{Iff, Ifla, IflaInfo, RtAddrFamily, Rtm};
use neli::rtnl::{Ifinfomsg, IfinfomsgBuilder, RtattrBuilder};
use neli::types::{Buffer, RtBuffer};

use super::netlink::{neli_error, Netlink};

/// IPv4 per-interface settings (`IPV4_DEVCONF_*` of linux/ip.h, 1-based).
pub mod devconf {
    pub const RP_FILTER: u16 = 8;
    pub const ARP_FILTER: u16 = 13;
    pub const ARP_ANNOUNCE: u16 = 18;
    pub const ARP_IGNORE: u16 = 19;
    pub const PROMOTE_SECONDARIES: u16 = 20;
    pub const ACCEPT_LOCAL: u16 = 23;
}

/// `IN6_ADDR_GEN_MODE_NONE`: no automatic IPv6 link-local (or EUI-64) address.
pub const ADDR_GEN_MODE_NONE: u8 = 1;

const IFLA_INET_CONF: u16 = 1;
const IFLA_INET6_ADDR_GEN_MODE: u16 = 8;
const IFLA_MACVLAN_MODE: u16 = 1;
const MACVLAN_MODE_BRIDGE: u32 = 4;
const ARPHRD_ETHER: u16 = 1;

/// One link as the kernel describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LinkDetails {
    pub index: u32,
    pub name: String,
    /// `IFLA_INFO_KIND`: `macvlan`, `veth`, `bridge`, `wireguard`...; None for physical NICs.
    pub kind: Option<String>,
    /// `IFLA_LINK`: the lower device of a macvlan or VLAN.
    pub parent: Option<u32>,
    pub mac: Option<[u8; 6]>,
    /// `ARPHRD_*` hardware type (1 = Ethernet, 65534 = none, as tun and WireGuard).
    pub hardware_type: u16,
    /// Administratively up (`IFF_UP`).
    pub admin_up: bool,
    /// Up and with carrier (`IFF_UP` and `IFF_RUNNING`).
    pub running: bool,
    /// `IFF_NOARP`.
    pub noarp: bool,
    /// `IFF_POINTOPOINT`.
    pub point_to_point: bool,
    /// `IFF_MULTICAST`.
    pub multicast: bool,
    /// `IFLA_AF_SPEC`/`AF_INET`/`IFLA_INET_CONF`: IPv4 devconf values, index = id - 1.
    pub ipv4_conf: Vec<u32>,
}

impl LinkDetails {
    /// True for links that frame with Ethernet addresses (where ARP, NDP and a VMAC mean
    /// something).
    pub fn is_ethernet(&self) -> bool {
        self.hardware_type == ARPHRD_ETHER && self.mac.is_some()
    }

    /// True where gratuitous ARP / unsolicited NA mean something: an Ethernet link with ARP
    /// (the kernel does no neighbour discovery on a NOARP link either).
    pub fn announces(&self) -> bool {
        self.is_ethernet() && !self.noarp
    }

    /// The IPv4 devconf value `id`, when the kernel reported it.
    pub fn ipv4(&self, id: u16) -> Option<u32> {
        self.ipv4_conf.get(usize::from(id).checked_sub(1)?).copied()
    }
}

/// Every link, with details.
pub fn links(netlink: &Netlink) -> io::Result<Vec<LinkDetails>> {
    let msg = IfinfomsgBuilder::default()
        .ifi_family(RtAddrFamily::Unspecified)
        .build()
        .map_err(|e| neli_error("link dump", e))?;
    let replies: Vec<Ifinfomsg> = netlink.request(Rtm::Getlink, NlmF::DUMP, msg, "link dump")?;
    Ok(replies.iter().filter_map(details).collect())
}

/// The link called `name`, if there is one.
pub fn by_name(netlink: &Netlink, name: &str) -> io::Result<Option<LinkDetails>> {
    Ok(links(netlink)?.into_iter().find(|l| l.name == name))
}

/// The link with this index, if there is one.
pub fn by_index(netlink: &Netlink, index: u32) -> io::Result<Option<LinkDetails>> {
    Ok(links(netlink)?.into_iter().find(|l| l.index == index))
}

/// Creates a macvlan `name` on `parent` with `mac`, administratively down, in bridge mode.
/// Not private mode (keepalived's): a private macvlan swallows every multicast frame whose
/// source MAC is its own, so the parent would never hear another master advertising from
/// the same virtual MAC (a split brain that never heals). Bridge mode hands such frames
/// to the parent, where vipd listens.
pub fn create_macvlan(netlink: &Netlink, name: &str, parent: u32, mac: [u8; 6]) -> io::Result<()> {
    let context = "create macvlan";
    let mut data = Vec::new();
    push_attr(
        &mut data,
        IFLA_MACVLAN_MODE,
        &MACVLAN_MODE_BRIDGE.to_ne_bytes(),
    );
    let mut info = Vec::new();
    push_attr(&mut info, libc::IFLA_INFO_KIND, b"macvlan");
    push_attr(&mut info, libc::IFLA_INFO_DATA, &data);
    let mut name_bytes = name.as_bytes().to_vec();
    name_bytes.push(0);
    let attrs = [
        attr(Ifla::Linkinfo, info, context)?,
        attr(Ifla::Link, parent.to_ne_bytes().to_vec(), context)?,
        attr(Ifla::Ifname, name_bytes, context)?,
        attr(Ifla::Address, mac.to_vec(), context)?,
    ];
    let msg = IfinfomsgBuilder::default()
        .ifi_family(RtAddrFamily::Unspecified)
        .rtattrs(attrs.into_iter().collect::<RtBuffer<Ifla, Buffer>>())
        .build()
        .map_err(|e| neli_error(context, e))?;
    netlink
        .request::<_, Ifinfomsg>(Rtm::Newlink, NlmF::CREATE | NlmF::EXCL, msg, context)
        .map(drop)
}

const IFLA_IPVLAN_MODE: u16 = 1;
const IFLA_IPVLAN_FLAGS: u16 = 2;
/// `IPVLAN_MODE_L2`: the ipvlan receives frames (ARP, multicast) as keepalived's does.
const IPVLAN_MODE_L2: u16 = 0;

/// The `IFLA_LINKINFO` payload of an L2 ipvlan with `flags` (0 bridge, 1 private, 2 vepa).
fn ipvlan_linkinfo(flags: u16) -> Vec<u8> {
    let mut data = Vec::new();
    push_attr(&mut data, IFLA_IPVLAN_MODE, &IPVLAN_MODE_L2.to_ne_bytes());
    push_attr(&mut data, IFLA_IPVLAN_FLAGS, &flags.to_ne_bytes());
    let mut info = Vec::new();
    push_attr(&mut info, libc::IFLA_INFO_KIND, b"ipvlan");
    push_attr(&mut info, libc::IFLA_INFO_DATA, &data);
    info
}

/// Creates an L2 ipvlan `name` on `parent` (keepalived's `use_ipvlan`), administratively
/// down; `flags` are the kernel's IPVLAN_F_* (0 bridge, 1 private, 2 vepa).
pub fn create_ipvlan(netlink: &Netlink, name: &str, parent: u32, flags: u16) -> io::Result<()> {
    let context = "create ipvlan";
    let mut name_bytes = name.as_bytes().to_vec();
    name_bytes.push(0);
    let attrs = [
        attr(Ifla::Linkinfo, ipvlan_linkinfo(flags), context)?,
        attr(Ifla::Link, parent.to_ne_bytes().to_vec(), context)?,
        attr(Ifla::Ifname, name_bytes, context)?,
    ];
    let msg = IfinfomsgBuilder::default()
        .ifi_family(RtAddrFamily::Unspecified)
        .rtattrs(attrs.into_iter().collect::<RtBuffer<Ifla, Buffer>>())
        .build()
        .map_err(|e| neli_error(context, e))?;
    netlink
        .request::<_, Ifinfomsg>(Rtm::Newlink, NlmF::CREATE | NlmF::EXCL, msg, context)
        .map(drop)
}

/// Deletes a link; one that is already gone counts as success.
pub fn delete(netlink: &Netlink, index: u32) -> io::Result<()> {
    let msg = IfinfomsgBuilder::default()
        .ifi_family(RtAddrFamily::Unspecified)
        .ifi_index(index_c(index)?)
        .build()
        .map_err(|e| neli_error("delete link", e))?;
    match netlink.request::<_, Ifinfomsg>(Rtm::Dellink, NlmF::empty(), msg, "delete link") {
        Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(()),
        other => other.map(drop),
    }
}

/// `ip link set INDEX up|down`.
pub fn set_up(netlink: &Netlink, index: u32, up: bool) -> io::Result<()> {
    let builder = IfinfomsgBuilder::default()
        .ifi_family(RtAddrFamily::Unspecified)
        .ifi_index(index_c(index)?)
        .ifi_change(Iff::UP);
    let builder = if up {
        builder.ifi_flags(Iff::UP)
    } else {
        builder.ifi_flags(Iff::empty())
    };
    let msg = builder.build().map_err(|e| neli_error("set link", e))?;
    netlink
        .request::<_, Ifinfomsg>(Rtm::Newlink, NlmF::empty(), msg, "set link up/down")
        .map(drop)
}

/// Sets IPv4 devconf values (`net.ipv4.conf.IF.*`) of a link.
pub fn set_ipv4_conf(netlink: &Netlink, index: u32, values: &[(u16, u32)]) -> io::Result<()> {
    let mut conf = Vec::new();
    for (id, value) in values {
        push_attr(&mut conf, *id, &value.to_ne_bytes());
    }
    let mut inet = Vec::new();
    push_attr(&mut inet, IFLA_INET_CONF, &conf);
    let mut spec = Vec::new();
    push_attr(&mut spec, libc::AF_INET as u16, &inet);
    set_af_spec(netlink, index, spec, "set IPv4 settings")
}

/// Sets the IPv6 address generation mode of a link (`ip link set IF addrgenmode ...`).
pub fn set_addr_gen_mode(netlink: &Netlink, index: u32, mode: u8) -> io::Result<()> {
    let mut inet6 = Vec::new();
    push_attr(&mut inet6, IFLA_INET6_ADDR_GEN_MODE, &[mode]);
    let mut spec = Vec::new();
    push_attr(&mut spec, libc::AF_INET6 as u16, &inet6);
    set_af_spec(netlink, index, spec, "set IPv6 address generation mode")
}

fn set_af_spec(netlink: &Netlink, index: u32, spec: Vec<u8>, context: &str) -> io::Result<()> {
    let msg = IfinfomsgBuilder::default()
        .ifi_family(RtAddrFamily::Unspecified)
        .ifi_index(index_c(index)?)
        .rtattrs(std::iter::once(attr(Ifla::AfSpec, spec, context)?).collect::<RtBuffer<_, _>>())
        .build()
        .map_err(|e| neli_error(context, e))?;
    netlink
        .request::<_, Ifinfomsg>(Rtm::Newlink, NlmF::empty(), msg, context)
        .map(drop)
}

fn index_c(index: u32) -> io::Result<libc::c_int> {
    libc::c_int::try_from(index)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface index out of range"))
}

fn attr(ty: Ifla, payload: Vec<u8>, context: &str) -> io::Result<neli::rtnl::Rtattr<Ifla, Buffer>> {
    RtattrBuilder::default()
        .rta_type(ty)
        .rta_payload(Buffer::from(payload))
        .build()
        .map_err(|e| neli_error(context, e))
}

/// Appends one netlink attribute (length, type, payload, padding to 4 bytes) for nesting.
fn push_attr(out: &mut Vec<u8>, ty: u16, payload: &[u8]) {
    let len = 4 + payload.len();
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&ty.to_ne_bytes());
    out.extend_from_slice(payload);
    out.resize(out.len() + (len.next_multiple_of(4) - len), 0);
}

/// Iterates over the attributes of a nested payload as (type without flags, payload);
/// stops at the first malformed one.
fn nested(mut bytes: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let len = usize::from(u16::from_ne_bytes(bytes.get(0..2)?.try_into().ok()?));
        let ty = u16::from_ne_bytes(bytes.get(2..4)?.try_into().ok()?) & 0x3fff;
        if len < 4 {
            return None;
        }
        let payload = bytes.get(4..len)?;
        bytes = bytes.get(len.next_multiple_of(4)..).unwrap_or(&[]);
        Some((ty, payload))
    })
}

fn details(msg: &Ifinfomsg) -> Option<LinkDetails> {
    let flags = *msg.ifi_flags();
    let mut link = LinkDetails {
        index: u32::try_from(*msg.ifi_index()).ok()?,
        hardware_type: u16::from(*msg.ifi_type()),
        admin_up: flags.contains(Iff::UP),
        running: flags.contains(Iff::UP) && flags.contains(Iff::RUNNING),
        noarp: flags.contains(Iff::NOARP),
        point_to_point: flags.contains(Iff::POINTOPOINT),
        multicast: flags.contains(Iff::MULTICAST),
        ..LinkDetails::default()
    };
    for attr in msg.rtattrs().iter() {
        let payload = attr.rta_payload().as_ref();
        match *attr.rta_type() {
            Ifla::Ifname => {
                let text = payload.split(|b| *b == 0).next().unwrap_or_default();
                link.name = String::from_utf8_lossy(text).into_owned();
            }
            Ifla::Address => link.mac = <[u8; 6]>::try_from(payload).ok(),
            Ifla::Link => link.parent = <[u8; 4]>::try_from(payload).ok().map(u32::from_ne_bytes),
            Ifla::Linkinfo => {
                link.kind = nested(payload)
                    .find(|(ty, _)| *ty == u16::from(IflaInfo::Kind))
                    .map(|(_, kind)| {
                        let text = kind.split(|b| *b == 0).next().unwrap_or_default();
                        String::from_utf8_lossy(text).into_owned()
                    });
            }
            Ifla::AfSpec => {
                link.ipv4_conf = nested(payload)
                    .find(|(ty, _)| *ty == libc::AF_INET as u16)
                    .and_then(|(_, inet)| nested(inet).find(|(ty, _)| *ty == IFLA_INET_CONF))
                    .map(|(_, conf)| {
                        conf.chunks_exact(4)
                            .filter_map(|c| <[u8; 4]>::try_from(c).ok())
                            .map(u32::from_ne_bytes)
                            .collect()
                    })
                    .unwrap_or_default();
            }
            _ => {}
        }
    }
    Some(link)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_attributes_are_padded_and_read_back() {
        let mut bytes = Vec::new();
        push_attr(&mut bytes, 1, b"macvlan");
        push_attr(&mut bytes, 2, &4u32.to_ne_bytes());
        // 4 + 7 -> 12 with padding, then 8.
        assert_eq!(bytes.len(), 20);
        assert_eq!(&bytes[0..2], &11u16.to_ne_bytes());
        let read: Vec<(u16, Vec<u8>)> = nested(&bytes).map(|(t, p)| (t, p.to_vec())).collect();
        assert_eq!(
            read,
            [(1, b"macvlan".to_vec()), (2, 4u32.to_ne_bytes().to_vec())]
        );
    }

    #[test]
    fn ipvlan_linkinfo_asks_for_an_l2_ipvlan_with_the_flags() {
        let info = ipvlan_linkinfo(1);
        let attrs: Vec<(u16, Vec<u8>)> = nested(&info).map(|(t, p)| (t, p.to_vec())).collect();
        assert_eq!(attrs.len(), 2);
        assert_eq!(attrs[0], (libc::IFLA_INFO_KIND, b"ipvlan".to_vec()));
        assert_eq!(attrs[1].0, libc::IFLA_INFO_DATA);
        let data: Vec<(u16, Vec<u8>)> = nested(&attrs[1].1).map(|(t, p)| (t, p.to_vec())).collect();
        assert_eq!(
            data,
            [
                (IFLA_IPVLAN_MODE, 0u16.to_ne_bytes().to_vec()),
                (IFLA_IPVLAN_FLAGS, 1u16.to_ne_bytes().to_vec())
            ]
        );
    }

    #[test]
    fn malformed_nested_attributes_end_the_walk() {
        // Length 2 is shorter than the header; length 40 runs past the end.
        assert_eq!(nested(&[2, 0, 1, 0]).count(), 0);
        let mut bytes = Vec::new();
        push_attr(&mut bytes, 1, b"ok");
        bytes.extend_from_slice(&40u16.to_ne_bytes());
        bytes.extend_from_slice(&[1, 0, 0, 0]);
        assert_eq!(nested(&bytes).count(), 1);
        assert_eq!(nested(&[]).count(), 0);
    }

    #[test]
    fn ipv4_conf_is_indexed_by_devconf_id() {
        let link = LinkDetails {
            ipv4_conf: (1..=30).collect(),
            ..LinkDetails::default()
        };
        assert_eq!(link.ipv4(devconf::ARP_IGNORE), Some(19));
        assert_eq!(link.ipv4(0), None);
        assert_eq!(link.ipv4(31), None);
    }
}
