//! One VRRP virtual router as a state machine without I/O (RFC 5798, RFC 9568, keepalived).
//!
//! The caller owns the clock and the sockets: it feeds events with the current time
//! ([`Instance::start`], [`Instance::handle_advert`], [`Instance::handle_timeout`], ...),
//! performs what [`Instance::poll_action`] hands back, and calls `handle_timeout` again at
//! [`Instance::poll_timeout`].
//!
//! Two behaviours go beyond keepalived; both only speed up what RFC 5798 backups do anyway:
//!
//! - **Fast takeover.** A backup with preemption that hears the current master advertise a
//!   priority below its own (typically the master's health check failed) takes over after
//!   Skew_Time instead of waiting for the full Master_Down_Interval. A master whose priority
//!   changes advertises at once, so the backup learns it without waiting an interval.
//! - **Loss-free planned handover** ([`Instance::begin_handover`]). The master sends one
//!   priority 0 advert but keeps its VIPs and stops periodic adverts. Every backup, vipd or
//!   keepalived, answers priority 0 by becoming master after its Skew_Time (RFC 5798 6.4.2):
//!   it sends an advert with its own priority, adds the VIPs and announces them. Only when that
//!   advert arrives (or `bound` passes) does the old master remove its VIPs. Clients are
//!   answered by one router or the other at every moment; the brief overlap is harmless
//!   because the new master's announcement moves the traffic and the old one answers
//!   whatever still reaches it. The old master never advertises again, so no backup is
//!   pulled back. Without a backup the VIPs go after `bound`, like a plain shutdown.
//!
//! **Maintenance drain** ([`Instance::drain`], [`Instance::resume`]) keeps a router out of the
//! master role while any other router is alive, using only what every RFC 5798 router (and
//! keepalived) already does. A drained instance advertises and compares with priority 1
//! ([`PRIORITY_DRAINED`], the lowest a live router can have) and never preempts:
//!
//! - A drained master hands over exactly like a planned stop (priority 0, VIPs kept until the
//!   new master is heard), but stays in the protocol as a backup.
//! - A drained backup accepts any master. When the master goes away, every other backup has
//!   a shorter Skew_Time than priority 1 gives, so one of them takes over first and its
//!   advert resets our down timer: the drained router is last in line.
//! - When no other router is left the down timer does run out. [`DrainMode::Soft`] (the
//!   default) then becomes master rather than leave the VIPs unserved, advertising
//!   priority 1, so any router that comes back with preemption takes over by the protocol;
//!   every [`DRAIN_PROBE_ADVERTS`] intervals it offers the role with a planned handover
//!   (priority 0, VIPs kept), which a backup without preemption (`nopreempt`) answers too.
//!   Another drained backup does not answer the offer (it would only hand the role back at
//!   its own next offer); it takes over only if the master stays silent after the offer.
//!   [`DrainMode::Hard`] never becomes master: the VIPs stay unserved until a router returns
//!   or the instance is resumed.

use std::collections::VecDeque;
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::timer::{Timer, TimerTable};

/// Priority of the router that owns the virtual addresses.
pub const PRIORITY_OWNER: u8 = 255;
/// Priority a master advertises when it stops being master.
pub const PRIORITY_LEAVING: u8 = 0;
/// Priority a drained instance advertises and compares with: below every live router.
pub const PRIORITY_DRAINED: u8 = 1;
/// A drained master with nobody else around offers the role again every so many adverts
/// (at least [`DRAIN_PROBE_MIN`] apart), for backups that would never preempt it.
pub const DRAIN_PROBE_ADVERTS: u32 = 10;
pub const DRAIN_PROBE_MIN: Duration = Duration::from_secs(1);
/// Shortest advert interval accepted (VRRPv3 resolution).
pub const MIN_ADVERT_INTERVAL: Duration = Duration::from_millis(10);
/// Longest advert interval accepted (VRRPv2 field is one byte of seconds).
pub const MAX_ADVERT_INTERVAL: Duration = Duration::from_secs(255);
/// How long a handing-over master keeps its VIPs after hearing the new master (at most one
/// advert interval): covers the moment until clients have processed the new announcement.
const HANDOVER_LINGER: Duration = Duration::from_millis(50);
/// Bound on timers handled in one `handle_timeout` call, against a zero-length timer loop.
const MAX_TIMERS_PER_CALL: usize = 64;
/// See [`Instance::advert_slack`] (the most any instance is given).
pub const ADVERT_SLACK: Duration = Duration::from_micros(500);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    V2,
    V3,
}

/// Configuration of one instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceParams {
    pub vrid: u8,
    pub version: Version,
    /// Base priority 1..=255; 255 is the address owner.
    pub priority: u8,
    /// Our advert interval; v2 also requires it of received adverts.
    pub advert_interval: Duration,
    /// False is keepalived `nopreempt`. The address owner always preempts.
    pub preempt: bool,
    /// After start or leaving FAULT, a lower priority master is not preempted for this long.
    pub preempt_delay: Duration,
    /// Our source address; the higher one wins a priority tie.
    pub primary_address: IpAddr,
    /// keepalived `state MASTER`. Informational: as in RFC 5798 Initialize, only the address
    /// owner starts as master; anyone else starts as backup and wins by the protocol.
    pub start_as_master_hint: bool,
    /// Second announcement burst this long after becoming master (keepalived default 5 s).
    pub garp_master_delay: Option<Duration>,
    /// Announce again every so long while master.
    pub garp_master_refresh: Option<Duration>,
    /// Messages per address in the bursts on becoming master (keepalived default 5).
    pub garp_master_repeat: u32,
    /// Messages per address in each refresh (keepalived default 1).
    pub garp_master_refresh_repeat: u32,
    /// Messages per address when a master hears a lower priority: another router believes it
    /// is master (a healed split brain), so neighbours may point at it. 0 = none.
    pub garp_lower_prio_repeat: u32,
    /// A second such burst this long later.
    pub garp_lower_prio_delay: Option<Duration>,
    /// A master does not answer a lower-priority advert with its own (keepalived
    /// `lower_prio_no_advert`; RFC 3768/5798 behaviour). Off: answer at once (RFC 9568).
    pub lower_prio_no_advert: bool,
    /// A master yielding to a higher priority first sends one advert with its own, lower,
    /// priority, so the new master announces its addresses again (keepalived
    /// `higher_prio_send_advert`). On by default, unlike keepalived: without it a partition
    /// that heals with the other master's advert heard first leaves the neighbours on our MAC.
    pub higher_prio_send_advert: bool,
    /// Master adverts a backup misses before it takes over (RFC 5798: 3; keepalived
    /// `down_timer_adverts`, 1..=100).
    pub down_timer_adverts: u8,
}

impl InstanceParams {
    /// keepalived's defaults: VRRPv2, priority 100, 1 s adverts, preempt, GARP delay 5 s;
    /// vipd's own default `higher_prio_send_advert` (on).
    pub fn new(vrid: u8, primary_address: IpAddr) -> Self {
        Self {
            vrid,
            version: Version::V2,
            priority: 100,
            advert_interval: Duration::from_secs(1),
            preempt: true,
            preempt_delay: Duration::ZERO,
            primary_address,
            start_as_master_hint: false,
            garp_master_delay: Some(Duration::from_secs(5)),
            garp_master_refresh: None,
            garp_master_repeat: 5,
            garp_master_refresh_repeat: 1,
            garp_lower_prio_repeat: 5,
            garp_lower_prio_delay: Some(Duration::from_secs(5)),
            lower_prio_no_advert: false,
            higher_prio_send_advert: true,
            down_timer_adverts: 3,
        }
    }

    /// Brings out-of-range values into range so that no timer can spin or overflow.
    fn sanitized(mut self) -> Self {
        self.priority = self.priority.max(1);
        self.advert_interval = clamp_interval(self.advert_interval);
        self.garp_master_delay = self.garp_master_delay.filter(|d| !d.is_zero());
        self.garp_master_refresh = self.garp_master_refresh.filter(|d| !d.is_zero());
        self.garp_lower_prio_delay = self.garp_lower_prio_delay.filter(|d| !d.is_zero());
        self.down_timer_adverts = self.down_timer_adverts.clamp(1, 100);
        self
    }
}

/// `now + delay`, saturating instead of panicking on overflow.
fn later(now: Instant, delay: Duration) -> Instant {
    super::timer::deadline_after(now, delay)
}

fn clamp_interval(interval: Duration) -> Duration {
    interval.clamp(MIN_ADVERT_INTERVAL, MAX_ADVERT_INTERVAL)
}

/// How a drained instance behaves once no other router is left (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DrainMode {
    /// Becomes master rather than leave the VIPs unserved (advertising priority 1).
    Soft,
    /// Never becomes master.
    Hard,
}

impl DrainMode {
    pub fn as_str(self) -> &'static str {
        match self {
            DrainMode::Soft => "soft",
            DrainMode::Hard => "hard",
        }
    }
}

impl fmt::Display for DrainMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a handover in progress ends in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HandoverEnd {
    /// A planned stop: the instance ends in Initialize.
    Stop,
    /// A drain: the instance stays in the protocol as a backup.
    Drain,
}

/// An advert that passed packet validation, reduced to what the state machine needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedAdvert {
    pub source: IpAddr,
    pub priority: u8,
    pub advert_interval: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    Initialize,
    Backup,
    Master,
    Fault,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Initialize => "INIT",
            State::Backup => "BACKUP",
            State::Master => "MASTER",
            State::Fault => "FAULT",
        })
    }
}

/// Why a state change happened; `Display` gives a log-ready phrase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    Startup,
    AddressOwner,
    MasterDownTimerExpired,
    PriorityZeroAdvert {
        from: IpAddr,
    },
    PreemptLowerPriority {
        master: IpAddr,
        priority: u8,
    },
    HigherPriorityAdvert {
        from: IpAddr,
        priority: u8,
    },
    EqualPriorityHigherAddress {
        from: IpAddr,
    },
    Fault,
    FaultCleared,
    Shutdown,
    HandoverComplete {
        new_master: IpAddr,
    },
    HandoverTimedOut,
    Reconfigured,
    /// A drained master's handover found a new master.
    Drained {
        new_master: IpAddr,
    },
    /// A hard-drained master's handover found nobody: VIPs released anyway.
    DrainedNobodyTookOver,
    /// A soft-drained backup takes over because no other router is master.
    DrainedLastRouter,
    /// Another member of its sync group left MASTER for a higher priority (keepalived moves
    /// the whole group to BACKUP).
    SyncGroup,
}

impl Reason {
    /// Stable snake_case name of the kind of reason (no addresses), for metric labels.
    pub fn code(&self) -> &'static str {
        match self {
            Reason::Startup => "startup",
            Reason::AddressOwner => "address_owner",
            Reason::MasterDownTimerExpired => "master_down_timer",
            Reason::PriorityZeroAdvert { .. } => "priority_zero_advert",
            Reason::PreemptLowerPriority { .. } => "preempt_lower_priority",
            Reason::HigherPriorityAdvert { .. } => "higher_priority_advert",
            Reason::EqualPriorityHigherAddress { .. } => "equal_priority_higher_address",
            Reason::Fault => "fault",
            Reason::FaultCleared => "fault_cleared",
            Reason::Shutdown => "shutdown",
            Reason::HandoverComplete { .. } => "handover_complete",
            Reason::HandoverTimedOut => "handover_timed_out",
            Reason::Reconfigured => "reconfigured",
            Reason::Drained { .. } => "drained",
            Reason::DrainedNobodyTookOver => "drained_nobody_took_over",
            Reason::DrainedLastRouter => "drained_last_router",
            Reason::SyncGroup => "sync_group",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Startup => write!(f, "startup"),
            Reason::AddressOwner => write!(f, "address owner (priority 255)"),
            Reason::MasterDownTimerExpired => write!(f, "master down timer expired"),
            Reason::PriorityZeroAdvert { from } => write!(f, "priority 0 advert from {from}"),
            Reason::PreemptLowerPriority { master, priority } => {
                write!(
                    f,
                    "preempting lower priority master {master} (priority {priority})"
                )
            }
            Reason::HigherPriorityAdvert { from, priority } => {
                write!(
                    f,
                    "higher priority advert from {from} (priority {priority})"
                )
            }
            Reason::EqualPriorityHigherAddress { from } => {
                write!(f, "equal priority advert from higher address {from}")
            }
            Reason::Fault => write!(f, "fault"),
            Reason::FaultCleared => write!(f, "fault cleared"),
            Reason::Shutdown => write!(f, "shutdown"),
            Reason::HandoverComplete { new_master } => {
                write!(f, "handover complete, {new_master} took over")
            }
            Reason::HandoverTimedOut => write!(f, "handover bound passed without a new master"),
            Reason::Reconfigured => write!(f, "reconfigured"),
            Reason::Drained { new_master } => write!(f, "drained, {new_master} took over"),
            Reason::DrainedNobodyTookOver => {
                write!(
                    f,
                    "drained (hard), no other router took over: VIPs released"
                )
            }
            Reason::DrainedLastRouter => write!(f, "drained, but no other router is master"),
            Reason::SyncGroup => write!(f, "another member of its sync group left MASTER"),
        }
    }
}

/// What the I/O shell must do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send one advert with this priority and [`Instance::advert_interval`].
    SendAdvert {
        priority: u8,
    },
    AddVips,
    RemoveVips,
    /// A new master answered our planned handover: the VIPs stay for the linger (traffic
    /// already on its way is answered) but nothing may announce or resolve them from here
    /// any more; with a VMAC every frame from the virtual MAC would teach the switches this
    /// port again (an ARP or NDP answer, an MLD report). Ends with [`Action::RemoveVips`],
    /// or with [`Action::UnquietVips`] when the instance stays master after all.
    QuietVips,
    /// The handover ended without letting go (resumed, or the answer went away): the VIPs
    /// quieted by [`Action::QuietVips`] serve as before.
    UnquietVips,
    /// Gratuitous ARP / unsolicited NA for every address the master holds, `repeat` times.
    Announce {
        repeat: u32,
        cause: AnnounceCause,
    },
    StateChanged {
        from: State,
        to: State,
        reason: Reason,
    },
}

/// Why a master announces its addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnnounceCause {
    /// It just became master.
    BecameMaster,
    /// The second burst, `garp_master_delay` after becoming master.
    MasterDelay,
    /// The periodic `garp_master_refresh`.
    Refresh,
    /// A lower-priority advert arrived: another router believes it is master.
    LowerPriority,
    /// The second burst, `garp_lower_prio_delay` after that.
    LowerPriorityDelay,
    /// The router that advertised a lower priority fell silent (it yielded): announced
    /// once more, after whatever it announced while it believed it was master.
    LowerPrioritySilent,
    /// Another member of its sync group heard a lower priority (keepalived): announced as
    /// for `LowerPriority`, but not passed on to the group again.
    SyncMemberLowerPriority,
}

impl AnnounceCause {
    /// Whether the other members of the instance's sync group announce too: only when the
    /// instance heard the lower priority itself. Passing on what a member announced for
    /// another one made the two set each other off, one round each per advert interval
    /// for good; keepalived's members announce once (and their second burst).
    pub fn reaches_sync_group(self) -> bool {
        self == AnnounceCause::LowerPriority
    }
}

impl fmt::Display for AnnounceCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AnnounceCause::BecameMaster => "became master",
            AnnounceCause::MasterDelay => "second burst after becoming master",
            AnnounceCause::Refresh => "refresh",
            AnnounceCause::LowerPriority => "lower priority advert heard",
            AnnounceCause::LowerPriorityDelay => "second burst after a lower priority advert",
            AnnounceCause::LowerPrioritySilent => "the lower priority router fell silent",
            AnnounceCause::SyncMemberLowerPriority => {
                "another member of its sync group heard a lower priority"
            }
        })
    }
}

/// Outcome of [`Instance::update_params`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reload {
    Applied,
    RestartRequired,
}

/// Everything [`Instance::master_down_interval`] depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct DownIntervalOf {
    master_adver_interval: Duration,
    priority: u8,
    version: Version,
    down_timer_adverts: u8,
}

/// One VRRP virtual router. See the module documentation.
#[derive(Clone, Debug)]
pub struct Instance {
    params: InstanceParams,
    state: State,
    effective_priority: u8,
    /// v3: learned from the master's adverts; v2: always our own interval.
    master_adver_interval: Duration,
    master_address: Option<IpAddr>,
    master_priority: Option<u8>,
    /// Reason recorded when the master down timer was armed, reported when it fires.
    takeover_reason: Reason,
    /// While a priority 0 takeover is pending: how far more priority 0 adverts may put it
    /// off (a Master_Down_Interval after the first, see `backup_receive`).
    priority_zero_cap: Option<Instant>,
    /// When the master we follow last advertised at least our priority (or we yielded to
    /// it): a lower advert in its name takes over fast only once its next advert is an
    /// interval overdue (see `arm_fast_takeover`).
    outranked_at: Option<Instant>,
    /// The Master_Down deadline an advert with a longer interval promised, which adverts
    /// with a shorter one do not bring forward (see `backup_receive`).
    down_floor: Option<Instant>,
    /// Master_Down_Interval and what it was computed from (see
    /// [`Instance::master_down_interval_memo`]).
    down_interval_memo: Option<(DownIntervalOf, Duration)>,
    fault: bool,
    running: bool,
    stopped: bool,
    handing_over: bool,
    /// What the handover in progress ends in (meaningful while `handing_over`).
    handover_end: HandoverEnd,
    /// When the planned handover in progress began (our priority 0 advert).
    handover_started: Option<Instant>,
    last_handover: Option<Duration>,
    drain: Option<DrainMode>,
    /// When we last became master, and when we last answered another router advertising as
    /// master: while either is recent, who is master is not settled on the segment.
    became_master_at: Option<Instant>,
    rival_master_at: Option<Instant>,
    /// A handing-over master keeps its VIPs at least until then (see `start_handover`).
    handover_hold_until: Option<Instant>,
    /// The end of the handover in progress when nobody answers (its bound).
    handover_deadline: Option<Instant>,
    /// When the router that answered the handover in progress last advertised.
    answer_heard_at: Option<Instant>,
    /// [`Action::QuietVips`] was asked and neither `RemoveVips` nor `UnquietVips` since.
    quiet: bool,
    timers: TimerTable,
    actions: VecDeque<Action>,
    transitions: u64,
    discarded_adverts: u64,
    /// When the last lower-priority announcement went out; a flood of such adverts gets one
    /// per advert interval, not one each.
    lower_priority_announced: Option<Instant>,
    /// A lower-priority advert came while the last announcement was under an interval old:
    /// when the next one may go (see `announce_lower_priority`), and its cause (its own
    /// advert heard, or another sync group member's: see `AnnounceCause::reaches_sync_group`).
    lower_priority_trailing: Option<(Instant, AnnounceCause)>,
    /// When the second burst after a lower priority goes (`garp_lower_prio_delay`).
    /// `Timer::GarpLowerPriority` fires at the earliest of the three.
    lower_priority_second: Option<Instant>,
    /// When the router that advertised a lower priority has been silent long enough to
    /// have yielded: one more announcement then (see `lower_priority_heard`).
    lower_priority_silent: Option<Instant>,
    /// When the master last answered a lower-priority advert with its own: anyone on the
    /// segment can send those, and answering each one made the master an amplifier.
    lower_priority_asserted: Option<Instant>,
    /// Lower-priority adverts heard as master, each one (keepalived's notify FIFO line
    /// `MASTER_RX_LOWER_PRI`).
    lower_priority_heard: u64,
    /// Member of a sync group: its master down timer does not make it master on its own,
    /// the shell grants that once every member wants it (see `wants_master`).
    sync_member: bool,
    /// A sync group member's master down timer ran out with no master heard since.
    wants_master: bool,
    /// The preempt delay ran its course since it last started (keepalived's `preempt_time`
    /// set and past): a lower priority master is then preempted, not followed.
    preempt_delay_served: bool,
}

impl Instance {
    pub fn new(params: InstanceParams) -> Self {
        let params = params.sanitized();
        Self {
            state: State::Initialize,
            effective_priority: params.priority,
            master_adver_interval: params.advert_interval,
            master_address: None,
            master_priority: None,
            takeover_reason: Reason::MasterDownTimerExpired,
            priority_zero_cap: None,
            outranked_at: None,
            down_floor: None,
            down_interval_memo: None,
            fault: false,
            running: false,
            stopped: false,
            handing_over: false,
            handover_end: HandoverEnd::Stop,
            handover_started: None,
            last_handover: None,
            drain: None,
            became_master_at: None,
            rival_master_at: None,
            handover_hold_until: None,
            quiet: false,
            handover_deadline: None,
            answer_heard_at: None,
            timers: TimerTable::default(),
            actions: VecDeque::new(),
            transitions: 0,
            discarded_adverts: 0,
            lower_priority_announced: None,
            lower_priority_trailing: None,
            lower_priority_second: None,
            lower_priority_silent: None,
            lower_priority_asserted: None,
            lower_priority_heard: 0,
            preempt_delay_served: false,
            sync_member: false,
            wants_master: false,
            params,
        }
    }

    // ---- observability ----

    pub fn params(&self) -> &InstanceParams {
        &self.params
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// The VIPs are quieted for an answered handover (see [`Action::QuietVips`]).
    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// True between [`Instance::begin_handover`] and the end of the handover (state is Master).
    pub fn is_handing_over(&self) -> bool {
        self.handing_over
    }

    /// True once stopped by `shutdown` or a finished handover; `start` runs it again.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    pub fn is_fault(&self) -> bool {
        self.fault
    }

    pub fn base_priority(&self) -> u8 {
        self.params.priority
    }

    /// Lower-priority adverts heard as master so far (each one counts, however the
    /// announcements that answer them are paced).
    pub fn lower_priority_adverts_heard(&self) -> u64 {
        self.lower_priority_heard
    }

    /// The priority health checks give (base plus weights), whether drained or not.
    pub fn effective_priority(&self) -> u8 {
        self.effective_priority
    }

    /// The priority we advertise and elect with: [`PRIORITY_DRAINED`] while drained.
    pub fn advertised_priority(&self) -> u8 {
        if self.drain.is_some() {
            PRIORITY_DRAINED
        } else {
            self.effective_priority
        }
    }

    pub fn drain_mode(&self) -> Option<DrainMode> {
        self.drain
    }

    /// Priority of the master we follow, as last advertised (None when master or none heard).
    pub fn master_priority(&self) -> Option<u8> {
        if self.state == State::Master {
            None
        } else {
            self.master_priority
        }
    }

    /// How long the last finished handover took, from the priority 0 advert to the VIPs'
    /// removal (drain or planned stop).
    pub fn last_handover_duration(&self) -> Option<Duration> {
        self.last_handover
    }

    /// The interval we advertise with.
    pub fn advert_interval(&self) -> Duration {
        self.params.advert_interval
    }

