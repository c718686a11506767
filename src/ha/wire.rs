//! The two heartbeat wire formats.
//!
//! `pulse` is Piranha's: one 4-byte unsigned integer in the sender's host byte order, no
//! header, no sequence number, no authentication. It exists so that one node of a Piranha
//! pair can be migrated at a time. `shoal` is this project's own: a fixed-size packet with a
//! version, the sender's state and readiness, a sequence number and boot id against
//! replays, the sender's configuration serial and hash (so a pair that runs different
//! lvs.cf files is noticed), and an HMAC-SHA256 tag over all of it.
//!
//! Both decoders only look at bytes; where a packet came from is the business of
//! [`super::peer`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// Piranha's "I am active" heartbeat (`HEARTBEAT_RUNNING`).
pub const PULSE_RUNNING: u32 = 0xbdad_dbda;
/// Piranha's "I am inactive" heartbeat (`HEARTBEAT_STOPPED`).
pub const PULSE_STOPPED: u32 = 0xadbd_dabd;
/// Piranha's fos mode, "running"; fos and LVS nodes must refuse each other.
pub const FOS_RUNNING: u32 = 0xbeef_babe;
/// Piranha's fos mode, "stopped".
pub const FOS_STOPPED: u32 = 0xdead_beef;
/// Piranha's fos mode, "partner, go inactive".
pub const FOS_STOPME: u32 = 0xdead_dada;
/// Piranha's unused HOLD message (compiled out there, recognised here so it is named).
pub const PULSE_HOLD: u32 = 0xdeaf_babe;
/// Piranha's unused HELD message.
pub const PULSE_HELD: u32 = 0xdeaf_dada;
/// The only length Piranha accepts.
pub const PULSE_LEN: usize = 4;

/// What a heartbeat says about its sender, in both protocols: active ("running") or
/// inactive ("stopped").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WireState {
    /// The sender holds the service (Piranha's `HEARTBEAT_RUNNING`).
    Running,
    /// The sender does not hold the service (Piranha's `HEARTBEAT_STOPPED`).
    Stopped,
}

/// Why a packet could not be decoded; each maps onto one counter in
/// [`super::peer::ChannelCounters`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The packet has the wrong size for the protocol (Piranha accepts only 4 bytes).
    #[error("heartbeat of {got} bytes, expected {expected}")]
    Length {
        /// The protocol's size.
        expected: usize,
        /// The received size.
        got: usize,
    },
    /// The packet belongs to another protocol or version: the peer is misconfigured.
    #[error("incompatible heartbeat: {0}")]
    Incompatible(Incompatible),
    /// The HMAC tag does not match (wrong key, tampering or forgery).
    #[error("heartbeat authentication failed: {0}")]
    Tag(TagError),
}

/// The kinds of incompatible packets, named so an operator sees what the peer runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incompatible {
    /// A Piranha fos-mode heartbeat (Piranha refuses these too).
    Fos(u32),
    /// Piranha's unused HOLD/HELD messages.
    Hold(u32),
    /// A 4-byte value that is no known magic.
    UnknownPulse(u32),
    /// A Piranha `pulse` heartbeat reached a node speaking `shoal`.
    PulseOnShoal,
    /// A `shoal` heartbeat reached a node speaking `pulse`.
    ShoalOnPulse,
    /// The right size for `shoal` but not its magic.
    BadMagic([u8; 4]),
    /// A `shoal` packet of a version this build does not speak.
    Version(u8),
    /// An authenticated `shoal` packet with a state byte this build does not know.
    State(u8),
}

impl fmt::Display for Incompatible {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Incompatible::Fos(v) => write!(f, "Piranha fos heartbeat {v:#010x}"),
            Incompatible::Hold(v) => write!(f, "Piranha hold/held message {v:#010x}"),
            Incompatible::UnknownPulse(v) => write!(f, "unknown 4-byte heartbeat {v:#010x}"),
            Incompatible::PulseOnShoal => {
                f.write_str("a Piranha pulse heartbeat, but this node speaks shoal")
            }
            Incompatible::ShoalOnPulse => {
                f.write_str("a shoal heartbeat, but this node speaks pulse")
            }
            Incompatible::BadMagic(m) => write!(f, "unknown magic {m:02x?}"),
            Incompatible::Version(v) => {
                write!(f, "shoal heartbeat version {v}, expected {VERSION}")
            }
            Incompatible::State(v) => write!(f, "unknown state byte {v}"),
        }
    }
}

