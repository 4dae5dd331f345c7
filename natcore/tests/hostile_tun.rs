//! Hostile input from the TUN side (issue 5, "bad input"): every malformed or
//! untranslatable packet a pod or the node can write is either translated
//! correctly or dropped under its named reason, the drop is counted, and the
//! established traffic around it is unharmed. Each case runs in both
//! directions' entry points (outbound on A, inbound on B), since a peer can
//! send the same bytes through the tunnel.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use common::*;
use natcore::engine::Limits;
use natcore::testing::{self, tcp_flags::*};
use natcore::{Counters, DropReason};
use std::time::Instant;

const POD: (&str, u16) = ("10.244.1.10", 40000);
/// B's exported service, as A's pod addresses it.
const SERVICE: (&str, u16) = ("243.0.0.5", 8080);

fn syn_with_options(options: &[u8]) -> Vec<u8> {
    testing::tcp_packet(
        (ip(POD.0), POD.1),
        (ip(SERVICE.0), SERVICE.1),
        SYN,
        options,
        b"",
    )
}

fn udp() -> Vec<u8> {
    testing::udp_packet((ip(POD.0), POD.1), (ip(SERVICE.0), SERVICE.1), b"payload")
}

/// Applies `edit` and, when `fix` is set, recomputes the IP header checksum so
/// only the intended field is wrong.
fn edited(mut packet: Vec<u8>, fix: bool, edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    edit(&mut packet);
    if fix && packet.len() >= 20 && packet[0] >> 4 == 4 {
        testing::refill_ip_checksum(&mut packet);
    }
    packet
}

fn set_total_length(p: &mut [u8], len: u16) {
    p[2..4].copy_from_slice(&len.to_be_bytes());
}

/// Every hostile packet and the reason it must be dropped for.
fn refused_cases() -> Vec<(&'static str, Vec<u8>, DropReason)> {
    let ipv6 = {
        let mut p = vec![0u8; 60];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&20u16.to_be_bytes());
        p[6] = 17;
        p
    };
    vec![
        ("zero-length", vec![], DropReason::Truncated),
        ("one byte", vec![0x45], DropReason::Truncated),
        (
            "truncated IPv4 header (19 bytes)",
            udp()[..19].to_vec(),
            DropReason::Truncated,
        ),
        // Complete IP, incomplete L4: the L4 header is what is malformed.
        (
            "truncated UDP header",
            edited(udp()[..24].to_vec(), true, |p| set_total_length(p, 24)),
            DropReason::MalformedL4,
        ),
        (
            "truncated TCP header",
            edited(syn_with_options(&[])[..30].to_vec(), true, |p| {
                set_total_length(p, 30)
            }),
            DropReason::MalformedL4,
        ),
        (
            "IHL 4 (< 5)",
            edited(udp(), true, |p| p[0] = 0x44),
            DropReason::MalformedIp,
        ),
        // A header claiming more bytes than the packet holds is cut short.
        (
            "IHL 15 on a short packet",
            edited(udp()[..32].to_vec(), true, |p| {
                p[0] = 0x4f;
                set_total_length(p, 32)
            }),
            DropReason::Truncated,
        ),
        (
            "version 5",
            edited(udp(), true, |p| p[0] = 0x55),
            DropReason::MalformedIp,
        ),
        (
            "total length larger than the buffer",
            edited(udp(), true, |p| set_total_length(p, 1000)),
            DropReason::Truncated,
        ),
        (
            "total length smaller than the header",
            edited(udp(), true, |p| set_total_length(p, 19)),
            DropReason::MalformedIp,
        ),
        (
            "bad IP header checksum",
            edited(udp(), false, |p| p[10] ^= 0xff),
            DropReason::BadIpChecksum,
        ),
        ("IPv6", ipv6, DropReason::Ipv6),
        (
            "unknown protocol (GRE)",
            edited(udp(), true, |p| p[9] = 47),
            DropReason::UnsupportedProtocol,
        ),
        (
            "TCP data offset 4 (< 5)",
            edited(syn_with_options(&[]), true, |p| p[32] = 0x40),
            DropReason::MalformedL4,
        ),
        (
            "TCP data offset past the packet",
            edited(syn_with_options(&[]), true, |p| p[32] = 0xf0),
            DropReason::MalformedL4,
        ),
        (
            "UDP length larger than the packet",
            edited(udp(), true, |p| {
                p[24..26].copy_from_slice(&200u16.to_be_bytes())
            }),
            DropReason::MalformedL4,
        ),
        (
            "UDP length smaller than its header",
            edited(udp(), true, |p| {
                p[24..26].copy_from_slice(&7u16.to_be_bytes())
            }),
            DropReason::MalformedL4,
        ),
        (
            "non-first fragment",
            edited(udp(), true, |p| testing::set_fragment(p, false, 8)),
            DropReason::Fragment,
        ),
    ]
}

