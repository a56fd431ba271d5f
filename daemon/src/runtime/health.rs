//! Health: running the checks, turning their results (and tracked interfaces) into each
//! instance's priority or FAULT, sync groups, and the notification scripts of transitions.

use std::time::Instant;

use tracing::{info, warn};

use super::Daemon;
use crate::check::{CheckEvent, CheckRunner, Priority};
use crate::control::CheckStatus;
use crate::services::notify::{self, NotifyState};
use crate::services::notify_fifo::{self, FifoEvent, Scope};
use crate::services::tracking;
use crate::vrrp::instance::State;

impl Daemon {
    /// Starts the health checks of the current configuration (replacing running ones).
    pub(super) fn start_checks(&mut self) -> Result<(), String> {
        if let Some(mut old) = self.checks.take() {
            old.stop();
        }
        self.check_events = None;
        let specs = tracking::check_specs(&self.config)?;
        if specs.is_empty() {
            return Ok(());
        }
        let (handle, events) = CheckRunner::spawn(specs)?;
        self.checks = Some(handle);
        self.check_events = Some(events);
        Ok(())
    }

    pub(super) fn read_tracked_links(&mut self) {
        let names = tracking::tracked_interface_names(&self.config);
        self.tracked_links = names
            .into_iter()
            .map(|name| {
                let up = match self.netlink.link_index(&name) {
                    Ok(Some(i)) => self.netlink.link(i).ok().flatten().is_some_and(|l| l.up),
                    _ => false,
                };
                (name, up)
            })
            .collect();
    }

    pub(super) fn on_check_event(&mut self, event: CheckEvent) {
        self.ops.record_check(&event);
        let value_check = matches!(event.health, crate::check::Health::Value(_));
        // The runner logs health changes itself.
        if event.state_changed.is_some() || value_check {
            self.apply_tracking(Instant::now());
        }
    }

    /// Recomputes every instance's priority from what it tracks, then its fault state.
    pub(super) fn apply_tracking(&mut self, now: Instant) {
        let checks = self.checks.as_ref();
        let health = |name: &str| checks.and_then(|c| c.health(name));
        let mut priorities: Vec<Priority> = self
            .config
            .instances
            .iter()
            .map(|inst| {
                tracking::instance_priority(inst, &self.config, &health, &self.tracked_links)
            })
            .collect();
        tracking::sync_group_priorities(&self.config, &mut priorities);
        for (i, router) in self.routers.iter_mut().enumerate() {
            // Routers are made from the instances in order; look further only if not (a
            // search per router made every call quadratic: 510 instances took seconds to start).
            let at = match self.config.instances.get(i) {
                Some(inst) if inst.name == router.cfg.name => Some(i),
                _ => (self.config.instances.iter()).position(|inst| inst.name == router.cfg.name),
            };
            let Some(priority) = at.and_then(|i| priorities.get(i).copied()) else {
                continue;
            };
            match priority {
                Priority::Fault => {
                    if !router.check_fault {
                        warn!(
                            "{}: a tracked check or interface failed with weight 0: FAULT",
                            router.cfg.name
                        );
                    }
                    router.check_fault = true;
                }
                Priority::Value(p) => {
                    router.check_fault = false;
                    if p != router.fsm().effective_priority() {
                        info!(
                            "{}: effective priority {} -> {p}",
                            router.cfg.name,
                            router.fsm().effective_priority()
                        );
                        let from = router.fsm().effective_priority();
                        self.ops.priority_changed(&router.cfg.name, from, p);
                        (router.fsm_mut(&mut self.schedule, i)).set_effective_priority(now, p);
                        if notify_fifo::priority_changes(&self.config, &router.cfg) {
                            let master = router.fsm().state() == State::Master;
                            self.fifos.write(
                                Scope::Instance,
                                &router.cfg.name,
                                FifoEvent::priority_change(master),
                                p,
                            );
                        }
                    }
                }
            }
        }
        self.apply_faults(now);
    }

