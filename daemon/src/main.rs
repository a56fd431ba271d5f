use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
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
    },
    /// Check a configuration file and exit (0 when valid; errors as FILE:LINE: message).
    Check {
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
    /// Show the state of a running daemon.
    Status {
        #[arg(long, default_value = control::DEFAULT_SOCKET)]
        socket: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print the native TOML equivalent of a keepalived.conf.
    ImportKeepalived { file: PathBuf },
}

fn load(path: Option<PathBuf>) -> Result<(PathBuf, config::Config), String> {
    match path {
        Some(path) => config::load(&path)
            .map(|cfg| (path, cfg))
            .map_err(|e| e.to_string()),
        None => config::load_default().map_err(|e| e.to_string()),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { config, socket } => match runtime::run(config, socket) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("vipd: {message}");
                ExitCode::FAILURE
            }
        },
        Command::Check { config } => match load(config) {
            Ok((path, cfg)) => {
                let problems = vipd::tracking::preflight(&cfg);
                if !problems.is_empty() {
                    for problem in problems {
                        eprintln!("{}: {problem}", path.display());
                    }
                    return ExitCode::FAILURE;
                }
                for warning in config::warnings(&cfg)
                    .into_iter()
                    .chain(vipd::tracking::script_warnings(&cfg))
                {
                    eprintln!("{}: warning: {warning}", path.display());
                }
                for note in vipd::tracking::native_notes(&cfg) {
                    eprintln!("{}: note: {note}", path.display());
                }
                println!(
                    "{}: OK ({} instance(s), {} check(s))",
                    path.display(),
                    cfg.instances.len(),
                    cfg.checks.len()
                );
                ExitCode::SUCCESS
            }
            Err(message) => {
                eprintln!("{}", message.trim_end());
                ExitCode::FAILURE
            }
        },
        Command::Status { socket, json } => match control::request_status(&socket) {
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
        Command::ImportKeepalived { file } => match config::load(&file) {
            Ok(cfg) => {
                print!("{}", config::to_toml(&cfg));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{}", e.to_string().trim_end());
                ExitCode::FAILURE
            }
        },
    }
}
