//! VMAC interfaces (keepalived `use_vmac`): a macvlan on the instance's interface whose MAC
//! is the virtual router MAC 00:00:5e:00:01:VRID (IPv6 00:00:5e:00:02:VRID) and which holds
//! the VIPs, so a failover moves the MAC with the address and clients never re-learn it.
//!
//! How vipd runs one, and where it differs from keepalived 2.2.7 (measured):
//! - created at start (IPv6 address generation off, as keepalived), removed at stop,
//!   created again when someone deletes it; in bridge mode, not keepalived's private mode
//!   (see [`link::create_macvlan`] why);
//! - **down while the instance is not master**. keepalived keeps it up on backups too and
//!   needs nftables rules to stop IGMP/MLD reports leaving from the virtual MAC; a down
//!   VMAC sends nothing, so only the master ever uses the virtual MAC as a source;
//! - adverts are received on the parent interface (which always hears them) and sent from
//!   the VMAC while it is up, unless `vmac_xmit_base`;
//! - IPv4: the parent gets `arp_ignore=1` and `arp_filter=1` (keepalived) and, beyond
//!   keepalived, `arp_announce=2`, so the parent never answers ARP for a VIP and never
//!   announces a VIP with its own MAC in its ARP requests (keepalived's master does, and a
//!   client then caches the parent's MAC for the VIP). The VMAC gets `arp_ignore=1` (answer
//!   only for its own addresses), `accept_local=1`, `rp_filter=0`,
//!   `promote_secondaries=1`. The parent's values are restored when its last VMAC goes.
//! - quiet while a handover is answered (the linger before the VIPs go): a VMAC with only
//!   IPv4 addresses gets `arp_ignore=8` (nothing answers ARP from it, traffic already on
//!   its way is still answered), one with IPv6 addresses goes down (the kernel answers
//!   neighbour solicitations from any up interface, and setting IFF_NOARP, which stops
//!   them, sends the MLD reports again: a link flag change is NETDEV_CHANGE);
//! - IPv6: the VMAC holds the parent's link-local address (without DAD), the source of
//!   adverts and neighbour advertisements, as keepalived does.
//!
//! VMACs for VIPs on other interfaces (keepalived `use_vmac_addr`, `use_vmac` on a VIP) are
//! the same kind of macvlan, on the VIP's interface, with the instance's virtual MAC.
//!
//! ipvlans (keepalived `use_ipvlan`): an L2 ipvlan on the instance's interface (bridge,
//! private or vepa flags), which shares the interface's MAC, holds its own address (the
//! source of adverts) and the VIPs; up from creation to stop, as keepalived keeps it. An IPv4
//! instance's ipvlan gets no IPv6 link-local address (keepalived disables IPv6 on it).
//!
//! All settings go over rtnetlink: the hardened unit cannot write /proc/sys.

use std::io;

use super::link::{self, devconf, LinkDetails};
use super::netlink::Netlink;

/// What a link with the VMAC's name turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Existing {
    /// No link has the name.
    Missing,
    /// A macvlan on the right parent with the right MAC: one vipd (or keepalived) made.
    Ours { index: u32 },
    /// Something else has the name; the text says what.
    Taken(String),
}

/// Tells what `found` (the link with the VMAC's name, if any) is to a VMAC on `parent` with
/// `mac`. On a macvlan `parent` the kernel puts the VMAC on that one's lower device, so a
/// VMAC there is ours too (one a killed run left behind).
pub fn inspect(found: Option<&LinkDetails>, parent: &LinkDetails, mac: [u8; 6]) -> Existing {
    let Some(link) = found else {
        return Existing::Missing;
    };
    let kind = link.kind.as_deref().unwrap_or("physical");
    if kind != "macvlan" {
        return Existing::Taken(format!("`{}` exists and is a {kind} interface", link.name));
    }
    let lower = parent
        .parent
        .filter(|_| parent.kind.as_deref() == Some("macvlan"));
    if link.parent != Some(parent.index) && (lower.is_none() || link.parent != lower) {
        return Existing::Taken(format!(
            "`{}` exists and is a macvlan on another interface",
            link.name
        ));
    }
    if link.mac != Some(mac) {
        return Existing::Taken(format!(
            "`{}` exists and is a macvlan with another MAC ({})",
            link.name,
            link.mac.map(mac_text).unwrap_or_else(|| "none".into())
        ));
    }
    Existing::Ours { index: link.index }
}

/// What `found` (the link with the ipvlan's name, if any) is to an ipvlan on `parent`.
pub fn inspect_ipvlan(found: Option<&LinkDetails>, parent: u32) -> Existing {
    let Some(link) = found else {
        return Existing::Missing;
    };
    let kind = link.kind.as_deref().unwrap_or("physical");
    if kind != "ipvlan" {
        return Existing::Taken(format!("`{}` exists and is a {kind} interface", link.name));
    }
    if link.parent != Some(parent) {
        return Existing::Taken(format!(
            "`{}` exists and is an ipvlan on another interface",
            link.name
        ));
    }
    Existing::Ours { index: link.index }
}

