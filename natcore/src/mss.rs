//! TCP MSS clamping and the ICMP "fragmentation needed" builder: the two ways
//! a tunnel with a smaller inner MTU keeps TCP and PMTUD working.
//!
//! - MSS (RFC 9293 §3.7.1, RFC 879): the option is kind 2, length 4, and may
//!   sit at any offset among the other options, including an odd one (after a
//!   single NOP), where its bytes straddle two checksum words; the incremental
//!   update accounts for that (see [`crate::checksum::update_u16_at`]).
//! - Fragmentation needed (RFC 792 type 3 code 4, RFC 1191 §4 next-hop MTU).

use crate::checksum;
use crate::wire::{field, Classified, Ipv4Packet, PacketKind, Protocol, TcpSegment};
use std::net::Ipv4Addr;

const IPV4_HEADER_LEN: u16 = 20; // no options
const TCP_HEADER_LEN: u16 = 20; // no options

const OPT_EOL: u8 = 0;
const OPT_NOP: u8 = 1;
const OPT_MSS: u8 = 2;
const OPT_MSS_LEN: usize = 4; // kind, length, 16-bit value
const TCP_FLAG_SYN: u8 = 0x02;

/// MSS for an IPv4 inner MTU: mtu − 20 (IPv4) − 20 (TCP).
pub const fn mss_for_mtu(mtu: u16) -> u16 {
    mtu.saturating_sub(IPV4_HEADER_LEN + TCP_HEADER_LEN)
}

/// Clamps the MSS option of a TCP SYN or SYN-ACK to `max_mss` (found at any offset among
/// other options; EOL/NOP/length rules respected; malformed option lists are left
/// untouched). Fixes the TCP checksum incrementally. Returns true if it lowered the MSS.
///
/// Every MSS option in the list is clamped (receivers differ in which of
/// several they honour). A list is malformed, and left alone, if an option
/// other than EOL/NOP has no length byte, a length below 2, a length running
/// past the header, or is an MSS whose length is not 4.
pub fn clamp_mss(packet: &mut [u8], c: &Classified, max_mss: u16) -> bool {
    let PacketKind::Flow {
        tuple, tcp_flags, ..
    } = c.kind
    else {
        return false;
    };
    if tuple.protocol != Protocol::Tcp || tcp_flags & TCP_FLAG_SYN == 0 {
        return false;
    }
    let Some(bytes) = packet.get_mut(..c.total_len) else {
        return false;
    };
    let Ok(mut ip) = Ipv4Packet::new_checked(bytes) else {
        return false;
    };
    if ip.header_len() != c.header_len || ip.protocol() != field::PROTO_TCP || ip.frag_offset() != 0
    {
        return false;
    }
    let Ok(mut tcp) = TcpSegment::new_checked(ip.payload_mut()) else {
        return false;
    };
    if tcp.flags() & TCP_FLAG_SYN == 0 || !options_well_formed(tcp.options()) {
        return false;
    }
    let mut lowered = false;
    let mut at = 0;
    while let Some(option) = next_option(tcp.options(), at) {
        if let TcpOption::Mss { value } = option.kind {
            if value > max_mss {
                // The option's value starts 2 bytes in; options start after
                // the fixed header. Its parity relative to the checksum words
                // is handled by write_header_u16.
                tcp.write_header_u16(field::TCP_MIN_HEADER_LEN + at + 2, max_mss);
                lowered = true;
            }
        }
        at = option.next;
    }
    lowered
}

enum TcpOption {
    Mss { value: u16 },
    Other,
    End,
}

struct ParsedOption {
    kind: TcpOption,
    /// Where the next option starts.
    next: usize,
}

/// The option starting at `at`, or `None` at the end of the list (or on a
/// malformed option, which [`options_well_formed`] rules out beforehand).
fn next_option(options: &[u8], at: usize) -> Option<ParsedOption> {
    let kind = *options.get(at)?;
    match kind {
        OPT_EOL => Some(ParsedOption {
            kind: TcpOption::End,
            next: options.len(),
        }),
        OPT_NOP => Some(ParsedOption {
            kind: TcpOption::Other,
            next: at + 1,
        }),
        _ => {
            let len = usize::from(*options.get(at + 1)?);
            if len < 2 || at + len > options.len() {
                return None;
            }
            let kind = if kind == OPT_MSS {
                if len != OPT_MSS_LEN {
                    return None;
                }
                TcpOption::Mss {
                    value: u16::from_be_bytes([options[at + 2], options[at + 3]]),
                }
            } else {
                TcpOption::Other
            };
            Some(ParsedOption {
                kind,
                next: at + len,
            })
        }
    }
}

