//! `shoal check`: what `nginx -t` is to nginx, for lvs.cf.

use std::process::ExitCode;

use serde::Serialize;

use super::{CheckArgs, Format};
use crate::config::resolve::SystemResolver;
use crate::config::{self, Diagnostic, KernelFeatures, Loaded, Severity};

/// Exit code of a file that was read and refused.
const INVALID: u8 = 1;
/// Exit code of a file that could not be read at all.
const UNREADABLE: u8 = 2;

#[derive(Serialize)]
struct Report<'a> {
    file: String,
    valid: bool,
    virtual_servers: usize,
    real_servers: usize,
    errors: usize,
    warnings: usize,
    diagnostics: &'a [Diagnostic],
}

/// Checks the file and prints the findings and a one-line summary.
pub fn run(args: &CheckArgs) -> ExitCode {
    let shown = args.file.display().to_string();
    let loaded = match config::load_file(
        &args.file,
        &SystemResolver::new(),
        &KernelFeatures::detect(),
    ) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("shoal: cannot read {shown}: {e}");
            return ExitCode::from(UNREADABLE);
        }
    };
    let report = Report {
        file: shown,
        valid: !loaded.has_errors(),
        virtual_servers: loaded.config.virtual_servers.len(),
        real_servers: loaded.config.real_server_count(),
        errors: loaded.count(Severity::Error),
        warnings: loaded.count(Severity::Warning),
        diagnostics: &loaded.diagnostics,
    };
    match args.format {
        Format::Human => print_human(&report, &loaded),
        Format::Json => match serde_json::to_string_pretty(&report) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("shoal: cannot encode the report: {e}");
                return ExitCode::from(INVALID);
            }
        },
    }
    if report.valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(INVALID)
    }
}

fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

fn print_human(report: &Report, loaded: &Loaded) {
    for diagnostic in &loaded.diagnostics {
        println!("{}", diagnostic.render(&report.file));
    }
    let mut parts = Vec::new();
    if !report.valid {
        parts.push(plural(report.errors, "error"));
    }
    parts.push(plural(report.virtual_servers, "virtual server"));
    parts.push(plural(report.real_servers, "real server"));
    parts.push(plural(report.warnings, "warning"));
    let verdict = if report.valid { "" } else { "invalid, " };
    println!("{}: {verdict}{}", report.file, parts.join(", "));
}
