use clap::{ArgGroup, Parser, Subcommand};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use vipd::control::protocol::{Request, Target};
use vipd::vrrp::instance::DrainMode;
use vipd::{config, control, runtime};

#[derive(Parser)]
#[command(
    name = "vipd",
    version,
    about = "VRRP daemon for floating virtual IPs (reads keepalived.conf as-is)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon in the foreground (systemd Type=notify aware).
    Run {
        /// Configuration file: `*.toml` is vipd's native format, anything else keepalived.conf.
        /// Default: /etc/vipd/vipd.toml, else /etc/keepalived/keepalived.conf.
        #[arg(short, long)]
        config: Option<PathBuf>,
        /// Control socket that `vipd status` talks to.
        #[arg(long, default_value = control::DEFAULT_SOCKET)]
        socket: PathBuf,
        /// Where drains and the record of the VIPs vipd added are kept across restarts
        /// (systemd StateDirectory=vipd).
        #[arg(long, default_value = control::drains::DEFAULT_STATE_DIR)]
        state_dir: PathBuf,
        /// Group (name or gid) allowed to use the control socket besides root; overrides
        /// `[global] control_group`.
        #[arg(long)]
        control_group: Option<String>,
        /// Serve Prometheus metrics at http://ADDR:PORT/metrics (keepalived exporter's
        /// port is 9165); overrides `[global] metrics_listen`. Off by default.
        #[arg(long, value_name = "ADDR:PORT")]
        metrics_listen: Option<SocketAddr>,
        /// keepalived's config id (`keepalived -i`): selects `@ID` lines. Default: the host
        /// name up to its first dot.
        #[arg(long, value_name = "ID")]
        config_id: Option<String>,
        /// Write the daemon's pid to PATH (repeatable: e.g. keepalived's /run/keepalived.pid
        /// and /run/vrrp.pid), removed on exit; refused while it names a running vipd or
        /// keepalived. None by default.
        #[arg(long, value_name = "PATH")]
        pid_file: Vec<PathBuf>,
    },
    /// keepalived 2.2.7's command line (`vipd keepalived -n -D -f FILE`, `-t`, `-v`, ...), as
    /// when vipd runs through a symlink called `keepalived`; `vipd keepalived -h` lists it.
    #[command(disable_help_flag = true, disable_version_flag = true)]
    Keepalived {
        /// keepalived's options.
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "OPTION"
        )]
        args: Vec<String>,
    },
    /// Check a configuration file and exit (0 when valid; errors as FILE:LINE: message,
    /// warnings as FILE:LINE: warning: message).
    Check {
        /// Configuration file, as for `vipd run` (also given as a plain argument: `vipd check
        /// FILE`).
        #[arg(short, long, conflicts_with = "file")]
        config: Option<PathBuf>,
        /// The same as `-c FILE`.
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
        /// Fail (exit 1) when there is any warning.
        #[arg(long)]
        strict: bool,
        /// keepalived's config id (`keepalived -i`): selects `@ID` lines. Default: the host
        /// name up to its first dot.
        #[arg(long, value_name = "ID")]
        config_id: Option<String>,
        /// Control socket of the vipd that will run it: the VIPs a running vipd added (kept
        /// in its state directory) are not mistaken for the node's own addresses.
        #[arg(long, default_value = control::DEFAULT_SOCKET)]
        socket: PathBuf,
        /// State directory of the vipd that will run it.
        #[arg(long, default_value = control::drains::DEFAULT_STATE_DIR)]
        state_dir: PathBuf,
    },
    /// Show the state of a running daemon.
    Status {
        /// Control socket of the running vipd.
        #[arg(long, default_value = control::DEFAULT_SOCKET)]
        socket: PathBuf,
        /// Print JSON instead of text.
        #[arg(long, conflicts_with = "watch")]
        json: bool,
        /// Print the status, then every event as it happens (until interrupted).
        #[arg(long)]
        watch: bool,
    },
    /// Take instances out of the master role: a master hands over without a gap, and the
    /// instance stays backup while any other router is alive. Kept across restarts.
    #[command(group(ArgGroup::new("target").required(true).args(["instances", "all"])))]
    Drain {
        /// Instances to drain (sync group members follow).
        instances: Vec<String>,
        /// Drain every instance.
        #[arg(long)]
        all: bool,
        /// Never become master, even when no other router is left (default: the drained
        /// instance takes the VIPs then rather than leave them unserved).
        #[arg(long)]
        hard: bool,
        /// Control socket of the running vipd.
        #[arg(long, default_value = control::DEFAULT_SOCKET)]
        socket: PathBuf,
    },
    /// Undo a drain.
    #[command(group(ArgGroup::new("target").required(true).args(["instances", "all"])))]
    Resume {
        /// Instances to resume (sync group members follow).
        instances: Vec<String>,
        /// Resume every drained instance.
        #[arg(long)]
        all: bool,
        /// Control socket of the running vipd.
        #[arg(long, default_value = control::DEFAULT_SOCKET)]
        socket: PathBuf,
    },
    /// Reload the configuration of a running daemon (as SIGHUP).
    Reload {
        /// Control socket of the running vipd.
        #[arg(long, default_value = control::DEFAULT_SOCKET)]
        socket: PathBuf,
    },
    /// Follow the daemon's events (transitions, priorities, checks, VIPs, drains, reloads).
    Events {
        /// Control socket of the running vipd.
        #[arg(long, default_value = control::DEFAULT_SOCKET)]
        socket: PathBuf,
        /// One JSON object per line instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print the native TOML equivalent of a keepalived.conf (warnings go to stderr).
    ImportKeepalived {
        /// The keepalived.conf to translate.
        file: PathBuf,
        /// keepalived's config id (`keepalived -i`): selects `@ID` lines. Default: the host
        /// name up to its first dot.
        #[arg(long, value_name = "ID")]
        config_id: Option<String>,
    },
}

