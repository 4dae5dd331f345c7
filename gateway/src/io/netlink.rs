//! Route management over rtnetlink, without `ip` and without iptables: the
//! gateway points each peer's global block (or routed CIDRs) at its TUN device
//! and removes those routes on exit.
//!
//! Only the two messages we need are encoded by hand (RTM_NEWROUTE and
//! RTM_DELROUTE with RTA_DST + RTA_OIF), each acknowledged by the kernel.

use ipnet::Ipv4Net;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const NLMSG_HDR_LEN: usize = 16;
const RTMSG_LEN: usize = 12;
const RTA_HDR_LEN: usize = 4;
/// Header + rtmsg + RTA_DST (4 + 4) + RTA_OIF (4 + 4).
const ROUTE_MSG_LEN: usize = NLMSG_HDR_LEN + RTMSG_LEN + (RTA_HDR_LEN + 4) * 2;

/// A netlink route socket.
pub struct RouteSocket {
    fd: OwnedFd,
    seq: u32,
}

/// Whether a route operation should create or delete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Replace,
    Delete,
}

impl RouteSocket {
    pub fn open() -> io::Result<Self> {
        // SAFETY: plain socket(2) call; the fd is owned below.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh, valid descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(RouteSocket { fd, seq: 1 })
    }

    /// `ip route replace DST dev IFINDEX`.
    pub fn replace_route(&mut self, dst: Ipv4Net, ifindex: u32) -> io::Result<()> {
        self.route(Op::Replace, dst, ifindex)
    }

    /// `ip route del DST dev IFINDEX`; a route that is already gone is fine.
    pub fn delete_route(&mut self, dst: Ipv4Net, ifindex: u32) -> io::Result<()> {
        match self.route(Op::Delete, dst, ifindex) {
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
            other => other,
        }
    }

    fn route(&mut self, op: Op, dst: Ipv4Net, ifindex: u32) -> io::Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let msg = encode_route(op, dst, ifindex, self.seq);
        // SAFETY: sending a fully initialised buffer to the kernel (pid 0).
        let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: msg and kernel outlive the call.
        let sent = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                msg.as_ptr().cast(),
                msg.len(),
                0,
                (&kernel as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        self.read_ack()
    }

    fn read_ack(&self) -> io::Result<()> {
        let mut buf = [0u8; 1024];
        // SAFETY: buf is valid for its length.
        let n = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        parse_ack(&buf[..n as usize], self.seq)
    }
}

fn encode_route(op: Op, dst: Ipv4Net, ifindex: u32, seq: u32) -> [u8; ROUTE_MSG_LEN] {
    let mut m = [0u8; ROUTE_MSG_LEN];
    let (msg_type, flags) = match op {
        Op::Replace => (
            libc::RTM_NEWROUTE,
            libc::NLM_F_REQUEST | libc::NLM_F_ACK | libc::NLM_F_CREATE | libc::NLM_F_REPLACE,
        ),
        Op::Delete => (libc::RTM_DELROUTE, libc::NLM_F_REQUEST | libc::NLM_F_ACK),
    };
    m[0..4].copy_from_slice(&(ROUTE_MSG_LEN as u32).to_ne_bytes());
    m[4..6].copy_from_slice(&msg_type.to_ne_bytes());
    m[6..8].copy_from_slice(&(flags as u16).to_ne_bytes());
    m[8..12].copy_from_slice(&seq.to_ne_bytes());
    // pid 0: the kernel assigns ours.
    let r = NLMSG_HDR_LEN;
    m[r] = libc::AF_INET as u8; // rtm_family
    m[r + 1] = dst.prefix_len(); // rtm_dst_len
    m[r + 4] = libc::RT_TABLE_MAIN;
    m[r + 5] = libc::RTPROT_STATIC;
    m[r + 6] = libc::RT_SCOPE_LINK;
    m[r + 7] = libc::RTN_UNICAST;
    let a = r + RTMSG_LEN;
    put_attr(&mut m[a..a + 8], libc::RTA_DST, &dst.network().octets());
    put_attr(&mut m[a + 8..a + 16], libc::RTA_OIF, &ifindex.to_ne_bytes());
    m
}

