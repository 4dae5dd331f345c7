//! UDP segmentation offloads (Linux ≥ 4.18 for GSO, ≥ 5.0 for GRO):
//!
//! - **GSO** (`UDP_SEGMENT`): one `sendmsg` carries up to 64 equal-size
//!   datagrams (the last may be shorter) to one destination; the kernel (or
//!   the NIC) splits them. After a TSO superpacket is split and sealed, its
//!   datagrams are exactly that: one syscall and one trip down the stack
//!   instead of 45.
//! - **GRO** (`UDP_GRO`): the kernel hands us several datagrams of one flow
//!   glued together, with their size in a control message; we split them.
//!
//! Both are probed at bind time and GSO is turned off at the first send the
//! kernel refuses with `EIO` (a device without checksum offload), so the
//! plain `sendmmsg`/`recvmmsg` path stays the fallback.

use std::os::fd::RawFd;

/// `linux/udp.h`: the libc crate does not export these for glibc targets.
pub const UDP_SEGMENT: libc::c_int = 103;
pub const UDP_GRO: libc::c_int = 104;
/// The kernel refuses a GSO send of more segments (`UDP_MAX_SEGMENTS`).
pub const MAX_SEGMENTS: usize = 64;
/// A GSO send is one IP packet before segmentation: 65,535 − IPv4 20 − UDP 8.
pub const MAX_GSO_BYTES: usize = 65_535 - 20 - 8;

/// Room for one control message with a u16/int payload: CMSG_SPACE(4) is
/// 16 (header) + 8 (payload rounded to 8) on 64-bit Linux; 32 leaves slack.
/// As u64s so the buffer is aligned for `cmsghdr`.
pub type ControlBuffer = [u64; 4];
pub const CONTROL_LEN: usize = std::mem::size_of::<ControlBuffer>();

/// Sets an integer socket option at `SOL_UDP`; true if the kernel accepted it.
pub fn set_udp_option(fd: RawFd, option: libc::c_int, value: libc::c_int) -> bool {
    // SAFETY: setsockopt with a pointer to a live c_int and its size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_UDP,
            option,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    rc == 0
}

/// True if the kernel knows `UDP_SEGMENT` (setting a 0 size is a no-op).
pub fn gso_supported(fd: RawFd) -> bool {
    set_udp_option(fd, UDP_SEGMENT, 0)
}

/// Writes a `UDP_SEGMENT` control message (segment size `size`) into
/// `control` and points `hdr` at it.
pub fn attach_segment_size(hdr: &mut libc::msghdr, control: &mut ControlBuffer, size: u16) {
    *control = [0; 4];
    hdr.msg_control = control.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE is arithmetic on its argument.
    hdr.msg_controllen = unsafe { libc::CMSG_SPACE(std::mem::size_of::<u16>() as u32) } as usize;
    // SAFETY: msg_control points at CONTROL_LEN ≥ CMSG_SPACE(2) aligned bytes,
    // so CMSG_FIRSTHDR is non-null and the header and data fit inside.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(hdr);
        (*cmsg).cmsg_level = libc::SOL_UDP;
        (*cmsg).cmsg_type = UDP_SEGMENT;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<u16>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<u16>(), size);
    }
}

/// Removes any control message from `hdr`.
pub fn detach_control(hdr: &mut libc::msghdr) {
    hdr.msg_control = std::ptr::null_mut();
    hdr.msg_controllen = 0;
}

/// The GRO segment size the kernel reported for a received message, if any.
pub fn gro_segment_size(hdr: &libc::msghdr) -> Option<usize> {
    if hdr.msg_control.is_null() || hdr.msg_controllen == 0 {
        return None;
    }
    // SAFETY: the kernel wrote msg_controllen bytes of well-formed control
    // messages into our buffer; CMSG_FIRSTHDR/NXTHDR stay inside it.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(hdr);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_UDP && (*cmsg).cmsg_type == UDP_GRO {
                let size = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>());
                return usize::try_from(size).ok().filter(|&s| s > 0);
            }
            cmsg = libc::CMSG_NXTHDR(hdr, cmsg);
        }
    }
    None
}

/// Splits the datagrams of a send queue into GSO groups: runs to one
/// destination where every datagram has the first one's length except the
/// last, which may be shorter, within the kernel's limits. Yields
/// (start, count) pairs covering `0..lens.len()` in order.
pub fn gso_groups<'a, A: PartialEq>(
    lens: &'a [usize],
    destinations: &'a [A],
) -> impl Iterator<Item = (usize, usize)> + 'a {
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= lens.len() {
            return None;
        }
        let size = lens[start];
        let mut count = 1;
        let mut total = size;
        while start + count < lens.len() && count < MAX_SEGMENTS {
            let i = start + count;
            let fits = destinations[i] == destinations[start]
                && lens[i] <= size
                && lens[i] > 0
                && total + lens[i] <= MAX_GSO_BYTES;
            if !fits {
                break;
            }
            total += lens[i];
            count += 1;
            if lens[i] < size {
                break; // a shorter datagram ends the group
            }
        }
        let group = (start, count);
        start += count;
        Some(group)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(lens: &[usize], dst: &[u8]) -> Vec<(usize, usize)> {
        gso_groups(lens, dst).collect()
    }

    #[test]
    fn equal_sizes_to_one_destination_are_one_group_ended_by_a_shorter_one() {
        assert_eq!(
            groups(&[1452, 1452, 1452, 900, 1452], &[1; 5]),
            vec![(0, 4), (4, 1)]
        );
        assert_eq!(groups(&[1452; 3], &[1, 1, 2]), vec![(0, 2), (2, 1)]);
        assert_eq!(
            groups(&[100, 200], &[1, 1]),
            vec![(0, 1), (1, 1)],
            "a longer one starts a new group"
        );
        assert_eq!(groups(&[], &[]), vec![]);
    }

    #[test]
    fn groups_respect_the_kernel_limits() {
        // 64 segments at most.
        let lens = vec![100; 130];
        let got = groups(&lens, &[0u8; 130]);
        assert_eq!(got, vec![(0, 64), (64, 64), (128, 2)]);
        // And ≤ 65,507 bytes: 45 × 1452 = 65,340 fits, 46 does not.
        let lens = vec![1452; 50];
        let got = groups(&lens, &[0u8; 50]);
        assert_eq!(got, vec![(0, 45), (45, 5)]);
        assert!(got
            .iter()
            .all(|&(s, n)| lens[s..s + n].iter().sum::<usize>() <= MAX_GSO_BYTES));
    }

    #[test]
    fn segment_size_control_message_round_trips() {
        // SAFETY: zeroed msghdr is valid.
        let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
        let mut control: ControlBuffer = [0; 4];
        attach_segment_size(&mut hdr, &mut control, 1452);
        assert!(hdr.msg_controllen <= CONTROL_LEN);
        // SAFETY: as in attach_segment_size.
        let (level, kind, value) = unsafe {
            let c = libc::CMSG_FIRSTHDR(&hdr);
            (
                (*c).cmsg_level,
                (*c).cmsg_type,
                std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<u16>()),
            )
        };
        assert_eq!((level, kind, value), (libc::SOL_UDP, UDP_SEGMENT, 1452));
        detach_control(&mut hdr);
        assert_eq!(gro_segment_size(&hdr), None);
    }
}
