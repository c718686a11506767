//! Property tests of the lvs.cf parser and writer.
//!
//! 1. Any model the writer can express is written (`render`) and read back unchanged.
//! 2. Written over an existing corpus file (`update`), a random model still reads back
//!    unchanged, and a small edit of a corpus model keeps every comment and touches only
//!    the lines it has to.
//! 3. No input, however broken, panics the parser or the checker, and the document
//!    always gives back the exact input bytes.

mod common;

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;
use std::time::Duration;

use proptest::option;
use proptest::prelude::*;
use proptest::sample::{Index, select};

use shoal::config::document::{Block, BlockKind, Document, Item};
use shoal::config::lexer::{plain_token, split_lines};
use shoal::config::model::{
    Config, ConflictAction, DnsRcode, DnsType, Forwarding, GlobalSettings, InterfaceAddress,
    LoadMonitor, MonitorKind, Netmask, Protocol, RealServer, Scheduler, SchedulerFlag, ServiceKind,
    Standby, StatusRange, TunnelChecksum, TunnelType, VirtualServer,
};
use shoal::config::resolve::{Resolver, StaticResolver};
use shoal::config::{self, KernelFeatures, keywords, parse, write};

/// Cases per property: enough to find the writer's corner cases, few enough that the
/// whole file runs in a few seconds in a debug build.
const CASES: u32 = 256;

fn cases(n: u32) -> ProptestConfig {
    ProptestConfig {
        cases: n,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------

/// An address from the documentation ranges (RFC 5737 and RFC 3849).
fn address() -> BoxedStrategy<IpAddr> {
    let v4 = (
        select(&[[192u8, 0, 2], [198, 51, 100], [203, 0, 113]][..]),
        any::<u8>(),
    )
        .prop_map(|(net, host)| IpAddr::V4(Ipv4Addr::new(net[0], net[1], net[2], host)));
    let v6 = any::<[u16; 6]>().prop_map(|s| {
        IpAddr::V6(Ipv6Addr::new(
            0x2001, 0x0db8, s[0], s[1], s[2], s[3], s[4], s[5],
        ))
    });
    prop_oneof![3 => v4, 1 => v6].boxed()
}

/// Seconds the kernel takes whole (`persistent`, `*_timeout`): lvs.cf reads them as
/// an unsigned 32-bit integer, so nothing above `u32::MAX` is expressible.
fn whole_seconds() -> BoxedStrategy<Duration> {
    prop_oneof![Just(0u64), 0u64..=100_000, Just(u64::from(u32::MAX)),]
        .prop_map(Duration::from_secs)
        .boxed()
}

/// Seconds shoal accepts with decimals (`keepalive = 0.5`). The whole part is still at
/// most `u32::MAX`: a whole number is read as a 32-bit integer, so `4294967296` (with
/// no fraction) cannot be written.
fn decimal_seconds() -> BoxedStrategy<Duration> {
    let nanos = prop_oneof![
        Just(0u32),
        Just(500_000_000),
        Just(100_000_000),
        Just(250_000_000),
        Just(1),
        0u32..1_000_000_000,
    ];
    (
        prop_oneof![Just(0u64), 0u64..=3600, Just(u64::from(u32::MAX))],
        nanos,
    )
        .prop_map(|(secs, nanos)| Duration::new(secs, nanos))
        .boxed()
}

fn netmask() -> BoxedStrategy<Netmask> {
    prop_oneof![
        (0u32..=32).prop_map(|len| {
            let bits = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            Netmask::Dotted(Ipv4Addr::from(bits))
        }),
        (0u8..=128).prop_map(Netmask::Prefix),
    ]
    .boxed()
}

/// Plain text (commands, paths, devices): a safe alphabet with blanks, `#`, braces and
/// brackets, which the writer quotes when needed; or any string the writer can carry
/// in one token. A value with a line break, or with blanks and both kinds of quote (or
/// a trailing backslash inside quotes), has no lvs.cf spelling: `plain_token` says so
/// and the writer refuses it, so such values are not generated.
fn plain_text() -> BoxedStrategy<String> {
    prop_oneof![
        4 => "[ A-Za-z0-9/_.:%=+,@#{}\\[\\]-]{0,24}",
        1 => any::<String>().prop_filter("lvs.cf cannot carry it", |s| plain_token(s).is_some()),
    ]
    .boxed()
}

/// A network device: what `interface_address` accepts (1 to 15 bytes, no `/`).
fn device() -> BoxedStrategy<String> {
    prop_oneof![
        3 => "eth[0-9](:[0-9]{1,3})?",
        1 => "[A-Za-z0-9_.:@ -]{1,15}",
    ]
    .boxed()
}

fn interface_address() -> BoxedStrategy<InterfaceAddress> {
    (address(), device())
        .prop_map(|(address, device)| InterfaceAddress { address, device })
        .boxed()
}

/// `send`/`expect`: anything at all; the writer escapes what needs it.
fn probe_text() -> BoxedStrategy<String> {
    prop_oneof![any::<String>(), r#"[\r\n\t"'\\ a-z#=é€😀\x0b\x00]{0,20}"#,].boxed()
}

/// `load_monitor`: a command spelt like one of the keywords would read back as the
/// keyword, so such commands are not generated (the model has two spellings of them).
fn load_monitor() -> BoxedStrategy<LoadMonitor> {
    prop_oneof![
        Just(LoadMonitor::None),
        Just(LoadMonitor::Uptime),
        Just(LoadMonitor::Rup),
        Just(LoadMonitor::Ruptime),
        plain_text()
            .prop_filter("a keyword, not a command", |s| {
                !["none", "uptime", "rup", "ruptime"].contains(&s.as_str())
            })
            .prop_map(LoadMonitor::Command),
    ]
    .boxed()
}

/// `http_status`: at least one range, since an empty list is not written and reads
/// back as the default `200-399`.
fn status_ranges() -> BoxedStrategy<Vec<StatusRange>> {
    prop::collection::vec(
        (100u16..=599, 100u16..=599).prop_map(|(a, b)| StatusRange {
            low: a.min(b),
            high: a.max(b),
        }),
        1..4,
    )
    .boxed()
}

fn name() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9_.-]{0,12}"
}

/// Makes the names of one level unique, as an administrator would (the writer does
/// not need it, but pairing old and new blocks by name is only realistic with it).
fn unique_names<'a>(names: impl Iterator<Item = &'a mut String>) {
    let mut seen = HashSet::new();
    for (i, name) in names.enumerate() {
        while !seen.insert(name.clone()) {
            name.push_str(&format!("-{i}"));
        }
    }
}

