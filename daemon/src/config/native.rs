//! vipd's native TOML format: reading (with the line of any syntax or type error) and
//! writing ([`to_toml`], the output of `vipd import-keepalived`).

use super::error::{ConfigError, ConfigErrors, ConfigWarning};
use super::{
    duration, validate, Check, CheckKind, Config, HttpUrl, Instance, Loaded, Notify, NotifyFifo,
    NotifyScript, ParamMatch, ProcessCheck, ProcessMatch,
};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Parses and validates a native TOML configuration read from `path`.
pub fn parse_native(text: &str, path: &Path) -> Result<Config, ConfigErrors> {
    let mut cfg: Config = toml::from_str(text).map_err(|e| ConfigError {
        file: path.to_path_buf(),
        line: e.span().map(|span| line_of(text, span.start)),
        message: readable_message(text, e.span(), e.message()),
        missing_file: false,
    })?;
    super::vmac::resolve_names(
        &mut cfg,
        super::vmac::DEFAULT_PREFIX,
        super::vmac::DEFAULT_PREFIX,
    );
    let problems = validate::problems(&cfg);
    if problems.is_empty() {
        return Ok(cfg);
    }
    let lines = FieldLines::new(text);
    Err(ConfigErrors(
        problems
            .into_iter()
            .map(|p| ConfigError {
                line: lines.line(&p.path),
                ..ConfigError::in_file(path, format!("field `{}`: {}", p.path, p.message))
            })
            .collect(),
    ))
}

/// [`parse_native`] with the semantic warnings (`FILE:LINE: warning: field `path`:
/// message`, the line where the field is written, or its table when it is left out).
pub fn read_native(text: &str, path: &Path) -> Result<Loaded, ConfigErrors> {
    let config = parse_native(text, path)?;
    let lines = FieldLines::new(text);
    let warnings = validate::warning_problems(&config)
        .into_iter()
        .map(|p| {
            if p.path.is_empty() {
                ConfigWarning::in_file(path, p.message)
            } else {
                ConfigWarning {
                    line: lines.line(&p.path),
                    ..ConfigWarning::in_file(path, format!("field `{}`: {}", p.path, p.message))
                }
            }
        })
        .collect();
    Ok(Loaded {
        config,
        warnings,
        locations: Default::default(),
        pid_dir: Default::default(),
    })
}

/// The TOML reader's message for a value, led by the key it was written for (`priority`:
/// ...) and with Rust's integer type names said as ranges.
fn readable_message(text: &str, span: Option<std::ops::Range<usize>>, message: &str) -> String {
    let mut message = message.trim().to_string();
    for (rust, range) in [
        ("u8", "an integer in 0..=255"),
        ("u16", "an integer in 0..=65535"),
        ("u32", "an integer in 0..=4294967295"),
        ("u64", "a non-negative integer"),
        ("i8", "an integer in -128..=127"),
        ("i16", "an integer in -32768..=32767"),
        ("i32", "an integer"),
        ("i64", "an integer"),
    ] {
        if let Some(head) = message.strip_suffix(&format!("expected {rust}")) {
            message = format!("{head}expected {range}");
            break;
        }
    }
    // The key is the last `KEY =` before the value on its line (also inside an inline table).
    let key = span
        .and_then(|span| {
            let before = text.get(..span.start)?;
            let line = &before[before.rfind('\n').map_or(0, |at| at + 1)..];
            let (left, _) = line.rsplit_once('=')?;
            let key = left.trim_end().rsplit([' ', '\t', '{', ',', '[']).next()?;
            Some(key.to_string())
        })
        .filter(|key| {
            !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        });
    match key {
        Some(key) => format!("`{key}`: {message}"),
        None => message,
    }
}

/// Where each field of a native file is written: the TOML read again with its spans, but
/// only once a problem asks for a line (a file without warnings is read once).
struct FieldLines<'a> {
    text: &'a str,
    root: std::cell::OnceCell<Option<toml::Spanned<toml::de::DeTable<'a>>>>,
}

