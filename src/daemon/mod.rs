//! `shoal run`: the supervisor. It owns the desired state and is the only writer to
//! the kernel; signals and control-socket requests reach it as events, one at a time.
//!
//! At start it adopts what the kernel has: services it wants stay as they are (no
//! connection is broken by a restart of shoal), services it does not want go. A reload
//! sends only the difference; a file that fails validation never replaces the running one.

mod addresses;
mod failover;
pub mod history;
mod kernel;
pub mod metrics;
mod notify;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info, warn};

use crate::config::Config;
use crate::config::incremental::Change;
use crate::config::model::RealServer;
use crate::config::model::{ServiceKind, VirtualServer};
use crate::config::resolve::SystemResolver;
use crate::config::{self, KernelFeatures, Loaded, Severity};
use crate::control::{
    MonitorReport, ReloadReport, Request, Response, ServerHealth, ServiceReport, StatusReport,
    monitor,
};
use crate::ha::HeartbeatHandle;
use crate::health::monitor::{CheckProber, HealthEvent, MonitorSet, Monitors, ServerId, ServiceId};
use crate::health::state::{Desired, Override};
use crate::ipvs::client::IpvsError;
use crate::ipvs::reconcile::{
    DesiredService, DesiredTable, Weights, desired_services_with, desired_table,
    desired_table_with, diff, diff_sync_daemons, diff_timeouts, wants_service,
};
use crate::ipvs::render::Names;
use crate::ipvs::types::{
    DestinationState, Operation, ServiceKey, ServiceState, SyncDaemon, SyncState,
};
pub use kernel::Kernel;

/// How `shoal run` was started.
#[derive(Debug, Clone)]
pub struct Options {
    /// The lvs.cf to run.
    pub lvs_cf: PathBuf,
    /// The control socket to listen on (none: no control socket).
    pub control: Option<PathBuf>,
    /// Log every kernel action instead of doing it.
    pub dry_run: bool,
    /// Be the active node even though lvs.cf names a backup.
    pub force_active: bool,
    /// Program every active real server at its configured weight without checking it.
    pub no_checks: bool,
    /// Manage addresses and failover only; leave the IPVS table alone (for a pair whose
    /// table is programmed by something else, and for failover tests on kernels without
    /// IPVS).
    pub no_ipvs: bool,
    /// shoal.toml.
    pub settings: crate::config::settings::Settings,
}

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// lvs.cf is unreadable or invalid.
    #[error("{0}")]
    Config(String),
    /// The kernel could not be reached.
    #[error(transparent)]
    Kernel(#[from] IpvsError),
    /// The node's role cannot be decided yet.
    #[error("{0}")]
    Role(String),
    /// Signals, the runtime or the control socket failed.
    #[error("{0}")]
    Runtime(String),
}

/// Loads and checks lvs.cf, as `shoal check` does.
fn load(path: &std::path::Path, kernel: &KernelFeatures) -> Result<Loaded, Vec<String>> {
    let shown = path.display().to_string();
    let loaded = config::load_file(path, &SystemResolver::new(), kernel)
        .map_err(|e| vec![format!("cannot read {shown}: {e}")])?;
    if loaded.has_errors() {
        return Err(loaded
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.render(&shown))
            .collect());
    }
    Ok(loaded)
}

fn warnings(loaded: &Loaded, path: &std::path::Path) -> Vec<String> {
    let shown = path.display().to_string();
    loaded
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .map(|d| d.render(&shown))
        .collect()
}

/// The sync daemon the active node runs, from `syncdaemon`, `syncd_iface`, `syncd_id`.
fn desired_sync_daemons(loaded: &Loaded, state: SyncState) -> Vec<SyncDaemon> {
    let g = &loaded.config.global;
    if !g.syncdaemon {
        return Vec::new();
    }
    vec![SyncDaemon {
        state,
        interface: g.syncd_iface.clone(),
        sync_id: g.syncd_id & 0xff,
        max_len: None,
        group: None,
        port: None,
        ttl: None,
    }]
}

struct Supervisor {
    options: Options,
    loaded: Loaded,
    desired: DesiredTable,
    /// Whether the kernel holds exactly `desired` for every service shoal manages: set by
    /// a reconcile that sent everything without a refusal. A reload then reads from the
    /// kernel only the services it changes (shoal is the table's only writer), instead
    /// of listing 10,000 services and their real servers.
    in_sync: bool,
    /// The last hour of each service, for the web UI's charts.
    history: history::History,
    /// The lasting counters of `/metrics`.
    metrics: metrics::Metrics,
    /// The state last counted in `metrics`' transitions.
    counted_state: &'static str,
    kernel: Box<dyn Kernel>,
    /// What the running kernel offers (its scheduler modules), read once at start.
    features: KernelFeatures,
    addresses: addresses::Addresses,
    /// The health monitors deciding the weights; `None` for a dry run or `--no-checks`,
    /// where every active real server is in at its configured weight, and while stopped.
    monitors: Option<Monitors>,
    /// Where the monitors send their events (the supervisor's loop reads them).
    health_tx: mpsc::UnboundedSender<HealthEvent>,
    /// `shoal stop` took the service down (the process stays up for `shoal start`).
    stopped: bool,
    /// Whether this node holds the service (its addresses): always when it has no peer,
    /// as the heartbeat decides when it has one.
    active: bool,
    /// The heartbeat with the peer director; `None` when lvs.cf names none.
    heartbeat: Option<HeartbeatHandle>,
    /// This run starts holding the addresses its previous run left (the heartbeat's
    /// rule 8); consumed by the first start of the service.
    resuming: bool,
    /// `monitor_links`: the last state of each watched link.
    links: HashMap<String, bool>,
    /// This node's role in a pair (`None` without a peer), for the systemd status.
    role: Option<crate::ha::Role>,
    /// systemd's notification socket (a no-op outside systemd).
    notifier: notify::Notifier,
}

