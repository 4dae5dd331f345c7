//! Lookup keys. The two maps are keyed by the same 5-tuple type; the
//! newtypes keep "as seen inside" and "as seen outside" from being mixed up.

use crate::wire::FiveTuple;
use std::hash::{Hash, Hasher};

/// An outbound packet's 5-tuple before translation (as read from the TUN).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inside(pub FiveTuple);

/// An inbound packet's 5-tuple before translation (as decrypted from a peer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outside(pub FiveTuple);

/// Packs a tuple into two words: one call per word into the hasher instead of
/// eight small writes (the derived `Hash` hashes each address as a slice).
fn hash_tuple<H: Hasher>(t: &FiveTuple, state: &mut H) {
    let addrs = (u64::from(u32::from(t.src)) << 32) | u64::from(u32::from(t.dst));
    let rest = (u64::from(t.src_port) << 32) | (u64::from(t.dst_port) << 16) | t.protocol as u64;
    state.write_u64(addrs);
    state.write_u64(rest);
}

impl Hash for Inside {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_tuple(&self.0, state);
    }
}

impl Hash for Outside {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_tuple(&self.0, state);
    }
}