// ---------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------

fn global_settings() -> BoxedStrategy<GlobalSettings> {
    let addresses = (
        any::<u64>(),
        select(ServiceKind::ALL),
        option::of(address()),
        option::of(address()),
        option::of(plain_text()),
        option::of(address()),
        any::<bool>(),
        option::of(address()),
        option::of(plain_text()),
        option::of(select(ConflictAction::ALL)),
        option::of(interface_address()),
        option::of(netmask()),
    );
    let commands = (
        option::of(plain_text()),
        option::of(plain_text()),
        any::<bool>(),
        plain_text(),
        any::<bool>(),
        plain_text(),
        decimal_seconds(),
        decimal_seconds(),
        plain_text(),
        any::<bool>(),
        plain_text(),
        any::<u32>(),
    );
    let rest = (
        whole_seconds(),
        whole_seconds(),
        whole_seconds(),
        any::<bool>(),
        any::<u16>(),
        any::<bool>(),
        select(Forwarding::ALL),
        select(Standby::ALL),
        any::<bool>(),
        any::<u32>(),
        decimal_seconds(),
    );
    (addresses.boxed(), commands.boxed(), rest.boxed())
        .prop_map(
            |(
                (
                    serial_no,
                    service,
                    primary,
                    primary_private,
                    primary_shared,
                    backup,
                    backup_active,
                    backup_private,
                    backup_shared,
                    reservation_conflict_action,
                    nat_router,
                    nat_nmask,
                ),
                (
                    active_cmd,
                    inactive_cmd,
                    monitor_links,
                    debug_level,
                    hard_shutdown,
                    ipvsadm,
                    keepalive,
                    deadtime,
                    rsh_command,
                    syncdaemon,
                    syncd_iface,
                    syncd_id,
                ),
                (
                    tcp_timeout,
                    tcpfin_timeout,
                    udp_timeout,
                    heartbeat,
                    heartbeat_port,
                    sync,
                    network,
                    standby,
                    preempt,
                    garp_count,
                    garp_interval,
                ),
            )| GlobalSettings {
                serial_no,
                service,
                primary,
                primary_private,
                primary_shared,
                backup,
                backup_active,
                backup_private,
                backup_shared,
                reservation_conflict_action,
                nat_router,
                nat_nmask,
                active_cmd,
                inactive_cmd,
                monitor_links,
                debug_level,
                hard_shutdown,
                ipvsadm,
                keepalive,
                deadtime,
                rsh_command,
                syncdaemon,
                syncd_iface,
                syncd_id,
                tcp_timeout,
                tcpfin_timeout,
                udp_timeout,
                heartbeat,
                heartbeat_port,
                sync,
                network,
                standby,
                preempt,
                garp_count,
                garp_interval,
            },
        )
        .boxed()
}

