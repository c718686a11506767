//! The exact bytes of the announcements a director sends when it takes over an address.
//!
//! Built by hand rather than by a packet library because there are only two frames, every
//! field matters to some switch or host out there, and pure functions let the tests pin
//! them down byte for byte. The parsers are the inverse, for tests and for anyone who
//! wants to watch the wire (a capture of the LAN during a failover, a duplicate-VIP check).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::MacAddr;

/// EtherType of ARP: the protocol number an AF_PACKET socket sends or captures.
pub const ETH_P_ARP: u16 = 0x0806;
/// EtherType of IPv6.
pub const ETH_P_IPV6: u16 = 0x86dd;
/// Length of an Ethernet header (no VLAN tag: the kernel adds one if the device needs it).
pub const ETH_HEADER_LEN: usize = 14;
/// Length of a gratuitous ARP frame: Ethernet header + 28-byte ARP body, unpadded
/// (the NIC pads to the 60-byte minimum, as it does for the kernel's own ARP).
pub const ARP_FRAME_LEN: usize = ETH_HEADER_LEN + 28;
/// Length of the ICMPv6 part of an unsolicited NA: header, flags, target and one
/// target link-layer address option.
pub const NA_ICMP_LEN: usize = 32;
/// Length of an unsolicited NA frame: Ethernet + IPv6 header + ICMPv6.
pub const NA_FRAME_LEN: usize = ETH_HEADER_LEN + 40 + NA_ICMP_LEN;
/// ICMPv6 type of a neighbour advertisement (RFC 4861 section 4.4).
pub const ICMPV6_NEIGHBOUR_ADVERTISEMENT: u8 = 136;
/// IPv6 next-header number of ICMPv6.
pub const IPPROTO_ICMPV6: u8 = 58;
/// All-nodes multicast group: where an unsolicited NA goes (RFC 4861 section 7.2.6).
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// Ethernet address of the all-nodes group (`33:33` + the group's low 32 bits, RFC 2464).
pub const ALL_NODES_MAC: MacAddr = MacAddr([0x33, 0x33, 0, 0, 0, 1]);

const ARP_HTYPE_ETHERNET: u16 = 1;
const ARP_PTYPE_IPV4: u16 = 0x0800;
const NA_FLAG_ROUTER: u8 = 0x80;
const NA_FLAG_SOLICITED: u8 = 0x40;
const NA_FLAG_OVERRIDE: u8 = 0x20;
const ND_OPT_TARGET_LINK_ADDRESS: u8 = 2;

/// The two ARP operations. Gratuitous ARP comes in both forms because hosts differ in
/// which one they honour: Linux updates its cache on either, some older stacks and
/// switches only on a request, and Piranha's `send_arp` sent only the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpOp {
    /// Op 1, "who has VIP? tell VIP", target hardware address all zeros.
    Request,
    /// Op 2, "VIP is at MAC", target hardware address all ones (Piranha's `send_arp`).
    Reply,
}

impl ArpOp {
    /// The operation code on the wire.
    pub fn code(self) -> u16 {
        match self {
            ArpOp::Request => 1,
            ArpOp::Reply => 2,
        }
    }

    /// The target hardware address each form carries: zeros in the request (what RFC 5227
    /// announcements use), ones in the reply (what Piranha's `send_arp` sent).
    pub fn target_mac(self) -> MacAddr {
        match self {
            ArpOp::Request => MacAddr::ZERO,
            ArpOp::Reply => MacAddr::BROADCAST,
        }
    }
}

/// A gratuitous ARP frame announcing that `address` is at `mac`: broadcast, sender and
/// target protocol address both `address`, so every host that caches `address` replaces
/// the old director's MAC with this one.
pub fn gratuitous_arp(op: ArpOp, mac: MacAddr, address: Ipv4Addr) -> [u8; ARP_FRAME_LEN] {
    let mut frame = [0u8; ARP_FRAME_LEN];
    frame[0..6].copy_from_slice(&MacAddr::BROADCAST.0);
    frame[6..12].copy_from_slice(&mac.0);
    frame[12..14].copy_from_slice(&ETH_P_ARP.to_be_bytes());
    let arp = &mut frame[ETH_HEADER_LEN..];
    arp[0..2].copy_from_slice(&ARP_HTYPE_ETHERNET.to_be_bytes());
    arp[2..4].copy_from_slice(&ARP_PTYPE_IPV4.to_be_bytes());
    arp[4] = 6;
    arp[5] = 4;
    arp[6..8].copy_from_slice(&op.code().to_be_bytes());
    arp[8..14].copy_from_slice(&mac.0);
    arp[14..18].copy_from_slice(&address.octets());
    arp[18..24].copy_from_slice(&op.target_mac().0);
    arp[24..28].copy_from_slice(&address.octets());
    frame
}

