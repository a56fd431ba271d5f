//! Adding and removing an instance's VIPs in slices, so that the other instances' adverts
//! keep their schedule.
//!
//! Each address is one netlink request, and the kernel's time per request grows with the
//! addresses already on the interface: 4,000 IPv6 VIPs took 17 s to add (`ip -batch` alike)
//! and 6 s to remove on the lab machine. Done in one go from the event loop, no advert of
//! any other instance left meanwhile, and their backups took over from a live master (split
//! brain). Now a master's VIPs go in (or out) for at most [`SLICE`] per turn of the loop,
//! and the loop sends due adverts and reads packets between slices.
//!
//! The order failover depends on is kept: the instance's first advert leaves before its
//! VIPs are added (adverts queued in the turn are sent before any other action), its VIPs
//! are added before it announces them (an `Announce` asked for meanwhile waits for the last
//! VIP), and the few VIPs of an ordinary instance all go in the first slice, in the same turn
//! as before. A removal asked for while the VIPs are still being added ends the adding (what
//! is not added yet is forgotten); an adding asked for while they are being removed ends the
//! removal (what is still there is found there and stays). A job keeps a copy of its
//! instance's configuration: a reload that retires the instance or moves it in the list
//! does not end it (a retired master's VIPs still go). The VIPs a reload adds to or removes
//! from a master go the same way. Jobs still going on are finished at once at exit.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::addresses::{self, add_vip, remove_vip};
use super::routes;
use super::vip_state::AddedAddress;
use super::Daemon;
use crate::config;
use crate::vrrp::instance::AnnounceCause;

/// The longest a turn of the loop spends adding or removing VIPs (plus one request): well
/// inside the 30 ms a backup of a 10 ms instance waits before it takes over.
pub(super) const SLICE: Duration = Duration::from_millis(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Add,
    Remove,
}

/// The VIPs of one instance being added or removed.
#[derive(Debug)]
pub(super) struct VipJob {
    /// The instance as it was when the job began (a reload may retire it, its VIPs still
    /// go, or move it in the list of instances): the owner, and where each VIP goes.
    cfg: Box<config::Instance>,
    kind: Kind,
    /// The VIPs to add or remove.
    vips: Vec<config::Vip>,
    /// The next of `vips`.
    next: usize,
    /// A change of state (all VIPs, and the routes and rules after the last one), not the
    /// VIPs a reload added to or removed from a master.
    transition: bool,
    /// Announcing the VIPs once the last one is in: `Some(cause)` for the instance's
    /// `Announce` asked for meanwhile, `None` for one round after a reload.
    announce: Option<(u32, Option<AnnounceCause>)>,
}

/// The jobs, the front one worked on: an instance's own in the order they were asked for.
#[derive(Debug, Default)]
pub(super) struct VipJobs {
    queue: VecDeque<VipJob>,
}

impl VipJobs {
    pub(super) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Whether VIPs of instance `name` are still being added.
    pub(super) fn adding(&self, name: &str) -> bool {
        (self.queue.iter()).any(|job| job.cfg.name == name && job.kind == Kind::Add)
    }
}

impl Daemon {
    /// Whether VIPs of instance `index` are still being added.
    pub(super) fn adding_vips(&self, index: usize) -> bool {
        (self.routers.get(index)).is_some_and(|r| self.vip_jobs.adding(&r.cfg.name))
    }

    /// `Action::AddVips`: ends a removal still going on (what is still there is found there),
    /// records every VIP, route and rule of the instance (one write of the record per kind),
    /// then adds the VIPs for one slice; what is left follows in the next turns. Routes and
    /// rules go in after the last VIP.
    pub(super) fn start_adding_vips(&mut self, index: usize) {
        let Some(router) = self.routers.get(index) else {
            return;
        };
        let cfg = Box::new(router.cfg.clone());
        self.end_vip_jobs(&cfg.name, |job| job.kind == Kind::Add || job.transition);
        let vips: Vec<config::Vip> = cfg.all_vips().cloned().collect();
        let (owner, state) = (cfg.name.as_str(), &mut self.vip_state);
        addresses::reserve(state, owner, &added_addresses(&cfg, &vips));
        addresses::reserve(state, owner, &cfg.routes);
        addresses::reserve(state, owner, &cfg.rules);
        self.push_vip_job(cfg, Kind::Add, vips, true);
    }

