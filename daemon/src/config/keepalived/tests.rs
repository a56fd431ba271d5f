use super::*;

#[test]
fn strict_mode_ignores_the_password_like_keepalived() {
    let text = "global_defs {\n vrrp_strict\n}\nvrrp_instance VI_1 {\n interface eth0\n \
                virtual_router_id 51\n authentication {\n auth_type PASS\n auth_pass secret\n \
                }\n virtual_ipaddress {\n 192.0.2.10\n }\n}\n";
    let cfg = parse_keepalived(text, Path::new("strict.conf")).unwrap();
    assert_eq!(cfg.instances[0].auth_pass, None);
    let relaxed = text.replace("vrrp_strict", "router_id r1");
    let cfg = parse_keepalived(&relaxed, Path::new("plain.conf")).unwrap();
    assert_eq!(cfg.instances[0].auth_pass.as_deref(), Some("secret"));
}

#[test]
fn unicast_source_check_and_ttl_keywords() {
    let text = "global_defs {\n vrrp_check_unicast_src\n}\nvrrp_instance VI_1 {\n \
                interface eth0\n virtual_router_id 51\n unicast_src_ip 192.0.2.1\n \
                unicast_peer {\n 192.0.2.2\n }\n check_unicast_src\n unicast_ttl 64\n \
                virtual_ipaddress {\n 192.0.2.10\n }\n}\n";
    let cfg = parse_keepalived(text, Path::new("unicast.conf")).unwrap();
    let inst = &cfg.instances[0];
    assert!(inst.check_unicast_src);
    assert_eq!(inst.unicast_ttl, Some(64));
    // Without the keywords: the check is still on, the TTL is the default 255.
    let plain = text
        .replace(" vrrp_check_unicast_src\n", "")
        .replace(" check_unicast_src\n", "")
        .replace(" unicast_ttl 64\n", "");
    let cfg = parse_keepalived(&plain, Path::new("plain.conf")).unwrap();
    assert!(cfg.instances[0].check_unicast_src);
    assert_eq!(cfg.instances[0].unicast_ttl, None);
    // The native form carries them, and can turn the check off.
    let native = crate::config::to_toml(&parse_keepalived(text, Path::new("u.conf")).unwrap());
    assert!(native.contains("unicast_ttl = 64"), "{native}");
    let off = native.replace(
        "unicast_ttl = 64",
        "unicast_ttl = 64\ncheck_unicast_src = false",
    );
    let cfg = crate::config::parse_native(&off, Path::new("u.toml")).unwrap();
    assert!(!cfg.instances[0].check_unicast_src);
    assert!(crate::config::to_toml(&cfg).contains("check_unicast_src = false"));
    // keepalived: "TTL ... not valid" and the default stays.
    for bad in ["unicast_ttl 0", "unicast_ttl 256", "unicast_ttl many"] {
        let (cfg, warnings) = with_warnings(&text.replace("unicast_ttl 64", bad));
        assert_eq!(cfg.instances[0].unicast_ttl, None, "{bad}");
        assert!(
            warnings.iter().any(|w| w.contains("k.conf:")),
            "{bad}: {warnings:?}"
        );
    }
}

#[test]
fn unicast_peers_take_keepalived_ttl_ranges() {
    let text = |peers: &str| {
        format!(
            "vrrp_instance VI_1 {{\n interface eth0\n virtual_router_id 51\n \
             unicast_src_ip 192.0.2.1\n unicast_peer {{\n{peers}\n }}\n \
             virtual_ipaddress {{\n 192.0.2.10\n }}\n}}\n"
        )
    };
    let cfg = parse_keepalived(
        &text(" 192.0.2.2 min_ttl 250 max_ttl 255\n 192.0.2.3 max_ttl 64\n 192.0.2.4"),
        Path::new("ttl.conf"),
    )
    .unwrap();
    let inst = &cfg.instances[0];
    assert_eq!(inst.unicast_peers.len(), 3);
    assert_eq!(
        inst.peer_ttl("192.0.2.2".parse().unwrap()),
        Some((250, 255))
    );
    assert_eq!(inst.peer_ttl("192.0.2.3".parse().unwrap()), Some((0, 64)));
    assert_eq!(inst.peer_ttl("192.0.2.4".parse().unwrap()), None);
    let native = crate::config::to_toml(&cfg);
    let back = crate::config::parse_native(&native, Path::new("ttl.toml")).unwrap();
    assert_eq!(back, cfg, "{native}");
    for (bad, says) in [
        (" 192.0.2.2 min_ttl 300", "needs a TTL"),
        (" 192.0.2.2 min_ttl", "needs a TTL"),
        (" 192.0.2.2 min_ttl 10 max_ttl 5", "above max_ttl"),
        (" 192.0.2.2 ttl 5", "unknown option `ttl`"),
    ] {
        // keepalived logs these and keeps the peer without the range.
        let (cfg, warnings) = with_warnings(&text(bad));
        assert!(cfg.instances[0].unicast_peer_ttl.is_empty(), "{bad}");
        let warnings = warnings.join("\n");
        assert!(
            warnings.contains("k.conf:6:") && warnings.contains(says),
            "{bad}: {warnings}"
        );
    }
    // The native form checks the same.
    let stray = native.replace("peer = \"192.0.2.3\"", "peer = \"192.0.2.9\"");
    let err = crate::config::parse_native(&stray, Path::new("s.toml")).unwrap_err();
    assert!(
        err.to_string()
            .contains("not one of the instance's unicast_peers"),
        "{err}"
    );
}

fn one_instance(global: &str, instance: &str) -> Config {
    let text = format!(
        "global_defs {{\n{global}\n}}\nvrrp_instance VI_1 {{\n interface eth0\n \
         virtual_router_id 51\n{instance}\n virtual_ipaddress {{\n 192.0.2.10\n }}\n}}\n"
    );
    parse_keepalived(&text, Path::new("k.conf")).unwrap_or_else(|e| panic!("{e}"))
}

fn error_of(global: &str, instance: &str) -> String {
    let text = format!(
        "global_defs {{\n{global}\n}}\nvrrp_instance VI_1 {{\n interface eth0\n \
         virtual_router_id 51\n{instance}\n virtual_ipaddress {{\n 192.0.2.10\n }}\n}}\n"
    );
    match parse_keepalived(&text, Path::new("k.conf")) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

/// The configuration read from one instance and its warnings, joined.
fn warnings_of(global: &str, instance: &str) -> (Config, String) {
    let (cfg, warnings) = with_warnings(&format!(
        "global_defs {{\n{global}\n}}\nvrrp_instance VI_1 {{\n interface eth0\n \
         virtual_router_id 51\n{instance}\n virtual_ipaddress {{\n 192.0.2.10\n }}\n}}\n"
    ));
    (cfg, warnings.join("\n"))
}

/// The configuration and its warnings, one per line.
fn with_warnings(text: &str) -> (Config, Vec<String>) {
    let options = ReadOptions {
        config_id: "lb1".to_string(),
        all_config: false,
    };
    let loaded =
        read_keepalived(text, Path::new("k.conf"), &options).unwrap_or_else(|e| panic!("{e}"));
    let warnings = loaded.warnings.iter().map(|w| w.to_string()).collect();
    (loaded.config, warnings)
}

#[test]
fn flags_ignore_their_value_like_keepalived_and_warn_when_it_reads_off() {
    let text = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n nopreempt 0\n dont_track_primary yes\n virtual_ipaddress {\n 192.0.2.10\n }\n}\n";
    let (cfg, warnings) = with_warnings(text);
    assert!(
        !cfg.instances[0].preempt,
        "nopreempt 0 still turns preemption off"
    );
    assert!(cfg.instances[0].dont_track_primary);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("k.conf:4: warning: `nopreempt 0`: keepalived ignores"),
        "{warnings:?}"
    );
}

#[test]
fn values_take_the_first_word_and_warn_about_the_rest() {
    let (cfg, warnings) = with_warnings(
        "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 5\"1\"\n priority 1 5 0\n virtual_ipaddress {\n 192.0.2.10\n }\n}\n",
    );
    assert_eq!((cfg.instances[0].vrid, cfg.instances[0].priority), (5, 1));
    assert_eq!(warnings.len(), 2, "{warnings:?}");
}