/// A destination in the kernel: its service and its (address, port).
type Place = (ServiceKey, (std::net::IpAddr, u16));

/// The monitors' verdict for one pair, as a weight for the table.
fn health_weight(monitors: &Monitors, vs: &VirtualServer, rs: &RealServer) -> Option<u32> {
    let (service, server) = (
        ServiceId::from(vs.name.as_str()),
        ServerId::from(rs.name.as_str()),
    );
    match monitors.desired(&service, &server) {
        Some(Desired::Weight(weight)) => Some(weight),
        _ => None,
    }
}

fn sorry_in(monitors: &Monitors, vs: &VirtualServer) -> bool {
    matches!(
        monitors.sorry(&ServiceId::from(vs.name.as_str())),
        Some(Desired::Weight(_))
    )
}

impl Supervisor {
    /// Runs `f` with the weights that decide the table now: the monitors', or lvs.cf's.
    fn with_weights<R>(&self, f: impl FnOnce(&Config, &Weights) -> R) -> R {
        let config = &self.loaded.config;
        let Some(monitors) = &self.monitors else {
            return f(config, &Weights::CONFIGURED);
        };
        let of = |vs: &VirtualServer, rs: &RealServer| health_weight(monitors, vs, rs);
        let sorry = |vs: &VirtualServer| sorry_in(monitors, vs);
        f(
            config,
            &Weights {
                of: &of,
                sorry: &sorry,
            },
        )
    }

    /// The whole table the configuration and the monitors want.
    fn wanted_table(&self) -> DesiredTable {
        self.with_weights(desired_table_with)
    }

    /// The services some virtual servers (by index) want now.
    fn wanted_services(&self, blocks: std::ops::Range<usize>) -> Vec<DesiredService> {
        self.with_weights(|config, weights| {
            desired_services_with(&config.global, &config.virtual_servers[blocks], weights)
        })
    }

    /// Starts monitoring the whole configuration; real servers the kernel already has
    /// start in the table at the kernel's weight, so a restart of shoal removes nothing.
    fn monitor_all(&self, kernel_table: &[ServiceState]) {
        let Some(monitors) = &self.monitors else {
            return;
        };
        let config = &self.loaded.config;
        let mut set = MonitorSet::from_config(config);
        let programmed: HashMap<Place, u32> = kernel_table
            .iter()
            .flat_map(|s| {
                s.destinations
                    .iter()
                    .map(move |d| ((s.service.key, d.destination.id()), d.destination.weight))
            })
            .collect();
        let configured = desired_table(config);
        let places: HashMap<(&str, &str), Place> = configured
            .services
            .iter()
            .flat_map(|s| {
                s.destinations.iter().map(move |d| {
                    (
                        (s.name.as_str(), d.name.as_str()),
                        (s.service.key, d.destination.id()),
                    )
                })
            })
            .collect();
        for pair in &mut set.pairs {
            let place = places.get(&(&*pair.service.0, &*pair.server.0));
            pair.adopted_weight = place.and_then(|p| programmed.get(p)).copied();
        }
        monitors.update(set);
    }

    /// Applies the monitors' changes: the services they concern are recomputed and only
    /// those are read from the kernel and reconciled.
    fn on_health(&mut self, events: Vec<HealthEvent>) {
        if self.stopped {
            return;
        }
        let names: HashSet<String> = events
            .iter()
            .map(|e| match e {
                HealthEvent::Server { service, .. } | HealthEvent::Sorry { service, .. } => {
                    service.0.to_string()
                }
            })
            .collect();
        let blocks: Vec<usize> = self
            .loaded
            .config
            .virtual_servers
            .iter()
            .enumerate()
            .filter(|(_, vs)| names.contains(&vs.name))
            .map(|(index, _)| index)
            .collect();
        let positions: HashMap<&str, usize> = self
            .desired
            .services
            .iter()
            .enumerate()
            .map(|(i, d)| (d.name.as_str(), i))
            .collect();
        let mut changes = Vec::new();
        for index in blocks {
            let name = &self.loaded.config.virtual_servers[index].name;
            let Some(position) = positions.get(name.as_str()).copied() else {
                continue;
            };
            if let Some(wanted) = self.wanted_services(index..index + 1).pop() {
                changes.push((position, wanted));
            }
        }
        let mut before = Vec::new();
        let mut wanted = Vec::new();
        for (position, service) in changes {
            before.push(std::mem::replace(
                &mut self.desired.services[position],
                service.clone(),
            ));
            wanted.push(service);
        }
        if !wanted.is_empty() {
            self.reconcile_some(&wanted, &before);
        }
    }

    /// Sets an operator override on one pair, or on every pair with that real server.
    fn set_override(&mut self, service: Option<&str>, server: &str, action: Override) -> Response {
        let Some(monitors) = &self.monitors else {
            return Response::Error {
                message: "real servers are not checked now (stopped, or run with --dry-run, --no-checks or --no-ipvs): overrides need the health monitors".into(),
            };
        };
        let pairs: Vec<String> = self
            .loaded
            .config
            .virtual_servers
            .iter()
            .filter(|vs| service.is_none_or(|s| s == vs.name))
            .filter(|vs| vs.servers.iter().any(|rs| rs.name == server))
            .map(|vs| vs.name.clone())
            .collect();
        let mut done = Vec::new();
        for name in pairs {
            let key = (ServiceId::from(name.as_str()), ServerId::from(server));
            if monitors.set_override(&key.0, &key.1, action).is_ok() {
                info!(virtual_server = %name, real_server = %server, "override {action:?} on {name}/{server}");
                done.push(format!("{name}/{server}"));
            }
        }
        if done.is_empty() {
            let within = service.map_or(String::new(), |s| format!(" in virtual server '{s}'"));
            return Response::Error {
                message: format!("no monitored real server '{server}'{within}"),
            };
        }
        Response::Override { pairs: done }
    }

