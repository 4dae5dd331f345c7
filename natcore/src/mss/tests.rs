//! MSS clamping at every alignment, malformed option lists, and the
//! frag-needed builder's refusals.

use super::*;
use crate::testing::{self, all_checksums_valid, tcp_flags};
use crate::wire::classify;
use proptest::prelude::*;

const POD: Ipv4Addr = Ipv4Addr::new(10, 244, 1, 5);
const REMOTE: Ipv4Addr = Ipv4Addr::new(243, 0, 255, 254);
const GATEWAY: Ipv4Addr = Ipv4Addr::new(242, 0, 0, 1);

const MSS_1460: [u8; 4] = [2, 4, 0x05, 0xb4];
const MSS_1380: [u8; 4] = [2, 4, 0x05, 0x64];
const NOP: u8 = 1;
const SACK_PERMITTED: [u8; 2] = [4, 2];
const TIMESTAMPS: [u8; 10] = [8, 10, 0, 0, 0x12, 0x34, 0, 0, 0, 0];
const WINDOW_SCALE: [u8; 3] = [3, 3, 7];
const UNKNOWN_KIND: [u8; 6] = [254, 6, 0xf9, 0x89, 0xAB, 0xCD]; // RFC 6994 experimental

fn syn(flags: u8, options: &[u8]) -> Vec<u8> {
    testing::tcp_packet((POD, 40000), (REMOTE, 443), flags, options, b"")
}