/// How the tag of a `shoal` packet failed, including the two key mismatches, which are
/// configuration errors rather than attacks and deserve their own words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    /// The tag is not the HMAC of the packet under our key.
    #[error("the tag does not match (wrong key or forged packet)")]
    Mismatch,
    /// We have a key; the peer sent an all-zero tag, i.e. it has none.
    #[error("the peer sends unauthenticated heartbeats but this node has a key")]
    PeerHasNoKey,
    /// We have no key; the peer signs its packets.
    #[error("the peer signs its heartbeats but this node has no key")]
    WeHaveNoKey,
}

/// Which heartbeat protocol a node speaks (`shoal.toml`); both nodes must agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// Piranha's 4-byte heartbeat, for a pair where the other node still runs Piranha.
    Pulse,
    /// shoal's authenticated heartbeat (the default when both nodes run shoal).
    #[default]
    Shoal,
}

impl std::str::FromStr for Protocol {
    type Err = String;

    fn from_str(text: &str) -> Result<Protocol, String> {
        match text {
            "pulse" => Ok(Protocol::Pulse),
            "shoal" => Ok(Protocol::Shoal),
            other => Err(format!(
                "unknown heartbeat protocol {other:?}: expected pulse or shoal"
            )),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Pulse => "pulse",
            Protocol::Shoal => "shoal",
        })
    }
}

// ----------------------------------------------------------------------------------------
// pulse

/// Encodes Piranha's heartbeat: the magic in this host's byte order, as Piranha sends it.
pub fn encode_pulse(state: WireState) -> [u8; PULSE_LEN] {
    let value = match state {
        WireState::Running => PULSE_RUNNING,
        WireState::Stopped => PULSE_STOPPED,
    };
    value.to_ne_bytes()
}

/// Decodes Piranha's heartbeat; only exactly 4 bytes with an LVS magic are a state.
pub fn decode_pulse(bytes: &[u8]) -> Result<WireState, WireError> {
    if bytes.len() == SHOAL_LEN && bytes.starts_with(&MAGIC) {
        return Err(WireError::Incompatible(Incompatible::ShoalOnPulse));
    }
    let word: [u8; PULSE_LEN] = bytes.try_into().map_err(|_| WireError::Length {
        expected: PULSE_LEN,
        got: bytes.len(),
    })?;
    match u32::from_ne_bytes(word) {
        PULSE_RUNNING => Ok(WireState::Running),
        PULSE_STOPPED => Ok(WireState::Stopped),
        v @ (FOS_RUNNING | FOS_STOPPED | FOS_STOPME) => {
            Err(WireError::Incompatible(Incompatible::Fos(v)))
        }
        v @ (PULSE_HOLD | PULSE_HELD) => Err(WireError::Incompatible(Incompatible::Hold(v))),
        v => Err(WireError::Incompatible(Incompatible::UnknownPulse(v))),
    }
}

// ----------------------------------------------------------------------------------------
// shoal: layout

/// One field of the `shoal` packet: where it starts and how long it is. The layout is
/// declared once, below, and both the encoder and the decoder read it from there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Byte offset from the start of the packet.
    pub offset: usize,
    /// Size in bytes.
    pub len: usize,
}

impl Field {
    /// The field right after this one, so the layout is a chain without hand-kept sums.
    pub const fn then(self, len: usize) -> Field {
        Field {
            offset: self.offset + self.len,
            len,
        }
    }

    /// Where the field ends (exclusive).
    pub const fn end(self) -> usize {
        self.offset + self.len
    }

    fn get(self, packet: &[u8]) -> &[u8] {
        &packet[self.offset..self.end()]
    }

    fn put(self, packet: &mut [u8], bytes: &[u8]) {
        packet[self.offset..self.end()].copy_from_slice(bytes);
    }
}

/// The `shoal` packet layout. Multi-byte integers are big-endian (network order), unlike
/// Piranha's host order, so mixed-endian pairs work.
pub mod layout {
    use super::Field;

