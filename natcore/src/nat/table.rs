//! The flow table: two lock-free lookup maps over shared flow entries, and a
//! mutex-guarded registry for everything that is not a lookup.
//!
//! ```text
//!   inside map   Inside(5-tuple out, untranslated)  ─┐
//!                                                     ├─▶ Arc<Flow> ◀── registry list (sweep, stats, export)
//!   outside map  Outside(5-tuple in, untranslated)  ─┘
//! ```
//!
//! Established flows: one map lookup, a liveness check against the caller's
//! `now`, an update of the flow's atomics. No lock, no allocation, no clock.
//! New flows, removals and sweeps take the registry lock; the lookup maps are
//! only written under it, so "is this 5-tuple free?" answers stay true until
//! the writer inserts.
//!
//! Expired flows are treated as absent by every lookup, whether or not the
//! sweep has reached them yet; a new flow wanting their tuple or port reaps
//! them on the spot. They still count towards the limits until reaped.

use super::clock::{Clock, Ticks};
use super::flow::{
    inside_key, outside_key, tcp_seen_bits, Direction, Endpoint, Flow, FlowKind, TcpState,
};
use super::key::{Inside, Outside};
use super::map::FlowMap;
use super::ports::{egress_ip_start, port_candidates, port_range_len};
use super::record::FlowRecord;
use super::registry::{protocol_index, Destination, Registry, Sweep};
use super::timeouts::{Limits, TimeoutMillis, Timeouts};
use crate::stats::{Counters, TableStats};
use crate::wire::{FiveTuple, Protocol};
use crate::DropReason;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Flows visited per `handle_timeout` call: ≈ 0.1–0.2 ms of work at 20–50 ns
/// per visited flow, so a sweep never stalls a worker's loop turn; a full
/// pass over 1M flows takes ≈ 250 calls.
pub const SWEEP_BUDGET: usize = 4096;

/// How many sources [`TableStats::top_talkers`] lists.
pub const TOP_TALKERS: usize = 10;

const NO_DEADLINE: Ticks = Ticks::MAX;

/// A live flow's endpoints, copied out of the entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowView {
    pub protocol: Protocol,
    pub kind: FlowKind,
    pub local: Endpoint,
    pub global: Endpoint,
    pub remote: Endpoint,
}

impl FlowView {
    fn of(f: &Flow) -> Self {
        FlowView {
            protocol: f.protocol(),
            kind: f.kind(),
            local: f.local(),
            global: f.global(),
            remote: f.remote(),
        }
    }
}

/// Why an imported flow record was skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ImportSkip {
    #[error("the flow had no lifetime left")]
    Expired,
    #[error("a live flow already uses its inside 5-tuple")]
    InsideTaken,
    #[error("a live flow already uses its outside 5-tuple")]
    OutsideTaken,
    #[error("the flow table is full")]
    FlowLimit,
    #[error("its source already holds its maximum number of flows")]
    SourceFlowLimit,
}

/// What [`FlowTable::import`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub imported: usize,
    /// Index into the imported slice, and why that record was skipped.
    pub skipped: Vec<(usize, ImportSkip)>,
}

pub struct FlowTable {
    inside: FlowMap<Inside>,
    outside: FlowMap<Outside>,
    registry: Mutex<Registry>,
    clock: Clock,
    timeouts: TimeoutMillis,
    limits: Limits,
    /// Lower bound on the deadlines of flows created, imported or closed
    /// since the current (or last) sweep pass started.
    fresh_deadline: AtomicU64,
    /// Earliest deadline among the flows the last finished pass kept.
    swept_deadline: AtomicU64,
    /// `now` of the last `handle_timeout` that left a pass unfinished, or
    /// `NO_DEADLINE` when no pass is running.
    sweeping_at: AtomicU64,
}

