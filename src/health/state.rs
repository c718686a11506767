//! Piranha's nanny state machine for one (virtual server, real server) pair, as pure logic.
//!
//! Nothing here reads a clock or does I/O: every step takes the current [`Instant`] as an
//! argument, so the monitor drives it with tokio's (pausable) clock and tests drive it with
//! made-up times. The machine answers one question for the supervisor, [`Desired`]: should
//! the destination be in the kernel table, and with which weight.
//!
//! The rules (SPEC 5.1, piranha-facts 1.5, and the corpus `.ipvsadm-log` files):
//!
//! - **Start.** A pair starts out of the table ([`Health::Unknown`]) and is added at its
//!   first passing probe, without waiting for `reentry` (or `rise`): Piranha's lvsd flushes the table
//!   and every nanny adds its server about half a second after it starts (the corpus logs
//!   show `-a ... -w 1` within a second, with `reentry` 15 s and 180 s). A failure before
//!   the first pass makes it [`Health::Down`], and from then on it has to earn re-entry.
//!   [`PairState::adopted`] is a shoal extension for a daemon restart that finds the
//!   destination already in the kernel: the pair starts in the table.
//! - **Fall.** The first failed probe takes the server out (`fall = 1`, Piranha's only
//!   behaviour); with `fall = N`, the N-th consecutive failure does.
//! - **Re-entry.** A server that is out comes back once it has passed continuously for
//!   `reentry` (time from the first of the passing reports), or, when `rise` is set, after
//!   `rise` consecutive passes. Piranha counts `reentry / interval` passes instead; the time
//!   rule is what the SPEC says and comes back at most one interval later.
//! - **Slow start.** A server that enters the table starts at `weight >> 5` (at least 1)
//!   and doubles at each weight tick (every max(`timeout`, 20 s)) up to its weight.
//! - **Quiesce.** With `quiesce_server = 1`, a server that goes down keeps its
//!   destination at weight 0 (existing connections keep their server) and comes back by a
//!   weight edit. A server that was never in the table is not added at weight 0.
//! - **Weight 0.** A configured weight of 0 stays 0 (no slow start). Piranha's formula
//!   would give it max(1, 0 >> 5) = 1; shoal keeps the operator's "no new connections".
//! - **Load monitor.** After slow start, each weight tick may move the weight with
//!   [`load_adjusted_weight`] from a load average read by the monitor.
//! - **Overrides.** [`Override`] (`shoal drain|down|up`, nanny's SIGUSR1/SIGUSR2) wins
//!   over health; health keeps being tracked underneath, so clearing it is immediate.
//! - **Sorry server.** [`SorryServer`] decides, per virtual server, from all its pairs.

use std::time::Duration;

use serde::{Serialize, Serializer};
use tokio::time::Instant;

use super::ProbeResult;
use crate::config::model::{LoadMonitor, RealServer, VirtualServer};

/// Piranha's floor for the weight tick: slow start and load readings happen every
/// max(`timeout`, 20 s).
pub const WEIGHT_TICK_FLOOR: Duration = Duration::from_secs(20);

/// nanny's `-S/--scale` default: a load-adjusted weight never exceeds `scale × weight`.
pub const DEFAULT_LOAD_SCALE: u32 = 10;

/// The largest weight the kernel takes (IPVS weights are signed 32-bit).
pub const MAX_WEIGHT: u32 = i32::MAX as u32;

/// How many intervals without a report make a monitor "stalled" (SPEC 5.1).
pub const STALL_INTERVALS: u32 = 3;

/// What the supervisor should program for one pair: the output of the state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Desired {
    /// No destination in the kernel table.
    Absent,
    /// A destination with this weight (0: quiesced or drained, no new connections).
    Weight(u32),
}

impl Desired {
    /// Whether the destination is in the table at all (also at weight 0).
    pub fn in_table(self) -> bool {
        matches!(self, Desired::Weight(_))
    }

