//! What a client sees during a failover: ICMP echo to the VIPs every few milliseconds from
//! the client namespace, and the longest time without a reply.
//!
//! A thread enters the client namespace (`setns`), sends echo requests on raw ICMP sockets
//! and reads the replies on a packet socket, which also shows the source MAC, so the
//! report says which router answered.

use std::fs::File;
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sched::{setns, CloneFlags};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::Lab;

/// Longest a meter runs if nobody stops it.
pub const DEFAULT_MAX_DURATION: Duration = Duration::from_secs(120);

/// What one target (VIP) looked like from the client.
#[derive(Clone, Debug)]
pub struct TargetReport {
    pub target: IpAddr,
    pub sent: u64,
    pub received: u64,
    /// Longest time between consecutive replies, counting from the meter's start and up to
    /// its stop (so a target that never answers has the whole run as its gap).
    pub longest_gap: Duration,
    /// When that gap began, from the meter's start.
    pub longest_gap_start: Duration,
    /// (time from start, router that replied) each time the replying router changed; None
    /// for a MAC that is no router of the lab.
    pub repliers: Vec<(Duration, Option<usize>)>,
}

impl TargetReport {
    pub fn lost(&self) -> u64 {
        self.sent.saturating_sub(self.received)
    }

    /// The router that answered last.
    pub fn last_replier(&self) -> Option<usize> {
        self.repliers.last().and_then(|(_, r)| *r)
    }
}

#[derive(Clone, Debug)]
pub struct OutageReport {
    pub duration: Duration,
    pub period: Duration,
    pub targets: Vec<TargetReport>,
    /// The meter hit its maximum duration before `stop()`.
    pub timed_out: bool,
    /// The longest the meter itself did not run (a CPU-starved thread neither sends nor
    /// reads): replies read after such a stall look late by as much, without any outage.
    pub longest_stall: Duration,
}

impl OutageReport {
    /// The longest gap over all targets.
    pub fn longest_gap(&self) -> Duration {
        self.targets
            .iter()
            .map(|t| t.longest_gap)
            .max()
            .unwrap_or_default()
    }

    /// `gap` (one of this report's) less the meter's own longest stall: how long the client
    /// went unanswered as far as the routers are concerned. A meter thread that a loaded
    /// machine leaves without a CPU neither sends echoes nor reads replies, so its stall
    /// shows as a gap of as much whatever the routers did (a stable master's VIP is answered
    /// by the kernel, without vipd being scheduled).
    pub fn beyond_stall(&self, gap: Duration) -> Duration {
        gap.saturating_sub(self.longest_stall)
    }

    /// [`Self::longest_gap`] less the meter's own longest stall ([`Self::beyond_stall`]).
    pub fn longest_outage(&self) -> Duration {
        self.beyond_stall(self.longest_gap())
    }

    pub fn lost(&self) -> u64 {
        self.targets.iter().map(TargetReport::lost).sum()
    }

    pub fn target(&self, ip: IpAddr) -> &TargetReport {
        self.targets
            .iter()
            .find(|t| t.target == ip)
            .unwrap_or_else(|| panic!("{ip} was not measured"))
    }
}

impl std::fmt::Display for OutageReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for t in &self.targets {
            writeln!(
                f,
                "{}: longest gap {:.1} ms at +{:.1} ms, sent {}, received {}, repliers {:?}",
                t.target,
                t.longest_gap.as_secs_f64() * 1e3,
                t.longest_gap_start.as_secs_f64() * 1e3,
                t.sent,
                t.received,
                t.repliers
            )?;
        }
        writeln!(
            f,
            "the meter's own longest stall: {:.1} ms",
            self.longest_stall.as_secs_f64() * 1e3
        )
    }
}

/// Live counters readable while the meter runs.
#[derive(Default)]
struct Live {
    replies: AtomicU64,
    /// Microseconds from start of the latest reply (0: none yet).
    last_reply_us: AtomicU64,
}

pub struct OutageMeter {
    stop: Arc<AtomicBool>,
    /// Set by `stop_drained`: microseconds the thread still reads replies after the stop.
    drain_us: Arc<AtomicU64>,
    live: Arc<Live>,
    started: Instant,
    thread: Option<JoinHandle<OutageReport>>,
}

