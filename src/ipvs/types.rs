//! The kernel's IPVS objects as plain data: what the client sends and what a dump
//! returns. Nothing here knows about netlink; `wire` maps these onto attributes.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// An address family as IPVS sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Family {
    /// AF_INET.
    Inet,
    /// AF_INET6.
    Inet6,
}

impl Family {
    /// The family of an address.
    pub fn of(address: IpAddr) -> Self {
        if address.is_ipv4() {
            Family::Inet
        } else {
            Family::Inet6
        }
    }
}

/// A transport protocol of a service (IPPROTO numbers on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ServiceProtocol {
    /// IPPROTO_TCP.
    Tcp,
    /// IPPROTO_UDP.
    Udp,
    /// IPPROTO_SCTP.
    Sctp,
    /// Anything else a dump may show (AH, ESP).
    Other(u16),
}

impl fmt::Display for ServiceProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceProtocol::Tcp => f.write_str("TCP"),
            ServiceProtocol::Udp => f.write_str("UDP"),
            ServiceProtocol::Sctp => f.write_str("SCTP"),
            ServiceProtocol::Other(n) => write!(f, "proto {n}"),
        }
    }
}

/// What identifies a service in the kernel; changing it means a different service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ServiceKey {
    /// VIP, protocol and port.
    Address {
        /// Transport protocol.
        protocol: ServiceProtocol,
        /// The virtual address.
        address: IpAddr,
        /// The virtual port.
        port: u16,
    },
    /// A firewall-mark service of one address family.
    Fwmark {
        /// IPv4 or IPv6 marked packets.
        family: Family,
        /// The mark.
        mark: u32,
    },
}

impl ServiceKey {
    /// The family of the service.
    pub fn family(&self) -> Family {
        match self {
            ServiceKey::Address { address, .. } => Family::of(*address),
            ServiceKey::Fwmark { family, .. } => *family,
        }
    }
}

impl fmt::Display for ServiceKey {
    /// `TCP 192.0.2.10:80`, `TCP [2001:db8::1]:80`, `FWM 21`: as ipvsadm names them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceKey::Address {
                protocol,
                address,
                port,
            } => write!(f, "{protocol} {}", socket_text(*address, *port)),
            ServiceKey::Fwmark {
                family: Family::Inet,
                mark,
            } => write!(f, "FWM {mark}"),
            ServiceKey::Fwmark {
                family: Family::Inet6,
                mark,
            } => write!(f, "FWM {mark} IPv6"),
        }
    }
}

/// `address:port` with IPv6 in brackets.
pub fn socket_text(address: IpAddr, port: u16) -> String {
    match address {
        IpAddr::V4(v4) => {
            // Digit by digit: through `format!` and `Ipv4Addr`'s `Display` (which pads)
            // this was a sixth of the daemon's `monitor` answer for 10,000 real servers.
            let mut text = String::with_capacity(21);
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    text.push('.');
                }
                push_decimal(&mut text, u32::from(octet));
            }
            text.push(':');
            push_decimal(&mut text, u32::from(port));
            text
        }
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
    }
}

/// Appends `n` in decimal.
fn push_decimal(text: &mut String, n: u32) {
    let mut digits = [0u8; 10];
    let mut start = digits.len();
    let mut rest = n;
    loop {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    text.extend(digits[start..].iter().map(|&d| char::from(d)));
}

/// `IP_VS_SVC_F_*` service flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct ServiceFlags(pub u32);

impl ServiceFlags {
    /// Persistence on.
    pub const PERSISTENT: u32 = 0x0001;
    /// Kernel-internal; never compared, never sent.
    pub const HASHED: u32 = 0x0002;
    /// One-packet scheduling (UDP).
    pub const ONE_PACKET: u32 = 0x0004;
    /// Scheduler flag 1: sh-fallback / mh-fallback.
    pub const SCHED1: u32 = 0x0008;
    /// Scheduler flag 2: sh-port / mh-port.
    pub const SCHED2: u32 = 0x0010;
    /// Scheduler flag 3.
    pub const SCHED3: u32 = 0x0020;

    /// The flags without the kernel's bookkeeping bit.
    pub fn comparable(self) -> Self {
        ServiceFlags(self.0 & !Self::HASHED)
    }

    /// Whether a flag is set.
    pub fn has(self, flag: u32) -> bool {
        self.0 & flag != 0
    }
}

/// A service's settings: the key and everything SET_SERVICE can change in place.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Service {
    /// Identity.
    pub key: ServiceKey,
    /// Scheduler name (`wlc`, ...).
    pub scheduler: String,
    /// Flags (HASHED masked out when comparing).
    pub flags: ServiceFlags,
    /// Persistence timeout in seconds.
    pub timeout: u32,
    /// Persistence netmask: an IPv4 mask in host order, or an IPv6 prefix length.
    pub netmask: u32,
    /// Persistence engine (`sip`), if any.
    pub pe_name: Option<String>,
}

