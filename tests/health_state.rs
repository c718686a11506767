//! The nanny state machine and the monitor runtime, on tokio's paused clock with a scripted
//! prober: Piranha's timing (first failure out, `reentry` back, slow start, quiesce, sorry
//! server), shoal's additions (rise/fall, overrides, shared checks, stall flags), and the
//! corpus `.ipvsadm-log` files for what Piranha really did.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use shoal::config::model::{RealServer, VirtualServer};
use shoal::health::check::Check;
use shoal::health::monitor::{
    HealthEvent, LoadSource, MonitorSet, Monitors, PairSpec, Prober, ServerId, ServiceId,
};
use shoal::health::state::{
    DEFAULT_LOAD_SCALE, Desired, Health, Override, PairConfig, PairState, SorryServer,
    load_adjusted_weight, parse_load_average, slow_start_weights,
};
use shoal::health::{ProbeResult, Target};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, sleep_until};

// ---------------------------------------------------------------------------------------
// A scripted prober

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Pass,
    Fail,
    Hang,
    Panic,
}

#[derive(Default)]
struct Script {
    modes: HashMap<Target, Mode>,
    calls: HashMap<Target, usize>,
    times: Vec<Instant>,
    loads: HashMap<Target, f64>,
    load_calls: usize,
}

/// Answers probes by target from a table the test changes as it goes, and counts them.
#[derive(Clone, Default)]
struct Fake(Arc<Mutex<Script>>);

impl Fake {
    fn script(&self) -> std::sync::MutexGuard<'_, Script> {
        self.0.lock().expect("script lock")
    }

    fn set(&self, target: Target, mode: Mode) {
        self.script().modes.insert(target, mode);
    }

    fn set_load(&self, target: Target, load: f64) {
        self.script().loads.insert(target, load);
    }

    fn calls(&self, target: Target) -> usize {
        self.script().calls.get(&target).copied().unwrap_or(0)
    }
}

impl Prober for Fake {
    fn probe(
        &self,
        _check: &Check,
        target: Target,
        _timeout: Duration,
    ) -> impl Future<Output = ProbeResult> + Send {
        let mode = {
            let mut script = self.script();
            *script.calls.entry(target).or_default() += 1;
            script.times.push(Instant::now());
            script.modes.get(&target).copied().unwrap_or(Mode::Pass)
        };
        async move {
            let result = |passed: bool, detail: &str| ProbeResult {
                passed,
                latency: Duration::from_millis(2),
                detail: detail.to_string(),
            };
            match mode {
                Mode::Pass => result(true, "HTTP/1.0 200 OK"),
                Mode::Fail => result(false, "connection refused"),
                Mode::Hang => std::future::pending().await,
                Mode::Panic => panic!("scripted probe panic"),
            }
        }
    }

    fn load(
        &self,
        _source: &LoadSource,
        target: Target,
        _timeout: Duration,
    ) -> impl Future<Output = Option<f64>> + Send {
        let load = {
            let mut script = self.script();
            script.load_calls += 1;
            script.loads.get(&target).copied()
        };
        async move { load }
    }
}

// ---------------------------------------------------------------------------------------
// Building pairs and watching events

fn secs(seconds: u64) -> Duration {
    Duration::from_secs(seconds)
}

fn address(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 31, 9, last))
}

fn target(last: u8) -> Target {
    Target {
        address: address(last),
        port: 80,
    }
}

/// A virtual server on port 80 with `timeout = 2`, `reentry = 4` (as corpus file 39).
fn virtual_server(name: &str) -> VirtualServer {
    let mut vs = VirtualServer::new(name);
    vs.active = true;
    vs.timeout = secs(2);
    vs.reentry = secs(4);
    vs
}

fn real_server(name: &str, last: u8, weight: i64) -> RealServer {
    let mut rs = RealServer::new(name);
    rs.active = true;
    rs.address = Some(address(last));
    rs.weight = weight;
    rs
}

fn pair(vs: &VirtualServer, rs: &RealServer) -> PairSpec {
    PairSpec::from_config(ServiceId::from(vs.name.as_str()), vs, rs, "rsh")
}

fn only(pairs: Vec<PairSpec>) -> MonitorSet {
    MonitorSet {
        pairs,
        sorry_services: Vec::new(),
    }
}

/// The monitors under test, their event stream and the clock's origin.
struct Lab {
    fake: Fake,
    monitors: Monitors<Fake>,
    events: mpsc::UnboundedReceiver<HealthEvent>,
    t0: Instant,
}

impl Lab {
    fn new() -> Self {
        let fake = Fake::default();
        let (sender, events) = mpsc::unbounded_channel();
        let monitors = Monitors::new(fake.clone(), sender).without_jitter();
        Lab {
            fake,
            monitors,
            events,
            t0: Instant::now(),
        }
    }

    /// The next event and when it came (seconds since the start); panics after an hour of
    /// (paused, so instant) silence.
    async fn next(&mut self) -> (f64, HealthEvent) {
        let event = tokio::time::timeout(secs(3600), self.events.recv())
            .await
            .expect("an event within an hour")
            .expect("channel open");
        (self.t0.elapsed().as_secs_f64(), event)
    }

    /// The next server event's desired state and time.
    async fn next_desired(&mut self) -> (f64, Desired) {
        match self.next().await {
            (at, HealthEvent::Server { desired, .. }) => (at, desired),
            (_, other) => panic!("expected a server event, got {other:?}"),
        }
    }

    /// Everything sent so far, without waiting.
    fn drain(&mut self) -> Vec<HealthEvent> {
        let mut events = Vec::new();
        while let Ok(event) = self.events.try_recv() {
            events.push(event);
        }
        events
    }

