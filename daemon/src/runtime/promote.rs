//! keepalived's `promote_secondaries`: the instance's interface gets
//! `net.ipv4.conf.IF.promote_secondaries=1` for as long as vipd runs. Without it, deleting
//! the address that is primary for its subnet makes the kernel delete every secondary address
//! of that subnet too: a master giving up a VIP that happened to be primary took the other
//! VIPs and the host's own addresses of the subnet with it.
//!
//! As keepalived 2.2.7 does it (measured): set per interface (not `all`) when the instance
//! starts, whatever its state, silently; at exit the old value comes back, and only where
//! vipd changed it (an interface that had 1 keeps 1). It is an IPv4 setting; vipd sets it
//! over rtnetlink (the hardened unit cannot write /proc/sys), in the daemon's namespace.

use std::collections::{BTreeMap, BTreeSet};

use tracing::{debug, info, warn};

use super::Daemon;
use crate::net::link::{self, devconf};

/// The interfaces vipd set `promote_secondaries` on, by index, with their name and the
/// value they had before.
pub type Promoted = BTreeMap<u32, (String, u32)>;

/// For an instance that asks for `promote_secondaries` on an interface where it is `current`
/// (None when the kernel did not say): the value to restore at exit after setting it, or
/// None when it is already on (nothing to set, nothing to restore).
pub fn claim(current: Option<u32>) -> Option<u32> {
    match current {
        Some(1) => None,
        // An unknown old value is restored as the kernel's default.
        other => Some(other.unwrap_or(0)),
    }
}

/// The promoted interfaces that no current instance wants any more (after a reload).
pub fn unwanted(promoted: &Promoted, wanted: &BTreeSet<String>) -> Vec<u32> {
    promoted
        .iter()
        .filter(|(_, (name, _))| !wanted.contains(name))
        .map(|(index, _)| *index)
        .collect()
}

impl Daemon {
    /// Sets `promote_secondaries` on the interface (`ifindex`) of instance `index` if the
    /// instance asks for it and vipd has not already.
    pub(super) fn promote_secondaries_on(&mut self, index: usize, ifindex: u32) {
        let Some(router) = self.routers.get(index) else {
            return;
        };
        if !router.cfg.promote_secondaries || self.promoted.contains_key(&ifindex) {
            return;
        }
        let name = router.key.interface.clone();
        let instance = router.cfg.name.clone();
        let current = match link::by_index(&self.netlink, ifindex) {
            Ok(Some(link)) => link.ipv4(devconf::PROMOTE_SECONDARIES),
            Ok(None) => return,
            Err(e) => {
                warn!("{instance}: cannot read the settings of {name}: {e}");
                return;
            }
        };
        let Some(old) = claim(current) else {
            // Already on: nothing to do now, nothing to restore at exit.
            self.promoted.insert(ifindex, (name, 1));
            return;
        };
        match link::set_ipv4_conf(&self.netlink, ifindex, &[(devconf::PROMOTE_SECONDARIES, 1)]) {
            Ok(()) => {
                info!("{instance}: set promote_secondaries on {name}");
                self.promoted.insert(ifindex, (name, old));
            }
            Err(e) => warn!(
                "{instance}: cannot set net.ipv4.conf.{name}.promote_secondaries=1: {e}; \
                 removing a VIP may remove the other addresses of its subnet on {name}"
            ),
        }
    }

    /// Gives back the old `promote_secondaries` of the interfaces no instance wants it on
    /// any more (every interface at exit, when `keep` is empty).
    pub(super) fn restore_promote_secondaries(&mut self, keep: &BTreeSet<String>) {
        for ifindex in unwanted(&self.promoted, keep) {
            let Some((name, old)) = self.promoted.remove(&ifindex) else {
                continue;
            };
            if old == 1 {
                continue;
            }
            match link::set_ipv4_conf(
                &self.netlink,
                ifindex,
                &[(devconf::PROMOTE_SECONDARIES, old)],
            ) {
                Ok(()) => debug!("restored promote_secondaries={old} on {name}"),
                Err(e) => warn!("cannot restore promote_secondaries={old} on {name}: {e}"),
            }
        }
    }

    /// The interfaces the current instances want `promote_secondaries` on.
    pub(super) fn promote_wanted(&self) -> BTreeSet<String> {
        self.routers
            .iter()
            .filter(|r| r.cfg.promote_secondaries)
            .map(|r| r.key.interface.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interface_without_promote_secondaries_is_set_and_restored_to_its_old_value() {
        assert_eq!(claim(Some(0)), Some(0));
        assert_eq!(claim(None), Some(0));
    }

    #[test]
    fn an_interface_that_already_promotes_is_left_alone() {
        assert_eq!(claim(Some(1)), None);
    }

    #[test]
    fn interfaces_no_instance_wants_any_more_are_given_back() {
        let mut promoted = Promoted::new();
        promoted.insert(2, ("eth0".into(), 0));
        promoted.insert(3, ("eth1".into(), 0));
        let wanted: BTreeSet<String> = ["eth1".to_string()].into();
        assert_eq!(unwanted(&promoted, &wanted), vec![2]);
        assert_eq!(unwanted(&promoted, &BTreeSet::new()), vec![2, 3]);
    }
}
