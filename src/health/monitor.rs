//! The health monitors of `shoal run`: tokio tasks that probe real servers and tell the
//! supervisor what the kernel should have.
//!
//! One task runs per distinct (check, target, timeout), however many (virtual server,
//! real server) pairs share it (SPEC 5.1: identical checks run once): its result is fanned
//! out to every pair's [`PairState`]. A pair whose [`Desired`] changes produces a
//! [`HealthEvent`] on the supervisor's channel; the monitors never touch the kernel.
//!
//! The pair states live in one registry behind a mutex that is never held across an
//! `.await`, so probes run concurrently and the critical sections are a few field updates.
//! [`Monitors::update`] applies a reload: unchanged pairs keep their task and their health,
//! new ones start, removed ones stop; operator overrides stay with their pair.
//!
//! First probes are spread over the interval by a hash of the check, so 10,000 monitors
//! started together do not fire in the same instant. Each probe is bounded by its timeout
//! (plus a grace) whatever the prober does; a probe that hangs past that or panics counts as
//! a failure for the server but not as a report from the checker, so after
//! [`STALL_INTERVALS`](super::state::STALL_INTERVALS) intervals the snapshot flags the pair
//! `stalled`.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::panic::AssertUnwindSafe;
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures::FutureExt;
use serde::Serialize;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until, timeout};
use tracing::{info, warn};

use super::check::{self, Check};
use super::halfopen::HalfOpen;
use super::state::{
    Desired, Health, Override, PairConfig, PairState, PairStatus, SorryServer, is_stalled,
    parse_load_average,
};
use super::{ProbeResult, Target};
use crate::config::model::{Config, LoadMonitor, RealServer, VirtualServer};
use crate::config::settings::TcpConnect;

/// Extra time a probe gets beyond its own timeout before the monitor gives up on it: the
/// probe is meant to bound itself, so hitting this means the checker is broken.
pub const PROBE_GRACE: Duration = Duration::from_secs(1);

/// The shortest probe interval the monitor runs, so a zero `timeout` cannot spin a task.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// A virtual server, by its lvs.cf block name (what `shoal drain VS/RS` and status use;
/// the integrator maps it to the IPVS service key).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceId(pub Arc<str>);

/// A real server inside a virtual server, by its lvs.cf block name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerId(pub Arc<str>);

impl From<&str> for ServiceId {
    fn from(name: &str) -> Self {
        ServiceId(name.into())
    }
}

impl From<&str> for ServerId {
    fn from(name: &str) -> Self {
        ServerId(name.into())
    }
}

/// Names serialize as plain strings (serde's `rc` feature is not enabled for `Arc<str>`).
impl Serialize for ServiceId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// Names serialize as plain strings.
impl Serialize for ServerId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl fmt::Display for ServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One pair, the key of everything the registry holds about it.
type PairKey = (ServiceId, ServerId);

/// How a real server's load average is read for `load_monitor`: an argv in which `%h`
/// stands for the real server's address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LoadSource {
    argv: Vec<String>,
}

impl LoadSource {
    /// The command Piranha's nanny ran for `load_monitor`: `uptime` through `rsh_command`,
    /// `rup HOST`, `ruptime` (it lists every host; the line naming the server is used), or
    /// any other command split on spaces, with `%h` substituted (or the host appended).
    /// `None` for `load_monitor = none`.
    pub fn from_config(load: &LoadMonitor, rsh_command: &str) -> Option<Self> {
        let words = |text: &str| text.split_whitespace().map(str::to_string).collect();
        let mut argv: Vec<String> = match load {
            LoadMonitor::None => return None,
            LoadMonitor::Uptime => words(rsh_command),
            LoadMonitor::Rup => vec!["rup".into()],
            LoadMonitor::Ruptime => return Some(LoadSource::new(vec!["ruptime".into()])),
            LoadMonitor::Command(command) => words(command),
        };
        if argv.is_empty() {
            return None;
        }
        if !argv.iter().any(|arg| arg.contains("%h")) {
            argv.push("%h".into());
        }
        if *load == LoadMonitor::Uptime {
            argv.push("uptime".into());
        }
        Some(LoadSource::new(argv))
    }

    /// A source running exactly `argv` (`%h` = the real server's address).
    pub fn new(argv: Vec<String>) -> Self {
        LoadSource { argv }
    }

    /// The argv to run for `target`.
    pub fn argv(&self, target: Target) -> Vec<String> {
        let host = target.address.to_string();
        self.argv
            .iter()
            .map(|arg| arg.replace("%h", &host))
            .collect()
    }
}