#[cfg(test)]
thread_local! {
    /// How often this thread read a file again for its spans (tests count the re-reads).
    static SPAN_PARSES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

impl<'a> FieldLines<'a> {
    fn new(text: &'a str) -> Self {
        FieldLines {
            text,
            root: std::cell::OnceCell::new(),
        }
    }

    fn root(&self) -> Option<&toml::Spanned<toml::de::DeTable<'a>>> {
        self.root
            .get_or_init(|| {
                #[cfg(test)]
                SPAN_PARSES.with(|n| n.set(n.get() + 1));
                toml::de::DeTable::parse(self.text).ok()
            })
            .as_ref()
    }

    /// The line of a problem's field path (`instance[0].vips[1]`, `global.garp.master_delay`,
    /// `instance[2].vip_vmacs.eth1`): of the deepest part of it the file writes, so a field
    /// left at its default points at its table (`[[instance]]`); `None` when not even the
    /// first part is written.
    fn line(&self, path: &str) -> Option<usize> {
        let root = self.root()?.get_ref();
        let mut found: Option<&toml::Spanned<toml::de::DeValue<'a>>> = None;
        for segment in path.split('.') {
            let (key, indexes) = match segment.find('[') {
                Some(at) => (&segment[..at], &segment[at..]),
                None => (segment, ""),
            };
            let value = match found {
                None => root.get(key),
                Some(parent) => parent.get_ref().get(key),
            };
            let Some(mut value) = value else { break };
            found = Some(value);
            for index in indexes.split(['[', ']']).filter(|s| !s.is_empty()) {
                let Some(item) = index
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| value.get_ref().get(i))
                else {
                    break;
                };
                value = item;
                found = Some(value);
            }
        }
        found.map(|value| line_of(self.text, value.span().start))
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// A `[[check]]` table as written: one flat table whose `kind` says which keys apply.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckTable {
    name: String,
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    url: Option<HttpUrl>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expected_status: Option<Vec<StatusItem>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    insecure_skip_verify: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    host_header: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    path: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    interface: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    process: Option<String>,
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    match_by: Option<ProcessMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    args: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    param_match: Option<ParamMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    quorum: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    quorum_max: Option<u32>,
    #[serde(
        default,
        with = "duration::serde_text_opt",
        skip_serializing_if = "Option::is_none"
    )]
    fork_delay: Option<Duration>,
    #[serde(
        default,
        with = "duration::serde_text_opt",
        skip_serializing_if = "Option::is_none"
    )]
    terminate_delay: Option<Duration>,
    #[serde(default = "one_second", with = "duration::serde_text")]
    interval: Duration,
    #[serde(
        default,
        with = "duration::serde_text_opt",
        skip_serializing_if = "Option::is_none"
    )]
    timeout: Option<Duration>,
    #[serde(default = "one")]
    rise: u32,
    #[serde(default = "one")]
    fall: u32,
    #[serde(default)]
    weight: i32,
    #[serde(default)]
    init_fail: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    reverse: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One entry of `expected_status`: a code, or an inclusive range written `"200-399"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum StatusItem {
    Code(u16),
    Range(String),
}

fn expand_statuses(items: Vec<StatusItem>) -> Result<Vec<u16>, String> {
    let mut out = Vec::new();
    for item in items {
        match item {
            StatusItem::Code(c) => out.push(c),
            StatusItem::Range(text) => {
                let bad = || {
                    format!("expected_status `{text}` is not a code or a range like \"200-399\"")
                };
                let (a, b) = text.split_once('-').ok_or_else(bad)?;
                let a: u16 = a.trim().parse().map_err(|_| bad())?;
                let b: u16 = b.trim().parse().map_err(|_| bad())?;
                if a > b || b > 999 {
                    return Err(bad());
                }
                out.extend(a..=b);
            }
        }
    }
    Ok(out)
}

/// Codes as written back: runs of three or more consecutive codes become ranges.
fn compress_statuses(codes: &[u16]) -> Vec<StatusItem> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < codes.len() {
        let mut j = i;
        while j + 1 < codes.len() && codes[j + 1] == codes[j].wrapping_add(1) {
            j += 1;
        }
        if j - i >= 2 {
            out.push(StatusItem::Range(format!("{}-{}", codes[i], codes[j])));
        } else {
            out.extend(codes[i..=j].iter().map(|c| StatusItem::Code(*c)));
        }
        i = j + 1;
    }
    out
}

fn status_list(codes: &[u16]) -> String {
    let items: Vec<String> = compress_statuses(codes)
        .into_iter()
        .map(|item| match item {
            StatusItem::Code(c) => c.to_string(),
            StatusItem::Range(r) => quote(&r),
        })
        .collect();
    format!("[{}]", items.join(", "))
}

/// How a notification script is written: the command alone, or with its user and group.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum NotifyScriptForm {
    Command(String),
    Full {
        command: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<String>,
    },
}

impl From<NotifyScriptForm> for NotifyScript {
    fn from(form: NotifyScriptForm) -> Self {
        match form {
            NotifyScriptForm::Command(command) => NotifyScript::from(command),
            NotifyScriptForm::Full {
                command,
                user,
                group,
            } => NotifyScript {
                command,
                user,
                group,
            },
        }
    }
}

impl From<NotifyScript> for NotifyScriptForm {
    fn from(s: NotifyScript) -> Self {
        if s.user.is_none() && s.group.is_none() {
            NotifyScriptForm::Command(s.command)
        } else {
            NotifyScriptForm::Full {
                command: s.command,
                user: s.user,
                group: s.group,
            }
        }
    }
}

fn one_second() -> Duration {
    Duration::from_secs(1)
}

fn one() -> u32 {
    1
}

impl TryFrom<CheckTable> for Check {
    type Error = String;

    fn try_from(t: CheckTable) -> Result<Check, String> {
        let name = t.name.clone();
        let kind_name = t.kind.as_str();
        let present: [(&str, bool); 19] = [
            ("command", t.command.is_some()),
            ("user", t.user.is_some()),
            ("group", t.group.is_some()),
            ("host", t.host.is_some()),
            ("port", t.port.is_some()),
            ("url", t.url.is_some()),
            ("expected_status", t.expected_status.is_some()),
            ("insecure_skip_verify", t.insecure_skip_verify.is_some()),
            ("host_header", t.host_header.is_some()),
            ("path", t.path.is_some()),
            ("interface", t.interface.is_some()),
            ("process", t.process.is_some()),
            ("match", t.match_by.is_some()),
            ("args", t.args.is_some()),
            ("param_match", t.param_match.is_some()),
            ("quorum", t.quorum.is_some()),
            ("quorum_max", t.quorum_max.is_some()),
            ("fork_delay", t.fork_delay.is_some()),
            ("terminate_delay", t.terminate_delay.is_some()),
        ];
        let allowed: &[&str] = match kind_name {
            "exec" => &["command", "user", "group"],
            "tcp" => &["host", "port"],
            "http" => &[
                "url",
                "expected_status",
                "insecure_skip_verify",
                "host_header",
            ],
            "file" => &["path"],
            "interface" => &["interface"],
            "process" => &[
                "process",
                "match",
                "args",
                "param_match",
                "quorum",
                "quorum_max",
                "fork_delay",
                "terminate_delay",
            ],
            other => {
                return Err(format!(
                    "check `{name}`: kind `{other}` is not one of exec, tcp, http, file, interface, process"
                ))
            }
        };
        for (key, is_set) in present {
            if is_set && !allowed.contains(&key) {
                return Err(format!(
                    "check `{name}`: `{key}` does not apply to kind = \"{kind_name}\""
                ));
            }
        }
        let missing = |key: &str| format!("check `{name}` of kind \"{kind_name}\" needs `{key}`");
        let kind = match kind_name {
            "exec" => {
                let command = t.command.ok_or_else(|| missing("command"))?;
                match CheckKind::exec(&command).map_err(|e| format!("check `{name}`: {e}"))? {
                    CheckKind::Exec { command, argv, .. } => CheckKind::Exec {
                        command,
                        argv,
                        user: t.user,
                        group: t.group,
                    },
                    other => other,
                }
            }
            "tcp" => CheckKind::Tcp {
                host: t.host.ok_or_else(|| missing("host"))?,
                port: t.port.ok_or_else(|| missing("port"))?,
            },
            "http" => CheckKind::Http {
                url: t.url.ok_or_else(|| missing("url"))?,
                expected_status: match t.expected_status {
                    Some(items) => {
                        expand_statuses(items).map_err(|e| format!("check `{name}`: {e}"))?
                    }
                    None => vec![200],
                },
                insecure_skip_verify: t.insecure_skip_verify.unwrap_or(false),
                host_header: t.host_header,
            },
            "file" => CheckKind::File {
                path: t.path.ok_or_else(|| missing("path"))?,
            },
            "process" => {
                let match_by = t.match_by.unwrap_or_default();
                let args = t.args.unwrap_or_default();
                if match_by != ProcessMatch::Command && !args.is_empty() {
                    return Err(format!("check `{name}`: `args` needs match = \"command\""));
                }
                if match_by != ProcessMatch::Command && t.param_match.is_some() {
                    return Err(format!(
                        "check `{name}`: `param_match` needs match = \"command\""
                    ));
                }
                let param_match = t.param_match.unwrap_or(if args.is_empty() {
                    ParamMatch::Any
                } else {
                    ParamMatch::Exact
                });
                CheckKind::Process(ProcessCheck {
                    process: t.process.ok_or_else(|| missing("process"))?,
                    match_by,
                    args,
                    param_match,
                    quorum: t.quorum.unwrap_or(1),
                    quorum_max: t.quorum_max.unwrap_or(u32::MAX),
                    fork_delay: t.fork_delay.unwrap_or_default(),
                    terminate_delay: t.terminate_delay.unwrap_or_default(),
                })
            }
            _ => CheckKind::Interface {
                name: t.interface.ok_or_else(|| missing("interface"))?,
            },
        };
        Ok(Check {
            name: t.name,
            kind,
            interval: t.interval,
            timeout: t.timeout,
            rise: t.rise,
            fall: t.fall,
            weight: t.weight,
            init_fail: t.init_fail,
            reverse: t.reverse,
        })
    }
}

impl From<Check> for CheckTable {
    fn from(c: Check) -> CheckTable {
        let mut t = CheckTable {
            name: c.name,
            kind: c.kind.name().to_string(),
            command: None,
            user: None,
            group: None,
            host: None,
            port: None,
            url: None,
            expected_status: None,
            insecure_skip_verify: None,
            host_header: None,
            path: None,
            interface: None,
            process: None,
            match_by: None,
            args: None,
            param_match: None,
            quorum: None,
            quorum_max: None,
            fork_delay: None,
            terminate_delay: None,
            interval: c.interval,
            timeout: c.timeout,
            rise: c.rise,
            fall: c.fall,
            weight: c.weight,
            init_fail: c.init_fail,
            reverse: c.reverse,
        };
        match c.kind {
            CheckKind::Exec {
                command,
                user,
                group,
                ..
            } => {
                t.command = Some(command);
                t.user = user;
                t.group = group;
            }
            CheckKind::Tcp { host, port } => {
                t.host = Some(host);
                t.port = Some(port);
            }
            CheckKind::Http {
                url,
                expected_status,
                insecure_skip_verify,
                host_header,
            } => {
                t.url = Some(url);
                t.expected_status = Some(compress_statuses(&expected_status));
                t.insecure_skip_verify = Some(insecure_skip_verify);
                t.host_header = host_header;
            }
            CheckKind::File { path } => t.path = Some(path),
            CheckKind::Interface { name } => t.interface = Some(name),
            CheckKind::Process(p) => {
                t.process = Some(p.process);
                t.match_by = (p.match_by != ProcessMatch::Name).then_some(p.match_by);
                let default_match = if p.args.is_empty() {
                    ParamMatch::Any
                } else {
                    ParamMatch::Exact
                };
                t.param_match = (p.param_match != default_match).then_some(p.param_match);
                t.args = (!p.args.is_empty()).then_some(p.args);
                t.quorum = (p.quorum != 1).then_some(p.quorum);
                t.quorum_max = (p.quorum_max != u32::MAX).then_some(p.quorum_max);
                t.fork_delay = (!p.fork_delay.is_zero()).then_some(p.fork_delay);
                t.terminate_delay = (!p.terminate_delay.is_zero()).then_some(p.terminate_delay);
            }
        }
        t
    }
}

/// A TOML string literal.
fn quote(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

fn quote_list<T: ToString>(items: &[T]) -> String {
    let items: Vec<String> = items.iter().map(|i| quote(&i.to_string())).collect();
    format!("[{}]", items.join(", "))
}

fn dur(d: Duration) -> String {
    quote(&duration::format(d))
}

/// Writes `cfg` as a native TOML file: defaults left out, one table per instance and check.
/// `parse_native(&to_toml(cfg), ..)` gives back `cfg`.
pub fn to_toml(cfg: &Config) -> String {
    let mut out = String::new();
    let _ = write_config(&mut out, cfg);
    out
}

fn write_config(out: &mut String, cfg: &Config) -> std::fmt::Result {
    let g = &cfg.global;
    let d = super::Global::default();
    writeln!(
        out,
        "# vipd configuration; every key is described in vipd's REFERENCE.md"
    )?;
    let mut global = String::new();
    if let Some(id) = &g.router_id {
        writeln!(global, "router_id = {}", quote(id))?;
    }
    if g.vrrp_version != d.vrrp_version {
        writeln!(global, "vrrp_version = {}", g.vrrp_version)?;
    }
    if let Some(user) = &g.script_user {
        writeln!(global, "script_user = {}", quote(user))?;
    }
    if let Some(group) = &g.script_group {
        writeln!(global, "script_group = {}", quote(group))?;
    }
    if g.enable_script_security {
        writeln!(global, "enable_script_security = true")?;
    }
    if g.v3_checksum != d.v3_checksum {
        writeln!(global, "v3_checksum = \"no-pseudo-header\"")?;
    }
    if g.strict {
        writeln!(global, "strict = true")?;
    }
    if g.skip_check_adv_addr {
        writeln!(global, "skip_check_adv_addr = true")?;
    }
    if let Some(p) = g.max_auto_priority {
        writeln!(global, "max_auto_priority = {p}")?;
    }
    if !g.startup_delay.is_zero() {
        writeln!(global, "startup_delay = {}", dur(g.startup_delay))?;
    }
    if let Some(group) = g.mcast_group4 {
        writeln!(global, "mcast_group4 = {}", quote(&group.to_string()))?;
    }
    if let Some(group) = g.mcast_group6 {
        writeln!(global, "mcast_group6 = {}", quote(&group.to_string()))?;
    }
    if g.lower_prio_no_advert {
        writeln!(global, "lower_prio_no_advert = true")?;
    }
    if g.higher_prio_send_advert != d.higher_prio_send_advert {
        writeln!(
            global,
            "higher_prio_send_advert = {}",
            g.higher_prio_send_advert
        )?;
    }
    if g.down_timer_adverts != d.down_timer_adverts {
        writeln!(global, "down_timer_adverts = {}", g.down_timer_adverts)?;
    }
    if let Some(name) = &g.net_namespace {
        writeln!(global, "net_namespace = {}", quote(name))?;
    }
    let mut garp = String::new();
    let dg = &d.garp;
    if g.garp.master_delay != dg.master_delay {
        writeln!(garp, "master_delay = {}", dur(g.garp.master_delay))?;
    }
    if g.garp.master_repeat != dg.master_repeat {
        writeln!(garp, "master_repeat = {}", g.garp.master_repeat)?;
    }
    if let Some(refresh) = g.garp.master_refresh {
        writeln!(garp, "master_refresh = {}", dur(refresh))?;
    }
    if g.garp.master_refresh_repeat != dg.master_refresh_repeat {
        writeln!(
            garp,
            "master_refresh_repeat = {}",
            g.garp.master_refresh_repeat
        )?;
    }
    if g.garp.interval != dg.interval {
        writeln!(garp, "interval = {}", dur(g.garp.interval))?;
    }
    if g.garp.na_interval != dg.na_interval {
        writeln!(garp, "na_interval = {}", dur(g.garp.na_interval))?;
    }
    if let Some(v) = g.garp.lower_prio_repeat {
        writeln!(garp, "lower_prio_repeat = {v}")?;
    }
    if let Some(v) = g.garp.lower_prio_delay {
        writeln!(garp, "lower_prio_delay = {}", dur(v))?;
    }
    if g.notify_priority_changes {
        writeln!(global, "notify_priority_changes = true")?;
    }
    if g.fifo_write_states_on_reload {
        writeln!(global, "fifo_write_states_on_reload = true")?;
    }
    if !global.is_empty() {
        write!(out, "\n[global]\n{global}")?;
    }
    if !garp.is_empty() {
        write!(out, "\n[global.garp]\n{garp}")?;
    }
    for (table, fifo) in [
        ("notify_fifo", &g.notify_fifo),
        ("vrrp_notify_fifo", &g.vrrp_notify_fifo),
    ] {
        if let Some(fifo) = fifo {
            write_notify_fifo(out, table, fifo)?;
        }
    }
    let statics = &cfg.statics;
    if !statics.is_empty() {
        writeln!(out, "\n[static]")?;
        write_list(out, "addresses", &statics.addresses)?;
        write_list(out, "routes", &statics.routes)?;
        write_list(out, "rules", &statics.rules)?;
    }
    for inst in &cfg.instances {
        write_instance(out, inst)?;
    }
    for check in &cfg.checks {
        write_check(out, check)?;
    }
    for group in &cfg.garp_groups {
        writeln!(out, "\n[[garp_group]]")?;
        writeln!(out, "interfaces = {}", quote_list(&group.interfaces))?;
        if !group.interval.is_zero() {
            writeln!(out, "interval = {}", dur(group.interval))?;
        }
        if !group.na_interval.is_zero() {
            writeln!(out, "na_interval = {}", dur(group.na_interval))?;
        }
    }
    for group in &cfg.sync_groups {
        write!(
            out,
            "\n[[sync_group]]\nname = {}\ninstances = {}\n",
            quote(&group.name),
            quote_list(&group.instances)
        )?;
        if !group.track_checks.is_empty() {
            writeln!(out, "track_checks = {}", tracks(&group.track_checks))?;
        }
        if !group.track_files.is_empty() {
            writeln!(out, "track_files = {}", tracks(&group.track_files))?;
        }
        if !group.track_interfaces.is_empty() {
            writeln!(
                out,
                "track_interfaces = {}",
                interface_tracks(&group.track_interfaces)
            )?;
        }
        write_notify(out, "sync_group", &group.notify)?;
    }
    Ok(())
}

fn write_instance(out: &mut String, inst: &Instance) -> std::fmt::Result {
    writeln!(out, "\n[[instance]]")?;
    writeln!(out, "name = {}", quote(&inst.name))?;
    writeln!(out, "interface = {}", quote(&inst.interface))?;
    writeln!(out, "vrid = {}", inst.vrid)?;
    writeln!(out, "priority = {}", inst.priority)?;
    if inst.initial_state == super::InitialState::Master {
        writeln!(out, "initial_state = \"master\"")?;
    }
    writeln!(out, "advert_interval = {}", dur(inst.advert_interval))?;
    if let Some(v) = inst.version {
        writeln!(out, "version = {v}")?;
    }
    if !inst.preempt {
        writeln!(out, "preempt = false")?;
    }
    if !inst.preempt_delay.is_zero() {
        writeln!(out, "preempt_delay = {}", dur(inst.preempt_delay))?;
    }
    if let Some(pass) = &inst.auth_pass {
        writeln!(out, "auth_pass = {}", quote(pass))?;
    }
    if inst.auth_type == super::AuthType::Ah {
        writeln!(out, "auth_type = \"ah\"")?;
    }
    if let Some(checksum) = inst.v3_checksum {
        let text = match checksum {
            super::V3Checksum::PseudoHeader => "pseudo-header",
            super::V3Checksum::NoPseudoHeader => "no-pseudo-header",
        };
        writeln!(out, "v3_checksum = \"{text}\"")?;
    }
    match inst.vips.as_slice() {
        [] => writeln!(out, "vips = []")?,
        [one] => writeln!(out, "vips = [{}]", quote(&one.to_string()))?,
        many => {
            writeln!(out, "vips = [")?;
            for vip in many {
                writeln!(out, "  {},", quote(&vip.to_string()))?;
            }
            writeln!(out, "]")?;
        }
    }
    if !inst.excluded_vips.is_empty() {
        writeln!(out, "excluded_vips = [")?;
        for vip in &inst.excluded_vips {
            writeln!(out, "  {},", quote(&vip.to_string()))?;
        }
        writeln!(out, "]")?;
    }
    write_list(out, "routes", &inst.routes)?;
    write_list(out, "rules", &inst.rules)?;
    if inst.unicast_fault_no_peer {
        writeln!(out, "unicast_fault_no_peer = true")?;
    }
    if let Some(group) = inst.mcast_group {
        writeln!(out, "mcast_group = {}", quote(&group.to_string()))?;
    }
    if let Some(n) = inst.down_timer_adverts {
        writeln!(out, "down_timer_adverts = {n}")?;
    }
    if let Some(on) = inst.lower_prio_no_advert {
        writeln!(out, "lower_prio_no_advert = {on}")?;
    }
    if let Some(on) = inst.higher_prio_send_advert {
        writeln!(out, "higher_prio_send_advert = {on}")?;
    }
    if let Some(vmac) = &inst.vmac {
        let mut fields = vec![format!("interface = {}", quote(&vmac.interface))];
        if vmac.xmit_base {
            fields.push("xmit_base = true".to_string());
        }
        if let Some(mac) = vmac.mac {
            fields.push(format!("mac = {}", quote(&mac.to_string())));
        }
        writeln!(out, "vmac = {{ {} }}", fields.join(", "))?;
    }
    if inst.vmac_addr {
        writeln!(out, "vmac_addr = true")?;
    }
    if !inst.vip_vmacs.is_empty() {
        let fields: Vec<String> = (inst.vip_vmacs.iter())
            .map(|(parent, name)| format!("{} = {}", quote(parent), quote(name)))
            .collect();
        writeln!(out, "vip_vmacs = {{ {} }}", fields.join(", "))?;
    }
    if let Some(ipvlan) = &inst.ipvlan {
        let mut fields = vec![format!("interface = {}", quote(&ipvlan.interface))];
        if let Some(address) = ipvlan.address {
            fields.push(format!("address = {}", quote(&address.to_string())));
        }
        fields.push(format!("mode = {}", quote(ipvlan.mode.as_str())));
        writeln!(out, "ipvlan = {{ {} }}", fields.join(", "))?;
    }
    if let Some(src) = inst.source_address {
        writeln!(out, "source_address = {}", quote(&src.to_string()))?;
    }
    if !inst.unicast_peers.is_empty() {
        writeln!(out, "unicast_peers = {}", quote_list(&inst.unicast_peers))?;
    }
    if !inst.check_unicast_src {
        writeln!(out, "check_unicast_src = false")?;
    }
    if let Some(ttl) = inst.unicast_ttl {
        writeln!(out, "unicast_ttl = {ttl}")?;
    }
    if !inst.unicast_peer_ttl.is_empty() {
        let items: Vec<String> = inst
            .unicast_peer_ttl
            .iter()
            .map(|p| {
                format!(
                    "{{ peer = {}, min_ttl = {}, max_ttl = {} }}",
                    quote(&p.peer.to_string()),
                    p.min_ttl,
                    p.max_ttl
                )
            })
            .collect();
        writeln!(out, "unicast_peer_ttl = [{}]", items.join(", "))?;
    }
    if !inst.track_checks.is_empty() {
        writeln!(out, "track_checks = {}", tracks(&inst.track_checks))?;
    }
    if !inst.track_files.is_empty() {
        writeln!(out, "track_files = {}", tracks(&inst.track_files))?;
    }
    if !inst.track_interfaces.is_empty() {
        writeln!(
            out,
            "track_interfaces = {}",
            interface_tracks(&inst.track_interfaces)
        )?;
    }
    if inst.dont_track_primary {
        writeln!(out, "dont_track_primary = true")?;
    }
    if inst.promote_secondaries {
        writeln!(out, "promote_secondaries = true")?;
    }
    if inst.track_source_address {
        writeln!(out, "track_source_address = true")?;
    }
    if let Some(strict) = inst.strict {
        writeln!(out, "strict = {strict}")?;
    }
    write_notify(out, "instance", &inst.notify)?;
    let garp = &inst.garp;
    if !garp.is_empty() {
        writeln!(out, "\n[instance.garp]")?;
        if let Some(v) = garp.master_delay {
            writeln!(out, "master_delay = {}", dur(v))?;
        }
        if let Some(v) = garp.master_repeat {
            writeln!(out, "master_repeat = {v}")?;
        }
        if let Some(v) = garp.master_refresh {
            writeln!(out, "master_refresh = {}", dur(v))?;
        }
        if let Some(v) = garp.master_refresh_repeat {
            writeln!(out, "master_refresh_repeat = {v}")?;
        }
        if let Some(v) = garp.lower_prio_repeat {
            writeln!(out, "lower_prio_repeat = {v}")?;
        }
        if let Some(v) = garp.lower_prio_delay {
            writeln!(out, "lower_prio_delay = {}", dur(v))?;
        }
    }
    for forward in &inst.forwards {
        writeln!(out, "\n[[instance.forward]]")?;
        writeln!(
            out,
            "from = {}",
            quote(&format!("{}/{}", forward.from, forward.protocol.as_str()))
        )?;
        writeln!(out, "to = {}", quote(&forward.to.to_string()))?;
        if forward.masquerade {
            writeln!(out, "masquerade = true")?;
        }
    }
    Ok(())
}

/// `key = [ "...", ... ]` of values written as their text, one per line; nothing when empty.
fn write_list<T: ToString>(out: &mut String, key: &str, items: &[T]) -> std::fmt::Result {
    if items.is_empty() {
        return Ok(());
    }
    writeln!(out, "{key} = [")?;
    for item in items {
        writeln!(out, "  {},", quote(&item.to_string()))?;
    }
    writeln!(out, "]")
}

fn tracks(list: &[super::TrackCheck]) -> String {
    let items: Vec<String> = list
        .iter()
        .map(|t| {
            let mut item = format!("check = {}", quote(&t.check));
            if let Some(w) = t.weight {
                item.push_str(&format!(", weight = {w}"));
            }
            if let Some(r) = t.reverse {
                item.push_str(&format!(", reverse = {r}"));
            }
            format!("{{ {item} }}")
        })
        .collect();
    format!("[{}]", items.join(", "))
}

fn interface_tracks(list: &[super::TrackInterface]) -> String {
    let items: Vec<String> = list
        .iter()
        .map(|t| {
            let reverse = if t.reverse { ", reverse = true" } else { "" };
            format!(
                "{{ name = {}, weight = {}{reverse} }}",
                quote(&t.name),
                t.weight
            )
        })
        .collect();
    format!("[{}]", items.join(", "))
}

fn write_notify_fifo(out: &mut String, table: &str, fifo: &NotifyFifo) -> std::fmt::Result {
    writeln!(out, "\n[global.{table}]")?;
    writeln!(out, "path = {}", quote(&fifo.path))?;
    if let Some(owner) = &fifo.owner {
        writeln!(out, "owner = {}", quote(owner))?;
    }
    if let Some(group) = &fifo.group {
        writeln!(out, "group = {}", quote(group))?;
    }
    if let Some(script) = &fifo.script {
        write_script(out, "script", script)?;
    }
    Ok(())
}

fn write_script(out: &mut String, key: &str, script: &NotifyScript) -> std::fmt::Result {
    if script.user.is_none() && script.group.is_none() {
        return writeln!(out, "{key} = {}", quote(&script.command));
    }
    let mut item = format!("command = {}", quote(&script.command));
    if let Some(user) = &script.user {
        item.push_str(&format!(", user = {}", quote(user)));
    }
    if let Some(group) = &script.group {
        item.push_str(&format!(", group = {}", quote(group)));
    }
    writeln!(out, "{key} = {{ {item} }}")
}

fn write_notify(out: &mut String, table: &str, notify: &Notify) -> std::fmt::Result {
    if notify.is_empty() {
        return Ok(());
    }
    writeln!(out, "\n[{table}.notify]")?;
    if let Some(on) = notify.priority_changes {
        writeln!(out, "priority_changes = {on}")?;
    }
    for (key, value) in [
        ("master", &notify.master),
        ("backup", &notify.backup),
        ("fault", &notify.fault),
        ("stop", &notify.stop),
        ("any", &notify.any),
        ("deleted_script", &notify.deleted_script),
        ("master_rx_lower_pri", &notify.master_rx_lower_pri),
    ] {
        if let Some(script) = value {
            write_script(out, key, script)?;
        }
    }
    if notify.deleted {
        writeln!(out, "deleted = true")?;
    }
    Ok(())
}

fn write_check(out: &mut String, check: &Check) -> std::fmt::Result {
    writeln!(out, "\n[[check]]")?;
    writeln!(out, "name = {}", quote(&check.name))?;
    writeln!(out, "kind = \"{}\"", check.kind.name())?;
    match &check.kind {
        CheckKind::Exec {
            command,
            user,
            group,
            ..
        } => {
            writeln!(out, "command = {}", quote(command))?;
            if let Some(user) = user {
                writeln!(out, "user = {}", quote(user))?;
            }
            if let Some(group) = group {
                writeln!(out, "group = {}", quote(group))?;
            }
        }
        CheckKind::Tcp { host, port } => {
            writeln!(out, "host = {}\nport = {port}", quote(host))?;
        }
        CheckKind::Http {
            url,
            expected_status,
            insecure_skip_verify,
            host_header,
        } => {
            writeln!(out, "url = {}", quote(&url.to_string()))?;
            writeln!(out, "expected_status = {}", status_list(expected_status))?;
            if *insecure_skip_verify {
                writeln!(out, "insecure_skip_verify = true")?;
            }
            if let Some(host) = host_header {
                writeln!(out, "host_header = {}", quote(host))?;
            }
        }
        CheckKind::File { path } => {
            writeln!(out, "path = {}", quote(&path.to_string_lossy()))?;
        }
        CheckKind::Interface { name } => writeln!(out, "interface = {}", quote(name))?,
        CheckKind::Process(p) => {
            writeln!(out, "process = {}", quote(&p.process))?;
            let t = CheckTable::from(check.clone());
            if let Some(m) = t.match_by {
                writeln!(out, "match = {}", toml_enum(&m))?;
            }
            if let Some(args) = &t.args {
                writeln!(out, "args = {}", quote_list(args))?;
            }
            if let Some(m) = t.param_match {
                writeln!(out, "param_match = {}", toml_enum(&m))?;
            }
            if let Some(q) = t.quorum {
                writeln!(out, "quorum = {q}")?;
            }
            if let Some(q) = t.quorum_max {
                writeln!(out, "quorum_max = {q}")?;
            }
            if let Some(d) = t.fork_delay {
                writeln!(out, "fork_delay = {}", dur(d))?;
            }
            if let Some(d) = t.terminate_delay {
                writeln!(out, "terminate_delay = {}", dur(d))?;
            }
        }
    }
    writeln!(out, "interval = {}", dur(check.interval))?;
    if let Some(timeout) = check.timeout {
        writeln!(out, "timeout = {}", dur(timeout))?;
    }
    writeln!(out, "rise = {}\nfall = {}", check.rise, check.fall)?;
    writeln!(out, "weight = {}", check.weight)?;
    if check.init_fail {
        writeln!(out, "init_fail = true")?;
    }
    if check.reverse {
        writeln!(out, "reverse = true")?;
    }
    Ok(())
}

/// A unit enum variant as TOML text (its serde name, quoted).
fn toml_enum<T: Serialize>(value: &T) -> String {
    toml::Value::try_from(value)
        .map(|v| v.to_string())
        .unwrap_or_default()
}

/// `cfg` with every exec check whose command a native check means exactly replaced by that
/// check (see [`translate_check`]): what `vipd import-keepalived` writes.
pub fn translate_checks(cfg: &Config) -> Config {
    let mut out = cfg.clone();
    out.checks = cfg.checks.iter().map(translate_check).collect();
    out
}

/// The native check an exec check means, when its command is a one-liner whose meaning a
/// native check has exactly (`killall -0 haproxy`, `curl -sfk https://127.0.0.1:6443/healthz
/// -o /dev/null`, `nc -z 127.0.0.1 6443`; see `check::oneliner`); otherwise the check as it
/// is.
pub fn translate_check(check: &Check) -> Check {
    use crate::check::oneliner::{self, OneLiner};
    use crate::check::process::Matcher;
    let CheckKind::Exec { argv, .. } = &check.kind else {
        return check.clone();
    };
    let Some(found) = oneliner::recognize(argv) else {
        return check.clone();
    };
    let mut out = check.clone();
    match found {
        OneLiner::Process(matcher) => {
            let (process, match_by) = match matcher {
                Matcher::Name(n) => (n, ProcessMatch::Name),
                Matcher::NameContains(n) => (n, ProcessMatch::NameContains),
                Matcher::Pidof {
                    name,
                    scripts: false,
                } => (name, ProcessMatch::Pidof),
                Matcher::Pidof {
                    name,
                    scripts: true,
                } => (name, ProcessMatch::PidofScripts),
                Matcher::Command { .. } => return check.clone(),
            };
            let mut p = ProcessCheck::named(&process);
            p.match_by = match_by;
            out.kind = CheckKind::Process(p);
        }
        OneLiner::Http {
            url,
            insecure,
            status,
            timeout,
        } => {
            let Ok(url) = HttpUrl::parse(&url) else {
                return check.clone();
            };
            out.kind = CheckKind::Http {
                url,
                expected_status: status.collect(),
                insecure_skip_verify: insecure,
                host_header: None,
            };
            out.timeout = shorter(check.timeout, timeout);
        }
        OneLiner::Tcp {
            host,
            port,
            timeout,
        } => {
            out.kind = CheckKind::Tcp {
                host: host.to_string(),
                port,
            };
            out.timeout = shorter(check.timeout, timeout);
        }
    }
    out
}