/// An ARP probe (RFC 5227 section 2.1.1) asking who has `target`: broadcast, sender
/// protocol address 0.0.0.0. It asks without claiming anything: with no sender address,
/// no host puts the asker in its cache, so probing a VIP the peer holds changes nothing
/// on the LAN. Linux answers it with a reply sent to `mac`.
pub fn arp_probe(mac: MacAddr, target: Ipv4Addr) -> [u8; ARP_FRAME_LEN] {
    let mut frame = gratuitous_arp(ArpOp::Request, mac, target);
    frame[ETH_HEADER_LEN + 14..ETH_HEADER_LEN + 18]
        .copy_from_slice(&Ipv4Addr::UNSPECIFIED.octets());
    frame
}

/// The fields of an Ethernet ARP frame, as a capture sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpFrame {
    /// Ethernet destination.
    pub eth_destination: MacAddr,
    /// Ethernet source.
    pub eth_source: MacAddr,
    /// Operation code (1 request, 2 reply, anything else kept as is).
    pub op: u16,
    /// Sender hardware address.
    pub sender_mac: MacAddr,
    /// Sender protocol address.
    pub sender_ip: Ipv4Addr,
    /// Target hardware address.
    pub target_mac: MacAddr,
    /// Target protocol address.
    pub target_ip: Ipv4Addr,
}

impl ArpFrame {
    /// Reads an Ethernet/IPv4 ARP frame (trailing padding allowed); `None` for anything
    /// else, so a capture loop can skip unrelated traffic.
    pub fn parse(frame: &[u8]) -> Option<ArpFrame> {
        if frame.len() < ARP_FRAME_LEN || be16(frame, 12) != ETH_P_ARP {
            return None;
        }
        let arp = &frame[ETH_HEADER_LEN..];
        if be16(arp, 0) != ARP_HTYPE_ETHERNET
            || be16(arp, 2) != ARP_PTYPE_IPV4
            || arp[4] != 6
            || arp[5] != 4
        {
            return None;
        }
        Some(ArpFrame {
            eth_destination: mac_at(frame, 0),
            eth_source: mac_at(frame, 6),
            op: be16(arp, 6),
            sender_mac: mac_at(arp, 8),
            sender_ip: ipv4_at(arp, 14),
            target_mac: mac_at(arp, 18),
            target_ip: ipv4_at(arp, 24),
        })
    }

    /// Whether this is a gratuitous ARP for `address` (sender and target both `address`),
    /// whichever form.
    pub fn announces(&self, address: Ipv4Addr) -> bool {
        self.sender_ip == address && self.target_ip == address
    }
}

/// An unsolicited neighbour advertisement (RFC 4861 section 7.2.6) saying that `target`
/// is at `mac`, sent to all nodes with the override flag so that every host replaces a
/// cached entry, which is IPv6's gratuitous ARP.
///
/// The source address is `target` itself, as the Linux kernel's own unsolicited NA does:
/// a fresh VIP may be the only global address on the device, and a link-local one may
/// still be tentative. `router` is the R flag: a host that sees it cleared for an address
/// it knew as a router stops using that router, so it must say what the director is
/// (the kernel uses the device's `forwarding` setting, and so does [`super::garp`]).
pub fn unsolicited_na(mac: MacAddr, target: Ipv6Addr, router: bool) -> [u8; NA_FRAME_LEN] {
    let mut frame = [0u8; NA_FRAME_LEN];
    frame[0..6].copy_from_slice(&ALL_NODES_MAC.0);
    frame[6..12].copy_from_slice(&mac.0);
    frame[12..14].copy_from_slice(&ETH_P_IPV6.to_be_bytes());

    let ip = &mut frame[ETH_HEADER_LEN..ETH_HEADER_LEN + 40];
    ip[0] = 0x60; // version 6, traffic class 0, flow label 0
    ip[4..6].copy_from_slice(&(NA_ICMP_LEN as u16).to_be_bytes());
    ip[6] = IPPROTO_ICMPV6;
    ip[7] = 255; // hop limit: receivers drop NDP with anything else (RFC 4861 7.1.2)
    ip[8..24].copy_from_slice(&target.octets());
    ip[24..40].copy_from_slice(&ALL_NODES.octets());

    let icmp = &mut frame[ETH_HEADER_LEN + 40..];
    icmp[0] = ICMPV6_NEIGHBOUR_ADVERTISEMENT;
    icmp[1] = 0; // code
    // icmp[2..4]: checksum, filled in last
    icmp[4] = NA_FLAG_OVERRIDE | if router { NA_FLAG_ROUTER } else { 0 };
    icmp[8..24].copy_from_slice(&target.octets());
    icmp[24] = ND_OPT_TARGET_LINK_ADDRESS;
    icmp[25] = 1; // option length in units of 8 bytes
    icmp[26..32].copy_from_slice(&mac.0);
    let checksum = icmpv6_checksum(target, ALL_NODES, icmp);
    icmp[2..4].copy_from_slice(&checksum.to_be_bytes());
    frame
}