    /// Whether it takes new connections, which is what the sorry server cares about.
    pub fn is_serving(self) -> bool {
        matches!(self, Desired::Weight(weight) if weight > 0)
    }
}

/// Health as status, metrics and logs show it (the kernel side is [`Desired`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Health {
    /// No probe result yet.
    Unknown,
    /// In the table at its full (or load-adjusted) weight.
    Up,
    /// In the table, weight still doubling towards the configured one.
    SlowStart,
    /// In the table, but failed fewer than `fall` times in a row.
    Failing,
    /// Out of the table (or at weight 0 with quiesce) after failing.
    Down,
    /// Out, passing again but not yet for `reentry` (or `rise` probes).
    Rising,
}

impl Health {
    /// The word status, metrics and log lines use (as serialised).
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Up => "up",
            Health::SlowStart => "slow-start",
            Health::Failing => "failing",
            Health::Down => "down",
            Health::Rising => "rising",
        }
    }
}

/// An operator override for one pair, kept until cleared (SPEC 1: `shoal drain|down|up`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Override {
    /// Follow the health checks.
    #[default]
    None,
    /// Weight 0: no new connections, established ones keep their server.
    Drain,
    /// Removed from the table whatever the checks say (nanny SIGUSR1).
    Down,
    /// In the table at full weight whatever the checks say (nanny SIGUSR2).
    Up,
}

/// The lvs.cf settings one pair's state machine needs, in the machine's units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairConfig {
    /// The configured weight (the real server's `weight`, clamped to what the kernel takes).
    pub weight: u32,
    /// Probe interval (lvs.cf `timeout`); also sets the weight tick and the stall limit.
    pub interval: Duration,
    /// Continuous success needed before a failed server returns (when `rise` is unset).
    pub reentry: Duration,
    /// shoal: consecutive passes before a failed server returns, instead of `reentry`.
    pub rise: Option<u32>,
    /// shoal: consecutive failures that take a server out (Piranha: 1).
    pub fall: u32,
    /// `quiesce_server`: weight 0 instead of removal.
    pub quiesce: bool,
    /// Whether `load_monitor` adjusts the weight after slow start.
    pub load_monitor: bool,
    /// nanny's `--scale`: the load-adjusted weight stays within `[weight, scale × weight]`.
    pub scale: u32,
}

impl PairConfig {
    /// The settings for `rs` inside `vs`, with Piranha's defaults where lvs.cf has none.
    pub fn from_config(vs: &VirtualServer, rs: &RealServer) -> Self {
        PairConfig {
            weight: clamp_weight(rs.weight),
            interval: vs.timeout,
            reentry: vs.reentry,
            rise: vs.rise,
            fall: vs.fall,
            quiesce: vs.quiesce_server,
            load_monitor: vs.load_monitor != LoadMonitor::None,
            scale: DEFAULT_LOAD_SCALE,
        }
    }

    /// The weight tick period: max(interval, 20 s), Piranha's.
    pub fn weight_tick(&self) -> Duration {
        self.interval.max(WEIGHT_TICK_FLOOR)
    }

    /// The weight a server enters the table with (slow start's first step).
    pub fn initial_weight(&self) -> u32 {
        slow_start_initial(self.weight)
    }

    fn fall(&self) -> u32 {
        self.fall.max(1)
    }
}

/// lvs.cf weights are `i64` in the model; the kernel takes 0..=2^31-1.
fn clamp_weight(weight: i64) -> u32 {
    u32::try_from(weight.clamp(0, i64::from(MAX_WEIGHT))).unwrap_or(0)
}

/// Slow start's first weight: `weight >> 5`, at least 1 (0 stays 0).
pub fn slow_start_initial(weight: u32) -> u32 {
    if weight == 0 { 0 } else { (weight >> 5).max(1) }
}

/// One slow-start step: double, capped at the configured weight.
pub fn slow_start_next(current: u32, weight: u32) -> u32 {
    current.max(1).saturating_mul(2).min(weight)
}

