//! The virtual MAC interface of an instance (keepalived `use_vmac`): a macvlan on the
//! instance's interface with the RFC 5798 virtual router MAC, holding the VIPs.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use super::{Config, Instance};

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

/// keepalived's VMAC name for an instance without one: `PREFIX.VRID`.
pub fn default_interface(prefix: &str, vrid: u8) -> String {
    format!("{prefix}.{vrid}")
}

/// Gives every VMAC without a name keepalived's default one.
pub fn resolve_names(cfg: &mut Config, prefix: &str) {
    for inst in &mut cfg.instances {
        let vrid = inst.vrid;
        if let Some(vmac) = inst.vmac.as_mut() {
            if vmac.interface.is_empty() {
                vmac.interface = default_interface(prefix, vrid);
            }
        }
    }
}

impl Instance {
    /// The VMAC's interface name when the instance has one.
    pub fn vmac_interface(&self) -> Option<&str> {
        self.vmac.as_ref().map(|v| v.interface.as_str())
    }

    /// Whether adverts leave from the instance's own interface: always without a VMAC, with
    /// `vmac_xmit_base`, and with unicast peers (keepalived forces `vmac_xmit_base` then).
    pub fn sends_from_base(&self) -> bool {
        self.vmac
            .as_ref()
            .is_none_or(|v| v.xmit_base || !self.unicast_peers.is_empty())
    }
}

/// Problems of the instance's VMAC as (field path, message).
pub(super) fn problems(cfg: &Config, inst: &Instance, at: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Some(vmac) = &inst.vmac else {
        return out;
    };
    let path = format!("{at}.vmac.interface");
    let name = vmac.interface.as_str();
    if let Err(why) = check_interface_name(name) {
        out.push((path.clone(), format!("VMAC interface name `{name}` {why}")));
    }
    if name == inst.interface {
        out.push((
            path.clone(),
            format!(
                "the VMAC cannot have the name of the instance's interface `{}`",
                inst.interface
            ),
        ));
    }
    for other in &cfg.instances {
        if other.name == inst.name {
            continue;
        }
        if other.vmac_interface() == Some(name) {
            out.push((
                path.clone(),
                format!(
                    "instances `{}` and `{}` both use VMAC interface `{name}`",
                    other.name, inst.name
                ),
            ));
        }
        if other.interface == name {
            out.push((
                path.clone(),
                format!(
                    "`{name}` is the interface of instance `{}`; a VMAC needs a name of its own",
                    other.name
                ),
            ));
        }
    }
    if let Some(mac) = vmac.mac {
        if mac.0[0] & 1 == 1 || mac.0 == [0; 6] {
            out.push((
                format!("{at}.vmac.mac"),
                format!("{mac} is not a unicast MAC address"),
            ));
        }
    }
    out
}

/// Things about the instance's VMAC the user should know, as (field path, message).
pub(super) fn warnings(inst: &Instance, at: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
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
fn check_interface_name(name: &str) -> Result<(), String> {
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