#[test]
fn each_malformed_packet_is_dropped_under_its_reason_and_counted_in_both_directions() {
    let now = Instant::now();
    let a = engine_a(Limits::default());
    let b = engine_b();
    let mut counters_a = Counters::default();
    let mut counters_b = Counters::default();
    let cases = refused_cases();
    for (name, packet, want) in &cases {
        match run(&a, now, true, packet, &mut counters_a) {
            Err(got) => assert_eq!(got, *want, "outbound {name}"),
            Ok(_) => panic!("outbound {name}: translated, want a drop as {want}"),
        }
        // The same bytes from a peer (its pod's address as seen through the tunnel).
        match run(&b, now, false, packet, &mut counters_b) {
            Err(_) => {} // B refuses them too; the reason can differ (e.g. not exported)
            Ok(_) => panic!("inbound {name}: translated, want a drop"),
        }
    }
    a.flush(&mut counters_a);
    b.flush(&mut counters_b);
    let stats = a.stats();
    for reason in DropReason::ALL {
        let want = cases.iter().filter(|(_, _, r)| *r == reason).count() as u64;
        assert_eq!(stats.drops(reason), want, "drops counted as {reason}");
    }
    let total_b: u64 = DropReason::ALL.iter().map(|r| b.stats().drops(*r)).sum();
    assert_eq!(total_b, cases.len() as u64, "every inbound refusal counted");
    // Nothing hostile created a flow.
    assert_eq!((a.stats().live_flows(), b.stats().live_flows()), (0, 0));
}

#[test]
fn established_traffic_is_unharmed_between_hostile_packets() {
    let now = Instant::now();
    let a = engine_a(Limits::default());
    let b = engine_b();
    let mut counters = Counters::default();
    let first = forward(&b, now, false, &forward(&a, now, true, &udp()));
    for (name, packet, _) in refused_cases() {
        assert!(
            run(&a, now, true, &packet, &mut counters).is_err(),
            "{name}"
        );
        let again = forward(&b, now, false, &forward(&a, now, true, &udp()));
        assert_eq!(again, first, "the flow's translation after {name}");
    }
    assert_eq!(a.stats().live_flows(), 1);
}

/// Packets that look odd but are legal: translated, checksums valid, and the
/// round trip through both gateways restores every field.
#[test]
fn odd_but_legal_packets_are_translated() {
    let now = Instant::now();
    let a = engine_a(Limits::default());
    let b = engine_b();
    // IP options (record route, 39 bytes with pointer) ride along untouched.
    let mut rr = vec![7u8, 39, 4];
    rr.resize(39, 0);
    let with_options = testing::with_ip_options(&udp(), &rr);
    let out = forward(&a, now, true, &with_options);
    assert_eq!(out[0], 0x4f, "IHL kept");
    assert_eq!(&out[20..59], &with_options[20..59], "options untouched");
    let at_b = forward(&b, now, false, &out);
    assert_eq!(&at_b[20..59], &with_options[20..59]);

    // Bytes past the IP total length (padding a driver left) are not translated.
    let mut padded = udp();
    let len = padded.len();
    padded.extend_from_slice(&[0xee; 6]);
    let mut buf = padded.clone();
    let mut reply = vec![0u8; 576];
    let verdict = a
        .handle_outbound(now, &mut buf, &mut reply, &mut Counters::default())
        .unwrap();
    assert_eq!(verdict, natcore::Verdict::Forward { len });
    assert_eq!(&buf[len..], &[0xee; 6]);
    assert!(testing::all_checksums_valid(&buf[..len]));
}

