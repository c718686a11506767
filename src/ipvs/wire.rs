//! The IPVS generic netlink layout, declared once: command and attribute numbers from
//! `linux/ip_vs.h`, and how each typed field becomes attribute bytes and back.
//!
//! Every multi-byte value is built as explicit bytes here, so the byte order of each
//! attribute (ports and IPv4 masks in network order, the rest in host order) is visible
//! in one place instead of being left to a serializer.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use neli::genl::{AttrTypeBuilder, Nlattr, NlattrBuilder};
use neli::types::Buffer;

use super::types::{
    Destination, DestinationState, Family, ForwardMethod, Info, Service, ServiceFlags, ServiceKey,
    ServiceProtocol, ServiceState, Stats, SyncDaemon, SyncState, Timeouts, Tunnel, TunnelKind,
};

/// Name of the generic netlink family.
pub const FAMILY_NAME: &str = "IPVS";
/// `IPVS_GENL_VERSION`.
pub const VERSION: u8 = 1;

/// `IPVS_CMD_*`.
pub mod cmd {
    /// Add a service.
    pub const NEW_SERVICE: u8 = 1;
    /// Change a service in place.
    pub const SET_SERVICE: u8 = 2;
    /// Delete a service and its destinations.
    pub const DEL_SERVICE: u8 = 3;
    /// Get (dump) services.
    pub const GET_SERVICE: u8 = 4;
    /// Add a destination.
    pub const NEW_DEST: u8 = 5;
    /// Change a destination.
    pub const SET_DEST: u8 = 6;
    /// Delete a destination.
    pub const DEL_DEST: u8 = 7;
    /// Dump the destinations of one service.
    pub const GET_DEST: u8 = 8;
    /// Start a sync daemon.
    pub const NEW_DAEMON: u8 = 9;
    /// Stop a sync daemon.
    pub const DEL_DAEMON: u8 = 10;
    /// Dump sync daemons.
    pub const GET_DAEMON: u8 = 11;
    /// Set timeouts.
    pub const SET_CONFIG: u8 = 12;
    /// Get timeouts.
    pub const GET_CONFIG: u8 = 13;
    /// Get version and table size.
    pub const GET_INFO: u8 = 15;
    /// Zero counters.
    pub const ZERO: u8 = 16;
    /// Delete everything.
    pub const FLUSH: u8 = 17;
}

/// `IPVS_CMD_ATTR_*` (top level).
pub mod top {
    /// Nested service.
    pub const SERVICE: u16 = 1;
    /// Nested destination.
    pub const DEST: u16 = 2;
    /// Nested sync daemon.
    pub const DAEMON: u16 = 3;
    /// TCP timeout, u32.
    pub const TIMEOUT_TCP: u16 = 4;
    /// TCP FIN timeout, u32.
    pub const TIMEOUT_TCP_FIN: u16 = 5;
    /// UDP timeout, u32.
    pub const TIMEOUT_UDP: u16 = 6;
}

/// `IPVS_SVC_ATTR_*`.
pub mod svc {
    /// u16 address family.
    pub const AF: u16 = 1;
    /// u16 IPPROTO.
    pub const PROTOCOL: u16 = 2;
    /// 16 bytes, IPv4 in the first 4.
    pub const ADDR: u16 = 3;
    /// u16, network order.
    pub const PORT: u16 = 4;
    /// u32.
    pub const FWMARK: u16 = 5;
    /// NUL-terminated string.
    pub const SCHED_NAME: u16 = 6;
    /// `{u32 flags; u32 mask}`.
    pub const FLAGS: u16 = 7;
    /// u32 persistence seconds.
    pub const TIMEOUT: u16 = 8;
    /// be32 IPv4 mask, or the IPv6 prefix length.
    pub const NETMASK: u16 = 9;
    /// Nested 32-bit counters.
    pub const STATS: u16 = 10;
    /// NUL-terminated persistence engine name.
    pub const PE_NAME: u16 = 11;
    /// Nested 64-bit counters.
    pub const STATS64: u16 = 12;
}