    /// Every monitored pair's health for `status`.
    fn health(&self) -> Vec<ServerHealth> {
        let Some(monitors) = &self.monitors else {
            return Vec::new();
        };
        monitors
            .snapshot()
            .into_iter()
            .map(|pair| ServerHealth {
                service: pair.service.0.to_string(),
                server: pair.server.0.to_string(),
                health: serde_json::to_value(pair.status.health)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                weight: match pair.status.desired {
                    Desired::Weight(w) => Some(w),
                    Desired::Absent => None,
                },
                operator: format!("{:?}", pair.status.operator).to_lowercase(),
                latency_ms: pair.status.last_latency.map(|l| l.as_secs_f64() * 1000.0),
                failures: pair.status.consecutive_failures,
                stalled: pair.status.stalled,
                detail: pair.status.last_detail,
            })
            .collect()
    }

    /// The kernel table as far as the diff needs it: every service's settings from the
    /// kernel, and the destinations of each service whose configuration changed since
    /// `before`, the table the kernel is known to hold (none: read them all).
    fn current_table(
        &mut self,
        before: Option<&DesiredTable>,
    ) -> Result<Vec<ServiceState>, IpvsError> {
        let Some(before) = before else {
            return self.kernel.table();
        };
        let before: HashMap<ServiceKey, &DesiredService> =
            before.services.iter().map(|d| (d.service.key, d)).collect();
        let now: HashMap<ServiceKey, &DesiredService> = self
            .desired
            .services
            .iter()
            .map(|d| (d.service.key, d))
            .collect();
        let mut services = self.kernel.services()?;
        for state in &mut services {
            let key = state.service.key;
            state.destinations = match (before.get(&key), now.get(&key)) {
                (Some(before), Some(now)) if before == now => before
                    .destinations
                    .iter()
                    .map(|d| DestinationState::programmed(d.destination.clone()))
                    .collect(),
                (_, Some(_)) => self.kernel.destinations(&key)?,
                (_, None) => Vec::new(),
            };
        }
        Ok(services)
    }

    /// The kernel's state of the services with these keys, and their destinations.
    fn read_services(&mut self, keys: &[ServiceKey]) -> Result<Vec<ServiceState>, IpvsError> {
        let mut services = Vec::new();
        for key in keys {
            if let Some(mut state) = self.kernel.service(key)? {
                state.destinations = self.kernel.destinations(key)?;
                services.push(state);
            }
        }
        Ok(services)
    }

    /// Everything the kernel must change to match the configuration.
    fn plan(&mut self, before: Option<&DesiredTable>) -> Result<Vec<Operation>, IpvsError> {
        let current = self.current_table(before)?;
        let mut operations = diff(&self.desired, &current);
        if let Some(timeouts) = diff_timeouts(self.desired.timeouts, self.kernel.timeouts()?) {
            operations.push(timeouts);
        }
        let state = self.sync_state();
        let daemons = self.kernel.sync_daemons()?;
        let ours: Vec<SyncDaemon> = daemons.into_iter().filter(|d| d.state == state).collect();
        let wanted = desired_sync_daemons(&self.loaded, state);
        operations.extend(diff_sync_daemons(&wanted, &ours));
        Ok(operations)
    }

    /// Applies a plan, logging every operation; returns the kernel's refusals.
    fn apply(&mut self, operations: &[Operation]) -> Vec<String> {
        let verb = match (self.options.dry_run, self.options.no_ipvs) {
            (true, _) => "would",
            (false, true) => "not sent (--no-ipvs):",
            (false, false) => "ipvs:",
        };
        for operation in operations {
            info!("{verb} {operation}");
        }
        match self.kernel.apply(operations) {
            Ok(()) => {
                self.metrics.count_operations(operations, &[]);
                Vec::new()
            }
            Err(batch) => {
                let failed: Vec<usize> = batch.failures.iter().map(|(i, _)| *i).collect();
                self.metrics.count_operations(operations, &failed);
                batch
                    .failures
                    .iter()
                    .map(|(_, e)| {
                        error!("{e}");
                        e.to_string()
                    })
                    .collect()
            }
        }
    }

    /// Brings the whole kernel table to `desired`; `before` is what the kernel is known
    /// to hold, when it is known.
    fn reconcile(&mut self, before: Option<&DesiredTable>) -> (Vec<Operation>, Vec<String>) {
        match self.plan(before) {
            Ok(operations) => {
                let errors = self.apply(&operations);
                self.in_sync = errors.is_empty() && !self.options.dry_run;
                (operations, errors)
            }
            Err(e) => {
                self.in_sync = false;
                error!("cannot read the kernel table: {e}");
                (Vec::new(), vec![e.to_string()])
            }
        }
    }

    /// Brings the services of some blocks from `before` to `wanted`, reading from the
    /// kernel those services alone.
    fn reconcile_some(
        &mut self,
        wanted: &[DesiredService],
        before: &[DesiredService],
    ) -> (Vec<Operation>, Vec<String>) {
        let mut seen = HashSet::new();
        let keys: Vec<ServiceKey> = before
            .iter()
            .chain(wanted)
            .map(|d| d.service.key)
            .filter(|k| seen.insert(*k))
            .collect();
        let current = match self.read_services(&keys) {
            Ok(current) => current,
            Err(e) => {
                self.in_sync = false;
                error!("cannot read the kernel table: {e}");
                return (Vec::new(), vec![e.to_string()]);
            }
        };
        let table = DesiredTable {
            services: wanted.to_vec(),
            timeouts: self.desired.timeouts,
        };
        let operations = diff(&table, &current);
        let errors = self.apply(&operations);
        self.in_sync &= errors.is_empty();
        (operations, errors)
    }

