//! Tunnel MTU arithmetic. A packet of the tunnel (inner) MTU, once wrapped by
//! WireGuard, UDP and the outer IP header, must fit the underlay MTU.

/// WireGuard data message: type + reserved (4) + receiver index (4) + counter (8),
/// then the Poly1305 tag (16).
pub const WIREGUARD_OVERHEAD: u16 = 4 + 4 + 8 + 16;
pub const UDP_HEADER: u16 = 8;
pub const IPV4_HEADER: u16 = 20;
pub const IPV6_HEADER: u16 = 40;

/// Default headroom: sized for an IPv6 underlay so the default works on
/// either family (40 + 8 + 32 = 80; 1500 → 1420, WireGuard's own default).
pub const DEFAULT_TUNNEL_OVERHEAD: u16 = IPV6_HEADER + UDP_HEADER + WIREGUARD_OVERHEAD;
/// Least possible headroom: an IPv4 underlay (20 + 8 + 32 = 60). A larger
/// tunnel MTU could never fit, so it is rejected.
pub const MIN_TUNNEL_OVERHEAD: u16 = IPV4_HEADER + UDP_HEADER + WIREGUARD_OVERHEAD;

/// RFC 791: every IPv4 host must accept 576-byte datagrams.
pub const MIN_TUNNEL_MTU: u16 = 576;
pub const MAX_MTU: u16 = u16::MAX;
/// The smallest underlay that can carry the smallest tunnel MTU.
pub const MIN_UNDERLAY_MTU: u16 = MIN_TUNNEL_MTU + MIN_TUNNEL_OVERHEAD;

pub const DEFAULT_UNDERLAY_MTU: u16 = 1500;

/// `tunnel.mtu` when not set: `underlay_mtu − 80`.
pub fn default_tunnel_mtu(underlay_mtu: u16) -> u16 {
    underlay_mtu.saturating_sub(DEFAULT_TUNNEL_OVERHEAD)
}

/// The largest `tunnel.mtu` accepted for this underlay: `underlay_mtu − 60`.
pub fn max_tunnel_mtu(underlay_mtu: u16) -> u16 {
    underlay_mtu.saturating_sub(MIN_TUNNEL_OVERHEAD)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_matches_wireguard_defaults() {
        assert_eq!(WIREGUARD_OVERHEAD, 32);
        assert_eq!(DEFAULT_TUNNEL_OVERHEAD, 80);
        assert_eq!(MIN_TUNNEL_OVERHEAD, 60);
        assert_eq!(default_tunnel_mtu(1500), 1420);
        assert_eq!(max_tunnel_mtu(1500), 1440);
        assert_eq!(MIN_UNDERLAY_MTU, 636);
    }
}
