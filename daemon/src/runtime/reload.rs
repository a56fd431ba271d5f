//! SIGHUP: re-reading the configuration without disturbing what did not change.

use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use tracing::{error, info, warn};

use super::router::{Router, SocketKey};
use super::tasks::{tell_systemd, tell_systemd_reloading};
use super::{log_config_warnings, routes, Daemon};
use crate::check::{CheckEvent, CheckReload, CheckRunner, CheckRunnerHandle};
use crate::config::{self, Global};
use crate::control::protocol::ChangeReply;
use crate::services::tracking;

/// A reload whose file is read on a blocking thread while the event loop goes on: a file
/// that takes long to read (large, on a slow disk, or hostile up to the reader's limits)
/// held up every advert while it was read on the loop, and the backups took over from a
/// master that still held its VIPs.
pub(super) struct PendingReload {
    task: tokio::task::JoinHandle<Result<config::Loaded, config::ConfigErrors>>,
    /// Who asked (`SIGHUP` or the control client), and the clients waiting for the outcome.
    by: String,
    replies: Vec<oneshot::Sender<ChangeReply>>,
    /// Asked again while reading (the file may have changed since the read began): read
    /// once more when this one is applied.
    again: Option<(String, Vec<oneshot::Sender<ChangeReply>>)>,
}

/// The file of the pending reload once it has been read (never, without one).
pub(super) async fn read_done(
    pending: &mut Option<PendingReload>,
) -> Result<config::Loaded, String> {
    match pending {
        Some(pending) => match (&mut pending.task).await {
            Ok(read) => read.map_err(|e| e.to_string().trim_end().to_string()),
            Err(e) => Err(format!("reading the file failed: {e}")),
        },
        None => std::future::pending().await,
    }
}

impl Daemon {
    /// SIGHUP or `vipd reload`: starts reading the file again on a blocking thread;
    /// [`Daemon::finish_reload`] applies it. `reply`: a control client waiting for the outcome.
    pub(super) fn request_reload(
        &mut self,
        by: String,
        reply: Option<oneshot::Sender<ChangeReply>>,
    ) {
        if let Some(pending) = self.reloading.as_mut() {
            let again = pending.again.get_or_insert_with(|| (by, Vec::new()));
            again.1.extend(reply);
            return;
        }
        tell_systemd_reloading();
        info!("SIGHUP: reloading {}", self.config_path.display());
        let path = self.config_path.clone();
        let options = self.read_options.clone();
        let task = tokio::task::spawn_blocking(move || config::read(&path, &options));
        self.reloading = Some(PendingReload {
            task,
            by,
            replies: reply.into_iter().collect(),
            again: None,
        });
    }

    /// The pending reload's file has been read: applies it (or refuses it), tells the event
    /// stream and the waiting clients, and reads again when that was asked meanwhile.
    pub(super) async fn finish_reload(&mut self, read: Result<config::Loaded, String>) {
        let Some(pending) = self.reloading.take() else {
            return;
        };
        let result = if self.stopping {
            tell_systemd(&[sd_notify::NotifyState::Ready]);
            Err("stopping: no reload".to_string())
        } else {
            let before = self.config.clone();
            let result = self.reload(read).await;
            let changed = self.config != before;
            self.emit_reload(
                &pending.by,
                changed,
                result.as_ref().err().map(String::as_str),
            );
            result.map(|()| changed)
        };
        let reply = self.reload_reply(&result);
        for waiting in pending.replies {
            let _ = waiting.send(reply.clone());
        }
        if let Some((by, replies)) = pending.again {
            self.request_reload(by, None);
            if let Some(next) = self.reloading.as_mut() {
                next.replies = replies;
            }
        }
    }

