//! The periodic tick: boringtun's timers for every peer (keepalives,
//! handshake retransmission, rekeying, expiry), queue flushes, and the
//! handshake rate limiter's reset.

use std::net::SocketAddr;
use std::time::Duration;

use boringtun::noise::errors::WireGuardError;
use boringtun::noise::TunnResult;

use super::peer::PeerState;
use super::sink::{emit, DatagramSink};
use super::wire::{message_type, HANDSHAKE_INIT_LEN, MESSAGE_HANDSHAKE_INIT};
use super::{TunnelDrop, TunnelDropCounts, Tunnels};

/// WireGuard's key lifetime before the initiator renegotiates.
const REKEY_AFTER_TIME: Duration = Duration::from_secs(120);

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
            TunnResult::Done => keep_keys_fresh(state, sink, drops),
            TunnResult::WriteToNetwork(datagram) => {
                if message_type(datagram) == Some(MESSAGE_HANDSHAKE_INIT) {
                    send_initiation(state, datagram, sink, drops);
                } else {
                    send_control(state, datagram, sink, drops);
                    keep_keys_fresh(state, sink, drops);
                }
            }
            TunnResult::Err(WireGuardError::ConnectionExpired) => {
                state.connection_expired();
                if state.keepalive && state.endpoint.is_some() {
                    let mut init = [0u8; HANDSHAKE_INIT_LEN];
                    if let TunnResult::WriteToNetwork(datagram) =
                        state.tunn.format_handshake_initiation(&mut init, false)
                    {
                        send_initiation(state, datagram, sink, drops);
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

/// boringtun rekeys after REKEY_AFTER_TIME only when *data* was sent, so an
/// idle tunnel kept up by persistent keepalives keeps its keys until they die
/// at REJECT_AFTER_TIME (180 s): its handshake goes stale (status error after
/// 130 s) and each key change costs a gap of up to a keepalive interval.
/// Kernel WireGuard rekeys on keepalives too, and the stale threshold
/// assumes it; so a peer with persistent keepalive whose last handshake we
/// initiated starts a new one once the keys are REKEY_AFTER_TIME old. Retries, give-up and the queue are
/// then boringtun's as for any handshake; the old keys serve meanwhile.
fn keep_keys_fresh(
    state: &mut PeerState,
    sink: &mut impl DatagramSink,
    drops: &mut TunnelDropCounts,
) {
    let due = state
        .tunn
        .time_since_last_handshake()
        .is_some_and(|age| age >= REKEY_AFTER_TIME);
    if !(state.keepalive && state.initiated_last_handshake && due) {
        return;
    }
    let mut init = [0u8; HANDSHAKE_INIT_LEN];
    // Without force, boringtun answers Done while a handshake is in progress.
    if let TunnResult::WriteToNetwork(datagram) =
        state.tunn.format_handshake_initiation(&mut init, false)
    {
        send_initiation(state, datagram, sink, drops);
    }
}

/// Sends the timer's initiation where [`PeerState::initiation_sent`] says.
fn send_initiation(
    state: &mut PeerState,
    datagram: &[u8],
    sink: &mut impl DatagramSink,
    drops: &mut TunnelDropCounts,
) {
    let destination = state.initiation_sent(true);
    send_to(state, destination, datagram, sink, drops);
}

/// Sends a keepalive to the peer's endpoint.
fn send_control(
    state: &mut PeerState,
    datagram: &[u8],
    sink: &mut impl DatagramSink,
    drops: &mut TunnelDropCounts,
) {
    send_to(state, state.endpoint, datagram, sink, drops);
}

fn send_to(
    state: &mut PeerState,
    destination: Option<SocketAddr>,
    datagram: &[u8],
    sink: &mut impl DatagramSink,
    drops: &mut TunnelDropCounts,
) {
    let Some(endpoint) = destination else {
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
