//! Configuration: vipd's native TOML model and the keepalived.conf reader.
//!
//! Both readers produce the same [`Config`]; [`validate`] checks it the same way for both,
//! and [`to_toml`] writes any `Config` as a native file (`vipd import-keepalived`).
//! Every key of the native format is described in `REFERENCE.md` beside this file.

pub mod duration;
mod error;
pub mod forward;
mod keepalived;
mod keywords;
mod lexer;
mod native;
mod params;
mod route;
pub use crate::url;
#[cfg(test)]
pub(crate) use route::{test_route, test_rule};
mod validate;
mod vip;
pub mod vmac;
pub mod words;

pub use error::{ConfigError, ConfigErrors, ConfigWarning};
pub use forward::Forward;
pub use keepalived::{parse_keepalived, read_keepalived};
pub use lexer::COMMAND_KEYWORDS;
pub use native::{parse_native, read_native, to_toml, translate_check, translate_checks};
pub use route::{Insert, Prefix, Route, RouteType, Rule, RuleAction, PROTOCOL_KEEPALIVED};
pub use url::{HttpUrl, Scheme};
pub use validate::warnings;
pub use vip::{Ignored, Scope, Vip};
pub use vmac::{IfAddress, Ipvlan, IpvlanMode, MacAddr, Vmac};

use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where [`load_default`] looks, in order.
pub const DEFAULT_PATHS: [&str; 2] = ["/etc/vipd/vipd.toml", "/etc/keepalived/keepalived.conf"];

/// A whole configuration. Serialises to (and deserialises from) the native TOML format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub global: Global,
    #[serde(default, rename = "instance")]
    pub instances: Vec<Instance>,
    #[serde(default, rename = "check")]
    pub checks: Vec<Check>,
    #[serde(default, rename = "sync_group")]
    pub sync_groups: Vec<SyncGroup>,
    #[serde(default, rename = "garp_group", skip_serializing_if = "Vec::is_empty")]
    pub garp_groups: Vec<GarpGroup>,
    /// Addresses, routes and rules held while vipd runs, whatever the VRRP state (keepalived
    /// `static_ipaddress`, `static_routes`, `static_rules`).
    #[serde(default, rename = "static", skip_serializing_if = "Static::is_empty")]
    pub statics: Static,
}

/// What vipd adds at start and removes when it stops, whatever the VRRP state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Static {
    /// Each with its `dev`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<Vip>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Rule>,
}

impl Static {
    pub fn is_empty(&self) -> bool {
        *self == Static::default()
    }
}

/// Pacing of gratuitous ARPs / unsolicited NAs on some interfaces instead of the global
/// `garp.interval` / `garp.na_interval` (keepalived `garp_group`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GarpGroup {
    pub interfaces: Vec<String>,
    /// Pause between two gratuitous ARPs on one of these interfaces; zero = none.
    #[serde(default, with = "duration::serde_text")]
    pub interval: Duration,
    /// Pause between two unsolicited NAs; zero = none.
    #[serde(default, with = "duration::serde_text")]
    pub na_interval: Duration,
}

impl Config {
    /// (ARP, NA) pacing on `interface`: its garp group's (the first that names it and sets a
    /// pause; keepalived drops a group without one), else the global settings.
    pub fn garp_pacing(&self, interface: &str) -> (Duration, Duration) {
        self.garp_groups
            .iter()
            .filter(|g| !(g.interval.is_zero() && g.na_interval.is_zero()))
            .find(|g| g.interfaces.iter().any(|i| i == interface))
            .map_or(
                (self.global.garp.interval, self.global.garp.na_interval),
                |g| (g.interval, g.na_interval),
            )
    }
}

