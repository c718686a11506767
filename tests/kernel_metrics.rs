//! `/metrics` of `shoal run` with the real IPVS, real health checks and traffic, in the
//! lab VM (`scripts/lab-tests.sh kernel_metrics`): the demo topology (tests/lab/demo.sh),
//! six fetches through the VIP, then one scrape and one `shoal status --json`, compared.
//! The kernel folds its per-CPU counters into the totals it reports every 2 s (the
//! estimator kthread), so the scrape waits 5 s after the last fetch.

mod lab_support;

use lab_support::demo;
use std::collections::HashMap;

const CONFIG: &str = "primary = 192.0.2.1\nnetwork = nat\nnat_router = 198.51.100.254 d-rs:1\nnat_nmask = 255.255.255.0\n\
     virtual web {\n    active = 1\n    address = 192.0.2.10 d-c:1\n    port = 80\n    scheduler = rr\n    timeout = 2\n\
     \x20   server rs1 {\n        address = 198.51.100.11\n        active = 1\n        weight = 3\n    }\n\
     \x20   server rs2 {\n        address = 198.51.100.12\n        active = 1\n        weight = 3\n    }\n\
     \x20   server rs3 {\n        address = 198.51.100.13\n        active = 1\n        weight = 3\n    }\n}\n";

/// The output between `@@NAME` and `@@END`.
fn section<'a>(text: &'a str, name: &str) -> &'a str {
    let start = text
        .find(&format!("@@{name}\n"))
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
        + name.len()
        + 3;
    let end = text[start..]
        .find("@@END")
        .map_or(text.len(), |e| start + e);
    &text[start..end]
}

fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| line.rsplit_once(' '))
        .filter_map(|(series, value)| value.parse().ok().map(|v| (series.to_string(), v)))
        .collect()
}

#[test]
#[ignore = "needs the lab VM (IPVS): scripts/lab-tests.sh kernel_metrics"]
fn metrics_count_the_traffic_and_the_checks_as_status_does() {
    let text = demo(&format!(
        "demo_topology; \
         mkdir -p /etc/sysconfig/ha; printf '%s' '{CONFIG}' >/etc/sysconfig/ha/lvs.cf; \
         demo_start_shoal && demo_wait_servers 192.0.2.10:80 3 && demo_fetch 6 && sleep 5 && \
         echo @@METRICS && wget -q -O - http://127.0.0.1:9636/metrics && echo @@END && \
         echo @@STATUS && \"$SHOAL\" status --json && echo @@END"
    ));
    let metrics = section(&text, "METRICS");
    let status: serde_json::Value =
        serde_json::from_str(section(&text, "STATUS")).expect("status json");
    let samples = samples(metrics);
    let get = |series: &str| {
        *samples
            .get(series)
            .unwrap_or_else(|| panic!("no {series} in:\n{metrics}"))
    };
    assert_eq!(
        get(r#"shoal_virtual_server_connections_total{virtual_server="web"}"#),
        6.0
    );
    let service = &status["services"][0];
    assert_eq!(
        service["stats"]["connections"].as_f64(),
        Some(6.0),
        "{status}"
    );
    let mut per_server = 0.0;
    for rs in ["rs1", "rs2", "rs3"] {
        let n = rs.trim_start_matches("rs");
        let labels =
            format!(r#"virtual_server="web",real_server="{rs}",address="198.51.100.1{n}:80""#);
        let connections = get(&format!("shoal_real_server_connections_total{{{labels}}}"));
        let d = service["destinations"]
            .as_array()
            .expect("destinations")
            .iter()
            .find(|d| d["destination"]["address"] == format!("198.51.100.1{n}"))
            .expect("in status");
        assert_eq!(
            Some(connections),
            d["stats"]["connections"].as_f64(),
            "{rs}"
        );
        assert_eq!(
            Some(get(&format!("shoal_real_server_weight{{{labels}}}"))),
            d["destination"]["weight"].as_f64(),
            "{rs}"
        );
        per_server += connections;
        let pair = format!(r#"virtual_server="web",real_server="{rs}""#);
        assert_eq!(
            get(&format!("shoal_real_server_configured_weight{{{pair}}}")),
            3.0
        );
        let health = status["health"]
            .as_array()
            .expect("health")
            .iter()
            .find(|h| h["server"] == rs)
            .expect("checked");
        let state = health["health"].as_str().expect("state");
        assert_eq!(
            get(&format!(
                "shoal_real_server_health{{{pair},state=\"{state}\"}}"
            )),
            1.0,
            "{rs} is {state}"
        );
        assert_eq!(
            get(&format!("shoal_real_server_consecutive_failures{{{pair}}}")),
            0.0
        );
        assert!(
            get(&format!("shoal_probe_latency_seconds_count{{{pair}}}")) >= 1.0,
            "{rs}: no probe counted"
        );
    }
    assert_eq!(per_server, 6.0);
    // The kernel refused nothing, and every real server was added by an operation.
    assert!(
        !metrics.contains("shoal_reconcile_errors_total{"),
        "{metrics}"
    );
    assert!(get(r#"shoal_reconcile_operations_total{kind="add_real_server"}"#) >= 3.0);
    assert_eq!(get(r#"shoal_state{state="active"}"#), 1.0);
}
