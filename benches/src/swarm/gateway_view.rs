//! The gateway's side of the story: how many peers it shows as handshaken
//! (`gwctl peers -o json`), and its resident memory.

use super::SwarmError;
use serde::Deserialize;
use std::path::PathBuf;
use std::process::Command;

/// The one field of `gwctl peers -o json` rows the swarm needs.
#[derive(Deserialize)]
struct PeerRow {
    last_handshake_unix_seconds: Option<f64>,
}

pub struct Gwctl {
    pub program: PathBuf,
    pub socket: PathBuf,
}

impl Gwctl {
    fn command_text(&self) -> String {
        format!(
            "{} peers -o json --socket {}",
            self.program.display(),
            self.socket.display()
        )
    }

    /// (peers with a completed handshake, peers configured).
    pub fn handshaken(&self) -> Result<(usize, usize), SwarmError> {
        // gwctl exits 1 while some peer is not connected: only its output counts.
        let output = Command::new(&self.program)
            .args(["peers", "-o", "json", "--socket"])
            .arg(&self.socket)
            .output()
            .map_err(|source| SwarmError::Gwctl {
                command: self.command_text(),
                source,
            })?;
        let rows: Vec<PeerRow> =
            serde_json::from_slice(&output.stdout).map_err(|source| SwarmError::GwctlOutput {
                command: self.command_text(),
                source,
            })?;
        let done = rows
            .iter()
            .filter(|row| row.last_handshake_unix_seconds.is_some())
            .count();
        Ok((done, rows.len()))
    }
}

/// VmRSS of a process in KiB, from /proc/PID/status; None if unreadable.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_own_rss() {
        let kib = rss_kib(std::process::id()).unwrap();
        assert!(kib > 100, "{kib} KiB");
    }

    #[test]
    fn a_missing_gwctl_is_an_error_naming_the_command() {
        let gwctl = Gwctl {
            program: "/nonexistent/gwctl".into(),
            socket: "/nonexistent/admin.sock".into(),
        };
        let error = gwctl.handshaken().unwrap_err().to_string();
        assert!(
            error.contains("/nonexistent/gwctl peers -o json"),
            "{error}"
        );
    }

    #[test]
    fn counts_rows_with_a_handshake() {
        let rows: Vec<PeerRow> = serde_json::from_str(
            r#"[{"name":"a","last_handshake_unix_seconds":1.5},
                {"name":"b","last_handshake_unix_seconds":null}]"#,
        )
        .unwrap();
        assert_eq!(
            rows.iter()
                .filter(|r| r.last_handshake_unix_seconds.is_some())
                .count(),
            1
        );
    }
}
