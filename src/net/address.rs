//! Adding and removing the addresses a director owns while it is active (VIPs and the
//! NAT router address), over rtnetlink.
//!
//! Piranha ran `ifconfig eth0:1 VIP up`; shoal talks to the kernel directly so a
//! failover does not fork, and so "already there" and "already gone" can be told apart
//! from real failures: after a crash or a restart the address may be in either state,
//! and both must be fine. The alias survives as the IPv4 address label (`ip addr` shows
//! `eth0:1`, and `ifconfig` still lists it as an alias).

use std::fmt;
use std::io;
use std::net::IpAddr;

use futures::TryStreamExt;
use rtnetlink::packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage,
};

/// Longest label the kernel stores (IFNAMSIZ − 1).
const MAX_LABEL_LEN: usize = 15;

/// What was done to the kernel, so a caller can undo exactly its own changes (an address
/// that was there before shoal started is not shoal's to remove).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressChange {
    /// The address was added / removed by this call.
    Changed,
    /// It was already present (add) or already absent (remove): nothing was done.
    Unchanged,
}

/// The operation an [`AddressError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressAction {
    /// Adding an address.
    Add,
    /// Removing an address.
    Remove,
}

impl AddressAction {
    fn preposition(self) -> &'static str {
        match self {
            AddressAction::Add => "to",
            AddressAction::Remove => "from",
        }
    }
}

impl fmt::Display for AddressAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddressAction::Add => "add",
            AddressAction::Remove => "remove",
        })
    }
}

