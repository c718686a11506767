//! The control socket: how `shoal status`, `shoal reload` and the web UI talk to the
//! running daemon. One JSON request per connection, one JSON response back, on a Unix
//! socket whose file permissions decide who may ask.

pub mod monitor;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::health::state::Override;

use crate::ipvs::render::Names;
use crate::ipvs::types::{Info, Operation, ServiceState};
pub use monitor::MonitorReport;

/// Where the daemon listens unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/run/shoal/control.sock";

/// How the daemon's error answer to a request it cannot read begins: what a daemon older
/// than a request (`monitor`) answers to it, so a newer client can fall back.
pub const UNREADABLE_REQUEST: &str = "unreadable request";

/// What a client may ask.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "lowercase")]
pub enum Request {
    /// The daemon's state and the kernel table.
    Status,
    /// Re-read lvs.cf and apply the difference.
    Reload,
    /// Bring the service up again after `stop` (`shoal start`).
    Start,
    /// Take the service down while the process stays up (`shoal stop`): its services,
    /// addresses and checks go.
    Stop,
    /// `stop`, then `start` (`shoal restart`).
    Restart,
    /// Set or clear an operator override (`shoal drain|undrain|down|up`).
    Override {
        /// The virtual server; `None`: every virtual server that has the real server.
        service: Option<String>,
        /// The real server's lvs.cf name.
        server: String,
        /// What to force; `none` clears the override.
        action: Override,
    },
    /// The last hour of every virtual service, for the web UI's charts.
    History,
    /// What the web UI's CONTROL/MONITORING page draws: the state, the table with each
    /// real server's health and each service's hour, without the counters (see
    /// [`monitor`]).
    Monitor,
    /// The Prometheus text of `/metrics` (served by the daemon's metrics listener; also
    /// here so a scrape can be taken where only the socket is reachable).
    Metrics,
    /// Send the running lvs.cf to the peer director (the web UI's "Sync to backup";
    /// the daemon holds the pair's key, the UI does not).
    Push,
}

impl Request {
    /// The command's name, for logs and the `control_requests` metric.
    pub fn command(&self) -> &'static str {
        match self {
            Request::Status => "status",
            Request::Reload => "reload",
            Request::Start => "start",
            Request::Stop => "stop",
            Request::Restart => "restart",
            Request::Override { .. } => "override",
            Request::History => "history",
            Request::Monitor => "monitor",
            Request::Metrics => "metrics",
            Request::Push => "push",
        }
    }
}

/// The daemon's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "lowercase")]
pub enum Response {
    /// For `status`.
    Status(Box<StatusReport>),
    /// For `reload`.
    Reload(ReloadReport),
    /// For `start`, `stop`, `restart`.
    Service(ServiceReport),
    /// For an override: the pairs it was set on, as `VS/RS`.
    Override {
        /// The pairs changed.
        pairs: Vec<String>,
    },
    /// For `history`.
    History {
        /// One entry per virtual service in the kernel.
        services: Vec<crate::daemon::history::ServiceHistory>,
    },
    /// For `monitor`.
    Monitor(Box<MonitorReport>),
    /// For `metrics`.
    Metrics {
        /// OpenMetrics text.
        text: String,
    },
    /// For `push`: what the peer answered.
    Pushed {
        /// The peer's address and port.
        to: String,
        /// Whether the peer wrote and loaded the file.
        applied: bool,
        /// The peer's answer (`applied serial_no 5`, `refused: ...`).
        message: String,
    },
    /// The request could not be served.
    Error {
        /// Why.
        message: String,
    },
}

/// The state `shoal status` shows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusReport {
    /// `active` (single node) for now; HA adds the other states.
    pub state: String,
    /// Whether the daemon only logs what it would do.
    pub dry_run: bool,
    /// The lvs.cf in use.
    pub lvs_cf: PathBuf,
    /// Its `serial_no`.
    pub serial_no: u64,
    /// IPVS version and table size, when the kernel could be read.
    pub info: Option<Info>,
    /// The kernel table (or, in a dry run, the table the daemon would program).
    pub services: Vec<ServiceState>,
    /// lvs.cf names: one entry per service in `services`.
    pub names: Vec<Names>,
    /// Why the kernel could not be read, if it could not.
    pub kernel_error: Option<String>,
    /// Every monitored real server's health (empty when nothing is checked).
    #[serde(default)]
    pub health: Vec<ServerHealth>,
    /// The heartbeat's view (role, peer, counters, config match); `None` without a peer.
    #[serde(default)]
    pub failover: Option<serde_json::Value>,
}

/// The outcome of `start`, `stop` or `restart`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceReport {
    /// The state afterwards: `active` or `stopped`.
    pub state: String,
    /// How many kernel operations it sent.
    pub operations: usize,
    /// What failed.
    pub errors: Vec<String>,
}

/// One real server's health as `shoal status` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ServerHealth {
    /// The virtual server.
    pub service: String,
    /// The real server.
    pub server: String,
    /// up, slow-start, failing, down, rising or unknown.
    pub health: String,
    /// The weight it should have in the kernel, `None` when it should be out.
    pub weight: Option<u32>,
    /// The operator's override, `none` when it follows the checks.
    pub operator: String,
    /// The last probe's latency in milliseconds.
    pub latency_ms: Option<f64>,
    /// Failed probes in a row.
    pub failures: u32,
    /// No probe result for 3 intervals: the checker itself is stuck.
    pub stalled: bool,
    /// What the last probe found.
    pub detail: String,
}

/// The outcome of a reload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReloadReport {
    /// Whether the new file was taken.
    pub applied: bool,
    /// `serial_no` now in use.
    pub serial_no: u64,
    /// The kernel operations the reload sent (or would send, in a dry run).
    pub operations: Vec<Operation>,
    /// Errors that kept the old configuration, or kernel errors.
    pub errors: Vec<String>,
    /// Warnings about the new file.
    pub warnings: Vec<String>,
}

