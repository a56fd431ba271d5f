//! `track_src_ip` (native `track_source_address`): an instance whose configured advert source
//! (`unicast_src_ip`/`mcast_src_ip`) is not on its interface stays in FAULT until the address
//! is back, as keepalived.conf(5) describes it ("if the configured src_ip doesn't exist or is
//! removed put the instance into fault state").
//!
//! keepalived 2.2.7 itself only does half of that (measured here): an address missing at
//! start puts the instance in FAULT for good (adding the address later does not bring it
//! back), and an address removed while it runs changes nothing (it goes on advertising
//! with the removed address as source). vipd does what the manual says, both ways.
//!
//! Without `track_src_ip`, keepalived 2.2.7 also starts a unicast instance whose
//! `unicast_src_ip` is missing in FAULT ("src address not configured"), for good. vipd does
//! the same at start, and leaves FAULT when the address appears; an address removed later
//! stays the adverts' source (see `net::socket`), as with keepalived.

use std::net::IpAddr;
use std::time::Instant;

use tracing::{info, warn};

use super::Daemon;
use crate::config;

/// The configured source address, when `present` (the addresses of its interface) lacks it.
pub fn missing_source(cfg: &config::Instance, present: &[IpAddr]) -> Option<IpAddr> {
    let source = cfg.source_address?;
    (!present.contains(&source)).then_some(source)
}

/// Whether the instance is in FAULT for its source address: it `is_missing` (see
/// [`missing_source`]), `was` in FAULT for it, and is `starting` (its first look).
pub fn source_fault(cfg: &config::Instance, is_missing: bool, was: bool, starting: bool) -> bool {
    if !is_missing {
        return false;
    }
    // Untracked: only a unicast source missing at start, until it first appears.
    cfg.track_source_address || ((starting || was) && !cfg.unicast_peers.is_empty())
}

impl Daemon {
    /// Looks again whether the instances that track their source address (or are
    /// `starting`, by index, or in FAULT for it) have it on their interface, logs every
    /// change and puts them in or out of FAULT. Other instances cost no netlink lookup.
    pub(super) fn watch_sources(&mut self, now: Instant, starting: &[usize]) {
        let watched = |index: usize, r: &super::router::Router| {
            r.cfg.source_address.is_some()
                && (r.cfg.track_source_address || r.source_missing || starting.contains(&index))
        };
        if !self.routers.iter().enumerate().any(|(i, r)| watched(i, r)) {
            return;
        }
        let present: Vec<(String, IpAddr)> = match self.netlink.all_links() {
            Ok(links) => self
                .netlink
                .all_addresses()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|a| {
                    let link = links.iter().find(|l| l.index == a.index)?;
                    Some((link.name.clone(), a.addr))
                })
                .collect(),
            Err(e) => {
                warn!("cannot read the interfaces' addresses: {e}");
                return;
            }
        };
        let mut changed = false;
        for (index, router) in self.routers.iter_mut().enumerate() {
            if !watched(index, router) {
                continue;
            }
            let on_interface: Vec<IpAddr> = present
                .iter()
                .filter(|(name, _)| *name == router.key.interface)
                .map(|(_, addr)| *addr)
                .collect();
            let missing = missing_source(&router.cfg, &on_interface);
            let fault = source_fault(
                &router.cfg,
                missing.is_some(),
                router.source_missing,
                starting.contains(&index),
            );
            if fault == router.source_missing {
                continue;
            }
            changed = true;
            router.source_missing = fault;
            let interface = &router.key.interface;
            let why = if router.cfg.track_source_address {
                "track_src_ip"
            } else {
                "unicast_src_ip"
            };
            match (missing, router.cfg.source_address) {
                (Some(source), _) => warn!(
                    "{}: source address {source} is not on {interface}: FAULT until it is \
                     there ({why})",
                    router.cfg.name
                ),
                (None, Some(source)) => info!(
                    "{}: source address {source} is back on {interface}",
                    router.cfg.name
                ),
                (None, None) => {}
            }
        }
        if changed {
            self.apply_faults(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(track: bool, source: Option<&str>) -> config::Instance {
        let mut cfg = config::Instance::new("VI_1", "eth0", 51);
        cfg.track_source_address = track;
        cfg.source_address = source.map(|s| s.parse().unwrap());
        cfg
    }

    fn addrs(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    fn unicast(mut cfg: config::Instance) -> config::Instance {
        cfg.unicast_peers = addrs(&["192.0.2.2"]);
        cfg
    }

    #[test]
    fn a_source_missing_from_its_interface_is_reported() {
        let cfg = instance(true, Some("192.0.2.1"));
        assert_eq!(
            missing_source(&cfg, &addrs(&["192.0.2.9", "198.51.100.10"])),
            Some("192.0.2.1".parse().unwrap())
        );
        assert_eq!(
            missing_source(&cfg, &[]),
            Some("192.0.2.1".parse().unwrap())
        );
    }

    #[test]
    fn a_source_on_its_interface_is_not_missing() {
        let cfg = instance(true, Some("2001:db8::1"));
        assert_eq!(
            missing_source(&cfg, &addrs(&["fe80::1", "2001:db8::1"])),
            None
        );
    }

    #[test]
    fn a_tracked_source_is_a_fault_whenever_it_is_missing_and_never_when_present() {
        for cfg in [
            instance(true, Some("192.0.2.1")),
            unicast(instance(true, Some("192.0.2.1"))),
        ] {
            for (was, starting) in [(false, false), (true, false), (false, true)] {
                assert!(source_fault(&cfg, true, was, starting));
                assert!(!source_fault(&cfg, false, was, starting));
            }
        }
    }

    #[test]
    fn an_untracked_unicast_source_missing_at_start_is_a_fault_until_it_appears() {
        let cfg = unicast(instance(false, Some("192.0.2.1")));
        assert!(source_fault(&cfg, true, false, true), "missing at start");
        assert!(source_fault(&cfg, true, true, false), "still missing");
        assert!(!source_fault(&cfg, false, true, false), "appeared");
        assert!(
            !source_fault(&cfg, true, false, false),
            "removed while running: keeps advertising from it, as keepalived"
        );
    }

    #[test]
    fn an_untracked_multicast_source_is_never_a_fault() {
        let cfg = instance(false, Some("192.0.2.1"));
        assert!(!source_fault(&cfg, true, false, true));
        assert!(!source_fault(&cfg, true, true, false));
    }

    #[test]
    fn track_src_ip_without_a_configured_source_tracks_nothing() {
        // keepalived clears track_src_ip when no source address is configured.
        let cfg = instance(true, None);
        assert_eq!(missing_source(&cfg, &[]), None);
    }
}