/// Every weight slow start goes through, from entry to `weight` (for logs, docs, tests).
pub fn slow_start_weights(weight: u32) -> Vec<u32> {
    let mut current = slow_start_initial(weight);
    let mut steps = vec![current];
    while current < weight {
        current = slow_start_next(current, weight);
        steps.push(current);
    }
    steps
}

/// Piranha's load-based weight: `last ± (W/2)·|1 − load|^(1/3)`, up when the load is
/// below 1 and down above it, clamped to `[W, scale·W]`; `None` unless it moves the
/// weight by at least `W/4` (integer division, and by at least 1).
pub fn load_adjusted_weight(configured: u32, last: u32, load: f64, scale: u32) -> Option<u32> {
    if configured == 0 || !load.is_finite() || load < 0.0 {
        return None;
    }
    let w = f64::from(configured);
    let step = (w / 2.0) * (1.0 - load).cbrt();
    let ceiling = (u64::from(configured) * u64::from(scale.max(1))).min(u64::from(MAX_WEIGHT));
    // Truncation toward zero, as C's int conversion; the clamp keeps it in u32 range.
    let new = (f64::from(last) + step).clamp(w, ceiling as f64) as u32;
    let change = new.abs_diff(last);
    (change > 0 && change >= configured / 4).then_some(new)
}

/// Reads the 1-minute load average from `uptime` (procps and BSD), `rup` or `ruptime`
/// output. With several hosts' lines (ruptime lists every host) it takes the one whose
/// first field is `host` (or `host.domain`); with one line, that one. `None` when there
/// is no load figure (a `down` ruptime line, an error message) or it is ambiguous.
pub fn parse_load_average(output: &str, host: Option<&str>) -> Option<f64> {
    let mut only = None;
    let mut count = 0;
    for line in output.lines() {
        let Some(load) = load_field(line) else {
            continue;
        };
        if host.is_some_and(|host| line_names_host(line, host)) {
            return Some(load);
        }
        count += 1;
        only = Some(load);
    }
    if count == 1 { only } else { None }
}

/// Whether a `rup`/`ruptime` line starts with `host` (bare or fully qualified).
fn line_names_host(line: &str, host: &str) -> bool {
    line.split_whitespace().next().is_some_and(|first| {
        first == host
            || first
                .strip_prefix(host)
                .is_some_and(|rest| rest.starts_with('.'))
    })
}

/// The first number after `load average:`, `load averages:` or ruptime's `load `.
fn load_field(line: &str) -> Option<f64> {
    line.rmatch_indices("load").find_map(|(at, _)| {
        let at_word_start = line[..at]
            .chars()
            .next_back()
            .is_none_or(|c| c.is_whitespace() || c == ',');
        if !at_word_start {
            return None;
        }
        let rest = &line[at + "load".len()..];
        let rest = rest
            .strip_prefix(" averages")
            .or_else(|| rest.strip_prefix(" average"))
            .unwrap_or(rest);
        let rest = rest.strip_prefix(':').unwrap_or(rest);
        if !rest.starts_with(char::is_whitespace) {
            return None;
        }
        leading_number(rest.trim_start())
    })
}

/// A decimal number at the start of `text`; a comma between digits is a decimal comma
/// (`uptime` under a locale like de_DE prints `0,15, 0,10, 0,05`).
fn leading_number(text: &str) -> Option<f64> {
    let bytes = text.as_bytes();
    let mut number = String::new();
    let mut seen_point = false;
    for (index, &byte) in bytes.iter().enumerate() {
        let next_is_digit = bytes.get(index + 1).is_some_and(u8::is_ascii_digit);
        match byte {
            b'0'..=b'9' => number.push(char::from(byte)),
            b'.' | b',' if !seen_point && !number.is_empty() && next_is_digit => {
                seen_point = true;
                number.push('.');
            }
            _ => break,
        }
    }
    number.parse().ok()
}

