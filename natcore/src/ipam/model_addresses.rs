//! A set of addresses of one small block, as a 64-bit bitmap.
//!
//! The reference model and the scenario checks run once per fuzzer step, so
//! they use this instead of a `BTreeSet`: the model stays as plain (lowest
//! free = lowest set bit) and a step costs no allocation. A /26 is the
//! largest block that fits (2^(32-26) = 64 addresses); the scenario blocks
//! and the loader's block are all /26 or smaller.

use ipnet::Ipv4Net;
use std::fmt;
use std::net::Ipv4Addr;

/// The longest prefix whose block is too big: 2^(32-25) = 128 > 64 bits.
const TOO_BIG_PREFIX: u8 = 25;

#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AddressSet {
    base: u32,
    size: u32,
    bits: u64,
}

impl AddressSet {
    /// An empty set over `block`, or `None` if the block has more than 64 addresses.
    pub fn empty(block: Ipv4Net) -> Option<AddressSet> {
        (block.prefix_len() > TOO_BIG_PREFIX).then(|| AddressSet {
            base: u32::from(block.network()),
            size: 1 << (32 - u32::from(block.prefix_len())),
            bits: 0,
        })
    }

    fn offset(&self, ip: Ipv4Addr) -> Option<u32> {
        let offset = u32::from(ip).wrapping_sub(self.base);
        (offset < self.size).then_some(offset)
    }

    /// Adds `ip`; false if it was already there or lies outside the block.
    pub fn insert(&mut self, ip: Ipv4Addr) -> bool {
        match self.offset(ip) {
            Some(offset) if self.bits & (1 << offset) == 0 => {
                self.bits |= 1 << offset;
                true
            }
            _ => false,
        }
    }

    pub fn extend(&mut self, ips: impl IntoIterator<Item = Ipv4Addr>) {
        for ip in ips {
            self.insert(ip);
        }
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        self.offset(ip)
            .is_some_and(|offset| self.bits & (1 << offset) != 0)
    }

    pub fn len(&self) -> usize {
        self.bits.count_ones() as usize
    }

    pub fn is_empty(&self) -> bool {
        self.bits == 0
    }

    /// Removes and returns the lowest address.
    pub fn pop_first(&mut self) -> Option<Ipv4Addr> {
        if self.bits == 0 {
            return None;
        }
        let offset = self.bits.trailing_zeros();
        self.bits &= !(1 << offset);
        Some(Ipv4Addr::from(self.base + offset))
    }

    /// Every address of `self` is in `other` (both over the same block).
    pub fn is_subset(&self, other: &AddressSet) -> bool {
        self.base == other.base && self.bits & !other.bits == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        (0..self.size)
            .filter(|offset| self.bits & (1 << offset) != 0)
            .map(|offset| Ipv4Addr::from(self.base + offset))
    }
}

impl fmt::Debug for AddressSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn holds_every_address_of_a_26_and_refuses_a_25() {
        assert!(AddressSet::empty(net("242.0.0.0/25")).is_none());
        let mut set = AddressSet::empty(net("242.0.0.0/26")).unwrap();
        assert!(set.is_empty());
        for last in 0..64 {
            assert!(set.insert(Ipv4Addr::new(242, 0, 0, last)));
        }
        assert!(
            !set.insert(Ipv4Addr::new(242, 0, 0, 64)),
            "outside the block"
        );
        assert!(!set.insert(Ipv4Addr::new(242, 0, 0, 63)), "already there");
        assert_eq!(set.len(), 64);
        assert_eq!(set.pop_first(), Some(Ipv4Addr::new(242, 0, 0, 0)));
        assert_eq!(set.iter().last(), Some(Ipv4Addr::new(242, 0, 0, 63)));
    }

    #[test]
    fn subset_and_lowest_first() {
        let block = net("250.9.8.0/28");
        let mut small = AddressSet::empty(block).unwrap();
        let mut big = AddressSet::empty(block).unwrap();
        small.extend([Ipv4Addr::new(250, 9, 8, 9), Ipv4Addr::new(250, 9, 8, 3)]);
        big.extend(small.iter().chain([Ipv4Addr::new(250, 9, 8, 15)]));
        assert!(small.is_subset(&big) && !big.is_subset(&small));
        assert!(!small.contains(Ipv4Addr::new(250, 9, 8, 16)));
        assert_eq!(small.pop_first(), Some(Ipv4Addr::new(250, 9, 8, 3)));
        assert_eq!(format!("{small:?}"), "{250.9.8.9}");
    }
}