    /// An instance is in FAULT while its interface is unusable or a weight-0 check failed, or
    /// while any other member of its sync group is (keepalived: a fault in one faults all).
    pub(super) fn apply_faults(&mut self, now: Instant) {
        // Called for every link and address event: a set of the (few) faulty names keeps it
        // linear in the number of instances.
        let own: std::collections::BTreeSet<String> = self
            .routers
            .iter()
            .filter(|r| {
                r.interface_fault()
                    || r.check_fault
                    || r.source_missing
                    || r.cfg.lacks_unicast_peers()
                    || !super::vmac::is_ready(r)
            })
            .map(|r| r.cfg.name.clone())
            .collect();
        let faulty = |name: &str| own.contains(name);
        for (index, router) in self.routers.iter_mut().enumerate() {
            let name = &router.cfg.name;
            let group_fault = !own.is_empty()
                && self
                    .config
                    .sync_groups
                    .iter()
                    .filter(|g| g.instances.contains(name))
                    .any(|g| g.instances.iter().any(|m| faulty(m)));
            let fault = faulty(name) || group_fault;
            if fault != router.fsm().is_fault() {
                if fault && !faulty(name) {
                    warn!("{name}: another member of its sync group is in FAULT");
                }
                router
                    .fsm_mut(&mut self.schedule, index)
                    .set_fault(now, fault);
            }
        }
    }

    /// Runs the instance's notification scripts, then its sync group's once all members agree.
    pub(super) fn notify_transition(&mut self, index: usize, to: State) {
        let Some(router) = self.routers.get(index) else {
            return;
        };
        if router.removed_by_reload && to == State::Initialize {
            self.notify_removed(index);
            return;
        }
        let state = match to {
            State::Master => NotifyState::Master,
            State::Backup => NotifyState::Backup,
            State::Fault => NotifyState::Fault,
            State::Initialize => NotifyState::Stop,
        };
        self.fifos.write(
            Scope::Instance,
            &router.cfg.name,
            FifoEvent::State(state),
            router.fsm().effective_priority(),
        );
        let global = &self.config.global;
        let mut transitions = vec![(
            format!("INSTANCE {}", router.cfg.name),
            notify::scripts_for(
                &router.cfg.notify,
                global,
                "INSTANCE",
                &router.cfg.name,
                state,
                router.fsm().effective_priority(),
            ),
        )];
        for group in &self.config.sync_groups {
            if !group.instances.contains(&router.cfg.name) {
                continue;
            }
            let all_agree = group.instances.iter().all(|member| {
                self.routers
                    .iter()
                    .find(|r| &r.cfg.name == member)
                    .is_some_and(|r| r.fsm().state() == to)
            });
            if all_agree && self.group_states.get(&group.name) != Some(&state) {
                self.group_states.insert(group.name.clone(), state);
                info!("sync group {}: {}", group.name, state.as_str());
                self.fifos
                    .write(Scope::Group, &group.name, FifoEvent::State(state), 0);
                transitions.push((
                    format!("GROUP {}", group.name),
                    notify::scripts_for(&group.notify, global, "GROUP", &group.name, state, 0),
                ));
            }
        }
        if let Some(notifier) = &self.notifier {
            for (scope, jobs) in transitions {
                notifier.notify(&scope, state, jobs);
            }
        }
    }

    /// A reload creates the notify FIFOs again and restarts their scripts (as keepalived
    /// does), then, with `fifo_write_vrrp_states_on_reload`, tells them every sync group's
    /// and instance's state (keepalived 2.2.7 leaves out the instances in MASTER; its
    /// manual says every state).
    pub(super) fn reopen_fifos(&mut self) {
        self.fifos.reopen(&self.config.global);
        if !self.config.global.fifo_write_states_on_reload || self.fifos.is_empty() {
            return;
        }
        for group in &self.config.sync_groups {
            if let Some(state) = self.group_states.get(&group.name) {
                self.fifos
                    .write(Scope::Group, &group.name, FifoEvent::State(*state), 0);
            }
        }
        for router in &self.routers {
            let state = match router.fsm().state() {
                State::Master => NotifyState::Master,
                State::Backup => NotifyState::Backup,
                State::Fault => NotifyState::Fault,
                State::Initialize => continue,
            };
            self.fifos.write(
                Scope::Instance,
                &router.cfg.name,
                FifoEvent::State(state),
                router.fsm().effective_priority(),
            );
        }
    }

