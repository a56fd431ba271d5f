//! Checks on a whole [`Config`], the same for both file formats. Each problem names the
//! field it is about (`instance[0].priority`); the readers turn that into a line when
//! they know one.

use super::{CheckKind, Config, Instance};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::Duration;

/// One validation failure, about the field at `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

/// Track weights for scripts, interfaces and checks (keepalived's range).
pub const WEIGHT_RANGE: std::ops::RangeInclusive<i32> = -253..=253;
/// Track weights for files (keepalived allows 254 so a negative file value can reach FAULT).
pub const FILE_WEIGHT_RANGE: std::ops::RangeInclusive<i32> = -254..=254;
const V3_MIN_INTERVAL: Duration = Duration::from_millis(10);
const V3_MAX_INTERVAL: Duration = Duration::from_millis(40_950);
const MAX_PREEMPT_DELAY: Duration = Duration::from_secs(1000);

struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }
}

pub fn problems(cfg: &Config) -> Vec<Problem> {
    let mut out = Problems(Vec::new());
    check_global(cfg, &mut out);
    check_checks(cfg, &mut out);
    let mut names = HashSet::new();
    let mut routers: HashMap<(&str, u8, bool, Option<IpAddr>), &str> = HashMap::new();
    for (i, instance) in cfg.instances.iter().enumerate() {
        let at = format!("instance[{i}]");
        if !names.insert(instance.name.as_str()) {
            out.add(
                format!("{at}.name"),
                format!("instance name `{}` is used twice", instance.name),
            );
        }
        // Instances on different multicast groups are different virtual routers.
        let key = (
            instance.interface.as_str(),
            instance.vrid,
            instance.is_ipv6(),
            instance.group(&cfg.global),
        );
        if let Some(other) = routers.insert(key, &instance.name) {
            out.add(
                format!("{at}.vrid"),
                format!(
                    "instances `{other}` and `{}` both use virtual router id {} on {}",
                    instance.name, instance.vrid, instance.interface
                ),
            );
        }
        check_instance(cfg, instance, &at, &mut out);
    }
    check_sync_groups(cfg, &mut out);
    out.0
}

/// Static addresses need their interface; every rule needs its preference (the order of
/// rules decides which table a packet is looked up in, and the keepalived reader assigns
/// keepalived's numbers); a namespace name is a file name under /run/netns.
fn check_routing(cfg: &Config, out: &mut Problems) {
    if let Some(name) = &cfg.global.net_namespace {
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            out.add(
                "global.net_namespace",
                format!("`{name}` is not a namespace name (a file name under /run/netns)"),
            );
        }
    }
    for (j, address) in cfg.statics.addresses.iter().enumerate() {
        if address.interface.is_none() {
            out.add(
                format!("static.addresses[{j}]"),
                format!("static address {address} needs `dev INTERFACE`"),
            );
        }
    }
    let instance_rules = cfg.instances.iter().enumerate().flat_map(|(i, inst)| {
        (inst.rules.iter().enumerate()).map(move |(j, r)| (format!("instance[{i}].rules[{j}]"), r))
    });
    let static_rules =
        (cfg.statics.rules.iter().enumerate()).map(|(j, r)| (format!("static.rules[{j}]"), r));
    for (at, rule) in static_rules.chain(instance_rules) {
        if rule.priority.is_none() {
            out.add(
                at,
                format!(
                    "rule `{rule}` needs a `priority N` (rules are tried in that order; the \
                     kernel would pick one by itself)"
                ),
            );
        }
    }
}

fn check_global(cfg: &Config, out: &mut Problems) {
    check_routing(cfg, out);
    let g = &cfg.global;
    if !matches!(g.vrrp_version, 2 | 3) {
        out.add(
            "global.vrrp_version",
            format!("VRRP version {} is not 2 or 3", g.vrrp_version),
        );
    }
    if let Some(group) = g.mcast_group4 {
        if !group.is_multicast() {
            out.add(
                "global.mcast_group4",
                format!("{group} is not an IPv4 multicast address (224.0.0.0/4)"),
            );
        }
    }
    if let Some(group) = g.mcast_group6 {
        if !group.is_multicast() {
            out.add(
                "global.mcast_group6",
                format!("{group} is not an IPv6 multicast address (ff00::/8)"),
            );
        }
    }
    for (field, fifo) in [
        ("notify_fifo", &g.notify_fifo),
        ("vrrp_notify_fifo", &g.vrrp_notify_fifo),
    ] {
        if fifo.as_ref().is_some_and(|f| f.path.is_empty()) {
            out.add(
                format!("global.{field}.path"),
                format!("{field}: the path is empty"),
            );
        }
    }
    if !(1..=100).contains(&g.down_timer_adverts) {
        out.add(
            "global.down_timer_adverts",
            format!("{} is not in 1..=100", g.down_timer_adverts),
        );
    }
    if let Some(p) = g.max_auto_priority {
        if !(-1..=99).contains(&p) {
            out.add(
                "global.max_auto_priority",
                format!("max_auto_priority {p} is not in -1..=99"),
            );
        }
    }
    if g.control_group
        .as_deref()
        .is_some_and(|group| group.trim().is_empty())
    {
        out.add("global.control_group", "an empty group name");
    }
}

