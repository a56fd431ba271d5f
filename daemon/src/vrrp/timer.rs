//! The named timers of one VRRP instance: a small table of optional deadlines.

use std::time::{Duration, Instant};

/// Every timer an instance can run. At most one deadline per timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Timer {
    /// Backup: the master is considered gone when this fires.
    MasterDown,
    /// Master: time to send the next periodic advert.
    Advert,
    /// Master: the second announcement burst after taking over.
    GarpDelay,
    /// Master: periodic re-announcement.
    GarpRefresh,
    /// Master: the second announcement burst after hearing a lower priority.
    GarpLowerPriority,
    /// Backup: until this passes, a lower priority master is not preempted.
    PreemptDelay,
    /// Master handing over: give up waiting for the new master when this fires.
    HandoverBound,
    /// Drained master (no other router was left): time to offer the role again.
    DrainProbe,
}

impl Timer {
    /// All timers, in the order they are handled when several expire at once.
    pub const ALL: [Timer; 8] = [
        Timer::HandoverBound,
        Timer::MasterDown,
        Timer::Advert,
        Timer::GarpDelay,
        Timer::GarpRefresh,
        Timer::GarpLowerPriority,
        Timer::PreemptDelay,
        Timer::DrainProbe,
    ];

    fn slot(self) -> usize {
        match self {
            Timer::MasterDown => 0,
            Timer::Advert => 1,
            Timer::GarpDelay => 2,
            Timer::GarpRefresh => 3,
            Timer::PreemptDelay => 4,
            Timer::HandoverBound => 5,
            Timer::GarpLowerPriority => 6,
            Timer::DrainProbe => 7,
        }
    }
}

/// Deadlines of the named timers. The earliest one is kept aside: the event loop asks for it
/// several times per advert (51,000 adverts a second at 510 instances), and timers change
/// far less often than that. `armed` has a bit per armed slot, so that finding the earliest
/// again after a change looks only at the timers that run (one on a backup, one or two on a
/// master).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TimerTable {
    deadlines: [Option<Instant>; Timer::ALL.len()],
    /// Bit `slot` set: `deadlines[slot]` is armed.
    armed: u8,
    /// The earliest armed deadline.
    next: Option<Instant>,
}

impl TimerTable {
    /// Arms `timer` to fire at `deadline`, replacing any earlier setting.
    pub fn set(&mut self, timer: Timer, deadline: Instant) {
        let slot = timer.slot();
        let replaced = self.deadlines[slot].replace(deadline);
        // The only one armed (a backup's Master_Down, set again with every advert heard).
        if self.armed & !(1 << slot) == 0 {
            self.armed = 1 << slot;
            self.next = Some(deadline);
            return;
        }
        self.armed |= 1 << slot;
        match (replaced, self.next) {
            // Earlier than every other: it is the earliest now.
            (_, Some(next)) if deadline <= next => self.next = Some(deadline),
            (_, None) => self.next = Some(deadline),
            // Later than the earliest, which it was not: nothing else moved.
            (Some(old), Some(next)) if old > next => {}
            (None, Some(_)) => {}
            // It was the earliest and moved later.
            _ => self.refresh_next(),
        }
    }

    /// Arms `timer` at `deadline` unless it already fires earlier.
    pub fn set_at_most(&mut self, timer: Timer, deadline: Instant) {
        match self.get(timer) {
            Some(current) if current <= deadline => {}
            _ => self.set(timer, deadline),
        }
    }

    pub fn stop(&mut self, timer: Timer) {
        let slot = timer.slot();
        self.armed &= !(1 << slot);
        if self.deadlines[slot].take() == self.next {
            self.refresh_next();
        }
    }

    pub fn stop_all(&mut self) {
        *self = TimerTable::default();
    }