    /// An instance removed by a reload tells `notify` (and the FIFOs) FAULT, or DELETED
    /// with `notify_deleted`, as keepalived 2.2.7 does; its sync groups are not told.
    fn notify_removed(&mut self, index: usize) {
        let Some(router) = self.routers.get(index) else {
            return;
        };
        let priority = router.fsm().effective_priority();
        let (state, jobs) = notify::removal_scripts(
            &router.cfg.notify,
            &self.config.global,
            &router.cfg.name,
            priority,
        );
        self.fifos.write(
            Scope::Instance,
            &router.cfg.name,
            FifoEvent::State(state),
            priority,
        );
        if let Some(notifier) = &self.notifier {
            notifier.notify(&format!("INSTANCE {}", router.cfg.name), state, jobs);
        }
    }

    /// keepalived runs `notify_master_rx_lower_pri` for every lower-priority advert a
    /// master hears. Here the runs of one instance are coalesced by the notification queue
    /// (at most one waiting, and one running at a time), so that a flood of adverts from
    /// the segment starts a bounded number of processes.
    fn script_lower_priority_heard(&mut self, index: usize) {
        let Some(router) = self.routers.get_mut(index) else {
            return;
        };
        let heard = router.fsm().lower_priority_adverts_heard();
        if heard <= router.lower_priority_scripted {
            return;
        }
        router.lower_priority_scripted = heard;
        let Some(notifier) = &self.notifier else {
            return;
        };
        let jobs = notify::lower_priority_scripts(&router.cfg.notify, &self.config.global);
        notifier.notify(
            &format!("MASTER_RX_LOWER_PRI {}", router.cfg.name),
            NotifyState::MasterRxLowerPri,
            jobs,
        );
    }

    /// The instances looked at in this turn that heard lower-priority adverts as master
    /// since the last look: see [`Daemon::lower_priority_heard`]. Once per turn, after the
    /// actions: the counts only grow, so one look sees what all passes would have seen.
    pub(super) fn lower_priority_heard_by_marked(&mut self) {
        let count = self.schedule.marked_len(self.routers.len());
        for k in 0..count {
            let Some(index) = self.schedule.marked_at(k) else {
                break;
            };
            self.lower_priority_heard(index);
        }
    }

    /// keepalived runs `notify_master_rx_lower_pri` and writes `MASTER_RX_LOWER_PRI` to its
    /// FIFOs for every lower-priority advert a master hears.
    fn lower_priority_heard(&mut self, index: usize) {
        self.script_lower_priority_heard(index);
        if self.fifos.is_empty() {
            return;
        }
        if let Some(router) = self.routers.get(index) {
            self.fifos.lower_priority_heard(
                &router.cfg.name,
                router.fsm().lower_priority_adverts_heard(),
                router.fsm().effective_priority(),
            );
        }
    }

    pub(super) fn check_status(&self) -> Vec<CheckStatus> {
        let Some(checks) = &self.checks else {
            return Vec::new();
        };
        checks
            .snapshot()
            .into_iter()
            .map(|snap| CheckStatus {
                weight: self
                    .config
                    .checks
                    .iter()
                    .find(|c| c.name == snap.name)
                    .map(|c| c.weight)
                    .unwrap_or(0),
                kind: snap.kind.to_string(),
                state: snap.health.to_string(),
                note: snap.note.clone(),
                last_result: snap.last_detail.clone(),
                last_latency_ms: snap.last_latency.map(|d| d.as_secs_f64() * 1000.0),
                name: snap.name,
            })
            .collect()
    }
}
