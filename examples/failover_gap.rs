//! Benchmark driver for `bench/failover-gap.sh`, run inside the lab guest: how long the
//! client goes without an answer when the active director fails, for shoal and for
//! keepalived's VRRP, on the topology of `tests/kernel_failover.rs` (two directors with
//! their own IPVS tables, a client and two direct-routing real servers on a bridge, each
//! in its own network namespace; `tests/lab_pair/mod.rs`).
//!
//! Each round builds the topology afresh, starts the pair, waits until d1 holds the VIP
//! and the client has had 20 answers through it, lets the pair run one more second, then
//! fails d1 as a machine fails: its link set down (an ioctl) and its daemon killed with
//! SIGKILL (kill(2) of its process group), one right after the other. The client starts a
//! fetch of `http://VIP/` every 20 ms, each on its own connection and given up after
//! 500 ms, and a packet socket timestamps the gratuitous ARPs it receives. A round's gap
//! is the time from the failure to the first answer among the fetches started after it
//! (those can only have gone through d2).
//!
//! A second packet socket, on the switch's port of d2, timestamps the heartbeats (VRRP
//! advertisements) d2 receives from d1 and the announcements d2 sends: from the last of
//! the former to the first of the latter is d2's detection and takeover on the wire,
//! without the phase of the heartbeats against the failure (which moves the gap by up to
//! a keepalive from round to round).
//!
//! A round in which fetches failed before the failure (on a starved emulated CPU a pair
//! at 0.1 s can miss heartbeats and flap, keepalived as well as shoal) is counted as
//! disturbed and run again.
//!
//! Scenarios:
//! - `shoal 0.1/0.3`: `shoal run --no-checks`, keepalive 0.1 s, deadtime 0.3 s;
//! - `keepalived 0.1`: keepalived `--vrrp` (VRRP only, moving the same VIP), VRRPv3,
//!   advert_int 0.1 s, priorities 254 (d1, MASTER) and 253 (d2), so its master-down
//!   interval is 3 × 0.1 + (256 − 253) / 256 × 0.1 = 0.301 s, shoal's deadtime;
//! - `shoal 6/18`: Piranha's sample settings, keepalive 6 s, deadtime 18 s.
//!
//! In both cases the IPVS tables are the same and programmed before the failure (shoal's
//! warm standby; `ipvsadm` commands for keepalived), neither checks the real servers, and
//! each sends its announcements with its default repetitions.
//!
//! Usage: `failover_gap SHOAL ROUNDS SLOW_ROUNDS` (SHOAL: the path to the shoal binary);
//! `FAILOVER_GAP_PERIOD_MS` sets how often the client starts a fetch (default 20);
//! `FAILOVER_GAP_DEBUG=1` prints the fetches around each failover and d2's log lines.
//! The fast scenarios alternate which goes first; the slow rounds come last.

#[path = "../tests/lab_pair/mod.rs"]
mod lab_pair;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use lab_pair::{
    DIRECTORS, Director, GarpWatch, HTTP_PORT, Lan, Outage, PairConfig, PortWatch, Prober,
    REAL_SERVERS, VIP, elect, log_offsets,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    ShoalFast,
    Keepalived,
    ShoalSlow,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::ShoalFast => "shoal 0.1/0.3",
            Scenario::Keepalived => "keepalived 0.1",
            Scenario::ShoalSlow => "shoal 6/18",
        }
    }

    /// How long to wait for the first answer after the failure.
    fn patience(self) -> Duration {
        match self {
            Scenario::ShoalSlow => Duration::from_secs(40),
            _ => Duration::from_secs(10),
        }
    }
}

/// One round's figures, from the failure.
struct Round {
    /// The first answer through d2.
    answered: Duration,
    /// d2's first announcement, as the client received it.
    announced: Option<Duration>,
    /// From d2's last heartbeat (advertisement) from d1 to its first announcement, on the
    /// switch's port: detection and takeover without the heartbeats' phase.
    takeover: Option<Duration>,
    /// The last answer before the failure to the first after.
    gap: Duration,
}

fn ms(duration: Duration) -> String {
    format!("{:.0} ms", duration.as_secs_f64() * 1000.0)
}

fn directors(lan: &Lan, scenario: Scenario, shoal: &str) -> [Director; 2] {
    let config = |keepalive, deadtime| PairConfig {
        keepalive,
        deadtime,
        syncdaemon: false,
        echo: false,
    };
    match scenario {
        Scenario::ShoalFast => {
            let config = config("0.1", "0.3");
            DIRECTORS.map(|(role, _)| Director::shoal(lan, role, shoal, &config, false))
        }
        Scenario::ShoalSlow => {
            let config = config("6", "18");
            DIRECTORS.map(|(role, _)| Director::shoal(lan, role, shoal, &config, false))
        }
        Scenario::Keepalived => {
            // The table shoal would program, by hand, in both directors (VRRP moves only
            // the VIP).
            let service = format!("{VIP}:{HTTP_PORT}");
            for (role, _) in DIRECTORS {
                lan.ipvsadm(role, &["-A", "-t", &service, "-s", "rr"]);
                for (_, address) in REAL_SERVERS {
                    lan.ipvsadm(
                        role,
                        &["-a", "-t", &service, "-r", address, "-g", "-w", "1"],
                    );
                }
            }
            [
                Director::keepalived(lan, DIRECTORS[0].0, "0.1", 254),
                Director::keepalived(lan, DIRECTORS[1].0, "0.1", 253),
            ]
        }
    }
}

