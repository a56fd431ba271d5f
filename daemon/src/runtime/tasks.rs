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

/// How long a notification that systemd must not miss (READY=1, STOPPING=1, RELOADING=1)
/// may wait for room in a full notify socket. STATUS= and WATCHDOG=1 never wait: the next
/// one follows, and the protocol must not stall on them (a blocking send to a notify socket
/// nobody reads stopped the whole event loop, adverts and timers included, for good).
const NOTIFY_WAIT: Duration = Duration::from_millis(100);

pub(super) fn tell_systemd(state: &[sd_notify::NotifyState]) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let routine = state.iter().all(|s| {
        matches!(
            s,
            sd_notify::NotifyState::Status(_) | sd_notify::NotifyState::Watchdog
        )
    });
    let message: String = state.iter().map(|s| format!("{s}\n")).collect();
    let wait = (!routine).then_some(NOTIFY_WAIT);
    if let Err(e) = send_notification(&path, &message, wait) {
        tracing::debug!("sd_notify: {e}");
    }
}

/// Sends `message` to the notify socket at `path` (`@name`: abstract), waiting at most
/// `wait` for room (`None`: not at all).
fn send_notification(
    path: &std::ffi::OsStr,
    message: &str,
    wait: Option<Duration>,
) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let socket = UnixDatagram::unbound()?;
    match path.as_bytes().strip_prefix(b"@") {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            socket.connect_addr(&SocketAddr::from_abstract_name(name)?)?;
        }
        None => socket.connect(path)?,
    }
    match wait {
        Some(wait) => socket.set_write_timeout(Some(wait))?,
        None => socket.set_nonblocking(true)?,
    }
    let sent = socket.send(message.as_bytes())?;
    if sent != message.len() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::WriteZero,
            "notification cut short",
        ));
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;

    #[test]
    fn a_notify_socket_nobody_reads_never_blocks_the_event_loop() {
        let dir = std::env::temp_dir().join(format!("vipd-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixDatagram::bind(&path).unwrap();
        let (done, finished) = std::sync::mpsc::channel();
        let sender_path = path.clone();
        std::thread::spawn(move || {
            // Far more than a unix socket queues (net.unix.max_dgram_qlen, 10 by default).
            let results: Vec<bool> = (0..200)
                .map(|i| {
                    let line = format!("STATUS={i} MASTER\n");
                    send_notification(sender_path.as_os_str(), &line, None).is_ok()
                })
                .collect();
            let important = send_notification(
                sender_path.as_os_str(),
                "STOPPING=1\n",
                Some(Duration::from_millis(20)),
            );
            let _ = done.send((results, important.is_ok()));
        });
        let (results, important) = finished
            .recv_timeout(Duration::from_secs(30))
            .expect("sending to a full notify socket blocked");
        assert!(results[0], "the first status fits");
        assert!(results.iter().any(|ok| !ok), "the queue filled up");
        assert!(!important, "a full queue past the wait is an error");
        let mut buffer = [0u8; 64];
        let n = listener.recv(&mut buffer).unwrap();
        assert_eq!(&buffer[..n], b"STATUS=0 MASTER\n");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
