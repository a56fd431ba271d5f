//! The background tasks that feed the daemon's event channel (the netlink monitor; socket
//! readers are in `receive`, the control socket server in `control::server`) and small
//! helpers for the event loop.

use std::time::Duration;

use tokio::sync::mpsc;
use tracing::warn;

use super::Event;
use crate::check::CheckEvent;
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
