//! One configured VRRP instance at run time: the protocol state machine plus what the shell
//! needs to act for it (its socket key, source address, counters, installed VIPs).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::schedule::Schedule;
use crate::config;
use crate::control::{InstanceStatus, VipStatus};
use crate::net::netlink::InterfaceAddress;
use crate::net::socket::{Family, Mode};
use crate::vrrp::accept;
use crate::vrrp::ah::{AhKey, AhSession};
use crate::vrrp::instance::{Instance, InstanceParams, Reload, Version};
use crate::vrrp::packet::{self, Auth, ChecksumMode, DropReason, ListMatch};

/// Which raw socket an instance sends and receives on. Instances with the same key share one
/// socket and are told apart by VRID.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketKey {
    pub interface: String,
    pub ipv6: bool,
    /// Where unicast adverts come from (none for multicast).
    pub unicast: Option<UnicastSource>,
    /// TTL / hop limit of unicast adverts, when not the default 255.
    pub unicast_ttl: Option<u8>,
    /// The multicast group joined and sent to (none for unicast).
    pub group: Option<IpAddr>,
    /// VRRPv2 under an IPsec AH header: an IP protocol 51 socket sending whole datagrams.
    pub ah: bool,
}

/// The source of an instance's unicast adverts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UnicastSource {
    /// `unicast_src_ip`.
    Address(IpAddr),
    /// `unicast_peer` without `unicast_src_ip`: the interface's primary IPv4 (or IPv6
    /// link-local) address, as keepalived 2.2.7 sends, looked up when the socket opens and
    /// again when that address goes (`Daemon::attach`).
    Interface,
}

/// The address a unicast instance without `unicast_src_ip` sends from
/// ([`UnicastSource::Interface`]), among its interface's `addresses`: the primary IPv4
/// address (else another IPv4 address), or the usable IPv6 link-local one; never a VIP
/// (`is_vip`), which goes with the master role: adverts from it would lose their source at
/// the next failover (a VIP becomes the primary when the address before it is deleted).
pub fn interface_source(
    addresses: &[InterfaceAddress],
    ipv6: bool,
    is_vip: impl Fn(IpAddr) -> bool,
) -> Option<IpAddr> {
    use crate::net::netlink::{address_flags, is_link_local};
    let candidates = || {
        addresses
            .iter()
            .filter(|a| a.addr.is_ipv6() == ipv6 && !is_vip(a.addr))
    };
    if ipv6 {
        return candidates()
            .find(|a| matches!(a.addr, IpAddr::V6(v6) if is_link_local(&v6)) && a.is_usable())
            .map(|a| a.addr);
    }
    let primary = candidates().find(|a| a.flags & address_flags::SECONDARY == 0);
    primary.or_else(|| candidates().next()).map(|a| a.addr)
}

/// keepalived's `auth_type AH` applies: a password, VRRPv2 (hence IPv4).
fn uses_ah(cfg: &config::Instance, global: &config::Global) -> bool {
    cfg.auth_type == config::AuthType::Ah && cfg.auth_pass.is_some() && cfg.version(global) == 2
}

impl SocketKey {
    pub fn of(cfg: &config::Instance, global: &config::Global) -> SocketKey {
        let ipv6 = cfg.is_ipv6();
        // `unicast_peer` without `unicast_src_ip` is unicast too (keepalived 2.2.7 sends to
        // the peers from the interface's address).
        let unicast = if cfg.unicast_peers.is_empty() {
            None
        } else {
            Some(
                cfg.source_address
                    .map_or(UnicastSource::Interface, UnicastSource::Address),
            )
        };
        let group = match unicast {
            Some(_) => None,
            None => cfg.group(global).or(Some(if ipv6 {
                IpAddr::V6(global.group6())
            } else {
                IpAddr::V4(global.group4())
            })),
        };
        SocketKey {
            interface: cfg.interface.clone(),
            ipv6,
            unicast_ttl: unicast
                .and(cfg.unicast_ttl)
                .filter(|ttl| *ttl != packet::HOP_LIMIT),
            unicast,
            group,
            ah: uses_ah(cfg, global),
        }
    }

