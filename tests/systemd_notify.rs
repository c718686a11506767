//! `shoal run` under `Type=notify`: a Unix datagram socket stands in for systemd's
//! (`NOTIFY_SOCKET`). `READY=1` comes once the first reconcile is done and the control
//! socket answers with the planned table; `STATUS=` names the state and the counts and
//! follows a `shoal stop`; a reload is framed by `RELOADING=1` and `READY=1`; with
//! `WATCHDOG_USEC` set the daemon pings at half of it, and without it not at all;
//! SIGTERM sends `STOPPING=1`. The host has no IPVS: dry runs without checks.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SHOAL: &str = env!("CARGO_BIN_EXE_shoal");

/// A daemon that is killed however the test ends.
struct Daemon {
    child: Child,
}

impl Daemon {
    fn start(dir: &Path, watchdog_usec: Option<u64>) -> (Daemon, PathBuf) {
        let settings = dir.join("shoal.toml");
        // Port 0: parallel tests do not fight over the metrics port.
        std::fs::write(&settings, "[metrics]\nlisten = \"127.0.0.1:0\"\n").expect("settings");
        let control = dir.join("control.sock");
        let mut command = Command::new(SHOAL);
        command
            .args(["run", "--dry-run", "--no-checks", "-c", "etc/lvs.cf"])
            .arg("--control")
            .arg(&control)
            .arg("--settings")
            .arg(&settings)
            .env("NOTIFY_SOCKET", dir.join("notify.sock"))
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(usec) = watchdog_usec {
            command.env("WATCHDOG_USEC", usec.to_string());
        }
        let child = command.spawn().expect("shoal run starts");
        (Daemon { child }, control)
    }

    fn terminate(&mut self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").arg(&pid).status().expect("kill runs");
        assert!(sent.success(), "SIGTERM to {pid}");
        let status = self.child.wait().expect("the daemon exits");
        assert!(status.success(), "{status}");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The stand-in for systemd's notification socket.
struct Manager {
    socket: UnixDatagram,
}

impl Manager {
    fn bind(dir: &Path) -> Manager {
        let socket = UnixDatagram::bind(dir.join("notify.sock")).expect("notify socket");
        Manager { socket }
    }

    /// The next message within `limit`, as its lines.
    fn next(&self, limit: Duration) -> Option<(Instant, Vec<String>)> {
        self.socket
            .set_read_timeout(Some(limit))
            .expect("read timeout");
        let mut buffer = [0u8; 4096];
        let n = self.socket.recv(&mut buffer).ok()?;
        let text = String::from_utf8_lossy(&buffer[..n]).to_string();
        Some((Instant::now(), text.lines().map(str::to_string).collect()))
    }

    /// Messages until one has `line`, failing after `limit`; the ones before are kept.
    fn until(&self, line: &str, limit: Duration) -> Vec<Vec<String>> {
        let end = Instant::now() + limit;
        let mut seen = Vec::new();
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            let Some((_, message)) = self.next(left) else {
                break;
            };
            let found = message.iter().any(|l| l == line);
            seen.push(message);
            if found {
                return seen;
            }
        }
        panic!("no {line} within {limit:?}; got {seen:?}");
    }
}

fn shoal(args: &[&str], control: &Path) -> std::process::Output {
    Command::new(SHOAL)
        .args(args)
        .arg("--control")
        .arg(control)
        .output()
        .expect("shoal runs")
}

fn status_of(message: &[String]) -> Option<&str> {
    message.iter().find_map(|l| l.strip_prefix("STATUS="))
}

#[test]
fn ready_after_the_first_reconcile_then_status_reload_and_stopping() {
    let dir = tempfile::tempdir().expect("temp dir");
    let manager = Manager::bind(dir.path());
    let (mut daemon, control) = Daemon::start(dir.path(), None);

    let before_ready = manager.until("READY=1", Duration::from_secs(30));
    let ready = before_ready.last().expect("the READY=1 message");
    assert_eq!(
        before_ready.len(),
        1,
        "READY=1 is the first message: {before_ready:?}"
    );
    // Asked at once: the control socket already answers, with the reconciled table.
    let status = shoal(&["status"], &control);
    assert!(status.status.success(), "{status:?}");
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("TCP  192.0.2.10:80 wlc") && text.contains("-> 198.51.100.13:80"),
        "the first reconcile is done when READY=1 arrives: {text}"
    );
    assert_eq!(
        status_of(ready),
        Some("active (dry run): 2 virtual servers, 5 of 5 real servers up"),
        "{ready:?}"
    );