/// `IPVS_DEST_ATTR_*`.
pub mod dest {
    /// 16 bytes.
    pub const ADDR: u16 = 1;
    /// u16, network order.
    pub const PORT: u16 = 2;
    /// u32 connection flags & 7.
    pub const FWD_METHOD: u16 = 3;
    /// u32.
    pub const WEIGHT: u16 = 4;
    /// u32.
    pub const U_THRESH: u16 = 5;
    /// u32.
    pub const L_THRESH: u16 = 6;
    /// u32, read only.
    pub const ACTIVE_CONNS: u16 = 7;
    /// u32, read only.
    pub const INACT_CONNS: u16 = 8;
    /// u32, read only.
    pub const PERSIST_CONNS: u16 = 9;
    /// Nested 32-bit counters.
    pub const STATS: u16 = 10;
    /// u16 address family of the destination.
    pub const ADDR_FAMILY: u16 = 11;
    /// Nested 64-bit counters.
    pub const STATS64: u16 = 12;
    /// u8 tunnel type.
    pub const TUN_TYPE: u16 = 13;
    /// u16 tunnel port, network order.
    pub const TUN_PORT: u16 = 14;
    /// u16 tunnel flags.
    pub const TUN_FLAGS: u16 = 15;
}

/// `IPVS_DAEMON_ATTR_*`.
pub mod daemon {
    /// u32: 1 master, 2 backup.
    pub const STATE: u16 = 1;
    /// NUL-terminated interface name.
    pub const MCAST_IFN: u16 = 2;
    /// u32.
    pub const SYNC_ID: u16 = 3;
    /// u16.
    pub const SYNC_MAXLEN: u16 = 4;
    /// be32 IPv4 group.
    pub const MCAST_GROUP: u16 = 5;
    /// 16-byte IPv6 group.
    pub const MCAST_GROUP6: u16 = 6;
    /// u16 port.
    pub const MCAST_PORT: u16 = 7;
    /// u8 TTL.
    pub const MCAST_TTL: u16 = 8;
}

/// `IPVS_STATS_ATTR_*`, in the order of [`Stats`]'s fields.
pub const STATS_FIELDS: [u16; 10] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

/// `IPVS_INFO_ATTR_*`.
pub mod info {
    /// u32 version code.
    pub const VERSION: u16 = 1;
    /// u32 connection table size.
    pub const CONN_TAB_SIZE: u16 = 2;
}

const AF_INET: u16 = libc::AF_INET as u16;
const AF_INET6: u16 = libc::AF_INET6 as u16;

/// An attribute that could not be built (neli builder failure) or read.
#[derive(Debug, thiserror::Error)]
#[error("IPVS netlink attribute {0}")]
pub struct WireError(pub String);

/// One attribute, as neli carries it.
pub type Attr = Nlattr<u16, Buffer>;

/// One attribute with a payload already in its wire byte order.
pub fn raw_attr(kind: u16, payload: Vec<u8>) -> Result<Attr, WireError> {
    let kind = AttrTypeBuilder::default()
        .nla_type(kind)
        .build()
        .map_err(|e| WireError(format!("{kind}: {e}")))?;
    NlattrBuilder::default()
        .nla_type(kind)
        .nla_payload(payload)
        .build()
        .map_err(|e| WireError(format!("build: {e}")))
}

fn nested(kind: u16, children: Vec<Attr>) -> Result<Attr, WireError> {
    children
        .iter()
        .try_fold(raw_attr(kind, Vec::new())?, |parent, child| {
            parent
                .nest(child)
                .map_err(|e| WireError(format!("nest in {kind}: {e}")))
        })
}

fn text(value: &str) -> Vec<u8> {
    let mut bytes = value.as_bytes().to_vec();
    bytes.push(0);
    bytes
}

fn family_number(family: Family) -> u16 {
    match family {
        Family::Inet => AF_INET,
        Family::Inet6 => AF_INET6,
    }
}

