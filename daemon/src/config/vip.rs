//! Virtual addresses, written as in keepalived and `ip address add`:
//! `ADDRESS[/PREFIX] [brd ADDRESS] [dev IFNAME] [scope SCOPE] [label LABEL]`.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

/// Address scope as `ip address add ... scope` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
}

impl Vip {
    /// Reads a VIP from the words of one keepalived `virtual_ipaddress` line.
    pub fn from_words(words: &[&str]) -> Result<Vip, String> {
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
        let prefix_len = match prefix_text {
            None => max_prefix,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max_prefix => n,
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
        };
        while let Some((option, after)) = rest.split_first() {
            let value = *after
                .first()
                .ok_or_else(|| format!("`{option}` needs a value in virtual address `{first}`"))?;
            match *option {
                "dev" => vip.interface = Some(value.to_string()),
                "label" => vip.label = Some(value.to_string()),
                "brd" => {
                    let brd: Ipv4Addr = value
                        .parse()
                        .map_err(|_| format!("broadcast `{value}` is not an IPv4 address"))?;
                    if !address.is_ipv4() {
                        return Err(format!("`brd` applies to IPv4 only, not {address}"));
                    }
                    vip.broadcast = Some(brd);
                }
                "scope" => {
                    vip.scope = Some(Scope::parse(value).ok_or_else(|| {
                        format!("scope `{value}` is not one of global, site, link, host, nowhere")
                    })?)
                }
                other => {
                    return Err(format!(
                        "unsupported virtual address option `{other}` (vipd supports dev, label, brd, scope)"
                    ))
                }
            }
            rest = &after[1..];
        }
        if vip.label.is_some() && !address.is_ipv4() {
            return Err(format!("`label` applies to IPv4 only, not {address}"));
        }
        Ok(vip)
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
}
