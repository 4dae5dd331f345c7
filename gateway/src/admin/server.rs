//! The daemon side of the admin API: a Unix socket only its owner can use,
//! one thread per connection (an operator's `gwctl`, rarely more than one at a
//! time), requests answered from [`StatusSource`].

use super::deadline::{DeadlineReader, DeadlineWriter};
use super::protocol::{parse_request, to_line, Request, Response, MAX_REQUEST_BYTES};
use super::socket_lock::{lock_socket, SocketLock};
use crate::status::StatusSource;
use std::fs::{self, DirBuilder, Permissions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Owner read/write only: the API can reload the config, so it is root's (or
/// the daemon user's) alone.
const SOCKET_MODE: u32 = 0o600;
/// A parent directory we create is private too.
const DIR_MODE: u32 = 0o700;
/// Connections served at once; more are closed at accept, so a local client
/// looping on connect cannot make the daemon spawn threads without bound.
const MAX_CONNECTIONS: usize = 16;
/// A connection idle this long between requests is closed, and a request
/// must be complete within it (see [`DeadlineReader`]).
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// A client that has not read its whole response within this is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed accept (e.g. EMFILE) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Binds the admin socket at `path` and serves it on a background thread.
///
/// Creates a missing parent directory with mode 0700, replaces a stale socket
/// left by a previous run (but refuses to replace a non-socket file or a socket
/// another process still answers on), and sets the socket to mode 0600.
pub fn serve_admin(path: &Path, source: Arc<dyn StatusSource>) -> io::Result<JoinHandle<()>> {
    bind_admin(path)?.serve(source)
}

/// [`serve_admin`] in two steps: the daemon binds first, before it creates its TUN device
/// and routes, so a second gateway refused here ("in use") has changed nothing on the node.
/// The socket's lock file ([`socket_lock`]) is taken first, so two gateways
/// starting at once cannot both take the socket.
pub fn bind_admin(path: &Path) -> io::Result<BoundAdminSocket> {
    create_private_parent(path)?;
    let lock = lock_socket(path)?;
    Ok(BoundAdminSocket {
        listener: bind_admin_socket(path)?,
        display: path.display().to_string(),
        lock,
    })
}

/// A bound admin socket, not served yet: connections wait in its backlog.
pub struct BoundAdminSocket {
    listener: UnixListener,
    display: String,
    lock: SocketLock,
}

impl BoundAdminSocket {
    /// Answers requests from `source` on a background thread, which holds the
    /// socket's lock for as long as it serves.
    pub fn serve(self, source: Arc<dyn StatusSource>) -> io::Result<JoinHandle<()>> {
        let BoundAdminSocket {
            listener,
            display,
            lock,
        } = self;
        thread::Builder::new()
            .name("admin-accept".into())
            .spawn(move || {
                let _held = lock;
                accept_loop(&listener, &source, &display)
            })
    }
}

/// Binds an owner-only Unix socket at `path` (the admin socket, the UAPI
/// socket): parent directory created 0700 if missing, a stale socket
/// replaced, a live one or a non-socket refused, the socket chmod 0600.
pub(crate) fn bind_admin_socket(path: &Path) -> io::Result<UnixListener> {
    create_private_parent(path)?;
    remove_stale_socket(path)?;
    let listener = UnixListener::bind(path)
        .map_err(|e| with_context(e, &format!("binding admin socket {}", path.display())))?;
    // Between bind and chmod the socket has the umask's mode; with the usual
    // umask 022 nobody else may connect (connect needs write permission), and a
    // directory we created is 0700 anyway.
    fs::set_permissions(path, Permissions::from_mode(SOCKET_MODE))
        .map_err(|e| with_context(e, &format!("chmod {:o} {}", SOCKET_MODE, path.display())))?;
    Ok(listener)
}

/// Creates `path`'s parent directory with mode 0700 when it is missing; an
/// existing one is left as it is.
fn create_private_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() && !parent.exists() => DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(parent)
            .map_err(|e| with_context(e, &format!("creating {}", parent.display()))),
        _ => Ok(()),
    }
}

fn remove_stale_socket(path: &Path) -> io::Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(with_context(e, &format!("inspecting {}", path.display()))),
    };
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "{} exists and is not a socket; refusing to replace it",
                path.display()
            ),
        ));
    }
    if UnixStream::connect(path).is_ok() {
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "{} is in use: another gateway is serving its admin API there",
                path.display()
            ),
        ));
    }
    fs::remove_file(path)
        .map_err(|e| with_context(e, &format!("removing stale {}", path.display())))
}

