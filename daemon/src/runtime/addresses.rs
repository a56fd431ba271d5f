//! Adding and removing VIPs, and only those vipd added (recorded in [`VipState`]): what an
//! earlier, killed run left behind goes at start; an address the node holds as its own is
//! refused as a VIP; anything else someone configured is left alone.

use std::collections::BTreeSet;
use std::path::Path;

use tracing::{error, warn};

use super::vip_state::{self, AddedAddress, Recorded, VipState};
use super::Daemon;
use crate::config::{self, Config};
use crate::net::netlink::Netlink;

/// Every address of the node, with the name of its interface.
pub fn node_addresses(netlink: &Netlink) -> std::io::Result<Vec<AddedAddress>> {
    let links = netlink.all_links()?;
    Ok(netlink
        .all_addresses()?
        .into_iter()
        .filter_map(|a| {
            let link = links.iter().find(|l| l.index == a.index)?;
            Some(AddedAddress {
                interface: link.name.clone(),
                address: a.addr,
                prefix_len: a.prefix_len,
            })
        })
        .collect())
}

/// The configured VIPs that this node holds as its own addresses, as messages naming the
/// instance and the address. Only instances whose VIP interfaces exist here are judged
/// (`vipd check` may run on another machine than the daemon); addresses recorded as added
/// by a running vipd (`also_added`, and the records beside `socket`) are not the node's own.
pub fn own_address_problems(
    cfg: &Config,
    state_dir: &Path,
    socket: &Path,
    also_added: &BTreeSet<AddedAddress>,
) -> Result<Vec<String>, String> {
    let added = vip_state::added_by_running_daemons(state_dir, socket).map_err(|e| {
        format!("{e}: cannot tell the VIPs a running vipd added from the node's own addresses")
    })?;
    own_address_problems_given(cfg, added, also_added)
}

/// [`own_address_problems`] with what the running daemons added already read (`added`).
fn own_address_problems_given(
    cfg: &Config,
    mut added: BTreeSet<AddedAddress>,
    also_added: &BTreeSet<AddedAddress>,
) -> Result<Vec<String>, String> {
    let netlink = Netlink::new().map_err(|e| format!("netlink: {e}"))?;
    let node = node_addresses(&netlink).map_err(|e| format!("reading addresses: {e}"))?;
    added.extend(also_added.iter().cloned());
    let links = netlink
        .all_links()
        .map_err(|e| format!("reading interfaces: {e}"))?;
    let here = |inst: &&config::Instance| {
        (inst.all_vips()).all(|vip| links.iter().any(|l| l.name == inst.vip_interface(vip)))
    };
    let instances = cfg.instances.iter().filter(here).map(|inst| {
        (
            inst.name.as_str(),
            inst.all_vips().map(|v| v.address).collect(),
        )
    });
    Ok(vip_state::own_address_conflicts(instances, &node, &added)
        .iter()
        .map(ToString::to_string)
        .collect())
}

/// [`own_address_problems`] for `vipd check`: for the vipd on `socket` that will run `cfg`,
/// which removes its earlier run's VIPs (and those of dead daemons) at start, or keeps its
/// own on reload. Without this, a running vipd's VIPs were taken for the node's own.
pub fn check_own_address_problems(
    cfg: &Config,
    state_dir: &Path,
    socket: &Path,
) -> Result<Vec<String>, String> {
    let recorded = vip_state::recorded_this_boot(state_dir).map_err(|e| {
        format!("{e}: cannot tell the VIPs vipd added from the node's own addresses")
    })?;
    own_address_problems(cfg, state_dir, socket, &recorded)
}

