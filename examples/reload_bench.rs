//! Benchmark driver for `bench/reload-one-weight.sh`, run inside the lab VM: writes an
//! lvs.cf with SERVICES virtual servers (two NAT real servers each), starts `shoal run`
//! on it, changes one weight in the file and times `shoal reload` (parse, validate,
//! dump, diff, apply), then times `ipvsadm -e` making the same single edit, in the
//! same boot. Prints the operations the reload sent and both times.
//!
//! Usage: `reload_bench SHOAL_BINARY SERVICES ROUNDS`

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use shoal::control::{self, Request, Response};

fn lvs_cf(services: u32, changed_weight: u32) -> String {
    let mut text = String::from("serial_no = 1\nprimary = 192.0.2.1\nnetwork = nat\n");
    for s in 0..services {
        let vip = std::net::Ipv4Addr::from(u32::from(std::net::Ipv4Addr::new(10, 100, 0, 0)) + s);
        let weight = if s == services / 2 { changed_weight } else { 1 };
        let _ = write!(
            text,
            "virtual vs{s} {{\n  active = 1\n  address = {vip} eth0:1\n  port = 80\n  scheduler = wlc\n  \
             server a {{\n    address = 10.200.0.1\n    active = 1\n    weight = {weight}\n  }}\n  \
             server b {{\n    address = 10.200.0.2\n    active = 1\n  }}\n}}\n"
        );
    }
    text
}

fn wait_for(socket: &Path) -> Result<(), String> {
    for _ in 0..3000 {
        if control::request(socket, &Request::Status, Duration::from_secs(60)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err("shoal run did not come up".into())
}

fn bench(shoal: &str, services: u32, rounds: u32) -> Result<(), String> {
    let dir = std::env::temp_dir().join("reload-bench");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let file = dir.join("lvs.cf");
    let socket = dir.join("control.sock");
    std::fs::write(&file, lvs_cf(services, 1)).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut child = Command::new(shoal)
        .args(["run", "--no-checks", "-c"])
        .arg(&file)
        .arg("--control")
        .arg(&socket)
        .env("SHOAL_LOG", "warn")
        .spawn()
        .map_err(|e| e.to_string())?;
    let result = (|| {
        wait_for(&socket)?;
        println!(
            "start: {services} services programmed in {:.3} s",
            started.elapsed().as_secs_f64()
        );
        let vip = std::net::Ipv4Addr::from(
            u32::from(std::net::Ipv4Addr::new(10, 100, 0, 0)) + services / 2,
        );
        for round in 1..=rounds {
            std::fs::write(&file, lvs_cf(services, round + 1)).map_err(|e| e.to_string())?;
            let t = Instant::now();
            let answer = control::request(&socket, &Request::Reload, Duration::from_secs(120))
                .map_err(|e| e.to_string())?;
            let reload = t.elapsed().as_secs_f64();
            let Response::Reload(report) = answer else {
                return Err(format!("unexpected answer {answer:?}"));
            };
            let t = Instant::now();
            let status = Command::new("ipvsadm")
                .args([
                    "-e",
                    "-t",
                    &format!("{vip}:80"),
                    "-r",
                    "10.200.0.1:80",
                    "-m",
                    "-w",
                    &(round + 100).to_string(),
                ])
                .status()
                .map_err(|e| e.to_string())?;
            let ipvsadm = t.elapsed().as_secs_f64();
            if !status.success() {
                return Err("ipvsadm -e failed".into());
            }
            println!(
                "round {round}: reload of {services} services sent {} operation(s) {:?} in {reload:.3} s; ipvsadm -e alone {ipvsadm:.3} s",
                report.operations.len(),
                report
                    .operations
                    .iter()
                    .map(|o| o.to_string())
                    .collect::<Vec<_>>()
            );
        }
        Ok(())
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let number = |i: usize| args.get(i).and_then(|a| a.parse::<u32>().ok());
    let (Some(shoal), Some(services), Some(rounds)) = (args.get(1), number(2), number(3)) else {
        eprintln!("usage: reload_bench SHOAL_BINARY SERVICES ROUNDS");
        return ExitCode::from(2);
    };
    match bench(shoal, services, rounds) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("reload_bench: {e}");
            ExitCode::FAILURE
        }
    }
}
