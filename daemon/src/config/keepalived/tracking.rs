//! `track_script`, `track_process`, `track_file` and `track_interface` entries of
//! instances and sync groups, and the entries keepalived ignores because they name nothing.

use super::*;

/// The `track_script`/`track_process` (or `track_file`) list of instance or sync group `i`.
pub(super) fn track_list(
    cfg: &mut Config,
    group: bool,
    i: usize,
    files: bool,
) -> &mut Vec<TrackCheck> {
    match (group, files) {
        (false, false) => &mut cfg.instances[i].track_checks,
        (false, true) => &mut cfg.instances[i].track_files,
        (true, false) => &mut cfg.sync_groups[i].track_checks,
        (true, true) => &mut cfg.sync_groups[i].track_files,
    }
}

/// The tracking lists of an instance or a sync group, which read the same entries.
pub(super) struct Tracking<'l> {
    pub(super) checks: &'l mut Vec<TrackCheck>,
    pub(super) files: &'l mut Vec<TrackCheck>,
    pub(super) interfaces: &'l mut Vec<TrackInterface>,
}

impl Reader<'_> {
    /// Reads `st` when it is a `track_*` block of instance (or sync group, `group`) `index`
    /// whose field path is `at`, into `lists`; returns the field it filled, `None` for
    /// another keyword.
    pub(super) fn tracking(
        &mut self,
        st: &Statement,
        group: bool,
        index: usize,
        at: &str,
        lists: Tracking<'_>,
    ) -> Option<&'static str> {
        let (field, list, files) = match st.keyword() {
            "track_script" | "track_process" => ("track_checks", lists.checks, false),
            "track_file" => ("track_files", lists.files, true),
            "track_interface" => {
                let tracks = self.tracks(st, &format!("{at}.track_interfaces"));
                lists
                    .interfaces
                    .extend(tracks.into_iter().map(|t| TrackInterface {
                        name: t.check,
                        weight: t.weight.unwrap_or(0),
                        reverse: t.reverse.unwrap_or(false),
                    }));
                return Some("track_interfaces");
            }
            _ => return None,
        };
        let mut tracks = self.tracks(st, &format!("{at}.{field}"));
        let tag = match st.keyword() {
            "track_process" => "process",
            "track_file" => "file",
            _ => "script",
        };
        for track in &mut tracks {
            if let Some(name) = self.renamed.get(&(tag, track.check.clone())) {
                track.check = name.clone();
            }
        }
        // keepalived 2.2.7 resolves an entry while it reads it: remember how many checks
        // were defined by then.
        for j in list.len()..list.len() + tracks.len() {
            self.checks_before
                .insert((group, index, files, j), self.cfg.checks.len());
        }
        list.extend(tracks);
        Some(field)
    }

    /// Items of `track_script`/`track_process`/`track_file`/`track_interface`:
    /// `NAME [weight N [reverse|noreverse]]` (`track_interface`: `reverse` only).
    pub(super) fn tracks(&mut self, st: &Statement, at: &str) -> Vec<TrackCheck> {
        let Some(block) = self.block(st) else {
            return Vec::new();
        };
        let interface = st.keyword() == "track_interface";
        let mut out = Vec::new();
        for item in block {
            if item.block.is_some() {
                self.error(
                    item.loc,
                    format!("`{}` items take no {{ }} block", st.keyword()),
                );
                continue;
            }
            // Read as keepalived 2.2.7 reads an entry: anything but `weight` after the name,
            // or `weight` without a value, drops the entry; a weight it cannot use falls back
            // to the tracked object's own (0 for an interface); an unknown word after the
            // weight is ignored. Each with a warning.
            let words = texts(&item.words);
            let keyword = st.keyword();
            let name = words[0];
            // keepalived 2.2.7 looks the interface up before it reads the options: a name
            // Linux refuses (a braceless `track_interface` that swallowed `virtual_ipaddress`
            // or `192.0.2.10/24`) stops it whatever follows.
            if interface {
                if let Err(why) = crate::config::vmac::check_interface_name(name) {
                    self.error(
                        item.loc,
                        format!(
                            "`{keyword}` entry `{name}` {why}: no interface of that name can \
                             exist (keepalived 2.2.7 refuses to start: \"Non-existent interface \
                             specified in configuration\")"
                        ),
                    );
                    continue;
                }
            }
            let dropped = |why: String| {
                format!("`{keyword}` entry `{name}`: {why}: the entry is ignored, as keepalived ignores it")
            };
            let (weight, option) = match words.as_slice() {
                [_] => (None, None),
                [_, "weight"] => {
                    self.warn(item.loc, dropped("`weight` without a value".to_string()));
                    continue;
                }
                [_, "weight", w, rest @ ..] => {
                    if rest.len() > 1 {
                        self.warn(
                            item.loc,
                            format!(
                                "`{keyword}` entry `{name}`: `{}` is ignored, as keepalived \
                                 ignores it",
                                rest[1..].join(" ")
                            ),
                        );
                    }
                    let parsed = match (w.parse::<i32>(), leading_number(w)) {
                        (Err(_), Some(lead)) if lead.parse::<i32>().is_ok() => {
                            self.read_as_leading_number(
                                item.loc,
                                &format!("`{keyword}` entry `{name}`: weight"),
                                w,
                                lead,
                            );
                            lead.parse::<i32>()
                        }
                        (parsed, _) => parsed,
                    };
                    let weight = match parsed {
                        Ok(w) if w.abs() <= 253 => Some(w),
                        Ok(w) if w.abs() == 254 => {
                            self.warn(
                                item.loc,
                                format!(
                                    "`{keyword}` entry `{name}`: weight {w} is read as {}, as \
                                     keepalived reads it",
                                    w.signum() * 253
                                ),
                            );
                            Some(w.signum() * 253)
                        }
                        _ => {
                            let fallback = if interface { "0" } else { "its own weight" };
                            self.warn(
                                item.loc,
                                format!(
                                    "`{keyword}` entry `{name}`: weight `{w}` is not in \
                                     -253..=253: {fallback} is used, as keepalived uses it"
                                ),
                            );
                            interface.then_some(0)
                        }
                    };
                    (weight, rest.first().copied())
                }
                [_, other, ..] => {
                    self.warn(item.loc, dropped(format!("unknown option `{other}`")));
                    continue;
                }
                [] => continue,
            };
            let reverse = match option {
                None => None,
                Some("reverse") => Some(true),
                Some("noreverse" | "no_reverse") if !interface => Some(false),
                Some(other) => {
                    self.warn(
                        item.loc,
                        format!(
                            "`{keyword}` entry `{name}`: unknown weight option `{other}` is \
                             ignored, as keepalived ignores it (it knows `reverse`)"
                        ),
                    );
                    None
                }
            };
            self.note(format!("{at}[{}]", out.len()), item.loc);
            out.push(TrackCheck {
                check: words[0].to_string(),
                weight,
                reverse,
            });
        }
        out
    }

    /// keepalived 2.2.7 ignores a `track_script`/`track_file` entry naming no
    /// `vrrp_script`/`vrrp_track_file` ("track script X not found, ignoring..."), so the
    /// instance (or sync group) runs without it; vipd does the same, with a warning.
    /// keepalived looks the name up while it reads the entry, so a definition further down
    /// the file does not count.
    pub(super) fn drop_unknown_tracks(&mut self) {
        for i in 0..self.cfg.instances.len() {
            for file_tracks in [false, true] {
                self.drop_unknown_tracks_of(false, i, file_tracks);
            }
        }
        for g in 0..self.cfg.sync_groups.len() {
            for file_tracks in [false, true] {
                self.drop_unknown_tracks_of(true, g, file_tracks);
            }
        }
    }

    /// [`Self::drop_unknown_tracks`] for one list of instance `i` (or sync group `i`).
    pub(super) fn drop_unknown_tracks_of(&mut self, group: bool, i: usize, file_tracks: bool) {
        let field = if file_tracks {
            "track_files"
        } else {
            "track_checks"
        };
        let (at, owner) = if group {
            let name = &self.cfg.sync_groups[i].name;
            (
                format!("sync_group[{i}].{field}"),
                format!("sync group `{name}`"),
            )
        } else {
            let name = &self.cfg.instances[i].name;
            (
                format!("instance[{i}].{field}"),
                format!("instance `{name}`"),
            )
        };
        let what = if file_tracks {
            "vrrp_track_file"
        } else {
            "vrrp_script"
        };
        let old = std::mem::take(track_list(&mut self.cfg, group, i, file_tracks));
        let (kept, dropped) = self.retain_located(&at, old, |reader, j, track, _| {
            let checks = &reader.cfg.checks;
            let defined = reader
                .checks_before
                .get(&(group, i, file_tracks, j))
                .copied()
                .unwrap_or(checks.len());
            let is_it = |c: &Check| {
                c.name == track.check && matches!(c.kind, CheckKind::File { .. }) == file_tracks
            };
            if checks.iter().take(defined).any(is_it) {
                return None;
            }
            let later = checks.iter().any(|c| c.name == track.check);
            Some(if later {
                format!(
                    "{owner}: {what} `{}` is defined after this point: keepalived 2.2.7 looks \
                     it up while reading, so the entry is ignored, as keepalived ignores it \
                     (\"not found, ignoring\"); define it further up to track it",
                    track.check
                )
            } else {
                format!(
                    "{owner}: no {what} `{}`: the entry is ignored, as keepalived ignores it \
                     (\"not found, ignoring\")",
                    track.check
                )
            })
        });
        for (loc, message) in dropped {
            self.warn_at(loc, message);
        }
        *track_list(&mut self.cfg, group, i, file_tracks) = kept;
    }
}
