//! The VMAC of each instance that has one (see `net::vmac` for what vipd does and why):
//! created when the instance's interface is there, up while the instance is master (or holds
//! its VIPs), down otherwise, created again when deleted, removed when the instance goes.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use tracing::{error, info, warn};

use super::addresses::add_vip;
use super::router::Router;
use super::Daemon;
use crate::config;
use crate::net::link;
use crate::net::socket::VrrpSocket;
use crate::net::vmac::{self, mac_text};
use crate::vrrp::instance::Action;

/// One instance's VMAC at run time.
pub(super) struct VmacState {
    pub name: String,
    pub mac: [u8; 6],
    /// Index of the macvlan while it exists.
    pub index: Option<u32>,
    /// The interface it was created on.
    pub parent: Option<u32>,
    /// Set up by vipd (the instance is master or holds its VIPs).
    pub up: bool,
    /// Sends adverts from the VMAC (None with `vmac_xmit_base` or unicast peers).
    pub sender: Option<Arc<VrrpSocket>>,
    /// Why the VMAC could not be set up (the instance is in FAULT meanwhile).
    pub error: Option<String>,
}

impl VmacState {
    pub fn of(cfg: &config::Instance) -> Option<VmacState> {
        let vmac = cfg.vmac.as_ref()?;
        Some(VmacState {
            name: vmac.interface.clone(),
            mac: vmac.mac_for(cfg.vrid, cfg.is_ipv6()).0,
            index: None,
            parent: None,
            up: false,
            sender: None,
            error: None,
        })
    }
}

/// An interface whose IPv4 ARP settings vipd changed for the VMACs on it.
#[derive(Debug, Default)]
pub(super) struct ParentClaim {
    /// Values before the change.
    saved: Vec<(u16, u32)>,
    /// VMACs (by name) that need the change.
    users: BTreeSet<String>,
}

pub(super) type ParentClaims = BTreeMap<u32, ParentClaim>;

/// The socket adverts of `router` leave from: its VMAC's while the VMAC is up, else none
/// (the shared socket on the instance's interface).
pub(super) fn advert_sender(router: &Router) -> Option<Arc<VrrpSocket>> {
    let vmac = router.vmac.as_ref()?;
    if router.cfg.sends_from_base() || !vmac.up {
        return None;
    }
    vmac.sender.clone()
}

/// True when `ifindex` is the instance's VMAC.
pub(super) fn holds_index(router: &Router, ifindex: u32) -> bool {
    router
        .vmac
        .as_ref()
        .is_some_and(|v| v.index == Some(ifindex))
}

/// Route metric of the prefix route of a VIP on a VMAC: worse than the kernel's own prefix
/// routes (0 for IPv4, 256 for IPv6), so traffic from the master leaves through the parent
/// whenever the parent is on the VIP's subnet. Only the master's ARP/NDP answers, gratuitous
/// ARPs/NAs and adverts then carry the virtual MAC as source; a reply sent from the VMAC
/// while a new master takes over would teach the switches the old master's port again.
pub(super) const VMAC_ROUTE_METRIC: u32 = 1024;

/// The route metric a VIP gets: VIPs on the instance's VMAC get [`VMAC_ROUTE_METRIC`] so
/// that the parent's own prefix route keeps winning; others the kernel's default.
pub(super) fn vip_route_metric(instance: &config::Instance, vip: &config::Vip) -> Option<u32> {
    let on_vmac = instance
        .vmac_interface()
        .is_some_and(|name| instance.vip_interface(vip) == name);
    on_vmac.then_some(VMAC_ROUTE_METRIC)
}

/// Adds an address with the metric of [`vip_route_metric`], if any.
pub(super) fn add_address(
    netlink: &crate::net::netlink::Netlink,
    ifindex: u32,
    vip: &config::Vip,
    metric: Option<u32>,
) -> std::io::Result<bool> {
    match metric {
        Some(metric) => link::add_address_with_metric(
            netlink,
            ifindex,
            vip.address,
            vip.prefix_len,
            vip.label.as_deref(),
            metric,
        ),
        None => netlink.add_address(ifindex, vip.address, vip.prefix_len, vip.label.as_deref()),
    }
}

/// False while the instance's VMAC is missing: it cannot hold its VIPs (FAULT).
pub(super) fn is_ready(router: &Router) -> bool {
    router.vmac.as_ref().is_none_or(|v| v.index.is_some())
}

/// Strict reverse-path filtering drops traffic to VIPs on a VMAC (the reverse route to a
/// client goes through the parent). `all.rp_filter` cannot be changed over netlink, and
/// vipd leaves global settings alone; under the hardened unit /proc/sys is not visible and
/// this stays silent (REFERENCE.md says it).
fn warn_about_strict_rp_filter(instance: &str, vmac: &str) {
    let all = std::fs::read_to_string("/proc/sys/net/ipv4/conf/all/rp_filter");
    if all.is_ok_and(|v| v.trim() == "1") {
        warn!(
            "{instance}: net.ipv4.conf.all.rp_filter is 1 (strict): the kernel drops traffic \
             to the VIPs on VMAC {vmac}; set it to 2 (loose)"
        );
    }
}