#[test]
fn refresh_without_a_value_is_refused_as_keepalived_refuses_it() {
    // keepalived 2.2.7: "missing a parameter after keyword `vrrp_garp_master_refresh`",
    // then it does not start (keepalived -t exits 2).
    let instance = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n garp_master_refresh\n virtual_ipaddress {\n 192.0.2.10\n }\n}\n";
    let e = parse_keepalived(instance, Path::new("k.conf"))
        .expect_err("garp_master_refresh without a value");
    assert!(
        e.to_string().contains("k.conf:4")
            && e.to_string()
                .contains("`garp_master_refresh` needs a value"),
        "{e}"
    );
    let global = "global_defs {\n vrrp_garp_master_refresh\n}\nvrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {\n 192.0.2.10\n }\n}\n";
    let e = parse_keepalived(global, Path::new("k.conf"))
        .expect_err("vrrp_garp_master_refresh without a value");
    assert!(
        e.to_string().contains("k.conf:2")
            && e.to_string()
                .contains("`vrrp_garp_master_refresh` needs a value"),
        "{e}"
    );
}

#[test]
fn startup_delay_strict_mode_and_default_interface() {
    let (cfg, warnings) = with_warnings(
        "vrrp_instance VI_1 {\n virtual_router_id 51\n strict_mode off\n virtual_ipaddress {\n 192.0.2.10\n }\n}\nglobal_defs {\n vrrp_startup_delay 2.5\n default_interface eth1\n vrrp_strict\n}\n",
    );
    assert_eq!(cfg.global.startup_delay, Duration::from_millis(2500));
    assert_eq!(cfg.instances[0].interface, "eth1");
    assert_eq!(cfg.instances[0].strict, Some(false));
    assert!(!cfg.instances[0].strict(&cfg.global));
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("k.conf:1: warning: vrrp_instance `VI_1` has no `interface`")),
        "{warnings:?}"
    );
    let e = parse_keepalived(
        "vrrp_instance VI_1 {\n virtual_router_id 51\n}\n",
        Path::new("k.conf"),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("k.conf:1: vrrp_instance `VI_1` has no `interface`"),
        "{e}"
    );
}

#[test]
fn an_address_of_the_other_family_becomes_an_excluded_one() {
    let (cfg, warnings) = with_warnings(
        "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {\n 192.0.2.10/24\n 2001:db8::10/64\n 192.0.2.11/24\n }\n}\n",
    );
    let inst = &cfg.instances[0];
    let vips: Vec<String> = inst.vips.iter().map(|v| v.to_string()).collect();
    assert_eq!(vips, ["192.0.2.10/24", "192.0.2.11/24"]);
    assert_eq!(inst.excluded_vips[0].to_string(), "2001:db8::10/64");
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("k.conf:6: warning: 2001:db8::10/64 is IPv6")),
        "{warnings:?}"
    );
}

#[test]
fn lower_priority_garps_default_to_the_master_burst_like_keepalived() {
    let cfg = one_instance(" vrrp_garp_master_repeat 3\n vrrp_garp_master_delay 7", "");
    let garp = cfg.instances[0].garp(&cfg.global);
    assert_eq!(garp.lower_prio_repeat(), 3);
    assert_eq!(garp.lower_prio_delay(), Duration::from_secs(7));
    // An instance's own garp_master_repeat does not change the lower-priority default.
    let cfg = one_instance("", " garp_master_repeat 2");
    let garp = cfg.instances[0].garp(&cfg.global);
    assert_eq!(garp.master_repeat, 2);
    assert_eq!(garp.lower_prio_repeat(), 5);
}

#[test]
fn strict_mode_turns_lower_priority_extras_off_like_keepalived() {
    let cfg = one_instance(
        " vrrp_strict\n vrrp_higher_prio_send_advert",
        " garp_lower_prio_repeat 3\n lower_prio_no_advert false",
    );
    let (inst, g) = (&cfg.instances[0], &cfg.global);
    assert_eq!(inst.garp(g).lower_prio_repeat(), 0);
    assert_eq!(inst.garp(g).lower_prio_delay(), Duration::ZERO);
    assert!(inst.lower_prio_no_advert(g));
    assert!(!inst.higher_prio_send_advert(g));
}

#[test]
fn higher_prio_send_advert_is_on_unless_turned_off_and_round_trips() {
    // vipd's default differs from keepalived's (README "How failover works").
    let cfg = one_instance("", "");
    assert!(cfg.global.higher_prio_send_advert);
    assert!(cfg.instances[0].higher_prio_send_advert(&cfg.global));
    let native = crate::config::to_toml(&cfg);
    assert!(!native.contains("higher_prio_send_advert"), "{native}");
    let back = crate::config::parse_native(&native, Path::new("d.toml")).unwrap();
    assert!(back.global.higher_prio_send_advert);
    // An explicit false, global or per instance, survives `vipd import-keepalived`.
    for (global, instance) in [
        (" vrrp_higher_prio_send_advert false", ""),
        ("", " higher_prio_send_advert false"),
    ] {
        let cfg = one_instance(global, instance);
        assert!(!cfg.instances[0].higher_prio_send_advert(&cfg.global));
        let native = crate::config::to_toml(&cfg);
        assert!(
            native.contains("higher_prio_send_advert = false"),
            "{native}"
        );
        let back = crate::config::parse_native(&native, Path::new("f.toml")).unwrap();
        assert_eq!(back, cfg, "{native}");
    }
    // Native files without the key get it on as well.
    let toml =
        "[[instance]]\nname = \"a\"\ninterface = \"eth0\"\nvrid = 1\nvips = [\"192.0.2.1/24\"]\n";
    let cfg = crate::config::parse_native(toml, Path::new("n.toml")).unwrap();
    assert!(cfg.instances[0].higher_prio_send_advert(&cfg.global));
}

#[test]
fn min_garp_sends_one_message_unless_written_explicitly() {
    let cfg = one_instance(" vrrp_min_garp", "");
    let garp = &cfg.global.garp;
    assert_eq!(garp.master_repeat, 1);
    assert_eq!(garp.master_delay, Duration::ZERO);
    assert_eq!(garp.lower_prio_repeat(), 1);
    assert_eq!(garp.lower_prio_delay(), Duration::ZERO);
    // Order does not matter: explicit values win.
    let cfg = one_instance(" vrrp_min_garp true\n vrrp_garp_master_repeat 4", "");
    assert_eq!(cfg.global.garp.master_repeat, 4);
    assert_eq!(cfg.global.garp.master_delay, Duration::ZERO);
    let cfg = one_instance(" vrrp_min_garp off", "");
    assert_eq!(cfg.global.garp.master_repeat, 5);
}

#[test]
fn switches_take_keepalived_booleans() {
    for (word, on) in [("", true), (" on", true), (" yes", true), (" false", false)] {
        let cfg = one_instance(&format!(" vrrp_lower_prio_no_advert{word}"), "");
        assert_eq!(cfg.global.lower_prio_no_advert, on, "{word:?}");
    }
    // keepalived logs a word it does not know and keeps the default; so does vipd.
    let (cfg, w) = warnings_of("", " higher_prio_send_advert off on");
    assert_eq!(cfg.instances[0].higher_prio_send_advert, Some(false));
    assert!(w.contains("`on` after the value `off` is ignored"), "{w}");
    let (cfg, w) = warnings_of("", " higher_prio_send_advert maybe");
    assert_eq!(cfg.instances[0].higher_prio_send_advert, None);
    assert!(
        w.contains("k.conf:7:") && w.contains("`maybe` is not one of") && w.contains("ignored"),
        "{w}"
    );
}

#[test]
fn multicast_groups_must_be_multicast_of_their_family() {
    let cfg = one_instance(
        " vrrp_mcast_group4 224.0.0.19\n vrrp_mcast_group6 ff02::99",
        "",
    );
    assert_eq!(cfg.global.group4().to_string(), "224.0.0.19");
    assert_eq!(cfg.global.group6().to_string(), "ff02::99");
    for bad in [
        "vrrp_mcast_group4 192.0.2.1",
        "vrrp_mcast_group4 ff02::12",
        "vrrp_mcast_group6 224.0.0.18",
    ] {
        // keepalived: "is not multicast. Skipping"; the default group stays.
        let (cfg, w) = warnings_of(&format!(" {bad}"), "");
        assert_eq!(cfg.global.group4().to_string(), "224.0.0.18");
        assert_eq!(cfg.global.group6().to_string(), "ff02::12");
        assert!(
            w.contains("k.conf:2:") && w.contains("multicast"),
            "{bad}: {w}"
        );
    }
}

