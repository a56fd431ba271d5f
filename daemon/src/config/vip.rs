//! Virtual addresses, written as in keepalived and `ip address add`:
//! `ADDRESS[/PREFIX] [brd ADDRESS] [dev IFNAME] [scope SCOPE] [label LABEL]`.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

/// Address scope as `ip address add ... scope` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Global,
    Site,
    Link,
    Host,
    Nowhere,
}

impl Scope {
    pub fn parse(text: &str) -> Option<Scope> {
        Some(match text {
            "global" => Scope::Global,
            "site" => Scope::Site,
            "link" => Scope::Link,
            "host" => Scope::Host,
            "nowhere" => Scope::Nowhere,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Global => "global",
            Scope::Site => "site",
            Scope::Link => "link",
            Scope::Host => "host",
            Scope::Nowhere => "nowhere",
        }
    }
}

/// One virtual IP address held by the master.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Vip {
    pub address: IpAddr,
    /// Prefix length; without `/N` keepalived uses /32 (IPv4) or /128 (IPv6).
    pub prefix_len: u8,
    /// Interface to add the address to (`dev`); `None` means the instance's interface.
    pub interface: Option<String>,
    /// Address label (`label eth0:vip`), IPv4 only.
    pub label: Option<String>,
    /// Broadcast address (`brd`), IPv4 only.
    pub broadcast: Option<Ipv4Addr>,
    pub scope: Option<Scope>,
    /// `use_vmac`: the address goes on a VMAC of its interface (see
    /// [`super::Instance::vip_vmacs`]).
    pub vmac: bool,
}

/// What keepalived's reading of a virtual address line leaves out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ignored {
    /// A keepalived option vipd does not apply (`home`, `preferred_lft 0`, ...).
    NotApplied(String),
    /// A word keepalived 2.2.7 ignores too (an unknown word, an invalid scope).
    Unknown(String),
    /// A prefix length followed by other characters (`/24;`), which keepalived 2.2.7 reads
    /// as its leading digits ("WARNING - invalid number"): the text as written.
    LeadingNumber(String),
}

impl Vip {
    /// Reads a VIP from the words of one keepalived `virtual_ipaddress` line, refusing
    /// options vipd does not apply (the native format's rule).
    pub fn from_words(words: &[&str]) -> Result<Vip, String> {
        let (vip, ignored) = Vip::from_keepalived_words(words)?;
        match ignored.first() {
            Some(
                Ignored::NotApplied(option)
                | Ignored::Unknown(option)
                | Ignored::LeadingNumber(option),
            ) => Err(format!(
                "unsupported virtual address option `{option}` (vipd supports dev, label, brd, \
                 scope, use_vmac)"
            )),
            None => Ok(vip),
        }
    }

