//! The daemon: one tokio task that owns every instance and turns events (packets, timers,
//! netlink notifications, signals, status requests) into calls on the protocol core, then
//! carries out the actions the core hands back. Sockets feed it through a channel, so no
//! state is shared and nothing needs a lock.

mod addresses;
mod ah_marks;
mod deadline;
mod dumps;
mod forward;
mod health;
mod log_output;
#[cfg(test)]
mod marking_tests;
mod ops;
mod outbox;
mod promote;
mod receive;
mod reload;
mod resync;
mod router;
mod routes;
mod schedule;
mod signals;
mod source_watch;
mod sync_index;
mod tasks;
mod vip_jobs;
mod vip_state;
mod vmac;
#[cfg(test)]
mod wake_tests;

pub use ops::RunOptions;
pub use signals::{SIG_JSON, SIG_STATS_CLEAR};

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::check::{CheckEvent, CheckRunnerHandle};
use crate::config::{self, Config};
use crate::control::StatusReport;
use crate::net::announce::{AnnouncePacer, Announcer};
use crate::net::monitor::{Monitor, NetEvent};
use crate::net::netlink::Netlink;
use crate::net::socket::{ReceiveBatch, ReceivedRef, VrrpSocket};
use crate::services::notify::{self, Notifier, NotifyState};
use crate::vrrp::accept;
use crate::vrrp::instance::{Action, AnnounceCause, Reason, ReceivedAdvert, State};
use crate::vrrp::packet::{self, DropReason};
use addresses::add_vip;
pub use addresses::{check_own_address_problems, own_address_problems};
use receive::{Reads, SocketReader};
use router::{Router, SocketKey};
use tasks::{next_check_event, sleep, spawn_monitor, tell_systemd, tokio_deadline_after};
use vip_state::VipState;

/// At most this many reads of every socket (each up to its budget of datagrams) before a
/// due Master_Down timer is acted on: bounded, so that a flood cannot hold the timers up for
/// long.
const PENDING_ADVERT_ROUNDS: usize = 32;

/// Why [`run`] failed: one printable message, and whether it was a file the configuration
/// names that is missing (keepalived's command line exits 6 on that, not 1).
#[derive(Debug)]
pub struct RunError {
    pub message: String,
    pub missing_file: bool,
}

impl From<String> for RunError {
    fn from(message: String) -> RunError {
        RunError {
            message,
            missing_file: false,
        }
    }
}

/// Runs the daemon until SIGTERM/SIGINT. Errors are start-up failures (bad config, no
/// netlink, socket in use) and come back as one printable message.
pub fn run(options: RunOptions) -> Result<(), RunError> {
    // First, while this is the only thread: keepalived without `-n`. The parent waits until
    // the daemon is up (or has failed) and exits with that.
    if options.daemonize {
        crate::pidfile::fork_to_background()?;
    }
    let result = run_logged(options);
    // The lines still queued (see `log_output`) go out before the process ends.
    log_output::flush_at_exit();
    result
}

fn run_logged(options: RunOptions) -> Result<(), RunError> {
    let config_path = options.config.clone();
    let read_options = options.read_options.clone();
    init_logging();
    let refused = |e: config::ConfigErrors| RunError {
        message: e.to_string().trim_end().to_string(),
        missing_file: e.missing_file(),
    };
    let (path, mut loaded) = match &config_path {
        Some(path) => config::read(path, &read_options)
            .map(|loaded| (path.clone(), loaded))
            .map_err(refused)?,
        None => config::read_default(&read_options).map_err(refused)?,
    };
    log_config_warnings(&loaded.warnings);
    // `keepalived -s NAME`.
    if let Some(name) = &options.net_namespace {
        if let Some(configured) = &loaded.config.global.net_namespace {
            info!("net_namespace {configured} overridden by the command line: {name}");
        }
        loaded.config.global.net_namespace = Some(name.clone());
    }
    // Before the runtime starts its threads and before any socket: they all live in the
    // namespace entered here.
    if let Some(name) = &loaded.config.global.net_namespace {
        crate::net::namespace::enter(name)?;
        info!("running in network namespace {name}");
    }
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        let missing = missing_capabilities(&status);
        if !missing.is_empty() {
            return Err(format!(
                "vipd run needs CAP_NET_ADMIN and CAP_NET_RAW (this process lacks {}): run it \
                 as root or under the shipped vipd.service (`vipd check` needs neither)",
                missing.join(" and ")
            )
            .into());
        }
    }
    // Before anything is bound: a second daemon stops here with the pid file's word for it.
    // Removed when this returns (a clean stop or a failed start).
    // keepalived's command line: where keepalived 2.2.7 would put them for this file.
    let mut pid_files = options.pid_files.clone();
    let mut pid_dirs = Vec::new();
    if let Some(keepalived) = &options.keepalived_pid_files {
        let namespace = loaded.config.global.net_namespace.as_deref();
        let located = keepalived.locate(namespace, &loaded.pid_dir);
        pid_files.extend(located.files);
        pid_dirs = located.dirs;
    }
    let _pid_files = match pid_files.as_slice() {
        [] => None,
        paths => {
            let (held, notes) = crate::pidfile::PidFiles::create_in(&pid_dirs, paths)?;
            for note in notes {
                warn!("{note}");
            }
            Some(held)
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let mut daemon = Daemon::new(path, loaded.config, options)?;
        daemon.read_options = read_options;
        daemon.serve().await
    })?;
    Ok(())
}

/// The capabilities `vipd run` cannot work without (CAP_NET_ADMIN: addresses, routes, VMACs,
/// nftables; CAP_NET_RAW: VRRP sockets, gratuitous ARP / NA) that the effective set of
/// `/proc/self/status` text lacks. Without them every instance would sit in FAULT: refused at
/// start instead.
fn missing_capabilities(status: &str) -> Vec<&'static str> {
    const NEEDED: [(u32, &str); 2] = [(12, "CAP_NET_ADMIN"), (13, "CAP_NET_RAW")];
    let effective = status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok());
    match effective {
        // No readable line: nothing to judge by (the sockets will say what is wrong).
        None => Vec::new(),
        Some(set) => NEEDED
            .iter()
            .filter(|(bit, _)| set & (1u64 << bit) == 0)
            .map(|(_, name)| *name)
            .collect(),
    }
}

/// Warnings never stop the daemon; they are logged once per (re)load.
fn log_config_warnings(warnings: &[config::ConfigWarning]) {
    for warning in warnings {
        warn!("{warning}");
    }
}

/// `VIPD_LOG`: a level (`debug`) or `target=level` directives (`vipd=debug,info`), as
/// `tracing_subscriber`'s `Targets` parses them; anything else means `info`. (`Targets`
/// rather than `EnvFilter`, whose regular expressions were a tenth of the binary.)
fn init_logging() {
    let filter = std::env::var("VIPD_LOG")
        .ok()
        .and_then(|text| text.parse::<tracing_subscriber::filter::Targets>().ok())
        .unwrap_or_else(|| {
            tracing_subscriber::filter::Targets::new()
                .with_default(tracing_subscriber::filter::LevelFilter::INFO)
        });
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    // Through a thread of its own: a log output nobody reads must not stop the event loop.
    let writer = match log_output::stderr() {
        Ok(output) => tracing_subscriber::fmt::writer::BoxMakeWriter::new(output),
        Err(_) => tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::io::stderr),
    };
    let lines = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_target(false)
        .with_ansi(false);
    let registry = tracing_subscriber::registry().with(filter);
    // journald adds its own timestamps.
    let result = if std::env::var_os("JOURNAL_STREAM").is_some() {
        registry.with(lines.without_time()).try_init()
    } else {
        registry.with(lines).try_init()
    };
    drop(result);
}

enum Event {
    Net(NetEvent),
}

struct OpenSocket {
    socket: Arc<VrrpSocket>,
    /// The socket's VRID filter, drop counters and read state (the event loop reads it).
    reader: SocketReader,
}

/// Per VRID of one socket: the instance's index in `Daemon::routers` (`u32::MAX`: none
/// found yet) and the schedule's generation it was last found in (see
/// `Daemon::router_index`).
type VridSlots = [(u32, u64); 256];