/// Runs the probes and load readings, so tests can script them and production uses
/// [`check::probe`].
pub trait Prober: Send + Sync + 'static {
    /// One probe of `check` against `target`, meant to finish within `timeout`.
    fn probe(
        &self,
        check: &Check,
        target: Target,
        timeout: Duration,
    ) -> impl Future<Output = ProbeResult> + Send;

    /// The real server's 1-minute load average, `None` when it cannot be read.
    fn load(
        &self,
        source: &LoadSource,
        target: Target,
        timeout: Duration,
    ) -> impl Future<Output = Option<f64>> + Send;
}

/// The production prober: the real checks, and the load command run without a shell.
/// Connect-only TCP checks are half-open when it holds a [`HalfOpen`] (one per `Monitors`,
/// its raw sockets shared by every check), full connects otherwise.
#[derive(Debug, Clone)]
pub struct CheckProber {
    half_open: Option<Arc<HalfOpen>>,
}

impl CheckProber {
    /// The prober `[health] tcp_connect` asks for.
    pub fn new(tcp_connect: TcpConnect) -> Self {
        match tcp_connect {
            TcpConnect::HalfOpen => CheckProber::half_open(),
            TcpConnect::Full => CheckProber::full(),
        }
    }

    /// Connect-only TCP checks half-open (full connects where no raw socket opens).
    pub fn half_open() -> Self {
        CheckProber {
            half_open: Some(Arc::new(HalfOpen::new())),
        }
    }

    /// Every TCP check a full connect, as Piranha's nanny did.
    pub fn full() -> Self {
        CheckProber { half_open: None }
    }

    /// The half-open prober, if this prober uses one.
    pub fn half_open_prober(&self) -> Option<&HalfOpen> {
        self.half_open.as_deref()
    }
}

impl Prober for CheckProber {
    fn probe(
        &self,
        check: &Check,
        target: Target,
        timeout: Duration,
    ) -> impl Future<Output = ProbeResult> + Send {
        // Boxed: `check::probe`'s future is sized for its largest check type (1,752 bytes)
        // and every probing task would carry it between probes too; the box exists only
        // while a probe runs (issue 5: heap per real server 3,152 -> 1,488 bytes).
        let half_open = self.half_open.as_deref();
        Box::pin(check::probe_with(check, target, timeout, half_open))
    }

    fn load(
        &self,
        source: &LoadSource,
        target: Target,
        timeout: Duration,
    ) -> impl Future<Output = Option<f64>> + Send {
        // Boxed for the same reason (a child process's future is about 1 KB).
        Box::pin(read_load(source.argv(target), target, timeout))
    }
}

/// Says once per program that `load_monitor` cannot run it (Piranha's nanny went on
/// without load readings; so does shoal, but not silently, and not once per server).
fn report_missing_load_command(program: &str, error: &std::io::Error) {
    static REPORTED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut reported = REPORTED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !reported.iter().any(|p| p == program) {
        reported.push(program.to_string());
        warn!("load_monitor: cannot run {program}: {error}; weights are left as configured");
    }
}

/// Runs the load command (killed after `timeout`) and parses its output.
async fn read_load(argv: Vec<String>, target: Target, limit: Duration) -> Option<f64> {
    let (program, args) = argv.split_first()?;
    let spawned = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let child = match spawned {
        Ok(child) => child,
        Err(e) => {
            report_missing_load_command(program, &e);
            return None;
        }
    };
    let output = timeout(limit, child.wait_with_output()).await.ok()?.ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    parse_load_average(&text, Some(&target.address.to_string()))
}

/// One (virtual server, real server) pair to monitor, as the integrator builds it from
/// lvs.cf (the check and target from `Check::for_server`).
#[derive(Debug, Clone, PartialEq)]
pub struct PairSpec {
    /// The virtual server.
    pub service: ServiceId,
    /// The real server.
    pub server: ServerId,
    /// What to probe.
    pub check: Check,
    /// Where to probe.
    pub target: Target,
    /// The probe's own timeout (lvs.cf `timeout`, which is also the interval).
    pub timeout: Duration,
    /// The state machine's settings (interval, weight, reentry, ...).
    pub config: PairConfig,
    /// How to read the load average, when `load_monitor` is on.
    pub load: Option<LoadSource>,
    /// The kernel's weight for this destination when the daemon starts with it already
    /// programmed: the pair starts in the table (see [`PairState::adopted`]). Only used
    /// for a pair the monitors do not know yet.
    pub adopted_weight: Option<u32>,
}

impl PairSpec {
    /// The pair for `rs` inside `vs` as lvs.cf describes it (Piranha's check rules from
    /// [`Check::for_server`]); `rsh_command` is the global one, for `load_monitor = uptime`.
    pub fn from_config(
        service: ServiceId,
        vs: &VirtualServer,
        rs: &RealServer,
        rsh_command: &str,
    ) -> Self {
        let (check, target) = Check::for_server(vs, rs);
        PairSpec {
            service,
            server: ServerId::from(rs.name.as_str()),
            check,
            target,
            timeout: vs.timeout,
            config: PairConfig::from_config(vs, rs),
            load: LoadSource::from_config(&vs.load_monitor, rsh_command),
            adopted_weight: None,
        }
    }
}

