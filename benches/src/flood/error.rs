//! What can stop a flood before it starts or while it runs.

use std::net::SocketAddr;

#[derive(Debug, thiserror::Error)]
pub enum FloodError {
    #[error("{path}: {source}")]
    KeyFile {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a base64 WireGuard public key (32 bytes): {text:?}")]
    Key {
        path: std::path::PathBuf,
        text: String,
    },
    #[error("boringtun made no handshake initiation for pool entry {index}")]
    Initiation { index: usize },
    #[error("UDP socket bound to {bind}, connected to {target}: {what}: {source}")]
    Socket {
        bind: SocketAddr,
        target: SocketAddr,
        what: &'static str,
        source: std::io::Error,
    },
    #[error("--seconds {0}: a flood runs for more than 0 and at most {max} seconds", max = super::MAX_SECONDS)]
    Duration(f64),
    #[error("--rate {0}: packets per second must be at least 1")]
    Rate(u64),
    #[error("--pool {0}: at least 1 initiation")]
    Pool(usize),
}
