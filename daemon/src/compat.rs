//! keepalived 2.2.7's command line, for units, `/etc/default/keepalived` (`DAEMON_ARGS`),
//! `/etc/sysconfig/keepalived` (`KEEPALIVED_OPTIONS`), CI `keepalived -t -f FILE` and tools
//! that run `keepalived -v` or `keepalived --signum=JSON`: `vipd keepalived [OPTIONS]`, or vipd
//! started through a symlink called `keepalived`.
//!
//! Parsed the way keepalived's getopt_long does (clustered short options `-nlD`, `-fFILE`,
//! `--use-file=FILE` or `--use-file FILE`, unambiguous prefixes `--dont`, optional arguments
//! only attached: `-tLOG`, `--config-test=LOG`), with the same options. Each option either
//! means what it means to keepalived, or is refused when vipd cannot do what it asks (`-C`
//! health checkers only, `-x` SNMP, `-T` genhash), or is accepted and ignored with a note
//! when ignoring it changes nothing that matters. Pure: `main.rs` carries the result out.

use std::path::{Path, PathBuf};

/// keepalived's default configuration file.
pub const DEFAULT_CONFIG: &str = "/etc/keepalived/keepalived.conf";

/// keepalived 2.2.7's exit codes (`KEEPALIVED_EXIT_*`), as vipd's keepalived command line
/// uses them. `-t -e` on a main file that is not there ("Config files missing").
pub const EXIT_CONFIG: u8 = 4;
/// `-t` on a configuration that would not run.
pub const EXIT_CONFIG_TEST: u8 = 5;
/// A file is missing and that stops the configuration: the main file when starting (`-n`
/// or forking, with or without `-e`), or an include that brings in no file under
/// `-e`/`--all-config` (`includea` and its kin), with `-t` too: keepalived stops there.
pub const EXIT_MISSING_FILE: u8 = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Takes {
    Nothing,
    Value,
    /// Only attached (`-tLOG`, `--config-test=LOG`).
    Optional,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meaning {
    UseFile,
    Vrrp,
    Check,
    NoBfd,
    All,
    LogConsole,
    LogDetail,
    LogFacility,
    NoSyslog,
    Umask,
    ReleaseVips,
    DontReleaseVrrp,
    DontReleaseIpvs,
    DontRespawn,
    DontFork,
    DumpConf,
    Pid,
    VrrpPid,
    Genhash,
    CheckersPid,
    AddressMonitoring,
    BfdPid,
    Snmp,
    SnmpAgentSocket,
    Namespace,
    CoreDump,
    CoreDumpPattern,
    AllConfig,
    ConfigId,
    Signum,
    ConfigTest,
    Version,
    Help,
    // vipd's own, long only (keepalived has none of these names).
    Socket,
    StateDir,
    ControlGroup,
    MetricsListen,
}

struct Opt {
    short: Option<char>,
    long: &'static str,
    takes: Takes,
    id: Meaning,
}

const fn opt(short: Option<char>, long: &'static str, takes: Takes, id: Meaning) -> Opt {
    Opt {
        short,
        long,
        takes,
        id,
    }
}

/// keepalived 2.2.7's options as Debian builds it (`keepalived -h`), then vipd's.
const OPTIONS: &[Opt] = &[
    opt(Some('f'), "use-file", Takes::Value, Meaning::UseFile),
    opt(Some('P'), "vrrp", Takes::Nothing, Meaning::Vrrp),
    opt(Some('C'), "check", Takes::Nothing, Meaning::Check),
    opt(Some('B'), "no_bfd", Takes::Nothing, Meaning::NoBfd),
    opt(None, "all", Takes::Nothing, Meaning::All),
    opt(
        Some('l'),
        "log-console",
        Takes::Nothing,
        Meaning::LogConsole,
    ),
    opt(Some('D'), "log-detail", Takes::Nothing, Meaning::LogDetail),
    opt(
        Some('S'),
        "log-facility",
        Takes::Value,
        Meaning::LogFacility,
    ),
    opt(Some('G'), "no-syslog", Takes::Nothing, Meaning::NoSyslog),
    opt(Some('u'), "umask", Takes::Value, Meaning::Umask),
    opt(
        Some('X'),
        "release-vips",
        Takes::Nothing,
        Meaning::ReleaseVips,
    ),
    opt(
        Some('V'),
        "dont-release-vrrp",
        Takes::Nothing,
        Meaning::DontReleaseVrrp,
    ),
    opt(
        Some('I'),
        "dont-release-ipvs",
        Takes::Nothing,
        Meaning::DontReleaseIpvs,
    ),
    opt(
        Some('R'),
        "dont-respawn",
        Takes::Nothing,
        Meaning::DontRespawn,
    ),
    opt(Some('n'), "dont-fork", Takes::Nothing, Meaning::DontFork),
    opt(Some('d'), "dump-conf", Takes::Nothing, Meaning::DumpConf),
    opt(Some('p'), "pid", Takes::Value, Meaning::Pid),
    opt(Some('r'), "vrrp_pid", Takes::Value, Meaning::VrrpPid),
    opt(Some('T'), "genhash", Takes::Nothing, Meaning::Genhash),
    opt(
        Some('c'),
        "checkers_pid",
        Takes::Value,
        Meaning::CheckersPid,
    ),
    opt(
        Some('a'),
        "address-monitoring",
        Takes::Nothing,
        Meaning::AddressMonitoring,
    ),
    opt(Some('b'), "bfd_pid", Takes::Value, Meaning::BfdPid),
    opt(Some('x'), "snmp", Takes::Nothing, Meaning::Snmp),
    opt(
        Some('A'),
        "snmp-agent-socket",
        Takes::Value,
        Meaning::SnmpAgentSocket,
    ),
    opt(Some('s'), "namespace", Takes::Value, Meaning::Namespace),
    opt(Some('m'), "core-dump", Takes::Nothing, Meaning::CoreDump),
    opt(
        Some('M'),
        "core-dump-pattern",
        Takes::Optional,
        Meaning::CoreDumpPattern,
    ),
    opt(Some('e'), "all-config", Takes::Nothing, Meaning::AllConfig),
    opt(Some('i'), "config-id", Takes::Value, Meaning::ConfigId),
    opt(None, "signum", Takes::Value, Meaning::Signum),
    opt(
        Some('t'),
        "config-test",
        Takes::Optional,
        Meaning::ConfigTest,
    ),
    opt(Some('v'), "version", Takes::Nothing, Meaning::Version),
    opt(Some('h'), "help", Takes::Nothing, Meaning::Help),
    opt(None, "socket", Takes::Value, Meaning::Socket),
    opt(None, "state-dir", Takes::Value, Meaning::StateDir),
    opt(None, "control-group", Takes::Value, Meaning::ControlGroup),
    opt(None, "metrics-listen", Takes::Value, Meaning::MetricsListen),
];

/// What a keepalived command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `-v`: the version, to stderr, exit 0.
    Version,
    /// `-h`: the usage, to stderr, exit 0.
    Help,
    /// `--signum=NAME`: the number on stdout, exit 0; None: "Unknown sigfunc", exit 1.
    Signum(String),
    /// `-t[LOG]`: check the configuration (output to LOG, appended, when given).
    Test { log: Option<PathBuf> },
    /// Run the daemon.
    Run,
}

