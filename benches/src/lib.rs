//! Benchmark programs live in src/bin/; this library holds what they share:
//! a counting allocator, a timing loop, a synthetic flow population, and the
//! peer swarm (many emulated WireGuard peers) for the scale benchmark, and the
//! handshake flood for the abuse test.
//! Every program prints its figures; docs/performance.md records them with
//! the exact command.

pub mod alloc;
pub mod flood;
pub mod flows;
pub mod swarm;
pub mod timing;
