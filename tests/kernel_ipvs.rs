//! The IPVS client against a real kernel, compared with Debian's real `ipvsadm`.
//!
//! These tests need IPVS, which the build machine's kernel does not have: they are
//! ignored on the host and run inside the lab VM by `scripts/lab-tests.sh`
//! (`--ignored`). Each test works in a fresh network namespace, so each has its own
//! empty IPVS table.

mod lab_support;

use std::collections::BTreeSet;
use std::net::IpAddr;

use lab_support::{in_fresh_netns, run};
use shoal::ipvs::client::{IpvsClient, IpvsError};
use shoal::ipvs::reconcile::{DesiredDestination, DesiredService, DesiredTable, diff};
use shoal::ipvs::types::{
    Destination, Family, ForwardMethod, Operation, Service, ServiceFlags, ServiceKey,
    ServiceProtocol, ServiceState, SyncDaemon, SyncState, Timeouts, Tunnel, TunnelKind,
};

const LAB: &str = "needs the lab kernel: scripts/lab-tests.sh runs it";

fn ip(text: &str) -> IpAddr {
    text.parse().expect("address literal")
}

fn tcp(address: &str, port: u16) -> ServiceKey {
    ServiceKey::Address {
        protocol: ServiceProtocol::Tcp,
        address: ip(address),
        port,
    }
}

fn service(key: ServiceKey, scheduler: &str) -> Service {
    let netmask = match key.family() {
        Family::Inet => u32::MAX,
        Family::Inet6 => 128,
    };
    Service {
        key,
        scheduler: scheduler.into(),
        flags: ServiceFlags(0),
        timeout: 0,
        netmask,
        pe_name: None,
    }
}

fn destination(address: &str, port: u16, forward: ForwardMethod, weight: u32) -> Destination {
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

/// Every scheduler the kernel offers (`twos` is missing before Linux 6.6 or so).
fn kernel_schedulers() -> Vec<&'static str> {
    [
        "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh",
        "twos",
    ]
    .into_iter()
    .filter(|s| {
        std::fs::read_to_string("/proc/modules").is_ok_and(|m| m.contains(&format!("ip_vs_{s} ")))
    })
    .collect()
}

/// A table exercising every kind of service and destination the client programs.
fn rich_table() -> Vec<(Service, Vec<Destination>)> {
    let mut table = Vec::new();
    let mut web = service(tcp("192.0.2.10", 80), "wlc");
    web.flags = ServiceFlags(ServiceFlags::PERSISTENT);
    web.timeout = 300;
    web.netmask = 0xffff_ff00;
    table.push((
        web,
        vec![
            destination("198.51.100.11", 80, ForwardMethod::Masquerade, 2),
            destination("198.51.100.12", 8080, ForwardMethod::Masquerade, 1),
        ],
    ));
    let mut dns = service(
        ServiceKey::Address {
            protocol: ServiceProtocol::Udp,
            address: ip("192.0.2.10"),
            port: 53,
        },
        "rr",
    );
    dns.flags = ServiceFlags(ServiceFlags::ONE_PACKET);
    table.push((
        dns,
        vec![destination("198.51.100.13", 53, ForwardMethod::Route, 1)],
    ));
    let mut sip = service(
        ServiceKey::Address {
            protocol: ServiceProtocol::Sctp,
            address: ip("192.0.2.11"),
            port: 5060,
        },
        "sh",
    );
    sip.flags = ServiceFlags(ServiceFlags::SCHED1 | ServiceFlags::SCHED2);
    let mut gue = destination("198.51.100.14", 5060, ForwardMethod::Tunnel, 3);
    gue.tunnel = Tunnel {
        kind: TunnelKind::Gue,
        port: 6080,
        flags: Tunnel::CSUM,
    };
    let mut gre = destination("198.51.100.15", 5060, ForwardMethod::Tunnel, 1);
    gre.tunnel = Tunnel {
        kind: TunnelKind::Gre,
        port: 0,
        flags: Tunnel::CSUM,
    };
    let ipip = destination("198.51.100.16", 5060, ForwardMethod::Tunnel, 1);
    table.push((sip, vec![gue, gre, ipip]));
    let mut ftp = service(
        ServiceKey::Fwmark {
            family: Family::Inet,
            mark: 21,
        },
        "rr",
    );
    ftp.flags = ServiceFlags(ServiceFlags::PERSISTENT);
    ftp.timeout = 60;
    let mut limited = destination("198.51.100.17", 21, ForwardMethod::Masquerade, 5);
    limited.upper_threshold = 100;
    limited.lower_threshold = 10;
    table.push((ftp, vec![limited]));
    let mut v6 = service(tcp("2001:db8::10", 443), "mh");
    v6.flags = ServiceFlags(ServiceFlags::PERSISTENT | ServiceFlags::SCHED1);
    v6.timeout = 120;
    v6.netmask = 64;
    table.push((
        v6,
        vec![destination("2001:db8:1::11", 443, ForwardMethod::Route, 4)],
    ));
    table.push((
        service(
            ServiceKey::Fwmark {
                family: Family::Inet6,
                mark: 7,
            },
            "lc",
        ),
        vec![destination("2001:db8:1::12", 0, ForwardMethod::Route, 1)],
    ));
    for (i, scheduler) in kernel_schedulers().into_iter().enumerate() {
        let port = 1000 + u16::try_from(i).expect("few schedulers");
        table.push((
            service(tcp("192.0.2.20", port), scheduler),
            vec![destination(
                "198.51.100.20",
                port,
                ForwardMethod::Masquerade,
                1,
            )],
        ));
    }
    table
}

