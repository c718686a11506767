//! The heartbeat (`src/ha`) between network namespaces on the host kernel: election,
//! failover time, forged and replayed packets, interoperation with Piranha's 4-byte
//! protocol, split brain, the private channel and immediate handovers.
//!
//! Needs root and a kernel with network namespaces, veth and bridge (no IPVS). Each test
//! builds its own namespaces (`shoal-h-<pid>-<n>-<role>`), deleted when it ends, panic or
//! not. Addresses come from 192.0.2.0/24 (public) and 198.51.100.0/24 (private) only.
//! Timing: keepalive 0.1 s, deadtime 0.3 s, as a fast production pair would use.

mod netns_support;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use netns_support::{Namespaces, enter};
use shoal::ha::peer::ChannelCounters;
use shoal::ha::wire::{FOS_RUNNING, PULSE_RUNNING, PULSE_STOPPED, ShoalPacket, WireState};
use shoal::ha::{
    Auth, Cause, ConfigHash, HaEvent, HaSnapshot, HeartbeatConfig, HeartbeatKey, LocalAddresses,
    PeerAddresses, Protocol, Role,
};

const PORT: u16 = 539;
const KEEPALIVE: Duration = Duration::from_millis(100);
const DEADTIME: Duration = Duration::from_millis(300);
/// What the failover may take beyond `deadtime`.
const SLACK: Duration = Duration::from_millis(100);
const N1: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const N2: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const X: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 66);
const N1_PRIVATE: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const N2_PRIVATE: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
const KEY: &[u8] = b"a test key for the heartbeat of the pair";

// ----------------------------------------------------------------------------------------
// topology

/// A switch `sw` with bridge `br0` (public) and nodes `n1` (192.0.2.1), `n2` (192.0.2.2)
/// and an attacker `x` (192.0.2.66); with `private`, a second bridge `br1` with n1 and n2
/// on 198.51.100.0/24.
fn lan(private: bool) -> Namespaces {
    let lan = Namespaces::new(&["sw", "n1", "n2", "x"]);
    lan.bridge(
        "sw",
        "br0",
        &[
            ("n1", "eth0", "192.0.2.1/24"),
            ("n2", "eth0", "192.0.2.2/24"),
            ("x", "eth0", "192.0.2.66/24"),
        ],
    );
    if private {
        lan.bridge(
            "sw",
            "br1",
            &[
                ("n1", "eth1", "198.51.100.1/24"),
                ("n2", "eth1", "198.51.100.2/24"),
            ],
        );
    }
    lan
}

fn key() -> Auth {
    Auth::Key(HeartbeatKey::new(KEY.to_vec()).expect("key"))
}

/// The configuration of `role` in a pair n1 (primary) / n2 (backup).
fn config(role: Role, protocol: Protocol, preempt: bool, private: bool) -> HeartbeatConfig {
    let (me, peer, me_private, peer_private) = match role {
        Role::Primary => (N1, N2, N1_PRIVATE, N2_PRIVATE),
        Role::Backup => (N2, N1, N2_PRIVATE, N1_PRIVATE),
    };
    HeartbeatConfig {
        protocol,
        auth: if protocol == Protocol::Shoal {
            key()
        } else {
            Auth::None
        },
        role,
        local: LocalAddresses {
            public: me.into(),
            private: private.then_some(me_private.into()),
        },
        peer: PeerAddresses {
            public: peer.into(),
            private: private.then_some(peer_private.into()),
        },
        port: PORT,
        keepalive: KEEPALIVE,
        deadtime: DEADTIME,
        preempt,
        preempt_delay: Duration::ZERO,
        force_active: false,
        boot_id: shoal::ha::new_boot_id(),
        config_serial: 3,
        config_hash: ConfigHash::of(b"serial_no = 3\n"),
        restart_grace: Duration::ZERO,
        resume: false,
    }
}

// ----------------------------------------------------------------------------------------
// a heartbeat runtime in a namespace