/// A parsed keepalived command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub action: Action,
    pub config: PathBuf,
    pub config_id: Option<String>,
    /// `-e`: an include that brings in no file refuses the configuration
    /// ([`crate::config::ReadOptions::all_config`]).
    pub all_config: bool,
    /// `-p FILE`, `-r FILE`; where they are not given, the configuration says
    /// ([`PidFileOptions::locate`]).
    pub pid_files: PidFileOptions,
    /// `-n`: stay in the foreground; without it vipd forks as keepalived does.
    pub dont_fork: bool,
    /// `-s NAME`: overrides `net_namespace`.
    pub namespace: Option<String>,
    pub socket: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
    pub control_group: Option<String>,
    pub metrics_listen: Option<String>,
    /// Options accepted and ignored, each with why (printed as notes).
    pub notes: Vec<String>,
}

/// keepalived's `-p FILE` (its parent's pid file) and `-r FILE` (its VRRP process's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PidFileOptions {
    pub main: Option<PathBuf>,
    pub vrrp: Option<PathBuf>,
}

/// Where the pid files go, and the directories to make for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PidFileLocations {
    /// Missing ones are made, parents first (keepalived's `/run/keepalived/NAMESPACE`).
    pub dirs: Vec<PathBuf>,
    pub files: Vec<PathBuf>,
}

