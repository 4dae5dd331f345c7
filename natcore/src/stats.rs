//! Counters. Workers count into a plain [`Counters`] (no atomics on the hot path)
//! and flush it into the engine's shared totals once per batch.

use crate::DropReason;

/// Per-worker counts since the last flush. (Skeleton: fields grow with the engine.)
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub drops: [u64; DropReason::ALL.len()],
}

/// A consistent-enough read of the shared totals.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub drops: [u64; DropReason::ALL.len()],
}
