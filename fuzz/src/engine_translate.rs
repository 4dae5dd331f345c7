//! `engine_translate`: a sequence of packets, each outbound or inbound,
//! interleaved with clock jumps, through one `natcore::Engine` (cluster A of
//! the lab: 242.0.0.0/16, peer block 243.0.0.0/16, routed 172.20.0.0/16,
//! small limits so they are reached).
//!
//! Input layout: repeated `[op][length: u16 BE][packet…]`. `op` bit 0: 1 =
//! outbound (read from the TUN), 0 = inbound; bits 1–3: clock jump before the
//! packet (see [`JUMPS_MS`], straddling every timeout).
//!
//! Asserted, besides "never panics":
//! - every `Err` is counted exactly once in the worker's counters;
//! - a forwarded packet still classifies, and if the input's checksums were
//!   valid, so are the output's (IPv4, L4, quoted IPv4 header);
//! - translate-then-reverse is the identity: the reply to a translated flow
//!   packet (its output with source and destination swapped), sent back the
//!   other way, arrives with exactly the input's tuple reversed;
//! - a `Reply` verdict holds a valid ICMP error addressed to the sender;
//! - the table never exceeds its limit, and both lookup maps agree with it.

use natcore::engine::{Limits, Timeouts};
use natcore::plan::IngressPlan;
use natcore::testing::all_checksums_valid;
use natcore::wire::{classify, rewrite_dst, rewrite_src, Classified, FiveTuple, PacketKind};
use natcore::{AddressPlan, Counters, Engine, EngineConfig, Verdict};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const MAX_FLOWS: usize = 64;
const TUNNEL_MTU: usize = 1420;

/// Clock jumps selected by bits 1–3 of `op` (ms).
pub const JUMPS_MS: [u64; 8] = [0, 1, 1_000, 30_001, 60_001, 240_001, 300_001, 7_440_001];

/// One step of an input: (outbound, index into [`JUMPS_MS`], packet).
pub type Op<'a> = (bool, u8, &'a [u8]);

