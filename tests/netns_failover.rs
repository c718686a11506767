//! `shoal run` on two directors in network namespaces (host kernel, no IPVS, so with
//! `--no-ipvs`), a client on the same bridge: the primary holds the VIP; when it fails as
//! a machine fails (its link down and its shoal killed with `kill -9` at the same moment)
//! the backup takes the VIP within `deadtime` + 100 ms and the client's neighbour entry
//! moves to the backup's MAC, for the IPv4 VIP (gratuitous ARP) and the IPv6 VIP (unsolicited
//! NA) both; the primary returns and takes it back (`preempt = 1`) or
//! does not (`preempt = 0`).
//!
//! Needs root, veth and bridge. Namespaces are deleted when the test ends, panic or not;
//! addresses are from 192.0.2.0/24 and 2001:db8::/64.

mod common;
mod netns_support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use netns_support::Namespaces;

const SHOAL: &str = env!("CARGO_BIN_EXE_shoal");
const VIP: &str = "192.0.2.10";
const VIP6: &str = "2001:db8::10";

fn lvs_cf(preempt: bool) -> String {
    format!(
        "serial_no = 1\nprimary = 192.0.2.1\nbackup = 192.0.2.2\nbackup_active = 1\n\
         keepalive = 0.1\ndeadtime = 0.3\npreempt = {}\nnetwork = direct\nmonitor_links = 1\n\
         virtual web {{\n    active = 1\n    address = {VIP} eth0:1\n    port = 80\n\
         \x20   server a {{\n        address = 192.0.2.80\n        active = 1\n    }}\n}}\n\
         virtual web6 {{\n    active = 1\n    address = {VIP6} eth0\n    vip_nmask = 64\n\
         \x20   port = 80\n    server a {{\n        address = 2001:db8::80\n        active = 1\n    }}\n}}\n",
        u8::from(preempt)
    )
}

/// A director: its namespace role, its files, and its `shoal run` while it runs.
struct Director {
    role: &'static str,
    dir: PathBuf,
    child: Option<Child>,
}

impl Director {
    fn new(role: &'static str, root: &Path, preempt: bool) -> Director {
        let dir = root.join(role);
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("lvs.cf"), lvs_cf(preempt)).expect("lvs.cf");
        let key = dir.join("peer.key");
        std::fs::write(&key, "a test key of more than sixteen bytes\n").expect("key");
        std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .expect("key mode");
        let settings = format!("[heartbeat]\nkey_file = \"{}\"\n", key.display());
        std::fs::write(dir.join("shoal.toml"), settings).expect("shoal.toml");
        Director {
            role,
            dir,
            child: None,
        }
    }

    fn start(&mut self, lan: &Namespaces) {
        let log = std::fs::File::create(self.dir.join("shoal.log")).expect("log");
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                lan.name(self.role),
                SHOAL,
                "run",
                "--no-ipvs",
            ])
            .arg("-c")
            .arg(self.dir.join("lvs.cf"))
            .arg("--settings")
            .arg(self.dir.join("shoal.toml"))
            .arg("--control")
            .arg(self.dir.join("control.sock"))
            .stderr(log)
            .spawn()
            .expect("shoal run starts");
        self.child = Some(child);
    }

    /// `kill -9`: no last heartbeat, nothing removed.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("shoal.log")).unwrap_or_default()
    }

    /// shoal.toml's `restart_grace`, for the next start.
    fn set_restart_grace(&self, seconds: u64) {
        let key = self.dir.join("peer.key");
        let settings = format!(
            "[heartbeat]\nkey_file = \"{}\"\nrestart_grace = {seconds}\n",
            key.display()
        );
        std::fs::write(self.dir.join("shoal.toml"), settings).expect("shoal.toml");
    }

    /// `shoal status --json`'s failover part.
    fn failover(&self) -> serde_json::Value {
        common::failover_status(SHOAL, &self.dir.join("control.sock"))
    }

    fn shoal_reload(&self) {
        let _ = Command::new(SHOAL)
            .args(["reload", "--control"])
            .arg(self.dir.join("control.sock"))
            .output();
    }
}

