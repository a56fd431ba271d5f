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
                "sync_group_tracking_weight" => {
                    self.tracking_weight_groups.push(group.name.clone());
                    self.other(Block::SyncGroup, item);
                }
                _ => self.other(Block::SyncGroup, item),
            }
        }
        self.cfg.sync_groups.push(group);
    }

    /// keepalived 2.2.7 drops the weights a sync group member tracks with, unless the group
    /// has `sync_group_tracking_weight`: a weighted `track_script` or `track_file` entry is
    /// ignored altogether ("ignoring tracked script X with weights due to SYNC group"), a
    /// weighted `track_interface` counts with weight 0 (down = FAULT); a `track_process`
    /// keeps its weight. vipd applies them all and moves the group together (REFERENCE.md,
    /// `vrrp_sync_group`): a warning at each such entry says so.
    pub(super) fn sync_group_member_weights(&mut self) {
        let mut found = Vec::new();
        for group in &self.cfg.sync_groups {
            if self.tracking_weight_groups.contains(&group.name) {
                continue;
            }
            for member in &group.instances {
                let Some(i) = self.cfg.instances.iter().position(|x| &x.name == member) else {
                    continue;
                };
                let inst = &self.cfg.instances[i];
                let check_weight = |track: &TrackCheck| {
                    let check = self.cfg.checks.iter().find(|c| c.name == track.check)?;
                    let weight = track.weight.unwrap_or(check.weight);
                    let what = match check.kind {
                        CheckKind::Exec { .. } => "tracked script",
                        CheckKind::File { .. } => "tracked file",
                        _ => return None,
                    };
                    (weight != 0).then(|| (what, check.name.clone(), weight))
                };
                let entries = [
                    ("track_checks", &inst.track_checks),
                    ("track_files", &inst.track_files),
                ];
                for (field, list) in entries {
                    for (j, track) in list.iter().enumerate() {
                        if let Some((what, name, weight)) = check_weight(track) {
                            found.push((
                                format!("instance[{i}].{field}[{j}]"),
                                format!(
                                    "instance `{member}` is in sync group `{}`: keepalived \
                                     2.2.7 ignores its {what} `{name}` with weight {weight} \
                                     (\"due to SYNC group\", unless the group has \
                                     `sync_group_tracking_weight`); vipd applies the weight and \
                                     moves the whole group",
                                    group.name
                                ),
                            ));
                        }
                    }
                }
                for (j, track) in inst.track_interfaces.iter().enumerate() {
                    if track.weight != 0 {
                        found.push((
                            format!("instance[{i}].track_interfaces[{j}]"),
                            format!(
                                "instance `{member}` is in sync group `{}`: keepalived 2.2.7 \
                                 tracks interface `{}` with weight 0 instead of {} (down = \
                                 FAULT, \"due to SYNC group\", unless the group has \
                                 `sync_group_tracking_weight`); vipd applies the weight and \
                                 moves the whole group",
                                group.name, track.name, track.weight
                            ),
                        ));
                    }
                }
            }
        }
        for (path, message) in found {
            let loc = self.locations.get(&path).copied();
            self.warn_at(loc, message);
        }
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

    /// keepalived 2.2.7 starts a sync group as MASTER only when every member is the
    /// address owner with `state MASTER` (priority 255); otherwise every member starts as
    /// BACKUP and waits for its master down timer (the `-d` dump: "Wantstate = BACKUP",
    /// even for a one-member group, and for an owner whose partner is not one). This runs
    /// after the per-instance rules, as in keepalived, so a `nopreempt` that `state MASTER`
    /// cleared stays cleared. vipd took such a member over at once: against a running
    /// higher-priority master it would take the addresses and announce them for an advert.
    pub(super) fn sync_group_initial_states(&mut self) {
        let mut notes = Vec::new();
        for group in &self.cfg.sync_groups {
            let members: Vec<usize> = group
                .instances
                .iter()
                .filter_map(|m| self.cfg.instances.iter().position(|i| &i.name == m))
                .collect();
            let all_owners = members.iter().all(|&i| {
                let inst = &self.cfg.instances[i];
                inst.initial_state == InitialState::Master && inst.priority == 255
            });
            if all_owners {
                continue;
            }
            for &i in &members {
                let inst = &mut self.cfg.instances[i];
                if inst.initial_state != InitialState::Master {
                    continue;
                }
                inst.initial_state = InitialState::Backup;
                let why = if inst.priority == 255 {
                    "not every member of its sync group is an address owner with state MASTER"
                } else {
                    "it is not the address owner (priority 255)"
                };
                notes.push((
                    format!("instance[{i}].initial_state"),
                    format!(
                        "instance `{}` is in sync group `{}`: its state MASTER starts as \
                         BACKUP, as keepalived 2.2.7 starts it, since {why}; it becomes \
                         master when no advert arrives for the master down interval",
                        inst.name, group.name
                    ),
                ));
            }
        }
        for (path, message) in notes {
            let loc = self.locations.get(&path).copied();
            self.warn_at(loc, message);
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
