//! Adding and deleting routes and policy rules over rtnetlink, as `ip route prepend|add|
//! append` / `ip route del` and `ip rule add` / `ip rule del` do.
//!
//! A delete carries everything the add did (table, type, scope, protocol, gateway, device,
//! metric, source), so the kernel removes exactly the route or rule vipd added and never
//! another one to the same destination.

use std::io;
use std::net::IpAddr;

use neli::consts::nl::NlmF;
use neli::consts::rtnl::{
    FrAct, Frattr, Frf, RtAddrFamily, RtScope, RtTable, Rta, Rtm, RtmF, Rtn, Rtprot,
};
use neli::rtnl::{Fibmsg, FibmsgBuilder, Rtattr, RtattrBuilder, Rtmsg, RtmsgBuilder};
use neli::types::{Buffer, RtBuffer};

use super::netlink::{neli_error, Netlink};
use crate::config::{Insert, Route, RouteType, Rule, RuleAction, Scope};

/// `RTAX_LOCK`: the bit mask of locked metrics, inside `RTA_METRICS`.
const RTAX_LOCK: u16 = 1;
/// `RTAX_CC_ALGO`: the congestion control name, inside `RTA_METRICS`.
const RTAX_CC_ALGO: u16 = 16;
/// `RTNH_F_ONLINK` (linux/rtnetlink.h): the gateway is on the link even without a prefix
/// saying so.
const RTNH_F_ONLINK: u32 = 4;
/// `RTA_GATEWAY` and `RTA_FLOW` inside a nexthop of `RTA_MULTIPATH`.
const RTA_GATEWAY: u16 = 5;
const RTA_FLOW: u16 = 11;

/// Interface indexes of a route's `dev` and of each of its nexthops' `dev`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteLinks {
    pub oif: Option<u32>,
    pub nexthops: Vec<Option<u32>>,
}

/// One netlink attribute (header, payload, padding to 4 bytes) inside a nested one.
fn nested(out: &mut Vec<u8>, ty: u16, payload: &[u8]) {
    let len = 4 + payload.len();
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&ty.to_ne_bytes());
    out.extend_from_slice(payload);
    out.resize(out.len() + (4 - len % 4) % 4, 0);
}

/// The `RTA_METRICS` payload, or `None` without metrics.
fn metrics_payload(route: &Route) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut lock = 0u32;
    for metric in &route.metrics {
        nested(&mut out, metric.rtax, &metric.value.to_ne_bytes());
        if metric.lock {
            lock |= 1u32.checked_shl(u32::from(metric.rtax)).unwrap_or(0);
        }
    }
    if let Some((name, locked)) = &route.congctl {
        nested(&mut out, RTAX_CC_ALGO, name.as_bytes());
        if *locked {
            lock |= 1 << RTAX_CC_ALGO;
        }
    }
    if lock != 0 {
        nested(&mut out, RTAX_LOCK, &lock.to_ne_bytes());
    }
    (!out.is_empty()).then_some(out)
}

/// The `RTA_MULTIPATH` payload: one `struct rtnexthop` (length, flags, hops = weight - 1,
/// ifindex) and its gateway and realms per nexthop.
fn multipath_payload(route: &Route, links: &RouteLinks) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    for (i, hop) in route.nexthops.iter().enumerate() {
        let mut attrs = Vec::new();
        if let Some(via) = hop.via {
            nested(&mut attrs, RTA_GATEWAY, &ip_bytes(via));
        }
        if let Some(realms) = hop.realms {
            nested(&mut attrs, RTA_FLOW, &realms.to_ne_bytes());
        }
        let ifindex = match (&hop.dev, links.nexthops.get(i).copied().flatten()) {
            (None, _) => 0,
            (Some(_), Some(index)) => index,
            (Some(dev), None) => {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("no index for nexthop dev {dev}"),
                ))
            }
        };
        let len = 8 + attrs.len();
        out.extend_from_slice(&(len as u16).to_ne_bytes());
        out.push(if hop.onlink { RTNH_F_ONLINK as u8 } else { 0 });
        out.push(u8::try_from(hop.weight.saturating_sub(1)).unwrap_or(u8::MAX));
        out.extend_from_slice(&ifindex.to_ne_bytes());
        out.extend_from_slice(&attrs);
    }
    Ok(out)
}

fn family(ipv6: bool) -> RtAddrFamily {
    if ipv6 {
        RtAddrFamily::Inet6
    } else {
        RtAddrFamily::Inet
    }
}