    pub fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines[timer.slot()]
    }

    pub fn is_running(&self, timer: Timer) -> bool {
        self.get(timer).is_some()
    }

    /// True if `timer` is armed and its deadline is at or before `now`.
    pub fn is_expired(&self, timer: Timer, now: Instant) -> bool {
        self.get(timer).is_some_and(|deadline| deadline <= now)
    }

    /// The earliest armed deadline.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.next
    }

    /// Stops and returns the first expired timer (in [`Timer::ALL`] order).
    pub fn take_expired(&mut self, now: Instant) -> Option<Timer> {
        if self.next.is_none_or(|next| next > now) {
            return None;
        }
        let timer = Timer::ALL
            .into_iter()
            .find(|timer| self.is_expired(*timer, now))?;
        self.stop(timer);
        Some(timer)
    }

    fn refresh_next(&mut self) {
        let mut bits = self.armed;
        let mut next: Option<Instant> = None;
        while bits != 0 {
            let slot = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            if let Some(at) = self.deadlines.get(slot).copied().flatten() {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        self.next = next;
    }
}

/// `now + delay`, saturating a century ahead instead of panicking on overflow: delays come
/// from configuration and from the network and may be as large as their types allow.
pub fn deadline_after(now: Instant, delay: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    // A monotonic clock a century ahead cannot overflow; `now` only guards the impossible.
    now.checked_add(delay.min(CENTURY)).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_saturate_instead_of_overflowing() {
        let t0 = Instant::now();
        assert_eq!(
            deadline_after(t0, Duration::from_millis(5)),
            t0 + Duration::from_millis(5)
        );
        for huge in [Duration::MAX, Duration::from_secs(u64::MAX)] {
            let at = deadline_after(t0, huge);
            assert!(at > t0 + Duration::from_secs(50 * 365 * 24 * 3600));
        }
    }

    #[test]
    fn set_stop_next_and_expiry() {
        let t0 = Instant::now();
        let mut timers = TimerTable::default();
        assert_eq!(timers.next_timeout(), None);

        timers.set(Timer::Advert, t0 + Duration::from_millis(100));
        timers.set(Timer::MasterDown, t0 + Duration::from_millis(50));
        assert_eq!(timers.next_timeout(), Some(t0 + Duration::from_millis(50)));
        assert!(!timers.is_expired(Timer::MasterDown, t0 + Duration::from_millis(49)));
        assert!(timers.is_expired(Timer::MasterDown, t0 + Duration::from_millis(50)));

        timers.stop(Timer::MasterDown);
        assert!(!timers.is_running(Timer::MasterDown));
        assert_eq!(timers.next_timeout(), Some(t0 + Duration::from_millis(100)));

        timers.stop_all();
        assert_eq!(timers.next_timeout(), None);
    }

    #[test]
    fn set_at_most_keeps_the_earlier_deadline() {
        let t0 = Instant::now();
        let mut timers = TimerTable::default();
        timers.set_at_most(Timer::MasterDown, t0 + Duration::from_millis(300));
        timers.set_at_most(Timer::MasterDown, t0 + Duration::from_millis(400));
        assert_eq!(
            timers.get(Timer::MasterDown),
            Some(t0 + Duration::from_millis(300))
        );
        timers.set_at_most(Timer::MasterDown, t0 + Duration::from_millis(60));
        assert_eq!(
            timers.get(Timer::MasterDown),
            Some(t0 + Duration::from_millis(60))
        );
    }

    #[test]
    fn the_kept_earliest_deadline_is_always_the_earliest_armed_one() {
        let t0 = Instant::now();
        let mut timers = TimerTable::default();
        // Every mix of set, set_at_most, stop and take_expired, against a scan of all.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next_random = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let r = next_random();
            let timer = Timer::ALL[(r % 8) as usize];
            let at = t0 + Duration::from_millis((r >> 8) % 50);
            match (r >> 16) % 5 {
                0 | 1 => timers.set(timer, at),
                2 => timers.set_at_most(timer, at),
                3 => timers.stop(timer),
                _ => {
                    let first = Timer::ALL
                        .into_iter()
                        .find(|t| timers.get(*t).is_some_and(|d| d <= at));
                    assert_eq!(timers.take_expired(at), first);
                    assert!(first.is_none_or(|t| !timers.is_running(t)));
                }
            }
            let scanned = Timer::ALL.into_iter().filter_map(|t| timers.get(t)).min();
            assert_eq!(timers.next_timeout(), scanned);
        }
    }

    #[test]
    fn take_expired_follows_handling_order_and_stops() {
        let t0 = Instant::now();
        let mut timers = TimerTable::default();
        timers.set(Timer::PreemptDelay, t0);
        timers.set(Timer::MasterDown, t0 + Duration::from_millis(1));
        timers.set(Timer::Advert, t0 + Duration::from_secs(1));
        let now = t0 + Duration::from_millis(1);
        assert_eq!(timers.take_expired(now), Some(Timer::MasterDown));
        assert_eq!(timers.take_expired(now), Some(Timer::PreemptDelay));
        assert_eq!(timers.take_expired(now), None);
        assert!(timers.is_running(Timer::Advert));
    }
}
