//! Adaptive scheduling of the outbound thread (`tun-rx`).
//!
//! Every packet a local sender writes into the TUN wakes `tun-rx`. As a
//! normal thread, the woken `tun-rx` preempts that sender at once, reads the
//! one packet queued, seals and sends it, and blocks again. Under bulk
//! traffic that is two context switches per packet on the sender's CPU, and
//! batches of one: no UDP GSO, a `sendmmsg` per packet.
//!
//! The kernel has a policy for "wake me, but do not preempt for me":
//! `SCHED_BATCH` (sched(7)). Such a thread runs when the current one blocks
//! or its time slice ends, by which time the queue holds a batch. Kept on
//! all the time, it would cost a lone packet up to a scheduler tick (4 ms at
//! HZ=250) whenever its CPU is busy with something else (measured: idle-ping
//! p50 0.06 → 4.04 ms with two CPU-bound loops running). So `tun-rx`
//! switches to it only while it carries bulk traffic, measured as packets
//! per second over windows of [`WINDOW`], and back to normal when the rate
//! drops or the TUN stays quiet for [`QUIET`]. Measured figures are in
//! docs/performance.md.
//!
//! [`LoadWatch`] decides (pure, simulated time in tests); [`apply`] makes
//! the system call. Neither the switch to `SCHED_BATCH` nor the switch back
//! needs a privilege (sched(7): an unprivileged thread may move between
//! `SCHED_OTHER` and `SCHED_BATCH`).

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Set to `off` to keep `tun-rx` a normal thread (to measure what the
/// lever buys; docs/performance.md).
pub const BULK_SCHEDULING_ENV: &str = "GATEWAY_BULK_SCHEDULING";

/// How long a rate is measured over before it is acted on.
pub const WINDOW: Duration = Duration::from_millis(10);
/// Rate from which the thread counts as carrying bulk traffic: 20,000 packets
/// a second is ~230 Mbit/s of 1,420-byte packets, and far above what ping,
/// DNS or an interactive session send.
pub const ENTER_PACKETS_PER_SECOND: u64 = 20_000;
/// Rate below which it goes back to normal; a quarter of the entry rate, so
/// a flow hovering near the threshold does not flip the policy every window.
pub const LEAVE_PACKETS_PER_SECOND: u64 = ENTER_PACKETS_PER_SECOND / 4;
/// A TUN quiet this long ends bulk mode even without another packet (the
/// poll timeout while in bulk mode), so the next lone packet finds a normal
/// thread.
pub const QUIET: Duration = Duration::from_millis(10);

/// The scheduling policy `tun-rx` should run under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// `SCHED_OTHER`: a wake-up may preempt the running thread.
    Normal,
    /// `SCHED_BATCH`: a wake-up waits for the running thread's turn to end.
    Bulk,
}

/// Watches the packet rate of one thread and says when its policy should
/// change.
#[derive(Debug)]
pub struct LoadWatch {
    window_start: Option<Instant>,
    packets: u64,
    policy: Policy,
}

impl Default for LoadWatch {
    fn default() -> Self {
        LoadWatch {
            window_start: None,
            packets: 0,
            policy: Policy::Normal,
        }
    }
}

impl LoadWatch {
    /// The policy the thread is in (as far as this watch has decided).
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// How long the thread may block waiting for the TUN before it must
    /// call [`LoadWatch::quiet`]: bounded only in bulk mode.
    pub fn poll_timeout(&self, normal: Duration) -> Duration {
        match self.policy {
            Policy::Normal => normal,
            Policy::Bulk => QUIET,
        }
    }

