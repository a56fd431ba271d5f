//! Behavioural corpus run (needs root and keepalived 2.2.7): real-world keepalived.conf files,
//! rewritten into the namespace lab (`config_support::rewrite`: addresses into the
//! documentation ranges, interfaces onto the lab's, scripts onto `/bin/true`), each run by
//! keepalived alone and by vipd alone in identical labs and compared aspect by aspect by the
//! behaviour differential (`behaviour_support`): states, addresses, routes and rules, and the
//! adverts on the wire. Differences vipd documents as better are allowed with that reason
//! ([`documented`]); anything else fails.
//!
//! CI runs the files of `tests/fixtures/corpus-run/` (our own, written in the shape of
//! real-world files); `make corpus-run CORPUS=DIR` runs every `*.conf` of DIR (other
//! people's files, kept out of the repository), skipping those keepalived does not run.

mod behaviour_support;
mod config_support;
mod lab;

use std::path::{Path, PathBuf};

use behaviour_support::{compare, parse_fixture_text, Fixture};
use config_support::rewrite::{rewrite, Rewritten};
use config_support::{keepalived_keeps_running, output, Namespace, WorkDir};

/// Differences vipd documents as better, by what the file asks for: (aspect, why). The
/// reasons are those of the behaviour fixtures that show each difference on its own.
fn documented(text: &str) -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    let mut block = "";
    let mut gatewayless_route = false;
    // A rule with one port (`dport 25`): keepalived 2.2.7 drops the port, vipd installs it.
    let mut single_port = false;
    let mut ipv6_unicast = false;
    let mut vmac = false;
    // The current instance: (use_vmac, vmac_xmit_base or unicast peers); and the families
    // of the instances whose VMAC adverts do not leave from (IPv4, IPv6).
    let mut current_vmac = (false, false);
    let mut learning = (false, false);
    // vrrp_garp_interval / vrrp_gna_interval shorter than keepalived's own send loop.
    let mut fast_pacing = (false, false);
    // Address families of the current instance's virtual_ipaddress, and whether any
    // instance mixes them.
    let mut families = (false, false);
    let mut mixed = false;
    // (interface, prefix length) of IPv4 VIPs that are not /32 nor the lab's /24, and how
    // many instances have one there: the first such VIP is the primary of its subnet.
    let mut subnets: std::collections::BTreeMap<(String, String), usize> = Default::default();
    let mut interface = String::new();
    // Adverts from the interface's MAC before a VMAC comes up (use_vmac, adverts from it).
    let mut first_advert_from_base = false;
    // A source address that is not unicast (keepalived sends from it, receivers drop it).
    let mut bogus_source = false;
    // At the end of an instance (its keywords come in any order): what its VMAC means.
    let mut end_instance =
        |families: (bool, bool), vmac: (bool, bool), learning: &mut (bool, bool)| {
            learning.0 |= vmac.0 && vmac.1 && families.0;
            learning.1 |= vmac.0 && vmac.1 && families.1;
            first_advert_from_base |= vmac.0 && !vmac.1;
        };
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["vrrp_instance", ..] => {
                end_instance(families, current_vmac, &mut learning);
                interface.clear();
                families = (false, false);
                current_vmac = (false, false);
            }
            ["vmac_xmit_base", ..] => current_vmac.1 = true,
            ["mcast_src_ip" | "unicast_src_ip", source, ..]
                if source.parse::<std::net::IpAddr>().is_ok_and(|a| {
                    a.is_multicast()
                        || a.is_unspecified()
                        || a == std::net::IpAddr::V4(std::net::Ipv4Addr::BROADCAST)
                }) =>
            {
                bogus_source = true
            }
            [key @ ("vrrp_garp_interval" | "vrrp_gna_interval"), value] => {
                let fast = value.parse::<f64>().is_ok_and(|v| v > 0.0 && v < 0.01);
                if *key == "vrrp_garp_interval" {
                    fast_pacing.0 |= fast;
                } else {
                    fast_pacing.1 |= fast;
                }
            }
            ["interface", name] => interface = (*name).to_owned(),
            ["use_vmac", ..] => {
                vmac = true;
                current_vmac.0 = true;
            }
            [name, "{"] => {
                block = name;
                current_vmac.1 |= *name == "unicast_peer";
            }
            ["}"] => block = "",
            [..] if block.ends_with("_rules") => {
                single_port |= words
                    .windows(2)
                    .any(|w| matches!(w[0], "sport" | "dport") && !w[1].contains('-'))
            }
            [first, ..] if block == "virtual_routes" => {
                gatewayless_route |= !words.contains(&"via") && *first != "blackhole"
            }
            [peer] if block == "unicast_peer" => ipv6_unicast |= peer.contains(':'),
            [vip, ..] if block == "virtual_ipaddress" && vip.contains(':') => {
                families.1 = true;
                mixed |= families.0;
            }
            [vip, rest @ ..] if block == "virtual_ipaddress" => {
                families.0 = true;
                mixed |= families.1;
                let len = vip.split_once('/').map_or("32", |(_, l)| l);
                if len != "32" && len != "24" {
                    let dev = rest
                        .windows(2)
                        .find(|w| w[0] == "dev")
                        .map_or(interface.clone(), |w| w[1].to_owned());
                    *subnets.entry((dev, len.to_owned())).or_default() += 1;
                }
            }
            _ => {}
        }
    }
    end_instance(families, current_vmac, &mut learning);
    if first_advert_from_base {
        out.push((
            "mac",
            "a new master's first advert leaves from the interface's MAC, the VMAC comes up \
             with the VIPs just after (REFERENCE.md [instance.vmac] MASTER, README migration)",
        ));
    }
    if bogus_source {
        out.push((
            "source",
            "a multicast, broadcast or unspecified mcast_src_ip/unicast_src_ip is ignored: vipd \
             sends from the interface's address, keepalived 2.2.7 from that address, which \
             receivers drop (REFERENCE.md source_address)",
        ));
    }
    if ipv6_unicast {
        out.push((
            "ttl",
            "keepalived 2.2.7 sends IPv6 unicast adverts with hop limit 64, vipd with 255 as \
             RFC 5798 asks (README migration, REFERENCE.md Unicast)",
        ));
    }
    if vmac {
        out.push((
            "links",
            "vipd's VMAC is a bridge-mode macvlan, keepalived's a private one (README \
             \"Migrating from keepalived\", use_vmac)",
        ));
    }
    let why = "adverts do not leave from the VMAC (vmac_xmit_base, unicast peers): until its \
               second burst a new vipd master sends one gratuitous ARP/NA from it with each \
               advert so switches learn the virtual MAC (REFERENCE.md use_vmac)";
    let paced = "an interval shorter than keepalived's own send loop: how many repeats of an \
                 address keepalived 2.2.7 folds into one depends on its speed (2 or 3 of 5 \
                 in two runs here), vipd folds them as keepalived does with a fast loop \
                 (REFERENCE.md [global.garp] interval)";
    if fast_pacing.0 {
        out.push(("arp", paced));
    }
    if fast_pacing.1 {
        out.push(("na", paced));
    }
    if learning.0 {
        out.push(("arp", why));
    }
    if learning.1 {
        out.push(("na", why));
    }
    if mixed {
        let why =
            "an address of the other family in virtual_ipaddress: keepalived 2.2.7 drops it, \
                   vipd adds it as an excluded address (REFERENCE.md \"Mixed address families\")";
        out.push(("interface", why));
        out.push(("reclaim", why));
        out.push(("na", why));
        out.push(("arp", why));
    }
    if subnets.values().any(|n| *n > 1) {
        let why = "a master giving up the primary VIP of a subnet makes the kernel delete the \
                   subnet's other VIPs; vipd puts back those of an instance still master, \
                   keepalived 2.2.7 stays MASTER without them (REFERENCE.md promote_secondaries)";
        out.push(("yield", why));
        out.push(("reclaim", why));
    }
    if text
        .lines()
        .any(|l| l.split_whitespace().eq(["priority", "255"]))
        && !text
            .lines()
            .any(|l| l.split_whitespace().eq(["state", "MASTER"]))
    {
        out.push((
            "takeover",
            "priority 255 takes over at once as RFC 5798 6.4.1 asks, keepalived 2.2.7 waits a \
             master down interval unless `state MASTER` (REFERENCE.md priority)",
        ));
    }
    if text.contains("vrrp_startup_delay") {
        out.push((
            "state",
            "during vrrp_startup_delay vipd's status says INIT (it takes no part in VRRP yet), \
             keepalived logs BACKUP (REFERENCE.md startup_delay)",
        ));
    }
    if single_port {
        out.push((
            "rules",
            "a single port (`dport 25`) is installed as written; keepalived 2.2.7 drops it \
             (\"invalid dport range\") (REFERENCE.md \"Routes and rules\", README migration)",
        ));
    }
    if gatewayless_route {
        out.push((
            "routes",
            "a route without gateway gets scope link as `ip route add` gives it, keepalived \
             scope global (REFERENCE.md \"Routes and rules\", README migration)",
        ));
    }
    out
}

