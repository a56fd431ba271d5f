//! What the running system says about a configuration, for `vipd run` (logged at start) and
//! `vipd check` (when the interfaces exist): multicast adverts on links that cannot carry
//! them (WireGuard, tun, GRE, links with ARP or multicast off), and VMACs that cannot be
//! created there.

use super::link::LinkDetails;
use super::vmac::{self, Existing};
use crate::config::Config;

/// [`warnings`] for the links of this network namespace (none when they cannot be read).
pub fn system_warnings(cfg: &Config) -> Vec<String> {
    system_warnings_at(cfg)
        .into_iter()
        .map(|(_, m)| m)
        .collect()
}

/// [`system_warnings`], each with the field path it is about (`instance[N].interface`), so
/// that `vipd check` can name the line.
pub fn system_warnings_at(cfg: &Config) -> Vec<(String, String)> {
    let links = super::netlink::Netlink::new().and_then(|netlink| super::link::links(&netlink));
    match links {
        Ok(links) => warnings_at(cfg, &links),
        Err(_) => Vec::new(),
    }
}

/// Warnings about `cfg` on a system with these `links`. An instance whose interface is
/// missing is only told about (it may appear later: vipd waits in FAULT, where keepalived
/// 2.2.7 refuses to start); the links are judged only in the namespace vipd will run in.
pub fn warnings(cfg: &Config, links: &[LinkDetails]) -> Vec<String> {
    warnings_at(cfg, links)
        .into_iter()
        .map(|(_, m)| m)
        .collect()
}

/// [`warnings`] with the field path each is about.
fn warnings_at(cfg: &Config, links: &[LinkDetails]) -> Vec<(String, String)> {
    let mut located = Vec::new();
    // The VMACs and ipvlans vipd makes exist once their instance runs: a route, VIP or
    // track naming one is not missing.
    let made: Vec<&str> = cfg
        .instances
        .iter()
        .flat_map(|i| i.made_interfaces())
        .collect();
    for (index, inst) in cfg.instances.iter().enumerate() {
        let mut out = Vec::new();
        if cfg.global.net_namespace.is_none() {
            let at = format!("instance[{index}]");
            located.extend(missing_names(inst, &at, links, &made));
        }
        let Some(link) = links.iter().find(|l| l.name == inst.interface) else {
            if cfg.global.net_namespace.is_none() {
                located.push((
                    format!("instance[{index}].interface"),
                    format!(
                        "instance `{}`: interface {} does not exist here: the instance waits in \
                     FAULT until it appears (keepalived 2.2.7 refuses to start: \
                     \"Non-existent interface specified in configuration\")",
                        inst.name, inst.interface
                    ),
                ));
            }
            continue;
        };
        let name = &inst.name;
        if inst.group(&cfg.global).is_some() {
            let why = if link.point_to_point {
                Some("a point-to-point link")
            } else if link.noarp {
                Some("a link without ARP")
            } else if !link.multicast {
                Some("a link without multicast")
            } else {
                None
            };
            if let Some(why) = why {
                out.push(format!(
                    "instance `{name}`: {} is {why}, so its multicast adverts may reach no \
                     peer (WireGuard, tun and GRE carry no multicast); list the peers with \
                     unicast_peer (native: unicast_peers) and set unicast_src_ip",
                    link.name
                ));
            }
        }
        // The interfaces vipd makes: the instance's VMAC or ipvlan on its interface, the
        // VMACs of VIPs on theirs (when those exist).
        let mut made: Vec<(&str, &str, &LinkDetails, Option<[u8; 6]>)> = Vec::new();
        if let Some(config) = &inst.vmac {
            let mac = config.mac_for(inst.vrid, inst.is_ipv6()).0;
            made.push(("VMAC", &config.interface, link, Some(mac)));
        } else if let Some(name) = inst.ipvlan_interface() {
            made.push(("ipvlan", name, link, None));
        }
        let vip_mac = match &inst.vmac {
            Some(vmac) => vmac.mac_for(inst.vrid, inst.is_ipv6()),
            None => crate::config::MacAddr::virtual_router(inst.vrid, inst.is_ipv6()),
        };
        for (parent, vmac_name) in &inst.vip_vmacs {
            if let Some(parent) = links.iter().find(|l| l.name == *parent) {
                made.push(("VMAC", vmac_name, parent, Some(vip_mac.0)));
            }
        }
        for (what, made_name, parent, mac) in made {
            if !parent.is_ethernet() {
                out.push(format!(
                    "instance `{name}`: {what} {made_name} cannot be created: {} is not an \
                     Ethernet interface",
                    parent.name
                ));
                continue;
            }
            let found = links.iter().find(|l| l.name == made_name);
            let existing = match mac {
                Some(mac) => vmac::inspect(found, parent, mac),
                None => vmac::inspect_ipvlan(found, parent.index),
            };
            if let Existing::Taken(why) = existing {
                out.push(format!(
                    "instance `{name}`: {what} {made_name} cannot be created: {why}"
                ));
            }
        }
        located.extend(out.into_iter().map(|m| (format!("instance[{index}]"), m)));
    }
    if cfg.global.net_namespace.is_none() {
        located.extend(missing_group_and_static_names(cfg, links));
    }
    located
}

