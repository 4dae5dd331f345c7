//! Seed inputs for each target, built from natcore's packet factories.
//! `tests/corpus.rs` checks that `corpus/<target>/seed_*` match these (and
//! rewrites them with `NATCORE_WRITE_SEEDS=1`).

use crate::{classify_rewrite, engine_translate, mss_clamp};
use natcore::testing::{
    icmp_echo, icmp_error, sample_packets, set_fragment, tcp_flags, tcp_packet, udp_packet,
};
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
    seeds.extend(engine_seeds());
    seeds
}

/// Packet sequences through the engine of `engine_translate` (cluster A:
/// pods 10.244.0.0/16, egress 242.0.0.1–2, service 10.96.0.10 exported as
/// 242.0.0.5, peer block 243.0.0.0/16, routed 172.20.0.0/16).
fn engine_seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let pod = Ipv4Addr::new(10, 244, 1, 10);
    let remote = Ipv4Addr::new(243, 0, 0, 5);
    let remote_egress = Ipv4Addr::new(243, 0, 0, 2);
    let egress = Ipv4Addr::new(242, 0, 0, 2); // the pool member pod's hash picks
    let service_global = Ipv4Addr::new(242, 0, 0, 5);
    let routed = Ipv4Addr::new(172, 20, 0, 1);
    let mss = [2, 4, 0x05, 0xb4];
    let (syn, ack) = (tcp_flags::SYN, tcp_flags::ACK);
    let syn_out = tcp_packet((pod, 40000), (remote, 8080), syn, &mss, b"");
    let syn_ack_in = tcp_packet((remote, 8080), (egress, 40000), syn | ack, &mss, b"");
    let fin_out = tcp_packet((pod, 40000), (remote, 8080), tcp_flags::FIN | ack, &[], b"");
    let fin_in = tcp_packet(
        (remote, 8080),
        (egress, 40000),
        tcp_flags::FIN | ack,
        &[],
        b"",
    );
    let dns_in = udp_packet((remote_egress, 5353), (service_global, 53), b"query");
    let udp_out = udp_packet((pod, 40001), (remote, 9000), b"hi");
    let udp_on_wire = udp_packet((egress, 40001), (remote, 9000), b"hi");
    let unreachable_in = icmp_error(remote, egress, 3, 3, 0, &udp_on_wire);
    let ping = icmp_echo(pod, remote, true, 0x0bad, 1, b"ping");
    let pong = icmp_echo(remote, egress, false, 0x0bad, 1, b"ping");
    let too_big = udp_packet((pod, 40002), (remote, 9000), &[0; 1500]);
    let mut head = udp_packet((pod, 40003), (remote, 9000), &[7; 64]);
    set_fragment(&mut head, true, 0);
    let mut tail = head[..20].to_vec();
    tail.extend_from_slice(&[9; 16]);
    tail[2..4].copy_from_slice(&36u16.to_be_bytes());
    set_fragment(&mut tail, false, 9);
    let routed_out = udp_packet((pod, 40004), (routed, 53), b"q");
    let sequences: [(&str, Vec<engine_translate::Op>); 8] = [
        (
            "tcp_open_close",
            vec![
                (true, 0, &syn_out),
                (false, 1, &syn_ack_in),
                (true, 2, &fin_out),
                (false, 2, &fin_in),
                (true, 5, &syn_out),
            ],
        ),
        (
            "ingress_then_expiry",
            vec![(false, 0, &dns_in), (false, 6, &dns_in)],
        ),
        (
            "udp_port_unreachable",
            vec![(true, 0, &udp_out), (false, 1, &unreachable_in)],
        ),
        (
            "ping_pong",
            vec![(true, 0, &ping), (false, 1, &pong), (false, 4, &pong)],
        ),
        ("too_big", vec![(true, 0, &too_big)]),
        (
            "fragments",
            vec![(true, 0, &head), (true, 1, &tail), (true, 3, &tail)],
        ),
        ("routed", vec![(true, 0, &routed_out)]),
        ("unsolicited_to_egress", vec![(false, 0, &syn_ack_in)]),
    ];
    let mut seeds: Vec<_> = sequences
        .iter()
        .map(|(name, ops)| {
            (
                "engine_translate",
                format!("seed_{name}"),
                engine_translate::encode(ops),
            )
        })
        .collect();
    for (name, packet) in sample_packets() {
        for (dir, outbound) in [("out", true), ("in", false)] {
            let input = engine_translate::encode(&[(outbound, 0, &packet)]);
            seeds.push(("engine_translate", format!("seed_{dir}_{name}"), input));
        }
    }
    seeds
}