/// How often the client starts a fetch: `FAILOVER_GAP_PERIOD_MS`, default 20.
fn probe_period() -> Duration {
    let ms = std::env::var("FAILOVER_GAP_PERIOD_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    Duration::from_millis(ms)
}

/// Why a round gave no figure.
enum Trouble {
    /// Fetches failed before the failure (the pair flapped while starting, or the
    /// emulated CPU stalled): the round is run again.
    Disturbed(String),
    /// No answer through d2 at all: the benchmark stops.
    Failed(String),
}

/// Runs a round, again when it was disturbed (at most 3 times); counts the disturbed ones.
fn steady_round(
    scenario: Scenario,
    number: usize,
    shoal: &str,
    disturbed: &mut usize,
) -> Result<Round, String> {
    for _ in 0..3 {
        match round(scenario, number, shoal) {
            Ok(round) => return Ok(round),
            Err(Trouble::Disturbed(why)) => {
                *disturbed += 1;
                println!(
                    "round {number} {}: disturbed, run again: {why}",
                    scenario.name()
                );
            }
            Err(Trouble::Failed(why)) => return Err(why),
        }
    }
    Err(format!(
        "round {number} {}: disturbed three times",
        scenario.name()
    ))
}

fn round(scenario: Scenario, number: usize, shoal: &str) -> Result<Round, Trouble> {
    let lan = Lan::new(false);
    let mut directors = directors(&lan, scenario, shoal);
    // From the start: at keepalive 6 s the last heartbeat can come long before the failure.
    let port = PortWatch::start(&lan, DIRECTORS[1].0);
    elect(&lan, &mut directors, &[HTTP_PORT]);
    let garps = GarpWatch::start(&lan);
    let prober = Prober::start(&lan, probe_period(), Duration::from_millis(500));
    prober.wait(
        "20 answers through d1",
        Duration::from_secs(20),
        |attempts| attempts.iter().filter(|a| a.ok()).count() >= 20,
    );
    // Steady state: the backup has heard the master for a while.
    std::thread::sleep(Duration::from_secs(1));
    let before = prober.attempts();
    let early = before.iter().filter(|a| !a.ok()).count();
    if early > 0 {
        let first = before.first().map_or_else(Instant::now, |a| a.started);
        let failures: Vec<String> = before
            .iter()
            .filter(|a| !a.ok())
            .map(|a| {
                format!(
                    "{:?} after the first fetch: {:?}",
                    a.started - first,
                    a.result
                )
            })
            .collect();
        return Err(Trouble::Disturbed(format!(
            "{early} fetches failed before the failure: {failures:?}; d2's log:\n{}",
            directors[1].log()
        )));
    }

    let (failure, wall, done) = lan.fail(&mut directors[0]);
    let waited = Instant::now();
    while Outage::of(&prober.attempts(), failure, done)
        .first_after
        .is_none()
    {
        if waited.elapsed() > scenario.patience() {
            return Err(Trouble::Failed(format!(
                "no answer through d2 {:?} after the failure; d2's log:\n{}",
                scenario.patience(),
                directors[1].log()
            )));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let attempts = prober.finish();
    let outage = Outage::of(&attempts, failure, done);
    let answered = outage.since(failure).expect("an answer after");
    let gap = outage.gap().expect("answers before and after");
    let announced = garps.first(&lan.mac("d2"), failure).map(|at| at - failure);
    let takeover = match (port.last_heartbeat(done), port.first_announcement(failure)) {
        (Some(last), Some(first)) => Some(first - last),
        _ => None,
    };
    if std::env::var_os("FAILOVER_GAP_DEBUG").is_some() {
        let mut around: Vec<_> = attempts
            .iter()
            .filter(|a| a.started >= done && a.started <= failure + answered)
            .collect();
        around.sort_by_key(|a| a.started);
        if scenario != Scenario::Keepalived {
            let log = directors[1].log();
            let since = wall - Duration::from_millis(200);
            for line in log.lines() {
                if log_offsets(line, since, &[""])[0].is_some() {
                    println!("  d2: {line}");
                }
            }
        }
        for a in around {
            println!(
                "  fetch started {} took {} {:?} (retransmits {})",
                ms(a.started - failure),
                ms(a.took()),
                a.result,
                a.retransmits
            );
        }
    }
    let steps = match scenario {
        Scenario::Keepalived => String::new(),
        _ => {
            let offsets = log_offsets(
                &directors[1].log(),
                wall,
                &["partner dead", "added address", "announced"],
            );
            let shown = |o: Option<Duration>| o.map_or("?".into(), ms);
            format!(
                "; d2's log: peer dead {}, VIP added {}, announcement logged {}",
                shown(offsets[0]),
                shown(offsets[1]),
                shown(offsets[2])
            )
        }
    };
    println!(
        "round {number} {}: first answer through d2 {} after the failure (last answer before it to that one: {}); announcement at the client {}; d2's last heartbeat from d1 to its first announcement {}{steps}; {} fetches, {} failed",
        scenario.name(),
        ms(answered),
        ms(gap),
        announced.map_or("not seen".into(), ms),
        takeover.map_or("not seen".into(), ms),
        outage.total,
        outage.failures.len(),
    );
    Ok(Round {
        answered,
        announced,
        takeover,
        gap,
    })
}

fn median(mut values: Vec<Duration>) -> Option<Duration> {
    values.sort();
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2),
    }
}

fn summary(scenario: Scenario, rounds: &[Round]) -> Option<Duration> {
    let answered = median(rounds.iter().map(|r| r.answered).collect())?;
    let announced = median(rounds.iter().filter_map(|r| r.announced).collect());
    let gap = median(rounds.iter().map(|r| r.gap).collect())?;
    let takeover = median(rounds.iter().filter_map(|r| r.takeover).collect());
    println!(
        "median {} ({} rounds): first answer {}, announcement at the client {}, last heartbeat to announcement {}, last answer to first answer {}; rounds: {}",
        scenario.name(),
        rounds.len(),
        ms(answered),
        announced.map_or("-".into(), ms),
        takeover.map_or("-".into(), ms),
        ms(gap),
        rounds
            .iter()
            .map(|r| ms(r.answered))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Some(answered)
}

fn run(shoal: &str, rounds: usize, slow_rounds: usize) -> Result<(), String> {
    let mut fast = Vec::new();
    let mut keepalived = Vec::new();
    let mut disturbed = [0; 3];
    for number in 1..=rounds {
        let order = if number % 2 == 1 {
            [Scenario::ShoalFast, Scenario::Keepalived]
        } else {
            [Scenario::Keepalived, Scenario::ShoalFast]
        };
        for scenario in order {
            let result = steady_round(scenario, number, shoal, &mut disturbed[scenario as usize])?;
            match scenario {
                Scenario::ShoalFast => fast.push(result),
                _ => keepalived.push(result),
            }
        }
    }
    let mut slow = Vec::new();
    for number in 1..=slow_rounds {
        slow.push(steady_round(
            Scenario::ShoalSlow,
            number,
            shoal,
            &mut disturbed[Scenario::ShoalSlow as usize],
        )?);
    }
    println!(
        "disturbed rounds (run again): {} {}, {} {}, {} {}",
        Scenario::ShoalFast.name(),
        disturbed[0],
        Scenario::Keepalived.name(),
        disturbed[1],
        Scenario::ShoalSlow.name(),
        disturbed[2]
    );
    let fast_median = summary(Scenario::ShoalFast, &fast);
    let keepalived_median = summary(Scenario::Keepalived, &keepalived);
    let slow_median = summary(Scenario::ShoalSlow, &slow);
    let ratio = |a: Option<Duration>, b: Option<Duration>| match (a, b) {
        (Some(a), Some(b)) => format!("{:.3}", a.as_secs_f64() / b.as_secs_f64()),
        _ => "-".into(),
    };
    let per_round: Vec<String> = fast
        .iter()
        .zip(&keepalived)
        .map(|(s, k)| ratio(Some(s.answered), Some(k.answered)))
        .collect();
    println!(
        "ratio shoal 0.1/0.3 / keepalived 0.1 (first answer): {} (medians); per round {}",
        ratio(fast_median, keepalived_median),
        per_round.join(", ")
    );
    let takeover = |rounds: &[Round]| median(rounds.iter().filter_map(|r| r.takeover).collect());
    println!(
        "ratio shoal 0.1/0.3 / keepalived 0.1 (last heartbeat to announcement, on the wire): {} (medians)",
        ratio(takeover(&fast), takeover(&keepalived))
    );
    println!(
        "ratio shoal 6/18 / keepalived 0.1 (first answer): {} (medians; Piranha's sample deadtime against a 0.3 s one)",
        ratio(slow_median, keepalived_median)
    );
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(shoal), Some(rounds), Some(slow)) = (
        args.first(),
        args.get(1).and_then(|n| n.parse().ok()),
        args.get(2).and_then(|n| n.parse().ok()),
    ) else {
        eprintln!("usage: failover_gap SHOAL ROUNDS SLOW_ROUNDS");
        return ExitCode::from(2);
    };
    println!(
        "failover_gap: {} rounds of shoal 0.1/0.3 and keepalived 0.1, {slow} of shoal 6/18; kernel {}",
        rounds,
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
    );
    match run(shoal, rounds, slow) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("failover_gap: {e}");
            ExitCode::FAILURE
        }
    }
}