impl Daemon {
    /// Creates the VMAC of instance `index` if it has one and it does not exist yet; needs the
    /// instance's interface (index `parent`). Errors are logged once per change of wording.
    pub(super) fn ensure_vmac(&mut self, index: usize, parent: u32) {
        let Some(router) = self.routers.get(index) else {
            return;
        };
        let Some(state) = &router.vmac else {
            return;
        };
        if state.index.is_some() {
            return;
        }
        let (name, mac) = (state.name.clone(), state.mac);
        let ipv6 = router.cfg.is_ipv6();
        let family = router.key.family();
        let needs_sender = !router.cfg.sends_from_base();
        let result = match link::by_index(&self.netlink, parent) {
            Ok(Some(parent_link)) => vmac::create(&self.netlink, &name, &parent_link, mac)
                .map(|vmac_index| (vmac_index, parent_link)),
            Ok(None) => Err(vmac::VmacError(format!(
                "cannot create VMAC {name}: its interface is gone"
            ))),
            Err(e) => Err(vmac::VmacError(format!(
                "cannot create VMAC {name}: reading interface: {e}"
            ))),
        };
        let (vmac_index, parent_link) = match result {
            Ok(created) => created,
            Err(e) => {
                if let Some(router) = self.routers.get_mut(index) {
                    let instance = &router.cfg.name;
                    if let Some(state) = router.vmac.as_mut() {
                        // Logged once per wording: retries come with every link change.
                        if state.error.as_deref() != Some(e.0.as_str()) {
                            error!("{instance}: {e}; the instance stays in FAULT");
                        }
                        state.error = Some(e.0);
                    }
                }
                return;
            }
        };
        if !ipv6 {
            self.claim_parent(&parent_link, &name);
            warn_about_strict_rp_filter(&self.routers[index].cfg.name, &name);
        }
        let sender = if needs_sender {
            match VrrpSocket::open_sender(&name, family) {
                Ok(socket) => Some(Arc::new(socket)),
                Err(e) => {
                    warn!("{name}: cannot send adverts from the VMAC, using its interface: {e}");
                    None
                }
            }
        } else {
            None
        };
        let Some(router) = self.routers.get_mut(index) else {
            return;
        };
        info!(
            "{}: created VMAC {name} on {} with MAC {}",
            router.cfg.name,
            parent_link.name,
            mac_text(mac)
        );
        if let Some(state) = router.vmac.as_mut() {
            state.index = Some(vmac_index);
            state.parent = Some(parent_link.index);
            state.up = false;
            state.sender = sender;
            state.error = None;
        }
    }

    /// Gives the parent of an IPv4 VMAC its ARP settings, remembering the old values.
    fn claim_parent(&mut self, parent: &link::LinkDetails, vmac_name: &str) {
        let claim = self.vmac_parents.entry(parent.index).or_default();
        if claim.users.is_empty() {
            claim.saved = vmac::saved_parent_conf(parent);
            if let Err(e) =
                link::set_ipv4_conf(&self.netlink, parent.index, &vmac::PARENT_IPV4_CONF)
            {
                warn!(
                    "{}: cannot set arp_ignore/arp_filter/arp_announce: {e}; it may answer ARP \
                     for VIPs on its VMACs",
                    parent.name
                );
            }
        }
        claim.users.insert(vmac_name.to_string());
    }

    fn release_parent(&mut self, parent: u32, vmac_name: &str) {
        let Some(claim) = self.vmac_parents.get_mut(&parent) else {
            return;
        };
        claim.users.remove(vmac_name);
        if claim.users.is_empty() {
            let saved = std::mem::take(&mut claim.saved);
            self.vmac_parents.remove(&parent);
            if !saved.is_empty() {
                if let Err(e) = link::set_ipv4_conf(&self.netlink, parent, &saved) {
                    warn!("interface {parent}: cannot restore its ARP settings: {e}");
                }
            }
        }
    }

    /// Brings the VMAC up before the VIPs are added, and down before they go: removing an IPv6 address from an up interface sends an MLD
    /// report from the virtual MAC, which would teach the switches this port again after
    /// the new master announced itself.
    pub(super) fn vmac_before(&mut self, index: usize, action: &Action) {
        // Up with the VIPs, not with a new master's first advert (which comes first): the
        // first frame from the virtual MAC moves the switches' entry to this port, so it must
        // not leave before the VIPs are there to answer.
        match action {
            Action::AddVips => self.vmac_up(index),
            Action::RemoveVips => self.vmac_down(index),
            _ => {}
        }
    }