fn check_checks(cfg: &Config, out: &mut Problems) {
    let mut names = HashSet::new();
    for (i, check) in cfg.checks.iter().enumerate() {
        let at = format!("check[{i}]");
        if check.name.is_empty() {
            out.add(format!("{at}.name"), "a check needs a name");
        } else if !names.insert(check.name.as_str()) {
            out.add(
                format!("{at}.name"),
                format!("check name `{}` is used twice", check.name),
            );
        }
        if check.interval.is_zero() {
            out.add(
                format!("{at}.interval"),
                "the check interval must be greater than 0",
            );
        }
        if check.timeout.is_some_and(|t| t.is_zero()) {
            out.add(
                format!("{at}.timeout"),
                "the check timeout must be greater than 0",
            );
        }
        if check.rise == 0 {
            out.add(format!("{at}.rise"), "rise must be at least 1");
        }
        if check.fall == 0 {
            out.add(format!("{at}.fall"), "fall must be at least 1");
        }
        let range = weight_range(&check.kind);
        if !range.contains(&check.weight) {
            out.add(
                format!("{at}.weight"),
                format!(
                    "weight {} is out of range {}..={}",
                    check.weight,
                    range.start(),
                    range.end()
                ),
            );
        }
        match &check.kind {
            CheckKind::Exec { argv, .. } if argv.is_empty() => {
                out.add(format!("{at}.command"), "the command is empty")
            }
            CheckKind::Tcp { host, port } => {
                if host.is_empty() {
                    out.add(format!("{at}.host"), "the host is empty");
                }
                if *port == 0 {
                    out.add(format!("{at}.port"), "port 0 is not a TCP port");
                }
            }
            CheckKind::Http {
                expected_status, ..
            } => {
                if expected_status.is_empty() {
                    out.add(
                        format!("{at}.expected_status"),
                        "at least one expected status code is needed",
                    );
                }
                for code in expected_status {
                    if !(100..=599).contains(code) {
                        out.add(
                            format!("{at}.expected_status"),
                            format!("{code} is not an HTTP status code (100..=599)"),
                        );
                    }
                }
            }
            CheckKind::File { path } if path.as_os_str().is_empty() => {
                out.add(format!("{at}.path"), "the file path is empty")
            }
            CheckKind::Interface { name } if name.is_empty() => {
                out.add(format!("{at}.interface"), "the interface name is empty")
            }
            CheckKind::Process(p) => {
                if p.process.is_empty() {
                    out.add(format!("{at}.process"), "the process name is empty");
                }
                if p.quorum > p.quorum_max {
                    out.add(
                        format!("{at}.quorum"),
                        format!("quorum {} is above quorum_max {}", p.quorum, p.quorum_max),
                    );
                }
            }
            _ => {}
        }
    }
}

/// keepalived: files and processes take -254..=254, the others -253..=253.
fn weight_range(kind: &CheckKind) -> std::ops::RangeInclusive<i32> {
    match kind {
        CheckKind::File { .. } | CheckKind::Process(_) => FILE_WEIGHT_RANGE,
        _ => WEIGHT_RANGE,
    }
}

