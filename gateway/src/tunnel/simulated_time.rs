//! boringtun's clock under the `simulated-time` feature: mock_instant 0.3's
//! `MockClock`, which starts at zero and only moves when told to.
//!
//! The clock is per thread: drive each simulated pair of gateways from one
//! thread (a boringtun `Instant` from another thread's clock can make its
//! duration arithmetic underflow and panic). Tests only.

use std::time::Duration;

/// Moves boringtun's clock (on this thread) forward by `by`.
pub fn advance(by: Duration) {
    mock_instant::MockClock::advance(by);
}

/// Simulated time elapsed on this thread.
pub fn elapsed() -> Duration {
    mock_instant::MockClock::time()
}
