//! `shoal run`, `shoal status` and `shoal reload`: the daemon and the commands that
//! talk to it over the control socket.

use std::process::ExitCode;
use std::time::Duration;

use super::{ControlArgs, OverrideArgs, RunArgs, StatusArgs};
use crate::config::settings::{DEFAULT_SETTINGS, Settings};
use crate::control::{self, Request, Response};
use crate::daemon::{self, Options};
use crate::ipvs::render;

/// Long enough for a reload of a large table under load.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the daemon in the foreground.
pub fn run(args: &RunArgs) -> ExitCode {
    let explicit = args.settings.is_some();
    let path = args
        .settings
        .clone()
        .unwrap_or_else(|| DEFAULT_SETTINGS.into());
    let settings = match Settings::load(&path, explicit) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("shoal: {e}");
            return ExitCode::FAILURE;
        }
    };
    super::logging::init(settings.log.format);
    let options = Options {
        lvs_cf: args.lvs_cf.clone(),
        control: Some(args.control.clone()),
        dry_run: args.dry_run,
        force_active: args.force_active,
        no_checks: args.no_checks,
        no_ipvs: args.no_ipvs,
        settings,
    };
    match daemon::run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shoal: {e}");
            ExitCode::FAILURE
        }
    }
}

fn ask(control: &ControlArgs, request: Request) -> Result<Response, ExitCode> {
    control::request(&control.control, &request, CONTROL_TIMEOUT).map_err(|e| {
        eprintln!("shoal: {e}");
        ExitCode::FAILURE
    })
}

/// Prints the daemon's state and the kernel table in ipvsadm's layout with names.
pub fn status(args: &StatusArgs) -> ExitCode {
    let report = match ask(&args.control, Request::Status) {
        Ok(Response::Status(report)) => report,
        Ok(other) => return unexpected(other),
        Err(code) => return code,
    };
    if args.json {
        return match serde_json::to_string_pretty(&report) {
            Ok(text) => {
                println!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("shoal: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let mode = if report.dry_run { " (dry run)" } else { "" };
    println!(
        "shoal: {}{mode}, {} serial_no {}",
        report.state,
        report.lvs_cf.display(),
        report.serial_no
    );
    if let Some(e) = &report.kernel_error {
        println!("kernel table unreadable: {e}");
    }
    print!(
        "{}",
        render::table(report.info.as_ref(), &report.services, &report.names)
    );
    print_health(&report.health);
    if let Some(failover) = &report.failover {
        print_failover(failover);
    }
    ExitCode::SUCCESS
}

/// The heartbeat's view in two lines: this node and the peer.
fn print_failover(failover: &serde_json::Value) {
    let text = |pointer: &str| {
        failover
            .pointer(pointer)
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .unwrap_or_else(|| "?".into())
    };
    let matches = match failover
        .pointer("/config_matches")
        .and_then(|v| v.as_bool())
    {
        Some(true) => "the same lvs.cf",
        Some(false) => "ANOTHER lvs.cf",
        None => "an lvs.cf not known",
    };
    let alive = match failover.pointer("/peer/alive").and_then(|v| v.as_bool()) {
        Some(true) => "alive",
        _ => "SILENT",
    };
    println!(
        "Failover: {} director, {} heartbeat{}",
        text("/state/role"),
        text("/protocol"),
        match failover.pointer("/authenticated").and_then(|v| v.as_bool()) {
            Some(true) => ", authenticated",
            _ => ", NOT authenticated",
        }
    );
    println!(
        "  peer {}: {alive}, serial_no {}, running {matches}",
        text("/peer/addresses/public"),
        text("/peer/config_serial"),
    );
    if failover.pointer("/hold/holding").and_then(|v| v.as_bool()) == Some(true) {
        println!(
            "  HOLDING OFF the takeover: the peer's heartbeat has been silent for {} ms but its addresses still answer (its shoal is down, its kernel serving, its real servers unchecked); taking over after restart_grace",
            text("/hold/silent_ms")
        );
    }
}

/// One line per monitored real server, after the table.
fn print_health(health: &[control::ServerHealth]) {
    if health.is_empty() {
        return;
    }
    println!("Health:");
    for h in health {
        let weight = h
            .weight
            .map_or("out".to_string(), |w| format!("weight {w}"));
        let latency = h
            .latency_ms
            .map_or(String::new(), |l| format!(" {l:.1} ms"));
        let operator = match h.operator.as_str() {
            "none" => String::new(),
            other => format!(" override {other}"),
        };
        let stalled = if h.stalled { " STALLED" } else { "" };
        println!(
            "  {}/{}: {} ({weight}){latency}{operator}{stalled}: {}",
            h.service, h.server, h.health, h.detail
        );
    }
}

/// `shoal start|stop|restart`: prints the state afterwards.
pub fn service(args: &ControlArgs, request: Request) -> ExitCode {
    match ask(args, request) {
        Ok(Response::Service(report)) => {
            for error in &report.errors {
                eprintln!("{error}");
            }
            println!("{} ({} operations)", report.state, report.operations);
            if report.errors.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Ok(other) => unexpected(other),
        Err(code) => code,
    }
}

/// Sets or clears an operator override and prints the pairs it touched.
pub fn set_override(args: &OverrideArgs, action: control::Override) -> ExitCode {
    let (service, server) = match args.server.split_once('/') {
        Some((service, server)) => (Some(service.to_string()), server.to_string()),
        None => (None, args.server.clone()),
    };
    let request = Request::Override {
        service,
        server,
        action,
    };
    match ask(&args.control, request) {
        Ok(Response::Override { pairs }) => {
            for pair in pairs {
                println!("{pair}: {action:?}");
            }
            ExitCode::SUCCESS
        }
        Ok(other) => unexpected(other),
        Err(code) => code,
    }
}

/// Asks the daemon to reload and prints what it did.
pub fn reload(args: &ControlArgs) -> ExitCode {
    let report = match ask(args, Request::Reload) {
        Ok(Response::Reload(report)) => report,
        Ok(other) => return unexpected(other),
        Err(code) => return code,
    };
    for warning in &report.warnings {
        println!("{warning}");
    }
    for operation in &report.operations {
        println!("{operation}");
    }
    for error in &report.errors {
        eprintln!("{error}");
    }
    if report.applied && report.errors.is_empty() {
        println!(
            "reloaded: serial_no {}, {} operations",
            report.serial_no,
            report.operations.len()
        );
        ExitCode::SUCCESS
    } else if report.applied {
        eprintln!("reloaded with {} kernel errors", report.errors.len());
        ExitCode::FAILURE
    } else {
        eprintln!(
            "not reloaded: the running configuration (serial_no {}) is kept",
            report.serial_no
        );
        ExitCode::FAILURE
    }
}

fn unexpected(response: Response) -> ExitCode {
    match response {
        Response::Error { message } => eprintln!("shoal: the daemon says: {message}"),
        other => eprintln!("shoal: unexpected answer from the daemon: {other:?}"),
    }
    ExitCode::FAILURE
}