enum Control {
    Kill,
    Shutdown,
    Stopped(bool),
    Link(bool),
    Snapshot(mpsc::Sender<HaSnapshot>),
}

/// One heartbeat runtime on its own thread and tokio runtime inside a namespace; the
/// test sees its events with the time they arrived, and folds them into `active`.
struct Node {
    label: &'static str,
    control: tokio::sync::mpsc::UnboundedSender<Control>,
    events: mpsc::Receiver<(Instant, HaEvent)>,
    log: Vec<(Instant, HaEvent)>,
    active: bool,
    thread: Option<JoinHandle<()>>,
}

impl Node {
    fn start(lan: &Namespaces, role: &str, label: &'static str, config: HeartbeatConfig) -> Node {
        let path = lan.path(role);
        let (control, mut control_rx) = tokio::sync::mpsc::unbounded_channel();
        let (events_tx, events) = mpsc::channel();
        let (ready_tx, ready) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            enter(&path);
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            runtime.block_on(async move {
                let (handle, mut ha_events) = shoal::ha::spawn(config).expect("heartbeat");
                ready_tx.send(()).expect("test waiting");
                loop {
                    tokio::select! {
                        event = ha_events.recv() => match event {
                            Some(event) => {
                                let _ = events_tx.send((Instant::now(), event));
                            }
                            None => return,
                        },
                        command = control_rx.recv() => match command {
                            None | Some(Control::Kill) => return,
                            Some(Control::Shutdown) => {
                                handle.shutdown().await;
                                return;
                            }
                            Some(Control::Stopped(stopped)) => handle.set_stopped(stopped),
                            Some(Control::Link(up)) => handle.link(up),
                            Some(Control::Snapshot(reply)) => {
                                let _ = reply.send(handle.snapshot());
                            }
                        },
                    }
                }
            });
        });
        ready
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|_| panic!("{label}: heartbeat did not start"));
        Node {
            label,
            control,
            events,
            log: Vec::new(),
            active: false,
            thread: Some(thread),
        }
    }

    fn primary(lan: &Namespaces, protocol: Protocol, preempt: bool, private: bool) -> Node {
        let config = config(Role::Primary, protocol, preempt, private);
        Node::start(lan, "n1", "primary", config)
    }

    fn backup(lan: &Namespaces, protocol: Protocol, preempt: bool, private: bool) -> Node {
        let config = config(Role::Backup, protocol, preempt, private);
        Node::start(lan, "n2", "backup", config)
    }

    /// Takes the events that arrived, folding activations into `active`.
    fn pump(&mut self) {
        while let Ok((at, event)) = self.events.try_recv() {
            match &event {
                HaEvent::Activate { .. } => self.active = true,
                HaEvent::Deactivate { .. } => self.active = false,
                _ => {}
            }
            self.log.push((at, event));
        }
    }

    fn command(&self, command: Control) {
        self.control
            .send(command)
            .unwrap_or_else(|_| panic!("{}: node thread gone", self.label));
    }

    fn snapshot(&self) -> HaSnapshot {
        let (reply, snapshot) = mpsc::channel();
        self.command(Control::Snapshot(reply));
        snapshot
            .recv_timeout(Duration::from_secs(2))
            .unwrap_or_else(|_| panic!("{}: no snapshot", self.label))
    }

    /// Ends the heartbeat at once, like a crash (no last word to the peer).
    fn kill(&mut self) {
        let _ = self.control.send(Control::Kill);
        self.join();
    }

    /// Ends the heartbeat with its last "stopped" heartbeat.
    fn shutdown(&mut self) {
        self.command(Control::Shutdown);
        self.join();
    }

    fn join(&mut self) {
        if let Some(thread) = self.thread.take() {
            thread
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        }
        self.pump();
    }

    /// Activations with their causes, for the assertion messages.
    fn changes(&self) -> Vec<String> {
        self.log
            .iter()
            .filter(|(_, e)| !matches!(e, HaEvent::PeerChanged { .. }))
            .map(|(_, e)| format!("{e:?}"))
            .collect()
    }

    /// When the first event matching `want` after `since` arrived.
    fn first_after(&self, since: Instant, want: impl Fn(&HaEvent) -> bool) -> Option<Instant> {
        self.log
            .iter()
            .find(|(at, e)| *at >= since && want(e))
            .map(|(at, _)| *at)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.control.send(Control::Kill);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Pumps the nodes until `done` holds; panics after `limit` with their event logs.
/// A primary and a backup on `lan`, once the primary is the active one.
fn elected(lan: &Namespaces, protocol: Protocol, preempt: bool, private: bool) -> (Node, Node) {
    let mut primary = Node::primary(lan, protocol, preempt, private);
    let mut backup = Node::backup(lan, protocol, preempt, private);
    wait_until(
        &mut [&mut primary, &mut backup],
        Duration::from_secs(3),
        "the primary active",
        |n| n[0].active && !n[1].active,
    );
    (primary, backup)
}

fn wait_until(
    nodes: &mut [&mut Node],
    limit: Duration,
    what: &str,
    done: impl Fn(&[&mut Node]) -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        nodes.iter_mut().for_each(|n| n.pump());
        if done(nodes) {
            return start.elapsed();
        }
        if start.elapsed() > limit {
            let logs: Vec<String> = nodes
                .iter()
                .map(|n| format!("{}: {:?}", n.label, n.changes()))
                .collect();
            panic!("not {what} after {limit:?}; {}", logs.join("; "));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Asserts that the nodes' activity does not change for `period`.
fn assert_stable(nodes: &mut [&mut Node], period: Duration) {
    let before: Vec<bool> = nodes.iter().map(|n| n.active).collect();
    let counts: Vec<usize> = nodes.iter().map(|n| n.changes().len()).collect();
    std::thread::sleep(period);
    for (i, node) in nodes.iter_mut().enumerate() {
        node.pump();
        assert_eq!(
            (node.active, node.changes().len()),
            (before[i], counts[i]),
            "{} changed within {period:?}: {:?}",
            node.label,
            node.changes()
        );
    }
}

fn unix_ms() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970");
    u64::try_from(now.as_millis()).expect("fits")
}

fn public(snapshot: &HaSnapshot) -> ChannelCounters {
    snapshot.counters.public
}

// ----------------------------------------------------------------------------------------
// tests

#[test]
fn two_nodes_elect_the_primary_and_fail_over_within_deadtime() {
    let lan = lan(false);
    let mut backup = Node::backup(&lan, Protocol::Shoal, true, false);
    let mut primary = Node::primary(&lan, Protocol::Shoal, true, false);
    let took = wait_until(
        &mut [&mut primary, &mut backup],
        Duration::from_secs(3),
        "exactly one active",
        |n| n[0].active && !n[1].active,
    );
    println!("election: the primary is active after {took:?}");
    assert_stable(&mut [&mut primary, &mut backup], Duration::from_secs(1));
    let snapshot = backup.snapshot();
    assert!(snapshot.peer.alive && snapshot.authenticated);
    assert_eq!(snapshot.config_matches, Some(true));
    assert_eq!(snapshot.peer.config_serial, Some(3));
    assert!(public(&snapshot).accepted >= 9, "{:?}", snapshot.counters);
    assert_eq!(public(&snapshot).rejected_tag, 0);

    // A crash of the primary: the backup takes over within deadtime (+100 ms).
    let killed = Instant::now();
    let killed_wall = unix_ms();
    primary.kill();
    wait_until(
        &mut [&mut backup],
        DEADTIME + Duration::from_secs(2),
        "backup active",
        |n| n[0].active,
    );
    let activated = backup
        .first_after(killed, |e| {
            matches!(
                e,
                HaEvent::Activate {
                    cause: Cause::PeerDead
                }
            )
        })
        .expect("activation logged");
    let failover = activated - killed;
    println!("failover after a crash: {failover:?} (deadtime {DEADTIME:?})");
    // The kill comes about one keepalive period after the election, right after one of
    // the primary's heartbeats: this is the worst case, a full deadtime of silence.
    let last_heard = backup.snapshot().peer.last_heard_ms.expect("heard");
    println!(
        "  the primary's last heartbeat came {} ms before the kill",
        killed_wall.saturating_sub(last_heard)
    );
    assert!(failover <= DEADTIME + SLACK, "failover took {failover:?}");
    assert!(!backup.snapshot().peer.alive);

    // The primary restarts (a new boot id) and, with preempt, takes the service back.
    let mut primary = Node::primary(&lan, Protocol::Shoal, true, false);
    let took = wait_until(
        &mut [&mut primary, &mut backup],
        Duration::from_secs(3),
        "the primary back",
        |n| n[0].active && !n[1].active,
    );
    println!("preempt after the primary's restart: {took:?}");
    assert_stable(&mut [&mut primary, &mut backup], Duration::from_millis(600));
    let snapshot = backup.snapshot();
    assert_eq!(public(&snapshot).old_boot, 0);
}

#[test]
fn without_preempt_the_restarted_primary_stays_inactive() {
    let lan = lan(false);
    let mut backup = Node::backup(&lan, Protocol::Shoal, false, false);
    wait_until(
        &mut [&mut backup],
        Duration::from_secs(2),
        "backup alone active",
        |n| n[0].active,
    );
    let mut primary = Node::primary(&lan, Protocol::Shoal, false, false);
    assert_stable(&mut [&mut primary, &mut backup], Duration::from_secs(1));
    assert!(!primary.active && backup.active);
    assert!(primary.snapshot().peer.alive);
}

/// A raw socket in the attacker's namespace that sends UDP with any source address.
struct Spoofer {
    socket: socket2::Socket,
}

impl Spoofer {
    fn new(lan: &Namespaces) -> Spoofer {
        let socket = lan.enter("x", || {
            socket2::Socket::new(
                socket2::Domain::IPV4,
                socket2::Type::RAW,
                Some(socket2::Protocol::from(libc::IPPROTO_RAW)),
            )
            .expect("raw socket")
        });
        Spoofer { socket }
    }

    /// One UDP datagram from `source:539` to `destination:539` (the kernel fills in the
    /// IP checksum and length; a zero UDP checksum means none, which IPv4 allows).
    fn send(&self, source: Ipv4Addr, destination: Ipv4Addr, payload: &[u8]) {
        let udp_len = 8 + payload.len();
        let total = 20 + udp_len;
        let mut packet = Vec::with_capacity(total);
        packet.extend_from_slice(&[0x45, 0]);
        packet.extend_from_slice(&u16::try_from(total).expect("small").to_be_bytes());
        packet.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]);
        packet.extend_from_slice(&source.octets());
        packet.extend_from_slice(&destination.octets());
        packet.extend_from_slice(&PORT.to_be_bytes());
        packet.extend_from_slice(&PORT.to_be_bytes());
        packet.extend_from_slice(&u16::try_from(udp_len).expect("small").to_be_bytes());
        packet.extend_from_slice(&[0, 0]);
        packet.extend_from_slice(payload);
        let to = SocketAddr::V4(SocketAddrV4::new(destination, 0));
        self.socket.send_to(&packet, &to.into()).expect("raw send");
    }
}

