//! Benchmark driver for `bench/health-scale.sh`: N real servers checked every second by
//! shoal's health monitors (`Monitors` with the production `CheckProber`, built from a
//! generated lvs.cf through `MonitorSet::from_config`), half-open and with full connects,
//! against keepalived's TCP_CHECK on the same servers in the same run, in rotating phases.
//!
//! The real servers are N loopback addresses (127.1.0.1, 127.1.0.2, ...) on port 8080,
//! all served by one listener process. It counts per address the SYNs sent there (an
//! AF_PACKET socket on `lo`, filtered to SYNs to port 8080): one per check whether the
//! checker completes the handshake (keepalived, shoal `full`) or not (shoal `half-open`),
//! the same yardstick for all three. It also accepts, closes and counts the connections
//! (none for half-open probes).
//!
//! Usage:
//! - `health_bench compare N SECONDS ROUNDS [--shoal-only] [--keepalived-preload LIB]`:
//!   writes lvs.cf and keepalived.conf for N servers, starts the listener, measures
//!   keepalived's RSS with one server, and in each round runs a keepalived phase, a shoal
//!   half-open phase and a shoal full-connect phase, rotated so that over three rounds
//!   each runs once first, second and last. A phase waits until every server has been
//!   checked once, then one more interval, then measures SECONDS of steady state. Prints
//!   each phase, the ratios and the memory per server. `LIB` goes into keepalived's
//!   `LD_PRELOAD` (the bench script's IPVS stand-in).
//! - `health_bench listen N PORT`: the listener (reads `reset`/`read` lines on stdin).
//! - `health_bench shoal LVS_CF SECONDS [half-open|full]`: one shoal phase, in its own
//!   process: prints `ready` when the window opens and `stop` when it closes, then a
//!   `result` line. Half-open fails if no SYN was sent (no raw socket).
//! - `health_bench files N DIR`: writes the two files, to run a phase by hand.
//!
//! CPU: shoal's is `getrusage(RUSAGE_SELF)` user+sys over the window (the driver reads
//! `/proc/PID/stat` too, the way it reads keepalived's parent and checker processes).
//! On loopback the servers' kernel side of a check (the SYN's processing, the SYN-ACK,
//! for a connect the accept queue and the close) runs in the checker's context and is
//! charged to it, for every checker alike.
//! Memory: the live heap counted by this example's global allocator, before the
//! `MonitorSet` is built (the parsed lvs.cf already held) against after
//! `Monitors::update` and during the window, per real server; RSS growth beside it.
//! keepalived's is its processes' RSS with N servers less that with one.

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use shoal::config::resolve::SystemResolver;
use shoal::config::settings::TcpConnect;
use shoal::config::{self, KernelFeatures};
use shoal::health::monitor::{CheckProber, MonitorSet, Monitors};

// --- the counting allocator ---------------------------------------------------------------

/// Live heap bytes and the highest value since the last [`reset_peak`].
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

struct Counting;

fn grew(bytes: usize) {
    let live = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(live, Ordering::Relaxed);
    ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to the system allocator unchanged; only counters move.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on as is.
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            grew(layout.size());
        }
        pointer
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        let pointer = unsafe { System.alloc_zeroed(layout) };
        if !pointer.is_null() {
            grew(layout.size());
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(pointer, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        let moved = unsafe { System.realloc(pointer, layout, new_size) };
        if !moved.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        moved
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live_heap() -> usize {
    LIVE.load(Ordering::Relaxed)
}

fn reset_peak() {
    PEAK.store(live_heap(), Ordering::Relaxed);
}

// --- the generated servers ----------------------------------------------------------------

/// The port every real server listens on (not 80, so Piranha's default check is a plain
/// connect, like TCP_CHECK).
const PORT: u16 = 8080;
/// Real servers per virtual server in both files.
const PER_SERVICE: u32 = 100;
/// Seconds between checks (lvs.cf `timeout`, keepalived `delay_loop`), and the timeout.
const INTERVAL: Duration = Duration::from_secs(1);

fn first_server() -> u32 {
    u32::from(Ipv4Addr::new(127, 1, 0, 1))
}

fn server(index: u32) -> Ipv4Addr {
    Ipv4Addr::from(first_server() + index)
}

fn vip(service: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 254, 0, 1)) + service)
}

/// (virtual server, its first real server, how many) for N servers.
fn services(n: u32) -> impl Iterator<Item = (u32, u32, u32)> {
    (0..n.div_ceil(PER_SERVICE)).map(move |s| {
        let first = s * PER_SERVICE;
        (s, first, PER_SERVICE.min(n - first))
    })
}

fn lvs_cf(n: u32) -> String {
    let mut text =
        String::from("serial_no = 1\nprimary = 127.0.0.1\nservice = lvs\nnetwork = nat\n");
    for (s, first, count) in services(n) {
        let _ = write!(
            text,
            "virtual vs{s} {{\n  active = 1\n  address = {} lo:{s}\n  port = {PORT}\n  \
             protocol = tcp\n  scheduler = wlc\n  timeout = {}\n",
            vip(s),
            INTERVAL.as_secs()
        );
        for r in first..first + count {
            let _ = write!(
                text,
                "  server rs{r} {{\n    address = {}\n    active = 1\n    weight = 1\n  }}\n",
                server(r)
            );
        }
        text.push_str("}\n");
    }
    text
}