impl Service {
    /// Whether two services have the same settings, ignoring kernel bookkeeping.
    pub fn same_settings(&self, other: &Service) -> bool {
        self.key == other.key
            && self.scheduler == other.scheduler
            && self.flags.comparable() == other.flags.comparable()
            && self.timeout == other.timeout
            && self.netmask == other.netmask
            && self.pe_name == other.pe_name
    }
}

/// `IP_VS_CONN_F_FWD_MASK` forwarding methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ForwardMethod {
    /// NAT (0).
    Masquerade,
    /// Local node (1).
    Local,
    /// IP tunnel (2).
    Tunnel,
    /// Direct routing (3).
    Route,
    /// Cache bypass (4).
    Bypass,
}

impl ForwardMethod {
    /// ipvsadm's column text.
    pub fn ipvsadm_name(self) -> &'static str {
        match self {
            ForwardMethod::Masquerade => "Masq",
            ForwardMethod::Local => "Local",
            ForwardMethod::Tunnel => "Tunnel",
            ForwardMethod::Route => "Route",
            ForwardMethod::Bypass => "Bypass",
        }
    }
}

/// Tunnel encapsulations (`IP_VS_CONN_F_TUNNEL_TYPE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum TunnelKind {
    /// IP in IP (0), the default.
    #[default]
    Ipip,
    /// GUE (1).
    Gue,
    /// GRE (2).
    Gre,
}

/// Tunnel settings of a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Tunnel {
    /// Encapsulation.
    pub kind: TunnelKind,
    /// GUE port.
    pub port: u16,
    /// `IP_VS_TUNNEL_ENCAP_FLAG_*` (checksum options).
    pub flags: u16,
}

impl Tunnel {
    /// No checksum.
    pub const NOCSUM: u16 = 0;
    /// Checksum.
    pub const CSUM: u16 = 1;
    /// Remote checksum offload.
    pub const REMCSUM: u16 = 2;
}

/// A real server of a service, as programmed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Destination {
    /// The real server's address.
    pub address: IpAddr,
    /// The real server's port.
    pub port: u16,
    /// Forwarding method.
    pub forward: ForwardMethod,
    /// Weight (0 = no new connections).
    pub weight: u32,
    /// Upper connection threshold (0 = none).
    pub upper_threshold: u32,
    /// Lower connection threshold.
    pub lower_threshold: u32,
    /// Tunnel settings (meaningful with tunnel forwarding).
    pub tunnel: Tunnel,
}

impl Destination {
    /// What identifies a destination within its service.
    pub fn id(&self) -> (IpAddr, u16) {
        (self.address, self.port)
    }
}

/// Kernel counters (STATS64), all widened to u64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Stats {
    /// Connections scheduled.
    pub connections: u64,
    /// Packets in.
    pub in_packets: u64,
    /// Packets out.
    pub out_packets: u64,
    /// Bytes in.
    pub in_bytes: u64,
    /// Bytes out.
    pub out_bytes: u64,
    /// Connections per second (estimate).
    pub cps: u64,
    /// Packets in per second.
    pub in_pps: u64,
    /// Packets out per second.
    pub out_pps: u64,
    /// Bytes in per second.
    pub in_bps: u64,
    /// Bytes out per second.
    pub out_bps: u64,
}

/// A destination with what the kernel reports about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestinationState {
    /// The programmed settings.
    pub destination: Destination,
    /// Active connections.
    pub active_connections: u32,
    /// Inactive connections.
    pub inactive_connections: u32,
    /// Persistence templates.
    pub persistent_connections: u32,
    /// Counters.
    pub stats: Stats,
}

impl DestinationState {
    /// A destination as programmed, before the kernel has counted anything: what a
    /// table built from the configuration (not from a dump) holds.
    pub fn programmed(destination: Destination) -> Self {
        DestinationState {
            destination,
            active_connections: 0,
            inactive_connections: 0,
            persistent_connections: 0,
            stats: Stats::default(),
        }
    }
}

/// A service with what the kernel reports about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceState {
    /// The programmed settings.
    pub service: Service,
    /// Counters.
    pub stats: Stats,
    /// Its destinations.
    pub destinations: Vec<DestinationState>,
}

