//! The checks: `vrrp_script`, `vrrp_track_process`, `vrrp_track_file` / `track_file`.

use super::*;

impl Reader<'_> {
    /// A check of the same kind (script, file, process) defined earlier under `name`:
    /// keepalived 2.2.7 keeps both and uses the first, so vipd skips the later one.
    pub(super) fn check_defined_again(
        &mut self,
        st: &Statement,
        name: &str,
        kind: &CheckKind,
    ) -> bool {
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

    /// The start of a `vrrp_script`/`vrrp_track_process`/`vrrp_track_file` block: the
    /// check it defines (of `kind`, to be filled in), its lines, and its field path; `None`
    /// when the block is skipped.
    fn check_block<'s>(
        &mut self,
        st: &'s Statement,
        kind: CheckKind,
    ) -> Option<(Check, &'s [Statement], String)> {
        let (Some(name), Some(block)) = (self.block_name(st), self.block(st)) else {
            return None;
        };
        if self.check_defined_again(st, &name, &kind) {
            return None;
        }
        let at = format!("check[{}]", self.cfg.checks.len());
        self.note(at.clone(), st.loc);
        let name = self.unique_check_name(st, name, &kind);
        Some((Check::new(&name, kind), block, at))
    }

    /// `name`, or, when a check of another kind has it, `NAME-KIND` (made unique), with a
    /// warning: keepalived 2.2.7 keeps a vrrp_script and a vrrp_track_process (or
    /// vrrp_track_file) of the same name apart, and so do their track entries.
    fn unique_check_name(&mut self, st: &Statement, name: String, kind: &CheckKind) -> String {
        if !self.cfg.checks.iter().any(|c| c.name == name) {
            return name;
        }
        let tag = kind_tag(kind);
        let mut unique = format!("{name}-{tag}");
        let mut n = 2;
        while self.cfg.checks.iter().any(|c| c.name == unique) {
            unique = format!("{name}-{tag}{n}");
            n += 1;
        }
        self.warn(
            st.loc,
            format!(
                "`{} {name}`: a check of another kind has this name; vipd calls this one \
                 `{unique}` (in status, metrics and import-keepalived), and `{}` entries naming \
                 `{name}` track it, as in keepalived",
                st.keyword(),
                track_keyword(tag)
            ),
        );
        self.renamed.insert((tag, name), unique.clone());
        unique
    }

    pub(super) fn script(&mut self, st: &Statement) {
        let exec = CheckKind::Exec {
            command: String::new(),
            argv: Vec::new(),
            user: None,
            group: None,
        };
        let Some((mut check, block, at)) = self.check_block(st, exec) else {
            return;
        };
        let name = check.name.clone();
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
                    if let Some(v) = self.script_seconds(item) {
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
                    if let Some(v) = self.script_seconds(item) {
                        // keepalived: "timeout must be greater than 0, setting to 1".
                        if v.is_zero() {
                            self.warn(
                                item.loc,
                                "`timeout 0` is read as 1 second, as keepalived reads it",
                            );
                            check.timeout = Some(Duration::from_secs(1));
                        } else {
                            check.timeout = Some(v);
                        }
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
                            // keepalived 2.2.7 stops at it ("missing a parameter").
                            [] => self.missing_value(item),
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

    /// A vrrp_script `interval` or `timeout`. keepalived 2.2.7 reads whole seconds up to
    /// 4294 and ignores anything else; vipd also takes a fraction (documented), with a
    /// warning that keepalived would not.
    fn script_seconds(&mut self, st: &Statement) -> Option<Duration> {
        let text = st
            .args()
            .first()
            .map(|w| w.text.clone())
            .unwrap_or_default();
        let lead = leading_number(&text).and_then(|l| l.parse::<u64>().ok().map(|n| (l, n)));
        let v = match (duration::parse_seconds(&text), lead) {
            (None, Some((lead, n))) if self.no_block(st) => {
                let what = format!("`{}`", st.keyword());
                self.read_as_leading_number(st.loc, &what, &text, lead);
                Duration::from_secs(n)
            }
            _ => self.seconds(st)?,
        };
        if v > Duration::from_secs(4294) {
            self.ignored_value(st, &text, "is not in 0..=4294 seconds");
            return None;
        }
        if v.subsec_nanos() != 0 {
            self.warn(
                st.loc,
                format!(
                    "`{} {text}`: vipd uses the fraction; keepalived 2.2.7 reads whole seconds \
                     only (it reads {})",
                    st.keyword(),
                    v.as_secs()
                ),
            );
        }
        Some(v)
    }

    /// `weight N [reverse]` in a vrrp_script, vrrp_track_file or vrrp_track_process block,
    /// read as keepalived 2.2.7 reads it: a value it cannot read is ignored (the weight stays
    /// 0), an unknown word after the number is ignored; a script weight beyond -253..=253 is
    /// used by keepalived as written, which saturates the priority just as ±253 does.
    pub(super) fn weight_value(&mut self, st: &Statement, script: bool) -> Option<(i32, bool)> {
        if !self.no_block(st) {
            return None;
        }
        let args = texts(st.args());
        let (number, reverse) = match args.as_slice() {
            // keepalived 2.2.7 stops at a vrrp_script `weight` without a value.
            [] if script => {
                self.missing_value(st);
                return None;
            }
            [] => {
                // keepalived: "No weight specified for ... - ignoring".
                self.warn(
                    st.loc,
                    "`weight` without a value is ignored, as keepalived ignores it",
                );
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
        let parsed = match (number.parse::<i32>(), leading_number(number)) {
            (Ok(w), _) => Ok(w),
            (Err(e), Some(lead)) => {
                let read = lead.parse::<i32>();
                if read.is_ok() {
                    self.read_as_leading_number(st.loc, "`weight`", number, lead);
                }
                read.map_err(|_| e)
            }
            (Err(e), None) => Err(e),
        };
        match parsed {
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
    pub(super) fn track_process(&mut self, st: &Statement) {
        let mut spec = ProcessCheck::named("");
        let Some((mut check, block, at)) = self.check_block(st, CheckKind::Process(spec.clone()))
        else {
            return;
        };
        let name = check.name.clone();
        let mut process: Option<(String, Vec<String>)> = None;
        let mut param_match = None;
        let mut full_command = false;
        let errors_before = self.errors.len();
        for item in block {
            self.note(format!("{at}.{}", item.keyword()), item.loc);
            match item.keyword() {
                "process" => {
                    if !self.no_block(item) {
                        continue;
                    }
                    match texts(item.args()).split_first() {
                        // keepalived: "Process already set for track process X - ignoring".
                        Some((first, _)) if process.is_some() => self.warn(
                            item.loc,
                            format!(
                                "`process {first}`: the process is already set: ignored, as \
                                 keepalived ignores it"
                            ),
                        ),
                        Some((first, params)) => {
                            process = Some((
                                first.to_string(),
                                params.iter().map(|p| p.to_string()).collect(),
                            ))
                        }
                        // keepalived 2.2.7 stops at it ("missing a parameter").
                        None => self.missing_value(item),
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
                        if v > spec.quorum_max {
                            // keepalived: "Quorum is greater than quorum_max - ignoring".
                            let why = format!("is above quorum_max {}", spec.quorum_max);
                            self.ignored_value(item, &v.to_string(), &why);
                        } else {
                            spec.quorum = v;
                        }
                    }
                }
                "quorum_max" => {
                    if let Some(v) = self.number(item, 0u32, 65_535) {
                        if v != 0 && v < spec.quorum {
                            // keepalived: "quorum_max is less than quorum - ignoring".
                            let why = format!("is below quorum {}", spec.quorum);
                            self.ignored_value(item, &v.to_string(), &why);
                            continue;
                        }
                        spec.quorum_max = v;
                        // keepalived: quorum_max 0 means "must not run".
                        if v == 0 {
                            spec.quorum = 0;
                        }
                    }
                }
                "delay" | "fork_delay" | "terminate_delay" => {
                    let Some(d) =
                        self.seconds_in(item, Duration::from_micros(1), Duration::from_secs(3600))
                    else {
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

    pub(super) fn track_file(&mut self, st: &Statement) {
        let file = CheckKind::File {
            path: PathBuf::new(),
        };
        let Some((mut check, block, at)) = self.check_block(st, file) else {
            return;
        };
        let name = check.name.clone();
        let mut path = None;
        check.weight = 1;
        for item in block {
            self.note(format!("{at}.{}", item.keyword()), item.loc);
            match item.keyword() {
                "file" => {
                    if item.args().is_empty() && item.block.is_none() {
                        // keepalived: "track file file name missing".
                        self.warn(
                            item.loc,
                            "`file` without a name is ignored, as keepalived ignores it",
                        );
                    } else if path.is_some() {
                        // keepalived: "File already set for track file X - ignoring".
                        self.warn(
                            item.loc,
                            "`file`: the file is already set: ignored, as keepalived ignores it",
                        );
                    } else if let Some(p) = self.arg(item) {
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
}

/// What kind of check a `track_*` keyword tracks, as [`kind_tag`] names it.
pub(super) fn kind_tag(kind: &CheckKind) -> &'static str {
    match kind {
        CheckKind::Process(_) => "process",
        CheckKind::File { .. } => "file",
        _ => "script",
    }
}

/// The track keyword of a kind of check.
fn track_keyword(tag: &str) -> &'static str {
    match tag {
        "process" => "track_process",
        "file" => "track_file",
        _ => "track_script",
    }
}