    /// Counts a batch of `packets` read at `now`; returns the new policy
    /// when it changes.
    ///
    /// A batch read at `now` was queued before it, so it belongs to the
    /// window that `now` closes or continues. The batch that opens the first
    /// window (after start-up or a quiet TUN) was queued before the window
    /// began and is not counted: one burst after a quiet spell is not bulk.
    pub fn record(&mut self, now: Instant, packets: usize) -> Option<Policy> {
        let Some(start) = self.window_start else {
            self.window_start = Some(now);
            self.packets = 0;
            return None;
        };
        self.packets = self.packets.saturating_add(packets as u64);
        let elapsed = now.saturating_duration_since(start);
        if elapsed < WINDOW {
            return None;
        }
        let rate = per_second(self.packets, elapsed);
        self.window_start = Some(now);
        self.packets = 0;
        let wanted = match self.policy {
            Policy::Normal if rate >= ENTER_PACKETS_PER_SECOND => Policy::Bulk,
            Policy::Bulk if rate < LEAVE_PACKETS_PER_SECOND => Policy::Normal,
            unchanged => unchanged,
        };
        if wanted == self.policy {
            return None;
        }
        self.policy = wanted;
        Some(wanted)
    }

    /// The TUN stayed quiet for a whole [`LoadWatch::poll_timeout`]: ends
    /// bulk mode. Returns the new policy when it changes.
    pub fn quiet(&mut self) -> Option<Policy> {
        self.window_start = None;
        self.packets = 0;
        if self.policy == Policy::Bulk {
            self.policy = Policy::Normal;
            Some(Policy::Normal)
        } else {
            None
        }
    }
}

fn per_second(packets: u64, elapsed: Duration) -> u64 {
    let nanos = elapsed.as_nanos().max(1);
    u64::try_from(u128::from(packets) * 1_000_000_000 / nanos).unwrap_or(u64::MAX)
}

/// Puts the calling thread under `policy`.
pub fn apply(policy: Policy) -> io::Result<()> {
    let kind = match policy {
        Policy::Normal => libc::SCHED_OTHER,
        Policy::Bulk => libc::SCHED_BATCH,
    };
    // Both policies take priority 0; the thread keeps its nice value.
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: pid 0 is the calling thread; `param` outlives the call.
    let result = unsafe { libc::sched_setscheduler(0, kind, &param) };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether the lever is on (it is unless [`BULK_SCHEDULING_ENV`] is `off`).
pub fn availability_from_env() -> Availability {
    match std::env::var(BULK_SCHEDULING_ENV) {
        Ok(v) if v == "off" => Availability::Disabled,
        _ => Availability::Enabled,
    }
}

/// Whether `tun-rx` may switch policy at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// It switches with the load.
    Enabled,
    /// Turned off with [`BULK_SCHEDULING_ENV`].
    Disabled,
    /// The kernel (or a seccomp profile) refused `sched_setscheduler`; the
    /// thread stays normal until the gateway restarts.
    Refused,
}

impl Availability {
    fn from_u8(value: u8) -> Self {
        match value {
            0 => Availability::Enabled,
            1 => Availability::Disabled,
            _ => Availability::Refused,
        }
    }

    fn as_u8(self) -> u8 {
        match self {
            Availability::Enabled => 0,
            Availability::Disabled => 1,
            Availability::Refused => 2,
        }
    }
}

/// What `tun-rx`'s scheduling is doing, for status and metrics. Written only
/// when the policy changes (a few times per bulk transfer), never per packet.
#[derive(Debug)]
pub struct SchedulingStats {
    availability: AtomicU8,
    bulk: AtomicBool,
    bulk_entered: AtomicU64,
}

/// A snapshot of [`SchedulingStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedulingSnapshot {
    pub availability: Availability,
    /// `tun-rx` runs as `SCHED_BATCH` right now.
    pub bulk: bool,
    /// Times it switched to `SCHED_BATCH` since start.
    pub bulk_entered: u64,
}

impl Default for SchedulingStats {
    fn default() -> Self {
        SchedulingStats::new(Availability::Enabled)
    }
}

