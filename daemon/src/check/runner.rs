//! Scheduler: one tokio task per check, each on its own interval (ms resolution). Every probe
//! result goes through the check's rise/fall state and is sent as a [`CheckEvent`]; a status
//! snapshot per check is kept for `vipd status`.
//!
//! An exec check whose program cannot run (missing, not executable, unsafe, unknown user) is
//! disabled, as keepalived does, instead of stopping vipd; unlike keepalived, vipd tries again
//! at every interval and enables it once it can run, so a script written after vipd started
//! (a Butane/Ignition file, a package installed later) is picked up.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::exec::PreparedExec;
use super::http::HttpProbe;
use super::process::ProcessProbe;
use super::state::{CheckState, Health, Transition};
use super::{exec, file, interface, tcp, validate, CheckKind, CheckSpec, ProbeResult};

/// One probe result of one check.
#[derive(Debug, Clone)]
pub struct CheckEvent {
    pub name: String,
    /// Set when this result changed the check's health.
    pub state_changed: Option<Transition>,
    /// Health after this result.
    pub health: Health,
    pub result: ProbeResult,
}

/// Status of one check for `vipd status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckSnapshot {
    pub name: String,
    /// "tcp", "http", "https", "file", "interface", "exec" or "process".
    pub kind: &'static str,
    pub health: Health,
    /// Why the check is disabled, or which script a native check replaces.
    pub note: Option<String>,
    pub runs: u64,
    pub last_ok: Option<bool>,
    pub last_detail: Option<String>,
    #[serde(serialize_with = "ser_opt_ms")]
    pub last_latency: Option<Duration>,
    #[serde(serialize_with = "ser_opt_time")]
    pub last_run: Option<SystemTime>,
    /// File checks: the last value read.
    pub last_value: Option<i64>,
    pub consecutive_ok: u32,
    pub consecutive_fail: u32,
}

fn ser_opt_ms<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&(d.as_secs_f64() * 1000.0)),
        None => s.serialize_none(),
    }
}

fn ser_opt_time<S: serde::Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t.and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok()) {
        Some(d) => s.serialize_some(&d.as_secs_f64()),
        None => s.serialize_none(),
    }
}

impl Serialize for Health {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An exec check and, once it can run, its prepared command.
struct ExecProber {
    name: String,
    argv: Vec<String>,
    user: Option<String>,
    group: Option<String>,
    prepared: Option<PreparedExec>,
}

impl ExecProber {
    /// Prepares the command if it is not yet; `Err` says why it cannot run.
    fn ready(&mut self) -> Result<&PreparedExec, String> {
        if self.prepared.is_none() {
            let prepared = exec::prepare(&self.argv, self.user.as_deref(), self.group.as_deref())?;
            if let Some(note) = &prepared.identity_note {
                tracing::warn!(check = %self.name, "{note}");
            }
            self.prepared = Some(prepared);
        }
        self.prepared
            .as_ref()
            .ok_or_else(|| "not prepared".to_string())
    }
}

/// A check ready to run: what can be set up once (TLS, the process matcher) is done here.
enum Prober {
    Tcp { host: String, port: u16 },
    Http(Box<HttpProbe>),
    File(file::FileProbe),
    Interface(String),
    Exec(Box<ExecProber>),
    Process(ProcessProbe),
}

/// What one run of a prober gives.
enum Run {
    Result(ProbeResult),
    /// The script cannot run; the reason.
    Disabled(String),
}

impl Prober {
    fn new(name: &str, kind: &CheckKind) -> Result<Self, String> {
        Ok(match kind {
            CheckKind::Tcp { host, port } => Prober::Tcp {
                host: host.clone(),
                port: *port,
            },
            CheckKind::Http {
                url,
                expect_status,
                insecure,
                host_header,
            } => Prober::Http(Box::new(HttpProbe::new(
                url.clone(),
                expect_status.clone(),
                *insecure,
                host_header.clone(),
            )?)),
            CheckKind::File { path } => Prober::File(file::FileProbe::new(path.clone())),
            CheckKind::Interface { name } => Prober::Interface(name.clone()),
            CheckKind::Exec { argv, user, group } => Prober::Exec(Box::new(ExecProber {
                name: name.to_string(),
                argv: argv.clone(),
                user: user.clone(),
                group: group.clone(),
                prepared: None,
            })),
            CheckKind::Process {
                matcher, quorum, ..
            } => Prober::Process(ProcessProbe {
                matcher: matcher.clone(),
                quorum: quorum.clone(),
            }),
        })
    }