#[test]
fn excluded_addresses_may_mix_families_and_one_repeating_a_vip_is_read_once() {
    let cfg = one_instance(
        "",
        " virtual_ipaddress_excluded {\n 192.0.2.11/24\n 2001:db8::11/64 dev eth1\n }",
    );
    assert_eq!(cfg.instances[0].excluded_vips.len(), 2);
    // keepalived 2.2.7 runs it (exit 0) and adds the address once.
    let (cfg, w) = warnings_of("", " virtual_ipaddress_excluded {\n 192.0.2.10\n }");
    assert!(cfg.instances[0].excluded_vips.is_empty());
    assert!(w.contains("listed twice"), "{w}");
}

fn instance_with(body: &str) -> String {
    format!(
        "vrrp_instance VI_1 {{\n interface eth0\n virtual_router_id 51\n{body}\n \
         virtual_ipaddress {{\n 192.0.2.10\n }}\n}}\n"
    )
}

#[test]
fn authentication_keepalived_ignores_means_none_with_a_warning() {
    for block in [
        "auth_type PASS;\n auth_pass secret;",
        "auth_type no_auth",
        "auth_type pass\n auth_pass secret",
        "auth_type PASS",
        "auth_type PASS\n auth_pass \"\"",
        "auth_pass secret",
    ] {
        let text = instance_with(&format!(" authentication {{\n {block}\n }}"));
        let (cfg, warnings) = with_warnings(&text);
        assert_eq!(cfg.instances[0].auth_pass, None, "{block}");
        assert_eq!(warnings.len(), 1, "{block}: {warnings:?}");
        assert!(warnings[0].contains("no authentication"), "{warnings:?}");
    }
    let text = instance_with(" authentication {\n auth_type PASS\n auth_pass secret\n }");
    let (cfg, warnings) = with_warnings(&text);
    assert_eq!(cfg.instances[0].auth_pass.as_deref(), Some("secret"));
    assert!(warnings.is_empty(), "{warnings:?}");
    let text = instance_with(" authentication {\n auth_type AH\n auth_pass x\n }");
    let (cfg, warnings) = with_warnings(&text);
    assert_eq!(cfg.instances[0].auth_type, crate::config::AuthType::Ah);
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn unicast_addresses_drop_a_prefix_length_like_keepalived() {
    let text = instance_with(
        " unicast_src_ip 192.0.2.1/24\n unicast_peer {\n 192.0.2.2/24\n 192.0.2.3\n }",
    );
    let (cfg, warnings) = with_warnings(&text);
    let inst = &cfg.instances[0];
    assert_eq!(inst.source_address, Some("192.0.2.1".parse().unwrap()));
    assert_eq!(
        inst.unicast_peers,
        [
            "192.0.2.2".parse::<IpAddr>().unwrap(),
            "192.0.2.3".parse().unwrap()
        ]
    );
    assert!(warnings.is_empty(), "{warnings:?}");
    let (cfg, warnings) = with_warnings(&instance_with(" mcast_src_ip 192.0.2.1/x"));
    assert_eq!(
        cfg.instances[0].source_address,
        Some("192.0.2.1".parse().unwrap())
    );
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    // keepalived: "malformed src address ... Skipping...".
    let (cfg, w) = warnings_of("", " unicast_src_ip 192.0.2.300/24");
    assert_eq!(cfg.instances[0].source_address, None);
    assert!(
        w.contains("k.conf:7:") && w.contains("not an IP address"),
        "{w}"
    );
}

#[test]
fn track_entries_naming_nothing_are_dropped_with_a_warning() {
    // keepalived 2.2.7 looks the script up while reading the entry: one defined later
    // is "not found" too.
    let text = "vrrp_script chk_web {\n script /bin/true\n}\n\
                vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n \
                track_script {\n chk_typo\n chk_web weight 5\n chk_late\n }\n \
                track_file {\n chk_web\n }\n virtual_ipaddress {\n 192.0.2.10\n }\n}\n\
                vrrp_script chk_late {\n script /bin/true\n}\n";
    let (cfg, warnings) = with_warnings(text);
    let inst = &cfg.instances[0];
    assert_eq!(inst.track_checks.len(), 1);
    assert_eq!(inst.track_checks[0].check, "chk_web");
    assert_eq!(inst.track_checks[0].weight, Some(5));
    assert!(
        inst.track_files.is_empty(),
        "a vrrp_script is no track file"
    );
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    assert!(
        warnings[0].contains("k.conf:8:") && warnings[0].contains("chk_typo"),
        "{warnings:?}"
    );
    assert!(
        warnings[1].contains("k.conf:10:") && warnings[1].contains("defined after"),
        "{warnings:?}"
    );
    assert!(
        warnings[2].contains("k.conf:13:") && warnings[2].contains("vrrp_track_file"),
        "{warnings:?}"
    );
}

#[test]
fn track_entry_options_are_read_as_keepalived_reads_them() {
    let text = "vrrp_script chk {\n script /bin/true\n weight 300\n}\n\
                vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n \
                track_script {\n chk weight many\n }\n track_interface {\n \
                eth1 weight 254\n eth2 wieght 5\n eth3 weight\n eth4 weight 999\n }\n \
                virtual_ipaddress {\n 192.0.2.10\n }\n}\n";
    let (cfg, warnings) = with_warnings(text);
    // A script weight beyond ±253 saturates like ±253.
    assert_eq!(cfg.checks[0].weight, 253);
    let inst = &cfg.instances[0];
    // A weight keepalived cannot read falls back to the script's own.
    assert_eq!(inst.track_checks[0].weight, None);
    let tracked: Vec<(&str, i32)> = inst
        .track_interfaces
        .iter()
        .map(|t| (t.name.as_str(), t.weight))
        .collect();
    // ±254 is read as ±253; a misspelt option or a missing value drops the entry; an
    // unreadable weight is 0.
    assert_eq!(tracked, [("eth1", 253), ("eth4", 0)]);
    assert_eq!(warnings.len(), 6, "{warnings:?}");
}

#[test]
fn virtual_address_words_keepalived_ignores_are_warnings() {
    let text = instance_with(
        " virtual_ipaddress_excluded {\n 192.0.2.20/24 192.0.2.21\n 192.0.2.22 dev eth0 scope bogus\n }",
    );
    let (cfg, warnings) = with_warnings(&text);
    let excluded = &cfg.instances[0].excluded_vips;
    assert_eq!(excluded.len(), 2);
    assert_eq!(excluded[1].interface.as_deref(), Some("eth0"));
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].contains("one address per line"), "{warnings:?}");
    // keepalived: "No dev parameter specified"; the address stays.
    let (cfg, w) = warnings_of("", " virtual_ipaddress_excluded {\n 192.0.2.20 dev\n }");
    assert_eq!(cfg.instances[0].excluded_vips.len(), 1);
    assert!(w.contains("`dev` is ignored"), "{w}");
}

#[test]
fn routes_rules_and_statics_read_as_keepalived_reads_them() {
    let (cfg, warnings) = with_warnings(
        "net_namespace blue\n\
         static_ipaddress {\n 192.0.2.50/24\n 2001:db8::50/64 dev eth1 track_group G\n}\n\
         static_rules {\n from 192.0.2.50 table 100 priority 100\n to 203.0.113.0/24 table 100\n \
         from 2001:db8::/64 table 100\n}\n\
         global_defs {\n default_interface eth2\n}\n\
         vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n \
         virtual_ipaddress {\n 192.0.2.100/24\n }\n \
         virtual_routes {\n src 192.0.2.100 to 198.51.100.0/24 via 192.0.2.1 dev eth0\n \
         198.51.101.0/24 via 192.0.2.1 vrf blue\n }\n \
         virtual_rules {\n fwmark 7 table 201\n from all table 5 pref 3\n }\n}\n",
    );
    assert_eq!(cfg.global.net_namespace.as_deref(), Some("blue"));
    let statics = &cfg.statics;
    // Without `dev`: default_interface, even when written later in the file.
    assert_eq!(statics.addresses[0].interface.as_deref(), Some("eth2"));
    assert_eq!(statics.addresses[1].interface.as_deref(), Some("eth1"));
    let priorities: Vec<Option<u32>> = statics.rules.iter().map(|r| r.priority).collect();
    assert_eq!(priorities, [Some(100), Some(16384), Some(16384)]);
    let inst = &cfg.instances[0];
    assert_eq!(inst.routes.len(), 1, "the route with vrf is skipped");
    assert_eq!(
        inst.routes[0].to_string(),
        "198.51.100.0/24 via 192.0.2.1 dev eth0 src 192.0.2.100"
    );
    assert_eq!(inst.rules.len(), 1, "the rule with pref is skipped");
    assert_eq!(
        inst.rules[0].priority,
        Some(16383),
        "file order, per family"
    );
    let text = warnings.join("\n");
    for expected in [
        "k.conf:4: warning: `track_group G`",
        "k.conf:8: warning: rule has no preference: it gets 16384",
        "k.conf:9: warning: rule has no preference: it gets 16384",
        "k.conf:22: warning: route skipped: route option `vrf`",
        "k.conf:25: warning: rule has no preference: it gets 16383",
        "k.conf:26: warning: rule skipped: keepalived 2.2.7 does not know the rule option `pref`",
    ] {
        assert!(text.contains(expected), "{expected} not in\n{text}");
    }
    let toml = crate::config::to_toml(&cfg);
    let back = crate::config::parse_native(&toml, Path::new("k.toml")).unwrap();
    assert_eq!(back, cfg, "{toml}");
}

