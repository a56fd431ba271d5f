//! keepalived 2.2.7's keywords that vipd does not implement, each with what vipd does about
//! it. The reader consults these tables only for keywords it has no code for, so a keyword
//! implemented later simply gets a match arm in the reader and its row here stops mattering.
//!
//! The lists come from keepalived 2.2.7 itself: every word its parser accepts in each
//! block (found by feeding each candidate to `keepalived -t`), cross-checked with its
//! keepalived.conf(5). `tests/config_keywords.rs` holds the full lists and proves every
//! keyword is implemented, accepted with a warning, or refused.

/// What vipd does with a keepalived keyword it does not implement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Accepted with a warning: it does not change what VRRP does. The text says why, and
    /// what to use instead.
    Ignored(&'static str),
    /// Refused: running without it would silently drop a job keepalived does, or do it
    /// wrongly. The text says what to do instead.
    Refused(&'static str),
}

/// The blocks of keepalived.conf that hold keywords.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Block {
    TopLevel,
    Global,
    Instance,
    SyncGroup,
    Script,
    TrackFile,
    Authentication,
    TrackProcess,
    GarpGroup,
    /// `track_group NAME { group { ... } }` (read, then ignored with a warning).
    TrackGroup,
    /// `bfd_instance NAME { ... }` (read, then ignored with a warning).
    Bfd,
}

/// How keepalived 2.2.7's parser reads the lines after a keyword. Its parser reads a
/// stream of lines (`{` and `}` are lines of their own) and only a keyword with a block
/// takes a `{`: a `{` anywhere else is skipped ("Unexpected '{' - ignoring"), and its `}`
/// then closes the enclosing block. A block keyword without `{` takes the lines after it
/// as its block up to the next `}` ("Missing '{' at beginning of configuration block").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// No block (also every word keepalived does not know).
    Plain,
    /// A block of keywords of the given block.
    Keywords(Block),
    /// A block of value lines (addresses, names, routes).
    Values,
    /// A block vipd does not read (IPVS): everything up to the matching `}`.
    Skipped,
}

/// The shape of `keyword` in `block`.
pub fn shape(block: Block, keyword: &str) -> Shape {
    match (block, keyword) {
        (Block::TopLevel, "global_defs") => Shape::Keywords(Block::Global),
        (Block::TopLevel, "vrrp_script") => Shape::Keywords(Block::Script),
        (Block::TopLevel, "vrrp_track_file" | "track_file") => Shape::Keywords(Block::TrackFile),
        (Block::TopLevel, "vrrp_track_process") => Shape::Keywords(Block::TrackProcess),
        (Block::TopLevel, "vrrp_instance") => Shape::Keywords(Block::Instance),
        (Block::TopLevel, "vrrp_sync_group") => Shape::Keywords(Block::SyncGroup),
        (Block::TopLevel, "garp_group") => Shape::Keywords(Block::GarpGroup),
        (Block::TopLevel, "track_group") => Shape::Keywords(Block::TrackGroup),
        (Block::TopLevel, "bfd_instance") => Shape::Keywords(Block::Bfd),
        (
            Block::TopLevel,
            "static_ipaddress"
            | "static_routes"
            | "static_rules"
            | "linkbeat_interfaces"
            | "interface_up_down_delays",
        ) => Shape::Values,
        (Block::TopLevel, "virtual_server" | "virtual_server_group") => Shape::Skipped,
        (Block::Global, "notification_email") => Shape::Values,
        (Block::Instance, "authentication") => Shape::Keywords(Block::Authentication),
        (
            Block::Instance,
            "virtual_ipaddress"
            | "virtual_ipaddress_excluded"
            | "virtual_routes"
            | "virtual_rules"
            | "unicast_peer"
            | "track_interface"
            | "track_script"
            | "track_file"
            | "track_process"
            | "track_bfd",
        ) => Shape::Values,
        (
            Block::SyncGroup,
            "group" | "track_interface" | "track_script" | "track_file" | "track_process"
            | "track_bfd",
        ) => Shape::Values,
        (Block::GarpGroup, "interfaces") => Shape::Values,
        (Block::TrackGroup, "group") => Shape::Values,
        _ => Shape::Plain,
    }
}

const EMAIL: Class = Class::Ignored(
    "vipd sends no e-mail; run a notify script (`notify`, `notify_master`, ...) to alert",
);
const SNMP: Class =
    Class::Ignored("vipd has no SNMP agent; read the state with `vipd status --json` instead");
const DBUS: Class =
    Class::Ignored("vipd has no D-Bus interface; read the state with `vipd status --json`");
