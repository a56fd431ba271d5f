//! Room for a newcomer when every slot of a server is taken: the connections a server is
//! waiting on (for a request, or for the client to take its reply) are listed, and when a
//! new client finds no free slot, the one waited on longest (at least [`EVICT_AFTER`]) of the
//! peer holding the most of them is closed and its slot handed over. A well-behaved client
//! sends its request as soon as it is connected and reads its reply at once, so only idle or
//! slow connections are ever closed; and a single peer opening many of them closes its own.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// A connection waited on this long gives up its slot to a newcomer when all are taken.
pub const EVICT_AFTER: Duration = Duration::from_millis(250);
/// Time a newcomer waits for the slot of the connection closed for it.
pub const HANDOVER_TIMEOUT: Duration = Duration::from_secs(1);

/// The connections a server is waiting on, oldest first, each with the means to close it,
/// and the peer (`K`: an address, a uid) it belongs to.
pub struct Waiting<K> {
    inner: Mutex<List<K>>,
}

struct List<K> {
    next_id: u64,
    entries: VecDeque<Entry<K>>,
}

struct Entry<K> {
    id: u64,
    since: Instant,
    peer: K,
    evict: oneshot::Sender<()>,
}

impl<K> Default for Waiting<K> {
    fn default() -> Self {
        Waiting {
            inner: Mutex::new(List {
                next_id: 0,
                entries: VecDeque::new(),
            }),
        }
    }
}

impl<K: PartialEq> Waiting<K> {
    /// Registers a wait on a connection of `peer`, until the guard is dropped; the receiver
    /// fires when the connection is to make room for a newcomer.
    fn enter(&self, peer: K) -> (Guard<'_, K>, oneshot::Receiver<()>) {
        let (evict, evicted) = oneshot::channel();
        let id = self.inner.lock().ok().map(|mut list| {
            let id = list.next_id;
            list.next_id += 1;
            list.entries.push_back(Entry {
                id,
                since: Instant::now(),
                peer,
                evict,
            });
            id
        });
        (Guard { waiting: self, id }, evicted)
    }

    /// Closes one connection waited on for at least [`EVICT_AFTER`] at `now`: of those, the
    /// oldest of the peer with the most connections waited on. False when none is that old.
    pub fn evict_one(&self, now: Instant) -> bool {
        let Ok(mut list) = self.inner.lock() else {
            return false;
        };
        let entries = &list.entries;
        let held = |peer: &K| entries.iter().filter(|e| e.peer == *peer).count();
        // Oldest first: the first entry of the largest count wins a tie by age.
        let mut chosen: Option<(usize, usize)> = None;
        for (index, entry) in entries.iter().enumerate() {
            if now.saturating_duration_since(entry.since) < EVICT_AFTER {
                continue;
            }
            let count = held(&entry.peer);
            if chosen.is_none_or(|(_, most)| count > most) {
                chosen = Some((index, count));
            }
        }
        let Some(entry) = chosen.and_then(|(index, _)| list.entries.remove(index)) else {
            return false;
        };
        entry.evict.send(()).is_ok()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().map(|l| l.entries.len()).unwrap_or(0)
    }
}

/// Removes its wait from the list when dropped.
struct Guard<'a, K: PartialEq> {
    waiting: &'a Waiting<K>,
    id: Option<u64>,
}

impl<K: PartialEq> Drop for Guard<'_, K> {
    fn drop(&mut self) {
        if let (Some(id), Ok(mut list)) = (self.id, self.waiting.inner.lock()) {
            list.entries.retain(|entry| entry.id != id);
        }
    }
}

/// Runs `work` (reading a request, writing a reply) for a connection of `peer`, unless the
/// connection is chosen to make room for a newcomer first (`None`).
pub async fn unless_evicted<K: PartialEq, F: Future>(
    waiting: &Waiting<K>,
    peer: K,
    work: F,
) -> Option<F::Output> {
    let (_guard, evicted) = waiting.enter(peer);
    tokio::select! {
        output = work => Some(output),
        _ = evicted => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_with_most_waits_loses_its_oldest_and_only_old_ones_go() {
        let waiting = Waiting::default();
        let start = Instant::now();
        let (_a1, mut a1) = waiting.enter("a");
        let (_b1, mut b1) = waiting.enter("b");
        let (_b2, mut b2) = waiting.enter("b");
        // Nobody has waited long enough yet.
        assert!(!waiting.evict_one(start));
        let later = Instant::now() + EVICT_AFTER;
        // "b" holds two: its oldest goes first, although "a" has waited longer.
        assert!(waiting.evict_one(later));
        assert_eq!(b1.try_recv(), Ok(()));
        assert!(a1.try_recv().is_err() && b2.try_recv().is_err());
        // Now one each: the oldest.
        assert!(waiting.evict_one(later));
        assert_eq!(a1.try_recv(), Ok(()));
        assert!(waiting.evict_one(later));
        assert_eq!(b2.try_recv(), Ok(()));
        assert!(!waiting.evict_one(later));
    }

    #[test]
    fn a_wait_that_ends_leaves_the_list() {
        let waiting = Waiting::default();
        {
            let (_guard, _evicted) = waiting.enter(1u32);
            assert_eq!(waiting.len(), 1);
        }
        assert_eq!(waiting.len(), 0);
        assert!(!waiting.evict_one(Instant::now() + EVICT_AFTER));
    }
}
