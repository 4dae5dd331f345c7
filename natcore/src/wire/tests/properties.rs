//! Property tests: factory packets with random addresses, ports, payloads,
//! TCP and IP options, rewritten every way the NAT can, compared byte for
//! byte with the factory's own (from-scratch) build of the translated packet.

use super::*;
use crate::testing::equal_up_to_checksum_zero;
use proptest::collection::vec;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Flow {
    Tcp {
        src: (Ipv4Addr, u16),
        dst: (Ipv4Addr, u16),
        flags: u8,
        options: Vec<u8>,
        payload: Vec<u8>,
    },
    Udp {
        src: (Ipv4Addr, u16),
        dst: (Ipv4Addr, u16),
        payload: Vec<u8>,
        checksum: bool,
    },
    Echo {
        src: Ipv4Addr,
        dst: Ipv4Addr,
        request: bool,
        ident: u16,
        seq: u16,
        payload: Vec<u8>,
    },
}

/// A flow packet, possibly with IPv4 options.
#[derive(Clone, Debug)]
struct FlowPacket {
    flow: Flow,
    ip_options: Vec<u8>,
}

impl FlowPacket {
    fn build(&self) -> Vec<u8> {
        let packet = match &self.flow {
            Flow::Tcp {
                src,
                dst,
                flags,
                options,
                payload,
            } => testing::tcp_packet(*src, *dst, *flags, options, payload),
            Flow::Udp {
                src,
                dst,
                payload,
                checksum: true,
            } => testing::udp_packet(*src, *dst, payload),
            Flow::Udp {
                src,
                dst,
                payload,
                checksum: false,
            } => testing::udp_packet_without_checksum(*src, *dst, payload),
            Flow::Echo {
                src,
                dst,
                request,
                ident,
                seq,
                payload,
            } => testing::icmp_echo(*src, *dst, *request, *ident, *seq, payload),
        };
        if self.ip_options.is_empty() {
            packet
        } else {
            testing::with_ip_options(&packet, &self.ip_options)
        }
    }

    /// The endpoint as the NAT sees it (an echo's "port" is its identifier).
    fn end(&self, src: bool) -> (Ipv4Addr, u16) {
        match &self.flow {
            Flow::Tcp { src: s, dst: d, .. } | Flow::Udp { src: s, dst: d, .. } => {
                if src {
                    *s
                } else {
                    *d
                }
            }
            Flow::Echo {
                src: s,
                dst: d,
                ident,
                ..
            } => (if src { *s } else { *d }, *ident),
        }
    }

    fn with_end(&self, src: bool, (addr, port): (Ipv4Addr, u16)) -> FlowPacket {
        let mut next = self.clone();
        match &mut next.flow {
            Flow::Tcp { src: s, dst: d, .. } | Flow::Udp { src: s, dst: d, .. } => {
                *(if src { s } else { d }) = (addr, port);
            }
            Flow::Echo {
                src: s,
                dst: d,
                ident,
                ..
            } => {
                *(if src { s } else { d }) = addr;
                *ident = port;
            }
        }
        next
    }
}

#[derive(Clone, Debug)]
struct ErrorPacket {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    icmp_type: u8,
    code: u8,
    rest: u32,
    offending: FlowPacket,
    quoted_l4: usize,
}

impl ErrorPacket {
    fn build(&self) -> Vec<u8> {
        testing::icmp_error_quoting(
            self.src,
            self.dst,
            self.icmp_type,
            self.code,
            self.rest,
            &self.offending.build(),
            self.quoted_l4,
        )
    }
}

fn addr() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from_bits)
}

fn endpoint() -> impl Strategy<Value = (Ipv4Addr, u16)> {
    (addr(), any::<u16>())
}

fn flow() -> impl Strategy<Value = Flow> {
    let payload = || vec(any::<u8>(), 0..64);
    prop_oneof![
        (
            endpoint(),
            endpoint(),
            any::<u8>(),
            vec(any::<u8>(), 0..=40),
            payload()
        )
            .prop_map(|(src, dst, flags, options, payload)| Flow::Tcp {
                src,
                dst,
                flags,
                options,
                payload
            }),
        (endpoint(), endpoint(), payload(), any::<bool>()).prop_map(
            |(src, dst, payload, checksum)| Flow::Udp {
                src,
                dst,
                payload,
                checksum
            }
        ),
        (
            addr(),
            addr(),
            any::<bool>(),
            any::<u16>(),
            any::<u16>(),
            payload()
        )
            .prop_map(|(src, dst, request, ident, seq, payload)| Flow::Echo {
                src,
                dst,
                request,
                ident,
                seq,
                payload
            }),
    ]
}

