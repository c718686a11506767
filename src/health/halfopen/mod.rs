//! Half-open TCP probes: connect-only TCP checks done with a SYN on a raw socket instead
//! of a full connect.
//!
//! Why: a connect-only check (TCP, neither `send` nor `expect`) passes when the connect
//! completes, and a connect completes in the server's kernel, before and whether or not
//! the application accepts it. A SYN answered by a SYN-ACK proves the same thing: the
//! kernel listens on the port; a RST says nothing does (the connect's "connection
//! refused"), and silence is a timeout. What the SYN saves is most of the check's cost:
//! a full connect is a socket, the handshake, the FIN exchange and a TIME_WAIT, 82-93 %
//! of a check's CPU in `docs/BENCHMARKS.md`; a half-open probe is one `sendmsg` and one
//! `recvfrom`. Because no local socket owns the connection, the local kernel answers the
//! SYN-ACK with a RST itself, which releases the server's half-open entry at once; the
//! application never sees a connection (no accept, no log line, no TIME_WAIT on either
//! side). Some intrusion detection systems flag SYN probes; `[health] tcp_connect =
//! "full"` in shoal.toml restores Piranha's exact connect.
//!
//! How: one [`HalfOpen`] per `Monitors` (so per runtime), shared by every check, and
//! opened at its first probe:
//! - a [`ReservedPort`]: a TCP socket bound to port 0 on the wildcard address and kept
//!   for the prober's life, so the kernel never gives that port to another socket; it is
//!   the source port of every SYN;
//! - a raw TCP socket per address family, non-blocking, driven by tokio's `AsyncFd`
//!   from one receiving task, with a classic BPF filter so it only receives segments sent
//!   to the reserved port (without it every TCP segment the director receives would be
//!   copied into shoal);
//! - each SYN has a random initial sequence number; an answer is matched by (remote
//!   address, remote port, sequence number): it must come from the target and
//!   acknowledge ISN + 1. One SYN is in flight per target at a time: a second one from
//!   the same source port would reach the same half-open connection on the server and
//!   go unanswered, so a probe of a target that already has one waits for its answer;
//! - the IPv4 checksum covers the source address, found by a route lookup (a UDP socket
//!   connected to the target) cached per target and pinned on the packet with
//!   `IP_PKTINFO`; for IPv6 the kernel computes the checksum (`IPV6_CHECKSUM`);
//! - the SYN is sent again if unanswered after 1 s, 2 s more, 4 s more... within the
//!   probe's timeout, as the kernel does for a connect.
//!
//! If a raw socket cannot be opened (no CAP_NET_RAW, or no IPv6), the checks of that
//! family do full connects; the log says so once.

mod packet;
mod socket;

use std::collections::HashMap;
use std::collections::hash_map::{Entry, RandomState};
use std::hash::BuildHasher;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::warn;

use self::packet::{Answer, Layout, SYN_LEN};
pub use self::socket::{OpenError, ReservedPort};
use super::Target;
use super::check::{Outcome, ProbeError, Progress};

/// The first retransmission of an unanswered SYN (the kernel's initial RTO); each next
/// one waits twice as long.
const FIRST_RETRANSMISSION: Duration = Duration::from_secs(1);

/// How long a looked-up IPv4 source address is used before it is looked up again, so a
/// change of routes is followed.
const ROUTE_LIFETIME: Duration = Duration::from_secs(60);

/// Counters of one prober, for tests and diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Statistics {
    /// SYNs sent (retransmissions included).
    pub sent: u64,
    /// Packets the raw sockets delivered (after the filter).
    pub received: u64,
    /// Of which answers that matched a probe.
    pub matched: u64,
}

/// The half-open prober of one `Monitors`: see the module documentation. Cheap to create;
/// the sockets are opened at the first probe, inside the runtime that runs the probes.
#[derive(Debug, Default)]
pub struct HalfOpen {
    engine: OnceLock<Option<Engine>>,
}

impl HalfOpen {
    /// A prober that opens its sockets at its first probe.
    pub fn new() -> Self {
        HalfOpen::default()
    }

