//! Every lvs.cf keyword, declared once: its place, how many values it takes, its
//! default, where it comes from, how it is read and how it is written.
//!
//! The parser, the writer, `shoal check`'s did-you-mean, the web UI's help texts and the
//! generated keyword reference all read these tables, so they cannot drift apart.

use super::lexer::Token;
use super::model::{
    ConflictAction, DnsRcode, DnsType, Forwarding, GlobalSettings, MonitorKind, Protocol,
    RealServer, Scheduler, SchedulerFlag, ServiceKind, Standby, TunnelChecksum, TunnelType,
    VirtualServer,
};
use super::values::{self as v, ParseContext, ValueError};

/// How many value tokens follow `keyword =`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    /// Exactly this many (Piranha's `CHECK_ARGS(n)`).
    Exactly(usize),
    /// A list of at least one value.
    OneOrMore,
    /// `[ a b c ]`, brackets as tokens of their own.
    BracketList,
}

/// Where a keyword comes from, which decides what `shoal check` says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Piranha's, with the same meaning in shoal.
    Piranha,
    /// Piranha's, accepted so files load unchanged, but without effect in shoal.
    Ignored,
    /// A shoal extension; Piranha rejects it.
    Shoal,
}

/// One keyword of one kind of block (`B` is the model struct the block fills).
pub struct Keyword<B: 'static> {
    /// The keyword as written.
    pub name: &'static str,
    /// How many values it takes.
    pub arity: Arity,
    /// Piranha's, ignored, or shoal's.
    pub origin: Origin,
    /// The value when the keyword is absent, as written in the reference.
    pub default: &'static str,
    /// One sentence for the reference and the web UI.
    pub help: &'static str,
    /// Reads the value tokens into the block.
    pub set: fn(&mut B, &[Token], &mut ParseContext) -> Result<(), ValueError>,
    /// The value tokens to write; `None` when the value is unset.
    pub get: fn(&B) -> Option<Vec<String>>,
    /// Takes the keyword out of the block: back to its default (the value an empty
    /// block has), or unset for a keyword without one.
    pub clear: fn(&mut B),
}

/// A block as an empty `virtual NAME { }` (or the empty global section) parses: where
/// [`Keyword::clear`] takes a keyword's default from.
pub trait Blank {
    /// The empty block.
    fn blank() -> Self;
}

impl Blank for GlobalSettings {
    fn blank() -> Self {
        GlobalSettings::default()
    }
}

impl Blank for VirtualServer {
    fn blank() -> Self {
        VirtualServer::new("")
    }
}

impl Blank for RealServer {
    fn blank() -> Self {
        RealServer::new("")
    }
}

/// The empty block of the same kind as `block` (a helper for type inference in the
/// keyword macros).
fn blank_like<B: Blank>(_: &B) -> B {
    B::blank()
}

macro_rules! field {
    ($name:literal, $field:ident, $arity:expr, $origin:ident, $default:literal, $read:expr, $write:expr, $help:literal) => {
        Keyword {
            name: $name,
            arity: $arity,
            origin: Origin::$origin,
            default: $default,
            help: $help,
            set: |block, tokens, cx| {
                block.$field = ($read)(tokens, cx)?;
                Ok(())
            },
            get: |block| Some(($write)(&block.$field)).filter(|t: &Vec<String>| !t.is_empty()),
            clear: |block| block.$field = blank_like(&*block).$field,
        }
    };
}

macro_rules! optional {
    ($name:literal, $field:ident, $arity:expr, $origin:ident, $default:literal, $read:expr, $write:expr, $help:literal) => {
        Keyword {
            name: $name,
            arity: $arity,
            origin: Origin::$origin,
            default: $default,
            help: $help,
            set: |block, tokens, cx| {
                block.$field = Some(($read)(tokens, cx)?);
                Ok(())
            },
            get: |block| block.$field.as_ref().map(|value| ($write)(value)),
            clear: |block| block.$field = None,
        }
    };
}

const ONE: Arity = Arity::Exactly(1);
const TWO: Arity = Arity::Exactly(2);
const LIST: Arity = Arity::OneOrMore;

