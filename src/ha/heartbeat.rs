//! The heartbeat runtime: one tokio task that sends this node's state to the peer every
//! `keepalive`, validates what the peer sends, runs the failover rules and tells the
//! daemon what to do through a channel of [`HaEvent`]s.
//!
//! The daemon owns the kernel; this task only decides. It sends a heartbeat at once
//! whenever what it says changes (activation, deactivation, stop, link), so the peer
//! learns of a handover in one network round trip rather than a keepalive. Timers are
//! tokio's, so sub-second keepalive and deadtime (0.1 s / 0.3 s) work.
//!
//! The task runs on a thread of its own, with its own single-threaded runtime: the
//! daemon's runtime also runs the kernel programming, which makes blocking netlink calls
//! (a start or a reload of a large table holds it for seconds), and a heartbeat that
//! waited for those would fall silent for longer than a sub-second deadtime and make the
//! peer take over (seen in the lab at 0.1 s / 0.3 s, where both nodes declared each other
//! dead while starting and the backup flapped between active and standby).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, MissedTickBehavior};

use super::hold::{HoldRules, HoldView, Silence, Verdict, Witness};
use super::peer::{Channel, Counters, PeerAddresses, PeerTracker, PeerView, Rejection};
use super::state::{
    Action, Cause, Input, MachineView, PeerKnowledge, PeerReport, Role, Rules, StateMachine,
};
use super::wire::{
    Auth, ConfigHash, PRIORITY_NONE, Protocol, ShoalPacket, WireState, encode_pulse,
};
use crate::config::model::GlobalSettings;

/// DSCP CS6 ("network control"), so heartbeats are not queued behind bulk traffic.
const TOS_NETWORK_CONTROL: u32 = 0xc0;
/// Larger than any heartbeat; a bigger datagram arrives truncated and fails the length.
const RECEIVE_BUFFER: usize = 2048;
/// How many waiting datagrams per socket are read before the peer is declared dead.
const DRAIN_LIMIT: usize = 64;

/// This node's own heartbeat addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LocalAddresses {
    /// Its public address (`primary` or `backup`), which must be on one of its
    /// interfaces.
    pub public: IpAddr,
    /// Its private address, used only when the peer has one too.
    pub private: Option<IpAddr>,
}

/// Everything the runtime needs, usually made by [`HeartbeatConfig::from_global`].
#[derive(Debug, Clone)]
pub struct HeartbeatConfig {
    /// The wire protocol (both nodes must use the same).
    pub protocol: Protocol,
    /// The pair's key (`shoal` only).
    pub auth: Auth,
    /// This node's role.
    pub role: Role,
    /// This node's addresses (the sockets bind to them).
    pub local: LocalAddresses,
    /// The peer's addresses (heartbeats go there and only theirs are accepted).
    pub peer: PeerAddresses,
    /// `heartbeat_port`, the same on both nodes (Piranha: 539).
    pub port: u16,
    /// Send period.
    pub keepalive: Duration,
    /// Silence after which the peer is dead.
    pub deadtime: Duration,
    /// lvs.cf `preempt`.
    pub preempt: bool,
    /// How long a primary waits, able to serve, before it preempts (see
    /// [`Rules::preempt_delay`]).
    pub preempt_delay: Duration,
    /// `--force-active`.
    pub force_active: bool,
    /// This run's boot id, greater than any previous run's ([`new_boot_id`]).
    pub boot_id: u64,
    /// lvs.cf `serial_no`, announced to the peer.
    pub config_serial: u64,
    /// lvs.cf hash, announced to the peer.
    pub config_hash: ConfigHash,
    /// How long a silent peer whose addresses still answer is waited for before this
    /// node takes over ([`super::hold`]); zero: take over at `deadtime`.
    pub restart_grace: Duration,
    /// This node starts holding the addresses its previous run left (rule 8 of
    /// [`super::state`]).
    pub resume: bool,
}

/// A problem that keeps the heartbeat from starting.
#[derive(Debug, thiserror::Error)]
pub enum HaError {
    /// lvs.cf names no primary.
    #[error("lvs.cf has no `primary` address")]
    NoPrimary,
    /// There is no peer to heartbeat with.
    #[error(
        "lvs.cf has no backup (backup_active = 0 or backup = 0.0.0.0): there is no peer, \
         run without a heartbeat"
    )]
    NoPeer,
    /// keepalive or deadtime is zero.
    #[error("{name} must be longer than zero")]
    Timing {
        /// `keepalive` or `deadtime`.
        name: &'static str,
    },
    /// A heartbeat socket could not be made.
    #[error("cannot bind the {channel:?} heartbeat socket to {address}: {source}")]
    Bind {
        /// Which channel.
        channel: Channel,
        /// The address and port.
        address: SocketAddr,
        /// Why (typically: the address is not on this node, or the port is taken).
        #[source]
        source: io::Error,
    },
    /// The heartbeat's thread or its runtime could not be made.
    #[error("cannot start the heartbeat thread: {0}")]
    Thread(#[source] io::Error),
}

/// A boot id for this run: wall-clock nanoseconds, so a restart's is greater than the
/// previous run's and the peer drops replays of the old run. (A clock set back across
/// a restart would make the peer drop the new run's heartbeats until its own restart;
/// they are counted as `old_boot`.)
pub fn new_boot_id() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(1)
}