const IPVS: Class = Class::Ignored(
    "IPVS/LVS setting: vipd does not load-balance, so there is nothing for it to do",
);
const CHECKER: Class = Class::Ignored(
    "setting of keepalived's IPVS checker process: vipd has no such process (its health \
     checks run inside vipd)",
);
const BFD: Class = Class::Ignored("setting of keepalived's BFD process: vipd has no BFD");
const PROCESS_NAME: Class = Class::Ignored(
    "the process is called vipd; set SyslogIdentifier= in a vipd.service drop-in to rename \
     its log lines",
);
const NETLINK_BUFS: Class = Class::Ignored(
    "vipd sizes its netlink buffers itself and re-reads the kernel's state after an overrun",
);
const RELOAD_SCHEDULE: Class = Class::Ignored(
    "vipd reloads on SIGHUP (`systemctl reload vipd`); schedule that with a systemd timer",
);
const VMAC_GARP: Class = Class::Ignored(
    "vipd sends no extra periodic gratuitous ARP/NA on VMAC interfaces; set \
     garp_master_refresh to keep switches' MAC tables fresh",
);
const FIREWALL: Class = Class::Ignored(
    "vipd adds no firewall rules: VIPs are ordinary addresses that accept traffic (see \
     accept/no_accept in vipd's REFERENCE.md)",
);
const SCHEDULING: Class = Class::Ignored(
    "vipd does not change its own scheduling or memory locking; set CPUSchedulingPolicy=, \
     CPUSchedulingPriority=, Nice=, CPUAffinity= or LimitMEMLOCK= in a vipd.service drop-in",
);
/// Newer keepalived has it; 2.2.7 logs "Unknown keyword" and keeps the pseudo-header, so
/// applying it would make vipd's VRRPv3 IPv4 checksums disagree with a 2.2.7 peer reading
/// the same file.
const V3_CHECKSUM: Class = Class::Ignored(
    "not a keepalived 2.2.7 keyword (2.2.7 logs \"Unknown keyword\"; newer keepalived has \
     it): VRRPv3 IPv4 checksums keep the pseudo-header, as 2.2.7 computes them; to leave it \
     out (Cisco, Juniper, RFC 9568 peers) use `v3_checksum = \"no-pseudo-header\"` in a \
     native config",
);
const LINKBEAT: Class = Class::Ignored(
    "vipd follows link state through netlink events, which every current driver reports",
);

/// What vipd does with `keyword` in `block`, for keywords the reader has no code for;
/// `None` for words keepalived 2.2.7 does not know either ("Unknown keyword").
pub fn classify(block: Block, keyword: &str) -> Option<Class> {
    match block {
        Block::TopLevel => top_level(keyword),
        Block::Global => global(keyword),
        Block::Instance => instance(keyword),
        Block::SyncGroup => sync_group(keyword),
        Block::TrackFile => match keyword {
            "init_file" => Some(Class::Ignored(
                "vipd does not create or initialise the tracked file; create it at boot (for \
                 example with systemd-tmpfiles)",
            )),
            _ => None,
        },
        Block::Script
        | Block::Authentication
        | Block::TrackProcess
        | Block::GarpGroup
        | Block::TrackGroup
        | Block::Bfd => None,
    }
}

/// Whether keepalived 2.2.7 stops at `keyword` of `block` written without a value ("missing
/// a parameter", then "exited with permanent error CONFIG"): for the keywords vipd ignores
/// (the reader refuses such a line of the keywords it implements where keepalived does).
pub fn needs_value(block: Block, keyword: &str) -> bool {
    match block {
        Block::TopLevel => keyword == "child_wait_time",
        Block::Global => matches!(
            keyword,
            "bfd_process_name"
                | "bfd_rlimit_rtime"
                | "bfd_rlimit_rttime"
                | "checker_process_name"
                | "checker_rlimit_rtime"
                | "checker_rlimit_rttime"
                | "lvs_process_name"
                | "nftables_ipvs_priority"
                | "nftables_ipvs_start_fwmark"
                | "nftables_priority"
                | "process_name"
                | "random_seed"
                | "smtp_connect_timeout"
                | "smtp_server"
                | "umask"
                | "vrrp_process_name"
                | "vrrp_rlimit_rtime"
                | "vrrp_rlimit_rttime"
        ),
        Block::Instance => matches!(keyword, "debug" | "lvs_sync_daemon_interface" | "vrf"),
        _ => false,
    }
}

