//! The paced sender: `sendmmsg` batches on one connected UDP socket, as
//! many as `rate × elapsed` says are due, for a bounded time; replies are
//! drained with `recvmmsg` between batches and counted by message type.

use super::pool::{Initiation, HANDSHAKE_INIT_LEN};
use super::FloodError;
use serde::Serialize;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// A flood never runs longer than this, whatever it is asked.
pub const MAX_SECONDS: f64 = 60.0;
/// Datagrams per `sendmmsg` / `recvmmsg` call.
const BATCH: usize = 64;
/// Longest pause when ahead of schedule: short against one batch's worth of
/// time at the rates this is for (64 / 100,000 per s = 640 µs).
const MAX_PAUSE: Duration = Duration::from_micros(200);
/// WireGuard message type of a cookie reply.
const COOKIE_REPLY: u8 = 3;
/// Replies are 64 bytes (cookie) or 92 (handshake response); anything
/// larger is cut, which is fine for counting.
const REPLY_MAX: usize = 128;
/// Room for replies between drains: the kernel drops beyond it, which only
/// makes the reply count a lower bound.
const RECEIVE_BUFFER: usize = 4 << 20;

/// What to send, where, how fast and for how long.
#[derive(Clone, Debug)]
pub struct FloodPlan {
    pub bind: SocketAddr,
    pub target: SocketAddr,
    /// Datagrams per second.
    pub rate: u64,
    pub duration: Duration,
}

/// The sender's own account of a flood (serialised as the program's output).
#[derive(Clone, Debug, Default, Serialize)]
pub struct FloodReport {
    pub target: String,
    pub pool: usize,
    pub seconds: f64,
    /// Datagrams the kernel accepted.
    pub sent: u64,
    /// Datagrams `sendmmsg` refused (e.g. ICMP port unreachable reported
    /// on the connected socket while nothing listened).
    pub send_errors: u64,
    /// `sent / seconds`.
    pub rate_per_second: f64,
    pub requested_rate: u64,
    /// Cookie replies the target sent back (a lower bound).
    pub cookie_replies: u64,
    /// Any other reply (a handshake response would mean a bug: no peer has
    /// the flood's keys).
    pub other_replies: u64,
}

/// A connected socket and the initiations it replays.
pub struct Flood {
    socket: UdpSocket,
    pool: Vec<Initiation>,
    plan: FloodPlan,
}

impl Flood {
    pub fn new(plan: FloodPlan, pool: Vec<Initiation>) -> Result<Flood, FloodError> {
        let seconds = plan.duration.as_secs_f64();
        if !(seconds > 0.0 && seconds <= MAX_SECONDS) {
            return Err(FloodError::Duration(seconds));
        }
        if plan.rate == 0 {
            return Err(FloodError::Rate(plan.rate));
        }
        if pool.is_empty() {
            return Err(FloodError::Pool(0));
        }
        let socket_err = |what, source| FloodError::Socket {
            bind: plan.bind,
            target: plan.target,
            what,
            source,
        };
        let socket = UdpSocket::bind(plan.bind).map_err(|e| socket_err("bind", e))?;
        socket
            .connect(plan.target)
            .map_err(|e| socket_err("connect", e))?;
        set_receive_buffer(&socket, RECEIVE_BUFFER).map_err(|e| socket_err("SO_RCVBUF", e))?;
        Ok(Flood { socket, pool, plan })
    }

    /// Sends until the plan's duration is over; returns the counts.
    pub fn run(&self) -> FloodReport {
        let mut report = FloodReport {
            target: self.plan.target.to_string(),
            pool: self.pool.len(),
            requested_rate: self.plan.rate,
            ..FloodReport::default()
        };
        let mut replies = [[0u8; REPLY_MAX]; BATCH];
        let mut attempted: u64 = 0;
        let mut next = 0usize;
        let started = Instant::now();
        loop {
            let elapsed = started.elapsed();
            if elapsed >= self.plan.duration {
                break;
            }
            let due = (elapsed.as_secs_f64() * self.plan.rate as f64) as u64;
            let behind = due.saturating_sub(attempted);
            if behind == 0 {
                self.drain(&mut replies, &mut report);
                let per_packet = Duration::from_secs_f64(1.0 / self.plan.rate as f64);
                std::thread::sleep(per_packet.min(MAX_PAUSE));
                continue;
            }
            let count = (behind as usize).min(BATCH);
            match self.send_batch(next, count) {
                Ok(sent) => report.sent += sent as u64,
                Err(_) => report.send_errors += count as u64,
            }
            attempted += count as u64;
            next = (next + count) % self.pool.len();
            self.drain(&mut replies, &mut report);
        }
        report.seconds = started.elapsed().as_secs_f64();
        report.rate_per_second = report.sent as f64 / report.seconds;
        // Replies still in flight for the last batches.
        std::thread::sleep(Duration::from_millis(50));
        self.drain(&mut replies, &mut report);
        report
    }

