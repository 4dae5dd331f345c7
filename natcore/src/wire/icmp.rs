//! ICMPv4 message view (RFC 792).

use super::field;
use super::l4_checksum::L4Checksum;
use crate::DropReason;

/// A borrowed view over an ICMPv4 message (8-byte header + data).
///
/// [`IcmpMessage::new_checked`] validates the header length once; afterwards
/// no accessor can panic. The checksum covers the whole message and no
/// pseudo-header, so address changes in the IP header do not touch it.
#[derive(Debug, Clone)]
pub struct IcmpMessage<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> IcmpMessage<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        IcmpMessage { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, DropReason> {
        if buffer.as_ref().len() < field::ICMP_HEADER_LEN {
            return Err(DropReason::MalformedL4);
        }
        Ok(IcmpMessage { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn u16_at(&self, at: usize) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[at], b[at + 1]])
    }

    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::ICMP_TYPE]
    }

    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::ICMP_CODE]
    }

    pub fn checksum(&self) -> u16 {
        self.u16_at(field::ICMP_CHECKSUM.start)
    }

    /// Echo request/reply identifier (RFC 792).
    pub fn echo_ident(&self) -> u16 {
        self.u16_at(field::ICMP_ECHO_IDENT.start)
    }

    pub fn echo_seq(&self) -> u16 {
        self.u16_at(field::ICMP_ECHO_SEQ.start)
    }

    /// The four "rest of header" bytes (e.g. unused + next-hop MTU).
    pub fn rest_of_header(&self) -> u32 {
        let b = &self.buffer.as_ref()[field::ICMP_REST];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    /// The data after the 8-byte header (for errors: the quoted packet).
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[field::ICMP_HEADER_LEN..]
    }

    pub fn is_echo(&self) -> bool {
        matches!(
            self.msg_type(),
            field::ICMP_ECHO_REQUEST | field::ICMP_ECHO_REPLY
        )
    }

    /// Read a 16-bit word of the message (any offset), if present.
    pub(crate) fn read_u16(&self, at: usize) -> Option<u16> {
        let b = self.buffer.as_ref().get(at..at.checked_add(2)?)?;
        Some(u16::from_be_bytes([b[0], b[1]]))
    }

    /// Destination unreachable, time exceeded or parameter problem: the
    /// errors that quote an offending packet we know how to translate.
    pub fn is_translatable_error(&self) -> bool {
        matches!(
            self.msg_type(),
            field::ICMP_DEST_UNREACHABLE
                | field::ICMP_TIME_EXCEEDED
                | field::ICMP_PARAMETER_PROBLEM
        )
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> IcmpMessage<T> {
    /// Writes a 16-bit value at an even byte offset of the message (header or
    /// data) and updates the checksum. Returns the previous value, or `None`
    /// (nothing written) if it does not fit or the offset is odd.
    pub(crate) fn write_u16(&mut self, at: usize, value: u16) -> Option<u16> {
        if at & 1 != 0 || at.checked_add(2)? > self.buffer.as_ref().len() {
            return None;
        }
        let old = self.u16_at(at);
        if at != field::ICMP_CHECKSUM.start {
            let check = L4Checksum::Icmp.update(self.checksum(), at, old, value);
            self.buffer.as_mut()[field::ICMP_CHECKSUM].copy_from_slice(&check.to_be_bytes());
        }
        self.buffer.as_mut()[at..at + 2].copy_from_slice(&value.to_be_bytes());
        Some(old)
    }

    /// Sets the echo identifier, updating the checksum.
    pub fn set_echo_ident(&mut self, ident: u16) {
        // The header is at least 8 bytes, so this always fits.
        let _ = self.write_u16(field::ICMP_ECHO_IDENT.start, ident);
    }
}
