//! The peer set: immutable tables (by id, by public key, allowed-CIDR routes)
//! that `Tunnels` swaps atomically on changes. Peers whose public key stays
//! are carried over with their `Tunn`, sessions, endpoint and counters, so
//! changing one peer does not disturb the others.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use boringtun::noise::rate_limiter::RateLimiter;
use boringtun::x25519::StaticSecret;

use super::allowed::AllowedIps;
use super::index;
use super::peer::{new_tunn, Peer, PeerSpec, PeerState};
use super::{PeerId, TunnelError};

/// One configured peer in a table generation.
pub(crate) struct Entry {
    pub(crate) spec: PeerSpec,
    pub(crate) peer: Arc<Peer>,
}

/// One generation of the peer set. Never mutated once published.
#[derive(Default)]
pub(crate) struct PeerTable {
    pub(crate) by_id: HashMap<PeerId, Arc<Peer>>,
    pub(crate) by_key: HashMap<[u8; 32], Arc<Peer>>,
    pub(crate) routes: AllowedIps,
    /// In configuration order (for status listings and timer sweeps).
    pub(crate) entries: Vec<Entry>,
}

/// What a peer set change did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerSetChange {
    /// New public keys.
    pub added: Vec<PeerId>,
    /// Public keys no longer configured.
    pub removed: Vec<PeerId>,
    /// Public keys kept: same id, sessions kept (unless the pre-shared key or
    /// keepalive changed, which restarts the handshake).
    pub kept: Vec<PeerId>,
}

/// What building a peer `Tunn` needs from the gateway.
pub(crate) struct Keys<'a> {
    pub(crate) private_key: &'a StaticSecret,
    pub(crate) public_key: &'a [u8; 32],
    pub(crate) tunn_limiter: &'a Arc<RateLimiter>,
}

impl PeerTable {
    pub(crate) fn entry(&self, id: PeerId) -> Option<&Entry> {
        self.entries.iter().find(|e| e.peer.id == id)
    }

    /// Builds the table for `specs`, reusing `previous`'s peers by public key.
    /// Nothing live changes if this fails; on success the caller must publish
    /// the table (kept peers are already updated in place).
    pub(crate) fn build(
        specs: Vec<PeerSpec>,
        previous: &PeerTable,
        keys: &Keys<'_>,
    ) -> Result<(PeerTable, PeerSetChange), TunnelError> {
        validate(&specs, keys.public_key)?;

        // Ids first (kept or fresh), so routes can be checked before anything
        // live is touched.
        let mut ids = Vec::with_capacity(specs.len());
        let mut taken: HashSet<PeerId> = previous.by_id.keys().copied().collect();
        for spec in &specs {
            let id = match previous.by_key.get(&spec.public_key) {
                Some(peer) => peer.id,
                None => {
                    let id = index::allocate(&taken);
                    taken.insert(id);
                    id
                }
            };
            ids.push(id);
        }

        let mut routes = AllowedIps::default();
        for (spec, id) in specs.iter().zip(&ids) {
            for cidr in &spec.allowed_cidrs {
                if let Err(owner) = routes.insert(*cidr, *id) {
                    let first = specs
                        .iter()
                        .zip(&ids)
                        .find(|(_, i)| **i == owner)
                        .map(|(s, _)| s.name.clone())
                        .unwrap_or_default();
                    return Err(TunnelError::DuplicateAllowedCidr {
                        cidr: cidr.trunc(),
                        first,
                        second: spec.name.clone(),
                    });
                }
            }
        }

        let mut table = PeerTable {
            routes,
            ..PeerTable::default()
        };
        let mut change = PeerSetChange::default();
        for (spec, id) in specs.into_iter().zip(ids) {
            let peer = match previous.by_key.get(&spec.public_key) {
                Some(peer) => {
                    if let Some(old) = previous.entry(id) {
                        update_kept(peer, &old.spec, &spec, keys);
                    }
                    change.kept.push(id);
                    Arc::clone(peer)
                }
                None => {
                    let tunn = new_tunn(keys.private_key, &spec, id, keys.tunn_limiter);
                    change.added.push(id);
                    Arc::new(Peer::new(id, PeerState::new(tunn, &spec)))
                }
            };
            table.by_id.insert(id, Arc::clone(&peer));
            table.by_key.insert(spec.public_key, Arc::clone(&peer));
            table.entries.push(Entry { spec, peer });
        }
        change.removed = previous
            .entries
            .iter()
            .map(|e| e.peer.id)
            .filter(|id| !table.by_id.contains_key(id))
            .collect();
        Ok((table, change))
    }
}

/// Names unique, public keys unique and not ours.
fn validate(specs: &[PeerSpec], own_public_key: &[u8; 32]) -> Result<(), TunnelError> {
    let mut names = HashSet::new();
    let mut keys: HashMap<[u8; 32], &str> = HashMap::new();
    for spec in specs {
        if !names.insert(spec.name.as_str()) {
            return Err(TunnelError::DuplicateName {
                name: spec.name.clone(),
            });
        }
        if &spec.public_key == own_public_key {
            return Err(TunnelError::OwnPublicKey {
                name: spec.name.clone(),
            });
        }
        if let Some(first) = keys.insert(spec.public_key, &spec.name) {
            return Err(TunnelError::DuplicatePublicKey {
                first: first.to_owned(),
                second: spec.name.clone(),
            });
        }
    }
    Ok(())
}

/// Applies a kept peer's new configuration. A new pre-shared key or keepalive
/// needs a new `Tunn` (boringtun has no setter for them); a new configured
/// endpoint replaces the one in use.
fn update_kept(peer: &Peer, old: &PeerSpec, new: &PeerSpec, keys: &Keys<'_>) {
    let mut state = peer.lock();
    if old.preshared_key != new.preshared_key
        || old.persistent_keepalive != new.persistent_keepalive
    {
        let tunn = new_tunn(keys.private_key, new, peer.id, keys.tunn_limiter);
        state.replace_tunn(tunn, new);
    }
    if old.endpoint != new.endpoint {
        state.reconfigure_endpoint(new.endpoint);
    }
}