/// Settings for all instances (keepalived `global_defs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Global {
    /// Name of this router in logs (keepalived `router_id`).
    pub router_id: Option<String>,
    /// VRRP version for instances that do not set one (keepalived `vrrp_version`, default 2).
    pub vrrp_version: u8,
    pub garp: Garp,
    /// Default user (and group) that checks and notify scripts run as.
    pub script_user: Option<String>,
    pub script_group: Option<String>,
    /// Refuse to run scripts as root whose path is writable by others.
    pub enable_script_security: bool,
    /// Checksum of VRRPv3 adverts over IPv4.
    pub v3_checksum: V3Checksum,
    /// keepalived `vrrp_strict`: no unicast peers, at least one VIP, no authentication.
    pub strict: bool,
    /// keepalived `vrrp_skip_check_adv_addr`; ignored: vipd checks every advert's address list.
    pub skip_check_adv_addr: bool,
    /// keepalived `max_auto_priority`; accepted, no effect in vipd.
    pub max_auto_priority: Option<i32>,
    /// Group (name or gid) whose members may use the control socket like root (status,
    /// events, drain, resume, reload). `vipd run --control-group` overrides it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control_group: Option<String>,
    /// Address of the Prometheus `/metrics` endpoint (off when unset).
    /// `vipd run --metrics-listen` overrides it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Instances start this long after vipd (keepalived `vrrp_startup_delay`): for links
    /// that pass traffic at boot, stop, and come back. A reload does not delay again.
    #[serde(
        with = "duration::serde_text",
        skip_serializing_if = "Duration::is_zero"
    )]
    pub startup_delay: Duration,
    /// Group IPv4 adverts go to and are received on (keepalived `vrrp_mcast_group4`);
    /// `None` = 224.0.0.18. See [`Global::group4`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mcast_group4: Option<Ipv4Addr>,
    /// Group of IPv6 adverts (keepalived `vrrp_mcast_group6`); `None` = ff02::12.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mcast_group6: Option<Ipv6Addr>,
    /// A master does not answer a lower-priority advert with one of its own (keepalived
    /// `vrrp_lower_prio_no_advert`; always on in strict mode).
    pub lower_prio_no_advert: bool,
    /// A master sends one more advert before yielding to a higher priority (keepalived
    /// `vrrp_higher_prio_send_advert`; off in strict mode). On by default, unlike keepalived:
    /// it closes the race where a healed partition leaves the neighbours on the MAC of the
    /// router that yields (README "How failover works").
    pub higher_prio_send_advert: bool,
    /// Adverts a backup misses before it takes over, 1..=100 (keepalived
    /// `vrrp_down_timer_adverts`; RFC 5798: 3).
    pub down_timer_adverts: u8,
    /// Network namespace (`/run/netns/NAME`) vipd enters at start, before it opens any
    /// socket (keepalived `net_namespace`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub net_namespace: Option<String>,
    /// FIFO every state line is written to (keepalived `notify_fifo`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify_fifo: Option<NotifyFifo>,
    /// A second FIFO with the same lines (keepalived `vrrp_notify_fifo`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vrrp_notify_fifo: Option<NotifyFifo>,
    /// Priority changes go to the FIFOs too (keepalived `vrrp_notify_priority_changes`);
    /// an instance's or sync group's `notify.priority_changes` overrides it.
    pub notify_priority_changes: bool,
    /// After a reload every instance and sync group writes its state to the FIFOs again
    /// (keepalived `fifo_write_vrrp_states_on_reload`).
    pub fifo_write_states_on_reload: bool,
}

/// A notify FIFO (keepalived `notify_fifo PATH [USER [GROUP]]` with `notify_fifo_script`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyFifo {
    pub path: String,
    /// Owner and group vipd gives the FIFO when it creates it (mode 0600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Started with the FIFO's path as last argument, to read the lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<NotifyScript>,
}

/// VRRP group for IPv4 (RFC 5798 5.1.1.2).
pub const DEFAULT_GROUP4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// VRRP group for IPv6 (RFC 5798 5.1.2.2).
pub const DEFAULT_GROUP6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);

impl Global {
    /// The multicast group of IPv4 adverts.
    pub fn group4(&self) -> Ipv4Addr {
        self.mcast_group4.unwrap_or(DEFAULT_GROUP4)
    }

    /// The multicast group of IPv6 adverts.
    pub fn group6(&self) -> Ipv6Addr {
        self.mcast_group6.unwrap_or(DEFAULT_GROUP6)
    }
}

impl Default for Global {
    fn default() -> Self {
        Global {
            router_id: None,
            vrrp_version: 2,
            garp: Garp::default(),
            script_user: None,
            script_group: None,
            enable_script_security: false,
            v3_checksum: V3Checksum::default(),
            strict: false,
            skip_check_adv_addr: false,
            max_auto_priority: None,
            control_group: None,
            metrics_listen: None,
            startup_delay: Duration::ZERO,
            mcast_group4: None,
            mcast_group6: None,
            lower_prio_no_advert: false,
            higher_prio_send_advert: true,
            down_timer_adverts: DEFAULT_DOWN_TIMER_ADVERTS,
            net_namespace: None,
            notify_fifo: None,
            vrrp_notify_fifo: None,
            notify_priority_changes: false,
            fifo_write_states_on_reload: false,
        }
    }
}

/// RFC 5798: Master_Down_Interval = 3 x Master_Adver_Interval + Skew_Time.
pub const DEFAULT_DOWN_TIMER_ADVERTS: u8 = 3;

/// Gratuitous ARP / unsolicited neighbour advertisement settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Garp {
    /// Delay before the second burst after becoming master; 0 = no second burst.
    #[serde(with = "duration::serde_text")]
    pub master_delay: Duration,
    /// Messages per burst.
    pub master_repeat: u32,
    /// Refresh period while master; `None` = no refresh.
    #[serde(
        with = "duration::serde_text_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub master_refresh: Option<Duration>,
    /// Messages per refresh.
    pub master_refresh_repeat: u32,
    /// Pause between two gratuitous ARPs on one interface (keepalived `vrrp_garp_interval`).
    #[serde(with = "duration::serde_text")]
    pub interval: Duration,
    /// Pause between two unsolicited NAs on one interface (keepalived `vrrp_gna_interval`).
    #[serde(with = "duration::serde_text")]
    pub na_interval: Duration,
    /// Messages per burst when a master hears a lower priority (keepalived
    /// `vrrp_garp_lower_prio_repeat`); `None` = `master_repeat`. See [`Garp::lower_prio_repeat`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lower_prio_repeat: Option<u32>,
    /// Second such burst this long later (keepalived `vrrp_garp_lower_prio_delay`); `None` =
    /// `master_delay`, zero = none.
    #[serde(
        with = "duration::serde_text_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub lower_prio_delay: Option<Duration>,
}

