//! Reads keepalived.conf into a [`Config`]. Every keyword keepalived 2.2.7 knows is either
//! implemented, accepted with a warning naming file and line (it does not change VRRP), or
//! refused with an error (it would silently drop a job keepalived does); unknown words are
//! warnings, as keepalived's "Unknown keyword". Nothing is silently ignored.

use super::error::{ConfigError, ConfigErrors, ConfigWarning};
use super::keywords::{self, Block, Class};
use super::lexer::{self, Loc, Source, Statement, Word};
use super::validate;
use super::{
    duration, route, Check, CheckKind, Config, GarpGroup, Ignored, InitialState, Instance, Loaded,
    Notify, NotifyScript, ParamMatch, PeerTtl, ProcessCheck, ProcessMatch, ReadOptions, Route,
    Rule, SyncGroup, TrackCheck, TrackInterface, V3Checksum, Vip,
};
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// Parses keepalived.conf text read from `path` (includes are resolved relative to it),
/// with the host's config id for `@` lines; warnings are dropped (see [`read_keepalived`]).
pub fn parse_keepalived(text: &str, path: &Path) -> Result<Config, ConfigErrors> {
    read_keepalived(text, path, &ReadOptions::default()).map(|loaded| loaded.config)
}

/// Parses keepalived.conf text read from `path`, keeping the warnings: parse-time ones
/// (in file order) first, then the semantic ones of [`validate::warning_problems`].
pub fn read_keepalived(
    text: &str,
    path: &Path,
    options: &ReadOptions,
) -> Result<Loaded, ConfigErrors> {
    let source = lexer::read(text, path, options)?;
    let mut reader = Reader {
        source: &source,
        cfg: Config::default(),
        locations: HashMap::new(),
        errors: Vec::new(),
        warnings: source.warnings.clone(),
        default_interface: None,
        without_interface: Vec::new(),
        min_garp: false,
        static_without_dev: Vec::new(),
        next_rule_priority: [route::FIRST_DEFAULT_RULE_PRIORITY; 2],
        vmac_prefix: None,
        checks_before: HashMap::new(),
        vmac_addr_prefix: None,
    };
    for statement in &source.statements {
        reader.top_level(statement);
    }
    reader.default_interfaces();
    reader.static_address_interfaces();
    reader.apply_min_garp();
    reader.drop_unknown_tracks();
    reader.instance_rules();
    reader.sync_group_members();
    let Reader {
        mut cfg,
        locations,
        mut errors,
        mut warnings,
        vmac_prefix,
        vmac_addr_prefix,
        ..
    } = reader;
    super::vmac::resolve_names(
        &mut cfg,
        vmac_prefix
            .as_deref()
            .unwrap_or(super::vmac::DEFAULT_PREFIX),
        vmac_addr_prefix
            .as_deref()
            .unwrap_or(super::vmac::DEFAULT_PREFIX),
    );
    round_v3_intervals(&mut cfg);
    drop_ignored_passwords(&mut cfg);
    if errors.is_empty() {
        for problem in validate::problems(&cfg) {
            errors.push(locate(&source, &locations, &problem));
        }
    }
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    for problem in validate::warning_problems(&cfg) {
        let located = locate(&source, &locations, &problem);
        warnings.push(ConfigWarning {
            file: located.file,
            line: located.line,
            message: located.message,
        });
    }
    let locations = locations
        .into_iter()
        .filter_map(|(path, loc)| {
            let file = source.files.get(loc.file)?.clone();
            Some((path, (file, loc.line)))
        })
        .collect();
    Ok(Loaded {
        config: cfg,
        warnings,
        locations,
    })
}

/// keepalived 2.2.7 ignores `authentication` in strict mode ("Strict mode does not support
/// authentication. Ignoring.") and in VRRPv3; reading the same file the same way keeps a
/// mixed keepalived/vipd segment talking.
fn drop_ignored_passwords(cfg: &mut Config) {
    let global = cfg.global.clone();
    for inst in &mut cfg.instances {
        if inst.strict(&global) || inst.version(&global) == 3 {
            inst.auth_pass = None;
            inst.auth_type = super::AuthType::Pass;
        }
    }
}

/// keepalived rounds VRRPv3 intervals to the 10 ms the wire format can carry.
fn round_v3_intervals(cfg: &mut Config) {
    let global = cfg.global.clone();
    for inst in &mut cfg.instances {
        if inst.version(&global) == 3 {
            let centis = (inst.advert_interval.as_micros() + 5_000) / 10_000;
            let millis = u64::try_from(centis * 10).unwrap_or(u64::MAX);
            inst.advert_interval = Duration::from_millis(millis);
        }
    }
}

/// Pins a validation problem to the line of the keyword it is about, or of the nearest
/// enclosing keyword that was recorded.
fn locate(
    source: &Source,
    locations: &HashMap<String, Loc>,
    problem: &validate::Problem,
) -> ConfigError {
    let mut path = problem.path.as_str();
    loop {
        if let Some(loc) = locations.get(path) {
            return source.error(*loc, problem.message.clone());
        }
        match path.rfind(['.', '[']) {
            Some(cut) => path = &path[..cut],
            None => break,
        }
    }
    let file = source.files.first().cloned().unwrap_or_default();
    ConfigError::in_file(&file, problem.message.clone())
}

struct Reader<'a> {
    source: &'a Source,
    cfg: Config,
    /// Field path (as in validation problems) -> where it was written.
    locations: HashMap<String, Loc>,
    errors: Vec<ConfigError>,
    warnings: Vec<ConfigWarning>,
    /// keepalived `default_interface`.
    default_interface: Option<String>,
    /// Instances written without `interface` (index, where), given `default_interface`.
    without_interface: Vec<(usize, Loc)>,
    /// `vrrp_min_garp`: GARP settings not written explicitly become one message, no repeat.
    min_garp: bool,
    /// Static addresses written without `dev` (index, where): on `default_interface`.
    static_without_dev: Vec<(usize, Loc)>,
    /// The preference the next rule without one gets, per family (IPv4, IPv6).
    next_rule_priority: [u32; 2],
    /// `vmac_prefix`: VMACs without a name are called `PREFIX.VRID`.
    vmac_prefix: Option<String>,
    /// `vmac_addr_prefix`: VMACs of VIPs with `use_vmac` are called `PREFIX.VRID`,
    /// `PREFIX1.VRID`, ...
    vmac_addr_prefix: Option<String>,
    /// (sync group?, instance or group index, file tracks?, entry index) -> how many checks
    /// were defined before the entry was read: keepalived 2.2.7 resolves track entries
    /// while it reads them.
    checks_before: HashMap<(bool, usize, bool, usize), usize>,
}

/// The `track_script`/`track_process` (or `track_file`) list of instance or sync group `i`.
fn track_list(cfg: &mut Config, group: bool, i: usize, files: bool) -> &mut Vec<TrackCheck> {
    match (group, files) {
        (false, false) => &mut cfg.instances[i].track_checks,
        (false, true) => &mut cfg.instances[i].track_files,
        (true, false) => &mut cfg.sync_groups[i].track_checks,
        (true, true) => &mut cfg.sync_groups[i].track_files,
    }
}

fn track_list_ref(cfg: &Config, group: bool, i: usize, files: bool) -> &Vec<TrackCheck> {
    match (group, files) {
        (false, false) => &cfg.instances[i].track_checks,
        (false, true) => &cfg.instances[i].track_files,
        (true, false) => &cfg.sync_groups[i].track_checks,
        (true, true) => &cfg.sync_groups[i].track_files,
    }
}

/// keepalived's boolean words.
fn bool_word(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" => Some(true),
        "off" | "false" | "no" => Some(false),
        // Written in the wild for flags; keepalived ignores the value either way.
        "1" => Some(true),
        "0" => Some(false),
        _ => None,
    }
}

fn texts(words: &[Word]) -> Vec<&str> {
    words.iter().map(|w| w.text.as_str()).collect()
}

