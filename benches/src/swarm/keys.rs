//! The swarm's keys and the matching `peers:` entries for the gateway config.
//!
//! Peer `i` gets the global block `244.0.0.0 + i × 256` /24: distinct, inside
//! Globalnet's 240.0.0.0/4, and away from the 242/243 blocks the labs use.

use super::SwarmError;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use boringtun::x25519::{PublicKey, StaticSecret};
use rand_core::OsRng;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::Path;

/// First address of the swarm's blocks.
const BLOCKS_BASE: u32 = 244 << 24;
/// Addresses per peer block: a /24.
const BLOCK_SIZE: u32 = 1 << 8;
/// How many /24 blocks fit in 244.0.0.0/8.
pub const MAX_PEERS: usize = 1 << 16;

/// Peer `index`'s global block, as CIDR text.
pub fn global_block(index: usize) -> String {
    // index < MAX_PEERS, so the offset stays inside 244.0.0.0/8.
    let base = BLOCKS_BASE + (index as u32 % MAX_PEERS as u32) * BLOCK_SIZE;
    format!("{}/24", Ipv4Addr::from(base))
}

/// Peer `index`'s name in the gateway config.
pub fn peer_name(index: usize) -> String {
    format!("swarm-{index:05}")
}

pub fn generate(count: usize) -> Vec<StaticSecret> {
    (0..count)
        .map(|_| StaticSecret::random_from_rng(OsRng))
        .collect()
}

pub fn encode_public(secret: &StaticSecret) -> String {
    STANDARD.encode(PublicKey::from(secret).as_bytes())
}

/// One private key per line, base64, as `wg genkey` prints them.
pub fn private_keys_text(keys: &[StaticSecret]) -> String {
    keys.iter().fold(String::new(), |mut out, key| {
        out.push_str(&STANDARD.encode(key.as_bytes()));
        out.push('\n');
        out
    })
}

/// The `peers:` section: no endpoint (the swarm initiates, the gateway
/// learns each endpoint from the handshake), no keepalive.
pub fn peers_yaml(keys: &[StaticSecret]) -> String {
    let mut out = String::from("peers:\n");
    for (index, key) in keys.iter().enumerate() {
        let _ = write!(
            out,
            "  - name: {}\n    public_key: \"{}\"\n    global_cidr: {}\n",
            peer_name(index),
            encode_public(key),
            global_block(index),
        );
    }
    out
}

fn decode_key(path: &Path, line: usize, text: &str) -> Result<[u8; 32], SwarmError> {
    STANDARD
        .decode(text.trim())
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| SwarmError::Key {
            path: path.to_path_buf(),
            line,
            text: text.chars().take(60).collect(),
        })
}

/// Reads the private keys written by [`private_keys_text`].
pub fn read_private_keys(path: &Path) -> Result<Vec<StaticSecret>, SwarmError> {
    let text = std::fs::read_to_string(path).map_err(|source| SwarmError::File {
        path: path.to_path_buf(),
        source,
    })?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(number, line)| decode_key(path, number + 1, line).map(StaticSecret::from))
        .collect()
}

/// Reads one public key (base64) from a file, as `wg pubkey` writes it.
pub fn read_public_key(path: &Path) -> Result<PublicKey, SwarmError> {
    let text = std::fs::read_to_string(path).map_err(|source| SwarmError::File {
        path: path.to_path_buf(),
        source,
    })?;
    decode_key(path, 1, &text).map(PublicKey::from)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_distinct_slash_24s_in_244() {
        assert_eq!(global_block(0), "244.0.0.0/24");
        assert_eq!(global_block(1), "244.0.1.0/24");
        assert_eq!(global_block(256), "244.1.0.0/24");
        assert_eq!(global_block(MAX_PEERS - 1), "244.255.255.0/24");
    }

    #[test]
    fn private_keys_round_trip_through_the_file() {
        let keys = generate(3);
        let dir = std::env::temp_dir().join(format!("swarm-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("swarm.keys");
        std::fs::write(&path, private_keys_text(&keys)).unwrap();
        let read = read_private_keys(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(read.len(), 3);
        for (a, b) in keys.iter().zip(&read) {
            assert_eq!(a.as_bytes(), b.as_bytes());
        }
    }

    #[test]
    fn a_malformed_key_names_its_line() {
        let dir = std::env::temp_dir().join(format!("swarm-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("swarm.keys");
        let good = private_keys_text(&generate(1));
        std::fs::write(&path, format!("{good}not-a-key\n")).unwrap();
        let Err(error) = read_private_keys(&path) else {
            panic!("a file with a malformed line was accepted");
        };
        let error = error.to_string();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(error.contains("line 2"), "{error}");
    }

    #[test]
    fn peers_yaml_lists_every_key_with_its_block() {
        let keys = generate(2);
        let yaml = peers_yaml(&keys);
        assert!(yaml.starts_with("peers:\n"));
        assert!(yaml.contains(&format!("public_key: \"{}\"", encode_public(&keys[1]))));
        assert!(yaml.contains("name: swarm-00001\n    public_key"));
        assert!(yaml.contains("global_cidr: 244.0.1.0/24"));
        assert_eq!(yaml.matches("- name:").count(), 2);
    }
}