fn check_instance(cfg: &Config, inst: &Instance, at: &str, out: &mut Problems) {
    for (path, message) in super::vmac::problems(cfg, inst, at) {
        out.add(path, message);
    }
    for (path, message) in super::forward::problems(cfg, inst, at) {
        out.add(path, message);
    }
    if inst.name.is_empty() {
        out.add(format!("{at}.name"), "an instance needs a name");
    }
    if inst.interface.is_empty() {
        out.add(
            format!("{at}.interface"),
            format!("instance `{}` needs an interface", inst.name),
        );
    }
    if inst.vrid == 0 {
        out.add(
            format!("{at}.vrid"),
            "virtual router id 0 is out of range 1..=255",
        );
    }
    if inst.priority == 0 {
        out.add(
            format!("{at}.priority"),
            "priority 0 is out of range 1..=255 (0 is reserved for a master that leaves)",
        );
    }
    if let Some(v) = inst.version {
        if !matches!(v, 2 | 3) {
            out.add(
                format!("{at}.version"),
                format!("VRRP version {v} is not 2 or 3"),
            );
        } else if v == 2 && inst.is_ipv6() {
            out.add(
                format!("{at}.version"),
                "VRRP version 2 cannot carry IPv6 addresses; use version 3",
            );
        }
    }
    let ipv6 = inst.is_ipv6();
    let family = |v6: bool| if v6 { "IPv6" } else { "IPv4" };
    // The same address on two interfaces (a gateway's fe80::1 on each VLAN) is two
    // addresses: keepalived 2.2.7 runs such a file.
    let mut seen = HashSet::new();
    let key = |vip: &crate::config::Vip| {
        (
            vip.address,
            vip.interface
                .clone()
                .unwrap_or_else(|| inst.interface.clone()),
        )
    };
    for (j, vip) in inst.vips.iter().enumerate() {
        if vip.address.is_ipv6() != ipv6 {
            out.add(
                format!("{at}.vips[{j}]"),
                format!(
                    "{} is {} but the instance's first address is {}; IPv4 and IPv6 addresses \
                     need separate instances",
                    vip.address,
                    family(!ipv6),
                    family(ipv6)
                ),
            );
        }
        if !seen.insert(key(vip)) {
            out.add(
                format!("{at}.vips[{j}]"),
                format!("address {} is listed twice", vip.address),
            );
        }
    }
    // Excluded addresses are never in an advert, so either family is fine.
    for (j, vip) in inst.excluded_vips.iter().enumerate() {
        if !seen.insert(key(vip)) {
            out.add(
                format!("{at}.excluded_vips[{j}]"),
                format!("address {} is listed twice", vip.address),
            );
        }
    }
    if let Some(group) = inst.mcast_group {
        if !group.is_multicast() || group.is_ipv6() != ipv6 {
            out.add(
                format!("{at}.mcast_group"),
                format!("{group} is not an {} multicast address", family(ipv6)),
            );
        }
    }
    if let Some(n) = inst.down_timer_adverts {
        if !(1..=100).contains(&n) {
            out.add(
                format!("{at}.down_timer_adverts"),
                format!("{n} is not in 1..=100"),
            );
        }
    }
    if let Some(src) = inst.source_address {
        if src.is_ipv6() != ipv6 {
            out.add(
                format!("{at}.source_address"),
                format!(
                    "source address {src} is {} but the instance is {}",
                    family(!ipv6),
                    family(ipv6)
                ),
            );
        }
    }
    for (j, range) in inst.unicast_peer_ttl.iter().enumerate() {
        let at = format!("{at}.unicast_peer_ttl[{j}]");
        if !inst.unicast_peers.contains(&range.peer) {
            out.add(
                at.clone(),
                format!("{} is not one of the instance's unicast_peers", range.peer),
            );
        }
        if range.min_ttl > range.max_ttl {
            out.add(
                at,
                format!(
                    "min_ttl {} is above max_ttl {}",
                    range.min_ttl, range.max_ttl
                ),
            );
        }
    }
    for (j, peer) in inst.unicast_peers.iter().enumerate() {
        if peer.is_ipv6() != ipv6 {
            out.add(
                format!("{at}.unicast_peers[{j}]"),
                format!(
                    "unicast peer {peer} is {} but the instance is {}",
                    family(!ipv6),
                    family(ipv6)
                ),
            );
        }
    }
    let version = inst.version(&cfg.global);
    let interval = inst.advert_interval;
    if version == 2 {
        if interval.subsec_nanos() != 0 || !(1..=255).contains(&interval.as_secs()) {
            out.add(
                format!("{at}.advert_interval"),
                format!(
                    "VRRPv2 needs a whole number of seconds 1..=255 as advert interval, not {}; \
                     use version 3 for shorter intervals",
                    super::duration::format(interval)
                ),
            );
        }
    } else if interval < V3_MIN_INTERVAL
        || interval > V3_MAX_INTERVAL
        || interval.as_nanos() % 10_000_000 != 0
    {
        out.add(
            format!("{at}.advert_interval"),
            format!(
                "VRRPv3 needs an advert interval of 10ms..=40.95s in steps of 10ms, not {}",
                super::duration::format(interval)
            ),
        );
    }
    if inst.preempt_delay > MAX_PREEMPT_DELAY {
        out.add(
            format!("{at}.preempt_delay"),
            "preempt delay is longer than 1000s",
        );
    }
    if let Some(pass) = &inst.auth_pass {
        if pass.is_empty() {
            out.add(format!("{at}.auth_pass"), "the password is empty");
        }
        if version == 3 && inst.strict(&cfg.global) {
            out.add(
                format!("{at}.auth_pass"),
                "strict mode: VRRPv3 has no authentication; remove it",
            );
        }
    }
    if inst.auth_type == super::AuthType::Ah && inst.auth_pass.is_none() {
        out.add(
            format!("{at}.auth_type"),
            "`auth_type = \"ah\"` needs an `auth_pass` (the key of the AH header)",
        );
    }
    if inst.strict(&cfg.global) && inst.vips.is_empty() {
        out.add(
            format!("{at}.vips"),
            "strict mode needs at least one virtual address",
        );
    }
    check_track_lists(
        cfg,
        &inst.track_checks,
        &inst.track_files,
        &inst.track_interfaces,
        at,
        out,
    );
}

