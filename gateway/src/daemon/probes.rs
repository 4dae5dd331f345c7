//! Health probes of every Globalnet peer, sent from the timer thread and
//! answered through the inbound path (see crate::health).

use crate::health::{Prober, RttStats, PROBE_LEN};
use crate::io::udp::SendBatch;
use crate::tunnel::{TunnelDropCounts, Tunnels};
use ipnet::Ipv4Net;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Instant;

/// The gateway address of a Globalnet block: its first host (what IPAM reserves).
pub fn gateway_ip_of(block: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(block.network()).saturating_add(1))
}

/// Cumulative buckets (upper bound s, count), sum and count of RTT samples.
pub type RttHistogram = (Vec<(f64, u64)>, std::time::Duration, u64);

/// Probers by peer name, and the peer gateway address each one targets.
#[derive(Default)]
pub struct HealthState {
    probers: HashMap<String, (Ipv4Addr, Prober)>,
}

impl HealthState {
    /// Keeps probers of peers that stay, adds new ones, forgets removed ones.
    pub fn sync(&mut self, peers: &[(String, Ipv4Addr)]) {
        self.probers
            .retain(|name, _| peers.iter().any(|(n, _)| n == name));
        for (name, target) in peers {
            let entry = self
                .probers
                .entry(name.clone())
                .or_insert_with(|| (*target, Prober::new()));
            if entry.0 != *target {
                *entry = (*target, Prober::new());
            }
        }
    }

    pub fn handle_reply(&mut self, now: Instant, from: Ipv4Addr, seq: u16) {
        if let Some((_, p)) = self.probers.values_mut().find(|(ip, _)| *ip == from) {
            p.handle_reply(now, seq);
        }
    }

    pub fn stats(&self, peer: &str) -> Option<RttStats> {
        self.probers.get(peer).map(|(_, p)| p.stats())
    }

    pub fn histogram(&self, peer: &str) -> Option<RttHistogram> {
        self.probers.get(peer).map(|(_, p)| p.histogram())
    }

    /// Expires stale probes and sends one new probe per peer.
    pub fn probe_all(
        &mut self,
        now: Instant,
        own_ip: Ipv4Addr,
        tunnels: &Tunnels,
        out: &mut SendBatch,
        drops: &mut TunnelDropCounts,
    ) {
        let mut packet = [0u8; PROBE_LEN];
        for (name, (target, prober)) in self.probers.iter_mut() {
            prober.expire(now);
            let Some(id) = tunnels.peer_id(name) else {
                continue;
            };
            if let Some(len) = prober.next_probe(now, own_ip, *target, &mut packet) {
                tunnels.encapsulate_batch(id, [&packet[..len]], out, drops);
            }
        }
    }

    pub fn expire(&mut self, now: Instant) {
        for (_, p) in self.probers.values_mut() {
            p.expire(now);
        }
    }
}