impl Drop for Director {
    fn drop(&mut self) {
        self.kill();
    }
}

fn lan() -> Namespaces {
    let lan = Namespaces::new(&["sw", "n1", "n2", "c"]);
    lan.bridge(
        "sw",
        "br0",
        &[
            ("n1", "eth0", "192.0.2.1/24"),
            ("n2", "eth0", "192.0.2.2/24"),
            ("c", "eth0", "192.0.2.50/24"),
        ],
    );
    for (role, v6) in [
        ("n1", "2001:db8::1/64"),
        ("n2", "2001:db8::2/64"),
        ("c", "2001:db8::50/64"),
    ] {
        lan.ip(role, &["-6", "addr", "add", v6, "dev", "eth0", "nodad"]);
    }
    lan
}

fn holds_vip(lan: &Namespaces, role: &str) -> bool {
    lan.ip(role, &["-4", "addr", "show", "dev", "eth0"])
        .contains(&format!("inet {VIP}/"))
}

fn mac(lan: &Namespaces, role: &str) -> String {
    let link = lan.ip(role, &["link", "show", "eth0"]);
    link.split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .expect("a MAC")
        .to_string()
}

fn client_entry(lan: &Namespaces) -> String {
    lan.ip("c", &["-4", "neigh", "show", VIP, "dev", "eth0"])
}

fn client_entry6(lan: &Namespaces) -> String {
    lan.ip("c", &["-6", "neigh", "show", VIP6, "dev", "eth0"])
}

fn holds_vip6(lan: &Namespaces, role: &str) -> bool {
    lan.ip(role, &["-6", "addr", "show", "dev", "eth0"])
        .contains(&format!("inet6 {VIP6}/"))
}

fn wait(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "{what}: not after {limit:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
    started.elapsed()
}

/// Both directors up; the primary (n1) holds the VIP and the client reaches it there.
fn elect(lan: &Namespaces, n1: &mut Director, n2: &mut Director) {
    n1.start(lan);
    n2.start(lan);
    let limit = Duration::from_secs(10);
    wait("the primary holds the VIP", limit, || holds_vip(lan, "n1"));
    std::thread::sleep(Duration::from_millis(500));
    assert!(holds_vip(lan, "n1"), "{}", n1.log());
    assert!(!holds_vip(lan, "n2"), "both hold the VIP: {}", n2.log());
    // The client talks to the VIP, so it has an entry (with the default arp_accept = 0 a
    // gratuitous ARP only updates an entry, it never creates one).
    // Likewise for IPv6: an unsolicited NA only updates an existing entry.
    lan.enter("c", || {
        for vip in [VIP, VIP6] {
            let vip = std::net::SocketAddr::new(vip.parse().expect("VIP"), 9);
            let _ = std::net::TcpStream::connect_timeout(&vip, Duration::from_secs(2));
        }
    });
    assert!(holds_vip6(lan, "n1"), "{}", n1.log());
    for entry in [client_entry(lan), client_entry6(lan)] {
        assert!(entry.contains(&mac(lan, "n1")), "{entry}");
    }
}

/// A LAN with both directors started and the primary (n1) elected; the temporary
/// directory holds their files for as long as the test keeps it.
fn elected_pair(preempt: bool) -> (Namespaces, tempfile::TempDir, Director, Director) {
    elected_pair_with(preempt, None)
}

/// [`elected_pair`], with the backup's `restart_grace` set to `grace` seconds when given.
fn elected_pair_with(
    preempt: bool,
    grace: Option<u64>,
) -> (Namespaces, tempfile::TempDir, Director, Director) {
    let lan = lan();
    let root = tempfile::tempdir().expect("tempdir");
    let mut n1 = Director::new("n1", root.path(), preempt);
    let mut n2 = Director::new("n2", root.path(), preempt);
    if let Some(grace) = grace {
        n2.set_restart_grace(grace);
    }
    elect(&lan, &mut n1, &mut n2);
    (lan, root, n1, n2)
}