/// What an instance or a sync group tracks refers to existing checks of the right kind.
fn check_track_lists(
    cfg: &Config,
    track_checks: &[super::TrackCheck],
    track_files: &[super::TrackCheck],
    track_interfaces: &[super::TrackInterface],
    at: &str,
    out: &mut Problems,
) {
    for (j, track) in track_checks.iter().enumerate() {
        let path = format!("{at}.track_checks[{j}]");
        let mut range = WEIGHT_RANGE;
        match cfg.checks.iter().find(|c| c.name == track.check) {
            None => out.add(path.clone(), format!("unknown check `{}`", track.check)),
            Some(c) if matches!(c.kind, CheckKind::File { .. }) => out.add(
                path.clone(),
                format!("`{}` is a file check; track it with track_files", c.name),
            ),
            Some(c) => range = weight_range(&c.kind),
        }
        check_weight(track.weight, range, &path, out);
    }
    for (j, track) in track_files.iter().enumerate() {
        let path = format!("{at}.track_files[{j}]");
        match cfg.checks.iter().find(|c| c.name == track.check) {
            None => out.add(
                path.clone(),
                format!("unknown track file `{}`", track.check),
            ),
            Some(c) if !matches!(c.kind, CheckKind::File { .. }) => out.add(
                path.clone(),
                format!(
                    "`{}` is not a file check; track it with track_checks",
                    c.name
                ),
            ),
            Some(_) => {}
        }
        check_weight(track.weight, FILE_WEIGHT_RANGE, &path, out);
    }
    for (j, track) in track_interfaces.iter().enumerate() {
        let path = format!("{at}.track_interfaces[{j}]");
        // A name Linux refuses can never come to exist: keepalived 2.2.7 refuses to start on
        // it as on any missing interface, and vipd's leniency for interfaces that appear later
        // (the instance waits in FAULT) has nothing to wait for.
        if let Err(why) = super::vmac::check_interface_name(&track.name) {
            out.add(
                path.clone(),
                format!(
                    "tracked interface `{}` {why}: no interface of that name can exist \
                     (keepalived 2.2.7 refuses to start: \"Non-existent interface specified \
                     in configuration\")",
                    track.name
                ),
            );
        }
        check_weight(Some(track.weight), WEIGHT_RANGE, &path, out);
    }
}

fn check_weight(
    weight: Option<i32>,
    range: std::ops::RangeInclusive<i32>,
    path: &str,
    out: &mut Problems,
) {
    if let Some(w) = weight {
        if !range.contains(&w) {
            out.add(
                format!("{path}.weight"),
                format!(
                    "weight {w} is out of range {}..={}",
                    range.start(),
                    range.end()
                ),
            );
        }
    }
}

fn check_sync_groups(cfg: &Config, out: &mut Problems) {
    let mut names = HashSet::new();
    let mut member_of: HashMap<&str, &str> = HashMap::new();
    for (g, group) in cfg.sync_groups.iter().enumerate() {
        let at = format!("sync_group[{g}]");
        if !names.insert(group.name.as_str()) {
            out.add(
                format!("{at}.name"),
                format!("sync group name `{}` is used twice", group.name),
            );
        }
        if group.instances.is_empty() {
            out.add(format!("{at}.instances"), "a sync group needs instances");
        }
        check_track_lists(
            cfg,
            &group.track_checks,
            &group.track_files,
            &group.track_interfaces,
            &at,
            out,
        );
        for (j, member) in group.instances.iter().enumerate() {
            let path = format!("{at}.instances[{j}]");
            if !cfg.instances.iter().any(|i| &i.name == member) {
                out.add(path.clone(), format!("unknown instance `{member}`"));
            }
            if let Some(other) = member_of.insert(member, &group.name) {
                out.add(
                    path,
                    format!(
                        "instance `{member}` is in sync groups `{other}` and `{}`",
                        group.name
                    ),
                );
            }
        }
    }
}

