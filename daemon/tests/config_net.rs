//! Configuration of issue 12's networking: VMAC interfaces (`use_vmac`).

use std::path::Path;
use vipd::config::{self, MacAddr};

fn load(name: &str) -> config::Loaded {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keepalived")
        .join(name);
    config::read(&path, &config::ReadOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn use_vmac_names_macs_and_vip_placement_follow_keepalived() {
    let cfg = load("vmac.conf").config;
    let [default_name, named_v6, own_mac] = &cfg.instances[..] else {
        panic!("three instances expected: {cfg:#?}");
    };
    // No name: vmac_prefix + "." + VRID.
    let vmac = default_name.vmac.as_ref().expect("use_vmac");
    assert_eq!(vmac.interface, "vip.51");
    assert_eq!(
        vmac.mac_for(default_name.vrid, false).to_string(),
        "00:00:5e:00:01:33"
    );
    assert!(!default_name.sends_from_base());
    // VIPs of the instance's family without another `dev` go on the VMAC; the rest stays.
    let placed: Vec<&str> = default_name
        .all_vips()
        .map(|v| default_name.vip_interface(v))
        .collect();
    assert_eq!(placed, ["vip.51", "eth1", "eth0"]);

    let vmac = named_v6.vmac.as_ref().expect("use_vmac");
    assert_eq!(vmac.interface, "api6");
    assert!(vmac.xmit_base && named_v6.sends_from_base());
    assert_eq!(
        vmac.mac_for(named_v6.vrid, true).to_string(),
        "00:00:5e:00:02:34"
    );

    // Five octets: the VRID is the sixth; `dev` naming the instance's interface still means
    // the VMAC.
    let vmac = own_mac.vmac.as_ref().expect("use_vmac");
    assert_eq!(vmac.interface, "api4");
    assert_eq!(vmac.mac, Some(MacAddr([2, 0, 0x5e, 0, 1, 53])));
    assert_eq!(own_mac.vip_interface(&own_mac.vips[0]), "api4");
}

#[test]
fn use_vmac_with_unicast_peers_sends_from_the_base_interface_with_a_warning() {
    let text = "vrrp_instance u {\n interface eth0\n virtual_router_id 7\n use_vmac\n \
                unicast_src_ip 192.0.2.11\n unicast_peer {\n 192.0.2.12\n }\n \
                virtual_ipaddress {\n 192.0.2.7/24\n }\n}\n";
    let loaded = config::read_keepalived(text, Path::new("u.conf"), &Default::default()).unwrap();
    let inst = &loaded.config.instances[0];
    assert!(inst.sends_from_base());
    assert!(
        loaded.warnings.iter().any(|w| w
            .to_string()
            .starts_with("u.conf:4: warning: instance `u`: unicast adverts")),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn native_vmac_table_defaults_to_keepalived_names() {
    let text = "[[instance]]\nname = \"a\"\ninterface = \"eth0\"\nvrid = 9\n\
                vips = [\"192.0.2.9/24\"]\nvmac = {}\n";
    let cfg = config::parse_native(text, Path::new("a.toml")).unwrap();
    let vmac = cfg.instances[0].vmac.as_ref().unwrap();
    assert_eq!(vmac.interface, "vrrp.9");
    assert!(!vmac.xmit_base);
    let written = config::to_toml(&cfg);
    assert!(
        written.contains("vmac = { interface = \"vrrp.9\" }"),
        "{written}"
    );
}

#[test]
fn vmac_bad_input_names_the_field() {
    let cases = [
        (
            "vmac = { interface = \"eth0\" }",
            "instance[0].vmac.interface",
        ),
        (
            "vmac = { mac = \"01:00:5e:00:01:01\" }",
            "instance[0].vmac.mac",
        ),
        (
            "vmac = { interface = \"a b\" }",
            "instance[0].vmac.interface",
        ),
    ];
    for (line, field) in cases {
        let text = format!(
            "[[instance]]\nname = \"a\"\ninterface = \"eth0\"\nvrid = 9\n\
             vips = [\"192.0.2.9/24\"]\n{line}\n"
        );
        let err = config::parse_native(&text, Path::new("a.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(&format!("field `{field}`")), "{line}: {err}");
    }
    // keepalived 2.2.7 ignores what it cannot use after the name ("VMAC invalid MAC address
    // 02:00 - ignored") and runs the instance; vipd does the same, with a warning each.
    let loaded = config::read_keepalived(
        "vrrp_instance a {\n interface eth0\n virtual_router_id 1\n use_vmac a 02:00 b\n}\n",
        Path::new("k.conf"),
        &config::ReadOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let warnings: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("k.conf:4: warning: `use_vmac`: `02:00`")),
        "{warnings:?}"
    );
    assert_eq!(
        loaded.config.instances[0]
            .vmac
            .as_ref()
            .map(|v| v.interface.as_str()),
        Some("a")
    );
}

#[test]
fn the_wireguard_dnat_example_is_valid_and_round_trips() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/wireguard-dnat.toml");
    let loaded =
        config::read(&path, &config::ReadOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let inst = &loaded.config.instances[0];
    assert_eq!(
        inst.forwards[0].to_string(),
        "198.51.100.100:6443/tcp -> 198.51.100.21:7443 masquerade"
    );
    let text = config::to_toml(&loaded.config);
    let back = config::parse_native(&text, Path::new("back.toml")).unwrap();
    assert_eq!(back, loaded.config, "{text}");
}

/// keepalived 2.2.7 refuses to start when a sync group's `track_interface`, a static
/// address's `dev` or a static route's `dev` does not exist; `vipd check` warns on the line.
#[test]
fn check_warns_on_the_line_of_missing_group_and_static_interfaces() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keepalived/missing-interfaces.conf");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vipd"))
        .arg("check")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let file = path.display();
    for want in [
        format!("{file}:6: warning: static address 192.0.2.51: interface nosuch1 does not exist here"),
        format!("{file}:9: warning: static route 198.51.100.0/24: interface nosuch2 does not exist here"),
        format!("{file}:17: warning: sync group `G1`: tracked interface nosuch0 does not exist here: it counts as down, every member stays in FAULT"),
        format!("{file}:18: warning: sync group `G1`: tracked interface nosuch3 does not exist here: it counts as down, its weight applies"),
    ] {
        let line = stderr.lines().find(|l| l.starts_with(&want));
        let line = line.unwrap_or_else(|| panic!("no {want:?} in:\n{stderr}"));
        assert!(line.contains("keepalived 2.2.7 refuses to start"), "{line}");
    }
    // eth0 (if this host has one) and the route without dev are not warned about.
    assert!(!stderr.contains("192.0.2.50"), "{stderr}");
    assert!(!stderr.contains("203.0.113.0/24"), "{stderr}");
}
