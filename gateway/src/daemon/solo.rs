//! One data thread while the tunnel is quiet.
//!
//! An idle ping crosses each gateway's two data threads: `tun-rx` reads the
//! request from the TUN and sends it; the reply comes back to `udp-rx`. On
//! this kind of VM, waking a thread that sleeps on an idle vCPU costs ~40 µs
//! (the vCPU halted; its wake-up is an exit to the hypervisor), and the reply
//! found `udp-rx` asleep every time. `benches/tunnel/ping-timeline` showed
//! it: the reply's hop through A took 57 µs with us and 23 µs with
//! boringtun's single thread, whose reply wakes the thread that just sent the
//! request, on the CPU it just used.
//!
//! So while traffic is light, `tun-rx` reads both the TUN and the UDP socket
//! (one `poll` for both) and `udp-rx` is parked: **solo**. Once traffic is
//! busy (20,000 packets a second either way), `tun-rx` hands the socket to
//! `udp-rx`: **duo**, two threads and two CPUs for bulk. `udp-rx` hands it
//! back after a quiet moment. Exactly one thread reads the socket at any
//! time, and each hand-over happens between two batches, so the datagrams of
//! a flow are never handled by two threads at once (no reordering).
//!
//! ```text
//!   solo ──(tun-rx: ≥ 200 packets either way in 10 ms, or a full batch)──▶ duo
//!   duo  ──(udp-rx: a batch ≥ 5 ms after the one before, or none in 200 ms,
//!           while the TUN is not busy either)──▶ solo
//! ```

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Set to `off` to keep both threads on their own fds at all times.
pub const SOLO_ENV: &str = "GATEWAY_SOLO_WHEN_QUIET";
/// Solo → duo: this many packets (both ways) within [`BUSY_WINDOW`]
/// (20,000 a second, bulk scheduling's threshold too), where two threads on
/// two CPUs start to pay for their wake-ups.
const BUSY_PACKETS: u32 = 200;
const BUSY_WINDOW: Duration = Duration::from_millis(10);
/// Duo → solo: a batch that comes this long after the previous one. Bulk
/// traffic never pauses 5 ms; an interactive exchange does between turns.
pub const QUIET_GAP: Duration = Duration::from_millis(5);

/// Who reads the UDP socket: `tun-rx` alone (solo) or `udp-rx` (duo).
pub struct SocketOwner {
    solo: AtomicBool,
    enabled: bool,
    /// udp-rx parks here while solo.
    parked: Mutex<()>,
    handed_over: Condvar,
    /// In tun-rx's poll set: written when udp-rx hands the socket back, so
    /// tun-rx adds the socket to its poll at once, not after its timeout.
    wake_tun_rx: OwnedFd,
    /// tun-rx reads ≥ 20,000 packets a second from the TUN: udp-rx keeps
    /// the socket even when datagrams pause (a one-way upload with sparse
    /// replies would otherwise flap at every reply).
    tun_busy: AtomicBool,
    switches: AtomicU64,
}

impl SocketOwner {
    /// Starts solo when `enabled`; disabled, udp-rx owns the socket forever.
    pub fn new(enabled: bool) -> io::Result<Self> {
        // SAFETY: eventfd takes no pointers; a non-negative result is a new
        // descriptor that nothing else owns.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(SocketOwner {
            solo: AtomicBool::new(enabled),
            enabled,
            parked: Mutex::new(()),
            handed_over: Condvar::new(),
            // SAFETY: fd is a fresh, valid descriptor (checked above).
            wake_tun_rx: unsafe { OwnedFd::from_raw_fd(fd) },
            tun_busy: AtomicBool::new(false),
            switches: AtomicU64::new(0),
        })
    }

    /// From [`SOLO_ENV`]: on unless it is `off`.
    pub fn enabled_from_env() -> bool {
        std::env::var(SOLO_ENV).map_or(true, |v| v != "off")
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// tun-rx reads the socket now.
    pub fn is_solo(&self) -> bool {
        self.solo.load(Ordering::Acquire)
    }

    /// tun-rx: whether the TUN is busy (only on a change: not per batch).
    pub fn set_tun_busy(&self, busy: bool) {
        if self.tun_busy.load(Ordering::Relaxed) != busy {
            self.tun_busy.store(busy, Ordering::Relaxed);
        }
    }

    /// udp-rx: hand the socket back only while this is false.
    pub fn tun_busy(&self) -> bool {
        self.tun_busy.load(Ordering::Relaxed)
    }

    /// Hand-overs so far, both ways.
    pub fn switches(&self) -> u64 {
        self.switches.load(Ordering::Relaxed)
    }

    /// tun-rx, between two batches: udp-rx takes the socket from here on.
    pub fn hand_to_udp_rx(&self) {
        self.solo.store(false, Ordering::Release);
        self.switches.fetch_add(1, Ordering::Relaxed);
        // Under the lock: a udp-rx between its check and its wait still
        // gets the notification.
        let _parked = self.parked.lock().unwrap_or_else(PoisonError::into_inner);
        self.handed_over.notify_one();
    }

    /// udp-rx, between two batches: tun-rx takes the socket from here on.
    pub fn hand_to_tun_rx(&self) {
        if !self.enabled {
            return;
        }
        self.solo.store(true, Ordering::Release);
        self.switches.fetch_add(1, Ordering::Relaxed);
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a valid u64 to our eventfd. A full
        // counter (EAGAIN) already wakes tun-rx, so the result is moot.
        let _ = unsafe {
            libc::write(
                self.wake_tun_rx.as_raw_fd(),
                (&one as *const u64).cast(),
                std::mem::size_of::<u64>(),
            )
        };
    }

    /// udp-rx: waits up to `timeout` while tun-rx owns the socket; true when
    /// udp-rx owns it now.
    pub fn wait_for_socket(&self, timeout: Duration) -> bool {
        let parked = self.parked.lock().unwrap_or_else(PoisonError::into_inner);
        if !self.is_solo() {
            return true;
        }
        let _parked = self
            .handed_over
            .wait_timeout(parked, timeout)
            .unwrap_or_else(PoisonError::into_inner);
        !self.is_solo()
    }

    /// tun-rx: the descriptor to poll beside the TUN and the socket.
    pub fn wake_fd(&self) -> RawFd {
        self.wake_tun_rx.as_raw_fd()
    }

    /// tun-rx, after its poll said [`wake_fd`](Self::wake_fd) is readable.
    pub fn clear_wake(&self) {
        let mut count: u64 = 0;
        // SAFETY: reads at most 8 bytes into a valid u64 from our eventfd.
        let _ = unsafe {
            libc::read(
                self.wake_tun_rx.as_raw_fd(),
                (&mut count as *mut u64).cast(),
                std::mem::size_of::<u64>(),
            )
        };
    }
}

