//! The sockets of the half-open prober: the reserved source port, one raw TCP socket per
//! address family with its filter, the source-address lookup, and sending and receiving.

use std::io;
use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use socket2::{Domain, MsgHdr, Protocol, SockAddr, SockFilter, Socket, Type};

use super::packet::{self, Layout};

/// Why part of the half-open prober could not be set up, with the step that failed.
#[derive(Debug, thiserror::Error)]
#[error("half-open TCP checks over {family}: {stage}: {source}")]
pub struct OpenError {
    /// `IPv4` or `IPv6`.
    pub family: &'static str,
    /// What was being done.
    pub stage: &'static str,
    /// The system's error.
    #[source]
    pub source: io::Error,
}

impl OpenError {
    /// Whether the error means the process may not open raw sockets (no CAP_NET_RAW).
    pub fn is_permission(&self) -> bool {
        matches!(self.source.raw_os_error(), Some(libc::EPERM | libc::EACCES))
    }
}

/// The name of a layout's family, for messages.
pub fn family_name(layout: Layout) -> &'static str {
    match layout {
        Layout::Ipv4 => "IPv4",
        Layout::Ipv6 => "IPv6",
    }
}

fn fail(layout: Layout, stage: &'static str) -> impl FnOnce(io::Error) -> OpenError {
    move |source| OpenError {
        family: family_name(layout),
        stage,
        source,
    }
}

/// A TCP port held for the prober's life: a TCP socket bound to it on the wildcard
/// address, never listening and never connected. While it is bound the kernel neither
/// hands the port to another socket (an ephemeral port for a connect, or a bind to port
/// 0) nor lets one bind it, so no real connection ever uses the 4-tuples of our SYNs;
/// and since the socket does not listen, the kernel answers every SYN-ACK sent to the
/// port with a RST, which frees the server's half-open connection at once.
///
/// It is bound on `[::]` as a dual-stack socket when the host has IPv6, which reserves
/// the port for IPv4 too, and on `0.0.0.0` otherwise. No `SO_REUSEADDR`: with it another
/// non-listening socket that sets it too could share the port.
#[derive(Debug)]
pub struct ReservedPort {
    _socket: Socket,
    port: u16,
}

impl ReservedPort {
    /// Reserves a port the kernel picks from its ephemeral range.
    pub fn new() -> Result<Self, OpenError> {
        match Self::bind_dual_stack() {
            Ok(reserved) => Ok(reserved),
            Err(_) => Self::bind(
                Domain::IPV4,
                SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
                Layout::Ipv4,
            ),
        }
    }

