//! The engine: one call per packet, rewritten in place.
//!
//! Pipeline for a packet read from the TUN ([`Engine::handle_outbound`]):
//!
//! ```text
//!   classify ─┬─ flow packet ── [DF and > tunnel MTU, and would be forwarded:
//!             │                  write ICMP frag-needed → Verdict::Reply]
//!             │                ── inside-map hit? → rewrite src to the flow's global ip:port
//!             │                ── dst in routed CIDRs? → untranslated
//!             │                ── dst not a peer's global block → NoRoute
//!             │                ── src not local → NotLocalSource
//!             │                ── new egress flow (SNAT, NAPT) → rewrite src
//!             ├─ ICMP error ──── flow of the quoted packet → rewrite outer src + quoted dst
//!             └─ fragment ────── fragment table → rewrite src address
//!   → MSS clamp (TCP SYN / SYN-ACK) → Verdict::Forward
//! ```
//!
//! For a decrypted packet from a peer ([`Engine::handle_inbound`]):
//!
//! ```text
//!   classify ─┬─ flow packet ── outside-map hit? → rewrite dst to the flow's local ip:port
//!             │                ── src routed and dst local → untranslated
//!             │                ── dst not in our global block → NotOurs
//!             │                ── dst an exported service's global ip → new ingress flow (DNAT)
//!             │                ── dst an egress ip → NoFlow, else NotExported
//!             ├─ ICMP error ──── flow of the quoted packet → rewrite outer dst + quoted src
//!             └─ fragment ────── fragment table → rewrite dst address
//!   → MSS clamp → Verdict::Forward
//! ```
//!
//! Flow lookups come first in both directions so that a reply of an ingress
//! flow opened by a routed (non-Globalnet) peer is still un-DNATed.

mod decide;
mod packet;

use crate::nat::frag::FragTable;
use crate::nat::{FlowRecord, FlowTable, ImportReport};
use crate::stats::SharedTotals;
use crate::{AddressPlan, Counters, StatsSnapshot};
use arc_swap::ArcSwap;
use ipnet::Ipv4Net;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Instant;

pub use crate::nat::{Limits, Timeouts};

/// Everything the engine needs besides the address plan.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Local Pod and Service CIDRs: the only legitimate outbound sources.
    pub local_cidrs: Vec<Ipv4Net>,
    /// Peers' global blocks: outbound traffic to these is SNATed.
    pub remote_global_blocks: Vec<Ipv4Net>,
    /// CIDRs of peers without Globalnet: routed both ways untranslated.
    pub routed_cidrs: Vec<Ipv4Net>,
    /// Inner MTU of the tunnel (1500 − 80 = 1420 by default).
    pub tunnel_mtu: u16,
    /// The gateway's own address: source of the ICMP errors it generates
    /// (fragmentation needed).
    pub icmp_source: Ipv4Addr,
    pub timeouts: Timeouts,
    pub limits: Limits,
}

/// Where remote traffic may go: swapped as a whole on reload.
#[derive(Debug)]
struct Routing {
    remote_global_blocks: Vec<Ipv4Net>,
    routed_cidrs: Vec<Ipv4Net>,
}

/// What to do with a packet that was not dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The buffer now holds the translated packet of this length: send it on.
    Forward { len: usize },
    /// The packet was dropped, and an ICMP reply of this length (e.g.
    /// fragmentation-needed) was written to the reply buffer: send it back
    /// where the packet came from.
    Reply { len: usize },
}

/// The double-NAT engine. Shared by worker threads (`&self` everywhere).
///
/// Call contract: each worker owns a [`Counters`] that it passes to every
/// `handle_*` call and flushes with [`Engine::flush`] once per batch; some
/// worker calls [`Engine::handle_timeout`] whenever `now` reaches
/// [`Engine::poll_timeout`]. `now` must come from one monotonic clock.
pub struct Engine {
    config: EngineConfig,
    /// Peers' blocks and routed CIDRs, replaceable on reload (peers added or
    /// removed) without touching established flows.
    routing: ArcSwap<Routing>,
    plan: ArcSwap<AddressPlan>,
    table: FlowTable,
    frags: FragTable,
    totals: SharedTotals,
}

