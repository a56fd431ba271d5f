//! Which instances the event loop has to look at after a wake-up, so that the work of one
//! wake-up follows what happened rather than the number of instances.
//!
//! With 510 instances at 10 ms adverts the loop wakes thousands of times a second for one or
//! a few adverts each; walking every instance for its next deadline and its queued actions on
//! each wake-up was most of the daemon's own CPU time. Every change to an instance's state
//! machine marks that instance: `Router::fsm_mut`, the only way to change one, does it, so no
//! path can forget. Besides, everything outside the hot path (netlink events, checks,
//! commands, reloads, signals) marks all of them, for what is derived from all instances
//! (their sources, the list itself), and the next look walks them all as before.
//!
//! Deadlines sit in a min-heap of (deadline, instance) entries, at most one live entry per
//! instance, checked on use. A backup's deadline moves later with every advert it hears
//! (51,000 a second at 510 instances): its entry then stays where it is, and only when its
//! time comes is it moved to the instance's deadline of that moment, once per
//! Master_Down_Interval rather than once per advert (moving it as soon as it reached the top
//! of the heap was a sift down per advert, 8 % of a backup's instructions at 255 instances).
//! The next deadline the loop sleeps for is then the earliest entry's, which may be an
//! instance's earlier deadline of before an advert: never later than a real one, and the
//! loop's timer keeps the earlier setting anyway (`deadline.rs`). What is due is exact: an
//! instance is taken when its own deadline has passed, not before. A deadline that moved
//! earlier gets a new entry, and the old one is skipped when it comes up.
//!
//! An entry is one integer, its deadline in nanoseconds since the schedule was made above
//! the instance's index: a heap of them compares two machine words where (Instant, index)
//! pairs compared seconds, nanoseconds and index one after the other (the heap was a tenth
//! of the instructions per advert at scale).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

#[derive(Debug)]
pub struct Schedule {
    heap: BinaryHeap<Reverse<u128>>,
    /// Time zero of the entries' deadlines.
    base: Instant,
    /// Per instance, the time of its live entry in the heap and that entry (none: no entry
    /// counts). Never later than the instance's deadline; other entries of the instance are
    /// dead. The entry is kept so that telling a live top entry from a dead one compares
    /// two integers instead of converting the time to nanoseconds again.
    entries: Vec<Option<(Instant, Reverse<u128>)>>,
    /// Instances fed since their actions were last looked at (repeats allowed).
    touched: Vec<u32>,
    /// How many of `touched` have their deadline in the heap.
    synced: usize,
    /// Any instance's deadline may have changed: rebuild the heap from all of them.
    all_deadlines: bool,
    /// Any instance may have actions queued: look at all of them.
    all_actions: bool,
    /// Counts [`Schedule::touch_all`] calls, for caches derived from all instances.
    generation: u64,
    /// Due instances taken from the heap, not yet handled.
    due: Vec<u32>,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            heap: BinaryHeap::new(),
            base: Instant::now(),
            entries: Vec::new(),
            touched: Vec::new(),
            synced: 0,
            all_deadlines: true,
            all_actions: true,
            generation: 1,
            due: Vec::new(),
        }
    }
}

impl Schedule {
    /// The heap entry of `index` at `at`: nanoseconds since `base` (the schedule's, which
    /// never changes; a deadline before it, which the loop never sets, counts as `base`: due
    /// at once all the same), then index.
    fn entry(base: Instant, at: Instant, index: u32) -> Reverse<u128> {
        let nanos = at.saturating_duration_since(base).as_nanos();
        Reverse((nanos.min(u128::from(u64::MAX)) << 32) | u128::from(index))
    }

    /// The instance index of a heap entry.
    fn index_of(entry: Reverse<u128>) -> u32 {
        entry.0 as u32
    }

    /// The instance at `index` was fed an event: its deadline and actions may have changed.
    pub fn touch(&mut self, index: usize) {
        match u32::try_from(index) {
            Ok(index) => self.touched.push(index),
            Err(_) => self.touch_all(),
        }
    }

