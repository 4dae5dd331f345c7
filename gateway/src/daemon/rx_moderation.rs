//! Receive moderation for `udp-rx`: fewer wake-ups under a packet storm.
//!
//! udp-rx blocks in `recvmmsg` until a datagram arrives. When datagrams come
//! one at a time at a high rate — a handshake flood, or any stream of small
//! packets — each wake-up reads only two or three of them: at 110,000
//! initiations a second the lab measured 38,000 wake-ups a second, each a
//! context switch and, on a VM, an inter-processor interrupt. That costs
//! more CPU than reading the datagrams.
//!
//! A NIC solves the same problem with interrupt coalescing (`ethtool -C
//! rx-usecs`), and the kernel with NAPI: once packets keep arriving, stop
//! taking an interrupt for each and collect them for a moment. Here: after
//! [`BUSY_TURNS`] batches in a row that did not fill the batch, each within
//! [`BUSY_GAP`] (plus the nap) of the one before, udp-rx naps for the
//! configured time before its next read, so the next read takes what
//! arrived meanwhile in one go. The first datagram after a quiet moment is
//! never delayed (an idle tunnel's ping is untouched), nor is anything when
//! batches come full (bulk traffic already reads 64 datagrams a wake-up).
//! The nap costs a packet at most that long in the socket's queue, whose
//! buffer (tens of MB) holds far more than a nap's worth of any rate.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The default nap (µs): at 110,000 datagrams a second about 11 arrive
/// meanwhile (110,000 × 0.000 100), so wake-ups fall about fourfold; and it
/// stays well below an idle tunnel's round trip on this hardware (~220 µs),
/// though moderation only ever applies to a busy one.
pub const DEFAULT_NAP_MICROS: u64 = 100;
/// Set to a nap in microseconds, or `off` (or 0) to read on every wake-up.
pub const RX_MODERATION_ENV: &str = "GATEWAY_RX_MODERATION_US";
/// A batch that follows the previous one within this long counts as busy:
/// 10,000 wake-ups a second or more.
const BUSY_GAP: Duration = Duration::from_micros(100);
/// Busy batches in a row before napping: a short burst (a handshake, a TCP
/// window's first packets) is never delayed.
const BUSY_TURNS: u32 = 8;

/// Decides, after each batch, whether to nap before the next read.
#[derive(Debug)]
pub struct RxModeration {
    nap: Option<Duration>,
    last_batch: Option<Instant>,
    busy_turns: u32,
    naps: u64,
}

impl RxModeration {
    /// `nap`: how long to nap once busy; `None` turns moderation off.
    pub fn new(nap: Option<Duration>) -> Self {
        RxModeration {
            nap,
            last_batch: None,
            busy_turns: 0,
            naps: 0,
        }
    }

    /// After a batch of `datagrams` read at `now` into room for `capacity`:
    /// how long to nap before the next read, if at all.
    pub fn after_batch(
        &mut self,
        now: Instant,
        datagrams: usize,
        capacity: usize,
    ) -> Option<Duration> {
        let nap = self.nap?;
        let quick = self
            .last_batch
            .is_some_and(|last| now.saturating_duration_since(last) < BUSY_GAP + nap);
        self.last_batch = Some(now);
        if !quick || datagrams == 0 {
            self.busy_turns = 0;
            return None;
        }
        if datagrams >= capacity {
            // The socket had more than a batch: the next read returns at
            // once without a wake-up; nothing to save.
            return None;
        }
        self.busy_turns = self.busy_turns.saturating_add(1);
        if self.busy_turns < BUSY_TURNS {
            return None;
        }
        self.naps += 1;
        Some(nap)
    }

    /// Naps taken so far.
    pub fn naps(&self) -> u64 {
        self.naps
    }
}

/// The nap [`RX_MODERATION_ENV`] asks for: unset means
/// [`DEFAULT_NAP_MICROS`]; a value that is not a number of microseconds up to
/// 1,000 (or `off`) is an error naming the variable, and the gateway does
/// not start.
pub fn nap_from_env() -> Result<Option<Duration>, String> {
    match std::env::var(RX_MODERATION_ENV) {
        Err(_) => Ok(Some(Duration::from_micros(DEFAULT_NAP_MICROS))),
        Ok(value) => parse_nap(&value),
    }
}

/// The setting and the naps taken, for status and metrics.
#[derive(Debug, Default)]
pub struct ModerationStats {
    nap: Option<Duration>,
    naps: AtomicU64,
}

impl ModerationStats {
    pub fn new(nap: Option<Duration>) -> Self {
        ModerationStats {
            nap,
            naps: AtomicU64::new(0),
        }
    }

