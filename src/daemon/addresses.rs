//! The floating addresses of the active node: every active VIP and the NAT router,
//! plumbed with their Piranha `eth0:1` labels and announced with gratuitous ARP.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use tokio::task::AbortHandle;

use tracing::{info, warn};

use crate::config::model::{Config, InterfaceAddress, Netmask, ServiceKind, VirtualServer};
use crate::net::garp::base_device;
use crate::net::{AddressChange, AddressError, Announcer, NetHandle, announce_with};

/// An address the configuration wants on this node while it is active.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Floating {
    /// The device as written in lvs.cf, alias included (`eth0:1`).
    pub device: String,
    /// The VIP or NAT router address.
    pub address: IpAddr,
    /// Prefix length from `vip_nmask` / `nat_nmask`.
    pub prefix_len: u8,
}

impl Floating {
    fn new(place: &InterfaceAddress, mask: Option<Netmask>) -> Self {
        let full = if place.address.is_ipv4() { 32 } else { 128 };
        // A mask of 0 (`vip_nmask = 0.0.0.0`, seen in published files) would make the VIP
        // a route to everything; it is taken as a host address.
        let prefix_len = mask
            .map(Netmask::prefix_len)
            .filter(|p| *p > 0 && *p <= full)
            .unwrap_or(full);
        Floating {
            device: place.device.clone(),
            address: place.address,
            prefix_len,
        }
    }

    /// The real device (`eth0` for `eth0:1`).
    pub fn link(&self) -> &str {
        base_device(&self.device)
    }

    /// The address label: Piranha's alias, for IPv4 only.
    pub fn label(&self) -> Option<&str> {
        (self.address.is_ipv4() && self.device.contains(':')).then_some(self.device.as_str())
    }
}

impl std::fmt::Display for Floating {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{} on {}", self.address, self.prefix_len, self.device)
    }
}

/// Every address the active node holds: each active virtual server's VIP (once, however
/// many services share it) and the NAT router.
pub fn wanted(config: &Config) -> Vec<Floating> {
    let mut out: Vec<Floating> = Vec::new();
    if config.global.service == ServiceKind::Fos {
        return out;
    }
    let vips = vips(&config.virtual_servers);
    let router = config
        .global
        .nat_router
        .as_ref()
        .map(|a| Floating::new(a, config.global.nat_nmask));
    let mut seen = HashSet::new();
    for floating in vips.chain(router) {
        if seen.insert((floating.address, floating.link().to_string())) {
            out.push(floating);
        }
    }
    out
}

/// The VIPs some virtual servers want (before deduplication): a reload compares those of
/// the blocks it re-read, before and after, to know whether addresses must change at all.
pub fn vips(virtual_servers: &[VirtualServer]) -> impl Iterator<Item = Floating> + '_ {
    virtual_servers
        .iter()
        .filter(|vs| vs.active)
        .filter_map(|vs| vs.address.as_ref().map(|a| Floating::new(a, vs.vip_nmask)))
}

/// How many address changes are in flight at once: enough that thousands of VIPs are
/// plumbed in a few round-trip times, few enough not to flood the kernel's socket.
const PARALLEL_CHANGES: usize = 32;

/// Plumbs and announces addresses, remembering which ones it added so that it removes
/// only those (an address an administrator put there stays), and which ones it knows to
/// be present so that a reload asks the kernel only about new ones.
pub struct Addresses {
    net: Option<NetHandle>,
    added: HashSet<Floating>,
    held: HashSet<Floating>,
    /// The announcement burst of each address that has one running: a new burst replaces
    /// it, and it ends when the address is given up (a node that no longer holds an
    /// address must not go on telling the network that it is here).
    announcing: HashMap<Floating, AbortHandle>,
    /// One open announcer per device, kept: closing a packet socket blocks the thread
    /// for an RCU grace period (10-15 ms), which at activation would delay every
    /// address's first announcement after the first.
    announcers: HashMap<String, Arc<Announcer>>,
}