/// Everything to monitor: the pairs, and the virtual servers that have a sorry server.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MonitorSet {
    /// Every active (virtual server, real server) pair.
    pub pairs: Vec<PairSpec>,
    /// Virtual servers with a `sorry_server` (decided by [`SorryServer`]).
    pub sorry_services: Vec<ServiceId>,
}

impl MonitorSet {
    /// Every active real server (with an address) of every active virtual server, as Piranha's
    /// lvsd started a nanny for each; `adopted_weight` is left unset for the caller to fill.
    pub fn from_config(config: &Config) -> Self {
        Self::of_virtual_servers(&config.virtual_servers, &config.global.rsh_command)
    }

    /// [`from_config`](Self::from_config) for some virtual servers only (the blocks a
    /// reload re-read); `rsh` is the global `rsh_command`.
    pub fn of_virtual_servers(virtual_servers: &[VirtualServer], rsh: &str) -> Self {
        let mut set = MonitorSet::default();
        for vs in virtual_servers.iter().filter(|vs| vs.active) {
            let service = ServiceId::from(vs.name.as_str());
            if vs.sorry_server.is_some() {
                set.sorry_services.push(service.clone());
            }
            let servers = vs
                .servers
                .iter()
                .filter(|rs| rs.active && rs.address.is_some());
            for rs in servers {
                set.pairs
                    .push(PairSpec::from_config(service.clone(), vs, rs, rsh));
            }
        }
        set
    }
}

/// What the monitors tell the supervisor: a change of what the kernel should have.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum HealthEvent {
    /// A real server's destination should change.
    Server {
        /// The virtual server.
        service: ServiceId,
        /// The real server.
        server: ServerId,
        /// What the kernel should have now.
        desired: Desired,
        /// Health behind it, for the log line and status.
        health: Health,
        /// Why: the probe's detail, the weight step, or the override.
        detail: String,
    },
    /// A virtual server's sorry server should be added (weight 1) or removed.
    Sorry {
        /// The virtual server.
        service: ServiceId,
        /// What the kernel should have for its sorry server.
        desired: Desired,
    },
}

/// One pair as status and metrics show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairSnapshot {
    /// The virtual server.
    pub service: ServiceId,
    /// The real server.
    pub server: ServerId,
    /// Where it is probed.
    pub target: Target,
    /// Its health, desired state, counters and stall flag.
    #[serde(flatten)]
    pub status: PairStatus,
}

/// An override or query named a pair the monitors do not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no real server {server} in virtual server {service}")]
pub struct UnknownPair {
    /// The virtual server asked for.
    pub service: ServiceId,
    /// The real server asked for.
    pub server: ServerId,
}

/// What makes probes shareable: the same check to the same target with the same timing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct GroupKey {
    check: Check,
    target: Target,
    timeout: Duration,
    interval: Duration,
}

impl GroupKey {
    fn new(spec: &PairSpec) -> Self {
        GroupKey {
            check: spec.check.clone(),
            target: spec.target,
            timeout: spec.timeout,
            interval: spec.config.interval.max(MIN_INTERVAL),
        }
    }

    /// The first probe's offset: a hash, so it is stable and spread over the first
    /// second (or the interval, when shorter), in whole milliseconds (the timer's
    /// resolution, so an offset never rounds up into the next interval). A second is
    /// enough to spread 10,000 first probes to ten per millisecond, and short enough that
    /// a director that starts (Piranha's nanny probed at once) serves within a second.
    fn first_probe(&self, now: Instant) -> Instant {
        let mut hasher = DefaultHasher::new();
        self.hash(&mut hasher);
        let window = self.interval.min(FIRST_PROBE_WINDOW);
        let millis = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        now + Duration::from_millis(hasher.finish() % millis.max(1))
    }
}

/// How long the first probes of a start or reload are spread over.
const FIRST_PROBE_WINDOW: Duration = Duration::from_secs(1);

type GroupId = u64;

/// One probing task and the pairs it feeds.
struct Group {
    key: Arc<GroupKey>,
    pairs: Vec<PairKey>,
    started: Instant,
    /// The last result the checker itself produced (not a timeout or a panic).
    last_report: Option<Instant>,
    task: JoinHandle<()>,
}

struct PairEntry {
    state: PairState,
    group: GroupId,
    target: Target,
    load: Option<LoadSource>,
}

#[derive(Default)]
struct ServiceEntry {
    pairs: Vec<PairKey>,
    sorry: Option<SorryServer>,
}

#[derive(Default)]
struct Registry {
    pairs: HashMap<PairKey, PairEntry>,
    groups: HashMap<GroupId, Group>,
    group_ids: HashMap<Arc<GroupKey>, GroupId>,
    services: HashMap<ServiceId, ServiceEntry>,
    next_group: GroupId,
}

