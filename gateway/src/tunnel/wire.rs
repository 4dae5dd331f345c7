//! The few WireGuard and IPv4 wire facts the tunnel layer needs itself
//! (boringtun parses everything else).

use std::net::Ipv4Addr;

/// Message type of a handshake initiation (first byte, little-endian u32).
pub(crate) const MESSAGE_HANDSHAKE_INIT: u8 = 1;
/// Message type of a cookie reply.
pub(crate) const MESSAGE_COOKIE_REPLY: u8 = 3;
/// Message type of a transport data message.
pub(crate) const MESSAGE_DATA: u8 = 4;

/// A handshake initiation, the largest message boringtun writes besides data:
/// type 4 + sender 4 + ephemeral 32 + static (32 + 16 tag) + timestamp
/// (12 + 16 tag) + mac1 16 + mac2 16.
pub const HANDSHAKE_INIT_LEN: usize = 4 + 4 + 32 + (32 + 16) + (12 + 16) + 16 + 16;
/// Data message overhead: header (type 4 + receiver 4 + counter 8) + AEAD tag 16.
pub(crate) const WG_DATA_OVERHEAD: usize = 16 + 16;
/// What boringtun writes into the destination while decrypting: everything
/// after the 16-byte data header (ciphertext and tag).
pub(crate) const WG_DATA_HEADER: usize = 16;

const IPV4_MIN_HEADER: usize = 20;

/// Whether a datagram claims to be a handshake message (initiation 1,
/// response 2, cookie reply 3) no longer than the longest of them: the
/// messages that cost cryptography before they are known to be a peer's.
/// Only the claim: lengths and MACs are checked when it is handled.
pub fn is_handshake_message(datagram: &[u8]) -> bool {
    datagram.len() <= HANDSHAKE_INIT_LEN
        && matches!(
            message_type(datagram),
            Some(MESSAGE_HANDSHAKE_INIT..=MESSAGE_COOKIE_REPLY)
        )
}

/// The message type of a datagram boringtun produced.
pub(crate) fn message_type(datagram: &[u8]) -> Option<u8> {
    datagram.first().copied()
}

/// The destination of an IPv4 packet; `None` if it is not one.
pub(crate) fn ipv4_destination(packet: &[u8]) -> Option<Ipv4Addr> {
    if packet.len() < IPV4_MIN_HEADER || packet[0] >> 4 != 4 {
        return None;
    }
    let dst: [u8; 4] = packet[16..20].try_into().ok()?;
    Some(Ipv4Addr::from(dst))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initiation_length_matches_the_protocol() {
        assert_eq!(HANDSHAKE_INIT_LEN, 148);
    }

    #[test]
    fn handshake_messages_by_type_and_length() {
        let mut d = [0u8; HANDSHAKE_INIT_LEN + 1];
        for (kind, handshake) in [
            (0, false),
            (1, true),
            (2, true),
            (3, true),
            (4, false),
            (5, false),
        ] {
            d[0] = kind;
            assert_eq!(
                is_handshake_message(&d[..HANDSHAKE_INIT_LEN]),
                handshake,
                "type {kind}"
            );
            assert_eq!(
                is_handshake_message(&d[..1]),
                handshake,
                "type {kind}, short"
            );
        }
        d[0] = 1;
        assert!(
            !is_handshake_message(&d),
            "longer than any handshake message"
        );
        assert!(!is_handshake_message(&[]));
    }

    #[test]
    fn destination_only_for_ipv4_with_a_full_header() {
        let mut p = [0u8; 20];
        p[0] = 0x45;
        p[16..20].copy_from_slice(&[243, 0, 0, 7]);
        assert_eq!(ipv4_destination(&p), Some(Ipv4Addr::new(243, 0, 0, 7)));
        assert_eq!(ipv4_destination(&p[..19]), None);
        p[0] = 0x60;
        assert_eq!(ipv4_destination(&p), None);
        assert_eq!(ipv4_destination(&[]), None);
    }
}