/// Waits until the primary holds the VIP and the backup no longer does.
fn primary_takes_the_vip_back(lan: &Namespaces) {
    wait(
        "the primary takes the VIP back",
        Duration::from_secs(10),
        || holds_vip(lan, "n1") && !holds_vip(lan, "n2"),
    );
}

/// The primary fails as a machine does: link down and shoal killed at once.
fn fail_primary(lan: &Namespaces, n1: &mut Director) -> Instant {
    let failed = Instant::now();
    lan.ip("n1", &["link", "set", "eth0", "down"]);
    n1.kill();
    failed
}

#[test]
fn the_vip_moves_to_the_backup_within_deadtime_and_back_to_the_returning_primary() {
    let (lan, _root, mut n1, n2) = elected_pair(true);

    let failed = fail_primary(&lan, &mut n1);
    wait("the backup holds the VIP", Duration::from_secs(3), || {
        holds_vip(&lan, "n2")
    });
    let took_over = failed.elapsed();
    let backup_mac = mac(&lan, "n2");
    wait(
        "the client's entry moved to the backup",
        Duration::from_secs(3),
        || client_entry(&lan).contains(&backup_mac),
    );
    let announced = failed.elapsed();
    wait(
        "the client's IPv6 entry moved to the backup",
        Duration::from_secs(3),
        || client_entry6(&lan).contains(&backup_mac),
    );
    let announced6 = failed.elapsed();
    assert!(holds_vip6(&lan, "n2"), "{}", n2.log());
    println!(
        "failover: the backup held the VIP {took_over:?} after the failure, the client's entry moved after {announced:?}, its IPv6 entry after {announced6:?} (keepalive 0.1 s, deadtime 0.3 s)"
    );
    assert!(
        took_over <= Duration::from_millis(400),
        "took {took_over:?}: {}",
        n2.log()
    );

    lan.ip("n1", &["link", "set", "eth0", "up"]);
    n1.start(&lan);
    primary_takes_the_vip_back(&lan);
    let primary_mac = mac(&lan, "n1");
    wait(
        "the client's entry moved back",
        Duration::from_secs(3),
        || client_entry(&lan).contains(&primary_mac),
    );
    wait(
        "the client's IPv6 entry moved back",
        Duration::from_secs(3),
        || client_entry6(&lan).contains(&primary_mac) && !holds_vip6(&lan, "n2"),
    );
}

#[test]
fn without_preempt_the_returning_primary_leaves_the_vip_with_the_backup() {
    let (lan, _root, mut n1, n2) = elected_pair(false);
    fail_primary(&lan, &mut n1);
    wait("the backup holds the VIP", Duration::from_secs(3), || {
        holds_vip(&lan, "n2")
    });
    lan.ip("n1", &["link", "set", "eth0", "up"]);
    n1.start(&lan);
    std::thread::sleep(Duration::from_secs(2));
    assert!(holds_vip(&lan, "n2"), "{}", n2.log());
    assert!(!holds_vip(&lan, "n1"), "{}", n1.log());
}

#[test]
fn shoal_stop_hands_the_vip_to_the_peer_and_start_takes_it_back() {
    let (lan, _root, n1, _n2) = elected_pair(true);
    let control = n1.dir.join("control.sock");
    let shoal = |command: &str| {
        let output = Command::new(SHOAL)
            .args([command, "--control"])
            .arg(&control)
            .output()
            .expect("shoal");
        String::from_utf8_lossy(&output.stdout).to_string()
    };
    let status = shoal("status");
    assert!(status.contains("shoal: active"), "{status}");
    assert!(
        status.contains("Failover: primary director, shoal heartbeat, authenticated"),
        "{status}"
    );
    assert!(
        status.contains("peer 192.0.2.2: alive, serial_no 1, running the same lvs.cf"),
        "{status}"
    );
    assert!(shoal("stop").contains("stopped"));
    let handed = wait("the peer holds the VIP", Duration::from_secs(2), || {
        holds_vip(&lan, "n2") && !holds_vip(&lan, "n1")
    });
    println!("shoal stop: the peer held the VIP after {handed:?}");
    assert!(shoal("status").contains("shoal: stopped"));
    shoal("start");
    wait("the primary takes it back", Duration::from_secs(5), || {
        holds_vip(&lan, "n1") && !holds_vip(&lan, "n2")
    });
}