    pub fn family(&self) -> Family {
        if self.ipv6 {
            Family::V6
        } else {
            Family::V4
        }
    }

    /// The socket's mode; for [`UnicastSource::Interface`], `interface_address` is the
    /// interface's address to send from (none: the socket cannot open yet).
    pub fn mode(&self, interface_address: impl FnOnce() -> Option<IpAddr>) -> Option<Mode> {
        Some(match (self.unicast, self.group) {
            (Some(UnicastSource::Address(src)), _) => Mode::Unicast { src },
            (Some(UnicastSource::Interface), _) => Mode::Unicast {
                src: interface_address()?,
            },
            (None, Some(group)) => Mode::Multicast { group },
            (None, None) => Mode::Multicast {
                group: if self.ipv6 {
                    IpAddr::V6(config::DEFAULT_GROUP6)
                } else {
                    IpAddr::V4(config::DEFAULT_GROUP4)
                },
            },
        })
    }
}

/// VIPs a reload took away from or gave to a running instance.
#[derive(Debug, Default)]
pub struct VipChanges {
    pub removed: Vec<config::Vip>,
    pub added: Vec<config::Vip>,
    /// Virtual routes and rules: the old lists and the new ones.
    pub old_routing: (Vec<config::Route>, Vec<config::Rule>),
    pub new_routing: (Vec<config::Route>, Vec<config::Rule>),
}

#[derive(Debug, Default, Clone)]
pub struct Counters {
    pub received: u64,
    pub sent: u64,
    pub dropped: BTreeMap<&'static str, u64>,
    pub became_master: u64,
    pub released_master: u64,
    pub priority_zero_received: u64,
    pub priority_zero_sent: u64,
    /// Adverts whose address list differs from ours.
    pub address_list_mismatch: u64,
    /// Adverts of an unknown authentication type (also counted as `auth_type` drops).
    pub auth_type_unknown: u64,
    pub last_transition_time: Option<std::time::SystemTime>,
    pub last_transition_code: Option<&'static str>,
}

impl Counters {
    pub fn drop(&mut self, reason: DropReason) {
        self.drop_many(reason, 1);
    }

    pub fn drop_many(&mut self, reason: DropReason, count: u64) {
        *self.dropped.entry(reason.as_str()).or_default() += count;
    }
}

pub struct Router {
    pub cfg: config::Instance,
    pub version: Version,
    pub key: SocketKey,
    /// Read with [`Router::fsm`]; changed only through [`Router::fsm_mut`].
    fsm: Instance,
    /// Our advert source once the socket is open; None while the interface is missing.
    pub source: Option<IpAddr>,
    pub link_up: bool,
    /// A tracked check or interface with weight 0 failed.
    pub check_fault: bool,
    /// Its configured source address is not on its interface and it tracks it
    /// (`track_src_ip`): FAULT.
    pub source_missing: bool,
    pub vips_installed: bool,
    pub counters: Counters,
    pub last_reason: Option<String>,
    checksum_mode: ChecksumMode,
    auth: Auth,
    /// IPsec AH key and sequence counter (keepalived `auth_type AH`).
    pub ah: Option<AhSession>,
    /// The address lists of the last advert and of the last one logged for differing
    /// from ours (each is logged once).
    address_lists: packet::AddressLists,
    /// When a differing address list was last logged: lists that change with every advert
    /// (anyone on the segment can send them) get at most one line a second.
    last_mismatch_log: Option<Instant>,
    /// When a dropped advert was last logged: a flood must not become a flood of log lines.
    last_drop_log: Option<Instant>,
    /// When a failed send was last logged.
    last_send_error_log: Option<Instant>,
    /// The last other router heard claiming priority 255 while we own the addresses.
    owner_conflict: Option<IpAddr>,
    /// When such a claim was last logged: forged claims from ever new sources get at most
    /// one line a second.
    owner_conflict_log: Option<Instant>,
    /// The VMAC (keepalived `use_vmac`) or ipvlan (`use_ipvlan`), when the instance has one.
    pub(super) vmac: Option<super::vmac::VmacState>,
    /// The VMACs of VIPs with `use_vmac` (keepalived `use_vmac_addr`), one per interface.
    pub(super) vip_vmacs: Vec<super::vmac::VmacState>,
    /// Lower-priority adverts heard as master that `notify_master_rx_lower_pri` was
    /// queued for.
    pub(super) lower_priority_scripted: u64,
    /// Removed by a reload: its stop reports FAULT or DELETED (keepalived), not STOP.
    pub(super) removed_by_reload: bool,
    /// Its last adverts, sent again while nothing they are made of changed.
    pub(super) advert_cache: packet::AdvertCache,
    /// The socket of its key when the daemon's sockets were last counted (see
    /// `Daemon::sockets_generation`).
    pub(super) socket_memo: Option<(u64, std::sync::Arc<crate::net::socket::VrrpSocket>)>,
}

