//! The daemon's operator surface: control socket commands (status, events, drain, resume,
//! reload), persisted drains, the event stream, the metrics snapshot and the one-line
//! systemd STATUS. The I/O lives in `control::`; this is where it meets the instances.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tokio::sync::{mpsc, oneshot};
use tracing::{error, info, warn};

use super::tasks::tell_systemd;
use super::Daemon;
use crate::check::CheckEvent;
use crate::config::Config;
use crate::control::access::{AccessPolicy, ControlGroup, Peer};
use crate::control::drains::{DrainEntries, DrainEntry, DrainStore};
use crate::control::events::{EventBus, EventKind};
use crate::control::http::{self, HttpStats};
use crate::control::metrics::{Histogram, MetricsSnapshot, ServiceCounts};
use crate::control::protocol::{ChangeReply, Hello, Request, Target};
use crate::control::server::{self, Command, ControlStats};
use crate::control::services::{ServiceConfig, Services};
use crate::control::StatusReport;
use crate::vrrp::instance::{DrainMode, Reason, State};

/// Commands waiting for the event loop (each client task waits for its own answer).
const COMMAND_QUEUE: usize = 64;

/// What `vipd run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub config: Option<PathBuf>,
    pub socket: PathBuf,
    /// Where drains are kept across restarts.
    pub state_dir: PathBuf,
    /// Overrides `[global] control_group`.
    pub control_group: Option<String>,
    /// Overrides `[global] metrics_listen`.
    pub metrics_listen: Option<SocketAddr>,
    /// How to read keepalived.conf (config id).
    pub read_options: crate::config::ReadOptions,
    /// Pid files to write (`--pid-file`); none by default.
    pub pid_files: Vec<PathBuf>,
    /// keepalived's command line: its pid files, where the configuration puts them unless
    /// `-p`/`-r` say.
    pub keepalived_pid_files: Option<crate::compat::PidFileOptions>,
    /// Overrides `net_namespace` (`keepalived -s`).
    pub net_namespace: Option<String>,
    /// Fork into the background (keepalived without `-n`).
    pub daemonize: bool,
}

/// The daemon's operator state.
pub(super) struct Ops {
    pub(super) commands: mpsc::Receiver<Command>,
    commands_tx: mpsc::Sender<Command>,
    pub(super) events: EventBus,
    drains: DrainStore,
    policy: AccessPolicy,
    metrics_listen: Option<SocketAddr>,
    control_stats: Arc<ControlStats>,
    http_stats: Arc<HttpStats>,
    check_latency: BTreeMap<String, Histogram>,
    /// The last STATUS= sent to systemd, and whether it may be stale.
    sd_status: String,
    sd_status_dirty: bool,
    /// keepalived's dump files (SIGUSR1, SIGUSR2, SIGRTMIN+2).
    dumps: super::dumps::Dumps,
    /// The drain or resume whose file is being written, and the drains and resumes asked
    /// meanwhile (taken in order once it is written).
    pub(super) drain_write: Option<DrainWrite>,
    waiting_changes: VecDeque<(Request, Peer, oneshot::Sender<ChangeReply>)>,
}

/// A drain or resume whose file is written on a blocking thread while the event loop goes
/// on, then applied and answered (one that would not survive a restart is refused). Synced
/// on the loop, a busy disk held up every advert (0.3 s, and the backups took over).
pub(super) struct DrainWrite {
    task: tokio::task::JoinHandle<Result<(), String>>,
    next: DrainEntries,
    change: DrainChange,
    reply: oneshot::Sender<ChangeReply>,
}

enum DrainChange {
    Drain {
        names: Vec<String>,
        mode: DrainMode,
        by: String,
    },
    Resume {
        names: Vec<String>,
        by: String,
    },
}

/// The outcome of the pending drain file write once it is done (never, without one).
pub(super) async fn drain_written(pending: &mut Option<DrainWrite>) -> Result<(), String> {
    match pending {
        Some(pending) => match (&mut pending.task).await {
            Ok(written) => written,
            Err(e) => Err(format!("writing the drain file failed: {e}")),
        },
        None => std::future::pending().await,
    }
}

