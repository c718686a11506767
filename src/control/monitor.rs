//! The `monitor` answer: the routing table as the web UI's CONTROL/MONITORING page draws
//! it, with each real server's health and each service's last hour, in one exchange.
//!
//! `status` and `history` hold all of it and more, but the page needs a small part: for
//! 1,000 virtual servers x 10 real servers `status` is 4.3 MB of JSON, most of it the ten
//! counters of every destination and service, which the page does not show, and every
//! health entry repeats both names. Decoding it took most of the page's time. Here each
//! real server is one short row, joined with its names and health by the daemon, which
//! has them at hand.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{ServerHealth, StatusReport};
use crate::daemon::history::{Point, ServiceHistory};
use crate::ipvs::render::{Names, service_line};
use crate::ipvs::types::{ServiceState, socket_text};

/// The daemon's state and table as CONTROL/MONITORING shows them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MonitorReport {
    /// active, inactive or stopped.
    pub state: String,
    /// Whether the daemon only logs what it would do.
    pub dry_run: bool,
    /// The running lvs.cf's `serial_no`.
    pub serial_no: u64,
    /// Why the kernel table could not be read, if it could not.
    pub kernel_error: Option<String>,
    /// The heartbeat's view, as in `status`; `None` without a peer.
    #[serde(default)]
    pub failover: Option<serde_json::Value>,
    /// The table, in the kernel's order.
    pub services: Vec<MonitoredService>,
}

/// One virtual service of the table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MonitoredService {
    /// lvs.cf name; empty for a service lvs.cf does not have.
    pub name: String,
    /// The ipvsadm service line.
    pub line: String,
    /// New connections per second now.
    pub cps: u64,
    /// The last hour, oldest first (`history`'s points); empty before the first sample.
    #[serde(default)]
    pub points: Vec<Point>,
    /// Its destinations, in the kernel's order.
    pub servers: Vec<MonitoredServer>,
}

/// One real server line of the table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitoredServer {
    /// lvs.cf name; empty for a destination lvs.cf does not have.
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
    /// up, down, ... from the monitor; `-` when it is not checked.
    pub health: String,
    /// The operator's override; empty when none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub operator: String,
    /// What the last probe found; empty when not checked.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

impl MonitorReport {
    /// The same answer made from `status` and `history`, for a daemon older than the
    /// `monitor` request (the package restarts the UI on an upgrade, not the director).
    pub fn from_status(status: StatusReport, history: &[ServiceHistory]) -> MonitorReport {
        let by_line: HashMap<&str, &[Point]> = history
            .iter()
            .map(|h| (h.service.as_str(), h.points.as_slice()))
            .collect();
        let points = |s: &ServiceState| {
            by_line
                .get(service_line(&s.service).as_str())
                .map_or_else(Vec::new, |p| p.to_vec())
        };
        MonitorReport {
            services: services(&status.services, status.names, &status.health, &points),
            state: status.state,
            dry_run: status.dry_run,
            serial_no: status.serial_no,
            kernel_error: status.kernel_error,
            failover: status.failover,
        }
    }
}

/// Each real server's health by (virtual server, real server) name: looked up once per
/// row, so building the table stays linear in the number of real servers.
type HealthIndex<'a> = HashMap<(&'a str, &'a str), &'a ServerHealth>;

/// The page's table from the kernel table, its lvs.cf names (`names[i]` for `table[i]`,
/// taken: the rows keep the strings), the monitors' health, and each service's hour from
/// `points`.
pub fn services(
    table: &[ServiceState],
    names: Vec<Names>,
    health: &[ServerHealth],
    points: &dyn Fn(&ServiceState) -> Vec<Point>,
) -> Vec<MonitoredService> {
    let health: HealthIndex = health
        .iter()
        .map(|h| ((h.service.as_str(), h.server.as_str()), h))
        .collect();
    let mut names = names.into_iter();
    table
        .iter()
        .map(|service| {
            let names = names.next().unwrap_or_default();
            let name = names.service.unwrap_or_default();
            MonitoredService {
                line: service_line(&service.service),
                cps: service.stats.cps,
                points: points(service),
                servers: servers(service, names.servers, &name, &health),
                name,
            }
        })
        .collect()
}

