//! Peer identifiers and the receiver-index space.
//!
//! boringtun stores the index we give `Tunn::new` shifted left by 8 and uses
//! the low byte to number that peer's sessions, so every receiver index on
//! the wire is `peer_index << 8 | session`. Only 24 bits identify the peer;
//! incoming handshake responses, cookies and data are demultiplexed by
//! `receiver_idx >> 8`. We use that 24-bit value as the [`PeerId`].

use std::collections::HashSet;

use rand_core::{OsRng, RngCore};

/// Bits of a receiver index that name the peer (boringtun keeps 8 for sessions).
const PEER_INDEX_BITS: u32 = 32 - 8;
/// Largest peer index: 2^24 − 1.
const PEER_INDEX_MAX: u32 = (1 << PEER_INDEX_BITS) - 1;

/// A peer, as long as its public key stays configured. Also the upper 24 bits
/// of every receiver index its sessions use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub(crate) u32);

impl PeerId {
    /// The 24-bit index (for logs and metrics labels).
    pub fn index(self) -> u32 {
        self.0
    }

    /// The peer a receiver index on the wire belongs to.
    pub(crate) fn from_receiver_index(receiver_idx: u32) -> PeerId {
        PeerId(receiver_idx >> 8)
    }
}

impl std::fmt::Display for PeerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:06x}", self.0)
    }
}

/// Picks an unused 24-bit peer index. Random rather than sequential, as
/// WireGuard recommends, so indices neither reveal how many peers we have nor
/// come back soon after a peer is removed (its late packets then miss).
pub(crate) fn allocate(in_use: &HashSet<PeerId>) -> PeerId {
    loop {
        let candidate = PeerId(OsRng.next_u32() & PEER_INDEX_MAX);
        if !in_use.contains(&candidate) {
            return candidate;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receiver_index_names_the_peer_in_its_upper_24_bits() {
        let id = PeerId(0x00ab_cdef);
        // What boringtun puts on the wire: index << 8 | session counter.
        let wire = (id.0 << 8) | 0x17;
        assert_eq!(PeerId::from_receiver_index(wire), id);
        assert_eq!(id.to_string(), "abcdef");
    }

    #[test]
    fn allocation_stays_in_24_bits_and_avoids_used_indices() {
        let mut used = HashSet::new();
        for _ in 0..1000 {
            let id = allocate(&used);
            assert!(id.0 <= PEER_INDEX_MAX);
            assert!(used.insert(id));
        }
    }
}
