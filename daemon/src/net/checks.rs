//! What the running system says about a configuration, for `vipd run` (logged at start) and
//! `vipd check` (when the interfaces exist): multicast adverts on links that cannot carry
//! them (WireGuard, tun, GRE, links with ARP or multicast off), and VMACs that cannot be
//! created there.

use super::link::LinkDetails;
use super::vmac::{self, Existing};
use crate::config::Config;

/// [`warnings`] for the links of this network namespace (none when they cannot be read).
pub fn system_warnings(cfg: &Config) -> Vec<String> {
    let links = super::netlink::Netlink::new().and_then(|netlink| super::link::links(&netlink));
    match links {
        Ok(links) => warnings(cfg, &links),
        Err(_) => Vec::new(),
    }
}

/// Warnings about `cfg` on a system with these `links`; instances whose interface is missing
/// are not judged (it may appear later).
pub fn warnings(cfg: &Config, links: &[LinkDetails]) -> Vec<String> {
    let mut out = Vec::new();
    for inst in &cfg.instances {
        let Some(link) = links.iter().find(|l| l.name == inst.interface) else {
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
        if let Some(config) = &inst.vmac {
            if !link.is_ethernet() {
                out.push(format!(
                    "instance `{name}`: VMAC {} cannot be created: {} is not an Ethernet \
                     interface",
                    config.interface, link.name
                ));
                continue;
            }
            let mac = config.mac_for(inst.vrid, inst.is_ipv6()).0;
            let found = links.iter().find(|l| l.name == config.interface);
            if let Existing::Taken(what) = vmac::inspect(found, link.index, mac) {
                out.push(format!(
                    "instance `{name}`: VMAC {} cannot be created: {what}",
                    config.interface
                ));
            }
        }
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
        assert_eq!(warnings.len(), 2, "{warnings:#?}");
        assert!(warnings[0].starts_with("instance `on-wg0`: wg0 is a point-to-point link"));
        assert!(warnings[1].starts_with("instance `on-p2p0`: p2p0 is a link without ARP"));
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
}
