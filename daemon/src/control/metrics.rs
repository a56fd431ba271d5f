//! The Prometheus exposition (text format 0.0.4) of a running vipd.
//!
//! First the names, labels and values of the widely used keepalived exporter, so existing
//! dashboards and alerts keep working when keepalived is replaced (`keepalived_*`), then what
//! no exporter can see (`vipd_*`). Rendering is a pure function of a [`MetricsSnapshot`] the
//! event loop hands out; it is written by hand because the format is a few lines of text and
//! the daemon keeps no metric registry of its own (every value already lives in the status).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::StatusReport;

/// Upper bounds (seconds) of the check latency histogram buckets.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// A Prometheus histogram with [`LATENCY_BUCKETS`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Histogram {
    /// Observations per bucket (not cumulative), one more for `+Inf`.
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    pub fn observe(&mut self, seconds: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; LATENCY_BUCKETS.len() + 1];
        }
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        if let Some(slot) = self.counts.get_mut(bucket) {
            *slot += 1;
        }
        self.sum += seconds;
        self.count += 1;
    }

    pub fn count(&self) -> u64 {
        self.count
    }
}

/// Counters of the control socket and the metrics endpoint.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceCounts {
    pub control_served: u64,
    pub control_refused: u64,
    pub control_rejected: u64,
    pub control_busy: u64,
    pub http_served: u64,
    pub http_rejected: u64,
    pub http_busy: u64,
}

/// Everything one scrape shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsSnapshot {
    pub status: StatusReport,
    /// Latency of every probe, by check name.
    pub check_latency: BTreeMap<String, Histogram>,
    pub services: ServiceCounts,
}

/// keepalived's numeric states (the exporter's `keepalived_vrrp_state` values).
fn state_value(state: &str) -> f64 {
    match state {
        "BACKUP" => 1.0,
        "MASTER" => 2.0,
        "FAULT" => 3.0,
        _ => 0.0,
    }
}

/// One metric family after another: HELP, TYPE, samples.
struct Exposition {
    out: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (key, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{key}=\"{}\"", escape_label(value));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", number(value));
    }
}

fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

/// Name, help and value of one of the keepalived exporter's per-instance counters.
type KeepalivedCounter = (
    &'static str,
    &'static str,
    fn(&super::InstanceStatus) -> u64,
);

/// A per-instance counter of the keepalived exporter: `value` of each instance.
fn instance_family(
    exp: &mut Exposition,
    status: &StatusReport,
    name: &str,
    kind: &str,
    help: &str,
    value: impl Fn(&super::InstanceStatus) -> Option<f64>,
) {
    exp.family(name, kind, help);
    for i in &status.instances {
        if let Some(v) = value(i) {
            let vrid = i.vrid.to_string();
            exp.sample(
                name,
                &[("iname", &i.name), ("intf", &i.interface), ("vrid", &vrid)],
                v,
            );
        }
    }
}

fn dropped(i: &super::InstanceStatus, reasons: &[&str]) -> u64 {
    reasons
        .iter()
        .map(|r| i.dropped.get(*r).copied().unwrap_or(0))
        .sum()
}

