//! Routes and policy rules, written as keepalived writes them (`virtual_routes`,
//! `static_routes`, `virtual_rules`, `static_rules`), which is `ip route add` / `ip rule add`
//! without the shortened option names.
//!
//! vipd installs what keepalived 2.2.7 installs: destination, type, gateway or nexthops,
//! device, source, table, metric, scope, protocol, onlink, tos, realms, pref, expires and the
//! metrics; the rule selectors (uidrange, ipproto, ports, suppress_*, ...) and actions
//! (table, goto, l3mdev, ...). A keepalived option it does not install (`vrf`, `encap`) is
//! not dropped silently: the keepalived reader skips the whole route or rule with a warning
//! naming the option, because a route without it would send traffic elsewhere than the file
//! says. The native format refuses such options.
//!
//! Both serialise to their canonical text, which reads back to the same value.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::vip::Scope;

/// `proto keepalived` (RTPROT_KEEPALIVED): what keepalived marks its routes and rules with,
/// so `ip route show proto keepalived` finds vipd's as well.
pub const PROTOCOL_KEEPALIVED: u8 = 18;

/// Rules without a preference get one as keepalived 2.2.7 gives it: 16384 for the first of
/// each family, one less for each further one.
pub const FIRST_DEFAULT_RULE_PRIORITY: u32 = 16384;

/// An address prefix: `ADDRESS/LEN`, `ADDRESS` (a host), or `default`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Prefix {
    pub address: IpAddr,
    pub len: u8,
}

impl Prefix {
    /// Reads `ADDRESS[/LEN]`; `default` (and `all`) is 0.0.0.0/0, or ::/0 when `ipv6`.
    /// Host bits must be clear, as the kernel requires.
    pub fn parse(text: &str, ipv6: bool) -> Result<Prefix, String> {
        if text == "default" || text == "all" {
            let address = if ipv6 {
                IpAddr::V6(Ipv6Addr::UNSPECIFIED)
            } else {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            };
            return Ok(Prefix { address, len: 0 });
        }
        let (address_text, len_text) = match text.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (text, None),
        };
        let address: IpAddr = address_text
            .parse()
            .map_err(|_| format!("`{address_text}` is not an IP address"))?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let len = match len_text {
            None => max,
            Some(l) => match l.parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => return Err(format!("`/{l}` is not a prefix length for {address}")),
            },
        };
        let prefix = Prefix { address, len };
        if prefix.masked() != address {
            return Err(format!(
                "{text} has host bits set (the network is {}/{len})",
                prefix.masked()
            ));
        }
        Ok(prefix)
    }

    pub fn is_ipv6(&self) -> bool {
        self.address.is_ipv6()
    }

    /// The address with the host bits cleared.
    fn masked(&self) -> IpAddr {
        match self.address {
            IpAddr::V4(a) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.len)).unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.len))
                    .unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
            }
        }
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.len)
    }
}

/// What a route does with the packets it matches (`ip route` TYPE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum RouteType {
    /// Forward them (the default).
    #[default]
    Unicast,
    /// Drop them silently.
    Blackhole,
    /// Drop them, answering "host unreachable".
    Unreachable,
    /// Drop them, answering "administratively prohibited".
    Prohibit,
    /// Go on with the next policy rule.
    Throw,
}

impl RouteType {
    fn parse(word: &str) -> Option<RouteType> {
        Some(match word {
            "unicast" => RouteType::Unicast,
            "blackhole" => RouteType::Blackhole,
            "unreachable" => RouteType::Unreachable,
            "prohibit" => RouteType::Prohibit,
            "throw" => RouteType::Throw,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RouteType::Unicast => "unicast",
            RouteType::Blackhole => "blackhole",
            RouteType::Unreachable => "unreachable",
            RouteType::Prohibit => "prohibit",
            RouteType::Throw => "throw",
        }
    }
}

/// How a route goes in when a route to the same destination exists (`ip route prepend`,
/// `add`, `append`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Insert {
    /// Before the existing ones (keepalived's default, the kernel's with NLM_F_CREATE).
    #[default]
    Prepend,
    /// Only if none exists (`add`).
    Exclusive,
    /// After the existing ones (`append`).
    Append,
}

/// One route.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Route {
    pub route_type: RouteType,
    pub destination: Prefix,
    /// Gateway (`via` / `gw`).
    pub via: Option<IpAddr>,
    /// Output interface (`dev` / `oif`); without it the kernel picks the gateway's.
    pub dev: Option<String>,
    /// Preferred source address of packets sent along it (`src`).
    pub src: Option<IpAddr>,
    /// `metric` / `priority` / `preference`.
    pub metric: Option<u32>,
    /// Routing table id; `None` = main.
    pub table: Option<u32>,
    /// `None`: link for gateway-less unicast routes, else global (as `ip route` does).
    pub scope: Option<Scope>,
    /// `None` = [`PROTOCOL_KEEPALIVED`].
    pub protocol: Option<u8>,
    pub onlink: bool,
    /// `tos` / `dsfield` (the header's `rtm_tos`, part of the kernel's key to the route).
    pub tos: Option<u8>,
    /// The paths of a multipath route (`nexthop ...`, keepalived's older `via A or B`); the
    /// route's own `via` is then empty.
    pub nexthops: Vec<Nexthop>,
    /// `RTAX_*` metrics (`mtu`, `advmss`, `rtt`, ...), in kernel units, sorted by number.
    pub metrics: Vec<Metric>,
    /// `congctl [lock] NAME` (`RTAX_CC_ALGO`).
    pub congctl: Option<(String, bool)>,
    /// `realms [FROM/]TO` (`RTA_FLOW`, IPv4).
    pub realms: Option<u32>,
    /// `pref low|medium|high|N` (`RTA_PREF`, IPv6).
    pub pref: Option<u8>,
    /// `expires SECONDS` (`RTA_EXPIRES`, IPv6): the kernel deletes the route then.
    pub expires: Option<u32>,
    pub insert: Insert,
}

/// One path of a multipath route: `nexthop via GW dev IF weight N onlink realms R`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Nexthop {
    pub via: Option<IpAddr>,
    pub dev: Option<String>,
    /// 1..=256; the kernel's `rtnh_hops` is one less.
    pub weight: u16,
    pub onlink: bool,
    pub realms: Option<u32>,
}

/// One route metric inside `RTA_METRICS`: its `RTAX_*` number, the value the kernel gets,
/// and whether it is locked (`RTAX_LOCK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Metric {
    pub rtax: u16,
    pub value: u32,
    pub lock: bool,
}

/// How a metric's value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    /// A number up to this maximum.
    Max(u32),
    /// A time as `ip route` reads it (`rtt 300ms`, `rtt 1.5s`, or a bare number in kernel
    /// units); the kernel counts this many units per millisecond. keepalived 2.2.7 raises a
    /// time below 200 ms to 200 ms (with a warning), and so does vipd.
    Time(u32),
}

/// keepalived 2.2.7's route metrics: name, `RTAX_*` number, whether `lock` may precede the
/// value, unit. (`features` and `congctl` are read apart.)
const METRICS: [(&str, u16, bool, Unit); 14] = [
    ("mtu", 2, true, Unit::Max(u32::MAX)),
    ("window", 3, false, Unit::Max(u32::MAX)),
    ("rtt", 4, true, Unit::Time(8)),
    ("rttvar", 5, true, Unit::Time(4)),
    ("ssthresh", 6, true, Unit::Max(u32::MAX)),
    ("cwnd", 7, true, Unit::Max(u32::MAX)),
    ("advmss", 8, true, Unit::Max(u32::MAX)),
    ("reordering", 9, true, Unit::Max(u32::MAX)),
    ("hoplimit", 10, false, Unit::Max(255)),
    ("initcwnd", 11, false, Unit::Max(u32::MAX)),
    ("rto_min", 13, true, Unit::Time(1)),
    ("initrwnd", 14, false, Unit::Max(u32::MAX)),
    ("quickack", 15, false, Unit::Max(1)),
    ("fastopen_no_cookie", 17, false, Unit::Max(1)),
];

