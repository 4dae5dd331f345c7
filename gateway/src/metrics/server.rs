//! The Prometheus / kubelet endpoint: `/metrics`, `/healthz`, `/readyz` on a
//! plain TCP listener, one short-lived thread per connection.

use super::encode::{
    encode_openmetrics, encode_prometheus_text, OPENMETRICS_CONTENT_TYPE,
    PROMETHEUS_TEXT_CONTENT_TYPE,
};
use super::http::{parse_head, read_head, Method, RequestHead, Response, Status, HEAD_DEADLINE};
use crate::status::StatusSource;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Connections served at once: a scraper or two and the kubelet's probes need
/// a handful; the cap keeps a flood from spawning unbounded threads.
const MAX_CONNECTIONS: usize = 32;
/// Connections from one address at once. A client that opens connections and
/// sends nothing holds each for up to HEAD_DEADLINE; this keeps one such
/// client (a pod on the network) from taking all MAX_CONNECTIONS: 32 / 8 = 4
/// busy addresses are needed to fill the cap.
const MAX_CONNECTIONS_PER_ADDRESS: usize = 8;
/// Connections from the node itself (client address = the address it
/// connected to: the kubelet probing a host-network pod), on top of
/// MAX_CONNECTIONS: however many other addresses fill the cap, the probes
/// still get in, so a flood cannot make the kubelet restart the gateway.
const MAX_NODE_CONNECTIONS: usize = 8;
/// Each read of the request head; the head as a whole has HEAD_DEADLINE.
const READ_TIMEOUT: Duration = Duration::from_secs(2);
/// A scraper that stops reading its response is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

const INDEX: &str = "gateway\n\n/metrics  Prometheus metrics (OpenMetrics)\n/healthz  liveness\n/readyz   readiness (TUN up, routes installed)\n";

/// Binds `addr` and serves the endpoints on a background thread.
pub fn serve_metrics(
    addr: SocketAddr,
    source: Arc<dyn StatusSource>,
) -> io::Result<JoinHandle<()>> {
    let listener = TcpListener::bind(addr)
        .map_err(|e| io::Error::new(e.kind(), format!("binding metrics listener {addr}: {e}")))?;
    serve_metrics_on(listener, source)
}

/// Serves on a listener the caller bound (tests bind 127.0.0.1:0 and read the
/// port back).
pub fn serve_metrics_on(
    listener: TcpListener,
    source: Arc<dyn StatusSource>,
) -> io::Result<JoinHandle<()>> {
    thread::Builder::new()
        .name("metrics-accept".into())
        .spawn(move || accept_loop(&listener, &source))
}

fn accept_loop(listener: &TcpListener, source: &Arc<dyn StatusSource>) {
    let active = Arc::new(Slots::default());
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "metrics accept failed");
                thread::sleep(ACCEPT_BACKOFF);
                continue;
            }
        };
        let from_node = stream
            .local_addr()
            .is_ok_and(|local| local.ip() == peer.ip());
        // Over a cap the stream is dropped, which closes it.
        let Some(slot) = ConnectionSlot::claim(&active, peer.ip(), from_node) else {
            continue;
        };
        let source = Arc::clone(source);
        let spawned = thread::Builder::new()
            .name("metrics-conn".into())
            .spawn(move || {
                let _slot = slot;
                serve_connection(stream, source.as_ref());
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot spawn metrics connection thread");
        }
    }
}

/// Connections in progress: the node's own, and the others per client address.
#[derive(Default)]
struct Slots {
    in_use: Mutex<InUse>,
}

#[derive(Default)]
struct InUse {
    node: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// A connection's place, given back when the connection ends (even if
/// serving it panicked).
struct ConnectionSlot {
    slots: Arc<Slots>,
    /// None for the node's own connections.
    address: Option<IpAddr>,
}

impl ConnectionSlot {
    fn claim(slots: &Arc<Slots>, address: IpAddr, from_node: bool) -> Option<Self> {
        let mut in_use = slots.in_use.lock().unwrap_or_else(PoisonError::into_inner);
        if from_node {
            if in_use.node >= MAX_NODE_CONNECTIONS {
                return None;
            }
            in_use.node += 1;
            return Some(ConnectionSlot {
                slots: Arc::clone(slots),
                address: None,
            });
        }
        let total: usize = in_use.by_address.values().sum();
        let mine = in_use.by_address.get(&address).copied().unwrap_or(0);
        if total >= MAX_CONNECTIONS || mine >= MAX_CONNECTIONS_PER_ADDRESS {
            return None;
        }
        in_use.by_address.insert(address, mine + 1);
        Some(ConnectionSlot {
            slots: Arc::clone(slots),
            address: Some(address),
        })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut in_use = self
            .slots
            .in_use
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match self.address {
            None => in_use.node = in_use.node.saturating_sub(1),
            Some(address) => {
                if let Some(n) = in_use.by_address.get_mut(&address) {
                    *n -= 1;
                    if *n == 0 {
                        in_use.by_address.remove(&address);
                    }
                }
            }
        }
    }
}

fn serve_connection(mut stream: TcpStream, source: &dyn StatusSource) {
    if stream.set_read_timeout(Some(READ_TIMEOUT)).is_err()
        || stream.set_write_timeout(Some(WRITE_TIMEOUT)).is_err()
    {
        return;
    }
    let deadline = Instant::now() + HEAD_DEADLINE;
    let (response, head_only) =
        match read_head(&mut stream, deadline).and_then(|head| parse_head(&head)) {
            Ok(request) => (route(&request, source), request.method == Method::Head),
            Err(e) => (Response::text(e.status(), format!("{e}\n")), false),
        };
    // The client may already be gone; nothing useful to do about it.
    let _ = response.write_to(&mut stream, head_only);
}

/// Answers one request.
pub fn route(request: &RequestHead, source: &dyn StatusSource) -> Response {
    if request.method == Method::Other {
        return Response::text(Status::MethodNotAllowed, "only GET and HEAD\n");
    }
    match request.path.as_str() {
        "/metrics" => metrics(request.accepts_openmetrics, source),
        "/healthz" => match source.liveness() {
            Ok(()) => Response::text(Status::Ok, "ok\n"),
            Err(why) => Response::text(Status::Unavailable, format!("unhealthy: {why}\n")),
        },
        "/readyz" => match source.liveness() {
            Err(why) => Response::text(Status::Unavailable, format!("not ready: {why}\n")),
            Ok(()) if source.ready() => Response::text(Status::Ok, "ready\n"),
            Ok(()) => Response::text(
                Status::Unavailable,
                "not ready: TUN device or routes not installed yet\n",
            ),
        },
        "/" => Response::text(Status::Ok, INDEX),
        _ => Response::text(
            Status::NotFound,
            "not found: try /metrics, /healthz or /readyz\n",
        ),
    }
}

/// OpenMetrics when asked for (Prometheus asks), else the classic text format
/// that `curl | promtool check metrics` and older scrapers read.
fn metrics(openmetrics: bool, source: &dyn StatusSource) -> Response {
    let status = source.status();
    let (encoded, content_type) = if openmetrics {
        (encode_openmetrics(&status), OPENMETRICS_CONTENT_TYPE)
    } else {
        (
            encode_prometheus_text(&status),
            PROMETHEUS_TEXT_CONTENT_TYPE,
        )
    };
    match encoded {
        Ok(text) => Response {
            status: Status::Ok,
            content_type,
            body: text.into_bytes(),
        },
        Err(_) => Response::text(Status::InternalError, "encoding metrics failed\n"),
    }
}
