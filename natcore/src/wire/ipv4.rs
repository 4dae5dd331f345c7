//! IPv4 header view (RFC 791).

use super::field;
use crate::checksum;
use crate::DropReason;
use std::net::Ipv4Addr;

/// A borrowed view over an IPv4 packet.
///
/// [`Ipv4Packet::new_checked`] validates the lengths once; afterwards no
/// accessor can panic. Bytes past the total length are ignored.
#[derive(Debug, Clone)]
pub struct Ipv4Packet<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps without validation; accessors may panic on a short buffer.
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// Validates a packet as received: version 4, a complete header with
    /// IHL ≥ 5 and a total length between the header length and the buffer
    /// length. Does not verify the checksum (see [`Ipv4Packet::verify_checksum`]).
    pub fn new_checked(buffer: T) -> Result<Self, DropReason> {
        let packet = Self::new_quoted(buffer)?;
        let total_len = usize::from(packet.total_len_field());
        if total_len < packet.header_len() {
            return Err(DropReason::MalformedIp);
        }
        if total_len > packet.buffer.as_ref().len() {
            return Err(DropReason::Truncated);
        }
        Ok(packet)
    }

    /// Validates only what an ICMP error's quote guarantees: version 4 and a
    /// complete header. The total length may name bytes that are not here;
    /// [`Ipv4Packet::payload`] then returns what is.
    pub fn new_quoted(buffer: T) -> Result<Self, DropReason> {
        let bytes = buffer.as_ref();
        let Some(&ver_ihl) = bytes.first() else {
            return Err(DropReason::Truncated);
        };
        match ver_ihl >> 4 {
            4 => {}
            6 => return Err(DropReason::Ipv6),
            _ => return Err(DropReason::MalformedIp),
        }
        if bytes.len() < field::IPV4_MIN_HEADER_LEN {
            return Err(DropReason::Truncated);
        }
        let header_len = usize::from(ver_ihl & 0x0F) * 4;
        if header_len < field::IPV4_MIN_HEADER_LEN {
            return Err(DropReason::MalformedIp);
        }
        if header_len > bytes.len() {
            return Err(DropReason::Truncated);
        }
        Ok(Ipv4Packet { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn u16_at(&self, at: core::ops::Range<usize>) -> u16 {
        let b = &self.buffer.as_ref()[at];
        u16::from_be_bytes([b[0], b[1]])
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::IP_VER_IHL] >> 4
    }

    /// Header length in bytes (IHL × 4), options included.
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::IP_VER_IHL] & 0x0F) * 4
    }

    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[field::IP_TOS]
    }

    fn total_len_field(&self) -> u16 {
        self.u16_at(field::IP_LENGTH)
    }

    /// The total length field (for a quoted header it may exceed the buffer).
    pub fn total_len(&self) -> usize {
        usize::from(self.total_len_field())
    }

    pub fn ident(&self) -> u16 {
        self.u16_at(field::IP_IDENT)
    }

    pub fn dont_fragment(&self) -> bool {
        self.u16_at(field::IP_FLAGS_FRAG) & field::IP_FLAG_DF != 0
    }

    pub fn more_fragments(&self) -> bool {
        self.u16_at(field::IP_FLAGS_FRAG) & field::IP_FLAG_MF != 0
    }

    /// Fragment offset in 8-byte units.
    pub fn frag_offset(&self) -> u16 {
        self.u16_at(field::IP_FLAGS_FRAG) & field::IP_FRAG_OFFSET_MASK
    }

    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::IP_TTL]
    }

    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::IP_PROTOCOL]
    }

    pub fn checksum(&self) -> u16 {
        self.u16_at(field::IP_CHECKSUM)
    }

    pub fn src_addr(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::IP_SRC];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    pub fn dst_addr(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::IP_DST];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    /// The header, options included.
    pub fn header(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.header_len()]
    }

    /// True if the header checksum verifies (RFC 1071).
    pub fn verify_checksum(&self) -> bool {
        checksum::fold(checksum::ones_complement_sum(self.header(), 0)) == 0
    }

    fn payload_range(&self) -> core::ops::Range<usize> {
        let start = self.header_len();
        let end = self.total_len().min(self.buffer.as_ref().len()).max(start);
        start..end
    }

    /// The bytes after the header up to the total length (or the end of the
    /// buffer, for a quoted header).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.payload_range()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    fn set_u16_at(&mut self, at: core::ops::Range<usize>, value: u16) {
        self.buffer.as_mut()[at].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the source address, updating the header checksum incrementally.
    /// Returns the previous address.
    pub fn set_src_addr(&mut self, addr: Ipv4Addr) -> Ipv4Addr {
        let old = self.src_addr();
        self.replace_addr(field::IP_SRC, old, addr);
        old
    }

    /// Sets the destination address, updating the header checksum
    /// incrementally. Returns the previous address.
    pub fn set_dst_addr(&mut self, addr: Ipv4Addr) -> Ipv4Addr {
        let old = self.dst_addr();
        self.replace_addr(field::IP_DST, old, addr);
        old
    }

    fn replace_addr(&mut self, at: core::ops::Range<usize>, old: Ipv4Addr, new: Ipv4Addr) {
        let check = checksum::update_u32(self.checksum(), old.to_bits(), new.to_bits());
        self.buffer.as_mut()[at].copy_from_slice(&new.octets());
        self.set_u16_at(field::IP_CHECKSUM, check);
    }

    /// Recomputes the header checksum from scratch (for builders).
    pub fn fill_checksum(&mut self) {
        self.set_u16_at(field::IP_CHECKSUM, 0);
        let check = checksum::fold(checksum::ones_complement_sum(self.header(), 0));
        self.set_u16_at(field::IP_CHECKSUM, check);
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = self.payload_range();
        &mut self.buffer.as_mut()[range]
    }
}