    fn vmac_down(&mut self, index: usize) {
        let Some(state) = self.routers.get_mut(index).and_then(|r| r.vmac.as_mut()) else {
            return;
        };
        let (Some(vmac_index), true) = (state.index, state.up) else {
            return;
        };
        state.up = false;
        let vmac_name = state.name.clone();
        if let Err(e) = link::set_up(&self.netlink, vmac_index, false) {
            let name = &self.routers[index].cfg.name;
            warn!("{name}: cannot take VMAC {vmac_name} down: {e}");
        }
    }

    fn vmac_up(&mut self, index: usize) {
        let Some(router) = self.routers.get_mut(index) else {
            return;
        };
        let source = router.source;
        let name = router.cfg.name.clone();
        let Some(state) = router.vmac.as_mut() else {
            return;
        };
        let (Some(vmac_index), false) = (state.index, state.up) else {
            return;
        };
        state.up = true;
        let vmac_name = state.name.clone();
        if let Err(e) = link::set_up(&self.netlink, vmac_index, true) {
            error!("{name}: cannot bring VMAC {vmac_name} up: {e}");
        }
        // IPv6 adverts and neighbour advertisements leave from the parent's link-local
        // address, which must be on the VMAC for the kernel to send from it.
        if let Some(IpAddr::V6(link_local)) = source {
            if let Err(e) = self
                .netlink
                .add_address(vmac_index, IpAddr::V6(link_local), 64, None)
            {
                warn!("{name}: cannot add {link_local} to VMAC {vmac_name}: {e}");
            }
        }
    }

    /// Someone deleted a VMAC (or its interface went): make it again, and give a master its
    /// VIPs back on it.
    pub(super) fn on_link_removed_for_vmacs(&mut self, ifindex: u32, now: Instant) {
        for index in 0..self.routers.len() {
            let Some(state) = self.routers[index].vmac.as_mut() else {
                continue;
            };
            if state.index == Some(ifindex) {
                state.index = None;
                state.up = false;
                state.sender = None;
                let (name, parent) = (state.name.clone(), state.parent.take());
                warn!(
                    "{}: VMAC {name} was deleted: creating it again",
                    self.routers[index].cfg.name
                );
                if let Some(parent) = parent {
                    self.release_parent(parent, &name);
                }
            }
        }
        self.retry_vmacs(now);
    }

    /// Every instance whose VMAC is missing tries again (its name may be free now).
    pub(super) fn retry_vmacs(&mut self, now: Instant) {
        let mut restored = Vec::new();
        for index in 0..self.routers.len() {
            let router = &self.routers[index];
            if router.vmac.as_ref().is_none_or(|v| v.index.is_some()) {
                continue;
            }
            let Ok(Some(parent)) = self.netlink.link_index(&router.key.interface) else {
                continue;
            };
            self.ensure_vmac(index, parent);
            let router = &self.routers[index];
            if router.vips_installed && is_ready(router) {
                restored.push(index);
            }
        }
        for index in restored {
            self.vmac_up(index);
            let router = &self.routers[index];
            for vip in router.cfg.all_vips() {
                add_vip(&self.netlink, &mut self.vip_state, &router.cfg, vip);
            }
            self.announce_once(index);
        }
        self.apply_faults(now);
    }

    /// A VMAC vipd brought up was taken down by someone else: up again.
    pub(super) fn on_link_changed_for_vmacs(&mut self, name: &str) {
        let Some(index) = self
            .routers
            .iter()
            .position(|r| r.vmac.as_ref().is_some_and(|v| v.name == name && v.up))
        else {
            return;
        };
        let Some(vmac_index) = self.routers[index].vmac.as_ref().and_then(|v| v.index) else {
            return;
        };
        if let Ok(Some(link)) = link::by_index(&self.netlink, vmac_index) {
            if !link.admin_up {
                warn!(
                    "{}: VMAC {name} was set down while in use: setting it up again",
                    self.routers[index].cfg.name
                );
                if let Err(e) = link::set_up(&self.netlink, vmac_index, true) {
                    error!("{}: {name}: {e}", self.routers[index].cfg.name);
                }
            }
        }
    }

    /// Deletes the VMACs of the current instances (at stop, or of instances a reload
    /// retires) and restores their parents' settings.
    pub(super) fn release_vmacs(&mut self) {
        for index in 0..self.routers.len() {
            let Some(state) = self.routers[index].vmac.as_mut() else {
                continue;
            };
            let (Some(vmac_index), name, parent) =
                (state.index.take(), state.name.clone(), state.parent.take())
            else {
                continue;
            };
            state.up = false;
            state.sender = None;
            match link::delete(&self.netlink, vmac_index) {
                Ok(()) => info!("{}: removed VMAC {name}", self.routers[index].cfg.name),
                Err(e) => warn!(
                    "{}: cannot remove VMAC {name}: {e}",
                    self.routers[index].cfg.name
                ),
            }
            if let Some(parent) = parent {
                self.release_parent(parent, &name);
            }
        }
    }
}