impl Ops {
    /// Resolves the options (flags over the configuration). Nothing is bound or started.
    pub(super) fn new(options: &RunOptions, config: &Config) -> Result<Ops, String> {
        let group = options
            .control_group
            .as_deref()
            .or(config.global.control_group.as_deref())
            .map(ControlGroup::resolve)
            .transpose()?;
        let (drains, problem) = DrainStore::open(&options.state_dir);
        if let Some(problem) = problem {
            error!("drain state: {problem}");
        }
        let (commands_tx, commands) = mpsc::channel(COMMAND_QUEUE);
        Ok(Ops {
            commands,
            commands_tx,
            events: EventBus::new(),
            drains,
            policy: AccessPolicy::new(group),
            metrics_listen: options.metrics_listen.or(config.global.metrics_listen),
            control_stats: Arc::default(),
            http_stats: Arc::default(),
            check_latency: BTreeMap::new(),
            sd_status: String::new(),
            sd_status_dirty: true,
            dumps: super::dumps::Dumps::new(),
            drain_write: None,
            waiting_changes: VecDeque::new(),
        })
    }

    fn emit(&mut self, kind: EventKind) {
        self.events.emit(kind);
    }

    /// Latency of every probe, and an event when the check's health changed.
    pub(super) fn record_check(&mut self, event: &CheckEvent) {
        self.check_latency
            .entry(event.name.clone())
            .or_default()
            .observe(event.result.latency.as_secs_f64());
        if let Some(transition) = &event.state_changed {
            self.emit(EventKind::Check {
                check: event.name.clone(),
                from: transition.from.to_string(),
                to: transition.to.to_string(),
                detail: Some(event.result.detail.clone()).filter(|d| !d.is_empty()),
            });
        }
    }

    pub(super) fn priority_changed(&mut self, instance: &str, from: u8, to: u8) {
        self.emit(EventKind::Priority {
            instance: instance.to_string(),
            from,
            to,
        });
    }
}

impl Daemon {
    /// Binds the metrics address, then the control socket, then serves both on their own
    /// thread. Runs before anything else starts, so a bad address stops vipd with nothing
    /// done half-way.
    pub(super) fn start_services(&mut self) -> Result<Services, String> {
        let metrics = self.ops.metrics_listen.map(http::bind).transpose()?;
        let control = server::bind(&self.socket_path, self.ops.policy.group.is_some())?;
        let services = Services::start(ServiceConfig {
            control,
            policy: self.ops.policy.clone(),
            control_stats: self.ops.control_stats.clone(),
            metrics,
            http_stats: self.ops.http_stats.clone(),
            commands: self.ops.commands_tx.clone(),
        })?;
        if let Some(addr) = self.ops.metrics_listen {
            info!("metrics at http://{addr}/metrics");
        }
        if let Some(group) = &self.ops.policy.group {
            info!(
                "control socket open to group {} (gid {}) as well as root",
                group.name, group.gid
            );
        }
        Ok(services)
    }

    /// Drained instances named in the state file that the configuration no longer has.
    pub(super) fn report_persisted_drains(&self) {
        for name in self.ops.drains.names() {
            let Some(entry) = self.ops.drains.get(name) else {
                continue;
            };
            if self.routers.iter().any(|r| &r.cfg.name == name) {
                info!(
                    "{name}: drained ({}) since {} by {}, kept from {}",
                    entry.mode,
                    crate::control::utc_time(entry.since),
                    entry.by,
                    self.ops.drains.path().display()
                );
            } else {
                warn!(
                    "{name}: drained in {} but not configured (`vipd resume {name}` forgets it)",
                    self.ops.drains.path().display()
                );
            }
        }
    }