/// `RTAX_FEATURES` and its one value keepalived sets, `ecn`.
pub const RTAX_FEATURES: u16 = 12;
const RTAX_FEATURE_ECN: u32 = 1;
/// The shortest time keepalived 2.2.7 installs for `rtt`, `rttvar` and `rto_min`.
const MIN_TIME_MS: u32 = 200;

/// Reads a time metric: `Ok((kernel value, raised to the minimum))`.
fn time_metric(text: &str, per_ms: u32) -> Result<(u32, bool), String> {
    let units = [
        ("msecs", 1.0),
        ("msec", 1.0),
        ("ms", 1.0),
        ("secs", 1000.0),
        ("sec", 1000.0),
        ("s", 1000.0),
    ];
    let (number, scale) = units
        .iter()
        .find_map(|(unit, ms)| text.strip_suffix(unit).map(|n| (n, ms * f64::from(per_ms))))
        .unwrap_or((text, 1.0));
    let bad = || format!("`{text}` is not a time (N, Nms or Ns)");
    let value: f64 = number.parse().map_err(|_| bad())?;
    let kernel = value * scale;
    if !(0.0..=f64::from(u32::MAX)).contains(&kernel) || number.starts_with(['+', '-']) {
        return Err(bad());
    }
    // Truncated as `ip route` truncates it.
    let kernel = kernel as u32;
    let minimum = MIN_TIME_MS * per_ms;
    Ok(if kernel < minimum {
        (minimum, true)
    } else {
        (kernel, false)
    })
}

/// `realms [FROM/]TO` as numbers (names from /etc/iproute2/rt_realms are not read).
fn realms(text: &str) -> Result<u32, String> {
    let bad = || format!("realms `{text}` is not [FROM/]TO with numbers 0..=65535");
    let (from, to) = match text.split_once('/') {
        Some((f, t)) => (f, t),
        None => ("0", text),
    };
    let from = parse_u32(from)
        .and_then(|n| u16::try_from(n).ok())
        .ok_or_else(bad)?;
    let to = parse_u32(to)
        .and_then(|n| u16::try_from(n).ok())
        .ok_or_else(bad)?;
    Ok(u32::from(from) << 16 | u32::from(to))
}

fn realms_text(realms: u32) -> String {
    format!("{}/{}", realms >> 16, realms & 0xffff)
}

fn byte(text: &str, what: &str) -> Result<u8, String> {
    parse_u32(text)
        .and_then(|n| u8::try_from(n).ok())
        .ok_or_else(|| format!("{what} `{text}` is not 0..=255"))
}

/// `pref` of an IPv6 route (ICMPV6_ROUTER_PREF_*).
fn pref(text: &str) -> Result<u8, String> {
    match text {
        "low" => Ok(3),
        "medium" => Ok(0),
        "high" => Ok(1),
        _ => byte(text, "pref"),
    }
}

fn pref_text(pref: u8) -> String {
    match pref {
        3 => "low".into(),
        0 => "medium".into(),
        1 => "high".into(),
        n => n.to_string(),
    }
}

/// Reads the `nexthop ...` groups that end a route.
fn nexthops(words: &mut std::slice::Iter<'_, &str>) -> Result<Vec<Nexthop>, String> {
    let mut hops = Vec::new();
    let mut hop: Option<Nexthop> = None;
    while let Some(&word) = words.next() {
        if word == "nexthop" {
            hops.extend(hop.take());
            hop = Some(Nexthop {
                weight: 1,
                ..Nexthop::default()
            });
            continue;
        }
        let Some(current) = hop.as_mut() else {
            return Err(format!("`{word}` before the first `nexthop`"));
        };
        match word {
            "via" => current.via = Some(gateway(word, words)?),
            "dev" => current.dev = Some(ifname(value(word, words)?)?),
            "weight" => {
                let text = value(word, words)?;
                current.weight = parse_u32(text)
                    .filter(|n| (1..=256).contains(n))
                    .and_then(|n| u16::try_from(n).ok())
                    .ok_or_else(|| format!("nexthop weight `{text}` is not 1..=256"))?;
            }
            "onlink" => current.onlink = true,
            "realms" => current.realms = Some(realms(value(word, words)?)?),
            other => {
                return Err(format!(
                    "nexthop option `{other}` is not installed by vipd (it installs via, dev,                      weight, onlink, realms; nothing may follow the nexthops)"
                ))
            }
        }
    }
    hops.extend(hop);
    if hops.iter().any(|h| h.via.is_none() && h.dev.is_none()) {
        return Err("a nexthop needs `via` or `dev`".into());
    }
    Ok(hops)
}

/// What a rule does with the packets it selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RuleAction {
    /// Look the packet up in this routing table (`table N` / `lookup N`).
    Table(u32),
    Blackhole,
    Unreachable,
    Prohibit,
    /// Go on at the rule with this preference (`goto N`).
    Goto(u32),
    /// Look up the table of the packet's VRF device (`l3mdev`).
    L3mdev,
}

/// One policy routing rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Rule {
    /// IPv6 rule (from an IPv6 prefix, or `inet6`).
    pub ipv6: bool,
    /// Select the packets that do *not* match (`not`).
    pub invert: bool,
    pub from: Option<Prefix>,
    pub to: Option<Prefix>,
    /// `fwmark MARK[/MASK]`.
    pub fwmark: Option<(u32, Option<u32>)>,
    /// Input interface (`iif` / `dev`).
    pub iif: Option<String>,
    pub oif: Option<String>,
    pub tos: Option<u8>,
    pub action: RuleAction,
    /// `preference` / `priority`; the keepalived reader fills it in as keepalived does.
    pub priority: Option<u32>,
    /// `None` = [`PROTOCOL_KEEPALIVED`].
    pub protocol: Option<u8>,
    /// `uidrange START-END`.
    pub uidrange: Option<(u32, u32)>,
    /// `ipproto NAME|N`.
    pub ipproto: Option<u8>,
    /// `sport START[-END]`, `dport START[-END]`.
    pub sport: Option<(u16, u16)>,
    pub dport: Option<(u16, u16)>,
    /// `suppress_prefixlength N`, `suppress_ifgroup N|default`.
    pub suppress_prefixlength: Option<u32>,
    pub suppress_ifgroup: Option<u32>,
    /// `realms [FROM/]TO` (`FRA_FLOW`).
    pub realms: Option<u32>,
}

/// IP protocol names `ipproto` takes (keepalived reads /etc/protocols; these are the ones
/// policy routing is written with).
const IP_PROTOCOLS: [(&str, u8); 11] = [
    ("icmp", 1),
    ("igmp", 2),
    ("tcp", 6),
    ("udp", 17),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("ipv6-icmp", 58),
    ("ospf", 89),
    ("sctp", 132),
    ("udplite", 136),
];

fn ip_protocol(text: &str) -> Result<u8, String> {
    match IP_PROTOCOLS.iter().find(|(name, _)| *name == text) {
        Some((_, n)) => Ok(*n),
        None => byte(text, "ipproto").map_err(|_| {
            format!("ipproto `{text}` is not a number 0..=255 or a known protocol name")
        }),
    }
}

