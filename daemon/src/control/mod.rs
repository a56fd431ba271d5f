//! Operating a running vipd: the control socket (`vipd status`, `drain`, `resume`, `reload`,
//! `events`), the event stream, persisted drains and the Prometheus endpoint.
//!
//! - [`protocol`]: the request format and its parser (pure, fuzzed).
//! - [`access`]: who may use the socket (peer credentials, `control_group`).
//! - [`server`]: the socket server with its limits; it hands [`server::Command`]s to the
//!   event loop.
//! - [`client`]: what the `vipd` subcommands send and print.
//! - [`events`]: numbered events for `vipd events` and `vipd status --watch`.
//! - [`drains`]: drains kept across restarts under the state directory.
//! - [`metrics`], [`http`]: the `/metrics` exposition and its small HTTP responder.
//! - [`services`]: the thread the socket and the endpoint are served on.
//! - [`dumps`]: keepalived's dump files (SIGUSR1, SIGUSR2, SIGRTMIN+2).
//!
//! The types here are the status report, shared by all of them.

pub mod access;
pub mod client;
pub mod drains;
pub mod dumps;
pub mod events;
pub mod evict;
pub mod http;
pub mod metrics;
pub mod protocol;
pub mod server;
pub mod services;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use client::{render_text, request_status};

pub const DEFAULT_SOCKET: &str = "/run/vipd/vipd.sock";

/// `YYYY-MM-DD HH:MM:SS UTC` of a Unix time, for people (civil date from the day count, so
/// no time zone database is needed in the static binary).
pub fn utc_time(unix_seconds: u64) -> String {
    let days = i64::try_from(unix_seconds / 86_400).unwrap_or(i64::MAX / 2) + 719_468;
    let rest = unix_seconds % 86_400;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StatusReport {
    pub pid: u32,
    pub config: String,
    /// vipd version of the daemon.
    #[serde(default)]
    pub version: String,
    /// Sequence number of the last event emitted (see `vipd events`).
    #[serde(default)]
    pub last_event: u64,
    pub instances: Vec<InstanceStatus>,
    pub checks: Vec<CheckStatus>,
    /// The notification queue.
    #[serde(default)]
    pub notify: crate::services::notify::NotifyStats,
    /// The notify FIFOs (`notify_fifo`, `vrrp_notify_fifo`): lines written and lost.
    #[serde(default)]
    pub notify_fifos: Vec<crate::services::notify_fifo::NotifyFifoStats>,
}

/// A drained instance: since when, how and on whose request.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DrainStatus {
    /// `soft` (becomes master when no other router is left) or `hard` (never).
    pub mode: String,
    /// Unix time of the request.
    pub since: u64,
    pub by: String,
}

/// One VIP and the interface it lives on.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct VipStatus {
    pub address: String,
    pub prefix_len: u8,
    pub interface: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct InstanceStatus {
    pub name: String,
    pub interface: String,
    pub vrid: u8,
    pub version: u8,
    pub state: String,
    pub base_priority: u8,
    /// Base priority plus tracked weights.
    pub effective_priority: u8,
    /// What we advertise and elect with: 1 while drained, else the effective priority.
    #[serde(default)]
    pub advertised_priority: u8,
    #[serde(default)]
    pub drained: Option<DrainStatus>,
    /// Address of the router currently seen as master (ourselves when master).
    pub master_address: Option<String>,
    /// Priority the master we follow advertises (None when we are master or none is heard).
    #[serde(default)]
    pub master_priority: Option<u8>,
    /// Advert interval in use: configured when master, learned from the master otherwise (v3).
    pub advert_interval_ms: u64,
    /// Master_Down_Interval now (what a backup waits for the master's adverts).
    #[serde(default)]
    pub master_down_interval_ms: u64,
    pub transitions: u64,
    pub last_transition_reason: Option<String>,
    /// Stable code of the last reason (`priority_zero_advert`, `drained`, ...).
    #[serde(default)]
    pub last_transition_code: Option<String>,
    /// Unix time of the last transition.
    #[serde(default)]
    pub last_transition_time: Option<f64>,
    /// How long the last drain or planned stop took, priority 0 advert to VIP removal.
    #[serde(default)]
    pub last_handover_ms: Option<f64>,
    pub adverts_received: u64,
    pub adverts_sent: u64,
    #[serde(default)]
    pub became_master: u64,
    #[serde(default)]
    pub released_master: u64,
    #[serde(default)]
    pub priority_zero_received: u64,
    #[serde(default)]
    pub priority_zero_sent: u64,
    /// Adverts whose address list differs from ours (logged; dropped as `address_list` when
    /// they lack one of our VIPs).
    #[serde(default)]
    pub address_list_mismatch: u64,
    /// Adverts of an authentication type vipd does not know (counted in `auth_type` too).
    #[serde(default)]
    pub auth_type_unknown: u64,
    /// Adverts the state machine discarded (v2 interval mismatch, zero interval).
    #[serde(default)]
    pub discarded: u64,
    /// Adverts dropped, by reason (`hop_limit`, `checksum`, `unknown_vrid`, ...).
    pub dropped: BTreeMap<String, u64>,
    pub vips: Vec<String>,
    #[serde(default)]
    pub vip_list: Vec<VipStatus>,
    pub tracked_checks: Vec<String>,
    /// Forwards (DNAT) installed for this instance now (while it is master).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forwards: Vec<String>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_times_render_as_utc_dates() {
        assert_eq!(utc_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_time(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc_time(1_764_500_000), "2025-11-30 10:53:20 UTC");
        assert_eq!(utc_time(4_102_444_799), "2099-12-31 23:59:59 UTC");
        // Never panics, whatever a state file says.
        let _ = utc_time(u64::MAX);
    }

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
            ..Default::default()
        };
        let json = serde_json::to_string(&report).unwrap();
        assert_eq!(serde_json::from_str::<StatusReport>(&json).unwrap(), report);
        let text = render_text(&report);
        assert!(text.contains("dropped checksum: 3"), "{text}");
    }
}