fn ip_bytes(addr: IpAddr) -> Vec<u8> {
    match addr {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

fn attr<T>(ty: T, payload: Vec<u8>, context: &str) -> io::Result<Rtattr<T, Buffer>>
where
    T: neli::Size + neli::TypeSize + neli::ToBytes + std::fmt::Debug,
{
    RtattrBuilder::default()
        .rta_type(ty)
        .rta_payload(Buffer::from(payload))
        .build()
        .map_err(|e| neli_error(context, e))
}

fn scope_id(scope: Scope) -> u8 {
    match scope {
        Scope::Global => libc::RT_SCOPE_UNIVERSE,
        Scope::Site => libc::RT_SCOPE_SITE,
        Scope::Link => libc::RT_SCOPE_LINK,
        Scope::Host => libc::RT_SCOPE_HOST,
        Scope::Nowhere => libc::RT_SCOPE_NOWHERE,
    }
}

fn route_type_id(route_type: RouteType) -> u8 {
    match route_type {
        RouteType::Unicast => libc::RTN_UNICAST,
        RouteType::Blackhole => libc::RTN_BLACKHOLE,
        RouteType::Unreachable => libc::RTN_UNREACHABLE,
        RouteType::Prohibit => libc::RTN_PROHIBIT,
        RouteType::Throw => libc::RTN_THROW,
    }
}

/// The table id in the 8-bit header field: ids above 255 go in `RTA_TABLE` / `FRA_TABLE`
/// only, with the header's field unspecified, as iproute2 does.
fn header_table(table: u32) -> RtTable {
    RtTable::from(u8::try_from(table).unwrap_or(libc::RT_TABLE_UNSPEC))
}

/// `RTA_PREF` and `RTA_EXPIRES` (linux/rtnetlink.h): neli names them only when built against
/// glibc, and the shipped vipd is static musl.
const RTA_PREF: Rta = Rta::UnrecognizedConst(20);
const RTA_EXPIRES: Rta = Rta::UnrecognizedConst(23);

/// The message that adds or deletes `route`; `links` has the indexes of its `dev`s.
fn route_message(route: &Route, links: &RouteLinks) -> io::Result<Rtmsg> {
    let oif = links.oif;
    let context = "route message";
    let table = route.table.unwrap_or(u32::from(libc::RT_TABLE_MAIN));
    let mut attrs: RtBuffer<Rta, Buffer> = RtBuffer::new();
    if route.destination.len > 0 {
        attrs.push(attr(
            Rta::Dst,
            ip_bytes(route.destination.address),
            context,
        )?);
    }
    if let Some(via) = route.via {
        attrs.push(attr(Rta::Gateway, ip_bytes(via), context)?);
    }
    if let Some(oif) = oif {
        attrs.push(attr(Rta::Oif, oif.to_ne_bytes().to_vec(), context)?);
    }
    if let Some(src) = route.src {
        attrs.push(attr(Rta::Prefsrc, ip_bytes(src), context)?);
    }
    if let Some(metric) = route.metric {
        attrs.push(attr(Rta::Priority, metric.to_ne_bytes().to_vec(), context)?);
    }
    attrs.push(attr(Rta::Table, table.to_ne_bytes().to_vec(), context)?);
    if let Some(metrics) = metrics_payload(route) {
        attrs.push(attr(Rta::Metrics, metrics, context)?);
    }
    if !route.nexthops.is_empty() {
        attrs.push(attr(
            Rta::Multipath,
            multipath_payload(route, links)?,
            context,
        )?);
    }
    if let Some(realms) = route.realms {
        attrs.push(attr(Rta::Flow, realms.to_ne_bytes().to_vec(), context)?);
    }
    if let Some(pref) = route.pref {
        attrs.push(attr(RTA_PREF, vec![pref], context)?);
    }
    if let Some(expires) = route.expires {
        attrs.push(attr(RTA_EXPIRES, expires.to_ne_bytes().to_vec(), context)?);
    }
    let flags = if route.onlink {
        RtmF::from_bits_retain(RTNH_F_ONLINK)
    } else {
        RtmF::empty()
    };
    RtmsgBuilder::default()
        .rtm_family(family(route.is_ipv6()))
        .rtm_dst_len(route.destination.len)
        .rtm_src_len(0)
        .rtm_tos(route.tos.unwrap_or(0))
        .rtm_table(header_table(table))
        .rtm_protocol(Rtprot::from(route.effective_protocol()))
        .rtm_scope(RtScope::from(scope_id(route.effective_scope())))
        .rtm_type(Rtn::from(route_type_id(route.route_type)))
        .rtm_flags(flags)
        .rtattrs(attrs)
        .build()
        .map_err(|e| neli_error(context, e))
}

fn rule_message(rule: &Rule) -> io::Result<Fibmsg> {
    let context = "rule message";
    let mut attrs: RtBuffer<Frattr, Buffer> = RtBuffer::new();
    if let Some(from) = rule.from.filter(|p| p.len > 0) {
        attrs.push(attr(Frattr::Src, ip_bytes(from.address), context)?);
    }
    if let Some(to) = rule.to.filter(|p| p.len > 0) {
        attrs.push(attr(Frattr::Dst, ip_bytes(to.address), context)?);
    }
    if let Some(priority) = rule.priority {
        attrs.push(attr(
            Frattr::Priority,
            priority.to_ne_bytes().to_vec(),
            context,
        )?);
    }
    if let Some((mark, mask)) = rule.fwmark {
        attrs.push(attr(Frattr::Fwmark, mark.to_ne_bytes().to_vec(), context)?);
        if let Some(mask) = mask {
            attrs.push(attr(Frattr::Fwmask, mask.to_ne_bytes().to_vec(), context)?);
        }
    }
    let name = |n: &str| {
        let mut bytes = n.as_bytes().to_vec();
        bytes.push(0);
        bytes
    };
    if let Some(iif) = &rule.iif {
        attrs.push(attr(Frattr::Iifname, name(iif), context)?);
    }
    if let Some(oif) = &rule.oif {
        attrs.push(attr(Frattr::Oifname, name(oif), context)?);
    }
    attrs.push(attr(
        Frattr::Protocol,
        vec![rule.effective_protocol()],
        context,
    )?);
    if let Some((start, end)) = rule.uidrange {
        let mut range = start.to_ne_bytes().to_vec();
        range.extend_from_slice(&end.to_ne_bytes());
        attrs.push(attr(Frattr::UidRange, range, context)?);
    }
    if let Some(p) = rule.ipproto {
        attrs.push(attr(Frattr::IpProto, vec![p], context)?);
    }
    for (ty, ports) in [
        (Frattr::SportRange, rule.sport),
        (Frattr::DportRange, rule.dport),
    ] {
        if let Some((start, end)) = ports {
            let mut range = start.to_ne_bytes().to_vec();
            range.extend_from_slice(&end.to_ne_bytes());
            attrs.push(attr(ty, range, context)?);
        }
    }
    if let Some(n) = rule.suppress_prefixlength {
        attrs.push(attr(
            Frattr::SuppressPrefixlen,
            n.to_ne_bytes().to_vec(),
            context,
        )?);
    }
    if let Some(n) = rule.suppress_ifgroup {
        attrs.push(attr(
            Frattr::SuppressIfgroup,
            n.to_ne_bytes().to_vec(),
            context,
        )?);
    }
    if let Some(realms) = rule.realms {
        attrs.push(attr(Frattr::Flow, realms.to_ne_bytes().to_vec(), context)?);
    }
    let (action, table) = match rule.action {
        RuleAction::Table(t) => {
            attrs.push(attr(Frattr::Table, t.to_ne_bytes().to_vec(), context)?);
            (FrAct::FrActToTbl, header_table(t))
        }
        RuleAction::Goto(target) => {
            attrs.push(attr(Frattr::Goto, target.to_ne_bytes().to_vec(), context)?);
            (FrAct::FrActGoto, RtTable::Unspec)
        }
        RuleAction::L3mdev => {
            attrs.push(attr(Frattr::L3mdev, vec![1], context)?);
            (FrAct::FrActToTbl, RtTable::Unspec)
        }
        RuleAction::Blackhole => (FrAct::FrActBlackhole, RtTable::Unspec),
        RuleAction::Unreachable => (FrAct::FrActUnreachable, RtTable::Unspec),
        RuleAction::Prohibit => (FrAct::FrActProhibit, RtTable::Unspec),
    };
    let flags = if rule.invert {
        Frf::INVERT
    } else {
        Frf::empty()
    };
    FibmsgBuilder::default()
        .fib_family(family(rule.ipv6))
        .fib_dst_len(rule.to.map_or(0, |p| p.len))
        .fib_src_len(rule.from.map_or(0, |p| p.len))
        .fib_tos(rule.tos.unwrap_or(0))
        .fib_table(table)
        .fib_action(action)
        .fib_flags(flags)
        .rtattrs(attrs)
        .build()
        .map_err(|e| neli_error(context, e))
}

/// "Not there" answers to a delete: the route or rule is gone already.
fn is_absent(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ESRCH) | Some(libc::ENOENT) | Some(libc::EADDRNOTAVAIL)
    )
}

