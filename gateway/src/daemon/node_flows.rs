//! Connections the gateway node itself opens to other clusters.
//!
//! The node's own traffic leaves with the gateway's global address as its
//! source (the routes to peers go through the TUN, whose address it is) and
//! without NAT. Its replies come back addressed to the gateway address — as
//! would a connection a remote cluster opens to the node's services (kubelet,
//! sshd, a VXLAN port), which must not get through: the pod runs on the host
//! network. So TCP and UDP to the gateway address pass only as replies to a
//! flow the node opened, remembered here; ICMP (pings, MTU probes, errors)
//! passes as before. Only non-ICMP packets from or to the gateway address
//! come here, so the lock is off the path of cluster traffic.

use natcore::wire::{classify, FiveTuple, PacketKind, Protocol};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Flows remembered at most: a gateway node opens few connections to other
/// clusters (an operator's curl, a host-network agent); when full, expired
/// ones are dropped first, then new flows are not remembered (their replies
/// are dropped as `not_for_gateway`).
pub const CAPACITY: usize = 4096;
/// Idle time after which a node flow is forgotten: TCP as an established NAT
/// mapping (RFC 5382: at least 2 h 4 min), UDP as a UDP mapping (RFC 4787:
/// at least 2 min; 5 min, as natcore's default).
pub const TCP_IDLE: Duration = Duration::from_secs(2 * 3600 + 4 * 60);
pub const UDP_IDLE: Duration = Duration::from_secs(5 * 60);

/// The node's open flows (their outbound tuple) and when each last carried a
/// packet.
#[derive(Debug, Default)]
pub struct NodeFlows {
    flows: Mutex<HashMap<FiveTuple, Instant>>,
}

impl NodeFlows {
    /// A packet the node sends from the gateway address: remembers its flow
    /// (TCP and UDP; other protocols have no replies to let in).
    pub fn note_outbound(&self, now: Instant, packet: &[u8]) {
        let Some(tuple) = tcp_or_udp_tuple(packet) else {
            return;
        };
        let mut flows = self.lock();
        if flows.len() >= CAPACITY && !flows.contains_key(&tuple) {
            flows.retain(|t, seen| now.saturating_duration_since(*seen) < idle(t.protocol));
            if flows.len() >= CAPACITY {
                return;
            }
        }
        flows.insert(tuple, now);
    }

    /// Whether a TCP or UDP packet to the gateway address is a reply to a
    /// live flow the node opened (and refreshes that flow if so).
    pub fn is_reply(&self, now: Instant, packet: &[u8]) -> bool {
        let Some(tuple) = tcp_or_udp_tuple(packet) else {
            return false;
        };
        let opened = tuple.reversed();
        let mut flows = self.lock();
        match flows.get_mut(&opened) {
            Some(seen) if now.saturating_duration_since(*seen) < idle(opened.protocol) => {
                *seen = now;
                true
            }
            Some(_) => {
                flows.remove(&opened);
                false
            }
            None => false,
        }
    }

    /// How many flows are remembered (for tests and status).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<FiveTuple, Instant>> {
        self.flows.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn idle(protocol: Protocol) -> Duration {
    match protocol {
        Protocol::Tcp => TCP_IDLE,
        _ => UDP_IDLE,
    }
}

/// The addresses and ports of a valid TCP or UDP packet that carries them
/// (natcore's classification: not a later fragment, not truncated).
fn tcp_or_udp_tuple(packet: &[u8]) -> Option<FiveTuple> {
    match classify(packet).ok()?.kind {
        PacketKind::Flow { tuple, .. } if tuple.protocol != Protocol::Icmp => Some(tuple),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use natcore::testing::{tcp_flags::SYN, tcp_packet, udp_packet};
    use std::net::Ipv4Addr;

    const NODE: Ipv4Addr = Ipv4Addr::new(242, 0, 0, 1);
    const REMOTE: Ipv4Addr = Ipv4Addr::new(243, 0, 0, 10);

    #[test]
    fn replies_to_what_the_node_opened_pass_and_nothing_else() {
        let (t0, flows) = (Instant::now(), NodeFlows::default());
        flows.note_outbound(t0, &tcp_packet((NODE, 40_000), (REMOTE, 80), SYN, &[], b""));
        flows.note_outbound(t0, &udp_packet((NODE, 40_001), (REMOTE, 53), b"q"));
        let reply_tcp = tcp_packet((REMOTE, 80), (NODE, 40_000), SYN, &[], b"");
        let reply_udp = udp_packet((REMOTE, 53), (NODE, 40_001), b"a");
        assert!(flows.is_reply(t0, &reply_tcp));
        assert!(flows.is_reply(t0, &reply_udp));
        // Another port, another remote, another protocol: not replies.
        assert!(!flows.is_reply(t0, &tcp_packet((REMOTE, 80), (NODE, 22), SYN, &[], b"")));
        assert!(!flows.is_reply(t0, &tcp_packet((REMOTE, 81), (NODE, 40_000), SYN, &[], b"")));
        let other = Ipv4Addr::new(243, 0, 0, 11);
        assert!(!flows.is_reply(t0, &udp_packet((other, 53), (NODE, 40_001), b"a")));
        assert!(!flows.is_reply(t0, &udp_packet((REMOTE, 80), (NODE, 40_000), b"a")));
    }

    #[test]
    fn idle_flows_are_forgotten_and_traffic_keeps_them() {
        let (t0, flows) = (Instant::now(), NodeFlows::default());
        flows.note_outbound(t0, &udp_packet((NODE, 40_001), (REMOTE, 53), b"q"));
        let reply = udp_packet((REMOTE, 53), (NODE, 40_001), b"a");
        // A reply refreshes the flow: still alive 1.5 idle periods after it opened.
        assert!(flows.is_reply(t0 + UDP_IDLE / 2, &reply));
        assert!(flows.is_reply(t0 + UDP_IDLE, &reply));
        assert!(!flows.is_reply(t0 + UDP_IDLE * 2 + Duration::from_secs(1), &reply));
        assert!(flows.is_empty(), "an expired flow is removed when seen");
    }

    #[test]
    fn a_full_table_drops_expired_flows_first_and_then_stops_growing() {
        let (t0, flows) = (Instant::now(), NodeFlows::default());
        for port in 0..CAPACITY as u16 {
            flows.note_outbound(t0, &udp_packet((NODE, 10_000 + port), (REMOTE, 53), b"q"));
        }
        assert_eq!(flows.len(), CAPACITY);
        let late = t0 + UDP_IDLE + Duration::from_secs(1);
        flows.note_outbound(late, &udp_packet((NODE, 9_999), (REMOTE, 53), b"q"));
        assert_eq!(flows.len(), 1, "the expired flows made room");
        for port in 0..(CAPACITY as u16 + 10) {
            flows.note_outbound(late, &udp_packet((NODE, 20_000 + port), (REMOTE, 53), b"q"));
        }
        assert_eq!(flows.len(), CAPACITY);
    }

    #[test]
    fn fragments_and_truncated_packets_are_not_replies() {
        let (t0, flows) = (Instant::now(), NodeFlows::default());
        flows.note_outbound(t0, &udp_packet((NODE, 40_001), (REMOTE, 53), b"q"));
        let mut later_fragment = udp_packet((REMOTE, 53), (NODE, 40_001), b"a");
        later_fragment[7] = 1; // fragment offset 8 bytes: no UDP header here
        assert!(!flows.is_reply(t0, &later_fragment));
        assert!(!flows.is_reply(t0, &later_fragment[..22]));
        assert!(!flows.is_reply(t0, &[]));
    }
}
