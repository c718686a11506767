//! The daemon's view of the kernel: the real IPVS client, a dry run that keeps the
//! table it would program and changes nothing, or no IPVS at all.

use tracing::warn;

use crate::ipvs::client::{BatchError, IpvsClient, IpvsError};
use crate::ipvs::reconcile::apply_to_model;
use crate::ipvs::types::{
    DestinationState, Info, Operation, ServiceKey, ServiceState, SyncDaemon, Timeouts,
};

/// What the supervisor needs from the kernel.
pub trait Kernel {
    /// The whole IPVS table.
    fn table(&mut self) -> Result<Vec<ServiceState>, IpvsError>;
    /// The services only (one dump), without their destinations.
    fn services(&mut self) -> Result<Vec<ServiceState>, IpvsError>;
    /// One service without its destinations, `None` when the kernel has none with that key.
    fn service(&mut self, key: &ServiceKey) -> Result<Option<ServiceState>, IpvsError>;
    /// The destinations of one service.
    fn destinations(&mut self, key: &ServiceKey) -> Result<Vec<DestinationState>, IpvsError>;
    /// Global timeouts.
    fn timeouts(&mut self) -> Result<Timeouts, IpvsError>;
    /// Running sync daemons.
    fn sync_daemons(&mut self) -> Result<Vec<SyncDaemon>, IpvsError>;
    /// Version and table size.
    fn info(&mut self) -> Result<Info, IpvsError>;
    /// Applies operations.
    fn apply(&mut self, operations: &[Operation]) -> Result<(), BatchError>;
}

impl Kernel for IpvsClient {
    fn table(&mut self) -> Result<Vec<ServiceState>, IpvsError> {
        IpvsClient::table(self)
    }
    fn services(&mut self) -> Result<Vec<ServiceState>, IpvsError> {
        IpvsClient::services(self)
    }
    fn service(&mut self, key: &ServiceKey) -> Result<Option<ServiceState>, IpvsError> {
        IpvsClient::service(self, key)
    }
    fn destinations(&mut self, key: &ServiceKey) -> Result<Vec<DestinationState>, IpvsError> {
        IpvsClient::destinations(self, key)
    }
    fn timeouts(&mut self) -> Result<Timeouts, IpvsError> {
        IpvsClient::timeouts(self)
    }
    fn sync_daemons(&mut self) -> Result<Vec<SyncDaemon>, IpvsError> {
        IpvsClient::sync_daemons(self)
    }
    fn info(&mut self) -> Result<Info, IpvsError> {
        IpvsClient::info(self)
    }
    fn apply(&mut self, operations: &[Operation]) -> Result<(), BatchError> {
        IpvsClient::apply(self, operations)
    }
}

/// `--dry-run`: starts from the real table when IPVS is there (an empty one when it is
/// not), never changes the kernel, and keeps the table it would have programmed, so
/// `shoal status` (and the web UI) show the plan and each reload plans against it.
struct DryRun {
    planned: Vec<ServiceState>,
    timeouts: Timeouts,
    daemons: Vec<SyncDaemon>,
    info: Option<Info>,
}

impl DryRun {
    fn from(real: Option<IpvsClient>) -> DryRun {
        let mut dry = DryRun {
            planned: Vec::new(),
            timeouts: Timeouts::default(),
            daemons: Vec::new(),
            info: None,
        };
        if let Some(mut client) = real {
            dry.planned = client.table().unwrap_or_default();
            dry.timeouts = client.timeouts().unwrap_or_default();
            dry.daemons = client.sync_daemons().unwrap_or_default();
            dry.info = client.info().ok();
        }
        dry
    }

