//! The event stream behind `vipd events` and `vipd status --watch`: everything operators
//! want to follow (state transitions with their reason, priority changes, check results
//! changing, VIPs added and removed, drains, resumes, reloads), numbered in the order the
//! event loop saw them. Notification scripts are queued at the same point of the loop, so
//! they run in this order too.
//!
//! The daemon emits into an [`EventBus`]; each subscriber has its own bounded view of a
//! broadcast queue. A subscriber that falls behind by more than [`QUEUE`] events loses its
//! stream (it is told so) instead of holding anything up.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// Events kept for subscribers that have not read them yet.
pub const QUEUE: usize = 4096;

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// A state transition, with the reason as logged and a stable reason code.
    State {
        instance: String,
        from: String,
        to: String,
        reason: String,
        reason_code: String,
    },
    /// The effective priority (base plus tracked weights) changed.
    Priority {
        instance: String,
        from: u8,
        to: u8,
    },
    /// A health check changed its health (`up`, `down`, `unknown`, or a file value).
    Check {
        check: String,
        from: String,
        to: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    VipsAdded {
        instance: String,
        vips: Vec<String>,
    },
    VipsRemoved {
        instance: String,
        vips: Vec<String>,
    },
    /// Instances drained on request of `by` (peer credentials).
    Drain {
        instances: Vec<String>,
        mode: String,
        by: String,
    },
    Resume {
        instances: Vec<String>,
        by: String,
    },
    /// A reload (SIGHUP or `vipd reload`); `changed` is false when the file was refused
    /// (`refused` then holds its errors) or identical.
    Reload {
        by: String,
        changed: bool,
        instances: usize,
        /// The errors of a refused reload (the running configuration stays).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        refused: Option<String>,
    },
}

/// One numbered event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// 1, 2, 3, ... in the order the daemon saw the events; gaps never occur.
    pub seq: u64,
    /// Unix time, seconds.
    pub time: f64,
    #[serde(flatten)]
    pub kind: EventKind,
}

impl EventRecord {
    /// One line for people: `#SEQ HH:MM:SS.mmm what happened`.
    pub fn render_human(&self) -> String {
        let what = match &self.kind {
            EventKind::State {
                instance,
                from,
                to,
                reason,
                ..
            } => format!("{instance}: {from} -> {to} ({reason})"),
            EventKind::Priority { instance, from, to } => {
                format!("{instance}: effective priority {from} -> {to}")
            }
            EventKind::Check {
                check,
                from,
                to,
                detail,
            } => match detail {
                Some(detail) => format!("check {check}: {from} -> {to} ({detail})"),
                None => format!("check {check}: {from} -> {to}"),
            },
            EventKind::VipsAdded { instance, vips } => {
                format!("{instance}: added {}", vips.join(", "))
            }
            EventKind::VipsRemoved { instance, vips } => {
                format!("{instance}: removed {}", vips.join(", "))
            }
            EventKind::Drain {
                instances,
                mode,
                by,
            } => format!("drain ({mode}) of {} by {by}", instances.join(", ")),
            EventKind::Resume { instances, by } => {
                format!("resume of {} by {by}", instances.join(", "))
            }
            EventKind::Reload {
                by,
                refused: Some(errors),
                ..
            } => format!("reload by {by}: refused, running configuration kept: {errors}"),
            EventKind::Reload {
                by,
                changed,
                instances,
                refused: None,
            } => format!(
                "reload by {by}: {} ({instances} instance(s))",
                if *changed { "applied" } else { "no change" }
            ),
        };
        format!("#{} {} {what}", self.seq, clock_utc(self.time))
    }
}

/// `HH:MM:SS.mmm` (UTC) of a Unix time.
fn clock_utc(time: f64) -> String {
    let millis = (time.max(0.0) * 1000.0) as u64;
    let day_millis = millis % 86_400_000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        day_millis / 3_600_000,
        day_millis / 60_000 % 60,
        day_millis / 1000 % 60,
        day_millis % 1000
    )
}

/// Numbers events and hands them to every subscriber.
pub struct EventBus {
    seq: u64,
    /// Made for the first subscriber. A broadcast queue allocates and writes all of its
    /// [`QUEUE`] slots when it is made (128 KiB, a sixth of an idle vipd's heap), and keeps no
    /// event while nobody subscribes, so until then there is nothing for it to do.
    tx: Option<broadcast::Sender<Arc<EventRecord>>>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new()
    }
}

impl EventBus {
    pub fn new() -> EventBus {
        EventBus { seq: 0, tx: None }
    }

    /// Numbers and publishes `kind`; returns its sequence number. Never blocks.
    pub fn emit(&mut self, kind: EventKind) -> u64 {
        self.seq += 1;
        // Nobody subscribed yet: the event is not kept (as a queue without receivers does).
        let Some(tx) = &self.tx else {
            return self.seq;
        };
        let time = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        // No subscriber is not an error: the event is simply not kept.
        let _ = tx.send(Arc::new(EventRecord {
            seq: self.seq,
            time,
            kind,
        }));
        self.seq
    }

    /// Sequence number of the last event emitted (0 before the first).
    pub fn last_seq(&self) -> u64 {
        self.seq
    }

