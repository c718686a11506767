//! Loopback servers for the health check tests: each binds an ephemeral port on
//! 127.0.0.1 (or ::1), serves in a task of the test's runtime, and dies with it.

#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use shoal::health::Target;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// 127.0.0.1.
pub const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// The probe target for a local address.
pub fn target(address: SocketAddr) -> Target {
    Target {
        address: address.ip(),
        port: address.port(),
    }
}

/// A loopback port nothing listens on: bound, then released.
pub async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind((LOOPBACK, 0)).await.expect("bind");
    listener.local_addr().expect("address")
}

/// What a TCP test server does with each connection.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Reads the request (up to `read` bytes, or nothing), then writes the reply after
    /// `delay` and keeps the connection open for a while.
    Reply {
        read: usize,
        delay: Duration,
        reply: Vec<u8>,
    },
    /// Writes `greeting` at once, then reads up to `read` bytes of what comes back.
    Greet { greeting: Vec<u8>, read: usize },
    /// Accepts and never answers.
    Silent,
    /// Closes the connection at once.
    Close,
}

impl Behaviour {
    /// Writes `reply` at once, without reading.
    pub fn greet(reply: impl Into<Vec<u8>>) -> Behaviour {
        Behaviour::Reply {
            read: 0,
            delay: Duration::ZERO,
            reply: reply.into(),
        }
    }

    /// Reads up to `read` bytes of request, then answers `reply`.
    pub fn answer(read: usize, reply: impl Into<Vec<u8>>) -> Behaviour {
        Behaviour::Reply {
            read,
            delay: Duration::ZERO,
            reply: reply.into(),
        }
    }

    /// Answers `reply` after `delay`.
    pub fn slow(delay: Duration, reply: impl Into<Vec<u8>>) -> Behaviour {
        Behaviour::Reply {
            read: 0,
            delay,
            reply: reply.into(),
        }
    }
}

/// A TCP server on `address` behaving as told, sending what each connection wrote
/// first (up to the `read` bound) to the returned channel.
pub async fn tcp_server_on(
    address: SocketAddr,
    behaviour: Behaviour,
) -> (SocketAddr, mpsc::UnboundedReceiver<Vec<u8>>) {
    let listener = TcpListener::bind(address).await.expect("bind");
    let local = listener.local_addr().expect("address");
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let behaviour = behaviour.clone();
            let sender = sender.clone();
            tokio::spawn(async move {
                match behaviour {
                    Behaviour::Silent => {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                    }
                    Behaviour::Close => drop(stream),
                    Behaviour::Greet { greeting, read } => {
                        let _ = stream.write_all(&greeting).await;
                        let _ = sender.send(read_some(&mut stream, read).await);
                    }
                    Behaviour::Reply { read, delay, reply } => {
                        let request = read_some(&mut stream, read).await;
                        let _ = sender.send(request);
                        tokio::time::sleep(delay).await;
                        let _ = stream.write_all(&reply).await;
                        tokio::time::sleep(Duration::from_secs(5)).await;
                    }
                }
            });
        }
    });
    (local, receiver)
}

/// A TCP server on an ephemeral loopback port; see [`tcp_server_on`].
pub async fn tcp_server(behaviour: Behaviour) -> (SocketAddr, mpsc::UnboundedReceiver<Vec<u8>>) {
    tcp_server_on(SocketAddr::new(LOOPBACK, 0), behaviour).await
}

/// Reads until `limit` bytes arrived or the peer paused for 100 ms.
async fn read_some<S: AsyncRead + Unpin>(stream: &mut S, limit: usize) -> Vec<u8> {
    let mut request = Vec::new();
    let mut chunk = [0u8; 1024];
    while request.len() < limit {
        let want = (limit - request.len()).min(chunk.len());
        match tokio::time::timeout(Duration::from_millis(100), stream.read(&mut chunk[..want]))
            .await
        {
            Ok(Ok(n)) if n > 0 => request.extend_from_slice(&chunk[..n]),
            _ => break,
        }
    }
    request
}

