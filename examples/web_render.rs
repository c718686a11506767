//! How long `shoal web` takes to serve its biggest pages for a large lvs.cf
//! (bench/web-render.sh): a dry-run daemon runs a generated lvs.cf of VIRTUALS virtual
//! servers with REALS real servers each, a real `shoal web` process serves it on
//! loopback, and one logged-in client requests each page REQUESTS times in a row on a
//! kept-alive connection, timing each from the request to the last byte of the body.
//!
//! The CONTROL/MONITORING page asks the daemon for its `monitor` answer (state, table
//! with health, charts' history) on every request, so the daemon's part is measured
//! alone too (the same request over the control socket, answered and decoded, from this
//! process); the difference is the UI's own work (building the view, rendering,
//! sending). The full `status` exchange, which `shoal status` makes, is timed as well.
//!
//! Pages: CONTROL/MONITORING always; VIRTUAL SERVERS (`/virtual`) as soon as the router
//! has that route (`shoal::web::pages::route_paths`), with no change here.
//!
//! Usage: web_render [VIRTUALS [REALS [REQUESTS]]]   (default 1000 10 200)

#[path = "../tests/web_support/mod.rs"]
mod web_support;

use std::time::{Duration, Instant};

use shoal::control::{MonitorReport, Request, Response, ServerHealth, monitor};
use web_support::{Http, Lab, LabOptions, generated_lvs_cf};

/// The pages whose size grows with lvs.cf, measured when the router has them.
const PAGES: [(&str, &str); 2] = [
    ("CONTROL/MONITORING", "/control"),
    ("VIRTUAL SERVERS", "/virtual"),
];

/// Requests before the timed ones (connection, caches, allocator).
const WARMUP: usize = 5;

struct Figures {
    median: Duration,
    p99: Duration,
    max: Duration,
}

