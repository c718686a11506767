//! `shoal nanny`: one health check in the foreground, for debugging a check before it
//! goes into lvs.cf (Piranha's `nanny`, without the IPVS side).
//!
//! The flags fill in a virtual server and a real server, and the check is built by the
//! same [`Check::for_server`] the daemon uses, so what this prints is what `shoal run`
//! would decide.

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use tokio::time::MissedTickBehavior;

use crate::config::lexer::unescape;
use crate::config::model::{
    DnsRcode, DnsType, KeywordValue, MonitorKind, Protocol, RealServer, StatusRange, VirtualServer,
};
use crate::config::settings::TcpConnect;
use crate::health::check::{Check, Seconds, probe_with};
use crate::health::halfopen::HalfOpen;
use crate::health::{ProbeResult, Target};

/// Arguments of `shoal nanny`; the names are lvs.cf's keywords.
#[derive(Debug, clap::Args)]
pub struct NannyArgs {
    /// The real server to check (Piranha's `-h/--server`).
    #[arg(long, value_name = "IP")]
    pub address: IpAddr,
    /// The port to check (lvs.cf's `port`).
    #[arg(long, default_value_t = 80)]
    pub port: u16,
    /// Bytes to send after connecting; `\n \r \t \\ \' \"` are decoded as in lvs.cf.
    #[arg(long, value_name = "TEXT")]
    pub send: Option<String>,
    /// What the reply must start with (`*`: any reply); escapes as for `--send`.
    #[arg(long, value_name = "TEXT")]
    pub expect: Option<String>,
    /// Read `--expect` as a POSIX extended regular expression (`use_regex = 1`).
    #[arg(long)]
    pub regex: bool,
    /// Take `--send` and `--expect` literally, without decoding escapes (Piranha's `-T`).
    #[arg(short = 'T', long)]
    pub suppress: bool,
    /// A check program; `%h` is the address and `%p` the port; its output must equal
    /// `--expect`.
    #[arg(long, value_name = "CMD")]
    pub send_program: Option<String>,
    /// Check over UDP (`protocol = udp`).
    #[arg(long)]
    pub udp: bool,
    /// Check kind: connect, send-expect, program, http, https, dns, smtp or ping.
    #[arg(long, value_name = "KIND", value_parser = keyword::<MonitorKind>)]
    pub monitor: Option<MonitorKind>,
    /// Port the check connects to instead of `--port`.
    #[arg(long, value_name = "PORT")]
    pub monitor_port: Option<u16>,
    /// HTTP method.
    #[arg(long, default_value = "GET")]
    pub http_method: String,
    /// HTTP path.
    #[arg(long, default_value = "/")]
    pub http_path: String,
    /// HTTP Host header (the address by default).
    #[arg(long, value_name = "HOST")]
    pub http_host: Option<String>,
    /// Accepted status codes and ranges, comma-separated or repeated (default 200-399).
    #[arg(long, value_name = "CODES", value_delimiter = ',', value_parser = status_range)]
    pub http_status: Vec<StatusRange>,
    /// Regular expression the first 64 KiB of the body must match.
    #[arg(long, value_name = "REGEX")]
    pub http_body: Option<String>,
    /// Verify the HTTPS certificate.
    #[arg(long)]
    pub tls_verify: bool,
    /// DNS query name.
    #[arg(long, value_name = "NAME")]
    pub dns_name: Option<String>,
    /// DNS query type.
    #[arg(long, value_name = "TYPE", default_value = "A", value_parser = keyword::<DnsType>)]
    pub dns_type: DnsType,
    /// DNS response code that passes.
    #[arg(long, value_name = "RCODE", default_value = "NOERROR", value_parser = keyword::<DnsRcode>)]
    pub dns_rcode: DnsRcode,
    /// Seconds between probes, and each probe's timeout (decimals allowed).
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = seconds)]
    pub timeout: Duration,
    /// Stop after this many probes; the exit code is then 0 if the last one passed.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// How a connect-only TCP check connects: `half-open` (a SYN on a raw socket, the
    /// daemon's default; a full connect without CAP_NET_RAW) or `full` (shoal.toml's
    /// `[health] tcp_connect`).
    #[arg(long, value_name = "MODE", default_value = "half-open", value_parser = tcp_connect)]
    pub tcp_connect: TcpConnect,
}

