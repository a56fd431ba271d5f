//! Replays the state machine scenarios in `tests/scenarios/*.txt` through the public API.
//!
//! A scenario is a list of lines; `#` starts a comment. Times are offsets from the start of
//! the scenario (`0`, `250us`, `360.9375ms`, `3s`). All routers share one lossless wire with
//! no delay: every advert a connected router sends reaches every other connected router with
//! the same VRID at the same instant. Before an event at time T, all timers up to T fire.
//!
//! ```text
//! router NAME ADDRESS [vrid N] [version 2|3] [prio N] [interval T] [nopreempt]
//!        [preempt_delay T] [garp_delay T|off] [garp_refresh T|off] [master_hint]
//!        [garp_repeat N] [garp_refresh_repeat N] [garp_lower_prio_repeat N]
//!        [garp_lower_prio_delay T|off] [lower_prio_no_advert] [higher_prio_send_advert]
//!        [down_timer_adverts N]
//! at T NAME start | shutdown | timeout | handover bound T | fault on|off | priority N
//!           | link down|up | advert from ADDRESS prio N [interval T]
//!           | reload prio N | reload interval T | reload preempt on|off
//!           | drain soft|hard [bound T] | resume
//! run until T
//! forget actions
//! expect NAME state Initialize|Backup|Master|Fault
//! expect NAME action ACTION [at T]       next action NAME did, in order
//! expect NAME eventually ACTION [at T]   skips actions until one matches
//! expect NAME change FROM -> TO [reason "TEXT"] [at T]   skips other actions to the next change
//! expect NAME no actions
//! expect NAME timeout T|none | master ADDRESS|none | master_interval T | skew T
//!            | down_interval T | priority N | transitions N | handing_over yes|no
//!            | stopped yes|no | drained soft|hard|no | advertised N
//! ACTION = SendAdvert prio N | AddVips | RemoveVips | Announce [repeat N] [CAUSE]
//!        | StateChanged FROM -> TO [reason "TEXT"]
//! CAUSE = BecameMaster | MasterDelay | Refresh | LowerPriority | LowerPriorityDelay |
//!   LowerPrioritySilent | SyncMemberLowerPriority
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use vipd::vrrp::instance::{
    Action, AnnounceCause, DrainMode, Instance, InstanceParams, ReceivedAdvert, Reload, State,
    Version,
};

/// A failure located at `file:line`.
#[derive(Debug)]
struct ScenarioError {
    file: String,
    line: usize,
    message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

type Result<T> = std::result::Result<T, String>;

struct Router {
    name: String,
    address: IpAddr,
    instance: Instance,
    connected: bool,
    /// Actions not yet checked by `expect`, with the time they were taken.
    pending: VecDeque<(Duration, Action)>,
}

struct Simulation {
    t0: Instant,
    now: Duration,
    routers: Vec<Router>,
}

impl Simulation {
    fn new() -> Self {
        Self {
            t0: Instant::now(),
            now: Duration::ZERO,
            routers: Vec::new(),
        }
    }

    fn router_index(&self, name: &str) -> Result<usize> {
        self.routers
            .iter()
            .position(|router| router.name == name)
            .ok_or_else(|| format!("no router named {name:?} (declare it with `router`)"))
    }

    fn instant(&self, offset: Duration) -> Instant {
        self.t0 + offset
    }

    /// Drains every instance, delivering adverts, until nobody has anything left to do.
    fn settle(&mut self) -> Result<()> {
        let now = self.instant(self.now);
        for _ in 0..10_000 {
            let mut sent = Vec::new();
            for (index, router) in self.routers.iter_mut().enumerate() {
                while let Some(action) = router.instance.poll_action() {
                    if let Action::SendAdvert { priority } = action {
                        if router.connected {
                            sent.push((
                                index,
                                router.instance.params().vrid,
                                ReceivedAdvert {
                                    source: router.address,
                                    priority,
                                    advert_interval: router.instance.advert_interval(),
                                },
                            ));
                        }
                    }
                    router.pending.push_back((self.now, action));
                }
            }
            if sent.is_empty() {
                return Ok(());
            }
            for (sender, vrid, advert) in sent {
                for (index, router) in self.routers.iter_mut().enumerate() {
                    let same_vrid = router.instance.params().vrid == vrid;
                    if index != sender && router.connected && same_vrid {
                        router.instance.handle_advert(now, &advert);
                    }
                }
            }
        }
        Err(format!(
            "advert storm at {:?}: the routers never go quiet",
            self.now
        ))
    }

