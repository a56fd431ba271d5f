//! keepalived-style notification scripts (`notify_master`, `notify_backup`, `notify_fault`,
//! `notify_stop`, `notify`), run one after another by a background task so that they arrive
//! in the order the transitions happened and never hold up the protocol. Each run is bounded
//! by a timeout (its process group is killed) and failures are logged.
//!
//! The queue is bounded by coalescing: each instance or sync group has at most one
//! transition waiting. A newer transition of the same instance replaces the waiting one
//! (counted as dropped) and goes to the end of the queue, so a flapping instance cannot grow
//! memory or push another instance's notification back, and the latest state of every
//! instance is always delivered, in transition order. Every transition gets a sequence
//! number (`VIPD_NOTIFY_SEQ` in the script's environment; increasing, with gaps where
//! transitions were coalesced).
//!
//! A script that cannot run (missing, unsafe, unknown user) is skipped with an error in the
//! log, and tried again at the next transition.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::check::exec::{self, Leftovers, PreparedExec};
use crate::config::{self, words};

/// Longest a notification may run before it is killed.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// Transitions waiting at most, whatever happens (coalescing keeps it at one per instance
/// and sync group; this only guards against a configuration with thousands of them).
pub const MAX_WAITING: usize = 1024;

/// What a state means to a notification script (keepalived's words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyState {
    Master,
    Backup,
    Fault,
    Stop,
    /// An instance removed by a reload, with `notify_deleted` (else it reports FAULT).
    Deleted,
    /// A master heard a lower-priority advert (`notify_master_rx_lower_pri`).
    MasterRxLowerPri,
}

impl NotifyState {
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyState::Master => "MASTER",
            NotifyState::Backup => "BACKUP",
            NotifyState::Fault => "FAULT",
            NotifyState::Stop => "STOP",
            NotifyState::Deleted => "DELETED",
            NotifyState::MasterRxLowerPri => "MASTER_RX_LOWER_PRI",
        }
    }
}

/// One script to run for a transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub argv: Vec<String>,
    pub user: Option<String>,
    pub group: Option<String>,
}

/// The user and group a notification script runs as: its own (`notify_* CMD USER
/// [GROUP]`), else `script_user`/`script_group`.
fn identity(
    script: &config::NotifyScript,
    global: &config::Global,
) -> (Option<String>, Option<String>) {
    match &script.user {
        Some(user) => (Some(user.clone()), script.group.clone()),
        None => (global.script_user.clone(), global.script_group.clone()),
    }
}

/// Splits and checks a script line: the program must exist and be safe to run (see
/// `check::exec`), as its user (default: script_user, else nobody when vipd is root).
pub fn prepare(
    script: &config::NotifyScript,
    global: &config::Global,
) -> Result<PreparedExec, String> {
    let argv = words::split(&script.command)?;
    let (user, group) = identity(script, global);
    exec::prepare(&argv, user.as_deref(), group.as_deref())
}

/// The scripts to run for one transition: the state's own script, then `notify` with
/// keepalived's four extra arguments (INSTANCE|GROUP, name, state, priority).
pub fn scripts_for(
    notify: &config::Notify,
    global: &config::Global,
    scope: &str,
    name: &str,
    state: NotifyState,
    priority: u8,
) -> Vec<Job> {
    let specific = match state {
        NotifyState::Master => &notify.master,
        NotifyState::Backup => &notify.backup,
        NotifyState::Fault => &notify.fault,
        NotifyState::Stop => &notify.stop,
        NotifyState::Deleted => &notify.deleted_script,
        // Runs alone, from `lower_priority_scripts`, never with `notify`.
        NotifyState::MasterRxLowerPri => return lower_priority_scripts(notify, global),
    };
    let job = |script: &config::NotifyScript, extra: &[String]| {
        let mut argv = words::split(&script.command).ok()?;
        argv.extend(extra.iter().cloned());
        let (user, group) = identity(script, global);
        Some(Job { argv, user, group })
    };
    let mut jobs = Vec::new();
    if let Some(j) = specific.as_ref().and_then(|s| job(s, &[])) {
        jobs.push(j);
    }
    let extra = [
        scope.to_string(),
        name.to_string(),
        state.as_str().to_string(),
        priority.to_string(),
    ];
    if let Some(j) = notify.any.as_ref().and_then(|s| job(s, &extra)) {
        jobs.push(j);
    }
    jobs
}

