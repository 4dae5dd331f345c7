//! Which addresses of the block are taken, and first-fit search for free ones.

use super::block::Block;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// Taken addresses, each with the index of its owner in the reconcile.
///
/// Nothing is materialised per free address: a block can be a /4 (2^28
/// addresses) while only a few hundred are taken.
pub(crate) struct Allocator {
    block: Block,
    taken: BTreeMap<u32, usize>,
    /// No free address lies below it: first-fit resumes here.
    cursor: u32,
}

impl Allocator {
    pub(crate) fn new(block: Block) -> Self {
        Allocator {
            block,
            taken: BTreeMap::new(),
            cursor: block.first(),
        }
    }

    pub(crate) fn holder(&self, ip: Ipv4Addr) -> Option<usize> {
        self.taken.get(&u32::from(ip)).copied()
    }

    /// Takes `ip` for `owner`; the caller checked it is inside the block,
    /// not reserved and not held.
    pub(crate) fn claim(&mut self, ip: Ipv4Addr, owner: usize) {
        self.taken.insert(u32::from(ip), owner);
    }

    pub(crate) fn release(&mut self, ip: Ipv4Addr) {
        let raw = u32::from(ip);
        if self.taken.remove(&raw).is_some() {
            self.cursor = self.cursor.min(raw);
        }
    }

    pub(crate) fn free_count(&self) -> u32 {
        let taken = u32::try_from(self.taken.len()).unwrap_or(u32::MAX);
        self.block.capacity().saturating_sub(taken)
    }

    /// First fit: the lowest free address, now held by `owner`.
    pub(crate) fn take_lowest(&mut self, owner: usize) -> Option<Ipv4Addr> {
        let mut candidate = self.cursor;
        loop {
            if candidate > self.block.last() {
                self.cursor = candidate;
                return None;
            }
            let ip = Ipv4Addr::from(candidate);
            let busy =
                self.block.reserved_role(ip).is_some() || self.taken.contains_key(&candidate);
            if !busy {
                self.taken.insert(candidate, owner);
                self.cursor = candidate;
                return Some(ip);
            }
            match candidate.checked_add(1) {
                Some(next) => candidate = next,
                // The block ends at 255.255.255.255 and it is taken.
                None => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_fit_skips_reserved_and_taken_and_reuses_released() {
        let mut a = Allocator::new(Block::new("242.0.0.0/29".parse().unwrap()));
        a.claim(Ipv4Addr::new(242, 0, 0, 3), 0);
        assert_eq!(a.take_lowest(1), Some(Ipv4Addr::new(242, 0, 0, 2)));
        assert_eq!(a.take_lowest(1), Some(Ipv4Addr::new(242, 0, 0, 4)));
        a.release(Ipv4Addr::new(242, 0, 0, 3));
        assert_eq!(a.take_lowest(2), Some(Ipv4Addr::new(242, 0, 0, 3)));
        assert_eq!(a.free_count(), 2);
        assert_eq!(a.take_lowest(2), Some(Ipv4Addr::new(242, 0, 0, 5)));
        assert_eq!(a.take_lowest(2), Some(Ipv4Addr::new(242, 0, 0, 6)));
        assert_eq!(a.take_lowest(2), None);
        assert_eq!(a.free_count(), 0);
    }

    #[test]
    fn the_top_of_class_e_does_not_overflow() {
        let mut a = Allocator::new(Block::new("255.255.255.252/30".parse().unwrap()));
        assert_eq!(a.take_lowest(0), Some(Ipv4Addr::new(255, 255, 255, 254)));
        assert_eq!(a.take_lowest(0), None);
    }
}
