//! Benchmark programs live in src/bin/; this library holds what they share:
//! a counting allocator, a timing loop, and a synthetic flow population.
//! Every program prints its figures; docs/performance.md records them with
//! the exact command.

pub mod alloc;
pub mod flows;
pub mod timing;
