//! keepalived.conf script keywords as users write them: `vrrp_track_process`/`track_process`,
//! `weight N reverse`, `notify_* CMD USER [GROUP]`, tracking inside `vrrp_sync_group`, and
//! what `vipd import-keepalived` writes for one-liner scripts. Each survives the native TOML
//! round trip.

use std::path::Path;
use std::time::Duration;

use vipd::config::{self, CheckKind, Config, ParamMatch, ProcessMatch};

fn parse(text: &str) -> Config {
    config::parse_keepalived(text, Path::new("k.conf")).unwrap_or_else(|e| panic!("{e}"))
}

fn round_trip(cfg: &Config) -> String {
    let text = config::to_toml(cfg);
    let back =
        config::parse_native(&text, Path::new("k.toml")).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(&back, cfg, "{text}");
    text
}

const INSTANCE: &str = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n \
                        virtual_ipaddress {\n 192.0.2.10\n }\n";

#[test]
fn config_track_process_keywords_like_keepalived() {
    let text = format!(
        "vrrp_track_process haproxy {{\n process haproxy\n quorum 2\n quorum_max 4\n \
         delay 1.5\n weight -20 reverse\n}}\n\
         vrrp_track_process cmd {{\n process /usr/sbin/haproxy -f /etc/h.cfg\n \
         param_match partial\n terminate_delay 2\n}}\n\
         vrrp_track_process none {{\n process nginx\n quorum_max 0\n}}\n\
         vrrp_track_process full {{\n process /usr/bin/python3\n full_command\n}}\n\
         {INSTANCE} track_process {{\n haproxy\n cmd weight 10 noreverse\n none\n full\n }}\n}}\n"
    );
    let cfg = parse(&text);
    let p = |name: &str| match &cfg.checks.iter().find(|c| c.name == name).unwrap().kind {
        CheckKind::Process(p) => p.clone(),
        other => panic!("{other:?}"),
    };
    let h = p("haproxy");
    assert_eq!(
        (h.match_by, h.quorum, h.quorum_max),
        (ProcessMatch::Name, 2, 4)
    );
    assert_eq!(h.fork_delay, Duration::from_millis(1500));
    assert_eq!(h.terminate_delay, Duration::from_millis(1500));
    let c = p("cmd");
    assert_eq!(c.match_by, ProcessMatch::Command);
    assert_eq!(c.args, ["-f", "/etc/h.cfg"]);
    assert_eq!(c.param_match, ParamMatch::Partial);
    assert_eq!(
        (c.fork_delay, c.terminate_delay),
        (Duration::ZERO, Duration::from_secs(2))
    );
    let n = p("none");
    assert_eq!((n.quorum, n.quorum_max), (0, 0));
    let f = p("full");
    assert_eq!(
        (f.match_by, f.param_match),
        (ProcessMatch::Command, ParamMatch::Any)
    );
    let haproxy = cfg.checks.iter().find(|c| c.name == "haproxy").unwrap();
    assert_eq!((haproxy.weight, haproxy.reverse), (-20, true));
    let tracks = &cfg.instances[0].track_checks;
    assert_eq!(tracks.len(), 4);
    assert_eq!(
        (tracks[1].weight, tracks[1].reverse),
        (Some(10), Some(false))
    );
    let toml = round_trip(&cfg);
    assert!(toml.contains("kind = \"process\""), "{toml}");
    assert!(toml.contains("match = \"command\""), "{toml}");
}