/// Why a request to the daemon failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The daemon is not listening there.
    #[error("cannot reach the shoal daemon at {path}: {source} (is 'shoal run' running?)")]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The exchange broke.
    #[error("talking to the shoal daemon at {path}: {detail}")]
    Exchange {
        /// The socket path.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
}

/// Sends one request and waits for the answer (the CLI's side).
pub fn request(
    path: &Path,
    request: &Request,
    timeout: Duration,
) -> Result<Response, ControlError> {
    let exchange = |detail: String| ControlError::Exchange {
        path: path.to_path_buf(),
        detail,
    };
    let mut stream = UnixStream::connect(path).map_err(|source| ControlError::Connect {
        path: path.to_path_buf(),
        source,
    })?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| exchange(e.to_string()))?;
    let mut line = serde_json::to_string(request).map_err(|e| exchange(e.to_string()))?;
    line.push('\n');
    stream
        .write_all(line.as_bytes())
        .map_err(|e| exchange(e.to_string()))?;
    let mut answer = String::new();
    BufReader::with_capacity(64 * 1024, stream)
        .read_line(&mut answer)
        .map_err(|e| exchange(e.to_string()))?;
    decode(&answer).map_err(|e| exchange(format!("unreadable answer: {e}")))
}

/// The start of a status answer: serde writes an internally tagged enum's tag first.
const STATUS_TAG: &str = r#"{"result":"status","#;
/// The start of a monitor answer.
const MONITOR_TAG: &str = r#"{"result":"monitor","#;

/// Reads one answer line. A status or monitor answer (megabytes for a large table) is
/// read straight into its report: through [`Response`] serde would first buffer the whole
/// object to find the `result` tag, which took three times as long as the decoding
/// itself (50 of 65 ms for a status of 1,000 x 10 servers). Any other answer, or one
/// written in another order, goes the general way.
pub fn decode(line: &str) -> Result<Response, serde_json::Error> {
    if line.starts_with(STATUS_TAG) {
        return serde_json::from_str::<StatusReport>(line)
            .map(|report| Response::Status(Box::new(report)));
    }
    if line.starts_with(MONITOR_TAG) {
        return serde_json::from_str::<MonitorReport>(line)
            .map(|report| Response::Monitor(Box::new(report)));
    }
    serde_json::from_str(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_one_json_line() {
        assert_eq!(
            serde_json::to_string(&Request::Status).expect("json"),
            r#"{"command":"status"}"#
        );
        let back: Request = serde_json::from_str(r#"{"command":"reload"}"#).expect("parses");
        assert_eq!(back, Request::Reload);
    }

    fn status_report() -> StatusReport {
        StatusReport {
            state: "active".into(),
            dry_run: true,
            lvs_cf: PathBuf::from("/etc/sysconfig/ha/lvs.cf"),
            serial_no: 9,
            info: None,
            services: Vec::new(),
            names: Vec::new(),
            kernel_error: Some("no IPVS".into()),
            health: Vec::new(),
            failover: Some(serde_json::json!({"state": {"role": "primary"}})),
        }
    }

    #[test]
    fn a_status_answer_decodes_the_fast_way_and_the_general_way_alike() {
        let line =
            serde_json::to_string(&Response::Status(Box::new(status_report()))).expect("json");
        assert!(line.starts_with(STATUS_TAG), "{line}");
        let fast = decode(&line).expect("decodes");
        // The same answer with the tag elsewhere takes the general path.
        let moved = format!(
            "{{{},\"result\":\"status\"}}",
            line.strip_prefix(STATUS_TAG)
                .and_then(|l| l.strip_suffix('}'))
                .expect("shape")
        );
        assert!(!moved.starts_with(STATUS_TAG));
        let general = decode(&moved).expect("decodes");
        for answer in [fast, general] {
            let Response::Status(report) = answer else {
                panic!("a status answer: {answer:?}");
            };
            assert_eq!(
                (report.state.as_str(), report.serial_no, report.dry_run),
                ("active", 9, true)
            );
            assert_eq!(report.kernel_error.as_deref(), Some("no IPVS"));
            assert_eq!(report.failover, status_report().failover);
        }
    }

    #[test]
    fn a_monitor_answer_decodes_the_fast_way_and_the_general_way_alike() {
        let report = MonitorReport {
            state: "active".into(),
            dry_run: false,
            serial_no: 4,
            kernel_error: None,
            failover: None,
            services: Vec::new(),
        };
        let line = serde_json::to_string(&Response::Monitor(Box::new(report))).expect("json");
        assert!(line.starts_with(MONITOR_TAG), "{line}");
        let general: Response = serde_json::from_str(&line).expect("decodes");
        for answer in [decode(&line).expect("decodes"), general] {
            assert!(
                matches!(&answer, Response::Monitor(r) if r.serial_no == 4 && r.state == "active"),
                "{answer:?}"
            );
        }
    }

    #[test]
    fn other_answers_decode_as_before() {
        let line = serde_json::to_string(&Response::Error {
            message: "already stopped".into(),
        })
        .expect("json");
        assert!(matches!(
            decode(&line).expect("decodes"),
            Response::Error { message } if message == "already stopped"
        ));
        let line = r#"{"result":"override","pairs":["http/web1"]}"#;
        assert!(matches!(
            decode(line).expect("decodes"),
            Response::Override { pairs } if pairs == ["http/web1"]
        ));
        assert!(decode(r#"{"result":"status","state":1}"#).is_err());
        assert!(decode("not json").is_err());
    }
}
