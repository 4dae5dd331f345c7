//! One cluster's global block and its reserved addresses.

use ipnet::Ipv4Net;
use std::fmt;
use std::net::Ipv4Addr;

/// Addresses of the block that are never handed to an owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReservedRole {
    /// The all-zeros host address (prefixes shorter than /31).
    Network,
    /// The all-ones host address (prefixes shorter than /31).
    Broadcast,
    /// The first host (block + 1): the gateway's TUN address and health-probe target.
    Gateway,
}

impl fmt::Display for ReservedRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReservedRole::Network => "the block's network address",
            ReservedRole::Broadcast => "the block's broadcast address",
            ReservedRole::Gateway => "the gateway's own address",
        })
    }
}

/// A validated global block: a network address, prefix ≤ 31 (a /32 has no
/// room for the gateway address next to it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Block {
    net: Ipv4Net,
}

impl Block {
    /// `net` must already be validated (network address, prefix ≤ 31).
    pub(crate) fn new(net: Ipv4Net) -> Self {
        Block { net }
    }

    pub(crate) fn net(&self) -> Ipv4Net {
        self.net
    }

    pub(crate) fn first(&self) -> u32 {
        u32::from(self.net.network())
    }

    pub(crate) fn last(&self) -> u32 {
        u32::from(self.net.broadcast())
    }

    /// block + 1. Cannot overflow: the block is a network address with prefix ≤ 31.
    pub(crate) fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.first().wrapping_add(1))
    }

    /// RFC 3021: a /31 has no network or broadcast address.
    fn has_network_and_broadcast(&self) -> bool {
        self.net.prefix_len() < 31
    }

    pub(crate) fn contains(&self, ip: Ipv4Addr) -> bool {
        self.net.contains(&ip)
    }

    /// Why `ip` may not be allocated, if it is one of the reserved addresses.
    pub(crate) fn reserved_role(&self, ip: Ipv4Addr) -> Option<ReservedRole> {
        let raw = u32::from(ip);
        if ip == self.gateway() {
            Some(ReservedRole::Gateway)
        } else if self.has_network_and_broadcast() && raw == self.first() {
            Some(ReservedRole::Network)
        } else if self.has_network_and_broadcast() && raw == self.last() {
            Some(ReservedRole::Broadcast)
        } else {
            None
        }
    }

    /// Addresses owners may receive: the block size minus the reserved ones.
    pub(crate) fn capacity(&self) -> u32 {
        // Blocks live inside 240.0.0.0/4, so the size (≤ 2^28) fits in u32.
        let size = self.last() - self.first() + 1;
        let reserved: u32 = if self.has_network_and_broadcast() {
            3 // network + gateway + broadcast
        } else {
            1 // gateway
        };
        size.saturating_sub(reserved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(s: &str) -> Block {
        Block::new(s.parse().unwrap())
    }

    #[test]
    fn reserved_addresses_of_a_16() {
        let b = block("242.0.0.0/16");
        let role = |s: &str| b.reserved_role(s.parse().unwrap());
        assert_eq!(role("242.0.0.0"), Some(ReservedRole::Network));
        assert_eq!(role("242.0.0.1"), Some(ReservedRole::Gateway));
        assert_eq!(role("242.0.255.255"), Some(ReservedRole::Broadcast));
        assert_eq!(role("242.0.0.2"), None);
        assert_eq!(b.capacity(), 65_536 - 3);
        assert_eq!(b.gateway(), Ipv4Addr::new(242, 0, 0, 1));
    }

    #[test]
    fn a_31_reserves_only_the_gateway() {
        let b = block("242.0.0.0/31");
        assert_eq!(b.reserved_role("242.0.0.0".parse().unwrap()), None);
        assert_eq!(
            b.reserved_role("242.0.0.1".parse().unwrap()),
            Some(ReservedRole::Gateway)
        );
        assert_eq!(b.capacity(), 1);
    }
}
