//! The gateway's system interfaces: the only code that makes syscalls on the
//! data path. Each submodule wraps one kernel interface behind a batched API.

pub mod netlink;
pub mod poll;
pub mod tun;
pub mod udp;
pub mod udp_offload;

pub use poll::poll_readable;
