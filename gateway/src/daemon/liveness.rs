//! Liveness of the daemon's loops, for `/healthz` (the kubelet's liveness
//! probe) and `/readyz`.
//!
//! A process that answers HTTP is not necessarily forwarding: a data thread
//! can panic (the others keep running), deadlock on a lock, or block in a
//! system call that never returns. Each long-running loop therefore beats: it
//! notes the time after each turn. Every loop turns at least every 200 ms
//! when idle (its poll or receive timeout), so a loop that has not beaten for
//! [`STALL`] is stuck or gone, and the gateway reports itself unhealthy so
//! the kubelet restarts it (docs/operations.md).
//!
//! Beats cost two comparisons per turn: the shared atomic is written at most
//! once per [`BEAT_EVERY`], so the hot path does not bounce its cache line.
//! Each loop also keeps the longest gap between two of its turns since start
//! (shared only when it grows): how close a loop has come to [`STALL`], e.g.
//! under a handshake flood or on a CPU-starved node, before liveness trips.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A loop silent this long is stuck: 50× the longest idle turn (200 ms), so a
/// busy machine's scheduling delays never trip it, and well within the
/// kubelet's default liveness budget (3 failures × 10 s period).
pub const STALL: Duration = Duration::from_secs(10);
/// How often a loop's beat reaches the shared clock.
pub const BEAT_EVERY: Duration = Duration::from_secs(1);

/// The loops that beat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loop {
    TunRx,
    UdpRx,
    Handshakes,
    Timers,
}

impl Loop {
    pub const ALL: [Loop; 4] = [Loop::TunRx, Loop::UdpRx, Loop::Handshakes, Loop::Timers];

    /// The thread's name (as in `ps -L` and docs/architecture.md).
    pub fn thread_name(self) -> &'static str {
        match self {
            Loop::TunRx => "tun-rx",
            Loop::UdpRx => "udp-rx",
            Loop::Handshakes => "handshakes",
            Loop::Timers => "timers",
        }
    }
}

/// The last beat of each loop, as milliseconds since `start`, and each loop's
/// longest gap between two turns, in milliseconds.
#[derive(Debug)]
pub struct Heartbeats {
    start: Instant,
    beats: [AtomicU64; Loop::ALL.len()],
    longest_gaps: [AtomicU64; Loop::ALL.len()],
}

impl Heartbeats {
    /// Every loop counts as having beaten at `start` (it is about to start).
    pub fn new(start: Instant) -> Self {
        Heartbeats {
            start,
            beats: std::array::from_fn(|_| AtomicU64::new(0)),
            longest_gaps: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// The beat handle for one loop's thread.
    pub fn pulse(&self, which: Loop, now: Instant) -> Pulse {
        self.store(which, now);
        Pulse {
            which,
            last: now,
            previous_turn: now,
            longest_gap: Duration::ZERO,
        }
    }

    fn store(&self, which: Loop, now: Instant) {
        let millis = now.saturating_duration_since(self.start).as_millis();
        self.beats[which as usize]
            .store(u64::try_from(millis).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Each loop's longest gap between two turns since start (a loop that
    /// has not turned since does not count here: [`Heartbeats::check`] names it).
    pub fn longest_gaps(&self) -> [(Loop, Duration); Loop::ALL.len()] {
        Loop::ALL.map(|which| {
            let millis = self.longest_gaps[which as usize].load(Ordering::Relaxed);
            (which, Duration::from_millis(millis))
        })
    }

    /// Ok when every loop beat within [`STALL`] of `now`; otherwise which
    /// loops did not, and for how long.
    pub fn check(&self, now: Instant) -> Result<(), String> {
        let since_start = now.saturating_duration_since(self.start);
        let stalled: Vec<String> = Loop::ALL
            .iter()
            .filter_map(|&which| {
                let beat =
                    Duration::from_millis(self.beats[which as usize].load(Ordering::Relaxed));
                let silent = since_start.saturating_sub(beat);
                (silent > STALL).then(|| {
                    format!(
                        "{} silent for {:.1} s",
                        which.thread_name(),
                        silent.as_secs_f64()
                    )
                })
            })
            .collect();
        if stalled.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} (a data-path thread stuck or exited; the log says why)",
                stalled.join(", ")
            ))
        }
    }
}