impl Engine {
    pub fn new(config: EngineConfig, plan: Arc<AddressPlan>) -> Self {
        Engine {
            table: FlowTable::new(&config.timeouts, config.limits),
            frags: FragTable::new(),
            plan: ArcSwap::new(plan),
            totals: SharedTotals::default(),
            routing: ArcSwap::from_pointee(Routing {
                remote_global_blocks: config.remote_global_blocks.clone(),
                routed_cidrs: config.routed_cidrs.clone(),
            }),
            config,
        }
    }

    /// Replaces the peers' global blocks and routed CIDRs (a config reload
    /// that added or removed peers). Flows already established keep working.
    pub fn set_routing(&self, remote_global_blocks: Vec<Ipv4Net>, routed_cidrs: Vec<Ipv4Net>) {
        self.routing.store(Arc::new(Routing {
            remote_global_blocks,
            routed_cidrs,
        }));
    }

    /// The settings the engine was created with (routing as of creation:
    /// see [`Engine::set_routing`]).
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The address plan new flows are created from.
    pub fn plan(&self) -> Arc<AddressPlan> {
        self.plan.load_full()
    }

    /// Swaps in a new address plan. Existing flows keep their translation
    /// (they never consult the plan); new flows use the new plan.
    pub fn set_plan(&self, plan: Arc<AddressPlan>) {
        self.plan.store(plan);
    }

    /// The flow table, for inspection (`len`, `stats`).
    pub fn table(&self) -> &FlowTable {
        &self.table
    }

    /// Expires idle flows and fragment entries. Bounded work per call (see
    /// [`crate::nat::table::SWEEP_BUDGET`]); call again while
    /// [`Engine::poll_timeout`] is not in the future.
    pub fn handle_timeout(&self, now: Instant, counters: &mut Counters) {
        let now = self.table.ticks(now);
        self.table.handle_timeout(now, counters);
        self.frags.handle_timeout(now);
    }

    /// When [`Engine::handle_timeout`] next has work; `None` while there is
    /// nothing that can expire.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let table = self.table.poll_timeout();
        let frags = self.frags.poll_timeout();
        let next = match (table, frags) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        self.table.instant(next)
    }

    /// Adds a worker's counts into the shared totals and zeroes them.
    pub fn flush(&self, counters: &mut Counters) {
        self.totals.absorb(counters);
    }

    /// Totals flushed so far plus a view of the flow table. O(flows): meant
    /// for metrics scrapes and `gwctl`, not per packet.
    pub fn stats(&self) -> StatsSnapshot {
        let mut table = self.table.stats();
        table.fragments_tracked = self.frags.len() as u64;
        StatsSnapshot {
            totals: self.totals.read(),
            table,
        }
    }

    /// Every live flow with its remaining lifetime at `now`, for a graceful
    /// restart (encode with [`crate::nat::flows_to_bytes`]).
    pub fn export_flows(&self, now: Instant) -> Vec<FlowRecord> {
        self.table.export(self.table.ticks(now))
    }

    /// Restores flows saved by [`Engine::export_flows`]; conflicting records
    /// are skipped and reported.
    pub fn import_flows(&self, now: Instant, records: &[FlowRecord]) -> ImportReport {
        self.table.import(self.table.ticks(now), records)
    }

    fn is_local(&self, ip: Ipv4Addr) -> bool {
        contains(&self.config.local_cidrs, ip)
    }

    fn is_routed(&self, ip: Ipv4Addr) -> bool {
        contains(&self.routing.load().routed_cidrs, ip)
    }

    fn is_remote_global(&self, ip: Ipv4Addr) -> bool {
        contains(&self.routing.load().remote_global_blocks, ip)
    }
}

fn contains(nets: &[Ipv4Net], ip: Ipv4Addr) -> bool {
    nets.iter().any(|n| n.contains(&ip))
}

#[cfg(test)]
mod tests;
