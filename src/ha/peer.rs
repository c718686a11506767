//! What this node knows of its peer: validation of every received heartbeat, the
//! counters behind status and metrics, liveness, and the peer's configuration.
//!
//! A datagram is accepted only if it comes from one of the peer's configured addresses
//! (public or private, on either channel, as Piranha), decodes under the pair's protocol
//! and key, and, for `shoal`, is fresh: its boot id is not older than the newest one
//! accepted, and within that boot its sequence number is greater than the last accepted
//! on its channel and at most [`REORDER_TOLERANCE`] below the newest accepted on any
//! channel. The sender puts the same sequence number on both channels, so the two copies
//! of one heartbeat are both accepted, and two heartbeats sent back to back may be read
//! from the two sockets in either order; any other replay or reordering is dropped.
//! Rejected packets never count as signs of life, so a forger or a replayer cannot keep a
//! dead peer alive (a recording of the peer's last heartbeats can extend its life once,
//! on a channel that had not received them, by at most one `deadtime`).

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::time::Instant;

use super::state::PeerReport;
use super::wire::{
    Auth, ConfigHash, PRIORITY_NONE, Protocol, ShoalPacket, WireError, WireState, decode_pulse,
};

/// How far behind the newest sequence number (of any channel) a heartbeat may be and
/// still be accepted on a channel that has not seen it: the receiver reads its two
/// sockets in no fixed order, so of two heartbeats sent back to back (a state change
/// right after a periodic one) the older may be read last.
pub const REORDER_TOLERANCE: u64 = 1;

/// The heartbeat paths: the public addresses, and the private ones when both nodes have
/// one (a second, independent network, so one failed switch is not a dead peer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// Between `primary` and `backup`.
    Public,
    /// Between `primary_private` and `backup_private`.
    Private,
}

impl Channel {
    fn index(self) -> usize {
        match self {
            Channel::Public => 0,
            Channel::Private => 1,
        }
    }
}

/// The peer's addresses, from lvs.cf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PeerAddresses {
    /// Its public address (`primary` or `backup`).
    pub public: IpAddr,
    /// Its private address, when it differs from the public one.
    pub private: Option<IpAddr>,
}

impl PeerAddresses {
    /// Whether a datagram from `source` may be the peer's.
    pub fn contains(&self, source: IpAddr) -> bool {
        let source = source.to_canonical();
        source == self.public.to_canonical()
            || self.private.is_some_and(|p| p.to_canonical() == source)
    }
}

/// Counters of one channel; every datagram increments `received` and exactly one of the
/// others (the rejection counters name why it was dropped).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ChannelCounters {
    /// Heartbeats sent.
    pub sent: u64,
    /// Heartbeats that could not be sent (no route, interface down).
    pub send_errors: u64,
    /// Datagrams received.
    pub received: u64,
    /// Valid heartbeats from the peer.
    pub accepted: u64,
    /// From an address that is not the peer's.
    pub rejected_source: u64,
    /// Of the wrong size for the protocol.
    pub rejected_length: u64,
    /// Failed authentication (forged, tampered, or a key mismatch).
    pub rejected_tag: u64,
    /// Authentic but not fresh: a sequence number already seen (a replay or reordering).
    pub replayed: u64,
    /// Authentic but from an older boot of the peer than one already heard.
    pub old_boot: u64,
    /// Another protocol, version or Piranha's fos mode.
    pub incompatible: u64,
}

/// The counters of both channels, for `shoal status --json` and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// The public channel.
    pub public: ChannelCounters,
    /// The private channel, when configured.
    pub private: Option<ChannelCounters>,
}

impl Counters {
    fn channel(&mut self, channel: Channel) -> &mut ChannelCounters {
        match channel {
            Channel::Public => &mut self.public,
            Channel::Private => self.private.get_or_insert_with(ChannelCounters::default),
        }
    }
}