    /// Applies a reload that replaced the virtual servers `removed` at `at` with `added`
    /// new ones; `None` when the running table cannot be patched in place (then the
    /// whole table is compared).
    fn reload_blocks(
        &mut self,
        at: usize,
        removed: &[VirtualServer],
        added: usize,
    ) -> Option<(Vec<Operation>, Vec<String>, bool)> {
        let config = &self.loaded.config;
        if !self.in_sync || config.global.service == ServiceKind::Fos {
            return None;
        }
        let replaced = at..at + added;
        let position = config.virtual_servers[..at]
            .iter()
            .filter(|vs| wants_service(vs))
            .count();
        let old = position..position + removed.iter().filter(|vs| wants_service(vs)).count();
        if old.end > self.desired.services.len() {
            return None;
        }
        if let Some(monitors) = &self.monitors {
            let removed_ids: Vec<ServiceId> = removed
                .iter()
                .map(|vs| ServiceId::from(vs.name.as_str()))
                .collect();
            let set = MonitorSet::of_virtual_servers(
                &config.virtual_servers[replaced.clone()],
                &config.global.rsh_command,
            );
            monitors.update_services(&removed_ids, set);
        }
        let wanted = self.wanted_services(replaced.clone());
        let config = &self.loaded.config;
        let vips_changed =
            !addresses::vips(removed).eq(addresses::vips(&config.virtual_servers[replaced]));
        let before: Vec<DesiredService> = self
            .desired
            .services
            .splice(old, wanted.iter().cloned())
            .collect();
        let (operations, errors) = self.reconcile_some(&wanted, &before);
        Some((operations, errors, vips_changed))
    }

    fn garp(&self) -> (u32, std::time::Duration) {
        let g = &self.loaded.config.global;
        (g.garp_count, g.garp_interval)
    }

    /// Holds the configuration's VIPs and NAT router address, and announces them.
    async fn plumb(&mut self, announce_all: bool) -> Vec<String> {
        let wanted = addresses::wanted(&self.loaded.config);
        let garp = self.garp();
        self.addresses.converge(&wanted, announce_all, garp).await
    }

    fn refuse_reload(&self, errors: Vec<String>) -> ReloadReport {
        for e in &errors {
            error!("{e}");
        }
        warn!("the new lvs.cf is invalid: the running configuration is kept");
        ReloadReport {
            applied: false,
            serial_no: self.loaded.config.global.serial_no,
            operations: Vec::new(),
            errors,
            warnings: Vec::new(),
        }
    }

    /// Re-reads lvs.cf and applies the difference, telling systemd it is reloading
    /// meanwhile (`systemctl reload` waits for the `READY=1` that ends it).
    async fn reload(&mut self) -> ReloadReport {
        self.notifier.reloading();
        let report = self.reload_file().await;
        let status = self.status_line();
        self.notifier.ready(&status);
        report
    }

    /// The line systemd shows in `systemctl status`: state, role, virtual servers and
    /// the real servers in service (checked up, or at their configured weight when
    /// nothing checks them).
    fn status_line(&self) -> String {
        let mut virtual_servers = 0;
        let mut real_servers = 0;
        let mut up = 0;
        let config = &self.loaded.config;
        for vs in config.virtual_servers.iter().filter(|vs| wants_service(vs)) {
            virtual_servers += 1;
            for rs in vs.servers.iter().filter(|rs| rs.active) {
                real_servers += 1;
                let serving = match &self.monitors {
                    _ if self.stopped => false,
                    Some(monitors) => health_weight(monitors, vs, rs).is_some_and(|w| w > 0),
                    None => rs.weight > 0,
                };
                up += usize::from(serving);
            }
        }
        notify::status_line(
            self.state(),
            self.role,
            self.options.dry_run,
            virtual_servers,
            up,
            real_servers,
        )
    }