/// Why an address operation failed, without the context [`AddressError`] adds.
#[derive(Debug, thiserror::Error)]
pub enum AddressCause {
    /// The device does not exist in this network namespace.
    #[error("no such device")]
    NoSuchDevice,
    /// The prefix is longer than the address.
    #[error("prefix length {0} is too long")]
    InvalidPrefix(u8),
    /// The label cannot be used: it is IPv4 only, must start with the device name (the
    /// kernel and `ifconfig` treat it as `DEV:ALIAS`) and fit in 15 bytes.
    #[error("invalid label '{label}': {reason}")]
    InvalidLabel {
        /// The label given.
        label: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The kernel refused (EPERM without CAP_NET_ADMIN, EADDRNOTAVAIL, ...).
    #[error("{0}")]
    Kernel(#[source] io::Error),
    /// The netlink exchange itself failed (the connection died, a message did not parse).
    #[error("{0}")]
    Netlink(#[source] rtnetlink::Error),
}

impl AddressCause {
    fn from_netlink(error: rtnetlink::Error) -> AddressCause {
        match error {
            rtnetlink::Error::NetlinkError(message) => {
                let io = message.to_io();
                if io.raw_os_error() == Some(libc::ENODEV) {
                    AddressCause::NoSuchDevice
                } else {
                    AddressCause::Kernel(io)
                }
            }
            other => AddressCause::Netlink(other),
        }
    }

    fn errno(&self) -> Option<i32> {
        match self {
            AddressCause::Kernel(e) => e.raw_os_error(),
            _ => None,
        }
    }
}

/// An address operation that failed, naming the device and the address, as in
/// "cannot add 192.0.2.10/32 to eth0: no such device".
#[derive(Debug, thiserror::Error)]
pub enum AddressError {
    /// No route netlink socket could be opened (no tokio runtime, or out of files).
    #[error("cannot open a route netlink socket: {0}")]
    Connect(#[source] io::Error),
    /// Adding or removing an address failed.
    #[error("cannot {action} {address}/{prefix_len} {} {device}: {cause}", .action.preposition())]
    Change {
        /// Add or remove.
        action: AddressAction,
        /// The address.
        address: IpAddr,
        /// Its prefix length.
        prefix_len: u8,
        /// The device.
        device: String,
        /// What went wrong.
        #[source]
        cause: AddressCause,
    },
    /// Looking a device up or listing its addresses failed.
    #[error("cannot read {device}: {cause}")]
    Read {
        /// The device.
        device: String,
        /// What went wrong.
        #[source]
        cause: AddressCause,
    },
}

impl AddressError {
    /// Whether the failure is that the device does not exist, which a director
    /// deactivating after its NIC vanished may treat as "nothing left to remove".
    pub fn is_no_such_device(&self) -> bool {
        matches!(
            self,
            AddressError::Change {
                cause: AddressCause::NoSuchDevice,
                ..
            } | AddressError::Read {
                cause: AddressCause::NoSuchDevice,
                ..
            }
        )
    }
}

/// One address of a link, as `ip addr` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkAddress {
    /// The address (IFA_LOCAL for IPv4, the address for IPv6).
    pub address: IpAddr,
    /// Its prefix length.
    pub prefix_len: u8,
    /// The IPv4 label (`eth0` or an alias such as `eth0:1`); IPv6 has none.
    pub label: Option<String>,
}

/// A route netlink connection in the caller's network namespace.
///
/// The connection task is spawned on the current tokio runtime when the handle is made
/// and stops when the handle is dropped; the socket belongs to the namespace of the thread
/// that made it, which is what lets a test (or a containerised director) work on its own
/// namespace. Create it once and keep it: every call reuses the connection.
#[derive(Debug)]
pub struct NetHandle {
    handle: rtnetlink::Handle,
    connection: tokio::task::JoinHandle<()>,
}

impl Drop for NetHandle {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

impl NetHandle {
    /// Opens the connection; must be called inside a tokio runtime.
    pub fn new() -> Result<NetHandle, AddressError> {
        // The socket registers with the runtime's reactor as it is made: check first
        // rather than panic.
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(AddressError::Connect(io::Error::other(
                "no tokio runtime to run the connection on",
            )));
        }
        let (connection, handle, _) = rtnetlink::new_connection().map_err(AddressError::Connect)?;
        let connection = tokio::spawn(connection);
        Ok(NetHandle { handle, connection })
    }

    /// The kernel's index of a link, which every address request needs.
    pub async fn link_index(&self, link: &str) -> Result<u32, AddressError> {
        let read = |cause| AddressError::Read {
            device: link.to_string(),
            cause,
        };
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(link.to_string())
            .execute();
        match links.try_next().await {
            Ok(Some(message)) => Ok(message.header.index),
            Ok(None) => Err(read(AddressCause::NoSuchDevice)),
            Err(e) => Err(read(AddressCause::from_netlink(e))),
        }
    }

    /// Adds `address/prefix_len` to `link`, with `label` (IPv4 only, such as Piranha's
    /// `eth0:1`) as its address label. An address that is already there is not an error
    /// ([`AddressChange::Unchanged`]; its label is left as it is), because a restarted
    /// director finds its VIPs still plumbed. IPv6 addresses skip duplicate address
    /// detection: a VIP taken over from a failed peer must answer at once, not after DAD,
    /// and DAD would fail for good if the old owner still briefly answered.
    pub async fn add_address(
        &self,
        link: &str,
        address: IpAddr,
        prefix_len: u8,
        label: Option<&str>,
    ) -> Result<AddressChange, AddressError> {
        let error = |cause| AddressError::Change {
            action: AddressAction::Add,
            address,
            prefix_len,
            device: link.to_string(),
            cause,
        };
        check_prefix(address, prefix_len).map_err(error)?;
        if let Some(label) = label {
            check_label(link, address, label).map_err(error)?;
        }
        let index = self.index_for(link).await.map_err(error)?;
        let mut request = self.handle.address().add(index, address, prefix_len);
        let message = request.message_mut();
        if let Some(label) = label {
            message
                .attributes
                .push(AddressAttribute::Label(label.to_string()));
        }
        if address.is_ipv6() {
            message.header.flags |= AddressHeaderFlags::Nodad;
            message
                .attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        match request.execute().await.map_err(AddressCause::from_netlink) {
            Ok(()) => Ok(AddressChange::Changed),
            Err(cause) if cause.errno() == Some(libc::EEXIST) => Ok(AddressChange::Unchanged),
            Err(cause) => Err(error(cause)),
        }
    }

    /// Removes `address/prefix_len` from `link`, whatever its label. An address that is
    /// not there is not an error ([`AddressChange::Unchanged`]): deactivation must finish
    /// even when an operator or a crash already removed it.
    pub async fn remove_address(
        &self,
        link: &str,
        address: IpAddr,
        prefix_len: u8,
    ) -> Result<AddressChange, AddressError> {
        let error = |cause| AddressError::Change {
            action: AddressAction::Remove,
            address,
            prefix_len,
            device: link.to_string(),
            cause,
        };
        check_prefix(address, prefix_len).map_err(error)?;
        let index = self.index_for(link).await.map_err(error)?;
        let mut message = AddressMessage::default();
        message.header.family = match address {
            IpAddr::V4(_) => rtnetlink::packet_route::AddressFamily::Inet,
            IpAddr::V6(_) => rtnetlink::packet_route::AddressFamily::Inet6,
        };
        message.header.index = index;
        message.header.prefix_len = prefix_len;
        message.attributes.push(AddressAttribute::Local(address));
        if address.is_ipv6() {
            message.attributes.push(AddressAttribute::Address(address));
        }
        match self
            .handle
            .address()
            .del(message)
            .execute()
            .await
            .map_err(AddressCause::from_netlink)
        {
            Ok(()) => Ok(AddressChange::Changed),
            Err(cause) if cause.errno() == Some(libc::EADDRNOTAVAIL) => {
                Ok(AddressChange::Unchanged)
            }
            Err(cause) => Err(error(cause)),
        }
    }

    /// The IPv4 and IPv6 addresses of `link`, in the kernel's order; for status output
    /// and for checking what a previous run left behind.
    pub async fn addresses(&self, link: &str) -> Result<Vec<LinkAddress>, AddressError> {
        let index = self.link_index(link).await?;
        let read = |cause| AddressError::Read {
            device: link.to_string(),
            cause,
        };
        let mut messages = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .execute();
        let mut addresses = Vec::new();
        while let Some(message) = messages
            .try_next()
            .await
            .map_err(|e| read(AddressCause::from_netlink(e)))?
        {
            if let Some(address) = link_address(&message) {
                addresses.push(address);
            }
        }
        Ok(addresses)
    }

    /// The link's index: from `if_nametoindex` (one system call: taking over a VIP waits
    /// for it), or from rtnetlink when that fails, for its error.
    async fn index_for(&self, link: &str) -> Result<u32, AddressCause> {
        if let Some(index) = super::packet::interface_index(link)
            .ok()
            .and_then(|index| u32::try_from(index).ok())
        {
            return Ok(index);
        }
        self.link_index(link).await.map_err(|e| match e {
            AddressError::Read { cause, .. } | AddressError::Change { cause, .. } => cause,
            AddressError::Connect(e) => AddressCause::Kernel(e),
        })
    }
}

fn link_address(message: &AddressMessage) -> Option<LinkAddress> {
    let mut local = None;
    let mut address = None;
    let mut label = None;
    for attribute in &message.attributes {
        match attribute {
            AddressAttribute::Local(ip) => local = Some(*ip),
            AddressAttribute::Address(ip) => address = Some(*ip),
            AddressAttribute::Label(text) => label = Some(text.clone()),
            _ => {}
        }
    }
    Some(LinkAddress {
        // IPv4 point-to-point addresses carry the peer in IFA_ADDRESS; ours is IFA_LOCAL.
        address: local.or(address)?,
        prefix_len: message.header.prefix_len,
        label,
    })
}

fn check_prefix(address: IpAddr, prefix_len: u8) -> Result<(), AddressCause> {
    let max = if address.is_ipv4() { 32 } else { 128 };
    if prefix_len > max {
        return Err(AddressCause::InvalidPrefix(prefix_len));
    }
    Ok(())
}

/// The rules `ip addr add ... label` applies, checked here so a bad lvs.cf device gives
/// a clear error instead of a kernel EINVAL or a silently odd label.
fn check_label(link: &str, address: IpAddr, label: &str) -> Result<(), AddressCause> {
    let invalid = |reason| AddressCause::InvalidLabel {
        label: label.to_string(),
        reason,
    };
    if address.is_ipv6() {
        return Err(invalid("labels are IPv4 only"));
    }
    if !label.starts_with(link) {
        return Err(invalid("it must start with the device name"));
    }
    if label.len() > MAX_LABEL_LEN {
        return Err(invalid("it is longer than 15 bytes"));
    }
    if label.contains('\0') {
        return Err(invalid("it contains a NUL byte"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4() -> IpAddr {
        "192.0.2.10".parse().expect("literal")
    }

    #[test]
    fn labels() {
        assert!(check_label("eth0", v4(), "eth0").is_ok());
        assert!(check_label("eth0", v4(), "eth0:1").is_ok());
        assert!(check_label("eth0", v4(), "eth0:vip123456").is_ok());
        let refused = |link, address, label| {
            check_label(link, address, label)
                .expect_err("refused")
                .to_string()
        };
        assert_eq!(
            refused("eth0", v4(), "eth1:1"),
            "invalid label 'eth1:1': it must start with the device name"
        );
        assert_eq!(
            refused("eth0", v4(), "eth0:vip12345678"),
            "invalid label 'eth0:vip12345678': it is longer than 15 bytes"
        );
        assert_eq!(
            refused("eth0", "2001:db8::1".parse().expect("literal"), "eth0:1"),
            "invalid label 'eth0:1': labels are IPv4 only"
        );
    }

    #[test]
    fn prefixes() {
        assert!(check_prefix(v4(), 32).is_ok());
        assert!(check_prefix(v4(), 33).is_err());
        assert!(check_prefix("2001:db8::1".parse().expect("literal"), 128).is_ok());
        assert!(check_prefix("2001:db8::1".parse().expect("literal"), 129).is_err());
    }

    #[test]
    fn errors_read_as_the_operator_needs() {
        let error = AddressError::Change {
            action: AddressAction::Add,
            address: v4(),
            prefix_len: 32,
            device: "eth0".into(),
            cause: AddressCause::NoSuchDevice,
        };
        assert_eq!(
            error.to_string(),
            "cannot add 192.0.2.10/32 to eth0: no such device"
        );
        assert!(error.is_no_such_device());
        let error = AddressError::Change {
            action: AddressAction::Remove,
            address: v4(),
            prefix_len: 24,
            device: "eth0".into(),
            cause: AddressCause::Kernel(io::Error::from_raw_os_error(libc::EPERM)),
        };
        assert!(
            error
                .to_string()
                .starts_with("cannot remove 192.0.2.10/24 from eth0: Operation not permitted"),
            "{error}"
        );
        assert!(!error.is_no_such_device());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn missing_device_is_named() {
        let handle = NetHandle::new().expect("route netlink socket");
        let error = handle
            .add_address("shoal-none0", v4(), 32, None)
            .await
            .expect_err("no such device");
        assert_eq!(
            error.to_string(),
            "cannot add 192.0.2.10/32 to shoal-none0: no such device"
        );
        let error = handle
            .remove_address("shoal-none0", v4(), 32)
            .await
            .expect_err("no such device");
        assert!(error.is_no_such_device(), "{error}");
    }
}
