//! keepalived's dump signals in the daemon: the event loop takes the status report (what
//! `vipd status` takes), a blocking task renders and writes it, so a large state or a slow
//! disk never delays adverts. The loop's share is bounded whatever the signal rate: one
//! report serves every dump asked for within [`FRESH`], and one dump of each kind is written
//! at a time (a signal for a kind still being written is dropped: the dump that is being
//! written is as new).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{debug, warn};

use crate::control::dumps::{dump_dir, write_atomically, DumpKind, StatsBaseline};
use crate::control::StatusReport;

/// How long a status report taken for a dump serves further dumps: an exporter's SIGUSR1
/// and SIGUSR2 come milliseconds apart, and a flood of signals costs the event loop at most
/// one report per period.
const FRESH: Duration = Duration::from_millis(100);

pub(super) struct Dumps {
    dir: PathBuf,
    /// Per kind (data, stats, JSON): a dump is being written.
    busy: [Arc<AtomicBool>; 3],
    baseline: Arc<StatsBaseline>,
    /// The last report taken for a dump, and when.
    snapshot: Option<(Instant, Arc<StatusReport>)>,
}

/// A dump whose slot is taken: written by [`Dumps::write`].
pub(super) struct Pending {
    kind: DumpKind,
    busy: Arc<AtomicBool>,
}

fn slot(kind: DumpKind) -> usize {
    match kind {
        DumpKind::Data => 0,
        DumpKind::Stats => 1,
        DumpKind::Json => 2,
    }
}

impl Dumps {
    /// Dumps into `$TMPDIR`, else /tmp, as keepalived.
    pub(super) fn new() -> Dumps {
        Dumps {
            dir: dump_dir(std::env::var_os("TMPDIR").as_deref()),
            busy: Default::default(),
            baseline: Arc::default(),
            snapshot: None,
        }
    }

    /// SIGRTMAX-1: the stats and JSON dumps count from `report` (taken now) on.
    pub(super) fn clear_stats(&mut self, report: StatusReport) {
        let mut baseline = StatsBaseline::default();
        baseline.clear(&report);
        self.baseline = Arc::new(baseline);
        // Dumps right after the clear count from this very report.
        self.snapshot = Some((Instant::now(), Arc::new(report)));
        debug!("dump counters cleared (vipd status and the metrics keep counting)");
    }

    /// Takes the slot of `kind`, unless a dump of that kind is still being written.
    pub(super) fn begin(&self, kind: DumpKind) -> Option<Pending> {
        let busy = self.busy[slot(kind)].clone();
        if busy.swap(true, Ordering::AcqRel) {
            debug!(
                "{}: the previous one is still being written",
                kind.file_name()
            );
            return None;
        }
        Some(Pending { kind, busy })
    }

    /// Whether the next dump needs a new report (the last one is older than [`FRESH`]).
    pub(super) fn needs_report(&self) -> bool {
        !matches!(&self.snapshot, Some((at, _)) if at.elapsed() < FRESH)
    }

    /// Writes the dump in the background from `report`, or the last one when it is `None`
    /// (see [`Dumps::needs_report`]).
    pub(super) fn write(&mut self, pending: Pending, report: Option<StatusReport>) {
        let Pending { kind, busy } = pending;
        let report = match (report, &self.snapshot) {
            (Some(report), _) => {
                let report = Arc::new(report);
                self.snapshot = Some((Instant::now(), report.clone()));
                report
            }
            (None, Some((_, report))) => report.clone(),
            (None, None) => Arc::new(StatusReport::default()),
        };
        let baseline = self.baseline.clone();
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || {
            let text = if kind.counts() && !baseline.is_empty() {
                let mut counted = (*report).clone();
                baseline.apply(&mut counted);
                kind.render(&counted)
            } else {
                kind.render(&report)
            };
            match write_atomically(&dir, kind.file_name(), text.as_bytes()) {
                Ok(path) => debug!("wrote {}", path.display()),
                Err(e) => warn!("cannot write {}: {e}", dir.join(kind.file_name()).display()),
            }
            busy.store(false, Ordering::Release);
        });
    }
}