/// The ICMPv6 checksum (RFC 4443 section 2.3): the ones' complement of the ones'
/// complement sum over the IPv6 pseudo-header and `message`, whose checksum field must
/// be zero (or hold the checksum, in which case a correct one gives 0).
pub fn icmpv6_checksum(source: Ipv6Addr, destination: Ipv6Addr, message: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    let mut add = |bytes: &[u8]| {
        let mut chunks = bytes.chunks_exact(2);
        for pair in &mut chunks {
            sum += u64::from(u16::from_be_bytes([pair[0], pair[1]]));
        }
        if let [last] = chunks.remainder() {
            sum += u64::from(u16::from_be_bytes([*last, 0]));
        }
    };
    add(&source.octets());
    add(&destination.octets());
    add(&(message.len() as u32).to_be_bytes());
    add(&[0, 0, 0, IPPROTO_ICMPV6]);
    add(message);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The fields of an Ethernet/IPv6 neighbour advertisement, as a capture sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighbourAdvert {
    /// Ethernet destination.
    pub eth_destination: MacAddr,
    /// Ethernet source.
    pub eth_source: MacAddr,
    /// IPv6 source.
    pub source: Ipv6Addr,
    /// IPv6 destination.
    pub destination: Ipv6Addr,
    /// IPv6 hop limit (255 or receivers ignore it).
    pub hop_limit: u8,
    /// R flag.
    pub router: bool,
    /// S flag (must be clear in an unsolicited NA).
    pub solicited: bool,
    /// O flag (set, so receivers replace a cached address).
    pub override_flag: bool,
    /// The address being advertised.
    pub target: Ipv6Addr,
    /// The target link-layer address option, if present.
    pub target_mac: Option<MacAddr>,
    /// Whether the ICMPv6 checksum verifies.
    pub checksum_ok: bool,
}

impl NeighbourAdvert {
    /// Reads an Ethernet frame carrying an ICMPv6 neighbour advertisement right after a
    /// plain IPv6 header (no extension headers, which NDP never uses); `None` otherwise.
    pub fn parse(frame: &[u8]) -> Option<NeighbourAdvert> {
        const IP: usize = ETH_HEADER_LEN;
        const ICMP: usize = ETH_HEADER_LEN + 40;
        if frame.len() < ICMP + 24 || be16(frame, 12) != ETH_P_IPV6 || frame[IP] >> 4 != 6 {
            return None;
        }
        let payload_len = usize::from(be16(frame, IP + 4));
        if frame[IP + 6] != IPPROTO_ICMPV6 || frame.len() < ICMP + payload_len {
            return None;
        }
        let icmp = &frame[ICMP..ICMP + payload_len];
        if icmp.len() < 24 || icmp[0] != ICMPV6_NEIGHBOUR_ADVERTISEMENT {
            return None;
        }
        let source = ipv6_at(frame, IP + 8);
        let destination = ipv6_at(frame, IP + 24);
        let mut target_mac = None;
        let mut options = &icmp[24..];
        while options.len() >= 8 {
            let len = usize::from(options[1]) * 8;
            if len == 0 || len > options.len() {
                break;
            }
            if options[0] == ND_OPT_TARGET_LINK_ADDRESS {
                target_mac = Some(mac_at(options, 2));
            }
            options = &options[len..];
        }
        Some(NeighbourAdvert {
            eth_destination: mac_at(frame, 0),
            eth_source: mac_at(frame, 6),
            source,
            destination,
            hop_limit: frame[IP + 7],
            router: icmp[4] & NA_FLAG_ROUTER != 0,
            solicited: icmp[4] & NA_FLAG_SOLICITED != 0,
            override_flag: icmp[4] & NA_FLAG_OVERRIDE != 0,
            target: ipv6_at(icmp, 8),
            target_mac,
            checksum_ok: icmpv6_checksum(source, destination, icmp) == 0,
        })
    }
}

fn be16(bytes: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([bytes[at], bytes[at + 1]])
}

fn mac_at(bytes: &[u8], at: usize) -> MacAddr {
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&bytes[at..at + 6]);
    MacAddr(mac)
}

