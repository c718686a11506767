//! Announcing a taken-over address: gratuitous ARP for IPv4, unsolicited neighbour
//! advertisement for IPv6.
//!
//! When a VIP moves between directors, hosts and switches still send to the old
//! director's MAC until their caches expire (minutes). An announcement rewrites those
//! caches at once. One can be lost, and a switch may not have learnt the port yet when
//! the first one leaves, so they are repeated `garp_count` times `garp_interval` apart
//! (Piranha: 5 times, 1 s apart), the first at once so failover is not delayed.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use super::MacAddr;
use super::frame::{ArpOp, gratuitous_arp, unsolicited_na};
use super::packet::{PacketCause, PacketError, PacketSocket};

/// Why an announcement could not be sent. It names the address and the device, because
/// a director announces many of each and the log must say which one failed.
#[derive(Debug, thiserror::Error)]
pub enum GarpError {
    /// The device or the socket failed.
    #[error("cannot announce {address} on {device}: {cause}")]
    Send {
        /// The address being announced.
        address: IpAddr,
        /// The device it was to go out of.
        device: String,
        /// What failed.
        #[source]
        cause: PacketCause,
    },
    /// The address is not one a host can own (multicast, broadcast, unspecified,
    /// loopback), so announcing it would poison neighbour caches.
    #[error("cannot announce {address}: not a unicast address")]
    NotUnicast {
        /// The address refused.
        address: IpAddr,
    },
}

/// One frame of an announcement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// Gratuitous ARP request (op 1).
    ArpRequest,
    /// Gratuitous ARP reply (op 2), the form Piranha's `send_arp` sent.
    ArpReply,
    /// IPv6 unsolicited neighbour advertisement; `router` is its R flag.
    NeighbourAdvert {
        /// Whether the R flag was set (the device forwards IPv6).
        router: bool,
    },
}

impl fmt::Display for FrameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameKind::ArpRequest => f.write_str("gratuitous ARP request"),
            FrameKind::ArpReply => f.write_str("gratuitous ARP reply"),
            FrameKind::NeighbourAdvert { router: false } => {
                f.write_str("unsolicited neighbour advertisement")
            }
            FrameKind::NeighbourAdvert { router: true } => {
                f.write_str("unsolicited neighbour advertisement (router)")
            }
        }
    }
}

/// What one announcement put on the wire, so callers can log exactly that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// The device it went out of (an `eth0:1` alias is sent on `eth0`).
    pub device: String,
    /// The address announced.
    pub address: IpAddr,
    /// The hardware address it was announced at.
    pub mac: MacAddr,
    /// The frames, in the order sent.
    pub frames: Vec<FrameKind>,
}

impl fmt::Display for Announcement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} is at {} (", self.device, self.address, self.mac)?;
        for (i, frame) in self.frames.iter().enumerate() {
            if i > 0 {
                f.write_str(" + ")?;
            }
            write!(f, "{frame}")?;
        }
        f.write_str(")")
    }
}

/// A device ready to announce addresses, the socket opened once for a whole burst.
#[derive(Debug)]
pub struct Announcer {
    socket: PacketSocket,
    mac: Option<MacAddr>,
}

impl Announcer {
    /// Opens `device` for announcing. `mac` overrides the hardware address announced
    /// (Piranha's `send_arp` took one); `None` announces the device's own, read at each
    /// send. An `eth0:1` alias names its device `eth0`, since the alias is only an address
    /// label and Piranha configs name VIP devices that way.
    pub fn open(device: &str, mac: Option<MacAddr>) -> Result<Announcer, PacketError> {
        Ok(Announcer {
            socket: PacketSocket::sender(base_device(device))?,
            mac,
        })
    }

    /// Sends one announcement of `address`: for IPv4 a gratuitous ARP request and then a
    /// reply (hosts differ in which they honour), for IPv6 one unsolicited NA.
    pub fn send(&self, address: IpAddr) -> Result<Announcement, GarpError> {
        if !is_unicast(address) {
            return Err(GarpError::NotUnicast { address });
        }
        let error = |e: PacketError| GarpError::Send {
            address,
            device: e.device,
            cause: e.cause,
        };
        let mac = match self.mac {
            Some(mac) => mac,
            None => self.socket.hardware_address().map_err(error)?,
        };
        let mut frames = Vec::with_capacity(2);
        match address {
            IpAddr::V4(v4) => {
                for (op, kind) in [
                    (ArpOp::Request, FrameKind::ArpRequest),
                    (ArpOp::Reply, FrameKind::ArpReply),
                ] {
                    self.socket
                        .send(&gratuitous_arp(op, mac, v4))
                        .map_err(error)?;
                    frames.push(kind);
                }
            }
            IpAddr::V6(v6) => {
                let router = forwards_ipv6(self.socket.device());
                self.socket
                    .send(&unsolicited_na(mac, v6, router))
                    .map_err(error)?;
                frames.push(FrameKind::NeighbourAdvert { router });
            }
        }
        Ok(Announcement {
            device: self.socket.device().to_string(),
            address,
            mac,
            frames,
        })
    }
}