/// Keywords outside any block.
pub static GLOBAL: &[Keyword<GlobalSettings>] = &[
    field!(
        "serial_no",
        serial_no,
        ONE,
        Piranha,
        "0",
        v::unsigned64,
        v::write_number,
        "Revision of this file; every write by shoal increments it, and the pair compares it."
    ),
    field!(
        "service",
        service,
        ONE,
        Piranha,
        "lvs",
        v::choice::<ServiceKind>,
        v::write_choice,
        "lvs runs the virtual servers; fos (Piranha's failover services) is parsed but not run by shoal."
    ),
    optional!(
        "primary",
        primary,
        ONE,
        Piranha,
        "none",
        v::usable_host,
        v::write_display,
        "Public address of the primary director; the node that has it is the primary."
    ),
    optional!(
        "primary_private",
        primary_private,
        ONE,
        Piranha,
        "primary",
        v::host,
        v::write_display,
        "Second heartbeat address of the primary, on a private network."
    ),
    optional!(
        "primary_shared",
        primary_shared,
        ONE,
        Ignored,
        "none",
        v::text,
        v::write_text,
        "Piranha fos shared disk; not used by shoal."
    ),
    optional!(
        "backup",
        backup,
        ONE,
        Piranha,
        "none",
        v::host,
        v::write_display,
        "Public address of the backup director (0.0.0.0 means none)."
    ),
    field!(
        "backup_active",
        backup_active,
        ONE,
        Piranha,
        "0",
        v::boolean,
        v::write_bool,
        "1 when there is a backup director and the pair heartbeats."
    ),
    optional!(
        "backup_private",
        backup_private,
        ONE,
        Piranha,
        "backup",
        v::host,
        v::write_display,
        "Second heartbeat address of the backup, on a private network."
    ),
    optional!(
        "backup_shared",
        backup_shared,
        ONE,
        Ignored,
        "none",
        v::text,
        v::write_text,
        "Piranha fos shared disk; not used by shoal."
    ),
    optional!(
        "reservation_conflict_action",
        reservation_conflict_action,
        ONE,
        Ignored,
        "none",
        v::choice::<ConflictAction>,
        v::write_choice,
        "Piranha fos SCSI reservation handling; not used by shoal."
    ),
    optional!(
        "nat_router",
        nat_router,
        TWO,
        Piranha,
        "none",
        v::interface_address,
        v::write_interface_address,
        "Floating gateway address and device for real servers behind NAT (e.g. 198.51.100.254 eth1:1)."
    ),
    optional!(
        "nat_nmask",
        nat_nmask,
        ONE,
        Piranha,
        "none",
        v::netmask,
        v::write_display,
        "Netmask of the NAT router address."
    ),
    optional!(
        "active_cmd",
        active_cmd,
        ONE,
        Piranha,
        "none",
        v::text,
        v::write_text,
        "Command run when this node becomes active (split on blanks, no shell)."
    ),
    optional!(
        "inactive_cmd",
        inactive_cmd,
        ONE,
        Piranha,
        "none",
        v::text,
        v::write_text,
        "Command run when this node becomes inactive."
    ),
    field!(
        "monitor_links",
        monitor_links,
        ONE,
        Piranha,
        "0",
        v::switch,
        v::write_bool,
        "1 to deactivate when a heartbeat interface loses its link."
    ),
    field!(
        "debug_level",
        debug_level,
        ONE,
        Ignored,
        "NONE",
        v::text,
        v::write_text,
        "Unused by Piranha and shoal; logging is set in shoal.toml."
    ),
    field!(
        "hard_shutdown",
        hard_shutdown,
        ONE,
        Ignored,
        "1",
        v::boolean,
        v::write_bool,
        "Piranha stopped when a nanny died; shoal restarts a failed monitor instead."
    ),
    field!(
        "ipvsadm",
        ipvsadm,
        ONE,
        Ignored,
        "/sbin/ipvsadm",
        v::text,
        v::write_text,
        "Piranha's ipvsadm path; shoal talks to the kernel directly."
    ),
    field!(
        "keepalive",
        keepalive,
        ONE,
        Piranha,
        "2",
        v::decimal_seconds,
        v::write_seconds,
        "Seconds between heartbeats (decimals allowed in shoal)."
    ),
    field!(
        "deadtime",
        deadtime,
        ONE,
        Piranha,
        "5",
        v::decimal_seconds,
        v::write_seconds,
        "Seconds of silence before the peer is declared dead (decimals allowed in shoal)."
    ),
    field!(
        "rsh_command",
        rsh_command,
        ONE,
        Piranha,
        "rsh",
        v::text,
        v::write_text,
        "Remote shell for the uptime load monitor (rsh or ssh)."
    ),
    field!(
        "syncdaemon",
        syncdaemon,
        ONE,
        Piranha,
        "0",
        v::boolean,
        v::write_bool,
        "1 to run the kernel's connection sync daemon (master when active, backup when not)."
    ),
    field!(
        "syncd_iface",
        syncd_iface,
        ONE,
        Piranha,
        "eth0",
        v::text,
        v::write_text,
        "Interface the sync daemon multicasts on."
    ),
    field!(
        "syncd_id",
        syncd_id,
        ONE,
        Piranha,
        "0",
        v::unsigned,
        v::write_number,
        "Sync daemon id, 0 to 255 (the kernel keeps the low 8 bits)."
    ),
    field!(
        "tcp_timeout",
        tcp_timeout,
        ONE,
        Piranha,
        "0",
        v::seconds,
        v::write_seconds,
        "IPVS TCP session timeout in seconds; 0 leaves the kernel's value."
    ),
    field!(
        "tcpfin_timeout",
        tcpfin_timeout,
        ONE,
        Piranha,
        "0",
        v::seconds,
        v::write_seconds,
        "IPVS TCP FIN timeout in seconds; 0 leaves the kernel's value."
    ),
    field!(
        "udp_timeout",
        udp_timeout,
        ONE,
        Piranha,
        "0",
        v::seconds,
        v::write_seconds,
        "IPVS UDP timeout in seconds; 0 leaves the kernel's value."
    ),
    field!(
        "heartbeat",
        heartbeat,
        ONE,
        Ignored,
        "0",
        v::boolean,
        v::write_bool,
        "Parsed by Piranha, which heartbeats whenever backup_active = 1; so does shoal."
    ),
    field!(
        "heartbeat_port",
        heartbeat_port,
        ONE,
        Piranha,
        "539",
        v::port,
        v::write_number,
        "UDP port of the heartbeat."
    ),
    field!(
        "sync",
        sync,
        ONE,
        Ignored,
        "0",
        v::boolean,
        v::write_bool,
        "Piranha's unused file sync switch; shoal syncs with 'shoal sync push'."
    ),
    field!(
        "network",
        network,
        ONE,
        Piranha,
        "nat",
        v::choice::<Forwarding>,
        v::write_choice,
        "Forwarding method of every virtual server: nat, direct (routing) or tunnel."
    ),
    field!(
        "standby",
        standby,
        ONE,
        Shoal,
        "warm",
        v::choice::<Standby>,
        v::write_choice,
        "warm keeps IPVS and checks running on the inactive node; cold starts them on activation, as Piranha."
    ),
    field!(
        "preempt",
        preempt,
        ONE,
        Shoal,
        "1",
        v::boolean,
        v::write_bool,
        "1: the primary takes the service back from an active backup (Piranha's behaviour)."
    ),
    field!(
        "garp_count",
        garp_count,
        ONE,
        Shoal,
        "5",
        v::unsigned,
        v::write_number,
        "Gratuitous ARPs sent for each address on activation."
    ),
    field!(
        "garp_interval",
        garp_interval,
        ONE,
        Shoal,
        "1",
        v::decimal_seconds,
        v::write_seconds,
        "Seconds between gratuitous ARPs; the first goes at once."
    ),
];