impl HeartbeatConfig {
    /// The configuration for `role` from lvs.cf's global settings and the file's bytes
    /// (hashed for the peer). `preempt_delay` starts at zero and `force_active` off; the
    /// daemon sets them from its own options.
    pub fn from_global(
        global: &GlobalSettings,
        role: Role,
        protocol: Protocol,
        auth: Auth,
        lvs_cf: &[u8],
    ) -> Result<HeartbeatConfig, HaError> {
        let primary = global.primary.ok_or(HaError::NoPrimary)?;
        let backup = global
            .backup_address()
            .filter(|_| global.backup_active)
            .ok_or(HaError::NoPeer)?;
        let primary_private = distinct(global.primary_private, primary);
        let backup_private = distinct(global.backup_private, backup);
        let both_private = primary_private.is_some() && backup_private.is_some();
        let (local, local_private, peer, peer_private) = match role {
            Role::Primary => (primary, primary_private, backup, backup_private),
            Role::Backup => (backup, backup_private, primary, primary_private),
        };
        let config = HeartbeatConfig {
            protocol,
            auth,
            role,
            local: LocalAddresses {
                public: local,
                private: local_private.filter(|_| both_private),
            },
            peer: PeerAddresses {
                public: peer,
                private: peer_private.filter(|_| both_private),
            },
            port: global.heartbeat_port,
            keepalive: global.keepalive,
            deadtime: global.deadtime,
            preempt: global.preempt,
            preempt_delay: Duration::ZERO,
            force_active: false,
            boot_id: new_boot_id(),
            config_serial: global.serial_no,
            config_hash: ConfigHash::of(lvs_cf),
            restart_grace: Duration::ZERO,
            resume: false,
        };
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), HaError> {
        if self.keepalive.is_zero() {
            return Err(HaError::Timing { name: "keepalive" });
        }
        if self.deadtime.is_zero() {
            return Err(HaError::Timing { name: "deadtime" });
        }
        Ok(())
    }

    fn rules(&self) -> Rules {
        Rules {
            role: self.role,
            preempt: self.preempt,
            preempt_delay: self.preempt_delay,
            force_active: self.force_active,
            reannounce_every: self.deadtime,
            resume: self.resume,
        }
    }

    fn hold_rules(&self) -> HoldRules {
        HoldRules::new(self.keepalive, self.deadtime, self.restart_grace)
    }

    fn has_private(&self) -> bool {
        self.local.private.is_some() && self.peer.private.is_some()
    }
}

fn distinct(private: Option<IpAddr>, public: IpAddr) -> Option<IpAddr> {
    private.filter(|p| *p != public && !p.is_unspecified())
}

/// What the heartbeat tells the daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum HaEvent {
    /// Take the service (`active_cmd`, addresses, gratuitous ARPs, sync daemon master).
    Activate {
        /// Why, for the log.
        cause: Cause,
    },
    /// Give it up (addresses, sync daemon backup, `inactive_cmd`).
    Deactivate {
        /// Why, for the log.
        cause: Cause,
    },
    /// Stay active but re-send the gratuitous ARPs and re-run `active_cmd`: the backup
    /// was heard active (a split brain healing to the primary).
    Reannounce,
    /// Something about the peer changed (alive, state, boot, configuration).
    PeerChanged {
        /// The new view.
        peer: PeerView,
    },
}

/// The heartbeat's state for `shoal status`, the UI and metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HaSnapshot {
    /// The protocol spoken.
    pub protocol: Protocol,
    /// Whether heartbeats are authenticated (`false` = anyone can spoof the peer).
    pub authenticated: bool,
    /// This run's boot id.
    pub boot_id: u64,
    /// This node's addresses.
    pub local: LocalAddresses,
    /// The failover state (role, active, stopped, link, what is known of the peer).
    pub state: MachineView,
    /// The peer.
    pub peer: PeerView,
    /// This node's lvs.cf `serial_no`.
    pub config_serial: u64,
    /// This node's lvs.cf hash.
    pub config_hash: ConfigHash,
    /// Whether the peer runs the same lvs.cf (same hash); `None` when it does not say
    /// (`pulse`, or not heard yet).
    pub config_matches: Option<bool>,
    /// Per-channel packet counters.
    pub counters: Counters,
    /// Holding off a takeover while the silent peer's addresses still answer.
    pub hold: HoldView,
}

enum Command {
    Stopped(bool),
    Config(u64, ConfigHash),
    Link(bool),
    Witness(Option<Box<dyn Witness>>),
    Shutdown(oneshot::Sender<()>),
}

/// The daemon's side of a running heartbeat. Dropping it ends the task at once, without
/// a last heartbeat (the peer then takes over after `deadtime`); [`Self::shutdown`] says
/// "stopped" first so the peer takes over at once.
#[derive(Debug)]
pub struct HeartbeatHandle {
    /// Closing it (dropping the handle) ends the task without a last heartbeat.
    commands: mpsc::UnboundedSender<Command>,
    snapshot: watch::Receiver<HaSnapshot>,
    thread: std::thread::JoinHandle<()>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::Stopped(_) => "Stopped",
            Command::Config(..) => "Config",
            Command::Link(_) => "Link",
            Command::Witness(_) => "Witness",
            Command::Shutdown(_) => "Shutdown",
        })
    }
}

impl HeartbeatHandle {
    /// The operator stopped (`true`) or started (`false`) the node (`shoal stop`/`start`):
    /// a stopped node deactivates and tells the peer "stopped" with priority 0.
    pub fn set_stopped(&self, stopped: bool) {
        self.send(Command::Stopped(stopped));
    }

    /// A reload changed lvs.cf: the serial and hash announced to the peer.
    pub fn set_config(&self, serial: u64, hash: ConfigHash) {
        self.send(Command::Config(serial, hash));
    }

    /// A monitored link went down (`false`) or came back (`true`).
    pub fn link(&self, up: bool) {
        self.send(Command::Link(up));
    }

    /// What tells a silent peer's dead shoal from a dead director from now on (a reload
    /// changed the addresses); `None`: nothing does, take over at `deadtime`.
    pub fn set_witness(&self, witness: Option<Box<dyn Witness>>) {
        self.send(Command::Witness(witness));
    }

    /// The current state.
    pub fn snapshot(&self) -> HaSnapshot {
        self.snapshot.borrow().clone()
    }

    /// A receiver of every new snapshot, for a status or metrics task.
    pub fn watch(&self) -> watch::Receiver<HaSnapshot> {
        self.snapshot.clone()
    }