    /// Any instance may have changed (or instances came and went).
    pub fn touch_all(&mut self) {
        self.all_deadlines = true;
        self.all_actions = true;
        self.generation = self.generation.wrapping_add(1);
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The instances whose actions need a look: `None` means all of them.
    pub fn touched(&self) -> Option<&[u32]> {
        (!self.all_actions).then_some(&self.touched[..])
    }

    /// How many instances a look at the marked ones walks: the touched ones, or all `total`.
    pub fn marked_len(&self, total: usize) -> usize {
        self.touched().map_or(total, <[u32]>::len)
    }

    /// The `k`-th instance of that walk: the `k`-th touched one, or instance `k` when all
    /// are marked. Looked up afresh each step because performing actions may mark more.
    pub fn marked_at(&self, k: usize) -> Option<usize> {
        match self.touched() {
            Some(touched) => touched.get(k).map(|&index| index as usize),
            None => Some(k),
        }
    }

    /// The actions of every touched instance were performed; call [`Schedule::sync`] first
    /// so that their deadlines are kept.
    pub fn actions_done(&mut self) {
        if self.synced == self.touched.len() {
            self.touched.clear();
            self.synced = 0;
            self.all_actions = false;
        }
    }

    /// Brings the deadlines up to date with what was touched. `count` instances exist;
    /// `timeout(i)` is instance `i`'s next deadline.
    pub fn sync(&mut self, count: usize, timeout: impl Fn(usize) -> Option<Instant>) {
        // Dead entries of deadlines that moved earlier stay until they come up; a rebuild
        // bounds them.
        let crowded = self.heap.len() > count.saturating_mul(8).saturating_add(1024);
        if self.all_deadlines || crowded || self.entries.len() != count {
            self.heap.clear();
            self.entries.clear();
            self.entries.resize(count, None);
            for (index, entry) in self.entries.iter_mut().enumerate() {
                let (Some(at), Ok(key)) = (timeout(index), u32::try_from(index)) else {
                    continue;
                };
                let new = Self::entry(self.base, at, key);
                self.heap.push(new);
                *entry = Some((at, new));
            }
            self.all_deadlines = false;
        } else {
            for &index in &self.touched[self.synced..] {
                let Some(entry) = self.entries.get_mut(index as usize) else {
                    continue;
                };
                match timeout(index as usize) {
                    // The live entry comes up first and is moved then.
                    Some(at) if entry.is_some_and(|(e, _)| e <= at) => {}
                    Some(at) => {
                        let new = Self::entry(self.base, at, index);
                        *entry = Some((at, new));
                        self.heap.push(new);
                    }
                    None => *entry = None,
                }
            }
        }
        self.synced = self.touched.len();
    }

    /// Looks at the heap's top entry: `Some((at, index))` for the live entry of an instance,
    /// `at` its deadline or, when that moved later, the time it had before; `None` when the
    /// heap is empty. A live entry whose time is at or before `now` is moved
    /// to the instance's deadline first (one that has none any more is taken off), dead
    /// entries are taken off, and the next one looked at.
    fn top(
        &mut self,
        now: Instant,
        timeout: &impl Fn(usize) -> Option<Instant>,
    ) -> Option<(Instant, u32)> {
        while let Some(top) = self.heap.peek().copied() {
            let index = Self::index_of(top);
            // The entry is live when the instance's entry time is the one it holds.
            let live = (self.entries.get(index as usize).copied().flatten())
                .filter(|(_, entry)| *entry == top);
            let Some((at, _)) = live else {
                self.heap.pop();
                continue;
            };
            let Some(entry) = self.entries.get_mut(index as usize) else {
                self.heap.pop();
                continue;
            };
            match timeout(index as usize) {
                Some(deadline) if deadline == at => return Some((at, index)),
                // Moved later, and its old time has not come: it stays until it has.
                Some(_) if at > now => return Some((at, index)),
                Some(deadline) => {
                    let moved = Self::entry(self.base, deadline, index);
                    *entry = Some((deadline, moved));
                    // Moved in place: one sift down instead of a pop and a push.
                    if let Some(mut top) = self.heap.peek_mut() {
                        *top = moved;
                    }
                }
                None => {
                    self.heap.pop();
                    *entry = None;
                }
            }
        }
        None
    }

    /// When the loop must look again (call [`Schedule::sync`] first): the earliest
    /// deadline of any instance, or earlier, the time an instance's deadline had before it
    /// moved later (see the module documentation); never later than the earliest deadline.
    pub fn next_deadline(
        &mut self,
        now: Instant,
        timeout: impl Fn(usize) -> Option<Instant>,
    ) -> Option<Instant> {
        self.top(now, &timeout).map(|(at, _)| at)
    }

    /// Moves the instances whose deadline is at or before `now` to the due list (call
    /// [`Schedule::sync`] first) and returns that list: in instance order, each once.
    pub fn take_due(&mut self, now: Instant, timeout: impl Fn(usize) -> Option<Instant>) -> &[u32] {
        // An entry at or before `now` comes out of `top` live: moved, or due.
        while let Some((at, index)) = self.top(now, &timeout) {
            if at > now {
                break;
            }
            self.heap.pop();
            if let Some(entry) = self.entries.get_mut(index as usize) {
                // Handled (and touched) by the caller, or still due on the next look.
                *entry = None;
            }
            self.due.push(index);
        }
        self.due.sort_unstable();
        self.due.dedup();
        &self.due
    }

    /// Empties the due list; the instances in it are the caller's to handle now.
    pub fn drain_due(&mut self) -> std::vec::Drain<'_, u32> {
        self.due.drain(..)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn deadlines_follow_touched_instances_and_moved_ones_are_ignored() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut timeouts = [Some(at(30)), Some(at(10)), None];
        let mut schedule = Schedule::default();
        assert!(schedule.touched().is_none(), "everything at first");
        schedule.sync(3, |i| timeouts[i]);
        schedule.actions_done();
        assert_eq!(schedule.touched(), Some(&[][..]));
        assert_eq!(schedule.next_deadline(t0, |i| timeouts[i]), Some(at(10)));
        // Instance 1 heard an advert: its deadline moved later. The loop wakes at its old
        // time (early), when the entry moves.
        timeouts[1] = Some(at(40));
        schedule.touch(1);
        schedule.sync(3, |i| timeouts[i]);
        assert_eq!(schedule.next_deadline(t0, |i| timeouts[i]), Some(at(10)));
        assert_eq!(schedule.take_due(at(10), |i| timeouts[i]), &[] as &[u32]);
        assert_eq!(
            schedule.next_deadline(at(10), |i| timeouts[i]),
            Some(at(30))
        );
        assert_eq!(schedule.take_due(at(35), |i| timeouts[i]), &[0]);
        assert_eq!(schedule.drain_due().collect::<Vec<_>>(), [0]);
        timeouts[0] = None;
        schedule.touch(0);
        schedule.sync(3, |i| timeouts[i]);
        assert_eq!(
            schedule.next_deadline(at(35), |i| timeouts[i]),
            Some(at(40))
        );
    }

