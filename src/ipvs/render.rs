//! The kernel table in `ipvsadm -Ln` layout, the form every LVS administrator reads,
//! optionally with the lvs.cf names of services and real servers beside each line.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::types::{Family, Info, Service, ServiceFlags, ServiceKey, ServiceState};

/// The three header lines of `ipvsadm -Ln`.
pub fn header(info: Option<&Info>) -> String {
    let version = match info {
        Some(info) => format!(
            "IP Virtual Server version {} (size={})\n",
            info.version_text(),
            info.connection_table_size
        ),
        None => "IP Virtual Server (kernel not read)\n".to_string(),
    };
    format!(
        "{version}Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
    )
}

/// A service line as ipvsadm prints it: key, scheduler, scheduler flags, persistence,
/// one-packet scheduling.
pub fn service_line(s: &Service) -> String {
    let mut words = vec![match s.key {
        ServiceKey::Address {
            protocol,
            address,
            port,
        } => format!(
            "{:<4} {}",
            protocol.to_string(),
            super::types::socket_text(address, port)
        ),
        ServiceKey::Fwmark {
            family: Family::Inet,
            mark,
        } => format!("FWM  {mark}"),
        ServiceKey::Fwmark {
            family: Family::Inet6,
            mark,
        } => format!("FWM  {mark} IPv6"),
    }];
    words.push(s.scheduler.clone());
    // ipvsadm names the scheduler flags after the scheduler that owns them.
    let scheduler_flags: Vec<String> = [
        (ServiceFlags::SCHED1, "fallback"),
        (ServiceFlags::SCHED2, "port"),
    ]
    .into_iter()
    .filter(|(bit, _)| s.flags.has(*bit))
    .map(|(_, name)| format!("{}-{name}", s.scheduler))
    .collect();
    if !scheduler_flags.is_empty() {
        words.push(format!("({})", scheduler_flags.join(",")));
    }
    if s.flags.has(ServiceFlags::PERSISTENT) {
        words.push(format!("persistent {}", s.timeout));
        match s.key.family() {
            Family::Inet if s.netmask != u32::MAX => {
                words.push(format!("mask {}", Ipv4Addr::from(s.netmask)));
            }
            Family::Inet6 if s.netmask != 128 => words.push(format!("mask {}", s.netmask)),
            _ => {}
        }
    }
    if s.flags.has(ServiceFlags::ONE_PACKET) {
        words.push("ops".into());
    }
    words.join(" ")
}

/// The lvs.cf names of a service and of its real servers (by destination index); the
/// daemon sends them beside the table on the control socket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Names {
    /// The virtual server's name.
    pub service: Option<String>,
    /// Each destination's real server name, in the order of `destinations`.
    pub servers: Vec<Option<String>>,
}

/// The whole table; `names[i]`, when present, gives the lvs.cf name of a service and of each of its real
/// servers (by index), shown after the line when known.
pub fn table(info: Option<&Info>, services: &[ServiceState], names: &[Names]) -> String {
    let mut out = header(info);
    let unnamed = Names::default();
    let mut sorted: Vec<(&ServiceState, &Names)> = services
        .iter()
        .enumerate()
        .map(|(i, s)| (s, names.get(i).unwrap_or(&unnamed)))
        .collect();
    sorted.sort_by_key(|(s, _)| s.service.key);
    for (state, names) in sorted {
        out.push_str(&with_name(
            service_line(&state.service),
            names.service.as_deref(),
        ));
        let mut destinations: Vec<(usize, _)> = state.destinations.iter().enumerate().collect();
        destinations.sort_by_key(|(_, d)| d.destination.id());
        for (index, d) in destinations {
            let line = format!(
                "  -> {:<28} {:<7} {:<6} {:<10} {:<10}",
                super::types::socket_text(d.destination.address, d.destination.port),
                d.destination.forward.ipvsadm_name(),
                d.destination.weight,
                d.active_connections,
                d.inactive_connections
            );
            let name = names.servers.get(index).and_then(|n| n.as_deref());
            out.push_str(&with_name(line, name));
        }
    }
    out
}

fn with_name(line: String, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("{line}  # {name}\n"),
        None => format!("{line}\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvs::types::{
        Destination, DestinationState, ForwardMethod, ServiceProtocol, Stats, Tunnel,
    };

    #[test]
    fn lines_follow_ipvsadm() {
        let service = Service {
            key: ServiceKey::Address {
                protocol: ServiceProtocol::Tcp,
                address: "192.0.2.10".parse().expect("ip"),
                port: 80,
            },
            scheduler: "wlc".into(),
            flags: ServiceFlags(ServiceFlags::PERSISTENT | ServiceFlags::HASHED),
            timeout: 300,
            netmask: 0xffff_ff00,
            pe_name: None,
        };
        let state = ServiceState {
            service,
            stats: Stats::default(),
            destinations: vec![DestinationState {
                destination: Destination {
                    address: "198.51.100.11".parse().expect("ip"),
                    port: 80,
                    forward: ForwardMethod::Masquerade,
                    weight: 1,
                    upper_threshold: 0,
                    lower_threshold: 0,
                    tunnel: Tunnel::default(),
                },
                active_connections: 0,
                inactive_connections: 0,
                persistent_connections: 0,
                stats: Stats::default(),
            }],
        };
        let names = [Names {
            service: Some("http".into()),
            servers: vec![Some("web1".into())],
        }];
        let text = table(None, &[state], &names);
        let lines: Vec<&str> = text.lines().skip(3).collect();
        assert_eq!(
            lines,
            [
                "TCP  192.0.2.10:80 wlc persistent 300 mask 255.255.255.0  # http",
                "  -> 198.51.100.11:80             Masq    1      0          0           # web1",
            ]
        );
    }
}
