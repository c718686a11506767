//! `/metrics` (Prometheus/OpenMetrics text, SPEC 8): what an operator graphs and alerts
//! on. Counters that only the daemon sees happen (reconcile operations and errors,
//! control requests, transitions, every probe's latency) live here for the daemon's
//! life; everything read from the kernel, the monitors and the heartbeat is taken fresh
//! at each scrape, so a removed real server disappears from the output with it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::control::{ServerHealth, StatusReport};
use crate::ha::{ChannelCounters, HaSnapshot};
use crate::health::monitor::{LatencyObserver, ServerId, ServiceId};
use crate::ipvs::types::{DestinationState, Operation, Stats, socket_text};

/// The content type of the text format prometheus-client writes.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `{virtual_server}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServiceLabels {
    /// The lvs.cf name (or the service's key when it has none).
    pub virtual_server: String,
}

/// `{virtual_server, real_server}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServerLabels {
    /// The lvs.cf name of the virtual server.
    pub virtual_server: String,
    /// The lvs.cf name of the real server (its address:port when it has none).
    pub real_server: String,
}

/// `{virtual_server, real_server, address}`, for kernel figures of a destination.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DestinationLabels {
    virtual_server: String,
    real_server: String,
    address: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CommandLabels {
    command: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RoleLabels {
    role: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransitionLabels {
    to: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HealthLabels {
    virtual_server: String,
    real_server: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelLabels {
    channel: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RejectedLabels {
    channel: String,
    reason: String,
}

type LatencyFamily = Family<ServerLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 100 µs to about 3.3 s: loopback checks to a timeout.
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

/// The daemon's lasting counters.
#[derive(Clone)]
pub struct Metrics {
    operations: Family<KindLabels, Counter>,
    operation_errors: Family<KindLabels, Counter>,
    control_requests: Family<CommandLabels, Counter>,
    transitions: Family<TransitionLabels, Counter>,
    latency: LatencyFamily,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            operations: Family::default(),
            operation_errors: Family::default(),
            control_requests: Family::default(),
            transitions: Family::default(),
            latency: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
        }
    }
}

/// What one scrape shows besides the lasting counters.
pub struct Scrape<'a> {
    /// `shoal status`'s report (state, kernel table with names, health).
    pub status: &'a StatusReport,
    /// The heartbeat's view, without a peer `None`.
    pub failover: Option<&'a HaSnapshot>,
    /// The configured weight of each (virtual server, real server).
    pub configured: &'a HashMap<(String, String), i64>,
}

/// The short name of an operation, for the `kind` label.
pub fn kind_of(operation: &Operation) -> &'static str {
    match operation {
        Operation::NewService(_) => "add_service",
        Operation::SetService(_) => "change_service",
        Operation::DelService(_) => "delete_service",
        Operation::NewDestination(..) => "add_real_server",
        Operation::SetDestination(..) => "change_real_server",
        Operation::DelDestination(..) => "delete_real_server",
        Operation::SetTimeouts(_) => "set_timeouts",
        Operation::NewSyncDaemon(_) => "start_sync_daemon",
        Operation::DelSyncDaemon(_) => "stop_sync_daemon",
        Operation::Zero(_) => "zero_counters",
        Operation::Flush => "flush",
    }
}

impl Metrics {
    /// Counts operations sent to the kernel, and those it refused (by index).
    pub fn count_operations(&self, operations: &[Operation], failed: &[usize]) {
        for operation in operations {
            self.operations
                .get_or_create(&kind(kind_of(operation)))
                .inc();
        }
        for index in failed {
            if let Some(operation) = operations.get(*index) {
                self.operation_errors
                    .get_or_create(&kind(kind_of(operation)))
                    .inc();
            }
        }
    }

    /// Counts a control-socket request.
    pub fn count_request(&self, command: &str) {
        self.control_requests
            .get_or_create(&CommandLabels {
                command: command.to_string(),
            })
            .inc();
    }

    /// Counts a change of this node's service state (`active`, `inactive`, `stopped`).
    pub fn count_transition(&self, to: &str) {
        self.transitions
            .get_or_create(&TransitionLabels { to: to.to_string() })
            .inc();
    }

    /// The observer the monitors report every probe's latency to.
    pub fn latency_observer(&self) -> LatencyObserver {
        let latency = self.latency.clone();
        Arc::new(
            move |service: &ServiceId, server: &ServerId, took: Duration| {
                latency
                    .get_or_create(&ServerLabels {
                        virtual_server: service.0.to_string(),
                        real_server: server.0.to_string(),
                    })
                    .observe(took.as_secs_f64());
            },
        )
    }

    /// The whole text of one scrape.
    pub fn render(&self, scrape: &Scrape) -> String {
        let mut registry = Registry::with_prefix("shoal");
        self.register_lasting(&mut registry);
        register_node(&mut registry, scrape);
        register_kernel(&mut registry, scrape);
        register_health(&mut registry, &scrape.status.health);
        if let Some(failover) = scrape.failover {
            register_heartbeat(&mut registry, failover);
        }
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &registry).is_err() {
            text = "# the metrics could not be encoded\n# EOF\n".into();
        }
        text
    }

    fn register_lasting(&self, registry: &mut Registry) {
        registry.register(
            "reconcile_operations",
            "IPVS operations sent to the kernel, by kind",
            self.operations.clone(),
        );
        registry.register(
            "reconcile_errors",
            "IPVS operations the kernel refused, by kind",
            self.operation_errors.clone(),
        );
        registry.register(
            "control_requests",
            "Requests on the control socket, by command",
            self.control_requests.clone(),
        );
        registry.register(
            "transitions",
            "Changes of this node's service state, by the state entered",
            self.transitions.clone(),
        );
        registry.register(
            "probe_latency_seconds",
            "Latency of every health probe, per virtual and real server",
            self.latency.clone(),
        );
    }
}

