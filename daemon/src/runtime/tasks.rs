//! The background tasks that feed the daemon's event channel (the netlink monitor, the
//! control socket server; socket readers are in `receive`) and small helpers for the event
//! loop.

use std::path::Path;
use std::time::Duration;

use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::warn;

use super::Event;
use crate::check::CheckEvent;
use crate::control::{self, DEFAULT_SOCKET};
use crate::net::monitor::Monitor;

pub(super) async fn next_check_event(
    rx: &mut Option<mpsc::Receiver<CheckEvent>>,
) -> Option<CheckEvent> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

pub(super) fn earliest(
    a: Option<tokio::time::Instant>,
    b: Option<tokio::time::Instant>,
) -> Option<tokio::time::Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Now plus `delay` on tokio's clock, saturating like the core's timers.
pub(super) fn tokio_deadline_after(delay: Duration) -> tokio::time::Instant {
    tokio::time::Instant::from_std(crate::vrrp::timer::deadline_after(
        std::time::Instant::now(),
        delay,
    ))
}

pub(super) async fn sleep(until: Option<tokio::time::Instant>) {
    match until {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

pub(super) fn tell_systemd(state: &[sd_notify::NotifyState]) {
    if let Err(e) = sd_notify::notify(state) {
        tracing::debug!("sd_notify: {e}");
    }
}

pub(super) fn tell_systemd_reloading() {
    match sd_notify::NotifyState::monotonic_usec_now() {
        Ok(now) => tell_systemd(&[sd_notify::NotifyState::Reloading, now]),
        Err(_) => tell_systemd(&[sd_notify::NotifyState::Reloading]),
    }
}

pub(super) fn spawn_monitor(mut monitor: Monitor, tx: mpsc::Sender<Event>) {
    tokio::spawn(async move {
        loop {
            match monitor.recv().await {
                Ok(event) => {
                    if tx.send(Event::Net(event)).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    warn!("netlink monitor: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
}

/// Binds the control socket, refusing to steal it from a live daemon.
pub(super) fn bind_control_socket(path: &Path) -> Result<UnixListener, String> {
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(format!(
            "control socket {} is in use by another vipd (pass --socket to run several)",
            path.display()
        ));
    }
    let _ = std::fs::remove_file(path);
    if let Some(dir) = path.parent() {
        if path == Path::new(DEFAULT_SOCKET) || !dir.exists() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
    }
    UnixListener::bind(path).map_err(|e| format!("cannot bind {}: {e}", path.display()))
}

/// Control connections served at once. A new one beyond this closes the oldest: clients
/// that connect and never write (or never read) cost a bounded number of tasks and
/// descriptors, and cannot keep a well-behaved client out.
const MAX_CONTROL_CONNECTIONS: usize = 32;
/// Bound on reading the request and on writing the reply of one connection.
const CONTROL_IO_TIMEOUT: Duration = Duration::from_secs(2);

pub(super) fn spawn_control(listener: UnixListener, tx: mpsc::Sender<Event>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut open: std::collections::VecDeque<tokio::task::AbortHandle> =
            std::collections::VecDeque::new();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            open.retain(|task| !task.is_finished());
            if open.len() >= MAX_CONTROL_CONNECTIONS {
                tracing::debug!("control socket: too many connections, closing the oldest");
                if let Some(oldest) = open.pop_front() {
                    oldest.abort();
                    // Let the runtime drop it (and close its descriptor) before the next
                    // accept: a flood of connections must not outpace the cleanup.
                    tokio::task::yield_now().await;
                }
            }
            let tx = tx.clone();
            let task = tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                let (read, mut write) = stream.into_split();
                let request =
                    tokio::time::timeout(CONTROL_IO_TIMEOUT, control::read_request(read)).await;
                let reply = match request {
                    Ok(Ok(control::Request::Status)) => {
                        let (reply_tx, reply_rx) = oneshot::channel();
                        if tx.send(Event::Status(reply_tx)).await.is_err() {
                            return;
                        }
                        match reply_rx.await.map(|report| serde_json::to_vec(&report)) {
                            Ok(Ok(json)) => json,
                            _ => return,
                        }
                    }
                    _ => b"{\"error\":\"unknown request\"}\n".to_vec(),
                };
                let _ = tokio::time::timeout(CONTROL_IO_TIMEOUT, write.write_all(&reply)).await;
            });
            open.push_back(task.abort_handle());
        }
    })
}
