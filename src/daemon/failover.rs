//! The supervisor's side of high availability: deciding whether this node runs with a
//! peer, starting the heartbeat, and taking or giving up the service when it says so.
//!
//! Warm standby (SPEC 6.4): the inactive node keeps its IPVS services programmed and its
//! health checks running, and runs the sync daemon as backup, so taking over is adding the
//! addresses, announcing them, `active_cmd` and the sync daemon master.

use tracing::{info, warn};

use super::{DaemonError, Options, Supervisor, addresses};
use crate::config::Loaded;
use crate::config::model::Config;
use crate::config::settings::{HeartbeatProtocol, Settings};
use crate::ha::{
    self, Auth, ConfigHash, HaEvent, HeartbeatConfig, HeartbeatKey, Protocol, Witness, decide_role,
};
use crate::ipvs::types::{Operation, SyncState};
use crate::net::link::{LinkChange, watch_links};
use crate::net::witness::{ArpWitness, ProbeTarget};

/// Whether lvs.cf names a peer to heartbeat with: `backup_active = 1` and a backup.
pub fn has_peer(loaded: &Loaded) -> bool {
    let g = &loaded.config.global;
    g.backup_active && g.backup_address().is_some()
}

fn protocol(settings: &Settings) -> Protocol {
    match settings.heartbeat.protocol {
        HeartbeatProtocol::Shoal => Protocol::Shoal,
        HeartbeatProtocol::Pulse => Protocol::Pulse,
    }
}

/// The pair's key from shoal.toml's `key_file`: `None` when there is no such file, an
/// error when it cannot be used (unreadable, too short, readable by others).
fn load_key(settings: &Settings) -> Result<Option<HeartbeatKey>, DaemonError> {
    let path = &settings.heartbeat.key_file;
    if !path.exists() {
        return Ok(None);
    }
    HeartbeatKey::from_file(path)
        .map(Some)
        .map_err(|e| DaemonError::Role(e.to_string()))
}

/// Where and with which key this node pushes its lvs.cf (SPEC 6.7): the other
/// director's public address on `heartbeat_port`, authenticated by the pair's key.
pub fn push_target(
    loaded: &Loaded,
    settings: &Settings,
) -> Result<(std::net::SocketAddr, HeartbeatKey), String> {
    let global = &loaded.config.global;
    if !has_peer(loaded) {
        return Err("lvs.cf names no active backup director to sync with".into());
    }
    let local = crate::ha::local_addresses()
        .map_err(|e| format!("cannot list this node's addresses: {e}"))?;
    let peer = crate::ha::peer_address(global, &local)?;
    let key = load_key(settings)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| {
            format!(
                "no peer key at {}: a push must be authenticated",
                settings.heartbeat.key_file.display()
            )
        })?;
    Ok((std::net::SocketAddr::new(peer, global.heartbeat_port), key))
}

/// The heartbeats' authentication; without a key they are not authenticated and the
/// daemon says so loudly (anyone on the network could then pose as the peer).
fn auth(settings: &Settings) -> Result<Auth, DaemonError> {
    let path = &settings.heartbeat.key_file;
    let key = load_key(settings)?;
    if key.is_none() {
        warn!(
            "no heartbeat key at {}: heartbeats are NOT authenticated and any host on the network can pretend to be the peer director; create one on both directors with `head -c 32 /dev/urandom > {} && chmod 600 {}`",
            path.display(),
            path.display(),
            path.display()
        );
    }
    Ok(key.map_or(Auth::None, Auth::Key))
}

/// The heartbeat for this node, or `None` when lvs.cf names no peer (always active).
pub fn heartbeat_config(
    loaded: &Loaded,
    options: &Options,
) -> Result<Option<HeartbeatConfig>, DaemonError> {
    if !has_peer(loaded) {
        return Ok(None);
    }
    if options.dry_run {
        info!("dry run: no heartbeat with the peer, planned as the active director");
        return Ok(None);
    }
    let global = &loaded.config.global;
    let local = ha::local_addresses()
        .map_err(|e| DaemonError::Role(format!("cannot list this node's addresses: {e}")))?;
    let role = match decide_role(global, &local) {
        Ok(role) => role,
        Err(e) if options.force_active => {
            warn!("{e}; --force-active: running as the only, active director, without a heartbeat");
            return Ok(None);
        }
        Err(e) => return Err(DaemonError::Role(e.to_string())),
    };
    let protocol = protocol(&options.settings);
    let auth = match protocol {
        Protocol::Shoal => auth(&options.settings)?,
        Protocol::Pulse => Auth::None,
    };
    let mut config = HeartbeatConfig::from_global(global, role, protocol, auth, &loaded.source)
        .map_err(|e| DaemonError::Role(e.to_string()))?;
    config.force_active = options.force_active;
    config.restart_grace = std::time::Duration::from_secs(options.settings.heartbeat.restart_grace);
    config.resume = left_serving(&loaded.config);
    if config.resume {
        warn!(
            "this node holds every address of the service already (its last run ended while it was active): keeping them while it hears whether the peer stands by"
        );
    }
    info!(
        "{role} director; heartbeat ({protocol:?}) to {} every {:?}, peer dead after {:?}",
        config.peer.public, config.keepalive, config.deadtime
    );
    Ok(Some(config))
}