    /// Address of the current master: ourselves when master, else the last one heard.
    pub fn master_address(&self) -> Option<IpAddr> {
        if self.state == State::Master {
            Some(self.params.primary_address)
        } else {
            self.master_address
        }
    }

    /// Master_Adver_Interval: learned from accepted adverts in v3, our own in v2.
    pub fn master_advert_interval(&self) -> Duration {
        self.master_adver_interval
    }

    /// Skew_Time for our effective priority.
    pub fn skew_time(&self) -> Duration {
        let inverse_priority = 256 - u32::from(self.advertised_priority());
        let unit = match self.params.version {
            // RFC 3768: (256 - Priority) / 256 seconds, whatever the interval.
            Version::V2 => Duration::from_secs(1),
            Version::V3 => self.master_adver_interval,
        };
        unit.checked_mul(inverse_priority)
            .map_or(Duration::MAX, |scaled| scaled / 256)
    }

    /// Master_Down_Interval = 3 x Master_Adver_Interval + Skew_Time (keepalived's
    /// `down_timer_adverts` replaces the 3).
    pub fn master_down_interval(&self) -> Duration {
        self.master_adver_interval
            .checked_mul(u32::from(self.params.down_timer_adverts))
            .and_then(|three| three.checked_add(self.skew_time()))
            .unwrap_or(Duration::MAX)
    }

    /// [`Instance::master_down_interval`], computed again only when what it depends on
    /// changed: a backup arms it with every advert it hears, and the products and quotients
    /// of durations were 4 % of its instructions per advert at 255 instances.
    fn master_down_interval_memo(&mut self) -> Duration {
        let of = DownIntervalOf {
            master_adver_interval: self.master_adver_interval,
            priority: self.advertised_priority(),
            version: self.params.version,
            down_timer_adverts: self.params.down_timer_adverts,
        };
        match self.down_interval_memo {
            Some((memo, interval)) if memo == of => interval,
            _ => {
                let interval = self.master_down_interval();
                self.down_interval_memo = Some((of, interval));
                interval
            }
        }
    }

    /// How long a planned handover should wait for a backup before giving up. A backup
    /// answers our priority 0 after its Skew_Time, which is less than one skew unit: one
    /// second in v2, its own Master_Adver_Interval in v3, which is its configured interval
    /// when it never accepted our adverts (a higher priority backup that preempts, or one
    /// configured with another interval). A backup that missed the priority 0 advert takes
    /// over when its down timer runs out, three of our intervals plus its skew after our
    /// last advert reached it. The bound covers both for backups whose interval is at most
    /// ours or one second, with one more advert interval for adverts on the way and a
    /// margin, so that the VIPs stay until such a backup holds them.
    pub fn handover_bound(&self) -> Duration {
        self.params
            .advert_interval
            .saturating_mul(4)
            .saturating_add(self.backup_skew_unit())
            .saturating_add(HANDOVER_LINGER)
    }

    /// The longest Skew_Time a backup answering our priority 0 may wait (see
    /// [`Instance::handover_bound`]).
    fn backup_skew_unit(&self) -> Duration {
        self.params.advert_interval.max(Duration::from_secs(1))
    }

    /// Number of state changes so far.
    pub fn transitions(&self) -> u64 {
        self.transitions
    }

    /// Adverts dropped by the state machine (v2 interval mismatch, zero interval).
    pub fn discarded_adverts(&self) -> u64 {
        self.discarded_adverts
    }

    /// When the preempt delay in progress ends (after start, or from the first advert of a
    /// lower priority master), if one is.
    pub fn preempt_delay_end(&self) -> Option<Instant> {
        self.timers.get(Timer::PreemptDelay)
    }