fn ip_protocol_text(n: u8) -> String {
    match IP_PROTOCOLS.iter().find(|(_, p)| *p == n) {
        Some((name, _)) => (*name).to_string(),
        None => n.to_string(),
    }
}

/// `START-END`, or one number as both (`single`: whether it was one).
fn range<T: TryFrom<u32> + PartialOrd + Copy>(
    text: &str,
    what: &str,
) -> Result<((T, T), bool), String> {
    let bad = || format!("{what} `{text}` is not N or START-END");
    let number = |t: &str| {
        parse_u32(t)
            .and_then(|n| T::try_from(n).ok())
            .ok_or_else(bad)
    };
    let (range, single) = match text.split_once('-') {
        Some((start, end)) => ((number(start)?, number(end)?), false),
        None => {
            let n = number(text)?;
            ((n, n), true)
        }
    };
    if range.0 > range.1 {
        return Err(bad());
    }
    Ok((range, single))
}

/// A route or rule as read from keepalived.conf: the value, and the options that keepalived
/// takes but that do not change it in vipd (`no_track`, `track_group NAME`), for a warning.
pub type Read<T> = (T, Vec<String>);

/// keepalived options that only concern keepalived's tracking of the route or rule.
fn tracking_option(word: &str) -> bool {
    word == "no_track"
}

fn table_id(text: &str) -> Result<u32, String> {
    match text {
        "main" => Ok(254),
        "local" => Ok(255),
        "default" => Ok(253),
        _ => parse_u32(text).filter(|n| *n > 0).ok_or_else(|| {
            format!(
                "table `{text}` is not a table number or main/local/default (vipd does not read \
                 /etc/iproute2/rt_tables)"
            )
        }),
    }
}

fn protocol_id(text: &str) -> Result<u8, String> {
    Ok(match text {
        "kernel" => 2,
        "boot" => 3,
        "static" => 4,
        "keepalived" => PROTOCOL_KEEPALIVED,
        _ => parse_u32(text)
            .and_then(|n| u8::try_from(n).ok())
            .ok_or_else(|| {
                format!(
                    "protocol `{text}` is not a number 0..=255 or one of kernel, boot, static, \
                     keepalived"
                )
            })?,
    })
}

fn protocol_name(id: u8) -> String {
    match id {
        2 => "kernel".into(),
        3 => "boot".into(),
        4 => "static".into(),
        PROTOCOL_KEEPALIVED => "keepalived".into(),
        n => n.to_string(),
    }
}

/// A number written in decimal or `0x` hexadecimal.
fn parse_u32(text: &str) -> Option<u32> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// An interface name as the kernel allows it: 1..=15 bytes, no whitespace or `/`.
fn ifname(text: &str) -> Result<String, String> {
    let valid = !text.is_empty()
        && text.len() <= 15
        && !text.chars().any(|c| c.is_whitespace() || c == '/');
    if valid {
        Ok(text.to_string())
    } else {
        Err(format!("`{text}` is not an interface name"))
    }
}

fn ip(text: &str, what: &str) -> Result<IpAddr, String> {
    text.parse()
        .map_err(|_| format!("{what} `{text}` is not an IP address"))
}

/// The gateway after `via`/`gw`: an address, or as keepalived 2.2.7 also reads it (and
/// writes it in its `-d` dump) a family word and an address of that family, `via inet6
/// 2001:db8::1` (a `default` route then is of that family). A family word the address does
/// not match is an error (keepalived: "Cannot mix IPv4 and IPv6 addresses for route", the
/// route is skipped).
fn gateway(option: &str, rest: &mut std::slice::Iter<'_, &str>) -> Result<IpAddr, String> {
    let text = value(option, rest)?;
    let family = match text {
        "inet" => Some(false),
        "inet6" => Some(true),
        _ => None,
    };
    let Some(ipv6) = family else {
        return ip(text, "gateway");
    };
    let address = ip(value(text, rest)?, "gateway")?;
    if address.is_ipv6() != ipv6 {
        return Err(format!("gateway {address} is not an {text} address"));
    }
    Ok(address)
}

/// Takes the value after `option`.
fn value<'a>(option: &str, rest: &mut std::slice::Iter<'_, &'a str>) -> Result<&'a str, String> {
    rest.next()
        .copied()
        .ok_or_else(|| format!("`{option}` needs a value"))
}

fn same_family(a: IpAddr, b: IpAddr, what: &str) -> Result<(), String> {
    if a.is_ipv6() == b.is_ipv6() {
        Ok(())
    } else {
        Err(format!("{what} {b} is not of the family of {a}"))
    }
}

fn metric_spec(name: &str) -> Option<(u16, bool, Unit)> {
    METRICS
        .iter()
        .find(|(n, ..)| *n == name)
        .map(|&(_, rtax, lockable, unit)| (rtax, lockable, unit))
}

fn metric_name(rtax: u16) -> Option<&'static str> {
    if rtax == RTAX_FEATURES {
        return Some("features");
    }
    METRICS
        .iter()
        .find(|(_, r, ..)| *r == rtax)
        .map(|(n, ..)| *n)
}

/// Sets a metric; a later one of the same kind replaces it, as in keepalived.
fn set_metric(metrics: &mut Vec<Metric>, rtax: u16, value: u32, lock: bool) {
    metrics.retain(|m| m.rtax != rtax);
    metrics.push(Metric { rtax, value, lock });
    metrics.sort();
}

/// Reads `NAME [lock] VALUE`; `Ok(Some(warning))` when a time was raised to the minimum.
fn read_metric(
    name: &str,
    rest: &mut std::slice::Iter<'_, &str>,
    metrics: &mut Vec<Metric>,
) -> Result<Option<String>, String> {
    let Some((rtax, lockable, unit)) = metric_spec(name) else {
        return Err(format!("`{name}` is not a route metric"));
    };
    let mut text = value(name, rest)?;
    let lock = lockable && text == "lock";
    if lock {
        text = value(name, rest)?;
    }
    let (value, warning) = match unit {
        Unit::Max(max) => (
            parse_u32(text)
                .filter(|n| *n <= max)
                .ok_or_else(|| format!("{name} `{text}` is not a number 0..={max}"))?,
            None,
        ),
        Unit::Time(per_ms) => {
            let (value, raised) = time_metric(text, per_ms)?;
            let warning = raised.then(|| {
                format!("{name} {text} is below {MIN_TIME_MS}ms: raised to it, as keepalived 2.2.7 does")
            });
            (value, warning)
        }
    };
    set_metric(metrics, rtax, value, lock);
    Ok(warning)
}

