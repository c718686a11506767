//! The typed lvs.cf model: what every other part of shoal reads.
//!
//! Field names are the lvs.cf keywords, defaults are Piranha's (lvsParseConfig and
//! lvsInitVirtualServer), and values are typed (addresses are `IpAddr`, times are
//! `Duration`) so that nothing downstream parses strings again.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use serde::Serialize;

/// Declares a closed set of keyword values once, so parsing, writing, help texts and
/// "expected one of" messages can never disagree about the spelling.
macro_rules! keyword_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every value, in the order the documentation lists them.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The spelling used in lvs.cf.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Reads the lvs.cf spelling; `None` for anything else.
            pub fn from_keyword(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }

            /// "a, b or c", for error messages.
            pub fn expected() -> String {
                let names: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                crate::config::model::one_of(&names)
            }
        }

        impl KeywordValue for $name {
            fn all() -> &'static [Self] {
                Self::ALL
            }
            fn from_keyword(text: &str) -> Option<Self> {
                $name::from_keyword(text)
            }
            fn expected() -> String {
                $name::expected()
            }
            fn as_str(self) -> &'static str {
                $name::as_str(self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// A value spelled as one of a closed set of words, so one parser and one writer serve
/// every such keyword.
pub trait KeywordValue: Sized + Copy + 'static {
    /// Every value, in the order the documentation lists them.
    fn all() -> &'static [Self];
    /// Reads the lvs.cf spelling.
    fn from_keyword(text: &str) -> Option<Self>;
    /// The accepted spellings, for error messages.
    fn expected() -> String;
    /// The lvs.cf spelling.
    fn as_str(self) -> &'static str;
}

pub(crate) fn one_of(names: &[&str]) -> String {
    match names.split_last() {
        Some((last, [])) => format!("'{last}'"),
        Some((last, rest)) => {
            let rest: Vec<String> = rest.iter().map(|n| format!("'{n}'")).collect();
            format!("{} or '{last}'", rest.join(", "))
        }
        None => String::new(),
    }
}

keyword_enum!(
    /// `service`: which kind of block the cluster runs; shoal runs `lvs` only.
    ServiceKind { Lvs => "lvs", Fos => "fos" }
);

keyword_enum!(
    /// `network` / `forwarding`: how IPVS forwards packets to a real server.
    Forwarding { Nat => "nat", Direct => "direct", Tunnel => "tunnel" }
);

keyword_enum!(
    /// `protocol`: the transport of a virtual server (`sctp` is a shoal extension).
    Protocol { Tcp => "tcp", Udp => "udp", Sctp => "sctp" }
);

keyword_enum!(
    /// `scheduler`: the IPVS scheduling algorithm; the last six are shoal extensions.
    Scheduler {
        Lc => "lc", Rr => "rr", Wlc => "wlc", Wrr => "wrr", Lblc => "lblc", Lblcr => "lblcr",
        Dh => "dh", Sh => "sh", Sed => "sed", Nq => "nq", Fo => "fo", Ovf => "ovf", Mh => "mh",
        Twos => "twos",
    }
);

impl Scheduler {
    /// Whether Piranha 0.8.6 knew this scheduler, so `shoal check` can tell an
    /// administrator which files a Piranha node of the pair would reject.
    pub fn is_piranha(self) -> bool {
        !matches!(
            self,
            Scheduler::Sed
                | Scheduler::Nq
                | Scheduler::Fo
                | Scheduler::Ovf
                | Scheduler::Mh
                | Scheduler::Twos
        )
    }
}

keyword_enum!(
    /// `scheduler_flags`: the kernel's per-scheduler flags for `sh` and `mh`.
    SchedulerFlag {
        ShFallback => "sh-fallback", ShPort => "sh-port",
        MhFallback => "mh-fallback", MhPort => "mh-port",
    }
);

impl SchedulerFlag {
    /// The scheduler the flag belongs to; the kernel ignores it for any other.
    pub fn scheduler(self) -> Scheduler {
        match self {
            SchedulerFlag::ShFallback | SchedulerFlag::ShPort => Scheduler::Sh,
            SchedulerFlag::MhFallback | SchedulerFlag::MhPort => Scheduler::Mh,
        }
    }
}

keyword_enum!(
    /// `reservation_conflict_action`: fos shared-SCSI behaviour, parsed for compatibility.
    ConflictAction { Nothing => "nothing", Preempt => "preempt" }
);

