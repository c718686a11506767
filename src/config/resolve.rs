//! Host and service names: resolved once, at load, as Piranha did with `gethostbyname`
//! and `getservbyname`, but an unresolvable name is an error naming the line.

use std::collections::HashMap;
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::OnceLock;

/// Where names come from. The daemon uses the system's; tests use a fixed table so a
/// verdict never depends on the machine's DNS.
pub trait Resolver {
    /// The address of a host name (IP literals never reach this).
    fn host(&self, name: &str) -> Result<IpAddr, String>;
    /// The TCP port of an `/etc/services` name.
    fn service(&self, name: &str) -> Option<u16>;
}

/// The system's resolver (`/etc/hosts`, DNS) and `/etc/services`.
#[derive(Debug, Default)]
pub struct SystemResolver {
    services: OnceLock<HashMap<String, u16>>,
}

impl SystemResolver {
    /// A resolver that reads `/etc/services` on first use.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Resolver for SystemResolver {
    fn host(&self, name: &str) -> Result<IpAddr, String> {
        let addresses: Vec<IpAddr> = (name, 0)
            .to_socket_addrs()
            .map_err(|e| e.to_string())?
            .map(|a| a.ip())
            .collect();
        // Piranha only knew IPv4, so an IPv4 answer wins, as gethostbyname gave it.
        addresses
            .iter()
            .find(|a| a.is_ipv4())
            .or(addresses.first())
            .copied()
            .ok_or_else(|| "no address".to_string())
    }

    fn service(&self, name: &str) -> Option<u16> {
        self.services
            .get_or_init(|| {
                std::fs::read_to_string("/etc/services")
                    .map(|text| parse_services(&text))
                    .unwrap_or_default()
            })
            .get(name)
            .copied()
    }
}

/// Reads the TCP entries (names and aliases) of an `/etc/services` file.
pub fn parse_services(text: &str) -> HashMap<String, u16> {
    let mut map = HashMap::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut fields = line.split_whitespace();
        let (Some(name), Some(port_proto)) = (fields.next(), fields.next()) else {
            continue;
        };
        let Some((port, "tcp")) = port_proto.split_once('/') else {
            continue;
        };
        let Ok(port) = port.parse::<u16>() else {
            continue;
        };
        for alias in std::iter::once(name).chain(fields) {
            map.entry(alias.to_string()).or_insert(port);
        }
    }
    map
}

/// A fixed table of names, for tests and for checking a file written for another
/// machine (`shoal check` of a config whose hosts live in that machine's /etc/hosts).
#[derive(Debug, Clone, Default)]
pub struct StaticResolver {
    /// Host name to address.
    pub hosts: HashMap<String, IpAddr>,
    /// Service name to TCP port.
    pub services: HashMap<String, u16>,
}

impl Resolver for StaticResolver {
    fn host(&self, name: &str) -> Result<IpAddr, String> {
        self.hosts
            .get(name)
            .copied()
            .ok_or_else(|| "unknown host".to_string())
    }

    fn service(&self, name: &str) -> Option<u16> {
        self.services.get(name).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_file_gives_tcp_names_and_aliases() {
        let map = parse_services("http 80/tcp www # WorldWideWeb\nhttp 80/udp\nsmtp 25/tcp mail\n");
        assert_eq!(map.get("http"), Some(&80));
        assert_eq!(map.get("www"), Some(&80));
        assert_eq!(map.get("mail"), Some(&25));
    }
}
