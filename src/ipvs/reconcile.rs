//! From a configuration to the kernel table it wants, and from the kernel table to that one.
//!
//! Piranha flushed the table at start and ignored scheduler or persistence changes on
//! reload. shoal instead computes the table the configuration wants ([`desired_table`])
//! and sends only the difference from a dump ([`diff`]): a daemon restart or a reload
//! breaks no connection of a service whose key did not change.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use crate::config::Config;
use crate::config::model::{
    Forwarding, GlobalSettings, Netmask, Protocol, RealServer, SchedulerFlag, ServiceKind,
    TunnelChecksum, TunnelType, VirtualServer,
};

use super::types::{
    Destination, DestinationState, Family, ForwardMethod, Operation, Service, ServiceFlags,
    ServiceKey, ServiceProtocol, ServiceState, Stats, SyncDaemon, SyncState, Timeouts, Tunnel,
    TunnelKind,
};

/// One service as the configuration wants it, with the names of the blocks it came
/// from so logs, `shoal status` and the health monitor can speak in the administrator's
/// words rather than in addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredService {
    /// The `virtual` block's name.
    pub name: String,
    /// The kernel service to program.
    pub service: Service,
    /// Its real servers, in file order.
    pub destinations: Vec<DesiredDestination>,
}

/// One real server as the configuration (and later the health monitor) wants it, named
/// for the same reason as [`DesiredService`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredDestination {
    /// The `server` block's name.
    pub name: String,
    /// The kernel destination to program.
    pub destination: Destination,
}

/// The whole kernel state a configuration asks for: what [`diff`] and [`diff_timeouts`]
/// compare a dump against, so the daemon, `--dry-run` and tests share one computation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DesiredTable {
    /// Services in file order, at most one per key.
    pub services: Vec<DesiredService>,
    /// Global protocol timeouts; 0 leaves the kernel's value alone, as Piranha's
    /// `ipvsadm --set` did.
    pub timeouts: Timeouts,
}

/// The table with every active real server at its configured weight: what Piranha's
/// lvsd programmed before its nannies reported, and what `--dry-run` shows without
/// running any check.
pub fn desired_table(config: &Config) -> DesiredTable {
    desired_table_with(config, &Weights::CONFIGURED)
}

/// Who decides the weights: lvs.cf alone (dry runs, `--no-checks`), or the health monitor
/// and the operator's overrides.
pub struct Weights<'a> {
    /// Per active real server: in at this weight (`Some`), or out (`None`).
    pub of: &'a dyn Fn(&VirtualServer, &RealServer) -> Option<u32>,
    /// Whether a virtual server's `sorry_server` is in the table (weight 1).
    pub sorry: &'a dyn Fn(&VirtualServer) -> bool,
}

impl Weights<'static> {
    /// Every active real server at its configured weight, no sorry server.
    pub const CONFIGURED: Weights<'static> = Weights {
        of: &|_, rs| Some(configured_weight(rs)),
        sorry: &|_| false,
    };
}

/// The table with the health monitor (or an operator override) deciding, per active real
/// server, whether it is in (`Some(weight)`) or out (`None`), so the mapping from lvs.cf
/// to kernel objects lives in one place whoever decides the weights. Inactive servers and
/// servers without an address are never offered to `weight_of`: nothing could program them.
pub fn desired_table_with(config: &Config, weights: &Weights) -> DesiredTable {
    // shoal runs lvs only: a fos cluster wants nothing from IPVS, not even timeouts.
    if config.global.service == ServiceKind::Fos {
        return DesiredTable::default();
    }
    let global = &config.global;
    DesiredTable {
        services: desired_services_with(global, &config.virtual_servers, weights),
        timeouts: Timeouts {
            tcp: seconds(global.tcp_timeout),
            tcp_fin: seconds(global.tcpfin_timeout),
            udp: seconds(global.udp_timeout),
        },
    }
}

/// Whether a virtual server asks for a kernel service: the same rule
/// [`desired_services_with`] applies, so a reload can find a block's service by counting.
pub fn wants_service(vs: &VirtualServer) -> bool {
    vs.active && vs.address.is_some()
}

/// The services some virtual servers of an lvs cluster want, in their order: the whole
/// table for [`desired_table_with`], or the few blocks a reload re-read.
pub fn desired_services_with(
    global: &GlobalSettings,
    virtual_servers: &[VirtualServer],
    weights: &Weights,
) -> Vec<DesiredService> {
    let mut services: Vec<DesiredService> = Vec::new();
    let mut keys = HashSet::new();
    for vs in virtual_servers.iter().filter(|vs| wants_service(vs)) {
        let Some(service) = service_of(vs) else {
            continue;
        };
        // Two active blocks with one key are a validation error; should one get here,
        // the first wins, as the kernel would refuse the second NEW_SERVICE.
        if !keys.insert(service.key) {
            continue;
        }
        let mut ids = HashSet::new();
        let mut destinations = Vec::new();
        for rs in vs.servers.iter().filter(|rs| rs.active) {
            let Some(address) = rs.address else {
                continue;
            };
            let Some(weight) = (weights.of)(vs, rs) else {
                continue;
            };
            let destination = destination_of(global.network, vs, rs, address, weight);
            if ids.insert(destination.id()) {
                destinations.push(DesiredDestination {
                    name: rs.name.clone(),
                    destination,
                });
            }
        }
        if let Some(address) = vs.sorry_server.filter(|_| (weights.sorry)(vs)) {
            // Piranha's lvsd added the sorry server as a real server of weight 1, with
            // the virtual server's port and forwarding.
            let sorry = RealServer::new("sorry_server");
            let destination = destination_of(global.network, vs, &sorry, address, 1);
            if ids.insert(destination.id()) {
                destinations.push(DesiredDestination {
                    name: sorry.name,
                    destination,
                });
            }
        }
        services.push(DesiredService {
            name: vs.name.clone(),
            service,
            destinations,
        });
    }
    services
}

/// A real server's configured weight as the kernel takes it (0 to 2147483647), so the
/// health monitor restores exactly what [`desired_table`] would program.
pub fn configured_weight(rs: &RealServer) -> u32 {
    u32::try_from(rs.weight.clamp(0, i64::from(i32::MAX))).unwrap_or(0)
}

fn seconds(duration: std::time::Duration) -> u32 {
    u32::try_from(duration.as_secs()).unwrap_or(u32::MAX)
}

