//! The control socket: a Unix stream socket where `vipd status` asks the running daemon for
//! its state. One request line in (`status`), one JSON document out, then the connection closes.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

pub const DEFAULT_SOCKET: &str = "/run/vipd/vipd.sock";

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StatusReport {
    pub pid: u32,
    pub config: String,
    pub instances: Vec<InstanceStatus>,
    pub checks: Vec<CheckStatus>,
    /// The notification queue.
    #[serde(default)]
    pub notify: crate::notify::NotifyStats,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct InstanceStatus {
    pub name: String,
    pub interface: String,
    pub vrid: u8,
    pub version: u8,
    pub state: String,
    pub base_priority: u8,
    pub effective_priority: u8,
    /// Address of the router currently seen as master (ourselves when master).
    pub master_address: Option<String>,
    /// Advert interval in use: configured when master, learned from the master otherwise (v3).
    pub advert_interval_ms: u64,
    pub transitions: u64,
    pub last_transition_reason: Option<String>,
    pub adverts_received: u64,
    pub adverts_sent: u64,
    /// Adverts dropped, by reason (`hop_limit`, `checksum`, `unknown_vrid`, ...).
    pub dropped: BTreeMap<String, u64>,
    pub vips: Vec<String>,
    pub tracked_checks: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CheckStatus {
    pub name: String,
    pub kind: String,
    pub state: String,
    pub weight: i32,
    pub last_result: Option<String>,
    pub last_latency_ms: Option<f64>,
    /// Why the check is disabled, or which script a native check replaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Asks the daemon listening on `socket` for its status.
pub fn request_status(socket: &Path) -> Result<StatusReport, String> {
    let mut stream = std::os::unix::net::UnixStream::connect(socket).map_err(|e| {
        format!(
            "cannot connect to {}: {e} (is vipd running?)",
            socket.display()
        )
    })?;
    let timeout = Some(Duration::from_secs(5));
    stream
        .set_read_timeout(timeout)
        .and_then(|()| stream.set_write_timeout(timeout))
        .and_then(|()| stream.write_all(b"status\n"))
        .map_err(|e| format!("{}: {e}", socket.display()))?;
    let mut body = String::new();
    stream
        .read_to_string(&mut body)
        .map_err(|e| format!("{}: reading the reply: {e}", socket.display()))?;
    serde_json::from_str(&body).map_err(|e| format!("{}: malformed reply: {e}", socket.display()))
}

/// Renders a report as the human-readable table `vipd status` prints.
pub fn render_text(report: &StatusReport) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "vipd pid {} config {}\n",
        report.pid, report.config
    ));
    for i in &report.instances {
        out.push_str(&format!(
            "instance {} ({} vrid {} v{}): {}  priority {}/{}  master {}  advert {} ms  transitions {}\n",
            i.name,
            i.interface,
            i.vrid,
            i.version,
            i.state,
            i.effective_priority,
            i.base_priority,
            i.master_address.as_deref().unwrap_or("-"),
            i.advert_interval_ms,
            i.transitions,
        ));
        if let Some(reason) = &i.last_transition_reason {
            out.push_str(&format!("  last transition: {reason}\n"));
        }
        out.push_str(&format!("  vips: {}\n", i.vips.join(", ")));
        let dropped: u64 = i.dropped.values().sum();
        out.push_str(&format!(
            "  adverts: received {}  sent {}  dropped {}\n",
            i.adverts_received, i.adverts_sent, dropped
        ));
        for (reason, n) in i.dropped.iter().filter(|(_, n)| **n > 0) {
            out.push_str(&format!("    dropped {reason}: {n}\n"));
        }
        if !i.tracked_checks.is_empty() {
            out.push_str(&format!("  tracks: {}\n", i.tracked_checks.join(", ")));
        }
    }
    for c in &report.checks {
        out.push_str(&format!(
            "check {} ({}): {}  weight {}  last {}  latency {}\n",
            c.name,
            c.kind,
            c.state,
            c.weight,
            c.last_result.as_deref().unwrap_or("-"),
            c.last_latency_ms
                .map(|ms| format!("{ms:.1} ms"))
                .unwrap_or_else(|| "-".into()),
        ));
        if let Some(note) = &c.note {
            out.push_str(&format!("  {note}\n"));
        }
    }
    let n = &report.notify;
    if n.last_seq > 0 {
        out.push_str(&format!(
            "notifications: delivered {}  waiting {}  dropped (superseded) {}  last #{}\n",
            n.delivered, n.waiting, n.dropped, n.last_seq
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_round_trips_through_json() {
        let mut dropped = BTreeMap::new();
        dropped.insert("checksum".to_string(), 3);
        let report = StatusReport {
            pid: 7,
            config: "/etc/vipd/vipd.toml".into(),
            instances: vec![InstanceStatus {
                name: "VI_1".into(),
                vrid: 51,
                dropped,
                ..Default::default()
            }],
            checks: vec![],
            ..Default::default()
        };
        let json = serde_json::to_string(&report).unwrap();
        assert_eq!(serde_json::from_str::<StatusReport>(&json).unwrap(), report);
        let text = render_text(&report);
        assert!(text.contains("dropped checksum: 3"), "{text}");
    }
}