impl Router {
    /// The instance's own interface keeps it in FAULT: it is gone or has no address to
    /// send from, or its link is down unless `dont_track_primary` says to ignore that
    /// (keepalived: "ignore VRRP interface faults").
    pub fn interface_fault(&self) -> bool {
        if self.cfg.dont_track_primary {
            self.source.is_none()
        } else {
            !self.link_up
        }
    }

    pub fn new(cfg: config::Instance, global: &config::Global) -> Router {
        let version = if cfg.version(global) == 3 {
            Version::V3
        } else {
            Version::V2
        };
        let key = SocketKey::of(&cfg, global);
        let checksum_mode = match cfg.v3_checksum(global) {
            config::V3Checksum::PseudoHeader => ChecksumMode::PseudoHeader,
            config::V3Checksum::NoPseudoHeader => ChecksumMode::NoPseudoHeader,
        };
        let auth = match (&cfg.auth_pass, version) {
            (Some(_), Version::V2) if key.ah => Auth::Ah,
            (Some(pass), Version::V2) => Auth::from_password(pass),
            _ => Auth::None,
        };
        let ah = match &cfg.auth_pass {
            Some(pass) if key.ah => Some(AhSession::new(AhKey::from_password(pass))),
            _ => None,
        };
        let fsm = Instance::new(params(&cfg, global, version, unspecified(key.ipv6)));
        let vmac = super::vmac::VmacState::of(&cfg);
        let vip_vmacs = super::vmac::VmacState::for_vips(&cfg);
        Router {
            cfg,
            version,
            key,
            fsm,
            source: None,
            link_up: false,
            check_fault: false,
            source_missing: false,
            vips_installed: false,
            counters: Counters::default(),
            last_reason: None,
            checksum_mode,
            auth,
            ah,
            address_lists: packet::AddressLists::default(),
            last_mismatch_log: None,
            last_drop_log: None,
            last_send_error_log: None,
            owner_conflict: None,
            owner_conflict_log: None,
            vmac,
            vip_vmacs,
            lower_priority_scripted: 0,
            removed_by_reload: false,
            advert_cache: packet::AdvertCache::default(),
            socket_memo: None,
        }
    }

    /// A unicast instance that wants TTL 255 drops adverts from peers behind a router: say so
    /// once, with the fix, when a peer is on none of the interface's subnets.
    pub fn warn_off_link_peers(&self, interface_addresses: &[InterfaceAddress]) {
        if !self.is_unicast()
            || !packet::hop_limit_255_required(true, self.key.ipv6, self.cfg.unicast_ttl)
            || interface_addresses.is_empty()
        {
            return;
        }
        let default_rule: Vec<IpAddr> = (self.cfg.unicast_peers.iter())
            .filter(|peer| self.cfg.peer_ttl(**peer).is_none())
            .copied()
            .collect();
        for peer in off_link(&default_rule, interface_addresses) {
            tracing::warn!(
                "{}: unicast peer {peer} is on none of {}'s subnets: its adverts arrive with a \
                 TTL below 255 and are dropped (counter hop_limit); set unicast_ttl (e.g. 64) \
                 on the routers of this instance if peers are routers away",
                self.cfg.name,
                self.cfg.interface
            );
        }
    }

