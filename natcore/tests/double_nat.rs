//! Two gateways back to back, as in the lab: cluster A (242.0.0.0/16) and
//! cluster B (243.0.0.0/16) with the *same* Pod and Service CIDRs. A pod in A
//! talks to B's exported service through A's SNAT and B's DNAT; the reply and
//! ICMP errors come back through both. The worked example is the one in
//! docs/nat.md, step by step.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use common::*;
use natcore::engine::Limits;
use natcore::testing::{self, tcp_flags::*};
use natcore::wire::{FiveTuple, Protocol};
use proptest::prelude::*;
use std::time::Instant;

/// docs/nat.md, "A packet walk": every address and port at every step.
#[test]
fn worked_example_from_the_docs() {
    let a = engine_a(Limits::default());
    let b = engine_b();
    let now = Instant::now();
    let mss = [2, 4, 0x05, 0xb4]; // 1460

    // 1. Pod A sends a SYN to B's exported service's global IP.
    let syn = testing::tcp_packet(
        (ip("10.244.1.10"), 40000),
        (ip("243.0.0.5"), 8080),
        SYN,
        &mss,
        b"",
    );
    // 2. A's gateway: SNAT to an egress IP of A's pool (the pod's hash picks
    //    242.0.0.3), port kept; MSS clamped to 1420 − 40 = 1380.
    let on_the_wire = forward(&a, now, true, &syn);
    let clamped = [2, 4, 0x05, 0x64];
    assert_eq!(
        on_the_wire,
        testing::tcp_packet(
            (ip("242.0.0.3"), 40000),
            (ip("243.0.0.5"), 8080),
            SYN,
            &clamped,
            b""
        )
    );
    // 3. B's gateway: DNAT the service's global IP to its ClusterIP; the
    //    source stays A's global egress IP.
    let at_service = forward(&b, now, false, &on_the_wire);
    assert_eq!(
        at_service,
        testing::tcp_packet(
            (ip("242.0.0.3"), 40000),
            (ip("10.96.0.10"), 8080),
            SYN,
            &clamped,
            b""
        )
    );
    // 4. The service answers the address it saw.
    let syn_ack = testing::tcp_packet(
        (ip("10.96.0.10"), 8080),
        (ip("242.0.0.3"), 40000),
        SYN | ACK,
        &mss,
        b"",
    );
    // 5. B's gateway: un-DNAT, the reply leaves from 243.0.0.5:8080.
    let back_on_the_wire = forward(&b, now, true, &syn_ack);
    assert_eq!(
        back_on_the_wire,
        testing::tcp_packet(
            (ip("243.0.0.5"), 8080),
            (ip("242.0.0.3"), 40000),
            SYN | ACK,
            &clamped,
            b""
        )
    );
    // 6. A's gateway: un-SNAT to the pod.
    let at_pod = forward(&a, now, false, &back_on_the_wire);
    assert_eq!(
        at_pod,
        testing::tcp_packet(
            (ip("243.0.0.5"), 8080),
            (ip("10.244.1.10"), 40000),
            SYN | ACK,
            &clamped,
            b""
        )
    );
}

const SERVICE_GLOBAL: &str = "243.0.0.5";
const SERVICE: &str = "10.96.0.10";

fn pod_and_port() -> impl Strategy<Value = (FiveTuple, u8)> {
    let protocol = prop_oneof![
        Just(Protocol::Tcp),
        Just(Protocol::Udp),
        Just(Protocol::Icmp)
    ];
    let flags = prop_oneof![Just(SYN), Just(ACK), Just(PSH | ACK), Just(FIN | ACK)];
    (
        protocol,
        0u8..=255,
        1u8..=254,
        any::<u16>(),
        any::<u16>(),
        flags,
    )
        .prop_map(|(protocol, x, y, sport, dport, flags)| {
            let dport = if protocol == Protocol::Icmp {
                sport
            } else {
                dport
            };
            let pod = std::net::Ipv4Addr::new(10, 244, x, y);
            (
                FiveTuple {
                    protocol,
                    src: pod,
                    src_port: sport,
                    dst: ip(SERVICE_GLOBAL),
                    dst_port: dport,
                },
                flags,
            )
        })
}

proptest! {
    /// Pod A → B's global service IP → B's reply → back: every original field
    /// is restored, at the service (which sees A's global egress IP, nothing
    /// else changed) and at the pod (which sees exactly the reply it would
    /// get from 243.0.0.5 directly). ICMP errors from the service come back
    /// quoting the pod's own packet, byte for byte.
    #[test]
    fn translate_then_reverse_is_the_identity(
        (tuple, flags) in pod_and_port(),
        request in proptest::collection::vec(any::<u8>(), 0..64),
        answer in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let a = engine_a(Limits::default());
        let b = engine_b();
        let now = Instant::now();
        // ICMP: the pod sends a request and the service answers with a reply.
        let sent = packet_for(tuple, flags | SYN, &request);
        let wire = forward(&a, now, true, &sent);
        let global_src = tuple_of(&wire);
        prop_assert!(global_src.src == ip("242.0.0.2") || global_src.src == ip("242.0.0.3"));
        let at_service = forward(&b, now, false, &wire);
        let seen = tuple_of(&at_service);
        prop_assert_eq!(seen, FiveTuple { dst: ip(SERVICE), ..global_src });
        prop_assert_eq!(&at_service[at_service.len() - request.len()..], &request[..], "payload untouched");

        let reply = packet_for(seen.reversed(), flags & !SYN, &answer);
        let back = forward(&b, now, true, &reply);
        let at_pod = forward(&a, now, false, &back);
        prop_assert_eq!(at_pod, packet_for(tuple.reversed(), flags & !SYN, &answer));

        // The service's host refuses what it received: the error reaches the
        // pod from the service's global IP, quoting the pod's packet as sent.
        let refusal = testing::icmp_error(ip(SERVICE), seen.src, 3, 3, 0, &at_service);
        let error_back = forward(&a, now, false, &forward(&b, now, true, &refusal));
        prop_assert_eq!(error_back, testing::icmp_error(ip(SERVICE_GLOBAL), tuple.src, 3, 3, 0, &sent));
    }
}