/// The exposition text of one scrape.
pub fn render(snapshot: &MetricsSnapshot) -> String {
    let status = &snapshot.status;
    let mut exp = Exposition { out: String::new() };

    // ---- the keepalived exporter's names ----
    exp.family(
        "keepalived_up",
        "gauge",
        "Whether the VRRP daemon answers (always 1 when scraped).",
    );
    exp.sample("keepalived_up", &[], 1.0);

    exp.family(
        "keepalived_vrrp_state",
        "gauge",
        "VRRP state per VIP: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT.",
    );
    for i in &status.instances {
        let vrid = i.vrid.to_string();
        let value = state_value(&i.state);
        if i.vip_list.is_empty() {
            exp.sample(
                "keepalived_vrrp_state",
                &[
                    ("iname", &i.name),
                    ("intf", &i.interface),
                    ("vrid", &vrid),
                    ("ip_address", ""),
                ],
                value,
            );
        }
        for vip in &i.vip_list {
            exp.sample(
                "keepalived_vrrp_state",
                &[
                    ("iname", &i.name),
                    ("intf", &vip.interface),
                    ("vrid", &vrid),
                    ("ip_address", &vip.address),
                ],
                value,
            );
        }
    }

    let counters: [KeepalivedCounter; 14] = [
        (
            "keepalived_advertisements_received_total",
            "Adverts received and accepted.",
            |i| i.adverts_received,
        ),
        (
            "keepalived_advertisements_sent_total",
            "Adverts sent.",
            |i| i.adverts_sent,
        ),
        (
            "keepalived_become_master_total",
            "Transitions to MASTER.",
            |i| i.became_master,
        ),
        (
            "keepalived_release_master_total",
            "Transitions from MASTER.",
            |i| i.released_master,
        ),
        (
            "keepalived_priority_zero_received_total",
            "Priority 0 adverts received (a master leaving).",
            |i| i.priority_zero_received,
        ),
        (
            "keepalived_priority_zero_sent_total",
            "Priority 0 adverts sent.",
            |i| i.priority_zero_sent,
        ),
        (
            "keepalived_packet_length_errors_total",
            "Adverts dropped for their length (truncated, trailing bytes, bad IP header).",
            |i| dropped(i, &["truncated", "length", "ip_header"]),
        ),
        (
            "keepalived_advertisements_interval_errors_total",
            "Adverts dropped for an advert interval other than ours (v2) or zero.",
            |i| dropped(i, &["interval_mismatch"]) + i.discarded,
        ),
        (
            "keepalived_ip_ttl_errors_total",
            "Adverts dropped for a TTL / hop limit other than 255.",
            |i| dropped(i, &["hop_limit"]),
        ),
        (
            "keepalived_invalid_type_received_total",
            "Adverts dropped for a VRRP type other than advertisement.",
            |i| dropped(i, &["type"]),
        ),
        (
            "keepalived_address_list_errors_total",
            "Adverts with an address list other than ours, or sent unicast to a multicast \
             instance (or the reverse), as keepalived counts them.",
            |i| i.address_list_mismatch + dropped(i, &["destination"]),
        ),
        (
            "keepalived_authentication_invalid_total",
            "Adverts with an unknown authentication type.",
            |i| i.auth_type_unknown,
        ),
        (
            "keepalived_authentication_mismatch_total",
            "Adverts with another authentication type than ours.",
            |i| dropped(i, &["auth_type"]).saturating_sub(i.auth_type_unknown),
        ),
        (
            "keepalived_authentication_failure_total",
            "Adverts with a wrong password.",
            |i| dropped(i, &["auth_password"]),
        ),
    ];
    for (name, help, value) in counters {
        instance_family(&mut exp, status, name, "counter", help, |i| {
            Some(value(i) as f64)
        });
    }

    exp.family(
        "keepalived_script_status",
        "gauge",
        "Health check result: 0 BAD, 1 GOOD (checks with no result yet are not listed).",
    );
    for c in &status.checks {
        let value = match c.state.as_str() {
            "up" => 1.0,
            "down" => 0.0,
            _ => continue,
        };
        exp.sample("keepalived_script_status", &[("name", &c.name)], value);
    }
    exp.family(
        "keepalived_script_state",
        "gauge",
        "keepalived's script run state: 0 idle (vipd's checks never block the daemon).",
    );
    for c in &status.checks {
        exp.sample("keepalived_script_state", &[("name", &c.name)], 0.0);
    }

    // ---- vipd's own ----
    exp.family("vipd_build_info", "gauge", "vipd version (value 1).");
    exp.sample("vipd_build_info", &[("version", &status.version)], 1.0);
    exp.family(
        "vipd_events_total",
        "counter",
        "Events emitted (the sequence number of the last one).",
    );
    exp.sample("vipd_events_total", &[], status.last_event as f64);

    instance_family(
        &mut exp,
        status,
        "vipd_base_priority",
        "gauge",
        "Configured priority.",
        |i| Some(f64::from(i.base_priority)),
    );
    instance_family(
        &mut exp,
        status,
        "vipd_effective_priority",
        "gauge",
        "Base priority plus tracked check and interface weights.",
        |i| Some(f64::from(i.effective_priority)),
    );
    instance_family(
        &mut exp,
        status,
        "vipd_advertised_priority",
        "gauge",
        "Priority advertised and elected with (1 while drained).",
        |i| Some(f64::from(i.advertised_priority)),
    );
    instance_family(
        &mut exp,
        status,
        "vipd_master_priority",
        "gauge",
        "Priority the master we follow advertises (absent while we are master).",
        |i| i.master_priority.map(f64::from),
    );
    exp.family(
        "vipd_master_info",
        "gauge",
        "The router seen as master (ourselves when master); value 1.",
    );
    for i in &status.instances {
        if let Some(master) = &i.master_address {
            let vrid = i.vrid.to_string();
            exp.sample(
                "vipd_master_info",
                &[
                    ("iname", &i.name),
                    ("intf", &i.interface),
                    ("vrid", &vrid),
                    ("master", master),
                ],
                1.0,
            );
        }
    }
    instance_family(
        &mut exp,
        status,
        "vipd_drained",
        "gauge",
        "Maintenance drain: 0 not drained, 1 soft, 2 hard.",
        |i| {
            Some(match i.drained.as_ref().map(|d| d.mode.as_str()) {
                None => 0.0,
                Some("soft") => 1.0,
                Some(_) => 2.0,
            })
        },
    );
    instance_family(
        &mut exp,
        status,
        "vipd_drained_since_timestamp_seconds",
        "gauge",
        "Unix time of the drain request (drained instances only).",
        |i| i.drained.as_ref().map(|d| d.since as f64),
    );
    instance_family(
        &mut exp,
        status,
        "vipd_transitions_total",
        "counter",
        "State transitions.",
        |i| Some(i.transitions as f64),
    );
    instance_family(
        &mut exp,
        status,
        "vipd_last_transition_timestamp_seconds",
        "gauge",
        "Unix time of the last state transition.",
        |i| i.last_transition_time,
    );
    exp.family(
        "vipd_last_transition_info",
        "gauge",
        "Reason code of the last state transition; value 1.",
    );
    for i in &status.instances {
        if let Some(code) = &i.last_transition_code {
            let vrid = i.vrid.to_string();
            exp.sample(
                "vipd_last_transition_info",
                &[
                    ("iname", &i.name),
                    ("intf", &i.interface),
                    ("vrid", &vrid),
                    ("state", &i.state),
                    ("reason", code),
                ],
                1.0,
            );
        }
    }
    instance_family(
        &mut exp,
        status,
        "vipd_last_handover_duration_seconds",
        "gauge",
        "Duration of the last planned handover (drain): priority 0 advert to VIP removal.",
        |i| i.last_handover_ms.map(|ms| ms / 1000.0),
    );
    exp.family(
        "vipd_forward_installed",
        "gauge",
        "Forwards (DNAT) installed in vipd's nftables table now, one sample per forward.",
    );
    for i in &status.instances {
        let vrid = i.vrid.to_string();
        for forward in &i.forwards {
            exp.sample(
                "vipd_forward_installed",
                &[
                    ("iname", &i.name),
                    ("intf", &i.interface),
                    ("vrid", &vrid),
                    ("forward", forward),
                ],
                1.0,
            );
        }
    }
    exp.family(
        "vipd_adverts_dropped_total",
        "counter",
        "Adverts dropped, by reason.",
    );
    for i in &status.instances {
        let vrid = i.vrid.to_string();
        for (reason, n) in &i.dropped {
            exp.sample(
                "vipd_adverts_dropped_total",
                &[
                    ("iname", &i.name),
                    ("intf", &i.interface),
                    ("vrid", &vrid),
                    ("reason", reason),
                ],
                *n as f64,
            );
        }
    }

    exp.family(
        "vipd_check_up",
        "gauge",
        "Health check health: 1 up, 0 down (no result yet: not listed).",
    );
    for c in &status.checks {
        let value = match c.state.as_str() {
            "up" => 1.0,
            "down" => 0.0,
            _ => continue,
        };
        exp.sample(
            "vipd_check_up",
            &[("check", &c.name), ("kind", &c.kind)],
            value,
        );
    }
    exp.family(
        "vipd_check_latency_seconds",
        "histogram",
        "Duration of each health check probe.",
    );
    for (check, histogram) in &snapshot.check_latency {
        let mut cumulative = 0u64;
        for (index, bound) in LATENCY_BUCKETS.iter().enumerate() {
            cumulative += histogram.counts.get(index).copied().unwrap_or(0);
            exp.sample(
                "vipd_check_latency_seconds_bucket",
                &[("check", check), ("le", &number(*bound))],
                cumulative as f64,
            );
        }
        exp.sample(
            "vipd_check_latency_seconds_bucket",
            &[("check", check), ("le", "+Inf")],
            histogram.count as f64,
        );
        exp.sample(
            "vipd_check_latency_seconds_sum",
            &[("check", check)],
            histogram.sum,
        );
        exp.sample(
            "vipd_check_latency_seconds_count",
            &[("check", check)],
            histogram.count as f64,
        );
    }

    let s = &snapshot.services;
    exp.family(
        "vipd_control_requests_total",
        "counter",
        "Control socket connections by outcome.",
    );
    for (outcome, n) in [
        ("served", s.control_served),
        ("refused", s.control_refused),
        ("rejected", s.control_rejected),
        ("busy", s.control_busy),
    ] {
        exp.sample(
            "vipd_control_requests_total",
            &[("outcome", outcome)],
            n as f64,
        );
    }
    exp.family(
        "vipd_metrics_requests_total",
        "counter",
        "Metrics endpoint connections by outcome.",
    );
    for (outcome, n) in [
        ("served", s.http_served),
        ("rejected", s.http_rejected),
        ("busy", s.http_busy),
    ] {
        exp.sample(
            "vipd_metrics_requests_total",
            &[("outcome", outcome)],
            n as f64,
        );
    }
    exp.family(
        "vipd_notify_fifo_lines_total",
        "counter",
        "Lines for the notify FIFOs by outcome: written, or dropped (the pipe was full).",
    );
    for f in &status.notify_fifos {
        for (outcome, n) in [("written", f.written), ("dropped", f.dropped)] {
            exp.sample(
                "vipd_notify_fifo_lines_total",
                &[("fifo", &f.fifo), ("path", &f.path), ("outcome", outcome)],
                n as f64,
            );
        }
    }
    exp.out
}

