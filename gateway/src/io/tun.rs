//! The TUN device, with offloads: one read returns a TCP superpacket that
//! tun-rs splits into MTU-sized packets with complete checksums, and writes are
//! coalesced (GRO) before one `write()`. NAT happens after the split, where
//! checksums are complete (dataplane.md: "NAT after the split is simplest").

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::time::Duration;
use tun_rs::{DeviceBuilder, GROTable, SyncDevice};

pub use tun_rs::{IDEAL_BATCH_SIZE, VIRTIO_NET_HDR_LEN};

/// Bytes in front of every packet buffer: room for the virtio header that
/// offloaded reads and writes carry.
pub const HEADROOM: usize = VIRTIO_NET_HDR_LEN;
/// A superpacket read: 64 KiB of IP plus the virtio header.
pub const SUPERPACKET: usize = 65_535 + VIRTIO_NET_HDR_LEN;
/// Transmit queue: the default 500 drops bursts; 5,000 packets ≈ 7 MB at 1420 B.
const TX_QUEUE_LEN: u32 = 5_000;
/// Packet buffers per read batch: room for several reads, each of which may
/// split into up to [`MAX_SPLIT`] packets.
pub const READ_BATCH: usize = 2 * IDEAL_BATCH_SIZE;
/// Most packets one read can split into: a 64 KiB superpacket of 536-byte
/// segments (the smallest MSS most stacks use) is 123; tun-rs sizes for 128.
const MAX_SPLIT: usize = IDEAL_BATCH_SIZE;

/// Settings for the device the gateway creates.
#[derive(Clone, Debug)]
pub struct TunSettings {
    pub name: String,
    pub mtu: u16,
    pub address: Ipv4Addr,
}

/// Set to `off` to run the TUN without offloads (one packet per read and
/// write), to measure what they buy (docs/performance.md).
pub const OFFLOAD_ENV: &str = "GATEWAY_TUN_OFFLOAD";
/// Set to `off` to read one (super)packet per batch instead of draining the
/// queue, likewise.
pub const DRAIN_ENV: &str = "GATEWAY_TUN_DRAIN";

fn env_is_off(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "off")
}

/// The gateway's TUN device.
pub struct Tun {
    device: SyncDevice,
    name: String,
    /// Several reads per batch (see [`Tun::read_batch`]).
    drain: bool,
}

impl Tun {
    /// Creates the device, sets its address (/32) and MTU and brings it up.
    pub fn create(settings: &TunSettings) -> io::Result<Self> {
        let device = DeviceBuilder::new()
            .name(settings.name.clone())
            .mtu(settings.mtu)
            .ipv4(settings.address, 32u8, None)
            .offload(!env_is_off(OFFLOAD_ENV))
            .tx_queue_len(TX_QUEUE_LEN)
            .build_sync()?;
        // Non-blocking reads let read_batch drain what is queued without a
        // poll per packet, and let two threads share reading (daemon::workers).
        device.set_nonblocking(true)?;
        let name = device.name()?;
        Ok(Tun {
            device,
            name,
            drain: !env_is_off(DRAIN_ENV),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The device's descriptor, for the data path's poll (the TUN with the
    /// UDP socket, `daemon::solo`).
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.device.as_raw_fd()
    }

    /// Waits until the device has a packet to read, at most `timeout`
    /// (so the caller can notice shutdown). True if readable.
    pub fn wait_readable(&self, timeout: Duration) -> io::Result<bool> {
        let mut fd = libc::pollfd {
            fd: self.device.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let millis = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one valid pollfd, for the duration of the call.
        let n = unsafe { libc::poll(&mut fd, 1, millis) };
        if n < 0 {
            let err = io::Error::last_os_error();
            return match err.kind() {
                io::ErrorKind::Interrupted => Ok(false),
                _ => Err(err),
            };
        }
        Ok(n > 0 && fd.revents & libc::POLLIN != 0)
    }

    /// Reads what the device has queued, without blocking: (super)packets
    /// split into `bufs`, each packet at `HEADROOM`; returns how many (0 when
    /// nothing was queued). Several reads go into one batch (unless
    /// `GATEWAY_TUN_DRAIN=off`) so that non-TCP traffic, one packet per
    /// read, is still sealed and sent as a batch.
    pub fn read_batch(
        &self,
        scratch: &mut [u8],
        bufs: &mut [Vec<u8>],
        sizes: &mut [usize],
    ) -> io::Result<usize> {
        let mut total = 0;
        loop {
            match self.device.recv_multiple(
                scratch,
                &mut bufs[total..],
                &mut sizes[total..],
                HEADROOM,
            ) {
                Ok(n) => total += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                // A malformed read after others: hand over what we have.
                Err(_) if total > 0 => break,
                Err(e) => return Err(e),
            }
            if !self.drain || bufs.len() - total < MAX_SPLIT {
                break;
            }
        }
        Ok(total)
    }

    /// Writes packets (each at `HEADROOM` in its buffer), coalescing TCP
    /// segments of one flow into superpackets.
    pub fn send_batch(&self, gro: &mut GROTable, bufs: &mut [Vec<u8>]) -> io::Result<usize> {
        self.device.send_multiple(gro, bufs, HEADROOM)
    }

    /// Writes one plain packet (slow path: ICMP replies generated by the gateway).
    pub fn send_one(&self, packet: &[u8]) -> io::Result<usize> {
        let mut buf = vec![0u8; HEADROOM + packet.len()];
        buf[HEADROOM..].copy_from_slice(packet);
        let mut gro = GROTable::default();
        self.device.send_multiple(&mut gro, &mut [buf], HEADROOM)
    }
}