/// A packet rate against the busy threshold, in windows of [`BUSY_WINDOW`]:
/// busy once the current window reaches [`BUSY_PACKETS`], and as long as the
/// last complete window did.
#[derive(Debug, Default)]
pub struct LoadWindow {
    window_start: Option<Instant>,
    packets: u32,
    busy: bool,
}

impl LoadWindow {
    /// Counts `packets` handled at `now`; returns whether the load is busy.
    pub fn record(&mut self, now: Instant, packets: usize) -> bool {
        let start = *self.window_start.get_or_insert(now);
        let elapsed = now.saturating_duration_since(start);
        if elapsed >= BUSY_WINDOW {
            // A window closed; one that closed long ago says nothing.
            self.busy = self.packets >= BUSY_PACKETS && elapsed < 2 * BUSY_WINDOW;
            self.window_start = Some(now);
            self.packets = 0;
        }
        self.packets = self
            .packets
            .saturating_add(u32::try_from(packets).unwrap_or(u32::MAX));
        self.busy |= self.packets >= BUSY_PACKETS;
        self.busy
    }

    /// Nothing came for a while: not busy, and the next count starts afresh.
    pub fn quiet(&mut self) {
        *self = LoadWindow::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::poll_readable;

    #[test]
    fn the_socket_is_handed_back_and_forth_and_a_parked_reader_wakes() {
        let owner = std::sync::Arc::new(SocketOwner::new(true).unwrap());
        assert!(owner.is_solo(), "starts solo");
        assert!(
            !owner.wait_for_socket(Duration::from_millis(10)),
            "times out while solo"
        );
        let parked = {
            let owner = owner.clone();
            std::thread::spawn(move || owner.wait_for_socket(Duration::from_secs(10)))
        };
        std::thread::sleep(Duration::from_millis(30));
        owner.hand_to_udp_rx();
        assert!(parked.join().unwrap(), "woken by the hand-over");
        assert!(!owner.is_solo());
        // Handing back wakes tun-rx's poll through the eventfd.
        let before = poll_readable([Some(owner.wake_fd()), None, None], Duration::ZERO).unwrap();
        assert_eq!(before, [false; 3]);
        owner.hand_to_tun_rx();
        assert!(owner.is_solo());
        let after = poll_readable([Some(owner.wake_fd()), None, None], Duration::ZERO).unwrap();
        assert_eq!(after, [true, false, false]);
        owner.clear_wake();
        let cleared = poll_readable([Some(owner.wake_fd()), None, None], Duration::ZERO).unwrap();
        assert_eq!(cleared, [false; 3]);
        assert_eq!(owner.switches(), 2);
    }

    #[test]
    fn disabled_udp_rx_owns_the_socket_for_good() {
        let owner = SocketOwner::new(false).unwrap();
        assert!(!owner.is_solo());
        owner.hand_to_tun_rx();
        assert!(!owner.is_solo(), "never handed to tun-rx");
        assert!(owner.wait_for_socket(Duration::from_millis(1)));
    }

    #[test]
    fn busy_means_the_rate_of_this_window_or_the_last() {
        let start = Instant::now();
        let mut load = LoadWindow::default();
        // A ping every 10 ms for a second: never busy.
        assert!((0..100).all(|i| !load.record(start + Duration::from_millis(10 * i), 1)));
        // 200 packets within 10 ms: busy on the one that reaches 200.
        let t = start + Duration::from_secs(2);
        let verdicts: Vec<bool> = (0..20)
            .map(|i| load.record(t + Duration::from_micros(400 * i), 10))
            .collect();
        assert_eq!(verdicts.iter().position(|&b| b), Some(19));
        assert!(verdicts[19..].iter().all(|&b| b));
        // Still busy in the next window (the last one was), not after it.
        assert!(load.record(t + Duration::from_millis(11), 1));
        assert!(
            !load.record(t + Duration::from_millis(22), 1),
            "the last window had 1"
        );
        // A window that closed long ago says nothing.
        load.quiet();
        let t = start + Duration::from_secs(3);
        assert!(load.record(t, 250));
        assert!(
            !load.record(t + Duration::from_millis(25), 1),
            "20 ms later"
        );
        // The same 200 spread over 20 ms: never busy.
        load.quiet();
        let t = start + Duration::from_secs(4);
        assert!((0..20).all(|i| !load.record(t + Duration::from_millis(i), 10)));
    }

    #[test]
    fn the_tun_busy_flag_is_kept() {
        let owner = SocketOwner::new(true).unwrap();
        assert!(!owner.tun_busy());
        owner.set_tun_busy(true);
        assert!(owner.tun_busy());
        owner.set_tun_busy(false);
        assert!(!owner.tun_busy());
    }
}