/// Called with every genuine probe result's latency, once per pair that shares the
/// check: the daemon's probe-latency histogram (metrics see every probe, the supervisor
/// only changes).
pub type LatencyObserver = Arc<dyn Fn(&ServiceId, &ServerId, Duration) + Send + Sync>;

/// What the tasks and the handle share.
struct Shared<P> {
    prober: P,
    events: UnboundedSender<HealthEvent>,
    registry: Mutex<Registry>,
    observer: Option<LatencyObserver>,
}

impl<P> Shared<P> {
    /// The registry; a panic elsewhere while it was held leaves data that is still usable.
    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The health monitors of one daemon: create once, [`Monitors::update`] at start and at
/// every reload, read [`Monitors::snapshot`] for status. Dropping it stops every task.
pub struct Monitors<P: Prober = CheckProber> {
    shared: Arc<Shared<P>>,
    jitter: bool,
}

impl<P: Prober> Monitors<P> {
    /// Monitors that send their events to `events` (the supervisor's channel; unbounded so
    /// a probe task never waits on the supervisor, and events come only on changes).
    pub fn new(prober: P, events: UnboundedSender<HealthEvent>) -> Self {
        Self::build(prober, events, None)
    }

    /// Monitors that also report every probe's latency to `observer`.
    pub fn with_observer(
        prober: P,
        events: UnboundedSender<HealthEvent>,
        observer: LatencyObserver,
    ) -> Self {
        Self::build(prober, events, Some(observer))
    }

    fn build(
        prober: P,
        events: UnboundedSender<HealthEvent>,
        observer: Option<LatencyObserver>,
    ) -> Self {
        Monitors {
            shared: Arc::new(Shared {
                prober,
                events,
                registry: Mutex::new(Registry::default()),
                observer,
            }),
            jitter: true,
        }
    }

    /// First probes at once instead of spread over the interval (tests, `shoal nanny`).
    pub fn without_jitter(mut self) -> Self {
        self.jitter = false;
        self
    }

    /// Makes the monitored set `set`: pairs already known keep their health and override
    /// (their settings are updated, which can send an event, e.g. for a new weight), new
    /// pairs start (out of the table, or adopted) without an event, removed pairs and their
    /// overrides are forgotten. Tasks run only for checks still in use. Sorry-server
    /// decisions are re-made and sent when they change.
    ///
    /// # Panics
    /// When called outside a tokio runtime (it spawns the probing tasks).
    pub fn update(&self, set: MonitorSet) {
        let now = Instant::now();
        let events = &self.shared.events;
        let mut guard = self.shared.lock();
        let registry = &mut *guard;
        let (seen, services) = self.place_all(registry, set, now);
        registry.forget_unseen(&seen);
        registry.replace_services(services, events);
    }

    /// Places every pair of `set` (known ones keep their state) and gives the pairs seen
    /// and the services they make up.
    fn place_all(
        &self,
        registry: &mut Registry,
        set: MonitorSet,
        now: Instant,
    ) -> (HashSet<PairKey>, HashMap<ServiceId, ServiceEntry>) {
        let events = &self.shared.events;
        let mut seen = HashSet::with_capacity(set.pairs.len());
        let mut services: HashMap<ServiceId, ServiceEntry> = HashMap::new();
        for service in set.sorry_services {
            services.entry(service).or_default().sorry = Some(SorryServer::default());
        }
        for spec in set.pairs {
            let key = (spec.service.clone(), spec.server.clone());
            if !seen.insert(key.clone()) {
                warn!("real server {} of {} is listed twice", key.1, key.0);
                continue;
            }
            let group = self.group_for(registry, GroupKey::new(&spec), now);
            registry.place(key.clone(), spec, group, now, events);
            services.entry(key.0.clone()).or_default().pairs.push(key);
        }
        (seen, services)
    }

    /// [`update`](Self::update) for a reload that re-read some virtual servers only: the
    /// pairs of the services named in `replaced` become those of `set` (which holds only
    /// those services, under their old or new names); every other pair is left alone, so a
    /// reload of one block out of 10,000 costs one block's work.
    pub fn update_services(&self, replaced: &[ServiceId], set: MonitorSet) {
        let now = Instant::now();
        let events = &self.shared.events;
        let mut guard = self.shared.lock();
        let registry = &mut *guard;
        let mut touched: HashSet<ServiceId> = replaced.iter().cloned().collect();
        let (seen, mut services) = self.place_all(registry, set, now);
        touched.extend(services.keys().cloned());
        let gone: Vec<PairKey> = touched
            .iter()
            .filter_map(|id| registry.services.get(id))
            .flat_map(|entry| entry.pairs.iter())
            .filter(|key| !seen.contains(*key))
            .cloned()
            .collect();
        registry.forget(&gone);
        let mut all = std::mem::take(&mut registry.services);
        for (id, entry) in &mut services {
            let previous = registry_sorry(&all, id);
            if let (Some(sorry), Some(previous)) = (entry.sorry.as_mut(), previous) {
                *sorry = previous;
            }
        }
        for id in &touched {
            all.remove(id);
        }
        let refreshed: Vec<ServiceId> = services
            .iter()
            .filter(|(_, e)| e.sorry.is_some())
            .map(|(id, _)| id.clone())
            .collect();
        all.extend(services);
        registry.services = all;
        for id in refreshed {
            refresh_sorry(&mut registry.services, &registry.pairs, &id, events);
        }
    }

