//! The event loop's wake-up for protocol deadlines, on a timerfd.
//!
//! tokio's timer counts in whole milliseconds and rounds every deadline up, then sleeps in
//! `epoll_wait` with a millisecond timeout: a Master_Down or advert timer fired 1 to 2 ms
//! late, which at 10 ms adverts is 10-20 % of an interval and shows directly in the time a
//! client waits after a master's link goes down. A timerfd armed for the deadline wakes the
//! same `epoll_wait` within microseconds (an hrtimer without timer slack). Should the kernel
//! refuse a timerfd, tokio's timer does the job as before.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use tokio::io::unix::AsyncFd;

pub struct DeadlineTimer {
    fd: Option<AsyncFd<OwnedFd>>,
    /// The deadline the timerfd is armed for (None: disarmed or already read).
    armed: Option<Instant>,
}

impl DeadlineTimer {
    /// Must be called inside the tokio runtime (the fd registers with its reactor).
    pub fn new() -> DeadlineTimer {
        let fd = match timerfd() {
            Ok(fd) => Some(fd),
            Err(e) => {
                tracing::warn!("timerfd: {e}; protocol timers fall back to 1 ms resolution");
                None
            }
        };
        DeadlineTimer { fd, armed: None }
    }

    /// Returns once `deadline` has passed, or earlier when the timer is still armed for an
    /// earlier deadline (the caller checks what is due and calls again); never when there is
    /// none. A backup's deadline moves later with every advert it hears: keeping the earlier
    /// setting costs one wake-up per Master_Down_Interval instead of a system call per advert.
    /// Cancel safe: dropping the future leaves the timer armed.
    pub async fn wait(&mut self, deadline: Option<Instant>) {
        let Some(deadline) = deadline else {
            return std::future::pending().await;
        };
        let Some(fd) = &self.fd else {
            return tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)).await;
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        if self.armed.is_none_or(|armed| armed > deadline) {
            if let Err(e) = arm(fd.get_ref(), left) {
                tracing::debug!("timerfd_settime: {e}");
                return tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)).await;
            }
            self.armed = Some(deadline);
        }
        loop {
            let Ok(mut guard) = fd.readable().await else {
                return tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)).await;
            };
            match guard.try_io(|fd| expirations(fd.get_ref())) {
                Ok(_) => {
                    self.armed = None;
                    return;
                }
                // Readiness left over from an expiry that a re-arm cancelled.
                Err(_would_block) => continue,
            }
        }
    }
}

fn timerfd() -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: plain timerfd_create(2); the result is checked before being owned.
    let raw = unsafe {
        libc::timerfd_create(
            libc::CLOCK_MONOTONIC,
            libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: the OwnedFd moves into the AsyncFd and stays open for its whole lifetime.
    Ok(unsafe { AsyncFd::register(fd) }?)
}

/// One-shot expiry `left` from now (std's `Instant` is CLOCK_MONOTONIC too, and a relative
/// setting started after `Instant::now()` was read can only fire late, never early).
fn arm(fd: &OwnedFd, left: Duration) -> io::Result<()> {
    let value = libc::itimerspec {
        it_interval: libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: libc::timespec {
            // A year is as good as forever here and fits any time_t.
            tv_sec: left.as_secs().min(366 * 86_400) as _,
            // A zero value would disarm the timer.
            tv_nsec: left.subsec_nanos().max(1) as _,
        },
    };
    // SAFETY: a valid timerfd and a valid itimerspec; the old value is not asked for.
    let rc = unsafe { libc::timerfd_settime(fd.as_raw_fd(), 0, &value, std::ptr::null_mut()) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Reads the expiry count, which also clears the fd's readiness.
fn expirations(fd: &OwnedFd) -> io::Result<u64> {
    let mut count = [0u8; 8];
    // SAFETY: reading at most 8 bytes into an 8-byte buffer.
    let n = unsafe { libc::read(fd.as_raw_fd(), count.as_mut_ptr().cast(), count.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(u64::from_ne_bytes(count))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn a_later_deadline_wakes_at_the_armed_one_first() {
        runtime().block_on(async {
            let mut timer = DeadlineTimer::new();
            let near = Instant::now() + Duration::from_millis(300);
            let far = near + Duration::from_secs(60);
            let cancelled = tokio::time::timeout(Duration::from_millis(5), timer.wait(Some(near)));
            assert!(cancelled.await.is_err());
            // Still armed for `near`: waiting for `far` returns once `near` passed.
            let woke = tokio::time::timeout(Duration::from_secs(5), timer.wait(Some(far))).await;
            assert!(woke.is_ok() && Instant::now() >= near);
        });
    }

    #[test]
    fn wakes_after_the_deadline_never_before() {
        runtime().block_on(async {
            let mut timer = DeadlineTimer::new();
            assert!(timer.fd.is_some(), "timerfd available on Linux");
            for micros in [300u64, 1500, 2500] {
                let deadline = Instant::now() + Duration::from_micros(micros);
                timer.wait(Some(deadline)).await;
                assert!(Instant::now() >= deadline);
            }
        });
    }

    #[test]
    fn a_passed_deadline_returns_at_once_and_none_never() {
        runtime().block_on(async {
            let mut timer = DeadlineTimer::new();
            timer.wait(Some(Instant::now())).await;
            let never = tokio::time::timeout(Duration::from_millis(20), timer.wait(None)).await;
            assert!(never.is_err());
        });
    }

    #[test]
    fn a_dropped_wait_keeps_working_for_a_later_deadline() {
        runtime().block_on(async {
            let mut timer = DeadlineTimer::new();
            let far = Instant::now() + Duration::from_secs(60);
            let cancelled = tokio::time::timeout(Duration::from_millis(5), timer.wait(Some(far)));
            assert!(cancelled.await.is_err());
            let near = Instant::now() + Duration::from_millis(2);
            timer.wait(Some(near)).await;
            assert!(Instant::now() >= near);
        });
    }
}