impl Garp {
    /// Messages per burst after hearing a lower priority as master (keepalived's default:
    /// as many as on becoming master).
    pub fn lower_prio_repeat(&self) -> u32 {
        self.lower_prio_repeat.unwrap_or(self.master_repeat)
    }

    /// Delay of the second lower-priority burst (default: `master_delay`); zero = none.
    pub fn lower_prio_delay(&self) -> Duration {
        self.lower_prio_delay.unwrap_or(self.master_delay)
    }
}

impl Default for Garp {
    fn default() -> Self {
        Garp {
            master_delay: Duration::from_secs(5),
            master_repeat: 5,
            master_refresh: None,
            master_refresh_repeat: 1,
            interval: Duration::ZERO,
            na_interval: Duration::ZERO,
            lower_prio_repeat: None,
            lower_prio_delay: None,
        }
    }
}

/// Per-instance GARP settings; unset ones come from [`Global::garp`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct GarpOverride {
    #[serde(
        with = "duration::serde_text_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub master_delay: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master_repeat: Option<u32>,
    #[serde(
        with = "duration::serde_text_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub master_refresh: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master_refresh_repeat: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lower_prio_repeat: Option<u32>,
    #[serde(
        with = "duration::serde_text_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub lower_prio_delay: Option<Duration>,
}

impl GarpOverride {
    pub fn is_empty(&self) -> bool {
        *self == GarpOverride::default()
    }
}

/// How the VRRPv3 checksum over IPv4 is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum V3Checksum {
    /// With the IPv4 pseudo-header, as keepalived, tcpdump and Wireshark do.
    #[default]
    PseudoHeader,
    /// Without it, as Cisco/Juniper and RFC 9568 (keepalived `v3_checksum_as_v2`).
    NoPseudoHeader,
}

/// Initial state hint (keepalived `state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum InitialState {
    #[default]
    Backup,
    Master,
}