    /// Whether the task has ended (it only ends on shutdown, or by panicking).
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }

    /// Sends a last "stopped, cannot serve" heartbeat on every channel and ends the task.
    /// Call it after deactivating, on SIGTERM.
    pub async fn shutdown(self) {
        let (done, wait) = oneshot::channel();
        self.send(Command::Shutdown(done));
        let _ = wait.await;
    }

    fn send(&self, command: Command) {
        if self.commands.send(command).is_err() {
            tracing::warn!("the heartbeat task has ended; command ignored");
        }
    }
}

/// Binds the sockets (in the calling thread's network namespace) and starts the heartbeat
/// task on a thread of its own. Returns the handle and the events; the first event comes
/// after the first heartbeat from the peer or `deadtime` (at once with `--force-active`).
pub fn spawn(
    config: HeartbeatConfig,
) -> Result<(HeartbeatHandle, mpsc::UnboundedReceiver<HaEvent>), HaError> {
    spawn_with_witness(config, None)
}

/// [`spawn`], with what asks the LAN whether a silent peer's addresses still answer, so
/// that a peer whose shoal alone died is not taken over while it restarts
/// ([`super::hold`]).
pub fn spawn_with_witness(
    config: HeartbeatConfig,
    witness: Option<Box<dyn Witness>>,
) -> Result<(HeartbeatHandle, mpsc::UnboundedReceiver<HaEvent>), HaError> {
    config.check()?;
    let executor = Executor(Some(
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(HaError::Thread)?,
    ));
    let sockets = {
        // The sockets register with the heartbeat's own runtime.
        let _entered = executor.runtime().enter();
        Sockets::bind(&config)?
    };
    let (events_tx, events) = mpsc::unbounded_channel();
    let (commands, commands_rx) = mpsc::unbounded_channel();
    let now = Instant::now();
    let mut runtime = Runtime::new(config, events_tx, now);
    runtime.witness = witness;
    let (snapshot_tx, snapshot) = watch::channel(runtime.snapshot(now));
    let thread = std::thread::Builder::new()
        .name("heartbeat".into())
        .spawn(move || {
            executor
                .runtime()
                .block_on(runtime.run(sockets, commands_rx, snapshot_tx));
        })
        .map_err(HaError::Thread)?;
    Ok((
        HeartbeatHandle {
            commands,
            snapshot,
            thread,
        },
        events,
    ))
}

/// The heartbeat thread's runtime. It may be dropped where blocking is not allowed (when
/// [`spawn`] fails inside the daemon's runtime), so it is shut down without waiting.
struct Executor(Option<tokio::runtime::Runtime>);

impl Executor {
    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.0.as_ref().expect("the runtime is there until dropped")
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// One bound socket per channel and where its heartbeats go.
struct Sockets {
    public: UdpSocket,
    public_to: SocketAddr,
    private: Option<(UdpSocket, SocketAddr)>,
}

impl Sockets {
    fn bind(config: &HeartbeatConfig) -> Result<Sockets, HaError> {
        let public = bind(
            Channel::Public,
            SocketAddr::new(config.local.public, config.port),
        )?;
        let private = match (config.local.private, config.peer.private) {
            (Some(local), Some(peer)) => Some((
                bind(Channel::Private, SocketAddr::new(local, config.port))?,
                SocketAddr::new(peer, config.port),
            )),
            _ => None,
        };
        Ok(Sockets {
            public,
            public_to: SocketAddr::new(config.peer.public, config.port),
            private,
        })
    }

    fn each(&self) -> impl Iterator<Item = (Channel, &UdpSocket, SocketAddr)> {
        std::iter::once((Channel::Public, &self.public, self.public_to)).chain(
            self.private
                .as_ref()
                .map(|(socket, to)| (Channel::Private, socket, *to)),
        )
    }
}

fn bind(channel: Channel, address: SocketAddr) -> Result<UdpSocket, HaError> {
    let error = |source| HaError::Bind {
        channel,
        address,
        source,
    };
    let domain = socket2::Domain::for_address(address);
    let socket = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))
        .map_err(error)?;
    // Best effort: a kernel that refuses the TOS still carries the heartbeat.
    let _ = match address {
        SocketAddr::V4(_) => socket.set_tos_v4(TOS_NETWORK_CONTROL),
        SocketAddr::V6(_) => socket.set_tclass_v6(TOS_NETWORK_CONTROL),
    };
    socket.set_nonblocking(true).map_err(error)?;
    socket.bind(&address.into()).map_err(error)?;
    // Best effort: without the kernel's receive times, a heartbeat counts from when
    // this thread read it.
    let _ = crate::net::stamp::enable(std::os::fd::AsFd::as_fd(&socket));
    UdpSocket::from_std(socket.into()).map_err(error)
}

/// When the kernel received the datagram just read from `socket`: the peer's deadtime
/// runs from then, not from when this thread got round to reading it (under load,
/// several milliseconds later). A stamp older than a second is not believed.
fn arrival(socket: &UdpSocket, now: Instant) -> Instant {
    use std::os::fd::AsFd;
    let std_now = now.into_std();
    let at = crate::net::stamp::received_at(socket.as_fd(), std_now, Duration::from_secs(1));
    now.checked_sub(std_now.duration_since(at)).unwrap_or(now)
}

/// A datagram, received into an owned buffer so the receive futures borrow only the
/// sockets, with the time the kernel received it.
type Datagram = io::Result<(Vec<u8>, SocketAddr, Instant)>;

async fn receive(socket: Option<&UdpSocket>) -> Datagram {
    let Some(socket) = socket else {
        return std::future::pending().await;
    };
    let mut buffer = vec![0u8; RECEIVE_BUFFER];
    let (len, from) = socket.recv_from(&mut buffer).await?;
    buffer.truncate(len);
    Ok((buffer, from, arrival(socket, Instant::now())))
}