fn kind(kind: &str) -> KindLabels {
    KindLabels {
        kind: kind.to_string(),
    }
}

/// A gauge family with one series at 1: the current value of a label.
fn current<
    L: Clone + std::hash::Hash + Eq + EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static,
>(
    registry: &mut Registry,
    name: &str,
    help: &str,
    labels: L,
) {
    let family = Family::<L, Gauge>::default();
    family.get_or_create(&labels).set(1);
    registry.register(name, help, family);
}

fn register_node(registry: &mut Registry, scrape: &Scrape) {
    current(
        registry,
        "state",
        "This node's service state (1 for the current one): active, inactive or stopped",
        StateLabels {
            state: scrape.status.state.clone(),
        },
    );
    let role = scrape
        .failover
        .map_or("single".to_string(), |f| f.state.role.to_string());
    current(
        registry,
        "role",
        "This node's role (1 for the current one): primary, backup, or single without a peer",
        RoleLabels { role },
    );
    let serial = Gauge::<i64>::default();
    serial.set(i64::try_from(scrape.status.serial_no).unwrap_or(i64::MAX));
    registry.register("config_serial", "serial_no of the lvs.cf in use", serial);
    if let Some(failover) = scrape.failover {
        let matches = Gauge::<i64>::default();
        matches.set(match failover.config_matches {
            Some(true) => 1,
            Some(false) => 0,
            None => -1,
        });
        registry.register(
            "peer_config_match",
            "1 when the peer runs the same lvs.cf, 0 when not, -1 when it does not say",
            matches,
        );
        let alive = Gauge::<i64>::default();
        alive.set(i64::from(failover.peer.alive));
        registry.register("peer_alive", "1 while the peer's heartbeats arrive", alive);
        let holding = Gauge::<i64>::default();
        holding.set(i64::from(failover.hold.holding));
        registry.register(
            "peer_hold",
            "1 while a takeover is held off: the peer's heartbeat is silent but its VIPs answer",
            holding,
        );
        let holds = Counter::<u64>::default();
        holds.inc_by(failover.hold.holds);
        registry.register(
            "peer_holds",
            "Silences of the active peer in which its VIPs still answered",
            holds,
        );
    }
}

/// A labelled family of gauges, filled by `fill` and registered under `name`.
fn gauges<
    L: Clone + std::hash::Hash + Eq + EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static,
>(
    registry: &mut Registry,
    name: &str,
    help: &str,
    values: impl IntoIterator<Item = (L, i64)>,
) {
    let family = Family::<L, Gauge>::default();
    for (labels, value) in values {
        family.get_or_create(&labels).set(value);
    }
    registry.register(name, help, family);
}

/// A labelled family of counters whose totals come from elsewhere (the kernel, the
/// heartbeat), registered under `name`.
fn totals<
    L: Clone + std::hash::Hash + Eq + EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static,