fn real_server() -> BoxedStrategy<RealServer> {
    (
        name(),
        option::of(address()),
        any::<bool>(),
        prop_oneof![Just(1i64), 0i64..=100, any::<i64>()],
        option::of(any::<u16>()),
        option::of(select(Forwarding::ALL)),
        option::of(select(TunnelType::ALL)),
        option::of(any::<u16>()),
        option::of(select(TunnelChecksum::ALL)),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(
            |(
                name,
                address,
                active,
                weight,
                port,
                forwarding,
                tunnel_type,
                tunnel_port,
                tunnel_csum,
                upper_threshold,
                lower_threshold,
            )| RealServer {
                name,
                address,
                active,
                weight,
                port,
                forwarding,
                tunnel_type,
                tunnel_port,
                tunnel_csum,
                upper_threshold,
                lower_threshold,
            },
        )
        .boxed()
}

fn virtual_server() -> BoxedStrategy<VirtualServer> {
    let service = (
        name(),
        any::<bool>(),
        option::of(interface_address()),
        option::of(netmask()),
        option::of(address()),
        prop_oneof![Just(0u32), any::<u32>()],
        select(Protocol::ALL),
        any::<u16>(),
        select(Scheduler::ALL),
        prop::collection::vec(select(SchedulerFlag::ALL), 0..4),
        whole_seconds(),
        option::of(netmask()),
    );
    let check = (
        plain_text(),
        option::of(plain_text()),
        option::of(probe_text()),
        option::of(probe_text()),
        any::<bool>(),
        decimal_seconds(),
        decimal_seconds(),
        load_monitor(),
        any::<bool>(),
        option::of(plain_text()),
        option::of(plain_text()),
        option::of(address()),
    );
    let shoal = (
        option::of(prop::collection::vec(plain_text(), 0..4)),
        option::of(select(Forwarding::ALL)),
        option::of(select(TunnelType::ALL)),
        option::of(any::<u16>()),
        option::of(select(TunnelChecksum::ALL)),
        decimal_seconds(),
        any::<bool>(),
        option::of(any::<u32>()),
        any::<u32>(),
        option::of(select(MonitorKind::ALL)),
        option::of(any::<u16>()),
    );
    let http = (
        plain_text(),
        plain_text(),
        option::of(plain_text()),
        status_ranges(),
        option::of(plain_text()),
        any::<bool>(),
        option::of(plain_text()),
        select(DnsType::ALL),
        select(DnsRcode::ALL),
        prop::collection::vec(real_server(), 0..4),
    );
    (service.boxed(), check.boxed(), shoal.boxed(), http.boxed())
        .prop_map(
            |(
                (
                    name,
                    active,
                    address,
                    vip_nmask,
                    sorry_server,
                    fwmark,
                    protocol,
                    port,
                    scheduler,
                    scheduler_flags,
                    persistent,
                    pmask,
                ),
                (
                    client_monitor,
                    send_program,
                    send,
                    expect,
                    use_regex,
                    timeout,
                    reentry,
                    load_monitor,
                    quiesce_server,
                    start_cmd,
                    stop_cmd,
                    master,
                ),
                (
                    dirs,
                    forwarding,
                    tunnel_type,
                    tunnel_port,
                    tunnel_csum,
                    drain_timeout,
                    one_packet,
                    rise,
                    fall,
                    monitor,
                    monitor_port,
                ),
                (
                    http_method,
                    http_path,
                    http_host,
                    http_status,
                    http_body,
                    tls_verify,
                    dns_name,
                    dns_type,
                    dns_rcode,
                    mut servers,
                ),
            )| {
                unique_names(servers.iter_mut().map(|s| &mut s.name));
                VirtualServer {
                    name,
                    active,
                    address,
                    vip_nmask,
                    sorry_server,
                    fwmark,
                    protocol,
                    port,
                    scheduler,
                    scheduler_flags,
                    persistent,
                    pmask,
                    client_monitor,
                    send_program,
                    send,
                    expect,
                    use_regex,
                    timeout,
                    reentry,
                    load_monitor,
                    quiesce_server,
                    start_cmd,
                    stop_cmd,
                    master,
                    dirs,
                    forwarding,
                    tunnel_type,
                    tunnel_port,
                    tunnel_csum,
                    drain_timeout,
                    one_packet,
                    rise,
                    fall,
                    monitor,
                    monitor_port,
                    http_method,
                    http_path,
                    http_host,
                    http_status,
                    http_body,
                    tls_verify,
                    dns_name,
                    dns_type,
                    dns_rcode,
                    servers,
                }
            },
        )
        .boxed()
}

/// A model the writer must be able to express.
fn config() -> BoxedStrategy<Config> {
    (
        global_settings(),
        prop::collection::vec(virtual_server(), 0..4),
        prop::collection::vec(virtual_server(), 0..2),
    )
        .prop_map(|(global, mut virtual_servers, mut failover_services)| {
            unique_names(virtual_servers.iter_mut().map(|v| &mut v.name));
            unique_names(failover_services.iter_mut().map(|v| &mut v.name));
            Config {
                global,
                virtual_servers,
                failover_services,
            }
        })
        .boxed()
}

fn errors(parsed: &parse::Parsed) -> Vec<String> {
    parsed
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.render("lvs.cf"))
        .collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// ---------------------------------------------------------------------------------
// The corpus
// ---------------------------------------------------------------------------------

struct CorpusFile {
    name: String,
    bytes: Vec<u8>,
    loaded: config::Loaded,
}

struct Corpus {
    resolver: StaticResolver,
    files: Vec<CorpusFile>,
}

/// Every corpus file shoal accepts, read once for all properties.
fn corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let resolver = common::corpus_resolver();
        let dir = common::shared_dir().join("corpus/lvs.cf");
        let mut paths: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot read the corpus at {}: {e}", dir.display()))
            .map(|entry| entry.expect("directory entry").path())
            .filter(|path| path.extension().is_some_and(|e| e == "cf"))
            .collect();
        paths.sort();
        let files: Vec<CorpusFile> = paths
            .into_iter()
            .filter_map(|path| {
                let bytes = std::fs::read(&path).expect("corpus file");
                let loaded = config::check(&bytes, &resolver, &KernelFeatures::unknown());
                (!loaded.has_errors()).then(|| CorpusFile {
                    name: path
                        .file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into(),
                    bytes,
                    loaded,
                })
            })
            .collect();
        assert!(
            files.len() >= 20,
            "only {} accepted corpus files",
            files.len()
        );
        Corpus { resolver, files }
    })
}

