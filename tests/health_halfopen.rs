//! Half-open TCP probes (`src/health/halfopen/`) against real sockets. Needs root (raw
//! sockets, network namespaces); every test runs on a thread of its own in a fresh
//! network namespace that ends with the thread, pass or fail, so its only traffic is
//! its own, on that namespace's loopback or on a veth pair inside it.

mod lab_support;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use futures::future::join_all;
use lab_support::{in_fresh_netns, run};
use shoal::health::check::{Check, Exchange};
use shoal::health::halfopen::{HalfOpen, Statistics};
use shoal::health::monitor::{CheckProber, Prober};
use shoal::health::{ProbeResult, Target};
use tokio::net::TcpListener;

const TIMEOUT: Duration = Duration::from_millis(300);
/// How late past its timeout a probe may report, on a loaded test machine.
const SLACK: Duration = Duration::from_millis(250);

/// A connect-only TCP check (neither send nor expect): the kind that is done half-open.
fn connect_only() -> Check {
    Check::Tcp(Exchange::default())
}

fn target(address: SocketAddr) -> Target {
    Target {
        address: address.ip(),
        port: address.port(),
    }
}

/// Runs `body` on a current-thread runtime (the one `shoal run` uses) in a fresh network
/// namespace whose `lo` is up.
fn in_netns<T: Send, F: Future<Output = T>>(body: impl FnOnce() -> F + Send) -> T {
    in_fresh_netns(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
            .block_on(body())
    })
}

/// The half-open prober of a `CheckProber`, after checking that it really is half-open
/// for `address` (root can open raw sockets).
fn half_open_of(prober: &CheckProber, address: IpAddr) -> &HalfOpen {
    let half_open = prober.half_open_prober().expect("a half-open prober");
    assert!(
        half_open.is_available(address),
        "no raw socket for {address}: run the tests as root"
    );
    half_open
}

async fn probe(prober: &CheckProber, address: SocketAddr, timeout: Duration) -> ProbeResult {
    prober
        .probe(&connect_only(), target(address), timeout)
        .await
}

/// A port that nothing listens on, held (bound, not listening) so no other socket of
/// the test gets it while the test runs; a SYN to it is answered with a RST.
struct ClosedPort {
    address: SocketAddr,
    _held: socket2::Socket,
}

fn closed_port(ip: IpAddr) -> ClosedPort {
    let domain = socket2::Domain::for_address(SocketAddr::new(ip, 0));
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, None).expect("socket");
    socket.bind(&SocketAddr::new(ip, 0).into()).expect("bind");
    let address = socket
        .local_addr()
        .expect("address")
        .as_socket()
        .expect("IP");
    ClosedPort {
        address,
        _held: socket,
    }
}

/// Whether the listener's accept queue gets a connection within `wait`.
async fn accepts(listener: &TcpListener, wait: Duration) -> bool {
    tokio::time::timeout(wait, listener.accept()).await.is_ok()
}

/// Connections to or from `port` in SYN_RECV (state 03) in /proc/net/tcp{,6}: the
/// server's half-open entries.
fn syn_recv_entries(port: u16) -> usize {
    let wanted = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|file| std::fs::read_to_string(file).ok())
        .flat_map(|text| text.lines().skip(1).map(str::to_string).collect::<Vec<_>>())
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.get(3) == Some(&"03") && fields.get(1).is_some_and(|l| l.ends_with(&wanted))
        })
        .count()
}

#[track_caller]
fn assert_listening(result: &ProbeResult) {
    assert!(result.passed, "expected a pass: {result:?}");
    assert_eq!(result.detail, "listening (SYN-ACK)", "{result:?}");
    assert!(result.latency < TIMEOUT, "{result:?}");
}

#[track_caller]
fn assert_refused_at_once(result: &ProbeResult) {
    assert!(!result.passed, "expected a failure: {result:?}");
    assert!(result.detail.contains("refused"), "{result:?}");
    assert!(
        result.latency < TIMEOUT / 3,
        "refused well before the timeout: {result:?}"
    );
}

#[test]
fn a_listening_port_passes_and_its_application_never_sees_a_connection() {
    in_netns(|| async {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let prober = CheckProber::half_open();
        let half_open = half_open_of(&prober, address.ip());
        for _ in 0..3 {
            assert_listening(&probe(&prober, address, TIMEOUT).await);
        }
        assert!(
            !accepts(&listener, Duration::from_millis(200)).await,
            "a half-open probe reached the accept queue"
        );
        // The director's kernel reset each half-open connection, so the server holds none.
        assert_eq!(syn_recv_entries(address.port()), 0);
        let counters = half_open.statistics();
        assert_eq!((counters.sent, counters.matched), (3, 3), "{counters:?}");
    });
}