impl SchedulingStats {
    pub fn new(availability: Availability) -> Self {
        SchedulingStats {
            availability: AtomicU8::new(availability.as_u8()),
            bulk: AtomicBool::new(false),
            bulk_entered: AtomicU64::new(0),
        }
    }

    pub fn snapshot(&self) -> SchedulingSnapshot {
        SchedulingSnapshot {
            availability: Availability::from_u8(self.availability.load(Ordering::Relaxed)),
            bulk: self.bulk.load(Ordering::Relaxed),
            bulk_entered: self.bulk_entered.load(Ordering::Relaxed),
        }
    }

    fn switched(&self, policy: Policy) {
        let bulk = policy == Policy::Bulk;
        self.bulk.store(bulk, Ordering::Relaxed);
        if bulk {
            self.bulk_entered.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn refused(&self) {
        self.bulk.store(false, Ordering::Relaxed);
        self.availability
            .store(Availability::Refused.as_u8(), Ordering::Relaxed);
    }
}

/// A [`LoadWatch`] that applies its decisions to the calling thread and
/// reports them in [`SchedulingStats`].
pub struct BulkScheduler {
    watch: LoadWatch,
    enabled: bool,
    stats: Arc<SchedulingStats>,
    /// [`apply`]; a fake in tests (a refusal cannot be provoked for real).
    apply: fn(Policy) -> io::Result<()>,
}

impl BulkScheduler {
    /// Follows `stats`' availability: anything but
    /// [`Availability::Enabled`] never changes the thread's policy.
    pub fn new(stats: Arc<SchedulingStats>) -> Self {
        BulkScheduler {
            watch: LoadWatch::default(),
            enabled: stats.snapshot().availability == Availability::Enabled,
            stats,
            apply,
        }
    }

    /// How long to block waiting for the TUN (see [`LoadWatch::poll_timeout`]).
    pub fn poll_timeout(&self, normal: Duration) -> Duration {
        self.watch.poll_timeout(normal)
    }

    /// After a batch of `packets` read at `now`.
    pub fn after_batch(&mut self, now: Instant, packets: usize) {
        if self.enabled {
            let change = self.watch.record(now, packets);
            self.switch(change);
        }
    }

    /// After a poll that timed out with nothing to read.
    pub fn after_quiet(&mut self) {
        if self.enabled {
            let change = self.watch.quiet();
            self.switch(change);
        }
    }

    fn switch(&mut self, change: Option<Policy>) {
        let Some(policy) = change else { return };
        match (self.apply)(policy) {
            Ok(()) => {
                self.stats.switched(policy);
                tracing::debug!(?policy, "tun-rx scheduling policy");
            }
            Err(e) => {
                self.stats.refused();
                // E.g. a seccomp profile that refuses sched_setscheduler:
                // stop trying, with the normal poll timeout. (The first
                // switch is to bulk, so a refusal leaves a normal thread.)
                tracing::warn!(error = %e, "cannot change tun-rx's scheduling policy; bulk scheduling off");
                self.watch = LoadWatch::default();
                self.enabled = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Feeds `batches` batches of `per_batch` packets, one every `gap`;
    /// returns every policy change with the batch index it came at.
    fn feed(
        watch: &mut LoadWatch,
        start: Instant,
        gap: Duration,
        batches: u32,
        per_batch: usize,
    ) -> Vec<(u32, Policy)> {
        (0..batches)
            .filter_map(|i| watch.record(start + gap * i, per_batch).map(|p| (i, p)))
            .collect()
    }

    /// A watch that has carried 50,000 packets a second from `start` for
    /// 20 ms (one packet every 20 µs): in bulk mode since 10 ms.
    fn after_bulk(start: Instant) -> LoadWatch {
        let mut watch = LoadWatch::default();
        feed(&mut watch, start, MS / 50, 1_000, 1);
        watch
    }

    #[test]
    fn sparse_traffic_stays_normal() {
        let start = Instant::now();
        let mut watch = LoadWatch::default();
        // A ping every 10 ms for 10 s, then a burst of 15 every ms (15,000 a
        // second) for 1 s: both below 20,000 packets a second.
        assert!(feed(&mut watch, start, 10 * MS, 1_000, 1).is_empty());
        let later = start + Duration::from_secs(10);
        assert!(feed(&mut watch, later, MS, 1_000, 15).is_empty());
        assert_eq!(watch.policy(), Policy::Normal);
        // The same feed at 25 per ms does switch: the windows did close.
        let much_later = start + Duration::from_secs(20);
        assert_eq!(
            feed(&mut watch, much_later, MS, 20, 25),
            vec![(10, Policy::Bulk)]
        );
    }

    #[test]
    fn bulk_traffic_switches_once_after_one_window() {
        let mut watch = LoadWatch::default();
        // One packet every 20 µs is 50,000 a second.
        let changes = feed(&mut watch, Instant::now(), MS / 50, 5_000, 1);
        // The first window closes at 10 ms (batch 500); nothing flips after.
        assert_eq!(changes, vec![(500, Policy::Bulk)]);
        assert_eq!(watch.poll_timeout(Duration::from_secs(1)), QUIET);
    }

    #[test]
    fn large_batches_are_measured_as_a_rate_not_as_a_burst() {
        let start = Instant::now();
        // One full read batch after a quiet spell, then a lone packet: the
        // burst was queued before the window opened and is not counted.
        let mut watch = LoadWatch::default();
        assert_eq!(watch.record(start, 256), None);
        assert_eq!(watch.record(start + 10 * MS, 1), None);
        assert_eq!(watch.policy(), Policy::Normal);
        // 256 every 20 ms is 12,800 a second: normal.
        let mut watch = LoadWatch::default();
        assert!(feed(&mut watch, start, 20 * MS, 100, 256).is_empty());
        // 256 every 5 ms is 51,200 a second: bulk when the first window
        // closes (batch 2, at 10 ms, with the 512 packets read at 5 and 10).
        let mut watch = LoadWatch::default();
        assert_eq!(
            feed(&mut watch, start, 5 * MS, 100, 256),
            vec![(2, Policy::Bulk)]
        );
    }

    #[test]
    fn a_rate_between_the_thresholds_keeps_the_current_policy() {
        let start = Instant::now();
        let mut watch = LoadWatch::default();
        // 10,000 packets a second: below entry, above leave.
        assert!(feed(&mut watch, start, MS / 10, 2_000, 1).is_empty());
        let mut bulk = after_bulk(start);
        assert_eq!(bulk.policy(), Policy::Bulk);
        // Right after (the bulk run took 20 ms), at 10,000 a second.
        let next = start + 20 * MS;
        assert!(feed(&mut bulk, next, MS / 10, 2_000, 1).is_empty());
        assert_eq!(bulk.policy(), Policy::Bulk);
    }

    #[test]
    fn a_falling_rate_returns_to_normal() {
        let start = Instant::now();
        let mut watch = after_bulk(start);
        // Right after (at 20 ms), 1,000 packets a second: the window that
        // closes at 20 ms was still bulk, the one closing at 30 ms is not.
        let changes = feed(&mut watch, start + 20 * MS, MS, 100, 1);
        assert_eq!(changes, vec![(10, Policy::Normal)]);
    }

    #[test]
    fn a_quiet_tun_ends_bulk_mode_and_the_next_lone_packet_stays_normal() {
        let start = Instant::now();
        let mut watch = after_bulk(start);
        assert_eq!(watch.quiet(), Some(Policy::Normal));
        assert_eq!(watch.quiet(), None);
        // A big batch after the quiet opens a fresh window instead of being
        // measured against a stale one.
        assert_eq!(watch.record(start + Duration::from_secs(5), 500), None);
        assert_eq!(watch.policy(), Policy::Normal);
    }

    #[test]
    fn a_long_gap_counts_as_a_low_rate() {
        let start = Instant::now();
        let mut watch = after_bulk(start);
        // The batch after a 2 s gap closes a window of ~2 s with few packets.
        let after_gap = start + Duration::from_secs(2);
        assert_eq!(watch.record(after_gap, 64), Some(Policy::Normal));
    }

    /// Feeds a [`BulkScheduler`] 20 ms of 50,000 packets a second.
    fn bulk_traffic(scheduler: &mut BulkScheduler, start: Instant) {
        for i in 0..1_000 {
            scheduler.after_batch(start + (MS / 50) * i, 1);
        }
    }

    #[test]
    fn the_stats_follow_the_switches() {
        let stats = Arc::new(SchedulingStats::default());
        let mut scheduler = BulkScheduler::new(stats.clone());
        let start = Instant::now();
        bulk_traffic(&mut scheduler, start);
        // SAFETY: pid 0 is this thread.
        assert_eq!(unsafe { libc::sched_getscheduler(0) }, libc::SCHED_BATCH);
        let in_bulk = stats.snapshot();
        assert!(in_bulk.bulk);
        assert_eq!(in_bulk.bulk_entered, 1);
        scheduler.after_quiet();
        // SAFETY: as above.
        assert_eq!(unsafe { libc::sched_getscheduler(0) }, libc::SCHED_OTHER);
        bulk_traffic(&mut scheduler, start + Duration::from_secs(1));
        scheduler.after_quiet();
        let after = stats.snapshot();
        assert!(!after.bulk);
        assert_eq!(after.bulk_entered, 2);
        assert_eq!(after.availability, Availability::Enabled);
    }

    #[test]
    fn disabled_never_switches() {
        let stats = Arc::new(SchedulingStats::new(Availability::Disabled));
        let mut scheduler = BulkScheduler::new(stats.clone());
        bulk_traffic(&mut scheduler, Instant::now());
        // SAFETY: pid 0 is this thread.
        assert_eq!(unsafe { libc::sched_getscheduler(0) }, libc::SCHED_OTHER);
        let snapshot = stats.snapshot();
        assert_eq!(
            (snapshot.bulk, snapshot.bulk_entered, snapshot.availability),
            (false, 0, Availability::Disabled)
        );
    }

    thread_local! {
        static REFUSED_CALLS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    }

    fn refuse(_: Policy) -> io::Result<()> {
        REFUSED_CALLS.with(|c| c.set(c.get() + 1));
        Err(io::Error::from_raw_os_error(libc::EPERM))
    }

    #[test]
    fn a_refused_switch_is_reported_and_not_retried() {
        let stats = Arc::new(SchedulingStats::default());
        let mut scheduler = BulkScheduler::new(stats.clone());
        scheduler.apply = refuse;
        let start = Instant::now();
        bulk_traffic(&mut scheduler, start);
        bulk_traffic(&mut scheduler, start + Duration::from_secs(1));
        assert_eq!(REFUSED_CALLS.with(std::cell::Cell::get), 1);
        assert_eq!(
            stats.snapshot(),
            SchedulingSnapshot {
                availability: Availability::Refused,
                bulk: false,
                bulk_entered: 0,
            }
        );
        // Blocking waits are the normal ones again, not 10 ms polls.
        let normal = Duration::from_secs(1);
        assert_eq!(scheduler.poll_timeout(normal), normal);
    }

    #[test]
    fn the_thread_can_switch_both_ways() {
        // The test thread's own policy; restored before returning.
        apply(Policy::Bulk).expect("SCHED_BATCH");
        // SAFETY: pid 0 is this thread.
        assert_eq!(unsafe { libc::sched_getscheduler(0) }, libc::SCHED_BATCH);
        apply(Policy::Normal).expect("SCHED_OTHER");
        // SAFETY: as above.
        assert_eq!(unsafe { libc::sched_getscheduler(0) }, libc::SCHED_OTHER);
    }
}