impl FlowTable {
    pub fn new(timeouts: &Timeouts, limits: Limits) -> Self {
        FlowTable {
            inside: FlowMap::new(),
            outside: FlowMap::new(),
            registry: Mutex::new(Registry::default()),
            clock: Clock::default(),
            timeouts: TimeoutMillis::new(timeouts),
            limits,
            fresh_deadline: AtomicU64::new(NO_DEADLINE),
            swept_deadline: AtomicU64::new(NO_DEADLINE),
            sweeping_at: AtomicU64::new(NO_DEADLINE),
        }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Converts the caller's clock to table ticks (ms since the first `now`
    /// this table saw, offset so that earlier instants stay representable).
    pub fn ticks(&self, now: Instant) -> Ticks {
        self.clock.ticks(now)
    }

    /// Flows in the table, expired or not.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries in each lookup map (inside, outside): equal to `len()` unless
    /// something is broken; tests check it.
    pub fn map_sizes(&self) -> (usize, usize) {
        (self.inside.len(), self.outside.len())
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        // A panic while holding the lock cannot leave the registry worse than
        // stale counts; keep serving rather than propagate the poison.
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    // ---- fast path -------------------------------------------------------

    /// If `f` is live at `now`, records a packet going `dir` and returns true.
    #[inline]
    fn observe_if_live(&self, f: &Flow, now: Ticks, dir: Direction, tcp_flags: u8) -> bool {
        if !f.is_live(now, &self.timeouts) {
            return false;
        }
        if f.observe(now, dir, tcp_flags) {
            // Its deadline just moved earlier than any sweep has recorded.
            self.fresh_deadline
                .fetch_min(f.expires_at(&self.timeouts), Relaxed);
        }
        true
    }

    /// Established outbound packet: the global endpoint to rewrite the source
    /// to, if `tuple` is a live flow's inside key.
    #[inline]
    pub fn lookup_outbound(
        &self,
        now: Ticks,
        tuple: &FiveTuple,
        tcp_flags: u8,
    ) -> Option<Endpoint> {
        self.inside
            .with(&Inside(*tuple), |f| {
                self.observe_if_live(f, now, Direction::Outbound, tcp_flags)
                    .then(|| f.global())
            })
            .flatten()
    }

    /// Established inbound packet: the local endpoint to rewrite the
    /// destination to, if `tuple` is a live flow's outside key.
    #[inline]
    pub fn lookup_inbound(&self, now: Ticks, tuple: &FiveTuple, tcp_flags: u8) -> Option<Endpoint> {
        self.outside
            .with(&Outside(*tuple), |f| {
                self.observe_if_live(f, now, Direction::Inbound, tcp_flags)
                    .then(|| f.local())
            })
            .flatten()
    }

    /// The live flow whose inside key is `tuple`, without recording a packet
    /// (ICMP errors do not keep a flow alive).
    pub fn find_inside(&self, now: Ticks, tuple: &FiveTuple) -> Option<FlowView> {
        self.inside
            .with(&Inside(*tuple), |f| {
                f.is_live(now, &self.timeouts).then(|| FlowView::of(f))
            })
            .flatten()
    }

    /// The live flow whose outside key is `tuple`, without recording a packet.
    pub fn find_outside(&self, now: Ticks, tuple: &FiveTuple) -> Option<FlowView> {
        self.outside
            .with(&Outside(*tuple), |f| {
                f.is_live(now, &self.timeouts).then(|| FlowView::of(f))
            })
            .flatten()
    }

    // ---- slow path: creation ---------------------------------------------

    /// Removes `flow` (expired) from the registry and both maps. False if
    /// it was not in the registry (cannot happen while the slot bookkeeping
    /// holds; callers still make progress if it does).
    fn reap(&self, reg: &mut Registry, flow: &Arc<Flow>, counters: &mut Counters) -> bool {
        let slot = flow.slot();
        let is_this = reg.flows().get(slot).is_some_and(|f| Arc::ptr_eq(f, flow));
        if is_this {
            reg.remove(slot, &self.timeouts);
            self.inside.remove(&flow.inside_key());
            self.outside.remove(&flow.outside_key());
            counters.flows_expired[protocol_index(flow.protocol())] += 1;
        }
        is_this
    }

    /// The live flow under an inside key; an expired one is reaped.
    fn live_inside(
        &self,
        reg: &mut Registry,
        now: Ticks,
        key: &Inside,
        c: &mut Counters,
    ) -> Option<Arc<Flow>> {
        let flow = self.inside.get(key)?;
        if flow.is_live(now, &self.timeouts) {
            return Some(flow);
        }
        self.reap(reg, &flow, c);
        None
    }

    fn live_outside(
        &self,
        reg: &mut Registry,
        now: Ticks,
        key: &Outside,
        c: &mut Counters,
    ) -> Option<Arc<Flow>> {
        let flow = self.outside.get(key)?;
        if flow.is_live(now, &self.timeouts) {
            return Some(flow);
        }
        self.reap(reg, &flow, c);
        None
    }

    fn check_limits(&self, reg: &Registry, source: Ipv4Addr) -> Result<(), DropReason> {
        if reg.len() >= self.limits.max_flows {
            return Err(DropReason::FlowLimit);
        }
        if reg.flows_of_source(source) >= self.limits.max_flows_per_source {
            return Err(DropReason::SourceFlowLimit);
        }
        Ok(())
    }

    fn insert(&self, reg: &mut Registry, flow: Flow, counters: Option<&mut Counters>) -> Arc<Flow> {
        let flow = Arc::new(flow);
        self.inside.insert(flow.inside_key(), Arc::clone(&flow));
        self.outside.insert(flow.outside_key(), Arc::clone(&flow));
        self.fresh_deadline
            .fetch_min(flow.expires_at(&self.timeouts), Relaxed);
        if let Some(c) = counters {
            c.flows_created[protocol_index(flow.protocol())] += 1;
        }
        reg.push(Arc::clone(&flow));
        flow
    }

    /// Creates the egress (SNAT) flow for an outbound packet with `tuple`,
    /// choosing among `candidates` (the source's egress IPs) and a port by
    /// the rules of [`super::ports`]. If another worker created it first,
    /// uses that one. Returns the global endpoint the source becomes.
    ///
    /// Checks, in order: `NoEgressIp`, `FlowLimit`, `SourceFlowLimit`,
    /// `PortsExhausted`.
    pub fn create_egress(
        &self,
        now: Ticks,
        tuple: &FiveTuple,
        tcp_flags: u8,
        candidates: &[Ipv4Addr],
        counters: &mut Counters,
    ) -> Result<Endpoint, DropReason> {
        let mut reg = self.lock();
        if let Some(f) = self.live_inside(&mut reg, now, &Inside(*tuple), counters) {
            f.observe(now, Direction::Outbound, tcp_flags);
            return Ok(f.global());
        }
        if candidates.is_empty() {
            return Err(DropReason::NoEgressIp);
        }
        self.check_limits(&reg, tuple.src)?;
        let protocol = tuple.protocol;
        let local = Endpoint::new(tuple.src, tuple.src_port);
        let remote = Endpoint::new(tuple.dst, tuple.dst_port);
        let class_size = port_range_len(protocol, tuple.src_port);
        let first = egress_ip_start(tuple.src, candidates.len());
        for i in 0..candidates.len() {
            let ip = candidates[(first + i) % candidates.len()];
            let destination =
                Destination::new(protocol, ip, (remote.addr, remote.port), tuple.src_port);
            if reg.egress_flows_to(&destination) >= class_size {
                continue; // every port of the class is held by a flow (live or not yet reaped)
            }
            for port in port_candidates(protocol, tuple.src_port) {
                let global = Endpoint::new(ip, port);
                let key = outside_key(protocol, remote, global);
                if self.live_outside(&mut reg, now, &key, counters).is_some() {
                    continue;
                }
                let seen = tcp_seen_bits(Direction::Outbound, tcp_flags);
                let flow = Flow::new(protocol, FlowKind::Egress, local, global, remote, now, seen);
                self.insert(&mut reg, flow, Some(counters));
                return Ok(global);
            }
        }
        Err(DropReason::PortsExhausted)
    }

    /// Creates the ingress (DNAT) flow for an inbound packet with `tuple`
    /// towards an exported service whose target is `target`; ports are kept.
    /// Returns the local endpoint the destination becomes.
    ///
    /// Checks, in order: `FlowLimit`, `SourceFlowLimit` (source = the remote
    /// address), `PortsExhausted` (the one inside 5-tuple the flow would need
    /// is held by another live flow).
    pub fn create_ingress(
        &self,
        now: Ticks,
        tuple: &FiveTuple,
        tcp_flags: u8,
        target: Ipv4Addr,
        counters: &mut Counters,
    ) -> Result<Endpoint, DropReason> {
        let mut reg = self.lock();
        if let Some(f) = self.live_outside(&mut reg, now, &Outside(*tuple), counters) {
            f.observe(now, Direction::Inbound, tcp_flags);
            return Ok(f.local());
        }
        self.check_limits(&reg, tuple.src)?;
        let protocol = tuple.protocol;
        let remote = Endpoint::new(tuple.src, tuple.src_port);
        let global = Endpoint::new(tuple.dst, tuple.dst_port);
        let local = Endpoint::new(target, tuple.dst_port);
        let key = inside_key(protocol, local, remote);
        if self.live_inside(&mut reg, now, &key, counters).is_some() {
            return Err(DropReason::PortsExhausted);
        }
        let seen = tcp_seen_bits(Direction::Inbound, tcp_flags);
        let flow = Flow::new(
            protocol,
            FlowKind::Ingress,
            local,
            global,
            remote,
            now,
            seen,
        );
        self.insert(&mut reg, flow, Some(counters));
        Ok(local)
    }

    // ---- expiry ----------------------------------------------------------

    fn next_deadline(&self) -> Ticks {
        self.swept_deadline
            .load(Relaxed)
            .min(self.fresh_deadline.load(Relaxed))
    }

    /// When `handle_timeout` next has work: the `now` of the last call while
    /// a sweep pass is unfinished, else the earliest possible flow deadline.
    pub(crate) fn poll_timeout(&self) -> Option<Ticks> {
        let sweeping = self.sweeping_at.load(Relaxed);
        if sweeping != NO_DEADLINE {
            return Some(sweeping);
        }
        let next = self.next_deadline();
        (next != NO_DEADLINE).then_some(next)
    }

    /// Removes expired flows, visiting at most [`SWEEP_BUDGET`] flows. A pass
    /// starts once `now` reaches the earliest possible deadline and continues
    /// over later calls until it has visited every flow.
    pub(crate) fn handle_timeout(&self, now: Ticks, counters: &mut Counters) {
        let mut reg = self.lock();
        if reg.sweep.is_none() {
            if now < self.next_deadline() {
                return;
            }
            self.fresh_deadline.store(NO_DEADLINE, Relaxed);
            reg.sweep = Some(Sweep {
                cursor: 0,
                earliest_kept: NO_DEADLINE,
            });
        }
        let mut budget = SWEEP_BUDGET;
        while budget > 0 {
            let Some(sweep) = reg.sweep.as_mut() else {
                break;
            };
            let cursor = sweep.cursor;
            let Some(flow) = reg.flows().get(cursor).map(Arc::clone) else {
                break;
            };
            budget -= 1;
            let deadline = flow.expires_at(&self.timeouts);
            // A reaped flow's slot is taken by the last flow: visit it next.
            if now >= deadline && self.reap(&mut reg, &flow, counters) {
                continue;
            }
            if let Some(sweep) = reg.sweep.as_mut() {
                sweep.earliest_kept = sweep.earliest_kept.min(deadline);
                sweep.cursor += 1;
            }
        }
        let finished = reg.sweep.as_ref().is_none_or(|s| s.cursor >= reg.len());
        if finished {
            let kept = reg.sweep.take().map_or(NO_DEADLINE, |s| s.earliest_kept);
            self.swept_deadline.store(kept, Relaxed);
            self.sweeping_at.store(NO_DEADLINE, Relaxed);
        } else {
            self.sweeping_at.store(now, Relaxed);
        }
    }

    pub(crate) fn instant(&self, t: Ticks) -> Option<Instant> {
        self.clock.instant(t)
    }

    // ---- statistics, export, import --------------------------------------

    /// O(flows) under the registry lock: meant for a scrape every few seconds.
    pub fn stats(&self) -> TableStats {
        // TCP states by walking the lock-free inside map: a walk of 1M flows
        // under the registry lock would stall flow creation on every scrape.
        let mut live_tcp = [0u64; TcpState::ALL.len()];
        self.inside.for_each(|f| {
            if f.protocol() == Protocol::Tcp {
                live_tcp[f.tcp_state().index()] += 1;
            }
        });
        // The per-source and per-egress counts are per pod / per IP: small.
        let reg = self.lock();
        let mut egress_ports_in_use: Vec<(Ipv4Addr, u64)> = reg
            .per_egress_ip()
            .iter()
            .map(|(&ip, &n)| (ip, u64::from(n)))
            .collect();
        egress_ports_in_use.sort_unstable();
        let mut top_talkers: Vec<(Ipv4Addr, u64)> = reg
            .per_source()
            .iter()
            .map(|(&ip, &n)| (ip, u64::from(n)))
            .collect();
        let by_flows_desc =
            |a: &(Ipv4Addr, u64), b: &(Ipv4Addr, u64)| b.1.cmp(&a.1).then(a.0.cmp(&b.0));
        if top_talkers.len() > TOP_TALKERS {
            top_talkers.select_nth_unstable_by(TOP_TALKERS - 1, by_flows_desc);
            top_talkers.truncate(TOP_TALKERS);
        }
        top_talkers.sort_unstable_by(by_flows_desc);
        TableStats {
            live_flows: reg.live_by_protocol(),
            live_tcp,
            egress_ports_in_use,
            top_talkers,
            fragments_tracked: 0,
            max_flows: self.limits.max_flows as u64,
        }
    }

    /// Every live flow with its remaining lifetime at `now`.
    pub fn export(&self, now: Ticks) -> Vec<FlowRecord> {
        let reg = self.lock();
        reg.flows()
            .iter()
            .filter_map(|f| {
                let left = f
                    .expires_at(&self.timeouts)
                    .checked_sub(now)
                    .filter(|&ms| ms > 0)?;
                Some(FlowRecord {
                    protocol: f.protocol(),
                    kind: f.kind(),
                    local: f.local(),
                    global: f.global(),
                    remote: f.remote(),
                    tcp_seen: f.tcp_seen(),
                    remaining: Duration::from_millis(left),
                })
            })
            .collect()
    }

    /// Re-creates flows from records, keeping each one's remaining lifetime
    /// (capped at its timeout under this table's configuration). Records
    /// that conflict with live flows or exceed the limits are skipped and
    /// reported; they never displace existing flows.
    pub fn import(&self, now: Ticks, records: &[FlowRecord]) -> ImportReport {
        let mut report = ImportReport::default();
        let mut reg = self.lock();
        // Expired flows met while checking conflicts are reaped; nobody reads
        // these counts, the next sweep would have removed them anyway.
        let mut scratch = Counters::default();
        for (index, r) in records.iter().enumerate() {
            match self.import_one(&mut reg, now, r, &mut scratch) {
                Ok(()) => report.imported += 1,
                Err(why) => report.skipped.push((index, why)),
            }
        }
        report
    }

    fn import_one(
        &self,
        reg: &mut Registry,
        now: Ticks,
        r: &FlowRecord,
        c: &mut Counters,
    ) -> Result<(), ImportSkip> {
        let remaining = u64::try_from(r.remaining.as_millis()).unwrap_or(u64::MAX);
        if remaining == 0 {
            return Err(ImportSkip::Expired);
        }
        // Build the flow as if last seen "now", to learn its timeout.
        let probe = Flow::new(
            r.protocol, r.kind, r.local, r.global, r.remote, now, r.tcp_seen,
        );
        let timeout = probe.expires_at(&self.timeouts) - now;
        let last_seen = (now + remaining.min(timeout)).saturating_sub(timeout);
        let flow = Flow::new(
            r.protocol, r.kind, r.local, r.global, r.remote, last_seen, r.tcp_seen,
        );
        if self.live_inside(reg, now, &flow.inside_key(), c).is_some() {
            return Err(ImportSkip::InsideTaken);
        }
        if self
            .live_outside(reg, now, &flow.outside_key(), c)
            .is_some()
        {
            return Err(ImportSkip::OutsideTaken);
        }
        match self.check_limits(reg, flow.originator()) {
            Err(DropReason::FlowLimit) => return Err(ImportSkip::FlowLimit),
            Err(_) => return Err(ImportSkip::SourceFlowLimit),
            Ok(()) => {}
        }
        self.insert(reg, flow, None);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
