//! The WireGuard tunnel layer: boringtun `Tunn`s for every peer, wrapped so
//! that hostile input can only ever produce a counted drop.
//!
//! ```text
//!  TUN ─ natcore ─▶ peer_for_destination ─▶ encapsulate_batch ──▶ DatagramSink ─▶ UDP
//!                   (allowed CIDRs, LPM)    (peer lock once per batch)
//!
//!  UDP ─▶ handle_datagram ─ classify ─┬─ initiation ─ rate limiter ─ DH: which key? ─┐
//!                                     └─ response / cookie / data ─ receiver_idx >> 8 ┤
//!           ┌─────────────────────────────────────────────────────────────────────────┘
//!           └▶ peer lock ─ decapsulate ─┬─ handshake reply, queued data ─▶ DatagramSink
//!                                       └─ IPv4 whose source routes to this peer ─▶ `out`
//!                                                                         ─ natcore ─ TUN
//!  every ≤ 250 ms: update_timers ─▶ keepalives, handshake retries ─▶ DatagramSink
//! ```
//!
//! Contract with the I/O shell (sans-IO except for the clock, which boringtun
//! reads itself):
//! - No sockets, no TUN, no threads here. The shell owns every buffer:
//!   datagrams are written into a [`DatagramSink`], decrypted packets into the
//!   `out` buffer it passes to [`Tunnels::handle_datagram`].
//! - Call [`Tunnels::update_timers`] at least every 250 ms. It refreshes the
//!   cached clock boringtun stamps every packet with (without it rekeying and
//!   keepalives go wrong), sends keepalives and handshake retries, flushes
//!   packets queued during a handshake, and resets the handshake rate
//!   limiter's count (boringtun resets at most once per second).
//! - Every method takes `&self`: one lock per peer (held once per batch), the
//!   peer set behind an [`arc_swap::ArcSwap`], no global lock on the data path.
//! - No allocation per packet, except boringtun's own queue while a handshake
//!   is in progress (it copies each queued packet, at most 256).
//! - Never a panic on input: boringtun panics on short buffers, so every
//!   buffer is measured before boringtun sees it.
//!
//! Time in tests: with the `simulated-time` feature boringtun reads the
//! [`simulated_time`] clock instead of the system's.

mod allowed;
mod drop;
mod error;
mod inbound;
mod index;
mod outbound;
mod peer;
mod sink;
mod table;
mod timers;
mod wire;

#[cfg(feature = "simulated-time")]
pub mod simulated_time;

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use boringtun::noise::rate_limiter::RateLimiter;
use boringtun::x25519::{PublicKey, StaticSecret};

pub use drop::{TunnelDrop, TunnelDropCounts};
pub use error::TunnelError;
pub use inbound::Inbound;
pub use index::PeerId;
pub use peer::{PeerError, PeerInfo, PeerSpec, PeerStats, PeerStatus, HANDSHAKE_STALE_AFTER};
pub use sink::{DatagramBatch, DatagramSink};
pub use table::PeerSetChange;

use table::{Keys, PeerTable};
use wire::WG_DATA_OVERHEAD;
pub use wire::{is_handshake_message, HANDSHAKE_INIT_LEN};

/// Size limits and rates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunnelLimits {
    /// Largest inner packet we encapsulate: the tunnel MTU. Larger packets are
    /// dropped ([`TunnelDrop::PacketTooLarge`]).
    pub max_packet_len: usize,
    /// Handshake initiations per second we process before answering with
    /// cookie replies (WireGuard's DoS defence).
    pub handshakes_per_second: u64,
}

impl Default for TunnelLimits {
    fn default() -> TunnelLimits {
        TunnelLimits {
            // 1500-byte underlay − (IPv6 40 + UDP 8 + WireGuard 32): the
            // config's default tunnel MTU.
            max_packet_len: 1500 - 80,
            // boringtun's device uses the same.
            handshakes_per_second: 100,
        }
    }
}

/// The gateway's WireGuard endpoint: every peer's tunnel, the receiver-index
/// and public-key tables, the allowed-CIDR routes and the handshake rate
/// limiter. Share it across workers (`Arc<Tunnels>`); every method is `&self`.
pub struct Tunnels {
    private_key: StaticSecret,
    public_key: PublicKey,
    limits: TunnelLimits,
    /// Rate-limits initiations before we spend a DH finding their peer.
    handshake_limiter: RateLimiter,
    /// Given to every `Tunn`: its `decapsulate` checks mac1 again through it
    /// but, with an unreachable limit, never answers "under load". One real
    /// limiter shared with the `Tunn`s would count each initiation twice, and
    /// boringtun's `handle_verified_packet` that would avoid it is private.
    tunn_limiter: Arc<RateLimiter>,
    table: ArcSwap<PeerTable>,
    /// Serialises peer set changes (readers never take it).
    writer: Mutex<()>,
}

impl std::fmt::Debug for Tunnels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tunnels")
            .field("public_key", &self.public_key)
            .field("limits", &self.limits)
            .field("peers", &self.table.load().entries.len())
            .finish_non_exhaustive()
    }
}

