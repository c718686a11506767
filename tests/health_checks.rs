//! Every health check against servers started in the test on loopback: for each type a
//! passing and a failing case, and the misbehaving servers a real pool has (silent, slow,
//! closing at once, flooding, answering with invalid UTF-8).

mod health_support;

use std::io::Write;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use health_support::*;
use shoal::config::model::{
    DnsRcode, DnsType, MonitorKind, Protocol, RealServer, StatusRange, VirtualServer,
};
use shoal::health::check::{Check, Exchange, probe};
use shoal::health::expect::Expect;
use shoal::health::http::HttpCheck;
use shoal::health::program::ProgramCheck;
use shoal::health::{ProbeResult, Target};

const TIMEOUT: Duration = Duration::from_millis(300);
/// How late past its timeout a probe may report, on a loaded test machine.
const SLACK: Duration = Duration::from_millis(250);

fn tcp(send: Option<&str>, expect: Option<Expect>) -> Check {
    Check::Tcp(Exchange {
        send: send.map(str::to_string),
        expect,
    })
}

fn prefix(text: &str) -> Option<Expect> {
    Some(Expect::Prefix(text.to_string()))
}

fn regex(text: &str) -> Option<Expect> {
    Some(Expect::Regex(text.to_string()))
}

async fn run(check: &Check, address: SocketAddr) -> ProbeResult {
    probe(check, target(address), TIMEOUT).await
}

#[track_caller]
fn assert_pass(result: &ProbeResult) {
    assert!(result.passed, "expected a pass: {result:?}");
    assert!(result.latency <= TIMEOUT + SLACK, "{result:?}");
}

#[track_caller]
fn assert_fail(result: &ProbeResult, detail: &str) {
    assert!(!result.passed, "expected a failure: {result:?}");
    assert!(
        result.detail.contains(detail),
        "detail should mention {detail:?}: {result:?}"
    );
    assert!(result.latency <= TIMEOUT + SLACK, "{result:?}");
}

#[track_caller]
fn assert_timed_out(result: &ProbeResult) {
    assert_fail(result, "timed out");
    assert!(result.latency >= TIMEOUT, "{result:?}");
}

// TCP

#[tokio::test]
async fn tcp_connect_passes_on_a_listening_port_and_fails_on_a_closed_one() {
    let (address, _) = tcp_server(Behaviour::Silent).await;
    let result = run(&tcp(None, None), address).await;
    assert_pass(&result);
    assert_eq!(result.detail, "connected");
    assert_fail(&run(&tcp(None, None), closed_port().await).await, "refused");
}

#[tokio::test]
async fn tcp_connect_works_over_ipv6_loopback() {
    let Ok(listener) = std::net::TcpListener::bind((Ipv6Addr::LOCALHOST, 0)) else {
        println!("skipped: no IPv6 loopback here");
        return;
    };
    drop(listener);
    let (address, _) = tcp_server_on(
        SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 0),
        Behaviour::greet("220 ready\r\n"),
    )
    .await;
    assert_pass(&run(&tcp(None, prefix("220")), address).await);
}

#[tokio::test]
async fn tcp_send_expect_compares_a_prefix() {
    let (address, mut requests) = tcp_server(Behaviour::answer(6, "+PONG\r\nmore data")).await;
    let check = tcp(Some("PING\r\n"), prefix("+PONG"));
    let result = run(&check, address).await;
    assert_pass(&result);
    assert_eq!(requests.recv().await.as_deref(), Some(&b"PING\r\n"[..]));
    let wrong = tcp(Some("PING\r\n"), prefix("+OK"));
    // Only as many bytes as the expected prefix are read.
    assert_fail(&run(&wrong, address).await, "expected \"+OK\", got \"+PO\"");
}

