//! The AF_PACKET socket announcements go out on (and captures come in on).
//!
//! Gratuitous ARP and unsolicited NA have to leave with a chosen Ethernet source and
//! destination, which only a link-layer socket allows. The socket works in the calling
//! thread's network namespace, so a director inside a container or a test namespace
//! announces on its own link.

use std::ffi::CString;
use std::io::{self, Read};
use std::mem::{self, MaybeUninit};
use std::os::fd::AsRawFd;
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, SockAddrStorage, Socket, Type};

use super::MacAddr;

/// Why an AF_PACKET operation failed; [`PacketError`] adds the device.
#[derive(Debug, thiserror::Error)]
pub enum PacketCause {
    /// The name cannot be a Linux interface name (empty, longer than 15 bytes, or with
    /// `/`, `:`, whitespace or NUL in it, as the kernel's `dev_valid_name` rules).
    #[error("not a valid interface name")]
    InvalidName,
    /// No such interface in this network namespace.
    #[error("no such device")]
    NoSuchDevice,
    /// The device has no Ethernet addresses (loopback, a tunnel), so ARP and NDP over
    /// Ethernet mean nothing there.
    #[error("not an Ethernet device (hardware type {0})")]
    NotEthernet(u16),
    /// socket(AF_PACKET) failed; EPERM means the process lacks CAP_NET_RAW.
    #[error("cannot open an AF_PACKET socket: {0}")]
    Socket(#[source] io::Error),
    /// Asking the kernel about the device failed.
    #[error("cannot read the device's hardware address: {0}")]
    Query(#[source] io::Error),
    /// bind(2) to the device failed.
    #[error("cannot bind to the device: {0}")]
    Bind(#[source] io::Error),
    /// sendto(2) failed (ENETDOWN: the device is down).
    #[error("cannot send: {0}")]
    Send(#[source] io::Error),
    /// The kernel took only part of the frame.
    #[error("sent {sent} of {len} bytes")]
    ShortSend {
        /// Bytes the kernel accepted.
        sent: usize,
        /// Bytes in the frame.
        len: usize,
    },
    /// A frame too short to carry an Ethernet header was handed to [`PacketSocket::send`].
    #[error("frame of {0} bytes has no Ethernet header")]
    ShortFrame(usize),
    /// recv(2) failed.
    #[error("cannot receive: {0}")]
    Receive(#[source] io::Error),
}

/// An AF_PACKET failure on a named device.
#[derive(Debug, thiserror::Error)]
#[error("{device}: {cause}")]
pub struct PacketError {
    /// The interface.
    pub device: String,
    /// What went wrong.
    #[source]
    pub cause: PacketCause,
}

/// A raw (SOCK_RAW) AF_PACKET socket tied to one interface.
///
/// Senders are opened with protocol 0, which the kernel never delivers received frames
/// to, so a long-lived sender does not queue up every ARP on the LAN; each frame names its
/// EtherType in the destination address of `sendto`. Capturers are bound to one EtherType.
#[derive(Debug)]
pub struct PacketSocket {
    socket: Socket,
    device: String,
    ifindex: i32,
}

impl PacketSocket {
    /// A socket for sending frames out of `device`.
    pub fn sender(device: &str) -> Result<PacketSocket, PacketError> {
        Self::open(device, 0)
    }

    /// A socket that receives every frame of `ethertype` on `device`, in and out, from
    /// the moment this returns; for tests and diagnostics that watch announcements.
    pub fn capture(device: &str, ethertype: u16) -> Result<PacketSocket, PacketError> {
        let socket = Self::open(device, ethertype)?;
        socket
            .socket
            .bind(&link_address(socket.ifindex, ethertype))
            .map_err(|e| socket.error(PacketCause::Bind(e)))?;
        Ok(socket)
    }

    fn open(device: &str, protocol: u16) -> Result<PacketSocket, PacketError> {
        let error = |cause| PacketError {
            device: device.to_string(),
            cause,
        };
        let ifindex = interface_index(device).map_err(error)?;
        let socket = Socket::new(
            Domain::from(libc::AF_PACKET),
            Type::RAW,
            Some(Protocol::from(i32::from(protocol.to_be()))),
        )
        .map_err(|e| error(PacketCause::Socket(e)))?;
        Ok(PacketSocket {
            socket,
            device: device.to_string(),
            ifindex,
        })
    }

    /// The interface this socket is tied to, for error messages and for per-device
    /// settings (such as IPv6 forwarding) that decide what a frame should say.
    pub fn device(&self) -> &str {
        &self.device
    }

    /// The interface's current Ethernet address: what announcements carry unless told
    /// otherwise, read at announcement time so a MAC changed by an operator (or a bond
    /// failover) is the one announced.
    pub fn hardware_address(&self) -> Result<MacAddr, PacketError> {
        let mut request = interface_request(&self.device).map_err(|c| self.error(c))?;
        // SAFETY: SIOCGIFHWADDR reads ifr_name and writes ifr_hwaddr inside the ifreq we
        // own; the fd is a valid open socket for the duration of the call.
        let rc = unsafe {
            libc::ioctl(
                self.socket.as_raw_fd(),
                libc::SIOCGIFHWADDR,
                &mut request as *mut libc::ifreq,
            )
        };
        if rc != 0 {
            let e = io::Error::last_os_error();
            return Err(self.error(if e.raw_os_error() == Some(libc::ENODEV) {
                PacketCause::NoSuchDevice
            } else {
                PacketCause::Query(e)
            }));
        }
        // SAFETY: a successful SIOCGIFHWADDR leaves ifru_hwaddr as the active field.
        let hardware = unsafe { request.ifr_ifru.ifru_hwaddr };
        if hardware.sa_family != libc::ARPHRD_ETHER {
            return Err(self.error(PacketCause::NotEthernet(hardware.sa_family)));
        }
        let mut mac = [0u8; 6];
        for (byte, raw) in mac.iter_mut().zip(hardware.sa_data) {
            *byte = raw as u8;
        }
        Ok(MacAddr(mac))
    }

    /// Sends one complete Ethernet frame (header included) out of the device.
    pub fn send(&self, frame: &[u8]) -> Result<(), PacketError> {
        let Some(ethertype) = frame.get(12..14) else {
            return Err(self.error(PacketCause::ShortFrame(frame.len())));
        };
        let ethertype = u16::from_be_bytes([ethertype[0], ethertype[1]]);
        let sent = self
            .socket
            .send_to(frame, &link_address(self.ifindex, ethertype))
            .map_err(|e| self.error(PacketCause::Send(e)))?;
        if sent != frame.len() {
            return Err(self.error(PacketCause::ShortSend {
                sent,
                len: frame.len(),
            }));
        }
        Ok(())
    }

    /// Receives one frame into `buffer`, waiting at most `timeout`; `Ok(None)` when none
    /// came. Frames longer than `buffer` are cut.
    pub fn receive(
        &self,
        buffer: &mut [u8],
        timeout: Duration,
    ) -> Result<Option<usize>, PacketError> {
        let timeout = if timeout.is_zero() {
            Duration::from_micros(1)
        } else {
            timeout
        };
        self.socket
            .set_read_timeout(Some(timeout))
            .map_err(|e| self.error(PacketCause::Receive(e)))?;
        match (&self.socket).read(buffer) {
            Ok(len) => Ok(Some(len)),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(self.error(PacketCause::Receive(e))),
        }
    }

    fn error(&self, cause: PacketCause) -> PacketError {
        PacketError {
            device: self.device.clone(),
            cause,
        }
    }
}

/// The kernel's index of `device` in the calling thread's network namespace.
pub fn interface_index(device: &str) -> Result<i32, PacketCause> {
    let name = interface_name(device)?;
    // SAFETY: `name` is a valid NUL-terminated string that outlives the call.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        let e = io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::ENODEV) | Some(libc::ENXIO) | Some(libc::ENOENT) => {
                PacketCause::NoSuchDevice
            }
            _ => PacketCause::Query(e),
        });
    }
    i32::try_from(index).map_err(|_| PacketCause::NoSuchDevice)
}

fn interface_name(device: &str) -> Result<CString, PacketCause> {
    let valid = !device.is_empty()
        && device.len() < libc::IFNAMSIZ
        && device != "."
        && device != ".."
        && !device
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace());
    if !valid {
        return Err(PacketCause::InvalidName);
    }
    CString::new(device).map_err(|_| PacketCause::InvalidName)
}