#[test]
fn a_link_set_down_deactivates_the_node_and_its_return_reactivates_it() {
    let (lan, _root, n1, _n2) = elected_pair(true);
    let down = Instant::now();
    lan.ip("n1", &["link", "set", "eth0", "down"]);
    wait(
        "the primary gives the VIP up",
        Duration::from_secs(2),
        || !holds_vip(&lan, "n1"),
    );
    println!(
        "link down: the primary let the VIP go after {:?}",
        down.elapsed()
    );
    wait("the backup holds the VIP", Duration::from_secs(3), || {
        holds_vip(&lan, "n2")
    });
    assert!(n1.log().contains("link eth0 is down"), "{}", n1.log());
    lan.ip("n1", &["link", "set", "eth0", "up"]);
    primary_takes_the_vip_back(&lan);
}

#[test]
fn an_edit_pushed_to_the_peer_is_applied_there_and_an_older_one_is_refused() {
    let (lan, _root, n1, n2) = elected_pair(true);
    let edited = lvs_cf(true)
        .replace("serial_no = 1", "serial_no = 2")
        .replace("    port = 80\n", "    port = 8080\n");
    std::fs::write(n1.dir.join("lvs.cf"), &edited).expect("edit on n1");
    let push = |director: &Director| {
        let lvs_cf = director.dir.join("lvs.cf");
        let settings = director.dir.join("shoal.toml");
        let (lvs_cf, settings) = (
            lvs_cf.to_str().expect("path"),
            settings.to_str().expect("path"),
        );
        lan.exec(
            director.role,
            SHOAL,
            &["sync", "push", "-c", lvs_cf, "--settings", settings],
        )
    };
    let pushed = push(&n1);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&pushed.stdout),
        String::from_utf8_lossy(&pushed.stderr)
    );
    assert!(pushed.status.success(), "{said}");
    assert!(said.contains("applied serial_no 2"), "{said}");
    assert_eq!(
        std::fs::read_to_string(n2.dir.join("lvs.cf")).expect("n2's lvs.cf"),
        edited
    );
    let status = |director: &Director| {
        let output = Command::new(SHOAL)
            .args(["status", "--control"])
            .arg(director.dir.join("control.sock"))
            .output()
            .expect("shoal status");
        String::from_utf8_lossy(&output.stdout).to_string()
    };
    wait(
        "n2 reloaded the pushed file",
        Duration::from_secs(3),
        || status(&n2).contains("serial_no 2"),
    );
    wait(
        "n1 sees that both run the same file",
        Duration::from_secs(3),
        || {
            n1.shoal_reload();
            status(&n1).contains("running the same lvs.cf")
        },
    );

    // n2 pushes back an older file: refused, n1's file unchanged.
    std::fs::write(n2.dir.join("lvs.cf"), lvs_cf(true)).expect("older on n2");
    let refused = push(&n2);
    let said = String::from_utf8_lossy(&refused.stderr).to_string();
    assert!(!refused.status.success(), "{said}");
    assert!(
        said.contains("refused: older serial_no 1, this node has 2"),
        "{said}"
    );
    assert_eq!(
        std::fs::read_to_string(n1.dir.join("lvs.cf")).expect("n1's lvs.cf"),
        edited
    );
}

