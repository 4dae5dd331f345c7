//! One peer: its configuration, its boringtun `Tunn` behind the peer's own
//! lock, its counters, and the status derived from its handshake history.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use boringtun::noise::rate_limiter::RateLimiter;
use boringtun::noise::Tunn;
use boringtun::x25519::{PublicKey, StaticSecret};
use ipnet::Ipv4Net;

use super::wire::{message_type, MESSAGE_DATA, WG_DATA_OVERHEAD};
use super::{PeerId, TunnelDropCounts};

/// A peer as configured (`peers[]` in the gateway config, keys decoded).
#[derive(Clone, PartialEq, Eq)]
pub struct PeerSpec {
    /// Unique name; the remote cluster id.
    pub name: String,
    /// The peer's static X25519 public key.
    pub public_key: [u8; 32],
    /// Where to send until the peer roams; `None` if the peer only connects
    /// to us (we learn its address from its first authenticated packet).
    pub endpoint: Option<SocketAddr>,
    /// The peer's global block or routed CIDRs: destinations we send to it,
    /// and the only inner sources we accept from it.
    pub allowed_cidrs: Vec<Ipv4Net>,
    /// Seconds between keepalives when idle (Submariner uses 10).
    pub persistent_keepalive: Option<u16>,
    /// Optional pre-shared symmetric key mixed into the handshake.
    pub preshared_key: Option<[u8; 32]>,
}

impl std::fmt::Debug for PeerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerSpec")
            .field("name", &self.name)
            .field("public_key", &hex_prefix(&self.public_key))
            .field("endpoint", &self.endpoint)
            .field("allowed_cidrs", &self.allowed_cidrs)
            .field("persistent_keepalive", &self.persistent_keepalive)
            .field("preshared_key", &self.preshared_key.map(|_| "<redacted>"))
            .finish()
    }
}

/// The first bytes of a key, enough to tell keys apart in logs.
fn hex_prefix(key: &[u8; 32]) -> String {
    key[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
        + "…"
}

/// A session's handshake is stale after this long. While traffic flows,
/// WireGuard rekeys at REKEY_AFTER_TIME (120 s); older keys mean rekeying
/// failed. Submariner's WireGuard driver marks a connection in error after the
/// same 2 min 10 s without a handshake. (Sessions die at REJECT_AFTER_TIME,
/// 180 s.)
pub const HANDSHAKE_STALE_AFTER: Duration = Duration::from_secs(120 + 10);
/// boringtun retransmits an unanswered initiation every REKEY_TIMEOUT.
const REKEY_TIMEOUT: Duration = Duration::from_secs(5);
/// Unanswered initiations before a peer that never connected is in error:
/// 130 s / 5 s = 26, the same 2 min 10 s.
const UNANSWERED_BEFORE_ERROR: u32 =
    (HANDSHAKE_STALE_AFTER.as_secs() / REKEY_TIMEOUT.as_secs()) as u32;
/// A peer that had a session and lost it is in error sooner: the initiation
/// and two retransmissions (10 s) unanswered.
const UNANSWERED_AFTER_LOSS_BEFORE_ERROR: u32 = 3;

/// Health of one peer's tunnel, for gwctl and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerStatus {
    /// A session whose handshake is younger than [`HANDSHAKE_STALE_AFTER`].
    Connected,
    /// No session yet, or a new one is being negotiated.
    Connecting,
    /// The tunnel is down; see the reason.
    Error(PeerError),
}

/// Why a peer is in [`PeerStatus::Error`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerError {
    /// The session's handshake is older than [`HANDSHAKE_STALE_AFTER`]:
    /// rekeying is failing.
    HandshakeStale,
    /// Our handshake initiations go unanswered (for 2 min 10 s, 10 s if we
    /// had a session before, or for a whole 90 s attempt that boringtun gave
    /// up on).
    NoHandshakeResponse,
}

impl PeerError {
    /// What `gwctl peers` shows after "error: ", with where to look first.
    pub fn reason(self) -> &'static str {
        match self {
            PeerError::HandshakeStale => {
                "no handshake for over 2m10s: rekeying fails (is the peer up, and does UDP reach it both ways?)"
            }
            PeerError::NoHandshakeResponse => {
                "handshake initiations unanswered (wrong endpoint, UDP blocked on the way, or the peer lacks our public key)"
            }
        }
    }
}

impl PeerStatus {
    /// Stable label: `connected`, `connecting`, `error`.
    pub const fn as_str(self) -> &'static str {
        match self {
            PeerStatus::Connected => "connected",
            PeerStatus::Connecting => "connecting",
            PeerStatus::Error(_) => "error",
        }
    }
}

