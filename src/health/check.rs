//! One health check as lvs.cf describes it, and one probe of it.
//!
//! [`Check::for_server`] applies Piranha's rules (and shoal's `monitor` keyword) once per
//! (virtual server, real server); [`probe`] runs one probe, bounded as a whole by the
//! virtual server's `timeout`, and dispatches to one file per check type.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::dns::DnsCheck;
use super::expect::Expect;
use super::halfopen::HalfOpen;
use super::http::HttpCheck;
use super::program::ProgramCheck;
use super::{ProbeResult, Target, dns, http, ping, program, smtp, tcp, udp};
use crate::config::model::{MonitorKind, Protocol, RealServer, VirtualServer};

/// What Piranha's nanny sends to port 80 when neither `send` nor `expect` is set.
pub const DEFAULT_HTTP_SEND: &str = "GET / HTTP/1.0\r\n\r\n";
/// What Piranha's nanny expects from port 80 when neither `send` nor `expect` is set.
pub const DEFAULT_HTTP_EXPECT: &str = "HTTP";

/// A check, built once from a virtual server's keywords; equal checks to the same
/// target are run once and shared by every virtual server that asks for them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Check {
    /// TCP connect, then optionally send and expect (Piranha's default check).
    Tcp(Exchange),
    /// The same over SCTP, for `protocol = sctp` services (a shoal extension).
    Sctp(Exchange),
    /// A UDP datagram and its reply (Piranha's `--udp`); see [`udp`] for the rules.
    Udp(Exchange),
    /// `send_program`: a command whose output must equal `expect`.
    Program(ProgramCheck),
    /// `monitor = http|https`: one HTTP request.
    Http(HttpCheck),
    /// `monitor = dns`: one DNS query over UDP.
    Dns(DnsCheck),
    /// `monitor = smtp`: a 220 banner, then `QUIT`.
    Smtp,
    /// `monitor = ping`: one ICMP echo.
    Ping,
}

/// What a stream or datagram check sends and expects after connecting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Exchange {
    /// Bytes written after connecting (`send`, escapes already decoded by the parser).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send: Option<String>,
    /// What the reply must look like; `None` for a connect-only check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expect: Option<Expect>,
}

impl Exchange {
    /// Neither `send` nor `expect`: the check passes when the connect completes.
    pub fn is_connect_only(&self) -> bool {
        self.send.is_none() && self.expect.is_none()
    }
}

impl Check {
    /// Builds the check of real server `rs` in virtual server `vs`, and where to send it.
    ///
    /// Without `monitor`, Piranha's rules: `send_program` wins; otherwise a connect over
    /// the service's protocol with the optional `send`/`expect`, where a TCP check of
    /// port 80 with neither sends `GET / HTTP/1.0\r\n\r\n` and expects `HTTP`.
    /// `monitor = connect` ignores `send`/`expect`, `send-expect` skips the port-80
    /// default, and the other kinds pick their check outright.
    ///
    /// The target port is `monitor_port` if set, else the real server's `port`, else the
    /// virtual server's `port`. That holds for firewall-mark services too: their IPVS
    /// service has no port (0), but lvs.cf's `port` stays what Piranha's lvsd passed to
    /// nanny (`-p VPORT -r RPORT`), so a migrated fwmark block is checked where Piranha
    /// checked it. A service whose port is 0 (`port = 0` on a fwmark block) must set
    /// `monitor_port` or the real server's `port`; a probe to port 0 fails saying so (a
    /// `ping` needs no port). A real server without an address gets the unspecified
    /// address, which every probe refuses rather than reaching the director itself.
    pub fn for_server(vs: &VirtualServer, rs: &RealServer) -> (Check, Target) {
        let target = Target {
            address: rs.address.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            port: target_port(vs, rs),
        };
        let check = match vs.monitor {
            None => piranha_check(vs, target.port),
            Some(kind) => explicit_check(vs, kind),
        };
        (check, target)
    }

    /// The check type as lvs.cf's `monitor` spells it, for logs and status.
    pub fn kind(&self) -> &'static str {
        match self {
            Check::Tcp(_) => "tcp",
            Check::Sctp(_) => "sctp",
            Check::Udp(_) => "udp",
            Check::Program(_) => "program",
            Check::Http(check) if check.tls => "https",
            Check::Http(_) => "http",
            Check::Dns(_) => "dns",
            Check::Smtp => "smtp",
            Check::Ping => "ping",
        }
    }

    /// Whether the check connects to a port (all but `ping`), so port 0 is an error.
    fn needs_port(&self) -> bool {
        !matches!(self, Check::Ping)
    }
}

fn target_port(vs: &VirtualServer, rs: &RealServer) -> u16 {
    vs.monitor_port.or(rs.port).unwrap_or(vs.port)
}