/// The fixture the behaviour differential runs for a real-world file.
fn corpus_fixture(name: &str, original: &str) -> (Fixture, Rewritten) {
    let rewritten = rewrite(name, original);
    let mut header = String::from("# expect: either\n");
    for (aspect, why) in documented(&rewritten.text) {
        header.push_str(&format!("# differs: {aspect}: {why}\n"));
    }
    let text = format!("{header}{}", rewritten.text);
    (parse_fixture_text(name, text), rewritten)
}

fn conf_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    files.sort();
    files
}

fn name_of(path: &Path) -> String {
    path.file_stem()
        .and_then(|s| s.to_str())
        .expect("file name")
        .to_owned()
}

/// Whether keepalived 2.2.7 and vipd both take the rewritten file (`keepalived -t`, `vipd
/// check`) in a namespace holding the lab's interfaces; else why not.
fn both_accept(fixture: &Fixture, rewritten: &Rewritten, work: &Path) -> Result<(), String> {
    let ns = Namespace::new("crun");
    ns.add_interface("eth0", &["192.0.2.11/24", "2001:db8::11/64"])?;
    ns.add_interface("eth1", &["198.51.100.11/24", "2001:db8:1::11/64"])?;
    for d in &rewritten.dummies {
        ns.add_interface(d, &[])?;
    }
    let conf = work.join(format!("{}.conf", fixture.name));
    std::fs::write(&conf, &fixture.text).map_err(|e| e.to_string())?;
    let (k_rc, k_out) = ns.keepalived_test(&conf, &[]);
    let vipd = env!("CARGO_BIN_EXE_vipd");
    let conf_s = conf.to_str().expect("utf-8");
    let (v_rc, v_out) = output(&["ip", "netns", "exec", &ns.0, vipd, "check", "-c", conf_s]);
    // Anything but a clean test (a warning is enough for a non-zero exit) is settled by
    // running it, as `make corpus` does.
    if k_rc != 0 && !keepalived_keeps_running(&ns, &conf, work) {
        return Err(format!(
            "keepalived -t exits {k_rc}: {}",
            k_out.lines().last().unwrap_or("")
        ));
    }
    if v_rc != 0 {
        return Err(format!(
            "VIPD REFUSES what keepalived takes: {}",
            v_out.lines().find(|l| l.contains("error")).unwrap_or("")
        ));
    }
    Ok(())
}