/// Which list of blocks a block is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    Virtual,
    Failover,
}

fn group_of(config: &mut Config, group: Group) -> &mut Vec<VirtualServer> {
    match group {
        Group::Virtual => &mut config.virtual_servers,
        Group::Failover => &mut config.failover_services,
    }
}

/// A small edit an administrator (or the web UI) makes.
#[derive(Debug, Clone)]
enum Mutation {
    Weight {
        file: usize,
        group: Group,
        block: usize,
        server: usize,
        weight: i64,
    },
    ToggleServer {
        file: usize,
        group: Group,
        block: usize,
        server: usize,
    },
    ToggleBlock {
        file: usize,
        group: Group,
        block: usize,
    },
    Rename {
        file: usize,
        group: Group,
        block: usize,
        name: String,
    },
    AddServer {
        file: usize,
        group: Group,
        block: usize,
        server: RealServer,
    },
    RemoveServer {
        file: usize,
        group: Group,
        block: usize,
        server: usize,
    },
}

/// A block of the corpus: (file, group, block).
type BlockPlace = (usize, Group, usize);
/// A server of the corpus: (file, group, block, server).
type ServerPlace = (usize, Group, usize, usize);

/// Every block and every server of the corpus.
fn corpus_places() -> (Vec<BlockPlace>, Vec<ServerPlace>) {
    let mut blocks = Vec::new();
    let mut servers = Vec::new();
    for (f, file) in corpus().files.iter().enumerate() {
        let config = &file.loaded.config;
        for (group, list) in [
            (Group::Virtual, &config.virtual_servers),
            (Group::Failover, &config.failover_services),
        ] {
            for (b, block) in list.iter().enumerate() {
                blocks.push((f, group, b));
                for s in 0..block.servers.len() {
                    servers.push((f, group, b, s));
                }
            }
        }
    }
    (blocks, servers)
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let (blocks, servers) = corpus_places();
    let block = select(blocks);
    let server = select(servers);
    prop_oneof![
        (server.clone(), prop_oneof![0i64..=100, any::<i64>()]).prop_map(
            |((file, group, block, server), weight)| Mutation::Weight {
                file,
                group,
                block,
                server,
                weight,
            }
        ),
        server
            .clone()
            .prop_map(|(file, group, block, server)| Mutation::ToggleServer {
                file,
                group,
                block,
                server,
            }),
        block
            .clone()
            .prop_map(|(file, group, block)| Mutation::ToggleBlock { file, group, block }),
        (block.clone(), name()).prop_map(|((file, group, block), name)| Mutation::Rename {
            file,
            group,
            block,
            name,
        }),
        (block, real_server()).prop_map(|((file, group, block), server)| {
            Mutation::AddServer {
                file,
                group,
                block,
                server,
            }
        }),
        server.prop_map(|(file, group, block, server)| Mutation::RemoveServer {
            file,
            group,
            block,
            server,
        }),
    ]
}

/// What a mutation may do to the file's lines: at most so many deleted and inserted
/// (comparing line contents), and which block's lines may go.
struct Allowance {
    deleted: usize,
    inserted: usize,
    removed_block: Option<(Group, usize, usize)>,
}

