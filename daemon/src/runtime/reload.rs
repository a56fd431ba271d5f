//! SIGHUP: re-reading the configuration without disturbing what did not change.

use std::time::Instant;

use tracing::{error, info};

use super::router::{Router, SocketKey};
use super::tasks::{tell_systemd, tell_systemd_reloading};
use super::{add_vip, log_config_warnings, remove_vip, Daemon};
use crate::check::CheckRunner;
use crate::config;
use crate::tracking;

impl Daemon {
    /// SIGHUP: read the file again. Unchanged instances keep their state and VIPs; a bad file
    /// is refused and the running configuration stays.
    pub(super) async fn reload(&mut self) {
        tell_systemd_reloading();
        info!("SIGHUP: reloading {}", self.config_path.display());
        let new = match config::read(&self.config_path, &self.read_options) {
            Ok(loaded) => {
                log_config_warnings(&loaded.warnings);
                loaded.config
            }
            Err(e) => {
                error!(
                    "reload refused, keeping the running configuration: {}",
                    e.to_string().trim_end()
                );
                tell_systemd(&[sd_notify::NotifyState::Ready]);
                return;
            }
        };
        // A VIP that is an address of this node would be taken from it on every failover.
        if let Err(e) = self.own_address_problems(&new) {
            error!("reload refused, keeping the running configuration: {e}");
            tell_systemd(&[sd_notify::NotifyState::Ready]);
            return;
        }
        // Changed checks start afresh; a check that cannot run refuses the whole file.
        let new_specs = tracking::check_specs(&new);
        let checks_changed = new_specs != tracking::check_specs(&self.config);
        let new_checks = match new_specs {
            Ok(specs) if checks_changed && !specs.is_empty() => match CheckRunner::spawn(specs) {
                Ok(started) => Some(started),
                Err(e) => {
                    error!("reload refused, keeping the running configuration: {e}");
                    tell_systemd(&[sd_notify::NotifyState::Ready]);
                    return;
                }
            },
            Ok(_) => None,
            Err(e) => {
                error!("reload refused, keeping the running configuration: {e}");
                tell_systemd(&[sd_notify::NotifyState::Ready]);
                return;
            }
        };
        let now = Instant::now();
        let global_changed = new.global != self.config.global;
        let mut kept: Vec<Router> = Vec::new();
        let mut old = std::mem::take(&mut self.routers);
        let mut retired: Vec<Router> = Vec::new();
        let mut started: Vec<usize> = Vec::new();
        let mut vip_changes = Vec::new();
        for cfg in &new.instances {
            let same = old
                .iter()
                .position(|r| r.cfg.name == cfg.name && (r.cfg == *cfg) && !global_changed);
            match same {
                Some(pos) => kept.push(old.remove(pos)),
                None => {
                    if let Some(pos) = old.iter().position(|r| r.cfg.name == cfg.name) {
                        let mut router = old.remove(pos);
                        let changes = if global_changed {
                            None
                        } else {
                            router.update_in_place(now, cfg, &new.global)
                        };
                        if let Some(changes) = changes {
                            info!("{}: changed by reload: applied in place", cfg.name);
                            if router.vips_installed {
                                vip_changes.push((kept.len(), changes));
                            }
                            kept.push(router);
                            continue;
                        }
                        retired.push(router);
                    }
                    started.push(kept.len());
                    kept.push(Router::new(cfg.clone(), &new.global));
                }
            }
        }
        retired.append(&mut old);
        // Retired instances leave the way keepalived's do: priority 0, VIPs removed.
        for mut router in retired {
            info!(
                "{}: removed or changed by reload: stopping it",
                router.cfg.name
            );
            router.fsm.shutdown(now);
            self.routers = vec![router];
            self.process_actions().await;
        }
        self.routers = kept;
        self.config = new;
        // A master changed in place gives up removed VIPs and takes (and announces) new ones.
        for (index, changes) in vip_changes {
            let Some(router) = self.routers.get(index) else {
                continue;
            };
            for vip in &changes.removed {
                info!("{}: {vip} removed by reload", router.cfg.name);
                remove_vip(&self.netlink, &mut self.vip_state, &router.cfg, vip);
            }
            for vip in &changes.added {
                info!("{}: {vip} added by reload", router.cfg.name);
                add_vip(&self.netlink, &mut self.vip_state, &router.cfg, vip);
            }
            if !changes.added.is_empty() {
                self.announce_once(index);
            }
        }
        if checks_changed {
            let (handle, events) = new_checks.unzip();
            self.checks = handle;
            self.check_events = events;
        }
        self.read_tracked_links();
        let used: Vec<SocketKey> = self.routers.iter().map(|r| r.key.clone()).collect();
        self.close_sockets(|key| !used.contains(key));
        self.update_reader_filters();
        self.apply_tracking(now);
        for index in started {
            self.start_router(index, now);
        }
        self.process_actions().await;
        info!("reload done: {} instance(s)", self.routers.len());
        tell_systemd(&[sd_notify::NotifyState::Ready]);
    }
}
