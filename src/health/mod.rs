//! Health monitoring: Piranha's nanny for every real server, inside `shoal run`.
//!
//! `check` turns a virtual server's lvs.cf keywords into one [`check::Check`] and runs a
//! single probe of it, dispatching to one file per check type (`tcp`, `udp`, `http`, `dns`,
//! `smtp`, `ping`, `program`) beside the `expect` matcher; `halfopen` does connect-only
//! TCP checks with a SYN on a raw socket instead of a full connect. `state` is Piranha's state
//! machine (first failure removes, `reentry` re-adds, slow start, quiesce, sorry server,
//! load-based weights) as pure logic; `monitor` runs the probes as tokio tasks, one per
//! distinct (check, target) however many virtual servers share it, and reports to the
//! supervisor, which alone changes the kernel.

pub mod check;
pub mod dns;
pub mod expect;
pub mod halfopen;
pub mod http;
pub mod monitor;
pub mod ping;
pub mod program;
pub mod smtp;
pub mod state;
pub mod tcp;
pub mod udp;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::Serialize;

/// The address and port a probe is sent to: the real server's, with the port it listens
/// on (the real server's `port`, else the virtual server's, else `monitor_port`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Target {
    /// The real server's address.
    pub address: IpAddr,
    /// The port the check connects to (unused by `ping`).
    pub port: u16,
}

impl Target {
    /// The socket address to connect to.
    pub fn socket(&self) -> SocketAddr {
        SocketAddr::new(self.address, self.port)
    }
}

/// What one probe found: the verdict, how long it took, and why, for the log, the status
/// and `shoal nanny`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeResult {
    /// Whether the real server passed.
    pub passed: bool,
    /// From the start of the probe to its verdict.
    pub latency: Duration,
    /// A short reason: what was expected and what came back, or the error.
    pub detail: String,
}
