//! keepalived-style notification scripts (`notify_master`, `notify_backup`, `notify_fault`,
//! `notify_stop`, `notify`), run one after another by a background task so that they arrive
//! in the order the transitions happened and never hold up the protocol. Each run is bounded
//! by a timeout (its process group is killed) and failures are logged.

use std::time::Duration;

use tokio::sync::mpsc;

use crate::check::exec::{self, PreparedExec};
use crate::config::{self, words};

/// Longest a notification may run before it is killed.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// What a state means to a notification script (keepalived's words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyState {
    Master,
    Backup,
    Fault,
    Stop,
}

impl NotifyState {
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyState::Master => "MASTER",
            NotifyState::Backup => "BACKUP",
            NotifyState::Fault => "FAULT",
            NotifyState::Stop => "STOP",
        }
    }
}

/// Splits and checks a script line: the program must exist and be safe to run (see
/// `check::exec`), as the configured `script_user` (default: nobody when vipd is root).
pub fn prepare(script: &str, global: &config::Global) -> Result<PreparedExec, String> {
    let argv = words::split(script)?;
    exec::prepare(&argv, global.script_user.as_deref())
}

/// The command lines to run for one transition: the state's own script, then `notify` with
/// keepalived's four extra arguments (INSTANCE|GROUP, name, state, priority).
pub fn scripts_for(
    notify: &config::Notify,
    scope: &str,
    name: &str,
    state: NotifyState,
    priority: u8,
) -> Vec<Vec<String>> {
    let specific = match state {
        NotifyState::Master => &notify.master,
        NotifyState::Backup => &notify.backup,
        NotifyState::Fault => &notify.fault,
        NotifyState::Stop => &notify.stop,
    };
    let mut lines = Vec::new();
    if let Some(argv) = specific.as_deref().and_then(|s| words::split(s).ok()) {
        lines.push(argv);
    }
    if let Some(mut argv) = notify.any.as_deref().and_then(|s| words::split(s).ok()) {
        argv.extend([
            scope.to_string(),
            name.to_string(),
            state.as_str().to_string(),
            priority.to_string(),
        ]);
        lines.push(argv);
    }
    lines
}

struct Job {
    argv: Vec<String>,
    user: Option<String>,
}

/// Queue of notifications, run in order by one background task.
pub struct Notifier {
    tx: mpsc::UnboundedSender<Job>,
    task: tokio::task::JoinHandle<()>,
}

impl Notifier {
    /// Starts the background task (inside a tokio runtime).
    pub fn spawn(timeout: Duration) -> Notifier {
        let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
        let task = tokio::spawn(async move {
            while let Some(job) = rx.recv().await {
                let line = job.argv.join(" ");
                let prepared = match exec::prepare(&job.argv, job.user.as_deref()) {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::error!("notify `{line}` not run: {e}");
                        continue;
                    }
                };
                let result = exec::probe(&prepared, timeout).await;
                if result.ok {
                    tracing::debug!("notify `{line}`: {}", result.detail);
                } else {
                    tracing::warn!("notify `{line}` failed: {}", result.detail);
                }
            }
        });
        Notifier { tx, task }
    }

    /// Runs what is still queued (notify_stop at shutdown), waiting at most `bound`: the
    /// task dies with the runtime, so without this the last notifications are lost.
    pub async fn finish(self, bound: Duration) {
        let Notifier { tx, task } = self;
        drop(tx);
        if tokio::time::timeout(bound, task).await.is_err() {
            tracing::warn!("notifications still running after {bound:?}: abandoned");
        }
    }

    pub fn run(&self, argv: Vec<String>, user: Option<String>) {
        if self.tx.send(Job { argv, user }).is_err() {
            tracing::warn!("notification task is gone; notification dropped");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_gets_keepalived_arguments_after_the_specific_script() {
        let notify = config::Notify {
            master: Some("/usr/local/bin/up.sh 'a b'".into()),
            any: Some("/usr/local/bin/all.sh --x".into()),
            ..Default::default()
        };
        let lines = scripts_for(&notify, "INSTANCE", "VI_1", NotifyState::Master, 150);
        assert_eq!(
            lines,
            vec![
                vec!["/usr/local/bin/up.sh".to_string(), "a b".to_string()],
                [
                    "/usr/local/bin/all.sh",
                    "--x",
                    "INSTANCE",
                    "VI_1",
                    "MASTER",
                    "150"
                ]
                .map(String::from)
                .to_vec(),
            ]
        );
        let lines = scripts_for(&notify, "GROUP", "G", NotifyState::Fault, 0);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0][4], "FAULT");
    }
}