    /// Logs once per peer when another router claims to own our addresses (priority 255 on
    /// both sides): the core keeps them (see `Instance`), the operator has to fix one side.
    /// At most once a second: a stranger can forge the claim from a new source every time.
    pub fn note_owner_conflict(&mut self, from: IpAddr, priority: u8, now: Instant) {
        let conflict = priority == crate::vrrp::instance::PRIORITY_OWNER
            && self.fsm.effective_priority() == crate::vrrp::instance::PRIORITY_OWNER;
        if conflict
            && self.owner_conflict != Some(from)
            && once_per_second(&mut self.owner_conflict_log, now)
        {
            tracing::warn!(
                "{}: {from} also advertises priority 255 (address owner): keeping the VIPs; \
                 only one router may own them, lower the priority of the other",
                self.cfg.name
            );
            self.owner_conflict = Some(from);
        }
    }

    /// At most one log line per second about dropped adverts.
    pub fn may_log_drop(&mut self, now: Instant) -> bool {
        once_per_second(&mut self.last_drop_log, now)
    }

    /// At most one log line per second about adverts that could not be sent.
    pub fn may_log_send_error(&mut self, now: Instant) -> bool {
        once_per_second(&mut self.last_send_error_log, now)
    }

    pub fn is_unicast(&self) -> bool {
        self.key.unicast.is_some()
    }

    pub fn checksum_mode(&self) -> ChecksumMode {
        self.checksum_mode
    }

    /// Destinations of each advert: the multicast group, or every unicast peer (without
    /// allocating for up to two: it is asked for every advert).
    pub fn destinations(&self) -> smallvec::SmallVec<[IpAddr; 2]> {
        match (self.key.unicast, self.key.mode(|| None)) {
            (Some(_), _) => self.cfg.unicast_peers.iter().copied().collect(),
            (None, Some(Mode::Multicast { group })) => smallvec::smallvec![group],
            (None, _) => smallvec::SmallVec::new(),
        }
    }

    /// The advert this instance sends with `priority`, but for its address list, its VIPs
    /// (see [`packet::emit_advert`]).
    pub fn advert_header(&self, priority: u8) -> packet::AdvertHeader {
        packet::AdvertHeader {
            version: self.wire_version(),
            vrid: self.cfg.vrid,
            priority,
            advert_interval_cs: interval_cs(self.cfg.advert_interval),
            auth: self.auth,
        }
    }

    fn wire_version(&self) -> packet::Version {
        match self.version {
            Version::V2 => packet::Version::V2,
            Version::V3 => packet::Version::V3,
        }
    }

    pub fn expectation(&self) -> packet::InstanceExpectation {
        packet::InstanceExpectation {
            version: self.wire_version(),
            auth: self.auth,
            advert_interval_cs: interval_cs(self.cfg.advert_interval),
        }
    }