#[test]
fn config_track_process_errors_name_the_line() {
    let text = format!(
        "vrrp_track_process p {{\n quorum 3\n quorum_max 2\n process x\n}}\n\
         {INSTANCE} track_process {{\n p\n }}\n}}\n"
    );
    // keepalived 2.2.7: "quorum_max is less than quorum - ignoring": the later line goes.
    let loaded = config::read_keepalived(&text, Path::new("k.conf"), &Default::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let warnings: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("k.conf:3: warning: `quorum_max`: `2` is below quorum 3")),
        "{warnings:?}"
    );
    let vipd::config::CheckKind::Process(process) = &loaded.config.checks[0].kind else {
        panic!("{:?}", loaded.config.checks);
    };
    assert_eq!((process.quorum, process.quorum_max), (3, u32::MAX));
    // keepalived 2.2.7 drops such a block ("process name not specified"); so does vipd,
    // with a warning at its line.
    let text = format!("vrrp_track_process p {{\n quorum 1\n}}\n{INSTANCE}}}\n");
    let loaded = config::read_keepalived(&text, Path::new("k.conf"), &Default::default()).unwrap();
    assert!(loaded.config.checks.is_empty());
    let warnings: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
    assert!(
        warnings[0].starts_with("k.conf:1: warning: vrrp_track_process `p` has no `process`"),
        "{warnings:?}"
    );
}

#[test]
fn config_reverse_weights_and_notify_users() {
    let text = format!(
        "vrrp_script a {{\n script /bin/true\n weight 10 reverse\n}}\n\
         vrrp_script b {{\n script /bin/true\n}}\n\
         vrrp_track_file f {{\n file /run/x\n weight -2 reverse\n}}\n\
         {INSTANCE} track_script {{\n a\n b weight -30 reverse\n }}\n \
         track_file {{\n f\n }}\n track_interface {{\n eth1 weight 5 reverse\n }}\n \
         notify_master /usr/local/bin/up.sh root\n \
         notify_backup \"/usr/local/bin/down.sh x\" keepalived_script kgroup\n \
         notify /usr/local/bin/all.sh\n}}\n"
    );
    let cfg = parse(&text);
    let a = cfg.checks.iter().find(|c| c.name == "a").unwrap();
    assert!(a.reverse);
    let inst = &cfg.instances[0];
    assert_eq!(inst.track_checks[0].reverse, None);
    assert_eq!(
        (inst.track_checks[1].weight, inst.track_checks[1].reverse),
        (Some(-30), Some(true))
    );
    assert!(inst.track_interfaces[0].reverse);
    let master = inst.notify.master.as_ref().unwrap();
    assert_eq!(
        (master.command.as_str(), master.user.as_deref()),
        ("/usr/local/bin/up.sh", Some("root"))
    );
    let backup = inst.notify.backup.as_ref().unwrap();
    assert_eq!(backup.command, "/usr/local/bin/down.sh x");
    assert_eq!(backup.user.as_deref(), Some("keepalived_script"));
    assert_eq!(backup.group.as_deref(), Some("kgroup"));
    assert_eq!(inst.notify.any.as_deref(), Some("/usr/local/bin/all.sh"));
    let toml = round_trip(&cfg);
    assert!(
        toml.contains("master = { command = \"/usr/local/bin/up.sh\", user = \"root\" }"),
        "{toml}"
    );
    assert!(toml.contains("reverse = true"), "{toml}");
}

#[test]
fn config_sync_group_tracking_applies_to_members() {
    let text = "vrrp_script s {\n script /bin/true\n weight -40\n}\n\
                vrrp_sync_group G {\n group {\n VI_1\n VI_2\n }\n track_script {\n s\n }\n \
                track_interface {\n eth9\n }\n}\n\
                vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n priority 150\n \
                virtual_ipaddress {\n 192.0.2.10\n }\n}\n\
                vrrp_instance VI_2 {\n interface eth1\n virtual_router_id 52\n priority 150\n \
                virtual_ipaddress {\n 198.51.100.10\n }\n}\n";
    let cfg = parse(text);
    assert_eq!(cfg.sync_groups[0].track_checks[0].check, "s");
    round_trip(&cfg);
    use std::collections::BTreeMap;
    use vipd::check::{Health, Priority};
    let down = |_: &str| Some(Health::Down);
    let mut links = BTreeMap::new();
    links.insert("eth9".to_string(), true);
    for inst in &cfg.instances {
        assert_eq!(
            vipd::services::tracking::instance_priority(inst, &cfg, &down, &links),
            Priority::Value(110),
            "{}",
            inst.name
        );
    }
    links.insert("eth9".to_string(), false);
    assert_eq!(
        vipd::services::tracking::instance_priority(&cfg.instances[1], &cfg, &down, &links),
        Priority::Fault
    );
    // An unknown check in a group is ignored with a warning at its line, as keepalived
    // ignores it ("track script nope not found, ignoring").
    let bad = text.replace("track_script {\n s\n }", "track_script {\n nope\n }");
    let loaded = config::read_keepalived(&bad, Path::new("k.conf"), &Default::default()).unwrap();
    assert!(loaded.config.sync_groups[0].track_checks.is_empty());
    let warnings: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("k.conf:") && w.contains("no vrrp_script `nope`")),
        "{warnings:?}"
    );
}

