//! The Internet checksum: full sums (RFC 1071) and incremental updates (RFC 1624).
//!
//! One arithmetic serves the IPv4 header, TCP, UDP and ICMP: the 16-bit one's
//! complement of the one's complement sum of the covered 16-bit words.
//!
//! - RFC 1071 §4.1: the sum can be accumulated in a wider register and the
//!   carries folded back at the end ("end-around carry"); byte order does not
//!   matter as long as it is the same for every word (§2 B), which also means a
//!   16-bit field at an *odd* byte offset contributes its byte-swapped value.
//! - RFC 1624 eqn. 3: when a covered 16-bit word changes from `m` to `m'`, the
//!   new checksum is `HC' = ~(~HC + ~m + m')`. Unlike eqn. 2 it never produces
//!   0xFFFF (negative zero) from a checksum a full computation could have
//!   produced, so translating a packet and translating it back restores the
//!   original bytes exactly.
//! - RFC 768: UDP sends a computed checksum of 0 as 0xFFFF, because 0 means
//!   "no checksum" (see [`udp_field`]).
//!
//! Everything here is a pure function over bytes or words; nothing allocates.

use crate::wire::field;

/// Adds `data`, taken as big-endian 16-bit words (an odd trailing byte is
/// padded with zero, RFC 1071 §4.1), to `initial`. The result is partially
/// folded so it can be fed back as `initial` for the next chunk; chunks other
/// than the last must therefore have even lengths.
pub fn ones_complement_sum(data: &[u8], initial: u32) -> u32 {
    let mut sum = u64::from(initial);
    let mut words = data.chunks_exact(2);
    for word in &mut words {
        sum += u64::from(u16::from_be_bytes([word[0], word[1]]));
    }
    if let [last] = words.remainder() {
        sum += u64::from(*last) << 8;
    }
    fold_carries(sum)
}

/// Folds the carries of a wide accumulator into 16 bits (end-around carry).
fn fold_carries(mut sum: u64) -> u32 {
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    // Fits: the loop leaves at most 0xFFFF.
    sum as u32
}

/// Folds a sum and complements it: the value to store in a checksum field.
/// Over a region that already contains a valid checksum this yields 0.
pub fn fold(sum: u32) -> u16 {
    !(fold_carries(u64::from(sum)) as u16)
}

/// RFC 1624 eqn. 3: the checksum `check` after a covered word changed from
/// `old` to `new`.
pub fn update_u16(check: u16, old: u16, new: u16) -> u16 {
    if old == new {
        // Keeps a (non-canonical) 0xFFFF field byte-identical on no-op rewrites.
        return check;
    }
    let sum = u32::from(!check) + u32::from(!old) + u32::from(new);
    !(fold_carries(u64::from(sum)) as u16)
}

/// [`update_u16`] for two adjacent covered words, e.g. an IPv4 address.
pub fn update_u32(check: u16, old: u32, new: u32) -> u16 {
    let check = update_u16(check, (old >> 16) as u16, (new >> 16) as u16);
    update_u16(check, old as u16, new as u16)
}

/// [`update_u16`] for a 16-bit field that starts at byte `offset` of the
/// checksummed region. At an odd offset its bytes straddle two words, which
/// by RFC 1071's byte-order independence is the same as adding the
/// byte-swapped value (e.g. a TCP MSS option after a single NOP).
pub fn update_u16_at(check: u16, offset: usize, old: u16, new: u16) -> u16 {
    if offset & 1 == 0 {
        update_u16(check, old, new)
    } else {
        update_u16(check, old.swap_bytes(), new.swap_bytes())
    }
}

/// The TCP/UDP pseudo-header (RFC 793 §3.1, RFC 768) summed, unfolded.
pub fn pseudo_header_sum(src: [u8; 4], dst: [u8; 4], protocol: u8, l4_len: u16) -> u32 {
    let mut sum = ones_complement_sum(&src, 0);
    sum = ones_complement_sum(&dst, sum);
    sum + u32::from(protocol) + u32::from(l4_len)
}