fn top_level(keyword: &str) -> Option<Class> {
    Some(match keyword {
        "virtual_server" | "virtual_server_group" => Class::Refused(
            "IPVS virtual servers are not supported: vipd does not load-balance, and running \
             it in keepalived's place would silently drop that job; keep keepalived for this \
             node, or move the load balancing elsewhere and remove the block",
        ),
        "net_namespace_ipvs" | "namespace_with_ipsets" => IPVS,
        "child_wait_time" => Class::Ignored(
            "vipd has no child processes to wait for (its checks and notify scripts are \
             bounded by their own timeouts)",
        ),
        "linkbeat_use_polling" | "linkbeat_interfaces" => LINKBEAT,
        "bfd_instance" => Class::Ignored(
            "vipd has no BFD: this BFD session is not run (a `track_bfd` on it has no effect)",
        ),
        "interface_up_down_delays" => Class::Ignored(
            "vipd reacts to a link going down or up at once, without keepalived's debounce \
             delay",
        ),
        "track_group" => Class::Ignored(
            "vipd does not watch static addresses, routes or rules: an instance does not go \
             BACKUP when one of them is deleted",
        ),
        _ => return None,
    })
}

fn global(keyword: &str) -> Option<Class> {
    Some(match keyword {
        "notification_email"
        | "notification_email_from"
        | "smtp_server"
        | "smtp_helo_name"
        | "smtp_connect_timeout"
        | "smtp_alert"
        | "smtp_alert_vrrp"
        | "smtp_alert_checker"
        | "no_email_faults"
        | "no_checker_emails" => EMAIL,
        "enable_snmp_vrrp"
        | "enable_snmp_keepalived"
        | "enable_snmp_checker"
        | "enable_snmp_rfc"
        | "enable_snmp_rfcv2"
        | "enable_snmp_rfcv3"
        | "enable_traps"
        | "snmp_socket" => SNMP,
        "enable_dbus" | "dbus_service_name" => DBUS,
        "lvs_sync_daemon" => Class::Ignored(
            "vipd does not start the IPVS connection sync daemon; start it from notify \
             scripts (`ipvsadm --start-daemon master|backup`) if IPVS runs outside keepalived",
        ),
        "lvs_id"
        | "lvs_timeouts"
        | "lvs_flush"
        | "lvs_flush_on_stop"
        | "lvs_flush_onstop"
        | "lvs_netlink_cmd_rcv_bufs"
        | "lvs_netlink_cmd_rcv_bufs_force"
        | "lvs_netlink_monitor_rcv_bufs"
        | "lvs_netlink_monitor_rcv_bufs_force"
        | "lvs_notify_fifo"
        | "lvs_notify_fifo_script"
        | "nftables_ipvs"
        | "nftables_ipvs_priority"
        | "nftables_ipvs_start_fwmark"
        | "rs_init_notifies"
        | "checker_log_all_failures" => IPVS,
        "checker_priority"
        | "checker_no_swap"
        | "checker_rt_priority"
        | "checker_rlimit_rttime"
        | "checker_rlimit_rtime"
        | "checker_cpu_affinity"
        | "checker_process_name" => CHECKER,
        "bfd_priority" | "bfd_no_swap" | "bfd_rt_priority" | "bfd_rlimit_rttime"
        | "bfd_rlimit_rtime" | "bfd_cpu_affinity" | "bfd_process_name" => BFD,
        "vrrp_priority"
        | "vrrp_no_swap"
        | "vrrp_rt_priority"
        | "vrrp_rlimit_rttime"
        | "vrrp_rlimit_rtime"
        | "vrrp_cpu_affinity"
        | "min_auto_priority_delay" => SCHEDULING,
        "process_names" | "process_name" | "vrrp_process_name" | "lvs_process_name" => PROCESS_NAME,
        "vrrp_netlink_cmd_rcv_bufs"
        | "vrrp_netlink_cmd_rcv_bufs_force"
        | "vrrp_netlink_monitor_rcv_bufs"
        | "vrrp_netlink_monitor_rcv_bufs_force"
        | "process_monitor_rcv_bufs"
        | "process_monitor_rcv_bufs_force" => NETLINK_BUFS,
        "vrrp_rx_bufs_policy" | "vrrp_rx_bufs_multiplier" => {
            Class::Ignored("vipd bounds its receive buffers itself and never stops reading them")
        }
        "reload_time_file" | "reload_repeat" | "reload_file" => RELOAD_SCHEDULE,
        "config_save_dir" | "tmp_config_directory" => {
            Class::Ignored("vipd reads the configuration directly and keeps no copies of it")
        }
        "data_use_instance" => Class::Ignored(
            "vipd writes no SIGUSR1 data files; `vipd status --json` shows the state",
        ),
        "umask" => {
            Class::Ignored("vipd creates no files to mask; set UMask= in the unit if needed")
        }
        "random_seed" => Class::Ignored("`${_RANDOM}` is seeded from the clock in vipd"),
        "include_check" => Class::Ignored(
            "vipd reads `include` as keepalived's plain include (a missing file is a warning); \
             write `includea`, `includer`, `includem`, `includew` or `includeb` for the checks",
        ),
        "vrrp_iptables" | "vrrp_ipsets" | "nftables" | "nftables_priority"
        | "nftables_counters" | "nftables_ifindex" => FIREWALL,
        "vrrp_vmac_garp_intvl" => VMAC_GARP,
        "disable_local_igmp" => Class::Ignored(
            "not needed: vipd keeps a VMAC down while the instance is not master, so no \
             IGMP/MLD report ever leaves a backup from the virtual MAC",
        ),
        "vrrp_garp_extra_if" => Class::Ignored(
            "vipd sends no extra periodic gratuitous ARP/NA beyond vrrp_garp_master_refresh, \
             which covers every interface holding a VIP",
        ),
        "log_unknown_vrids" => Class::Ignored(
            "vipd counts adverts for unknown VRIDs in `vipd status` (`unknown_vrid`) and logs \
             them at debug level (VIPD_LOG=debug)",
        ),
        "startup_script"
        | "startup_script_timeout"
        | "shutdown_script"
        | "shutdown_script_timeout" => Class::Ignored(
            "vipd runs no start-up or shutdown script; use ExecStartPre= / ExecStopPost= in a \
             vipd.service drop-in",
        ),
        "v3_checksum_as_v2" => V3_CHECKSUM,
        "vrrp_delay_after_boot" => Class::Ignored(
            "not a keepalived 2.2.7 keyword (2.2.7 logs \"Unknown keyword\"; newer keepalived \
             has it): vipd does not apply it; use vrrp_startup_delay",
        ),
        _ => return None,
    })
}