impl Route {
    /// Reads one route line as keepalived 2.2.7 does. An option vipd does not install is an
    /// error naming it (the reader then skips the route with a warning).
    pub fn from_keepalived_words(words: &[&str]) -> Result<Read<Route>, String> {
        // The family decides what `default` means: a later IPv6 gateway or `inet6` says so.
        let ipv6 = words.contains(&"inet6")
            || words.contains(&"pref")
            || words.contains(&"expires")
            || words
                .iter()
                .any(|w| w.contains(':') && w.parse::<IpAddr>().is_ok());
        let mut route = Route {
            route_type: RouteType::Unicast,
            destination: Prefix {
                address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                len: 0,
            },
            via: None,
            dev: None,
            src: None,
            metric: None,
            table: None,
            scope: None,
            protocol: None,
            onlink: false,
            tos: None,
            nexthops: Vec::new(),
            metrics: Vec::new(),
            congctl: None,
            realms: None,
            pref: None,
            expires: None,
            insert: Insert::Prepend,
        };
        let mut or_gateway = None;
        let mut destination = None;
        let mut noted = Vec::new();
        let mut rest = words.iter();
        while let Some(&word) = rest.next() {
            if let Some(t) = RouteType::parse(word) {
                if destination.is_some() {
                    return Err(format!("route type `{word}` after the destination"));
                }
                route.route_type = t;
                continue;
            }
            match word {
                "to" => {
                    let text = value(word, &mut rest)?;
                    destination = Some(Prefix::parse(text, ipv6)?);
                }
                "src" => route.src = Some(ip(value(word, &mut rest)?, "src")?),
                "via" | "gw" => route.via = Some(gateway(word, &mut rest)?),
                "dev" | "oif" => route.dev = Some(ifname(value(word, &mut rest)?)?),
                "table" => route.table = Some(table_id(value(word, &mut rest)?)?),
                "metric" | "priority" | "preference" => {
                    let text = value(word, &mut rest)?;
                    route.metric = Some(parse_u32(text).ok_or_else(|| format!("metric `{text}`"))?);
                }
                "scope" => {
                    let text = value(word, &mut rest)?;
                    route.scope = Some(Scope::parse(text).ok_or_else(|| {
                        format!("scope `{text}` is not one of global, site, link, host, nowhere")
                    })?);
                }
                "protocol" => route.protocol = Some(protocol_id(value(word, &mut rest)?)?),
                "onlink" => route.onlink = true,
                "tos" | "dsfield" => route.tos = Some(byte(value(word, &mut rest)?, "tos")?),
                "realms" => route.realms = Some(realms(value(word, &mut rest)?)?),
                "pref" => route.pref = Some(pref(value(word, &mut rest)?)?),
                "expires" => {
                    let text = value(word, &mut rest)?;
                    route.expires =
                        Some(parse_u32(text).ok_or_else(|| format!("expires `{text}`"))?);
                }
                "features" => match value(word, &mut rest)? {
                    "ecn" => set_metric(&mut route.metrics, RTAX_FEATURES, RTAX_FEATURE_ECN, false),
                    other => noted.push(format!(
                        "route feature `{other}` is not known: left out, as keepalived 2.2.7 \
                         leaves it out (only `ecn` is)"
                    )),
                },
                "congctl" => {
                    let mut text = value(word, &mut rest)?;
                    let lock = text == "lock";
                    if lock {
                        text = value(word, &mut rest)?;
                    }
                    route.congctl = Some((text.to_string(), lock));
                }
                "or" => {
                    if or_gateway.is_some() {
                        return Err("a second `or` gateway".into());
                    }
                    or_gateway = Some(ip(value(word, &mut rest)?, "`or` gateway")?);
                }
                "nexthop" => {
                    let mut hops = vec!["nexthop"];
                    hops.extend(rest.by_ref().copied());
                    route.nexthops = nexthops(&mut hops.iter())?;
                }
                _ if metric_spec(word).is_some() => {
                    if let Some(warning) = read_metric(word, &mut rest, &mut route.metrics)? {
                        noted.push(warning);
                    }
                }
                "inet6" | "prepend" => {}
                "add" => route.insert = Insert::Exclusive,
                "append" => route.insert = Insert::Append,
                "track_group" => {
                    let group = value(word, &mut rest)?;
                    noted.push(format!("track_group {group}"));
                }
                _ if tracking_option(word) => noted.push(word.to_string()),
                _ if destination.is_none()
                    && (word.parse::<IpAddr>().is_ok()
                        || word.contains('/')
                        || word == "default") =>
                {
                    destination = Some(Prefix::parse(word, ipv6)?);
                }
                other => {
                    return Err(format!(
                        "route option `{other}` is not installed by vipd (it installs type, \
                         to, via/gw, dev, src, table, metric, scope, protocol, onlink, tos, \
                         nexthop, or, realms, pref, expires and the metrics)"
                    ))
                }
            }
        }
        route.destination = destination.ok_or("the route has no destination")?;
        let dst = route.destination.address;
        if let Some(second) = or_gateway {
            // keepalived's older form: `via A or B` is two nexthops of equal weight, each on
            // the route's `dev` (keepalived 2.2.7 sends that `dev` beside nexthops without
            // one, which the kernel refuses: vipd installs what the line says).
            let first = route.via.take().ok_or("`or` needs a `via` gateway")?;
            if !route.nexthops.is_empty() {
                return Err("`or` and `nexthop` together".into());
            }
            route.nexthops = [first, second]
                .into_iter()
                .map(|via| Nexthop {
                    via: Some(via),
                    dev: route.dev.clone(),
                    weight: 1,
                    onlink: route.onlink,
                    realms: None,
                })
                .collect();
        }
        if !route.nexthops.is_empty() {
            if route.via.is_some() {
                return Err("a route with nexthops has its gateways in them, not in `via`".into());
            }
            if route.route_type != RouteType::Unicast {
                return Err(format!(
                    "a {} route takes no nexthops",
                    route.route_type.as_str()
                ));
            }
            for via in route.nexthops.iter().filter_map(|h| h.via) {
                same_family(dst, via, "nexthop gateway")?;
            }
        }
        if dst.is_ipv6() && route.realms.is_some() {
            return Err("realms are only valid for IPv4 (as in keepalived)".into());
        }
        if dst.is_ipv4() && (route.pref.is_some() || route.expires.is_some()) {
            return Err("pref and expires are only valid for IPv6 (as in keepalived)".into());
        }
        if let Some(via) = route.via {
            same_family(dst, via, "gateway")?;
            if route.route_type != RouteType::Unicast {
                return Err(format!(
                    "a {} route takes no gateway",
                    route.route_type.as_str()
                ));
            }
        }
        if let Some(src) = route.src {
            same_family(dst, src, "src")?;
        }
        Ok((route, noted))
    }

    /// Reads the canonical text (the native format): every option must be one vipd installs.
    pub fn parse(text: &str) -> Result<Route, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        match Route::from_keepalived_words(&words)? {
            (route, noted) if noted.is_empty() => Ok(route),
            (_, noted) => Err(format!(
                "`{}`: not part of a route (a keepalived tracking option, or a value vipd would \
                 change)",
                noted.join("; ")
            )),
        }
    }

    pub fn is_ipv6(&self) -> bool {
        self.destination.is_ipv6()
    }

    /// The scope the kernel gets: the configured one, else what `ip route` picks.
    pub fn effective_scope(&self) -> Scope {
        self.scope.unwrap_or(
            if self.route_type == RouteType::Unicast
                && self.via.is_none()
                && self.nexthops.iter().all(|h| h.via.is_none())
            {
                Scope::Link
            } else {
                Scope::Global
            },
        )
    }

    pub fn effective_protocol(&self) -> u8 {
        self.protocol.unwrap_or(PROTOCOL_KEEPALIVED)
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.route_type != RouteType::Unicast {
            write!(f, "{} ", self.route_type.as_str())?;
        }
        write!(f, "{}", self.destination)?;
        if let Some(tos) = self.tos {
            write!(f, " tos {tos:#04x}")?;
        }
        if let Some(via) = self.via {
            write!(f, " via {via}")?;
        }
        if let Some(dev) = &self.dev {
            write!(f, " dev {dev}")?;
        }
        if self.onlink {
            write!(f, " onlink")?;
        }
        if let Some(src) = self.src {
            write!(f, " src {src}")?;
        }
        if let Some(table) = self.table {
            write!(f, " table {table}")?;
        }
        if let Some(metric) = self.metric {
            write!(f, " metric {metric}")?;
        }
        if let Some(scope) = self.scope {
            write!(f, " scope {}", scope.as_str())?;
        }
        if let Some(protocol) = self.protocol {
            write!(f, " protocol {}", protocol_name(protocol))?;
        }
        if let Some(realms) = self.realms {
            write!(f, " realms {}", realms_text(realms))?;
        }
        if let Some(pref) = self.pref {
            write!(f, " pref {}", pref_text(pref))?;
        }
        if let Some(expires) = self.expires {
            write!(f, " expires {expires}")?;
        }
        for metric in &self.metrics {
            let name = metric_name(metric.rtax).unwrap_or("metric");
            let lock = if metric.lock { " lock" } else { "" };
            if metric.rtax == RTAX_FEATURES {
                write!(f, " features ecn")?;
            } else {
                write!(f, " {name}{lock} {}", metric.value)?;
            }
        }
        if let Some((name, lock)) = &self.congctl {
            let lock = if *lock { " lock" } else { "" };
            write!(f, " congctl{lock} {name}")?;
        }
        match self.insert {
            Insert::Prepend => {}
            Insert::Exclusive => write!(f, " add")?,
            Insert::Append => write!(f, " append")?,
        }
        // Last: the nexthops take the rest of the line.
        for hop in &self.nexthops {
            write!(f, " nexthop")?;
            if let Some(via) = hop.via {
                write!(f, " via {via}")?;
            }
            if let Some(dev) = &hop.dev {
                write!(f, " dev {dev}")?;
            }
            if hop.weight != 1 {
                write!(f, " weight {}", hop.weight)?;
            }
            if hop.onlink {
                write!(f, " onlink")?;
            }
            if let Some(realms) = hop.realms {
                write!(f, " realms {}", realms_text(realms))?;
            }
        }
        Ok(())
    }
}