fn service_of(vs: &VirtualServer) -> Option<Service> {
    let vip = vs.address.as_ref()?.address;
    let key = if vs.fwmark > 0 {
        ServiceKey::Fwmark {
            family: Family::of(vip),
            mark: vs.fwmark,
        }
    } else {
        ServiceKey::Address {
            protocol: match vs.protocol {
                Protocol::Tcp => ServiceProtocol::Tcp,
                Protocol::Udp => ServiceProtocol::Udp,
                Protocol::Sctp => ServiceProtocol::Sctp,
            },
            address: vip,
            port: vs.port,
        }
    };
    let timeout = seconds(vs.persistent);
    let mut flags = 0;
    if timeout > 0 {
        flags |= ServiceFlags::PERSISTENT;
    }
    if vs.one_packet {
        flags |= ServiceFlags::ONE_PACKET;
    }
    // The kernel reads SCHED1/SCHED2 as "fallback"/"port" of whichever of sh and mh runs,
    // so a flag meant for the other scheduler (a validation error) must not be sent.
    for flag in vs
        .scheduler_flags
        .iter()
        .filter(|f| f.scheduler() == vs.scheduler)
    {
        flags |= match flag {
            SchedulerFlag::ShFallback | SchedulerFlag::MhFallback => ServiceFlags::SCHED1,
            SchedulerFlag::ShPort | SchedulerFlag::MhPort => ServiceFlags::SCHED2,
        };
    }
    Some(Service {
        key,
        scheduler: vs.scheduler.as_str().to_string(),
        flags: ServiceFlags(flags),
        timeout,
        netmask: persistence_netmask(vip, vs.pmask),
        pe_name: None,
    })
}

/// ipvsadm's defaults when `-M` is absent: a full IPv4 mask, or prefix 128. Piranha's
/// "255.255.255.255 means none" is the same value.
fn persistence_netmask(vip: IpAddr, pmask: Option<Netmask>) -> u32 {
    match (vip, pmask) {
        (IpAddr::V4(_), None) => u32::MAX,
        (IpAddr::V4(_), Some(Netmask::Dotted(mask))) => u32::from(mask),
        (IpAddr::V4(_), Some(Netmask::Prefix(len))) => match len.min(32) {
            0 => 0,
            len => u32::MAX << (32 - u32::from(len)),
        },
        (IpAddr::V6(_), None) => 128,
        (IpAddr::V6(_), Some(mask)) => u32::from(mask.prefix_len().min(128)),
    }
}

fn destination_of(
    network: Forwarding,
    vs: &VirtualServer,
    rs: &RealServer,
    address: IpAddr,
    weight: u32,
) -> Destination {
    let forwarding = rs.forwarding.or(vs.forwarding).unwrap_or(network);
    let forward = match forwarding {
        Forwarding::Nat => ForwardMethod::Masquerade,
        Forwarding::Direct => ForwardMethod::Route,
        Forwarding::Tunnel => ForwardMethod::Tunnel,
    };
    // Tunnel settings mean nothing to other methods; sending the defaults keeps the
    // programmed table equal to what any kernel reports back for them.
    let tunnel = if forward == ForwardMethod::Tunnel {
        Tunnel {
            kind: match rs.tunnel_type.or(vs.tunnel_type) {
                None | Some(TunnelType::Ipip) => TunnelKind::Ipip,
                Some(TunnelType::Gue) => TunnelKind::Gue,
                Some(TunnelType::Gre) => TunnelKind::Gre,
            },
            port: rs.tunnel_port.or(vs.tunnel_port).unwrap_or(0),
            flags: match rs.tunnel_csum.or(vs.tunnel_csum) {
                None | Some(TunnelChecksum::Nocsum) => Tunnel::NOCSUM,
                Some(TunnelChecksum::Csum) => Tunnel::CSUM,
                Some(TunnelChecksum::Remcsum) => Tunnel::REMCSUM,
            },
        }
    } else {
        Tunnel::default()
    };
    Destination {
        address,
        port: rs.port.unwrap_or(vs.port),
        forward,
        weight: weight.min(i32::MAX as u32),
        upper_threshold: rs.upper_threshold,
        lower_threshold: rs.lower_threshold,
        tunnel,
    }
}

/// The fewest operations that turn the kernel's table (`current`, a dump) into the
/// desired one, so a reload or a daemon restart never breaks a connection it does not
/// have to: a service whose key stays is changed in place with SET_SERVICE, never
/// deleted and added again.
///
/// The order is fixed (every DEL_SERVICE first, then per desired service in its order:
/// NEW or SET_SERVICE, then DEL, SET and NEW_DEST), so a dry run and the daemon print
/// the same plan, and a key freed by a deleted service is free before it is reused.
pub fn diff(desired: &DesiredTable, current: &[ServiceState]) -> Vec<Operation> {
    let mut kernel: HashMap<ServiceKey, &ServiceState> = HashMap::new();
    for state in current {
        kernel.entry(state.service.key).or_insert(state);
    }
    let mut wanted = HashSet::new();
    let services: Vec<&DesiredService> = desired
        .services
        .iter()
        .filter(|s| wanted.insert(s.service.key))
        .collect();

    let mut ops = Vec::new();
    let mut deleted = HashSet::new();
    for state in current {
        let key = state.service.key;
        if !wanted.contains(&key) && deleted.insert(key) {
            // DEL_SERVICE takes the destinations with it.
            ops.push(Operation::DelService(key));
        }
    }
    for desired_service in services {
        let service = &desired_service.service;
        let mut seen = HashSet::new();
        let destinations: Vec<&Destination> = desired_service
            .destinations
            .iter()
            .map(|d| &d.destination)
            .filter(|d| seen.insert(d.id()))
            .collect();
        match kernel.get(&service.key) {
            None => {
                ops.push(Operation::NewService(service.clone()));
                ops.extend(
                    destinations
                        .into_iter()
                        .map(|d| Operation::NewDestination(service.key, d.clone())),
                );
            }
            Some(state) => {
                if !service.same_settings(&state.service) {
                    ops.push(Operation::SetService(service.clone()));
                }
                diff_destinations(service.key, &destinations, &state.destinations, &mut ops);
            }
        }
    }
    ops
}