    /// The prober for `address`'s family, opening the sockets at the first call; `None`
    /// when that family's raw socket could not be opened (the check does a full connect).
    ///
    /// # Panics
    /// The first call panics outside a tokio runtime (it spawns the receiving tasks).
    pub fn family(&self, address: IpAddr) -> Option<&FamilyProber> {
        let engine = self.engine.get_or_init(Engine::open).as_ref()?;
        let family = match address.to_canonical() {
            IpAddr::V4(_) => &engine.v4,
            IpAddr::V6(_) => &engine.v6,
        };
        family.as_ref().map(|running| running.prober.as_ref())
    }

    /// Whether probes to `address` are half-open (opening the sockets if not yet done).
    pub fn is_available(&self, address: IpAddr) -> bool {
        self.family(address).is_some()
    }

    /// The reserved source port, once the sockets are open.
    pub fn source_port(&self) -> Option<u16> {
        let engine = self.engine.get()?.as_ref()?;
        Some(engine.port.port())
    }

    /// The counters of both families so far.
    pub fn statistics(&self) -> Statistics {
        let Some(Some(engine)) = self.engine.get() else {
            return Statistics::default();
        };
        engine
            .families()
            .fold(Statistics::default(), |sum, prober| {
                let counters = prober.statistics();
                Statistics {
                    sent: sum.sent + counters.sent,
                    received: sum.received + counters.received,
                    matched: sum.matched + counters.matched,
                }
            })
    }
}

/// The open sockets: the reserved port, and each family's prober.
#[derive(Debug)]
struct Engine {
    port: ReservedPort,
    v4: Option<Running>,
    v6: Option<Running>,
}

impl Engine {
    /// Opens what can be opened; `None` (said once in the log) when no family can.
    fn open() -> Option<Engine> {
        let port = match ReservedPort::new() {
            Ok(port) => port,
            Err(e) => {
                warn!("{e}; connect-only TCP checks do full connects");
                return None;
            }
        };
        let v4 = Running::start(Layout::Ipv4, port.port());
        let v6 = Running::start(Layout::Ipv6, port.port());
        if let Err(e) = &v4
            && e.is_permission()
        {
            warn!("{e}: connect-only TCP checks do full connects (half-open needs CAP_NET_RAW)");
            return None;
        }
        let v4 = v4.map_err(|e| warn!("{e}; connect-only IPv4 checks do full connects"));
        let v6 = v6.map_err(|e| warn!("{e}; connect-only IPv6 checks do full connects"));
        Some(Engine {
            port,
            v4: v4.ok(),
            v6: v6.ok(),
        })
    }

    fn families(&self) -> impl Iterator<Item = &FamilyProber> {
        [&self.v4, &self.v6]
            .into_iter()
            .flatten()
            .map(|running| running.prober.as_ref())
    }
}

/// A family's prober and the task reading its socket, stopped when this is dropped.
#[derive(Debug)]
struct Running {
    prober: Arc<FamilyProber>,
    task: JoinHandle<()>,
}