    /// `b"SHOL"`: tells a `shoal` packet from anything else of the same size.
    pub const MAGIC: Field = Field { offset: 0, len: 4 };
    /// Protocol version, [`super::VERSION`].
    pub const VERSION: Field = MAGIC.then(1);
    /// 1 = running (active), 2 = stopped (inactive).
    pub const STATE: Field = VERSION.then(1);
    /// 0 = the sender cannot serve (stopped by the operator or link down); otherwise
    /// its role's priority.
    pub const PRIORITY: Field = STATE.then(1);
    /// Bit 0 ([`super::FLAG_HEARS_PEER`]): the sender hears its peer. Other bits are
    /// zero and ignored, room for flags without a version change.
    pub const FLAGS: Field = PRIORITY.then(1);
    /// Increases by one per heartbeat within a boot (u64).
    pub const SEQUENCE: Field = FLAGS.then(8);
    /// Grows across restarts of the sender (wall-clock nanoseconds at start, u64).
    pub const BOOT_ID: Field = SEQUENCE.then(8);
    /// The sender's lvs.cf `serial_no` (u64).
    pub const SERIAL: Field = BOOT_ID.then(8);
    /// SHA-256 of the sender's lvs.cf bytes.
    pub const CONFIG_HASH: Field = SERIAL.then(32);
    /// The sender's keepalive in microseconds (u64).
    pub const KEEPALIVE: Field = CONFIG_HASH.then(8);
    /// HMAC-SHA256 over every byte before it; all zero when the pair has no key.
    pub const TAG: Field = KEEPALIVE.then(32);
}

/// The magic of a `shoal` heartbeat.
pub const MAGIC: [u8; 4] = *b"SHOL";
/// The version this build speaks.
pub const VERSION: u8 = 1;
/// The size of a `shoal` heartbeat.
pub const SHOAL_LEN: usize = layout::TAG.end();
/// Size of the tag.
pub const TAG_LEN: usize = layout::TAG.len;
/// Priority meaning "the sender cannot take the service".
pub const PRIORITY_NONE: u8 = 0;
/// Flag: the sender has heard a valid heartbeat from its peer within `deadtime`.
pub const FLAG_HEARS_PEER: u8 = 0x01;

const STATE_RUNNING: u8 = 1;
const STATE_STOPPED: u8 = 2;

// ----------------------------------------------------------------------------------------
// shoal: key and hash

/// SHA-256 of an lvs.cf file, carried in every heartbeat so a configuration mismatch
/// between the pair shows in status and metrics. Serialises as lowercase hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ConfigHash(pub [u8; 32]);

impl ConfigHash {
    /// The hash of the file's bytes, exactly as read (no normalisation: both nodes must
    /// run the same file, byte for byte).
    pub fn of(bytes: &[u8]) -> ConfigHash {
        ConfigHash(Sha256::digest(bytes).into())
    }
}

impl fmt::Display for ConfigHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for ConfigHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConfigHash({self})")
    }
}

impl Serialize for ConfigHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The shortest key accepted: shorter ones are guessable.
pub const MIN_KEY_LEN: usize = 16;

/// The shared secret of the pair (`/etc/shoal/peer.key`). Its bytes never appear in
/// `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct HeartbeatKey(Vec<u8>);

impl fmt::Debug for HeartbeatKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HeartbeatKey({} bytes)", self.0.len())
    }
}

/// Why a key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file cannot be read.
    #[error("cannot read the heartbeat key {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Group or others may read the key file.
    #[error(
        "the heartbeat key {} is readable by group or others (mode {mode:o}): chmod 600 it",
        .path.display()
    )]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key is too short to resist guessing.
    #[error("the heartbeat key has {len} bytes, at least {MIN_KEY_LEN} are needed")]
    TooShort {
        /// Its length.
        len: usize,
    },
}

impl HeartbeatKey {
    /// A key from bytes, refusing keys shorter than [`MIN_KEY_LEN`].
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<HeartbeatKey, KeyError> {
        let bytes = bytes.into();
        if bytes.len() < MIN_KEY_LEN {
            return Err(KeyError::TooShort { len: bytes.len() });
        }
        Ok(HeartbeatKey(bytes))
    }

