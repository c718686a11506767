//! `shoal run` against the lab kernel: it programs lvs.cf, reloads only the difference,
//! keeps the running configuration when the new file is invalid, adopts the table after
//! a crash without breaking a connection, and removes what it added when stopped.
//! Ignored on the host (no IPVS); `scripts/lab-tests.sh` runs it in the lab VM.

mod lab_support;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::Duration;

use lab_support::{in_fresh_netns, run};

const SHOAL: &str = env!("CARGO_BIN_EXE_shoal");

fn lvs_cf(weight: u32, scheduler: &str, extra_server: bool) -> String {
    let extra = if extra_server {
        "    server c {\n        address = 198.51.100.13\n        port = 8080\n        active = 1\n    }\n"
    } else {
        ""
    };
    format!(
        "serial_no = 1\nprimary = 192.0.2.1\nnetwork = nat\n\
         virtual web {{\n    active = 1\n    address = 192.0.2.10 vip0\n    port = 80\n    scheduler = {scheduler}\n\
         \x20   server a {{\n        address = 198.51.100.11\n        port = 8080\n        active = 1\n    }}\n\
         \x20   server b {{\n        address = 198.51.100.12\n        port = 8080\n        active = 1\n        weight = {weight}\n    }}\n\
         {extra}}}\n"
    )
}

struct Daemon {
    child: Child,
    socket: PathBuf,
}

