//! The NAT flow table, at the 5-tuple level (no packet bytes here).
//!
//! - [`flow`]: a flow's endpoints, kind, TCP tracking; its two keys.
//! - [`key`]: `Inside` / `Outside` 5-tuple newtypes.
//! - [`table`]: lock-free lookups, locked creation, sweeping, export/import.
//! - [`ports`]: NAPT port choice and egress IP choice.
//! - [`timeouts`]: per-protocol idle timeouts (RFC 4787 / 5382 / 5508) and limits.
//! - [`record`]: the stable byte encoding of saved flows.
//! - [`frag`]: the fragment table (non-first fragments follow their first).

pub(crate) mod clock;
pub mod flow;
pub mod frag;
pub mod key;
mod map;
pub mod ports;
pub mod record;
mod registry;
pub mod table;
pub mod timeouts;

pub use flow::{tcp_seen, tcp_state, Direction, Endpoint, FlowKind, TcpState};
pub use key::{Inside, Outside};
pub use record::{flows_from_bytes, flows_to_bytes, FlowRecord, RecordError};
pub use registry::{protocol_index, PROTOCOLS};
pub use table::{FlowTable, FlowView, ImportReport, ImportSkip};
pub use timeouts::{Limits, Timeouts};
