//! Port (and ICMP identifier) choice for new egress flows.
//!
//! NAPT in the firezone / Linux style: keep the source port when it is free,
//! otherwise search upward from it, wrapping, within the same class of port
//! (RFC 4787 REQ-3: a privileged source port stays privileged; ports ≥ 1024
//! stay ≥ 1024). Echo identifiers have no classes and use the full range.

use crate::wire::Protocol;
use std::net::Ipv4Addr;
use std::ops::RangeInclusive;

const FIRST_UNPRIVILEGED: u16 = 1024;

/// The ports a translated source may use when the original was `original`.
pub fn port_range(protocol: Protocol, original: u16) -> RangeInclusive<u16> {
    match protocol {
        Protocol::Icmp => 0..=u16::MAX,
        _ if original >= FIRST_UNPRIVILEGED => FIRST_UNPRIVILEGED..=u16::MAX,
        _ => 1..=FIRST_UNPRIVILEGED - 1,
    }
}

/// Number of ports in [`port_range`].
pub fn port_range_len(protocol: Protocol, original: u16) -> u32 {
    let r = port_range(protocol, original);
    u32::from(*r.end()) - u32::from(*r.start()) + 1
}

/// Every port of the range exactly once: `original` first (or the range
/// start if `original` lies outside it, i.e. port 0), then upward, wrapping.
pub fn port_candidates(protocol: Protocol, original: u16) -> impl Iterator<Item = u16> {
    let range = port_range(protocol, original);
    let first = u32::from(*range.start());
    let len = port_range_len(protocol, original);
    let start = if range.contains(&original) {
        u32::from(original) - first
    } else {
        0
    };
    (0..len).map(move |i| {
        let offset = (start + i) % len;
        // first + offset ≤ 65535 by construction of the range.
        u16::try_from(first + offset).unwrap_or(u16::MAX)
    })
}

/// Index of the egress IP, among `n` candidates, that `src`'s flows try
/// first. A fixed function of the source (not per-process random) so that one
/// pod keeps appearing under the same global IP across restarts, which is what
/// remote network policies and logs need.
pub fn egress_ip_start(src: Ipv4Addr, n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    // Fibonacci hashing: multiply by 2^32/φ and keep the high bits; then scale
    // to n without the bias of a plain modulo.
    const GOLDEN: u32 = 0x9E37_79B9;
    let mixed = u64::from(u32::from(src).wrapping_mul(GOLDEN));
    usize::try_from((mixed * n as u64) >> 32).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_start_at_original_and_wrap_within_class() {
        let c: Vec<u16> = port_candidates(Protocol::Udp, 65534).take(4).collect();
        assert_eq!(c, [65534, 65535, 1024, 1025]);
        let c: Vec<u16> = port_candidates(Protocol::Tcp, 1022).take(3).collect();
        assert_eq!(c, [1022, 1023, 1]);
        assert_eq!(port_candidates(Protocol::Tcp, 0).next(), Some(1));
        assert_eq!(port_candidates(Protocol::Tcp, 80).count(), 1023);
        assert_eq!(port_candidates(Protocol::Tcp, 40000).count(), 64512);
        assert_eq!(port_candidates(Protocol::Icmp, 0).count(), 65536);
    }

    #[test]
    fn candidates_visit_every_port_once() {
        let mut seen: Vec<u16> = port_candidates(Protocol::Udp, 50000).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 64512);
        assert_eq!(seen.first(), Some(&1024));
    }

    #[test]
    fn egress_ip_start_is_in_range_and_spreads() {
        let mut hits = [0u32; 8];
        for i in 0..4096u32 {
            let idx = egress_ip_start(Ipv4Addr::from(0x0af4_0000 + i), 8);
            hits[idx] += 1;
        }
        assert!(hits.iter().all(|&h| h > 300), "{hits:?}");
        assert_eq!(egress_ip_start(Ipv4Addr::new(1, 2, 3, 4), 0), 0);
        assert_eq!(egress_ip_start(Ipv4Addr::new(1, 2, 3, 4), 1), 0);
    }
}
