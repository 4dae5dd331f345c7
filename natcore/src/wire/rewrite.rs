//! In-place address/port rewrites that keep every checksum valid (RFC 1624).
//!
//! Each rewrite re-validates the lengths it relies on against the
//! [`Classified`] it is given and changes nothing (returning `false`) if they
//! disagree, so a stale or forged `Classified` cannot cause a panic or a
//! half-written packet.

use super::classify::classify_quote;
use super::l4_checksum::L4Checksum;
use super::{
    field, Classified, IcmpMessage, Ipv4Packet, PacketKind, Protocol, TcpSegment, UdpDatagram,
};
use std::net::Ipv4Addr;

#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Src,
    Dst,
}

/// In-place rewrites of a packet previously accepted by `classify` (same bytes).
/// Each keeps every checksum valid with RFC 1624 incremental updates: IPv4 header,
/// TCP, UDP (a zero UDP checksum stays zero), ICMP (ICMP has no pseudo-header). They
/// must not panic even if handed garbage (they may then do nothing and return false).
/// Port = ICMP echo identifier for echo packets (rewriting either "port" of an echo
/// packet rewrites the identifier). For a `Fragment` only the address is rewritten.
///
/// For an `IcmpError` this rewrites only the outer source address (`port` is
/// ignored); use [`rewrite_icmp_error`] to translate the quoted packet as well.
pub fn rewrite_src(packet: &mut [u8], c: &Classified, addr: Ipv4Addr, port: u16) -> bool {
    rewrite_end(packet, c, End::Src, addr, port)
}

/// The destination counterpart of [`rewrite_src`].
pub fn rewrite_dst(packet: &mut [u8], c: &Classified, addr: Ipv4Addr, port: u16) -> bool {
    rewrite_end(packet, c, End::Dst, addr, port)
}

/// The IPv4 view over exactly the classified bytes, if they still match `c`.
fn matching_ip<'a>(packet: &'a mut [u8], c: &Classified) -> Option<Ipv4Packet<&'a mut [u8]>> {
    let bytes = packet.get_mut(..c.total_len)?;
    let ip = Ipv4Packet::new_checked(bytes).ok()?;
    (ip.header_len() == c.header_len && ip.total_len() == c.total_len).then_some(ip)
}

fn set_addr<T: AsRef<[u8]> + AsMut<[u8]>>(
    ip: &mut Ipv4Packet<T>,
    end: End,
    addr: Ipv4Addr,
) -> Ipv4Addr {
    match end {
        End::Src => ip.set_src_addr(addr),
        End::Dst => ip.set_dst_addr(addr),
    }
}

fn rewrite_end(packet: &mut [u8], c: &Classified, end: End, addr: Ipv4Addr, port: u16) -> bool {
    let Some(mut ip) = matching_ip(packet, c) else {
        return false;
    };
    let tuple = match c.kind {
        PacketKind::Flow { tuple, .. } => tuple,
        PacketKind::Fragment { .. } => {
            if ip.frag_offset() == 0 {
                return false;
            }
            set_addr(&mut ip, end, addr);
            return true;
        }
        PacketKind::IcmpError { .. } => {
            if ip.protocol() != field::PROTO_ICMP {
                return false;
            }
            set_addr(&mut ip, end, addr);
            return true;
        }
    };
    if ip.protocol() != tuple.protocol.number() || ip.frag_offset() != 0 {
        return false;
    }
    let old_addr = match end {
        End::Src => ip.src_addr(),
        End::Dst => ip.dst_addr(),
    };
    // L4 first: if its header does not validate, nothing has been written yet.
    let l4 = ip.payload_mut();
    match tuple.protocol {
        Protocol::Tcp => {
            let Ok(mut tcp) = TcpSegment::new_checked(l4) else {
                return false;
            };
            tcp.pseudo_header_addr_changed(old_addr, addr);
            match end {
                End::Src => tcp.set_src_port(port),
                End::Dst => tcp.set_dst_port(port),
            }
        }
        Protocol::Udp => {
            let Ok(mut udp) = UdpDatagram::new_checked(l4) else {
                return false;
            };
            udp.pseudo_header_addr_changed(old_addr, addr);
            match end {
                End::Src => udp.set_src_port(port),
                End::Dst => udp.set_dst_port(port),
            }
        }
        Protocol::Icmp => {
            let Ok(mut icmp) = IcmpMessage::new_checked(l4) else {
                return false;
            };
            if !icmp.is_echo() {
                return false;
            }
            icmp.set_echo_ident(port);
        }
    }
    set_addr(&mut ip, end, addr);
    true
}

