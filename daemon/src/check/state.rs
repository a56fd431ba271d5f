//! Sans-I/O health state: the rise/fall machine of one check and the priority arithmetic
//! that turns the health of tracked checks into an instance's effective priority.
//!
//! Semantics follow keepalived (`vrrp_script`, `track_interface`, `track_file`):
//! - a check starts `Unknown` (its first result decides at once, either way) or `Down` with
//!   `init_fail` (down until its first result, which then decides at once as well: keepalived
//!   2.2.7, measured, goes up on a first success and needs `rise` after a first failure);
//! - `Up` -> `Down` after `fall` consecutive failures, `Down` -> `Up` after `rise` consecutive
//!   successes;
//! - a file check has no rise/fall: its health is the last integer read;
//! - a script that cannot run (missing, not executable, unsafe, unknown user) is `Disabled`:
//!   keepalived removes such a script from every instance that tracks it, so it neither adds
//!   nor faults, whatever its weight. vipd tries it again at every interval and, once it can
//!   run, starts it afresh (`Unknown`, or `Down` with `init_fail`).

/// Health of one check as the instances tracking it see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// No result yet (and not `init_fail`): neither adds nor faults.
    Unknown,
    Up,
    Down,
    /// Last value read by a file check.
    Value(i64),
    /// The script cannot run (see the module doc): neither adds nor faults.
    Disabled,
}

impl std::fmt::Display for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Health::Unknown => f.write_str("unknown"),
            Health::Up => f.write_str("up"),
            Health::Down => f.write_str("down"),
            Health::Value(v) => write!(f, "value {v}"),
            Health::Disabled => f.write_str("disabled"),
        }
    }
}

/// A change of a check's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: Health,
    pub to: Health,
}

/// Outcome of one probe as the state machine needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    /// A file check's reading.
    Value(i64),
}

/// Rise/fall state of one check.
#[derive(Debug, Clone)]
pub struct CheckState {
    rise: u32,
    fall: u32,
    init_fail: bool,
    health: Health,
    consecutive_ok: u32,
    consecutive_fail: u32,
    /// No result yet since the check (re)started.
    awaiting_first: bool,
}

impl CheckState {
    /// `rise` and `fall` below 1 are treated as 1.
    pub fn new(rise: u32, fall: u32, init_fail: bool) -> Self {
        CheckState {
            rise: rise.max(1),
            fall: fall.max(1),
            init_fail,
            health: if init_fail {
                Health::Down
            } else {
                Health::Unknown
            },
            consecutive_ok: 0,
            consecutive_fail: 0,
            awaiting_first: true,
        }
    }

    /// A check whose definition a reload changed goes on from the health the old definition
    /// had reached, so that a reload never turns a failed check into one that counts for
    /// nothing (a node whose service is down must not win an election for the length of the
    /// first probe). As in keepalived ("considered successful on reload"), an up check stays
    /// up. The new probe then needs `fall` failures to go down or `rise` successes to come
    /// up. Health of another sort (a file value for an up/down check, or the reverse) does not
    /// carry over: the check starts as a new one.
    pub fn resumed(rise: u32, fall: u32, init_fail: bool, previous: Health, file: bool) -> Self {
        let mut state = CheckState::new(rise, fall, init_fail);
        match (previous, file) {
            (Health::Up | Health::Down, false) | (Health::Value(_), true) => {
                state.health = previous;
                state.awaiting_first = false;
            }
            _ => {}
        }
        state
    }

    pub fn health(&self) -> Health {
        self.health
    }

    pub fn consecutive_ok(&self) -> u32 {
        self.consecutive_ok
    }

    pub fn consecutive_fail(&self) -> u32 {
        self.consecutive_fail
    }

    /// The check cannot run; returns the transition if it was not disabled already.
    pub fn disable(&mut self) -> Option<Transition> {
        let from = self.health;
        *self = CheckState::new(self.rise, self.fall, self.init_fail);
        self.health = Health::Disabled;
        (from != Health::Disabled).then_some(Transition {
            from,
            to: Health::Disabled,
        })
    }