/// Whether a monitor that started at `started` and last reported at `last_report` has
/// gone [`STALL_INTERVALS`] intervals without a report (SPEC 5.1: the checker is watched).
pub fn is_stalled(
    last_report: Option<Instant>,
    started: Instant,
    interval: Duration,
    now: Instant,
) -> bool {
    let since = last_report.unwrap_or(started);
    now.saturating_duration_since(since) > interval.saturating_mul(STALL_INTERVALS)
}

/// Where the pair is, health-wise. Kept private so every transition goes through the
/// methods that keep the counters and the weight consistent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not taking traffic per health. `quiesced`: kept in the table at weight 0.
    /// `fresh`: no result yet, so the first pass enters at once (Piranha's start).
    Out { quiesced: bool, fresh: bool },
    /// In the table at `PairState::weight`.
    Serving,
}

/// The state machine of one (virtual server, real server) pair.
#[derive(Debug, Clone)]
pub struct PairState {
    config: PairConfig,
    phase: Phase,
    /// The current health-side weight while serving (slow start, load adjustments).
    weight: u32,
    consecutive_failures: u32,
    consecutive_passes: u32,
    passing_since: Option<Instant>,
    next_weight_tick: Option<Instant>,
    last_passed: Option<bool>,
    last_latency: Option<Duration>,
    last_detail: String,
    last_result_at: Option<Instant>,
    operator: Override,
}

impl PairState {
    /// A pair nobody has probed yet: out of the table until its first pass (Piranha).
    pub fn new(config: PairConfig) -> Self {
        PairState {
            config,
            phase: Phase::Out {
                quiesced: false,
                fresh: true,
            },
            weight: 0,
            consecutive_failures: 0,
            consecutive_passes: 0,
            passing_since: None,
            next_weight_tick: None,
            last_passed: None,
            last_latency: None,
            last_detail: String::new(),
            last_result_at: None,
            operator: Override::None,
        }
    }

    /// A pair whose destination the kernel already has at `weight` when the daemon starts
    /// (a restart of shoal must not take servers out): it starts in the table, continues
    /// slow start if `weight` is below the configured one, and leaves at the first failure.
    /// At weight 0 (quiesced or drained before the restart) it stays at 0 until it passes.
    pub fn adopted(config: PairConfig, weight: u32, now: Instant) -> Self {
        let mut state = PairState::new(config);
        if weight == 0 && state.config.weight > 0 {
            state.phase = Phase::Out {
                quiesced: true,
                fresh: true,
            };
            return state;
        }
        state.phase = Phase::Serving;
        state.weight = weight.min(state.ceiling());
        state.schedule_tick_from(now);
        state
    }

    /// The settings the machine runs with.
    pub fn config(&self) -> &PairConfig {
        &self.config
    }

    /// The override in force.
    pub fn operator_override(&self) -> Override {
        self.operator
    }

    /// What the kernel should have for this pair now, override included.
    pub fn desired(&self) -> Desired {
        let health = self.health_desired();
        match self.operator {
            Override::None => health,
            Override::Drain if health.in_table() => Desired::Weight(0),
            Override::Drain | Override::Down => Desired::Absent,
            Override::Up => Desired::Weight(self.config.weight),
        }
    }

    /// The health state for status and metrics (ignores the override, shown beside it).
    pub fn health(&self) -> Health {
        match self.phase {
            Phase::Out { fresh: true, .. } => Health::Unknown,
            Phase::Out { .. } if self.consecutive_passes > 0 => Health::Rising,
            Phase::Out { .. } => Health::Down,
            Phase::Serving if self.consecutive_failures > 0 => Health::Failing,
            Phase::Serving if self.weight < self.config.weight => Health::SlowStart,
            Phase::Serving => Health::Up,
        }
    }

    /// Whether the pair has no verdict yet, so a sorry-server decision should wait for it.
    pub fn is_pending(&self) -> bool {
        self.operator == Override::None && self.last_result_at.is_none()
    }

