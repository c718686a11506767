//! The daemon's status as the CONTROL/MONITORING page shows it: plain rows of text, so
//! the template only lays them out (and escapes them).

use std::collections::HashMap;

use crate::control::{ServerHealth, StatusReport};
use crate::ipvs::render;
use crate::ipvs::types::{ServiceState, socket_text};

/// The CONTROL section.
#[derive(Debug, Clone, Default)]
pub struct Control {
    /// `running` or why the daemon cannot be reached.
    pub daemon: String,
    /// Whether the daemon answered.
    pub reachable: bool,
    /// active, inactive or stopped.
    pub state: String,
    /// primary, backup, or `single` without a peer.
    pub role: String,
    /// The peer: alive or silent, its address; empty without a peer.
    pub peer: String,
    /// This node's serial_no.
    pub serial: String,
    /// The peer's serial_no, when it sent one.
    pub peer_serial: String,
    /// Whether both run the same lvs.cf: `same`, `DIFFERENT` or `unknown`.
    pub config_match: String,
    /// A dry run says so.
    pub dry_run: bool,
    /// Why the kernel table could not be read.
    pub kernel_error: Option<String>,
    /// The routing table.
    pub services: Vec<ServiceRow>,
}

/// One virtual service of the table.
#[derive(Debug, Clone)]
pub struct ServiceRow {
    /// lvs.cf name.
    pub name: String,
    /// The ipvsadm service line.
    pub line: String,
    /// Connections per second now.
    pub cps: u64,
    /// The last hour, when the daemon has samples.
    pub chart: Option<Chart>,
    /// Its destinations.
    pub servers: Vec<ServerRow>,
}

/// One real server line.
#[derive(Debug, Clone)]
pub struct ServerRow {
    /// lvs.cf name.
    pub name: String,
    /// address:port.
    pub address: String,
    /// Masq, Route, Tunnel.
    pub forward: String,
    /// Kernel weight.
    pub weight: u32,
    /// Active connections.
    pub active: u32,
    /// Inactive connections.
    pub inactive: u32,
    /// up, down, ... from the monitor, `-` when unchecked.
    pub health: String,
    /// The operator's override, empty when none.
    pub operator: String,
    /// The last probe's result.
    pub detail: String,
}

impl Control {
    /// Attaches each service's chart from the daemon's history.
    pub fn with_history(
        mut self,
        history: &[crate::daemon::history::ServiceHistory],
        now_minute: u64,
    ) -> Control {
        let by_line: HashMap<&str, &crate::daemon::history::ServiceHistory> =
            history.iter().map(|h| (h.service.as_str(), h)).collect();
        for row in &mut self.services {
            if let Some(series) = by_line.get(row.line.as_str()) {
                row.chart = Some(Chart::of(&series.points, now_minute));
            }
        }
        self
    }

    /// The section for a daemon that did not answer.
    pub fn unreachable(why: String) -> Control {
        Control {
            daemon: why,
            reachable: false,
            state: "unknown".into(),
            ..Control::default()
        }
    }

    /// The section from the daemon's report.
    pub fn from_report(report: &StatusReport) -> Control {
        let failover = report.failover.as_ref();
        let text = |pointer: &str| {
            failover
                .and_then(|f| f.pointer(pointer))
                .filter(|v| !v.is_null())
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                .unwrap_or_default()
        };
        let peer = match failover {
            None => String::new(),
            Some(f) => {
                let alive = f.pointer("/peer/alive").and_then(|v| v.as_bool()) == Some(true);
                let state = if alive { "alive" } else { "silent" };
                format!("{} ({state})", text("/peer/addresses/public"))
            }
        };
        let config_match = match failover.and_then(|f| f.pointer("/config_matches")) {
            Some(serde_json::Value::Bool(true)) => "same",
            Some(serde_json::Value::Bool(false)) => "DIFFERENT",
            _ => "unknown",
        };
        Control {
            daemon: "running".into(),
            reachable: true,
            state: report.state.clone(),
            role: if failover.is_some() {
                text("/state/role")
            } else {
                "single director".into()
            },
            peer,
            serial: report.serial_no.to_string(),
            peer_serial: text("/peer/config_serial"),
            config_match: config_match.into(),
            dry_run: report.dry_run,
            kernel_error: report.kernel_error.clone(),
            services: rows(report),
        }
    }
}