/// The task's state: the tracker, the machine and what it announces.
struct Runtime {
    config: HeartbeatConfig,
    tracker: PeerTracker,
    machine: StateMachine,
    started: Instant,
    sequence: u64,
    /// Set by a heartbeat sent out of turn, so the next periodic one waits a full
    /// keepalive (no two heartbeats back to back).
    restart_ticker: bool,
    dead_reported: bool,
    reported_view: PeerView,
    events: mpsc::UnboundedSender<HaEvent>,
    witness: Option<Box<dyn Witness>>,
    hold: HoldState,
}

/// The current silence of a peer that held the service: the probes sent, and whether
/// a takeover is being held off.
#[derive(Debug, Default)]
struct HoldState {
    last_probe: Option<Instant>,
    /// Set while holding: when to decide again.
    until: Option<Instant>,
    holds: u64,
    probes: u64,
}

impl Runtime {
    fn new(
        config: HeartbeatConfig,
        events: mpsc::UnboundedSender<HaEvent>,
        now: Instant,
    ) -> Runtime {
        let tracker = PeerTracker::new(
            config.protocol,
            config.auth.clone(),
            config.peer,
            config.has_private(),
            config.deadtime,
        );
        let machine = StateMachine::new(config.rules(), now);
        let reported_view = tracker.view(now);
        Runtime {
            config,
            tracker,
            machine,
            started: now,
            sequence: 0,
            restart_ticker: false,
            dead_reported: false,
            reported_view,
            events,
            witness: None,
            hold: HoldState::default(),
        }
    }

    async fn run(
        mut self,
        sockets: Sockets,
        mut commands: mpsc::UnboundedReceiver<Command>,
        snapshot: watch::Sender<HaSnapshot>,
    ) {
        tracing::info!(
            role = %self.config.role,
            protocol = %self.config.protocol,
            local = %self.config.local.public,
            peer = %self.config.peer.public,
            "heartbeat started"
        );
        // Piranha's start timer runs from when this node listens, not from when it was
        // configured.
        self.started = Instant::now();
        let mut ticker = tokio::time::interval(self.config.keepalive);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        self.input(&sockets, Input::Start, Instant::now()).await;
        loop {
            let deadline = self.hold.until.unwrap_or_else(|| self.dead_deadline());
            let probe_at = self.next_probe();
            let private = sockets.private.as_ref().map(|(socket, _)| socket);
            tokio::select! {
                command = commands.recv() => match command {
                    Some(Command::Shutdown(done)) => {
                        self.say_goodbye(&sockets).await;
                        let _ = done.send(());
                        return;
                    }
                    Some(command) => self.command(&sockets, command).await,
                    None => return,
                },
                datagram = receive(Some(&sockets.public)) => {
                    self.datagram(&sockets, Channel::Public, datagram).await;
                }
                datagram = receive(private) => {
                    self.datagram(&sockets, Channel::Private, datagram).await;
                }
                _ = ticker.tick() => {
                    self.send_heartbeats(&sockets).await;
                    self.restart_ticker = false;
                }
                _ = tokio::time::sleep_until(probe_at.unwrap_or(deadline)), if probe_at.is_some() => {
                    self.probe();
                }
                _ = tokio::time::sleep_until(deadline), if !self.dead_reported => {
                    // A thread that was not scheduled for a while finds the deadline and
                    // the peer's heartbeats ready at once: those count, they came in time.
                    self.drain(&sockets).await;
                    if self.dead_deadline() <= Instant::now() {
                        self.silent_for_deadtime(&sockets).await;
                    }
                }
            }
            if std::mem::take(&mut self.restart_ticker) {
                ticker.reset();
            }
            snapshot.send_replace(self.snapshot(Instant::now()));
        }
    }

    /// When the peer is dead unless heard: `deadtime` after the last valid heartbeat,
    /// or after the start when nothing was ever heard (Piranha's start timer).
    fn dead_deadline(&self) -> Instant {
        self.tracker
            .dead_at()
            .unwrap_or(self.started + self.config.deadtime)
    }

    /// The peer's last heartbeat, if any came since start.
    fn last_heard(&self) -> Option<Instant> {
        self.tracker
            .dead_at()
            .map(|dead| dead - self.config.deadtime)
    }

    /// Whether the peer's last word was that it holds the service: only such a peer
    /// has a kernel worth waiting for.
    fn peer_was_active(&self) -> bool {
        matches!(
            self.machine.view().peer,
            PeerKnowledge::Heard(PeerReport::Active { .. })
        )
    }

    /// When to probe the peer's addresses next: only while a peer that held the
    /// service is silent and this node might take over.
    fn next_probe(&self) -> Option<Instant> {
        let rules = self.config.hold_rules();
        if self.witness.is_none() || !rules.enabled() || self.dead_reported {
            return None;
        }
        let machine = self.machine.view();
        let could_take_over = !machine.active && !machine.stopped && machine.link_up;
        if !could_take_over || !self.peer_was_active() {
            return None;
        }
        let last_heard = self.last_heard()?;
        Some(rules.next_probe(last_heard, self.hold.last_probe))
    }

    fn probe(&mut self) {
        if let Some(witness) = self.witness.as_mut() {
            witness.probe();
            self.hold.probes += 1;
        }
        self.hold.last_probe = Some(Instant::now());
    }

