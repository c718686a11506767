//! Health gating against the lab kernel: a real server whose httpd stops leaves the
//! kernel table within one `timeout`, comes back after `reentry` at the slow-start weight
//! (weight/32) and doubles at the next weight tick; with `quiesce_server` it stays at
//! weight 0; with every real server down the `sorry_server` is in at weight 1 and leaves
//! when one is back. A connect-only check is half-open (shoal runs as root): the table
//! follows the SYN's answers and the servers' applications never see a connection;
//! `tcp_connect = "full"` connects. Ignored on the host (no IPVS); `scripts/lab-tests.sh`
//! runs it.

mod lab_support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use lab_support::{in_fresh_netns, run};

const SHOAL: &str = env!("CARGO_BIN_EXE_shoal");

fn lvs_cf(quiesce: bool) -> String {
    format!(
        "serial_no = 1\nprimary = 192.0.2.1\nnetwork = nat\n\
         virtual web {{\n    active = 1\n    address = 192.0.2.10 vip0\n    port = 80\n    scheduler = wlc\n\
         \x20   timeout = 1\n    reentry = 2\n    quiesce_server = {}\n    sorry_server = 198.51.100.99\n\
         \x20   server a {{\n        address = 198.51.100.21\n        active = 1\n        weight = 64\n    }}\n\
         \x20   server b {{\n        address = 198.51.100.22\n        active = 1\n        weight = 64\n    }}\n}}\n",
        u8::from(quiesce)
    )
}

/// A busybox httpd in the foreground on one address, killed when dropped.
struct Httpd(Child);

impl Httpd {
    fn start(address: &str, root: &Path) -> Httpd {
        let child = Command::new("httpd")
            .args(["-f", "-p", &format!("{address}:80"), "-h"])
            .arg(root)
            .spawn()
            .expect("busybox httpd");
        Httpd(child)
    }
}

impl Drop for Httpd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `shoal run`, killed when dropped (also when the test fails), logging to a file.
struct Daemon {
    child: Child,
    socket: PathBuf,
    log: PathBuf,
}

impl Daemon {
    fn start(dir: &Path) -> Daemon {
        Self::start_logging(dir, "shoal.log")
    }

    fn start_logging(dir: &Path, log: &str) -> Daemon {
        Self::start_with(dir, log, &[])
    }

