//! The interfaces vipd makes to hold VIPs: the virtual MAC interface of an instance
//! (keepalived `use_vmac`), a macvlan on the instance's interface with the RFC 5798 virtual
//! router MAC; VMACs on other interfaces for VIPs written with `use_vmac` (keepalived
//! `use_vmac_addr`); and an ipvlan on the instance's interface (keepalived `use_ipvlan`).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use super::{Config, Instance, Vip};

/// keepalived's default `vmac_prefix`: VMACs are called `vrrp.VRID`.
pub const DEFAULT_PREFIX: &str = "vrrp";

/// Longest interface name Linux accepts (IFNAMSIZ - 1).
pub const MAX_INTERFACE_NAME: usize = 15;

/// `[instance.vmac]`: the instance holds its VIPs on a macvlan with the virtual router MAC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Vmac {
    /// Name of the macvlan; empty = `vrrp.VRID` (keepalived's default).
    #[serde(default)]
    pub interface: String,
    /// Adverts leave from the instance's own interface (its MAC) instead of the VMAC
    /// (keepalived `vmac_xmit_base`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub xmit_base: bool,
    /// Another MAC than 00:00:5e:00:01:VRID / 00:00:5e:00:02:VRID (keepalived
    /// `use_vmac NAME MAC`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacAddr>,
}

impl Vmac {
    /// The MAC of the macvlan: the configured one, else the RFC 5798 virtual router MAC.
    pub fn mac_for(&self, vrid: u8, ipv6: bool) -> MacAddr {
        self.mac
            .unwrap_or_else(|| MacAddr::virtual_router(vrid, ipv6))
    }
}

/// `[instance.ipvlan]`: the instance holds its VIPs on an L2 ipvlan of its interface
/// (keepalived `use_ipvlan [NAME] [ADDRESS/PREFIX] [bridge|private|vepa]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Ipvlan {
    /// Name of the ipvlan; empty = `vrrp.VRID` (keepalived's default).
    #[serde(default)]
    pub interface: String,
    /// The ipvlan's own address, which adverts leave from (required for IPv4 instances, as
    /// keepalived requires it; IPv6 ones send from the ipvlan's link-local address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<IfAddress>,
    #[serde(default)]
    pub mode: IpvlanMode,
}

/// The ipvlan flags (keepalived's type word): how ipvlans of one interface reach each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum IpvlanMode {
    #[default]
    Bridge,
    Private,
    Vepa,
}

impl IpvlanMode {
    pub fn parse(word: &str) -> Option<IpvlanMode> {
        Some(match word {
            "bridge" => IpvlanMode::Bridge,
            "private" => IpvlanMode::Private,
            "vepa" => IpvlanMode::Vepa,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            IpvlanMode::Bridge => "bridge",
            IpvlanMode::Private => "private",
            IpvlanMode::Vepa => "vepa",
        }
    }
}

/// An interface address written `ADDRESS/PREFIX` (without `/PREFIX`: a host address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IfAddress {
    pub address: std::net::IpAddr,
    pub prefix_len: u8,
}

impl FromStr for IfAddress {
    type Err = String;

    fn from_str(text: &str) -> Result<IfAddress, String> {
        let (address, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let address: std::net::IpAddr = address
            .parse()
            .map_err(|_| format!("`{text}` is not an IP address"))?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix_len = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|n| *n <= max)
                .ok_or_else(|| format!("`/{p}` is not a prefix length for {address}"))?,
        };
        Ok(IfAddress {
            address,
            prefix_len,
        })
    }
}

impl fmt::Display for IfAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix_len)
    }
}