fn run_files(files: &[PathBuf]) {
    let work_dir = WorkDir::new("crun");
    let mut fixtures = Vec::new();
    let mut refused = Vec::new();
    // `VIPD_BEHAVIOUR_ONLY=SUBSTRING`: only the matching files; `VIPD_CORPUS_REWRITTEN=DIR`:
    // keep each rewritten file there (what was run, to rerun a difference by hand).
    let only = std::env::var("VIPD_BEHAVIOUR_ONLY").unwrap_or_default();
    let keep = std::env::var_os("VIPD_CORPUS_REWRITTEN").map(PathBuf::from);
    for path in files.iter().filter(|p| name_of(p).contains(&only)) {
        let name = name_of(path);
        let raw = String::from_utf8_lossy(&std::fs::read(path).expect("read")).into_owned();
        // LVS-only files (no VRRP once `virtual_server` blocks are cut): nothing to compare.
        if !rewrite(&name, &raw).text.contains("vrrp_instance") {
            println!("{name:<50} skipped: no vrrp_instance (LVS only)");
            continue;
        }
        let (fixture, rewritten) = corpus_fixture(&name, &raw);
        if let Some(dir) = &keep {
            std::fs::create_dir_all(dir).expect("VIPD_CORPUS_REWRITTEN");
            std::fs::write(dir.join(format!("{name}.conf")), &fixture.text).expect("write");
        }
        match both_accept(&fixture, &rewritten, &work_dir.0) {
            Ok(()) => fixtures.push(fixture),
            Err(why) => {
                println!("{name:<50} skipped: {why}");
                if why.starts_with("VIPD REFUSES") {
                    refused.push(name);
                }
            }
        }
    }
    println!(
        "{} files: {} run, {} skipped ({} refused by vipd only)",
        files.len(),
        fixtures.len(),
        files.len() - fixtures.len(),
        refused.len()
    );
    assert!(
        refused.is_empty(),
        "vipd refuses files keepalived takes: {refused:?}"
    );
    assert!(!fixtures.is_empty(), "no file to run");
    compare(fixtures);
}

#[test]
fn real_world_style_files_rewritten_into_the_lab_behave_the_same() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus-run");
    run_files(&conf_files(&dir));
}

#[test]
#[ignore = "needs VIPD_CORPUS_DIR, root and keepalived 2.2.7: make corpus-run CORPUS=DIR"]
fn corpus_files_behave_the_same_under_keepalived_and_vipd() {
    let dir = PathBuf::from(std::env::var("VIPD_CORPUS_DIR").expect("VIPD_CORPUS_DIR"));
    run_files(&conf_files(&dir));
}