impl TryFrom<String> for Route {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        Route::parse(&text)
    }
}

impl From<Route> for String {
    fn from(route: Route) -> String {
        route.to_string()
    }
}

impl Rule {
    /// Reads one rule line as keepalived 2.2.7 does (`preference`/`priority`, not `pref`).
    pub fn from_keepalived_words(words: &[&str]) -> Result<Read<Rule>, String> {
        let ipv6_hint = words.contains(&"inet6")
            || words
                .iter()
                .any(|w| w.contains(':') && Prefix::parse(w, true).is_ok());
        let mut rule = Rule {
            ipv6: ipv6_hint,
            invert: false,
            from: None,
            to: None,
            fwmark: None,
            iif: None,
            oif: None,
            tos: None,
            action: RuleAction::Table(254),
            priority: None,
            protocol: None,
            uidrange: None,
            ipproto: None,
            sport: None,
            dport: None,
            suppress_prefixlength: None,
            suppress_ifgroup: None,
            realms: None,
        };
        let mut action = None;
        let mut set_action = |new: RuleAction| {
            if action.replace(new).is_some() {
                Err(
                    "more than one of table, goto, blackhole, unreachable, prohibit, l3mdev \
                     (keepalived 2.2.7 skips such a rule too)"
                        .to_string(),
                )
            } else {
                Ok(())
            }
        };
        let mut noted = Vec::new();
        let mut rest = words.iter();
        while let Some(&word) = rest.next() {
            match word {
                "from" => rule.from = Some(Prefix::parse(value(word, &mut rest)?, ipv6_hint)?),
                "to" => rule.to = Some(Prefix::parse(value(word, &mut rest)?, ipv6_hint)?),
                "not" => rule.invert = true,
                "table" | "lookup" => {
                    set_action(RuleAction::Table(table_id(value(word, &mut rest)?)?))?
                }
                "blackhole" => set_action(RuleAction::Blackhole)?,
                "unreachable" => set_action(RuleAction::Unreachable)?,
                "prohibit" => set_action(RuleAction::Prohibit)?,
                "l3mdev" => set_action(RuleAction::L3mdev)?,
                "goto" => {
                    let text = value(word, &mut rest)?;
                    let target = parse_u32(text).ok_or_else(|| format!("goto `{text}`"))?;
                    set_action(RuleAction::Goto(target))?
                }
                "uidrange" => {
                    let text = value(word, &mut rest)?;
                    let (uids, single) = range::<u32>(text, "uidrange")?;
                    if single {
                        return Err(format!("uidrange `{text}` is not START-END"));
                    }
                    rule.uidrange = Some(uids);
                }
                "ipproto" => rule.ipproto = Some(ip_protocol(value(word, &mut rest)?)?),
                "sport" | "dport" => {
                    let text = value(word, &mut rest)?;
                    let (ports, single) = range::<u16>(text, word)?;
                    if single {
                        noted.push(format!(
                            "`{word} {text}`: keepalived 2.2.7 refuses a single port (\"invalid \
                             {word} range\") and installs the rule without it; vipd installs it \
                             as written, as `ip rule` does"
                        ));
                    }
                    if word == "sport" {
                        rule.sport = Some(ports);
                    } else {
                        rule.dport = Some(ports);
                    }
                }
                "suppress_prefixlength" => {
                    let text = value(word, &mut rest)?;
                    rule.suppress_prefixlength = Some(
                        parse_u32(text)
                            .filter(|n| *n <= 128)
                            .ok_or_else(|| format!("suppress_prefixlength `{text}`"))?,
                    );
                }
                "suppress_ifgroup" => {
                    let text = value(word, &mut rest)?;
                    rule.suppress_ifgroup = Some(match text {
                        "default" => 0,
                        _ => parse_u32(text).ok_or_else(|| {
                            format!(
                                "suppress_ifgroup `{text}` is not a number or `default` (vipd \
                                 does not read /etc/iproute2/group)"
                            )
                        })?,
                    });
                }
                "realms" => rule.realms = Some(realms(value(word, &mut rest)?)?),
                "preference" | "priority" => {
                    let text = value(word, &mut rest)?;
                    rule.priority =
                        Some(parse_u32(text).ok_or_else(|| format!("preference `{text}`"))?);
                }
                "fwmark" => {
                    let text = value(word, &mut rest)?;
                    let (mark, mask) = match text.split_once('/') {
                        Some((m, k)) => (m, Some(k)),
                        None => (text, None),
                    };
                    let bad = || format!("fwmark `{text}` is not MARK[/MASK]");
                    let mark = parse_u32(mark).ok_or_else(bad)?;
                    let mask = match mask {
                        Some(k) => Some(parse_u32(k).ok_or_else(bad)?),
                        None => None,
                    };
                    rule.fwmark = Some((mark, mask));
                }
                "iif" | "dev" => rule.iif = Some(ifname(value(word, &mut rest)?)?),
                "oif" => rule.oif = Some(ifname(value(word, &mut rest)?)?),
                "tos" | "dsfield" => {
                    let text = value(word, &mut rest)?;
                    let tos = parse_u32(text)
                        .and_then(|n| u8::try_from(n).ok())
                        .ok_or_else(|| format!("tos `{text}` is not 0..=255"))?;
                    rule.tos = Some(tos);
                }
                "protocol" => rule.protocol = Some(protocol_id(value(word, &mut rest)?)?),
                "inet6" => {}
                "track_group" => {
                    let group = value(word, &mut rest)?;
                    noted.push(format!("track_group {group}"));
                }
                _ if tracking_option(word) => noted.push(word.to_string()),
                "pref" | "ip_proto" => {
                    return Err(format!(
                        "keepalived 2.2.7 does not know the rule option `{word}` and skips the \
                         rule (it reads `preference` and `ipproto`)"
                    ))
                }
                other => {
                    return Err(format!(
                        "rule option `{other}` is not installed by vipd (it installs from, to, \
                         not, fwmark, iif, oif, tos, table/lookup, goto, l3mdev, blackhole, \
                         unreachable, prohibit, preference/priority, protocol, uidrange, \
                         ipproto, sport, dport, suppress_prefixlength, suppress_ifgroup, realms)"
                    ))
                }
            }
        }
        rule.action = action
            .ok_or("the rule has no `table` (nor goto/l3mdev/blackhole/unreachable/prohibit)")?;
        if (rule.sport.is_some() || rule.dport.is_some())
            && !matches!(rule.ipproto, None | Some(6) | Some(17) | Some(132))
        {
            return Err("ports need ipproto tcp, udp or sctp (or none)".into());
        }
        if let (Some(from), Some(to)) = (rule.from, rule.to) {
            if from.is_ipv6() != to.is_ipv6() {
                return Err(format!("from {from} and to {to} are of different families"));
            }
        }
        if let Some(p) = rule.from.or(rule.to) {
            rule.ipv6 = p.is_ipv6();
        }
        Ok((rule, noted))
    }