#[test]
fn values_keepalived_cannot_use_are_worked_around_as_keepalived_does() {
    let (cfg, w) = warnings_of(
        "",
        " state PRIMARY\n priority 100,x\n advert_int soon\n preempt_delay -1\n \
         garp_master_repeat many",
    );
    let inst = &cfg.instances[0];
    assert_eq!(inst.initial_state, InitialState::Backup);
    assert_eq!(inst.priority, 100);
    assert_eq!(inst.advert_interval, Duration::from_secs(1));
    assert_eq!(inst.preempt_delay, Duration::ZERO);
    assert_eq!(inst.garp.master_repeat, None);
    assert_eq!(w.lines().count(), 5, "{w}");
    // An invalid priority is 100 even with state MASTER (which alone would mean 255).
    let (cfg, _) = warnings_of("", " state MASTER\n priority 0");
    assert_eq!(cfg.instances[0].priority, 100);
    let (cfg, _) = warnings_of("", " state MASTER");
    assert_eq!(cfg.instances[0].priority, 255);
    let (cfg, w) = warnings_of("", " preempt_delay 2000");
    assert_eq!(cfg.instances[0].preempt_delay, Duration::ZERO);
    assert!(w.contains("0..=1000"), "{w}");
    let (cfg, w) = with_warnings(
        "vrrp_script chk {\n script /bin/true\n interval 0\n}\n\
         vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n}\n",
    );
    assert_eq!(cfg.checks[0].interval, Duration::from_secs(1));
    assert!(w[0].contains("k.conf:3:"), "{w:?}");
}

#[test]
fn intervals_versions_and_sources_are_corrected_as_keepalived_corrects_them() {
    let (cfg, w) = warnings_of("", " advert_int 1.5");
    assert_eq!(cfg.instances[0].advert_interval, Duration::from_secs(2));
    assert!(w.contains("rounded to 2s"), "{w}");
    let (cfg, _) = warnings_of("", " version 3\n advert_int 50");
    assert_eq!(
        cfg.instances[0].advert_interval,
        Duration::from_millis(40_950)
    );
    let (cfg, w) = warnings_of("", " advert_int 300");
    assert_eq!(cfg.instances[0].advert_interval, Duration::from_secs(1));
    assert!(w.contains("0.01..=255"), "{w}");
    let text =
        instance_with(" version 2\n mcast_src_ip 192.0.2.1").replace("192.0.2.10", "2001:db8::10");
    let (cfg, warnings) = with_warnings(&text);
    assert_eq!(cfg.instances[0].version, None);
    assert_eq!(cfg.instances[0].version(&cfg.global), 3);
    assert_eq!(cfg.instances[0].source_address, None);
    assert_eq!(warnings.len(), 2, "{warnings:?}");
}

#[test]
fn preemption_settings_keepalived_clears_are_cleared() {
    let (cfg, w) = warnings_of("", " state MASTER\n nopreempt\n preempt_delay 10");
    assert!(cfg.instances[0].preempt);
    assert_eq!(cfg.instances[0].preempt_delay, Duration::ZERO);
    assert_eq!(w.lines().count(), 2, "{w}");
    let (cfg, _) = warnings_of("", " priority 255\n nopreempt");
    assert!(cfg.instances[0].preempt);
    let (cfg, w) = warnings_of("", " nopreempt\n preempt_delay 10");
    assert!(!cfg.instances[0].preempt);
    assert_eq!(cfg.instances[0].preempt_delay, Duration::ZERO);
    assert!(w.contains("with nopreempt"), "{w}");
    let (cfg, _) = warnings_of("", " strict_mode\n priority 255\n preempt_delay 10");
    assert_eq!(cfg.instances[0].preempt_delay, Duration::ZERO);
    // BACKUP keeps them.
    let (cfg, w) = warnings_of("", " nopreempt");
    assert!(!cfg.instances[0].preempt);
    assert!(!w.contains("cleared"), "{w}");
}

/// keepalived 2.2.7 in strict mode: "State MASTER must match being address owner". A
/// non-owner `state MASTER` starts as BACKUP, so its `nopreempt` stays (a corpus file with
/// `vrrp_strict`, `state MASTER` and `nopreempt` stayed BACKUP under keepalived when a lower
/// router followed a higher one; vipd took the VIP back). An owner starts as MASTER.
#[test]
fn strict_mode_makes_the_initial_state_follow_address_ownership() {
    let (cfg, w) = warnings_of(" vrrp_strict", " state MASTER\n priority 100\n nopreempt");
    assert_eq!(cfg.instances[0].initial_state, InitialState::Backup);
    assert!(!cfg.instances[0].preempt, "nopreempt kept: {w}");
    assert!(
        w.contains("k.conf:7:") && w.contains("state MASTER becomes BACKUP"),
        "{w}"
    );
    let (cfg, w) = warnings_of("", " strict_mode on\n state BACKUP\n priority 255");
    assert_eq!(cfg.instances[0].initial_state, InitialState::Master);
    assert!(w.contains("state BACKUP becomes MASTER"), "{w}");
    // Outside strict mode `state MASTER` clears nopreempt instead.
    let (cfg, _) = warnings_of("", " state MASTER\n priority 100\n nopreempt");
    assert_eq!(cfg.instances[0].initial_state, InitialState::Master);
    assert!(cfg.instances[0].preempt);
    // A strict owner or a strict BACKUP below 255: nothing to say.
    let (_, w) = warnings_of(" vrrp_strict", " state MASTER\n priority 255");
    assert!(!w.contains("strict"), "{w}");
}

#[test]
fn notify_scripts_keep_the_first_and_ignore_extra_words() {
    let (cfg, w) = warnings_of(
        "",
        " notify_master /bin/first\n notify_master /bin/second\n \
         notify_backup /bin/b root root extra",
    );
    let notify = &cfg.instances[0].notify;
    assert_eq!(notify.master.as_ref().unwrap().command, "/bin/first");
    let backup = notify.backup.as_ref().unwrap();
    assert_eq!(backup.group.as_deref(), Some("root"));
    assert_eq!(w.lines().count(), 2, "{w}");
    assert!(w.contains("k.conf:8:") && w.contains("first"), "{w}");
}

