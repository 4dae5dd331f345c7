//! The engine against the reference model (`common/model.rs`) over random
//! sequences of packets — new flows, replies to earlier packets, ICMP errors
//! quoting earlier packets — and clock jumps across every timeout. After each
//! packet the engine's output must be what the model predicts (same tuple or
//! same drop reason), with valid checksums; after each jump the engine's
//! table must hold exactly the model's live flows.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use common::model::{Expect, ExpectError, Model, ModelTimeouts, ACK, FIN, RST, SYN};
use common::*;
use natcore::engine::Limits;
use natcore::testing;
use natcore::wire::{classify, FiveTuple, PacketKind, Protocol};
use natcore::{Counters, DropReason};
use proptest::prelude::*;
use std::time::{Duration, Instant};

const LIMITS: Limits = Limits {
    max_flows: 14,
    max_flows_per_source: 5,
};

const OUT_SOURCES: [&str; 5] = [
    "10.244.1.1",
    "10.244.1.2",
    "10.96.0.10",
    "10.244.2.1",
    "192.168.0.9",
];
const OUT_DESTS: [&str; 5] = [
    "243.0.0.5",
    "243.0.0.6",
    "243.0.9.9",
    "172.20.0.1",
    "8.8.8.8",
];
const IN_SOURCES: [&str; 3] = ["243.0.0.5", "243.0.0.6", "172.20.0.1"];
const IN_DESTS: [&str; 6] = [
    "242.0.0.5",
    "242.0.0.3",
    "242.0.0.2",
    "242.0.0.9",
    "10.244.1.1",
    "10.96.0.10",
];
const PORTS: [u16; 5] = [80, 1023, 1024, 40000, 65535];
const FLAGS: [u8; 6] = [SYN, SYN | ACK, ACK, FIN | ACK, RST, RST | ACK];
/// Clock jumps that straddle every default timeout (ms).
const JUMPS: [u64; 8] = [
    1, 1_000, 59_999, 60_000, 239_999, 240_000, 300_000, 7_440_000,
];

#[derive(Clone, Debug)]
enum Op {
    Out {
        src: usize,
        sport: usize,
        dst: usize,
        dport: usize,
        proto: usize,
        flags: usize,
    },
    In {
        src: usize,
        sport: usize,
        dst: usize,
        dport: usize,
        proto: usize,
        flags: usize,
    },
    /// The peer answers the k-th packet we forwarded to it.
    ReplyIn {
        k: usize,
        flags: usize,
    },
    /// A local endpoint answers the k-th packet we delivered.
    ReplyOut {
        k: usize,
        flags: usize,
    },
    /// The peer reports an error about the k-th packet we forwarded.
    ErrorIn {
        k: usize,
    },
    /// A local host reports an error about the k-th packet we delivered.
    ErrorOut {
        k: usize,
    },
    Advance {
        jump: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let i = |n: usize| 0..n;
    prop_oneof![
        3 => (i(5), i(5), i(5), i(5), i(3), i(6)).prop_map(|(src, sport, dst, dport, proto, flags)| Op::Out { src, sport, dst, dport, proto, flags }),
        2 => (i(3), i(5), i(6), i(5), i(3), i(6)).prop_map(|(src, sport, dst, dport, proto, flags)| Op::In { src, sport, dst, dport, proto, flags }),
        3 => (any::<usize>(), i(6)).prop_map(|(k, flags)| Op::ReplyIn { k, flags }),
        2 => (any::<usize>(), i(6)).prop_map(|(k, flags)| Op::ReplyOut { k, flags }),
        1 => any::<usize>().prop_map(|k| Op::ErrorIn { k }),
        1 => any::<usize>().prop_map(|k| Op::ErrorOut { k }),
        1 => i(JUMPS.len()).prop_map(|jump| Op::Advance { jump }),
    ]
}

const PROTOS: [Protocol; 3] = [Protocol::Tcp, Protocol::Udp, Protocol::Icmp];

fn flow_tuple(proto: Protocol, src: &str, sport: u16, dst: &str, dport: u16) -> FiveTuple {
    // An echo carries its identifier in both "ports".
    let dport = if proto == Protocol::Icmp {
        sport
    } else {
        dport
    };
    FiveTuple {
        protocol: proto,
        src: ip(src),
        src_port: sport,
        dst: ip(dst),
        dst_port: dport,
    }
}

fn model() -> Model {
    Model {
        local: vec![net("10.244.0.0/16"), net("10.96.0.0/16")],
        remote_blocks: vec![net("243.0.0.0/16")],
        routed: vec![net("172.20.0.0/16")],
        plan: plan_a(),
        timeouts: ModelTimeouts {
            tcp_established: 7_440_000,
            tcp_transitory: 240_000,
            udp: 300_000,
            icmp: 60_000,
        },
        max_flows: LIMITS.max_flows,
        max_per_source: LIMITS.max_flows_per_source,
        flows: Vec::new(),
    }
}

struct World {
    engine: natcore::Engine,
    model: Model,
    start: Instant,
    now_ms: u64,
    counters: Counters,
    /// Packets forwarded to peers / delivered locally, as they left.
    sent: Vec<Vec<u8>>,
    delivered: Vec<Vec<u8>>,
}

impl World {
    fn now(&self) -> Instant {
        self.start + Duration::from_millis(self.now_ms)
    }