/// One virtual router (keepalived `vrrp_instance`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instance {
    pub name: String,
    /// Interface adverts are sent and received on.
    pub interface: String,
    /// Virtual router id, 1..=255 (keepalived `virtual_router_id`).
    pub vrid: u8,
    /// 1..=255; 255 = address owner. Default 100 (255 for keepalived `state MASTER`).
    #[serde(default = "default_priority")]
    pub priority: u8,
    #[serde(default)]
    pub initial_state: InitialState,
    /// Advertisement interval (keepalived `advert_int`, default 1 s).
    #[serde(default = "default_advert_interval", with = "duration::serde_text")]
    pub advert_interval: Duration,
    /// VRRP version; `None` = [`Global::vrrp_version`], IPv6 always 3. See [`Instance::version`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u8>,
    /// Take over from a lower-priority master (keepalived `nopreempt` = false).
    #[serde(default = "default_true")]
    pub preempt: bool,
    /// Extra wait before preempting a lower-priority master.
    #[serde(default, with = "duration::serde_text")]
    pub preempt_delay: Duration,
    /// VRRPv2 simple password (keepalived `auth_type PASS`); only the first 8 bytes are sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_pass: Option<String>,
    /// How `auth_pass` authenticates VRRPv2 adverts: in the advert (`pass`, keepalived
    /// `auth_type PASS`) or with an IPsec AH header (`ah`, keepalived `auth_type AH`).
    #[serde(default, skip_serializing_if = "AuthType::is_pass")]
    pub auth_type: AuthType,
    #[serde(default)]
    pub vips: Vec<Vip>,
    /// Addresses added and removed with the VIPs but not listed in adverts, of either family
    /// (keepalived `virtual_ipaddress_excluded`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded_vips: Vec<Vip>,
    /// Source address of adverts (keepalived `unicast_src_ip` / `mcast_src_ip`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_address: Option<IpAddr>,
    /// Send adverts to these addresses instead of the multicast group.
    #[serde(default)]
    pub unicast_peers: Vec<IpAddr>,
    /// Accept unicast adverts only from `unicast_peers` (keepalived `check_unicast_src`,
    /// which vipd does by default).
    #[serde(default = "default_true")]
    pub check_unicast_src: bool,
    /// TTL / hop limit of the unicast adverts sent (keepalived `unicast_ttl`, default 255).
    /// Below 255 it declares peers behind routers: received unicast adverts are then
    /// accepted whatever their TTL (still only from the peers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unicast_ttl: Option<u8>,
    /// TTL / hop limit ranges the adverts of some peers must arrive with, instead of the
    /// rule above (keepalived `unicast_peer { ADDRESS min_ttl N max_ttl M }`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unicast_peer_ttl: Vec<PeerTtl>,
    /// With no `unicast_peers`, stay in FAULT instead of falling back to multicast (keepalived
    /// `unicast_fault_no_peer`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unicast_fault_no_peer: bool,
    /// This instance's multicast group instead of the global one (keepalived
    /// `mcast_dst_ip`); instances on different groups may share a VRID on one interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcast_group: Option<IpAddr>,
    /// Overrides [`Global::down_timer_adverts`] (keepalived `down_timer_adverts`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub down_timer_adverts: Option<u8>,
    /// Checks (not of kind `file`) whose state changes this instance's priority.
    #[serde(default)]
    pub track_checks: Vec<TrackCheck>,
    #[serde(default)]
    pub track_interfaces: Vec<TrackInterface>,
    /// Checks of kind `file` whose value times the weight changes the priority.
    #[serde(default)]
    pub track_files: Vec<TrackCheck>,
    #[serde(default, skip_serializing_if = "Notify::is_empty")]
    pub notify: Notify,
    #[serde(default, skip_serializing_if = "GarpOverride::is_empty")]
    pub garp: GarpOverride,
    /// Overrides [`Global::v3_checksum`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v3_checksum: Option<V3Checksum>,
    /// The instance ignores its own interface's link state (keepalived
    /// `dont_track_primary`): a link going down does not put it in FAULT.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dont_track_primary: bool,
    /// Sets `net.ipv4.conf.IF.promote_secondaries=1` on the instance's interface for as long
    /// as vipd runs (keepalived `promote_secondaries`), so removing a VIP that is the primary
    /// address of its subnet does not make the kernel delete the other addresses of that
    /// subnet (other VIPs, the host's own). The old value comes back at exit.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub promote_secondaries: bool,
    /// The instance is in FAULT while its `source_address` is not on its interface
    /// (keepalived `track_src_ip`), and leaves FAULT when the address comes back.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub track_source_address: bool,
    /// Overrides [`Global::strict`] for this instance (keepalived `strict_mode`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
    /// Overrides [`Global::lower_prio_no_advert`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower_prio_no_advert: Option<bool>,
    /// Overrides [`Global::higher_prio_send_advert`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub higher_prio_send_advert: Option<bool>,
    /// Routes the master holds with its VIPs (keepalived `virtual_routes`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    /// Policy rules the master holds with its VIPs (keepalived `virtual_rules`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Rule>,
    /// Hold the VIPs on a macvlan with the virtual router MAC (keepalived `use_vmac`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vmac: Option<Vmac>,
    /// VIPs on other interfaces go on VMACs of their interface (keepalived `use_vmac_addr`);
    /// a VIP written with `use_vmac` goes on one anyway.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub vmac_addr: bool,
    /// Names of the VMACs holding VIPs with `use_vmac` (or under `vmac_addr`), by the
    /// interface they are on; unnamed ones get keepalived's names (`vrrp.VRID`, then
    /// `vrrp1.VRID`, ...).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub vip_vmacs: std::collections::BTreeMap<String, String>,
    /// Hold the VIPs on an ipvlan of the interface (keepalived `use_ipvlan`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipvlan: Option<Ipvlan>,
    /// DNAT (and MASQUERADE) while master, in vipd's own nftables table (native only).
    #[serde(default, rename = "forward", skip_serializing_if = "Vec::is_empty")]
    pub forwards: Vec<Forward>,
}

fn default_priority() -> u8 {
    100
}

fn default_advert_interval() -> Duration {
    Duration::from_secs(1)
}

fn default_true() -> bool {
    true
}

impl Instance {
    /// A new instance with keepalived's defaults.
    pub fn new(name: &str, interface: &str, vrid: u8) -> Instance {
        Instance {
            name: name.to_string(),
            interface: interface.to_string(),
            vrid,
            priority: default_priority(),
            initial_state: InitialState::Backup,
            advert_interval: default_advert_interval(),
            version: None,
            preempt: true,
            preempt_delay: Duration::ZERO,
            auth_pass: None,
            auth_type: AuthType::Pass,
            vips: Vec::new(),
            excluded_vips: Vec::new(),
            source_address: None,
            unicast_peers: Vec::new(),
            check_unicast_src: true,
            unicast_ttl: None,
            unicast_peer_ttl: Vec::new(),
            unicast_fault_no_peer: false,
            mcast_group: None,
            down_timer_adverts: None,
            track_checks: Vec::new(),
            track_interfaces: Vec::new(),
            track_files: Vec::new(),
            notify: Notify::default(),
            garp: GarpOverride::default(),
            v3_checksum: None,
            dont_track_primary: false,
            promote_secondaries: false,
            track_source_address: false,
            strict: None,
            lower_prio_no_advert: None,
            higher_prio_send_advert: None,
            routes: Vec::new(),
            rules: Vec::new(),
            vmac: None,
            vmac_addr: false,
            vip_vmacs: std::collections::BTreeMap::new(),
            ipvlan: None,
            forwards: Vec::new(),
        }
    }