    /// Re-reads lvs.cf and applies the difference. An edit of some virtual servers is
    /// re-read, checked and applied for those blocks alone; a file unchanged since the
    /// last reload makes the whole kernel table be compared again (repairing edits made
    /// by hand with ipvsadm).
    async fn reload_file(&mut self) -> ReloadReport {
        info!("reloading {}", self.options.lvs_cf.display());
        let started = std::time::Instant::now();
        let shown = self.options.lvs_cf.display().to_string();
        let bytes = match std::fs::read(&self.options.lvs_cf) {
            Ok(bytes) => bytes,
            Err(e) => return self.refuse_reload(vec![format!("cannot read {shown}: {e}")]),
        };
        let change = match self
            .loaded
            .update(bytes, &SystemResolver::new(), &self.features)
        {
            Ok(change) => change,
            Err(refused) => {
                let errors = refused
                    .diagnostics
                    .iter()
                    .filter(|d| d.is_error())
                    .map(|d| d.render(&shown))
                    .collect();
                return self.refuse_reload(errors);
            }
        };
        let warnings = warnings(&self.loaded, &self.options.lvs_cf);
        let checked = started.elapsed();
        if self.stopped {
            info!("reload while stopped: lvs.cf read, applied at the next start");
            return ReloadReport {
                applied: true,
                serial_no: self.loaded.config.global.serial_no,
                operations: Vec::new(),
                errors: Vec::new(),
                warnings,
            };
        }
        let patched = match &change {
            Change::Virtual { at, removed, added } => self.reload_blocks(*at, removed, *added),
            _ => None,
        };
        let (operations, mut errors, vips_changed) = match patched {
            Some(patched) => patched,
            None => {
                if let Some(monitors) = &self.monitors {
                    monitors.update(MonitorSet::from_config(&self.loaded.config));
                }
                let wanted = self.wanted_table();
                let before = std::mem::replace(&mut self.desired, wanted);
                let known = match change {
                    Change::Unchanged => None,
                    _ => self.in_sync.then_some(&before),
                };
                let (operations, errors) = self.reconcile(known);
                (operations, errors, true)
            }
        };
        if vips_changed && self.active {
            errors.extend(self.plumb(false).await);
        }
        if let Some(heartbeat) = &self.heartbeat {
            let g = &self.loaded.config.global;
            heartbeat.set_config(g.serial_no, crate::ha::ConfigHash::of(&self.loaded.source));
            if vips_changed {
                heartbeat.set_witness(failover::witness(&self.loaded.config));
            }
        }
        info!(
            "reload done: {} operations, serial_no {}, in {:.1} ms ({:.1} ms reading and checking lvs.cf, {})",
            operations.len(),
            self.loaded.config.global.serial_no,
            started.elapsed().as_secs_f64() * 1000.0,
            checked.as_secs_f64() * 1000.0,
            match change {
                Change::Unchanged => "unchanged: whole table compared",
                Change::Virtual { .. } => "virtual servers re-read",
                Change::Whole => "whole file re-read",
            }
        );
        ReloadReport {
            applied: true,
            serial_no: self.loaded.config.global.serial_no,
            operations,
            errors,
            warnings,
        }
    }

    /// The lvs.cf names of each kernel service and its real servers, for `status`.
    fn names(&self, services: &[ServiceState]) -> Vec<Names> {
        let desired: HashMap<ServiceKey, &DesiredService> = self
            .desired
            .services
            .iter()
            .map(|d| (d.service.key, d))
            .collect();
        services
            .iter()
            .map(|state| {
                let Some(desired) = desired.get(&state.service.key) else {
                    return Names::default();
                };
                Names {
                    service: Some(desired.name.clone()),
                    servers: server_names(desired, state),
                }
            })
            .collect()
    }

    /// The kernel table, or none and why it could not be read.
    fn table_or_error(&mut self) -> (Vec<ServiceState>, Option<String>) {
        match self.kernel.table() {
            Ok(services) => (services, None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        }
    }

    /// The heartbeat's view for `status` and `monitor`; `None` without a peer.
    fn failover_view(&self) -> Option<serde_json::Value> {
        self.heartbeat
            .as_ref()
            .and_then(|h| serde_json::to_value(h.snapshot()).ok())
    }

    fn status(&mut self) -> StatusReport {
        let (services, kernel_error) = self.table_or_error();
        StatusReport {
            state: self.state().into(),
            dry_run: self.options.dry_run,
            lvs_cf: self.options.lvs_cf.clone(),
            serial_no: self.loaded.config.global.serial_no,
            info: self.kernel.info().ok(),
            names: self.names(&services),
            services,
            kernel_error,
            health: self.health(),
            failover: self.failover_view(),
        }
    }

    /// What CONTROL/MONITORING draws: the table joined with its names, health and hour.
    fn monitor(&mut self) -> MonitorReport {
        let (table, kernel_error) = self.table_or_error();
        let names = self.names(&table);
        let health = self.health();
        let history = &self.history;
        let services =
            monitor::services(&table, names, &health, &|s| history.points(&s.service.key));
        MonitorReport {
            state: self.state().into(),
            dry_run: self.options.dry_run,
            serial_no: self.loaded.config.global.serial_no,
            kernel_error,
            failover: self.failover_view(),
            services,
        }
    }

    /// Brings the service up, as at start: `active_cmd`, the monitors (real servers the
    /// kernel already has keep their weights), the IPVS table, the addresses.
    async fn start_service(&mut self) -> ServiceReport {
        self.stopped = false;
        let checked = !self.options.dry_run && !self.options.no_checks && !self.options.no_ipvs;
        let tcp_connect = self.options.settings.health.tcp_connect;
        self.monitors = checked.then(|| {
            Monitors::with_observer(
                CheckProber::new(tcp_connect),
                self.health_tx.clone(),
                self.metrics.latency_observer(),
            )
        });
        match self.kernel.table() {
            Ok(table) => self.monitor_all(&table),
            Err(e) => {
                warn!("cannot read the kernel table to adopt it: {e}");
                self.monitor_all(&[]);
            }
        }
        self.desired = self.wanted_table();
        let (operations, mut errors) = self.reconcile(None);
        match &self.heartbeat {
            // The heartbeat decides when to take the service (an Activate event); until
            // then the node holds none of its addresses.
            Some(heartbeat) => {
                heartbeat.set_stopped(false);
                let wanted = addresses::wanted(&self.loaded.config);
                if std::mem::take(&mut self.resuming) {
                    // The kernel has served on them since the last run ended; the
                    // heartbeat decides whether this node goes on (rule 8).
                    self.addresses.adopt(&wanted);
                } else {
                    errors.extend(self.addresses.remove_stale(&wanted).await);
                }
            }
            None => errors.extend(self.activate().await),
        }
        info!(
            "ready: {} operations at start, {} errors",
            operations.len(),
            errors.len()
        );
        self.service_report(operations.len(), errors)
    }

    /// Takes the service down: removes what this configuration put in the kernel (its
    /// services and its sync daemon; services it does not own stay), the addresses it
    /// added, stops the checks, runs `inactive_cmd`.
    async fn stop_service(&mut self) -> ServiceReport {
        let owned: HashSet<ServiceKey> = self
            .desired
            .services
            .iter()
            .map(|d| d.service.key)
            .collect();
        let present = self.kernel.services().unwrap_or_default();
        let mut operations: Vec<Operation> = present
            .iter()
            .map(|s| s.service.key)
            .filter(|k| owned.contains(k))
            .map(Operation::DelService)
            .collect();
        if self.loaded.config.global.syncdaemon {
            operations.push(Operation::DelSyncDaemon(self.sync_state()));
        }
        if let Some(heartbeat) = &self.heartbeat {
            // The peer hears "stopped" and takes over at once.
            heartbeat.set_stopped(true);
        }
        let mut errors = self.apply(&operations);
        errors.extend(self.addresses.release().await);
        self.active = false;
        self.monitors = None;
        self.desired = DesiredTable::default();
        self.in_sync = false;
        self.stopped = true;
        let g = &self.loaded.config.global;
        addresses::run_command(
            "inactive_cmd",
            g.inactive_cmd.as_deref(),
            self.options.dry_run,
        );
        info!(
            "stopped: {} operations, {} errors",
            operations.len(),
            errors.len()
        );
        self.service_report(operations.len(), errors)
    }

    fn service_report(&self, operations: usize, errors: Vec<String>) -> ServiceReport {
        ServiceReport {
            state: self.state().into(),
            operations,
            errors,
        }
    }

    fn state(&self) -> &'static str {
        match (self.stopped, self.active) {
            (true, _) => "stopped",
            (false, true) => "active",
            (false, false) => "inactive",
        }
    }