fn keepalived_conf(n: u32) -> String {
    let mut text = String::from("global_defs {\n  router_id shoal_bench\n}\n");
    for (s, first, count) in services(n) {
        let _ = write!(
            text,
            "virtual_server {} {PORT} {{\n  delay_loop {}\n  lb_algo wlc\n  lb_kind NAT\n  \
             protocol TCP\n",
            vip(s),
            INTERVAL.as_secs()
        );
        for r in first..first + count {
            let _ = write!(
                text,
                "  real_server {} {PORT} {{\n    weight 1\n    TCP_CHECK {{\n      \
                 connect_timeout {}\n    }}\n  }}\n",
                server(r),
                INTERVAL.as_secs()
            );
        }
        text.push_str("}\n");
    }
    text
}

// --- the listener -------------------------------------------------------------------------

/// Counts per real server (indexed from 127.1.0.1).
type PerServer = Arc<Vec<AtomicU32>>;

fn per_server(n: u32) -> PerServer {
    Arc::new((0..n).map(|_| AtomicU32::new(0)).collect())
}

fn count(counts: &PerServer, address: Ipv4Addr) {
    let index = u32::from(address).wrapping_sub(first_server());
    if let Some(count) = counts.get(index as usize) {
        count.fetch_add(1, Ordering::Relaxed);
    }
}

/// Serves on 0.0.0.0:PORT and counts, per local address, the connection attempts (SYNs
/// seen on `lo`, the checks of both checkers whether they complete the handshake or not)
/// and the accepted connections (closed at once). On stdin, `reset` starts a new count
/// and `read` prints the counts since the last reset as `syns=S accepted=A min=M max=X
/// unseen=U drops=D` (per real server, by SYNs: fewest, most, how many got none; SYNs
/// the witness socket dropped).
fn listen(n: u32, port: u16) -> Result<(), String> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).map_err(|e| e.to_string())?;
    socket.set_reuse_address(true).map_err(|e| e.to_string())?;
    let address = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port));
    socket
        .bind(&address.into())
        .map_err(|e| format!("bind {address}: {e}"))?;
    socket.listen(65535).map_err(|e| e.to_string())?;
    let listener = std::net::TcpListener::from(socket);
    let syns = per_server(n);
    let witness = SynWitness::open(port)?;
    let seen = Arc::clone(&syns);
    std::thread::spawn(move || witness.run(&seen));
    let accepted = per_server(n);
    let accept_counts = Arc::clone(&accepted);
    std::thread::spawn(move || {
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    if let Ok(SocketAddr::V4(local)) = stream.local_addr() {
                        count(&accept_counts, *local.ip());
                    }
                }
                // EMFILE and the like: back off rather than spin.
                Err(_) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
    });
    let snapshot = |counts: &PerServer| -> Vec<u32> {
        counts.iter().map(|c| c.load(Ordering::Relaxed)).collect()
    };
    let mut since = (snapshot(&syns), snapshot(&accepted));
    let mut drops_since = 0;
    let stdout = std::io::stdout();
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| e.to_string())?;
        let now = (snapshot(&syns), snapshot(&accepted));
        let drops = DROPS.load(Ordering::Relaxed);
        match line.trim() {
            "reset" => {
                since = now;
                drops_since = drops;
                writeln!(stdout.lock(), "ok").map_err(|e| e.to_string())?;
            }
            "read" => {
                let deltas = |a: &[u32], b: &[u32]| -> Vec<u32> {
                    a.iter().zip(b).map(|(a, b)| a - b).collect()
                };
                let seen = deltas(&now.0, &since.0);
                let total = |d: &[u32]| -> u64 { d.iter().map(|d| u64::from(*d)).sum() };
                let accepted = total(&deltas(&now.1, &since.1));
                let min = seen.iter().min().copied().unwrap_or(0);
                let max = seen.iter().max().copied().unwrap_or(0);
                let unseen = seen.iter().filter(|d| **d == 0).count();
                writeln!(
                    stdout.lock(),
                    "syns={} accepted={accepted} min={min} max={max} unseen={unseen} drops={}",
                    total(&seen),
                    drops - drops_since
                )
                .map_err(|e| e.to_string())?;
            }
            other => return Err(format!("listener: unknown command {other:?}")),
        }
    }
    Ok(())
}

/// Packets the witness socket's queue dropped (PACKET_STATISTICS), since the start.
static DROPS: AtomicU64 = AtomicU64::new(0);

/// The independent count of checks: an AF_PACKET socket on `lo` that receives the
/// SYNs (SYN set, ACK not) sent to the servers' port, whoever sends them and whether
/// the handshake completes (keepalived's and shoal's full connects) or not (shoal's
/// half-open probes). A classic BPF filter keeps everything else out before the kernel
/// copies it, and `PACKET_IGNORE_OUTGOING` skips the transmit side of loopback, so each
/// SYN is seen once and the witness costs both checkers the same per SYN.
struct SynWitness {
    socket: socket2::Socket,
}

