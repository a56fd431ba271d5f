//! The VMACs and ipvlan of each instance that has them (see `net::vmac` for what vipd does
//! and why): created when their interface is there, a VMAC up while the instance is master
//! (or holds its VIPs) and down otherwise, an ipvlan up throughout; created again when
//! deleted, removed when the instance goes.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use tracing::{debug, error, info, warn};

use super::addresses::add_vip;
use super::router::Router;
use super::Daemon;
use crate::config;
use crate::net::link;
use crate::net::socket::VrrpSocket;
use crate::net::vmac::{self, mac_text};
use crate::vrrp::instance::Action;

/// What kind of interface vipd makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A VMAC: a macvlan with this MAC.
    Macvlan { mac: [u8; 6] },
    /// An L2 ipvlan with these IPVLAN_F_* flags and its own address.
    Ipvlan {
        flags: u16,
        address: Option<config::IfAddress>,
    },
}

/// One interface vipd makes for an instance, at run time.
pub(super) struct VmacState {
    pub name: String,
    /// The interface it goes on (the instance's, or a VIP's `dev`).
    pub parent_name: String,
    pub kind: Kind,
    /// Index of the link while it exists.
    pub index: Option<u32>,
    /// The interface it was created on.
    pub parent: Option<u32>,
    /// The device the kernel put it on when that is not `parent`: a macvlan made on a
    /// macvlan sits on that one's lower device, which gets the parent's ARP settings too.
    lower: Option<u32>,
    /// Set up by vipd (a VMAC: the instance is master or holds its VIPs; an ipvlan: always).
    pub up: bool,
    /// Sends adverts from the VMAC (None with `vmac_xmit_base` or unicast peers, and for
    /// the VMACs of VIPs and ipvlans).
    pub sender: Option<Arc<VrrpSocket>>,
    /// Why it could not be set up (the instance is in FAULT meanwhile).
    pub error: Option<String>,
    /// Until when a new master sends a gratuitous ARP/NA from it with each advert (see
    /// [`Daemon::refresh_station_learning`]).
    learning_until: Option<Instant>,
    /// How it was quieted for an answered handover (see [`Daemon::vmac_quiet`]).
    quieted: Quieted,
}

/// How a VMAC was quieted for an answered handover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quieted {
    No,
    /// `arp_ignore` set to [`vmac::QUIET_ARP_IGNORE`] (IPv4 addresses only).
    ArpIgnore,
    /// Taken down (it holds IPv6 addresses).
    Down,
}

impl VmacState {
    fn new(name: &str, parent_name: &str, kind: Kind) -> VmacState {
        VmacState {
            name: name.to_string(),
            parent_name: parent_name.to_string(),
            kind,
            index: None,
            parent: None,
            lower: None,
            up: false,
            sender: None,
            error: None,
            learning_until: None,
            quieted: Quieted::No,
        }
    }

    /// The instance's own VMAC or ipvlan.
    pub fn of(cfg: &config::Instance) -> Option<VmacState> {
        if let Some(vmac) = cfg.vmac.as_ref() {
            let mac = vmac.mac_for(cfg.vrid, cfg.is_ipv6()).0;
            return Some(VmacState::new(
                &vmac.interface,
                &cfg.interface,
                Kind::Macvlan { mac },
            ));
        }
        let ipvlan = cfg.ipvlan.as_ref()?;
        let flags = match ipvlan.mode {
            config::IpvlanMode::Bridge => 0,
            config::IpvlanMode::Private => 1,
            config::IpvlanMode::Vepa => 2,
        };
        Some(VmacState::new(
            &ipvlan.interface,
            &cfg.interface,
            Kind::Ipvlan {
                flags,
                address: ipvlan.address,
            },
        ))
    }