fn flow_packet() -> impl Strategy<Value = FlowPacket> {
    let ip_options = prop_oneof![Just(vec![]), Just(vec![]), vec(any::<u8>(), 1..=40)];
    (flow(), ip_options).prop_map(|(flow, ip_options)| FlowPacket { flow, ip_options })
}

fn error_packet() -> impl Strategy<Value = ErrorPacket> {
    let icmp_type = prop_oneof![Just(3u8), Just(11u8), Just(12u8)];
    // A quote ending inside the TCP checksum (17 L4 bytes) leaves that half
    // field as it was: see `icmp_error_quote_cutting_tcp_checksum` instead.
    let quoted_l4 = prop_oneof![8usize..=16, 18usize..=72];
    (
        addr(),
        addr(),
        icmp_type,
        any::<u8>(),
        any::<u32>(),
        flow_packet(),
        quoted_l4,
    )
        .prop_map(
            |(src, dst, icmp_type, code, rest, offending, quoted_l4)| ErrorPacket {
                src,
                dst,
                icmp_type,
                code,
                rest,
                offending,
                quoted_l4,
            },
        )
}

fn rewrite(packet: &mut [u8], c: &Classified, src: bool, (addr, port): (Ipv4Addr, u16)) -> bool {
    if src {
        rewrite_src(packet, c, addr, port)
    } else {
        rewrite_dst(packet, c, addr, port)
    }
}

/// Every rewrite a caller may attempt on whatever `classify` accepted; none may panic.
fn try_all_rewrites(packet: &[u8], c: &Classified) {
    let a = Ipv4Addr::new(198, 51, 100, 1);
    for f in [
        |p: &mut [u8], c: &Classified, a| rewrite_src(p, c, a, 1),
        |p: &mut [u8], c: &Classified, a| rewrite_dst(p, c, a, 2),
        |p: &mut [u8], c: &Classified, a| {
            rewrite_icmp_error(p, c, Some(a), Some(a), Some((a, 3)), Some((a, 4)))
        },
        |p: &mut [u8], c: &Classified, _| crate::mss::clamp_mss(p, c, 536),
    ] {
        let mut copy = packet.to_vec();
        let _ = f(&mut copy, c, a);
    }
}

