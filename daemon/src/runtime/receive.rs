//! The receive path of one VRRP socket, run by the event loop itself: it drains the socket
//! as fast as datagrams arrive, throws away right there what cannot be an advert for one of
//! the socket's instances (counted by reason), and hands the rest to the protocol straight
//! from the read's buffers (no copy, no task or channel in between).
//!
//! Anyone on the segment (and, for unicast, anyone who can route to us) can send protocol 112
//! datagrams: oversized and fragmented, truncated, garbage, for VRIDs nobody runs. Each must
//! cost only its own reading: no sleeping after an error, no allocation, and no delay of the
//! protocol. A burst is read in slices of [`BUDGET`] datagrams a socket per turn of the loop,
//! so that one busy socket does not hold up the others or the timers. Datagrams are read
//! [`RECEIVE_BATCH`] at a time (one `recvmmsg`): at 510 instances a backup hears 51,000
//! adverts a second.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::net::socket::{ReceiveBatch, ReceivedRef, VrrpSocket, RECEIVE_BATCH};
use crate::vrrp::accept;
use crate::vrrp::packet::DropReason;

/// Datagrams read from one socket in one turn of the event loop (a read takes up to
/// [`RECEIVE_BATCH`] at once): then the timers and the other sockets have their turn.
pub const BUDGET: usize = 64;
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

/// What the event loop keeps for reading one socket.
#[derive(Debug, Default)]
pub struct SocketReader {
    pub vrids: VridSet,
    pub drops: DropCounts,
    /// The last read filled its batch: more may be queued on the socket (see
    /// [`may_gather`]). A read that found fewer clears it: the socket was empty then.
    pub queued: bool,
    log: LogLimit,
    errors_in_a_row: u32,
    /// After [`ERRORS_BEFORE_PAUSE`] errors in a row the socket is left alone until then.
    paused_until: Option<Instant>,
}

/// What one turn read from a socket.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reads {
    /// Everything read, junk and errors included.
    pub datagrams: usize,
    /// What passed the screening and went to the protocol.
    pub adverts: usize,
}

impl std::ops::AddAssign for Reads {
    fn add_assign(&mut self, other: Reads) {
        self.datagrams += other.datagrams;
        self.adverts += other.adverts;
    }
}

impl SocketReader {
    /// When the socket is left alone after a run of errors (a socket that only fails must
    /// not spin the loop), while that lasts.
    pub fn paused_until(&self) -> Option<Instant> {
        self.paused_until.filter(|until| *until > Instant::now())
    }

    /// Reads what is queued on `socket` (named `interface` in the log), up to [`BUDGET`]
    /// datagrams, and hands each that passes the screening to `heard`, borrowed from
    /// `batch`, with the time of the read that returned it (one clock reading per read, not
    /// per advert). `force`: read even if the reactor has not seen the socket readable (see
    /// [`VrrpSocket::try_recv_batch`]).
    pub fn read(
        &mut self,
        socket: &VrrpSocket,
        interface: &str,
        batch: &mut ReceiveBatch,
        force: bool,
        mut heard: impl FnMut(&ReceivedRef<'_>, Instant),
    ) -> Reads {
        let mut reads = Reads::default();
        if self.paused_until().is_some() {
            return reads;
        }
        self.paused_until = None;
        while reads.datagrams < BUDGET {
            let count = match socket.try_recv_batch(batch, force) {
                Ok(count) => count,
                Err(e) => {
                    reads.datagrams += 1;
                    self.drops.add(None, DropReason::ReceiveError);
                    if self.log.allow() {
                        tracing::debug!("receive on {interface}: {e}");
                    }
                    self.errors_in_a_row += 1;
                    if self.errors_in_a_row >= ERRORS_BEFORE_PAUSE {
                        self.errors_in_a_row = 0;
                        self.paused_until = Some(Instant::now() + ERROR_PAUSE);
                        break;
                    }
                    continue;
                }
            };
            self.errors_in_a_row = 0;
            self.queued = count >= RECEIVE_BATCH;
            reads.datagrams += count;
            for i in 0..count {
                let (vrid, reason, from) = match batch.get(i, socket) {
                    Ok(received) => match screen(&received, &self.vrids) {
                        Ok(()) => {
                            reads.adverts += 1;
                            heard(&received, batch.read_at());
                            continue;
                        }
                        Err((vrid, reason)) => (vrid, reason, Some(received.src)),
                    },
                    Err(reason) => (None, reason, None),
                };
                self.drops.add(vrid, reason);
                if self.log.allow() {
                    match from {
                        Some(src) => tracing::debug!(
                            "{interface}: dropped a datagram from {src}: {reason} (at most one such line per second)"
                        ),
                        None => tracing::debug!(
                            "{interface}: dropped a datagram: {reason} (at most one such line per second)"
                        ),
                    }
                }
            }
            if !self.queued {
                break;
            }
        }
        reads
    }
}

/// The cheap checks of `packet::screen` plus the VRID lookup ([`accept::screen`]), on a
/// datagram as the socket delivered it (IPv4 with its header). A drop is the instance's when
/// the datagram carries the VRID of one of the socket's instances, else the socket's.
fn screen(received: &ReceivedRef<'_>, vrids: &VridSet) -> Result<(), (Option<u8>, DropReason)> {
    accept::screen(received.data, received.src.is_ipv4(), |vrid| {
        vrids.contains(vrid)
    })
}

/// Rate limit for the reader's debug lines.
#[derive(Debug, Default)]
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

