//! Accepting connections: the allowed client networks are enforced on the bare TCP
//! connection, before TLS or HTTP, so a client outside them gets nothing at all; then
//! each connection is served (HTTP/1.1, or TLS when a certificate is configured).

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// A client network: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    address: IpAddr,
    prefix: u8,
}

impl Network {
    /// Reads `192.0.2.0/24`, `2001:db8::/32` or a bare address (all its bits).
    pub fn parse(text: &str) -> Result<Network, String> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address
            .trim()
            .parse()
            .map_err(|_| format!("'{text}' is not an address or network (192.0.2.0/24)"))?;
        let bits = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= bits)
                .ok_or_else(|| format!("'{text}': the prefix length must be 0 to {bits}"))?,
        };
        Ok(Network { address, prefix })
    }

    /// Whether `client` is inside.
    pub fn contains(&self, client: IpAddr) -> bool {
        let client = match client {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(client, IpAddr::V4),
            v4 => v4,
        };
        match (self.address, client) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u128::from(u32::from(net)), 32, self.prefix)
                    == masked(u128::from(u32::from(ip)), 32, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(u128::from(net), 128, self.prefix)
                    == masked(u128::from(ip), 128, self.prefix)
            }
            _ => false,
        }
    }
}

fn masked(value: u128, bits: u8, prefix: u8) -> u128 {
    let host_bits = u32::from(bits - prefix);
    value.checked_shr(host_bits).unwrap_or(0)
}

/// Who may connect: empty means everyone.
#[derive(Debug, Clone, Default)]
pub struct Allowed(Vec<Network>);

impl Allowed {
    /// Reads the `allow` list of `[web]`.
    pub fn parse(list: &[String]) -> Result<Allowed, String> {
        list.iter()
            .map(|text| Network::parse(text))
            .collect::<Result<Vec<_>, _>>()
            .map(Allowed)
    }

    /// Whether `client` may connect.
    pub fn admits(&self, client: IpAddr) -> bool {
        self.0.is_empty() || self.0.iter().any(|n| n.contains(client))
    }
}

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("TLS for the web UI: {0}")]
pub struct TlsError(String);

/// Reads a PEM certificate chain and key for HTTPS.
pub fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError(format!("{}: {e}", cert.display())))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| TlsError(format!("{}: {e}", key.display())))?;
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError(e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Accepts connections until the task is dropped; refused clients are closed at once.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    allowed: Allowed,
    tls: Option<TlsAcceptor>,
) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!("web UI: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        if !allowed.admits(peer.ip()) {
            tracing::info!("web UI: connection from {peer} refused: outside the allowed networks");
            drop(stream);
            continue;
        }
        tokio::spawn(connection(stream, peer, router.clone(), tls.clone()));
    }
}

async fn connection(stream: TcpStream, peer: SocketAddr, router: Router, tls: Option<TlsAcceptor>) {
    let service = router.map_request(move |mut request: axum::extract::Request<_>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        request
    });
    let service = TowerToHyperService::new(service);
    let builder = Builder::new(TokioExecutor::new());
    let served = match tls {
        None => {
            builder
                .serve_connection(TokioIo::new(stream), service)
                .await
        }
        Some(acceptor) => match acceptor.accept(stream).await {
            Ok(stream) => {
                builder
                    .serve_connection(TokioIo::new(stream), service)
                    .await
            }
            Err(e) => {
                tracing::debug!("web UI: TLS handshake with {peer} failed: {e}");
                return;
            }
        },
    };
    if let Err(e) = served {
        tracing::debug!("web UI: connection with {peer}: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn networks_contain_their_addresses_only() {
        let net = Network::parse("192.0.2.0/24").expect("parses");
        assert!(net.contains(ip("192.0.2.200")));
        assert!(net.contains(ip("::ffff:192.0.2.1")));
        assert!(!net.contains(ip("192.0.3.1")));
        assert!(!net.contains(ip("2001:db8::1")));
        let one = Network::parse("127.0.0.1").expect("parses");
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        let v6 = Network::parse("2001:db8::/32").expect("parses");
        assert!(v6.contains(ip("2001:db8:ffff::1")) && !v6.contains(ip("2001:db9::1")));
        assert!(
            Network::parse("0.0.0.0/0")
                .expect("parses")
                .contains(ip("203.0.113.9"))
        );
    }

    #[test]
    fn bad_networks_say_why() {
        assert!(
            Network::parse("192.0.2.0/33")
                .unwrap_err()
                .contains("0 to 32")
        );
        assert!(
            Network::parse("example.org")
                .unwrap_err()
                .contains("not an address")
        );
    }

    #[test]
    fn an_empty_list_admits_everyone() {
        assert!(Allowed::default().admits(ip("198.51.100.1")));
        let list = Allowed::parse(&["127.0.0.0/8".into()]).expect("parses");
        assert!(list.admits(ip("127.0.0.1")) && !list.admits(ip("198.51.100.1")));
    }
}
