//! Routes and rules held by a master (keepalived `virtual_routes` / `virtual_rules`) and
//! those held while vipd runs (`static_routes` / `static_rules`, with `static_ipaddress`).
//!
//! As with VIPs, each is recorded in [`VipState`] *before* it is added and forgotten only
//! after it is deleted, so vipd deletes only what it added (a route someone else already
//! had stays) and a later run removes what a killed one left behind.

use tracing::{error, warn};

use super::addresses::{add_address, add_recorded, remove_address, remove_recorded, Naming};
use super::router::Router;
use super::tasks::spawn_monitor;
use super::vip_state::VipState;
use super::Daemon;
use crate::config::{self, Route, Rule};
use crate::net::monitor::Monitor;
use crate::net::netlink::Netlink;
use crate::net::routes::RouteLinks;
use crate::vrrp::instance::State;

/// The index of one `dev`; `Err` with a message when the interface is missing.
fn index(netlink: &Netlink, dev: Option<&String>) -> Result<Option<u32>, String> {
    let Some(dev) = dev else {
        return Ok(None);
    };
    match netlink.link_index(dev) {
        Ok(Some(index)) => Ok(Some(index)),
        Ok(None) => Err(format!("no interface {dev}")),
        Err(e) => Err(format!("{dev}: {e}")),
    }
}

/// The indexes of the route's `dev` and its nexthops' ones.
pub(super) fn route_links(netlink: &Netlink, route: &Route) -> Result<RouteLinks, String> {
    Ok(RouteLinks {
        oif: index(netlink, route.dev.as_ref())?,
        nexthops: (route.nexthops.iter())
            .map(|hop| index(netlink, hop.dev.as_ref()))
            .collect::<Result<_, _>>()?,
    })
}

/// Adds the routes, then the rules (a rule may point at a table the routes fill).
/// Failures are logged; the others still go in.
pub(super) fn add_routing(
    netlink: &Netlink,
    state: &mut VipState,
    owner: &str,
    routes: &[Route],
    rules: &[Rule],
) {
    for route in routes {
        add_route(netlink, state, owner, route);
    }
    for rule in rules {
        add_rule(netlink, state, owner, rule);
    }
}

/// Puts back those of a master's routes and rules that vipd added and that are gone
/// (deleted by hand, flushed with a link), logging each.
fn restore_routing(
    netlink: &Netlink,
    state: &mut VipState,
    owner: &str,
    routes: &[Route],
    rules: &[Rule],
) {
    // A route with `expires` is meant to go when it expires: it is not put back.
    for route in routes.iter().filter(|r| r.expires.is_none()) {
        let ours = state.contains(route);
        if add_route(netlink, state, owner, route) && ours {
            warn!("{owner}: route {route} was removed while MASTER: restored it");
        }
    }
    for rule in rules {
        let ours = state.contains(rule);
        if add_rule(netlink, state, owner, rule) && ours {
            warn!("{owner}: rule {rule} was removed while MASTER: restored it");
        }
    }
}

/// Deletes the rules, then the routes, that vipd added.
pub(super) fn remove_routing(
    netlink: &Netlink,
    state: &mut VipState,
    owner: &str,
    routes: &[Route],
    rules: &[Rule],
) {
    for rule in rules {
        remove_rule(netlink, state, owner, rule);
    }
    for route in routes {
        remove_route(netlink, state, owner, route);
    }
}

/// Adds `route` as recorded by vipd; true when the kernel did not have it.
fn add_route(netlink: &Netlink, state: &mut VipState, owner: &str, route: &Route) -> bool {
    let links = match route_links(netlink, route) {
        Ok(links) => links,
        Err(e) => {
            error!("{owner}: cannot add route {route}: {e}");
            return false;
        }
    };
    let naming = naming(owner, "route", route);
    add_recorded(state, route, &naming, || netlink.add_route(route, &links))
}

fn remove_route(netlink: &Netlink, state: &mut VipState, owner: &str, route: &Route) {
    let naming = naming(owner, "route", route);
    remove_recorded(state, route, &naming, || {
        match route_links(netlink, route) {
            Ok(links) => netlink.delete_route(route, &links).map(drop),
            // An interface that is gone took its routes with it.
            Err(_) => Ok(()),
        }
    });
}