fn address_bytes(address: IpAddr) -> Vec<u8> {
    let mut bytes = vec![0; 16];
    match address {
        IpAddr::V4(v4) => bytes[..4].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => bytes.copy_from_slice(&v6.octets()),
    }
    bytes
}

fn protocol_number(protocol: ServiceProtocol) -> u16 {
    match protocol {
        ServiceProtocol::Tcp => libc::IPPROTO_TCP as u16,
        ServiceProtocol::Udp => libc::IPPROTO_UDP as u16,
        ServiceProtocol::Sctp => libc::IPPROTO_SCTP as u16,
        ServiceProtocol::Other(n) => n,
    }
}

fn forward_number(method: ForwardMethod) -> u32 {
    match method {
        ForwardMethod::Masquerade => 0,
        ForwardMethod::Local => 1,
        ForwardMethod::Tunnel => 2,
        ForwardMethod::Route => 3,
        ForwardMethod::Bypass => 4,
    }
}

fn tunnel_number(kind: TunnelKind) -> u8 {
    match kind {
        TunnelKind::Ipip => 0,
        TunnelKind::Gue => 1,
        TunnelKind::Gre => 2,
    }
}

/// The attributes naming a service (enough for DEL_SERVICE, GET_DEST, NEW_DEST).
pub fn service_key_attr(key: &ServiceKey) -> Result<Attr, WireError> {
    nested(top::SERVICE, key_attrs(key)?)
}

fn key_attrs(key: &ServiceKey) -> Result<Vec<Attr>, WireError> {
    let family = family_number(key.family());
    Ok(match key {
        ServiceKey::Address {
            protocol,
            address,
            port,
        } => vec![
            raw_attr(svc::AF, family.to_ne_bytes().to_vec())?,
            raw_attr(
                svc::PROTOCOL,
                protocol_number(*protocol).to_ne_bytes().to_vec(),
            )?,
            raw_attr(svc::ADDR, address_bytes(*address))?,
            raw_attr(svc::PORT, port.to_be_bytes().to_vec())?,
        ],
        ServiceKey::Fwmark { mark, .. } => vec![
            raw_attr(svc::AF, family.to_ne_bytes().to_vec())?,
            raw_attr(svc::FWMARK, mark.to_ne_bytes().to_vec())?,
        ],
    })
}

/// A whole service (NEW_SERVICE / SET_SERVICE need scheduler, flags, timeout, netmask).
pub fn service_attr(service: &Service) -> Result<Attr, WireError> {
    let mut attrs = key_attrs(&service.key)?;
    let mut flags = service.flags.comparable().0.to_ne_bytes().to_vec();
    flags.extend_from_slice(&(!ServiceFlags::HASHED).to_ne_bytes());
    let netmask = match service.key.family() {
        Family::Inet => service.netmask.to_be_bytes(),
        Family::Inet6 => service.netmask.to_ne_bytes(),
    };
    attrs.push(raw_attr(svc::SCHED_NAME, text(&service.scheduler))?);
    attrs.push(raw_attr(svc::FLAGS, flags)?);
    attrs.push(raw_attr(
        svc::TIMEOUT,
        service.timeout.to_ne_bytes().to_vec(),
    )?);
    attrs.push(raw_attr(svc::NETMASK, netmask.to_vec())?);
    if let Some(pe) = &service.pe_name {
        attrs.push(raw_attr(svc::PE_NAME, text(pe))?);
    }
    nested(top::SERVICE, attrs)
}

/// A destination's identity only (DEL_DEST).
pub fn destination_key_attr(address: IpAddr, port: u16) -> Result<Attr, WireError> {
    nested(
        top::DEST,
        vec![
            raw_attr(dest::ADDR, address_bytes(address))?,
            raw_attr(dest::PORT, port.to_be_bytes().to_vec())?,
            raw_attr(
                dest::ADDR_FAMILY,
                family_number(Family::of(address)).to_ne_bytes().to_vec(),
            )?,
        ],
    )
}