#[test]
fn config_import_turns_exact_one_liners_into_native_checks() {
    let text = format!(
        "vrrp_script chk_haproxy {{\n script \"killall -0 haproxy\"\n interval 2\n weight 2\n}}\n\
         vrrp_script chk_pidof {{\n script \"/bin/sh -c 'pidof -x check.sh'\"\n}}\n\
         vrrp_script chk_api {{\n script \"curl -sfk https://127.0.0.1:6443/healthz -o /dev/null\"\n timeout 5\n}}\n\
         vrrp_script chk_nc {{\n script \"/bin/bash -c 'timeout 2 /usr/bin/nc -z 198.51.100.7 7443'\"\n}}\n\
         vrrp_script chk_tcp {{\n script \"bash -c '</dev/tcp/127.0.0.1/6443'\"\n}}\n\
         vrrp_script chk_other {{\n script \"/usr/local/bin/check-apiserver.sh\"\n}}\n\
         {INSTANCE} track_script {{\n chk_haproxy\n chk_pidof\n chk_api\n chk_nc\n chk_tcp\n chk_other\n }}\n}}\n"
    );
    let cfg = parse(&text);
    let native = config::translate_checks(&cfg);
    let kind = |name: &str| {
        native
            .checks
            .iter()
            .find(|c| c.name == name)
            .unwrap()
            .clone()
    };
    match kind("chk_haproxy").kind {
        CheckKind::Process(p) => {
            assert_eq!(
                (p.process.as_str(), p.match_by),
                ("haproxy", ProcessMatch::Name)
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(kind("chk_haproxy").interval, Duration::from_secs(2));
    assert_eq!(kind("chk_haproxy").weight, 2);
    assert!(
        matches!(kind("chk_pidof").kind, CheckKind::Process(p) if p.match_by == ProcessMatch::PidofScripts)
    );
    let api = kind("chk_api");
    match &api.kind {
        CheckKind::Http {
            url,
            expected_status,
            insecure_skip_verify,
            ..
        } => {
            assert_eq!(url.to_string(), "https://127.0.0.1:6443/healthz");
            assert!(*insecure_skip_verify);
            assert_eq!(expected_status.first(), Some(&200));
            assert_eq!(expected_status.last(), Some(&399));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(api.timeout, Some(Duration::from_secs(5)));
    let nc = kind("chk_nc");
    assert!(
        matches!(&nc.kind, CheckKind::Tcp { host, port } if host == "198.51.100.7" && *port == 7443)
    );
    assert_eq!(nc.timeout, Some(Duration::from_secs(2)));
    assert!(matches!(
        kind("chk_tcp").kind,
        CheckKind::Tcp { port: 6443, .. }
    ));
    assert!(matches!(kind("chk_other").kind, CheckKind::Exec { .. }));
    // What import writes is valid and reads back as written.
    let text = config::to_toml(&native);
    assert!(text.contains("expected_status = [\"200-399\"]"), "{text}");
    let back = config::parse_native(&text, Path::new("i.toml")).unwrap();
    assert_eq!(back, native);
}