#[test]
fn blocks_keepalived_skips_are_skipped_with_a_warning() {
    let text = "vrrp_script chk {\n script /bin/true\n weight 5\n}\n\
                vrrp_script chk {\n script /bin/false\n}\n\
                vrrp_script nothing {\n interval 2\n}\n\
                vrrp_track_file tf {\n weight 3\n}\n\
                vrrp_instance {\n interface eth0\n}\n\
                vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n \
                virtual_ipaddress {\n 192.0.2.10\n }\n track_script {\n chk\n nothing\n \
                }\n}\n\
                vrrp_instance VI_1 {\n interface eth1\n virtual_router_id 52\n}\n\
                vrrp_instance VI_2 {\n interface eth1\n virtual_router_id 52\n \
                virtual_ipaddress {\n 198.51.100.10\n }\n}\n\
                vrrp_sync_group G1 {\n group {\n VI_1\n VI_9\n }\n track_script {\n \
                nothing\n }\n}\n\
                vrrp_sync_group G1 {\n group {\n VI_2\n }\n}\n\
                vrrp_sync_group G2 {\n group {\n VI_1\n }\n}\n\
                vrrp_sync_group G3 {\n group {\n VI_2\n }\n}\n";
    let (cfg, warnings) = with_warnings(text);
    assert_eq!(cfg.checks.len(), 1);
    assert_eq!(cfg.checks[0].weight, 5, "the first chk is kept");
    let names: Vec<&str> = cfg.instances.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["VI_1", "VI_2"]);
    assert_eq!(cfg.instances[0].interface, "eth0");
    assert_eq!(cfg.instances[0].track_checks.len(), 1);
    let groups: Vec<(&str, Vec<&str>)> = cfg
        .sync_groups
        .iter()
        .map(|g| {
            (
                g.name.as_str(),
                g.instances.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(groups, [("G1", vec!["VI_1"]), ("G3", vec!["VI_2"])]);
    assert!(cfg.sync_groups[0].track_checks.is_empty());
    // chk again, nothing without script, tf without file, the unnamed instance, VI_1
    // again, nothing tracked by VI_1, VI_9, nothing tracked by G1, G1 again, VI_1 in G2,
    // G2 left empty; chk's weight, which keepalived drops in a sync group member.
    assert_eq!(warnings.len(), 12, "{warnings:#?}");
}

#[test]
fn tracking_the_own_interface_is_dropped_as_keepalived_drops_it() {
    let (cfg, w) = warnings_of(
        "",
        " track_interface {\n eth1 weight -10\n eth0 weight -50\n eth2\n }",
    );
    let names: Vec<&str> = cfg.instances[0]
        .track_interfaces
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(names, ["eth1", "eth2"]);
    assert!(
        w.contains("k.conf:9:") && w.contains("own interface"),
        "{w}"
    );
}

#[test]
fn unicast_peer_options_keepalived_ignores_are_warnings() {
    let (cfg, w) = warnings_of(
        "",
        " unicast_peer {\n 192.0.2.2 ttl 3\n 192.0.2.3 min_ttl x\n \
         192.0.2.4 min_ttl 10 max_ttl 5\n }",
    );
    assert_eq!(cfg.instances[0].unicast_peers.len(), 3);
    assert!(cfg.instances[0].unicast_peer_ttl.is_empty());
    assert_eq!(w.lines().count(), 3, "{w}");
}

#[test]
fn a_block_keyword_without_braces_takes_the_lines_up_to_the_next_close_like_keepalived() {
    // keepalived 2.2.7 (checked with -d): `track_interface eth1` ignores eth1 and takes the
    // next lines up to the next `}` as interfaces; `virtual_ipaddress X` on one line leaves
    // the instance open, so the next instance's lines are read into it.
    let text = "vrrp_instance A {\n interface eth0\n virtual_router_id 51\n track_interface eth1\n  eth2\n }\n priority 120\n virtual_ipaddress 192.0.2.10/24\n}\nvrrp_instance B {\n interface eth1\n virtual_router_id 52\n virtual_ipaddress {\n  198.51.100.10/24\n }\n}\n";
    let (cfg, warnings) = with_warnings(text);
    assert_eq!(cfg.instances.len(), 1, "{warnings:#?}");
    let a = &cfg.instances[0];
    assert_eq!(a.name, "A");
    assert_eq!(a.priority, 120);
    let tracked: Vec<&str> = a.track_interfaces.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(tracked, ["eth2"]);
    assert_eq!((a.interface.as_str(), a.vrid), ("eth1", 52));
    assert_eq!(a.vips.len(), 1);
    assert_eq!(a.vips[0].to_string(), "198.51.100.10/24");
    for want in [
        "k.conf:4: warning: `track_interface` has no `{`",
        "k.conf:4: warning: `track_interface`: `eth1` is ignored",
        "k.conf:8: warning: `virtual_ipaddress` has no `{`",
        "k.conf:10: warning: `{` after `vrrp_instance`, which takes no block, is skipped",
    ] {
        assert!(
            warnings.iter().any(|w| w.starts_with(want)),
            "{want}: {warnings:#?}"
        );
    }
}

#[test]
fn a_brace_after_a_word_without_a_block_closes_the_enclosing_block_like_keepalived() {
    // `nopreempt {`: the `{` is skipped and its `}` closes the instance; `priority 90` is
    // then an unknown word at the top level, and the last `}` closes nothing.
    let text = "vrrp_instance A {\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {\n  192.0.2.10\n }\n nopreempt {\n }\n priority 90\n}\n";
    let (cfg, warnings) = with_warnings(text);
    assert_eq!(cfg.instances[0].priority, 100);
    assert!(!cfg.instances[0].preempt);
    for want in [
        "k.conf:7: warning: `{` after `nopreempt`, which takes no block, is skipped",
        "k.conf:9: warning: unknown keyword `priority`",
        "k.conf:10: warning: `}` without a matching `{` is skipped",
    ] {
        assert!(
            warnings.iter().any(|w| w.starts_with(want)),
            "{want}: {warnings:#?}"
        );
    }
}

#[test]
fn a_script_and_a_process_check_may_share_a_name_like_in_keepalived() {
    let text = "vrrp_script P {\n script /bin/true\n}\nvrrp_track_process P {\n process haproxy\n quorum 2\n quorum_max 1\n}\nvrrp_instance A {\n interface eth0\n virtual_router_id 51\n track_script {\n  P\n }\n track_process {\n  P weight 5\n }\n virtual_ipaddress {\n  192.0.2.10\n }\n}\n";
    let (cfg, warnings) = with_warnings(text);
    let names: Vec<&str> = cfg.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["P", "P-process"]);
    let tracked: Vec<&str> = cfg.instances[0]
        .track_checks
        .iter()
        .map(|t| t.check.as_str())
        .collect();
    assert_eq!(tracked, ["P", "P-process"]);
    let CheckKind::Process(process) = &cfg.checks[1].kind else {
        panic!("{:?}", cfg.checks[1]);
    };
    assert_eq!((process.quorum, process.quorum_max), (2, u32::MAX));
    for want in [
        "k.conf:4: warning: `vrrp_track_process P`: a check of another kind has this name",
        "k.conf:7: warning: `quorum_max`: `1` is below quorum 2",
    ] {
        assert!(
            warnings.iter().any(|w| w.starts_with(want)),
            "{want}: {warnings:#?}"
        );
    }
}

#[test]
fn state_words_are_case_sensitive_like_keepalived() {
    // keepalived 2.2.7: "unknown state 'master', defaulting to BACKUP"; without a priority
    // the instance keeps 100 (only `state MASTER` makes the address owner).
    let text = "vrrp_instance VI_1 {\n state master\n interface eth0\n virtual_router_id 51\n \
                virtual_ipaddress {\n 192.0.2.10\n }\n}\n";
    let cfg = parse_keepalived(text, Path::new("k.conf")).unwrap();
    assert_eq!(cfg.instances[0].initial_state, InitialState::Backup);
    assert_eq!(cfg.instances[0].priority, 100);
    let upper = parse_keepalived(&text.replace("master", "MASTER"), Path::new("k.conf")).unwrap();
    assert_eq!(upper.instances[0].initial_state, InitialState::Master);
    assert_eq!(upper.instances[0].priority, 255);
    let backup = parse_keepalived(&text.replace("master", "Backup"), Path::new("k.conf")).unwrap();
    assert_eq!(backup.instances[0].initial_state, InitialState::Backup);
}

#[test]
fn numbers_followed_by_other_characters_count_as_their_leading_digits_like_keepalived() {
    // keepalived 2.2.7 ("WARNING - invalid number '-20;'") uses the leading number, as its
    // -d dump shows; vipd dropped such lines (a weight of 0, a VIP skipped).
    let text = "vrrp_script chk {\n script \"/bin/true\"\n interval 3;\n weight -20;\n \
                rise 4x\n fall 2s\n timeout 5;\n}\nvrrp_instance VI_1 {\n interface eth0\n \
                virtual_router_id 51\n garp_master_delay 7s\n garp_master_repeat 3;\n \
                version 3x\n virtual_ipaddress {\n 192.0.2.50/24;\n }\n track_script {\n \
                chk weight -15;\n }\n track_interface {\n eth1 weight 5;\n }\n}\n";
    let cfg = parse_keepalived(text, Path::new("k.conf")).unwrap();
    let check = &cfg.checks[0];
    assert_eq!(check.interval, Duration::from_secs(3));
    assert_eq!(check.timeout, Some(Duration::from_secs(5)));
    assert_eq!((check.weight, check.rise, check.fall), (-20, 4, 2));
    let inst = &cfg.instances[0];
    assert_eq!(inst.vips.len(), 1);
    assert_eq!(inst.vips[0].prefix_len, 24);
    assert_eq!(inst.garp.master_delay, Some(Duration::from_secs(7)));
    assert_eq!(inst.garp.master_repeat, Some(3));
    assert_eq!(inst.version, Some(3));
    assert_eq!(inst.track_checks[0].weight, Some(-15));
    assert_eq!(inst.track_interfaces[0].weight, 5);
    // priority, virtual_router_id and unicast_ttl stay strict, as in keepalived.
    let strict = text.replace(
        "interface eth0\n",
        "interface eth0\n priority 90;\n unicast_ttl 9x\n",
    );
    let cfg = parse_keepalived(&strict, Path::new("k.conf")).unwrap();
    assert_eq!(cfg.instances[0].priority, 100);
    assert_eq!(cfg.instances[0].unicast_ttl, None);
    let bad_vrid = text.replace("virtual_router_id 51", "virtual_router_id 51;");
    assert!(parse_keepalived(&bad_vrid, Path::new("k.conf")).is_err());
}

#[test]
fn an_unquoted_script_line_runs_its_first_word_only_like_keepalived() {
    // keepalived 2.2.7: `script /usr/bin/test -e /nonexistent` runs `/usr/bin/test` alone
    // (its dump: "Command = '/usr/bin/test'"; the check fails whatever the file).
    let text = "vrrp_script chk {\n script /usr/bin/test -e /nonexistent\n}\n\
                vrrp_script quoted {\n script \"/usr/bin/test -e /nonexistent\"\n}\n";
    let cfg = parse_keepalived(text, Path::new("k.conf")).unwrap();
    assert_eq!(
        cfg.checks[0].kind,
        CheckKind::exec("/usr/bin/test").unwrap()
    );
    assert_eq!(
        cfg.checks[1].kind,
        CheckKind::exec("/usr/bin/test -e /nonexistent").unwrap()
    );
}

#[test]
fn notify_deleted_and_master_rx_lower_pri_are_read_and_carried_to_toml() {
    let (cfg, w) = warnings_of(
        "",
        " notify_deleted\n notify_master_rx_lower_pri \"/bin/lower 'a b'\" root",
    );
    let notify = &cfg.instances[0].notify;
    assert!(notify.deleted && notify.reports_deleted());
    assert_eq!(notify.deleted_script, None);
    let lower = notify.master_rx_lower_pri.as_ref().unwrap();
    assert_eq!(lower.command, "/bin/lower 'a b'");
    assert_eq!(lower.user.as_deref(), Some("root"));
    assert!(w.is_empty(), "{w}");
    let native = crate::config::to_toml(&cfg);
    assert!(native.contains("deleted = true"), "{native}");
    let back = crate::config::parse_native(&native, Path::new("n.toml")).unwrap();
    assert_eq!(back.instances[0].notify, *notify, "{native}");

    // With a script; the first one is kept, as keepalived keeps it.
    let (cfg, w) = warnings_of("", " notify_deleted /bin/gone\n notify_deleted /bin/again");
    let notify = &cfg.instances[0].notify;
    assert_eq!(notify.deleted_script.as_ref().unwrap().command, "/bin/gone");
    assert!(w.contains("/bin/again"), "{w}");
    let native = crate::config::to_toml(&cfg);
    let back = crate::config::parse_native(&native, Path::new("n.toml")).unwrap();
    assert_eq!(back.instances[0].notify, *notify, "{native}");

    // Without them: FAULT at removal, no script.
    let (cfg, _) = warnings_of("", " notify /bin/any");
    assert!(!cfg.instances[0].notify.reports_deleted());
    assert_eq!(cfg.instances[0].notify.master_rx_lower_pri, None);
}

#[test]
fn notify_deleted_and_master_rx_lower_pri_are_instance_keywords_only() {
    // keepalived 2.2.7: "Unknown keyword" in a vrrp_sync_group.
    let text = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n \
                virtual_ipaddress {\n 192.0.2.10\n }\n}\n\
                vrrp_sync_group G {\n group {\n VI_1\n }\n notify_deleted /bin/x\n \
                notify_master_rx_lower_pri /bin/y\n}\n";
    let options = ReadOptions {
        config_id: "lb1".to_string(),
        all_config: false,
    };
    let outcome = read_keepalived(text, Path::new("k.conf"), &options);
    let text_of = match &outcome {
        Ok(loaded) => loaded
            .warnings
            .iter()
            .map(|w| w.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
        Err(e) => e.to_string(),
    };
    assert!(text_of.contains("notify_deleted"), "{text_of}");
    assert!(text_of.contains("notify_master_rx_lower_pri"), "{text_of}");
    if let Ok(loaded) = outcome {
        assert!(loaded.config.sync_groups[0].notify.is_empty());
    }
}

#[test]
fn promote_secondaries_and_track_src_ip_are_read_without_warning_and_round_trip() {
    let text = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n promote_secondaries\n track_src_ip\n unicast_src_ip 192.0.2.1\n unicast_peer {\n 192.0.2.2\n }\n virtual_ipaddress {\n 192.0.2.10\n }\n}\n";
    let (cfg, warnings) = with_warnings(text);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(cfg.instances[0].promote_secondaries);
    assert!(cfg.instances[0].track_source_address);
    let native = crate::config::to_toml(&cfg);
    assert!(native.contains("promote_secondaries = true"), "{native}");
    assert!(native.contains("track_source_address = true"), "{native}");
    let back = crate::config::parse_native(&native, Path::new("p.toml")).unwrap();
    assert!(back.instances[0].promote_secondaries);
    assert!(back.instances[0].track_source_address);
    // Off by default, and then not written.
    let plain = text.replace(" promote_secondaries\n track_src_ip\n", "");
    let (cfg, _) = with_warnings(&plain);
    assert!(!cfg.instances[0].promote_secondaries);
    assert!(!cfg.instances[0].track_source_address);
    let native = crate::config::to_toml(&cfg);
    assert!(!native.contains("promote_secondaries"), "{native}");
    assert!(!native.contains("track_source_address"), "{native}");
}

