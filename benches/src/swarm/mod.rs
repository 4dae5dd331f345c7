//! The peer swarm: many WireGuard peers emulated in one process, each with
//! its own key, its own boringtun `Tunn` and its own UDP socket (so the
//! gateway sees a distinct endpoint per peer), for the 1,000-peer scale
//! benchmark (`benches/scale/run`).

pub mod error;
pub mod gateway_view;
pub mod keys;
pub mod peer;
pub mod poll;
pub mod report;
pub mod run;

pub use error::SwarmError;