fn servers(
    service: &ServiceState,
    names: Vec<Option<String>>,
    service_name: &str,
    health: &HealthIndex,
) -> Vec<MonitoredServer> {
    let mut names = names.into_iter();
    service
        .destinations
        .iter()
        .map(|d| {
            let name = names.next().flatten().unwrap_or_default();
            let checked = health.get(&(service_name, name.as_str())).copied();
            MonitoredServer {
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

#[cfg(test)]
mod tests {
    use super::*;

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

    /// A status report of `services` and `names`, with `health`.
    fn report(
        services: Vec<serde_json::Value>,
        names: serde_json::Value,
        health: Vec<serde_json::Value>,
    ) -> StatusReport {
        serde_json::from_value(serde_json::json!({
            "state": "active", "dry_run": false, "lvs_cf": "lvs.cf", "serial_no": 3,
            "info": null, "services": services, "names": names, "kernel_error": null,
            "health": health,
        }))
        .expect("a status report")
    }

    fn table_of(report: &StatusReport) -> Vec<MonitoredService> {
        services(
            &report.services,
            report.names.clone(),
            &report.health,
            &|_| Vec::new(),
        )
    }

    #[test]
    fn each_real_server_shows_the_health_of_its_own_virtual_server() {
        // The same real server name in two virtual servers, with different health.
        let report = report(
            vec![
                service("192.0.2.10", &["198.51.100.11", "198.51.100.12"]),
                service("192.0.2.11", &["198.51.100.11"]),
            ],
            serde_json::json!([
                {"service": "http", "servers": ["web1", "web2"]},
                {"service": "ftp", "servers": ["web1"]},
            ]),
            vec![
                health("ftp", "web1", "down", "none"),
                health("http", "web2", "up", "drain"),
                health("http", "web1", "up", "none"),
            ],
        );
        let table = table_of(&report);
        let shown: Vec<(&str, &str, &str, &str, &str)> = table
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
        assert_eq!(table[0].cps, 7);
        assert_eq!(table[0].line, "TCP  192.0.2.10:80 wlc");
        assert_eq!(
            (
                table[0].servers[0].address.as_str(),
                table[0].servers[0].forward.as_str()
            ),
            ("198.51.100.11:80", "Masq")
        );
    }

    #[test]
    fn a_server_without_a_check_shows_a_dash_and_sends_no_empty_fields() {
        let report = report(
            vec![service("192.0.2.10", &["198.51.100.11"])],
            serde_json::json!([{"service": "http", "servers": [null]}]),
            Vec::new(),
        );
        let table = table_of(&report);
        let server = &table[0].servers[0];
        assert_eq!((server.name.as_str(), server.health.as_str()), ("", "-"));
        let line = serde_json::to_string(server).expect("json");
        assert!(
            !line.contains("operator") && !line.contains("detail"),
            "{line}"
        );
        let back: MonitoredServer = serde_json::from_str(&line).expect("decodes");
        assert_eq!(&back, server);
    }

    #[test]
    fn status_and_history_make_the_same_table() {
        let status = report(
            vec![
                service("192.0.2.10", &["198.51.100.11"]),
                service("192.0.2.11", &[]),
            ],
            serde_json::json!([{"service": "http", "servers": ["web1"]}]),
            vec![health("http", "web1", "up", "none")],
        );
        let point = Point {
            minute: 9,
            cps: 2.0,
            active: 1,
        };
        let history = [ServiceHistory {
            name: Some("http".into()),
            service: "TCP  192.0.2.10:80 wlc".into(),
            points: vec![point],
        }];
        let expected = table_of(&status);
        let made = MonitorReport::from_status(status, &history);
        assert_eq!((made.serial_no, made.state.as_str()), (3, "active"));
        assert_eq!(made.services[0].points, [point]);
        assert!(made.services[1].points.is_empty());
        for (made, expected) in made.services.iter().zip(&expected) {
            assert_eq!(
                (&made.line, &made.servers),
                (&expected.line, &expected.servers)
            );
        }
    }

    #[test]
    fn each_service_carries_its_own_hour() {
        let report = report(
            vec![
                service("192.0.2.10", &[]),
                service("192.0.2.11", &["198.51.100.11"]),
            ],
            serde_json::json!([]),
            Vec::new(),
        );
        let hour = |s: &ServiceState| {
            vec![Point {
                minute: 7,
                cps: 1.0,
                active: s.destinations.len() as u64,
            }]
        };
        let table = services(&report.services, Vec::new(), &report.health, &hour);
        assert_eq!(
            table.iter().map(|s| s.points[0].active).collect::<Vec<_>>(),
            [0, 1]
        );
        assert!(table.iter().all(|s| s.name.is_empty()));
    }
}
