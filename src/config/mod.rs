//! Piranha's `lvs.cf`: the one file that describes the load balancer.

pub mod atomic;
