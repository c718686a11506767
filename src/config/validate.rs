//! Semantic checks: a file can be well formed and still not do what its author meant.
//! Each finding names the line that set the value concerned.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use super::diagnostics::Diagnostic;
use super::model::{
    Config, Forwarding, MonitorKind, Netmask, Protocol, Scheduler, ServiceKind, VirtualServer,
};
use super::parse::{BlockSpan, Spans};

/// What the running kernel offers, where that can be known before talking to IPVS.
#[derive(Debug, Clone, Default)]
pub struct KernelFeatures {
    /// IPVS schedulers available (modules or built in); `None` when unknown.
    pub schedulers: Option<HashSet<Scheduler>>,
}

impl KernelFeatures {
    /// Nothing known: no kernel-dependent finding is made.
    pub fn unknown() -> Self {
        Self::default()
    }

    /// Reads the running kernel's module lists. Unknown when the kernel has no IPVS
    /// at all (the web UI may run on another machine than the director).
    pub fn detect() -> Self {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let dir = std::path::Path::new("/lib/modules").join(release.trim());
        let lists = ["modules.dep", "modules.builtin"]
            .iter()
            .filter_map(|name| std::fs::read_to_string(dir.join(name)).ok())
            .collect::<Vec<_>>()
            .join("\n");
        Self::from_module_lists(&lists)
    }

    /// Finds `ip_vs_NAME.ko` entries in the text of modules.dep / modules.builtin.
    pub fn from_module_lists(lists: &str) -> Self {
        let modules: HashSet<&str> = lists
            .split(|c: char| c.is_whitespace() || c == ':' || c == '/')
            .filter_map(|word| word.strip_prefix("ip_vs_"))
            .map(|word| word.split('.').next().unwrap_or(word))
            .collect();
        if modules.is_empty() {
            return Self::unknown();
        }
        let schedulers = Scheduler::ALL
            .iter()
            .copied()
            .filter(|s| modules.contains(s.as_str()))
            .collect();
        KernelFeatures {
            schedulers: Some(schedulers),
        }
    }
}

struct Found<'a> {
    spans: &'a Spans,
    out: Vec<Diagnostic>,
}

impl Found<'static> {
    /// For checks that read only the blocks they are given, not the file's places.
    fn detached() -> Self {
        static NO_SPANS: std::sync::LazyLock<Spans> = std::sync::LazyLock::new(Spans::default);
        Found {
            spans: &NO_SPANS,
            out: Vec::new(),
        }
    }
}

impl<'a> Found<'a> {
    fn error(&mut self, (line, column): (usize, usize), keyword: &str, message: String) {
        self.out
            .push(Diagnostic::error(line, column, Some(keyword), message));
    }

    fn warning(&mut self, (line, column): (usize, usize), keyword: &str, message: String) {
        self.out
            .push(Diagnostic::warning(line, column, Some(keyword), message));
    }
}

/// The places of one virtual server; a model edited after parsing (the web UI) may have
/// more virtual servers than the file had, and those have no places.
fn virtual_span(spans: &Spans, index: usize) -> &BlockSpan {
    static NOWHERE: std::sync::LazyLock<BlockSpan> = std::sync::LazyLock::new(BlockSpan::default);
    spans.virtual_servers.get(index).unwrap_or(&NOWHERE)
}

/// Everything a careful administrator wants to know before deploying `config`.
pub fn validate(config: &Config, spans: &Spans, kernel: &KernelFeatures) -> Vec<Diagnostic> {
    let findings = validate_parts(config, spans, kernel);
    let mut out = findings.whole_file;
    out.extend(findings.per_virtual.into_iter().flatten());
    out
}

/// The findings of [`validate`] kept apart by where they come from, so a reload that
/// changed one virtual server re-checks that block alone and keeps the others' findings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    /// Global settings and the checks that compare virtual servers with each other.
    pub whole_file: Vec<Diagnostic>,
    /// One list per virtual server, in model order: what [`validate_virtual`] found.
    pub per_virtual: Vec<Vec<Diagnostic>>,
}

