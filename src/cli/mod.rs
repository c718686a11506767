//! The `shoal` command line: one binary, one subcommand per job Piranha spread over
//! several programs.

mod check;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

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
    }
}
