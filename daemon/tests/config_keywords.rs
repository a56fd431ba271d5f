//! Every keyword keepalived 2.2.7 knows is implemented, accepted with a warning, or
//! refused with a reason; none is taken for an unknown word. The lists are keepalived
//! 2.2.7's own: every word its parser accepts in each block, found by feeding candidate
//! words (the strings of the keepalived binary) one at a time to `keepalived -t` and
//! keeping those it does not call "Unknown keyword" (its `vrrp_ipsets` is missing from
//! Debian's build, which has no libipset).

use std::path::Path;
use vipd::config::{self, ReadOptions};

const TOP_LEVEL: &[&str] = &[
    "bfd_instance",
    "child_wait_time",
    "garp_group",
    "global_defs",
    "instance",
    "interface_up_down_delays",
    "linkbeat_interfaces",
    "linkbeat_use_polling",
    "namespace_with_ipsets",
    "net_namespace",
    "net_namespace_ipvs",
    "static_ipaddress",
    "static_routes",
    "static_rules",
    "track_file",
    "track_group",
    "use_pid_dir",
    "virtual_server",
    "virtual_server_group",
    "vrrp_instance",
    "vrrp_script",
    "vrrp_sync_group",
    "vrrp_track_file",
    "vrrp_track_process",
];

const GLOBAL_DEFS: &[&str] = &[
    "bfd_cpu_affinity",
    "bfd_no_swap",
    "bfd_priority",
    "bfd_process_name",
    "bfd_rlimit_rtime",
    "bfd_rlimit_rttime",
    "bfd_rt_priority",
    "checker_cpu_affinity",
    "checker_log_all_failures",
    "checker_no_swap",
    "checker_priority",
    "checker_process_name",
    "checker_rlimit_rtime",
    "checker_rlimit_rttime",
    "checker_rt_priority",
    "config_save_dir",
    "data_use_instance",
    "dbus_service_name",
    "default_interface",
    "disable_local_igmp",
    "dynamic_interfaces",
    "enable_dbus",
    "enable_script_security",
    "enable_snmp_checker",
    "enable_snmp_keepalived",
    "enable_snmp_rfc",
    "enable_snmp_rfcv2",
    "enable_snmp_rfcv3",
    "enable_snmp_vrrp",
    "enable_traps",
    "fifo_write_vrrp_states_on_reload",
    "include_check",
    "log_unknown_vrids",
    "lvs_flush",
    "lvs_flush_on_stop",
    "lvs_flush_onstop",
    "lvs_netlink_cmd_rcv_bufs",
    "lvs_netlink_cmd_rcv_bufs_force",
    "lvs_netlink_monitor_rcv_bufs",
    "lvs_netlink_monitor_rcv_bufs_force",
    "lvs_notify_fifo",
    "lvs_notify_fifo_script",
    "lvs_process_name",
    "lvs_sync_daemon",
    "lvs_timeouts",
    "max_auto_priority",
    "min_auto_priority_delay",
    "nftables",
    "nftables_counters",
    "nftables_ifindex",
    "nftables_ipvs",
    "nftables_ipvs_priority",
    "nftables_ipvs_start_fwmark",
    "nftables_priority",
    "no_checker_emails",
    "no_email_faults",
    "notification_email",
    "notification_email_from",
    "notify_fifo",
    "notify_fifo_script",
    "process_monitor_rcv_bufs",
    "process_monitor_rcv_bufs_force",
    "process_name",
    "process_names",
    "random_seed",
    "reload_check_config",
    "reload_file",
    "reload_repeat",
    "reload_time_file",
    "router_id",
    "rs_init_notifies",
    "script_user",
    "shutdown_script",
    "shutdown_script_timeout",
    "smtp_alert",
    "smtp_alert_checker",
    "smtp_alert_vrrp",
    "smtp_connect_timeout",
    "smtp_helo_name",
    "smtp_server",
    "snmp_socket",
    "startup_script",
    "startup_script_timeout",
    "tmp_config_directory",
    "umask",
    "vmac_addr_prefix",
    "vmac_prefix",
    "vrrp_check_unicast_src",
    "vrrp_cpu_affinity",
    "vrrp_down_timer_adverts",
    "vrrp_garp_extra_if",
    "vrrp_garp_interval",
    "vrrp_garp_lower_prio_delay",
    "vrrp_garp_lower_prio_repeat",
    "vrrp_garp_master_delay",
    "vrrp_garp_master_refresh",
    "vrrp_garp_master_refresh_repeat",
    "vrrp_garp_master_repeat",
    "vrrp_gna_interval",
    "vrrp_higher_prio_send_advert",
    "vrrp_iptables",
    "vrrp_lower_prio_no_advert",
    "vrrp_mcast_group4",
    "vrrp_mcast_group6",
    "vrrp_min_garp",
    "vrrp_netlink_cmd_rcv_bufs",
    "vrrp_netlink_cmd_rcv_bufs_force",
    "vrrp_netlink_monitor_rcv_bufs",
    "vrrp_netlink_monitor_rcv_bufs_force",
    "vrrp_no_swap",
    "vrrp_notify_fifo",
    "vrrp_notify_fifo_script",
    "vrrp_notify_priority_changes",
    "vrrp_priority",
    "vrrp_process_name",
    "vrrp_rlimit_rtime",
    "vrrp_rlimit_rttime",
    "vrrp_rt_priority",
    "vrrp_rx_bufs_multiplier",
    "vrrp_rx_bufs_policy",
    "vrrp_skip_check_adv_addr",
    "vrrp_startup_delay",
    "vrrp_strict",
    "vrrp_version",
    "vrrp_vmac_garp_intvl",
];

