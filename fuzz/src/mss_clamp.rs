//! `mss_clamp`: arbitrary TCP packets and option lists → `clamp_mss`.
//!
//! Input layout: `[mode][max_mss: 2 bytes]…`. Even mode: `[flags][n][n
//! option bytes][payload…]`, built into a valid TCP packet by the factory
//! (so the checksum starts valid); odd mode: the rest is a raw packet.
//!
//! Asserted: the clamp never panics; never raises an MSS; lowers exactly the
//! MSS options above `max_mss` of a SYN or SYN-ACK whose option list is well
//! formed (by an independent parser here), to `max_mss`; changes no other
//! byte except the TCP checksum; and keeps a valid checksum valid.

use natcore::mss::clamp_mss;
use natcore::testing::{all_checksums_valid, tcp_packet};
use natcore::wire::{classify, PacketKind, Protocol};
use std::net::Ipv4Addr;

const SYN: u8 = 0x02;

/// Encodes a built-mode input (for seeds).
pub fn encode_built(max_mss: u16, flags: u8, options: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut input = vec![0];
    input.extend_from_slice(&max_mss.to_be_bytes());
    input.push(flags);
    input.push(options.len() as u8);
    input.extend_from_slice(options);
    input.extend_from_slice(payload);
    input
}

/// Encodes a raw-mode input (for seeds).
pub fn encode_raw(max_mss: u16, packet: &[u8]) -> Vec<u8> {
    let mut input = vec![1];
    input.extend_from_slice(&max_mss.to_be_bytes());
    input.extend_from_slice(packet);
    input
}

pub fn check(data: &[u8]) {
    let [mode, hi, lo, rest @ ..] = data else {
        return;
    };
    let max_mss = u16::from_be_bytes([*hi, *lo]);
    let packet = if mode % 2 == 0 {
        let [flags, n, rest @ ..] = rest else {
            return;
        };
        let n = usize::from(*n % 41).min(rest.len()); // at most 40 option bytes
        let (options, payload) = rest.split_at(n);
        let payload = &payload[..payload.len().min(1400)];
        tcp_packet(
            (Ipv4Addr::new(10, 244, 1, 5), 40000),
            (Ipv4Addr::new(243, 0, 255, 254), 443),
            *flags,
            options,
            payload,
        )
    } else {
        rest.to_vec()
    };
    let Ok(c) = classify(&packet) else {
        return;
    };
    let valid_before = all_checksums_valid(&packet);
    let mut clamped = packet.clone();
    let lowered = clamp_mss(&mut clamped, &c, max_mss);
    if valid_before {
        assert!(all_checksums_valid(&clamped), "checksum broken");
    }

    let expected = expected_mss_writes(&packet, &c, max_mss);
    assert_eq!(lowered, !expected.is_empty());
    let mut expected_packet = packet.clone();
    for (at, value) in &expected {
        expected_packet[*at..*at + 2].copy_from_slice(&value.to_be_bytes());
    }
    // Everything but the TCP checksum must be as predicted.
    if let Some(check_at) = tcp_checksum_at(&packet, &c) {
        expected_packet[check_at..check_at + 2].copy_from_slice(&clamped[check_at..check_at + 2]);
        if !lowered {
            assert_eq!(
                clamped[check_at..check_at + 2],
                packet[check_at..check_at + 2]
            );
        }
    }
    assert_eq!(clamped, expected_packet);
}

fn tcp_checksum_at(packet: &[u8], c: &natcore::wire::Classified) -> Option<usize> {
    match c.kind {
        PacketKind::Flow { tuple, .. } if tuple.protocol == Protocol::Tcp => {
            let at = c.header_len + 16;
            (at + 2 <= packet.len()).then_some(at)
        }
        _ => None,
    }
}

/// Independent of natcore's parser: where MSS values must be lowered.
fn expected_mss_writes(
    packet: &[u8],
    c: &natcore::wire::Classified,
    max_mss: u16,
) -> Vec<(usize, u16)> {
    let PacketKind::Flow {
        tuple, tcp_flags, ..
    } = c.kind
    else {
        return vec![];
    };
    if tuple.protocol != Protocol::Tcp || tcp_flags & SYN == 0 {
        return vec![];
    }
    let tcp = &packet[c.header_len..c.total_len];
    let options_end = usize::from(tcp[12] >> 4) * 4;
    let options_start = c.header_len + 20;
    let options = &tcp[20..options_end];
    let mut writes = vec![];
    let mut i = 0;
    while i < options.len() {
        match options[i] {
            0 => break,
            1 => i += 1,
            kind => {
                let Some(&len) = options.get(i + 1) else {
                    return vec![]; // no length byte: malformed
                };
                let len = usize::from(len);
                if len < 2 || i + len > options.len() || (kind == 2 && len != 4) {
                    return vec![];
                }
                if kind == 2 {
                    let mss = u16::from_be_bytes([options[i + 2], options[i + 3]]);
                    if mss > max_mss {
                        writes.push((options_start + i + 2, max_mss));
                    }
                }
                i += len;
            }
        }
    }
    writes
}
