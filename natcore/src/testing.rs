//! Packet factories for tests, fuzzing and benches. Every factory produces a
//! valid IPv4 packet with correct checksums, computed from scratch (RFC 1071)
//! so that the incremental updates under test are checked against an
//! independent computation. These may allocate; the code under test may not.

use crate::checksum::{self, fold, ones_complement_sum, pseudo_header_sum, udp_field};
use crate::wire::field;
use std::net::Ipv4Addr;

/// TCP flag bits (RFC 9293 §3.1).
pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
}

/// IPv4 identification the factories use (so golden bytes are stable).
pub const FACTORY_IP_ID: u16 = 0x1c46;
/// TTL the factories use.
pub const FACTORY_TTL: u8 = 64;

fn ipv4_packet(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, l4: &[u8]) -> Vec<u8> {
    let total_len = field::IPV4_MIN_HEADER_LEN + l4.len();
    let mut packet = Vec::with_capacity(total_len);
    packet.push(0x45); // version 4, IHL 5
    packet.push(0); // TOS
    packet.extend_from_slice(&to_u16(total_len).to_be_bytes());
    packet.extend_from_slice(&FACTORY_IP_ID.to_be_bytes());
    packet.extend_from_slice(&field::IP_FLAG_DF.to_be_bytes());
    packet.push(FACTORY_TTL);
    packet.push(protocol);
    packet.extend_from_slice(&[0, 0]); // checksum, below
    packet.extend_from_slice(&src.octets());
    packet.extend_from_slice(&dst.octets());
    let check = fold(ones_complement_sum(&packet, 0));
    packet[field::IP_CHECKSUM].copy_from_slice(&check.to_be_bytes());
    packet.extend_from_slice(l4);
    packet
}

fn to_u16(len: usize) -> u16 {
    assert!(
        len <= usize::from(u16::MAX),
        "test packet of {len} bytes exceeds 65535"
    );
    len as u16
}

fn l4_checksum(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, l4: &[u8]) -> u16 {
    let pseudo = pseudo_header_sum(src.octets(), dst.octets(), protocol, to_u16(l4.len()));
    fold(ones_complement_sum(l4, pseudo))
}

/// A TCP segment with DF set. `options` are padded with EOL to a multiple of
/// 4 bytes; seq = 0x01020304, ack = 0x05060708 when ACK is set (else 0),
/// window 64240.
pub fn tcp_packet(
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
    flags: u8,
    options: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    let padded_options = options.len().div_ceil(4) * 4;
    let header_len = field::TCP_MIN_HEADER_LEN + padded_options;
    assert!(header_len <= 15 * 4, "too many TCP options"); // data offset is 4 bits
    let mut tcp = Vec::with_capacity(header_len + payload.len());
    tcp.extend_from_slice(&src.1.to_be_bytes());
    tcp.extend_from_slice(&dst.1.to_be_bytes());
    tcp.extend_from_slice(&0x0102_0304u32.to_be_bytes());
    let ack: u32 = if flags & tcp_flags::ACK != 0 {
        0x0506_0708
    } else {
        0
    };
    tcp.extend_from_slice(&ack.to_be_bytes());
    tcp.push(((header_len / 4) as u8) << 4);
    tcp.push(flags);
    tcp.extend_from_slice(&64240u16.to_be_bytes());
    tcp.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
    tcp.extend_from_slice(options);
    tcp.resize(header_len, 0); // EOL padding
    tcp.extend_from_slice(payload);
    let check = l4_checksum(src.0, dst.0, field::PROTO_TCP, &tcp);
    tcp[field::TCP_CHECKSUM].copy_from_slice(&check.to_be_bytes());
    ipv4_packet(src.0, dst.0, field::PROTO_TCP, &tcp)
}

