//! shoal: a Linux Virtual Server director controller that replaces Red Hat's Piranha suite.
//!
//! The crate is split by domain so a reader can find a thing from the folder names alone:
//! `config` reads, validates and writes Piranha's `lvs.cf`; `ipvs` is the kernel table and
//! the only code that touches it; `daemon` is `shoal run`, the supervisor; `control` is the
//! socket the CLI and the web UI use to talk to it; `cli` is the command line.

pub mod cli;
pub mod config;
pub mod control;
pub mod daemon;
pub mod ha;
pub mod health;
pub mod ipvs;
pub mod net;
pub mod web;
