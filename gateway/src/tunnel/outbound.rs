//! Packets to the network: encrypt a batch for one peer under one lock
//! acquisition, straight into the caller's send buffers.

use boringtun::noise::TunnResult;

use super::peer::PeerState;
use super::sink::DatagramSink;
use super::wire::{
    ipv4_destination, message_type, HANDSHAKE_INIT_LEN, MESSAGE_DATA, WG_DATA_OVERHEAD,
};
use super::{PeerId, TunnelDrop, TunnelDropCounts, Tunnels};

impl Tunnels {
    /// Encrypts `packets` (inner IPv4 packets) for `peer`, taking the peer
    /// lock once. Each datagram is written into a buffer from `sink` (which
    /// must hold the packet + 32 bytes and at least 148) and committed with
    /// the peer's endpoint. Returns the number of datagrams committed.
    ///
    /// Without a session boringtun queues the packets and the first one
    /// yields a handshake initiation (committed like any datagram); they go
    /// out when the handshake completes. Refused packets are counted in
    /// `drops` and in the peer's stats: no endpoint known, too large, empty,
    /// sink buffer too small, peer unknown (removed meanwhile).
    pub fn encapsulate_batch<'p>(
        &self,
        peer: PeerId,
        packets: impl IntoIterator<Item = &'p [u8]>,
        sink: &mut impl DatagramSink,
        drops: &mut TunnelDropCounts,
    ) -> usize {
        let table = self.table.load();
        let Some(peer) = table.by_id.get(&peer) else {
            packets
                .into_iter()
                .for_each(|_| drops.add(TunnelDrop::UnknownPeer));
            return 0;
        };
        let mut state = peer.lock();
        packets
            .into_iter()
            .map(|packet| self.encapsulate_one(&mut state, packet, sink, drops))
            .sum()
    }

    /// Like [`encapsulate_batch`](Tunnels::encapsulate_batch), with the peer
    /// chosen per packet by destination (longest allowed-CIDR match). Runs of
    /// consecutive packets for the same peer share one lock acquisition.
    /// Packets that are not IPv4 count as [`TunnelDrop::InvalidInnerPacket`],
    /// unrouted ones as [`TunnelDrop::NoRoute`].
    pub fn encapsulate_routed<'p>(
        &self,
        packets: impl IntoIterator<Item = &'p [u8]>,
        sink: &mut impl DatagramSink,
        drops: &mut TunnelDropCounts,
    ) -> usize {
        let table = self.table.load();
        let route = |packet: &[u8]| match ipv4_destination(packet) {
            None => Err(TunnelDrop::InvalidInnerPacket),
            Some(dst) => table.routes.lookup(dst).ok_or(TunnelDrop::NoRoute),
        };
        let mut packets = packets.into_iter().peekable();
        let mut sent = 0;
        while let Some(first) = packets.next() {
            let peer = match route(first) {
                Ok(id) => id,
                Err(reason) => {
                    drops.add(reason);
                    continue;
                }
            };
            let Some(tunnel) = table.by_id.get(&peer) else {
                drops.add(TunnelDrop::UnknownPeer);
                continue;
            };
            let mut state = tunnel.lock();
            sent += self.encapsulate_one(&mut state, first, sink, drops);
            while let Some(packet) = packets.next_if(|p| route(p) == Ok(peer)) {
                sent += self.encapsulate_one(&mut state, packet, sink, drops);
            }
        }
        sent
    }

    /// One packet under the peer lock; 1 if a datagram was committed.
    fn encapsulate_one(
        &self,
        state: &mut PeerState,
        packet: &[u8],
        sink: &mut impl DatagramSink,
        drops: &mut TunnelDropCounts,
    ) -> usize {
        let mut refuse = |state: &mut PeerState, reason| {
            drops.add(reason);
            state.stats.drops.add(reason);
            0
        };
        if packet.is_empty() {
            // boringtun would send it as a keepalive.
            return refuse(state, TunnelDrop::InvalidInnerPacket);
        }
        if packet.len() > self.limits.max_packet_len {
            return refuse(state, TunnelDrop::PacketTooLarge);
        }
        let Some(endpoint) = state.endpoint else {
            return refuse(state, TunnelDrop::NoEndpoint);
        };
        let buffer = sink.buffer();
        // boringtun panics below packet + 32; an initiation needs 148.
        if buffer.len() < (packet.len() + WG_DATA_OVERHEAD).max(HANDSHAKE_INIT_LEN) {
            return refuse(state, TunnelDrop::BufferTooSmall);
        }
        let buffer_start = buffer.as_ptr();
        match state.tunn.encapsulate(packet, buffer) {
            TunnResult::WriteToNetwork(datagram) if datagram.as_ptr() == buffer_start => {
                let len = datagram.len();
                let destination = if message_type(datagram) == Some(MESSAGE_DATA) {
                    state.count_sent(datagram);
                    endpoint
                } else {
                    // No session: boringtun queued the packet and started a
                    // handshake; this is its initiation.
                    state.stats.queued_packets += 1;
                    state.queue_pending = true;
                    state.initiation_sent(false).unwrap_or(endpoint)
                };
                sink.commit(destination, len);
                1
            }
            TunnResult::Done => {
                // Queued behind a handshake already in progress.
                state.stats.queued_packets += 1;
                state.queue_pending = true;
                0
            }
            TunnResult::Err(error) => refuse(state, TunnelDrop::from_wireguard(&error)),
            _ => refuse(state, TunnelDrop::Internal),
        }
    }

    /// Sends what boringtun queued during a handshake, now that a session
    /// exists. Stops early (the rest stays queued for the next flush) when
    /// the sink runs out of full-size buffers.
    pub(crate) fn flush_queue(&self, state: &mut PeerState, sink: &mut impl DatagramSink) {
        if !state.queue_pending {
            return;
        }
        // Without a session boringtun would move each packet to the back of
        // its queue (reordering them) and start another handshake.
        if state.tunn.time_since_last_handshake().is_none() {
            return;
        }
        let Some(endpoint) = state.endpoint else {
            return;
        };
        let capacity = self.datagram_capacity();
        loop {
            let buffer = sink.buffer();
            // Every queued packet passed the max_packet_len check.
            if buffer.len() < capacity {
                return;
            }
            let buffer_start = buffer.as_ptr();
            match state.tunn.decapsulate(None, &[], buffer) {
                TunnResult::WriteToNetwork(datagram) if datagram.as_ptr() == buffer_start => {
                    let len = datagram.len();
                    state.count_sent(datagram);
                    sink.commit(endpoint, len);
                }
                _ => {
                    state.queue_pending = false;
                    return;
                }
            }
        }
    }
}