    /// Sets an operator override (kept across reloads until cleared with
    /// [`Override::None`]); returns what the kernel should now have for the pair, and sends
    /// the event when that changed.
    pub fn set_override(
        &self,
        service: &ServiceId,
        server: &ServerId,
        operator: Override,
    ) -> Result<Desired, UnknownPair> {
        let events = &self.shared.events;
        let mut guard = self.shared.lock();
        let registry = &mut *guard;
        let key = (service.clone(), server.clone());
        let Some(entry) = registry.pairs.get_mut(&key) else {
            return Err(UnknownPair {
                service: service.clone(),
                server: server.clone(),
            });
        };
        if let Some(desired) = entry.state.set_override(operator) {
            let detail = format!("operator override: {operator:?}");
            send_server_event(events, &key, &entry.target, &entry.state, desired, detail);
        }
        // Also without a change: an override gives a pending pair its verdict.
        refresh_sorry(&mut registry.services, &registry.pairs, service, events);
        Ok(entry_desired(&registry.pairs, &key))
    }

    /// Every pair's health, desired state and stall flag, sorted by virtual server and
    /// real server name (for `shoal status`, the UI and `/metrics`).
    pub fn snapshot(&self) -> Vec<PairSnapshot> {
        let now = Instant::now();
        let registry = self.shared.lock();
        let mut snapshot: Vec<PairSnapshot> = registry
            .pairs
            .iter()
            .map(|(key, entry)| PairSnapshot {
                service: key.0.clone(),
                server: key.1.clone(),
                target: entry.target,
                status: entry.state.status(now, registry.stalled(entry, now)),
            })
            .collect();
        snapshot.sort_by(|a, b| (&a.service, &a.server).cmp(&(&b.service, &b.server)));
        snapshot
    }

    /// What the kernel should have for one pair now (the supervisor's view at start and
    /// after a reload, when no event was sent).
    pub fn desired(&self, service: &ServiceId, server: &ServerId) -> Option<Desired> {
        let registry = self.shared.lock();
        let key = (service.clone(), server.clone());
        registry.pairs.get(&key).map(|entry| entry.state.desired())
    }

    /// What the kernel should have for a virtual server's sorry server; `None` when it has
    /// none in the monitored set.
    pub fn sorry(&self, service: &ServiceId) -> Option<Desired> {
        let registry = self.shared.lock();
        let entry = registry.services.get(service)?;
        entry.sorry.as_ref().map(SorryServer::desired)
    }

    /// The number of probing tasks (distinct checks) running, for metrics and tests.
    pub fn task_count(&self) -> usize {
        self.shared.lock().groups.len()
    }

    /// The group for `key`, started (and its task spawned) if no pair used it yet.
    fn group_for(&self, registry: &mut Registry, key: GroupKey, now: Instant) -> GroupId {
        if let Some(id) = registry.group_ids.get(&key) {
            return *id;
        }
        let id = registry.next_group;
        registry.next_group += 1;
        let key = Arc::new(key);
        let first_probe = if self.jitter {
            key.first_probe(now)
        } else {
            now
        };
        let task = tokio::spawn(run_group(
            Arc::clone(&self.shared),
            id,
            Arc::clone(&key),
            first_probe,
        ));
        registry.group_ids.insert(Arc::clone(&key), id);
        registry.groups.insert(
            id,
            Group {
                key,
                pairs: Vec::new(),
                started: now,
                last_report: None,
                task,
            },
        );
        id
    }
}

impl<P: Prober> Drop for Monitors<P> {
    fn drop(&mut self) {
        for group in self.shared.lock().groups.values() {
            group.task.abort();
        }
    }
}

/// A service's sorry-server decision as it stands, to carry across a reload.
fn registry_sorry(
    services: &HashMap<ServiceId, ServiceEntry>,
    id: &ServiceId,
) -> Option<SorryServer> {
    services.get(id).and_then(|old| old.sorry)
}

impl Registry {
    /// Puts one spec's pair in `group`: a known pair keeps its state (moving task if its
    /// check changed), a new one starts fresh or adopted.
    fn place(
        &mut self,
        key: PairKey,
        spec: PairSpec,
        group: GroupId,
        now: Instant,
        events: &UnboundedSender<HealthEvent>,
    ) {
        let Some(entry) = self.pairs.get_mut(&key) else {
            let state = match spec.adopted_weight {
                Some(weight) => PairState::adopted(spec.config, weight, now),
                None => PairState::new(spec.config),
            };
            let entry = PairEntry {
                state,
                group,
                target: spec.target,
                load: spec.load,
            };
            self.pairs.insert(key.clone(), entry);
            self.join(group, key);
            return;
        };
        let old_group = entry.group;
        entry.group = group;
        entry.target = spec.target;
        entry.load = spec.load;
        if let Some(desired) = entry.state.reconfigure(spec.config, now) {
            let detail = "configuration changed".to_string();
            send_server_event(events, &key, &entry.target, &entry.state, desired, detail);
        }
        if old_group != group {
            if let Some(old) = self.groups.get_mut(&old_group) {
                old.pairs.retain(|member| *member != key);
            }
            self.join(group, key);
        }
    }