    /// `shoal run` with more arguments (`--settings FILE`).
    fn start_with(dir: &Path, log: &str, extra: &[&str]) -> Daemon {
        let socket = dir.join("control.sock");
        let log = dir.join(log);
        let stderr = std::fs::File::create(&log).expect("log file");
        #[allow(clippy::zombie_processes)] // Drop kills and waits for it.
        let child = Command::new(SHOAL)
            .args(["run", "-c"])
            .arg(dir.join("lvs.cf"))
            .arg("--control")
            .arg(&socket)
            .args(extra)
            .env("SHOAL_LOG", "info")
            .stderr(stderr)
            .spawn()
            .expect("shoal run starts");
        Daemon { child, socket, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn shoal(&self, args: &[&str]) -> String {
        let socket = self.socket.to_str().expect("UTF-8 path");
        let mut all = args.to_vec();
        all.extend(["--control", socket]);
        run(SHOAL, &all)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The weight of each real server of the VIP's service in `ipvsadm -Ln`, by address.
fn weights() -> Vec<(String, u32)> {
    // Before shoal has programmed the service, ipvsadm says "No such service".
    let output = Command::new("ipvsadm")
        .args(["-Ln", "-t", "192.0.2.10:80"])
        .output()
        .expect("ipvsadm");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["->", address, _, weight, ..] if address.contains(':') => Some((
                    address.trim_end_matches(":80").to_string(),
                    weight.parse().ok()?,
                )),
                _ => None,
            }
        })
        .collect()
}

fn weight_of(address: &str) -> Option<u32> {
    weights()
        .into_iter()
        .find(|(a, _)| a == address)
        .map(|(_, w)| w)
}

/// Polls until `wanted` holds for the table, or gives up after `limit`; returns how long
/// it took.
fn wait_for(what: &str, limit: Duration, wanted: impl Fn() -> bool) -> Duration {
    let started = Instant::now();
    while !wanted() {
        assert!(
            started.elapsed() < limit,
            "{what}: not after {limit:?}; table: {:?}",
            weights()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    started.elapsed()
}

fn setup(dir: &Path) -> (PathBuf, PathBuf) {
    run("ip", &["link", "add", "vip0", "type", "dummy"]);
    run("ip", &["link", "set", "vip0", "up"]);
    for address in ["198.51.100.21/32", "198.51.100.22/32"] {
        run("ip", &["addr", "add", address, "dev", "lo"]);
    }
    let (root_a, root_b) = (dir.join("a"), dir.join("b"));
    for (root, name) in [(&root_a, "a"), (&root_b, "b")] {
        std::fs::create_dir_all(root).expect("root");
        std::fs::write(root.join("index.html"), name).expect("index");
    }
    (root_a, root_b)
}

#[test]
#[ignore = "needs the lab kernel: scripts/lab.sh runs it"]
fn a_failing_server_leaves_within_one_timeout_and_comes_back_slowly() {
    in_fresh_netns(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let (root_a, root_b) = setup(dir.path());
        std::fs::write(dir.path().join("lvs.cf"), lvs_cf(false)).expect("lvs.cf");
        let httpd_a = Httpd::start("198.51.100.21", &root_a);
        let _httpd_b = Httpd::start("198.51.100.22", &root_b);
        let daemon = Daemon::start(dir.path());
        // First entry: slow start from 64/32 = 2.
        wait_for("both real servers in", Duration::from_secs(10), || {
            weight_of("198.51.100.21") == Some(2) && weight_of("198.51.100.22") == Some(2)
        });
        println!("after start: {:?}", weights());
        assert_eq!(
            weight_of("198.51.100.99"),
            None,
            "no sorry server while servers are up"
        );

        drop(httpd_a);
        let gone = wait_for(
            "a removed after its httpd stopped",
            Duration::from_secs(4),
            || weight_of("198.51.100.21").is_none(),
        );
        println!("a left the table {gone:?} after its httpd stopped (timeout = 1 s)");
        assert!(gone <= Duration::from_millis(2500), "took {gone:?}");
        let status = daemon.shoal(&["status"]);
        assert!(
            status.contains("web/a: down") || status.contains("web/a: failing"),
            "{status}"
        );

        let restarted = Instant::now();
        let _httpd_a = Httpd::start("198.51.100.21", &root_a);
        let back = wait_for("a back after reentry", Duration::from_secs(8), || {
            weight_of("198.51.100.21").is_some()
        });
        println!(
            "a back {back:?} after its httpd restarted (reentry = 2 s): {:?}",
            weights()
        );
        assert!(
            back >= Duration::from_millis(1500),
            "back before reentry: {back:?}"
        );
        assert_eq!(
            weight_of("198.51.100.21"),
            Some(2),
            "slow start from weight/32"
        );
        // The weight tick is every max(timeout, 20 s): 2 -> 4.
        wait_for(
            "a doubled at the next weight tick",
            Duration::from_secs(30),
            || weight_of("198.51.100.21") == Some(4),
        );
        println!("a doubled {:?} after it came back", restarted.elapsed());

        // Operator overrides: drain keeps b at weight 0, down takes it out, up forces
        // its full weight, undrain gives it back to its checks; a reload keeps them.
        let b = "198.51.100.22";
        daemon.shoal(&["drain", "web/b"]);
        wait_for("b drained", Duration::from_secs(3), || {
            weight_of(b) == Some(0)
        });
        assert!(daemon.shoal(&["status"]).contains("override drain"));
        std::fs::write(
            dir.path().join("lvs.cf"),
            lvs_cf(false).replace("scheduler = wlc", "scheduler = rr"),
        )
        .expect("lvs.cf");
        daemon.shoal(&["reload"]);
        assert_eq!(weight_of(b), Some(0), "the drain survives a reload");
        let table = run("ipvsadm", &["-Ln", "-t", "192.0.2.10:80"]);
        assert!(table.contains(" rr"), "the reload applied: {table}");
        daemon.shoal(&["down", "b"]);
        wait_for("b forced down", Duration::from_secs(3), || {
            weight_of(b).is_none()
        });
        daemon.shoal(&["up", "web/b"]);
        wait_for("b forced up at full weight", Duration::from_secs(3), || {
            weight_of(b) == Some(64)
        });
        daemon.shoal(&["undrain", "web/b"]);
        wait_for("b back to its checks", Duration::from_secs(3), || {
            weight_of(b).is_some_and(|w| w > 0)
        });
    });
}

#[test]
#[ignore = "needs the lab kernel: scripts/lab.sh runs it"]
fn quiesce_keeps_weight_0_and_the_sorry_server_covers_when_all_are_down() {
    in_fresh_netns(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let (root_a, root_b) = setup(dir.path());
        std::fs::write(dir.path().join("lvs.cf"), lvs_cf(true)).expect("lvs.cf");
        let httpd_a = Httpd::start("198.51.100.21", &root_a);
        let httpd_b = Httpd::start("198.51.100.22", &root_b);
        let _daemon = Daemon::start(dir.path());
        wait_for("both real servers in", Duration::from_secs(10), || {
            weight_of("198.51.100.21") == Some(2) && weight_of("198.51.100.22") == Some(2)
        });
        drop(httpd_a);
        wait_for("a quiesced to weight 0", Duration::from_secs(4), || {
            weight_of("198.51.100.21") == Some(0)
        });
        println!("quiesced: {:?}", weights());
        assert_eq!(weight_of("198.51.100.99"), None, "b is still up");
        drop(httpd_b);
        wait_for(
            "sorry server in at weight 1",
            Duration::from_secs(4),
            || weight_of("198.51.100.22") == Some(0) && weight_of("198.51.100.99") == Some(1),
        );
        println!("all down: {:?}", weights());
        let _httpd_b = Httpd::start("198.51.100.22", &root_b);
        wait_for(
            "b back and the sorry server out",
            Duration::from_secs(8),
            || weight_of("198.51.100.22") == Some(2) && weight_of("198.51.100.99").is_none(),
        );
        println!("b back: {:?}", weights());
    });
}

#[test]
#[ignore = "needs the lab kernel: scripts/lab.sh runs it"]
fn a_restart_after_kill_9_keeps_every_checked_server_at_its_weight() {
    in_fresh_netns(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let (root_a, root_b) = setup(dir.path());
        std::fs::write(dir.path().join("lvs.cf"), lvs_cf(false)).expect("lvs.cf");
        let _httpd_a = Httpd::start("198.51.100.21", &root_a);
        let _httpd_b = Httpd::start("198.51.100.22", &root_b);
        let mut first = Daemon::start_logging(dir.path(), "first.log");
        wait_for("both real servers in", Duration::from_secs(10), || {
            weight_of("198.51.100.21") == Some(2) && weight_of("198.51.100.22") == Some(2)
        });
        first.child.kill().expect("kill -9");
        let _ = first.child.wait();
        let before = weights();
        let second = Daemon::start_logging(dir.path(), "second.log");
        wait_for("the second daemon ready", Duration::from_secs(10), || {
            second.log().contains("ready:")
        });
        assert_eq!(weights(), before, "the restart changed the table");
        let log = second.log();
        assert!(log.contains("ready: 0 operations at start"), "{log}");
        std::thread::sleep(Duration::from_secs(2));
        assert_eq!(
            weights(),
            before,
            "the first probes after the restart changed the table"
        );
        assert!(
            !second.log().contains("delete real server"),
            "{}",
            second.log()
        );
    });
}