/// Sends the forgeries of [`forged_and_replayed_heartbeats_are_dropped`] to `target`,
/// pretending to be `victim` (whose boot id `victim_boot` the attacker has seen).
fn forge_once(spoofer: &Spoofer, victim: Ipv4Addr, target: Ipv4Addr, victim_boot: u64) {
    let running = |boot_id, sequence| ShoalPacket {
        state: WireState::Running,
        priority: 200,
        hears_peer: true,
        sequence,
        boot_id,
        serial_no: 3,
        config_hash: ConfigHash::of(b"serial_no = 3\n"),
        keepalive: KEEPALIVE,
    };
    let wrong_key =
        Auth::Key(HeartbeatKey::new(b"not the pair's key at all".to_vec()).expect("key"));
    // A forgery with a guessed key and a sequence far ahead.
    spoofer.send(
        victim,
        target,
        &running(victim_boot, u64::MAX / 2).encode(&wrong_key),
    );
    // No tag at all.
    spoofer.send(
        victim,
        target,
        &running(victim_boot, u64::MAX / 2).encode(&Auth::None),
    );
    // A recording of the victim's first heartbeats, replayed.
    spoofer.send(victim, target, &running(victim_boot, 1).encode(&key()));
    spoofer.send(victim, target, &running(victim_boot, 2).encode(&key()));
    // A recording from the victim's previous run.
    spoofer.send(
        victim,
        target,
        &running(victim_boot - 1, 999).encode(&key()),
    );
    // Piranha's heartbeat on a shoal pair, and a truncated packet.
    spoofer.send(victim, target, &PULSE_RUNNING.to_ne_bytes());
    spoofer.send(
        victim,
        target,
        &running(victim_boot, 9).encode(&key())[..50],
    );
    // Not even pretending.
    spoofer.send(
        X,
        target,
        &running(victim_boot, u64::MAX / 2).encode(&key()),
    );
}

