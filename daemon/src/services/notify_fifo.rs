//! keepalived's notify FIFOs (`notify_fifo`, `vrrp_notify_fifo`): every state change of an
//! instance or sync group is written as one line, `INSTANCE "VI_1" MASTER 100` or
//! `GROUP "G" BACKUP 0`, to a named pipe; with priority changes enabled also
//! `INSTANCE "VI_1" MASTER_PRIORITY 90` / `BACKUP_PRIORITY`, and for every lower-priority
//! advert a master hears `INSTANCE "VI_1" MASTER_RX_LOWER_PRI 100`. A `*_fifo_script` is
//! started with the FIFO's path as its last argument to read them.
//!
//! What keepalived 2.2.7 does, and vipd with it (seen by running both, see
//! `tests/lab_notify_fifo.rs`): the FIFO is created with mode 0600 (chowned to the
//! configured user and group) unless something exists at the path; it is opened read-write
//! and non-blocking, so the daemon is never stopped by a missing or slow reader (lines wait
//! in the pipe; when the pipe is full they are lost). The script is started once and not
//! restarted when it exits. A reload stops the scripts, creates the FIFOs again and
//! starts the scripts again. At exit the FIFOs vipd created are removed.
//!
//! Where vipd does better, on purpose:
//! - A path that exists and is not a FIFO is refused (keepalived 2.2.7 writes its lines
//!   into a regular file found there; later keepalived versions refuse it too).
//! - Before a script is stopped (reload, exit) vipd closes its end of the FIFO and gives the
//!   script [`SCRIPT_GRACE`] to read what is left, the STOP lines included, and exit at
//!   end of file; keepalived sends SIGTERM at once and its script misses them.
//! - Lines that do not fit in the pipe are counted and logged (keepalived drops them
//!   silently).
//!
//! The event loop only ever makes one non-blocking `write(2)` per line and FIFO: a FIFO
//! nobody reads, or a stalled script, cannot delay an advert.

use std::fs::File;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::sys::stat::Mode;
use nix::unistd::{Group, Pid, User};
use tracing::{error, info, warn};

use super::notify::NotifyState;
use crate::check::exec;
use crate::config::{self, words, NotifyFifo};

/// How long a script may take to read the last lines and exit by itself once vipd closed
/// its end of the FIFO; then it gets SIGTERM, and SIGKILL as long again later.
pub const SCRIPT_GRACE: Duration = Duration::from_secs(1);

/// What a line is about (keepalived's first word).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Instance,
    Group,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Instance => "INSTANCE",
            Scope::Group => "GROUP",
        }
    }
}

/// What happened (keepalived's third word).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FifoEvent {
    State(NotifyState),
    /// The priority of an instance in MASTER changed.
    MasterPriority,
    /// The priority of an instance in any other state changed.
    BackupPriority,
    /// A master heard an advert with a lower priority (another router believes it is
    /// master: a split brain healing).
    MasterRxLowerPri,
}

impl FifoEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            FifoEvent::State(state) => state.as_str(),
            FifoEvent::MasterPriority => "MASTER_PRIORITY",
            FifoEvent::BackupPriority => "BACKUP_PRIORITY",
            FifoEvent::MasterRxLowerPri => "MASTER_RX_LOWER_PRI",
        }
    }

    /// The event of a priority change in this state.
    pub fn priority_change(master: bool) -> FifoEvent {
        if master {
            FifoEvent::MasterPriority
        } else {
            FifoEvent::BackupPriority
        }
    }
}

/// One line as keepalived writes it: `INSTANCE "VI_1" MASTER 100\n` (a group's priority is
/// always 0).
pub fn line(scope: Scope, name: &str, event: FifoEvent, priority: u8) -> String {
    format!(
        "{} \"{name}\" {} {priority}\n",
        scope.as_str(),
        event.as_str()
    )
}

