//! `shoal sync push`: send this node's lvs.cf to the peer director's daemon (SPEC 6.7),
//! instead of the `scp` the Red Hat guide prescribes. The protocol is in
//! [`crate::ha::sync`].

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;

use crate::config::model::GlobalSettings;
use crate::config::resolve::SystemResolver;
use crate::config::settings::{DEFAULT_SETTINGS, Settings};
use crate::config::{self, KernelFeatures};
use crate::ha::{self, HeartbeatKey, sync};

/// Arguments of `shoal sync`.
#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: SyncCommand,
}

/// The `shoal sync` subcommands.
#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Send this node's lvs.cf to the peer's daemon, which checks it, refuses it unless
    /// its serial_no is newer than its own, writes it (keeping lvs.cf.bak) and reloads.
    Push(PushArgs),
}

/// Arguments of `shoal sync push`.
#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// The lvs.cf to push.
    #[arg(short = 'c', long = "config", default_value = super::DEFAULT_LVS_CF)]
    pub lvs_cf: PathBuf,
    /// shoal.toml, for the pair's key (heartbeat.key_file).
    #[arg(long)]
    pub settings: Option<PathBuf>,
    /// The peer's address; by default the other director named in lvs.cf (the backup on
    /// the primary, the primary on the backup).
    #[arg(long)]
    pub to: Option<IpAddr>,
    /// The peer's TCP port; by default lvs.cf's heartbeat_port.
    #[arg(long)]
    pub port: Option<u16>,
    /// Seconds to wait for each step (connect, send, answer).
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
}

/// Why a push did not reach the peer, as one line for stderr.
#[derive(Debug, thiserror::Error)]
enum PushFailure {
    #[error("{0}")]
    Settings(#[from] config::settings::SettingsError),
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is invalid, not pushed:\n{errors}")]
    Invalid { path: String, errors: String },
    #[error(
        "no peer key at {path}: a push must be authenticated and the peer refuses any other; \
         create the same key on both directors (`head -c 32 /dev/urandom > {path} && chmod 600 {path}`)"
    )]
    NoKey { path: String },
    #[error("{0}")]
    Key(#[from] ha::KeyError),
    #[error("{0}; name the peer with --to")]
    Peer(String),
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    #[error("{0}")]
    Push(#[from] sync::PushError),
}

/// Pushes and prints the peer's answer: exit 0 when it applied the file, 1 otherwise.
pub fn run(args: &SyncArgs) -> ExitCode {
    match &args.command {
        SyncCommand::Push(push) => match run_push(push) {
            Ok((to, reply)) if reply.applied => {
                println!("{to}: {reply}");
                ExitCode::SUCCESS
            }
            Ok((to, reply)) => {
                eprintln!("shoal: {to}: {reply}");
                ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("shoal: sync push: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn run_push(args: &PushArgs) -> Result<(SocketAddr, sync::Reply), PushFailure> {
    let settings = load_settings(args)?;
    let (content, global) = read_checked(args)?;
    let key = load_key(&settings)?;
    let to = SocketAddr::new(
        match args.to {
            Some(address) => address,
            None => peer_address(&global)?,
        },
        args.port.unwrap_or(global.heartbeat_port),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(PushFailure::Runtime)?;
    let timeout = Duration::from_secs(args.timeout.max(1));
    let reply = runtime.block_on(sync::push(to, &key, global.serial_no, &content, timeout))?;
    Ok((to, reply))
}

fn load_settings(args: &PushArgs) -> Result<Settings, PushFailure> {
    let explicit = args.settings.is_some();
    let path = args
        .settings
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SETTINGS));
    Ok(Settings::load(&path, explicit)?)
}

/// The file's bytes and global section; an invalid file is not pushed (the peer would
/// refuse it anyway, and the errors are better read here).
fn read_checked(args: &PushArgs) -> Result<(Vec<u8>, GlobalSettings), PushFailure> {
    let path = args.lvs_cf.display().to_string();
    let content = std::fs::read(&args.lvs_cf).map_err(|source| PushFailure::Read {
        path: path.clone(),
        source,
    })?;
    let loaded = config::check(&content, &SystemResolver::new(), &KernelFeatures::unknown());
    if loaded.has_errors() {
        let errors: Vec<String> = loaded
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.render(&path))
            .collect();
        return Err(PushFailure::Invalid {
            path,
            errors: errors.join("\n"),
        });
    }
    Ok((content, loaded.config.global))
}

fn load_key(settings: &Settings) -> Result<HeartbeatKey, PushFailure> {
    let path = &settings.heartbeat.key_file;
    if !path.exists() {
        return Err(PushFailure::NoKey {
            path: path.display().to_string(),
        });
    }
    Ok(HeartbeatKey::from_file(path)?)
}

/// The other director, as lvs.cf and this node's addresses say.
fn peer_address(global: &GlobalSettings) -> Result<IpAddr, PushFailure> {
    let local = ha::local_addresses()
        .map_err(|e| PushFailure::Peer(format!("cannot list this node's addresses: {e}")))?;
    ha::peer_address(global, &local).map_err(PushFailure::Peer)
}