/// Whether this node holds every floating address the configuration wants (at least
/// one): its previous run ended while it held the service, and its kernel has been
/// serving since. A node that gave the service up cleanly holds none.
fn left_serving(config: &Config) -> bool {
    let wanted = addresses::wanted(config);
    let Ok(present) = ha::local_interfaces() else {
        return false;
    };
    !wanted.is_empty()
        && wanted.iter().all(|f| {
            present.iter().any(|p| {
                p.address == f.address && crate::net::garp::base_device(&p.interface) == f.link()
            })
        })
}

/// What the heartbeat asks when the active peer falls silent: do its IPv4 addresses
/// still answer ARP? (`None` when the configuration has no IPv4 address to ask for: a
/// silent peer is then taken over at `deadtime`.)
pub fn witness(config: &Config) -> Option<Box<dyn Witness>> {
    let targets: Vec<ProbeTarget> = addresses::wanted(config)
        .iter()
        .filter_map(|f| match f.address {
            std::net::IpAddr::V4(address) => Some(ProbeTarget {
                device: f.link().to_string(),
                address,
            }),
            std::net::IpAddr::V6(_) => None,
        })
        .collect();
    if targets.is_empty() {
        info!("no IPv4 floating address: a silent peer is taken over at deadtime");
        return None;
    }
    Some(Box::new(ArpProbes {
        witness: ArpWitness::new(targets),
        warned: false,
    }))
}

/// [`ArpWitness`] as the heartbeat's [`Witness`], warning once when it cannot probe.
struct ArpProbes {
    witness: ArpWitness,
    warned: bool,
}

impl Witness for ArpProbes {
    fn probe(&mut self) {
        let errors = self.witness.probe();
        if let Some(e) = errors.first()
            && !std::mem::replace(&mut self.warned, true)
        {
            warn!(
                "cannot probe the peer's addresses ({e}): a silent peer is taken over at deadtime"
            );
        }
    }

    fn answered_since(&mut self, since: tokio::time::Instant) -> bool {
        self.witness.collect();
        self.witness.all_answered_since(since.into_std())
    }

    fn rest(&mut self) {
        self.witness.rest();
    }

    fn describe(&self) -> String {
        let targets: Vec<String> = self
            .witness
            .targets()
            .iter()
            .map(|t| t.to_string())
            .collect();
        targets.join(", ")
    }
}

/// `monitor_links = 1`: the devices that carry this node's public and private addresses,
/// watched; `None` when links are not monitored.
pub async fn watch_monitored_links(
    loaded: &Loaded,
    config: &HeartbeatConfig,
) -> Result<Option<tokio::sync::mpsc::UnboundedReceiver<LinkChange>>, DaemonError> {
    if !loaded.config.global.monitor_links {
        return Ok(None);
    }
    let mut devices = Vec::new();
    for address in [Some(config.local.public), config.local.private]
        .into_iter()
        .flatten()
    {
        let device = ha::interface_of(address)
            .map_err(|e| DaemonError::Role(format!("cannot list this node's addresses: {e}")))?
            .ok_or_else(|| DaemonError::Role(format!("no interface holds {address}")))?;
        if !devices.contains(&device) {
            devices.push(device);
        }
    }
    info!("monitor_links: watching {}", devices.join(", "));
    watch_links(devices)
        .await
        .map(Some)
        .map_err(|e| DaemonError::Role(format!("monitor_links: {e}")))
}

/// Listens for `shoal sync push` from the peer on the heartbeat port (TCP) of this node's
/// public address; a push that passes is written to lvs.cf and reported on the returned
/// channel, for the supervisor to reload. Without a key every push is refused.
pub async fn serve_pushes(
    options: &Options,
    features: &crate::config::KernelFeatures,
    config: &HeartbeatConfig,
) -> Result<tokio::sync::mpsc::Receiver<ha::sync::PushReceipt>, DaemonError> {
    let auth = match load_key(&options.settings) {
        Ok(key) => key.map_or(Auth::None, Auth::Key),
        Err(e) => {
            warn!("config sync: {e}: pushes from the peer are refused");
            Auth::None
        }
    };
    let listener = ha::sync::bind(config.local.public, config.port)
        .await
        .map_err(|e| DaemonError::Role(format!("config sync: {e}")))?;
    let (receipts, received) = tokio::sync::mpsc::channel(4);
    let receiver = ha::sync::Receiver::new(options.lvs_cf.clone(), auth, features.clone());
    tokio::spawn(receiver.serve(listener, receipts));
    info!(
        "config sync: accepting lvs.cf pushes from the peer on {}:{} (tcp)",
        config.local.public, config.port
    );
    Ok(received)
}