    /// Reads a key file: its bytes less one trailing newline (so `echo secret > file` and
    /// an editor's final newline give the same key on both nodes). Refuses a file that
    /// group or others can read, as ssh does for private keys.
    pub fn from_file(path: &Path) -> Result<HeartbeatKey, KeyError> {
        use std::os::unix::fs::PermissionsExt;
        let read = |source| KeyError::Read {
            path: path.to_path_buf(),
            source,
        };
        let mode = std::fs::metadata(path).map_err(read)?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(KeyError::Permissions {
                path: path.to_path_buf(),
                mode: mode & 0o7777,
            });
        }
        let mut bytes = std::fs::read(path).map_err(read)?;
        if bytes.last() == Some(&b'\n') {
            bytes.pop();
            if bytes.last() == Some(&b'\r') {
                bytes.pop();
            }
        }
        HeartbeatKey::new(bytes)
    }

    /// HMAC-SHA256 of `bytes` under this key; also signs configuration pushes
    /// ([`super::sync`]), whose own magic keeps them apart from heartbeats.
    pub(crate) fn tag(&self, bytes: &[u8]) -> [u8; TAG_LEN] {
        self.mac(bytes).finalize().into_bytes().into()
    }

    /// Whether `tag` is the HMAC of `bytes`, compared in constant time.
    pub(crate) fn verify(&self, bytes: &[u8], tag: &[u8]) -> bool {
        // verify_slice compares in constant time.
        self.mac(bytes).verify_slice(tag).is_ok()
    }

    fn mac(&self, bytes: &[u8]) -> Hmac<Sha256> {
        // HMAC takes keys of any length; the error branch cannot happen.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(bytes);
        mac
    }
}

/// How `shoal` packets are authenticated. "No key" is a state of its own rather than an
/// empty key, so it cannot happen by accident: packets then carry an all-zero tag, a
/// receiver without a key accepts only those, and the daemon warns that any host on the
/// path can impersonate the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// No authentication (the daemon must warn).
    None,
    /// HMAC-SHA256 with the pair's key.
    Key(HeartbeatKey),
}

impl Auth {
    /// Whether packets are authenticated, for status output.
    pub fn is_keyed(&self) -> bool {
        matches!(self, Auth::Key(_))
    }
}

// ----------------------------------------------------------------------------------------
// shoal: packet

/// A decoded `shoal` heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShoalPacket {
    /// Active or inactive.
    pub state: WireState,
    /// 0 when the sender cannot take the service; otherwise its role's priority.
    pub priority: u8,
    /// Whether the sender hears its peer (the receiver): a primary preempts only a
    /// backup that hears it, since a backup that does not would never yield.
    pub hears_peer: bool,
    /// Per-boot counter, strictly increasing.
    pub sequence: u64,
    /// Grows across the sender's restarts.
    pub boot_id: u64,
    /// The sender's lvs.cf `serial_no`.
    pub serial_no: u64,
    /// The sender's lvs.cf hash.
    pub config_hash: ConfigHash,
    /// The sender's keepalive (microsecond resolution on the wire).
    pub keepalive: Duration,
}

impl ShoalPacket {
    /// The packet's bytes, tagged with `auth`'s key (or an all-zero tag without one).
    pub fn encode(&self, auth: &Auth) -> [u8; SHOAL_LEN] {
        let mut packet = [0u8; SHOAL_LEN];
        layout::MAGIC.put(&mut packet, &MAGIC);
        layout::VERSION.put(&mut packet, &[VERSION]);
        layout::STATE.put(&mut packet, &[state_byte(self.state)]);
        layout::PRIORITY.put(&mut packet, &[self.priority]);
        let flags = if self.hears_peer { FLAG_HEARS_PEER } else { 0 };
        layout::FLAGS.put(&mut packet, &[flags]);
        layout::SEQUENCE.put(&mut packet, &self.sequence.to_be_bytes());
        layout::BOOT_ID.put(&mut packet, &self.boot_id.to_be_bytes());
        layout::SERIAL.put(&mut packet, &self.serial_no.to_be_bytes());
        layout::CONFIG_HASH.put(&mut packet, &self.config_hash.0);
        let micros = u64::try_from(self.keepalive.as_micros()).unwrap_or(u64::MAX);
        layout::KEEPALIVE.put(&mut packet, &micros.to_be_bytes());
        if let Auth::Key(key) = auth {
            let tag = key.tag(&packet[..layout::TAG.offset]);
            layout::TAG.put(&mut packet, &tag);
        }
        packet
    }

