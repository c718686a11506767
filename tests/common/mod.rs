//! Helpers shared by the integration tests.

#![allow(dead_code)]

use std::path::PathBuf;

use shoal::config::resolve::{StaticResolver, parse_services};

/// `../shared` beside the repository, where the project's corpus and references live.
pub fn shared_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

/// The names the corpus oracle resolved from the guest's /etc/hosts
/// (`15-hostnames-need-resolving.expect`), and the system's /etc/services.
pub fn corpus_resolver() -> StaticResolver {
    let mut resolver = StaticResolver::default();
    for (name, address) in [
        ("lvs1.example.net", "10.95.0.1"),
        ("lvs2.example.net", "10.95.0.2"),
        ("www-vip.example.net", "10.95.0.80"),
        ("web1.example.net", "10.95.1.11"),
        ("web2.example.net", "10.95.1.12"),
    ] {
        resolver
            .hosts
            .insert(name.to_string(), address.parse().expect("literal"));
    }
    let services =
        std::fs::read_to_string("/etc/services").expect("/etc/services (package netbase)");
    resolver.services = parse_services(&services);
    resolver
}

/// The failover part of `shoal status --json` from the daemon listening on `control`
/// (`Null` when it does not answer), for tests that watch a director's heartbeat.
pub fn failover_status(shoal: &str, control: &std::path::Path) -> serde_json::Value {
    let output = std::process::Command::new(shoal)
        .args(["status", "--json", "--control"])
        .arg(control)
        .output()
        .expect("shoal status");
    let status: serde_json::Value =
        serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null);
    status["failover"].clone()
}