/// What an instance removed by a reload runs, as keepalived 2.2.7 does: `notify` with
/// `DELETED` and the `notify_deleted` script when that is set, else `notify` with `FAULT`
/// alone (not `notify_fault`, not `notify_stop`).
pub fn removal_scripts(
    notify: &config::Notify,
    global: &config::Global,
    name: &str,
    priority: u8,
) -> (NotifyState, Vec<Job>) {
    if notify.reports_deleted() {
        let jobs = scripts_for(
            notify,
            global,
            "INSTANCE",
            name,
            NotifyState::Deleted,
            priority,
        );
        return (NotifyState::Deleted, jobs);
    }
    let only_any = config::Notify {
        any: notify.any.clone(),
        ..Default::default()
    };
    let jobs = scripts_for(
        &only_any,
        global,
        "INSTANCE",
        name,
        NotifyState::Fault,
        priority,
    );
    (NotifyState::Fault, jobs)
}

/// The `notify_master_rx_lower_pri` script: keepalived runs it as written, with no extra
/// arguments, for every lower-priority advert its master hears.
pub fn lower_priority_scripts(notify: &config::Notify, global: &config::Global) -> Vec<Job> {
    let Some(script) = &notify.master_rx_lower_pri else {
        return Vec::new();
    };
    let Ok(argv) = words::split(&script.command) else {
        return Vec::new();
    };
    let (user, group) = identity(script, global);
    vec![Job { argv, user, group }]
}

/// Counters of the notification queue, for `vipd status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyStats {
    /// Transitions waiting now.
    pub waiting: u64,
    /// Transitions whose scripts were run.
    pub delivered: u64,
    /// Transitions replaced by a newer one of the same instance before they ran.
    pub dropped: u64,
    /// Sequence number of the last transition queued.
    pub last_seq: u64,
}

struct Waiting {
    seq: u64,
    /// `INSTANCE name` / `GROUP name`: one waiting transition per scope.
    scope: String,
    state: NotifyState,
    jobs: Vec<Job>,
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<Waiting>,
    stats: NotifyStats,
    closed: bool,
}

impl Queue {
    /// Queues a transition; see the module doc. Returns what it replaced, if anything.
    fn push(&mut self, scope: &str, state: NotifyState, jobs: Vec<Job>) -> Option<Waiting> {
        self.stats.last_seq += 1;
        let seq = self.stats.last_seq;
        let replaced = self
            .waiting
            .iter()
            .position(|w| w.scope == scope)
            .and_then(|i| self.waiting.remove(i));
        if replaced.is_some() {
            self.stats.dropped += 1;
        }
        if self.waiting.len() >= MAX_WAITING {
            self.waiting.pop_front();
            self.stats.dropped += 1;
        }
        self.waiting.push_back(Waiting {
            seq,
            scope: scope.to_string(),
            state,
            jobs,
        });
        self.stats.waiting = self.waiting.len() as u64;
        replaced
    }

    fn pop(&mut self) -> Option<Waiting> {
        let next = self.waiting.pop_front();
        self.stats.waiting = self.waiting.len() as u64;
        next
    }
}

type Shared = Arc<(Mutex<Queue>, tokio::sync::Notify)>;

fn lock(shared: &Shared) -> MutexGuard<'_, Queue> {
    // A poisoned lock only means a task panicked mid-update; the queue is still usable.
    shared.0.lock().unwrap_or_else(|p| p.into_inner())
}