#[test]
fn forged_and_replayed_heartbeats_are_dropped_and_do_not_keep_a_dead_peer_alive() {
    let lan = lan(false);
    let spoofer = Spoofer::new(&lan);
    let primary_config = config(Role::Primary, Protocol::Shoal, true, false);
    let primary_boot = primary_config.boot_id;
    let mut primary = Node::start(&lan, "n1", "primary", primary_config);
    let mut backup = Node::backup(&lan, Protocol::Shoal, true, false);
    wait_until(
        &mut [&mut primary, &mut backup],
        Duration::from_secs(3),
        "the primary active",
        |n| n[0].active && !n[1].active,
    );
    // Let the backup accept a few of the primary's heartbeats, so 1 and 2 are replays.
    std::thread::sleep(Duration::from_millis(300));

    // The attacker floods the backup with "primary running" forgeries every 20 ms while
    // the real primary dies: the backup must still take over within deadtime.
    let stop = Arc::new(AtomicBool::new(false));
    let flood = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                forge_once(&spoofer, N1, N2, primary_boot);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    let before_kill = backup.snapshot();
    let killed = Instant::now();
    primary.kill();
    wait_until(
        &mut [&mut backup],
        Duration::from_secs(2),
        "the backup active despite the forgeries",
        |n| n[0].active,
    );
    let failover = backup
        .first_after(killed, |e| matches!(e, HaEvent::Activate { .. }))
        .expect("activation")
        - killed;
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    flood.join().expect("flood thread");
    println!("failover under a forgery flood: {failover:?}");
    assert!(failover <= DEADTIME + SLACK, "failover took {failover:?}");

    let snapshot = backup.snapshot();
    let c = public(&snapshot);
    println!("backup counters under attack: {c:?}");
    assert!(
        !snapshot.peer.alive,
        "forgeries kept the dead primary alive"
    );
    for (name, value) in [
        ("rejected_tag", c.rejected_tag),
        ("replayed", c.replayed),
        ("old_boot", c.old_boot),
        ("incompatible", c.incompatible),
        ("rejected_length", c.rejected_length),
        ("rejected_source", c.rejected_source),
    ] {
        assert!(value >= 10, "{name} = {value}: {c:?}");
    }
    // Two forgeries per round fail the tag, one each is old, pulse, short or foreign.
    assert_eq!(c.rejected_tag, 2 * c.old_boot);
    assert_eq!(c.replayed, 2 * c.old_boot);
    let accepted_after_kill = c.accepted - public(&before_kill).accepted;
    assert!(
        accepted_after_kill <= 3,
        "{accepted_after_kill} accepted after the kill"
    );
}