fn options_well_formed(options: &[u8]) -> bool {
    let mut at = 0;
    while at < options.len() {
        match next_option(options, at) {
            Some(ParsedOption {
                kind: TcpOption::End,
                ..
            }) => return true,
            Some(option) => at = option.next,
            None => return false,
        }
    }
    true
}

/// Builds ICMP type 3 code 4 (fragmentation needed) answering `original` (which had DF set
/// and exceeded `next_hop_mtu`), from `icmp_src`, to the original's source, quoting the
/// original's IP header + 8 bytes (RFC 792 / RFC 1191 next-hop MTU field). Writes into
/// `out`, returns the length, or None if `out` is too small or `original` is not valid.
///
/// Also `None` where RFC 1122 §3.2.2 / RFC 1812 §4.3.2.7 forbid an ICMP error:
/// about an ICMP error, a non-first fragment, or a packet from an
/// unspecified, broadcast or multicast source or to a broadcast or multicast
/// destination.
pub fn build_frag_needed(
    original: &[u8],
    next_hop_mtu: u16,
    icmp_src: Ipv4Addr,
    out: &mut [u8],
) -> Option<usize> {
    let orig = Ipv4Packet::new_checked(original).ok()?;
    if !orig.verify_checksum() || !may_answer_with_error(&orig) {
        return None;
    }
    let quote_len = orig.header_len() + orig.payload().len().min(field::ICMP_QUOTED_L4_LEN);
    let icmp_len = field::ICMP_HEADER_LEN + quote_len;
    let total_len = field::IPV4_MIN_HEADER_LEN + icmp_len;
    let out = out.get_mut(..total_len)?;
    let (header, icmp) = out.split_at_mut(field::IPV4_MIN_HEADER_LEN);

    header.fill(0);
    header[field::IP_VER_IHL] = 0x45; // version 4, IHL 5
    header[field::IP_TOS] = 0xC0; // precedence "internetwork control", as Linux sends errors
    header[field::IP_LENGTH].copy_from_slice(&(total_len as u16).to_be_bytes()); // ≤ 20 + 8 + 60 + 8
    header[field::IP_TTL] = 64;
    header[field::IP_PROTOCOL] = field::PROTO_ICMP;
    header[field::IP_SRC].copy_from_slice(&icmp_src.octets());
    header[field::IP_DST].copy_from_slice(&orig.src_addr().octets());
    Ipv4Packet::new_unchecked(&mut *header).fill_checksum();

    icmp[..field::ICMP_HEADER_LEN].fill(0);
    icmp[field::ICMP_TYPE] = field::ICMP_DEST_UNREACHABLE;
    icmp[field::ICMP_CODE] = field::ICMP_CODE_FRAG_NEEDED;
    icmp[field::ICMP_NEXT_HOP_MTU].copy_from_slice(&next_hop_mtu.to_be_bytes());
    icmp[field::ICMP_HEADER_LEN..].copy_from_slice(&original[..quote_len]);
    let check = checksum::fold(checksum::ones_complement_sum(icmp, 0));
    icmp[field::ICMP_CHECKSUM].copy_from_slice(&check.to_be_bytes());
    Some(total_len)
}

fn may_answer_with_error(orig: &Ipv4Packet<&[u8]>) -> bool {
    let (src, dst) = (orig.src_addr(), orig.dst_addr());
    if orig.frag_offset() != 0
        || src.is_unspecified()
        || src.is_broadcast()
        || src.is_multicast()
        || dst.is_broadcast()
        || dst.is_multicast()
    {
        return false;
    }
    if orig.protocol() == field::PROTO_ICMP {
        // Errors are never answered; queries (echo) are.
        let Some(&icmp_type) = orig.payload().first() else {
            return false;
        };
        return matches!(
            icmp_type,
            field::ICMP_ECHO_REQUEST | field::ICMP_ECHO_REPLY | 13..=18
        );
    }
    true
}

#[cfg(test)]
mod tests;