impl PeerError {
    /// Stable snake_case label.
    pub const fn as_str(self) -> &'static str {
        match self {
            PeerError::HandshakeStale => "handshake_stale",
            PeerError::NoHandshakeResponse => "no_handshake_response",
        }
    }
}

impl std::fmt::Display for PeerStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerStatus::Error(reason) => write!(f, "error: {reason}"),
            other => f.write_str(other.as_str()),
        }
    }
}

impl std::fmt::Display for PeerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PeerError::HandshakeStale => "no handshake for over 2m10s",
            PeerError::NoHandshakeResponse => "handshake initiations unanswered",
        })
    }
}

/// Per-peer counters, kept under the peer lock (no shared atomics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerStats {
    /// Inner packets delivered to the caller (passed the source check).
    pub rx_packets: u64,
    /// Their bytes (inner IP packets, without WireGuard overhead).
    pub rx_bytes: u64,
    /// Inner packets encrypted and handed to the sink (keepalives excluded).
    pub tx_packets: u64,
    /// Their bytes (inner IP packets, without WireGuard overhead).
    pub tx_bytes: u64,
    /// Packets handed to boringtun's queue while no session existed (they go
    /// out, and count in `tx_*`, once the handshake completes; boringtun drops
    /// silently beyond 256 queued).
    pub queued_packets: u64,
    /// Handshakes completed: as initiator when the response arrives, as
    /// responder when the initiator's first packet on the new session does.
    pub handshakes_completed: u64,
    /// Initiations retransmitted because the previous one went unanswered for
    /// REKEY_TIMEOUT (5 s).
    pub handshake_timeouts: u64,
    /// Handshake attempts boringtun gave up on (REKEY_ATTEMPT_TIME, 90 s,
    /// without an answer).
    pub handshake_failures: u64,
    /// Times the endpoint changed (roaming, or learning it the first time).
    pub endpoint_changes: u64,
    /// Handshake retries sent to the configured endpoint because the learned
    /// one in use stopped answering.
    pub configured_endpoint_retries: u64,
    /// Drops attributed to this peer.
    pub drops: TunnelDropCounts,
}

/// A peer as shown by gwctl and metrics: configuration plus live state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    /// Stable while the peer's public key stays configured.
    pub id: PeerId,
    /// Configured name.
    pub name: String,
    /// The peer's static public key.
    pub public_key: [u8; 32],
    /// Configured allowed CIDRs.
    pub allowed_cidrs: Vec<Ipv4Net>,
    /// The endpoint in use (configured, or learned from the peer's packets).
    pub endpoint: Option<SocketAddr>,
    /// The endpoint the config names (the fallback while a learned one goes
    /// unanswered).
    pub configured_endpoint: Option<SocketAddr>,
    /// Configured keepalive interval, seconds.
    pub persistent_keepalive: Option<u16>,
    /// Age of the current session's handshake (boringtun's
    /// `time_since_last_handshake`); `None` without a session.
    pub last_handshake: Option<Duration>,
    /// Derived health.
    pub status: PeerStatus,
    /// Counters.
    pub stats: PeerStats,
}

/// A configured peer. Lives as long as its public key stays configured: peer
/// set changes reuse it (and its sessions) when the key is kept.
pub(crate) struct Peer {
    pub(crate) id: PeerId,
    state: Mutex<PeerState>,
}

impl Peer {
    pub(crate) fn new(id: PeerId, state: PeerState) -> Peer {
        Peer {
            id,
            state: Mutex::new(state),
        }
    }

