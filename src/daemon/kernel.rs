//! The daemon's view of the kernel: the real IPVS client, or a dry run that reads the
//! kernel when it can and changes nothing.

use tracing::warn;

use crate::ipvs::client::{BatchError, IpvsClient, IpvsError};
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

/// `--dry-run`: plans against the real table when IPVS is there, against an empty one
/// when it is not, and never changes anything.
struct DryRun {
    real: Option<IpvsClient>,
}

impl Kernel for DryRun {
    fn table(&mut self) -> Result<Vec<ServiceState>, IpvsError> {
        self.real.as_mut().map_or(Ok(Vec::new()), IpvsClient::table)
    }
    fn services(&mut self) -> Result<Vec<ServiceState>, IpvsError> {
        self.real
            .as_mut()
            .map_or(Ok(Vec::new()), IpvsClient::services)
    }
    fn service(&mut self, key: &ServiceKey) -> Result<Option<ServiceState>, IpvsError> {
        self.real.as_mut().map_or(Ok(None), |c| c.service(key))
    }
    fn destinations(&mut self, key: &ServiceKey) -> Result<Vec<DestinationState>, IpvsError> {
        self.real
            .as_mut()
            .map_or(Ok(Vec::new()), |c| c.destinations(key))
    }
    fn timeouts(&mut self) -> Result<Timeouts, IpvsError> {
        self.real
            .as_mut()
            .map_or(Ok(Timeouts::default()), IpvsClient::timeouts)
    }
    fn sync_daemons(&mut self) -> Result<Vec<SyncDaemon>, IpvsError> {
        self.real
            .as_mut()
            .map_or(Ok(Vec::new()), IpvsClient::sync_daemons)
    }
    fn info(&mut self) -> Result<Info, IpvsError> {
        self.real
            .as_mut()
            .map_or(Err(IpvsError::NotAvailable), IpvsClient::info)
    }
    fn apply(&mut self, _: &[Operation]) -> Result<(), BatchError> {
        Ok(())
    }
}

/// The kernel for this run; IPVS must be there unless it is a dry run or not to be
/// touched at all (`--no-ipvs`: an empty table that takes nothing).
pub fn open(dry_run: bool, no_ipvs: bool) -> Result<Box<dyn Kernel>, IpvsError> {
    if no_ipvs {
        return Ok(Box::new(DryRun { real: None }));
    }
    match (IpvsClient::connect(), dry_run) {
        (Ok(client), false) => Ok(Box::new(client)),
        (Err(e), false) => Err(e),
        (Ok(client), true) => Ok(Box::new(DryRun { real: Some(client) })),
        (Err(e), true) => {
            warn!("{e}; dry run plans against an empty table");
            Ok(Box::new(DryRun { real: None }))
        }
    }
}