/// One thread's beat: [`Pulse::beat`] after each loop turn.
#[derive(Debug)]
pub struct Pulse {
    which: Loop,
    /// When the beat last reached the shared clock.
    last: Instant,
    previous_turn: Instant,
    longest_gap: Duration,
}

impl Pulse {
    /// Notes a completed turn at `now` (stored at most once per [`BEAT_EVERY`]).
    pub fn beat(&mut self, beats: &Heartbeats, now: Instant) {
        let gap = now.saturating_duration_since(self.previous_turn);
        self.previous_turn = now;
        if gap > self.longest_gap {
            self.longest_gap = gap;
            let millis = u64::try_from(gap.as_millis()).unwrap_or(u64::MAX);
            beats.longest_gaps[self.which as usize].fetch_max(millis, Ordering::Relaxed);
        }
        if now.saturating_duration_since(self.last) >= BEAT_EVERY {
            beats.store(self.which, now);
            self.last = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn a_fresh_daemon_is_alive() {
        let t0 = Instant::now();
        assert_eq!(Heartbeats::new(t0).check(t0 + secs(1)), Ok(()));
    }

    #[test]
    fn loops_that_keep_beating_stay_alive() {
        let t0 = Instant::now();
        let beats = Heartbeats::new(t0);
        let mut pulses: Vec<Pulse> = Loop::ALL.iter().map(|&l| beats.pulse(l, t0)).collect();
        for s in 1..=60 {
            for pulse in &mut pulses {
                pulse.beat(&beats, t0 + secs(s));
            }
        }
        assert_eq!(beats.check(t0 + secs(60) + STALL), Ok(()));
    }

    #[test]
    fn one_silent_loop_is_named_with_how_long() {
        let t0 = Instant::now();
        let beats = Heartbeats::new(t0);
        let mut pulses: Vec<Pulse> = Loop::ALL.iter().map(|&l| beats.pulse(l, t0)).collect();
        for s in 1..=30 {
            for pulse in pulses.iter_mut().filter(|p| p.which != Loop::UdpRx) {
                pulse.beat(&beats, t0 + secs(s));
            }
        }
        let why = beats.check(t0 + secs(30)).unwrap_err();
        assert!(why.starts_with("udp-rx silent for 30.0 s"), "{why}");
        assert!(!why.contains("tun-rx"), "{why}");
    }

    #[test]
    fn silence_up_to_the_limit_is_tolerated() {
        let t0 = Instant::now();
        let beats = Heartbeats::new(t0);
        assert_eq!(beats.check(t0 + STALL), Ok(()));
        assert!(beats.check(t0 + STALL + Duration::from_millis(1)).is_err());
    }

    #[test]
    fn the_longest_gap_between_turns_is_kept_per_loop() {
        let t0 = Instant::now();
        let beats = Heartbeats::new(t0);
        let mut udp = beats.pulse(Loop::UdpRx, t0);
        let mut timers = beats.pulse(Loop::Timers, t0);
        let ms = Duration::from_millis;
        // udp-rx: turns 200 ms apart, one 3.5 s stall, then 200 ms again.
        for at in [200, 400, 3_900, 4_100] {
            udp.beat(&beats, t0 + ms(at));
        }
        timers.beat(&beats, t0 + ms(100));
        let gaps = beats.longest_gaps();
        assert_eq!(gaps[Loop::UdpRx as usize], (Loop::UdpRx, ms(3_500)));
        assert_eq!(gaps[Loop::Timers as usize], (Loop::Timers, ms(100)));
        assert_eq!(gaps[Loop::TunRx as usize], (Loop::TunRx, Duration::ZERO));
        // A shorter gap later does not lower it.
        udp.beat(&beats, t0 + ms(4_150));
        assert_eq!(beats.longest_gaps()[Loop::UdpRx as usize].1, ms(3_500));
    }

    #[test]
    fn beats_reach_the_shared_clock_at_most_once_a_second() {
        let t0 = Instant::now();
        let beats = Heartbeats::new(t0);
        let mut pulse = beats.pulse(Loop::TunRx, t0);
        pulse.beat(&beats, t0 + Duration::from_millis(999));
        assert_eq!(beats.beats[Loop::TunRx as usize].load(Ordering::Relaxed), 0);
        pulse.beat(&beats, t0 + BEAT_EVERY);
        assert_eq!(
            beats.beats[Loop::TunRx as usize].load(Ordering::Relaxed),
            1000
        );
    }
}