    /// `deadtime` has passed without a heartbeat: the peer is dead, unless it held the
    /// service and its addresses still answer (its shoal alone died, [`super::hold`]).
    async fn silent_for_deadtime(&mut self, sockets: &Sockets) {
        let now = Instant::now();
        let rules = self.config.hold_rules();
        let verdict = match self.last_heard() {
            Some(last_heard) => {
                let since = rules.answers_count_from(last_heard, now);
                let addresses_answer = self
                    .witness
                    .as_mut()
                    .is_some_and(|w| w.answered_since(since));
                let silence = Silence {
                    peer_was_active: self.peer_was_active(),
                    addresses_answer,
                };
                rules.verdict(now, last_heard, silence)
            }
            None => Verdict::TakeOver(super::hold::Why::PeerNotServing),
        };
        match verdict {
            Verdict::Hold { until } => {
                if self.hold.until.is_none() {
                    self.hold.holds += 1;
                    tracing::warn!(
                        peer = %self.config.peer.public,
                        "no heartbeat for deadtime, but the partner's addresses still answer ({}): its kernel is serving, so its shoal alone is down; holding off the takeover for up to restart_grace ({:?})",
                        self.witness.as_ref().map(|w| w.describe()).unwrap_or_default(),
                        self.config.restart_grace
                    );
                }
                self.hold.until = Some(until);
            }
            Verdict::TakeOver(why) => {
                if self.hold.until.is_some() || self.hold.last_probe.is_some() {
                    tracing::warn!(peer = %self.config.peer.public, "partner silent: {why}");
                }
                self.peer_dead(sockets).await;
            }
        }
    }

    /// The peer was heard (or declared dead): any probing and holding is over.
    fn end_silence(&mut self) {
        if self.hold.until.is_some() {
            tracing::info!(peer = %self.config.peer.public, "partner heard again: takeover held off");
        }
        self.hold.until = None;
        self.hold.last_probe = None;
        if let Some(witness) = self.witness.as_mut() {
            witness.rest();
        }
    }

    async fn peer_dead(&mut self, sockets: &Sockets) {
        self.dead_reported = true;
        tracing::warn!(peer = %self.config.peer.public, "no heartbeat for deadtime: partner dead");
        self.input(sockets, Input::PeerDead, Instant::now()).await;
        // After the takeover is on its way: ending the probes closes sockets.
        self.end_silence();
        self.report_peer(Instant::now());
    }

    /// Handles the datagrams already waiting on the sockets (at most [`DRAIN_LIMIT`] per
    /// socket, so a flood cannot hold the task here).
    async fn drain(&mut self, sockets: &Sockets) {
        let mut buffer = vec![0u8; RECEIVE_BUFFER];
        for channel in [Channel::Public, Channel::Private] {
            let socket = match channel {
                Channel::Public => &sockets.public,
                Channel::Private => match &sockets.private {
                    Some((socket, _)) => socket,
                    None => continue,
                },
            };
            for _ in 0..DRAIN_LIMIT {
                let Ok((len, from)) = socket.try_recv_from(&mut buffer) else {
                    break;
                };
                let arrived = arrival(socket, Instant::now());
                let datagram = Ok((buffer[..len].to_vec(), from, arrived));
                self.datagram(sockets, channel, datagram).await;
            }
        }
    }

    async fn datagram(&mut self, sockets: &Sockets, channel: Channel, datagram: Datagram) {
        let (bytes, from, arrived) = match datagram {
            Ok(datagram) => datagram,
            Err(error) => {
                tracing::debug!(?channel, %error, "heartbeat receive failed");
                return;
            }
        };
        let now = Instant::now();
        match self.tracker.receive(channel, from.ip(), &bytes, arrived) {
            Ok(heard) => {
                self.dead_reported = false;
                if self.hold.last_probe.is_some() || self.hold.until.is_some() {
                    self.end_silence();
                }
                self.input(sockets, Input::Peer(heard.report()), now).await;
                self.report_peer(now);
            }
            Err(rejection) => self.log_rejection(channel, from, &rejection),
        }
    }

    /// Logs a rejection at warn level the 1st, 2nd, 4th, 8th... time per reason and
    /// channel (a flood cannot flood the log), at debug level otherwise.
    fn log_rejection(&self, channel: Channel, from: SocketAddr, rejection: &Rejection) {
        let counters = self.tracker.counters();
        let c = match channel {
            Channel::Public => counters.public,
            Channel::Private => counters.private.unwrap_or_default(),
        };
        let count = match rejection {
            Rejection::Source(_) => c.rejected_source,
            Rejection::Wire(super::wire::WireError::Length { .. }) => c.rejected_length,
            Rejection::Wire(super::wire::WireError::Tag(_)) => c.rejected_tag,
            Rejection::Wire(super::wire::WireError::Incompatible(_)) => c.incompatible,
            Rejection::Replayed { .. } => c.replayed,
            Rejection::OldBoot { .. } => c.old_boot,
        };
        if count.is_power_of_two() {
            tracing::warn!(?channel, %from, count, "heartbeat dropped: {rejection}");
        } else {
            tracing::debug!(?channel, %from, count, "heartbeat dropped: {rejection}");
        }
    }

    async fn command(&mut self, sockets: &Sockets, command: Command) {
        let now = Instant::now();
        match command {
            Command::Stopped(stopped) => self.input(sockets, Input::Stopped(stopped), now).await,
            Command::Link(up) => self.input(sockets, Input::Link(up), now).await,
            Command::Config(serial, hash) => {
                self.config.config_serial = serial;
                self.config.config_hash = hash;
            }
            Command::Witness(witness) => self.witness = witness,
            Command::Shutdown(_) => {}
        }
    }

    /// Feeds the machine, tells the daemon, and heartbeats at once if what this node
    /// says has changed.
    async fn input(&mut self, sockets: &Sockets, input: Input, now: Instant) {
        let before = self.machine.announcement();
        let action = self.machine.handle(input, now);
        let event = match action {
            Action::Nothing => None,
            Action::Activate(cause) => Some(HaEvent::Activate { cause }),
            Action::Deactivate(cause) => Some(HaEvent::Deactivate { cause }),
            Action::Reannounce => Some(HaEvent::Reannounce),
        };
        if let Some(event) = event {
            // The daemon first, the log after.
            let _ = self.events.send(event.clone());
            match event {
                HaEvent::Activate { cause } => tracing::info!(%cause, "activating"),
                HaEvent::Deactivate { cause } => tracing::info!(%cause, "deactivating"),
                _ => tracing::info!("backup heard active: re-announcing"),
            }
        }
        if self.machine.announcement() != before {
            self.send_heartbeats(sockets).await;
            self.restart_ticker = true;
        }
    }

