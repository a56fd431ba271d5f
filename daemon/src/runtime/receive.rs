//! The receive path of one VRRP socket: a task that drains the socket as fast as datagrams
//! arrive, throws away right there what cannot be an advert for one of the socket's instances
//! (counted by reason), and queues the rest for the event loop.
//!
//! Anyone on the segment (and, for unicast, anyone who can route to us) can send protocol 112
//! datagrams: oversized and fragmented, truncated, garbage, for VRIDs nobody runs. Each must
//! cost only its own reading: no sleeping after an error, no allocation before it has passed
//! the cheap checks, and no seat in the event queue that real adverts need. A burst is read in
//! slices of [`BUDGET`] datagrams so that one busy socket does not hold up the others or the
//! timers. Datagrams are read [`RECEIVE_BATCH`] at a time (one `recvmmsg`), and the adverts
//! of one read reach the event loop as one event: at 510 instances a backup hears 51,000
//! adverts a second.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::router::SocketKey;
use super::Event;
use crate::net::socket::{Datagram, ReceiveBatch, Received, VrrpSocket, RECEIVE_BATCH};
use crate::vrrp::accept;
use crate::vrrp::packet::DropReason;

/// Datagrams read in a row before the reader lets other tasks run (a read takes up to
/// [`RECEIVE_BATCH`] at once, and all of them go to the event loop as one event).
const BUDGET: usize = 64;
/// Errors in a row after which the reader pauses: a socket that only fails must not spin.
const ERRORS_BEFORE_PAUSE: u32 = 64;
const ERROR_PAUSE: Duration = Duration::from_millis(10);
/// At most one log line per this period and socket about dropped datagrams.
const LOG_PERIOD: Duration = Duration::from_secs(1);

/// How long the event loop lets adverts gather after a turn that read some (see
/// [`may_gather`]). A master sends 255 adverts a socket in one burst that reaches a backup
/// over a millisecond or so; read as they come, that was a wake-up of the whole loop for
/// every three to five adverts (9,000 a second at 510 instances). Each advert keeps its
/// kernel receive time (`SO_TIMESTAMPNS`), so that its Master_Down_Interval counts from when
/// it arrived, not from when it was read: only the reaction to an advert (a preemption, a
/// priority 0 handover) may come up to this much later.
pub const GATHER: Duration = Duration::from_micros(500);

/// Adverts one turn must have read for the loop to gather the next ones when the daemon
/// runs a single instance: its advert is alone (nothing else is coming in the same burst),
/// and a pause after it would only add a wake-up. With more instances one advert is most
/// likely the start of a burst (a master's adverts leave together): reading it alone and
/// then each next one as it arrived was a wake-up of the loop per advert (at 255 instances
/// 2,200 reads of a single advert a second, 70 % of the backup's reads).
pub const GATHER_AFTER: usize = 2;

/// Whether the event loop may sleep [`GATHER`] (the whole thread: a sleeping tokio task
/// would still wake the thread for every datagram's readiness): it read adverts this turn
/// (at least [`GATHER_AFTER`] with a single instance), no reader's last read filled its
/// batch (more is queued: a flood is read at full speed), and no deadline of its own comes
/// within twice the pause (a timer never fires late for it).
pub fn may_gather(
    adverts_read: usize,
    instances: usize,
    backlog: bool,
    now: Instant,
    next_deadline: Option<Instant>,
) -> bool {
    let burst = if instances > 1 {
        adverts_read >= 1
    } else {
        adverts_read >= GATHER_AFTER
    };
    burst
        && !backlog
        && next_deadline.is_none_or(|at| at.saturating_duration_since(now) > 2 * GATHER)
}

/// Which VRIDs have an instance on one socket: a datagram for any other VRID is dropped by
/// the reader. The event loop updates it when instances come and go.
#[derive(Debug, Default)]
pub struct VridSet {
    bits: [AtomicU64; 4],
}

impl VridSet {
    pub fn replace(&self, vrids: impl IntoIterator<Item = u8>) {
        let mut bits = [0u64; 4];
        for vrid in vrids {
            bits[usize::from(vrid / 64)] |= 1 << (vrid % 64);
        }
        for (slot, value) in self.bits.iter().zip(bits) {
            slot.store(value, Ordering::Relaxed);
        }
    }

