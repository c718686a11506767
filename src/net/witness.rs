//! Whether another host still answers for IPv4 addresses: ARP probes and their replies.
//!
//! The standby director uses it when the active one's heartbeat falls silent: if the
//! VIPs still answer, from a MAC that is not this node's, the other director's kernel
//! is up and serving, and only its shoal is down (see [`crate::ha::hold`]). The probes
//! carry no sender address (RFC 5227), so no host on the LAN learns anything from them.
//!
//! Sockets are opened for one silence at a time and closed when it ends: a capture
//! socket receives every ARP frame on its device, and one kept open for days would queue
//! the whole LAN's ARP traffic for nothing.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::MacAddr;
use super::frame::{ARP_FRAME_LEN, ArpFrame, ETH_P_ARP, arp_probe};
use super::packet::{PacketError, PacketSocket};

/// An address to probe and the device it lives on (the real device: `eth0`, not the
/// `eth0:1` alias).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProbeTarget {
    /// The device the probe goes out of.
    pub device: String,
    /// The address asked for.
    pub address: Ipv4Addr,
}

impl std::fmt::Display for ProbeTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} on {}", self.address, self.device)
    }
}

/// One device's capture socket and this node's MAC on it (replies from that MAC are
/// this node's own and do not count).
struct DeviceSocket {
    device: String,
    socket: PacketSocket,
    mac: MacAddr,
}

/// Asks who has each target, and remembers when each was last answered.
pub struct ArpWitness {
    targets: Vec<ProbeTarget>,
    sockets: Vec<DeviceSocket>,
    answered: HashMap<Ipv4Addr, Instant>,
}

/// Replies read per call at most, so a LAN flooding ARP cannot hold the caller.
const READ_LIMIT: usize = 256;

impl ArpWitness {
    /// A witness for `targets`; nothing is opened until the first probe.
    pub fn new(targets: Vec<ProbeTarget>) -> ArpWitness {
        ArpWitness {
            targets,
            sockets: Vec::new(),
            answered: HashMap::new(),
        }
    }

    /// The addresses it probes.
    pub fn targets(&self) -> &[ProbeTarget] {
        &self.targets
    }

    /// Sends one probe for every target, opening the devices' sockets first if this is
    /// the first probe since [`Self::rest`]. Returns the errors (a device that cannot be
    /// opened leaves its targets unanswered, which reads as "not serving").
    pub fn probe(&mut self) -> Vec<PacketError> {
        let mut errors = Vec::new();
        if self.sockets.is_empty() {
            errors.extend(self.open());
        }
        for target in &self.targets {
            let Some(device) = self.sockets.iter().find(|s| s.device == target.device) else {
                continue;
            };
            if let Err(e) = device.socket.send(&arp_probe(device.mac, target.address)) {
                errors.push(e);
            }
        }
        errors
    }

    fn open(&mut self) -> Vec<PacketError> {
        let mut errors = Vec::new();
        let mut devices: Vec<&str> = self.targets.iter().map(|t| t.device.as_str()).collect();
        devices.sort_unstable();
        devices.dedup();
        for device in devices {
            let opened = PacketSocket::capture(device, ETH_P_ARP)
                .and_then(|socket| Ok((socket.hardware_address()?, socket)));
            match opened {
                Ok((mac, socket)) => self.sockets.push(DeviceSocket {
                    device: device.to_string(),
                    socket,
                    mac,
                }),
                Err(e) => errors.push(e),
            }
        }
        errors
    }

    /// Reads the replies that have arrived, without waiting.
    pub fn collect(&mut self) {
        let mut buffer = [0u8; ARP_FRAME_LEN + 64];
        for device in &self.sockets {
            for _ in 0..READ_LIMIT {
                let Ok(Some(len)) = device.socket.receive(&mut buffer, Duration::ZERO) else {
                    break;
                };
                let Some(frame) = ArpFrame::parse(&buffer[..len]) else {
                    continue;
                };
                if let Some(address) = answer(&frame, device.mac, &self.targets) {
                    self.answered.insert(address, Instant::now());
                }
            }
        }
    }

    /// Whether every target has answered at or after `since` (after [`Self::collect`]).
    /// No targets: `false`, nothing says the other host serves.
    pub fn all_answered_since(&self, since: Instant) -> bool {
        !self.targets.is_empty()
            && self
                .targets
                .iter()
                .all(|t| self.answered.get(&t.address).is_some_and(|at| *at >= since))
    }

    /// Closes the sockets and forgets the answers. The sockets are closed on a thread
    /// of their own: closing a packet socket waits for an RCU grace period (10-15 ms,
    /// more on a busy machine), and the caller is the heartbeat, which at that moment is
    /// about to take the service over.
    pub fn rest(&mut self) {
        let sockets = std::mem::take(&mut self.sockets);
        self.answered.clear();
        if sockets.is_empty() {
            return;
        }
        let closing = std::thread::Builder::new()
            .name("arp-witness-close".into())
            .spawn(move || drop(sockets));
        if let Err(e) = closing {
            tracing::debug!("closing the ARP probe sockets here: {e}");
        }
    }
}

/// The target a frame answers for: an ARP reply whose sender address is a target, from
/// a MAC other than `own` (this node's own replies prove nothing about the other host).
fn answer(frame: &ArpFrame, own: MacAddr, targets: &[ProbeTarget]) -> Option<Ipv4Addr> {
    let is_reply = frame.op == 2;
    let foreign = frame.sender_mac != own && frame.eth_source != own;
    let wanted = targets.iter().any(|t| t.address == frame.sender_ip);
    (is_reply && foreign && wanted).then_some(frame.sender_ip)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::frame::{ArpOp, gratuitous_arp};

    const OWN: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
    const PEER: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
    const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);

    fn targets() -> Vec<ProbeTarget> {
        vec![ProbeTarget {
            device: "eth0".into(),
            address: VIP,
        }]
    }

    fn reply(from: MacAddr, address: Ipv4Addr) -> ArpFrame {
        ArpFrame::parse(&gratuitous_arp(ArpOp::Reply, from, address)).expect("frame")
    }

    #[test]
    fn only_a_reply_for_a_target_from_another_host_counts() {
        assert_eq!(answer(&reply(PEER, VIP), OWN, &targets()), Some(VIP));
        assert_eq!(answer(&reply(OWN, VIP), OWN, &targets()), None, "our own");
        let other = Ipv4Addr::new(192, 0, 2, 99);
        assert_eq!(answer(&reply(PEER, other), OWN, &targets()), None);
        let request = ArpFrame::parse(&arp_probe(PEER, VIP)).expect("frame");
        assert_eq!(answer(&request, OWN, &targets()), None, "a request");
    }

    #[test]
    fn every_target_must_have_answered_since_the_given_time() {
        let mut witness = ArpWitness::new(vec![
            targets()[0].clone(),
            ProbeTarget {
                device: "eth0".into(),
                address: Ipv4Addr::new(192, 0, 2, 11),
            },
        ]);
        let before = Instant::now();
        assert!(!witness.all_answered_since(before));
        witness.answered.insert(VIP, Instant::now());
        assert!(!witness.all_answered_since(before), "one of two");
        witness
            .answered
            .insert(Ipv4Addr::new(192, 0, 2, 11), Instant::now());
        assert!(witness.all_answered_since(before));
        assert!(!witness.all_answered_since(Instant::now() + Duration::from_secs(1)));
        witness.rest();
        assert!(!witness.all_answered_since(before), "forgotten at rest");
        assert!(!ArpWitness::new(Vec::new()).all_answered_since(before));
    }
}