/// [`validate`], keeping the findings of each virtual server apart.
pub fn validate_parts(config: &Config, spans: &Spans, kernel: &KernelFeatures) -> Findings {
    let per_virtual = config
        .virtual_servers
        .iter()
        .enumerate()
        .map(|(index, vs)| validate_virtual(config, vs, virtual_span(spans, index), kernel))
        .collect();
    Findings {
        whole_file: validate_whole_file(config, spans),
        per_virtual,
    }
}

/// The checks that are not about one virtual server alone: global settings, and the
/// virtual servers compared with each other.
pub fn validate_whole_file(config: &Config, spans: &Spans) -> Vec<Diagnostic> {
    let mut f = Found {
        spans,
        out: Vec::new(),
    };
    check_global(config, &mut f);
    let blocks: Vec<Placed> = config
        .virtual_servers
        .iter()
        .enumerate()
        .map(|(index, vs)| (vs, virtual_span(spans, index)))
        .collect();
    check_between(&blocks, &mut f);
    f.out
}

/// A virtual server and where it was written.
pub type Placed<'a> = (&'a VirtualServer, &'a BlockSpan);

/// The checks that compare virtual servers with each other: unique names, one active
/// block per kernel service, one persistence per firewall mark. `blocks` may be a view
/// of a configuration being assembled, so a reload can ask before building it.
pub fn check_between_blocks(blocks: &[Placed]) -> Vec<Diagnostic> {
    let mut f = Found::detached();
    check_between(blocks, &mut f);
    f.out
}

fn check_between(blocks: &[Placed], f: &mut Found) {
    check_names(blocks, f);
    check_service_keys(blocks, f);
    check_fwmark_persistence(blocks, f);
}

/// What one virtual server's own block gets wrong, given the global settings.
pub fn validate_virtual(
    config: &Config,
    vs: &VirtualServer,
    span: &BlockSpan,
    kernel: &KernelFeatures,
) -> Vec<Diagnostic> {
    let mut f = Found::detached();
    check_server_names(vs, span, &mut f);
    check_fwmark_without_persistence(vs, span, &mut f);
    check_virtual(config, vs, span, kernel, &mut f);
    check_monitor(vs, span, &mut f);
    check_servers(config, vs, span, &mut f);
    f.out
}

fn check_global(config: &Config, f: &mut Found) {
    let g = &config.global;
    let at = |k: &str| f.spans.global.at(k);
    if g.backup_active && g.backup_address().is_none() {
        let place = at("backup_active");
        f.warning(place, "backup_active", "backup_active = 1 but no backup address: this node runs without a backup (as Piranha did)".into());
    }
    if g.backup_active && g.primary.is_none() {
        let place = at("backup_active");
        f.error(
            place,
            "backup_active",
            "backup_active = 1 needs 'primary': without it no node can tell its role".into(),
        );
    }
    if let (Some(primary), Some(backup)) = (g.primary, g.backup_address())
        && primary == backup
    {
        let place = at("backup");
        f.error(
            place,
            "backup",
            format!("backup is the same address as primary ({primary})"),
        );
    }
    if g.keepalive.is_zero() {
        let place = at("keepalive");
        f.error(place, "keepalive", "keepalive must be more than 0".into());
    }
    if g.deadtime <= g.keepalive {
        // Point at the line that made it so: deadtime if written, else keepalive.
        let place = match f.spans.global.keywords.contains_key("deadtime") {
            true => at("deadtime"),
            false => at("keepalive"),
        };
        f.error(place, "deadtime", format!("deadtime ({} s) must be greater than keepalive ({} s), or one late heartbeat is a failover", g.deadtime.as_secs_f64(), g.keepalive.as_secs_f64()));
    }
    if g.syncd_id > 255 {
        let place = at("syncd_id");
        f.warning(
            place,
            "syncd_id",
            format!(
                "syncd_id {} is above 255; the kernel uses {} (the low 8 bits)",
                g.syncd_id,
                g.syncd_id & 0xff
            ),
        );
    }
    let any_nat = config
        .virtual_servers
        .iter()
        .any(|vs| vs.forwarding_or(g.network) == Forwarding::Nat);
    if g.nat_router.is_some() && !any_nat {
        let place = at("nat_router");
        f.warning(
            place,
            "nat_router",
            format!(
                "nat_router has no use: no virtual server uses NAT (network = {})",
                g.network
            ),
        );
    }
    if g.service == ServiceKind::Fos {
        let place = at("service");
        f.warning(place, "service", "service = fos: Piranha's failover services are not run by shoal; only virtual servers are".into());
    }
    for span in &f.spans.failover_services.clone() {
        f.warning(
            (span.line, 0),
            "failover",
            "failover blocks (Piranha's fos) are parsed and kept but not run by shoal".into(),
        );
    }
}