    /// Applies the file read again. Unchanged instances keep their state and VIPs; a bad file
    /// is refused (the error, also logged) and the running configuration stays.
    async fn reload(&mut self, read: Result<config::Loaded, String>) -> Result<(), String> {
        let mut new = match read {
            Ok(loaded) => {
                log_config_warnings(&loaded.warnings);
                loaded.config
            }
            Err(e) => return refuse(&e),
        };
        if let Some(name) = &self.net_namespace_override {
            new.global.net_namespace = Some(name.clone());
        }
        // A VIP that is an address of this node would be taken from it on every failover.
        if let Err(e) = self.own_address_problems(&new) {
            return refuse(&e);
        }
        // Unchanged checks keep running with their state; changed ones go on from the health
        // they had reached. A check that cannot run refuses the whole file.
        let new_specs = match tracking::check_specs(&new) {
            Ok(specs) => specs,
            Err(e) => return refuse(&e),
        };
        let check_plan = match &self.checks {
            Some(runner) => match runner.prepare_reload(new_specs) {
                Ok(plan) => ChecksAfterReload::Reload(plan),
                Err(e) => return refuse(&e),
            },
            None if new_specs.is_empty() => ChecksAfterReload::None,
            None => match CheckRunner::spawn(new_specs) {
                Ok(started) => ChecksAfterReload::Started(started),
                Err(e) => return refuse(&e),
            },
        };
        let now = Instant::now();
        let old_global = self.config.global.clone();
        // The control group and metrics address belong to the process, not the instances.
        self.warn_about_unapplied_globals(&new.global);
        let (old_protocol, new_protocol) = (
            super::ops::protocol_global(&old_global),
            super::ops::protocol_global(&new.global),
        );
        let restart_all = global_change_restarts_everything(&old_protocol, &new_protocol);
        let global_changed = new_protocol != old_protocol;
        if restart_all {
            info!("[global] changed in a way that affects every instance: restarting them");
        }
        let mut kept: Vec<Router> = Vec::new();
        let mut old = std::mem::take(&mut self.routers);
        let mut retired: Vec<Router> = Vec::new();
        let mut started: Vec<usize> = Vec::new();
        let mut vip_changes = Vec::new();
        for cfg in &new.instances {
            let Some(pos) = old.iter().position(|r| r.cfg.name == cfg.name) else {
                started.push(kept.len());
                kept.push(Router::new(cfg.clone(), &new.global));
                continue;
            };
            let mut router = old.remove(pos);
            let inherited = inherited_identity_changed(cfg, &old_global, &new.global);
            if router.cfg == *cfg && !global_changed {
                kept.push(router);
                continue;
            }
            // Here the instance or the global settings changed.
            let changes = if restart_all || inherited {
                None
            } else {
                let index = kept.len();
                router.update_in_place(now, cfg, &new.global, &mut self.schedule, index)
            };
            match changes {
                Some(changes) => {
                    info!("{}: changed by reload: applied in place", cfg.name);
                    if router.vips_installed {
                        vip_changes.push((kept.len(), changes));
                    }
                    kept.push(router);
                }
                None => {
                    retired.push(router);
                    started.push(kept.len());
                    kept.push(Router::new(cfg.clone(), &new.global));
                }
            }
        }
        for router in &mut old {
            router.removed_by_reload = true;
        }
        retired.append(&mut old);
        // The routers are being replaced: no sync group until `start_routers` rebuilds them.
        self.sync_index = super::sync_index::SyncIndex::default();
        // Retired instances leave the way keepalived's do: priority 0, VIPs removed.
        for mut router in retired {
            info!(
                "{}: removed or changed by reload: stopping it",
                router.cfg.name
            );
            // Alone in the list for its last turn: its index is 0.
            router.fsm_mut(&mut self.schedule, 0).shutdown(now);
            self.routers = vec![router];
            self.process_actions().await;
            self.release_vmacs();
        }
        self.routers = kept;
        // Every index may have moved, and marks made above by index (changes applied in
        // place) were for this list, not for the retired instances' turns.
        self.schedule.touch_all();
        let promote = self.promote_wanted();
        self.restore_promote_secondaries(&promote);
        self.watch_routing();
        let old_statics = std::mem::replace(&mut self.config.statics, new.statics.clone());
        self.update_statics(&old_statics, &new.statics);
        if new.global.net_namespace != old_global.net_namespace {
            warn!(
                "net_namespace changed by reload: vipd stays in the namespace it started in \
                 until it is restarted"
            );
        }
        self.config = new;
        // A master changed in place gives up removed VIPs and takes (and announces) new ones.
        for (index, changes) in vip_changes {
            let Some(router) = self.routers.get(index) else {
                continue;
            };
            for vip in &changes.removed {
                info!("{}: {vip} removed by reload", router.cfg.name);
            }
            for vip in &changes.added {
                info!("{}: {vip} added by reload", router.cfg.name);
            }
            // Routes and rules that left go; the new list goes in (what vipd added already
            // stays as it is).
            let (old_routes, old_rules) = &changes.old_routing;
            let (new_routes, new_rules) = &changes.new_routing;
            let gone_routes: Vec<_> = (old_routes.iter())
                .filter(|r| !new_routes.contains(r))
                .cloned()
                .collect();
            let gone_rules: Vec<_> = (old_rules.iter())
                .filter(|r| !new_rules.contains(r))
                .cloned()
                .collect();
            let name = &router.cfg.name;
            let state = &mut self.vip_state;
            routes::remove_routing(&self.netlink, state, name, &gone_routes, &gone_rules);
            routes::add_routing(&self.netlink, state, name, new_routes, new_rules);
            // In slices (see `vip_jobs`); the new ones are announced once all are in.
            self.change_vips(index, changes.removed, changes.added);
        }
        match check_plan {
            ChecksAfterReload::None => {}
            ChecksAfterReload::Started((handle, events)) => {
                self.checks = Some(handle);
                self.check_events = Some(events);
            }
            ChecksAfterReload::Reload(plan) if plan.is_empty() => {
                self.checks = None;
                self.check_events = None;
            }
            ChecksAfterReload::Reload(plan) => {
                if let Some(runner) = self.checks.as_mut() {
                    let summary = runner.apply_reload(plan);
                    let changed = !(summary.restarted.is_empty()
                        && summary.added.is_empty()
                        && summary.removed.is_empty());
                    if changed {
                        info!(
                            "checks: kept {:?}, restarted from their last health {:?}, added {:?}, removed {:?}",
                            summary.kept, summary.restarted, summary.added, summary.removed
                        );
                    }
                }
            }
        }
        self.read_tracked_links();
        let used: Vec<SocketKey> = self.routers.iter().map(|r| r.key.clone()).collect();
        self.close_sockets(|key| !used.contains(key));
        self.update_reader_filters();
        self.apply_tracking(now);
        self.start_routers(&started, now);
        self.process_actions().await;
        self.sync_forwards();
        self.reopen_fifos();
        info!("reload done: {} instance(s)", self.routers.len());
        tell_systemd(&[sd_notify::NotifyState::Ready]);
        Ok(())
    }
}