    /// The address check: an advert whose list differs from ours is counted and logged once
    /// per distinct list, at most once a second (a stranger can change the list with every
    /// advert); one that lacks one of our VIPs is another virtual router's on the same VRID
    /// and dropped (see [`packet::AddressLists`], which keeps its cost to one sort of the
    /// list: anyone can send adverts listing 255 addresses).
    pub fn check_address_list(
        &mut self,
        from: IpAddr,
        addresses: &[IpAddr],
    ) -> Result<(), DropReason> {
        // Called for every received advert: nothing here allocates unless the mismatch is
        // new and gets logged (a peer with another list sends it every advert).
        let found =
            (self.address_lists).compare(addresses, self.cfg.vips.iter().map(|v| v.address));
        if found == ListMatch::Same {
            self.address_lists.forget();
            return Ok(());
        }
        self.counters.address_list_mismatch += 1;
        let verdict = found.verdict();
        // Not recorded when not logged: the list is said when the second is over.
        if !self.address_lists.is_new()
            || !once_per_second(&mut self.last_mismatch_log, Instant::now())
        {
            return verdict;
        }
        let (theirs, ours) = (self.address_lists.theirs(), self.address_lists.ours());
        match verdict {
            Ok(()) => tracing::warn!(
                "{}: advert from {from} lists addresses {theirs:?}, ours are {ours:?} \
                 (followed: it lists all of ours)",
                self.cfg.name
            ),
            Err(_) => tracing::warn!(
                "{}: dropping adverts from {from}: they list addresses {theirs:?}, ours \
                 are {ours:?} (another virtual router on VRID {}?)",
                self.cfg.name,
                self.cfg.vrid
            ),
        }
        self.address_lists.mark_reported();
        verdict
    }

    /// The state machine, to read.
    pub fn fsm(&self) -> &Instance {
        &self.fsm
    }

    /// The state machine, to change it. This is the only way to change it, and it marks the
    /// instance (`index`: its place in the daemon's list) in `schedule`, so that the loop
    /// performs the actions the change queues and keeps its deadline. The event loop only
    /// looks at marked instances; a path that changed a state machine without marking it
    /// (a reload removing several instances once did) left its actions undone.
    pub fn fsm_mut(&mut self, schedule: &mut Schedule, index: usize) -> &mut Instance {
        schedule.touch(index);
        &mut self.fsm
    }

    /// The next action the state machine asks for. Taking an action changes nothing else,
    /// so it needs no mark (the instance is being looked at).
    pub fn poll_action(&mut self) -> Option<crate::vrrp::instance::Action> {
        self.fsm.poll_action()
    }

    /// The socket is open: the source address is known now, which the tie-break needs.
    /// `index` and `schedule`: see [`Router::fsm_mut`].
    pub fn attach(
        &mut self,
        source: IpAddr,
        global: &config::Global,
        schedule: &mut Schedule,
        index: usize,
    ) {
        self.source = Some(source);
        let params = params(&self.cfg, global, self.version, source);
        // Only the primary address changed, which never needs a restart.
        let _ = self
            .fsm_mut(schedule, index)
            .update_params(Instant::now(), params);
    }

    /// Applies a reloaded `cfg` that keeps the virtual router's identity (interface, VRID,
    /// version, address family, unicast setup, authentication): priority, advert interval,
    /// preemption, VIP list, tracking, notify scripts and GARP settings change while the
    /// instance keeps its state; a master advertises its new priority at once. Returns the
    /// VIPs to remove and add (the caller applies them when VIPs are installed), or None when
    /// the instance has to be restarted. `index` (its place in the new list) and `schedule`:
    /// see [`Router::fsm_mut`].
    pub fn update_in_place(
        &mut self,
        now: Instant,
        cfg: &config::Instance,
        global: &config::Global,
        schedule: &mut Schedule,
        index: usize,
    ) -> Option<VipChanges> {
        let mut tunable = self.cfg.clone();
        tunable.priority = cfg.priority;
        tunable.advert_interval = cfg.advert_interval;
        tunable.preempt = cfg.preempt;
        tunable.preempt_delay = cfg.preempt_delay;
        tunable.initial_state = cfg.initial_state;
        tunable.vips = cfg.vips.clone();
        tunable.excluded_vips = cfg.excluded_vips.clone();
        tunable.lower_prio_no_advert = cfg.lower_prio_no_advert;
        tunable.higher_prio_send_advert = cfg.higher_prio_send_advert;
        tunable.down_timer_adverts = cfg.down_timer_adverts;
        tunable.track_checks = cfg.track_checks.clone();
        tunable.track_interfaces = cfg.track_interfaces.clone();
        tunable.track_files = cfg.track_files.clone();
        tunable.notify = cfg.notify.clone();
        tunable.garp = cfg.garp.clone();
        tunable.check_unicast_src = cfg.check_unicast_src;
        tunable.unicast_peer_ttl = cfg.unicast_peer_ttl.clone();
        tunable.routes = cfg.routes.clone();
        tunable.rules = cfg.rules.clone();
        tunable.forwards = cfg.forwards.clone();
        if tunable != *cfg || SocketKey::of(cfg, global) != self.key {
            return None;
        }
        let primary = self.source.unwrap_or_else(|| unspecified(self.key.ipv6));
        let params = params(cfg, global, self.version, primary);
        match self.fsm_mut(schedule, index).update_params(now, params) {
            Reload::Applied => {
                let old: Vec<&config::Vip> = self.cfg.all_vips().collect();
                let new: Vec<&config::Vip> = cfg.all_vips().collect();
                let changes = VipChanges {
                    removed: (old.iter())
                        .filter(|v| !new.contains(v))
                        .map(|v| (*v).clone())
                        .collect(),
                    added: (new.iter())
                        .filter(|v| !old.contains(v))
                        .map(|v| (*v).clone())
                        .collect(),
                    old_routing: (self.cfg.routes.clone(), self.cfg.rules.clone()),
                    new_routing: (cfg.routes.clone(), cfg.rules.clone()),
                };
                self.cfg = cfg.clone();
                self.socket_memo = None;
                Some(changes)
            }
            Reload::RestartRequired => None,
        }
    }