impl Running {
    fn start(layout: Layout, port: u16) -> Result<Running, OpenError> {
        let prober = Arc::new(FamilyProber::open(layout, port)?);
        let task = tokio::spawn(receive(Arc::clone(&prober)));
        Ok(Running { prober, task })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A probe in flight to one (address, port): its SYN's ISN and who waits for the answer
/// (almost always one probe: it is kept out of the vector, which then never allocates).
#[derive(Debug)]
struct Pending {
    isn: u32,
    first: Option<(u64, oneshot::Sender<Answer>)>,
    others: Vec<(u64, oneshot::Sender<Answer>)>,
}

impl Pending {
    fn remove(&mut self, id: u64) {
        if self.first.as_ref().is_some_and(|(first, _)| *first == id) {
            self.first = None;
        }
        self.others.retain(|(other, _)| *other != id);
    }

    fn is_empty(&self) -> bool {
        self.first.is_none() && self.others.is_empty()
    }

    fn answer(self, answer: Answer) {
        for (_, waiter) in self.first.into_iter().chain(self.others) {
            // A waiter that gave up (timed out) is gone; the others get the answer.
            let _ = waiter.send(answer);
        }
    }
}

/// The half-open prober of one address family: its raw socket, the probes in flight, the
/// IPv4 source addresses looked up.
#[derive(Debug)]
pub struct FamilyProber {
    layout: Layout,
    socket: AsyncFd<socket2::Socket>,
    port: u16,
    pending: Mutex<HashMap<SocketAddr, Pending>>,
    sources: Mutex<SourceCache>,
    /// Keys the sequence numbers: random per process, so an ISN cannot be guessed.
    isn_key: RandomState,
    next_probe: AtomicU64,
    sent: AtomicU64,
    received: AtomicU64,
    matched: AtomicU64,
}

impl FamilyProber {
    /// Opens the family's raw socket and registers it with the runtime.
    fn open(layout: Layout, port: u16) -> Result<FamilyProber, OpenError> {
        let raw = socket::open_raw(layout, port)?;
        let interest = Interest::READABLE | Interest::WRITABLE;
        // SAFETY: the socket2 `Socket` owns its descriptor, which stays open and the same
        // until the `AsyncFd` (its only owner from here on) is dropped.
        let registered = unsafe { AsyncFd::register_with_interest(raw, interest) };
        let socket = registered.map_err(|e| OpenError {
            family: socket::family_name(layout),
            stage: "register with the runtime",
            source: e.into(),
        })?;
        Ok(FamilyProber {
            layout,
            socket,
            port,
            pending: Mutex::new(HashMap::new()),
            sources: Mutex::new(SourceCache::default()),
            isn_key: RandomState::new(),
            next_probe: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            matched: AtomicU64::new(0),
        })
    }

    /// The counters so far.
    pub fn statistics(&self) -> Statistics {
        Statistics {
            sent: self.sent.load(Ordering::Relaxed),
            received: self.received.load(Ordering::Relaxed),
            matched: self.matched.load(Ordering::Relaxed),
        }
    }

    /// One half-open probe of `target`: passes on a SYN-ACK, fails on a RST; the caller
    /// bounds it by the check's `timeout` (silence is a timeout), and `timeout` decides
    /// whether there is time to send the SYN again.
    pub async fn probe(&self, target: Target, timeout: Duration, progress: &Progress) -> Outcome {
        let started = Instant::now();
        let destination = SocketAddr::new(target.address.to_canonical(), target.port);
        let (waiter, mut answer) = self.wait_for(destination);
        if waiter.first {
            self.send_syn(destination, waiter.isn, started).await?;
            progress.note_at("SYN sent to", destination);
        } else {
            progress.note_at("waiting for the answer to the SYN sent to", destination);
        }
        let deadline = started + timeout;
        let mut retransmission = FIRST_RETRANSMISSION;
        let mut next = started + retransmission;
        while next < deadline {
            tokio::select! {
                answered = &mut answer => return verdict(answered),
                () = tokio::time::sleep_until(next) => {
                    self.send_syn(destination, waiter.isn, next).await?;
                    retransmission *= 2;
                    next += retransmission;
                }
            }
        }
        verdict(answer.await)
    }

    /// Registers a wait for the answer from `destination`: joins the probe in flight
    /// there, or starts one with a new ISN.
    fn wait_for(&self, destination: SocketAddr) -> (Waiter<'_>, oneshot::Receiver<Answer>) {
        let id = self.next_probe.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = oneshot::channel();
        let mut pending = lock(&self.pending);
        let (isn, first) = match pending.entry(destination) {
            Entry::Occupied(mut entry) => {
                entry.get_mut().others.push((id, sender));
                (entry.get().isn, false)
            }
            Entry::Vacant(entry) => {
                let isn = self.isn_key.hash_one((id, destination)) as u32;
                entry.insert(Pending {
                    isn,
                    first: Some((id, sender)),
                    others: Vec::new(),
                });
                (isn, true)
            }
        };
        let waiter = Waiter {
            prober: self,
            destination,
            id,
            isn,
            first,
        };
        (waiter, receiver)
    }

    /// Sends the SYN with initial sequence number `isn` to `destination`. For IPv4, a
    /// source address the kernel refuses (no longer the host's) is looked up again once.
    async fn send_syn(
        &self,
        destination: SocketAddr,
        isn: u32,
        now: Instant,
    ) -> Result<(), ProbeError> {
        let (segment, source) = self.segment(destination, isn, now)?;
        let sent = match self.send(&segment, source, destination).await {
            Err(e) if source.is_some() && is_stale_source(&e) => {
                if let IpAddr::V4(address) = destination.ip() {
                    lock(&self.sources).forget(address);
                }
                let (segment, source) = self.segment(destination, isn, now)?;
                self.send(&segment, source, destination).await
            }
            sent => sent,
        };
        sent.map_err(|e| ProbeError::io("send SYN", e))?;
        self.sent.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// The SYN for `destination` and, for IPv4, the source address its checksum covers.
    fn segment(
        &self,
        destination: SocketAddr,
        isn: u32,
        now: Instant,
    ) -> Result<([u8; SYN_LEN], Option<Ipv4Addr>), ProbeError> {
        let mut segment = packet::syn_segment(self.port, destination.port(), isn);
        let IpAddr::V4(address) = destination.ip() else {
            return Ok((segment, None));
        };
        let source = self.source_for(address, now)?;
        packet::set_ipv4_checksum(&mut segment, source, address);
        Ok((segment, Some(source)))
    }

    /// The cached source address for an IPv4 destination, looked up when missing or old
    /// at `now`.
    fn source_for(&self, destination: Ipv4Addr, now: Instant) -> Result<Ipv4Addr, ProbeError> {
        if let Some(source) = lock(&self.sources).get(destination, now) {
            return Ok(source);
        }
        let source =
            socket::source_for(destination).map_err(|e| ProbeError::io("route lookup", e))?;
        lock(&self.sources).insert(destination, source, now);
        Ok(source)
    }

    /// Sends one segment, waiting while the socket's send buffer is full.
    async fn send(
        &self,
        segment: &[u8],
        source: Option<Ipv4Addr>,
        destination: SocketAddr,
    ) -> io::Result<()> {
        self.socket
            .async_io(Interest::WRITABLE, |raw| match (destination.ip(), source) {
                (IpAddr::V4(address), Some(source)) => {
                    socket::send_ipv4(raw, segment, source, address)
                }
                (IpAddr::V6(address), _) => socket::send_ipv6(raw, segment, address),
                (IpAddr::V4(address), None) => {
                    Err(io::Error::other(format!("no source address for {address}")))
                }
            })
            .await
    }

    /// Hands one received packet to the probe it answers, if any.
    fn deliver(&self, packet: &[u8], from: IpAddr) {
        self.received.fetch_add(1, Ordering::Relaxed);
        let parsed = match self.layout {
            Layout::Ipv4 => {
                packet::parse_ipv4(packet).map(|(from, segment)| (IpAddr::V4(from), segment))
            }
            Layout::Ipv6 => packet::parse_tcp(packet).map(|segment| (from, segment)),
        };
        let Some((from, segment)) = parsed else {
            return;
        };
        let Some(answer) = segment.answer() else {
            return;
        };
        if segment.destination_port != self.port {
            return;
        }
        let destination = SocketAddr::new(from, segment.source_port);
        let mut pending = lock(&self.pending);
        let Entry::Occupied(entry) = pending.entry(destination) else {
            return;
        };
        if !segment.acknowledges(entry.get().isn) {
            return;
        }
        let answered = entry.remove();
        drop(pending);
        self.matched.fetch_add(1, Ordering::Relaxed);
        answered.answer(answer);
    }
}

/// Errors that mean the pinned IPv4 source address is not the host's any more.
fn is_stale_source(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EINVAL | libc::EADDRNOTAVAIL | libc::ENETUNREACH)
    )
}

/// The verdict of an answer.
fn verdict(answered: Result<Answer, oneshot::error::RecvError>) -> Outcome {
    match answered {
        Ok(Answer::Listening) => Ok("listening (SYN-ACK)".to_string()),
        Ok(Answer::Refused) => Err(ProbeError::io(
            "connect (SYN)",
            io::Error::from_raw_os_error(libc::ECONNREFUSED),
        )),
        Err(_) => Err(ProbeError::Protocol(
            "the half-open prober stopped receiving".to_string(),
        )),
    }
}

/// One probe's registration; dropping it (answered, timed out or cancelled) takes the
/// probe out of the table, and the target's entry with its last waiter.
struct Waiter<'a> {
    prober: &'a FamilyProber,
    destination: SocketAddr,
    id: u64,
    isn: u32,
    first: bool,
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        let mut pending = lock(&self.prober.pending);
        if let Entry::Occupied(mut entry) = pending.entry(self.destination) {
            entry.get_mut().remove(self.id);
            if entry.get().is_empty() {
                entry.remove();
            }
        }
    }
}