impl Daemon {
    fn start(dir: &Path) -> Daemon {
        let socket = dir.join("control.sock");
        #[allow(clippy::zombie_processes)] // Drop kills and waits for it.
        let child = Command::new(SHOAL)
            .args(["run", "--no-checks", "-c"])
            .arg(dir.join("lvs.cf"))
            .arg("--control")
            .arg(&socket)
            .env("SHOAL_LOG", "warn")
            .spawn()
            .expect("shoal run starts");
        for _ in 0..100 {
            if Command::new(SHOAL)
                .args(["status", "--control"])
                .arg(&socket)
                .output()
                .is_ok_and(|o| o.status.success())
            {
                return Daemon { child, socket };
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("shoal run did not answer on {}", socket.display());
    }

    fn shoal(&self, command: &str) -> Output {
        Command::new(SHOAL)
            .arg(command)
            .arg("--control")
            .arg(&self.socket)
            .output()
            .expect("shoal runs")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn ipvsadm() -> Vec<String> {
    run("ipvsadm", &["-Ln"])
        .lines()
        .skip(3)
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// What `shoal reload` printed, line by line; the reload must succeed.
fn reload_lines(daemon: &Daemon) -> Vec<String> {
    let reload = daemon.shoal("reload");
    assert!(reload.status.success(), "{}", text(&reload));
    String::from_utf8_lossy(&reload.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Active connections over every real server, as `ipvsadm -Ln` counts them.
fn active_connections() -> u32 {
    ipvsadm()
        .iter()
        .filter(|l| l.starts_with("->"))
        .filter_map(|l| l.split(' ').nth(4)?.parse::<u32>().ok())
        .sum()
}

fn setup() -> tempfile::TempDir {
    run("ip", &["link", "add", "vip0", "type", "dummy"]);
    run("ip", &["addr", "add", "192.0.2.10/32", "dev", "vip0"]);
    run("ip", &["addr", "add", "198.51.100.11/32", "dev", "vip0"]);
    run("ip", &["addr", "add", "198.51.100.12/32", "dev", "vip0"]);
    run("ip", &["link", "set", "vip0", "up"]);
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("lvs.cf"), lvs_cf(1, "wlc", false)).expect("write lvs.cf");
    dir
}

#[test]
#[ignore = "needs the lab kernel: scripts/lab-tests.sh runs it"]
fn run_programs_reloads_exactly_the_difference_and_stops_cleanly() {
    in_fresh_netns(|| {
        let dir = setup();
        let listener = std::net::TcpListener::bind("0.0.0.0:8080").expect("real servers listen");
        let mut daemon = Daemon::start(dir.path());
        assert_eq!(
            ipvsadm(),
            [
                "TCP 192.0.2.10:80 wlc",
                "-> 198.51.100.11:8080 Masq 1 0 0",
                "-> 198.51.100.12:8080 Masq 1 0 0"
            ]
        );
        let mut stream =
            std::net::TcpStream::connect("192.0.2.10:80").expect("connect through the VIP");
        let (mut server_side, _) = listener.accept().expect("accepted");
        let status = text(&daemon.shoal("status"));
        assert!(status.contains("TCP  192.0.2.10:80 wlc  # web"), "{status}");
        assert!(status.contains("# b"), "{status}");

        std::fs::write(dir.path().join("lvs.cf"), lvs_cf(5, "rr", true)).expect("write");
        let reload = daemon.shoal("reload");
        assert!(reload.status.success(), "{}", text(&reload));
        let lines: Vec<String> = String::from_utf8_lossy(&reload.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        assert_eq!(
            lines,
            [
                "change service TCP 192.0.2.10:80",
                "change real server 198.51.100.12:8080 of service TCP 192.0.2.10:80",
                "add real server 198.51.100.13:8080 to service TCP 192.0.2.10:80",
                "reloaded: serial_no 1, 3 operations",
            ]
        );
        assert_eq!(
            active_connections(),
            1,
            "the connection is still counted after the reload"
        );
        stream.write_all(b"ping").expect("write after the reload");
        let mut buffer = [0u8; 4];
        server_side
            .read_exact(&mut buffer)
            .expect("read after the reload");
        assert_eq!(&buffer, b"ping");
        drop((stream, server_side));

        // Persistence on, real server c removed, a second virtual server added; then the
        // second virtual server removed again.
        let api = "virtual api {\n    active = 1\n    address = 192.0.2.10 vip0\n    port = 8443\n\
                   \x20   server a {\n        address = 198.51.100.11\n        active = 1\n    }\n}\n";
        let persistent =
            lvs_cf(5, "rr", false).replace("scheduler = rr", "scheduler = rr\n    persistent = 60");
        std::fs::write(dir.path().join("lvs.cf"), format!("{persistent}{api}")).expect("write");
        assert_eq!(
            reload_lines(&daemon),
            [
                "change service TCP 192.0.2.10:80",
                "delete real server 198.51.100.13:8080 from service TCP 192.0.2.10:80",
                "add service TCP 192.0.2.10:8443",
                "add real server 198.51.100.11:8443 to service TCP 192.0.2.10:8443",
                "reloaded: serial_no 1, 4 operations",
            ]
        );
        assert!(
            ipvsadm().contains(&"TCP 192.0.2.10:80 rr persistent 60".to_string()),
            "{:?}",
            ipvsadm()
        );
        std::fs::write(dir.path().join("lvs.cf"), persistent).expect("write");
        assert_eq!(
            reload_lines(&daemon),
            [
                "delete service TCP 192.0.2.10:8443",
                "reloaded: serial_no 1, 1 operations"
            ]
        );
        // SIGHUP reloads too (what `systemctl reload` and Piranha's pulse did).
        let weight_seven =
            lvs_cf(7, "rr", false).replace("scheduler = rr", "scheduler = rr\n    persistent = 60");
        std::fs::write(dir.path().join("lvs.cf"), weight_seven).expect("write");
        Command::new("kill")
            .args(["-HUP", &daemon.child.id().to_string()])
            .status()
            .expect("SIGHUP");
        let reloaded = (0..50).any(|_| {
            std::thread::sleep(Duration::from_millis(100));
            ipvsadm()
                .iter()
                .any(|l| l.starts_with("-> 198.51.100.12:8080 Masq 7 "))
        });
        assert!(reloaded, "SIGHUP applied the new weight: {:?}", ipvsadm());
        let before = ipvsadm();
        assert_eq!(before[0], "TCP 192.0.2.10:80 rr persistent 60");

        std::fs::write(
            dir.path().join("lvs.cf"),
            "virtual web {\n  weight = 3\n}\n",
        )
        .expect("write");
        let refused = daemon.shoal("reload");
        assert!(!refused.status.success());
        assert!(
            text(&refused)
                .contains("not reloaded: the running configuration (serial_no 1) is kept"),
            "{}",
            text(&refused)
        );
        assert_eq!(ipvsadm(), before, "the table is unchanged");

        Command::new("kill")
            .arg(daemon.child.id().to_string())
            .status()
            .expect("SIGTERM");
        assert!(daemon.child.wait().expect("exits").success());
        assert!(
            ipvsadm().is_empty(),
            "stopping removes what shoal added: {:?}",
            ipvsadm()
        );
    });
}

#[test]
#[ignore = "needs the lab kernel: scripts/lab-tests.sh runs it"]
fn a_restart_after_a_crash_adopts_the_table_and_keeps_connections() {
    in_fresh_netns(|| {
        let dir = setup();
        let listener =
            std::net::TcpListener::bind("0.0.0.0:8080").expect("both real servers listen");
        let mut first = Daemon::start(dir.path());
        let mut stream =
            std::net::TcpStream::connect("192.0.2.10:80").expect("connect through the VIP");
        let (mut server_side, _) = listener.accept().expect("accepted");
        first.child.kill().expect("kill -9");
        first.child.wait().expect("reaped");
        run("ipvsadm", &["-A", "-t", "192.0.2.99:80", "-s", "rr"]);

        let second = Daemon::start(dir.path());
        let table = ipvsadm();
        assert!(
            !table.iter().any(|l| l.contains("192.0.2.99")),
            "a service not in lvs.cf is removed: {table:?}"
        );
        assert_eq!(
            active_connections(),
            1,
            "the connection is still counted: {table:?}"
        );
        stream.write_all(b"ping").expect("write after the restart");
        let mut buffer = [0u8; 4];
        server_side
            .read_exact(&mut buffer)
            .expect("read after the restart");
        assert_eq!(&buffer, b"ping");
        let reload = second.shoal("reload");
        assert_eq!(
            String::from_utf8_lossy(&reload.stdout),
            "reloaded: serial_no 1, 0 operations\n"
        );
    });
}

#[test]
#[ignore = "needs the lab kernel: scripts/lab-tests.sh runs it"]
fn the_vip_is_plumbed_with_its_label_serves_and_is_removed_at_stop() {
    in_fresh_netns(|| {
        run("ip", &["link", "add", "vip0", "type", "dummy"]);
        run("ip", &["addr", "add", "198.51.100.11/32", "dev", "vip0"]);
        run("ip", &["link", "set", "vip0", "up"]);
        let dir = tempfile::tempdir().expect("temp dir");
        let config = "primary = 192.0.2.1\nnetwork = nat\nvirtual web {\n    active = 1\n    \
                      address = 192.0.2.20 vip0:1\n    port = 80\n    server a {\n        \
                      address = 198.51.100.11\n        port = 8080\n        active = 1\n    }\n}\n";
        std::fs::write(dir.path().join("lvs.cf"), config).expect("write lvs.cf");
        let listener =
            std::net::TcpListener::bind("198.51.100.11:8080").expect("real server listens");
        let mut daemon = Daemon::start(dir.path());
        let shown = run("ip", &["-4", "addr", "show", "dev", "vip0"]);
        assert!(
            shown.contains("inet 192.0.2.20/32 scope global vip0:1"),
            "{shown}"
        );
        let mut stream =
            std::net::TcpStream::connect("192.0.2.20:80").expect("connect to the plumbed VIP");
        let (mut server_side, _) = listener.accept().expect("the real server gets it");
        stream.write_all(b"ping").expect("write");
        let mut buffer = [0u8; 4];
        server_side.read_exact(&mut buffer).expect("read");
        assert_eq!(&buffer, b"ping");
        drop((stream, server_side));
        Command::new("kill")
            .arg(daemon.child.id().to_string())
            .status()
            .expect("SIGTERM");
        assert!(daemon.child.wait().expect("exits").success());
        let shown = run("ip", &["-4", "addr", "show", "dev", "vip0"]);
        assert!(
            !shown.contains("192.0.2.20"),
            "the VIP shoal added is removed: {shown}"
        );
        assert!(
            shown.contains("198.51.100.11"),
            "an address shoal did not add stays: {shown}"
        );
    });
}

#[test]
#[ignore = "needs the lab kernel: scripts/lab-tests.sh runs it"]
fn stop_start_and_restart_take_the_service_down_and_up_while_the_daemon_stays() {
    in_fresh_netns(|| {
        let dir = setup();
        let config = lvs_cf(1, "wlc", false).replace("192.0.2.10 vip0", "192.0.2.30 vip0:1");
        std::fs::write(dir.path().join("lvs.cf"), config).expect("write lvs.cf");
        let daemon = Daemon::start(dir.path());
        let vip_shown = || run("ip", &["-4", "addr", "show", "dev", "vip0"]).contains("192.0.2.30");
        let served = || ipvsadm().iter().any(|l| l.starts_with("TCP 192.0.2.30:80"));
        assert!(served() && vip_shown(), "{:?}", ipvsadm());

        let stop = daemon.shoal("stop");
        assert!(stop.status.success(), "{}", text(&stop));
        assert!(text(&stop).contains("stopped"), "{}", text(&stop));
        assert!(!served(), "stop removes the service: {:?}", ipvsadm());
        assert!(!vip_shown(), "stop removes the VIP");
        let status = text(&daemon.shoal("status"));
        assert!(status.contains("shoal: stopped"), "{status}");
        assert!(
            !daemon.shoal("stop").status.success(),
            "a second stop is refused"
        );

        let start = daemon.shoal("start");
        assert!(start.status.success(), "{}", text(&start));
        assert!(
            served() && vip_shown(),
            "start brings them back: {:?}",
            ipvsadm()
        );
        assert!(text(&daemon.shoal("status")).contains("shoal: active"));

        let restart = daemon.shoal("restart");
        assert!(restart.status.success(), "{}", text(&restart));
        assert!(text(&restart).contains("active"), "{}", text(&restart));
        assert!(served() && vip_shown(), "{:?}", ipvsadm());
    });
}