proptest! {
    /// (1), (4): a rewritten flow packet is the packet the factory builds for
    /// the new endpoint, checksums included; (2): rewriting back restores it.
    #[test]
    fn flow_rewrite_matches_factory_and_reverses(
        packet in flow_packet(),
        src in any::<bool>(),
        new_end in endpoint(),
    ) {
        let original = packet.build();
        let mut bytes = original.clone();
        let c = classify(&bytes).unwrap();
        let is_flow = matches!(c.kind, PacketKind::Flow { .. });
        prop_assert!(is_flow);
        prop_assert!(rewrite(&mut bytes, &c, src, new_end));
        prop_assert!(all_checksums_valid(&bytes));
        let expected = packet.with_end(src, new_end).build();
        prop_assert!(equal_up_to_checksum_zero(&bytes, &expected),
            "\n got {}\nwant {}", hex::encode(&bytes), hex::encode(&expected));

        let c = classify(&bytes).unwrap();
        prop_assert!(rewrite(&mut bytes, &c, src, packet.end(src)));
        prop_assert!(equal_up_to_checksum_zero(&bytes, &original),
            "\n got {}\nwant {}", hex::encode(&bytes), hex::encode(&original));
    }

    /// (1), (4) for ICMP errors: the outer header and the quoted packet
    /// translate exactly as the factory would build them; (2): and back.
    #[test]
    fn icmp_error_rewrite_matches_factory_and_reverses(
        packet in error_packet(),
        outer_src in proptest::option::of(addr()),
        outer_dst in proptest::option::of(addr()),
        inner_src in proptest::option::of(endpoint()),
        inner_dst in proptest::option::of(endpoint()),
    ) {
        let original = packet.build();
        let mut bytes = original.clone();
        let c = classify(&bytes).unwrap();
        let PacketKind::IcmpError { inner, .. } = c.kind else {
            return Err(TestCaseError::fail(format!("{c:?}")));
        };
        let (old_src, old_dst) = (packet.offending.end(true), packet.offending.end(false));
        prop_assert_eq!((inner.src, inner.src_port), old_src);
        prop_assert_eq!((inner.dst, inner.dst_port), old_dst);

        prop_assert!(rewrite_icmp_error(&mut bytes, &c, outer_src, outer_dst, inner_src, inner_dst));
        prop_assert!(all_checksums_valid(&bytes));
        let mut expected = packet.clone();
        expected.src = outer_src.unwrap_or(packet.src);
        expected.dst = outer_dst.unwrap_or(packet.dst);
        if let Some(end) = inner_src {
            expected.offending = expected.offending.with_end(true, end);
        }
        if let Some(end) = inner_dst {
            expected.offending = expected.offending.with_end(false, end);
        }
        let expected_bytes = expected.build();
        prop_assert!(equal_up_to_checksum_zero(&bytes, &expected_bytes),
            "\n got {}\nwant {}", hex::encode(&bytes), hex::encode(&expected_bytes));

        // Back, restoring the endpoints the quote actually carries now.
        let c = classify(&bytes).unwrap();
        // (An echo's two "ports" are the same identifier, so order does not matter.)
        let back_src = inner_src.map(|_| old_src);
        let back_dst = inner_dst.map(|_| old_dst);
        prop_assert!(rewrite_icmp_error(
            &mut bytes, &c,
            outer_src.map(|_| packet.src), outer_dst.map(|_| packet.dst),
            back_src, back_dst,
        ));
        prop_assert!(equal_up_to_checksum_zero(&bytes, &original),
            "\n got {}\nwant {}", hex::encode(&bytes), hex::encode(&original));
    }

    /// (3) classify never panics on arbitrary bytes, and the rewrites never
    /// panic on whatever it accepts.
    #[test]
    fn classify_never_panics_on_arbitrary_bytes(bytes in vec(any::<u8>(), 0..128)) {
        if let Ok(c) = classify(&bytes) {
            try_all_rewrites(&bytes, &c);
        }
    }

    /// (3) on mutated valid packets: classify never panics; rewrites with the
    /// stale classification of the unmutated packet never panic; and if the
    /// mutant is accepted with valid checksums, rewriting keeps them valid.
    #[test]
    fn mutated_packets_never_panic(
        packet in prop_oneof![flow_packet().prop_map(|p| p.build()), error_packet().prop_map(|e| e.build())],
        flips in vec((any::<usize>(), any::<u8>()), 1..4),
        cut in any::<usize>(),
        fix_ip_checksum in any::<bool>(),
    ) {
        let stale = classify(&packet).unwrap();
        let mut mutant = packet.clone();
        for (at, value) in flips {
            let len = mutant.len();
            mutant[at % len] = value;
        }
        if fix_ip_checksum && mutant.len() >= 20 {
            testing::refill_ip_checksum(&mut mutant);
        }
        try_all_rewrites(&mutant, &stale);
        let truncated = &mutant[..cut % (mutant.len() + 1)];
        try_all_rewrites(truncated, &stale);
        let _ = classify(truncated);
        if let Ok(c) = classify(&mutant) {
            try_all_rewrites(&mutant, &c);
            if all_checksums_valid(&mutant) {
                let mut copy = mutant.clone();
                let a = Ipv4Addr::new(203, 0, 113, 9);
                let rewritten = match c.kind {
                    PacketKind::IcmpError { .. } => rewrite_icmp_error(&mut copy, &c, Some(a), None, Some((a, 7)), None),
                    _ => rewrite_src(&mut copy, &c, a, 7),
                };
                prop_assert!(rewritten);
                prop_assert!(all_checksums_valid(&copy), "{}", hex::encode(&mutant));
            }
        }
    }
}