#[cfg(test)]
mod tests {
    use super::super::{CheckStatus, DrainStatus, InstanceStatus, VipStatus};
    use super::*;

    fn snapshot() -> MetricsSnapshot {
        let mut dropped = BTreeMap::new();
        dropped.insert("hop_limit".to_string(), 3);
        dropped.insert("truncated".to_string(), 1);
        dropped.insert("length".to_string(), 2);
        dropped.insert("auth_type".to_string(), 5);
        let mut latency = Histogram::default();
        for ms in [0.5, 3.0, 3.0, 700.0, 40_000.0] {
            latency.observe(ms / 1000.0);
        }
        MetricsSnapshot {
            status: StatusReport {
                version: "1.2.3".into(),
                last_event: 9,
                instances: vec![InstanceStatus {
                    name: "VI_\"1\"".into(),
                    interface: "eth0".into(),
                    vrid: 51,
                    state: "MASTER".into(),
                    base_priority: 150,
                    effective_priority: 140,
                    advertised_priority: 1,
                    drained: Some(DrainStatus {
                        mode: "soft".into(),
                        since: 1,
                        by: "uid 0".into(),
                    }),
                    master_address: Some("192.0.2.11".into()),
                    adverts_received: 10,
                    auth_type_unknown: 2,
                    last_transition_time: Some(1_764_500_000.25),
                    last_transition_code: Some("drained_last_router".into()),
                    last_handover_ms: Some(62.5),
                    dropped,
                    vip_list: vec![
                        VipStatus {
                            address: "192.0.2.100".into(),
                            prefix_len: 24,
                            interface: "eth0".into(),
                        },
                        VipStatus {
                            address: "198.51.100.1".into(),
                            prefix_len: 24,
                            interface: "eth1".into(),
                        },
                    ],
                    ..Default::default()
                }],
                checks: vec![
                    CheckStatus {
                        name: "api".into(),
                        kind: "http".into(),
                        state: "down".into(),
                        ..Default::default()
                    },
                    CheckStatus {
                        name: "new".into(),
                        kind: "tcp".into(),
                        state: "unknown".into(),
                        ..Default::default()
                    },
                ],
                notify_fifos: vec![crate::services::notify_fifo::NotifyFifoStats {
                    fifo: "vrrp_notify_fifo".into(),
                    path: "/run/vrrp.fifo".into(),
                    written: 7,
                    dropped: 2,
                }],
                ..Default::default()
            },
            check_latency: [("api".to_string(), latency)].into_iter().collect(),
            services: ServiceCounts {
                control_refused: 4,
                ..Default::default()
            },
        }
    }