    let reload = shoal(&["reload"], &control);
    assert!(reload.status.success(), "{reload:?}");
    let reloading = manager.until("RELOADING=1", Duration::from_secs(10));
    let with_clock = reloading.last().expect("the RELOADING=1 message");
    assert!(
        with_clock.iter().any(|l| l
            .strip_prefix("MONOTONIC_USEC=")
            .is_some_and(|v| v.parse::<u64>().is_ok_and(|v| v > 0))),
        "RELOADING=1 carries the clock: {with_clock:?}"
    );
    let after = manager.until("READY=1", Duration::from_secs(10));
    assert_eq!(
        status_of(after.last().expect("READY=1")),
        Some("active (dry run): 2 virtual servers, 5 of 5 real servers up")
    );

    let stop = shoal(&["stop"], &control);
    assert!(stop.status.success(), "{stop:?}");
    let (_, stopped) = manager
        .next(Duration::from_secs(10))
        .expect("a status after shoal stop");
    assert_eq!(
        stopped,
        ["STATUS=stopped (dry run): 2 virtual servers, 0 of 5 real servers up"]
    );

    // Nothing changed: no message is repeated.
    let status = shoal(&["status"], &control);
    assert!(status.status.success());
    assert_eq!(
        manager.next(Duration::from_millis(500)),
        None,
        "an unchanged status is not sent again"
    );

    daemon.terminate();
    let last = manager.until("STOPPING=1", Duration::from_secs(10));
    assert!(
        !last.iter().flatten().any(|l| l == "WATCHDOG=1"),
        "no watchdog pings without WATCHDOG_USEC: {last:?}"
    );
}

#[test]
fn the_watchdog_is_pinged_at_half_its_interval() {
    const LIMIT: Duration = Duration::from_millis(600);
    let dir = tempfile::tempdir().expect("temp dir");
    let manager = Manager::bind(dir.path());
    let (mut daemon, _control) = Daemon::start(dir.path(), Some(LIMIT.as_micros() as u64));
    manager.until("READY=1", Duration::from_secs(30));

    let watched = Duration::from_secs(3);
    let end = Instant::now() + watched;
    let mut pings = Vec::new();
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        let Some((at, message)) = manager.next(left) else {
            break;
        };
        assert_eq!(message, ["WATCHDOG=1"], "only pings while nothing happens");
        pings.push(at);
    }
    let gaps: Vec<Duration> = pings.windows(2).map(|w| w[1] - w[0]).collect();
    // Half of 600 ms: 10 pings in 3 s. A missed one (a gap of the whole limit) would
    // have systemd restart the daemon.
    assert!(
        (8..=12).contains(&pings.len()),
        "{} pings in {watched:?}, gaps {gaps:?}",
        pings.len()
    );
    assert!(gaps.iter().all(|g| *g < LIMIT), "gaps {gaps:?}");
    let mean = gaps.iter().sum::<Duration>() / gaps.len() as u32;
    assert!(
        mean > Duration::from_millis(250) && mean < Duration::from_millis(350),
        "mean gap {mean:?}"
    );
    daemon.terminate();
}

#[test]
fn a_watchdog_meant_for_another_process_is_not_pinged() {
    let dir = tempfile::tempdir().expect("temp dir");
    let manager = Manager::bind(dir.path());
    let settings = dir.path().join("shoal.toml");
    std::fs::write(&settings, "[metrics]\nlisten = \"127.0.0.1:0\"\n").expect("settings");
    let child = Command::new(SHOAL)
        .args(["run", "--dry-run", "--no-checks", "-c", "etc/lvs.cf"])
        .arg("--control")
        .arg(dir.path().join("control.sock"))
        .arg("--settings")
        .arg(&settings)
        .env("NOTIFY_SOCKET", dir.path().join("notify.sock"))
        .env("WATCHDOG_USEC", "200000")
        // systemd names the main process; a child that inherited the variables is not it.
        .env("WATCHDOG_PID", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("shoal run starts");
    let mut daemon = Daemon { child };
    manager.until("READY=1", Duration::from_secs(30));
    assert_eq!(manager.next(Duration::from_secs(1)), None);
    daemon.terminate();
}