impl Netlink {
    /// Adds a route (its `dev`s resolved to `links`): `Ok(true)` when added, `Ok(false)` when the
    /// kernel already has this very route (someone else's, or ours from before).
    pub fn add_route(&self, route: &Route, links: &RouteLinks) -> io::Result<bool> {
        let msg = route_message(route, links)?;
        let flags = match route.insert {
            Insert::Prepend => NlmF::CREATE,
            Insert::Exclusive => NlmF::CREATE | NlmF::EXCL,
            Insert::Append => NlmF::CREATE | NlmF::APPEND,
        };
        match self.request::<_, Rtmsg>(Rtm::Newroute, flags, msg, "add route") {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(false),
            other => other.map(|_| true),
        }
    }

    /// Deletes exactly this route: `Ok(false)` when it was not there.
    pub fn delete_route(&self, route: &Route, links: &RouteLinks) -> io::Result<bool> {
        let mut route = route.clone();
        // Metrics do not identify a route.
        route.metrics.clear();
        route.congctl = None;
        let msg = route_message(&route, links)?;
        match self.request::<_, Rtmsg>(Rtm::Delroute, NlmF::empty(), msg, "delete route") {
            Err(e) if is_absent(&e) => Ok(false),
            other => other.map(|_| true),
        }
    }