/// The rewrite keeps the file's structure and maps every address into the documentation
/// ranges consistently (no root needed).
#[test]
fn rewrite_maps_addresses_interfaces_and_commands_into_the_lab() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus-run");
    let original =
        std::fs::read_to_string(dir.join("k8s-apiserver-unicast.conf")).expect("fixture");
    let r = rewrite("k8s", &original);
    let body: Vec<&str> = r.text.lines().filter(|l| !l.starts_with('#')).collect();
    let body = body.join("\n");
    for expected in [
        "interface eth0",
        "unicast_src_ip 192.0.2.11",
        "192.0.2.12",
        "192.0.2.13",
        "192.0.2.100/24 dev eth0 label eth0:vip",
        "script \"/bin/true\"",
        "notify_master \"/bin/true\"",
        "auth_pass 42",
        "virtual_router_id 51",
    ] {
        assert!(body.contains(expected), "{expected:?} missing:\n{body}");
    }
    for gone in ["10.0.10.", "ens192", "check_apiserver.sh", "notify.sh"] {
        assert!(!body.contains(gone), "{gone:?} left:\n{body}");
    }
    let neutron = std::fs::read_to_string(dir.join("l3-ha-router-excluded.conf")).expect("fixture");
    let r = rewrite("l3", &neutron);
    assert_eq!(
        r.interfaces,
        [
            ("ha-1a2b3c4d-5e".to_string(), "eth0".to_string()),
            ("qg-0f1e2d3c-4b".to_string(), "labd0".to_string()),
            ("qr-9a8b7c6d-5e".to_string(), "labd1".to_string()),
        ]
    );
    assert!(r.text.contains("# setup: ip link add labd0 type veth"));
    assert!(r.text.contains("0.0.0.0/0 via 192.0.2."), "{}", r.text);
    assert!(r.text.contains("2001:db8::100/64 dev labd1"), "{}", r.text);

    // Every keyword the lexer reads as a command line is stubbed (the rewrite takes the
    // lexer's list): a startup script must not run the file's own program in the lab.
    let r = rewrite(
        "startup",
        "global_defs {\n startup_script /usr/local/bin/prepare.sh arg\n shutdown_script \"/usr/local/bin/stop.sh now\"\n}\n",
    );
    for expected in [
        "startup_script \"/bin/true\"",
        "shutdown_script \"/bin/true\"",
    ] {
        assert!(
            r.text.contains(expected),
            "{expected:?} missing:\n{}",
            r.text
        );
    }
    assert!(!r.text.contains("/usr/local/bin"), "{}", r.text);

    // A one-line unicast_peer block: its peer is the lab's second router, where the crafted
    // peer sends from (fifth batch: it became a free address nobody answers for).
    let r = rewrite(
        "one-line",
        "vrrp_instance U {\n interface ens3\n unicast_src_ip 10.20.0.11\n unicast_peer    { 10.20.0.12 }\n virtual_router_id 23\n}\n",
    );
    assert!(r.text.contains("unicast_peer { 192.0.2.12 }"), "{}", r.text);

    // Variables and included files are rewritten too (an address left out would be used in
    // the lab as it is).
    let work = WorkDir::new("rwinc");
    let inc = work.0.join("web.inc");
    std::fs::write(&inc, "vrrp_instance W {\n interface $IF\n virtual_router_id 7\n virtual_ipaddress {\n  172.20.1.9/24\n }\n}\n").expect("write");
    let main = format!(
        "$IF=ens3\n$VIP=172.20.1.50\nglobal_defs {{\n router_id ${{IF}}_lb\n}}\ninclude {}\n",
        inc.display()
    );
    let r = rewrite("vars", &main);
    for expected in [
        "$VIP=192.0.2.",
        "router_id ${IF}_lb",
        "vrrp_instance W {",
        "192.0.2.101/24",
    ] {
        assert!(
            r.text.contains(expected),
            "{expected:?} missing:\n{}",
            r.text
        );
    }
    assert!(!r.text.contains("172.20."), "{}", r.text);

    // keepalived's include variants with a pattern, and a garp_group's interface list.
    std::fs::write(
        work.0.join("g.conf"),
        "vrrp_instance G {\n interface ens9\n virtual_router_id 9\n virtual_ipaddress {\n  172.21.0.9\n }\n}\n",
    )
    .expect("write");
    let main = format!(
        "garp_group {{\n garp_interval 1\n interfaces {{\n  ens9\n }}\n}}\nincluder {}/*.conf\n",
        work.0.display()
    );
    let r = rewrite("glob", &main);
    assert!(r.text.contains("vrrp_instance G {"), "{}", r.text);
    assert!(r.text.contains("  eth0\n"), "{}", r.text);
    assert!(
        !r.text.contains("172.21.") && !r.text.contains("ens9"),
        "{}",
        r.text
    );
}