    /// Strict RFC mode for this instance: its own `strict`, else [`Global::strict`].
    pub fn strict(&self, global: &Global) -> bool {
        self.strict.unwrap_or(global.strict)
    }

    /// True when the instance carries IPv6 (judged by its VIPs, else its peers/source).
    pub fn is_ipv6(&self) -> bool {
        match self.vips.first() {
            Some(vip) => vip.address.is_ipv6(),
            None => self
                .unicast_peers
                .first()
                .or(self.source_address.as_ref())
                .is_some_and(IpAddr::is_ipv6),
        }
    }

    /// The VRRP version this instance runs: its own, else global; IPv6 is always 3.
    pub fn version(&self, global: &Global) -> u8 {
        if self.is_ipv6() {
            3
        } else {
            self.version.unwrap_or(global.vrrp_version)
        }
    }

    /// Interface a VIP goes on: the VMAC of its interface when it has `use_vmac` (or the
    /// instance `vmac_addr`), else its `dev`, else the instance's VMAC or ipvlan (for VIPs of
    /// the instance's family), else the instance's interface.
    pub fn vip_interface<'a>(&'a self, vip: &'a Vip) -> &'a str {
        if let Some(parent) = self.vip_vmac_parent(vip) {
            if let Some(name) = self.vip_vmacs.get(parent) {
                return name;
            }
        }
        let on_own_interface = vip.interface.as_deref().is_none_or(|i| i == self.interface);
        match self.vmac_interface().or(self.ipvlan_interface()) {
            Some(vmac) if on_own_interface && vip.address.is_ipv6() == self.is_ipv6() => vmac,
            _ => vip.interface.as_deref().unwrap_or(&self.interface),
        }
    }

    /// GARP settings with this instance's overrides applied. The lower-priority settings come
    /// out resolved as keepalived resolves them: the instance's, else the global ones, else the
    /// global `master_repeat`/`master_delay`; none in strict mode.
    pub fn garp(&self, global: &Global) -> Garp {
        let g = &global.garp;
        let (lower_prio_repeat, lower_prio_delay) = if global.strict {
            (0, Duration::ZERO)
        } else {
            (
                self.garp.lower_prio_repeat.unwrap_or(g.lower_prio_repeat()),
                self.garp.lower_prio_delay.unwrap_or(g.lower_prio_delay()),
            )
        };
        Garp {
            master_delay: self.garp.master_delay.unwrap_or(g.master_delay),
            master_repeat: self.garp.master_repeat.unwrap_or(g.master_repeat),
            master_refresh: self.garp.master_refresh.or(g.master_refresh),
            master_refresh_repeat: self
                .garp
                .master_refresh_repeat
                .unwrap_or(g.master_refresh_repeat),
            interval: g.interval,
            na_interval: g.na_interval,
            lower_prio_repeat: Some(lower_prio_repeat),
            lower_prio_delay: Some(lower_prio_delay),
        }
    }

    /// Whether a master stays silent on hearing a lower priority (always in strict mode).
    pub fn lower_prio_no_advert(&self, global: &Global) -> bool {
        global.strict
            || self
                .lower_prio_no_advert
                .unwrap_or(global.lower_prio_no_advert)
    }

    /// Whether a master advertises once more before yielding (never in strict mode).
    pub fn higher_prio_send_advert(&self, global: &Global) -> bool {
        !global.strict
            && self
                .higher_prio_send_advert
                .unwrap_or(global.higher_prio_send_advert)
    }

    /// The multicast group of this instance's adverts; `None` for unicast.
    pub fn group(&self, global: &Global) -> Option<IpAddr> {
        if !self.unicast_peers.is_empty() {
            return None;
        }
        Some(self.mcast_group.unwrap_or(if self.is_ipv6() {
            IpAddr::V6(global.group6())
        } else {
            IpAddr::V4(global.group4())
        }))
    }

    /// `unicast_fault_no_peer` without any peer: the instance must not run.
    pub fn lacks_unicast_peers(&self) -> bool {
        self.unicast_fault_no_peer && self.unicast_peers.is_empty()
    }

    /// Adverts a backup misses before it takes over.
    pub fn down_timer_adverts(&self, global: &Global) -> u8 {
        self.down_timer_adverts.unwrap_or(global.down_timer_adverts)
    }

    /// Every address the master holds: the VIPs, then the excluded ones.
    pub fn all_vips(&self) -> impl Iterator<Item = &Vip> {
        self.vips.iter().chain(self.excluded_vips.iter())
    }

    pub fn v3_checksum(&self, global: &Global) -> V3Checksum {
        self.v3_checksum.unwrap_or(global.v3_checksum)
    }
}

/// VRRPv2 authentication with the instance's `auth_pass`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AuthType {
    /// Simple password in the advert (RFC 2338 type 1).
    #[default]
    Pass,
    /// IPsec AH with HMAC-MD5-96 keyed with the password (RFC 2338 type 2), as keepalived.
    Ah,
}

