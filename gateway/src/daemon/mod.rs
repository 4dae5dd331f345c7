//! The daemon: start-up, the worker threads, reload and graceful shutdown.
//!
//! Start-up order matters for restarts: global IPs are re-reserved from the
//! state file and NAT flows re-imported *before* the TUN comes up, so the
//! first packet after a rolling update finds its flow.

pub mod bulk_scheduling;
pub mod core;
pub mod datapath;
pub mod endpoints;
pub mod handshakes;
pub mod liveness;
pub mod node_flows;
pub mod probes;
pub mod reload_replies;
pub mod reload_summary;
pub mod runtime;
pub mod rx_moderation;
pub mod setup;
pub mod signals;
pub mod solo;
pub mod status;
pub mod watch;
pub mod workers;

pub use runtime::{run, run_with, DaemonError, RunOptions};