fn read_options(config_id: Option<String>) -> config::ReadOptions {
    match config_id {
        Some(config_id) => config::ReadOptions {
            config_id,
            all_config: false,
        },
        None => config::ReadOptions::default(),
    }
}

fn read(
    path: Option<PathBuf>,
    options: &config::ReadOptions,
) -> Result<(PathBuf, config::Loaded), config::ConfigErrors> {
    match path {
        Some(path) => config::read(&path, options).map(|loaded| (path, loaded)),
        None => config::read_default(options),
    }
}

fn main() -> ExitCode {
    // Started as `keepalived` (a symlink): keepalived's command line.
    // (args_os: an argument that is not UTF-8 is for clap to report, not a panic.)
    let mut args = std::env::args_os();
    let program = PathBuf::from(args.next().unwrap_or_default());
    if program.file_name().and_then(|n| n.to_str()) == Some("keepalived") {
        let args: Result<Vec<String>, _> = args.map(|a| a.into_string()).collect();
        return match args {
            Ok(args) => keepalived(&program.to_string_lossy(), &args),
            Err(arg) => {
                eprintln!("keepalived: argument {arg:?} is not UTF-8");
                ExitCode::FAILURE
            }
        };
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            config,
            socket,
            state_dir,
            control_group,
            metrics_listen,
            config_id,
            pid_file,
        } => run(runtime::RunOptions {
            config,
            socket,
            state_dir,
            control_group,
            metrics_listen,
            read_options: read_options(config_id),
            pid_files: pid_file,
            keepalived_pid_files: None,
            net_namespace: None,
            daemonize: false,
        }),
        Command::Keepalived { args } => keepalived("keepalived", &args),
        Command::Check {
            config,
            file,
            strict,
            config_id,
            socket,
            state_dir,
        } => check(CheckRequest {
            config: config.or(file),
            options: &read_options(config_id),
            strict,
            socket: &socket,
            state_dir: &state_dir,
            namespace: None,
        }),
        Command::Status {
            socket,
            watch: true,
            ..
        } => watch(&socket),
        Command::Drain {
            instances,
            all,
            hard,
            socket,
        } => change(
            &socket,
            Request::Drain {
                target: target(instances, all),
                mode: if hard {
                    DrainMode::Hard
                } else {
                    DrainMode::Soft
                },
            },
        ),
        Command::Resume {
            instances,
            all,
            socket,
        } => change(
            &socket,
            Request::Resume {
                target: target(instances, all),
            },
        ),
        Command::Reload { socket } => change(&socket, Request::Reload),
        Command::Events { socket, json } => events(&socket, json),
        Command::Status { socket, json, .. } => match control::request_status(&socket) {
            Ok(report) => {
                if json {
                    match serde_json::to_string_pretty(&report) {
                        Ok(text) => println!("{text}"),
                        Err(e) => {
                            eprintln!("vipd: {e}");
                            return ExitCode::FAILURE;
                        }
                    }
                } else {
                    print!("{}", control::render_text(&report));
                }
                ExitCode::SUCCESS
            }
            Err(message) => {
                eprintln!("vipd: {message}");
                ExitCode::FAILURE
            }
        },
        Command::ImportKeepalived { file, config_id } => {
            match config::read(&file, &read_options(config_id)) {
                Ok(loaded) => {
                    for warning in &loaded.warnings {
                        eprintln!("{warning}");
                    }
                    // One-liners a native check means exactly become that check.
                    let native = config::translate_checks(&loaded.config);
                    for (old, new) in loaded.config.checks.iter().zip(&native.checks) {
                        if old.kind != new.kind {
                            eprintln!(
                                "{}: note: check {}: `{}` written as a native {} check",
                                file.display(),
                                old.name,
                                match &old.kind {
                                    config::CheckKind::Exec { command, .. } => command.as_str(),
                                    _ => "",
                                },
                                new.kind.name()
                            );
                        }
                    }
                    print!("{}", config::to_toml(&native));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{}", e.to_string().trim_end());
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// What `vipd check` and `keepalived -t` judge, and for which daemon.
struct CheckRequest<'a> {
    /// None: the default file.
    config: Option<PathBuf>,
    options: &'a config::ReadOptions,
    /// Warnings refuse the file too (`vipd check --strict`).
    strict: bool,
    /// The daemon's control socket and state directory: a VIP it added is no address of
    /// the node's own.
    socket: &'a Path,
    state_dir: &'a Path,
    /// Overrides `net_namespace` (`keepalived -s`).
    namespace: Option<&'a str>,
}

/// `vipd check`: SUCCESS when the file would run here.
fn check(request: CheckRequest) -> ExitCode {
    match verdict(request) {
        Verdict::Runs => ExitCode::SUCCESS,
        Verdict::Refused | Verdict::MissingFile => ExitCode::FAILURE,
    }
}

/// What [`verdict`] found.
enum Verdict {
    Runs,
    Refused,
    /// Refused for an include that brought in no file (keepalived's `-e`, `includea`, ...).
    MissingFile,
}

/// `vipd check` and `keepalived -t`, with what they print.
fn verdict(request: CheckRequest) -> Verdict {
    let CheckRequest {
        config,
        options,
        strict,
        socket,
        state_dir,
        namespace,
    } = request;
    match read(config, options) {
        Ok((path, mut loaded)) => {
            if let Some(name) = namespace {
                loaded.config.global.net_namespace = Some(name.to_string());
            }
            // What the interfaces that exist here say (multicast on a WireGuard link, a
            // VMAC name taken, ...).
            for (at, warning) in vipd::net::checks::system_warnings_at(&loaded.config) {
                let warning = loaded.warning_at(&path, &at, warning);
                loaded.warnings.push(warning);
            }
            // Notify FIFOs: the path, its owner, the reader script.
            for (at, warning) in vipd::services::notify_fifo::check_warnings(&loaded.config.global)
            {
                let warning = loaded.warning_at(&path, &at, warning);
                loaded.warnings.push(warning);
            }
            let cfg = &loaded.config;
            let mut problems = vipd::services::tracking::preflight(cfg);
            // Judged where the daemon will run: inside its network namespace.
            let entered = match &cfg.global.net_namespace {
                Some(name) => vipd::net::namespace::enter(name),
                None => Ok(()),
            };
            // On the machine that runs it: a VIP must not be one of the node's addresses.
            match entered.and_then(|()| runtime::check_own_address_problems(cfg, state_dir, socket))
            {
                Ok(found) => problems.extend(found),
                Err(e) => eprintln!(
                    "{}: warning: not checked whether a VIP is an address of this node: {e}",
                    path.display()
                ),
            }
            if !problems.is_empty() {
                for problem in problems {
                    eprintln!("{}: {problem}", path.display());
                }
                return Verdict::Refused;
            }
            let mut warnings = loaded.warnings.clone();
            warnings.extend(vipd::services::tracking::script_warnings_located(
                &loaded, &path,
            ));
            for warning in &warnings {
                eprintln!("{warning}");
            }
            if strict && !warnings.is_empty() {
                eprintln!(
                    "{}: {} warning(s), refused by --strict",
                    path.display(),
                    warnings.len()
                );
                return Verdict::Refused;
            }
            for note in vipd::services::tracking::native_notes(cfg) {
                eprintln!("{}: note: {note}", path.display());
            }
            println!(
                "{}: OK ({} instance(s), {} check(s), {} warning(s))",
                path.display(),
                cfg.instances.len(),
                cfg.checks.len(),
                warnings.len()
            );
            Verdict::Runs
        }
        Err(errors) => {
            eprintln!("{}", errors.to_string().trim_end());
            if errors.missing_file() {
                Verdict::MissingFile
            } else {
                Verdict::Refused
            }
        }
    }
}

fn run(options: runtime::RunOptions) -> ExitCode {
    match runtime::run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vipd: {}", e.message);
            ExitCode::FAILURE
        }
    }
}

/// keepalived's command line (`vipd keepalived ...`, or vipd called `keepalived`).
fn keepalived(program: &str, args: &[String]) -> ExitCode {
    use vipd::compat::{self, Action};
    let invocation = match compat::parse(args) {
        Ok(invocation) => invocation,
        Err(errors) => {
            for error in errors {
                eprintln!("{error}");
            }
            return ExitCode::FAILURE;
        }
    };
    let notes = || {
        for note in &invocation.notes {
            eprintln!("vipd: note: {note}");
        }
    };
    let mut options = read_options(invocation.config_id.clone());
    options.all_config = invocation.all_config;
    let socket = invocation
        .socket
        .clone()
        .unwrap_or_else(|| PathBuf::from(control::DEFAULT_SOCKET));
    let state_dir = invocation
        .state_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(control::drains::DEFAULT_STATE_DIR));
    let config_missing = matches!(
        std::fs::metadata(&invocation.config),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound
    );
    match invocation.action {
        Action::Version => {
            eprint!("{}", compat::version_text());
            ExitCode::SUCCESS
        }
        Action::Help => {
            eprint!("{}", compat::usage(program));
            ExitCode::SUCCESS
        }
        Action::Signum(name) => match compat::signum(&name) {
            Some(number) => {
                println!("{number}");
                ExitCode::SUCCESS
            }
            None => {
                eprintln!("Unknown sigfunc {name}");
                ExitCode::FAILURE
            }
        },
        Action::Test { log } => {
            // As keepalived: the output goes to LOG (appended) instead of stderr.
            if let Some(log) = &log {
                if let Err(e) = redirect_stderr(log) {
                    eprintln!("Unable to open config-test log file {}: {e}", log.display());
                    return ExitCode::FAILURE;
                }
            }
            notes();
            // keepalived 2.2.7 `-t -e` on a main file that is not there: 4 (without `-e` it
            // passes, 0; vipd refuses that with 5 below).
            if invocation.all_config && config_missing {
                eprintln!("{}: cannot read: no such file", invocation.config.display());
                return ExitCode::from(compat::EXIT_CONFIG);
            }
            match verdict(CheckRequest {
                config: Some(invocation.config.clone()),
                options: &options,
                strict: false,
                socket: &socket,
                state_dir: &state_dir,
                namespace: invocation.namespace.as_deref(),
            }) {
                Verdict::Runs => ExitCode::SUCCESS,
                Verdict::Refused => ExitCode::from(compat::EXIT_CONFIG_TEST),
                Verdict::MissingFile => ExitCode::from(compat::EXIT_MISSING_FILE),
            }
        }
        Action::Run => {
            notes();
            let metrics_listen = match invocation.metrics_listen.as_deref().map(str::parse) {
                None => None,
                Some(Ok(addr)) => Some(addr),
                Some(Err(e)) => {
                    eprintln!("vipd: --metrics-listen: {e}");
                    return ExitCode::FAILURE;
                }
            };
            if config_missing {
                eprintln!(
                    "vipd: {}: cannot read: no such file",
                    invocation.config.display()
                );
                return ExitCode::from(compat::EXIT_MISSING_FILE);
            }
            let started = runtime::run(runtime::RunOptions {
                config: Some(invocation.config),
                socket,
                state_dir,
                control_group: invocation.control_group,
                metrics_listen,
                read_options: options,
                pid_files: Vec::new(),
                keepalived_pid_files: Some(invocation.pid_files),
                net_namespace: invocation.namespace,
                daemonize: !invocation.dont_fork,
            });
            match started {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("vipd: {}", e.message);
                    match e.missing_file {
                        true => ExitCode::from(compat::EXIT_MISSING_FILE),
                        false => ExitCode::FAILURE,
                    }
                }
            }
        }
    }
}