    /// `Action::RemoveVips`: ends an adding still going on (what is not added yet is
    /// forgotten), removes the routes and rules, then the VIPs for one slice; what is left
    /// follows in the next turns.
    pub(super) fn start_removing_vips(&mut self, index: usize) {
        let Some(router) = self.routers.get(index) else {
            return;
        };
        let cfg = Box::new(router.cfg.clone());
        self.end_vip_jobs(&cfg.name, |job| job.kind == Kind::Add);
        let (owner, state) = (cfg.name.as_str(), &mut self.vip_state);
        routes::remove_routing(&self.netlink, state, owner, &cfg.routes, &cfg.rules);
        let vips: Vec<config::Vip> = cfg.all_vips().cloned().collect();
        self.push_vip_job(cfg, Kind::Remove, vips, true);
    }

    /// A reload took `removed` from master `index` and gave it `added`: they go out and in
    /// as slices too, and the new ones are announced once.
    pub(super) fn change_vips(
        &mut self,
        index: usize,
        removed: Vec<config::Vip>,
        added: Vec<config::Vip>,
    ) {
        let Some(router) = self.routers.get(index) else {
            return;
        };
        let cfg = Box::new(router.cfg.clone());
        if !removed.is_empty() {
            self.push_vip_job(cfg.clone(), Kind::Remove, removed, false);
        }
        if !added.is_empty() {
            let state = &mut self.vip_state;
            addresses::reserve(state, &cfg.name, &added_addresses(&cfg, &added));
            self.push_vip_job(cfg, Kind::Add, added, false);
            if let Some(job) = self.vip_jobs.queue.back_mut() {
                job.announce = Some((1, None));
            }
        }
    }

    fn push_vip_job(
        &mut self,
        cfg: Box<config::Instance>,
        kind: Kind,
        vips: Vec<config::Vip>,
        transition: bool,
    ) {
        let job = VipJob {
            cfg,
            kind,
            vips,
            next: 0,
            transition,
            announce: None,
        };
        // First, unless the instance has jobs waiting (its own go in order): an instance
        // taking over must not wait for another one's thousands of VIPs.
        if self
            .vip_jobs
            .queue
            .iter()
            .any(|j| j.cfg.name == job.cfg.name)
        {
            self.vip_jobs.queue.push_back(job);
        } else {
            self.vip_jobs.queue.push_front(job);
        }
        self.work_vip_jobs(Instant::now() + SLICE);
    }

    /// `Action::Announce` of an instance whose VIPs are still being added: made when the
    /// last one is in. False when nothing is being added (announce now).
    pub(super) fn defer_announce(
        &mut self,
        index: usize,
        repeat: u32,
        cause: AnnounceCause,
    ) -> bool {
        let Some(router) = self.routers.get(index) else {
            return false;
        };
        let name = &router.cfg.name;
        let job = (self.vip_jobs.queue.iter_mut().rev())
            .find(|job| job.cfg.name == *name && job.kind == Kind::Add);
        match job {
            Some(job) => {
                // A later announcement replaces an earlier one: both announce every VIP. One
                // that reaches the sync group keeps doing so (`reaches_sync_group`).
                let cause = match job.announce {
                    Some((_, Some(AnnounceCause::BecameMaster))) => AnnounceCause::BecameMaster,
                    Some((_, Some(earlier))) if earlier.reaches_sync_group() => earlier,
                    _ => cause,
                };
                let repeat = job.announce.map_or(repeat, |(r, _)| r.max(repeat));
                job.announce = Some((repeat, Some(cause)));
                true
            }
            None => false,
        }
    }

