//! `src/net` against the host kernel, in network namespaces: addresses over rtnetlink,
//! and a failover on a bridged LAN where the announcements (`shoal send-arp`, the built
//! binary) must move a client's neighbour entry from one director's MAC to the other's.
//!
//! Needs root and a kernel with network namespaces, veth, bridge and AF_PACKET (no IPVS).
//! Every namespace is named `shoal-h-<pid>-<n>-<role>` and deleted when the test ends,
//! panic or not; addresses come from 192.0.2.0/24 and 2001:db8::/64 only.

mod netns_support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use netns_support::{Namespaces, enter, run};
use shoal::net::frame::{ALL_NODES, ALL_NODES_MAC};
use shoal::net::frame::{ARP_FRAME_LEN, ArpFrame, ETH_P_ARP, ETH_P_IPV6, NeighbourAdvert};
use shoal::net::packet::PacketSocket;
use shoal::net::{AddressChange, LinkAddress, MacAddr, NetHandle};

const SHOAL: &str = env!("CARGO_BIN_EXE_shoal");
const N1_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
const N2_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);
const CLIENT_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x0c]);
const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100);
/// The kernel ignores an ARP update within `locktime` (1 s) of the previous one.
const PAST_LOCKTIME: Duration = Duration::from_millis(1200);

/// Two directors and a client, each with `eth0` on one bridge (in a namespace of its own,
/// like a switch), with fixed MACs and addresses.
fn lan() -> Namespaces {
    let lan = Namespaces::new(&["sw", "n1", "n2", "c"]);
    lan.ip("sw", &["link", "add", "br0", "type", "bridge"]);
    lan.ip("sw", &["link", "set", "br0", "up"]);
    for (role, mac, v4, v6) in [
        ("n1", N1_MAC, "192.0.2.1/24", "2001:db8::1/64"),
        ("n2", N2_MAC, "192.0.2.2/24", "2001:db8::2/64"),
        ("c", CLIENT_MAC, "192.0.2.50/24", "2001:db8::50/64"),
    ] {
        let port = format!("p-{role}");
        let peer_ns = lan.name(role).to_string();
        lan.ip(
            "sw",
            &[
                "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &peer_ns,
            ],
        );
        lan.ip("sw", &["link", "set", &port, "master", "br0", "up"]);
        lan.ip(role, &["link", "set", "eth0", "address", &mac.to_string()]);
        lan.ip(role, &["link", "set", "eth0", "up"]);
        lan.ip(role, &["addr", "add", v4, "dev", "eth0"]);
        lan.ip(role, &["-6", "addr", "add", v6, "dev", "eth0", "nodad"]);
    }
    lan
}

/// The MAC of the client's neighbour entry for `address`, with the rest of the line.
fn client_neighbour(lan: &Namespaces, address: IpAddr) -> (Option<MacAddr>, String) {
    let family = if address.is_ipv4() { "-4" } else { "-6" };
    let line = lan.ip(
        "c",
        &[family, "neigh", "show", &address.to_string(), "dev", "eth0"],
    );
    let mac = line
        .split_whitespace()
        .skip_while(|word| *word != "lladdr")
        .nth(1)
        .and_then(|mac| mac.parse().ok());
    (mac, line.trim().to_string())
}