impl OutageMeter {
    /// Starts pinging `targets` from the lab's client every `period`; returns once the
    /// sockets are open. Runs at most `DEFAULT_MAX_DURATION`.
    pub fn start(lab: &Lab, targets: &[IpAddr], period: Duration) -> OutageMeter {
        OutageMeter::start_bounded(lab, targets, period, DEFAULT_MAX_DURATION)
    }

    pub fn start_bounded(
        lab: &Lab,
        targets: &[IpAddr],
        period: Duration,
        max_duration: Duration,
    ) -> OutageMeter {
        assert!(!targets.is_empty(), "an outage meter needs a target");
        assert!(period >= Duration::from_micros(100), "period too short");
        let netns_path = format!("/run/netns/{}", lab.client_ns());
        let macs: Vec<([u8; 6], usize)> = lab
            .router_indices()
            .flat_map(|r| {
                [super::Segment::Main, super::Segment::Second].map(|s| (s.router_mac(r), r))
            })
            .collect();
        let targets = targets.to_vec();
        let stop = Arc::new(AtomicBool::new(false));
        let drain_us = Arc::new(AtomicU64::new(0));
        let live = Arc::new(Live::default());
        let (ready_tx, ready_rx) = mpsc::channel::<Result<Instant, String>>();
        let thread = {
            let stop = stop.clone();
            let drain_us = drain_us.clone();
            let live = live.clone();
            std::thread::spawn(move || {
                let sockets = match Sockets::open(&netns_path, &targets) {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return OutageReport {
                            duration: Duration::ZERO,
                            period,
                            targets: Vec::new(),
                            timed_out: false,
                            longest_stall: Duration::ZERO,
                        };
                    }
                };
                let started = Instant::now();
                let _ = ready_tx.send(Ok(started));
                let run = Run {
                    sockets,
                    targets,
                    macs,
                    period,
                    max_duration,
                    started,
                    stop,
                    drain_us,
                    live,
                };
                run.measure()
            })
        };
        let started = match ready_rx.recv() {
            Ok(Ok(started)) => started,
            Ok(Err(e)) => panic!("outage meter: {e}"),
            Err(_) => panic!("outage meter thread died during setup"),
        };
        OutageMeter {
            stop,
            drain_us,
            live,
            started,
            thread: Some(thread),
        }
    }

    /// Time since the meter started (the origin of the report's times).
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Replies received so far (all targets).
    pub fn replies(&self) -> u64 {
        self.live.replies.load(Ordering::Relaxed)
    }

    /// Time since the latest reply (None: none yet).
    pub fn since_last_reply(&self) -> Option<Duration> {
        let us = self.live.last_reply_us.load(Ordering::Relaxed);
        (us != 0).then(|| {
            self.started
                .elapsed()
                .saturating_sub(Duration::from_micros(us))
        })
    }

    /// Waits until `count` more replies (all targets together) arrived after this call.
    /// Returns false on timeout.
    pub fn wait_replies(&self, count: u64, timeout: Duration) -> bool {
        let base = self.replies();
        super::wait_until(timeout, Duration::from_millis(1), || {
            self.replies() >= base + count
        })
        .is_some()
    }

    pub fn stop(mut self) -> OutageReport {
        self.finish()
    }

    /// Stops sending, then reads the replies still on their way (queued behind other frames
    /// while the meter was starved of CPU) for up to `grace`, until every request has its
    /// answer: what is then missing was lost, not late. The report's times end at the stop.
    pub fn stop_drained(mut self, grace: Duration) -> OutageReport {
        self.drain_us
            .store(grace.as_micros().max(1) as u64, Ordering::SeqCst);
        self.finish()
    }

    fn finish(&mut self) -> OutageReport {
        self.stop.store(true, Ordering::SeqCst);
        match self.thread.take() {
            Some(thread) => thread.join().expect("outage meter thread panicked"),
            None => panic!("outage meter already stopped"),
        }
    }
}