impl SynWitness {
    fn open(port: u16) -> Result<Self, String> {
        use socket2::{Domain, Protocol, SockFilter, Socket, Type};
        let ip = (libc::ETH_P_IP as u16).to_be();
        let socket = Socket::new(
            Domain::PACKET,
            Type::DGRAM,
            Some(Protocol::from(i32::from(ip))),
        )
        .map_err(|e| format!("witness: AF_PACKET socket: {e}"))?;
        let op = |code: u32| code as u16;
        let ld = |size: u32, mode: u32| op(libc::BPF_LD | size | mode);
        let jeq = op(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K);
        let program = [
            // IPv4 protocol TCP, first fragment, destination port, SYN without ACK.
            SockFilter::new(ld(libc::BPF_B, libc::BPF_ABS), 0, 0, 9),
            SockFilter::new(jeq, 0, 9, libc::IPPROTO_TCP as u32),
            SockFilter::new(ld(libc::BPF_H, libc::BPF_ABS), 0, 0, 6),
            SockFilter::new(
                op(libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K),
                7,
                0,
                0x1fff,
            ),
            SockFilter::new(op(libc::BPF_LDX | libc::BPF_B | libc::BPF_MSH), 0, 0, 0),
            SockFilter::new(ld(libc::BPF_H, libc::BPF_IND), 0, 0, 2),
            SockFilter::new(jeq, 0, 4, u32::from(port)),
            SockFilter::new(ld(libc::BPF_B, libc::BPF_IND), 0, 0, 13),
            SockFilter::new(op(libc::BPF_ALU | libc::BPF_AND | libc::BPF_K), 0, 0, 0x12),
            SockFilter::new(jeq, 0, 1, 0x02),
            // The IP header is all that is read (the destination address).
            SockFilter::new(op(libc::BPF_RET | libc::BPF_K), 0, 0, 20),
            SockFilter::new(op(libc::BPF_RET | libc::BPF_K), 0, 0, 0),
        ];
        socket
            .attach_filter(&program)
            .map_err(|e| format!("witness: SO_ATTACH_FILTER: {e}"))?;
        set_int_option(&socket, libc::SOL_PACKET, libc::PACKET_IGNORE_OUTGOING, 1)
            .map_err(|e| format!("witness: PACKET_IGNORE_OUTGOING: {e}"))?;
        if set_int_option(&socket, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, 16 << 20).is_err() {
            let _ = socket.set_recv_buffer_size(16 << 20);
        }
        let lo = std::ffi::CString::new("lo").map_err(|e| e.to_string())?;
        // SAFETY: `lo` is a NUL-terminated string that outlives the call.
        let index = unsafe { libc::if_nametoindex(lo.as_ptr()) };
        if index == 0 {
            return Err(format!("witness: lo: {}", std::io::Error::last_os_error()));
        }
        let address = link_address(index, ip);
        socket
            .bind(&address)
            .map_err(|e| format!("witness: bind to lo: {e}"))?;
        // Non-blocking (see `run`); what arrived before the filter is read and dropped.
        socket.set_nonblocking(true).map_err(|e| e.to_string())?;
        let mut scratch = [std::mem::MaybeUninit::<u8>::uninit(); 64];
        while socket.recv(&mut scratch).is_ok() {}
        Ok(SynWitness { socket })
    }

    /// Counts the SYNs per destination address, forever (the listener process's life).
    /// The socket is read without blocking, every few milliseconds: a thread asleep in
    /// `recv` would be woken by every SYN, in the sending checker's context, which would
    /// charge the witness to the checkers (8 % of a half-open check's CPU when measured).
    fn run(self, counts: &PerServer) {
        use std::io::Read;
        let mut header = [0u8; 20];
        loop {
            match (&self.socket).read(&mut header) {
                Ok(20) => count(
                    counts,
                    Ipv4Addr::new(header[16], header[17], header[18], header[19]),
                ),
                Ok(_) => {}
                Err(_) => {
                    DROPS.fetch_add(packet_drops(&self.socket), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }
}

/// A `sockaddr_ll` for `lo`'s index and the EtherType (network order).
fn link_address(index: u32, protocol: u16) -> socket2::SockAddr {
    let mut storage = socket2::SockAddrStorage::zeroed();
    // SAFETY: sockaddr_ll is one of this platform's sockaddr types, which is what
    // view_as requires; the storage is zeroed and large enough for it.
    let link = unsafe { storage.view_as::<libc::sockaddr_ll>() };
    link.sll_family = libc::AF_PACKET as libc::sa_family_t;
    link.sll_protocol = protocol;
    link.sll_ifindex = index as i32;
    let length = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: the storage holds an initialised sockaddr_ll of exactly this length.
    unsafe { socket2::SockAddr::new(storage, length) }
}

/// The packets the socket dropped since the last call (the kernel resets the counter).
fn packet_drops(socket: &socket2::Socket) -> u64 {
    use std::os::fd::AsRawFd;
    let mut stats = libc::tpacket_stats {
        tp_packets: 0,
        tp_drops: 0,
    };
    let mut length = std::mem::size_of::<libc::tpacket_stats>() as libc::socklen_t;
    // SAFETY: PACKET_STATISTICS writes a tpacket_stats of `length` bytes into `stats`.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            (&raw mut stats).cast(),
            &mut length,
        )
    };
    if rc == 0 {
        u64::from(stats.tp_drops)
    } else {
        0
    }
}

fn set_int_option(
    socket: &socket2::Socket,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: the value is an int that outlives the call, and the length is its size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&raw const value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// What the listener counted since its last reset.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    /// SYNs seen: the checks, for both checkers.
    syns: u64,
    /// Connections accepted (none for half-open probes).
    accepted: u64,
    min: u32,
    max: u32,
    unseen: u32,
    /// SYNs the witness dropped (its figure is then short by as many).
    drops: u64,
}

struct Listener {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl Listener {
    fn start(program: &Path, n: u32) -> Result<Self, String> {
        let mut child = Command::new(program)
            .args(["listen", &n.to_string(), &PORT.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("listener: {e}"))?;
        let input = child.stdin.take().ok_or("listener stdin")?;
        let output = BufReader::new(child.stdout.take().ok_or("listener stdout")?);
        let mut listener = Listener {
            child,
            input,
            output,
        };
        listener.ask("reset")?;
        Ok(listener)
    }

    fn ask(&mut self, command: &str) -> Result<String, String> {
        writeln!(self.input, "{command}").map_err(|e| format!("listener: {e}"))?;
        let mut line = String::new();
        self.output
            .read_line(&mut line)
            .map_err(|e| format!("listener: {e}"))?;
        if line.is_empty() {
            return Err("the listener exited".into());
        }
        Ok(line.trim().to_string())
    }

    fn reset(&mut self) -> Result<(), String> {
        self.ask("reset").map(drop)
    }

    fn read(&mut self) -> Result<Counts, String> {
        let line = self.ask("read")?;
        let field = |name: &str| -> u64 {
            line.split_whitespace()
                .find_map(|word| word.strip_prefix(name)?.strip_prefix('='))
                .and_then(|value| value.parse().ok())
                .unwrap_or(0)
        };
        let small = |name: &str| u32::try_from(field(name)).unwrap_or(u32::MAX);
        Ok(Counts {
            syns: field("syns"),
            accepted: field("accepted"),
            min: small("min"),
            max: small("max"),
            unseen: small("unseen"),
            drops: field("drops"),
        })
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// --- process accounting -------------------------------------------------------------------

/// (utime, stime) of one process (all its threads), from /proc/PID/stat, in seconds.
fn proc_times(pid: u32) -> Option<(f64, f64)> {
    let fields = proc_stat_fields(pid)?;
    // After "pid (comm)": state is field 3, so utime (14) and stime (15) are 11 and 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Some((utime as f64 / ticks, stime as f64 / ticks))
}

/// utime + stime of one process, in seconds.
fn proc_cpu(pid: u32) -> Option<f64> {
    proc_times(pid).map(|(user, system)| user + system)
}

fn proc_stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// `pid` and all its descendants.
fn process_tree(pid: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(child) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
                continue;
            };
            let ppid = proc_stat_fields(child).and_then(|f| f.get(1)?.parse().ok());
            if let Some(ppid) = ppid {
                parents.push((child, ppid));
            }
        }
    }
    let mut tree = vec![pid];
    let mut at = 0;
    while at < tree.len() {
        let parent = tree[at];
        tree.extend(
            parents
                .iter()
                .filter(|(_, p)| *p == parent)
                .map(|(c, _)| *c),
        );
        at += 1;
    }
    tree
}

/// A field of /proc/PID/status in KiB (VmRSS, VmHWM).
fn status_kib(pid: &str, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                let value = line.strip_prefix(field)?.strip_prefix(':')?;
                value.split_whitespace().next()?.parse().ok()
            })
        })
        .unwrap_or(0)
}

