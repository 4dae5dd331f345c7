//! Defaults of the optional fields, as the schema states them.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

/// The IPsec NAT-T port Submariner's cable drivers use; firewalls already allow it.
pub const LISTEN_PORT: u16 = 4500;
pub const STATE_DIR: &str = "/var/lib/gateway";
pub const ADMIN_SOCKET: &str = "/run/gateway/admin.sock";
pub const METRICS_ADDRESS: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 9898));
pub const TUNNEL_NAME: &str = "gw0";
/// About 8 × 64k source ports for the whole cluster, as in Submariner.
pub const CLUSTER_EGRESS_IPS: u8 = 8;
/// Submariner's allowed range for egress pools and groups.
pub const MAX_EGRESS_IPS: u8 = 20;