    pub fn contains(&self, vrid: u8) -> bool {
        self.bits[usize::from(vrid / 64)].load(Ordering::Relaxed) & (1 << (vrid % 64)) != 0
    }
}

/// Datagrams a reader dropped, by reason: for the instance of the VRID they carried, or for
/// the whole socket when they carry none it runs (they then count for every instance on it).
#[derive(Debug)]
pub struct DropCounts {
    /// `SLOTS` rows of one counter per reason: one row per VRID, the last for the socket.
    counts: Box<[AtomicU64]>,
}

const SOCKET_SLOT: usize = 256;
const SLOTS: usize = SOCKET_SLOT + 1;

impl Default for DropCounts {
    fn default() -> Self {
        DropCounts {
            counts: (0..SLOTS * DropReason::ALL.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
        }
    }
}

impl DropCounts {
    fn slot(vrid: Option<u8>) -> usize {
        vrid.map_or(SOCKET_SLOT, usize::from)
    }

    fn counter(&self, vrid: Option<u8>, reason: DropReason) -> &AtomicU64 {
        let index = Self::slot(vrid) * DropReason::ALL.len() + reason.index();
        // In range by construction; the socket row is the fallback that cannot be.
        self.counts
            .get(index)
            .unwrap_or(&self.counts[SOCKET_SLOT * DropReason::ALL.len()])
    }

    /// Counts a drop for the instance of `vrid`, or for the socket when `None`.
    pub fn add(&self, vrid: Option<u8>, reason: DropReason) {
        self.counter(vrid, reason).fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self, vrid: Option<u8>, reason: DropReason) -> u64 {
        self.counter(vrid, reason).load(Ordering::Relaxed)
    }

    /// The non-zero counts that concern the instance of `vrid`: its own and the socket's.
    pub fn for_instance(&self, vrid: u8) -> Vec<(DropReason, u64)> {
        DropReason::ALL
            .iter()
            .map(|reason| {
                let count = self
                    .get(Some(vrid), *reason)
                    .saturating_add(self.get(None, *reason));
                (*reason, count)
            })
            .filter(|(_, count)| *count > 0)
            .collect()
    }
}

/// Vectors of adverts the event loop has handed back, for the readers to fill again: the
/// vector of each read's adverts is not allocated for it and freed once the loop is done
/// with it (thousands of times a second at 510 instances), and the allocator is spared
/// handing pages back and mapping them again.
#[derive(Debug, Default)]
pub struct BatchPool {
    free: std::sync::Mutex<Vec<Vec<Received>>>,
}

/// Vectors the pool keeps at most (each has room for one read).
const POOL_KEEP: usize = 16;

impl BatchPool {
    /// An empty vector with room for one read.
    pub fn take(&self) -> Vec<Received> {
        let kept = self.free.lock().ok().and_then(|mut free| free.pop());
        kept.unwrap_or_else(|| Vec::with_capacity(RECEIVE_BATCH))
    }

    /// Takes back a vector the loop is done with.
    pub fn give_back(&self, mut batch: Vec<Received>) {
        batch.clear();
        if batch.capacity() < RECEIVE_BATCH {
            return;
        }
        if let Ok(mut free) = self.free.lock() {
            if free.len() < POOL_KEEP {
                free.push(batch);
            }
        }
    }
}

/// What a socket's reader shares with the event loop.
#[derive(Debug, Default)]
pub struct ReaderShared {
    pub vrids: VridSet,
    pub drops: DropCounts,
    /// The reader's last read filled its batch: more may be queued on the socket (see
    /// [`may_gather`]). A read that found fewer clears it: the socket was empty then.
    pub queued: AtomicBool,
}

/// The cheap checks of `packet::screen` plus the VRID lookup ([`accept::screen`]), on a
/// datagram as the socket delivered it (IPv4 with its header). A drop is the instance's when
/// the datagram carries the VRID of one of the socket's instances, else the socket's.
fn screen(received: &Received, vrids: &VridSet) -> Result<(), (Option<u8>, DropReason)> {
    accept::screen(&received.data, received.src.is_ipv4(), |vrid| {
        vrids.contains(vrid)
    })
}

/// Rate limit for the reader's debug lines.
struct LogLimit {
    last: Option<Instant>,
}

impl LogLimit {
    fn allow(&mut self) -> bool {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < LOG_PERIOD)
        {
            return false;
        }
        self.last = Some(now);
        true
    }
}

