//! The WireGuard cross-platform UAPI (wireguard.com/xplatform), read-only, so
//! the stock `wg show` works against the gateway as it does against
//! wireguard-go: a Unix socket (mode 0600) at `/var/run/wireguard/<tun>.sock`
//! answering `get=1`.
//!
//! Two deliberate differences from wireguard-go:
//! - `set=1` is refused with EPERM (`wg set` prints "Operation not
//!   permitted"): the config file is the one source of truth, and a peer added
//!   behind its back would vanish at the next reload.
//!   (UAPI errnos are negative: `errno=-1`.)
//! - The private key is never sent (a `get` answer carries no `private_key`),
//!   so `wg show` prints no interface key lines; `gwctl peers` shows the public key.

use crate::admin::deadline::{DeadlineReader, DeadlineWriter};
use crate::status::{GatewayStatus, PeerView, StatusSource};
use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// A request is a few lines; more than this is not a UAPI client.
const MAX_REQUEST_BYTES: u64 = 64 * 1024;
/// A client that sends nothing for this long is dropped.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
/// A whole UAPI connection: `wg show` sends one request and reads the answer
/// in milliseconds; two per-read timeouts' worth is ample.
const CONNECTION_DEADLINE: Duration = Duration::from_secs(10);
/// `-EPERM`: `wg set` prints "Operation not permitted". UAPI errnos are
/// negative, as wireguard-go sends them (`wg` negates them back).
const ERRNO_NOT_PERMITTED: i32 = -libc::EPERM;
/// `-EINVAL` for a request that is neither `get=1` nor `set=1`.
const ERRNO_INVALID: i32 = -libc::EINVAL;

/// The UAPI answer to `get=1` (without `errno` and the terminating blank line).
pub fn render_get(listen_port: u16, peers: &[PeerView]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "listen_port={listen_port}");
    for peer in peers {
        let Some(key) = hex_of_base64(&peer.public_key) else {
            continue; // cannot happen for a validated config; skip rather than lie
        };
        let _ = writeln!(out, "public_key={key}");
        if let Some(endpoint) = peer.endpoint {
            let _ = writeln!(out, "endpoint={endpoint}");
        }
        let (sec, nsec) = peer
            .last_handshake_unix_seconds
            .map_or((0, 0), |t| (t.trunc() as u64, (t.fract() * 1e9) as u64));
        let _ = writeln!(out, "last_handshake_time_sec={sec}");
        let _ = writeln!(out, "last_handshake_time_nsec={nsec}");
        let _ = writeln!(out, "rx_bytes={}", peer.rx_bytes);
        let _ = writeln!(out, "tx_bytes={}", peer.tx_bytes);
        let _ = writeln!(
            out,
            "persistent_keepalive_interval={}",
            peer.persistent_keepalive_seconds.unwrap_or(0)
        );
        for cidr in &peer.cidrs {
            let _ = writeln!(out, "allowed_ip={cidr}");
        }
        let _ = writeln!(out, "protocol_version=1");
    }
    out
}

fn hex_of_base64(b64: &str) -> Option<String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    Some(bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    }))
}

/// Binds the UAPI socket (replacing a stale one, refusing a live one) and
/// serves it on a background thread.
pub fn serve_uapi(path: &Path, source: Arc<dyn StatusSource>) -> io::Result<JoinHandle<()>> {
    let listener = crate::admin::bind_private_socket(path)?;
    thread::Builder::new()
        .name("uapi".into())
        .spawn(move || accept_loop(&listener, source.as_ref()))
}

