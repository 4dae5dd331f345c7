//! The invariants the fuzz targets assert, kept out of `fuzz_targets/` so
//! `tests/corpus.rs` can replay every corpus file with plain `cargo test`.

pub mod classify_rewrite;
pub mod engine_translate;
pub mod ipam_model;
pub mod mss_clamp;
pub mod seeds;
