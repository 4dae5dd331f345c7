//! Seed inputs for each target, built from natcore's packet factories.
//! `tests/corpus.rs` checks that `corpus/<target>/seed_*` match these (and
//! rewrites them with `NATCORE_WRITE_SEEDS=1`).

use crate::{classify_rewrite, mss_clamp};
use natcore::testing::{sample_packets, tcp_flags};
use std::net::Ipv4Addr;

/// `(target, file name, input)` for every seed.
pub fn all() -> Vec<(&'static str, String, Vec<u8>)> {
    let endpoints = [
        (Ipv4Addr::new(242, 0, 0, 7), 61000),
        (Ipv4Addr::new(10, 244, 1, 5), 40000),
        (Ipv4Addr::new(10, 96, 0, 10), 53),
        (Ipv4Addr::new(243, 0, 255, 254), 443),
    ];
    let mut seeds = vec![];
    for (name, packet) in sample_packets() {
        // Flows: rewrite the source; ICMP errors: outer dst + inner src.
        let selector = if name.starts_with("icmp_") && !name.starts_with("icmp_echo") {
            0b0110
        } else {
            0b0001
        };
        seeds.push((
            "classify_rewrite",
            format!("seed_{name}"),
            classify_rewrite::encode(selector, endpoints, &packet),
        ));
        if name.starts_with("tcp_") {
            seeds.push((
                "mss_clamp",
                format!("seed_raw_{name}"),
                mss_clamp::encode_raw(1380, &packet),
            ));
        }
    }
    let option_lists: [(&str, &[u8]); 5] = [
        ("nop_mss", &[1, 2, 4, 0x05, 0xb4]),
        (
            "nop_timestamps_mss",
            &[1, 8, 10, 0, 0, 0x12, 0x34, 0, 0, 0, 0, 2, 4, 0x05, 0xb4],
        ),
        ("sack_nop_mss", &[4, 2, 1, 2, 4, 0x23, 0x28]),
        (
            "unknown_kind_mss",
            &[254, 6, 0xf9, 0x89, 0, 0, 2, 4, 0xff, 0xff],
        ),
        ("malformed_mss_len_3", &[2, 3, 0x05, 1, 1, 1, 1, 1]),
    ];
    for (name, options) in option_lists {
        seeds.push((
            "mss_clamp",
            format!("seed_built_{name}"),
            mss_clamp::encode_built(1380, tcp_flags::SYN | tcp_flags::ACK, options, b""),
        ));
    }
    seeds
}
