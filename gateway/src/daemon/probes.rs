//! Health probes of every Globalnet peer, sent from the timer thread and
//! answered through the inbound path (see crate::health).

use crate::health::{EchoReply, Prober, RttStats, PROBE_LEN};
use crate::io::udp::SendBatch;
use crate::mtu_probe::{write_mtu_probe, MtuProbes};
use crate::tunnel::{TunnelDropCounts, Tunnels};
use ipnet::Ipv4Net;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a round of MTU probes waits for its answers: far above a tunnel's
/// RTT, and a failing size only ever costs this once per round.
const MTU_ROUND_WAIT: Duration = Duration::from_secs(1);

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
    /// `gwctl diagnose`'s MTU searches, sent from the timer thread too.
    pub mtu: MtuProbes,
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

    /// An echo reply for our address: a health probe's or an MTU probe's.
    pub fn handle_echo_reply(&mut self, now: Instant, reply: &EchoReply) -> bool {
        if reply.ident == crate::health::PROBE_IDENT {
            if let Some((_, p)) = self.probers.values_mut().find(|(ip, _)| *ip == reply.src) {
                p.handle_reply(now, reply.seq);
            }
            return true;
        }
        self.mtu.handle_reply(reply)
    }

    /// The peer gateway address a peer's probes go to.
    pub fn target_of(&self, peer: &str) -> Option<Ipv4Addr> {
        self.probers.get(peer).map(|(ip, _)| *ip)
    }

    /// Sends the MTU probes `gwctl diagnose` queued.
    pub fn send_mtu_probes(
        &mut self,
        own_ip: Ipv4Addr,
        tunnels: &Tunnels,
        out: &mut SendBatch,
        drops: &mut TunnelDropCounts,
    ) {
        let pending = self.mtu.take_pending();
        if pending.is_empty() {
            return;
        }
        let mut packet = vec![0u8; usize::from(u16::MAX)];
        for (target, size) in pending {
            let name = self.probers.iter().find(|(_, (ip, _))| *ip == target);
            let Some(id) = name.and_then(|(name, _)| tunnels.peer_id(name)) else {
                continue;
            };
            if let Some(len) = write_mtu_probe(own_ip, target, size, &mut packet) {
                if out.is_full() {
                    break; // the rest of the round counts as lost; a round is ≤ 32 probes
                }
                tunnels.encapsulate_batch(id, [&packet[..len]], out, drops);
            }
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

fn not_a_target(peer: &str) -> String {
    format!("{peer}: no such Globalnet peer (only peers with a global_cidr have a gateway address to probe)")
}

/// Fails as [`mtu_search`] would for a peer that is not a probe target.
pub fn require_probe_target(health: &Mutex<HealthState>, peer: &str) -> Result<(), String> {
    let health = health
        .lock()
        .map_err(|_| "health state poisoned".to_string())?;
    match health.target_of(peer) {
        Some(_) => Ok(()),
        None => Err(not_a_target(peer)),
    }
}

/// WireGuard's REJECT_AFTER_TIME: session keys older than this are not used.
const SESSION_KEYS_EXPIRE: Duration = Duration::from_secs(180);

/// Fails for a peer without current session keys: every probe would be lost,
/// which would read as "nothing passes".
pub fn require_session_keys(tunnels: &Tunnels, peer: &str) -> Result<(), String> {
    let last_handshake = tunnels
        .peer_id(peer)
        .and_then(|id| tunnels.peer_info(id))
        .and_then(|info| info.last_handshake);
    match last_handshake {
        Some(age) if age < SESSION_KEYS_EXPIRE => Ok(()),
        Some(age) => Err(format!(
            "{peer}: no current WireGuard session (last handshake {} s ago; keys expire after {} s), so nothing to probe through; see `gwctl peers`",
            age.as_secs(),
            SESSION_KEYS_EXPIRE.as_secs()
        )),
        None => Err(format!(
            "{peer}: no WireGuard session yet, so nothing to probe through; see `gwctl peers`"
        )),
    }
}

/// Runs `gwctl diagnose`'s MTU search against `peer` (probes sent by the timer
/// thread, answers recorded by the inbound path): the largest packet size up
/// to `max` that crossed the tunnel and came back unfragmented. Blocks for a
/// few rounds of MTU_ROUND_WAIT at most.
pub fn mtu_search(
    health: &Mutex<HealthState>,
    peer: &str,
    max: u16,
) -> Result<Option<u16>, String> {
    let lock = || {
        health
            .lock()
            .map_err(|_| "health state poisoned".to_string())
    };
    let target = lock()?.target_of(peer).ok_or_else(|| not_a_target(peer))?;
    let mut failure = None;
    let largest = crate::mtu_probe::search(max, |sizes| {
        match lock() {
            Ok(mut h) => h.mtu.request(target, sizes),
            Err(e) => {
                failure = Some(e);
                return Vec::new();
            }
        }
        let deadline = Instant::now() + MTU_ROUND_WAIT;
        loop {
            std::thread::sleep(Duration::from_millis(20));
            let passed = lock().map(|h| h.mtu.passed(target)).unwrap_or_default();
            if passed.len() == sizes.len() || Instant::now() >= deadline {
                return passed;
            }
        }
    });
    if let Ok(mut h) = lock() {
        h.mtu.finish(target);
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(largest),
    }
}