    fn lines(text: &str) -> Vec<&str> {
        text.lines().filter(|l| !l.starts_with('#')).collect()
    }

    #[test]
    fn one_vrrp_state_series_per_vip_with_the_exporters_labels() {
        let text = render(&snapshot());
        let states: Vec<&str> = lines(&text)
            .into_iter()
            .filter(|l| l.starts_with("keepalived_vrrp_state"))
            .collect();
        assert_eq!(
            states,
            [
                r#"keepalived_vrrp_state{iname="VI_\"1\"",intf="eth0",vrid="51",ip_address="192.0.2.100"} 2"#,
                r#"keepalived_vrrp_state{iname="VI_\"1\"",intf="eth1",vrid="51",ip_address="198.51.100.1"} 2"#,
            ]
        );
    }

    #[test]
    fn keepalived_counters_map_vipd_drop_reasons() {
        let text = render(&snapshot());
        let all = lines(&text);
        let value = |prefix: &str| {
            all.iter()
                .find(|l| l.starts_with(prefix))
                .and_then(|l| l.rsplit(' ').next())
                .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
                .to_string()
        };
        assert_eq!(value("keepalived_packet_length_errors_total{"), "3");
        assert_eq!(value("keepalived_ip_ttl_errors_total{"), "3");
        assert_eq!(value("keepalived_authentication_invalid_total{"), "2");
        assert_eq!(value("keepalived_authentication_mismatch_total{"), "3");
        assert_eq!(value("keepalived_advertisements_received_total{"), "10");
        assert_eq!(value("keepalived_script_status{name=\"api\"}"), "0");
        assert_eq!(value("vipd_drained{"), "1");
        assert_eq!(value("vipd_advertised_priority{"), "1");
        assert_eq!(value("vipd_last_handover_duration_seconds{"), "0.0625");
        assert_eq!(
            value("vipd_last_transition_timestamp_seconds{"),
            "1764500000.25"
        );
        assert_eq!(
            value("vipd_control_requests_total{outcome=\"refused\"}"),
            "4"
        );
        let fifo = r#"vipd_notify_fifo_lines_total{fifo="vrrp_notify_fifo",path="/run/vrrp.fifo""#;
        assert_eq!(value(&format!("{fifo},outcome=\"dropped\"}}")), "2");
        assert_eq!(value(&format!("{fifo},outcome=\"written\"}}")), "7");
        // A check without a result is not reported as BAD.
        assert!(!text.contains("keepalived_script_status{name=\"new\"}"));
    }