    /// Bound of a planned handover: time enough for any backup to take over, also one that
    /// missed our priority 0 advert (see [`Instance::handover_bound`]).
    pub fn handover_bound(&self) -> Duration {
        self.fsm.handover_bound()
    }

    pub fn status(&self) -> InstanceStatus {
        let master_address = match self.fsm.state() {
            crate::vrrp::instance::State::Master => self.source,
            _ => self.fsm.master_address(),
        };
        InstanceStatus {
            name: self.cfg.name.clone(),
            interface: self.cfg.interface.clone(),
            vrid: self.cfg.vrid,
            version: match self.version {
                Version::V2 => 2,
                Version::V3 => 3,
            },
            state: self.fsm.state().to_string(),
            base_priority: self.fsm.base_priority(),
            effective_priority: self.fsm.effective_priority(),
            advertised_priority: self.fsm.advertised_priority(),
            // Who asked and since when: filled in from the drain store by the daemon.
            drained: self
                .fsm
                .drain_mode()
                .map(|mode| crate::control::DrainStatus {
                    mode: mode.to_string(),
                    ..Default::default()
                }),
            master_address: master_address.map(|a| a.to_string()),
            master_priority: self.fsm.master_priority(),
            advert_interval_ms: u64::try_from(self.fsm.master_advert_interval().as_millis())
                .unwrap_or(u64::MAX),
            master_down_interval_ms: u64::try_from(self.fsm.master_down_interval().as_millis())
                .unwrap_or(u64::MAX),
            transitions: self.fsm.transitions(),
            last_transition_reason: self.last_reason.clone(),
            last_transition_code: self.counters.last_transition_code.map(str::to_string),
            last_transition_time: self
                .counters
                .last_transition_time
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_secs_f64()),
            last_handover_ms: self
                .fsm
                .last_handover_duration()
                .map(|d| d.as_secs_f64() * 1000.0),
            adverts_received: self.counters.received,
            adverts_sent: self.counters.sent,
            became_master: self.counters.became_master,
            released_master: self.counters.released_master,
            priority_zero_received: self.counters.priority_zero_received,
            priority_zero_sent: self.counters.priority_zero_sent,
            address_list_mismatch: self.counters.address_list_mismatch,
            auth_type_unknown: self.counters.auth_type_unknown,
            discarded: self.fsm.discarded_adverts(),
            dropped: DropReason::ALL
                .iter()
                .map(|r| {
                    let name = r.as_str();
                    (
                        name.to_string(),
                        self.counters.dropped.get(name).copied().unwrap_or(0),
                    )
                })
                .collect(),
            vips: self.cfg.vips.iter().map(|v| v.to_string()).collect(),
            vip_list: self
                .cfg
                .vips
                .iter()
                .map(|v| VipStatus {
                    address: v.address.to_string(),
                    prefix_len: v.prefix_len,
                    interface: self.cfg.vip_interface(v).to_string(),
                })
                .collect(),
            tracked_checks: self
                .cfg
                .track_checks
                .iter()
                .chain(self.cfg.track_files.iter())
                .map(|t| t.check.clone())
                .collect(),
            forwards: Vec::new(),
        }
    }
}