    async fn run(&mut self, timeout: Duration) -> Run {
        Run::Result(match self {
            Prober::Tcp { host, port } => tcp::probe(host, *port, timeout).await,
            Prober::Http(p) => p.probe(timeout).await,
            Prober::File(p) => p.probe(timeout).await,
            Prober::Interface(name) => interface::probe(name),
            Prober::Exec(e) => match e.ready() {
                Ok(cmd) => exec::probe(cmd, timeout).await,
                Err(why) => return Run::Disabled(why),
            },
            Prober::Process(p) => p.probe().await,
        })
    }
}

/// The note `vipd status` shows for a check that is not disabled.
fn standing_note(spec: &CheckSpec) -> Option<String> {
    match &spec.kind {
        CheckKind::Process {
            replaces: Some(line),
            ..
        } => Some(format!("native process check for `{line}`")),
        _ => None,
    }
}

/// Runs health checks; see the module doc.
pub struct CheckRunner;

/// Events buffered before a slow consumer makes the check tasks wait.
const EVENT_QUEUE: usize = 1024;

type Snapshots = Arc<Mutex<BTreeMap<String, CheckSnapshot>>>;

fn lock(s: &Snapshots) -> MutexGuard<'_, BTreeMap<String, CheckSnapshot>> {
    // A poisoned lock only means a task panicked mid-update; the data is still usable.
    s.lock().unwrap_or_else(|p| p.into_inner())
}

impl CheckRunner {
    /// Validate and start every check (must be called inside a tokio runtime). Each check runs
    /// at once, then every `interval`; a probe that overruns delays the next run.
    pub fn spawn(
        specs: Vec<CheckSpec>,
    ) -> Result<(CheckRunnerHandle, mpsc::Receiver<CheckEvent>), String> {
        let mut seen = HashSet::new();
        let mut prepared = Vec::with_capacity(specs.len());
        for spec in specs {
            validate(&spec)?;
            if !seen.insert(spec.name.clone()) {
                return Err(format!("check {}: defined twice", spec.name));
            }
            let prober = Prober::new(&spec.name, &spec.kind)
                .map_err(|e| format!("check {}: {e}", spec.name))?;
            if let CheckKind::Process {
                replaces: Some(line),
                matcher,
                ..
            } = &spec.kind
            {
                tracing::info!(check = %spec.name, "`{line}` runs as a native process check ({matcher:?})");
            }
            prepared.push((spec, prober));
        }
        let snapshots: Snapshots = Arc::new(Mutex::new(BTreeMap::new()));
        let (tx, rx) = mpsc::channel(EVENT_QUEUE);
        let mut handle = CheckRunnerHandle {
            tasks: BTreeMap::new(),
            snapshots,
            tx,
        };
        for (spec, prober) in prepared {
            let state = CheckState::new(spec.rise, spec.fall, spec.init_fail);
            handle.start(spec, prober, state);
        }
        Ok((handle, rx))
    }
}

/// The part of a spec its running task uses: a change elsewhere (the default weight, which
/// the instances apply, or `init_fail`, which only matters at the start) keeps it running.
fn same_probe(a: &CheckSpec, b: &CheckSpec) -> bool {
    a.kind == b.kind
        && a.interval == b.interval
        && a.timeout == b.timeout
        && a.rise == b.rise
        && a.fall == b.fall
}