fn interface_request(device: &str) -> Result<libc::ifreq, PacketCause> {
    let name = interface_name(device)?;
    // SAFETY: ifreq is plain old data for which all zeros is a valid value.
    let mut request: libc::ifreq = unsafe { MaybeUninit::zeroed().assume_init() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(name.as_bytes_with_nul()) {
        *slot = *byte as libc::c_char;
    }
    Ok(request)
}

/// A `sockaddr_ll` naming the interface and EtherType, for bind and sendto.
fn link_address(ifindex: i32, ethertype: u16) -> SockAddr {
    let mut storage = SockAddrStorage::zeroed();
    // SAFETY: sockaddr_ll is one of this platform's sockaddr types, which is what
    // view_as requires; the storage is zeroed and large enough for it.
    let link = unsafe { storage.view_as::<libc::sockaddr_ll>() };
    link.sll_family = libc::AF_PACKET as libc::sa_family_t;
    link.sll_protocol = ethertype.to_be();
    link.sll_ifindex = ifindex;
    // SAFETY: the storage holds an initialised sockaddr_ll of exactly this length.
    unsafe {
        SockAddr::new(
            storage,
            mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names() {
        for good in ["eth0", "veth0", "br-lan.10", "a", "abcdefghijklmno"] {
            assert!(interface_name(good).is_ok(), "{good} refused");
        }
        for bad in [
            "",
            "abcdefghijklmnop",
            "a/b",
            "a b",
            "a\0b",
            ".",
            "..",
            "eth0:1",
        ] {
            assert!(
                matches!(interface_name(bad), Err(PacketCause::InvalidName)),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn missing_device_is_named() {
        let error = PacketSocket::sender("shoal-none0").expect_err("no such device");
        assert!(
            matches!(
                error.cause,
                PacketCause::NoSuchDevice | PacketCause::Socket(_)
            ),
            "{error:?}"
        );
        assert!(error.to_string().starts_with("shoal-none0: "), "{error}");
    }
}