    /// Adds a rule: `Ok(false)` when the kernel already has this very rule.
    pub fn add_rule(&self, rule: &Rule) -> io::Result<bool> {
        let msg = rule_message(rule)?;
        match self.request::<_, Fibmsg>(Rtm::Newrule, NlmF::CREATE | NlmF::EXCL, msg, "add rule") {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(false),
            other => other.map(|_| true),
        }
    }

    /// Deletes exactly this rule: `Ok(false)` when it was not there.
    pub fn delete_rule(&self, rule: &Rule) -> io::Result<bool> {
        let msg = rule_message(rule)?;
        match self.request::<_, Fibmsg>(Rtm::Delrule, NlmF::empty(), msg, "delete rule") {
            Err(e) if is_absent(&e) => Ok(false),
            other => other.map(|_| true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{test_route as route, test_rule as rule};

    fn route_attr(msg: &Rtmsg, ty: Rta) -> Option<Vec<u8>> {
        (msg.rtattrs().iter())
            .find(|a| *a.rta_type() == ty)
            .map(|a| a.rta_payload().as_ref().to_vec())
    }

    fn rule_attr(msg: &Fibmsg, ty: Frattr) -> Option<Vec<u8>> {
        (msg.rtattrs().iter())
            .find(|a| *a.rta_type() == ty)
            .map(|a| a.rta_payload().as_ref().to_vec())
    }

    /// Splits nested attributes into (type, payload), checking lengths and padding.
    fn split(mut bytes: &[u8]) -> Vec<(u16, Vec<u8>)> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            let len = usize::from(u16::from_ne_bytes([bytes[0], bytes[1]]));
            let ty = u16::from_ne_bytes([bytes[2], bytes[3]]);
            out.push((ty, bytes[4..len].to_vec()));
            bytes = &bytes[len.div_ceil(4) * 4..];
        }
        out
    }

    #[test]
    fn multipath_goes_out_as_rtnexthops_with_weights_flags_and_gateways() {
        let r = route(
            "198.51.100.0/24 tos 0x10 table 181 nexthop via 192.0.2.1 dev eth0 weight 1 \
             nexthop via 192.0.2.2 dev eth1 weight 256 onlink realms 7",
        );
        let links = RouteLinks {
            oif: None,
            nexthops: vec![Some(7), Some(9)],
        };
        let msg = route_message(&r, &links).unwrap();
        assert_eq!(*msg.rtm_tos(), 0x10);
        assert_eq!(u8::from(*msg.rtm_scope()), libc::RT_SCOPE_UNIVERSE);
        assert_eq!(route_attr(&msg, Rta::Gateway), None);
        let mp = route_attr(&msg, Rta::Multipath).unwrap();
        // First: len 16 (8 + RTA_GATEWAY of 8), flags 0, hops 0, ifindex 7.
        assert_eq!(&mp[0..2], &16u16.to_ne_bytes());
        assert_eq!(&mp[2..4], &[0, 0]);
        assert_eq!(&mp[4..8], &7i32.to_ne_bytes());
        assert_eq!(split(&mp[8..16]), [(RTA_GATEWAY, vec![192, 0, 2, 1])]);
        // Second: + RTA_FLOW, onlink, hops 255 (weight 256), ifindex 9.
        assert_eq!(&mp[16..18], &24u16.to_ne_bytes());
        assert_eq!(&mp[18..20], &[RTNH_F_ONLINK as u8, 255]);
        assert_eq!(&mp[20..24], &9i32.to_ne_bytes());
        assert_eq!(
            split(&mp[24..]),
            [
                (RTA_GATEWAY, vec![192, 0, 2, 2]),
                (RTA_FLOW, 7u32.to_ne_bytes().to_vec())
            ]
        );
        // A nexthop dev that did not resolve is an error, not a nexthop without a device.
        let partial = RouteLinks {
            oif: None,
            nexthops: vec![Some(7)],
        };
        assert!(route_message(&r, &partial).is_err());
    }

    #[test]
    fn metrics_go_out_nested_with_their_lock_mask_and_the_congestion_control_name() {
        let r = route(
            "198.51.100.0/24 via 192.0.2.1 realms 3/4 mtu lock 1300 rtt 2000 features ecn \
             congctl lock cubic",
        );
        let msg = route_message(&r, &RouteLinks::default()).unwrap();
        assert_eq!(
            route_attr(&msg, Rta::Flow),
            Some((3u32 << 16 | 4).to_ne_bytes().to_vec())
        );
        let metrics = split(&route_attr(&msg, Rta::Metrics).unwrap());
        let lock = 1u32 << 2 | 1 << RTAX_CC_ALGO;
        assert_eq!(
            metrics,
            [
                (2, 1300u32.to_ne_bytes().to_vec()),
                (4, 2000u32.to_ne_bytes().to_vec()),
                (12, 1u32.to_ne_bytes().to_vec()),
                (RTAX_CC_ALGO, b"cubic".to_vec()),
                (RTAX_LOCK, lock.to_ne_bytes().to_vec()),
            ]
        );
        let r = route("2001:db8::/32 via 2001:db8::1 pref high expires 1000");
        let msg = route_message(&r, &RouteLinks::default()).unwrap();
        assert_eq!(route_attr(&msg, RTA_PREF), Some(vec![1]));
        assert_eq!(
            route_attr(&msg, RTA_EXPIRES),
            Some(1000u32.to_ne_bytes().to_vec())
        );
        assert_eq!(route_attr(&msg, Rta::Metrics), None);
    }

    #[test]
    fn rule_selectors_and_actions_go_out_as_fib_rule_attributes() {
        let r = rule(
            "not from 192.0.2.0/24 uidrange 5-9 ipproto udp sport 1000-2000 dport 53 table 181 \
             suppress_prefixlength 0 suppress_ifgroup 5 realms 3/4 priority 7",
        );
        let msg = rule_message(&r).unwrap();
        let pair = |a: u32, b: u32| [a.to_ne_bytes(), b.to_ne_bytes()].concat();
        let ports = |a: u16, b: u16| [a.to_ne_bytes(), b.to_ne_bytes()].concat();
        assert_eq!(rule_attr(&msg, Frattr::UidRange), Some(pair(5, 9)));
        assert_eq!(rule_attr(&msg, Frattr::IpProto), Some(vec![17]));
        assert_eq!(rule_attr(&msg, Frattr::SportRange), Some(ports(1000, 2000)));
        assert_eq!(rule_attr(&msg, Frattr::DportRange), Some(ports(53, 53)));
        assert_eq!(
            rule_attr(&msg, Frattr::SuppressPrefixlen),
            Some(0u32.to_ne_bytes().to_vec())
        );
        assert_eq!(
            rule_attr(&msg, Frattr::SuppressIfgroup),
            Some(5u32.to_ne_bytes().to_vec())
        );
        assert_eq!(
            rule_attr(&msg, Frattr::Flow),
            Some((3u32 << 16 | 4).to_ne_bytes().to_vec())
        );
        assert!(msg.fib_flags().contains(Frf::INVERT));

        let goto = rule_message(&rule("from all goto 110 priority 5")).unwrap();
        assert_eq!(*goto.fib_action(), FrAct::FrActGoto);
        assert_eq!(
            rule_attr(&goto, Frattr::Goto),
            Some(110u32.to_ne_bytes().to_vec())
        );
        assert_eq!(rule_attr(&goto, Frattr::Table), None);
        let l3mdev = rule_message(&rule("l3mdev priority 6")).unwrap();
        assert_eq!(*l3mdev.fib_action(), FrAct::FrActToTbl);
        assert_eq!(rule_attr(&l3mdev, Frattr::L3mdev), Some(vec![1]));
        assert_eq!(rule_attr(&l3mdev, Frattr::Table), None);
    }
}
