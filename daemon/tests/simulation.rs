//! Deterministic simulation of the protocol core (`vrrp::instance`, sans-I/O): 2 to 5
//! routers of one virtual router (VRRPv2 or v3, IPv4 or IPv6, mixed priorities, preempt on or
//! off, preempt delays, sometimes an address owner) on a simulated segment with seeded random
//! loss, delay (up to a tenth of the shortest advert interval: VRRP's timers assume an advert
//! arrives well within an interval), duplication, reordering (between senders: one sender's
//! frames stay in order, as on Ethernet), partitions and heals, priority changes, faults,
//! crashes and restarts, stops and planned handovers, and (in half of the seeds) maintenance
//! drains, soft and hard, and resumes; a drain is kept across restarts, as the daemon keeps
//! it in `drain.json`. Time is virtual: a seed runs minutes of protocol in milliseconds, and
//! the same seed always runs the same way.
//!
//! A seed alternates turbulent phases (faults and a lossy network) with calm ones (no new
//! fault, no loss, sub-millisecond jitter). The invariants, checked after every step:
//!
//! - [`Invariant::OneMasterWhenStable`]: once nothing has disturbed the segment for
//!   Master_Down_Interval plus one advert interval (and the in-flight adverts have arrived),
//!   every group of connected, running, non-faulty routers has exactly one master.
//! - [`Invariant::HighestPriorityWins`]: then no router of that group with a higher priority
//!   than the master may preempt it (preemption on, or address owner, and its preempt delay
//!   over). Equal priorities are not compared: RFC 5798 6.4.2 has a backup accept a master of
//!   equal priority, so the address tie-break only decides between two masters. A drained
//!   router counts with priority 1 and never preempts.
//! - [`Invariant::DrainedOnlyAsLastRouter`]: then a drained router is master only when no
//!   router of its group is up that is not drained (while a router is soft-drained, "settled"
//!   also waits for its next offer of the role, which `nopreempt` backups answer). A group of
//!   hard-drained routers only has no master.
//! - [`Invariant::HardDrainNeverMaster`]: at every step, no hard-drained router becomes master.
//! - [`Invariant::NoChangeWithoutCause`]: every state change has the cause its reason names
//!   (the advert was delivered, no advert that would have stopped the down timer arrived in
//!   the last three intervals, the fault was set, the router was started, stopped, drained or
//!   resumed, a drain's handover heard its answer or ran out its bound), and once settled
//!   nothing changes at all.
//! - [`Invariant::HandoverKeepsAHolder`]: from a planned handover (a stop, a drain of the
//!   master, a drained master's offer of the role) until it ends, some router holds the VIPs,
//!   as long as a backup that could take over (not hard-drained) stays connected and healthy.
//!
//! - [`Invariant::TwoMastersTooLong`]: on a loss-free network two routers that hear each
//!   other are both master for at most the longest advert interval plus the adverts' delay
//!   (a master handing over is left out: it is silent and keeps its VIPs on purpose).
//!
//! In one seed of 15 an adversary on the segment (`tests/sim_adversary/`) sends datagrams
//! that are invalid by construction through the daemon's receive path, at any time:
//! - [`Invariant::InvalidInputAccepted`]: each is rejected by a check of the shell or
//!   discarded by the core;
//! - [`Invariant::InvalidInputChangedTrace`]: the seed runs again without the adversary, and
//!   what every router did (actions and deadlines, at their virtual times) is the same;
//! - and every invariant above holds throughout.
//!
//! In another seed of 15 it is a forger that also sends valid forgeries and replays (what
//! VRRP without authentication lets anyone on the segment send): they may take the role or
//! leave the VIPs unserved while it sends, so each one disturbs the segment like a fault,
//! and the invariants must hold once it stops, within Master_Down_Interval plus one
//! interval counted with the longest interval a forgery made a backup learn.
//! [`Invariant::ReceivePathMismatch`] checks the simulated receive path itself: honest
//! adverts pass it unchanged, valid forgeries pass it.
//!
//! `VIPD_SIM_SEEDS=N` runs N seeds (default below, what CI runs), from `VIPD_SIM_FIRST_SEED`
//! (default 0); `VIPD_SIM_SEED=S` replays one seed and prints its trace;
//! `VIPD_SIM_ADVERSARY=off|invalid|forger` gives every seed that adversary. A failure prints
//! the seed, the invariant, the trace's end and the command that replays it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use vipd::vrrp::packet::{self, Auth, ChecksumMode};

#[path = "sim_adversary/mod.rs"]
mod adversary;
mod seeded_rng;
use adversary::{Adversary, Kind, Mode, Rejection, Segment};
use seeded_rng::Rng;

use vipd::vrrp::instance::{
    Action, DrainMode, Instance, InstanceParams, Reason, ReceivedAdvert, State, Version,
    DRAIN_PROBE_ADVERTS, DRAIN_PROBE_MIN, PRIORITY_DRAINED, PRIORITY_LEAVING, PRIORITY_OWNER,
};

/// Seeds per `cargo test` run (CI); `make sim SEEDS=...` runs more.
const DEFAULT_SEEDS: u64 = 3000;
/// Trace lines kept for a failure report.
const TRACE_TAIL: usize = 250;
/// Adverts each router remembers for the cause checks: the longest window they look back
/// over (a skew time learned from a forged 40.95 s interval) at 10 ms adverts.
const HEARD_KEPT: usize = 8192;

/// The invariants, named as in the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Invariant {
    OneMasterWhenStable,
    HighestPriorityWins,
    NoChangeWithoutCause,
    HandoverKeepsAHolder,
    HardDrainNeverMaster,
    DrainedOnlyAsLastRouter,
    /// A datagram invalid by construction passed the receive path and changed the core.
    InvalidInputAccepted,
    /// A valid forgery or replay was rejected, or an honest advert failed the receive path:
    /// the simulated receive path is not the daemon's.
    ReceivePathMismatch,
    /// Two routers of one group stayed master longer than the bound on a loss-free network.
    TwoMastersTooLong,
    /// The honest routers did something else with invalid hostile input than without it.
    InvalidInputChangedTrace,
}

#[derive(Debug)]
struct Violation {
    invariant: Invariant,
    at: Duration,
    detail: String,
}

/// Network behaviour of a phase.
#[derive(Clone, Copy, Debug)]
struct Network {
    loss_per_mille: u64,
    duplicate_per_mille: u64,
    max_delay: Duration,
}

const CALM: Network = Network {
    loss_per_mille: 0,
    duplicate_per_mille: 100,
    max_delay: Duration::from_micros(500),
};

#[derive(Clone, Debug)]
struct RouterConfig {
    address: IpAddr,
    priority: u8,
    preempt: bool,
    preempt_delay: Duration,
    advert_interval: Duration,
}

/// One router of the segment; `instance` is None while its process is down.
struct Node {
    cfg: RouterConfig,
    instance: Option<Instance>,
    /// Bumped on every (re)start: adverts in flight to an earlier incarnation are lost.
    incarnation: u32,
    /// Partition group: adverts pass only between routers of the same group.
    group: u8,
    /// The interface is down (the core is told with `set_fault`).
    fault: bool,
    /// Priority the health checks give (the core is told with `set_effective_priority`).
    check_priority: u8,
    holds_vips: bool,
    /// Adverts delivered to this incarnation: (time, source, priority).
    heard: VecDeque<(Duration, IpAddr, u8)>,
    /// When this incarnation was started or last left FAULT (preempt delay window).
    entered_service: Duration,
    /// The latest end of a preempt delay the core ran (it also starts one on first hearing
    /// a lower priority master, as keepalived 2.2.7 does).
    preempt_window_end: Duration,
    /// When the check priority last changed.
    priority_changed: Duration,
    /// A planned handover in progress: (began, bound).
    handover: Option<(Duration, Duration)>,
    /// Asked to stop (a planned handover that ends in a stop, not a drain's).
    leaving: bool,
    /// Master_Adver_Interval as of the end of the previous step (a takeover resets it).
    learned_interval: Duration,
    /// The operator's drain, kept across restarts as the daemon keeps it in drain.json.
    drain: Option<DrainMode>,
    /// When the drain in force was last asked for (or its incarnation started drained).
    drained_since: Duration,
    /// When it was last resumed from a drain.
    resumed_at: Duration,
}

impl Node {
    fn running(&self) -> bool {
        self.instance.as_ref().is_some_and(|i| !i.is_stopped())
    }

    /// Takes part in elections: running, healthy, not leaving (a drained master handing over
    /// stays in the protocol).
    fn eligible(&self) -> bool {
        !self.fault
            && self
                .instance
                .as_ref()
                .is_some_and(|i| !(i.is_stopped() || (i.is_handing_over() && self.leaving)))
    }

    fn state(&self) -> Option<State> {
        self.instance.as_ref().map(Instance::state)
    }

    fn is_master(&self) -> bool {
        self.eligible() && self.state() == Some(State::Master)
    }

    /// The priority it advertises and elects with: 1 while drained.
    fn priority(&self) -> u8 {
        let configured = match self.drain {
            Some(_) => PRIORITY_DRAINED,
            None => self.cfg.priority,
        };
        self.instance
            .as_ref()
            .map_or(configured, Instance::advertised_priority)
    }

    fn drained(&self) -> bool {
        self.instance
            .as_ref()
            .map_or(self.drain.is_some(), |i| i.drain_mode().is_some())
    }