/// Whether an instance writes its priority changes: its own setting, else its sync
/// group's, else the global one (keepalived `notify_priority_changes`,
/// `vrrp_notify_priority_changes`).
pub fn priority_changes(cfg: &config::Config, instance: &config::Instance) -> bool {
    instance
        .notify
        .priority_changes
        .or_else(|| {
            cfg.sync_groups
                .iter()
                .filter(|g| g.instances.contains(&instance.name))
                .find_map(|g| g.notify.priority_changes)
        })
        .unwrap_or(cfg.global.notify_priority_changes)
}

/// The configured FIFOs with their field names (`notify_fifo`, `vrrp_notify_fifo`).
pub fn configured(global: &config::Global) -> Vec<(&'static str, &NotifyFifo)> {
    [
        ("notify_fifo", global.notify_fifo.as_ref()),
        ("vrrp_notify_fifo", global.vrrp_notify_fifo.as_ref()),
    ]
    .into_iter()
    .filter_map(|(field, fifo)| fifo.map(|f| (field, f)))
    .collect()
}

/// What `vipd check` says about a FIFO on this machine (field path, message): the path must
/// be a FIFO or nothing, in a directory that exists, and the owner and group must exist.
pub fn check_warnings(global: &config::Global) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (field, fifo) in configured(global) {
        let path = Path::new(&fifo.path);
        let at = format!("global.{field}");
        match std::fs::symlink_metadata(path) {
            Ok(meta) if !meta.file_type().is_fifo() => out.push((
                at.clone(),
                format!(
                    "{field} {}: exists and is not a FIFO: vipd will not write to it \
                     (keepalived 2.2.7 would write into it)",
                    fifo.path
                ),
            )),
            Ok(_) => {}
            Err(_) => {
                let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
                if let Some(dir) = dir.filter(|d| !d.is_dir()) {
                    out.push((
                        at.clone(),
                        format!(
                            "{field} {}: directory {} does not exist here: the FIFO cannot be \
                             created",
                            fifo.path,
                            dir.display()
                        ),
                    ));
                }
            }
        }
        if let Err(e) = owner_ids(fifo) {
            out.push((at.clone(), format!("{field} {}: {e}", fifo.path)));
        }
        if let Some(script) = &fifo.script {
            if let Err(e) = super::notify::prepare(script, global) {
                out.push((
                    format!("{at}.script"),
                    format!("{field}_script `{}`: {e}", script.command),
                ));
            }
        }
    }
    out
}

/// The uid and gid the FIFO is given (`None`: vipd's own).
fn owner_ids(fifo: &NotifyFifo) -> Result<(Option<u32>, Option<u32>), String> {
    let user = match &fifo.owner {
        Some(name) => Some(lookup_user(name)?),
        None => None,
    };
    let gid = match &fifo.group {
        Some(name) => Some(lookup_group(name)?),
        // keepalived: the user's own group when only the user is given.
        None => user.as_ref().map(|u| u.gid.as_raw()),
    };
    Ok((user.map(|u| u.uid.as_raw()), gid))
}

fn lookup_user(name: &str) -> Result<User, String> {
    let found = match name.parse::<u32>() {
        Ok(uid) => User::from_uid(uid.into()),
        Err(_) => User::from_name(name),
    };
    match found {
        Ok(Some(user)) => Ok(user),
        Ok(None) => Err(format!("user {name} does not exist")),
        Err(e) => Err(format!("user {name}: {e}")),
    }
}

fn lookup_group(name: &str) -> Result<u32, String> {
    let found = match name.parse::<u32>() {
        Ok(gid) => Group::from_gid(gid.into()),
        Err(_) => Group::from_name(name),
    };
    match found {
        Ok(Some(group)) => Ok(group.gid.as_raw()),
        Ok(None) => Err(format!("group {name} does not exist")),
        Err(e) => Err(format!("group {name}: {e}")),
    }
}

/// One open FIFO and its script.
struct Fifo {
    field: &'static str,
    path: PathBuf,
    file: File,
    /// vipd made it, so vipd removes it.
    created: bool,
    script: Option<tokio::task::JoinHandle<()>>,
    /// Tells the script's task to stop it: `true` after [`SCRIPT_GRACE`], `false` at once.
    stop_script: Option<tokio::sync::oneshot::Sender<bool>>,
    written: u64,
    dropped: u64,
    /// Lines dropped since the last one that went through (logged once per streak).
    dropping: u64,
}