impl Drop for OutageMeter {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.stop.store(true, Ordering::SeqCst);
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

struct Sockets {
    icmp4: Option<Socket>,
    icmp6: Option<Socket>,
    packet: Socket,
    identifier: u16,
}

const ETH_P_ALL: u16 = 0x0003;
static METER_COUNTER: AtomicU16 = AtomicU16::new(0);

impl Sockets {
    /// Enters the client namespace (this thread only) and opens the sockets there.
    fn open(netns_path: &str, targets: &[IpAddr]) -> Result<Sockets, String> {
        let ns = File::open(netns_path).map_err(|e| format!("open {netns_path}: {e}"))?;
        setns(&ns, CloneFlags::CLONE_NEWNET).map_err(|e| format!("setns {netns_path}: {e}"))?;
        let raw = |domain, protocol| -> Result<Socket, String> {
            let s = Socket::new(domain, Type::RAW, Some(protocol))
                .map_err(|e| format!("raw ICMP socket: {e}"))?;
            // Replies are read on the packet socket; keep this queue small.
            let _ = s.set_recv_buffer_size(1);
            Ok(s)
        };
        let icmp4 = if targets.iter().any(IpAddr::is_ipv4) {
            Some(raw(Domain::IPV4, Protocol::ICMPV4)?)
        } else {
            None
        };
        let icmp6 = if targets.iter().any(IpAddr::is_ipv6) {
            Some(raw(Domain::IPV6, Protocol::ICMPV6)?)
        } else {
            None
        };
        let packet = Socket::new(
            Domain::PACKET,
            Type::RAW,
            Some(Protocol::from(i32::from(ETH_P_ALL.to_be()))),
        )
        .map_err(|e| format!("packet socket: {e}"))?;
        let _ = packet.set_recv_buffer_size(1 << 20);
        packet
            .set_nonblocking(true)
            .map_err(|e| format!("packet socket: {e}"))?;
        let identifier = (std::process::id() as u16).wrapping_add(
            METER_COUNTER
                .fetch_add(1, Ordering::Relaxed)
                .wrapping_mul(7919),
        );
        Ok(Sockets {
            icmp4,
            icmp6,
            packet,
            identifier,
        })
    }
}

struct TargetState {
    report: TargetReport,
    last_reply: Option<Instant>,
}

struct Run {
    sockets: Sockets,
    targets: Vec<IpAddr>,
    macs: Vec<([u8; 6], usize)>,
    period: Duration,
    max_duration: Duration,
    started: Instant,
    stop: Arc<AtomicBool>,
    drain_us: Arc<AtomicU64>,
    live: Arc<Live>,
}

impl Run {
    fn measure(self) -> OutageReport {
        let mut states: Vec<TargetState> = self
            .targets
            .iter()
            .map(|&target| TargetState {
                report: TargetReport {
                    target,
                    sent: 0,
                    received: 0,
                    longest_gap: Duration::ZERO,
                    longest_gap_start: Duration::ZERO,
                    repliers: Vec::new(),
                },
                last_reply: None,
            })
            .collect();
        let mut buf = [0u8; 2048];
        let mut sequence: u16 = 0;
        let mut next_send = self.started;
        let mut timed_out = false;
        let mut longest_stall = Duration::ZERO;
        let mut last_turn = self.started;
        while !self.stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            // A turn waits at most a period for replies: anything longer is the meter's own
            // stall.
            longest_stall = longest_stall.max((now - last_turn).saturating_sub(self.period));
            last_turn = now;
            if now - self.started >= self.max_duration {
                timed_out = true;
                break;
            }
            if now >= next_send {
                sequence = sequence.wrapping_add(1);
                for state in &mut states {
                    self.send_echo(state.report.target, sequence);
                    state.report.sent += 1;
                }
                next_send += self.period;
                if next_send < now {
                    // Fell behind (CPU starved): skip the missed ticks.
                    next_send = now + self.period;
                }
            }
            let wait = next_send
                .saturating_duration_since(Instant::now())
                .max(Duration::from_micros(20));
            if !readable_within(&self.sockets.packet, wait) {
                continue;
            }
            let n = match (&self.sockets.packet).read(&mut buf) {
                Ok(n) => n,
                Err(_) => continue,
            };
            let at = Instant::now();
            let frame = &buf[..n];
            if let Some((source_mac, source_ip)) = parse_echo_reply(frame, self.sockets.identifier)
            {
                if let Some(state) = states.iter_mut().find(|s| s.report.target == source_ip) {
                    self.record_reply(state, source_mac, at);
                }
            }
        }
        let end = Instant::now();
        let drain = Duration::from_micros(self.drain_us.load(Ordering::SeqCst));
        let drain_until = end + drain;
        while Instant::now() < drain_until
            && states.iter().any(|s| s.report.received < s.report.sent)
        {
            let left = drain_until.saturating_duration_since(Instant::now());
            if !readable_within(&self.sockets.packet, left) {
                continue;
            }
            let Ok(n) = (&self.sockets.packet).read(&mut buf) else {
                continue;
            };
            if let Some((source_mac, source_ip)) =
                parse_echo_reply(&buf[..n], self.sockets.identifier)
            {
                if let Some(state) = states.iter_mut().find(|s| s.report.target == source_ip) {
                    self.record_reply(state, source_mac, Instant::now());
                }
            }
        }
        for state in &mut states {
            let since = state.last_reply.unwrap_or(self.started);
            let gap = end.saturating_duration_since(since);
            if gap > state.report.longest_gap {
                state.report.longest_gap = gap;
                state.report.longest_gap_start = since - self.started;
            }
            state.report.received = state.report.received.min(state.report.sent);
        }
        OutageReport {
            duration: end - self.started,
            period: self.period,
            targets: states.into_iter().map(|s| s.report).collect(),
            timed_out,
            longest_stall,
        }
    }

