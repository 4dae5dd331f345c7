//! One gateway per admin socket, enforced with a lock file beside it.
//!
//! Connecting to the socket tells a live gateway from a stale file, but not
//! two gateways starting at the same moment: both can find the file stale, and
//! the second would remove the first one's fresh socket and bind its own. An
//! exclusive `flock` on `<socket>.lock`, taken before the socket is touched and
//! held for the process's life, closes that gap. The kernel drops it when the
//! process exits, however it exits, so a crash leaves no stale lock.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Owner read/write only, like the socket.
const LOCK_MODE: u32 = 0o600;

/// Held while the gateway serves the socket; released when dropped.
#[derive(Debug)]
pub struct SocketLock {
    _file: File,
}

/// `<socket>.lock`.
pub fn lock_path(socket: &Path) -> PathBuf {
    let mut name = socket.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Takes the lock for `socket` without waiting. Another holder is reported as
/// [`io::ErrorKind::AddrInUse`], like a socket another process answers on.
pub fn lock_socket(socket: &Path) -> io::Result<SocketLock> {
    let path = lock_path(socket);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(LOCK_MODE)
        .open(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("opening {}: {e}", path.display())))?;
    // SAFETY: flock on a descriptor we own; it reads only the fd and flags.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(SocketLock { _file: file });
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "{} is in use: another gateway holds {}",
                socket.display(),
                path.display()
            ),
        ));
    }
    Err(io::Error::new(
        err.kind(),
        format!("locking {}: {err}", path.display()),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = crate::files::scratch_dir("socket-lock");
        let socket = dir.join("admin.sock");
        let first = lock_socket(&socket).unwrap();
        let err = lock_socket(&socket).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
        assert!(err.to_string().contains("admin.sock.lock"), "{err}");
        drop(first);
        lock_socket(&socket).expect("free again once the holder is gone");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