impl Daemon {
    /// At start: removes what earlier runs in this network namespace recorded and left behind
    /// (a killed vipd cannot clean up), then deletes their records.
    /// Returns what the other vipd running in this namespace added (read in the same pass,
    /// for [`Daemon::own_address_problems_at_start`]).
    pub(super) fn remove_leftovers(&mut self) -> BTreeSet<AddedAddress> {
        let (leftovers, running) = self.vip_state.read_at_start();
        for leftover in leftovers {
            for address in &leftover.addresses {
                let Ok(Some(ifindex)) = self.netlink.link_index(&address.interface) else {
                    continue; // the interface went, and the address with it
                };
                let present = self.netlink.addresses(ifindex).is_ok_and(|list| {
                    list.iter()
                        .any(|a| a.addr == address.address && a.prefix_len == address.prefix_len)
                });
                if !present {
                    continue;
                }
                match (self.netlink).delete_address(ifindex, address.address, address.prefix_len) {
                    Ok(()) => warn!("removed {address}: left behind by an earlier run"),
                    Err(e) => error!("cannot remove {address} left behind by an earlier run: {e}"),
                }
            }
            for rule in &leftover.rules {
                match self.netlink.delete_rule(rule) {
                    Ok(true) => warn!("removed rule {rule}: left behind by an earlier run"),
                    Ok(false) => {}
                    Err(e) => {
                        error!("cannot remove rule {rule} left behind by an earlier run: {e}")
                    }
                }
            }
            for route in &leftover.routes {
                let Ok(links) = super::routes::route_links(&self.netlink, route) else {
                    continue; // an interface went, and the route with it
                };
                match self.netlink.delete_route(route, &links) {
                    Ok(true) => warn!("removed route {route}: left behind by an earlier run"),
                    Ok(false) => {}
                    Err(e) => {
                        error!("cannot remove route {route} left behind by an earlier run: {e}")
                    }
                }
            }
            if leftover.file != self.vip_state.path() {
                if let Err(e) = std::fs::remove_file(&leftover.file) {
                    warn!("cannot remove {}: {e}", leftover.file.display());
                }
            }
        }
        if let Err(e) = self.vip_state.save() {
            warn!("{e}: VIPs added from now on cannot be found again after a crash");
        }
        running
    }

    /// [`Daemon::own_address_problems`] at start, with what running daemons added as
    /// [`Daemon::remove_leftovers`] read it.
    pub(super) fn own_address_problems_at_start(
        &self,
        running: BTreeSet<AddedAddress>,
    ) -> Result<(), String> {
        let problems =
            own_address_problems_given(&self.config, running, self.vip_state.addresses())?;
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    }

    /// The configured VIPs that are addresses of this node vipd did not add: an error naming
    /// each, for start and reload to refuse the configuration.
    pub(super) fn own_address_problems(&self, cfg: &Config) -> Result<(), String> {
        let problems = own_address_problems(
            cfg,
            self.vip_state.dir(),
            &self.socket_path,
            self.vip_state.addresses(),
        )?;
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    }
}

impl Daemon {
    /// Before a turn of actions: what every instance about to take over will add is recorded
    /// in one write per kind (hundreds of instances may take over at once, each write is the
    /// whole file), and forgets are written once at [`Daemon::end_vip_batch`].
    pub(super) fn reserve_takeovers(&mut self) {
        self.vip_state.defer_forgets();
        let takes_over =
            |index: usize| (self.routers.get(index)).filter(|router| router.fsm().adds_vips_soon());
        let routers: Vec<&super::Router> = match self.schedule.touched() {
            Some(touched) => (touched.iter())
                .filter_map(|&index| takes_over(index as usize))
                .collect(),
            None => (0..self.routers.len()).filter_map(takes_over).collect(),
        };
        // One instance alone reserves its own (`start_adding_vips`).
        if routers.len() < 2 {
            return;
        }
        let addresses: Vec<AddedAddress> = (routers.iter())
            .flat_map(|router| {
                let cfg = &router.cfg;
                cfg.all_vips()
                    .map(|vip| added_address(cfg.vip_interface(vip), vip))
            })
            .collect();
        let routes: Vec<config::Route> = (routers.iter())
            .flat_map(|router| router.cfg.routes.iter().cloned())
            .collect();
        let rules: Vec<config::Rule> = (routers.iter())
            .flat_map(|router| router.cfg.rules.iter().cloned())
            .collect();
        let state = &mut self.vip_state;
        reserve(state, "instances taking over", &addresses);
        reserve(state, "instances taking over", &routes);
        reserve(state, "instances taking over", &rules);
    }

    /// After a turn of actions: forgets what was reserved and not added, and writes the
    /// forgets made meanwhile.
    pub(super) fn end_vip_batch(&mut self) {
        // VIPs still being added stay reserved until they are in (see `vip_jobs`).
        if self.vip_jobs.is_empty() {
            if let Err(e) = self.vip_state.release_all() {
                warn!("{e}");
            }
        }
        if let Err(e) = self.vip_state.flush() {
            warn!("{e}: VIPs vipd removed are still on record");
        }
    }
}

