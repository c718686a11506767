//! `shoal run --dry-run` on the host, which has no IPVS: it prints the full plan for
//! the sample lvs.cf (IPVS operations, then the VIPs and the NAT router address), answers on
//! its control socket with the table it would have programmed, and on SIGTERM plans the
//! removal of its services.

use std::process::{Command, Stdio};
use std::time::Duration;

const SHOAL: &str = env!("CARGO_BIN_EXE_shoal");

#[test]
fn a_dry_run_prints_the_whole_plan_without_ipvs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let socket = dir.path().join("control.sock");
    let child = Command::new(SHOAL)
        .args([
            "run",
            "--dry-run",
            "--force-active",
            "-c",
            "etc/lvs.cf",
            "--control",
        ])
        .arg(&socket)
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .spawn()
        .expect("shoal run starts");
    let mut answered = false;
    for _ in 0..100 {
        let status = Command::new(SHOAL)
            .args(["status", "--control"])
            .arg(&socket)
            .output();
        if let Some(output) = status.ok().filter(|o| o.status.success()) {
            let text = String::from_utf8_lossy(&output.stdout).to_string();
            assert!(
                text.starts_with("shoal: active (dry run), etc/lvs.cf serial_no 1\n"),
                "{text}"
            );
            assert!(
                text.contains("\nTCP  192.0.2.10:80 wlc  # http\n")
                    && text.contains("  -> 198.51.100.13:80             Masq    2 "),
                "the planned table: {text}"
            );
            answered = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Command::new("kill")
        .arg(child.id().to_string())
        .status()
        .expect("SIGTERM");
    let output = child.wait_with_output().expect("exits");
    assert!(answered, "the dry run answered on its control socket");
    assert!(output.status.success());
    let log = String::from_utf8_lossy(&output.stderr);
    let plan: Vec<&str> = log
        .lines()
        .filter_map(|line| line.split_once("would ").map(|(_, op)| op))
        .collect();
    assert_eq!(
        plan,
        [
            "add service TCP 192.0.2.10:80",
            "add real server 198.51.100.11:80 to service TCP 192.0.2.10:80",
            "add real server 198.51.100.12:80 to service TCP 192.0.2.10:80",
            "add real server 198.51.100.13:80 to service TCP 192.0.2.10:80",
            "add service FWM 21",
            "add real server 198.51.100.11:21 to service FWM 21",
            "add real server 198.51.100.12:21 to service FWM 21",
            "add address 192.0.2.10/24 on eth0:1 and announce it",
            "add address 192.0.2.11/24 on eth0:2 and announce it",
            "add address 198.51.100.254/24 on eth1:1 and announce it",
            // SIGTERM deactivates: the services of the planned table go.
            "delete service TCP 192.0.2.10:80",
            "delete service FWM 21",
        ]
    );
    assert!(!socket.exists(), "the control socket is removed on exit");
}
