//! Traffic through the VIP that `shoal run` plumbed, from a client namespace, with the
//! demo's topology (tests/lab/demo.sh): NAT and direct routing, round robin, and the
//! client sees the configured scheduling. Runs in the lab VM (`scripts/lab-tests.sh`).

mod lab_support;

use std::collections::BTreeMap;
use std::process::Command;

use lab_support::in_fresh_netns;

/// Runs a snippet with the demo's shell functions in a fresh director namespace.
fn demo(snippet: &str) -> String {
    in_fresh_netns(|| {
        let script = format!(". /lab/prelude.sh; . /lab/demo.sh; {snippet}; demo_stop");
        let output = Command::new("sh")
            .args(["-c", &script])
            .env("SHOAL", env!("CARGO_BIN_EXE_shoal"))
            .output()
            .expect("sh runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "{text}");
        text
    })
}

fn config(network: &str) -> String {
    format!(
        "primary = 192.0.2.1\nnetwork = {network}\nnat_router = 198.51.100.254 d-rs:1\nnat_nmask = 255.255.255.0\n\
         virtual web {{\n    active = 1\n    address = 192.0.2.10 d-c:1\n    port = 80\n    scheduler = rr\n\
         \x20   server rs1 {{\n        address = 198.51.100.11\n        active = 1\n    }}\n\
         \x20   server rs2 {{\n        address = 198.51.100.12\n        active = 1\n    }}\n\
         \x20   server rs3 {{\n        address = 198.51.100.13\n        active = 1\n    }}\n}}\n"
    )
}

fn fetched(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("fetch "))
        .filter_map(|l| l.split_once(": ").map(|(_, body)| body.trim().to_string()))
        .collect()
}

fn counts(bodies: &[String]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for body in bodies {
        *counts.entry(body.clone()).or_default() += 1;
    }
    counts
}

const DIRECT_ROUTING: &str = "\
    ip -n servers addr add 192.0.2.10/32 dev lo; \
    ip netns exec servers sh -c 'echo 1 >/proc/sys/net/ipv4/conf/all/arp_ignore; echo 2 >/proc/sys/net/ipv4/conf/all/arp_announce'; \
    for n in 1 2 3; do ip netns exec servers httpd -p 192.0.2.10:80 -h /srv/rs$n 2>/dev/null || true; done; \
    for c in all d-c d-rs; do echo 1 >/proc/sys/net/ipv4/conf/$c/accept_local; done;";

#[test]
#[ignore = "needs the lab kernel: scripts/lab-tests.sh runs it"]
fn nat_round_robin_through_the_plumbed_vip() {
    let text = demo(&format!(
        "demo_topology; mkdir -p /etc/sysconfig/ha; printf '%s' '{}' >/etc/sysconfig/ha/lvs.cf; demo_start_shoal; demo_fetch 6",
        config("nat")
    ));
    let bodies = fetched(&text);
    assert_eq!(bodies.len(), 6, "{text}");
    assert_eq!(
        counts(&bodies),
        BTreeMap::from([("rs1".into(), 2), ("rs2".into(), 2), ("rs3".into(), 2)]),
        "{text}"
    );
    assert_ne!(bodies[0], bodies[1], "round robin alternates: {bodies:?}");
}

#[test]
#[ignore = "needs the lab kernel: scripts/lab-tests.sh runs it"]
fn direct_routing_round_robin_through_the_plumbed_vip() {
    let text = demo(&format!(
        "demo_topology; {DIRECT_ROUTING} mkdir -p /etc/sysconfig/ha; printf '%s' '{}' >/etc/sysconfig/ha/lvs.cf; demo_start_shoal; demo_fetch 6; ipvsadm -Ln",
        config("direct")
    ));
    let bodies = fetched(&text);
    assert_eq!(bodies.len(), 6, "{text}");
    // The three addresses share one namespace, where only one httpd can hold the VIP:
    // every answer comes from it, so the schedule is read from IPVS's counters.
    assert!(
        bodies.iter().all(|b| b.starts_with("rs")),
        "every fetch answered: {text}"
    );
    let spread: Vec<String> = text
        .lines()
        .filter(|l| l.trim_start().starts_with("-> 198.51.100."))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        spread,
        [
            "-> 198.51.100.11:80 Route 1 0 2",
            "-> 198.51.100.12:80 Route 1 0 2",
            "-> 198.51.100.13:80 Route 1 0 2",
        ],
        "{text}"
    );
}