    /// The next instant at which `handle_timeout` must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_timeout()
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Whether an [`Action::AddVips`] is queued (the runtime records what all instances
    /// about to take over will add in one go).
    pub fn adds_vips_soon(&self) -> bool {
        self.actions.contains(&Action::AddVips)
    }

    // ---- events ----

    /// RFC 5798 Initialize: the owner becomes master, everyone else backup.
    pub fn start(&mut self, now: Instant) {
        if self.running {
            return;
        }
        self.running = true;
        self.stopped = false;
        self.handing_over = false;
        self.stop_all_timers();
        if self.fault {
            self.change_state(State::Fault, Reason::Fault);
        } else {
            self.enter_service(now, Reason::Startup);
        }
    }

    pub fn handle_advert(&mut self, now: Instant, advert: &ReceivedAdvert) {
        if !self.running || advert.source == self.params.primary_address {
            return;
        }
        if advert.priority != PRIORITY_LEAVING {
            let wrong_v2_interval = self.params.version == Version::V2
                && advert.advert_interval != self.params.advert_interval;
            if wrong_v2_interval || advert.advert_interval.is_zero() {
                self.discarded_adverts += 1;
                return;
            }
        }
        match self.state {
            State::Backup => self.backup_receive(now, advert),
            State::Master if self.handing_over => self.handover_receive(now, advert),
            State::Master => self.master_receive(now, advert),
            State::Initialize | State::Fault => {}
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.handle_timeout_from(now, None);
    }

    /// [`Instance::handle_timeout`]; a periodic advert sent here counts its next interval
    /// from `wake` when given (see [`Instance::next_periodic_advert`]).
    fn handle_timeout_from(&mut self, now: Instant, wake: Option<Instant>) {
        for _ in 0..MAX_TIMERS_PER_CALL {
            let Some(timer) = self.timers.take_expired(now) else {
                return;
            };
            match timer {
                Timer::Advert if wake.is_some() => {
                    if self.state == State::Master && !self.handing_over {
                        self.send_periodic_advert(now, wake);
                    }
                }
                _ => self.on_timer(now, timer),
            }
        }
    }

    /// How much earlier than its timer a master may send its periodic advert so that it
    /// leaves in the same wake-up as other instances' (see
    /// [`Instance::handle_timeout_coalescing`]): 0.5 ms, and never more than a twentieth of
    /// the advert interval. The protocol counts time in centiseconds (10 ms is the shortest
    /// interval), a backup waits three intervals plus the skew, and an advert a little early
    /// only makes it hear the master sooner; Master_Down and every other timer stay exact.
    pub fn advert_slack(&self) -> Duration {
        ADVERT_SLACK.min(self.params.advert_interval / 20)
    }

    /// [`Instance::handle_timeout`], and a master whose periodic advert is due within
    /// [`Instance::advert_slack`] after `now` sends it now. The runtime calls this for every
    /// instance due within the slack when it wakes for the earliest deadline: instances that
    /// sent in one wake-up count their next interval from the same instant and stay together,
    /// so that 510 masters send in one wake-up (one `sendmmsg` per socket) instead of one
    /// each, and their backups read the adverts in bursts.
    ///
    /// `wake` is the deadline the runtime woke for (the earliest of the instances it hands
    /// this wake-up): periodic adverts sent in it count their next interval from there, not
    /// from `now`, so that a wake-up late by a few milliseconds (a loaded node) does not
    /// push every later advert back by as much (at 510 instances on a busy 2-core machine
    /// the adverts of each instance drifted to one every 12 ms instead of 10), and every
    /// master that sent in it has the same next deadline (groups within the slack merge).
    pub fn handle_timeout_coalescing(&mut self, now: Instant, wake: Instant) {
        self.handle_timeout_from(now, Some(wake));
        let soon = later(now, self.advert_slack());
        let advert_soon = self.timers.get(Timer::Advert).is_some_and(|at| at <= soon);
        if advert_soon && self.state == State::Master && !self.handing_over {
            self.send_periodic_advert(now, Some(wake));
        }
    }

    /// When the periodic advert after one sent at `now` is due: an interval after `wake`
    /// (the deadline this wake-up was for) when that is not in the past, so the cadence
    /// holds through a late wake-up; never sooner than half an interval after `now` (a
    /// wake-up later than that starts the count again from `now`, as RFC 5798 counts).
    fn next_periodic_advert(&self, now: Instant, wake: Option<Instant>) -> Instant {
        let interval = self.params.advert_interval;
        let from_now = later(now, interval);
        match wake {
            Some(wake) if wake <= now => {
                let cadence = later(wake, interval);
                if cadence >= later(now, interval / 2) {
                    cadence
                } else {
                    from_now
                }
            }
            _ => from_now,
        }
    }

    fn send_periodic_advert(&mut self, now: Instant, wake: Option<Instant>) {
        self.push(Action::SendAdvert {
            priority: self.advertised_priority(),
        });
        let next = self.next_periodic_advert(now, wake);
        self.timers.set(Timer::Advert, next);
    }

    /// New priority from health checks. Clamped to 1..=254; the owner's 255 is never changed.
    pub fn set_effective_priority(&mut self, now: Instant, priority: u8) {
        if self.params.priority == PRIORITY_OWNER {
            return;
        }
        let priority = priority.clamp(1, PRIORITY_OWNER - 1);
        if priority != self.effective_priority {
            self.effective_priority = priority;
            if self.drain.is_none() {
                self.priority_changed(now);
            }
        }
    }

    pub fn set_fault(&mut self, now: Instant, fault: bool) {
        if self.fault == fault {
            return;
        }
        self.fault = fault;
        if !self.running {
            return;
        }
        if fault {
            if self.handing_over {
                if self.handover_end == HandoverEnd::Stop {
                    // The handover was a stop anyway: finish it now.
                    self.finish_handover(now, Reason::Fault);
                    return;
                }
                // A drain handover: the fault takes the VIPs now.
                self.end_handover(now);
            }
            if self.state == State::Master {
                self.push(Action::SendAdvert {
                    priority: PRIORITY_LEAVING,
                });
                self.push(Action::RemoveVips);
            }
            self.stop_all_timers();
            if self.state != State::Fault {
                self.change_state(State::Fault, Reason::Fault);
            }
        } else if self.state == State::Fault {
            self.enter_service(now, Reason::FaultCleared);
        }
    }

    /// The shell's socket was reopened or it lost track of the network for a while (its
    /// adverts may not have left): a master advertises at once and restarts its advert
    /// timer, so backups hear it before their down timers run out. Others do nothing.
    pub fn advertise_now(&mut self, now: Instant) {
        if self.running && self.state == State::Master && !self.handing_over {
            self.send_advert_now(now);
        }
    }

    /// keepalived stop: a master sends priority 0 and removes its VIPs. Ends in Initialize.
    pub fn shutdown(&mut self, _now: Instant) {
        if !self.running {
            self.stopped = true;
            return;
        }
        if self.state == State::Master {
            if !self.handing_over {
                self.push(Action::SendAdvert {
                    priority: PRIORITY_LEAVING,
                });
            }
            self.push(Action::RemoveVips);
        }
        self.stop_with(Reason::Shutdown);
    }

    /// Loss-free planned stop, see the module documentation. Non-masters stop at once.
    pub fn begin_handover(&mut self, now: Instant, bound: Duration) {
        if self.handing_over {
            // A drain handover in progress becomes a stop.
            self.handover_end = HandoverEnd::Stop;
            return;
        }
        if self.state != State::Master {
            self.shutdown(now);
            return;
        }
        self.start_handover(now, bound, HandoverEnd::Stop);
    }

    /// Maintenance drain, see the module documentation. A master hands over as in
    /// [`Instance::begin_handover`] (waiting at most `bound` for a new master) and stays as a
    /// backup; a backup stops preempting; a stopped or faulty instance keeps the mode for
    /// when it runs again. Draining again changes the mode.
    pub fn drain(&mut self, now: Instant, mode: DrainMode, bound: Duration) {
        let was = self.drain.replace(mode);
        if !self.running || was == Some(mode) {
            return;
        }
        match self.state {
            State::Master if self.handing_over => {}
            State::Master => self.start_handover(now, bound, HandoverEnd::Drain),
            State::Backup => {
                if !self.timers.is_running(Timer::MasterDown) {
                    // Hard before, soft now, and nobody is master: take the role again.
                    self.arm_master_down(now);
                    return;
                }
                // A takeover already under way must now wait for everyone else: a pending
                // fast takeover is cancelled, a priority 0 takeover gets our longer skew.
                match self.takeover_reason {
                    Reason::PreemptLowerPriority { .. } => self.arm_master_down(now),
                    // Newly drained only: a drained router already waits as it should.
                    Reason::PriorityZeroAdvert { .. }
                        if was.is_none() && self.timers.is_running(Timer::MasterDown) =>
                    {
                        let deadline = later(now, self.skew_time());
                        self.timers.set(Timer::MasterDown, deadline);
                    }
                    _ => {}
                }
            }
            State::Initialize | State::Fault => {}
        }
    }

    /// Ends a drain: the instance takes part with its own priority again (a backup that
    /// outranks the master preempts it, as after a priority change).
    pub fn resume(&mut self, now: Instant) {
        if self.drain.take().is_none() || !self.running {
            return;
        }
        match self.state {
            State::Master if self.handing_over => {
                if self.handover_end == HandoverEnd::Drain {
                    // Keep the role: whoever answered our priority 0 meets our real
                    // priority now and the election settles it.
                    self.end_handover(now);
                    self.resume_mastering(now);
                }
            }
            State::Master => {
                self.timers.stop(Timer::DrainProbe);
                self.send_advert_now(now);
            }
            State::Backup => {
                if self.timers.is_running(Timer::MasterDown) {
                    if matches!(self.takeover_reason, Reason::PriorityZeroAdvert { .. }) {
                        // A priority 0 we let pass while drained (a drained master's offer,
                        // see `backup_receive`) is answered now, after our own skew.
                        let deadline = later(now, self.skew_time());
                        self.timers.set_at_most(Timer::MasterDown, deadline);
                    }
                    self.reconsider_preemption(now);
                } else {
                    // A hard drain let the down timer lapse: nobody is master.
                    self.arm_master_down(now);
                }
            }
            State::Initialize | State::Fault => {}
        }
    }

    /// Applies a reload and keeps the state. A changed VRID or version is a different virtual
    /// router: nothing is applied and [`Reload::RestartRequired`] tells the caller to
    /// `shutdown` this instance (sending its priority 0 advert under the old identity) and
    /// start a new one. A changed base priority resets the effective priority (the caller
    /// re-applies tracking) and is advertised at once by a master.
    #[must_use]
    pub fn update_params(&mut self, now: Instant, params: InstanceParams) -> Reload {
        let params = params.sanitized();
        if params.vrid != self.params.vrid || params.version != self.params.version {
            return Reload::RestartRequired;
        }
        let old = std::mem::replace(&mut self.params, params);
        let new = self.params.clone();

        if old.advert_interval != new.advert_interval {
            let interval = new.advert_interval;
            if new.version == Version::V2 || self.state != State::Backup {
                self.master_adver_interval = interval;
            }
            if self.timers.is_running(Timer::Advert) {
                self.timers.set_at_most(Timer::Advert, later(now, interval));
            }
        }
        if old.preempt_delay != new.preempt_delay && self.timers.is_running(Timer::PreemptDelay) {
            let delay = new.preempt_delay;
            if delay.is_zero() {
                self.timers.stop(Timer::PreemptDelay);
                self.reconsider_preemption(now);
            } else {
                self.timers
                    .set_at_most(Timer::PreemptDelay, later(now, delay));
            }
        }
        if old.preempt != new.preempt {
            self.reconsider_preemption(now);
        }
        if old.garp_master_refresh != new.garp_master_refresh
            && self.state == State::Master
            && !self.handing_over
        {
            match new.garp_master_refresh {
                Some(refresh) => self.timers.set(Timer::GarpRefresh, later(now, refresh)),
                None => self.timers.stop(Timer::GarpRefresh),
            }
        }
        if new.garp_lower_prio_repeat == 0 {
            self.lower_priority_trailing = None;
            self.lower_priority_silent = None;
        }
        if new.garp_lower_prio_repeat == 0 || new.garp_lower_prio_delay.is_none() {
            self.lower_priority_second = None;
        }
        self.arm_lower_priority_timer();
        if old.priority != self.params.priority {
            self.effective_priority = self.params.priority;
            if self.advertised_priority() == PRIORITY_OWNER && self.state == State::Backup {
                self.become_master(now, Reason::AddressOwner);
            } else if self.drain.is_none() {
                self.priority_changed(now);
            }
        }
        Reload::Applied
    }

    // ---- internals ----

    fn push(&mut self, action: Action) {
        if action == Action::RemoveVips {
            self.quiet = false;
        }
        self.actions.push_back(action);
    }

    fn change_state(&mut self, to: State, reason: Reason) {
        let from = self.state;
        self.state = to;
        self.transitions += 1;
        self.push(Action::StateChanged { from, to, reason });
    }

    /// The owner always preempts (RFC 5798 6.1); a drained instance never does.
    fn preempts(&self) -> bool {
        self.drain.is_none()
            && (self.params.preempt || self.advertised_priority() == PRIORITY_OWNER)
    }

    fn preempt_window_open(&self, now: Instant) -> bool {
        self.advertised_priority() != PRIORITY_OWNER
            && self
                .timers
                .get(Timer::PreemptDelay)
                .is_some_and(|end| end > now)
    }

    /// Initialize or leaving FAULT: owner -> Master at once, others -> Backup.
    fn enter_service(&mut self, now: Instant, reason: Reason) {
        if self.advertised_priority() == PRIORITY_OWNER {
            let reason = match reason {
                Reason::Startup => Reason::AddressOwner,
                other => other,
            };
            self.become_master(now, reason);
            return;
        }
        self.master_adver_interval = self.params.advert_interval;
        self.master_address = None;
        self.master_priority = None;
        self.outranked_at = None;
        if !self.params.preempt_delay.is_zero() {
            self.timers
                .set(Timer::PreemptDelay, later(now, self.params.preempt_delay));
        }
        self.preempt_delay_served = false;
        self.become_backup(now, reason);
    }

    fn become_master(&mut self, now: Instant, reason: Reason) {
        self.wants_master = false;
        self.outranked_at = None;
        self.down_floor = None;
        self.became_master_at = Some(now);
        self.timers.stop(Timer::MasterDown);
        self.timers.stop(Timer::PreemptDelay);
        self.preempt_delay_served = false;
        self.master_adver_interval = self.params.advert_interval;
        self.push(Action::SendAdvert {
            priority: self.advertised_priority(),
        });
        self.push(Action::AddVips);
        self.announce(AnnounceCause::BecameMaster);
        self.timers
            .set(Timer::Advert, later(now, self.params.advert_interval));
        if let Some(delay) = self.params.garp_master_delay {
            self.timers.set(Timer::GarpDelay, later(now, delay));
        }
        if let Some(refresh) = self.params.garp_master_refresh {
            self.timers.set(Timer::GarpRefresh, later(now, refresh));
        }
        self.arm_drain_probe(now);
        self.change_state(State::Master, reason);
    }

    fn become_backup(&mut self, now: Instant, reason: Reason) {
        if self.state == State::Master {
            self.push(Action::RemoveVips);
        }
        self.timers.stop(Timer::Advert);
        self.stop_announcements();
        self.timers.stop(Timer::DrainProbe);
        self.arm_master_down(now);
        self.change_state(State::Backup, reason);
    }

    /// Full Master_Down_Interval, reported as "master down timer expired" if it fires.
    fn arm_master_down(&mut self, now: Instant) {
        self.wants_master = false;
        self.takeover_reason = Reason::MasterDownTimerExpired;
        self.priority_zero_cap = None;
        let interval = self.master_down_interval_memo();
        self.timers.set(Timer::MasterDown, later(now, interval));
    }

    /// Fast takeover: the master we follow advertises less than us and we may preempt.
    /// `heard`: a lower advert in its name triggered it (not a change of our own priority).
    /// Anyone on the segment can send one in the master's name, which the master never hears
    /// to answer: taken after Skew_Time, they made a backup take the VIPs beside a master that
    /// still advertised at its priority, once per interval for as long as they came
    /// (`lab_hostile_masters_name`; RFC 5798 6.4.2 and keepalived discard them). The takeover
    /// waits until the master's next advert is an interval overdue (two of its intervals
    /// after it last advertised at least our priority, plus Skew_Time): that advert, at the
    /// master's real priority, cancels it (it arms the full Master_Down_Interval), and a
    /// master whose priority really dropped is still replaced an interval before
    /// Master_Down_Interval would have run out.
    fn arm_fast_takeover(&mut self, now: Instant, heard: bool) {
        let (Some(master), Some(priority)) = (self.master_address, self.master_priority) else {
            return;
        };
        let lower = priority != PRIORITY_LEAVING && priority < self.advertised_priority();
        if !lower || !self.preempts() || self.preempt_window_open(now) {
            return;
        }
        let overdue = (self.outranked_at)
            .filter(|_| heard)
            .map(|at| later(at, self.master_adver_interval.saturating_mul(2)));
        let from = overdue.map_or(now, |overdue| overdue.max(now));
        let deadline = later(from, self.skew_time());
        if self
            .timers
            .get(Timer::MasterDown)
            .is_none_or(|current| current > deadline)
        {
            self.timers.set(Timer::MasterDown, deadline);
            self.takeover_reason = Reason::PreemptLowerPriority { master, priority };
            self.priority_zero_cap = None;
        }
    }

    fn backup_receive(&mut self, now: Instant, advert: &ReceivedAdvert) {
        if advert.priority == PRIORITY_LEAVING && self.drained_master_probes(advert) {
            // Another drained router is no better a master: answering a drained master's
            // probe would pass the role back and forth between the two (found by
            // tests/simulation.rs). Wait until the probe would have ended without the master
            // advertising again; a drained master that is really leaving keeps its VIPs
            // longer than that (its handover bound), so nothing is left unserved.
            let probe = drain_probe_bound(self.master_adver_interval);
            let deadline = later(now, probe.saturating_add(self.skew_time()));
            self.timers.set(Timer::MasterDown, deadline);
            // Resumed meanwhile, we answer it after our own skew (see `resume`).
            self.takeover_reason = Reason::PriorityZeroAdvert {
                from: advert.source,
            };
            self.priority_zero_cap = None;
            return;
        }
        if advert.priority == PRIORITY_LEAVING {
            self.master_address = Some(advert.source);
            self.master_priority = Some(PRIORITY_LEAVING);
            let deadline = later(now, self.skew_time());
            let pending = self.timers.get(Timer::MasterDown);
            let reason = Reason::PriorityZeroAdvert {
                from: advert.source,
            };
            match self.priority_zero_cap {
                // Another priority 0 while one's takeover is pending: RFC 5798 6.4.2 (and
                // keepalived) set the timer to Skew_Time again. Anyone can send one in the
                // master's name, which the master never hears to answer: keeping the first
                // deadline made a backup take over beside a master that still advertised,
                // once per interval, for as long as they came (`lab_hostile_floods`). They put
                // the takeover off at most to a Master_Down_Interval after the first, as if
                // the master had fallen silent then.
                Some(cap)
                    if pending.is_some()
                        && matches!(self.takeover_reason, Reason::PriorityZeroAdvert { .. }) =>
                {
                    self.timers.set(Timer::MasterDown, deadline.min(cap));
                    self.takeover_reason = reason;
                }
                // A takeover already due sooner (a fast takeover from a lower master) stays:
                // the master is leaving, and waiting longer would leave nobody holding the
                // VIPs.
                _ if pending.is_some_and(|current| current <= deadline) => {}
                _ => {
                    self.timers.set(Timer::MasterDown, deadline);
                    self.takeover_reason = reason;
                    self.priority_zero_cap = Some(later(now, self.master_down_interval()));
                }
            }
            return;
        }
        self.follow_preempt_delay(now, advert.priority);
        let accepted = advert.priority >= self.advertised_priority()
            || !self.preempts()
            || self.preempt_window_open(now);
        if accepted {
            // A shorter interval than the one learned leaves the down timer where it was
            // when that is later: anyone on the segment can send an advert in the master's
            // name (or as a new master) claiming 10 ms, after which a backup, with
            // Master_Down_Interval counted from it (RFC 5798 6.4.2, keepalived too), took
            // the VIPs beside a master still advertising every 300 ms, between any two of
            // its adverts (`lab_hostile_masters_name`). A master that really advertises
            // faster keeps re-arming the timer; only when it falls silent at once does the
            // backup wait what the previous interval promised, once.
            if self.params.version == Version::V3 {
                let interval = clamp_interval(advert.advert_interval);
                // Only a deadline an advert armed (not our own start's).
                if interval < self.master_adver_interval
                    && self.master_address.is_some()
                    && self.takeover_reason == Reason::MasterDownTimerExpired
                {
                    let pending = self.timers.get(Timer::MasterDown);
                    self.down_floor = self.down_floor.max(pending);
                }
                self.master_adver_interval = interval;
            }
            if advert.priority >= self.advertised_priority() {
                self.outranked_at = Some(now);
            } else if self.master_address != Some(advert.source) {
                self.outranked_at = None;
            }
            self.master_address = Some(advert.source);
            self.master_priority = Some(advert.priority);
            self.arm_master_down(now);
            match self.down_floor {
                Some(floor) if floor <= now => self.down_floor = None,
                Some(floor)
                    if (self.timers.get(Timer::MasterDown)).is_some_and(|armed| floor > armed) =>
                {
                    self.timers.set(Timer::MasterDown, floor);
                }
                _ => {}
            }
            return;
        }
        // RFC: discard, so the down timer runs out. Only the master we follow (or the first
        // one heard) may shorten it: a lower priority stray must not beat a higher master.
        if self
            .master_address
            .is_none_or(|master| master == advert.source)
        {
            if self.master_address != Some(advert.source) {
                self.outranked_at = None;
            }
            self.master_address = Some(advert.source);
            self.master_priority = Some(advert.priority);
            self.arm_fast_takeover(now, true);
        }
    }

    /// keepalived 2.2.7 (`vrrp_state_backup`): `preempt_delay` holds off preemption after
    /// start and also from the first advert of a lower priority master; an advert at least
    /// our equal ends the delay, so the next lower master waits it out again.
    fn follow_preempt_delay(&mut self, now: Instant, priority: u8) {
        if self.params.preempt_delay.is_zero() || self.advertised_priority() == PRIORITY_OWNER {
            return;
        }
        if priority >= self.advertised_priority() {
            self.timers.stop(Timer::PreemptDelay);
            self.preempt_delay_served = false;
        } else if !self.preempt_delay_served && !self.timers.is_running(Timer::PreemptDelay) {
            self.timers
                .set(Timer::PreemptDelay, later(now, self.params.preempt_delay));
        }
    }

    /// A priority 0 from the master we follow, which advertised the drained priority: the
    /// offer of a drained master (or a priority 1 master leaving), while we are drained too.
    fn drained_master_probes(&self, advert: &ReceivedAdvert) -> bool {
        self.drain.is_some()
            && self.master_address == Some(advert.source)
            && self.master_priority == Some(PRIORITY_DRAINED)
    }

    fn master_receive(&mut self, now: Instant, advert: &ReceivedAdvert) {
        let ours = self.advertised_priority();
        if advert.priority == PRIORITY_LEAVING {
            // RFC 5798 6.4.3: the leaving router's backups must hear us at once.
            self.send_advert_now(now);
            return;
        }
        if ours == PRIORITY_OWNER && advert.priority == PRIORITY_OWNER {
            // RFC 5798 6.4.3 breaks a priority tie on the primary address, which presumes one
            // owner (6.1: priority 255 is the router that owns the addresses). A second 255 is
            // a misconfiguration or a forgery, and yielding to it would take the addresses
            // from their owner; keepalived lowers its own priority instead, which lets one
            // forged advert demote the owner for good. The owner keeps them and discards the
            // advert without answering it: two owners answering each other at once would
            // bounce adverts back and forth without end.
            return;
        }
        let yields = advert.priority > ours
            || (advert.priority == ours
                && address_wins(advert.source, self.params.primary_address));
        if !yields {
            // Another router acts as master: who is master is not settled (handover).
            self.rival_master_at = Some(now);
            self.lower_priority_heard(now, advert.advert_interval);
            return;
        }
        let reason = if advert.priority > ours {
            Reason::HigherPriorityAdvert {
                from: advert.source,
                priority: advert.priority,
            }
        } else {
            Reason::EqualPriorityHigherAddress {
                from: advert.source,
            }
        };
        if self.params.higher_prio_send_advert {
            // Our lower priority makes the new master (keepalived or vipd) announce its
            // addresses again, over whatever our own announcements taught the neighbours.
            self.push(Action::SendAdvert { priority: ours });
        }
        if self.params.version == Version::V3 {
            self.master_adver_interval = clamp_interval(advert.advert_interval);
        }
        self.master_address = Some(advert.source);
        self.master_priority = Some(advert.priority);
        self.become_backup(now, reason);
        self.outranked_at = Some(now);
    }

    /// Another router advertises as master with less than us (it did not hear us: a split
    /// brain healing). RFC 9568: assert ourselves with an advert (unless
    /// `lower_prio_no_advert`); keepalived: announce the addresses again, now and after
    /// `garp_lower_prio_delay`, since neighbours may have followed the other router.
    /// The assertion is an advert more: the periodic ones keep their deadline, as
    /// keepalived's do (restarting it moved the instance out of the group of masters that
    /// send together, one more wake-up every interval for good). At most one per advert
    /// interval, ours or the other router's (`their_interval`) if shorter (keepalived answers
    /// each one): a flood of lower-priority adverts, which anyone can send without
    /// authentication, must not make the master send as many, while routers that believe
    /// they are master must each hear it as soon as they would time out on each other.
    fn lower_priority_heard(&mut self, now: Instant, their_interval: Duration) {
        self.lower_priority_heard += 1;
        let gap = clamp_interval(their_interval).min(self.params.advert_interval);
        let due = self
            .lower_priority_asserted
            .is_none_or(|last| now >= later(last, gap));
        if !self.params.lower_prio_no_advert && due {
            self.lower_priority_asserted = Some(now);
            self.push(Action::SendAdvert {
                priority: self.advertised_priority(),
            });
        }
        if self.params.garp_lower_prio_repeat > 0 {
            // The other router announced its addresses when it became master, maybe after
            // our answer reached the neighbours (its advert overtakes its announcement), and
            // maybe spread out (`garp_interval`); keepalived yields without an advert, so
            // nothing else tells us. Once it has missed its next advert it is no longer
            // master and announces no more: ours then is the last one. Each advert heard
            // moves that moment, so a flood ends in one announcement, not one each.
            // Silent for 1.5 of its intervals: its next advert was due after one, the rest
            // is for its lateness.
            let silent = clamp_interval(their_interval) * 3 / 2;
            self.lower_priority_silent = Some(later(now, silent));
        }
        self.announce_lower_priority(now, AnnounceCause::LowerPriority);
    }

    /// keepalived: when one member of a sync group hears a lower priority, the other members
    /// that are master announce their addresses the same way (no advert: the other router
    /// did not advertise for them), and their announcement goes no further.
    pub fn sync_member_heard_lower_priority(&mut self, now: Instant) {
        if self.running && self.state == State::Master && !self.handing_over {
            self.announce_lower_priority(now, AnnounceCause::SyncMemberLowerPriority);
        }
    }

    /// Makes this instance a member of a sync group (or not): see `wants_master`.
    pub fn set_sync_group_member(&mut self, member: bool) {
        self.sync_member = member;
        if !member {
            self.wants_master = false;
        }
    }

    /// A sync group member in BACKUP whose master down timer ran out (no master heard, or
    /// a lower one to preempt, or a priority 0): it becomes master when `grant_master` is
    /// called, which the shell does once every member of its group is master or wants to be.
    pub fn wants_master(&self) -> bool {
        self.running && self.state == State::Backup && !self.fault && self.wants_master
    }

    /// Lets a member that `wants_master` become master.
    pub fn grant_master(&mut self, now: Instant) {
        if self.wants_master() {
            let reason = self.takeover_reason.clone();
            self.become_master(now, reason);
        }
    }

    /// keepalived: when a member of a sync group leaves MASTER for a higher priority, the
    /// other members that are master go to BACKUP with it.
    pub fn sync_member_left_master(&mut self, now: Instant) {
        if self.running && self.state == State::Master && !self.handing_over {
            self.become_backup(now, Reason::SyncGroup);
        }
    }

    /// keepalived announces on every lower-priority advert; vipd at most once per advert
    /// interval (a flood must not make it send as many), but the last one is never lost: one
    /// that comes sooner is answered when the interval is over. The router that announced
    /// just after our burst (it became master as a partition healed: its advert reached us
    /// before its own announcement left, and it yields with an advert at once) would
    /// otherwise keep the neighbours until the second burst, seconds later (found by the
    /// soak, seed 1796096562). `cause`: `LowerPriority` or `SyncMemberLowerPriority`; one
    /// that waits is `LowerPriority` if either was.
    fn announce_lower_priority(&mut self, now: Instant, cause: AnnounceCause) {
        if self.params.garp_lower_prio_repeat == 0 {
            return;
        }
        let next = (self.lower_priority_announced)
            .map(|last| later(last, self.params.advert_interval))
            .filter(|&next| now < next);
        match next {
            None => {
                self.lower_priority_announced = Some(now);
                self.announce(cause);
                // This is the one that was waiting, if any.
                self.lower_priority_trailing = None;
            }
            Some(next) => {
                let waiting = self.lower_priority_trailing.map(|(_, cause)| cause);
                let cause = if waiting == Some(AnnounceCause::LowerPriority) {
                    AnnounceCause::LowerPriority
                } else {
                    cause
                };
                self.lower_priority_trailing = Some((next, cause));
            }
        }
        if let Some(delay) = self.params.garp_lower_prio_delay {
            if self.lower_priority_second.is_none() {
                self.lower_priority_second = Some(later(now, delay));
            }
        }
        self.arm_lower_priority_timer();
    }

    /// The router that advertised a lower priority fell silent: one more announcement, within
    /// the same limit of one per advert interval (due sooner, it goes when the interval is
    /// over), unless the second burst comes within an interval anyway (it is after the
    /// silence too; two bursts in a row would only crowd the link).
    fn announce_lower_priority_silent(&mut self, now: Instant) {
        let interval = self.params.advert_interval;
        if (self.lower_priority_second).is_some_and(|at| at <= later(now, interval)) {
            return;
        }
        let next = (self.lower_priority_announced)
            .map(|last| later(last, interval))
            .filter(|&next| now < next);
        match next {
            None => {
                self.lower_priority_announced = Some(now);
                self.announce(AnnounceCause::LowerPrioritySilent);
            }
            Some(next) => self.lower_priority_silent = Some(next),
        }
    }

    /// Every timer stopped, with what they were armed for.
    fn stop_all_timers(&mut self) {
        self.timers.stop_all();
        self.lower_priority_trailing = None;
        self.lower_priority_second = None;
        self.lower_priority_silent = None;
    }

    fn arm_lower_priority_timer(&mut self) {
        match self
            .lower_priority_trailing
            .map(|(at, _)| at)
            .into_iter()
            .chain(self.lower_priority_second)
            .chain(self.lower_priority_silent)
            .min()
        {
            Some(at) => self.timers.set(Timer::GarpLowerPriority, at),
            None => self.timers.stop(Timer::GarpLowerPriority),
        }
    }

    /// Queues an announcement with the repeat count its cause calls for.
    fn announce(&mut self, cause: AnnounceCause) {
        let repeat = match cause {
            AnnounceCause::BecameMaster | AnnounceCause::MasterDelay => {
                self.params.garp_master_repeat
            }
            AnnounceCause::Refresh => self.params.garp_master_refresh_repeat,
            AnnounceCause::LowerPriority
            | AnnounceCause::LowerPriorityDelay
            | AnnounceCause::LowerPrioritySilent
            | AnnounceCause::SyncMemberLowerPriority => self.params.garp_lower_prio_repeat,
        };
        // keepalived sends at least one message however the repeat is set.
        self.push(Action::Announce {
            repeat: repeat.max(1),
            cause,
        });
    }

    fn stop_announcements(&mut self) {
        self.timers.stop(Timer::GarpDelay);
        self.timers.stop(Timer::GarpRefresh);
        self.timers.stop(Timer::GarpLowerPriority);
        self.lower_priority_trailing = None;
        self.lower_priority_second = None;
        self.lower_priority_silent = None;
    }

    fn handover_receive(&mut self, now: Instant, advert: &ReceivedAdvert) {
        if advert.priority == PRIORITY_LEAVING
            && self.handover_end == HandoverEnd::Drain
            && self.master_address == Some(advert.source)
        {
            // The router that answered our drain leaves again: nobody has taken over, and
            // the drain ends as if nobody had answered (found by tests/simulation.rs).
            self.master_address = None;
            self.master_priority = None;
            if let Some(deadline) = self.handover_deadline {
                self.timers.set(Timer::HandoverBound, deadline);
            }
            if std::mem::take(&mut self.quiet) {
                // Nobody serves the VIPs now but us: serve them again at once, not when the
                // bound ends, and point clients and switches back (the leaver had announced).
                self.push(Action::UnquietVips);
                self.announce(AnnounceCause::BecameMaster);
            }
            return;
        }
        if advert.priority == PRIORITY_LEAVING {
            return;
        }
        if self.master_address == Some(advert.source) {
            self.answer_heard_at = Some(now);
            return;
        }
        if self
            .handover_started
            .is_some_and(|began| now < later(began, self.shortest_answer(advert)))
        {
            // Too early to answer our priority 0: a backup that took over on its own (it
            // missed our adverts) and may be yielding to one still on its way. Its answer, or
            // its next advert, comes later (found by tests/simulation.rs).
            return;
        }
        self.master_address = Some(advert.source);
        self.master_priority = Some(advert.priority);
        self.answer_heard_at = Some(now);
        if !self.quiet {
            self.quiet = true;
            self.push(Action::QuietVips);
        }
        // The new master announces the VIPs right after this advert; keep answering a moment
        // longer so clients that have not processed the announcement yet still get replies.
        let linger = self.master_adver_interval.min(HANDOVER_LINGER);
        let until = later(now, linger).max(self.handover_hold_until.unwrap_or(now));
        self.timers.set_at_most(Timer::HandoverBound, until);
        if self.params.version == Version::V3 {
            // A drain ends as a backup following this master: its down timer must count in
            // the new master's interval, not ours (found by tests/simulation.rs).
            self.master_adver_interval = clamp_interval(advert.advert_interval);
        }
    }

    /// The shortest Skew_Time after which the sender of `advert` can answer our priority 0:
    /// its Master_Adver_Interval is ours (learned) or its own (v3), the unit one second (v2).
    fn shortest_answer(&self, advert: &ReceivedAdvert) -> Duration {
        let unit = match self.params.version {
            Version::V2 => Duration::from_secs(1),
            Version::V3 => self
                .params
                .advert_interval
                .min(clamp_interval(advert.advert_interval)),
        };
        let inverse_priority = 256 - u32::from(advert.priority);
        unit.checked_mul(inverse_priority)
            .map_or(Duration::MAX, |scaled| scaled / 256)
    }

    fn start_handover(&mut self, now: Instant, bound: Duration, end: HandoverEnd) {
        self.handing_over = true;
        self.handover_end = end;
        self.handover_started = Some(now);
        self.master_address = None;
        self.master_priority = None;
        self.answer_heard_at = None;
        // Shortly after we became master, or answered another router advertising as master,
        // a rival may still be master and about to yield to an advert of ours in flight: its
        // advert is then no sign that it took over, and the rival, having yielded, may even
        // have missed our priority 0. No advert is trusted: the VIPs stay for the whole
        // bound, which outlasts every backup's answer and down timer (found by
        // tests/simulation.rs).
        let unsettled_since = self.became_master_at.max(self.rival_master_at);
        let unsettled =
            unsettled_since.is_some_and(|since| now < later(since, self.master_down_interval()));
        self.handover_hold_until = unsettled.then(|| later(now, bound));
        self.push(Action::SendAdvert {
            priority: PRIORITY_LEAVING,
        });
        self.timers.stop(Timer::Advert);
        self.stop_announcements();
        self.timers.stop(Timer::DrainProbe);
        self.handover_deadline = Some(later(now, bound));
        self.timers.set(Timer::HandoverBound, later(now, bound));
    }

    /// Leaves handover mode (the caller decides what comes next) and records its duration.
    fn end_handover(&mut self, now: Instant) {
        self.handing_over = false;
        self.timers.stop(Timer::HandoverBound);
        if let Some(started) = self.handover_started.take() {
            self.last_handover = Some(now.saturating_duration_since(started));
        }
    }

    fn finish_handover(&mut self, now: Instant, reason: Reason) {
        self.end_handover(now);
        self.push(Action::RemoveVips);
        self.stop_with(reason);
    }

    /// The handover bound of a drain passed: a new master was heard, or nobody answered.
    fn finish_drain_handover(&mut self, now: Instant) {
        // As for any backup, the down timer runs from the new master's last advert: one that
        // went silent while we held the VIPs (its priority 0 lost, say) is not waited for
        // again, and one silent for a whole down interval has not taken over at all: wait
        // out the bound as if nobody had answered (found by tests/simulation.rs).
        let down = self.master_down_interval();
        let answer_due = self.answer_heard_at.map(|heard| later(heard, down));
        if answer_due.is_some_and(|due| due <= now) {
            self.master_address = None;
            self.master_priority = None;
            self.answer_heard_at = None;
            if let Some(deadline) = self.handover_deadline.filter(|&end| end > now) {
                self.timers.set(Timer::HandoverBound, deadline);
                return;
            }
        }
        self.end_handover(now);
        match (self.master_address, self.drain) {
            (Some(new_master), _) => {
                self.become_backup(now, Reason::Drained { new_master });
                if let Some(due) = answer_due {
                    self.timers.set_at_most(Timer::MasterDown, due);
                }
            }
            (None, Some(DrainMode::Hard)) => {
                self.become_backup(now, Reason::DrainedNobodyTookOver);
            }
            // Soft drain (or resumed meanwhile): nobody else is there, keep serving.
            (None, _) => self.resume_mastering(now),
        }
    }

    /// Back to periodic adverts after a handover that ended without a new master.
    fn resume_mastering(&mut self, now: Instant) {
        self.master_address = None;
        self.master_priority = None;
        self.master_adver_interval = self.params.advert_interval;
        let answered = std::mem::take(&mut self.quiet);
        if answered {
            self.push(Action::UnquietVips);
        }
        self.send_advert_now(now);
        if answered {
            // A router answered the handover and announced the VIPs: clients (and switches)
            // follow it, and it lets go when it hears our advert without saying so (only
            // vipd answers with an advert of its own). Announce as a new master does.
            self.announce(AnnounceCause::BecameMaster);
            if let Some(delay) = self.params.garp_master_delay {
                self.timers.set(Timer::GarpDelay, later(now, delay));
            }
        }
        if let Some(refresh) = self.params.garp_master_refresh {
            self.timers.set(Timer::GarpRefresh, later(now, refresh));
        }
        self.arm_drain_probe(now);
    }

    /// A soft-drained master offers the role again from time to time.
    fn arm_drain_probe(&mut self, now: Instant) {
        if self.drain != Some(DrainMode::Soft) {
            self.timers.stop(Timer::DrainProbe);
            return;
        }
        let period = self
            .params
            .advert_interval
            .checked_mul(DRAIN_PROBE_ADVERTS)
            .unwrap_or(MAX_ADVERT_INTERVAL)
            .max(DRAIN_PROBE_MIN);
        self.timers.set(Timer::DrainProbe, later(now, period));
    }

    /// How long a drained master waits for an answer to its priority 0: as the runtime's
    /// bound for a planned stop, three adverts and a margin.
    fn drain_probe_bound(&self) -> Duration {
        drain_probe_bound(self.params.advert_interval)
    }

    fn stop_with(&mut self, reason: Reason) {
        self.stop_all_timers();
        self.handing_over = false;
        self.running = false;
        self.stopped = true;
        if self.state != State::Initialize {
            self.change_state(State::Initialize, reason);
        }
    }

    fn send_advert_now(&mut self, now: Instant) {
        self.push(Action::SendAdvert {
            priority: self.advertised_priority(),
        });
        self.timers
            .set(Timer::Advert, later(now, self.params.advert_interval));
    }

    fn priority_changed(&mut self, now: Instant) {
        match self.state {
            State::Master if !self.handing_over => self.send_advert_now(now),
            State::Backup => self.reconsider_preemption(now),
            _ => {}
        }
    }

    /// After our priority, the preempt setting or the preempt window changed: start a fast
    /// takeover if we now outrank the master we follow, or cancel one we no longer may do.
    fn reconsider_preemption(&mut self, now: Instant) {
        if self.state != State::Backup {
            return;
        }
        let followed_is_lower = self
            .master_priority
            .is_some_and(|p| p != PRIORITY_LEAVING && p < self.advertised_priority());
        let may_preempt = followed_is_lower && self.preempts() && !self.preempt_window_open(now);
        let fast_takeover_pending =
            matches!(self.takeover_reason, Reason::PreemptLowerPriority { .. });
        if may_preempt {
            self.arm_fast_takeover(now, false);
        } else if fast_takeover_pending {
            self.arm_master_down(now);
        }
    }

    fn on_timer(&mut self, now: Instant, timer: Timer) {
        match timer {
            Timer::MasterDown => {
                if self.state != State::Backup {
                    return;
                }
                match self.drain {
                    // keepalived: a sync group goes MASTER only when every member wants to
                    // (`vrrp_sync_can_goto_master`); a member still hearing its master holds
                    // the others back.
                    None if self.sync_member => self.wants_master = true,
                    None => {
                        let reason = self.takeover_reason.clone();
                        self.become_master(now, reason);
                    }
                    Some(DrainMode::Soft) => self.become_master(now, Reason::DrainedLastRouter),
                    // Never master: the master is gone and nobody is left to follow.
                    Some(DrainMode::Hard) => {
                        self.master_address = None;
                        self.master_priority = None;
                    }
                }
            }
            Timer::Advert => {
                if self.state == State::Master && !self.handing_over {
                    self.send_advert_now(now);
                }
            }
            Timer::GarpDelay => {
                if self.state == State::Master {
                    self.announce(AnnounceCause::MasterDelay);
                }
            }
            Timer::GarpRefresh => {
                if let (State::Master, Some(refresh)) =
                    (self.state, self.params.garp_master_refresh)
                {
                    self.announce(AnnounceCause::Refresh);
                    self.timers.set(Timer::GarpRefresh, later(now, refresh));
                }
            }
            Timer::GarpLowerPriority => {
                let master = self.state == State::Master && !self.handing_over;
                if let Some((_, cause)) = self.lower_priority_trailing.filter(|&(at, _)| at <= now)
                {
                    self.lower_priority_trailing = None;
                    if master {
                        self.announce_lower_priority(now, cause);
                    }
                }
                if self.lower_priority_second.is_some_and(|at| at <= now) {
                    self.lower_priority_second = None;
                    if master {
                        self.announce(AnnounceCause::LowerPriorityDelay);
                    }
                }
                if self.lower_priority_silent.is_some_and(|at| at <= now) {
                    self.lower_priority_silent = None;
                    if master {
                        self.announce_lower_priority_silent(now);
                    }
                }
                self.arm_lower_priority_timer();
            }
            Timer::PreemptDelay => {
                self.preempt_delay_served = true;
                self.reconsider_preemption(now);
            }
            Timer::HandoverBound => {
                if !self.handing_over {
                    return;
                }
                if self.handover_end == HandoverEnd::Drain {
                    self.finish_drain_handover(now);
                    return;
                }
                let reason = match self.master_address {
                    Some(new_master) => Reason::HandoverComplete { new_master },
                    None => Reason::HandoverTimedOut,
                };
                self.finish_handover(now, reason);
            }
            Timer::DrainProbe => {
                if self.state == State::Master
                    && !self.handing_over
                    && self.drain == Some(DrainMode::Soft)
                {
                    let bound = self.drain_probe_bound();
                    self.start_handover(now, bound, HandoverEnd::Drain);
                }
            }
        }
    }
}

/// How long a drained master advertising every `interval` waits for an answer to its probe.
fn drain_probe_bound(interval: Duration) -> Duration {
    interval.saturating_mul(3) + Duration::from_millis(100)
}

/// RFC 5798 tie-break: the higher primary address, compared as an unsigned integer, wins.
fn address_wins(theirs: IpAddr, ours: IpAddr) -> bool {
    match (theirs, ours) {
        (IpAddr::V4(a), IpAddr::V4(b)) => u32::from(a) > u32::from(b),
        (IpAddr::V6(a), IpAddr::V6(b)) => u128::from(a) > u128::from(b),
        // Never mixed on one instance; keep the order total anyway.
        (IpAddr::V6(_), IpAddr::V4(_)) => true,
        (IpAddr::V4(_), IpAddr::V6(_)) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn params(priority: u8, version: Version, interval: Duration) -> InstanceParams {
        InstanceParams {
            priority,
            version,
            advert_interval: interval,
            ..InstanceParams::new(51, ip("192.0.2.1"))
        }
    }

    fn v3(priority: u8) -> InstanceParams {
        params(priority, Version::V3, 100 * MS)
    }

    fn advert(source: &str, priority: u8, interval: Duration) -> ReceivedAdvert {
        ReceivedAdvert {
            source: ip(source),
            priority,
            advert_interval: interval,
        }
    }

    fn drain(instance: &mut Instance) -> Vec<Action> {
        std::iter::from_fn(|| instance.poll_action()).collect()
    }

    fn changed(from: State, to: State, reason: Reason) -> Action {
        Action::StateChanged { from, to, reason }
    }

    fn becomes_master(priority: u8, from: State, reason: Reason) -> Vec<Action> {
        vec![
            Action::SendAdvert { priority },
            Action::AddVips,
            Action::Announce {
                repeat: 5,
                cause: AnnounceCause::BecameMaster,
            },
            changed(from, State::Master, reason),
        ]
    }

    /// A started v3 instance that has become master through its down timer.
    fn master(priority: u8, t0: Instant) -> (Instance, Instant) {
        master_with(v3(priority), t0)
    }

    /// An instance with `params`, started at `t0`, that has become master through its down
    /// timer (at the instant returned), its actions drained.
    fn master_with(params: InstanceParams, t0: Instant) -> (Instance, Instant) {
        let mut instance = Instance::new(params);
        instance.start(t0);
        let now = instance.poll_timeout().unwrap();
        instance.handle_timeout(now);
        assert_eq!(instance.state(), State::Master);
        drain(&mut instance);
        (instance, now)
    }

    /// An instance with `params` started at `t0`, its first actions drained.
    fn started(params: InstanceParams, t0: Instant) -> Instance {
        let mut instance = Instance::new(params);
        instance.start(t0);
        drain(&mut instance);
        instance
    }

    /// A master at priority 150 drained (`mode`) right as it became master, its priority 0
    /// drained.
    fn drained_master(mode: DrainMode, t0: Instant) -> (Instance, Instant) {
        let (mut instance, became) = master(150, t0);
        instance.drain(became, mode, BOUND);
        drain(&mut instance);
        (instance, became)
    }

    /// A backup at priority 150, following a master at 200, drained (`mode`) at `t0`.
    fn drained_backup(mode: DrainMode, t0: Instant) -> Instance {
        let mut instance = backup_following(150, 200, t0);
        instance.drain(t0, mode, BOUND);
        drain(&mut instance);
        instance
    }

    /// A backup at priority 150, following a master at 200, soft-drained at `t0`, whose
    /// next timer (at the instant returned) has fired, its actions drained.
    fn drained_backup_at_its_timer(t0: Instant) -> (Instance, Instant) {
        let mut instance = backup_following(150, 200, t0);
        instance.drain(t0, DrainMode::Soft, BOUND);
        let due = instance.poll_timeout().unwrap();
        instance.handle_timeout(due);
        drain(&mut instance);
        (instance, due)
    }

    /// What a master does when it gives up the role: the VIPs go, the state changes.
    fn leaves_master(to: State, reason: Reason) -> Vec<Action> {
        vec![Action::RemoveVips, changed(State::Master, to, reason)]
    }

    /// A started v3 backup following `master` at `master_priority`.
    fn backup_following(priority: u8, master_priority: u8, t0: Instant) -> Instance {
        let mut instance = Instance::new(v3(priority));
        instance.start(t0);
        instance.handle_advert(t0, &advert("192.0.2.9", master_priority, 100 * MS));
        drain(&mut instance);
        instance
    }

    #[test]
    fn each_advert_arms_the_master_down_interval_of_that_moment() {
        // What Master_Down_Interval depends on changes between adverts: the interval the
        // master advertises, our priority, a drain, `down_timer_adverts` by a reload.
        let t0 = Instant::now();
        let mut instance = backup_following(100, 200, t0);
        let mut now = t0;
        fn hear(instance: &mut Instance, now: &mut Instant, interval: Duration) -> Duration {
            *now += 10 * MS;
            instance.handle_advert(*now, &advert("192.0.2.9", 200, interval));
            let armed = instance.poll_timeout().expect("Master_Down armed");
            assert_eq!(armed, *now + instance.master_down_interval());
            armed - *now
        }
        // 3 x 100 ms + (256 - 100) / 256 x 100 ms.
        assert_eq!(
            hear(&mut instance, &mut now, 100 * MS),
            Duration::from_nanos(360_937_500)
        );
        assert_eq!(
            hear(&mut instance, &mut now, 100 * MS),
            Duration::from_nanos(360_937_500)
        );
        assert_eq!(
            hear(&mut instance, &mut now, 200 * MS),
            Duration::from_nanos(721_875_000)
        );
        instance.set_effective_priority(now, 150);
        assert_eq!(
            hear(&mut instance, &mut now, 200 * MS),
            Duration::from_nanos(682_812_500)
        );
        instance.drain(now, DrainMode::Soft, BOUND);
        let drained = hear(&mut instance, &mut now, 200 * MS);
        assert_eq!(drained, 3 * 200 * MS + 200 * MS * (256 - 1) / 256);
        instance.resume(now);
        assert_eq!(
            hear(&mut instance, &mut now, 200 * MS),
            Duration::from_nanos(682_812_500)
        );
        let mut reloaded = v3(150);
        reloaded.down_timer_adverts = 5;
        assert_eq!(instance.update_params(now, reloaded), Reload::Applied);
        assert_eq!(
            hear(&mut instance, &mut now, 200 * MS),
            Duration::from_nanos(1_082_812_500)
        );
    }

    #[test]
    fn owner_starts_as_master() {
        let t0 = Instant::now();
        let mut instance = Instance::new(v3(255));
        instance.start(t0);
        assert_eq!(
            drain(&mut instance),
            becomes_master(255, State::Initialize, Reason::AddressOwner)
        );
        assert_eq!(instance.poll_timeout(), Some(t0 + 100 * MS));
        assert_eq!(instance.master_address(), Some(ip("192.0.2.1")));
    }

    #[test]
    fn non_owner_starts_as_backup_with_down_timer_even_with_master_hint() {
        let t0 = Instant::now();
        let mut p = params(254, Version::V2, Duration::from_secs(1));
        p.start_as_master_hint = true;
        let mut instance = Instance::new(p);
        instance.start(t0);
        assert_eq!(
            drain(&mut instance),
            vec![changed(State::Initialize, State::Backup, Reason::Startup)]
        );
        assert_eq!(
            instance.poll_timeout(),
            Some(t0 + Duration::from_secs(3) + Duration::from_nanos(7_812_500))
        );
    }

    #[test]
    fn v2_skew_and_down_interval_match_the_worked_example() {
        let instance = Instance::new(params(100, Version::V2, Duration::from_secs(1)));
        assert_eq!(instance.skew_time(), Duration::from_micros(609_375));
        assert_eq!(
            instance.master_down_interval(),
            Duration::from_micros(3_609_375)
        );
        // v2 skew does not scale with the interval.
        let slow = Instance::new(params(100, Version::V2, Duration::from_secs(2)));
        assert_eq!(slow.skew_time(), Duration::from_micros(609_375));
        assert_eq!(
            slow.master_down_interval(),
            Duration::from_micros(6_609_375)
        );
    }

    #[test]
    fn v3_skew_and_down_interval_match_the_worked_examples() {
        let at_100ms = Instance::new(v3(100));
        assert_eq!(at_100ms.skew_time(), Duration::from_nanos(60_937_500));
        assert_eq!(
            at_100ms.master_down_interval(),
            Duration::from_nanos(360_937_500)
        );
        let at_10ms = Instance::new(params(100, Version::V3, 10 * MS));
        assert_eq!(at_10ms.skew_time(), Duration::from_nanos(6_093_750));
        assert_eq!(
            at_10ms.master_down_interval(),
            Duration::from_nanos(36_093_750)
        );
    }

    #[test]
    fn down_timer_adverts_replaces_the_three_missed_adverts() {
        let mut p = v3(100);
        p.down_timer_adverts = 10;
        let instance = Instance::new(p);
        assert_eq!(
            instance.master_down_interval(),
            Duration::from_nanos(1_060_937_500)
        );
        let mut p = v3(100);
        p.down_timer_adverts = 0;
        assert_eq!(
            Instance::new(p).master_down_interval(),
            Duration::from_nanos(160_937_500),
            "at least one advert"
        );
    }

    #[test]
    fn v3_backup_learns_the_master_interval() {
        let t0 = Instant::now();
        let mut instance = Instance::new(params(100, Version::V3, Duration::from_secs(1)));
        instance.start(t0);
        let now = t0 + 10 * MS;
        instance.handle_advert(now, &advert("192.0.2.2", 150, 100 * MS));
        assert_eq!(instance.master_advert_interval(), 100 * MS);
        assert_eq!(
            instance.master_down_interval(),
            Duration::from_nanos(360_937_500)
        );
        assert_eq!(
            instance.poll_timeout(),
            Some(now + instance.master_down_interval())
        );
        assert_eq!(instance.master_address(), Some(ip("192.0.2.2")));
        // We still advertise our own interval.
        assert_eq!(instance.advert_interval(), Duration::from_secs(1));
    }

    #[test]
    fn v2_discards_adverts_with_another_interval() {
        let t0 = Instant::now();
        let mut instance = Instance::new(params(100, Version::V2, Duration::from_secs(1)));
        instance.start(t0);
        let deadline = instance.poll_timeout();
        instance.handle_advert(t0 + MS, &advert("192.0.2.2", 150, Duration::from_secs(2)));
        assert_eq!(instance.poll_timeout(), deadline);
        assert_eq!(instance.discarded_adverts(), 1);
        assert_eq!(instance.master_advert_interval(), Duration::from_secs(1));
    }

    #[test]
    fn backup_priority_zero_sets_down_timer_to_skew() {
        let t0 = Instant::now();
        let mut instance = backup_following(100, 150, t0);
        let now = t0 + 50 * MS;
        instance.handle_advert(now, &advert("192.0.2.9", 0, 100 * MS));
        let deadline = now + instance.skew_time();
        assert_eq!(instance.poll_timeout(), Some(deadline));
        instance.handle_timeout(deadline);
        let reason = Reason::PriorityZeroAdvert {
            from: ip("192.0.2.9"),
        };
        assert_eq!(reason.to_string(), "priority 0 advert from 192.0.2.9");
        assert_eq!(
            drain(&mut instance),
            becomes_master(100, State::Backup, reason)
        );
    }

    #[test]
    fn backup_resets_down_timer_on_higher_or_equal_priority() {
        let t0 = Instant::now();
        let mut instance = backup_following(100, 150, t0);
        for (step, priority) in [(1, 150), (2, 100)] {
            let now = t0 + step * 80 * MS;
            instance.handle_advert(now, &advert("192.0.2.9", priority, 100 * MS));
            assert_eq!(
                instance.poll_timeout(),
                Some(now + instance.master_down_interval())
            );
        }
        assert_eq!(instance.state(), State::Backup);
        assert!(drain(&mut instance).is_empty());
    }

    #[test]
    fn backup_discards_lower_priority_from_a_router_it_does_not_follow() {
        let t0 = Instant::now();
        let mut instance = backup_following(100, 150, t0);
        let deadline = instance.poll_timeout();
        instance.handle_advert(t0 + 50 * MS, &advert("192.0.2.7", 50, 100 * MS));
        assert_eq!(instance.poll_timeout(), deadline);
        assert_eq!(instance.master_address(), Some(ip("192.0.2.9")));
    }

    #[test]
    fn backup_becomes_master_when_the_down_timer_fires() {
        let t0 = Instant::now();
        let mut instance = started(v3(100), t0);
        let deadline = t0 + instance.master_down_interval();
        instance.handle_timeout(deadline - MS);
        assert_eq!(instance.state(), State::Backup);
        instance.handle_timeout(deadline);
        assert_eq!(
            drain(&mut instance),
            becomes_master(100, State::Backup, Reason::MasterDownTimerExpired)
        );
        assert_eq!(instance.transitions(), 2);
    }

    #[test]
    fn master_sends_periodic_adverts() {
        let t0 = Instant::now();
        let (mut instance, became) = master(100, t0);
        for n in 1..=3 {
            let now = became + n * 100 * MS;
            assert_eq!(instance.poll_timeout(), Some(now));
            instance.handle_timeout(now);
            assert_eq!(
                drain(&mut instance),
                vec![Action::SendAdvert { priority: 100 }]
            );
        }
    }

    #[test]
    fn a_coalesced_advert_goes_at_most_the_slack_early_and_counts_from_the_wake_up() {
        let t0 = Instant::now();
        let (mut instance, became) = master_with(params(100, Version::V3, 10 * MS), t0);
        let slack = instance.advert_slack();
        assert_eq!(slack, Duration::from_micros(500));
        let due = became + 10 * MS;
        assert_eq!(instance.poll_timeout(), Some(due));
        // Further off than the slack: nothing yet.
        let early = due - slack - Duration::from_nanos(1);
        instance.handle_timeout_coalescing(early, early);
        assert_eq!(drain(&mut instance), vec![]);
        assert_eq!(instance.poll_timeout(), Some(due));
        // Within the slack of another instance's deadline: sent now, and the next one a full
        // interval after the deadline the runtime woke for.
        let now = due - slack;
        instance.handle_timeout_coalescing(now, now);
        assert_eq!(
            drain(&mut instance),
            vec![Action::SendAdvert { priority: 100 }]
        );
        assert_eq!(instance.poll_timeout(), Some(now + 10 * MS));
        // An expired advert timer is handled as before (one advert, not two).
        let deadline = now + 10 * MS;
        instance.handle_timeout_coalescing(deadline + MS, deadline);
        assert_eq!(
            drain(&mut instance),
            vec![Action::SendAdvert { priority: 100 }]
        );
        assert_eq!(instance.poll_timeout(), Some(deadline + 10 * MS));
    }

    #[test]
    fn a_late_wake_up_keeps_the_advert_cadence() {
        let t0 = Instant::now();
        let interval = 10 * MS;
        let (mut instance, became) = master_with(params(100, Version::V3, interval), t0);
        let mut deadline = became + interval;
        // Woken 3 ms late, ten times over: still one advert per interval on average, not
        // one per 13 ms.
        for _ in 0..10 {
            assert_eq!(instance.poll_timeout(), Some(deadline));
            instance.handle_timeout_coalescing(deadline + 3 * MS, deadline);
            assert_eq!(
                drain(&mut instance),
                vec![Action::SendAdvert { priority: 100 }]
            );
            deadline += interval;
        }
        assert_eq!(instance.poll_timeout(), Some(became + 11 * interval));
    }

    #[test]
    fn a_wake_up_later_than_half_an_interval_counts_the_next_advert_from_now() {
        let t0 = Instant::now();
        let interval = 10 * MS;
        let (mut instance, became) = master_with(params(100, Version::V3, interval), t0);
        let deadline = became + interval;
        let now = deadline + 6 * MS;
        instance.handle_timeout_coalescing(now, deadline);
        assert_eq!(
            drain(&mut instance),
            vec![Action::SendAdvert { priority: 100 }]
        );
        // Not 4 ms after this one: two adverts do not go out nearly together.
        assert_eq!(instance.poll_timeout(), Some(now + interval));
        // Without a wake-up deadline (plain `handle_timeout`) as before: from now.
        let next = now + interval;
        instance.handle_timeout(next + 2 * MS);
        assert_eq!(
            drain(&mut instance),
            vec![Action::SendAdvert { priority: 100 }]
        );
        assert_eq!(instance.poll_timeout(), Some(next + 12 * MS));
    }

    #[test]
    fn masters_sending_in_one_wake_up_stay_together() {
        let t0 = Instant::now();
        let interval = 10 * MS;
        let (mut a, became) = master_with(params(100, Version::V3, interval), t0);
        let (mut b, _) = master_with(params(100, Version::V3, interval), t0 + 300 * MS / 1000);
        // The runtime wakes for the earliest deadline and offers it to every instance due
        // within the slack.
        let wake = a.poll_timeout().unwrap();
        assert_eq!(wake, became + interval);
        assert!(b.poll_timeout().unwrap() - wake <= b.advert_slack());
        // Late by 2 ms: both still count from the deadline woken for.
        let now = wake + 2 * MS;
        a.handle_timeout_coalescing(now, wake);
        b.handle_timeout_coalescing(now, wake);
        assert_eq!(drain(&mut a), vec![Action::SendAdvert { priority: 100 }]);
        assert_eq!(drain(&mut b), vec![Action::SendAdvert { priority: 100 }]);
        assert_eq!(a.poll_timeout(), Some(wake + interval));
        assert_eq!(a.poll_timeout(), b.poll_timeout());
    }

    #[test]
    fn coalescing_never_brings_a_non_advert_timer_forward() {
        let t0 = Instant::now();
        let mut backup = started(params(100, Version::V3, 10 * MS), t0);
        let down = backup.poll_timeout().unwrap();
        let before = down - Duration::from_micros(1);
        backup.handle_timeout_coalescing(before, before);
        assert_eq!(backup.state(), State::Backup);
        assert_eq!(drain(&mut backup), vec![]);
        assert_eq!(backup.poll_timeout(), Some(down));
        // The slack is a small part of any interval, 1 s (v2) included.
        let slow = started(params(100, Version::V2, 1000 * MS), t0);
        assert_eq!(slow.advert_slack(), Duration::from_micros(500));
        let fast = started(params(100, Version::V3, 10 * MS), t0);
        assert!(fast.advert_slack() * 20 <= 10 * MS);
    }

    #[test]
    fn adds_vips_soon_tells_a_queued_takeover() {
        let t0 = Instant::now();
        let mut instance = started(v3(100), t0);
        assert!(!instance.adds_vips_soon());
        instance.handle_timeout(instance.poll_timeout().unwrap());
        assert!(instance.adds_vips_soon());
        drain(&mut instance);
        assert!(!instance.adds_vips_soon());
    }

    /// What a master does on hearing a lower priority with keepalived's defaults.
    fn asserts_itself(priority: u8) -> Vec<Action> {
        vec![
            Action::SendAdvert { priority },
            Action::Announce {
                repeat: 5,
                cause: AnnounceCause::LowerPriority,
            },
        ]
    }

    #[test]
    fn master_answers_priority_zero_and_lower_priority_at_once() {
        let t0 = Instant::now();
        let (mut instance, became) = master(100, t0);
        let now = became + 30 * MS;
        instance.handle_advert(now, &advert("192.0.2.2", 0, 100 * MS));
        assert_eq!(
            drain(&mut instance),
            vec![Action::SendAdvert { priority: 100 }]
        );
        let periodic = now + 100 * MS;
        assert_eq!(instance.poll_timeout(), Some(periodic));
        let now = now + 10 * MS;
        instance.handle_advert(now, &advert("192.0.2.2", 50, 100 * MS));
        assert_eq!(drain(&mut instance), asserts_itself(100));
        // The assertion is an advert more; the periodic one keeps its deadline (keepalived).
        assert_eq!(instance.poll_timeout(), Some(periodic));
        assert_eq!(instance.state(), State::Master);
    }

    #[test]
    fn asserting_itself_keeps_a_master_in_its_group_of_periodic_adverts() {
        let t0 = Instant::now();
        let interval = 10 * MS;
        // Announcements aside: they have a timer of their own.
        let quiet = || {
            let mut p = params(100, Version::V3, interval);
            p.garp_lower_prio_repeat = 0;
            p
        };
        let (mut a, became) = master_with(quiet(), t0);
        let (mut b, _) = master_with(quiet(), t0);
        // A router that did not hear us for a moment advertises a lower priority to b.
        b.handle_advert(became + 4 * MS, &advert("192.0.2.2", 50, interval));
        assert!(drain(&mut b).contains(&Action::SendAdvert { priority: 100 }));
        // Both still send their periodic adverts in the same wake-up.
        let wake = a.poll_timeout().unwrap();
        assert_eq!(b.poll_timeout(), Some(wake));
        a.handle_timeout_coalescing(wake, wake);
        b.handle_timeout_coalescing(wake, wake);
        assert_eq!(drain(&mut a), vec![Action::SendAdvert { priority: 100 }]);
        assert_eq!(drain(&mut b), vec![Action::SendAdvert { priority: 100 }]);
        assert_eq!(a.poll_timeout(), b.poll_timeout());
    }

    #[test]
    fn master_hearing_a_lower_priority_announces_now_and_after_the_delay() {
        let t0 = Instant::now();
        let mut p = v3(150);
        p.advert_interval = Duration::from_secs(1);
        p.garp_master_delay = None;
        p.garp_lower_prio_repeat = 2;
        p.garp_lower_prio_delay = Some(Duration::from_secs(3));
        let (mut instance, _) = master_with(p, t0);
        let heard = t0 + Duration::from_secs(10);
        instance.handle_advert(heard, &advert("192.0.2.2", 100, Duration::from_secs(1)));
        let lower = Action::Announce {
            repeat: 2,
            cause: AnnounceCause::LowerPriority,
        };
        assert_eq!(
            drain(&mut instance),
            vec![Action::SendAdvert { priority: 150 }, lower.clone()]
        );
        // A flood of such adverts within one advert interval asserts no more (see
        // `a_flood_of_lower_priority_adverts_gets_one_assertion_per_interval`) and is
        // announced once more, when the interval is over.
        for ms in [1, 10, 500, 999] {
            instance.handle_advert(
                heard + ms * MS,
                &advert("192.0.2.2", 100, Duration::from_secs(1)),
            );
            assert_eq!(drain(&mut instance), vec![]);
        }
        let announcements = |instance: &mut Instance| {
            let actions = drain(instance).into_iter();
            (actions.filter(|a| matches!(a, Action::Announce { .. }))).collect::<Vec<_>>()
        };
        instance.handle_timeout(heard + Duration::from_millis(999));
        assert_eq!(announcements(&mut instance), vec![]);
        instance.handle_timeout(heard + Duration::from_secs(1));
        assert_eq!(announcements(&mut instance), vec![lower.clone()]);
        // One advert interval after that it is news again.
        let again = heard + Duration::from_secs(2);
        instance.handle_advert(again, &advert("192.0.2.2", 100, Duration::from_secs(1)));
        assert_eq!(
            drain(&mut instance),
            vec![Action::SendAdvert { priority: 150 }, lower]
        );
        let mut announced = Vec::new();
        for ms in (1..=4000).step_by(250) {
            instance.handle_timeout(again + ms * MS);
            for action in drain(&mut instance) {
                if let Action::Announce { repeat, cause } = action {
                    announced.push((repeat, cause));
                }
            }
        }
        // The second burst (3 s after the first advert), then one more when the other
        // router has been silent for 1.5 of its intervals.
        assert_eq!(
            announced,
            vec![
                (2, AnnounceCause::LowerPriorityDelay),
                (2, AnnounceCause::LowerPrioritySilent)
            ]
        );
    }

    #[test]
    fn a_router_that_announced_just_after_our_answer_is_answered_again() {
        // A backup cut off from the master takes over just as the partition heals: its
        // advert reaches the master, which announces its addresses at once, before the
        // other router's own announcement (sent after it added the VIP) leaves. It then
        // hears the master and yields with an advert (higher_prio_send_advert). Unless that
        // one is answered, clients keep the yielding router's MAC until the second burst,
        // 5 s later (found by the soak).
        let t0 = Instant::now();
        let mut p = v3(150);
        p.garp_master_delay = None;
        p.garp_lower_prio_repeat = 5;
        p.garp_lower_prio_delay = Some(Duration::from_secs(5));
        let (mut instance, became) = master_with(p, t0);
        let heard = became + Duration::from_secs(3) + 10 * MS;
        let lower = Action::Announce {
            repeat: 5,
            cause: AnnounceCause::LowerPriority,
        };
        instance.handle_advert(heard, &advert("192.0.2.2", 100, 100 * MS));
        assert_eq!(
            drain(&mut instance),
            vec![Action::SendAdvert { priority: 150 }, lower.clone()]
        );
        // The yield, 6 ms later: not answered at once (a flood gets one burst per interval)
        // but when the interval is over.
        instance.handle_advert(heard + 6 * MS, &advert("192.0.2.2", 100, 100 * MS));
        assert_eq!(drain(&mut instance), vec![]);
        let mut announced = Vec::new();
        for ms in (10..=6000).step_by(10) {
            instance.handle_timeout(heard + ms * MS);
            for action in drain(&mut instance) {
                if let Action::Announce { cause, .. } = action {
                    announced.push((ms, cause));
                }
            }
        }
        // Once it is silent (its yield at 6 ms + 150 ms, deferred to one interval after
        // the last announcement) once more; the second burst keeps its time: once, 5 s
        // after the first.
        assert_eq!(
            announced,
            vec![
                (100, AnnounceCause::LowerPriority),
                (200, AnnounceCause::LowerPrioritySilent),
                (5000, AnnounceCause::LowerPriorityDelay)
            ]
        );
    }

    /// Every announcement from `from` to `from + to`, each timer handled when it is due,
    /// with its time after `from`.
    fn announcements_until(
        instance: &mut Instance,
        from: Instant,
        to: Duration,
    ) -> Vec<(Duration, AnnounceCause)> {
        let mut announced = Vec::new();
        while let Some(at) = instance.poll_timeout().filter(|&at| at <= from + to) {
            instance.handle_timeout(at);
            for action in drain(instance) {
                if let Action::Announce { cause, .. } = action {
                    announced.push((at.saturating_duration_since(from), cause));
                }
            }
        }
        announced
    }

    #[test]
    fn a_rival_that_yields_silently_is_announced_over_once_it_is_silent() {
        // The soak's race (seed 1796166284): keepalived (lower priority) became master while
        // cut off and announced just as the partition healed; its advert reached the master
        // first, whose answer (advert and announcement) went out before keepalived's
        // announcement. keepalived then heard the master and yielded without an advert (its
        // default), so nothing more came: clients kept its MAC until the second burst, 5 s
        // later. Once the rival has missed its next advert it has yielded: announce again.
        let t0 = Instant::now();
        let mut p = v3(150);
        p.garp_master_delay = None;
        p.garp_lower_prio_repeat = 5;
        p.garp_lower_prio_delay = Some(Duration::from_secs(5));
        let (mut instance, became) = master_with(p, t0);
        let heard = became + Duration::from_secs(3) + 10 * MS;
        instance.handle_advert(heard, &advert("192.0.2.3", 50, 100 * MS));
        assert_eq!(
            drain(&mut instance),
            vec![
                Action::SendAdvert { priority: 150 },
                Action::Announce {
                    repeat: 5,
                    cause: AnnounceCause::LowerPriority
                }
            ]
        );
        assert_eq!(
            announcements_until(&mut instance, heard, Duration::from_secs(6)),
            vec![
                (150 * MS, AnnounceCause::LowerPrioritySilent),
                (Duration::from_secs(5), AnnounceCause::LowerPriorityDelay)
            ]
        );
        let repeats: Vec<u32> = {
            instance.handle_advert(
                heard + Duration::from_secs(10),
                &advert("192.0.2.3", 50, 100 * MS),
            );
            drain(&mut instance);
            instance.handle_timeout(heard + Duration::from_secs(10) + 150 * MS);
            (drain(&mut instance).into_iter())
                .filter_map(|a| match a {
                    Action::Announce { repeat, .. } => Some(repeat),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(repeats, vec![5], "garp_lower_prio_repeat messages");
    }

    #[test]
    fn a_rival_still_advertising_is_announced_over_after_its_last_advert() {
        // A rival that goes on advertising (it did not hear our answer) is still master
        // and may still be announcing (keepalived spreads its messages over garp_interval):
        // the round that ends the race comes after its last advert, at one and a half of
        // its intervals, whatever the interval (here 1 s, ours 1 s too).
        let t0 = Instant::now();
        let mut p = v3(150);
        p.advert_interval = Duration::from_secs(1);
        p.garp_master_delay = None;
        p.garp_lower_prio_delay = None;
        let (mut instance, became) = master_with(p, t0);
        let heard = became + 10 * MS;
        let mut announced = Vec::new();
        for n in 0..4u32 {
            // Its adverts every second, 20 ms late each time.
            let at = heard + n * Duration::from_millis(1020);
            instance.handle_advert(at, &advert("192.0.2.3", 50, Duration::from_secs(1)));
            for action in drain(&mut instance) {
                if let Action::Announce { cause, .. } = action {
                    announced.push((at - heard, cause));
                }
            }
            for (after, cause) in
                announcements_until(&mut instance, at, Duration::from_millis(1010))
            {
                announced.push((at + after - heard, cause));
            }
        }
        announced.extend(
            announcements_until(
                &mut instance,
                heard + Duration::from_millis(4080),
                Duration::from_secs(5),
            )
            .into_iter()
            .map(|(after, cause)| (after + Duration::from_millis(4080), cause)),
        );
        // Answered at each advert (one announcement per interval at most), then once more
        // 1.5 s after the last.
        let ms = |n: u64| Duration::from_millis(n);
        assert_eq!(
            announced,
            vec![
                (ms(0), AnnounceCause::LowerPriority),
                (ms(1020), AnnounceCause::LowerPriority),
                (ms(2040), AnnounceCause::LowerPriority),
                (ms(3060), AnnounceCause::LowerPriority),
                (ms(4560), AnnounceCause::LowerPrioritySilent),
            ]
        );
    }

    #[test]
    fn the_second_burst_within_an_interval_of_the_silence_stands_for_it() {
        // 1 s adverts, second burst after 2 s: the silence (1.5 s) is followed by the second
        // burst within an interval; no separate round for it.
        let t0 = Instant::now();
        let mut p = v3(150);
        p.advert_interval = Duration::from_secs(1);
        p.garp_master_delay = None;
        p.garp_lower_prio_delay = Some(Duration::from_secs(2));
        let (mut instance, became) = master_with(p, t0);
        let heard = became + 10 * MS;
        instance.handle_advert(heard, &advert("192.0.2.3", 50, Duration::from_secs(1)));
        drain(&mut instance);
        assert_eq!(
            announcements_until(&mut instance, heard, Duration::from_secs(4)),
            vec![(Duration::from_secs(2), AnnounceCause::LowerPriorityDelay)]
        );
    }

    #[test]
    fn a_flood_of_lower_priority_adverts_ends_in_one_more_announcement() {
        // Forged lower adverts from many sources: one announcement per interval while they
        // come (see `a_flood_of_lower_priority_adverts_gets_one_assertion_per_interval`) and
        // one when they stop, not one per advert or per source.
        let t0 = Instant::now();
        let mut p = v3(150);
        p.garp_master_delay = None;
        p.garp_lower_prio_delay = None;
        let (mut instance, became) = master_with(p, t0);
        let start = became + 5 * MS;
        let mut announced = Vec::new();
        for i in 0..1000u32 {
            let now = start + Duration::from_micros(250 * u64::from(i));
            instance.handle_timeout(now);
            let from = format!("192.0.2.{}", 10 + i % 200);
            instance.handle_advert(now, &advert(&from, 100, 100 * MS));
            for action in drain(&mut instance) {
                if let Action::Announce { cause, .. } = action {
                    announced.push((now - start, cause));
                }
            }
        }
        let last = start + Duration::from_micros(250 * 999);
        for (after, cause) in announcements_until(&mut instance, last, Duration::from_secs(2)) {
            announced.push((last + after - start, cause));
        }
        let us = Duration::from_micros;
        assert_eq!(
            announced,
            vec![
                (us(0), AnnounceCause::LowerPriority),
                (us(100_000), AnnounceCause::LowerPriority),
                (us(200_000), AnnounceCause::LowerPriority),
                // The last advert (249.75 ms) came under an interval after the last
                // announcement: the trailing one at 300 ms; its silence is due at 399.75
                // ms, under an interval after that one, so it waits until 400 ms.
                (us(300_000), AnnounceCause::LowerPriority),
                (us(400_000), AnnounceCause::LowerPrioritySilent),
            ]
        );
    }

    #[test]
    fn a_flood_of_lower_priority_adverts_gets_one_assertion_per_interval() {
        // Anyone on the segment can send valid VRRPv3 adverts: answering each one made the
        // master an amplifier (one advert out, to every peer, per advert in) and filled the
        // backups' sockets with the real master's adverts.
        let t0 = Instant::now();
        let (mut instance, became) = master_with(v3(150), t0);
        let mut asserted = Vec::new();
        let start = became + 5 * MS;
        for i in 0..1000u32 {
            // 1000 adverts in 250 ms, from as many sources.
            let now = start + Duration::from_micros(250 * u64::from(i));
            let from = format!("192.0.2.{}", 10 + i % 200);
            instance.handle_advert(now, &advert(&from, 100, 100 * MS));
            let sent = drain(&mut instance)
                .into_iter()
                .filter(|a| matches!(a, Action::SendAdvert { .. }))
                .count();
            if sent > 0 {
                asserted.push((now - start, sent));
            }
        }
        // At once for the first, then at most one per advert interval.
        assert_eq!(
            asserted,
            vec![(Duration::ZERO, 1), (100 * MS, 1), (200 * MS, 1)]
        );
        // Each one still counts (keepalived's MASTER_RX_LOWER_PRI lines).
        assert_eq!(instance.lower_priority_adverts_heard(), 1000);
        // Adverts that claim a shorter interval are answered that often (a real router
        // with it times out on its peers that soon), never more: 25 answers in 250 ms.
        let start = start + Duration::from_secs(1);
        let mut answered = 0;
        for i in 0..1000u32 {
            let now = start + Duration::from_micros(250 * u64::from(i));
            instance.handle_advert(now, &advert("192.0.2.9", 100, 10 * MS));
            answered += drain(&mut instance)
                .into_iter()
                .filter(|a| matches!(a, Action::SendAdvert { .. }))
                .count();
        }
        assert_eq!(answered, 25);
    }

    #[test]
    fn lower_prio_no_advert_keeps_a_master_silent_but_announcing() {
        let t0 = Instant::now();
        let mut p = v3(150);
        p.lower_prio_no_advert = true;
        p.garp_lower_prio_repeat = 1;
        let (mut instance, became) = master_with(p, t0);
        let now = became + 30 * MS;
        instance.handle_advert(now, &advert("192.0.2.2", 100, 100 * MS));
        assert_eq!(
            drain(&mut instance),
            vec![Action::Announce {
                repeat: 1,
                cause: AnnounceCause::LowerPriority
            }]
        );
        // The periodic advert keeps its schedule.
        assert_eq!(instance.poll_timeout(), Some(became + 100 * MS));
        // Priority 0 is still answered at once.
        instance.handle_advert(now, &advert("192.0.2.2", 0, 100 * MS));
        assert_eq!(
            drain(&mut instance),
            vec![Action::SendAdvert { priority: 150 }]
        );
    }

    #[test]
    fn no_lower_priority_announcement_with_repeat_zero() {
        let t0 = Instant::now();
        let mut p = v3(150);
        p.garp_lower_prio_repeat = 0;
        p.garp_master_delay = None;
        let (mut instance, became) = master_with(p, t0);
        instance.handle_advert(became + MS, &advert("192.0.2.2", 100, 100 * MS));
        assert_eq!(
            drain(&mut instance),
            vec![Action::SendAdvert { priority: 150 }]
        );
        instance.handle_timeout(became + Duration::from_secs(10));
        assert!(!drain(&mut instance)
            .iter()
            .any(|a| matches!(a, Action::Announce { .. })));
    }

    #[test]
    fn every_lower_priority_advert_heard_as_master_is_counted() {
        // keepalived writes MASTER_RX_LOWER_PRI to its notify FIFOs for each one, also with
        // no advert or announcement in answer.
        let t0 = Instant::now();
        let mut p = v3(150);
        p.garp_lower_prio_repeat = 0;
        p.lower_prio_no_advert = true;
        let (mut instance, became) = master_with(p, t0);
        assert_eq!(instance.lower_priority_adverts_heard(), 0);
        for n in 1..=3 {
            instance.handle_advert(became + n * MS, &advert("192.0.2.2", 100, 100 * MS));
        }
        assert_eq!(instance.lower_priority_adverts_heard(), 3);
        // A higher priority is no such advert; as backup nothing counts.
        instance.handle_advert(became + 10 * MS, &advert("192.0.2.3", 200, 100 * MS));
        assert_eq!(instance.state(), State::Backup);
        instance.handle_advert(became + 20 * MS, &advert("192.0.2.2", 100, 100 * MS));
        assert_eq!(instance.lower_priority_adverts_heard(), 3);
    }

    #[test]
    fn sync_group_member_announces_when_another_member_hears_a_lower_priority() {
        let t0 = Instant::now();
        let (mut instance, became) = master(150, t0);
        let now = became + 10 * MS;
        instance.sync_member_heard_lower_priority(now);
        assert_eq!(
            drain(&mut instance),
            vec![Action::Announce {
                repeat: 5,
                cause: AnnounceCause::SyncMemberLowerPriority
            }]
        );
        // Rate-limited like its own lower-priority announcements; backups stay quiet.
        instance.sync_member_heard_lower_priority(now + MS);
        assert!(drain(&mut instance).is_empty());
        let mut backup = backup_following(100, 150, t0);
        backup.sync_member_heard_lower_priority(now);
        assert!(drain(&mut backup).is_empty());
    }

    /// Two masters of one sync group, wired as the shell wires them: an announcement whose
    /// cause reaches the group makes the other member announce. Every announcement from
    /// `from` to `from + to` as (member, time after `from`, cause).
    fn sync_pair_announcements(
        pair: &mut [Instance; 2],
        from: Instant,
        to: Duration,
    ) -> Vec<(usize, Duration, AnnounceCause)> {
        let mut announced = Vec::new();
        let mut now = from;
        loop {
            // Whatever the members queued, with what it sets off in the other one.
            let mut quiet = false;
            while !quiet {
                quiet = true;
                for member in 0..2 {
                    for action in drain(&mut pair[member]) {
                        if let Action::Announce { cause, .. } = action {
                            quiet = false;
                            announced.push((member, now.saturating_duration_since(from), cause));
                            if cause.reaches_sync_group() {
                                pair[1 - member].sync_member_heard_lower_priority(now);
                            }
                        }
                    }
                }
            }
            let next = (pair.iter().filter_map(Instance::poll_timeout).min())
                .filter(|&at| at <= from + to);
            let Some(at) = next else {
                return announced;
            };
            now = at;
            for member in pair.iter_mut() {
                if member.poll_timeout().is_some_and(|due| due <= at) {
                    member.handle_timeout(at);
                }
            }
        }
    }

    #[test]
    fn a_sync_member_announcing_for_another_does_not_set_it_off_again() {
        // keepalived: when one member hears a lower priority, the others announce once (and
        // their second burst); nothing echoes back. vipd made the other member's announcement
        // one of its own lower-priority ones, which the shell passed back to the first
        // member, which passed it on again once its interval was over: one round each per
        // advert interval for good, long after the lower-priority router was gone.
        let t0 = Instant::now();
        let mut p = v3(150);
        p.garp_master_delay = None;
        p.garp_lower_prio_repeat = 2;
        p.garp_lower_prio_delay = Some(Duration::from_secs(1));
        let (a, became) = master_with(p.clone(), t0);
        let (b, _) = master_with(p, t0);
        let mut pair = [a, b];
        let heard = became + Duration::from_secs(3);
        pair[0].handle_advert(heard, &advert("192.0.2.2", 100, 100 * MS));
        let announced = sync_pair_announcements(&mut pair, heard, Duration::from_secs(5));
        use AnnounceCause::{LowerPriority, LowerPriorityDelay, LowerPrioritySilent};
        assert_eq!(
            announced,
            vec![
                (0, Duration::ZERO, LowerPriority),
                (1, Duration::ZERO, AnnounceCause::SyncMemberLowerPriority),
                // Silent for 1.5 of its intervals.
                (0, 150 * MS, LowerPrioritySilent),
                (0, Duration::from_secs(1), LowerPriorityDelay),
                (1, Duration::from_secs(1), LowerPriorityDelay),
            ]
        );
    }

    #[test]
    fn a_sync_member_s_deferred_announcement_for_another_keeps_its_origin() {
        // b adverts every second, a every 100 ms: a passes on its second answer within b's
        // interval, so b's announcement for it waits until the interval is over; made then,
        // it is still one for a and goes no further.
        let t0 = Instant::now();
        let mut p = v3(150);
        p.garp_master_delay = None;
        p.garp_lower_prio_repeat = 2;
        p.garp_lower_prio_delay = None;
        let (a, _) = master_with(p.clone(), t0);
        p.advert_interval = Duration::from_secs(1);
        let (b, _) = master_with(p, t0);
        let mut pair = [a, b];
        let heard = t0 + Duration::from_secs(10);
        pair[0].handle_advert(heard, &advert("192.0.2.2", 100, 100 * MS));
        use AnnounceCause::{LowerPriority, LowerPrioritySilent, SyncMemberLowerPriority};
        assert_eq!(
            sync_pair_announcements(&mut pair, heard, 150 * MS),
            vec![
                (0, Duration::ZERO, LowerPriority),
                (1, Duration::ZERO, SyncMemberLowerPriority),
                (0, 150 * MS, LowerPrioritySilent),
            ]
        );
        let again = heard + 200 * MS;
        pair[0].handle_advert(again, &advert("192.0.2.2", 100, 100 * MS));
        assert_eq!(
            sync_pair_announcements(&mut pair, again, Duration::from_secs(3)),
            vec![
                // One interval after the silent one.
                (0, 50 * MS, LowerPriority),
                (0, 150 * MS, LowerPrioritySilent),
                // One interval (b's) after its first.
                (1, 800 * MS, SyncMemberLowerPriority),
            ]
        );
    }

    #[test]
    fn sync_group_member_waits_for_the_group_before_becoming_master() {
        let t0 = Instant::now();
        let mut instance = Instance::new(v3(100));
        instance.set_sync_group_member(true);
        instance.start(t0);
        drain(&mut instance);
        let down = instance.poll_timeout().unwrap();
        instance.handle_timeout(down);
        // keepalived: no MASTER until every member of the group wants it.
        assert_eq!(instance.state(), State::Backup);
        assert!(drain(&mut instance).is_empty());
        assert!(instance.wants_master());
        // Hearing a master again: it no longer wants to take over.
        instance.handle_advert(down + MS, &advert("192.0.2.9", 150, 100 * MS));
        assert!(!instance.wants_master());
        instance.grant_master(down + 2 * MS);
        assert_eq!(instance.state(), State::Backup);
        // The master goes silent: wanting again, and the group's grant makes it master.
        let down = instance.poll_timeout().unwrap();
        instance.handle_timeout(down);
        assert!(instance.wants_master());
        instance.grant_master(down);
        assert_eq!(
            drain(&mut instance),
            becomes_master(100, State::Backup, Reason::MasterDownTimerExpired)
        );
        assert!(!instance.wants_master());
    }

    #[test]
    fn sync_group_master_follows_a_member_that_yielded() {
        let t0 = Instant::now();
        let (mut instance, became) = master(150, t0);
        instance.sync_member_left_master(became + MS);
        assert_eq!(
            drain(&mut instance),
            vec![
                Action::RemoveVips,
                changed(State::Master, State::Backup, Reason::SyncGroup),
            ]
        );
        // A backup is left alone.
        let mut backup = backup_following(100, 150, t0);
        backup.sync_member_left_master(became);
        assert!(drain(&mut backup).is_empty());
    }

    #[test]
    fn a_yielding_master_sends_its_own_priority_first_by_default() {
        // vipd's default (keepalived: `vrrp_higher_prio_send_advert`): after a partition
        // heals, the returning master hears our lower priority and announces its addresses.
        let t0 = Instant::now();
        assert!(v3(100).higher_prio_send_advert);
        let (mut instance, became) = master(100, t0);
        let now = became + 10 * MS;
        instance.handle_advert(now, &advert("192.0.2.2", 150, 100 * MS));
        assert_eq!(
            drain(&mut instance),
            vec![
                Action::SendAdvert { priority: 100 },
                Action::RemoveVips,
                changed(
                    State::Master,
                    State::Backup,
                    Reason::HigherPriorityAdvert {
                        from: ip("192.0.2.2"),
                        priority: 150
                    }
                ),
            ]
        );
        // The winner, hearing that advert, announces its addresses again.
        let (mut winner, became) = master(150, t0);
        drain(&mut winner);
        winner.handle_advert(became + MS, &advert("192.0.2.3", 100, 100 * MS));
        let actions = drain(&mut winner);
        assert!(
            actions.iter().any(|a| matches!(
                a,
                Action::Announce {
                    cause: AnnounceCause::LowerPriority,
                    ..
                }
            )),
            "{actions:?}"
        );
    }

    #[test]
    fn without_higher_prio_send_advert_a_master_yields_silently() {
        // keepalived's default, kept with an explicit `higher_prio_send_advert false`.
        let t0 = Instant::now();
        let mut p = v3(100);
        p.higher_prio_send_advert = false;
        let (mut instance, became) = master_with(p, t0);
        instance.handle_advert(became + 10 * MS, &advert("192.0.2.2", 150, 100 * MS));
        assert_eq!(
            drain(&mut instance),
            leaves_master(
                State::Backup,
                Reason::HigherPriorityAdvert {
                    from: ip("192.0.2.2"),
                    priority: 150
                }
            )
        );
    }

    #[test]
    fn leaving_master_cancels_the_second_lower_priority_burst() {
        let t0 = Instant::now();
        let mut p = v3(150);
        p.garp_master_delay = None;
        p.garp_lower_prio_delay = Some(Duration::from_secs(1));
        let mut instance = Instance::new(p);
        instance.start(t0);
        let became = instance.poll_timeout().unwrap();
        instance.handle_timeout(became);
        instance.handle_advert(became + MS, &advert("192.0.2.2", 100, 100 * MS));
        instance.handle_advert(became + 2 * MS, &advert("192.0.2.3", 200, 100 * MS));
        assert_eq!(instance.state(), State::Backup);
        drain(&mut instance);
        instance.handle_timeout(became + Duration::from_secs(2));
        assert!(!drain(&mut instance).iter().any(|a| matches!(
            a,
            Action::Announce {
                cause: AnnounceCause::LowerPriorityDelay | AnnounceCause::LowerPrioritySilent,
                ..
            }
        )));
    }

    #[test]
    fn master_yields_to_higher_priority_and_learns_its_interval() {
        let t0 = Instant::now();
        let (mut instance, became) = master(100, t0);
        let now = became + 30 * MS;
        instance.handle_advert(now, &advert("192.0.2.2", 150, 200 * MS));
        let reason = Reason::HigherPriorityAdvert {
            from: ip("192.0.2.2"),
            priority: 150,
        };
        assert_eq!(
            reason.to_string(),
            "higher priority advert from 192.0.2.2 (priority 150)"
        );
        assert_eq!(
            drain(&mut instance),
            vec![
                Action::SendAdvert { priority: 100 },
                Action::RemoveVips,
                changed(State::Master, State::Backup, reason)
            ]
        );
        assert_eq!(instance.master_advert_interval(), 200 * MS);
        assert_eq!(
            instance.poll_timeout(),
            Some(now + instance.master_down_interval())
        );
    }

    #[test]
    fn equal_priority_tie_break_compares_addresses_unsigned() {
        let cases = [
            // (ours, theirs, they win)
            ("192.0.2.1", "192.0.2.2", true),
            ("192.0.2.3", "192.0.2.2", false),
            // a string compare would get these wrong
            ("192.0.2.9", "192.0.2.10", true),
            ("203.0.113.1", "198.51.100.200", false),
            ("2001:db8::1:0", "2001:db8::ffff", false),
            ("2001:db8::ffff", "2001:db8::1:0", true),
            ("fe80::1", "fe80::2", true),
        ];
        for (ours, theirs, they_win) in cases {
            let t0 = Instant::now();
            let mut p = v3(100);
            p.primary_address = ip(ours);
            let (mut instance, _) = master_with(p, t0);
            instance.handle_advert(t0 + Duration::from_secs(1), &advert(theirs, 100, 100 * MS));
            let expected = if they_win {
                State::Backup
            } else {
                State::Master
            };
            assert_eq!(instance.state(), expected, "ours {ours} theirs {theirs}");
            let actions = drain(&mut instance);
            if they_win {
                assert_eq!(
                    actions[..2],
                    [Action::SendAdvert { priority: 100 }, Action::RemoveVips]
                );
            } else {
                assert_eq!(actions, asserts_itself(100));
            }
        }
    }

    #[test]
    fn address_owner_keeps_the_addresses_against_an_equal_priority_advert() {
        // Whatever the other's address: a second 255 is a conflict, not a tie to break.
        for theirs in ["192.0.2.2", "192.0.2.200", "255.255.255.255"] {
            let t0 = Instant::now();
            let mut instance = started(v3(255), t0);
            instance.handle_advert(t0 + MS, &advert(theirs, 255, 100 * MS));
            assert_eq!(instance.state(), State::Master, "yielded to {theirs}");
            assert!(drain(&mut instance).is_empty(), "{theirs}");
            // The periodic advert stays where it was.
            assert_eq!(instance.poll_timeout(), Some(t0 + 100 * MS));
            assert_eq!(instance.transitions(), 1);
        }
        // Below 255 the tie still breaks on the address.
        let t0 = Instant::now();
        let (mut instance, became) = master(254, t0);
        instance.handle_advert(became + MS, &advert("192.0.2.200", 254, 100 * MS));
        assert_eq!(instance.state(), State::Backup);
    }

    #[test]
    fn only_a_master_advertises_now_on_request() {
        let t0 = Instant::now();
        let (mut instance, became) = master(150, t0);
        let now = became + 30 * MS;
        instance.advertise_now(now);
        assert_eq!(
            drain(&mut instance),
            vec![Action::SendAdvert { priority: 150 }]
        );
        assert_eq!(instance.poll_timeout(), Some(now + 100 * MS));
        let mut backup = backup_following(100, 150, t0);
        let timeout = backup.poll_timeout();
        backup.advertise_now(t0 + MS);
        assert!(drain(&mut backup).is_empty());
        assert_eq!(backup.poll_timeout(), timeout);
        instance.begin_handover(now, Duration::from_secs(1));
        drain(&mut instance);
        instance.advertise_now(now + MS);
        assert!(
            drain(&mut instance).is_empty(),
            "a handing-over master stays quiet"
        );
    }

    #[test]
    fn nopreempt_backup_follows_a_lower_priority_master() {
        let t0 = Instant::now();
        let mut p = v3(200);
        p.preempt = false;
        let mut instance = Instance::new(p);
        instance.start(t0);
        for step in 1..=5 {
            let now = t0 + step * 100 * MS;
            instance.handle_advert(now, &advert("192.0.2.2", 100, 100 * MS));
            assert_eq!(
                instance.poll_timeout(),
                Some(now + instance.master_down_interval())
            );
        }
        assert_eq!(instance.state(), State::Backup);
    }

    #[test]
    fn address_owner_preempts_even_with_nopreempt() {
        let t0 = Instant::now();
        let mut p = v3(255);
        p.preempt = false;
        let mut instance = started(p, t0);
        instance.handle_advert(t0 + MS, &advert("192.0.2.2", 254, 100 * MS));
        assert_eq!(instance.state(), State::Master);
        assert_eq!(drain(&mut instance), asserts_itself(255));
    }

    #[test]
    fn preempt_delay_holds_off_preemption_after_start() {
        let t0 = Instant::now();
        let mut p = v3(200);
        p.preempt_delay = Duration::from_secs(2);
        let mut instance = Instance::new(p);
        instance.start(t0);
        // Within the window a lower priority master is followed.
        let mut now = t0;
        while now + 100 * MS < t0 + Duration::from_secs(2) {
            now += 100 * MS;
            instance.handle_timeout(now);
            instance.handle_advert(now, &advert("192.0.2.2", 100, 100 * MS));
            assert_eq!(instance.state(), State::Backup);
        }
        // The window closes; we then preempt after Skew_Time.
        let window_end = t0 + Duration::from_secs(2);
        instance.handle_timeout(window_end);
        assert_eq!(
            instance.poll_timeout(),
            Some(window_end + instance.skew_time())
        );
        instance.handle_timeout(window_end + instance.skew_time());
        assert_eq!(instance.state(), State::Master);
    }

    /// keepalived 2.2.7 (`vrrp_state_backup`): the delay also starts when a backup first
    /// hears a lower priority master, and stops when it hears a master at least its equal;
    /// the corpus run saw keepalived stay BACKUP for `preempt_delay 30` after a higher peer
    /// dropped below it, vipd took over at once (its delay ran from start only).
    #[test]
    fn preempt_delay_starts_again_when_a_lower_master_is_first_heard() {
        let t0 = Instant::now();
        let mut p = v3(200);
        p.preempt_delay = Duration::from_secs(2);
        let mut instance = Instance::new(p);
        instance.start(t0);
        // A higher master is followed well past the start window.
        let mut now = t0;
        while now < t0 + Duration::from_secs(3) {
            now += 100 * MS;
            instance.handle_timeout(now);
            instance.handle_advert(now, &advert("192.0.2.2", 250, 100 * MS));
        }
        assert_eq!(instance.state(), State::Backup);
        // It drops below us: followed for preempt_delay from the first lower advert.
        let lowered = now;
        while now + 100 * MS < lowered + Duration::from_secs(2) {
            now += 100 * MS;
            instance.handle_timeout(now);
            instance.handle_advert(now, &advert("192.0.2.2", 100, 100 * MS));
            assert_eq!(instance.state(), State::Backup, "{:?}", now - lowered);
        }
        let window_end = lowered + 100 * MS + Duration::from_secs(2);
        instance.handle_timeout(window_end);
        instance.handle_timeout(window_end + instance.skew_time());
        assert_eq!(instance.state(), State::Master);
        // Yielding to a higher master and hearing it drop below: the delay again.
        let mut now = window_end + Duration::from_secs(1);
        instance.handle_advert(now, &advert("192.0.2.2", 250, 100 * MS));
        assert_eq!(instance.state(), State::Backup);
        now += 100 * MS;
        instance.handle_advert(now, &advert("192.0.2.2", 100, 100 * MS));
        let lowered = now;
        while now + 100 * MS < lowered + Duration::from_secs(2) {
            now += 100 * MS;
            instance.handle_timeout(now);
            instance.handle_advert(now, &advert("192.0.2.2", 100, 100 * MS));
            assert_eq!(instance.state(), State::Backup, "{:?}", now - lowered);
        }
        instance.handle_timeout(lowered + Duration::from_secs(2));
        instance.handle_timeout(lowered + Duration::from_secs(2) + instance.skew_time());
        assert_eq!(instance.state(), State::Master);
    }

    #[test]
    fn shutdown_of_a_master_sends_priority_zero_and_removes_vips() {
        let t0 = Instant::now();
        let (mut instance, became) = master(100, t0);
        instance.shutdown(became + MS);
        assert_eq!(
            drain(&mut instance),
            vec![
                Action::SendAdvert { priority: 0 },
                Action::RemoveVips,
                changed(State::Master, State::Initialize, Reason::Shutdown)
            ]
        );
        assert!(instance.is_stopped());
        assert_eq!(instance.poll_timeout(), None);
        instance.handle_advert(became + 2 * MS, &advert("192.0.2.2", 150, 100 * MS));
        assert!(drain(&mut instance).is_empty());
    }

    #[test]
    fn shutdown_of_a_backup_sends_nothing() {
        let t0 = Instant::now();
        let mut instance = backup_following(100, 150, t0);
        instance.shutdown(t0 + MS);
        assert_eq!(
            drain(&mut instance),
            vec![changed(State::Backup, State::Initialize, Reason::Shutdown)]
        );
        assert!(instance.is_stopped());
    }

    #[test]
    fn fault_from_master_leaves_and_ignores_adverts_until_cleared() {
        let t0 = Instant::now();
        let (mut instance, became) = master(100, t0);
        let now = became + MS;
        instance.set_fault(now, true);
        assert_eq!(
            drain(&mut instance),
            vec![
                Action::SendAdvert { priority: 0 },
                Action::RemoveVips,
                changed(State::Master, State::Fault, Reason::Fault)
            ]
        );
        assert_eq!(instance.poll_timeout(), None);
        instance.handle_advert(now + MS, &advert("192.0.2.2", 150, 100 * MS));
        instance.handle_timeout(now + Duration::from_secs(10));
        assert!(drain(&mut instance).is_empty());
        assert_eq!(instance.state(), State::Fault);

        let cleared = now + Duration::from_secs(10);
        instance.set_fault(cleared, false);
        assert_eq!(
            drain(&mut instance),
            vec![changed(State::Fault, State::Backup, Reason::FaultCleared)]
        );
        assert_eq!(
            instance.poll_timeout(),
            Some(cleared + instance.master_down_interval())
        );
    }

    #[test]
    fn owner_leaving_fault_becomes_master_at_once() {
        let t0 = Instant::now();
        let mut instance = Instance::new(v3(255));
        instance.set_fault(t0, true);
        instance.start(t0);
        assert_eq!(
            drain(&mut instance),
            vec![changed(State::Initialize, State::Fault, Reason::Fault)]
        );
        instance.set_fault(t0 + MS, false);
        assert_eq!(
            drain(&mut instance),
            becomes_master(255, State::Fault, Reason::FaultCleared)
        );
    }

    #[test]
    fn backup_entering_fault_sends_nothing() {
        let t0 = Instant::now();
        let mut instance = backup_following(100, 150, t0);
        instance.set_fault(t0 + MS, true);
        assert_eq!(
            drain(&mut instance),
            vec![changed(State::Backup, State::Fault, Reason::Fault)]
        );
        assert_eq!(instance.poll_timeout(), None);
    }

    #[test]
    fn master_advertises_a_changed_priority_at_once() {
        let t0 = Instant::now();
        let (mut instance, became) = master(150, t0);
        let now = became + 20 * MS;
        instance.set_effective_priority(now, 90);
        assert_eq!(
            drain(&mut instance),
            vec![Action::SendAdvert { priority: 90 }]
        );
        assert_eq!(instance.poll_timeout(), Some(now + 100 * MS));
        assert_eq!(instance.effective_priority(), 90);
        assert_eq!(instance.base_priority(), 150);
        // Unchanged priority: nothing to say.
        instance.set_effective_priority(now, 90);
        assert!(drain(&mut instance).is_empty());
        // Clamped to the backup range.
        instance.set_effective_priority(now, 255);
        assert_eq!(instance.effective_priority(), 254);
        instance.set_effective_priority(now, 0);
        assert_eq!(instance.effective_priority(), 1);
    }

    #[test]
    fn owner_priority_is_never_adjusted() {
        let t0 = Instant::now();
        let mut instance = started(v3(255), t0);
        instance.set_effective_priority(t0 + MS, 100);
        assert_eq!(instance.effective_priority(), 255);
        assert!(drain(&mut instance).is_empty());
    }

    #[test]
    fn garp_delay_and_refresh_announce_while_master() {
        let t0 = Instant::now();
        let mut p = v3(255);
        p.advert_interval = Duration::from_secs(10);
        p.garp_master_delay = Some(Duration::from_secs(5));
        p.garp_master_refresh = Some(Duration::from_secs(3));
        p.garp_master_repeat = 4;
        p.garp_master_refresh_repeat = 2;
        let mut instance = started(p, t0);
        let mut announced = Vec::new();
        for second in 1..=9 {
            let now = t0 + Duration::from_secs(second);
            instance.handle_timeout(now);
            for action in drain(&mut instance) {
                if let Action::Announce { repeat, cause } = action {
                    announced.push((second, repeat, cause));
                }
            }
        }
        use AnnounceCause::{MasterDelay, Refresh};
        assert_eq!(
            announced,
            vec![
                (3, 2, Refresh),
                (5, 4, MasterDelay),
                (6, 2, Refresh),
                (9, 2, Refresh)
            ]
        );

        // Leaving master stops both (an owner never yields: reload it to 200 first).
        let mut lower = instance.params().clone();
        lower.priority = 200;
        assert_eq!(
            instance.update_params(t0 + Duration::from_secs(9), lower),
            Reload::Applied
        );
        instance.handle_advert(
            t0 + Duration::from_secs(9),
            &advert("192.0.2.2", 255, 100 * MS),
        );
        assert_eq!(instance.state(), State::Backup);
        drain(&mut instance);
        // Only the master down timer is left.
        assert_eq!(
            instance.poll_timeout(),
            Some(t0 + Duration::from_secs(9) + instance.master_down_interval())
        );
    }

    #[test]
    fn fast_takeover_when_the_master_advertises_lower_priority() {
        let t0 = Instant::now();
        // Its last advert at 200 came at t0: the takeover waits until its next one (due at
        // t0 + 100 ms) is an interval overdue, then Skew_Time.
        let mut instance = backup_following(150, 200, t0);
        let now = t0 + 100 * MS;
        instance.handle_advert(now, &advert("192.0.2.9", 100, 100 * MS));
        let deadline = t0 + 200 * MS + instance.skew_time();
        assert_eq!(instance.poll_timeout(), Some(deadline));
        assert!(deadline < t0 + instance.master_down_interval());
        // A master first heard below us (none outranked us yet): after Skew_Time.
        let mut fresh = Instance::new(v3(150));
        fresh.start(t0);
        fresh.handle_advert(now, &advert("192.0.2.9", 100, 100 * MS));
        assert_eq!(fresh.poll_timeout(), Some(now + fresh.skew_time()));
        // More lower adverts do not push the takeover out.
        instance.handle_advert(deadline - MS, &advert("192.0.2.9", 100, 100 * MS));
        assert_eq!(instance.poll_timeout(), Some(deadline));
        instance.handle_timeout(deadline);
        let reason = Reason::PreemptLowerPriority {
            master: ip("192.0.2.9"),
            priority: 100,
        };
        assert_eq!(
            drain(&mut instance),
            becomes_master(150, State::Backup, reason)
        );
    }

    /// Found by the simulation (tests/simulation.rs): a backup with a fast takeover pending
    /// that then hears the leaving master's priority 0 must not wait longer. Its Skew_Time
    /// may be far longer than the remaining wait (its own interval, never having accepted
    /// the lower master's), and the leaving master's handover bound may pass meanwhile.
    #[test]
    fn priority_zero_never_postpones_a_takeover_already_due() {
        let t0 = Instant::now();
        let mut p = params(167, Version::V3, Duration::from_secs(1));
        p.primary_address = ip("192.0.2.2");
        let mut instance = Instance::new(p);
        instance.start(t0);
        // A lower master advertising every 10 ms: discarded, fast takeover after our skew.
        instance.handle_advert(t0 + MS, &advert("192.0.2.9", 46, 10 * MS));
        let due = t0 + MS + instance.skew_time();
        assert_eq!(instance.poll_timeout(), Some(due));
        // It hands over just before: its priority 0 leaves the earlier deadline alone.
        instance.handle_advert(due - MS, &advert("192.0.2.9", 0, 10 * MS));
        assert_eq!(instance.poll_timeout(), Some(due));
        instance.handle_timeout(due);
        assert_eq!(instance.state(), State::Master);
        // Without a pending takeover, priority 0 still arms Skew_Time as the RFC says.
        let mut follower = backup_following(100, 150, t0);
        follower.handle_advert(t0 + 5 * MS, &advert("192.0.2.9", 0, 100 * MS));
        assert_eq!(
            follower.poll_timeout(),
            Some(t0 + 5 * MS + follower.skew_time())
        );
    }

    /// Priority 0 adverts in the name of a master that still advertises (anyone on the
    /// segment can send them; the master never hears them to answer) must not make its
    /// backup take over between two of its adverts, as RFC 5798 6.4.2 has it (each one sets
    /// the timer to Skew_Time again; keepalived too). The first deadline was kept, and the
    /// backup took over once per interval. With the master gone they put the takeover off at
    /// most to a Master_Down_Interval after the first.
    #[test]
    fn a_flood_of_priority_zero_in_a_live_masters_name_moves_no_backup() {
        let t0 = Instant::now();
        let mut backup = backup_following(100, 150, t0);
        let skew = backup.skew_time();
        let mut master_left = None;
        // The master advertises every 100 ms; a forger sends priority 0 from its address
        // every 20 ms, starting 10 ms after each of its adverts.
        for ms in (10..3000u32).step_by(10) {
            let now = t0 + MS * ms;
            backup.handle_timeout(now);
            if ms % 100 == 0 && ms < 2000 {
                backup.handle_advert(now, &advert("192.0.2.9", 150, 100 * MS));
            }
            if ms % 20 == 10 {
                backup.handle_advert(now, &advert("192.0.2.9", 0, 100 * MS));
            }
            if backup.state() == State::Master {
                master_left = Some(ms);
                break;
            }
        }
        // The master went silent after 1,900 ms (its last advert); the flood goes on. The
        // first priority 0 after it came at 1,910 ms: taken over by then plus the
        // Master_Down_Interval, never before the master had gone.
        let last_first = Duration::from_millis(1910);
        let left = master_left.map(|ms| MS * ms);
        assert!(
            left.is_some_and(
                |at| at > last_first && at <= last_first + backup.master_down_interval() + 10 * MS
            ),
            "took over at {left:?} (skew {skew:?})"
        );
    }

    /// Found by the simulation: the bound of a planned handover outlasts the longest wait of
    /// a backup answering priority 0 (one skew unit: one second in v2, the backup's own
    /// interval in v3, at least ours) and the down timer of a backup that missed it.
    #[test]
    fn handover_bound_outlasts_every_backups_answer() {
        for (version, interval, bound) in [
            (
                Version::V3,
                10 * MS,
                40 * MS + Duration::from_secs(1) + HANDOVER_LINGER,
            ),
            (
                Version::V3,
                100 * MS,
                400 * MS + Duration::from_secs(1) + HANDOVER_LINGER,
            ),
            (
                Version::V3,
                Duration::from_secs(2),
                Duration::from_secs(10) + HANDOVER_LINGER,
            ),
            (
                Version::V2,
                Duration::from_secs(1),
                Duration::from_secs(5) + HANDOVER_LINGER,
            ),
        ] {
            let leaving = Instance::new(params(150, version, interval));
            assert_eq!(leaving.handover_bound(), bound, "{version:?} {interval:?}");
            // A priority 1 backup with the same interval: its answer and its down timer fit,
            // with one advert interval of delay on the way.
            let backup = Instance::new(params(1, version, interval));
            assert!(interval + backup.skew_time() + HANDOVER_LINGER <= bound - interval * 3);
            assert!(interval + backup.master_down_interval() < bound);
        }
    }

    /// Lower adverts in the name of a master that still advertises at its priority (anyone
    /// on the segment can send them; the master never hears them to answer) must not make
    /// its backup take over between two of its adverts: RFC 5798 6.4.2 and keepalived
    /// discard them. Taken after Skew_Time, the backup took over once per interval
    /// (`lab_hostile_masters_name`). Once the master is gone, its lower adverts (a priority
    /// that really dropped) still win an interval before Master_Down_Interval.
    #[test]
    fn lower_adverts_in_a_live_masters_name_move_no_backup() {
        for (priority, interval) in [(100, 100 * MS), (254, 100 * MS), (101, MS * 1000)] {
            let t0 = Instant::now();
            let mut backup = Instance::new(v3(priority));
            backup.start(t0);
            backup.handle_advert(t0, &advert("192.0.2.9", 254, interval));
            let master_down = backup.master_down_interval();
            // The master advertises at 254 every `interval`, 40 % late at times; a forger
            // sends priority 1 from its address every 10 ms.
            let mut next_real = t0 + interval;
            let mut left = None;
            let mut last_real = t0;
            let step = 10 * MS;
            let end = t0 + interval * 40;
            let mut now = t0;
            let mut n = 0u32;
            while now < end {
                now += step;
                backup.handle_timeout(now);
                if backup.state() == State::Master {
                    left = Some(now);
                    break;
                }
                let master_alive = now < t0 + interval * 20;
                if master_alive && now >= next_real {
                    backup.handle_advert(now, &advert("192.0.2.9", 254, interval));
                    last_real = now;
                    n += 1;
                    let late = if n % 3 == 0 {
                        interval * 2 / 5
                    } else {
                        Duration::ZERO
                    };
                    next_real = now + interval + late;
                }
                backup.handle_advert(now, &advert("192.0.2.9", 1, interval));
            }
            // Taken over only after the master went silent, and before its
            // Master_Down_Interval ran out.
            let left = left.expect("took over once the master was gone");
            assert!(
                left > t0 + interval * 20 && left > last_real + interval * 2,
                "{priority}/{interval:?}: took over at {:?}, master last heard at {:?}",
                left - t0,
                last_real - t0
            );
            assert!(
                left <= last_real + master_down - interval + step,
                "{priority}/{interval:?}: took over {:?} after the master's last advert",
                left - last_real
            );
        }
    }

    /// Adverts claiming 10 ms in the name of a master that advertises every 300 ms (anyone
    /// can send them; the master never hears them): each made the backup count
    /// Master_Down_Interval from 10 ms, and it took over between the master's adverts. A
    /// master that really speeds up is followed at its new interval once it keeps to it.
    #[test]
    fn a_shorter_interval_in_a_live_masters_name_moves_no_backup() {
        let t0 = Instant::now();
        let interval = 300 * MS;
        let mut backup = Instance::new(v3(100));
        backup.start(t0);
        for n in 0..20u32 {
            let real = t0 + interval * n;
            backup.handle_timeout(real);
            backup.handle_advert(real, &advert("192.0.2.9", 150, interval));
            // Forged right after, then every 50 ms until the next real one.
            for k in 0..6u32 {
                let now = real + MS + 50 * MS * k;
                backup.handle_timeout(now);
                assert_eq!(backup.state(), State::Backup, "advert {n}, forged {k}");
                backup.handle_advert(now, &advert("192.0.2.9", 150, 10 * MS));
            }
        }
        // The master speeds up to 10 ms for real and then falls silent: the backup takes
        // over at the 300 ms Master_Down_Interval after its last 300 ms advert (once), or
        // at the 10 ms one after its last advert when that is later.
        for adverts in [50u32, 200] {
            let mut backup = Instance::new(v3(100));
            backup.start(t0);
            backup.handle_advert(t0, &advert("192.0.2.9", 150, interval));
            let slow_deadline = t0 + backup.master_down_interval();
            for n in 1..=adverts {
                backup.handle_advert(t0 + MS * (10 * n), &advert("192.0.2.9", 150, 10 * MS));
            }
            let fast_deadline = t0 + MS * (10 * adverts) + backup.master_down_interval();
            assert_eq!(
                backup.poll_timeout(),
                Some(fast_deadline.max(slow_deadline)),
                "{adverts}"
            );
        }
    }

    #[test]
    fn fast_takeover_is_cancelled_when_the_master_recovers() {
        let t0 = Instant::now();
        let mut instance = backup_following(150, 200, t0);
        instance.handle_advert(t0 + 100 * MS, &advert("192.0.2.9", 100, 100 * MS));
        let now = t0 + 120 * MS;
        instance.handle_advert(now, &advert("192.0.2.9", 200, 100 * MS));
        assert_eq!(
            instance.poll_timeout(),
            Some(now + instance.master_down_interval())
        );
    }

    #[test]
    fn no_fast_takeover_without_preemption() {
        let t0 = Instant::now();
        let mut p = v3(150);
        p.preempt = false;
        let mut instance = Instance::new(p);
        instance.start(t0);
        let now = t0 + 100 * MS;
        instance.handle_advert(now, &advert("192.0.2.9", 100, 100 * MS));
        assert_eq!(
            instance.poll_timeout(),
            Some(now + instance.master_down_interval())
        );
    }

    #[test]
    fn backup_whose_priority_rises_above_the_master_takes_over_fast() {
        let t0 = Instant::now();
        let mut instance = backup_following(100, 150, t0);
        let now = t0 + 10 * MS;
        instance.set_effective_priority(now, 200);
        assert_eq!(instance.poll_timeout(), Some(now + instance.skew_time()));
        // And falling back below it restores the normal wait.
        instance.set_effective_priority(now + MS, 100);
        assert_eq!(
            instance.poll_timeout(),
            Some(now + MS + instance.master_down_interval())
        );
    }

    #[test]
    fn handover_keeps_vips_until_a_new_master_advertises() {
        let t0 = Instant::now();
        let (mut instance, became) = master(150, t0);
        // Master for a while: everyone knows it.
        let now = became + instance.master_down_interval() + 10 * MS;
        instance.begin_handover(now, Duration::from_secs(1));
        assert_eq!(
            drain(&mut instance),
            vec![Action::SendAdvert { priority: 0 }]
        );
        assert!(instance.is_handing_over());
        assert_eq!(instance.state(), State::Master);
        // No periodic adverts while waiting; another leaving router changes nothing.
        instance.handle_timeout(now + 500 * MS);
        instance.handle_advert(now + 500 * MS, &advert("192.0.2.2", 0, 100 * MS));
        assert!(drain(&mut instance).is_empty());
        // The backup takes over; the VIPs stay, quiet, for the linger time, then go.
        instance.handle_advert(now + 600 * MS, &advert("192.0.2.2", 100, 100 * MS));
        assert_eq!(drain(&mut instance), vec![Action::QuietVips]);
        assert!(instance.is_handing_over());
        instance.handle_timeout(now + 600 * MS + HANDOVER_LINGER - MS);
        assert!(drain(&mut instance).is_empty());
        instance.handle_timeout(now + 600 * MS + HANDOVER_LINGER);
        assert_eq!(
            drain(&mut instance),
            leaves_master(
                State::Initialize,
                Reason::HandoverComplete {
                    new_master: ip("192.0.2.2")
                }
            )
        );
        assert!(instance.is_stopped());
        assert!(!instance.is_handing_over());
        assert_eq!(instance.poll_timeout(), None);
    }

    /// Found by the simulation: a master that took over moments ago hands over while the
    /// router it preempted still advertises (our takeover advert has not reached it yet).
    /// That advert is no sign of a new master: the rival yields to our advert in flight and
    /// only answers our priority 0 after its Skew_Time. The VIPs stay until then.
    #[test]
    fn handover_right_after_a_takeover_keeps_vips_for_every_backups_skew() {
        let t0 = Instant::now();
        let (mut instance, became) = master(150, t0);
        let now = became + 10 * MS;
        instance.begin_handover(now, instance.handover_bound());
        drain(&mut instance);
        // The old master's advert, sent before it heard us.
        instance.handle_advert(now + 5 * MS, &advert("192.0.2.2", 100, 100 * MS));
        // No advert is trusted: the whole bound.
        let hold = now + instance.handover_bound();
        assert_eq!(instance.poll_timeout(), Some(hold));
        instance.handle_timeout(hold - MS);
        assert!(drain(&mut instance).is_empty());
        assert!(instance.is_handing_over());
        instance.handle_timeout(hold);
        assert_eq!(drain(&mut instance)[0], Action::RemoveVips);

        // The same after answering a rival master (split brain just healing).
        let (mut instance, became) = master(150, t0);
        let settled = became + instance.master_down_interval() + 10 * MS;
        instance.handle_advert(settled, &advert("192.0.2.2", 100, 100 * MS));
        drain(&mut instance);
        let now = settled + 20 * MS;
        instance.begin_handover(now, instance.handover_bound());
        instance.handle_advert(now + 5 * MS, &advert("192.0.2.2", 100, 100 * MS));
        assert_eq!(
            instance.poll_timeout(),
            Some(now + instance.handover_bound())
        );
    }

    /// Found by the simulation: a backup that missed our adverts takes over on its own just
    /// as we hand over, and yields again to our last regular advert arriving after its own.
    /// Its advert comes sooner than any answer to our priority 0 can (its Skew_Time), so it
    /// does not end the handover; its real answer, a skew time later, does.
    #[test]
    fn handover_ignores_an_advert_too_early_to_answer_its_priority_zero() {
        let t0 = Instant::now();
        let (mut instance, became) = master(150, t0);
        let now = became + instance.master_down_interval() + 10 * MS;
        instance.begin_handover(now, instance.handover_bound());
        drain(&mut instance);
        let bound = now + instance.handover_bound();
        // Priority 1 at 100 ms: no answer before 255/256 x 100 ms.
        instance.handle_advert(now + MS, &advert("192.0.2.2", 1, 100 * MS));
        assert_eq!(instance.poll_timeout(), Some(bound));
        let answer = now + 100 * MS;
        instance.handle_advert(answer, &advert("192.0.2.2", 1, 100 * MS));
        assert_eq!(instance.poll_timeout(), Some(answer + HANDOVER_LINGER));
    }

    #[test]
    fn handover_gives_up_after_the_bound() {
        let t0 = Instant::now();
        let (mut instance, became) = master(150, t0);
        instance.begin_handover(became, Duration::from_secs(1));
        drain(&mut instance);
        assert_eq!(
            instance.poll_timeout(),
            Some(became + Duration::from_secs(1))
        );
        instance.handle_timeout(became + Duration::from_secs(1));
        assert_eq!(
            drain(&mut instance),
            leaves_master(State::Initialize, Reason::HandoverTimedOut)
        );
        assert!(instance.is_stopped());
    }

    #[test]
    fn handover_of_a_backup_stops_at_once() {
        let t0 = Instant::now();
        let mut instance = backup_following(100, 150, t0);
        instance.begin_handover(t0 + MS, Duration::from_secs(1));
        assert_eq!(
            drain(&mut instance),
            vec![changed(State::Backup, State::Initialize, Reason::Shutdown)]
        );
        assert!(instance.is_stopped());
    }

    #[test]
    fn reload_keeps_state_and_restart_is_required_for_a_new_identity() {
        let t0 = Instant::now();
        let (mut instance, became) = master(150, t0);
        let now = became + 10 * MS;

        let mut p = instance.params().clone();
        p.advert_interval = 50 * MS;
        p.garp_master_delay = None;
        assert_eq!(instance.update_params(now, p.clone()), Reload::Applied);
        assert_eq!(instance.state(), State::Master);
        assert_eq!(instance.poll_timeout(), Some(now + 50 * MS));
        assert!(drain(&mut instance).is_empty());

        p.priority = 120;
        assert_eq!(instance.update_params(now, p.clone()), Reload::Applied);
        assert_eq!(
            drain(&mut instance),
            vec![Action::SendAdvert { priority: 120 }]
        );

        p.vrid = 52;
        assert_eq!(instance.update_params(now, p), Reload::RestartRequired);
        assert_eq!(instance.params().vrid, 51);
        assert_eq!(instance.state(), State::Master);
    }

    #[test]
    fn own_adverts_and_unstarted_instances_are_ignored() {
        let t0 = Instant::now();
        let mut instance = Instance::new(v3(100));
        instance.handle_advert(t0, &advert("192.0.2.2", 150, 100 * MS));
        instance.handle_timeout(t0 + Duration::from_secs(5));
        assert!(drain(&mut instance).is_empty());
        assert_eq!(instance.state(), State::Initialize);

        let (mut instance, became) = master(100, t0);
        instance.handle_advert(became, &advert("192.0.2.1", 200, 100 * MS));
        assert_eq!(instance.state(), State::Master);
    }

    #[test]
    fn out_of_range_params_cannot_spin_timers() {
        let t0 = Instant::now();
        let mut p = params(0, Version::V3, Duration::ZERO);
        p.garp_master_refresh = Some(Duration::ZERO);
        let mut instance = Instance::new(p);
        assert_eq!(instance.base_priority(), 1);
        assert_eq!(instance.advert_interval(), MIN_ADVERT_INTERVAL);
        instance.start(t0);
        instance.handle_timeout(t0 + Duration::from_secs(1));
        assert_eq!(instance.state(), State::Master);
        assert!(instance.poll_timeout().unwrap() > t0 + Duration::from_secs(1));
    }

    #[test]
    fn huge_durations_do_not_overflow_the_clock() {
        let t0 = Instant::now();
        let (mut instance, became) = master(150, t0);
        instance.begin_handover(became, Duration::MAX);
        assert!(instance.poll_timeout().unwrap() > became + Duration::from_secs(3600));
        let mut p = v3(100);
        p.preempt_delay = Duration::MAX;
        p.garp_master_delay = Some(Duration::MAX);
        let mut instance = Instance::new(p);
        instance.start(t0);
        assert_eq!(instance.state(), State::Backup);
    }

    #[test]
    fn reload_turning_preemption_on_preempts_a_lower_master() {
        let t0 = Instant::now();
        let mut p = v3(200);
        p.preempt = false;
        let mut instance = Instance::new(p.clone());
        instance.start(t0);
        instance.handle_advert(t0, &advert("192.0.2.9", 100, 100 * MS));
        let now = t0 + 50 * MS;
        p.preempt = true;
        assert_eq!(instance.update_params(now, p.clone()), Reload::Applied);
        assert_eq!(instance.poll_timeout(), Some(now + instance.skew_time()));
        // and off again: back to the full wait
        p.preempt = false;
        assert_eq!(instance.update_params(now, p), Reload::Applied);
        assert_eq!(
            instance.poll_timeout(),
            Some(now + instance.master_down_interval())
        );
    }

    // ---- maintenance drain ----

    const BOUND: Duration = Duration::from_secs(1);

    #[test]
    fn draining_a_master_hands_over_and_stays_a_backup() {
        let t0 = Instant::now();
        let (mut instance, became) = master(150, t0);
        // Master for a while: everyone knows it (see handover_right_after_a_takeover_...).
        let now = became + Duration::from_secs(1);
        instance.drain(now, DrainMode::Soft, BOUND);
        assert_eq!(
            drain(&mut instance),
            vec![Action::SendAdvert { priority: 0 }]
        );
        assert!(instance.is_handing_over());
        assert_eq!(instance.state(), State::Master);
        assert_eq!(instance.advertised_priority(), PRIORITY_DRAINED);
        assert_eq!(instance.effective_priority(), 150);
        // VIPs stay until the new master is heard, plus the linger.
        instance.handle_advert(now + 70 * MS, &advert("192.0.2.2", 100, 100 * MS));
        assert_eq!(drain(&mut instance), vec![Action::QuietVips]);
        let done = now + 70 * MS + HANDOVER_LINGER;
        instance.handle_timeout(done);
        assert_eq!(
            drain(&mut instance),
            leaves_master(
                State::Backup,
                Reason::Drained {
                    new_master: ip("192.0.2.2")
                }
            )
        );
        assert!(!instance.is_stopped());
        assert!(!instance.is_handing_over());
        assert_eq!(instance.master_address(), Some(ip("192.0.2.2")));
        assert_eq!(instance.drain_mode(), Some(DrainMode::Soft));
        assert_eq!(
            instance.last_handover_duration(),
            Some(70 * MS + HANDOVER_LINGER)
        );
        // The down timer runs from the new master's advert, as for any backup.
        assert_eq!(
            instance.poll_timeout(),
            Some(now + 70 * MS + instance.master_down_interval())
        );
    }

    #[test]
    fn a_drained_backup_never_preempts_a_lower_master() {
        let t0 = Instant::now();
        let mut instance = Instance::new(v3(200));
        instance.start(t0);
        instance.handle_advert(t0, &advert("192.0.2.9", 100, 100 * MS));
        // Not drained yet: a fast takeover is under way.
        assert_eq!(instance.poll_timeout(), Some(t0 + instance.skew_time()));
        instance.drain(t0 + MS, DrainMode::Soft, BOUND);
        assert_eq!(
            instance.poll_timeout(),
            Some(t0 + MS + instance.master_down_interval())
        );
        for step in 1..=30 {
            let now = t0 + step * 100 * MS;
            instance.handle_timeout(now);
            instance.handle_advert(now, &advert("192.0.2.9", 100, 100 * MS));
        }
        assert_eq!(instance.state(), State::Backup);
        assert!(drain(&mut instance)
            .iter()
            .all(|a| !matches!(a, Action::SendAdvert { .. } | Action::AddVips)));
    }

    #[test]
    fn a_drained_backup_is_the_last_to_answer_a_leaving_master() {
        let t0 = Instant::now();
        let mut drained = backup_following(150, 200, t0);
        let plain = backup_following(100, 200, t0);
        drained.drain(t0, DrainMode::Soft, BOUND);
        // Priority 1: the longest skew any live router has.
        assert_eq!(drained.skew_time(), 100 * MS * 255 / 256);
        assert!(drained.skew_time() > plain.skew_time());
        // A priority 0 already heard is re-timed with the longer skew.
        let mut racing = backup_following(150, 200, t0);
        racing.handle_advert(t0 + MS, &advert("192.0.2.9", 0, 100 * MS));
        racing.drain(t0 + 2 * MS, DrainMode::Soft, BOUND);
        assert_eq!(
            racing.poll_timeout(),
            Some(t0 + 2 * MS + racing.skew_time())
        );
    }

    #[test]
    fn a_soft_drained_backup_takes_over_when_no_other_router_is_left() {
        let t0 = Instant::now();
        let mut instance = drained_backup(DrainMode::Soft, t0);
        let due = instance.poll_timeout().unwrap();
        instance.handle_timeout(due);
        assert_eq!(
            drain(&mut instance),
            becomes_master(PRIORITY_DRAINED, State::Backup, Reason::DrainedLastRouter)
        );
        // Periodic adverts keep the drained priority.
        instance.handle_timeout(due + 100 * MS);
        assert_eq!(
            drain(&mut instance),
            vec![Action::SendAdvert {
                priority: PRIORITY_DRAINED
            }]
        );
    }

    #[test]
    fn a_hard_drained_backup_never_becomes_master() {
        let t0 = Instant::now();
        let mut instance = backup_following(150, 200, t0);
        instance.drain(t0, DrainMode::Hard, BOUND);
        let due = instance.poll_timeout().unwrap();
        instance.handle_timeout(due);
        instance.handle_timeout(due + Duration::from_secs(60));
        assert!(drain(&mut instance).is_empty());
        assert_eq!(instance.state(), State::Backup);
        assert_eq!(instance.master_address(), None);
        assert_eq!(instance.poll_timeout(), None);
        // Resume: nobody is master, so we take over after the down interval.
        let now = due + Duration::from_secs(60);
        instance.resume(now);
        let due = instance.poll_timeout().unwrap();
        assert_eq!(due, now + instance.master_down_interval());
        instance.handle_timeout(due);
        assert_eq!(instance.state(), State::Master);
        assert_eq!(instance.advertised_priority(), 150);
    }

    #[test]
    fn a_hard_drained_master_with_nobody_to_take_over_releases_the_vips() {
        let t0 = Instant::now();
        let (mut instance, became) = master(150, t0);
        instance.drain(became, DrainMode::Hard, BOUND);
        assert_eq!(
            drain(&mut instance),
            vec![Action::SendAdvert { priority: 0 }]
        );
        instance.handle_timeout(became + BOUND);
        assert_eq!(
            drain(&mut instance),
            leaves_master(State::Backup, Reason::DrainedNobodyTookOver)
        );
        instance.handle_timeout(became + Duration::from_secs(60));
        assert_eq!(instance.state(), State::Backup);
        assert!(drain(&mut instance).is_empty());
    }

    #[test]
    fn a_soft_drained_master_alone_keeps_serving_and_offers_the_role_again() {
        let t0 = Instant::now();
        let (mut instance, became) = drained_master(DrainMode::Soft, t0);
        // Nobody answers: still master, advertising priority 1 again.
        let back = became + BOUND;
        instance.handle_timeout(back);
        assert_eq!(
            drain(&mut instance),
            vec![Action::SendAdvert {
                priority: PRIORITY_DRAINED
            }]
        );
        assert_eq!(instance.state(), State::Master);
        assert!(!instance.is_handing_over());
        // The probe: every 10 adverts (at least 1 s) a priority 0 offers the role.
        let probe = back + DRAIN_PROBE_MIN;
        let mut sent = Vec::new();
        let mut now = back;
        while now < probe {
            now = instance.poll_timeout().unwrap();
            instance.handle_timeout(now);
            sent.extend(drain(&mut instance));
        }
        assert_eq!(sent.last(), Some(&Action::SendAdvert { priority: 0 }));
        assert!(instance.is_handing_over());
        // A backup without preemption answers it; we end as a backup.
        instance.handle_advert(now + 70 * MS, &advert("192.0.2.2", 100, 100 * MS));
        assert_eq!(drain(&mut instance), vec![Action::QuietVips]);
        instance.handle_timeout(now + 70 * MS + HANDOVER_LINGER);
        assert_eq!(
            drain(&mut instance),
            leaves_master(
                State::Backup,
                Reason::Drained {
                    new_master: ip("192.0.2.2")
                }
            )
        );
    }

    #[test]
    fn a_drained_master_yields_to_any_live_router() {
        let t0 = Instant::now();
        let (mut instance, due) = drained_backup_at_its_timer(t0);
        instance.handle_advert(due + MS, &advert("192.0.2.9", 2, 100 * MS));
        let mut expected = vec![Action::SendAdvert {
            priority: PRIORITY_DRAINED,
        }];
        expected.extend(leaves_master(
            State::Backup,
            Reason::HigherPriorityAdvert {
                from: ip("192.0.2.9"),
                priority: 2,
            },
        ));
        assert_eq!(drain(&mut instance), expected);
    }

    #[test]
    fn resume_lets_a_drained_backup_preempt_again() {
        let t0 = Instant::now();
        let mut instance = backup_following(150, 100, t0);
        instance.drain(t0, DrainMode::Soft, BOUND);
        instance.handle_advert(t0 + 100 * MS, &advert("192.0.2.9", 100, 100 * MS));
        let now = t0 + 150 * MS;
        instance.resume(now);
        assert_eq!(instance.drain_mode(), None);
        assert_eq!(instance.poll_timeout(), Some(now + instance.skew_time()));
        instance.handle_timeout(now + instance.skew_time());
        assert_eq!(
            drain(&mut instance),
            becomes_master(
                150,
                State::Backup,
                Reason::PreemptLowerPriority {
                    master: ip("192.0.2.9"),
                    priority: 100
                }
            )
        );
    }

    #[test]
    fn a_drained_master_follows_the_new_master_at_its_advert_interval() {
        // Found by tests/simulation.rs: a drained master (100 ms adverts) handing over to a
        // router advertising every second kept its own interval for the down timer, took
        // the role back 0.4 s later as "last router" and made the new master yield.
        let t0 = Instant::now();
        let (mut instance, became) = master(150, t0);
        let now = became + Duration::from_secs(1);
        instance.drain(now, DrainMode::Soft, BOUND);
        drain(&mut instance);
        let answer = now + 70 * MS;
        instance.handle_advert(answer, &advert("192.0.2.2", 100, Duration::from_secs(1)));
        let done = answer + HANDOVER_LINGER;
        instance.handle_timeout(done);
        assert_eq!(instance.state(), State::Backup);
        assert_eq!(instance.master_advert_interval(), Duration::from_secs(1));
        let due = instance.poll_timeout().unwrap();
        assert!(due > answer + Duration::from_secs(3), "{:?}", due - answer);
        // The new master's next advert comes a second later and finds us following it.
        let next = answer + Duration::from_secs(1);
        instance.handle_timeout(next);
        instance.handle_advert(next, &advert("192.0.2.2", 100, Duration::from_secs(1)));
        assert_eq!(instance.state(), State::Backup);
    }

    #[test]
    fn a_drained_master_keeps_serving_when_the_router_that_answered_leaves_again() {
        // Found by tests/simulation.rs: the router that answered a drain's priority 0 was
        // drained or stopped itself before the drain's handover ended. Its priority 0 was
        // ignored, the drained router ended as a backup following a router that was gone,
        // and the VIPs went unserved until its down timer ran out.
        let t0 = Instant::now();
        for mode in [DrainMode::Soft, DrainMode::Hard] {
            let (mut instance, became) = master(150, t0);
            // Long after the takeover: the answer would end the handover after the linger.
            let now = became + Duration::from_secs(1);
            instance.drain(now, mode, BOUND);
            drain(&mut instance);
            instance.handle_advert(now + 20 * MS, &advert("192.0.2.2", 100, 100 * MS));
            instance.handle_advert(now + 30 * MS, &advert("192.0.2.2", 0, 100 * MS));
            // Back to waiting for the whole bound: a router that missed our priority 0 may
            // still take over by its down timer.
            instance.handle_timeout(now + 20 * MS + HANDOVER_LINGER);
            assert!(drain(&mut instance).is_empty());
            assert!(instance.is_handing_over());
            assert_eq!(instance.poll_timeout(), Some(now + BOUND));
            instance.handle_timeout(now + BOUND);
            let actions = drain(&mut instance);
            match mode {
                // Nobody else is there: keep serving, advertising the drained priority.
                DrainMode::Soft => {
                    assert_eq!(
                        actions,
                        vec![Action::SendAdvert {
                            priority: PRIORITY_DRAINED
                        }]
                    );
                    assert_eq!(instance.state(), State::Master);
                }
                // Never master: the VIPs go, as when nobody answered.
                DrainMode::Hard => assert_eq!(
                    actions,
                    leaves_master(State::Backup, Reason::DrainedNobodyTookOver)
                ),
            }
        }
    }

    #[test]
    fn a_drain_ends_with_the_down_timer_counted_from_the_new_masters_last_advert() {
        // Found by tests/simulation.rs: right after a takeover a drained master keeps its
        // VIPs for the whole bound. The router that answered was stopped meanwhile and its
        // priority 0 lost; the down timer started only when the drain's handover ended, so
        // the VIPs went unserved between the end of that router's handover and ours.
        let t0 = Instant::now();
        let (mut instance, became) = drained_master(DrainMode::Soft, t0);
        let last = became + 200 * MS;
        instance.handle_advert(became + 100 * MS, &advert("192.0.2.2", 100, 100 * MS));
        instance.handle_advert(last, &advert("192.0.2.2", 100, 100 * MS));
        assert_eq!(drain(&mut instance), vec![Action::QuietVips]);
        // Its adverts stopped a whole down interval ago: it has not taken over, and we,
        // soft-drained and the last router, keep serving, and announce: it had announced.
        assert!(became + BOUND > last + instance.master_down_interval());
        instance.handle_timeout(became + BOUND);
        assert_eq!(
            drain(&mut instance),
            vec![
                Action::UnquietVips,
                Action::SendAdvert {
                    priority: PRIORITY_DRAINED
                },
                Action::Announce {
                    repeat: 5,
                    cause: AnnounceCause::BecameMaster
                }
            ]
        );
        assert_eq!(instance.state(), State::Master);
        // Had it advertised until shortly before, we follow it, counting from that advert.
        let (mut instance, became) = drained_master(DrainMode::Soft, t0);
        let last = became + BOUND - 300 * MS;
        instance.handle_advert(became + 100 * MS, &advert("192.0.2.2", 100, 100 * MS));
        instance.handle_advert(last, &advert("192.0.2.2", 100, 100 * MS));
        instance.handle_timeout(became + BOUND);
        assert_eq!(instance.state(), State::Backup);
        assert_eq!(
            instance.poll_timeout(),
            Some(last + instance.master_down_interval())
        );
    }

    #[test]
    fn a_backup_resumed_after_a_drained_masters_offer_answers_it() {
        // Found by tests/simulation.rs: drained, we let a drained master's priority 0 pass
        // (its offer, or its fault); resumed, we are what the offer is for, and answer after
        // our own skew rather than wait out the probe.
        let t0 = Instant::now();
        let mut instance = Instance::new(InstanceParams {
            preempt: false,
            ..v3(200)
        });
        instance.drain(t0, DrainMode::Soft, BOUND);
        instance.start(t0);
        instance.handle_advert(t0, &advert("192.0.2.9", PRIORITY_DRAINED, 100 * MS));
        instance.handle_advert(t0 + 10 * MS, &advert("192.0.2.9", 0, 100 * MS));
        drain(&mut instance);
        let now = t0 + 20 * MS;
        instance.resume(now);
        assert_eq!(instance.poll_timeout(), Some(now + instance.skew_time()));
        instance.handle_timeout(now + instance.skew_time());
        assert_eq!(
            drain(&mut instance),
            becomes_master(
                200,
                State::Backup,
                Reason::PriorityZeroAdvert {
                    from: ip("192.0.2.9")
                }
            )
        );
    }

    /// Two routers on a lossless segment without delay, advertising every 100 ms, both
    /// soft-drained, the second started `offset` later; returns who became master, in order.
    fn two_drained_routers(offset: Duration, run: Duration) -> Vec<usize> {
        let t0 = Instant::now();
        let mut routers = [
            Instance::new(v3(150)),
            Instance::new(InstanceParams {
                primary_address: ip("192.0.2.2"),
                ..v3(100)
            }),
        ];
        for router in &mut routers {
            router.drain(t0, DrainMode::Soft, BOUND);
        }
        routers[0].start(t0);
        let mut started = false;
        let mut masters = Vec::new();
        let mut now = t0;
        while now < t0 + run {
            if !started && now >= t0 + offset {
                routers[1].start(now);
                started = true;
            }
            for router in &mut routers {
                router.handle_timeout(now);
            }
            // Deliver until nobody has anything more to say at this instant.
            let mut busy = true;
            while busy {
                busy = false;
                for r in 0..2 {
                    while let Some(action) = routers[r].poll_action() {
                        busy = true;
                        match action {
                            Action::SendAdvert { priority } => {
                                let source = routers[r].params().primary_address;
                                routers[1 - r].handle_advert(
                                    now,
                                    &ReceivedAdvert {
                                        source,
                                        priority,
                                        advert_interval: 100 * MS,
                                    },
                                );
                            }
                            Action::StateChanged {
                                to: State::Master, ..
                            } => masters.push(r),
                            _ => {}
                        }
                    }
                }
            }
            let next = routers.iter().filter_map(Instance::poll_timeout).min();
            now = match next {
                Some(next) if !started => next.min(t0 + offset),
                Some(next) => next,
                None => t0 + offset,
            };
        }
        masters
    }

    #[test]
    fn two_soft_drained_routers_do_not_pass_the_role_back_and_forth() {
        // Found by tests/simulation.rs: each drained master's probe (a priority 0 every ten
        // adverts) was answered by the other drained router, so the role moved between them
        // every second or so. The first to take over keeps it.
        assert_eq!(
            two_drained_routers(50 * MS, Duration::from_secs(10)),
            vec![0]
        );
    }

    #[test]
    fn a_drained_backup_still_takes_over_from_a_drained_master_that_leaves() {
        let t0 = Instant::now();
        // Following a drained master (priority 1), which then stops with a planned handover.
        let mut instance = backup_following(150, PRIORITY_DRAINED, t0);
        instance.drain(t0, DrainMode::Soft, BOUND);
        let leaving = Instance::new(v3(150));
        let leaving_bound = leaving.handover_bound();
        let p0 = t0 + 50 * MS;
        instance.handle_advert(p0, &advert("192.0.2.9", 0, 100 * MS));
        // Not before a probe would have ended (three adverts and 100 ms) ...
        let due = instance.poll_timeout().unwrap();
        assert!(due > p0 + 400 * MS, "{:?}", due - p0);
        // ... but well before the leaving master gives its VIPs up.
        assert!(due + 100 * MS < p0 + leaving_bound, "{:?}", due - p0);
        instance.handle_timeout(due);
        assert_eq!(
            drain(&mut instance),
            becomes_master(PRIORITY_DRAINED, State::Backup, Reason::DrainedLastRouter)
        );
    }

    #[test]
    fn resume_of_a_drained_master_advertises_its_real_priority() {
        let t0 = Instant::now();
        let (mut instance, due) = drained_backup_at_its_timer(t0);
        instance.resume(due + MS);
        assert_eq!(
            drain(&mut instance),
            vec![Action::SendAdvert { priority: 150 }]
        );
        // No more probes once resumed.
        let mut now = due + MS;
        while now < due + Duration::from_secs(5) {
            now = instance.poll_timeout().unwrap();
            instance.handle_timeout(now);
            assert!(!drain(&mut instance).contains(&Action::SendAdvert { priority: 0 }));
        }
        assert!(!instance.is_handing_over());
    }

    #[test]
    fn resume_during_a_drain_handover_keeps_the_role() {
        let t0 = Instant::now();
        let (mut instance, became) = drained_master(DrainMode::Soft, t0);
        instance.resume(became + 20 * MS);
        assert_eq!(
            drain(&mut instance),
            vec![Action::SendAdvert { priority: 150 }]
        );
        assert!(!instance.is_handing_over());
        assert_eq!(instance.state(), State::Master);
    }

    #[test]
    fn the_drains_answerer_leaving_again_unquiets_and_announces_at_once() {
        // The router that answered the drain leaves with priority 0 before the bound ends:
        // the VIPs must not stay quiet (a VMAC down, ARP ignored) until the bound.
        let t0 = Instant::now();
        let (mut instance, became) = drained_master(DrainMode::Soft, t0);
        instance.handle_advert(became + 70 * MS, &advert("192.0.2.2", 100, 100 * MS));
        assert_eq!(drain(&mut instance), vec![Action::QuietVips]);
        instance.handle_advert(became + 90 * MS, &advert("192.0.2.2", 0, 100 * MS));
        assert_eq!(
            drain(&mut instance),
            vec![
                Action::UnquietVips,
                Action::Announce {
                    repeat: 5,
                    cause: AnnounceCause::BecameMaster
                }
            ]
        );
        assert!(!instance.is_quiet() && instance.is_handing_over());
        // A later answer quiets them again.
        instance.handle_advert(became + 400 * MS, &advert("192.0.2.3", 100, 100 * MS));
        assert_eq!(drain(&mut instance), vec![Action::QuietVips]);
    }

    #[test]
    fn resume_after_the_drain_handover_was_answered_announces_again() {
        // The router that answered announced the VIPs and lets go silently when it hears our
        // real priority (keepalived's default): clients follow it until we announce.
        let t0 = Instant::now();
        let (mut instance, became) = drained_master(DrainMode::Soft, t0);
        instance.handle_advert(became + 70 * MS, &advert("192.0.2.2", 100, 100 * MS));
        assert_eq!(drain(&mut instance), vec![Action::QuietVips]);
        assert!(instance.is_quiet());
        instance.resume(became + 90 * MS);
        assert_eq!(
            drain(&mut instance),
            vec![
                Action::UnquietVips,
                Action::SendAdvert { priority: 150 },
                Action::Announce {
                    repeat: 5,
                    cause: AnnounceCause::BecameMaster
                }
            ]
        );
        assert!(!instance.is_quiet() && !instance.is_handing_over());
        // The second burst follows, as after becoming master.
        let second = became + 90 * MS + Duration::from_secs(5);
        let mut later_actions = Vec::new();
        while let Some(at) = instance.poll_timeout().filter(|at| *at <= second) {
            instance.handle_timeout(at);
            later_actions.extend(drain(&mut instance));
        }
        assert!(later_actions.contains(&Action::Announce {
            repeat: 5,
            cause: AnnounceCause::MasterDelay
        }));
    }

    #[test]
    fn priority_changes_while_drained_are_kept_but_not_advertised() {
        let t0 = Instant::now();
        let (mut instance, due) = drained_backup_at_its_timer(t0);
        instance.set_effective_priority(due + MS, 120);
        assert!(drain(&mut instance).is_empty());
        assert_eq!(instance.effective_priority(), 120);
        assert_eq!(instance.advertised_priority(), PRIORITY_DRAINED);
        instance.resume(due + 2 * MS);
        assert_eq!(
            drain(&mut instance),
            vec![Action::SendAdvert { priority: 120 }]
        );
    }

    #[test]
    fn a_stop_during_a_drain_handover_ends_stopped() {
        let t0 = Instant::now();
        let (mut instance, settled) = master(150, t0);
        let settled = settled + Duration::from_secs(1);
        instance.drain(settled, DrainMode::Soft, BOUND);
        drain(&mut instance);
        instance.begin_handover(settled + MS, BOUND);
        assert!(drain(&mut instance).is_empty());
        instance.handle_advert(settled + 70 * MS, &advert("192.0.2.2", 100, 100 * MS));
        assert_eq!(drain(&mut instance), vec![Action::QuietVips]);
        instance.handle_timeout(settled + 70 * MS + HANDOVER_LINGER);
        assert_eq!(
            drain(&mut instance),
            leaves_master(
                State::Initialize,
                Reason::HandoverComplete {
                    new_master: ip("192.0.2.2")
                }
            )
        );
        assert!(instance.is_stopped());
    }

    #[test]
    fn a_fault_during_a_drain_handover_ends_in_fault() {
        let t0 = Instant::now();
        let (mut instance, became) = drained_master(DrainMode::Soft, t0);
        instance.set_fault(became + MS, true);
        assert_eq!(
            drain(&mut instance),
            vec![
                Action::SendAdvert { priority: 0 },
                Action::RemoveVips,
                changed(State::Master, State::Fault, Reason::Fault)
            ]
        );
        assert!(!instance.is_stopped());
        assert!(!instance.is_handing_over());
        assert_eq!(instance.poll_timeout(), None);
    }

    #[test]
    fn a_drain_set_before_start_holds_even_for_the_address_owner() {
        let t0 = Instant::now();
        let mut instance = Instance::new(v3(255));
        instance.drain(t0, DrainMode::Hard, BOUND);
        instance.start(t0);
        assert_eq!(
            drain(&mut instance),
            vec![changed(State::Initialize, State::Backup, Reason::Startup)]
        );
        // A reload keeping 255 does not make it master either.
        let mut p = instance.params().clone();
        p.priority = 254;
        assert_eq!(instance.update_params(t0 + MS, p.clone()), Reload::Applied);
        p.priority = 255;
        assert_eq!(instance.update_params(t0 + 2 * MS, p), Reload::Applied);
        assert_eq!(instance.state(), State::Backup);
        assert!(drain(&mut instance).is_empty());
    }

    #[test]
    fn switching_a_hard_drain_to_soft_takes_the_role_when_nobody_holds_it() {
        let t0 = Instant::now();
        let mut instance = backup_following(150, 200, t0);
        instance.drain(t0, DrainMode::Hard, BOUND);
        let due = instance.poll_timeout().unwrap();
        instance.handle_timeout(due);
        assert_eq!(instance.poll_timeout(), None);
        instance.drain(due + MS, DrainMode::Soft, BOUND);
        let again = instance.poll_timeout().unwrap();
        assert_eq!(again, due + MS + instance.master_down_interval());
        instance.handle_timeout(again);
        assert_eq!(instance.state(), State::Master);
    }

    #[test]
    fn reason_codes_are_stable_labels() {
        let codes = [
            Reason::Drained {
                new_master: ip("192.0.2.2"),
            }
            .code(),
            Reason::DrainedLastRouter.code(),
            Reason::PriorityZeroAdvert {
                from: ip("192.0.2.2"),
            }
            .code(),
        ];
        assert_eq!(
            codes,
            ["drained", "drained_last_router", "priority_zero_advert"]
        );
        assert!(codes
            .iter()
            .all(|c| c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')));
    }

    /// xorshift64*: deterministic, no dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn priority(&mut self) -> u8 {
            // Edges more often than uniform: 0, 1, 254, 255.
            match self.below(6) {
                0 => 0,
                1 => 255,
                2 => 254,
                3 => 1,
                _ => self.next() as u8,
            }
        }
        fn duration(&mut self) -> Duration {
            match self.below(8) {
                0 => Duration::ZERO,
                1 => Duration::MAX,
                2 => Duration::from_secs(u64::MAX / 2),
                3 => Duration::from_nanos(1),
                _ => Duration::from_millis(self.below(5_000)),
            }
        }
        fn params(&mut self) -> InstanceParams {
            let mut p = InstanceParams::new(51, ip("192.0.2.10"));
            p.version = if self.below(2) == 0 {
                Version::V2
            } else {
                Version::V3
            };
            p.priority = self.priority();
            p.advert_interval = self.duration();
            p.preempt = self.below(2) == 0;
            p.preempt_delay = self.duration();
            p.garp_master_delay = (self.below(3) != 0).then(|| self.duration());
            p.garp_master_refresh = (self.below(3) != 0).then(|| self.duration());
            p.garp_lower_prio_delay = (self.below(3) != 0).then(|| self.duration());
            p.garp_master_repeat = self.count();
            p.garp_master_refresh_repeat = self.count();
            p.garp_lower_prio_repeat = self.count();
            p.lower_prio_no_advert = self.below(2) == 0;
            p.higher_prio_send_advert = self.below(2) == 0;
            p.down_timer_adverts = self.next() as u8;
            p
        }
        fn count(&mut self) -> u32 {
            match self.below(4) {
                0 => 0,
                1 => u32::MAX,
                _ => self.below(10) as u32,
            }
        }
    }

    /// Random configurations (zero, tiny and huge durations, every priority) and random
    /// event sequences never panic, and the actions keep one invariant the shell relies on:
    /// VIPs are added exactly when entering MASTER and removed exactly when leaving it.
    #[test]
    fn random_params_and_events_never_panic_and_vips_follow_the_state() {
        let sources = ["192.0.2.1", "192.0.2.10", "192.0.2.20", "2001:db8::1"];
        let mut rng = Rng(0x5eed_1234_abcd_ef01);
        for round in 0..3_000 {
            let t0 = Instant::now();
            let mut now = t0;
            let mut instance = Instance::new(rng.params());
            let mut installed = false;
            for step in 0..60 {
                // Time moves by 0..2 s, sometimes to a timer deadline exactly.
                now += match (rng.below(4), instance.poll_timeout()) {
                    (0, Some(at)) if at > now => at.saturating_duration_since(now),
                    _ => Duration::from_millis(rng.below(2_000)),
                };
                match rng.below(12) {
                    0 => instance.start(now),
                    1..=5 => {
                        let advert = ReceivedAdvert {
                            source: ip(sources[rng.below(4) as usize]),
                            priority: rng.priority(),
                            advert_interval: rng.duration(),
                        };
                        instance.handle_advert(now, &advert);
                    }
                    6 => instance.set_effective_priority(now, rng.priority()),
                    7 => instance.set_fault(now, rng.below(2) == 0),
                    8 => {
                        let mut p = rng.params();
                        if rng.below(2) == 0 {
                            p.vrid = instance.params().vrid;
                            p.version = instance.params().version;
                        }
                        let _ = instance.update_params(now, p);
                    }
                    9 => instance.begin_handover(now, rng.duration()),
                    10 if rng.below(4) == 0 => instance.shutdown(now),
                    10 => instance.advertise_now(now),
                    11 if rng.below(3) == 0 => instance.sync_member_heard_lower_priority(now),
                    _ => instance.handle_timeout(now),
                }
                while let Some(action) = instance.poll_action() {
                    match action {
                        Action::AddVips => {
                            assert!(!installed, "round {round} step {step}: VIPs added twice");
                            installed = true;
                        }
                        Action::RemoveVips => {
                            assert!(installed, "round {round} step {step}: VIPs removed twice");
                            installed = false;
                        }
                        _ => {}
                    }
                }
                assert_eq!(
                    installed,
                    instance.state() == State::Master,
                    "round {round} step {step}: VIPs vs state {}",
                    instance.state()
                );
                let _ = (instance.skew_time(), instance.master_down_interval());
            }
        }
    }
}
