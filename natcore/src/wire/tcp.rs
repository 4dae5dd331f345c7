//! TCP header view (RFC 793 / RFC 9293).

use super::field;
use super::l4_checksum::L4Checksum;
use crate::DropReason;
use std::net::Ipv4Addr;

/// A borrowed view over a TCP segment (header + payload).
///
/// [`TcpSegment::new_checked`] validates the data offset once; afterwards no
/// accessor can panic. Setters keep the checksum valid incrementally.
#[derive(Debug, Clone)]
pub struct TcpSegment<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpSegment<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        TcpSegment { buffer }
    }

    /// Validates: at least a 20-byte header, data offset ≥ 5 and within the
    /// buffer.
    pub fn new_checked(buffer: T) -> Result<Self, DropReason> {
        let bytes = buffer.as_ref();
        if bytes.len() < field::TCP_MIN_HEADER_LEN {
            return Err(DropReason::MalformedL4);
        }
        let header_len = usize::from(bytes[field::TCP_DATA_OFFSET] >> 4) * 4;
        if header_len < field::TCP_MIN_HEADER_LEN || header_len > bytes.len() {
            return Err(DropReason::MalformedL4);
        }
        Ok(TcpSegment { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn u16_at(&self, at: usize) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[at], b[at + 1]])
    }

    pub fn src_port(&self) -> u16 {
        self.u16_at(field::TCP_SRC_PORT.start)
    }

    pub fn dst_port(&self) -> u16 {
        self.u16_at(field::TCP_DST_PORT.start)
    }

    pub fn seq_number(&self) -> u32 {
        let b = &self.buffer.as_ref()[field::TCP_SEQ];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    pub fn ack_number(&self) -> u32 {
        let b = &self.buffer.as_ref()[field::TCP_ACK];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    /// Header length in bytes (data offset × 4), options included.
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::TCP_DATA_OFFSET] >> 4) * 4
    }

    /// The flags byte (CWR ECE URG ACK PSH RST SYN FIN).
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::TCP_FLAGS]
    }

    pub fn window(&self) -> u16 {
        self.u16_at(field::TCP_WINDOW.start)
    }

    pub fn checksum(&self) -> u16 {
        self.u16_at(field::TCP_CHECKSUM.start)
    }

    pub fn urgent_pointer(&self) -> u16 {
        self.u16_at(field::TCP_URGENT.start)
    }

    /// The option bytes between the fixed header and the data.
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::TCP_MIN_HEADER_LEN..self.header_len()]
    }

    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpSegment<T> {
    /// Writes a 16-bit value at byte `at` of the header (any alignment) and
    /// updates the checksum. `at + 2` must not exceed the header length.
    pub(crate) fn write_header_u16(&mut self, at: usize, value: u16) {
        let old = self.u16_at(at);
        let check = L4Checksum::Tcp.update(self.checksum(), at, old, value);
        let b = self.buffer.as_mut();
        b[at..at + 2].copy_from_slice(&value.to_be_bytes());
        b[field::TCP_CHECKSUM].copy_from_slice(&check.to_be_bytes());
    }

    pub fn set_src_port(&mut self, port: u16) {
        self.write_header_u16(field::TCP_SRC_PORT.start, port);
    }

    pub fn set_dst_port(&mut self, port: u16) {
        self.write_header_u16(field::TCP_DST_PORT.start, port);
    }

    /// Follows an address change in the IPv4 pseudo-header.
    pub fn pseudo_header_addr_changed(&mut self, old: Ipv4Addr, new: Ipv4Addr) {
        let check = L4Checksum::Tcp.update_addr(self.checksum(), old, new);
        self.buffer.as_mut()[field::TCP_CHECKSUM].copy_from_slice(&check.to_be_bytes());
    }
}
