//! Two directors with their own IPVS tables, a client and two real servers on one bridge,
//! each in its own network namespace inside the lab guest, for the failover tests
//! (`tests/kernel_failover.rs`) and the failover benchmark (`examples/failover_gap.rs`).
//!
//! ```text
//!   c 192.0.2.50 ----+
//!   d1 192.0.2.1 ----+  br0 (namespace sw)      VIP 192.0.2.10: on the active director's
//!   d2 192.0.2.2 ----+                          eth0, and on every real server's lo
//!   rs1 192.0.2.11 --+                          (direct routing, arp_ignore/arp_announce)
//!   rs2 192.0.2.12 --+
//! ```
//!
//! Direct routing: the client reaches the VIP at the active director's MAC, that
//! director's IPVS sends the packets on to a real server's MAC, and the real server
//! answers the client directly from the VIP. Every real server runs busybox httpd on
//! port 80 (answering its name) and, when asked, an echo server on port 7000.
//!
//! The client's traffic comes from [`Prober`] (short HTTP fetches through the VIP, one
//! started every period whatever the earlier ones do, each with its own timeout) and
//! [`Conversation`] (one long-lived TCP connection exchanging a line every 100 ms). A
//! [`GarpWatch`] timestamps the gratuitous ARPs for the VIP as the client receives them.
//!
//! Everything is dropped in order: processes are killed and waited for (by their own
//! ids), threads are stopped and joined, then the namespaces are deleted.

#![allow(dead_code)]

#[path = "../netns_support/mod.rs"]
mod netns_support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use netns_support::{Namespaces, enter};

/// The service address.
pub const VIP: &str = "192.0.2.10";
/// The client's address.
pub const CLIENT: &str = "192.0.2.50";
/// The directors: namespace and address (`primary`, `backup`).
pub const DIRECTORS: [(&str, &str); 2] = [("d1", "192.0.2.1"), ("d2", "192.0.2.2")];
/// The real servers: namespace and address.
pub const REAL_SERVERS: [(&str, &str); 2] = [("rs1", "192.0.2.11"), ("rs2", "192.0.2.12")];
/// The HTTP service's port, and the echo service's.
pub const HTTP_PORT: u16 = 80;
pub const ECHO_PORT: u16 = 7000;

/// A child process killed (SIGKILL to its process group) and reaped when dropped.
pub struct Process {
    child: Child,
}

