//! The bytes of a half-open probe: the SYN segment shoal sends, the answers it reads,
//! the TCP checksum, and the classic BPF program that keeps every other TCP segment out
//! of the raw socket. Pure functions, so each is tested against hand-made packets.

use std::net::Ipv4Addr;

/// Length of the SYN segment: a 20-byte TCP header and one MSS option.
pub const SYN_LEN: usize = 24;

/// The MSS the SYN announces. Nothing is ever sent on the connection; a SYN without
/// options is legal but unusual, and some filters treat it as a scan.
const MSS: u16 = 1460;

/// The receive window the SYN announces (what Linux announces in its own SYNs).
const WINDOW: u16 = 64240;

/// Offset of the checksum in a TCP header (for `IPV6_CHECKSUM` and for filling it in).
pub const CHECKSUM_OFFSET: usize = 16;

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;

/// A SYN from `source_port` to `target_port` with initial sequence number `isn`, its
/// checksum left 0 (filled in by [`set_ipv4_checksum`], or by the kernel for IPv6).
pub fn syn_segment(source_port: u16, target_port: u16, isn: u32) -> [u8; SYN_LEN] {
    let mut segment = [0u8; SYN_LEN];
    segment[0..2].copy_from_slice(&source_port.to_be_bytes());
    segment[2..4].copy_from_slice(&target_port.to_be_bytes());
    segment[4..8].copy_from_slice(&isn.to_be_bytes());
    // Acknowledgment number 0 (bytes 8..12); data offset 6 words (24 bytes), flags SYN.
    segment[12] = ((SYN_LEN / 4) as u8) << 4;
    segment[13] = SYN;
    segment[14..16].copy_from_slice(&WINDOW.to_be_bytes());
    // Checksum and urgent pointer 0; then the MSS option (kind 2, length 4).
    segment[20] = 2;
    segment[21] = 4;
    segment[22..24].copy_from_slice(&MSS.to_be_bytes());
    segment
}

/// Writes the TCP checksum of `segment`, sent from `source` to `destination` over IPv4.
pub fn set_ipv4_checksum(segment: &mut [u8], source: Ipv4Addr, destination: Ipv4Addr) {
    segment[CHECKSUM_OFFSET] = 0;
    segment[CHECKSUM_OFFSET + 1] = 0;
    let checksum = ipv4_checksum(source, destination, segment);
    segment[CHECKSUM_OFFSET..CHECKSUM_OFFSET + 2].copy_from_slice(&checksum.to_be_bytes());
}

/// The TCP checksum over IPv4 (RFC 793): the one's complement of the one's complement
/// sum of the pseudo-header (addresses, protocol, length) and the segment. Computed on
/// the segment as it is, so a segment whose checksum field is right gives 0.
pub fn ipv4_checksum(source: Ipv4Addr, destination: Ipv4Addr, segment: &[u8]) -> u16 {
    let length = u16::try_from(segment.len()).unwrap_or(u16::MAX);
    let mut sum = ones_complement_sum(&source.octets(), 0);
    sum = ones_complement_sum(&destination.octets(), sum);
    sum = ones_complement_sum(&[0, libc::IPPROTO_TCP as u8], sum);
    sum = ones_complement_sum(&length.to_be_bytes(), sum);
    sum = ones_complement_sum(segment, sum);
    !fold(sum)
}

/// Adds `bytes` as big-endian 16-bit words (an odd last byte padded with 0) to `sum`.
fn ones_complement_sum(bytes: &[u8], sum: u32) -> u32 {
    let mut sum = sum;
    let mut words = bytes.chunks_exact(2);
    for word in &mut words {
        sum += u32::from(u16::from_be_bytes([word[0], word[1]]));
    }
    if let [last] = words.remainder() {
        sum += u32::from(*last) << 8;
    }
    sum
}

/// Folds the carries back into 16 bits.
fn fold(sum: u32) -> u16 {
    let mut sum = sum;
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The fields of a received TCP segment a probe is matched and judged by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// The sender's port (the probed port, for an answer).
    pub source_port: u16,
    /// The port it was sent to (the prober's reserved port, for an answer).
    pub destination_port: u16,
    /// Its acknowledgment number (the probe's ISN + 1, for an answer).
    pub ack: u32,
    /// The flag bits (byte 13 of the header).
    pub flags: u8,
}

