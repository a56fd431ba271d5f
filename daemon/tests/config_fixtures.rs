//! Every keepalived.conf and native fixture parses, converts to TOML and back unchanged,
//! and carries the values its file says.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use vipd::config::{self, Check, CheckKind, Config, InitialState, Scheme, V3Checksum, Vip};

fn fixtures(dir: &str, ext: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {}", dir.display());
    files
}

fn fixture(name: &str) -> Config {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keepalived")
        .join(name);
    config::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn check<'a>(cfg: &'a Config, name: &str) -> &'a Check {
    cfg.checks.iter().find(|c| c.name == name).unwrap()
}

fn round_trip(path: &Path, cfg: &Config) {
    let text = config::to_toml(cfg);
    let back = config::parse_native(&text, Path::new("converted.toml")).unwrap_or_else(|e| {
        panic!(
            "{}: converted TOML does not parse: {e}\n{text}",
            path.display()
        )
    });
    assert_eq!(
        &back,
        cfg,
        "{}: round trip changed the config\n{text}",
        path.display()
    );
    // Writing the re-read config gives the same text again.
    assert_eq!(config::to_toml(&back), text);
}

#[test]
fn config_every_keepalived_fixture_parses_and_round_trips() {
    for path in fixtures("keepalived", "conf") {
        let cfg = config::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(!cfg.instances.is_empty(), "{}", path.display());
        round_trip(&path, &cfg);
    }
}

#[test]
fn config_every_native_fixture_parses_and_round_trips() {
    for path in fixtures("native", "toml") {
        let cfg = config::load(&path).unwrap_or_else(|e| panic!("{e}"));
        round_trip(&path, &cfg);
    }
}

#[test]
fn config_examples_are_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    for name in ["two-routers.toml", "keepalived.conf"] {
        let cfg = config::load(&dir.join(name)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cfg.instances.len(), 1, "{name}");
        assert_eq!(cfg.instances[0].vips[0].address.to_string(), "192.0.2.100");
        assert!(
            config::warnings(&cfg).is_empty(),
            "{name}: {:?}",
            config::warnings(&cfg)
        );
        round_trip(&dir.join(name), &cfg);
    }
}

#[test]
fn config_kubeadm_guide_values() {
    let cfg = fixture("kubeadm-ha.conf");
    assert_eq!(cfg.global.router_id.as_deref(), Some("LVS_DEVEL"));
    let inst = &cfg.instances[0];
    assert_eq!(
        (inst.name.as_str(), inst.vrid, inst.priority),
        ("VI_1", 51, 101)
    );
    assert_eq!(inst.initial_state, InitialState::Master);
    assert_eq!(inst.auth_pass.as_deref(), Some("42"));
    assert_eq!(inst.vips, [Vip::parse("192.0.2.100/32").unwrap()]);
    assert_eq!(inst.version(&cfg.global), 2);
    assert_eq!(inst.advert_interval, Duration::from_secs(1));
    let chk = check(&cfg, "check_apiserver");
    assert_eq!(chk.interval, Duration::from_secs(3));
    assert_eq!((chk.weight, chk.fall, chk.rise), (-2, 10, 2));
    assert_eq!(inst.track_checks[0].check, "check_apiserver");
    assert_eq!(inst.track_checks[0].weight, None);
}