    /// When the last probe result arrived.
    pub fn last_result_at(&self) -> Option<Instant> {
        self.last_result_at
    }

    /// When the next slow-start or load step is due, if any (the monitor sleeps until then).
    pub fn next_weight_tick(&self) -> Option<Instant> {
        self.next_weight_tick
    }

    /// Whether a weight tick is due at `now`.
    pub fn weight_tick_due(&self, now: Instant) -> bool {
        self.next_weight_tick.is_some_and(|due| now >= due)
    }

    /// Whether the next weight tick wants a load reading (slow start is over and
    /// `load_monitor` is on), so the monitor reads the load only when it is used.
    pub fn wants_load(&self) -> bool {
        self.config.load_monitor
            && self.phase == Phase::Serving
            && self.config.weight > 0
            && self.weight >= self.config.weight
    }

    /// Advances the machine with one probe result; `Some` when [`Self::desired`] changed.
    pub fn on_result(&mut self, result: &ProbeResult, now: Instant) -> Option<Desired> {
        let before = self.desired();
        self.record(result, now);
        if result.passed {
            self.on_pass(now);
        } else {
            self.on_failure();
        }
        self.changed_from(before)
    }

    /// Applies a weight tick if one is due at `now`: a slow-start doubling, or else a load
    /// adjustment from `load` (the monitor's reading; `None` when there is none or it
    /// failed). The next tick is scheduled either way. `Some` when [`Self::desired`] changed.
    pub fn on_weight_tick(&mut self, now: Instant, load: Option<f64>) -> Option<Desired> {
        let due = self.next_weight_tick.filter(|due| now >= *due)?;
        let before = self.desired();
        if self.weight < self.config.weight {
            self.weight = slow_start_next(self.weight, self.config.weight);
        } else if let Some(load) = load.filter(|_| self.wants_load()) {
            let adjusted =
                load_adjusted_weight(self.config.weight, self.weight, load, self.config.scale);
            if let Some(weight) = adjusted {
                self.weight = weight;
            }
        }
        let next = due + self.config.weight_tick();
        self.next_weight_tick = self.needs_ticks().then(|| {
            if next > now {
                next
            } else {
                now + self.config.weight_tick()
            }
        });
        self.changed_from(before)
    }

    /// Sets the operator override; `Some` when [`Self::desired`] changed.
    pub fn set_override(&mut self, operator: Override) -> Option<Desired> {
        let before = self.desired();
        self.operator = operator;
        self.changed_from(before)
    }

    /// Takes new settings from a reload without losing health (a reload must not reset a
    /// server): a new weight applies at once to a server past slow start (dropping any load
    /// adjustment) and caps one still in slow start; turning quiesce off removes a quiesced
    /// server; a lower `fall` can take out a failing one. `Some` when [`Self::desired`] changed.
    pub fn reconfigure(&mut self, config: PairConfig, now: Instant) -> Option<Desired> {
        let before = self.desired();
        let old_weight = self.config.weight;
        self.config = config;
        match self.phase {
            Phase::Serving if self.consecutive_failures >= self.config.fall() => self.leave(),
            Phase::Serving => {
                self.weight = if old_weight == 0 {
                    // From "no new connections" to a weight: a slow start, as an entry.
                    self.config.initial_weight()
                } else if self.weight >= old_weight {
                    self.config.weight
                } else {
                    self.weight.min(self.config.weight)
                };
                if self.next_weight_tick.is_none() || !self.needs_ticks() {
                    self.schedule_tick_from(now);
                }
            }
            Phase::Out { quiesced, fresh } => {
                self.phase = Phase::Out {
                    quiesced: quiesced && self.config.quiesce,
                    fresh,
                };
            }
        }
        self.changed_from(before)
    }