    /// Runs a flow packet and checks it against the model's expectation.
    fn flow(&mut self, outbound: bool, tuple: FiveTuple, flags: u8) -> Result<(), TestCaseError> {
        let echo_request = flags & SYN != 0;
        let tcp_flags = if tuple.protocol == Protocol::Tcp {
            flags
        } else {
            0
        };
        let packet = packet_for(tuple, flags, b"data");
        let expected = if outbound {
            self.model
                .outbound(self.now_ms, tuple, tcp_flags, echo_request)
        } else {
            self.model
                .inbound(self.now_ms, tuple, tcp_flags, echo_request)
        };
        let got = run(
            &self.engine,
            self.now(),
            outbound,
            &packet,
            &mut self.counters,
        );
        match (expected, got) {
            (Err(want), Err(got)) => prop_assert_eq!(want, got, "drop reason for {:?}", tuple),
            (Ok(want), Ok(Out::Forward(bytes))) => {
                prop_assert!(
                    testing::all_checksums_valid(&bytes),
                    "checksums of {}",
                    hex(&bytes)
                );
                let left_with = tuple_of(&bytes);
                let want = match want {
                    Expect::Passthrough => tuple,
                    Expect::Translated(t) => t,
                };
                prop_assert_eq!(left_with, want, "translation of {:?}", tuple);
                // Only the addresses/ports (and checksums) may change.
                prop_assert_eq!(bytes.len(), packet.len());
                if outbound {
                    self.sent.push(bytes)
                } else {
                    self.delivered.push(bytes)
                }
            }
            (want, got) => {
                let got = got.map(|o| match o {
                    Out::Forward(b) => hex(&b),
                    Out::Reply(b) => format!("reply {}", hex(&b)),
                });
                prop_assert!(false, "{:?}: model {:?}, engine {:?}", tuple, want, got);
            }
        }
        Ok(())
    }