/// (user, system) seconds of every process in `tree`.
fn tree_cpu(tree: &[u32]) -> (f64, f64) {
    tree.iter()
        .filter_map(|pid| proc_times(*pid))
        .fold((0.0, 0.0), |(u, s), (user, system)| (u + user, s + system))
}

// --- one phase ----------------------------------------------------------------------------

/// One measured window of one checker.
#[derive(Debug, Clone, Default)]
struct Phase {
    checks: Counts,
    window: f64,
    /// CPU seconds over the window (/proc for keepalived, getrusage for shoal).
    cpu: f64,
    /// Of which user and system time.
    user: f64,
    system: f64,
    /// shoal only: the same window read from /proc/PID/stat by this driver.
    proc_cpu: Option<f64>,
    rss_kib: u64,
    /// shoal only: the `result` line of the child.
    detail: String,
}

impl Phase {
    /// A `name=value` number of shoal's `result` line.
    fn field(&self, name: &str) -> Option<f64> {
        self.detail
            .split_whitespace()
            .find_map(|word| word.strip_prefix(name)?.strip_prefix('='))
            .and_then(|value| value.parse().ok())
    }

    fn micros_per_check(&self) -> f64 {
        self.cpu * 1e6 / self.checks.syns.max(1) as f64
    }

    fn print(&self, name: &str, round: u32, n: u32) {
        println!(
            "round {round} {name}: {} checks (SYNs seen; {} connections accepted, {} SYNs \
             dropped by the witness) in {:.2} s ({:.0}/s for {n} servers; per server min {} \
             max {}, {} unchecked), CPU {:.3} s (user {:.3}, sys {:.3}){} = {:.2} us/check, \
             RSS {} KiB",
            self.checks.syns,
            self.checks.accepted,
            self.checks.drops,
            self.window,
            self.checks.syns as f64 / self.window,
            self.checks.min,
            self.checks.max,
            self.checks.unseen,
            self.cpu,
            self.user,
            self.system,
            self.proc_cpu
                .map_or(String::new(), |p| format!(" (/proc: {p:.2} s)")),
            self.micros_per_check(),
            self.rss_kib
        );
        if !self.detail.is_empty() {
            println!("round {round} {name}: {}", self.detail);
        }
    }
}