impl TryFrom<String> for IfAddress {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

impl From<IfAddress> for String {
    fn from(a: IfAddress) -> String {
        a.to_string()
    }
}

/// keepalived's VMAC name for an instance without one: `PREFIX.VRID`.
pub fn default_interface(prefix: &str, vrid: u8) -> String {
    format!("{prefix}.{vrid}")
}

/// Gives every VMAC and ipvlan without a name keepalived's default one: `PREFIX.VRID` for
/// the instance's own, and for the VMACs of VIPs with `use_vmac` the first free one of
/// `ADDR_PREFIX.VRID`, `ADDR_PREFIX1.VRID`, `ADDR_PREFIX2.VRID`, ... in the order of the
/// VIPs (what keepalived 2.2.7 does, measured).
///
/// An IPv6 instance whose `PREFIX.VRID` an earlier instance already has (the IPv4 twin of a
/// dual-stack pair with the same VRID) gets `PREFIX6.VRID`, as keepalived 2.2.7 names it
/// (measured: `vrrp.2` and `vrrp6.2`, with `vmac_prefix vx` `vx.2` and `vx6.2`).
pub fn resolve_names(cfg: &mut Config, prefix: &str, addr_prefix: &str) {
    let mut earlier: Vec<String> = Vec::new();
    for inst in &mut cfg.instances {
        let vrid = inst.vrid;
        let ipv6 = inst.is_ipv6();
        if let Some(vmac) = inst.vmac.as_mut() {
            if vmac.interface.is_empty() {
                vmac.interface = default_interface(prefix, vrid);
                if ipv6 && earlier.contains(&vmac.interface) {
                    vmac.interface = default_interface(&format!("{prefix}6"), vrid);
                }
            }
            earlier.push(vmac.interface.clone());
        }
        if let Some(ipvlan) = inst.ipvlan.as_mut() {
            if ipvlan.interface.is_empty() {
                ipvlan.interface = default_interface(prefix, vrid);
            }
        }
        let parents: Vec<String> = inst
            .all_vips()
            .filter_map(|vip| inst.vip_vmac_parent(vip).map(str::to_string))
            .collect();
        for parent in parents {
            if inst.vip_vmacs.contains_key(&parent) {
                continue;
            }
            let taken = |name: &str| {
                inst.vmac_interface() == Some(name) || inst.vip_vmacs.values().any(|n| n == name)
            };
            let name = (0u32..)
                .map(|n| match n {
                    0 => format!("{addr_prefix}.{vrid}"),
                    n => format!("{addr_prefix}{n}.{vrid}"),
                })
                .find(|name| !taken(name))
                .unwrap_or_default();
            inst.vip_vmacs.insert(parent, name);
        }
    }
}

impl Instance {
    /// The VMAC's interface name when the instance has one.
    pub fn vmac_interface(&self) -> Option<&str> {
        self.vmac.as_ref().map(|v| v.interface.as_str())
    }

    /// The ipvlan's interface name when the instance has one (and no VMAC, which wins as in
    /// keepalived).
    pub fn ipvlan_interface(&self) -> Option<&str> {
        match (&self.vmac, &self.ipvlan) {
            (None, Some(ipvlan)) => Some(ipvlan.interface.as_str()),
            _ => None,
        }
    }

    /// The interface whose VMAC holds `vip`, if it goes on one of the VIP VMACs: a VIP with
    /// `use_vmac`, or under `vmac_addr` one on another interface; not one the instance's own
    /// VMAC already holds.
    pub fn vip_vmac_parent<'a>(&'a self, vip: &'a Vip) -> Option<&'a str> {
        let interface = vip.interface.as_deref().unwrap_or(&self.interface);
        let own = interface == self.interface;
        if own && self.vmac.is_some() && vip.address.is_ipv6() == self.is_ipv6() {
            return None;
        }
        (vip.vmac || (self.vmac_addr && !own)).then_some(interface)
    }

    /// Every interface vipd makes for this instance: its VMAC or ipvlan, then the VMACs of
    /// its VIPs.
    pub fn made_interfaces(&self) -> impl Iterator<Item = &str> {
        let own = self.vmac_interface().or(self.ipvlan_interface());
        own.into_iter()
            .chain(self.vip_vmacs.values().map(String::as_str))
    }