/// Why a datagram was dropped, for the debug log (the counters say how often).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Not from the peer's addresses.
    #[error("heartbeat from {0}, which is not the peer")]
    Source(IpAddr),
    /// Not a valid packet of the protocol.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// A sequence number already accepted.
    #[error("replayed heartbeat: sequence {sequence} of boot {boot_id}, last accepted {last}")]
    Replayed {
        /// The peer boot it claims.
        boot_id: u64,
        /// Its sequence number.
        sequence: u64,
        /// The sequence it had to exceed.
        last: u64,
    },
    /// A boot older than the newest heard.
    #[error("heartbeat from an old boot {boot_id} of the peer (current {current})")]
    OldBoot {
        /// The boot it claims.
        boot_id: u64,
        /// The newest boot heard.
        current: u64,
    },
}

impl Rejection {
    fn count(&self, counters: &mut ChannelCounters) {
        let counter = match self {
            Rejection::Source(_) => &mut counters.rejected_source,
            Rejection::Wire(WireError::Length { .. }) => &mut counters.rejected_length,
            Rejection::Wire(WireError::Tag(_)) => &mut counters.rejected_tag,
            Rejection::Wire(WireError::Incompatible(_)) => &mut counters.incompatible,
            Rejection::Replayed { .. } => &mut counters.replayed,
            Rejection::OldBoot { .. } => &mut counters.old_boot,
        };
        *counter += 1;
    }
}

/// An accepted heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    /// Piranha's 4-byte heartbeat.
    Pulse(WireState),
    /// A `shoal` heartbeat.
    Shoal(ShoalPacket),
}

impl Heard {
    /// What the failover rules read from it. Piranha's "stopped" cannot say whether the
    /// peer could serve and is read as "cannot", which makes an inactive node activate,
    /// as Piranha does.
    pub fn report(&self) -> PeerReport {
        let (state, ready, hears_us) = match self {
            Heard::Pulse(state) => (*state, false, true),
            Heard::Shoal(p) => (p.state, p.priority != PRIORITY_NONE, p.hears_peer),
        };
        match state {
            WireState::Running => PeerReport::Active { hears_us },
            WireState::Stopped => PeerReport::Inactive { ready },
        }
    }
}

/// The replay window of one peer boot.
#[derive(Debug, Clone, Copy)]
struct Window {
    boot_id: u64,
    newest: u64,
    per_channel: [Option<u64>; 2],
}

/// The peer as seen from here, for status, the UI and the daemon's config mismatch
/// check. `PeerChanged` events carry it when anything but `last_heard_ms` changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PeerView {
    /// The peer's addresses.
    pub addresses: PeerAddresses,
    /// Whether a valid heartbeat arrived within `deadtime` on any channel.
    pub alive: bool,
    /// Per channel: whether it carried a valid heartbeat within `deadtime`.
    pub public_alive: bool,
    /// The private channel's liveness, when configured.
    pub private_alive: Option<bool>,
    /// The peer's last word, if it ever spoke.
    pub report: Option<PeerReport>,
    /// Its priority (`shoal` only; 0 = cannot serve).
    pub priority: Option<u8>,
    /// Its boot id (`shoal` only): a change means the peer restarted.
    pub boot_id: Option<u64>,
    /// Its lvs.cf `serial_no` (`shoal` only).
    pub config_serial: Option<u64>,
    /// Its lvs.cf hash (`shoal` only).
    pub config_hash: Option<ConfigHash>,
    /// Its keepalive in microseconds (`shoal` only).
    pub keepalive_us: Option<u64>,
    /// Wall-clock time of the last valid heartbeat, in Unix milliseconds.
    pub last_heard_ms: Option<u64>,
}

impl PeerView {
    /// The view without the time of the last heartbeat, to tell a real change.
    pub fn same_as(&self, other: &PeerView) -> bool {
        PeerView {
            last_heard_ms: None,
            ..*self
        } == PeerView {
            last_heard_ms: None,
            ..*other
        }
    }
}

