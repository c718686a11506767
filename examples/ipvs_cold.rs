//! Benchmark driver for `bench/ipvs-cold.sh`: programs SERVICES x DESTINATIONS into an
//! empty IPVS table through shoal's client, or writes the same operations as an
//! `ipvsadm -R` restore file, so both can be timed in the same lab boot.
//!
//! Usage: `ipvs_cold compare SERVICES DESTINATIONS ROUNDS`: in each round, flushes the
//! table, times `ipvsadm -R` on the restore file, flushes again and times shoal's client
//! on the same operations; prints each round and the median ratio.
//! `ipvs_cold restore-file SERVICES DESTINATIONS` prints the ipvsadm rules.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;
use std::process::{Command, Stdio};
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

fn flush() -> Result<(), String> {
    let status = Command::new("ipvsadm")
        .arg("-C")
        .status()
        .map_err(|e| e.to_string())?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| "ipvsadm -C failed".to_string())
}

fn time_ipvsadm_restore(rules: &str) -> Result<f64, String> {
    let started = Instant::now();
    let mut child = Command::new("ipvsadm")
        .arg("-R")
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| format!("ipvsadm: {e}"))?;
    child
        .stdin
        .take()
        .ok_or("no stdin")?
        .write_all(rules.as_bytes())
        .map_err(|e| e.to_string())?;
    let status = child.wait().map_err(|e| e.to_string())?;
    let elapsed = started.elapsed().as_secs_f64();
    status
        .success()
        .then_some(elapsed)
        .ok_or_else(|| "ipvsadm -R failed".to_string())
}

fn time_client(ops: &[Operation]) -> Result<f64, String> {
    let started = Instant::now();
    let mut client = IpvsClient::connect().map_err(|e| e.to_string())?;
    client.apply(ops).map_err(|e| e.to_string())?;
    Ok(started.elapsed().as_secs_f64())
}

fn compare(services: u32, destinations: u32, rounds: u32) -> Result<(), String> {
    let rules = restore_file(services, destinations);
    let ops = operations(services, destinations);
    let mut ratios = Vec::new();
    for round in 1..=rounds {
        flush()?;
        let ipvsadm = time_ipvsadm_restore(&rules)?;
        flush()?;
        let shoal = time_client(&ops)?;
        println!(
            "round {round}: {} operations: ipvsadm -R {ipvsadm:.3} s, shoal {shoal:.3} s, ratio {:.3}",
            ops.len(),
            shoal / ipvsadm
        );
        ratios.push(shoal / ipvsadm);
    }
    flush()?;
    ratios.sort_by(f64::total_cmp);
    let median = ratios[ratios.len() / 2];
    println!(
        "median ratio shoal/ipvsadm: {median:.3} ({services} services x {destinations} real servers)"
    );
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let number = |i: usize| args.get(i).and_then(|a| a.parse::<u32>().ok());
    let (Some(mode), Some(services), Some(destinations)) = (args.get(1), number(2), number(3))
    else {
        eprintln!("usage: ipvs_cold compare|restore-file SERVICES DESTINATIONS [ROUNDS]");
        return ExitCode::from(2);
    };
    match mode.as_str() {
        "restore-file" => {
            print!("{}", restore_file(services, destinations));
            ExitCode::SUCCESS
        }
        "compare" => match compare(services, destinations, number(4).unwrap_or(3).max(1)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ipvs_cold: {e}");
                ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!("unknown mode {mode}");
            ExitCode::from(2)
        }
    }
}
