//! Which instances the event loop has to look at after a wake-up, so that the work of one
//! wake-up follows what happened rather than the number of instances.
//!
//! With 510 instances at 10 ms adverts the loop wakes thousands of times a second for one or
//! a few adverts each; walking every instance for its next deadline and its queued actions on
//! each wake-up was most of the daemon's own CPU time. The hot path (an advert heard, a timer
//! expired, an advert sent) marks the one instance it fed; everything else (netlink events,
//! checks, commands, reloads, signals, state changes) marks all of them, and the next look
//! walks them all as before.
//!
//! Deadlines sit in a min-heap of (deadline, instance) entries that are checked on use: an
//! entry counts only while it is still the instance's next deadline, so a deadline that moved
//! needs no removal, only a new entry.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

#[derive(Debug)]
pub struct Schedule {
    heap: BinaryHeap<Reverse<(Instant, u32)>>,
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
        // Entries of deadlines that moved stay until they come up; a rebuild bounds them.
        let crowded = self.heap.len() > count.saturating_mul(8).saturating_add(1024);
        if self.all_deadlines || crowded {
            self.heap.clear();
            let all =
                (0..count).filter_map(|i| Some(Reverse((timeout(i)?, u32::try_from(i).ok()?))));
            self.heap.extend(all);
            self.all_deadlines = false;
        } else {
            for &index in &self.touched[self.synced..] {
                if let Some(at) = timeout(index as usize) {
                    self.heap.push(Reverse((at, index)));
                }
            }
        }
        self.synced = self.touched.len();
    }

    /// The earliest deadline of any instance (call [`Schedule::sync`] first).
    pub fn next_deadline(&mut self, timeout: impl Fn(usize) -> Option<Instant>) -> Option<Instant> {
        while let Some(Reverse((at, index))) = self.heap.peek().copied() {
            if timeout(index as usize) == Some(at) {
                return Some(at);
            }
            self.heap.pop();
        }
        None
    }

    /// Moves the instances whose deadline is at or before `now` to the due list (call
    /// [`Schedule::sync`] first) and returns that list: in instance order, each once.
    pub fn take_due(&mut self, now: Instant, timeout: impl Fn(usize) -> Option<Instant>) -> &[u32] {
        while let Some(Reverse((at, index))) = self.heap.peek().copied() {
            if at > now {
                break;
            }
            self.heap.pop();
            if timeout(index as usize) == Some(at) {
                self.due.push(index);
            }
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
        assert_eq!(schedule.next_deadline(|i| timeouts[i]), Some(at(10)));
        // Instance 1 heard an advert: its deadline moved later.
        timeouts[1] = Some(at(40));
        schedule.touch(1);
        schedule.sync(3, |i| timeouts[i]);
        assert_eq!(schedule.next_deadline(|i| timeouts[i]), Some(at(30)));
        assert_eq!(schedule.take_due(at(35), |i| timeouts[i]), &[0]);
        assert_eq!(schedule.drain_due().collect::<Vec<_>>(), [0]);
        timeouts[0] = None;
        schedule.touch(0);
        schedule.sync(3, |i| timeouts[i]);
        assert_eq!(schedule.next_deadline(|i| timeouts[i]), Some(at(40)));
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
        assert_eq!(schedule.next_deadline(|i| timeouts[i]), Some(at(5)));
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
        assert!(schedule.heap.len() <= 8 + 1024 + 1);
        assert_eq!(schedule.next_deadline(|_| Some(timeout)), Some(timeout));
    }
}