    /// One `sendmmsg` of `count` pool entries from `first` (wrapping).
    fn send_batch(&self, first: usize, count: usize) -> std::io::Result<usize> {
        let mut iovecs: [libc::iovec; BATCH] = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; BATCH];
        // SAFETY: mmsghdr is plain data; all-zero is a valid value (no
        // address, no control data), filled in below.
        let mut headers: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        let count = count.min(BATCH);
        for i in 0..count {
            let packet = &self.pool[(first + i) % self.pool.len()];
            // The kernel only reads through it (sendmmsg).
            iovecs[i].iov_base = packet.as_ptr() as *mut libc::c_void;
            iovecs[i].iov_len = HANDSHAKE_INIT_LEN;
            headers[i].msg_hdr.msg_iov = &mut iovecs[i];
            headers[i].msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: `headers[..count]` point at live iovecs, which point at
        // pool entries that outlive the call; the socket is connected, so no
        // address is needed.
        let sent = unsafe {
            libc::sendmmsg(
                self.socket.as_raw_fd(),
                headers.as_mut_ptr(),
                count as libc::c_uint,
                0,
            )
        };
        if sent < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(sent as usize)
        }
    }

    /// Reads whatever replies are waiting, without blocking.
    fn drain(&self, replies: &mut [[u8; REPLY_MAX]; BATCH], report: &mut FloodReport) {
        loop {
            let mut iovecs: [libc::iovec; BATCH] = [libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            }; BATCH];
            // SAFETY: as in send_batch.
            let mut headers: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
            for (i, reply) in replies.iter_mut().enumerate() {
                iovecs[i].iov_base = reply.as_mut_ptr().cast();
                iovecs[i].iov_len = REPLY_MAX;
                headers[i].msg_hdr.msg_iov = &mut iovecs[i];
                headers[i].msg_hdr.msg_iovlen = 1;
            }
            // SAFETY: every header points at a live iovec over a REPLY_MAX
            // buffer we own; MSG_DONTWAIT keeps it from blocking.
            let received = unsafe {
                libc::recvmmsg(
                    self.socket.as_raw_fd(),
                    headers.as_mut_ptr(),
                    BATCH as libc::c_uint,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if received <= 0 {
                return; // EAGAIN (nothing waiting) or a reported ICMP error
            }
            for (reply, header) in replies.iter().zip(&headers).take(received as usize) {
                if header.msg_len >= 1 && reply[0] == COOKIE_REPLY {
                    report.cookie_replies += 1;
                } else {
                    report.other_replies += 1;
                }
            }
            if (received as usize) < BATCH {
                return;
            }
        }
    }
}

fn set_receive_buffer(socket: &UdpSocket, bytes: usize) -> std::io::Result<()> {
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from `&value`.
    let result = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn plan(target: SocketAddr, rate: u64, millis: u64) -> FloodPlan {
        FloodPlan {
            bind: "127.0.0.1:0".parse().unwrap(),
            target,
            rate,
            duration: Duration::from_millis(millis),
        }
    }

    #[test]
    fn sends_at_the_requested_rate_for_the_requested_time_and_counts_cookies() {
        let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
        sink.set_nonblocking(true).unwrap();
        set_receive_buffer(&sink, RECEIVE_BUFFER).unwrap();
        let pool = vec![[1u8; HANDSHAKE_INIT_LEN]; 3];
        let flood = Flood::new(plan(sink.local_addr().unwrap(), 20_000, 300), pool).unwrap();
        let flooder = flood.socket.local_addr().unwrap();
        // The "gateway" answers the first datagrams with cookie replies.
        let mut cookie = [0u8; 64];
        cookie[0] = COOKIE_REPLY;
        for _ in 0..5 {
            sink.send_to(&cookie, flooder).unwrap();
        }
        sink.send_to(&[2u8; 92], flooder).unwrap();
        let report = flood.run();
        assert!(report.seconds >= 0.3 && report.seconds < 0.6, "{report:?}");
        // 20,000/s × 0.3 s = 6,000, paced: neither a burst nor a trickle.
        assert!((5_000..=6_100).contains(&report.sent), "{report:?}");
        assert_eq!(report.send_errors, 0);
        assert_eq!((report.cookie_replies, report.other_replies), (5, 1));
        let mut received = 0;
        let mut buf = [0u8; 512];
        while let Ok(n) = sink.recv(&mut buf) {
            assert_eq!(n, HANDSHAKE_INIT_LEN);
            received += 1;
        }
        assert!(received > 0);
    }

    #[test]
    fn refuses_unbounded_or_empty_floods() {
        let target = "127.0.0.1:9".parse().unwrap();
        let pool = || vec![[1u8; HANDSHAKE_INIT_LEN]];
        assert!(matches!(
            Flood::new(plan(target, 1, 61_000), pool()),
            Err(FloodError::Duration(_))
        ));
        assert!(matches!(
            Flood::new(plan(target, 0, 100), pool()),
            Err(FloodError::Rate(0))
        ));
        assert!(matches!(
            Flood::new(plan(target, 1, 100), Vec::new()),
            Err(FloodError::Pool(0))
        ));
    }
}