    fn plan(&mut self, operation: &Operation) {
        match operation {
            Operation::SetTimeouts(t) => {
                let keep = |new: u32, old: u32| if new == 0 { old } else { new };
                self.timeouts = Timeouts {
                    tcp: keep(t.tcp, self.timeouts.tcp),
                    tcp_fin: keep(t.tcp_fin, self.timeouts.tcp_fin),
                    udp: keep(t.udp, self.timeouts.udp),
                };
            }
            Operation::NewSyncDaemon(d) => self.daemons.push(d.clone()),
            Operation::DelSyncDaemon(state) => self.daemons.retain(|d| d.state != *state),
            Operation::Zero(_) | Operation::Flush => {
                if matches!(operation, Operation::Flush) {
                    self.planned.clear();
                }
            }
            table => {
                if let Err(e) = apply_to_model(&mut self.planned, table) {
                    warn!("dry run: the kernel would refuse this: {e}");
                }
            }
        }
    }
}

impl Kernel for DryRun {
    fn table(&mut self) -> Result<Vec<ServiceState>, IpvsError> {
        Ok(self.planned.clone())
    }
    fn services(&mut self) -> Result<Vec<ServiceState>, IpvsError> {
        Ok(self
            .planned
            .iter()
            .map(|s| ServiceState {
                destinations: Vec::new(),
                ..s.clone()
            })
            .collect())
    }
    fn service(&mut self, key: &ServiceKey) -> Result<Option<ServiceState>, IpvsError> {
        let services = self.services()?;
        Ok(services.into_iter().find(|s| s.service.key == *key))
    }
    fn destinations(&mut self, key: &ServiceKey) -> Result<Vec<DestinationState>, IpvsError> {
        Ok(self
            .planned
            .iter()
            .find(|s| s.service.key == *key)
            .map(|s| s.destinations.clone())
            .unwrap_or_default())
    }
    fn timeouts(&mut self) -> Result<Timeouts, IpvsError> {
        Ok(self.timeouts)
    }
    fn sync_daemons(&mut self) -> Result<Vec<SyncDaemon>, IpvsError> {
        Ok(self.daemons.clone())
    }
    fn info(&mut self) -> Result<Info, IpvsError> {
        self.info.ok_or(IpvsError::NotAvailable)
    }
    fn apply(&mut self, operations: &[Operation]) -> Result<(), BatchError> {
        for operation in operations {
            self.plan(operation);
        }
        Ok(())
    }
}

/// `--no-ipvs`: an empty table that takes nothing; the IPVS table is someone else's.
struct NoIpvs;

impl Kernel for NoIpvs {
    fn table(&mut self) -> Result<Vec<ServiceState>, IpvsError> {
        Ok(Vec::new())
    }
    fn services(&mut self) -> Result<Vec<ServiceState>, IpvsError> {
        Ok(Vec::new())
    }
    fn service(&mut self, _: &ServiceKey) -> Result<Option<ServiceState>, IpvsError> {
        Ok(None)
    }
    fn destinations(&mut self, _: &ServiceKey) -> Result<Vec<DestinationState>, IpvsError> {
        Ok(Vec::new())
    }
    fn timeouts(&mut self) -> Result<Timeouts, IpvsError> {
        Ok(Timeouts::default())
    }
    fn sync_daemons(&mut self) -> Result<Vec<SyncDaemon>, IpvsError> {
        Ok(Vec::new())
    }
    fn info(&mut self) -> Result<Info, IpvsError> {
        Err(IpvsError::NotAvailable)
    }
    fn apply(&mut self, _: &[Operation]) -> Result<(), BatchError> {
        Ok(())
    }
}

/// The kernel for this run; IPVS must be there unless it is a dry run or not to be
/// touched at all (`--no-ipvs`: an empty table that takes nothing).
pub fn open(dry_run: bool, no_ipvs: bool) -> Result<Box<dyn Kernel>, IpvsError> {
    if no_ipvs {
        return Ok(Box::new(NoIpvs));
    }
    match (IpvsClient::connect(), dry_run) {
        (Ok(client), false) => Ok(Box::new(client)),
        (Err(e), false) => Err(e),
        (Ok(client), true) => Ok(Box::new(DryRun::from(Some(client)))),
        (Err(e), true) => {
            warn!("{e}; dry run plans against an empty table");
            Ok(Box::new(DryRun::from(None)))
        }
    }
}
