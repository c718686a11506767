//! The `shoal` command line: one binary, one subcommand per job Piranha spread over
//! several programs.

mod check;
mod daemon;
pub mod logging;
mod nanny;
mod send_arp;
mod sync;
mod web;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

pub use nanny::NannyArgs;
pub use send_arp::SendArpArgs;
pub use sync::{PushArgs, SyncArgs, SyncCommand};
pub use web::{PasswdArgs, WebArgs};

/// Piranha's default place for lvs.cf, so a migrated node needs no flags.
pub const DEFAULT_LVS_CF: &str = "/etc/sysconfig/ha/lvs.cf";

/// shoal: a Linux Virtual Server director controller that reads Piranha's lvs.cf.
#[derive(Debug, Parser)]
#[command(name = "shoal", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse and validate an lvs.cf; exit 0 when valid, 1 when invalid, 2 when unreadable.
    Check(CheckArgs),
    /// Run the director: program IPVS from lvs.cf and keep it so (Piranha's pulse + lvsd).
    Run(RunArgs),
    /// Show the daemon's state and the kernel table, with lvs.cf names.
    Status(StatusArgs),
    /// Ask the daemon to re-read lvs.cf and apply the difference.
    Reload(ControlArgs),
    /// Bring the service up again after `shoal stop`.
    Start(ControlArgs),
    /// Take the service down (services, addresses, checks) while the daemon stays up.
    Stop(ControlArgs),
    /// Stop and start the service.
    Restart(ControlArgs),
    /// Drain a real server: weight 0, established connections stay (kept until undrain).
    Drain(OverrideArgs),
    /// Clear a real server's override: it follows its health checks again.
    Undrain(OverrideArgs),
    /// Take a real server out of the table whatever its checks say (nanny's SIGUSR1).
    Down(OverrideArgs),
    /// Put a real server in at full weight whatever its checks say (nanny's SIGUSR2).
    Up(OverrideArgs),
    /// Announce an address: gratuitous ARP (IPv4) or unsolicited neighbour advertisement
    /// (IPv6), as Piranha's send_arp.
    SendArp(SendArpArgs),
    /// Run one health check in the foreground and print each probe (Piranha's nanny,
    /// for debugging a check).
    Nanny(Box<NannyArgs>),
    /// Configuration sync with the peer director (`shoal sync push`).
    Sync(SyncArgs),
    /// The configuration UI on port 3636 (Piranha's piranha-gui), as an unprivileged
    /// process that edits lvs.cf and drives the daemon over its control socket.
    Web(WebArgs),
    /// Set the web UI's password (Piranha's piranha-passwd); reads it from stdin when
    /// that is not a terminal.
    Passwd(PasswdArgs),
}

/// Arguments of `shoal run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The lvs.cf to run.
    #[arg(short = 'c', long = "config", default_value = DEFAULT_LVS_CF)]
    pub lvs_cf: PathBuf,
    /// Log every kernel action instead of doing it (works without IPVS).
    #[arg(long)]
    pub dry_run: bool,
    /// Be the active director even though lvs.cf names a backup.
    #[arg(long)]
    pub force_active: bool,
    /// Do not check the real servers: every active one is in at its configured weight
    /// (what Piranha's lvsd programmed before its nannies reported; for servers checked
    /// by something else, and for tests of the kernel table alone).
    #[arg(long)]
    pub no_checks: bool,
    /// Manage the addresses (and failover) only and leave the IPVS table alone: for a
    /// table programmed by something else, or a kernel without IPVS.
    #[arg(long)]
    pub no_ipvs: bool,
    /// Control socket to listen on.
    #[arg(long, default_value = crate::control::DEFAULT_SOCKET)]
    pub control: PathBuf,
    /// shoal.toml: heartbeat protocol and key, metrics address, log format (optional at
    /// its default place).
    #[arg(long)]
    pub settings: Option<PathBuf>,
}

/// Where the daemon's control socket is.
#[derive(Debug, clap::Args)]
pub struct ControlArgs {
    /// Control socket of the running daemon.
    #[arg(long, default_value = crate::control::DEFAULT_SOCKET)]
    pub control: PathBuf,
}

/// Arguments of `shoal drain|undrain|down|up`.
#[derive(Debug, clap::Args)]
pub struct OverrideArgs {
    /// The real server's lvs.cf name, as `VS/RS` for one virtual server or `RS` for every
    /// virtual server that has it.
    pub server: String,
    /// Control socket of the running daemon.
    #[command(flatten)]
    pub control: ControlArgs,
}

/// Arguments of `shoal status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Print JSON instead of the ipvsadm-like table.
    #[arg(long)]
    pub json: bool,
    /// Control socket of the running daemon.
    #[command(flatten)]
    pub control: ControlArgs,
}

/// Arguments of `shoal check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The file to check.
    #[arg(default_value = DEFAULT_LVS_CF)]
    pub file: PathBuf,
    /// Output for people or for tools.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// `file:line:col: error: ...` lines and a summary.
    Human,
    /// One JSON document.
    Json,
}

/// Runs the command line and gives the process's exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Run(args) => daemon::run(&args),
        Command::Status(args) => daemon::status(&args),
        Command::Reload(args) => daemon::reload(&args),
        Command::Start(args) => daemon::service(&args, crate::control::Request::Start),
        Command::Stop(args) => daemon::service(&args, crate::control::Request::Stop),
        Command::Restart(args) => daemon::service(&args, crate::control::Request::Restart),
        Command::Drain(args) => daemon::set_override(&args, crate::control::Override::Drain),
        Command::Undrain(args) => daemon::set_override(&args, crate::control::Override::None),
        Command::Down(args) => daemon::set_override(&args, crate::control::Override::Down),
        Command::Up(args) => daemon::set_override(&args, crate::control::Override::Up),
        Command::SendArp(args) => send_arp::run(&args),
        Command::Nanny(args) => nanny::run(&args),
        Command::Sync(args) => sync::run(&args),
        Command::Web(args) => web::run(&args),
        Command::Passwd(args) => web::passwd(&args),
    }
}