/// Adds one VIP to its interface (`dev`, else the instance's) and records it, first, as added
/// by vipd. An address that is already there and that vipd did not add stays someone
/// else's: it is left alone and never removed. Failures are logged.
pub(super) fn add_vip(
    netlink: &Netlink,
    state: &mut VipState,
    instance: &config::Instance,
    vip: &config::Vip,
) {
    let interface = instance.vip_interface(vip);
    let metric = super::vmac::vip_route_metric(instance, vip);
    add_address(netlink, state, &instance.name, interface, vip, metric);
}

pub(super) fn reserve<T: Recorded + std::fmt::Display>(
    state: &mut VipState,
    owner: &str,
    items: &[T],
) {
    if let Err(e) = state.reserve(items.iter().cloned()) {
        let list: Vec<String> = items.iter().map(ToString::to_string).collect();
        warn!(
            "{owner}: {e}: {} cannot be found again after a crash",
            list.join(", ")
        );
    }
}

pub(super) fn release<T: Recorded>(state: &mut VipState, owner: &str, items: &[T]) {
    if let Err(e) = state.release(items) {
        warn!("{owner}: {e}");
    }
}

pub(super) fn added_address(ifname: &str, vip: &config::Vip) -> AddedAddress {
    AddedAddress {
        interface: ifname.to_string(),
        address: vip.address,
        prefix_len: vip.prefix_len,
    }
}

/// Adds `vip` to `ifname` for `owner` (an instance, or the static configuration) as
/// [`add_vip`] does, with the route metric given (`None`: the kernel's default).
pub(super) fn add_address(
    netlink: &Netlink,
    state: &mut VipState,
    owner: &str,
    ifname: &str,
    vip: &config::Vip,
    metric: Option<u32>,
) {
    let record = added_address(ifname, vip);
    let ifindex = match netlink.link_index(ifname) {
        Ok(Some(ifindex)) => ifindex,
        Ok(None) => {
            error!(
                "{owner}: cannot add {} to {ifname}: no such interface",
                vip.address
            );
            return;
        }
        Err(e) => {
            error!("{owner}: cannot add {} to {ifname}: {e}", vip.address);
            return;
        }
    };
    let naming = Naming {
        owner,
        what: vip.address.to_string(),
        interface: Some(ifname),
    };
    add_recorded(state, &record, &naming, || {
        super::vmac::add_address(netlink, ifindex, vip, metric)
    });
    if state.contains(&record) {
        state.note_link(&record, ifindex);
    }
}

/// Removes one VIP from its interface if vipd added it; an interface that is gone took the
/// VIP with it. The record goes once the address is gone.
pub(super) fn remove_vip(
    netlink: &Netlink,
    state: &mut VipState,
    instance: &config::Instance,
    vip: &config::Vip,
) {
    let interface = instance.vip_interface(vip);
    remove_address(netlink, state, &instance.name, interface, vip);
}

/// Removes `vip` from `ifname` for `owner` as [`remove_vip`] does.
pub(super) fn remove_address(
    netlink: &Netlink,
    state: &mut VipState,
    owner: &str,
    ifname: &str,
    vip: &config::Vip,
) {
    let record = added_address(ifname, vip);
    let naming = Naming {
        owner,
        what: vip.address.to_string(),
        interface: Some(ifname),
    };
    let added_to = state.link_of(&record);
    let removed = remove_recorded(state, &record, &naming, || {
        // From the link it went on: renamed since (down, rename, up faster than vipd heard
        // the down), it holds the address under another name; keepalived follows the
        // index too. A link that is gone took the address with it.
        if let Some(index) = added_to {
            match netlink.delete_address(index, vip.address, vip.prefix_len) {
                Err(e) if e.raw_os_error() == Some(libc::ENODEV) => {}
                other => return other,
            }
        }
        match netlink.link_index(ifname) {
            Ok(Some(ifindex)) if Some(ifindex) != added_to => {
                netlink.delete_address(ifindex, vip.address, vip.prefix_len)
            }
            _ => Ok(()),
        }
    });
    if !state.contains(&record) {
        state.forget_link(&record);
    }
    if !removed {
        tracing::debug!("{owner}: {record} was not added by vipd: left alone");
    }
}

