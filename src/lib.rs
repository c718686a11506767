//! shoal: a Linux Virtual Server director controller that replaces Red Hat's Piranha suite.
//!
//! The crate is split by domain so a reader can find a thing from the folder names alone:
//! `config` reads, validates and writes Piranha's `lvs.cf`; `ipvs` is the kernel table;
//! `cli` is the command line.

pub mod cli;
pub mod config;
pub mod ipvs;