    /// Whether adverts leave from the instance's own interface: always without a VMAC, with
    /// `vmac_xmit_base`, and with unicast peers (keepalived forces `vmac_xmit_base` then).
    pub fn sends_from_base(&self) -> bool {
        self.vmac
            .as_ref()
            .is_none_or(|v| v.xmit_base || !self.unicast_peers.is_empty())
    }
}

/// Problems of the interfaces vipd makes for the instance (VMACs, ipvlan) as (field path,
/// message).
pub(super) fn problems(cfg: &Config, inst: &Instance, at: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut made: Vec<(String, &str, &str)> = Vec::new();
    if let Some(vmac) = &inst.vmac {
        made.push((
            format!("{at}.vmac.interface"),
            "VMAC",
            vmac.interface.as_str(),
        ));
        if let Some(mac) = vmac.mac {
            if mac.0[0] & 1 == 1 || mac.0 == [0; 6] {
                out.push((
                    format!("{at}.vmac.mac"),
                    format!("{mac} is not a unicast MAC address"),
                ));
            }
        }
        if inst.ipvlan.is_some() {
            out.push((
                format!("{at}.ipvlan"),
                "an instance holds its VIPs on a VMAC or on an ipvlan, not both".to_string(),
            ));
        }
    }
    if let Some(ipvlan) = &inst.ipvlan {
        made.push((
            format!("{at}.ipvlan.interface"),
            "ipvlan",
            ipvlan.interface.as_str(),
        ));
        match ipvlan.address {
            // No address on an IPv4 ipvlan: a warning (see `warnings`), FAULT at run time.
            Some(a) if a.address.is_ipv6() != inst.is_ipv6() => out.push((
                format!("{at}.ipvlan.address"),
                format!(
                    "ipvlan address {a} is not of the instance's address family (keepalived \
                     requires the same)"
                ),
            )),
            _ => {}
        }
    }
    for (parent, name) in &inst.vip_vmacs {
        made.push((format!("{at}.vip_vmacs.{parent}"), "VMAC", name.as_str()));
    }
    for (index, (path, what, name)) in made.iter().enumerate() {
        if let Err(why) = check_interface_name(name) {
            out.push((
                path.clone(),
                format!("{what} interface name `{name}` {why}"),
            ));
        }
        if made[..index].iter().any(|(_, _, n)| n == name) {
            out.push((
                path.clone(),
                format!("instance `{}` uses `{name}` for two interfaces", inst.name),
            ));
        }
        if *name == inst.interface {
            out.push((
                path.clone(),
                format!(
                    "the {what} cannot have the name of the instance's interface `{}`",
                    inst.interface
                ),
            ));
        }
        for other in &cfg.instances {
            if other.name == inst.name {
                continue;
            }
            if other.made_interfaces().any(|n| n == *name) {
                out.push((
                    path.clone(),
                    format!(
                        "instances `{}` and `{}` both use {what} interface `{name}`",
                        other.name, inst.name
                    ),
                ));
            }
            if other.interface == *name {
                out.push((
                    path.clone(),
                    format!(
                        "`{name}` is the interface of instance `{}`; a {what} needs a name of \
                         its own",
                        other.name
                    ),
                ));
            }
        }
    }
    out
}

/// Things about the instance's VMAC the user should know, as (field path, message).
pub(super) fn warnings(inst: &Instance, at: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(ipvlan) = &inst.ipvlan {
        if ipvlan.address.is_none() && !inst.is_ipv6() {
            out.push((
                format!("{at}.ipvlan.address"),
                format!(
                    "instance `{}`: an IPv4 ipvlan needs an address to send adverts from: the \
                     instance stays in FAULT, as keepalived 2.2.7 holds it (\"IPv4 ipvlan \
                     requires a source ip address\")",
                    inst.name
                ),
            ));
        }
    }
    if let (Some(name), false) = (inst.ipvlan_interface(), inst.unicast_peers.is_empty()) {
        out.push((
            format!("{at}.ipvlan"),
            format!(
                "instance `{}`: unicast adverts are received on {}, so the peers must send \
                 them to its address, not to ipvlan `{name}`'s (which the kernel hands to the \
                 ipvlan only)",
                inst.name, inst.interface
            ),
        ));
    }
    if let Some(vmac) = &inst.vmac {
        if !vmac.xmit_base && !inst.unicast_peers.is_empty() {
            out.push((
                format!("{at}.vmac"),
                format!(
                    "instance `{}`: unicast adverts leave from {} itself, not from VMAC `{}` \
                     (keepalived sets vmac_xmit_base with unicast peers too)",
                    inst.name, inst.interface, vmac.interface
                ),
            ));
        }
    }
    out
}

/// What Linux refuses as an interface name.
pub(super) fn check_interface_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("is empty".into());
    }
    if name.len() > MAX_INTERFACE_NAME {
        return Err(format!(
            "is longer than {MAX_INTERFACE_NAME} bytes (Linux limit)"
        ));
    }
    if name == "." || name == ".." {
        return Err("is not a valid interface name".into());
    }
    if name
        .chars()
        .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control())
    {
        return Err("contains `/`, `:` or white space".into());
    }
    Ok(())
}

/// An Ethernet address, written `00:00:5e:00:01:33`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// RFC 5798 7.3: 00-00-5E-00-01-{VRID} for IPv4, 00-00-5E-00-02-{VRID} for IPv6.
    pub fn virtual_router(vrid: u8, ipv6: bool) -> MacAddr {
        MacAddr([0x00, 0x00, 0x5e, 0x00, if ipv6 { 0x02 } else { 0x01 }, vrid])
    }

    /// keepalived's `use_vmac` MAC: six octets, or five with the VRID as the sixth.
    pub fn parse_with_vrid(text: &str, vrid: u8) -> Result<MacAddr, String> {
        let octets = parse_octets(text)?;
        match octets.as_slice() {
            [a, b, c, d, e, f] => Ok(MacAddr([*a, *b, *c, *d, *e, *f])),
            [a, b, c, d, e] => Ok(MacAddr([*a, *b, *c, *d, *e, vrid])),
            _ => Err(format!("`{text}` is not a MAC address (5 or 6 octets)")),
        }
    }
}