/// Clamps `options` (with MSS 1460 somewhere) on a SYN and expects exactly
/// the packet the factory builds with `clamped` options, checksum included.
fn assert_clamps(flags: u8, options: &[u8], clamped: &[u8]) {
    let mut packet = syn(flags, options);
    let c = classify(&packet).unwrap();
    assert!(
        clamp_mss(&mut packet, &c, 1380),
        "did not clamp {options:?}"
    );
    assert_eq!(hex::encode(&packet), hex::encode(syn(flags, clamped)));
    assert!(all_checksums_valid(&packet));
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

#[test]
fn mss_alone_even_offset() {
    assert_clamps(tcp_flags::SYN, &MSS_1460, &MSS_1380);
}

#[test]
fn nop_then_mss_odd_offset() {
    assert_clamps(
        tcp_flags::SYN,
        &cat(&[&[NOP], &MSS_1460]),
        &cat(&[&[NOP], &MSS_1380]),
    );
}

#[test]
fn timestamps_then_mss() {
    // Even: TS at 0, MSS at 10. Odd: NOP, TS, MSS at 11.
    assert_clamps(
        tcp_flags::SYN,
        &cat(&[&TIMESTAMPS, &MSS_1460]),
        &cat(&[&TIMESTAMPS, &MSS_1380]),
    );
    assert_clamps(
        tcp_flags::SYN,
        &cat(&[&[NOP], &TIMESTAMPS, &MSS_1460]),
        &cat(&[&[NOP], &TIMESTAMPS, &MSS_1380]),
    );
}

#[test]
fn sack_permitted_nop_then_mss() {
    assert_clamps(
        tcp_flags::SYN,
        &cat(&[&SACK_PERMITTED, &[NOP], &MSS_1460]),
        &cat(&[&SACK_PERMITTED, &[NOP], &MSS_1380]),
    );
}

#[test]
fn window_scale_and_unknown_kind_then_mss() {
    assert_clamps(
        tcp_flags::SYN,
        &cat(&[&WINDOW_SCALE, &UNKNOWN_KIND, &MSS_1460]),
        &cat(&[&WINDOW_SCALE, &UNKNOWN_KIND, &MSS_1380]),
    );
}

#[test]
fn linux_syn_and_syn_ack_are_clamped() {
    let linux = testing::tcp_options::LINUX_SYN;
    let mut clamped = linux;
    clamped[..4].copy_from_slice(&MSS_1380);
    assert_clamps(tcp_flags::SYN, &linux, &clamped);
    assert_clamps(tcp_flags::SYN | tcp_flags::ACK, &linux, &clamped);
}

#[test]
fn every_mss_option_is_clamped() {
    assert_clamps(
        tcp_flags::SYN,
        &cat(&[&MSS_1460, &[NOP], &MSS_1460]),
        &cat(&[&MSS_1380, &[NOP], &MSS_1380]),
    );
}

#[test]
fn clamping_through_ip_options() {
    let plain = syn(tcp_flags::SYN, &cat(&[&[NOP], &MSS_1460]));
    let mut packet = testing::with_ip_options(&plain, &[0x94, 4, 0, 0]);
    let c = classify(&packet).unwrap();
    assert!(clamp_mss(&mut packet, &c, 1380));
    let expected = testing::with_ip_options(
        &syn(tcp_flags::SYN, &cat(&[&[NOP], &MSS_1380])),
        &[0x94, 4, 0, 0],
    );
    assert_eq!(packet, expected);
}

/// Runs the clamp and expects it to decline without writing a byte.
fn assert_untouched(packet: Vec<u8>, max_mss: u16) {
    let mut copy = packet.clone();
    let c = classify(&copy).unwrap();
    assert!(!clamp_mss(&mut copy, &c, max_mss));
    assert_eq!(copy, packet);
}

#[test]
fn nothing_to_lower_is_left_alone() {
    assert_untouched(syn(tcp_flags::SYN, &MSS_1380), 1380);
    assert_untouched(syn(tcp_flags::SYN, &MSS_1380), 1460);
    assert_untouched(syn(tcp_flags::SYN, &[]), 1380);
    assert_untouched(syn(tcp_flags::SYN, &TIMESTAMPS), 1380);
    // Not a SYN: an MSS option there is meaningless (RFC 9293) and not ours to fix.
    assert_untouched(syn(tcp_flags::ACK, &MSS_1460), 1380);
    assert_untouched(testing::udp_packet((POD, 1), (REMOTE, 2), &MSS_1460), 1380);
    // After EOL nothing is an option.
    assert_untouched(syn(tcp_flags::SYN, &cat(&[&[NOP, 0], &MSS_1460])), 1380);
}

#[test]
fn malformed_option_lists_are_left_alone() {
    let malformed: [&[u8]; 7] = [
        &[2, 3, 0x05],                             // MSS of length 3
        &[2, 5, 0x05, 0xb4, 0],                    // MSS of length 5
        &[2, 6, 0x05, 0xb4, 0, 0],                 // MSS of length 6
        &[8, 40, 0, 0],                            // timestamps running past the header
        &[3, 0, 7, 2, 4, 5, 0xb4],                 // zero length before an MSS
        &[3, 1, 7, 2, 4, 5, 0xb4],                 // length 1
        &[1, 1, 1, 2, 4, 5, 0xb4, 1, 1, 1, 1, 99], // kind 99 without a length byte
    ];
    for options in malformed {
        assert_untouched(syn(tcp_flags::SYN, options), 1380);
    }
    // MSS itself cut by the end of the header.
    let mut packet = syn(tcp_flags::SYN, &[1, 1, 2, 4]);
    // The factory pads to 4 bytes, so the MSS has a length but no value.
    assert_eq!(packet.len(), 44);
    let c = classify(&packet).unwrap();
    assert!(!clamp_mss(&mut packet, &c, 1));
}

#[test]
fn mss_for_mtu_arithmetic() {
    assert_eq!(mss_for_mtu(1500), 1460);
    assert_eq!(mss_for_mtu(1420), 1380);
    assert_eq!(mss_for_mtu(30), 0);
}

#[test]
fn frag_needed_refusals() {
    let big = syn(tcp_flags::ACK, &[]);
    let mut out = [0u8; 128];
    assert_eq!(build_frag_needed(&big, 1420, GATEWAY, &mut out[..55]), None);
    assert_eq!(
        build_frag_needed(&big, 1420, GATEWAY, &mut out[..56]),
        Some(56)
    );
    assert_eq!(build_frag_needed(&big[..30], 1420, GATEWAY, &mut out), None);
    let mut bad = big.clone();
    bad[8] ^= 1;
    assert_eq!(build_frag_needed(&bad, 1420, GATEWAY, &mut out), None);
    let error = testing::icmp_error(GATEWAY, POD, 3, 3, 0, &big);
    assert_eq!(build_frag_needed(&error, 1420, GATEWAY, &mut out), None);
    let mut fragment = big.clone();
    testing::set_fragment(&mut fragment, false, 10);
    assert_eq!(build_frag_needed(&fragment, 1420, GATEWAY, &mut out), None);
    let multicast = testing::udp_packet((POD, 1), (Ipv4Addr::new(239, 1, 1, 1), 2), b"");
    assert_eq!(build_frag_needed(&multicast, 1420, GATEWAY, &mut out), None);
    let from_nowhere = testing::udp_packet((Ipv4Addr::UNSPECIFIED, 68), (REMOTE, 67), b"");
    assert_eq!(
        build_frag_needed(&from_nowhere, 1420, GATEWAY, &mut out),
        None
    );
}

#[test]
fn frag_needed_for_echo_quotes_options_and_short_payloads() {
    let ping = testing::icmp_echo(POD, REMOTE, true, 7, 1, &[0xAB; 1400]);
    let with_options = testing::with_ip_options(&ping, &[0x94, 4, 0, 0]);
    let mut out = [0u8; 128];
    let len = build_frag_needed(&with_options, 1280, GATEWAY, &mut out).unwrap();
    assert_eq!(len, 20 + 8 + 24 + 8);
    assert_eq!(&out[28..len], &with_options[..32]);
    assert_eq!(u16::from_be_bytes([out[26], out[27]]), 1280);
    assert!(all_checksums_valid(&out[..len]));
    // An L4 part shorter than 8 bytes is quoted whole.
    let tiny = testing::udp_packet((POD, 1), (REMOTE, 2), b"");
    let len = build_frag_needed(&tiny, 1280, GATEWAY, &mut out).unwrap();
    assert_eq!(&out[28..len], &tiny[..]);
}

/// One TCP option as a sender might write it, malformed ones included.
fn option_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(vec![NOP]),
        Just(vec![0]),
        any::<u16>().prop_map(|mss| {
            let [h, l] = mss.to_be_bytes();
            vec![2, 4, h, l]
        }),
        Just(SACK_PERMITTED.to_vec()),
        Just(TIMESTAMPS.to_vec()),
        Just(WINDOW_SCALE.to_vec()),
        proptest::collection::vec(any::<u8>(), 0..8),
    ]
}