fn piranha_check(vs: &VirtualServer, port: u16) -> Check {
    if let Some(command) = &vs.send_program {
        return program_check(vs, command);
    }
    let mut exchange = exchange_of(vs);
    let is_tcp = vs.protocol == Protocol::Tcp;
    if is_tcp && port == 80 && exchange == Exchange::default() {
        exchange = Exchange {
            send: Some(DEFAULT_HTTP_SEND.to_string()),
            expect: Some(Expect::Prefix(DEFAULT_HTTP_EXPECT.to_string())),
        };
    }
    transport_check(vs.protocol, exchange)
}

fn explicit_check(vs: &VirtualServer, kind: MonitorKind) -> Check {
    match kind {
        MonitorKind::Connect => transport_check(vs.protocol, Exchange::default()),
        MonitorKind::SendExpect => transport_check(vs.protocol, exchange_of(vs)),
        MonitorKind::Program => program_check(vs, vs.send_program.as_deref().unwrap_or("")),
        MonitorKind::Http => Check::Http(HttpCheck::from_server(vs, false)),
        MonitorKind::Https => Check::Http(HttpCheck::from_server(vs, true)),
        MonitorKind::Dns => Check::Dns(DnsCheck::from_server(vs)),
        MonitorKind::Smtp => Check::Smtp,
        MonitorKind::Ping => Check::Ping,
    }
}

fn exchange_of(vs: &VirtualServer) -> Exchange {
    Exchange {
        send: vs.send.clone().filter(|s| !s.is_empty()),
        expect: vs
            .expect
            .as_deref()
            .and_then(|e| Expect::from_keywords(e, vs.use_regex)),
    }
}

fn transport_check(protocol: Protocol, exchange: Exchange) -> Check {
    match protocol {
        Protocol::Tcp => Check::Tcp(exchange),
        Protocol::Udp => Check::Udp(exchange),
        Protocol::Sctp => Check::Sctp(exchange),
    }
}

fn program_check(vs: &VirtualServer, command: &str) -> Check {
    Check::Program(ProgramCheck {
        command: command.to_string(),
        expect: vs.expect.clone(),
    })
}

/// Why a probe failed, before it becomes a [`ProbeResult`] detail.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// A socket or process operation failed.
    #[error("{stage}: {source}")]
    Io {
        /// What was being done (`connect`, `read`, ...).
        stage: &'static str,
        /// The system's error.
        source: io::Error,
    },
    /// The server answered, but not as expected.
    #[error("{0}")]
    Mismatch(String),
    /// The check itself cannot run as configured (no port, a bad regex, ...).
    #[error("{0}")]
    Config(String),
    /// A protocol-level failure of an HTTP, DNS or ICMP exchange.
    #[error("{0}")]
    Protocol(String),
}

impl ProbeError {
    /// An I/O error during `stage`.
    pub fn io(stage: &'static str, source: io::Error) -> ProbeError {
        ProbeError::Io { stage, source }
    }
}

/// What a probe was doing last, so a timeout can say where it got stuck.
#[derive(Debug, Default)]
pub struct Progress(Mutex<Step>);

/// The last step noted; [`Step::At`] is formatted only if a timeout reads it, since
/// every connect notes one and almost none times out.
#[derive(Debug, Default)]
enum Step {
    #[default]
    None,
    Text(String),
    At(&'static str, SocketAddr),
}

impl Progress {
    /// Records the current step (replacing the previous one).
    pub fn note(&self, step: impl Into<String>) {
        self.set(Step::Text(step.into()));
    }

    /// Records "`what` `address`" (`connecting to 192.0.2.1:80`), without formatting it.
    pub fn note_at(&self, what: &'static str, address: SocketAddr) {
        self.set(Step::At(what, address));
    }

    fn set(&self, step: Step) {
        if let Ok(mut last) = self.0.lock() {
            *last = step;
        }
    }

