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
use crate::control::DEFAULT_SOCKET;
use crate::net::monitor::Monitor;

pub(super) async fn next_check_event(
    rx: &mut Option<mpsc::Receiver<CheckEvent>>,
) -> Option<CheckEvent> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
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

pub(super) fn spawn_control(listener: UnixListener, tx: mpsc::Sender<Event>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
                let (read, mut write) = stream.into_split();
                let mut line = String::new();
                let mut reader = BufReader::new(read.take(256));
                let got =
                    tokio::time::timeout(Duration::from_secs(2), reader.read_line(&mut line)).await;
                if !matches!(got, Ok(Ok(_))) || line.trim() != "status" {
                    let _ = write.write_all(b"{\"error\":\"unknown request\"}\n").await;
                    return;
                }
                let (reply_tx, reply_rx) = oneshot::channel();
                if tx.send(Event::Status(reply_tx)).await.is_err() {
                    return;
                }
                if let Ok(report) = reply_rx.await {
                    if let Ok(json) = serde_json::to_vec(&report) {
                        let _ = write.write_all(&json).await;
                    }
                }
            });
        }
    })
}
