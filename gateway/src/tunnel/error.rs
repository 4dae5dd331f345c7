//! Errors from building or changing the peer set (never from the data path,
//! which reports [`TunnelDrop`](super::TunnelDrop)s instead).

use ipnet::Ipv4Net;

use super::PeerId;

/// A peer set the tunnel layer refuses.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TunnelError {
    /// Two peers with one name.
    #[error("peer name {name:?} is used twice")]
    DuplicateName {
        /// The repeated name.
        name: String,
    },
    /// Two peers with one public key.
    #[error("peers {first:?} and {second:?} have the same public key")]
    DuplicatePublicKey {
        /// The earlier peer.
        first: String,
        /// The later peer.
        second: String,
    },
    /// A peer with our own public key.
    #[error("peer {name:?} has this gateway's own public key")]
    OwnPublicKey {
        /// The peer.
        name: String,
    },
    /// The same allowed CIDR routed to two peers (longest-prefix match could
    /// not decide between them).
    #[error("allowed CIDR {cidr} is claimed by peers {first:?} and {second:?}")]
    DuplicateAllowedCidr {
        /// The CIDR.
        cidr: Ipv4Net,
        /// The peer that had it first.
        first: String,
        /// The peer that claimed it again.
        second: String,
    },
    /// A peer name to add that is already configured.
    #[error("peer {name:?} already exists")]
    PeerExists {
        /// The name.
        name: String,
    },
    /// No such peer.
    #[error("no peer with id {id}")]
    UnknownPeer {
        /// The id asked for.
        id: PeerId,
    },
}