    fn join(&mut self, group: GroupId, key: PairKey) {
        if let Some(group) = self.groups.get_mut(&group) {
            group.pairs.push(key);
        }
    }

    /// Drops these pairs, and the groups (and tasks) they leave without pairs.
    fn forget(&mut self, gone: &[PairKey]) {
        for key in gone {
            let Some(entry) = self.pairs.remove(key) else {
                continue;
            };
            let Some(group) = self.groups.get_mut(&entry.group) else {
                continue;
            };
            group.pairs.retain(|member| member != key);
            if group.pairs.is_empty() {
                group.task.abort();
                let key = Arc::clone(&group.key);
                self.groups.remove(&entry.group);
                self.group_ids.remove(&key);
            }
        }
    }

    /// Drops pairs not in the new set, and the groups (and tasks) left without pairs.
    fn forget_unseen(&mut self, seen: &HashSet<PairKey>) {
        self.pairs.retain(|key, _| seen.contains(key));
        self.groups.retain(|_, group| {
            group.pairs.retain(|key| seen.contains(key));
            let keep = !group.pairs.is_empty();
            if !keep {
                group.task.abort();
            }
            keep
        });
        let groups = &self.groups;
        self.group_ids.retain(|_, id| groups.contains_key(id));
    }

    /// Installs the new services, keeping each sorry server's current decision, and sends
    /// the decisions that change with the new set.
    fn replace_services(
        &mut self,
        mut services: HashMap<ServiceId, ServiceEntry>,
        events: &UnboundedSender<HealthEvent>,
    ) {
        for (id, entry) in &mut services {
            let previous = self.services.get(id).and_then(|old| old.sorry);
            if let (Some(sorry), Some(previous)) = (entry.sorry.as_mut(), previous) {
                *sorry = previous;
            }
        }
        self.services = services;
        let ids: Vec<ServiceId> = self
            .services
            .iter()
            .filter(|(_, entry)| entry.sorry.is_some())
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            refresh_sorry(&mut self.services, &self.pairs, &id, events);
        }
    }

    /// Whether the pair's checker has gone quiet for too long.
    fn stalled(&self, entry: &PairEntry, now: Instant) -> bool {
        self.groups.get(&entry.group).is_some_and(|group| {
            is_stalled(group.last_report, group.started, group.key.interval, now)
        })
    }

    /// The earliest weight tick among the group's pairs; `None` when the group is gone.
    fn next_tick(&self, id: GroupId) -> Option<Option<Instant>> {
        let group = self.groups.get(&id)?;
        let ticks = group.pairs.iter().filter_map(|key| self.pairs.get(key));
        Some(
            ticks
                .filter_map(|entry| entry.state.next_weight_tick())
                .min(),
        )
    }

    /// Feeds one probe result to every pair of the group; `false` when the group is gone.
    fn apply_result(
        &mut self,
        id: GroupId,
        result: &ProbeResult,
        genuine: bool,
        now: Instant,
        events: &UnboundedSender<HealthEvent>,
        observer: Option<&LatencyObserver>,
    ) -> bool {
        let Registry {
            pairs,
            groups,
            services,
            ..
        } = self;
        let Some(group) = groups.get_mut(&id) else {
            return false;
        };
        if genuine {
            group.last_report = Some(now);
        }
        let mut changed = Vec::new();
        for key in &group.pairs {
            let Some(entry) = pairs.get_mut(key) else {
                continue;
            };
            if let (Some(observe), true) = (observer, genuine) {
                observe(&key.0, &key.1, result.latency);
            }
            // A first verdict can decide the sorry server even without a change.
            let was_pending = entry.state.is_pending();
            let change = entry.state.on_result(result, now);
            if let Some(desired) = change {
                send_server_event(
                    events,
                    key,
                    &entry.target,
                    &entry.state,
                    desired,
                    result.detail.clone(),
                );
            }
            if change.is_some() || was_pending {
                changed.push(key.0.clone());
            }
        }
        for service in &changed {
            refresh_sorry(services, pairs, service, events);
        }
        true
    }

