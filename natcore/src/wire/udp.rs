//! UDP header view (RFC 768).

use super::field;
use super::l4_checksum::L4Checksum;
use crate::DropReason;
use std::net::Ipv4Addr;

/// A borrowed view over a UDP datagram (header + payload).
///
/// [`UdpDatagram::new_checked`] validates the header length once. The length
/// field is *not* checked against the buffer here, because a first fragment
/// legitimately names more bytes than it carries; [`super::classify`] checks it.
/// A zero checksum ("none") stays zero through every setter.
#[derive(Debug, Clone)]
pub struct UdpDatagram<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpDatagram<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        UdpDatagram { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, DropReason> {
        if buffer.as_ref().len() < field::UDP_HEADER_LEN {
            return Err(DropReason::MalformedL4);
        }
        Ok(UdpDatagram { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn u16_at(&self, at: usize) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[at], b[at + 1]])
    }

    pub fn src_port(&self) -> u16 {
        self.u16_at(field::UDP_SRC_PORT.start)
    }

    pub fn dst_port(&self) -> u16 {
        self.u16_at(field::UDP_DST_PORT.start)
    }

    /// The length field: header + data, as the sender claims.
    pub fn len(&self) -> u16 {
        self.u16_at(field::UDP_LENGTH.start)
    }

    /// True if the length field claims no data.
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) <= field::UDP_HEADER_LEN
    }

    pub fn checksum(&self) -> u16 {
        self.u16_at(field::UDP_CHECKSUM.start)
    }

    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::UDP_HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpDatagram<T> {
    fn write_header_u16(&mut self, at: usize, value: u16) {
        let old = self.u16_at(at);
        let check = L4Checksum::Udp.update(self.checksum(), at, old, value);
        let b = self.buffer.as_mut();
        b[at..at + 2].copy_from_slice(&value.to_be_bytes());
        b[field::UDP_CHECKSUM].copy_from_slice(&check.to_be_bytes());
    }

    pub fn set_src_port(&mut self, port: u16) {
        self.write_header_u16(field::UDP_SRC_PORT.start, port);
    }

    pub fn set_dst_port(&mut self, port: u16) {
        self.write_header_u16(field::UDP_DST_PORT.start, port);
    }

    /// Follows an address change in the IPv4 pseudo-header.
    pub fn pseudo_header_addr_changed(&mut self, old: Ipv4Addr, new: Ipv4Addr) {
        let check = L4Checksum::Udp.update_addr(self.checksum(), old, new);
        self.buffer.as_mut()[field::UDP_CHECKSUM].copy_from_slice(&check.to_be_bytes());
    }
}