    /// Everything status and metrics show for the pair; `stalled` comes from the monitor.
    pub fn status(&self, now: Instant, stalled: bool) -> PairStatus {
        PairStatus {
            health: self.health(),
            desired: self.desired(),
            operator: self.operator,
            configured_weight: self.config.weight,
            consecutive_failures: self.consecutive_failures,
            consecutive_passes: self.consecutive_passes,
            last_passed: self.last_passed,
            last_latency: self.last_latency,
            last_detail: self.last_detail.clone(),
            since_last_result: self
                .last_result_at
                .map(|at| now.saturating_duration_since(at)),
            stalled,
        }
    }

    /// The detail of the last probe (the reason logged with a state change).
    pub fn last_detail(&self) -> &str {
        &self.last_detail
    }

    fn record(&mut self, result: &ProbeResult, now: Instant) {
        self.last_passed = Some(result.passed);
        self.last_latency = Some(result.latency);
        // clone_from reuses the buffer: no allocation per probe once it is big enough.
        self.last_detail.clone_from(&result.detail);
        self.last_result_at = Some(now);
    }

    fn on_pass(&mut self, now: Instant) {
        self.consecutive_failures = 0;
        self.consecutive_passes = self.consecutive_passes.saturating_add(1);
        let since = *self.passing_since.get_or_insert(now);
        if let Phase::Out { fresh, .. } = self.phase {
            let earned = match self.config.rise {
                Some(rise) => self.consecutive_passes >= rise.max(1),
                None => now.saturating_duration_since(since) >= self.config.reentry,
            };
            if fresh || earned {
                self.enter(now);
            }
        }
    }

    fn on_failure(&mut self) {
        self.consecutive_passes = 0;
        self.passing_since = None;
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        match self.phase {
            Phase::Serving if self.consecutive_failures >= self.config.fall() => self.leave(),
            Phase::Serving => {}
            Phase::Out { quiesced, .. } => {
                self.phase = Phase::Out {
                    quiesced: quiesced && self.config.quiesce,
                    fresh: false,
                };
            }
        }
    }

    /// Into the table at slow start's first weight.
    fn enter(&mut self, now: Instant) {
        self.phase = Phase::Serving;
        self.weight = self.config.initial_weight();
        self.next_weight_tick = None;
        self.schedule_tick_from(now);
    }

    /// Out of the table, or to weight 0 with quiesce.
    fn leave(&mut self) {
        self.phase = Phase::Out {
            quiesced: self.config.quiesce,
            fresh: false,
        };
        self.weight = 0;
        self.next_weight_tick = None;
    }

    fn schedule_tick_from(&mut self, now: Instant) {
        self.next_weight_tick = self.needs_ticks().then(|| now + self.config.weight_tick());
    }

    /// Whether weight ticks still matter: slow start unfinished, or load monitoring.
    fn needs_ticks(&self) -> bool {
        self.phase == Phase::Serving
            && (self.weight < self.config.weight || (self.config.load_monitor && self.weight > 0))
    }

    /// The highest weight health may give: scale × weight with a load monitor.
    fn ceiling(&self) -> u32 {
        if self.config.load_monitor {
            self.config
                .weight
                .saturating_mul(self.config.scale.max(1))
                .min(MAX_WEIGHT)
        } else {
            self.config.weight
        }
    }

    fn health_desired(&self) -> Desired {
        match self.phase {
            Phase::Serving => Desired::Weight(self.weight),
            Phase::Out { quiesced: true, .. } => Desired::Weight(0),
            Phase::Out { .. } => Desired::Absent,
        }
    }

    fn changed_from(&self, before: Desired) -> Option<Desired> {
        let after = self.desired();
        (after != before).then_some(after)
    }
}