/// How the log names something vipd adds for `owner`: `what` it is, and the interface it
/// goes on (none for routes and rules: "already there").
pub(super) struct Naming<'a> {
    pub owner: &'a str,
    pub what: String,
    pub interface: Option<&'a str>,
}

/// Records `item` (before it exists, so that a killed vipd's successor finds it), adds it
/// with `add` (`Ok(true)`: it was not there), and forgets it again when it was there already
/// without vipd having added it (someone else's: left alone, never removed) or when adding
/// failed. True when `add` put it in. Failures are logged.
pub(super) fn add_recorded<T: Recorded>(
    state: &mut VipState,
    item: &T,
    naming: &Naming,
    add: impl FnOnce() -> std::io::Result<bool>,
) -> bool {
    let (owner, what) = (naming.owner, &naming.what);
    let ours = state.contains(item);
    if !ours {
        if let Err(e) = state.record(item.clone()) {
            warn!("{owner}: {e}: {what} cannot be found again after a crash");
        }
    }
    match add() {
        Ok(true) => return true,
        Ok(false) if ours => {}
        Ok(false) => {
            forget(state, owner, item);
            let on = match naming.interface {
                Some(ifname) => format!("on {ifname}"),
                None => "there".to_string(),
            };
            warn!(
                "{owner}: {what} is already {on} and vipd did not add it: leaving it alone \
                 (vipd will not remove it)"
            );
        }
        Err(e) => {
            if !ours {
                forget(state, owner, item);
            }
            match naming.interface {
                Some(ifname) => error!("{owner}: cannot add {what} to {ifname}: {e}"),
                None => error!("{owner}: cannot add {what}: {e}"),
            }
        }
    }
    false
}

/// Deletes `item` with `delete` if vipd recorded it as added, and forgets it once it is
/// gone. False when vipd did not add it (nothing done). Failures are logged.
pub(super) fn remove_recorded<T: Recorded>(
    state: &mut VipState,
    item: &T,
    naming: &Naming,
    delete: impl FnOnce() -> std::io::Result<()>,
) -> bool {
    if !state.contains(item) {
        return false;
    }
    let (owner, what) = (naming.owner, &naming.what);
    if let Err(e) = delete() {
        match naming.interface {
            Some(ifname) => error!("{owner}: cannot remove {what} from {ifname}: {e}"),
            None => error!("{owner}: cannot remove {what}: {e}"),
        }
        return true;
    }
    forget(state, owner, item);
    true
}

fn forget<T: Recorded>(state: &mut VipState, owner: &str, item: &T) {
    if let Err(e) = state.forget(item) {
        warn!("{owner}: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(n: u32) -> AddedAddress {
        AddedAddress {
            interface: "eth0".to_string(),
            address: format!("2001:db8::{n:x}").parse().unwrap(),
            prefix_len: 128,
        }
    }

    #[test]
    fn reserved_vips_are_added_with_one_write_and_one_already_there_is_not_adopted() {
        let dir = std::env::temp_dir().join(format!("vipd-addresses-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut state = VipState::new(&dir, &dir.join("d.sock")).unwrap();
        let vips: Vec<AddedAddress> = (1..=100).map(address).collect();
        let naming = Naming {
            owner: "VI_1",
            what: "a VIP".to_string(),
            interface: Some("eth0"),
        };
        state.reserve(vips.iter().cloned()).unwrap();
        let path = state.path().to_path_buf();
        for (n, vip) in vips.iter().enumerate() {
            let on_disk = std::fs::read_to_string(&path).unwrap();
            // The last one was there already, put by someone else.
            let new = n + 1 < vips.len();
            let added = add_recorded(&mut state, vip, &naming, || {
                assert!(
                    on_disk.contains(&vip.address.to_string()),
                    "{vip} not on disk"
                );
                Ok(new)
            });
            assert_eq!(added, new);
        }
        state.release(&vips).unwrap();
        assert_eq!(
            state.writes(),
            2,
            "one to reserve, one to forget the foreign one"
        );
        let last = vips.last().unwrap();
        assert!(!state.contains(last), "someone else's address became ours");
        assert!(vips[..99].iter().all(|vip| state.contains(vip)));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