fn program(client: &mut IpvsClient, table: &[(Service, Vec<Destination>)]) {
    let mut operations = Vec::new();
    for (service, destinations) in table {
        operations.push(Operation::NewService(service.clone()));
        operations.extend(
            destinations
                .iter()
                .map(|d| Operation::NewDestination(service.key, d.clone())),
        );
    }
    client
        .apply(&operations)
        .expect("the kernel accepts the table");
}

/// The kernel's table through the client, in a comparable form.
fn dumped(client: &mut IpvsClient) -> BTreeSet<String> {
    describe(
        &client
            .table()
            .expect("dump")
            .iter()
            .map(|s| {
                (
                    s.service.clone(),
                    s.destinations
                        .iter()
                        .map(|d| d.destination.clone())
                        .collect(),
                )
            })
            .collect::<Vec<_>>(),
    )
}

/// One line per service and per destination, with every field, HASHED masked.
fn describe(table: &[(Service, Vec<Destination>)]) -> BTreeSet<String> {
    let mut lines = BTreeSet::new();
    for (service, destinations) in table {
        let mut s = service.clone();
        s.flags = s.flags.comparable();
        lines.insert(format!("{s:?}"));
        for d in destinations {
            let mut d = d.clone();
            if d.forward != ForwardMethod::Tunnel {
                d.tunnel = Tunnel::default();
            }
            lines.insert(format!("{} -> {d:?}", service.key));
        }
    }
    lines
}