/// A datagram the Piranha stand-in received: when, from where, what.
type Received = (Instant, SocketAddr, Vec<u8>);

/// A stand-in for a Piranha node: a plain UDP socket speaking the 4-byte protocol, which
/// heartbeats `state` every keepalive (0 = silent) and records what it receives.
struct PiranhaPeer {
    state: Arc<AtomicU32>,
    received: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl PiranhaPeer {
    fn start(lan: &Namespaces, role: &str, me: Ipv4Addr, partner: Ipv4Addr) -> PiranhaPeer {
        let socket = lan.enter(role, || UdpSocket::bind((me, PORT)).expect("bind 539"));
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .expect("timeout");
        let receiver = socket.try_clone().expect("clone");
        let state = Arc::new(AtomicU32::new(0));
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let sender = {
            let (state, stop) = (Arc::clone(&state), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let value = state.load(Ordering::SeqCst);
                    if value != 0 {
                        let _ = socket.send_to(&value.to_ne_bytes(), (partner, PORT));
                    }
                    std::thread::sleep(KEEPALIVE);
                }
            })
        };
        let listener = {
            let (received, stop) = (Arc::clone(&received), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut buffer = [0u8; 2048];
                while !stop.load(Ordering::SeqCst) {
                    if let Ok((len, from)) = receiver.recv_from(&mut buffer) {
                        let entry = (Instant::now(), from, buffer[..len].to_vec());
                        received.lock().expect("lock").push(entry);
                    }
                }
            })
        };
        PiranhaPeer {
            state,
            received,
            stop,
            threads: vec![sender, listener],
        }
    }

    fn say(&self, value: u32) {
        self.state.store(value, Ordering::SeqCst);
    }

    /// The 4-byte values received since `since`, checking each came from the shoal
    /// node's address and port and had exactly 4 bytes.
    fn heard_since(&self, since: Instant, from: Ipv4Addr) -> Vec<u32> {
        let received = self.received.lock().expect("lock");
        received
            .iter()
            .filter(|(at, _, _)| *at >= since)
            .map(|(_, source, bytes)| {
                assert_eq!(*source, SocketAddr::from((from, PORT)));
                let word: [u8; 4] = bytes.as_slice().try_into().expect("4-byte heartbeat");
                u32::from_ne_bytes(word)
            })
            .collect()
    }
}