/// The IPv4 source addresses looked up, each with when.
#[derive(Debug, Default)]
struct SourceCache {
    sources: HashMap<Ipv4Addr, (Ipv4Addr, Instant)>,
    last_prune: Option<Instant>,
}

impl SourceCache {
    fn get(&self, destination: Ipv4Addr, now: Instant) -> Option<Ipv4Addr> {
        let (source, at) = self.sources.get(&destination)?;
        (now.duration_since(*at) < ROUTE_LIFETIME).then_some(*source)
    }

    /// The source whatever its age.
    #[cfg(test)]
    fn peek(&self, destination: Ipv4Addr) -> Option<Ipv4Addr> {
        self.sources.get(&destination).map(|(source, _)| *source)
    }

    fn insert(&mut self, destination: Ipv4Addr, source: Ipv4Addr, now: Instant) {
        // Targets that are no longer checked leave once their lookup is old.
        let prune = self
            .last_prune
            .is_none_or(|at| now.duration_since(at) >= ROUTE_LIFETIME);
        if prune {
            self.sources
                .retain(|_, (_, at)| now.duration_since(*at) < ROUTE_LIFETIME);
            self.last_prune = Some(now);
        }
        self.sources.insert(destination, (source, now));
    }

    fn forget(&mut self, destination: Ipv4Addr) {
        self.sources.remove(&destination);
    }
}

