//! Traffic through the VIP that `shoal run` plumbed, from a client namespace, with the
//! demo's topology (tests/lab/demo.sh): NAT and direct routing, round robin, and the
//! client sees the configured scheduling. Runs in the lab VM (`scripts/lab-tests.sh`).

mod lab_support;

use std::collections::BTreeMap;

use lab_support::demo;

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

/// Six fetches through the VIP, and the client saw round robin over rs1, rs2 and rs3.
fn assert_client_sees_round_robin(method: &str, text: &str) {
    let bodies = fetched(text);
    eprintln!(
        "{method}: the client fetched {bodies:?}: {:?}",
        counts(&bodies)
    );
    assert_eq!(bodies.len(), 6, "{text}");
    assert_eq!(
        counts(&bodies),
        BTreeMap::from([("rs1".into(), 2), ("rs2".into(), 2), ("rs3".into(), 2)]),
        "{text}"
    );
    assert_ne!(bodies[0], bodies[1], "round robin alternates: {bodies:?}");
    assert_eq!(
        bodies[..3],
        bodies[3..],
        "round robin repeats its cycle: {bodies:?}"
    );
}

/// IPVS's view: the forwarding method and two (finished) connections per real server.
fn assert_ipvs_spread(text: &str, method: &str) {
    let spread: Vec<String> = text
        .lines()
        .filter(|l| l.trim_start().starts_with("-> 198.51.100."))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        spread,
        [11, 12, 13].map(|n| format!("-> 198.51.100.{n}:80 {method} 1 0 2")),
        "{text}"
    );
}

/// Prints `forwarded N`, the director's Ip ForwDatagrams: packets it routed (ip_forward).
/// IPVS sends what it schedules from LOCAL_IN, which does not count, so under direct
/// routing it stays 0 unless the replies come back through the director.
const FORWARDED: &str = "awk '/^Ip:/ { if (!n) for (i = 1; i <= NF; i++) { if ($i == \"ForwDatagrams\") n = i } else print \"forwarded\", $n }' /proc/net/snmp";

fn forwarded(text: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix("forwarded "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no `forwarded N` line: {text}"))
}

fn shoal_snippet(network: &str, setup: &str) -> String {
    format!(
        "demo_topology; {setup} mkdir -p /etc/sysconfig/ha; printf '%s' '{}' >/etc/sysconfig/ha/lvs.cf; \
         demo_start_shoal && demo_wait_servers 192.0.2.10:80 3; demo_fetch 6; ipvsadm -Ln; {FORWARDED}",
        config(network)
    )
}

#[test]
#[ignore = "needs the lab kernel: scripts/lab-tests.sh runs it"]
fn nat_round_robin_through_the_plumbed_vip() {
    let text = demo(&shoal_snippet("nat", ""));
    assert_client_sees_round_robin("NAT", &text);
    assert_ipvs_spread(&text, "Masq");
    let forwarded = forwarded(&text);
    eprintln!("NAT: the director forwarded {forwarded}");
    assert!(
        forwarded >= 6,
        "the replies came back through the director: {text}"
    );
}

/// Each real server has its own namespace and veth and holds the VIP on its lo
/// (demo_direct_routing), so the answer names the server IPVS chose. Its replies go
/// straight to the client over a second veth; the director, with accept_local=0, would
/// drop them as martians (source: its own VIP) had they come back through it.
#[test]
#[ignore = "needs the lab kernel: scripts/lab-tests.sh runs it"]
fn direct_routing_round_robin_through_the_plumbed_vip() {
    let text = demo(&shoal_snippet("direct", "demo_direct_routing 192.0.2.10;"));
    assert_client_sees_round_robin("direct routing", &text);
    assert_ipvs_spread(&text, "Route");
    let forwarded = forwarded(&text);
    eprintln!("direct routing: the director forwarded {forwarded}");
    assert_eq!(
        forwarded, 0,
        "nothing came back through the director: {text}"
    );
}

/// Health checks seen from the client: while rs2's httpd is stopped, its server leaves
/// the table within one `timeout` and the client reaches only rs1 and rs3; once it runs
/// again, rs2 is back after `reentry` and answers again.
#[test]
#[ignore = "needs the lab kernel: scripts/lab-tests.sh runs it"]
fn clients_stop_reaching_a_failed_server_and_reach_it_again_when_it_is_back() {
    let config = config("nat").replace(
        "    scheduler = rr\n",
        "    scheduler = rr\n    timeout = 1\n    reentry = 2\n",
    );
    let rs2_in = "ipvsadm -Ln -t 192.0.2.10:80 | grep -q 198.51.100.12";
    let snippet = format!(
        "demo_topology; mkdir -p /etc/sysconfig/ha; printf '%s' '{config}' >/etc/sysconfig/ha/lvs.cf; \
         demo_start_shoal && demo_wait_servers 192.0.2.10:80 3 || exit 1; \
         ip netns pids rs2 | xargs kill; \
         for _ in $(seq 50); do {rs2_in} || break; sleep 0.1; done; \
         {rs2_in} && {{ echo 'rs2 still in the table'; exit 1; }}; \
         echo '== rs2 down'; demo_fetch 6; \
         ip netns exec rs2 httpd -p 80 -h /srv/rs2; \
         demo_wait_servers 192.0.2.10:80 3 || exit 1; \
         echo '== rs2 back'; demo_fetch 6"
    );
    let text = demo(&snippet);
    let (down, back) = text.split_once("== rs2 back").expect("both phases ran");
    let while_down = fetched(down.split_once("== rs2 down").expect("down phase").1);
    eprintln!("rs2 down: the client fetched {while_down:?}");
    assert_eq!(
        counts(&while_down),
        BTreeMap::from([("rs1".into(), 3), ("rs3".into(), 3)]),
        "{text}"
    );
    let after = fetched(back);
    eprintln!("rs2 back: the client fetched {after:?}");
    assert_eq!(counts(&after).get("rs2"), Some(&2), "{text}");
}
