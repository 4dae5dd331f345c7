//! The tunnel's UDP socket, batched: `recvmmsg` / `sendmmsg` over a socket built
//! with socket2 (large buffers, so bursts are not lost at the receive queue the
//! way they are for wireguard-go and boringtun-cli — see dataplane.md), with
//! UDP GSO and GRO where the kernel has them (see [`super::udp_offload`]).

use super::udp_offload::{
    attach_segment_size, detach_control, gro_segment_size, gso_groups, gso_supported,
    set_udp_option, ControlBuffer, CONTROL_LEN, MAX_SEGMENTS, UDP_GRO,
};
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::mem::MaybeUninit;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Datagrams per `recvmmsg`/`sendmmsg` call.
pub const BATCH: usize = 64;
/// Largest datagram we accept: a 65,535-byte IP packet cannot carry more.
pub const MAX_DATAGRAM: usize = 65_535;
/// Socket buffers: 8 MiB absorbs ~5,800 full-size datagrams of burst.
const SOCKET_BUFFER_BYTES: usize = 8 << 20;
/// How often a blocked receive returns so the loop can notice shutdown.
const RECV_POLL: Duration = Duration::from_millis(200);

/// Set to `off` to run without UDP GSO/GRO (to measure what they buy, or to
/// rule them out when debugging).
pub const OFFLOAD_ENV: &str = "GATEWAY_UDP_OFFLOAD";

/// The gateway's UDP socket (IPv4, `0.0.0.0:port`).
pub struct TunnelSocket {
    socket: UdpSocket,
    /// GSO sends in use; cleared for good at the first send the kernel refuses.
    gso: Arc<AtomicBool>,
    /// The kernel coalesces received datagrams (UDP_GRO accepted at bind).
    gro: bool,
}

impl TunnelSocket {
    /// Binds `0.0.0.0:port` with large buffers. `SO_RCVBUFFORCE` needs
    /// CAP_NET_ADMIN (which the gateway has); without it the kernel caps the
    /// buffer at `net.core.rmem_max`, which still works, only with less slack.
    pub fn bind(port: u16) -> io::Result<Self> {
        let offload = std::env::var(OFFLOAD_ENV).map_or(true, |v| v != "off");
        Self::bind_with(port, offload)
    }