fn ipv4_at(bytes: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3])
}

fn ipv6_at(bytes: &[u8], at: usize) -> Ipv6Addr {
    let mut octets = [0u8; 16];
    octets.copy_from_slice(&bytes[at..at + 16]);
    Ipv6Addr::from(octets)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: MacAddr = MacAddr([0x02, 0x00, 0x5e, 0x10, 0x00, 0x02]);
    const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
    const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100);

    #[test]
    fn an_arp_probe_asks_for_the_target_without_a_sender_address() {
        let mac = MacAddr([2, 0, 0, 0, 0, 7]);
        let target = Ipv4Addr::new(192, 0, 2, 10);
        let frame = arp_probe(mac, target);
        let parsed = ArpFrame::parse(&frame).expect("an ARP frame");
        assert_eq!(parsed.eth_destination, MacAddr::BROADCAST);
        assert_eq!(parsed.eth_source, mac);
        assert_eq!(parsed.op, 1);
        assert_eq!(parsed.sender_mac, mac);
        assert_eq!(parsed.sender_ip, Ipv4Addr::UNSPECIFIED);
        assert_eq!(parsed.target_mac, MacAddr::ZERO);
        assert_eq!(parsed.target_ip, target);
        assert!(!parsed.announces(target), "a probe claims nothing");
    }

    #[test]
    fn gratuitous_arp_request_bytes() {
        #[rustfmt::skip]
        let expected: [u8; 42] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff,      // Ethernet destination: broadcast
            0x02, 0x00, 0x5e, 0x10, 0x00, 0x02,      // Ethernet source: our MAC
            0x08, 0x06,                              // EtherType ARP
            0x00, 0x01, 0x08, 0x00, 0x06, 0x04,      // Ethernet, IPv4, hlen 6, plen 4
            0x00, 0x01,                              // op 1: request
            0x02, 0x00, 0x5e, 0x10, 0x00, 0x02,      // sender MAC
            192, 0, 2, 100,                          // sender IP = VIP
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00,      // target MAC: unknown
            192, 0, 2, 100,                          // target IP = VIP
        ];
        assert_eq!(gratuitous_arp(ArpOp::Request, MAC, VIP), expected);
    }

    #[test]
    fn gratuitous_arp_reply_bytes_match_piranha_send_arp() {
        #[rustfmt::skip]
        let expected: [u8; 42] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0x02, 0x00, 0x5e, 0x10, 0x00, 0x02,
            0x08, 0x06,
            0x00, 0x01, 0x08, 0x00, 0x06, 0x04,
            0x00, 0x02,                              // op 2: reply
            0x02, 0x00, 0x5e, 0x10, 0x00, 0x02,
            192, 0, 2, 100,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff,      // target MAC: broadcast, as send_arp
            192, 0, 2, 100,
        ];
        assert_eq!(gratuitous_arp(ArpOp::Reply, MAC, VIP), expected);
    }

    #[test]
    fn arp_parse_round_trips_and_skips_other_frames() {
        for op in [ArpOp::Request, ArpOp::Reply] {
            let frame = gratuitous_arp(op, MAC, VIP);
            let parsed = ArpFrame::parse(&frame).expect("an ARP frame");
            assert_eq!(
                parsed,
                ArpFrame {
                    eth_destination: MacAddr::BROADCAST,
                    eth_source: MAC,
                    op: op.code(),
                    sender_mac: MAC,
                    sender_ip: VIP,
                    target_mac: op.target_mac(),
                    target_ip: VIP,
                }
            );
            assert!(parsed.announces(VIP));
            assert!(!parsed.announces(Ipv4Addr::new(192, 0, 2, 1)));
            let mut padded = frame.to_vec();
            padded.resize(60, 0);
            assert_eq!(ArpFrame::parse(&padded), Some(parsed));
            assert_eq!(ArpFrame::parse(&frame[..41]), None);
        }
        assert_eq!(ArpFrame::parse(&unsolicited_na(MAC, VIP6, false)), None);
    }

    /// The checksum of the NA below, worked out by hand as 16-bit words (and checked
    /// against an independent Python summation when this test was written):
    ///
    /// pseudo-header: source 2001 0db8 0 0 0 0 0 0100 → 0x2eb9;
    /// destination ff02 0 0 0 0 0 0 0001 → 0xff03; length 0000 0020 → 0x0020;
    /// next header 0000 003a → 0x003a. ICMPv6: type/code 8800, checksum 0000,
    /// flags 2000 0000, target → 0x2eb9 again, option 0201 0200 0000 0002 → 0x0403.
    ///
    /// 0x2eb9 + 0xff03 = 0x12dbc; then + 0x0020 + 0x003a = 0x12e16; then + 0x8800 =
    /// 0x1b616; then + 0x2000 = 0x1d616; then + 0x2eb9 = 0x204cf; then + 0x0403 = 0x208d2.
    /// Folded: 0x08d2 + 0x2 = 0x08d4; complemented: 0xf72b.
    #[test]
    fn icmpv6_checksum_known_vector() {
        let mac = MacAddr([0x02, 0, 0, 0, 0, 0x02]);
        let frame = unsolicited_na(mac, VIP6, false);
        let icmp = &frame[ETH_HEADER_LEN + 40..];
        assert_eq!(&icmp[2..4], &[0xf7, 0x2b]);
        let mut zeroed = icmp.to_vec();
        zeroed[2] = 0;
        zeroed[3] = 0;
        assert_eq!(icmpv6_checksum(VIP6, ALL_NODES, &zeroed), 0xf72b);
        // A message that carries its correct checksum sums to 0.
        assert_eq!(icmpv6_checksum(VIP6, ALL_NODES, icmp), 0);
    }

    /// RFC 1071's worked example (bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2), fed
    /// through the pseudo-header with all-zero addresses, which adds only the length
    /// (8) and the next header (58).
    #[test]
    fn icmpv6_checksum_rfc1071_sum() {
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        let expected = !(0xddf2u16 + 8 + 58);
        assert_eq!(
            icmpv6_checksum(Ipv6Addr::UNSPECIFIED, Ipv6Addr::UNSPECIFIED, &data),
            expected
        );
        // An odd length is padded with a zero byte.
        assert_eq!(
            icmpv6_checksum(Ipv6Addr::UNSPECIFIED, Ipv6Addr::UNSPECIFIED, &[0xab]),
            !(0xab00u16 + 1 + 58)
        );
    }

    #[test]
    fn unsolicited_na_bytes() {
        #[rustfmt::skip]
        let expected: [u8; NA_FRAME_LEN] = [
            0x33, 0x33, 0x00, 0x00, 0x00, 0x01,      // Ethernet destination: all nodes
            0x02, 0x00, 0x5e, 0x10, 0x00, 0x02,      // Ethernet source: our MAC
            0x86, 0xdd,                              // EtherType IPv6
            0x60, 0x00, 0x00, 0x00,                  // version 6, class 0, flow 0
            0x00, 0x20, 58, 255,                     // payload 32, ICMPv6, hop limit 255
            0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,      // source = target
            0, 0, 0, 0, 0, 0, 0x01, 0x00,
            0xff, 0x02, 0, 0, 0, 0, 0, 0,            // destination ff02::1
            0, 0, 0, 0, 0, 0, 0, 0x01,
            136, 0,                                  // neighbour advertisement, code 0
            0x99, 0x1b,                              // checksum, see below
            0x20, 0, 0, 0,                           // flags: override only
            0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,      // target
            0, 0, 0, 0, 0, 0, 0x01, 0x00,
            2, 1,                                    // target link-layer address, 8 bytes
            0x02, 0x00, 0x5e, 0x10, 0x00, 0x02,
        ];
        // Checksum by hand: as in `icmpv6_checksum_known_vector` except the option's MAC
        // words 0200 5e10 0002 instead of 0200 0000 0002, so the sum grows by 0x5e10:
        // 0x208d2 + 0x5e10 = 0x266e2, folded 0x66e2 + 0x2 = 0x66e4, complemented 0x991b.
        assert_eq!(unsolicited_na(MAC, VIP6, false), expected);
    }

    #[test]
    fn unsolicited_na_router_flag_and_parse() {
        for router in [false, true] {
            let frame = unsolicited_na(MAC, VIP6, router);
            let parsed = NeighbourAdvert::parse(&frame).expect("an NA");
            assert_eq!(
                parsed,
                NeighbourAdvert {
                    eth_destination: ALL_NODES_MAC,
                    eth_source: MAC,
                    source: VIP6,
                    destination: ALL_NODES,
                    hop_limit: 255,
                    router,
                    solicited: false,
                    override_flag: true,
                    target: VIP6,
                    target_mac: Some(MAC),
                    checksum_ok: true,
                }
            );
        }
        let mut broken = unsolicited_na(MAC, VIP6, false);
        broken[NA_FRAME_LEN - 1] ^= 1;
        assert!(!NeighbourAdvert::parse(&broken).expect("an NA").checksum_ok);
        assert_eq!(
            NeighbourAdvert::parse(&gratuitous_arp(ArpOp::Reply, MAC, VIP)),
            None
        );
    }
}