/// Until every server has been checked once since the phase started, then one more
/// interval: the window starts in the steady state.
fn wait_until_all_checked(
    listener: &mut Listener,
    what: &str,
    child: &mut Child,
) -> Result<(), String> {
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("{what} exited early ({status})"));
        }
        let counts = listener.read()?;
        if counts.unseen == 0 {
            break;
        }
        if started.elapsed() > Duration::from_secs(300) {
            return Err(format!(
                "{what}: {} servers still unchecked after 300 s",
                counts.unseen
            ));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    println!(
        "  {what}: every server checked after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    std::thread::sleep(INTERVAL + Duration::from_millis(200));
    Ok(())
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

fn stop(child: &mut Child) {
    // SAFETY: kill with a pid we spawned and have not reaped.
    let pid = i32::try_from(child.id()).unwrap_or(0);
    if pid > 0 {
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Stops the child when dropped: at the end of a phase, and on any early return.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        stop(&mut self.0);
    }
}

/// Starts keepalived's checker on `conf` (its log in DIR/keepalived.log).
fn spawn_keepalived(dir: &Path, conf: &Path, preload: Option<&str>) -> Result<Guard, String> {
    let log_file = std::fs::File::create(dir.join("keepalived.log")).map_err(|e| e.to_string())?;
    let err_file = log_file.try_clone().map_err(|e| e.to_string())?;
    let mut command = Command::new("keepalived");
    command
        .args([
            "--dont-fork",
            "--log-console",
            "--no-syslog",
            "--check",
            "--use-file",
        ])
        .arg(conf)
        .arg("--pid")
        .arg(dir.join("keepalived.pid"))
        .arg("--checkers_pid")
        .arg(dir.join("checkers.pid"))
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(err_file);
    if let Some(library) = preload {
        command.env("LD_PRELOAD", library);
    }
    // keepalived stops with this driver, however it ends.
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    let child = command.spawn().map_err(|e| format!("keepalived: {e}"))?;
    Ok(Guard(child))
}

/// RSS of keepalived's processes with one real server, after a few seconds of checking:
/// subtracted from the N-server RSS, it leaves what the servers cost.
fn keepalived_baseline_rss(dir: &Path, preload: Option<&str>) -> Result<u64, String> {
    let conf = dir.join("keepalived-1.conf");
    std::fs::write(&conf, keepalived_conf(1)).map_err(|e| e.to_string())?;
    let mut guard = spawn_keepalived(dir, &conf, preload)?;
    std::thread::sleep(Duration::from_secs(3));
    if let Ok(Some(status)) = guard.0.try_wait() {
        let log = tail(&dir.join("keepalived.log"));
        return Err(format!(
            "keepalived exited early ({status}); its log:\n{log}"
        ));
    }
    let tree = process_tree(guard.0.id());
    Ok(tree
        .iter()
        .map(|pid| status_kib(&pid.to_string(), "VmRSS"))
        .sum())
}

fn keepalived_phase(
    dir: &Path,
    listener: &mut Listener,
    seconds: u64,
    conf: &Path,
    preload: Option<&str>,
) -> Result<Phase, String> {
    let log = dir.join("keepalived.log");
    listener.reset()?;
    let mut guard = spawn_keepalived(dir, conf, preload)?;
    let pid = guard.0.id();
    let ready = wait_until_all_checked(listener, "keepalived", &mut guard.0);
    if let Err(e) = ready {
        return Err(format!("{e}; keepalived's log:\n{}", tail(&log)));
    }
    let tree = process_tree(pid);
    listener.reset()?;
    let cpu0 = tree_cpu(&tree);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    let cpu1 = tree_cpu(&tree);
    let checks = listener.read()?;
    let window = t0.elapsed().as_secs_f64();
    let rss_kib = tree
        .iter()
        .map(|pid| status_kib(&pid.to_string(), "VmRSS"))
        .sum();
    let alive = tree.iter().filter(|pid| proc_cpu(**pid).is_some()).count();
    drop(guard);
    Ok(Phase {
        checks,
        window,
        cpu: (cpu1.0 - cpu0.0) + (cpu1.1 - cpu0.1),
        user: cpu1.0 - cpu0.0,
        system: cpu1.1 - cpu0.1,
        proc_cpu: None,
        rss_kib,
        detail: format!(
            "processes {} (pids {tree:?}, {alive} alive at the end)",
            tree.len()
        ),
    })
}

fn shoal_phase(
    program: &Path,
    listener: &mut Listener,
    seconds: u64,
    lvs_cf: &Path,
    mode: TcpConnect,
) -> Result<Phase, String> {
    listener.reset()?;
    let mut child = Command::new(program)
        .arg("shoal")
        .arg(lvs_cf)
        .arg(seconds.to_string())
        .arg(mode_name(mode))
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("shoal phase: {e}"))?;
    let output = child.stdout.take().ok_or("shoal stdout")?;
    let pid = child.id();
    let mut guard = Guard(child);
    let mut lines = BufReader::new(output).lines();
    let mut next = || -> Result<String, String> {
        match lines.next() {
            Some(Ok(line)) => Ok(line),
            _ => Err("the shoal phase exited early".into()),
        }
    };
    let mut phase = Phase::default();
    let mut t0 = Instant::now();
    let mut cpu0 = 0.0;
    loop {
        let line = next()?;
        if line == "ready" {
            listener.reset()?;
            cpu0 = proc_cpu(pid).unwrap_or(0.0);
            t0 = Instant::now();
        } else if line == "stop" {
            phase.proc_cpu = proc_cpu(pid).map(|cpu| cpu - cpu0);
            phase.checks = listener.read()?;
            phase.window = t0.elapsed().as_secs_f64();
        } else if let Some(result) = line.strip_prefix("result ") {
            phase.detail = result.to_string();
            phase.cpu = phase.field("cpu_s").unwrap_or(0.0);
            phase.user = phase.field("user_s").unwrap_or(0.0);
            phase.system = phase.field("sys_s").unwrap_or(0.0);
            phase.rss_kib = phase.field("rss_kib").unwrap_or(0.0) as u64;
            break;
        } else {
            println!("  shoal: {line}");
        }
    }
    let _ = guard.0.wait();
    Ok(phase)
}

// --- shoal's side, in its own process -----------------------------------------------------

/// (user, system) CPU seconds of this process, from getrusage(RUSAGE_SELF).
fn rusage_seconds() -> (f64, f64) {
    // SAFETY: getrusage writes into the zeroed struct we own.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (seconds(usage.ru_utime), seconds(usage.ru_stime))
}

fn mode_name(mode: TcpConnect) -> &'static str {
    match mode {
        TcpConnect::HalfOpen => "half-open",
        TcpConnect::Full => "full",
    }
}