    /// The last step noted.
    pub fn last(&self) -> String {
        let Ok(last) = self.0.lock() else {
            return String::new();
        };
        match &*last {
            Step::None => String::new(),
            Step::Text(text) => text.clone(),
            Step::At(what, address) => format!("{what} {address}"),
        }
    }
}

/// The outcome of one probe type: a detail for the log either way.
pub type Outcome = Result<String, ProbeError>;

/// Runs one probe of `check` against `target`, giving up after `timeout`.
///
/// The whole probe (connect, exchange, a program's run) is bounded by `timeout`; the
/// latency is measured from the start to the verdict, whatever it is.
pub async fn probe(check: &Check, target: Target, timeout: Duration) -> ProbeResult {
    probe_with(check, target, timeout, None).await
}

/// [`probe`], with connect-only TCP checks done half-open by `half_open` when it is
/// given and has a raw socket for the target's family (else by a full connect).
pub async fn probe_with(
    check: &Check,
    target: Target,
    timeout: Duration,
    half_open: Option<&HalfOpen>,
) -> ProbeResult {
    let start = Instant::now();
    let progress = Progress::default();
    let outcome = match refuse_target(check, target) {
        Some(error) => Err(error),
        None => {
            let running = run(check, target, timeout, half_open, &progress);
            match tokio::time::timeout(timeout, running).await {
                Ok(outcome) => outcome,
                Err(_) => Err(ProbeError::Mismatch(timed_out(timeout, &progress.last()))),
            }
        }
    };
    let latency = start.elapsed();
    match outcome {
        Ok(detail) => ProbeResult {
            passed: true,
            latency,
            detail,
        },
        Err(error) => ProbeResult {
            passed: false,
            latency,
            detail: error.to_string(),
        },
    }
}

fn refuse_target(check: &Check, target: Target) -> Option<ProbeError> {
    if target.address.is_unspecified() {
        return Some(ProbeError::Config(
            "the real server has no address".to_string(),
        ));
    }
    if check.needs_port() && target.port == 0 {
        return Some(ProbeError::Config(
            "no port to check (a firewall-mark service needs monitor_port or the real server's port)"
                .to_string(),
        ));
    }
    None
}

fn timed_out(timeout: Duration, last: &str) -> String {
    if last.is_empty() {
        format!("timed out after {}", Seconds(timeout))
    } else {
        format!("timed out after {} ({last})", Seconds(timeout))
    }
}

async fn run(
    check: &Check,
    target: Target,
    timeout: Duration,
    half_open: Option<&HalfOpen>,
    progress: &Progress,
) -> Outcome {
    let half_open = half_open.filter(|_| matches!(check, Check::Tcp(e) if e.is_connect_only()));
    if let Some(prober) = half_open.and_then(|h| h.family(target.address)) {
        return prober.probe(target, timeout, progress).await;
    }
    match check {
        Check::Tcp(exchange) => tcp::probe(exchange, target, tcp::Transport::Tcp, progress).await,
        Check::Sctp(exchange) => tcp::probe(exchange, target, tcp::Transport::Sctp, progress).await,
        Check::Udp(exchange) => udp::probe(exchange, target, timeout, progress).await,
        Check::Program(check) => program::probe(check, target, progress).await,
        Check::Http(check) => http::probe(check, target, progress).await,
        Check::Dns(check) => dns::probe(check, target, progress).await,
        Check::Smtp => smtp::probe(target, progress).await,
        Check::Ping => ping::probe(target, timeout, progress).await,
    }
}

/// A duration as people read it in a log line: `250 ms`, `10 s`, `1.5 s`.
#[derive(Debug, Clone, Copy)]
pub struct Seconds(pub Duration);

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.0.as_secs_f64() * 1000.0;
        if millis < 1000.0 {
            write!(f, "{} ms", trim(millis))
        } else {
            write!(f, "{} s", trim(millis / 1000.0))
        }
    }
}