impl Fifo {
    fn open(
        field: &'static str,
        cfg: &NotifyFifo,
        global: &config::Global,
    ) -> Result<Fifo, String> {
        let path = PathBuf::from(&cfg.path);
        let (uid, gid) = owner_ids(cfg)?;
        // 0600 whatever the umask, as keepalived (umask 0177) makes it.
        let created = match nix::unistd::mkfifo(&path, Mode::S_IRUSR | Mode::S_IWUSR) {
            Ok(()) => true,
            Err(Errno::EEXIST) => false,
            Err(e) => return Err(format!("cannot create {}: {e}", path.display())),
        };
        if created {
            let _ = std::fs::set_permissions(
                &path,
                std::os::unix::fs::PermissionsExt::from_mode(0o600),
            );
            if uid.is_some() || gid.is_some() {
                if let Err(e) = nix::unistd::chown(&path, uid.map(Into::into), gid.map(Into::into))
                {
                    warn!("{field} {}: cannot change its owner: {e}", path.display());
                }
            }
        }
        // Read-write: opening does not wait for a reader, and the pipe stays usable when
        // the reader goes away (no SIGPIPE, no EPIPE); lines wait in it until read.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| {
                if created {
                    let _ = std::fs::remove_file(&path);
                }
                format!("cannot open {}: {e}", path.display())
            })?;
        let meta = file
            .metadata()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let me = nix::unistd::geteuid().as_raw();
        if !meta.file_type().is_fifo() {
            return Err(format!(
                "{} exists and is not a FIFO: not used",
                path.display()
            ));
        }
        if meta.uid() != me && Some(meta.uid()) != uid {
            return Err(format!(
                "{} is a FIFO of another user (uid {}): not used",
                path.display(),
                meta.uid()
            ));
        }
        let mut fifo = Fifo {
            field,
            path,
            file,
            created,
            script: None,
            stop_script: None,
            written: 0,
            dropped: 0,
            dropping: 0,
        };
        if let Some(script) = &cfg.script {
            fifo.start_script(script, global);
        }
        Ok(fifo)
    }

    /// Starts the reader script: its words, then the FIFO's path (keepalived's arguments).
    fn start_script(&mut self, script: &config::NotifyScript, global: &config::Global) {
        let field = self.field;
        let mut argv = match words::split(&script.command) {
            Ok(argv) => argv,
            Err(e) => {
                error!("{field}_script `{}` not started: {e}", script.command);
                return;
            }
        };
        argv.push(self.path.display().to_string());
        let (user, group) = match &script.user {
            Some(user) => (Some(user.clone()), script.group.clone()),
            None => (global.script_user.clone(), global.script_group.clone()),
        };
        let prepared = match exec::prepare(&argv, user.as_deref(), group.as_deref()) {
            Ok(p) => p,
            Err(e) => {
                error!("{field}_script `{}` not started: {e}", script.command);
                return;
            }
        };
        let mut child = match exec::spawn(&prepared, &[]) {
            Ok(child) => child,
            Err(e) => {
                error!("{field}_script `{}` not started: {e}", prepared.line());
                return;
            }
        };
        let line = prepared.line();
        info!("{field}_script `{line}` started");
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<bool>();
        let pgid = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw);
        let task = tokio::spawn(async move {
            tokio::select! {
                status = child.wait() => {
                    // keepalived does not start it again either (until a reload).
                    match status {
                        Ok(s) => warn!("{field}_script `{line}` exited ({s}); not restarted"),
                        Err(e) => warn!("{field}_script `{line}`: {e}"),
                    }
                    return;
                }
                grace = stop_rx => {
                    // vipd closed its end: the script reads what is left and ends at end
                    // of file.
                    let grace = grace.unwrap_or(false);
                    if grace && tokio::time::timeout(SCRIPT_GRACE, child.wait()).await.is_ok() {
                        return;
                    }
                }
            }
            for signal in [Signal::SIGTERM, Signal::SIGKILL] {
                if let Some(pgid) = pgid {
                    let _ = killpg(pgid, signal);
                }
                if tokio::time::timeout(SCRIPT_GRACE, child.wait())
                    .await
                    .is_ok()
                {
                    return;
                }
            }
        });
        self.script = Some(task);
        self.stop_script = Some(stop_tx);
    }

    /// One non-blocking write; a line that does not fit is dropped and counted.
    fn write(&mut self, line: &str) {
        match self.file.write(line.as_bytes()) {
            Ok(n) if n == line.len() => {
                self.written += 1;
                if self.dropping > 0 {
                    info!(
                        "{} {}: read again; {} line(s) were lost",
                        self.field,
                        self.path.display(),
                        self.dropping
                    );
                    self.dropping = 0;
                }
            }
            Ok(_) => self.drop_line("written in part"),
            Err(e) if e.kind() == ErrorKind::WouldBlock => self.drop_line("the FIFO is full"),
            Err(e) => self.drop_line(&e.to_string()),
        }
    }

    fn drop_line(&mut self, why: &str) {
        self.dropped += 1;
        self.dropping += 1;
        if self.dropping == 1 {
            warn!(
                "{} {}: line lost ({why}): nobody reads it fast enough",
                self.field,
                self.path.display()
            );
        }
    }

    /// Removes the FIFO (if vipd made it) and closes vipd's end; the script is stopped in
    /// the background (returned to wait for). With `reopening`, a FIFO vipd did not make
    /// is opened again at once: its script would not see the end of file, and would take
    /// lines meant for the new one during a grace period, so it is stopped at once.
    fn close(mut self, reopening: bool) -> Option<tokio::task::JoinHandle<()>> {
        let grace = !reopening || self.created;
        // Removed first, so that a script reopening the path does not find the old FIFO.
        if self.created {
            let _ = std::fs::remove_file(&self.path);
        }
        if self.dropped > 0 {
            info!(
                "{} {}: {} line(s) written, {} lost",
                self.field,
                self.path.display(),
                self.written,
                self.dropped
            );
        }
        drop(self.file);
        if let Some(stop) = self.stop_script.take() {
            let _ = stop.send(grace);
        }
        self.script.take()
    }
}

