//! The forwards (DNAT, MASQUERADE) of instances that hold their VIPs, kept in vipd's own
//! nftables table (`net::nft`): installed when an instance becomes master, removed when it
//! leaves MASTER (BACKUP, FAULT, stop), the table of a killed run removed at start.

use std::collections::BTreeMap;

use tracing::{debug, error, info, warn};

use super::Daemon;
use crate::config;
use crate::net::nft::{self, Nftables};

/// What vipd's table holds, per instance.
#[derive(Default)]
pub(super) struct Forwards {
    nft: Option<Nftables>,
    installed: BTreeMap<String, Vec<config::Forward>>,
}

impl Forwards {
    /// The forwards installed for `instance`, as `vipd status` shows them.
    pub fn installed(&self, instance: &str) -> Vec<String> {
        self.installed
            .get(instance)
            .map(|list| list.iter().map(ToString::to_string).collect())
            .unwrap_or_default()
    }

    fn socket(&mut self) -> std::io::Result<&mut Nftables> {
        if self.nft.is_none() {
            self.nft = Some(Nftables::new()?);
        }
        self.nft
            .as_mut()
            .ok_or_else(|| std::io::Error::other("no nftables socket"))
    }
}

fn rules(wanted: &BTreeMap<String, Vec<config::Forward>>) -> Vec<nft::Forward> {
    wanted
        .values()
        .flatten()
        .map(|f| nft::Forward {
            protocol: match f.protocol {
                config::forward::Protocol::Tcp => nft::Protocol::Tcp,
                config::forward::Protocol::Udp => nft::Protocol::Udp,
            },
            from: f.from,
            to: f.to,
            masquerade: f.masquerade,
        })
        .collect()
}

impl Daemon {
    /// Removes a table a killed vipd left behind (quietly when no instance forwards and
    /// nftables is not there at all).
    pub(super) fn clear_leftover_forwards(&mut self) {
        let configured = self.routers.iter().any(|r| !r.cfg.forwards.is_empty());
        let result = self.forwards.socket().and_then(|nft| nft.replace(&[]));
        match result {
            Ok(()) => {}
            Err(e) if configured => error!("nftables: cannot clear table {}: {e}", nft::TABLE),
            Err(e) => debug!("nftables: {e}"),
        }
    }

    /// Makes the table hold the forwards of exactly the instances that hold their VIPs.
    pub(super) fn sync_forwards(&mut self) {
        let wanted: BTreeMap<String, Vec<config::Forward>> = self
            .routers
            .iter()
            .filter(|r| r.vips_installed && !r.cfg.forwards.is_empty())
            .map(|r| (r.cfg.name.clone(), r.cfg.forwards.clone()))
            .collect();
        self.install_forwards(wanted);
    }

    /// Updates the forwards of instance `index` alone (it took or gave up its VIPs); the
    /// others stay as they are (a reload stops retired instances on their own).
    pub(super) fn sync_forwards_of(&mut self, index: usize) {
        let Some(router) = self.routers.get(index) else {
            return;
        };
        let mut wanted = self.forwards.installed.clone();
        if router.vips_installed && !router.cfg.forwards.is_empty() {
            wanted.insert(router.cfg.name.clone(), router.cfg.forwards.clone());
        } else {
            wanted.remove(&router.cfg.name);
        }
        self.install_forwards(wanted);
    }

    /// Replaces the table's content with `wanted`. When the whole set cannot be installed,
    /// instances are added one by one: one that fails is named in the log and the others
    /// keep theirs.
    fn install_forwards(&mut self, wanted: BTreeMap<String, Vec<config::Forward>>) {
        if wanted == self.forwards.installed {
            return;
        }
        let wanted = self.without_foreign_claims(wanted);
        if wanted == self.forwards.installed {
            return;
        }
        let result = self
            .forwards
            .socket()
            .and_then(|nft| nft.replace(&rules(&wanted)));
        let installed = match result {
            Ok(()) => wanted,
            Err(e) if wanted.len() <= 1 => {
                for name in wanted.keys() {
                    error!("{name}: cannot install its forwards in nftables: {e}");
                }
                self.replace_or_log(&BTreeMap::new());
                BTreeMap::new()
            }
            Err(_) => {
                let mut good = BTreeMap::new();
                for (name, list) in &wanted {
                    let mut attempt = good.clone();
                    attempt.insert(name.clone(), list.clone());
                    let result = self
                        .forwards
                        .socket()
                        .and_then(|nft| nft.replace(&rules(&attempt)));
                    match result {
                        Ok(()) => good = attempt,
                        Err(e) => error!("{name}: cannot install its forwards in nftables: {e}"),
                    }
                }
                self.replace_or_log(&good);
                good
            }
        };
        for (name, list) in &installed {
            if self.forwards.installed.get(name) != Some(list) {
                let text: Vec<String> = list.iter().map(ToString::to_string).collect();
                info!("{name}: forwarding {}", text.join(", "));
            }
        }
        for name in self.forwards.installed.keys() {
            if !installed.contains_key(name) {
                info!("{name}: forwards removed");
            }
        }
        self.forwards.installed = installed;
    }

    /// Leaves out the forwards of an instance whose VIP and port another table already
    /// DNATs (a port in use by another table): the two would fight over the connections.
    /// The instance is named in the log; the other instances keep theirs.
    fn without_foreign_claims(
        &mut self,
        mut wanted: BTreeMap<String, Vec<config::Forward>>,
    ) -> BTreeMap<String, Vec<config::Forward>> {
        if wanted.is_empty() {
            return wanted;
        }
        let foreign = match self
            .forwards
            .socket()
            .and_then(|nft| nft.foreign_nat_rules())
        {
            Ok(rules) => rules,
            Err(e) => {
                warn!("nftables: cannot read the other tables' rules: {e}");
                return wanted;
            }
        };
        wanted.retain(|name, list| {
            let single: BTreeMap<String, Vec<config::Forward>> =
                [(name.clone(), list.clone())].into();
            let claimed = rules(&single).into_iter().find_map(|forward| {
                (foreign.iter())
                    .find(|rule| rule.claims(&forward))
                    .map(|rule| (forward, rule.table.clone()))
            });
            match claimed {
                Some((forward, table)) => {
                    error!(
                        "{name}: {}/{} is already translated by table {table}: its forwards \
                         are not installed (remove that rule or this forward)",
                        forward.from,
                        match forward.protocol {
                            nft::Protocol::Tcp => "tcp",
                            nft::Protocol::Udp => "udp",
                        }
                    );
                    false
                }
                None => true,
            }
        });
        wanted
    }

    fn replace_or_log(&mut self, set: &BTreeMap<String, Vec<config::Forward>>) {
        let result = self
            .forwards
            .socket()
            .and_then(|nft| nft.replace(&rules(set)));
        if let Err(e) = result {
            error!("nftables: cannot update table {}: {e}", nft::TABLE);
        }
    }

    /// At stop: the table goes.
    pub(super) fn remove_forwards(&mut self) {
        if self.forwards.installed.is_empty() && self.forwards.nft.is_none() {
            return;
        }
        self.forwards.installed.clear();
        self.replace_or_log(&BTreeMap::new());
    }
}
