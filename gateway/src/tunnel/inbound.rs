//! Datagrams from the network: classify, find the peer, decrypt, check the
//! inner source against the peer's allowed CIDRs.
//!
//! Order of work, cheapest first, so garbage costs little:
//! 1. `Tunn::parse_incoming_packet`: type and exact length (no crypto).
//! 2. Initiations: mac1 and the rate limiter (a BLAKE2s; a cookie reply
//!    under load), only then the X25519 DH that reveals the sender's key.
//!    Everything else: the peer from `receiver_idx >> 8` (a hash lookup).
//! 3. The peer lock, then boringtun's `decapsulate`.

use std::net::SocketAddr;
use std::sync::Arc;

use boringtun::noise::handshake::parse_handshake_anon;
use boringtun::noise::{HandshakeInit, Packet, Tunn, TunnResult};

use super::peer::{Peer, PeerState};
use super::sink::{emit, DatagramSink};
use super::table::PeerTable;
use super::wire::{message_type, HANDSHAKE_INIT_LEN, MESSAGE_HANDSHAKE_INIT, WG_DATA_HEADER};
use super::{PeerId, TunnelDrop, Tunnels};

/// What became of one datagram.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inbound {
    /// `out[..len]` is an IPv4 packet from `peer`, and its source is one that
    /// peer may use: pass it on (to natcore, then the TUN).
    Packet {
        /// Who sent it.
        peer: PeerId,
        /// Length of the packet at the start of `out`.
        len: usize,
    },
    /// WireGuard's own traffic (handshake, cookie, keepalive), handled; any
    /// reply went to the sink.
    Control,
    /// Dropped; count it.
    Dropped(TunnelDrop),
}

impl Tunnels {
    /// Handles one UDP datagram received from `from`.
    ///
    /// A data packet is decrypted into `out`, which must hold
    /// `datagram.len() − 16` bytes (the ciphertext and tag; the packet itself
    /// is `datagram.len() − 32`), otherwise the datagram is
    /// [`TunnelDrop::Oversized`]. Handshake replies, cookie replies and
    /// packets that were queued for the handshake go to `sink`, addressed to
    /// `from` (after an authenticated packet the peer's endpoint moves there:
    /// WireGuard roaming).
    pub fn handle_datagram(
        &self,
        from: SocketAddr,
        datagram: &[u8],
        out: &mut [u8],
        sink: &mut impl DatagramSink,
    ) -> Inbound {
        let Ok(packet) = Tunn::parse_incoming_packet(datagram) else {
            return Inbound::Dropped(TunnelDrop::Malformed);
        };
        let table = self.table.load();
        let by_index = |receiver_idx: u32| {
            table
                .by_id
                .get(&PeerId::from_receiver_index(receiver_idx))
                .cloned()
        };
        match packet {
            Packet::HandshakeInit(init) => {
                match self.initiating_peer(&table, from, datagram, &init, sink) {
                    Ok(peer) => handle_handshake(&peer, from, datagram, self, sink),
                    Err(reason) => Inbound::Dropped(reason),
                }
            }
            Packet::HandshakeResponse(response) => match by_index(response.receiver_idx) {
                Some(peer) => handle_handshake(&peer, from, datagram, self, sink),
                None => Inbound::Dropped(TunnelDrop::UnknownPeer),
            },
            Packet::PacketCookieReply(cookie) => match by_index(cookie.receiver_idx) {
                Some(peer) => handle_cookie_reply(&peer, from, datagram),
                None => Inbound::Dropped(TunnelDrop::UnknownPeer),
            },
            Packet::PacketData(data) => match by_index(data.receiver_idx) {
                Some(peer) => self.handle_data(&table, &peer, from, datagram, out, sink),
                None => Inbound::Dropped(TunnelDrop::UnknownPeer),
            },
        }
    }

    /// The peer behind an initiation: rate limit first (mac1, then a cookie
    /// reply if over the limit), then one DH to decrypt the sender's key.
    fn initiating_peer(
        &self,
        table: &PeerTable,
        from: SocketAddr,
        datagram: &[u8],
        init: &HandshakeInit<'_>,
        sink: &mut impl DatagramSink,
    ) -> Result<Arc<Peer>, TunnelDrop> {
        let mut cookie_buf = [0u8; HANDSHAKE_INIT_LEN];
        match self
            .handshake_limiter
            .verify_packet(Some(from.ip()), datagram, &mut cookie_buf)
        {
            Ok(_) => {}
            Err(TunnResult::WriteToNetwork(cookie)) => {
                // A full sink loses the cookie; the initiator retries anyway.
                let _ = emit(sink, from, cookie);
                return Err(TunnelDrop::UnderLoad);
            }
            Err(TunnResult::Err(error)) => return Err(TunnelDrop::from_wireguard(&error)),
            Err(_) => return Err(TunnelDrop::Internal),
        }
        let half = parse_handshake_anon(&self.private_key, &self.public_key, init)
            .map_err(|_| TunnelDrop::HandshakeRejected)?;
        table
            .by_key
            .get(&half.peer_static_public)
            .cloned()
            .ok_or(TunnelDrop::UnknownPeer)
    }

