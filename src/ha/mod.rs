//! High availability, the heartbeat layer (Piranha's pulse, SPEC section 6): which node of
//! the pair holds the service.
//!
//! - [`wire`]: the two heartbeat formats, Piranha's 4-byte `pulse` and the authenticated
//!   `shoal` packet;
//! - [`peer`]: validation (source, tag, replay) and counters of received heartbeats, the
//!   peer's liveness and reported configuration;
//! - [`state`]: the failover rules as a pure state machine, and the role decision;
//! - [`heartbeat`]: the tokio task that sends, receives and reports [`HaEvent`]s to the
//!   daemon, which alone touches addresses and the kernel;
//! - [`hold`]: telling a peer whose shoal alone died (its kernel still serving) from a
//!   dead director, so the first is not taken over while it restarts;
//! - [`local`]: this node's addresses, for the role decision and link monitoring.
//!
//! The daemon's use, in short:
//!
//! ```no_run
//! # async fn example(global: &shoal::config::model::GlobalSettings, bytes: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
//! use shoal::ha::{self, Auth, HaEvent, HeartbeatConfig, Protocol};
//! let role = ha::decide_role(global, &ha::local_addresses()?)?;
//! let config = HeartbeatConfig::from_global(global, role, Protocol::Shoal, Auth::None, bytes)?;
//! let (handle, mut events) = ha::spawn(config)?;
//! while let Some(event) = events.recv().await {
//!     match event {
//!         HaEvent::Activate { .. } => { /* active_cmd, VIPs, GARP */ }
//!         HaEvent::Deactivate { .. } => { /* remove VIPs, inactive_cmd */ }
//!         HaEvent::Reannounce => { /* GARP again, active_cmd again */ }
//!         HaEvent::PeerChanged { .. } => { /* status, config mismatch */ }
//!     }
//! }
//! handle.shutdown().await;
//! # Ok(()) }
//! ```

pub mod heartbeat;
pub mod hold;
pub mod local;
pub mod peer;
pub mod state;
pub mod sync;
pub mod wire;

pub use heartbeat::{
    HaError, HaEvent, HaSnapshot, HeartbeatConfig, HeartbeatHandle, LocalAddresses, new_boot_id,
    spawn, spawn_with_witness,
};
pub use hold::{HoldView, Witness};
pub use local::{InterfaceAddress, interface_of, local_addresses, local_interfaces};
pub use peer::{Channel, ChannelCounters, Counters, PeerAddresses, PeerView};
pub use state::{Cause, PeerKnowledge, PeerReport, Role, RoleError, decide_role, peer_address};
pub use wire::{Auth, ConfigHash, HeartbeatKey, KeyError, Protocol};