#[test]
fn config_k3s_values() {
    let cfg = fixture("k3s.conf");
    assert!(cfg.global.enable_script_security);
    assert_eq!(cfg.global.script_user.as_deref(), Some("root"));
    let chk = check(&cfg, "chk_haproxy");
    match &chk.kind {
        CheckKind::Exec { command, argv, .. } => {
            assert_eq!(command, "killall -0 haproxy");
            assert_eq!(argv, &["killall", "-0", "haproxy"]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(chk.interval, Duration::from_secs(2));
    let inst = &cfg.instances[0];
    assert_eq!((inst.name.as_str(), inst.priority), ("haproxy-vip", 200));
    assert_eq!(inst.vips[0].prefix_len, 24);
}

#[test]
fn config_openshift_values() {
    let cfg = fixture("openshift-onprem.conf");
    assert_eq!(cfg.global.max_auto_priority, Some(-1));
    let chk = check(&cfg, "chk_ocp_lb");
    match &chk.kind {
        CheckKind::Exec { argv, .. } => assert_eq!(
            argv,
            &[
                "/usr/bin/timeout",
                "1.9",
                "/etc/keepalived/chk_ocp_script.sh"
            ]
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!((chk.weight, chk.rise, chk.fall), (20, 3, 2));
    let inst = &cfg.instances[0];
    assert_eq!(inst.priority, 40);
    assert_eq!(inst.initial_state, InitialState::Backup);
    assert_eq!(inst.source_address, Some("192.0.2.11".parse().unwrap()));
    let peers: Vec<IpAddr> = ["192.0.2.12", "192.0.2.13"]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
    assert_eq!(inst.unicast_peers, peers);
    assert_eq!(inst.vips[0].label.as_deref(), Some("vip"));
    assert_eq!(inst.vips[0].prefix_len, 24);
}

#[test]
fn config_flatcar_strict_values() {
    let cfg = fixture("seed-flatcar-apiserver.conf");
    assert!(cfg.global.strict);
    assert!(cfg.global.skip_check_adv_addr);
    assert_eq!(cfg.global.garp.interval, Duration::ZERO);
    assert_eq!(cfg.global.garp.na_interval, Duration::ZERO);
    assert_eq!(
        check(&cfg, "check_apiserver").timeout,
        Some(Duration::from_secs(10))
    );
    let inst = &cfg.instances[0];
    assert_eq!(inst.vips[0].interface.as_deref(), Some("eth0"));
    // keepalived ignores authentication in strict mode ("Strict mode does not support
    // authentication. Ignoring."), and so does the reader.
    assert_eq!(inst.auth_pass, None);
}

#[test]
fn config_ansible_wireguard_values() {
    let cfg = fixture("seed-ansible-wireguard.conf");
    let chk = check(&cfg, "chk_haproxy");
    match &chk.kind {
        CheckKind::Exec { argv, .. } => assert_eq!(
            argv,
            &[
                "/bin/bash",
                "-c",
                "timeout 2 /usr/bin/nc -z 198.51.100.7 7443"
            ]
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        (chk.weight, chk.interval, chk.rise, chk.fall),
        (20, Duration::from_secs(2), 2, 3)
    );
    assert_eq!(check(&cfg, "chk_apiserver").weight, 10);
    let inst = &cfg.instances[0];
    assert_eq!(inst.interface, "wg99");
    assert_eq!(inst.vips[0].prefix_len, 32);
}

#[test]
fn config_ingress_vip_values() {
    // The chart's keepalived.conf.tmpl rendered with the seed's values (VRRP on eth9, the VIP
    // on eth0) and the template's defaults, global_defs included.
    let cfg = fixture("seed-ingress-vip.conf");
    let garp = &cfg.global.garp;
    assert_eq!(garp.lower_prio_repeat, Some(1));
    assert_eq!(garp.master_delay, Duration::from_secs(5));
    assert_eq!(garp.master_refresh, Some(Duration::from_secs(60)));
    let inst = &cfg.instances[0];
    assert_eq!(inst.name, "CLUSTER_VIP");
    assert_eq!(inst.interface, "eth9");
    assert!(inst.preempt);
    assert_eq!(inst.preempt_delay, Duration::from_secs(5));
    assert_eq!(inst.garp(&cfg.global).lower_prio_repeat(), 1);
    let vip = &inst.vips[0];
    assert_eq!(vip.to_string(), "172.16.135.2/21 dev eth0");
    assert_eq!(inst.vip_interface(vip), "eth0");
    assert_eq!(inst.track_checks.len(), 3);
    assert_eq!(inst.track_checks[2].weight, Some(-40));
    assert_eq!(check(&cfg, "chk_url").fall, 2);
    assert_eq!(check(&cfg, "chk_kubelet").interval, Duration::from_secs(5));
}

#[test]
fn config_priority_defaults_follow_keepalived() {
    // `state MASTER` without priority -> 255, otherwise 100.
    let text = "vrrp_instance a {\n state MASTER\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 192.0.2.1\n }\n}\n\
                vrrp_instance b {\n interface eth0\n virtual_router_id 2\n virtual_ipaddress {\n 192.0.2.2\n }\n}\n";
    let cfg = config::parse_keepalived(text, Path::new("k.conf")).unwrap();
    assert_eq!(cfg.instances[0].priority, 255);
    assert_eq!(cfg.instances[1].priority, 100);
}

#[test]
fn config_everything_fixture_values() {
    let cfg = fixture("everything.conf");
    let g = &cfg.global;
    assert_eq!(g.vrrp_version, 3);
    assert_eq!(g.garp.master_delay, Duration::from_secs(2));
    assert_eq!(g.garp.master_repeat, 3);
    assert_eq!(g.garp.master_refresh, Some(Duration::from_secs(60)));
    assert_eq!(g.garp.master_refresh_repeat, 2);
    assert_eq!(g.garp.interval, Duration::from_millis(1));
    assert_eq!(g.garp.na_interval, Duration::from_micros(250));
    assert_eq!(
        (g.script_user.as_deref(), g.script_group.as_deref()),
        (Some("vipd"), Some("vipd"))
    );
    assert_eq!(g.max_auto_priority, Some(99));
    // keepalived 2.2.7 does not know `v3_checksum_as_v2` (newer ones do): ignored.
    assert_eq!(g.v3_checksum, V3Checksum::PseudoHeader);

    // From the included file.
    let web = check(&cfg, "chk_web");
    assert_eq!(web.interval, Duration::from_millis(200));
    assert_eq!(web.timeout, Some(Duration::from_millis(500)));
    assert!(web.init_fail);
    match &web.kind {
        CheckKind::Exec { user, group, .. } => {
            assert_eq!(
                (user.as_deref(), group.as_deref()),
                (Some("nobody"), Some("nogroup"))
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        check(&cfg, "maintenance").kind,
        CheckKind::File {
            path: "/run/vipd/maintenance".into()
        }
    );
    assert_eq!(check(&cfg, "maintenance").weight, -10);
    assert_eq!(check(&cfg, "capacity").weight, 1);

    let v4 = &cfg.instances[0];
    assert_eq!(v4.priority, 255);
    assert_eq!(v4.advert_interval, Duration::from_millis(250));
    // keepalived 2.2.7 clears preempt_delay with state MASTER ("will not work with initial
    // state MASTER - clearing"); so does vipd.
    assert_eq!(v4.preempt_delay, Duration::ZERO);
    assert_eq!(v4.source_address, Some("192.0.2.1".parse().unwrap()));
    assert_eq!(v4.vips.len(), 3);
    assert_eq!(
        v4.vips[0].to_string(),
        "192.0.2.100/24 brd 192.0.2.255 dev eth1 scope global label eth1:vip"
    );
    assert_eq!(v4.track_checks[0].weight, Some(-30));
    assert_eq!(v4.track_interfaces[0].weight, 0);
    assert_eq!(v4.track_interfaces[1].weight, -20);
    assert_eq!(v4.track_files[1].weight, Some(5));
    assert_eq!(
        v4.notify.master.as_deref(),
        Some("/usr/local/bin/vip-up eth1")
    );
    assert_eq!(
        v4.notify.fault.as_deref(),
        Some("/usr/local/bin/vip-down fault")
    );
    assert_eq!(v4.notify.any.as_deref(), Some("/usr/local/bin/vip-any"));
    let garp = v4.garp(&cfg.global);
    assert_eq!(
        (garp.master_delay, garp.master_repeat),
        (Duration::from_secs(1), 2)
    );
    assert_eq!(garp.master_refresh, Some(Duration::from_secs(30)));

    let v6 = &cfg.instances[1];
    assert!(v6.is_ipv6());
    assert_eq!(v6.version(&cfg.global), 3);
    assert_eq!(v6.advert_interval, Duration::from_millis(100));
    assert!(!v6.preempt);

    let legacy = &cfg.instances[2];
    assert_eq!(legacy.version(&cfg.global), 2);
    assert_eq!(legacy.auth_pass.as_deref(), Some("p w"));

    assert_eq!(cfg.sync_groups[0].instances, ["v4", "v6"]);
    assert_eq!(
        cfg.sync_groups[0].notify.any.as_deref(),
        Some("/usr/local/bin/group-any")
    );
}

#[test]
fn config_native_check_kinds() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/native/all-checks.toml");
    let cfg = config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    match &check(&cfg, "apiserver").kind {
        CheckKind::Http {
            url,
            expected_status,
            insecure_skip_verify,
            host_header,
        } => {
            assert_eq!(
                (url.scheme, url.host.as_str(), url.port()),
                (Scheme::Https, "::1", 6443)
            );
            assert_eq!(url.path, "/readyz?verbose");
            assert_eq!(expected_status, &[200, 204]);
            assert!(insecure_skip_verify);
            assert_eq!(host_header.as_deref(), Some("kubernetes.default"));
        }
        other => panic!("{other:?}"),
    }
    match &check(&cfg, "kubelet").kind {
        CheckKind::Http {
            expected_status, ..
        } => assert_eq!(expected_status, &[200]),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        check(&cfg, "haproxy").kind,
        CheckKind::Tcp {
            host: "::1".into(),
            port: 7443
        }
    );
    assert_eq!(
        check(&cfg, "uplink").kind,
        CheckKind::Interface {
            name: "eth0".into()
        }
    );
    let inst = &cfg.instances[0];
    assert_eq!(inst.version(&cfg.global), 3);
    assert_eq!(inst.priority, 150);
    assert_eq!(
        cfg.global.garp.master_refresh,
        Some(Duration::from_secs(60))
    );
}

#[test]
fn config_load_first_prefers_native_then_keepalived() {
    let dir = std::env::temp_dir().join(format!("vipd-config-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let native = dir.join("vipd.toml");
    let keepalived = dir.join("keepalived.conf");
    std::fs::write(&keepalived, "vrrp_instance k {\n interface eth0\n virtual_router_id 3\n virtual_ipaddress {\n 192.0.2.3\n }\n}\n").unwrap();
    let candidates = [native.clone(), keepalived.clone()];
    let (path, cfg) = config::load_first(&candidates).unwrap();
    assert_eq!(
        (path, cfg.instances[0].name.as_str()),
        (keepalived.clone(), "k")
    );
    std::fs::write(
        &native,
        "[[instance]]\nname = \"n\"\ninterface = \"eth0\"\nvrid = 4\nvips = [\"192.0.2.4\"]\n",
    )
    .unwrap();
    let (path, cfg) = config::load_first(&candidates).unwrap();
    assert_eq!((path, cfg.instances[0].name.as_str()), (native, "n"));
    let missing = [dir.join("nope.toml")];
    let err = config::load_first(&missing).unwrap_err().to_string();
    assert!(err.contains("no configuration found"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
#[ignore = "prints the TOML of a fixture: VIPD_SHOW=name cargo test -- --ignored show"]
fn config_show_converted() {
    let name = std::env::var("VIPD_SHOW").unwrap_or_else(|_| "everything.conf".into());
    println!("{}", config::to_toml(&fixture(&name)));
}

#[test]
fn config_serde_derives_agree_with_to_toml() {
    let cfg = fixture("everything.conf");
    let via_serde = toml::to_string(&cfg).unwrap();
    let back: Config = toml::from_str(&via_serde).unwrap();
    assert_eq!(back, cfg);
    let json = serde_json::to_string(&cfg).unwrap();
    assert!(json.contains("\"advert_interval\":\"250ms\""), "{json}");
}

#[test]
fn config_wire_keywords_values() {
    let cfg = fixture("wire-keywords.conf");
    let g = &cfg.global;
    assert_eq!(
        g.group4(),
        "224.0.0.19".parse::<std::net::Ipv4Addr>().unwrap()
    );
    assert_eq!(
        g.group6(),
        "ff02::13".parse::<std::net::Ipv6Addr>().unwrap()
    );
    assert!(g.lower_prio_no_advert);
    assert!(g.higher_prio_send_advert);
    assert_eq!(g.garp.master_refresh_repeat, 2);
    assert_eq!(g.garp.interval, Duration::from_millis(5));
    assert_eq!(g.garp.na_interval, Duration::from_millis(10));

    let v4 = &cfg.instances[0];
    let garp = v4.garp(g);
    assert_eq!(garp.lower_prio_repeat(), 4);
    assert_eq!(garp.lower_prio_delay(), Duration::ZERO);
    assert!(!v4.lower_prio_no_advert(g));
    assert!(!v4.higher_prio_send_advert(g));
    let excluded: Vec<String> = v4.excluded_vips.iter().map(Vip::to_string).collect();
    assert_eq!(
        excluded,
        [
            "192.0.2.62/24",
            "198.51.100.62/24 dev eth1",
            "2001:db8::62/64"
        ]
    );
    assert!(
        !v4.is_ipv6(),
        "excluded IPv6 addresses do not make the instance IPv6"
    );

    // The second instance inherits the global settings.
    let v6 = &cfg.instances[1];
    let garp = v6.garp(g);
    assert_eq!(garp.lower_prio_repeat(), 2);
    assert_eq!(garp.lower_prio_delay(), Duration::from_secs(4));
    assert!(v6.lower_prio_no_advert(g));
    assert!(v6.higher_prio_send_advert(g));

    assert_eq!(v4.down_timer_adverts(g), 6);
    assert_eq!(v6.down_timer_adverts(g), 4);
    let other = &cfg.instances[2];
    assert_eq!((other.vrid, v4.vrid), (61, 61));
    assert_eq!(other.group(g), Some("224.0.0.20".parse().unwrap()));
    assert_eq!(v4.group(g), Some("224.0.0.19".parse().unwrap()));
    assert_eq!(v6.group(g), Some("ff02::13".parse().unwrap()));

    let ms = Duration::from_millis;
    assert_eq!(cfg.garp_pacing("eth0"), (ms(5), ms(10)));
    assert_eq!(cfg.garp_pacing("eth1"), (ms(200), ms(300)));
    assert_eq!(cfg.garp_pacing("eth2"), (ms(200), ms(300)));
    assert_eq!(cfg.garp_pacing("eth3"), (ms(5), ms(10)));
}

#[test]
fn config_same_vrid_on_one_group_is_still_an_error() {
    let text = "vrrp_instance a {\n interface eth0\n virtual_router_id 7\n mcast_dst_ip 224.0.0.20\n \
                virtual_ipaddress {\n 192.0.2.1\n }\n}\nvrrp_instance b {\n interface eth0\n \
                virtual_router_id 7\n mcast_dst_ip 224.0.0.20\n virtual_ipaddress {\n 192.0.2.2\n }\n}\n";
    let e = config::parse_keepalived(text, Path::new("k.conf")).unwrap_err();
    assert!(
        e.to_string().contains("both use virtual router id 7"),
        "{e}"
    );
    let e = config::parse_keepalived(
        &text.replacen("mcast_dst_ip 224.0.0.20", "mcast_dst_ip ff02::20", 1),
        Path::new("k.conf"),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("not an IPv4 multicast address"),
        "{e}"
    );
}

#[test]
fn config_native_routes_statics_ah_and_namespace_values() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/native");
    let cfg = config::load(&dir.join("routes-statics-ah.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.global.net_namespace.as_deref(), Some("edge"));
    assert_eq!(cfg.statics.addresses[0].interface.as_deref(), Some("eth1"));
    assert_eq!(
        cfg.statics.routes[1].route_type,
        config::RouteType::Blackhole
    );
    let inst = &cfg.instances[0];
    assert_eq!(inst.auth_type, config::AuthType::Ah);
    assert_eq!(inst.routes[0].table, Some(200));
    assert_eq!(inst.routes[0].destination.to_string(), "0.0.0.0/0");
    assert_eq!(inst.rules[1].fwmark, Some((0x10, Some(0xff))));
    // The native format refuses what it cannot install, and rules without a priority.
    for (bad, why) in [
        (
            "routes = [\"198.51.100.0/24 via 192.0.2.1 vrf blue\"]",
            "`vrf`",
        ),
        ("rules = [\"from 192.0.2.100 table 200\"]", "priority"),
        ("auth_type = \"ah\"", "auth_pass"),
    ] {
        let text = format!(
            "[[instance]]\nname = \"a\"\ninterface = \"eth0\"\nvrid = 1\nvips = [\"192.0.2.1\"]\n{bad}\n"
        );
        let err = config::parse_native(&text, Path::new("bad.toml"))
            .expect_err(bad)
            .to_string();
        assert!(err.contains(why), "{bad}: {err}");
    }
}

#[test]
fn config_native_vmacs_and_ipvlan() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/native");
    let cfg = config::load(&dir.join("vmacs-ipvlan.toml")).unwrap_or_else(|e| panic!("{e}"));
    let lan = &cfg.instances[0];
    let on: Vec<&str> = lan.vips.iter().map(|v| lan.vip_interface(v)).collect();
    // eth1's VMAC gets keepalived's first free name; ens192's is named.
    assert_eq!(on, ["lan.51", "vrrp.51", "edge.51"]);
    let svc = &cfg.instances[1];
    assert_eq!(svc.vip_interface(&svc.vips[0]), "svc0");
    assert_eq!(
        svc.ipvlan.as_ref().map(|i| i.mode),
        Some(config::IpvlanMode::Private)
    );
    // As in keepalived: accepted, with a warning, and the instance is held in FAULT.
    let text = "[[instance]]\nname = \"a\"\ninterface = \"eth0\"\nvrid = 1\nvips = [\"192.0.2.1\"]\nipvlan = { interface = \"i0\" }\n";
    let cfg = config::parse_native(text, Path::new("warn.toml")).unwrap_or_else(|e| panic!("{e}"));
    let warnings = config::warnings(&cfg).join("\n");
    assert!(
        warnings.contains("an IPv4 ipvlan needs an address") && warnings.contains("FAULT"),
        "{warnings}"
    );
    for (bad, why) in [
        (
            "ipvlan = { address = \"192.0.2.9/24\" }\nvmac = {}",
            "a VMAC or on an ipvlan, not both",
        ),
        (
            "ipvlan = { address = \"192.0.2.9/24\", mode = \"l3\" }",
            "unknown variant",
        ),
        (
            "vip_vmacs = { eth1 = \"eth0\" }\nvmac_addr = true",
            "cannot have the name of the instance's interface",
        ),
    ] {
        let text = format!(
            "[[instance]]\nname = \"a\"\ninterface = \"eth0\"\nvrid = 1\nvips = [\"192.0.2.1\", \"198.51.100.1 dev eth1\"]\n{bad}\n"
        );
        let err = config::parse_native(&text, Path::new("bad.toml"))
            .expect_err(bad)
            .to_string();
        assert!(err.contains(why), "{bad}: {err}");
    }
}

/// Decimal seconds with other characters in them (`0.5;`, `5s`): read as keepalived 2.2.7
/// reads them (its -d dump, in the fixture's header), each with a warning on its line.
#[test]
fn config_garbled_decimal_seconds_are_read_as_keepalived_reads_them() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keepalived/garbled-seconds.conf");
    let loaded = config::read(&path, &config::ReadOptions::default()).unwrap();
    let cfg = &loaded.config;
    let us = Duration::from_micros;
    assert_eq!(cfg.global.garp.interval, us(5));
    assert_eq!(cfg.global.garp.na_interval, us(123_457));
    assert_eq!(cfg.global.startup_delay, us(2000));
    assert_eq!(cfg.garp_groups[0].interval, us(3));
    let inst = &cfg.instances[0];
    assert_eq!(inst.preempt_delay, us(5));
    // 3 µs is below advert_int's 0.01 s: ignored, as keepalived ignores it.
    assert_eq!(inst.advert_interval, Duration::from_secs(1));
    let CheckKind::Process(process) = &check(cfg, "P").kind else {
        panic!("process check expected");
    };
    assert_eq!(process.fork_delay, us(3));
    let shown: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
    let file = path.display();
    for (line, keyword, text, micros) in [
        (7, "vrrp_garp_interval", "0.5;", 5),
        (8, "vrrp_gna_interval", "0.12345678x", 123_457),
        (9, "vrrp_startup_delay", "2000s", 2000),
        (12, "garp_interval", "0.3;", 3),
        (17, "delay", "3;", 3),
        (24, "preempt_delay", "5s", 5),
    ] {
        let want = format!(
            "{file}:{line}: warning: `{keyword}`: `{text}` is not a number of seconds: read as \
             {micros} µs, as keepalived 2.2.7 reads it"
        );
        assert!(
            shown.iter().any(|w| w.starts_with(&want)),
            "{want}\nnot in:\n{}",
            shown.join("\n")
        );
    }
    let ignored = format!(
        "{file}:23: warning: `advert_int`: `3;` is not a number of seconds: read as 3 µs as \
         keepalived 2.2.7 reads it"
    );
    let ignored = shown.iter().find(|w| w.starts_with(&ignored));
    let ignored = ignored.unwrap_or_else(|| panic!("{}", shown.join("\n")));
    assert!(
        ignored
            .ends_with("outside 0.01..=255 seconds: the line is ignored, as keepalived ignores it"),
        "{ignored}"
    );
    assert_eq!(shown.iter().filter(|w| w.contains(":23:")).count(), 1);
}
