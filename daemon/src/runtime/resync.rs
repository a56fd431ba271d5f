//! Catching up after lost netlink notifications: the kernel drops them when vipd's monitor
//! socket overflows (an address or link storm, or vipd held up), and says so only once
//! (ENOBUFS). Whatever happened in between (an interface deleted and created again, a VIP
//! deleted by hand, a link gone down) must then be read from the kernel again.

use std::time::Instant;

use tracing::warn;

use super::addresses::{add_vip, node_addresses};
use super::Daemon;
use crate::vrrp::instance::State;

impl Daemon {
    /// Re-reads links and addresses and brings everything back in line: tracked interfaces,
    /// each instance's link and advert source (reopening sockets bound to an interface index
    /// that no longer exists), and the VIPs of masters.
    pub(super) fn resync(&mut self, now: Instant) {
        warn!(
            "netlink notifications were lost (receive buffer overrun): re-reading links and \
             addresses"
        );
        self.read_tracked_links();
        for index in 0..self.routers.len() {
            let name = self.routers[index].key.interface.clone();
            let up = match self.netlink.link_index(&name) {
                Ok(Some(i)) => self.netlink.link(i).ok().flatten().is_some_and(|l| l.up),
                _ => false,
            };
            // Down or gone: attach is not called, so drop a socket whose interface went away.
            if !up && self.netlink.link_index(&name).ok().flatten().is_none() {
                self.close_sockets(|key| key.interface == name);
                self.routers[index].source = None;
            }
            self.refresh_link(index, now, up);
        }
        self.apply_tracking(now);
        self.watch_sources(now, &[]);
        self.reassert_vips();
        // Adverts may not have left meanwhile (a socket on a vanished interface): masters
        // speak up before the backups' down timers run out.
        for (index, router) in self.routers.iter_mut().enumerate() {
            router.fsm_mut(&mut self.schedule, index).advertise_now(now);
        }
    }

    /// Adds back every VIP of a master that is missing from its interface (deleted by hand,
    /// or lost with an interface that was re-created), and announces it.
    pub(super) fn reassert_vips(&mut self) {
        let masters: Vec<usize> = (0..self.routers.len())
            .filter(|&i| {
                let r = &self.routers[i];
                // VIPs still being added are not missing: their slices add them.
                r.vips_installed && r.fsm().state() == State::Master && !self.adding_vips(i)
            })
            .collect();
        if masters.is_empty() {
            return;
        }
        let Ok(node) = node_addresses(&self.netlink) else {
            return;
        };
        let links = self.netlink.all_links().unwrap_or_default();
        // Looked up once per VIP: thousands of VIPs against thousands of addresses.
        let node: std::collections::BTreeSet<(&str, std::net::IpAddr, u8)> = (node.iter())
            .map(|a| (a.interface.as_str(), a.address, a.prefix_len))
            .collect();
        for index in masters {
            let router = &self.routers[index];
            let mut restored = false;
            for vip in router.cfg.all_vips() {
                let ifname = router.cfg.vip_interface(vip);
                let present = node.contains(&(ifname, vip.address, vip.prefix_len));
                if present || !links.iter().any(|l| l.name == ifname) {
                    continue;
                }
                warn!(
                    "{}: {} is missing from {ifname} while MASTER: restoring it",
                    router.cfg.name, vip.address
                );
                add_vip(&self.netlink, &mut self.vip_state, &router.cfg, vip);
                restored = true;
            }
            // Routes and rules that went with a lost address or interface (adding one
            // that is there is a no-op).
            let cfg = &router.cfg;
            let state = &mut self.vip_state;
            super::routes::add_routing(&self.netlink, state, &cfg.name, &cfg.routes, &cfg.rules);
            if restored {
                self.announce_once(index);
            }
        }
    }
}