/// Creates the ipvlan `name` on `parent` (replacing a leftover one of an earlier run), down;
/// without IPv6 link-local address for an IPv4 instance. Returns its index.
pub fn create_ipvlan(
    netlink: &Netlink,
    name: &str,
    parent: &LinkDetails,
    flags: u16,
    ipv6: bool,
) -> Result<u32, VmacError> {
    let fail = |what: &str, e: io::Error| {
        VmacError(format!(
            "cannot {what} ipvlan {name} on {}: {}",
            parent.name,
            explain(&e, "ipvlan")
        ))
    };
    if !parent.is_ethernet() {
        return Err(VmacError(format!(
            "cannot create ipvlan {name}: {} is not an Ethernet interface",
            parent.name
        )));
    }
    let found = link::by_name(netlink, name).map_err(|e| fail("look up", e))?;
    match inspect_ipvlan(found.as_ref(), parent.index) {
        Existing::Missing => {}
        Existing::Ours { index } => {
            link::delete(netlink, index).map_err(|e| fail("replace the leftover", e))?;
        }
        Existing::Taken(what) => {
            return Err(VmacError(format!(
                "cannot create ipvlan {name} on {}: {what}; rename it or name the ipvlan \
                 differently",
                parent.name
            )))
        }
    }
    link::create_ipvlan(netlink, name, parent.index, flags).map_err(|e| fail("create", e))?;
    let index = link::by_name(netlink, name)
        .map_err(|e| fail("look up", e))?
        .map(|l| l.index)
        .ok_or_else(|| VmacError(format!("ipvlan {name} vanished right after it was created")))?;
    if !ipv6 {
        if let Err(e) = link::set_addr_gen_mode(netlink, index, link::ADDR_GEN_MODE_NONE) {
            let _ = link::delete(netlink, index);
            return Err(fail("configure", e));
        }
    }
    Ok(index)
}

/// IPv4 settings of a VMAC (see the module docs).
pub const VMAC_IPV4_CONF: [(u16, u32); 4] = [
    SERVING_ARP_IGNORE,
    (devconf::ACCEPT_LOCAL, 1),
    (devconf::RP_FILTER, 0),
    (devconf::PROMOTE_SECONDARIES, 1),
];

/// `arp_ignore` of a serving VMAC: answer only for its own addresses.
pub const SERVING_ARP_IGNORE: (u16, u32) = (devconf::ARP_IGNORE, 1);

/// `arp_ignore` of a quiet VMAC (an answered handover's linger, see
/// `vrrp::instance::Action::QuietVips`): no ARP request is answered, traffic to its
/// addresses still is.
pub const QUIET_ARP_IGNORE: (u16, u32) = (devconf::ARP_IGNORE, 8);

/// IPv4 settings the parent of an IPv4 VMAC gets (see the module docs).
pub const PARENT_IPV4_CONF: [(u16, u32); 3] = [
    (devconf::ARP_IGNORE, 1),
    (devconf::ARP_FILTER, 1),
    (devconf::ARP_ANNOUNCE, 2),
];

/// The parent's values of [`PARENT_IPV4_CONF`] before vipd changed them.
pub fn saved_parent_conf(parent: &LinkDetails) -> Vec<(u16, u32)> {
    PARENT_IPV4_CONF
        .iter()
        .filter_map(|(id, _)| parent.ipv4(*id).map(|value| (*id, value)))
        .collect()
}

/// Why a VMAC could not be set up, worded for the log line of its instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmacError(pub String);

