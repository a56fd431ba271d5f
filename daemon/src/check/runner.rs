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
        let mut tasks = Vec::with_capacity(prepared.len());
        for (spec, mut prober) in prepared {
            let mut state = CheckState::new(spec.rise, spec.fall, spec.init_fail);
            let mut note = standing_note(&spec);
            if let Prober::Exec(e) = &mut prober {
                if let Err(why) = e.ready() {
                    tracing::warn!(check = %spec.name, "disabled: {why} (tried again every {:?})", spec.interval);
                    state.disable();
                    note = Some(format!("disabled: {why}"));
                }
            }
            lock(&snapshots).insert(
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
            tasks.push(tokio::spawn(run_check(
                spec,
                prober,
                state,
                snapshots.clone(),
                tx.clone(),
            )));
        }
        Ok((CheckRunnerHandle { tasks, snapshots }, rx))
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

/// Owns the check tasks; dropping it stops them.
pub struct CheckRunnerHandle {
    tasks: Vec<JoinHandle<()>>,
    snapshots: Snapshots,
}

impl CheckRunnerHandle {
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
        for t in self.tasks.drain(..) {
            t.abort();
        }
    }
}

impl Drop for CheckRunnerHandle {
    fn drop(&mut self) {
        self.stop();
    }
}