/// A whole destination (NEW_DEST / SET_DEST need method, weight and thresholds).
pub fn destination_attr(d: &Destination) -> Result<Attr, WireError> {
    nested(
        top::DEST,
        vec![
            raw_attr(dest::ADDR, address_bytes(d.address))?,
            raw_attr(dest::PORT, d.port.to_be_bytes().to_vec())?,
            raw_attr(
                dest::ADDR_FAMILY,
                family_number(Family::of(d.address)).to_ne_bytes().to_vec(),
            )?,
            raw_attr(
                dest::FWD_METHOD,
                forward_number(d.forward).to_ne_bytes().to_vec(),
            )?,
            raw_attr(dest::WEIGHT, d.weight.to_ne_bytes().to_vec())?,
            raw_attr(dest::U_THRESH, d.upper_threshold.to_ne_bytes().to_vec())?,
            raw_attr(dest::L_THRESH, d.lower_threshold.to_ne_bytes().to_vec())?,
            raw_attr(dest::TUN_TYPE, vec![tunnel_number(d.tunnel.kind)])?,
            raw_attr(dest::TUN_PORT, d.tunnel.port.to_be_bytes().to_vec())?,
            raw_attr(dest::TUN_FLAGS, d.tunnel.flags.to_ne_bytes().to_vec())?,
        ],
    )
}

/// The three timeout attributes of SET_CONFIG.
pub fn timeout_attrs(t: &Timeouts) -> Result<Vec<Attr>, WireError> {
    Ok(vec![
        raw_attr(top::TIMEOUT_TCP, t.tcp.to_ne_bytes().to_vec())?,
        raw_attr(top::TIMEOUT_TCP_FIN, t.tcp_fin.to_ne_bytes().to_vec())?,
        raw_attr(top::TIMEOUT_UDP, t.udp.to_ne_bytes().to_vec())?,
    ])
}

fn sync_state_number(state: SyncState) -> u32 {
    match state {
        SyncState::Master => 1,
        SyncState::Backup => 2,
    }
}

/// A sync daemon (NEW_DAEMON needs state, interface and id).
pub fn daemon_attr(d: &SyncDaemon) -> Result<Attr, WireError> {
    let mut attrs = vec![
        raw_attr(
            daemon::STATE,
            sync_state_number(d.state).to_ne_bytes().to_vec(),
        )?,
        raw_attr(daemon::MCAST_IFN, text(&d.interface))?,
        raw_attr(daemon::SYNC_ID, d.sync_id.to_ne_bytes().to_vec())?,
    ];
    if let Some(len) = d.max_len {
        attrs.push(raw_attr(daemon::SYNC_MAXLEN, len.to_ne_bytes().to_vec())?);
    }
    match d.group {
        Some(IpAddr::V4(v4)) => attrs.push(raw_attr(daemon::MCAST_GROUP, v4.octets().to_vec())?),
        Some(IpAddr::V6(v6)) => attrs.push(raw_attr(daemon::MCAST_GROUP6, v6.octets().to_vec())?),
        None => {}
    }
    if let Some(port) = d.port {
        attrs.push(raw_attr(daemon::MCAST_PORT, port.to_ne_bytes().to_vec())?);
    }
    if let Some(ttl) = d.ttl {
        attrs.push(raw_attr(daemon::MCAST_TTL, vec![ttl])?);
    }
    nested(top::DAEMON, attrs)
}

/// Only the state, which is what DEL_DAEMON needs.
pub fn daemon_state_attr(state: SyncState) -> Result<Attr, WireError> {
    nested(
        top::DAEMON,
        vec![raw_attr(
            daemon::STATE,
            sync_state_number(state).to_ne_bytes().to_vec(),
        )?],
    )
}

/// Attributes of one level, by number, for reading replies.
#[derive(Debug, Default)]
pub struct Fields<'a> {
    items: Vec<(u16, &'a [u8])>,
}