    /// Reads a VIP as keepalived 2.2.7 does, with what it leaves out for the reader to
    /// warn about: keepalived options vipd does not apply (`home`, `-nodad`, `no_track`,
    /// `preferred_lft N`, ...) and words keepalived itself ignores ("Unknown configuration
    /// entry ... ignoring", an invalid scope, an option without its value, a prefix length
    /// longer than the address), each as written. An address keepalived cannot read is an
    /// error (keepalived skips the line: "VRRP parsed invalid IP").
    pub fn from_keepalived_words(words: &[&str]) -> Result<(Vip, Vec<Ignored>), String> {
        let (first, mut rest) = match words.split_first() {
            Some((first, rest)) => (*first, rest),
            None => return Err("empty virtual address".to_string()),
        };
        let (address_text, prefix_text) = match first.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (first, None),
        };
        let address: IpAddr = address_text
            .parse()
            .map_err(|_| format!("`{address_text}` is not an IP address"))?;
        let max_prefix = if address.is_ipv4() { 32 } else { 128 };
        let mut too_long_prefix = None;
        let mut leading_prefix = None;
        let prefix_len = match prefix_text {
            None => max_prefix,
            Some(p) => match p.parse::<u8>().or_else(|e| {
                let digits = p.bytes().take_while(u8::is_ascii_digit).count();
                let read = p[..digits].parse::<u8>().map_err(|_| e)?;
                leading_prefix = Some(p);
                Ok::<u8, std::num::ParseIntError>(read)
            }) {
                Ok(n) if n <= max_prefix => n,
                // keepalived: "Invalid address prefix len N ... - using 32" (128 for IPv6).
                Ok(_) => {
                    too_long_prefix = Some(p);
                    max_prefix
                }
                _ => {
                    return Err(format!(
                        "`/{p}` is not a prefix length for {address} (0..={max_prefix})"
                    ))
                }
            },
        };
        let mut vip = Vip {
            address,
            prefix_len,
            interface: None,
            label: None,
            broadcast: None,
            scope: None,
            vmac: false,
        };
        let mut ignored = Vec::new();
        if let Some(p) = too_long_prefix {
            ignored.push(Ignored::Unknown(format!("/{p}")));
        }
        if let Some(p) = leading_prefix {
            ignored.push(Ignored::LeadingNumber(format!("/{p}")));
        }
        while let Some((option, after)) = rest.split_first() {
            // Flags of `ip address add` that keepalived passes on and vipd does not.
            if matches!(
                *option,
                "home"
                    | "-nodad"
                    | "nodad"
                    | "mngtmpaddr"
                    | "noprefixroute"
                    | "autojoin"
                    | "no_track"
            ) {
                ignored.push(Ignored::NotApplied(option.to_string()));
                rest = after;
                continue;
            }
            if *option == "use_vmac" {
                vip.vmac = true;
                rest = after;
                continue;
            }
            if !matches!(
                *option,
                "dev" | "label" | "brd" | "broadcast" | "scope" | "peer" | "preferred_lft"
            ) {
                ignored.push(Ignored::Unknown(option.to_string()));
                rest = after;
                continue;
            }
            // keepalived: "No dev parameter specified for ..."; the address stays.
            let Some(value) = after.first().copied() else {
                ignored.push(Ignored::Unknown(option.to_string()));
                break;
            };
            match *option {
                "dev" => vip.interface = Some(value.to_string()),
                "label" => vip.label = Some(value.to_string()),
                "brd" | "broadcast" => {
                    let IpAddr::V4(v4) = address else {
                        return Err(format!("`brd` applies to IPv4 only, not {address}"));
                    };
                    // keepalived: `+` sets the host bits, `-` clears them.
                    let host_bits = u32::MAX.checked_shr(u32::from(prefix_len)).unwrap_or(0);
                    let brd = match value {
                        "+" => Ipv4Addr::from(u32::from(v4) | host_bits),
                        "-" => Ipv4Addr::from(u32::from(v4) & !host_bits),
                        text => text
                            .parse()
                            .map_err(|_| format!("broadcast `{text}` is not an IPv4 address"))?,
                    };
                    vip.broadcast = Some(brd);
                }
                "scope" => match Scope::parse(value) {
                    Some(scope) => vip.scope = Some(scope),
                    None => ignored.push(Ignored::Unknown(format!("scope {value}"))),
                },
                // What the kernel gives an address without lifetimes: nothing to apply.
                "preferred_lft" if value == "forever" => {}
                _ => ignored.push(Ignored::NotApplied(format!("{option} {value}"))),
            }
            rest = &after[1..];
        }
        if vip.label.is_some() && !address.is_ipv4() {
            return Err(format!("`label` applies to IPv4 only, not {address}"));
        }
        Ok((vip, ignored))
    }

    pub fn parse(text: &str) -> Result<Vip, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        Vip::from_words(&words)
    }
}

impl fmt::Display for Vip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix_len)?;
        if let Some(brd) = self.broadcast {
            write!(f, " brd {brd}")?;
        }
        if let Some(dev) = &self.interface {
            write!(f, " dev {dev}")?;
        }
        if let Some(scope) = self.scope {
            write!(f, " scope {}", scope.as_str())?;
        }
        if let Some(label) = &self.label {
            write!(f, " label {label}")?;
        }
        if self.vmac {
            f.write_str(" use_vmac")?;
        }
        Ok(())
    }
}

impl TryFrom<String> for Vip {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        Vip::parse(&text)
    }
}