/// Each real server's health by (virtual server, real server) name: looked up once per
/// row of the table, so the page stays linear in the number of real servers.
type HealthIndex<'a> = HashMap<(&'a str, &'a str), &'a ServerHealth>;

fn rows(report: &StatusReport) -> Vec<ServiceRow> {
    let health: HealthIndex = report
        .health
        .iter()
        .map(|h| ((h.service.as_str(), h.server.as_str()), h))
        .collect();
    report
        .services
        .iter()
        .enumerate()
        .map(|(i, service)| {
            let names = report.names.get(i).cloned().unwrap_or_default();
            let name = names.service.clone().unwrap_or_default();
            let servers = servers(service, &names.servers, &name, &health);
            ServiceRow {
                line: render::service_line(&service.service),
                cps: service.stats.cps,
                chart: None,
                name,
                servers,
            }
        })
        .collect()
}

fn servers(
    service: &ServiceState,
    names: &[Option<String>],
    service_name: &str,
    health: &HealthIndex,
) -> Vec<ServerRow> {
    service
        .destinations
        .iter()
        .enumerate()
        .map(|(j, d)| {
            let name = names.get(j).cloned().flatten().unwrap_or_default();
            let checked = health.get(&(service_name, name.as_str())).copied();
            ServerRow {
                address: socket_text(d.destination.address, d.destination.port),
                forward: d.destination.forward.ipvsadm_name().to_string(),
                weight: d.destination.weight,
                active: d.active_connections,
                inactive: d.inactive_connections,
                health: checked.map_or_else(|| "-".into(), |h| h.health.clone()),
                operator: checked
                    .map(|h| h.operator.clone())
                    .filter(|o| o != "none")
                    .unwrap_or_default(),
                detail: checked.map(|h| h.detail.clone()).unwrap_or_default(),
                name,
            }
        })
        .collect()
}

/// A service's last hour as two polylines (inline SVG drawn by the template: no script,
/// no chart library): new connections per second and active connections.
#[derive(Debug, Clone, Default)]
pub struct Chart {
    /// `x,y` pairs of the rate line.
    pub cps: String,
    /// `x,y` pairs of the active-connections line.
    pub active: String,
    /// The rate at the top of the chart.
    pub cps_top: String,
    /// The active count at the top of the chart.
    pub active_top: u64,
    /// Minutes the chart covers so far.
    pub minutes: usize,
}

/// Chart width in SVG units: 6 per minute.
pub const CHART_WIDTH: u64 = 360;
/// Chart height in SVG units.
pub const CHART_HEIGHT: u64 = 60;