    /// The VMACs of the instance's VIPs with `use_vmac`, with the instance's virtual MAC
    /// (keepalived gives them the same one).
    pub fn for_vips(cfg: &config::Instance) -> Vec<VmacState> {
        let mac = match &cfg.vmac {
            Some(vmac) => vmac.mac_for(cfg.vrid, cfg.is_ipv6()),
            None => config::MacAddr::virtual_router(cfg.vrid, cfg.is_ipv6()),
        };
        (cfg.vip_vmacs.iter())
            .map(|(parent, name)| VmacState::new(name, parent, Kind::Macvlan { mac: mac.0 }))
            .collect()
    }

    fn is_ipvlan(&self) -> bool {
        matches!(self.kind, Kind::Ipvlan { .. })
    }
}

/// Every interface vipd makes for `router`: its own VMAC or ipvlan first.
fn states(router: &Router) -> impl Iterator<Item = &VmacState> {
    router.vmac.iter().chain(router.vip_vmacs.iter())
}

fn states_mut(router: &mut Router) -> impl Iterator<Item = &mut VmacState> {
    router.vmac.iter_mut().chain(router.vip_vmacs.iter_mut())
}

/// Which of a router's interfaces: its own (None) or the VMAC of VIPs number N.
type Slot = Option<usize>;

fn state_mut(router: &mut Router, slot: Slot) -> Option<&mut VmacState> {
    match slot {
        None => router.vmac.as_mut(),
        Some(n) => router.vip_vmacs.get_mut(n),
    }
}