impl Tunnels {
    /// Our endpoint with `private_key` (32 raw bytes) and `peers`.
    pub fn new(
        private_key: [u8; 32],
        limits: TunnelLimits,
        peers: Vec<PeerSpec>,
    ) -> Result<Tunnels, TunnelError> {
        let private_key = StaticSecret::from(private_key);
        let public_key = PublicKey::from(&private_key);
        let tunns = Tunnels {
            handshake_limiter: RateLimiter::new(&public_key, limits.handshakes_per_second),
            tunn_limiter: Arc::new(RateLimiter::new(&public_key, u64::MAX)),
            private_key,
            public_key,
            limits,
            table: ArcSwap::from_pointee(PeerTable::default()),
            writer: Mutex::new(()),
        };
        tunns.set_peers(peers)?;
        Ok(tunns)
    }

    /// Our static public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.public_key.to_bytes()
    }

    /// The limits this endpoint was built with.
    pub fn limits(&self) -> TunnelLimits {
        self.limits
    }

    /// The buffer size a [`DatagramSink`] must offer for any datagram we
    /// write: the largest inner packet + 32 (WireGuard header 16 + tag 16),
    /// and at least a handshake initiation (148).
    pub fn datagram_capacity(&self) -> usize {
        (self.limits.max_packet_len + WG_DATA_OVERHEAD).max(HANDSHAKE_INIT_LEN)
    }

    /// The peer to send a packet for `dst` to: the longest allowed-CIDR match.
    pub fn peer_for_destination(&self, dst: Ipv4Addr) -> Option<PeerId> {
        self.table.load().routes.lookup(dst)
    }

    /// The peer configured under `name`.
    pub fn peer_id(&self, name: &str) -> Option<PeerId> {
        let table = self.table.load();
        let entry = table.entries.iter().find(|e| e.spec.name == name)?;
        Some(entry.peer.id)
    }

    /// Status and counters of one peer.
    pub fn peer_info(&self, id: PeerId) -> Option<PeerInfo> {
        let table = self.table.load();
        table.entry(id).map(info)
    }

    /// Status and counters of every peer, in configuration order.
    pub fn peers(&self) -> Vec<PeerInfo> {
        self.table.load().entries.iter().map(info).collect()
    }

    /// Replaces the peer set (live reload). Peers whose public key stays keep
    /// their id, sessions, endpoint and counters; the others are unaffected.
    /// On error nothing changes.
    pub fn set_peers(&self, peers: Vec<PeerSpec>) -> Result<PeerSetChange, TunnelError> {
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let previous = self.table.load_full();
        let (table, change) = PeerTable::build(peers, &previous, &self.keys())?;
        self.table.store(Arc::new(table));
        Ok(change)
    }

    /// Adds one peer.
    pub fn add_peer(&self, peer: PeerSpec) -> Result<PeerId, TunnelError> {
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let previous = self.table.load_full();
        if previous.entries.iter().any(|e| e.spec.name == peer.name) {
            return Err(TunnelError::PeerExists { name: peer.name });
        }
        let (name, key) = (peer.name.clone(), peer.public_key);
        let mut specs: Vec<PeerSpec> = previous.entries.iter().map(|e| e.spec.clone()).collect();
        specs.push(peer);
        let (table, _) = PeerTable::build(specs, &previous, &self.keys())?;
        // Present: build put every spec's key in the table.
        let id = table.by_key.get(&key).map(|p| p.id);
        self.table.store(Arc::new(table));
        id.ok_or(TunnelError::PeerExists { name })
    }

    /// Removes one peer; its in-flight packets are dropped as unknown.
    pub fn remove_peer(&self, id: PeerId) -> Result<(), TunnelError> {
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let previous = self.table.load_full();
        if !previous.by_id.contains_key(&id) {
            return Err(TunnelError::UnknownPeer { id });
        }
        let specs = previous
            .entries
            .iter()
            .filter(|e| e.peer.id != id)
            .map(|e| e.spec.clone())
            .collect();
        let (table, _) = PeerTable::build(specs, &previous, &self.keys())?;
        self.table.store(Arc::new(table));
        Ok(())
    }

    fn keys(&self) -> Keys<'_> {
        Keys {
            private_key: &self.private_key,
            public_key: self.public_key.as_bytes(),
            tunn_limiter: &self.tunn_limiter,
        }
    }
}

fn info(entry: &table::Entry) -> PeerInfo {
    let state = entry.peer.lock();
    PeerInfo {
        id: entry.peer.id,
        name: entry.spec.name.clone(),
        public_key: entry.spec.public_key,
        allowed_cidrs: entry.spec.allowed_cidrs.clone(),
        endpoint: state.endpoint,
        configured_endpoint: entry.spec.endpoint,
        persistent_keepalive: entry.spec.persistent_keepalive,
        last_handshake: state.tunn.time_since_last_handshake(),
        status: state.status(),
        stats: state.stats,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tunnels_can_be_shared_across_workers() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Tunnels>();
    }
}