/// An instance's receive checks: [`accept::check_advert`] in the order the simulation
/// checks too.
impl accept::Receiver for Router {
    fn settings(&self, src: IpAddr) -> accept::Settings<'_> {
        accept::Settings {
            unicast: self.is_unicast(),
            ipv6: self.key.ipv6,
            unicast_ttl: self.cfg.unicast_ttl,
            check_unicast_src: self.cfg.check_unicast_src,
            unicast_peers: &self.cfg.unicast_peers,
            peer_ttl: self.cfg.peer_ttl(src),
            any_peer_ttl: !self.cfg.unicast_peer_ttl.is_empty(),
            checksum_mode: self.checksum_mode,
        }
    }

    fn open<'d>(&mut self, datagram: &'d [u8], advert: &'d [u8]) -> Result<&'d [u8], DropReason> {
        let unicast = self.is_unicast();
        // keepalived checks the AH header first (ICV, SPI, sequence number), then the advert.
        match self.ah.as_mut() {
            Some(ah) => ah.open(datagram, unicast),
            None => Ok(advert),
        }
    }

    fn count_unknown_auth_type(&mut self) {
        self.counters.auth_type_unknown += 1;
    }

    fn expectation(&self) -> packet::InstanceExpectation {
        Router::expectation(self)
    }

    fn check_addresses(&mut self, from: IpAddr, addresses: &[IpAddr]) -> Result<(), DropReason> {
        self.check_address_list(from, addresses)
    }
}

/// State machine parameters from the configuration.
pub fn params(
    cfg: &config::Instance,
    global: &config::Global,
    version: Version,
    primary_address: IpAddr,
) -> InstanceParams {
    let garp = cfg.garp(global);
    InstanceParams {
        vrid: cfg.vrid,
        version,
        priority: cfg.priority,
        advert_interval: cfg.advert_interval,
        preempt: cfg.preempt,
        preempt_delay: cfg.preempt_delay,
        primary_address,
        start_as_master_hint: cfg.initial_state == config::InitialState::Master,
        garp_master_delay: Some(garp.master_delay).filter(|d| !d.is_zero()),
        garp_master_refresh: garp.master_refresh.filter(|d| !d.is_zero()),
        garp_master_repeat: garp.master_repeat,
        garp_master_refresh_repeat: garp.master_refresh_repeat,
        garp_lower_prio_repeat: garp.lower_prio_repeat(),
        garp_lower_prio_delay: Some(garp.lower_prio_delay()).filter(|d| !d.is_zero()),
        lower_prio_no_advert: cfg.lower_prio_no_advert(global),
        higher_prio_send_advert: cfg.higher_prio_send_advert(global),
        down_timer_adverts: cfg.down_timer_adverts(global),
    }
}

fn once_per_second(last: &mut Option<Instant>, now: Instant) -> bool {
    if last.is_some_and(|last| now.saturating_duration_since(last) < Duration::from_secs(1)) {
        return false;
    }
    *last = Some(now);
    true
}

/// The peers that are in none of the interface's prefixes.
pub fn off_link(peers: &[IpAddr], interface_addresses: &[InterfaceAddress]) -> Vec<IpAddr> {
    peers
        .iter()
        .copied()
        .filter(|peer| {
            !interface_addresses
                .iter()
                .any(|a| same_prefix(*peer, a.addr, a.prefix_len))
        })
        .collect()
}