const VRRP_INSTANCE: &[&str] = &[
    "accept",
    "advert_int",
    "authentication",
    "check_unicast_src",
    "debug",
    "dont_track_primary",
    "down_timer_adverts",
    "garp_extra_if",
    "garp_lower_prio_delay",
    "garp_lower_prio_repeat",
    "garp_master_delay",
    "garp_master_refresh",
    "garp_master_refresh_repeat",
    "garp_master_repeat",
    "higher_prio_send_advert",
    "interface",
    "kernel_rx_buf_size",
    "linkbeat_use_polling",
    "lower_prio_no_advert",
    "lvs_sync_daemon_interface",
    "mcast_dst_ip",
    "mcast_src_ip",
    "native_ipv6",
    "no_accept",
    "nopreempt",
    "notify",
    "notify_backup",
    "notify_deleted",
    "notify_fault",
    "notify_master",
    "notify_master_rx_lower_pri",
    "notify_priority_changes",
    "notify_stop",
    "old_unicast_checksum",
    "preempt",
    "preempt_delay",
    "priority",
    "promote_secondaries",
    "skip_check_adv_addr",
    "smtp_alert",
    "state",
    "strict_mode",
    "track_bfd",
    "track_file",
    "track_interface",
    "track_process",
    "track_script",
    "track_src_ip",
    "unicast_fault_no_peer",
    "unicast_peer",
    "unicast_src_ip",
    "unicast_ttl",
    "use_ipvlan",
    "use_vmac",
    "use_vmac_addr",
    "version",
    "virtual_ipaddress",
    "virtual_ipaddress_excluded",
    "virtual_router_id",
    "virtual_routes",
    "virtual_rules",
    "vmac_garp_intvl",
    "vmac_xmit_base",
    "vrf",
];

const VRRP_SYNC_GROUP: &[&str] = &[
    "global_tracking",
    "group",
    "notify",
    "notify_backup",
    "notify_fault",
    "notify_master",
    "notify_priority_changes",
    "notify_stop",
    "smtp_alert",
    "sync_group_tracking_weight",
    "track_bfd",
    "track_file",
    "track_interface",
    "track_process",
    "track_script",
];

const VRRP_SCRIPT: &[&str] = &[
    "fall",
    "init_fail",
    "interval",
    "rise",
    "script",
    "timeout",
    "user",
    "weight",
];

/// Reads `text` and returns every warning and error line.
fn messages(text: &str) -> Vec<String> {
    let options = ReadOptions {
        config_id: "lb1".to_string(),
        all_config: false,
    };
    let path = Path::new("/nonexistent/keywords.conf");
    match config::read_keepalived(text, path, &options) {
        Ok(loaded) => loaded.warnings.iter().map(|w| w.to_string()).collect(),
        Err(errors) => errors.iter().map(|e| e.to_string()).collect(),
    }
}

/// Asserts `keyword` is known in the block `wrap` puts it in.
fn assert_known(block: &str, keywords: &[&str], wrap: impl Fn(&str) -> String) {
    let mut unknown = Vec::new();
    for keyword in keywords {
        let text = wrap(&format!("{keyword} 1"));
        let shown = messages(&text);
        let needle = format!("unknown keyword `{keyword}`");
        if shown.iter().any(|m| m.contains(&needle)) {
            unknown.push(format!("{keyword}: {shown:?}"));
        }
    }
    assert!(
        unknown.is_empty(),
        "keepalived 2.2.7 {block} keywords vipd takes for unknown words:\n{}",
        unknown.join("\n")
    );
}

