//! A synthetic flow population for cluster A of the lab: pods anywhere in
//! 10.244.0.0/16 with random ephemeral source ports, talking UDP to 64
//! endpoints in peer B's global block, SNATed over an egress pool of 8 IPs
//! (Submariner's default pool size).

use ipnet::Ipv4Net;
use natcore::engine::{Limits, Timeouts};
use natcore::wire::{FiveTuple, Protocol};
use natcore::{AddressPlan, Engine, EngineConfig};
use std::net::Ipv4Addr;
use std::sync::Arc;

/// Bytes per synthetic packet: IPv4 20 + UDP 8 + payload 8.
pub const PACKET_LEN: usize = 20 + 8 + 8;

fn net(a: [u8; 4], len: u8) -> Ipv4Net {
    Ipv4Net::new(Ipv4Addr::from(a), len).unwrap_or_default()
}

pub fn engine(max_flows: usize) -> Engine {
    let config = EngineConfig {
        local_cidrs: vec![net([10, 244, 0, 0], 16), net([10, 96, 0, 0], 16)],
        remote_global_blocks: vec![net([243, 0, 0, 0], 16)],
        routed_cidrs: vec![],
        tunnel_mtu: 1420,
        icmp_source: Ipv4Addr::new(10, 244, 0, 1),
        timeouts: Timeouts::default(),
        limits: Limits {
            max_flows,
            max_flows_per_source: 1 << 14,
        },
    };
    let pool = (1..=8).map(|i| Ipv4Addr::new(242, 0, 0, i)).collect();
    Engine::new(
        config,
        Arc::new(AddressPlan::new(net([242, 0, 0, 0], 16), pool)),
    )
}

/// SplitMix64: a fixed, well-mixed sequence (no RNG dependency).
pub fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The i-th flow's outbound tuple; distinct for every i < 2^22.
pub fn tuple(i: usize) -> FiveTuple {
    let pod = u32::from(Ipv4Addr::new(10, 244, 0, 0)) + (i % 65536) as u32;
    let round = (i / 65536) as u8; // a different destination per round keeps tuples distinct
    FiveTuple {
        protocol: Protocol::Udp,
        src: Ipv4Addr::from(pod),
        src_port: 1024 + (mix(i as u64) % 64512) as u16,
        dst: Ipv4Addr::new(243, 0, round, 5),
        dst_port: 8080,
    }
}

/// All the packets of flows `0..n`, back to back, [`PACKET_LEN`] bytes each.
pub fn packets(n: usize) -> Vec<u8> {
    let mut arena = Vec::with_capacity(n * PACKET_LEN);
    for i in 0..n {
        let t = tuple(i);
        arena.extend_from_slice(&natcore::testing::udp_packet(
            (t.src, t.src_port),
            (t.dst, t.dst_port),
            b"payload!",
        ));
    }
    arena
}

/// The i-th index of a pseudo-random walk over 0..n (SplitMix of i), so
/// that consecutive lookups touch unrelated cache lines (a plain stride
/// would be prefetched).
pub fn scattered(i: usize, n: usize) -> usize {
    (mix(i as u64) % n as u64) as usize
}