keyword_enum!(
    /// `standby`: whether the inactive node keeps IPVS programmed (warm) or not (cold).
    Standby { Warm => "warm", Cold => "cold" }
);

keyword_enum!(
    /// `tunnel_type`: the encapsulation used with tunnel forwarding.
    TunnelType { Ipip => "ipip", Gue => "gue", Gre => "gre" }
);

keyword_enum!(
    /// `tunnel_csum`: checksum handling for GUE and GRE tunnels.
    TunnelChecksum { Nocsum => "nocsum", Csum => "csum", Remcsum => "remcsum" }
);

keyword_enum!(
    /// `monitor`: the kind of health check; without it Piranha's rules pick one from
    /// `send`, `expect` and `send_program`.
    MonitorKind {
        Connect => "connect", SendExpect => "send-expect", Program => "program", Http => "http",
        Https => "https", Dns => "dns", Smtp => "smtp", Ping => "ping",
    }
);

keyword_enum!(
    /// `dns_type`: the record type a DNS check asks for.
    DnsType {
        A => "A", Aaaa => "AAAA", Cname => "CNAME", Mx => "MX", Ns => "NS", Ptr => "PTR",
        Soa => "SOA", Srv => "SRV", Txt => "TXT",
    }
);

keyword_enum!(
    /// `dns_rcode`: the response code a DNS check accepts.
    DnsRcode {
        NoError => "NOERROR", FormErr => "FORMERR", ServFail => "SERVFAIL",
        NxDomain => "NXDOMAIN", NotImp => "NOTIMP", Refused => "REFUSED",
    }
);

/// `load_monitor`: how Piranha's nanny read a real server's load average.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadMonitor {
    /// No load-based weight adjustment (Piranha's default in the code).
    None,
    /// `rsh_command HOST uptime`.
    Uptime,
    /// `rup HOST`.
    Rup,
    /// `ruptime HOST`.
    Ruptime,
    /// Any other command, kept as written.
    Command(String),
}

impl LoadMonitor {
    /// The lvs.cf spelling.
    pub fn as_str(&self) -> &str {
        match self {
            LoadMonitor::None => "none",
            LoadMonitor::Uptime => "uptime",
            LoadMonitor::Rup => "rup",
            LoadMonitor::Ruptime => "ruptime",
            LoadMonitor::Command(command) => command,
        }
    }
}

/// A netmask as written: a dotted IPv4 mask (Piranha) or a prefix length (shoal, needed
/// for IPv6). Only contiguous masks exist; the parser refuses the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "String")]
pub enum Netmask {
    /// `255.255.255.0`
    Dotted(Ipv4Addr),
    /// `64`
    Prefix(u8),
}

impl Netmask {
    /// The prefix length the kernel and rtnetlink want.
    pub fn prefix_len(self) -> u8 {
        match self {
            Netmask::Dotted(mask) => u32::from(mask).count_ones() as u8,
            Netmask::Prefix(len) => len,
        }
    }

    /// A dotted mask if it is contiguous, which is all the kernel can use.
    pub fn from_dotted(mask: Ipv4Addr) -> Option<Self> {
        let bits = u32::from(mask);
        (bits.leading_ones() + bits.trailing_zeros() == 32).then_some(Netmask::Dotted(mask))
    }
}

impl fmt::Display for Netmask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Netmask::Dotted(mask) => write!(f, "{mask}"),
            Netmask::Prefix(len) => write!(f, "{len}"),
        }
    }
}

impl From<Netmask> for String {
    fn from(mask: Netmask) -> String {
        mask.to_string()
    }
}

/// An address with the device alias it is plumbed on (`address = 192.0.2.10 eth0:1`,
/// `nat_router = 198.51.100.254 eth1:1`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct InterfaceAddress {
    /// The address (the VIP or the NAT router address).
    pub address: IpAddr,
    /// The device, with Piranha's `:alias` suffix kept as the address label.
    pub device: String,
}

/// One range of HTTP status codes a check accepts (`200`, `200-399`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct StatusRange {
    /// Lowest accepted code.
    pub low: u16,
    /// Highest accepted code.
    pub high: u16,
}

impl fmt::Display for StatusRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.low == self.high {
            write!(f, "{}", self.low)
        } else {
            write!(f, "{}-{}", self.low, self.high)
        }
    }
}