#[tokio::test]
async fn tcp_regex_expect_searches_the_reply() {
    let (address, _) = tcp_server(Behaviour::greet("HTTP/1.1 200 OK\r\n\r\n")).await;
    assert_pass(&run(&tcp(None, regex("^HTTP/1\\.[01] [23][0-9][0-9]")), address).await);
    // The reply stays open after a non-matching start, so the probe waits for more
    // until its timeout, then says what it saw.
    let result = run(&tcp(None, regex(" 5[0-9][0-9] ")), address).await;
    assert_timed_out(&result);
    assert!(result.detail.contains("HTTP/1.1 200 OK"), "{result:?}");
}

#[tokio::test]
async fn tcp_star_accepts_any_reply_but_not_none() {
    let (address, _) = tcp_server(Behaviour::greet(vec![0u8, 1, 2])).await;
    assert_pass(&run(&tcp(None, Some(Expect::Any)), address).await);
    let (closing, _) = tcp_server(Behaviour::Close).await;
    assert_fail(
        &run(&tcp(None, Some(Expect::Any)), closing).await,
        "no reply",
    );
}

#[tokio::test]
async fn a_server_that_never_answers_fails_at_the_timeout() {
    let (address, _) = tcp_server(Behaviour::Silent).await;
    let result = run(&tcp(Some("hello\r\n"), prefix("hi")), address).await;
    assert_timed_out(&result);
    assert!(
        result.detail.contains("waiting for the reply"),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_slow_answer_passes_within_the_timeout_and_fails_beyond_it() {
    let (quick, _) = tcp_server(Behaviour::slow(Duration::from_millis(100), "OK")).await;
    let result = run(&tcp(None, prefix("OK")), quick).await;
    assert_pass(&result);
    assert!(result.latency >= Duration::from_millis(100), "{result:?}");
    let (late, _) = tcp_server(Behaviour::slow(Duration::from_millis(600), "OK")).await;
    assert_timed_out(&run(&tcp(None, prefix("OK")), late).await);
}

#[tokio::test]
async fn a_server_closing_at_once_fails_without_waiting() {
    let (address, _) = tcp_server(Behaviour::Close).await;
    let result = run(
        &tcp(Some("GET / HTTP/1.0\r\n\r\n"), prefix("HTTP")),
        address,
    )
    .await;
    assert!(!result.passed, "{result:?}");
    assert!(result.latency < TIMEOUT, "{result:?}");
}

#[tokio::test]
async fn a_megabyte_reply_is_read_only_as_far_as_needed() {
    let mut megabyte = b"HTTP/1.0 200 OK\r\n\r\n".to_vec();
    megabyte.resize(1 << 20, b'x');
    let (address, _) = tcp_server(Behaviour::greet(megabyte)).await;
    let result = run(&tcp(None, prefix("HTTP/1.0 200")), address).await;
    assert_pass(&result);
    assert!(result.latency < TIMEOUT, "{result:?}");
    // A regex that never matches reads its 255 bytes, not the megabyte.
    let result = run(&tcp(None, regex("never here")), address).await;
    assert_fail(&result, "expected /never here/");
    assert!(result.latency < TIMEOUT, "{result:?}");
    assert!(result.detail.len() < 300, "{result:?}");
}

#[tokio::test]
async fn invalid_utf8_is_compared_as_bytes() {
    let (address, _) = tcp_server(Behaviour::greet(&b"OK \xff\xfe\xc3(\r\n"[..])).await;
    assert_pass(&run(&tcp(None, prefix("OK ")), address).await);
    assert_pass(&run(&tcp(None, regex("OK .+\r\n")), address).await);
    let result = run(&tcp(None, prefix("OK yes")), address).await;
    assert_fail(&result, "\u{fffd}");
}

#[tokio::test]
async fn a_send_only_check_passes_once_the_bytes_are_written() {
    let (address, mut requests) = tcp_server(Behaviour::answer(5, "")).await;
    let result = run(&tcp(Some("hello"), None), address).await;
    assert_pass(&result);
    assert_eq!(requests.recv().await.as_deref(), Some(&b"hello"[..]));
}

#[tokio::test]
async fn for_server_builds_the_check_the_probe_runs() {
    let (address, mut requests) = tcp_server(Behaviour::answer(18, "HTTP/1.0 200 OK\r\n")).await;
    let mut vs = VirtualServer::new("web");
    vs.port = 80;
    vs.monitor_port = Some(address.port());
    // Port 80 decides Piranha's HTTP default only when it is the port checked; with
    // send and expect written out, the same probe goes to the monitor port.
    vs.send = Some("GET / HTTP/1.0\r\n\r\n".into());
    vs.expect = Some("HTTP".into());
    let mut rs = RealServer::new("rs");
    rs.address = Some(address.ip());
    let (check, target) = Check::for_server(&vs, &rs);
    assert_eq!(target.port, address.port());
    assert_pass(&probe(&check, target, TIMEOUT).await);
    assert_eq!(
        requests.recv().await.as_deref(),
        Some(&b"GET / HTTP/1.0\r\n\r\n"[..])
    );
}

#[tokio::test]
async fn sctp_connect_passes_on_a_listening_port_when_the_kernel_has_sctp() {
    use socket2::{Domain, Protocol, SockAddr, Socket, Type};
    let check = Check::Sctp(Exchange::default());
    let socket = Socket::new(
        Domain::IPV4,
        Type::STREAM,
        Some(Protocol::from(libc::IPPROTO_SCTP)),
    );
    let Ok(socket) = socket else {
        // Without SCTP in the kernel the probe still ends with a clear failure.
        assert_fail(&run(&check, loopback(9)).await, "connect: ");
        println!("skipped the passing case: this kernel has no SCTP");
        return;
    };
    socket.bind(&SockAddr::from(loopback(0))).expect("bind");
    socket.listen(16).expect("listen");
    let address = socket
        .local_addr()
        .expect("address")
        .as_socket()
        .expect("inet");
    assert_pass(&run(&check, address).await);
    drop(socket);
    assert!(!run(&check, address).await.passed);
}

// UDP

fn udp(send: Option<&str>, expect: Option<Expect>) -> Check {
    Check::Udp(Exchange {
        send: send.map(str::to_string),
        expect,
    })
}

#[tokio::test]
async fn udp_reply_is_judged_by_expect() {
    let address = udp_server(|datagram| match datagram {
        b"status" => Some(b"ok: running".to_vec()),
        _ => Some(b"error".to_vec()),
    })
    .await;
    assert_pass(&run(&udp(Some("status"), prefix("ok")), address).await);
    assert_fail(
        &run(&udp(Some("other"), prefix("ok")), address).await,
        "expected \"ok\", got \"er",
    );
}

#[tokio::test]
async fn udp_without_send_sends_an_empty_datagram() {
    let address = udp_server(|datagram| datagram.is_empty().then(|| b"empty seen".to_vec())).await;
    assert_pass(&run(&udp(None, prefix("empty")), address).await);
}

#[tokio::test]
async fn udp_to_a_closed_port_fails_on_the_icmp_error() {
    let address = closed_udp_port().await;
    let result = run(&udp(Some("x"), None), address).await;
    assert_fail(&result, "refused");
    assert!(result.latency < TIMEOUT, "{result:?}");
}

#[tokio::test]
async fn udp_silence_passes_without_expect_and_fails_with_it() {
    let address = udp_server(|_| None).await;
    let result = run(&udp(Some("x"), None), address).await;
    assert_pass(&result);
    assert!(result.detail.contains("no reply"), "{result:?}");
    assert_timed_out(&run(&udp(Some("x"), Some(Expect::Any)), address).await);
}

// HTTP and HTTPS

fn http_check(tls: bool) -> HttpCheck {
    HttpCheck::from_server(&VirtualServer::new("web"), tls)
}

#[tokio::test]
async fn http_passes_on_an_accepted_status_and_fails_on_another() {
    let (ok, mut requests) = http_server(http_response("200 OK", "", b"fine")).await;
    let mut check = http_check(false);
    check.path = "/health?deep=1".into();
    check.method = "HEAD".into();
    let result = run(&Check::Http(check.clone()), ok).await;
    assert_pass(&result);
    assert_eq!(result.detail, "HTTP 200");
    let head = requests.recv().await.expect("request");
    assert!(
        head.starts_with("HEAD /health?deep=1 HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase().contains(&format!("host: {ok}")),
        "{head}"
    );

    let (failing, _) = http_server(http_response("503 Service Unavailable", "", b"")).await;
    assert_fail(
        &run(&Check::Http(check), failing).await,
        "HTTP 503, expected 200-399",
    );
}

#[tokio::test]
async fn http_never_follows_redirects() {
    let closed = closed_port().await;
    let location = format!("location: http://{closed}/elsewhere\r\n");
    let (address, _) = http_server(http_response("302 Found", &location, b"")).await;
    let mut check = http_check(false);
    assert_pass(&run(&Check::Http(check.clone()), address).await);
    check.status = vec![StatusRange {
        low: 200,
        high: 299,
    }];
    assert_fail(&run(&Check::Http(check), address).await, "HTTP 302");
}

#[tokio::test]
async fn http_host_header_is_sent_as_written() {
    let (address, mut requests) = http_server(http_response("200 OK", "", b"")).await;
    let mut check = http_check(false);
    check.host = Some("www.example.org".into());
    assert_pass(&run(&Check::Http(check), address).await);
    let head = requests.recv().await.expect("request");
    assert!(
        head.to_ascii_lowercase()
            .contains("host: www.example.org\r\n"),
        "{head}"
    );
}

#[tokio::test]
async fn http_body_must_match_within_its_first_64_kib() {
    let mut body = b"<html>status: healthy</html>".to_vec();
    body.resize(1 << 20, b' ');
    body.extend_from_slice(b"late marker");
    let (address, _) = http_server(http_response("200 OK", "", &body)).await;
    let mut check = http_check(false);
    check.body = Some("status: (healthy|degraded)".into());
    assert_pass(&run(&Check::Http(check.clone()), address).await);
    check.body = Some("status: down".into());
    assert_fail(
        &run(&Check::Http(check.clone()), address).await,
        "does not match",
    );
    check.body = Some("late marker".into());
    assert_fail(&run(&Check::Http(check), address).await, "does not match");
}

#[tokio::test]
async fn http_body_may_be_invalid_utf8() {
    let (address, _) = http_server(http_response("200 OK", "", b"\xff\xfeOK\xff")).await;
    let mut check = http_check(false);
    check.body = Some("OK".into());
    assert_pass(&run(&Check::Http(check), address).await);
}

#[tokio::test]
async fn http_to_a_silent_or_closed_server_fails() {
    let (silent, _) = tcp_server(Behaviour::Silent).await;
    assert_timed_out(&run(&Check::Http(http_check(false)), silent).await);
    let (closing, _) = tcp_server(Behaviour::Close).await;
    let result = run(&Check::Http(http_check(false)), closing).await;
    assert!(!result.passed && result.latency < TIMEOUT, "{result:?}");
    assert_fail(
        &run(&Check::Http(http_check(false)), closed_port().await).await,
        "",
    );
}

#[tokio::test]
async fn https_with_a_self_signed_certificate_passes_only_without_verification() {
    let (address, mut requests) = https_server(http_response("200 OK", "", b"tls ok")).await;
    let mut check = http_check(true);
    check.body = Some("tls ok".into());
    let result = run(&Check::Http(check.clone()), address).await;
    assert_pass(&result);
    assert!(requests.recv().await.is_some());
    check.tls_verify = true;
    let result = run(&Check::Http(check.clone()), address).await;
    assert_fail(&result, "certificate");
    // The same with a host name: it is the TLS server name, the address stays the target.
    check.host = Some("localhost".into());
    assert_fail(
        &run(&Check::Http(check.clone()), address).await,
        "certificate",
    );
    check.tls_verify = false;
    assert_pass(&run(&Check::Http(check), address).await);
}

#[tokio::test]
async fn plain_http_to_a_tls_port_fails() {
    let (address, _) = https_server(http_response("200 OK", "", b"")).await;
    assert!(!run(&Check::Http(http_check(false)), address).await.passed);
}

// DNS

fn dns(name: &str, rcode: DnsRcode) -> Check {
    let mut vs = VirtualServer::new("dns");
    vs.monitor = Some(MonitorKind::Dns);
    vs.protocol = Protocol::Udp;
    vs.dns_name = Some(name.to_string());
    vs.dns_type = DnsType::A;
    vs.dns_rcode = rcode;
    Check::for_server(&vs, &RealServer::new("rs")).0
}

#[tokio::test]
async fn dns_passes_on_the_expected_rcode() {
    let address = udp_server(dns_answer).await;
    let result = run(&dns("www.example.org", DnsRcode::NoError), address).await;
    assert_pass(&result);
    assert_eq!(result.detail, "No Error (1 answer)");
    assert_fail(
        &run(&dns("missing.example.org", DnsRcode::NoError), address).await,
        "expected NOERROR",
    );
    assert_pass(&run(&dns("missing.example.org", DnsRcode::NxDomain), address).await);
}

#[tokio::test]
async fn dns_ignores_stray_datagrams_and_fails_on_silence() {
    let junk = udp_server(|_| Some(b"\x00\x01junk".to_vec())).await;
    assert_timed_out(&run(&dns("www.example.org", DnsRcode::NoError), junk).await);
    let refused = closed_udp_port().await;
    assert_fail(
        &run(&dns("www.example.org", DnsRcode::NoError), refused).await,
        "refused",
    );
}

// SMTP

#[tokio::test]
async fn smtp_passes_on_a_220_greeting_and_says_quit() {
    let (address, mut received) = tcp_server(Behaviour::Greet {
        greeting: b"220-mail.example.org ESMTP\r\n220 ready\r\n".to_vec(),
        read: 64,
    })
    .await;
    let result = run(&Check::Smtp, address).await;
    assert_pass(&result);
    assert!(result.detail.contains("220 ready"), "{result:?}");
    let quit = tokio::time::timeout(Duration::from_secs(1), received.recv()).await;
    assert!(
        matches!(quit, Ok(Some(ref bytes)) if bytes == b"QUIT\r\n"),
        "{quit:?}"
    );
}

#[tokio::test]
async fn smtp_fails_on_another_greeting_or_none() {
    let (busy, _) = tcp_server(Behaviour::greet("554 no service\r\n")).await;
    assert_fail(&run(&Check::Smtp, busy).await, "expected 220");
    let (closing, _) = tcp_server(Behaviour::Close).await;
    assert_fail(
        &run(&Check::Smtp, closing).await,
        "closed without a greeting",
    );
    let (silent, _) = tcp_server(Behaviour::Silent).await;
    assert_timed_out(&run(&Check::Smtp, silent).await);
    let (endless, _) = tcp_server(Behaviour::greet(vec![b'2'; 1 << 20])).await;
    assert_fail(&run(&Check::Smtp, endless).await, "no complete greeting");
}

// send_program

fn program(command: &str, expect: Option<&str>) -> Check {
    Check::Program(ProgramCheck {
        command: command.to_string(),
        expect: expect.map(str::to_string),
    })
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::new(LOOPBACK, port)
}

#[tokio::test]
async fn program_output_must_equal_expect_with_h_and_p_substituted() {
    let check = program("/bin/echo %h:%p", Some("127.0.0.1:8080"));
    let result = run(&check, loopback(8080)).await;
    assert_pass(&result);
    assert_fail(
        &run(&check, loopback(9090)).await,
        "printed \"127.0.0.1:9090\"",
    );
}

#[tokio::test]
async fn program_output_loses_only_a_trailing_newline() {
    assert_pass(&run(&program("printf OK", Some("OK")), loopback(1)).await);
    let two_lines = program("printf OK\\n\\n", Some("OK"));
    assert_fail(&run(&two_lines, loopback(1)).await, "printed \"OK\\n\"");
}

#[tokio::test]
async fn program_printing_nothing_fails() {
    assert_fail(
        &run(&program("/bin/true", Some("OK")), loopback(1)).await,
        "printed \"\"",
    );
}

#[tokio::test]
async fn program_without_expect_is_judged_by_its_exit_status() {
    assert_pass(&run(&program("/bin/true", None), loopback(1)).await);
    assert_fail(
        &run(&program("/bin/false", None), loopback(1)).await,
        "exit status: 1",
    );
}

#[tokio::test]
async fn program_that_cannot_run_fails() {
    let result = run(&program("/nonexistent/check %h", Some("OK")), loopback(1)).await;
    assert_fail(&result, "cannot run '/nonexistent/check'");
}

#[tokio::test]
async fn program_is_not_given_to_a_shell() {
    // With a shell, `;` would run a second command; without one it is echo's argument.
    let check = program("/bin/echo a;echo b", Some("a;echo b"));
    assert_pass(&run(&check, loopback(1)).await);
}

#[tokio::test]
async fn program_flooding_output_fails_at_once() {
    let result = run(&program("yes", Some("y")), loopback(1)).await;
    assert_fail(&result, "more than 4095 bytes");
    assert!(result.latency < TIMEOUT, "{result:?}");
}

#[tokio::test]
async fn program_that_hangs_is_killed_at_the_timeout_with_its_children() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let script = dir.path().join("hang.sh");
    let pids = dir.path().join("pids");
    let mut file = std::fs::File::create(&script).expect("script");
    // The script's own shell and a background child both write their pids, then hang.
    writeln!(file, "sleep 100 &\necho $$ $! > \"$1\"\nsleep 100").expect("write");
    drop(file);
    // Run through /bin/sh rather than exec'ing the new file: no "text file busy" race
    // with other tests forking while it was open for writing.
    let command = format!("/bin/sh {} {}", script.display(), pids.display());
    let result = run(&program(&command, Some("never")), loopback(1)).await;
    assert_timed_out(&result);
    let written = std::fs::read_to_string(&pids).expect("the script wrote its pids");
    let pids: Vec<u32> = written
        .split_whitespace()
        .map(|p| p.parse().expect("pid"))
        .collect();
    assert_eq!(pids.len(), 2, "{written}");
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while !pids.iter().all(|&pid| process_gone(pid)) {
        assert!(
            std::time::Instant::now() < deadline,
            "still running after the probe: {pids:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ping

/// Whether this process may open an ICMP socket at all.
fn icmp_permitted() -> bool {
    use socket2::{Domain, Protocol, Socket, Type};
    let dgram = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::ICMPV4));
    let raw = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4));
    dgram.is_ok() || raw.is_ok()
}

#[tokio::test]
async fn ping_of_loopback_passes() {
    if !icmp_permitted() {
        println!("skipped: this process may not open an ICMP socket");
        return;
    }
    let result = probe(&Check::Ping, target(loopback(0)), TIMEOUT).await;
    assert_pass(&result);
    assert!(result.detail.starts_with("echo reply"), "{result:?}");
}

#[test]
fn ping_in_a_namespace_without_loopback_fails() {
    // A new network namespace has its loopback down: nothing answers 127.0.0.1.
    let outcome = std::thread::spawn(|| {
        // SAFETY: unshare only changes this new thread's namespace.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return None;
        }
        if !icmp_permitted() {
            return None;
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        Some(runtime.block_on(probe(&Check::Ping, target(loopback(0)), TIMEOUT)))
    })
    .join()
    .expect("thread");
    let Some(result) = outcome else {
        println!("skipped: cannot create a network namespace with an ICMP socket here");
        return;
    };
    assert!(!result.passed, "{result:?}");
    assert!(result.latency <= TIMEOUT + SLACK, "{result:?}");
}

// Targets no probe may reach

#[tokio::test]
async fn probes_refuse_unspecified_addresses_and_port_zero() {
    let nowhere = Target {
        address: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        port: 80,
    };
    let result = probe(&tcp(None, None), nowhere, TIMEOUT).await;
    assert!(
        !result.passed && result.detail.contains("no address"),
        "{result:?}"
    );
    let no_port = target(loopback(0));
    let result = probe(&tcp(None, None), no_port, TIMEOUT).await;
    assert!(
        !result.passed && result.detail.contains("no port"),
        "{result:?}"
    );
}

// shoal nanny

async fn nanny(flags: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_shoal"))
        .arg("nanny")
        .args(flags)
        .output()
        .await
        .expect("shoal runs")
}

#[tokio::test]
async fn nanny_prints_one_line_per_probe_and_exits_by_the_last_verdict() {
    let (address, mut requests) = tcp_server(Behaviour::answer(6, "+PONG\r\n")).await;
    let port = address.port().to_string();
    let flags = [
        "--address",
        "127.0.0.1",
        "--port",
        &port,
        "--send",
        "PING\\r\\n",
        "--expect",
        "+PONG",
        "--timeout",
        "0.2",
        "--count",
        "2",
    ];
    let output = nanny(&flags).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    for line in lines {
        assert!(line.starts_with(&format!("pass {address} tcp ")), "{line}");
        assert!(line.contains("got \"+PONG\""), "{line}");
    }
    // The escapes were decoded before sending, as lvs.cf's are.
    assert_eq!(requests.recv().await.as_deref(), Some(&b"PING\r\n"[..]));

    let closed = closed_port().await.port().to_string();
    let output = nanny(&[
        "--address",
        "127.0.0.1",
        "--port",
        &closed,
        "--timeout",
        "0.2",
        "--count",
        "1",
    ])
    .await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with("FAIL 127.0.0.1:"), "{stdout}");
    assert!(stdout.contains("refused"), "{stdout}");
}