#[test]
fn a_closed_port_is_refused_at_once() {
    in_netns(|| async {
        let closed = closed_port(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let prober = CheckProber::half_open();
        half_open_of(&prober, closed.address.ip());
        assert_refused_at_once(&probe(&prober, closed.address, TIMEOUT).await);
    });
}

#[test]
fn ipv6_loopback_passes_and_is_refused_the_same_way() {
    in_netns(|| async {
        let listener = TcpListener::bind((Ipv6Addr::LOCALHOST, 0))
            .await
            .expect("::1");
        let address = listener.local_addr().expect("address");
        let closed = closed_port(IpAddr::V6(Ipv6Addr::LOCALHOST));
        let prober = CheckProber::half_open();
        let half_open = half_open_of(&prober, address.ip());
        assert_listening(&probe(&prober, address, TIMEOUT).await);
        assert_refused_at_once(&probe(&prober, closed.address, TIMEOUT).await);
        assert!(!accepts(&listener, Duration::from_millis(200)).await);
        assert_eq!(syn_recv_entries(address.port()), 0);
        assert_eq!(half_open.statistics().matched, 2);
    });
}

#[test]
fn a_target_that_drops_syns_times_out_and_gets_the_syn_again() {
    in_netns(|| async {
        // A veth pair in this namespace; 198.51.100.2 has a neighbour entry with a MAC
        // nobody has, so the SYNs leave v0, reach v1, and are dropped there.
        run(
            "ip",
            &["link", "add", "v0", "type", "veth", "peer", "name", "v1"],
        );
        run("ip", &["addr", "add", "198.51.100.1/24", "dev", "v0"]);
        run("ip", &["link", "set", "v0", "up"]);
        run("ip", &["link", "set", "v1", "up"]);
        let silent = "198.51.100.2";
        let mac = "02:00:00:00:00:02";
        run(
            "ip",
            &[
                "neigh",
                "add",
                silent,
                "lladdr",
                mac,
                "dev",
                "v0",
                "nud",
                "permanent",
            ],
        );
        let address = SocketAddr::new(silent.parse().expect("literal"), 8080);
        let prober = CheckProber::half_open();
        let half_open = half_open_of(&prober, address.ip());
        let result = probe(&prober, address, TIMEOUT).await;
        assert!(!result.passed, "{result:?}");
        assert!(result.detail.contains("timed out"), "{result:?}");
        assert!(
            result.detail.contains("SYN sent to 198.51.100.2:8080"),
            "{result:?}"
        );
        assert!(result.latency >= TIMEOUT, "{result:?}");
        assert!(result.latency <= TIMEOUT + SLACK, "{result:?}");
        assert_eq!(half_open.statistics().sent, 1);
        // With time for it, the SYN is sent again after 1 s, as a connect would.
        let longer = Duration::from_millis(1500);
        let result = probe(&prober, address, longer).await;
        assert!(!result.passed && result.latency >= longer, "{result:?}");
        assert_eq!(half_open.statistics().sent, 3);
    });
}

#[test]
fn many_probes_at_once_each_get_their_own_answer() {
    in_netns(|| async {
        let mut listeners = Vec::new();
        let mut held = Vec::new();
        let mut cases = Vec::new();
        for i in 0..40 {
            if i % 2 == 0 {
                let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                    .await
                    .expect("bind");
                cases.push((listener.local_addr().expect("address"), true));
                listeners.push(listener);
            } else {
                let closed = closed_port(IpAddr::V4(Ipv4Addr::LOCALHOST));
                cases.push((closed.address, false));
                held.push(closed);
            }
        }
        // 127.0.0.2 is loopback too: a listening port of 127.0.0.1 is closed there, and
        // a closed one of 127.0.0.1 listens there.
        let swapped = TcpListener::bind((Ipv4Addr::new(127, 0, 0, 2), cases[1].0.port()))
            .await
            .expect("bind 127.0.0.2");
        cases.push((swapped.local_addr().expect("address"), true));
        listeners.push(swapped);
        cases.push((
            SocketAddr::new([127, 0, 0, 2].into(), cases[0].0.port()),
            false,
        ));
        let prober = CheckProber::half_open();
        let half_open = half_open_of(&prober, cases[0].0.ip());
        // Five probes of one target at once share its SYN.
        let shared = cases[0].0;
        let all = cases
            .iter()
            .map(|(address, _)| *address)
            .chain(std::iter::repeat_n(shared, 4));
        let results = join_all(all.clone().map(|address| probe(&prober, address, TIMEOUT))).await;
        let expected = cases
            .iter()
            .map(|(_, listening)| *listening)
            .chain(std::iter::repeat_n(true, 4));
        for ((address, result), listening) in all.zip(&results).zip(expected) {
            assert_eq!(result.passed, listening, "{address}: {result:?}");
            if listening {
                assert_listening(result);
            } else {
                assert_refused_at_once(result);
            }
        }
        let counters = half_open.statistics();
        let targets = cases.len() as u64;
        assert_eq!(
            (counters.sent, counters.matched),
            (targets, targets),
            "{counters:?}"
        );
        for listener in &listeners {
            assert!(!accepts(listener, Duration::from_millis(20)).await);
        }
    });
}

#[test]
fn the_raw_socket_gets_only_segments_to_the_reserved_port() {
    in_netns(|| async {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let prober = CheckProber::half_open();
        let half_open = half_open_of(&prober, address.ip());
        assert_listening(&probe(&prober, address, TIMEOUT).await);
        let before = half_open.statistics();
        // The SYN itself went over loopback to a port other than the reserved one; only
        // the SYN-ACK came in.
        assert_eq!(
            before,
            Statistics {
                sent: 1,
                received: 1,
                matched: 1
            }
        );
        // Other TCP traffic on the host, both ways, with data: none of it comes in.
        for _ in 0..20 {
            let mut client = tokio::net::TcpStream::connect(address)
                .await
                .expect("connect");
            let (mut server, _) = listener.accept().await.expect("accept");
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            client.write_all(b"ping").await.expect("write");
            let mut buffer = [0u8; 4];
            server.read_exact(&mut buffer).await.expect("read");
            server.write_all(b"pong").await.expect("write");
            client.read_exact(&mut buffer).await.expect("read");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(half_open.statistics(), before);
        // The reserved port stays taken for other sockets, on either family.
        let port = half_open.source_port().expect("open");
        let taken = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port));
        assert_eq!(
            taken.err().map(|e| e.kind()),
            Some(std::io::ErrorKind::AddrInUse)
        );
        let taken = std::net::TcpListener::bind((Ipv6Addr::LOCALHOST, port));
        assert_eq!(
            taken.err().map(|e| e.kind()),
            Some(std::io::ErrorKind::AddrInUse)
        );
    });
}