impl Drop for PiranhaPeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

#[test]
fn a_piranha_backup_interoperates_with_a_shoal_primary() {
    let lan = lan(false);
    let piranha = PiranhaPeer::start(&lan, "n2", N2, N1);
    // The Piranha backup holds the service (the primary was away).
    piranha.say(PULSE_RUNNING);
    let started = Instant::now();
    let mut primary = Node::primary(&lan, Protocol::Pulse, true, false);
    wait_until(
        &mut [&mut primary],
        Duration::from_secs(2),
        "the shoal primary active (preempt)",
        |n| n[0].active,
    );
    assert_eq!(
        primary.changes().first().map(String::as_str),
        Some("Activate { cause: Preempt }")
    );
    // Piranha's backup yields on the primary's RUNNING: it says STOPPED. (A RUNNING it
    // sent meanwhile may make the primary re-announce once.)
    piranha.say(PULSE_STOPPED);
    std::thread::sleep(Duration::from_millis(300));
    let heard = piranha.heard_since(started, N1);
    assert!(
        heard
            .iter()
            .all(|v| [PULSE_RUNNING, PULSE_STOPPED].contains(v)),
        "{heard:x?}"
    );
    assert_eq!(heard.last(), Some(&PULSE_RUNNING), "active now: {heard:x?}");
    assert_stable(&mut [&mut primary], Duration::from_millis(800));
    assert!(primary.active);
    assert!(
        primary.changes()[1..].iter().all(|c| c == "Reannounce"),
        "{:?}",
        primary.changes()
    );
    // Piranha's fos magic is refused and counted; the primary does not care.
    piranha.say(FOS_RUNNING);
    std::thread::sleep(Duration::from_millis(350));
    let snapshot = primary.snapshot();
    assert!(
        public(&snapshot).incompatible >= 2,
        "{:?}",
        snapshot.counters
    );
    assert!(!snapshot.peer.alive, "fos heartbeats are no sign of life");
    assert!(primary.active);
}

