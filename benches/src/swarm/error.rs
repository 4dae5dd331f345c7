//! What can go wrong in the swarm, each naming the file, peer or call.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SwarmError {
    #[error("{path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}, line {line}: not a base64 WireGuard key (32 bytes): {text:?}")]
    Key {
        path: PathBuf,
        line: usize,
        text: String,
    },
    #[error("--count {0}: the swarm numbers its peers' /24 global blocks inside 244.0.0.0/8, so 1 to 65536 peers")]
    Count(usize),
    #[error("peer {peer}: {what}: {source}")]
    Socket {
        peer: usize,
        what: &'static str,
        source: std::io::Error,
    },
    #[error("poll() on {sockets} sockets: {source}")]
    Poll {
        sockets: usize,
        source: std::io::Error,
    },
    #[error("raising the open-file limit to {wanted} (hard limit {hard}): {source}")]
    FileLimit {
        wanted: u64,
        hard: u64,
        source: std::io::Error,
    },
    #[error("running {command}: {source}")]
    Gwctl {
        command: String,
        source: std::io::Error,
    },
    #[error("{command} printed no JSON list of peers: {source}")]
    GwctlOutput {
        command: String,
        source: serde_json::Error,
    },
}
