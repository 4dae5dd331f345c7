//! The Prometheus / kubelet endpoint: `/metrics`, `/healthz`, `/readyz` on a
//! plain TCP listener, one short-lived thread per connection.

use super::encode::{
    encode_openmetrics, encode_prometheus_text, OPENMETRICS_CONTENT_TYPE,
    PROMETHEUS_TEXT_CONTENT_TYPE,
};
use super::http::{parse_head, read_head, Method, RequestHead, Response, Status, HEAD_DEADLINE};
use crate::status::StatusSource;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Connections served at once: a scraper or two and the kubelet's probes need
/// a handful; the cap keeps a flood from spawning unbounded threads.
const MAX_CONNECTIONS: usize = 32;
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
    let active = Arc::new(AtomicUsize::new(0));
    loop {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "metrics accept failed");
                thread::sleep(ACCEPT_BACKOFF);
                continue;
            }
        };
        // Over the cap the stream is dropped, which closes it.
        let Some(slot) = ConnectionSlot::claim(&active) else {
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

/// One of the MAX_CONNECTIONS places, given back when the connection ends
/// (even if serving it panicked).
struct ConnectionSlot(Arc<AtomicUsize>);

impl ConnectionSlot {
    fn claim(active: &Arc<AtomicUsize>) -> Option<Self> {
        active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_CONNECTIONS).then_some(n + 1)
            })
            .ok()
            .map(|_| ConnectionSlot(Arc::clone(active)))
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
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
