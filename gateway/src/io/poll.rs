//! Waiting for several descriptors at once: the data path's TUN device, UDP
//! socket and wake-up eventfd (`daemon::solo`).

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

/// poll(2) on up to three descriptors (`None` entries are left out);
/// returns which are readable. EINTR counts as nothing readable.
pub fn poll_readable(fds: [Option<RawFd>; 3], timeout: Duration) -> io::Result<[bool; 3]> {
    let mut polled = [libc::pollfd {
        fd: -1,
        events: libc::POLLIN,
        revents: 0,
    }; 3];
    for (slot, fd) in polled.iter_mut().zip(fds) {
        // A negative fd is ignored by poll(2).
        slot.fd = fd.unwrap_or(-1);
    }
    let millis = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: three valid pollfds, for the duration of the call.
    let n = unsafe { libc::poll(polled.as_mut_ptr(), 3, millis) };
    if n < 0 {
        let err = io::Error::last_os_error();
        return match err.kind() {
            io::ErrorKind::Interrupted => Ok([false; 3]),
            _ => Err(err),
        };
    }
    Ok(polled.map(|p| p.fd >= 0 && p.revents & (libc::POLLIN | libc::POLLERR) != 0))
}