fn parse_mode(text: &str) -> Option<TcpConnect> {
    match text {
        "half-open" => Some(TcpConnect::HalfOpen),
        "full" => Some(TcpConnect::Full),
        _ => None,
    }
}

/// Fails when half-open probes were asked for but are not what ran (no raw socket): the
/// phase would measure full connects under the wrong name.
fn check_mode(prober: &CheckProber, mode: TcpConnect) -> Result<String, String> {
    let Some(half_open) = prober.half_open_prober() else {
        return Ok("tcp_connect=full".to_string());
    };
    let counters = half_open.statistics();
    if mode == TcpConnect::HalfOpen && counters.sent == 0 {
        return Err("half-open probes asked for, but none was sent (no raw socket?)".into());
    }
    Ok(format!(
        "tcp_connect=half-open syns_sent={} answers_matched={} received={}",
        counters.sent, counters.matched, counters.received
    ))
}

fn shoal(lvs_cf: &Path, seconds: u64, mode: TcpConnect) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SHOAL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    // The runtime `shoal run` uses.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let bytes = std::fs::read(lvs_cf).map_err(|e| format!("{}: {e}", lvs_cf.display()))?;
    let loaded = config::check(&bytes, &SystemResolver::new(), &KernelFeatures::unknown());
    if loaded.has_errors() {
        let file = lvs_cf.display().to_string();
        let errors: Vec<String> = loaded.diagnostics.iter().map(|d| d.render(&file)).collect();
        return Err(errors.join("\n"));
    }
    drop(bytes);
    runtime.block_on(async {
        let heap_before = live_heap();
        let rss_before = status_kib("self", "VmRSS");
        let allocations_before = ALLOCATIONS.load(Ordering::Relaxed);
        let set = MonitorSet::from_config(&loaded.config);
        let pairs = set.pairs.len();
        let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
        let event_count = Arc::new(AtomicU64::new(0));
        let drained = Arc::clone(&event_count);
        tokio::spawn(async move {
            while received.recv().await.is_some() {
                drained.fetch_add(1, Ordering::Relaxed);
            }
        });
        let prober = CheckProber::new(mode);
        let monitors = Monitors::new(prober.clone(), events);
        monitors.update(set);
        let heap_created = live_heap();
        let allocations_created = ALLOCATIONS.load(Ordering::Relaxed);
        let started = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let all = monitors
                .snapshot()
                .iter()
                .all(|pair| pair.status.last_passed.is_some());
            if all {
                break;
            }
            if started.elapsed() > Duration::from_secs(300) {
                return Err("not every pair had a result after 300 s".to_string());
            }
        }
        let first_results = started.elapsed().as_secs_f64();
        check_mode(&prober, mode)?;
        // One full interval after the last first result: the steady state.
        tokio::time::sleep(INTERVAL + Duration::from_millis(200)).await;
        // Passes so far, pairs whose last probe failed, stalled pairs, and the median and
        // largest latency of the last probes.
        let passes = |monitors: &Monitors| {
            let snapshot = monitors.snapshot();
            let passes: u64 = snapshot
                .iter()
                .map(|p| u64::from(p.status.consecutive_passes))
                .sum();
            let failing = snapshot
                .iter()
                .filter(|p| p.status.last_passed != Some(true))
                .count();
            let stalled = snapshot.iter().filter(|p| p.status.stalled).count();
            let mut latencies: Vec<Duration> = snapshot
                .iter()
                .filter_map(|p| p.status.last_latency)
                .collect();
            latencies.sort();
            let median = latencies.get(latencies.len() / 2).copied();
            let max = latencies.last().copied();
            (passes, failing, stalled, median.unwrap_or_default(), max.unwrap_or_default())
        };
        let (passes_start, ..) = passes(&monitors);
        let heap_start = live_heap();
        let rss_start = status_kib("self", "VmRSS");
        reset_peak();
        let allocations_start = ALLOCATIONS.load(Ordering::Relaxed);
        println!("ready");
        let _ = std::io::stdout().flush();
        let cpu_start = rusage_seconds();
        let t0 = Instant::now();
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        let cpu_end = rusage_seconds();
        let (user, system) = (cpu_end.0 - cpu_start.0, cpu_end.1 - cpu_start.1);
        let cpu = user + system;
        let window = t0.elapsed().as_secs_f64();
        println!("stop");
        let _ = std::io::stdout().flush();
        let allocations = ALLOCATIONS.load(Ordering::Relaxed) - allocations_start;
        let heap_end = live_heap();
        let heap_peak = PEAK.load(Ordering::Relaxed);
        let rss_end = status_kib("self", "VmRSS");
        let (passes_end, failing, stalled, latency, latency_max) = passes(&monitors);
        let probes = passes_end.saturating_sub(passes_start);
        let per_server = |heap: usize| (heap.saturating_sub(heap_before)) as f64 / pairs as f64;
        println!(
            "result pairs={pairs} tasks={} probes={probes} failing={failing} stalled={stalled} \
             events={} latency_median_us={} latency_max_us={} first_results_s={first_results:.2} window_s={window:.2} cpu_s={cpu:.4} \
             user_s={user:.4} sys_s={system:.4} \
             us_per_probe={:.2} allocations_per_probe={:.1} setup_allocations={} \
             heap_before={heap_before} heap_created={heap_created} heap_start={heap_start} \
             heap_end={heap_end} heap_peak={heap_peak} heap_per_server_created={:.0} \
             heap_per_server_steady={:.0} heap_per_server_peak={:.0} rss_before_kib={rss_before} \
             rss_kib={rss_end} rss_start_kib={rss_start} rss_per_server={:.0} {}",
            monitors.task_count(),
            event_count.load(Ordering::Relaxed),
            latency.as_micros(),
            latency_max.as_micros(),
            cpu * 1e6 / probes.max(1) as f64,
            allocations as f64 / probes.max(1) as f64,
            allocations_created - allocations_before,
            per_server(heap_created),
            per_server(heap_end),
            per_server(heap_peak),
            rss_end.saturating_sub(rss_before) as f64 * 1024.0 / pairs as f64,
            check_mode(&prober, mode)?,
        );
        let _ = std::io::stdout().flush();
        drop(monitors);
        Ok(())
    })
}

