//! Why the tunnel layer dropped a datagram or packet. Small and `Copy` so the
//! data path returns it by value; [`TunnelDrop::as_str`] is the metric label.
//!
//! Counting is the caller's business on the hot path: [`TunnelDropCounts`] is
//! a plain array a worker owns and adds to the shared metrics once per batch.
//! Drops that can be attributed to a peer are also counted in that peer's
//! [`PeerStats`](super::PeerStats) (under the peer lock already held).

use boringtun::noise::errors::WireGuardError;

/// A datagram (inbound) or inner packet (outbound) the tunnel layer refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum TunnelDrop {
    /// Not a WireGuard message: unknown type, or the wrong length for its type.
    Malformed,
    /// A handshake message whose mac1 does not verify (not meant for our key).
    BadMac,
    /// A handshake initiation while over the handshake rate limit: answered
    /// with a cookie reply instead of being processed.
    UnderLoad,
    /// A handshake message dropped unread: the queue in front of the
    /// handshake worker was full (more than it can answer even with cookie
    /// replies, i.e. a flood). Kernel WireGuard drops there too.
    HandshakeQueueFull,
    /// From a public key we have no peer for, or to a receiver index that is
    /// not ours (also: a peer removed while its packet was in flight).
    UnknownPeer,
    /// A handshake or cookie message that failed: wrong key or pre-shared
    /// key, unexpected response, forged cookie, malformed timestamp.
    HandshakeRejected,
    /// A replayed data counter, a counter too far behind the window, or a
    /// handshake initiation whose timestamp is not newer than the last one.
    Replay,
    /// The data packet's AEAD tag does not verify.
    DecryptFailed,
    /// Data for a session we do not have (expired, or never established).
    NoSession,
    /// The decrypted payload (or an outbound packet) is not a valid IP packet.
    InvalidInnerPacket,
    /// The decrypted packet is IPv6: the gateway is IPv4-only.
    Ipv6Inner,
    /// The decrypted packet's source is not routed to the peer that sent it
    /// (cryptokey routing: anti-spoofing).
    SpoofedSource,
    /// The datagram does not fit the caller's receive buffer.
    Oversized,
    /// An outbound inner packet larger than the configured maximum.
    PacketTooLarge,
    /// The caller's sink had no buffer large enough (or was full).
    BufferTooSmall,
    /// The peer has no endpoint yet (it has not contacted us and none is
    /// configured).
    NoEndpoint,
    /// An outbound packet whose destination no peer's allowed CIDRs cover.
    NoRoute,
    /// A decrypted TCP or UDP packet to our own gateway address that is not
    /// a reply to a flow the node opened. The address answers pings and MTU
    /// probes; with the pod on the host network, a new connection would reach
    /// the node's own services (kubelet, sshd, the metrics port) from other
    /// clusters.
    NotForGateway,
    /// Any other boringtun error (should not happen).
    Internal,
}

impl TunnelDrop {
    /// Number of reasons; the length of [`TunnelDrop::ALL`].
    pub const COUNT: usize = 19;

    /// Every reason, in label order; used to pre-register metric children.
    pub const ALL: [TunnelDrop; Self::COUNT] = [
        TunnelDrop::Malformed,
        TunnelDrop::BadMac,
        TunnelDrop::UnderLoad,
        TunnelDrop::HandshakeQueueFull,
        TunnelDrop::UnknownPeer,
        TunnelDrop::HandshakeRejected,
        TunnelDrop::Replay,
        TunnelDrop::DecryptFailed,
        TunnelDrop::NoSession,
        TunnelDrop::InvalidInnerPacket,
        TunnelDrop::Ipv6Inner,
        TunnelDrop::SpoofedSource,
        TunnelDrop::Oversized,
        TunnelDrop::PacketTooLarge,
        TunnelDrop::BufferTooSmall,
        TunnelDrop::NoEndpoint,
        TunnelDrop::NoRoute,
        TunnelDrop::NotForGateway,
        TunnelDrop::Internal,
    ];