#[test]
fn one_address_on_two_interfaces_is_two_addresses() {
    // A gateway's link-local fe80::1 on each of its VLANs (a corpus file's shape): keepalived
    // 2.2.7 runs it.
    let text = "vrrp_instance V6 {\n interface eth0\n virtual_router_id 21\n \
                virtual_ipaddress {\n 2001:db8:20::1/64 dev eth1\n fe80::1/64 dev eth1\n \
                2001:db8:21::1/64 dev eth2\n fe80::1/64 dev eth2\n }\n}\n";
    let cfg = parse_keepalived(text, Path::new("k.conf")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.instances[0].vips.len(), 4);
    // Twice in virtual_ipaddress on one interface is still refused (keepalived counts it
    // twice in its adverts).
    let e = error_of("", " virtual_ipaddress {\n 192.0.2.10 dev eth0\n }");
    assert!(e.contains("listed twice"), "{e}");
}

#[test]
fn a_tracked_route_keeps_keepalived_as_its_protocol() {
    // keepalived 2.2.7 resets `protocol` on a route without `no_track` (a corpus file's
    // `::/0 via ... protocol static` went in as proto keepalived) and keeps it with no_track.
    let (cfg, w) = warnings_of(
        "",
        " virtual_routes {\n 198.51.100.0/25 via 192.0.2.1 protocol static\n \
         198.51.100.128/25 via 192.0.2.1 protocol static no_track\n }",
    );
    let routes = &cfg.instances[0].routes;
    assert_eq!(routes[0].effective_protocol(), 18);
    assert_eq!(routes[1].effective_protocol(), 4);
    assert!(
        w.contains("k.conf:") && w.contains("reset to keepalived"),
        "{w}"
    );
}

