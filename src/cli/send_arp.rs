//! `shoal send-arp`: Piranha's `send_arp`, for announcing an address by hand after moving
//! it, or for checking that announcements from a director reach a host.

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use crate::net::{self, MacAddr};

/// Arguments of `shoal send-arp`.
#[derive(Debug, clap::Args)]
pub struct SendArpArgs {
    /// Device to send on (an `eth0:1` alias is sent on `eth0`).
    #[arg(short = 'i', long = "interface", value_name = "DEV")]
    pub device: String,
    /// Address to announce: IPv4 sends a gratuitous ARP request and reply, IPv6 an
    /// unsolicited neighbour advertisement.
    #[arg(value_name = "IP")]
    pub address: IpAddr,
    /// Hardware address to announce instead of the device's own.
    #[arg(value_name = "MAC")]
    pub mac: Option<MacAddr>,
    /// How many announcements to send (Piranha's send_arp sent one).
    #[arg(long, default_value_t = 1)]
    pub count: u32,
    /// Seconds between announcements (decimals allowed).
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = parse_seconds)]
    pub interval: Duration,
}

/// Sends the announcements, printing each as it goes out; errors go to stderr with
/// exit code 1.
pub fn run(args: &SendArpArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("shoal: send-arp: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let count = args.count;
    let result = runtime.block_on(net::announce(
        &args.device,
        args.address,
        args.mac,
        count,
        args.interval,
        |number, announcement| println!("sent {announcement} [{number}/{count}]"),
    ));
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shoal: send-arp: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("'{text}' is not a number of seconds"))?;
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("'{text}' is not a usable interval"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        assert_eq!(parse_seconds("1"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_seconds("0.25"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_seconds("0"), Ok(Duration::ZERO));
        for bad in ["-1", "x", "NaN", "inf", ""] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
    }
}
