//! The background tasks that feed the daemon's event channel (socket readers, the netlink
//! monitor) and small helpers for the event loop. The control socket server lives in
//! `control::server`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::warn;

use super::router::SocketKey;
use super::Event;
use crate::check::CheckEvent;
use crate::net::monitor::Monitor;
use crate::net::socket::VrrpSocket;

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

pub(super) fn spawn_reader(
    socket: Arc<VrrpSocket>,
    key: SocketKey,
    tx: mpsc::Sender<Event>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match socket.recv().await {
                Ok(received) => {
                    if tx.send(Event::Packet(key.clone(), received)).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::debug!("receive on {}: {e}", key.interface);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    })
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