    /// Applies the group's due weight ticks that need no load reading, and returns the
    /// load sources the others want (each once); `None` when the group is gone.
    fn due_ticks(
        &mut self,
        id: GroupId,
        now: Instant,
        events: &UnboundedSender<HealthEvent>,
    ) -> Option<Vec<LoadSource>> {
        let group = self.groups.get(&id)?;
        let mut sources: Vec<LoadSource> = Vec::new();
        for key in &group.pairs {
            let Some(entry) = self.pairs.get_mut(key) else {
                continue;
            };
            if !entry.state.weight_tick_due(now) {
                continue;
            }
            match entry.load.as_ref().filter(|_| entry.state.wants_load()) {
                Some(source) if !sources.contains(source) => sources.push(source.clone()),
                Some(_) => {}
                None => tick(entry, key, now, None, events),
            }
        }
        Some(sources)
    }

    /// Applies the load readings to the group's pairs that waited for them.
    fn apply_loads(
        &mut self,
        id: GroupId,
        now: Instant,
        loads: &[(LoadSource, Option<f64>)],
        events: &UnboundedSender<HealthEvent>,
    ) -> bool {
        let Some(group) = self.groups.get(&id) else {
            return false;
        };
        for key in &group.pairs {
            let Some(entry) = self.pairs.get_mut(key) else {
                continue;
            };
            let due = entry.state.weight_tick_due(now);
            let Some(source) = entry.load.as_ref().filter(|_| due) else {
                continue;
            };
            let load = loads
                .iter()
                .find(|(read, _)| read == source)
                .and_then(|(_, load)| *load);
            tick(entry, key, now, load, events);
        }
        true
    }
}

/// One pair's weight tick, with its event.
fn tick(
    entry: &mut PairEntry,
    key: &PairKey,
    now: Instant,
    load: Option<f64>,
    events: &UnboundedSender<HealthEvent>,
) {
    if let Some(desired) = entry.state.on_weight_tick(now, load) {
        let detail = match load {
            Some(load) => format!("load average {load:.2}"),
            None => "slow start".to_string(),
        };
        send_server_event(events, key, &entry.target, &entry.state, desired, detail);
    }
}

fn entry_desired(pairs: &HashMap<PairKey, PairEntry>, key: &PairKey) -> Desired {
    pairs
        .get(key)
        .map_or(Desired::Absent, |entry| entry.state.desired())
}

/// Re-decides a virtual server's sorry server and sends the change, if any.
fn refresh_sorry(
    services: &mut HashMap<ServiceId, ServiceEntry>,
    pairs: &HashMap<PairKey, PairEntry>,
    service: &ServiceId,
    events: &UnboundedSender<HealthEvent>,
) {
    let Some(entry) = services.get_mut(service) else {
        return;
    };
    let Some(sorry) = entry.sorry.as_mut() else {
        return;
    };
    let states = entry
        .pairs
        .iter()
        .filter_map(|key| pairs.get(key))
        .map(|pair| &pair.state);
    if sorry.update(states).is_some() {
        let now = if sorry.in_table { "in" } else { "out" };
        info!(virtual_server = %service, sorry_server = now, "sorry server of {service} {now}");
        // The supervisor may be gone at shutdown; nobody is left to tell then.
        let _ = events.send(HealthEvent::Sorry {
            service: service.clone(),
            desired: sorry.desired(),
        });
    }
}

/// Logs the change (SPEC 8: one line per state change, naming the virtual and the real
/// server and the address checked; the names are fields too, for journald and JSON) and
/// sends it to the supervisor.
fn send_server_event(
    events: &UnboundedSender<HealthEvent>,
    key: &PairKey,
    target: &Target,
    state: &PairState,
    desired: Desired,
    detail: String,
) {
    let health = state.health();
    let kernel = match desired {
        Desired::Absent => "out of the table".to_string(),
        Desired::Weight(weight) => format!("weight {weight}"),
    };
    info!(
        virtual_server = %key.0,
        real_server = %key.1,
        address = %target.socket(),
        health = health.as_str(),
        "rs {} ({}) of {} {} ({kernel}): {detail}",
        key.1,
        target.socket(),
        key.0,
        health.as_str()
    );
    // The supervisor may be gone at shutdown; nobody is left to tell then.
    let _ = events.send(HealthEvent::Server {
        service: key.0.clone(),
        server: key.1.clone(),
        desired,
        health,
        detail,
    });
}