/// Ready when the reactor has seen one of `sockets` readable (one not left alone after
/// errors); registers the loop to be woken when one becomes so.
fn sockets_readable(
    sockets: &BTreeMap<SocketKey, OpenSocket>,
) -> impl std::future::Future<Output = ()> + '_ {
    std::future::poll_fn(move |cx| {
        let mut ready = false;
        for open in sockets.values() {
            let paused = open.reader.paused_until().is_some();
            // Every socket is polled: each registers the waker.
            ready |= !paused && open.socket.poll_readable(cx).is_ready();
        }
        if ready {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
}

struct Daemon {
    config_path: PathBuf,
    /// How the file is read again on SIGHUP (keepalived's config id).
    read_options: config::ReadOptions,
    /// `keepalived -s NAME`: the namespace the file read again is taken to name.
    net_namespace_override: Option<String>,
    /// Instances take part in VRRP from this moment on (keepalived `vrrp_startup_delay`);
    /// `None` once they have started.
    start_at: Option<Instant>,
    config: Config,
    socket_path: PathBuf,
    routers: Vec<Router>,
    sockets: BTreeMap<SocketKey, OpenSocket>,
    /// Counts the sockets opened and closed: a socket an instance remembered (see
    /// `Router::socket_memo`) is the open one while this has not moved.
    sockets_generation: u64,
    netlink: Netlink,
    announcer: Option<Announcer>,
    /// Gratuitous ARPs / NAs waiting for their turn on their interface.
    pacer: AnnouncePacer,
    events_tx: mpsc::Sender<Event>,
    /// The buffers every socket is read into, one after the other (taken while in use).
    receive_batch: Option<Box<ReceiveBatch>>,
    events_rx: mpsc::Receiver<Event>,
    stopping: bool,
    checks: Option<CheckRunnerHandle>,
    check_events: Option<mpsc::Receiver<CheckEvent>>,
    /// Link state of every tracked interface (`track_interface`).
    tracked_links: BTreeMap<String, bool>,
    notifier: Option<Notifier>,
    /// keepalived's notify FIFOs (`notify_fifo`, `vrrp_notify_fifo`).
    fifos: crate::services::notify_fifo::NotifyFifos,
    /// Last state notified per sync group.
    group_states: BTreeMap<String, NotifyState>,
    /// Control socket, drains, events, metrics.
    ops: ops::Ops,
    /// The addresses vipd added, on disk in the state directory.
    vip_state: VipState,
    /// High-water marks of the AH sequence counters, kept across restarts.
    ah_marks: ah_marks::AhMarks,
    /// VIPs of instances being added or removed, a slice per turn.
    vip_jobs: vip_jobs::VipJobs,
    /// Route and rule deletions are watched (once some instance has virtual routes/rules).
    watching_routing: bool,
    /// Interfaces whose ARP settings vipd changed for VMACs on them.
    vmac_parents: vmac::ParentClaims,
    /// Interfaces vipd set `promote_secondaries` on, with the values to restore at exit.
    promoted: promote::Promoted,
    /// vipd's nftables table: the forwards of instances that hold their VIPs.
    forwards: forward::Forwards,
    /// Where to find the instance of a (socket, VRID) in `routers`, and the schedule's
    /// generation it was last found in, see `router_index`.
    router_slots: Vec<(SocketKey, Box<VridSlots>)>,
    /// Which instances the loop has to look at after a wake-up (deadlines, actions).
    schedule: schedule::Schedule,
    /// Sync group members by router index (`mark_sync_members` rebuilds it).
    sync_index: sync_index::SyncIndex,
    /// The source addresses of our own adverts, as of a [`schedule::Schedule::generation`].
    own_sources: (u64, Vec<IpAddr>),
    /// While many instances are attached in one go: what they look up of their interfaces.
    attach_memo: Option<AttachMemo>,
    /// The links as announcements last read them (whether and where each VIP is announced),
    /// until netlink reports a link change: 510 instances taking over read them once, not
    /// once each (a 150 ms stall of every advert at 510 instances).
    announce_links: Option<Vec<crate::net::link::LinkDetails>>,
    /// Adverts asked for in this turn, sent together before any other action.
    outbox: outbox::Outbox,
    /// A reload whose file is being read.
    reloading: Option<reload::PendingReload>,
    /// Where each received advert is parsed (its address list's allocation reused).
    rx_advert: packet::Advertisement,
}

/// Netlink answers shared by the instances attached in one go (at start, on a reload, when
/// their interface changes): 510 instances on one interface asked the same three questions
/// each, which was most of the time to READY=1.
#[derive(Default)]
struct AttachMemo {
    links: Vec<(String, Option<crate::net::netlink::LinkInfo>)>,
    sources: Vec<(SocketKey, Option<IpAddr>)>,
    on_link: Vec<(u32, Vec<crate::net::netlink::InterfaceAddress>)>,
}

/// The address the adverts of socket `key` leave from: its unicast source, else the
/// interface's primary IPv4 (or IPv6 link-local) address, but never a VIP of any instance.
/// keepalived 2.2.7 never takes a VIP for the interface's address: when the interface's own
/// address is deleted (and a VIP is all that is left on it, or became its primary) the
/// instance goes to FAULT until an address comes back, where vipd sent from the VIP.
fn advert_source(
    sockets: &BTreeMap<SocketKey, OpenSocket>,
    netlink: &Netlink,
    routers: &[Router],
    key: &SocketKey,
) -> Option<IpAddr> {
    let socket = &sockets.get(key)?.socket;
    let found = socket.source_address().ok()?;
    let is_vip = |a: IpAddr| (routers.iter()).any(|r| r.cfg.all_vips().any(|v| v.address == a));
    if key.unicast.is_some() || !is_vip(found) {
        return Some(found);
    }
    let addresses = netlink.addresses(socket.ifindex()).ok()?;
    router::interface_source(&addresses, key.ipv6, is_vip)
}

fn memo<K: PartialEq, V: Clone>(
    memo: Option<&mut Vec<(K, V)>>,
    key: K,
    look_up: impl FnOnce() -> V,
) -> V {
    let Some(memo) = memo else {
        return look_up();
    };
    if let Some((_, value)) = memo.iter().find(|(k, _)| *k == key) {
        return value.clone();
    }
    let value = look_up();
    memo.push((key, value.clone()));
    value
}

impl Daemon {
    fn new(config_path: PathBuf, config: Config, options: RunOptions) -> Result<Daemon, String> {
        let ops = ops::Ops::new(&options, &config)?;
        let socket_path = options.socket;
        let netlink = Netlink::new().map_err(|e| format!("netlink: {e}"))?;
        let announcer = match Announcer::new() {
            Ok(a) => Some(a),
            Err(e) => {
                warn!("gratuitous ARP/NA disabled: {e}");
                None
            }
        };
        let vip_state = VipState::new(&options.state_dir, &socket_path)
            .map_err(|e| format!("cannot identify the network namespace: {e}"))?;
        let ah_marks = ah_marks::AhMarks::load(&options.state_dir, &socket_path);
        let (events_tx, events_rx) = mpsc::channel(1024);
        let routers = config
            .instances
            .iter()
            .map(|i| Router::new(i.clone(), &config.global))
            .collect();
        Ok(Daemon {
            config_path,
            read_options: config::ReadOptions::default(),
            net_namespace_override: options.net_namespace.clone(),
            start_at: None,
            config,
            socket_path,
            routers,
            sockets: BTreeMap::new(),
            sockets_generation: 0,
            netlink,
            announcer,
            pacer: AnnouncePacer::default(),
            events_tx,
            receive_batch: Some(Box::default()),
            events_rx,
            stopping: false,
            checks: None,
            check_events: None,
            tracked_links: BTreeMap::new(),
            notifier: None,
            fifos: Default::default(),
            group_states: BTreeMap::new(),
            ops,
            vip_state,
            ah_marks,
            vip_jobs: vip_jobs::VipJobs::default(),
            watching_routing: false,
            vmac_parents: vmac::ParentClaims::new(),
            promoted: promote::Promoted::new(),
            forwards: forward::Forwards::default(),
            router_slots: Vec::new(),
            schedule: schedule::Schedule::default(),
            sync_index: sync_index::SyncIndex::default(),
            own_sources: (0, Vec::new()),
            attach_memo: None,
            announce_links: None,
            outbox: outbox::Outbox::default(),
            reloading: None,
            rx_advert: packet::Advertisement::empty(),
        })
    }

    /// AH sessions resume at their stored high-water mark (new ones: at start or after a
    /// reload), and a mark is stored ahead of each counter that came near its last one: at
    /// start written at once, later on a blocking thread (a few times a day at most).
    fn reserve_ah_marks(&mut self, at_start: bool) {
        let mut due = false;
        for router in &mut self.routers {
            let Some(ah) = router.ah.as_mut() else {
                continue;
            };
            if !ah.has_reservation() {
                if let Some(mark) = self.ah_marks.get(&router.cfg.name) {
                    ah.resume_at(mark);
                }
            }
            if let Some(mark) = ah.reservation_due() {
                self.ah_marks.note(&router.cfg.name, mark);
                due = true;
            }
        }
        if !due {
            return;
        }
        self.keep_configured_ah_marks();
        if at_start {
            if let Err(e) = self.ah_marks.write() {
                warn!("AH sequence marks: {e}");
            }
        } else {
            drop(tokio::task::spawn_blocking(self.ah_marks.writer()));
        }
    }

    /// Marks of instances no longer configured (a reload removed them) are not written again.
    fn keep_configured_ah_marks(&self) {
        let names = self.routers.iter().map(|r| r.cfg.name.as_str());
        self.ah_marks.keep_only(names);
    }

    /// On a clean stop, the marks become the counters themselves (the loop is over): a
    /// restarted backup then accepts its live master's next adverts at once, and only what
    /// it had already heard stays a replay.
    fn store_exact_ah_marks(&mut self) {
        let mut any = false;
        for router in &self.routers {
            if let Some(ah) = &router.ah {
                self.ah_marks.set_exact(&router.cfg.name, ah.sequence());
                any = true;
            }
        }
        if any {
            self.keep_configured_ah_marks();
            if let Err(e) = self.ah_marks.write() {
                warn!("AH sequence marks: {e}");
            }
        }
    }

    async fn serve(&mut self) -> Result<(), String> {
        // First: a signal sent while the rest starts waits for the loop instead of ending
        // the process (an exporter's SIGUSR1 during a restart).
        let mut signals = signals::Signals::new().map_err(|e| format!("signals: {e}"))?;
        let services = self.start_services()?;
        let monitor = Monitor::new().map_err(|e| format!("netlink monitor: {e}"))?;
        spawn_monitor(monitor, self.events_tx.clone());
        // AH counters resume where the last run left them, before any advert goes or comes.
        self.reserve_ah_marks(true);
        // Another router may hold the VIPs a killed earlier run left here: they go before we
        // take part in the protocol. Then a VIP still on the node is its own address.
        let running = self.remove_leftovers();
        self.own_address_problems_at_start(running)?;
        self.add_statics();
        self.watch_routing();

        for warning in crate::net::checks::system_warnings(&self.config) {
            warn!("{warning}");
        }
        self.clear_leftover_forwards();
        self.notifier = Some(Notifier::spawn(notify::TIMEOUT));
        self.fifos = crate::services::notify_fifo::NotifyFifos::open(&self.config.global);
        self.start_checks()?;
        self.read_tracked_links();
        self.report_persisted_drains();
        let now = Instant::now();
        let delay = self.config.global.startup_delay;
        if !delay.is_zero() {
            info!(
                "delaying the start of the instances by {} (vrrp_startup_delay)",
                config::duration::format(delay)
            );
            self.start_at = Some(now + delay);
        }
        let all: Vec<usize> = (0..self.routers.len()).collect();
        self.start_routers(&all, now);
        self.process_actions().await;
        info!(
            "started with {} ({} instance(s)), control socket {}",
            self.config_path.display(),
            self.routers.len(),
            self.socket_path.display()
        );
        // Every instance has its first state now (start() always enters one).
        let line = self.status_line();
        tell_systemd(&[
            sd_notify::NotifyState::Ready,
            sd_notify::NotifyState::Status(&line),
        ]);
        // A parent waiting on a forked daemon returns once the lines so far (the start line
        // above) are written: they are queued for the log's thread, which a loaded machine
        // may not have run yet, and a piped stderr is let go of next.
        crate::pidfile::background_ready(|| log_output::flush_queued(Duration::from_secs(1)));
        let watchdog = sd_notify::watchdog_enabled().map(|d| d / 2);
        let mut next_watchdog = watchdog.map(tokio_deadline_after);
        let mut protocol_timer = deadline::DeadlineTimer::new();

        loop {
            if self.stopping && self.routers.iter().all(|r| r.fsm().is_stopped()) {
                break;
            }
            if !self.vip_jobs.is_empty() || self.pacer.queued() > 0 {
                // The socket readers and the netlink monitor run between slices: the loop
                // does not wait below while VIPs are being added or removed, or thousands
                // of gratuitous ARPs / NAs go out a batch per turn.
                tokio::task::yield_now().await;
            }
            let deadline = self.next_deadline();
            let mut adverts_read = 0;
            tokio::select! {
                // Every readable socket is read in the same turn: one pass over the timers
                // and one deadline per burst, not per advert (at 510 instances the adverts
                // come in bursts).
                () = sockets_readable(&self.sockets) => {
                    adverts_read += self.read_sockets(false).adverts;
                }
                Some(event) = self.events_rx.recv() => {
                    self.handle_event(event).await;
                    while let Ok(event) = self.events_rx.try_recv() {
                        self.handle_event(event).await;
                    }
                }
                // Anything but adverts and protocol timers may change any instance.
                Some(event) = next_check_event(&mut self.check_events) => {
                    self.schedule.touch_all();
                    self.on_check_event(event);
                }
                Some(command) = self.ops.commands.recv() => {
                    self.schedule.touch_all();
                    self.on_command(command).await;
                }
                batch = signals.next() => {
                    let steps = signals::steps(&batch);
                    // Dumps and ignored signals change no instance: a flood of them must not
                    // make every wake-up look at all instances.
                    if steps.iter().any(|s| matches!(s, signals::Step::Stop(_) | signals::Step::Reload)) {
                        self.schedule.touch_all();
                    }
                    for step in steps {
                        match step {
                            signals::Step::Stop(name) => self.begin_stop(name),
                            // A reload while handing over would start instances again.
                            signals::Step::Reload if self.stopping => {}
                            // A refusal is logged; SIGHUP has nobody to tell.
                            signals::Step::Reload => self.request_reload("SIGHUP".into(), None),
                            // keepalived's dumps and the signals it ignores.
                            other => self.on_signal_step(other),
                        }
                    }
                }
                read = reload::read_done(&mut self.reloading) => {
                    self.schedule.touch_all();
                    self.finish_reload(read).await;
                }
                written = ops::drain_written(&mut self.ops.drain_write) => {
                    self.schedule.touch_all();
                    self.finish_drain_write(written);
                }
                // Due timers are handled below, whatever woke the loop.
                _ = protocol_timer.wait(deadline) => {}
                _ = sleep(next_watchdog) => {}
            }
            let now = Instant::now();
            if self.start_at.is_some_and(|at| at <= now) && !self.stopping {
                self.schedule.touch_all();
                self.start_at = None;
                info!("startup delay over: starting the instances");
                for (index, router) in self.routers.iter_mut().enumerate() {
                    router.fsm_mut(&mut self.schedule, index).start(now);
                }
            }
            if let (Some(period), Some(at)) = (watchdog, next_watchdog) {
                if tokio::time::Instant::now() >= at {
                    tell_systemd(&[sd_notify::NotifyState::Watchdog]);
                    next_watchdog = Some(tokio_deadline_after(period));
                }
            }
            let now = self.handle_due_timers_after_pending_adverts().await;
            self.send_due_announcements(now);
            self.process_actions().await;
            // VIPs still to add or remove: one more slice, after this turn's adverts.
            if !self.vip_jobs.is_empty() {
                self.work_vip_jobs(Instant::now() + vip_jobs::SLICE);
            }
            self.update_systemd_status();
            self.reserve_ah_marks(false);
            if adverts_read > 0 && !self.stopping {
                let next = self.next_deadline();
                let backlog = self.sockets.values().any(|s| s.reader.queued);
                let (instances, now) = (self.routers.len(), Instant::now());
                if receive::may_gather(adverts_read, instances, backlog, now, next) {
                    // Blocks the runtime on purpose: see `receive::GATHER`.
                    std::thread::sleep(receive::GATHER);
                }
            }
        }
        self.finish_vip_jobs();
        self.store_exact_ah_marks();
        self.remove_statics();
        self.release_vmacs();
        self.restore_promote_secondaries(&Default::default());
        self.remove_forwards();
        drop(services);
        let _ = std::fs::remove_file(&self.socket_path);
        if self.vip_state.is_empty() {
            let _ = std::fs::remove_file(self.vip_state.path());
        }
        // After the STOP lines: the FIFO scripts read them, then the FIFOs go.
        std::mem::take(&mut self.fifos).finish().await;
        if let Some(notifier) = self.notifier.take() {
            notifier.finish(notify::TIMEOUT).await;
        }
        info!("stopped");
        Ok(())
    }

    /// Before a backup's Master_Down timer is acted on, the adverts that reached its socket
    /// in time are heard: the timer and a socket can become ready in the same wake-up (a
    /// process that was not scheduled for a while), and a loaded node must not take over from
    /// a master whose advert is waiting in the queue.
    async fn take_pending_adverts(&mut self) {
        let now = Instant::now();
        self.sync_schedule();
        let routers = &self.routers;
        let timeout = |i: usize| routers.get(i).and_then(|r| r.fsm().poll_timeout());
        let backup_due = (self.schedule.take_due(now, timeout).iter())
            .filter_map(|&i| routers.get(i as usize))
            .any(|r| r.fsm().state() == State::Backup);
        if !backup_due {
            return;
        }
        // Reads the sockets, whether or not the reactor has seen them readable yet, until
        // they are empty: a read takes at most its budget a socket, and 510 instances queue
        // more than that in one advert interval of a process that was not scheduled.
        for _ in 0..PENDING_ADVERT_ROUNDS {
            if self.read_sockets(true).datagrams == 0 {
                break;
            }
        }
    }

    /// Reads every socket (see [`SocketReader::read`]; `force`: whether or not the reactor
    /// has seen it readable) and hands each advert to the protocol.
    fn read_sockets(&mut self, force: bool) -> Reads {
        let mut reads = Reads::default();
        let Some(mut batch) = self.receive_batch.take() else {
            return reads;
        };
        // Taken out while read: the protocol's handling of an advert opens or closes no
        // socket (that waits for the actions after the turn).
        let mut sockets = std::mem::take(&mut self.sockets);
        for (key, open) in &mut sockets {
            // One socket lookup per socket and turn, not per advert.
            let slot = self.router_slots.iter().position(|(k, _)| k == key);
            let socket = &open.socket;
            reads += (open.reader).read(
                socket,
                &key.interface,
                &mut batch,
                force,
                |received, now| {
                    self.on_packet(key, slot, received, now);
                },
            );
        }
        self.sockets = sockets;
        self.receive_batch = Some(batch);
        reads
    }

    /// Handles the due protocol timers, whatever woke the loop (a timer, adverts, a command,
    /// a signal), after the adverts the socket readers hold (see
    /// [`Daemon::take_pending_adverts`]). Only the timer's wake-up took them once: a process
    /// stopped (or not scheduled) between reading one advert and handling it woke for that
    /// advert, 700 ms old, and its Master_Down timer ran out before the adverts queued
    /// meanwhile were read. Returns the time the timers were handled at.
    async fn handle_due_timers_after_pending_adverts(&mut self) -> Instant {
        self.take_pending_adverts().await;
        let now = Instant::now();
        self.handle_due_timers(now);
        now
    }

    /// Brings the schedule up to date with the instances fed since the last look.
    fn sync_schedule(&mut self) {
        let routers = &self.routers;
        (self.schedule).sync(routers.len(), |i| {
            routers.get(i).and_then(|r| r.fsm().poll_timeout())
        });
    }

    /// Lets every instance whose deadline has passed handle it, once per wake-up, and every
    /// master whose periodic advert is due within its slack send it in the same wake-up
    /// (see [`crate::vrrp::instance::Instance::handle_timeout_coalescing`]).
    fn handle_due_timers(&mut self, now: Instant) {
        self.sync_schedule();
        let routers = &self.routers;
        let horizon = now + crate::vrrp::instance::ADVERT_SLACK;
        self.schedule.take_due(horizon, |i| {
            routers.get(i).and_then(|r| r.fsm().poll_timeout())
        });
        let due: Vec<u32> = self.schedule.drain_due().collect();
        // The deadline this wake-up is for: masters count their next advert from it.
        let wake = (due.iter())
            .filter_map(|&i| self.routers.get(i as usize)?.fsm().poll_timeout())
            .min()
            .unwrap_or(now);
        for index in due {
            let index = index as usize;
            let Some(router) = self.routers.get_mut(index) else {
                continue;
            };
            // An advert read after the deadline was taken may have moved it; one due within
            // the slack but not handled now gets its deadline back in the schedule.
            let fsm = router.fsm_mut(&mut self.schedule, index);
            if (fsm.poll_timeout()).is_some_and(|t| t <= now + fsm.advert_slack()) {
                fsm.handle_timeout_coalescing(now, wake);
            }
        }
    }

    fn next_deadline(&mut self) -> Option<Instant> {
        self.sync_schedule();
        let routers = &self.routers;
        let timeout = |i: usize| routers.get(i).and_then(|r| r.fsm().poll_timeout());
        self.schedule
            .next_deadline(Instant::now(), timeout)
            .into_iter()
            .chain(self.pacer.next_deadline())
            .chain(self.start_at)
            // A socket left alone after errors is read again then.
            .chain((self.sockets.values()).filter_map(|s| s.reader.paused_until()))
            // VIPs still to add or remove: the next slice at once.
            .chain((!self.vip_jobs.is_empty()).then(Instant::now))
            .min()
    }

    fn begin_stop(&mut self, signal: &str) {
        let now = Instant::now();
        if self.stopping {
            info!("{signal} again: stopping at once");
            for (index, router) in self.routers.iter_mut().enumerate() {
                router.fsm_mut(&mut self.schedule, index).shutdown(now);
            }
            return;
        }
        info!("{signal}: stopping, handing over master instances");
        tell_systemd(&[sd_notify::NotifyState::Stopping]);
        self.stopping = true;
        for (index, router) in self.routers.iter_mut().enumerate() {
            let bound = router.handover_bound();
            router
                .fsm_mut(&mut self.schedule, index)
                .begin_handover(now, bound);
        }
    }

    /// Attaches the instances, recomputes tracking once for all of them (once per instance
    /// made starting 510 instances quadratic), then starts them.
    fn start_routers(&mut self, indexes: &[usize], now: Instant) {
        self.attach_memo = Some(AttachMemo::default());
        for &index in indexes {
            self.attach(index);
        }
        self.attach_memo = None;
        self.mark_sync_members();
        self.apply_tracking(now);
        self.watch_sources(now, indexes);
        for &index in indexes {
            self.apply_persisted_drain(index, now);
        }
        // During the startup delay the instances wait; the end of the delay starts them.
        if self.start_at.is_some() {
            return;
        }
        for &index in indexes {
            if let Some(router) = self.routers.get_mut(index) {
                router.fsm_mut(&mut self.schedule, index).start(now);
            }
        }
    }

    /// Opens (or shares) the instance's socket when its interface is there and up.
    fn attach(&mut self, index: usize) {
        let Some(router) = self.routers.get(index) else {
            return;
        };
        let key = router.key.clone();
        let netlink = &self.netlink;
        let links = self.attach_memo.as_mut().map(|m| &mut m.links);
        let link = memo(links, key.interface.clone(), || {
            match netlink.link_index(&key.interface) {
                Ok(Some(ifindex)) => netlink.link(ifindex).ok().flatten(),
                _ => None,
            }
        });
        let Some(link) = link else {
            self.close_sockets(|k| *k == key);
            if let Some(router) = self.routers.get_mut(index) {
                if router.source.is_some() || router.fsm().transitions() == 0 {
                    warn!(
                        "{}: interface {} not found: FAULT until it appears",
                        router.cfg.name, key.interface
                    );
                }
                router.link_up = false;
                router.source = None;
            }
            return;
        };
        // An interface deleted and created again under the same name has a new index; a socket
        // bound to the old one hears and sends nothing (its removal may have gone unnoticed
        // when netlink events were lost).
        let stale = self
            .sockets
            .get(&key)
            .is_some_and(|open| open.socket.ifindex() != link.index);
        if stale {
            info!(
                "{}: new interface index {}: reopening its VRRP socket",
                key.interface, link.index
            );
            self.close_sockets(|k| *k == key);
            let now = Instant::now();
            let on_key = (self.routers.iter_mut().enumerate()).filter(|(_, r)| r.key == key);
            for (index, router) in on_key {
                router.source = None;
                // Its adverts went nowhere until now.
                router.fsm_mut(&mut self.schedule, index).advertise_now(now);
            }
        }
        if !self.sockets.contains_key(&key) {
            // Unicast without `unicast_src_ip`: from the interface's primary IPv4 / IPv6
            // link-local address, as keepalived 2.2.7 sends; none yet: FAULT until one
            // appears (keepalived: "no IPv4 address for interface"), never adverts from the
            // unspecified address.
            let (netlink, routers) = (&self.netlink, &self.routers);
            let Some(mode) = key.mode(|| {
                let addresses = netlink.addresses(link.index).ok()?;
                let is_vip =
                    |a: IpAddr| (routers.iter()).any(|r| r.cfg.all_vips().any(|v| v.address == a));
                router::interface_source(&addresses, key.ipv6, is_vip)
            }) else {
                if let Some(router) = self.routers.get_mut(index) {
                    if router.source.is_some() || router.fsm().transitions() == 0 {
                        warn!(
                            "{}: no {} address on {} to send from: FAULT until one appears",
                            router.cfg.name,
                            if key.ipv6 { "IPv6 link-local" } else { "IPv4" },
                            key.interface
                        );
                    }
                    router.link_up = false;
                    router.source = None;
                }
                return;
            };
            let opened = if key.ah {
                VrrpSocket::open_ah(&key.interface, mode)
            } else {
                VrrpSocket::open(&key.interface, key.family(), mode)
            };
            let opened = opened.and_then(|socket| match key.unicast_ttl {
                Some(ttl) => socket.set_unicast_hop_limit(ttl).map(|()| socket),
                None => Ok(socket),
            });
            match opened {
                Ok(socket) => {
                    let reader = SocketReader::default();
                    reader.vrids.replace(
                        (self.routers.iter())
                            .filter(|r| r.key == key)
                            .map(|r| r.cfg.vrid),
                    );
                    self.sockets_generation += 1;
                    self.sockets.insert(
                        key.clone(),
                        OpenSocket {
                            socket: Arc::new(socket),
                            reader,
                        },
                    );
                }
                Err(e) => {
                    if let Some(router) = self.routers.get_mut(index) {
                        warn!(
                            "{}: cannot open VRRP socket on {}: {e}",
                            router.cfg.name, key.interface
                        );
                        router.link_up = false;
                        router.source = None;
                    }
                    return;
                }
            }
        }
        let (sockets, netlink, routers) = (&self.sockets, &self.netlink, &self.routers);
        let sources = self.attach_memo.as_mut().map(|m| &mut m.sources);
        let source = memo(sources, key.clone(), || {
            advert_source(sockets, netlink, routers, &key)
        });
        // keepalived's `mcast_src_ip` (or an ipvlan's address) is the source of multicast
        // adverts too, not only `unicast_src_ip` of unicast ones.
        let source = (self.routers.get(index))
            .and_then(|r| vmac::ipvlan_source(&r.cfg).or(r.cfg.source_address))
            .or(source);
        self.ensure_vmac(index, link.index);
        self.promote_secondaries_on(index, link.index);
        let source_changed =
            source.is_some() && self.routers.get(index).map(|r| r.source) != Some(source);
        let on_link = if source_changed {
            let netlink = &self.netlink;
            let on_link = self.attach_memo.as_mut().map(|m| &mut m.on_link);
            memo(on_link, link.index, || {
                netlink.addresses(link.index).unwrap_or_default()
            })
        } else {
            Vec::new()
        };
        let global = &self.config.global;
        if let Some(router) = self.routers.get_mut(index) {
            match source {
                Some(source) => {
                    if router.source != Some(source) {
                        router.attach(source, global, &mut self.schedule, index);
                        router.warn_off_link_peers(&on_link);
                    }
                    router.link_up = link.up;
                }
                None => {
                    warn!(
                        "{}: no source address on {} yet: FAULT until one appears",
                        router.cfg.name, key.interface
                    );
                    router.link_up = false;
                }
            }
        }
    }

    async fn handle_event(&mut self, event: Event) {
        match event {
            Event::Net(net) => {
                self.schedule.touch_all();
                let link_local_changed = |addr: &IpAddr| match addr {
                    IpAddr::V6(v6) => v6.segments()[0] & 0xffc0 == 0xfe80,
                    IpAddr::V4(_) => false,
                };
                let interfaces_changed = match &net {
                    NetEvent::AddressAdded { addr, .. } | NetEvent::AddressRemoved { addr, .. } => {
                        link_local_changed(addr)
                    }
                    NetEvent::RoutingRemoved { .. } => false,
                    _ => true,
                };
                if interfaces_changed {
                    self.announce_links = None;
                    if let Some(announcer) = &self.announcer {
                        announcer.forget_interfaces();
                    }
                }
                self.on_net_event(net);
                self.schedule.touch_all();
            }
        }
    }

    /// `socket`: the position of `key` in `router_slots` (see [`Daemon::router_index`]).
    fn on_packet(
        &mut self,
        key: &SocketKey,
        socket: Option<usize>,
        received: &ReceivedRef<'_>,
        now: Instant,
    ) {
        // The order of the checks is `vrrp::accept`'s, which the simulation runs too.
        let arrival = match accept::arrival(
            received.data,
            received.src,
            received.dst,
            received.hop_limit,
            key.ah,
        ) {
            Ok(arrival) => arrival,
            Err(reason) => {
                self.drop_on_socket(key, reason);
                return;
            }
        };
        let (src, dst) = (arrival.src, arrival.dst);
        // Sent to another group joined on this interface: another socket's instances.
        if key
            .group
            .is_some_and(|group| dst.is_multicast() && dst != group)
        {
            return;
        }
        // Our own adverts (unicast to a peer list that names us, or looped multicast).
        if self.is_own_source(src) {
            return;
        }
        let vrid = arrival.vrid();
        let Some(index) = vrid.and_then(|vrid| self.router_index(key, socket, vrid)) else {
            self.drop_on_socket(key, DropReason::UnknownVrid);
            return;
        };
        let Some(router) = self.routers.get_mut(index) else {
            return;
        };
        // Parsed into the one advert kept for this: no allocation per advert heard.
        let advert = &mut self.rx_advert;
        let advert = match accept::check_advert_into(router, &arrival, received.data, advert)
            .map(|()| &*advert)
        {
            Ok(advert) => advert,
            Err(reason) => {
                router.counters.drop(reason);
                if router.may_log_drop(now) {
                    tracing::debug!(
                        "{}: dropped advert from {src}: {reason} (at most one such line per second)",
                        router.cfg.name
                    );
                }
                return;
            }
        };
        router.counters.received += 1;
        if advert.priority == 0 {
            router.counters.priority_zero_received += 1;
        }
        router.note_owner_conflict(src, advert.priority, now);
        // The advert counts from its arrival: the loop may read a burst a little later.
        router.fsm_mut(&mut self.schedule, index).handle_advert(
            received.arrived.min(now),
            &ReceivedAdvert {
                source: src,
                priority: advert.priority,
                advert_interval: Duration::from_millis(u64::from(advert.advert_interval_cs) * 10),
            },
        );
    }

    /// Whether `src` is the source of some instance's adverts. Every received advert asks,
    /// so the few distinct sources are kept aside; sources change only outside the hot path
    /// (which marks every instance as touched, see `schedule`).
    fn is_own_source(&mut self, src: IpAddr) -> bool {
        let generation = self.schedule.generation();
        if self.own_sources.0 != generation {
            let mut sources: Vec<IpAddr> = self.routers.iter().filter_map(|r| r.source).collect();
            sources.sort_unstable();
            sources.dedup();
            self.own_sources = (generation, sources);
        }
        self.own_sources.1.contains(&src)
    }

    /// The instance with `vrid` on socket `key`. Each packet needs this: a remembered slot,
    /// checked on every use (so it never needs invalidating when instances come and go),
    /// spares a walk over all instances comparing socket keys, which with 510 instances at
    /// 10 ms adverts (51,000 adverts a second) was the receive path's largest cost. The
    /// check compares the instance's socket key (an interface name among others, 4 % of a
    /// backup's instructions per advert) once per generation of the schedule: the list of
    /// instances changes only outside the hot path (a reload, which starts a new one), and
    /// an instance's VRID and socket key never change in place.
    /// `socket`: where `key` is in `router_slots`, when the caller knows.
    fn router_index(&mut self, key: &SocketKey, socket: Option<usize>, vrid: u8) -> Option<usize> {
        const NONE: u32 = u32::MAX;
        let generation = self.schedule.generation();
        let is_it = |r: &Router| r.cfg.vrid == vrid && r.key == *key;
        // A handful of sockets: a look along a list beats hashing the key.
        // Entries are only ever appended, so a position once found stays the key's.
        let socket = socket.or_else(|| self.router_slots.iter().position(|(k, _)| k == key));
        if let Some((_, slots)) = socket.and_then(|s| self.router_slots.get_mut(s)) {
            let (slot, found_in) = slots[usize::from(vrid)];
            let index = slot as usize;
            if slot != NONE && found_in == generation && index < self.routers.len() {
                return Some(index);
            }
            if slot != NONE && self.routers.get(index).is_some_and(is_it) {
                slots[usize::from(vrid)].1 = generation;
                return Some(index);
            }
        }
        let index = self.routers.iter().position(is_it)?;
        let socket = match socket {
            Some(socket) => socket,
            None => {
                (self.router_slots).push((key.clone(), Box::new([(NONE, 0); 256])));
                self.router_slots.len() - 1
            }
        };
        if let Some((_, slots)) = self.router_slots.get_mut(socket) {
            slots[usize::from(vrid)] = (u32::try_from(index).unwrap_or(NONE), generation);
        }
        Some(index)
    }

    /// A packet that could not be tied to one instance counts for every instance on its socket.
    fn drop_on_socket(&mut self, key: &SocketKey, reason: DropReason) {
        for router in self.routers.iter_mut().filter(|r| r.key == *key) {
            router.counters.drop(reason);
        }
    }

    fn on_net_event(&mut self, event: NetEvent) {
        let now = Instant::now();
        match event {
            NetEvent::LinkChanged { name, up, .. } => {
                self.on_link_changed_for_vmacs(&name, now);
                if let Some(state) = self.tracked_links.get_mut(&name) {
                    if *state != up {
                        *state = up;
                        info!(
                            "tracked interface {name} is {}",
                            if up { "up" } else { "down" }
                        );
                        self.apply_tracking(now);
                    }
                }
                self.attach_memo = Some(AttachMemo::default());
                for index in self.indexes_on_interface(&name) {
                    self.refresh_link(index, now, up);
                }
                self.attach_memo = None;
                if up {
                    // Created again (or brought back): a master's VIPs on it may be gone.
                    self.reassert_vips();
                }
            }
            NetEvent::LinkRemoved {
                index: ifindex,
                name,
            } => {
                self.on_link_removed_for_vmacs(ifindex, now);
                self.close_sockets(|key| key.interface == name);
                for index in self.indexes_on_interface(&name) {
                    if let Some(router) = self.routers.get_mut(index) {
                        router.source = None;
                        router.link_up = false;
                        info!("{}: interface {name} removed", router.cfg.name);
                    }
                }
                self.apply_faults(now);
            }
            NetEvent::AddressAdded { index: ifindex, .. } => {
                self.watch_sources(now, &[]);
                // Only an instance still without an advert source waits for an address;
                // an address storm must not cost an interface lookup per event otherwise.
                if self.routers.iter().all(|r| r.source.is_some()) {
                    return;
                }
                let name = self.interface_name(ifindex);
                for index in self.indexes_on_interface(&name) {
                    if self.routers.get(index).is_some_and(|r| r.source.is_none()) {
                        let up = self
                            .netlink
                            .link(ifindex)
                            .ok()
                            .flatten()
                            .is_some_and(|l| l.up);
                        self.refresh_link(index, now, up);
                    }
                }
            }
            NetEvent::AddressRemoved {
                index: ifindex,
                addr,
                ..
            } => {
                self.restore_vip(ifindex, addr);
                // Our advert source went away: pick the interface's next one, or FAULT.
                let affected: Vec<usize> = (0..self.routers.len())
                    .filter(|&i| self.routers[i].source == Some(addr))
                    // The VMAC's copy of the source going (it was taken down) is not ours.
                    .filter(|&i| !vmac::holds_index(&self.routers[i], ifindex))
                    .collect();
                // Taken from the interface (`unicast_peer` without `unicast_src_ip`): the
                // socket opens again from the interface's new primary address, as
                // keepalived 2.2.7 follows it, or the instance waits in FAULT for one.
                let (from_interface, affected): (Vec<usize>, Vec<usize>) =
                    affected.into_iter().partition(|&i| {
                        self.routers[i].key.unicast == Some(router::UnicastSource::Interface)
                    });
                let mut reopened: Vec<SocketKey> = Vec::new();
                for index in from_interface {
                    let key = self.routers[index].key.clone();
                    if !reopened.contains(&key) {
                        self.close_sockets(|k| *k == key);
                        reopened.push(key);
                    }
                    let up = self.routers[index].link_up;
                    if let Some(router) = self.routers.get_mut(index) {
                        router.source = None;
                    }
                    self.attach(index);
                    if let Some(router) = self.routers.get_mut(index) {
                        router.link_up = up && router.source.is_some();
                        match router.source {
                            Some(now_from) => info!(
                                "{}: advert source {addr} removed from {}, now {now_from}",
                                router.cfg.name, router.key.interface
                            ),
                            None => warn!(
                                "{}: advert source {addr} removed and {} has no other",
                                router.cfg.name, router.key.interface
                            ),
                        }
                    }
                }
                for index in affected {
                    let key = self.routers[index].key.clone();
                    let source = advert_source(&self.sockets, &self.netlink, &self.routers, &key);
                    let global = self.config.global.clone();
                    let router = &mut self.routers[index];
                    match source {
                        // A configured unicast source stays the source (keepalived does the
                        // same); `track_src_ip` makes the instance go to FAULT instead.
                        Some(source) if source == addr => warn!(
                            "{}: advert source {addr} removed from {}: still sending from it",
                            router.cfg.name, router.key.interface
                        ),
                        Some(source) => {
                            info!(
                                "{}: advert source {addr} removed, now {source}",
                                router.cfg.name
                            );
                            router.attach(source, &global, &mut self.schedule, index);
                        }
                        None => {
                            warn!(
                                "{}: advert source {addr} removed and none left",
                                router.cfg.name
                            );
                            router.source = None;
                            router.link_up = false;
                        }
                    }
                }
                self.watch_sources(now, &[]);
                self.apply_faults(now);
            }
            NetEvent::RoutingRemoved { protocol } => self.restore_routing(protocol),
            NetEvent::EventsLost => self.resync(now),
        }
    }

    fn interface_name(&self, ifindex: u32) -> String {
        self.netlink
            .link(ifindex)
            .ok()
            .flatten()
            .map(|l| l.name)
            .unwrap_or_default()
    }

    fn indexes_on_interface(&self, name: &str) -> Vec<usize> {
        self.routers
            .iter()
            .enumerate()
            .filter(|(_, r)| r.key.interface == name)
            .map(|(i, _)| i)
            .collect()
    }

    fn refresh_link(&mut self, index: usize, now: Instant, up: bool) {
        if up {
            self.attach(index);
        }
        let Some(router) = self.routers.get_mut(index) else {
            return;
        };
        let usable = up && router.source.is_some();
        if usable != router.link_up {
            router.link_up = usable;
            let word = if usable { "up" } else { "down" };
            info!(
                "{}: interface {} is {word}",
                router.cfg.name, router.key.interface
            );
        }
        self.apply_faults(now);
    }

    /// A VIP deleted by hand while we are master comes back at once.
    fn restore_vip(&mut self, ifindex: u32, addr: IpAddr) {
        // Cheap test first: address storms must not cost an interface lookup per event.
        // A quiet master's VMAC is down on purpose: its VIPs come back when it is unquieted.
        let ours = self.routers.iter().any(|r| {
            r.vips_installed
                && !r.fsm().is_quiet()
                && r.fsm().state() == State::Master
                && r.cfg.all_vips().any(|v| v.address == addr)
        });
        if !ours {
            return;
        }
        let name = self.interface_name(ifindex);
        for router in &self.routers {
            let adding = self.vip_jobs.adding(&router.cfg.name);
            let quiet = router.fsm().is_quiet();
            if !router.vips_installed || router.fsm().state() != State::Master || adding || quiet {
                continue;
            }
            for vip in router
                .cfg
                .all_vips()
                .filter(|v| v.address == addr && router.cfg.vip_interface(v) == name)
            {
                warn!(
                    "{}: {} was removed from {name} while MASTER: restoring it",
                    router.cfg.name, vip.address
                );
                add_vip(&self.netlink, &mut self.vip_state, &router.cfg, vip);
            }
        }
    }

    /// Carries out what the state machines asked for, until none has anything left.
    async fn process_actions(&mut self) {
        // An action of one instance can give another work (sync group announcements).
        loop {
            self.reserve_takeovers();
            let mut performed = false;
            // Only the instances fed since the last look can have actions queued.
            let count = self.schedule.marked_len(self.routers.len());
            for k in 0..count {
                let Some(index) = self.schedule.marked_at(k) else {
                    break;
                };
                while let Some(action) = self.routers.get_mut(index).and_then(|r| r.poll_action()) {
                    performed = true;
                    self.perform(index, action).await;
                }
            }
            if !performed && self.grant_sync_groups() {
                continue;
            }
            if !performed {
                self.send_queued_adverts();
                self.end_vip_batch();
                self.lower_priority_heard_by_marked();
                self.sync_schedule();
                self.schedule.actions_done();
                return;
            }
        }
    }

    async fn perform(&mut self, index: usize, action: Action) {
        // Anything but an advert can reach other instances (sync groups, notifications,
        // tracking): they all get a look.
        if !matches!(action, Action::SendAdvert { .. }) {
            self.schedule.touch_all();
            self.send_queued_adverts();
        }
        self.vmac_before(index, &action);
        let vips_change = matches!(action, Action::AddVips | Action::RemoveVips);
        self.perform_action(index, action).await;
        if vips_change && !self.adding_vips(index) {
            self.sync_forwards_of(index);
        }
    }

    async fn perform_action(&mut self, index: usize, action: Action) {
        let Some(router) = self.routers.get_mut(index) else {
            return;
        };
        match action {
            Action::SendAdvert { priority } => {
                // The instance's socket, remembered: a look in the map of sockets (keys of
                // an interface name and more compared) was 4 % of an advert's cost.
                let generation = self.sockets_generation;
                let open = match &router.socket_memo {
                    Some((seen, socket)) if *seen == generation => Some(socket.clone()),
                    _ => {
                        let open = self.sockets.get(&router.key).map(|o| o.socket.clone());
                        router.socket_memo = open.clone().map(|socket| (generation, socket));
                        open
                    }
                };
                let (Some(source), Some(open)) = (router.source, open) else {
                    return;
                };
                let socket = vmac::advert_sender(router).unwrap_or(open);
                // Written straight into the outbox's buffer: nothing allocated per advert.
                let header = router.advert_header(priority);
                let unicast = router.is_unicast();
                let ttl = router.key.unicast_ttl.unwrap_or(packet::HOP_LIMIT);
                let mode = router.checksum_mode();
                for dst in router.destinations() {
                    let addresses = router.cfg.vips.iter().map(|v| v.address);
                    let ah = router.ah.as_mut();
                    let cache = &mut router.advert_cache;
                    let write = |out: &mut Vec<u8>| match (ah, source, dst) {
                        (Some(ah), IpAddr::V4(src4), IpAddr::V4(dst4)) => {
                            let mut bytes = Vec::new();
                            packet::append_advert(
                                &header, addresses, &mut bytes, source, dst, mode,
                            );
                            out.extend_from_slice(&ah.seal(&bytes, src4, dst4, ttl, unicast));
                        }
                        _ => cache.append(&header, addresses, out, source, dst, mode),
                    };
                    self.outbox
                        .push(socket.clone(), write, source, dst, index, priority);
                }
                if priority > 0 {
                    self.refresh_station_learning(index, Instant::now());
                }
            }
            // In slices, so that the other instances' adverts keep their schedule (see
            // `vip_jobs`); forwards follow once the last VIP is in or out.
            Action::AddVips => {
                router.vips_installed = true;
                self.start_adding_vips(index);
            }
            Action::RemoveVips => {
                router.vips_installed = false;
                self.pacer.cancel(&router.cfg.name);
                self.start_removing_vips(index);
            }
            // Carried out on the VMACs (`vmac_before`).
            Action::QuietVips | Action::UnquietVips => {}
            Action::Announce { repeat, cause } => {
                // VIPs still being added are announced once they are all in.
                if !self.defer_announce(index, repeat, cause) {
                    self.announce(index, repeat, cause);
                }
            }
            Action::StateChanged { from, to, reason } => {
                info!("{}: {from} -> {to} ({reason})", router.cfg.name);
                router.last_reason = Some(reason.to_string());
                self.record_transition(index, from, to, &reason);
                self.notify_transition(index, to);
                let yielded = matches!(
                    reason,
                    Reason::HigherPriorityAdvert { .. } | Reason::EqualPriorityHigherAddress { .. }
                );
                if from == State::Master && to == State::Backup && yielded {
                    self.sync_members_left_master(index);
                }
            }
        }
    }

    /// Announces the addresses of instance `index` `repeat` times.
    fn announce(&mut self, index: usize, repeat: u32, cause: AnnounceCause) {
        if let Some(router) = self.routers.get(index) {
            tracing::debug!(
                "{}: announcing its addresses x{repeat} ({cause})",
                router.cfg.name
            );
        }
        if cause == AnnounceCause::BecameMaster {
            self.start_station_learning(index, Instant::now());
        }
        self.queue_announcements(index, repeat);
        self.send_due_announcements(Instant::now());
        if cause.reaches_sync_group() {
            self.sync_members_heard_lower_priority(index);
        }
    }

    /// Sends the adverts queued in this turn (one system call per socket); never waits: a
    /// send queue that is full drops adverts (the next ones follow), it must not hold up the
    /// protocol.
    fn send_queued_adverts(&mut self) {
        let routers = &mut self.routers;
        self.outbox.flush(|queued, result| {
            let Some(router) = routers.get_mut(queued.router) else {
                return;
            };
            let dst = queued.dst;
            match result {
                Ok(()) if queued.priority == 0 => {
                    router.counters.sent += 1;
                    router.counters.priority_zero_sent += 1;
                }
                Ok(()) => router.counters.sent += 1,
                // With dont_track_primary the instance runs on while its link is down; every
                // advert then fails, which is expected.
                Err(e) if !router.link_up => {
                    debug!("{}: sending advert to {dst}: {e}", router.cfg.name)
                }
                Err(e) => {
                    router.counters.drop(DropReason::SendError);
                    if router.may_log_send_error(Instant::now()) {
                        warn!(
                            "{}: sending advert to {dst}: {e} (at most one such line per \
                             second)",
                            router.cfg.name
                        )
                    }
                }
            }
        });
    }

    /// One gratuitous ARP / unsolicited NA for each address of a master (after a reload
    /// gave it new ones).
    fn announce_once(&mut self, index: usize) {
        self.queue_announcements(index, 1);
        self.send_due_announcements(Instant::now());
    }

    /// Queues `repeat` rounds of announcements of every address the instance holds (VIPs and
    /// excluded ones), paced per interface by `vrrp_garp_interval` / `vrrp_gna_interval`.
    fn queue_announcements(&mut self, index: usize, repeat: u32) {
        // An interface the links read earlier do not name may be new (a VMAC): read again.
        let missing = self.routers.get(index).is_some_and(|router| {
            let links = self.announce_links.as_deref().unwrap_or_default();
            (router.cfg.all_vips()).any(|vip| {
                !links
                    .iter()
                    .any(|l| l.name == router.cfg.vip_interface(vip))
            })
        });
        if missing || self.announce_links.is_none() {
            self.announce_links = crate::net::link::links(&self.netlink).ok();
        }
        let Some(router) = self.routers.get(index) else {
            return;
        };
        let links = self.announce_links.as_deref();
        let index_of = |ifname: &str| match links {
            Some(links) => links.iter().find(|l| l.name == ifname).map(|l| l.index),
            None => self.netlink.link_index(ifname).ok().flatten(),
        };
        // (pacing lane, interface to send on, address, pause): a VIP on a VMAC or ipvlan is
        // paced with the interface it sits on (its garp_group, its lane), as keepalived
        // paces on the base interface.
        let mut targets: Vec<(u32, u32, IpAddr, Duration)> = router
            .cfg
            .all_vips()
            .filter_map(|vip| {
                let ifname = router.cfg.vip_interface(vip);
                let base = vip.interface.as_deref().unwrap_or(&router.cfg.interface);
                let (arp, na) = self.config.garp_pacing(base);
                let interval = if vip.address.is_ipv6() { na } else { arp };
                let ifindex = index_of(ifname)?;
                let lane = if base == ifname {
                    ifindex
                } else {
                    index_of(base).unwrap_or(ifindex)
                };
                Some((lane, ifindex, vip.address, interval))
            })
            .collect();
        // WireGuard, tun, GRE, `arp off`: nothing to announce to.
        if let Some(links) = links {
            targets.retain(|(_, ifindex, ..)| {
                links
                    .iter()
                    .find(|l| l.index == *ifindex)
                    .is_none_or(crate::net::link::LinkDetails::announces)
            });
        }
        // `repeat` comes from the configuration and may be huge: nothing to count without
        // targets (the pacer's cap ends the loop otherwise).
        if targets.is_empty() {
            return;
        }
        let now = Instant::now();
        for _ in 0..repeat {
            for &(lane, ifindex, address, interval) in &targets {
                if !self
                    .pacer
                    .push_on(&router.cfg.name, lane, ifindex, address, interval, now)
                {
                    warn!(
                        "{}: too many gratuitous ARPs/NAs queued; dropping the rest",
                        router.cfg.name
                    );
                    return;
                }
            }
        }
    }

    /// keepalived: the other members of the instance's sync group that are master go to
    /// BACKUP with it.
    fn sync_members_left_master(&mut self, index: usize) {
        let now = Instant::now();
        let index_ = &self.sync_index;
        for &group in index_.groups_of(index) {
            for &member in index_.members(group) {
                if let Some(router) = self.routers.get_mut(member).filter(|_| member != index) {
                    router
                        .fsm_mut(&mut self.schedule, member)
                        .sync_member_left_master(now);
                }
            }
        }
    }

    /// Tells each instance whether it is in a sync group (its down timer then waits for the
    /// group, see `grant_sync_groups`), after rebuilding the index of the members.
    fn mark_sync_members(&mut self) {
        self.sync_index = sync_index::SyncIndex::build(
            &self.config.sync_groups,
            self.routers.iter().map(|r| r.cfg.name.as_str()),
        );
        for (index, router) in self.routers.iter_mut().enumerate() {
            router
                .fsm_mut(&mut self.schedule, index)
                .set_sync_group_member(self.sync_index.is_member(index));
        }
    }

    /// keepalived's `vrrp_sync_can_goto_master`: the members of a sync group that want to
    /// become master do so once every member is master or wants to be. True when one did.
    /// Only the groups of the instances fed since the last look can have become ready.
    fn grant_sync_groups(&mut self) -> bool {
        if self.sync_index.is_empty() {
            return false;
        }
        let now = Instant::now();
        let mut granted = false;
        for group in self.sync_index.groups_touched(self.schedule.touched()) {
            let members = self.sync_index.members(group);
            let routers = &self.routers;
            let member = |&i: &usize| routers.get(i);
            let ready = (members.iter().filter_map(member))
                .all(|r| r.fsm().wants_master() || r.fsm().state() == State::Master);
            if !ready {
                continue;
            }
            for &index in members {
                if let Some(router) = self.routers.get_mut(index) {
                    if router.fsm().wants_master() {
                        router.fsm_mut(&mut self.schedule, index).grant_master(now);
                        granted = true;
                    }
                }
            }
        }
        granted
    }

    /// The other members of the instance's sync group announce too (keepalived).
    fn sync_members_heard_lower_priority(&mut self, index: usize) {
        let Some(&group) = self.sync_index.groups_of(index).first() else {
            return;
        };
        let now = Instant::now();
        for &member in self.sync_index.members(group) {
            if let Some(router) = self.routers.get_mut(member).filter(|_| member != index) {
                router
                    .fsm_mut(&mut self.schedule, member)
                    .sync_member_heard_lower_priority(now);
            }
        }
    }

    /// Sends the announcements whose turn has come, for instances still holding their VIPs.
    fn send_due_announcements(&mut self, now: Instant) {
        let due = self.pacer.due(now);
        let Some(announcer) = &self.announcer else {
            return;
        };
        for pending in due {
            let Some(router) = self.routers.iter().find(|r| r.cfg.name == pending.owner) else {
                continue;
            };
            if !router.vips_installed {
                continue;
            }
            if let Err(e) = announcer.send(pending.ifindex, pending.address) {
                warn!("{}: announcing {}: {e}", router.cfg.name, pending.address);
            }
        }
    }

    fn status(&self) -> StatusReport {
        let instances = self
            .routers
            .iter()
            .map(|router| {
                let mut status = router.status();
                // What the socket's reader dropped counts for every instance on it.
                if let Some(open) = self.sockets.get(&router.key) {
                    for (reason, count) in open.reader.drops.for_instance(router.cfg.vrid) {
                        *status
                            .dropped
                            .entry(reason.as_str().to_string())
                            .or_default() += count;
                    }
                }
                status.forwards = self.forwards.installed(&router.cfg.name);
                status
            })
            .collect();
        let mut report = StatusReport {
            pid: std::process::id(),
            config: self.config_path.display().to_string(),
            instances,
            checks: self.check_status(),
            notify: self
                .notifier
                .as_ref()
                .map(Notifier::stats)
                .unwrap_or_default(),
            ..StatusReport::default()
        };
        self.complete_status(&mut report);
        report
    }

    /// Closes the sockets whose key matches; what their readers dropped stays counted.
    fn close_sockets(&mut self, closes: impl Fn(&SocketKey) -> bool) {
        let closing: Vec<SocketKey> = self.sockets.keys().filter(|k| closes(k)).cloned().collect();
        for key in closing {
            let Some(open) = self.sockets.remove(&key) else {
                continue;
            };
            self.sockets_generation += 1;
            for router in self.routers.iter_mut().filter(|r| r.key == key) {
                router.socket_memo = None;
                for (reason, count) in open.reader.drops.for_instance(router.cfg.vrid) {
                    router.counters.drop_many(reason, count);
                }
            }
        }
    }

    /// Tells each socket's reader which VRIDs have an instance on it now.
    fn update_reader_filters(&self) {
        for (key, open) in &self.sockets {
            open.reader.vrids.replace(
                (self.routers.iter())
                    .filter(|r| r.key == *key)
                    .map(|r| r.cfg.vrid),
            );
        }
    }
}

#[cfg(test)]
mod capability_tests {
    use super::missing_capabilities;

    #[test]
    fn run_names_the_capabilities_it_lacks() {
        let status =
            |eff: &str| format!("Name:\tvipd\nCapInh:\t0000000000000000\nCapEff:\t{eff}\n");
        // Root, and the shipped unit's ambient set (NET_ADMIN, NET_RAW, DAC_READ_SEARCH).
        assert!(missing_capabilities(&status("000001ffffffffff")).is_empty());
        assert!(missing_capabilities(&status("0000000000003004")).is_empty());
        assert_eq!(
            missing_capabilities(&status("0000000000000000")),
            ["CAP_NET_ADMIN", "CAP_NET_RAW"]
        );
        assert_eq!(
            missing_capabilities(&status("0000000000001000")),
            ["CAP_NET_RAW"]
        );
        // Nothing to judge by: no refusal.
        assert!(missing_capabilities("Name:\tvipd\n").is_empty());
    }
}
