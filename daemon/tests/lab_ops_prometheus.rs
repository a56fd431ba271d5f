//! A real Prometheus server scrapes two vipd routers in the namespace lab (needs root and the
//! Debian package `prometheus`): PromQL over its HTTP API sees one MASTER and one BACKUP
//! with the keepalived exporter's names, a failover changes states and counters as expected,
//! and `promtool check metrics` accepts the exposition.

mod lab;
mod lab_vipd_support;

use std::time::Duration;

use lab::{wait_until, Daemon, Lab};
use lab_vipd_support::*;
use serde_json::Value;

/// Inside the client namespace: its loopback is private, so the port is ours alone.
const PROMETHEUS: &str = "127.0.0.1:9090";

fn start_router(lab: &Lab, router: usize, priority: u8) -> Daemon {
    let listen = format!("192.0.2.1{router}:9165");
    let mut daemon = lab.spawn_vipd_args(
        router,
        &conf(router, &[v3_ipv4(priority)]),
        &["--metrics-listen", &listen],
        &[],
    );
    let started = wait_until(SETTLE, Duration::from_millis(10), || {
        daemon.log().contains("started with") || !daemon.is_running()
    });
    assert!(
        started.is_some() && daemon.is_running(),
        "vipd r{router}:\n{}",
        daemon.log()
    );
    daemon
}

fn start_prometheus(lab: &Lab) -> Daemon {
    let config = lab.dir().join("prometheus.yml");
    std::fs::write(
        &config,
        "global:\n  scrape_interval: 250ms\n  scrape_timeout: 200ms\n\
         scrape_configs:\n  - job_name: vipd\n    static_configs:\n\
         \x20     - targets: ['192.0.2.11:9165', '192.0.2.12:9165']\n",
    )
    .unwrap();
    let storage = lab.dir().join("prometheus-data");
    std::fs::create_dir_all(&storage).unwrap();
    let config_arg = format!("--config.file={}", config.display());
    let storage_arg = format!("--storage.tsdb.path={}", storage.display());
    let listen_arg = format!("--web.listen-address={PROMETHEUS}");
    lab.spawn_in(
        lab.client_ns(),
        &[
            "prometheus",
            &config_arg,
            &storage_arg,
            &listen_arg,
            "--log.level=warn",
        ],
        &[],
    )
}

/// Instant query over Prometheus' HTTP API: `(instance label, value)` per series.
fn query(lab: &Lab, promql: &str) -> Vec<(String, f64)> {
    let out = lab.exec(
        lab.client_ns(),
        &format!(
            "curl -sf -G --max-time 5 'http://{PROMETHEUS}/api/v1/query' --data-urlencode 'query={promql}'"
        ),
    );
    if !out.success {
        return Vec::new();
    }
    let reply: Value = match serde_json::from_str(&out.stdout) {
        Ok(reply) => reply,
        Err(_) => return Vec::new(),
    };
    reply["data"]["result"]
        .as_array()
        .map(|series| {
            series
                .iter()
                .filter_map(|s| {
                    // Aggregations have no instance label.
                    let instance = s["metric"]["instance"].as_str().unwrap_or("").to_string();
                    let value = s["value"][1].as_str()?.parse().ok()?;
                    Some((instance, value))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn value_of(series: &[(String, f64)], instance: &str) -> Option<f64> {
    series
        .iter()
        .find(|(i, _)| i == instance)
        .map(|(_, value)| *value)
}

/// Polls `promql` until `cond` holds for its result; panics with the last result otherwise.
fn wait_query(
    lab: &Lab,
    promql: &str,
    what: &str,
    mut cond: impl FnMut(&[(String, f64)]) -> bool,
) -> Vec<(String, f64)> {
    let mut last = Vec::new();
    let ok = wait_until(Duration::from_secs(60), Duration::from_millis(250), || {
        last = query(lab, promql);
        cond(&last)
    });
    assert!(ok.is_some(), "{what}: `{promql}` gave {last:?}");
    last
}

const R1: &str = "192.0.2.11:9165";
const R2: &str = "192.0.2.12:9165";

#[test]
fn prometheus_sees_one_master_and_follows_a_failover() {
    let lab = Lab::new("prometheus", 2);
    let mut r1 = start_router(&lab, 1, 150);
    let r2 = start_router(&lab, 2, 100);
    expect_sole_holder(&lab, vip4(), 1, SETTLE, "r1 wins");
    wait_state(&r2, "VI_1", "BACKUP");
    let _prometheus = start_prometheus(&lab);

    // One MASTER (2) and one BACKUP (1), per VIP, under the exporter's names and labels.
    let states = wait_query(
        &lab,
        r#"keepalived_vrrp_state{iname="VI_1",intf="eth0",vrid="51",ip_address="192.0.2.100"}"#,
        "one master and one backup",
        |s| value_of(s, R1) == Some(2.0) && value_of(s, R2) == Some(1.0),
    );
    assert_eq!(states.len(), 2, "{states:?}");
    let masters = query(&lab, "count(keepalived_vrrp_state == 2)");
    assert_eq!(masters.first().map(|(_, v)| *v), Some(1.0), "{masters:?}");
    let became = wait_query(
        &lab,
        "keepalived_become_master_total",
        "become_master counters",
        |s| s.len() == 2,
    );
    assert_eq!(value_of(&became, R1), Some(1.0));
    assert_eq!(value_of(&became, R2), Some(0.0));
    let received = query(&lab, "keepalived_advertisements_received_total");
    assert!(
        value_of(&received, R2).is_some_and(|n| n > 0.0),
        "{received:?}"
    );
    assert!(
        query(&lab, "vipd_build_info")
            .iter()
            .all(|(_, v)| *v == 1.0),
        "vipd_build_info"
    );

    // The exposition passes promtool's lint.
    let lint = lab.exec(
        lab.client_ns(),
        &format!("curl -sf --max-time 5 http://{R2}/metrics | promtool check metrics"),
    );
    assert!(
        lint.success,
        "promtool check metrics:\n{}{}",
        lint.stdout, lint.stderr
    );

    // Failover: r1 stops (planned handover); r2 becomes master, r1's target goes down.
    r1.stop();
    expect_sole_holder(&lab, vip4(), 2, SETTLE, "r2 takes over");
    wait_query(&lab, "keepalived_vrrp_state", "r2 MASTER, r1 gone", |s| {
        value_of(s, R2) == Some(2.0) && value_of(s, R1).is_none()
    });
    wait_query(&lab, "up", "r1 down, r2 up", |s| {
        value_of(s, R1) == Some(0.0) && value_of(s, R2) == Some(1.0)
    });
    let became = wait_query(
        &lab,
        "keepalived_become_master_total",
        "r2 became master once",
        |s| value_of(s, R2) == Some(1.0),
    );
    assert_eq!(value_of(&became, R2), Some(1.0));
    let zero = wait_query(
        &lab,
        "keepalived_priority_zero_received_total",
        "r2 heard r1's priority 0",
        |s| value_of(s, R2).is_some_and(|n| n >= 1.0),
    );
    assert!(value_of(&zero, R2).is_some_and(|n| n >= 1.0));
    let reason = wait_query(
        &lab,
        r#"vipd_last_transition_info{reason="priority_zero_advert",state="MASTER"}"#,
        "r2's last transition reason",
        |s| value_of(s, R2) == Some(1.0),
    );
    assert_eq!(reason.len(), 1, "{reason:?}");
}