/// Announces `address` on `device` `count` times, `interval` apart, the first at once;
/// `on_sent` sees each announcement as it goes out (numbered from 1) so the caller can
/// log it. Returns how many were sent. A failure stops the burst: later sends would
/// fail the same way, and the caller decides whether to retry.
///
/// Dropping the future stops the burst, which is what a director that loses the
/// address again mid-burst needs.
pub async fn announce(
    device: &str,
    address: IpAddr,
    mac: Option<MacAddr>,
    count: u32,
    interval: Duration,
    on_sent: impl FnMut(u32, &Announcement),
) -> Result<u32, GarpError> {
    if count == 0 {
        return Ok(0);
    }
    let announcer = Announcer::open(device, mac).map_err(|e| GarpError::Send {
        address,
        device: e.device,
        cause: e.cause,
    })?;
    announce_with(&announcer, address, count, interval, on_sent).await
}

/// [`announce`] on an announcer the caller keeps open. Closing an AF_PACKET socket
/// waits for an RCU grace period in the kernel (`synchronize_net`, 10-15 ms), so a
/// director announcing many addresses keeps one announcer per device rather than
/// opening and closing one per burst.
pub async fn announce_with(
    announcer: &Announcer,
    address: IpAddr,
    count: u32,
    interval: Duration,
    mut on_sent: impl FnMut(u32, &Announcement),
) -> Result<u32, GarpError> {
    for number in 1..=count {
        if number > 1 {
            tokio::time::sleep(interval).await;
        }
        let announcement = announcer.send(address)?;
        on_sent(number, &announcement);
    }
    Ok(count)
}

/// The device an address label belongs to: `eth0:1` → `eth0`.
pub fn base_device(device: &str) -> &str {
    device.split_once(':').map_or(device, |(base, _)| base)
}

fn is_unicast(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => {
            !(v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast() || v4.is_loopback())
        }
        IpAddr::V6(v6) => !(v6.is_unspecified() || v6.is_multicast() || v6.is_loopback()),
    }
}

/// Whether the device forwards IPv6, read from this thread's network namespace: the NA's
/// R flag must say so, as the kernel's own unsolicited NA does, or hosts that use the
/// director as a router (NAT real servers) would drop it as their router.
fn forwards_ipv6(device: &str) -> bool {
    std::fs::read_to_string(format!("/proc/sys/net/ipv6/conf/{device}/forwarding"))
        .map(|value| value.trim() != "0")
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_names_its_device() {
        assert_eq!(base_device("eth0:1"), "eth0");
        assert_eq!(base_device("eth0"), "eth0");
        assert_eq!(base_device("bond0.10:vip"), "bond0.10");
    }

    #[test]
    fn only_unicast_is_announced() {
        for address in [
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "127.0.0.1",
            "::",
            "ff02::1",
            "::1",
        ] {
            assert!(!is_unicast(address.parse().expect("literal")), "{address}");
        }
        for address in ["192.0.2.100", "2001:db8::100", "fe80::1"] {
            assert!(is_unicast(address.parse().expect("literal")), "{address}");
        }
    }

    #[test]
    fn announcement_reads_as_what_was_sent() {
        let announcement = Announcement {
            device: "eth0".into(),
            address: "192.0.2.100".parse().expect("literal"),
            mac: MacAddr([2, 0, 0, 0, 0, 2]),
            frames: vec![FrameKind::ArpRequest, FrameKind::ArpReply],
        };
        assert_eq!(
            announcement.to_string(),
            "eth0: 192.0.2.100 is at 02:00:00:00:00:02 \
             (gratuitous ARP request + gratuitous ARP reply)"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn zero_count_sends_nothing_and_opens_nothing() {
        let sent = announce(
            "shoal-none0",
            "192.0.2.100".parse().expect("literal"),
            None,
            0,
            Duration::from_secs(1),
            |_, _| panic!("nothing to send"),
        )
        .await;
        assert_eq!(sent.ok(), Some(0));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn errors_name_address_and_device() {
        let error = announce(
            "shoal-none0:1",
            "192.0.2.100".parse().expect("literal"),
            None,
            1,
            Duration::from_secs(1),
            |_, _| {},
        )
        .await
        .expect_err("no such device");
        assert_eq!(
            error.to_string(),
            "cannot announce 192.0.2.100 on shoal-none0: no such device"
        );
    }
}