/// Applies the mutation; returns the file it applies to, the new model and what it
/// may change.
fn apply(mutation: &Mutation) -> (&'static CorpusFile, Config, Allowance) {
    // A changed block that was never closed (Piranha accepts that at the end of the
    // file) gets its `}`: one more line.
    let small = |file: &CorpusFile| Allowance {
        deleted: 1,
        inserted: 1 + usize::from(ends_unclosed(&file.loaded.document)),
        removed_block: None,
    };
    match mutation {
        Mutation::Weight {
            file,
            group,
            block,
            server,
            weight,
        } => {
            let file = &corpus().files[*file];
            let mut config = file.loaded.config.clone();
            let target = &mut group_of(&mut config, *group)[*block].servers[*server];
            target.weight = if target.weight == *weight {
                weight.wrapping_add(1)
            } else {
                *weight
            };
            (file, config, small(file))
        }
        Mutation::ToggleServer {
            file,
            group,
            block,
            server,
        } => {
            let file = &corpus().files[*file];
            let mut config = file.loaded.config.clone();
            let target = &mut group_of(&mut config, *group)[*block].servers[*server];
            target.active = !target.active;
            (file, config, small(file))
        }
        Mutation::ToggleBlock { file, group, block } => {
            let file = &corpus().files[*file];
            let mut config = file.loaded.config.clone();
            let target = &mut group_of(&mut config, *group)[*block];
            target.active = !target.active;
            (file, config, small(file))
        }
        Mutation::Rename {
            file,
            group,
            block,
            name,
        } => {
            let file = &corpus().files[*file];
            let mut config = file.loaded.config.clone();
            let list = group_of(&mut config, *group);
            let mut name = name.clone();
            while list.iter().any(|v| v.name == name) {
                name.push('x');
            }
            list[*block].name = name;
            (file, config, small(file))
        }
        Mutation::AddServer {
            file,
            group,
            block,
            server,
        } => {
            let file = &corpus().files[*file];
            let mut config = file.loaded.config.clone();
            let target = &mut group_of(&mut config, *group)[*block];
            let mut server = server.clone();
            while target.servers.iter().any(|s| s.name == server.name) {
                server.name.push('x');
            }
            target.servers.push(server);
            let allowance = Allowance {
                deleted: 0,
                inserted: usize::MAX,
                removed_block: None,
            };
            (file, config, allowance)
        }
        Mutation::RemoveServer {
            file,
            group,
            block,
            server,
        } => {
            let file = &corpus().files[*file];
            let mut config = file.loaded.config.clone();
            group_of(&mut config, *group)[*block]
                .servers
                .remove(*server);
            // The block's lines, and the blank line that separated it when another
            // (or the end of its body) follows.
            let allowance = Allowance {
                deleted: 1,
                inserted: usize::from(ends_unclosed(&file.loaded.document)),
                removed_block: Some((*group, *block, *server)),
            };
            (file, config, allowance)
        }
    }
}

fn ends_unclosed(document: &Document) -> bool {
    fn unclosed(items: &[Item]) -> bool {
        items.iter().any(|item| match item {
            Item::Block(block) => block.close.is_none() || unclosed(&block.items),
            Item::Line(_) => false,
        })
    }
    unclosed(&document.items)
}

fn is_comment(content: &[u8]) -> bool {
    content
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\x0b' | b'\x0c'))
        == Some(&b'#')
}

/// The comment lines of a document in order, and the lines of the block `skip` (the
/// server that is removed), which may go.
fn comments_and_skipped(
    document: &Document,
    skip: Option<(Group, usize, usize)>,
) -> (Vec<Vec<u8>>, usize) {
    fn block_lines(block: &Block, out: &mut Vec<Vec<u8>>) {
        out.push(block.header.content.clone());
        for item in &block.items {
            match item {
                Item::Line(line) => out.push(line.content.clone()),
                Item::Block(inner) => block_lines(inner, out),
            }
        }
        if let Some(close) = &block.close {
            out.push(close.content.clone());
        }
    }
    let mut comments = Vec::new();
    let mut skipped = 0;
    let (mut virtuals, mut failovers) = (0, 0);
    for item in &document.items {
        let Item::Block(block) = item else {
            if let Item::Line(line) = item
                && is_comment(&line.content)
            {
                comments.push(line.content.clone());
            }
            continue;
        };
        let place = match block.kind {
            BlockKind::Virtual => {
                virtuals += 1;
                Some((Group::Virtual, virtuals - 1))
            }
            BlockKind::Failover => {
                failovers += 1;
                Some((Group::Failover, failovers - 1))
            }
            BlockKind::Server => None,
        };
        let mut servers = 0;
        let mut lines = Vec::new();
        lines.push(block.header.content.clone());
        for inner in &block.items {
            match inner {
                Item::Line(line) => lines.push(line.content.clone()),
                Item::Block(server) => {
                    let this = place.map(|(g, b)| (g, b, servers));
                    servers += 1;
                    let mut server_lines = Vec::new();
                    block_lines(server, &mut server_lines);
                    if this.is_some() && this == skip {
                        skipped += server_lines.len();
                    } else {
                        lines.extend(server_lines);
                    }
                }
            }
        }
        if let Some(close) = &block.close {
            lines.push(close.content.clone());
        }
        comments.extend(lines.into_iter().filter(|l| is_comment(l)));
    }
    (comments, skipped)
}