    #[test]
    fn a_change_outside_the_hot_path_rebuilds_from_every_instance() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut timeouts = [Some(at(30)), None];
        let mut schedule = Schedule::default();
        schedule.sync(2, |i| timeouts[i]);
        let generation = schedule.generation();
        // Instance 1 changed without being touched one by one (a reload, a check).
        timeouts[1] = Some(at(5));
        schedule.touch_all();
        assert!(schedule.generation() != generation);
        schedule.touch(0);
        assert!(schedule.touched().is_none());
        schedule.sync(2, |i| timeouts[i]);
        assert_eq!(schedule.next_deadline(t0, |i| timeouts[i]), Some(at(5)));
        // Deadlines brought up to date do not mean actions were looked at.
        assert!(schedule.touched().is_none());
        schedule.actions_done();
        assert_eq!(schedule.touched(), Some(&[][..]));
    }

    #[test]
    fn touched_instances_stay_for_their_actions_until_looked_at() {
        let t0 = Instant::now();
        let timeouts = [Some(t0), Some(t0)];
        let mut schedule = Schedule::default();
        schedule.sync(2, |i| timeouts[i]);
        schedule.actions_done();
        schedule.touch(1);
        // A timer pass syncs deadlines between an advert and the look at actions.
        schedule.sync(2, |i| timeouts[i]);
        assert_eq!(schedule.touched(), Some(&[1][..]));
        schedule.touch(0);
        // Not synced yet: the list stays until its deadlines are in.
        schedule.actions_done();
        assert_eq!(schedule.touched(), Some(&[1, 0][..]));
        schedule.sync(2, |i| timeouts[i]);
        schedule.actions_done();
        assert_eq!(schedule.touched(), Some(&[][..]));
    }

    #[test]
    fn due_instances_come_once_each_in_instance_order() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let timeouts = [Some(at(20)), Some(at(10)), Some(at(50)), Some(at(15))];
        let mut schedule = Schedule::default();
        schedule.sync(4, |i| timeouts[i]);
        // Touched twice with no change: two equal entries, one due instance.
        schedule.touch(3);
        schedule.touch(3);
        schedule.sync(4, |i| timeouts[i]);
        assert_eq!(schedule.take_due(at(25), |i| timeouts[i]), &[0, 1, 3]);
        // Taken but not handled yet: still due on the next look.
        assert_eq!(schedule.take_due(at(25), |i| timeouts[i]), &[0, 1, 3]);
        assert_eq!(schedule.drain_due().count(), 3);
        assert_eq!(schedule.take_due(at(25), |i| timeouts[i]), &[] as &[u32]);
    }

    #[test]
    fn entries_of_moved_deadlines_stay_bounded() {
        let t0 = Instant::now();
        let mut timeout = t0;
        let mut schedule = Schedule::default();
        schedule.sync(1, |_| Some(timeout));
        for step in 1..10_000u64 {
            timeout = t0 + Duration::from_micros(step);
            schedule.touch(0);
            schedule.sync(1, |_| Some(timeout));
        }
        // Moving later never adds an entry: the one entry is moved when its time comes.
        assert_eq!(schedule.heap.len(), 1);
        assert_eq!(schedule.next_deadline(t0, |_| Some(timeout)), Some(timeout));
        assert_eq!(schedule.heap.len(), 1);
        for step in (1..10_000u64).rev() {
            timeout = t0 + Duration::from_nanos(step);
            schedule.touch(0);
            schedule.sync(1, |_| Some(timeout));
        }
        assert!(schedule.heap.len() <= 8 + 1024 + 1);
        assert_eq!(schedule.next_deadline(t0, |_| Some(timeout)), Some(timeout));
    }

    #[test]
    fn deadlines_keep_their_exact_instant_and_order_to_the_nanosecond() {
        let early = Instant::now();
        std::thread::sleep(Duration::from_millis(1));
        let mut schedule = Schedule::default();
        let t0 = schedule.base;
        let ns = |n: u64| t0 + Duration::from_nanos(n);
        // One before the schedule was made (due at once), two a nanosecond apart.
        let timeouts = [
            Some(ns(2)),
            Some(early),
            Some(ns(1)),
            Some(ns(5_000_000_000)),
        ];
        schedule.sync(4, |i| timeouts[i]);
        assert_eq!(schedule.next_deadline(early, |i| timeouts[i]), Some(early));
        assert_eq!(schedule.take_due(early, |i| timeouts[i]), &[1]);
        assert_eq!(schedule.drain_due().count(), 1);
        assert_eq!(schedule.next_deadline(early, |i| timeouts[i]), Some(ns(1)));
        assert_eq!(schedule.take_due(ns(1), |i| timeouts[i]), &[2]);
        assert_eq!(schedule.drain_due().count(), 1);
        assert_eq!(schedule.take_due(ns(4_999_999_999), |i| timeouts[i]), &[0]);
        assert_eq!(schedule.drain_due().count(), 1);
        assert_eq!(
            schedule.next_deadline(early, |i| timeouts[i]),
            Some(ns(5_000_000_000))
        );
    }

    #[test]
    fn a_deadline_heard_later_and_later_is_exact_when_it_comes_up() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // A backup (0) whose Master_Down deadline moves with each advert, a master (1).
        let mut timeouts = [Some(at(36)), Some(at(50))];
        let mut schedule = Schedule::default();
        schedule.sync(2, |i| timeouts[i]);
        for heard in [10, 20, 30, 40] {
            timeouts[0] = Some(at(heard + 36));
            schedule.touch(0);
            schedule.sync(2, |i| timeouts[i]);
        }
        assert_eq!(schedule.heap.len(), 2);
        // Woken at the backup's first deadline (early): its entry moves, the master's is
        // the next.
        assert_eq!(schedule.next_deadline(t0, |i| timeouts[i]), Some(at(36)));
        assert_eq!(schedule.take_due(at(36), |i| timeouts[i]), &[] as &[u32]);
        assert_eq!(
            schedule.next_deadline(at(36), |i| timeouts[i]),
            Some(at(50))
        );
        assert_eq!(schedule.take_due(at(60), |i| timeouts[i]), &[1]);
        assert_eq!(schedule.drain_due().count(), 1);
        timeouts[1] = Some(at(100));
        schedule.touch(1);
        schedule.sync(2, |i| timeouts[i]);
        assert_eq!(
            schedule.next_deadline(at(60), |i| timeouts[i]),
            Some(at(76))
        );
        // An instance with no deadline any more has none in the schedule.
        timeouts[0] = None;
        schedule.touch(0);
        schedule.sync(2, |i| timeouts[i]);
        assert_eq!(
            schedule.next_deadline(at(60), |i| timeouts[i]),
            Some(at(100))
        );
        assert_eq!(schedule.take_due(at(90), |i| timeouts[i]), &[] as &[u32]);
    }

    #[test]
    fn a_backup_is_taken_exactly_at_its_deadline_and_its_entry_moves_once_per_interval() {
        // A backup with a 36 ms Master_Down_Interval hears an advert every 10 ms until
        // 100 ms; the loop wakes for each advert and at each next deadline.
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut deadline = at(36);
        let mut schedule = Schedule::default();
        schedule.sync(1, |_| Some(deadline));
        schedule.actions_done();
        let mut adverts = (1..=10).map(|n| at(n * 10)).peekable();
        let (mut now, mut early_wakes) = (t0, Vec::new());
        let taken = loop {
            let next = (schedule.next_deadline(now, |_| Some(deadline)))
                .expect("the backup has a deadline");
            assert!(next <= deadline, "woken at {next:?}, after {deadline:?}");
            match adverts.peek().copied() {
                Some(advert) if advert < next => {
                    now = advert;
                    adverts.next();
                    deadline = now + Duration::from_millis(36);
                    schedule.touch(0);
                    schedule.sync(1, |_| Some(deadline));
                    schedule.actions_done();
                }
                _ => {
                    now = next;
                    if schedule.take_due(now, |_| Some(deadline)) == [0] {
                        break now;
                    }
                    early_wakes.push(now);
                }
            }
        };
        assert_eq!(taken, at(136), "36 ms after the last advert");
        // Its entry moved when its old time came (4 times), not with each of 10 adverts.
        assert_eq!(early_wakes, [at(36), at(66), at(96), at(126)]);
    }
}