/// What a reload does to the running checks, prepared (and validated) before anything
/// changes so that a check that cannot run refuses the reload with nothing touched.
pub struct CheckReload {
    /// New or changed checks, ready to start.
    start: Vec<(CheckSpec, Prober)>,
    /// Unchanged checks (their spec, which may differ in weight or `init_fail`).
    keep: Vec<CheckSpec>,
}

/// What [`CheckRunnerHandle::apply_reload`] did, by check name.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CheckReloadSummary {
    pub kept: Vec<String>,
    /// Changed checks: started again from the health of their old definition.
    pub restarted: Vec<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

impl CheckReload {
    pub fn is_empty(&self) -> bool {
        self.start.is_empty() && self.keep.is_empty()
    }
}

async fn run_check(
    spec: CheckSpec,
    mut prober: Prober,
    mut state: CheckState,
    snapshots: Snapshots,
    tx: mpsc::Sender<CheckEvent>,
) {
    let mut ticker = tokio::time::interval(spec.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let before = state.health();
        let (result, note) = match prober.run(spec.timeout).await {
            Run::Disabled(why) => {
                if state.disable().is_some() {
                    tracing::warn!(check = %spec.name, "disabled: {why} (tried again every {:?})", spec.interval);
                }
                let note = Some(format!("disabled: {why}"));
                (ProbeResult::fail(Duration::ZERO, why), note)
            }
            Run::Result(result) => {
                if state.enable().is_some() {
                    tracing::info!(check = %spec.name, "enabled: its program can run now");
                }
                state.record(result.outcome());
                (result, standing_note(&spec))
            }
        };
        let health = state.health();
        let state_changed = (before != health).then_some(Transition {
            from: before,
            to: health,
        });
        if let Some(t) = state_changed {
            tracing::info!(check = %spec.name, from = %t.from, to = %t.to, detail = %result.detail, "check health changed");
        }
        if let Some(snap) = lock(&snapshots).get_mut(&spec.name) {
            snap.health = health;
            snap.note = note;
            snap.runs = snap.runs.saturating_add(1);
            snap.last_ok = Some(result.ok);
            snap.last_detail = Some(result.detail.clone());
            snap.last_latency = Some(result.latency);
            snap.last_run = Some(SystemTime::now());
            snap.last_value = result.value;
            snap.consecutive_ok = state.consecutive_ok();
            snap.consecutive_fail = state.consecutive_fail();
        }
        // A dropped receiver only stops the events; the snapshot keeps being updated.
        let _ = tx
            .send(CheckEvent {
                name: spec.name.clone(),
                state_changed,
                health,
                result,
            })
            .await;
    }
}

/// One running check: the definition its task runs with.
struct RunningCheck {
    spec: CheckSpec,
    task: JoinHandle<()>,
}

/// Owns the check tasks; dropping it stops them. The daemon runs them on its one thread, so
/// an aborted task never runs again.
pub struct CheckRunnerHandle {
    tasks: BTreeMap<String, RunningCheck>,
    snapshots: Snapshots,
    /// Where checks started by a reload send their events.
    tx: mpsc::Sender<CheckEvent>,
}

impl CheckRunnerHandle {
    fn start(&mut self, spec: CheckSpec, mut prober: Prober, mut state: CheckState) {
        // The old task goes first: it must not write its results over the new snapshot.
        if let Some(old) = self.tasks.remove(&spec.name) {
            old.task.abort();
        }
        let mut note = standing_note(&spec);
        if let Prober::Exec(e) = &mut prober {
            if let Err(why) = e.ready() {
                tracing::warn!(check = %spec.name, "disabled: {why} (tried again every {:?})", spec.interval);
                state.disable();
                note = Some(format!("disabled: {why}"));
            }
        }
        lock(&self.snapshots).insert(
            spec.name.clone(),
            CheckSnapshot {
                name: spec.name.clone(),
                kind: spec.kind.type_name(),
                health: state.health(),
                note,
                runs: 0,
                last_ok: None,
                last_detail: None,
                last_latency: None,
                last_run: None,
                last_value: None,
                consecutive_ok: 0,
                consecutive_fail: 0,
            },
        );
        let task = tokio::spawn(run_check(
            spec.clone(),
            prober,
            state,
            self.snapshots.clone(),
            self.tx.clone(),
        ));
        self.tasks
            .insert(spec.name.clone(), RunningCheck { spec, task });
    }