/// Whether `needle` is a subsequence of `haystack`.
fn in_order(needle: &[Vec<u8>], haystack: &[Vec<u8>]) -> bool {
    let mut rest = haystack.iter();
    needle.iter().all(|n| rest.any(|h| h == n))
}

/// Lines deleted from `a` and inserted into `b` by a minimal line diff.
fn diff_counts(a: &[Vec<u8>], b: &[Vec<u8>]) -> (usize, usize) {
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let common = lcs[0][0];
    (a.len() - common, b.len() - common)
}

fn lines(bytes: &[u8]) -> Vec<Vec<u8>> {
    split_lines(bytes)
        .into_iter()
        .map(|l| l.content.to_vec())
        .collect()
}

// ---------------------------------------------------------------------------------
// lvs.cf-like text
// ---------------------------------------------------------------------------------

fn keyword_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = keywords::names(keywords::GLOBAL)
        .chain(keywords::names(keywords::VIRTUAL))
        .chain(keywords::names(keywords::SERVER))
        .collect();
    names.extend(["virtual", "failover", "server", "global_defs"]);
    names
}

fn token() -> BoxedStrategy<String> {
    prop_oneof![
        4 => select(keyword_names()).prop_map(str::to_string),
        3 => select(&["=", "{", "}", "[", "]", "#", "\"", "'", "=80", "{x", "}}"][..])
            .prop_map(str::to_string),
        3 => select(
            &[
                "0", "1", "2", "-1", "0x1f", "010", "08", "0.5", ".5", "5.", "1.0000000001",
                "4294967296", "99999999999999999999999999999999", "192.0.2.1", "2001:db8::1",
                "0.0.0.0", "255.255.255.0", "255.0.255.0", "24", "129", "eth0:1", "http",
                "lvs1.example.net", "nat", "direct", "tunnel", "wlc", "sh-port", "200-399",
                "599-100", "none", "uptime", "A", "NOERROR", "tcp", "sctp", "lvs", "fos",
            ][..]
        )
        .prop_map(str::to_string),
        2 => r#""([^"\\\r\n]|\\.){0,8}"?"#,
        1 => r#"'([^'\\\r\n]|\\.){0,8}'?"#,
        1 => "#[^\r\n]{0,10}",
        1 => "[^ \t\r\n]{1,6}",
    ]
    .boxed()
}

fn line() -> BoxedStrategy<String> {
    let blank = select(&["", " ", "  ", "\t", "\x0b", "\x0c", " \t"][..]);
    let separator = select(&[" ", " ", " ", "\t", "  ", "", "\x0c"][..]);
    let ending = select(&["\n", "\n", "\n", "\r\n", "\r", ""][..]);
    let tokens = prop::collection::vec((separator, token()), 0..6).prop_map(|tokens| {
        tokens
            .into_iter()
            .enumerate()
            .map(|(i, (sep, t))| if i == 0 { t } else { format!("{sep}{t}") })
            .collect::<String>()
    });
    let directive = (select(keyword_names()), token()).prop_map(|(k, v)| format!("{k} = {v}"));
    let header = (
        select(&["virtual", "failover", "server"][..]),
        name(),
        select(&[" {", "{", "", " { x", " x"][..]),
    )
        .prop_map(|(k, n, b)| format!("{k} {n}{b}"));
    let body = prop_oneof![
        4 => directive,
        3 => tokens,
        2 => header,
        2 => Just("}".to_string()),
        1 => "#[^\r\n]{0,20}",
    ];
    (blank, body, ending)
        .prop_map(|(blank, body, ending)| format!("{blank}{body}{ending}"))
        .boxed()
}