impl Addresses {
    /// `None` for a dry run, which only logs.
    pub fn new(dry_run: bool) -> Result<Self, String> {
        let net = if dry_run {
            None
        } else {
            Some(NetHandle::new().map_err(|e| e.to_string())?)
        };
        Ok(Addresses {
            net,
            added: HashSet::new(),
            held: HashSet::new(),
            announcing: HashMap::new(),
            announcers: HashMap::new(),
        })
    }

    /// Makes the node hold exactly `wanted` (of what it added) and announces the new
    /// addresses, or every wanted one with `announce_all` (at activation). Returns the
    /// errors.
    pub async fn converge(
        &mut self,
        wanted: &[Floating],
        announce_all: bool,
        garp: (u32, Duration),
    ) -> Vec<String> {
        let mut errors = Vec::new();
        let wanted_set: HashSet<&Floating> = wanted.iter().collect();
        let stale: Vec<Floating> = self
            .added
            .iter()
            .filter(|f| !wanted_set.contains(f))
            .cloned()
            .collect();
        for floating in stale {
            if let Err(e) = self.remove(&floating).await {
                errors.push(e);
            }
        }
        self.held.retain(|f| wanted_set.contains(f));
        let missing: Vec<&Floating> = wanted.iter().filter(|f| !self.held.contains(*f)).collect();
        let Some(net) = &self.net else {
            for floating in missing {
                info!("would add address {floating} and announce it");
                self.held.insert(floating.clone());
            }
            return errors;
        };
        let results: Vec<(&Floating, Result<AddressChange, AddressError>)> = stream::iter(missing)
            .map(|f| async move {
                let change = net
                    .add_address(f.link(), f.address, f.prefix_len, f.label())
                    .await;
                (f, change)
            })
            .buffer_unordered(PARALLEL_CHANGES)
            .collect()
            .await;
        for (floating, result) in results {
            match result {
                Ok(change) => {
                    let new = change == AddressChange::Changed;
                    if new {
                        info!("added address {floating}");
                        self.added.insert(floating.clone());
                    }
                    self.held.insert(floating.clone());
                    if new && !announce_all {
                        self.announce_again(floating, garp);
                    }
                }
                Err(e) => {
                    warn!("{e}");
                    errors.push(e.to_string());
                }
            }
        }
        if announce_all {
            let held: Vec<&Floating> = wanted.iter().filter(|f| self.held.contains(*f)).collect();
            for floating in held {
                self.announce_again(floating, garp);
            }
        }
        errors
    }

    async fn remove(&mut self, floating: &Floating) -> Result<(), String> {
        self.added.remove(floating);
        self.held.remove(floating);
        if let Some(task) = self.announcing.remove(floating) {
            task.abort();
        }
        let Some(net) = &self.net else {
            info!("would remove address {floating}");
            return Ok(());
        };
        match net
            .remove_address(floating.link(), floating.address, floating.prefix_len)
            .await
        {
            Ok(change) => {
                if change == AddressChange::Changed {
                    info!("removed address {floating}");
                }
                Ok(())
            }
            Err(e) => {
                warn!("{e}");
                Err(e.to_string())
            }
        }
    }

    /// Removes the `wanted` addresses this node holds without holding the service: left
    /// behind by a crash, they would answer for the VIP beside the active peer. Absent
    /// ones are not an error.
    pub async fn remove_stale(&mut self, wanted: &[Floating]) -> Vec<String> {
        let mut errors = Vec::new();
        for floating in wanted {
            if let Err(e) = self.remove(floating).await {
                errors.push(e);
            }
        }
        errors
    }

    /// Takes `wanted` as this node's own without touching them: a restart found them on
    /// the interfaces, left by the previous run, and the kernel is serving on them. They
    /// are given up as if this run had added them.
    pub fn adopt(&mut self, wanted: &[Floating]) {
        for floating in wanted {
            info!("keeping address {floating}, left by the previous run");
            self.added.insert(floating.clone());
            self.held.insert(floating.clone());
        }
    }

