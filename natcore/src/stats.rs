//! Counters. Workers count into a plain [`Counters`] (no atomics on the hot
//! path) and [`crate::Engine::flush`] adds it into the engine's shared totals
//! once per batch; [`crate::Engine::stats`] reads the totals plus a view of
//! the flow table into a [`StatsSnapshot`].

use crate::nat::{Direction, TcpState, PROTOCOLS};
use crate::DropReason;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

const DIRECTIONS: usize = Direction::ALL.len();
const PROTOCOL_COUNT: usize = PROTOCOLS.len();
const DROP_REASONS: usize = DropReason::ALL.len();
const TCP_STATES: usize = TcpState::ALL.len();

/// Per-worker counts since the last flush. Arrays are indexed by
/// [`Direction::index`], [`DropReason::index`] and
/// [`crate::nat::protocol_index`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Packets translated (including ICMP errors and fragments), by direction.
    pub translated: [u64; DIRECTIONS],
    /// Packets forwarded untranslated (routed CIDRs), by direction.
    pub passthrough: [u64; DIRECTIONS],
    pub drops: [u64; DROP_REASONS],
    /// SYN / SYN-ACK segments whose MSS option was lowered.
    pub mss_clamped: u64,
    /// ICMP "fragmentation needed" replies written.
    pub frag_needed_sent: u64,
    /// ICMP errors translated (outer and embedded headers), both directions.
    pub icmp_errors_translated: u64,
    /// Non-first fragments translated through the fragment table.
    pub fragments_translated: u64,
    pub flows_created: [u64; PROTOCOL_COUNT],
    pub flows_expired: [u64; PROTOCOL_COUNT],
}

impl Counters {
    pub fn drop(&mut self, reason: DropReason) {
        self.drops[reason.index()] += 1;
    }
}

/// The engine's shared totals: one atomic per counter, written by `flush`.
#[derive(Debug, Default)]
pub(crate) struct SharedTotals {
    translated: [AtomicU64; DIRECTIONS],
    passthrough: [AtomicU64; DIRECTIONS],
    drops: [AtomicU64; DROP_REASONS],
    mss_clamped: AtomicU64,
    frag_needed_sent: AtomicU64,
    icmp_errors_translated: AtomicU64,
    fragments_translated: AtomicU64,
    flows_created: [AtomicU64; PROTOCOL_COUNT],
    flows_expired: [AtomicU64; PROTOCOL_COUNT],
}

fn add(total: &AtomicU64, n: u64) {
    if n != 0 {
        total.fetch_add(n, Relaxed);
    }
}

fn add_all<const N: usize>(totals: &[AtomicU64; N], counts: &[u64; N]) {
    for (t, &n) in totals.iter().zip(counts) {
        add(t, n);
    }
}

fn read_all<const N: usize>(totals: &[AtomicU64; N]) -> [u64; N] {
    std::array::from_fn(|i| totals[i].load(Relaxed))
}

impl SharedTotals {
    /// Adds `c` into the totals and zeroes it.
    pub(crate) fn absorb(&self, c: &mut Counters) {
        add_all(&self.translated, &c.translated);
        add_all(&self.passthrough, &c.passthrough);
        add_all(&self.drops, &c.drops);
        add(&self.mss_clamped, c.mss_clamped);
        add(&self.frag_needed_sent, c.frag_needed_sent);
        add(&self.icmp_errors_translated, c.icmp_errors_translated);
        add(&self.fragments_translated, c.fragments_translated);
        add_all(&self.flows_created, &c.flows_created);
        add_all(&self.flows_expired, &c.flows_expired);
        *c = Counters::default();
    }

    pub(crate) fn read(&self) -> Counters {
        Counters {
            translated: read_all(&self.translated),
            passthrough: read_all(&self.passthrough),
            drops: read_all(&self.drops),
            mss_clamped: self.mss_clamped.load(Relaxed),
            frag_needed_sent: self.frag_needed_sent.load(Relaxed),
            icmp_errors_translated: self.icmp_errors_translated.load(Relaxed),
            fragments_translated: self.fragments_translated.load(Relaxed),
            flows_created: read_all(&self.flows_created),
            flows_expired: read_all(&self.flows_expired),
        }
    }
}

/// The flow table as [`crate::Engine::stats`] sees it (computed on demand).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableStats {
    /// Flows in the table (including expired ones the sweep has not reached),
    /// by protocol.
    pub live_flows: [u64; PROTOCOL_COUNT],
    /// TCP flows by [`TcpState::index`].
    pub live_tcp: [u64; TCP_STATES],
    /// Allocated egress ports per global egress IP, sorted by IP.
    pub egress_ports_in_use: Vec<(Ipv4Addr, u64)>,
    /// Sources holding the most flows, most first (ties by address).
    pub top_talkers: Vec<(Ipv4Addr, u64)>,
    /// Entries in the fragment table.
    pub fragments_tracked: u64,
    /// The configured table limit, for "% full" displays.
    pub max_flows: u64,
}

/// A consistent-enough read of the shared totals and the table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Everything flushed so far (the same fields as a worker's counters).
    pub totals: Counters,
    pub table: TableStats,
}

impl StatsSnapshot {
    /// Drops for one reason.
    pub fn drops(&self, reason: DropReason) -> u64 {
        self.totals.drops[reason.index()]
    }

    /// Live flows of all protocols.
    pub fn live_flows(&self) -> u64 {
        self.table.live_flows.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absorb_adds_and_zeroes() {
        let totals = SharedTotals::default();
        let mut c = Counters::default();
        c.translated[1] = 3;
        c.drop(DropReason::NoFlow);
        c.flows_created[2] = 7;
        totals.absorb(&mut c);
        assert_eq!(c, Counters::default());
        c.translated[1] = 2;
        totals.absorb(&mut c);
        let read = totals.read();
        assert_eq!(read.translated, [0, 5]);
        assert_eq!(read.drops[DropReason::NoFlow.index()], 1);
        assert_eq!(read.flows_created, [0, 0, 7]);
    }
}