    /// A disabled check can run again: it starts afresh. Returns the transition.
    pub fn enable(&mut self) -> Option<Transition> {
        if self.health != Health::Disabled {
            return None;
        }
        *self = CheckState::new(self.rise, self.fall, self.init_fail);
        Some(Transition {
            from: Health::Disabled,
            to: self.health,
        })
    }

    /// Feed one probe outcome; returns the transition if the health changed.
    pub fn record(&mut self, outcome: Outcome) -> Option<Transition> {
        let from = self.health;
        let first = std::mem::take(&mut self.awaiting_first);
        let to = match outcome {
            Outcome::Value(v) => {
                self.consecutive_ok = self.consecutive_ok.saturating_add(1);
                self.consecutive_fail = 0;
                Health::Value(v)
            }
            Outcome::Success => {
                self.consecutive_ok = self.consecutive_ok.saturating_add(1);
                self.consecutive_fail = 0;
                match from {
                    // `init_fail`: the first result decides, as for an unknown check.
                    Health::Down if first => Health::Up,
                    Health::Down | Health::Disabled if self.consecutive_ok < self.rise => {
                        Health::Down
                    }
                    _ => Health::Up,
                }
            }
            Outcome::Failure => {
                self.consecutive_fail = self.consecutive_fail.saturating_add(1);
                self.consecutive_ok = 0;
                match from {
                    Health::Up if self.consecutive_fail < self.fall => Health::Up,
                    _ => Health::Down,
                }
            }
        };
        self.health = to;
        (from != to).then_some(Transition { from, to })
    }
}

/// What one tracked check does to an instance's priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contribution {
    Add(i32),
    /// The instance must go to FAULT.
    Fault,
}

/// keepalived: a file value x weight below this faults the instance.
const FILE_FAULT_BELOW: i64 = -253;

/// Contribution of a check with the given health, tracked with `weight` and keepalived's
/// `reverse`.
///
/// - up/down checks: weight > 0 is added while up, weight < 0 is added (subtracted) while down,
///   weight 0 faults while down; `Unknown` and `Disabled` contribute nothing.
/// - file checks: weight 0 -> any non-zero value faults; otherwise value x weight is added and a
///   product below -253 faults.
/// - `reverse` turns the adjustment around (what would be added is subtracted) and, with
///   weight 0, faults while the check is up (a file: while it reads 0) instead of down.
pub fn contribution(health: Health, weight: i32, reverse: bool) -> Contribution {
    if reverse {
        return match (health, weight) {
            (Health::Up, 0) => Contribution::Fault,
            (Health::Down, 0) => Contribution::Add(0),
            (Health::Value(v), 0) => {
                if v == 0 {
                    Contribution::Fault
                } else {
                    Contribution::Add(0)
                }
            }
            (Health::Value(v), w) => file_contribution(v, -i64::from(w)),
            _ => match contribution(health, weight, false) {
                Contribution::Add(x) => Contribution::Add(x.saturating_neg()),
                fault => fault,
            },
        };
    }
    match health {
        Health::Unknown | Health::Disabled => Contribution::Add(0),
        Health::Up if weight > 0 => Contribution::Add(weight),
        Health::Up => Contribution::Add(0),
        Health::Down if weight == 0 => Contribution::Fault,
        Health::Down if weight < 0 => Contribution::Add(weight),
        Health::Down => Contribution::Add(0),
        Health::Value(v) if weight == 0 => {
            if v == 0 {
                Contribution::Add(0)
            } else {
                Contribution::Fault
            }
        }
        Health::Value(v) => file_contribution(v, i64::from(weight)),
    }
}

fn file_contribution(value: i64, weight: i64) -> Contribution {
    let product = value.saturating_mul(weight);
    if product < FILE_FAULT_BELOW {
        Contribution::Fault
    } else {
        // Anything above 254 saturates the clamp anyway.
        Contribution::Add(i32::try_from(product.min(254)).unwrap_or(254))
    }
}

/// An instance's effective priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    Fault,
    Value(u8),
}