    /// The peer lock: every boringtun call for this peer runs under it.
    pub(crate) fn lock(&self) -> MutexGuard<'_, PeerState> {
        // A panic under the lock cannot come from input (we never let
        // boringtun see a short buffer); keep serving rather than poison
        // every later packet of this peer.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Everything behind the peer lock.
pub(crate) struct PeerState {
    pub(crate) tunn: Tunn,
    pub(crate) endpoint: Option<SocketAddr>,
    /// The endpoint the config names; retried when the learned one stops
    /// answering (see [`PeerState::initiation_sent`]).
    configured_endpoint: Option<SocketAddr>,
    pub(crate) stats: PeerStats,
    /// Whether boringtun's `persistent_keepalive` is on: such a peer restarts
    /// its handshake attempts after boringtun gives up.
    pub(crate) keepalive: bool,
    /// Initiations sent since the last completed handshake.
    unanswered_initiations: u32,
    /// A handshake completed at least once.
    ever_connected: bool,
    /// boringtun reported ConnectionExpired and nothing restarted it yet.
    expired: bool,
    /// boringtun may hold queued packets that a flush should send.
    pub(crate) queue_pending: bool,
    /// We sent a handshake response and wait for the initiator's first packet.
    awaiting_confirmation: bool,
    /// The last handshake completed was one we initiated: keeping its keys
    /// fresh is our job (WireGuard leaves rekeying to the initiator).
    pub(crate) initiated_last_handshake: bool,
}

/// boringtun's `Tunn` for one peer. Every `Tunn` shares `limiter`, which
/// checks mac1 but is never "under load" (see `Tunnels::new`).
pub(crate) fn new_tunn(
    private_key: &StaticSecret,
    spec: &PeerSpec,
    id: PeerId,
    limiter: &Arc<RateLimiter>,
) -> Tunn {
    Tunn::new(
        private_key.clone(),
        PublicKey::from(spec.public_key),
        spec.preshared_key,
        spec.persistent_keepalive,
        id.0,
        Some(Arc::clone(limiter)),
    )
}

impl PeerState {
    pub(crate) fn new(tunn: Tunn, spec: &PeerSpec) -> PeerState {
        PeerState {
            tunn,
            endpoint: spec.endpoint,
            configured_endpoint: spec.endpoint,
            stats: PeerStats::default(),
            keepalive: spec.persistent_keepalive.is_some(),
            unanswered_initiations: 0,
            ever_connected: false,
            expired: false,
            queue_pending: false,
            awaiting_confirmation: false,
            initiated_last_handshake: false,
        }
    }

    /// A new `Tunn` (keepalive or pre-shared key changed): sessions restart,
    /// counters and endpoint stay.
    pub(crate) fn replace_tunn(&mut self, tunn: Tunn, spec: &PeerSpec) {
        self.tunn = tunn;
        self.keepalive = spec.persistent_keepalive.is_some();
        self.unanswered_initiations = 0;
        self.expired = false;
        self.queue_pending = false;
        self.awaiting_confirmation = false;
        self.initiated_last_handshake = false;
    }

    /// A reload changed the configured endpoint: use it from now on.
    pub(crate) fn reconfigure_endpoint(&mut self, configured: Option<SocketAddr>) {
        self.configured_endpoint = configured;
        if let Some(endpoint) = configured {
            self.roam(endpoint);
        }
    }

    /// WireGuard roaming: after an authenticated packet, reply where it came from.
    pub(crate) fn roam(&mut self, from: SocketAddr) {
        if self.endpoint != Some(from) {
            self.endpoint = Some(from);
            self.stats.endpoint_changes += 1;
        }
    }

    /// We answered an initiation; the handshake completes with the
    /// initiator's first packet ([`PeerState::session_confirmed`]).
    pub(crate) fn response_sent(&mut self) {
        self.awaiting_confirmation = true;
    }

    /// An authenticated data packet (or keepalive) arrived.
    pub(crate) fn session_confirmed(&mut self) {
        if self.awaiting_confirmation {
            self.handshake_completed(false);
        }
    }

    /// A handshake completed: as initiator when its response arrived, as
    /// responder when the initiator's first packet did.
    pub(crate) fn handshake_completed(&mut self, as_initiator: bool) {
        self.initiated_last_handshake = as_initiator;
        self.awaiting_confirmation = false;
        self.stats.handshakes_completed += 1;
        self.unanswered_initiations = 0;
        self.ever_connected = true;
        self.expired = false;
    }

    /// We are sending a handshake initiation (`from_timer`: the timer's
    /// retransmission or restart); returns where to send it.
    ///
    /// Usually the endpoint in use. But a learned endpoint can die for good:
    /// a NAT mapping or relay that is gone, or both ends roamed to such
    /// addresses at once. Standard WireGuard then never sends anywhere else,
    /// and the tunnel stays down until someone resets the endpoint by hand.
    /// So while initiations go unanswered, every other one goes to the
    /// configured endpoint, the address the operator (or Submariner's
    /// Endpoint) gave: the 1st, 3rd, 5th … initiation keeps the learned one,
    /// which may be right (the peer behind a NAT); the 2nd, 4th … (the first
    /// retry, 5 s later, and every second retry after it) tries the
    /// configured one. The peer answers from wherever it really is, and the
    /// answer, authenticated, moves the endpoint there (`roam`).
    pub(crate) fn initiation_sent(&mut self, from_timer: bool) -> Option<SocketAddr> {
        if from_timer && self.unanswered_initiations > 0 {
            self.stats.handshake_timeouts += 1;
        }
        let destination = match self.configured_endpoint {
            Some(configured)
                if self.endpoint != Some(configured) && self.unanswered_initiations % 2 == 1 =>
            {
                self.stats.configured_endpoint_retries += 1;
                Some(configured)
            }
            _ => self.endpoint,
        };
        self.unanswered_initiations = self.unanswered_initiations.saturating_add(1);
        self.expired = false;
        destination
    }

