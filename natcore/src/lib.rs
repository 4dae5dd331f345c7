//! `natcore`: the Globalnet double-NAT engine, sans-IO.
//!
//! Contract (the same one quinn-proto and firezone's connlib keep):
//! - no sockets, no threads, no clock reads: every time-dependent call takes `now`;
//! - inputs are `handle_*(now, ..)`, outputs are return values or `poll_*()`;
//! - packets live in caller-owned buffers and are rewritten in place;
//! - no allocation per packet on established flows;
//! - every byte is hostile: a packet either translates or is dropped with a
//!   [`DropReason`]; nothing in this crate panics on input.
//!
//! Module map:
//! - [`checksum`]: RFC 1071 sums and RFC 1624 incremental updates.
//! - [`wire`]: validated zero-copy views over IPv4 / TCP / UDP / ICMP.
//! - [`mss`]: TCP MSS clamping and the ICMP "fragmentation needed" builder.
//! - [`ipam`]: global address management for one cluster's global block.
//! - [`plan`]: the immutable address plan the engine consults (built by [`ipam`]).
//! - [`nat`]: the flow table: keys, entries, timeouts, port allocation, limits.
//! - [`engine`]: `handle_outbound` / `handle_inbound` / `handle_timeout`.
//! - [`drop_reason`]: why a packet was dropped (also the metric label).
//! - [`stats`]: counters, per worker on the hot path, summed into snapshots.

pub mod checksum;
pub mod drop_reason;
pub mod engine;
pub mod ipam;
pub mod mss;
pub mod nat;
pub mod plan;
pub mod stats;
pub mod wire;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use drop_reason::DropReason;
pub use engine::{Engine, EngineConfig, Verdict};
pub use plan::AddressPlan;
pub use stats::{Counters, StatsSnapshot};
