//! How each L4 checksum field follows a change to a word it covers.

use crate::checksum;
use std::net::Ipv4Addr;

/// The checksum discipline of an L4 header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum L4Checksum {
    /// Covers a pseudo-header with both addresses.
    Tcp,
    /// Like TCP, but 0 means "no checksum" and must stay 0, and a computed 0
    /// is carried as 0xFFFF (RFC 768).
    Udp,
    /// Covers only the ICMP message (RFC 792): addresses do not matter.
    Icmp,
}

impl L4Checksum {
    /// The field after the covered 16-bit word at byte `offset` (relative to
    /// any even position) changed from `old` to `new`.
    pub(crate) fn update(self, field: u16, offset: usize, old: u16, new: u16) -> u16 {
        match self {
            L4Checksum::Udp => {
                if field == 0 {
                    return 0;
                }
                // 0xFFFF carries a computed 0; update from the canonical value.
                let canonical = if field == 0xFFFF { 0 } else { field };
                checksum::udp_field(checksum::update_u16_at(canonical, offset, old, new))
            }
            L4Checksum::Tcp => checksum::update_u16_at(field, offset, old, new),
            // An ICMP message can be all zeros (an echo reply with identifier,
            // sequence and payload 0 once its identifier is translated to 0):
            // its data sums to +0, which only a 0xFFFF field verifies, while
            // eqn. 3 yields 0x0000. 0xFFFF verifies in every case where
            // 0x0000 would (for TCP the pseudo-header is never zero).
            L4Checksum::Icmp => match checksum::update_u16_at(field, offset, old, new) {
                0 => 0xFFFF,
                check => check,
            },
        }
    }

    /// The field after an address in the IPv4 header changed.
    pub(crate) fn update_addr(self, field: u16, old: Ipv4Addr, new: Ipv4Addr) -> u16 {
        match self {
            L4Checksum::Icmp => field,
            L4Checksum::Tcp | L4Checksum::Udp => {
                let (old, new) = (old.to_bits(), new.to_bits());
                let field = self.update(field, 0, (old >> 16) as u16, (new >> 16) as u16);
                self.update(field, 0, old as u16, new as u16)
            }
        }
    }
}