    /// Reads the canonical text (the native format).
    pub fn parse(text: &str) -> Result<Rule, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        match Rule::from_keepalived_words(&words)? {
            (rule, noted) if noted.is_empty() => Ok(rule),
            (_, noted) => Err(format!(
                "`{}`: not part of a rule (a keepalived tracking option, or a value vipd would \
                 change)",
                noted.join("; ")
            )),
        }
    }

    pub fn effective_protocol(&self) -> u8 {
        self.protocol.unwrap_or(PROTOCOL_KEEPALIVED)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut words: Vec<String> = Vec::new();
        if self.invert {
            words.push("not".into());
        }
        if let Some(from) = self.from {
            words.push(format!("from {from}"));
        }
        if let Some(to) = self.to {
            words.push(format!("to {to}"));
        }
        if self.ipv6 && self.from.is_none() && self.to.is_none() {
            words.push("inet6".into());
        }
        if let Some(tos) = self.tos {
            words.push(format!("tos {tos}"));
        }
        match self.fwmark {
            Some((mark, Some(mask))) => words.push(format!("fwmark {mark:#x}/{mask:#x}")),
            Some((mark, None)) => words.push(format!("fwmark {mark:#x}")),
            None => {}
        }
        if let Some(iif) = &self.iif {
            words.push(format!("iif {iif}"));
        }
        if let Some(oif) = &self.oif {
            words.push(format!("oif {oif}"));
        }
        if let Some((start, end)) = self.uidrange {
            words.push(format!("uidrange {start}-{end}"));
        }
        if let Some(p) = self.ipproto {
            words.push(format!("ipproto {}", ip_protocol_text(p)));
        }
        for (name, ports) in [("sport", self.sport), ("dport", self.dport)] {
            if let Some((start, end)) = ports {
                words.push(format!("{name} {start}-{end}"));
            }
        }
        words.push(match self.action {
            RuleAction::Table(t) => format!("table {t}"),
            RuleAction::Blackhole => "blackhole".into(),
            RuleAction::Unreachable => "unreachable".into(),
            RuleAction::Prohibit => "prohibit".into(),
            RuleAction::Goto(n) => format!("goto {n}"),
            RuleAction::L3mdev => "l3mdev".into(),
        });
        if let Some(n) = self.suppress_prefixlength {
            words.push(format!("suppress_prefixlength {n}"));
        }
        if let Some(n) = self.suppress_ifgroup {
            words.push(format!("suppress_ifgroup {n}"));
        }
        if let Some(realms) = self.realms {
            words.push(format!("realms {}", realms_text(realms)));
        }
        if let Some(p) = self.priority {
            words.push(format!("priority {p}"));
        }
        if let Some(protocol) = self.protocol {
            words.push(format!("protocol {}", protocol_name(protocol)));
        }
        f.write_str(&words.join(" "))
    }
}

impl TryFrom<String> for Rule {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        Rule::parse(&text)
    }
}

impl From<Rule> for String {
    fn from(rule: Rule) -> String {
        rule.to_string()
    }
}

/// A route read from keepalived's words in `text` (tests here and in `net::routes`).
#[cfg(test)]
pub(crate) fn test_route(text: &str) -> Route {
    let words: Vec<&str> = text.split_whitespace().collect();
    Route::from_keepalived_words(&words).unwrap().0
}

/// A rule read from keepalived's words in `text` (tests here and in `net::routes`).
#[cfg(test)]
pub(crate) fn test_rule(text: &str) -> Rule {
    let words: Vec<&str> = text.split_whitespace().collect();
    Rule::from_keepalived_words(&words).unwrap().0
}

#[cfg(test)]
mod tests {
    use super::test_route as route;
    use super::test_rule as rule;
    use super::*;

    #[test]
    fn routes_read_as_keepalived_writes_them_and_round_trip() {
        let r = route("src 192.0.2.100 to 198.51.100.0/24 via 192.0.2.1 dev eth0");
        assert_eq!(r.destination.to_string(), "198.51.100.0/24");
        assert_eq!(r.src, Some("192.0.2.100".parse().unwrap()));
        assert_eq!(r.dev.as_deref(), Some("eth0"));
        assert_eq!(r.effective_scope(), Scope::Global);
        assert_eq!(r.effective_protocol(), PROTOCOL_KEEPALIVED);

        let r = route("default gw 192.0.2.1 table 100 metric 5");
        assert_eq!(r.destination.to_string(), "0.0.0.0/0");
        assert_eq!((r.table, r.metric), (Some(100), Some(5)));

        let r = route("default via 2001:db8::1 dev eth0 table main");
        assert_eq!(r.destination.to_string(), "::/0");
        assert_eq!(r.table, Some(254));

        // keepalived 2.2.7 also reads a family word after `via` (its `-d` dump writes one).
        let r = route("default via inet6 2001:db8:29::1 dev eth1");
        assert_eq!(r.destination.to_string(), "::/0");
        assert_eq!(r.via, Some("2001:db8:29::1".parse().unwrap()));
        let r = route("192.0.2.128/25 via inet 192.0.2.254 dev eth0");
        assert_eq!(r.via, Some("192.0.2.254".parse().unwrap()));
        let r = route("default gw inet 192.0.2.253 table 8");
        assert_eq!(r.destination.to_string(), "0.0.0.0/0");
        for mixed in [
            "default via inet 2001:db8::1 dev eth0",
            "198.51.100.128/25 via inet6 2001:db8::fe dev eth0",
            "default via inet6",
        ] {
            let words: Vec<&str> = mixed.split_whitespace().collect();
            assert!(Route::from_keepalived_words(&words).is_err(), "{mixed}");
        }

        let r = route("inet6 default dev eth0");
        assert!(r.is_ipv6());
        assert_eq!(r.effective_scope(), Scope::Link);

        let r = route("blackhole 203.0.113.0/24");
        assert_eq!(r.route_type, RouteType::Blackhole);
        assert_eq!(r.effective_scope(), Scope::Global);

        let r = route("198.51.101.0/24 dev eth0 scope link protocol static onlink mtu 1400 append");
        assert_eq!(r.protocol, Some(4));
        assert_eq!(r.insert, Insert::Append);

        for text in [
            "src 192.0.2.100 to 198.51.100.0/24 via 192.0.2.1 dev eth0",
            "default gw 192.0.2.1 table 100 metric 5",
            "unreachable 2001:db8:5::/48 table 7 protocol 99",
            "prohibit 198.51.102.0/24 add",
            "throw 198.51.103.0/24 table 100",
            "198.51.101.0/24 via 192.0.2.1 dev eth0 onlink scope global mtu 1400",
            "192.0.2.7 dev eth0",
        ] {
            let r = route(text);
            assert_eq!(Route::parse(&r.to_string()).unwrap(), r, "{text} -> {r}");
        }
    }

