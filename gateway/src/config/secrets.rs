//! Key files named by the config, read in a separate step from parsing.

use super::error::{ConfigError, Errors};
use super::model::Config;
use crate::keys::{PresharedKey, PrivateKey, PublicKey};
use std::collections::BTreeMap;

/// The secrets a running gateway needs. `Debug` shows no key material.
#[derive(Debug)]
pub struct Secrets {
    pub private_key: PrivateKey,
    /// Derived from `private_key`; what peers must have in their config.
    pub public_key: PublicKey,
    /// By peer name; only peers with a `preshared_key_file`.
    pub preshared_keys: BTreeMap<String, PresharedKey>,
}

impl Secrets {
    pub fn preshared_key(&self, peer_name: &str) -> Option<&PresharedKey> {
        self.preshared_keys.get(peer_name)
    }
}

impl Config {
    /// Reads `private_key_file` and every `peers[].preshared_key_file`,
    /// refusing files readable by group or others. All problems are reported
    /// together, each under its field path.
    pub fn load_secrets(&self) -> Result<Secrets, ConfigError> {
        let mut errors = Errors::default();
        let private_key = match PrivateKey::load_file(&self.private_key_file) {
            Ok(key) => Some(key),
            Err(error) => {
                errors.add("private_key_file", error.to_string());
                None
            }
        };
        let public_key = private_key.as_ref().map(PrivateKey::public_key);
        let mut preshared_keys = BTreeMap::new();
        for (index, peer) in self.peers.iter().enumerate() {
            if Some(peer.public_key) == public_key {
                errors.add(
                    format!("peers[{index}].public_key"),
                    "is this gateway's own public key (derived from private_key_file); a peer \
                     needs the other gateway's key",
                );
            }
            let Some(path) = &peer.preshared_key_file else {
                continue;
            };
            match PresharedKey::load_file(path) {
                Ok(key) => {
                    preshared_keys.insert(peer.name.clone(), key);
                }
                Err(error) => {
                    errors.add(
                        format!("peers[{index}].preshared_key_file"),
                        error.to_string(),
                    );
                }
            }
        }
        match (private_key, public_key) {
            (Some(private_key), Some(public_key)) if errors.is_empty() => Ok(Secrets {
                private_key,
                public_key,
                preshared_keys,
            }),
            _ => Err(ConfigError::Invalid(errors.into_vec())),
        }
    }
}