impl NannyArgs {
    /// The virtual and real server lvs.cf would have for these flags.
    pub fn servers(&self) -> (VirtualServer, RealServer) {
        let decode = |text: &Option<String>| {
            if self.suppress {
                text.clone()
            } else {
                text.as_deref().map(unescape)
            }
        };
        let mut vs = VirtualServer::new("nanny");
        vs.port = self.port;
        vs.protocol = if self.udp {
            Protocol::Udp
        } else {
            Protocol::Tcp
        };
        vs.send = decode(&self.send);
        vs.expect = decode(&self.expect);
        vs.use_regex = self.regex;
        vs.send_program = self.send_program.clone();
        vs.timeout = self.timeout;
        vs.monitor = self.monitor;
        vs.monitor_port = self.monitor_port;
        vs.http_method = self.http_method.clone();
        vs.http_path = self.http_path.clone();
        vs.http_host = self.http_host.clone();
        if !self.http_status.is_empty() {
            vs.http_status = self.http_status.clone();
        }
        vs.http_body = self.http_body.clone();
        vs.tls_verify = self.tls_verify;
        vs.dns_name = self.dns_name.clone();
        vs.dns_type = self.dns_type;
        vs.dns_rcode = self.dns_rcode;
        let mut rs = RealServer::new("nanny");
        rs.address = Some(self.address);
        (vs, rs)
    }
}

/// Probes every `--timeout` seconds, one line per probe on stdout; with `--count`, exits
/// 0 if the last probe passed and 1 otherwise.
pub fn run(args: &NannyArgs) -> ExitCode {
    let (vs, rs) = args.servers();
    let (check, target) = Check::for_server(&vs, &rs);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("shoal: nanny: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "shoal nanny: {} every {}: {}",
        show_target(&check, target),
        Seconds(args.timeout),
        serde_json::to_string(&check).unwrap_or_else(|_| check.kind().to_string())
    );
    let half_open = (args.tcp_connect == TcpConnect::HalfOpen).then(HalfOpen::new);
    let probes = Probes {
        check: &check,
        target,
        every: args.timeout,
        half_open: half_open.as_ref(),
    };
    let passed = runtime.block_on(probes.run(args.count));
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// What `shoal nanny` probes, how often, and how connect-only TCP checks connect.
struct Probes<'a> {
    check: &'a Check,
    target: Target,
    every: Duration,
    half_open: Option<&'a HalfOpen>,
}

impl Probes<'_> {
    /// Runs the probes; the verdict of the last one.
    async fn run(&self, count: Option<u64>) -> bool {
        let mut ticks = tokio::time::interval(self.every);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut done = 0u64;
        let mut passed = false;
        while count.is_none_or(|count| done < count) {
            ticks.tick().await;
            let result = probe_with(self.check, self.target, self.every, self.half_open).await;
            println!("{}", line(self.check, self.target, &result));
            passed = result.passed;
            done += 1;
        }
        passed
    }
}

/// One probe's line: verdict, target, check type, latency, detail.
pub fn line(check: &Check, target: Target, result: &ProbeResult) -> String {
    format!(
        "{} {} {} {}: {}",
        if result.passed { "pass" } else { "FAIL" },
        show_target(check, target),
        check.kind(),
        Seconds(result.latency),
        result.detail
    )
}

fn show_target(check: &Check, target: Target) -> String {
    match check {
        Check::Ping => target.address.to_string(),
        _ => target.socket().to_string(),
    }
}