    /// Stable snake_case label for logs and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            TunnelDrop::Malformed => "malformed",
            TunnelDrop::BadMac => "bad_mac",
            TunnelDrop::UnderLoad => "under_load",
            TunnelDrop::HandshakeQueueFull => "handshake_queue_full",
            TunnelDrop::UnknownPeer => "unknown_peer",
            TunnelDrop::HandshakeRejected => "handshake_rejected",
            TunnelDrop::Replay => "replay",
            TunnelDrop::DecryptFailed => "decrypt_failed",
            TunnelDrop::NoSession => "no_session",
            TunnelDrop::InvalidInnerPacket => "invalid_inner_packet",
            TunnelDrop::Ipv6Inner => "ipv6_inner",
            TunnelDrop::SpoofedSource => "spoofed_source",
            TunnelDrop::Oversized => "oversized",
            TunnelDrop::PacketTooLarge => "packet_too_large",
            TunnelDrop::BufferTooSmall => "buffer_too_small",
            TunnelDrop::NoEndpoint => "no_endpoint",
            TunnelDrop::NoRoute => "no_route",
            TunnelDrop::NotForGateway => "not_for_gateway",
            TunnelDrop::Internal => "internal",
        }
    }

    /// Maps a boringtun error to a reason. `InvalidPacket` means a malformed
    /// inner packet here: callers classify the outer datagram themselves
    /// (with `Tunn::parse_incoming_packet`) before boringtun sees it.
    pub(crate) fn from_wireguard(error: &WireGuardError) -> TunnelDrop {
        match error {
            WireGuardError::InvalidMac => TunnelDrop::BadMac,
            WireGuardError::UnderLoad => TunnelDrop::UnderLoad,
            WireGuardError::InvalidAeadTag => TunnelDrop::DecryptFailed,
            WireGuardError::InvalidCounter
            | WireGuardError::DuplicateCounter
            | WireGuardError::WrongTai64nTimestamp => TunnelDrop::Replay,
            WireGuardError::NoCurrentSession | WireGuardError::WrongIndex => TunnelDrop::NoSession,
            WireGuardError::InvalidPacket => TunnelDrop::InvalidInnerPacket,
            WireGuardError::IncorrectPacketLength | WireGuardError::WrongPacketType => {
                TunnelDrop::Malformed
            }
            WireGuardError::UnexpectedPacket
            | WireGuardError::WrongKey
            | WireGuardError::InvalidTai64nTimestamp => TunnelDrop::HandshakeRejected,
            WireGuardError::DestinationBufferTooSmall => TunnelDrop::BufferTooSmall,
            WireGuardError::LockFailed | WireGuardError::ConnectionExpired => TunnelDrop::Internal,
        }
    }
}

impl TunnelDrop {
    /// Like [`from_wireguard`](TunnelDrop::from_wireguard) for handshake and
    /// cookie messages, where a failed AEAD means a handshake that does not
    /// fit (wrong pre-shared key, forged cookie), not a corrupted data packet.
    pub(crate) fn from_wireguard_handshake(error: &WireGuardError) -> TunnelDrop {
        match error {
            WireGuardError::InvalidAeadTag => TunnelDrop::HandshakeRejected,
            other => TunnelDrop::from_wireguard(other),
        }
    }
}

impl std::fmt::Display for TunnelDrop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Drop counters by reason: a plain array, cheap to keep per worker or per
/// peer and to merge into shared metrics once per batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TunnelDropCounts {
    counts: [u64; TunnelDrop::COUNT],
}

impl TunnelDropCounts {
    /// Counts one drop.
    pub fn add(&mut self, reason: TunnelDrop) {
        self.add_n(reason, 1);
    }

    /// Counts `n` drops of the same reason.
    pub fn add_n(&mut self, reason: TunnelDrop, n: u64) {
        let slot = &mut self.counts[reason as usize];
        *slot = slot.saturating_add(n);
    }

    /// Drops counted for `reason`.
    pub fn get(&self, reason: TunnelDrop) -> u64 {
        self.counts[reason as usize]
    }

    /// All drops.
    pub fn total(&self) -> u64 {
        self.counts
            .iter()
            .fold(0u64, |sum, n| sum.saturating_add(*n))
    }

    /// Adds every counter of `other` to this one.
    pub fn merge(&mut self, other: &TunnelDropCounts) {
        for reason in TunnelDrop::ALL {
            self.add_n(reason, other.get(reason));
        }
    }

    /// Every reason with its count (zeros included), in label order.
    pub fn iter(&self) -> impl Iterator<Item = (TunnelDrop, u64)> + '_ {
        TunnelDrop::ALL.into_iter().map(|r| (r, self.get(r)))
    }

    /// Resets every counter to zero (after the caller published them).
    pub fn clear(&mut self) {
        self.counts = [0; TunnelDrop::COUNT];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_reason_once_in_discriminant_order() {
        for (i, reason) in TunnelDrop::ALL.iter().enumerate() {
            assert_eq!(*reason as usize, i, "{reason} out of order");
        }
        let mut labels: Vec<_> = TunnelDrop::ALL.iter().map(|r| r.as_str()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), TunnelDrop::COUNT);
    }

    #[test]
    fn counts_add_merge_and_clear() {
        let mut a = TunnelDropCounts::default();
        a.add(TunnelDrop::Replay);
        a.add_n(TunnelDrop::SpoofedSource, 3);
        let mut b = TunnelDropCounts::default();
        b.add(TunnelDrop::Replay);
        b.merge(&a);
        assert_eq!(b.get(TunnelDrop::Replay), 2);
        assert_eq!(b.get(TunnelDrop::SpoofedSource), 3);
        assert_eq!(b.total(), 5);
        assert_eq!(b.iter().filter(|(_, n)| *n > 0).count(), 2);
        b.clear();
        assert_eq!(b.total(), 0);
    }
}
