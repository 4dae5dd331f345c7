//! `peers:` — remote gateways: key, endpoint, and the CIDRs reached through them.

use super::globalnet::global_block;
use super::values::{cidr_list, dns_label, int_in_range, non_empty_path};
use super::Block;
use crate::config::error::Errors;
use crate::config::model::{PeerAddressing, PeerConfig, PeerEndpoint};
use crate::config::raw::RawPeer;
use crate::keys::PublicKey;
use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};

/// Returns the fully valid peers, and the blocks of every peer (even one with
/// errors elsewhere) for the overlap checks.
pub(super) fn validate(
    errors: &mut Errors,
    raw: &[RawPeer],
    cluster_id: &str,
) -> (Vec<PeerConfig>, Vec<Block>) {
    let mut first_name_use: HashMap<&str, String> = HashMap::new();
    let mut first_key_use: HashMap<PublicKey, String> = HashMap::new();
    let mut peers = Vec::new();
    let mut blocks = Vec::new();
    for (index, peer) in raw.iter().enumerate() {
        let path = format!("peers[{index}]");
        let errors_before = errors.len();

        let name_path = format!("{path}.name");
        dns_label(errors, &name_path, &peer.name);
        if peer.name == cluster_id {
            errors.add(
                &name_path,
                format!("{:?} is this cluster's own cluster_id", peer.name),
            );
        } else if let Some(first) = first_name_use.get(peer.name.as_str()) {
            errors.add(
                &name_path,
                format!("{:?} is already used by {first}", peer.name),
            );
        } else {
            first_name_use.insert(&peer.name, path.clone());
        }

        let key_path = format!("{path}.public_key");
        let public_key = match PublicKey::from_base64(&peer.public_key) {
            Ok(key) => {
                if let Some(first) = first_key_use.get(&key) {
                    errors.add(&key_path, format!("same public key as {first}"));
                } else {
                    first_key_use.insert(key, format!("{path} ({})", peer.name));
                }
                Some(key)
            }
            Err(_) if is_placeholder(&peer.public_key) => {
                errors.add(
                    &key_path,
                    format!(
                        "{:?} is a placeholder that was not replaced by the peer's public key \
                         (`gwctl pubkey < its private key`)",
                        peer.public_key
                    ),
                );
                None
            }
            Err(error) => {
                errors.add(&key_path, format!("not a WireGuard public key: {error}"));
                None
            }
        };

        // Outer `None`: invalid; inner `None`: no endpoint configured.
        let endpoint = match peer.endpoint.as_deref() {
            None => Some(None),
            Some(text) => endpoint(errors, &format!("{path}.endpoint"), &peer.name, text).map(Some),
        };

        let addressing = addressing(errors, &path, index, peer, &mut blocks);

        let persistent_keepalive = match peer.persistent_keepalive {
            None => Some(None),
            Some(seconds) => int_in_range::<u16>(
                errors,
                &format!("{path}.persistent_keepalive"),
                seconds,
                0,
                i64::from(u16::MAX),
            )
            // 0 means off, as in `wg set … persistent-keepalive 0`.
            .map(|seconds| (seconds != 0).then_some(seconds)),
        };

        let preshared_key_file = peer
            .preshared_key_file
            .as_deref()
            .map(|text| non_empty_path(errors, &format!("{path}.preshared_key_file"), text));

        if let (
            Some(public_key),
            Some(endpoint),
            Some(addressing),
            Some(persistent_keepalive),
            true,
        ) = (
            public_key,
            endpoint,
            addressing,
            persistent_keepalive,
            errors.len() == errors_before,
        ) {
            peers.push(PeerConfig {
                name: peer.name.clone(),
                public_key,
                endpoint,
                addressing,
                persistent_keepalive,
                preshared_key_file,
            });
        }
    }
    (peers, blocks)
}

