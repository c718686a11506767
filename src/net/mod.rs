//! The director's side of the network outside IPVS: the virtual addresses it owns while
//! active, and the announcements that make the LAN send their traffic to it.
//!
//! Piranha did this with `ifconfig DEV:alias VIP up` and a forked `send_arp` per VIP.
//! shoal does it in-process, so a failover is a handful of syscalls with typed errors
//! instead of a dozen child processes whose failures went unnoticed:
//! - [`address`]: adding and removing addresses over rtnetlink (the `eth0:1` alias
//!   survives as the IPv4 address label, so `ip addr` and Piranha-era scripts still
//!   recognise it);
//! - [`frame`]: the exact bytes of a gratuitous ARP and of an IPv6 unsolicited neighbour
//!   advertisement, as pure functions that tests can pin down byte for byte;
//! - [`packet`]: the AF_PACKET socket those frames go out (and can be captured) on;
//! - [`garp`]: the announcement schedule (`garp_count` bursts, `garp_interval` apart);
//! - [`witness`]: ARP probes that tell whether another host still answers for a VIP;
//! - [`stamp`]: the kernel's receive time of a packet read from a socket.

pub mod address;
pub mod frame;
pub mod garp;
pub mod link;
pub mod packet;
pub mod stamp;
pub mod witness;

use std::fmt;
use std::str::FromStr;

pub use address::{AddressChange, AddressError, LinkAddress, NetHandle};
pub use garp::{Announcement, Announcer, GarpError, announce, announce_with};

/// An Ethernet hardware address.
///
/// Its own type because the announcements put one in three places (Ethernet source, ARP
/// sender, NA option) and a bare `[u8; 6]` makes it too easy to mix it up with the
/// broadcast or zero addresses those frames also carry.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// `ff:ff:ff:ff:ff:ff`: where gratuitous ARP goes, so every host on the LAN sees it.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    /// `00:00:00:00:00:00`: the "unknown" target hardware address of an ARP request.
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// The six bytes in wire order: frames are built byte by byte.
    pub fn octets(self) -> [u8; 6] {
        self.0
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MacAddr({self})")
    }
}

/// Why a hardware address given on the command line was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid hardware address '{0}': expected six hex bytes such as 02:00:5e:10:00:01")]
pub struct MacParseError(pub String);

impl FromStr for MacAddr {
    type Err = MacParseError;

    /// Accepts `02:00:5e:10:00:01`, `02-00-5e-10-00-01` and Piranha's `send_arp` form
    /// `02005e100001`, so command lines written for Piranha keep working.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || MacParseError(text.to_string());
        let digits: Vec<&str> = if text.contains([':', '-']) {
            text.split([':', '-']).collect()
        } else if text.len() == 12 && text.is_ascii() {
            (0..6).map(|i| &text[2 * i..2 * i + 2]).collect()
        } else {
            return Err(bad());
        };
        if digits.len() != 6 {
            return Err(bad());
        }
        let mut octets = [0u8; 6];
        for (octet, digit) in octets.iter_mut().zip(digits) {
            if digit.is_empty() || digit.len() > 2 {
                return Err(bad());
            }
            *octet = u8::from_str_radix(digit, 16).map_err(|_| bad())?;
        }
        Ok(MacAddr(octets))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_forms() {
        let mac = MacAddr([0x02, 0x00, 0x5e, 0x10, 0x00, 0x01]);
        assert_eq!("02:00:5e:10:00:01".parse(), Ok(mac));
        assert_eq!("02-00-5E-10-00-01".parse(), Ok(mac));
        assert_eq!("02005e100001".parse(), Ok(mac));
        assert_eq!("2:0:5e:10:0:1".parse(), Ok(mac));
        assert_eq!(mac.to_string(), "02:00:5e:10:00:01");
        for bad in [
            "",
            "02:00:5e:10:00",
            "02:00:5e:10:00:01:02",
            "02:00:5e:10:00:1g",
            "02:00:5e:10:00:001",
            "02005e10000",
            "02::5e:10:00:01",
            "é2005e10000",
        ] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad:?} accepted");
        }
    }
}