    /// Decodes and authenticates a packet: size, magic and version first (so another
    /// protocol is named as such), then the tag, and only then the fields.
    pub fn decode(bytes: &[u8], auth: &Auth) -> Result<ShoalPacket, WireError> {
        check_frame(bytes)?;
        check_tag(bytes, auth)?;
        let state = match layout::STATE.get(bytes)[0] {
            STATE_RUNNING => WireState::Running,
            STATE_STOPPED => WireState::Stopped,
            other => return Err(WireError::Incompatible(Incompatible::State(other))),
        };
        Ok(ShoalPacket {
            state,
            priority: layout::PRIORITY.get(bytes)[0],
            hears_peer: layout::FLAGS.get(bytes)[0] & FLAG_HEARS_PEER != 0,
            sequence: read_u64(bytes, layout::SEQUENCE),
            boot_id: read_u64(bytes, layout::BOOT_ID),
            serial_no: read_u64(bytes, layout::SERIAL),
            config_hash: ConfigHash(read_array(bytes, layout::CONFIG_HASH)),
            keepalive: Duration::from_micros(read_u64(bytes, layout::KEEPALIVE)),
        })
    }
}

fn state_byte(state: WireState) -> u8 {
    match state {
        WireState::Running => STATE_RUNNING,
        WireState::Stopped => STATE_STOPPED,
    }
}

fn check_frame(bytes: &[u8]) -> Result<(), WireError> {
    if bytes.len() == PULSE_LEN && decode_pulse(bytes).is_ok() {
        return Err(WireError::Incompatible(Incompatible::PulseOnShoal));
    }
    if bytes.len() != SHOAL_LEN {
        return Err(WireError::Length {
            expected: SHOAL_LEN,
            got: bytes.len(),
        });
    }
    let magic: [u8; 4] = read_array(bytes, layout::MAGIC);
    if magic != MAGIC {
        return Err(WireError::Incompatible(Incompatible::BadMagic(magic)));
    }
    match layout::VERSION.get(bytes)[0] {
        VERSION => Ok(()),
        other => Err(WireError::Incompatible(Incompatible::Version(other))),
    }
}

fn check_tag(bytes: &[u8], auth: &Auth) -> Result<(), WireError> {
    let tag = layout::TAG.get(bytes);
    let signed = &bytes[..layout::TAG.offset];
    let zero = tag.iter().all(|b| *b == 0);
    let verdict = match (auth, zero) {
        (Auth::None, true) => Ok(()),
        (Auth::None, false) => Err(TagError::WeHaveNoKey),
        (Auth::Key(_), true) => Err(TagError::PeerHasNoKey),
        (Auth::Key(key), false) if key.verify(signed, tag) => Ok(()),
        (Auth::Key(_), false) => Err(TagError::Mismatch),
    };
    verdict.map_err(WireError::Tag)
}

fn read_array<const N: usize>(bytes: &[u8], field: Field) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(field.get(bytes));
    out
}