/// Appends stderr to `path` (created 0644 if missing), as `keepalived -tLOG` does.
fn redirect_stderr(path: &Path) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .open(path)?;
    // SAFETY: both descriptors are valid; stderr now refers to the file.
    if unsafe { libc::dup2(file.as_raw_fd(), libc::STDERR_FILENO) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn target(instances: Vec<String>, all: bool) -> Target {
    if all {
        Target::All
    } else {
        Target::Instances(instances)
    }
}

fn change(socket: &Path, request: Request) -> ExitCode {
    match control::client::request_change(socket, &request) {
        Ok(reply) => {
            println!("{}", reply.message);
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("vipd: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `vipd status --watch`: the status table, then one line per event.
fn watch(socket: &Path) -> ExitCode {
    let result = control::client::follow_events(
        socket,
        true,
        |hello| {
            if let Some(status) = &hello.status {
                print!("{}", control::render_text(status));
            }
            println!("-- events after #{} --", hello.seq);
        },
        |event| {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", event.render_human()).is_ok() && out.flush().is_ok()
        },
    );
    finish_stream(result)
}

/// `vipd events [--json]`: one line per event as it happens.
fn events(socket: &Path, json: bool) -> ExitCode {
    let result = control::client::follow_events(
        socket,
        false,
        |_| {},
        |event| {
            let line = if json {
                serde_json::to_string(&event).unwrap_or_default()
            } else {
                event.render_human()
            };
            let mut out = std::io::stdout().lock();
            writeln!(out, "{line}").is_ok() && out.flush().is_ok()
        },
    );
    finish_stream(result)
}

fn finish_stream(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("vipd: {message}");
            ExitCode::FAILURE
        }
    }
}