    /// Fires all timers due up to `target`, in time order, then sets the clock to `target`.
    fn advance_to(&mut self, target: Duration) -> Result<()> {
        if target < self.now {
            return Err(format!(
                "time goes backwards: {target:?} is before {:?}",
                self.now
            ));
        }
        let end = self.instant(target);
        for _ in 0..1_000_000 {
            let next = self
                .routers
                .iter()
                .filter_map(|router| router.instance.poll_timeout())
                .min();
            let Some(next) = next.filter(|next| *next <= end) else {
                self.now = target;
                return Ok(());
            };
            self.now = next.duration_since(self.t0);
            for router in &mut self.routers {
                if router
                    .instance
                    .poll_timeout()
                    .is_some_and(|due| due <= next)
                {
                    router.instance.handle_timeout(next);
                }
            }
            self.settle()?;
        }
        Err(format!("timers do not settle before {target:?}"))
    }
}

/// Splits a line into words; `"..."` is one word without the quotes.
fn words(line: &str) -> Result<Vec<String>> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut word = String::new();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some(c) => word.push(c),
                    None => return Err("unterminated quote".into()),
                }
            }
            words.push(word);
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
            words.push(word);
        }
    }
    Ok(words)
}

fn parse_duration(text: &str) -> Result<Duration> {
    let bad = || format!("bad time {text:?} (want e.g. 0, 250us, 360.9375ms, 3s)");
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let unit_nanos: u128 = match unit {
        "ns" => 1,
        "us" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        _ => return Err(bad()),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty()
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let whole: u128 = whole.parse().map_err(|_| bad())?;
    let mut nanos = whole * unit_nanos;
    if !fraction.is_empty() {
        let digits: u128 = fraction.parse().map_err(|_| bad())?;
        let scale = 10u128.pow(u32::try_from(fraction.len()).map_err(|_| bad())?);
        let part = digits * unit_nanos;
        if part % scale != 0 {
            return Err(format!("time {text:?} is finer than a nanosecond"));
        }
        nanos += part / scale;
    }
    u64::try_from(nanos)
        .map(Duration::from_nanos)
        .map_err(|_| bad())
}

fn parse_number<T: std::str::FromStr>(text: Option<&String>, what: &str) -> Result<T> {
    let text = text.ok_or_else(|| format!("missing {what}"))?;
    text.parse().map_err(|_| format!("bad {what} {text:?}"))
}

fn parse_address(text: Option<&String>) -> Result<IpAddr> {
    parse_number(text, "address")
}

fn parse_state(text: Option<&String>) -> Result<State> {
    match text.map(|t| t.to_ascii_lowercase()).as_deref() {
        Some("initialize" | "init") => Ok(State::Initialize),
        Some("backup") => Ok(State::Backup),
        Some("master") => Ok(State::Master),
        Some("fault") => Ok(State::Fault),
        other => Err(format!(
            "bad state {other:?} (want Initialize, Backup, Master or Fault)"
        )),
    }
}

fn parse_yes_no(text: Option<&String>) -> Result<bool> {
    match text.map(String::as_str) {
        Some("yes" | "on" | "up") => Ok(true),
        Some("no" | "off" | "down") => Ok(false),
        other => Err(format!("want yes/no, on/off or up/down, got {other:?}")),
    }
}

fn parse_drain_mode(text: Option<&String>) -> Result<Option<DrainMode>> {
    match text.map(String::as_str) {
        Some("soft") => Ok(Some(DrainMode::Soft)),
        Some("hard") => Ok(Some(DrainMode::Hard)),
        Some("no") => Ok(None),
        other => Err(format!("want soft, hard or no, got {other:?}")),
    }
}

fn optional_duration(text: Option<&String>) -> Result<Option<Duration>> {
    match text.map(String::as_str) {
        Some("off" | "none") => Ok(None),
        Some(time) => parse_duration(time).map(Some),
        None => Err("missing time".into()),
    }
}

fn no_extra(rest: &[String]) -> Result<()> {
    match rest.first() {
        None => Ok(()),
        Some(word) => Err(format!("unexpected {word:?}")),
    }
}

fn parse_router(words: &[String]) -> Result<Router> {
    let name = words.first().ok_or("missing router name")?.clone();
    let address = parse_address(words.get(1))?;
    let mut params = InstanceParams::new(1, address);
    let mut rest = words.iter().skip(2);
    while let Some(key) = rest.next() {
        match key.as_str() {
            "vrid" => params.vrid = parse_number(rest.next(), "vrid")?,
            "version" => {
                params.version = match rest.next().map(String::as_str) {
                    Some("2") => Version::V2,
                    Some("3") => Version::V3,
                    other => return Err(format!("bad version {other:?} (want 2 or 3)")),
                }
            }
            "prio" => params.priority = parse_number(rest.next(), "priority")?,
            "interval" => {
                params.advert_interval = parse_duration(rest.next().ok_or("missing interval")?)?
            }
            "nopreempt" => params.preempt = false,
            "preempt_delay" => {
                params.preempt_delay = parse_duration(rest.next().ok_or("missing preempt_delay")?)?
            }
            "garp_delay" => params.garp_master_delay = optional_duration(rest.next())?,
            "garp_refresh" => params.garp_master_refresh = optional_duration(rest.next())?,
            "master_hint" => params.start_as_master_hint = true,
            "garp_repeat" => params.garp_master_repeat = parse_number(rest.next(), "repeat")?,
            "garp_refresh_repeat" => {
                params.garp_master_refresh_repeat = parse_number(rest.next(), "repeat")?
            }
            "garp_lower_prio_repeat" => {
                params.garp_lower_prio_repeat = parse_number(rest.next(), "repeat")?
            }
            "garp_lower_prio_delay" => {
                params.garp_lower_prio_delay = optional_duration(rest.next())?
            }
            "lower_prio_no_advert" => params.lower_prio_no_advert = true,
            "higher_prio_send_advert" => params.higher_prio_send_advert = true,
            "down_timer_adverts" => {
                params.down_timer_adverts = parse_number(rest.next(), "down_timer_adverts")?
            }
            other => return Err(format!("unknown router option {other:?}")),
        }
    }
    Ok(Router {
        name,
        address,
        instance: Instance::new(params),
        connected: true,
        pending: VecDeque::new(),
    })
}

/// An expected action; `reason: None` accepts any reason.
#[derive(Debug)]
enum Expected {
    Exact(Action),
    /// `None` accepts any repeat count / cause.
    Announce {
        repeat: Option<u32>,
        cause: Option<AnnounceCause>,
    },
    Change {
        from: State,
        to: State,
        reason: Option<String>,
    },
}

impl Expected {
    fn matches(&self, action: &Action) -> bool {
        match (self, action) {
            (Expected::Exact(expected), actual) => expected == actual,
            (
                Expected::Announce { repeat, cause },
                Action::Announce {
                    repeat: actual_repeat,
                    cause: actual_cause,
                },
            ) => {
                repeat.is_none_or(|r| r == *actual_repeat)
                    && cause.is_none_or(|c| c == *actual_cause)
            }
            (
                Expected::Change { from, to, reason },
                Action::StateChanged {
                    from: actual_from,
                    to: actual_to,
                    reason: actual_reason,
                },
            ) => {
                from == actual_from
                    && to == actual_to
                    && reason
                        .as_ref()
                        .is_none_or(|text| *text == actual_reason.to_string())
            }
            _ => false,
        }
    }
}

fn describe(action: &Action) -> String {
    match action {
        Action::StateChanged { from, to, reason } => {
            format!("StateChanged {from:?} -> {to:?} reason \"{reason}\"")
        }
        Action::SendAdvert { priority } => format!("SendAdvert prio {priority}"),
        Action::Announce { repeat, cause } => format!("Announce repeat {repeat} {cause:?}"),
        other => format!("{other:?}"),
    }
}

/// Parses `FROM -> TO [reason "TEXT"]`.
fn parse_change(words: &[String]) -> Result<Expected> {
    let from = parse_state(words.first())?;
    if words.get(1).map(String::as_str) != Some("->") {
        return Err("want FROM -> TO".into());
    }
    let to = parse_state(words.get(2))?;
    let reason = match words.get(3).map(String::as_str) {
        None => None,
        Some("reason") => Some(words.get(4).ok_or("missing reason text")?.clone()),
        Some(other) => return Err(format!("unexpected {other:?}")),
    };
    no_extra(words.get(5..).unwrap_or_default())?;
    Ok(Expected::Change { from, to, reason })
}

fn parse_action(words: &[String]) -> Result<Expected> {
    let kind = words.first().ok_or("missing action")?;
    let rest = words.get(1..).unwrap_or_default();
    let exact = |action| no_extra(rest).map(|()| Expected::Exact(action));
    match kind.as_str() {
        "SendAdvert" => {
            if rest.first().map(String::as_str) != Some("prio") {
                return Err("want SendAdvert prio N".into());
            }
            let priority = parse_number(rest.get(1), "priority")?;
            no_extra(rest.get(2..).unwrap_or_default())?;
            Ok(Expected::Exact(Action::SendAdvert { priority }))
        }
        "AddVips" => exact(Action::AddVips),
        "RemoveVips" => exact(Action::RemoveVips),
        "QuietVips" => exact(Action::QuietVips),
        "UnquietVips" => exact(Action::UnquietVips),
        "Announce" => parse_announce(rest),
        "StateChanged" => parse_change(rest),
        other => Err(format!(
            "unknown action {other:?} (want SendAdvert, AddVips, RemoveVips, QuietVips, UnquietVips, \
             Announce, StateChanged)"
        )),
    }
}

/// Parses `[repeat N] [CAUSE]` after `Announce`.
fn parse_announce(words: &[String]) -> Result<Expected> {
    let mut repeat = None;
    let mut cause = None;
    let mut rest = words.iter();
    while let Some(word) = rest.next() {
        match word.as_str() {
            "repeat" => repeat = Some(parse_number(rest.next(), "repeat")?),
            "BecameMaster" => cause = Some(AnnounceCause::BecameMaster),
            "MasterDelay" => cause = Some(AnnounceCause::MasterDelay),
            "Refresh" => cause = Some(AnnounceCause::Refresh),
            "LowerPriority" => cause = Some(AnnounceCause::LowerPriority),
            "LowerPriorityDelay" => cause = Some(AnnounceCause::LowerPriorityDelay),
            "LowerPrioritySilent" => cause = Some(AnnounceCause::LowerPrioritySilent),
            "SyncMemberLowerPriority" => cause = Some(AnnounceCause::SyncMemberLowerPriority),
            other => return Err(format!("unexpected {other:?} after Announce")),
        }
    }
    Ok(Expected::Announce { repeat, cause })
}

/// Splits a trailing `at T` off an expectation.
fn split_at_time(words: &[String]) -> Result<(&[String], Option<Duration>)> {
    match words {
        [head @ .., at, time] if at == "at" => Ok((head, Some(parse_duration(time)?))),
        _ => Ok((words, None)),
    }
}

fn check_time(expected: Option<Duration>, actual: Duration, what: &str) -> Result<()> {
    match expected {
        Some(expected) if expected != actual => Err(format!(
            "{what} happened at {actual:?}, expected at {expected:?}"
        )),
        _ => Ok(()),
    }
}

fn check_eq<T: PartialEq + fmt::Debug>(what: &str, actual: T, expected: T) -> Result<()> {
    if actual == expected {
        Ok(())
    } else {
        Err(format!("{what} is {actual:?}, expected {expected:?}"))
    }
}

fn run_event(sim: &mut Simulation, index: usize, words: &[String]) -> Result<()> {
    let now = sim.instant(sim.now);
    let Some(router) = sim.routers.get_mut(index) else {
        return Err("no such router".into());
    };
    let instance = &mut router.instance;
    let verb = words.first().ok_or("missing event")?;
    let rest = words.get(1..).unwrap_or_default();
    match verb.as_str() {
        "start" => {
            no_extra(rest)?;
            instance.start(now);
        }
        "shutdown" => {
            no_extra(rest)?;
            instance.shutdown(now);
        }
        "timeout" => {
            no_extra(rest)?;
            instance.handle_timeout(now);
        }
        "handover" => {
            if rest.first().map(String::as_str) != Some("bound") {
                return Err("want handover bound T".into());
            }
            let bound = parse_duration(rest.get(1).ok_or("missing bound")?)?;
            no_extra(rest.get(2..).unwrap_or_default())?;
            instance.begin_handover(now, bound);
        }
        "drain" => {
            let mode = parse_drain_mode(rest.first())?.ok_or("want drain soft|hard [bound T]")?;
            let bound = match rest.get(1..).unwrap_or_default() {
                [] => Duration::from_secs(1),
                [key, time] if key == "bound" => parse_duration(time)?,
                _ => return Err("want drain soft|hard [bound T]".into()),
            };
            instance.drain(now, mode, bound);
        }
        "resume" => {
            no_extra(rest)?;
            instance.resume(now);
        }
        "fault" => {
            let fault = parse_yes_no(rest.first())?;
            no_extra(rest.get(1..).unwrap_or_default())?;
            instance.set_fault(now, fault);
        }
        "priority" => {
            let priority = parse_number(rest.first(), "priority")?;
            no_extra(rest.get(1..).unwrap_or_default())?;
            instance.set_effective_priority(now, priority);
        }
        "link" => {
            router.connected = parse_yes_no(rest.first())?;
            no_extra(rest.get(1..).unwrap_or_default())?;
        }
        "reload" => {
            // `reload prio N` / `reload interval T`: change one parameter.
            let mut params = instance.params().clone();
            match rest.first().map(String::as_str) {
                Some("prio") => params.priority = parse_number(rest.get(1), "priority")?,
                Some("interval") => {
                    params.advert_interval = parse_duration(rest.get(1).ok_or("missing interval")?)?
                }
                Some("preempt") => params.preempt = parse_yes_no(rest.get(1))?,
                other => {
                    return Err(format!(
                        "reload supports prio, interval and preempt, got {other:?}"
                    ))
                }
            }
            no_extra(rest.get(2..).unwrap_or_default())?;
            if instance.update_params(now, params) != Reload::Applied {
                return Err("reload unexpectedly requires a restart".into());
            }
        }
        "advert" => {
            let [from, source, prio, priority, tail @ ..] = rest else {
                return Err("want advert from ADDRESS prio N [interval T]".into());
            };
            if from != "from" || prio != "prio" {
                return Err("want advert from ADDRESS prio N [interval T]".into());
            }
            let advert_interval = match tail {
                [] => instance.advert_interval(),
                [key, time] if key == "interval" => parse_duration(time)?,
                _ => return Err("want advert from ADDRESS prio N [interval T]".into()),
            };
            let advert = ReceivedAdvert {
                source: parse_address(Some(source))?,
                priority: parse_number(Some(priority), "priority")?,
                advert_interval,
            };
            instance.handle_advert(now, &advert);
        }
        other => return Err(format!("unknown event {other:?}")),
    }
    sim.settle()
}

fn run_expect(sim: &mut Simulation, words: &[String]) -> Result<()> {
    let index = sim.router_index(words.first().ok_or("missing router name")?)?;
    let t0 = sim.t0;
    let Some(router) = sim.routers.get_mut(index) else {
        return Err("no such router".into());
    };
    let what = words.get(1).ok_or("missing what to expect")?;
    let rest = words.get(2..).unwrap_or_default();
    let instance = &router.instance;
    let single = || {
        no_extra(rest.get(1..).unwrap_or_default())?;
        rest.first()
            .ok_or_else(|| format!("missing value for {what}"))
    };
    match what.as_str() {
        "state" => {
            no_extra(rest.get(1..).unwrap_or_default())?;
            check_eq("state", instance.state(), parse_state(rest.first())?)
        }
        "timeout" => {
            let expected = optional_duration(Some(single()?))?;
            let actual = instance.poll_timeout().map(|due| due.duration_since(t0));
            check_eq("next timeout", actual, expected)
        }
        "master" => {
            let value = single()?;
            let expected = if value == "none" {
                None
            } else {
                Some(parse_address(Some(value))?)
            };
            check_eq("master address", instance.master_address(), expected)
        }
        "master_interval" => check_eq(
            "master advert interval",
            instance.master_advert_interval(),
            parse_duration(single()?)?,
        ),
        "skew" => check_eq(
            "skew time",
            instance.skew_time(),
            parse_duration(single()?)?,
        ),
        "down_interval" => check_eq(
            "master down interval",
            instance.master_down_interval(),
            parse_duration(single()?)?,
        ),
        "priority" => check_eq(
            "effective priority",
            instance.effective_priority(),
            parse_number(Some(single()?), "priority")?,
        ),
        "transitions" => check_eq(
            "transitions",
            instance.transitions(),
            parse_number(Some(single()?), "count")?,
        ),
        "handing_over" => check_eq(
            "handing over",
            instance.is_handing_over(),
            parse_yes_no(Some(single()?))?,
        ),
        "stopped" => check_eq(
            "stopped",
            instance.is_stopped(),
            parse_yes_no(Some(single()?))?,
        ),
        "drained" => check_eq(
            "drain mode",
            instance.drain_mode(),
            parse_drain_mode(Some(single()?))?,
        ),
        "advertised" => check_eq(
            "advertised priority",
            instance.advertised_priority(),
            parse_number(Some(single()?), "priority")?,
        ),
        "no" => {
            if rest.first().map(String::as_str) != Some("actions") {
                return Err("want `no actions`".into());
            }
            no_extra(rest.get(1..).unwrap_or_default())?;
            match router.pending.front() {
                None => Ok(()),
                Some((time, action)) => Err(format!(
                    "unexpected action {} at {time:?} ({} pending)",
                    describe(action),
                    router.pending.len()
                )),
            }
        }
        "action" => {
            let (spec, at) = split_at_time(rest)?;
            let expected = parse_action(spec)?;
            let (time, action) = router.pending.pop_front().ok_or_else(|| {
                format!("expected action {expected:?}, but there are no more actions")
            })?;
            if !expected.matches(&action) {
                return Err(format!(
                    "expected action {}, got {} at {time:?}",
                    spec.join(" "),
                    describe(&action)
                ));
            }
            check_time(at, time, &describe(&action))
        }
        "eventually" => {
            let (spec, at) = split_at_time(rest)?;
            let expected = parse_action(spec)?;
            loop {
                let (time, action) = router.pending.pop_front().ok_or_else(|| {
                    format!("expected eventually {}, but it never came", spec.join(" "))
                })?;
                if expected.matches(&action) && at.is_none_or(|at| at == time) {
                    return Ok(());
                }
            }
        }
        "change" => {
            let (spec, at) = split_at_time(rest)?;
            let expected = parse_change(spec)?;
            loop {
                let (time, action) = router.pending.pop_front().ok_or_else(|| {
                    format!("expected change {}, but there is none", spec.join(" "))
                })?;
                if let Action::StateChanged { .. } = action {
                    if !expected.matches(&action) {
                        return Err(format!(
                            "expected change {}, got {} at {time:?}",
                            spec.join(" "),
                            describe(&action)
                        ));
                    }
                    return check_time(at, time, &describe(&action));
                }
            }
        }
        other => Err(format!("unknown expectation {other:?}")),
    }
}

fn run_line(sim: &mut Simulation, words: &[String]) -> Result<()> {
    let rest = words.get(1..).unwrap_or_default();
    match words.first().map(String::as_str) {
        Some("router") => {
            let router = parse_router(rest)?;
            if sim.router_index(&router.name).is_ok() {
                return Err(format!("router {:?} declared twice", router.name));
            }
            sim.routers.push(router);
            Ok(())
        }
        Some("at") => {
            let time = parse_duration(rest.first().ok_or("missing time")?)?;
            let index = sim.router_index(rest.get(1).ok_or("missing router name")?)?;
            sim.advance_to(time)?;
            run_event(sim, index, rest.get(2..).unwrap_or_default())
        }
        Some("run") => {
            if rest.first().map(String::as_str) != Some("until") {
                return Err("want run until T".into());
            }
            let time = parse_duration(rest.get(1).ok_or("missing time")?)?;
            no_extra(rest.get(2..).unwrap_or_default())?;
            sim.advance_to(time)
        }
        Some("forget") => {
            if rest != ["actions"] {
                return Err("want `forget actions`".into());
            }
            sim.routers
                .iter_mut()
                .for_each(|router| router.pending.clear());
            Ok(())
        }
        Some("expect") => run_expect(sim, rest),
        Some(other) => Err(format!(
            "unknown command {other:?} (want router, at, run, forget, expect)"
        )),
        None => Ok(()),
    }
}

fn run_scenario(file: &str, text: &str) -> std::result::Result<usize, ScenarioError> {
    let mut sim = Simulation::new();
    let mut expectations = 0;
    for (number, line) in text.lines().enumerate() {
        let fail = |message| ScenarioError {
            file: file.to_string(),
            line: number + 1,
            message,
        };
        let content = line.split('#').next().unwrap_or_default();
        let words = words(content).map_err(fail)?;
        if words.first().is_some_and(|word| word == "expect") {
            expectations += 1;
        }
        run_line(&mut sim, &words).map_err(fail)?;
    }
    if expectations == 0 {
        return Err(ScenarioError {
            file: file.to_string(),
            line: text.lines().count(),
            message: "scenario checks nothing (no expect lines)".into(),
        });
    }
    Ok(expectations)
}

#[test]
fn all_scenarios_pass() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "txt"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "expected the scenario files in {}",
        dir.display()
    );

    let mut failures = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let name = format!(
            "tests/scenarios/{}",
            path.file_name().unwrap().to_string_lossy()
        );
        match run_scenario(&name, &text) {
            Ok(count) => println!("{name}: {count} expectations ok"),
            Err(error) => failures.push(error.to_string()),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn errors_name_file_and_line() {
    let cases = [
        (
            "router a 192.0.2.1\nat 0 a start\nat 1x a timeout\n",
            ":3: bad time",
        ),
        ("router a 192.0.2.1 prio\n", ":1: missing priority"),
        (
            "router a 192.0.2.1\nat 0 b start\n",
            ":2: no router named \"b\"",
        ),
        (
            "router a 192.0.2.1\nat 1s a start\nat 0 a start\n",
            ":3: time goes backwards",
        ),
        (
            "router a 192.0.2.1 version 3 interval 100ms\nat 0 a start\nexpect a state Master\n",
            ":3: state is Backup, expected Master",
        ),
        (
            "router a 192.0.2.1\nat 0 a start\nexpect a action AddVips\n",
            ":3: expected action AddVips, got StateChanged Initialize -> Backup",
        ),
        ("router a 192.0.2.1\nat 0 a start\n", "checks nothing"),
        (
            "router a 192.0.2.1\nexpect a stopped \"yes\n",
            ":2: unterminated quote",
        ),
    ];
    for (text, wanted) in cases {
        let error = run_scenario("inline.txt", text)
            .expect_err(text)
            .to_string();
        assert!(error.starts_with("inline.txt:"), "{error}");
        assert!(
            error.contains(wanted),
            "{error:?} should contain {wanted:?}"
        );
    }
}

#[test]
fn durations_parse_exactly() {
    assert_eq!(
        parse_duration("360.9375ms").unwrap(),
        Duration::from_nanos(360_937_500)
    );
    assert_eq!(parse_duration("3s").unwrap(), Duration::from_secs(3));
    assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
    assert!(parse_duration("1.0000000001s").is_err());
    assert!(parse_duration("ms").is_err());
    assert!(parse_duration("5").is_err());
}
