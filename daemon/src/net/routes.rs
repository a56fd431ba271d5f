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

/// `RTAX_MTU`, the route metric carried inside `RTA_METRICS`.
const RTAX_MTU: u16 = 2;
/// `RTNH_F_ONLINK` (linux/rtnetlink.h): the gateway is on the link even without a prefix
/// saying so.
const RTNH_F_ONLINK: u32 = 4;

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

/// The message that adds or deletes `route`; `oif` is the index of its `dev`.
fn route_message(route: &Route, oif: Option<u32>) -> io::Result<Rtmsg> {
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
    if let Some(mtu) = route.mtu {
        // One nested attribute: length 8, type RTAX_MTU, the value.
        let mut nested = Vec::with_capacity(8);
        nested.extend_from_slice(&8u16.to_ne_bytes());
        nested.extend_from_slice(&RTAX_MTU.to_ne_bytes());
        nested.extend_from_slice(&mtu.to_ne_bytes());
        attrs.push(attr(Rta::Metrics, nested, context)?);
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
        .rtm_tos(0)
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
    let (action, table) = match rule.action {
        RuleAction::Table(t) => {
            attrs.push(attr(Frattr::Table, t.to_ne_bytes().to_vec(), context)?);
            (FrAct::FrActToTbl, header_table(t))
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
    /// Adds a route (`dev` resolved to `oif`): `Ok(true)` when added, `Ok(false)` when the
    /// kernel already has this very route (someone else's, or ours from before).
    pub fn add_route(&self, route: &Route, oif: Option<u32>) -> io::Result<bool> {
        let msg = route_message(route, oif)?;
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
    pub fn delete_route(&self, route: &Route, oif: Option<u32>) -> io::Result<bool> {
        let mut route = route.clone();
        // Metrics do not identify a route.
        route.mtu = None;
        let msg = route_message(&route, oif)?;
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