    /// boringtun reported ConnectionExpired. True the first time (per expiry).
    pub(crate) fn connection_expired(&mut self) -> bool {
        if self.expired {
            return false;
        }
        self.expired = true;
        // boringtun cleared its queue with the sessions.
        self.queue_pending = false;
        if self.unanswered_initiations > 0 {
            self.stats.handshake_failures += 1;
        }
        true
    }

    /// Accounts for a datagram we send: data carries an inner packet unless it
    /// is a keepalive (an empty payload).
    pub(crate) fn count_sent(&mut self, datagram: &[u8]) {
        if message_type(datagram) == Some(MESSAGE_DATA) && datagram.len() > WG_DATA_OVERHEAD {
            self.stats.tx_packets += 1;
            self.stats.tx_bytes += (datagram.len() - WG_DATA_OVERHEAD) as u64;
        }
    }

    pub(crate) fn status(&self) -> PeerStatus {
        derive_status(
            self.tunn.time_since_last_handshake(),
            self.unanswered_initiations,
            self.ever_connected,
            self.expired,
        )
    }
}

/// The status rule, kept pure for tests.
fn derive_status(
    last_handshake: Option<Duration>,
    unanswered_initiations: u32,
    ever_connected: bool,
    expired: bool,
) -> PeerStatus {
    match last_handshake {
        Some(age) if age < HANDSHAKE_STALE_AFTER => PeerStatus::Connected,
        Some(_) => PeerStatus::Error(PeerError::HandshakeStale),
        None if unanswered_initiations >= UNANSWERED_BEFORE_ERROR
            || (expired && unanswered_initiations > 0)
            || (ever_connected && unanswered_initiations >= UNANSWERED_AFTER_LOSS_BEFORE_ERROR) =>
        {
            PeerStatus::Error(PeerError::NoHandshakeResponse)
        }
        None => PeerStatus::Connecting,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn fresh_handshake_is_connected_until_stale() {
        assert_eq!(
            derive_status(Some(secs(0)), 0, true, false),
            PeerStatus::Connected
        );
        assert_eq!(
            derive_status(Some(secs(129)), 4, true, false),
            PeerStatus::Connected
        );
        assert_eq!(
            derive_status(Some(secs(130)), 0, true, false),
            PeerStatus::Error(PeerError::HandshakeStale)
        );
    }

    #[test]
    fn never_connected_peer_is_connecting_for_2m10s_of_retries() {
        assert_eq!(derive_status(None, 0, false, false), PeerStatus::Connecting);
        assert_eq!(
            derive_status(None, 25, false, false),
            PeerStatus::Connecting
        );
        assert_eq!(
            derive_status(None, 26, false, false),
            PeerStatus::Error(PeerError::NoHandshakeResponse)
        );
        // boringtun gave up after 90 s of retries.
        assert_eq!(
            derive_status(None, 19, false, true),
            PeerStatus::Error(PeerError::NoHandshakeResponse)
        );
        // Expired while idle (nothing sent): not an error.
        assert_eq!(derive_status(None, 0, true, true), PeerStatus::Connecting);
    }

    #[test]
    fn lost_session_is_an_error_after_two_unanswered_retries() {
        assert_eq!(derive_status(None, 2, true, false), PeerStatus::Connecting);
        assert_eq!(
            derive_status(None, 3, true, false),
            PeerStatus::Error(PeerError::NoHandshakeResponse)
        );
    }

    #[test]
    fn spec_debug_redacts_the_preshared_key() {
        let spec = PeerSpec {
            name: "b".into(),
            public_key: [7; 32],
            endpoint: None,
            allowed_cidrs: vec![],
            persistent_keepalive: None,
            preshared_key: Some([0xab; 32]),
        };
        let shown = format!("{spec:?}");
        assert!(shown.contains("<redacted>"));
        assert!(!shown.contains("171"), "{shown}"); // 0xab as a decimal byte
        assert!(!shown.contains("abab"), "{shown}");
    }
}