    /// [`TunnelSocket::bind`], with UDP GSO/GRO tried (`offload`) or not.
    pub fn bind_with(port: u16, offload: bool) -> io::Result<Self> {
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        // No SO_REUSEADDR: for UDP it would let a second gateway bind the same
        // port and silently take over part of the traffic. A stale gateway's
        // port must make the new one fail to start, loudly.
        if set_buffer_force(&socket, libc::SO_RCVBUFFORCE).is_err() {
            socket.set_recv_buffer_size(SOCKET_BUFFER_BYTES)?;
        }
        if set_buffer_force(&socket, libc::SO_SNDBUFFORCE).is_err() {
            socket.set_send_buffer_size(SOCKET_BUFFER_BYTES)?;
        }
        let addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port));
        socket.bind(&addr.into())?;
        socket.set_read_timeout(Some(RECV_POLL))?;
        let fd = socket.as_raw_fd();
        let gso = offload && gso_supported(fd);
        let gro = offload && set_udp_option(fd, UDP_GRO, 1);
        tracing::debug!(gso, gro, "UDP offloads");
        Ok(TunnelSocket {
            socket: socket.into(),
            gso: Arc::new(AtomicBool::new(gso)),
            gro,
        })
    }

    /// (GSO, GRO) in use, for logs and status.
    pub fn offloads(&self) -> (bool, bool) {
        (self.gso.load(Ordering::Relaxed), self.gro)
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    pub fn try_clone(&self) -> io::Result<Self> {
        Ok(TunnelSocket {
            socket: self.socket.try_clone()?,
            gso: Arc::clone(&self.gso),
            gro: self.gro,
        })
    }

    /// Sends one datagram (slow path: handshakes, cookies, keepalives).
    pub fn send_to(&self, datagram: &[u8], to: SocketAddr) -> io::Result<usize> {
        self.socket.send_to(datagram, to)
    }

    /// Receives up to `batch.capacity()` messages with one `recvmmsg`,
    /// blocking until at least one arrives or the poll interval passes
    /// (then `Ok(0)`). Returns the number of datagrams: with GRO one message
    /// can hold many, which [`RecvBatch::get`] hands out one by one.
    pub fn recv_batch(&self, batch: &mut RecvBatch) -> io::Result<usize> {
        self.recv_batch_with(batch, libc::MSG_WAITFORONE)
    }

    /// As [`recv_batch`](Self::recv_batch), but returns 0 at once when
    /// nothing is queued (for a thread that polled the socket itself).
    pub fn try_recv_batch(&self, batch: &mut RecvBatch) -> io::Result<usize> {
        self.recv_batch_with(batch, libc::MSG_DONTWAIT)
    }

    /// The socket's descriptor, for a poll that watches it with others.
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.socket.as_raw_fd()
    }

    fn recv_batch_with(&self, batch: &mut RecvBatch, flags: libc::c_int) -> io::Result<usize> {
        batch.segments.clear();
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
            if self.gro {
                hdr.msg_hdr.msg_control = batch.controls[i].as_mut_ptr().cast();
                hdr.msg_hdr.msg_controllen = CONTROL_LEN;
            }
            batch.headers[i] = hdr;
        }
        // SAFETY: headers, iovecs, addresses, control and data buffers are
        // owned by `batch` and outlive the call; the kernel writes at most the
        // lengths given.
        let got = unsafe {
            libc::recvmmsg(
                self.socket.as_raw_fd(),
                batch.headers.as_mut_ptr(),
                n as u32,
                flags,
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
        for i in 0..got as usize {
            let hdr = &batch.headers[i];
            let total = (hdr.msg_len as usize).min(batch.bufs[i].len());
            let stride = gro_segment_size(&hdr.msg_hdr).unwrap_or(total).max(1);
            let mut offset = 0;
            while offset < total {
                let len = stride.min(total - offset);
                batch.segments.push((i as u32, offset as u32, len as u32));
                offset += len;
            }
            if total == 0 {
                batch.segments.push((i as u32, 0, 0)); // an empty datagram is still one
            }
        }
        Ok(batch.segments.len())
    }

    /// Sends every queued datagram with as few syscalls as the kernel allows
    /// (GSO groups within one `sendmmsg` when available), then clears the
    /// queue. Returns (sent, failed) datagram counts; a failed datagram is
    /// dropped (UDP is lossy anyway) and reported to the caller.
    pub fn send_batch(&self, batch: &mut SendBatch) -> (usize, usize) {
        let total = batch.len;
        for i in 0..total {
            batch.iov[i] = libc::iovec {
                iov_base: batch.bufs[i].as_mut_ptr().cast(),
                iov_len: batch.lens[i],
            };
        }
        let (mut sent, mut failed) = (0, 0);
        let mut from = 0;
        while from < total {
            let gso = self.gso.load(Ordering::Relaxed);
            let groups = batch.build_headers(from, gso);
            let mut next = 0;
            while next < groups {
                // SAFETY: headers[next..groups] were filled by build_headers and
                // point into iovecs, addresses and buffers owned by `batch`.
                let n = unsafe {
                    libc::sendmmsg(
                        self.socket.as_raw_fd(),
                        batch.headers[next..groups].as_mut_ptr(),
                        (groups - next) as u32,
                        0,
                    )
                };
                if n > 0 {
                    for g in next..next + n as usize {
                        sent += batch.groups[g].1;
                    }
                    next += n as usize;
                    continue;
                }
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                let count = batch.groups[next].1;
                if count > 1 && matches!(err.raw_os_error(), Some(libc::EIO | libc::EINVAL)) {
                    // No checksum offload on the egress device: plain sends from here on.
                    tracing::info!(error = %err, "UDP GSO refused by the kernel; sending datagrams one by one");
                    self.gso.store(false, Ordering::Relaxed);
                    break;
                }
                // Skip what the kernel refused (e.g. no route) and go on.
                failed += count;
                next += 1;
            }
            from = if next < groups {
                batch.groups[next].0 // resend the refused GSO group without GSO
            } else {
                total
            };
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
    controls: Vec<ControlBuffer>,
    /// (message, offset, length) of each datagram received, GRO split.
    segments: Vec<(u32, u32, u32)>,
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
            controls: vec![[0; 4]; count],
            segments: Vec::with_capacity(count * MAX_SEGMENTS),
        }
    }

    /// Datagrams received by the last `recv_batch`.
    pub fn len(&self) -> usize {
        self.segments.len()
    }

    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// How many messages the last `recv_batch` read (a GRO message holds
    /// several datagrams); the batch's capacity when the socket had more.
    pub fn messages_read(&self) -> usize {
        self.segments
            .last()
            .map_or(0, |&(msg, _, _)| msg as usize + 1)
    }

    /// How many message slots a read fills at most.
    pub fn capacity(&self) -> usize {
        self.bufs.len()
    }

    /// The `i`-th received datagram and its sender.
    pub fn get(&self, i: usize) -> Option<(SocketAddr, &[u8])> {
        let &(msg, offset, len) = self.segments.get(i)?;
        let (msg, offset, len) = (msg as usize, offset as usize, len as usize);
        let from = sockaddr_to_std(self.addrs.get(msg)?);
        Some((from, self.bufs.get(msg)?.get(offset..offset + len)?))
    }
}