/// What status, metrics and the UI show for one pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairStatus {
    /// Health as the checks see it.
    pub health: Health,
    /// What the kernel should have, override included.
    pub desired: Desired,
    /// The operator override in force.
    #[serde(rename = "override")]
    pub operator: Override,
    /// The weight lvs.cf gives the server.
    pub configured_weight: u32,
    /// Failed probes in a row.
    pub consecutive_failures: u32,
    /// Passed probes in a row.
    pub consecutive_passes: u32,
    /// The verdict of the last probe, if any.
    pub last_passed: Option<bool>,
    /// How long the last probe took (seconds in JSON).
    #[serde(serialize_with = "seconds")]
    pub last_latency: Option<Duration>,
    /// The last probe's reason text.
    pub last_detail: String,
    /// How long ago the last result came (seconds in JSON).
    #[serde(serialize_with = "seconds")]
    pub since_last_result: Option<Duration>,
    /// The checker has not reported for [`STALL_INTERVALS`] intervals.
    pub stalled: bool,
}

/// Durations as fractional seconds, which is what Prometheus and people read.
fn seconds<S: Serializer>(value: &Option<Duration>, serializer: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(duration) => serializer.serialize_some(&duration.as_secs_f64()),
        None => serializer.serialize_none(),
    }
}

/// The sorry server of one virtual server: in the table at weight [`SorryServer::WEIGHT`]
/// while none of its real servers takes connections (lvsd's live count at 0).
///
/// Unlike lvsd, which adds it only when the live count *drops* to 0 (the corpus file
/// `39-sorry-server-all-down-regex` never gets its sorry server because no real server
/// ever came up), shoal also adds it when no real server has come up since the start,
/// once every real server has a verdict (so a start does not flap it in and out).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SorryServer {
    /// Whether it is in the table now.
    pub in_table: bool,
}

impl SorryServer {
    /// lvsd adds the sorry server with weight 1.
    pub const WEIGHT: u32 = 1;