/// The tighter of a check's timeout and the one a one-liner carried.
fn shorter(check: Option<Duration>, line: Option<Duration>) -> Option<Duration> {
    match (check, line) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span_parses() -> usize {
        SPAN_PARSES.with(|n| n.get())
    }

    const CLEAN: &str =
        "[[instance]]\nname = \"a\"\ninterface = \"eth0\"\nvrid = 1\nvips = [\"192.0.2.1/24\"]\n";

    #[test]
    fn a_file_without_warnings_is_not_read_again_for_lines() {
        let before = span_parses();
        let loaded = read_native(CLEAN, Path::new("clean.toml")).expect("valid");
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        assert_eq!(
            span_parses(),
            before,
            "spans read for a file with nothing to place"
        );
    }

    #[test]
    fn warnings_and_errors_still_carry_their_lines() {
        // No `vips`: a warning placed on the `[[instance]]` line (4).
        let text = "# two lines of\n# comments first\n\n[[instance]]\nname = \"a\"\ninterface = \"eth0\"\nvrid = 1\n";
        let before = span_parses();
        let loaded = read_native(text, Path::new("w.toml")).expect("valid");
        let shown: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
        assert!(
            shown
                .iter()
                .any(|w| w.starts_with("w.toml:4: warning: field `instance[0]`")),
            "{shown:?}"
        );
        assert_eq!(
            span_parses(),
            before + 1,
            "spans read once for all warnings"
        );

        // A semantic error (priority 0 is refused) names the line it is written on.
        let text = "[[instance]]\nname = \"a\"\ninterface = \"eth0\"\nvrid = 0\nvips = [\"192.0.2.1/24\"]\n";
        let errors = read_native(text, Path::new("e.toml")).expect_err("vrid 0");
        let shown = errors.to_string();
        assert!(shown.contains("e.toml:4: "), "{shown}");
    }
}