    /// Gives a (re)started instance the drain kept for its name.
    pub(super) fn apply_persisted_drain(&mut self, index: usize, now: Instant) {
        let Some(router) = self.routers.get_mut(index) else {
            return;
        };
        let Some(entry) = self.ops.drains.get(&router.cfg.name) else {
            return;
        };
        if router.fsm().drain_mode() != Some(entry.mode()) {
            let bound = router.handover_bound();
            (router.fsm_mut(&mut self.schedule, index)).drain(now, entry.mode(), bound);
        }
    }

    pub(super) async fn on_command(&mut self, command: Command) {
        match command {
            Command::Status(reply) => {
                let _ = reply.send(self.status());
            }
            Command::Subscribe { snapshot, reply } => {
                let hello = Hello {
                    seq: self.ops.events.last_seq(),
                    status: snapshot.then(|| self.status()),
                };
                let _ = reply.send((hello, self.ops.events.subscribe()));
            }
            Command::Metrics(reply) => {
                let _ = reply.send(self.metrics_snapshot());
            }
            Command::Change {
                request,
                peer,
                reply,
            } => self.change_request(request, peer, reply),
        }
    }

    pub(super) fn change_request(
        &mut self,
        request: Request,
        peer: Peer,
        reply: oneshot::Sender<ChangeReply>,
    ) {
        let result = match request {
            // One drain file write at a time, in the order asked.
            Request::Drain { .. } | Request::Resume { .. } if self.ops.drain_write.is_some() => {
                self.ops.waiting_changes.push_back((request, peer, reply));
                return;
            }
            Request::Drain { target, mode } => {
                return self.drain_request(&target, mode, &peer, reply);
            }
            Request::Resume { target } => return self.resume_request(&target, &peer, reply),
            Request::Reload if self.stopping => refused("stopping: no reload"),
            // Answered once the file is read and applied (`finish_reload`).
            Request::Reload => {
                self.request_reload(peer.to_string(), Some(reply));
                return;
            }
            Request::Status | Request::Events { .. } => refused("not a change"),
        };
        let _ = reply.send(result);
    }

    /// Starts writing the drain file with `changes`, to apply `change` when it is written; a
    /// change that leaves the file as it is is applied at once.
    fn write_drains(
        &mut self,
        changes: &[(String, Option<DrainEntry>)],
        change: DrainChange,
        reply: oneshot::Sender<ChangeReply>,
    ) {
        let Some(next) = self.ops.drains.plan(changes) else {
            let _ = reply.send(self.apply_drain_change(change));
            return;
        };
        let task = tokio::task::spawn_blocking(self.ops.drains.writer(&next));
        self.ops.drain_write = Some(DrainWrite {
            task,
            next,
            change,
            reply,
        });
    }

    /// The drain file is written (or could not be): the change is applied (or refused) and
    /// answered, then the drains and resumes asked meanwhile are taken.
    pub(super) fn finish_drain_write(&mut self, written: Result<(), String>) {
        let Some(pending) = self.ops.drain_write.take() else {
            return;
        };
        let reply = match written {
            Ok(()) => {
                self.ops.drains.commit(pending.next);
                self.apply_drain_change(pending.change)
            }
            Err(e) => {
                let (what, by) = match &pending.change {
                    DrainChange::Drain { by, .. } => ("drain", by),
                    DrainChange::Resume { by, .. } => ("resume", by),
                };
                error!("{what} requested by {by} refused: {e}");
                refused(e)
            }
        };
        let _ = pending.reply.send(reply);
        while self.ops.drain_write.is_none() {
            let Some((request, peer, reply)) = self.ops.waiting_changes.pop_front() else {
                break;
            };
            self.change_request(request, peer, reply);
        }
    }

    fn apply_drain_change(&mut self, change: DrainChange) -> ChangeReply {
        match change {
            DrainChange::Drain { names, mode, by } => self.apply_drain(names, mode, by),
            DrainChange::Resume { names, by } => self.apply_resume(names, by),
        }
    }