    fn handle_data(
        &self,
        table: &PeerTable,
        peer: &Peer,
        from: SocketAddr,
        datagram: &[u8],
        out: &mut [u8],
        sink: &mut impl DatagramSink,
    ) -> Inbound {
        let mut state = peer.lock();
        // boringtun panics when the ciphertext does not fit.
        if out.len() < datagram.len().saturating_sub(WG_DATA_HEADER) {
            return dropped(&mut state, TunnelDrop::Oversized);
        }
        let out_start = out.as_ptr();
        let verdict = match state.tunn.decapsulate(Some(from.ip()), datagram, out) {
            TunnResult::WriteToTunnelV4(packet, source) => {
                if packet.as_ptr() != out_start {
                    // boringtun 0.7.1 decrypts in place at the start of `out`.
                    Err(TunnelDrop::Internal)
                } else if table.routes.lookup(source) != Some(peer.id) {
                    Err(TunnelDrop::SpoofedSource)
                } else {
                    Ok(Some(packet.len()))
                }
            }
            TunnResult::WriteToTunnelV6(..) => Err(TunnelDrop::Ipv6Inner),
            // An authenticated keepalive.
            TunnResult::Done => Ok(None),
            TunnResult::Err(error) => {
                return dropped(&mut state, TunnelDrop::from_wireguard(&error))
            }
            TunnResult::WriteToNetwork(_) => return dropped(&mut state, TunnelDrop::Internal),
        };
        // Everything left was authenticated by the session key: follow the
        // peer to its new address even if the inner packet is refused, as
        // WireGuard does.
        state.roam(from);
        state.session_confirmed();
        match verdict {
            Ok(delivered) => {
                self.flush_queue(&mut state, sink);
                match delivered {
                    Some(len) => {
                        state.stats.rx_packets += 1;
                        state.stats.rx_bytes += len as u64;
                        Inbound::Packet { peer: peer.id, len }
                    }
                    None => Inbound::Control,
                }
            }
            Err(reason) => dropped(&mut state, reason),
        }
    }
}

/// An initiation (we answer) or a response (we confirm with a keepalive).
fn handle_handshake(
    peer: &Peer,
    from: SocketAddr,
    datagram: &[u8],
    tunnels: &Tunnels,
    sink: &mut impl DatagramSink,
) -> Inbound {
    let mut state = peer.lock();
    // Room for any handshake reply (response 92, keepalive 32, cookie 64).
    let mut reply = [0u8; HANDSHAKE_INIT_LEN];
    match state
        .tunn
        .decapsulate(Some(from.ip()), datagram, &mut reply)
    {
        TunnResult::WriteToNetwork(message) => {
            if message_type(datagram) == Some(MESSAGE_HANDSHAKE_INIT) {
                // Our response may still be lost or refused: the handshake
                // counts as complete once the initiator's first packet on
                // the new session arrives.
                state.response_sent();
            } else {
                state.handshake_completed(true);
            }
            state.roam(from);
            let sent = emit(sink, from, message);
            // Packets boringtun queued while the handshake ran can go now.
            state.queue_pending = true;
            tunnels.flush_queue(&mut state, sink);
            if sent {
                Inbound::Control
            } else {
                dropped(&mut state, TunnelDrop::BufferTooSmall)
            }
        }
        TunnResult::Done => Inbound::Control,
        TunnResult::Err(error) => dropped(&mut state, TunnelDrop::from_wireguard_handshake(&error)),
        TunnResult::WriteToTunnelV4(..) | TunnResult::WriteToTunnelV6(..) => {
            dropped(&mut state, TunnelDrop::Internal)
        }
    }
}

/// A cookie reply to one of our initiations: boringtun stores the cookie for
/// the next one. Not a reason to roam (it proves only that the sender saw
/// our initiation).
fn handle_cookie_reply(peer: &Peer, from: SocketAddr, datagram: &[u8]) -> Inbound {
    let mut state = peer.lock();
    let mut scratch = [0u8; HANDSHAKE_INIT_LEN];
    match state
        .tunn
        .decapsulate(Some(from.ip()), datagram, &mut scratch)
    {
        TunnResult::Done => Inbound::Control,
        TunnResult::Err(error) => dropped(&mut state, TunnelDrop::from_wireguard_handshake(&error)),
        _ => dropped(&mut state, TunnelDrop::Internal),
    }
}

/// Counts a drop on the peer and reports it.
fn dropped(state: &mut PeerState, reason: TunnelDrop) -> Inbound {
    state.stats.drops.add(reason);
    Inbound::Dropped(reason)
}
