//! Piranha's `--udp` check: a datagram to the real server and its reply.
//!
//! UDP has no handshake, so shoal's rules are:
//! - the `send` bytes go out as one datagram; without `send`, an empty datagram does (the
//!   only way to learn anything about a UDP port is to send to it);
//! - with `expect`, the first reply datagram must match it (bytes, at most 255 looked at
//!   for a regex), and silence until the timeout fails;
//! - without `expect`, a reply passes at once, an ICMP port unreachable (which the kernel
//!   reports as "connection refused" on the connected socket) fails, and silence for
//!   half the timeout passes: that is how a healthy service that ignores the datagram
//!   behaves, while a closed port answers with ICMP within a round trip.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;

use super::Target;
use super::check::{Exchange, Outcome, ProbeError, Progress};
use super::expect::{Verdict, show};

/// Larger than any reply worth judging; a longer datagram is cut by the kernel.
const DATAGRAM_BUFFER: usize = 4096;

/// Sends one datagram and judges the reply by the rules above; `timeout` is the probe's,
/// of which a check without `expect` waits half for an ICMP error.
pub async fn probe(
    exchange: &Exchange,
    target: Target,
    timeout: Duration,
    progress: &Progress,
) -> Outcome {
    let matcher = exchange.expect.as_ref().map(|e| e.matcher()).transpose()?;
    let socket = connected_socket(target).await?;
    let payload = exchange.send.as_deref().unwrap_or("").as_bytes();
    socket
        .send(payload)
        .await
        .map_err(|e| ProbeError::io("send", e))?;
    progress.note(format!("sent {}, waiting for a reply", show(payload)));
    let mut buffer = vec![0u8; DATAGRAM_BUFFER];
    let Some(matcher) = matcher else {
        return match tokio::time::timeout(timeout / 2, socket.recv(&mut buffer)).await {
            Ok(Ok(n)) => Ok(format!("reply {}", show(&buffer[..n]))),
            Ok(Err(e)) => Err(ProbeError::io("receive", e)),
            Err(_) => Ok(format!(
                "no reply and no ICMP error within {}",
                super::check::Seconds(timeout / 2)
            )),
        };
    };
    let n = socket
        .recv(&mut buffer)
        .await
        .map_err(|e| ProbeError::io("receive", e))?;
    match matcher.judge(&buffer[..n], true) {
        Verdict::Pass(detail) => Ok(detail),
        Verdict::Fail(detail) => Err(ProbeError::Mismatch(detail)),
        // A whole datagram is complete, so the matcher always decides.
        Verdict::More => Err(ProbeError::Mismatch("reply not decided".to_string())),
    }
}

/// A UDP socket of the target's family connected to it, so only its replies (and its
/// ICMP errors) are received; DNS probes use it too.
pub(super) async fn connected_socket(target: Target) -> Result<UdpSocket, ProbeError> {
    let local = match target.address {
        IpAddr::V4(_) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        IpAddr::V6(_) => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
    };
    let socket = UdpSocket::bind(local)
        .await
        .map_err(|e| ProbeError::io("bind", e))?;
    socket
        .connect(target.socket())
        .await
        .map_err(|e| ProbeError::io("connect", e))?;
    Ok(socket)
}