    async fn handle(&mut self, request: Request) -> Response {
        match request {
            Request::Status => Response::Status(Box::new(self.status())),
            Request::Reload => Response::Reload(self.reload().await),
            Request::Override {
                service,
                server,
                action,
            } => self.set_override(service.as_deref(), &server, action),
            Request::Start if !self.stopped => Response::Error {
                message: "already running: use restart to stop and start again".into(),
            },
            Request::Start => Response::Service(self.start_service().await),
            Request::Stop if self.stopped => Response::Error {
                message: "already stopped".into(),
            },
            Request::Stop => Response::Service(self.stop_service().await),
            Request::Restart => {
                if !self.stopped {
                    self.stop_service().await;
                }
                Response::Service(self.start_service().await)
            }
            Request::History => Response::History {
                services: self.history.snapshot(),
            },
            Request::Monitor => Response::Monitor(Box::new(self.monitor())),
            Request::Metrics => Response::Metrics {
                text: self.metrics_text(),
            },
            // Served by `push` without holding up the supervisor.
            Request::Push => Response::Error {
                message: "push is answered by the push task".into(),
            },
        }
    }

    /// One scrape of `/metrics`.
    fn metrics_text(&mut self) -> String {
        let status = self.status();
        let failover = self.heartbeat.as_ref().map(|h| h.snapshot());
        let configured: HashMap<(String, String), i64> = self
            .loaded
            .config
            .virtual_servers
            .iter()
            .flat_map(|vs| {
                vs.servers
                    .iter()
                    .map(|rs| ((vs.name.clone(), rs.name.clone()), rs.weight))
            })
            .collect();
        self.metrics.render(&metrics::Scrape {
            status: &status,
            failover: failover.as_ref(),
            configured: &configured,
        })
    }

    /// Counts a change of state (active, inactive, stopped) in the metrics.
    fn count_state(&mut self) {
        let now = self.state();
        if now != self.counted_state {
            self.metrics.count_transition(now);
            self.counted_state = now;
        }
    }

    /// Adds a sample of the kernel table to the charts' history.
    fn sample(&mut self) {
        if let Ok(table) = self.kernel.table() {
            let names = self.names(&table);
            self.history.record(unix_seconds(), &table, &names);
        }
    }

    /// Starts pushing the running lvs.cf to the peer; the answer comes when the peer's
    /// does (up to the timeout), while the supervisor goes on.
    fn push(&self, reply: oneshot::Sender<Response>) {
        let target = failover::push_target(&self.loaded, &self.options.settings);
        let (to, key) = match target {
            Ok(target) => target,
            Err(message) => {
                let _ = reply.send(Response::Error { message });
                return;
            }
        };
        let serial = self.loaded.config.global.serial_no;
        let content = self.loaded.source.clone();
        tokio::spawn(async move {
            let pushed = crate::ha::sync::push(to, &key, serial, &content, PUSH_TIMEOUT).await;
            let response = match pushed {
                Ok(answer) => Response::Pushed {
                    to: to.to_string(),
                    applied: answer.applied,
                    message: answer.line,
                },
                Err(e) => Response::Error {
                    message: e.to_string(),
                },
            };
            info!("sync push to {to}: {response:?}");
            let _ = reply.send(response);
        });
    }
}

/// Services with at most this many real servers find each name by comparing addresses,
/// which is quicker than hashing them into a map: building a map per service was a
/// seventh of a `monitor` answer for 1,000 x 10 servers.
const NAMES_BY_SCAN: usize = 32;

/// The lvs.cf name of each of `state`'s destinations, from the service it was made from.
fn server_names(desired: &DesiredService, state: &ServiceState) -> Vec<Option<String>> {
    let wanted = &desired.destinations;
    if wanted.len() <= NAMES_BY_SCAN {
        return state
            .destinations
            .iter()
            .map(|d| {
                let id = d.destination.id();
                // The last of equal addresses, as the map below keeps.
                wanted
                    .iter()
                    .rev()
                    .find(|w| w.destination.id() == id)
                    .map(|w| w.name.clone())
            })
            .collect();
    }
    let by_id: HashMap<_, &str> = wanted
        .iter()
        .map(|w| (w.destination.id(), w.name.as_str()))
        .collect();
    state
        .destinations
        .iter()
        .map(|d| by_id.get(&d.destination.id()).map(|n| n.to_string()))
        .collect()
}