impl AuthType {
    pub fn is_pass(&self) -> bool {
        *self == AuthType::Pass
    }
}

/// A reference from an instance to a [`Check`], optionally with its own weight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackCheck {
    pub check: String,
    /// Overrides the check's weight for this instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
    /// Overrides the check's `reverse` for this instance (keepalived `reverse`/`noreverse`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverse: Option<bool>,
}

impl TrackCheck {
    pub fn new(check: &str) -> TrackCheck {
        TrackCheck {
            check: check.to_string(),
            weight: None,
            reverse: None,
        }
    }
}

/// The TTL / hop limits a unicast peer's adverts may arrive with (keepalived `min_ttl` /
/// `max_ttl` after the peer's address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerTtl {
    pub peer: IpAddr,
    #[serde(default)]
    pub min_ttl: u8,
    #[serde(default = "max_ttl")]
    pub max_ttl: u8,
}

fn max_ttl() -> u8 {
    u8::MAX
}

impl Instance {
    /// The TTL range configured for adverts from `peer`, if any.
    pub fn peer_ttl(&self, peer: IpAddr) -> Option<(u8, u8)> {
        self.unicast_peer_ttl
            .iter()
            .find(|p| p.peer == peer)
            .map(|p| (p.min_ttl, p.max_ttl))
    }
}

/// An interface whose link state this instance follows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackInterface {
    pub name: String,
    /// 0 (default): link down puts the instance in FAULT. Otherwise keepalived weight rules.
    #[serde(default)]
    pub weight: i32,
    /// keepalived `reverse`: the adjustment goes the other way (weight 0: FAULT while up).
    #[serde(default, skip_serializing_if = "is_false")]
    pub reverse: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Commands run on state changes. `any` (keepalived `notify`) gets four extra
/// arguments: `INSTANCE`|`GROUP`, name, state, priority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Notify {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master: Option<NotifyScript>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup: Option<NotifyScript>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<NotifyScript>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<NotifyScript>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub any: Option<NotifyScript>,
    /// Priority changes go to the notify FIFOs (keepalived `notify_priority_changes`);
    /// `None`: as `global.notify_priority_changes` (for an instance: as its sync group's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority_changes: Option<bool>,
    /// keepalived `notify_deleted`: an instance removed by a reload reports `DELETED` to
    /// `any` (without it: `FAULT`), and runs `deleted_script` if given.
    #[serde(skip_serializing_if = "is_false")]
    pub deleted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_script: Option<NotifyScript>,
    /// keepalived `notify_master_rx_lower_pri`: run (without extra arguments) when the
    /// instance, as master, hears an advert with a lower priority.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master_rx_lower_pri: Option<NotifyScript>,
}

impl Notify {
    pub fn is_empty(&self) -> bool {
        *self == Notify::default()
    }

    /// An instance removed by a reload reports `DELETED` rather than `FAULT`.
    pub fn reports_deleted(&self) -> bool {
        self.deleted || self.deleted_script.is_some()
    }
}

/// A notification command, optionally with its own user and group (keepalived
/// `notify_master CMD USER [GROUP]`); otherwise `script_user`/`script_group` apply. Written
/// in TOML as the command string, or as `{ command = "...", user = "...", group = "..." }`.
/// Dereferences to the command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "native::NotifyScriptForm", into = "native::NotifyScriptForm")]
pub struct NotifyScript {
    pub command: String,
    pub user: Option<String>,
    pub group: Option<String>,
}

impl From<&str> for NotifyScript {
    fn from(command: &str) -> Self {
        NotifyScript {
            command: command.to_string(),
            user: None,
            group: None,
        }
    }
}

impl From<String> for NotifyScript {
    fn from(command: String) -> Self {
        NotifyScript {
            command,
            user: None,
            group: None,
        }
    }
}

impl std::ops::Deref for NotifyScript {
    type Target = str;
    fn deref(&self) -> &str {
        &self.command
    }
}

/// A health check. Instances refer to it by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "native::CheckTable", into = "native::CheckTable")]
pub struct Check {
    pub name: String,
    pub kind: CheckKind,
    /// Time between two runs (keepalived default 1 s).
    pub interval: Duration,
    /// A run taking longer fails; `None` = the interval.
    pub timeout: Option<Duration>,
    /// Successes in a row before a failed check is OK again.
    pub rise: u32,
    /// Failures in a row before an OK check fails.
    pub fall: u32,
    /// -253..=253, keepalived semantics: positive added while OK, negative subtracted
    /// while failed, 0 = failure puts the instance in FAULT. For `file` checks: multiplier.
    pub weight: i32,
    /// Start in the failed state.
    pub init_fail: bool,
    /// keepalived `weight N reverse`: instances tracking it adjust the other way by default.
    pub reverse: bool,
}