fn figures(mut times: Vec<Duration>) -> Figures {
    times.sort();
    let n = times.len();
    let p99 = ((n * 99).div_ceil(100)).max(1) - 1;
    Figures {
        median: times[n / 2],
        p99: times[p99],
        max: times[n - 1],
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// Builds the CONTROL/MONITORING table as the daemon joins it for `monitor`
/// (`shoal::control::monitor::services`) and the page's view of it
/// (`shoal::web::view::Control::from_monitor`), from the daemon's status with a health
/// entry added for every real server, as a daemon that checks its servers reports them:
/// the part of the page whose cost grows with the checks, which the dry run cannot show.
fn view_with_health(lab: &Lab, rounds: usize) -> (Figures, usize) {
    let answer = shoal::control::request(&lab.control, &Request::Status, Duration::from_secs(30))
        .expect("status");
    let Response::Status(mut report) = answer else {
        panic!("unexpected answer {answer:?}");
    };
    report.health = report
        .names
        .iter()
        .flat_map(|names| {
            let service = names.service.clone().unwrap_or_default();
            names
                .servers
                .iter()
                .flatten()
                .map(move |server| ServerHealth {
                    service: service.clone(),
                    server: server.clone(),
                    health: "up".into(),
                    weight: Some(1),
                    operator: "none".into(),
                    latency_ms: Some(0.2),
                    failures: 0,
                    stalled: false,
                    detail: "connected".into(),
                })
        })
        .collect();
    let entries = report.health.len();
    let mut times = Vec::with_capacity(rounds);
    for i in 0..WARMUP + rounds {
        let names = report.names.clone();
        let begun = Instant::now();
        let services = monitor::services(&report.services, names, &report.health, &|_| Vec::new());
        let view = shoal::web::view::Control::from_monitor(
            MonitorReport {
                state: report.state.clone(),
                dry_run: report.dry_run,
                serial_no: report.serial_no,
                kernel_error: None,
                failover: None,
                services,
            },
            0,
        );
        let took = begun.elapsed();
        let shown = view
            .services
            .iter()
            .flat_map(|s| &s.servers)
            .filter(|s| s.health == "up")
            .count();
        assert_eq!(shown, entries, "every server shows its health");
        if i >= WARMUP {
            times.push(took);
        }
    }
    (figures(times), entries)
}

/// Times `request` over the control socket, answered and decoded, `rounds` times after
/// the warm-up; with the size of the answer's JSON.
async fn exchange(lab: &Lab, request: Request, rounds: usize) -> (Figures, usize) {
    let socket = lab.control.clone();
    tokio::task::spawn_blocking(move || {
        let mut times = Vec::with_capacity(rounds);
        for i in 0..WARMUP + rounds {
            let begun = Instant::now();
            let answer = shoal::control::request(&socket, &request, Duration::from_secs(30))
                .expect("an answer");
            let took = begun.elapsed();
            assert!(
                matches!(answer, Response::Status(_) | Response::Monitor(_)),
                "{answer:?}"
            );
            if i >= WARMUP {
                times.push(took);
            }
        }
        let size = answer_size(&socket, &request);
        (figures(times), size)
    })
    .await
    .expect("exchange timing")
}

/// The length of the daemon's answer line to `request`.
fn answer_size(socket: &std::path::Path, request: &Request) -> usize {
    use std::io::{BufRead, Write};
    let mut stream = std::os::unix::net::UnixStream::connect(socket).expect("control socket");
    let mut line = serde_json::to_string(request).expect("json");
    line.push('\n');
    stream.write_all(line.as_bytes()).expect("send");
    let mut answer = String::new();
    std::io::BufReader::new(stream)
        .read_line(&mut answer)
        .expect("answer");
    answer.len()
}

/// CPU time (user + system) a process has used so far, from /proc.
fn cpu_of(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    // After the command's closing parenthesis: state is field 3, utime 14, stime 15.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .expect("stat format");
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_nanos(ticks * 1_000_000_000 / per_second)
}

/// CPU used so far by `shoal web` and by the daemon: the servers' own time, which the
/// other work on a shared machine does not inflate as it does the wall-clock figures.
fn server_cpu(lab: &Lab) -> (Duration, Duration) {
    let web = lab.web.as_ref().expect("the UI runs").id();
    (cpu_of(web), cpu_of(lab.daemon.id()))
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numbers: VIRTUALS REALS REQUESTS"))
        .collect();
    let virtuals = args.first().copied().unwrap_or(1000);
    let reals = args.get(1).copied().unwrap_or(10);
    let requests = args.get(2).copied().unwrap_or(200).max(1);

    let started = Instant::now();
    let lab = Lab::with(LabOptions {
        lvs_cf: generated_lvs_cf(virtuals, reals),
        ..LabOptions::default()
    });
    let status = lab.status();
    let services = status.lines().filter(|l| l.starts_with("TCP ")).count();
    let servers = status
        .lines()
        .filter(|l| l.starts_with("  -> 198."))
        .count();
    assert_eq!(
        (services, servers),
        (virtuals, virtuals * reals),
        "the daemon runs the whole generated table"
    );
    println!(
        "web-render: {virtuals} virtual servers x {reals} real servers (dry-run daemon ready in {:.1} s), {requests} requests per page after {WARMUP} warm-up",
        started.elapsed().as_secs_f64()
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut http = Http::logged_in(&lab).await;
        let routes = shoal::web::pages::route_paths();
        for (name, path) in PAGES {
            if !routes.contains(&path) {
                println!("{name} ({path}): not in this build's router, skipped");
                continue;
            }
            let mut times = Vec::with_capacity(requests);
            let mut bytes = 0;
            let mut cpu_before = None;
            for i in 0..WARMUP + requests {
                if i == WARMUP {
                    cpu_before = Some(server_cpu(&lab));
                }
                let begun = Instant::now();
                let reply = http.get(path).await;
                let took = begun.elapsed();
                assert_eq!(reply.status, 200, "GET {path}: {}", reply.body);
                if i == 0 {
                    let rows = reply.body.matches("<tr class=\"server").count();
                    assert!(
                        path != "/control" || rows == virtuals * reals,
                        "the page shows every real server ({rows})"
                    );
                }
                bytes = reply.body.len();
                if i >= WARMUP {
                    times.push(took);
                }
            }
            let (web_after, daemon_after) = server_cpu(&lab);
            let (web_before, daemon_before) = cpu_before.expect("taken after the warm-up");
            let page = figures(times);
            println!(
                "{name} ({path}, {:.2} MB): median {}, p99 {}, max {}; CPU per page: shoal web {}, daemon {}",
                bytes as f64 / 1e6,
                ms(page.median),
                ms(page.p99),
                ms(page.max),
                ms((web_after - web_before) / requests as u32),
                ms((daemon_after - daemon_before) / requests as u32),
            );
            if path == "/control" {
                let (daemon, size) = exchange(&lab, Request::Monitor, requests).await;
                println!(
                    "  of which the daemon's monitor answer ({:.2} MB, control socket, alone): median {}, p99 {}; the UI's own part: median {}",
                    size as f64 / 1e6,
                    ms(daemon.median),
                    ms(daemon.p99),
                    ms(page.median.saturating_sub(daemon.median))
                );
                let (status, size) = exchange(&lab, Request::Status, requests).await;
                println!(
                    "  the status exchange (`shoal status`, {:.2} MB), alone: median {}, p99 {}",
                    size as f64 / 1e6,
                    ms(status.median),
                    ms(status.p99)
                );
                let (with_health, entries) = view_with_health(&lab, requests);
                println!(
                    "  the monitor table and the page's view with health for every real server ({entries} entries, as a daemon with checks reports; a dry run has none): median {}, p99 {}",
                    ms(with_health.median),
                    ms(with_health.p99)
                );
            }
        }
    });
}