const KEEPALIVED_REFUSES: &str =
    "(keepalived 2.2.7 refuses to start: \"Non-existent interface specified in configuration\")";

/// What a missing tracked interface does: `effect` for weight 0, else its weight applies.
fn track_effect(weight: i32, faults: &'static str) -> &'static str {
    if weight == 0 {
        faults
    } else {
        "its weight applies as for a link that is down until it appears"
    }
}

/// Interfaces tracked by sync groups, and the `dev` of static addresses and routes, that
/// do not exist here; keepalived 2.2.7 refuses to start on each of them.
fn missing_group_and_static_names(cfg: &Config, links: &[LinkDetails]) -> Vec<(String, String)> {
    let exists = |name: &str| links.iter().any(|l| l.name == name);
    let mut out = Vec::new();
    for (g, group) in cfg.sync_groups.iter().enumerate() {
        for (i, track) in group.track_interfaces.iter().enumerate() {
            if exists(&track.name) {
                continue;
            }
            let effect = track_effect(track.weight, "every member stays in FAULT until it appears");
            out.push((
                format!("sync_group[{g}].track_interfaces[{i}]"),
                format!(
                    "sync group `{}`: tracked interface {} does not exist here: it counts as \
                     down, {effect} {KEEPALIVED_REFUSES}",
                    group.name, track.name
                ),
            ));
        }
    }
    for (i, address) in cfg.statics.addresses.iter().enumerate() {
        let Some(dev) = address.interface.as_deref() else {
            continue;
        };
        if exists(dev) {
            continue;
        }
        out.push((
            format!("static.addresses[{i}]"),
            format!(
                "static address {}: interface {dev} does not exist here: the address is not \
                 added (vipd adds static addresses at start and on reload) {KEEPALIVED_REFUSES}",
                address.address
            ),
        ));
    }
    for (i, route) in cfg.statics.routes.iter().enumerate() {
        let Some(dev) = route.dev.as_deref() else {
            continue;
        };
        if exists(dev) {
            continue;
        }
        out.push((
            format!("static.routes[{i}]"),
            format!(
                "static route {}: interface {dev} does not exist here: the route is not \
                 installed (vipd adds static routes at start and on reload) {KEEPALIVED_REFUSES}",
                route.destination
            ),
        ));
    }
    out
}

/// Tracked interfaces and the `dev` of VIPs and routes that do not exist here and that no
/// instance makes (`made`: VMACs, ipvlans; the instance's own interface is told about by the
/// caller). keepalived 2.2.7 refuses to start on each of them: "Non-existent interface
/// specified in configuration" (on a VMAC's name too, unless `dynamic_interfaces`).
fn missing_names(
    inst: &crate::config::Instance,
    at: &str,
    links: &[LinkDetails],
    made: &[&str],
) -> Vec<(String, String)> {
    const KEEPALIVED: &str = KEEPALIVED_REFUSES;
    let exists = |name: &str| links.iter().any(|l| l.name == name) || made.contains(&name);
    let name = &inst.name;
    let mut out = Vec::new();
    for (i, track) in inst.track_interfaces.iter().enumerate() {
        if exists(&track.name) {
            continue;
        }
        let effect = track_effect(track.weight, "the instance stays in FAULT until it appears");
        out.push((
            format!("{at}.track_interfaces[{i}]"),
            format!(
                "instance `{name}`: tracked interface {} does not exist here: it counts as \
                 down, {effect} {KEEPALIVED}",
                track.name
            ),
        ));
    }
    let vips = [("vips", &inst.vips), ("excluded_vips", &inst.excluded_vips)];
    for (field, list) in vips {
        for (i, vip) in list.iter().enumerate() {
            let Some(dev) = vip.interface.as_deref() else {
                continue;
            };
            if dev == inst.interface || exists(dev) {
                continue;
            }
            out.push((
                format!("{at}.{field}[{i}]"),
                format!(
                    "instance `{name}`: interface {dev} of {} does not exist here: the address \
                     is not added while it is missing (as master, vipd adds it once the \
                     interface appears) {KEEPALIVED}",
                    vip.address
                ),
            ));
        }
    }
    for (i, route) in inst.routes.iter().enumerate() {
        let Some(dev) = route.dev.as_deref() else {
            continue;
        };
        if dev == inst.interface || exists(dev) {
            continue;
        }
        out.push((
            format!("{at}.routes[{i}]"),
            format!(
                "instance `{name}`: interface {dev} of route {} does not exist here: the \
                 route cannot be installed while it is missing {KEEPALIVED}",
                route.destination
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Instance, Vmac};

    fn link(name: &str, index: u32) -> LinkDetails {
        LinkDetails {
            index,
            name: name.into(),
            mac: Some([2, 0, 0, 0, 0, index as u8]),
            hardware_type: 1,
            multicast: true,
            admin_up: true,
            running: true,
            ..LinkDetails::default()
        }
    }

    fn config(instances: Vec<Instance>) -> Config {
        Config {
            instances,
            ..Config::default()
        }
    }

    #[test]
    fn multicast_on_links_that_cannot_carry_it_is_warned_about() {
        let mut wg = link("wg0", 3);
        wg.point_to_point = true;
        wg.noarp = true;
        wg.multicast = false;
        wg.mac = None;
        wg.hardware_type = 65534;
        let mut arp_off = link("p2p0", 4);
        arp_off.noarp = true;
        arp_off.multicast = false;
        let links = [link("eth0", 2), wg, arp_off];
        let multicast_on = |ifname: &str| Instance::new(&format!("on-{ifname}"), ifname, 1);
        let mut unicast = Instance::new("unicast", "wg0", 2);
        unicast.unicast_peers = vec!["198.51.100.2".parse().unwrap()];
        let cfg = config(vec![
            multicast_on("eth0"),
            multicast_on("wg0"),
            multicast_on("p2p0"),
            multicast_on("missing0"),
            unicast,
        ]);
        let warnings = warnings(&cfg, &links);
        assert_eq!(warnings.len(), 3, "{warnings:#?}");
        assert!(warnings[0].starts_with("instance `on-wg0`: wg0 is a point-to-point link"));
        assert!(warnings[1].starts_with("instance `on-p2p0`: p2p0 is a link without ARP"));
        assert!(warnings[2].starts_with("instance `on-missing0`: interface missing0 does not"));
    }

    #[test]
    fn a_missing_interface_is_warned_about_unless_in_another_namespace() {
        let mut cfg = config(vec![Instance::new("typo", "eht0", 1)]);
        let links = [link("eth0", 2)];
        let warnings = warnings(&cfg, &links);
        assert_eq!(warnings.len(), 1, "{warnings:#?}");
        assert!(
            warnings[0].starts_with("instance `typo`: interface eht0 does not exist here"),
            "{warnings:#?}"
        );
        cfg.global.net_namespace = Some("blue".into());
        assert!(super::warnings(&cfg, &links).is_empty());
    }

    #[test]
    fn missing_tracked_interfaces_and_vip_devs_are_warned_about_unless_in_another_namespace() {
        use crate::config::{Route, TrackInterface, Vip};
        let links = [link("eth0", 2), link("eth1", 3)];
        let mut inst = Instance::new("typos", "eth0", 1);
        let track = |name: &str, weight| TrackInterface {
            name: name.into(),
            weight,
            reverse: false,
        };
        inst.track_interfaces = vec![track("eth1", 0), track("eht1", 0), track("bond9", -20)];
        let vip = |text: &str| Vip::parse(text).unwrap();
        inst.vips = vec![
            vip("192.0.2.10/24"),
            vip("192.0.2.11/24 dev eth0"),
            vip("192.0.2.12/24 dev eht1"),
        ];
        inst.excluded_vips = vec![
            vip("2001:db8::1/64 dev eth1"),
            vip("2001:db8::2/64 dev vlan9"),
        ];
        inst.routes = vec![
            Route::parse("198.51.100.0/24 via 192.0.2.1 dev eth1").unwrap(),
            Route::parse("203.0.113.0/24 via 192.0.2.1 dev eht2").unwrap(),
        ];
        let mut cfg = config(vec![inst]);
        let warnings = warnings(&cfg, &links);
        let starts = [
            "instance `typos`: tracked interface eht1 does not exist here: it counts as down, \
             the instance stays in FAULT",
            "instance `typos`: tracked interface bond9 does not exist here: it counts as down, \
             its weight applies",
            "instance `typos`: interface eht1 of 192.0.2.12 does not exist here",
            "instance `typos`: interface vlan9 of 2001:db8::2 does not exist here",
            "instance `typos`: interface eht2 of route 203.0.113.0/24 does not exist here",
        ];
        assert_eq!(warnings.len(), starts.len(), "{warnings:#?}");
        for (warning, start) in warnings.iter().zip(starts) {
            assert!(warning.starts_with(start), "{warning}");
            assert!(
                warning.contains("keepalived 2.2.7 refuses to start"),
                "{warning}"
            );
        }
        let located = warnings_at(&cfg, &links);
        assert_eq!(located[0].0, "instance[0].track_interfaces[1]");
        assert_eq!(located[2].0, "instance[0].vips[2]");
        assert_eq!(located[3].0, "instance[0].excluded_vips[1]");
        assert_eq!(located[4].0, "instance[0].routes[1]");
        cfg.global.net_namespace = Some("blue".into());
        assert!(super::warnings(&cfg, &links).is_empty());
        // Corpus round 9 (keepalived issue 2723): routes, VIPs and tracks naming a VMAC
        // this configuration makes (here another instance's) are not missing: vipd makes
        // the VMAC before it installs them.
        cfg.global.net_namespace = None;
        let mut vmac = Instance::new("vmac", "eth1", 111);
        vmac.vmac = Some(Vmac {
            interface: "vrrp.111".into(),
            ..Vmac::default()
        });
        cfg.instances.push(vmac);
        let inst = &mut cfg.instances[0];
        inst.routes = vec![Route::parse("203.0.113.0/24 via 192.0.2.1 dev vrrp.111").unwrap()];
        inst.vips = vec![vip("192.0.2.12/24 dev vrrp.111")];
        inst.excluded_vips.clear();
        inst.track_interfaces = vec![track("vrrp.111", 0)];
        assert!(
            super::warnings(&cfg, &links).is_empty(),
            "{:#?}",
            super::warnings(&cfg, &links)
        );
    }

    #[test]
    fn missing_sync_group_tracks_and_static_devs_are_warned_about_unless_in_another_namespace() {
        use crate::config::{Route, SyncGroup, TrackInterface, Vip};
        let links = [link("eth0", 2), link("eth1", 3)];
        let track = |name: &str, weight| TrackInterface {
            name: name.into(),
            weight,
            reverse: false,
        };
        let mut cfg = config(vec![Instance::new("a", "eth0", 1)]);
        cfg.sync_groups = vec![SyncGroup {
            name: "G".into(),
            instances: vec!["a".into()],
            notify: Default::default(),
            track_checks: Vec::new(),
            track_files: Vec::new(),
            track_interfaces: vec![track("eth1", 0), track("eht1", 0), track("bond9", -20)],
        }];
        let vip = |text: &str| Vip::parse(text).unwrap();
        cfg.statics.addresses = vec![vip("192.0.2.10/24 dev eth1"), vip("192.0.2.11/24 dev eht0")];
        cfg.statics.routes = vec![
            Route::parse("198.51.100.0/24 via 192.0.2.1").unwrap(),
            Route::parse("203.0.113.0/24 via 192.0.2.1 dev eht2").unwrap(),
        ];
        let located = warnings_at(&cfg, &links);
        let expected = [
            (
                "sync_group[0].track_interfaces[1]",
                "sync group `G`: tracked interface eht1 does not exist here: it counts as down, \
                 every member stays in FAULT until it appears",
            ),
            (
                "sync_group[0].track_interfaces[2]",
                "sync group `G`: tracked interface bond9 does not exist here: it counts as down, \
                 its weight applies",
            ),
            (
                "static.addresses[1]",
                "static address 192.0.2.11: interface eht0 does not exist here: the address is \
                 not added",
            ),
            (
                "static.routes[1]",
                "static route 203.0.113.0/24: interface eht2 does not exist here: the route is \
                 not installed",
            ),
        ];
        assert_eq!(located.len(), expected.len(), "{located:#?}");
        for ((at, warning), (want_at, start)) in located.iter().zip(expected) {
            assert_eq!(at, want_at);
            assert!(warning.starts_with(start), "{warning}");
            assert!(
                warning.ends_with(
                    "(keepalived 2.2.7 refuses to start: \"Non-existent interface specified in \
                     configuration\")"
                ),
                "{warning}"
            );
        }
        cfg.global.net_namespace = Some("blue".into());
        assert!(super::warnings(&cfg, &links).is_empty());
    }

    #[test]
    fn vmacs_that_cannot_be_created_are_warned_about() {
        let mut tun = link("tun0", 5);
        tun.mac = None;
        tun.hardware_type = 65534;
        tun.point_to_point = true;
        let mut taken = link("vrrp.1", 6);
        taken.kind = Some("bridge".into());
        let mut ours = link("vrrp.2", 7);
        ours.kind = Some("macvlan".into());
        ours.parent = Some(2);
        ours.mac = Some([0, 0, 0x5e, 0, 1, 2]);
        let links = [link("eth0", 2), tun, taken, ours];
        let with_vmac = |name: &str, ifname: &str, vrid: u8| {
            let mut inst = Instance::new(name, ifname, vrid);
            inst.unicast_peers = vec!["192.0.2.2".parse().unwrap()];
            inst.vmac = Some(Vmac {
                interface: format!("vrrp.{vrid}"),
                ..Vmac::default()
            });
            inst
        };
        let cfg = config(vec![
            with_vmac("taken", "eth0", 1),
            with_vmac("leftover", "eth0", 2),
            with_vmac("free", "eth0", 3),
            with_vmac("tun", "tun0", 4),
        ]);
        assert_eq!(
            warnings(&cfg, &links),
            [
                "instance `taken`: VMAC vrrp.1 cannot be created: `vrrp.1` exists and is a \
                 bridge interface",
                "instance `tun`: VMAC vrrp.4 cannot be created: tun0 is not an Ethernet \
                 interface",
            ]
        );
    }

    #[test]
    fn vip_vmacs_and_ipvlans_that_cannot_be_created_are_warned_about() {
        let mut taken = link("vrrp.8", 6);
        taken.kind = Some("dummy".into());
        let mut other_parent = link("ipv9", 7);
        other_parent.kind = Some("ipvlan".into());
        other_parent.parent = Some(3);
        let links = [link("eth0", 2), link("eth1", 3), taken, other_parent];
        let mut vip_vmac = Instance::new("vips", "eth0", 8);
        vip_vmac.vip_vmacs = [("eth1".to_string(), "vrrp.8".to_string())].into();
        vip_vmac.unicast_peers = vec!["192.0.2.2".parse().unwrap()];
        let mut ipvlan = Instance::new("ipvlan", "eth0", 9);
        ipvlan.ipvlan = Some(crate::config::Ipvlan {
            interface: "ipv9".into(),
            ..Default::default()
        });
        ipvlan.unicast_peers = vec!["192.0.2.2".parse().unwrap()];
        assert_eq!(
            warnings(&config(vec![vip_vmac, ipvlan]), &links),
            [
                "instance `vips`: VMAC vrrp.8 cannot be created: `vrrp.8` exists and is a \
                 dummy interface",
                "instance `ipvlan`: ipvlan ipv9 cannot be created: `ipv9` exists and is an \
                 ipvlan on another interface",
            ]
        );
    }
}
