//! Configuration: vipd's native TOML model and the keepalived.conf reader.
//!
//! Both readers produce the same [`Config`]; [`validate`] checks it the same way for both,
//! and [`to_toml`] writes any `Config` as a native file (`vipd import-keepalived`).
//! Every key of the native format is described in `REFERENCE.md` beside this file.

pub mod duration;
mod error;
mod keepalived;
mod lexer;
mod native;
pub use crate::url;
mod validate;
mod vip;
pub mod words;

pub use error::{ConfigError, ConfigErrors};
pub use keepalived::parse_keepalived;
pub use native::{parse_native, to_toml, translate_check};
pub use url::{HttpUrl, Scheme};
pub use validate::warnings;
pub use vip::{Scope, Vip};

use serde::{Deserialize, Serialize};
use std::net::IpAddr;
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
    /// keepalived `vrrp_skip_check_adv_addr`; vipd only logs mismatched address lists anyway.
    pub skip_check_adv_addr: bool,
    /// keepalived `max_auto_priority`; accepted, no effect in vipd.
    pub max_auto_priority: Option<i32>,
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
        }
    }
}

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
    #[serde(default)]
    pub vips: Vec<Vip>,
    /// Source address of adverts (keepalived `unicast_src_ip` / `mcast_src_ip`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_address: Option<IpAddr>,
    /// Send adverts to these addresses instead of the multicast group.
    #[serde(default)]
    pub unicast_peers: Vec<IpAddr>,
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
            vips: Vec::new(),
            source_address: None,
            unicast_peers: Vec::new(),
            track_checks: Vec::new(),
            track_interfaces: Vec::new(),
            track_files: Vec::new(),
            notify: Notify::default(),
            garp: GarpOverride::default(),
            v3_checksum: None,
        }
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

    /// Interface a VIP goes on.
    pub fn vip_interface<'a>(&'a self, vip: &'a Vip) -> &'a str {
        vip.interface.as_deref().unwrap_or(&self.interface)
    }

    /// GARP settings with this instance's overrides applied.
    pub fn garp(&self, global: &Global) -> Garp {
        let g = &global.garp;
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
        }
    }

    pub fn v3_checksum(&self, global: &Global) -> V3Checksum {
        self.v3_checksum.unwrap_or(global.v3_checksum)
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
}

impl Notify {
    pub fn is_empty(&self) -> bool {
        *self == Notify::default()
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

/// Reads and validates a configuration file.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::in_file(path, format!("cannot read: {e}")))?;
    if is_native_path(path) {
        parse_native(&text, path)
    } else {
        parse_keepalived(&text, path)
    }
}

/// Loads the first of [`DEFAULT_PATHS`] that exists.
pub fn load_default() -> Result<(PathBuf, Config), ConfigErrors> {
    let candidates: Vec<PathBuf> = DEFAULT_PATHS.iter().map(PathBuf::from).collect();
    load_first(&candidates)
}

/// Loads the first existing file of `candidates`.
pub fn load_first(candidates: &[PathBuf]) -> Result<(PathBuf, Config), ConfigErrors> {
    for path in candidates {
        if path.exists() {
            return load(path).map(|cfg| (path.clone(), cfg));
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