/// RFC 768: a computed UDP checksum of 0 is transmitted as all ones, because
/// a zero field means the sender computed no checksum.
pub fn udp_field(computed: u16) -> u16 {
    if computed == 0 {
        0xFFFF
    } else {
        computed
    }
}

/// True if `header` starts with a complete IPv4 header (IHL from its first
/// byte) whose checksum verifies.
pub fn ipv4_header_valid(header: &[u8]) -> bool {
    let Some(&first) = header.first() else {
        return false;
    };
    let header_len = usize::from(first & 0x0F) * 4;
    if header_len < field::IPV4_MIN_HEADER_LEN || header.len() < header_len {
        return false;
    }
    fold(ones_complement_sum(&header[..header_len], 0)) == 0
}

/// True if the L4 checksum of an IPv4 packet verifies: TCP and UDP including
/// their pseudo-header, ICMP over the whole message. For tests and fuzzing.
///
/// What "verifies" means at the edges:
/// - a UDP checksum of zero (none sent) is valid;
/// - a fragment counts as valid: the checksum covers the whole datagram,
///   which no single fragment holds;
/// - anything that is not well-formed IPv4 TCP/UDP/ICMP is not valid.
pub fn l4_checksum_valid(packet: &[u8]) -> bool {
    let Some(&first) = packet.first() else {
        return false;
    };
    let header_len = usize::from(first & 0x0F) * 4;
    if first >> 4 != 4 || header_len < field::IPV4_MIN_HEADER_LEN || packet.len() < header_len {
        return false;
    }
    let total_len = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
    if total_len < header_len || total_len > packet.len() {
        return false;
    }
    let flags_frag = u16::from_be_bytes([packet[6], packet[7]]);
    if flags_frag & (field::IP_FLAG_MF | field::IP_FRAG_OFFSET_MASK) != 0 {
        return true;
    }
    let protocol = packet[9];
    let src = [packet[12], packet[13], packet[14], packet[15]];
    let dst = [packet[16], packet[17], packet[18], packet[19]];
    let l4 = &packet[header_len..total_len];
    let Ok(l4_len) = u16::try_from(l4.len()) else {
        return false;
    };
    match protocol {
        field::PROTO_TCP => {
            l4.len() >= field::TCP_MIN_HEADER_LEN
                && fold(ones_complement_sum(
                    l4,
                    pseudo_header_sum(src, dst, protocol, l4_len),
                )) == 0
        }
        field::PROTO_UDP => {
            if l4.len() < field::UDP_HEADER_LEN {
                return false;
            }
            if l4[6] == 0 && l4[7] == 0 {
                return true;
            }
            // The UDP length bounds the sum (bytes after it are not UDP's).
            let udp_len = u16::from_be_bytes([l4[4], l4[5]]);
            let Some(covered) = l4.get(..usize::from(udp_len)) else {
                return false;
            };
            usize::from(udp_len) >= field::UDP_HEADER_LEN
                && fold(ones_complement_sum(
                    covered,
                    pseudo_header_sum(src, dst, protocol, udp_len),
                )) == 0
        }
        field::PROTO_ICMP => {
            l4.len() >= field::ICMP_HEADER_LEN && fold(ones_complement_sum(l4, 0)) == 0
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1071 §3 worked example: the words 0001 f203 f4f5 f6f7 sum to ddf2.
    #[test]
    fn rfc1071_example_sum() {
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(
            fold_carries(u64::from(ones_complement_sum(&data, 0))),
            0xddf2
        );
        assert_eq!(fold(ones_complement_sum(&data, 0)), !0xddf2);
    }

    /// A textbook IPv4 header (Wikipedia's "IPv4 header checksum" example).
    #[test]
    fn ipv4_header_example() {
        let header = hex::decode("450000730000400040110000c0a80001c0a800c7").unwrap();
        assert_eq!(fold(ones_complement_sum(&header, 0)), 0xb861);
        let mut fixed = header.clone();
        fixed[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
        assert!(ipv4_header_valid(&fixed));
        assert!(!ipv4_header_valid(&header));
        assert!(!ipv4_header_valid(&fixed[..19]));
    }

    #[test]
    fn odd_trailing_byte_is_padded_with_zero() {
        assert_eq!(ones_complement_sum(&[0x12], 0), 0x1200);
        assert_eq!(ones_complement_sum(&[0x12, 0x34, 0x56], 0), 0x1234 + 0x5600);
    }

    #[test]
    fn carries_fold_around() {
        let data = [0xFF; 64 * 1024];
        assert_eq!(
            fold_carries(u64::from(ones_complement_sum(&data, 0))),
            0xFFFF
        );
    }

    /// RFC 1624 §4 example: HC = 0xDD2F, m = 0x5555 → m' = 0x3285 gives 0x0000.
    #[test]
    fn rfc1624_example() {
        assert_eq!(update_u16(0xDD2F, 0x5555, 0x3285), 0x0000);
    }

    #[test]
    fn udp_zero_is_sent_as_all_ones() {
        assert_eq!(udp_field(0), 0xFFFF);
        assert_eq!(udp_field(0x1234), 0x1234);
    }

    proptest::proptest! {
        /// (4) RFC 1624 eqn. 3 at any offset, odd or even, gives exactly
        /// what a full RFC 1071 recomputation gives (which is never 0xFFFF
        /// unless the data is all zero; there only 0xFFFF verifies, which
        /// the ICMP rewrite takes care of: wire::l4_checksum).
        #[test]
        fn incremental_update_equals_full_recompute(
            mut data in proptest::collection::vec(proptest::prelude::any::<u8>(), 2..200),
            at in proptest::prelude::any::<usize>(),
            new in proptest::prelude::any::<u16>(),
            new_wide in proptest::prelude::any::<u32>(),
        ) {
            let at = at % (data.len() - 1);
            let check = fold(ones_complement_sum(&data, 0));
            let old = u16::from_be_bytes([data[at], data[at + 1]]);
            data[at..at + 2].copy_from_slice(&new.to_be_bytes());
            let full = fold(ones_complement_sum(&data, 0));
            let incremental = update_u16_at(check, at, old, new);
            if data.iter().any(|&b| b != 0) {
                proptest::prop_assert_eq!(incremental, full);
            } else {
                proptest::prop_assert!(incremental == 0 || incremental == 0xFFFF);
            }

            // An aligned 32-bit field, like an IPv4 address.
            let at = (at & !1).min(data.len().saturating_sub(4) & !1);
            if data.len() >= at + 4 {
                let check = fold(ones_complement_sum(&data, 0));
                let old = u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
                data[at..at + 4].copy_from_slice(&new_wide.to_be_bytes());
                let full = fold(ones_complement_sum(&data, 0));
                if data.iter().any(|&b| b != 0) {
                    proptest::prop_assert_eq!(update_u32(check, old, new_wide), full);
                }
            }
        }

        /// Chunked sums (even chunks) equal the one-shot sum.
        #[test]
        fn chunked_sum_equals_whole(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            split in proptest::prelude::any::<usize>(),
        ) {
            let split = (split % (data.len() + 1)) & !1;
            let chunked = ones_complement_sum(&data[split..], ones_complement_sum(&data[..split], 0));
            proptest::prop_assert_eq!(fold(chunked), fold(ones_complement_sum(&data, 0)));
        }
    }

    #[test]
    fn odd_offset_update_matches_full_recompute() {
        let mut data = [0x11u8, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];
        let check = fold(ones_complement_sum(&data, 0));
        let old = u16::from_be_bytes([data[3], data[4]]);
        data[3..5].copy_from_slice(&0xBEEFu16.to_be_bytes());
        assert_eq!(
            update_u16_at(check, 3, old, 0xBEEF),
            fold(ones_complement_sum(&data, 0))
        );
    }
}