    /// Prepares a reload to `specs`: checks whose probe is unchanged keep running with their
    /// state; new and changed ones are validated and made ready here, and started by
    /// [`CheckRunnerHandle::apply_reload`].
    pub fn prepare_reload(&self, specs: Vec<CheckSpec>) -> Result<CheckReload, String> {
        let mut seen = HashSet::new();
        let mut plan = CheckReload {
            start: Vec::new(),
            keep: Vec::new(),
        };
        for spec in specs {
            if !seen.insert(spec.name.clone()) {
                return Err(format!("check {}: defined twice", spec.name));
            }
            match self.tasks.get(&spec.name) {
                Some(running) if running.spec == spec => plan.keep.push(spec),
                Some(running) if same_probe(&running.spec, &spec) => {
                    validate(&spec)?;
                    plan.keep.push(spec);
                }
                _ => {
                    validate(&spec)?;
                    let prober = Prober::new(&spec.name, &spec.kind)
                        .map_err(|e| format!("check {}: {e}", spec.name))?;
                    plan.start.push((spec, prober));
                }
            }
        }
        Ok(plan)
    }

    /// Carries out a prepared reload. A changed check starts from the health its old
    /// definition had reached ([`CheckState::resumed`]); removed checks stop.
    pub fn apply_reload(&mut self, plan: CheckReload) -> CheckReloadSummary {
        let mut summary = CheckReloadSummary::default();
        let wanted: HashSet<String> = (plan.keep.iter().map(|s| s.name.clone()))
            .chain(plan.start.iter().map(|(s, _)| s.name.clone()))
            .collect();
        let gone: Vec<String> = (self.tasks.keys())
            .filter(|name| !wanted.contains(*name))
            .cloned()
            .collect();
        for name in gone {
            if let Some(old) = self.tasks.remove(&name) {
                old.task.abort();
            }
            lock(&self.snapshots).remove(&name);
            summary.removed.push(name);
        }
        for spec in plan.keep {
            if let Some(running) = self.tasks.get_mut(&spec.name) {
                summary.kept.push(spec.name.clone());
                running.spec = spec;
            }
        }
        for (spec, prober) in plan.start {
            let file = matches!(spec.kind, super::CheckKind::File { .. });
            let previous = self
                .tasks
                .contains_key(&spec.name)
                .then(|| self.health(&spec.name));
            let state = match previous.flatten() {
                Some(health) => {
                    summary.restarted.push(spec.name.clone());
                    CheckState::resumed(spec.rise, spec.fall, spec.init_fail, health, file)
                }
                None => {
                    summary.added.push(spec.name.clone());
                    CheckState::new(spec.rise, spec.fall, spec.init_fail)
                }
            };
            self.start(spec, prober, state);
        }
        summary
    }

    /// Status of every check, sorted by name.
    pub fn snapshot(&self) -> Vec<CheckSnapshot> {
        lock(&self.snapshots).values().cloned().collect()
    }

    /// Status of one check.
    pub fn get(&self, name: &str) -> Option<CheckSnapshot> {
        lock(&self.snapshots).get(name).cloned()
    }

    /// Current health of one check.
    pub fn health(&self, name: &str) -> Option<Health> {
        lock(&self.snapshots).get(name).map(|s| s.health)
    }

    /// Stop all checks (running exec checks have their process group killed).
    pub fn stop(&mut self) {
        for (_, running) in std::mem::take(&mut self.tasks) {
            running.task.abort();
        }
    }
}

impl Drop for CheckRunnerHandle {
    fn drop(&mut self) {
        self.stop();
    }
}