impl Chart {
    /// The chart of `points`, the last of which is the minute `now`.
    pub fn of(points: &[crate::daemon::history::Point], now_minute: u64) -> Chart {
        let start = now_minute.saturating_sub(crate::daemon::history::MINUTES as u64);
        let cps_top = points.iter().map(|p| p.cps).fold(0.0, f64::max);
        let active_top = points.iter().map(|p| p.active).max().unwrap_or(0);
        let x = |minute: u64| minute.saturating_sub(start) * CHART_WIDTH / 60;
        let y = |value: f64, top: f64| {
            let height = CHART_HEIGHT as f64;
            if top <= 0.0 {
                height
            } else {
                (height - value / top * (height - 2.0)).round()
            }
        };
        let line = |value: &dyn Fn(&crate::daemon::history::Point) -> f64, top: f64| {
            points
                .iter()
                .filter(|p| p.minute >= start)
                .map(|p| format!("{},{}", x(p.minute), y(value(p), top)))
                .collect::<Vec<_>>()
                .join(" ")
        };
        Chart {
            cps: line(&|p| p.cps, cps_top),
            active: line(&|p| p.active as f64, active_top as f64),
            cps_top: format!("{cps_top:.1}"),
            active_top,
            minutes: points.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::history::Point;

    #[test]
    fn the_chart_spans_the_hour_and_scales_to_its_peak() {
        let points = [
            Point {
                minute: 1000,
                cps: 0.0,
                active: 0,
            },
            Point {
                minute: 1030,
                cps: 50.0,
                active: 7,
            },
            Point {
                minute: 1060,
                cps: 25.0,
                active: 14,
            },
        ];
        let chart = Chart::of(&points, 1060);
        assert_eq!(chart.cps, "0,60 180,2 360,31");
        assert_eq!(chart.active, "0,60 180,31 360,2");
        assert_eq!((chart.cps_top.as_str(), chart.active_top), ("50.0", 14));
        // Older than an hour: off the chart.
        assert_eq!(Chart::of(&points, 1070).cps, "120,2 300,31");
    }

    fn destination(address: &str) -> serde_json::Value {
        let zero = serde_json::json!({
            "connections": 0, "in_packets": 0, "out_packets": 0, "in_bytes": 0,
            "out_bytes": 0, "cps": 0, "in_pps": 0, "out_pps": 0, "in_bps": 0, "out_bps": 0
        });
        serde_json::json!({
            "destination": {
                "address": address, "port": 80, "forward": "Masquerade", "weight": 1,
                "upper_threshold": 0, "lower_threshold": 0,
                "tunnel": {"kind": "Ipip", "port": 0, "flags": 0}
            },
            "active_connections": 0, "inactive_connections": 0,
            "persistent_connections": 0, "stats": zero
        })
    }

    fn service(vip: &str, servers: &[&str]) -> serde_json::Value {
        serde_json::json!({
            "service": {
                "key": {"Address": {"protocol": "Tcp", "address": vip, "port": 80}},
                "scheduler": "wlc", "flags": 2, "timeout": 0, "netmask": 4294967295u32,
                "pe_name": null
            },
            "stats": {
                "connections": 0, "in_packets": 0, "out_packets": 0, "in_bytes": 0,
                "out_bytes": 0, "cps": 7, "in_pps": 0, "out_pps": 0, "in_bps": 0, "out_bps": 0
            },
            "destinations": servers.iter().map(|a| destination(a)).collect::<Vec<_>>()
        })
    }

    fn health(service: &str, server: &str, state: &str, operator: &str) -> serde_json::Value {
        serde_json::json!({
            "service": service, "server": server, "health": state, "weight": 1,
            "operator": operator, "latency_ms": 0.5, "failures": 0, "stalled": false,
            "detail": format!("{service}/{server} probed")
        })
    }

    #[test]
    fn each_real_server_shows_the_health_of_its_own_virtual_server() {
        // The same real server name in two virtual servers, with different health.
        let report: StatusReport = serde_json::from_value(serde_json::json!({
            "state": "active", "dry_run": false, "lvs_cf": "lvs.cf", "serial_no": 3,
            "info": null,
            "services": [
                service("192.0.2.10", &["198.51.100.11", "198.51.100.12"]),
                service("192.0.2.11", &["198.51.100.11"]),
            ],
            "names": [
                {"service": "http", "servers": ["web1", "web2"]},
                {"service": "ftp", "servers": ["web1"]},
            ],
            "kernel_error": null,
            "health": [
                health("ftp", "web1", "down", "none"),
                health("http", "web2", "up", "drain"),
                health("http", "web1", "up", "none"),
            ],
        }))
        .expect("a status report");
        let control = Control::from_report(&report);
        assert_eq!(control.serial, "3");
        assert_eq!(control.role, "single director");
        let shown: Vec<(&str, &str, &str, &str, &str)> = control
            .services
            .iter()
            .flat_map(|s| {
                s.servers.iter().map(move |r| {
                    (
                        s.name.as_str(),
                        r.name.as_str(),
                        r.health.as_str(),
                        r.operator.as_str(),
                        r.detail.as_str(),
                    )
                })
            })
            .collect();
        assert_eq!(
            shown,
            [
                ("http", "web1", "up", "", "http/web1 probed"),
                ("http", "web2", "up", "drain", "http/web2 probed"),
                ("ftp", "web1", "down", "", "ftp/web1 probed"),
            ]
        );
        assert_eq!(control.services[0].cps, 7);
        assert_eq!(control.services[0].line, "TCP  192.0.2.10:80 wlc");
    }

    #[test]
    fn a_server_without_a_check_shows_a_dash() {
        let report: StatusReport = serde_json::from_value(serde_json::json!({
            "state": "active", "dry_run": true, "lvs_cf": "lvs.cf", "serial_no": 1,
            "info": null,
            "services": [service("192.0.2.10", &["198.51.100.11"])],
            "names": [{"service": "http", "servers": [null]}],
            "kernel_error": null,
        }))
        .expect("a status report");
        let control = Control::from_report(&report);
        let server = &control.services[0].servers[0];
        assert_eq!((server.name.as_str(), server.health.as_str()), ("", "-"));
        assert!(control.dry_run);
    }
}