fn parse_octets(text: &str) -> Result<Vec<u8>, String> {
    text.split(':')
        .map(|part| {
            if part.is_empty() || part.len() > 2 {
                return Err(format!("`{text}` is not a MAC address"));
            }
            u8::from_str_radix(part, 16).map_err(|_| format!("`{text}` is not a MAC address"))
        })
        .collect()
}

/// True when `text` looks like a MAC address (so `use_vmac` can tell it from a name).
pub fn looks_like_mac(text: &str) -> bool {
    parse_octets(text).is_ok_and(|o| o.len() == 5 || o.len() == 6)
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl FromStr for MacAddr {
    type Err = String;

    fn from_str(text: &str) -> Result<MacAddr, String> {
        let octets = parse_octets(text)?;
        <[u8; 6]>::try_from(octets.as_slice())
            .map(MacAddr)
            .map_err(|_| format!("`{text}` is not a MAC address (6 octets)"))
    }
}

impl Serialize for MacAddr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for MacAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<MacAddr, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_router_macs_follow_rfc_5798() {
        assert_eq!(
            MacAddr::virtual_router(51, false).to_string(),
            "00:00:5e:00:01:33"
        );
        assert_eq!(
            MacAddr::virtual_router(255, true).to_string(),
            "00:00:5e:00:02:ff"
        );
    }

    #[test]
    fn five_octets_take_the_vrid_as_the_last() {
        assert_eq!(
            MacAddr::parse_with_vrid("02:00:5e:00:01", 7),
            Ok(MacAddr([2, 0, 0x5e, 0, 1, 7]))
        );
        assert_eq!(
            MacAddr::parse_with_vrid("02:00:5e:00:01:09", 7),
            Ok(MacAddr([2, 0, 0x5e, 0, 1, 9]))
        );
        assert!(MacAddr::parse_with_vrid("02:00:5e", 7).is_err());
        assert!(MacAddr::parse_with_vrid("02:00:5e:00:01:09:01", 7).is_err());
        assert!(MacAddr::parse_with_vrid("zz:00:5e:00:01:09", 7).is_err());
        assert!("02:00:5e:00:01".parse::<MacAddr>().is_err());
    }

    #[test]
    fn names_and_macs_are_told_apart() {
        assert!(looks_like_mac("02:00:5e:00:01"));
        assert!(looks_like_mac("02:00:5e:00:01:02"));
        assert!(!looks_like_mac("vrrp.51"));
        assert!(!looks_like_mac("eth0"));
    }

    fn keepalived(instance: &str) -> Result<Config, String> {
        let text = format!(
            "global_defs {{\n vmac_addr_prefix vx\n}}\nvrrp_instance A {{\n interface eth0\n \
             virtual_router_id 54\n{instance}\n}}\n"
        );
        crate::config::parse_keepalived(&text, std::path::Path::new("k.conf"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn vip_vmacs_get_keepalived_names_in_vip_order() {
        // keepalived 2.2.7 made vrrp.54 (use_vmac), vx.54 on eth1 and vx1.54 on eth2.
        let cfg = keepalived(
            " use_vmac\n virtual_ipaddress {\n 192.0.2.100/24\n 198.51.100.7/24 dev eth1 \
             use_vmac\n 198.51.100.8/24 dev eth1 use_vmac\n 203.0.113.9/24 dev eth2 use_vmac\n }",
        )
        .unwrap();
        let inst = &cfg.instances[0];
        assert_eq!(inst.vmac_interface(), Some("vrrp.54"));
        let names: Vec<(&str, &str)> = (inst.vip_vmacs.iter())
            .map(|(p, n)| (p.as_str(), n.as_str()))
            .collect();
        assert_eq!(names, [("eth1", "vx.54"), ("eth2", "vx1.54")]);
        let on: Vec<&str> = inst.vips.iter().map(|v| inst.vip_interface(v)).collect();
        assert_eq!(on, ["vrrp.54", "vx.54", "vx.54", "vx1.54"]);
    }

    #[test]
    fn dual_stack_vmac_pair_with_one_vrid_gets_keepalived_names() {
        // keepalived 2.2.7 runs this (a corpus file's shape) with vrrp.2 and vrrp6.2.
        let text = "vrrp_instance A {\n interface eth0\n virtual_router_id 2\n use_vmac\n \
                    virtual_ipaddress {\n 192.0.2.100/24\n }\n}\n\
                    vrrp_instance B {\n interface eth0\n virtual_router_id 2\n use_vmac\n \
                    virtual_ipaddress {\n 2001:db8::100/64\n }\n}\n";
        let cfg = crate::config::parse_keepalived(text, std::path::Path::new("k.conf"))
            .expect("keepalived runs it");
        let names: Vec<Option<&str>> = cfg.instances.iter().map(|i| i.vmac_interface()).collect();
        assert_eq!(names, [Some("vrrp.2"), Some("vrrp6.2")]);
        // Alone, the IPv6 instance keeps vrrp.2 (keepalived 2.2.7 too).
        let alone = text.split_once("}\n}\n").unwrap().1;
        let cfg = crate::config::parse_keepalived(alone, std::path::Path::new("k.conf"))
            .expect("keepalived runs it");
        assert_eq!(cfg.instances[0].vmac_interface(), Some("vrrp.2"));
    }

    #[test]
    fn use_vmac_addr_puts_vips_of_other_interfaces_on_vmacs() {
        let cfg = keepalived(
            " use_vmac_addr\n virtual_ipaddress {\n 192.0.2.100/24\n 198.51.100.7/24 dev \
             eth1\n 192.0.2.101/24 use_vmac\n }",
        )
        .unwrap();
        let inst = &cfg.instances[0];
        let on: Vec<&str> = inst.vips.iter().map(|v| inst.vip_interface(v)).collect();
        // Without use_vmac, a VIP on the instance's own interface takes a VMAC only when it
        // asks for one (keepalived 2.2.7: vrrp.55 on eth0 for such a VIP).
        assert_eq!(on, ["eth0", "vx.54", "vx1.54"]);
    }

    #[test]
    fn use_ipvlan_reads_name_address_and_type_in_any_order() {
        let cfg = keepalived(
            " use_ipvlan 192.0.2.51/24 private ipv51\n virtual_ipaddress {\n 192.0.2.100/24\n }",
        )
        .unwrap();
        let inst = &cfg.instances[0];
        let ipvlan = inst.ipvlan.as_ref().unwrap();
        assert_eq!(
            (ipvlan.interface.as_str(), ipvlan.mode),
            ("ipv51", IpvlanMode::Private)
        );
        assert_eq!(ipvlan.address.unwrap().to_string(), "192.0.2.51/24");
        assert_eq!(inst.vip_interface(&inst.vips[0]), "ipv51");
        let cfg = keepalived(" use_ipvlan\n virtual_ipaddress {\n 2001:db8::100/64\n }").unwrap();
        let ipvlan = cfg.instances[0].ipvlan.as_ref().unwrap();
        assert_eq!(
            (ipvlan.interface.as_str(), ipvlan.mode, ipvlan.address),
            ("vrrp.54", IpvlanMode::Bridge, None)
        );
    }

    #[test]
    fn an_ipv4_ipvlan_without_address_faults_as_keepalived_does() {
        // keepalived 2.2.7 runs the file and holds the instance in FAULT: so does vipd.
        let cfg =
            keepalived(" use_ipvlan ipv51\n virtual_ipaddress {\n 192.0.2.100/24\n }").unwrap();
        let w = warnings(&cfg.instances[0], "instance[0]");
        assert!(
            w.iter()
                .any(|(_, m)| m.contains("an IPv4 ipvlan needs an address") && m.contains("FAULT")),
            "{w:?}"
        );
        let e = keepalived(
            " use_ipvlan ipv51 2001:db8::5/64\n virtual_ipaddress {\n 192.0.2.100/24\n }",
        )
        .unwrap_err();
        assert!(e.contains("not of the instance's address family"), "{e}");
    }

    #[test]
    fn use_vmac_wins_over_use_ipvlan_as_in_keepalived() {
        let cfg = keepalived(
            " use_vmac\n use_ipvlan ipv56 192.0.2.56/24\n virtual_ipaddress {\n 192.0.2.100/24\n }",
        )
        .unwrap();
        let inst = &cfg.instances[0];
        assert!(inst.ipvlan.is_none());
        assert_eq!(inst.vip_interface(&inst.vips[0]), "vrrp.54");
    }

    #[test]
    fn interface_names_linux_refuses_are_problems() {
        assert!(check_interface_name("vrrp.51").is_ok());
        assert!(check_interface_name("").is_err());
        assert!(check_interface_name("a-very-long-name").is_err());
        assert!(check_interface_name("a/b").is_err());
        assert!(check_interface_name("a b").is_err());
        assert!(check_interface_name("..").is_err());
    }
}
