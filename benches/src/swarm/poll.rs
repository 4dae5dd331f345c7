//! Waiting on many sockets at once (`poll(2)`), and the open-file limit that
//! a thousand sockets need.

use super::SwarmError;
use std::os::fd::RawFd;
use std::time::Duration;

/// Descriptors the process needs besides one socket per peer (stdio, the
/// gwctl pipes, ...).
const SPARE_FILES: u64 = 64;

pub struct Poller {
    fds: Vec<libc::pollfd>,
}

impl Poller {
    pub fn new(fds: impl IntoIterator<Item = RawFd>) -> Self {
        Self {
            fds: fds
                .into_iter()
                .map(|fd| libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect(),
        }
    }

    /// Waits up to `timeout` and puts the indices of readable descriptors in
    /// `ready` (cleared first). An interrupted wait returns none ready.
    pub fn wait(&mut self, timeout: Duration, ready: &mut Vec<usize>) -> Result<(), SwarmError> {
        ready.clear();
        let millis = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: `fds` is a live, exclusively borrowed array of `len` pollfd
        // structs for the duration of the call.
        let n = unsafe {
            libc::poll(
                self.fds.as_mut_ptr(),
                self.fds.len() as libc::nfds_t,
                millis,
            )
        };
        if n < 0 {
            let error = std::io::Error::last_os_error();
            if error.kind() == std::io::ErrorKind::Interrupted {
                return Ok(());
            }
            return Err(SwarmError::Poll {
                sockets: self.fds.len(),
                source: error,
            });
        }
        // Errors and hang-ups count as readable: the read reports them.
        ready.extend(
            self.fds
                .iter()
                .enumerate()
                .filter(|(_, p)| p.revents != 0)
                .map(|(i, _)| i),
        );
        Ok(())
    }
}

/// Raises the soft open-file limit so `sockets` sockets fit (the default soft
/// limit, 1024, does not hold 1,000 peers plus stdio).
pub fn ensure_open_files(sockets: usize) -> Result<(), SwarmError> {
    let wanted = sockets as u64 + SPARE_FILES;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(SwarmError::FileLimit {
            wanted,
            hard: 0,
            source: std::io::Error::last_os_error(),
        });
    }
    if limit.rlim_cur >= wanted {
        return Ok(());
    }
    let hard = limit.rlim_max;
    limit.rlim_cur = wanted.min(hard);
    // SAFETY: `limit` is a valid rlimit struct.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 || limit.rlim_cur < wanted {
        return Err(SwarmError::FileLimit {
            wanted,
            hard,
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    #[test]
    fn reports_only_the_socket_that_has_a_datagram() {
        let quiet = UdpSocket::bind("127.0.0.1:0").unwrap();
        let busy = UdpSocket::bind("127.0.0.1:0").unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        sender.send_to(b"x", busy.local_addr().unwrap()).unwrap();
        let mut poller = Poller::new([quiet.as_raw_fd(), busy.as_raw_fd()]);
        let mut ready = Vec::new();
        poller.wait(Duration::from_secs(2), &mut ready).unwrap();
        assert_eq!(ready, vec![1]);
    }

    #[test]
    fn times_out_with_nothing_ready() {
        let quiet = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut poller = Poller::new([quiet.as_raw_fd()]);
        let mut ready = vec![7];
        poller.wait(Duration::from_millis(10), &mut ready).unwrap();
        assert!(ready.is_empty());
    }
}