/// Validation, accounting and liveness for the one peer.
#[derive(Debug)]
pub struct PeerTracker {
    protocol: Protocol,
    auth: Auth,
    addresses: PeerAddresses,
    private_channel: bool,
    deadtime: Duration,
    counters: Counters,
    last_accepted: [Option<Instant>; 2],
    last_heard_wall: Option<SystemTime>,
    window: Option<Window>,
    last: Option<Heard>,
}

impl PeerTracker {
    /// A tracker that has heard nothing yet; `private_channel` says whether this node
    /// listens on a private channel (its counters then show even when silent).
    pub fn new(
        protocol: Protocol,
        auth: Auth,
        addresses: PeerAddresses,
        private_channel: bool,
        deadtime: Duration,
    ) -> PeerTracker {
        let counters = Counters {
            public: ChannelCounters::default(),
            private: private_channel.then(ChannelCounters::default),
        };
        PeerTracker {
            protocol,
            auth,
            addresses,
            private_channel,
            deadtime,
            counters,
            last_accepted: [None, None],
            last_heard_wall: None,
            window: None,
            last: None,
        }
    }

    /// Validates and counts one datagram received on `channel` from `source`.
    pub fn receive(
        &mut self,
        channel: Channel,
        source: IpAddr,
        bytes: &[u8],
        now: Instant,
    ) -> Result<Heard, Rejection> {
        self.counters.channel(channel).received += 1;
        match self.validate(channel, source, bytes) {
            Ok(heard) => {
                self.counters.channel(channel).accepted += 1;
                // Times are the kernel's receive times: one read late (a drain) is not
                // newer than one already counted.
                let last = &mut self.last_accepted[channel.index()];
                *last = Some(last.map_or(now, |t| t.max(now)));
                self.last_heard_wall = Some(SystemTime::now());
                self.last = Some(heard);
                Ok(heard)
            }
            Err(rejection) => {
                rejection.count(self.counters.channel(channel));
                Err(rejection)
            }
        }
    }

    /// Counts one heartbeat sent (or not) on `channel`.
    pub fn record_send(&mut self, channel: Channel, ok: bool) {
        let counters = self.counters.channel(channel);
        if ok {
            counters.sent += 1;
        } else {
            counters.send_errors += 1;
        }
    }

    /// Whether the peer is alive: a valid heartbeat on any channel within `deadtime`.
    pub fn is_alive(&self, now: Instant) -> bool {
        self.dead_at().is_some_and(|dead| now < dead)
    }

    /// When the peer will be dead unless heard again; `None` before the first valid
    /// heartbeat (the runtime then counts `deadtime` from its start).
    pub fn dead_at(&self) -> Option<Instant> {
        self.last_accepted
            .iter()
            .flatten()
            .max()
            .map(|last| *last + self.deadtime)
    }

    /// The counters, for the snapshot.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// The peer as seen at `now`.
    pub fn view(&self, now: Instant) -> PeerView {
        let channel_alive = |channel: Channel| {
            self.last_accepted[channel.index()].is_some_and(|t| now < t + self.deadtime)
        };
        let packet = match self.last {
            Some(Heard::Shoal(packet)) => Some(packet),
            _ => None,
        };
        PeerView {
            addresses: self.addresses,
            alive: self.is_alive(now),
            public_alive: channel_alive(Channel::Public),
            private_alive: self
                .private_channel
                .then(|| channel_alive(Channel::Private)),
            report: self.last.map(|heard| heard.report()),
            priority: packet.map(|p| p.priority),
            boot_id: packet.map(|p| p.boot_id),
            config_serial: packet.map(|p| p.serial_no),
            config_hash: packet.map(|p| p.config_hash),
            keepalive_us: packet.map(|p| u64::try_from(p.keepalive.as_micros()).unwrap_or(0)),
            last_heard_ms: self.last_heard_wall.map(unix_ms),
        }
    }

