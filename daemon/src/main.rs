use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "vipd", version, about = "VRRP daemon for floating virtual IPs")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon.
    Run,
}

fn main() {
    let cli = Cli::parse();
    match cli.command {
        Command::Run => {
            eprintln!("vipd: not implemented yet");
            std::process::exit(2);
        }
    }
}