/// The whole lvs.cf.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Config {
    /// Everything outside blocks.
    pub global: GlobalSettings,
    /// `virtual NAME { ... }` blocks, in file order.
    pub virtual_servers: Vec<VirtualServer>,
    /// `failover NAME { ... }` blocks (Piranha's fos mode), parsed and kept, not run.
    pub failover_services: Vec<VirtualServer>,
}

impl Config {
    /// Real servers across every virtual server, for summaries.
    pub fn real_server_count(&self) -> usize {
        self.virtual_servers.iter().map(|v| v.servers.len()).sum()
    }
}

/// The global section of lvs.cf.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GlobalSettings {
    /// Incremented by every write shoal makes; detects concurrent edits.
    pub serial_no: u64,
    /// Which block type runs.
    pub service: ServiceKind,
    /// The primary director's public address; the node holding it is the primary.
    pub primary: Option<IpAddr>,
    /// A second heartbeat path for the primary (defaults to `primary`).
    pub primary_private: Option<IpAddr>,
    /// fos shared disk, parsed for compatibility.
    pub primary_shared: Option<String>,
    /// The backup director's public address (`0.0.0.0` means none).
    pub backup: Option<IpAddr>,
    /// Whether there is a backup director at all.
    pub backup_active: bool,
    /// A second heartbeat path for the backup (defaults to `backup`).
    pub backup_private: Option<IpAddr>,
    /// fos shared disk, parsed for compatibility.
    pub backup_shared: Option<String>,
    /// fos SCSI reservation behaviour, parsed for compatibility.
    pub reservation_conflict_action: Option<ConflictAction>,
    /// The floating gateway address real servers use with NAT.
    pub nat_router: Option<InterfaceAddress>,
    /// The netmask of `nat_router`.
    pub nat_nmask: Option<Netmask>,
    /// Command run on becoming active (and when the primary re-announces).
    pub active_cmd: Option<String>,
    /// Command run on becoming inactive.
    pub inactive_cmd: Option<String>,
    /// Deactivate when a heartbeat interface loses its link.
    pub monitor_links: bool,
    /// Unused by Piranha and shoal.
    pub debug_level: String,
    /// Piranha: shut down when a nanny dies. shoal restarts monitors instead.
    pub hard_shutdown: bool,
    /// Piranha's ipvsadm path; shoal never executes ipvsadm.
    pub ipvsadm: String,
    /// Heartbeat send period.
    pub keepalive: Duration,
    /// Silence after which the peer is declared dead.
    pub deadtime: Duration,
    /// Remote shell used by `load_monitor = uptime`.
    pub rsh_command: String,
    /// Run the kernel's connection sync daemon.
    pub syncdaemon: bool,
    /// Interface of the sync daemon's multicast.
    pub syncd_iface: String,
    /// Sync daemon id; the kernel uses the low 8 bits.
    pub syncd_id: u32,
    /// IPVS TCP timeout; zero leaves the kernel's value alone.
    pub tcp_timeout: Duration,
    /// IPVS TCP FIN timeout; zero leaves the kernel's value alone.
    pub tcpfin_timeout: Duration,
    /// IPVS UDP timeout; zero leaves the kernel's value alone.
    pub udp_timeout: Duration,
    /// Parsed by Piranha, which heartbeats whenever `backup_active = 1`.
    pub heartbeat: bool,
    /// UDP port of the heartbeat.
    pub heartbeat_port: u16,
    /// Piranha's unused file sync switch.
    pub sync: bool,
    /// The default forwarding method of every virtual server.
    pub network: Forwarding,
    /// shoal: what the inactive node keeps running.
    pub standby: Standby,
    /// shoal: whether the primary takes the service back from an active backup.
    pub preempt: bool,
    /// shoal: gratuitous ARPs sent per address on activation.
    pub garp_count: u32,
    /// shoal: time between gratuitous ARPs.
    pub garp_interval: Duration,
}

