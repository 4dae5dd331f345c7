//! The `gwctl` side of the admin API.

use super::protocol::{to_line, Request, Response, MAX_RESPONSE_BYTES};
use crate::status::GatewayStatus;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;

/// Status answers in milliseconds; a stuck daemon should not hang gwctl.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// A reload answers once the daemon has applied or rejected the file, which
/// may include resolving peer host names; the daemon gives up waiting at
/// `daemon::reload_replies::REPLY_TIMEOUT` (20 s) and says so, before this.
pub const RELOAD_TIMEOUT: Duration = Duration::from_secs(30);
/// An MTU probe sends a series of probes, each waiting for its answer.
pub const MTU_PROBE_TIMEOUT: Duration = Duration::from_secs(60);

/// What can go wrong talking to the daemon.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The socket could not be opened: the daemon is down, the path is wrong,
    /// or we may not use it. The message says which and what to check.
    #[error("cannot reach the gateway at {}: {}\n{}", .socket.display(), .source, unreachable_hint(.source.kind(), .socket))]
    Unreachable { socket: PathBuf, source: io::Error },
    /// Connected, but the exchange failed (daemon died mid-answer, timeout, garbage).
    #[error("admin API at {}: {what}", .socket.display())]
    Protocol { socket: PathBuf, what: String },
    /// The daemon understood and said no (e.g. a rejected reload).
    #[error("{0}")]
    Rejected(String),
}

fn unreachable_hint(kind: io::ErrorKind, socket: &Path) -> String {
    match kind {
        io::ErrorKind::NotFound => format!(
            "Is the gateway running on this node (systemctl status gateway / kubectl get pods)? \
             Is {} its admin socket (the daemon's `admin.socket` setting; pass --socket PATH)?",
            socket.display()
        ),
        io::ErrorKind::PermissionDenied => {
            "The admin socket is mode 0600, owned by the daemon's \
             user: run gwctl as that user (e.g. with sudo, or `kubectl exec` into the gateway pod)."
                .to_string()
        }
        io::ErrorKind::ConnectionRefused => "The socket file exists but nothing listens on it: \
             the gateway exited or is restarting. Check its logs."
            .to_string(),
        _ => "Check that the gateway is running, that --socket names its admin socket, and that \
             you may open it (mode 0600)."
            .to_string(),
    }
}

/// A connection to the daemon's admin socket.
#[derive(Debug)]
pub struct AdminClient {
    socket: PathBuf,
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl AdminClient {
    pub fn connect(socket: &Path) -> Result<Self, ClientError> {
        let unreachable = |source| ClientError::Unreachable {
            socket: socket.to_path_buf(),
            source,
        };
        let writer = UnixStream::connect(socket).map_err(unreachable)?;
        let reader = BufReader::new(writer.try_clone().map_err(unreachable)?);
        Ok(AdminClient {
            socket: socket.to_path_buf(),
            reader,
            writer,
        })
    }

    /// Sends one request and reads its response line. `ok:false` is returned
    /// as a [`Response`], not an error; the typed helpers below turn it into
    /// [`ClientError::Rejected`].
    pub fn call(&mut self, request: &Request, timeout: Duration) -> Result<Response, ClientError> {
        let line = to_line(request).map_err(|e| self.protocol(format!("encoding request: {e}")))?;
        self.writer
            .set_write_timeout(Some(timeout))
            .and_then(|()| self.writer.set_read_timeout(Some(timeout)))
            .map_err(|e| self.protocol(format!("setting timeouts: {e}")))?;
        self.writer
            .write_all(&line)
            .and_then(|()| self.writer.flush())
            .map_err(|e| self.protocol(format!("sending request: {e}")))?;
        let mut response = Vec::new();
        let read = (&mut self.reader)
            .take(MAX_RESPONSE_BYTES as u64)
            .read_until(b'\n', &mut response)
            .map_err(|e| match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                    self.protocol(format!("no answer within {}s", timeout.as_secs()))
                }
                _ => self.protocol(format!("reading response: {e}")),
            })?;
        if read == 0 {
            return Err(self.protocol("connection closed before a response".to_string()));
        }
        if !response.ends_with(b"\n") {
            return Err(self.protocol(format!(
                "response truncated or larger than {MAX_RESPONSE_BYTES} bytes"
            )));
        }
        let response: Response = serde_json::from_slice(&response)
            .map_err(|e| self.protocol(format!("malformed response: {e}")))?;
        if !response.ok && response.error.is_none() {
            return Err(self.protocol("response has ok:false but no error".to_string()));
        }
        Ok(response)
    }

    pub fn status(&mut self) -> Result<GatewayStatus, ClientError> {
        let response = self.call(&Request::Status, DEFAULT_TIMEOUT)?;
        let response = accepted(response)?;
        match response.status {
            Some(status) => Ok(*status),
            None => Err(self.protocol("status response without a status".to_string())),
        }
    }

    /// Ok(summary of what changed) or Rejected(why the new config was refused).
    pub fn reload(&mut self) -> Result<String, ClientError> {
        let response = accepted(self.call(&Request::Reload, RELOAD_TIMEOUT)?)?;
        match response.summary {
            Some(summary) => Ok(summary),
            None => Err(self.protocol("reload response without a summary".to_string())),
        }
    }

    /// The largest IP packet size that passes the tunnel to `peer` with DF set.
    pub fn mtu_probe(&mut self, peer: &str) -> Result<Option<u16>, ClientError> {
        let request = Request::MtuProbe {
            peer: peer.to_string(),
        };
        let response = accepted(self.call(&request, MTU_PROBE_TIMEOUT)?)?;
        match response.mtu_probe {
            Some(result) => Ok(result.largest_passing),
            None => Err(self.protocol("mtu_probe response without a result".to_string())),
        }
    }

    fn protocol(&self, what: String) -> ClientError {
        ClientError::Protocol {
            socket: self.socket.clone(),
            what,
        }
    }
}

fn accepted(response: Response) -> Result<Response, ClientError> {
    if response.ok {
        Ok(response)
    } else {
        Err(ClientError::Rejected(
            response
                .error
                .unwrap_or_else(|| "rejected without a reason".to_string()),
        ))
    }
}