/// The next lvs.cf pushed by the peer, or never without a peer.
async fn next_push(
    pushes: &mut Option<mpsc::Receiver<crate::ha::sync::PushReceipt>>,
) -> Option<crate::ha::sync::PushReceipt> {
    match pushes {
        Some(pushes) => pushes.recv().await,
        None => std::future::pending().await,
    }
}

/// The next failover event (or link change), or never when there is no such source.
async fn next_failover<T>(events: &mut Option<mpsc::UnboundedReceiver<T>>) -> Option<T> {
    match events {
        Some(events) => events.recv().await,
        None => std::future::pending().await,
    }
}

/// A control request and where its answer goes.
pub type Event = (Request, oneshot::Sender<Response>);

fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// How long a push asked for over the control socket may take, per step.
const PUSH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Accepts control connections and forwards each request to the supervisor.
async fn serve_control(listener: UnixListener, events: mpsc::Sender<Event>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let events = events.clone();
        tokio::spawn(async move {
            if let Err(e) = answer(stream, events).await {
                warn!("control connection: {e}");
            }
        });
    }
}

async fn answer(stream: UnixStream, events: mpsc::Sender<Event>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    BufReader::new(read).read_line(&mut line).await?;
    let response = match serde_json::from_str::<Request>(&line) {
        Ok(request) => {
            let (reply, answer) = oneshot::channel();
            if events.send((request, reply)).await.is_err() {
                Response::Error {
                    message: "the daemon is stopping".into(),
                }
            } else {
                answer.await.unwrap_or(Response::Error {
                    message: "no answer".into(),
                })
            }
        }
        Err(e) => Response::Error {
            message: format!("{}: {e}", crate::control::UNREADABLE_REQUEST),
        },
    };
    let mut text = serde_json::to_string(&response)
        .unwrap_or_else(|e| format!(r#"{{"result":"error","message":"{e}"}}"#));
    text.push('\n');
    write.write_all(text.as_bytes()).await
}

/// Serves `/metrics` on `[metrics] listen`; a busy or forbidden address is reported and
/// the daemon runs on without metrics (the load balancer matters more than its graphs).
async fn metrics_listener(options: &Options, events: mpsc::Sender<Event>) {
    let address = options.settings.metrics.listen;
    match tokio::net::TcpListener::bind(address).await {
        Ok(listener) => {
            let shown = listener.local_addr().map_or(address, |a| a);
            info!("metrics on http://{shown}/metrics");
            tokio::spawn(metrics::serve(listener, events));
        }
        Err(e) => warn!("metrics: cannot listen on {address}: {e}; running without /metrics"),
    }
}

fn bind_control(path: &std::path::Path) -> Result<UnixListener, DaemonError> {
    let fail =
        |e: std::io::Error| DaemonError::Runtime(format!("control socket {}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(DaemonError::Runtime(format!(
                "another shoal daemon is listening on {}",
                path.display()
            )));
        }
        std::fs::remove_file(path).map_err(fail)?;
    }
    let listener = UnixListener::bind(path).map_err(fail)?;
    share_with_group(path, CONTROL_GROUP);
    Ok(listener)
}

/// The group whose members may use the control socket: `shoal web` runs as its own
/// unprivileged user in it (systemd/shoal-web.service, the Debian package).
const CONTROL_GROUP: &str = "shoal";

/// Gives the control socket to `group`, read and write for it (mode 0660), when that
/// group exists; otherwise only its owner (root) may connect. A failure is reported and
/// the daemon runs on: `shoal web` then cannot reach it, the load balancer still works.
fn share_with_group(path: &std::path::Path, group: &str) {
    use std::os::unix::fs::PermissionsExt;
    let Some(gid) = group_id(group) else {
        return;
    };
    let shared = std::os::unix::fs::chown(path, None, Some(gid))
        .and_then(|()| std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)));
    match shared {
        Ok(()) => info!("control socket {} open to group {group}", path.display()),
        Err(e) => warn!(
            "cannot give the control socket {} to group {group}: {e}; only its owner can use it",
            path.display()
        ),
    }
}

/// The id of the group `name` as the system's name service knows it.
fn group_id(name: &str) -> Option<u32> {
    let name = std::ffi::CString::new(name).ok()?;
    let mut buffer = vec![0 as libc::c_char; 4096];
    loop {
        // SAFETY: every pointer points into memory owned here and alive for the call;
        // getgrnam_r writes the entry's strings into `buffer`, of the length given.
        let mut group: libc::group = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::group = std::ptr::null_mut();
        let rc = unsafe {
            libc::getgrnam_r(
                name.as_ptr(),
                &mut group,
                buffer.as_mut_ptr(),
                buffer.len(),
                &mut found,
            )
        };
        if rc == libc::ERANGE && buffer.len() < 1 << 20 {
            buffer.resize(buffer.len() * 2, 0);
            continue;
        }
        return (rc == 0 && !found.is_null()).then_some(group.gr_gid);
    }
}

/// Runs the daemon until SIGTERM or SIGINT.
pub fn run(options: Options) -> Result<(), DaemonError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| DaemonError::Runtime(e.to_string()))?;
    runtime.block_on(run_async(options))
}