fn diff_destinations(
    key: ServiceKey,
    desired: &[&Destination],
    current: &[DestinationState],
    ops: &mut Vec<Operation>,
) {
    let mut kernel: HashMap<(IpAddr, u16), &Destination> = HashMap::new();
    for state in current {
        kernel
            .entry(state.destination.id())
            .or_insert(&state.destination);
    }
    let ids: HashSet<(IpAddr, u16)> = desired.iter().map(|d| d.id()).collect();
    let mut deleted = HashSet::new();
    for state in current {
        let (address, port) = state.destination.id();
        if !ids.contains(&(address, port)) && deleted.insert((address, port)) {
            ops.push(Operation::DelDestination(key, address, port));
        }
    }
    let mut added = Vec::new();
    for destination in desired {
        match kernel.get(&destination.id()) {
            Some(programmed) if !same_destination(destination, programmed) => {
                ops.push(Operation::SetDestination(key, (*destination).clone()));
            }
            Some(_) => {}
            None => added.push(Operation::NewDestination(key, (*destination).clone())),
        }
    }
    ops.extend(added);
}

/// Tunnel fields count only when tunnelling: the kernel may report anything for them
/// otherwise, and a SET_DEST for that would be sent on every pass.
fn same_destination(desired: &Destination, programmed: &Destination) -> bool {
    desired.forward == programmed.forward
        && desired.weight == programmed.weight
        && desired.upper_threshold == programmed.upper_threshold
        && desired.lower_threshold == programmed.lower_threshold
        && (desired.forward != ForwardMethod::Tunnel || desired.tunnel == programmed.tunnel)
}

/// A SET_CONFIG only when a timeout the configuration sets differs from the kernel's,
/// so the daemon does not rewrite the kernel's timeouts on every pass. Values that are
/// 0 in the configuration or already right are sent as 0, which the kernel leaves alone.
pub fn diff_timeouts(desired: Timeouts, current: Timeouts) -> Option<Operation> {
    let change = |want: u32, have: u32| if want != 0 && want != have { want } else { 0 };
    let set = Timeouts {
        tcp: change(desired.tcp, current.tcp),
        tcp_fin: change(desired.tcp_fin, current.tcp_fin),
        udp: change(desired.udp, current.udp),
    };
    (set != Timeouts::default()).then_some(Operation::SetTimeouts(set))
}

/// The sync daemons to stop and start so the kernel runs the desired ones (master on the
/// active node, backup on the inactive one). The kernel has no SET for a daemon, so one
/// whose interface or id changed is stopped and started again; one that already matches
/// is left running, since a restart loses the connection updates in flight.
///
/// Optional settings match anything when the configuration leaves them to the kernel,
/// and when the kernel does not report them (older kernels): restarting over a value
/// nobody can compare would restart the daemon on every pass.
pub fn diff_sync_daemons(desired: &[SyncDaemon], current: &[SyncDaemon]) -> Vec<Operation> {
    let mut wanted: Vec<&SyncDaemon> = Vec::new();
    for daemon in desired {
        if !wanted.iter().any(|d| d.state == daemon.state) {
            wanted.push(daemon);
        }
    }
    let running = |state: SyncState| current.iter().find(|d| d.state == state);

    let mut stops = Vec::new();
    let mut stopped = Vec::new();
    for daemon in current {
        if stopped.contains(&daemon.state) {
            continue;
        }
        let keep = wanted
            .iter()
            .find(|d| d.state == daemon.state)
            .is_some_and(|want| same_daemon(want, daemon));
        if !keep {
            stopped.push(daemon.state);
            stops.push(Operation::DelSyncDaemon(daemon.state));
        }
    }
    let starts = wanted
        .into_iter()
        .filter(|want| running(want.state).is_none() || stopped.contains(&want.state))
        .map(|want| Operation::NewSyncDaemon(want.clone()));
    stops.into_iter().chain(starts).collect()
}

fn same_daemon(want: &SyncDaemon, have: &SyncDaemon) -> bool {
    fn loose<T: PartialEq>(want: Option<T>, have: Option<T>) -> bool {
        match (want, have) {
            (Some(want), Some(have)) => want == have,
            _ => true,
        }
    }
    // The kernel keeps the low 8 bits of the id (Piranha's `syncd_id & 0xff`).
    want.interface == have.interface
        && want.sync_id & 0xff == have.sync_id & 0xff
        && loose(want.max_len, have.max_len)
        && loose(want.group, have.group)
        && loose(want.port, have.port)
        && loose(want.ttl, have.ttl)
}

