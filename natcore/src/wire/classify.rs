//! Validate once, then say what the packet is.

use super::{
    field, Classified, FiveTuple, IcmpMessage, Ipv4Packet, PacketKind, Protocol, TcpSegment,
    UdpDatagram,
};
use crate::DropReason;

/// Validates once (version 4, IHL ≥ 5, total length ≤ buffer, header checksum,
/// L4 header complete, TCP data offset sane, UDP length sane, ICMP types) and
/// classifies. Never panics; every refusal is a DropReason (Ipv6 for version 6,
/// UnsupportedProtocol, UnsupportedIcmp, Truncated, MalformedIp, BadIpChecksum, MalformedL4...).
///
/// L4 checksums are not verified: the endpoints do that, and the rewrites
/// preserve whatever the sender put there.
pub fn classify(packet: &[u8]) -> Result<Classified, DropReason> {
    let ip = Ipv4Packet::new_checked(packet)?;
    if !ip.verify_checksum() {
        return Err(DropReason::BadIpChecksum);
    }
    let protocol_number = ip.protocol();
    let protocol = Protocol::from_number(protocol_number).ok_or(DropReason::UnsupportedProtocol)?;
    let kind = if ip.frag_offset() != 0 {
        PacketKind::Fragment {
            protocol: protocol_number,
            src: ip.src_addr(),
            dst: ip.dst_addr(),
            id: ip.ident(),
        }
    } else {
        classify_l4(&ip, protocol)?
    };
    Ok(Classified {
        kind,
        total_len: ip.total_len(),
        header_len: ip.header_len(),
        dont_fragment: ip.dont_fragment(),
        more_fragments: ip.more_fragments(),
        ip_id: ip.ident(),
    })
}

fn classify_l4(ip: &Ipv4Packet<&[u8]>, protocol: Protocol) -> Result<PacketKind, DropReason> {
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let flow = |src_port, dst_port, tcp_flags, echo_request| PacketKind::Flow {
        tuple: FiveTuple {
            protocol,
            src,
            src_port,
            dst,
            dst_port,
        },
        tcp_flags,
        echo_request,
    };
    let l4 = ip.payload();
    match protocol {
        Protocol::Tcp => {
            let tcp = TcpSegment::new_checked(l4)?;
            Ok(flow(tcp.src_port(), tcp.dst_port(), tcp.flags(), false))
        }
        Protocol::Udp => {
            let udp = UdpDatagram::new_checked(l4)?;
            let udp_len = usize::from(udp.len());
            // A first fragment's UDP length counts bytes in later fragments.
            if udp_len < field::UDP_HEADER_LEN || (udp_len > l4.len() && !ip.more_fragments()) {
                return Err(DropReason::MalformedL4);
            }
            Ok(flow(udp.src_port(), udp.dst_port(), 0, false))
        }
        Protocol::Icmp => {
            let icmp = IcmpMessage::new_checked(l4)?;
            if icmp.is_echo() {
                let ident = icmp.echo_ident();
                let request = icmp.msg_type() == field::ICMP_ECHO_REQUEST;
                Ok(flow(ident, ident, 0, request))
            } else if icmp.is_translatable_error() {
                Ok(PacketKind::IcmpError {
                    outer_src: src,
                    outer_dst: dst,
                    inner: classify_quote(icmp.data())?,
                    icmp_type: icmp.msg_type(),
                    code: icmp.code(),
                })
            } else {
                Err(DropReason::UnsupportedIcmp)
            }
        }
    }
}

/// The offending packet quoted by an ICMP error: its header must be complete
/// and at least 8 bytes of its L4 header present (RFC 792), so the ports (or
/// echo identifier) can be translated.
pub(super) fn classify_quote(quote: &[u8]) -> Result<FiveTuple, DropReason> {
    let inner = Ipv4Packet::new_quoted(quote).map_err(|_| DropReason::MalformedL4)?;
    let protocol = Protocol::from_number(inner.protocol()).ok_or(DropReason::UnsupportedIcmp)?;
    if inner.frag_offset() != 0 {
        // No L4 header quoted: nothing to map the error to a flow with.
        return Err(DropReason::Fragment);
    }
    let l4 = inner.payload();
    if l4.len() < field::ICMP_QUOTED_L4_LEN {
        return Err(DropReason::MalformedL4);
    }
    let port = |at: usize| u16::from_be_bytes([l4[at], l4[at + 1]]);
    let (src_port, dst_port) = match protocol {
        Protocol::Tcp | Protocol::Udp => (port(0), port(2)),
        Protocol::Icmp => {
            if !matches!(l4[0], field::ICMP_ECHO_REQUEST | field::ICMP_ECHO_REPLY) {
                // An error about an error (or about an untranslated query).
                return Err(DropReason::UnsupportedIcmp);
            }
            let ident = port(field::ICMP_ECHO_IDENT.start);
            (ident, ident)
        }
    };
    Ok(FiveTuple {
        protocol,
        src: inner.src_addr(),
        src_port,
        dst: inner.dst_addr(),
        dst_port,
    })
}
