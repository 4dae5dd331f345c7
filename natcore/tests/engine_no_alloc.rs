//! The engine's established-flow path allocates nothing: after a flow is
//! created (which allocates its entry), its packets in both directions
//! (lookup in the flow table, rewrite, checksums, MSS clamp, counters) run
//! under a counting allocator. A test binary of its own, so the allocator
//! sees nothing but this test.

#![allow(clippy::unwrap_used, clippy::panic)] // test code

mod common;

use common::*;
use natcore::engine::Limits;
use natcore::testing::{self, tcp_flags::*};
use natcore::{Counters, Verdict};
use std::time::{Duration, Instant};

#[path = "support/counting_allocator.rs"]
mod counting_allocator;

use counting_allocator::allocations;

const ROUNDS: usize = 1000;

#[test]
fn established_flows_do_not_allocate() {
    let engine = engine_a(Limits::default());
    let start = Instant::now();
    let pod = (ip("10.244.1.10"), 40000);
    let remote = (ip("243.0.0.5"), 8080);
    let outbound = [
        testing::tcp_packet(pod, remote, ACK, &[], b"data"),
        testing::udp_packet(pod, remote, b"datagram"),
        testing::icmp_echo(pod.0, remote.0, true, 7, 1, b"ping"),
    ];
    // Create the three flows and learn their replies' translated form
    // (this allocates: flow entries, map nodes, the thread's epoch record).
    let mut counters = Counters::default();
    let mut inbound = Vec::new();
    // The flows' replies, as the peer sends them.
    for packet in &outbound {
        let out = tuple_of(&forward(&engine, start, true, packet));
        let reply = match out.protocol {
            natcore::wire::Protocol::Icmp => {
                testing::icmp_echo(out.dst, out.src, false, out.src_port, 1, b"pong")
            }
            _ => packet_for(out.reversed(), ACK, b"reply"),
        };
        forward(&engine, start, false, &reply);
        inbound.push(reply);
    }
    let mut buf = [0u8; 1500];
    let mut icmp_reply = [0u8; 576];
    let mut run = |now: Instant, packet: &[u8], outbound: bool, counters: &mut Counters| {
        buf[..packet.len()].copy_from_slice(packet);
        let frame = &mut buf[..packet.len()];
        let verdict = if outbound {
            engine.handle_outbound(now, frame, &mut icmp_reply, counters)
        } else {
            engine.handle_inbound(now, frame, &mut icmp_reply, counters)
        };
        assert!(
            matches!(verdict, Ok(Verdict::Forward { .. })),
            "{verdict:?}"
        );
    };

    let before = allocations();
    for round in 0..ROUNDS {
        let now = start + Duration::from_millis(round as u64);
        for (out, back) in outbound.iter().zip(&inbound) {
            run(now, out, true, &mut counters);
            run(now, back, false, &mut counters);
        }
    }
    let allocated = allocations() - before;
    assert_eq!(
        allocated,
        0,
        "{allocated} allocations over {} established packets",
        ROUNDS * 6
    );
    // Every one of them really went through the translation.
    assert_eq!(counters.translated.iter().sum::<u64>(), (ROUNDS * 6) as u64);
}