>(
    registry: &mut Registry,
    name: &str,
    help: &str,
    values: impl IntoIterator<Item = (L, u64)>,
) {
    let family = Family::<L, Counter>::default();
    for (labels, value) in values {
        family.get_or_create(&labels).inc_by(value);
    }
    registry.register(name, help, family);
}

fn clamp(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Reads one kernel counter of a service.
type StatReading = fn(&Stats) -> u64;

/// The kernel's per-service totals: name, help, the counter.
const SERVICE_TOTALS: [(&str, &str, StatReading); 5] = [
    (
        "virtual_server_connections",
        "Connections scheduled (kernel)",
        |s| s.connections,
    ),
    ("virtual_server_in_packets", "Packets in (kernel)", |s| {
        s.in_packets
    }),
    ("virtual_server_out_packets", "Packets out (kernel)", |s| {
        s.out_packets
    }),
    ("virtual_server_in_bytes", "Bytes in (kernel)", |s| {
        s.in_bytes
    }),
    ("virtual_server_out_bytes", "Bytes out (kernel)", |s| {
        s.out_bytes
    }),
];

/// The kernel's per-service rate estimates: name, help, the estimate.
const SERVICE_RATES: [(&str, &str, StatReading); 5] = [
    (
        "virtual_server_connections_per_second",
        "New connections per second (kernel estimate)",
        |s| s.cps,
    ),
    (
        "virtual_server_in_packets_per_second",
        "Packets in per second (kernel estimate)",
        |s| s.in_pps,
    ),
    (
        "virtual_server_out_packets_per_second",
        "Packets out per second (kernel estimate)",
        |s| s.out_pps,
    ),
    (
        "virtual_server_in_bytes_per_second",
        "Bytes in per second (kernel estimate)",
        |s| s.in_bps,
    ),
    (
        "virtual_server_out_bytes_per_second",
        "Bytes out per second (kernel estimate)",
        |s| s.out_bps,
    ),
];

/// Reads one kernel figure of a destination.
type DestinationReading = fn(&DestinationState) -> i64;

/// The kernel's per-destination figures: name, help, the figure.
const DESTINATION_GAUGES: [(&str, &str, DestinationReading); 4] = [
    (
        "real_server_active_connections",
        "Active connections (kernel)",
        |d| i64::from(d.active_connections),
    ),
    (
        "real_server_inactive_connections",
        "Inactive connections (kernel)",
        |d| i64::from(d.inactive_connections),
    ),
    (
        "real_server_persistent_connections",
        "Persistence templates (kernel)",
        |d| i64::from(d.persistent_connections),
    ),
    ("real_server_weight", "Weight in the kernel table", |d| {
        i64::from(d.destination.weight)
    }),
];

fn register_kernel(registry: &mut Registry, scrape: &Scrape) {
    let status = scrape.status;
    let mut services = Vec::new();
    let mut destinations = Vec::new();
    for (i, state) in status.services.iter().enumerate() {
        let names = status.names.get(i).cloned().unwrap_or_default();
        let service = names
            .service
            .clone()
            .unwrap_or_else(|| state.service.key.to_string());
        services.push((
            ServiceLabels {
                virtual_server: service.clone(),
            },
            state,
        ));
        for (j, d) in state.destinations.iter().enumerate() {
            let address = socket_text(d.destination.address, d.destination.port);
            let real_server = names
                .servers
                .get(j)
                .cloned()
                .flatten()
                .unwrap_or_else(|| address.clone());
            let labels = DestinationLabels {
                virtual_server: service.clone(),
                real_server,
                address,
            };
            destinations.push((labels, d));
        }
    }
    for (name, help, read) in SERVICE_TOTALS {
        let values = services.iter().map(|(l, s)| (l.clone(), read(&s.stats)));
        totals(registry, name, help, values);
    }
    for (name, help, read) in SERVICE_RATES {
        let values = services
            .iter()
            .map(|(l, s)| (l.clone(), clamp(read(&s.stats))));
        gauges(registry, name, help, values);
    }
    for (name, help, read) in DESTINATION_GAUGES {
        let values = destinations.iter().map(|(l, d)| (l.clone(), read(d)));
        gauges(registry, name, help, values);
    }
    totals(
        registry,
        "real_server_connections",
        "Connections scheduled to the real server (kernel)",
        destinations
            .iter()
            .map(|(l, d)| (l.clone(), d.stats.connections)),
    );
    gauges(
        registry,
        "real_server_configured_weight",
        "Weight in lvs.cf",
        scrape.configured.iter().map(|((vs, rs), weight)| {
            (
                ServerLabels {
                    virtual_server: vs.clone(),
                    real_server: rs.clone(),
                },
                *weight,
            )
        }),
    );
}

/// The health states a real server can be in, each a series (1 for the current one),
/// so an alert can match `state="down"`.
const HEALTH_STATES: &[&str] = &["up", "slow-start", "failing", "down", "rising", "unknown"];

fn register_health(registry: &mut Registry, health: &[ServerHealth]) {
    let states = health.iter().flat_map(|h| {
        HEALTH_STATES.iter().map(move |state| {
            (
                HealthLabels {
                    virtual_server: h.service.clone(),
                    real_server: h.server.clone(),
                    state: (*state).to_string(),
                },
                i64::from(h.health == *state),
            )
        })
    });
    gauges(
        registry,
        "real_server_health",
        "Health from the monitor (1 for the current state)",
        states,
    );
    let pair = |h: &ServerHealth| ServerLabels {
        virtual_server: h.service.clone(),
        real_server: h.server.clone(),
    };
    gauges(
        registry,
        "real_server_consecutive_failures",
        "Failed probes in a row",
        health.iter().map(|h| (pair(h), i64::from(h.failures))),
    );
    gauges(
        registry,
        "real_server_stalled",
        "1 when the monitor reported nothing for 3 intervals",
        health.iter().map(|h| (pair(h), i64::from(h.stalled))),
    );
}

fn channels(failover: &HaSnapshot) -> Vec<(&'static str, &ChannelCounters)> {
    let mut all = vec![("public", &failover.counters.public)];
    if let Some(private) = &failover.counters.private {
        all.push(("private", private));
    }
    all
}

/// Reads one counter of a channel.
type Reading = fn(&ChannelCounters) -> u64;

fn register_heartbeat(registry: &mut Registry, failover: &HaSnapshot) {
    let channels = channels(failover);
    let by_channel = |f: fn(&ChannelCounters) -> u64| {
        channels
            .iter()
            .map(move |(name, c)| {
                (
                    ChannelLabels {
                        channel: (*name).to_string(),
                    },
                    f(c),
                )
            })
            .collect::<Vec<_>>()
    };
    totals(
        registry,
        "heartbeat_sent",
        "Heartbeats sent",
        by_channel(|c| c.sent),
    );
    totals(
        registry,
        "heartbeat_send_errors",
        "Heartbeats that could not be sent",
        by_channel(|c| c.send_errors),
    );
    totals(
        registry,
        "heartbeat_received",
        "Datagrams received on the heartbeat port",
        by_channel(|c| c.received),
    );
    totals(
        registry,
        "heartbeat_accepted",
        "Valid heartbeats from the peer",
        by_channel(|c| c.accepted),
    );
    let reasons: [(&str, Reading); 6] = [
        ("source", |c| c.rejected_source),
        ("length", |c| c.rejected_length),
        ("tag", |c| c.rejected_tag),
        ("replay", |c| c.replayed),
        ("old_boot", |c| c.old_boot),
        ("incompatible", |c| c.incompatible),
    ];
    let rejected = channels.iter().flat_map(|(name, c)| {
        reasons.iter().map(move |(reason, f)| {
            (
                RejectedLabels {
                    channel: (*name).to_string(),
                    reason: (*reason).to_string(),
                },
                f(c),
            )
        })
    });
    totals(
        registry,
        "heartbeat_rejected",
        "Datagrams dropped, by reason (forged, replayed, not from the peer...)",
        rejected,
    );
}

/// Answers `GET /metrics` by asking the supervisor for a scrape; anything else is 404.
pub async fn serve(
    listener: tokio::net::TcpListener,
    events: tokio::sync::mpsc::Sender<super::Event>,
) {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let events = events.clone();
            async move {
                let (reply, answer) = tokio::sync::oneshot::channel();
                let scraped = match events.send((crate::control::Request::Metrics, reply)).await {
                    Ok(()) => answer.await.ok(),
                    Err(_) => None,
                };
                match scraped {
                    Some(crate::control::Response::Metrics { text }) => {
                        ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response()
                    }
                    _ => (StatusCode::SERVICE_UNAVAILABLE, "the daemon is stopping\n")
                        .into_response(),
                }
            }
        }),
    );
    if let Err(e) = axum::serve(listener, app).await {
        tracing::warn!("metrics listener stopped: {e}");
    }
}