#[test]
fn first_fragment_is_translated_and_only_its_own_later_fragments_follow() {
    let now = Instant::now();
    let a = engine_a(Limits::default());
    let mut counters = Counters::default();
    let mut first = udp();
    first[6] &= !0x40; // a fragmented packet cannot have DF
    testing::set_fragment(&mut first, true, 0);
    let Ok(Out::Forward(out)) = run(&a, now, true, &first, &mut counters) else {
        panic!("first fragment not translated");
    };
    assert_eq!(
        u16::from_be_bytes([out[6], out[7]]) & 0x2000,
        0x2000,
        "MF kept"
    );
    let egress = out[12..16].to_vec();
    let egress_ip = std::net::Ipv4Addr::new(egress[0], egress[1], egress[2], egress[3]);
    assert!(
        a.plan().egress_ips_for(ip(POD.0)).contains(&egress_ip),
        "source NATed to the pool"
    );

    // A later fragment of the same datagram (same id) follows the first's translation.
    let mut later = first.clone();
    testing::set_fragment(&mut later, false, 8);
    let Ok(Out::Forward(out)) = run(&a, now, true, &later, &mut counters) else {
        panic!("later fragment of a known datagram not translated");
    };
    assert_eq!(&out[12..16], &egress[..]);

    // One with an id no first fragment announced is refused.
    let mut stray = later.clone();
    stray[4] ^= 0xff;
    testing::refill_ip_checksum(&mut stray);
    assert_eq!(
        run(&a, now, true, &stray, &mut counters).err(),
        Some(DropReason::Fragment)
    );
}

/// TCP options a hostile or buggy stack sends: the MSS clamp must neither
/// panic nor rewrite what is not an MSS option, and checksums must verify.
#[test]
fn malformed_tcp_options_are_forwarded_unclamped_never_misparsed() {
    let now = Instant::now();
    let cases: [(&str, &[u8]); 5] = [
        ("MSS option of length 3", &[2, 3, 0x05, 0xb4]),
        ("MSS option of length 6", &[2, 6, 0x05, 0xb4, 0, 0]),
        (
            "option length 0 (would loop)",
            &[1, 1, 0x08, 0, 2, 4, 0x05, 0xb4],
        ),
        ("option list running past the header", &[1, 1, 1, 2, 4]),
        (
            "MSS after EOL is not an option",
            &[0, 0, 0, 0, 2, 4, 0x05, 0xb4],
        ),
    ];
    for (name, options) in cases {
        let a = engine_a(Limits::default());
        let syn = syn_with_options(options);
        let out = forward(&a, now, true, &syn);
        let header = usize::from(syn[32] >> 4) * 4;
        assert_eq!(
            &out[40..20 + header],
            &syn[40..20 + header],
            "{name}: options must be left as they are"
        );
    }
    // And a well-formed MSS after valid NOPs and a window scale is clamped.
    let a = engine_a(Limits::default());
    let syn = syn_with_options(&[1, 3, 3, 7, 2, 4, 0x05, 0xb4]);
    let out = forward(&a, now, true, &syn);
    assert_eq!(
        &out[44..48],
        &[2, 4, 0x05, 0x64],
        "1460 clamped to 1420 − 40"
    );
}
