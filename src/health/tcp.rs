//! Piranha's default check: connect, optionally send, optionally read and compare.
//!
//! The same exchange runs over SCTP for `protocol = sctp` services, with a one-to-one
//! (stream) SCTP socket, which reads and writes like a TCP stream once connected.

use std::io;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::Target;
use super::check::{Exchange, Outcome, ProbeError, Progress};
use super::expect::{read_reply, show};

/// The stream protocol a check connects with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// TCP.
    Tcp,
    /// SCTP (one-to-one style socket).
    Sctp,
}

/// Connects to `target`, writes `exchange.send`, and judges the reply by `exchange.expect`
/// (a connect-only check passes on connect).
pub async fn probe(
    exchange: &Exchange,
    target: Target,
    transport: Transport,
    progress: &Progress,
) -> Outcome {
    let matcher = exchange.expect.as_ref().map(|e| e.matcher()).transpose()?;
    progress.note_at("connecting to", target.socket());
    let mut stream = connect(target, transport).await?;
    if exchange.is_connect_only() {
        // Connect-only: the close when the stream drops sends the FIN the shutdown below
        // would (or a reset if the server sent something unread, as that close would
        // anyway), one system call fewer per check.
        return Ok("connected".to_string());
    }
    if let Some(send) = &exchange.send {
        progress.note("connected, sending");
        stream
            .write_all(send.as_bytes())
            .await
            .map_err(|e| ProbeError::io("send", e))?;
    }
    let detail = match &matcher {
        None => match &exchange.send {
            None => "connected".to_string(),
            Some(send) => format!("connected, sent {}", show(send.as_bytes())),
        },
        Some(matcher) => {
            progress.note("waiting for the reply");
            read_reply(&mut stream, matcher, progress).await?
        }
    };
    // Best effort: the verdict is made, a failing shutdown changes nothing.
    let _ = stream.shutdown().await;
    Ok(detail)
}

async fn connect(target: Target, transport: Transport) -> Result<TcpStream, ProbeError> {
    let connected = match transport {
        Transport::Tcp => TcpStream::connect(target.socket()).await,
        Transport::Sctp => connect_sctp(target).await,
    };
    connected.map_err(|e| ProbeError::io("connect", e))
}

/// A non-blocking SCTP connect, then the socket driven as a stream: tokio's own TCP
/// connect does the same (connect, wait until writable, read `SO_ERROR`).
async fn connect_sctp(target: Target) -> io::Result<TcpStream> {
    let address = target.socket();
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::from(libc::IPPROTO_SCTP)),
    )?;
    socket.set_nonblocking(true)?;
    match socket.connect(&SockAddr::from(address)) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    let stream = TcpStream::from_std(std::net::TcpStream::from(socket))?;
    stream.writable().await?;
    match stream.take_error()? {
        Some(error) => Err(error),
        None => Ok(stream),
    }
}