pub(super) fn spawn_reader(
    socket: Arc<VrrpSocket>,
    key: SocketKey,
    shared: Arc<ReaderShared>,
    tx: mpsc::Sender<Event>,
    pool: Arc<BatchPool>,
) -> JoinHandle<()> {
    let key = Arc::new(key);
    tokio::spawn(async move {
        let mut batch = ReceiveBatch::default();
        let mut datagrams = Vec::with_capacity(RECEIVE_BATCH);
        let mut log = LogLimit { last: None };
        let mut in_a_row = 0usize;
        let mut errors_in_a_row = 0u32;
        loop {
            if in_a_row >= BUDGET {
                in_a_row = 0;
                tokio::task::yield_now().await;
            }
            if let Err(e) = socket.recv_batch(&mut batch, &mut datagrams).await {
                in_a_row += 1;
                shared.drops.add(None, DropReason::ReceiveError);
                if log.allow() {
                    tracing::debug!("receive on {}: {e}", key.interface);
                }
                errors_in_a_row += 1;
                if errors_in_a_row >= ERRORS_BEFORE_PAUSE {
                    errors_in_a_row = 0;
                    tokio::time::sleep(ERROR_PAUSE).await;
                }
                continue;
            }
            errors_in_a_row = 0;
            in_a_row += datagrams.len();
            (shared.queued).store(datagrams.len() >= RECEIVE_BATCH, Ordering::Relaxed);
            // What passes the cheap checks goes to the event loop in one event.
            let mut adverts = pool.take();
            for datagram in datagrams.drain(..) {
                let (vrid, reason, from) = match datagram {
                    Datagram::Packet(received) => match screen(&received, &shared.vrids) {
                        Ok(()) => {
                            adverts.push(received);
                            continue;
                        }
                        Err((vrid, reason)) => (vrid, reason, Some(received.src)),
                    },
                    Datagram::Dropped(reason) => (None, reason, None),
                };
                shared.drops.add(vrid, reason);
                if log.allow() {
                    match from {
                        Some(src) => tracing::debug!(
                            "{}: dropped a datagram from {src}: {reason} (at most one such line per second)",
                            key.interface
                        ),
                        None => tracing::debug!(
                            "{}: dropped a datagram: {reason} (at most one such line per second)",
                            key.interface
                        ),
                    }
                }
            }
            if adverts.is_empty() {
                pool.give_back(adverts);
            } else if tx.send(Event::Packets(key.clone(), adverts)).await.is_err() {
                return;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vrrp::packet;
    use std::net::IpAddr;

    #[test]
    fn the_loop_gathers_only_after_adverts_without_backlog_and_far_from_deadlines() {
        let now = Instant::now();
        let far = Some(now + 2 * GATHER + Duration::from_micros(1));
        assert!(may_gather(2, 1, false, now, far));
        assert!(may_gather(32, 510, false, now, None));
        // Nothing read: no reason to wait (and a junk flood forwards no adverts).
        assert!(!may_gather(0, 1, false, now, far));
        assert!(!may_gather(0, 510, false, now, far));
        // One advert of a single instance is alone; of several, the start of a burst.
        assert!(!may_gather(1, 1, false, now, far));
        assert!(may_gather(1, 2, false, now, far));
        assert!(may_gather(1, 510, false, now, None));
        // A reader's last read filled its batch: more is queued, read it now.
        assert!(!may_gather(2, 1, true, now, far));
        assert!(!may_gather(1, 510, true, now, far));
        // A deadline within twice the pause (or passed): never slept through.
        assert!(!may_gather(2, 1, false, now, Some(now + 2 * GATHER)));
        assert!(!may_gather(2, 510, false, now, Some(now + GATHER / 2)));
        assert!(!may_gather(2, 510, false, now + GATHER, Some(now)));
    }

    #[test]
    fn the_pool_hands_back_the_vectors_it_was_given_empty_and_keeps_a_few() {
        let pool = BatchPool::default();
        let mut batch = pool.take();
        assert!(batch.is_empty() && batch.capacity() >= RECEIVE_BATCH);
        batch.push(received(vec![1, 2, 3], "192.0.2.1".parse().unwrap()));
        let allocation = batch.as_ptr();
        pool.give_back(batch);
        let again = pool.take();
        assert_eq!(again.as_ptr(), allocation, "not the vector given back");
        assert!(again.is_empty());
        // A vector too small for a read is not kept; the pool keeps POOL_KEEP at most.
        pool.give_back(Vec::new());
        assert_eq!(pool.free.lock().unwrap().len(), 0);
        for _ in 0..POOL_KEEP + 5 {
            pool.give_back(Vec::with_capacity(RECEIVE_BATCH));
        }
        assert_eq!(pool.free.lock().unwrap().len(), POOL_KEEP);
    }

    #[test]
    fn vrid_set_holds_exactly_what_it_was_given() {
        let set = VridSet::default();
        assert!((0..=255).all(|v| !set.contains(v)));
        set.replace([1, 63, 64, 200, 255]);
        let held: Vec<u8> = (0..=255).filter(|v| set.contains(*v)).collect();
        assert_eq!(held, [1, 63, 64, 200, 255]);
        set.replace([7]);
        let held: Vec<u8> = (0..=255).filter(|v| set.contains(*v)).collect();
        assert_eq!(held, [7]);
    }

    #[test]
    fn drop_counts_by_instance_and_reason() {
        let counts = DropCounts::default();
        counts.add(None, DropReason::Oversized);
        counts.add(None, DropReason::Oversized);
        counts.add(None, DropReason::UnknownVrid);
        counts.add(Some(51), DropReason::Truncated);
        counts.add(Some(255), DropReason::Truncated);
        assert_eq!(counts.get(None, DropReason::Oversized), 2);
        assert_eq!(
            counts.for_instance(51),
            vec![
                (DropReason::Truncated, 1),
                (DropReason::UnknownVrid, 1),
                (DropReason::Oversized, 2)
            ]
        );
        assert_eq!(
            counts.for_instance(52),
            vec![(DropReason::UnknownVrid, 1), (DropReason::Oversized, 2)]
        );
        assert_eq!(counts.get(Some(255), DropReason::Truncated), 1);
    }

    fn received(data: Vec<u8>, src: IpAddr) -> Received {
        Received {
            data: data.into(),
            src,
            dst: src,
            hop_limit: 255,
            ifindex: 1,
            arrived: Instant::now(),
        }
    }

    #[test]
    fn screening_a_datagram_as_the_socket_delivers_it() {
        let vrids = VridSet::default();
        vrids.replace([51]);
        let src: IpAddr = "192.0.2.1".parse().unwrap();
        let advert = packet::Advertisement {
            version: packet::Version::V3,
            vrid: 51,
            priority: 100,
            advert_interval_cs: 10,
            addresses: vec!["192.0.2.100".parse().unwrap()],
            auth: packet::Auth::None,
        };
        let payload = advert.to_bytes(src, src, packet::ChecksumMode::PseudoHeader);
        let mut datagram = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 255, 112, 0, 0, 192, 0, 2, 1];
        datagram.extend_from_slice(&[224, 0, 0, 18]);
        datagram.extend_from_slice(&payload);
        let total = u16::try_from(datagram.len()).unwrap().to_be_bytes();
        datagram[2..4].copy_from_slice(&total);
        assert_eq!(screen(&received(datagram.clone(), src), &vrids), Ok(()));
        vrids.replace([52]);
        assert_eq!(
            screen(&received(datagram.clone(), src), &vrids),
            Err((None, DropReason::UnknownVrid))
        );
        vrids.replace([51]);
        // The IPv4 header says more than there is.
        assert_eq!(
            screen(&received(datagram[..22].to_vec(), src), &vrids),
            Err((None, DropReason::Truncated))
        );
        let v6: IpAddr = "fe80::1".parse().unwrap();
        assert_eq!(
            screen(&received(payload[..5].to_vec(), v6), &vrids),
            Err((Some(51), DropReason::Truncated))
        );
        assert_eq!(
            screen(&received(payload[..1].to_vec(), v6), &vrids),
            Err((None, DropReason::UnknownVrid))
        );
    }
}