// --- the comparison -----------------------------------------------------------------------

fn raise_limits() {
    // Both checkers and the listener may hold many sockets at once.
    // SAFETY: plain syscalls on a struct we own.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            let wanted = limit.rlim_max.max(1 << 20);
            let raised = libc::rlimit {
                rlim_cur: wanted,
                rlim_max: wanted,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) != 0 {
                limit.rlim_cur = limit.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            }
        }
    }
    // Room for a burst of connections to the one listening socket; per network
    // namespace, and only where we may write them (root in the lab or a namespace).
    for (file, value) in [
        ("/proc/sys/net/core/somaxconn", "65535"),
        ("/proc/sys/net/ipv4/tcp_max_syn_backlog", "65535"),
    ] {
        if let Err(e) = std::fs::write(file, value) {
            println!("  (could not set {file}: {e})");
        }
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        len if len % 2 == 1 => values[len / 2],
        len => (values[len / 2 - 1] + values[len / 2]) / 2.0,
    }
}

/// Writes lvs.cf and keepalived.conf for N servers into DIR (to run a phase by hand, e.g.
/// under a profiler).
fn write_files(n: u32, dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("lvs.cf"), lvs_cf(n)).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("keepalived.conf"), keepalived_conf(n)).map_err(|e| e.to_string())
}