/// Queue of notifications, run in order by one background task.
pub struct Notifier {
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Notifier {
    /// Starts the background task (inside a tokio runtime).
    pub fn spawn(timeout: Duration) -> Notifier {
        let shared: Shared = Arc::new((Mutex::new(Queue::default()), tokio::sync::Notify::new()));
        let worker = shared.clone();
        let task = tokio::spawn(async move {
            loop {
                let next = {
                    let mut q = lock(&worker);
                    match q.pop() {
                        Some(next) => Some(next),
                        None if q.closed => return,
                        None => None,
                    }
                };
                let Some(transition) = next else {
                    worker.1.notified().await;
                    continue;
                };
                run_transition(&transition, timeout).await;
                lock(&worker).stats.delivered += 1;
            }
        });
        Notifier { shared, task }
    }

    /// Queues the scripts of one transition of `scope` (`INSTANCE name`, `GROUP name`).
    pub fn notify(&self, scope: &str, state: NotifyState, jobs: Vec<Job>) {
        if jobs.is_empty() {
            return;
        }
        let replaced = lock(&self.shared).push(scope, state, jobs);
        if let Some(old) = replaced {
            tracing::info!(
                "notify {scope}: {} (#{}) superseded before it ran; {} is queued",
                old.state.as_str(),
                old.seq,
                state.as_str()
            );
        }
        self.shared.1.notify_one();
    }

    pub fn stats(&self) -> NotifyStats {
        lock(&self.shared).stats
    }

    /// Runs what is still queued (notify_stop at shutdown), waiting at most `bound`: the
    /// task dies with the runtime, so without this the last notifications are lost.
    pub async fn finish(self, bound: Duration) {
        let Notifier { shared, task } = self;
        lock(&shared).closed = true;
        shared.1.notify_one();
        if tokio::time::timeout(bound, task).await.is_err() {
            tracing::warn!("notifications still running after {bound:?}: abandoned");
        }
    }
}

async fn run_transition(transition: &Waiting, timeout: Duration) {
    let seq = [("VIPD_NOTIFY_SEQ".to_string(), transition.seq.to_string())];
    for job in &transition.jobs {
        let line = job.argv.join(" ");
        let prepared = match exec::prepare(&job.argv, job.user.as_deref(), job.group.as_deref()) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!("notify `{line}` not run: {e}");
                continue;
            }
        };
        let result = exec::run(&prepared, timeout, Leftovers::Keep, &seq).await;
        if result.ok {
            tracing::debug!("notify #{} `{line}`: {}", transition.seq, result.detail);
        } else {
            tracing::warn!(
                "notify #{} `{line}` failed: {}",
                transition.seq,
                result.detail
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(x: &str) -> Vec<Job> {
        vec![Job {
            argv: vec![x.to_string()],
            user: None,
            group: None,
        }]
    }

    #[test]
    fn notify_gets_keepalived_arguments_after_the_specific_script() {
        let notify = config::Notify {
            master: Some("/usr/local/bin/up.sh 'a b'".into()),
            any: Some(config::NotifyScript {
                command: "/usr/local/bin/all.sh --x".into(),
                user: Some("root".into()),
                group: None,
            }),
            ..Default::default()
        };
        let global = config::Global {
            script_user: Some("keepalived_script".into()),
            script_group: Some("kgroup".into()),
            ..Default::default()
        };
        let jobs = scripts_for(
            &notify,
            &global,
            "INSTANCE",
            "VI_1",
            NotifyState::Master,
            150,
        );
        assert_eq!(jobs.len(), 2);
        assert_eq!(
            jobs[0].argv,
            vec!["/usr/local/bin/up.sh".to_string(), "a b".to_string()]
        );
        assert_eq!(jobs[0].user.as_deref(), Some("keepalived_script"));
        assert_eq!(jobs[0].group.as_deref(), Some("kgroup"));
        assert_eq!(
            jobs[1].argv,
            [
                "/usr/local/bin/all.sh",
                "--x",
                "INSTANCE",
                "VI_1",
                "MASTER",
                "150"
            ]
            .map(String::from)
            .to_vec()
        );
        // Its own user replaces script_user and script_group.
        assert_eq!(jobs[1].user.as_deref(), Some("root"));
        assert_eq!(jobs[1].group, None);
        let jobs = scripts_for(&notify, &global, "GROUP", "G", NotifyState::Fault, 0);
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].argv[4], "FAULT");
    }

