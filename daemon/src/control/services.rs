//! The control socket and the metrics endpoint run on a thread of their own, with their own
//! tokio runtime and a lower CPU priority than the event loop (normal scheduling at nice 10,
//! also when vipd runs with a real-time policy): however many clients connect and whatever
//! they send, their work never holds the event loop's thread and yields the CPU to it. They
//! reach the loop only through the bounded command channel ([`Command`]).

use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot};

use super::access::AccessPolicy;
use super::http::{self, HttpStats};
use super::server::{self, Command, ControlStats};

/// What the service thread serves.
pub struct ServiceConfig {
    pub control: std::os::unix::net::UnixListener,
    pub policy: AccessPolicy,
    pub control_stats: Arc<ControlStats>,
    pub metrics: Option<std::net::TcpListener>,
    pub http_stats: Arc<HttpStats>,
    pub commands: mpsc::Sender<Command>,
}

/// The running service thread; stopped (and joined) when dropped.
pub struct Services {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Services {
    /// Starts serving; returns once both listeners are registered (or with the error).
    pub fn start(config: ServiceConfig) -> Result<Services, String> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("vipd-control".into())
            .spawn(move || {
                lower_own_priority();
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("control runtime: {e}")));
                        return;
                    }
                };
                runtime.block_on(serve(config, ready_tx, stop_rx));
            })
            .map_err(|e| format!("cannot start the control thread: {e}"))?;
        let services = Services {
            stop: Some(stop_tx),
            thread: Some(thread),
        };
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(services),
            Ok(Err(e)) => Err(e),
            Err(_) => Err("the control thread ended during start-up".into()),
        }
    }
}

/// Moves the calling thread to normal scheduling at nice 10. Best effort: a seccomp filter
/// (the shipped unit's `~@resources`) may refuse it, which only leaves the thread at the
/// process's own priority.
fn lower_own_priority() {
    // SAFETY: sched_param is plain data (musl's has more fields than glibc's), for which all
    // zeros is valid and means priority 0. Both calls take plain values and a pointer to a
    // live local; pid/who 0 is the calling thread on Linux, so nothing else is affected.
    let param: libc::sched_param = unsafe { std::mem::zeroed() };
    unsafe {
        if libc::sched_getscheduler(0) != libc::SCHED_OTHER {
            libc::sched_setscheduler(0, libc::SCHED_OTHER, &param);
        }
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
}

async fn serve(
    config: ServiceConfig,
    ready: std::sync::mpsc::Sender<Result<(), String>>,
    stop: oneshot::Receiver<()>,
) {
    let started = (|| {
        let control = server::spawn(
            config.control,
            config.policy,
            config.commands.clone(),
            config.control_stats,
        )?;
        let metrics = config
            .metrics
            .map(|listener| http::spawn(listener, config.commands, config.http_stats))
            .transpose()?;
        Ok::<_, String>((control, metrics))
    })();
    let (control, metrics) = match started {
        Ok(tasks) => tasks,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    // Until the daemon stops (or goes away).
    let _ = stop.await;
    control.abort();
    if let Some(metrics) = metrics {
        metrics.abort();
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
