//! The kernel's IPVS table: the only place that speaks the IPVS generic netlink family.
//!
//! `types` is the table as plain data, `reconcile` turns a configuration into the
//! table it wants and computes the smallest set of operations from what the kernel has.

pub mod client;
pub mod reconcile;
pub mod render;
pub mod types;
pub mod wire;