fn check_names(blocks: &[Placed], f: &mut Found) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (vs, span) in blocks {
        let line = span.line;
        if let Some(first) = seen.insert(&vs.name, line) {
            f.error((line, 0), "virtual", format!("virtual server name '{}' is used twice (first on line {first}); names must be unique", vs.name));
        }
    }
}

fn check_server_names(vs: &VirtualServer, span: &BlockSpan, f: &mut Found) {
    let mut servers: HashMap<&str, usize> = HashMap::new();
    for (rs, rs_span) in vs.servers.iter().zip(&span.servers) {
        if let Some(first) = servers.insert(&rs.name, rs_span.line) {
            f.error((rs_span.line, 0), "server", format!("real server name '{}' is used twice in virtual server '{}' (first on line {first})", rs.name, vs.name));
        }
    }
}

/// The kernel's identity of a service: two active virtual servers with one key collide.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ServiceKey {
    Address(IpAddr, Protocol, u16),
    Fwmark(u32, bool),
}

fn service_key(vs: &VirtualServer) -> Option<ServiceKey> {
    let address = vs.address.as_ref().map(|a| a.address);
    match (vs.fwmark, address) {
        (0, Some(address)) => Some(ServiceKey::Address(address, vs.protocol, vs.port)),
        (0, None) => None,
        (mark, address) => Some(ServiceKey::Fwmark(
            mark,
            address.is_some_and(|a| a.is_ipv6()),
        )),
    }
}

fn check_service_keys(blocks: &[Placed], f: &mut Found) {
    let mut seen: HashMap<ServiceKey, &str> = HashMap::new();
    for (vs, span) in blocks {
        if !vs.active {
            continue;
        }
        let Some(key) = service_key(vs) else { continue };
        if let Some(first) = seen.insert(key.clone(), &vs.name) {
            let (keyword, what) = match key {
                ServiceKey::Fwmark(mark, _) => ("fwmark", format!("firewall mark {mark}")),
                ServiceKey::Address(address, protocol, port) => {
                    ("address", format!("{address} {protocol} port {port}"))
                }
            };
            let place = span.at(keyword);
            f.error(place, keyword, format!("virtual servers '{first}' and '{}' are both active for the same service ({what})", vs.name));
        }
    }
}

fn check_fwmark_persistence(blocks: &[Placed], f: &mut Found) {
    let mut first: HashMap<u32, &VirtualServer> = HashMap::new();
    for (vs, span) in blocks {
        if vs.fwmark == 0 {
            continue;
        }
        match first.get(&vs.fwmark) {
            Some(other) if other.persistent != vs.persistent => f.error(
                span.at("persistent"),
                "persistent",
                format!("virtual servers '{}' and '{}' share fwmark {} but not the same persistent value", other.name, vs.name, vs.fwmark),
            ),
            Some(_) => {}
            None => {
                first.insert(vs.fwmark, vs);
            }
        }
    }
}

fn check_fwmark_without_persistence(vs: &VirtualServer, span: &BlockSpan, f: &mut Found) {
    if vs.fwmark != 0 && vs.persistent.is_zero() {
        f.warning(span.at("fwmark"), "fwmark", format!("fwmark {} without persistent: connections of one client may reach different real servers (the Red Hat guide sets persistence for firewall-mark services)", vs.fwmark));
    }
}

fn mask_fits(mask: Netmask, address: IpAddr) -> bool {
    match (mask, address) {
        (Netmask::Dotted(_), IpAddr::V6(_)) => false,
        (mask, IpAddr::V4(_)) => mask.prefix_len() <= 32,
        (mask, IpAddr::V6(_)) => mask.prefix_len() <= 128,
    }
}