fn put_attr(out: &mut [u8], kind: u16, value: &[u8; 4]) {
    out[0..2].copy_from_slice(&((RTA_HDR_LEN + 4) as u16).to_ne_bytes());
    out[2..4].copy_from_slice(&kind.to_ne_bytes());
    out[4..8].copy_from_slice(value);
}

/// Parses the kernel's NLMSG_ERROR acknowledgement (error 0 = success).
fn parse_ack(buf: &[u8], seq: u32) -> io::Result<()> {
    let field = |range: std::ops::Range<usize>| -> io::Result<[u8; 4]> {
        buf.get(range)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "short netlink reply"))
    };
    let msg_type = u16::from_ne_bytes([
        buf.get(4).copied().unwrap_or(0),
        buf.get(5).copied().unwrap_or(0),
    ]);
    if msg_type != libc::NLMSG_ERROR as u16 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "unexpected netlink reply",
        ));
    }
    if u32::from_ne_bytes(field(8..12)?) != seq {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "netlink reply out of sequence",
        ));
    }
    let errno = i32::from_ne_bytes(field(NLMSG_HDR_LEN..NLMSG_HDR_LEN + 4)?);
    if errno == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(-errno))
    }
}

/// The kernel's index for a device name.
pub fn ifindex(name: &str) -> io::Result<u32> {
    let c = CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in name"))?;
    // SAFETY: c is a valid NUL-terminated string.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(idx)
    }
}

/// Routes installed by the gateway, removed again on drop (clean exit).
pub struct InstalledRoutes {
    socket: RouteSocket,
    ifindex: u32,
    routes: Vec<Ipv4Net>,
}

impl InstalledRoutes {
    pub fn new(ifindex: u32) -> io::Result<Self> {
        Ok(InstalledRoutes {
            socket: RouteSocket::open()?,
            ifindex,
            routes: Vec::new(),
        })
    }

    /// Makes the installed set exactly `wanted`: adds the missing, removes the rest.
    pub fn sync(&mut self, wanted: &[Ipv4Net]) -> io::Result<()> {
        for dst in wanted {
            self.socket.replace_route(*dst, self.ifindex)?;
            if !self.routes.contains(dst) {
                self.routes.push(*dst);
            }
        }
        let stale: Vec<Ipv4Net> = self
            .routes
            .iter()
            .filter(|r| !wanted.contains(r))
            .copied()
            .collect();
        for dst in stale {
            self.socket.delete_route(dst, self.ifindex)?;
            self.routes.retain(|r| *r != dst);
        }
        Ok(())
    }

    pub fn routes(&self) -> &[Ipv4Net] {
        &self.routes
    }
}

impl Drop for InstalledRoutes {
    fn drop(&mut self) {
        for dst in std::mem::take(&mut self.routes) {
            if let Err(e) = self.socket.delete_route(dst, self.ifindex) {
                tracing::warn!(route = %dst, error = %e, "could not remove route on exit");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_message_layout() {
        let m = encode_route(Op::Replace, "243.0.0.0/16".parse().unwrap(), 7, 42);
        assert_eq!(
            u32::from_ne_bytes(m[0..4].try_into().unwrap()) as usize,
            ROUTE_MSG_LEN
        );
        assert_eq!(
            u16::from_ne_bytes(m[4..6].try_into().unwrap()),
            libc::RTM_NEWROUTE
        );
        assert_eq!(m[16], libc::AF_INET as u8);
        assert_eq!(m[17], 16);
        assert_eq!(&m[32..36], &[243, 0, 0, 0]);
        assert_eq!(u32::from_ne_bytes(m[40..44].try_into().unwrap()), 7);
    }

    #[test]
    fn ack_parsing_reports_errno_and_rejects_garbage() {
        let mut ack = [0u8; 36];
        ack[4..6].copy_from_slice(&(libc::NLMSG_ERROR as u16).to_ne_bytes());
        ack[8..12].copy_from_slice(&5u32.to_ne_bytes());
        assert!(parse_ack(&ack, 5).is_ok());
        ack[16..20].copy_from_slice(&(-libc::EPERM).to_ne_bytes());
        assert_eq!(
            parse_ack(&ack, 5).unwrap_err().raw_os_error(),
            Some(libc::EPERM)
        );
        assert!(parse_ack(&ack, 6).is_err());
        assert!(parse_ack(&[1, 2, 3], 5).is_err());
    }
}
