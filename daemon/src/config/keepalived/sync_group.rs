//! `vrrp_sync_group`, and the members keepalived ignores.

use super::*;

impl Reader<'_> {
    pub(super) fn sync_group(&mut self, st: &Statement) {
        let Some((name, block, index)) = self.named_block_once(st, "sync_group", |cfg| {
            cfg.sync_groups.iter().map(|g| g.name.as_str()).collect()
        }) else {
            return;
        };
        let at = format!("sync_group[{index}]");
        let mut group = SyncGroup {
            name,
            instances: Vec::new(),
            notify: Notify::default(),
            track_checks: Vec::new(),
            track_files: Vec::new(),
            track_interfaces: Vec::new(),
        };
        for item in block {
            if self.notify(item, &mut group.notify, &at) {
                continue;
            }
            // keepalived applies what a group tracks to every member.
            let lists = Tracking {
                checks: &mut group.track_checks,
                files: &mut group.track_files,
                interfaces: &mut group.track_interfaces,
            };
            if self.tracking(item, true, index, &at, lists).is_some() {
                continue;
            }
            match item.keyword() {
                // keepalived: "Group list already specified for sync group X".
                "group" if !group.instances.is_empty() => self.warn(
                    item.loc,
                    "`group` is given again: ignored, as keepalived ignores it (the first list \
                     counts)",
                ),
                "group" => {
                    self.note(format!("{at}.instances"), item.loc);
                    let Some(members) = self.block(item) else {
                        continue;
                    };
                    for member in members {
                        for word in &member.words {
                            self.note(
                                format!("{at}.instances[{}]", group.instances.len()),
                                member.loc,
                            );
                            group.instances.push(word.text.clone());
                        }
                    }
                }
                _ => self.other(Block::SyncGroup, item),
            }
        }
        self.cfg.sync_groups.push(group);
    }

    /// keepalived 2.2.7 ignores a sync group member that names no instance ("doesn't
    /// exist, ignoring") or one already in an earlier group ("cannot exist in more than one
    /// sync group"), and removes a group left without members; so does vipd, with warnings.
    pub(super) fn sync_group_members(&mut self) {
        let mut taken: HashMap<String, String> = HashMap::new();
        let mut g = 0;
        while g < self.cfg.sync_groups.len() {
            let at = format!("sync_group[{g}]");
            let group_loc = self.locations.get(&at).copied();
            let old = std::mem::take(&mut self.cfg.sync_groups[g].instances);
            let group = self.cfg.sync_groups[g].name.clone();
            let field = format!("{at}.instances");
            let (kept, dropped) = self.retain_located(&field, old, |reader, _, member, kept| {
                if !reader.cfg.instances.iter().any(|i| &i.name == member) {
                    Some(format!(
                        "sync group `{group}`: no instance `{member}`: ignored, as keepalived \
                         ignores it"
                    ))
                } else if let Some(other) = taken.get(member) {
                    Some(format!(
                        "sync group `{group}`: instance `{member}` is already in sync group \
                         `{other}`: ignored here, as keepalived ignores it"
                    ))
                } else if kept.contains(member) {
                    Some(format!(
                        "sync group `{group}`: instance `{member}` is listed twice"
                    ))
                } else {
                    None
                }
            });
            for (loc, message) in dropped {
                self.warn_at(loc.or(group_loc), message);
            }
            if kept.is_empty() {
                let message = format!(
                    "sync group `{group}` has no instance left: it is removed, as keepalived \
                     removes it"
                );
                self.warn_at(group_loc, message);
                self.cfg.sync_groups.remove(g);
                self.shift_group_locations(g);
                continue;
            }
            for member in &kept {
                taken.insert(member.clone(), group.clone());
            }
            self.cfg.sync_groups[g].instances = kept;
            g += 1;
        }
    }

    /// After sync group `removed` is taken out: the locations of the later groups move down
    /// one index, the removed group's are dropped.
    pub(super) fn shift_group_locations(&mut self, removed: usize) {
        let index_of = |key: &str| -> Option<(usize, usize)> {
            let rest = key.strip_prefix("sync_group[")?;
            let end = rest.find(']')?;
            Some((rest[..end].parse().ok()?, "sync_group[".len() + end + 1))
        };
        let old = std::mem::take(&mut self.locations);
        for (key, loc) in old {
            match index_of(&key) {
                Some((g, _)) if g == removed => {}
                Some((g, tail)) if g > removed => {
                    let key = format!("sync_group[{}]{}", g - 1, &key[tail..]);
                    self.locations.insert(key, loc);
                }
                _ => {
                    self.locations.insert(key, loc);
                }
            }
        }
    }
}