/// Encodes a fuzz input (for seeds).
pub fn encode(packets: &[Op<'_>]) -> Vec<u8> {
    let mut input = Vec::new();
    for &(outbound, jump, packet) in packets {
        input.push(u8::from(outbound) | ((jump & 7) << 1));
        let len = u16::try_from(packet.len()).unwrap_or(u16::MAX);
        input.extend_from_slice(&len.to_be_bytes());
        input.extend_from_slice(&packet[..usize::from(len)]);
    }
    input
}

pub fn engine() -> Engine {
    let config = EngineConfig {
        local_cidrs: vec![
            "10.244.0.0/16".parse().unwrap(),
            "10.96.0.0/16".parse().unwrap(),
        ],
        remote_global_blocks: vec!["243.0.0.0/16".parse().unwrap()],
        routed_cidrs: vec!["172.20.0.0/16".parse().unwrap()],
        tunnel_mtu: TUNNEL_MTU as u16,
        icmp_source: Ipv4Addr::new(10, 244, 0, 1),
        timeouts: Timeouts::default(),
        limits: Limits {
            max_flows: MAX_FLOWS,
            max_flows_per_source: 16,
        },
    };
    let mut plan = AddressPlan::new(
        "242.0.0.0/16".parse().unwrap(),
        vec![Ipv4Addr::new(242, 0, 0, 1), Ipv4Addr::new(242, 0, 0, 2)],
    );
    plan.ingress.push(IngressPlan {
        service: "shared/echo".into(),
        global_ip: Ipv4Addr::new(242, 0, 0, 5),
        target: Ipv4Addr::new(10, 96, 0, 10),
        headless: false,
    });
    Engine::new(config, Arc::new(plan))
}

struct Run {
    engine: Engine,
    now: Instant,
    counters: Counters,
}

impl Run {
    /// Runs one packet; returns the forwarded bytes if it was forwarded.
    fn one(&mut self, outbound: bool, packet: &[u8]) -> Option<Vec<u8>> {
        let drops_before: u64 = self.counters.drops.iter().sum();
        let mut buf = packet.to_vec();
        let mut reply = vec![0u8; 576];
        let result = if outbound {
            self.engine
                .handle_outbound(self.now, &mut buf, &mut reply, &mut self.counters)
        } else {
            self.engine
                .handle_inbound(self.now, &mut buf, &mut reply, &mut self.counters)
        };
        let drops: u64 = self.counters.drops.iter().sum();
        let (n, s) = self.engine.table().map_sizes();
        let len = self.engine.table().len();
        assert!(len <= MAX_FLOWS, "{len} flows over the limit");
        assert_eq!((n, s), (len, len), "lookup maps disagree with the registry");
        match result {
            Err(_) => {
                assert_eq!(drops, drops_before + 1, "a drop not counted once");
                None
            }
            Ok(Verdict::Reply { len }) => {
                let icmp = &reply[..len];
                assert!(
                    all_checksums_valid(icmp),
                    "generated ICMP error has a bad checksum"
                );
                let c = classify(icmp).expect("generated ICMP error does not classify");
                let PacketKind::IcmpError { outer_dst, .. } = c.kind else {
                    panic!("reply is not an ICMP error: {c:?}");
                };
                assert_eq!(
                    outer_dst.octets(),
                    packet[12..16],
                    "reply not sent to the sender"
                );
                None
            }
            Ok(Verdict::Forward { len }) => {
                assert_eq!(drops, drops_before, "forwarded yet counted as a drop");
                let out = buf[..len].to_vec();
                classify(&out).expect("forwarded packet no longer classifies");
                if all_checksums_valid(packet) {
                    assert!(all_checksums_valid(&out), "translation broke a checksum");
                }
                Some(out)
            }
        }
    }
}

fn flow_tuple(c: &Classified) -> Option<FiveTuple> {
    match c.kind {
        PacketKind::Flow { tuple, .. } => Some(tuple),
        _ => None,
    }
}

/// The packet a peer would answer `out` with: source and destination swapped.
fn swapped(out: &[u8]) -> Option<Vec<u8>> {
    let mut reply = out.to_vec();
    let c = classify(&reply).ok()?;
    let t = flow_tuple(&c)?;
    // Through an intermediate address so the two rewrites never alias.
    if !rewrite_src(&mut reply, &c, t.dst, t.dst_port) {
        return None;
    }
    let c = classify(&reply).ok()?;
    rewrite_dst(&mut reply, &c, t.src, t.src_port).then_some(reply)
}

pub fn check(data: &[u8]) {
    let mut run = Run {
        engine: engine(),
        now: Instant::now(),
        counters: Counters::default(),
    };
    let mut rest = data;
    while let [op, hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
        let (packet, next) = tail.split_at(len);
        rest = next;
        let outbound = op & 1 != 0;
        let jump = JUMPS_MS[usize::from((op >> 1) & 7)];
        if jump > 0 {
            run.now += Duration::from_millis(jump);
            let mut calls = 0;
            while run.engine.poll_timeout().is_some_and(|t| t <= run.now) {
                run.engine.handle_timeout(run.now, &mut run.counters);
                calls += 1;
                assert!(calls < 1000, "poll_timeout never moves past now");
            }
        }
        let translated_before = run.counters.translated;
        let Some(out) = run.one(outbound, packet) else {
            continue;
        };
        let dir = usize::from(!outbound);
        let was_translated = run.counters.translated[dir] > translated_before[dir];
        let Some(input) = classify(packet).ok().as_ref().and_then(flow_tuple) else {
            continue;
        };
        // A translated inbound packet over the tunnel MTU would, answered
        // outbound, rightly get "fragmentation needed" instead.
        if !was_translated || (!outbound && out.len() > TUNNEL_MTU) {
            continue;
        }
        // Translate-then-reverse: the answer must come back to the sender.
        let Some(answer) = swapped(&out) else {
            continue;
        };
        let back = run
            .one(!outbound, &answer)
            .expect("the reply to a translated packet was dropped");
        let got =
            flow_tuple(&classify(&back).expect("classified above")).expect("still a flow packet");
        assert_eq!(
            got,
            input.reversed(),
            "translate-then-reverse changed the tuple"
        );
    }
}