/// A small textual edit of a file.
#[derive(Debug, Clone)]
enum Edit {
    Insert(Index, String),
    Delete(Index),
    Duplicate(Index),
    Ending(Index, &'static str),
    Indent(Index, &'static str),
    Append(Index, &'static str),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<Index>(), line()).prop_map(|(i, l)| Edit::Insert(i, l)),
        any::<Index>().prop_map(Edit::Delete),
        any::<Index>().prop_map(Edit::Duplicate),
        (any::<Index>(), select(&["\n", "\r\n", "\r", ""][..]))
            .prop_map(|(i, e)| Edit::Ending(i, e)),
        (any::<Index>(), select(&["", " ", "\t", "\x0b", "  \t"][..]))
            .prop_map(|(i, b)| Edit::Indent(i, b)),
        (
            any::<Index>(),
            select(&[" # note", "\t#", " x", " {", " }", " \"", " '", "\\"][..])
        )
            .prop_map(|(i, t)| Edit::Append(i, t)),
    ]
}

/// Applies edits to the lines (endings included) of a file.
fn edited(bytes: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut lines: Vec<(Vec<u8>, Vec<u8>)> = split_lines(bytes)
        .into_iter()
        .map(|l| (l.content.to_vec(), l.ending.to_vec()))
        .collect();
    for edit in edits {
        if lines.is_empty() {
            if let Edit::Insert(_, line) = edit {
                lines.push((line.clone().into_bytes(), Vec::new()));
            }
            continue;
        }
        match edit {
            Edit::Insert(i, line) => {
                let at = i.index(lines.len() + 1);
                let line = line.clone();
                lines.insert(at, (line.into_bytes(), Vec::new()));
            }
            Edit::Delete(i) => {
                lines.remove(i.index(lines.len()));
            }
            Edit::Duplicate(i) => {
                let at = i.index(lines.len());
                let copy = lines[at].clone();
                lines.insert(at, copy);
            }
            Edit::Ending(i, ending) => {
                let at = i.index(lines.len());
                lines[at].1 = ending.as_bytes().to_vec();
            }
            Edit::Indent(i, blank) => {
                let at = i.index(lines.len());
                let line = &mut lines[at].0;
                let start = line
                    .iter()
                    .take_while(|b| matches!(b, b' ' | b'\t'))
                    .count();
                line.splice(..start, blank.bytes());
            }
            Edit::Append(i, tail) => {
                let at = i.index(lines.len());
                lines[at].0.extend_from_slice(tail.as_bytes());
            }
        }
    }
    lines
        .into_iter()
        .flat_map(|(content, ending)| [content, ending])
        .flatten()
        .collect()
}

/// lvs.cf-like text: random lines of keywords, braces, quotes and values; or a valid
/// file (rendered from a random model, or from the corpus) with a few lines edited, so
/// that many inputs are accepted and reach the deeper paths.
fn lvs_cf_like() -> impl Strategy<Value = Vec<u8>> {
    let random = prop::collection::vec(line(), 0..40).prop_map(|lines| lines.concat().into_bytes());
    let rendered = config().prop_filter_map("renders", |model| {
        write::render(&model, &StaticResolver::default()).ok()
    });
    let corpus_file = any::<Index>().prop_map(|i| i.get(&corpus().files).bytes.clone());
    let valid = prop_oneof![rendered, corpus_file];
    let edits = prop::collection::vec(edit(), 0..4);
    prop_oneof![
        2 => random,
        3 => (valid, edits).prop_map(|(bytes, edits)| edited(&bytes, &edits)),
    ]
}

/// Whether a block name reads back as itself when written unquoted.
fn is_word(name: &str) -> bool {
    matches!(shoal::config::lexer::tokenize(name).as_deref(), Ok([t]) if t.quote.is_none() && t.text == name)
}

fn never_panics_and_keeps_every_byte(input: &[u8]) -> Result<(), TestCaseError> {
    let resolver = corpus().resolver.clone();
    let parsed = parse::parse(input, &resolver);
    prop_assert_eq!(parsed.document.to_bytes(), input);
    let loaded = config::check(input, &resolver, &KernelFeatures::unknown());
    prop_assert_eq!(loaded.document.to_bytes(), input);
    if parsed.has_errors() {
        return Ok(());
    }
    // An accepted file written back unchanged is the same file, and its model can be
    // written from scratch, unless a block's name is not a single word (`virtual "a b"`),
    // which the writer refuses by design.
    let unchanged = write::update(&parsed.document, &parsed.config, &parsed.config, &resolver);
    let unchanged = unchanged.map_err(|e| TestCaseError::fail(format!("{e}")))?;
    prop_assert_eq!(unchanged.as_slice(), input);
    let names_are_words = parsed
        .config
        .virtual_servers
        .iter()
        .chain(&parsed.config.failover_services)
        .all(|v| is_word(&v.name) && v.servers.iter().all(|s| is_word(&s.name)));
    match write::render(&parsed.config, &resolver) {
        Ok(bytes) => {
            let again = parse::parse(&bytes, &resolver);
            prop_assert!(errors(&again).is_empty(), "{:?}", errors(&again));
            prop_assert_eq!(&again.config, &parsed.config);
        }
        Err(e) => prop_assert!(!names_are_words, "{e}\ninput:\n{}", text(input)),
    }
    grows(input, &parsed, &resolver)
}

/// A name not among `taken`.
fn fresh_name<'a>(taken: impl Iterator<Item = &'a str> + Clone) -> String {
    (0..)
        .map(|i| format!("added{i}"))
        .find(|name| !taken.clone().any(|t| t == name))
        .unwrap_or_default()
}

/// Blocks added to an accepted file, whatever its shape (even one that ends inside a
/// block, as Piranha allows), are written into it: a new virtual block, a new failover
/// block, and a new server in each block in turn.
fn grows(
    input: &[u8],
    parsed: &parse::Parsed,
    resolver: &StaticResolver,
) -> Result<(), TestCaseError> {
    let old = &parsed.config;
    let mut changes = Vec::new();
    let mut new = old.clone();
    let name = fresh_name(old.virtual_servers.iter().map(|v| v.name.as_str()));
    new.virtual_servers.push(VirtualServer::new(name));
    changes.push(new);
    let mut new = old.clone();
    let name = fresh_name(old.failover_services.iter().map(|v| v.name.as_str()));
    new.failover_services.push(VirtualServer::new(name));
    changes.push(new);
    for group in [Group::Virtual, Group::Failover] {
        let count = group_of(&mut old.clone(), group).len();
        for block in 0..count {
            let mut new = old.clone();
            let target = &mut group_of(&mut new, group)[block];
            let name = fresh_name(target.servers.iter().map(|s| s.name.as_str()));
            target.servers.push(RealServer::new(name));
            changes.push(new);
        }
    }
    for new in changes {
        let bytes = write::update(&parsed.document, old, &new, resolver)
            .map_err(|e| TestCaseError::fail(format!("{e}\ninput:\n{}", text(input))))?;
        let again = parse::parse(&bytes, resolver);
        prop_assert!(errors(&again).is_empty(), "{:?}", errors(&again));
        prop_assert_eq!(&again.config, &new);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------

proptest! {
    #![proptest_config(cases(CASES))]

    /// 1a: any expressible model is written and read back as itself.
    #[test]
    fn rendered_models_read_back(model in config()) {
        let resolver = StaticResolver::default();
        let bytes = write::render(&model, &resolver)
            .map_err(|e| TestCaseError::fail(format!("{e}")))?;
        let parsed = parse::parse(&bytes, &resolver);
        prop_assert!(errors(&parsed).is_empty(), "{:?}\n{}", errors(&parsed), text(&bytes));
        prop_assert_eq!(&parsed.config, &model, "{}", text(&bytes));
        prop_assert_eq!(parsed.document.to_bytes(), bytes);
    }

    /// 2a: a random model written over an accepted corpus file reads back as itself.
    #[test]
    fn models_written_over_corpus_files_read_back(
        file in any::<Index>(),
        model in config(),
    ) {
        let corpus = corpus();
        let file = file.get(&corpus.files);
        let resolver: &dyn Resolver = &corpus.resolver;
        let bytes = write::update(&file.loaded.document, &file.loaded.config, &model, resolver)
            .map_err(|e| TestCaseError::fail(format!("{}: {e}", file.name)))?;
        let parsed = parse::parse(&bytes, resolver);
        prop_assert!(errors(&parsed).is_empty(), "{}: {:?}\n{}", file.name, errors(&parsed), text(&bytes));
        prop_assert_eq!(&parsed.config, &model, "{}:\n{}", file.name, text(&bytes));
        // And back again: the corpus model written over the new file is the corpus model.
        let back = write::update(&parsed.document, &parsed.config, &file.loaded.config, resolver)
            .map_err(|e| TestCaseError::fail(format!("{} back: {e}", file.name)))?;
        prop_assert_eq!(&parse::parse(&back, resolver).config, &file.loaded.config);
    }

    /// 2b: a small edit keeps every comment, in order, and touches only its own lines.
    #[test]
    fn small_edits_touch_only_their_lines(mutation in mutation()) {
        let (file, model, allowance) = apply(&mutation);
        let resolver = &corpus().resolver;
        let bytes = write::update(&file.loaded.document, &file.loaded.config, &model, resolver)
            .map_err(|e| TestCaseError::fail(format!("{}: {e}", file.name)))?;
        let parsed = parse::parse(&bytes, resolver);
        prop_assert!(errors(&parsed).is_empty(), "{}: {:?}", file.name, errors(&parsed));
        prop_assert_eq!(&parsed.config, &model, "{}", file.name);

        let before = lines(&file.bytes);
        let after = lines(&bytes);
        let (comments, skipped) =
            comments_and_skipped(&file.loaded.document, allowance.removed_block);
        prop_assert!(
            in_order(&comments, &after),
            "{}: comments lost or reordered:\n{}", file.name, text(&bytes)
        );
        let (deleted, inserted) = diff_counts(&before, &after);
        prop_assert!(
            deleted <= allowance.deleted + skipped && inserted <= allowance.inserted,
            "{}: {:?} deleted {deleted} and inserted {inserted} lines:\n{}",
            file.name, mutation, text(&bytes)
        );
    }

    /// 3a: arbitrary bytes never panic the parser or the checker and are kept exactly.
    #[test]
    fn arbitrary_bytes_are_kept(input in prop::collection::vec(any::<u8>(), 0..2000)) {
        never_panics_and_keeps_every_byte(&input)?;
    }

    /// 3b: lvs.cf-like text (keywords, braces, quotes, comments, every line ending)
    /// never panics and is kept exactly; when accepted, it is written back unchanged.
    #[test]
    fn lvs_cf_like_text_is_kept(input in lvs_cf_like()) {
        never_panics_and_keeps_every_byte(&input)?;
    }
}