/// For an IcmpError: rewrite the outer IP source and/or destination, and the embedded
/// packet's source and/or destination (address + port/identifier). Fixes the outer IP
/// checksum, the ICMP checksum (which covers the embedded bytes), the embedded IP header
/// checksum, and the embedded L4 checksum field when it lies inside the quoted bytes
/// (embedded UDP checksum zero stays zero). `None` leaves a field alone.
///
/// For an embedded echo the port is the identifier; if both `inner_src` and
/// `inner_dst` are given, the destination's is written last.
pub fn rewrite_icmp_error(
    packet: &mut [u8],
    c: &Classified,
    outer_src: Option<Ipv4Addr>,
    outer_dst: Option<Ipv4Addr>,
    inner_src: Option<(Ipv4Addr, u16)>,
    inner_dst: Option<(Ipv4Addr, u16)>,
) -> bool {
    if !matches!(c.kind, PacketKind::IcmpError { .. }) {
        return false;
    }
    let Some(mut ip) = matching_ip(packet, c) else {
        return false;
    };
    if ip.protocol() != field::PROTO_ICMP || ip.frag_offset() != 0 {
        return false;
    }
    let Ok(mut icmp) = IcmpMessage::new_checked(ip.payload_mut()) else {
        return false;
    };
    if !icmp.is_translatable_error() {
        return false;
    }
    let Ok(inner_tuple) = classify_quote(icmp.data()) else {
        return false;
    };
    // classify_quote proved: a complete inner header and ≥ 8 bytes of its L4.
    let Some(inner_header_len) = icmp.data().first().map(|b| usize::from(b & 0x0F) * 4) else {
        return false;
    };
    let mut quote = Quote {
        icmp: &mut icmp,
        ip_at: field::ICMP_HEADER_LEN,
        l4_at: field::ICMP_HEADER_LEN + inner_header_len,
        protocol: inner_tuple.protocol,
    };
    if let Some((addr, port)) = inner_src {
        quote.rewrite(End::Src, addr, port);
    }
    if let Some((addr, port)) = inner_dst {
        quote.rewrite(End::Dst, addr, port);
    }
    // ICMP has no pseudo-header: the outer addresses only touch the IP checksum.
    if let Some(addr) = outer_src {
        ip.set_src_addr(addr);
    }
    if let Some(addr) = outer_dst {
        ip.set_dst_addr(addr);
    }
    true
}

/// The packet quoted inside an ICMP error. Every word written goes through
/// [`IcmpMessage::write_u16`], so the outer ICMP checksum follows each change
/// (including the changes to the inner checksums themselves). All offsets are
/// even: the ICMP header is 8 bytes and an IPv4 header a multiple of 4.
struct Quote<'a, 'b> {
    icmp: &'a mut IcmpMessage<&'b mut [u8]>,
    ip_at: usize,
    l4_at: usize,
    protocol: Protocol,
}

impl Quote<'_, '_> {
    fn read(&self, at: usize) -> Option<u16> {
        self.icmp.read_u16(at)
    }

    fn write(&mut self, at: usize, value: u16) -> Option<u16> {
        self.icmp.write_u16(at, value)
    }

    fn rewrite(&mut self, end: End, addr: Ipv4Addr, port: u16) -> Option<()> {
        let addr_at = self.ip_at
            + match end {
                End::Src => field::IP_SRC.start,
                End::Dst => field::IP_DST.start,
            };
        let new = addr.to_bits();
        // Inner IP address and the inner header checksum that covers it.
        let old_hi = self.write(addr_at, (new >> 16) as u16)?;
        let old_lo = self.write(addr_at + 2, new as u16)?;
        let old = (u32::from(old_hi) << 16) | u32::from(old_lo);
        let ip_check_at = self.ip_at + field::IP_CHECKSUM.start;
        let ip_check = crate::checksum::update_u32(self.read(ip_check_at)?, old, new);
        self.write(ip_check_at, ip_check)?;

        // Inner port / echo identifier and the inner L4 checksum, if quoted.
        let (port_at, check_at, discipline) = match (self.protocol, end) {
            (Protocol::Tcp, End::Src) => (
                field::TCP_SRC_PORT.start,
                field::TCP_CHECKSUM.start,
                L4Checksum::Tcp,
            ),
            (Protocol::Tcp, End::Dst) => (
                field::TCP_DST_PORT.start,
                field::TCP_CHECKSUM.start,
                L4Checksum::Tcp,
            ),
            (Protocol::Udp, End::Src) => (
                field::UDP_SRC_PORT.start,
                field::UDP_CHECKSUM.start,
                L4Checksum::Udp,
            ),
            (Protocol::Udp, End::Dst) => (
                field::UDP_DST_PORT.start,
                field::UDP_CHECKSUM.start,
                L4Checksum::Udp,
            ),
            (Protocol::Icmp, _) => (
                field::ICMP_ECHO_IDENT.start,
                field::ICMP_CHECKSUM.start,
                L4Checksum::Icmp,
            ),
        };
        let old_port = self.write(self.l4_at + port_at, port)?;
        // A TCP checksum lies beyond the 8 bytes an error must quote.
        if let Some(l4_check) = self.read(self.l4_at + check_at) {
            let l4_check = discipline.update_addr(l4_check, Ipv4Addr::from_bits(old), addr);
            let l4_check = discipline.update(l4_check, port_at, old_port, port);
            self.write(self.l4_at + check_at, l4_check)?;
        }
        Some(())
    }
}
