//! The admin API: newline-delimited JSON over a Unix socket, served by the
//! daemon and used by `gwctl`. Format and stability promise: docs/admin-api.md.

pub mod client;
pub mod deadline;
pub mod protocol;
pub mod server;
pub mod socket_lock;

pub use client::{AdminClient, ClientError};
pub use protocol::{MtuProbeResult, Request, Response, MAX_REQUEST_BYTES};
pub(crate) use server::bind_admin_socket as bind_private_socket;
pub use server::{bind_admin, serve_admin, BoundAdminSocket};
