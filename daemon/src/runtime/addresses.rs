//! Adding and removing VIPs, and only those vipd added (recorded in [`VipState`]): what an
//! earlier, killed run left behind goes at start; an address the node holds as its own is
//! refused as a VIP; anything else someone configured is left alone.

use std::collections::BTreeSet;
use std::path::Path;

use tracing::{error, warn};

use super::vip_state::{self, AddedAddress, VipState};
use super::Daemon;
use crate::config::{self, Config};
use crate::net::netlink::Netlink;

fn added_address(instance: &config::Instance, vip: &config::Vip) -> AddedAddress {
    AddedAddress {
        interface: instance.vip_interface(vip).to_string(),
        address: vip.address,
        prefix_len: vip.prefix_len,
    }
}

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
    let netlink = Netlink::new().map_err(|e| format!("netlink: {e}"))?;
    let node = node_addresses(&netlink).map_err(|e| format!("reading addresses: {e}"))?;
    let mut added = vip_state::added_by_running_daemons(state_dir, socket).map_err(|e| {
        format!("{e}: cannot tell the VIPs a running vipd added from the node's own addresses")
    })?;
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

impl Daemon {
    /// At start: removes what earlier runs in this network namespace recorded and left behind
    /// (a killed vipd cannot clean up), then deletes their records.
    pub(super) fn remove_leftovers(&mut self) {
        for leftover in self.vip_state.leftovers() {
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
            if leftover.file != self.vip_state.path() {
                if let Err(e) = std::fs::remove_file(&leftover.file) {
                    warn!("cannot remove {}: {e}", leftover.file.display());
                }
            }
        }
        if let Err(e) = self.vip_state.save() {
            warn!("{e}: VIPs added from now on cannot be found again after a crash");
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

/// Adds one VIP to its interface (`dev`, else the instance's) and records it, first, as added
/// by vipd. An address that is already there and that vipd did not add stays someone
/// else's: it is left alone and never removed. Failures are logged.
pub(super) fn add_vip(
    netlink: &Netlink,
    state: &mut VipState,
    instance: &config::Instance,
    vip: &config::Vip,
) {
    let record = added_address(instance, vip);
    let ifname = &record.interface;
    let ifindex = match netlink.link_index(ifname) {
        Ok(Some(ifindex)) => ifindex,
        Ok(None) => {
            error!(
                "{}: cannot add {} to {ifname}: no such interface",
                instance.name, vip.address
            );
            return;
        }
        Err(e) => {
            error!(
                "{}: cannot add {} to {ifname}: {e}",
                instance.name, vip.address
            );
            return;
        }
    };
    let ours = state.contains(&record);
    if !ours {
        if let Err(e) = state.record(record.clone()) {
            warn!(
                "{}: {e}: {} cannot be found again after a crash",
                instance.name, vip.address
            );
        }
    }
    match netlink.add_address(ifindex, vip.address, vip.prefix_len, vip.label.as_deref()) {
        Ok(true) => {}
        Ok(false) if ours => {}
        Ok(false) => {
            forget(state, instance, &record);
            warn!(
                "{}: {} is already on {ifname} and vipd did not add it: leaving it alone (vipd \
                 will not remove it)",
                instance.name, vip.address
            );
        }
        Err(e) => {
            if !ours {
                forget(state, instance, &record);
            }
            error!(
                "{}: cannot add {} to {ifname}: {e}",
                instance.name, vip.address
            );
        }
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
    let record = added_address(instance, vip);
    if !state.contains(&record) {
        tracing::debug!(
            "{}: {} was not added by vipd: left alone",
            instance.name,
            record
        );
        return;
    }
    if let Ok(Some(ifindex)) = netlink.link_index(&record.interface) {
        if let Err(e) = netlink.delete_address(ifindex, vip.address, vip.prefix_len) {
            error!(
                "{}: cannot remove {} from {}: {e}",
                instance.name, vip.address, record.interface
            );
            return;
        }
    }
    forget(state, instance, &record);
}

fn forget(state: &mut VipState, instance: &config::Instance, record: &AddedAddress) {
    if let Err(e) = state.forget(record) {
        warn!("{}: {e}", instance.name);
    }
}