#[test]
fn a_keyword_keepalived_stops_at_without_its_value_is_an_error() {
    // Chef's and Puppet's renderings write a bare `debug`; keepalived 2.2.7 does not start
    // with it ("missing a parameter", "exited with permanent error CONFIG").
    let e = error_of(" router_id r1", " debug");
    assert!(
        e.contains("k.conf:7") && e.contains("`debug` needs a value"),
        "{e}"
    );
    for (global, instance) in [
        (" umask", ""),
        (" smtp_server", ""),
        (" vrrp_process_name", ""),
        ("", " vrf"),
        ("", " lvs_sync_daemon_interface"),
    ] {
        let e = error_of(global, instance);
        assert!(e.contains("needs a value"), "{global}{instance}: {e}");
    }
    // With a value they stay ignored keywords (warnings), as keepalived runs them.
    let (_, warnings) = warnings_of(" umask 022", " debug 2");
    assert!(warnings.contains("`debug` is ignored"), "{warnings}");
    // In check blocks: a vrrp_script `weight` or `user`, a vrrp_track_process `process`.
    let check = |block: &str| {
        let text = format!(
            "{block}\nvrrp_instance VI_1 {{\n interface eth0\n virtual_router_id 51\n \
             virtual_ipaddress {{\n 192.0.2.10\n }}\n}}\n"
        );
        match parse_keepalived(&text, Path::new("c.conf")) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e.to_string(),
        }
    };
    let e = check("vrrp_script s {\n script /bin/true\n weight\n}");
    assert!(
        e.contains("c.conf:3") && e.contains("`weight` needs a value"),
        "{e}"
    );
    let e = check("vrrp_script s {\n script /bin/true\n user\n}");
    assert!(e.contains("`user` needs a value"), "{e}");
    let e = check("vrrp_track_process p {\n process\n}");
    assert!(e.contains("`process` needs a value"), "{e}");
}

#[test]
fn an_excluded_address_that_is_also_a_vip_is_read_once_as_keepalived_adds_it() {
    // Chef's keepalived cookbook spec: VIPs .11-.13, .12 and .13 also excluded. keepalived
    // 2.2.7 runs it (exit 0) and adds each address once.
    let (cfg, warnings) = warnings_of(
        "",
        " virtual_ipaddress_excluded {\n 192.0.2.10\n 198.51.100.7\n 198.51.100.7 dev eth0\n }",
    );
    let inst = &cfg.instances[0];
    assert_eq!(inst.vips.len(), 1);
    let excluded: Vec<String> = inst
        .excluded_vips
        .iter()
        .map(|v| v.address.to_string())
        .collect();
    assert_eq!(excluded, ["198.51.100.7"]);
    assert_eq!(warnings.matches("is listed twice").count(), 2, "{warnings}");
    assert!(
        warnings.contains("k.conf:8:") && warnings.contains("k.conf:10:"),
        "{warnings}"
    );
    // A VIP twice in virtual_ipaddress stays an error: keepalived counts it twice in adverts.
    let e = error_of("", " virtual_ipaddress {\n 192.0.2.10\n }");
    assert!(e.contains("listed twice"), "{e}");
}

#[test]
fn a_multicast_source_address_is_ignored_for_the_interfaces_own() {
    // Puppet's keepalived module spec writes `mcast_src_ip 225.1.2.3`: keepalived 2.2.7 puts
    // it in its adverts' IP header (receivers drop them); a socket cannot send from it, so
    // vipd sent no adverts at all. It now sends from the interface's address.
    for (line, keyword) in [
        (" mcast_src_ip 225.1.2.3", "mcast_src_ip"),
        (" unicast_src_ip 255.255.255.255", "unicast_src_ip"),
        (" mcast_src_ip 0.0.0.0", "mcast_src_ip"),
    ] {
        let (cfg, w) = warnings_of("", line);
        assert_eq!(cfg.instances[0].source_address, None, "{line}");
        assert!(
            w.contains("k.conf:7:") && w.contains(&format!("`{keyword}`")),
            "{line}: {w}"
        );
    }
    let (cfg, _) = warnings_of("", " mcast_src_ip 192.0.2.1");
    assert_eq!(
        cfg.instances[0].source_address,
        Some("192.0.2.1".parse().unwrap())
    );
}