/// Keywords of `virtual` and `failover` blocks.
pub static VIRTUAL: &[Keyword<VirtualServer>] = &[
    field!(
        "active",
        active,
        ONE,
        Piranha,
        "0",
        v::boolean,
        v::write_bool,
        "1 to program this virtual server."
    ),
    optional!(
        "address",
        address,
        TWO,
        Piranha,
        "none",
        v::interface_address,
        v::write_interface_address,
        "The VIP and the device alias it is added to (e.g. 192.0.2.10 eth0:1)."
    ),
    optional!(
        "vip_nmask",
        vip_nmask,
        ONE,
        Piranha,
        "none",
        v::netmask,
        v::write_display,
        "Netmask of the VIP when it is added to the device."
    ),
    optional!(
        "sorry_server",
        sorry_server,
        ONE,
        Piranha,
        "none",
        v::address_literal,
        v::write_display,
        "Address that gets the traffic (weight 1) while no real server is up."
    ),
    field!(
        "fwmark",
        fwmark,
        ONE,
        Piranha,
        "0",
        v::unsigned,
        v::write_number,
        "Firewall mark: the service matches marked packets instead of VIP:port (0 = none)."
    ),
    field!(
        "protocol",
        protocol,
        ONE,
        Piranha,
        "tcp",
        v::choice::<Protocol>,
        v::write_choice,
        "tcp, udp, or sctp (shoal)."
    ),
    field!(
        "port",
        port,
        ONE,
        Piranha,
        "80",
        v::port,
        v::write_number,
        "Service port (number or /etc/services name); real servers use it unless they set their own."
    ),
    field!(
        "scheduler",
        scheduler,
        ONE,
        Piranha,
        "wlc",
        v::choice::<Scheduler>,
        v::write_choice,
        "IPVS scheduler: lc rr wlc wrr lblc lblcr dh sh, and in shoal sed nq fo ovf mh twos."
    ),
    field!(
        "scheduler_flags",
        scheduler_flags,
        LIST,
        Shoal,
        "none",
        v::choices::<SchedulerFlag>,
        v::write_choices,
        "Flags for the sh and mh schedulers: sh-fallback sh-port mh-fallback mh-port."
    ),
    field!(
        "persistent",
        persistent,
        ONE,
        Piranha,
        "0",
        v::seconds,
        v::write_seconds,
        "Seconds a client stays on the same real server; 0 is off."
    ),
    optional!(
        "pmask",
        pmask,
        ONE,
        Piranha,
        "none",
        v::netmask,
        v::write_display,
        "Persistence netmask: clients in the same network share a real server."
    ),
    field!(
        "client_monitor",
        client_monitor,
        ONE,
        Ignored,
        "/usr/sbin/nanny",
        v::text,
        v::write_text,
        "Piranha's nanny path; shoal checks real servers itself."
    ),
    optional!(
        "send_program",
        send_program,
        ONE,
        Piranha,
        "none",
        v::text,
        v::write_text,
        "Check program (%h = real server, %p = port); its output must equal expect. Overrides send."
    ),
    optional!(
        "send",
        send,
        ONE,
        Piranha,
        "none",
        v::probe_text,
        v::write_probe_text,
        "Text the check sends after connecting (escapes \\n \\r \\t \\\\ \\' \\\")."
    ),
    optional!(
        "expect",
        expect,
        ONE,
        Piranha,
        "none",
        v::probe_text,
        v::write_probe_text,
        "What the reply must start with; * accepts any reply."
    ),
    field!(
        "use_regex",
        use_regex,
        ONE,
        Piranha,
        "0",
        v::boolean,
        v::write_bool,
        "1 to read expect as a POSIX extended regular expression."
    ),
    field!(
        "timeout",
        timeout,
        ONE,
        Piranha,
        "10",
        v::decimal_seconds,
        v::write_seconds,
        "Seconds between checks, and each check's own timeout."
    ),
    field!(
        "reentry",
        reentry,
        ONE,
        Piranha,
        "180",
        v::decimal_seconds,
        v::write_seconds,
        "Seconds a failed real server must pass checks before it is used again."
    ),
    field!(
        "load_monitor",
        load_monitor,
        ONE,
        Piranha,
        "none",
        v::load_monitor,
        v::write_load_monitor,
        "Adjust weights from the real servers' load: none, uptime, rup or ruptime."
    ),
    field!(
        "quiesce_server",
        quiesce_server,
        ONE,
        Piranha,
        "0",
        v::boolean,
        v::write_bool,
        "1 to set a failed real server's weight to 0 instead of removing it."
    ),
    optional!(
        "start_cmd",
        start_cmd,
        ONE,
        Ignored,
        "none",
        v::text,
        v::write_text,
        "Piranha fos start command; not run by shoal."
    ),
    optional!(
        "stop_cmd",
        stop_cmd,
        ONE,
        Ignored,
        "none",
        v::text,
        v::write_text,
        "Piranha fos stop command; not run by shoal."
    ),
    optional!(
        "master",
        master,
        ONE,
        Ignored,
        "none",
        v::host,
        v::write_display,
        "Unused by Piranha and shoal."
    ),
    optional!(
        "dirs",
        dirs,
        Arity::BracketList,
        Ignored,
        "none",
        v::bracket_list,
        v::write_bracket_list,
        "Unused by Piranha and shoal."
    ),
    optional!(
        "forwarding",
        forwarding,
        ONE,
        Shoal,
        "network",
        v::choice::<Forwarding>,
        v::write_choice,
        "Forwarding for this virtual server, overriding the global network: nat, direct or tunnel."
    ),
    optional!(
        "tunnel_type",
        tunnel_type,
        ONE,
        Shoal,
        "ipip",
        v::choice::<TunnelType>,
        v::write_choice,
        "Tunnel encapsulation: ipip, gue or gre."
    ),
    optional!(
        "tunnel_port",
        tunnel_port,
        ONE,
        Shoal,
        "none",
        v::port,
        v::write_number,
        "GUE destination port."
    ),
    optional!(
        "tunnel_csum",
        tunnel_csum,
        ONE,
        Shoal,
        "nocsum",
        v::choice::<TunnelChecksum>,
        v::write_choice,
        "Tunnel checksums: nocsum, csum or remcsum."
    ),
    field!(
        "drain_timeout",
        drain_timeout,
        ONE,
        Shoal,
        "0",
        v::decimal_seconds,
        v::write_seconds,
        "Seconds a removed real server keeps weight 0 before it is deleted (0 = at once)."
    ),
    field!(
        "one_packet",
        one_packet,
        ONE,
        Shoal,
        "0",
        v::boolean,
        v::write_bool,
        "1 to schedule each UDP datagram on its own."
    ),
    optional!(
        "rise",
        rise,
        ONE,
        Shoal,
        "reentry",
        v::unsigned,
        v::write_number,
        "Passing checks in a row before a real server is up (default: reentry seconds of passing)."
    ),
    field!(
        "fall",
        fall,
        ONE,
        Shoal,
        "1",
        v::unsigned,
        v::write_number,
        "Failing checks in a row before a real server is down."
    ),
    optional!(
        "monitor",
        monitor,
        ONE,
        Shoal,
        "from send/expect",
        v::choice::<MonitorKind>,
        v::write_choice,
        "Check kind: connect, send-expect, program, http, https, dns, smtp or ping."
    ),
    optional!(
        "monitor_port",
        monitor_port,
        ONE,
        Shoal,
        "real server port",
        v::port,
        v::write_number,
        "Port the check connects to, when not the real server's."
    ),
    field!(
        "http_method",
        http_method,
        ONE,
        Shoal,
        "GET",
        v::text,
        v::write_text,
        "HTTP check method."
    ),
    field!(
        "http_path",
        http_path,
        ONE,
        Shoal,
        "/",
        v::text,
        v::write_text,
        "HTTP check path."
    ),
    optional!(
        "http_host",
        http_host,
        ONE,
        Shoal,
        "real server address",
        v::text,
        v::write_text,
        "HTTP check Host header."
    ),
    field!(
        "http_status",
        http_status,
        LIST,
        Shoal,
        "200-399",
        v::status_ranges,
        v::write_status_ranges,
        "Accepted HTTP status codes and ranges."
    ),
    optional!(
        "http_body",
        http_body,
        ONE,
        Shoal,
        "none",
        v::text,
        v::write_text,
        "Regular expression the HTTP body must match."
    ),
    field!(
        "tls_verify",
        tls_verify,
        ONE,
        Shoal,
        "0",
        v::boolean,
        v::write_bool,
        "1 to verify the HTTPS check's certificate."
    ),
    optional!(
        "dns_name",
        dns_name,
        ONE,
        Shoal,
        "none",
        v::text,
        v::write_text,
        "DNS check query name."
    ),
    field!(
        "dns_type",
        dns_type,
        ONE,
        Shoal,
        "A",
        v::choice::<DnsType>,
        v::write_choice,
        "DNS check query type."
    ),
    field!(
        "dns_rcode",
        dns_rcode,
        ONE,
        Shoal,
        "NOERROR",
        v::choice::<DnsRcode>,
        v::write_choice,
        "DNS check accepted response code."
    ),
];

