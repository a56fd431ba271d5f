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
    Notify, NotifyFifo, NotifyScript, ParamMatch, PeerTtl, ProcessCheck, ProcessMatch, ReadOptions,
    Route, Rule, SyncGroup, TrackCheck, TrackInterface, Vip,
};
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

mod values;
use tracking::Tracking;
use values::{leading_number, texts};
mod addresses;
mod checks;
mod global;
mod instance;
mod notify;
mod sync_group;
#[cfg(test)]
mod tests;
mod tracking;

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
        renamed: HashMap::new(),
        pid_dir: super::PidDir::default(),
        tracking_weight_groups: Vec::new(),
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
    reader.sync_group_member_weights();
    reader.sync_group_initial_states();
    reader.fifos_without_path();
    let Reader {
        mut cfg,
        locations,
        mut errors,
        mut warnings,
        vmac_prefix,
        vmac_addr_prefix,
        pid_dir,
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
    for problem in drop_ignored_passwords(&mut cfg) {
        let located = locate(&source, &locations, &problem);
        warnings.push(ConfigWarning {
            file: located.file,
            line: located.line,
            message: located.message,
        });
    }
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
        pid_dir,
    })
}

/// keepalived 2.2.7 ignores `authentication` in strict mode ("Strict mode does not support
/// authentication. Ignoring.") and in VRRPv3 ("VRRP version 3 does not support
/// authentication. Ignoring."), with the instance otherwise unchanged; reading the same file
/// the same way keeps a mixed keepalived/vipd segment talking. Returns a warning (at the
/// `authentication` block) for each instance whose password is dropped.
fn drop_ignored_passwords(cfg: &mut Config) -> Vec<validate::Problem> {
    let global = cfg.global.clone();
    let mut dropped = Vec::new();
    for (i, inst) in cfg.instances.iter_mut().enumerate() {
        if inst.auth_pass.is_none() {
            continue;
        }
        // keepalived checks strict mode first and then says nothing about the version.
        let why = if inst.strict(&global) {
            "strict mode does not support authentication (keepalived: \"Strict mode does not \
             support authentication. Ignoring.\")"
        } else if inst.version(&global) == 3 {
            "VRRPv3 does not support authentication (keepalived: \"VRRP version 3 does not \
             support authentication. Ignoring.\")"
        } else {
            continue;
        };
        inst.auth_pass = None;
        inst.auth_type = super::AuthType::Pass;
        dropped.push(validate::Problem {
            path: format!("instance[{i}].auth_pass"),
            message: format!(
                "instance `{}`: {why}: the block is ignored, no password is sent or checked",
                inst.name
            ),
        });
    }
    dropped
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
    /// keepalived `instance`, `use_pid_dir`.
    pid_dir: super::PidDir,
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
    /// (kind of check, name written) -> the name vipd gives it, for a check whose name a
    /// check of another kind already has (keepalived keeps scripts, processes and files
    /// apart by kind; vipd's checks share one name space).
    renamed: HashMap<(&'static str, String), String>,
    /// Sync groups written with `sync_group_tracking_weight` (keepalived then keeps the
    /// members' tracking weights).
    tracking_weight_groups: Vec<String>,
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

    /// A keyword of `block` the reader has no code for: keepalived keywords are accepted
    /// with a warning or refused as [`keywords::classify`] says; anything else is
    /// keepalived's "Unknown keyword", a warning. Neither takes a `{ }` block (the lexer
    /// skips a `{` after it, as keepalived does).
    fn other(&mut self, block: Block, st: &Statement) {
        let keyword = st.keyword();
        match keywords::classify(block, keyword) {
            Some(Class::Ignored(_))
                if st.args().is_empty() && keywords::needs_value(block, keyword) =>
            {
                self.missing_value(st);
            }
            Some(Class::Ignored(why)) => {
                self.warn(st.loc, format!("`{keyword}` is ignored: {why}"));
            }
            Some(Class::Refused(why)) => self.error(st.loc, format!("`{keyword}`: {why}")),
            None => {
                let hint = match keywords::suggestion(block, keyword) {
                    Some(known) => format!(" (did you mean `{known}`?)"),
                    None => String::new(),
                };
                self.warn(
                    st.loc,
                    format!(
                        "unknown keyword `{keyword}`{hint}, ignored (keepalived: \"Unknown \
                         keyword\")"
                    ),
                );
            }
        }
    }

    /// A keyword written without the value keepalived 2.2.7 needs: keepalived stops there
    /// ("missing a parameter", then "exited with permanent error CONFIG"), and so does vipd.
    fn missing_value(&mut self, st: &Statement) {
        self.error(
            st.loc,
            format!(
                "`{}` needs a value (keepalived 2.2.7 does not start with this line either: \
                 \"missing a parameter\")",
                st.keyword()
            ),
        );
    }

    /// [`Self::warn`] at `loc`, or naming only the main file when the line is unknown.
    fn warn_at(&mut self, loc: Option<Loc>, message: String) {
        match loc {
            Some(loc) => self.warn(loc, message),
            None => self.warnings.push(ConfigWarning {
                file: self.source.files.first().cloned().unwrap_or_default(),
                line: None,
                message,
            }),
        }
    }

    /// Keeps the entries of the list at `field` (entry `j` located at `field[j]`) that
    /// `verdict` accepts (`None`); returns them with the reasons the others were dropped, at
    /// the line of each. The locations of the kept entries move down to their new index.
    fn retain_located<T>(
        &mut self,
        field: &str,
        list: Vec<T>,
        mut verdict: impl FnMut(&Self, usize, &T, &[T]) -> Option<String>,
    ) -> (Vec<T>, Vec<(Option<Loc>, String)>) {
        let mut kept = Vec::new();
        let mut dropped = Vec::new();
        let mut moved = Vec::new();
        for (j, entry) in list.into_iter().enumerate() {
            let loc = self.locations.remove(&format!("{field}[{j}]"));
            match verdict(self, j, &entry, &kept) {
                Some(message) => dropped.push((loc, message)),
                None => {
                    if let Some(loc) = loc {
                        moved.push((format!("{field}[{}]", kept.len()), loc));
                    }
                    kept.push(entry);
                }
            }
        }
        self.locations.extend(moved);
        (kept, dropped)
    }

    fn note(&mut self, path: String, loc: Loc) {
        self.locations.entry(path).or_insert(loc);
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
            // Where keepalived (and `vipd keepalived`) puts its pid files.
            "instance" => match st.args() {
                [] => self.warn(
                    st.loc,
                    "`instance` without a name is ignored, as keepalived ignores it".to_string(),
                ),
                [name, ..] if name.text.contains('/') => {
                    let name = name.text.clone();
                    self.warn(
                        st.loc,
                        format!(
                            "`instance {name}`: a `/` in the name makes the pid files' names \
                             directories that do not exist (the start fails, as keepalived's \
                             does, unless -p and -r name the files)"
                        ),
                    );
                    self.pid_dir.instance = Some(name);
                }
                [name, ..] => self.pid_dir.instance = Some(name.text.clone()),
            },
            "use_pid_dir" => {
                if !st.args().is_empty() {
                    self.warn(
                        st.loc,
                        "`use_pid_dir` takes no value: keepalived 2.2.7 (and vipd) put the pid \
                         files in /run/keepalived/ whatever follows"
                            .to_string(),
                    );
                }
                self.pid_dir.use_pid_dir = true;
            }
            _ => self.other(Block::TopLevel, st),
        }
    }
}