    async fn at(&self, seconds: f64) {
        sleep_until(self.t0 + Duration::from_secs_f64(seconds)).await;
    }

    fn health(&self, service: &str, server: &str) -> Health {
        self.status(service, server).health
    }

    fn status(&self, service: &str, server: &str) -> shoal::health::state::PairStatus {
        self.monitors
            .snapshot()
            .into_iter()
            .find(|pair| &*pair.service.0 == service && &*pair.server.0 == server)
            .expect("pair in snapshot")
            .status
    }
}

fn result(passed: bool) -> ProbeResult {
    ProbeResult {
        passed,
        latency: Duration::from_millis(1),
        detail: String::new(),
    }
}

fn config(weight: u32) -> PairConfig {
    PairConfig {
        weight,
        interval: secs(2),
        reentry: secs(10),
        rise: None,
        fall: 1,
        quiesce: false,
        load_monitor: false,
        scale: DEFAULT_LOAD_SCALE,
    }
}

/// Feeds `results` to `state` one interval apart from `start`, returning each change.
fn feed(
    state: &mut PairState,
    start: Instant,
    interval: Duration,
    results: &[bool],
) -> Vec<(usize, Desired)> {
    let mut changes = Vec::new();
    for (index, passed) in results.iter().enumerate() {
        let now = start + interval * u32::try_from(index).expect("small");
        if let Some(desired) = state.on_result(&result(*passed), now) {
            changes.push((index, desired));
        }
    }
    changes
}

// ---------------------------------------------------------------------------------------
// The state machine alone

#[test]
fn a_new_server_enters_at_its_first_pass_without_waiting_for_reentry() {
    let mut state = PairState::new(config(1));
    assert_eq!(state.health(), Health::Unknown);
    assert_eq!(state.desired(), Desired::Absent);
    let changes = feed(&mut state, Instant::now(), secs(2), &[true]);
    assert_eq!(changes, [(0, Desired::Weight(1))]);
}

#[test]
fn a_new_server_that_fails_first_must_earn_reentry() {
    let mut state = PairState::new(config(1));
    // Fails at 0, passes from 2: 10 s of passing are reached at 12 (the 7th probe).
    let changes = feed(
        &mut state,
        Instant::now(),
        secs(2),
        &[false, true, true, true, true, true, true],
    );
    assert_eq!(changes, [(6, Desired::Weight(1))]);
}

#[test]
fn first_failure_removes_and_reentry_seconds_of_success_re_add() {
    let mut state = PairState::new(config(1));
    let results = [true, true, false, true, true, true, true, true, false, true];
    let changes = feed(&mut state, Instant::now(), secs(2), &results);
    // In at 0, out at the first failure (4 s), passing from 6 s: 10 s later (16 s, the
    // 9th probe) it would return, but probe 8 (16 s) fails, so it is still out.
    assert_eq!(changes, [(0, Desired::Weight(1)), (2, Desired::Absent)]);
    assert_eq!(state.health(), Health::Rising);
    // A pass that breaks the streak restarts the reentry clock.
    let mut state = PairState::new(config(1));
    let results = [true, false, true, true, true, true, true, true];
    let changes = feed(&mut state, Instant::now(), secs(2), &results);
    assert_eq!(
        changes,
        [
            (0, Desired::Weight(1)),
            (1, Desired::Absent),
            (7, Desired::Weight(1))
        ]
    );
}

#[test]
fn fall_needs_consecutive_failures_and_rise_consecutive_passes() {
    let mut cfg = config(1);
    cfg.fall = 3;
    cfg.rise = Some(2);
    let mut state = PairState::new(cfg);
    let results = [true, false, false, true, false, false, false, true, true];
    let changes = feed(&mut state, Instant::now(), secs(2), &results);
    // Two failures are tolerated (Failing), the streak resets on a pass, the third
    // consecutive failure removes; two passes (not 10 s) bring it back.
    assert_eq!(
        changes,
        [
            (0, Desired::Weight(1)),
            (6, Desired::Absent),
            (8, Desired::Weight(1))
        ]
    );
    let mut cfg = config(1);
    cfg.fall = 3;
    let mut state = PairState::new(cfg);
    feed(&mut state, Instant::now(), secs(2), &[true, false]);
    assert_eq!(state.health(), Health::Failing);
    assert_eq!(state.status(Instant::now(), false).consecutive_failures, 1);
}