fn instance(keyword: &str) -> Option<Class> {
    Some(match keyword {
        "vmac_garp_intvl" => VMAC_GARP,
        "smtp_alert" => EMAIL,
        "debug" => Class::Ignored(
            "keepalived does not implement it either; run vipd with VIPD_LOG=debug for more \
             detail",
        ),
        "kernel_rx_buf_size" => {
            Class::Ignored("vipd bounds its receive buffers itself and never stops reading them")
        }
        "linkbeat_use_polling" => LINKBEAT,
        "lvs_sync_daemon_interface" => IPVS,
        "garp_extra_if" => Class::Ignored(
            "vipd sends no extra periodic gratuitous ARP/NA beyond garp_master_refresh, which \
             covers every interface holding a VIP",
        ),
        "v3_checksum_as_v2" => V3_CHECKSUM,
        "old_unicast_checksum" => Class::Ignored(
            "vipd computes the standard VRRPv3 checksum and does not talk to keepalived older \
             than 1.3.6 over unicast VRRPv3",
        ),
        "vrf" => Class::Ignored(
            "vipd runs the instance on its interface, whatever VRF that interface is in",
        ),
        "native_ipv6" => Class::Ignored(
            "deprecated in keepalived: the instance's address family comes from its addresses",
        ),
        "track_bfd" => Class::Ignored(
            "vipd has no BFD: this tracking has no effect (the instance does not go to FAULT \
             or change priority when the BFD session goes down)",
        ),
        _ => return None,
    })
}

fn sync_group(keyword: &str) -> Option<Class> {
    Some(match keyword {
        "smtp_alert" => EMAIL,
        "global_tracking" | "sync_group_tracking_weight" => Class::Ignored(
            "vipd's sync groups always share tracking: every member takes the priority change \
             of the group's least healthy member",
        ),
        "track_bfd" => Class::Ignored(
            "vipd has no BFD: this tracking has no effect (the group does not go to FAULT or \
             change priority when the BFD session goes down)",
        ),
        _ => return None,
    })
}