fn compare(
    n: u32,
    seconds: u64,
    rounds: u32,
    shoal_only: bool,
    preload: Option<&str>,
) -> Result<(), String> {
    let dir: PathBuf = std::env::temp_dir().join(format!("health-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let result = compare_in(&dir, n, seconds, rounds, shoal_only, preload);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// One of the checkers a round runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Checker {
    Keepalived,
    Shoal(TcpConnect),
}

impl Checker {
    fn name(self) -> &'static str {
        match self {
            Checker::Keepalived => "keepalived",
            Checker::Shoal(TcpConnect::HalfOpen) => "shoal half-open",
            Checker::Shoal(TcpConnect::Full) => "shoal full",
        }
    }
}

/// The checkers of round `round` (from 1), rotated so that over three rounds each one
/// runs once first, once second and once last.
fn round_order(round: u32, shoal_only: bool) -> Vec<Checker> {
    let mut order = vec![
        Checker::Keepalived,
        Checker::Shoal(TcpConnect::HalfOpen),
        Checker::Shoal(TcpConnect::Full),
    ];
    if shoal_only {
        order.remove(0);
    }
    let len = order.len();
    order.rotate_left((round as usize - 1) % len);
    order
}

/// Every phase's figures, per checker, for the medians.
#[derive(Default)]
struct Tally {
    micros: Vec<(Checker, f64)>,
    ratios: Vec<(TcpConnect, f64)>,
    shoal_memory: Vec<(TcpConnect, [f64; 4])>,
    keepalived_rss: Vec<f64>,
}

impl Tally {
    fn add_round(&mut self, phases: &[(Checker, Phase)]) {
        let keepalived = phases
            .iter()
            .find(|(checker, _)| *checker == Checker::Keepalived)
            .map(|(_, phase)| phase);
        for (checker, phase) in phases {
            self.micros.push((*checker, phase.micros_per_check()));
            let Checker::Shoal(mode) = checker else {
                self.keepalived_rss.push(phase.rss_kib as f64);
                continue;
            };
            let memory = [
                "heap_per_server_created",
                "heap_per_server_steady",
                "heap_per_server_peak",
                "rss_per_server",
            ]
            .map(|name| phase.field(name).unwrap_or(f64::NAN));
            self.shoal_memory.push((*mode, memory));
            if let Some(keepalived) = keepalived {
                let ratio = phase.micros_per_check() / keepalived.micros_per_check();
                self.ratios.push((*mode, ratio));
            }
        }
    }

    fn micros(&self, checker: Checker) -> Vec<f64> {
        let of = self.micros.iter().filter(|(c, _)| *c == checker);
        of.map(|(_, micros)| *micros).collect()
    }

    fn ratios(&self, mode: TcpConnect) -> Vec<f64> {
        let of = self.ratios.iter().filter(|(m, _)| *m == mode);
        of.map(|(_, ratio)| *ratio).collect()
    }

    fn print(&self, rounds: u32, n: u32, baseline: Option<u64>) {
        let list = |values: &[f64], digits: usize| -> String {
            let shown: Vec<String> = values.iter().map(|v| format!("{v:.digits$}")).collect();
            shown.join(", ")
        };
        for checker in [
            Checker::Keepalived,
            Checker::Shoal(TcpConnect::HalfOpen),
            Checker::Shoal(TcpConnect::Full),
        ] {
            let mut micros = self.micros(checker);
            if micros.is_empty() {
                continue;
            }
            let rounds_list = list(&micros, 2);
            println!(
                "median over {rounds} rounds: {} {:.2} us/check (rounds: {rounds_list})",
                checker.name(),
                median(&mut micros)
            );
        }
        for mode in [TcpConnect::HalfOpen, TcpConnect::Full] {
            let mut ratios = self.ratios(mode);
            if ratios.is_empty() {
                continue;
            }
            let rounds_list = list(&ratios, 3);
            println!(
                "median ratio {} / keepalived: {:.3} (rounds: {rounds_list})",
                Checker::Shoal(mode).name(),
                median(&mut ratios)
            );
        }
        for mode in [TcpConnect::HalfOpen, TcpConnect::Full] {
            let memory: Vec<&[f64; 4]> = self
                .shoal_memory
                .iter()
                .filter(|(m, _)| *m == mode)
                .map(|(_, memory)| memory)
                .collect();
            if memory.is_empty() {
                continue;
            }
            let column =
                |index: usize| median(&mut memory.iter().map(|m| m[index]).collect::<Vec<_>>());
            println!(
                "memory per real server ({}, medians): heap {:.0} B after Monitors::update, \
                 {:.0} B at the end of the window, {:.0} B at the window's peak; RSS growth \
                 {:.0} B",
                Checker::Shoal(mode).name(),
                column(0),
                column(1),
                column(2),
                column(3)
            );
        }
        if let Some(baseline) = baseline {
            let rss = median(&mut self.keepalived_rss.clone());
            println!(
                "memory per real server: keepalived RSS {rss:.0} KiB with {n} servers, \
                 {baseline} KiB with 1: {:.0} B per real server",
                (rss - baseline as f64) * 1024.0 / f64::from(n.saturating_sub(1).max(1))
            );
        }
    }
}

fn compare_in(
    dir: &Path,
    n: u32,
    seconds: u64,
    rounds: u32,
    shoal_only: bool,
    preload: Option<&str>,
) -> Result<(), String> {
    let program = std::env::current_exe().map_err(|e| e.to_string())?;
    let lvs = dir.join("lvs.cf");
    let conf = dir.join("keepalived.conf");
    std::fs::write(&lvs, lvs_cf(n)).map_err(|e| e.to_string())?;
    std::fs::write(&conf, keepalived_conf(n)).map_err(|e| e.to_string())?;
    raise_limits();
    println!(
        "health bench: {n} real servers ({} virtual servers) on 127.1.0.1.. port {PORT}, \
         checked every {} s, timeout {} s; windows of {seconds} s, {rounds} rounds; checks \
         counted as the SYNs seen on lo",
        n.div_ceil(PER_SERVICE),
        INTERVAL.as_secs(),
        INTERVAL.as_secs()
    );
    let mut listener = Listener::start(&program, n)?;
    let baseline = match shoal_only {
        true => None,
        false => Some(keepalived_baseline_rss(dir, preload)?),
    };
    let mut tally = Tally::default();
    for round in 1..=rounds {
        let mut phases = Vec::new();
        for checker in round_order(round, shoal_only) {
            let phase = match checker {
                Checker::Keepalived => {
                    keepalived_phase(dir, &mut listener, seconds, &conf, preload)?
                }
                Checker::Shoal(mode) => shoal_phase(&program, &mut listener, seconds, &lvs, mode)?,
            };
            phase.print(checker.name(), round, n);
            phases.push((checker, phase));
        }
        let keepalived = phases.iter().find(|(c, _)| *c == Checker::Keepalived);
        for (checker, phase) in &phases {
            if let (Checker::Shoal(_), Some((_, keepalived))) = (checker, keepalived) {
                println!(
                    "round {round}: CPU per check, {} / keepalived = {:.3}",
                    checker.name(),
                    phase.micros_per_check() / keepalived.micros_per_check()
                );
            }
        }
        tally.add_round(&phases);
    }
    tally.print(rounds, n, baseline);
    drop(listener);
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let number = |i: usize| args.get(i).and_then(|a| a.parse::<u64>().ok());
    let small = |i: usize| number(i).and_then(|v| u32::try_from(v).ok());
    let result = match args.get(1).map(String::as_str) {
        Some("compare") => match (small(2), number(3), small(4)) {
            (Some(n), Some(seconds), Some(rounds)) if n > 0 => {
                let preload = args
                    .iter()
                    .position(|a| a == "--keepalived-preload")
                    .and_then(|at| args.get(at + 1));
                let shoal_only = args.iter().any(|a| a == "--shoal-only");
                compare(n, seconds, rounds, shoal_only, preload.map(String::as_str))
            }
            _ => Err(
                "usage: health_bench compare N SECONDS ROUNDS [--shoal-only] \
                      [--keepalived-preload LIBRARY]"
                    .into(),
            ),
        },
        Some("listen") => match (small(2), number(3).and_then(|p| u16::try_from(p).ok())) {
            (Some(n), Some(port)) => listen(n, port),
            _ => Err("usage: health_bench listen N PORT".into()),
        },
        Some("files") => match (small(2), args.get(3)) {
            (Some(n), Some(dir)) => write_files(n, Path::new(dir)),
            _ => Err("usage: health_bench files N DIR".into()),
        },
        Some("shoal") => {
            let mode = args
                .get(4)
                .map_or(Some(TcpConnect::HalfOpen), |m| parse_mode(m));
            match (args.get(2), number(3), mode) {
                (Some(path), Some(seconds), Some(mode)) => shoal(Path::new(path), seconds, mode),
                _ => Err("usage: health_bench shoal LVS_CF SECONDS [half-open|full]".into()),
            }
        }
        _ => Err("usage: health_bench compare|listen|shoal ...".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("health_bench: {e}");
            ExitCode::FAILURE
        }
    }
}