    /// The configured nap; `None`: moderation is off.
    pub fn nap(&self) -> Option<Duration> {
        self.nap
    }

    /// Once per nap (itself a system call), never per packet.
    pub fn count_nap(&self) {
        self.naps.fetch_add(1, Ordering::Relaxed);
    }

    /// Naps udp-rx took since start.
    pub fn naps(&self) -> u64 {
        self.naps.load(Ordering::Relaxed)
    }
}

/// `off`/`0` → no moderation; a number → that many microseconds (at most
/// 1,000: a longer nap would be a stall, not moderation, and must stay well
/// below udp-rx's 5 ms quiet gap, `super::solo::QUIET_GAP`, which it is part of).
fn parse_nap(value: &str) -> Result<Option<Duration>, String> {
    const MAX_MICROS: u64 = 1_000;
    let value = value.trim();
    if value == "off" {
        return Ok(None);
    }
    match value.parse::<u64>() {
        Ok(0) => Ok(None),
        Ok(micros) if micros <= MAX_MICROS => Ok(Some(Duration::from_micros(micros))),
        _ => Err(format!(
            "{RX_MODERATION_ENV}={value:?}: want a nap in microseconds (1 to {MAX_MICROS}) or \"off\""
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAP: Duration = Duration::from_micros(100);
    const CAPACITY: usize = 64;

    /// Feeds batches of `size` every `every` from `start`; returns the naps asked for.
    fn feed(
        m: &mut RxModeration,
        start: Instant,
        every: Duration,
        size: usize,
        turns: u32,
    ) -> Vec<Option<Duration>> {
        (0..turns)
            .map(|i| m.after_batch(start + every * i, size, CAPACITY))
            .collect()
    }

    #[test]
    fn a_steady_trickle_naps_after_the_busy_turns() {
        let mut m = RxModeration::new(Some(NAP));
        let naps = feed(&mut m, Instant::now(), Duration::from_micros(30), 3, 20);
        let first_nap = naps.iter().position(Option::is_some);
        // Turn 0 has no predecessor; turns 1..=BUSY_TURNS count up.
        assert_eq!(first_nap, Some(BUSY_TURNS as usize));
        assert!(naps[BUSY_TURNS as usize..].iter().all(|n| *n == Some(NAP)));
        assert_eq!(m.naps(), 20 - u64::from(BUSY_TURNS));
    }

    #[test]
    fn a_quiet_moment_resets_so_the_next_packet_is_not_delayed() {
        let mut m = RxModeration::new(Some(NAP));
        let start = Instant::now();
        let every = Duration::from_micros(30);
        feed(&mut m, start, every, 3, 20);
        let later = start + Duration::from_millis(50);
        assert_eq!(m.after_batch(later, 1, CAPACITY), None, "after a pause");
        // The busy turns count from the pause again.
        let again = feed(&mut m, later + every, every, 3, BUSY_TURNS);
        let last = BUSY_TURNS as usize - 1;
        assert!(again[..last].iter().all(Option::is_none), "{again:?}");
        assert_eq!(again[last], Some(NAP));
    }

    #[test]
    fn sparse_traffic_and_full_batches_never_nap() {
        let mut m = RxModeration::new(Some(NAP));
        let start = Instant::now();
        // A ping every millisecond: never busy.
        assert!(feed(&mut m, start, Duration::from_millis(1), 1, 50)
            .iter()
            .all(Option::is_none));
        // Bulk traffic: every batch full.
        let bulk = feed(
            &mut m,
            start + Duration::from_secs(1),
            Duration::from_micros(20),
            CAPACITY,
            50,
        );
        assert!(bulk.iter().all(Option::is_none));
        assert_eq!(m.naps(), 0);
    }

    #[test]
    fn turned_off_it_never_naps() {
        let mut m = RxModeration::new(None);
        assert!(
            feed(&mut m, Instant::now(), Duration::from_micros(10), 2, 100)
                .iter()
                .all(Option::is_none)
        );
    }

    #[test]
    fn the_setting_parses_or_says_what_it_wants() {
        assert_eq!(parse_nap("off"), Ok(None));
        assert_eq!(parse_nap(" 0 "), Ok(None));
        assert_eq!(parse_nap("250"), Ok(Some(Duration::from_micros(250))));
        for bad in ["", "-5", "1ms", "1001", "OFF"] {
            let err = parse_nap(bad).unwrap_err();
            assert!(
                err.contains(RX_MODERATION_ENV) && err.contains("microseconds"),
                "{bad}: {err}"
            );
        }
    }
}