fn accept_loop(listener: &UnixListener, source: &dyn StatusSource) {
    for stream in listener.incoming() {
        match stream {
            // One client at a time: `wg show` is quick, and a slow client is
            // dropped after CLIENT_TIMEOUT.
            Ok(stream) => {
                if let Err(e) = serve_client(stream, source) {
                    tracing::debug!(error = %e, "UAPI client");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "UAPI accept failed");
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn serve_client(stream: UnixStream, source: &dyn StatusSource) -> io::Result<()> {
    // Reading the answer is bounded the same way as sending the request.
    let mut writer = DeadlineWriter::new(stream.try_clone()?, CLIENT_TIMEOUT, CONNECTION_DEADLINE);
    // The whole connection, not just each read, is bounded: this thread
    // serves one client at a time, and a client trickling bytes must not
    // keep `wg show` from everyone else.
    let reader = DeadlineReader::new(stream, CLIENT_TIMEOUT, CONNECTION_DEADLINE);
    let mut reader = BufReader::new(io::Read::take(reader, MAX_REQUEST_BYTES));
    loop {
        let Some(operation) = read_request(&mut reader)? else {
            return Ok(()); // the client closed the connection
        };
        let answer = answer(&operation, || source.status());
        writer.write_all(answer.as_bytes())?;
    }
}

/// Reads one request: its lines up to the blank line that ends it. Returns
/// the first line (the operation), or None at end of stream.
fn read_request(reader: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut operation: Option<String> = None;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let trimmed = line.trim_end_matches('\n');
        if trimmed.is_empty() {
            return Ok(Some(operation.unwrap_or_default()));
        }
        if operation.is_none() {
            operation = Some(trimmed.to_string());
        }
    }
}

/// The full answer to one request, ending with `errno=N` and a blank line.
pub fn answer(operation: &str, status: impl FnOnce() -> GatewayStatus) -> String {
    match operation {
        "get=1" => {
            let status = status();
            format!(
                "{}errno=0\n\n",
                render_get(status.listen_port, &status.peers)
            )
        }
        "set=1" => format!("errno={ERRNO_NOT_PERMITTED}\n\n"),
        _ => format!("errno={ERRNO_INVALID}\n\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{ConnectionStatus, RttView};

    fn peers() -> Vec<PeerView> {
        let peer = PeerView {
            name: "cluster-b".into(),
            // 32 bytes 0x01..=0x20, base64.
            public_key: "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=".into(),
            endpoint: Some("192.168.100.2:4500".parse().unwrap()),
            configured_endpoint: None,
            cidrs: vec!["243.0.0.0/16".parse().unwrap()],
            globalnet: true,
            status: ConnectionStatus::Connected,
            status_reason: None,
            last_handshake_age_seconds: Some(3.0),
            last_handshake_unix_seconds: Some(1_795_000_000.25),
            rx_bytes: 1234,
            tx_bytes: 5678,
            rx_packets: 1,
            tx_packets: 2,
            handshakes: 1,
            handshake_failures: 0,
            configured_endpoint_retries: 0,
            persistent_keepalive_seconds: Some(10),
            rtt: RttView::default(),
        };
        vec![peer]
    }

    #[test]
    fn get_renders_the_uapi_fields_wg_reads() {
        let text = render_get(4500, &peers());
        assert_eq!(
            text,
            "listen_port=4500\n\
             public_key=0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20\n\
             endpoint=192.168.100.2:4500\n\
             last_handshake_time_sec=1795000000\n\
             last_handshake_time_nsec=250000000\n\
             rx_bytes=1234\n\
             tx_bytes=5678\n\
             persistent_keepalive_interval=10\n\
             allowed_ip=243.0.0.0/16\n\
             protocol_version=1\n"
        );
        assert!(!text.contains("private_key"));
    }

    #[test]
    fn requests_are_read_to_their_blank_line_and_set_is_refused() {
        let mut input = io::Cursor::new(b"set=1\nprivate_key=00\n\nget=1\n\n".to_vec());
        assert_eq!(read_request(&mut input).unwrap().as_deref(), Some("set=1"));
        assert_eq!(read_request(&mut input).unwrap().as_deref(), Some("get=1"));
        assert_eq!(read_request(&mut input).unwrap(), None);
        let unreachable = || -> GatewayStatus { panic!("status read for a refused request") };
        assert_eq!(answer("set=1", unreachable), "errno=-1\n\n");
        assert_eq!(answer("bogus", unreachable), "errno=-22\n\n");
    }
}
