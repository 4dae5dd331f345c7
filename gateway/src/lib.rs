//! The gateway: a thin I/O shell around `natcore` and boringtun.
pub mod tunnel;
