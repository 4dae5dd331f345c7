//! Fragment tracking: non-first IPv4 fragments carry no L4 header, so they
//! cannot be matched to a flow by 5-tuple. When the first fragment of a
//! datagram (offset 0, MF set) is translated, the address rewrite it got is
//! remembered under (direction, src, dst, protocol, IP id) — the fields that
//! identify a datagram's fragments (RFC 791 §3.2) — and the later fragments
//! get the same rewrite.
//!
//! Limits, stated: a non-first fragment that arrives before its first
//! fragment is dropped (no reassembly queue); the table holds at most
//! [`MAX_TRACKED`] datagrams and forgets each after [`FRAGMENT_TIMEOUT`].
//! Fragments are rare behind an MSS-clamping gateway, so the table sits
//! behind one mutex rather than in the lock-free maps.

use super::clock::Ticks;
use super::flow::Direction;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// How long the fragments of one datagram are translated after its first
/// fragment. RFC 791 suggests a reassembly timer of about 15 s; Linux keeps
/// fragments for 30 s (`net.ipv4.ipfrag_time`): we follow Linux, so a
/// receiver still reassembling is never starved of its last fragments.
pub const FRAGMENT_TIMEOUT: Duration = Duration::from_secs(30);
const FRAGMENT_TIMEOUT_MS: Ticks = 30_000;

/// Datagrams tracked at once; more first fragments than this within 30 s
/// (≈ 270 per second sustained) and later ones' tails are dropped.
pub const MAX_TRACKED: usize = 8192;

const NO_DEADLINE: Ticks = Ticks::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Datagram {
    direction: Direction,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: u8,
    id: u16,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    /// The address the translated end (source outbound, destination
    /// inbound) was rewritten to.
    addr: Ipv4Addr,
    expires: Ticks,
}

#[derive(Default)]
pub(crate) struct FragTable {
    entries: Mutex<HashMap<Datagram, Entry>>,
    next_deadline: AtomicU64,
}

impl FragTable {
    pub(crate) fn new() -> Self {
        FragTable {
            entries: Mutex::new(HashMap::new()),
            next_deadline: AtomicU64::new(NO_DEADLINE),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Datagram, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records the rewrite of a translated first fragment (`src`, `dst` as
    /// it arrived, before translation). Returns false if the table is full.
    pub(crate) fn remember(
        &self,
        now: Ticks,
        direction: Direction,
        (src, dst, protocol, id): (Ipv4Addr, Ipv4Addr, u8, u16),
        addr: Ipv4Addr,
    ) -> bool {
        let key = Datagram {
            direction,
            src,
            dst,
            protocol,
            id,
        };
        let expires = now.saturating_add(FRAGMENT_TIMEOUT_MS);
        let mut entries = self.lock();
        if entries.len() >= MAX_TRACKED && !entries.contains_key(&key) {
            return false;
        }
        entries.insert(key, Entry { addr, expires });
        self.next_deadline.fetch_min(expires, Relaxed);
        true
    }

    /// The rewrite for a non-first fragment, if its first one was translated
    /// in the last [`FRAGMENT_TIMEOUT`].
    pub(crate) fn lookup(
        &self,
        now: Ticks,
        direction: Direction,
        (src, dst, protocol, id): (Ipv4Addr, Ipv4Addr, u8, u16),
    ) -> Option<Ipv4Addr> {
        let key = Datagram {
            direction,
            src,
            dst,
            protocol,
            id,
        };
        let entries = self.lock();
        entries
            .get(&key)
            .filter(|e| now < e.expires)
            .map(|e| e.addr)
    }

    /// Forgets expired datagrams (at most [`MAX_TRACKED`] visited).
    pub(crate) fn handle_timeout(&self, now: Ticks) {
        if now < self.next_deadline.load(Relaxed) {
            return;
        }
        let mut entries = self.lock();
        entries.retain(|_, e| now < e.expires);
        let next = entries
            .values()
            .map(|e| e.expires)
            .min()
            .unwrap_or(NO_DEADLINE);
        self.next_deadline.store(next, Relaxed);
    }

    pub(crate) fn poll_timeout(&self) -> Option<Ticks> {
        let next = self.next_deadline.load(Relaxed);
        (next != NO_DEADLINE).then_some(next)
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(10, 244, 1, 10);
    const B: Ipv4Addr = Ipv4Addr::new(243, 0, 0, 5);
    const G: Ipv4Addr = Ipv4Addr::new(242, 0, 0, 2);

    #[test]
    fn remembers_per_direction_until_the_timeout() {
        let t = FragTable::new();
        assert!(t.remember(1000, Direction::Outbound, (A, B, 17, 7), G));
        assert_eq!(t.lookup(1001, Direction::Outbound, (A, B, 17, 7)), Some(G));
        assert_eq!(t.lookup(1001, Direction::Inbound, (A, B, 17, 7)), None);
        assert_eq!(t.lookup(1001, Direction::Outbound, (A, B, 17, 8)), None);
        assert_eq!(t.lookup(31_000, Direction::Outbound, (A, B, 17, 7)), None);
        assert_eq!(t.poll_timeout(), Some(31_000));
        t.handle_timeout(30_999);
        assert_eq!(t.len(), 1);
        t.handle_timeout(31_000);
        assert_eq!(t.len(), 0);
        assert_eq!(t.poll_timeout(), None);
    }

    #[test]
    fn bounded() {
        let t = FragTable::new();
        for id in 0..MAX_TRACKED {
            assert!(t.remember(0, Direction::Inbound, (A, B, 6, id as u16), G));
        }
        assert!(!t.remember(0, Direction::Outbound, (A, B, 6, 0), G));
        assert!(
            t.remember(5, Direction::Inbound, (A, B, 6, 0), G),
            "refreshing an entry is allowed"
        );
        assert_eq!(t.len(), MAX_TRACKED);
    }
}