    fn record_reply(&self, state: &mut TargetState, source_mac: [u8; 6], at: Instant) {
        let since = state.last_reply.unwrap_or(self.started);
        let gap = at - since;
        if gap > state.report.longest_gap {
            state.report.longest_gap = gap;
            state.report.longest_gap_start = since - self.started;
        }
        state.last_reply = Some(at);
        state.report.received += 1;
        let router = self
            .macs
            .iter()
            .find(|(mac, _)| *mac == source_mac)
            .map(|(_, r)| *r);
        if state.report.repliers.last().map(|(_, r)| *r) != Some(router) {
            state.report.repliers.push((at - self.started, router));
        }
        self.live.replies.fetch_add(1, Ordering::Relaxed);
        let us = (at - self.started).as_micros().max(1) as u64;
        self.live.last_reply_us.store(us, Ordering::Relaxed);
    }

    fn send_echo(&self, target: IpAddr, sequence: u16) {
        let id = self.sockets.identifier;
        let (socket, kind) = match target {
            IpAddr::V4(_) => (self.sockets.icmp4.as_ref(), 8u8),
            IpAddr::V6(_) => (self.sockets.icmp6.as_ref(), 128u8),
        };
        let Some(socket) = socket else { return };
        let mut message = [0u8; 24];
        message[0] = kind;
        message[4..6].copy_from_slice(&id.to_be_bytes());
        message[6..8].copy_from_slice(&sequence.to_be_bytes());
        message[8..16].copy_from_slice(b"vipd-lab");
        if target.is_ipv4() {
            // The kernel fills in the ICMPv6 checksum, not the ICMPv4 one.
            let sum = internet_checksum(&message);
            message[2..4].copy_from_slice(&sum.to_be_bytes());
        }
        // Errors (no neighbour yet, unreachable) are what an outage looks like: ignore.
        let _ = socket.send_to(&message, &SockAddr::from(SocketAddr::new(target, 0)));
    }
}

/// Waits for `socket` to become readable with microsecond precision (SO_RCVTIMEO and
/// poll() count in jiffies or milliseconds, too coarse for a 2 ms period).
fn readable_within(socket: &Socket, timeout: Duration) -> bool {
    use std::os::fd::AsRawFd;
    let mut pollfd = libc::pollfd {
        fd: socket.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let timespec = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: one valid pollfd, a valid timespec, no signal mask change.
    let ready = unsafe { libc::ppoll(&mut pollfd, 1, &timespec, std::ptr::null()) };
    ready > 0 && pollfd.revents & libc::POLLIN != 0
}

fn internet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An Ethernet frame carrying an echo reply with our identifier: (source MAC, source IP).
fn parse_echo_reply(frame: &[u8], identifier: u16) -> Option<([u8; 6], IpAddr)> {
    let source_mac: [u8; 6] = frame.get(6..12)?.try_into().ok()?;
    let ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    let ip = frame.get(14..)?;
    let (source, icmp, reply_type) = match ethertype {
        0x0800 => {
            let header_len = usize::from(ip.first()? & 0x0f) * 4;
            if *ip.get(9)? != 1 {
                return None;
            }
            let source: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            (IpAddr::from(source), ip.get(header_len..)?, 0u8)
        }
        0x86dd => {
            if *ip.get(6)? != 58 {
                return None;
            }
            let source: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            (IpAddr::from(source), ip.get(40..)?, 129u8)
        }
        _ => return None,
    };
    if *icmp.first()? != reply_type {
        return None;
    }
    let id = u16::from_be_bytes([*icmp.get(4)?, *icmp.get(5)?]);
    (id == identifier).then_some((source_mac, source))
}
