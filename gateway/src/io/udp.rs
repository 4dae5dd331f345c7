//! The tunnel's UDP socket, batched: `recvmmsg` / `sendmmsg` over a socket built
//! with socket2 (large buffers, so bursts are not lost at the receive queue the
//! way they are for wireguard-go and boringtun-cli — see dataplane.md).

use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::mem::MaybeUninit;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

/// Datagrams per `recvmmsg`/`sendmmsg` call.
pub const BATCH: usize = 64;
/// Largest datagram we accept: a 65,535-byte IP packet cannot carry more.
pub const MAX_DATAGRAM: usize = 65_535;
/// Socket buffers: 8 MiB absorbs ~5,800 full-size datagrams of burst.
const SOCKET_BUFFER_BYTES: usize = 8 << 20;
/// How often a blocked receive returns so the loop can notice shutdown.
const RECV_POLL: Duration = Duration::from_millis(200);

/// The gateway's UDP socket (IPv4, `0.0.0.0:port`).
pub struct TunnelSocket {
    socket: UdpSocket,
}

impl TunnelSocket {
    /// Binds `0.0.0.0:port` with large buffers. `SO_RCVBUFFORCE` needs
    /// CAP_NET_ADMIN (which the gateway has); without it the kernel caps the
    /// buffer at `net.core.rmem_max`, which still works, only with less slack.
    pub fn bind(port: u16) -> io::Result<Self> {
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        socket.set_reuse_address(true)?;
        if set_buffer_force(&socket, libc::SO_RCVBUFFORCE).is_err() {
            socket.set_recv_buffer_size(SOCKET_BUFFER_BYTES)?;
        }
        if set_buffer_force(&socket, libc::SO_SNDBUFFORCE).is_err() {
            socket.set_send_buffer_size(SOCKET_BUFFER_BYTES)?;
        }
        let addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port));
        socket.bind(&addr.into())?;
        socket.set_read_timeout(Some(RECV_POLL))?;
        Ok(TunnelSocket {
            socket: socket.into(),
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    pub fn try_clone(&self) -> io::Result<Self> {
        Ok(TunnelSocket {
            socket: self.socket.try_clone()?,
        })
    }

    /// Sends one datagram (slow path: handshakes, cookies, keepalives).
    pub fn send_to(&self, datagram: &[u8], to: SocketAddr) -> io::Result<usize> {
        self.socket.send_to(datagram, to)
    }

    /// Receives up to `batch.capacity()` datagrams with one `recvmmsg`,
    /// blocking until at least one arrives or the poll interval passes
    /// (then `Ok(0)`).
    pub fn recv_batch(&self, batch: &mut RecvBatch) -> io::Result<usize> {
        batch.len = 0;
        let n = batch.bufs.len();
        for i in 0..n {
            batch.iov[i] = libc::iovec {
                iov_base: batch.bufs[i].as_mut_ptr().cast(),
                iov_len: batch.bufs[i].len(),
            };
            // SAFETY: an all-zero msghdr is a valid "empty" header; we fill the
            // pointers below, and they stay valid for the duration of the call.
            let mut hdr: libc::mmsghdr = unsafe { std::mem::zeroed() };
            hdr.msg_hdr.msg_name = (&mut batch.addrs[i] as *mut libc::sockaddr_in).cast();
            hdr.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
            hdr.msg_hdr.msg_iov = &mut batch.iov[i];
            hdr.msg_hdr.msg_iovlen = 1;
            batch.headers[i] = hdr;
        }
        // SAFETY: headers, iovecs, addresses and buffers are owned by `batch`
        // and outlive the call; the kernel writes at most the lengths given.
        let got = unsafe {
            libc::recvmmsg(
                self.socket.as_raw_fd(),
                batch.headers.as_mut_ptr(),
                n as u32,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if got < 0 {
            let err = io::Error::last_os_error();
            return match err.kind() {
                io::ErrorKind::WouldBlock
                | io::ErrorKind::TimedOut
                | io::ErrorKind::Interrupted => Ok(0),
                _ => Err(err),
            };
        }
        batch.len = got as usize;
        Ok(batch.len)
    }

    /// Sends every queued datagram with as few `sendmmsg` calls as the kernel
    /// allows, then clears the queue. Returns (sent, failed) counts; a failed
    /// datagram is dropped (UDP is lossy anyway) and reported to the caller.
    pub fn send_batch(&self, batch: &mut SendBatch) -> (usize, usize) {
        let mut sent = 0;
        let mut failed = 0;
        let total = batch.len;
        for i in 0..total {
            batch.iov[i] = libc::iovec {
                iov_base: batch.bufs[i].as_mut_ptr().cast(),
                iov_len: batch.lens[i],
            };
            // SAFETY: as in recv_batch.
            let mut hdr: libc::mmsghdr = unsafe { std::mem::zeroed() };
            hdr.msg_hdr.msg_name = (&mut batch.addrs[i] as *mut libc::sockaddr_in).cast();
            hdr.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
            hdr.msg_hdr.msg_iov = &mut batch.iov[i];
            hdr.msg_hdr.msg_iovlen = 1;
            batch.headers[i] = hdr;
        }
        let mut start = 0;
        while start < total {
            // SAFETY: headers[start..total] were filled above and point into
            // buffers owned by `batch`.
            let n = unsafe {
                libc::sendmmsg(
                    self.socket.as_raw_fd(),
                    batch.headers[start..].as_mut_ptr(),
                    (total - start) as u32,
                    0,
                )
            };
            if n <= 0 {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                // Skip the datagram the kernel refused (e.g. no route) and go on.
                failed += 1;
                start += 1;
            } else {
                sent += n as usize;
                start += n as usize;
            }
        }
        batch.len = 0;
        (sent, failed)
    }
}

/// Buffers for one `recvmmsg`, allocated once.
pub struct RecvBatch {
    bufs: Vec<Box<[u8]>>,
    iov: Vec<libc::iovec>,
    addrs: Vec<libc::sockaddr_in>,
    headers: Vec<libc::mmsghdr>,
    len: usize,
}

// SAFETY: the raw pointers inside iovec/mmsghdr are only scratch that is
// rewritten before every syscall; they never outlive a call.
unsafe impl Send for RecvBatch {}

impl RecvBatch {
    pub fn new(count: usize, datagram_size: usize) -> Self {
        RecvBatch {
            bufs: (0..count)
                .map(|_| vec![0u8; datagram_size].into_boxed_slice())
                .collect(),
            iov: vec![empty_iovec(); count],
            addrs: vec![empty_sockaddr(); count],
            // SAFETY: all-zero mmsghdr is valid (null pointers, zero lengths).
            headers: (0..count).map(|_| unsafe { std::mem::zeroed() }).collect(),
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The `i`-th received datagram and its sender.
    pub fn get(&self, i: usize) -> Option<(SocketAddr, &[u8])> {
        if i >= self.len {
            return None;
        }
        let len = (self.headers[i].msg_len as usize).min(self.bufs[i].len());
        let from = sockaddr_to_std(&self.addrs[i]);
        Some((from, &self.bufs[i][..len]))
    }
}

/// Datagrams queued for one `sendmmsg`, buffers allocated once.
pub struct SendBatch {
    bufs: Vec<Box<[u8]>>,
    lens: Vec<usize>,
    iov: Vec<libc::iovec>,
    addrs: Vec<libc::sockaddr_in>,
    headers: Vec<libc::mmsghdr>,
    len: usize,
}

// SAFETY: see RecvBatch.
unsafe impl Send for SendBatch {}

impl SendBatch {
    pub fn new(count: usize, datagram_size: usize) -> Self {
        SendBatch {
            bufs: (0..count)
                .map(|_| vec![0u8; datagram_size].into_boxed_slice())
                .collect(),
            lens: vec![0; count],
            iov: vec![empty_iovec(); count],
            addrs: vec![empty_sockaddr(); count],
            // SAFETY: all-zero mmsghdr is valid.
            headers: (0..count).map(|_| unsafe { std::mem::zeroed() }).collect(),
            len: 0,
        }
    }

    pub fn is_full(&self) -> bool {
        self.len == self.bufs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Queued datagrams.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The queued datagrams with their destinations, in order: what
    /// [`TunnelSocket::send_batch`] would send (an in-process network hands
    /// them on instead).
    pub fn iter(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> + '_ {
        self.bufs[..self.len]
            .iter()
            .zip(&self.lens)
            .zip(&self.addrs)
            .map(|((buf, &len), addr)| (SocketAddr::V4(sockaddr_to_std_v4(addr)), &buf[..len]))
    }

    /// Forgets the queued datagrams (after handing them on).
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// The next free buffer; commit it with [`SendBatch::commit`]. `None`
    /// when full (flush first).
    pub fn next_buffer(&mut self) -> Option<&mut [u8]> {
        self.bufs.get_mut(self.len).map(|b| &mut b[..])
    }

    /// Queues the datagram written into the buffer [`SendBatch::next_buffer`] returned.
    /// IPv6 destinations are not queued (the tunnel socket is IPv4).
    pub fn commit(&mut self, len: usize, to: SocketAddr) -> bool {
        let SocketAddr::V4(v4) = to else {
            return false;
        };
        if self.len >= self.bufs.len() {
            return false;
        }
        self.lens[self.len] = len.min(self.bufs[self.len].len());
        self.addrs[self.len] = std_to_sockaddr(v4);
        self.len += 1;
        true
    }
}

/// `SO_RCVBUFFORCE` / `SO_SNDBUFFORCE`: like the plain options but not capped
/// by `net.core.{r,w}mem_max` (needs CAP_NET_ADMIN).
fn set_buffer_force(socket: &Socket, option: libc::c_int) -> io::Result<()> {
    let value = SOCKET_BUFFER_BYTES as libc::c_int;
    // SAFETY: setsockopt with a pointer to a live c_int and its size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn empty_iovec() -> libc::iovec {
    libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }
}

fn empty_sockaddr() -> libc::sockaddr_in {
    // SAFETY: sockaddr_in is plain old data; all-zero is valid.
    unsafe { MaybeUninit::zeroed().assume_init() }
}

fn sockaddr_to_std(a: &libc::sockaddr_in) -> SocketAddr {
    SocketAddr::V4(sockaddr_to_std_v4(a))
}

fn sockaddr_to_std_v4(a: &libc::sockaddr_in) -> SocketAddrV4 {
    let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
    SocketAddrV4::new(ip, u16::from_be(a.sin_port))
}

fn std_to_sockaddr(a: SocketAddrV4) -> libc::sockaddr_in {
    let mut s = empty_sockaddr();
    s.sin_family = libc::AF_INET as libc::sa_family_t;
    s.sin_port = a.port().to_be();
    s.sin_addr.s_addr = u32::from(*a.ip()).to_be();
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_round_trip_on_loopback() {
        let a = TunnelSocket::bind(0).unwrap();
        let b = TunnelSocket::bind(0).unwrap();
        let b_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, b.local_addr().unwrap().port()));
        let mut out = SendBatch::new(8, 128);
        for i in 0..5u8 {
            let buf = out.next_buffer().unwrap();
            buf[..3].copy_from_slice(&[i, i, i]);
            assert!(out.commit(3, b_addr));
        }
        assert_eq!(a.send_batch(&mut out), (5, 0));
        assert!(out.is_empty());
        let mut inb = RecvBatch::new(8, 128);
        let mut seen = Vec::new();
        while seen.len() < 5 {
            let n = b.recv_batch(&mut inb).unwrap();
            assert!(n > 0, "datagrams lost on loopback");
            for i in 0..n {
                let (from, data) = inb.get(i).unwrap();
                assert_eq!(from.port(), a.local_addr().unwrap().port());
                seen.push(data.to_vec());
            }
        }
        assert_eq!(seen, (0..5u8).map(|i| vec![i, i, i]).collect::<Vec<_>>());
    }

    #[test]
    fn queued_datagrams_can_be_read_back_and_cleared() {
        let to: SocketAddr = "192.0.2.7:4500".parse().unwrap();
        let mut out = SendBatch::new(4, 16);
        for i in 1..=2u8 {
            out.next_buffer().unwrap()[..usize::from(i)].fill(i);
            assert!(out.commit(usize::from(i), to));
        }
        let queued: Vec<_> = out.iter().map(|(d, b)| (d, b.to_vec())).collect();
        assert_eq!(queued, vec![(to, vec![1]), (to, vec![2, 2])]);
        assert_eq!(out.len(), 2);
        out.clear();
        assert!(out.is_empty());
        assert_eq!(out.iter().count(), 0);
    }

    #[test]
    fn ipv6_destination_is_refused_not_queued() {
        let mut out = SendBatch::new(2, 16);
        assert!(!out.commit(1, "[::1]:4500".parse().unwrap()));
        assert!(out.is_empty());
    }
}