impl<'a> Fields<'a> {
    /// The attributes of a message or a nested attribute.
    pub fn of(attrs: impl IntoIterator<Item = &'a Attr>) -> Self {
        Fields {
            items: attrs
                .into_iter()
                .map(|a| (*a.nla_type().nla_type() & 0x3fff, a.nla_payload().as_ref()))
                .collect(),
        }
    }

    /// The attributes nested in one payload.
    pub fn nested(payload: &'a [u8]) -> Self {
        let mut items = Vec::new();
        let mut rest = payload;
        while rest.len() >= 4 {
            let len = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
            let kind = u16::from_ne_bytes([rest[2], rest[3]]) & 0x3fff;
            if len < 4 || len > rest.len() {
                break;
            }
            items.push((kind, &rest[4..len]));
            let padded = (len + 3) & !3;
            rest = rest.get(padded..).unwrap_or(&[]);
        }
        Fields { items }
    }

    /// The payload of an attribute.
    pub fn get(&self, kind: u16) -> Option<&'a [u8]> {
        self.items.iter().find(|(k, _)| *k == kind).map(|(_, p)| *p)
    }

    fn need(&self, kind: u16, what: &str) -> Result<&'a [u8], WireError> {
        self.get(kind)
            .ok_or_else(|| WireError(format!("{what} ({kind}) missing from the kernel's reply")))
    }

    fn u8(&self, kind: u16) -> Option<u8> {
        self.get(kind).and_then(|p| p.first().copied())
    }

    fn u16(&self, kind: u16) -> Option<u16> {
        self.get(kind)
            .and_then(|p| Some(u16::from_ne_bytes(p.get(..2)?.try_into().ok()?)))
    }

    fn be16(&self, kind: u16) -> Option<u16> {
        self.get(kind)
            .and_then(|p| Some(u16::from_be_bytes(p.get(..2)?.try_into().ok()?)))
    }

    fn u32(&self, kind: u16) -> Option<u32> {
        self.get(kind)
            .and_then(|p| Some(u32::from_ne_bytes(p.get(..4)?.try_into().ok()?)))
    }

    fn u64(&self, kind: u16) -> Option<u64> {
        self.get(kind).and_then(|p| match p.len() {
            8.. => Some(u64::from_ne_bytes(p.get(..8)?.try_into().ok()?)),
            4 => Some(u64::from(u32::from_ne_bytes(p.try_into().ok()?))),
            _ => None,
        })
    }
}

fn read_family(number: u16) -> Result<Family, WireError> {
    match number {
        AF_INET => Ok(Family::Inet),
        AF_INET6 => Ok(Family::Inet6),
        other => Err(WireError(format!("unknown address family {other}"))),
    }
}

fn read_address(family: Family, bytes: &[u8]) -> Result<IpAddr, WireError> {
    let bad = || WireError(format!("address of {} bytes", bytes.len()));
    Ok(match family {
        Family::Inet => IpAddr::V4(Ipv4Addr::from(
            <[u8; 4]>::try_from(bytes.get(..4).ok_or_else(bad)?).map_err(|_| bad())?,
        )),
        Family::Inet6 => IpAddr::V6(Ipv6Addr::from(
            <[u8; 16]>::try_from(bytes.get(..16).ok_or_else(bad)?).map_err(|_| bad())?,
        )),
    })
}