/// The probing task of one group: probe every interval, feed the result to the group's
/// pairs, and run their weight ticks in between. Ends when the group is removed.
async fn run_group<P: Prober>(
    shared: Arc<Shared<P>>,
    id: GroupId,
    key: Arc<GroupKey>,
    first_probe: Instant,
) {
    let mut next_probe = first_probe;
    loop {
        let Some(next_tick) = shared.lock().next_tick(id) else {
            return;
        };
        sleep_until(next_tick.map_or(next_probe, |tick| tick.min(next_probe))).await;
        if Instant::now() >= next_probe {
            let started = Instant::now();
            let (result, genuine) = guarded_probe(&shared.prober, &key).await;
            let now = Instant::now();
            if !shared.lock().apply_result(
                id,
                &result,
                genuine,
                now,
                &shared.events,
                shared.observer.as_ref(),
            ) {
                return;
            }
            // Fixed rate from the probe's start; a slow probe is followed at once.
            next_probe = started + key.interval;
        }
        if !weight_ticks(&shared, id, &key).await {
            return;
        }
    }
}

/// Runs the group's due weight ticks, reading each wanted load once; `false` when the
/// group is gone.
async fn weight_ticks<P: Prober>(shared: &Shared<P>, id: GroupId, key: &GroupKey) -> bool {
    let now = Instant::now();
    let Some(sources) = shared.lock().due_ticks(id, now, &shared.events) else {
        return false;
    };
    if sources.is_empty() {
        return true;
    }
    let mut loads = Vec::with_capacity(sources.len());
    for source in sources {
        let reading = shared.prober.load(&source, key.target, key.timeout);
        let load = timeout(key.timeout + PROBE_GRACE, reading)
            .await
            .ok()
            .flatten();
        loads.push((source, load));
    }
    shared.lock().apply_loads(id, now, &loads, &shared.events)
}

/// One probe, bounded and panic-proof. The flag says whether the checker itself
/// reported (a hang past the grace or a panic is a failure, but not a report).
async fn guarded_probe<P: Prober>(prober: &P, key: &GroupKey) -> (ProbeResult, bool) {
    let started = Instant::now();
    let probe = AssertUnwindSafe(prober.probe(&key.check, key.target, key.timeout));
    let detail = match timeout(key.timeout + PROBE_GRACE, probe.catch_unwind()).await {
        Ok(Ok(result)) => return (result, true),
        Ok(Err(_)) => "the probe panicked".to_string(),
        Err(_) => format!("the probe did not return within {:?}", key.timeout),
    };
    warn!("check of {}: {detail}", key.target.socket());
    let result = ProbeResult {
        passed: false,
        latency: started.elapsed(),
        detail,
    };
    (result, false)
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;

    fn target(last: u8) -> Target {
        Target {
            address: IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)),
            port: 80,
        }
    }

    #[test]
    fn load_sources_follow_nanny() {
        let uptime = LoadSource::from_config(&LoadMonitor::Uptime, "ssh -q").expect("some");
        assert_eq!(uptime.argv(target(7)), ["ssh", "-q", "10.0.0.7", "uptime"]);
        let rup = LoadSource::from_config(&LoadMonitor::Rup, "rsh").expect("some");
        assert_eq!(rup.argv(target(7)), ["rup", "10.0.0.7"]);
        let ruptime = LoadSource::from_config(&LoadMonitor::Ruptime, "rsh").expect("some");
        assert_eq!(ruptime.argv(target(7)), ["ruptime"]);
        let custom = LoadMonitor::Command("/usr/local/bin/load --host=%h".into());
        let custom = LoadSource::from_config(&custom, "rsh").expect("some");
        assert_eq!(
            custom.argv(target(7)),
            ["/usr/local/bin/load", "--host=10.0.0.7"]
        );
        assert_eq!(LoadSource::from_config(&LoadMonitor::None, "rsh"), None);
    }

    #[test]
    fn first_probes_spread_over_the_interval() {
        let now = Instant::now();
        let interval = Duration::from_secs(10);
        let offsets: HashSet<Duration> = (1..=200)
            .map(|last| {
                let vs = crate::config::model::VirtualServer::new("web");
                let mut rs = crate::config::model::RealServer::new("rs");
                rs.address = Some(target(last).address);
                let key = GroupKey {
                    check: Check::for_server(&vs, &rs).0,
                    target: target(last),
                    timeout: interval,
                    interval,
                };
                let first = key.first_probe(now);
                assert_eq!(first, key.first_probe(now), "stable");
                first - now
            })
            .collect();
        assert!(offsets.iter().all(|offset| *offset < FIRST_PROBE_WINDOW));
        let early = offsets
            .iter()
            .filter(|o| **o < FIRST_PROBE_WINDOW / 2)
            .count();
        assert!(
            (60..=140).contains(&early),
            "{early} of 200 in the first half"
        );
    }
}