    fn validate(
        &mut self,
        channel: Channel,
        source: IpAddr,
        bytes: &[u8],
    ) -> Result<Heard, Rejection> {
        if !self.addresses.contains(source) {
            return Err(Rejection::Source(source));
        }
        match self.protocol {
            Protocol::Pulse => Ok(Heard::Pulse(decode_pulse(bytes)?)),
            Protocol::Shoal => {
                let packet = ShoalPacket::decode(bytes, &self.auth)?;
                self.check_fresh(channel, &packet)?;
                Ok(Heard::Shoal(packet))
            }
        }
    }

    /// The anti-replay rule (see the module documentation); updates the window only for
    /// a packet that passes.
    fn check_fresh(&mut self, channel: Channel, packet: &ShoalPacket) -> Result<(), Rejection> {
        let index = channel.index();
        let fresh_boot = Window {
            boot_id: packet.boot_id,
            newest: packet.sequence,
            per_channel: [None, None],
        };
        let mut window = match self.window {
            None => fresh_boot,
            Some(w) if packet.boot_id > w.boot_id => fresh_boot,
            Some(w) if packet.boot_id < w.boot_id => {
                return Err(Rejection::OldBoot {
                    boot_id: packet.boot_id,
                    current: w.boot_id,
                });
            }
            Some(w) => w,
        };
        let channel_last = window.per_channel[index];
        let stale = channel_last.is_some_and(|last| packet.sequence <= last)
            || packet.sequence.saturating_add(REORDER_TOLERANCE) < window.newest;
        if stale {
            return Err(Rejection::Replayed {
                boot_id: packet.boot_id,
                sequence: packet.sequence,
                last: channel_last.unwrap_or(0).max(window.newest),
            });
        }
        window.per_channel[index] = Some(packet.sequence);
        window.newest = window.newest.max(packet.sequence);
        self.window = Some(window);
        Ok(())
    }
}

fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ha::wire::{HeartbeatKey, TagError, encode_pulse};

    const PEER: &str = "192.0.2.2";
    const PEER_PRIVATE: &str = "198.51.100.2";
    const STRANGER: &str = "192.0.2.66";
    const DEADTIME: Duration = Duration::from_millis(300);

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    fn key() -> Auth {
        Auth::Key(HeartbeatKey::new(b"the pair's shared secret".to_vec()).expect("key"))
    }

    fn tracker(protocol: Protocol, auth: Auth) -> PeerTracker {
        PeerTracker::new(
            protocol,
            auth,
            PeerAddresses {
                public: ip(PEER),
                private: Some(ip(PEER_PRIVATE)),
            },
            true,
            DEADTIME,
        )
    }

    fn packet(boot_id: u64, sequence: u64) -> ShoalPacket {
        ShoalPacket {
            state: WireState::Running,
            priority: 200,
            hears_peer: true,
            sequence,
            boot_id,
            serial_no: 7,
            config_hash: ConfigHash::of(b"lvs.cf"),
            keepalive: Duration::from_millis(100),
        }
    }

    fn send(t: &mut PeerTracker, channel: Channel, p: ShoalPacket) -> Result<Heard, Rejection> {
        t.receive(channel, ip(PEER), &p.encode(&key()), Instant::now())
    }

    #[test]
    fn only_the_peers_addresses_are_accepted_on_either_channel() {
        let mut t = tracker(Protocol::Pulse, Auth::None);
        let running = encode_pulse(WireState::Running);
        let now = Instant::now();
        assert!(t.receive(Channel::Public, ip(PEER), &running, now).is_ok());
        assert!(
            t.receive(Channel::Public, ip(PEER_PRIVATE), &running, now)
                .is_ok()
        );
        assert!(t.receive(Channel::Private, ip(PEER), &running, now).is_ok());
        assert_eq!(
            t.receive(Channel::Public, ip(STRANGER), &running, now),
            Err(Rejection::Source(ip(STRANGER)))
        );
        let c = t.counters();
        assert_eq!(
            (
                c.public.received,
                c.public.accepted,
                c.public.rejected_source
            ),
            (3, 2, 1)
        );
        assert_eq!(c.private.map(|p| p.accepted), Some(1));
    }

    #[test]
    fn pulse_length_and_fos_are_counted() {
        let mut t = tracker(Protocol::Pulse, Auth::None);
        let now = Instant::now();
        let _ = t.receive(Channel::Public, ip(PEER), &[0xda, 0xdb, 0xad], now);
        let _ = t.receive(
            Channel::Public,
            ip(PEER),
            &crate::ha::wire::FOS_RUNNING.to_ne_bytes(),
            now,
        );
        let c = t.counters().public;
        assert_eq!((c.received, c.rejected_length, c.incompatible), (2, 1, 1));
        assert!(!t.is_alive(now), "rejected packets are no sign of life");
    }

    #[test]
    fn a_forged_tag_is_rejected_and_counted() {
        let mut t = tracker(Protocol::Shoal, key());
        let forged = packet(1, 1).encode(&Auth::Key(
            HeartbeatKey::new(b"an attacker's guess at it".to_vec()).expect("key"),
        ));
        assert_eq!(
            t.receive(Channel::Public, ip(PEER), &forged, Instant::now()),
            Err(Rejection::Wire(WireError::Tag(TagError::Mismatch)))
        );
        let unsigned = packet(1, 1).encode(&Auth::None);
        assert!(matches!(
            t.receive(Channel::Public, ip(PEER), &unsigned, Instant::now()),
            Err(Rejection::Wire(WireError::Tag(TagError::PeerHasNoKey)))
        ));
        assert_eq!(t.counters().public.rejected_tag, 2);
        assert!(!t.is_alive(Instant::now()));
    }

    #[test]
    fn replays_within_a_boot_are_dropped() {
        let mut t = tracker(Protocol::Shoal, key());
        assert!(send(&mut t, Channel::Public, packet(10, 5)).is_ok());
        assert!(matches!(
            send(&mut t, Channel::Public, packet(10, 5)),
            Err(Rejection::Replayed { last: 5, .. })
        ));
        assert!(send(&mut t, Channel::Public, packet(10, 4)).is_err());
        assert!(send(&mut t, Channel::Public, packet(10, 6)).is_ok());
        assert_eq!(t.counters().public.replayed, 2);
        assert_eq!(t.counters().public.accepted, 2);
    }

    #[test]
    fn the_same_heartbeat_on_both_channels_is_accepted_once_each() {
        let mut t = tracker(Protocol::Shoal, key());
        assert!(send(&mut t, Channel::Public, packet(10, 5)).is_ok());
        assert!(send(&mut t, Channel::Private, packet(10, 5)).is_ok());
        assert!(send(&mut t, Channel::Private, packet(10, 5)).is_err());
        // Two heartbeats sent back to back, read from the sockets out of order: fine.
        assert!(send(&mut t, Channel::Public, packet(10, 7)).is_ok());
        assert!(send(&mut t, Channel::Private, packet(10, 6)).is_ok());
        assert!(send(&mut t, Channel::Private, packet(10, 7)).is_ok());
        // Two behind the newest is a replay or a stale channel: dropped.
        assert!(send(&mut t, Channel::Public, packet(10, 10)).is_ok());
        assert!(send(&mut t, Channel::Private, packet(10, 8)).is_err());
        assert!(send(&mut t, Channel::Private, packet(10, 9)).is_ok());
        assert_eq!(t.counters().private.map(|c| c.replayed), Some(2));
    }

    #[test]
    fn a_new_boot_resets_the_window_and_old_boots_are_dropped() {
        let mut t = tracker(Protocol::Shoal, key());
        assert!(send(&mut t, Channel::Public, packet(10, 500)).is_ok());
        // The peer restarted: its sequence starts again, under a larger boot id.
        assert!(send(&mut t, Channel::Public, packet(11, 1)).is_ok());
        assert_eq!(
            send(&mut t, Channel::Public, packet(10, 501)),
            Err(Rejection::OldBoot {
                boot_id: 10,
                current: 11
            })
        );
        assert_eq!(t.counters().public.old_boot, 1);
        assert_eq!(t.view(Instant::now()).boot_id, Some(11));
    }

    #[test]
    fn a_rejected_packet_does_not_move_the_window() {
        let mut t = tracker(Protocol::Shoal, key());
        assert!(send(&mut t, Channel::Public, packet(10, 5)).is_ok());
        let mut forged = packet(99, 1000).encode(&key());
        forged[crate::ha::wire::layout::TAG.offset] ^= 1;
        assert!(
            t.receive(Channel::Public, ip(PEER), &forged, Instant::now())
                .is_err()
        );
        assert!(send(&mut t, Channel::Public, packet(10, 6)).is_ok());
    }

    #[test]
    fn liveness_follows_the_last_accepted_heartbeat_on_any_channel() {
        let mut t = tracker(Protocol::Pulse, Auth::None);
        let start = Instant::now();
        assert!(!t.is_alive(start));
        assert_eq!(t.dead_at(), None);
        let running = encode_pulse(WireState::Running);
        assert!(
            t.receive(Channel::Public, ip(PEER), &running, start)
                .is_ok()
        );
        let later = start + Duration::from_millis(200);
        assert!(
            t.receive(Channel::Private, ip(PEER_PRIVATE), &running, later)
                .is_ok()
        );
        assert_eq!(t.dead_at(), Some(later + DEADTIME));
        let view = t.view(start + Duration::from_millis(350));
        assert!(view.alive);
        assert!(!view.public_alive, "public silent for 350 ms");
        assert_eq!(view.private_alive, Some(true));
        assert!(!t.is_alive(later + DEADTIME));
    }

    #[test]
    fn the_view_keeps_the_peers_config_and_report() {
        let mut t = tracker(Protocol::Shoal, key());
        let stopped = ShoalPacket {
            state: WireState::Stopped,
            priority: PRIORITY_NONE,
            ..packet(3, 1)
        };
        assert!(send(&mut t, Channel::Public, stopped).is_ok());
        let view = t.view(Instant::now());
        assert_eq!(view.report, Some(PeerReport::Inactive { ready: false }));
        assert_eq!(view.config_serial, Some(7));
        assert_eq!(view.config_hash, Some(ConfigHash::of(b"lvs.cf")));
        assert_eq!(view.keepalive_us, Some(100_000));
        assert!(view.last_heard_ms.is_some());
        let json = serde_json::to_value(view).expect("json");
        assert_eq!(json["report"]["state"], "inactive");
    }

    #[test]
    fn reports_map_piranhas_stopped_to_not_ready() {
        assert_eq!(
            Heard::Pulse(WireState::Stopped).report(),
            PeerReport::Inactive { ready: false }
        );
        assert_eq!(
            Heard::Pulse(WireState::Running).report(),
            PeerReport::Active { hears_us: true }
        );
        let standby = ShoalPacket {
            state: WireState::Stopped,
            ..packet(1, 1)
        };
        assert_eq!(
            Heard::Shoal(standby).report(),
            PeerReport::Inactive { ready: true }
        );
    }

    #[test]
    fn sends_are_counted_per_channel() {
        let mut t = tracker(Protocol::Shoal, Auth::None);
        t.record_send(Channel::Public, true);
        t.record_send(Channel::Private, false);
        let c = t.counters();
        assert_eq!(c.public.sent, 1);
        assert_eq!(c.private.map(|p| p.send_errors), Some(1));
    }
}