    #[test]
    fn the_latency_histogram_is_cumulative_and_ends_in_inf() {
        let text = render(&snapshot());
        let buckets: Vec<&str> = lines(&text)
            .into_iter()
            .filter(|l| l.starts_with("vipd_check_latency_seconds"))
            .collect();
        assert!(buckets.contains(&r#"vipd_check_latency_seconds_bucket{check="api",le="0.001"} 1"#));
        assert!(buckets.contains(&r#"vipd_check_latency_seconds_bucket{check="api",le="0.005"} 3"#));
        assert!(buckets.contains(&r#"vipd_check_latency_seconds_bucket{check="api",le="30"} 4"#));
        assert!(buckets.contains(&r#"vipd_check_latency_seconds_bucket{check="api",le="+Inf"} 5"#));
        assert!(buckets.contains(&r#"vipd_check_latency_seconds_count{check="api"} 5"#));
    }

    #[test]
    fn every_family_has_help_and_type_once() {
        let text = render(&snapshot());
        let mut seen = std::collections::BTreeSet::new();
        for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
            let name = line.split(' ').nth(2).unwrap();
            assert!(seen.insert(name.to_string()), "{name} declared twice");
        }
        assert!(seen.contains("keepalived_up") && seen.contains("vipd_build_info"));
        assert_eq!(
            text.lines().filter(|l| l.starts_with("# HELP ")).count(),
            seen.len()
        );
    }

    #[test]
    fn label_values_and_numbers_are_escaped_and_formatted() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(number(2.0), "2");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(f64::NAN), "NaN");
    }
}