fn check_virtual(
    config: &Config,
    vs: &VirtualServer,
    span: &BlockSpan,
    kernel: &KernelFeatures,
    f: &mut Found,
) {
    let vip = vs.address.as_ref().map(|a| a.address);
    if vs.active && vip.is_none() {
        f.error(
            (span.line, 0),
            "address",
            format!("active virtual server '{}' has no address", vs.name),
        );
    }
    for (keyword, mask) in [("vip_nmask", vs.vip_nmask), ("pmask", vs.pmask)] {
        if let (Some(mask), Some(vip)) = (mask, vip)
            && !mask_fits(mask, vip)
        {
            f.error(
                span.at(keyword),
                keyword,
                format!("{keyword} {mask} does not fit the address family of {vip}"),
            );
        }
    }
    if vs.pmask.is_some() && vs.persistent.is_zero() {
        f.warning(
            span.at("pmask"),
            "pmask",
            "pmask has no effect without persistent".into(),
        );
    }
    if vs.send_program.is_some() && vs.send.is_some() {
        f.warning(
            span.at("send"),
            "send",
            "send is ignored because send_program is set (as in Piranha)".into(),
        );
    }
    if vs.use_regex
        && let Some(expect) = &vs.expect
        && let Err(e) = regex::Regex::new(expect)
    {
        f.error(
            span.at("expect"),
            "expect",
            format!(
                "expect is not a valid regular expression (use_regex = 1): {}",
                first_line(&e.to_string())
            ),
        );
    }
    if let Some(sorry) = vs.sorry_server {
        if vs.servers.iter().any(|rs| rs.address == Some(sorry)) {
            f.error(
                span.at("sorry_server"),
                "sorry_server",
                format!(
                    "sorry_server {sorry} is also a real server of '{}'",
                    vs.name
                ),
            );
        }
        if vip.is_some_and(|v| v.is_ipv4() != sorry.is_ipv4()) {
            f.error(
                span.at("sorry_server"),
                "sorry_server",
                format!("sorry_server {sorry} is not of the VIP's address family"),
            );
        }
    }
    if let Some(available) = &kernel.schedulers
        && !available.contains(&vs.scheduler)
    {
        f.error(
            span.at("scheduler"),
            "scheduler",
            format!(
                "scheduler '{}' is not available in this kernel (no ip_vs_{} module)",
                vs.scheduler, vs.scheduler
            ),
        );
    }
    for flag in &vs.scheduler_flags {
        if flag.scheduler() != vs.scheduler {
            f.error(
                span.at("scheduler_flags"),
                "scheduler_flags",
                format!(
                    "scheduler flag '{flag}' is for the {} scheduler, not {}",
                    flag.scheduler(),
                    vs.scheduler
                ),
            );
        }
    }
    if vs.timeout.is_zero() {
        f.error(
            span.at("timeout"),
            "timeout",
            "timeout must be more than 0: it is the check interval".into(),
        );
    }
    if vs.fall == 0 || vs.rise == Some(0) {
        let keyword = if vs.fall == 0 { "fall" } else { "rise" };
        f.error(
            span.at(keyword),
            keyword,
            format!("{keyword} must be at least 1"),
        );
    }
    if vs.one_packet && vs.protocol != Protocol::Udp {
        f.warning(
            span.at("one_packet"),
            "one_packet",
            "one_packet only applies to UDP services".into(),
        );
    }
    let forwarding = vs.forwarding_or(config.global.network);
    if forwarding != Forwarding::Tunnel && (vs.tunnel_type.is_some() || vs.tunnel_port.is_some()) {
        f.warning(
            span.at("tunnel_type"),
            "tunnel_type",
            format!("tunnel settings have no effect with {forwarding} forwarding"),
        );
    }
    if vs.active && !vs.servers.iter().any(|rs| rs.active) && vs.sorry_server.is_none() {
        f.warning(
            (span.line, 0),
            "virtual",
            format!(
                "active virtual server '{}' has no active real server",
                vs.name
            ),
        );
    }
}

fn first_line(text: &str) -> &str {
    text.lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or(text)
        .trim()
}