#[test]
fn a_tracked_interface_no_interface_can_have_is_refused_as_keepalived_refuses_it() {
    // Corpus round 6: `track_interface eth1` without braces swallows the lines up to the
    // next `}` (here `virtual_ipaddress`, 17 bytes, and `192.0.2.20/24`) as interface
    // names. keepalived 2.2.7 stops ("Non-existent interface specified in configuration");
    // vipd ran the instance with no VIPs, in FAULT for ever.
    let e = error_of(
        "",
        " track_interface eth1\n virtual_ipaddress {\n 192.0.2.20/24\n }",
    );
    assert!(
        e.contains("k.conf:8: `track_interface` entry `virtual_ipaddress`"),
        "{e}"
    );
    assert!(
        e.contains("k.conf:9: `track_interface` entry `192.0.2.20/24`"),
        "{e}"
    );
    assert!(e.contains("Non-existent interface"), "{e}");
    // keepalived looks the name up before it reads the options: an unknown option does not
    // save the entry. A sync group's track_interface likewise.
    for entry in [
        "eth1/24 wieght 10",
        "eth1:0 weight -10",
        "averyverylongname0",
    ] {
        let e = error_of("", &format!(" track_interface {{\n  {entry}\n }}"));
        assert!(e.contains("k.conf:8:"), "{entry}: {e}");
    }
    let group = "vrrp_sync_group G {\n group {\n VI_1\n }\n track_interface {\n eth2/x\n }\n}\n\
                 vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n \
                 virtual_ipaddress {\n 192.0.2.10\n }\n}\n";
    let e = parse_keepalived(group, Path::new("g.conf"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("g.conf:6:") && e.contains("`eth2/x`"), "{e}");
    // A name that may appear later (a VPN tunnel, a VLAN) stays a warning at run time.
    let (cfg, _) = warnings_of("", " track_interface {\n  tun0 weight -20\n }");
    assert_eq!(cfg.instances[0].track_interfaces[0].name, "tun0");
    // The native form refuses such a name too.
    let native = crate::config::to_toml(&cfg).replace("\"tun0\"", "\"tun/0\"");
    let e = crate::config::parse_native(&native, Path::new("t.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("`tun/0`"), "{e}");
}

#[test]
fn state_master_with_ah_starts_as_backup_as_keepalived_makes_it() {
    // Corpus round 6 (a code-server HA guide): `state MASTER` with `auth_type AH`.
    // keepalived 2.2.7: "Initial state master is incompatible with AH authentication -
    // clearing"; it starts as BACKUP and waits for the master down timer, where vipd took
    // over at once. The owner (255) keeps MASTER; strict mode and VRRPv3 drop the
    // authentication first, so they keep it too.
    let ah =
        " state MASTER\n priority 100\n authentication {\n auth_type AH\n auth_pass secret\n }";
    let (cfg, w) = warnings_of("", ah);
    assert_eq!(cfg.instances[0].initial_state, InitialState::Backup);
    assert!(
        w.contains("k.conf:7:") && w.contains("incompatible with AH"),
        "{w}"
    );
    // Cleared before the nopreempt rules: nopreempt holds, as in keepalived.
    let (cfg, _) = warnings_of("", &format!("{ah}\n nopreempt"));
    assert_eq!(cfg.instances[0].initial_state, InitialState::Backup);
    assert!(!cfg.instances[0].preempt);
    for (global, instance) in [
        ("", ah.replace("priority 100", "priority 255")),
        ("", ah.replace("AH", "PASS")),
        ("", format!("{ah}\n version 3")),
        (" vrrp_strict", ah.to_string()),
    ] {
        let (cfg, _) = warnings_of(global, &instance);
        let expected = if global.is_empty() {
            InitialState::Master
        } else {
            // Strict mode: a non-owner's state MASTER becomes BACKUP for its own reason.
            InitialState::Backup
        };
        assert_eq!(
            cfg.instances[0].initial_state, expected,
            "{global} {instance}"
        );
    }
    let (_, w) = warnings_of(" vrrp_strict", ah);
    assert!(!w.contains("incompatible with AH"), "{w}");
}

/// keepalived 2.2.7 (`keepalived -t`): "(VI_1) VRRP version 3 does not support
/// authentication. Ignoring." for `version 3` or a global `vrrp_version 3`, nothing when the
/// instance says `version 2`, and "Strict mode does not support authentication. Ignoring."
/// (only that one) in strict mode. vipd drops the password the same way and says so at the
/// `authentication` line.
#[test]
fn authentication_ignored_in_vrrpv3_and_strict_mode_warns_at_its_line() {
    let auth = " authentication {\n auth_type PASS\n auth_pass secret\n }";
    let ah = " authentication {\n auth_type AH\n auth_pass secret\n }";
    for (global, instance, says) in [
        ("", format!(" version 3\n{auth}"), "VRRP version 3 does not"),
        ("", format!(" version 3\n{ah}"), "VRRP version 3 does not"),
        (
            " vrrp_version 3",
            format!(" priority 90\n{auth}"),
            "VRRP version 3 does not",
        ),
        (
            " vrrp_strict",
            format!(" version 3\n{auth}"),
            "Strict mode does not",
        ),
        (
            " vrrp_strict",
            format!(" priority 90\n{auth}"),
            "Strict mode does not",
        ),
    ] {
        let (cfg, w) = warnings_of(global, &instance);
        let inst = &cfg.instances[0];
        assert_eq!(inst.auth_pass, None, "{global} {instance}");
        assert_eq!(inst.auth_type, crate::config::AuthType::Pass);
        let ours: Vec<&str> = w.lines().filter(|l| l.contains("authentication")).collect();
        assert_eq!(ours.len(), 1, "{w}");
        assert!(ours[0].starts_with("k.conf:8: warning: "), "{w}");
        assert!(ours[0].contains(says), "{w}");
        assert!(ours[0].contains("instance `VI_1`"), "{w}");
    }
    // The instance's own `version 2` wins over the global one: the password is used.
    let (cfg, w) = warnings_of(" vrrp_version 3", &format!(" version 2\n{auth}"));
    assert_eq!(cfg.instances[0].auth_pass.as_deref(), Some("secret"));
    assert!(!w.contains("authentication"), "{w}");
}

/// keepalived 2.2.7 (`keepalived -t`): "(Line 4) Unknown keyword 'v3_checksum_as_v2'" in
/// `global_defs` and in `vrrp_instance`; it keeps the IPv4 pseudo-header in VRRPv3
/// checksums. vipd does the same, so it and a 2.2.7 peer reading this file agree.
#[test]
fn v3_checksum_as_v2_is_ignored_as_keepalived_2_2_7_does() {
    for (global, instance, line) in [
        (" v3_checksum_as_v2", "", 2),
        (" vrrp_version 3", " v3_checksum_as_v2", 7),
        (" vrrp_version 3", " v3_checksum_as_v2 true", 7),
    ] {
        let (cfg, w) = warnings_of(global, instance);
        assert_eq!(
            cfg.global.v3_checksum,
            crate::config::V3Checksum::PseudoHeader,
            "{w}"
        );
        assert_eq!(cfg.instances[0].v3_checksum, None, "{w}");
        let ours: Vec<&str> = w.lines().filter(|l| l.contains("v3_checksum")).collect();
        assert_eq!(ours.len(), 1, "{w}");
        assert!(
            ours[0].starts_with(&format!(
                "k.conf:{line}: warning: `v3_checksum_as_v2` is ignored"
            )),
            "{w}"
        );
        assert!(ours[0].contains("2.2.7"), "{w}");
    }
}

/// keepalived 2.2.7 drops the tracking weights of a sync group member (corpus round 7: a
/// 1.x director pair whose weighted `chk_ldirectord` keepalived ignores, "ignoring tracked
/// script ... due to SYNC group"); vipd applies them, as REFERENCE.md says, and says so at
/// each entry. A track_process keeps its weight in keepalived too; with
/// `sync_group_tracking_weight` keepalived keeps them all.
#[test]
fn sync_group_member_tracking_weights_are_warned_about() {
    let text = "vrrp_script s1 {\n script /bin/true\n weight 10\n}\n\
                vrrp_script s0 {\n script /bin/false\n}\n\
                vrrp_track_file f1 {\n file /run/f1\n weight 3\n}\n\
                vrrp_track_process p1 {\n process sshd\n weight 5\n}\n\
                vrrp_sync_group G {\n group {\n A\n B\n }\n}\n\
                vrrp_instance A {\n interface eth0\n virtual_router_id 1\n \
                track_script {\n s1\n s0\n }\n track_file {\n f1\n }\n \
                track_process {\n p1\n }\n track_interface {\n eth1 weight 7\n }\n}\n\
                vrrp_instance B {\n interface eth1\n virtual_router_id 2\n \
                track_script {\n s1 weight 0\n }\n}\n";
    let path = Path::new("sg.conf");
    let loaded = read_keepalived(text, path, &Default::default()).unwrap();
    let shown: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
    let sync: Vec<&String> = shown.iter().filter(|w| w.contains("SYNC group")).collect();
    assert_eq!(sync.len(), 3, "{shown:#?}");
    assert!(sync[0].starts_with("sg.conf:26: warning: instance `A` is in sync group `G`"));
    assert!(
        sync[0].contains("tracked script `s1` with weight 10"),
        "{}",
        sync[0]
    );
    assert!(sync[1].starts_with("sg.conf:30: "), "{}", sync[1]);
    assert!(
        sync[1].contains("tracked file `f1` with weight 3"),
        "{}",
        sync[1]
    );
    assert!(sync[2].starts_with("sg.conf:36: "), "{}", sync[2]);
    assert!(sync[2].contains("interface `eth1` with weight 0 instead of 7"));
    // vipd still applies them.
    let a = &loaded.config.instances[0];
    assert_eq!(a.track_interfaces[0].weight, 7);
    assert_eq!(a.track_checks.len(), 3);

    let with = text.replace(" B\n }\n}", " B\n }\n sync_group_tracking_weight\n}");
    let loaded = read_keepalived(&with, path, &Default::default()).unwrap();
    assert!(
        !loaded
            .warnings
            .iter()
            .any(|w| w.message.contains("SYNC group")),
        "{:#?}",
        loaded.warnings
    );
}

/// Corpus round 9 (keepalived issue 2659's dual-stack pair, TripleO's rendered template):
/// sync group members with `state MASTER` below priority 255. keepalived 2.2.7 starts them
/// as BACKUP (`-d`: "Wantstate = BACKUP", "Entering BACKUP STATE (init)"), an owner too when
/// a partner is not one, and a one-member group's member; a group of owners only, and an
/// instance outside any group, keep MASTER. vipd took them over at once.
#[test]
fn sync_group_members_start_as_backup_unless_all_are_owners_as_keepalived_starts_them() {
    let conf = |a: &str, b: &str, members: &str| {
        format!(
            "vrrp_sync_group G {{\n group {{\n {members}\n }}\n}}\n\
             vrrp_instance A {{\n interface eth0\n virtual_router_id 1\n{a}\n \
             virtual_ipaddress {{\n 192.0.2.10\n }}\n}}\n\
             vrrp_instance B {{\n interface eth1\n virtual_router_id 2\n{b}\n \
             virtual_ipaddress {{\n 198.51.100.10\n }}\n}}\n"
        )
    };
    let master = |p: u8| format!(" state MASTER\n priority {p}");
    let backup = |p: u8| format!(" state BACKUP\n priority {p}");
    use InitialState::{Backup, Master};
    for (a, b, members, want) in [
        (master(100), master(100), "A\n B", [Backup, Backup]),
        (master(255), master(100), "A\n B", [Backup, Backup]),
        (master(255), backup(255), "A\n B", [Backup, Backup]),
        (master(255), master(255), "A\n B", [Master, Master]),
        // One member (keepalived keeps the group: "this probably isn't what you want").
        (master(100), master(100), "A", [Backup, Master]),
    ] {
        let (cfg, w) = with_warnings(&conf(&a, &b, members));
        let got = [
            cfg.instances[0].initial_state,
            cfg.instances[1].initial_state,
        ];
        assert_eq!(got, want, "{a} / {b} / {members}");
        if want[0] == Backup && a.contains("MASTER") {
            // At A's `state MASTER` line, the 8th after the group's member lines.
            let line = format!("k.conf:{}:", 8 + members.lines().count());
            let w = w.join("\n");
            assert!(
                w.contains(&line)
                    && w.contains("`A` is in sync group `G`: its state MASTER starts as BACKUP"),
                "{w}"
            );
        }
    }
    // The nopreempt that state MASTER cleared stays cleared, as in keepalived.
    let (cfg, _) = with_warnings(&conf(
        &format!("{}\n nopreempt", master(100)),
        &master(100),
        "A\n B",
    ));
    assert_eq!(cfg.instances[0].initial_state, Backup);
    assert!(cfg.instances[0].preempt);
}