#[test]
fn full_mode_does_a_real_connect() {
    in_netns(|| async {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let prober = CheckProber::full();
        assert!(prober.half_open_prober().is_none());
        let result = probe(&prober, address, TIMEOUT).await;
        assert!(result.passed, "{result:?}");
        assert_eq!(result.detail, "connected");
        assert!(
            accepts(&listener, Duration::from_secs(1)).await,
            "no connection"
        );
        let closed = closed_port(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let result = probe(&prober, closed.address, TIMEOUT).await;
        assert!(
            !result.passed && result.detail.contains("refused"),
            "{result:?}"
        );
    });
}

#[test]
fn checks_with_send_or_expect_still_connect() {
    in_netns(|| async {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let prober = CheckProber::half_open();
        let send_only = Check::Tcp(Exchange {
            send: Some("x".to_string()),
            expect: None,
        });
        let result = prober.probe(&send_only, target(address), TIMEOUT).await;
        assert!(result.passed, "{result:?}");
        assert!(
            accepts(&listener, Duration::from_secs(1)).await,
            "no connection"
        );
        let counters = prober.half_open_prober().expect("half-open").statistics();
        assert_eq!(counters.sent, 0);
    });
}

/// Linux's capability header and data (version 3: two 32-bit words per set).
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Takes CAP_NET_RAW out of the calling thread's effective set (capabilities belong to
/// threads; the thread ends with the test).
fn drop_net_raw_in_this_thread() {
    const VERSION_3: u32 = 0x2008_0522;
    const CAP_NET_RAW: u32 = 13;
    let mut header = CapHeader {
        version: VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget writes two CapData into `data`, as version 3 defines.
    let rc = unsafe { libc::syscall(libc::SYS_capget, &raw mut header, data.as_mut_ptr()) };
    assert_eq!(rc, 0, "capget: {}", std::io::Error::last_os_error());
    data[0].effective &= !(1 << CAP_NET_RAW);
    // SAFETY: capset reads the header and two CapData.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &raw mut header, data.as_ptr()) };
    assert_eq!(rc, 0, "capset: {}", std::io::Error::last_os_error());
}

#[test]
fn without_cap_net_raw_connect_only_checks_do_full_connects() {
    in_netns(|| async {
        drop_net_raw_in_this_thread();
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let prober = CheckProber::half_open();
        let half_open = prober.half_open_prober().expect("half-open asked for");
        assert!(!half_open.is_available(address.ip()));
        assert!(!half_open.is_available(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        assert_eq!(
            half_open.source_port(),
            None,
            "no port kept without raw sockets"
        );
        let started = Instant::now();
        let result = probe(&prober, address, TIMEOUT).await;
        assert!(result.passed, "{result:?}");
        assert_eq!(result.detail, "connected", "a full connect");
        assert!(
            accepts(&listener, Duration::from_secs(1)).await,
            "no connection"
        );
        assert!(started.elapsed() < Duration::from_secs(1));
    });
}