    /// keepalived's operational signals other than stop and reload.
    pub(super) fn on_signal_step(&mut self, step: super::signals::Step) {
        use super::signals::Step;
        match step {
            Step::Dump(kind) => {
                if let Some(pending) = self.ops.dumps.begin(kind) {
                    let report = self.ops.dumps.needs_report().then(|| self.status());
                    self.ops.dumps.write(pending, report);
                }
            }
            Step::ClearStats => {
                let report = self.status();
                self.ops.dumps.clear_stats(report);
            }
            Step::Ignore(name) => info!("{name} ignored, as keepalived does"),
            Step::Stop(_) | Step::Reload => {}
        }
    }

    /// The answer to `vipd reload` for a reload's outcome (true: the configuration changed).
    pub(super) fn reload_reply(&self, result: &Result<bool, String>) -> ChangeReply {
        match result {
            Ok(changed) => ChangeReply {
                ok: true,
                message: if *changed {
                    "reloaded".into()
                } else {
                    "reload changed nothing".into()
                },
                instances: self.routers.iter().map(|r| r.cfg.name.clone()).collect(),
            },
            Err(e) => ChangeReply {
                ok: false,
                message: format!("reload refused, keeping the running configuration:\n{e}"),
                instances: Vec::new(),
            },
        }
    }

    /// After a reload: tell the event stream (`refused`: why the file was refused).
    pub(super) fn emit_reload(&mut self, by: &str, changed: bool, refused: Option<&str>) {
        self.ops.emit(EventKind::Reload {
            by: by.to_string(),
            changed,
            instances: self.routers.len(),
            refused: refused.map(|e| e.trim_end().replace('\n', "; ")),
        });
        self.ops.sd_status_dirty = true;
    }