/// What an answer to a SYN says about the port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// SYN-ACK: the server's kernel accepts connections on the port.
    Listening,
    /// RST: nothing listens there (what a connect reports as "connection refused").
    Refused,
}

impl Segment {
    /// The answer this segment gives to a SYN, if it is one: an ACK of the SYN with
    /// SYN set (SYN-ACK) or RST set. A FIN, data or a bare ACK answers nothing.
    pub fn answer(&self) -> Option<Answer> {
        if self.flags & ACK == 0 || self.flags & FIN != 0 {
            return None;
        }
        match (self.flags & SYN != 0, self.flags & RST != 0) {
            (true, false) => Some(Answer::Listening),
            (false, true) => Some(Answer::Refused),
            _ => None,
        }
    }

    /// Whether this answers the SYN whose initial sequence number was `isn`.
    pub fn acknowledges(&self, isn: u32) -> bool {
        self.ack == isn.wrapping_add(1)
    }
}

/// Reads a TCP header (what an IPv6 raw socket receives: no IP header).
pub fn parse_tcp(segment: &[u8]) -> Option<Segment> {
    if segment.len() < 20 {
        return None;
    }
    Some(Segment {
        source_port: u16::from_be_bytes([segment[0], segment[1]]),
        destination_port: u16::from_be_bytes([segment[2], segment[3]]),
        ack: u32::from_be_bytes([segment[8], segment[9], segment[10], segment[11]]),
        flags: segment[13],
    })
}

/// Reads an IPv4 packet carrying TCP (what an IPv4 raw socket receives: the IP header
/// first): the sender's address and the segment. `None` for anything else, and for a
/// fragment other than the first (it has no TCP header).
pub fn parse_ipv4(packet: &[u8]) -> Option<(Ipv4Addr, Segment)> {
    let first = *packet.first()?;
    let header = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || header < 20 || packet.len() < header {
        return None;
    }
    if packet[9] != libc::IPPROTO_TCP as u8 {
        return None;
    }
    if u16::from_be_bytes([packet[6], packet[7]]) & FRAGMENT_OFFSET != 0 {
        return None;
    }
    let source = Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]);
    Some((source, parse_tcp(&packet[header..])?))
}

/// The fragment offset bits of the IPv4 flags-and-offset field.
const FRAGMENT_OFFSET: u16 = 0x1fff;

/// One classic BPF instruction, as `struct sock_filter` holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instruction {
    /// Operation (class, size, mode).
    pub code: u16,
    /// Instructions skipped when a jump's condition holds.
    pub jt: u8,
    /// Instructions skipped when it does not.
    pub jf: u8,
    /// The constant operand.
    pub k: u32,
}

/// Which header a raw socket's packets start with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// An IPv4 raw socket receives the IP header, then the TCP header.
    Ipv4,
    /// An IPv6 raw socket receives the TCP header only.
    Ipv6,
}

/// What the filter returns for a packet it keeps: the whole packet (the kernel cuts at
/// this many bytes).
pub const KEEP: u32 = 0x0004_0000;

const fn op(code: u32) -> u16 {
    code as u16
}

const LOAD_HALF: u16 = op(libc::BPF_LD | libc::BPF_H | libc::BPF_ABS);
const LOAD_HALF_INDEXED: u16 = op(libc::BPF_LD | libc::BPF_H | libc::BPF_IND);
const LOAD_HEADER_LENGTH: u16 = op(libc::BPF_LDX | libc::BPF_B | libc::BPF_MSH);
const JUMP_EQUAL: u16 = op(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K);
const JUMP_ANY_BIT: u16 = op(libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K);
const RETURN: u16 = op(libc::BPF_RET | libc::BPF_K);