const INSTANCE_BODY: &str =
    "interface eth0\n virtual_router_id 51\n virtual_ipaddress {\n 192.0.2.10\n }";

#[test]
fn keywords_top_level_are_all_classified() {
    assert_known("top-level", TOP_LEVEL, |line| format!("{line}\n"));
}

#[test]
fn keywords_global_defs_are_all_classified() {
    assert_known("global_defs", GLOBAL_DEFS, |line| {
        format!("global_defs {{\n {line}\n}}\n")
    });
}

#[test]
fn keywords_vrrp_instance_are_all_classified() {
    assert_known("vrrp_instance", VRRP_INSTANCE, |line| {
        format!("vrrp_instance VI_1 {{\n {INSTANCE_BODY}\n {line}\n}}\n")
    });
}

#[test]
fn keywords_vrrp_sync_group_are_all_classified() {
    assert_known("vrrp_sync_group", VRRP_SYNC_GROUP, |line| {
        format!(
            "vrrp_instance VI_1 {{\n {INSTANCE_BODY}\n}}\nvrrp_sync_group G {{\n group {{\n VI_1\n }}\n {line}\n}}\n"
        )
    });
}

#[test]
fn keywords_vrrp_script_are_all_classified() {
    assert_known("vrrp_script", VRRP_SCRIPT, |line| {
        format!("vrrp_script chk {{\n script /bin/true\n {line}\n}}\n")
    });
}

/// The other way round: a word keepalived does not know is a warning, not an error,
/// wherever it is (the `{` after it is skipped, as keepalived skips it).
#[test]
fn keywords_unknown_words_are_warnings_everywhere() {
    let text = "bogus_top { a 1 }\nglobal_defs {\n bogus_global 1\n}\nvrrp_script chk {\n script /bin/true\n bogus_script 1\n}\nvrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n bogus_instance { nested { deeper 1 } }\n authentication {\n auth_type PASS\n auth_pass x\n bogus_auth 1\n }\n virtual_ipaddress {\n 192.0.2.10\n }\n track_script {\n chk\n }\n}\nvrrp_sync_group G {\n group {\n VI_1\n }\n bogus_group 1\n}\n";
    let options = ReadOptions {
        config_id: "lb1".to_string(),
        all_config: false,
    };
    let loaded = config::read_keepalived(text, Path::new("k.conf"), &options)
        .unwrap_or_else(|e| panic!("{e}"));
    let shown: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
    for (line, word) in [
        (1, "bogus_top"),
        (3, "bogus_global"),
        (7, "bogus_script"),
        (12, "bogus_instance"),
        (16, "bogus_auth"),
        (29, "bogus_group"),
    ] {
        let want = format!("k.conf:{line}: warning: unknown keyword `{word}`");
        assert!(
            shown.iter().any(|w| w.starts_with(&want)),
            "missing {want}:\n{}",
            shown.join("\n")
        );
    }
    // keepalived 2.2.7 skips the `{` after an unknown word, so the `}` of `nested` closes
    // VI_1 and its virtual_ipaddress is read at the top level: VI_1 has no VIP, in both.
    assert_eq!(loaded.config.instances[0].vips.len(), 0);
}

/// REFERENCE.md's keyword tables name every keyword keepalived 2.2.7 knows, in every block
/// (the sweep's list, `fixtures/keywords/keepalived-2.2.7.txt`, which holds the lists above
/// and those of vrrp_script, vrrp_track_process, vrrp_track_file, authentication and
/// garp_group).
#[test]
fn keywords_are_all_in_the_reference() {
    let reference = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/config/REFERENCE.md"),
    )
    .expect("read REFERENCE.md");
    let section = &reference[reference
        .find("## Reading keepalived.conf")
        .expect("keepalived section")..];
    let list = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keywords/keepalived-2.2.7.txt"),
    )
    .expect("read keyword list");
    let listed: Vec<&str> = list
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split_once(' ').map(|(_, k)| k))
        .collect();
    for keyword in [
        TOP_LEVEL,
        GLOBAL_DEFS,
        VRRP_INSTANCE,
        VRRP_SYNC_GROUP,
        VRRP_SCRIPT,
    ]
    .concat()
    {
        assert!(
            listed.contains(&keyword),
            "{keyword} missing from the sweep's list"
        );
    }
    let missing: Vec<&str> = listed
        .into_iter()
        .filter(|k| !section.contains(&format!("`{k}`")) && !section.contains(&format!("`{k} ")))
        .collect();
    assert!(
        missing.is_empty(),
        "REFERENCE.md does not describe: {missing:?}"
    );
}