/// keepalived's effective priority: any fault wins; the address owner (255) is never adjusted;
/// otherwise base + sum of contributions, clamped to 1..=254.
pub fn effective_priority(
    base: u8,
    contributions: impl IntoIterator<Item = Contribution>,
) -> Priority {
    let mut sum: i64 = 0;
    for c in contributions {
        match c {
            Contribution::Fault => return Priority::Fault,
            Contribution::Add(w) => sum = sum.saturating_add(i64::from(w)),
        }
    }
    if base == 255 {
        return Priority::Value(255);
    }
    let total = (i64::from(base) + sum).clamp(1, 254);
    Priority::Value(u8::try_from(total).unwrap_or(254))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_start_takes_first_result_at_once() {
        let mut s = CheckState::new(3, 3, false);
        assert_eq!(s.health(), Health::Unknown);
        assert_eq!(
            s.record(Outcome::Success),
            Some(Transition {
                from: Health::Unknown,
                to: Health::Up
            })
        );
        let mut s = CheckState::new(3, 3, false);
        assert_eq!(
            s.record(Outcome::Failure),
            Some(Transition {
                from: Health::Unknown,
                to: Health::Down
            })
        );
    }

    #[test]
    fn resumed_check_keeps_up_or_down_and_needs_fall_or_rise_to_change() {
        let mut down = CheckState::resumed(2, 3, false, Health::Down, false);
        assert_eq!(down.health(), Health::Down);
        assert_eq!(down.record(Outcome::Success), None);
        assert_eq!(
            down.record(Outcome::Success).map(|t| t.to),
            Some(Health::Up)
        );
        let mut up = CheckState::resumed(2, 2, true, Health::Up, false);
        assert_eq!(up.health(), Health::Up);
        assert_eq!(up.record(Outcome::Failure), None);
        assert_eq!(
            up.record(Outcome::Failure).map(|t| t.to),
            Some(Health::Down)
        );
        // Nothing known yet, or health of another sort: a new check.
        assert_eq!(
            CheckState::resumed(1, 1, false, Health::Unknown, false).health(),
            Health::Unknown
        );
        assert_eq!(
            CheckState::resumed(1, 1, true, Health::Value(3), false).health(),
            Health::Down
        );
        assert_eq!(
            CheckState::resumed(1, 1, false, Health::Down, true).health(),
            Health::Unknown
        );
        assert_eq!(
            CheckState::resumed(1, 1, false, Health::Value(-2), true).health(),
            Health::Value(-2)
        );
    }

    #[test]
    fn fall_needs_consecutive_failures() {
        let mut s = CheckState::new(2, 3, false);
        s.record(Outcome::Success);
        assert_eq!(s.record(Outcome::Failure), None);
        assert_eq!(s.record(Outcome::Failure), None);
        // A success in between restarts the count.
        assert_eq!(s.record(Outcome::Success), None);
        assert_eq!(s.record(Outcome::Failure), None);
        assert_eq!(s.record(Outcome::Failure), None);
        assert_eq!(s.consecutive_fail(), 2);
        let t = s.record(Outcome::Failure);
        assert_eq!(
            t,
            Some(Transition {
                from: Health::Up,
                to: Health::Down
            })
        );
        assert_eq!(s.record(Outcome::Failure), None);
    }

    #[test]
    fn rise_needs_consecutive_successes() {
        let mut s = CheckState::new(3, 1, true);
        assert_eq!(s.health(), Health::Down);
        assert_eq!(s.record(Outcome::Failure), None);
        assert_eq!(s.record(Outcome::Success), None);
        assert_eq!(s.record(Outcome::Success), None);
        assert_eq!(s.record(Outcome::Failure), None);
        assert_eq!(s.record(Outcome::Success), None);
        assert_eq!(s.record(Outcome::Success), None);
        assert_eq!(s.consecutive_ok(), 2);
        assert_eq!(
            s.record(Outcome::Success),
            Some(Transition {
                from: Health::Down,
                to: Health::Up
            })
        );
        // fall 1: one failure is enough.
        assert_eq!(
            s.record(Outcome::Failure),
            Some(Transition {
                from: Health::Up,
                to: Health::Down
            })
        );
    }

    /// keepalived 2.2.7, measured (corpus run: an `init_fail`, `rise 5` script that succeeds
    /// made keepalived MASTER after the master down interval, vipd stayed FAULT for 8 s): an
    /// `init_fail` check is down until its first result, and that result decides at once;
    /// after a first failure it needs `rise` successes (measured with `rise 3`).
    #[test]
    fn init_fail_is_down_until_the_first_result_which_decides() {
        let mut s = CheckState::new(5, 5, true);
        assert_eq!(s.health(), Health::Down);
        assert_eq!(
            s.record(Outcome::Success),
            Some(Transition {
                from: Health::Down,
                to: Health::Up
            })
        );
        let mut s = CheckState::new(3, 3, true);
        assert_eq!(s.record(Outcome::Failure), None);
        assert_eq!(s.record(Outcome::Success), None);
        assert_eq!(s.record(Outcome::Success), None);
        assert_eq!(s.record(Outcome::Success).map(|t| t.to), Some(Health::Up));
        // A reload carrying a down health over needs `rise` again.
        let mut s = CheckState::resumed(2, 2, true, Health::Down, false);
        assert_eq!(s.record(Outcome::Success), None);
        assert_eq!(s.record(Outcome::Success).map(|t| t.to), Some(Health::Up));
    }

    #[test]
    fn rise_fall_zero_behave_as_one() {
        let mut s = CheckState::new(0, 0, true);
        assert!(s.record(Outcome::Success).is_some());
        assert!(s.record(Outcome::Failure).is_some());
    }

    #[test]
    fn file_values_transition_on_change_only() {
        let mut s = CheckState::new(1, 1, false);
        assert_eq!(
            s.record(Outcome::Value(5)),
            Some(Transition {
                from: Health::Unknown,
                to: Health::Value(5)
            })
        );
        assert_eq!(s.record(Outcome::Value(5)), None);
        assert_eq!(
            s.record(Outcome::Value(-1)).map(|t| t.to),
            Some(Health::Value(-1))
        );
    }

    #[test]
    fn contribution_rules() {
        assert_eq!(contribution(Health::Up, 10, false), Contribution::Add(10));
        assert_eq!(contribution(Health::Down, 10, false), Contribution::Add(0));
        assert_eq!(contribution(Health::Up, -10, false), Contribution::Add(0));
        assert_eq!(
            contribution(Health::Down, -10, false),
            Contribution::Add(-10)
        );
        assert_eq!(contribution(Health::Down, 0, false), Contribution::Fault);
        assert_eq!(contribution(Health::Up, 0, false), Contribution::Add(0));
        assert_eq!(
            contribution(Health::Unknown, 0, false),
            Contribution::Add(0)
        );
        assert_eq!(
            contribution(Health::Unknown, -50, false),
            Contribution::Add(0)
        );
        assert_eq!(
            contribution(Health::Unknown, 50, false),
            Contribution::Add(0)
        );
    }

    #[test]
    fn reverse_turns_the_adjustment_around() {
        // keepalived: a reversed positive weight is subtracted while up...
        assert_eq!(contribution(Health::Up, 10, true), Contribution::Add(-10));
        assert_eq!(contribution(Health::Down, 10, true), Contribution::Add(0));
        // ...a reversed negative weight is added while down...
        assert_eq!(contribution(Health::Down, -10, true), Contribution::Add(10));
        assert_eq!(contribution(Health::Up, -10, true), Contribution::Add(0));
        // ...and weight 0 faults while up.
        assert_eq!(contribution(Health::Up, 0, true), Contribution::Fault);
        assert_eq!(contribution(Health::Down, 0, true), Contribution::Add(0));
        assert_eq!(contribution(Health::Unknown, 0, true), Contribution::Add(0));
        assert_eq!(
            contribution(Health::Value(3), 5, true),
            Contribution::Add(-15)
        );
        assert_eq!(contribution(Health::Value(0), 0, true), Contribution::Fault);
        assert_eq!(
            contribution(Health::Value(2), 0, true),
            Contribution::Add(0)
        );
        assert_eq!(
            contribution(Health::Value(-2), 200, true),
            Contribution::Add(254)
        );
    }

    #[test]
    fn disabled_checks_neither_add_nor_fault() {
        for w in [-50, 0, 50] {
            for reverse in [false, true] {
                assert_eq!(
                    contribution(Health::Disabled, w, reverse),
                    Contribution::Add(0)
                );
            }
        }
        let mut s = CheckState::new(2, 2, true);
        assert_eq!(
            s.disable(),
            Some(Transition {
                from: Health::Down,
                to: Health::Disabled
            })
        );
        assert_eq!(s.disable(), None);
        assert_eq!(s.health(), Health::Disabled);
        // Enabled again: starts as configured (init_fail: down until its first result).
        assert_eq!(
            s.enable(),
            Some(Transition {
                from: Health::Disabled,
                to: Health::Down
            })
        );
        assert_eq!(s.record(Outcome::Failure), None);
        assert_eq!(s.record(Outcome::Success), None);
        assert!(s.record(Outcome::Success).is_some());
        let mut s = CheckState::new(1, 1, false);
        s.disable();
        assert_eq!(s.enable().map(|t| t.to), Some(Health::Unknown));
        assert_eq!(s.enable(), None);
    }

    #[test]
    fn file_contribution_rules() {
        assert_eq!(
            contribution(Health::Value(0), 0, false),
            Contribution::Add(0)
        );
        assert_eq!(
            contribution(Health::Value(1), 0, false),
            Contribution::Fault
        );
        assert_eq!(
            contribution(Health::Value(-1), 0, false),
            Contribution::Fault
        );
        assert_eq!(
            contribution(Health::Value(3), 5, false),
            Contribution::Add(15)
        );
        assert_eq!(
            contribution(Health::Value(3), -5, false),
            Contribution::Add(-15)
        );
        assert_eq!(
            contribution(Health::Value(-253), 1, false),
            Contribution::Add(-253)
        );
        assert_eq!(
            contribution(Health::Value(-254), 1, false),
            Contribution::Fault
        );
        assert_eq!(
            contribution(Health::Value(2), -127, false),
            Contribution::Fault
        );
        assert_eq!(
            contribution(Health::Value(1000), 254, false),
            Contribution::Add(254)
        );
        assert_eq!(
            contribution(Health::Value(i64::MIN), 2, false),
            Contribution::Fault
        );
    }

    #[test]
    fn priority_adds_and_clamps() {
        use Contribution::Add;
        assert_eq!(effective_priority(100, []), Priority::Value(100));
        assert_eq!(
            effective_priority(100, [Add(20), Add(-50)]),
            Priority::Value(70)
        );
        assert_eq!(effective_priority(100, [Add(-99)]), Priority::Value(1));
        assert_eq!(effective_priority(100, [Add(-100)]), Priority::Value(1));
        assert_eq!(
            effective_priority(100, [Add(-253), Add(-253)]),
            Priority::Value(1)
        );
        assert_eq!(effective_priority(200, [Add(54)]), Priority::Value(254));
        assert_eq!(effective_priority(200, [Add(55)]), Priority::Value(254));
        assert_eq!(
            effective_priority(254, [Add(253), Add(253)]),
            Priority::Value(254)
        );
        assert_eq!(
            effective_priority(1, [Add(i32::MIN), Add(i32::MIN)]),
            Priority::Value(1)
        );
    }

    #[test]
    fn owner_priority_never_adjusted_but_faults() {
        use Contribution::{Add, Fault};
        assert_eq!(effective_priority(255, [Add(-100)]), Priority::Value(255));
        assert_eq!(effective_priority(255, [Add(10)]), Priority::Value(255));
        assert_eq!(effective_priority(255, [Add(10), Fault]), Priority::Fault);
    }

    #[test]
    fn any_fault_wins() {
        use Contribution::{Add, Fault};
        assert_eq!(effective_priority(100, [Add(50), Fault]), Priority::Fault);
        assert_eq!(
            effective_priority(
                100,
                [
                    contribution(Health::Up, 5, false),
                    contribution(Health::Down, 0, false)
                ]
            ),
            Priority::Fault
        );
    }

    #[test]
    fn keepalived_example_weight_minus_60() {
        // Master 150 with a failing -60 check falls below a 100 backup.
        let p = effective_priority(150, [contribution(Health::Down, -60, false)]);
        assert_eq!(p, Priority::Value(90));
    }
}
