//! This node's own addresses, for deciding its role ([`super::decide_role`]) and for
//! finding the interfaces whose links `monitor_links` watches.
//!
//! `getifaddrs(3)` is used rather than rtnetlink because it is synchronous, needs no
//! runtime, and answers for the calling thread's network namespace.

use std::ffi::CStr;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One address of one interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceAddress {
    /// The interface name (an IPv4 alias label such as `eth0:1` is reported by its
    /// label).
    pub interface: String,
    /// The address.
    pub address: IpAddr,
}

/// Every IPv4 and IPv6 address of every interface, in the kernel's order.
pub fn local_interfaces() -> io::Result<Vec<InterfaceAddress>> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a list head into `list` and returns 0, or -1 with errno.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut found = Vec::new();
    let mut entry = list;
    while !entry.is_null() {
        // SAFETY: `entry` is a node of the list getifaddrs returned, not yet freed.
        let node = unsafe { &*entry };
        if let Some(found_one) = read_entry(node) {
            found.push(found_one);
        }
        entry = node.ifa_next;
    }
    // SAFETY: `list` came from getifaddrs and is freed once, after its last use.
    unsafe { libc::freeifaddrs(list) };
    Ok(found)
}

/// The node's addresses without duplicates (an address on two interfaces counts once).
pub fn local_addresses() -> io::Result<Vec<IpAddr>> {
    let mut addresses: Vec<IpAddr> = Vec::new();
    for entry in local_interfaces()? {
        if !addresses.contains(&entry.address) {
            addresses.push(entry.address);
        }
    }
    Ok(addresses)
}

/// The interface that holds `address`, for watching its link.
pub fn interface_of(address: IpAddr) -> io::Result<Option<String>> {
    let address = address.to_canonical();
    Ok(local_interfaces()?
        .into_iter()
        .find(|entry| entry.address == address)
        .map(|entry| entry.interface))
}

fn read_entry(node: &libc::ifaddrs) -> Option<InterfaceAddress> {
    if node.ifa_addr.is_null() || node.ifa_name.is_null() {
        return None;
    }
    // SAFETY: ifa_addr is non-null and points at a sockaddr whose family field is valid.
    let family = i32::from(unsafe { (*node.ifa_addr).sa_family });
    let address = match family {
        libc::AF_INET => {
            // SAFETY: an AF_INET address is a sockaddr_in.
            let sin = unsafe { &*(node.ifa_addr as *const libc::sockaddr_in) };
            IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)))
        }
        libc::AF_INET6 => {
            // SAFETY: an AF_INET6 address is a sockaddr_in6.
            let sin6 = unsafe { &*(node.ifa_addr as *const libc::sockaddr_in6) };
            IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr))
        }
        _ => return None,
    };
    // SAFETY: ifa_name is a non-null NUL-terminated string owned by the list.
    let interface = unsafe { CStr::from_ptr(node.ifa_name) }
        .to_string_lossy()
        .into_owned();
    Some(InterfaceAddress { interface, address })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_listed() {
        let addresses = local_addresses().expect("getifaddrs");
        assert!(
            addresses.contains(&IpAddr::V4(Ipv4Addr::LOCALHOST)),
            "{addresses:?}"
        );
        assert_eq!(
            interface_of(IpAddr::V4(Ipv4Addr::LOCALHOST))
                .expect("getifaddrs")
                .as_deref(),
            Some("lo")
        );
    }
}
