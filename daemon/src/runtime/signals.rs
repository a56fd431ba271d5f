//! SIGTERM, SIGINT and SIGHUP as one stream, in the order they arrived.
//!
//! One stream per signal (tokio's) loses the order between them: a SIGHUP and a SIGTERM that
//! arrive together become ready in the same turn and `select!` picks one at random, so a
//! stop could be taken for a reload. Here the signal handler writes the signal's number to a
//! socket pair; the event loop reads everything that has arrived at once and acts on it in
//! order, where a stop anywhere in a batch wins over a reload in it.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use tokio::net::UnixStream;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaemonSignal {
    Terminate,
    Interrupt,
    Hangup,
}

impl DaemonSignal {
    const ALL: [DaemonSignal; 3] = [
        DaemonSignal::Terminate,
        DaemonSignal::Interrupt,
        DaemonSignal::Hangup,
    ];

    fn number(self) -> libc::c_int {
        match self {
            DaemonSignal::Terminate => libc::SIGTERM,
            DaemonSignal::Interrupt => libc::SIGINT,
            DaemonSignal::Hangup => libc::SIGHUP,
        }
    }

    fn of_number(number: u8) -> Option<DaemonSignal> {
        Self::ALL
            .into_iter()
            .find(|s| s.number() == libc::c_int::from(number))
    }

    pub fn name(self) -> &'static str {
        match self {
            DaemonSignal::Terminate => "SIGTERM",
            DaemonSignal::Interrupt => "SIGINT",
            DaemonSignal::Hangup => "SIGHUP",
        }
    }

    fn stops(self) -> bool {
        self != DaemonSignal::Hangup
    }
}

/// What the daemon does for a batch of signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Begin (or, the second time, hurry) the stop; the signal's name is for the log.
    Stop(&'static str),
    Reload,
}

/// The steps for signals that arrived together, in their order. A reload is pointless when
/// the daemon stops anyway (and would start instances again in the middle of a handover):
/// with a stop in the batch its SIGHUPs are dropped; several SIGHUPs reload once.
pub fn steps(batch: &[DaemonSignal]) -> Vec<Step> {
    let stopping = batch.iter().any(|s| s.stops());
    let mut steps = Vec::new();
    for signal in batch {
        if signal.stops() {
            steps.push(Step::Stop(signal.name()));
        } else if !stopping && !steps.contains(&Step::Reload) {
            steps.push(Step::Reload);
        }
    }
    steps
}

pub struct Signals {
    read: UnixStream,
    /// The write end, used by the handlers; kept open for as long as they are registered.
    _write: OwnedFd,
    /// Signals whose byte did not fit into the socket (bit = signal number): never lost.
    overflow: Arc<AtomicU32>,
    ids: Vec<signal_hook_registry::SigId>,
}

impl Signals {
    /// Must be called inside the tokio runtime.
    pub fn new() -> io::Result<Signals> {
        let (read, write) = StdUnixStream::pair()?;
        read.set_nonblocking(true)?;
        write.set_nonblocking(true)?;
        let read = UnixStream::from_std(read)?;
        let write = OwnedFd::from(write);
        let overflow = Arc::new(AtomicU32::new(0));
        let mut ids = Vec::new();
        for signal in DaemonSignal::ALL {
            let number = signal.number();
            let fd = write.as_raw_fd();
            let lost = overflow.clone();
            let byte = [number as u8];
            let action = move || {
                // SAFETY: write(2) is async-signal-safe; `fd` stays open while the action
                // is registered (unregistered in Drop before the OwnedFd closes).
                let n = unsafe { libc::write(fd, byte.as_ptr().cast(), 1) };
                if n != 1 {
                    lost.fetch_or(1 << number, Ordering::SeqCst);
                }
            };
            // SAFETY: the action only calls write(2) and an atomic operation.
            let id = unsafe { signal_hook_registry::register(number, action) }
                .map_err(|e| io::Error::other(format!("{}: {e}", signal.name())))?;
            ids.push(id);
        }
        Ok(Signals {
            read,
            _write: write,
            overflow,
            ids,
        })
    }

    /// Waits for a signal, then returns every signal that has arrived so far, oldest first.
    /// Cancel safe: nothing is read before the whole batch is returned.
    pub async fn next(&mut self) -> Vec<DaemonSignal> {
        loop {
            let mut batch = Vec::new();
            if self.read.readable().await.is_err() {
                return std::future::pending().await;
            }
            let mut buffer = [0u8; 64];
            loop {
                match self.read.try_read(&mut buffer) {
                    Ok(0) => break,
                    Ok(n) => batch.extend(
                        buffer[..n]
                            .iter()
                            .filter_map(|b| DaemonSignal::of_number(*b)),
                    ),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => break,
                }
            }
            let lost = self.overflow.swap(0, Ordering::SeqCst);
            batch.extend(
                DaemonSignal::ALL
                    .into_iter()
                    .filter(|s| lost & (1 << s.number()) != 0),
            );
            if !batch.is_empty() {
                return batch;
            }
        }
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook_registry::unregister(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DaemonSignal::{Hangup, Interrupt, Terminate};

    #[test]
    fn a_stop_in_a_batch_wins_over_a_reload_before_or_after_it() {
        assert_eq!(steps(&[Hangup, Terminate]), [Step::Stop("SIGTERM")]);
        assert_eq!(steps(&[Terminate, Hangup]), [Step::Stop("SIGTERM")]);
        assert_eq!(steps(&[Hangup, Interrupt]), [Step::Stop("SIGINT")]);
    }

    #[test]
    fn stops_keep_their_order_and_repeats_and_reloads_merge() {
        assert_eq!(
            steps(&[Terminate, Hangup, Hangup, Terminate]),
            [Step::Stop("SIGTERM"), Step::Stop("SIGTERM")]
        );
        assert_eq!(steps(&[Hangup, Hangup]), [Step::Reload]);
        assert_eq!(steps(&[]), []);
    }

    #[test]
    fn signals_arrive_in_the_order_they_were_raised() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut signals = Signals::new().unwrap();
            // SAFETY: raise(3) to this thread; the handlers above are registered.
            unsafe {
                libc::raise(libc::SIGHUP);
                libc::raise(libc::SIGTERM);
                libc::raise(libc::SIGHUP);
            }
            let mut got = Vec::new();
            while got.len() < 3 {
                got.extend(signals.next().await);
            }
            assert_eq!(got, [Hangup, Terminate, Hangup]);
        });
    }
}