const fn statement(code: u16, k: u32) -> Instruction {
    Instruction {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Instruction {
    Instruction { code, jt, jf, k }
}

/// The socket filter that keeps only TCP segments sent to `port` (the prober's reserved
/// source port). Without it the raw socket would get a copy of every TCP segment the
/// host receives, the director's own traffic and our outgoing SYNs on loopback included.
///
/// IPv4 (the packet starts with the IP header): drop a fragment other than the first,
/// load the header length from its first byte, then the destination port 2 bytes into
/// the TCP header. IPv6 (the packet starts with the TCP header): the port at offset 2.
pub fn filter(port: u16, layout: Layout) -> Vec<Instruction> {
    let port = u32::from(port);
    match layout {
        Layout::Ipv4 => vec![
            // Flags and fragment offset.
            statement(LOAD_HALF, 6),
            // A later fragment: no TCP header, drop.
            jump(JUMP_ANY_BIT, u32::from(FRAGMENT_OFFSET), 4, 0),
            // X = 4 * (IHL).
            statement(LOAD_HEADER_LENGTH, 0),
            // The TCP destination port.
            statement(LOAD_HALF_INDEXED, 2),
            jump(JUMP_EQUAL, port, 0, 1),
            statement(RETURN, KEEP),
            statement(RETURN, 0),
        ],
        Layout::Ipv6 => vec![
            statement(LOAD_HALF, 2),
            jump(JUMP_EQUAL, port, 0, 1),
            statement(RETURN, KEEP),
            statement(RETURN, 0),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A RST|ACK the kernel sent from 127.0.0.1:9 (closed) to 127.0.0.1:44800 in answer
    /// to a SYN with ISN 0x2f587067, captured on a raw socket: its checksum (0x6304) was
    /// computed by the kernel in software (loopback SYNs carry only a partial one).
    const KERNEL_RST: [u8; 40] = [
        0x45, 0x00, 0x00, 0x28, 0x00, 0x00, 0x40, 0x00, 0x40, 0x06, 0x3c, 0xce, 0x7f, 0x00, 0x00,
        0x01, 0x7f, 0x00, 0x00, 0x01, 0x00, 0x09, 0xaf, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2f, 0x58,
        0x70, 0x68, 0x50, 0x14, 0x00, 0x00, 0x63, 0x04, 0x00, 0x00,
    ];

    /// Runs a filter over `packet` the way the kernel's classic BPF interpreter does, for
    /// the instructions [`filter`] uses; an out-of-bounds load drops the packet.
    fn run(program: &[Instruction], packet: &[u8]) -> u32 {
        let half = |at: usize| -> Option<u32> {
            let bytes = packet.get(at..at + 2)?;
            Some(u32::from(u16::from_be_bytes([bytes[0], bytes[1]])))
        };
        let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
        while let Some(instruction) = program.get(pc) {
            let k = instruction.k;
            pc += 1;
            match instruction.code {
                LOAD_HALF => match half(k as usize) {
                    Some(value) => a = value,
                    None => return 0,
                },
                LOAD_HALF_INDEXED => match half((x + k) as usize) {
                    Some(value) => a = value,
                    None => return 0,
                },
                LOAD_HEADER_LENGTH => match packet.get(k as usize) {
                    Some(byte) => x = u32::from(byte & 0x0f) * 4,
                    None => return 0,
                },
                JUMP_EQUAL | JUMP_ANY_BIT => {
                    let holds = if instruction.code == JUMP_EQUAL {
                        a == k
                    } else {
                        a & k != 0
                    };
                    let skip = if holds {
                        instruction.jt
                    } else {
                        instruction.jf
                    };
                    pc += usize::from(skip);
                }
                RETURN => return k,
                other => panic!("instruction {other:#x} not interpreted"),
            }
        }
        panic!("the program fell off its end")
    }

    #[test]
    fn the_checksum_is_the_kernels() {
        let (source, destination) = (Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST);
        let mut segment = KERNEL_RST[20..].to_vec();
        // A segment with the right checksum sums to 0.
        assert_eq!(ipv4_checksum(source, destination, &segment), 0);
        set_ipv4_checksum(&mut segment, source, destination);
        assert_eq!(segment, KERNEL_RST[20..]);
        // RFC 1071's example words: sum 0xddf2, so the checksum is 0x220d.
        let words = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(ones_complement_sum(&words, 0)), 0xddf2);
        // An odd length is padded with a zero byte.
        assert_eq!(ones_complement_sum(&[0x12, 0x34, 0x56], 0), 0x1234 + 0x5600);
    }

    #[test]
    fn a_syn_has_the_fields_and_a_checksum_the_receiver_accepts() {
        let mut syn = syn_segment(40000, 8080, 0xdead_beef);
        let (source, destination) = (Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2));
        set_ipv4_checksum(&mut syn, source, destination);
        assert_eq!(ipv4_checksum(source, destination, &syn), 0);
        let parsed = parse_tcp(&syn).expect("a TCP header");
        assert_eq!(parsed.source_port, 40000);
        assert_eq!(parsed.destination_port, 8080);
        assert_eq!(parsed.flags, SYN);
        assert_eq!(
            u32::from_be_bytes([syn[4], syn[5], syn[6], syn[7]]),
            0xdead_beef
        );
        assert_eq!(syn[12] >> 4, 6, "data offset in words");
        assert_eq!(&syn[20..24], &[2, 4, 0x05, 0xb4], "MSS 1460");
        // Our own SYN seen on loopback answers nothing.
        assert_eq!(parsed.answer(), None);
        // Any other source address gives another checksum.
        assert_ne!(
            ipv4_checksum(Ipv4Addr::new(192, 0, 2, 3), destination, &syn),
            0
        );
    }

    #[test]
    fn the_kernels_reset_reads_as_refused_for_its_syn_only() {
        let (from, segment) = parse_ipv4(&KERNEL_RST).expect("a TCP packet");
        assert_eq!(from, Ipv4Addr::LOCALHOST);
        assert_eq!(segment.source_port, 9);
        assert_eq!(segment.destination_port, 44800);
        assert_eq!(segment.answer(), Some(Answer::Refused));
        assert!(segment.acknowledges(0x2f58_7067));
        assert!(!segment.acknowledges(0x2f58_7068));
        // The same with options in the IP header (IHL 6): the TCP header moves.
        let mut longer = KERNEL_RST[..20].to_vec();
        longer[0] = 0x46;
        longer.extend_from_slice(&[1, 1, 1, 0]);
        longer.extend_from_slice(&KERNEL_RST[20..]);
        assert_eq!(parse_ipv4(&longer), Some((from, segment)));
        // A later fragment and a truncated packet are not read.
        let mut fragment = KERNEL_RST;
        fragment[7] = 0x10;
        assert_eq!(parse_ipv4(&fragment), None);
        assert_eq!(parse_ipv4(&KERNEL_RST[..30]), None);
    }

    #[test]
    fn syn_ack_passes_and_other_flags_answer_nothing() {
        let segment = |flags| Segment {
            source_port: 80,
            destination_port: 40000,
            ack: 1,
            flags,
        };
        assert_eq!(segment(SYN | ACK).answer(), Some(Answer::Listening));
        assert_eq!(segment(RST | ACK).answer(), Some(Answer::Refused));
        assert_eq!(
            segment(RST).answer(),
            None,
            "a RST that acknowledges nothing"
        );
        assert_eq!(segment(ACK).answer(), None);
        assert_eq!(segment(FIN | ACK).answer(), None);
        assert_eq!(segment(SYN | RST | ACK).answer(), None);
        assert!(segment(ACK).acknowledges(0));
        assert!(
            Segment {
                ack: 0,
                ..segment(ACK)
            }
            .acknowledges(u32::MAX),
            "the sequence number wraps"
        );
    }

    #[test]
    fn the_ipv4_filter_keeps_only_segments_to_the_port() {
        let program = filter(44800, Layout::Ipv4);
        assert_eq!(run(&program, &KERNEL_RST), KEEP);
        assert_eq!(run(&filter(44801, Layout::Ipv4), &KERNEL_RST), 0);
        // The source port (9) is not what is compared.
        assert_eq!(run(&filter(9, Layout::Ipv4), &KERNEL_RST), 0);
        // IP options: the port is found past them.
        let mut longer = KERNEL_RST[..20].to_vec();
        longer[0] = 0x47;
        longer.extend_from_slice(&[1; 8]);
        longer.extend_from_slice(&KERNEL_RST[20..]);
        assert_eq!(run(&program, &longer), KEEP);
        // A later fragment is dropped even if its bytes look like the port.
        let mut fragment = KERNEL_RST;
        fragment[6] = 0x20;
        fragment[7] = 0x01;
        assert_eq!(run(&program, &fragment), 0);
        // A first fragment (more-fragments flag only) is kept.
        let mut first = KERNEL_RST;
        first[6] = 0x20;
        assert_eq!(run(&program, &first), KEEP);
        // A packet too short to hold the port is dropped.
        assert_eq!(run(&program, &KERNEL_RST[..22]), 0);
    }

    #[test]
    fn the_ipv6_filter_reads_the_tcp_header_at_the_start() {
        let segment = &KERNEL_RST[20..];
        assert_eq!(run(&filter(44800, Layout::Ipv6), segment), KEEP);
        assert_eq!(run(&filter(44801, Layout::Ipv6), segment), 0);
        // An IPv4 packet given to the IPv6 program is read at the wrong place.
        assert_eq!(run(&filter(44800, Layout::Ipv6), &KERNEL_RST), 0);
    }
}
