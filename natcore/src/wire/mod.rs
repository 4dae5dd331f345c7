//! Validated zero-copy views over IPv4 / TCP / UDP / ICMP, classification for
//! the NAT, and in-place rewrites that keep every checksum valid.
//!
//! No-panic contract (smoltcp style): each view's `new_checked` validates the
//! lengths its accessors rely on, so after it succeeds no accessor can panic;
//! [`classify`] validates a whole packet once and names every refusal with a
//! [`DropReason`]; the rewrites re-check the few lengths they touch and return
//! `false` rather than panic if handed bytes that do not match their
//! [`Classified`]. Nothing here allocates.
//!
//! Checksums follow RFC 1071 (full sums) and RFC 1624 eqn. 3 (incremental
//! updates); see [`crate::checksum`].

mod classify;
pub(crate) mod field;
mod icmp;
mod ipv4;
mod l4_checksum;
mod rewrite;
mod tcp;
mod udp;

pub use classify::classify;
pub use icmp::IcmpMessage;
pub use ipv4::Ipv4Packet;
pub use rewrite::{rewrite_dst, rewrite_icmp_error, rewrite_src};
pub use tcp::TcpSegment;
pub use udp::UdpDatagram;

use std::net::Ipv4Addr;

/// The L4 protocols natcore translates (IANA protocol numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Protocol {
    Icmp = 1,
    Tcp = 6,
    Udp = 17,
}

impl Protocol {
    /// The protocol for an IPv4 protocol number, if natcore translates it.
    pub const fn from_number(number: u8) -> Option<Protocol> {
        match number {
            field::PROTO_ICMP => Some(Protocol::Icmp),
            field::PROTO_TCP => Some(Protocol::Tcp),
            field::PROTO_UDP => Some(Protocol::Udp),
            _ => None,
        }
    }

    pub const fn number(self) -> u8 {
        self as u8
    }
}

/// Addresses and ports as the NAT sees them. For ICMP echo request/reply both
/// `src_port` and `dst_port` hold the echo identifier (so the NAT treats the
/// identifier exactly like a port: `reversed()` keeps it matching).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FiveTuple {
    pub protocol: Protocol,
    pub src: Ipv4Addr,
    pub src_port: u16,
    pub dst: Ipv4Addr,
    pub dst_port: u16,
}

impl FiveTuple {
    /// The tuple of the opposite direction (what a reply carries).
    pub fn reversed(self) -> FiveTuple {
        FiveTuple {
            protocol: self.protocol,
            src: self.dst,
            src_port: self.dst_port,
            dst: self.src,
            dst_port: self.src_port,
        }
    }
}

/// What a packet is, as far as the NAT is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketKind {
    /// TCP segment, UDP datagram, or ICMP echo request/reply (first fragment or unfragmented).
    Flow {
        tuple: FiveTuple,
        /// The TCP flags byte; 0 unless TCP.
        tcp_flags: u8,
        /// ICMP echo request (as opposed to reply); false unless ICMP.
        echo_request: bool,
    },
    /// ICMP destination unreachable (type 3, any code), time exceeded (11) or
    /// parameter problem (12) whose embedded packet is IPv4 TCP/UDP/ICMP-echo with at
    /// least 8 bytes of its L4 header. `inner` is the embedded packet's own tuple (the
    /// packet that caused the error, as its sender sent it).
    IcmpError {
        outer_src: Ipv4Addr,
        outer_dst: Ipv4Addr,
        inner: FiveTuple,
        icmp_type: u8,
        code: u8,
    },
    /// A non-first fragment: no L4 header; only addresses can be translated.
    Fragment {
        protocol: u8,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        id: u16,
    },
}

/// The result of [`classify`]: what the packet is and where its parts are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Classified {
    pub kind: PacketKind,
    /// IPv4 total length (the packet may sit in a longer buffer: bytes past it are ignored).
    pub total_len: usize,
    pub header_len: usize,
    pub dont_fragment: bool,
    /// MF set on a first fragment (offset 0): the L4 header is here but the datagram is split.
    pub more_fragments: bool,
    pub ip_id: u16,
}

#[cfg(test)]
mod tests;