    /// Ends the jobs of instance `name` that `which` picks, where they stand: an adding
    /// forgets what it did not add (it stays reserved otherwise).
    fn end_vip_jobs(&mut self, name: &str, which: impl Fn(&VipJob) -> bool) {
        let (ended, kept): (VecDeque<VipJob>, VecDeque<VipJob>) =
            std::mem::take(&mut self.vip_jobs.queue)
                .into_iter()
                .partition(|job| job.cfg.name == name && which(job));
        self.vip_jobs.queue = kept;
        for job in ended.into_iter().filter(|job| job.kind == Kind::Add) {
            self.release_unadded(&job);
        }
    }

    fn release_unadded(&mut self, job: &VipJob) {
        let cfg = &job.cfg;
        let (owner, state) = (cfg.name.as_str(), &mut self.vip_state);
        addresses::release(state, owner, &added_addresses(cfg, &job.vips));
        if job.transition {
            addresses::release(state, owner, &cfg.routes);
            addresses::release(state, owner, &cfg.rules);
        }
    }

    /// Works on the jobs, front first, until `until` (at least one VIP each turn). The
    /// VIPs removed in a slice are forgotten in one write of the record.
    pub(super) fn work_vip_jobs(&mut self, until: Instant) {
        if self.vip_state.forgets_deferred() {
            self.work_vip_jobs_until(until);
            return;
        }
        self.vip_state.defer_forgets();
        self.work_vip_jobs_until(until);
        if let Err(e) = self.vip_state.flush() {
            tracing::warn!("{e}: VIPs vipd removed are still on record");
        }
    }

    fn work_vip_jobs_until(&mut self, until: Instant) {
        loop {
            let Some(job) = self.vip_jobs.queue.front_mut() else {
                return;
            };
            let position = job.next;
            job.next += 1;
            let cfg = &job.cfg;
            match (job.vips.get(position), job.kind) {
                (Some(vip), Kind::Add) => add_vip(&self.netlink, &mut self.vip_state, cfg, vip),
                (Some(vip), Kind::Remove) => {
                    remove_vip(&self.netlink, &mut self.vip_state, cfg, vip)
                }
                (None, _) => {
                    if let Some(job) = self.vip_jobs.queue.pop_front() {
                        self.vip_job_done(job);
                    }
                }
            }
            if Instant::now() >= until {
                return;
            }
        }
    }

    /// Finishes every job now (at exit).
    pub(super) fn finish_vip_jobs(&mut self) {
        while !self.vip_jobs.is_empty() {
            self.work_vip_jobs(Instant::now() + Duration::from_secs(3600));
        }
    }

    fn vip_job_done(&mut self, job: VipJob) {
        let cfg = &job.cfg;
        if job.kind == Kind::Add {
            if job.transition {
                let (owner, state) = (cfg.name.as_str(), &mut self.vip_state);
                routes::add_routing(&self.netlink, state, owner, &cfg.routes, &cfg.rules);
            }
            // What could not be added (a missing interface) is not ours.
            self.release_unadded(&job);
        }
        self.record_vips_of(&cfg.name, &job.vips, job.kind == Kind::Add);
        // The instance may have left with a reload meanwhile.
        let Some(index) = self.routers.iter().position(|r| r.cfg.name == cfg.name) else {
            return;
        };
        match job.announce {
            Some((repeat, Some(cause))) => self.announce(index, repeat, cause),
            Some((_, None)) => self.announce_once(index),
            None => {}
        }
        if job.transition {
            self.sync_forwards_of(index);
        }
        self.schedule.touch_all();
    }
}

fn added_addresses(cfg: &config::Instance, vips: &[config::Vip]) -> Vec<AddedAddress> {
    (vips.iter())
        .map(|vip| addresses::added_address(cfg.vip_interface(vip), vip))
        .collect()
}