    /// The instances a request names, with the other members of their sync groups (which
    /// move together); unknown names are an error.
    fn resolve_target(&self, target: &Target) -> Result<Vec<String>, String> {
        let configured: Vec<&String> = self.routers.iter().map(|r| &r.cfg.name).collect();
        let named = match target {
            Target::All => return Ok(configured.into_iter().cloned().collect()),
            Target::Instances(names) => names,
        };
        let unknown: Vec<&str> = named
            .iter()
            .filter(|n| !configured.contains(n))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            return Err(format!(
                "no such instance: {} (configured: {})",
                unknown.join(", "),
                configured
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let mut out: Vec<String> = Vec::new();
        for name in named {
            let mut members = vec![name.clone()];
            for group in &self.config.sync_groups {
                if group.instances.contains(name) {
                    members.extend(group.instances.iter().cloned());
                }
            }
            for member in members {
                if !out.contains(&member) && configured.contains(&&member) {
                    out.push(member);
                }
            }
        }
        Ok(out)
    }

    pub(super) fn drain_request(
        &mut self,
        target: &Target,
        mode: DrainMode,
        peer: &Peer,
        reply: oneshot::Sender<ChangeReply>,
    ) {
        let names = match self.resolve_target(target) {
            Ok(names) => names,
            Err(message) => {
                let _ = reply.send(refused(message));
                return;
            }
        };
        let by = peer.to_string();
        let changes: Vec<(String, Option<DrainEntry>)> = names
            .iter()
            .map(|name| (name.clone(), Some(DrainEntry::new(mode, by.clone()))))
            .collect();
        // Persisted first: a drain that would not survive a restart is refused.
        self.write_drains(&changes, DrainChange::Drain { names, mode, by }, reply);
    }

    fn apply_drain(&mut self, names: Vec<String>, mode: DrainMode, by: String) -> ChangeReply {
        let now = Instant::now();
        let mut lines = Vec::new();
        for name in &names {
            let found = (self.routers.iter_mut().enumerate()).find(|(_, r)| &r.cfg.name == name);
            let Some((index, router)) = found else {
                continue;
            };
            let state = router.fsm().state();
            let bound = router.handover_bound();
            router
                .fsm_mut(&mut self.schedule, index)
                .drain(now, mode, bound);
            let what = match state {
                State::Master => "handing over",
                State::Backup => "stays backup",
                State::Fault => "in FAULT, stays out when it clears",
                State::Initialize => "not running",
            };
            info!("{name}: drained ({mode}) by {by}: {what}");
            lines.push(format!("{name}: drained ({mode}), {what}"));
        }
        self.ops.emit(EventKind::Drain {
            instances: names.clone(),
            mode: mode.to_string(),
            by,
        });
        self.ops.sd_status_dirty = true;
        ChangeReply {
            ok: true,
            message: lines.join("\n"),
            instances: names,
        }
    }

    pub(super) fn resume_request(
        &mut self,
        target: &Target,
        peer: &Peer,
        reply: oneshot::Sender<ChangeReply>,
    ) {
        let mut names = match self.resolve_target(target) {
            Ok(names) => names,
            // A drain kept for an instance no longer configured can still be forgotten.
            Err(message) => match target {
                Target::Instances(named)
                    if named.iter().all(|n| {
                        self.ops.drains.get(n).is_some()
                            || self.routers.iter().any(|r| &r.cfg.name == n)
                    }) =>
                {
                    named.clone()
                }
                _ => {
                    let _ = reply.send(refused(message));
                    return;
                }
            },
        };
        if *target == Target::All {
            for name in self.ops.drains.names() {
                if !names.contains(name) {
                    names.push(name.clone());
                }
            }
        }
        let by = peer.to_string();
        let changes: Vec<(String, Option<DrainEntry>)> =
            names.iter().map(|name| (name.clone(), None)).collect();
        self.write_drains(&changes, DrainChange::Resume { names, by }, reply);
    }

    fn apply_resume(&mut self, names: Vec<String>, by: String) -> ChangeReply {
        let now = Instant::now();
        let mut lines = Vec::new();
        for name in &names {
            let found = (self.routers.iter_mut().enumerate()).find(|(_, r)| &r.cfg.name == name);
            let Some((index, router)) = found else {
                lines.push(format!("{name}: forgotten (not configured)"));
                continue;
            };
            if router.fsm().drain_mode().is_none() {
                lines.push(format!("{name}: was not drained"));
                continue;
            }
            router.fsm_mut(&mut self.schedule, index).resume(now);
            info!("{name}: resumed by {by}");
            lines.push(format!("{name}: resumed"));
        }
        self.ops.emit(EventKind::Resume {
            instances: names.clone(),
            by,
        });
        self.ops.sd_status_dirty = true;
        ChangeReply {
            ok: true,
            message: lines.join("\n"),
            instances: names,
        }
    }

    /// Bookkeeping of one state change, before its notification scripts are queued (the
    /// event stream and the scripts see the same order).
    pub(super) fn record_transition(
        &mut self,
        index: usize,
        from: State,
        to: State,
        reason: &Reason,
    ) {
        let Some(router) = self.routers.get_mut(index) else {
            return;
        };
        if to == State::Master {
            router.counters.became_master += 1;
        }
        if from == State::Master {
            router.counters.released_master += 1;
        }
        router.counters.last_transition_time = Some(SystemTime::now());
        router.counters.last_transition_code = Some(reason.code());
        let instance = router.cfg.name.clone();
        self.ops.emit(EventKind::State {
            instance,
            from: from.to_string(),
            to: to.to_string(),
            reason: reason.to_string(),
            reason_code: reason.code().to_string(),
        });
        self.ops.sd_status_dirty = true;
    }

    /// VIPs added to or removed from an instance's interfaces.
    pub(super) fn record_vips_of(
        &mut self,
        instance: &str,
        vips: &[crate::config::Vip],
        added: bool,
    ) {
        if vips.is_empty() {
            return;
        }
        let instance = instance.to_string();
        let vips = vips.iter().map(|v| v.to_string()).collect();
        self.ops.emit(if added {
            EventKind::VipsAdded { instance, vips }
        } else {
            EventKind::VipsRemoved { instance, vips }
        });
    }

    /// Adds what only the daemon knows to a status report.
    pub(super) fn complete_status(&self, report: &mut StatusReport) {
        report.version = env!("CARGO_PKG_VERSION").to_string();
        report.last_event = self.ops.events.last_seq();
        report.notify_fifos = self.fifos.stats();
        for instance in &mut report.instances {
            if let (Some(drained), Some(entry)) =
                (&mut instance.drained, self.ops.drains.get(&instance.name))
            {
                drained.since = entry.since;
                drained.by = entry.by.clone();
            }
        }
    }

    fn metrics_snapshot(&self) -> MetricsSnapshot {
        let control = &self.ops.control_stats;
        let http = &self.ops.http_stats;
        MetricsSnapshot {
            status: self.status(),
            check_latency: self.ops.check_latency.clone(),
            services: ServiceCounts {
                control_served: control.served.load(Ordering::Relaxed),
                control_refused: control.refused.load(Ordering::Relaxed),
                control_rejected: control.rejected.load(Ordering::Relaxed),
                control_busy: control.busy.load(Ordering::Relaxed),
                http_served: http.served.load(Ordering::Relaxed),
                http_rejected: http.rejected.load(Ordering::Relaxed),
                http_busy: http.busy.load(Ordering::Relaxed),
            },
        }
    }

    /// Sends systemd a new STATUS= line when states or drains changed.
    pub(super) fn update_systemd_status(&mut self) {
        if !self.ops.sd_status_dirty {
            return;
        }
        self.ops.sd_status_dirty = false;
        let line = self.status_line();
        if line != self.ops.sd_status {
            tell_systemd(&[sd_notify::NotifyState::Status(&line)]);
            self.ops.sd_status = line;
        }
    }

    /// One line: each instance's state for up to three instances, else counts per state.
    pub(super) fn status_line(&self) -> String {
        let drained = |r: &super::router::Router| match r.fsm().drain_mode() {
            Some(mode) => format!(" (drained {mode})"),
            None => String::new(),
        };
        if self.routers.len() <= 3 {
            let parts: Vec<String> = self
                .routers
                .iter()
                .map(|r| format!("{} {}{}", r.cfg.name, r.fsm().state(), drained(r)))
                .collect();
            return if parts.is_empty() {
                "no instances".into()
            } else {
                parts.join("; ")
            };
        }
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for router in &self.routers {
            *counts.entry(router.fsm().state().to_string()).or_default() += 1;
        }
        let mut line = format!(
            "{} instances: {}",
            self.routers.len(),
            counts
                .iter()
                .map(|(state, n)| format!("{n} {state}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let drained = self
            .routers
            .iter()
            .filter(|r| r.fsm().drain_mode().is_some())
            .count();
        if drained > 0 {
            line.push_str(&format!("; {drained} drained"));
        }
        line
    }
}

/// `global` without what only the operator surface uses (control group, metrics address):
/// changing those must not restart instances.
pub(super) fn protocol_global(global: &crate::config::Global) -> crate::config::Global {
    crate::config::Global {
        control_group: None,
        metrics_listen: None,
        // The notify FIFOs are opened again at every reload; they do not touch instances.
        notify_fifo: None,
        vrrp_notify_fifo: None,
        notify_priority_changes: false,
        fifo_write_states_on_reload: false,
        ..global.clone()
    }
}

impl Daemon {
    /// The control group and metrics address are set up at start; a reload says so when it
    /// would change them.
    pub(super) fn warn_about_unapplied_globals(&self, new: &crate::config::Global) {
        let old = &self.config.global;
        if new.control_group != old.control_group || new.metrics_listen != old.metrics_listen {
            warn!("control_group and metrics_listen changes take effect at the next start of vipd");
        }
    }
}

fn refused(message: impl Into<String>) -> ChangeReply {
    ChangeReply {
        ok: false,
        message: message.into(),
        instances: Vec::new(),
    }
}