impl Check {
    /// A check with keepalived's `vrrp_script` defaults.
    pub fn new(name: &str, kind: CheckKind) -> Check {
        Check {
            name: name.to_string(),
            kind,
            interval: Duration::from_secs(1),
            timeout: None,
            rise: 1,
            fall: 1,
            weight: 0,
            init_fail: false,
            reverse: false,
        }
    }

    /// The timeout in force: the configured one, else the interval.
    pub fn effective_timeout(&self) -> Duration {
        self.timeout.unwrap_or(self.interval)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum CheckKind {
    /// Runs a command without a shell; exit status 0 = OK.
    Exec {
        /// As written (keepalived `script`).
        command: String,
        /// `command` split like a shell would.
        argv: Vec<String>,
        user: Option<String>,
        group: Option<String>,
    },
    /// OK when a TCP connection succeeds.
    Tcp { host: String, port: u16 },
    /// OK when a GET answers with one of the expected status codes.
    Http {
        url: HttpUrl,
        expected_status: Vec<u16>,
        insecure_skip_verify: bool,
        host_header: Option<String>,
    },
    /// Reads an integer from a file (keepalived `vrrp_track_file`).
    File { path: PathBuf },
    /// OK while the interface is up.
    Interface { name: String },
    /// OK while the number of matching processes is within the quorum (keepalived
    /// `vrrp_track_process`).
    Process(ProcessCheck),
}

/// Which processes a process check counts, and how many it wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessCheck {
    /// The process name, or argv[0] with `match_by = Command`.
    pub process: String,
    pub match_by: ProcessMatch,
    /// `Command` only: the parameters to match.
    pub args: Vec<String>,
    /// `Command` only.
    pub param_match: ParamMatch,
    /// Fewest matching processes that are OK (keepalived `quorum`, default 1).
    pub quorum: u32,
    /// Most matching processes that are OK (keepalived `quorum_max`; `u32::MAX`: no limit).
    pub quorum_max: u32,
    /// How long a gained (by a new process) or lost quorum must hold before it counts.
    pub fork_delay: Duration,
    /// How long a lost (by a process exiting) or regained quorum must hold before it counts.
    pub terminate_delay: Duration,
}

impl ProcessCheck {
    /// At least one process with this name.
    pub fn named(process: &str) -> ProcessCheck {
        ProcessCheck {
            process: process.to_string(),
            match_by: ProcessMatch::Name,
            args: Vec::new(),
            param_match: ParamMatch::Any,
            quorum: 1,
            quorum_max: u32::MAX,
            fork_delay: Duration::ZERO,
            terminate_delay: Duration::ZERO,
        }
    }
}

/// How a process check compares processes with `process`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ProcessMatch {
    /// The process name (`comm`, at most 15 bytes) equals it (keepalived's default,
    /// `killall -0`, `pgrep -x`).
    #[default]
    Name,
    /// The process name contains it (`pgrep NAME`).
    NameContains,
    /// `pidof NAME`: argv[0] or its base name equals it.
    Pidof,
    /// `pidof -x NAME`: also the script an interpreter runs.
    PidofScripts,
    /// argv[0] equals it and the parameters match (keepalived `full_command`).
    Command,
}

/// keepalived `param_match` for `match_by = Command`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ParamMatch {
    /// Any parameters.
    #[default]
    Any,
    /// Exactly `args`.
    Exact,
    /// `args` first, more may follow.
    Partial,
    /// Like `Partial`; the last of `args` may be a prefix.
    Initial,
}

impl CheckKind {
    /// An exec check from a command line.
    pub fn exec(command: &str) -> Result<CheckKind, String> {
        let argv = words::split(command)?;
        if argv.is_empty() {
            return Err("the command is empty".to_string());
        }
        Ok(CheckKind::Exec {
            command: command.to_string(),
            argv,
            user: None,
            group: None,
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            CheckKind::Exec { .. } => "exec",
            CheckKind::Tcp { .. } => "tcp",
            CheckKind::Http { .. } => "http",
            CheckKind::File { .. } => "file",
            CheckKind::Interface { .. } => "interface",
            CheckKind::Process(_) => "process",
        }
    }
}

/// Instances that change state together (keepalived `vrrp_sync_group`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncGroup {
    pub name: String,
    pub instances: Vec<String>,
    #[serde(default, skip_serializing_if = "Notify::is_empty")]
    pub notify: Notify,
    /// Checks every member tracks (keepalived `track_script`/`track_process` in the group).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_checks: Vec<TrackCheck>,
    /// File checks every member tracks (keepalived `track_file` in the group).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_files: Vec<TrackCheck>,
    /// Interfaces every member tracks (keepalived `track_interface` in the group).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_interfaces: Vec<TrackInterface>,
}

/// True when `path` names a native file (`*.toml`); anything else is read as keepalived.conf.
pub fn is_native_path(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "toml")
}