impl PidFileOptions {
    /// Where keepalived 2.2.7 puts its pid files for a configuration with `net_namespace`
    /// `namespace` (or `-s`) and `instance`, `use_pid_dir` as `pid_dir` says:
    /// `/run/keepalived/NAMESPACE/` with a namespace, else `/run/keepalived/` with `instance`
    /// or `use_pid_dir`, else `/run/`; named `keepalived.pid` and `vrrp.pid`, or
    /// `keepalived_INSTANCE.pid` and `vrrp_INSTANCE.pid`. `-p`/`-r` win, each for its file.
    pub fn locate(
        &self,
        namespace: Option<&str>,
        pid_dir: &crate::config::PidDir,
    ) -> PidFileLocations {
        const RUN: &str = "/run";
        const PID_DIR: &str = "/run/keepalived";
        let mut dirs = Vec::new();
        if let Some(namespace) = namespace {
            dirs = vec![PathBuf::from(PID_DIR), Path::new(PID_DIR).join(namespace)];
        } else if pid_dir.instance.is_some() || pid_dir.use_pid_dir {
            dirs = vec![PathBuf::from(PID_DIR)];
        }
        let dir = dirs.last().cloned().unwrap_or_else(|| PathBuf::from(RUN));
        let suffix = pid_dir
            .instance
            .as_ref()
            .map(|name| format!("_{name}"))
            .unwrap_or_default();
        let main = self
            .main
            .clone()
            .unwrap_or_else(|| dir.join(format!("keepalived{suffix}.pid")));
        let vrrp = self
            .vrrp
            .clone()
            .unwrap_or_else(|| dir.join(format!("vrrp{suffix}.pid")));
        if self.main.is_some() && self.vrrp.is_some() {
            dirs.clear();
        }
        PidFileLocations {
            dirs,
            files: vec![main, vrrp],
        }
    }
}

/// Why a command line is refused: the messages (keepalived's wording for unknown options and
/// missing parameters), exit 1.
pub type Refusal = Vec<String>;

