//! The gateway: a thin I/O shell around `natcore` and boringtun.

pub mod admin;
pub mod cli;
pub mod io;
pub mod metrics;
pub mod state;
pub mod status;
