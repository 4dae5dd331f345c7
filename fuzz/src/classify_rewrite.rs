//! `classify_rewrite`: arbitrary bytes → classify; if accepted, rewrite with
//! fuzzer-chosen addresses and ports, then rewrite back.
//!
//! Input layout: `[selector][4 × (IPv4 address, port)][packet…]`
//! ([`PARAMS_LEN`] bytes of parameters). Selector bits: for a flow, bit 0
//! picks source (1) or destination (0); for an ICMP error, bits 0–3 choose
//! which of outer source, outer destination, inner source and inner
//! destination to rewrite, with endpoints 0–3.
//!
//! Asserted:
//! - a rewrite of an accepted packet succeeds and the result classifies to
//!   the expected tuple;
//! - if the input's checksums were valid, they all still are (IPv4, L4, the
//!   quoted IPv4 header), and the quoted L4 checksum still matches the quoted
//!   bytes it covers;
//! - rewriting back restores the input, up to the two one's complement zeros
//!   (a checksum field may come back 0x0000 where it was 0xFFFF: both verify,
//!   and no incremental update can tell them apart, RFC 1624 §3).

use natcore::testing::{all_checksums_valid, equal_up_to_checksum_zero, quoted_packet};
use natcore::wire::{
    classify, rewrite_dst, rewrite_icmp_error, rewrite_src, Classified, FiveTuple, PacketKind,
    Protocol,
};
use std::net::Ipv4Addr;

const ENDPOINT_LEN: usize = 4 + 2; // address + port
pub const PARAMS_LEN: usize = 1 + 4 * ENDPOINT_LEN;

/// Encodes a fuzz input (for seeds).
pub fn encode(selector: u8, endpoints: [(Ipv4Addr, u16); 4], packet: &[u8]) -> Vec<u8> {
    let mut input = vec![selector];
    for (addr, port) in endpoints {
        input.extend_from_slice(&addr.octets());
        input.extend_from_slice(&port.to_be_bytes());
    }
    input.extend_from_slice(packet);
    input
}

fn endpoint(params: &[u8], i: usize) -> (Ipv4Addr, u16) {
    let b = &params[1 + i * ENDPOINT_LEN..1 + (i + 1) * ENDPOINT_LEN];
    (
        Ipv4Addr::new(b[0], b[1], b[2], b[3]),
        u16::from_be_bytes([b[4], b[5]]),
    )
}

pub fn check(data: &[u8]) {
    if data.len() < PARAMS_LEN {
        return;
    }
    let (params, packet) = data.split_at(PARAMS_LEN);
    let Ok(c) = classify(packet) else {
        return;
    };
    let valid_before = all_checksums_valid(packet);
    let quote_sum_before = quoted_l4_sum(packet);
    let mut bytes = packet.to_vec();
    let selector = params[0];
    match c.kind {
        PacketKind::Flow { tuple, .. } => {
            let src = selector & 1 != 0;
            let new = endpoint(params, 0);
            assert!(rewrite(&mut bytes, &c, src, new), "flow rewrite refused");
            check_checksums(valid_before, &bytes);
            let after = classify(&bytes).expect("rewritten flow no longer classifies");
            let PacketKind::Flow { tuple: got, .. } = after.kind else {
                panic!("rewritten flow classifies as {after:?}");
            };
            assert_eq!(got, with_end(tuple, src, new));
            let old = if src {
                (tuple.src, tuple.src_port)
            } else {
                (tuple.dst, tuple.dst_port)
            };
            assert!(
                rewrite(&mut bytes, &after, src, old),
                "reverse rewrite refused"
            );
        }
        PacketKind::IcmpError {
            outer_src,
            outer_dst,
            inner,
            ..
        } => {
            let new_outer_src = (selector & 1 != 0).then(|| endpoint(params, 0).0);
            let new_outer_dst = (selector & 2 != 0).then(|| endpoint(params, 1).0);
            let new_inner_src = (selector & 4 != 0).then(|| endpoint(params, 2));
            let new_inner_dst = (selector & 8 != 0).then(|| endpoint(params, 3));
            assert!(rewrite_icmp_error(
                &mut bytes,
                &c,
                new_outer_src,
                new_outer_dst,
                new_inner_src,
                new_inner_dst
            ));
            check_checksums(valid_before, &bytes);
            if let Some(before) = quote_sum_before {
                assert_eq!(
                    Some(before),
                    quoted_l4_sum(&bytes),
                    "quoted L4 checksum off"
                );
            }
            let after = classify(&bytes).expect("rewritten ICMP error no longer classifies");
            let mut expected = inner;
            if let Some(end) = new_inner_src {
                expected = with_end(expected, true, end);
            }
            if let Some(end) = new_inner_dst {
                expected = with_end(expected, false, end);
            }
            let PacketKind::IcmpError {
                outer_src: got_src,
                outer_dst: got_dst,
                inner: got_inner,
                ..
            } = after.kind
            else {
                panic!("rewritten ICMP error classifies as {after:?}");
            };
            assert_eq!(got_src, new_outer_src.unwrap_or(outer_src));
            assert_eq!(got_dst, new_outer_dst.unwrap_or(outer_dst));
            assert_eq!(got_inner, expected);
            assert!(rewrite_icmp_error(
                &mut bytes,
                &after,
                new_outer_src.map(|_| outer_src),
                new_outer_dst.map(|_| outer_dst),
                new_inner_src.map(|_| (inner.src, inner.src_port)),
                new_inner_dst.map(|_| (inner.dst, inner.dst_port)),
            ));
        }
        PacketKind::Fragment { src, dst, .. } => {
            let to_src = selector & 1 != 0;
            let (addr, _) = endpoint(params, 0);
            assert!(rewrite(&mut bytes, &c, to_src, (addr, 0)));
            check_checksums(valid_before, &bytes);
            assert_eq!(
                bytes[packet_header_len(packet)..],
                packet[packet_header_len(packet)..]
            );
            let after = classify(&bytes).expect("rewritten fragment no longer classifies");
            let old = if to_src { src } else { dst };
            assert!(rewrite(&mut bytes, &after, to_src, (old, 0)));
        }
    }
    assert!(
        equal_up_to_checksum_zero(&bytes, packet),
        "rewriting back did not restore the input:\n{}\n{}",
        hex(&bytes),
        hex(packet)
    );
}