/// An HTTP/1.x response with `status` (`200 OK`), extra header lines and `body`.
pub fn http_response(status: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut response = format!(
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n{headers}\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(body);
    response
}

/// Reads an HTTP request head (to the blank line, at most 16 KiB).
async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> Vec<u8> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
        match stream.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    head
}

async fn serve_http<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    response: &[u8],
    sender: &mpsc::UnboundedSender<String>,
) {
    let head = read_head(&mut stream).await;
    let _ = sender.send(String::from_utf8_lossy(&head).into_owned());
    let _ = stream.write_all(response).await;
    let _ = stream.shutdown().await;
}

/// An HTTP server answering every request with `response`, sending each request head
/// to the returned channel.
pub async fn http_server(response: Vec<u8>) -> (SocketAddr, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind((LOOPBACK, 0)).await.expect("bind");
    let local = listener.local_addr().expect("address");
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let sender = sender.clone();
            let response = response.clone();
            tokio::spawn(async move { serve_http(stream, &response, &sender).await });
        }
    });
    (local, receiver)
}

/// An HTTPS server with a freshly generated self-signed certificate for `localhost` and
/// 127.0.0.1, answering every request with `response`.
pub async fn https_server(response: Vec<u8>) -> (SocketAddr, mpsc::UnboundedReceiver<String>) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("self-signed certificate");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let chain: Vec<CertificateDer<'static>> = vec![certified.cert.der().clone()];
    let config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server config");
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind((LOOPBACK, 0)).await.expect("bind");
    let local = listener.local_addr().expect("address");
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let sender = sender.clone();
            let response = response.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(stream).await {
                    serve_http(tls, &response, &sender).await;
                }
            });
        }
    });
    (local, receiver)
}

/// A UDP server answering each datagram with `reply(datagram)` (no answer for `None`).
pub async fn udp_server<F>(reply: F) -> SocketAddr
where
    F: Fn(&[u8]) -> Option<Vec<u8>> + Send + 'static,
{
    let socket = UdpSocket::bind((LOOPBACK, 0)).await.expect("bind");
    let local = socket.local_addr().expect("address");
    tokio::spawn(async move {
        let mut buffer = vec![0u8; 4096];
        while let Ok((n, peer)) = socket.recv_from(&mut buffer).await {
            if let Some(answer) = reply(&buffer[..n]) {
                let _ = socket.send_to(&answer, peer).await;
            }
        }
    });
    local
}

/// A UDP port nothing listens on: the kernel answers with ICMP port unreachable.
pub async fn closed_udp_port() -> SocketAddr {
    let socket = UdpSocket::bind((LOOPBACK, 0)).await.expect("bind");
    socket.local_addr().expect("address")
}

/// A tiny authoritative server: `www.example.org. A` is 192.0.2.80, every other name
/// is NXDOMAIN.
pub fn dns_answer(datagram: &[u8]) -> Option<Vec<u8>> {
    let query = Message::from_vec(datagram).ok()?;
    if query.metadata.message_type != MessageType::Query {
        return None;
    }
    let mut response = Message::response(query.metadata.id, OpCode::Query);
    response.metadata.recursion_desired = query.metadata.recursion_desired;
    response.add_queries(query.queries.clone());
    let known = Name::from_ascii("www.example.org.").ok()?;
    match query.queries.first() {
        Some(q) if q.name == known && q.query_type == RecordType::A => {
            response.add_answer(Record::from_rdata(
                known,
                60,
                RData::A(A(Ipv4Addr::new(192, 0, 2, 80))),
            ));
        }
        _ => response.metadata.response_code = ResponseCode::NXDomain,
    }
    response.to_vec().ok()
}

/// Whether a process is gone: no /proc entry, or a zombie waiting for a reaper that
/// may never come in a container.
pub fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
    }
}
