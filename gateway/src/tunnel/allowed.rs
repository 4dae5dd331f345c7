//! Cryptokey routing table: allowed IPv4 CIDRs → peer, longest prefix wins.
//!
//! Used both ways, as in WireGuard: outbound it picks the peer for a
//! destination; inbound a decrypted packet is accepted only if its *source*
//! routes back to the peer that sent it.
//!
//! Shape: one exact-match hash map per prefix length in use, probed longest
//! first. Peer tables hold a handful of prefix lengths, so a lookup is a few
//! hash probes; the table is immutable once built (rebuilt on peer changes).

use std::collections::HashMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::PeerId;

/// An allowed-CIDR route table. Build with [`AllowedIps::insert`], then share
/// it read-only.
#[derive(Clone, Debug, Default)]
pub(crate) struct AllowedIps {
    /// (prefix length, network address → peer), longest prefix first.
    levels: Vec<(u8, HashMap<u32, PeerId>)>,
}

/// `addr` with its host bits (beyond `prefix_len`) cleared.
fn network_bits(addr: u32, prefix_len: u8) -> u32 {
    // checked_shl: a /0 mask would shift by 32, which overflows.
    let mask = u32::MAX
        .checked_shl(32 - u32::from(prefix_len))
        .unwrap_or(0);
    addr & mask
}

impl AllowedIps {
    /// Routes `cidr` (host bits ignored) to `peer`. Returns the peer that
    /// already owns exactly this CIDR, if another one does; the table is then
    /// unchanged.
    pub(crate) fn insert(&mut self, cidr: Ipv4Net, peer: PeerId) -> Result<(), PeerId> {
        let len = cidr.prefix_len();
        let key = network_bits(u32::from(cidr.addr()), len);
        let at = match self.levels.binary_search_by(|(l, _)| len.cmp(l)) {
            Ok(at) => at,
            Err(at) => {
                self.levels.insert(at, (len, HashMap::new()));
                at
            }
        };
        let map = &mut self.levels[at].1;
        match map.get(&key) {
            Some(owner) if *owner != peer => Err(*owner),
            _ => {
                map.insert(key, peer);
                Ok(())
            }
        }
    }

    /// The peer whose allowed CIDR most specifically covers `addr`.
    pub(crate) fn lookup(&self, addr: Ipv4Addr) -> Option<PeerId> {
        let addr = u32::from(addr);
        self.levels
            .iter()
            .find_map(|(len, map)| map.get(&network_bits(addr, *len)).copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn longest_prefix_wins_and_host_bits_are_ignored() {
        let mut t = AllowedIps::default();
        t.insert(net("10.0.0.0/8"), PeerId(1)).unwrap();
        t.insert(net("10.1.2.3/16"), PeerId(2)).unwrap();
        t.insert(net("0.0.0.0/0"), PeerId(3)).unwrap();
        t.insert(net("10.1.2.3/32"), PeerId(4)).unwrap();
        assert_eq!(t.lookup("10.2.0.1".parse().unwrap()), Some(PeerId(1)));
        assert_eq!(t.lookup("10.1.0.1".parse().unwrap()), Some(PeerId(2)));
        assert_eq!(t.lookup("10.1.2.3".parse().unwrap()), Some(PeerId(4)));
        assert_eq!(t.lookup("192.0.2.1".parse().unwrap()), Some(PeerId(3)));
    }

    #[test]
    fn empty_table_routes_nothing() {
        assert_eq!(AllowedIps::default().lookup(Ipv4Addr::LOCALHOST), None);
    }

    #[test]
    fn the_same_cidr_for_two_peers_is_refused() {
        let mut t = AllowedIps::default();
        t.insert(net("243.0.0.0/16"), PeerId(1)).unwrap();
        assert_eq!(t.insert(net("243.0.9.9/16"), PeerId(2)), Err(PeerId(1)));
        // Same peer again is idempotent.
        assert_eq!(t.insert(net("243.0.0.0/16"), PeerId(1)), Ok(()));
        assert_eq!(t.lookup("243.0.9.9".parse().unwrap()), Some(PeerId(1)));
    }

    /// The obviously-correct model: scan every route, keep the longest match.
    fn reference_lookup(routes: &[(Ipv4Net, PeerId)], addr: Ipv4Addr) -> Option<PeerId> {
        routes
            .iter()
            .filter(|(n, _)| n.trunc().contains(&addr))
            .max_by_key(|(n, _)| n.prefix_len())
            .map(|(_, p)| *p)
    }

    proptest! {
        #[test]
        fn matches_a_linear_scan(
            raw in proptest::collection::vec((any::<u32>(), 0u8..=32, 0u32..8), 0..24),
            probes in proptest::collection::vec(any::<u32>(), 1..32),
        ) {
            let mut table = AllowedIps::default();
            let mut accepted = Vec::new();
            for (addr, len, peer) in raw {
                let cidr = Ipv4Net::new(Ipv4Addr::from(addr), len).unwrap();
                if table.insert(cidr, PeerId(peer)).is_ok() {
                    accepted.push((cidr, PeerId(peer)));
                }
            }
            // Probe inside every accepted route too, not only at random.
            let inside = accepted.iter().map(|(n, _)| u32::from(n.addr()));
            for addr in probes.into_iter().chain(inside).map(Ipv4Addr::from) {
                prop_assert_eq!(table.lookup(addr), reference_lookup(&accepted, addr));
            }
        }
    }
}
