//! The slow-path side of the table, behind one mutex: the list of every flow
//! (for sweeping, statistics and export) and the counts the limits and the
//! port allocator consult. Only flow creation, removal, sweeps and statistics
//! take this lock; established-flow lookups never do.

use super::clock::Ticks;
use super::flow::{Flow, FlowKind};
use super::ports::port_range;
use super::timeouts::TimeoutMillis;
use crate::wire::Protocol;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

/// Egress flows sharing one global ip, one remote endpoint and one port
/// class compete for the same ports: when their count reaches the size of the
/// class, the port search can be skipped (it would find nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Destination {
    protocol: Protocol,
    global: Ipv4Addr,
    remote: Ipv4Addr,
    remote_port: u16,
    /// First port of the class (see [`port_range`]).
    class: u16,
}

impl Destination {
    pub(crate) fn new(
        protocol: Protocol,
        global: Ipv4Addr,
        remote: (Ipv4Addr, u16),
        original_port: u16,
    ) -> Self {
        let remote_port = if protocol == Protocol::Icmp {
            0
        } else {
            remote.1
        };
        Destination {
            protocol,
            global,
            remote: remote.0,
            remote_port,
            class: *port_range(protocol, original_port).start(),
        }
    }

    fn of(flow: &Flow) -> Self {
        Destination::new(
            flow.protocol(),
            flow.global().addr,
            (flow.remote().addr, flow.remote().port),
            flow.global().port,
        )
    }
}

/// An incremental pass over the flow list.
#[derive(Debug)]
pub(crate) struct Sweep {
    /// Flows before this index have been visited in this pass.
    pub(crate) cursor: usize,
    /// Earliest deadline among the flows the pass kept.
    pub(crate) earliest_kept: Ticks,
}

#[derive(Default)]
pub(crate) struct Registry {
    flows: Vec<Arc<Flow>>,
    per_source: HashMap<Ipv4Addr, u32>,
    per_egress_ip: HashMap<Ipv4Addr, u32>,
    per_destination: HashMap<Destination, u32>,
    live_by_protocol: [u64; 3],
    pub(crate) sweep: Option<Sweep>,
}

/// Index of a protocol in per-protocol arrays (ICMP, TCP, UDP).
pub const fn protocol_index(p: Protocol) -> usize {
    match p {
        Protocol::Icmp => 0,
        Protocol::Tcp => 1,
        Protocol::Udp => 2,
    }
}

/// The protocols in per-protocol array order.
pub const PROTOCOLS: [Protocol; 3] = [Protocol::Icmp, Protocol::Tcp, Protocol::Udp];

fn increment<K: std::hash::Hash + Eq>(map: &mut HashMap<K, u32>, key: K) {
    *map.entry(key).or_insert(0) += 1;
}

fn decrement<K: std::hash::Hash + Eq>(map: &mut HashMap<K, u32>, key: K) {
    if let Some(n) = map.get_mut(&key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(&key);
        }
    }
}

impl Registry {
    pub(crate) fn len(&self) -> usize {
        self.flows.len()
    }

    pub(crate) fn flows(&self) -> &[Arc<Flow>] {
        &self.flows
    }

    pub(crate) fn flows_of_source(&self, source: Ipv4Addr) -> usize {
        self.per_source.get(&source).map_or(0, |&n| n as usize)
    }

    pub(crate) fn egress_flows_to(&self, d: &Destination) -> u32 {
        self.per_destination.get(d).copied().unwrap_or(0)
    }

    pub(crate) fn live_by_protocol(&self) -> [u64; 3] {
        self.live_by_protocol
    }

    pub(crate) fn per_source(&self) -> &HashMap<Ipv4Addr, u32> {
        &self.per_source
    }

    pub(crate) fn per_egress_ip(&self) -> &HashMap<Ipv4Addr, u32> {
        &self.per_egress_ip
    }

    pub(crate) fn push(&mut self, flow: Arc<Flow>) {
        flow.set_slot(self.flows.len());
        increment(&mut self.per_source, flow.originator());
        if flow.kind() == FlowKind::Egress {
            increment(&mut self.per_egress_ip, flow.global().addr);
            increment(&mut self.per_destination, Destination::of(&flow));
        }
        self.live_by_protocol[protocol_index(flow.protocol())] += 1;
        self.flows.push(flow);
    }

    /// Removes the flow at `slot` from the list and the counts (the caller
    /// removes its map keys). A flow moved into the hole from beyond a running
    /// sweep's cursor has its deadline folded into the pass, so it is not lost
    /// to this pass's `earliest_kept`.
    pub(crate) fn remove(&mut self, slot: usize, timeouts: &TimeoutMillis) -> Option<Arc<Flow>> {
        if slot >= self.flows.len() {
            return None;
        }
        let last = self.flows.len() - 1;
        let flow = self.flows.swap_remove(slot);
        if slot < last {
            let moved = &self.flows[slot];
            moved.set_slot(slot);
            if let Some(sweep) = &mut self.sweep {
                if slot < sweep.cursor {
                    sweep.earliest_kept = sweep.earliest_kept.min(moved.expires_at(timeouts));
                }
            }
        }
        decrement(&mut self.per_source, flow.originator());
        if flow.kind() == FlowKind::Egress {
            decrement(&mut self.per_egress_ip, flow.global().addr);
            decrement(&mut self.per_destination, Destination::of(&flow));
        }
        let n = &mut self.live_by_protocol[protocol_index(flow.protocol())];
        *n = n.saturating_sub(1);
        Some(flow)
    }
}