/// Datagrams queued for one `sendmmsg`, buffers allocated once.
pub struct SendBatch {
    bufs: Vec<Box<[u8]>>,
    lens: Vec<usize>,
    iov: Vec<libc::iovec>,
    addrs: Vec<libc::sockaddr_in>,
    /// Each datagram's destination as one comparable number (GSO grouping).
    destinations: Vec<u64>,
    /// One header and control buffer per GSO group (at most one per datagram).
    headers: Vec<libc::mmsghdr>,
    controls: Vec<ControlBuffer>,
    /// (first datagram, count) of each header's group.
    groups: Vec<(usize, usize)>,
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
            destinations: vec![0; count],
            // SAFETY: all-zero mmsghdr is valid.
            headers: (0..count).map(|_| unsafe { std::mem::zeroed() }).collect(),
            controls: vec![[0; 4]; count],
            groups: Vec::with_capacity(count),
            len: 0,
        }
    }

    /// Fills one header per group of the datagrams `from..len` (GSO groups,
    /// or one datagram each without GSO); returns the number of headers.
    fn build_headers(&mut self, from: usize, gso: bool) -> usize {
        self.groups.clear();
        if gso {
            let groups = gso_groups(
                &self.lens[from..self.len],
                &self.destinations[from..self.len],
            );
            self.groups
                .extend(groups.map(|(start, count)| (from + start, count)));
        } else {
            self.groups.extend((from..self.len).map(|i| (i, 1)));
        }
        for (g, &(start, count)) in self.groups.iter().enumerate() {
            // SAFETY: all-zero mmsghdr is valid; the pointers set below point
            // into vectors of `self` that are not resized while in use.
            let mut hdr: libc::mmsghdr = unsafe { std::mem::zeroed() };
            hdr.msg_hdr.msg_name = (&mut self.addrs[start] as *mut libc::sockaddr_in).cast();
            hdr.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
            hdr.msg_hdr.msg_iov = &mut self.iov[start];
            hdr.msg_hdr.msg_iovlen = count;
            if count > 1 {
                // Segment size = the group's first (longest) datagram; at most 65,535.
                let size = u16::try_from(self.lens[start]).unwrap_or(u16::MAX);
                attach_segment_size(&mut hdr.msg_hdr, &mut self.controls[g], size);
            } else {
                detach_control(&mut hdr.msg_hdr);
            }
            self.headers[g] = hdr;
        }
        self.groups.len()
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
        self.destinations[self.len] = u64::from(u32::from(*v4.ip())) << 16 | u64::from(v4.port());
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

    /// Eleven datagrams to one destination (ten of 1,000 bytes, one of 500)
    /// and one elsewhere, sent with and without offloads on either side:
    /// every datagram arrives whole, in order, however the kernel glued them.
    #[test]
    fn gso_groups_and_gro_segments_arrive_as_the_datagrams_sent() {
        for (send_offload, recv_offload) in [(true, true), (true, false), (false, true)] {
            let a = TunnelSocket::bind_with(0, send_offload).unwrap();
            let b = TunnelSocket::bind_with(0, recv_offload).unwrap();
            let c = TunnelSocket::bind_with(0, false).unwrap();
            let to = |s: &TunnelSocket| {
                SocketAddr::from((Ipv4Addr::LOCALHOST, s.local_addr().unwrap().port()))
            };
            let mut out = SendBatch::new(16, 2048);
            let mut want = Vec::new();
            for i in 0..11u8 {
                let len = if i == 10 { 500 } else { 1000 };
                let datagram: Vec<u8> = (0..len).map(|j| i ^ (j as u8)).collect();
                out.next_buffer().unwrap()[..len].copy_from_slice(&datagram);
                assert!(out.commit(len, to(&b)));
                want.push(datagram);
            }
            out.next_buffer().unwrap()[..3].copy_from_slice(b"elsewhere"[..3].as_ref());
            assert!(out.commit(3, to(&c)));
            assert_eq!(
                a.send_batch(&mut out),
                (12, 0),
                "offloads {send_offload}/{recv_offload}"
            );

            let mut inb = RecvBatch::new(8, MAX_DATAGRAM);
            let mut got = Vec::new();
            while got.len() < want.len() {
                let n = b.recv_batch(&mut inb).unwrap();
                assert!(n > 0, "datagrams lost on loopback");
                let messages = inb.segments.iter().map(|s| s.0).max().unwrap() + 1;
                if send_offload && recv_offload {
                    // One GSO send of the 11, delivered to a GRO socket whole.
                    assert_eq!((n, messages), (11, 1), "GSO+GRO on loopback");
                }
                got.extend((0..n).map(|i| inb.get(i).unwrap().1.to_vec()));
            }
            assert_eq!(got, want, "offloads {send_offload}/{recv_offload}");
            let mut other = RecvBatch::new(2, 64);
            assert_eq!(c.recv_batch(&mut other).unwrap(), 1);
            assert_eq!(other.get(0).unwrap().1, b"els");
        }
    }

    #[test]
    fn offloads_are_on_where_the_kernel_has_them() {
        let s = TunnelSocket::bind_with(0, true).unwrap();
        assert_eq!(
            s.offloads(),
            (true, true),
            "this kernel has UDP GSO and GRO (Linux ≥ 5.0)"
        );
        let s = TunnelSocket::bind_with(0, false).unwrap();
        assert_eq!(s.offloads(), (false, false));
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
    fn a_second_socket_cannot_take_the_same_port() {
        let first = TunnelSocket::bind(0).unwrap();
        let port = first.local_addr().unwrap().port();
        let second = TunnelSocket::bind(port);
        assert_eq!(
            second.err().map(|e| e.kind()),
            Some(io::ErrorKind::AddrInUse),
            "a second gateway on the same port must fail to start"
        );
    }

    #[test]
    fn ipv6_destination_is_refused_not_queued() {
        let mut out = SendBatch::new(2, 16);
        assert!(!out.commit(1, "[::1]:4500".parse().unwrap()));
        assert!(out.is_empty());
    }
}
