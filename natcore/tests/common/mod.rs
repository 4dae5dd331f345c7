//! Shared setup for natcore's integration tests: two clusters with the same
//! Pod and Service CIDRs (the reason Globalnet exists), their address plans,
//! and packet helpers.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::panic)] // each test binary uses a different part; test-only items

pub mod model;

use ipnet::Ipv4Net;
use natcore::plan::IngressPlan;
use natcore::testing;
use natcore::wire::{classify, FiveTuple, PacketKind, Protocol};
use natcore::{AddressPlan, Counters, DropReason, Engine, EngineConfig, Verdict};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Instant;

pub fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

pub fn net(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}

pub const TUNNEL_MTU: u16 = 1420;

/// Cluster A: global block 242.0.0.0/16, egress pool .2 and .3 (.1 is the
/// gateway's own address, never allocated), exports
/// 10.96.0.10 as 242.0.0.5. Peer B's block is 243.0.0.0/16; 172.20.0.0/16 is
/// a routed (non-Globalnet) peer.
pub fn config_a(limits: natcore::engine::Limits) -> EngineConfig {
    EngineConfig {
        local_cidrs: vec![net("10.244.0.0/16"), net("10.96.0.0/16")],
        remote_global_blocks: vec![net("243.0.0.0/16")],
        routed_cidrs: vec![net("172.20.0.0/16")],
        tunnel_mtu: TUNNEL_MTU,
        icmp_source: ip("10.244.0.1"),
        timeouts: Default::default(),
        limits,
    }
}

pub fn plan_a() -> AddressPlan {
    let mut p = AddressPlan::new(net("242.0.0.0/16"), vec![ip("242.0.0.2"), ip("242.0.0.3")]);
    p.ingress.push(IngressPlan {
        service: "shared/echo".into(),
        global_ip: ip("242.0.0.5"),
        target: ip("10.96.0.10"),
        headless: false,
    });
    p
}

/// Cluster B: the mirror image, global block 243.0.0.0/16, egress pool
/// 243.0.0.2, exports its 10.96.0.10 as 243.0.0.5.
pub fn config_b() -> EngineConfig {
    EngineConfig {
        local_cidrs: vec![net("10.244.0.0/16"), net("10.96.0.0/16")],
        remote_global_blocks: vec![net("242.0.0.0/16")],
        routed_cidrs: vec![],
        tunnel_mtu: TUNNEL_MTU,
        icmp_source: ip("10.244.0.1"),
        timeouts: Default::default(),
        limits: Default::default(),
    }
}

pub fn plan_b() -> AddressPlan {
    let mut p = AddressPlan::new(net("243.0.0.0/16"), vec![ip("243.0.0.2")]);
    p.ingress.push(IngressPlan {
        service: "shared/echo".into(),
        global_ip: ip("243.0.0.5"),
        target: ip("10.96.0.10"),
        headless: false,
    });
    p
}

pub fn engine_a(limits: natcore::engine::Limits) -> Engine {
    Engine::new(config_a(limits), Arc::new(plan_a()))
}

pub fn engine_b() -> Engine {
    Engine::new(config_b(), Arc::new(plan_b()))
}

/// A flow packet for `tuple`: TCP with `flags`, UDP, or an ICMP echo
/// (request if `flags` has SYN set, to reuse one generator).
pub fn packet_for(tuple: FiveTuple, flags: u8, payload: &[u8]) -> Vec<u8> {
    let src = (tuple.src, tuple.src_port);
    let dst = (tuple.dst, tuple.dst_port);
    match tuple.protocol {
        Protocol::Tcp => testing::tcp_packet(src, dst, flags, &[], payload),
        Protocol::Udp => testing::udp_packet(src, dst, payload),
        Protocol::Icmp => testing::icmp_echo(
            tuple.src,
            tuple.dst,
            flags & 0x02 != 0,
            tuple.src_port,
            1,
            payload,
        ),
    }
}

pub fn tuple_of(packet: &[u8]) -> FiveTuple {
    match classify(packet).unwrap().kind {
        PacketKind::Flow { tuple, .. } => tuple,
        other => panic!("not a flow packet: {other:?}"),
    }
}

pub enum Out {
    Forward(Vec<u8>),
    Reply(Vec<u8>),
}

/// Runs one packet through `engine` in a direction; returns the forwarded
/// bytes (or the reply) or the drop reason.
pub fn run(
    engine: &Engine,
    now: Instant,
    outbound: bool,
    packet: &[u8],
    counters: &mut Counters,
) -> Result<Out, DropReason> {
    let mut buf = packet.to_vec();
    let mut reply = vec![0u8; 576];
    let verdict = if outbound {
        engine.handle_outbound(now, &mut buf, &mut reply, counters)?
    } else {
        engine.handle_inbound(now, &mut buf, &mut reply, counters)?
    };
    Ok(match verdict {
        Verdict::Forward { len } => Out::Forward(buf[..len].to_vec()),
        Verdict::Reply { len } => Out::Reply(reply[..len].to_vec()),
    })
}

/// Like [`run`], for packets that must be forwarded.
pub fn forward(engine: &Engine, now: Instant, outbound: bool, packet: &[u8]) -> Vec<u8> {
    match run(engine, now, outbound, packet, &mut Counters::default()) {
        Ok(Out::Forward(bytes)) => {
            assert!(
                testing::all_checksums_valid(&bytes),
                "checksums after translation"
            );
            bytes
        }
        Ok(Out::Reply(_)) => panic!("expected forward, got an ICMP reply"),
        Err(reason) => panic!("expected forward, dropped: {reason}"),
    }
}

/// Calls `handle_timeout` until `poll_timeout` is in the future.
pub fn settle(engine: &Engine, now: Instant, counters: &mut Counters) {
    let mut calls = 0;
    while engine.poll_timeout().is_some_and(|t| t <= now) {
        engine.handle_timeout(now, counters);
        calls += 1;
        assert!(calls < 10_000, "poll_timeout never moves past now");
    }
}