fn same_prefix(a: IpAddr, b: IpAddr, prefix_len: u8) -> bool {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(prefix_len.min(32)))
                .unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(prefix_len.min(128)))
                .unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// The primary address before the socket is open.
fn unspecified(ipv6: bool) -> IpAddr {
    if ipv6 {
        IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
    }
}

fn interval_cs(interval: Duration) -> u16 {
    u16::try_from(interval.as_millis() / 10).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(text: &str) -> InterfaceAddress {
        let (addr, prefix) = text.split_once('/').unwrap();
        InterfaceAddress {
            index: 2,
            addr: addr.parse().unwrap(),
            prefix_len: prefix.parse().unwrap(),
            flags: 0,
            label: None,
            scope: 0,
        }
    }

    #[test]
    fn unicast_peers_without_a_source_address_are_still_unicast() {
        // A corpus file's shape (a Docker image's rendered template): keepalived 2.2.7 sends
        // its adverts to the peers, from the interface's address.
        let text = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n \
                    unicast_peer {\n 192.0.2.12\n }\n virtual_ipaddress {\n 192.0.2.100\n }\n}\n";
        let cfg = crate::config::parse_keepalived(text, std::path::Path::new("k.conf")).unwrap();
        let key = SocketKey::of(&cfg.instances[0], &cfg.global);
        assert_eq!(key.unicast, Some(UnicastSource::Interface));
        assert_eq!(key.group, None);
        // The socket opens only once the interface has an address to send from.
        assert_eq!(key.mode(|| None), None);
        let own: IpAddr = "192.0.2.11".parse().unwrap();
        assert_eq!(key.mode(|| Some(own)), Some(Mode::Unicast { src: own }));
    }

    #[test]
    fn the_interface_source_is_its_primary_address_never_a_vip() {
        let secondary = |text: &str| InterfaceAddress {
            flags: crate::net::netlink::address_flags::SECONDARY,
            ..address(text)
        };
        let vip: IpAddr = "192.0.2.100".parse().unwrap();
        let is_vip = |a: IpAddr| a == vip;
        let pick = |list: &[InterfaceAddress], ipv6| interface_source(list, ipv6, is_vip);
        let own = || address("192.0.2.11/24");
        assert_eq!(pick(&[], false), None);
        assert_eq!(
            pick(
                &[address("fe80::1/64"), own(), secondary("192.0.2.21/24")],
                false
            ),
            Some("192.0.2.11".parse().unwrap())
        );
        // The primary went and the VIP, next in line, was promoted: the other address.
        assert_eq!(
            pick(
                &[address("192.0.2.100/24"), secondary("192.0.2.21/24")],
                false
            ),
            Some("192.0.2.21".parse().unwrap())
        );
        assert_eq!(pick(&[address("192.0.2.100/24")], false), None);
        assert_eq!(
            pick(
                &[own(), address("2001:db8::11/64"), address("fe80::11/64")],
                true
            ),
            Some("fe80::11".parse().unwrap())
        );
        assert_eq!(pick(&[own(), address("2001:db8::11/64")], true), None);
    }

    #[test]
    fn peers_outside_every_prefix_of_the_interface_are_off_link() {
        let on = [
            address("192.0.2.11/24"),
            address("2001:db8::11/64"),
            address("fe80::1/64"),
            address("203.0.113.7/32"),
        ];
        let peers: Vec<IpAddr> = [
            "192.0.2.12",
            "192.0.3.12",
            "2001:db8::12",
            "2001:db8:1::12",
            "203.0.113.7",
            "203.0.113.8",
        ]
        .iter()
        .map(|p| p.parse().unwrap())
        .collect();
        let off: Vec<String> = off_link(&peers, &on)
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(off, ["192.0.3.12", "2001:db8:1::12", "203.0.113.8"]);
        // A /0 contains everything.
        assert!(off_link(&peers[..2], &[address("0.0.0.0/0")]).is_empty());
    }
}