#[test]
fn a_piranha_primary_interoperates_with_a_shoal_backup() {
    let lan = lan(false);
    let piranha = PiranhaPeer::start(&lan, "n1", N1, N2);
    piranha.say(PULSE_RUNNING);
    let mut backup = Node::backup(&lan, Protocol::Pulse, true, false);
    // Piranha's primary runs: the shoal backup stays inactive and says STOPPED.
    let since = Instant::now();
    assert_stable(&mut [&mut backup], Duration::from_secs(1));
    assert!(!backup.active);
    let heard = piranha.heard_since(since, N2);
    assert!(heard.len() >= 8, "{heard:x?}");
    assert!(heard.iter().all(|v| *v == PULSE_STOPPED), "{heard:x?}");

    // Piranha's primary stops (service pulse stop): the backup activates at once.
    let stopped = Instant::now();
    piranha.say(PULSE_STOPPED);
    wait_until(
        &mut [&mut backup],
        Duration::from_secs(1),
        "the backup active on STOPPED",
        |n| n[0].active,
    );
    println!(
        "takeover on Piranha's STOPPED: {:?}",
        backup
            .first_after(stopped, |e| matches!(e, HaEvent::Activate { .. }))
            .expect("activation")
            - stopped
    );
    std::thread::sleep(Duration::from_millis(250));
    assert_eq!(
        piranha.heard_since(stopped, N2).last(),
        Some(&PULSE_RUNNING)
    );

    // Piranha's primary is active again (a split brain): the backup yields.
    piranha.say(PULSE_RUNNING);
    wait_until(
        &mut [&mut backup],
        Duration::from_secs(1),
        "the backup yielding to RUNNING",
        |n| !n[0].active,
    );
    let yielded = Instant::now();
    std::thread::sleep(Duration::from_millis(250));
    assert!(
        piranha
            .heard_since(yielded, N2)
            .iter()
            .all(|v| *v == PULSE_STOPPED)
    );

    // Piranha's primary dies: the backup activates after deadtime.
    let died = Instant::now();
    piranha.say(0);
    wait_until(
        &mut [&mut backup],
        Duration::from_secs(2),
        "the backup active after deadtime",
        |n| n[0].active,
    );
    let failover = backup
        .first_after(died, |e| {
            matches!(
                e,
                HaEvent::Activate {
                    cause: Cause::PeerDead
                }
            )
        })
        .expect("activation")
        - died;
    println!("failover from a silent Piranha primary: {failover:?}");
    assert!(failover <= DEADTIME + KEEPALIVE + SLACK, "{failover:?}");
}

#[test]
fn a_split_brain_heals_to_the_primary() {
    for preempt in [true, false] {
        let lan = lan(false);
        let (mut primary, mut backup) = elected(&lan, Protocol::Shoal, preempt, false);
        // Cut the backup off, both ways: it takes over, and so both are active.
        lan.cut("sw", "n2", "eth0");
        wait_until(
            &mut [&mut primary, &mut backup],
            Duration::from_secs(2),
            "both active",
            |n| n[0].active && n[1].active,
        );
        assert_stable(&mut [&mut primary, &mut backup], Duration::from_millis(500));
        let restored = Instant::now();
        lan.restore("sw", "br0", "n2", "eth0");
        let took = wait_until(
            &mut [&mut primary, &mut backup],
            Duration::from_secs(2),
            "only the primary active",
            |n| n[0].active && !n[1].active,
        );
        println!("split brain (preempt = {preempt}) healed {took:?} after the link came back");
        assert_stable(&mut [&mut primary, &mut backup], Duration::from_secs(1));
        assert!(
            backup
                .first_after(restored, |e| matches!(
                    e,
                    HaEvent::Deactivate {
                        cause: Cause::PrimaryActive
                    }
                ))
                .is_some()
        );
        // Whether the primary re-announces depends on whose heartbeat crossed the
        // restored link first (the backup may yield before the primary hears it run).
        let reannounced = primary
            .first_after(restored, |e| matches!(e, HaEvent::Reannounce))
            .is_some();
        println!("  the primary re-announced: {reannounced}");
    }
}