impl Process {
    /// Starts `program args...` inside the namespace `ns` (`ip netns exec`, which execs
    /// in place, so the child's id is the program's), in a process group of its own,
    /// with its output in `log`.
    pub fn spawn(lan: &Namespaces, ns: &str, program: &str, args: &[&str], log: &Path) -> Process {
        let out = std::fs::File::create(log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let err = out.try_clone().expect("log file");
        let child = Command::new("ip")
            .args(["netns", "exec", lan.name(ns), program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program} in {ns}: {e}"));
        Process { child }
    }

    /// Sends SIGKILL to the process and to everything in its group (keepalived's VRRP
    /// child); [`Self::kill`] also waits for it.
    pub fn signal_kill(&mut self) {
        if self.exited() {
            return;
        }
        let id = i32::try_from(self.child.id()).expect("pid");
        // SAFETY: signals our own child's process group, which it leads (process_group(0)),
        // and which cannot have been reused: the child is not reaped yet.
        unsafe { libc::kill(-id, libc::SIGKILL) };
    }

    /// `kill -9` of the process and its group, then waits for it.
    pub fn kill(&mut self) {
        self.signal_kill();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether it has exited.
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The namespaces, the bridge, the real servers' addresses and httpds.
pub struct Lan {
    /// Echo servers and httpds, stopped before the namespaces go.
    echoes: Vec<EchoServer>,
    httpds: Vec<Process>,
    /// Where the real servers' pages and the logs are.
    pub dir: tempfile::TempDir,
    pub ns: Namespaces,
}

impl Lan {
    /// The topology above, with every httpd answering; `echo` also starts the echo
    /// servers.
    pub fn new(echo: bool) -> Lan {
        let ns = Namespaces::new(&["sw", "d1", "d2", "c", "rs1", "rs2"]);
        let mut nodes = vec![("c", "eth0", "192.0.2.50/24")];
        let prefixed: Vec<(String, String)> = DIRECTORS
            .iter()
            .chain(REAL_SERVERS.iter())
            .map(|(role, address)| (role.to_string(), format!("{address}/24")))
            .collect();
        for (role, address) in &prefixed {
            nodes.push((role.as_str(), "eth0", address.as_str()));
        }
        ns.bridge("sw", "br0", &nodes);
        let dir = tempfile::tempdir().expect("temp dir");
        let mut lan = Lan {
            echoes: Vec::new(),
            httpds: Vec::new(),
            dir,
            ns,
        };
        for (role, _) in REAL_SERVERS {
            // The VIP on lo, never answered for nor announced on eth0.
            lan.sysctl(role, "net/ipv4/conf/all/arp_ignore", "1");
            lan.sysctl(role, "net/ipv4/conf/all/arp_announce", "2");
            lan.ns
                .ip(role, &["addr", "add", &format!("{VIP}/32"), "dev", "lo"]);
            let root = lan.dir.path().join(role);
            std::fs::create_dir_all(&root).expect("httpd root");
            std::fs::write(root.join("index.html"), format!("{role}\n")).expect("page");
            let root = root.to_str().expect("path").to_string();
            let log = lan.dir.path().join(format!("httpd-{role}.log"));
            let httpd = Process::spawn(
                &lan.ns,
                role,
                "httpd",
                &["-f", "-p", &HTTP_PORT.to_string(), "-h", &root],
                &log,
            );
            lan.httpds.push(httpd);
            if echo {
                let echo = EchoServer::start(&lan.ns, role);
                lan.echoes.push(echo);
            }
        }
        lan
    }

    /// Writes `/proc/sys/KEY` inside the namespace `role`.
    pub fn sysctl(&self, role: &str, key: &str, value: &str) {
        let path = format!("/proc/sys/{key}");
        self.ns.enter(role, || {
            std::fs::write(&path, value).unwrap_or_else(|e| panic!("{path} in {role}: {e}"))
        });
    }

    /// Whether the node has the VIP on its eth0.
    pub fn holds_vip(&self, role: &str) -> bool {
        self.ns
            .ip(role, &["-4", "addr", "show", "dev", "eth0"])
            .contains(&format!("inet {VIP}/"))
    }

    /// The node's eth0 MAC.
    pub fn mac(&self, role: &str) -> String {
        let link = self.ns.ip(role, &["link", "show", "eth0"]);
        link.split_whitespace()
            .skip_while(|w| *w != "link/ether")
            .nth(1)
            .expect("a MAC")
            .to_string()
    }

    /// The client's neighbour entry for the VIP.
    pub fn client_entry(&self) -> String {
        self.ns
            .ip("c", &["-4", "neigh", "show", VIP, "dev", "eth0"])
    }

    /// `ipvsadm ARGS...` inside a director's namespace, its standard output.
    pub fn ipvsadm(&self, role: &str, args: &[&str]) -> String {
        let output = self.ns.exec(role, "ipvsadm", args);
        assert!(
            output.status.success(),
            "ipvsadm {} in {role}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// How many real servers of the TCP service VIP:port the director's table has with a
    /// weight above 0.
    pub fn servers_in(&self, role: &str, port: u16) -> usize {
        let service = format!("{VIP}:{port}");
        let output = self.ns.exec(role, "ipvsadm", &["-Ln", "-t", &service]);
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .filter(|w| w.len() >= 4 && w[0] == "->" && w[3].parse::<u32>().is_ok_and(|n| n > 0))
            .count()
    }

    /// The director's IPVS connection entries from the client to VIP:port, as
    /// `(client port, state, real server)`.
    pub fn connections(&self, role: &str, port: u16) -> Vec<(u16, String, String)> {
        let virtual_address = format!("{VIP}:{port}");
        self.ipvsadm(role, &["-Lnc"])
            .lines()
            .filter_map(|line| {
                let w: Vec<&str> = line.split_whitespace().collect();
                if w.len() < 6 || w[0] != "TCP" || w[4] != virtual_address {
                    return None;
                }
                let (source, client_port) = w[3].rsplit_once(':')?;
                (source == CLIENT).then(|| {
                    (
                        client_port.parse().unwrap_or(0),
                        w[2].to_string(),
                        w[5].to_string(),
                    )
                })
            })
            .collect()
    }

    /// The director fails as a machine does: its link goes down and its daemon is killed
    /// with `kill -9`, by two system calls one right after the other (an ioctl on a
    /// socket opened in its namespace beforehand, and kill(2)): no process is started in
    /// between. Returns the moment the failure began and the moment both calls were done.
    pub fn fail(&self, director: &mut Director) -> (Instant, SystemTime, Instant) {
        let link = Link::open(self, director.role, "eth0");
        let wall = SystemTime::now();
        let failure = Instant::now();
        link.set_down();
        director.signal_kill();
        let done = Instant::now();
        director.kill();
        (failure, wall, done)
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        self.echoes.clear();
        self.httpds.clear();
    }
}

/// Polls `done` every 10 ms for up to `limit`; panics with `what` (and `context()`) if
/// it never holds. Returns how long it took.
pub fn wait(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "{what}: not after {limit:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    started.elapsed()
}

// --- directors ---------------------------------------------------------------------------

/// lvs.cf for the pair, direct routing: the HTTP service (and the echo service) on both
/// real servers, round robin.
#[derive(Debug, Clone)]
pub struct PairConfig {
    /// lvs.cf `keepalive` and `deadtime`, as written there.
    pub keepalive: &'static str,
    pub deadtime: &'static str,
    /// `syncdaemon = 1` with `syncd_iface = eth0` and `syncd_id = SYNC_ID`.
    pub syncdaemon: bool,
    /// The echo service on port 7000 too.
    pub echo: bool,
}

/// The `syncd_id` of [`PairConfig::syncdaemon`].
pub const SYNC_ID: u32 = 7;

impl PairConfig {
    pub fn lvs_cf(&self) -> String {
        let mut text = format!(
            "serial_no = 1\nprimary = {}\nbackup = {}\nbackup_active = 1\nkeepalive = {}\n\
             deadtime = {}\nnetwork = direct\n",
            DIRECTORS[0].1, DIRECTORS[1].1, self.keepalive, self.deadtime
        );
        if self.syncdaemon {
            let _ = write!(
                text,
                "syncdaemon = 1\nsyncd_iface = eth0\nsyncd_id = {SYNC_ID}\n"
            );
        }
        let mut services = vec![("web", HTTP_PORT)];
        if self.echo {
            services.push(("echo", ECHO_PORT));
        }
        for (name, port) in services {
            let _ = write!(
                text,
                "virtual {name} {{\n    active = 1\n    address = {VIP} eth0:1\n    port = {port}\n    scheduler = rr\n"
            );
            for (server, address) in REAL_SERVERS {
                let _ = write!(
                    text,
                    "    server {server} {{\n        address = {address}\n        active = 1\n    }}\n"
                );
            }
            text.push_str("}\n");
        }
        text
    }
}

/// One director's daemon (`shoal run` or keepalived), its files and its process.
pub struct Director {
    pub role: &'static str,
    pub dir: PathBuf,
    program: String,
    args: Vec<String>,
    process: Option<Process>,
}

impl Director {
    /// `shoal run` on the pair's lvs.cf, with a heartbeat key; `checks = false` runs it
    /// with `--no-checks`.
    pub fn shoal(
        lan: &Lan,
        role: &'static str,
        shoal: &str,
        config: &PairConfig,
        checks: bool,
    ) -> Director {
        let dir = lan.dir.path().join(role);
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("lvs.cf"), config.lvs_cf()).expect("lvs.cf");
        let key = dir.join("peer.key");
        std::fs::write(&key, "a lab test key of more than sixteen bytes\n").expect("key");
        std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .expect("key mode");
        // restart_grace longer than the default 10 s: a shoal killed and started again
        // takes a few seconds to come back in the emulated guest under load, and the
        // test of that must not see the grace run out.
        let settings = format!(
            "[heartbeat]\nkey_file = \"{}\"\nrestart_grace = 30\n",
            key.display()
        );
        std::fs::write(dir.join("shoal.toml"), settings).expect("shoal.toml");
        let path = |name: &str| dir.join(name).to_str().expect("path").to_string();
        let mut args = vec!["run".to_string(), "-c".into(), path("lvs.cf")];
        args.extend(["--settings".into(), path("shoal.toml")]);
        args.extend(["--control".into(), path("control.sock")]);
        if !checks {
            args.push("--no-checks".into());
        }
        Director {
            role,
            program: shoal.to_string(),
            args,
            dir,
            process: None,
        }
    }

    /// keepalived's VRRP alone (`--vrrp`), VRRPv3 every `advert_int` seconds, moving the
    /// VIP; the director with the higher `priority` starts as master.
    pub fn keepalived(lan: &Lan, role: &'static str, advert_int: &str, priority: u8) -> Director {
        let dir = lan.dir.path().join(role);
        std::fs::create_dir_all(&dir).expect("dir");
        let state = if role == DIRECTORS[0].0 {
            "MASTER"
        } else {
            "BACKUP"
        };
        let conf = format!(
            "global_defs {{\n    router_id {role}\n    vrrp_version 3\n}}\n\
             vrrp_instance lab {{\n    state {state}\n    interface eth0\n    virtual_router_id 10\n\
             \x20   priority {priority}\n    advert_int {advert_int}\n\
             \x20   virtual_ipaddress {{\n        {VIP}/32 dev eth0 label eth0:1\n    }}\n}}\n"
        );
        std::fs::write(dir.join("keepalived.conf"), conf).expect("keepalived.conf");
        let path = |name: &str| dir.join(name).to_str().expect("path").to_string();
        let args = vec![
            "--dont-fork".to_string(),
            "--log-console".into(),
            "--no-syslog".into(),
            "--log-detail".into(),
            "--vrrp".into(),
            "--use-file".into(),
            path("keepalived.conf"),
            "--pid".into(),
            path("keepalived.pid"),
            "--vrrp_pid".into(),
            path("vrrp.pid"),
        ];
        Director {
            role,
            program: "keepalived".into(),
            args,
            dir,
            process: None,
        }
    }

    pub fn start(&mut self, lan: &Lan) {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let log = self.dir.join("daemon.log");
        self.process = Some(Process::spawn(
            &lan.ns,
            self.role,
            &self.program,
            &args,
            &log,
        ));
    }

    /// SIGKILL to the daemon (and its process group), without waiting for it.
    pub fn signal_kill(&mut self) {
        if let Some(process) = self.process.as_mut() {
            process.signal_kill();
        }
    }

    /// `kill -9`: no last heartbeat, nothing removed.
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
    }

    /// Whether the daemon runs (started and not exited).
    pub fn running(&mut self) -> bool {
        self.process.as_mut().is_some_and(|p| !p.exited())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default()
    }
}

/// How many times a director's log says it took the VIP (shoal's "added address",
/// keepalived's "Entering MASTER STATE").
fn takeovers(director: &Director) -> usize {
    director
        .log()
        .lines()
        .filter(|l| l.contains("added address") || l.contains("Entering MASTER STATE"))
        .count()
}

/// Starts both directors and waits until d1 holds the VIP, d2 does not, both tables have
/// both real servers of every service in `ports`, and it has stayed so for a second
/// (d2 did not take the VIP meanwhile: on a loaded emulated CPU a pair at 0.1/0.3 can
/// miss heartbeats while starting, and the backup then takes the VIP for a moment).
pub fn elect(lan: &Lan, directors: &mut [Director; 2], ports: &[u16]) {
    for director in directors.iter_mut() {
        director.start(lan);
    }
    let logs = |directors: &[Director; 2]| {
        directors
            .iter()
            .map(|d| format!("--- {}:\n{}", d.role, d.log()))
            .collect::<String>()
    };
    let limit = Duration::from_secs(60);
    let started = Instant::now();
    loop {
        let ready = lan.holds_vip("d1")
            && !lan.holds_vip("d2")
            && ports.iter().all(|port| {
                DIRECTORS
                    .iter()
                    .all(|(role, _)| lan.servers_in(role, *port) == REAL_SERVERS.len())
            });
        if ready {
            let before = takeovers(&directors[1]);
            std::thread::sleep(Duration::from_secs(1));
            if lan.holds_vip("d1") && !lan.holds_vip("d2") && takeovers(&directors[1]) == before {
                break;
            }
        }
        let exited: Vec<&str> = directors
            .iter_mut()
            .filter_map(|d| (!d.running()).then_some(d.role))
            .collect();
        assert!(exited.is_empty(), "{exited:?} exited: {}", logs(directors));
        assert!(
            started.elapsed() < limit,
            "no elected pair with full tables after {limit:?}: {}",
            logs(directors)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

// --- the client's traffic ----------------------------------------------------------------

/// One fetch through the VIP: when it started and ended, and the real server's name or
/// what went wrong.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub started: Instant,
    pub finished: Instant,
    pub result: Result<String, String>,
    /// Segments the client's TCP sent again (TCP_INFO), for an answered fetch: a packet
    /// of it was lost.
    pub retransmits: u32,
}

impl Attempt {
    pub fn ok(&self) -> bool {
        self.result.is_ok()
    }

    pub fn took(&self) -> Duration {
        self.finished - self.started
    }
}

/// HTTP fetches of `http://VIP/` from the client, one started every `period` (each on
/// its own connection, whether the earlier ones have finished or not), each failing
/// after `timeout`. A success is a `200` answer with a real server's name as its body.
pub struct Prober {
    stop: Arc<AtomicBool>,
    attempts: Arc<Mutex<Vec<Attempt>>>,
    thread: Option<JoinHandle<()>>,
}

impl Prober {
    pub fn start(lan: &Lan, period: Duration, timeout: Duration) -> Prober {
        let stop = Arc::new(AtomicBool::new(false));
        let attempts = Arc::new(Mutex::new(Vec::new()));
        let path = lan.ns.path("c");
        let thread = {
            let (stop, attempts) = (stop.clone(), attempts.clone());
            std::thread::spawn(move || {
                enter(&path);
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                runtime.block_on(probe(stop, attempts, period, timeout));
            })
        };
        Prober {
            stop,
            attempts,
            thread: Some(thread),
        }
    }

    /// Every attempt finished so far, in the order they finished.
    pub fn attempts(&self) -> Vec<Attempt> {
        self.attempts.lock().expect("attempts").clone()
    }

    /// Waits until `done` holds for the attempts so far, up to `limit`.
    pub fn wait(&self, what: &str, limit: Duration, done: impl Fn(&[Attempt]) -> bool) {
        wait(what, limit, || done(&self.attempts()));
    }

    /// Stops starting fetches, lets the running ones finish, and returns every attempt.
    pub fn finish(mut self) -> Vec<Attempt> {
        self.stop_thread();
        self.attempts()
    }

    fn stop_thread(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

async fn probe(
    stop: Arc<AtomicBool>,
    attempts: Arc<Mutex<Vec<Attempt>>>,
    period: Duration,
    timeout: Duration,
) {
    let mut tasks = tokio::task::JoinSet::new();
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !stop.load(Ordering::SeqCst) {
        ticker.tick().await;
        let attempts = attempts.clone();
        tasks.spawn(async move {
            let started = Instant::now();
            let (result, retransmits) = match tokio::time::timeout(timeout, fetch()).await {
                Ok(Ok((body, retransmits))) => (Ok(body), retransmits),
                Ok(Err(e)) => (Err(e), 0),
                Err(_) => (Err(format!("no answer in {timeout:?}")), 0),
            };
            let attempt = Attempt {
                started,
                finished: Instant::now(),
                result,
                retransmits,
            };
            attempts.lock().expect("attempts").push(attempt);
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
}

/// One fetch: the real server's name and how many segments were sent again.
async fn fetch() -> Result<(String, u32), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let vip: Ipv4Addr = VIP.parse().expect("VIP");
    let mut stream = tokio::net::TcpStream::connect((vip, HTTP_PORT))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: lab\r\n\r\n")
        .await
        .map_err(|e| format!("send: {e}"))?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .await
        .map_err(|e| format!("receive (after {} bytes): {e}", answer.len()))?;
    let retransmits = total_retransmits(&stream);
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no header end in {answer:?}"))?;
    let body = body.trim();
    if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
        return Err(format!("answer {head:?}"));
    }
    if !REAL_SERVERS.iter().any(|(name, _)| *name == body) {
        return Err(format!("body {body:?}"));
    }
    Ok((body.to_string(), retransmits))
}

/// `tcpi_total_retrans` of a TCP socket (0 if it cannot be read).
fn total_retransmits(stream: &impl AsRawFd) -> u32 {
    // SAFETY: an all-zero tcp_info is valid.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut length = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `length` bytes into `info`.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&raw mut info).cast(),
            &mut length,
        )
    };
    if rc == 0 { info.tcpi_total_retrans } else { 0 }
}

/// What the attempts say about a failure at `failed` (its link set down, its daemon
/// killed, both done by `done`).
#[derive(Debug, Clone)]
pub struct Outage {
    /// The last success that finished before the failure began.
    pub last_before: Option<Instant>,
    /// The first success among the fetches started once the failure was complete (so
    /// through the other director), when it finished.
    pub first_after: Option<Instant>,
    /// Fetches that failed, and how many there were in all.
    pub failures: Vec<Attempt>,
    pub total: usize,
}

impl Outage {
    pub fn of(attempts: &[Attempt], failed: Instant, done: Instant) -> Outage {
        let last_before = attempts
            .iter()
            .filter(|a| a.ok() && a.finished <= failed)
            .map(|a| a.finished)
            .max();
        let first_after = attempts
            .iter()
            .filter(|a| a.ok() && a.started >= done)
            .map(|a| a.finished)
            .min();
        Outage {
            last_before,
            first_after,
            failures: attempts.iter().filter(|a| !a.ok()).cloned().collect(),
            total: attempts.len(),
        }
    }

    /// Last success before → first success after.
    pub fn gap(&self) -> Option<Duration> {
        Some(self.first_after? - self.last_before?)
    }

    /// The failure's start → the first success through the other director.
    pub fn since(&self, failed: Instant) -> Option<Duration> {
        Some(self.first_after? - failed)
    }

    /// The failures, counted by what went wrong.
    pub fn failure_kinds(&self) -> BTreeMap<String, usize> {
        let mut kinds = BTreeMap::new();
        for attempt in &self.failures {
            let error = attempt.result.as_ref().err().cloned().unwrap_or_default();
            *kinds.entry(error).or_default() += 1;
        }
        kinds
    }
}

// --- a long-lived connection -------------------------------------------------------------

/// The echo server of a real server: answers each line `N` of a connection with
/// `NAME N`, on port 7000 of every address (the VIP included).
struct EchoServer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EchoServer {
    fn start(lan: &Namespaces, role: &str) -> EchoServer {
        let listener = lan.enter(role, || {
            TcpListener::bind(("0.0.0.0", ECHO_PORT)).expect("echo server listens")
        });
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let name = role.to_string();
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut connections = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let (stop, name) = (stop.clone(), name.clone());
                            connections
                                .push(std::thread::spawn(move || echo(stream, &name, &stop)));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
                for connection in connections {
                    let _ = connection.join();
                }
            })
        };
        EchoServer {
            stop,
            thread: Some(thread),
        }
    }
}

fn echo(stream: TcpStream, name: &str, stop: &AtomicBool) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let _ = stream.set_nodelay(true);
    let mut writer = match stream.try_clone() {
        Ok(writer) => writer,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    while !stop.load(Ordering::SeqCst) {
        match reader.read_line(&mut line) {
            Ok(0) => return,
            Ok(_) if line.ends_with('\n') => {
                if writer
                    .write_all(format!("{name} {}\n", line.trim()).as_bytes())
                    .is_err()
                {
                    return;
                }
                line.clear();
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One exchange of a [`Conversation`]: the line sent, when, and the answer or the error.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub number: u64,
    pub sent: Instant,
    pub answered: Instant,
    pub result: Result<String, String>,
}

/// One TCP connection from the client to VIP:7000 that sends line `N` every `period` and
/// reads its answer (waiting up to `patience` for it), until stopped or until an error.
pub struct Conversation {
    pub client_port: u16,
    stop: Arc<AtomicBool>,
    exchanges: Arc<Mutex<Vec<Exchange>>>,
    thread: Option<JoinHandle<()>>,
}

impl Conversation {
    pub fn start(lan: &Lan, period: Duration, patience: Duration) -> Conversation {
        let vip: Ipv4Addr = VIP.parse().expect("VIP");
        let stream = lan.ns.enter("c", || {
            TcpStream::connect_timeout(&SocketAddr::from((vip, ECHO_PORT)), Duration::from_secs(5))
                .expect("the client connects to the echo service")
        });
        stream.set_nodelay(true).expect("nodelay");
        stream.set_read_timeout(Some(patience)).expect("timeout");
        let client_port = stream.local_addr().expect("address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let exchanges = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, exchanges) = (stop.clone(), exchanges.clone());
            std::thread::spawn(move || converse(stream, period, &stop, &exchanges))
        };
        Conversation {
            client_port,
            stop,
            exchanges,
            thread: Some(thread),
        }
    }

    pub fn exchanges(&self) -> Vec<Exchange> {
        self.exchanges.lock().expect("exchanges").clone()
    }

    pub fn wait(&self, what: &str, limit: Duration, done: impl Fn(&[Exchange]) -> bool) {
        wait(what, limit, || done(&self.exchanges()));
    }

    pub fn finish(mut self) -> Vec<Exchange> {
        self.stop_thread();
        self.exchanges()
    }

    fn stop_thread(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Conversation {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

fn converse(
    stream: TcpStream,
    period: Duration,
    stop: &AtomicBool,
    exchanges: &Mutex<Vec<Exchange>>,
) {
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    let mut number = 0;
    while !stop.load(Ordering::SeqCst) {
        number += 1;
        let sent = Instant::now();
        let mut line = String::new();
        let result = writer
            .write_all(format!("{number}\n").as_bytes())
            .map_err(|e| format!("send: {e}"))
            .and_then(|()| match reader.read_line(&mut line) {
                Ok(0) => Err("closed by the other end".to_string()),
                Ok(_) => Ok(line.trim().to_string()),
                Err(e) => Err(format!("receive: {e}")),
            });
        let failed = result.is_err();
        exchanges.lock().expect("exchanges").push(Exchange {
            number,
            sent,
            answered: Instant::now(),
            result,
        });
        if failed {
            return;
        }
        std::thread::sleep(period.saturating_sub(sent.elapsed()));
    }
}

// --- gratuitous ARPs as the client sees them ---------------------------------------------

/// Timestamps every ARP frame the client receives that says the VIP is at some MAC
/// (gratuitous requests and replies, and answers to its own requests).
pub struct GarpWatch {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<(Instant, String)>>>,
    thread: Option<JoinHandle<()>>,
}

impl GarpWatch {
    pub fn start(lan: &Lan) -> GarpWatch {
        let socket = lan.ns.enter("c", arp_socket);
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, seen) = (stop.clone(), seen.clone());
            std::thread::spawn(move || watch_arp(&socket, &stop, &seen))
        };
        GarpWatch {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    /// Every frame heard so far: when, and the MAC it said the VIP is at.
    pub fn seen(&self) -> Vec<(Instant, String)> {
        self.seen.lock().expect("seen").clone()
    }

    /// When the client first heard, after `since`, that the VIP is at `mac`.
    pub fn first(&self, mac: &str, since: Instant) -> Option<Instant> {
        self.seen
            .lock()
            .expect("seen")
            .iter()
            .find(|(at, said)| *at >= since && said.eq_ignore_ascii_case(mac))
            .map(|(at, _)| *at)
    }
}

impl Drop for GarpWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

const ETH_P_ARP: u16 = 0x0806;

/// An AF_PACKET socket for ARP frames, in the calling thread's namespace, with a 50 ms
/// receive timeout.
fn arp_socket() -> OwnedFd {
    packet_socket(ETH_P_ARP, None)
}

/// An AF_PACKET socket receiving `protocol` (on `device` only, when given), in the calling
/// thread's namespace, with a 50 ms receive timeout.
fn packet_socket(protocol: u16, device: Option<&str>) -> OwnedFd {
    // SAFETY: plain socket creation; the descriptor is owned at once.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(protocol.to_be())) };
    assert!(
        fd >= 0,
        "AF_PACKET socket: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: fd is a new descriptor nothing else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    if let Some(device) = device {
        let name = std::ffi::CString::new(device).expect("device name");
        // SAFETY: a NUL-terminated name.
        let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
        assert!(index > 0, "{device}: {}", std::io::Error::last_os_error());
        // SAFETY: an all-zero sockaddr_ll is valid; the fields set make it a bind to
        // the device for `protocol`.
        let mut address: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        address.sll_family = libc::AF_PACKET as u16;
        address.sll_protocol = protocol.to_be();
        address.sll_ifindex = i32::try_from(index).expect("ifindex");
        // SAFETY: a valid sockaddr_ll of the size given.
        let rc = unsafe {
            libc::bind(
                socket.as_raw_fd(),
                (&raw const address).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        assert_eq!(
            rc,
            0,
            "bind to {device}: {}",
            std::io::Error::last_os_error()
        );
    }
    let timeout = libc::timeval {
        tv_sec: 0,
        tv_usec: 50_000,
    };
    // SAFETY: a valid timeval of the size given.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&raw const timeout).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_RCVTIMEO: {}", std::io::Error::last_os_error());
    // The kernel's receive time of every frame (read back with SIOCGSTAMPNS): the
    // watching thread may run well after a frame came, on a busy emulated CPU.
    shoal::net::stamp::enable(socket.as_fd()).expect("receive stamps");
    socket
}

/// When the kernel received the frame just read from `socket`, as an `Instant` (now, if
/// the socket has no time stamp for it).
fn received_at(socket: &OwnedFd) -> Instant {
    shoal::net::stamp::received_at(socket.as_fd(), Instant::now(), Duration::from_secs(5))
}

/// What a [`PortWatch`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    /// A heartbeat (shoal, UDP port 539) or a VRRP advertisement (IP protocol 112) to
    /// the watched director.
    Heartbeat,
    /// An ARP frame from the watched director saying the VIP is at its MAC.
    Announcement,
}

/// Timestamps, on the switch's port of one director, the heartbeats (or VRRP
/// advertisements) it receives and the announcements of the VIP it sends: the time from
/// the peer's last heartbeat to the director's first announcement is its detection and
/// takeover, free of the phase of the heartbeats against the failure.
pub struct PortWatch {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<(Instant, Frame)>>>,
    thread: Option<JoinHandle<()>>,
}

impl PortWatch {
    pub fn start(lan: &Lan, role: &str) -> PortWatch {
        const ETH_P_ALL: u16 = 0x0003;
        let port = format!("p-{role}-eth0");
        let socket = lan.ns.enter("sw", || packet_socket(ETH_P_ALL, Some(&port)));
        let mac = parse_mac(&lan.mac(role)).expect("MAC");
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, seen) = (stop.clone(), seen.clone());
            std::thread::spawn(move || watch_port(&socket, mac, &stop, &seen))
        };
        PortWatch {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    /// The last heartbeat the director received before `at`.
    pub fn last_heartbeat(&self, at: Instant) -> Option<Instant> {
        self.seen
            .lock()
            .expect("seen")
            .iter()
            .filter(|(when, frame)| *frame == Frame::Heartbeat && *when <= at)
            .map(|(when, _)| *when)
            .max()
    }

    /// The director's first announcement of the VIP after `at`.
    pub fn first_announcement(&self, at: Instant) -> Option<Instant> {
        self.seen
            .lock()
            .expect("seen")
            .iter()
            .filter(|(when, frame)| *frame == Frame::Announcement && *when >= at)
            .map(|(when, _)| *when)
            .min()
    }
}

impl Drop for PortWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let bytes: Vec<u8> = text
        .split(':')
        .map(|b| u8::from_str_radix(b, 16))
        .collect::<Result<_, _>>()
        .ok()?;
    bytes.try_into().ok()
}

fn watch_port(
    socket: &OwnedFd,
    mac: [u8; 6],
    stop: &AtomicBool,
    seen: &Mutex<Vec<(Instant, Frame)>>,
) {
    let vip: Ipv4Addr = VIP.parse().expect("VIP");
    let mut frame = [0u8; 128];
    while !stop.load(Ordering::SeqCst) {
        // SAFETY: reads at most frame.len() bytes into the buffer.
        let n = unsafe {
            libc::recv(
                socket.as_raw_fd(),
                frame.as_mut_ptr().cast(),
                frame.len(),
                0,
            )
        };
        let Ok(n) = usize::try_from(n) else { continue };
        let at = received_at(socket);
        if n < 42 {
            continue;
        }
        let kind = match [frame[12], frame[13]] {
            [0x08, 0x06] if frame[22..28] == mac && frame[28..32] == vip.octets() => {
                Some(Frame::Announcement)
            }
            [0x08, 0x00] if frame[6..12] != mac && (frame[0..6] == mac || frame[0] & 1 == 1) => {
                let header = usize::from(frame[14] & 0x0f) * 4;
                let port = |at: usize| u16::from_be_bytes([frame[at], frame[at + 1]]);
                match frame[23] {
                    112 => Some(Frame::Heartbeat),
                    17 if n >= 14 + header + 4 && port(14 + header + 2) == 539 => {
                        Some(Frame::Heartbeat)
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        if let Some(kind) = kind {
            seen.lock().expect("seen").push((at, kind));
        }
    }
}

fn watch_arp(socket: &OwnedFd, stop: &AtomicBool, seen: &Mutex<Vec<(Instant, String)>>) {
    let vip: Ipv4Addr = VIP.parse().expect("VIP");
    let mut frame = [0u8; 128];
    while !stop.load(Ordering::SeqCst) {
        // SAFETY: reads at most frame.len() bytes into the buffer.
        let n = unsafe {
            libc::recv(
                socket.as_raw_fd(),
                frame.as_mut_ptr().cast(),
                frame.len(),
                0,
            )
        };
        let Ok(n) = usize::try_from(n) else { continue };
        let at = received_at(socket);
        // Ethernet (14) + ARP for IPv4 over Ethernet (28): sender MAC at 22, sender IP at 28.
        if n < 42 || frame[12..14] != ETH_P_ARP.to_be_bytes() {
            continue;
        }
        if frame[28..32] != vip.octets() {
            continue;
        }
        let mac = frame[22..28]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":");
        seen.lock().expect("seen").push((at, mac));
    }
}

/// A device of a namespace, to be set down with one ioctl: the socket is opened in the
/// namespace beforehand.
pub struct Link {
    socket: OwnedFd,
    name: [libc::c_char; libc::IFNAMSIZ],
}

impl Link {
    pub fn open(lan: &Lan, role: &str, device: &str) -> Link {
        let socket = lan.ns.enter(role, || {
            // SAFETY: plain socket creation; the descriptor is owned at once.
            let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0) };
            assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
            // SAFETY: fd is a new descriptor nothing else owns.
            unsafe { OwnedFd::from_raw_fd(fd) }
        });
        let mut name = [0; libc::IFNAMSIZ];
        assert!(device.len() < libc::IFNAMSIZ, "{device}");
        for (to, from) in name.iter_mut().zip(device.bytes()) {
            *to = from as libc::c_char;
        }
        Link { socket, name }
    }

    /// Clears IFF_UP (`ip link set DEVICE down`).
    pub fn set_down(&self) {
        // SAFETY: an all-zero ifreq is valid; the name is NUL-terminated.
        let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
        request.ifr_name = self.name;
        // SAFETY: SIOCGIFFLAGS and SIOCSIFFLAGS read and write the ifreq given.
        unsafe {
            let rc = libc::ioctl(self.socket.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request);
            assert_eq!(rc, 0, "SIOCGIFFLAGS: {}", std::io::Error::last_os_error());
            request.ifr_ifru.ifru_flags &= !(libc::IFF_UP as libc::c_short);
            let rc = libc::ioctl(self.socket.as_raw_fd(), libc::SIOCSIFFLAGS, &request);
            assert_eq!(rc, 0, "SIOCSIFFLAGS: {}", std::io::Error::last_os_error());
        }
    }
}

/// For each `needle`, how long after `since` the first line of a daemon's log that
/// contains it was written (shoal's lines start with an RFC 3339 UTC time, keepalived's
/// with none, which gives `None`).
pub fn log_offsets(log: &str, since: SystemTime, needles: &[&str]) -> Vec<Option<Duration>> {
    let lines: Vec<(SystemTime, &str)> = log
        .lines()
        .filter_map(|line| Some((line_time(line)?, line)))
        .filter(|(at, _)| *at >= since)
        .collect();
    needles
        .iter()
        .map(|needle| {
            lines
                .iter()
                .find(|(_, line)| line.contains(needle))
                .and_then(|(at, _)| at.duration_since(since).ok())
        })
        .collect()
}

/// The time at the start of a tracing line (`2026-12-01T23:56:09.933030Z`, maybe inside
/// ANSI colour codes).
fn line_time(line: &str) -> Option<SystemTime> {
    // Past the colour code (ESC [ 2 m) that may come first.
    let line = match line.strip_prefix('\u{1b}') {
        Some(rest) => &rest[rest.find('m')? + 1..],
        None => line,
    };
    let stamp = line.split(|c: char| c == 'Z' || c.is_whitespace()).next()?;
    let (date, time) = stamp.split_once('T')?;
    let mut date = date.split('-').map(|n| n.parse::<i64>());
    let (year, month, day) = (date.next()?.ok()?, date.next()?.ok()?, date.next()?.ok()?);
    let mut time = time.split(':');
    let hours: u64 = time.next()?.parse().ok()?;
    let minutes: u64 = time.next()?.parse().ok()?;
    let seconds: f64 = time.next()?.parse().ok()?;
    // Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = u64::try_from(era * 146_097 + doe - 719_468).ok()?;
    let whole = days * 86_400 + hours * 3600 + minutes * 60;
    Some(UNIX_EPOCH + Duration::from_secs(whole) + Duration::from_secs_f64(seconds))
}