/// Templates such as deploy/lab/*.yaml mark keys to fill in as `@NAME@`.
fn is_placeholder(text: &str) -> bool {
    text.len() > 2 && text.starts_with('@') && text.ends_with('@')
}

fn addressing(
    errors: &mut Errors,
    path: &str,
    index: usize,
    peer: &RawPeer,
    blocks: &mut Vec<Block>,
) -> Option<PeerAddressing> {
    match (&peer.global_cidr, &peer.routed_cidrs) {
        (Some(text), None) => {
            let cidr_path = format!("{path}.global_cidr");
            let cidr = global_block(errors, &cidr_path, text)?;
            blocks.push(Block {
                path: cidr_path,
                cidr,
                peer: Some(index),
            });
            Some(PeerAddressing::Global(cidr))
        }
        (None, Some(texts)) => {
            let list_path = format!("{path}.routed_cidrs");
            if texts.is_empty() {
                errors.add(&list_path, "at least one CIDR is required");
                return None;
            }
            let before = errors.len();
            let cidrs = cidr_list(errors, &list_path, texts);
            let valid = errors.len() == before;
            let nets = cidrs.iter().map(|(_, net)| *net).collect();
            blocks.extend(cidrs.into_iter().map(|(path, cidr)| Block {
                path,
                cidr,
                peer: Some(index),
            }));
            valid.then_some(PeerAddressing::Routed(nets))
        }
        _ => {
            errors.add(
                path,
                "set exactly one of global_cidr (peer runs Globalnet) or routed_cidrs (peer \
                 without Globalnet, routed untranslated)",
            );
            None
        }
    }
}

/// `host:port`; a host name is resolved now, so a typo shows at load time.
fn endpoint(errors: &mut Errors, path: &str, peer_name: &str, text: &str) -> Option<PeerEndpoint> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        if addr.port() == 0 {
            errors.add(path, format!("{text:?}: port must not be 0"));
            return None;
        }
        return Some(PeerEndpoint {
            text: text.to_string(),
            addr,
        });
    }
    let port = text
        .rsplit_once(':')
        .filter(|(host, _)| !host.is_empty() && !host.contains(':'))
        .and_then(|(_, port)| port.parse::<u16>().ok());
    match port {
        None => {
            errors.add(
                path,
                format!(
                    "{text:?} is not host:port (e.g. 192.168.100.2:4500 or gw.example.com:4500)"
                ),
            );
            return None;
        }
        Some(0) => {
            errors.add(path, format!("{text:?}: port must not be 0"));
            return None;
        }
        Some(_) => {}
    }
    match text.to_socket_addrs() {
        // Prefer IPv4 when a name has both: the lab and most underlays are IPv4.
        Ok(addrs) => match first_preferring_ipv4(addrs) {
            Some(addr) => Some(PeerEndpoint {
                text: text.to_string(),
                addr,
            }),
            None => {
                errors.add(
                    path,
                    format!("{text:?} resolved to no address (peer {peer_name})"),
                );
                None
            }
        },
        Err(error) => {
            errors.add(
                path,
                format!("cannot resolve {text:?} (peer {peer_name}): {error}"),
            );
            None
        }
    }
}

fn first_preferring_ipv4(addrs: impl Iterator<Item = SocketAddr>) -> Option<SocketAddr> {
    let mut first = None;
    for addr in addrs {
        if addr.is_ipv4() {
            return Some(addr);
        }
        first = first.or(Some(addr));
    }
    first
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_is_preferred_but_ipv6_alone_is_used() {
        let v6: SocketAddr = "[::1]:4500".parse().unwrap();
        let v4: SocketAddr = "127.0.0.1:4500".parse().unwrap();
        assert_eq!(first_preferring_ipv4([v6, v4].into_iter()), Some(v4));
        assert_eq!(first_preferring_ipv4([v6].into_iter()), Some(v6));
        assert_eq!(first_preferring_ipv4(std::iter::empty()), None);
    }
}