fn read_text(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

fn read_stats(fields: &Fields, wide: u16, narrow: u16) -> Stats {
    let payload = fields
        .get(wide)
        .or_else(|| fields.get(narrow))
        .unwrap_or(&[]);
    let nested = Fields::nested(payload);
    let v: Vec<u64> = STATS_FIELDS
        .iter()
        .map(|k| nested.u64(*k).unwrap_or(0))
        .collect();
    Stats {
        connections: v[0],
        in_packets: v[1],
        out_packets: v[2],
        in_bytes: v[3],
        out_bytes: v[4],
        cps: v[5],
        in_pps: v[6],
        out_pps: v[7],
        in_bps: v[8],
        out_bps: v[9],
    }
}

/// A service from the nested SERVICE attribute of a dump reply.
pub fn read_service(payload: &[u8]) -> Result<ServiceState, WireError> {
    let f = Fields::nested(payload);
    let family = read_family(f.u16(svc::AF).unwrap_or(0))?;
    let key = match f.u32(svc::FWMARK).filter(|m| *m != 0) {
        Some(mark) => ServiceKey::Fwmark { family, mark },
        None => ServiceKey::Address {
            protocol: match f.u16(svc::PROTOCOL).unwrap_or(0) {
                6 => ServiceProtocol::Tcp,
                17 => ServiceProtocol::Udp,
                132 => ServiceProtocol::Sctp,
                other => ServiceProtocol::Other(other),
            },
            address: read_address(family, f.need(svc::ADDR, "service address")?)?,
            port: f.be16(svc::PORT).unwrap_or(0),
        },
    };
    let flags = f
        .get(svc::FLAGS)
        .and_then(|p| Some(u32::from_ne_bytes(p.get(..4)?.try_into().ok()?)));
    let netmask_bytes: [u8; 4] = f
        .get(svc::NETMASK)
        .and_then(|p| p.get(..4)?.try_into().ok())
        .unwrap_or([0; 4]);
    let netmask = match family {
        Family::Inet => u32::from_be_bytes(netmask_bytes),
        Family::Inet6 => u32::from_ne_bytes(netmask_bytes),
    };
    Ok(ServiceState {
        service: Service {
            key,
            scheduler: read_text(f.get(svc::SCHED_NAME).unwrap_or(&[])),
            flags: ServiceFlags(flags.unwrap_or(0)),
            timeout: f.u32(svc::TIMEOUT).unwrap_or(0),
            netmask,
            pe_name: f.get(svc::PE_NAME).map(read_text).filter(|s| !s.is_empty()),
        },
        stats: read_stats(&f, svc::STATS64, svc::STATS),
        destinations: Vec::new(),
    })
}

/// A destination from the nested DEST attribute of a dump reply.
pub fn read_destination(
    payload: &[u8],
    service_family: Family,
) -> Result<DestinationState, WireError> {
    let f = Fields::nested(payload);
    let family = match f.u16(dest::ADDR_FAMILY) {
        Some(n) => read_family(n)?,
        None => service_family,
    };
    let forward = match f.u32(dest::FWD_METHOD).unwrap_or(0) & 7 {
        0 => ForwardMethod::Masquerade,
        1 => ForwardMethod::Local,
        2 => ForwardMethod::Tunnel,
        3 => ForwardMethod::Route,
        _ => ForwardMethod::Bypass,
    };
    let tunnel = Tunnel {
        kind: match f.u8(dest::TUN_TYPE).unwrap_or(0) {
            1 => TunnelKind::Gue,
            2 => TunnelKind::Gre,
            _ => TunnelKind::Ipip,
        },
        port: f.be16(dest::TUN_PORT).unwrap_or(0),
        flags: f.u16(dest::TUN_FLAGS).unwrap_or(0),
    };
    Ok(DestinationState {
        destination: Destination {
            address: read_address(family, f.need(dest::ADDR, "destination address")?)?,
            port: f.be16(dest::PORT).unwrap_or(0),
            forward,
            weight: f.u32(dest::WEIGHT).unwrap_or(0),
            upper_threshold: f.u32(dest::U_THRESH).unwrap_or(0),
            lower_threshold: f.u32(dest::L_THRESH).unwrap_or(0),
            tunnel,
        },
        active_connections: f.u32(dest::ACTIVE_CONNS).unwrap_or(0),
        inactive_connections: f.u32(dest::INACT_CONNS).unwrap_or(0),
        persistent_connections: f.u32(dest::PERSIST_CONNS).unwrap_or(0),
        stats: read_stats(&f, dest::STATS64, dest::STATS),
    })
}

/// A sync daemon from the nested DAEMON attribute of a dump reply.
pub fn read_daemon(payload: &[u8]) -> Result<SyncDaemon, WireError> {
    let f = Fields::nested(payload);
    let state = match f.u32(daemon::STATE) {
        Some(1) => SyncState::Master,
        Some(2) => SyncState::Backup,
        other => return Err(WireError(format!("unknown sync daemon state {other:?}"))),
    };
    let group = match (f.get(daemon::MCAST_GROUP), f.get(daemon::MCAST_GROUP6)) {
        (Some(v4), _) if v4.len() >= 4 => read_address(Family::Inet, v4).ok(),
        (_, Some(v6)) if v6.len() >= 16 => read_address(Family::Inet6, v6).ok(),
        _ => None,
    };
    Ok(SyncDaemon {
        state,
        interface: read_text(f.get(daemon::MCAST_IFN).unwrap_or(&[])),
        sync_id: f.u32(daemon::SYNC_ID).unwrap_or(0),
        max_len: f.u16(daemon::SYNC_MAXLEN),
        group,
        port: f.u16(daemon::MCAST_PORT),
        ttl: f.u8(daemon::MCAST_TTL),
    })
}

/// Timeouts from a GET_CONFIG reply's top-level attributes.
pub fn read_timeouts(f: &Fields) -> Timeouts {
    Timeouts {
        tcp: f.u32(top::TIMEOUT_TCP).unwrap_or(0),
        tcp_fin: f.u32(top::TIMEOUT_TCP_FIN).unwrap_or(0),
        udp: f.u32(top::TIMEOUT_UDP).unwrap_or(0),
    }
}

/// Version and table size from a GET_INFO reply's top-level attributes.
pub fn read_info(f: &Fields) -> Info {
    Info {
        version: f.u32(info::VERSION).unwrap_or(0),
        connection_table_size: f.u32(info::CONN_TAB_SIZE).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use neli::{Size, ToBytes};
    use std::io::Cursor;

    fn bytes(a: &Attr) -> Vec<u8> {
        let mut buffer = Cursor::new(vec![0; a.padded_size()]);
        a.to_bytes(&mut buffer).expect("serializes");
        buffer.into_inner()
    }

    fn sample_service() -> Service {
        Service {
            key: ServiceKey::Address {
                protocol: ServiceProtocol::Tcp,
                address: "192.0.2.10".parse().expect("ip"),
                port: 80,
            },
            scheduler: "wlc".into(),
            flags: ServiceFlags(ServiceFlags::PERSISTENT),
            timeout: 300,
            netmask: 0xffff_ff00,
            pe_name: None,
        }
    }

    #[test]
    fn a_service_reads_back_as_itself() {
        let service = sample_service();
        let wire = bytes(&service_attr(&service).expect("builds"));
        let read = read_service(&wire[4..]).expect("reads");
        assert_eq!(read.service, service);
    }

    #[test]
    fn ports_and_ipv4_masks_are_in_network_order() {
        let wire = bytes(&service_attr(&sample_service()).expect("builds"));
        let f = Fields::nested(&wire[4..]);
        assert_eq!(f.get(svc::PORT), Some(&[0, 80][..]));
        assert_eq!(f.get(svc::NETMASK), Some(&[255, 255, 255, 0][..]));
        assert_eq!(f.get(svc::SCHED_NAME), Some(&b"wlc\0"[..]));
    }

    #[test]
    fn a_destination_reads_back_as_itself() {
        let d = Destination {
            address: "2001:db8::11".parse().expect("ip"),
            port: 8080,
            forward: ForwardMethod::Tunnel,
            weight: 7,
            upper_threshold: 100,
            lower_threshold: 10,
            tunnel: Tunnel {
                kind: TunnelKind::Gue,
                port: 6080,
                flags: Tunnel::CSUM,
            },
        };
        let wire = bytes(&destination_attr(&d).expect("builds"));
        let read = read_destination(&wire[4..], Family::Inet6).expect("reads");
        assert_eq!(read.destination, d);
    }
}
