//! The gateway: a thin I/O shell around `natcore` and boringtun.

pub mod health;
pub mod io;
pub mod state;
pub mod status;