    #[test]
    fn removal_reports_fault_to_notify_alone_or_deleted_with_its_script() {
        let global = config::Global::default();
        let mut notify = config::Notify {
            fault: Some("/bin/fault".into()),
            stop: Some("/bin/stop".into()),
            any: Some("/bin/any".into()),
            ..Default::default()
        };
        // keepalived 2.2.7 without notify_deleted: `notify ... FAULT`, not notify_fault.
        let (state, jobs) = removal_scripts(&notify, &global, "B", 100);
        assert_eq!(state, NotifyState::Fault);
        let argv: Vec<Vec<String>> = jobs.into_iter().map(|j| j.argv).collect();
        assert_eq!(
            argv,
            vec![["/bin/any", "INSTANCE", "B", "FAULT", "100"]
                .map(String::from)
                .to_vec()]
        );
        notify.deleted = true;
        let (state, jobs) = removal_scripts(&notify, &global, "B", 100);
        assert_eq!(state, NotifyState::Deleted);
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].argv[3], "DELETED");
        notify.deleted = false;
        notify.deleted_script = Some("/bin/gone x".into());
        let (state, jobs) = removal_scripts(&notify, &global, "B", 100);
        assert_eq!(state, NotifyState::Deleted);
        assert_eq!(jobs[0].argv, ["/bin/gone", "x"].map(String::from).to_vec());
        assert_eq!(jobs[1].argv[3], "DELETED");
    }

    #[test]
    fn master_rx_lower_pri_runs_alone_without_extra_arguments() {
        let global = config::Global {
            script_user: Some("keepalived_script".into()),
            ..Default::default()
        };
        let mut notify = config::Notify {
            any: Some("/bin/any".into()),
            ..Default::default()
        };
        assert!(lower_priority_scripts(&notify, &global).is_empty());
        notify.master_rx_lower_pri = Some("/bin/lower 'a b'".into());
        let jobs = lower_priority_scripts(&notify, &global);
        assert_eq!(jobs.len(), 1);
        assert_eq!(
            jobs[0].argv,
            ["/bin/lower", "a b"].map(String::from).to_vec()
        );
        assert_eq!(jobs[0].user.as_deref(), Some("keepalived_script"));
    }

    #[test]
    fn queue_keeps_one_transition_per_instance_latest_last() {
        let mut q = Queue::default();
        assert!(q
            .push("INSTANCE a", NotifyState::Master, job("1"))
            .is_none());
        assert!(q
            .push("INSTANCE b", NotifyState::Master, job("2"))
            .is_none());
        // a flaps: its waiting MASTER is replaced, the newest goes last.
        let old = q.push("INSTANCE a", NotifyState::Backup, job("3")).unwrap();
        assert_eq!((old.seq, old.state), (1, NotifyState::Master));
        q.push("INSTANCE a", NotifyState::Master, job("4"));
        assert_eq!(q.stats.dropped, 2);
        assert_eq!(q.stats.waiting, 2);
        let order: Vec<(String, NotifyState, u64)> = std::iter::from_fn(|| q.pop())
            .map(|w| (w.scope, w.state, w.seq))
            .collect();
        assert_eq!(
            order,
            vec![
                ("INSTANCE b".to_string(), NotifyState::Master, 2),
                ("INSTANCE a".to_string(), NotifyState::Master, 4)
            ]
        );
    }

    #[test]
    fn a_flood_of_lower_priority_adverts_keeps_one_run_waiting_per_instance() {
        let mut q = Queue::default();
        q.push("INSTANCE a", NotifyState::Master, job("m"));
        for _ in 0..10_000 {
            q.push(
                "MASTER_RX_LOWER_PRI a",
                NotifyState::MasterRxLowerPri,
                job("lower"),
            );
        }
        q.push("INSTANCE b", NotifyState::Backup, job("b"));
        // The transition of `a` queued first is still there and runs first.
        let order: Vec<String> = std::iter::from_fn(|| q.pop()).map(|w| w.scope).collect();
        assert_eq!(
            order,
            ["INSTANCE a", "MASTER_RX_LOWER_PRI a", "INSTANCE b"].map(String::from)
        );
    }

    #[test]
    fn flapping_never_grows_the_queue() {
        let mut q = Queue::default();
        for i in 0..100_000u32 {
            let state = if i % 2 == 0 {
                NotifyState::Master
            } else {
                NotifyState::Backup
            };
            q.push(&format!("INSTANCE i{}", i % 3), state, job("x"));
        }
        assert_eq!(q.waiting.len(), 3);
        assert_eq!(q.stats.dropped, 100_000 - 3);
        assert_eq!(q.stats.last_seq, 100_000);
        // Every instance's latest transition is there.
        let last: Vec<u64> = q.waiting.iter().map(|w| w.seq).collect();
        assert_eq!(last, vec![99_998, 99_999, 100_000]);
    }
}