/// Adds `rule` as recorded by vipd; true when the kernel did not have it.
fn add_rule(netlink: &Netlink, state: &mut VipState, owner: &str, rule: &Rule) -> bool {
    let naming = naming(owner, "rule", rule);
    add_recorded(state, rule, &naming, || netlink.add_rule(rule))
}

fn remove_rule(netlink: &Netlink, state: &mut VipState, owner: &str, rule: &Rule) {
    let naming = naming(owner, "rule", rule);
    remove_recorded(state, rule, &naming, || netlink.delete_rule(rule).map(drop));
}

/// How the log names a route or rule (`kind`) of `owner`.
fn naming<'a>(owner: &'a str, kind: &str, item: &impl std::fmt::Display) -> Naming<'a> {
    Naming {
        owner,
        what: format!("{kind} {item}"),
        interface: None,
    }
}

/// Name static configuration is logged under.
const STATIC: &str = "static";

impl Daemon {
    /// Watches route and rule deletions once an instance has virtual routes or rules (at
    /// start, or when a reload brings the first ones).
    pub(super) fn watch_routing(&mut self) {
        let wanted =
            (self.routers.iter()).any(|r| !r.cfg.routes.is_empty() || !r.cfg.rules.is_empty());
        if self.watching_routing || !wanted {
            return;
        }
        match Monitor::routing() {
            Ok(monitor) => {
                spawn_monitor(monitor, self.events_tx.clone());
                self.watching_routing = true;
            }
            Err(e) => warn!(
                "{e}: a virtual route or rule deleted by hand is not put back until the \
                 instance becomes master again"
            ),
        }
    }

    /// A route (of `protocol`) or a rule was deleted: masters put back theirs. Routes of
    /// other protocols than the ones vipd installs are not looked at.
    pub(super) fn restore_routing(&mut self, protocol: Option<u8>) {
        let concerned = |r: &Router| {
            r.vips_installed
                && r.fsm().state() == State::Master
                && match protocol {
                    Some(p) => r
                        .cfg
                        .routes
                        .iter()
                        .any(|route| route.effective_protocol() == p),
                    None => !r.cfg.rules.is_empty(),
                }
        };
        for router in self.routers.iter().filter(|r| concerned(r)) {
            let cfg = &router.cfg;
            let (routes, rules): (&[Route], &[Rule]) = match protocol {
                Some(_) => (&cfg.routes, &[]),
                None => (&[], &cfg.rules),
            };
            restore_routing(&self.netlink, &mut self.vip_state, &cfg.name, routes, rules);
        }
    }

    /// At start: the static addresses, routes and rules, as keepalived adds them whatever
    /// the VRRP state.
    pub(super) fn add_statics(&mut self) {
        let statics = self.config.statics.clone();
        add_statics(&self.netlink, &mut self.vip_state, &statics);
    }

    /// At exit, as keepalived 2.2.7 does: the static rules, routes and addresses vipd added.
    pub(super) fn remove_statics(&mut self) {
        let statics = self.config.statics.clone();
        remove_statics(&self.netlink, &mut self.vip_state, &statics);
    }

    /// On reload: what left the static configuration goes, what came in is added.
    pub(super) fn update_statics(&mut self, old: &config::Static, new: &config::Static) {
        let gone = config::Static {
            addresses: (old.addresses.iter())
                .filter(|a| !new.addresses.contains(a))
                .cloned()
                .collect(),
            routes: (old.routes.iter())
                .filter(|r| !new.routes.contains(r))
                .cloned()
                .collect(),
            rules: (old.rules.iter())
                .filter(|r| !new.rules.contains(r))
                .cloned()
                .collect(),
        };
        remove_statics(&self.netlink, &mut self.vip_state, &gone);
        // Adding what is there already is a no-op for what vipd added.
        add_statics(&self.netlink, &mut self.vip_state, new);
    }
}

fn add_statics(netlink: &Netlink, state: &mut VipState, statics: &config::Static) {
    for address in &statics.addresses {
        let interface = address.interface.clone().unwrap_or_default();
        add_address(netlink, state, STATIC, &interface, address, None);
    }
    add_routing(netlink, state, STATIC, &statics.routes, &statics.rules);
}

fn remove_statics(netlink: &Netlink, state: &mut VipState, statics: &config::Static) {
    remove_routing(netlink, state, STATIC, &statics.routes, &statics.rules);
    for address in &statics.addresses {
        let interface = address.interface.clone().unwrap_or_default();
        remove_address(netlink, state, STATIC, &interface, address);
    }
}