    fn hard_drained(&self) -> bool {
        self.instance
            .as_ref()
            .map_or(self.drain, Instance::drain_mode)
            == Some(DrainMode::Hard)
    }

    /// A drained router never preempts, whatever its configuration.
    fn preempts(&self) -> bool {
        !self.drained() && (self.cfg.preempt || self.priority() == PRIORITY_OWNER)
    }

    /// Could take over from a router handing over: eligible and not hard-drained.
    fn may_take_over(&self) -> bool {
        self.eligible() && !self.hard_drained()
    }
}

#[derive(Clone, Copy, Debug)]
enum Operation {
    Partition,
    Heal,
    Priority { node: usize, priority: u8 },
    Fault { node: usize, on: bool },
    Crash { node: usize },
    Stop { node: usize },
    Handover { node: usize },
    Restart { node: usize },
    Drain { node: usize, mode: DrainMode },
    Resume { node: usize },
    Network(Network),
    BeginCalm,
    BeginTurbulence,
}

#[derive(Clone, Copy, Debug)]
enum Event {
    Deliver {
        to: usize,
        incarnation: u32,
        group: u8,
        from: usize,
        priority: u8,
        interval: Duration,
    },
    Op(Operation),
    /// The adversary crafts and sends a datagram.
    Inject,
    /// A hostile datagram (index into `Sim::hostile`) reaches a router.
    Hostile {
        to: usize,
        packet: usize,
    },
}

/// Feeds formatted text to a hasher without building a string.
struct HashWriter<'a>(&'a mut DefaultHasher);

impl std::fmt::Write for HashWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.write(s.as_bytes());
        Ok(())
    }
}

/// What caused the current step (for the cause checks).
#[derive(Clone, Copy, Debug)]
enum Step {
    Timer,
    Delivered {
        to: usize,
        from: IpAddr,
        priority: u8,
    },
    Op(Operation),
}

struct Sim {
    seed: u64,
    rng: Rng,
    t0: Instant,
    now: Duration,
    end: Duration,
    version: Version,
    vrid: u8,
    /// This seed drains and resumes routers (some seeds do not, to cover the rest densely).
    drains: bool,
    nodes: Vec<Node>,
    queue: BTreeMap<(Duration, u64), Event>,
    sequence: u64,
    network: Network,
    calm: bool,
    /// Nothing has disturbed the segment since then (valid while `calm`).
    stable_since: Duration,
    /// Per handover in progress (by node): the backups that could take over.
    handover_candidates: BTreeMap<usize, Vec<usize>>,
    /// Per node: the bound of its latest handover (how long it keeps the VIPs unanswered).
    handover_bounds: BTreeMap<usize, Duration>,
    /// Per (sender, receiver): when the last advert in flight arrives. An Ethernet segment
    /// keeps one sender's frames in order; frames of different senders interleave freely.
    last_arrival: BTreeMap<(usize, usize), Duration>,
    trace: VecDeque<String>,
    print_trace: bool,
    /// Test hook: the network drops everything, also when calm (the checks must notice).
    sabotage: bool,
    stats: Stats,
    /// The hostile host on the segment, if this seed has one, and what the routers check.
    adversary: Option<Adversary>,
    segment: Option<Segment>,
    /// Hostile datagrams sent so far, with their kind.
    hostile: Vec<(Kind, adversary::Datagram)>,
    /// The longest advert interval a router learned from a forgery (v3 backups wait three).
    hostile_interval: Duration,
    /// Hashes of what the honest routers did (actions and timers, with times), when recorded.
    honest_trace: Option<Vec<(Duration, u64)>>,
    last_timeouts: Vec<Option<Instant>>,
    /// Pairs of routers that are both master, since when (loss-free phases only).
    dual_since: BTreeMap<(usize, usize), Duration>,
    /// When the current calm phase's network became loss-free with nothing in flight.
    calm_since: Duration,
    /// Phases as planned: (start, end, calm).
    phases: Vec<(Duration, Duration, bool)>,
    /// A violation found while applying an event.
    pending: Option<Violation>,
    /// Test hook: [`Invariant::TwoMastersTooLong`] is checked.
    two_master_check: bool,
    /// Test hook: the receive path lets through what it rejects after the structural
    /// checks (as a daemon missing the hop limit, source, password, VRID... checks would),
    /// unnoticed by the direct check: the comparison of traces must notice.
    leak: bool,
}

#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    steps: u64,
    adverts: u64,
    operations: u64,
    handovers: u64,
    drains: u64,
    drain_handovers: u64,
    probes: u64,
    resumes: u64,
    transitions: u64,
    settled_checks: u64,
}

impl std::ops::AddAssign for Stats {
    fn add_assign(&mut self, o: Stats) {
        self.steps += o.steps;
        self.adverts += o.adverts;
        self.operations += o.operations;
        self.handovers += o.handovers;
        self.drains += o.drains;
        self.drain_handovers += o.drain_handovers;
        self.probes += o.probes;
        self.resumes += o.resumes;
        self.transitions += o.transitions;
        self.settled_checks += o.settled_checks;
    }
}

fn address(version: Version, ipv6: bool, index: usize) -> IpAddr {
    let host = 10 + index as u8;
    if version == Version::V3 && ipv6 {
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(host)))
    } else {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, host))
    }
}

fn address_above(a: IpAddr, b: IpAddr) -> bool {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => u32::from(a) > u32::from(b),
        (IpAddr::V6(a), IpAddr::V6(b)) => u128::from(a) > u128::from(b),
        _ => false,
    }
}

impl Sim {
    fn new(seed: u64) -> Sim {
        Sim::with_adversary(seed, Mode::Off)
    }

    fn with_adversary(seed: u64, mode: Mode) -> Sim {
        let mut rng = Rng(seed);
        let version = if rng.chance(400) {
            Version::V2
        } else {
            Version::V3
        };
        let ipv6 = rng.chance(300);
        let count = 2 + rng.below(4) as usize;
        let intervals: &[Duration] = match version {
            Version::V2 => &[Duration::from_secs(1), Duration::from_secs(2)],
            Version::V3 => &[
                Duration::from_millis(10),
                Duration::from_millis(50),
                Duration::from_millis(100),
                Duration::from_secs(1),
            ],
        };
        let common = *rng.pick(intervals);
        // v2 requires one interval on the segment; v3 backups learn the master's.
        let mixed_intervals = version == Version::V3 && rng.chance(200);
        let owner = if rng.chance(150) {
            Some(rng.below(count as u64) as usize)
        } else {
            None
        };
        let priorities = [1u8, 50, 100, 100, 150, 200, 254];
        let nodes = (0..count)
            .map(|i| {
                let priority = if owner == Some(i) {
                    PRIORITY_OWNER
                } else if rng.chance(200) {
                    1 + rng.below(254) as u8
                } else {
                    *rng.pick(&priorities)
                };
                let advert_interval = if mixed_intervals {
                    *rng.pick(intervals)
                } else {
                    common
                };
                let cfg = RouterConfig {
                    address: address(version, ipv6, i),
                    priority,
                    preempt: !rng.chance(250),
                    preempt_delay: if rng.chance(200) {
                        advert_interval * (1 + rng.below(10) as u32)
                    } else {
                        Duration::ZERO
                    },
                    advert_interval,
                };
                Node {
                    check_priority: cfg.priority,
                    cfg,
                    instance: None,
                    incarnation: 0,
                    group: 0,
                    fault: false,
                    holds_vips: false,
                    heard: VecDeque::new(),
                    entered_service: Duration::ZERO,
                    preempt_window_end: Duration::ZERO,
                    priority_changed: Duration::ZERO,
                    handover: None,
                    leaving: false,
                    learned_interval: advert_interval,
                    drain: None,
                    drained_since: Duration::ZERO,
                    resumed_at: Duration::ZERO,
                }
            })
            .collect();
        let drains = rng.chance(500);
        let mut sim = Sim {
            seed,
            rng,
            t0: Instant::now(),
            now: Duration::ZERO,
            end: Duration::ZERO,
            version,
            vrid: 1 + (seed % 255) as u8,
            drains,
            nodes,
            queue: BTreeMap::new(),
            sequence: 0,
            network: CALM,
            calm: false,
            stable_since: Duration::ZERO,
            handover_candidates: BTreeMap::new(),
            handover_bounds: BTreeMap::new(),
            last_arrival: BTreeMap::new(),
            trace: VecDeque::new(),
            print_trace: false,
            sabotage: false,
            stats: Stats::default(),
            adversary: None,
            segment: None,
            hostile: Vec::new(),
            hostile_interval: Duration::ZERO,
            honest_trace: None,
            last_timeouts: vec![None; count],
            dual_since: BTreeMap::new(),
            calm_since: Duration::ZERO,
            phases: Vec::new(),
            pending: None,
            two_master_check: true,
            leak: false,
        };
        if mode != Mode::Off {
            // Its own random numbers: the honest routers and the network do exactly what
            // they do without it.
            let segment = sim.segment_for(seed);
            sim.adversary = Some(Adversary::new(mode, seed, &segment));
            sim.segment = Some(segment);
        }
        sim.plan_phases();
        sim.plan_adversary();
        sim
    }

