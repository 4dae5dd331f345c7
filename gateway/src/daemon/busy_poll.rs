//! Busy-polling after sparse traffic.
//!
//! On a VM a data thread that blocks lets its vCPU halt, and waking a halted
//! vCPU costs tens of microseconds: an idle tunnel's round trip wakes four
//! threads across two gateways, and those wake-ups are most of its latency
//! (docs/performance.md, "Busy-polling"). So after a *small* batch, a data
//! thread keeps polling its queue for a short window before it blocks: the
//! reply, or the next packet of a request/response exchange, finds a running
//! CPU. Only a small batch that follows a quiet gap counts: bulk traffic never
//! waits for packets, and a thread spinning between the packets of a bulk
//! transfer takes CPU the endpoints on the same node need (measured: TCP 5.6 →
//! 4.3 Gbit/s), so it never spins; an idle tunnel never spins either. The cost
//! is at most one window per quiet gap, and the poll loop yields to any other
//! runnable thread each turn.

use std::time::{Duration, Instant};

/// A batch of at most this many packets counts as sparse (latency-bound)
/// traffic; bigger batches mean the queue is busy and polling is pointless.
pub const SPARSE_BATCH: usize = 8;
/// A batch that comes at least this long after the thread's previous one is
/// the start of an exchange, not part of a stream (a TCP stream's batches come
/// microseconds apart; a 100 Hz ping's, 10 ms).
pub const QUIET_GAP: Duration = Duration::from_millis(1);
/// The default window: on our 2-vCPU VMs an idle round trip fell from
/// 0.18 to 0.09 ms with 100 µs; 50 µs bought half of that, 200–400 µs no more
/// (docs/performance.md).
pub const DEFAULT_WINDOW: Duration = Duration::from_micros(100);

/// How long a data thread keeps polling after a sparse batch; zero turns
/// busy-polling off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BusyPoll {
    window: Duration,
}

impl BusyPoll {
    pub const fn new(window: Duration) -> Self {
        BusyPoll { window }
    }

    pub const fn off() -> Self {
        BusyPoll::new(Duration::ZERO)
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    /// Until when to keep polling after a batch of `packets` handled at
    /// `now`, given when this thread handled its previous batch (updated
    /// here); `None` to block as usual.
    pub fn deadline_after(
        &self,
        previous_batch: &mut Instant,
        packets: usize,
        now: Instant,
    ) -> Option<Instant> {
        let quiet_before = now.saturating_duration_since(*previous_batch) >= QUIET_GAP;
        *previous_batch = now;
        let sparse = (1..=SPARSE_BATCH).contains(&packets);
        (sparse && quiet_before && !self.window.is_zero()).then(|| now + self.window)
    }
}

impl Default for BusyPoll {
    fn default() -> Self {
        BusyPoll::new(DEFAULT_WINDOW)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_micros(50);

    #[test]
    fn a_small_batch_after_a_quiet_gap_polls() {
        let poll = BusyPoll::new(WINDOW);
        let start = Instant::now();
        let now = start + QUIET_GAP;
        let mut previous = start;
        assert_eq!(
            poll.deadline_after(&mut previous, 1, now),
            Some(now + WINDOW)
        );
        assert_eq!(previous, now, "the batch is remembered");
        let mut previous = start;
        assert!(poll
            .deadline_after(&mut previous, SPARSE_BATCH, now)
            .is_some());
    }

    #[test]
    fn streams_and_bulk_batches_do_not_poll() {
        let poll = BusyPoll::new(WINDOW);
        let start = Instant::now();
        let mut previous = start;
        let soon = start + QUIET_GAP - Duration::from_micros(1);
        assert_eq!(
            poll.deadline_after(&mut previous, 1, soon),
            None,
            "a stream"
        );
        let mut previous = start;
        let later = start + QUIET_GAP * 10;
        assert_eq!(
            poll.deadline_after(&mut previous, SPARSE_BATCH + 1, later),
            None,
            "a full queue"
        );
        assert_eq!(
            poll.deadline_after(&mut previous, 0, later + QUIET_GAP),
            None
        );
    }

    #[test]
    fn a_zero_window_never_polls() {
        let start = Instant::now();
        let mut previous = start;
        let later = start + QUIET_GAP * 10;
        assert_eq!(
            BusyPoll::off().deadline_after(&mut previous, 1, later),
            None
        );
    }
}
