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
//!
//! The types here are the status report, shared by all of them.

pub mod access;
pub mod client;
pub mod drains;
pub mod events;
pub mod http;
pub mod metrics;
pub mod protocol;
pub mod server;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use client::{render_text, request_status};

pub const DEFAULT_SOCKET: &str = "/run/vipd/vipd.sock";

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
    /// Adverts whose address list differs from ours (vipd only counts and logs them).
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
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CheckStatus {
    pub name: String,
    pub kind: String,
    pub state: String,
    pub weight: i32,
    pub last_result: Option<String>,
    pub last_latency_ms: Option<f64>,
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
            ..Default::default()
        };
        let json = serde_json::to_string(&report).unwrap();
        assert_eq!(serde_json::from_str::<StatusReport>(&json).unwrap(), report);
        let text = render_text(&report);
        assert!(text.contains("dropped checksum: 3"), "{text}");
    }
}