    fn report_peer(&mut self, now: Instant) {
        let view = self.tracker.view(now);
        if !view.same_as(&self.reported_view) {
            self.reported_view = view;
            let _ = self.events.send(HaEvent::PeerChanged { peer: view });
        }
    }

    async fn send_heartbeats(&mut self, sockets: &Sockets) {
        if self.machine.is_quiet() {
            return;
        }
        let announcement = self.machine.announcement();
        let state = if announcement.active {
            WireState::Running
        } else {
            WireState::Stopped
        };
        let priority = if announcement.ready {
            self.config.role.priority()
        } else {
            PRIORITY_NONE
        };
        self.send_state(sockets, state, priority).await;
    }

    /// The last word on shutdown: "stopped, cannot serve".
    async fn say_goodbye(&mut self, sockets: &Sockets) {
        tracing::info!("heartbeat stopping: telling the peer");
        self.send_state(sockets, WireState::Stopped, PRIORITY_NONE)
            .await;
    }

    async fn send_state(&mut self, sockets: &Sockets, state: WireState, priority: u8) {
        self.sequence += 1;
        let hears_peer = self.tracker.is_alive(Instant::now());
        let bytes = self.encode(state, priority, hears_peer);
        for (channel, socket, to) in sockets.each() {
            let result = socket.send_to(&bytes, to).await;
            if let Err(error) = &result {
                tracing::debug!(?channel, %to, %error, "heartbeat send failed");
            }
            self.tracker.record_send(channel, result.is_ok());
        }
    }

    fn encode(&self, state: WireState, priority: u8, hears_peer: bool) -> Vec<u8> {
        match self.config.protocol {
            Protocol::Pulse => encode_pulse(state).to_vec(),
            Protocol::Shoal => ShoalPacket {
                state,
                priority,
                hears_peer,
                sequence: self.sequence,
                boot_id: self.config.boot_id,
                serial_no: self.config.config_serial,
                config_hash: self.config.config_hash,
                keepalive: self.config.keepalive,
            }
            .encode(&self.config.auth)
            .to_vec(),
        }
    }