#[test]
fn the_private_channel_keeps_the_peer_alive_until_both_fail() {
    let lan = lan(true);
    let (mut primary, mut backup) = elected(&lan, Protocol::Shoal, true, true);
    lan.cut("sw", "n1", "eth0");
    assert_stable(&mut [&mut primary, &mut backup], Duration::from_secs(1));
    let snapshot = backup.snapshot();
    assert!(snapshot.peer.alive && !snapshot.peer.public_alive);
    assert_eq!(snapshot.peer.private_alive, Some(true));
    let private = snapshot.counters.private.expect("private counters");
    assert!(
        private.accepted >= 10 && private.replayed == 0,
        "{private:?}"
    );

    let cut = Instant::now();
    lan.cut("sw", "n1", "eth1");
    wait_until(
        &mut [&mut backup],
        Duration::from_secs(2),
        "the backup active",
        |n| n[0].active,
    );
    let failover = backup
        .first_after(cut, |e| matches!(e, HaEvent::Activate { .. }))
        .expect("activation")
        - cut;
    println!("failover when the private channel failed too: {failover:?}");
    assert!(failover <= DEADTIME + SLACK, "{failover:?}");
}

#[test]
fn stop_link_failure_and_shutdown_hand_over_at_once() {
    let lan = lan(false);
    let (mut primary, mut backup) = elected(&lan, Protocol::Shoal, true, false);
    // Well within one keepalive: the stopped primary says so at once.
    let immediate = Duration::from_millis(60);

    primary.command(Control::Stopped(true));
    let took = wait_until(
        &mut [&mut primary, &mut backup],
        Duration::from_secs(1),
        "the backup active after shoal stop",
        |n| !n[0].active && n[1].active,
    );
    println!("handover on shoal stop: {took:?}");
    assert!(took < immediate, "{took:?}");
    assert!(primary.snapshot().state.stopped);
    primary.command(Control::Stopped(false));
    let took = wait_until(
        &mut [&mut primary, &mut backup],
        Duration::from_secs(1),
        "the primary back after shoal start",
        |n| n[0].active && !n[1].active,
    );
    println!("primary back on shoal start (preempt): {took:?}");

    primary.command(Control::Link(false));
    let took = wait_until(
        &mut [&mut primary, &mut backup],
        Duration::from_secs(1),
        "the backup active after a link failure",
        |n| !n[0].active && n[1].active,
    );
    println!("handover on a link failure: {took:?}");
    assert!(took < immediate, "{took:?}");
    primary.command(Control::Link(true));
    wait_until(
        &mut [&mut primary, &mut backup],
        Duration::from_secs(1),
        "the primary back after its link",
        |n| n[0].active && !n[1].active,
    );

    let started = Instant::now();
    primary.shutdown();
    wait_until(
        &mut [&mut backup],
        Duration::from_secs(1),
        "the backup active after shutdown",
        |n| n[0].active,
    );
    let took = started.elapsed();
    println!("handover on a clean shutdown: {took:?}");
    assert!(took < immediate, "{took:?}");
    assert_eq!(
        backup.changes().last().map(String::as_str),
        Some("Activate { cause: PeerStopped }")
    );
}