#[test]
fn the_daemon_pushes_its_running_file_when_asked_on_the_control_socket() {
    use shoal::control::{Request, Response, request};
    let (_lan, _root, n1, n2) = elected_pair(true);
    let edited = lvs_cf(true)
        .replace("serial_no = 1", "serial_no = 3")
        .replace("    port = 80\n", "    port = 8081\n");
    std::fs::write(n1.dir.join("lvs.cf"), &edited).expect("edit on n1");
    n1.shoal_reload();
    // What the web UI's "Sync to backup" sends: the daemon pushes what it runs.
    let push = || {
        request(
            &n1.dir.join("control.sock"),
            &Request::Push,
            Duration::from_secs(20),
        )
        .expect("the daemon answers")
    };
    match push() {
        Response::Pushed {
            applied: true,
            message,
            to,
        } => {
            assert!(message.contains("applied serial_no 3"), "{message}");
            assert_eq!(to, "192.0.2.2:539");
        }
        other => panic!("not applied: {other:?}\n{}", n1.log()),
    }
    assert_eq!(
        std::fs::read_to_string(n2.dir.join("lvs.cf")).expect("n2's lvs.cf"),
        edited
    );
    // Asked again, the peer already has that serial: refused, and said so.
    let again = push();
    assert!(
        matches!(&again, Response::Pushed { applied: false, message, .. } if message.contains("refused")),
        "{again:?}"
    );
}

/// `GET /metrics` on the default `127.0.0.1:9636` inside a director's namespace.
fn scrape(lan: &Namespaces, role: &str) -> String {
    use std::io::{Read, Write};
    lan.enter(role, || {
        let mut stream =
            std::net::TcpStream::connect("127.0.0.1:9636").expect("the metrics listener");
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .expect("request");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("response");
        response
    })
}

#[test]
fn metrics_show_each_node_its_role_the_live_peer_and_the_heartbeats() {
    let (lan, _root, _n1, _n2) = elected_pair(true);
    for (role, state, director) in [("primary", "active", "n1"), ("backup", "inactive", "n2")] {
        let text = scrape(&lan, director);
        for series in [
            format!("shoal_role{{role=\"{role}\"}} 1\n"),
            format!("shoal_state{{state=\"{state}\"}} 1\n"),
            "shoal_peer_alive 1\n".to_string(),
            "shoal_peer_config_match 1\n".to_string(),
            "shoal_heartbeat_rejected_total{channel=\"public\",reason=\"tag\"} 0\n".to_string(),
        ] {
            assert!(
                text.contains(&series),
                "{director}: no {series:?} in\n{text}"
            );
        }
        let accepted = text
            .lines()
            .find_map(|l| l.strip_prefix("shoal_heartbeat_accepted_total{channel=\"public\"} "))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{director}: no accepted heartbeats in\n{text}"));
        assert!(accepted >= 3, "{director}: {accepted} heartbeats accepted");
    }
}