#[tokio::test]
async fn nanny_does_connect_only_checks_as_the_daemon_does() {
    let (address, _) = tcp_server(Behaviour::Silent).await;
    let port = address.port().to_string();
    let flags = [
        "--address",
        "127.0.0.1",
        "--port",
        &port,
        "--timeout",
        "0.3",
    ];
    let run = |mode: &'static str| {
        let mut all = flags.to_vec();
        all.extend(["--count", "1", "--tcp-connect", mode]);
        async move { nanny(&all).await }
    };
    let full = run("full").await;
    assert!(full.status.success(), "{full:?}");
    assert!(
        String::from_utf8_lossy(&full.stdout).ends_with(": connected\n"),
        "{full:?}"
    );
    // Half-open where raw sockets can be opened (root), else the same full connect.
    let half_open = run("half-open").await;
    let stdout = String::from_utf8_lossy(&half_open.stdout);
    assert!(half_open.status.success(), "{half_open:?}");
    // SAFETY: geteuid has no preconditions.
    let expected = if unsafe { libc::geteuid() } == 0 {
        ": listening (SYN-ACK)\n"
    } else {
        ": connected\n"
    };
    assert!(stdout.ends_with(expected), "{half_open:?}");
    let wrong = run("syn").await;
    assert_eq!(wrong.status.code(), Some(2), "{wrong:?}");
}

#[tokio::test]
async fn nanny_runs_protocol_checks_too() {
    let address = udp_server(dns_answer).await;
    let port = address.port().to_string();
    let output = nanny(&[
        "--address",
        "127.0.0.1",
        "--port",
        &port,
        "--monitor",
        "dns",
        "--dns-name",
        "missing.example.org",
        "--dns-rcode",
        "NXDOMAIN",
        "--timeout",
        "0.3",
        "--count",
        "1",
    ])
    .await;
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.starts_with(&format!("pass {address} dns ")),
        "{stdout}"
    );
}
