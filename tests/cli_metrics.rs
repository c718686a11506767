//! `/metrics` of a `shoal run --dry-run` on the host: the families an operator graphs,
//! with values that match `shoal status --json` (the dry run's planned table) and the
//! operations it logged. The lab's kernel_metrics test does the same with real IPVS,
//! health checks and traffic.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const SHOAL: &str = env!("CARGO_BIN_EXE_shoal");

/// The daemon, killed on drop (a failed assertion must not leave it running).
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `name{labels}` -> value, for every sample line.
fn parse(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("a sample line");
            (series.to_string(), value.parse().expect("a number"))
        })
        .collect()
}

fn scrape(address: &str) -> (String, String) {
    let mut stream = std::net::TcpStream::connect(address).expect("metrics listener");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    let (head, body) = response.split_once("\r\n\r\n").expect("http");
    (head.to_string(), body.to_string())
}

#[test]
fn metrics_match_the_status_of_the_same_daemon() {
    let dir = tempfile::tempdir().expect("temp dir");
    let socket = dir.path().join("control.sock");
    let settings = dir.path().join("shoal.toml");
    std::fs::write(&settings, "[metrics]\nlisten = \"127.0.0.1:0\"\n").expect("settings");
    let mut child = Command::new(SHOAL)
        .args([
            "run",
            "--dry-run",
            "--force-active",
            "-c",
            "etc/lvs.cf",
            "--control",
        ])
        .arg(&socket)
        .arg("--settings")
        .arg(&settings)
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .spawn()
        .expect("shoal run starts");
    let stderr = child.stderr.take().expect("stderr");
    let _daemon = Daemon(child);
    let mut lines = BufReader::new(stderr).lines();
    let mut operations = 0;
    let address = loop {
        let line = lines
            .next()
            .expect("the daemon logs its metrics address")
            .expect("log line");
        if line.contains(" would add service") || line.contains(" would add real server") {
            operations += 1;
        }
        if let Some((_, rest)) = line.split_once("metrics on http://") {
            break rest.trim_end_matches("/metrics").to_string();
        }
    };
    let status = loop {
        let output = Command::new(SHOAL)
            .args(["status", "--json", "--control"])
            .arg(&socket)
            .output()
            .expect("shoal status");
        if output.status.success() {
            break serde_json::from_slice::<serde_json::Value>(&output.stdout).expect("json");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (head, body) = scrape(&address);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/openmetrics-text"),
        "{head}"
    );
    assert!(body.trim_end().ends_with("# EOF"), "{body}");
    let samples = parse(&body);
    let get = |series: &str| {
        *samples
            .get(series)
            .unwrap_or_else(|| panic!("no {series} in:\n{body}"))
    };
    assert_eq!(get(r#"shoal_state{state="active"}"#), 1.0);
    // A dry run on a host without the director's addresses runs without its peer.
    assert_eq!(get(r#"shoal_role{role="single"}"#), 1.0);
    assert_eq!(
        get("shoal_config_serial"),
        status["serial_no"].as_f64().expect("serial")
    );
    assert_eq!(get(r#"shoal_transitions_total{to="active"}"#), 1.0);
    assert_eq!(
        get(r#"shoal_control_requests_total{command="status"}"#),
        1.0
    );
    assert_eq!(
        get(r#"shoal_control_requests_total{command="metrics"}"#),
        1.0
    );
    let sent = get(r#"shoal_reconcile_operations_total{kind="add_service"}"#)
        + get(r#"shoal_reconcile_operations_total{kind="add_real_server"}"#);
    assert_eq!(sent, f64::from(operations), "operations logged at start");
    assert!(!body.contains("shoal_peer_alive"), "{body}");

    // Every destination of the status, with its weight, as a series.
    let services = status["services"].as_array().expect("services");
    let names = status["names"].as_array().expect("names");
    let mut destinations = 0;
    for (service, names) in services.iter().zip(names) {
        let vs = names["service"].as_str().expect("named");
        assert_eq!(
            get(&format!(
                r#"shoal_virtual_server_connections_total{{virtual_server="{vs}"}}"#
            )),
            service["stats"]["connections"]
                .as_f64()
                .expect("connections")
        );
        for (d, rs) in service["destinations"]
            .as_array()
            .expect("destinations")
            .iter()
            .zip(names["servers"].as_array().expect("server names"))
        {
            let rs = rs.as_str().expect("named");
            let address = format!(
                "{}:{}",
                d["destination"]["address"].as_str().expect("address"),
                d["destination"]["port"]
            );
            let labels = format!(r#"virtual_server="{vs}",real_server="{rs}",address="{address}""#);
            assert_eq!(
                get(&format!("shoal_real_server_weight{{{labels}}}")),
                d["destination"]["weight"].as_f64().expect("weight")
            );
            assert_eq!(
                get(&format!("shoal_real_server_active_connections{{{labels}}}")),
                d["active_connections"].as_f64().expect("active")
            );
            assert!(
                samples.contains_key(&format!(
                    r#"shoal_real_server_configured_weight{{virtual_server="{vs}",real_server="{rs}"}}"#
                )),
                "{body}"
            );
            destinations += 1;
        }
    }
    assert_eq!(destinations, 5, "{body}");
}
