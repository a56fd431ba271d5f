//! The client side of the control socket, used by `vipd status`, `drain`, `resume`,
//! `reload` and `events`.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use super::events::EventRecord;
use super::protocol::{ChangeReply, ErrorReply, Hello, Request};
use super::StatusReport;

/// Time the daemon has to answer a request (it answers at once unless something is wrong).
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest reply read (a status report of many instances is a few hundred KiB at most).
const MAX_REPLY_BYTES: u64 = 64 * 1024 * 1024;

/// How long a client keeps trying while the daemon serves as many clients as it takes. A
/// connection the daemon has waited on for 250 ms gives up its slot to a newcomer
/// (`control::evict`), so only 16 clients all served or connected within the last 250 ms
/// make it wait at all.
const BUSY_RETRY_FOR: Duration = Duration::from_secs(6);

/// Why one attempt failed: `Busy` (turned away or dropped unread because the daemon serves
/// its maximum of clients: nothing was done, try again) or any other error.
#[derive(Debug, PartialEq, Eq)]
enum Failure {
    Busy(String),
    Other(String),
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure::Other(message)
    }
}

fn connect(socket: &Path, request: &Request) -> Result<UnixStream, Failure> {
    let mut stream = UnixStream::connect(socket).map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::PermissionDenied => {
                " (root or a member of the daemon's control_group may use it)"
            }
            _ => " (is vipd running?)",
        };
        format!("cannot connect to {}: {e}{hint}", socket.display())
    })?;
    let timeout = Some(REPLY_TIMEOUT);
    stream
        .set_read_timeout(timeout)
        .and_then(|()| stream.set_write_timeout(timeout))
        .map_err(|e| format!("{}: {e}", socket.display()))?;
    // A daemon that refuses us may close before taking the request; its reply says why.
    if let Err(e) = stream.write_all(request.to_line().as_bytes()) {
        let mut reply = String::new();
        let _ = (&stream).take(64 * 1024).read_to_string(&mut reply);
        refused(&reply)?;
        return Err(dropped(socket, &e));
    }
    Ok(stream)
}

/// A connection the daemon closed without a word: it was turning away more clients than it
/// answers (see the server's refusal limit), so nothing was done.
fn dropped(socket: &Path, e: &std::io::Error) -> Failure {
    let message = format!("{}: {e}", socket.display());
    match e.kind() {
        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe => {
            Failure::Busy(message)
        }
        _ => Failure::Other(message),
    }
}

/// Sends `request` and reads the whole reply, trying again for a while when the daemon is
/// busy with other clients.
fn exchange(socket: &Path, request: &Request) -> Result<String, String> {
    let deadline = Instant::now() + BUSY_RETRY_FOR;
    let mut pause = Duration::from_millis(20);
    loop {
        match exchange_once(socket, request) {
            Ok(body) => return Ok(body),
            Err(Failure::Busy(_)) if Instant::now() + pause < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(400));
            }
            Err(Failure::Busy(message) | Failure::Other(message)) => return Err(message),
        }
    }
}

fn exchange_once(socket: &Path, request: &Request) -> Result<String, Failure> {
    let stream = connect(socket, request)?;
    let mut body = String::new();
    if let Err(e) = stream.take(MAX_REPLY_BYTES).read_to_string(&mut body) {
        return Err(match dropped(socket, &e) {
            Failure::Busy(m) if body.is_empty() => Failure::Busy(format!("reading the reply: {m}")),
            Failure::Busy(m) | Failure::Other(m) => {
                Failure::Other(format!("{}: reading the reply: {m}", socket.display()))
            }
        });
    }
    if body.is_empty() {
        return Err(Failure::Busy(format!(
            "{}: vipd closed the connection without a reply",
            socket.display()
        )));
    }
    refused(&body)?;
    Ok(body)
}

/// An `{"error": ...}` reply becomes the error message; "busy" ones can be tried again.
fn refused(line: &str) -> Result<(), Failure> {
    match serde_json::from_str::<ErrorReply>(line.trim()) {
        Ok(reply) if reply.error.starts_with("busy") => {
            Err(Failure::Busy(format!("vipd refused: {}", reply.error)))
        }
        Ok(reply) => Err(Failure::Other(format!("vipd refused: {}", reply.error))),
        Err(_) => Ok(()),
    }
}

fn message(failure: Failure) -> String {
    match failure {
        Failure::Busy(m) | Failure::Other(m) => m,
    }
}

/// Asks the daemon listening on `socket` for its status.
pub fn request_status(socket: &Path) -> Result<StatusReport, String> {
    let body = exchange(socket, &Request::Status)?;
    serde_json::from_str(&body).map_err(|e| format!("{}: malformed reply: {e}", socket.display()))
}