    /// How the routers receive (drawn from the adversary's own numbers).
    fn segment_for(&self, seed: u64) -> Segment {
        let mut rng = Rng(seed ^ 0x0005_e6e0_0000_0002);
        let ipv6 = matches!(self.nodes[0].cfg.address, IpAddr::V6(_));
        let unicast = rng.chance(300);
        let version = match self.version {
            Version::V2 => packet::Version::V2,
            Version::V3 => packet::Version::V3,
        };
        let auth = if version == packet::Version::V2 && rng.chance(500) {
            Auth::from_password("secret")
        } else {
            Auth::None
        };
        let vip = |host: u8| {
            if ipv6 {
                IpAddr::V6(Ipv6Addr::new(
                    0x2001,
                    0xdb8,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0x100 + u16::from(host),
                ))
            } else {
                IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100 + host))
            }
        };
        let vips = (0..1 + rng.below(2) as u8).map(vip).collect();
        Segment {
            version,
            ipv6,
            vrid: self.vrid,
            unicast,
            check_unicast_src: unicast && rng.chance(700),
            auth,
            vips,
            checksum_mode: if rng.chance(200) {
                ChecksumMode::NoPseudoHeader
            } else {
                ChecksumMode::PseudoHeader
            },
            routers: self.nodes.iter().map(|n| n.cfg.address).collect(),
            intervals: self.nodes.iter().map(|n| n.cfg.advert_interval).collect(),
        }
    }

    /// When the adversary sends: throughout when it only sends invalid datagrams; a forger
    /// in some phases, and never in the last one (the bound after it stops is checked).
    fn plan_adversary(&mut self) {
        let Some(adversary) = self.adversary.as_mut() else {
            return;
        };
        let interval = self.nodes.iter().map(|n| n.cfg.advert_interval).max();
        let interval = interval.unwrap_or_default();
        let mut times = Vec::new();
        let mut burst = |rng: &mut Rng, from: Duration, to: Duration| {
            let mut t = from;
            loop {
                t += rng
                    .duration(interval / 8, interval * 2)
                    .max(Duration::from_micros(50));
                if t >= to {
                    break;
                }
                times.push(t);
            }
        };
        match adversary.mode {
            Mode::Off => {}
            Mode::Invalid => burst(&mut adversary.rng, Duration::ZERO, self.end),
            Mode::Forger => {
                let last = self.phases.len().saturating_sub(1);
                for (i, &(start, end, calm)) in self.phases.iter().enumerate() {
                    if i == last || !adversary.rng.chance(700) {
                        continue;
                    }
                    let to = if calm {
                        // Early in a calm phase, so that it settles and is watched after.
                        start + (end - start) / 4
                    } else {
                        end
                    };
                    burst(&mut adversary.rng, start, to);
                }
            }
        }
        for t in times {
            self.schedule(t, Event::Inject);
        }
    }

    /// The settle time a forger's longest interval calls for, and the calm phase's own.
    fn forger_settle(&self) -> Duration {
        let Some(adversary) = self.adversary.as_ref().filter(|a| a.mode == Mode::Forger) else {
            return Duration::ZERO;
        };
        let interval = self.max_interval().max(adversary.max_forged_interval);
        interval * 4 + interval + CALM.max_delay * 2 + Duration::from_millis(1)
    }

    /// The longest Master_Adver_Interval a router may have learned: an honest one or one a
    /// forgery advertised.
    fn max_learnable_interval(&self) -> Duration {
        self.max_interval().max(self.hostile_interval)
    }

    fn max_interval(&self) -> Duration {
        self.nodes
            .iter()
            .map(|n| n.cfg.advert_interval)
            .max()
            .unwrap_or_default()
    }

    fn min_interval(&self) -> Duration {
        self.nodes
            .iter()
            .map(|n| n.cfg.advert_interval)
            .min()
            .unwrap_or_default()
    }

    /// Upper bound of any Skew_Time on this segment.
    fn max_skew(&self) -> Duration {
        match self.version {
            Version::V2 => Duration::from_secs(1),
            Version::V3 => self.max_learnable_interval(),
        }
    }

    /// Master_Down_Interval plus one advert interval, plus the calm network's delay.
    fn settle_time(&self) -> Duration {
        let interval = self.max_learnable_interval();
        interval * 4 + self.max_skew() + CALM.max_delay * 2 + Duration::from_millis(1)
    }

    /// How much longer a soft-drained master may keep the role: it offers it to backups
    /// that never preempt (`nopreempt`, or priority 1) only every [`DRAIN_PROBE_ADVERTS`]
    /// intervals, waits three intervals and a margin for an answer (the core's probe bound),
    /// and the answer comes after the backup's skew time.
    fn drain_probe_time(&self) -> Duration {
        let interval = self.max_interval();
        (interval * DRAIN_PROBE_ADVERTS).max(DRAIN_PROBE_MIN)
            + Self::probe_bound(interval)
            + self.max_skew()
            + interval
            + Duration::from_millis(50)
    }

    /// The bound of a soft-drained master's probe (`Instance::drain_probe_bound`).
    fn probe_bound(interval: Duration) -> Duration {
        interval * 3 + Duration::from_millis(100)
    }

    /// When the segment counts as settled: the settle time after the last disturbance and
    /// after the end of every preempt delay window (its end makes a backup preempt), and,
    /// while a router is soft-drained, its next probe.
    fn settled_at(&self) -> Duration {
        let windows = self
            .nodes
            .iter()
            .filter(|n| n.running())
            .map(|n| (n.entered_service + n.cfg.preempt_delay).max(n.preempt_window_end))
            .max()
            .unwrap_or_default();
        let probe = if (self.nodes.iter()).any(|n| n.running() && n.drain == Some(DrainMode::Soft))
        {
            self.drain_probe_time()
        } else {
            Duration::ZERO
        };
        self.stable_since.max(windows) + self.settle_time() + probe
    }

    /// Turbulent and calm phases, and the operations of each turbulent one.
    fn plan_phases(&mut self) {
        let interval = self.max_interval();
        let settle = self.settle_time();
        let max_preempt_delay = self
            .nodes
            .iter()
            .map(|n| n.cfg.preempt_delay)
            .max()
            .unwrap_or_default();
        // A drained router's probe must fit in a calm phase too.
        let settle = if self.drains {
            settle + self.drain_probe_time()
        } else {
            settle
        };
        // A forger in the first part of a calm phase: room to settle after it.
        let settle = settle + self.forger_settle() * 2;
        let mut at = Duration::ZERO;
        for n in 0..self.nodes.len() {
            self.schedule(at, Event::Op(Operation::Restart { node: n }));
        }
        let phases = 3 + self.rng.below(3);
        for _ in 0..phases {
            // Calm: long enough to settle (preempt delays included) and to be watched.
            self.schedule(at, Event::Op(Operation::BeginCalm));
            let calm_start = at;
            at += settle + max_preempt_delay + interval * (5 + self.rng.below(20) as u32);
            self.phases.push((calm_start, at, true));
            self.schedule(at, Event::Op(Operation::BeginTurbulence));
            let turbulent = interval * (5 + self.rng.below(40) as u32);
            self.phases.push((at, at + turbulent, false));
            // VRRP's timers assume an advert arrives well within one advert interval (skew
            // times are fractions of it): delays up to a tenth of the shortest interval (100
            // ms at 1 s adverts, far beyond a LAN's). With delays up to a quarter interval and
            // heavy loss, 2 of 157000 handovers (50000 seeds) still saw a gap: a backup that
            // took over by its down timer just as the master handed over yielded again to the
            // master's last regular advert, delayed past its own takeover.
            let network = Network {
                loss_per_mille: self.rng.below(350),
                duplicate_per_mille: self.rng.below(200),
                max_delay: self.rng.duration(Duration::ZERO, self.min_interval() / 10),
            };
            self.schedule(at, Event::Op(Operation::Network(network)));
            let mut t = at;
            loop {
                t += self
                    .rng
                    .duration(interval / 4, interval * 3)
                    .max(Duration::from_micros(100));
                if t >= at + turbulent {
                    break;
                }
                let op = self.random_operation();
                self.schedule(t, Event::Op(op));
            }
            at += turbulent;
        }
        // End calm, with every router running again.
        self.schedule(at, Event::Op(Operation::Heal));
        for n in 0..self.nodes.len() {
            self.schedule(at, Event::Op(Operation::Fault { node: n, on: false }));
            self.schedule(at, Event::Op(Operation::Restart { node: n }));
        }
        self.schedule(at, Event::Op(Operation::BeginCalm));
        self.end = at + settle + max_preempt_delay + interval * 10;
        self.phases.push((at, self.end, true));
    }

    fn random_operation(&mut self) -> Operation {
        let node = self.rng.below(self.nodes.len() as u64) as usize;
        let kinds = if self.drains { 125 } else { 100 };
        match self.rng.below(kinds) {
            0..=9 => Operation::Partition,
            10..=19 => Operation::Heal,
            20..=34 => Operation::Priority {
                node,
                priority: 1 + self.rng.below(254) as u8,
            },
            35..=44 => Operation::Fault {
                node,
                on: self.rng.chance(500),
            },
            45..=54 => Operation::Crash { node },
            55..=59 => Operation::Stop { node },
            60..=79 => {
                // Mostly the master: that is where a handover matters.
                let master = self.nodes.iter().position(Node::is_master);
                Operation::Handover {
                    node: master.unwrap_or(node),
                }
            }
            80..=99 => Operation::Restart { node },
            100..=114 => {
                // Mostly the master (a drain hands over), else any router.
                let master = self.nodes.iter().position(Node::is_master);
                let node = match master {
                    Some(m) if self.rng.chance(600) => m,
                    _ => node,
                };
                let mode = if self.rng.chance(300) {
                    DrainMode::Hard
                } else {
                    DrainMode::Soft
                };
                Operation::Drain { node, mode }
            }
            _ => {
                // Mostly a drained router: that is where a resume does something.
                let drained: Vec<usize> = (0..self.nodes.len())
                    .filter(|&i| self.nodes[i].drain.is_some())
                    .collect();
                let node = if !drained.is_empty() && self.rng.chance(800) {
                    *self.rng.pick(&drained)
                } else {
                    node
                };
                Operation::Resume { node }
            }
        }
    }

    fn schedule(&mut self, at: Duration, event: Event) {
        self.sequence += 1;
        self.queue.insert((at, self.sequence), event);
    }

    fn log(&mut self, line: String) {
        let line = format!("{:>12.6}s {line}", self.now.as_secs_f64());
        if self.print_trace {
            println!("{line}");
        }
        self.trace.push_back(line);
        if self.trace.len() > TRACE_TAIL {
            self.trace.pop_front();
        }
    }

    fn instant(&self, at: Duration) -> Instant {
        self.t0 + at
    }

    fn disturb(&mut self) {
        self.stable_since = self.stable_since.max(self.now);
    }

    /// Runs the seed to its end; the first violated invariant ends it early.
    fn run(&mut self) -> Result<(), Violation> {
        loop {
            let next_event = self.queue.first_key_value().map(|(k, _)| k.0);
            let next_timer = self
                .nodes
                .iter()
                .enumerate()
                .filter_map(|(i, n)| {
                    let at = n.instance.as_ref()?.poll_timeout()?;
                    Some((at.saturating_duration_since(self.t0), i))
                })
                .min();
            let (at, step) = match (next_event, next_timer) {
                (Some(e), Some((t, i))) if t < e => (t, None::<usize>.or(Some(i))),
                (Some(e), _) => (e, None),
                (None, Some((t, i))) => (t, Some(i)),
                (None, None) => break,
            };
            if at > self.end {
                break;
            }
            self.now = self.now.max(at);
            self.stats.steps += 1;
            let step = match step {
                Some(node) => {
                    let now = self.instant(self.now);
                    if let Some(instance) = self.nodes[node].instance.as_mut() {
                        instance.handle_timeout(now);
                    }
                    Step::Timer
                }
                None => {
                    let Some((_, event)) = self.queue.pop_first() else {
                        break;
                    };
                    let step = self.apply(event);
                    if let Some(v) = self.pending.take() {
                        return Err(v);
                    }
                    match step {
                        Some(step) => step,
                        None => continue,
                    }
                }
            };
            self.process_actions(step)?;
            if let Some(v) = self.pending.take() {
                return Err(v);
            }
            self.record_timers();
            self.check(step)?;
            self.follow_handovers();
            for n in &mut self.nodes {
                if let Some(instance) = &n.instance {
                    n.learned_interval = instance.master_advert_interval();
                }
            }
        }
        Ok(())
    }

    /// Applies a queued event; None when it turned out to be nothing (a lost advert).
    fn apply(&mut self, event: Event) -> Option<Step> {
        match event {
            Event::Deliver {
                to,
                incarnation,
                group,
                from,
                priority,
                interval,
            } => {
                let source = self.nodes[from].cfg.address;
                let node = &mut self.nodes[to];
                if node.incarnation != incarnation || node.group != group || !node.running() {
                    return None;
                }
                node.heard.push_back((self.now, source, priority));
                while node.heard.len() > HEARD_KEPT {
                    node.heard.pop_front();
                }
                let now = self.t0 + self.now;
                if let Some(instance) = node.instance.as_mut() {
                    instance.handle_advert(
                        now,
                        &ReceivedAdvert {
                            source,
                            priority,
                            advert_interval: interval,
                        },
                    );
                }
                Some(Step::Delivered {
                    to,
                    from: source,
                    priority,
                })
            }
            Event::Op(op) => {
                self.operate(op);
                Some(Step::Op(op))
            }
            Event::Inject => {
                self.inject();
                None
            }
            Event::Hostile { to, packet } => self.receive_hostile(to, packet),
        }
    }

    /// The adversary sends a datagram to the routers it picked (the calm network's delay).
    fn inject(&mut self) {
        let (Some(adversary), Some(segment)) = (self.adversary.as_mut(), self.segment.as_ref())
        else {
            return;
        };
        let Some(crafted) = adversary.craft(segment) else {
            return;
        };
        let delays: Vec<Duration> = (crafted.targets.iter())
            .map(|_| adversary.rng.duration(Duration::ZERO, CALM.max_delay))
            .collect();
        let packet = self.hostile.len();
        self.hostile.push((crafted.kind, crafted.datagram));
        for (to, delay) in crafted.targets.into_iter().zip(delays) {
            self.schedule(self.now + delay, Event::Hostile { to, packet });
        }
    }

    /// A hostile datagram reaches router `to`: the daemon's receive path, then the core.
    fn receive_hostile(&mut self, to: usize, packet: usize) -> Option<Step> {
        let (Some(segment), Some(adversary)) = (self.segment.as_ref(), self.adversary.as_ref())
        else {
            return None;
        };
        let mode = adversary.mode;
        let (kind, datagram) = &self.hostile[packet];
        let kind = *kind;
        if !self.nodes[to].running() {
            return None;
        }
        let verdict = adversary::shell_receive(segment, to, datagram);
        let reject = |sim: &mut Sim, why: Rejection| {
            if let Some(a) = sim.adversary.as_mut() {
                *a.stats.rejected.entry(why).or_default() += 1;
            }
        };
        let leaked = match verdict {
            Err(_) if self.leak && !kind.valid() => leak(segment, datagram),
            _ => None,
        };
        if let Some(advert) = leaked {
            let node = &mut self.nodes[to];
            node.heard
                .push_back((self.now, advert.source, advert.priority));
            node.instance
                .as_mut()?
                .handle_advert(self.t0 + self.now, &advert);
            self.disturb();
            self.handover_candidates.values_mut().for_each(Vec::clear);
            return Some(Step::Delivered {
                to,
                from: advert.source,
                priority: advert.priority,
            });
        }
        let advert = match verdict {
            Err(why) => {
                reject(self, why);
                if kind.valid() {
                    self.pending = Some(self.violation(
                        Invariant::ReceivePathMismatch,
                        format!("r{to} rejected a {kind:?} ({why:?}), which is valid"),
                    ));
                }
                return None;
            }
            Ok(advert) => advert,
        };
        let now = self.instant(self.now);
        if !kind.valid() {
            // Only the core can still turn it away (a v3 interval of 0).
            let instance = self.nodes[to].instance.as_mut()?;
            let before = instance.discarded_adverts();
            instance.handle_advert(now, &advert);
            if instance.discarded_adverts() == before {
                self.pending = Some(self.violation(
                    Invariant::InvalidInputAccepted,
                    format!("r{to} accepted a {kind:?}: {advert:?}"),
                ));
            }
            reject(self, Rejection::CoreDiscarded);
            return Some(Step::Timer);
        }
        debug_assert_eq!(mode, Mode::Forger);
        if let Some(a) = self.adversary.as_mut() {
            a.stats.accepted += 1;
        }
        self.log(format!(
            "r{to} accepts a hostile {kind:?} from {} priority {} interval {:?}",
            advert.source, advert.priority, advert.advert_interval
        ));
        let node = &mut self.nodes[to];
        node.heard
            .push_back((self.now, advert.source, advert.priority));
        while node.heard.len() > HEARD_KEPT {
            node.heard.pop_front();
        }
        node.instance.as_mut()?.handle_advert(now, &advert);
        if self.version == Version::V3 && advert.priority != PRIORITY_LEAVING {
            self.hostile_interval = self.hostile_interval.max(advert.advert_interval);
        }
        // What VRRP allows a forger: the segment is disturbed until it stops, and a planned
        // handover may be answered by the forger instead of a backup (no holder then).
        self.disturb();
        self.handover_candidates.values_mut().for_each(Vec::clear);
        Some(Step::Delivered {
            to,
            from: advert.source,
            priority: advert.priority,
        })
    }

    /// Records each honest router's next deadline when it changes (for the comparison of a
    /// run with and without invalid hostile input).
    fn record_timers(&mut self) {
        if self.honest_trace.is_none() {
            return;
        }
        for node in 0..self.nodes.len() {
            let next = self.nodes[node]
                .instance
                .as_ref()
                .and_then(Instance::poll_timeout);
            if next != self.last_timeouts[node] {
                self.last_timeouts[node] = next;
                let at = next.map(|t| t.saturating_duration_since(self.t0));
                self.record(node, |h| at.hash(h));
            }
        }
    }

    fn record(&mut self, node: usize, what: impl FnOnce(&mut DefaultHasher)) {
        let now = self.now;
        if let Some(trace) = self.honest_trace.as_mut() {
            let mut hasher = DefaultHasher::new();
            node.hash(&mut hasher);
            what(&mut hasher);
            trace.push((now, hasher.finish()));
        }
    }

    fn operate(&mut self, op: Operation) {
        let now = self.instant(self.now);
        self.log(format!("op {op:?}"));
        if !matches!(op, Operation::BeginCalm | Operation::BeginTurbulence) {
            self.stats.operations += 1;
            self.disturb();
        }
        // What voids the handover expectation: see below.
        let touched = match op {
            Operation::Partition | Operation::Heal => None,
            Operation::Priority { .. } | Operation::Network(_) => Some(usize::MAX),
            Operation::Fault { node, .. }
            | Operation::Crash { node }
            | Operation::Stop { node }
            | Operation::Handover { node }
            | Operation::Restart { node }
            | Operation::Drain { node, .. }
            | Operation::Resume { node } => Some(node),
            Operation::BeginCalm | Operation::BeginTurbulence => Some(usize::MAX),
        };
        match touched {
            None => self.handover_candidates.values_mut().for_each(Vec::clear),
            Some(node) => {
                // A fault of a backup during the handover (the one that took over, say) is a
                // second failure: the handover alone no longer decides who holds the VIPs.
                for candidates in self.handover_candidates.values_mut() {
                    if candidates.contains(&node) {
                        candidates.clear();
                    }
                }
                // A second stop, a crash or a fault of the leaving router ends its handover
                // at once, on purpose; a resume calls a drain's handover off (it keeps the
                // role and lets the election decide).
                if !matches!(
                    op,
                    Operation::Handover { .. }
                        | Operation::Priority { .. }
                        | Operation::Drain { .. }
                ) {
                    self.handover_candidates.remove(&node);
                }
                // So does any other router failing meanwhile (the one that just took over,
                // say): a second failure, not the handover alone.
                if matches!(
                    op,
                    Operation::Stop { .. }
                        | Operation::Crash { .. }
                        | Operation::Fault { on: true, .. }
                        | Operation::Handover { .. }
                        | Operation::Drain { .. }
                ) {
                    self.handover_candidates.values_mut().for_each(Vec::clear);
                }
            }
        }
        match op {
            Operation::Partition => {
                for n in 0..self.nodes.len() {
                    self.nodes[n].group = self.rng.below(2) as u8;
                }
            }
            Operation::Heal => self.nodes.iter_mut().for_each(|n| n.group = 0),
            Operation::Priority { node, priority } => {
                let n = &mut self.nodes[node];
                n.check_priority = priority;
                n.priority_changed = self.now;
                if let Some(instance) = n.instance.as_mut() {
                    instance.set_effective_priority(now, priority);
                }
            }
            Operation::Fault { node, on } => {
                let n = &mut self.nodes[node];
                if n.fault && !on {
                    n.entered_service = self.now;
                }
                n.fault = on;
                if let Some(instance) = n.instance.as_mut() {
                    instance.set_fault(now, on);
                }
            }
            Operation::Crash { node } => {
                let n = &mut self.nodes[node];
                if n.instance.take().is_some() {
                    // The restarted daemon removes what the killed one left behind; until
                    // then the address answers nobody useful. Either way: not a holder.
                    n.holds_vips = false;
                    n.handover = None;
                    self.handover_candidates.remove(&node);
                    let back = self.now
                        + self
                            .rng
                            .duration(Duration::from_millis(1), self.max_interval() * 8);
                    self.schedule(back, Event::Op(Operation::Restart { node }));
                }
            }
            Operation::Stop { node } => {
                if let Some(instance) = self.nodes[node].instance.as_mut() {
                    instance.shutdown(now);
                    let back = self.now + self.max_interval() * (1 + self.rng.below(8) as u32);
                    self.schedule(back, Event::Op(Operation::Restart { node }));
                }
            }
            Operation::Handover { node } => self.begin_handover(node),
            Operation::Restart { node } => self.restart(node),
            Operation::Drain { node, mode } => self.drain(node, mode),
            Operation::Resume { node } => {
                self.stats.resumes += 1;
                let n = &mut self.nodes[node];
                if n.drain.take().is_some() {
                    n.priority_changed = self.now;
                    n.resumed_at = self.now;
                }
                if let Some(instance) = n.instance.as_mut() {
                    instance.resume(now);
                }
            }
            Operation::Network(network) => self.network = network,
            Operation::BeginCalm => {
                self.calm = true;
                self.network = CALM;
                // Adverts still in flight from the turbulent phase are a disturbance too.
                let last_in_flight = self
                    .queue
                    .iter()
                    .filter(|(_, e)| matches!(e, Event::Deliver { .. }))
                    .map(|(k, _)| k.0)
                    .max()
                    .unwrap_or(self.now);
                let handovers_end = self
                    .nodes
                    .iter()
                    .filter_map(|n| n.handover.map(|(began, bound)| began + bound))
                    .max()
                    .unwrap_or(self.now);
                self.stable_since = self.now.max(last_in_flight).max(handovers_end);
                self.calm_since = self.stable_since;
            }
            Operation::BeginTurbulence => self.calm = false,
        }
    }

    fn begin_handover(&mut self, node: usize) {
        let now = self.instant(self.now);
        let Some(instance) = self.nodes[node].instance.as_mut() else {
            return;
        };
        // As the daemon does (`Router::handover_bound`).
        let bound = instance.handover_bound();
        if instance.is_stopped() {
            return;
        }
        let was_master = instance.state() == State::Master && !instance.is_handing_over();
        instance.begin_handover(now, bound);
        self.nodes[node].leaving = true;
        if was_master && !self.nodes[node].fault {
            self.stats.handovers += 1;
            self.handover_began(node, bound);
        }
        let back = self.now + bound + self.max_interval() * (1 + self.rng.below(8) as u32);
        self.schedule(back, Event::Op(Operation::Restart { node }));
    }

    /// Handovers the core began or ended on its own: a soft-drained master's probe begins
    /// one; a resume, or a drain's handover that found nobody, ends one without a stop.
    fn follow_handovers(&mut self) {
        for node in 0..self.nodes.len() {
            let n = &self.nodes[node];
            let Some(instance) = &n.instance else {
                continue;
            };
            match (instance.is_handing_over(), n.handover) {
                (true, None) => {
                    self.stats.probes += 1;
                    let bound = Self::probe_bound(n.cfg.advert_interval);
                    self.handover_began(node, bound);
                }
                (false, Some(_)) if !instance.is_stopped() => {
                    if instance.state() == State::Master {
                        // Still master: the VIPs never left.
                        self.handover_candidates.remove(&node);
                    }
                    self.nodes[node].handover = None;
                }
                _ => {}
            }
        }
    }

    /// A planned handover of `node` began now (a stop, a drain or a drained master's probe):
    /// the routers that could take over are the ones the VIPs must not be left without.
    fn handover_began(&mut self, node: usize, bound: Duration) {
        self.nodes[node].handover = Some((self.now, bound));
        self.handover_bounds.insert(node, bound);
        let group = self.nodes[node].group;
        let candidates: Vec<usize> = (0..self.nodes.len())
            .filter(|&b| b != node && self.nodes[b].may_take_over() && self.nodes[b].group == group)
            .collect();
        self.handover_candidates.insert(node, candidates);
    }

    /// `vipd drain`: recorded first (it survives restarts), then given to the running
    /// instance with the bound the daemon uses (`Router::handover_bound`).
    fn drain(&mut self, node: usize, mode: DrainMode) {
        let now = self.instant(self.now);
        self.stats.drains += 1;
        let n = &mut self.nodes[node];
        if n.drain != Some(mode) {
            n.drained_since = self.now;
            n.priority_changed = self.now;
        }
        n.drain = Some(mode);
        let Some(instance) = n.instance.as_mut() else {
            return;
        };
        let bound = instance.handover_bound();
        let was_master = instance.state() == State::Master && !instance.is_handing_over();
        instance.drain(now, mode, bound);
        if was_master && instance.is_handing_over() && !n.fault {
            self.stats.drain_handovers += 1;
            self.handover_began(node, bound);
        }
    }

    /// (Re)starts a router that is down or stopped; a running one is left alone.
    fn restart(&mut self, node: usize) {
        let now = self.instant(self.now);
        if self.nodes[node].running() {
            return;
        }
        let vrid = self.vrid;
        let version = self.version;
        let n = &mut self.nodes[node];
        let mut params = InstanceParams::new(vrid, n.cfg.address);
        params.version = version;
        params.priority = n.cfg.priority;
        params.advert_interval = n.cfg.advert_interval;
        params.preempt = n.cfg.preempt;
        params.preempt_delay = n.cfg.preempt_delay;
        let mut instance = Instance::new(params);
        // As the daemon does: tracking and the persisted drain are applied before the
        // instance starts.
        instance.set_effective_priority(now, n.check_priority);
        instance.set_fault(now, n.fault);
        if let Some(mode) = n.drain {
            instance.drain(now, mode, instance.handover_bound());
            n.drained_since = self.now;
        }
        instance.start(now);
        n.instance = Some(instance);
        n.incarnation += 1;
        n.heard.clear();
        n.learned_interval = n.cfg.advert_interval;
        n.entered_service = self.now;
        n.handover = None;
        n.leaving = false;
        self.handover_candidates.remove(&node);
    }

    fn process_actions(&mut self, step: Step) -> Result<(), Violation> {
        for node in 0..self.nodes.len() {
            let delay_end = (self.nodes[node].instance.as_ref())
                .and_then(Instance::preempt_delay_end)
                .map(|end| end.saturating_duration_since(self.t0));
            if let Some(end) = delay_end {
                let n = &mut self.nodes[node];
                n.preempt_window_end = n.preempt_window_end.max(end);
            }
            while let Some(action) = self.nodes[node]
                .instance
                .as_mut()
                .and_then(Instance::poll_action)
            {
                if self.honest_trace.is_some() {
                    self.record(node, |h| {
                        let _ = write!(HashWriter(h), "{action:?}");
                    });
                }
                match action {
                    Action::SendAdvert { priority } => self.send(node, priority),
                    Action::AddVips => self.nodes[node].holds_vips = true,
                    Action::RemoveVips => self.nodes[node].holds_vips = false,
                    Action::Announce { .. } | Action::QuietVips | Action::UnquietVips => {}
                    Action::StateChanged { from, to, reason } => {
                        self.stats.transitions += 1;
                        self.log(format!(
                            "r{node} {} {from} -> {to} ({reason}) prio {}{}",
                            self.nodes[node].cfg.address,
                            self.nodes[node].priority(),
                            match self.nodes[node].drain {
                                Some(mode) => format!(" drained {mode}"),
                                None => String::new(),
                            }
                        ));
                        self.check_cause(node, step, from, to, &reason)?;
                        if to == State::Master && self.nodes[node].hard_drained() {
                            return Err(self.violation(
                                Invariant::HardDrainNeverMaster,
                                format!("r{node} became master ({reason}) while hard-drained"),
                            ));
                        }
                    }
                }
            }
            if self.nodes[node]
                .instance
                .as_ref()
                .is_some_and(Instance::is_stopped)
            {
                self.nodes[node].handover = None;
            }
        }
        Ok(())
    }

    fn send(&mut self, from: usize, priority: u8) {
        self.stats.adverts += 1;
        self.observe(from, priority);
        let interval = self.nodes[from].cfg.advert_interval;
        let group = self.nodes[from].group;
        if self.print_trace {
            self.log(format!("r{from} sends priority {priority}"));
        }
        for to in 0..self.nodes.len() {
            if to == from || self.nodes[to].group != group || !self.nodes[to].running() {
                continue;
            }
            let copies = if self.rng.chance(self.network.duplicate_per_mille) {
                2
            } else {
                1
            };
            for _ in 0..copies {
                if self.sabotage || self.rng.chance(self.network.loss_per_mille) {
                    continue;
                }
                let delay = self.rng.duration(Duration::ZERO, self.network.max_delay);
                let previous = self.last_arrival.get(&(from, to)).copied();
                let arrival = previous.unwrap_or_default().max(self.now + delay);
                self.last_arrival.insert((from, to), arrival);
                let event = Event::Deliver {
                    to,
                    incarnation: self.nodes[to].incarnation,
                    group,
                    from,
                    priority,
                    interval,
                };
                self.schedule(arrival, event);
            }
        }
    }

    /// The adversary sniffs an honest advert as the daemon sends it; it must pass the
    /// receive path of another router unchanged (the simulated path is the daemon's).
    fn observe(&mut self, from: usize, priority: u8) {
        let (Some(segment), Some(adversary)) = (self.segment.as_ref(), self.adversary.as_mut())
        else {
            return;
        };
        // One advert in four (it costs a little): plenty to mutate and replay.
        if self.stats.adverts % 4 != 0 {
            return;
        }
        let to = (from + 1) % self.nodes.len();
        let advert = segment.advert(from, priority);
        let datagram = segment.wire(
            &advert,
            segment.routers[from],
            segment.destination(to),
            packet::HOP_LIMIT,
        );
        let received = adversary::shell_receive(segment, to, &datagram);
        adversary.observe(from, datagram);
        let want = ReceivedAdvert {
            source: segment.routers[from],
            priority,
            advert_interval: self.nodes[from].cfg.advert_interval,
        };
        if received.as_ref() != Ok(&want) && self.pending.is_none() {
            self.pending = Some(self.violation(
                Invariant::ReceivePathMismatch,
                format!("r{from}'s advert reaches r{to} as {received:?}, not {want:?}"),
            ));
        }
    }

    fn violation(&self, invariant: Invariant, detail: String) -> Violation {
        Violation {
            invariant,
            at: self.now,
            detail,
        }
    }

    /// [`Invariant::NoChangeWithoutCause`] for one state change.
    fn check_cause(
        &self,
        node: usize,
        step: Step,
        from: State,
        to: State,
        reason: &Reason,
    ) -> Result<(), Violation> {
        let n = &self.nodes[node];
        let fail = |why: String| {
            Err(self.violation(
                Invariant::NoChangeWithoutCause,
                format!("r{node} {from} -> {to} ({reason}): {why}"),
            ))
        };
        if self.calm && self.now >= self.settled_at() {
            return fail("a state change on a settled segment".into());
        }
        let own_op = |op: &Operation| match *op {
            Operation::Fault { node: x, .. }
            | Operation::Crash { node: x }
            | Operation::Stop { node: x }
            | Operation::Handover { node: x }
            | Operation::Restart { node: x }
            | Operation::Drain { node: x, .. }
            | Operation::Resume { node: x } => x == node,
            Operation::Priority { node: x, .. } => x == node,
            _ => false,
        };
        let heard_within = |window: Duration, matches: &dyn Fn(IpAddr, u8) -> bool| {
            n.heard
                .iter()
                .rev()
                .take_while(|(t, _, _)| *t + window >= self.now)
                .any(|(_, source, priority)| matches(*source, *priority))
        };
        let delivered_now = |want: &dyn Fn(IpAddr, u8) -> bool| match step {
            Step::Delivered { to, from, priority } => to == node && want(from, priority),
            _ => false,
        };
        let ok = match reason {
            Reason::Startup | Reason::AddressOwner => {
                matches!(step, Step::Op(Operation::Restart { node: x }) if x == node)
                    || (matches!(reason, Reason::AddressOwner)
                        && matches!(step, Step::Op(ref op) if own_op(op)))
            }
            Reason::Fault => {
                matches!(step, Step::Op(Operation::Fault { node: x, on: true }) if x == node)
                    || matches!(step, Step::Op(Operation::Restart { node: x }) if x == node && n.fault)
            }
            Reason::FaultCleared => {
                matches!(step, Step::Op(Operation::Fault { node: x, on: false }) if x == node)
            }
            Reason::Shutdown => matches!(step, Step::Op(ref op) if own_op(op)),
            Reason::HigherPriorityAdvert {
                from: source,
                priority,
            } => *priority > n.priority() && delivered_now(&|s, p| s == *source && p == *priority),
            Reason::EqualPriorityHigherAddress { from: source } => {
                address_above(*source, n.cfg.address)
                    && delivered_now(&|s, p| s == *source && p == n.priority())
            }
            Reason::PriorityZeroAdvert { from: source } => {
                let skew = self.max_skew() + Duration::from_millis(1);
                // A drain meanwhile re-times the takeover with the drained skew.
                let drained = n.drained_since + skew >= self.now;
                // A drained backup lets a drained master's priority 0 pass (its offer) and,
                // resumed, answers it after its own skew: the master's last word before the
                // resume was the 0.
                let resumed = n.resumed_at + skew >= self.now
                    && n.heard
                        .iter()
                        .rev()
                        .find(|(t, s, _)| s == source && *t <= n.resumed_at)
                        .is_some_and(|(_, _, p)| *p == PRIORITY_LEAVING);
                resumed
                    || heard_within(skew, &|s, p| s == *source && p == PRIORITY_LEAVING)
                    || (drained
                        && n.heard.iter().any(|(t, s, p)| {
                            *s == *source
                                && *p == PRIORITY_LEAVING
                                && *t <= n.drained_since
                                && *t + skew >= n.drained_since
                        }))
            }
            Reason::PreemptLowerPriority { master, priority } => {
                // The master's last priority, also when it then offered the role with a
                // priority 0 (a drained master's probe) that a drained backup, resumed
                // since, did not answer.
                let from_master = || n.heard.iter().rev().filter(|(_, s, _)| s == master);
                let offered = from_master().next().is_some_and(|(_, _, p)| *p == 0)
                    && from_master()
                        .find(|(_, _, p)| *p != PRIORITY_LEAVING)
                        .is_some_and(|(_, _, p)| p == priority);
                // A drain's handover ends following the master that answered it, heard up
                // to its bound before.
                let mut window = self.max_learnable_interval() * 4 + self.max_skew();
                let bound = n
                    .instance
                    .as_ref()
                    .map_or(Duration::ZERO, |i| i.handover_bound());
                if n.drained_since > Duration::ZERO && n.drained_since + bound + window >= self.now
                {
                    window += bound;
                }
                *priority < n.priority()
                    && n.preempts()
                    && (offered || heard_within(window, &|s, p| s == *master && p == *priority))
            }
            Reason::MasterDownTimerExpired => {
                let window = n.learned_interval * 3;
                // An advert the backup would have accepted restarts the down timer: one within
                // the last three intervals means the timer cannot have run out. Skipped while
                // a priority change or the preempt delay window may have changed what counts.
                let unclear = self.now < n.priority_changed + window + self.max_skew()
                    || self.now < n.entered_service + n.cfg.preempt_delay + window
                    || self.now < n.preempt_window_end + window;
                let own = n.priority();
                let preempts = n.preempts();
                unclear
                    || !heard_within(window, &|_, p| {
                        p != PRIORITY_LEAVING && (p >= own || !preempts)
                    })
            }
            // The simulation runs no sync groups.
            Reason::SyncGroup => false,
            Reason::HandoverComplete { new_master } => {
                let began = n.handover.map_or(Duration::ZERO, |(began, _)| began);
                n.heard.iter().any(|(t, source, priority)| {
                    *t >= began && source == new_master && *priority != PRIORITY_LEAVING
                })
            }
            Reason::HandoverTimedOut => n
                .handover
                .is_none_or(|(began, bound)| self.now >= began + bound),
            Reason::Drained { new_master } => {
                let began = n.handover.map_or(Duration::ZERO, |(began, _)| began);
                to == State::Backup
                    && n.drained()
                    && n.heard.iter().any(|(t, source, priority)| {
                        *t >= began && source == new_master && *priority != PRIORITY_LEAVING
                    })
            }
            Reason::DrainedNobodyTookOver => {
                to == State::Backup
                    && n.hard_drained()
                    && n.handover
                        .is_some_and(|(began, bound)| self.now >= began + bound)
            }
            Reason::DrainedLastRouter => {
                // A drained backup accepts every advert but priority 0, and each restarts its
                // down timer: none may have arrived in the last three intervals (since the
                // drain: before it, an advert the backup did not accept restarted nothing),
                // unless the master it followed then said it was leaving.
                let since = (self.now.saturating_sub(n.learned_interval * 3)).max(n.drained_since);
                let last_advert = (n.heard.iter().rev())
                    .find(|(_, _, p)| *p != PRIORITY_LEAVING)
                    .map(|(t, _, _)| *t);
                let last_leaving = (n.heard.iter().rev())
                    .find(|(_, _, p)| *p == PRIORITY_LEAVING)
                    .map(|(t, _, _)| *t);
                to == State::Master
                    && n.drained()
                    && !n.hard_drained()
                    && (last_advert.is_none_or(|t| t < since)
                        || last_leaving.is_some_and(|z| last_advert.is_some_and(|a| z >= a)))
            }
            // The simulation does not reload.
            Reason::Reconfigured => false,
        };
        if ok {
            Ok(())
        } else {
            fail(format!("the cause did not happen (step {step:?})"))
        }
    }

    /// The invariants over the whole segment, after a step.
    fn check(&mut self, _step: Step) -> Result<(), Violation> {
        // HandoverKeepsAHolder: from the handover until another router holds the VIPs.
        let done: Vec<usize> = (self.handover_candidates.keys())
            .copied()
            .filter(|&leaving| {
                !self.nodes[leaving].holds_vips
                    && (self.nodes.iter().enumerate()).any(|(i, n)| i != leaving && n.holds_vips)
            })
            .collect();
        for leaving in done {
            self.handover_candidates.remove(&leaving);
        }
        for (&leaving, candidates) in &self.handover_candidates {
            // What RFC 5798 lets a backup wait: its answer to the priority 0 comes after its
            // Skew_Time (6.4.2); without it, Master_Down_Interval after the last advert it
            // heard, or its start (6.4.1), from its Master_Adver_Interval. Once that is the
            // leaving master's (v3 learns it from an accepted advert; v2 accepts only equal
            // ones), the bound outlasts it. Before, it is the backup's own configured one: a
            // v3 backup with a longer interval that has heard no advert of the leaving master
            // (all lost since it started, seed 51368) may rightly take over only after the
            // bound, which the leaving master, knowing neither its interval nor its start,
            // cannot cover. Such a backup is counted only if its Master_Down_Interval fits.
            let leaving_interval = self.nodes[leaving].cfg.advert_interval;
            let bound = self.handover_bounds.get(&leaving).copied();
            let counted = candidates.iter().filter(|&&b| {
                self.nodes[b].instance.as_ref().is_some_and(|backup| {
                    backup.master_advert_interval() == leaving_interval
                        || bound.is_some_and(|bound| backup.master_down_interval() <= bound)
                })
            });
            let candidates: Vec<usize> = counted.copied().collect();
            if candidates.is_empty() {
                continue;
            }
            if !self.nodes.iter().any(|n| n.holds_vips) {
                return Err(self.violation(
                    Invariant::HandoverKeepsAHolder,
                    format!(
                        "r{leaving} is handing over and no router holds the VIPs \
                         (backups that could take over: {candidates:?})"
                    ),
                ));
            }
        }
        self.check_two_masters()?;
        if !self.calm || self.now < self.settled_at() {
            return Ok(());
        }
        self.stats.settled_checks += 1;
        for group in 0..2u8 {
            let members: Vec<usize> = (0..self.nodes.len())
                .filter(|&i| self.nodes[i].group == group && self.nodes[i].eligible())
                .collect();
            if members.is_empty() {
                continue;
            }
            let masters: Vec<usize> = members
                .iter()
                .copied()
                .filter(|&i| self.nodes[i].is_master())
                .collect();
            // Routers that are all hard-drained leave the VIPs unserved, on purpose.
            if masters.is_empty() && members.iter().all(|&i| self.nodes[i].hard_drained()) {
                continue;
            }
            if masters.len() != 1 {
                return Err(self.violation(
                    Invariant::OneMasterWhenStable,
                    format!(
                        "group {group} {members:?} has masters {masters:?} after {:?} of calm",
                        self.now - self.stable_since
                    ),
                ));
            }
            let master = masters[0];
            // A drained router serves only when no router that is not drained is left.
            if self.nodes[master].drained() {
                if let Some(&x) = members.iter().find(|&&i| !self.nodes[i].drained()) {
                    return Err(self.violation(
                        Invariant::DrainedOnlyAsLastRouter,
                        format!(
                            "r{master} is drained ({:?}) and master; r{x} (priority {}, not \
                             drained) is up in group {group} {members:?}",
                            self.nodes[master].drain,
                            self.nodes[x].priority()
                        ),
                    ));
                }
            }
            let master_priority = self.nodes[master].priority();
            for &x in &members {
                let n = &self.nodes[x];
                if n.priority() > master_priority && n.preempts() {
                    return Err(self.violation(
                        Invariant::HighestPriorityWins,
                        format!(
                            "r{x} (priority {}, preempts) is not master; r{master} is, with \
                             priority {master_priority}",
                            n.priority()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// [`Invariant::TwoMastersTooLong`]: on a loss-free network two routers that hear each
    /// other are both master for at most one advert interval (RFC 5798 6.4.3: the one that
    /// loses the comparison yields when the other's next advert arrives, at most one
    /// interval later; a vipd master answers a lower priority at once), plus the delay of
    /// the adverts on the way and the 1 ms of the check's resolution.
    fn check_two_masters(&mut self) -> Result<(), Violation> {
        if !self.two_master_check || !self.calm || self.now < self.calm_since {
            self.dual_since.clear();
            return Ok(());
        }
        // A master handing over is left out: it sent its priority 0, sends no more adverts
        // or announcements, and keeps the VIPs until the new master is heard or, if it
        // became master just before (its rival may still yield to it), its bound passes:
        // on purpose, so that some router holds them throughout.
        let masters: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| {
                self.nodes[i].is_master()
                    && !(self.nodes[i].instance.as_ref()).is_some_and(Instance::is_handing_over)
            })
            .collect();
        let mut pairs = BTreeSet::new();
        for (i, &a) in masters.iter().enumerate() {
            for &b in &masters[i + 1..] {
                if self.nodes[a].group == self.nodes[b].group {
                    pairs.insert((a, b));
                }
            }
        }
        self.dual_since.retain(|pair, _| pairs.contains(pair));
        let bound = self.max_interval() + CALM.max_delay * 2 + Duration::from_millis(1);
        for pair in pairs {
            let since = *self.dual_since.entry(pair).or_insert(self.now);
            if self.now > since + bound {
                return Err(self.violation(
                    Invariant::TwoMastersTooLong,
                    format!(
                        "r{} and r{} are both master since {:.6}s (bound {bound:?})",
                        pair.0,
                        pair.1,
                        since.as_secs_f64()
                    ),
                ));
            }
        }
        Ok(())
    }

    fn describe(&self) -> String {
        let mut out = format!(
            "seed {}: {:?}, vrid {}, {} routers\n",
            self.seed,
            self.version,
            self.vrid,
            self.nodes.len()
        );
        for (i, n) in self.nodes.iter().enumerate() {
            let _ = writeln!(
                out,
                "  r{i} {} prio {} (now {}) preempt {} delay {:?} interval {:?} | state {:?} \
                 fault {} group {} holds {} handover {:?} drain {:?}",
                n.cfg.address,
                n.cfg.priority,
                n.priority(),
                n.cfg.preempt,
                n.cfg.preempt_delay,
                n.cfg.advert_interval,
                n.state(),
                n.fault,
                n.group,
                n.holds_vips,
                n.handover,
                n.drain
            );
        }
        out
    }
}

/// What a daemon without the checks after the structural ones would hand the core.
fn leak(segment: &Segment, datagram: &adversary::Datagram) -> Option<ReceivedAdvert> {
    let (src, payload, family) = match datagram.src {
        IpAddr::V4(_) => {
            let (meta, payload) = packet::split_ipv4(&datagram.data).ok()?;
            (IpAddr::V4(meta.src), payload, packet::Family::Ipv4)
        }
        IpAddr::V6(_) => (datagram.src, &datagram.data[..], packet::Family::Ipv6),
    };
    let view = packet::Packet::new_checked(payload, family).ok()?;
    let advert = packet::Advertisement::parse(&view).ok()?;
    (advert.vrid == segment.vrid && !segment.routers.contains(&src)).then(|| ReceivedAdvert {
        source: src,
        priority: advert.priority,
        advert_interval: Duration::from_millis(u64::from(advert.advert_interval_cs) * 10),
    })
}

fn env_u64(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    Some(
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text} is not a number")),
    )
}

/// The adversary of a seed: `VIPD_SIM_ADVERSARY=off|invalid|forger` for all seeds, else
/// invalid datagrams only in one seed of fifteen and a forger in another.
fn adversary_mode(seed: u64) -> Mode {
    match std::env::var("VIPD_SIM_ADVERSARY").as_deref() {
        Ok("off") => Mode::Off,
        Ok("invalid") => Mode::Invalid,
        Ok("forger") => Mode::Forger,
        Ok(other) if !other.is_empty() => {
            panic!("VIPD_SIM_ADVERSARY={other}: off, invalid or forger")
        }
        _ => match seed % 15 {
            1 => Mode::Invalid,
            8 => Mode::Forger,
            _ => Mode::Off,
        },
    }
}

/// What one seed did.
#[derive(Default)]
struct SeedStats {
    sim: Stats,
    adversary: adversary::Stats,
}

fn failure_report(seed: u64, mode: Mode, sim: &Sim, v: &Violation, print_trace: bool) -> String {
    let mut report = format!(
        "seed {seed} (adversary {mode:?}): invariant {:?} violated at {:.6}s: {}\n{}",
        v.invariant,
        v.at.as_secs_f64(),
        v.detail,
        sim.describe()
    );
    if !print_trace {
        let _ = writeln!(report, "trace (last {TRACE_TAIL} lines):");
        for line in &sim.trace {
            let _ = writeln!(report, "  {line}");
        }
    }
    let adversary = std::env::var("VIPD_SIM_ADVERSARY")
        .map(|a| format!("VIPD_SIM_ADVERSARY={a} "))
        .unwrap_or_default();
    let _ = write!(
        report,
        "replay: {adversary}VIPD_SIM_SEED={seed} cargo test -p vipd --test simulation -- \
         --nocapture"
    );
    report
}

/// Runs one seed; on failure, the report to print. A seed whose adversary sends only
/// invalid datagrams runs again without it, and what the honest routers did (every action
/// and deadline, at its virtual time) must be the same.
fn run_seed(seed: u64, print_trace: bool) -> Result<SeedStats, String> {
    let mode = adversary_mode(seed);
    let mut sim = Sim::with_adversary(seed, mode);
    sim.print_trace = print_trace;
    if mode == Mode::Invalid {
        sim.honest_trace = Some(Vec::new());
    }
    if let Err(v) = sim.run() {
        return Err(failure_report(seed, mode, &sim, &v, print_trace));
    }
    let mut stats = SeedStats {
        sim: sim.stats,
        adversary: sim.adversary.take().map(|a| a.stats).unwrap_or_default(),
    };
    if mode == Mode::Invalid {
        let mut clean = Sim::with_adversary(seed, Mode::Off);
        clean.honest_trace = Some(Vec::new());
        if let Err(v) = clean.run() {
            return Err(failure_report(seed, Mode::Off, &clean, &v, print_trace));
        }
        stats.sim += clean.stats;
        stats.adversary.differential_runs += 1;
        if let Err(v) = compare_traces(&sim, &clean) {
            return Err(failure_report(seed, mode, &sim, &v, print_trace));
        }
    }
    Ok(stats)
}

/// [`Invariant::InvalidInputChangedTrace`]: the honest routers of `with` (hostile input)
/// did what those of `without` (none) did, at the same virtual times.
fn compare_traces(with: &Sim, without: &Sim) -> Result<(), Violation> {
    let (a, b) = (
        with.honest_trace.as_deref().unwrap_or_default(),
        without.honest_trace.as_deref().unwrap_or_default(),
    );
    if a == b {
        return Ok(());
    }
    let at = a.iter().zip(b).position(|(x, y)| x != y);
    let at = at.unwrap_or(a.len().min(b.len()));
    let when = |trace: &[(Duration, u64)]| trace.get(at).map(|(t, _)| t.as_secs_f64());
    Err(Violation {
        invariant: Invariant::InvalidInputChangedTrace,
        at: a.get(at).map_or(with.now, |(t, _)| *t),
        detail: format!(
            "the honest routers' traces differ from entry {at} of {}/{} (at {:?}s with the \
             adversary, {:?}s without)",
            a.len(),
            b.len(),
            when(a),
            when(b)
        ),
    })
}

#[test]
fn simulated_segments_keep_one_master_and_hand_over_without_gaps() {
    if let Some(seed) = env_u64("VIPD_SIM_SEED") {
        match run_seed(seed, true) {
            Ok(stats) => println!(
                "seed {seed}: ok, {:?}\n{}",
                stats.sim,
                stats.adversary.summary()
            ),
            Err(report) => panic!("{report}"),
        }
        return;
    }
    let first = env_u64("VIPD_SIM_FIRST_SEED").unwrap_or(0);
    let count = env_u64("VIPD_SIM_SEEDS").unwrap_or(DEFAULT_SEEDS);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    let started = Instant::now();
    let results: Vec<(SeedStats, Vec<String>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    let mut stats = SeedStats::default();
                    let mut failures = Vec::new();
                    let mut seed = first + t;
                    while seed < first + count {
                        match run_seed(seed, false) {
                            Ok(s) => {
                                stats.sim += s.sim;
                                stats.adversary.add(&s.adversary);
                            }
                            Err(report) => failures.push(report),
                        }
                        seed += threads;
                    }
                    (stats, failures)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("simulation thread"))
            .collect()
    });
    let mut stats = Stats::default();
    let mut hostile = adversary::Stats::default();
    let mut failures = Vec::new();
    for (s, f) in results {
        stats += s.sim;
        hostile.add(&s.adversary);
        failures.extend(f);
    }
    println!(
        "simulation: seeds {first}..{} ({count}) in {:.1}s: {} steps, {} adverts, {} faults \
         injected, {} planned handovers, {} drains ({} of a master, {} probes by a drained \
         master), {} resumes, {} state changes, {} settled checks, {} failed",
        first + count,
        started.elapsed().as_secs_f64(),
        stats.steps,
        stats.adverts,
        stats.operations,
        stats.handovers,
        stats.drains,
        stats.drain_handovers,
        stats.probes,
        stats.resumes,
        stats.transitions,
        stats.settled_checks,
        failures.len()
    );
    println!("{}", hostile.summary());
    if let Some(first_failure) = failures.first() {
        let headlines: Vec<&str> = failures.iter().filter_map(|f| f.lines().next()).collect();
        panic!(
            "{} of {count} seeds failed:\n  {}\nthe first:\n{first_failure}",
            failures.len(),
            headlines.join("\n  ")
        );
    }
}

/// The checks are not vacuous: a network that silently drops everything makes every router
/// master on its own, which TwoMastersTooLong reports within an interval of calm and, with
/// that check off, OneMasterWhenStable once the segment counts as settled.
#[test]
fn a_segment_that_drops_every_advert_is_caught_as_split_brain() {
    for (two_master_check, invariant) in [
        (true, Invariant::TwoMastersTooLong),
        (false, Invariant::OneMasterWhenStable),
    ] {
        let mut caught = 0;
        for seed in 0..20 {
            let mut sim = Sim::new(seed);
            sim.sabotage = true;
            sim.two_master_check = two_master_check;
            if let Err(v) = sim.run() {
                assert_eq!(v.invariant, invariant, "{}", v.detail);
                caught += 1;
            }
        }
        assert_eq!(caught, 20, "every sabotaged seed must fail ({invariant:?})");
    }
}

/// The comparison of traces is not vacuous: a receive path that lets invalid datagrams
/// through to the core once they parse (no hop limit, source, password, VRID or address
/// checks) changes what the honest routers do, and the comparison says so.
#[test]
fn a_receive_path_that_leaks_invalid_adverts_is_caught_by_the_trace_comparison() {
    let (mut caught, mut by_trace, mut seeds) = (0, 0, 0);
    for seed in 0..20 {
        seeds += 1;
        let mut with = Sim::with_adversary(seed, Mode::Invalid);
        with.leak = true;
        with.honest_trace = Some(Vec::new());
        let mut without = Sim::new(seed);
        without.honest_trace = Some(Vec::new());
        let ran = with.run().and_then(|()| without.run());
        let compared = ran.and_then(|()| compare_traces(&with, &without));
        if let Err(v) = compared {
            println!("seed {seed}: {:?} {}", v.invariant, v.detail);
            caught += 1;
            by_trace += usize::from(v.invariant == Invariant::InvalidInputChangedTrace);
        }
    }
    println!("{caught} of {seeds} leaking seeds caught, {by_trace} by the trace comparison");
    assert_eq!(caught, seeds, "every leaking seed must fail");
    // The others broke an invariant of the run itself first (a leak acts like a forger).
    assert!(
        by_trace * 2 >= seeds,
        "the trace comparison caught {by_trace} of {seeds}"
    );
}

/// Same seed, same run: the replay command reproduces a failure exactly.
#[test]
fn a_seed_replays_exactly() {
    for seed in [1, 77, 4242] {
        let mut a = Sim::new(seed);
        let mut b = Sim::new(seed);
        let ra = a.run().map_err(|v| v.detail);
        let rb = b.run().map_err(|v| v.detail);
        assert_eq!(ra, rb);
        assert_eq!(a.trace, b.trace);
        assert_eq!(format!("{:?}", a.stats), format!("{:?}", b.stats));
    }
}
