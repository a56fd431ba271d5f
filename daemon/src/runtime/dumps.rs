//! keepalived's dump signals in the daemon: the event loop takes the status report (what
//! `vipd status` takes), a blocking task renders and writes it, so a large state or a slow
//! disk never delays adverts. One dump of each kind is written at a time; a signal for a
//! kind still being written is dropped (the dump that is written is the newer one anyway).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tracing::{debug, warn};

use crate::control::dumps::{dump_dir, write_atomically, DumpKind, StatsBaseline};
use crate::control::StatusReport;

pub(super) struct Dumps {
    dir: PathBuf,
    /// Per kind (data, stats, JSON): a dump is being written.
    busy: [Arc<AtomicBool>; 3],
    baseline: StatsBaseline,
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
            baseline: StatsBaseline::default(),
        }
    }

    /// SIGRTMAX-1: the stats and JSON dumps count from `report` on.
    pub(super) fn clear_stats(&mut self, report: &StatusReport) {
        self.baseline.clear(report);
        debug!("dump counters cleared (vipd status and the metrics keep counting)");
    }

    /// Writes the dump of `kind` in the background from the report `status` makes, unless
    /// one of that kind is still being written (then `status` is not even called: a flood
    /// of signals costs the event loop little more than reading them).
    pub(super) fn write(&self, kind: DumpKind, status: impl FnOnce() -> StatusReport) {
        let busy = self.busy[slot(kind)].clone();
        if busy.swap(true, Ordering::AcqRel) {
            debug!(
                "{}: the previous one is still being written",
                kind.file_name()
            );
            return;
        }
        let mut report = status();
        if kind.counts() {
            self.baseline.apply(&mut report);
        }
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || {
            let text = kind.render(&report);
            match write_atomically(&dir, kind.file_name(), text.as_bytes()) {
                Ok(path) => debug!("wrote {}", path.display()),
                Err(e) => warn!("cannot write {}: {e}", dir.join(kind.file_name()).display()),
            }
            busy.store(false, Ordering::Release);
        });
    }
}