/// Most `MASTER_RX_LOWER_PRI` lines written for one instance at a time: a flood of lower
/// priority adverts between two looks gives this many, not one per advert.
pub const MAX_LOWER_PRIORITY_LINES: u64 = 16;

/// What one notify FIFO took and lost, for `vipd status` and the metrics. The counts go on
/// across reloads while the FIFO keeps its keyword and path.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NotifyFifoStats {
    /// The keyword that configured it: `notify_fifo` or `vrrp_notify_fifo`.
    pub fifo: String,
    pub path: String,
    /// Lines written whole.
    pub written: u64,
    /// Lines lost: the pipe was full (nobody read fast enough) or the write failed.
    pub dropped: u64,
}

/// The open notify FIFOs of the running configuration.
#[derive(Default)]
pub struct NotifyFifos {
    fifos: Vec<Fifo>,
    /// Scripts of closed FIFOs still being stopped.
    stopping: Vec<tokio::task::JoinHandle<()>>,
    /// Per instance: lower-priority adverts already written as `MASTER_RX_LOWER_PRI`.
    lower_priority_written: std::collections::HashMap<String, u64>,
}

impl NotifyFifos {
    /// Opens the configured FIFOs and starts their scripts (inside a tokio runtime). A FIFO
    /// that cannot be used is logged and left out, as keepalived does.
    pub fn open(global: &config::Global) -> NotifyFifos {
        let mut fifos = Vec::new();
        for (field, cfg) in configured(global) {
            match Fifo::open(field, cfg, global) {
                Ok(fifo) => {
                    info!("{field}: writing state changes to {}", cfg.path);
                    fifos.push(fifo);
                }
                Err(e) => error!("{field}: {e}"),
            }
        }
        NotifyFifos {
            fifos,
            stopping: Vec::new(),
            lower_priority_written: Default::default(),
        }
    }

