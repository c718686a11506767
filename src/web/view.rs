//! The daemon's status as the CONTROL/MONITORING page shows it: plain rows of text, so
//! the template only lays them out (and escapes them).

use crate::control::MonitorReport;
use crate::control::monitor::{MonitoredServer, MonitoredService};

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

/// One real server line: as the daemon sends it (name, address, forwarding, weight,
/// connections, health), so the rows are moved into the page, not copied.
pub type ServerRow = MonitoredServer;

impl Control {
    /// The section for a daemon that did not answer.
    pub fn unreachable(why: String) -> Control {
        Control {
            daemon: why,
            reachable: false,
            state: "unknown".into(),
            ..Control::default()
        }
    }

    /// The section from the daemon's `monitor` answer; `now_minute` places the charts.
    pub fn from_monitor(report: MonitorReport, now_minute: u64) -> Control {
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
        let role = if failover.is_some() {
            text("/state/role")
        } else {
            "single director".into()
        };
        Control {
            daemon: "running".into(),
            reachable: true,
            role,
            peer,
            peer_serial: text("/peer/config_serial"),
            config_match: config_match.into(),
            state: report.state,
            serial: report.serial_no.to_string(),
            dry_run: report.dry_run,
            kernel_error: report.kernel_error,
            services: report
                .services
                .into_iter()
                .map(|service| ServiceRow::of(service, now_minute))
                .collect(),
        }
    }
}

impl ServiceRow {
    fn of(service: MonitoredService, now_minute: u64) -> ServiceRow {
        ServiceRow {
            chart: (!service.points.is_empty()).then(|| Chart::of(&service.points, now_minute)),
            name: service.name,
            line: service.line,
            cps: service.cps,
            servers: service.servers,
        }
    }
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

    fn server(name: &str) -> MonitoredServer {
        MonitoredServer {
            name: name.into(),
            address: "198.51.100.11:80".into(),
            forward: "Masq".into(),
            weight: 1,
            active: 2,
            inactive: 3,
            health: "up".into(),
            operator: String::new(),
            detail: "connected".into(),
        }
    }

    fn report(failover: Option<serde_json::Value>, points: Vec<Point>) -> MonitorReport {
        MonitorReport {
            state: "active".into(),
            dry_run: true,
            serial_no: 3,
            kernel_error: None,
            failover,
            services: vec![MonitoredService {
                name: "http".into(),
                line: "TCP  192.0.2.10:80 wlc".into(),
                cps: 7,
                points,
                servers: vec![server("web1"), server("web2")],
            }],
        }
    }

    #[test]
    fn the_rows_are_the_daemons_and_a_chart_needs_points() {
        let control = Control::from_monitor(report(None, Vec::new()), 1060);
        assert_eq!(
            (
                control.serial.as_str(),
                control.role.as_str(),
                control.dry_run
            ),
            ("3", "single director", true)
        );
        assert!(control.peer.is_empty());
        let service = &control.services[0];
        assert_eq!((service.name.as_str(), service.cps), ("http", 7));
        assert_eq!(service.servers, [server("web1"), server("web2")]);
        assert!(service.chart.is_none());
        let point = Point {
            minute: 1060,
            cps: 5.0,
            active: 4,
        };
        let charted = Control::from_monitor(report(None, vec![point]), 1060);
        let chart = charted.services[0].chart.as_ref().expect("a chart");
        assert_eq!((chart.minutes, chart.active_top), (1, 4));
    }

    #[test]
    fn the_peer_and_both_serials_come_from_the_heartbeat() {
        let failover = serde_json::json!({
            "state": {"role": "backup"},
            "peer": {"alive": true, "addresses": {"public": "192.0.2.2"}, "config_serial": 4},
            "config_matches": false,
        });
        let control = Control::from_monitor(report(Some(failover), Vec::new()), 0);
        assert_eq!(
            (
                control.role.as_str(),
                control.peer.as_str(),
                control.peer_serial.as_str(),
                control.config_match.as_str()
            ),
            ("backup", "192.0.2.2 (alive)", "4", "DIFFERENT")
        );
    }
}
