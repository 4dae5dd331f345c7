//! The gateway: a thin I/O shell around `natcore` and boringtun.

pub mod admin;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod files;
pub mod health;
pub mod io;
pub mod keys;
pub mod metrics;
pub mod mtu_probe;
pub mod state;
pub mod status;
pub mod tunnel;
pub mod uapi;