/// A UDP datagram with DF set and a computed checksum (0 sent as 0xFFFF).
pub fn udp_packet(src: (Ipv4Addr, u16), dst: (Ipv4Addr, u16), payload: &[u8]) -> Vec<u8> {
    let len = field::UDP_HEADER_LEN + payload.len();
    let mut udp = Vec::with_capacity(len);
    udp.extend_from_slice(&src.1.to_be_bytes());
    udp.extend_from_slice(&dst.1.to_be_bytes());
    udp.extend_from_slice(&to_u16(len).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let check = udp_field(l4_checksum(src.0, dst.0, field::PROTO_UDP, &udp));
    udp[field::UDP_CHECKSUM].copy_from_slice(&check.to_be_bytes());
    ipv4_packet(src.0, dst.0, field::PROTO_UDP, &udp)
}

/// [`udp_packet`] with the checksum field zeroed ("no checksum", RFC 768).
pub fn udp_packet_without_checksum(
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
    payload: &[u8],
) -> Vec<u8> {
    let mut packet = udp_packet(src, dst, payload);
    let at = field::IPV4_MIN_HEADER_LEN + field::UDP_CHECKSUM.start;
    packet[at..at + 2].fill(0);
    packet
}

/// An ICMP echo request (type 8) or reply (type 0).
pub fn icmp_echo(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    request: bool,
    ident: u16,
    seq: u16,
    payload: &[u8],
) -> Vec<u8> {
    let icmp_type = if request {
        field::ICMP_ECHO_REQUEST
    } else {
        field::ICMP_ECHO_REPLY
    };
    let rest = (u32::from(ident) << 16) | u32::from(seq);
    icmp_message(src, dst, icmp_type, 0, rest, payload)
}

fn icmp_message(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    icmp_type: u8,
    code: u8,
    rest_of_header: u32,
    data: &[u8],
) -> Vec<u8> {
    let mut icmp = Vec::with_capacity(field::ICMP_HEADER_LEN + data.len());
    icmp.push(icmp_type);
    icmp.push(code);
    icmp.extend_from_slice(&[0, 0]);
    icmp.extend_from_slice(&rest_of_header.to_be_bytes());
    icmp.extend_from_slice(data);
    let check = fold(ones_complement_sum(&icmp, 0));
    icmp[field::ICMP_CHECKSUM].copy_from_slice(&check.to_be_bytes());
    ipv4_packet(src, dst, field::PROTO_ICMP, &icmp)
}

/// An ICMP error from `src` to `dst` quoting `offending`'s IP header + 8
/// bytes, as RFC 792 requires and most routers send.
pub fn icmp_error(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    icmp_type: u8,
    code: u8,
    rest_of_header: u32,
    offending: &[u8],
) -> Vec<u8> {
    icmp_error_quoting(
        src,
        dst,
        icmp_type,
        code,
        rest_of_header,
        offending,
        field::ICMP_QUOTED_L4_LEN,
    )
}

/// [`icmp_error`] quoting `l4_bytes` of the offending packet's L4 part (as
/// much as there is), e.g. enough to include a TCP checksum (RFC 1812
/// §4.3.2.3 lets routers quote up to 576 bytes in all; Linux quotes more).
pub fn icmp_error_quoting(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    icmp_type: u8,
    code: u8,
    rest_of_header: u32,
    offending: &[u8],
    l4_bytes: usize,
) -> Vec<u8> {
    let header_len = usize::from(offending[0] & 0x0F) * 4;
    let quote_len = (header_len + l4_bytes).min(offending.len());
    icmp_message(
        src,
        dst,
        icmp_type,
        code,
        rest_of_header,
        &offending[..quote_len],
    )
}

/// Inserts IPv4 options (padded with EOL to a multiple of 4) into a factory
/// packet without options, fixing IHL, total length and the header checksum.
/// The L4 checksum is unaffected: the pseudo-header counts L4 bytes only.
pub fn with_ip_options(packet: &[u8], options: &[u8]) -> Vec<u8> {
    assert_eq!(packet[0], 0x45, "expects a packet without options");
    let padded = options.len().div_ceil(4) * 4;
    let header_len = field::IPV4_MIN_HEADER_LEN + padded;
    assert!(header_len <= 60, "too many IP options");
    let mut out = Vec::with_capacity(packet.len() + padded);
    out.extend_from_slice(&packet[..field::IPV4_MIN_HEADER_LEN]);
    out.extend_from_slice(options);
    out.resize(header_len, 0);
    out.extend_from_slice(&packet[field::IPV4_MIN_HEADER_LEN..]);
    out[0] = 0x40 | (header_len / 4) as u8;
    let total = to_u16(out.len());
    out[field::IP_LENGTH].copy_from_slice(&total.to_be_bytes());
    refill_ip_checksum(&mut out);
    out
}

/// Sets the MF flag and fragment offset (in 8-byte units) of a packet and
/// fixes its header checksum.
pub fn set_fragment(packet: &mut [u8], more_fragments: bool, offset: u16) {
    let df = u16::from_be_bytes([packet[6], packet[7]]) & field::IP_FLAG_DF;
    let mf = if more_fragments { field::IP_FLAG_MF } else { 0 };
    let value = df | mf | (offset & field::IP_FRAG_OFFSET_MASK);
    packet[field::IP_FLAGS_FRAG].copy_from_slice(&value.to_be_bytes());
    refill_ip_checksum(packet);
}

/// Recomputes the IPv4 header checksum from scratch.
/// (A header claiming more bytes than the packet has is summed as far as it goes.)
pub fn refill_ip_checksum(packet: &mut [u8]) {
    let header_len = (usize::from(packet[0] & 0x0F) * 4).min(packet.len());
    packet[field::IP_CHECKSUM].fill(0);
    let check = fold(ones_complement_sum(&packet[..header_len], 0));
    packet[field::IP_CHECKSUM].copy_from_slice(&check.to_be_bytes());
}

/// IP header + L4 (+ for ICMP errors the inner IP header, when quoted whole).
pub fn all_checksums_valid(packet: &[u8]) -> bool {
    if !checksum::ipv4_header_valid(packet) || !checksum::l4_checksum_valid(packet) {
        return false;
    }
    match quoted_packet(packet) {
        Some(inner) => checksum::ipv4_header_valid(inner),
        None => true,
    }
}

/// The quoted packet of an ICMP destination unreachable / time exceeded /
/// parameter problem message, if `packet` is one.
pub fn quoted_packet(packet: &[u8]) -> Option<&[u8]> {
    let header_len = usize::from(packet.first()? & 0x0F) * 4;
    let total_len = usize::from(u16::from_be_bytes([*packet.get(2)?, *packet.get(3)?]));
    if *packet.get(9)? != field::PROTO_ICMP {
        return None;
    }
    let icmp = packet.get(header_len..total_len.min(packet.len()))?;
    match *icmp.first()? {
        field::ICMP_DEST_UNREACHABLE
        | field::ICMP_TIME_EXCEEDED
        | field::ICMP_PARAMETER_PROBLEM => icmp.get(field::ICMP_HEADER_LEN..),
        _ => None,
    }
}

/// TCP options as real stacks send them.
pub mod tcp_options {
    /// MSS 1460 alone.
    pub const MSS_1460: [u8; 4] = [2, 4, 0x05, 0xb4];
    /// Linux's SYN: MSS 1460, SACK permitted, timestamps, NOP, window scale 7.
    pub const LINUX_SYN: [u8; 20] = [
        2, 4, 0x05, 0xb4, // MSS 1460
        4, 2, // SACK permitted
        8, 10, 0, 0, 0x12, 0x34, 0, 0, 0, 0, // timestamps
        1, // NOP
        3, 3, 7, // window scale 7
    ];
}