    /// A receiver for every event after [`EventBus::last_seq`].
    pub fn subscribe(&mut self) -> broadcast::Receiver<Arc<EventRecord>> {
        self.tx
            .get_or_insert_with(|| broadcast::channel(QUEUE).0)
            .subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(instance: &str, to: &str) -> EventKind {
        EventKind::State {
            instance: instance.into(),
            from: "BACKUP".into(),
            to: to.into(),
            reason: "priority 0 advert from 192.0.2.11".into(),
            reason_code: "priority_zero_advert".into(),
        }
    }

    #[test]
    fn subscribers_see_every_event_in_order_with_consecutive_numbers() {
        let mut bus = EventBus::new();
        bus.emit(state("before", "MASTER"));
        let mut rx = bus.subscribe();
        let first = bus.last_seq() + 1;
        for i in 0..100 {
            bus.emit(EventKind::Priority {
                instance: "VI_1".into(),
                from: i,
                to: i + 1,
            });
        }
        for expected in first..first + 100 {
            assert_eq!(rx.try_recv().unwrap().seq, expected);
        }
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn no_queue_until_someone_subscribes_and_numbering_goes_on() {
        let mut bus = EventBus::new();
        for _ in 0..QUEUE + 10 {
            bus.emit(state("VI_1", "MASTER"));
        }
        assert!(bus.tx.is_none(), "a queue was made with nobody to read it");
        assert_eq!(bus.last_seq(), QUEUE as u64 + 10);
        let mut rx = bus.subscribe();
        assert!(
            rx.try_recv().is_err(),
            "events before subscribing are not replayed"
        );
        let seq = bus.emit(state("VI_1", "BACKUP"));
        assert_eq!(seq, QUEUE as u64 + 11);
        assert_eq!(rx.try_recv().unwrap().seq, seq);
        // A second subscriber shares the queue and sees only what comes after it.
        let mut late = bus.subscribe();
        let next = bus.emit(state("VI_1", "MASTER"));
        assert_eq!(rx.try_recv().unwrap().seq, next);
        assert_eq!(late.try_recv().unwrap().seq, next);
    }

    #[test]
    fn a_subscriber_that_falls_behind_is_told_and_nothing_blocks() {
        let mut bus = EventBus::new();
        let mut rx = bus.subscribe();
        for _ in 0..QUEUE + 10 {
            bus.emit(state("VI_1", "MASTER"));
        }
        assert!(matches!(
            rx.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(10))
        ));
    }

    #[test]
    fn records_are_flat_json_lines_and_read_back() {
        let record = EventRecord {
            seq: 7,
            time: 86_400.0 + 3_723.456,
            kind: state("VI_1", "MASTER"),
        };
        let json = serde_json::to_string(&record).unwrap();
        assert!(json.starts_with(r#"{"seq":7,"time":"#), "{json}");
        assert!(json.contains(r#""type":"state""#), "{json}");
        assert!(json.contains(r#""instance":"VI_1""#), "{json}");
        assert_eq!(serde_json::from_str::<EventRecord>(&json).unwrap(), record);
        assert_eq!(
            record.render_human(),
            "#7 01:02:03.456 VI_1: BACKUP -> MASTER (priority 0 advert from 192.0.2.11)"
        );
    }

    #[test]
    fn every_kind_has_a_human_line() {
        let kinds = [
            EventKind::Check {
                check: "api".into(),
                from: "up".into(),
                to: "down".into(),
                detail: Some("connection refused".into()),
            },
            EventKind::VipsAdded {
                instance: "VI_1".into(),
                vips: vec!["192.0.2.100/24".into()],
            },
            EventKind::VipsRemoved {
                instance: "VI_1".into(),
                vips: vec!["192.0.2.100/24".into()],
            },
            EventKind::Drain {
                instances: vec!["VI_1".into()],
                mode: "soft".into(),
                by: "uid 0 (root) pid 1".into(),
            },
            EventKind::Resume {
                instances: vec!["VI_1".into()],
                by: "uid 0 (root) pid 1".into(),
            },
            EventKind::Reload {
                by: "SIGHUP".into(),
                changed: true,
                instances: 2,
                refused: None,
            },
            EventKind::Reload {
                by: "SIGHUP".into(),
                changed: false,
                instances: 2,
                refused: Some("k.conf:4: `virtual_router_id` needs a value".into()),
            },
        ];
        let lines: Vec<String> = kinds
            .into_iter()
            .map(|kind| {
                EventRecord {
                    seq: 1,
                    time: 0.0,
                    kind,
                }
                .render_human()
            })
            .collect();
        assert_eq!(
            lines,
            [
                "#1 00:00:00.000 check api: up -> down (connection refused)",
                "#1 00:00:00.000 VI_1: added 192.0.2.100/24",
                "#1 00:00:00.000 VI_1: removed 192.0.2.100/24",
                "#1 00:00:00.000 drain (soft) of VI_1 by uid 0 (root) pid 1",
                "#1 00:00:00.000 resume of VI_1 by uid 0 (root) pid 1",
                "#1 00:00:00.000 reload by SIGHUP: applied (2 instance(s))",
                "#1 00:00:00.000 reload by SIGHUP: refused, running configuration kept: \
                 k.conf:4: `virtual_router_id` needs a value",
            ]
        );
    }
}