    fn bind_dual_stack() -> Result<Self, OpenError> {
        let socket = Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP))
            .map_err(fail(Layout::Ipv6, "reserve a source port: socket"))?;
        socket
            .set_only_v6(false)
            .map_err(fail(Layout::Ipv6, "reserve a source port: IPV6_V6ONLY"))?;
        Self::bound(
            socket,
            SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
            Layout::Ipv6,
        )
    }

    fn bind(domain: Domain, address: SocketAddr, layout: Layout) -> Result<Self, OpenError> {
        let socket = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))
            .map_err(fail(layout, "reserve a source port: socket"))?;
        Self::bound(socket, address, layout)
    }

    fn bound(socket: Socket, address: SocketAddr, layout: Layout) -> Result<Self, OpenError> {
        socket
            .bind(&SockAddr::from(address))
            .map_err(fail(layout, "reserve a source port: bind"))?;
        let local = socket
            .local_addr()
            .map_err(fail(layout, "reserve a source port: getsockname"))?;
        let port = local.as_socket().map_or(0, |address| address.port());
        Ok(ReservedPort {
            _socket: socket,
            port,
        })
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

/// How much the raw socket may queue before the prober reads it: room for the answers
/// of a burst of several thousand probes while the runtime is busy elsewhere.
const RECEIVE_BUFFER: usize = 4 << 20;

/// Opens the raw TCP socket of one family, non-blocking, with the filter keeping only
/// segments sent to `port`, and drains what arrived before the filter was attached.
pub fn open_raw(layout: Layout, port: u16) -> Result<Socket, OpenError> {
    let domain = match layout {
        Layout::Ipv4 => Domain::IPV4,
        Layout::Ipv6 => Domain::IPV6,
    };
    let socket =
        Socket::new(domain, Type::RAW, Some(Protocol::TCP)).map_err(fail(layout, "raw socket"))?;
    let program: Vec<SockFilter> = packet::filter(port, layout)
        .iter()
        .map(|i| SockFilter::new(i.code, i.jt, i.jf, i.k))
        .collect();
    socket
        .attach_filter(&program)
        .map_err(fail(layout, "SO_ATTACH_FILTER"))?;
    socket
        .set_nonblocking(true)
        .map_err(fail(layout, "O_NONBLOCK"))?;
    set_receive_buffer(&socket, layout)?;
    if layout == Layout::Ipv6 {
        // The kernel fills in the checksum (it knows the source address it picks).
        let offset = packet::CHECKSUM_OFFSET as libc::c_int;
        set_int_option(&socket, libc::IPPROTO_IPV6, libc::IPV6_CHECKSUM, offset)
            .map_err(fail(layout, "IPV6_CHECKSUM"))?;
    }
    drain(&socket);
    Ok(socket)
}

/// `SO_RCVBUFFORCE` (root may exceed `net.core.rmem_max`), else `SO_RCVBUF` (capped).
fn set_receive_buffer(socket: &Socket, layout: Layout) -> Result<(), OpenError> {
    let size = RECEIVE_BUFFER as libc::c_int;
    if set_int_option(socket, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, size).is_ok() {
        return Ok(());
    }
    socket
        .set_recv_buffer_size(RECEIVE_BUFFER)
        .map_err(fail(layout, "SO_RCVBUF"))
}

fn set_int_option(
    socket: &Socket,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let length = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: the option value is an int that outlives the call, and `length` is its size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&raw const value).cast(),
            length,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Reads and drops what the socket queued before its filter was attached.
fn drain(socket: &Socket) {
    let mut buffer = [MaybeUninit::<u8>::uninit(); 64];
    while socket.recv(&mut buffer).is_ok() {}
}

/// Receives one packet into `buffer` (cut at its length): its length and the sender.
pub fn receive(socket: &Socket, buffer: &mut [u8]) -> io::Result<(usize, IpAddr)> {
    // SAFETY: `[u8]` and `[MaybeUninit<u8>]` have the same layout, every byte of
    // `buffer` is initialised already, and recvfrom only writes initialised bytes into it.
    let uninit = unsafe { &mut *(std::ptr::from_mut(buffer) as *mut [MaybeUninit<u8>]) };
    let (length, from) = socket.recv_from(uninit)?;
    let address = from
        .as_socket()
        .map(|address| address.ip())
        .ok_or_else(|| io::Error::other("the sender is not an IP address"))?;
    Ok((length.min(buffer.len()), address))
}

/// Sends an IPv4 segment to `destination` from `source`: the source is pinned with an
/// `IP_PKTINFO` control message so it is the one the checksum was computed with, even if
/// the routes changed since it was looked up.
pub fn send_ipv4(
    socket: &Socket,
    segment: &[u8],
    source: Ipv4Addr,
    destination: Ipv4Addr,
) -> io::Result<()> {
    let control = pktinfo(source);
    let address = SockAddr::from(SocketAddrV4::new(destination, 0));
    let buffers = [io::IoSlice::new(segment)];
    let message = MsgHdr::new()
        .with_addr(&address)
        .with_buffers(&buffers)
        .with_control(&control);
    socket.sendmsg(&message, 0).map(drop)
}

/// Sends an IPv6 segment to `destination` (the kernel picks the source and fills in the
/// checksum). The port of a raw IPv6 destination must be 0 or the protocol.
pub fn send_ipv6(socket: &Socket, segment: &[u8], destination: Ipv6Addr) -> io::Result<()> {
    let address = SockAddr::from(SocketAddrV6::new(destination, 0, 0, 0));
    socket.send_to(segment, &address).map(drop)
}

/// The bytes of one `IP_PKTINFO` control message setting the source address: a
/// `cmsghdr` (length, level, type), then an `in_pktinfo` (interface 0: the route's; the
/// source; an address field sendmsg ignores), padded to `CMSG_SPACE`. The kernel copies
/// the buffer before parsing it, so its alignment does not matter.
fn pktinfo(source: Ipv4Addr) -> Vec<u8> {
    let header = std::mem::size_of::<libc::cmsghdr>();
    let info = std::mem::size_of::<libc::in_pktinfo>() as u32;
    // SAFETY: CMSG_LEN and CMSG_SPACE are arithmetic on their argument.
    let (length, space) = unsafe { (libc::CMSG_LEN(info), libc::CMSG_SPACE(info)) };
    let mut bytes = Vec::with_capacity(space as usize);
    // cmsg_len is a size_t on Linux (glibc and musl alike on 64-bit; 32-bit glibc too).
    bytes.extend_from_slice(&(length as usize).to_ne_bytes());
    bytes.extend_from_slice(&libc::IPPROTO_IP.to_ne_bytes());
    bytes.extend_from_slice(&libc::IP_PKTINFO.to_ne_bytes());
    bytes.resize(header, 0);
    bytes.extend_from_slice(&0i32.to_ne_bytes());
    bytes.extend_from_slice(&source.octets());
    bytes.extend_from_slice(&[0; 4]);
    bytes.resize(space as usize, 0);
    bytes
}

/// The source address the kernel picks for `destination`: a UDP socket connected to it
/// (which sends nothing) and its local address.
pub fn source_for(destination: Ipv4Addr) -> io::Result<Ipv4Addr> {
    let socket = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    socket.connect((destination, 9))?;
    match socket.local_addr()? {
        SocketAddr::V4(local) => Ok(*local.ip()),
        SocketAddr::V6(local) => Err(io::Error::other(format!(
            "an IPv6 source address {local} for {destination}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pktinfo_message_has_the_kernels_layout() {
        let bytes = pktinfo(Ipv4Addr::new(192, 0, 2, 7));
        // SAFETY: arithmetic only.
        let (length, space) = unsafe {
            let info = std::mem::size_of::<libc::in_pktinfo>() as u32;
            (
                libc::CMSG_LEN(info) as usize,
                libc::CMSG_SPACE(info) as usize,
            )
        };
        assert_eq!(bytes.len(), space);
        let word = std::mem::size_of::<usize>();
        assert_eq!(
            usize::from_ne_bytes(bytes[..word].try_into().expect("word")),
            length
        );
        // The data starts at CMSG_DATA: ifindex, then ipi_spec_dst.
        let data = length - std::mem::size_of::<libc::in_pktinfo>();
        assert_eq!(&bytes[data..data + 4], &[0; 4]);
        assert_eq!(&bytes[data + 4..data + 8], &[192, 0, 2, 7]);
    }

    #[test]
    fn loopback_is_its_own_source() {
        assert_eq!(
            source_for(Ipv4Addr::LOCALHOST).ok(),
            Some(Ipv4Addr::LOCALHOST)
        );
    }
}