/// Reads the raw socket until the prober is dropped (which aborts this task).
async fn receive(prober: Arc<FamilyProber>) {
    // An IPv4 header (at most 60 bytes) and the TCP header's first 20 are all we read.
    let mut buffer = [0u8; 128];
    loop {
        let mut ready = match prober.socket.readable().await {
            Ok(ready) => ready,
            Err(e) => {
                warn!("half-open TCP checks: the raw socket failed: {e}");
                return;
            }
        };
        loop {
            match ready.try_io(|raw| socket::receive(raw.get_ref(), &mut buffer)) {
                Ok(Ok((length, from))) => prober.deliver(&buffer[..length], from),
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(e)) => {
                    warn!("half-open TCP checks: receive: {e}");
                    break;
                }
                Err(_would_block) => break,
            }
        }
    }
}

/// A mutex whose data stays usable after a panic elsewhere.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_source_addresses_are_looked_up_again_and_pruned() {
        let mut cache = SourceCache::default();
        let now = Instant::now();
        let (a, b) = (Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2));
        let source = Ipv4Addr::new(198, 51, 100, 1);
        cache.insert(a, source, now);
        assert_eq!(cache.get(a, now + Duration::from_secs(59)), Some(source));
        assert_eq!(cache.get(a, now + ROUTE_LIFETIME), None);
        assert_eq!(cache.peek(a), Some(source));
        cache.insert(b, source, now + ROUTE_LIFETIME);
        assert_eq!(
            cache.peek(a),
            None,
            "pruned at the next insert after its lifetime"
        );
        cache.forget(b);
        assert_eq!(cache.peek(b), None);
    }

    #[test]
    fn answers_become_verdicts_like_a_connects() {
        assert_eq!(
            verdict(Ok(Answer::Listening)).ok().as_deref(),
            Some("listening (SYN-ACK)")
        );
        let refused = verdict(Ok(Answer::Refused)).expect_err("a failure");
        assert!(refused.to_string().contains("refused"), "{refused}");
    }
}
