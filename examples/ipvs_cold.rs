//! Benchmark driver for `bench/ipvs-cold.sh`: programs SERVICES x DESTINATIONS into an
//! empty IPVS table through shoal's client, or writes the same operations as an
//! `ipvsadm -R` restore file, so both can be timed in the same lab boot.
//!
//! Usage: `ipvs_cold program SERVICES DESTINATIONS` (prints seconds taken) or
//! `ipvs_cold restore-file SERVICES DESTINATIONS` (prints the ipvsadm rules).

use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;
use std::time::Instant;

use shoal::ipvs::client::IpvsClient;
use shoal::ipvs::types::{
    Destination, ForwardMethod, Operation, Service, ServiceFlags, ServiceKey, ServiceProtocol,
    Tunnel,
};

fn vip(index: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 100, 0, 0)) + index)
}

fn real_server(index: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 200, 0, 1)) + index)
}

fn operations(services: u32, destinations: u32) -> Vec<Operation> {
    let mut ops = Vec::new();
    for s in 0..services {
        let key = ServiceKey::Address {
            protocol: ServiceProtocol::Tcp,
            address: IpAddr::V4(vip(s)),
            port: 80,
        };
        ops.push(Operation::NewService(Service {
            key,
            scheduler: "wlc".into(),
            flags: ServiceFlags(0),
            timeout: 0,
            netmask: u32::MAX,
            pe_name: None,
        }));
        for d in 0..destinations {
            ops.push(Operation::NewDestination(
                key,
                Destination {
                    address: IpAddr::V4(real_server(d)),
                    port: 80,
                    forward: ForwardMethod::Masquerade,
                    weight: 1,
                    upper_threshold: 0,
                    lower_threshold: 0,
                    tunnel: Tunnel::default(),
                },
            ));
        }
    }
    ops
}

fn restore_file(services: u32, destinations: u32) -> String {
    let mut out = String::new();
    for s in 0..services {
        out.push_str(&format!("-A -t {}:80 -s wlc\n", vip(s)));
        for d in 0..destinations {
            out.push_str(&format!(
                "-a -t {}:80 -r {}:80 -m -w 1\n",
                vip(s),
                real_server(d)
            ));
        }
    }
    out
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let number = |i: usize| args.get(i).and_then(|a| a.parse::<u32>().ok());
    let (Some(mode), Some(services), Some(destinations)) = (args.get(1), number(2), number(3))
    else {
        eprintln!("usage: ipvs_cold program|restore-file SERVICES DESTINATIONS");
        return ExitCode::from(2);
    };
    match mode.as_str() {
        "restore-file" => {
            print!("{}", restore_file(services, destinations));
            ExitCode::SUCCESS
        }
        "program" => {
            let ops = operations(services, destinations);
            let started = Instant::now();
            let result = IpvsClient::connect()
                .map_err(|e| e.to_string())
                .and_then(|mut client| client.apply(&ops).map_err(|e| e.to_string()));
            let elapsed = started.elapsed().as_secs_f64();
            match result {
                Ok(()) => {
                    println!("{elapsed:.4}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("ipvs_cold: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        _ => {
            eprintln!("unknown mode {mode}");
            ExitCode::from(2)
        }
    }
}
