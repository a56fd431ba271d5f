//! The signals vipd acts on, as one stream in the order they arrived.
//!
//! One stream per signal (tokio's) loses the order between them: a SIGHUP and a SIGTERM that
//! arrive together become ready in the same turn and `select!` picks one at random, so a
//! stop could be taken for a reload. Here the signal handler writes the signal's number to a
//! socket pair; the event loop reads everything that has arrived at once and acts on it in
//! order, where a stop anywhere in a batch wins over a reload in it.
//!
//! Besides SIGTERM/SIGINT (stop) and SIGHUP (reload) these are keepalived's operational
//! signals, which runbooks, cron jobs and exporters send to a drop-in (`keepalived
//! --signum=NAME` numbers them, Debian's keepalived 2.2.7: DATA 10, STATS 12, JSON 36,
//! STATS_CLEAR 63), and the signals keepalived ignores whose default action would end vipd
//! without a handover. All are caught, not ignored, so the scripts vipd starts get them at
//! their default again.
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::net::UnixStream;

use crate::control::dumps::DumpKind;

/// keepalived's JSON signal: SIGRTMIN+2 in glibc's numbering (`keepalived --signum=JSON`).
/// A number, not `SIGRTMIN() + 2`: musl's SIGRTMIN is 35, and the tools send 36.
pub const SIG_JSON: libc::c_int = 36;
/// keepalived's STATS_CLEAR: SIGRTMAX-1 (`keepalived --signum=STATS_CLEAR`).
pub const SIG_STATS_CLEAR: libc::c_int = 63;

