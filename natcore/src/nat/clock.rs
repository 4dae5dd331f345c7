//! The table's notion of time: milliseconds ("ticks") relative to the first
//! `now` the engine was handed. The engine never reads a clock; it converts
//! the caller's `Instant`s so that flow entries can keep their last-seen time
//! in one `AtomicU64`.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Milliseconds on a flow table's own scale: [`crate::nat::FlowTable::ticks`]
/// converts an `Instant`.
pub type Ticks = u64;

/// Offset of the epoch on the tick scale. Instants up to this long *before*
/// the first one seen still map without saturating, and "last seen" times
/// computed backwards from an imported flow's remaining lifetime never
/// underflow (timeouts are capped far below this).
const EPOCH_TICKS: Ticks = 1 << 40; // ms ≈ 34.8 years

#[derive(Debug, Default)]
pub(crate) struct Clock {
    epoch: OnceLock<Instant>,
}

impl Clock {
    pub(crate) fn ticks(&self, now: Instant) -> Ticks {
        let epoch = *self.epoch.get_or_init(|| now);
        match now.checked_duration_since(epoch) {
            Some(after) => EPOCH_TICKS.saturating_add(millis(after)),
            None => EPOCH_TICKS.saturating_sub(millis(epoch.duration_since(now))),
        }
    }

    /// The instant at which the tick counter reaches `t`; `None` before any
    /// `now` has been seen or if the instant is not representable.
    pub(crate) fn instant(&self, t: Ticks) -> Option<Instant> {
        let epoch = *self.epoch.get()?;
        if t >= EPOCH_TICKS {
            epoch.checked_add(Duration::from_millis(t - EPOCH_TICKS))
        } else {
            epoch.checked_sub(Duration::from_millis(EPOCH_TICKS - t))
        }
    }
}

/// Whole milliseconds in `d`, in u64 arithmetic (no u128 on the hot path);
/// saturates beyond 584 million years.
fn millis(d: Duration) -> u64 {
    d.as_secs()
        .saturating_mul(1000)
        .saturating_add(u64::from(d.subsec_millis()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_round_trip_and_order() {
        let clock = Clock::default();
        let t0 = Instant::now();
        assert_eq!(clock.instant(5), None);
        let a = clock.ticks(t0);
        let b = clock.ticks(t0 + Duration::from_millis(1500));
        assert_eq!(b - a, 1500);
        assert_eq!(clock.instant(b), Some(t0 + Duration::from_millis(1500)));
        if let Some(before) = t0.checked_sub(Duration::from_secs(10)) {
            assert_eq!(a - clock.ticks(before), 10_000);
        }
    }
}