/// A node that gives the VIP up stops announcing it. The backup, started alone, takes the
/// VIP and begins its burst of announcements (garp_count 5, one a second); the primary
/// starts and takes the VIP back (preempt), announcing it in turn. The client's entry
/// moves to the primary and stays there: the rest of the backup's burst, which would
/// tell the network for four more seconds that the VIP is at the backup's MAC (where
/// nothing answers for it any more), is not sent.
#[test]
fn a_node_that_gives_the_vip_up_stops_announcing_it() {
    let lan = lan();
    let root = tempfile::tempdir().expect("tempdir");
    let mut n1 = Director::new("n1", root.path(), true);
    let mut n2 = Director::new("n2", root.path(), true);
    n2.start(&lan);
    wait(
        "the backup, alone, holds the VIP",
        Duration::from_secs(10),
        || holds_vip(&lan, "n2"),
    );
    lan.enter("c", || {
        let vip = std::net::SocketAddr::new(VIP.parse().expect("VIP"), 9);
        let _ = std::net::TcpStream::connect_timeout(&vip, Duration::from_secs(2));
    });
    assert!(
        client_entry(&lan).contains(&mac(&lan, "n2")),
        "{}",
        client_entry(&lan)
    );
    n1.start(&lan);
    primary_takes_the_vip_back(&lan);
    let primary_mac = mac(&lan, "n1");
    wait(
        "the client's entry moves to the primary",
        Duration::from_secs(3),
        || client_entry(&lan).contains(&primary_mac),
    );
    let watched = Instant::now();
    while watched.elapsed() < Duration::from_millis(4500) {
        assert!(
            client_entry(&lan).contains(&primary_mac),
            "{:?} after the move, the client's entry is {} (the primary's MAC is {primary_mac}): the backup still announces the VIP\n--- the backup's log:\n{}",
            watched.elapsed(),
            client_entry(&lan),
            n2.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        n2.log().contains("announced 192.0.2.10 on eth0 (1/5)"),
        "{}",
        n2.log()
    );
}

/// Watches, every few milliseconds for `period`, that the primary keeps the VIP, the
/// backup never takes it, and the client's entry stays on the primary's MAC.
fn primary_keeps_serving(lan: &Namespaces, period: Duration, n2: &Director) -> usize {
    let primary_mac = mac(lan, "n1");
    let started = Instant::now();
    let mut samples = 0;
    while started.elapsed() < period {
        assert!(holds_vip(lan, "n1"), "the primary lost the VIP");
        assert!(!holds_vip(lan, "n2"), "the backup took over: {}", n2.log());
        let entry = client_entry(lan);
        assert!(entry.contains(&primary_mac), "the client moved: {entry}");
        samples += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    samples
}

/// `kill -9` of the active node's shoal alone (its links up, its kernel serving): the
/// backup sees the heartbeat stop but the VIP still answering its ARP probes, and holds
/// off; the primary's shoal, started again, keeps the VIP it finds and resumes; the VIP
/// never leaves the primary and the client's entry never moves.
#[test]
fn a_killed_shoal_is_not_taken_over_while_its_kernel_serves_and_resumes_when_restarted() {
    let (lan, _root, mut n1, n2) = elected_pair_with(true, Some(10));
    n1.kill();
    let samples = primary_keeps_serving(&lan, Duration::from_secs(2), &n2);
    let hold = &n2.failover()["hold"];
    assert_eq!(hold["holding"], true, "{hold}\n{}", n2.log());
    assert!(hold["probes"].as_u64().unwrap_or(0) >= 10, "{hold}");
    let text = Command::new(SHOAL)
        .args(["status", "--control"])
        .arg(n2.dir.join("control.sock"))
        .output()
        .expect("shoal status");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("HOLDING OFF the takeover"), "{text}");
    assert!(
        n2.log()
            .contains("its kernel is serving, so its shoal alone is down"),
        "{}",
        n2.log()
    );

    n1.start(&lan);
    let resumed = Instant::now();
    wait("the primary resumes", Duration::from_secs(10), || {
        n1.failover()["state"]["active"] == true
    });
    println!(
        "kill -9 of shoal alone: {samples} samples over 2 s with the VIP on the primary and the client's entry unchanged; restarted, the primary resumed after {:?}",
        resumed.elapsed()
    );
    primary_keeps_serving(&lan, Duration::from_millis(500), &n2);
    let log = n1.log();
    assert!(
        log.contains("keeping address 192.0.2.10/32 on eth0:1"),
        "{log}"
    );
    assert!(log.contains("resuming"), "{log}");
    assert!(!log.contains("removed address"), "{log}");
    let hold = &n2.failover()["hold"];
    assert_eq!(hold["holding"], false, "{hold}");
    assert_eq!(n2.failover()["peer"]["alive"], true);
}

/// A shoal that does not come back within `restart_grace` is taken over, VIPs answering
/// or not.
#[test]
fn a_killed_shoal_that_stays_down_is_taken_over_after_restart_grace() {
    let (lan, _root, mut n1, n2) = elected_pair_with(true, Some(1));
    let killed = Instant::now();
    n1.kill();
    wait("the backup takes over", Duration::from_secs(5), || {
        holds_vip(&lan, "n2")
    });
    let took_over = killed.elapsed();
    println!("restart_grace = 1: the backup took over {took_over:?} after the kill");
    assert!(
        took_over >= Duration::from_millis(900),
        "{took_over:?}: {}",
        n2.log()
    );
    let backup_mac = mac(&lan, "n2");
    wait("the client's entry moved", Duration::from_secs(3), || {
        client_entry(&lan).contains(&backup_mac)
    });
    assert!(
        n2.log().contains("stayed silent for restart_grace"),
        "{}",
        n2.log()
    );
}