impl From<Vip> for String {
    fn from(vip: Vip) -> String {
        vip.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_keepalived_forms() {
        let v = Vip::parse("192.0.2.5").unwrap();
        assert_eq!((v.prefix_len, v.interface.as_deref()), (32, None));
        let v = Vip::parse("172.16.135.2/21 dev eth0").unwrap();
        assert_eq!((v.prefix_len, v.interface.as_deref()), (21, Some("eth0")));
        let v =
            Vip::parse("192.0.2.18/24 brd 192.0.2.255 dev eth2 scope global label eth2:1").unwrap();
        assert_eq!(v.label.as_deref(), Some("eth2:1"));
        assert_eq!(Vip::parse(&v.to_string()).unwrap(), v);
        assert_eq!(Vip::parse("2001:db8::5").unwrap().prefix_len, 128);
        assert!(Vip::parse("192.0.2.5/33").is_err());
        assert!(Vip::parse("192.0.2.5 dev").is_err());
        assert!(Vip::parse("192.0.2.5 home").is_err());
        assert!(Vip::parse("2001:db8::5 label x").is_err());
        assert!(Vip::parse("not-an-ip").is_err());
    }

    #[test]
    fn reads_keepalived_options_it_does_not_apply() {
        let (v, ignored) = Vip::from_keepalived_words(&[
            "192.0.2.10/24",
            "brd",
            "+",
            "home",
            "-nodad",
            "no_track",
            "preferred_lft",
            "0",
        ])
        .unwrap();
        assert_eq!(v.broadcast, Some(Ipv4Addr::new(192, 0, 2, 255)));
        let not_applied = |w: &[&str]| {
            w.iter()
                .map(|o| Ignored::NotApplied(o.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            ignored,
            not_applied(&["home", "-nodad", "no_track", "preferred_lft 0"])
        );
        // `preferred_lft forever` is what vipd (the kernel's default) does: no warning.
        let (_, ignored) =
            Vip::from_keepalived_words(&["2001:db8::55/128", "preferred_lft", "forever"]).unwrap();
        assert!(ignored.is_empty(), "{ignored:?}");
        let (v, _) = Vip::from_keepalived_words(&["192.0.2.12/24", "brd", "-"]).unwrap();
        assert_eq!(v.broadcast, Some(Ipv4Addr::new(192, 0, 2, 0)));
        let (vip, ignored) =
            Vip::from_keepalived_words(&["192.0.2.12", "dev", "eth1", "use_vmac"]).unwrap();
        assert!(vip.vmac && ignored.is_empty());
        assert_eq!(Vip::parse(&vip.to_string()).unwrap(), vip);
        // keepalived: "No dev parameter specified", "Invalid address prefix len ... using
        // 32"; the address stays.
        let (v, ignored) = Vip::from_keepalived_words(&["192.0.2.12/40", "dev"]).unwrap();
        assert_eq!((v.prefix_len, v.interface), (32, None));
        assert_eq!(ignored.len(), 2, "{ignored:?}");
        assert!(Vip::from_keepalived_words(&["192.0.2.300"]).is_err());
    }

    #[test]
    fn skips_words_keepalived_ignores_and_keeps_the_address() {
        // keepalived 2.2.7: "Unknown configuration entry '...' for ip address - ignoring",
        // "Invalid scope '...' - ignoring"; the address itself is added.
        let (v, ignored) = Vip::from_keepalived_words(&[
            "192.0.2.12/24",
            "192.0.2.13",
            "dev",
            "eth0",
            "scope",
            "bogus",
            "broadcast",
            "+",
        ])
        .unwrap();
        assert_eq!(v.interface.as_deref(), Some("eth0"));
        assert_eq!(v.scope, None);
        assert_eq!(v.broadcast, Some(Ipv4Addr::new(192, 0, 2, 255)));
        assert_eq!(
            ignored,
            [
                Ignored::Unknown("192.0.2.13".to_string()),
                Ignored::Unknown("scope bogus".to_string())
            ]
        );
        assert!(
            Vip::parse("192.0.2.5 home").is_err(),
            "native: only applied options"
        );
    }
}