#[test]
fn slow_start_doubles_at_each_tick_up_to_the_weight() {
    let t0 = Instant::now();
    let mut state = PairState::new(config(100));
    assert_eq!(state.on_result(&result(true), t0), Some(Desired::Weight(3)));
    assert_eq!(state.health(), Health::SlowStart);
    let mut weights = vec![3];
    let mut now = t0;
    while let Some(due) = state.next_weight_tick() {
        // A tick asked early changes nothing.
        assert_eq!(
            state.on_weight_tick(due - Duration::from_millis(1), None),
            None
        );
        assert_eq!(due - now, secs(20), "max(timeout 2 s, 20 s)");
        now = due;
        match state.on_weight_tick(now, None) {
            Some(Desired::Weight(weight)) => weights.push(weight),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(weights, [3, 6, 12, 24, 48, 96, 100]);
    assert_eq!(weights, slow_start_weights(100));
    assert_eq!(state.health(), Health::Up);
    // The tick is the interval when that is longer than 20 s.
    let mut long = config(100);
    long.interval = secs(30);
    let mut state = PairState::new(long);
    state.on_result(&result(true), t0);
    assert_eq!(state.next_weight_tick(), Some(t0 + secs(30)));
}

#[test]
fn quiesce_keeps_weight_zero_then_edits_back_with_slow_start() {
    let mut cfg = config(40);
    cfg.quiesce = true;
    cfg.reentry = secs(4);
    let t0 = Instant::now();
    let mut state = PairState::new(cfg);
    // A server that never came up is not added at weight 0.
    assert_eq!(state.on_result(&result(false), t0), None);
    assert_eq!(state.desired(), Desired::Absent);
    let changes = feed(&mut state, t0 + secs(2), secs(2), &[true, true, true]);
    assert_eq!(changes, [(2, Desired::Weight(1))]);
    // Down: weight 0, still in the table.
    let later = t0 + secs(100);
    assert_eq!(
        state.on_result(&result(false), later),
        Some(Desired::Weight(0))
    );
    assert!(state.desired().in_table());
    assert_eq!(state.health(), Health::Down);
    assert_eq!(state.next_weight_tick(), None);
    // Back after reentry: the same destination edited to slow start's first weight.
    let changes = feed(&mut state, later + secs(2), secs(2), &[true, true, true]);
    assert_eq!(changes, [(2, Desired::Weight(1))]);
}

#[test]
fn weight_zero_servers_stay_at_zero() {
    let t0 = Instant::now();
    let mut state = PairState::new(config(0));
    assert_eq!(state.on_result(&result(true), t0), Some(Desired::Weight(0)));
    assert_eq!(state.health(), Health::Up);
    assert_eq!(state.next_weight_tick(), None);
    assert_eq!(
        state.on_result(&result(false), t0 + secs(2)),
        Some(Desired::Absent)
    );
}

#[test]
fn overrides_win_over_health_and_health_continues_underneath() {
    let t0 = Instant::now();
    let mut state = PairState::new(config(8));
    state.on_result(&result(true), t0);
    assert_eq!(
        state.set_override(Override::Drain),
        Some(Desired::Weight(0))
    );
    assert_eq!(state.set_override(Override::Down), Some(Desired::Absent));
    assert_eq!(state.set_override(Override::Up), Some(Desired::Weight(8)));
    // Forced up: a failure does not remove it, but health knows.
    assert_eq!(state.on_result(&result(false), t0 + secs(2)), None);
    assert_eq!(state.health(), Health::Down);
    assert_eq!(state.set_override(Override::None), Some(Desired::Absent));
    // Drain of a server that is out keeps it out.
    assert_eq!(state.set_override(Override::Drain), None);
    assert_eq!(state.desired(), Desired::Absent);
}

#[test]
fn sorry_server_is_needed_only_when_nothing_serves_and_every_server_has_a_verdict() {
    let t0 = Instant::now();
    let mut a = PairState::new(config(1));
    let mut b = PairState::new(config(1));
    let mut sorry = SorryServer::default();
    assert_eq!(sorry.update([&a, &b]), None, "both still without a verdict");
    a.on_result(&result(false), t0);
    assert_eq!(sorry.update([&a, &b]), None, "b still pending");
    b.on_result(&result(false), t0);
    assert_eq!(sorry.update([&a, &b]), Some(true));
    assert_eq!(sorry.desired(), Desired::Weight(1));
    // A drained server takes no connections: the sorry server stays.
    b.set_override(Override::Drain);
    assert_eq!(sorry.update([&a, &b]), None);
    b.set_override(Override::Up);
    assert_eq!(sorry.update([&a, &b]), Some(false));
    assert_eq!(sorry.desired(), Desired::Absent);
    // No real servers at all: the sorry server is all there is.
    assert!(SorryServer::needed(std::iter::empty::<&PairState>()));
}

#[test]
fn load_monitor_formula_on_sample_numbers() {
    // W = 100, scale 10: step = 50·|1 − load|^(1/3); applied only if ≥ 25.
    assert_eq!(load_adjusted_weight(100, 100, 0.2, 10), Some(146)); // +50·0.928
    assert_eq!(load_adjusted_weight(100, 146, 0.2, 10), Some(192));
    assert_eq!(load_adjusted_weight(100, 100, 0.9, 10), None); // +23.2 < 25
    assert_eq!(load_adjusted_weight(100, 100, 1.0, 10), None);
    assert_eq!(load_adjusted_weight(100, 300, 9.0, 10), Some(200)); // −50·2
    assert_eq!(load_adjusted_weight(100, 100, 9.0, 10), None); // floored at W
    // Clamped to scale·W.
    assert_eq!(load_adjusted_weight(100, 990, 0.0, 10), None);
    assert_eq!(load_adjusted_weight(100, 960, 0.0, 10), Some(1000)); // 1010 → 1000: +40
    assert_eq!(load_adjusted_weight(100, 950, 0.0, 10), Some(1000));
    // The clamp can make a change too small to apply: stuck at 120 under heavy load.
    assert_eq!(load_adjusted_weight(100, 120, 3.0, 10), None);
    // Nonsense readings change nothing.
    assert_eq!(load_adjusted_weight(100, 100, f64::NAN, 10), None);
    assert_eq!(load_adjusted_weight(100, 100, -1.0, 10), None);
    assert_eq!(load_adjusted_weight(0, 0, 0.0, 10), None);
}

#[test]
fn load_average_parser_reads_uptime_rup_and_ruptime() {
    let lines = [
        // procps uptime
        (
            " 10:14:03 up 3 days,  2:04,  2 users,  load average: 0.52, 0.58, 0.59",
            0.52,
        ),
        (
            " 08:01:22 up 12 min,  1 user,  load average: 1.07, 0.80, 0.40",
            1.07,
        ),
        // BSD / macOS uptime
        (
            "10:14  up 3 days,  2:04, 2 users, load averages: 1.52 1.43 1.38",
            1.52,
        ),
        // a decimal-comma locale
        (
            " 10:14:03 up 3 days,  2:04,  2 users,  load average: 0,52, 0,58, 0,59",
            0.52,
        ),
        // rup HOST
        (
            "web1.example.net    up  3 days,  2:04,  load average: 0.25, 0.30, 0.31",
            0.25,
        ),
        (
            "loadbalancer2  up 41 mins,  load average: 12.00 11.50 9.75",
            12.0,
        ),
    ];
    for (line, load) in lines {
        assert_eq!(parse_load_average(line, None), Some(load), "{line}");
        assert_eq!(
            parse_load_average(&format!("{line}\n"), Some("10.0.0.1")),
            Some(load)
        );
    }
    let ruptime = "\
web1          up  3+02:04,     2 users,  load 0.52, 0.58, 0.59
web2          up  1+00:10,     0 users,  load 2.10, 1.50, 1.00
web3        down  2+11:00
";
    assert_eq!(parse_load_average(ruptime, Some("web2")), Some(2.10));
    assert_eq!(parse_load_average(ruptime, Some("web1")), Some(0.52));
    assert_eq!(parse_load_average(ruptime, Some("web3")), None, "down");
    assert_eq!(parse_load_average(ruptime, None), None, "ambiguous");
    assert_eq!(parse_load_average(ruptime, Some("10.0.0.9")), None);
    let one = "web2.example.net  up  1+00:10,     0 users,  load 2.10, 1.50, 1.00";
    assert_eq!(parse_load_average(one, Some("web2")), Some(2.10));
    assert_eq!(
        parse_load_average("rup: RPC: Program not registered", None),
        None
    );
    assert_eq!(parse_load_average("", None), None);
}

// ---------------------------------------------------------------------------------------
// The corpus: what Piranha's nanny did

/// `(ipvsadm flag, real server, weight)` for every -a/-e of `ipvsadm-log`, in time order,
/// with the time.
fn weight_commands(file: &str) -> Vec<(f64, String, u32)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus/lvs.cf")
        .join(file);
    let text = std::fs::read_to_string(&path).expect("corpus ipvsadm-log");
    let mut commands: Vec<(f64, String, u32)> = text
        .lines()
        .filter_map(|line| {
            let time: f64 = line
                .strip_prefix("t=")?
                .split_whitespace()
                .next()?
                .parse()
                .ok()?;
            let words: Vec<&str> = line.split_whitespace().collect();
            let command = words.iter().position(|w| w.ends_with("ipvsadm"))?;
            let verb = *words.get(command + 1)?;
            if verb != "-a" && verb != "-e" {
                return None;
            }
            let server = words.iter().position(|w| *w == "-r")?;
            let weight = words.iter().position(|w| *w == "-w")?;
            Some((
                time,
                words.get(server + 1)?.to_string(),
                words.get(weight + 1)?.parse().ok()?,
            ))
        })
        .collect();
    commands.sort_by(|a, b| a.0.total_cmp(&b.0));
    commands
}

fn weights_of(commands: &[(f64, String, u32)], server: &str) -> (Vec<f64>, Vec<u32>) {
    commands
        .iter()
        .filter(|(_, rs, _)| rs == server)
        .map(|(time, _, weight)| (*time, *weight))
        .unzip()
}

#[test]
fn corpus_slow_start_sequences_match_the_rule() {
    // 39: weight 40 (quiesce) and weight 3, timeout 2.
    let commands = weight_commands("39-sorry-server-all-down-regex.ipvsadm-log");
    let (times, weights) = weights_of(&commands, "10.31.9.11:80");
    // The slow start, then the quiesce at the failure (weight 0, an edit, not a removal).
    assert_eq!(weights, [1, 2, 4, 8, 16, 32, 40, 0]);
    assert_eq!(&weights[..7], slow_start_weights(40));
    // Steady ticks every ~20 s = max(timeout 2, 20): 20.1 s between edits under qemu.
    for pair in times[1..7].windows(2) {
        let gap = pair[1] - pair[0];
        assert!((19.5..21.0).contains(&gap), "gap {gap}");
    }
    // Difference: nanny's tick runs from its own start, not from the add, so its first
    // doubling came 14.3 s after the add; shoal doubles one full tick (20 s) after entry.
    let first = times[1] - times[0];
    assert!(first < 20.0, "Piranha's first tick after {first} s");
    let (_, small) = weights_of(&commands, "10.31.9.12:80");
    assert_eq!(small, slow_start_weights(3));

    // 17: weight 3, timeout 3: 1, 2, 3.
    let commands = weight_commands("17-nat-port-mapping-wrr.ipvsadm-log");
    let (times, weights) = weights_of(&commands, "10.70.9.11:8080");
    assert_eq!(weights, slow_start_weights(3));
    // Difference: with timeout 3 nanny ticked every 6 loops = 18 s; shoal (SPEC 5.1) uses
    // max(timeout, 20 s) = 20 s.
    let gap = times[2] - times[1];
    assert!((17.5..18.6).contains(&gap), "gap {gap}");

    // 08, 15, 16: weight 2 → 1, 2; weight 1 servers are added at 1 and never edited.
    for (file, server) in [
        ("08-dr-weights-inactive-server.ipvsadm-log", "172.16.0.5:80"),
        ("15-hostnames-need-resolving.ipvsadm-log", "10.95.1.11:80"),
        ("16-tabs-quotes-all-globals.ipvsadm-log", "10.50.9.21:25"),
    ] {
        let (_, weights) = weights_of(&weight_commands(file), server);
        assert_eq!(weights, slow_start_weights(2), "{file}");
    }
    let (_, weights) = weights_of(&commands, "10.70.9.12:8081");
    assert_eq!(weights, slow_start_weights(1));
}

#[test]
fn corpus_servers_are_added_at_the_first_pass_not_after_reentry() {
    // 39 has reentry 4, 15 has the default 180 s: both add about a second after the start
    // of the run, as PairState::new does at the first pass.
    for (file, server) in [
        (
            "39-sorry-server-all-down-regex.ipvsadm-log",
            "10.31.9.11:80",
        ),
        ("15-hostnames-need-resolving.ipvsadm-log", "10.95.1.11:80"),
    ] {
        let (times, _) = weights_of(&weight_commands(file), server);
        assert!(times[0] < 4.0, "{file}: added at {}", times[0]);
    }
}

// ---------------------------------------------------------------------------------------
// The monitors on a paused clock

#[tokio::test(start_paused = true)]
async fn first_failure_removes_and_reentry_re_adds_through_the_monitor() {
    let mut lab = Lab::new();
    let vs = virtual_server("web");
    lab.monitors
        .update(only(vec![pair(&vs, &real_server("big", 11, 1))]));
    assert_eq!(lab.next_desired().await, (0.0, Desired::Weight(1)));
    lab.at(3.0).await;
    lab.fake.set(target(11), Mode::Fail);
    // Probes at 0, 2, 4: removed at 4.
    assert_eq!(lab.next_desired().await, (4.0, Desired::Absent));
    assert_eq!(lab.health("web", "big"), Health::Down);
    lab.at(7.0).await;
    lab.fake.set(target(11), Mode::Pass);
    // Passing from 8; reentry 4 s is reached at 12.
    assert_eq!(lab.next_desired().await, (12.0, Desired::Weight(1)));
    let status = lab.status("web", "big");
    assert_eq!(status.health, Health::Up);
    assert_eq!(status.last_passed, Some(true));
    assert_eq!(status.last_detail, "HTTP/1.0 200 OK");
    assert!(!status.stalled);
}

#[tokio::test(start_paused = true)]
async fn rise_and_fall_through_the_monitor() {
    let mut lab = Lab::new();
    let mut vs = virtual_server("web");
    vs.rise = Some(3);
    vs.fall = 2;
    lab.monitors
        .update(only(vec![pair(&vs, &real_server("a", 11, 1))]));
    assert_eq!(lab.next_desired().await, (0.0, Desired::Weight(1)));
    lab.at(1.0).await;
    lab.fake.set(target(11), Mode::Fail);
    // Failures at 2 and 4: out at the second.
    assert_eq!(lab.next_desired().await, (4.0, Desired::Absent));
    lab.at(5.0).await;
    lab.fake.set(target(11), Mode::Pass);
    // Three passes: 6, 8, 10.
    assert_eq!(lab.next_desired().await, (10.0, Desired::Weight(1)));
}

#[tokio::test(start_paused = true)]
async fn slow_start_through_the_monitor_ticks_every_twenty_seconds() {
    let mut lab = Lab::new();
    let vs = virtual_server("web");
    lab.monitors
        .update(only(vec![pair(&vs, &real_server("big", 11, 100))]));
    let mut steps = Vec::new();
    for _ in 0..7 {
        steps.push(lab.next_desired().await);
    }
    let expected: Vec<(f64, Desired)> = [3, 6, 12, 24, 48, 96, 100]
        .into_iter()
        .enumerate()
        .map(|(tick, weight)| (20.0 * tick as f64, Desired::Weight(weight)))
        .collect();
    assert_eq!(steps, expected);
    assert_eq!(lab.health("web", "big"), Health::Up);
    // Nothing more: no tick once the weight is reached (and no load monitor).
    lab.at(300.0).await;
    assert_eq!(lab.drain(), []);
}

#[tokio::test(start_paused = true)]
async fn load_monitor_adjusts_the_weight_after_slow_start() {
    let mut lab = Lab::new();
    let mut vs = virtual_server("web");
    vs.load_monitor = shoal::config::model::LoadMonitor::Rup;
    lab.fake.set_load(target(11), 0.2);
    lab.monitors
        .update(only(vec![pair(&vs, &real_server("a", 11, 32))]));
    let weights: Vec<Desired> = {
        let mut weights = Vec::new();
        for _ in 0..7 {
            weights.push(lab.next_desired().await.1);
        }
        weights
    };
    // Slow start 1..32 (no load reading needed), then 32 + 16·0.928 = 46, 60, ...
    assert_eq!(
        weights,
        [1, 2, 4, 8, 16, 32, 46].map(Desired::Weight).to_vec()
    );
    assert_eq!(lab.fake.script().load_calls, 1);
    // At load 1 the weight stays where it is, though the load is read at every tick.
    lab.fake.set_load(target(11), 1.0);
    lab.at(510.0).await;
    assert_eq!(lab.drain(), []);
    assert!(lab.fake.script().load_calls >= 19);
    // Heavy load brings it down, never below the configured weight.
    lab.fake.set_load(target(11), 9.0);
    assert_eq!(lab.next_desired().await, (520.0, Desired::Weight(32)));
}

#[tokio::test(start_paused = true)]
async fn quiesce_keeps_the_destination_at_weight_zero_through_the_monitor() {
    let mut lab = Lab::new();
    let mut vs = virtual_server("web");
    vs.quiesce_server = true;
    lab.monitors
        .update(only(vec![pair(&vs, &real_server("small", 12, 3))]));
    assert_eq!(lab.next_desired().await, (0.0, Desired::Weight(1)));
    assert_eq!(lab.next_desired().await, (20.0, Desired::Weight(2)));
    assert_eq!(lab.next_desired().await, (40.0, Desired::Weight(3)));
    lab.at(41.0).await;
    lab.fake.set(target(12), Mode::Fail);
    assert_eq!(lab.next_desired().await, (42.0, Desired::Weight(0)));
    lab.at(43.0).await;
    lab.fake.set(target(12), Mode::Pass);
    // Passing from 44, reentry 4: edited back at 48, then slow start again.
    assert_eq!(lab.next_desired().await, (48.0, Desired::Weight(1)));
    assert_eq!(lab.next_desired().await, (68.0, Desired::Weight(2)));
}

#[tokio::test(start_paused = true)]
async fn sorry_server_goes_in_when_all_are_down_and_out_when_one_is_back() {
    let mut lab = Lab::new();
    let mut vs = virtual_server("api");
    vs.sorry_server = Some(address(99));
    lab.fake.set(target(21), Mode::Fail);
    lab.fake.set(target(22), Mode::Fail);
    let set = MonitorSet {
        pairs: vec![
            pair(&vs, &real_server("api1", 21, 1)),
            pair(&vs, &real_server("api2", 22, 1)),
        ],
        sorry_services: vec![ServiceId::from("api")],
    };
    lab.monitors.update(set);
    let api = ServiceId::from("api");
    // No server events (they were never in), one sorry event once both have failed.
    let (at, event) = lab.next().await;
    assert_eq!(at, 0.0);
    assert_eq!(
        event,
        HealthEvent::Sorry {
            service: api.clone(),
            desired: Desired::Weight(SorryServer::WEIGHT),
        }
    );
    assert_eq!(lab.monitors.sorry(&api), Some(Desired::Weight(1)));
    lab.at(5.0).await;
    lab.fake.set(target(22), Mode::Pass);
    // api2 passes from 6, in at 10; the sorry server leaves with it.
    assert_eq!(lab.next_desired().await, (10.0, Desired::Weight(1)));
    let (at, event) = lab.next().await;
    assert_eq!(at, 10.0);
    assert_eq!(
        event,
        HealthEvent::Sorry {
            service: api.clone(),
            desired: Desired::Absent,
        }
    );
    lab.at(11.0).await;
    lab.fake.set(target(22), Mode::Fail);
    assert_eq!(lab.next_desired().await, (12.0, Desired::Absent));
    let (_, event) = lab.next().await;
    assert!(matches!(
        event,
        HealthEvent::Sorry {
            desired: Desired::Weight(1),
            ..
        }
    ));
}

#[tokio::test(start_paused = true)]
async fn a_virtual_server_without_real_servers_gets_its_sorry_server_at_once() {
    let mut lab = Lab::new();
    lab.monitors.update(MonitorSet {
        pairs: Vec::new(),
        sorry_services: vec![ServiceId::from("empty")],
    });
    assert_eq!(
        lab.drain(),
        [HealthEvent::Sorry {
            service: ServiceId::from("empty"),
            desired: Desired::Weight(1)
        }]
    );
    // A reload with the same set keeps the decision and says nothing.
    lab.monitors.update(MonitorSet {
        pairs: Vec::new(),
        sorry_services: vec![ServiceId::from("empty")],
    });
    assert_eq!(lab.drain(), []);
}

#[tokio::test(start_paused = true)]
async fn overrides_and_health_survive_an_update() {
    let mut lab = Lab::new();
    let vs = virtual_server("web");
    let web = ServiceId::from("web");
    let a = ServerId::from("a");
    let set = only(vec![
        pair(&vs, &real_server("a", 11, 4)),
        pair(&vs, &real_server("b", 12, 1)),
    ]);
    lab.monitors.update(set.clone());
    lab.at(1.0).await;
    lab.drain();
    assert_eq!(
        lab.monitors.set_override(&web, &a, Override::Drain),
        Ok(Desired::Weight(0))
    );
    assert_eq!(lab.next_desired().await, (1.0, Desired::Weight(0)));
    lab.at(9.0).await;
    let passes = lab.status("web", "a").consecutive_passes;
    assert_eq!(passes, 5);
    // A reload: same pairs, b's weight changed, a new pair c.
    let mut pairs = set.pairs.clone();
    pairs[1] = pair(&vs, &real_server("b", 12, 5));
    pairs.push(pair(&vs, &real_server("c", 13, 1)));
    lab.monitors.update(only(pairs.clone()));
    let a_status = lab.status("web", "a");
    assert_eq!(a_status.operator, Override::Drain);
    assert_eq!(a_status.desired, Desired::Weight(0));
    assert_eq!(a_status.consecutive_passes, 5, "health kept");
    // b was up at weight 1: the new weight applies at once, as one event.
    assert_eq!(
        lab.drain(),
        [HealthEvent::Server {
            service: web.clone(),
            server: ServerId::from("b"),
            desired: Desired::Weight(5),
            health: Health::Up,
            detail: "configuration changed".into(),
        }]
    );
    assert_eq!(lab.health("web", "c"), Health::Unknown);
    assert_eq!(lab.monitors.task_count(), 3);
    // Removing b stops its task.
    pairs.remove(1);
    lab.monitors.update(only(pairs));
    assert_eq!(lab.monitors.task_count(), 2);
    let calls = lab.fake.calls(target(12));
    lab.at(45.0).await;
    assert_eq!(lab.fake.calls(target(12)), calls);
    // Clearing the override: back to health (a is up at 4: slow start 1, 2, 4 is done).
    assert_eq!(
        lab.monitors.set_override(&web, &a, Override::None),
        Ok(Desired::Weight(4))
    );
    assert!(
        lab.monitors
            .set_override(&web, &ServerId::from("b"), Override::Up)
            .is_err()
    );
}

#[tokio::test(start_paused = true)]
async fn shared_checks_probe_once_for_two_virtual_servers() {
    let mut lab = Lab::new();
    // Two virtual servers (a VIP on two addresses, say) with the same check to the same
    // real server: one task, one probe per interval, both pairs fed.
    let web = virtual_server("web");
    let web6 = virtual_server("web6");
    let other = virtual_server("other");
    lab.monitors.update(only(vec![
        pair(&web, &real_server("rs", 11, 1)),
        pair(&web6, &real_server("rs", 11, 1)),
        pair(&other, &real_server("rs2", 12, 1)),
    ]));
    assert_eq!(lab.monitors.task_count(), 2);
    lab.at(9.0).await;
    // Probes at 0, 2, 4, 6, 8.
    assert_eq!(lab.fake.calls(target(11)), 5);
    assert_eq!(lab.fake.calls(target(12)), 5);
    let events = lab.drain();
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(lab.health("web", "rs"), Health::Up);
    assert_eq!(lab.health("web6", "rs"), Health::Up);
    // A different timeout is a different check schedule: its own task.
    let mut slow = virtual_server("slow");
    slow.timeout = secs(5);
    lab.monitors.update(only(vec![
        pair(&web, &real_server("rs", 11, 1)),
        pair(&slow, &real_server("rs", 11, 1)),
    ]));
    assert_eq!(lab.monitors.task_count(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_probe_that_never_returns_is_flagged_stalled_without_stalling_the_task() {
    let lab = Lab::new();
    let vs = virtual_server("web");
    lab.fake.set(target(11), Mode::Hang);
    lab.monitors.update(only(vec![
        pair(&vs, &real_server("hung", 11, 1)),
        pair(&vs, &real_server("fine", 12, 1)),
    ]));
    // Each hung probe is abandoned after timeout + grace (3 s) and counts as a failure.
    lab.at(5.0).await;
    let hung = lab.status("web", "hung");
    assert_eq!(hung.health, Health::Down);
    assert!(hung.last_detail.contains("did not return"), "{hung:?}");
    assert!(!hung.stalled, "not yet 3 intervals");
    lab.at(6.5).await;
    assert!(lab.status("web", "hung").stalled);
    assert!(!lab.status("web", "fine").stalled);
    assert!(lab.fake.calls(target(11)) >= 3, "the task kept probing");
    // The checker recovers: the next probe (at 9, when the one of 6 is abandoned) passes.
    lab.fake.set(target(11), Mode::Pass);
    lab.at(9.5).await;
    let hung = lab.status("web", "hung");
    assert!(!hung.stalled);
    assert_eq!(hung.last_passed, Some(true));
}

#[tokio::test(start_paused = true)]
async fn a_panicking_probe_is_a_failure_and_the_task_goes_on() {
    let mut lab = Lab::new();
    let vs = virtual_server("web");
    lab.monitors
        .update(only(vec![pair(&vs, &real_server("a", 11, 1))]));
    assert_eq!(lab.next_desired().await, (0.0, Desired::Weight(1)));
    lab.at(1.0).await;
    lab.fake.set(target(11), Mode::Panic);
    assert_eq!(lab.next_desired().await, (2.0, Desired::Absent));
    lab.at(7.0).await;
    assert!(lab.status("web", "a").stalled, "panics are not reports");
    lab.fake.set(target(11), Mode::Pass);
    assert_eq!(lab.next_desired().await.1, Desired::Weight(1));
}

#[tokio::test(start_paused = true)]
async fn adopted_destinations_start_in_the_table() {
    let mut lab = Lab::new();
    let vs = virtual_server("web");
    let mut spec = pair(&vs, &real_server("a", 11, 10));
    spec.adopted_weight = Some(10);
    lab.fake.set(target(11), Mode::Fail);
    lab.monitors.update(only(vec![spec]));
    assert_eq!(
        lab.monitors
            .desired(&ServiceId::from("web"), &ServerId::from("a")),
        Some(Desired::Weight(10))
    );
    assert_eq!(lab.next_desired().await, (0.0, Desired::Absent));
}

#[tokio::test(start_paused = true)]
async fn ten_thousand_pairs_share_tasks_and_spread_their_first_probes() {
    let fake = Fake::default();
    let (sender, mut events) = mpsc::unbounded_channel();
    let monitors = Monitors::new(fake.clone(), sender);
    let mut vs_a = virtual_server("a");
    let mut vs_b = virtual_server("b");
    vs_a.timeout = secs(10);
    vs_b.timeout = secs(10);
    let mut pairs = Vec::with_capacity(10_000);
    for index in 0..5_000u32 {
        let mut rs = RealServer::new(format!("rs{index}"));
        rs.active = true;
        let [_, _, high, low] = index.to_be_bytes();
        rs.address = Some(IpAddr::V4(Ipv4Addr::new(10, 1, high, low)));
        pairs.push(pair(&vs_a, &rs));
        pairs.push(pair(&vs_b, &rs));
    }
    let started = std::time::Instant::now();
    let t0 = Instant::now();
    monitors.update(only(pairs.clone()));
    assert_eq!(monitors.task_count(), 5_000);
    sleep(secs(12)).await;
    let times: Vec<Instant> = (fake.script().times.iter())
        .filter(|at| **at < t0 + secs(10))
        .copied()
        .collect();
    assert_eq!(
        times.len(),
        5_000,
        "one probe per check in the first interval"
    );
    // Spread over the first second (the monitor's first-probe window), 100 ms buckets.
    let mut buckets = [0usize; 10];
    for at in &times {
        let tenth = usize::try_from((*at - t0).as_millis() / 100).expect("small");
        buckets[tenth] += 1;
    }
    assert!(
        buckets.iter().all(|count| (350..=650).contains(count)),
        "first probes per 100 ms: {buckets:?}"
    );
    let mut added = 0;
    while let Ok(event) = events.try_recv() {
        added += usize::from(matches!(
            event,
            HealthEvent::Server {
                desired: Desired::Weight(1),
                ..
            }
        ));
    }
    assert_eq!(added, 10_000);
    let snapshot = monitors.snapshot();
    assert_eq!(snapshot.len(), 10_000);
    assert!(snapshot.iter().all(|pair| pair.status.health == Health::Up));
    // A reload of the same 10,000 pairs keeps every task and their schedules, and sends
    // nothing: no burst of probes, no reset health.
    sleep_until(t0 + secs(15)).await;
    monitors.update(only(pairs));
    assert_eq!(monitors.task_count(), 5_000);
    fake.script().times.clear();
    sleep(Duration::from_millis(50)).await;
    let burst = fake.script().times.len();
    assert!(burst < 100, "{burst} probes in the 50 ms after a reload");
    assert!(events.try_recv().is_err());
    assert!(
        monitors
            .snapshot()
            .iter()
            .all(|pair| pair.status.health == Health::Up)
    );
    println!(
        "10,000 pairs, 5,000 checks: first interval in {:?} of real time",
        started.elapsed()
    );
}

#[test]
fn monitor_set_from_config_takes_active_servers_and_sorry_services() {
    let mut vs = virtual_server("web");
    vs.sorry_server = Some(address(99));
    vs.load_monitor = shoal::config::model::LoadMonitor::Uptime;
    vs.servers = vec![
        real_server("a", 11, 3),
        real_server("b", 12, 1),
        RealServer::new("c"),
    ];
    vs.servers[1].active = false;
    let mut off = virtual_server("off");
    off.active = false;
    off.servers = vec![real_server("d", 14, 1)];
    let mut config = shoal::config::model::Config::default();
    config.global.rsh_command = "ssh".into();
    config.virtual_servers = vec![vs, off];
    let set = MonitorSet::from_config(&config);
    assert_eq!(set.sorry_services, [ServiceId::from("web")]);
    assert_eq!(set.pairs.len(), 1);
    let spec = &set.pairs[0];
    assert_eq!((&*spec.service.0, &*spec.server.0), ("web", "a"));
    assert_eq!(spec.target, target(11));
    assert_eq!(spec.config.weight, 3);
    assert_eq!(spec.config.interval, secs(2));
    assert!(spec.config.load_monitor);
    let load = spec.load.as_ref().expect("load source");
    assert_eq!(load.argv(spec.target), ["ssh", "10.31.9.11", "uptime"]);
}

/// Collects what a subscriber writes, for the log-line test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log lock").extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// SPEC 8: one line per state change, naming the virtual and the real server and the
/// address checked, in the text and as fields (as `[log] format = "json"` writes them).
#[tokio::test(start_paused = true)]
async fn every_state_change_is_one_log_line_with_the_names() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(move || writer.clone())
        .finish();
    // The test's runtime runs the monitor tasks on this thread.
    let _guard = tracing::subscriber::set_default(subscriber);
    let mut lab = Lab::new();
    let vs = virtual_server("web");
    lab.monitors
        .update(only(vec![pair(&vs, &real_server("big", 11, 1))]));
    assert_eq!(lab.next_desired().await, (0.0, Desired::Weight(1)));
    lab.at(3.0).await;
    lab.fake.set(target(11), Mode::Fail);
    assert_eq!(lab.next_desired().await, (4.0, Desired::Absent));
    // More failures change nothing: no more lines.
    lab.at(9.0).await;
    assert!(lab.drain().is_empty());

    let text = String::from_utf8(captured.0.lock().expect("log lock").clone()).expect("utf-8");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).expect("one JSON object a line")
        })
        .filter(|line| line["fields"]["real_server"].is_string())
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    let fields: Vec<_> = lines
        .iter()
        .map(|line| {
            let f = &line["fields"];
            (
                f["message"].as_str().expect("message").to_string(),
                f["virtual_server"].as_str().expect("vs").to_string(),
                f["real_server"].as_str().expect("rs").to_string(),
                f["address"].as_str().expect("address").to_string(),
                f["health"].as_str().expect("health").to_string(),
            )
        })
        .collect();
    let line = |message: &str, health: &str| {
        (
            message.to_string(),
            "web".to_string(),
            "big".to_string(),
            "10.31.9.11:80".to_string(),
            health.to_string(),
        )
    };
    assert_eq!(
        fields,
        [
            line(
                "rs big (10.31.9.11:80) of web up (weight 1): HTTP/1.0 200 OK",
                "up"
            ),
            line(
                "rs big (10.31.9.11:80) of web down (out of the table): connection refused",
                "down"
            ),
        ]
    );
    assert!(lines.iter().all(|l| l["level"] == "INFO"), "{text}");
}