    /// The open announcer for `link`, opened on first use.
    fn announcer(&mut self, link: &str) -> Result<Arc<Announcer>, String> {
        if let Some(announcer) = self.announcers.get(link) {
            return Ok(announcer.clone());
        }
        let announcer = Arc::new(Announcer::open(link, None).map_err(|e| e.to_string())?);
        self.announcers.insert(link.to_string(), announcer.clone());
        Ok(announcer)
    }

    /// Starts a burst of announcements of `floating`, in place of the one it may have
    /// running: the first at once, from the caller (which has just added the address: a
    /// task would wait until the supervisor next yields, after the rest of the
    /// activation), the others `interval` apart in the background.
    fn announce_again(&mut self, floating: &Floating, (count, interval): (u32, Duration)) {
        self.announcing.retain(|_, task| !task.is_finished());
        if let Some(previous) = self.announcing.remove(floating) {
            previous.abort();
        }
        if count == 0 {
            return;
        }
        let link = floating.link().to_string();
        let address = floating.address;
        let announcer = match self.announcer(&link) {
            Ok(announcer) => announcer,
            Err(e) => {
                warn!("cannot announce {address} on {link}: {e}");
                return;
            }
        };
        match announcer.send(address) {
            Ok(_) => info!("announced {address} on {link} (1/{count})"),
            Err(e) => {
                // A device deleted and made again has a new index: open it afresh next time.
                self.announcers.remove(&link);
                warn!("cannot announce {address} on {link}: {e}");
                return;
            }
        }
        if count == 1 {
            return;
        }
        let rest = tokio::spawn(async move {
            tokio::time::sleep(interval).await;
            let sent = announce_with(&announcer, address, count - 1, interval, |number, _| {
                info!("announced {address} on {link} ({}/{count})", number + 1);
            })
            .await;
            if let Err(e) = sent {
                warn!("{e}");
            }
        });
        self.announcing
            .insert(floating.clone(), rest.abort_handle());
    }

    /// Removes every address this node added.
    pub async fn release(&mut self) -> Vec<String> {
        let mut errors = Vec::new();
        for floating in self.added.clone() {
            if let Err(e) = self.remove(&floating).await {
                errors.push(e);
            }
        }
        errors
    }
}

/// Runs `active_cmd` / `inactive_cmd`: split on blanks, no shell, as Piranha did.
pub fn run_command(what: &str, command: Option<&str>, dry_run: bool) {
    let Some(command) = command else { return };
    let mut words = command.split_whitespace();
    let Some(program) = words.next() else { return };
    if dry_run {
        info!("would run {what}: {command}");
        return;
    }
    let args: Vec<String> = words.map(str::to_string).collect();
    let program = program.to_string();
    let what = what.to_string();
    tokio::spawn(async move {
        match tokio::process::Command::new(&program)
            .args(&args)
            .status()
            .await
        {
            Ok(status) if status.success() => info!("{what} {program}: done"),
            Ok(status) => warn!("{what} {program}: {status}"),
            Err(e) => warn!("{what} {program}: {e}"),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse::parse;
    use crate::config::resolve::StaticResolver;

    #[test]
    fn shared_vips_are_plumbed_once_with_their_labels() {
        let text = "nat_router = 198.51.100.254 eth1:1\nnat_nmask = 255.255.255.0\n\
                    virtual web {\n active = 1\n address = 192.0.2.10 eth0:1\n vip_nmask = 0.0.0.0\n}\n\
                    virtual ftp {\n active = 1\n address = 192.0.2.10 eth0:1\n port = 21\n}\n\
                    virtual off {\n active = 0\n address = 192.0.2.11 eth0:2\n}\n\
                    virtual v6 {\n active = 1\n address = 2001:db8::10 eth0\n vip_nmask = 64\n}\n";
        let config = parse(text.as_bytes(), &StaticResolver::default()).config;
        let found: Vec<String> = wanted(&config)
            .iter()
            .map(|f| format!("{f} label {:?}", f.label()))
            .collect();
        assert_eq!(
            found,
            [
                "192.0.2.10/32 on eth0:1 label Some(\"eth0:1\")",
                "2001:db8::10/64 on eth0 label None",
                "198.51.100.254/24 on eth1:1 label Some(\"eth1:1\")",
            ]
        );
    }
}