fn check_monitor(vs: &VirtualServer, span: &BlockSpan, f: &mut Found) {
    let kind = vs.monitor;
    let is_http = matches!(kind, Some(MonitorKind::Http | MonitorKind::Https));
    for keyword in [
        "http_method",
        "http_path",
        "http_host",
        "http_status",
        "http_body",
        "tls_verify",
    ] {
        if span.keywords.contains_key(keyword) && !is_http {
            f.warning(
                span.at(keyword),
                keyword,
                format!("{keyword} only applies to monitor = http or https"),
            );
        }
    }
    for keyword in ["dns_name", "dns_type", "dns_rcode"] {
        if span.keywords.contains_key(keyword) && kind != Some(MonitorKind::Dns) {
            f.warning(
                span.at(keyword),
                keyword,
                format!("{keyword} only applies to monitor = dns"),
            );
        }
    }
    if let Some(body) = &vs.http_body
        && let Err(e) = regex::Regex::new(body)
    {
        f.error(
            span.at("http_body"),
            "http_body",
            format!(
                "http_body is not a valid regular expression: {}",
                first_line(&e.to_string())
            ),
        );
    }
    let missing = match kind {
        Some(MonitorKind::Program) if vs.send_program.is_none() => Some("send_program"),
        Some(MonitorKind::Dns) if vs.dns_name.is_none() => Some("dns_name"),
        Some(MonitorKind::SendExpect) if vs.send.is_none() && vs.expect.is_none() => {
            Some("send or expect")
        }
        _ => None,
    };
    if let Some(missing) = missing {
        f.error(
            span.at("monitor"),
            "monitor",
            format!(
                "monitor = {} needs {missing}",
                kind.map_or("", |k| k.as_str())
            ),
        );
    }
}

fn check_servers(config: &Config, vs: &VirtualServer, span: &BlockSpan, f: &mut Found) {
    let vip = vs.address.as_ref().map(|a| a.address);
    let empty = BlockSpan::default();
    for (index, rs) in vs.servers.iter().enumerate() {
        let rs_span = span.servers.get(index).unwrap_or(&empty);
        match (rs.address, vip) {
            (None, _) if vs.active && rs.active => {
                f.error(
                    (rs_span.line, 0),
                    "address",
                    format!("active real server '{}' has no address", rs.name),
                );
            }
            (Some(address), Some(vip)) if address.is_ipv4() != vip.is_ipv4() => {
                f.error(
                    rs_span.at("address"),
                    "address",
                    format!(
                        "real server {address} and the VIP {vip} are of different address families"
                    ),
                );
            }
            _ => {}
        }
        if !(0..=i64::from(i32::MAX)).contains(&rs.weight) {
            f.error(
                rs_span.at("weight"),
                "weight",
                format!(
                    "weight {} is outside what the kernel takes (0 to 2147483647)",
                    rs.weight
                ),
            );
        }
        let forwarding = rs
            .forwarding
            .unwrap_or(vs.forwarding_or(config.global.network));
        if let Some(port) = rs.port
            && port != vs.port
            && forwarding != Forwarding::Nat
        {
            f.error(rs_span.at("port"), "port", format!("real server port {port} differs from the virtual server's port {}: port mapping needs NAT, not {forwarding}", vs.port));
        }
        if rs.upper_threshold > 0 && rs.lower_threshold > rs.upper_threshold {
            f.error(
                rs_span.at("lower_threshold"),
                "lower_threshold",
                format!(
                    "lower_threshold {} is above upper_threshold {}",
                    rs.lower_threshold, rs.upper_threshold
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_lists_give_schedulers() {
        let lists = "kernel/net/netfilter/ipvs/ip_vs_rr.ko.xz: kernel/net/netfilter/ipvs/ip_vs.ko.xz\nkernel/net/netfilter/ipvs/ip_vs_wlc.ko:\n";
        let found = KernelFeatures::from_module_lists(lists)
            .schedulers
            .expect("known");
        assert!(found.contains(&Scheduler::Rr) && found.contains(&Scheduler::Wlc));
        assert!(!found.contains(&Scheduler::Sed));
        assert!(
            KernelFeatures::from_module_lists("kernel/fs/ext4.ko:")
                .schedulers
                .is_none()
        );
    }
}
