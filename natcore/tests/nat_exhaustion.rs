//! NAT exhaustion (issue 5, "abuse"): one pod opening flows without end hits
//! its per-source limit and is refused under `source_flow_limit`; other pods
//! keep opening flows until the table's total limit, refused beyond it under
//! `flow_limit`; the table never holds more than its configured size, and
//! established flows keep translating throughout.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use common::*;
use natcore::engine::Limits;
use natcore::testing;
use natcore::{Counters, DropReason};
use std::net::Ipv4Addr;
use std::time::Instant;

const MAX_FLOWS: usize = 1_000;
const MAX_PER_SOURCE: usize = 100;
const GREEDY_ATTEMPTS: u16 = 5_000;
const OTHER_PODS: u8 = 20;
const FLOWS_PER_OTHER_POD: u16 = 60;

fn pod(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 244, 2, n)
}

fn udp_from(src: Ipv4Addr, port: u16) -> Vec<u8> {
    testing::udp_packet((src, port), (ip("243.0.0.5"), 53), b"q")
}

#[test]
fn a_greedy_pod_hits_its_limit_others_keep_going_and_the_table_stays_bounded() {
    let now = Instant::now();
    let a = engine_a(Limits {
        max_flows: MAX_FLOWS,
        max_flows_per_source: MAX_PER_SOURCE,
    });
    let mut counters = Counters::default();

    // A well-behaved flow established before the storm.
    let steady = udp_from(pod(200), 5353);
    let steady_out = forward(&a, now, true, &steady);

    // The greedy pod: a new source port per packet.
    let mut greedy_ok = 0;
    for port in 1..=GREEDY_ATTEMPTS {
        match run(&a, now, true, &udp_from(pod(1), port), &mut counters) {
            Ok(Out::Forward(_)) => greedy_ok += 1,
            Ok(Out::Reply(_)) => panic!("unexpected reply"),
            Err(reason) => assert_eq!(reason, DropReason::SourceFlowLimit, "port {port}"),
        }
    }
    assert_eq!(greedy_ok, MAX_PER_SOURCE);
    assert_eq!(
        forward(&a, now, true, &steady),
        steady_out,
        "steady flow unharmed"
    );

    // Other pods still open flows, until the table is full.
    let mut others_ok = 0;
    let mut table_full = 0;
    for n in 2..2 + OTHER_PODS {
        for port in 1..=FLOWS_PER_OTHER_POD {
            match run(&a, now, true, &udp_from(pod(n), port), &mut counters) {
                Ok(_) => others_ok += 1,
                Err(DropReason::FlowLimit) => table_full += 1,
                Err(other) => panic!("pod {n} port {port}: {other}"),
            }
            assert!(
                a.stats().live_flows() <= MAX_FLOWS as u64,
                "table over its limit"
            );
        }
    }
    // 1 steady + 100 greedy + others = exactly the limit; the rest refused.
    let others_wanted = usize::from(OTHER_PODS) * usize::from(FLOWS_PER_OTHER_POD);
    assert_eq!(others_ok, MAX_FLOWS - 1 - MAX_PER_SOURCE);
    assert_eq!(table_full, others_wanted - others_ok);
    assert_eq!(a.stats().live_flows(), MAX_FLOWS as u64);
    assert_eq!(
        forward(&a, now, true, &steady),
        steady_out,
        "steady flow unharmed"
    );

    a.flush(&mut counters);
    let stats = a.stats();
    assert_eq!(
        stats.drops(DropReason::SourceFlowLimit),
        u64::from(GREEDY_ATTEMPTS) - MAX_PER_SOURCE as u64
    );
    assert_eq!(stats.drops(DropReason::FlowLimit), table_full as u64);

    // Idle flows expire (UDP timeout) and the greedy pod is let in again.
    let later = now + natcore::engine::Timeouts::default().udp + std::time::Duration::from_secs(1);
    settle(&a, later, &mut counters);
    assert_eq!(a.stats().live_flows(), 0);
    assert!(run(&a, later, true, &udp_from(pod(1), 1), &mut counters).is_ok());
}