/// What `ipvsadm -Ln` shows, blanks normalised, as a set of lines.
fn ipvsadm_lines(args: &[&str]) -> BTreeSet<String> {
    let mut all = vec!["-Ln"];
    all.extend_from_slice(args);
    run("ipvsadm", &all)
        .lines()
        .skip(3)
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

fn address_port(address: IpAddr, port: u16) -> String {
    shoal::ipvs::types::socket_text(address, port)
}

/// What `ipvsadm -Ln` should show for a table.
fn expected_listing(table: &[(Service, Vec<Destination>)]) -> BTreeSet<String> {
    let mut lines = BTreeSet::new();
    for (service, destinations) in table {
        lines.insert(
            shoal::ipvs::render::service_line(service)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        );
        for d in destinations {
            lines.insert(format!(
                "-> {} {} {} 0 0",
                address_port(d.address, d.port),
                d.forward.ipvsadm_name(),
                d.weight
            ));
        }
    }
    lines
}

#[test]
#[ignore = "needs the lab kernel: scripts/lab-tests.sh runs it"]
fn what_the_client_programs_is_what_ipvsadm_shows() {
    let _ = LAB;
    in_fresh_netns(|| {
        let mut client = IpvsClient::connect().expect("IPVS in the lab kernel");
        let table = rich_table();
        program(&mut client, &table);
        assert_eq!(dumped(&mut client), describe(&table), "client dump");
        assert_eq!(ipvsadm_lines(&[]), expected_listing(&table), "ipvsadm -Ln");
        let thresholds: Vec<String> = ipvsadm_lines(&["--thresholds"])
            .into_iter()
            .filter(|l| l.contains("198.51.100.17"))
            .collect();
        assert_eq!(thresholds, ["-> 198.51.100.17:21 100 10 0 0"]);
        let tunnels: Vec<String> = ipvsadm_lines(&["--tun-info"])
            .into_iter()
            .filter(|l| l.contains(":5060 Tunnel"))
            .collect();
        assert_eq!(
            tunnels,
            [
                "-> 198.51.100.14:5060 Tunnel gue:6080:+c 3 0 0",
                "-> 198.51.100.15:5060 Tunnel gre:+c 1 0 0",
                "-> 198.51.100.16:5060 Tunnel ipip 1 0 0",
            ]
        );
    });
}

#[test]
#[ignore = "needs the lab kernel: scripts/lab-tests.sh runs it"]
fn what_ipvsadm_programs_is_what_the_client_dumps() {
    in_fresh_netns(|| {
        for args in [
            "-A -t 192.0.2.30:80 -s wrr -p 120 -M 255.255.0.0",
            "-a -t 192.0.2.30:80 -r 198.51.100.31:8080 -m -w 3",
            "-a -t 192.0.2.30:80 -r 198.51.100.32:8080 -m -w 0 -x 50 -y 5",
            "-A -f 5 -s lc",
            "-a -f 5 -r 198.51.100.33 -g -w 2",
            "-A -u 192.0.2.31:53 -s sh -b sh-fallback,sh-port -o",
            "-a -u 192.0.2.31:53 -r 198.51.100.34:53 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum",
            "-A --sctp-service [2001:db8::30]:5060 -s rr",
            "-a --sctp-service [2001:db8::30]:5060 -r [2001:db8:1::35]:5060 -g -w 7",
        ] {
            run("ipvsadm", &args.split(' ').collect::<Vec<_>>());
        }
        let mut client = IpvsClient::connect().expect("IPVS in the lab kernel");
        let mut web = service(tcp("192.0.2.30", 80), "wrr");
        web.flags = ServiceFlags(ServiceFlags::PERSISTENT);
        web.timeout = 120;
        web.netmask = 0xffff_0000;
        let mut idle = destination("198.51.100.32", 8080, ForwardMethod::Masquerade, 0);
        idle.upper_threshold = 50;
        idle.lower_threshold = 5;
        let mut dns = service(
            ServiceKey::Address {
                protocol: ServiceProtocol::Udp,
                address: ip("192.0.2.31"),
                port: 53,
            },
            "sh",
        );
        dns.flags =
            ServiceFlags(ServiceFlags::SCHED1 | ServiceFlags::SCHED2 | ServiceFlags::ONE_PACKET);
        let mut gue = destination("198.51.100.34", 53, ForwardMethod::Tunnel, 1);
        gue.tunnel = Tunnel {
            kind: TunnelKind::Gue,
            port: 6080,
            flags: Tunnel::CSUM,
        };
        let expected = vec![
            (
                web,
                vec![
                    destination("198.51.100.31", 8080, ForwardMethod::Masquerade, 3),
                    idle,
                ],
            ),
            (
                service(
                    ServiceKey::Fwmark {
                        family: Family::Inet,
                        mark: 5,
                    },
                    "lc",
                ),
                vec![destination("198.51.100.33", 0, ForwardMethod::Route, 2)],
            ),
            (dns, vec![gue]),
            (
                service(
                    ServiceKey::Address {
                        protocol: ServiceProtocol::Sctp,
                        address: ip("2001:db8::30"),
                        port: 5060,
                    },
                    "rr",
                ),
                vec![destination("2001:db8:1::35", 5060, ForwardMethod::Route, 7)],
            ),
        ];
        assert_eq!(dumped(&mut client), describe(&expected));
    });
}

#[test]
#[ignore = "needs the lab kernel: scripts/lab-tests.sh runs it"]
fn timeouts_both_ways() {
    in_fresh_netns(|| {
        let mut client = IpvsClient::connect().expect("IPVS in the lab kernel");
        let set = Timeouts {
            tcp: 1000,
            tcp_fin: 20,
            udp: 30,
        };
        client
            .execute(&Operation::SetTimeouts(set))
            .expect("set timeouts");
        assert_eq!(
            run("ipvsadm", &["-Ln", "--timeout"]).trim(),
            "Timeout (tcp tcpfin udp): 1000 20 30"
        );
        run("ipvsadm", &["--set", "900", "120", "300"]);
        assert_eq!(
            client.timeouts().expect("timeouts"),
            Timeouts {
                tcp: 900,
                tcp_fin: 120,
                udp: 300
            }
        );
        client
            .execute(&Operation::SetTimeouts(Timeouts {
                tcp: 0,
                tcp_fin: 60,
                udp: 0,
            }))
            .expect("partial");
        assert_eq!(
            client.timeouts().expect("timeouts"),
            Timeouts {
                tcp: 900,
                tcp_fin: 60,
                udp: 300
            }
        );
    });
}

#[test]
#[ignore = "needs the lab kernel: scripts/lab-tests.sh runs it"]
fn sync_daemons_both_ways() {
    in_fresh_netns(|| {
        run("ip", &["link", "add", "sync0", "type", "dummy"]);
        run("ip", &["link", "set", "sync0", "up", "multicast", "on"]);
        run("ip", &["addr", "add", "10.9.0.1/24", "dev", "sync0"]);
        let mut client = IpvsClient::connect().expect("IPVS in the lab kernel");
        let master = SyncDaemon {
            state: SyncState::Master,
            interface: "sync0".into(),
            sync_id: 7,
            max_len: None,
            group: None,
            port: None,
            ttl: None,
        };
        client
            .execute(&Operation::NewSyncDaemon(master))
            .expect("start master");
        let shown = run("ipvsadm", &["-L", "--daemon"]);
        assert!(
            shown.contains("master sync daemon (mcast=sync0, syncid=7"),
            "{shown}"
        );
        run(
            "ipvsadm",
            &[
                "--start-daemon",
                "backup",
                "--mcast-interface",
                "sync0",
                "--syncid",
                "9",
            ],
        );
        let daemons = client.sync_daemons().expect("dump daemons");
        let summary: BTreeSet<String> = daemons
            .iter()
            .map(|d| format!("{:?} {} {}", d.state, d.interface, d.sync_id))
            .collect();
        assert_eq!(
            summary,
            BTreeSet::from(["Master sync0 7".to_string(), "Backup sync0 9".to_string()])
        );
        let master = daemons
            .iter()
            .find(|d| d.state == SyncState::Master)
            .expect("master");
        assert_eq!(
            (master.group, master.port),
            (Some(ip("224.0.0.81")), Some(8848)),
            "{master:?}"
        );
        client
            .execute(&Operation::DelSyncDaemon(SyncState::Master))
            .expect("stop master");
        client
            .execute(&Operation::DelSyncDaemon(SyncState::Backup))
            .expect("stop backup");
        assert_eq!(run("ipvsadm", &["-L", "--daemon"]).trim(), "");
    });
}

fn desired(table: &[(Service, Vec<Destination>)]) -> DesiredTable {
    DesiredTable {
        services: table
            .iter()
            .map(|(service, destinations)| DesiredService {
                name: service.key.to_string(),
                service: service.clone(),
                destinations: destinations
                    .iter()
                    .map(|d| DesiredDestination {
                        name: address_port(d.address, d.port),
                        destination: d.clone(),
                    })
                    .collect(),
            })
            .collect(),
        timeouts: Timeouts::default(),
    }
}

/// A family of tables that share some keys and differ in everything else.
fn variant_tables() -> Vec<Vec<(Service, Vec<Destination>)>> {
    let base = rich_table();
    let mut changed = base.clone();
    changed[0].0.scheduler = "rr".into();
    changed[0].0.timeout = 30;
    changed[0].1[0].weight = 9;
    changed[0].1.remove(1);
    changed[1]
        .1
        .push(destination("198.51.100.99", 53, ForwardMethod::Route, 2));
    changed.remove(2);
    changed.push((
        service(tcp("192.0.2.50", 8443), "wrr"),
        vec![destination(
            "198.51.100.50",
            8443,
            ForwardMethod::Masquerade,
            1,
        )],
    ));
    let small = vec![
        base[0].clone(),
        (service(tcp("192.0.2.10", 81), "lc"), vec![]),
    ];
    vec![base, changed, small, Vec::new()]
}

#[test]
#[ignore = "needs the lab kernel: scripts/lab-tests.sh runs it"]
fn reconcile_reaches_any_table_from_any_other_and_then_sends_nothing() {
    in_fresh_netns(|| {
        let mut client = IpvsClient::connect().expect("IPVS in the lab kernel");
        let tables = variant_tables();
        for from in &tables {
            for to in &tables {
                let start = diff(&desired(from), &client.table().expect("dump"));
                client.apply(&start).expect("reach the start table");
                assert_eq!(dumped(&mut client), describe(from));
                let kernel: Vec<ServiceState> = client.table().expect("dump");
                let operations = diff(&desired(to), &kernel);
                let kept: BTreeSet<ServiceKey> = from
                    .iter()
                    .map(|(s, _)| s.key)
                    .filter(|k| to.iter().any(|(t, _)| t.key == *k))
                    .collect();
                for operation in &operations {
                    if let Operation::DelService(key) = operation {
                        assert!(
                            !kept.contains(key),
                            "{key} is in both tables but was deleted"
                        );
                    }
                }
                client.apply(&operations).expect("reconcile");
                assert_eq!(dumped(&mut client), describe(to));
                let again = diff(&desired(to), &client.table().expect("dump"));
                assert!(again.is_empty(), "second diff not empty: {again:?}");
            }
        }
    });
}

#[test]
#[ignore = "needs the lab kernel: scripts/lab-tests.sh runs it"]
fn an_established_connection_survives_reconcile_of_its_service() {
    use std::io::{Read, Write};
    in_fresh_netns(|| {
        run("ip", &["link", "add", "vip0", "type", "dummy"]);
        run("ip", &["addr", "add", "192.0.2.10/32", "dev", "vip0"]);
        run("ip", &["addr", "add", "198.51.100.11/32", "dev", "vip0"]);
        run("ip", &["link", "set", "vip0", "up"]);
        let listener =
            std::net::TcpListener::bind("198.51.100.11:8080").expect("real server listens");
        let mut client = IpvsClient::connect().expect("IPVS in the lab kernel");
        let before = vec![(
            service(tcp("192.0.2.10", 80), "wlc"),
            vec![destination(
                "198.51.100.11",
                8080,
                ForwardMethod::Masquerade,
                1,
            )],
        )];
        client
            .apply(&diff(&desired(&before), &[]))
            .expect("program");
        let mut stream =
            std::net::TcpStream::connect("192.0.2.10:80").expect("connect through the VIP");
        let (mut server_side, _) = listener.accept().expect("accepted by the real server");
        let active = |client: &mut IpvsClient| -> u32 {
            client.table().expect("dump")[0]
                .destinations
                .iter()
                .map(|d| d.active_connections)
                .sum()
        };
        assert_eq!(
            active(&mut client),
            1,
            "one established connection through IPVS"
        );
        let mut after = before.clone();
        after[0].0.scheduler = "rr".into();
        after[0].0.flags = ServiceFlags(ServiceFlags::PERSISTENT);
        after[0].0.timeout = 60;
        after[0].1[0].weight = 5;
        after[0].1.push(destination(
            "198.51.100.12",
            8080,
            ForwardMethod::Masquerade,
            1,
        ));
        let operations = diff(&desired(&after), &client.table().expect("dump"));
        assert!(
            operations
                .iter()
                .all(|o| !matches!(o, Operation::DelService(_) | Operation::NewService(_))),
            "{operations:?}"
        );
        client.apply(&operations).expect("reconcile");
        assert_eq!(
            active(&mut client),
            1,
            "the connection is still counted after the change"
        );
        stream
            .write_all(b"ping")
            .expect("client writes after reconcile");
        let mut buffer = [0u8; 4];
        server_side
            .read_exact(&mut buffer)
            .expect("real server reads");
        assert_eq!(&buffer, b"ping");
        let key = tcp("192.0.2.10", 80);
        let connections =
            |client: &mut IpvsClient| client.services().expect("dump")[0].stats.connections;
        // The kernel folds its per-CPU counters into the exported ones every 2 s.
        assert!(
            poll(|| connections(&mut client) == 1),
            "the connection is counted"
        );
        client
            .execute(&Operation::Zero(Some(key)))
            .expect("zero one service");
        assert!(poll(|| connections(&mut client) == 0), "counters zeroed");
        client.execute(&Operation::Zero(None)).expect("zero all");
    });
}

/// Waits up to 6 s for a condition the kernel makes true asynchronously.
fn poll(mut condition: impl FnMut() -> bool) -> bool {
    for _ in 0..60 {
        if condition() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    false
}

#[test]
#[ignore = "needs the lab kernel: scripts/lab-tests.sh runs it"]
fn info_matches_what_ipvsadm_reports() {
    in_fresh_netns(|| {
        let info = IpvsClient::connect()
            .expect("IPVS in the lab kernel")
            .info()
            .expect("info");
        let header = run("ipvsadm", &["-Ln"])
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
        assert_eq!(
            header,
            format!(
                "IP Virtual Server version {} (size={})",
                info.version_text(),
                info.connection_table_size
            )
        );
        assert_eq!(info.version_text(), "1.2.1");
    });
}

#[test]
#[ignore = "needs the lab kernel: scripts/lab-tests.sh runs it"]
fn kernel_errors_name_the_object_and_the_reason() {
    in_fresh_netns(|| {
        let mut client = IpvsClient::connect().expect("IPVS in the lab kernel");
        let missing = client
            .execute(&Operation::NewDestination(
                tcp("192.0.2.99", 80),
                destination("198.51.100.1", 80, ForwardMethod::Route, 1),
            ))
            .expect_err("no such service");
        assert_eq!(
            missing.to_string(),
            "add real server 198.51.100.1:80 to service TCP 192.0.2.99:80: no such service (No such process (os error 3))"
        );
        let unknown = client
            .execute(&Operation::NewService(service(
                tcp("192.0.2.98", 80),
                "nosuch",
            )))
            .expect_err("no scheduler");
        assert!(
            unknown
                .to_string()
                .starts_with("add service TCP 192.0.2.98:80: "),
            "{unknown}"
        );
        assert!(
            matches!(unknown, IpvsError::Kernel { errno, .. } if errno == libc::ENOENT),
            "{unknown}"
        );
        let malformed = client
            .execute(&Operation::NewService(service(
                tcp("192.0.2.97", 80),
                "a-scheduler-name-longer-than-sixteen",
            )))
            .expect_err("policy");
        let text = malformed.to_string();
        assert!(
            text.starts_with("add service TCP 192.0.2.97:80: "),
            "{text}"
        );
        assert!(
            matches!(malformed, IpvsError::Kernel { errno: 22 | 34, .. }),
            "{text}"
        );
    });
}