/// Signals keepalived 2.2.7 ignores whose default action ends a process (or dumps core):
/// caught and logged, so that vipd survives them as keepalived does. Job control (SIGTSTP,
/// SIGTTIN, SIGTTOU) and the signals of a fault (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT,
/// SIGTRAP, SIGSYS) keep their default; SIGPIPE is ignored by Rust's runtime, SIGCHLD, SIGURG
/// and SIGWINCH are ignored by default.
fn ignored_numbers() -> impl Iterator<Item = libc::c_int> {
    [
        libc::SIGQUIT,
        libc::SIGALRM,
        libc::SIGSTKFLT,
        libc::SIGXCPU,
        libc::SIGXFSZ,
        libc::SIGVTALRM,
        libc::SIGPROF,
        libc::SIGIO,
        libc::SIGPWR,
    ]
    .into_iter()
    // The real-time signals keepalived does not use (34..=64 in glibc's numbering). The C
    // libraries keep 32 and 33 for themselves, musl (the static build) 34 too: it refuses a
    // handler for it, so there 34 keeps its default.
    .chain((34..=64).filter(|n| ![SIG_JSON, SIG_STATS_CLEAR].contains(n)))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaemonSignal {
    Terminate,
    Interrupt,
    Hangup,
    /// SIGUSR1, SIGUSR2, SIGRTMIN+2: keepalived's dumps.
    Dump(DumpKind),
    /// SIGRTMAX-1: keepalived's stats clear.
    ClearStats,
    /// A signal keepalived ignores (its number).
    Ignored(u8),
}

impl DaemonSignal {
    const HANDLED: [DaemonSignal; 7] = [
        DaemonSignal::Terminate,
        DaemonSignal::Interrupt,
        DaemonSignal::Hangup,
        DaemonSignal::Dump(DumpKind::Data),
        DaemonSignal::Dump(DumpKind::Stats),
        DaemonSignal::Dump(DumpKind::Json),
        DaemonSignal::ClearStats,
    ];

    fn number(self) -> libc::c_int {
        match self {
            DaemonSignal::Terminate => libc::SIGTERM,
            DaemonSignal::Interrupt => libc::SIGINT,
            DaemonSignal::Hangup => libc::SIGHUP,
            DaemonSignal::Dump(DumpKind::Data) => libc::SIGUSR1,
            DaemonSignal::Dump(DumpKind::Stats) => libc::SIGUSR2,
            DaemonSignal::Dump(DumpKind::Json) => SIG_JSON,
            DaemonSignal::ClearStats => SIG_STATS_CLEAR,
            DaemonSignal::Ignored(n) => libc::c_int::from(n),
        }
    }

    fn of_number(number: u8) -> Option<DaemonSignal> {
        let number = libc::c_int::from(number);
        Self::HANDLED
            .into_iter()
            .find(|s| s.number() == number)
            .or_else(|| {
                ignored_numbers()
                    .find(|n| *n == number)
                    .and_then(|n| u8::try_from(n).ok())
                    .map(DaemonSignal::Ignored)
            })
    }

    pub fn name(self) -> String {
        signal_name(self.number())
    }

    fn stops(self) -> bool {
        matches!(self, DaemonSignal::Terminate | DaemonSignal::Interrupt)
    }
}

/// `SIGQUIT`, `SIGRTMIN+2`, `SIGRTMAX-1`: the names `kill -l` gives on glibc systems.
pub fn signal_name(number: libc::c_int) -> String {
    let fixed = match number {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGSTKFLT => "SIGSTKFLT",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGVTALRM => "SIGVTALRM",
        libc::SIGPROF => "SIGPROF",
        libc::SIGIO => "SIGIO",
        libc::SIGPWR => "SIGPWR",
        34 => "SIGRTMIN",
        64 => "SIGRTMAX",
        35..=49 => return format!("SIGRTMIN+{}", number - 34),
        50..=63 => return format!("SIGRTMAX-{}", 64 - number),
        _ => return format!("signal {number}"),
    };
    fixed.to_string()
}

/// What the daemon does for a batch of signals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Begin (or, the second time, hurry) the stop; the signal's name is for the log.
    Stop(&'static str),
    Reload,
    /// Write one of keepalived's dump files.
    Dump(DumpKind),
    /// Count the stats and JSON dumps from now on.
    ClearStats,
    /// Log and go on (the signal's name).
    Ignore(String),
}

/// The steps for signals that arrived together, in their order. A reload is pointless when
/// the daemon stops anyway (and would start instances again in the middle of a handover):
/// with a stop in the batch its SIGHUPs are dropped; several SIGHUPs reload once. Repeated
/// dumps, clears and ignored signals in one batch are done (and logged) once.
pub fn steps(batch: &[DaemonSignal]) -> Vec<Step> {
    let stopping = batch.iter().any(|s| s.stops());
    let mut steps = Vec::new();
    for signal in batch {
        let step = match signal {
            DaemonSignal::Terminate => {
                steps.push(Step::Stop("SIGTERM"));
                continue;
            }
            DaemonSignal::Interrupt => {
                steps.push(Step::Stop("SIGINT"));
                continue;
            }
            DaemonSignal::Hangup if stopping => continue,
            DaemonSignal::Hangup => Step::Reload,
            DaemonSignal::Dump(kind) => Step::Dump(*kind),
            DaemonSignal::ClearStats => Step::ClearStats,
            s => Step::Ignore(s.name()),
        };
        // A dump after a clear in the same batch counts from the clear: only the same step
        // since the last clear is a repeat.
        let since_clear = steps
            .iter()
            .rposition(|s| *s == Step::ClearStats)
            .map_or(0, |at| at + 1);
        if !steps[since_clear..].contains(&step) {
            steps.push(step);
        }
    }
    steps
}

pub struct Signals {
    read: UnixStream,
    /// The write end, used by the handlers; kept open for as long as they are registered.
    _write: OwnedFd,
    /// Signals whose byte did not fit into the socket (bit = signal number - 1): never lost.
    overflow: Arc<AtomicU64>,
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
        let overflow = Arc::new(AtomicU64::new(0));
        let mut ids = Vec::new();
        let handled = DaemonSignal::HANDLED
            .into_iter()
            .map(|s| (s.number(), true));
        let ignored = ignored_numbers().map(|n| (n, false));
        for (number, required) in handled.chain(ignored) {
            let fd = write.as_raw_fd();
            let lost = overflow.clone();
            let Ok(byte) = u8::try_from(number) else {
                continue;
            };
            let bit = 1u64 << (byte - 1);
            let action = move || {
                // SAFETY: write(2) is async-signal-safe; `fd` stays open while the action
                // is registered (unregistered in Drop before the OwnedFd closes).
                let n = unsafe { libc::write(fd, [byte].as_ptr().cast(), 1) };
                if n != 1 {
                    lost.fetch_or(bit, Ordering::SeqCst);
                }
            };
            // SAFETY: the action only calls write(2) and an atomic operation.
            match unsafe { signal_hook_registry::register(number, action) } {
                Ok(id) => ids.push(id),
                Err(e) if required => {
                    return Err(io::Error::other(format!("{}: {e}", signal_name(number))));
                }
                // A real-time signal the C library keeps for itself: nobody else can send it.
                Err(e) => tracing::debug!("{}: not caught: {e}", signal_name(number)),
            }
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
                (1..=64u8)
                    .filter(|n| lost & (1u64 << (n - 1)) != 0)
                    .filter_map(DaemonSignal::of_number),
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
    use DaemonSignal::{ClearStats, Dump, Hangup, Ignored, Interrupt, Terminate};
    use DumpKind::{Data, Json, Stats};

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
    fn dumps_keep_their_order_around_a_clear_and_repeats_merge() {
        assert_eq!(
            steps(&[
                Dump(Stats),
                Dump(Data),
                Dump(Stats),
                ClearStats,
                Dump(Stats)
            ]),
            [
                Step::Dump(Stats),
                Step::Dump(Data),
                Step::ClearStats,
                Step::Dump(Stats)
            ]
        );
        // A dump while stopping is still written; a reload is not done.
        assert_eq!(
            steps(&[Dump(Json), Hangup, Terminate]),
            [Step::Dump(Json), Step::Stop("SIGTERM")]
        );
        let quit = Ignored(libc::SIGQUIT as u8);
        assert_eq!(steps(&[quit, quit]), [Step::Ignore("SIGQUIT".to_string())]);
    }

    #[test]
    fn keepalived_signal_numbers_and_names() {
        // `keepalived --signum=DATA|STATS|JSON|STATS_CLEAR` of keepalived 2.2.7 (glibc).
        assert_eq!(DaemonSignal::of_number(10), Some(Dump(Data)));
        assert_eq!(DaemonSignal::of_number(12), Some(Dump(Stats)));
        assert_eq!(DaemonSignal::of_number(36), Some(Dump(Json)));
        assert_eq!(DaemonSignal::of_number(63), Some(ClearStats));
        assert_eq!(DaemonSignal::of_number(3), Some(Ignored(3)));
        assert_eq!(DaemonSignal::of_number(64), Some(Ignored(64)));
        // Faults and job control keep their default.
        for n in [libc::SIGSEGV, libc::SIGABRT, libc::SIGTSTP, libc::SIGCHLD] {
            assert_eq!(DaemonSignal::of_number(n as u8), None, "{n}");
        }
        assert_eq!(signal_name(36), "SIGRTMIN+2");
        assert_eq!(signal_name(63), "SIGRTMAX-1");
        assert_eq!(signal_name(64), "SIGRTMAX");
        assert_eq!(signal_name(34), "SIGRTMIN");
        assert_eq!(signal_name(libc::SIGPWR), "SIGPWR");
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
                libc::raise(libc::SIGUSR1);
                libc::raise(libc::SIGTERM);
                libc::raise(SIG_JSON);
                libc::raise(libc::SIGQUIT);
                libc::raise(libc::SIGHUP);
            }
            let mut got = Vec::new();
            while got.len() < 6 {
                got.extend(signals.next().await);
            }
            assert_eq!(
                got,
                [
                    Hangup,
                    Dump(Data),
                    Terminate,
                    Dump(Json),
                    Ignored(libc::SIGQUIT as u8),
                    Hangup
                ]
            );
        });
    }
}