/// Parses keepalived's options (without the program name).
pub fn parse(args: &[String]) -> Result<Invocation, Refusal> {
    let mut inv = Invocation {
        action: Action::Run,
        config: PathBuf::from(DEFAULT_CONFIG),
        config_id: None,
        all_config: false,
        pid_files: PidFileOptions::default(),
        dont_fork: false,
        namespace: None,
        socket: None,
        state_dir: None,
        control_group: None,
        metrics_listen: None,
        notes: Vec::new(),
    };
    let mut errors = Vec::new();
    let mut operands = Vec::new();
    let mut test = None;
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            operands.extend(args[i..].iter().cloned());
            break;
        }
        let found: Vec<(&Opt, Option<String>)> = if let Some(long) = arg.strip_prefix("--") {
            let (name, attached) = match long.split_once('=') {
                Some((name, value)) => (name, Some(value.to_string())),
                None => (long, None),
            };
            let Some(option) = find_long(name, &mut errors, arg) else {
                continue;
            };
            let value = match (option.takes, attached) {
                (Takes::Nothing, Some(_)) => {
                    errors.push(format!(
                        "option '--{}' doesn't allow an argument",
                        option.long
                    ));
                    continue;
                }
                (Takes::Nothing, None) => None,
                (Takes::Optional, attached) => attached,
                (Takes::Value, Some(value)) if !value.is_empty() => Some(value),
                (Takes::Value, Some(_)) => None,
                (Takes::Value, None) => {
                    let next = args.get(i).cloned();
                    i += next.is_some() as usize;
                    next
                }
            };
            if option.takes == Takes::Value && value.is_none() {
                errors.push(format!("Missing parameter for option --{}", option.long));
                continue;
            }
            vec![(option, value)]
        } else if arg.len() > 1 && arg.starts_with('-') {
            let mut found = Vec::new();
            for (at, c) in arg[1..].char_indices() {
                let Some(option) = OPTIONS.iter().find(|o| o.short == Some(c)) else {
                    errors.push(format!("Unknown option -{c}"));
                    continue;
                };
                let rest = &arg[1 + at + c.len_utf8()..];
                match option.takes {
                    Takes::Nothing => found.push((option, None)),
                    Takes::Optional => {
                        found.push((option, (!rest.is_empty()).then(|| rest.to_string())));
                        break;
                    }
                    Takes::Value => {
                        let value = if rest.is_empty() {
                            let next = args.get(i).cloned();
                            i += next.is_some() as usize;
                            next
                        } else {
                            Some(rest.to_string())
                        };
                        match value {
                            Some(value) => found.push((option, Some(value))),
                            None => errors.push(format!("Missing parameter for option -{c}")),
                        }
                        break;
                    }
                }
            }
            found
        } else {
            operands.push(arg.clone());
            continue;
        };
        for (option, value) in found {
            let value = value.unwrap_or_default();
            match option.id {
                // Acted on at once, as keepalived does.
                Meaning::Version => inv.action = Action::Version,
                Meaning::Help => inv.action = Action::Help,
                Meaning::Signum => inv.action = Action::Signum(value.clone()),
                _ => {}
            }
            if inv.action != Action::Run {
                return Ok(inv);
            }
            apply(&mut inv, option, value, &mut test, &mut errors);
        }
    }
    if !operands.is_empty() {
        // keepalived prints them and goes on.
        inv.notes.push(format!(
            "unexpected argument(s) ignored, as keepalived ignores them: {}",
            operands.join(" ")
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if let Some(log) = test {
        inv.action = Action::Test { log };
    }
    Ok(inv)
}

fn find_long<'a>(name: &str, errors: &mut Vec<String>, arg: &str) -> Option<&'a Opt> {
    if let Some(exact) = OPTIONS.iter().find(|o| o.long == name) {
        return Some(exact);
    }
    let matches: Vec<&Opt> = OPTIONS
        .iter()
        .filter(|o| !name.is_empty() && o.long.starts_with(name))
        .collect();
    match matches.as_slice() {
        [one] => Some(one),
        [] => {
            errors.push(format!("Unknown option {arg}"));
            None
        }
        _ => {
            errors.push(format!(
                "option '{arg}' is ambiguous; possibilities: {}",
                matches
                    .iter()
                    .map(|o| format!("'--{}'", o.long))
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
            None
        }
    }
}

fn apply(
    inv: &mut Invocation,
    option: &Opt,
    value: String,
    test: &mut Option<Option<PathBuf>>,
    errors: &mut Vec<String>,
) {
    let name = match option.short {
        Some(c) => format!("-{c}/--{}", option.long),
        None => format!("--{}", option.long),
    };
    let mut why: Option<&str> = None;
    let mut note = |text: &'static str| why = Some(text);
    match option.id {
        Meaning::UseFile => inv.config = PathBuf::from(value),
        Meaning::ConfigId => inv.config_id = Some(value),
        Meaning::AllConfig => inv.all_config = true,
        Meaning::Pid => inv.pid_files.main = Some(PathBuf::from(value)),
        Meaning::VrrpPid => inv.pid_files.vrrp = Some(PathBuf::from(value)),
        Meaning::DontFork => inv.dont_fork = true,
        Meaning::Namespace => inv.namespace = Some(value),
        Meaning::ConfigTest => *test = Some((!value.is_empty()).then(|| PathBuf::from(value))),
        Meaning::Socket => inv.socket = Some(PathBuf::from(value)),
        Meaning::StateDir => inv.state_dir = Some(PathBuf::from(value)),
        Meaning::ControlGroup => inv.control_group = Some(value),
        Meaning::MetricsListen => inv.metrics_listen = Some(value),
        // What vipd does anyway: VRRP only, no BFD, one process, logs on stderr (the journal
        // under systemd) with the detail of `-D`, no syslog of its own.
        Meaning::Vrrp
        | Meaning::NoBfd
        | Meaning::DontRespawn
        | Meaning::LogConsole
        | Meaning::LogDetail
        | Meaning::NoSyslog => {}
        // Pid files of processes vipd does not have.
        Meaning::CheckersPid | Meaning::BfdPid => {}
        Meaning::Check => errors.push(format!(
            "{name} cannot apply: it runs only keepalived's IPVS health checkers, which vipd \
             does not have (vipd is the VRRP side)"
        )),
        Meaning::Snmp | Meaning::SnmpAgentSocket => errors.push(format!(
            "{name} cannot apply: vipd has no SNMP agent (`vipd status --json` and the \
             Prometheus metrics give the same state)"
        )),
        Meaning::Genhash => errors.push(format!(
            "{name} cannot apply: vipd has no genhash (use `curl -s URL | md5sum`)"
        )),
        Meaning::Signum | Meaning::Version | Meaning::Help => {}
        Meaning::All => note("vipd runs VRRP only; there are no other child processes to force"),
        Meaning::LogFacility => note(
            "vipd logs to stderr (the journal under systemd), not to a syslog facility; \
             set SyslogFacility= in the unit",
        ),
        Meaning::Umask => {
            note("vipd sets the modes of the files it writes itself (pid files 0644, dumps 0600)")
        }
        Meaning::ReleaseVips => note("vipd keeps the VIPs of a master across reloads"),
        Meaning::DontReleaseVrrp => note(
            "on stop vipd hands its VIPs to a backup while still serving them (planned \
             handover), then removes them",
        ),
        Meaning::DontReleaseIpvs => note("vipd manages no IPVS"),
        Meaning::DumpConf => note("`vipd import-keepalived FILE` prints the configuration as read"),
        Meaning::AddressMonitoring => note("`vipd events` shows the VIPs vipd adds and removes"),
        Meaning::CoreDump | Meaning::CoreDumpPattern => {
            note("set LimitCORE= in the unit (or `ulimit -c`) for core dumps")
        }
    }
    if let Some(why) = why {
        inv.notes.push(format!("{name} ignored: {why}"));
    }
}

/// `keepalived --signum=NAME`: keepalived 2.2.7's numbers, which vipd answers to (README
/// "keepalived's signals and dump files").
pub fn signum(name: &str) -> Option<i32> {
    Some(match name {
        "STOP" => libc::SIGTERM,
        "RELOAD" => libc::SIGHUP,
        "DATA" => libc::SIGUSR1,
        "STATS" => libc::SIGUSR2,
        "STATS_CLEAR" => crate::runtime::SIG_STATS_CLEAR,
        "JSON" => crate::runtime::SIG_JSON,
        _ => return None,
    })
}

/// `keepalived -v`: the first line in keepalived's form (tools match `Keepalived v(.*) \(`).
pub fn version_text() -> String {
    format!(
        "Keepalived v2.2.7 (vipd {})\n\nThis is vipd, which takes keepalived 2.2.7's command line, \
         configuration, signals and dump files.\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// `keepalived -h`.
pub fn usage(program: &str) -> String {
    format!(
        "Usage: {program} [OPTION...]   (vipd, with keepalived 2.2.7's options)\n\
  -f, --use-file=FILE          Use the specified configuration file\n\
                                default '{DEFAULT_CONFIG}'\n\
  -P, --vrrp                   Only run with VRRP subsystem (vipd always does)\n\
  -l, --log-console            Log messages to local console (vipd always does)\n\
  -D, --log-detail             Detailed log messages\n\
  -n, --dont-fork              Don't fork the daemon process\n\
  -p, --pid=FILE               Use specified pidfile (default {})\n\
  -r, --vrrp_pid=FILE          Use specified pidfile for VRRP (default {}; the same pid)\n\
  -s, --namespace=NAME         Run in network namespace NAME (overrides config)\n\
  -i, --config-id id           Skip any configuration lines beginning '@' that don't match id\n\
  -e, --all-config             Don't load if any configuration file is missing\n\
      --signum=SIGFUNC         Return signal number for STOP, RELOAD, DATA, STATS, STATS_CLEAR, JSON\n\
  -t, --config-test[=LOG_FILE] Check the configuration: exit 0 when vipd runs it, 5 when not\n\
                               (4: the file missing, with -e; 6: an included file\n\
                               missing, with -e or includea ...)\n\
  -v, --version                Display the version number\n\
  -h, --help                   Display this help message\n\
Accepted and ignored with a note: -S -u -X -V -I -d -a -m -M --all; without effect: -B -G -R -c -b.\n\
Refused: -C (health checkers only), -x/-A (SNMP), -T (genhash).\n\
vipd's own: --socket=PATH --state-dir=DIR --control-group=GROUP --metrics-listen=ADDR:PORT\n",
        crate::pidfile::KEEPALIVED_PID_FILE,
        crate::pidfile::VRRP_PID_FILE,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    fn ok(line: &str) -> Invocation {
        parse(&args(line)).unwrap_or_else(|e| panic!("{line}: {e:?}"))
    }

    #[test]
    fn defaults_are_keepalived_s() {
        let inv = ok("");
        assert_eq!(inv.action, Action::Run);
        assert_eq!(inv.config, PathBuf::from("/etc/keepalived/keepalived.conf"));
        assert_eq!(inv.pid_files, PidFileOptions::default());
        assert!(!inv.dont_fork);
        assert!(inv.notes.is_empty());
    }

    /// keepalived 2.2.7's pid files, as it wrote them (run in a namespace, no -p/-r unless
    /// given; checked 2026-12-01).
    #[test]
    fn pid_files_go_where_keepalived_puts_them() {
        let located = |conf: &str, line: &str| {
            let text = format!(
                "{conf}\nvrrp_instance VI_1 {{\n interface eth0\n virtual_router_id 1\n}}\n"
            );
            let options = crate::config::ReadOptions::default();
            let loaded =
                crate::config::read_keepalived(&text, Path::new("k.conf"), &options).unwrap();
            let namespace = loaded.config.global.net_namespace.as_deref();
            let at = ok(line).pid_files.locate(namespace, &loaded.pid_dir);
            let show = |p: &Vec<PathBuf>| p.iter().map(|p| p.display().to_string()).collect();
            (show(&at.dirs), show(&at.files))
        };
        let expect = |dirs: &[&str], files: &[&str]| {
            let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<String>>();
            (own(dirs), own(files))
        };
        let pid_dir = "/run/keepalived";
        for (conf, line, wanted) in [
            (
                "",
                "",
                expect(&[], &["/run/keepalived.pid", "/run/vrrp.pid"]),
            ),
            (
                "instance lb",
                "",
                expect(
                    &[pid_dir],
                    &[
                        "/run/keepalived/keepalived_lb.pid",
                        "/run/keepalived/vrrp_lb.pid",
                    ],
                ),
            ),
            (
                "use_pid_dir",
                "",
                expect(
                    &[pid_dir],
                    &["/run/keepalived/keepalived.pid", "/run/keepalived/vrrp.pid"],
                ),
            ),
            (
                "net_namespace blue\ninstance lb",
                "",
                expect(
                    &[pid_dir, "/run/keepalived/blue"],
                    &[
                        "/run/keepalived/blue/keepalived_lb.pid",
                        "/run/keepalived/blue/vrrp_lb.pid",
                    ],
                ),
            ),
            (
                "net_namespace blue\nuse_pid_dir",
                "-p /tmp/k.pid",
                expect(
                    &[pid_dir, "/run/keepalived/blue"],
                    &["/tmp/k.pid", "/run/keepalived/blue/vrrp.pid"],
                ),
            ),
            (
                "instance lb",
                "-r /tmp/v.pid",
                expect(
                    &[pid_dir],
                    &["/run/keepalived/keepalived_lb.pid", "/tmp/v.pid"],
                ),
            ),
            (
                "instance lb",
                "-p /tmp/k.pid -r /tmp/v.pid",
                expect(&[], &["/tmp/k.pid", "/tmp/v.pid"]),
            ),
        ] {
            assert_eq!(located(conf, line), wanted, "{conf:?} {line:?}");
        }
    }

    #[test]
    fn units_and_default_files_parse_as_keepalived_parses_them() {
        // Debian's unit with DAEMON_ARGS, RHEL's KEEPALIVED_OPTIONS, a hand-written unit.
        for line in [
            "--dont-fork -D",
            "-D -P -n",
            "-nlDP",
            "--dont-fork --log-console --log-detail --vrrp",
            "--dont-f --log-c --log-d --vrrp",
        ] {
            let inv = ok(line);
            assert!(inv.dont_fork, "{line}");
            assert_eq!(inv.action, Action::Run, "{line}");
            assert!(inv.notes.is_empty(), "{line}: {:?}", inv.notes);
        }
        let inv = ok("-n -f /etc/k.conf -p /run/a.pid -r/run/b.pid -i lb1");
        assert_eq!(inv.config, PathBuf::from("/etc/k.conf"));
        assert_eq!(inv.pid_files.main, Some(PathBuf::from("/run/a.pid")));
        assert_eq!(inv.pid_files.vrrp, Some(PathBuf::from("/run/b.pid")));
        assert_eq!(inv.config_id.as_deref(), Some("lb1"));
        let inv = ok("--use-file=/x.conf --pid /p --vrrp_pid=/r -nf/y.conf");
        assert_eq!(inv.config, PathBuf::from("/y.conf"));
        assert_eq!(inv.pid_files.main, Some(PathBuf::from("/p")));
        assert_eq!(inv.pid_files.vrrp, Some(PathBuf::from("/r")));
        let inv = ok("-s blue --socket=/s.sock --state-dir /st --metrics-listen=127.0.0.1:9165");
        assert_eq!(inv.namespace.as_deref(), Some("blue"));
        assert_eq!(inv.socket, Some(PathBuf::from("/s.sock")));
        assert_eq!(inv.state_dir, Some(PathBuf::from("/st")));
        assert_eq!(inv.metrics_listen.as_deref(), Some("127.0.0.1:9165"));
    }

    #[test]
    fn config_test_takes_its_log_file_attached_only() {
        assert_eq!(ok("-t -f /k.conf").action, Action::Test { log: None });
        assert_eq!(ok("-f /k.conf -t").config, PathBuf::from("/k.conf"));
        assert_eq!(
            ok("-t/tmp/t.log").action,
            Action::Test {
                log: Some(PathBuf::from("/tmp/t.log"))
            }
        );
        assert_eq!(
            ok("--config-test=/tmp/t.log").action,
            Action::Test {
                log: Some(PathBuf::from("/tmp/t.log"))
            }
        );
        // `-t FILE`: FILE is an operand (ignored with a note), not the log.
        let inv = ok("-t /tmp/t.log");
        assert_eq!(inv.action, Action::Test { log: None });
        assert_eq!(inv.notes.len(), 1);
    }

    #[test]
    fn version_help_and_signum_act_at_once() {
        assert_eq!(ok("-v").action, Action::Version);
        assert_eq!(ok("--version -q").action, Action::Version);
        assert_eq!(ok("-nh").action, Action::Help);
        assert_eq!(ok("--signum=JSON").action, Action::Signum("JSON".into()));
        assert_eq!(ok("--sig DATA").action, Action::Signum("DATA".into()));
        assert_eq!(signum("JSON"), Some(36));
        assert_eq!(signum("STATS_CLEAR"), Some(63));
        assert_eq!(signum("DATA"), Some(10));
        assert_eq!(signum("STOP"), Some(15));
        assert_eq!(signum("NOPE"), None);
        assert!(version_text().starts_with("Keepalived v2.2.7 (vipd "));
    }

    #[test]
    fn unknown_missing_and_inapplicable_options_are_refused() {
        let refused = |line: &str| parse(&args(line)).expect_err(line).join("\n");
        assert_eq!(refused("-q"), "Unknown option -q");
        assert_eq!(refused("--bogus"), "Unknown option --bogus");
        assert_eq!(refused("-f"), "Missing parameter for option -f");
        assert_eq!(
            refused("--use-file="),
            "Missing parameter for option --use-file"
        );
        assert!(refused("--dont-fork=yes").contains("doesn't allow an argument"));
        assert!(refused("--s").contains("ambiguous"));
        assert!(refused("-C").contains("-C/--check cannot apply"));
        assert!(refused("-n -x").contains("SNMP"));
        assert!(refused("--snmp-agent-socket=/a").contains("SNMP"));
        assert!(refused("-T").contains("genhash"));
    }

    #[test]
    fn harmless_options_are_ignored_with_a_note() {
        let inv = ok("-n -S 3 -u 022 -X -V -I -d -a -m -M --all -B -G -R -c /c.pid -b /b.pid");
        let notes = inv.notes.join("\n");
        for name in [
            "-S/", "-u/", "-X/", "-V/", "-I/", "-d/", "-a/", "-m/", "-M/", "--all",
        ] {
            assert!(notes.contains(name), "{name} in {notes}");
        }
        assert_eq!(inv.notes.len(), 10, "{notes}");
        assert!(!inv.all_config);
        // -e/--all-config is acted on: a missing include refuses the configuration.
        for line in ["-e", "--all-config", "-ne"] {
            let inv = ok(line);
            assert!(inv.all_config && inv.notes.is_empty(), "{line}: {inv:?}");
        }
        assert!(ok("-Mcore").notes[0].contains("LimitCORE"));
    }
}