fn slots(router: &Router) -> Vec<Slot> {
    let own = router.vmac.as_ref().map(|_| None);
    own.into_iter()
        .chain((0..router.vip_vmacs.len()).map(Some))
        .collect()
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

/// The source of adverts of an instance on an ipvlan with an address (keepalived sends from
/// it unless `mcast_src_ip`/`unicast_src_ip` says otherwise). They leave through the
/// instance's interface, whose MAC the ipvlan shares, so the wire sees what keepalived sends.
pub(super) fn ipvlan_source(cfg: &config::Instance) -> Option<IpAddr> {
    cfg.ipvlan_interface()?;
    if cfg.source_address.is_some() {
        return None;
    }
    cfg.ipvlan.as_ref()?.address.map(|a| a.address)
}

/// True when `ifindex` is one of the instance's VMACs or its ipvlan.
pub(super) fn holds_index(router: &Router, ifindex: u32) -> bool {
    states(router).any(|v| v.index == Some(ifindex))
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
    let interface = instance.vip_interface(vip);
    let on_vmac = instance.vmac_interface() == Some(interface)
        || instance.vip_vmacs.values().any(|name| name == interface);
    on_vmac.then_some(VMAC_ROUTE_METRIC)
}

/// Adds an address with the metric of [`vip_route_metric`], if any.
pub(super) fn add_address(
    netlink: &crate::net::netlink::Netlink,
    ifindex: u32,
    vip: &config::Vip,
    metric: Option<u32>,
) -> std::io::Result<bool> {
    let options = crate::net::netlink::AddressOptions {
        label: vip.label.as_deref(),
        broadcast: vip.broadcast,
        scope: vip.scope.map_or(0, kernel_scope),
        metric,
    };
    netlink.add_address_with(ifindex, vip.address, vip.prefix_len, &options)
}

/// The kernel's number of an address scope (`RT_SCOPE_*`).
fn kernel_scope(scope: config::Scope) -> u8 {
    match scope {
        config::Scope::Global => 0,
        config::Scope::Site => 200,
        config::Scope::Link => 253,
        config::Scope::Host => 254,
        config::Scope::Nowhere => 255,
    }
}

/// False while one of the instance's VMACs (or its ipvlan) is missing: it cannot hold its
/// VIPs (FAULT).
pub(super) fn is_ready(router: &Router) -> bool {
    states(router).all(|v| v.index.is_some())
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
    /// Creates the instance's VMACs and ipvlan that do not exist yet; `parent` is the index
    /// of the instance's interface, the VMACs of VIPs look theirs up by name. Errors are
    /// logged once per change of wording.
    pub(super) fn ensure_vmac(&mut self, index: usize, parent: u32) {
        let Some(router) = self.routers.get(index) else {
            return;
        };
        for slot in slots(router) {
            let parent = match slot {
                None => Some(parent),
                Some(n) => {
                    let name = &self.routers[index].vip_vmacs[n].parent_name;
                    self.netlink.link_index(name).ok().flatten()
                }
            };
            if let Some(parent) = parent {
                self.ensure_one(index, slot, parent);
            }
        }
    }

    fn ensure_one(&mut self, index: usize, slot: Slot, parent: u32) {
        let Some(router) = self.routers.get_mut(index) else {
            return;
        };
        let ipv6 = router.cfg.is_ipv6();
        let family = router.key.family();
        let needs_sender = slot.is_none() && !router.cfg.sends_from_base();
        let Some(state) = state_mut(router, slot) else {
            return;
        };
        if state.index.is_some() {
            return;
        }
        let (name, kind) = (state.name.clone(), state.kind);
        let what = if state.is_ipvlan() { "ipvlan" } else { "VMAC" };
        let result = match link::by_index(&self.netlink, parent) {
            // keepalived 2.2.7 holds such an instance in FAULT too.
            Ok(Some(_)) if matches!(kind, Kind::Ipvlan { address: None, .. }) && !ipv6 => {
                Err(vmac::VmacError(format!(
                    "ipvlan {name} has no address to send IPv4 adverts from"
                )))
            }
            Ok(Some(parent_link)) => match kind {
                Kind::Macvlan { mac } => vmac::create(&self.netlink, &name, &parent_link, mac),
                Kind::Ipvlan { flags, .. } => {
                    vmac::create_ipvlan(&self.netlink, &name, &parent_link, flags, ipv6)
                }
            }
            .map(|vmac_index| (vmac_index, parent_link)),
            Ok(None) => Err(vmac::VmacError(format!(
                "cannot create {what} {name}: its interface is gone"
            ))),
            Err(e) => Err(vmac::VmacError(format!(
                "cannot create {what} {name}: reading interface: {e}"
            ))),
        };
        let (vmac_index, parent_link) = match result {
            Ok(created) => created,
            Err(e) => {
                if let Some(router) = self.routers.get_mut(index) {
                    let instance = router.cfg.name.clone();
                    if let Some(state) = state_mut(router, slot) {
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
        let instance = self.routers[index].cfg.name.clone();
        let mut up = false;
        let mut lower = None;
        match kind {
            Kind::Macvlan { mac } => {
                if !ipv6 {
                    self.claim_parent(&parent_link, &name);
                    // On a macvlan `interface` the VMAC lands on its lower device, which
                    // hears the clients' ARP requests for the VIPs and, left as it is,
                    // answers them with its own MAC (keepalived 2.2.7 does).
                    lower = link::by_index(&self.netlink, vmac_index)
                        .ok()
                        .flatten()
                        .and_then(|l| l.parent)
                        .filter(|p| *p != parent_link.index)
                        .and_then(|p| link::by_index(&self.netlink, p).ok().flatten());
                    if let Some(lower) = &lower {
                        self.claim_parent(lower, &name);
                    }
                    warn_about_strict_rp_filter(&instance, &name);
                }
                info!(
                    "{instance}: created VMAC {name} on {} with MAC {}",
                    parent_link.name,
                    mac_text(mac)
                );
            }
            Kind::Ipvlan { address, .. } => {
                // Up at once and for good, as keepalived: its own address must answer.
                if let Err(e) = link::set_up(&self.netlink, vmac_index, true) {
                    error!("{instance}: cannot bring ipvlan {name} up: {e}");
                }
                up = true;
                if let Some(a) = address {
                    if let Err(e) =
                        self.netlink
                            .add_address(vmac_index, a.address, a.prefix_len, None)
                    {
                        error!("{instance}: cannot add {a} to ipvlan {name}: {e}");
                    }
                }
                info!("{instance}: created ipvlan {name} on {}", parent_link.name);
            }
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
        if let Some(state) = state_mut(router, slot) {
            state.index = Some(vmac_index);
            state.parent = Some(parent_link.index);
            state.lower = lower.map(|l| l.index);
            state.up = up;
            state.sender = sender;
            state.error = None;
            state.quieted = Quieted::No;
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

    /// Brings the VMACs up before the VIPs are added, and down before they go: removing an
    /// IPv6 address from an up interface sends an MLD report from the virtual MAC, which
    /// would teach the switches this port again after the new master announced itself.
    pub(super) fn vmac_before(&mut self, index: usize, action: &Action) {
        // Up with the VIPs, not with a new master's first advert (which comes first): the
        // first frame from the virtual MAC moves the switches' entry to this port, so it must
        // not leave before the VIPs are there to answer.
        match action {
            Action::AddVips => self.vmac_up(index),
            Action::RemoveVips => self.vmac_down(index),
            Action::QuietVips => self.vmac_quiet(index, true),
            Action::UnquietVips => self.vmac_quiet(index, false),
            _ => {}
        }
    }

    /// An answered handover: until the VIPs go, nothing may leave from the VMACs (an ARP or
    /// NDP answer, an MLD report), or the switches would send the VIPs' traffic back to this
    /// port until the new master's next advert. A VMAC with only IPv4 addresses stops
    /// answering ARP and keeps answering traffic; one with IPv6 addresses goes down (see
    /// `net::vmac`). `quiet` false undoes it: the instance stays master.
    fn vmac_quiet(&mut self, index: usize, quiet: bool) {
        let Some(router) = self.routers.get_mut(index) else {
            return;
        };
        let instance = router.cfg.name.clone();
        let mut readd = false;
        for slot in slots(router) {
            let holds_ipv6 = {
                let name = match slot {
                    None => router.vmac.as_ref().map(|v| v.name.as_str()),
                    Some(n) => router.vip_vmacs.get(n).map(|v| v.name.as_str()),
                };
                (slot.is_none() && router.cfg.is_ipv6())
                    || (router.cfg.all_vips()).any(|vip| {
                        vip.address.is_ipv6() && Some(router.cfg.vip_interface(vip)) == name
                    })
            };
            let Some(state) = state_mut(router, slot) else {
                continue;
            };
            let Some(vmac_index) = state.index.filter(|_| !state.is_ipvlan()) else {
                continue;
            };
            let result = match (quiet, state.quieted) {
                (true, Quieted::No) if state.up && holds_ipv6 => {
                    state.up = false;
                    state.quieted = Quieted::Down;
                    link::set_up(&self.netlink, vmac_index, false)
                }
                (true, Quieted::No) if state.up => {
                    state.quieted = Quieted::ArpIgnore;
                    link::set_ipv4_conf(&self.netlink, vmac_index, &[vmac::QUIET_ARP_IGNORE])
                }
                (false, Quieted::ArpIgnore) => {
                    state.quieted = Quieted::No;
                    link::set_ipv4_conf(&self.netlink, vmac_index, &[vmac::SERVING_ARP_IGNORE])
                }
                (false, Quieted::Down) => {
                    state.quieted = Quieted::No;
                    readd = true;
                    Ok(())
                }
                _ => Ok(()),
            };
            if let Err(e) = result {
                warn!("{instance}: VMAC {}: {e}", state.name);
            }
        }
        if readd {
            // Up again with its VIPs (the kernel drops IPv6 addresses of a down interface
            // unless keep_addr_on_down); the core announces them next.
            self.vmac_up(index);
            let router = &self.routers[index];
            for vip in router.cfg.all_vips() {
                add_vip(&self.netlink, &mut self.vip_state, &router.cfg, vip);
            }
        }
    }

    fn vmac_down(&mut self, index: usize) {
        let Some(router) = self.routers.get_mut(index) else {
            return;
        };
        let name = router.cfg.name.clone();
        let mut down = Vec::new();
        for state in states_mut(router) {
            // An ipvlan stays up: its own address is not the master's to give up.
            if let (Some(vmac_index), true, false) = (state.index, state.up, state.is_ipvlan()) {
                state.up = false;
                down.push((vmac_index, state.name.clone()));
            }
        }
        for (vmac_index, vmac_name) in down {
            if let Err(e) = link::set_up(&self.netlink, vmac_index, false) {
                warn!("{name}: cannot take VMAC {vmac_name} down: {e}");
            }
        }
    }

    fn vmac_up(&mut self, index: usize) {
        let Some(router) = self.routers.get_mut(index) else {
            return;
        };
        // keepalived 2.2.7 puts nothing but the VIPs on a VMAC adverts do not leave from
        // (`vmac_xmit_base`, unicast peers): not the unicast source either (corpus run).
        let source = router.source.filter(|_| !router.cfg.sends_from_base());
        let name = router.cfg.name.clone();
        let own_index = router.vmac.as_ref().and_then(|v| v.index);
        let mut up = Vec::new();
        let mut loud = Vec::new();
        for state in states_mut(router) {
            if state.quieted == Quieted::ArpIgnore {
                loud.extend(state.index);
            }
            state.quieted = Quieted::No;
            if let (Some(vmac_index), false) = (state.index, state.up) {
                state.up = true;
                up.push((vmac_index, state.name.clone()));
            }
        }
        for vmac_index in loud {
            if let Err(e) =
                link::set_ipv4_conf(&self.netlink, vmac_index, &[vmac::SERVING_ARP_IGNORE])
            {
                warn!("{name}: cannot restore arp_ignore of a VMAC: {e}");
            }
        }
        for (vmac_index, vmac_name) in up {
            if let Err(e) = link::set_up(&self.netlink, vmac_index, true) {
                error!("{name}: cannot bring VMAC {vmac_name} up: {e}");
            }
            // IPv6 adverts and neighbour advertisements leave from the parent's link-local
            // address, which must be on the instance's VMAC for the kernel to send from it.
            if let (Some(IpAddr::V6(link_local)), true) = (source, own_index == Some(vmac_index)) {
                if let Err(e) =
                    self.netlink
                        .add_address(vmac_index, IpAddr::V6(link_local), 64, None)
                {
                    warn!("{name}: cannot add {link_local} to VMAC {vmac_name}: {e}");
                }
            }
        }
    }

    /// A new master: until its second burst of announcements (`garp_master_delay`), the
    /// VMACs no advert leaves from get a gratuitous ARP/NA with each advert.
    pub(super) fn start_station_learning(&mut self, index: usize, now: Instant) {
        let Some(router) = self.routers.get_mut(index) else {
            return;
        };
        let until = now.checked_add(router.cfg.garp(&self.config.global).master_delay);
        for state in states_mut(router) {
            state.learning_until = until;
        }
    }

    /// One gratuitous ARP / unsolicited NA from each VMAC of a new master that no advert
    /// leaves from (the VMACs of VIPs on other interfaces; the instance's own with
    /// `vmac_xmit_base` or unicast peers), with each advert until its second burst. A
    /// previous master that had not let go yet answers the first announcements, ARP
    /// requests for its own address, from the same virtual MAC, and the switches learn its
    /// port last; adverts from the instance's own VMAC set that right within an interval
    /// (RFC 5798 2.4), these do the same for the others, instead of `garp_master_delay` later.
    pub(super) fn refresh_station_learning(&mut self, index: usize, now: Instant) {
        let Some(router) = self.routers.get(index) else {
            return;
        };
        if !router.vips_installed {
            return;
        }
        let advert_vmac = advert_sender(router).and(router.vmac.as_ref().and_then(|v| v.index));
        let frames: Vec<(u32, IpAddr)> = states(router)
            .filter(|v| !v.is_ipvlan() && v.up && v.learning_until.is_some_and(|t| now < t))
            .filter_map(|v| {
                let vmac_index = v.index.filter(|i| Some(*i) != advert_vmac)?;
                let vip =
                    (router.cfg.all_vips()).find(|vip| router.cfg.vip_interface(vip) == v.name)?;
                Some((vmac_index, vip.address))
            })
            .collect();
        let Some(announcer) = &self.announcer else {
            return;
        };
        for (vmac_index, address) in frames {
            if let Err(e) = announcer.send(vmac_index, address) {
                debug!("{}: announcing {address}: {e}", router.cfg.name);
            }
        }
    }

    /// Someone deleted a VMAC or ipvlan (or its interface went): make it again, and give a
    /// master its VIPs back on it.
    pub(super) fn on_link_removed_for_vmacs(&mut self, ifindex: u32, now: Instant) {
        let mut released = Vec::new();
        for router in &mut self.routers {
            let instance = router.cfg.name.clone();
            for state in states_mut(router) {
                if state.index == Some(ifindex) {
                    state.index = None;
                    state.up = false;
                    state.sender = None;
                    warn!(
                        "{instance}: {} {} was deleted: creating it again",
                        if state.is_ipvlan() { "ipvlan" } else { "VMAC" },
                        state.name
                    );
                    for parent in [state.parent.take(), state.lower.take()]
                        .into_iter()
                        .flatten()
                    {
                        if !state.is_ipvlan() {
                            released.push((parent, state.name.clone()));
                        }
                    }
                }
            }
        }
        for (parent, name) in released {
            self.release_parent(parent, &name);
        }
        self.retry_vmacs(now);
    }

    /// Every instance missing a VMAC or its ipvlan tries again (the name or the interface
    /// may be there now).
    pub(super) fn retry_vmacs(&mut self, now: Instant) {
        let mut restored = Vec::new();
        for index in 0..self.routers.len() {
            let router = &self.routers[index];
            if is_ready(router) {
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

    /// A link changed: a VMAC or ipvlan vipd brought up and someone set down goes up again;
    /// an instance missing one retries (its interface may have come).
    pub(super) fn on_link_changed_for_vmacs(&mut self, name: &str, now: Instant) {
        if self.routers.iter().any(|r| !is_ready(r)) {
            self.retry_vmacs(now);
        }
        let found = self.routers.iter().enumerate().find_map(|(index, r)| {
            states(r)
                .find(|v| v.name == name && v.up)
                .and_then(|v| v.index)
                .map(|vmac_index| (index, vmac_index))
        });
        let Some((index, vmac_index)) = found else {
            return;
        };
        if let Ok(Some(link)) = link::by_index(&self.netlink, vmac_index) {
            if !link.admin_up {
                warn!(
                    "{}: {name} was set down while in use: setting it up again",
                    self.routers[index].cfg.name
                );
                if let Err(e) = link::set_up(&self.netlink, vmac_index, true) {
                    error!("{}: {name}: {e}", self.routers[index].cfg.name);
                }
            }
        }
    }

    /// Deletes the VMACs and ipvlans of the current instances (at stop, or of instances a
    /// reload retires) and restores their parents' settings.
    pub(super) fn release_vmacs(&mut self) {
        let mut released = Vec::new();
        let mut deleted = Vec::new();
        for router in &mut self.routers {
            let instance = router.cfg.name.clone();
            for state in states_mut(router) {
                let (Some(vmac_index), parent) = (state.index.take(), state.parent.take()) else {
                    continue;
                };
                if let (Some(lower), false) = (state.lower.take(), state.is_ipvlan()) {
                    released.push((lower, state.name.clone()));
                }
                state.up = false;
                state.sender = None;
                deleted.push((instance.clone(), vmac_index, state.name.clone()));
                if let (Some(parent), false) = (parent, state.is_ipvlan()) {
                    released.push((parent, state.name.clone()));
                }
            }
        }
        for (instance, vmac_index, name) in deleted {
            match link::delete(&self.netlink, vmac_index) {
                Ok(()) => info!("{instance}: removed {name}"),
                Err(e) => warn!("{instance}: cannot remove {name}: {e}"),
            }
        }
        for (parent, name) in released {
            self.release_parent(parent, &name);
        }
    }
}
