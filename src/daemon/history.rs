//! The last hour of each virtual service, for the charts of the web UI's
//! CONTROL/MONITORING page: new connections per second and active connections, one
//! point a minute. The daemon samples the kernel table every [`SAMPLE_EVERY`]; a minute's
//! point is the mean rate and the highest active count seen in it, so a spike between
//! two page loads is not lost.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ipvs::render::{Names, service_line};
use crate::ipvs::types::{ServiceKey, ServiceState};

/// How often the daemon reads the table for the charts.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(10);

/// Points kept per service: one hour of minutes.
pub const MINUTES: usize = 60;

/// One minute of one service.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Minutes since the Unix epoch.
    pub minute: u64,
    /// Mean new connections per second over the minute's samples.
    pub cps: f64,
    /// Highest sum of the real servers' active connections in the minute.
    pub active: u64,
}

/// One service's hour, as the control socket sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceHistory {
    /// lvs.cf name, when known.
    pub name: Option<String>,
    /// The ipvsadm line of the service, to tell services apart.
    pub service: String,
    /// Oldest first, at most [`MINUTES`] + 1 (the minute in progress).
    pub points: Vec<Point>,
}

#[derive(Debug, Default)]
struct Series {
    name: Option<String>,
    service: String,
    points: VecDeque<Point>,
    samples_in_last: u32,
}

/// Every service's series.
#[derive(Debug, Default)]
pub struct History {
    series: HashMap<ServiceKey, Series>,
}

impl History {
    /// Adds one sample of the table taken at `unix_seconds`; services no longer in the
    /// table are forgotten.
    pub fn record(&mut self, unix_seconds: u64, table: &[ServiceState], names: &[Names]) {
        let minute = unix_seconds / 60;
        self.series
            .retain(|key, _| table.iter().any(|s| s.service.key == *key));
        for (i, state) in table.iter().enumerate() {
            let series = self.series.entry(state.service.key).or_default();
            series.name = names.get(i).and_then(|n| n.service.clone());
            series.service = service_line(&state.service);
            let active: u64 = state
                .destinations
                .iter()
                .map(|d| u64::from(d.active_connections))
                .sum();
            series.add(minute, state.stats.cps as f64, active);
        }
    }

    /// One service's points, oldest first; none for a service not sampled yet.
    pub fn points(&self, key: &ServiceKey) -> Vec<Point> {
        self.series
            .get(key)
            .map(|s| s.points.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Every series, in the order of their ipvsadm lines.
    pub fn snapshot(&self) -> Vec<ServiceHistory> {
        let mut all: Vec<ServiceHistory> = self
            .series
            .values()
            .map(|s| ServiceHistory {
                name: s.name.clone(),
                service: s.service.clone(),
                points: s.points.iter().copied().collect(),
            })
            .collect();
        all.sort_by(|a, b| a.service.cmp(&b.service));
        all
    }
}

impl Series {
    fn add(&mut self, minute: u64, cps: f64, active: u64) {
        match self.points.back_mut() {
            Some(last) if last.minute == minute => {
                let n = f64::from(self.samples_in_last);
                last.cps = (last.cps * n + cps) / (n + 1.0);
                last.active = last.active.max(active);
                self.samples_in_last += 1;
            }
            _ => {
                self.points.push_back(Point {
                    minute,
                    cps,
                    active,
                });
                self.samples_in_last = 1;
            }
        }
        while let Some(first) = self.points.front() {
            if first.minute + MINUTES as u64 >= minute {
                break;
            }
            self.points.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvs::types::{
        Destination, DestinationState, ForwardMethod, Service, ServiceFlags, ServiceProtocol,
        Stats, Tunnel,
    };

    fn service(port: u16, cps: u64, active: &[u32]) -> ServiceState {
        let destinations = active
            .iter()
            .enumerate()
            .map(|(i, a)| DestinationState {
                active_connections: *a,
                ..DestinationState::programmed(Destination {
                    address: format!("198.51.100.{}", i + 1).parse().expect("ip"),
                    port,
                    forward: ForwardMethod::Masquerade,
                    weight: 1,
                    upper_threshold: 0,
                    lower_threshold: 0,
                    tunnel: Tunnel::default(),
                })
            })
            .collect();
        ServiceState {
            service: Service {
                key: ServiceKey::Address {
                    protocol: ServiceProtocol::Tcp,
                    address: "192.0.2.10".parse().expect("ip"),
                    port,
                },
                scheduler: "wlc".into(),
                flags: ServiceFlags::default(),
                timeout: 0,
                netmask: u32::MAX,
                pe_name: None,
            },
            stats: Stats {
                cps,
                ..Stats::default()
            },
            destinations,
        }
    }

    #[test]
    fn a_minute_keeps_the_mean_rate_and_the_peak_of_active_connections() {
        let mut history = History::default();
        history.record(600, &[service(80, 10, &[1, 2])], &[]);
        history.record(610, &[service(80, 20, &[5, 5])], &[]);
        history.record(620, &[service(80, 30, &[0, 1])], &[]);
        history.record(660, &[service(80, 4, &[2, 0])], &[]);
        let points = &history.snapshot()[0].points;
        assert_eq!(
            points,
            &[
                Point {
                    minute: 10,
                    cps: 20.0,
                    active: 10
                },
                Point {
                    minute: 11,
                    cps: 4.0,
                    active: 2
                },
            ]
        );
    }

    #[test]
    fn an_hour_is_kept_and_gone_services_are_forgotten() {
        let mut history = History::default();
        for minute in 0..200u64 {
            history.record(
                minute * 60,
                &[service(80, minute, &[1]), service(443, 1, &[])],
                &[],
            );
        }
        let all = history.snapshot();
        assert_eq!(all.len(), 2);
        let https = ServiceKey::Address {
            protocol: ServiceProtocol::Tcp,
            address: "192.0.2.10".parse().expect("ip"),
            port: 443,
        };
        let listed = all.iter().find(|h| h.service.contains(":443"));
        assert_eq!(
            Some(history.points(&https)),
            listed.map(|h| h.points.clone())
        );
        assert_eq!(all[0].points.len(), MINUTES + 1);
        assert_eq!(all[0].points[0].minute, 199 - MINUTES as u64);
        history.record(200 * 60, &[service(443, 1, &[])], &[]);
        assert_eq!(history.snapshot().len(), 1);
    }
}
