//! `track_src_ip` (native `track_source_address`): an instance whose configured advert source
//! (`unicast_src_ip`/`mcast_src_ip`) is not on its interface stays in FAULT until the address
//! is back, as keepalived.conf(5) describes it ("if the configured src_ip doesn't exist or is
//! removed put the instance into fault state").
//!
//! keepalived 2.2.7 itself only does half of that (measured here): an address missing at
//! start puts the instance in FAULT for good (adding the address later does not bring it
//! back), and an address removed while it runs changes nothing (it goes on advertising
//! with the removed address as source). vipd does what the manual says, both ways.

use std::net::IpAddr;
use std::time::Instant;

use tracing::{info, warn};

use super::Daemon;
use crate::config;

/// The configured source the instance tracks and misses: `Some(address)` when it tracks its
/// source address and `present` (the addresses of its interface) lacks it.
pub fn missing_source(cfg: &config::Instance, present: &[IpAddr]) -> Option<IpAddr> {
    if !cfg.track_source_address {
        return None;
    }
    let source = cfg.source_address?;
    (!present.contains(&source)).then_some(source)
}

impl Daemon {
    /// Looks again whether the instances that track their source address have it on their
    /// interface, logs every change and puts them in or out of FAULT. Only instances that
    /// track their source cost a netlink lookup.
    pub(super) fn watch_sources(&mut self, now: Instant) {
        if !self.routers.iter().any(|r| r.cfg.track_source_address) {
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
        for router in self
            .routers
            .iter_mut()
            .filter(|r| r.cfg.track_source_address)
        {
            let on_interface: Vec<IpAddr> = present
                .iter()
                .filter(|(name, _)| *name == router.key.interface)
                .map(|(_, addr)| *addr)
                .collect();
            let missing = missing_source(&router.cfg, &on_interface);
            if missing.is_some() == router.source_missing {
                continue;
            }
            changed = true;
            router.source_missing = missing.is_some();
            let interface = &router.key.interface;
            match (missing, router.cfg.source_address) {
                (Some(source), _) => warn!(
                    "{}: source address {source} is not on {interface}: FAULT until it is \
                     back (track_src_ip)",
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

    #[test]
    fn a_tracked_source_missing_from_its_interface_is_reported() {
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
    fn a_tracked_source_on_its_interface_is_not_missing() {
        let cfg = instance(true, Some("2001:db8::1"));
        assert_eq!(
            missing_source(&cfg, &addrs(&["fe80::1", "2001:db8::1"])),
            None
        );
    }

    #[test]
    fn without_track_src_ip_a_missing_source_is_no_fault() {
        let cfg = instance(false, Some("192.0.2.1"));
        assert_eq!(missing_source(&cfg, &[]), None);
    }

    #[test]
    fn track_src_ip_without_a_configured_source_tracks_nothing() {
        // keepalived clears track_src_ip when no source address is configured.
        let cfg = instance(true, None);
        assert_eq!(missing_source(&cfg, &[]), None);
    }
}
