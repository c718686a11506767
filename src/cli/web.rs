//! `shoal web` and `shoal passwd`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::settings::{DEFAULT_SETTINGS, Settings};
use crate::web::password::{DEFAULT_USER, PasswordFile};

/// Arguments of `shoal web`.
#[derive(Debug, clap::Args)]
pub struct WebArgs {
    /// The lvs.cf the UI edits.
    #[arg(short = 'c', long = "config", default_value = super::DEFAULT_LVS_CF)]
    pub lvs_cf: PathBuf,
    /// Control socket of the daemon the UI drives.
    #[arg(long, default_value = crate::control::DEFAULT_SOCKET)]
    pub control: PathBuf,
    /// shoal.toml: `[web]` listen address, allowed networks, TLS, password file.
    #[arg(long)]
    pub settings: Option<PathBuf>,
    /// Listen here instead of `[web] listen` (e.g. 127.0.0.1:0 for a free port; the
    /// address taken is printed).
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
}

/// Arguments of `shoal passwd`.
#[derive(Debug, clap::Args)]
pub struct PasswdArgs {
    /// Whose password (Piranha's user is `piranha`).
    #[arg(long, default_value = DEFAULT_USER)]
    pub user: String,
    /// shoal.toml, for `[web] password_file`.
    #[arg(long)]
    pub settings: Option<PathBuf>,
    /// The password file, instead of `[web] password_file`.
    #[arg(long)]
    pub file: Option<PathBuf>,
}

fn settings(path: &Option<PathBuf>) -> Result<Settings, ExitCode> {
    let (path, explicit) = match path {
        Some(path) => (path.clone(), true),
        None => (PathBuf::from(DEFAULT_SETTINGS), false),
    };
    Settings::load(&path, explicit).map_err(|e| {
        eprintln!("shoal: {e}");
        ExitCode::from(2)
    })
}

/// Runs the UI until interrupted.
pub fn run(args: &WebArgs) -> ExitCode {
    let mut settings = match settings(&args.settings) {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    if let Some(listen) = args.listen {
        settings.web.listen = listen;
    }
    crate::cli::logging::init(settings.log.format);
    if unsafe { libc::geteuid() } == 0 {
        tracing::warn!(
            "shoal web is running as root; it needs no privilege (run it as its own user, as systemd/shoal-web.service does)"
        );
    }
    let options = crate::web::Options {
        lvs_cf: args.lvs_cf.clone(),
        control: args.control.clone(),
        settings: settings.web,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("shoal: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let (address, serving) = match crate::web::bind(options).await {
            Ok(bound) => bound,
            Err(e) => {
                eprintln!("shoal: {e}");
                return ExitCode::FAILURE;
            }
        };
        println!("shoal web: listening on {address}");
        let _ = std::io::stdout().flush();
        tokio::select! {
            () = serving => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        ExitCode::SUCCESS
    })
}

/// Sets a password, read from the terminal (twice) or from stdin's first line.
pub fn passwd(args: &PasswdArgs) -> ExitCode {
    let file = match &args.file {
        Some(file) => file.clone(),
        None => match settings(&args.settings) {
            Ok(settings) => settings.web.password_file,
            Err(code) => return code,
        },
    };
    let password = match read_password() {
        Ok(password) => password,
        Err(e) => {
            eprintln!("shoal: {e}");
            return ExitCode::FAILURE;
        }
    };
    match PasswordFile::new(&file).set(&args.user, &password) {
        Ok(()) => {
            eprintln!("password of '{}' set in {}", args.user, file.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("shoal: {e}");
            ExitCode::FAILURE
        }
    }
}

fn read_password() -> Result<String, String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
        return Ok(line.trim_end_matches(['\n', '\r']).to_string());
    }
    let first = prompt("New password: ")?;
    let second = prompt("Again: ")?;
    if first != second {
        return Err("the two passwords differ; nothing was changed".into());
    }
    Ok(first)
}

/// Reads a line from the terminal with echo off.
fn prompt(text: &str) -> Result<String, String> {
    eprint!("{text}");
    let fd = libc::STDIN_FILENO;
    // SAFETY: termios is plain data; tcgetattr fills it for a terminal fd.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    let have_termios = unsafe { libc::tcgetattr(fd, &mut saved) } == 0;
    if have_termios {
        let mut quiet = saved;
        quiet.c_lflag &= !libc::ECHO;
        // SAFETY: a valid termios for the same terminal.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    }
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    if have_termios {
        // SAFETY: restores what tcgetattr returned.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    }
    eprintln!();
    read.map_err(|e| format!("cannot read the password: {e}"))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