    /// Whether the sorry server must be in the table, given all the virtual server's pairs:
    /// none serving (weight 0 counts as not serving) and none still without a verdict.
    pub fn needed<'a>(servers: impl IntoIterator<Item = &'a PairState>) -> bool {
        let mut pending = false;
        for server in servers {
            if server.desired().is_serving() {
                return false;
            }
            pending |= server.is_pending();
        }
        !pending
    }

    /// Re-decides from the pairs; `Some(in_table)` when the decision changed.
    pub fn update<'a>(&mut self, servers: impl IntoIterator<Item = &'a PairState>) -> Option<bool> {
        let needed = SorryServer::needed(servers);
        (needed != self.in_table).then(|| {
            self.in_table = needed;
            needed
        })
    }

    /// What the kernel should have for the sorry server.
    pub fn desired(&self) -> Desired {
        if self.in_table {
            Desired::Weight(SorryServer::WEIGHT)
        } else {
            Desired::Absent
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_health_word_is_its_serialised_name() {
        for health in [
            Health::Unknown,
            Health::Up,
            Health::SlowStart,
            Health::Failing,
            Health::Down,
            Health::Rising,
        ] {
            assert_eq!(
                serde_json::to_value(health).unwrap(),
                serde_json::Value::from(health.as_str())
            );
        }
    }

    fn config(weight: u32) -> PairConfig {
        PairConfig {
            weight,
            interval: Duration::from_secs(2),
            reentry: Duration::from_secs(10),
            rise: None,
            fall: 1,
            quiesce: false,
            load_monitor: false,
            scale: DEFAULT_LOAD_SCALE,
        }
    }

    fn result(passed: bool) -> ProbeResult {
        ProbeResult {
            passed,
            latency: Duration::from_millis(3),
            detail: if passed { "ok" } else { "refused" }.into(),
        }
    }

    #[test]
    fn slow_start_follows_the_shift_and_doubling_rule() {
        assert_eq!(slow_start_weights(1), [1]);
        assert_eq!(slow_start_weights(3), [1, 2, 3]);
        assert_eq!(slow_start_weights(40), [1, 2, 4, 8, 16, 32, 40]);
        assert_eq!(slow_start_weights(100), [3, 6, 12, 24, 48, 96, 100]);
        assert_eq!(slow_start_weights(0), [0]);
    }

    #[test]
    fn first_pass_enters_and_first_failure_leaves() {
        let t0 = Instant::now();
        let mut state = PairState::new(config(1));
        assert_eq!(state.desired(), Desired::Absent);
        assert_eq!(state.health(), Health::Unknown);
        assert_eq!(state.on_result(&result(true), t0), Some(Desired::Weight(1)));
        assert_eq!(state.health(), Health::Up);
        let t1 = t0 + Duration::from_secs(2);
        assert_eq!(state.on_result(&result(false), t1), Some(Desired::Absent));
        assert_eq!(state.health(), Health::Down);
        assert_eq!(state.last_detail(), "refused");
    }

    #[test]
    fn weight_zero_servers_enter_at_zero_without_ticks() {
        let t0 = Instant::now();
        let mut state = PairState::new(config(0));
        assert_eq!(state.on_result(&result(true), t0), Some(Desired::Weight(0)));
        assert_eq!(state.next_weight_tick(), None);
        assert_eq!(state.health(), Health::Up);
    }

    #[test]
    fn adopted_pairs_start_in_the_table() {
        let t0 = Instant::now();
        let state = PairState::adopted(config(100), 100, t0);
        assert_eq!(state.desired(), Desired::Weight(100));
        let state = PairState::adopted(config(100), 12, t0);
        assert_eq!(state.health(), Health::SlowStart);
        assert_eq!(state.next_weight_tick(), Some(t0 + WEIGHT_TICK_FLOOR));
        let state = PairState::adopted(config(100), 0, t0);
        assert_eq!(state.desired(), Desired::Weight(0));
        assert!(state.is_pending());
    }

    #[test]
    fn reload_changes_weight_without_losing_health() {
        let t0 = Instant::now();
        let mut state = PairState::adopted(config(10), 10, t0);
        assert_eq!(state.reconfigure(config(20), t0), Some(Desired::Weight(20)));
        assert_eq!(state.health(), Health::Up);
        let mut failing = config(20);
        failing.fall = 3;
        state.reconfigure(failing.clone(), t0);
        state.on_result(&result(false), t0);
        assert_eq!(state.health(), Health::Failing);
        failing.fall = 1;
        assert_eq!(state.reconfigure(failing, t0), Some(Desired::Absent));
        // From weight 0 to a weight: slow start from its first step.
        let mut state = PairState::adopted(config(0), 0, t0);
        assert_eq!(state.desired(), Desired::Weight(0));
        assert_eq!(state.reconfigure(config(64), t0), Some(Desired::Weight(2)));
        assert_eq!(state.next_weight_tick(), Some(t0 + WEIGHT_TICK_FLOOR));
        // Halfway through slow start, a lower weight caps it.
        let mut state = PairState::adopted(config(64), 16, t0);
        assert_eq!(state.reconfigure(config(8), t0), Some(Desired::Weight(8)));
        assert_eq!(state.next_weight_tick(), None);
    }

    #[test]
    fn load_parser_rejects_words_that_only_contain_load() {
        assert_eq!(load_field("download 3.0"), None);
        assert_eq!(load_field("loadhost  down  1+00:00"), None);
        assert_eq!(leading_number("0,15, 0,10"), Some(0.15));
        assert_eq!(leading_number("1, 2"), Some(1.0));
    }

    #[test]
    fn stall_needs_more_than_three_intervals() {
        let t0 = Instant::now();
        let interval = Duration::from_secs(2);
        assert!(!is_stalled(None, t0, interval, t0 + Duration::from_secs(6)));
        assert!(is_stalled(None, t0, interval, t0 + Duration::from_secs(7)));
        let later = t0 + Duration::from_secs(5);
        assert!(!is_stalled(
            Some(later),
            t0,
            interval,
            t0 + Duration::from_secs(7)
        ));
    }
}
