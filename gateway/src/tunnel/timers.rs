//! The periodic tick: boringtun's timers for every peer (keepalives,
//! handshake retransmission, rekeying, expiry), queue flushes, and the
//! handshake rate limiter's reset.

use boringtun::noise::errors::WireGuardError;
use boringtun::noise::TunnResult;

use super::peer::PeerState;
use super::sink::{emit, DatagramSink};
use super::wire::{message_type, HANDSHAKE_INIT_LEN, MESSAGE_HANDSHAKE_INIT};
use super::{TunnelDrop, TunnelDropCounts, Tunnels};

impl Tunnels {
    /// Runs every peer's timers. **Call at least every 250 ms** (boringtun's
    /// device does exactly that): boringtun caches the current time in
    /// `update_timers` and stamps every packet with it, so a slower tick
    /// skews keepalives, handshake retries (REKEY_TIMEOUT, 5 s) and rekeying
    /// (REKEY_AFTER_TIME, 120 s).
    ///
    /// Keepalives and handshake initiations go to `sink`; so do packets still
    /// queued from a handshake. It also resets the handshake rate limiter's
    /// count, which boringtun does at most once per second however often it
    /// is called. Datagrams that could not be sent (no endpoint, sink full)
    /// are counted in `drops`.
    ///
    /// When boringtun gives up (ConnectionExpired: 90 s of unanswered
    /// initiations, or 540 s without new keys) it has already cleared the
    /// sessions and the queue. A peer with persistent keepalive then starts
    /// a new attempt at once (boringtun itself would stay silent until
    /// traffic), so a gateway pair always comes back by itself.
    pub fn update_timers(&self, sink: &mut impl DatagramSink, drops: &mut TunnelDropCounts) {
        self.handshake_limiter.reset_count();
        let table = self.table.load();
        for entry in &table.entries {
            let mut state = entry.peer.lock();
            self.update_peer_timers(&mut state, sink, drops);
        }
    }

    fn update_peer_timers(
        &self,
        state: &mut PeerState,
        sink: &mut impl DatagramSink,
        drops: &mut TunnelDropCounts,
    ) {
        // Timers only write keepalives (32) and initiations (148).
        let mut scratch = [0u8; HANDSHAKE_INIT_LEN];
        match state.tunn.update_timers(&mut scratch) {
            TunnResult::Done => {}
            TunnResult::WriteToNetwork(datagram) => {
                if message_type(datagram) == Some(MESSAGE_HANDSHAKE_INIT) {
                    state.initiation_sent(true);
                }
                send_control(state, datagram, sink, drops);
            }
            TunnResult::Err(WireGuardError::ConnectionExpired) => {
                state.connection_expired();
                if state.keepalive && state.endpoint.is_some() {
                    let mut init = [0u8; HANDSHAKE_INIT_LEN];
                    if let TunnResult::WriteToNetwork(datagram) =
                        state.tunn.format_handshake_initiation(&mut init, false)
                    {
                        state.initiation_sent(true);
                        send_control(state, datagram, sink, drops);
                    }
                }
            }
            TunnResult::Err(error) => count(state, drops, TunnelDrop::from_wireguard(&error)),
            TunnResult::WriteToTunnelV4(..) | TunnResult::WriteToTunnelV6(..) => {
                count(state, drops, TunnelDrop::Internal);
            }
        }
        self.flush_queue(state, sink);
    }
}

/// Sends a keepalive or initiation to the peer's endpoint.
fn send_control(
    state: &mut PeerState,
    datagram: &[u8],
    sink: &mut impl DatagramSink,
    drops: &mut TunnelDropCounts,
) {
    let Some(endpoint) = state.endpoint else {
        return count(state, drops, TunnelDrop::NoEndpoint);
    };
    if emit(sink, endpoint, datagram) {
        state.count_sent(datagram);
    } else {
        count(state, drops, TunnelDrop::BufferTooSmall);
    }
}

fn count(state: &mut PeerState, drops: &mut TunnelDropCounts, reason: TunnelDrop) {
    drops.add(reason);
    state.stats.drops.add(reason);
}