fn packet_header_len(packet: &[u8]) -> usize {
    usize::from(packet[0] & 0x0F) * 4
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn rewrite(bytes: &mut [u8], c: &Classified, src: bool, (addr, port): (Ipv4Addr, u16)) -> bool {
    if src {
        rewrite_src(bytes, c, addr, port)
    } else {
        rewrite_dst(bytes, c, addr, port)
    }
}

/// The tuple after one end moved (an echo's identifier is both "ports").
fn with_end(mut tuple: FiveTuple, src: bool, (addr, port): (Ipv4Addr, u16)) -> FiveTuple {
    if src {
        tuple.src = addr;
        tuple.src_port = port;
    } else {
        tuple.dst = addr;
        tuple.dst_port = port;
    }
    if tuple.protocol == Protocol::Icmp {
        tuple.src_port = port;
        tuple.dst_port = port;
    }
    tuple
}

fn check_checksums(valid_before: bool, bytes: &[u8]) {
    if valid_before {
        assert!(
            all_checksums_valid(bytes),
            "checksums broken: {}",
            hex(bytes)
        );
    }
}

/// For an ICMP error whose quote holds the embedded L4 checksum field whole
/// (and it is in use): the one's complement sum of the quoted L4 bytes plus
/// the pseudo-header they would have. A correct translation of addresses,
/// ports and that checksum leaves it unchanged, whatever the quote's length.
fn quoted_l4_sum(packet: &[u8]) -> Option<u16> {
    let inner = quoted_packet(packet)?;
    // A quote too short for the inner IPv4 header's addresses has no L4 sum.
    let addresses = inner.get(12..20)?;
    let protocol = inner[9];
    let header_len = packet_header_len(inner);
    let l4 = inner.get(header_len..)?;
    let (check_at, pseudo) = match protocol {
        6 => (16, true),
        17 => (6, true),
        1 => (2, false),
        _ => return None,
    };
    let field = l4.get(check_at..check_at + 2)?;
    if protocol == 17 && field == [0, 0] {
        return None; // no checksum
    }
    let len = u16::try_from(l4.len()).ok()?;
    let mut sum = 0u64;
    if pseudo {
        for pair in addresses.chunks(2) {
            sum += u64::from(u16::from_be_bytes([pair[0], pair[1]]));
        }
        sum += u64::from(protocol) + u64::from(len);
    }
    for pair in l4.chunks(2) {
        let hi = pair[0];
        let lo = pair.get(1).copied().unwrap_or(0);
        sum += u64::from(u16::from_be_bytes([hi, lo]));
    }
    // One's complement value: both zeros (0 and 0xFFFF) compare equal.
    Some((sum % 0xFFFF) as u16)
}