    fn snapshot(&self, now: Instant) -> HaSnapshot {
        let peer = self.tracker.view(now);
        HaSnapshot {
            protocol: self.config.protocol,
            authenticated: self.config.auth.is_keyed(),
            boot_id: self.config.boot_id,
            local: self.config.local,
            state: self.machine.view(),
            config_serial: self.config.config_serial,
            config_hash: self.config.config_hash,
            config_matches: peer.config_hash.map(|h| h == self.config.config_hash),
            peer,
            counters: self.tracker.counters(),
            hold: HoldView {
                holding: self.hold.until.is_some(),
                silent_ms: self.hold.until.and(self.last_heard()).map(|heard| {
                    u64::try_from(now.duration_since(heard).as_millis()).unwrap_or(u64::MAX)
                }),
                holds: self.hold.holds,
                probes: self.hold.probes,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ha::state::PeerKnowledge;
    use std::net::Ipv4Addr;

    fn global() -> GlobalSettings {
        GlobalSettings {
            serial_no: 9,
            primary: Some("192.0.2.1".parse().expect("ip")),
            primary_private: Some("198.51.100.1".parse().expect("ip")),
            backup: Some("192.0.2.2".parse().expect("ip")),
            backup_private: Some("198.51.100.2".parse().expect("ip")),
            backup_active: true,
            keepalive: Duration::from_millis(100),
            deadtime: Duration::from_millis(300),
            ..GlobalSettings::default()
        }
    }

    fn from(global: &GlobalSettings, role: Role) -> Result<HeartbeatConfig, HaError> {
        HeartbeatConfig::from_global(global, role, Protocol::Shoal, Auth::None, b"lvs.cf")
    }

    #[test]
    fn each_role_gets_its_own_and_the_peers_addresses() {
        let primary = from(&global(), Role::Primary).expect("config");
        assert_eq!(
            primary.local.public,
            "192.0.2.1".parse::<IpAddr>().expect("ip")
        );
        assert_eq!(
            primary.peer.public,
            "192.0.2.2".parse::<IpAddr>().expect("ip")
        );
        assert!(primary.has_private());
        let backup = from(&global(), Role::Backup).expect("config");
        assert_eq!(backup.local.private, primary.peer.private);
        assert_eq!(backup.config_serial, 9);
        assert_eq!(backup.config_hash, ConfigHash::of(b"lvs.cf"));
        assert_eq!(backup.port, 539);
        assert!(backup.preempt);
    }

    #[test]
    fn a_private_channel_needs_a_distinct_private_address_on_both_nodes() {
        let mut g = global();
        g.backup_private = g.backup;
        let config = from(&g, Role::Primary).expect("config");
        assert_eq!((config.local.private, config.peer.private), (None, None));
        g.backup_private = None;
        assert!(!from(&g, Role::Backup).expect("config").has_private());
    }

    #[test]
    fn no_backup_or_no_time_is_an_error() {
        let mut g = global();
        g.backup_active = false;
        assert!(matches!(from(&g, Role::Primary), Err(HaError::NoPeer)));
        let mut g = global();
        g.backup = Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert!(matches!(from(&g, Role::Primary), Err(HaError::NoPeer)));
        let mut g = global();
        g.keepalive = Duration::ZERO;
        assert!(matches!(
            from(&g, Role::Primary),
            Err(HaError::Timing { name: "keepalive" })
        ));
        g.primary = None;
        assert!(matches!(from(&g, Role::Primary), Err(HaError::NoPrimary)));
    }

    #[test]
    fn boot_ids_grow() {
        let first = new_boot_id();
        std::thread::sleep(Duration::from_millis(1));
        assert!(new_boot_id() > first);
    }

    /// A port free on both loopback addresses the test uses.
    fn free_port() -> u16 {
        loop {
            let probe = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
            let port = probe.local_addr().expect("addr").port();
            if std::net::UdpSocket::bind(("127.0.0.2", port)).is_ok() {
                return port;
            }
        }
    }

    fn loopback(role: Role, port: u16) -> HeartbeatConfig {
        let one: IpAddr = "127.0.0.1".parse().expect("ip");
        let two: IpAddr = "127.0.0.2".parse().expect("ip");
        let (me, peer) = match role {
            Role::Primary => (one, two),
            Role::Backup => (two, one),
        };
        HeartbeatConfig {
            protocol: Protocol::Shoal,
            auth: Auth::Key(
                crate::ha::wire::HeartbeatKey::new(b"loopback test key".to_vec()).expect("key"),
            ),
            role,
            local: LocalAddresses {
                public: me,
                private: None,
            },
            peer: PeerAddresses {
                public: peer,
                private: None,
            },
            port,
            keepalive: Duration::from_millis(50),
            deadtime: Duration::from_millis(150),
            preempt: true,
            preempt_delay: Duration::ZERO,
            force_active: false,
            boot_id: new_boot_id(),
            config_serial: 1,
            config_hash: ConfigHash::of(b"one"),
            restart_grace: Duration::ZERO,
            resume: false,
        }
    }

    async fn next_change(events: &mut mpsc::UnboundedReceiver<HaEvent>) -> HaEvent {
        let wait = async {
            loop {
                match events.recv().await {
                    Some(HaEvent::PeerChanged { .. }) => continue,
                    Some(event) => return event,
                    None => panic!("events ended"),
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(3), wait)
            .await
            .expect("an event within 3 s")
    }

    /// The runtime on loopback (no root needed): election, config mismatch, crash.
    #[tokio::test]
    async fn two_runtimes_on_loopback_elect_and_fail_over() {
        let port = free_port();
        let (primary, mut primary_events) = spawn(loopback(Role::Primary, port)).expect("spawn");
        let mut backup_config = loopback(Role::Backup, port);
        backup_config.config_hash = ConfigHash::of(b"two");
        let (backup, mut backup_events) = spawn(backup_config).expect("spawn");
        assert_eq!(
            next_change(&mut primary_events).await,
            HaEvent::Activate {
                cause: Cause::PeerStandby
            }
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        let snapshot = backup.snapshot();
        assert!(!snapshot.state.active && snapshot.peer.alive);
        assert_eq!(snapshot.config_matches, Some(false));
        assert_eq!(
            snapshot.state.peer,
            PeerKnowledge::Heard(crate::ha::PeerReport::Active { hears_us: true })
        );
        drop(primary);
        assert_eq!(
            next_change(&mut backup_events).await,
            HaEvent::Activate {
                cause: Cause::PeerDead
            }
        );
        backup.shutdown().await;
    }

    /// The heartbeat's sockets have receive stamps on from the start, so the first
    /// heartbeat is dated by its arrival (read here 80 ms after it came).
    #[tokio::test]
    async fn heartbeat_sockets_date_the_first_heartbeat_by_its_arrival() {
        let address = SocketAddr::new("127.0.0.1".parse().expect("ip"), free_port());
        let socket = bind(Channel::Public, address).expect("bind");
        crate::net::stamp::tests::settle();
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").expect("sender");
        sender.send_to(b"beat", address).expect("send");
        std::thread::sleep(Duration::from_millis(80));
        socket.recv_from(&mut [0u8; 8]).await.expect("receive");
        let now = Instant::now();
        let age = now.duration_since(arrival(&socket, now));
        assert!(age >= Duration::from_millis(70), "dated {age:?} back");
    }

    /// A witness whose answer the test sets, counting the probes it was asked to send.
    #[derive(Clone, Default)]
    struct FakeWitness {
        answers: std::sync::Arc<std::sync::atomic::AtomicBool>,
        probes: std::sync::Arc<std::sync::atomic::AtomicU64>,
    }

    impl Witness for FakeWitness {
        fn probe(&mut self) {
            self.probes
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        fn answered_since(&mut self, _since: Instant) -> bool {
            self.answers.load(std::sync::atomic::Ordering::SeqCst)
        }
        fn rest(&mut self) {}
        fn describe(&self) -> String {
            "the fake VIP".into()
        }
    }

    fn no_activation(events: &mut mpsc::UnboundedReceiver<HaEvent>) {
        while let Ok(event) = events.try_recv() {
            assert!(
                !matches!(event, HaEvent::Activate { .. }),
                "activated: {event:?}"
            );
        }
    }

    /// A primary elected on loopback, and a backup with `restart_grace` `grace` whose
    /// witness (answering) the test holds.
    async fn elected_with_witness(
        grace: Duration,
    ) -> (
        u16,
        HeartbeatHandle,
        HeartbeatHandle,
        mpsc::UnboundedReceiver<HaEvent>,
        FakeWitness,
    ) {
        let port = free_port();
        let (primary, mut primary_events) = spawn(loopback(Role::Primary, port)).expect("spawn");
        let witness = FakeWitness::default();
        witness
            .answers
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let mut backup_config = loopback(Role::Backup, port);
        backup_config.restart_grace = grace;
        let (backup, backup_events) =
            spawn_with_witness(backup_config, Some(Box::new(witness.clone()))).expect("spawn");
        assert_eq!(
            next_change(&mut primary_events).await,
            HaEvent::Activate {
                cause: Cause::PeerStandby
            }
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        (port, primary, backup, backup_events, witness)
    }

    /// The active primary's heartbeat stops (its task dropped, as a `kill -9` of shoal
    /// does) while its addresses still answer: the backup holds off for the grace, the
    /// primary restarted with `resume` goes on serving, and the backup never activates.
    /// When the addresses stop answering too, the backup takes over at deadtime.
    #[tokio::test]
    async fn a_silent_peer_whose_addresses_answer_is_held_until_it_resumes() {
        let (port, primary, backup, mut backup_events, witness) =
            elected_with_witness(Duration::from_secs(30)).await;
        assert_eq!(witness.probes.load(std::sync::atomic::Ordering::SeqCst), 0);
        drop(primary);
        tokio::time::sleep(Duration::from_millis(600)).await;
        no_activation(&mut backup_events);
        let held = backup.snapshot();
        assert!(held.hold.holding, "holding: {:?}", held.hold);
        assert_eq!(held.hold.holds, 1);
        assert!(
            held.hold.probes >= 3,
            "probed every keepalive: {:?}",
            held.hold
        );
        assert!(held.hold.silent_ms.is_some_and(|ms| ms >= 500));

        let mut again = loopback(Role::Primary, port);
        again.resume = true;
        let (primary, mut primary_events) = spawn(again).expect("spawn");
        assert_eq!(
            next_change(&mut primary_events).await,
            HaEvent::Activate {
                cause: Cause::Resumed
            }
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        no_activation(&mut backup_events);
        let after = backup.snapshot();
        assert!(!after.hold.holding && after.peer.alive);

        witness
            .answers
            .store(false, std::sync::atomic::Ordering::SeqCst);
        let silent = Instant::now();
        drop(primary);
        assert_eq!(
            next_change(&mut backup_events).await,
            HaEvent::Activate {
                cause: Cause::PeerDead
            }
        );
        assert!(
            silent.elapsed() < Duration::from_millis(400),
            "{:?}",
            silent.elapsed()
        );
        backup.shutdown().await;
    }

    /// A peer whose addresses answer but whose shoal does not come back is taken over
    /// when the grace is over.
    #[tokio::test]
    async fn a_hold_ends_with_the_grace() {
        let (_port, primary, backup, mut backup_events, _witness) =
            elected_with_witness(Duration::from_millis(700)).await;
        let silent = Instant::now();
        drop(primary);
        assert_eq!(
            next_change(&mut backup_events).await,
            HaEvent::Activate {
                cause: Cause::PeerDead
            }
        );
        let waited = silent.elapsed();
        assert!(
            waited >= Duration::from_millis(650),
            "took over after {waited:?}, before the grace"
        );
        backup.shutdown().await;
    }

    /// The daemon's runtime blocked for several deadtimes right after the heartbeats are
    /// spawned (a start programming a large table makes blocking netlink calls): the
    /// heartbeats run on their own threads, so the pair elects as usual meanwhile and
    /// neither declares the other dead.
    #[tokio::test]
    async fn a_blocked_daemon_runtime_does_not_silence_the_heartbeat() {
        let port = free_port();
        let (primary, mut primary_events) = spawn(loopback(Role::Primary, port)).expect("spawn");
        let (backup, mut backup_events) = spawn(loopback(Role::Backup, port)).expect("spawn");
        std::thread::sleep(Duration::from_millis(600));
        assert_eq!(
            next_change(&mut primary_events).await,
            HaEvent::Activate {
                cause: Cause::PeerStandby
            }
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        while let Ok(event) = backup_events.try_recv() {
            assert!(
                !matches!(event, HaEvent::Activate { .. }),
                "the backup activated: {event:?}"
            );
        }
        primary.shutdown().await;
        backup.shutdown().await;
    }

    /// The heartbeat's thread not scheduled for longer than deadtime while the peer's
    /// heartbeats go on arriving: when it runs again, the deadline and the waiting
    /// heartbeats are ready at once, and the heartbeats count (the newest arrived in time,
    /// by the kernel's receive time). Driven here on the test's own runtime, which the
    /// test blocks while another thread plays the peer; without the drain before the
    /// verdict, each round would declare the peer dead half of the time.
    #[tokio::test]
    async fn a_heartbeat_waiting_when_the_deadline_passes_keeps_the_peer_alive() {
        let port = free_port();
        let config = loopback(Role::Backup, port);
        let primary = std::net::UdpSocket::bind((config.peer.public, port)).expect("bind");
        let sockets = Sockets::bind(&config).expect("bind");
        let (events_tx, mut events) = mpsc::unbounded_channel();
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let runtime = Runtime::new(config.clone(), events_tx, Instant::now());
        let (snapshot_tx, _snapshot) = watch::channel(runtime.snapshot(Instant::now()));
        let task = tokio::spawn(runtime.run(sockets, commands_rx, snapshot_tx));
        let boot_id = new_boot_id();
        let peer = config.clone();
        let sending = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let still = sending.clone();
        let sender = std::thread::spawn(move || {
            let mut sequence = 0;
            while still.load(std::sync::atomic::Ordering::SeqCst) {
                sequence += 1;
                let packet = ShoalPacket {
                    state: WireState::Running,
                    priority: Role::Primary.priority(),
                    hears_peer: true,
                    sequence,
                    boot_id,
                    serial_no: peer.config_serial,
                    config_hash: peer.config_hash,
                    keepalive: peer.keepalive,
                }
                .encode(&peer.auth);
                primary
                    .send_to(&packet, (peer.local.public, port))
                    .expect("send");
                std::thread::sleep(peer.keepalive / 2);
            }
        });
        for _ in 0..8 {
            tokio::time::sleep(config.keepalive / 2).await;
            std::thread::sleep(config.deadtime * 2);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        sending.store(false, std::sync::atomic::Ordering::SeqCst);
        sender.join().expect("sender");
        drop(commands);
        task.await.expect("the task ends");
        while let Ok(event) = events.try_recv() {
            assert!(
                !matches!(event, HaEvent::Activate { .. }),
                "the backup declared the running primary dead: {event:?}"
            );
        }
    }

    #[tokio::test]
    async fn binding_an_address_the_node_lacks_names_it() {
        let mut config = loopback(Role::Primary, free_port());
        config.local.public = "192.0.2.123".parse().expect("ip");
        let error = spawn(config).expect_err("not a local address");
        assert!(error.to_string().contains("192.0.2.123"), "{error}");
    }
}