/// Things that are valid but behave differently from what the file may suggest, or from
/// keepalived. `vipd check` prints them; the daemon logs them at start and on reload.
pub fn warnings(cfg: &Config) -> Vec<String> {
    warning_problems(cfg)
        .into_iter()
        .map(|p| p.message)
        .collect()
}

/// [`warnings`] with the field each one is about, so the readers can name its line.
pub fn warning_problems(cfg: &Config) -> Vec<Problem> {
    let mut out = Problems(Vec::new());
    if cfg.instances.is_empty() {
        out.add("", "no instances are configured");
    }
    if cfg.global.max_auto_priority.is_some() {
        out.add(
            "global.max_auto_priority",
            "max_auto_priority has no effect in vipd",
        );
    }
    // After a partition heals the returning master announces its addresses only through
    // these messages (README "How failover works"); strict mode means none on purpose.
    let silent_heal = "after a partition heals the returning master does not announce its \
                       addresses again, so clients can stay on the other router's MAC until \
                       their ARP/ND entry expires";
    let inherits_zero = cfg
        .instances
        .iter()
        .any(|inst| inst.garp.lower_prio_repeat.is_none() && !inst.strict(&cfg.global));
    if !cfg.global.strict && cfg.global.garp.lower_prio_repeat() == 0 && inherits_zero {
        out.add(
            "global.garp.lower_prio_repeat",
            format!("lower_prio_repeat is 0: {silent_heal}"),
        );
    }
    for (i, inst) in cfg.instances.iter().enumerate() {
        let at = format!("instance[{i}]");
        let name = &inst.name;
        if inst.garp.lower_prio_repeat == Some(0) && !cfg.global.strict && !inst.strict(&cfg.global)
        {
            out.add(
                format!("{at}.garp.lower_prio_repeat"),
                format!("instance `{name}`: lower_prio_repeat is 0: {silent_heal}"),
            );
        }
        for (path, message) in super::vmac::warnings(inst, &at) {
            out.add(path, message);
        }
        if !inst.preempt && inst.initial_state == super::InitialState::Master {
            out.add(
                format!("{at}.preempt"),
                format!(
                    "instance `{name}`: keepalived ignores nopreempt with state MASTER; vipd \
                     honours it (the instance will not preempt)"
                ),
            );
        }
        if !inst.preempt && inst.priority == 255 {
            out.add(
                format!("{at}.preempt"),
                format!(
                    "instance `{name}`: priority 255 (address owner) always takes over; \
                     nopreempt has no effect"
                ),
            );
        }
        if inst.vips.is_empty() {
            out.add(
                at.clone(),
                format!("instance `{name}` has no virtual addresses"),
            );
        }
        if inst.strict(&cfg.global) && inst.priority != 255 {
            out.add(
                format!("{at}.strict"),
                format!(
                    "instance `{name}`: keepalived's strict mode also drops traffic addressed \
                     to the VIPs unless the priority is 255 (no_accept, with nftables rules); \
                     vipd adds no firewall rules, so the VIPs accept traffic"
                ),
            );
        }
        if inst.lacks_unicast_peers() {
            out.add(
                format!("{at}.unicast_fault_no_peer"),
                format!(
                    "instance `{name}`: unicast_fault_no_peer and no unicast peers: it stays \
                     in FAULT"
                ),
            );
        }
        if let Some(pass) = &inst.auth_pass {
            if inst.version(&cfg.global) == 3 {
                out.add(
                    format!("{at}.auth_pass"),
                    format!(
                        "instance `{name}`: VRRPv3 has no authentication; the password is not used"
                    ),
                );
            } else if inst.strict(&cfg.global) {
                out.add(
                    format!("{at}.auth_pass"),
                    format!(
                        "instance `{name}`: keepalived ignores authentication in strict mode; vipd \
                         sends and checks the password, so every router must have it"
                    ),
                );
            }
            if pass.len() > 8 {
                out.add(
                    format!("{at}.auth_pass"),
                    format!("instance `{name}`: only the first 8 bytes of the password are used"),
                );
            }
        }
    }
    out.0
}