fn trim(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::StatusRange;

    fn server(port: Option<u16>) -> RealServer {
        let mut rs = RealServer::new("rs");
        rs.address = Some("192.0.2.1".parse().expect("literal"));
        rs.port = port;
        rs
    }

    fn tcp(send: Option<&str>, expect: Option<Expect>) -> Check {
        Check::Tcp(Exchange {
            send: send.map(str::to_string),
            expect,
        })
    }

    #[test]
    fn port_80_without_send_or_expect_gets_piranhas_http_probe() {
        let vs = VirtualServer::new("web");
        let (check, target) = Check::for_server(&vs, &server(None));
        assert_eq!(
            check,
            tcp(
                Some("GET / HTTP/1.0\r\n\r\n"),
                Some(Expect::Prefix("HTTP".into()))
            )
        );
        assert_eq!(target.port, 80);
        assert_eq!(target.address, "192.0.2.1".parse::<IpAddr>().expect("ip"));
    }

    #[test]
    fn other_ports_without_send_or_expect_are_connect_checks() {
        let mut vs = VirtualServer::new("ftp");
        vs.port = 21;
        assert_eq!(Check::for_server(&vs, &server(None)).0, tcp(None, None));
        // The real server's own port decides the port-80 rule too.
        vs.port = 80;
        assert_eq!(
            Check::for_server(&vs, &server(Some(8080))).0,
            tcp(None, None)
        );
    }

    #[test]
    fn send_and_expect_are_kept_as_decoded() {
        let mut vs = VirtualServer::new("smtp");
        vs.port = 25;
        vs.send = Some("HELO x\r\n".into());
        vs.expect = Some("250".into());
        assert_eq!(
            Check::for_server(&vs, &server(None)).0,
            tcp(Some("HELO x\r\n"), Some(Expect::Prefix("250".into())))
        );
        vs.expect = Some("^2[0-9]{2}".into());
        vs.use_regex = true;
        assert_eq!(
            Check::for_server(&vs, &server(None)).0,
            tcp(Some("HELO x\r\n"), Some(Expect::Regex("^2[0-9]{2}".into())))
        );
        vs.expect = Some("*".into());
        assert_eq!(
            Check::for_server(&vs, &server(None)).0,
            tcp(Some("HELO x\r\n"), Some(Expect::Any))
        );
    }

    #[test]
    fn send_program_overrides_send() {
        let mut vs = VirtualServer::new("web");
        vs.send_program = Some("/bin/check %h %p".into());
        vs.send = Some("ignored".into());
        vs.expect = Some("OK".into());
        assert_eq!(
            Check::for_server(&vs, &server(None)).0,
            Check::Program(ProgramCheck {
                command: "/bin/check %h %p".into(),
                expect: Some("OK".into()),
            })
        );
    }

    #[test]
    fn udp_services_get_udp_checks_without_the_http_default() {
        let mut vs = VirtualServer::new("dns");
        vs.protocol = Protocol::Udp;
        assert_eq!(
            Check::for_server(&vs, &server(None)).0,
            Check::Udp(Exchange::default())
        );
        vs.protocol = Protocol::Sctp;
        assert_eq!(
            Check::for_server(&vs, &server(None)).0,
            Check::Sctp(Exchange::default())
        );
    }

    #[test]
    fn monitor_picks_the_kind_outright() {
        let mut vs = VirtualServer::new("web");
        vs.send = Some("x".into());
        vs.monitor = Some(MonitorKind::Connect);
        assert_eq!(Check::for_server(&vs, &server(None)).0, tcp(None, None));
        vs.monitor = Some(MonitorKind::SendExpect);
        assert_eq!(
            Check::for_server(&vs, &server(None)).0,
            tcp(Some("x"), None)
        );
        vs.monitor = Some(MonitorKind::Smtp);
        assert_eq!(Check::for_server(&vs, &server(None)).0, Check::Smtp);
        vs.monitor = Some(MonitorKind::Ping);
        assert_eq!(Check::for_server(&vs, &server(None)).0, Check::Ping);
        vs.monitor = Some(MonitorKind::Https);
        vs.http_status = vec![StatusRange {
            low: 200,
            high: 200,
        }];
        let (check, _) = Check::for_server(&vs, &server(None));
        assert_eq!(check.kind(), "https");
        vs.monitor = Some(MonitorKind::Dns);
        vs.dns_name = Some("example.org".into());
        assert_eq!(Check::for_server(&vs, &server(None)).0.kind(), "dns");
    }

    #[test]
    fn monitor_port_then_server_port_then_service_port() {
        let mut vs = VirtualServer::new("web");
        vs.port = 443;
        assert_eq!(Check::for_server(&vs, &server(None)).1.port, 443);
        assert_eq!(Check::for_server(&vs, &server(Some(8443))).1.port, 8443);
        vs.monitor_port = Some(9000);
        assert_eq!(Check::for_server(&vs, &server(Some(8443))).1.port, 9000);
    }

    #[test]
    fn firewall_mark_services_are_checked_on_their_lvs_cf_port() {
        let mut vs = VirtualServer::new("mark");
        vs.fwmark = 21;
        vs.port = 21;
        assert_eq!(Check::for_server(&vs, &server(None)).1.port, 21);
        vs.port = 0;
        let (check, target) = Check::for_server(&vs, &server(None));
        assert_eq!(target.port, 0);
        assert_eq!(check, tcp(None, None));
        assert!(refuse_target(&check, target).is_some());
        assert!(refuse_target(&Check::Ping, target).is_none());
        assert_eq!(Check::for_server(&vs, &server(Some(80))).1.port, 80);
        vs.monitor_port = Some(443);
        assert_eq!(Check::for_server(&vs, &server(Some(80))).1.port, 443);
    }

    #[test]
    fn a_server_without_address_is_refused() {
        let vs = VirtualServer::new("web");
        let (check, target) = Check::for_server(&vs, &RealServer::new("none"));
        assert!(target.address.is_unspecified());
        assert!(matches!(
            refuse_target(&check, target),
            Some(ProbeError::Config(_))
        ));
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(Seconds(Duration::from_millis(250)).to_string(), "250 ms");
        assert_eq!(Seconds(Duration::from_micros(1500)).to_string(), "1.5 ms");
        assert_eq!(Seconds(Duration::from_secs(10)).to_string(), "10 s");
    }
}