/// Keywords of `server` blocks.
pub static SERVER: &[Keyword<RealServer>] = &[
    optional!(
        "address",
        address,
        ONE,
        Piranha,
        "none",
        v::host,
        v::write_display,
        "The real server's address."
    ),
    field!(
        "active",
        active,
        ONE,
        Piranha,
        "0",
        v::boolean,
        v::write_bool,
        "1 to use this real server."
    ),
    field!(
        "weight",
        weight,
        ONE,
        Piranha,
        "1",
        v::signed,
        v::write_number,
        "Relative capacity, 0 to 2147483647."
    ),
    optional!(
        "port",
        port,
        ONE,
        Piranha,
        "virtual port",
        v::port,
        v::write_number,
        "Port on the real server (a different port needs NAT)."
    ),
    optional!(
        "forwarding",
        forwarding,
        ONE,
        Shoal,
        "virtual's",
        v::choice::<Forwarding>,
        v::write_choice,
        "Forwarding for this real server only."
    ),
    optional!(
        "tunnel_type",
        tunnel_type,
        ONE,
        Shoal,
        "virtual's",
        v::choice::<TunnelType>,
        v::write_choice,
        "Tunnel encapsulation for this real server."
    ),
    optional!(
        "tunnel_port",
        tunnel_port,
        ONE,
        Shoal,
        "virtual's",
        v::port,
        v::write_number,
        "GUE destination port for this real server."
    ),
    optional!(
        "tunnel_csum",
        tunnel_csum,
        ONE,
        Shoal,
        "virtual's",
        v::choice::<TunnelChecksum>,
        v::write_choice,
        "Tunnel checksums for this real server."
    ),
    field!(
        "upper_threshold",
        upper_threshold,
        ONE,
        Shoal,
        "0",
        v::unsigned,
        v::write_number,
        "Connections above which no new ones are sent (0 = no limit)."
    ),
    field!(
        "lower_threshold",
        lower_threshold,
        ONE,
        Shoal,
        "0",
        v::unsigned,
        v::write_number,
        "Connections below which new ones are sent again (0 = none)."
    ),
];