    /// An IPv4 advert for `vrid` from 192.0.2.1 as a raw socket reads it (header included).
    fn ipv4_advert(vrid: u8) -> Vec<u8> {
        let src: IpAddr = "192.0.2.1".parse().unwrap();
        let group: IpAddr = "224.0.0.18".parse().unwrap();
        let payload = packet::Advertisement {
            version: packet::Version::V3,
            vrid,
            priority: 100,
            advert_interval_cs: 10,
            addresses: vec!["192.0.2.100".parse().unwrap()],
            auth: packet::Auth::None,
        }
        .to_bytes(src, group, packet::ChecksumMode::PseudoHeader);
        let mut datagram = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 255, 112, 0, 0, 192, 0, 2, 1];
        datagram.extend_from_slice(&[224, 0, 0, 18]);
        datagram.extend_from_slice(&payload);
        let total = u16::try_from(datagram.len()).unwrap().to_be_bytes();
        datagram[2..4].copy_from_slice(&total);
        datagram
    }

    /// A flood is read a budget per turn, its junk counted and dropped before the protocol
    /// sees it, the adverts among it handed over with their addresses from the IPv4 header;
    /// a read that filled its batch says more is queued.
    #[test]
    fn a_socket_is_read_a_budget_per_turn_and_only_adverts_reach_the_protocol() {
        use nix::sys::socket::{send, MsgFlags};
        use std::os::fd::AsRawFd;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let group: IpAddr = "224.0.0.18".parse().unwrap();
            let (socket, theirs) = VrrpSocket::pair_for_tests(
                crate::net::socket::Family::V4,
                "test0",
                crate::net::socket::Mode::Multicast { group },
            );
            let mut reader = SocketReader::default();
            reader.vrids.replace([51]);
            let advert = ipv4_advert(51);
            let other = ipv4_advert(52);
            // BUDGET + 20 datagrams: every fourth an advert, the rest for a VRID nobody runs
            // or cut short.
            let sent = BUDGET + 20;
            for i in 0..sent {
                let datagram: &[u8] = match i % 4 {
                    0 => &advert,
                    1 | 2 => &other,
                    _ => &advert[..22],
                };
                send(theirs.as_raw_fd(), datagram, MsgFlags::empty()).unwrap();
            }
            let mut batch = ReceiveBatch::default();
            let mut heard = Vec::new();
            let mut turn = |reader: &mut SocketReader, heard: &mut Vec<(IpAddr, IpAddr, usize)>| {
                reader.read(&socket, "test0", &mut batch, true, |r, _| {
                    heard.push((r.src, r.dst, r.data.len()));
                })
            };
            let first = turn(&mut reader, &mut heard);
            assert_eq!(first.datagrams, BUDGET);
            assert!(reader.queued, "more is queued after a full budget");
            assert_eq!(first.adverts, BUDGET / 4);
            let second = turn(&mut reader, &mut heard);
            assert_eq!(second.datagrams, sent - BUDGET);
            assert!(!reader.queued);
            assert_eq!(heard.len(), sent / 4);
            let from: IpAddr = "192.0.2.1".parse().unwrap();
            assert!(heard.iter().all(|h| *h == (from, group, advert.len())));
            assert_eq!(
                reader.drops.get(None, DropReason::UnknownVrid),
                (sent / 2) as u64
            );
            assert_eq!(
                reader.drops.get(None, DropReason::Truncated),
                (sent / 4) as u64
            );
            // Nothing queued: nothing read, nothing waits.
            assert_eq!(turn(&mut reader, &mut heard), Reads::default());
        });
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

    fn received(data: &[u8], src: IpAddr) -> ReceivedRef<'_> {
        ReceivedRef {
            data,
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
        assert_eq!(screen(&received(&datagram, src), &vrids), Ok(()));
        vrids.replace([52]);
        assert_eq!(
            screen(&received(&datagram, src), &vrids),
            Err((None, DropReason::UnknownVrid))
        );
        vrids.replace([51]);
        // The IPv4 header says more than there is.
        assert_eq!(
            screen(&received(&datagram[..22], src), &vrids),
            Err((None, DropReason::Truncated))
        );
        let v6: IpAddr = "fe80::1".parse().unwrap();
        assert_eq!(
            screen(&received(&payload[..5], v6), &vrids),
            Err((Some(51), DropReason::Truncated))
        );
        assert_eq!(
            screen(&received(&payload[..1], v6), &vrids),
            Err((None, DropReason::UnknownVrid))
        );
    }
}