async fn run_async(options: Options) -> Result<(), DaemonError> {
    let features = KernelFeatures::detect();
    let loaded = load(&options.lvs_cf, &features)
        .map_err(|errors| DaemonError::Config(errors.join("\n")))?;
    for w in warnings(&loaded, &options.lvs_cf) {
        warn!("{w}");
    }
    let heartbeat_config = failover::heartbeat_config(&loaded, &options)?;
    let kernel = kernel::open(options.dry_run, options.no_ipvs)?;
    let (health_tx, mut health_events) = mpsc::unbounded_channel::<HealthEvent>();
    let mut supervisor = Supervisor {
        desired: DesiredTable::default(),
        monitors: None,
        health_tx,
        stopped: true,
        active: false,
        heartbeat: None,
        resuming: false,
        links: HashMap::new(),
        role: None,
        notifier: notify::Notifier::from_env(),
        in_sync: false,
        history: history::History::default(),
        metrics: metrics::Metrics::default(),
        counted_state: "stopped",
        features,
        addresses: addresses::Addresses::new(options.dry_run).map_err(DaemonError::Runtime)?,
        loaded,
        kernel,
        options: options.clone(),
    };
    info!(
        "starting with {} (serial_no {}), {} virtual servers{}",
        options.lvs_cf.display(),
        supervisor.loaded.config.global.serial_no,
        supervisor.loaded.config.virtual_servers.len(),
        if options.dry_run {
            ", dry run: nothing is changed"
        } else {
            ""
        }
    );
    let mut failover_events = None;
    let mut link_changes = None;
    let mut pushes = None;
    if let Some(config) = heartbeat_config {
        let role = config.role;
        link_changes = failover::watch_monitored_links(&supervisor.loaded, &config).await?;
        pushes = Some(failover::serve_pushes(&options, &supervisor.features, &config).await?);
        supervisor.resuming = config.resume;
        let witness = failover::witness(&supervisor.loaded.config);
        let (handle, events) = crate::ha::heartbeat::spawn_with_witness(config, witness)
            .map_err(|e| DaemonError::Role(e.to_string()))?;
        supervisor.role = Some(role);
        supervisor.heartbeat = Some(handle);
        failover_events = Some(events);
    }
    supervisor.start_service().await;

    let (events_tx, mut events) = mpsc::channel::<Event>(16);
    metrics_listener(&options, events_tx.clone()).await;
    if let Some(path) = &options.control {
        let listener = bind_control(path)?;
        info!("control socket {}", path.display());
        tokio::spawn(serve_control(listener, events_tx.clone()));
    }
    let signal_error = |e: std::io::Error| DaemonError::Runtime(format!("signal handler: {e}"));
    let mut hangup = signal(SignalKind::hangup()).map_err(signal_error)?;
    let mut terminate = signal(SignalKind::terminate()).map_err(signal_error)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(signal_error)?;
    let mut samples = tokio::time::interval(history::SAMPLE_EVERY);
    samples.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut watchdog = supervisor.notifier.ping_every().map(|every| {
        info!("systemd watchdog: pinging every {every:?}");
        let mut timer = tokio::time::interval(every);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        timer
    });
    // The first reconcile is done and the control socket listens: systemd may start
    // what comes after shoal (shoal-web, `systemctl reload`).
    let status = supervisor.status_line();
    supervisor.notifier.ready(&status);
    loop {
        tokio::select! {
            _ = hangup.recv() => { supervisor.reload().await; }
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
            Some((request, reply)) = events.recv() => {
                supervisor.metrics.count_request(request.command());
                match request {
                    Request::Push => supervisor.push(reply),
                    request => { let _ = reply.send(supervisor.handle(request).await); }
                }
            }
            _ = samples.tick() => supervisor.sample(),
            // From this loop, so a supervisor stuck in an event misses its pings.
            _ = notify::next_ping(&mut watchdog) => {
                supervisor.notifier.ping();
                continue;
            }
            Some(event) = next_failover(&mut failover_events) => supervisor.on_failover(event).await,
            Some(change) = next_failover(&mut link_changes) => supervisor.on_link(change),
            Some(receipt) = next_push(&mut pushes) => {
                info!(
                    "lvs.cf serial_no {} pushed by {} (was {:?}): reloading",
                    receipt.serial_no, receipt.from, receipt.previous_serial_no
                );
                supervisor.reload().await;
            }
            Some(event) = health_events.recv() => {
                let mut batch = vec![event];
                while let Ok(more) = health_events.try_recv() {
                    batch.push(more);
                }
                supervisor.on_health(batch);
            }
        }
        supervisor.count_state();
        if supervisor.notifier.enabled() {
            let status = supervisor.status_line();
            supervisor.notifier.status(&status);
        }
    }
    supervisor.notifier.stopping();
    info!(
        "stopping: removing the services of {}",
        options.lvs_cf.display()
    );
    if let Some(heartbeat) = supervisor.heartbeat.take() {
        // The peer hears "stopped" before this node lets go of anything.
        heartbeat.shutdown().await;
    }
    if !supervisor.stopped {
        supervisor.stop_service().await;
    }
    if let Some(path) = &options.control {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    use super::*;

    #[test]
    fn groups_are_found_by_name() {
        assert_eq!(group_id("root"), Some(0));
        assert_eq!(group_id("no-such-group-for-shoal"), None);
    }

    #[test]
    fn the_control_socket_is_shared_with_an_existing_group_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).unwrap();

        share_with_group(&path, "no-such-group-for-shoal");
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o700);

        // The test's own group: a chown to it needs no privilege.
        let gid = unsafe { libc::getegid() };
        let name = unsafe { std::ffi::CStr::from_ptr((*libc::getgrgid(gid)).gr_name) }
            .to_string_lossy()
            .to_string();
        share_with_group(&path, &name);
        let metadata = std::fs::metadata(&path).unwrap();
        assert_eq!(metadata.mode() & 0o777, 0o660);
        assert_eq!(metadata.gid(), gid);
    }
}