/// Logs a refused reload and tells systemd the running configuration stays.
fn refuse(e: &str) -> Result<(), String> {
    error!("reload refused, keeping the running configuration: {e}");
    tell_systemd(&[sd_notify::NotifyState::Ready]);
    Err(e.to_string())
}

/// The health checks after a reload.
enum ChecksAfterReload {
    /// None before, none now.
    None,
    /// None before: a new runner.
    Started((CheckRunnerHandle, mpsc::Receiver<CheckEvent>)),
    /// The running checks, reconfigured (stopped when the plan is empty).
    Reload(CheckReload),
}

/// True when `[global]` changed in a way vipd does not know to apply per instance: every
/// instance restarts (their VIPs move), as any global change did before. The settings below
/// are known and applied with less:
/// - `router_id` names this router in logs only;
/// - `vrrp_version` and `v3_checksum` are inherited: only the instances that inherit a
///   changed value restart ([`inherited_identity_changed`]);
/// - the multicast groups restart only the multicast instances of their family (their
///   socket key changes); `vrrp_lower_prio_no_advert`, `vrrp_higher_prio_send_advert` and
///   `vrrp_down_timer_adverts` reach the instances' parameters in place;
/// - GARP settings apply in place (instances read them when they announce);
/// - `script_user`/`script_group`/`enable_script_security` reach the checks through their
///   specs (changed checks restart alone) and notify scripts when they run;
/// - `vrrp_strict`, `vrrp_skip_check_adv_addr`, `max_auto_priority` are checked or turned
///   into instance settings when the file is read: any effect shows in the instances.
///
/// A setting added to [`Global`] without being listed here restarts everything: slow but
/// never wrong.
fn global_change_restarts_everything(old: &Global, new: &Global) -> bool {
    fn unknown_part(g: &Global) -> Global {
        let mut g = g.clone();
        let defaults = Global::default();
        g.router_id = None;
        g.vrrp_version = defaults.vrrp_version;
        g.v3_checksum = defaults.v3_checksum;
        g.garp = defaults.garp;
        g.script_user = None;
        g.script_group = None;
        g.enable_script_security = defaults.enable_script_security;
        g.strict = defaults.strict;
        g.skip_check_adv_addr = defaults.skip_check_adv_addr;
        g.max_auto_priority = None;
        // Only delays the first start; a reload never waits for it.
        g.startup_delay = defaults.startup_delay;
        // Only entered at start (the reload warns).
        g.net_namespace = None;
        // Part of each instance's socket key: only the multicast instances of that family
        // restart (`Router::update_in_place` compares the keys).
        g.mcast_group4 = None;
        g.mcast_group6 = None;
        // Inherited into each instance's parameters, which a reload applies in place.
        g.lower_prio_no_advert = defaults.lower_prio_no_advert;
        g.higher_prio_send_advert = defaults.higher_prio_send_advert;
        g.down_timer_adverts = defaults.down_timer_adverts;
        g
    }
    unknown_part(old) != unknown_part(new)
}