    /// Closes the FIFOs and opens them again from `global` (a reload: keepalived restarts
    /// its FIFO scripts then too).
    pub fn reopen(&mut self, global: &config::Global) {
        let counts = self.stats();
        self.close(true);
        let stopping = std::mem::take(&mut self.stopping);
        let written = std::mem::take(&mut self.lower_priority_written);
        *self = NotifyFifos::open(global);
        self.stopping = stopping;
        self.lower_priority_written = written;
        self.stopping.retain(|task| !task.is_finished());
        for fifo in &mut self.fifos {
            let same =
                |c: &&NotifyFifoStats| c.fifo == fifo.field && Path::new(&c.path) == fifo.path;
            if let Some(before) = counts.iter().find(same) {
                fifo.written += before.written;
                fifo.dropped += before.dropped;
            }
        }
    }

    /// Lines written and lost per open FIFO.
    pub fn stats(&self) -> Vec<NotifyFifoStats> {
        (self.fifos.iter())
            .map(|fifo| NotifyFifoStats {
                fifo: fifo.field.to_string(),
                path: fifo.path.display().to_string(),
                written: fifo.written,
                dropped: fifo.dropped,
            })
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.fifos.is_empty()
    }

    /// Writes one line to every FIFO; never waits.
    pub fn write(&mut self, scope: Scope, name: &str, event: FifoEvent, priority: u8) {
        if self.fifos.is_empty() {
            return;
        }
        let text = line(scope, name, event, priority);
        for fifo in &mut self.fifos {
            fifo.write(&text);
        }
    }

    /// An instance has heard `heard` lower-priority adverts as master since it started:
    /// one `MASTER_RX_LOWER_PRI` line for each new one (at most
    /// [`MAX_LOWER_PRIORITY_LINES`] at a time).
    pub fn lower_priority_heard(&mut self, name: &str, heard: u64, priority: u8) {
        if self.fifos.is_empty() {
            return;
        }
        let written = self
            .lower_priority_written
            .entry(name.to_string())
            .or_insert(0);
        // A new instance (reload) counts from 0 again.
        let new = heard.saturating_sub(*written);
        *written = heard;
        for _ in 0..new.min(MAX_LOWER_PRIORITY_LINES) {
            self.write(Scope::Instance, name, FifoEvent::MasterRxLowerPri, priority);
        }
    }

    fn close(&mut self, reopening: bool) {
        for fifo in self.fifos.drain(..) {
            if let Some(task) = fifo.close(reopening) {
                self.stopping.push(task);
            }
        }
    }

