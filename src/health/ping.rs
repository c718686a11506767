//! `monitor = ping`: one ICMP (or ICMPv6) echo to the real server.
//!
//! An ICMP socket needs root, `CAP_NET_RAW`, or the process's group within
//! `net.ipv4.ping_group_range`; without any of them the probe fails with a detail that
//! says so, rather than panicking or pretending the server is down for another reason.

use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use surge_ping::{Client, Config, ICMP, PingIdentifier, PingSequence, SurgeError};

use super::Target;
use super::check::{Outcome, ProbeError, Progress, Seconds};

/// The echo payload: recognisable in a packet capture.
const PAYLOAD: &[u8] = b"shoal health ping";

/// Identifiers for raw sockets, distinct between concurrent probes of one process (an
/// unprivileged ICMP datagram socket gets its identifier from the kernel instead).
static NEXT_IDENTIFIER: AtomicU16 = AtomicU16::new(0);

/// Sends one echo request to `target.address` and waits up to `timeout` for the reply.
pub async fn probe(target: Target, timeout: Duration, progress: &Progress) -> Outcome {
    let config = match target.address {
        IpAddr::V4(_) => Config::default(),
        IpAddr::V6(_) => Config::builder().kind(ICMP::V6).build(),
    };
    let client = Client::new(&config).map_err(socket_error)?;
    let identifier = NEXT_IDENTIFIER
        .fetch_add(1, Ordering::Relaxed)
        .wrapping_add(std::process::id() as u16);
    let mut pinger = client
        .pinger(target.address, PingIdentifier(identifier))
        .await;
    pinger.timeout(timeout);
    progress.note(format!("echo request sent to {}", target.address));
    match pinger.ping(PingSequence(0), PAYLOAD).await {
        Ok((_, rtt)) => Ok(format!("echo reply in {}", Seconds(rtt))),
        Err(SurgeError::Timeout { .. }) => Err(ProbeError::Mismatch(format!(
            "no echo reply within {}",
            Seconds(timeout)
        ))),
        Err(SurgeError::IOError(e)) => Err(ProbeError::io("send", e)),
        Err(e) => Err(ProbeError::Protocol(e.to_string())),
    }
}

fn socket_error(error: io::Error) -> ProbeError {
    if error.kind() == io::ErrorKind::PermissionDenied {
        return ProbeError::Config(
            "not permitted to open an ICMP socket (needs root, CAP_NET_RAW or net.ipv4.ping_group_range)"
                .to_string(),
        );
    }
    ProbeError::io("ICMP socket", error)
}