/// The instance inherits a changed VRRP version or (v3 over IPv4) checksum mode: it is
/// another virtual router on the wire and must restart.
fn inherited_identity_changed(cfg: &config::Instance, old: &Global, new: &Global) -> bool {
    let version = cfg.version(new);
    version != cfg.version(old)
        || (version == 3 && !cfg.is_ipv6() && cfg.v3_checksum(old) != cfg.v3_checksum(new))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(toml_text: &str) -> config::Instance {
        let cfg = config::parse_native(
            &format!(
                "[[instance]]\nname = \"a\"\ninterface = \"eth0\"\nvrid = 1\n{toml_text}\nvips = [\"192.0.2.1/24\"]\n"
            ),
            std::path::Path::new("test.toml"),
        )
        .unwrap();
        cfg.instances[0].clone()
    }

    #[test]
    fn known_global_settings_do_not_restart_everything() {
        let old = Global::default();
        let mut new = old.clone();
        new.router_id = Some("r2".into());
        new.vrrp_version = 3;
        new.garp.master_repeat = 1;
        new.garp.interval = std::time::Duration::from_millis(5);
        new.script_user = Some("nobody".into());
        new.enable_script_security = true;
        new.max_auto_priority = Some(10);
        new.startup_delay = std::time::Duration::from_secs(5);
        new.mcast_group4 = Some("224.0.0.19".parse().unwrap());
        new.lower_prio_no_advert = true;
        new.higher_prio_send_advert = !old.higher_prio_send_advert;
        new.down_timer_adverts = 5;
        assert!(!global_change_restarts_everything(&old, &new));
    }

    #[test]
    fn only_instances_that_inherit_a_changed_version_or_checksum_restart() {
        let old = Global::default();
        let mut v3 = old.clone();
        v3.vrrp_version = 3;
        assert!(inherited_identity_changed(&instance(""), &old, &v3));
        assert!(!inherited_identity_changed(
            &instance("version = 2"),
            &old,
            &v3
        ));
        let mut no_pseudo = v3.clone();
        no_pseudo.v3_checksum = config::V3Checksum::NoPseudoHeader;
        assert!(inherited_identity_changed(&instance(""), &v3, &no_pseudo));
        // A v2 instance has no v3 checksum.
        assert!(!inherited_identity_changed(
            &instance("version = 2"),
            &v3,
            &no_pseudo
        ));
        let mut renamed = old.clone();
        renamed.router_id = Some("other".into());
        assert!(!inherited_identity_changed(&instance(""), &old, &renamed));
    }
}