/// A listening socket on `address`:80 that never accepts by itself: what reached its
/// accept queue is what a check's connect delivered to the application.
fn listener(address: &str) -> std::net::TcpListener {
    let listener = std::net::TcpListener::bind((address, 80)).expect("bind");
    listener.set_nonblocking(true).expect("non-blocking");
    listener
}

/// How many connections wait in the listener's accept queue (taken out).
fn accepted(listener: &std::net::TcpListener) -> usize {
    std::iter::from_fn(|| listener.accept().ok()).count()
}

#[test]
#[ignore = "needs the lab kernel: scripts/lab.sh runs it"]
fn connect_only_checks_are_half_open_and_gate_the_table() {
    in_fresh_netns(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        setup(dir.path());
        // `monitor = connect`: a connect-only check on port 80.
        let cf = lvs_cf(false).replace(
            "    timeout = 1\n",
            "    timeout = 1\n    monitor = connect\n",
        );
        std::fs::write(dir.path().join("lvs.cf"), cf).expect("lvs.cf");
        let a = listener("198.51.100.21");
        let b = listener("198.51.100.22");
        let daemon = Daemon::start(dir.path());
        wait_for("both real servers in", Duration::from_secs(10), || {
            weight_of("198.51.100.21") == Some(2) && weight_of("198.51.100.22") == Some(2)
        });
        std::thread::sleep(Duration::from_secs(3));
        assert_eq!(
            accepted(&a) + accepted(&b),
            0,
            "a half-open check reached an application"
        );
        let log = daemon.log();
        assert!(log.contains("listening (SYN-ACK)"), "{log}");
        assert!(!log.contains("full connects"), "{log}");

        drop(a);
        let gone = wait_for(
            "a removed once nothing listens",
            Duration::from_secs(4),
            || weight_of("198.51.100.21").is_none(),
        );
        println!("a left the table {gone:?} after its listener closed (timeout = 1 s)");
        assert!(gone <= Duration::from_millis(2500), "took {gone:?}");
        assert!(
            daemon.log().contains("connect (SYN): Connection refused"),
            "{}",
            daemon.log()
        );
        drop(daemon);

        // tcp_connect = "full": Piranha's connect, which the application sees.
        let settings = dir.path().join("shoal.toml");
        std::fs::write(&settings, "[health]\ntcp_connect = \"full\"\n").expect("shoal.toml");
        let settings = settings.to_str().expect("UTF-8 path");
        let full = Daemon::start_with(dir.path(), "full.log", &["--settings", settings]);
        wait_for("b checked with connects", Duration::from_secs(10), || {
            full.log().contains("ready:")
        });
        std::thread::sleep(Duration::from_secs(2));
        assert!(
            accepted(&b) >= 1,
            "no connection with tcp_connect = full: {}",
            full.log()
        );
    });
}