/// Finds a keyword in a table.
pub fn lookup<B>(table: &'static [Keyword<B>], name: &str) -> Option<&'static Keyword<B>> {
    table.iter().find(|k| k.name == name)
}

/// Names of a table, for suggestions.
pub fn names<B>(table: &'static [Keyword<B>]) -> impl Iterator<Item = &'static str> {
    table.iter().map(|k| k.name)
}

/// Which part of the file a keyword belongs to, if any: for "belongs in a server
/// block" messages and to tell a misplaced keyword from an unknown word.
pub fn home_of(name: &str) -> Option<&'static str> {
    if names(GLOBAL).any(|n| n == name) {
        Some("the global section")
    } else if names(VIRTUAL).any(|n| n == name) {
        Some("a virtual block")
    } else if names(SERVER).any(|n| n == name) {
        Some("a server block")
    } else {
        None
    }
}

/// The closest candidate to a misspelt keyword, if one is close enough to be meant.
pub fn suggest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misspellings_find_their_keyword() {
        assert_eq!(suggest("persistance", names(VIRTUAL)), Some("persistent"));
        assert_eq!(suggest("adress", names(VIRTUAL)), Some("address"));
        assert_eq!(suggest("global_defs", names(GLOBAL)), None);
    }

    #[test]
    fn clearing_a_keyword_gives_the_empty_block_its_value() {
        fn cleared<B: Blank + Clone>(table: &'static [Keyword<B>], set: &B) {
            let blank = B::blank();
            for keyword in table {
                let mut block = set.clone();
                (keyword.clear)(&mut block);
                assert_eq!(
                    (keyword.get)(&block),
                    (keyword.get)(&blank),
                    "{}",
                    keyword.name
                );
            }
        }
        let global = GlobalSettings {
            primary: Some("192.0.2.1".parse().expect("ip")),
            keepalive: std::time::Duration::from_secs(9),
            ..GlobalSettings::default()
        };
        cleared(GLOBAL, &global);
        let mut virtual_server = VirtualServer::new("web");
        virtual_server.port = 21;
        virtual_server.send = Some("quit".into());
        cleared(VIRTUAL, &virtual_server);
        let mut real = RealServer::new("a");
        real.weight = 5;
        real.port = Some(8080);
        cleared(SERVER, &real);
    }

    #[test]
    fn no_keyword_is_declared_twice() {
        fn unique<B>(table: &'static [Keyword<B>]) {
            let mut seen: Vec<&str> = names(table).collect();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len(), table.len());
        }
        unique(GLOBAL);
        unique(VIRTUAL);
        unique(SERVER);
    }
}