/// Sends a drain, resume or reload. A reply with `ok: false` is an error.
pub fn request_change(socket: &Path, request: &Request) -> Result<ChangeReply, String> {
    let body = exchange(socket, request)?;
    let reply: ChangeReply = serde_json::from_str(&body)
        .map_err(|e| format!("{}: malformed reply: {e}", socket.display()))?;
    if reply.ok {
        Ok(reply)
    } else {
        Err(reply.message)
    }
}

/// Follows the event stream: `on_hello` once, then `on_event` per event until it returns
/// false or the daemon goes away.
pub fn follow_events(
    socket: &Path,
    snapshot: bool,
    mut on_hello: impl FnMut(Hello),
    mut on_event: impl FnMut(EventRecord) -> bool,
) -> Result<(), String> {
    let stream = connect(socket, &Request::Events { snapshot }).map_err(message)?;
    // Events may be minutes apart: only the hello is bounded in time.
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader
        .read_line(&mut line)
        .map_err(|e| format!("{}: reading the reply: {e}", socket.display()))?;
    refused(&line).map_err(message)?;
    let hello: Hello = serde_json::from_str(&line)
        .map_err(|e| format!("{}: malformed reply: {e}", socket.display()))?;
    on_hello(hello);
    reader
        .get_ref()
        .set_read_timeout(None)
        .map_err(|e| e.to_string())?;
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => return Err("vipd closed the event stream (stopped?)".into()),
            Ok(_) => {}
            Err(e) => return Err(format!("{}: {e}", socket.display())),
        }
        refused(&line).map_err(message)?;
        let event: EventRecord = serde_json::from_str(&line)
            .map_err(|e| format!("{}: malformed event: {e}", socket.display()))?;
        if !on_event(event) {
            return Ok(());
        }
    }
}

/// Renders a report as the human-readable table `vipd status` prints.
pub fn render_text(report: &StatusReport) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "vipd {}pid {} config {}\n",
        if report.version.is_empty() {
            String::new()
        } else {
            format!("{} ", report.version)
        },
        report.pid,
        report.config
    ));
    for i in &report.instances {
        let drained = match &i.drained {
            Some(d) => format!(
                "  DRAINED ({} since {}, by {})",
                d.mode,
                super::utc_time(d.since),
                d.by
            ),
            None => String::new(),
        };
        out.push_str(&format!(
            "instance {} ({} vrid {} v{}): {}{drained}  priority {}/{}  master {}  advert {} ms  transitions {}\n",
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
        if i.drained.is_some() {
            out.push_str(&format!(
                "  advertising priority {} while drained\n",
                i.advertised_priority
            ));
        }
        if let Some(reason) = &i.last_transition_reason {
            out.push_str(&format!("  last transition: {reason}\n"));
        }
        if let Some(ms) = i.last_handover_ms {
            out.push_str(&format!("  last handover: {ms:.1} ms\n"));
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
        for forward in &i.forwards {
            out.push_str(&format!("  forward: {forward}\n"));
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
    for f in &report.notify_fifos {
        out.push_str(&format!(
            "{} {}: written {}  dropped (full) {}\n",
            f.fifo, f.path, f.written, f.dropped
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{DrainStatus, InstanceStatus};
    use super::*;

    #[test]
    fn a_drained_instance_says_so_and_who_asked() {
        let report = StatusReport {
            instances: vec![InstanceStatus {
                name: "VI_1".into(),
                state: "BACKUP".into(),
                advertised_priority: 1,
                drained: Some(DrainStatus {
                    mode: "soft".into(),
                    since: 0,
                    by: "uid 0 (root) pid 9".into(),
                }),
                ..Default::default()
            }],
            ..Default::default()
        };
        let text = render_text(&report);
        assert!(
            text.contains(
                "BACKUP  DRAINED (soft since 1970-01-01 00:00:00 UTC, by uid 0 (root) pid 9)"
            ),
            "{text}"
        );
        assert!(
            text.contains("advertising priority 1 while drained"),
            "{text}"
        );
    }

    #[test]
    fn each_notify_fifo_shows_lines_written_and_dropped() {
        let report = StatusReport {
            notify_fifos: vec![crate::services::notify_fifo::NotifyFifoStats {
                fifo: "notify_fifo".into(),
                path: "/run/k.fifo".into(),
                written: 12,
                dropped: 3,
            }],
            ..Default::default()
        };
        let text = render_text(&report);
        assert!(
            text.contains("notify_fifo /run/k.fifo: written 12  dropped (full) 3"),
            "{text}"
        );
        assert!(!render_text(&StatusReport::default()).contains("fifo"));
    }

    #[test]
    fn error_replies_become_errors() {
        assert_eq!(
            refused("{\"error\":\"permission denied\"}\n"),
            Err(Failure::Other("vipd refused: permission denied".into()))
        );
        assert_eq!(
            refused("{\"error\":\"busy: too many clients, try again\"}\n"),
            Err(Failure::Busy(
                "vipd refused: busy: too many clients, try again".into()
            ))
        );
        assert_eq!(refused("{\"pid\":1}"), Ok(()));
    }
}