fn read_u64(bytes: &[u8], field: Field) -> u64 {
    u64::from_be_bytes(read_array(bytes, field))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> Auth {
        Auth::Key(HeartbeatKey::new(vec![byte; 32]).expect("long enough"))
    }

    fn sample() -> ShoalPacket {
        ShoalPacket {
            state: WireState::Running,
            priority: 200,
            hears_peer: true,
            sequence: 0x0102_0304_0506_0708,
            boot_id: 1_700_000_000_123_456_789,
            serial_no: 42,
            config_hash: ConfigHash::of(b"serial_no = 42\n"),
            keepalive: Duration::from_millis(100),
        }
    }

    #[test]
    fn pulse_bytes_are_piranhas_host_order_magics() {
        assert_eq!(
            encode_pulse(WireState::Running),
            0xbdad_dbda_u32.to_ne_bytes()
        );
        assert_eq!(
            encode_pulse(WireState::Stopped),
            0xadbd_dabd_u32.to_ne_bytes()
        );
        if cfg!(target_endian = "little") {
            assert_eq!(encode_pulse(WireState::Running), [0xda, 0xdb, 0xad, 0xbd]);
            assert_eq!(encode_pulse(WireState::Stopped), [0xbd, 0xda, 0xbd, 0xad]);
        }
    }

    #[test]
    fn pulse_round_trips() {
        for state in [WireState::Running, WireState::Stopped] {
            assert_eq!(decode_pulse(&encode_pulse(state)), Ok(state));
        }
    }

    #[test]
    fn pulse_accepts_only_four_bytes() {
        let running = encode_pulse(WireState::Running);
        for bytes in [&running[..3], &[running.as_slice(), &[0]].concat()[..], &[]] {
            assert!(matches!(
                decode_pulse(bytes),
                Err(WireError::Length { expected: 4, .. })
            ));
        }
    }

    #[test]
    fn pulse_rejects_fos_and_unknown_magics_as_incompatible() {
        for v in [FOS_RUNNING, FOS_STOPPED, FOS_STOPME] {
            assert_eq!(
                decode_pulse(&v.to_ne_bytes()),
                Err(WireError::Incompatible(Incompatible::Fos(v)))
            );
        }
        assert_eq!(
            decode_pulse(&PULSE_HOLD.to_ne_bytes()),
            Err(WireError::Incompatible(Incompatible::Hold(PULSE_HOLD)))
        );
        // The other byte order of RUNNING is not RUNNING.
        let swapped = PULSE_RUNNING.swap_bytes();
        assert_eq!(
            decode_pulse(&swapped.to_ne_bytes()),
            Err(WireError::Incompatible(Incompatible::UnknownPulse(swapped)))
        );
    }

    #[test]
    fn pulse_names_a_shoal_packet() {
        let packet = sample().encode(&Auth::None);
        assert_eq!(
            decode_pulse(&packet),
            Err(WireError::Incompatible(Incompatible::ShoalOnPulse))
        );
    }

    #[test]
    fn layout_is_contiguous_and_104_bytes() {
        use layout::*;
        let fields = [
            MAGIC,
            VERSION,
            STATE,
            PRIORITY,
            FLAGS,
            SEQUENCE,
            BOOT_ID,
            SERIAL,
            CONFIG_HASH,
            KEEPALIVE,
            TAG,
        ];
        for pair in fields.windows(2) {
            assert_eq!(pair[0].end(), pair[1].offset);
        }
        assert_eq!(SHOAL_LEN, 104);
    }

    #[test]
    fn shoal_round_trips_with_and_without_key() {
        for auth in [Auth::None, key(7)] {
            let packet = sample();
            assert_eq!(
                ShoalPacket::decode(&packet.encode(&auth), &auth),
                Ok(packet)
            );
            let stopped = ShoalPacket {
                state: WireState::Stopped,
                priority: PRIORITY_NONE,
                hears_peer: false,
                ..packet
            };
            assert_eq!(
                ShoalPacket::decode(&stopped.encode(&auth), &auth),
                Ok(stopped)
            );
        }
    }

    #[test]
    fn shoal_fields_sit_at_their_declared_offsets() {
        let bytes = sample().encode(&Auth::None);
        assert_eq!(&bytes[0..4], b"SHOL");
        assert_eq!(bytes[4], VERSION);
        assert_eq!(bytes[5], 1, "running");
        assert_eq!(bytes[6], 200);
        assert_eq!(bytes[7], FLAG_HEARS_PEER);
        assert_eq!(&bytes[8..16], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&bytes[24..32], &42u64.to_be_bytes());
        assert_eq!(&bytes[64..72], &100_000u64.to_be_bytes());
        assert_eq!(&bytes[72..104], &[0u8; 32], "no key: zero tag");
    }

    #[test]
    fn every_flipped_bit_fails_the_tag() {
        let auth = key(1);
        let bytes = sample().encode(&auth);
        for offset in layout::SEQUENCE.offset..SHOAL_LEN {
            let mut tampered = bytes;
            tampered[offset] ^= 0x01;
            assert_eq!(
                ShoalPacket::decode(&tampered, &auth),
                Err(WireError::Tag(TagError::Mismatch)),
                "byte {offset}"
            );
        }
    }

    #[test]
    fn tampered_state_fails_the_tag_before_the_state_is_read() {
        let auth = key(1);
        let mut bytes = sample().encode(&auth);
        bytes[layout::STATE.offset] = STATE_STOPPED;
        assert_eq!(
            ShoalPacket::decode(&bytes, &auth),
            Err(WireError::Tag(TagError::Mismatch))
        );
    }

    #[test]
    fn wrong_key_and_key_mismatches_are_tag_errors() {
        let bytes = sample().encode(&key(1));
        assert_eq!(
            ShoalPacket::decode(&bytes, &key(2)),
            Err(WireError::Tag(TagError::Mismatch))
        );
        assert_eq!(
            ShoalPacket::decode(&bytes, &Auth::None),
            Err(WireError::Tag(TagError::WeHaveNoKey))
        );
        let unsigned = sample().encode(&Auth::None);
        assert_eq!(
            ShoalPacket::decode(&unsigned, &key(1)),
            Err(WireError::Tag(TagError::PeerHasNoKey))
        );
    }

    #[test]
    fn truncated_and_padded_packets_are_length_errors() {
        let auth = key(1);
        let bytes = sample().encode(&auth);
        for len in [0, 5, SHOAL_LEN - 1] {
            assert_eq!(
                ShoalPacket::decode(&bytes[..len], &auth),
                Err(WireError::Length {
                    expected: SHOAL_LEN,
                    got: len
                })
            );
        }
        let padded = [bytes.as_slice(), &[0]].concat();
        assert!(matches!(
            ShoalPacket::decode(&padded, &auth),
            Err(WireError::Length { got: 105, .. })
        ));
    }

    #[test]
    fn other_protocols_and_versions_are_incompatible() {
        let auth = Auth::None;
        assert_eq!(
            ShoalPacket::decode(&encode_pulse(WireState::Running), &auth),
            Err(WireError::Incompatible(Incompatible::PulseOnShoal))
        );
        let mut bytes = sample().encode(&auth);
        bytes[layout::VERSION.offset] = 2;
        assert_eq!(
            ShoalPacket::decode(&bytes, &auth),
            Err(WireError::Incompatible(Incompatible::Version(2)))
        );
        bytes[0] = b'X';
        assert!(matches!(
            ShoalPacket::decode(&bytes, &auth),
            Err(WireError::Incompatible(Incompatible::BadMagic(_)))
        ));
    }

    #[test]
    fn unknown_state_byte_of_an_authentic_packet_is_incompatible() {
        let mut bytes = sample().encode(&Auth::None);
        bytes[layout::STATE.offset] = 9;
        assert_eq!(
            ShoalPacket::decode(&bytes, &Auth::None),
            Err(WireError::Incompatible(Incompatible::State(9)))
        );
    }

    #[test]
    fn keys_are_checked_and_never_printed() {
        assert!(matches!(
            HeartbeatKey::new(b"short".to_vec()),
            Err(KeyError::TooShort { len: 5 })
        ));
        let key = HeartbeatKey::new(b"0123456789abcdef-secret".to_vec()).expect("key");
        assert_eq!(format!("{key:?}"), "HeartbeatKey(23 bytes)");
    }

    #[test]
    fn key_files_lose_one_newline_and_must_be_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("peer.key");
        std::fs::write(&path, b"0123456789abcdef\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let key = HeartbeatKey::from_file(&path).expect("key");
        assert_eq!(
            key,
            HeartbeatKey::new(b"0123456789abcdef".to_vec()).expect("key")
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(matches!(
            HeartbeatKey::from_file(&path),
            Err(KeyError::Permissions { mode: 0o644, .. })
        ));
    }

    #[test]
    fn config_hash_is_sha256_in_hex() {
        assert_eq!(
            ConfigHash::of(b"").to_string(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let json = serde_json::to_string(&ConfigHash::of(b"")).expect("json");
        assert!(json.starts_with("\"e3b0c442"));
    }
}