impl Reader<'_> {
    fn error(&mut self, loc: Loc, message: impl Into<String>) {
        self.errors.push(self.source.error(loc, message));
    }

    /// Accepted, but the user should know (keepalived's "Unknown keyword", ignored keywords,
    /// values read differently).
    fn warn(&mut self, loc: Loc, message: impl Into<String>) {
        self.warnings.push(self.source.warning(loc, message));
    }

    /// Instances without `interface` run on `default_interface` (keepalived 2.2.7 refuses
    /// them, "Unknown interface!").
    fn default_interfaces(&mut self) {
        for (index, loc) in std::mem::take(&mut self.without_interface) {
            let Some(inst) = self.cfg.instances.get_mut(index) else {
                continue;
            };
            let name = inst.name.clone();
            match &self.default_interface {
                Some(interface) => {
                    inst.interface = interface.clone();
                    let message = format!(
                        "vrrp_instance `{name}` has no `interface`: vipd runs it on \
                         default_interface {interface} (keepalived 2.2.7 refuses it)"
                    );
                    self.warn(loc, message);
                }
                None => self.error(
                    loc,
                    format!(
                        "vrrp_instance `{name}` has no `interface` (and there is no \
                         default_interface)"
                    ),
                ),
            }
        }
    }

    /// A keyword of `block` the reader has no code for: keepalived keywords are accepted
    /// with a warning or refused as [`keywords::classify`] says; anything else is
    /// keepalived's "Unknown keyword", a warning. Either way its `{ }` block is skipped.
    fn other(&mut self, block: Block, st: &Statement) {
        let keyword = st.keyword();
        match keywords::classify(block, keyword) {
            Some(Class::Ignored(why)) => {
                self.warn(st.loc, format!("`{keyword}` is ignored: {why}"));
            }
            Some(Class::Refused(why)) => self.error(st.loc, format!("`{keyword}`: {why}")),
            None => {
                let hint = match keywords::suggestion(block, keyword) {
                    Some(known) => format!(" (did you mean `{known}`?)"),
                    None => String::new(),
                };
                let skipped = if st.block.is_some() {
                    " with its { } block"
                } else {
                    ""
                };
                self.warn(
                    st.loc,
                    format!(
                        "unknown keyword `{keyword}`{hint}, ignored{skipped} (keepalived: \
                         \"Unknown keyword\")"
                    ),
                );
            }
        }
    }

    /// keepalived 2.2.7 ignores a sync group member that names no instance ("doesn't
    /// exist, ignoring") or one already in an earlier group ("cannot exist in more than one
    /// sync group"), and removes a group left without members; so does vipd, with warnings.
    fn sync_group_members(&mut self) {
        let mut taken: HashMap<String, String> = HashMap::new();
        let mut g = 0;
        while g < self.cfg.sync_groups.len() {
            let at = format!("sync_group[{g}]");
            let group_loc = self.locations.get(&at).copied();
            let old = std::mem::take(&mut self.cfg.sync_groups[g].instances);
            let group = self.cfg.sync_groups[g].name.clone();
            let mut kept = Vec::new();
            let mut moved = Vec::new();
            for (j, member) in old.into_iter().enumerate() {
                let loc = self.locations.remove(&format!("{at}.instances[{j}]"));
                let problem = if !self.cfg.instances.iter().any(|i| i.name == member) {
                    Some(format!(
                        "sync group `{group}`: no instance `{member}`: ignored, as keepalived \
                         ignores it"
                    ))
                } else if let Some(other) = taken.get(&member) {
                    Some(format!(
                        "sync group `{group}`: instance `{member}` is already in sync group \
                         `{other}`: ignored here, as keepalived ignores it"
                    ))
                } else if kept.contains(&member) {
                    Some(format!(
                        "sync group `{group}`: instance `{member}` is listed twice"
                    ))
                } else {
                    None
                };
                match problem {
                    Some(message) => match loc.or(group_loc) {
                        Some(loc) => self.warn(loc, message),
                        None => self.warnings.push(ConfigWarning {
                            file: self.source.files.first().cloned().unwrap_or_default(),
                            line: None,
                            message,
                        }),
                    },
                    None => {
                        if let Some(loc) = loc {
                            moved.push((format!("{at}.instances[{}]", kept.len()), loc));
                        }
                        kept.push(member);
                    }
                }
            }
            self.locations.extend(moved);
            if kept.is_empty() {
                let message = format!(
                    "sync group `{group}` has no instance left: it is removed, as keepalived \
                     removes it"
                );
                match group_loc {
                    Some(loc) => self.warn(loc, message),
                    None => self.warnings.push(ConfigWarning {
                        file: self.source.files.first().cloned().unwrap_or_default(),
                        line: None,
                        message,
                    }),
                }
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
    fn shift_group_locations(&mut self, removed: usize) {
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

    /// What keepalived 2.2.7 corrects when it completes an instance, with a warning each:
    /// a VRRPv2 interval becomes whole seconds ("must be an integer. rounding"), a VRRPv3
    /// one at most 40.95 s; `nopreempt` and `preempt_delay` are cleared with `state MASTER`,
    /// `nopreempt` with priority 255, `preempt_delay` in strict mode or with `nopreempt`;
    /// a `track_interface` entry naming the instance's own interface is dropped.
    fn instance_rules(&mut self) {
        let global = self.cfg.global.clone();
        for i in 0..self.cfg.instances.len() {
            let at = format!("instance[{i}]");
            let loc_of = |reader: &Self, field: &str| {
                reader
                    .locations
                    .get(&format!("{at}.{field}"))
                    .or_else(|| reader.locations.get(&at))
                    .copied()
            };
            let mut notes: Vec<(Option<Loc>, String)> = Vec::new();
            let inst = &mut self.cfg.instances[i];
            let name = inst.name.clone();
            // keepalived: "src address ... MUST be of the same family !!! Skipping...".
            let family_of_vips = inst.vips.first().map(|v| v.address.is_ipv6());
            if let (Some(v6), Some(source)) = (family_of_vips, inst.source_address) {
                if source.is_ipv6() != v6 {
                    inst.source_address = None;
                    notes.push((
                        loc_of(self, "source_address"),
                        format!(
                            "instance `{name}`: unicast_src_ip {source} is not of the family \
                             of the virtual addresses: skipped, as keepalived skips it"
                        ),
                    ));
                }
            }
            let inst = &mut self.cfg.instances[i];
            // keepalived: "vrrp_version 2 conflicts with ... ignoring": IPv6 runs VRRPv3.
            if inst.version == Some(2) && inst.is_ipv6() {
                inst.version = None;
                notes.push((
                    loc_of(self, "version"),
                    format!(
                        "instance `{name}`: IPv6 needs VRRPv3: `version 2` is ignored, as \
                         keepalived ignores it"
                    ),
                ));
            }
            // keepalived: "Ignoring track_interface X since own interface" (the instance
            // follows its own interface anyway, `dont_track_primary` or not).
            let inst = &mut self.cfg.instances[i];
            if inst
                .track_interfaces
                .iter()
                .any(|t| t.name == inst.interface)
            {
                let own = inst.interface.clone();
                let old = std::mem::take(&mut inst.track_interfaces);
                let field = format!("{at}.track_interfaces");
                let mut kept = Vec::new();
                let mut moved = Vec::new();
                for (j, track) in old.into_iter().enumerate() {
                    let loc = self.locations.remove(&format!("{field}[{j}]"));
                    if track.name == own {
                        notes.push((
                            loc,
                            format!(
                                "instance `{name}`: track_interface {own} is the instance's \
                                 own interface: ignored, as keepalived ignores it"
                            ),
                        ));
                    } else {
                        if let Some(loc) = loc {
                            moved.push((format!("{field}[{}]", kept.len()), loc));
                        }
                        kept.push(track);
                    }
                }
                self.locations.extend(moved);
                self.cfg.instances[i].track_interfaces = kept;
            }
            let inst = &mut self.cfg.instances[i];
            let interval = inst.advert_interval;
            if inst.version(&global) == 2 && interval.subsec_nanos() != 0 {
                let secs = ((interval.as_millis() + 500) / 1000).max(1);
                let secs = u64::try_from(secs).unwrap_or(255).min(255);
                inst.advert_interval = Duration::from_secs(secs);
                notes.push((
                    loc_of(self, "advert_interval"),
                    format!(
                        "instance `{name}`: VRRPv2 advert_int {} is rounded to {secs}s, as \
                         keepalived rounds it",
                        duration::format(interval)
                    ),
                ));
            } else if inst.version(&global) == 3 && interval > Duration::from_millis(40_950) {
                inst.advert_interval = Duration::from_millis(40_950);
                notes.push((
                    loc_of(self, "advert_interval"),
                    format!(
                        "instance `{name}`: VRRPv3 advert_int {} is above 40.95s: 40.95s is \
                         used, as keepalived uses it",
                        duration::format(interval)
                    ),
                ));
            }
            let inst = &mut self.cfg.instances[i];
            if !inst.preempt && inst.priority == 255 {
                inst.preempt = true;
                notes.push((
                    None,
                    format!(
                        "instance `{name}`: nopreempt does not apply to priority 255 (the \
                         address owner always takes over); cleared, as keepalived clears it"
                    ),
                ));
            }
            if inst.initial_state == InitialState::Master {
                if !inst.preempt {
                    inst.preempt = true;
                    notes.push((
                        None,
                        format!(
                            "instance `{name}`: nopreempt does not work with state MASTER: \
                             cleared, as keepalived clears it (use state BACKUP on every \
                             router for nopreempt)"
                        ),
                    ));
                }
                if !inst.preempt_delay.is_zero() {
                    inst.preempt_delay = Duration::ZERO;
                    notes.push((
                        None,
                        format!(
                            "instance `{name}`: preempt_delay does not work with state \
                             MASTER: cleared, as keepalived clears it"
                        ),
                    ));
                }
            }
            if !inst.preempt_delay.is_zero() && (inst.strict(&global) || !inst.preempt) {
                inst.preempt_delay = Duration::ZERO;
                notes.push((
                    None,
                    format!(
                        "instance `{name}`: preempt_delay does not apply {}: cleared, as \
                         keepalived clears it",
                        if inst.preempt {
                            "in strict mode"
                        } else {
                            "with nopreempt"
                        }
                    ),
                ));
            }
            let preempt_loc = loc_of(self, "preempt");
            let delay_loc = loc_of(self, "preempt_delay");
            for (loc, message) in notes {
                let loc = loc.or(if message.contains("preempt_delay") {
                    delay_loc
                } else {
                    preempt_loc
                });
                match loc {
                    Some(loc) => self.warn(loc, message),
                    None => self.warnings.push(ConfigWarning {
                        file: self.source.files.first().cloned().unwrap_or_default(),
                        line: None,
                        message,
                    }),
                }
            }
        }
    }

    /// keepalived 2.2.7 ignores a `track_script`/`track_file` entry naming no
    /// `vrrp_script`/`vrrp_track_file` ("track script X not found, ignoring..."), so the
    /// instance (or sync group) runs without it; vipd does the same, with a warning.
    /// keepalived looks the name up while it reads the entry, so a definition further down
    /// the file does not count.
    fn drop_unknown_tracks(&mut self) {
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
    fn drop_unknown_tracks_of(&mut self, group: bool, i: usize, file_tracks: bool) {
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
        let checks = &self.cfg.checks;
        let before = &self.checks_before;
        let known = |j: usize, name: &str| {
            let defined = before
                .get(&(group, i, file_tracks, j))
                .copied()
                .unwrap_or(checks.len());
            checks
                .iter()
                .take(defined)
                .any(|c| c.name == name && matches!(c.kind, CheckKind::File { .. }) == file_tracks)
        };
        let keep: Vec<bool> = track_list_ref(&self.cfg, group, i, file_tracks)
            .iter()
            .enumerate()
            .map(|(j, t)| known(j, &t.check))
            .collect();
        if keep.iter().all(|k| *k) {
            return;
        }
        let what = if file_tracks {
            "vrrp_track_file"
        } else {
            "vrrp_script"
        };
        let mut kept = Vec::new();
        let mut moved = Vec::new();
        let old = std::mem::take(track_list(&mut self.cfg, group, i, file_tracks));
        for (j, (track, keep)) in old.into_iter().zip(keep).enumerate() {
            let loc = self.locations.remove(&format!("{at}[{j}]"));
            if keep {
                if let Some(loc) = loc {
                    moved.push((format!("{at}[{}]", kept.len()), loc));
                }
                kept.push(track);
                continue;
            }
            let later = self.cfg.checks.iter().any(|c| c.name == track.check);
            let message = if later {
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
            };
            match loc {
                Some(loc) => self.warn(loc, message),
                None => self.warnings.push(ConfigWarning {
                    file: self.source.files.first().cloned().unwrap_or_default(),
                    line: None,
                    message,
                }),
            }
        }
        self.locations.extend(moved);
        *track_list(&mut self.cfg, group, i, file_tracks) = kept;
    }

    fn note(&mut self, path: String, loc: Loc) {
        self.locations.entry(path).or_insert(loc);
    }

    /// The block of a block keyword; reports its absence.
    fn block<'s>(&mut self, st: &'s Statement) -> Option<&'s [Statement]> {
        match &st.block {
            Some(block) => Some(block),
            None => {
                self.error(st.loc, format!("`{}` needs a {{ }} block", st.keyword()));
                None
            }
        }
    }

    /// Reports a block after a keyword that takes none.
    fn no_block(&mut self, st: &Statement) -> bool {
        if st.block.is_some() {
            self.error(st.loc, format!("`{}` takes no {{ }} block", st.keyword()));
            return false;
        }
        true
    }

    /// The single argument of `st`.
    fn arg<'s>(&mut self, st: &'s Statement) -> Option<&'s str> {
        if !self.no_block(st) {
            return None;
        }
        match st.args() {
            [one] => Some(one.text.as_str()),
            [] => {
                self.error(st.loc, format!("`{}` needs a value", st.keyword()));
                None
            }
            [one, extra @ ..] => {
                // keepalived reads the first word and ignores the rest.
                let extra: Vec<&str> = extra.iter().map(|w| w.text.as_str()).collect();
                self.warn(
                    st.loc,
                    format!(
                        "`{}`: `{}` after the value `{}` is ignored, as keepalived ignores it",
                        st.keyword(),
                        extra.join(" "),
                        one.text
                    ),
                );
                Some(one.text.as_str())
            }
        }
    }

    /// A keyword that takes no value. keepalived 2.2.7 ignores anything written after it
    /// (`nopreempt 1`, `nopreempt 0` and `nopreempt no` all turn preemption off), and so
    /// does vipd; a value that reads as "off" gets a warning, as the file likely means the
    /// opposite of what both daemons do.
    fn flag(&mut self, st: &Statement) -> bool {
        if !self.no_block(st) {
            return false;
        }
        if let Some(value) = st.args().first() {
            if bool_word(&value.text) == Some(false) {
                let keyword = st.keyword();
                self.warn(
                    st.loc,
                    format!(
                        "`{keyword} {}`: keepalived ignores the value and so does vipd: \
                         `{keyword}` is in effect",
                        value.text
                    ),
                );
            }
        }
        true
    }

    /// A GARP refresh period in seconds. keepalived 2.2.7 stops at such a line without a
    /// value; vipd reads it as 0 (no refresh, the default) with a warning.
    fn refresh_seconds(&mut self, st: &Statement) -> Option<u64> {
        if st.args().is_empty() && st.block.is_none() {
            self.warn(
                st.loc,
                format!(
                    "`{}` without a value is read as 0 (no refresh); keepalived 2.2.7 refuses \
                     to start with it",
                    st.keyword()
                ),
            );
            return Some(0);
        }
        self.number(st, 0u64, 86_400)
    }

    /// keepalived `KEYWORD [<BOOL>]`: no value means on; on|off|true|false|yes|no.
    fn switch(&mut self, st: &Statement) -> Option<bool> {
        if !self.no_block(st) {
            return None;
        }
        let words = texts(st.args());
        // keepalived reads the first word only.
        if let [first, extra @ ..] = words.as_slice() {
            if !extra.is_empty() {
                self.warn(
                    st.loc,
                    format!(
                        "`{}`: `{}` after the value `{first}` is ignored, as keepalived \
                         ignores it",
                        st.keyword(),
                        extra.join(" ")
                    ),
                );
            }
        }
        match words.first().copied() {
            None | Some("on" | "true" | "yes") => Some(true),
            Some("off" | "false" | "no") => Some(false),
            Some(other) => {
                self.ignored_value(st, other, "is not one of on, off, true, false, yes, no");
                None
            }
        }
    }

    /// keepalived `vrrp_mcast_group4/6`: a multicast address of the right family.
    fn group(&mut self, st: &Statement, ipv6: bool) -> Option<IpAddr> {
        let text = self.arg(st)?;
        match text.parse::<IpAddr>() {
            Ok(group) if group.is_multicast() && group.is_ipv6() == ipv6 => Some(group),
            _ => {
                let family = if ipv6 { "IPv6" } else { "IPv4" };
                self.ignored_value(st, text, &format!("is not an {family} multicast address"));
                None
            }
        }
    }

    /// keepalived resolves `vrrp_min_garp` against the GARP keywords written explicitly.
    fn apply_min_garp(&mut self) {
        if !self.min_garp {
            return;
        }
        let written = |key: &str| self.locations.contains_key(&format!("global.{key}"));
        let (repeat, delay, refresh) = (
            written("vrrp_garp_master_repeat"),
            written("vrrp_garp_master_delay"),
            written("vrrp_garp_master_refresh"),
        );
        let garp = &mut self.cfg.global.garp;
        if !repeat {
            garp.master_repeat = 1;
        }
        if !delay {
            garp.master_delay = Duration::ZERO;
        }
        if !refresh {
            garp.master_refresh = None;
        }
    }

    fn number<T: FromStr + PartialOrd + std::fmt::Display>(
        &mut self,
        st: &Statement,
        min: T,
        max: T,
    ) -> Option<T> {
        let text = self.arg(st)?;
        match text.parse::<T>() {
            Ok(n) if n >= min && n <= max => Some(n),
            _ => {
                self.ignored_value(st, text, &format!("is not a number in {min}..={max}"));
                None
            }
        }
    }

    /// keepalived 2.2.7 logs a value it cannot use and goes on without it (the setting keeps
    /// its default or earlier value); so does vipd, with a warning naming the line.
    fn ignored_value(&mut self, st: &Statement, text: &str, why: &str) {
        self.warn(
            st.loc,
            format!(
                "`{}`: `{text}` {why}: the line is ignored, as keepalived ignores it",
                st.keyword()
            ),
        );
    }

    fn seconds(&mut self, st: &Statement) -> Option<Duration> {
        let text = self.arg(st)?;
        match duration::parse_seconds(text) {
            Some(d) => Some(d),
            None => {
                self.ignored_value(st, text, "is not a number of seconds");
                None
            }
        }
    }

    /// A unicast source or peer address. keepalived 2.2.7 ignores anything from a `/` on
    /// (`unicast_src_ip 192.0.2.1/24` is written when the address is copied from `ip addr`).
    fn unicast_address(&mut self, loc: Loc, text: &str) -> Option<IpAddr> {
        let Some((address, suffix)) = text.split_once('/') else {
            return self.address(loc, text);
        };
        let parsed = self.address(loc, address)?;
        let max = if parsed.is_ipv4() { 32 } else { 128 };
        if !suffix.parse::<u8>().is_ok_and(|len| len <= max) {
            self.warn(
                loc,
                format!("`{text}`: `/{suffix}` is ignored, as keepalived ignores it"),
            );
        }
        Some(parsed)
    }

    /// keepalived 2.2.7 skips a malformed unicast source or peer ("malformed ... address.
    /// Skipping..."); so does vipd, with a warning.
    fn address(&mut self, loc: Loc, text: &str) -> Option<IpAddr> {
        match text.parse() {
            Ok(a) => Some(a),
            Err(_) => {
                self.warn(
                    loc,
                    format!("`{text}` is not an IP address: skipped, as keepalived skips it"),
                );
                None
            }
        }
    }

    /// A script command: one (usually quoted) string, or several bare words.
    fn command(&mut self, st: &Statement) -> Option<String> {
        if !self.no_block(st) {
            return None;
        }
        match st.args() {
            [] => {
                self.error(st.loc, format!("`{}` needs a command", st.keyword()));
                None
            }
            [one] => Some(one.text.clone()),
            many => Some(
                many.iter()
                    .map(|w| {
                        if w.quoted {
                            format!("'{}'", w.text)
                        } else {
                            w.text.clone()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
        }
    }

    /// A notify script: `notify_* CMD [USER [GROUP]]` (keepalived: the command is one word,
    /// quoted when it has arguments; the words after it are the user and group it runs as).
    fn notify_command(&mut self, st: &Statement) -> Option<NotifyScript> {
        if !self.no_block(st) {
            return None;
        }
        match texts(st.args()).as_slice() {
            [] => {
                self.error(st.loc, format!("`{}` needs a command", st.keyword()));
                None
            }
            [command] => Some(NotifyScript::from(*command)),
            [command, user] => Some(NotifyScript {
                command: command.to_string(),
                user: Some(user.to_string()),
                group: None,
            }),
            [command, user, group] => Some(NotifyScript {
                command: command.to_string(),
                user: Some(user.to_string()),
                group: Some(group.to_string()),
            }),
            [command, user, group, extra @ ..] => {
                // keepalived 2.2.7 runs the command as USER:GROUP and ignores the rest.
                self.warn(
                    st.loc,
                    format!(
                        "`{}`: `{}` after the user and group is ignored, as keepalived \
                         ignores it (quote the command if these are its arguments)",
                        st.keyword(),
                        extra.join(" ")
                    ),
                );
                Some(NotifyScript {
                    command: command.to_string(),
                    user: Some(user.to_string()),
                    group: Some(group.to_string()),
                })
            }
        }
    }

    fn notify(&mut self, st: &Statement, notify: &mut Notify, at: &str) -> bool {
        let slot = match st.keyword() {
            "notify_master" => &mut notify.master,
            "notify_backup" => &mut notify.backup,
            "notify_fault" => &mut notify.fault,
            "notify_stop" => &mut notify.stop,
            "notify" => &mut notify.any,
            _ => return false,
        };
        let field = match st.keyword() {
            "notify" => "any",
            k => k.trim_start_matches("notify_"),
        };
        if let Some(command) = self.notify_command(st) {
            // keepalived 2.2.7 keeps the first one ("script already specified - ignoring").
            if let Some(first) = slot {
                let message = format!(
                    "`{}` is given again: `{}` is ignored and `{}` kept, as keepalived keeps \
                     the first",
                    st.keyword(),
                    command.command,
                    first.command
                );
                self.warn(st.loc, message);
                return true;
            }
            *slot = Some(command);
            self.note(format!("{at}.notify.{field}"), st.loc);
        }
        true
    }

    fn top_level(&mut self, st: &Statement) {
        match st.keyword() {
            "global_defs" => {
                if let Some(block) = self.block(st) {
                    for item in block {
                        self.global(item);
                    }
                }
            }
            "vrrp_script" => self.script(st),
            "vrrp_track_file" | "track_file" => self.track_file(st),
            "vrrp_track_process" => self.track_process(st),
            "vrrp_instance" => self.instance(st),
            "vrrp_sync_group" => self.sync_group(st),
            "garp_group" => self.garp_group(st),
            "static_ipaddress" => self.static_addresses(st),
            "static_routes" => {
                let routes = self.routes(st, "static.routes");
                self.cfg.statics.routes.extend(routes);
            }
            "static_rules" => {
                let rules = self.rules(st, "static.rules");
                self.cfg.statics.rules.extend(rules);
            }
            "net_namespace" => {
                self.note("global.net_namespace".to_string(), st.loc);
                if let Some(name) = self.arg(st) {
                    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
                        self.error(
                            st.loc,
                            format!("`net_namespace`: `{name}` is not a namespace name"),
                        );
                    } else {
                        self.cfg.global.net_namespace = Some(name.to_string());
                    }
                }
            }
            _ => self.other(Block::TopLevel, st),
        }
    }

    /// `static_ipaddress`: written like `virtual_ipaddress`, plus `track_group NAME`.
    fn static_addresses(&mut self, st: &Statement) {
        let Some(block) = self.block(st) else { return };
        for item in block {
            let mut shortened = item.clone();
            if let Some(at) = item.words.iter().position(|w| w.text == "track_group") {
                let removed: Vec<Word> = shortened
                    .words
                    .drain(at..(at + 2).min(item.words.len()))
                    .collect();
                let group = removed.get(1).map_or("", |w| w.text.as_str());
                self.warn(
                    item.loc,
                    format!(
                        "`track_group {group}`: vipd does not watch static addresses (an \
                         instance does not go BACKUP when one is deleted)"
                    ),
                );
            }
            let Some(vip) = self.vip(&shortened) else {
                continue;
            };
            let index = self.cfg.statics.addresses.len();
            self.note(format!("static.addresses[{index}]"), item.loc);
            if vip.interface.is_none() {
                self.static_without_dev.push((index, item.loc));
            }
            self.cfg.statics.addresses.push(vip);
        }
    }

    /// Static addresses without `dev` go on `default_interface`, else eth0, as in keepalived.
    fn static_address_interfaces(&mut self) {
        let interface = self
            .default_interface
            .clone()
            .unwrap_or_else(|| "eth0".to_string());
        for (index, _) in std::mem::take(&mut self.static_without_dev) {
            if let Some(vip) = self.cfg.statics.addresses.get_mut(index) {
                vip.interface = Some(interface.clone());
            }
        }
    }

    /// The routes of a `virtual_routes` / `static_routes` block. A route vipd cannot install
    /// as written is skipped with a warning, as keepalived skips the ones it cannot parse.
    fn routes(&mut self, st: &Statement, at: &str) -> Vec<Route> {
        let Some(block) = self.block(st) else {
            return Vec::new();
        };
        let mut routes = Vec::new();
        for item in block {
            if item.block.is_some() {
                self.error(item.loc, "a route takes no { } block");
                continue;
            }
            match Route::from_keepalived_words(&texts(&item.words)) {
                Ok((route, noted)) => {
                    self.note_tracking(item.loc, &noted, "route");
                    self.note(format!("{at}[{}]", routes.len()), item.loc);
                    routes.push(route);
                }
                Err(e) => self.warn(item.loc, format!("route skipped: {e}")),
            }
        }
        routes
    }

    /// The rules of a `virtual_rules` / `static_rules` block; a rule without a preference
    /// gets keepalived's, with keepalived's warning.
    fn rules(&mut self, st: &Statement, at: &str) -> Vec<Rule> {
        let Some(block) = self.block(st) else {
            return Vec::new();
        };
        let mut rules = Vec::new();
        for item in block {
            if item.block.is_some() {
                self.error(item.loc, "a rule takes no { } block");
                continue;
            }
            match Rule::from_keepalived_words(&texts(&item.words)) {
                Ok((mut rule, noted)) => {
                    self.note_tracking(item.loc, &noted, "rule");
                    if rule.priority.is_none() {
                        let next = &mut self.next_rule_priority[usize::from(rule.ipv6)];
                        let priority = *next;
                        *next = next.saturating_sub(1);
                        rule.priority = Some(priority);
                        self.warn(
                            item.loc,
                            format!(
                                "rule has no preference: it gets {priority} as in keepalived, \
                                 which is probably not what you want (add `preference N`)"
                            ),
                        );
                    }
                    self.note(format!("{at}[{}]", rules.len()), item.loc);
                    rules.push(rule);
                }
                Err(e) => self.warn(item.loc, format!("rule skipped: {e}")),
            }
        }
        rules
    }

    fn note_tracking(&mut self, loc: Loc, noted: &[String], what: &str) {
        for option in noted {
            if option != "no_track" {
                self.warn(
                    loc,
                    format!(
                        "`{option}`: vipd does not watch this {what} (nothing happens to an \
                         instance when it is deleted)"
                    ),
                );
            }
        }
    }

    /// The name after a block keyword (`vrrp_instance NAME {`).
    /// The name of a `vrrp_instance` or `vrrp_sync_group`: keepalived 2.2.7 skips such a
    /// block without exactly one name ("must have a name - skipping"); so does vipd, with a
    /// warning.
    fn skippable_block_name(&mut self, st: &Statement) -> Option<String> {
        match st.args() {
            [name] => Some(name.text.clone()),
            _ => {
                self.warn(
                    st.loc,
                    format!(
                        "`{}` needs exactly one name: the block is skipped, as keepalived \
                         skips it",
                        st.keyword()
                    ),
                );
                None
            }
        }
    }

    /// A check of the same kind (script, file, process) defined earlier under `name`:
    /// keepalived 2.2.7 keeps both and uses the first, so vipd skips the later one.
    fn check_defined_again(&mut self, st: &Statement, name: &str, kind: &CheckKind) -> bool {
        let same_kind = |c: &Check| std::mem::discriminant(&c.kind) == std::mem::discriminant(kind);
        if self
            .cfg
            .checks
            .iter()
            .any(|c| c.name == name && same_kind(c))
        {
            self.warn(
                st.loc,
                format!(
                    "`{}` `{name}` is defined again: this block is skipped (keepalived uses the \
                     first one)",
                    st.keyword()
                ),
            );
            return true;
        }
        false
    }

    fn block_name(&mut self, st: &Statement) -> Option<String> {
        match st.args() {
            [name] => Some(name.text.clone()),
            [] => {
                self.error(st.loc, format!("`{}` needs a name", st.keyword()));
                None
            }
            _ => {
                self.error(st.loc, format!("`{}` takes one name", st.keyword()));
                None
            }
        }
    }

    fn global(&mut self, st: &Statement) {
        let at = format!("global.{}", st.keyword());
        self.note(at, st.loc);
        match st.keyword() {
            "router_id" => {
                // keepalived: "routerid name missing - ignoring".
                if st.args().is_empty() && st.block.is_none() {
                    self.warn(
                        st.loc,
                        "`router_id` without a name is ignored, as keepalived ignores it",
                    );
                } else if let Some(v) = self.arg(st) {
                    self.cfg.global.router_id = Some(v.to_string());
                }
            }
            "vmac_prefix" => {
                if let Some(v) = self.arg(st) {
                    self.vmac_prefix = Some(v.to_string());
                }
            }
            "vmac_addr_prefix" => {
                if let Some(v) = self.arg(st) {
                    self.vmac_addr_prefix = Some(v.to_string());
                }
            }
            "vrrp_version" => {
                if let Some(v) = self.number(st, 2u8, 3) {
                    self.cfg.global.vrrp_version = v;
                }
            }
            "vrrp_garp_master_delay" => {
                if let Some(v) = self.number(st, 0u64, 86_400) {
                    self.cfg.global.garp.master_delay = Duration::from_secs(v);
                }
            }
            "vrrp_garp_master_repeat" => {
                if let Some(v) = self.number(st, 0u32, 10_000) {
                    self.cfg.global.garp.master_repeat = v;
                }
            }
            "vrrp_garp_master_refresh" => {
                if let Some(v) = self.refresh_seconds(st) {
                    self.cfg.global.garp.master_refresh = (v > 0).then(|| Duration::from_secs(v));
                }
            }
            "vrrp_garp_master_refresh_repeat" => {
                if let Some(v) = self.number(st, 1u32, 10_000) {
                    self.cfg.global.garp.master_refresh_repeat = v;
                }
            }
            "vrrp_garp_interval" => {
                if let Some(v) = self.seconds(st) {
                    self.cfg.global.garp.interval = v;
                }
            }
            "vrrp_gna_interval" => {
                if let Some(v) = self.seconds(st) {
                    self.cfg.global.garp.na_interval = v;
                }
            }
            "vrrp_garp_lower_prio_repeat" => {
                if let Some(v) = self.number(st, 0u32, 10_000) {
                    self.cfg.global.garp.lower_prio_repeat = Some(v);
                }
            }
            "vrrp_garp_lower_prio_delay" => {
                if let Some(v) = self.number(st, 0u64, 86_400) {
                    self.cfg.global.garp.lower_prio_delay = Some(Duration::from_secs(v));
                }
            }
            "vrrp_min_garp" => {
                if let Some(on) = self.switch(st) {
                    self.min_garp = on;
                }
            }
            "vrrp_lower_prio_no_advert" => {
                if let Some(on) = self.switch(st) {
                    self.cfg.global.lower_prio_no_advert = on;
                }
            }
            "vrrp_higher_prio_send_advert" => {
                if let Some(on) = self.switch(st) {
                    self.cfg.global.higher_prio_send_advert = on;
                }
            }
            "vrrp_down_timer_adverts" => {
                if let Some(v) = self.number(st, 1u8, 100) {
                    self.cfg.global.down_timer_adverts = v;
                }
            }
            "vrrp_mcast_group4" => {
                if let Some(IpAddr::V4(group)) = self.group(st, false) {
                    self.cfg.global.mcast_group4 = Some(group);
                }
            }
            "vrrp_mcast_group6" => {
                if let Some(IpAddr::V6(group)) = self.group(st, true) {
                    self.cfg.global.mcast_group6 = Some(group);
                }
            }
            "script_user" => {
                if self.no_block(st) {
                    match texts(st.args()).as_slice() {
                        [user] => self.cfg.global.script_user = Some(user.to_string()),
                        [user, group] => {
                            self.cfg.global.script_user = Some(user.to_string());
                            self.cfg.global.script_group = Some(group.to_string());
                        }
                        // keepalived logs these and keeps its default script user.
                        _ => self.warn(
                            st.loc,
                            "`script_user` takes a user and optionally a group: the line is \
                             ignored, as keepalived ignores it",
                        ),
                    }
                }
            }
            "enable_script_security" => {
                if self.flag(st) {
                    self.cfg.global.enable_script_security = true;
                }
            }
            "vrrp_strict" => {
                if self.flag(st) {
                    self.cfg.global.strict = true;
                }
            }
            // vipd checks the source of unicast adverts by default; the keyword says so.
            "vrrp_check_unicast_src" => {
                self.flag(st);
            }
            "vrrp_skip_check_adv_addr" => {
                if self.flag(st) {
                    self.cfg.global.skip_check_adv_addr = true;
                }
            }
            "v3_checksum_as_v2" => {
                if self.flag(st) {
                    self.cfg.global.v3_checksum = V3Checksum::NoPseudoHeader;
                }
            }
            "max_auto_priority" => {
                if self.no_block(st) {
                    if st.args().is_empty() {
                        // keepalived: no value means the highest priority.
                        self.cfg.global.max_auto_priority = Some(99);
                    } else if let Some(v) = self.number(st, -1i32, 99) {
                        self.cfg.global.max_auto_priority = Some(v);
                    }
                }
            }
            "default_interface" => {
                if st.args().is_empty() && st.block.is_none() {
                    self.warn(
                        st.loc,
                        "`default_interface` without a name is ignored, as keepalived ignores it",
                    );
                } else if let Some(v) = self.arg(st) {
                    self.default_interface = Some(v.to_string());
                }
            }
            // vipd always waits for interfaces that appear later and follows renumbered
            // ones; keepalived needs this flag for that.
            "dynamic_interfaces" => {
                self.no_block(st);
            }
            // vipd always checks a file before a reload and keeps the running
            // configuration when it has errors.
            "reload_check_config" => {
                self.no_block(st);
            }
            "vrrp_startup_delay" => {
                if let Some(v) = self.seconds(st) {
                    self.cfg.global.startup_delay = v;
                }
            }
            _ => self.other(Block::Global, st),
        }
    }

    fn script(&mut self, st: &Statement) {
        let (Some(name), Some(block)) = (self.block_name(st), self.block(st)) else {
            return;
        };
        let exec = CheckKind::Exec {
            command: String::new(),
            argv: Vec::new(),
            user: None,
            group: None,
        };
        if self.check_defined_again(st, &name, &exec) {
            return;
        }
        let index = self.cfg.checks.len();
        let at = format!("check[{index}]");
        self.note(at.clone(), st.loc);
        let mut check = Check::new(
            &name,
            CheckKind::Exec {
                command: String::new(),
                argv: Vec::new(),
                user: None,
                group: None,
            },
        );
        let errors_before = self.errors.len();
        let mut command = None;
        let mut user = None;
        let mut group = None;
        let mut removed = false;
        for item in block {
            self.note(format!("{at}.{}", item.keyword()), item.loc);
            match item.keyword() {
                "script" => {
                    if let Some(c) = self.command(item) {
                        match CheckKind::exec(&c) {
                            Ok(_) => command = Some(c),
                            Err(e) => self.error(item.loc, format!("`script`: {e}")),
                        }
                        self.note(format!("{at}.command"), item.loc);
                    }
                }
                "interval" => {
                    if let Some(v) = self.seconds(item) {
                        // keepalived: "interval must be greater than 0, setting to 1".
                        if v.is_zero() {
                            self.warn(
                                item.loc,
                                "`interval 0` is read as 1 second, as keepalived reads it",
                            );
                            check.interval = Duration::from_secs(1);
                        } else {
                            check.interval = v;
                        }
                    }
                }
                "timeout" => {
                    if let Some(v) = self.seconds(item) {
                        check.timeout = Some(v);
                    }
                }
                "weight" => {
                    if let Some((w, reverse)) = self.weight_value(item, true) {
                        check.weight = w;
                        check.reverse = reverse;
                    }
                }
                "rise" => {
                    if let Some(v) = self.number(item, 1u32, 1_000_000) {
                        check.rise = v;
                    }
                }
                "fall" => {
                    if let Some(v) = self.number(item, 1u32, 1_000_000) {
                        check.fall = v;
                    }
                }
                "user" => {
                    if self.no_block(item) {
                        match texts(item.args()).as_slice() {
                            [u] => user = Some(u.to_string()),
                            [u, g] => {
                                user = Some(u.to_string());
                                group = Some(g.to_string());
                            }
                            // keepalived: "Unable to set uid/gid for script" and the script
                            // is removed (its track entries are then ignored).
                            _ => {
                                self.warn(
                                    item.loc,
                                    format!(
                                        "vrrp_script `{name}`: `user` takes a user and \
                                         optionally a group: the script is removed, as \
                                         keepalived removes it"
                                    ),
                                );
                                removed = true;
                            }
                        }
                    }
                }
                "init_fail" => {
                    if self.flag(item) {
                        check.init_fail = true;
                    }
                }
                _ => self.other(Block::Script, item),
            }
        }
        let Some(command) = command else {
            // keepalived: "No script set for vrrp_script X - removing"; what tracks it is
            // ignored ("not found, ignoring").
            if self.errors.len() == errors_before && !removed {
                self.warn(
                    st.loc,
                    format!(
                        "vrrp_script `{name}` has no `script`: it is removed, as keepalived \
                         removes it"
                    ),
                );
            }
            return;
        };
        if removed {
            return;
        }
        if let Ok(CheckKind::Exec { command, argv, .. }) = CheckKind::exec(&command) {
            check.kind = CheckKind::Exec {
                command,
                argv,
                user,
                group,
            };
            self.cfg.checks.push(check);
        }
    }

    /// `weight N [reverse]` in a vrrp_script, vrrp_track_file or vrrp_track_process block,
    /// read as keepalived 2.2.7 reads it: a value it cannot read is ignored (the weight stays
    /// 0), an unknown word after the number is ignored; a script weight beyond -253..=253 is
    /// used by keepalived as written, which saturates the priority just as ±253 does.
    fn weight_value(&mut self, st: &Statement, script: bool) -> Option<(i32, bool)> {
        if !self.no_block(st) {
            return None;
        }
        let args = texts(st.args());
        let (number, reverse) = match args.as_slice() {
            [] => {
                self.error(st.loc, "`weight` needs a value");
                return None;
            }
            [n] => (*n, false),
            [n, "reverse"] => (*n, true),
            [n, rest @ ..] => {
                self.warn(
                    st.loc,
                    format!(
                        "`weight {n}`: `{}` is ignored, as keepalived ignores it (it knows \
                         `reverse`)",
                        rest.join(" ")
                    ),
                );
                (*n, false)
            }
        };
        let max = if script { 253 } else { 254 };
        match number.parse::<i32>() {
            Ok(w) if w.abs() <= max => Some((w, reverse)),
            Ok(w) if script => {
                let clamped = w.signum() * max;
                self.warn(
                    st.loc,
                    format!(
                        "`weight`: {w} is beyond -253..=253: read as {clamped}, which moves the \
                         priority as far as keepalived's {w} does"
                    ),
                );
                Some((clamped, reverse))
            }
            _ => {
                self.ignored_value(st, number, &format!("is not a number in -{max}..={max}"));
                None
            }
        }
    }

    /// keepalived `vrrp_track_process NAME { process ...; param_match; weight; quorum;
    /// quorum_max; delay; fork_delay; terminate_delay; full_command }`.
    fn track_process(&mut self, st: &Statement) {
        let (Some(name), Some(block)) = (self.block_name(st), self.block(st)) else {
            return;
        };
        if self.check_defined_again(st, &name, &CheckKind::Process(ProcessCheck::named(""))) {
            return;
        }
        let index = self.cfg.checks.len();
        let at = format!("check[{index}]");
        self.note(at.clone(), st.loc);
        let mut process: Option<(String, Vec<String>)> = None;
        let mut param_match = None;
        let mut full_command = false;
        let mut spec = ProcessCheck::named("");
        let mut check = Check::new(&name, CheckKind::Process(spec.clone()));
        let errors_before = self.errors.len();
        for item in block {
            self.note(format!("{at}.{}", item.keyword()), item.loc);
            match item.keyword() {
                "process" => {
                    if !self.no_block(item) {
                        continue;
                    }
                    match texts(item.args()).split_first() {
                        Some((first, params)) => {
                            process = Some((
                                first.to_string(),
                                params.iter().map(|p| p.to_string()).collect(),
                            ))
                        }
                        None => self.error(item.loc, "`process` needs a process name"),
                    }
                }
                "param_match" => {
                    if !self.no_block(item) {
                        continue;
                    }
                    param_match = match texts(item.args()).as_slice() {
                        [] => Some(ParamMatch::Exact),
                        ["initial"] => Some(ParamMatch::Initial),
                        ["partial"] => Some(ParamMatch::Partial),
                        [other, ..] => {
                            self.ignored_value(item, other, "is not initial or partial");
                            param_match
                        }
                    };
                }
                "full_command" => {
                    if self.flag(item) {
                        full_command = true;
                    }
                }
                "weight" => {
                    if let Some((w, reverse)) = self.weight_value(item, false) {
                        check.weight = w;
                        check.reverse = reverse;
                    }
                }
                "quorum" => {
                    if let Some(v) = self.number(item, 1u32, 65_535) {
                        spec.quorum = v;
                    }
                }
                "quorum_max" => {
                    if let Some(v) = self.number(item, 0u32, 65_535) {
                        spec.quorum_max = v;
                        // keepalived: quorum_max 0 means "must not run".
                        if v == 0 {
                            spec.quorum = 0;
                        }
                    }
                }
                "delay" | "fork_delay" | "terminate_delay" => {
                    let Some(d) = self.seconds(item) else {
                        continue;
                    };
                    if item.keyword() != "terminate_delay" {
                        spec.fork_delay = d;
                    }
                    if item.keyword() != "fork_delay" {
                        spec.terminate_delay = d;
                    }
                }
                _ => self.other(Block::TrackProcess, item),
            }
        }
        if self.errors.len() > errors_before {
            return;
        }
        // keepalived: "process name not specified", and the block is dropped.
        let Some((process, params)) = process else {
            self.warn(
                st.loc,
                format!(
                    "vrrp_track_process `{name}` has no `process`: it is removed, as \
                     keepalived removes it"
                ),
            );
            return;
        };
        // keepalived: parameters or param_match mean the whole command line is matched.
        if !params.is_empty() || param_match.is_some() {
            full_command = true;
        }
        spec.process = process;
        if full_command {
            spec.match_by = ProcessMatch::Command;
            spec.param_match = param_match.unwrap_or(if params.is_empty() {
                ParamMatch::Any
            } else {
                ParamMatch::Exact
            });
            spec.args = params;
        }
        check.kind = CheckKind::Process(spec);
        self.note(format!("{at}.process"), st.loc);
        self.cfg.checks.push(check);
    }

    fn track_file(&mut self, st: &Statement) {
        let (Some(name), Some(block)) = (self.block_name(st), self.block(st)) else {
            return;
        };
        let file = CheckKind::File {
            path: PathBuf::new(),
        };
        if self.check_defined_again(st, &name, &file) {
            return;
        }
        let index = self.cfg.checks.len();
        let at = format!("check[{index}]");
        self.note(at.clone(), st.loc);
        let mut path = None;
        let mut check = Check::new(
            &name,
            CheckKind::File {
                path: PathBuf::new(),
            },
        );
        check.weight = 1;
        for item in block {
            self.note(format!("{at}.{}", item.keyword()), item.loc);
            match item.keyword() {
                "file" => {
                    if let Some(p) = self.arg(item) {
                        path = Some(PathBuf::from(p));
                        self.note(format!("{at}.path"), item.loc);
                    }
                }
                "weight" => {
                    if let Some((w, reverse)) = self.weight_value(item, false) {
                        check.weight = w;
                        check.reverse = reverse;
                    }
                }
                _ => self.other(Block::TrackFile, item),
            }
        }
        match path {
            Some(path) => {
                check.kind = CheckKind::File { path };
                self.cfg.checks.push(check);
            }
            // keepalived: "No file set for track_file X - ignoring".
            None => self.warn(
                st.loc,
                format!(
                    "track file `{name}` has no `file`: it is removed, as keepalived removes it"
                ),
            ),
        }
    }

    fn instance(&mut self, st: &Statement) {
        let (Some(name), Some(block)) = (self.skippable_block_name(st), self.block(st)) else {
            return;
        };
        // keepalived 2.2.7: "vrrp instance X already defined", and the block is skipped.
        if self.cfg.instances.iter().any(|i| i.name == name) {
            self.warn(
                st.loc,
                format!(
                    "vrrp_instance `{name}` is defined again: this block is skipped, as \
                     keepalived skips it"
                ),
            );
            return;
        }
        let index = self.cfg.instances.len();
        let at = format!("instance[{index}]");
        self.note(at.clone(), st.loc);
        let mut inst = Instance::new(&name, "", 0);
        let mut priority = None;
        let mut has_vrid = false;
        let mut bad_vrid: Option<(Loc, String)> = None;
        let mut has_interface = false;
        let mut vmac_xmit_base = None;
        let mut vmac_mac: Option<(String, Loc)> = None;
        let mut ipvlan_at = None;
        let errors_before = self.errors.len();
        for item in block {
            let loc = item.loc;
            if self.notify(item, &mut inst.notify, &at) {
                continue;
            }
            let field = match item.keyword() {
                "state" => {
                    match self.arg(item).map(str::to_ascii_uppercase).as_deref() {
                        Some("MASTER") => inst.initial_state = InitialState::Master,
                        Some("BACKUP") => inst.initial_state = InitialState::Backup,
                        Some(other) => {
                            self.warn(
                                loc,
                                format!(
                                    "`state`: `{other}` is not MASTER or BACKUP: BACKUP is \
                                     used, as keepalived uses it"
                                ),
                            );
                            inst.initial_state = InitialState::Backup;
                        }
                        None => {}
                    }
                    "initial_state"
                }
                "interface" => {
                    if let Some(v) = self.arg(item) {
                        inst.interface = v.to_string();
                        has_interface = true;
                    }
                    "interface"
                }
                "virtual_router_id" => {
                    // keepalived ignores an invalid id, and refuses the instance if it is
                    // left without one: the error then names this line.
                    if let Some(text) = self.arg(item) {
                        match text.parse::<u8>() {
                            Ok(v) if v >= 1 => {
                                inst.vrid = v;
                                has_vrid = true;
                            }
                            _ => bad_vrid = Some((loc, text.to_string())),
                        }
                    }
                    "vrid"
                }
                "priority" => {
                    // keepalived: an invalid priority is 100 ("Using default 100"), also
                    // with `state MASTER`.
                    if let Some(text) = self.arg(item) {
                        priority = match text.parse::<u8>() {
                            Ok(p) if p >= 1 => Some(p),
                            _ => {
                                self.warn(
                                    loc,
                                    format!(
                                        "`priority`: `{text}` is not a number in 1..=255: 100 \
                                         is used, as keepalived uses it"
                                    ),
                                );
                                Some(100)
                            }
                        };
                    }
                    "priority"
                }
                "advert_int" => {
                    // keepalived reads 0.01..=255 and ignores anything else.
                    if let Some(v) = self.seconds(item) {
                        if v < Duration::from_millis(10) || v > Duration::from_secs(255) {
                            let text = item.args().first().map(|w| w.text.clone());
                            let text = text.unwrap_or_default();
                            self.ignored_value(item, &text, "is not in 0.01..=255 seconds");
                        } else {
                            inst.advert_interval = v;
                        }
                    }
                    "advert_interval"
                }
                "version" => {
                    inst.version = self.number(item, 2u8, 3);
                    "version"
                }
                "nopreempt" => {
                    if self.flag(item) {
                        inst.preempt = false;
                    }
                    "preempt"
                }
                "preempt" => {
                    if self.flag(item) {
                        inst.preempt = true;
                    }
                    "preempt"
                }
                "preempt_delay" => {
                    // keepalived: "Preempt_delay not valid! must be between 0-1000".
                    if let Some(v) = self.seconds(item) {
                        if v > Duration::from_secs(1000) {
                            let text = item.args().first().map(|w| w.text.clone());
                            let text = text.unwrap_or_default();
                            self.ignored_value(item, &text, "is not in 0..=1000 seconds");
                        } else {
                            inst.preempt_delay = v;
                        }
                    }
                    "preempt_delay"
                }
                "authentication" => {
                    self.authentication(item, &mut inst);
                    "auth_pass"
                }
                "virtual_ipaddress" => {
                    self.vips(item, &mut inst, &at);
                    "vips"
                }
                "virtual_ipaddress_excluded" => {
                    self.excluded_vips(item, &mut inst, &at);
                    "excluded_vips"
                }
                "virtual_routes" => {
                    let routes = self.routes(item, &format!("{at}.routes"));
                    inst.routes.extend(routes);
                    "routes"
                }
                "virtual_rules" => {
                    let rules = self.rules(item, &format!("{at}.rules"));
                    inst.rules.extend(rules);
                    "rules"
                }
                "unicast_src_ip" | "mcast_src_ip" => {
                    if let Some(text) = self.arg(item) {
                        inst.source_address = self.unicast_address(loc, text);
                    }
                    "source_address"
                }
                "unicast_peer" => {
                    self.unicast_peers(item, &mut inst, &at);
                    "unicast_peers"
                }
                // vipd checks the source of unicast adverts by default; the keyword says so.
                "check_unicast_src" => {
                    if self.flag(item) {
                        inst.check_unicast_src = true;
                    }
                    "check_unicast_src"
                }
                "unicast_ttl" => {
                    inst.unicast_ttl = self.number(item, 1u8, 255);
                    "unicast_ttl"
                }
                "track_script" | "track_process" => {
                    let tracks = self.tracks(item, &format!("{at}.track_checks"));
                    for j in inst.track_checks.len()..inst.track_checks.len() + tracks.len() {
                        self.checks_before
                            .insert((false, index, false, j), self.cfg.checks.len());
                    }
                    inst.track_checks.extend(tracks);
                    "track_checks"
                }
                "track_file" => {
                    let tracks = self.tracks(item, &format!("{at}.track_files"));
                    for j in inst.track_files.len()..inst.track_files.len() + tracks.len() {
                        self.checks_before
                            .insert((false, index, true, j), self.cfg.checks.len());
                    }
                    inst.track_files.extend(tracks);
                    "track_files"
                }
                "track_interface" => {
                    let tracks = self.tracks(item, &format!("{at}.track_interfaces"));
                    inst.track_interfaces
                        .extend(tracks.into_iter().map(|t| TrackInterface {
                            name: t.check,
                            weight: t.weight.unwrap_or(0),
                            reverse: t.reverse.unwrap_or(false),
                        }));
                    "track_interfaces"
                }
                "garp_master_delay" => {
                    inst.garp.master_delay =
                        self.number(item, 0u64, 86_400).map(Duration::from_secs);
                    "garp.master_delay"
                }
                "garp_master_repeat" => {
                    inst.garp.master_repeat = self.number(item, 0u32, 10_000);
                    "garp.master_repeat"
                }
                "garp_master_refresh" => {
                    inst.garp.master_refresh = self.refresh_seconds(item).map(Duration::from_secs);
                    "garp.master_refresh"
                }
                "garp_master_refresh_repeat" => {
                    inst.garp.master_refresh_repeat = self.number(item, 1u32, 10_000);
                    "garp.master_refresh_repeat"
                }
                "down_timer_adverts" => {
                    inst.down_timer_adverts = self.number(item, 1u8, 100);
                    "down_timer_adverts"
                }
                "unicast_fault_no_peer" => {
                    if self.flag(item) {
                        inst.unicast_fault_no_peer = true;
                    }
                    "unicast_fault_no_peer"
                }
                "mcast_dst_ip" => {
                    if let Some(text) = self.arg(item) {
                        match text.parse::<IpAddr>() {
                            Ok(group) if group.is_multicast() => inst.mcast_group = Some(group),
                            _ => self.ignored_value(item, text, "is not a multicast address"),
                        }
                    }
                    "mcast_group"
                }
                "garp_lower_prio_repeat" => {
                    inst.garp.lower_prio_repeat = self.number(item, 0u32, 10_000);
                    "garp.lower_prio_repeat"
                }
                "garp_lower_prio_delay" => {
                    inst.garp.lower_prio_delay =
                        self.number(item, 0u64, 86_400).map(Duration::from_secs);
                    "garp.lower_prio_delay"
                }
                "lower_prio_no_advert" => {
                    inst.lower_prio_no_advert = self.switch(item);
                    "lower_prio_no_advert"
                }
                "higher_prio_send_advert" => {
                    inst.higher_prio_send_advert = self.switch(item);
                    "higher_prio_send_advert"
                }
                "v3_checksum_as_v2" => {
                    if self.flag(item) {
                        inst.v3_checksum = Some(V3Checksum::NoPseudoHeader);
                    }
                    "v3_checksum"
                }
                "use_vmac" => {
                    vmac_mac = self.use_vmac(item, &mut inst).map(|text| (text, loc));
                    "vmac"
                }
                "vmac_xmit_base" => {
                    if self.flag(item) {
                        vmac_xmit_base = Some(loc);
                    }
                    "vmac.xmit_base"
                }
                "use_vmac_addr" => {
                    if self.flag(item) {
                        inst.vmac_addr = true;
                    }
                    "vmac_addr"
                }
                "use_ipvlan" => {
                    if inst.ipvlan.is_some() {
                        self.error(
                            loc,
                            "`use_ipvlan` given twice (keepalived refuses that too)",
                        );
                    } else {
                        ipvlan_at = Some(loc);
                        inst.ipvlan = self.use_ipvlan(item);
                    }
                    "ipvlan"
                }
                "dont_track_primary" => {
                    if self.flag(item) {
                        inst.dont_track_primary = true;
                    }
                    "dont_track_primary"
                }
                // VIPs are ordinary addresses in vipd: traffic to them is accepted.
                "accept" => {
                    self.flag(item);
                    continue;
                }
                "no_accept" => {
                    if self.flag(item) {
                        self.warn(
                            loc,
                            "`no_accept`: vipd adds no firewall rules, so the VIPs accept \
                             traffic as with `accept` (keepalived would drop it unless the \
                             priority is 255); filter it with nftables if you rely on that",
                        );
                    }
                    continue;
                }
                // vipd never drops an advert for its address list (it only logs it), which
                // is what skipping the check gives in keepalived.
                "skip_check_adv_addr" => {
                    self.switch(item);
                    continue;
                }
                "strict_mode" => {
                    if let Some(b) = self.switch(item) {
                        inst.strict = Some(b);
                    }
                    "strict"
                }
                _ => {
                    self.other(Block::Instance, item);
                    continue;
                }
            };
            self.note(format!("{at}.{field}"), loc);
        }
        if self.errors.len() > errors_before {
            return;
        }
        if let (Some((text, loc)), Some(vmac)) = (vmac_mac, inst.vmac.as_mut()) {
            match super::MacAddr::parse_with_vrid(&text, inst.vrid) {
                Ok(mac) => vmac.mac = Some(mac),
                Err(e) => {
                    self.error(loc, format!("`use_vmac`: {e}"));
                    return;
                }
            }
        }
        if let (Some(loc), Some(_)) = (ipvlan_at, &inst.vmac) {
            // keepalived 2.2.7 sets up the VMAC and never the ipvlan then.
            self.warn(
                loc,
                "`use_ipvlan` has no effect with `use_vmac` (keepalived uses the VMAC too)",
            );
            inst.ipvlan = None;
        }
        if let Some(loc) = vmac_xmit_base {
            match inst.vmac.as_mut() {
                Some(vmac) => vmac.xmit_base = true,
                None => self.warn(loc, "`vmac_xmit_base` has no effect without `use_vmac`"),
            }
        }
        if !has_interface {
            // Decided at the end: `default_interface` may come later in the file.
            self.without_interface
                .push((self.cfg.instances.len(), st.loc));
        }
        match (has_vrid, bad_vrid) {
            (true, None) => {}
            (true, Some((loc, text))) => self.warn(
                loc,
                format!(
                    "`virtual_router_id`: `{text}` is not a number in 1..=255: the line is \
                     ignored, as keepalived ignores it"
                ),
            ),
            (false, Some((loc, text))) => {
                self.error(
                    loc,
                    format!("`virtual_router_id`: `{text}` is not a number in 1..=255"),
                );
                return;
            }
            (false, None) => {
                self.error(
                    st.loc,
                    format!("vrrp_instance `{name}` has no `virtual_router_id`"),
                );
                return;
            }
        }
        inst.priority = match (priority, inst.initial_state) {
            (Some(p), _) => p,
            // keepalived: `state MASTER` without a priority means address owner.
            (None, InitialState::Master) => 255,
            (None, InitialState::Backup) => 100,
        };
        self.cfg.instances.push(inst);
    }

    /// `use_vmac [NAME] [MAC]`: a word that reads as a MAC (five octets take the VRID as the
    /// sixth) is the MAC, the other the interface name. The VRID may come later in the block,
    /// so a five-octet MAC is completed when the block is done.
    fn use_vmac(&mut self, st: &Statement, inst: &mut Instance) -> Option<String> {
        if !self.no_block(st) {
            return None;
        }
        let mut vmac = super::Vmac::default();
        let mut mac = None;
        let args = texts(st.args());
        if args.len() > 2 {
            self.error(st.loc, "`use_vmac` takes at most a name and a MAC address");
            return None;
        }
        for word in args {
            if super::vmac::looks_like_mac(word) && mac.is_none() {
                mac = Some(word.to_string());
            } else if vmac.interface.is_empty() {
                match super::vmac::check_interface_name(word) {
                    Ok(()) => vmac.interface = word.to_string(),
                    // keepalived 2.2.7 keeps the VMAC under its default name.
                    Err(why) => self.warn(
                        st.loc,
                        format!(
                            "`use_vmac`: interface name `{word}` {why}: ignored, the VMAC gets \
                             its default name, as in keepalived (\"too long or invalid \
                             characters - ignoring\")"
                        ),
                    ),
                }
            } else {
                self.error(st.loc, format!("`use_vmac`: `{word}` is not a MAC address"));
                return None;
            }
        }
        inst.vmac = Some(vmac);
        mac
    }

    /// `use_ipvlan [NAME] [ADDRESS[/PREFIX]] [bridge|private|vepa]`, in any order, read as
    /// keepalived 2.2.7 reads it: a second name, address or type is ignored with a warning
    /// (keepalived: "... already specified - ignoring").
    fn use_ipvlan(&mut self, st: &Statement) -> Option<super::Ipvlan> {
        if !self.no_block(st) {
            return None;
        }
        let mut ipvlan = super::Ipvlan::default();
        let mut mode = None;
        for word in texts(st.args()) {
            let ignored = if let Some(m) = super::IpvlanMode::parse(word) {
                let repeated = mode.is_some();
                mode.get_or_insert(m);
                repeated
            } else if word.starts_with(|c: char| c.is_ascii_digit()) || word.contains(':') {
                match word.parse::<super::IfAddress>() {
                    Ok(address) => {
                        let repeated = ipvlan.address.is_some();
                        ipvlan.address.get_or_insert(address);
                        repeated
                    }
                    Err(e) => {
                        self.error(st.loc, format!("`use_ipvlan`: {e}"));
                        return None;
                    }
                }
            } else if ipvlan.interface.is_empty() {
                ipvlan.interface = word.to_string();
                false
            } else {
                true
            };
            if ignored {
                self.warn(
                    st.loc,
                    format!(
                        "`use_ipvlan`: `{word}` repeats a name, address or type: ignored, as \
                         keepalived 2.2.7 ignores it (the first one counts)"
                    ),
                );
            }
        }
        ipvlan.mode = mode.unwrap_or_default();
        Some(ipvlan)
    }

    fn authentication(&mut self, st: &Statement, inst: &mut Instance) {
        let Some(block) = self.block(st) else { return };
        let mut kind = None;
        let mut pass = None;
        for item in block {
            match item.keyword() {
                "auth_type" => kind = self.arg(item).map(|k| (k.to_string(), item.loc)),
                "auth_pass" => pass = self.arg(item).map(str::to_string),
                _ => self.other(Block::Authentication, item),
            }
        }
        // keepalived 2.2.7 sends no authentication unless the block names PASS or AH and
        // gives a password; the other shapes are logged and the block ignored. vipd reads
        // them the same way, so the routers of a segment keep agreeing.
        match kind {
            Some((k, _)) if k == "PASS" || k == "AH" => match pass {
                Some(p) if !p.is_empty() => {
                    inst.auth_pass = Some(p);
                    if k == "AH" {
                        inst.auth_type = super::AuthType::Ah;
                    }
                }
                _ => self.warn(
                    st.loc,
                    format!(
                        "`auth_type {k}` without a password: no authentication is used, as in \
                         keepalived (\"Authentication specified but no password given\")"
                    ),
                ),
            },
            Some((k, loc)) => self.warn(
                loc,
                format!(
                    "`auth_type`: `{k}` is not PASS or AH (they are case-sensitive): no \
                     authentication is used, as in keepalived (\"unknown authentication type\")"
                ),
            ),
            None if pass.is_some() => self.warn(
                st.loc,
                "`authentication` without `auth_type`: the password is not used (no \
                 authentication), as in keepalived",
            ),
            None => {}
        }
    }

    /// One line of `virtual_ipaddress` or `virtual_ipaddress_excluded`, read as keepalived
    /// reads it; options vipd does not apply are warned about.
    fn vip(&mut self, item: &Statement) -> Option<Vip> {
        if item.block.is_some() {
            self.error(item.loc, "a virtual address takes no { } block");
            return None;
        }
        let words = texts(&item.words);
        let (vip, ignored) = match Vip::from_keepalived_words(&words) {
            Ok(read) => read,
            // keepalived 2.2.7 skips an address it cannot read ("VRRP parsed invalid IP",
            // "invalid broadcast ... skipping VIP") and runs the instance without it.
            Err(e) => {
                self.warn(
                    item.loc,
                    format!("{e}: the address is skipped, as keepalived skips it"),
                );
                return None;
            }
        };
        for ignored in ignored {
            let message = match ignored {
                Ignored::NotApplied(option) => format!(
                    "virtual address {}: option `{option}` is not applied by vipd (it adds the \
                     address with dev, brd, scope and label only; IPv6 ones without duplicate \
                     address detection)",
                    vip.address
                ),
                Ignored::Unknown(words) => {
                    let hint = if words.parse::<IpAddr>().is_ok() {
                        " (one address per line)"
                    } else {
                        ""
                    };
                    format!(
                        "virtual address {}: `{words}` is ignored, as keepalived ignores \
                         it{hint}",
                        vip.address
                    )
                }
            };
            self.warn(item.loc, message);
        }
        Some(vip)
    }

    fn vips(&mut self, st: &Statement, inst: &mut Instance, at: &str) {
        let Some(block) = self.block(st) else { return };
        for item in block {
            let Some(vip) = self.vip(item) else {
                continue;
            };
            let family = |a: &IpAddr| if a.is_ipv6() { "IPv6" } else { "IPv4" };
            match inst.vips.first() {
                Some(first) if first.address.is_ipv6() != vip.address.is_ipv6() => {
                    self.warn(
                        item.loc,
                        format!(
                            "{vip} is {} but the instance is {} (its first address): keepalived \
                             2.2.7 ignores it; vipd adds and removes it with the VIPs without \
                             listing it in adverts, as virtual_ipaddress_excluded (move it \
                             there to say so)",
                            family(&vip.address),
                            family(&first.address)
                        ),
                    );
                    let index = inst.excluded_vips.len();
                    self.note(format!("{at}.excluded_vips[{index}]"), item.loc);
                    inst.excluded_vips.push(vip);
                }
                _ => {
                    self.note(format!("{at}.vips[{}]", inst.vips.len()), item.loc);
                    inst.vips.push(vip);
                }
            }
        }
    }

    /// `virtual_ipaddress_excluded`: written like `virtual_ipaddress`, either family.
    fn excluded_vips(&mut self, st: &Statement, inst: &mut Instance, at: &str) {
        let Some(block) = self.block(st) else { return };
        for item in block {
            if let Some(vip) = self.vip(item) {
                let index = inst.excluded_vips.len();
                self.note(format!("{at}.excluded_vips[{index}]"), item.loc);
                inst.excluded_vips.push(vip);
            }
        }
    }

    fn unicast_peers(&mut self, st: &Statement, inst: &mut Instance, at: &str) {
        let Some(block) = self.block(st) else { return };
        for item in block {
            // `ADDRESS [min_ttl N] [max_ttl N]`, as keepalived 2.2.7 reads it.
            let mut words = item.words.iter();
            let Some(first) = words.next() else { continue };
            let Some(address) = self.unicast_address(item.loc, &first.text) else {
                continue;
            };
            self.note(
                format!("{at}.unicast_peers[{}]", inst.unicast_peers.len()),
                item.loc,
            );
            inst.unicast_peers.push(address);
            let mut range: Option<PeerTtl> = None;
            while let Some(word) = words.next() {
                let option = word.text.as_str();
                // keepalived 2.2.7 logs an unknown option or an unusable TTL and keeps
                // the peer; so does vipd, with a warning.
                if !matches!(option, "min_ttl" | "max_ttl") {
                    self.warn(
                        item.loc,
                        format!(
                            "unicast peer {address}: unknown option `{option}` (min_ttl, \
                             max_ttl): ignored, as keepalived ignores it"
                        ),
                    );
                    break;
                }
                let value = words.next().map(|w| w.text.as_str());
                let Some(ttl) = value.and_then(|v| v.parse::<u8>().ok()) else {
                    self.warn(
                        item.loc,
                        format!(
                            "unicast peer {address}: `{option}` needs a TTL 0..=255, not `{}`: \
                             ignored, as keepalived ignores it",
                            value.unwrap_or("")
                        ),
                    );
                    break;
                };
                let entry = range.get_or_insert(PeerTtl {
                    peer: address,
                    min_ttl: 0,
                    max_ttl: u8::MAX,
                });
                if option == "min_ttl" {
                    entry.min_ttl = ttl;
                } else {
                    entry.max_ttl = ttl;
                }
            }
            if let Some(range) = range {
                if range.min_ttl > range.max_ttl {
                    // keepalived runs such a peer and discards all its adverts ("all
                    // packets will be discarded"), which splits the pair; vipd keeps the
                    // peer and drops the range, and says so.
                    self.warn(
                        item.loc,
                        format!(
                            "unicast peer {address}: min_ttl {} is above max_ttl {}: vipd \
                             ignores the range (keepalived would discard every advert from \
                             this peer)",
                            range.min_ttl, range.max_ttl
                        ),
                    );
                } else {
                    inst.unicast_peer_ttl.push(range);
                }
            }
        }
    }

    /// Items of `track_script`/`track_process`/`track_file`/`track_interface`:
    /// `NAME [weight N [reverse|noreverse]]` (`track_interface`: `reverse` only).
    fn tracks(&mut self, st: &Statement, at: &str) -> Vec<TrackCheck> {
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
                    let weight = match w.parse::<i32>() {
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

    /// `garp_group { garp_interval S; gna_interval S; interface IF; interfaces { IF ... } }`.
    fn garp_group(&mut self, st: &Statement) {
        let Some(block) = self.block(st) else { return };
        let at = format!("garp_group[{}]", self.cfg.garp_groups.len());
        self.note(at.clone(), st.loc);
        let mut group = GarpGroup {
            interfaces: Vec::new(),
            interval: Duration::ZERO,
            na_interval: Duration::ZERO,
        };
        for item in block {
            self.note(format!("{at}.{}", item.keyword()), item.loc);
            match item.keyword() {
                "garp_interval" => {
                    if let Some(v) = self.seconds(item) {
                        group.interval = v;
                    }
                }
                "gna_interval" => {
                    if let Some(v) = self.seconds(item) {
                        group.na_interval = v;
                    }
                }
                "interface" => {
                    if let Some(name) = self.arg(item) {
                        group.interfaces.push(name.to_string());
                    }
                }
                "interfaces" => {
                    if let Some(names) = self.block(item) {
                        for line in names {
                            group
                                .interfaces
                                .extend(line.words.iter().map(|w| w.text.clone()));
                        }
                    }
                }
                other => self.warn(
                    item.loc,
                    format!(
                        "unknown keyword `{other}` in garp_group, ignored (keepalived: \
                         \"Unknown keyword\")"
                    ),
                ),
            }
        }
        self.cfg.garp_groups.push(group);
    }

    fn sync_group(&mut self, st: &Statement) {
        let (Some(name), Some(block)) = (self.skippable_block_name(st), self.block(st)) else {
            return;
        };
        // keepalived 2.2.7: "vrrp sync group X already defined", and the block is skipped.
        if self.cfg.sync_groups.iter().any(|g| g.name == name) {
            self.warn(
                st.loc,
                format!(
                    "vrrp_sync_group `{name}` is defined again: this block is skipped, as \
                     keepalived skips it"
                ),
            );
            return;
        }
        let index = self.cfg.sync_groups.len();
        let at = format!("sync_group[{index}]");
        self.note(at.clone(), st.loc);
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
            match item.keyword() {
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
                // keepalived applies what a group tracks to every member.
                "track_script" | "track_process" => {
                    let tracks = self.tracks(item, &format!("{at}.track_checks"));
                    for j in group.track_checks.len()..group.track_checks.len() + tracks.len() {
                        self.checks_before
                            .insert((true, index, false, j), self.cfg.checks.len());
                    }
                    group.track_checks.extend(tracks);
                }
                "track_file" => {
                    let tracks = self.tracks(item, &format!("{at}.track_files"));
                    for j in group.track_files.len()..group.track_files.len() + tracks.len() {
                        self.checks_before
                            .insert((true, index, true, j), self.cfg.checks.len());
                    }
                    group.track_files.extend(tracks);
                }
                "track_interface" => {
                    let tracks = self.tracks(item, &format!("{at}.track_interfaces"));
                    group
                        .track_interfaces
                        .extend(tracks.into_iter().map(|t| TrackInterface {
                            name: t.check,
                            weight: t.weight.unwrap_or(0),
                            reverse: t.reverse.unwrap_or(false),
                        }));
                }
                _ => self.other(Block::SyncGroup, item),
            }
        }
        self.cfg.sync_groups.push(group);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_mode_ignores_the_password_like_keepalived() {
        let text = "global_defs {\n vrrp_strict\n}\nvrrp_instance VI_1 {\n interface eth0\n \
                    virtual_router_id 51\n authentication {\n auth_type PASS\n auth_pass secret\n \
                    }\n virtual_ipaddress {\n 192.0.2.10\n }\n}\n";
        let cfg = parse_keepalived(text, Path::new("strict.conf")).unwrap();
        assert_eq!(cfg.instances[0].auth_pass, None);
        let relaxed = text.replace("vrrp_strict", "router_id r1");
        let cfg = parse_keepalived(&relaxed, Path::new("plain.conf")).unwrap();
        assert_eq!(cfg.instances[0].auth_pass.as_deref(), Some("secret"));
    }

    #[test]
    fn unicast_source_check_and_ttl_keywords() {
        let text = "global_defs {\n vrrp_check_unicast_src\n}\nvrrp_instance VI_1 {\n \
                    interface eth0\n virtual_router_id 51\n unicast_src_ip 192.0.2.1\n \
                    unicast_peer {\n 192.0.2.2\n }\n check_unicast_src\n unicast_ttl 64\n \
                    virtual_ipaddress {\n 192.0.2.10\n }\n}\n";
        let cfg = parse_keepalived(text, Path::new("unicast.conf")).unwrap();
        let inst = &cfg.instances[0];
        assert!(inst.check_unicast_src);
        assert_eq!(inst.unicast_ttl, Some(64));
        // Without the keywords: the check is still on, the TTL is the default 255.
        let plain = text
            .replace(" vrrp_check_unicast_src\n", "")
            .replace(" check_unicast_src\n", "")
            .replace(" unicast_ttl 64\n", "");
        let cfg = parse_keepalived(&plain, Path::new("plain.conf")).unwrap();
        assert!(cfg.instances[0].check_unicast_src);
        assert_eq!(cfg.instances[0].unicast_ttl, None);
        // The native form carries them, and can turn the check off.
        let native = crate::config::to_toml(&parse_keepalived(text, Path::new("u.conf")).unwrap());
        assert!(native.contains("unicast_ttl = 64"), "{native}");
        let off = native.replace(
            "unicast_ttl = 64",
            "unicast_ttl = 64\ncheck_unicast_src = false",
        );
        let cfg = crate::config::parse_native(&off, Path::new("u.toml")).unwrap();
        assert!(!cfg.instances[0].check_unicast_src);
        assert!(crate::config::to_toml(&cfg).contains("check_unicast_src = false"));
        // keepalived: "TTL ... not valid" and the default stays.
        for bad in ["unicast_ttl 0", "unicast_ttl 256", "unicast_ttl many"] {
            let (cfg, warnings) = with_warnings(&text.replace("unicast_ttl 64", bad));
            assert_eq!(cfg.instances[0].unicast_ttl, None, "{bad}");
            assert!(
                warnings.iter().any(|w| w.contains("k.conf:")),
                "{bad}: {warnings:?}"
            );
        }
    }

    #[test]
    fn unicast_peers_take_keepalived_ttl_ranges() {
        let text = |peers: &str| {
            format!(
                "vrrp_instance VI_1 {{\n interface eth0\n virtual_router_id 51\n \
                 unicast_src_ip 192.0.2.1\n unicast_peer {{\n{peers}\n }}\n \
                 virtual_ipaddress {{\n 192.0.2.10\n }}\n}}\n"
            )
        };
        let cfg = parse_keepalived(
            &text(" 192.0.2.2 min_ttl 250 max_ttl 255\n 192.0.2.3 max_ttl 64\n 192.0.2.4"),
            Path::new("ttl.conf"),
        )
        .unwrap();
        let inst = &cfg.instances[0];
        assert_eq!(inst.unicast_peers.len(), 3);
        assert_eq!(
            inst.peer_ttl("192.0.2.2".parse().unwrap()),
            Some((250, 255))
        );
        assert_eq!(inst.peer_ttl("192.0.2.3".parse().unwrap()), Some((0, 64)));
        assert_eq!(inst.peer_ttl("192.0.2.4".parse().unwrap()), None);
        let native = crate::config::to_toml(&cfg);
        let back = crate::config::parse_native(&native, Path::new("ttl.toml")).unwrap();
        assert_eq!(back, cfg, "{native}");
        for (bad, says) in [
            (" 192.0.2.2 min_ttl 300", "needs a TTL"),
            (" 192.0.2.2 min_ttl", "needs a TTL"),
            (" 192.0.2.2 min_ttl 10 max_ttl 5", "above max_ttl"),
            (" 192.0.2.2 ttl 5", "unknown option `ttl`"),
        ] {
            // keepalived logs these and keeps the peer without the range.
            let (cfg, warnings) = with_warnings(&text(bad));
            assert!(cfg.instances[0].unicast_peer_ttl.is_empty(), "{bad}");
            let warnings = warnings.join("\n");
            assert!(
                warnings.contains("k.conf:6:") && warnings.contains(says),
                "{bad}: {warnings}"
            );
        }
        // The native form checks the same.
        let stray = native.replace("peer = \"192.0.2.3\"", "peer = \"192.0.2.9\"");
        let err = crate::config::parse_native(&stray, Path::new("s.toml")).unwrap_err();
        assert!(
            err.to_string()
                .contains("not one of the instance's unicast_peers"),
            "{err}"
        );
    }

    fn one_instance(global: &str, instance: &str) -> Config {
        let text = format!(
            "global_defs {{\n{global}\n}}\nvrrp_instance VI_1 {{\n interface eth0\n \
             virtual_router_id 51\n{instance}\n virtual_ipaddress {{\n 192.0.2.10\n }}\n}}\n"
        );
        parse_keepalived(&text, Path::new("k.conf")).unwrap_or_else(|e| panic!("{e}"))
    }

    fn error_of(global: &str, instance: &str) -> String {
        let text = format!(
            "global_defs {{\n{global}\n}}\nvrrp_instance VI_1 {{\n interface eth0\n \
             virtual_router_id 51\n{instance}\n virtual_ipaddress {{\n 192.0.2.10\n }}\n}}\n"
        );
        match parse_keepalived(&text, Path::new("k.conf")) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    /// The configuration read from one instance and its warnings, joined.
    fn warnings_of(global: &str, instance: &str) -> (Config, String) {
        let (cfg, warnings) = with_warnings(&format!(
            "global_defs {{\n{global}\n}}\nvrrp_instance VI_1 {{\n interface eth0\n \
             virtual_router_id 51\n{instance}\n virtual_ipaddress {{\n 192.0.2.10\n }}\n}}\n"
        ));
        (cfg, warnings.join("\n"))
    }

    /// The configuration and its warnings, one per line.
    fn with_warnings(text: &str) -> (Config, Vec<String>) {
        let options = ReadOptions {
            config_id: "lb1".to_string(),
        };
        let loaded =
            read_keepalived(text, Path::new("k.conf"), &options).unwrap_or_else(|e| panic!("{e}"));
        let warnings = loaded.warnings.iter().map(|w| w.to_string()).collect();
        (loaded.config, warnings)
    }

    #[test]
    fn flags_ignore_their_value_like_keepalived_and_warn_when_it_reads_off() {
        let text = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n nopreempt 0\n dont_track_primary yes\n virtual_ipaddress {\n 192.0.2.10\n }\n}\n";
        let (cfg, warnings) = with_warnings(text);
        assert!(
            !cfg.instances[0].preempt,
            "nopreempt 0 still turns preemption off"
        );
        assert!(cfg.instances[0].dont_track_primary);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with("k.conf:4: warning: `nopreempt 0`: keepalived ignores"),
            "{warnings:?}"
        );
    }

    #[test]
    fn values_take_the_first_word_and_warn_about_the_rest() {
        let (cfg, warnings) = with_warnings(
            "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 5\"1\"\n priority 1 5 0\n virtual_ipaddress {\n 192.0.2.10\n }\n}\n",
        );
        assert_eq!((cfg.instances[0].vrid, cfg.instances[0].priority), (5, 1));
        assert_eq!(warnings.len(), 2, "{warnings:?}");
    }

    #[test]
    fn refresh_without_a_value_is_no_refresh_with_a_warning() {
        let (cfg, warnings) = with_warnings(
            "global_defs {\n vrrp_garp_master_refresh\n}\nvrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n garp_master_refresh\n virtual_ipaddress {\n 192.0.2.10\n }\n}\n",
        );
        assert_eq!(cfg.global.garp.master_refresh, None);
        assert_eq!(cfg.instances[0].garp.master_refresh, Some(Duration::ZERO));
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].contains("keepalived 2.2.7 refuses"),
            "{warnings:?}"
        );
    }

    #[test]
    fn startup_delay_strict_mode_and_default_interface() {
        let (cfg, warnings) = with_warnings(
            "vrrp_instance VI_1 {\n virtual_router_id 51\n strict_mode off\n virtual_ipaddress {\n 192.0.2.10\n }\n}\nglobal_defs {\n vrrp_startup_delay 2.5\n default_interface eth1\n vrrp_strict\n}\n",
        );
        assert_eq!(cfg.global.startup_delay, Duration::from_millis(2500));
        assert_eq!(cfg.instances[0].interface, "eth1");
        assert_eq!(cfg.instances[0].strict, Some(false));
        assert!(!cfg.instances[0].strict(&cfg.global));
        assert!(
            warnings.iter().any(
                |w| w.starts_with("k.conf:1: warning: vrrp_instance `VI_1` has no `interface`")
            ),
            "{warnings:?}"
        );
        let e = parse_keepalived(
            "vrrp_instance VI_1 {\n virtual_router_id 51\n}\n",
            Path::new("k.conf"),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("k.conf:1: vrrp_instance `VI_1` has no `interface`"),
            "{e}"
        );
    }

    #[test]
    fn an_address_of_the_other_family_becomes_an_excluded_one() {
        let (cfg, warnings) = with_warnings(
            "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {\n 192.0.2.10/24\n 2001:db8::10/64\n 192.0.2.11/24\n }\n}\n",
        );
        let inst = &cfg.instances[0];
        let vips: Vec<String> = inst.vips.iter().map(|v| v.to_string()).collect();
        assert_eq!(vips, ["192.0.2.10/24", "192.0.2.11/24"]);
        assert_eq!(inst.excluded_vips[0].to_string(), "2001:db8::10/64");
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with("k.conf:6: warning: 2001:db8::10/64 is IPv6")),
            "{warnings:?}"
        );
    }

    #[test]
    fn lower_priority_garps_default_to_the_master_burst_like_keepalived() {
        let cfg = one_instance(" vrrp_garp_master_repeat 3\n vrrp_garp_master_delay 7", "");
        let garp = cfg.instances[0].garp(&cfg.global);
        assert_eq!(garp.lower_prio_repeat(), 3);
        assert_eq!(garp.lower_prio_delay(), Duration::from_secs(7));
        // An instance's own garp_master_repeat does not change the lower-priority default.
        let cfg = one_instance("", " garp_master_repeat 2");
        let garp = cfg.instances[0].garp(&cfg.global);
        assert_eq!(garp.master_repeat, 2);
        assert_eq!(garp.lower_prio_repeat(), 5);
    }

    #[test]
    fn strict_mode_turns_lower_priority_extras_off_like_keepalived() {
        let cfg = one_instance(
            " vrrp_strict\n vrrp_higher_prio_send_advert",
            " garp_lower_prio_repeat 3\n lower_prio_no_advert false",
        );
        let (inst, g) = (&cfg.instances[0], &cfg.global);
        assert_eq!(inst.garp(g).lower_prio_repeat(), 0);
        assert_eq!(inst.garp(g).lower_prio_delay(), Duration::ZERO);
        assert!(inst.lower_prio_no_advert(g));
        assert!(!inst.higher_prio_send_advert(g));
    }

    #[test]
    fn min_garp_sends_one_message_unless_written_explicitly() {
        let cfg = one_instance(" vrrp_min_garp", "");
        let garp = &cfg.global.garp;
        assert_eq!(garp.master_repeat, 1);
        assert_eq!(garp.master_delay, Duration::ZERO);
        assert_eq!(garp.lower_prio_repeat(), 1);
        assert_eq!(garp.lower_prio_delay(), Duration::ZERO);
        // Order does not matter: explicit values win.
        let cfg = one_instance(" vrrp_min_garp true\n vrrp_garp_master_repeat 4", "");
        assert_eq!(cfg.global.garp.master_repeat, 4);
        assert_eq!(cfg.global.garp.master_delay, Duration::ZERO);
        let cfg = one_instance(" vrrp_min_garp off", "");
        assert_eq!(cfg.global.garp.master_repeat, 5);
    }

    #[test]
    fn switches_take_keepalived_booleans() {
        for (word, on) in [("", true), (" on", true), (" yes", true), (" false", false)] {
            let cfg = one_instance(&format!(" vrrp_lower_prio_no_advert{word}"), "");
            assert_eq!(cfg.global.lower_prio_no_advert, on, "{word:?}");
        }
        // keepalived logs a word it does not know and keeps the default; so does vipd.
        let (cfg, w) = warnings_of("", " higher_prio_send_advert off on");
        assert_eq!(cfg.instances[0].higher_prio_send_advert, Some(false));
        assert!(w.contains("`on` after the value `off` is ignored"), "{w}");
        let (cfg, w) = warnings_of("", " higher_prio_send_advert maybe");
        assert_eq!(cfg.instances[0].higher_prio_send_advert, None);
        assert!(
            w.contains("k.conf:7:") && w.contains("`maybe` is not one of") && w.contains("ignored"),
            "{w}"
        );
    }

    #[test]
    fn multicast_groups_must_be_multicast_of_their_family() {
        let cfg = one_instance(
            " vrrp_mcast_group4 224.0.0.19\n vrrp_mcast_group6 ff02::99",
            "",
        );
        assert_eq!(cfg.global.group4().to_string(), "224.0.0.19");
        assert_eq!(cfg.global.group6().to_string(), "ff02::99");
        for bad in [
            "vrrp_mcast_group4 192.0.2.1",
            "vrrp_mcast_group4 ff02::12",
            "vrrp_mcast_group6 224.0.0.18",
        ] {
            // keepalived: "is not multicast. Skipping"; the default group stays.
            let (cfg, w) = warnings_of(&format!(" {bad}"), "");
            assert_eq!(cfg.global.group4().to_string(), "224.0.0.18");
            assert_eq!(cfg.global.group6().to_string(), "ff02::12");
            assert!(
                w.contains("k.conf:2:") && w.contains("multicast"),
                "{bad}: {w}"
            );
        }
    }

    #[test]
    fn excluded_addresses_may_mix_families_but_not_repeat_a_vip() {
        let cfg = one_instance(
            "",
            " virtual_ipaddress_excluded {\n 192.0.2.11/24\n 2001:db8::11/64 dev eth1\n }",
        );
        assert_eq!(cfg.instances[0].excluded_vips.len(), 2);
        let e = error_of("", " virtual_ipaddress_excluded {\n 192.0.2.10\n }");
        assert!(e.contains("listed twice"), "{e}");
    }

    fn instance_with(body: &str) -> String {
        format!(
            "vrrp_instance VI_1 {{\n interface eth0\n virtual_router_id 51\n{body}\n \
             virtual_ipaddress {{\n 192.0.2.10\n }}\n}}\n"
        )
    }

    #[test]
    fn authentication_keepalived_ignores_means_none_with_a_warning() {
        for block in [
            "auth_type PASS;\n auth_pass secret;",
            "auth_type no_auth",
            "auth_type pass\n auth_pass secret",
            "auth_type PASS",
            "auth_type PASS\n auth_pass \"\"",
            "auth_pass secret",
        ] {
            let text = instance_with(&format!(" authentication {{\n {block}\n }}"));
            let (cfg, warnings) = with_warnings(&text);
            assert_eq!(cfg.instances[0].auth_pass, None, "{block}");
            assert_eq!(warnings.len(), 1, "{block}: {warnings:?}");
            assert!(warnings[0].contains("no authentication"), "{warnings:?}");
        }
        let text = instance_with(" authentication {\n auth_type PASS\n auth_pass secret\n }");
        let (cfg, warnings) = with_warnings(&text);
        assert_eq!(cfg.instances[0].auth_pass.as_deref(), Some("secret"));
        assert!(warnings.is_empty(), "{warnings:?}");
        let text = instance_with(" authentication {\n auth_type AH\n auth_pass x\n }");
        let (cfg, warnings) = with_warnings(&text);
        assert_eq!(cfg.instances[0].auth_type, crate::config::AuthType::Ah);
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn unicast_addresses_drop_a_prefix_length_like_keepalived() {
        let text = instance_with(
            " unicast_src_ip 192.0.2.1/24\n unicast_peer {\n 192.0.2.2/24\n 192.0.2.3\n }",
        );
        let (cfg, warnings) = with_warnings(&text);
        let inst = &cfg.instances[0];
        assert_eq!(inst.source_address, Some("192.0.2.1".parse().unwrap()));
        assert_eq!(
            inst.unicast_peers,
            [
                "192.0.2.2".parse::<IpAddr>().unwrap(),
                "192.0.2.3".parse().unwrap()
            ]
        );
        assert!(warnings.is_empty(), "{warnings:?}");
        let (cfg, warnings) = with_warnings(&instance_with(" unicast_src_ip 192.0.2.1/x"));
        assert_eq!(
            cfg.instances[0].source_address,
            Some("192.0.2.1".parse().unwrap())
        );
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        // keepalived: "malformed src address ... Skipping...".
        let (cfg, w) = warnings_of("", " unicast_src_ip 192.0.2.300/24");
        assert_eq!(cfg.instances[0].source_address, None);
        assert!(
            w.contains("k.conf:7:") && w.contains("not an IP address"),
            "{w}"
        );
    }

    #[test]
    fn track_entries_naming_nothing_are_dropped_with_a_warning() {
        // keepalived 2.2.7 looks the script up while reading the entry: one defined later
        // is "not found" too.
        let text = "vrrp_script chk_web {\n script /bin/true\n}\n\
                    vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n \
                    track_script {\n chk_typo\n chk_web weight 5\n chk_late\n }\n \
                    track_file {\n chk_web\n }\n virtual_ipaddress {\n 192.0.2.10\n }\n}\n\
                    vrrp_script chk_late {\n script /bin/true\n}\n";
        let (cfg, warnings) = with_warnings(text);
        let inst = &cfg.instances[0];
        assert_eq!(inst.track_checks.len(), 1);
        assert_eq!(inst.track_checks[0].check, "chk_web");
        assert_eq!(inst.track_checks[0].weight, Some(5));
        assert!(
            inst.track_files.is_empty(),
            "a vrrp_script is no track file"
        );
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(
            warnings[0].contains("k.conf:8:") && warnings[0].contains("chk_typo"),
            "{warnings:?}"
        );
        assert!(
            warnings[1].contains("k.conf:10:") && warnings[1].contains("defined after"),
            "{warnings:?}"
        );
        assert!(
            warnings[2].contains("k.conf:13:") && warnings[2].contains("vrrp_track_file"),
            "{warnings:?}"
        );
    }

    #[test]
    fn track_entry_options_are_read_as_keepalived_reads_them() {
        let text = "vrrp_script chk {\n script /bin/true\n weight 300\n}\n\
                    vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n \
                    track_script {\n chk weight many\n }\n track_interface {\n \
                    eth1 weight 254\n eth2 wieght 5\n eth3 weight\n eth4 weight 999\n }\n \
                    virtual_ipaddress {\n 192.0.2.10\n }\n}\n";
        let (cfg, warnings) = with_warnings(text);
        // A script weight beyond ±253 saturates like ±253.
        assert_eq!(cfg.checks[0].weight, 253);
        let inst = &cfg.instances[0];
        // A weight keepalived cannot read falls back to the script's own.
        assert_eq!(inst.track_checks[0].weight, None);
        let tracked: Vec<(&str, i32)> = inst
            .track_interfaces
            .iter()
            .map(|t| (t.name.as_str(), t.weight))
            .collect();
        // ±254 is read as ±253; a misspelt option or a missing value drops the entry; an
        // unreadable weight is 0.
        assert_eq!(tracked, [("eth1", 253), ("eth4", 0)]);
        assert_eq!(warnings.len(), 6, "{warnings:?}");
    }

    #[test]
    fn virtual_address_words_keepalived_ignores_are_warnings() {
        let text = instance_with(
            " virtual_ipaddress_excluded {\n 192.0.2.20/24 192.0.2.21\n 192.0.2.22 dev eth0 scope bogus\n }",
        );
        let (cfg, warnings) = with_warnings(&text);
        let excluded = &cfg.instances[0].excluded_vips;
        assert_eq!(excluded.len(), 2);
        assert_eq!(excluded[1].interface.as_deref(), Some("eth0"));
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("one address per line"), "{warnings:?}");
        // keepalived: "No dev parameter specified"; the address stays.
        let (cfg, w) = warnings_of("", " virtual_ipaddress_excluded {\n 192.0.2.20 dev\n }");
        assert_eq!(cfg.instances[0].excluded_vips.len(), 1);
        assert!(w.contains("`dev` is ignored"), "{w}");
    }

    #[test]
    fn routes_rules_and_statics_read_as_keepalived_reads_them() {
        let (cfg, warnings) = with_warnings(
            "net_namespace blue\n\
             static_ipaddress {\n 192.0.2.50/24\n 2001:db8::50/64 dev eth1 track_group G\n}\n\
             static_rules {\n from 192.0.2.50 table 100 priority 100\n to 203.0.113.0/24 table 100\n \
             from 2001:db8::/64 table 100\n}\n\
             global_defs {\n default_interface eth2\n}\n\
             vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n \
             virtual_ipaddress {\n 192.0.2.100/24\n }\n \
             virtual_routes {\n src 192.0.2.100 to 198.51.100.0/24 via 192.0.2.1 dev eth0\n \
             198.51.101.0/24 via 192.0.2.1 tos 4\n }\n \
             virtual_rules {\n fwmark 7 table 201\n from all table 5 pref 3\n }\n}\n",
        );
        assert_eq!(cfg.global.net_namespace.as_deref(), Some("blue"));
        let statics = &cfg.statics;
        // Without `dev`: default_interface, even when written later in the file.
        assert_eq!(statics.addresses[0].interface.as_deref(), Some("eth2"));
        assert_eq!(statics.addresses[1].interface.as_deref(), Some("eth1"));
        let priorities: Vec<Option<u32>> = statics.rules.iter().map(|r| r.priority).collect();
        assert_eq!(priorities, [Some(100), Some(16384), Some(16384)]);
        let inst = &cfg.instances[0];
        assert_eq!(inst.routes.len(), 1, "the route with tos is skipped");
        assert_eq!(
            inst.routes[0].to_string(),
            "198.51.100.0/24 via 192.0.2.1 dev eth0 src 192.0.2.100"
        );
        assert_eq!(inst.rules.len(), 1, "the rule with pref is skipped");
        assert_eq!(
            inst.rules[0].priority,
            Some(16383),
            "file order, per family"
        );
        let text = warnings.join("\n");
        for expected in [
            "k.conf:4: warning: `track_group G`",
            "k.conf:8: warning: rule has no preference: it gets 16384",
            "k.conf:9: warning: rule has no preference: it gets 16384",
            "k.conf:22: warning: route skipped: route option `tos`",
            "k.conf:25: warning: rule has no preference: it gets 16383",
            "k.conf:26: warning: rule skipped: rule option `pref`",
        ] {
            assert!(text.contains(expected), "{expected} not in\n{text}");
        }
        let toml = crate::config::to_toml(&cfg);
        let back = crate::config::parse_native(&toml, Path::new("k.toml")).unwrap();
        assert_eq!(back, cfg, "{toml}");
    }

    #[test]
    fn values_keepalived_cannot_use_are_worked_around_as_keepalived_does() {
        let (cfg, w) = warnings_of(
            "",
            " state PRIMARY\n priority 100,x\n advert_int soon\n preempt_delay -1\n \
             garp_master_repeat many",
        );
        let inst = &cfg.instances[0];
        assert_eq!(inst.initial_state, InitialState::Backup);
        assert_eq!(inst.priority, 100);
        assert_eq!(inst.advert_interval, Duration::from_secs(1));
        assert_eq!(inst.preempt_delay, Duration::ZERO);
        assert_eq!(inst.garp.master_repeat, None);
        assert_eq!(w.lines().count(), 5, "{w}");
        // An invalid priority is 100 even with state MASTER (which alone would mean 255).
        let (cfg, _) = warnings_of("", " state MASTER\n priority 0");
        assert_eq!(cfg.instances[0].priority, 100);
        let (cfg, _) = warnings_of("", " state MASTER");
        assert_eq!(cfg.instances[0].priority, 255);
        let (cfg, w) = warnings_of("", " preempt_delay 2000");
        assert_eq!(cfg.instances[0].preempt_delay, Duration::ZERO);
        assert!(w.contains("0..=1000"), "{w}");
        let (cfg, w) = with_warnings(
            "vrrp_script chk {\n script /bin/true\n interval 0\n}\n\
             vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n}\n",
        );
        assert_eq!(cfg.checks[0].interval, Duration::from_secs(1));
        assert!(w[0].contains("k.conf:3:"), "{w:?}");
    }

    #[test]
    fn intervals_versions_and_sources_are_corrected_as_keepalived_corrects_them() {
        let (cfg, w) = warnings_of("", " advert_int 1.5");
        assert_eq!(cfg.instances[0].advert_interval, Duration::from_secs(2));
        assert!(w.contains("rounded to 2s"), "{w}");
        let (cfg, _) = warnings_of("", " version 3\n advert_int 50");
        assert_eq!(
            cfg.instances[0].advert_interval,
            Duration::from_millis(40_950)
        );
        let (cfg, w) = warnings_of("", " advert_int 300");
        assert_eq!(cfg.instances[0].advert_interval, Duration::from_secs(1));
        assert!(w.contains("0.01..=255"), "{w}");
        let text = instance_with(" version 2\n unicast_src_ip 192.0.2.1")
            .replace("192.0.2.10", "2001:db8::10");
        let (cfg, warnings) = with_warnings(&text);
        assert_eq!(cfg.instances[0].version, None);
        assert_eq!(cfg.instances[0].version(&cfg.global), 3);
        assert_eq!(cfg.instances[0].source_address, None);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
    }

    #[test]
    fn preemption_settings_keepalived_clears_are_cleared() {
        let (cfg, w) = warnings_of("", " state MASTER\n nopreempt\n preempt_delay 10");
        assert!(cfg.instances[0].preempt);
        assert_eq!(cfg.instances[0].preempt_delay, Duration::ZERO);
        assert_eq!(w.lines().count(), 2, "{w}");
        let (cfg, _) = warnings_of("", " priority 255\n nopreempt");
        assert!(cfg.instances[0].preempt);
        let (cfg, w) = warnings_of("", " nopreempt\n preempt_delay 10");
        assert!(!cfg.instances[0].preempt);
        assert_eq!(cfg.instances[0].preempt_delay, Duration::ZERO);
        assert!(w.contains("with nopreempt"), "{w}");
        let (cfg, _) = warnings_of("", " strict_mode\n priority 255\n preempt_delay 10");
        assert_eq!(cfg.instances[0].preempt_delay, Duration::ZERO);
        // BACKUP keeps them.
        let (cfg, w) = warnings_of("", " nopreempt");
        assert!(!cfg.instances[0].preempt);
        assert!(!w.contains("cleared"), "{w}");
    }

    #[test]
    fn notify_scripts_keep_the_first_and_ignore_extra_words() {
        let (cfg, w) = warnings_of(
            "",
            " notify_master /bin/first\n notify_master /bin/second\n \
             notify_backup /bin/b root root extra",
        );
        let notify = &cfg.instances[0].notify;
        assert_eq!(notify.master.as_ref().unwrap().command, "/bin/first");
        let backup = notify.backup.as_ref().unwrap();
        assert_eq!(backup.group.as_deref(), Some("root"));
        assert_eq!(w.lines().count(), 2, "{w}");
        assert!(w.contains("k.conf:8:") && w.contains("first"), "{w}");
    }

    #[test]
    fn blocks_keepalived_skips_are_skipped_with_a_warning() {
        let text = "vrrp_script chk {\n script /bin/true\n weight 5\n}\n\
                    vrrp_script chk {\n script /bin/false\n}\n\
                    vrrp_script nothing {\n interval 2\n}\n\
                    vrrp_track_file tf {\n weight 3\n}\n\
                    vrrp_instance {\n interface eth0\n}\n\
                    vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n \
                    virtual_ipaddress {\n 192.0.2.10\n }\n track_script {\n chk\n nothing\n \
                    }\n}\n\
                    vrrp_instance VI_1 {\n interface eth1\n virtual_router_id 52\n}\n\
                    vrrp_instance VI_2 {\n interface eth1\n virtual_router_id 52\n \
                    virtual_ipaddress {\n 198.51.100.10\n }\n}\n\
                    vrrp_sync_group G1 {\n group {\n VI_1\n VI_9\n }\n track_script {\n \
                    nothing\n }\n}\n\
                    vrrp_sync_group G1 {\n group {\n VI_2\n }\n}\n\
                    vrrp_sync_group G2 {\n group {\n VI_1\n }\n}\n\
                    vrrp_sync_group G3 {\n group {\n VI_2\n }\n}\n";
        let (cfg, warnings) = with_warnings(text);
        assert_eq!(cfg.checks.len(), 1);
        assert_eq!(cfg.checks[0].weight, 5, "the first chk is kept");
        let names: Vec<&str> = cfg.instances.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["VI_1", "VI_2"]);
        assert_eq!(cfg.instances[0].interface, "eth0");
        assert_eq!(cfg.instances[0].track_checks.len(), 1);
        let groups: Vec<(&str, Vec<&str>)> = cfg
            .sync_groups
            .iter()
            .map(|g| {
                (
                    g.name.as_str(),
                    g.instances.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(groups, [("G1", vec!["VI_1"]), ("G3", vec!["VI_2"])]);
        assert!(cfg.sync_groups[0].track_checks.is_empty());
        // chk again, nothing without script, tf without file, the unnamed instance, VI_1
        // again, nothing tracked by VI_1, VI_9, nothing tracked by G1, G1 again, VI_1 in G2,
        // G2 left empty.
        assert_eq!(warnings.len(), 11, "{warnings:#?}");
    }

    #[test]
    fn tracking_the_own_interface_is_dropped_as_keepalived_drops_it() {
        let (cfg, w) = warnings_of(
            "",
            " track_interface {\n eth1 weight -10\n eth0 weight -50\n eth2\n }",
        );
        let names: Vec<&str> = cfg.instances[0]
            .track_interfaces
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(names, ["eth1", "eth2"]);
        assert!(
            w.contains("k.conf:9:") && w.contains("own interface"),
            "{w}"
        );
    }

    #[test]
    fn unicast_peer_options_keepalived_ignores_are_warnings() {
        let (cfg, w) = warnings_of(
            "",
            " unicast_peer {\n 192.0.2.2 ttl 3\n 192.0.2.3 min_ttl x\n \
             192.0.2.4 min_ttl 10 max_ttl 5\n }",
        );
        assert_eq!(cfg.instances[0].unicast_peers.len(), 3);
        assert!(cfg.instances[0].unicast_peer_ttl.is_empty());
        assert_eq!(w.lines().count(), 3, "{w}");
    }
}