fn options_strategy() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(option_strategy(), 0..8).prop_map(|parts| {
        let mut options = parts.concat();
        options.truncate(40);
        options
    })
}

proptest! {
    /// Clamping never panics, never raises an MSS, keeps the checksum valid,
    /// and writes nothing unless it lowered something.
    #[test]
    fn clamp_never_raises_and_keeps_checksum(
        options in options_strategy(),
        flags in any::<u8>(),
        max_mss in any::<u16>(),
        payload in proptest::collection::vec(any::<u8>(), 0..16),
    ) {
        let original = testing::tcp_packet((POD, 40000), (REMOTE, 443), flags, &options, &payload);
        let mut packet = original.clone();
        let c = classify(&packet).unwrap();
        let lowered = clamp_mss(&mut packet, &c, max_mss);
        prop_assert!(all_checksums_valid(&packet));
        if !lowered {
            prop_assert_eq!(&packet, &original);
        } else {
            prop_assert!(flags & tcp_flags::SYN != 0);
            // Only MSS values (and the TCP checksum) changed, each to
            // max_mss and downwards.
            let opts = 40..40 + original[32] as usize / 16 * 4 - 20;
            let tcp_checksum = 36..38;
            for i in 0..packet.len() {
                if packet[i] != original[i] {
                    prop_assert!(
                        opts.contains(&i) || tcp_checksum.contains(&i),
                        "byte {} changed outside options", i
                    );
                }
            }
            let mut at = 0;
            while let Some(option) = next_option(&original[opts.clone()], at) {
                if let TcpOption::Mss { value } = option.kind {
                    let now = u16::from_be_bytes([packet[40 + at + 2], packet[40 + at + 3]]);
                    prop_assert_eq!(now, value.min(max_mss));
                }
                at = option.next;
            }
        }
    }

    /// Arbitrary bytes claiming to be a SYN never make the clamp panic.
    #[test]
    fn clamp_never_panics_on_mutations(
        options in options_strategy(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
    ) {
        let original = syn(tcp_flags::SYN, &options);
        let c = classify(&original).unwrap();
        let mut packet = original.clone();
        for (at, value) in flips {
            let len = packet.len();
            packet[at % len] = value;
        }
        let _ = clamp_mss(&mut packet, &c, 536);
        let mut short = original[..original.len() / 2].to_vec();
        prop_assert!(!clamp_mss(&mut short, &c, 536));
    }
}