    /// Runs an ICMP error quoting `quoted` and checks it against the model.
    fn error(&mut self, outbound: bool, quoted: &[u8]) -> Result<(), TestCaseError> {
        let inner = tuple_of(quoted);
        let (outer_src, outer_dst) = (inner.dst, inner.src);
        let error = testing::icmp_error(outer_src, outer_dst, 3, 3, 0, quoted);
        let expected = if outbound {
            self.model
                .outbound_error(self.now_ms, (outer_src, outer_dst), inner)
        } else {
            self.model
                .inbound_error(self.now_ms, (outer_src, outer_dst), inner)
        };
        let got = run(
            &self.engine,
            self.now(),
            outbound,
            &error,
            &mut self.counters,
        );
        match (expected, got) {
            (Err(want), Err(got)) => prop_assert_eq!(want, got),
            (Ok(want), Ok(Out::Forward(bytes))) => {
                prop_assert!(
                    testing::all_checksums_valid(&bytes),
                    "checksums of {}",
                    hex(&bytes)
                );
                let PacketKind::IcmpError {
                    outer_src: s,
                    outer_dst: d,
                    inner: i,
                    ..
                } = classify(&bytes).unwrap().kind
                else {
                    return Err(TestCaseError::fail("not an ICMP error any more"));
                };
                let want = match want {
                    ExpectError::Passthrough => ((outer_src, outer_dst), inner),
                    ExpectError::Translated { outer, inner } => (outer, inner),
                };
                prop_assert_eq!(((s, d), i), want);
            }
            (want, got) => prop_assert!(
                false,
                "error quoting {:?}: model {:?}, engine {:?}",
                inner,
                want,
                got.map(|_| ())
            ),
        }
        Ok(())
    }

    fn advance(&mut self, ms: u64) -> Result<(), TestCaseError> {
        self.now_ms += ms;
        settle(&self.engine, self.now(), &mut self.counters);
        self.model.expire(self.now_ms);
        let table = self.engine.table();
        prop_assert_eq!(
            table.len(),
            self.model.flows.len(),
            "live flows after the sweep"
        );
        prop_assert_eq!(table.stats().live_flows, self.model.live_by_protocol());
        Ok(())
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match *op {
            Op::Out {
                src,
                sport,
                dst,
                dport,
                proto,
                flags,
            } => {
                let t = flow_tuple(
                    PROTOS[proto],
                    OUT_SOURCES[src],
                    PORTS[sport],
                    OUT_DESTS[dst],
                    PORTS[dport],
                );
                self.flow(true, t, FLAGS[flags])
            }
            Op::In {
                src,
                sport,
                dst,
                dport,
                proto,
                flags,
            } => {
                let t = flow_tuple(
                    PROTOS[proto],
                    IN_SOURCES[src],
                    PORTS[sport],
                    IN_DESTS[dst],
                    PORTS[dport],
                );
                self.flow(false, t, FLAGS[flags])
            }
            Op::ReplyIn { k, flags } if !self.sent.is_empty() => {
                let t = tuple_of(&self.sent[k % self.sent.len()]).reversed();
                self.flow(false, t, FLAGS[flags])
            }
            Op::ReplyOut { k, flags } if !self.delivered.is_empty() => {
                let t = tuple_of(&self.delivered[k % self.delivered.len()]).reversed();
                self.flow(true, t, FLAGS[flags])
            }
            Op::ErrorIn { k } if !self.sent.is_empty() => {
                let quoted = self.sent[k % self.sent.len()].clone();
                self.error(false, &quoted)
            }
            Op::ErrorOut { k } if !self.delivered.is_empty() => {
                let quoted = self.delivered[k % self.delivered.len()].clone();
                self.error(true, &quoted)
            }
            Op::Advance { jump } => self.advance(JUMPS[jump]),
            _ => Ok(()), // a reply or error with nothing to answer yet
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_the_reference_model(ops in proptest::collection::vec(op(), 1..120)) {
        let mut w = World {
            engine: engine_a(LIMITS),
            model: model(),
            start: Instant::now(),
            now_ms: 0,
            counters: Counters::default(),
            sent: Vec::new(),
            delivered: Vec::new(),
        };
        for op in &ops {
            w.step(op)?;
        }
        w.advance(0)?;
        // Every drop was counted once, by reason.
        let counted: u64 = w.counters.drops.iter().sum();
        prop_assert!(counted <= ops.len() as u64);
        prop_assert_eq!(w.counters.drops[DropReason::TooBig.index()], 0);
    }
}
