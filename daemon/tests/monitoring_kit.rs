//! The monitoring kit in `examples/monitoring/` against promtool (Debian package
//! `prometheus`) and against what vipd really exports: the alert rules load and pass their
//! unit tests (two masters, no master, ...), the exposition passes `promtool check metrics`,
//! and every metric name the rules and the Grafana dashboard use is one vipd serves.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use vipd::control::metrics::{render, Histogram, MetricsSnapshot, ServiceCounts};
use vipd::control::{CheckStatus, DrainStatus, InstanceStatus, StatusReport, VipStatus};

fn kit() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/monitoring")
}

fn promtool(args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(args)
        .current_dir(kit())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run promtool ({e}): install the Debian package prometheus (.ci/run)")
        });
    {
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A snapshot in which every metric family has samples: a drained soft master alone and a
/// backup following another router, checks up, down and without result.
fn rich_snapshot() -> MetricsSnapshot {
    let dropped: BTreeMap<String, u64> = ["hop_limit", "checksum", "auth_type", "auth_password"]
        .iter()
        .map(|r| (r.to_string(), 2))
        .collect();
    let vip = |address: &str, interface: &str| VipStatus {
        address: address.into(),
        prefix_len: 24,
        interface: interface.into(),
    };
    let master = InstanceStatus {
        name: "VI_1".into(),
        interface: "eth0".into(),
        vrid: 51,
        version: 3,
        state: "MASTER".into(),
        base_priority: 150,
        effective_priority: 150,
        advertised_priority: 1,
        drained: Some(DrainStatus {
            mode: "soft".into(),
            since: 1_764_500_000,
            by: "uid 0 (root) pid 1".into(),
        }),
        master_address: Some("192.0.2.11".into()),
        transitions: 3,
        last_transition_reason: Some("drained, but no other router is master".into()),
        last_transition_code: Some("drained_last_router".into()),
        last_transition_time: Some(1_764_500_100.5),
        last_handover_ms: Some(61.2),
        adverts_sent: 100,
        became_master: 2,
        released_master: 1,
        priority_zero_sent: 1,
        dropped: dropped.clone(),
        vip_list: vec![vip("192.0.2.100", "eth0"), vip("198.51.100.100", "eth1")],
        ..Default::default()
    };
    let backup = InstanceStatus {
        name: "VI_2".into(),
        interface: "eth0".into(),
        vrid: 52,
        version: 2,
        state: "BACKUP".into(),
        base_priority: 100,
        effective_priority: 90,
        advertised_priority: 90,
        master_address: Some("192.0.2.12".into()),
        master_priority: Some(150),
        transitions: 1,
        last_transition_code: Some("startup".into()),
        last_transition_time: Some(1_764_500_000.0),
        adverts_received: 200,
        priority_zero_received: 1,
        dropped,
        vip_list: vec![vip("192.0.2.101", "eth0")],
        ..Default::default()
    };
    let check = |name: &str, state: &str| CheckStatus {
        name: name.into(),
        kind: "tcp".into(),
        state: state.into(),
        ..Default::default()
    };
    let mut latency = Histogram::default();
    for ms in [0.4, 2.0, 30.0, 1200.0] {
        latency.observe(ms / 1000.0);
    }
    MetricsSnapshot {
        status: StatusReport {
            pid: 1,
            version: "0.1.0".into(),
            last_event: 12,
            instances: vec![master, backup],
            checks: vec![
                check("apiserver", "up"),
                check("haproxy", "down"),
                check("new", "unknown"),
            ],
            ..Default::default()
        },
        check_latency: [("apiserver".to_string(), latency)].into_iter().collect(),
        services: ServiceCounts {
            control_served: 3,
            control_refused: 1,
            ..Default::default()
        },
    }
}

/// Names of the samples in an exposition.
fn exported_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

/// `keepalived_*` and `vipd_*` identifiers in a text (PromQL, JSON).
fn used_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &text[i..];
        let starts = rest.starts_with("keepalived_") || rest.starts_with("vipd_");
        let boundary = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if starts && boundary {
            let end = rest
                .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(rest.len());
            names.insert(rest[..end].to_string());
            i += end;
        } else {
            i += 1;
        }
    }
    names
}