impl Default for GlobalSettings {
    fn default() -> Self {
        GlobalSettings {
            serial_no: 0,
            service: ServiceKind::Lvs,
            primary: None,
            primary_private: None,
            primary_shared: None,
            backup: None,
            backup_active: false,
            backup_private: None,
            backup_shared: None,
            reservation_conflict_action: None,
            nat_router: None,
            nat_nmask: None,
            active_cmd: None,
            inactive_cmd: None,
            monitor_links: false,
            debug_level: "NONE".to_string(),
            hard_shutdown: true,
            ipvsadm: "/sbin/ipvsadm".to_string(),
            keepalive: Duration::from_secs(2),
            deadtime: Duration::from_secs(5),
            rsh_command: "rsh".to_string(),
            syncdaemon: false,
            syncd_iface: "eth0".to_string(),
            syncd_id: 0,
            tcp_timeout: Duration::ZERO,
            tcpfin_timeout: Duration::ZERO,
            udp_timeout: Duration::ZERO,
            heartbeat: false,
            heartbeat_port: 539,
            sync: false,
            network: Forwarding::Nat,
            standby: Standby::Warm,
            preempt: true,
            garp_count: 5,
            garp_interval: Duration::from_secs(1),
        }
    }
}

impl GlobalSettings {
    /// The backup's address, treating Piranha's `backup = 0.0.0.0` as "no backup".
    pub fn backup_address(&self) -> Option<IpAddr> {
        self.backup.filter(|address| !address.is_unspecified())
    }
}

/// A `virtual` (or `failover`) block: one IPVS service and its real servers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VirtualServer {
    /// The block's name, used by the UI, `shoal status` and `shoal drain VS/RS`.
    pub name: String,
    /// Whether the service is programmed at all.
    pub active: bool,
    /// The VIP and the device alias it lives on.
    pub address: Option<InterfaceAddress>,
    /// Netmask of the VIP when it is plumbed.
    pub vip_nmask: Option<Netmask>,
    /// Added with weight 1 while no real server is up.
    pub sorry_server: Option<IpAddr>,
    /// A firewall-mark service instead of VIP:port when non-zero.
    pub fwmark: u32,
    /// Transport protocol.
    pub protocol: Protocol,
    /// Service port, and real servers' port unless they set one.
    pub port: u16,
    /// IPVS scheduler.
    pub scheduler: Scheduler,
    /// shoal: scheduler flags for `sh` and `mh`.
    pub scheduler_flags: Vec<SchedulerFlag>,
    /// Persistence timeout; zero is off.
    pub persistent: Duration,
    /// Persistence netmask (`255.255.255.255` behaves as none).
    pub pmask: Option<Netmask>,
    /// Piranha's nanny path; shoal checks in-process.
    pub client_monitor: String,
    /// Check program with `%h`/`%p`; overrides `send`.
    pub send_program: Option<String>,
    /// Bytes the check sends (escapes already decoded).
    pub send: Option<String>,
    /// What the reply must start with (or match, with `use_regex`).
    pub expect: Option<String>,
    /// Treat `expect` as a POSIX extended regular expression.
    pub use_regex: bool,
    /// Check interval and the probe's own timeout.
    pub timeout: Duration,
    /// Continuous success needed before a failed server returns.
    pub reentry: Duration,
    /// Load-average based weight adjustment.
    pub load_monitor: LoadMonitor,
    /// Set weight 0 instead of removing a failed server.
    pub quiesce_server: bool,
    /// fos: start command.
    pub start_cmd: Option<String>,
    /// fos: stop command.
    pub stop_cmd: Option<String>,
    /// fos: unused host.
    pub master: Option<IpAddr>,
    /// Unused list (`dirs = [ a b ]`).
    pub dirs: Option<Vec<String>>,
    /// shoal: forwarding for this service, overriding the global `network`.
    pub forwarding: Option<Forwarding>,
    /// shoal: tunnel encapsulation for this service's real servers.
    pub tunnel_type: Option<TunnelType>,
    /// shoal: GUE destination port.
    pub tunnel_port: Option<u16>,
    /// shoal: tunnel checksum mode.
    pub tunnel_csum: Option<TunnelChecksum>,
    /// shoal: seconds a removed real server keeps weight 0 before it is deleted.
    pub drain_timeout: Duration,
    /// shoal: schedule each UDP datagram on its own (IPVS one-packet scheduling).
    pub one_packet: bool,
    /// shoal: passing probes before a server is up (default: `reentry` seconds).
    pub rise: Option<u32>,
    /// shoal: failing probes before a server is down (default 1, Piranha's).
    pub fall: u32,
    /// shoal: explicit check kind.
    pub monitor: Option<MonitorKind>,
    /// shoal: port the check connects to, when not the real server's port.
    pub monitor_port: Option<u16>,
    /// shoal: HTTP check method.
    pub http_method: String,
    /// shoal: HTTP check path.
    pub http_path: String,
    /// shoal: HTTP check Host header.
    pub http_host: Option<String>,
    /// shoal: accepted HTTP status codes.
    pub http_status: Vec<StatusRange>,
    /// shoal: regex the HTTP body must match.
    pub http_body: Option<String>,
    /// shoal: verify the HTTPS certificate.
    pub tls_verify: bool,
    /// shoal: DNS check query name.
    pub dns_name: Option<String>,
    /// shoal: DNS check query type.
    pub dns_type: DnsType,
    /// shoal: DNS check accepted response code.
    pub dns_rcode: DnsRcode,
    /// Real servers, in file order.
    pub servers: Vec<RealServer>,
}

