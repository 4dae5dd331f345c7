//! Offsets, sizes and numbers shared by the packet views (smoltcp keeps the
//! same in per-view `mod field`; here they are shared because ICMP errors
//! reach into embedded IPv4 and L4 headers).

use core::ops::Range;

pub(crate) const IPV4_MIN_HEADER_LEN: usize = 20; // RFC 791: IHL = 5 words
pub(crate) const TCP_MIN_HEADER_LEN: usize = 20; // RFC 793: data offset = 5 words
pub(crate) const UDP_HEADER_LEN: usize = 8;
pub(crate) const ICMP_HEADER_LEN: usize = 8; // type, code, checksum, rest of header
/// An ICMP error quotes the offending IP header plus at least this much (RFC 792).
pub(crate) const ICMP_QUOTED_L4_LEN: usize = 8;

pub(crate) const PROTO_ICMP: u8 = 1;
pub(crate) const PROTO_TCP: u8 = 6;
pub(crate) const PROTO_UDP: u8 = 17;

// IPv4 header (RFC 791 §3.1).
pub(crate) const IP_VER_IHL: usize = 0;
pub(crate) const IP_TOS: usize = 1;
pub(crate) const IP_LENGTH: Range<usize> = 2..4;
pub(crate) const IP_IDENT: Range<usize> = 4..6;
pub(crate) const IP_FLAGS_FRAG: Range<usize> = 6..8;
pub(crate) const IP_TTL: usize = 8;
pub(crate) const IP_PROTOCOL: usize = 9;
pub(crate) const IP_CHECKSUM: Range<usize> = 10..12;
pub(crate) const IP_SRC: Range<usize> = 12..16;
pub(crate) const IP_DST: Range<usize> = 16..20;
pub(crate) const IP_FLAG_DF: u16 = 0x4000;
pub(crate) const IP_FLAG_MF: u16 = 0x2000;
pub(crate) const IP_FRAG_OFFSET_MASK: u16 = 0x1FFF;

// TCP header (RFC 793 §3.1).
pub(crate) const TCP_SRC_PORT: Range<usize> = 0..2;
pub(crate) const TCP_DST_PORT: Range<usize> = 2..4;
pub(crate) const TCP_SEQ: Range<usize> = 4..8;
pub(crate) const TCP_ACK: Range<usize> = 8..12;
pub(crate) const TCP_DATA_OFFSET: usize = 12;
pub(crate) const TCP_FLAGS: usize = 13;
pub(crate) const TCP_WINDOW: Range<usize> = 14..16;
pub(crate) const TCP_CHECKSUM: Range<usize> = 16..18;
pub(crate) const TCP_URGENT: Range<usize> = 18..20;

// UDP header (RFC 768).
pub(crate) const UDP_SRC_PORT: Range<usize> = 0..2;
pub(crate) const UDP_DST_PORT: Range<usize> = 2..4;
pub(crate) const UDP_LENGTH: Range<usize> = 4..6;
pub(crate) const UDP_CHECKSUM: Range<usize> = 6..8;

// ICMP header (RFC 792).
pub(crate) const ICMP_TYPE: usize = 0;
pub(crate) const ICMP_CODE: usize = 1;
pub(crate) const ICMP_CHECKSUM: Range<usize> = 2..4;
pub(crate) const ICMP_ECHO_IDENT: Range<usize> = 4..6;
pub(crate) const ICMP_ECHO_SEQ: Range<usize> = 6..8;
pub(crate) const ICMP_REST: Range<usize> = 4..8;
/// RFC 1191: the next-hop MTU sits in the low half of "rest of header".
pub(crate) const ICMP_NEXT_HOP_MTU: Range<usize> = 6..8;

pub(crate) const ICMP_ECHO_REPLY: u8 = 0;
pub(crate) const ICMP_DEST_UNREACHABLE: u8 = 3;
pub(crate) const ICMP_ECHO_REQUEST: u8 = 8;
pub(crate) const ICMP_TIME_EXCEEDED: u8 = 11;
pub(crate) const ICMP_PARAMETER_PROBLEM: u8 = 12;
/// Destination unreachable code 4: fragmentation needed and DF set.
pub(crate) const ICMP_CODE_FRAG_NEEDED: u8 = 4;
