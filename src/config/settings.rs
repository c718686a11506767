//! `shoal.toml`: what lvs.cf has no words for (the heartbeat protocol and its key, the web
//! UI's address and allowed networks, the metrics address, the log format, how
//! connect-only TCP checks connect). lvs.cf stays
//! the one file that describes the load balancer; every key here has a default, so the
//! file is optional.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Where `shoal run` and `shoal web` look when `--settings` is not given.
pub const DEFAULT_SETTINGS: &str = "/etc/shoal/shoal.toml";

/// The heartbeat protocol spoken to the peer director.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HeartbeatProtocol {
    /// shoal's authenticated packet (both directors run shoal).
    #[default]
    Shoal,
    /// Piranha's 4-byte packet, to run next to a Piranha pulse while migrating.
    Pulse,
}

/// `[heartbeat]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Heartbeat {
    /// `protocol = "shoal" | "pulse"`.
    pub protocol: HeartbeatProtocol,
    /// The shared key authenticating heartbeats and config pushes; a missing file means no
    /// authentication (the daemon warns).
    pub key_file: PathBuf,
    /// Seconds a silent peer whose VIPs still answer ARP (its kernel serving, its shoal
    /// down) is waited for before this node takes over, so a crashed shoal restarted by
    /// systemd resets no connection; 0 takes over at `deadtime`, as Piranha did.
    pub restart_grace: u64,
}

/// The default `restart_grace`: systemd's `RestartSec` and a start, several times over.
pub const DEFAULT_RESTART_GRACE: u64 = 10;

impl Default for Heartbeat {
    fn default() -> Self {
        Heartbeat {
            protocol: HeartbeatProtocol::Shoal,
            key_file: PathBuf::from("/etc/shoal/peer.key"),
            restart_grace: DEFAULT_RESTART_GRACE,
        }
    }
}

/// `[metrics]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Metrics {
    /// `listen = "127.0.0.1:9636"`.
    pub listen: SocketAddr,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            listen: SocketAddr::from(([127, 0, 0, 1], 9636)),
        }
    }
}

/// How a connect-only TCP check (neither `send` nor `expect`) connects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TcpConnect {
    /// A SYN on a raw socket: a SYN-ACK passes, a RST fails; the local kernel resets the
    /// half-open connection, so the application never sees it. Full connects where no
    /// raw socket can be opened (no CAP_NET_RAW).
    #[default]
    HalfOpen,
    /// Piranha's full connect and close.
    Full,
}

/// `[health]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Health {
    /// `tcp_connect = "half-open" | "full"`.
    pub tcp_connect: TcpConnect,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable text.
    #[default]
    Text,
    /// One JSON object a line, for log collectors.
    Json,
}

/// `[log]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Log {
    /// `format = "text" | "json"`.
    pub format: LogFormat,
}

/// `[web]`: the UI of `shoal web`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Web {
    /// `listen = "0.0.0.0:3636"`: Piranha's port.
    pub listen: SocketAddr,
    /// `allow = ["192.0.2.0/24", "::1"]`: client networks that may connect at all; any
    /// other client's connection is closed before a byte is read. Empty: everyone.
    pub allow: Vec<String>,
    /// `tls_cert` and `tls_key` (PEM): serve HTTPS instead of HTTP when both are set.
    pub tls_cert: Option<PathBuf>,
    /// The private key for `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// The password file `shoal passwd` writes.
    pub password_file: PathBuf,
    /// A session ends after this many seconds without a request.
    pub session_idle: u64,
    /// A session ends this many seconds after the login, however busy.
    pub session_max: u64,
}

impl Default for Web {
    fn default() -> Self {
        Web {
            listen: SocketAddr::from(([0, 0, 0, 0], 3636)),
            allow: Vec::new(),
            tls_cert: None,
            tls_key: None,
            password_file: PathBuf::from("/etc/shoal/web.passwd"),
            session_idle: 1800,
            session_max: 43_200,
        }
    }
}

/// The whole `shoal.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// `[heartbeat]`.
    pub heartbeat: Heartbeat,
    /// `[metrics]`.
    pub metrics: Metrics,
    /// `[log]`.
    pub log: Log,
    /// `[web]`.
    pub web: Web,
    /// `[health]`.
    pub health: Health,
}

/// Why `shoal.toml` cannot be used, naming the file and the place.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file exists but cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has a wrong key or value.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// toml's message, with the line and column.
        message: String,
    },
}

impl Settings {
    /// Parses the text of a `shoal.toml`; `path` is only for messages.
    pub fn parse(text: &str, path: &str) -> Result<Self, SettingsError> {
        toml::from_str(text).map_err(|e| SettingsError::Invalid {
            path: path.to_string(),
            message: e.to_string().trim_end().to_string(),
        })
    }

    /// Reads `path`. The default file may be absent (every key has a default); a file
    /// named on the command line must exist.
    pub fn load(path: &Path, explicit: bool) -> Result<Self, SettingsError> {
        let shown = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text, &shown),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                Ok(Settings::default())
            }
            Err(source) => Err(SettingsError::Read {
                path: shown,
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_gives_the_defaults() {
        let s = Settings::parse("", "shoal.toml").unwrap();
        assert_eq!(s, Settings::default());
        assert_eq!(s.heartbeat.protocol, HeartbeatProtocol::Shoal);
        assert_eq!(s.metrics.listen.to_string(), "127.0.0.1:9636");
    }

    #[test]
    fn every_section_is_read() {
        let s = Settings::parse(
            "[heartbeat]\nprotocol = \"pulse\"\nkey_file = \"/k\"\n[metrics]\nlisten = \"0.0.0.0:9100\"\n[log]\nformat = \"json\"\n[health]\ntcp_connect = \"full\"\n",
            "shoal.toml",
        )
        .unwrap();
        assert_eq!(s.heartbeat.protocol, HeartbeatProtocol::Pulse);
        assert_eq!(s.heartbeat.key_file, PathBuf::from("/k"));
        assert_eq!(s.metrics.listen.port(), 9100);
        assert_eq!(s.log.format, LogFormat::Json);
        assert_eq!(s.health.tcp_connect, TcpConnect::Full);
    }

    #[test]
    fn connect_only_checks_are_half_open_unless_told() {
        assert_eq!(Settings::default().health.tcp_connect, TcpConnect::HalfOpen);
        let s = Settings::parse("[health]\ntcp_connect = \"half-open\"\n", "shoal.toml").unwrap();
        assert_eq!(s.health.tcp_connect, TcpConnect::HalfOpen);
        let e = Settings::parse("[health]\ntcp_connect = \"syn\"\n", "shoal.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("half-open") && e.contains("full"), "{e}");
    }

    #[test]
    fn a_wrong_key_names_the_file_and_the_line() {
        let e = Settings::parse(
            "[heartbeat]\nprotocl = \"pulse\"\n",
            "/etc/shoal/shoal.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("/etc/shoal/shoal.toml: "), "{e}");
        assert!(e.contains("line 2"), "{e}");
        assert!(e.contains("protocl"), "{e}");
    }

    #[test]
    fn the_sample_shows_the_defaults() {
        let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/shoal.toml");
        assert_eq!(Settings::load(&sample, true).unwrap(), Settings::default());
    }

    #[test]
    fn a_missing_default_file_is_fine_but_a_named_one_is_not() {
        let missing = Path::new("/nonexistent/shoal.toml");
        assert_eq!(Settings::load(missing, false).unwrap(), Settings::default());
        let e = Settings::load(missing, true).unwrap_err().to_string();
        assert!(e.contains("cannot read /nonexistent/shoal.toml"), "{e}");
    }
}
