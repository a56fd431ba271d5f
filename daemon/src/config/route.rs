//! Routes and policy rules, written as keepalived writes them (`virtual_routes`,
//! `static_routes`, `virtual_rules`, `static_rules`), which is `ip route add` / `ip rule add`
//! without the shortened option names.
//!
//! vipd installs the options that decide where packets go (destination, type, gateway,
//! device, source, table, metric, scope, protocol, onlink, mtu; rule selectors and table).
//! A keepalived option it does not install is not dropped silently: the keepalived reader
//! skips the whole route or rule with a warning naming the option, because a route without,
//! say, its `tos` or `nexthop` list would send traffic elsewhere than the file says. The
//! native format refuses such options.
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
    pub mtu: Option<u32>,
    pub insert: Insert,
}

/// What a rule does with the packets it selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RuleAction {
    /// Look the packet up in this routing table (`table N` / `lookup N`).
    Table(u32),
    Blackhole,
    Unreachable,
    Prohibit,
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

impl Route {
    /// Reads one route line as keepalived 2.2.7 does. An option vipd does not install is an
    /// error naming it (the reader then skips the route with a warning).
    pub fn from_keepalived_words(words: &[&str]) -> Result<Read<Route>, String> {
        // The family decides what `default` means: a later IPv6 gateway or `inet6` says so.
        let ipv6 = words.contains(&"inet6")
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
            mtu: None,
            insert: Insert::Prepend,
        };
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
                "mtu" => {
                    let text = value(word, &mut rest)?;
                    route.mtu = Some(
                        parse_u32(text)
                            .filter(|n| *n > 0)
                            .ok_or_else(|| format!("mtu `{text}`"))?,
                    );
                }
                "onlink" => route.onlink = true,
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
                         to, via/gw, dev, src, table, metric, scope, protocol, onlink, mtu)"
                    ))
                }
            }
        }
        route.destination = destination.ok_or("the route has no destination")?;
        let dst = route.destination.address;
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
                "`{}` is a keepalived tracking option, not part of a route",
                noted.join(" ")
            )),
        }
    }

    pub fn is_ipv6(&self) -> bool {
        self.destination.is_ipv6()
    }

    /// The scope the kernel gets: the configured one, else what `ip route` picks.
    pub fn effective_scope(&self) -> Scope {
        self.scope.unwrap_or(
            if self.route_type == RouteType::Unicast && self.via.is_none() {
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
        if let Some(mtu) = self.mtu {
            write!(f, " mtu {mtu}")?;
        }
        match self.insert {
            Insert::Prepend => {}
            Insert::Exclusive => write!(f, " add")?,
            Insert::Append => write!(f, " append")?,
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
        };
        let mut action = None;
        let mut noted = Vec::new();
        let mut rest = words.iter();
        while let Some(&word) = rest.next() {
            match word {
                "from" => rule.from = Some(Prefix::parse(value(word, &mut rest)?, ipv6_hint)?),
                "to" => rule.to = Some(Prefix::parse(value(word, &mut rest)?, ipv6_hint)?),
                "not" => rule.invert = true,
                "table" | "lookup" => {
                    action = Some(RuleAction::Table(table_id(value(word, &mut rest)?)?))
                }
                "blackhole" => action = Some(RuleAction::Blackhole),
                "unreachable" => action = Some(RuleAction::Unreachable),
                "prohibit" => action = Some(RuleAction::Prohibit),
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
                other => {
                    return Err(format!(
                        "rule option `{other}` is not installed by vipd (it installs from, to, \
                         not, fwmark, iif, oif, tos, table/lookup, blackhole, unreachable, \
                         prohibit, preference/priority, protocol)"
                    ))
                }
            }
        }
        rule.action =
            action.ok_or("the rule has no `table` (nor blackhole/unreachable/prohibit)")?;
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
                "`{}` is a keepalived tracking option, not part of a rule",
                noted.join(" ")
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
        words.push(match self.action {
            RuleAction::Table(t) => format!("table {t}"),
            RuleAction::Blackhole => "blackhole".into(),
            RuleAction::Unreachable => "unreachable".into(),
            RuleAction::Prohibit => "prohibit".into(),
        });
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

#[cfg(test)]
mod tests {
    use super::*;

    fn route(text: &str) -> Route {
        let words: Vec<&str> = text.split_whitespace().collect();
        Route::from_keepalived_words(&words).unwrap().0
    }

    fn rule(text: &str) -> Rule {
        let words: Vec<&str> = text.split_whitespace().collect();
        Rule::from_keepalived_words(&words).unwrap().0
    }

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
        assert!(err("198.51.100.0/24 via 192.0.2.1 tos 4").contains("`tos`"));
        assert!(err("198.51.100.0/24 via 192.0.2.1 or 192.0.2.2").contains("`or`"));
        assert!(err("198.51.100.0/24 nexthop via 192.0.2.1").contains("`nexthop`"));
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
        assert!(err("from all table 1 uidrange 1-2").contains("`uidrange`"));
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
