//! A bounded WireGuard handshake-initiation flood against one gateway, for
//! the abuse test (issue 5): `tests/netns/lab_flood.sh` runs it through
//! `handshake_flood` from the lab's underlay.
//!
//! ```text
//!  pool: N initiations, each from a fresh key, with a valid mac1 for the
//!        target's public key (so the target must spend a BLAKE2s on each,
//!        and a Diffie-Hellman on those its rate limiter lets through)
//!   │
//!   └▶ paced sendmmsg batches (rate × elapsed) ─▶ target UDP port
//!        ◀─ cookie replies (message type 3) counted as they come back
//! ```
//!
//! The pool is replayed round-robin: the target rejects a replayed
//! initiation after its DH (stale timestamp) at the latest, which is fine —
//! the point is the load before that, and the cookie mechanism that keeps
//! most initiations away from the DH.

mod error;
mod pool;
mod sender;

pub use error::FloodError;
pub use pool::{initiations, Initiation, HANDSHAKE_INIT_LEN};
pub use sender::{Flood, FloodPlan, FloodReport, MAX_SECONDS};