fn with_context(e: io::Error, what: &str) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

fn accept_loop(listener: &UnixListener, source: &Arc<dyn StatusSource>, path: &str) {
    let active = Arc::new(AtomicUsize::new(0));
    // Reloads (and MTU probes, which send traffic) run one at a time even when
    // two operators ask at once.
    let actions = Arc::new(Mutex::new(()));
    loop {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(socket = path, error = %e, "admin accept failed");
                thread::sleep(ACCEPT_BACKOFF);
                continue;
            }
        };
        let Some(slot) = ConnectionSlot::claim(&active) else {
            tracing::warn!(
                socket = path,
                "admin connection refused: {MAX_CONNECTIONS} already open"
            );
            refuse_busy(stream);
            continue;
        };
        let source = Arc::clone(source);
        let actions = Arc::clone(&actions);
        let spawned = thread::Builder::new()
            .name("admin-conn".into())
            .spawn(move || {
                let _slot = slot;
                serve_connection(stream, source.as_ref(), &actions);
            });
        if let Err(e) = spawned {
            tracing::warn!(socket = path, error = %e, "cannot spawn admin connection thread");
        }
    }
}

/// Tells a client over the connection cap why it is turned away, without
/// letting it block the accept loop: a fresh socket's send buffer takes one
/// short line, and a non-blocking write gives up if it somehow does not.
fn refuse_busy(stream: UnixStream) {
    let busy = Response::error(format!(
        "admin API busy: {MAX_CONNECTIONS} connections open; retry shortly"
    ));
    if let (Ok(()), Ok(line)) = (stream.set_nonblocking(true), to_line(&busy)) {
        let _ = (&stream).write_all(&line);
    }
}

/// One of the MAX_CONNECTIONS places, given back when the connection ends.
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

fn serve_connection(stream: UnixStream, source: &dyn StatusSource, actions: &Mutex<()>) {
    if stream.set_write_timeout(Some(WRITE_TIMEOUT)).is_err() {
        return;
    }
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    // Each request must be complete within IDLE_TIMEOUT of the previous
    // answer (or of connecting), however it trickles in.
    let mut reader = BufReader::new(DeadlineReader::new(read_half, IDLE_TIMEOUT, IDLE_TIMEOUT));
    let mut writer = DeadlineWriter::new(stream, WRITE_TIMEOUT, WRITE_TIMEOUT);
    // One byte more than the limit tells "exactly at the limit" from "over it".
    const READ_LIMIT: u64 = MAX_REQUEST_BYTES as u64 + 1;
    loop {
        reader.get_mut().restart(IDLE_TIMEOUT);
        let mut line = Vec::new();
        match (&mut reader).take(READ_LIMIT).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let complete = line.ends_with(b"\n");
        let response = match parse_request(&line) {
            Ok(request) => execute(request, source, actions),
            Err(e) => Response::error(e.to_string()),
        };
        writer.restart(WRITE_TIMEOUT);
        if write_response(&mut writer, &response).is_err() {
            return;
        }
        // Without a newline the line was cut at the limit (the rest of it is
        // unread, so the next line boundary is unknown) or the client closed
        // its side: either way this connection is done.
        if !complete {
            return;
        }
    }
}

fn execute(request: Request, source: &dyn StatusSource, actions: &Mutex<()>) -> Response {
    match request {
        Request::Status => Response::status(source.status()),
        // Not under `actions`: the daemon's main loop runs reloads one at a
        // time and answers every request waiting for it, so a second reload
        // does not queue behind the first one's 20 s wait (or an MTU probe's).
        Request::Reload => match source.reload() {
            Ok(summary) => Response::reloaded(summary),
            Err(why) => Response::error(why),
        },
        Request::MtuProbe { peer } => {
            if peer.trim().is_empty() {
                return Response::error("mtu_probe needs a peer name");
            }
            let _one_at_a_time = actions
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            match source.mtu_probe(&peer) {
                Ok(largest) => Response::mtu_probe(peer, largest),
                Err(why) => Response::error(why),
            }
        }
    }
}

fn write_response(writer: &mut impl Write, response: &Response) -> io::Result<()> {
    let line = match to_line(response) {
        Ok(line) => line,
        Err(e) => to_line(&Response::error(format!("cannot encode response: {e}")))
            .map_err(io::Error::other)?,
    };
    writer.write_all(&line)?;
    writer.flush()
}