/// Polls the client's entry for `address` until it holds `mac`; panics after `limit`.
fn wait_for_neighbour(lan: &Namespaces, address: IpAddr, mac: MacAddr, limit: Duration) -> String {
    let start = Instant::now();
    loop {
        let (seen, line) = client_neighbour(lan, address);
        if seen == Some(mac) {
            return line;
        }
        assert!(
            start.elapsed() < limit,
            "the client's entry for {address} is {line:?} after {limit:?}, not {mac}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A frame and when it arrived.
type Captured = (Instant, Vec<u8>);

/// Frames of one EtherType captured on the client's `eth0`, from before the
/// announcements until `stop` (or 20 s, so a failed test cannot leave it running).
struct Capture {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<Captured>>>,
}

impl Capture {
    fn start(lan: &Namespaces, role: &str, ethertype: u16) -> Capture {
        let path = lan.path(role);
        let stop = Arc::new(AtomicBool::new(false));
        let (ready, is_ready) = std::sync::mpsc::channel();
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            enter(&path);
            let socket = PacketSocket::capture("eth0", ethertype).expect("capture socket");
            ready.send(()).expect("test waiting");
            let deadline = Instant::now() + Duration::from_secs(20);
            let mut frames = Vec::new();
            let mut buffer = [0u8; 2048];
            while !stopped.load(Ordering::SeqCst) && Instant::now() < deadline {
                if let Some(len) = socket
                    .receive(&mut buffer, Duration::from_millis(50))
                    .expect("receive")
                {
                    frames.push((Instant::now(), buffer[..len].to_vec()));
                }
            }
            frames
        });
        is_ready.recv().expect("capture thread started");
        Capture {
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> Vec<Captured> {
        self.stop.store(true, Ordering::SeqCst);
        let thread = self.thread.take().expect("not finished yet");
        thread
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Moves the VIP from one director to the other through the library, as `shoal run`
/// will on failover (the IPv4 one with Piranha's alias label).
fn move_vip(lan: &Namespaces, vip: IpAddr, prefix_len: u8, from: &str, to: &str) {
    lan.block_on(from, || async move {
        let net = NetHandle::new().expect("netlink");
        net.remove_address("eth0", vip, prefix_len)
            .await
            .expect("remove the VIP");
    });
    lan.block_on(to, || async move {
        let net = NetHandle::new().expect("netlink");
        let label = vip.is_ipv4().then_some("eth0:1");
        net.add_address("eth0", vip, prefix_len, label)
            .await
            .expect("add the VIP");
    });
}

/// `shoal send-arp ARGS...` run in a director's namespace; its standard output.
fn send_arp(lan: &Namespaces, role: &str, args: &[&str]) -> String {
    let mut all = vec!["send-arp"];
    all.extend_from_slice(args);
    let output = lan.exec(role, SHOAL, &all);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "shoal {} failed ({}): {}{stdout}",
        all.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    print!("{role}: {stdout}");
    stdout
}

#[test]
fn address_label_add_and_remove_are_idempotent() {
    let started = Instant::now();
    let ns = Namespaces::new(&["a"]);
    ns.ip(
        "a",
        &[
            "link", "add", "veth0", "type", "veth", "peer", "name", "veth1",
        ],
    );
    ns.ip("a", &["link", "set", "veth0", "up"]);
    let v4: IpAddr = "192.0.2.10".parse().expect("literal");
    let v6: IpAddr = "2001:db8::10".parse().expect("literal");

    ns.block_on("a", || async move {
        let net = NetHandle::new().expect("netlink");
        assert!(net.link_index("veth0").await.expect("veth0 exists") > 0);

        assert_eq!(
            net.add_address("veth0", v4, 24, Some("veth0:1"))
                .await
                .expect("add"),
            AddressChange::Changed
        );
        let shown = run("ip", &["-4", "addr", "show", "dev", "veth0"]);
        let line = shown
            .lines()
            .find(|line| line.contains("inet 192.0.2.10/24"))
            .unwrap_or_else(|| panic!("no 192.0.2.10/24 in:\n{shown}"));
        assert!(
            line.trim_end().ends_with(" veth0:1"),
            "no label in {line:?}"
        );
        assert_eq!(
            net.add_address("veth0", v4, 24, Some("veth0:1"))
                .await
                .expect("add again"),
            AddressChange::Unchanged
        );
        assert!(
            net.addresses("veth0")
                .await
                .expect("list")
                .contains(&LinkAddress {
                    address: v4,
                    prefix_len: 24,
                    label: Some("veth0:1".into()),
                })
        );

        assert_eq!(
            net.add_address("veth0", v6, 64, None)
                .await
                .expect("add v6"),
            AddressChange::Changed
        );
        let shown = run("ip", &["-6", "addr", "show", "dev", "veth0"]);
        let line = shown
            .lines()
            .find(|line| line.contains("inet6 2001:db8::10/64"))
            .unwrap_or_else(|| panic!("no 2001:db8::10/64 in:\n{shown}"));
        assert!(
            line.contains("nodad") && !line.contains("tentative"),
            "{line:?}"
        );
        assert_eq!(
            net.add_address("veth0", v6, 64, None)
                .await
                .expect("add v6 again"),
            AddressChange::Unchanged
        );

        for (address, prefix) in [(v4, 24), (v6, 64)] {
            assert_eq!(
                net.remove_address("veth0", address, prefix)
                    .await
                    .expect("remove"),
                AddressChange::Changed
            );
            assert_eq!(
                net.remove_address("veth0", address, prefix)
                    .await
                    .expect("remove again"),
                AddressChange::Unchanged
            );
        }
        let left = net.addresses("veth0").await.expect("list");
        assert!(
            !left.iter().any(|a| a.address == v4 || a.address == v6),
            "{left:?}"
        );
        let shown = run("ip", &["addr", "show", "dev", "veth0"]);
        assert!(
            !shown.contains("192.0.2.10") && !shown.contains("2001:db8::10"),
            "{shown}"
        );

        let error = net
            .add_address("nosuch0", "192.0.2.10".parse().expect("literal"), 32, None)
            .await
            .expect_err("no such device");
        assert_eq!(
            error.to_string(),
            "cannot add 192.0.2.10/32 to nosuch0: no such device"
        );
        let error = net
            .add_address("veth0", v4, 24, Some("veth1:1"))
            .await
            .expect_err("foreign label");
        assert_eq!(
            error.to_string(),
            "cannot add 192.0.2.10/24 to veth0: \
             invalid label 'veth1:1': it must start with the device name"
        );
    });
    println!("address test: {:?}", started.elapsed());
}

#[test]
fn gratuitous_arp_moves_the_vip_between_directors() {
    let started = Instant::now();
    let lan = lan();
    let vip = IpAddr::V4(VIP);
    lan.block_on("n1", || async move {
        NetHandle::new()
            .expect("netlink")
            .add_address("eth0", vip, 24, Some("eth0:1"))
            .await
            .expect("VIP on n1")
    });

    // The client talks to the VIP, so it has an entry with n1's MAC: with the default
    // arp_accept=0 a gratuitous ARP only updates an entry, it never creates one.
    let connect = |lan: &Namespaces| {
        lan.enter("c", || {
            TcpStream::connect_timeout(&SocketAddr::new(vip, 9), Duration::from_secs(2))
                .expect_err("nothing listens on port 9")
                .kind()
        })
    };
    assert_eq!(connect(&lan), std::io::ErrorKind::ConnectionRefused);
    let line = wait_for_neighbour(&lan, vip, N1_MAC, Duration::from_secs(2));
    let learnt = Instant::now();
    println!("client before failover: {line}");

    // Failover to n2, announced with the device's own MAC.
    let capture = Capture::start(&lan, "c", ETH_P_ARP);
    move_vip(&lan, vip, 24, "n1", "n2");
    std::thread::sleep(PAST_LOCKTIME.saturating_sub(learnt.elapsed()));
    // Moving the address alone tells the client nothing.
    assert_eq!(client_neighbour(&lan, vip).0, Some(N1_MAC));
    let stdout = send_arp(&lan, "n2", &["-i", "eth0:1", "192.0.2.100"]);
    assert_eq!(
        stdout,
        "sent eth0: 192.0.2.100 is at 02:00:00:00:00:02 \
         (gratuitous ARP request + gratuitous ARP reply) [1/1]\n"
    );
    let line = wait_for_neighbour(&lan, vip, N2_MAC, Duration::from_secs(2));
    let moved = Instant::now();
    println!("client after failover to n2: {line}");
    // Traffic for the VIP now reaches n2, which refuses port 9 (n1 would drop it).
    assert_eq!(connect(&lan), std::io::ErrorKind::ConnectionRefused);

    // And back to n1, with the MAC given as Piranha's send_arp took it, two bursts.
    move_vip(&lan, vip, 24, "n2", "n1");
    std::thread::sleep(PAST_LOCKTIME.saturating_sub(moved.elapsed()));
    let stdout = send_arp(
        &lan,
        "n1",
        &[
            "-i",
            "eth0",
            "--count",
            "2",
            "--interval",
            "0.3",
            "192.0.2.100",
            "020000000001",
        ],
    );
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(
        stdout.lines().last().is_some_and(|l| l.ends_with("[2/2]")),
        "{stdout}"
    );
    let line = wait_for_neighbour(&lan, vip, N1_MAC, Duration::from_secs(2));
    println!("client after failback to n1: {line}");

    let frames = capture.finish();
    let announced = |mac: MacAddr| -> Vec<(Instant, ArpFrame)> {
        frames
            .iter()
            .filter_map(|(at, bytes)| Some((*at, bytes, ArpFrame::parse(bytes)?)))
            .filter(|(_, _, arp)| arp.announces(VIP) && arp.eth_source == mac)
            .map(|(at, bytes, arp)| {
                assert_eq!(bytes.len(), ARP_FRAME_LEN, "{arp:?}");
                (at, arp)
            })
            .collect()
    };
    let expected = |mac: MacAddr, op: u16| ArpFrame {
        eth_destination: MacAddr::BROADCAST,
        eth_source: mac,
        op,
        sender_mac: mac,
        sender_ip: VIP,
        target_mac: if op == 1 {
            MacAddr::ZERO
        } else {
            MacAddr::BROADCAST
        },
        target_ip: VIP,
    };
    let from_n2 = announced(N2_MAC);
    assert_eq!(
        from_n2.iter().map(|(_, arp)| *arp).collect::<Vec<_>>(),
        [expected(N2_MAC, 1), expected(N2_MAC, 2)]
    );
    let from_n1 = announced(N1_MAC);
    assert_eq!(
        from_n1.iter().map(|(_, arp)| *arp).collect::<Vec<_>>(),
        [
            expected(N1_MAC, 1),
            expected(N1_MAC, 2),
            expected(N1_MAC, 1),
            expected(N1_MAC, 2)
        ]
    );
    let gap = from_n1[2].0 - from_n1[0].0;
    assert!(
        gap >= Duration::from_millis(250) && gap < Duration::from_millis(1500),
        "bursts {gap:?} apart, asked for 0.3 s"
    );
    println!("GARP failover test: {:?}", started.elapsed());
}

#[test]
fn unsolicited_na_moves_the_ipv6_vip_between_directors() {
    let started = Instant::now();
    let lan = lan();
    let vip = IpAddr::V6(VIP6);
    lan.block_on("n1", || async move {
        NetHandle::new()
            .expect("netlink")
            .add_address("eth0", vip, 64, None)
            .await
            .expect("VIP on n1")
    });

    // A datagram to the VIP makes the client solicit it, and n1's answer creates the
    // entry (ping6 is not installed; nothing needs to listen).
    lan.enter("c", || {
        let socket = UdpSocket::bind("[2001:db8::50]:0").expect("client socket");
        socket
            .send_to(b"x", SocketAddr::new(vip, 9))
            .expect("send to the VIP");
    });
    let line = wait_for_neighbour(&lan, vip, N1_MAC, Duration::from_secs(3));
    println!("client before failover: {line}");

    let capture = Capture::start(&lan, "c", ETH_P_IPV6);
    move_vip(&lan, vip, 64, "n1", "n2");
    std::thread::sleep(Duration::from_millis(200));
    // Moving the address alone tells the client nothing.
    assert_eq!(client_neighbour(&lan, vip).0, Some(N1_MAC));
    let stdout = send_arp(&lan, "n2", &["-i", "eth0", "2001:db8::100"]);
    assert_eq!(
        stdout,
        "sent eth0: 2001:db8::100 is at 02:00:00:00:00:02 \
         (unsolicited neighbour advertisement) [1/1]\n"
    );
    let line = wait_for_neighbour(&lan, vip, N2_MAC, Duration::from_secs(2));
    println!("client after failover to n2: {line}");
    assert!(!line.contains("router"), "{line}");

    // A director that forwards IPv6 says so with the R flag, read from its namespace.
    let output = lan.exec(
        "n2",
        "sh",
        &["-c", "echo 1 > /proc/sys/net/ipv6/conf/eth0/forwarding"],
    );
    assert!(output.status.success(), "{output:?}");
    let stdout = send_arp(&lan, "n2", &["-i", "eth0", "2001:db8::100"]);
    assert!(
        stdout.contains("(unsolicited neighbour advertisement (router))"),
        "{stdout}"
    );
    let start = Instant::now();
    loop {
        let (_, line) = client_neighbour(&lan, vip);
        if line.contains("router") {
            println!("client after the router NA: {line}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(2), "{line}");
        std::thread::sleep(Duration::from_millis(50));
    }

    let frames = capture.finish();
    let adverts: Vec<NeighbourAdvert> = frames
        .iter()
        .filter_map(|(_, bytes)| NeighbourAdvert::parse(bytes))
        .filter(|na| na.target == VIP6 && na.eth_source == N2_MAC)
        .collect();
    let expected = |router| NeighbourAdvert {
        eth_destination: ALL_NODES_MAC,
        eth_source: N2_MAC,
        source: VIP6,
        destination: ALL_NODES,
        hop_limit: 255,
        router,
        solicited: false,
        override_flag: true,
        target: VIP6,
        target_mac: Some(N2_MAC),
        checksum_ok: true,
    };
    assert_eq!(adverts, [expected(false), expected(true)]);
    println!("unsolicited NA failover test: {:?}", started.elapsed());
}

#[test]
fn send_arp_errors_go_to_stderr() {
    let ns = Namespaces::new(&["e"]);
    ns.ip(
        "e",
        &[
            "link", "add", "veth0", "type", "veth", "peer", "name", "veth1",
        ],
    );
    for (args, message) in [
        (
            &["-i", "nosuch0", "192.0.2.100"][..],
            "shoal: send-arp: cannot announce 192.0.2.100 on nosuch0: no such device\n",
        ),
        (
            &["-i", "lo", "192.0.2.100"][..],
            "shoal: send-arp: cannot announce 192.0.2.100 on lo: \
             not an Ethernet device (hardware type 772)\n",
        ),
        (
            &["-i", "veth0", "224.0.0.1"][..],
            "shoal: send-arp: cannot announce 224.0.0.1: not a unicast address\n",
        ),
        (
            // veth0 is down: the kernel refuses to send.
            &["-i", "veth0", "192.0.2.100"][..],
            "shoal: send-arp: cannot announce 192.0.2.100 on veth0: \
             cannot send: Network is down (os error 100)\n",
        ),
    ] {
        let mut all = vec!["send-arp"];
        all.extend_from_slice(args);
        let output = ns.exec("e", SHOAL, &all);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {output:?}");
        assert_eq!(String::from_utf8_lossy(&output.stderr), message, "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}: {output:?}");
    }
}