/// A configuration as read, with what vipd accepted but wants the user to know: keywords
/// it ignores or reads differently from keepalived, unknown words, semantic differences.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    /// In file order for keepalived.conf (parse-time ones first), then semantic ones.
    pub warnings: Vec<ConfigWarning>,
    /// Where items were written (keepalived.conf): field path as in validation problems
    /// (`check[2]`, `instance[0].notify.master`) -> file and line.
    pub locations: std::collections::BTreeMap<String, (PathBuf, usize)>,
    /// Where keepalived.conf puts keepalived's pid files.
    pub pid_dir: PidDir,
}

/// keepalived's top-level `instance NAME` and `use_pid_dir`: where keepalived 2.2.7 puts its
/// pid files (`/run/keepalived/keepalived_NAME.pid`), which `vipd keepalived` follows. Not
/// part of [`Config`]: a reload does not move pid files, and native files have none
/// (`vipd run --pid-file` names them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PidDir {
    pub instance: Option<String>,
    pub use_pid_dir: bool,
}

impl Loaded {
    /// A warning about the item at `path`, pinned to the line of it (or of the nearest
    /// enclosing item) when known, else to `file`.
    pub fn warning_at(&self, file: &Path, path: &str, message: impl Into<String>) -> ConfigWarning {
        let mut at = path;
        loop {
            if let Some((f, line)) = self.locations.get(at) {
                return ConfigWarning::at_line(f, *line, message);
            }
            match at.rfind(['.', '[']) {
                Some(cut) => at = &at[..cut],
                None => return ConfigWarning::in_file(file, message),
            }
        }
    }
}

/// How to read a keepalived.conf beyond its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOptions {
    /// keepalived's config id (`-i`): lines `@ID ...` are read only when ID matches it,
    /// lines `@^ID ...` only when it does not. keepalived's default is the host name up to
    /// its first dot.
    pub config_id: String,
    /// keepalived's `-e`/`--all-config`: an include that brings in no file (a path that is
    /// not there or cannot be read, a pattern matching nothing, a `{a,b}` alternative
    /// without wildcards that is not there) refuses the configuration instead of being a
    /// warning.
    pub all_config: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            config_id: default_config_id(),
            all_config: false,
        }
    }
}

/// The host name up to its first dot, as keepalived's default config id.
pub fn default_config_id() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    name.trim().split('.').next().unwrap_or("").to_string()
}

/// Reads and validates a configuration file.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    read(path, &ReadOptions::default()).map(|loaded| loaded.config)
}

/// Largest configuration file read (each included file too): a file of 510 instances is
/// about 500 KB.
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// The text of a configuration file (or an included one), when it is a regular file of at
/// most [`MAX_FILE_BYTES`]. A FIFO, a device such as `/dev/zero` or a directory is refused
/// without waiting on it or reading it: opened non-blocking and checked before any read
/// (keepalived 2.2.7 would wait on a FIFO, or read `/dev/zero` until memory runs out, and a
/// reload does that while the adverts wait).
pub fn read_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other(
            "not a regular file (a FIFO, socket, device or directory)",
        ));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than {} MiB",
            MAX_FILE_BYTES >> 20
        )));
    }
    let mut text = String::new();
    // A file that grows while read is cut at the limit, and refused.
    file.take(MAX_FILE_BYTES + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than {} MiB",
            MAX_FILE_BYTES >> 20
        )));
    }
    Ok(text)
}

/// Reads and validates a configuration file, keeping the warnings.
pub fn read(path: &Path, options: &ReadOptions) -> Result<Loaded, ConfigErrors> {
    let text =
        read_file(path).map_err(|e| ConfigError::in_file(path, format!("cannot read: {e}")))?;
    if is_native_path(path) {
        read_native(&text, path)
    } else {
        read_keepalived(&text, path, options)
    }
}

/// Loads the first of [`DEFAULT_PATHS`] that exists.
pub fn load_default() -> Result<(PathBuf, Config), ConfigErrors> {
    read_default(&ReadOptions::default()).map(|(path, loaded)| (path, loaded.config))
}

/// Reads the first of [`DEFAULT_PATHS`] that exists, keeping the warnings.
pub fn read_default(options: &ReadOptions) -> Result<(PathBuf, Loaded), ConfigErrors> {
    let candidates: Vec<PathBuf> = DEFAULT_PATHS.iter().map(PathBuf::from).collect();
    read_first(&candidates, options)
}

/// Loads the first existing file of `candidates`.
pub fn load_first(candidates: &[PathBuf]) -> Result<(PathBuf, Config), ConfigErrors> {
    read_first(candidates, &ReadOptions::default()).map(|(path, loaded)| (path, loaded.config))
}

/// Reads the first existing file of `candidates`, keeping the warnings.
pub fn read_first(
    candidates: &[PathBuf],
    options: &ReadOptions,
) -> Result<(PathBuf, Loaded), ConfigErrors> {
    for path in candidates {
        if path.exists() {
            return read(path, options).map(|loaded| (path.clone(), loaded));
        }
    }
    let tried: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
    let first = candidates.first().cloned().unwrap_or_default();
    Err(ConfigError::in_file(
        &first,
        format!(
            "no configuration found (tried {}); pass one with --config",
            tried.join(", ")
        ),
    )
    .into())
}