/// Global protocol timeouts in seconds (0 in a SET leaves a value unchanged).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Timeouts {
    /// Established TCP.
    pub tcp: u32,
    /// TCP after FIN.
    pub tcp_fin: u32,
    /// UDP.
    pub udp: u32,
}

/// Role of a connection sync daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SyncState {
    /// Sends connection updates (active node).
    Master,
    /// Receives them (inactive node).
    Backup,
}

/// A kernel connection sync daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncDaemon {
    /// Master or backup.
    pub state: SyncState,
    /// Multicast interface.
    pub interface: String,
    /// Sync id (0-255).
    pub sync_id: u32,
    /// Maximum message length; kernel default when `None`.
    pub max_len: Option<u16>,
    /// Multicast group; kernel default (224.0.0.81) when `None`.
    pub group: Option<IpAddr>,
    /// UDP port; kernel default (8848) when `None`.
    pub port: Option<u16>,
    /// Multicast TTL; kernel default when `None`.
    pub ttl: Option<u8>,
}

/// The IPVS version and connection table size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    /// `IP_VS_VERSION_CODE`, e.g. 0x010201.
    pub version: u32,
    /// Connection hash table size.
    pub connection_table_size: u32,
}

impl Info {
    /// `1.2.1`, as ipvsadm prints it.
    pub fn version_text(&self) -> String {
        let v = self.version;
        format!("{}.{}.{}", (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff)
    }
}

/// One change to the kernel table: what reconcile produces and the client sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operation {
    /// IPVS_CMD_NEW_SERVICE.
    NewService(Service),
    /// IPVS_CMD_SET_SERVICE: scheduler, flags, persistence changed in place.
    SetService(Service),
    /// IPVS_CMD_DEL_SERVICE.
    DelService(ServiceKey),
    /// IPVS_CMD_NEW_DEST.
    NewDestination(ServiceKey, Destination),
    /// IPVS_CMD_SET_DEST.
    SetDestination(ServiceKey, Destination),
    /// IPVS_CMD_DEL_DEST.
    DelDestination(ServiceKey, IpAddr, u16),
    /// IPVS_CMD_SET_CONFIG.
    SetTimeouts(Timeouts),
    /// IPVS_CMD_NEW_DAEMON.
    NewSyncDaemon(SyncDaemon),
    /// IPVS_CMD_DEL_DAEMON.
    DelSyncDaemon(SyncState),
    /// IPVS_CMD_ZERO of one service, or of all.
    Zero(Option<ServiceKey>),
    /// IPVS_CMD_FLUSH: never used by the daemon (it reconciles), kept for tools and tests.
    Flush,
}

impl fmt::Display for Operation {
    /// One line naming the object, for logs and error messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operation::NewService(s) => write!(f, "add service {}", s.key),
            Operation::SetService(s) => write!(f, "change service {}", s.key),
            Operation::DelService(k) => write!(f, "delete service {k}"),
            Operation::NewDestination(k, d) => {
                write!(
                    f,
                    "add real server {} to service {k}",
                    socket_text(d.address, d.port)
                )
            }
            Operation::SetDestination(k, d) => {
                write!(
                    f,
                    "change real server {} of service {k}",
                    socket_text(d.address, d.port)
                )
            }
            Operation::DelDestination(k, a, p) => {
                write!(
                    f,
                    "delete real server {} from service {k}",
                    socket_text(*a, *p)
                )
            }
            Operation::SetTimeouts(t) => write!(
                f,
                "set timeouts tcp {} tcpfin {} udp {}",
                t.tcp, t.tcp_fin, t.udp
            ),
            Operation::NewSyncDaemon(d) => write!(
                f,
                "start sync daemon {:?} on {} id {}",
                d.state, d.interface, d.sync_id
            ),
            Operation::DelSyncDaemon(s) => write!(f, "stop sync daemon {s:?}"),
            Operation::Zero(Some(k)) => write!(f, "zero counters of service {k}"),
            Operation::Zero(None) => write!(f, "zero all counters"),
            Operation::Flush => write!(f, "flush the table"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_text_writes_what_display_writes() {
        for (address, port) in [
            ("0.0.0.0", 0),
            ("192.0.2.1", 80),
            ("255.255.255.255", 65535),
            ("10.9.100.199", 8080),
            ("2001:db8::1", 443),
        ] {
            let ip: IpAddr = address.parse().expect("an address");
            let expected = match ip {
                IpAddr::V4(v4) => format!("{v4}:{port}"),
                IpAddr::V6(v6) => format!("[{v6}]:{port}"),
            };
            assert_eq!(socket_text(ip, port), expected);
        }
    }
}