    #[test]
    fn route_options_vipd_does_not_install_are_named() {
        let err = |text: &str| {
            let words: Vec<&str> = text.split_whitespace().collect();
            Route::from_keepalived_words(&words).unwrap_err()
        };
        assert!(err("198.51.100.0/24 via 192.0.2.1 vrf blue").contains("`vrf`"));
        assert!(err("198.51.100.0/24 via 192.0.2.1 encap ip id 1").contains("`encap`"));
        assert!(err("198.51.100.0/24 nexthop via 192.0.2.1 encap ip").contains("`encap`"));
        assert!(err("198.51.100.0/24 nexthop via 192.0.2.1 weight 0").contains("weight"));
        assert!(err("198.51.100.0/24 nexthop via 192.0.2.1 weight 257").contains("weight"));
        assert!(err("198.51.100.0/24 via 192.0.2.1 nexthop via 192.0.2.2").contains("`via`"));
        assert!(err("198.51.100.0/24 nexthop via 2001:db8::1").contains("family"));
        assert!(err("198.51.100.0/24 via 192.0.2.1 hoplimit 300").contains("0..=255"));
        assert!(err("198.51.100.0/24 via 192.0.2.1 rtt 3usec").contains("time"));
        assert!(err("198.51.100.0/24 via 192.0.2.1 expires 5").contains("IPv6"));
        assert!(err("2001:db8::/32 via 2001:db8::1 realms 5").contains("IPv4"));
        assert!(err("198.51.100.0/24 or 192.0.2.2").contains("`via`"));
        assert!(err("198.51.100.0/24 via 192.0.2.1 proto static").contains("`proto`"));
        assert!(err("198.51.100.1/24 via 192.0.2.1").contains("host bits"));
        assert!(err("198.51.100.0/24 via 2001:db8::1").contains("family"));
        assert!(err("blackhole 198.51.100.0/24 via 192.0.2.1").contains("no gateway"));
        assert!(err("via 192.0.2.1").contains("destination"));
        assert!(err("198.51.100.0/24 table 0").contains("table"));
        assert!(err("198.51.100.0/24 table small").contains("rt_tables"));
        // Tracking options are fine in keepalived.conf, not in the native text.
        let (r, noted) = Route::from_keepalived_words(&[
            "198.51.100.0/24",
            "via",
            "192.0.2.1",
            "track_group",
            "G1",
            "no_track",
        ])
        .unwrap();
        assert_eq!(noted, ["track_group G1", "no_track"]);
        assert!(Route::parse(&format!("{r} no_track")).is_err());
    }

    /// What keepalived 2.2.7 installs, measured in a namespace (`ip -d route show` after it
    /// became master), read into the values vipd installs.
    #[test]
    fn multipath_tos_and_metrics_read_as_keepalived_installs_them() {
        let r = route(
            "198.51.100.0/24 table 181 nexthop via 192.0.2.1 dev eth0 weight 1 nexthop via \
             192.0.2.2 dev eth0 weight 3 onlink realms 7",
        );
        assert_eq!(r.via, None);
        assert_eq!(r.effective_scope(), Scope::Global);
        assert_eq!(r.nexthops.len(), 2);
        assert_eq!(
            r.nexthops[1],
            Nexthop {
                via: Some("192.0.2.2".parse().unwrap()),
                dev: Some("eth0".into()),
                weight: 3,
                onlink: true,
                realms: Some(7),
            }
        );
        // `via A or B`: two nexthops on the route's dev.
        let r = route("198.51.101.0/24 via 192.0.2.1 or 192.0.2.2 dev eth0");
        assert_eq!(r.via, None);
        let devs: Vec<_> = r.nexthops.iter().map(|h| h.dev.as_deref()).collect();
        assert_eq!(devs, [Some("eth0"), Some("eth0")]);
        assert_eq!(r.nexthops[1].via, Some("192.0.2.2".parse().unwrap()));

        let r = route("198.51.102.0/24 via 192.0.2.1 dev eth0 tos 0x10 realms 3/4");
        assert_eq!((r.tos, r.realms), (Some(0x10), Some(3 << 16 | 4)));

        // keepalived: rtt/rttvar bare numbers in kernel units, times in ms or s, anything
        // under 200 ms raised to 200 ms (kernel: rtt in 1/8 ms, rttvar in 1/4 ms).
        let metric = |text: &str, rtax: u16| {
            let words: Vec<&str> = text.split_whitespace().collect();
            let (r, noted) = Route::from_keepalived_words(&words).unwrap();
            let m = r.metrics.iter().find(|m| m.rtax == rtax).copied().unwrap();
            (m.value, m.lock, noted.len())
        };
        assert_eq!(
            metric("198.51.100.1/32 dev eth0 rtt 2000", 4),
            (2000, false, 0)
        );
        assert_eq!(
            metric("198.51.100.1/32 dev eth0 rtt 300ms", 4),
            (2400, false, 0)
        );
        assert_eq!(
            metric("198.51.100.1/32 dev eth0 rtt 1.5s", 4),
            (12000, false, 0)
        );
        assert_eq!(
            metric("198.51.100.1/32 dev eth0 rtt lock 100", 4),
            (1600, true, 1)
        );
        assert_eq!(
            metric("198.51.100.1/32 dev eth0 rttvar 3s", 5),
            (12000, false, 0)
        );
        assert_eq!(
            metric("198.51.100.1/32 dev eth0 rttvar 50", 5),
            (800, false, 1)
        );
        assert_eq!(
            metric("198.51.100.1/32 dev eth0 rto_min 300", 13),
            (300, false, 0)
        );
        assert_eq!(
            metric("198.51.100.1/32 dev eth0 mtu lock 1300", 2),
            (1300, true, 0)
        );
        assert_eq!(
            metric("198.51.100.1/32 dev eth0 ssthresh lock 20", 6),
            (20, true, 0)
        );
        assert_eq!(
            metric("198.51.100.1/32 dev eth0 features ecn", 12),
            (1, false, 0)
        );
        assert_eq!(
            metric("198.51.100.1/32 dev eth0 cwnd 5 cwnd 6", 7),
            (6, false, 0)
        );
        // An unknown feature is left out with a warning, as keepalived does.
        let (r, noted) =
            Route::from_keepalived_words(&["198.51.100.1/32", "dev", "eth0", "features", "x"])
                .unwrap();
        assert!(r.metrics.is_empty() && noted[0].contains("feature"));
        let r = route("198.51.100.1/32 dev eth0 congctl lock cubic");
        assert_eq!(r.congctl, Some(("cubic".into(), true)));
        let r = route("2001:db8:181::/48 via 2001:db8::1 pref high expires 1000");
        assert_eq!((r.pref, r.expires), (Some(1), Some(1000)));
        let r = route("default dev eth0 pref low");
        assert!(r.is_ipv6());

        // keepalived.conf(5)'s own examples (names from rt_tables files aside).
        for text in [
            "192.168.100.0/24 table 6909 nexthop via 192.168.101.1 dev wlan0 onlink weight 1 \
             nexthop via 192.168.101.2 dev wlan0 onlink weight 2",
            "192.168.200.0/24 dev p33p1.2 table 6909 tos 0x04 protocol 12 scope link priority \
             12 mtu 1000 hoplimit 100 advmss 101 rtt 102 rttvar 103 reordering 104 window 105 \
             cwnd 106 ssthresh lock 107 realms 20 rto_min 108 initcwnd 109 initrwnd 110 \
             features ecn add",
            "2001:470:69e9:1:2::4 dev p33p1.2 table 6909 tos 0x04 protocol 12 scope link \
             priority 12 mtu 1000 hoplimit 100 advmss 101 rtt 102 rttvar 103 reordering 104 \
             window 105 cwnd 106 ssthresh lock 107 rto_min 108 initcwnd 109 append initrwnd \
             110 features ecn fastopen_no_cookie 1",
            "198.51.100.0/24 via 192.0.2.1 or 192.0.2.2 dev eth0 onlink",
            "2001:db8::/32 via 2001:db8::1 dev eth0 quickack 1 congctl reno pref 0",
        ] {
            let words: Vec<&str> = text.split_whitespace().collect();
            let (r, _) =
                Route::from_keepalived_words(&words).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(Route::parse(&r.to_string()), Ok(r.clone()), "{text} -> {r}");
        }
    }