impl VirtualServer {
    /// A block with Piranha's defaults, as an empty `virtual NAME { }` parses.
    pub fn new(name: impl Into<String>) -> Self {
        VirtualServer {
            name: name.into(),
            active: false,
            address: None,
            vip_nmask: None,
            sorry_server: None,
            fwmark: 0,
            protocol: Protocol::Tcp,
            port: 80,
            scheduler: Scheduler::Wlc,
            scheduler_flags: Vec::new(),
            persistent: Duration::ZERO,
            pmask: None,
            client_monitor: "/usr/sbin/nanny".to_string(),
            send_program: None,
            send: None,
            expect: None,
            use_regex: false,
            timeout: Duration::from_secs(10),
            reentry: Duration::from_secs(180),
            load_monitor: LoadMonitor::None,
            quiesce_server: false,
            start_cmd: None,
            stop_cmd: None,
            master: None,
            dirs: None,
            forwarding: None,
            tunnel_type: None,
            tunnel_port: None,
            tunnel_csum: None,
            drain_timeout: Duration::ZERO,
            one_packet: false,
            rise: None,
            fall: 1,
            monitor: None,
            monitor_port: None,
            http_method: "GET".to_string(),
            http_path: "/".to_string(),
            http_host: None,
            http_status: vec![StatusRange {
                low: 200,
                high: 399,
            }],
            http_body: None,
            tls_verify: false,
            dns_name: None,
            dns_type: DnsType::A,
            dns_rcode: DnsRcode::NoError,
            servers: Vec::new(),
        }
    }

    /// The forwarding method this service uses: its own, else the global one.
    pub fn forwarding_or(&self, global: Forwarding) -> Forwarding {
        self.forwarding.unwrap_or(global)
    }
}

/// A `server` block inside a virtual server.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RealServer {
    /// The block's name.
    pub name: String,
    /// The real server's address.
    pub address: Option<IpAddr>,
    /// Whether it is used at all.
    pub active: bool,
    /// IPVS weight (the kernel takes 0 to 2147483647).
    pub weight: i64,
    /// Port on the real server; defaults to the virtual server's (mapping needs NAT).
    pub port: Option<u16>,
    /// shoal: forwarding for this server only.
    pub forwarding: Option<Forwarding>,
    /// shoal: tunnel encapsulation for this server.
    pub tunnel_type: Option<TunnelType>,
    /// shoal: GUE destination port for this server.
    pub tunnel_port: Option<u16>,
    /// shoal: tunnel checksum mode for this server.
    pub tunnel_csum: Option<TunnelChecksum>,
    /// shoal: connection count above which IPVS stops sending new connections (0 = none).
    pub upper_threshold: u32,
    /// shoal: connection count below which IPVS sends again (0 = none).
    pub lower_threshold: u32,
}

impl RealServer {
    /// A block with Piranha's defaults, as an empty `server NAME { }` parses.
    pub fn new(name: impl Into<String>) -> Self {
        RealServer {
            name: name.into(),
            address: None,
            active: false,
            weight: 1,
            port: None,
            forwarding: None,
            tunnel_type: None,
            tunnel_port: None,
            tunnel_csum: None,
            upper_threshold: 0,
            lower_threshold: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netmasks_must_be_contiguous() {
        assert_eq!(
            Netmask::from_dotted(Ipv4Addr::new(255, 255, 255, 0)).map(Netmask::prefix_len),
            Some(24)
        );
        assert_eq!(Netmask::from_dotted(Ipv4Addr::new(255, 0, 255, 0)), None);
        assert_eq!(
            Netmask::from_dotted(Ipv4Addr::UNSPECIFIED).map(Netmask::prefix_len),
            Some(0)
        );
    }

    #[test]
    fn expected_lists_read_as_english() {
        assert_eq!(Protocol::expected(), "'tcp', 'udp' or 'sctp'");
    }
}