/// Applies one operation to a table held in memory as the kernel would apply it, and
/// refuses what the kernel refuses: a dry run keeps the table it would have programmed
/// (so `shoal status` shows it and the next reload plans against it), and tests check
/// that a plan is executable.
pub fn apply_to_model(kernel: &mut Vec<ServiceState>, op: &Operation) -> Result<(), String> {
    let find = |kernel: &Vec<ServiceState>, key: &ServiceKey| {
        kernel.iter().position(|s| s.service.key == *key)
    };
    match op {
        Operation::NewService(service) => {
            if find(kernel, &service.key).is_some() {
                return Err(format!("EEXIST: {op}"));
            }
            kernel.push(ServiceState {
                service: Service {
                    flags: ServiceFlags(service.flags.comparable().0 | ServiceFlags::HASHED),
                    ..service.clone()
                },
                stats: Stats::default(),
                destinations: Vec::new(),
            });
        }
        Operation::SetService(service) => {
            let i = find(kernel, &service.key).ok_or(format!("ESRCH: {op}"))?;
            kernel[i].service = Service {
                flags: ServiceFlags(service.flags.comparable().0 | ServiceFlags::HASHED),
                ..service.clone()
            };
        }
        Operation::DelService(key) => {
            let i = find(kernel, key).ok_or(format!("ESRCH: {op}"))?;
            kernel.remove(i);
        }
        Operation::NewDestination(key, d) => {
            let i = find(kernel, key).ok_or(format!("ESRCH: {op}"))?;
            let dests = &mut kernel[i].destinations;
            if dests.iter().any(|s| s.destination.id() == d.id()) {
                return Err(format!("EEXIST: {op}"));
            }
            dests.push(DestinationState {
                destination: d.clone(),
                active_connections: 0,
                inactive_connections: 0,
                persistent_connections: 0,
                stats: Stats::default(),
            });
        }
        Operation::SetDestination(key, d) => {
            let i = find(kernel, key).ok_or(format!("ESRCH: {op}"))?;
            let state = kernel[i]
                .destinations
                .iter_mut()
                .find(|s| s.destination.id() == d.id())
                .ok_or(format!("ENOENT: {op}"))?;
            state.destination = d.clone();
        }
        Operation::DelDestination(key, address, port) => {
            let i = find(kernel, key).ok_or(format!("ESRCH: {op}"))?;
            let dests = &mut kernel[i].destinations;
            let j = dests
                .iter()
                .position(|s| s.destination.id() == (*address, *port))
                .ok_or(format!("ENOENT: {op}"))?;
            dests.remove(j);
        }
        other => return Err(format!("not a table operation: {other}")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse::parse;
    use crate::config::resolve::StaticResolver;

    use proptest::prelude::*;
    use proptest::sample::select;

    fn config(text: &str) -> Config {
        let parsed = parse(text.as_bytes(), &StaticResolver::default());
        assert!(!parsed.has_errors(), "{:?}", parsed.diagnostics);
        parsed.config
    }

    fn table(text: &str) -> DesiredTable {
        desired_table(&config(text))
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    fn tcp(address: &str, port: u16) -> ServiceKey {
        ServiceKey::Address {
            protocol: ServiceProtocol::Tcp,
            address: ip(address),
            port,
        }
    }

    fn dest(address: &str, port: u16, forward: ForwardMethod, weight: u32) -> Destination {
        Destination {
            address: ip(address),
            port,
            forward,
            weight,
            upper_threshold: 0,
            lower_threshold: 0,
            tunnel: Tunnel::default(),
        }
    }

    /// The kernel table a desired table programs, as a dump shows it (HASHED set).
    fn kernel_of(table: &DesiredTable) -> Vec<ServiceState> {
        table
            .services
            .iter()
            .map(|s| ServiceState {
                service: Service {
                    flags: ServiceFlags(s.service.flags.0 | ServiceFlags::HASHED),
                    ..s.service.clone()
                },
                stats: Stats::default(),
                destinations: s
                    .destinations
                    .iter()
                    .map(|d| DestinationState::programmed(d.destination.clone()))
                    .collect(),
            })
            .collect()
    }

    fn apply_all(kernel: &mut Vec<ServiceState>, ops: &[Operation]) {
        for op in ops {
            apply_to_model(kernel, op).expect("the kernel accepts the operation");
        }
    }

    /// A table as a comparable set: flags without HASHED, destinations by id, tunnel
    /// fields only where they mean something.
    fn normalized(
        services: impl IntoIterator<Item = (Service, Vec<Destination>)>,
    ) -> HashMap<ServiceKey, (Service, Vec<Destination>)> {
        services
            .into_iter()
            .map(|(mut service, mut dests)| {
                service.flags = service.flags.comparable();
                for d in &mut dests {
                    if d.forward != ForwardMethod::Tunnel {
                        d.tunnel = Tunnel::default();
                    }
                }
                dests.sort_by_key(|d| d.id());
                (service.key, (service, dests))
            })
            .collect()
    }

    fn normalized_kernel(
        kernel: &[ServiceState],
    ) -> HashMap<ServiceKey, (Service, Vec<Destination>)> {
        normalized(kernel.iter().map(|s| {
            (
                s.service.clone(),
                s.destinations
                    .iter()
                    .map(|d| d.destination.clone())
                    .collect(),
            )
        }))
    }

    fn normalized_table(table: &DesiredTable) -> HashMap<ServiceKey, (Service, Vec<Destination>)> {
        normalized(table.services.iter().map(|s| {
            (
                s.service.clone(),
                s.destinations
                    .iter()
                    .map(|d| d.destination.clone())
                    .collect(),
            )
        }))
    }

    // ---------------------------------------------------------------------------
    // Mapping
    // ---------------------------------------------------------------------------

    const NAT: &str = "\
primary = 192.0.2.1
service = lvs
network = nat
tcp_timeout = 900
tcpfin_timeout = 0
udp_timeout = 300
virtual web {
    active = 1
    address = 192.0.2.10 eth0:1
    protocol = tcp
    port = 80
    scheduler = wlc
    server one {
        address = 10.0.0.1
        active = 1
        weight = 3
    }
    server two {
        address = 10.0.0.2
        active = 1
        port = 8080
    }
}
";

    #[test]
    fn nat_service_maps_like_lvsd() {
        let t = table(NAT);
        assert_eq!(
            t.timeouts,
            Timeouts {
                tcp: 900,
                tcp_fin: 0,
                udp: 300
            }
        );
        assert_eq!(t.services.len(), 1);
        let s = &t.services[0];
        assert_eq!(s.name, "web");
        assert_eq!(
            s.service,
            Service {
                key: tcp("192.0.2.10", 80),
                scheduler: "wlc".into(),
                flags: ServiceFlags(0),
                timeout: 0,
                netmask: 0xffff_ffff,
                pe_name: None,
            }
        );
        let names: Vec<&str> = s.destinations.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["one", "two"]);
        assert_eq!(
            s.destinations[0].destination,
            dest("10.0.0.1", 80, ForwardMethod::Masquerade, 3)
        );
        // Port mapping: the server's own port, else the virtual server's.
        assert_eq!(
            s.destinations[1].destination,
            dest("10.0.0.2", 8080, ForwardMethod::Masquerade, 1)
        );
    }

    #[test]
    fn direct_routing_from_global_network_and_overrides() {
        let t = table(
            "network = direct\n\
             virtual v {\n active = 1\n address = 192.0.2.10 eth0:1\n protocol = udp\n port = 53\n scheduler = rr\n\
             server a {\n  address = 10.0.0.1\n  active = 1\n }\n\
             server b {\n  address = 10.0.0.2\n  active = 1\n  forwarding = nat\n }\n}\n\
             virtual w {\n active = 1\n address = 192.0.2.11 eth0:2\n forwarding = nat\n\
             server c {\n  address = 10.0.0.3\n  active = 1\n }\n}\n",
        );
        let v = &t.services[0];
        assert_eq!(
            v.service.key,
            ServiceKey::Address {
                protocol: ServiceProtocol::Udp,
                address: ip("192.0.2.10"),
                port: 53
            }
        );
        assert_eq!(v.service.scheduler, "rr");
        assert_eq!(v.destinations[0].destination.forward, ForwardMethod::Route);
        assert_eq!(v.destinations[0].destination.port, 53);
        assert_eq!(
            v.destinations[1].destination.forward,
            ForwardMethod::Masquerade
        );
        assert_eq!(
            t.services[1].destinations[0].destination.forward,
            ForwardMethod::Masquerade
        );
    }

    #[test]
    fn tunnel_settings_come_from_the_server_else_the_virtual_server() {
        let t = table(
            "network = tunnel\n\
             virtual v {\n active = 1\n address = 192.0.2.10 eth0:1\n tunnel_type = gue\n tunnel_port = 6080\n tunnel_csum = csum\n\
             server a {\n  address = 10.0.0.1\n  active = 1\n }\n\
             server b {\n  address = 10.0.0.2\n  active = 1\n  tunnel_type = gre\n  tunnel_csum = remcsum\n }\n\
             server c {\n  address = 10.0.0.3\n  active = 1\n  forwarding = direct\n }\n}\n\
             virtual w {\n active = 1\n address = 192.0.2.11 eth0:2\n\
             server d {\n  address = 10.0.0.4\n  active = 1\n }\n}\n",
        );
        let d: Vec<&Destination> = t.services[0]
            .destinations
            .iter()
            .map(|d| &d.destination)
            .collect();
        assert_eq!(d[0].forward, ForwardMethod::Tunnel);
        assert_eq!(
            d[0].tunnel,
            Tunnel {
                kind: TunnelKind::Gue,
                port: 6080,
                flags: Tunnel::CSUM
            }
        );
        assert_eq!(
            d[1].tunnel,
            Tunnel {
                kind: TunnelKind::Gre,
                port: 6080,
                flags: Tunnel::REMCSUM
            }
        );
        assert_eq!(d[2].forward, ForwardMethod::Route);
        assert_eq!(d[2].tunnel, Tunnel::default());
        // Defaults: ipip, port 0, no checksum.
        let w = &t.services[1].destinations[0].destination;
        assert_eq!(w.forward, ForwardMethod::Tunnel);
        assert_eq!(
            w.tunnel,
            Tunnel {
                kind: TunnelKind::Ipip,
                port: 0,
                flags: Tunnel::NOCSUM
            }
        );
    }

    #[test]
    fn fwmark_services_are_keyed_by_mark_and_family() {
        let t = table(
            "virtual m {\n active = 1\n address = 192.0.2.10 eth0:1\n fwmark = 21\n persistent = 300\n\
             server a {\n  address = 10.0.0.1\n  active = 1\n }\n}\n\
             virtual m6 {\n active = 1\n address = 2001:db8::10 eth0\n fwmark = 21\n persistent = 300\n\
             server a {\n  address = 2001:db8::100\n  active = 1\n }\n}\n",
        );
        assert_eq!(
            t.services[0].service.key,
            ServiceKey::Fwmark {
                family: Family::Inet,
                mark: 21
            }
        );
        assert_eq!(t.services[0].service.netmask, 0xffff_ffff);
        assert_eq!(t.services[0].destinations[0].destination.port, 80);
        assert_eq!(
            t.services[1].service.key,
            ServiceKey::Fwmark {
                family: Family::Inet6,
                mark: 21
            }
        );
        assert_eq!(t.services[1].service.netmask, 128);
    }

    #[test]
    fn ipv6_virtual_server_with_ipv6_real_servers() {
        let t = table(
            "virtual v6 {\n active = 1\n address = 2001:db8::10 eth0\n port = 443\n pmask = 64\n persistent = 60\n\
             server a {\n  address = 2001:db8::100\n  active = 1\n  weight = 5\n }\n\
             server b {\n  address = 2001:db8::101\n  active = 1\n  port = 8443\n }\n}\n",
        );
        let s = &t.services[0];
        assert_eq!(s.service.key, tcp("2001:db8::10", 443));
        assert_eq!(s.service.key.family(), Family::Inet6);
        assert_eq!(s.service.netmask, 64);
        assert_eq!(s.service.timeout, 60);
        assert!(s.service.flags.has(ServiceFlags::PERSISTENT));
        assert_eq!(
            s.destinations[0].destination,
            dest("2001:db8::100", 443, ForwardMethod::Masquerade, 5)
        );
        assert_eq!(s.destinations[1].destination.port, 8443);

        let none = table("virtual v6 {\n active = 1\n address = 2001:db8::10 eth0\n}\n");
        assert_eq!(none.services[0].service.netmask, 128);
    }

    #[test]
    fn persistence_and_pmask() {
        let t = table(
            "virtual a {\n active = 1\n address = 192.0.2.10 eth0:1\n persistent = 300\n pmask = 255.255.255.0\n}\n\
             virtual b {\n active = 1\n address = 192.0.2.11 eth0:1\n persistent = 300\n pmask = 255.255.255.255\n}\n\
             virtual c {\n active = 1\n address = 192.0.2.12 eth0:1\n persistent = 300\n pmask = 16\n}\n\
             virtual d {\n active = 1\n address = 192.0.2.13 eth0:1\n}\n",
        );
        let s: Vec<&Service> = t.services.iter().map(|s| &s.service).collect();
        assert_eq!(s[0].flags, ServiceFlags(ServiceFlags::PERSISTENT));
        assert_eq!(s[0].timeout, 300);
        assert_eq!(s[0].netmask, 0xffff_ff00);
        assert_eq!(s[1].netmask, 0xffff_ffff);
        assert_eq!(s[2].netmask, 0xffff_0000);
        assert_eq!(s[3].flags, ServiceFlags(0));
        assert_eq!(s[3].timeout, 0);
        assert_eq!(s[3].netmask, 0xffff_ffff);
    }

    #[test]
    fn one_packet_and_scheduler_flags() {
        let t = table(
            "virtual a {\n active = 1\n address = 192.0.2.10 eth0:1\n protocol = udp\n one_packet = 1\n}\n\
             virtual b {\n active = 1\n address = 192.0.2.11 eth0:1\n scheduler = sh\n scheduler_flags = sh-fallback sh-port\n}\n\
             virtual c {\n active = 1\n address = 192.0.2.12 eth0:1\n scheduler = mh\n scheduler_flags = mh-port\n}\n\
             virtual d {\n active = 1\n address = 192.0.2.13 eth0:1\n scheduler = mh\n scheduler_flags = mh-fallback\n}\n",
        );
        let flags: Vec<ServiceFlags> = t.services.iter().map(|s| s.service.flags).collect();
        assert_eq!(
            flags,
            [
                ServiceFlags(ServiceFlags::ONE_PACKET),
                ServiceFlags(ServiceFlags::SCHED1 | ServiceFlags::SCHED2),
                ServiceFlags(ServiceFlags::SCHED2),
                ServiceFlags(ServiceFlags::SCHED1),
            ]
        );
        assert_eq!(t.services[1].service.scheduler, "sh");
        assert_eq!(t.services[2].service.scheduler, "mh");
    }

    #[test]
    fn inactive_and_addressless_servers_are_skipped() {
        let t = table(
            "virtual off {\n active = 0\n address = 192.0.2.10 eth0:1\n\
             server a {\n  address = 10.0.0.1\n  active = 1\n }\n}\n\
             virtual noaddr {\n active = 1\n}\n\
             virtual on {\n active = 1\n address = 192.0.2.11 eth0:1\n\
             server a {\n  address = 10.0.0.1\n  active = 0\n }\n\
             server b {\n  active = 1\n }\n\
             server c {\n  address = 10.0.0.3\n  active = 1\n  weight = 0\n }\n}\n\
             failover f {\n active = 1\n address = 192.0.2.12 eth0:1\n}\n",
        );
        assert_eq!(t.services.len(), 1);
        assert_eq!(t.services[0].name, "on");
        assert_eq!(t.services[0].destinations.len(), 1);
        assert_eq!(t.services[0].destinations[0].name, "c");
        assert_eq!(t.services[0].destinations[0].destination.weight, 0);
    }

    #[test]
    fn fos_clusters_want_nothing() {
        let t = table(&format!("service = fos\n{NAT}").replace("service = lvs\n", ""));
        assert_eq!(t, DesiredTable::default());
    }

    #[test]
    fn weights_are_clamped_to_what_the_kernel_takes() {
        let mut rs = RealServer::new("a");
        rs.weight = -4;
        assert_eq!(configured_weight(&rs), 0);
        rs.weight = i64::MAX;
        assert_eq!(configured_weight(&rs), i32::MAX as u32);
        rs.weight = 7;
        assert_eq!(configured_weight(&rs), 7);
    }

    #[test]
    fn the_health_monitor_decides_membership_and_weight() {
        let c = config(NAT);
        let of = |vs: &VirtualServer, rs: &RealServer| {
            assert_eq!(vs.name, "web");
            (rs.name == "two").then_some(u32::MAX)
        };
        let t = desired_table_with(
            &c,
            &Weights {
                of: &of,
                sorry: &|_| false,
            },
        );
        let d = &t.services[0].destinations;
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].name, "two");
        assert_eq!(d[0].destination.weight, i32::MAX as u32);
    }

    #[test]
    fn the_sorry_server_is_a_weight_1_destination_while_the_monitor_wants_it() {
        let mut c = config(NAT);
        c.virtual_servers[0].sorry_server = Some("198.51.100.99".parse().unwrap());
        let none = |_: &VirtualServer, _: &RealServer| None;
        let t = desired_table_with(
            &c,
            &Weights {
                of: &none,
                sorry: &|_| true,
            },
        );
        let d = &t.services[0].destinations;
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].name, "sorry_server");
        assert_eq!(d[0].destination.weight, 1);
        assert_eq!(
            d[0].destination.address,
            "198.51.100.99".parse::<std::net::IpAddr>().unwrap()
        );
        let t = desired_table_with(
            &c,
            &Weights {
                of: &none,
                sorry: &|_| false,
            },
        );
        assert!(t.services[0].destinations.is_empty());
    }

    // ---------------------------------------------------------------------------
    // Diff
    // ---------------------------------------------------------------------------

    const TWO: &str = "\
virtual web {
    active = 1
    address = 192.0.2.10 eth0:1
    server a {
        address = 10.0.0.1
        active = 1
    }
    server b {
        address = 10.0.0.2
        active = 1
    }
}
virtual dns {
    active = 1
    address = 192.0.2.10 eth0:1
    protocol = udp
    port = 53
    server a {
        address = 10.0.0.1
        active = 1
    }
}
";

    /// Diff from the kernel that `before` programmed to `after`, checked against the model.
    fn change(before: &str, after: &str) -> Vec<Operation> {
        let mut kernel = kernel_of(&table(before));
        let wanted = table(after);
        let ops = diff(&wanted, &kernel);
        apply_all(&mut kernel, &ops);
        assert_eq!(normalized_kernel(&kernel), normalized_table(&wanted));
        assert_eq!(diff(&wanted, &kernel), []);
        ops
    }

    #[test]
    fn empty_kernel_gets_the_whole_table_in_order() {
        let t = table(TWO);
        let web = t.services[0].service.clone();
        let dns = t.services[1].service.clone();
        assert_eq!(
            diff(&t, &[]),
            [
                Operation::NewService(web.clone()),
                Operation::NewDestination(
                    web.key,
                    dest("10.0.0.1", 80, ForwardMethod::Masquerade, 1)
                ),
                Operation::NewDestination(
                    web.key,
                    dest("10.0.0.2", 80, ForwardMethod::Masquerade, 1)
                ),
                Operation::NewService(dns.clone()),
                Operation::NewDestination(
                    dns.key,
                    dest("10.0.0.1", 53, ForwardMethod::Masquerade, 1)
                ),
            ]
        );
    }

    #[test]
    fn identical_tables_need_nothing() {
        let t = table(TWO);
        assert_eq!(diff(&t, &kernel_of(&t)), []);
    }

    #[test]
    fn hashed_flag_in_the_kernel_is_ignored() {
        let t = table(TWO);
        let kernel = kernel_of(&t);
        assert!(kernel[0].service.flags.has(ServiceFlags::HASHED));
        assert_eq!(diff(&t, &kernel), []);
    }

    #[test]
    fn service_setting_changes_are_one_set_service() {
        for (edit, what) in [
            ("    server a {", "    scheduler = rr\n    server a {"),
            ("    server a {", "    persistent = 60\n    server a {"),
            (
                "    server a {",
                "    persistent = 0\n    pmask = 255.255.0.0\n    server a {",
            ),
        ] {
            let after = TWO.replacen(edit, what, 1);
            let ops = change(TWO, &after);
            let wanted = table(&after).services[0].service.clone();
            assert_eq!(ops, [Operation::SetService(wanted)], "{what}");
        }
    }

    #[test]
    fn weight_change_is_one_set_destination() {
        let after = TWO.replacen(
            "address = 10.0.0.2\n        active = 1",
            "address = 10.0.0.2\n        active = 1\n        weight = 9",
            1,
        );
        let ops = change(TWO, &after);
        assert_eq!(
            ops,
            [Operation::SetDestination(
                tcp("192.0.2.10", 80),
                dest("10.0.0.2", 80, ForwardMethod::Masquerade, 9)
            )]
        );
    }

    #[test]
    fn adding_and_removing_real_servers() {
        let without_b = TWO.replacen(
            "address = 10.0.0.2\n        active = 1",
            "address = 10.0.0.2\n        active = 0",
            1,
        );
        let key = tcp("192.0.2.10", 80);
        assert_eq!(
            change(TWO, &without_b),
            [Operation::DelDestination(key, ip("10.0.0.2"), 80)]
        );
        assert_eq!(
            change(&without_b, TWO),
            [Operation::NewDestination(
                key,
                dest("10.0.0.2", 80, ForwardMethod::Masquerade, 1)
            )]
        );
    }

    #[test]
    fn adding_and_removing_virtual_servers() {
        let without_dns = TWO.replacen(
            "    protocol = udp",
            "    protocol = udp\n    active = 0",
            1,
        );
        let dns = table(TWO).services[1].clone();
        assert_eq!(
            change(TWO, &without_dns),
            [Operation::DelService(dns.service.key)]
        );
        assert_eq!(
            change(&without_dns, TWO),
            [
                Operation::NewService(dns.service.clone()),
                Operation::NewDestination(dns.service.key, dns.destinations[0].destination.clone()),
            ]
        );
    }

    #[test]
    fn key_change_replaces_the_service() {
        let after = TWO.replacen("    server a {", "    port = 8000\n    server a {", 1);
        let ops = change(TWO, &after);
        let new = table(&after).services[0].service.clone();
        assert_eq!(
            ops,
            [
                Operation::DelService(tcp("192.0.2.10", 80)),
                Operation::NewService(new.clone()),
                Operation::NewDestination(
                    new.key,
                    dest("10.0.0.1", 8000, ForwardMethod::Masquerade, 1)
                ),
                Operation::NewDestination(
                    new.key,
                    dest("10.0.0.2", 8000, ForwardMethod::Masquerade, 1)
                ),
            ]
        );
    }

    #[test]
    fn kernel_services_not_in_the_configuration_are_removed() {
        let t = table(TWO);
        let mut kernel = kernel_of(&t);
        let mut stray = kernel[0].clone();
        stray.service.key = tcp("203.0.113.1", 25);
        kernel.insert(0, stray);
        assert_eq!(
            diff(&t, &kernel),
            [Operation::DelService(tcp("203.0.113.1", 25))]
        );
        assert_eq!(
            diff(&DesiredTable::default(), &kernel),
            [
                Operation::DelService(tcp("203.0.113.1", 25)),
                Operation::DelService(tcp("192.0.2.10", 80)),
                Operation::DelService(t.services[1].service.key),
            ]
        );
    }

    #[test]
    fn destination_operations_are_ordered_del_set_new() {
        let key = tcp("192.0.2.10", 80);
        let mut wanted = table(TWO);
        let kernel = kernel_of(&wanted);
        wanted.services[0].service.scheduler = "rr".into();
        wanted.services[0].destinations = vec![
            DesiredDestination {
                name: "c".into(),
                destination: dest("10.0.0.3", 80, ForwardMethod::Masquerade, 1),
            },
            DesiredDestination {
                name: "b".into(),
                destination: dest("10.0.0.2", 80, ForwardMethod::Route, 1),
            },
        ];
        let mut extra = kernel_of(&table(TWO));
        extra.truncate(1);
        extra[0].service.key = tcp("203.0.113.1", 80);
        let current: Vec<ServiceState> = kernel.into_iter().chain(extra).collect();
        assert_eq!(
            diff(&wanted, &current),
            [
                Operation::DelService(tcp("203.0.113.1", 80)),
                Operation::SetService(wanted.services[0].service.clone()),
                Operation::DelDestination(key, ip("10.0.0.1"), 80),
                Operation::SetDestination(key, dest("10.0.0.2", 80, ForwardMethod::Route, 1)),
                Operation::NewDestination(key, dest("10.0.0.3", 80, ForwardMethod::Masquerade, 1)),
            ]
        );
    }

    #[test]
    fn tunnel_fields_count_only_when_tunnelling() {
        let t = table(TWO);
        let mut kernel = kernel_of(&t);
        kernel[0].destinations[0].destination.tunnel = Tunnel {
            kind: TunnelKind::Gue,
            port: 1,
            flags: Tunnel::CSUM,
        };
        assert_eq!(diff(&t, &kernel), []);

        let tunnelled =
            table(&TWO.replace("virtual web {", "virtual web {\n    forwarding = tunnel"));
        let mut kernel = kernel_of(&tunnelled);
        kernel[0].destinations[0].destination.tunnel.port = 5555;
        let ops = diff(&tunnelled, &kernel);
        assert_eq!(
            ops,
            [Operation::SetDestination(
                tcp("192.0.2.10", 80),
                tunnelled.services[0].destinations[0].destination.clone()
            )]
        );
    }

    #[test]
    fn duplicate_desired_keys_are_programmed_once() {
        let mut t = table(TWO);
        let mut twin = t.services[0].clone();
        twin.service.scheduler = "rr".into();
        twin.destinations[0].destination.weight = 7;
        t.services.push(twin);
        let first = t.services[0].destinations[0].clone();
        t.services[0].destinations.push(first);
        let ops = diff(&t, &[]);
        assert_eq!(ops.len(), 5, "{ops:?}");
        let mut kernel = Vec::new();
        apply_all(&mut kernel, &ops);
        assert_eq!(diff(&t, &kernel), []);
    }

    // ---------------------------------------------------------------------------
    // Timeouts and sync daemons
    // ---------------------------------------------------------------------------

    fn timeouts(tcp: u32, tcp_fin: u32, udp: u32) -> Timeouts {
        Timeouts { tcp, tcp_fin, udp }
    }

    #[test]
    fn timeouts_are_set_only_when_a_configured_one_differs() {
        assert_eq!(
            diff_timeouts(timeouts(0, 0, 0), timeouts(900, 120, 300)),
            None
        );
        assert_eq!(
            diff_timeouts(timeouts(900, 0, 300), timeouts(900, 120, 300)),
            None
        );
        assert_eq!(
            diff_timeouts(timeouts(600, 0, 300), timeouts(900, 120, 300)),
            Some(Operation::SetTimeouts(timeouts(600, 0, 0)))
        );
        assert_eq!(
            diff_timeouts(timeouts(600, 60, 30), timeouts(900, 120, 300)),
            Some(Operation::SetTimeouts(timeouts(600, 60, 30)))
        );
    }

    fn daemon(state: SyncState, interface: &str, sync_id: u32) -> SyncDaemon {
        SyncDaemon {
            state,
            interface: interface.into(),
            sync_id,
            max_len: None,
            group: None,
            port: None,
            ttl: None,
        }
    }

    #[test]
    fn sync_daemons_start_stop_and_restart() {
        let master = daemon(SyncState::Master, "eth0", 1);
        let backup = daemon(SyncState::Backup, "eth0", 1);
        assert_eq!(
            diff_sync_daemons(std::slice::from_ref(&master), &[]),
            [Operation::NewSyncDaemon(master.clone())]
        );
        assert_eq!(
            diff_sync_daemons(std::slice::from_ref(&master), std::slice::from_ref(&master)),
            []
        );
        // Role change: the backup goes, the master comes.
        assert_eq!(
            diff_sync_daemons(std::slice::from_ref(&master), std::slice::from_ref(&backup)),
            [
                Operation::DelSyncDaemon(SyncState::Backup),
                Operation::NewSyncDaemon(master.clone())
            ]
        );
        assert_eq!(
            diff_sync_daemons(&[], &[master.clone(), backup.clone()]),
            [
                Operation::DelSyncDaemon(SyncState::Master),
                Operation::DelSyncDaemon(SyncState::Backup)
            ]
        );
        // Interface or id changed: no SET in the kernel, so stop and start.
        for changed in [
            daemon(SyncState::Master, "eth1", 1),
            daemon(SyncState::Master, "eth0", 2),
        ] {
            assert_eq!(
                diff_sync_daemons(
                    std::slice::from_ref(&changed),
                    std::slice::from_ref(&master)
                ),
                [
                    Operation::DelSyncDaemon(SyncState::Master),
                    Operation::NewSyncDaemon(changed.clone())
                ]
            );
        }
    }

    #[test]
    fn sync_daemon_settings_left_to_the_kernel_match_anything() {
        let want = daemon(SyncState::Master, "eth0", 1);
        let have = SyncDaemon {
            max_len: Some(1472),
            group: Some(ip("224.0.0.81")),
            port: Some(8848),
            ttl: Some(1),
            sync_id: 0x101,
            ..want.clone()
        };
        assert_eq!(
            diff_sync_daemons(std::slice::from_ref(&want), std::slice::from_ref(&have)),
            []
        );
        let pinned = SyncDaemon {
            port: Some(9000),
            ..want.clone()
        };
        assert_eq!(
            diff_sync_daemons(std::slice::from_ref(&pinned), std::slice::from_ref(&have)),
            [
                Operation::DelSyncDaemon(SyncState::Master),
                Operation::NewSyncDaemon(pinned.clone())
            ]
        );
    }

    // ---------------------------------------------------------------------------
    // Property: diff drives any table to any other through the kernel's rules
    // ---------------------------------------------------------------------------

    fn key_strategy() -> impl Strategy<Value = ServiceKey> {
        let address = (
            select(&[ServiceProtocol::Tcp, ServiceProtocol::Udp][..]),
            select(&["192.0.2.10", "192.0.2.11", "2001:db8::10"][..]),
            select(&[80u16, 443][..]),
        )
            .prop_map(|(protocol, address, port)| ServiceKey::Address {
                protocol,
                address: ip(address),
                port,
            });
        let mark = (select(&[Family::Inet, Family::Inet6][..]), 1u32..3)
            .prop_map(|(family, mark)| ServiceKey::Fwmark { family, mark });
        prop_oneof![3 => address, 1 => mark]
    }

    fn destination_strategy() -> impl Strategy<Value = Destination> {
        (
            select(&["10.0.0.1", "10.0.0.2", "10.0.0.3", "2001:db8::100"][..]),
            select(&[80u16, 8080][..]),
            select(
                &[
                    ForwardMethod::Masquerade,
                    ForwardMethod::Route,
                    ForwardMethod::Tunnel,
                ][..],
            ),
            0u32..3,
            0u32..2,
            0u32..2,
            select(&[TunnelKind::Ipip, TunnelKind::Gue][..]),
            0u16..2,
            0u16..2,
        )
            .prop_map(
                |(address, port, forward, weight, upper, lower, kind, tport, flags)| Destination {
                    address: ip(address),
                    port,
                    forward,
                    weight,
                    upper_threshold: upper,
                    lower_threshold: lower,
                    tunnel: Tunnel {
                        kind,
                        port: tport,
                        flags,
                    },
                },
            )
    }

    fn service_strategy() -> impl Strategy<Value = DesiredService> {
        (
            key_strategy(),
            select(&["wlc", "rr", "sh"][..]),
            select(&[0u32, ServiceFlags::PERSISTENT, ServiceFlags::SCHED1][..]),
            select(&[0u32, 300][..]),
            select(&[0xffff_ffffu32, 0xffff_ff00][..]),
            proptest::collection::vec(destination_strategy(), 0..=4),
        )
            .prop_map(|(key, scheduler, flags, timeout, netmask, dests)| {
                let mut ids = HashSet::new();
                DesiredService {
                    name: key.to_string(),
                    service: Service {
                        key,
                        scheduler: scheduler.into(),
                        flags: ServiceFlags(flags),
                        timeout,
                        netmask,
                        pe_name: None,
                    },
                    destinations: dests
                        .into_iter()
                        .filter(|d| ids.insert(d.id()))
                        .map(|destination| DesiredDestination {
                            name: destination.address.to_string(),
                            destination,
                        })
                        .collect(),
                }
            })
    }

    fn table_strategy() -> impl Strategy<Value = DesiredTable> {
        proptest::collection::vec(service_strategy(), 0..=5).prop_map(|services| {
            let mut keys = HashSet::new();
            DesiredTable {
                services: services
                    .into_iter()
                    .filter(|s| keys.insert(s.service.key))
                    .collect(),
                timeouts: Timeouts::default(),
            }
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn diff_reaches_the_desired_table(a in table_strategy(), b in table_strategy()) {
            let mut kernel = kernel_of(&a);
            let ops = diff(&b, &kernel);
            for op in &ops {
                if let Err(e) = apply_to_model(&mut kernel, op) {
                    return Err(TestCaseError::fail(format!("{e} in {ops:#?}")));
                }
            }
            prop_assert_eq!(normalized_kernel(&kernel), normalized_table(&b));
            prop_assert_eq!(diff(&b, &kernel), Vec::<Operation>::new());

            let a_keys: HashSet<ServiceKey> = a.services.iter().map(|s| s.service.key).collect();
            let b_keys: HashSet<ServiceKey> = b.services.iter().map(|s| s.service.key).collect();
            for op in &ops {
                if let Operation::DelService(key) = op {
                    prop_assert!(!(a_keys.contains(key) && b_keys.contains(key)), "{} deleted", key);
                }
                if let Operation::NewService(s) = op {
                    prop_assert!(!a_keys.contains(&s.key), "{} added again", s.key);
                }
            }
        }
    }
}
