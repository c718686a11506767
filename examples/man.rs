//! Writes the man pages of `shoal` and of each subcommand (`shoal-run.1`, `shoal-sync-push.1`,
//! ...), generated from the command line's own definition so they never disagree with
//! `--help`, into `target/man/` or the directory given. scripts/package.sh runs it before
//! `cargo deb`, which ships the pages in /usr/share/man/man1.
//!
//! `cargo run --example man [DIR]`

use std::path::PathBuf;
use std::process::ExitCode;

use clap::CommandFactory;

fn main() -> ExitCode {
    let dir = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from("target/man"), PathBuf::from);
    let generated = std::fs::create_dir_all(&dir)
        .and_then(|()| clap_mangen::generate_to(shoal::cli::Cli::command(), &dir));
    match generated {
        Ok(()) => {
            println!("man pages in {}", dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("man: cannot write the pages to {}: {e}", dir.display());
            ExitCode::FAILURE
        }
    }
}