    /// At exit: closes the FIFOs (removing those vipd made) and waits for the scripts to end.
    pub async fn finish(mut self) {
        self.close(false);
        for task in self.stopping {
            let _ = task.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_keepalived_lines() {
        assert_eq!(
            line(
                Scope::Instance,
                "VI_1",
                FifoEvent::State(NotifyState::Master),
                100
            ),
            "INSTANCE \"VI_1\" MASTER 100\n"
        );
        assert_eq!(
            line(Scope::Group, "G", FifoEvent::State(NotifyState::Backup), 0),
            "GROUP \"G\" BACKUP 0\n"
        );
        assert_eq!(
            line(Scope::Instance, "VI_2", FifoEvent::MasterPriority, 93),
            "INSTANCE \"VI_2\" MASTER_PRIORITY 93\n"
        );
        assert_eq!(
            line(
                Scope::Instance,
                "VI_2",
                FifoEvent::priority_change(false),
                93
            ),
            "INSTANCE \"VI_2\" BACKUP_PRIORITY 93\n"
        );
        assert_eq!(
            line(Scope::Instance, "x", FifoEvent::State(NotifyState::Stop), 0),
            "INSTANCE \"x\" STOP 0\n"
        );
        assert_eq!(
            line(
                Scope::Instance,
                "x",
                FifoEvent::State(NotifyState::Fault),
                0
            ),
            "INSTANCE \"x\" FAULT 0\n"
        );
    }

    fn cfg_with(text: &str) -> config::Config {
        config::parse_keepalived(text, Path::new("test.conf")).unwrap()
    }

    #[test]
    fn priority_changes_instance_then_group_then_global() {
        let base = "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n \
                    virtual_ipaddress {\n 192.0.2.1\n }\n NOTIFY_A\n}\n\
                    vrrp_instance B {\n interface eth0\n virtual_router_id 2\n \
                    virtual_ipaddress {\n 192.0.2.2\n }\n}\n\
                    vrrp_sync_group G {\n group {\n A\n B\n }\n NOTIFY_G\n}\n";
        let with = |global: &str, a: &str, g: &str| {
            cfg_with(&format!(
                "global_defs {{\n {global}\n}}\n{}",
                base.replace("NOTIFY_A", a).replace("NOTIFY_G", g)
            ))
        };
        let decide = |cfg: &config::Config| -> Vec<bool> {
            cfg.instances
                .iter()
                .map(|i| priority_changes(cfg, i))
                .collect()
        };
        assert_eq!(decide(&with("router_id r", "", "")), vec![false, false]);
        assert_eq!(
            decide(&with("vrrp_notify_priority_changes", "", "")),
            vec![true, true]
        );
        assert_eq!(
            decide(&with(
                "vrrp_notify_priority_changes",
                "notify_priority_changes off",
                ""
            )),
            vec![false, true]
        );
        assert_eq!(
            decide(&with(
                "router_id r",
                "notify_priority_changes off",
                "notify_priority_changes on"
            )),
            vec![false, true]
        );
    }

    #[test]
    fn dropped_lines_are_reported_and_still_counted_after_a_reload() {
        let dir = std::env::temp_dir().join(format!("vipd-fifo-stats-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("stats.fifo").display().to_string();
        let global = config::Global {
            vrrp_notify_fifo: Some(NotifyFifo {
                path: path.clone(),
                owner: None,
                group: None,
                script: None,
            }),
            ..Default::default()
        };
        let mut fifos = NotifyFifos::open(&global);
        let event = FifoEvent::State(NotifyState::Master);
        // Nobody reads: 64 KiB of 28-byte lines fill the pipe well before 10,000.
        for _ in 0..10_000 {
            fifos.write(Scope::Instance, "VI_1", event, 100);
        }
        let stats = fifos.stats();
        assert_eq!(stats.len(), 1);
        assert_eq!(
            (stats[0].fifo.as_str(), &stats[0].path),
            ("vrrp_notify_fifo", &path)
        );
        assert!(stats[0].dropped > 0 && stats[0].written > 0);
        assert_eq!(stats[0].written + stats[0].dropped, 10_000);
        // A reload opens the FIFO again (empty): the counts go on.
        fifos.reopen(&global);
        fifos.write(Scope::Instance, "VI_1", event, 100);
        let after = fifos.stats();
        assert_eq!(after[0].dropped, stats[0].dropped);
        assert_eq!(after[0].written, stats[0].written + 1);
        // Another path is another FIFO: it counts from zero.
        let moved = config::Global {
            vrrp_notify_fifo: Some(NotifyFifo {
                path: dir.join("other.fifo").display().to_string(),
                owner: None,
                group: None,
                script: None,
            }),
            ..Default::default()
        };
        fifos.reopen(&moved);
        assert_eq!((fifos.stats()[0].written, fifos.stats()[0].dropped), (0, 0));
        fifos.close(false);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_full_fifo_drops_lines_without_waiting() {
        let dir = std::env::temp_dir().join(format!("vipd-fifo-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("full.fifo");
        let cfg = NotifyFifo {
            path: path.display().to_string(),
            owner: None,
            group: None,
            script: None,
        };
        let mut fifo = Fifo::open("notify_fifo", &cfg, &config::Global::default()).unwrap();
        assert!(std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_fifo());
        assert_eq!(
            std::fs::symlink_metadata(&path).unwrap().mode() & 0o777,
            0o600
        );
        // Nobody reads: the pipe (64 KiB) fills, then lines are dropped, each write at once.
        let text = line(
            Scope::Instance,
            "VI_1",
            FifoEvent::State(NotifyState::Master),
            100,
        );
        for _ in 0..10_000 {
            fifo.write(&text);
        }
        assert!(fifo.written > 0);
        assert!(fifo.dropped > 0);
        assert_eq!(fifo.written + fifo.dropped, 10_000);
        // Reading frees room: writing works again.
        let mut reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .unwrap();
        let mut buf = vec![0u8; 8192];
        let n = std::io::Read::read(&mut reader, &mut buf).unwrap();
        assert!(n > 0);
        assert!(buf[..n].starts_with(text.as_bytes()));
        let before = fifo.written;
        fifo.write(&text);
        assert_eq!(fifo.written, before + 1);
        assert_eq!(fifo.dropping, 0);
        assert!(fifo.close(false).is_none());
        assert!(!path.exists(), "the FIFO vipd made is removed");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn each_lower_priority_advert_gives_one_line_bounded_per_look() {
        let dir = std::env::temp_dir().join(format!("vipd-fifo-lower-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("lower.fifo");
        let global = config::Global {
            notify_fifo: Some(NotifyFifo {
                path: path.display().to_string(),
                owner: None,
                group: None,
                script: None,
            }),
            ..Default::default()
        };
        let mut fifos = NotifyFifos::open(&global);
        assert!(!fifos.is_empty());
        fifos.lower_priority_heard("VI_1", 0, 150);
        fifos.lower_priority_heard("VI_1", 2, 150);
        fifos.lower_priority_heard("VI_1", 2, 150);
        fifos.lower_priority_heard("VI_1", 1000, 150);
        // A replaced instance (reload) starts from 0 again.
        fifos.lower_priority_heard("VI_1", 1, 140);
        let mut reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .unwrap();
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut reader, &mut text);
        let lines: Vec<&str> = text.lines().collect();
        let one = "INSTANCE \"VI_1\" MASTER_RX_LOWER_PRI 150";
        assert_eq!(lines.len(), 2 + MAX_LOWER_PRIORITY_LINES as usize, "{text}");
        assert!(lines[..lines.len() - 1].iter().all(|l| *l == one), "{text}");
        // 1 < 1000: nothing new for the replaced instance; its count is taken from here.
        assert_eq!(lines.last(), Some(&one));
        fifos.lower_priority_heard("VI_1", 2, 140);
        let mut more = String::new();
        let _ = std::io::Read::read_to_string(&mut reader, &mut more);
        assert_eq!(more, "INSTANCE \"VI_1\" MASTER_RX_LOWER_PRI 140\n");
        fifos.close(false);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_fifo_vipd_creates_goes_to_its_owner_and_group() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: chown needs root");
            return;
        }
        let dir = std::env::temp_dir().join(format!("vipd-fifo-owner-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("owned.fifo");
        let nobody = User::from_name("nobody").unwrap().unwrap();
        let cfg = NotifyFifo {
            path: path.display().to_string(),
            owner: Some("nobody".into()),
            group: None,
            script: None,
        };
        let fifo = Fifo::open("notify_fifo", &cfg, &config::Global::default()).unwrap();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o600);
        assert_eq!(
            (meta.uid(), meta.gid()),
            (nobody.uid.as_raw(), nobody.gid.as_raw())
        );
        drop(fifo.close(false));
        // A FIFO someone else owns is not used.
        nix::unistd::mkfifo(&path, Mode::S_IRUSR | Mode::S_IWUSR).unwrap();
        nix::unistd::chown(&path, Some(nobody.uid), None).unwrap();
        let plain = NotifyFifo { owner: None, ..cfg };
        let err = Fifo::open("notify_fifo", &plain, &config::Global::default())
            .err()
            .unwrap();
        assert!(err.contains("another user"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_regular_file_at_the_path_is_refused_and_kept() {
        let dir = std::env::temp_dir().join(format!("vipd-fifo-file-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state");
        std::fs::write(&path, "precious\n").unwrap();
        let cfg = NotifyFifo {
            path: path.display().to_string(),
            owner: None,
            group: None,
            script: None,
        };
        let err = Fifo::open("notify_fifo", &cfg, &config::Global::default())
            .err()
            .unwrap();
        assert!(err.contains("is not a FIFO"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious\n");
        let warnings = check_warnings(&config::Global {
            notify_fifo: Some(cfg),
            ..Default::default()
        });
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(warnings[0].0, "global.notify_fifo");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