impl Supervisor {
    /// A monitored link changed: the heartbeat hears whether all of them are up (a node
    /// with a failed link gives the service up and does not take it until it is back).
    pub(super) fn on_link(&mut self, change: LinkChange) {
        info!(
            "link {} is {}",
            change.name,
            if change.up { "up" } else { "down" }
        );
        self.links.insert(change.name, change.up);
        if let Some(heartbeat) = &self.heartbeat {
            heartbeat.link(self.links.values().all(|up| *up));
        }
    }

    /// The sync daemon state this node runs: master while it holds the service (or has
    /// no peer), backup while it stands by.
    pub(super) fn sync_state(&self) -> SyncState {
        if self.active || self.heartbeat.is_none() {
            SyncState::Master
        } else {
            SyncState::Backup
        }
    }

    /// Takes the service: `active_cmd`, the addresses announced, the sync daemon master.
    pub(super) async fn activate(&mut self) -> Vec<String> {
        self.active = true;
        let g = &self.loaded.config.global;
        addresses::run_command("active_cmd", g.active_cmd.as_deref(), self.options.dry_run);
        let mut errors = self.plumb(true).await;
        errors.extend(self.switch_sync_daemon(SyncState::Backup));
        errors
    }

    /// Gives the service up: the addresses, the sync daemon to backup, `inactive_cmd`.
    /// The IPVS services and the checks stay (warm standby).
    pub(super) async fn deactivate(&mut self) -> Vec<String> {
        self.active = false;
        let mut errors = self.addresses.release().await;
        errors.extend(self.switch_sync_daemon(SyncState::Master));
        let g = &self.loaded.config.global;
        addresses::run_command(
            "inactive_cmd",
            g.inactive_cmd.as_deref(),
            self.options.dry_run,
        );
        errors
    }

    /// Stops the sync daemon in state `from` and starts the one this node now runs.
    /// Without a peer there is nothing to switch: the reconcile keeps the master running.
    fn switch_sync_daemon(&mut self, from: SyncState) -> Vec<String> {
        if self.heartbeat.is_none() {
            return Vec::new();
        }
        let Some(daemon) = super::desired_sync_daemons(&self.loaded, self.sync_state()).pop()
        else {
            return Vec::new();
        };
        let running = self.kernel.sync_daemons().unwrap_or_default();
        let mut operations = Vec::new();
        if running.iter().any(|d| d.state == from) {
            operations.push(Operation::DelSyncDaemon(from));
        }
        if !running.iter().any(|d| d.state == daemon.state) {
            operations.push(Operation::NewSyncDaemon(daemon));
        }
        self.apply(&operations)
    }

    /// What the heartbeat decided.
    pub(super) async fn on_failover(&mut self, event: HaEvent) {
        match event {
            HaEvent::Activate { cause } if !self.stopped => {
                info!("activating: {cause}");
                for e in self.activate().await {
                    warn!("activation: {e}");
                }
            }
            HaEvent::Activate { cause } => info!("not activating while stopped ({cause})"),
            HaEvent::Deactivate { cause } => {
                info!("deactivating: {cause}");
                for e in self.deactivate().await {
                    warn!("deactivation: {e}");
                }
            }
            HaEvent::Reannounce => {
                info!("the backup was heard active: announcing the addresses again");
                let g = &self.loaded.config.global;
                addresses::run_command("active_cmd", g.active_cmd.as_deref(), self.options.dry_run);
                for e in self.plumb(true).await {
                    warn!("{e}");
                }
            }
            HaEvent::PeerChanged { peer } => {
                let ours = ConfigHash::of(&self.loaded.source);
                if peer.config_hash.is_some_and(|theirs| theirs != ours) {
                    warn!(
                        "the peer runs another lvs.cf (its serial_no {:?}, ours {}): push ours with `shoal sync push` or copy it",
                        peer.config_serial, self.loaded.config.global.serial_no
                    );
                }
                info!(
                    "peer {}: {}",
                    peer.addresses.public,
                    if peer.alive { "alive" } else { "silent" }
                );
            }
        }
    }
}