fn tcp_connect(text: &str) -> Result<TcpConnect, String> {
    match text {
        "half-open" => Ok(TcpConnect::HalfOpen),
        "full" => Ok(TcpConnect::Full),
        _ => Err("expected half-open or full".to_string()),
    }
}

fn keyword<T: KeywordValue>(text: &str) -> Result<T, String> {
    T::from_keyword(text).ok_or_else(|| format!("expected {}", T::expected()))
}

fn status_range(text: &str) -> Result<StatusRange, String> {
    let (low, high) = text.split_once('-').unwrap_or((text, text));
    let code = |s: &str| s.parse::<u16>().ok().filter(|c| (100..=599).contains(c));
    match (code(low), code(high)) {
        (Some(low), Some(high)) if low <= high => Ok(StatusRange { low, high }),
        _ => Err(format!(
            "HTTP status code or range (such as 200 or 200-399) expected, found '{text}'"
        )),
    }
}

fn seconds(text: &str) -> Result<Duration, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("'{text}' is not a number of seconds"))?;
    match Duration::try_from_secs_f64(value) {
        Ok(duration) if !duration.is_zero() => Ok(duration),
        _ => Err(format!("'{text}' is not a usable timeout")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::check::Exchange;
    use crate::health::expect::Expect;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: NannyArgs,
    }

    fn parse(flags: &[&str]) -> NannyArgs {
        let argv = std::iter::once("nanny").chain(flags.iter().copied());
        Wrapper::try_parse_from(argv).expect("flags parse").args
    }

    fn check_of(flags: &[&str]) -> Check {
        let (vs, rs) = parse(flags).servers();
        Check::for_server(&vs, &rs).0
    }

    #[test]
    fn flags_build_the_same_check_as_lvs_cf() {
        assert_eq!(
            check_of(&["--address", "192.0.2.1", "--port", "21"]),
            Check::Tcp(Exchange::default())
        );
        assert_eq!(
            check_of(&["--address", "192.0.2.1"]),
            Check::Tcp(Exchange {
                send: Some("GET / HTTP/1.0\r\n\r\n".into()),
                expect: Some(Expect::Prefix("HTTP".into())),
            })
        );
        assert_eq!(
            check_of(&["--address", "192.0.2.1", "--udp", "--port", "53"]),
            Check::Udp(Exchange::default())
        );
    }

    #[test]
    fn escapes_are_decoded_unless_suppressed() {
        let flags = [
            "--address",
            "192.0.2.1",
            "--send",
            "PING\\r\\n",
            "--expect",
            "+PONG",
        ];
        let Check::Tcp(exchange) = check_of(&flags) else {
            panic!("tcp check expected");
        };
        assert_eq!(exchange.send.as_deref(), Some("PING\r\n"));
        let mut suppressed = flags.to_vec();
        suppressed.push("-T");
        let Check::Tcp(exchange) = check_of(&suppressed) else {
            panic!("tcp check expected");
        };
        assert_eq!(exchange.send.as_deref(), Some("PING\\r\\n"));
    }

    #[test]
    fn keyword_flags_use_lvs_cf_spellings() {
        let args = parse(&[
            "--address",
            "::1",
            "--monitor",
            "https",
            "--http-status",
            "200,301-302",
            "--dns-type",
            "AAAA",
            "--timeout",
            "0.5",
        ]);
        assert_eq!(args.monitor, Some(MonitorKind::Https));
        assert_eq!(args.http_status.len(), 2);
        assert_eq!(args.dns_type, DnsType::Aaaa);
        assert_eq!(args.timeout, Duration::from_millis(500));
        let bad = ["nanny", "--address", "::1", "--monitor", "gopher"];
        assert!(Wrapper::try_parse_from(bad).is_err());
        let zero = ["nanny", "--address", "::1", "--timeout", "0"];
        assert!(Wrapper::try_parse_from(zero).is_err());
        let status = ["nanny", "--address", "::1", "--http-status", "99"];
        assert!(Wrapper::try_parse_from(status).is_err());
    }
}