#[test]
fn the_alert_rules_load_and_pass_their_unit_tests() {
    let (ok, out) = promtool(&["check", "rules", "vipd-alerts.yml"], None);
    assert!(ok, "promtool check rules:\n{out}");
    let (ok, out) = promtool(&["test", "rules", "vipd-alerts.test.yml"], None);
    assert!(ok, "promtool test rules:\n{out}");
    let tests = std::fs::read_to_string(kit().join("vipd-alerts.test.yml")).unwrap();
    for alert in ["VrrpTwoMasters", "VrrpNoMaster"] {
        assert!(
            tests.contains(&format!(
                "alertname: {alert}\n        exp_alerts:\n          - "
            )),
            "{alert} has no firing test case"
        );
    }
}

#[test]
fn the_exposition_passes_promtool_check_metrics() {
    let text = render(&rich_snapshot());
    let (ok, out) = promtool(&["check", "metrics"], Some(&text));
    assert!(ok, "promtool check metrics:\n{out}\n{text}");
}

#[test]
fn every_metric_the_kit_uses_is_exported() {
    let exported = exported_names(&render(&rich_snapshot()));
    assert!(exported.contains("keepalived_vrrp_state"), "{exported:?}");
    for file in ["vipd-alerts.yml", "grafana-dashboard.json"] {
        let text = std::fs::read_to_string(kit().join(file)).unwrap();
        let used = used_names(&text);
        assert!(used.len() >= 5, "{file}: found only {used:?}");
        let unknown: Vec<&String> = used.difference(&exported).collect();
        assert!(
            unknown.is_empty(),
            "{file} uses names vipd does not export: {unknown:?}"
        );
    }
}

/// The kit's README has "the full list": every family vipd exports is named there, and every
/// name there is exported.
#[test]
fn the_kit_readme_lists_every_exported_family() {
    let exposition = render(&rich_snapshot());
    let families: BTreeSet<String> = exposition
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .map(str::to_string)
        .collect();
    assert!(families.len() >= 20, "{families:?}");
    let readme = std::fs::read_to_string(kit().join("README.md")).unwrap();
    // (`keepalived_*`, `vipd_*`: prefixes, not names.)
    let listed: BTreeSet<String> = used_names(&readme)
        .into_iter()
        .filter(|name| !name.ends_with('_'))
        .collect();
    let missing: Vec<&String> = families.difference(&listed).collect();
    assert!(missing.is_empty(), "README.md does not list {missing:?}");
    let exported = exported_names(&exposition);
    let unknown: Vec<&String> = listed
        .iter()
        .filter(|name| !families.contains(*name) && !exported.contains(*name))
        .collect();
    assert!(
        unknown.is_empty(),
        "README.md lists names vipd does not export: {unknown:?}"
    );
}

/// The project README's `vipd status` paragraph names every drop reason vipd counts.
#[test]
fn the_readme_names_every_drop_reason() {
    let readme = std::fs::read_to_string(kit().join("../../README.md")).unwrap();
    let missing: Vec<&str> = vipd::vrrp::packet::DropReason::ALL
        .iter()
        .map(|reason| reason.as_str())
        .filter(|name| !readme.contains(&format!("`{name}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "README.md does not name the drop reasons {missing:?}"
    );
}

#[test]
fn the_dashboard_is_grafana_json_with_a_query_per_panel() {
    let text = std::fs::read_to_string(kit().join("grafana-dashboard.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
    let panels = dashboard["panels"].as_array().expect("panels");
    let graphs: Vec<&serde_json::Value> = panels.iter().filter(|p| p["type"] != "row").collect();
    assert!(graphs.len() >= 10, "{} panels", graphs.len());
    for panel in graphs {
        let targets = panel["targets"].as_array().expect("targets");
        assert!(
            !targets.is_empty()
                && targets
                    .iter()
                    .all(|t| t["expr"].as_str().is_some_and(|e| !e.is_empty())),
            "panel {} has no query",
            panel["title"]
        );
    }
}

#[test]
fn name_scanning_finds_identifiers_only() {
    let used = used_names("rate(keepalived_x_total{a=\"b\"}[5m]) + my_vipd_y + vipd_z\"");
    assert_eq!(
        used.into_iter().collect::<Vec<_>>(),
        ["keepalived_x_total", "vipd_z"]
    );
}
