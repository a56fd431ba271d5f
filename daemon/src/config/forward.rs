//! Forwards (native TOML only; keepalived.conf has no syntax for them): connections to a VIP
//! and port go to a backend while the instance is master, the way the seed's Ansible role
//! bolts DNAT and MASQUERADE onto keepalived with iptables.
//!
//! ```toml
//! [[instance.forward]]
//! from = "192.0.2.100:6443/tcp"    # a VIP of the instance, port, tcp (default) or udp
//! to = "198.51.100.21:7443"        # backend address and port, same family
//! masquerade = true                # source-NAT to this router on the way out
//! ```

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::SocketAddr;

use super::{Config, Instance};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// One `[[instance.forward]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ForwardTable", into = "ForwardTable")]
pub struct Forward {
    pub from: SocketAddr,
    pub protocol: Protocol,
    pub to: SocketAddr,
    pub masquerade: bool,
}

impl fmt::Display for Forward {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{} -> {}{}",
            self.from,
            self.protocol.as_str(),
            self.to,
            if self.masquerade { " masquerade" } else { "" }
        )
    }
}

/// The table as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardTable {
    from: String,
    to: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    masquerade: bool,
}

impl TryFrom<ForwardTable> for Forward {
    type Error = String;

    fn try_from(t: ForwardTable) -> Result<Forward, String> {
        let (address, protocol) = match t.from.rsplit_once('/') {
            Some((address, "tcp")) => (address, Protocol::Tcp),
            Some((address, "udp")) => (address, Protocol::Udp),
            Some((_, other)) => {
                return Err(format!(
                    "forward from `{}`: protocol `{other}` is not tcp or udp",
                    t.from
                ))
            }
            None => (t.from.as_str(), Protocol::Tcp),
        };
        let from: SocketAddr = address.parse().map_err(|_| {
            format!(
                "forward from `{}` is not ADDRESS:PORT[/tcp|udp] ([ADDRESS]:PORT for IPv6)",
                t.from
            )
        })?;
        let to: SocketAddr = t.to.parse().map_err(|_| {
            format!(
                "forward to `{}` is not ADDRESS:PORT ([ADDRESS]:PORT for IPv6)",
                t.to
            )
        })?;
        Ok(Forward {
            from,
            protocol,
            to,
            masquerade: t.masquerade,
        })
    }
}

impl From<Forward> for ForwardTable {
    fn from(f: Forward) -> ForwardTable {
        ForwardTable {
            from: format!("{}/{}", f.from, f.protocol.as_str()),
            to: f.to.to_string(),
            masquerade: f.masquerade,
        }
    }
}

/// Problems of the instance's forwards as (field path, message).
pub(super) fn problems(cfg: &Config, inst: &Instance, at: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let name = &inst.name;
    for (j, forward) in inst.forwards.iter().enumerate() {
        let path = format!("{at}.forward[{j}]");
        let (from, to) = (forward.from, forward.to);
        if !inst.all_vips().any(|v| v.address == from.ip()) {
            out.push((
                path.clone(),
                format!(
                    "instance `{name}`: forward from {from}: {} is not one of its addresses",
                    from.ip()
                ),
            ));
        }
        if from.port() == 0 || to.port() == 0 {
            out.push((
                path.clone(),
                format!("instance `{name}`: forward {forward}: port 0 is not a port"),
            ));
        }
        if from.is_ipv4() != to.is_ipv4() {
            out.push((
                path.clone(),
                format!(
                    "instance `{name}`: forward {forward}: the backend is not of the VIP's \
                     address family"
                ),
            ));
        }
        let target = to.ip();
        if target.is_unspecified() || target.is_multicast() || is_broadcast(target) {
            out.push((
                path.clone(),
                format!("instance `{name}`: forward {forward}: {target} is not a backend address"),
            ));
        }
        // The same VIP, port and protocol forwarded twice: only one rule could win.
        let me = cfg.instances.iter().position(|i| i.name == inst.name);
        let earlier = cfg
            .instances
            .iter()
            .enumerate()
            .find_map(|(i, other_inst)| {
                other_inst
                    .forwards
                    .iter()
                    .enumerate()
                    .find_map(|(k, other)| {
                        let before = Some((i, k)) < me.map(|m| (m, j));
                        (before && other.from == from && other.protocol == forward.protocol)
                            .then_some(other_inst.name.as_str())
                    })
            });
        if let Some(other) = earlier {
            out.push((
                path.clone(),
                format!(
                    "instance `{name}`: {from}/{} is already forwarded by instance `{other}`",
                    forward.protocol.as_str()
                ),
            ));
        }
    }
    out
}

fn is_broadcast(address: std::net::IpAddr) -> bool {
    matches!(address, std::net::IpAddr::V4(v4) if v4.is_broadcast())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(from: &str, to: &str) -> Result<Forward, String> {
        Forward::try_from(ForwardTable {
            from: from.into(),
            to: to.into(),
            masquerade: false,
        })
    }

    #[test]
    fn from_takes_an_optional_protocol() {
        let f = table("192.0.2.100:6443", "198.51.100.21:7443").unwrap();
        assert_eq!(f.protocol, Protocol::Tcp);
        let f = table("[2001:db8::100]:53/udp", "[2001:db8::53]:5353").unwrap();
        assert_eq!((f.protocol, f.from.port()), (Protocol::Udp, 53));
        assert_eq!(
            f.to_string(),
            "[2001:db8::100]:53/udp -> [2001:db8::53]:5353"
        );
        assert!(table("192.0.2.100:6443/sctp", "198.51.100.21:7443")
            .unwrap_err()
            .contains("not tcp or udp"));
        assert!(table("192.0.2.100", "198.51.100.21:7443").is_err());
        assert!(table("192.0.2.100:6443", "backend:7443").is_err());
        assert!(table("192.0.2.100:6443", "198.51.100.300:7443").is_err());
    }
}