    #[test]
    fn rule_selectors_and_actions_read_as_keepalived_installs_them() {
        let r = rule("from 192.0.2.0/24 table 181 priority 100 uidrange 1000-2000");
        assert_eq!(r.uidrange, Some((1000, 2000)));
        let r = rule("from 192.0.2.0/24 table 181 priority 201 ipproto 6 sport 1-2 dport 3-4");
        assert_eq!(
            (r.ipproto, r.sport, r.dport),
            (Some(6), Some((1, 2)), Some((3, 4)))
        );
        assert_eq!(
            rule("from all ipproto ipv6-icmp table 1 priority 1").ipproto,
            Some(58)
        );
        let r = rule("from 192.0.2.0/24 priority 105 goto 110");
        assert_eq!(r.action, RuleAction::Goto(110));
        assert_eq!(rule("l3mdev priority 106").action, RuleAction::L3mdev);
        let r = rule("from all table 1 suppress_prefixlength 0 suppress_ifgroup default");
        assert_eq!(
            (r.suppress_prefixlength, r.suppress_ifgroup),
            (Some(0), Some(0))
        );
        assert_eq!(
            rule("from all table 1 realms 3/4").realms,
            Some(3 << 16 | 4)
        );
        // A single port: keepalived 2.2.7 drops it ("invalid dport range"), vipd installs
        // it and says so.
        let (r, noted) = Rule::from_keepalived_words(&[
            "from", "all", "ipproto", "tcp", "dport", "25", "table", "1",
        ])
        .unwrap();
        assert_eq!(r.dport, Some((25, 25)));
        assert!(noted[0].contains("single port"));
        for text in [
            "to 1:2:3:4:5:6:7:0/112 from 7:6:5:4:3:2::/96 table 6908 uidrange 10000-19999",
            "from 192.168.28.0/24 to 192.168.29.0/26 table 5 iif p33p1 oif wlan0 tos 22 \
             fwmark 24/12 preference 39 realms 30/20",
            "not from 192.0.2.0/24 table 181 priority 206 uidrange 5-5 dport 7-7",
            "from 192.0.2.0/24 priority 105 goto 110",
            "l3mdev priority 9 protocol 12",
            "from all ipproto udp sport 10-20 dport 20-30 table 1 priority 2",
        ] {
            let r = rule(text);
            assert_eq!(Rule::parse(&r.to_string()), Ok(r.clone()), "{text} -> {r}");
        }
    }

    #[test]
    fn rules_read_as_keepalived_writes_them_and_round_trip() {
        let r = rule("from 192.0.2.100 table 200 priority 200");
        assert_eq!(r.from.unwrap().to_string(), "192.0.2.100/32");
        assert_eq!((r.action, r.priority), (RuleAction::Table(200), Some(200)));
        assert!(!r.ipv6);
        let r = rule("from 2001:db8::/64 lookup main");
        assert!(r.ipv6);
        assert_eq!(r.action, RuleAction::Table(254));
        let r = rule("inet6 fwmark 7 table 9");
        assert!(r.ipv6);
        let r = rule("from all table 100 preference 10");
        assert_eq!(r.from.unwrap().len, 0);

        for text in [
            "from 192.0.2.100 table 200 priority 200",
            "not from 192.0.2.0/24 to 198.51.100.0/24 lookup 101 preference 11",
            "fwmark 7/0xff iif eth0 oif lo table 102 priority 12",
            "inet6 fwmark 0x10 table 9 priority 3",
            "to 2001:db8::/32 tos 16 prohibit priority 4 protocol static",
            "from 192.0.2.0/24 blackhole priority 15",
        ] {
            let r = rule(text);
            assert_eq!(Rule::parse(&r.to_string()).unwrap(), r, "{text} -> {r}");
        }
    }

    #[test]
    fn rule_options_keepalived_does_not_know_are_refused_like_it_does() {
        let err = |text: &str| {
            let words: Vec<&str> = text.split_whitespace().collect();
            Rule::from_keepalived_words(&words).unwrap_err()
        };
        // keepalived 2.2.7: "Unknown rule option pref" and skips the rule.
        assert!(err("from all table 1 pref 5").contains("`pref`"));
        assert!(err("from all table 1 ip_proto tcp").contains("`ip_proto`"));
        assert!(err("from all table 1 uidrange 5").contains("START-END"));
        assert!(err("from all table 1 goto 3").contains("more than one"));
        assert!(err("from all l3mdev goto 300").contains("more than one"));
        assert!(err("from all table 1 ipproto icmp dport 1-2").contains("ports"));
        assert!(err("from all table 1 sport 9-3").contains("sport"));
        assert!(err("from all table 1 ipproto nosuch").contains("ipproto"));
        assert!(err("from 192.0.2.1 priority 3").contains("no `table`"));
        assert!(err("from 192.0.2.1 to 2001:db8::1 table 3").contains("families"));
    }

    #[test]
    fn any_word_sequence_parses_or_is_refused_and_what_parses_round_trips() {
        // A small deterministic generator over the words the grammar knows, and some it
        // does not: nothing panics, and every route/rule read back from its text is equal.
        let vocabulary = [
            "to",
            "via",
            "gw",
            "dev",
            "eth0",
            "src",
            "table",
            "100",
            "main",
            "metric",
            "5",
            "scope",
            "link",
            "protocol",
            "static",
            "onlink",
            "mtu",
            "1400",
            "blackhole",
            "unreachable",
            "throw",
            "default",
            "inet6",
            "add",
            "append",
            "192.0.2.0/24",
            "192.0.2.1",
            "2001:db8::/32",
            "2001:db8::1",
            "from",
            "all",
            "not",
            "fwmark",
            "7/0xff",
            "iif",
            "oif",
            "lookup",
            "preference",
            "priority",
            "tos",
            "16",
            "no_track",
            "track_group",
            "G",
            "nexthop",
            "weight",
            "3",
            "or",
            "tos",
            "rtt",
            "lock",
            "300ms",
            "features",
            "ecn",
            "congctl",
            "realms",
            "3/4",
            "pref",
            "high",
            "expires",
            "uidrange",
            "1-2",
            "ipproto",
            "tcp",
            "sport",
            "dport",
            "goto",
            "l3mdev",
            "suppress_prefixlength",
            "bogus",
            "/",
            "0x",
            "",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let (mut routes, mut rules) = (0, 0);
        for _ in 0..20_000 {
            let len = (next() % 9) as usize;
            let words: Vec<&str> = (0..len)
                .map(|_| vocabulary[(next() % vocabulary.len() as u64) as usize])
                .collect();
            if let Ok((route, _)) = Route::from_keepalived_words(&words) {
                routes += 1;
                assert_eq!(Route::parse(&route.to_string()), Ok(route), "{words:?}");
            }
            if let Ok((rule, _)) = Rule::from_keepalived_words(&words) {
                rules += 1;
                assert_eq!(Rule::parse(&rule.to_string()), Ok(rule), "{words:?}");
            }
        }
        assert!(
            routes > 100 && rules > 100,
            "{routes} routes, {rules} rules parsed"
        );
    }
}