/// The keywords of `block` that vipd implements, for did-you-mean suggestions.
pub fn implemented(block: Block) -> &'static [&'static str] {
    match block {
        Block::TopLevel => &[
            "global_defs",
            "vrrp_script",
            "vrrp_instance",
            "vrrp_sync_group",
            "vrrp_track_file",
            "track_file",
            "vrrp_track_process",
            "garp_group",
            "static_ipaddress",
            "static_routes",
            "static_rules",
            "net_namespace",
        ],
        Block::Global => &[
            "router_id",
            "vrrp_version",
            "vrrp_garp_master_delay",
            "vrrp_garp_master_repeat",
            "vrrp_garp_master_refresh",
            "vrrp_garp_master_refresh_repeat",
            "vrrp_garp_interval",
            "vrrp_gna_interval",
            "vrrp_min_garp",
            "vrrp_garp_lower_prio_delay",
            "vrrp_garp_lower_prio_repeat",
            "vrrp_lower_prio_no_advert",
            "vrrp_higher_prio_send_advert",
            "vrrp_mcast_group4",
            "vrrp_mcast_group6",
            "vrrp_down_timer_adverts",
            "script_user",
            "enable_script_security",
            "vrrp_strict",
            "vrrp_skip_check_adv_addr",
            "vrrp_check_unicast_src",
            "max_auto_priority",
            "default_interface",
            "dynamic_interfaces",
            "vrrp_startup_delay",
            "reload_check_config",
            "vmac_prefix",
            "vmac_addr_prefix",
        ],
        Block::Instance => &[
            "state",
            "interface",
            "virtual_router_id",
            "priority",
            "advert_int",
            "version",
            "nopreempt",
            "preempt",
            "preempt_delay",
            "authentication",
            "virtual_ipaddress",
            "unicast_src_ip",
            "mcast_src_ip",
            "unicast_peer",
            "check_unicast_src",
            "unicast_ttl",
            "track_script",
            "track_file",
            "track_interface",
            "track_process",
            "notify_master",
            "notify_backup",
            "notify_fault",
            "notify_stop",
            "notify",
            "notify_deleted",
            "notify_master_rx_lower_pri",
            "garp_master_delay",
            "garp_master_repeat",
            "garp_master_refresh",
            "garp_master_refresh_repeat",
            "virtual_ipaddress_excluded",
            "mcast_dst_ip",
            "garp_lower_prio_delay",
            "garp_lower_prio_repeat",
            "lower_prio_no_advert",
            "higher_prio_send_advert",
            "down_timer_adverts",
            "unicast_fault_no_peer",
            "dont_track_primary",
            "promote_secondaries",
            "track_src_ip",
            "accept",
            "no_accept",
            "skip_check_adv_addr",
            "strict_mode",
            "virtual_routes",
            "virtual_rules",
            "use_vmac",
            "vmac_xmit_base",
            "use_vmac_addr",
            "use_ipvlan",
        ],
        Block::SyncGroup => &[
            "group",
            "notify_master",
            "notify_backup",
            "notify_fault",
            "notify_stop",
            "notify",
            "track_script",
            "track_interface",
            "track_file",
            "track_process",
        ],
        Block::Script => &[
            "script",
            "interval",
            "timeout",
            "weight",
            "rise",
            "fall",
            "user",
            "init_fail",
        ],
        Block::TrackFile => &["file", "weight"],
        Block::TrackProcess => &[
            "process",
            "param_match",
            "weight",
            "quorum",
            "quorum_max",
            "delay",
            "fork_delay",
            "terminate_delay",
            "full_command",
        ],
        Block::Authentication => &["auth_type", "auth_pass"],
        Block::GarpGroup => &["garp_interval", "gna_interval", "interface", "interfaces"],
        Block::TrackGroup | Block::Bfd => &[],
    }
}

/// The known keyword of `block` closest to `word` (a typo suggestion), if one is close.
pub fn suggestion(block: Block, word: &str) -> Option<&'static str> {
    let candidates = implemented(block);
    let mut best: Option<(usize, &'static str)> = None;
    for candidate in candidates {
        let distance = edit_distance(word, candidate);
        if best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    // One edit in short words, two in longer ones: close enough to be a typo.
    let allowed = if word.len() <= 5 { 1 } else { 2 };
    best.filter(|(d, _)| *d <= allowed).map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_get_a_suggestion() {
        assert_eq!(
            suggestion(Block::Instance, "macast_src_ip"),
            Some("mcast_src_ip")
        );
        assert_eq!(
            suggestion(Block::Instance, "virtual_router_ident"),
            None,
            "too far from virtual_router_id"
        );
        assert_eq!(
            suggestion(Block::Instance, "virtual_route"),
            Some("virtual_routes")
        );
        assert_eq!(suggestion(Block::Instance, "priorty"), Some("priority"));
        assert_eq!(suggestion(Block::Global, "nonsense"), None);
    }
}