impl std::fmt::Display for VmacError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Creates the VMAC `name` on `parent` (replacing a leftover one of an earlier run), down,
/// with its IPv4 settings and no automatic IPv6 addresses. Returns its index.
pub fn create(
    netlink: &Netlink,
    name: &str,
    parent: &LinkDetails,
    mac: [u8; 6],
) -> Result<u32, VmacError> {
    let fail = |what: &str, e: io::Error| {
        VmacError(format!(
            "cannot {what} VMAC {name} on {}: {}",
            parent.name,
            explain(&e, "macvlan")
        ))
    };
    if !parent.is_ethernet() {
        return Err(VmacError(format!(
            "cannot create VMAC {name}: {} is not an Ethernet interface (a macvlan needs one)",
            parent.name
        )));
    }
    let found = link::by_name(netlink, name).map_err(|e| fail("look up", e))?;
    match inspect(found.as_ref(), parent, mac) {
        Existing::Missing => {}
        Existing::Ours { index } => {
            // Left by a killed run: start from a clean one (no stale VIPs or settings).
            link::delete(netlink, index).map_err(|e| fail("replace the leftover", e))?;
        }
        Existing::Taken(what) => {
            return Err(VmacError(format!(
                "cannot create VMAC {name} on {}: {what}; rename it or name the VMAC \
                 differently",
                parent.name
            )))
        }
    }
    link::create_macvlan(netlink, name, parent.index, mac).map_err(|e| fail("create", e))?;
    let index = link::by_name(netlink, name)
        .map_err(|e| fail("look up", e))?
        .map(|l| l.index)
        .ok_or_else(|| VmacError(format!("VMAC {name} vanished right after it was created")))?;
    // Without these the VMAC would grow an EUI-64 link-local address from the shared
    // virtual MAC (the same on every router) and answer ARP for the parent's addresses.
    let settings = link::set_addr_gen_mode(netlink, index, link::ADDR_GEN_MODE_NONE)
        .and_then(|()| link::set_ipv4_conf(netlink, index, &VMAC_IPV4_CONF));
    if let Err(e) = settings {
        let _ = link::delete(netlink, index);
        return Err(fail("configure", e));
    }
    Ok(index)
}

/// Words for the errors a macvlan creation meets in practice.
fn explain(e: &io::Error, kind: &str) -> String {
    match e.raw_os_error() {
        Some(libc::EOPNOTSUPP) => {
            format!("{e} (this kernel has no {kind} support: is the {kind} module available?)")
        }
        Some(libc::EPERM) => format!("{e} (vipd needs CAP_NET_ADMIN)"),
        _ => e.to_string(),
    }
}

pub fn mac_text(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0, 0, 0x5e, 0, 1, 51];

    fn link(kind: Option<&str>, parent: Option<u32>, mac: [u8; 6]) -> LinkDetails {
        LinkDetails {
            index: 9,
            name: "vrrp.51".into(),
            kind: kind.map(str::to_string),
            parent,
            mac: Some(mac),
            ..LinkDetails::default()
        }
    }

    fn parent(index: u32, kind: Option<&str>, lower: Option<u32>) -> LinkDetails {
        LinkDetails {
            index,
            name: "lan0".into(),
            kind: kind.map(str::to_string),
            parent: lower,
            ..LinkDetails::default()
        }
    }

    #[test]
    fn only_a_macvlan_on_the_parent_with_the_mac_is_ours() {
        let eth = parent(2, None, None);
        assert_eq!(inspect(None, &eth, MAC), Existing::Missing);
        assert_eq!(
            inspect(Some(&link(Some("macvlan"), Some(2), MAC)), &eth, MAC),
            Existing::Ours { index: 9 }
        );
        let taken = [
            link(None, None, MAC),
            link(Some("dummy"), None, MAC),
            link(Some("macvlan"), Some(3), MAC),
            link(Some("macvlan"), Some(2), [2, 0, 0, 0, 0, 1]),
        ];
        for other in taken {
            assert!(
                matches!(inspect(Some(&other), &eth, MAC), Existing::Taken(_)),
                "{other:?}"
            );
        }
        let Existing::Taken(why) = inspect(Some(&link(Some("dummy"), None, MAC)), &eth, MAC) else {
            unreachable!()
        };
        assert_eq!(why, "`vrrp.51` exists and is a dummy interface");
    }

    #[test]
    fn a_vmac_on_a_macvlans_lower_device_is_ours() {
        // The kernel moves a macvlan made on macvlan 5 (on 2) onto 2.
        let macvlan = parent(5, Some("macvlan"), Some(2));
        let leftover = link(Some("macvlan"), Some(2), MAC);
        assert_eq!(
            inspect(Some(&leftover), &macvlan, MAC),
            Existing::Ours { index: 9 }
        );
        let elsewhere = link(Some("macvlan"), Some(3), MAC);
        assert!(matches!(
            inspect(Some(&elsewhere), &macvlan, MAC),
            Existing::Taken(_)
        ));
        // A VLAN's (or a veth's) link is no lower device of a VMAC.
        let vlan = parent(5, Some("vlan"), Some(2));
        assert!(matches!(
            inspect(Some(&leftover), &vlan, MAC),
            Existing::Taken(_)
        ));
    }

    #[test]
    fn the_parent_values_are_saved_before_they_change() {
        let mut parent = LinkDetails {
            ipv4_conf: vec![0; 30],
            ..LinkDetails::default()
        };
        parent.ipv4_conf[usize::from(devconf::ARP_IGNORE) - 1] = 2;
        assert_eq!(
            saved_parent_conf(&parent),
            [
                (devconf::ARP_IGNORE, 2),
                (devconf::ARP_FILTER, 0),
                (devconf::ARP_ANNOUNCE, 0)
            ]
        );
        assert!(saved_parent_conf(&LinkDetails::default()).is_empty());
    }
}
