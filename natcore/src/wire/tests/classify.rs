//! Every refusal has a name, and edge cases of length and fragmentation.

use super::*;
use crate::testing::{refill_ip_checksum, set_fragment};

fn tcp() -> Vec<u8> {
    testing::tcp_packet((POD, 40000), (REMOTE, 443), tcp_flags::ACK, &[], b"data")
}

fn udp() -> Vec<u8> {
    testing::udp_packet((POD, 40000), (REMOTE, 53), b"query")
}

/// Applies `edit` to a valid packet and fixes the IP header checksum, so
/// only the edited field is wrong.
fn edited(mut packet: Vec<u8>, edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    edit(&mut packet);
    refill_ip_checksum(&mut packet);
    packet
}

#[test]
fn ip_level_refusals() {
    assert_eq!(classify(&[]), Err(DropReason::Truncated));
    assert_eq!(classify(&tcp()[..19]), Err(DropReason::Truncated));
    assert_eq!(classify(&[0x45; 12]), Err(DropReason::Truncated));
    let v6 = hex::decode("6000000000083a40fe800000000000000000000000000001ff0200000000000000000000000000018000f7ff00000000").unwrap();
    assert_eq!(classify(&v6), Err(DropReason::Ipv6));
    let mut version5 = tcp();
    version5[0] = 0x55;
    assert_eq!(classify(&version5), Err(DropReason::MalformedIp));
    let ihl4 = edited(tcp(), |p| p[0] = 0x44);
    assert_eq!(classify(&ihl4), Err(DropReason::MalformedIp));
    let short_total = edited(tcp(), |p| p[2..4].copy_from_slice(&19u16.to_be_bytes()));
    assert_eq!(classify(&short_total), Err(DropReason::MalformedIp));
    let long_total = edited(tcp(), |p| p[2..4].copy_from_slice(&100u16.to_be_bytes()));
    assert_eq!(classify(&long_total), Err(DropReason::Truncated));
    let mut bad_checksum = tcp();
    bad_checksum[8] -= 1; // TTL, without fixing the checksum
    assert_eq!(classify(&bad_checksum), Err(DropReason::BadIpChecksum));
    let gre = edited(tcp(), |p| p[9] = 47);
    assert_eq!(classify(&gre), Err(DropReason::UnsupportedProtocol));
}

#[test]
fn header_longer_than_buffer_is_refused() {
    // IHL 15 claims 60 header bytes; total length says 60 but only 44 are here.
    let packet = edited(tcp(), |p| {
        p[0] = 0x4F;
        p[2..4].copy_from_slice(&60u16.to_be_bytes());
    });
    assert_eq!(classify(&packet), Err(DropReason::Truncated));
}

#[test]
fn l4_refusals() {
    let data_offset_4 = edited(tcp(), |p| p[32] = 0x40);
    assert_eq!(classify(&data_offset_4), Err(DropReason::MalformedL4));
    let data_offset_past_end = edited(tcp(), |p| p[32] = 0x70); // 28 > 24 bytes of TCP
    assert_eq!(
        classify(&data_offset_past_end),
        Err(DropReason::MalformedL4)
    );
    let short_tcp = edited(tcp()[..39].to_vec(), |p| {
        p[2..4].copy_from_slice(&39u16.to_be_bytes())
    });
    assert_eq!(classify(&short_tcp), Err(DropReason::MalformedL4));
    let udp_len_7 = edited(udp(), |p| p[24..26].copy_from_slice(&7u16.to_be_bytes()));
    assert_eq!(classify(&udp_len_7), Err(DropReason::MalformedL4));
    let udp_len_long = edited(udp(), |p| p[24..26].copy_from_slice(&14u16.to_be_bytes()));
    assert_eq!(classify(&udp_len_long), Err(DropReason::MalformedL4));
    let ping = testing::icmp_echo(POD, REMOTE, true, 1, 1, b"");
    let short_icmp = edited(ping[..27].to_vec(), |p| {
        p[2..4].copy_from_slice(&27u16.to_be_bytes())
    });
    assert_eq!(classify(&short_icmp), Err(DropReason::MalformedL4));
}

#[test]
fn untranslatable_icmp_is_refused() {
    let redirect = testing::icmp_error(ROUTER, POD, 5, 1, 0x0a000001, &udp());
    assert_eq!(classify(&redirect), Err(DropReason::UnsupportedIcmp));
    let timestamp = edited(testing::icmp_echo(POD, REMOTE, true, 1, 1, &[0; 12]), |p| {
        p[20] = 13
    });
    assert_eq!(classify(&timestamp), Err(DropReason::UnsupportedIcmp));
    // An error about an error.
    let inner_error = testing::icmp_error(ROUTER, EGRESS, 3, 3, 0, &udp());
    let error_about_error = testing::icmp_error(REMOTE, ROUTER, 3, 3, 0, &inner_error);
    assert_eq!(
        classify(&error_about_error),
        Err(DropReason::UnsupportedIcmp)
    );
    // Quoting an untranslatable protocol.
    let gre = edited(udp(), |p| p[9] = 47);
    let about_gre = testing::icmp_error(ROUTER, POD, 3, 3, 0, &gre);
    assert_eq!(classify(&about_gre), Err(DropReason::UnsupportedIcmp));
}

#[test]
fn icmp_error_quotes_must_hold_an_l4_header() {
    let offending = udp();
    let short_quote = testing::icmp_error_quoting(ROUTER, POD, 3, 3, 0, &offending, 7);
    assert_eq!(classify(&short_quote), Err(DropReason::MalformedL4));
    let header_only = testing::icmp_error_quoting(ROUTER, POD, 3, 3, 0, &offending, 0);
    assert_eq!(classify(&header_only), Err(DropReason::MalformedL4));
    let partial_header = edited(header_only, |p| {
        p.truncate(p.len() - 1);
        let len = p.len() as u16;
        p[2..4].copy_from_slice(&len.to_be_bytes());
    });
    assert_eq!(classify(&partial_header), Err(DropReason::MalformedL4));
    let mut fragment = udp();
    set_fragment(&mut fragment, false, 100);
    let about_fragment = testing::icmp_error(ROUTER, POD, 11, 1, 0, &fragment);
    assert_eq!(classify(&about_fragment), Err(DropReason::Fragment));
    // A quoted header with options: the quoted L4 starts at its own IHL.
    let with_options = testing::with_ip_options(&offending, &[0x94, 4, 0, 0]); // router alert
    let error = testing::icmp_error(ROUTER, POD, 3, 3, 0, &with_options);
    let PacketKind::IcmpError { inner, .. } = classify(&error).unwrap().kind else {
        panic!("not an ICMP error")
    };
    assert_eq!((inner.src_port, inner.dst_port), (40000, 53));
}

#[test]
fn fragments() {
    let mut later = udp();
    set_fragment(&mut later, true, 185);
    let c = classify(&later).unwrap();
    assert_eq!(
        c.kind,
        PacketKind::Fragment {
            protocol: 17,
            src: POD,
            dst: REMOTE,
            id: testing::FACTORY_IP_ID
        }
    );
    assert!(c.more_fragments);
    // Only the address changes; the bytes after the header are not L4.
    let mut rewritten = later.clone();
    assert!(rewrite_src(&mut rewritten, &c, EGRESS, 9));
    assert_eq!(rewritten[20..], later[20..]);
    assert!(crate::checksum::ipv4_header_valid(&rewritten));
    assert_eq!(&rewritten[12..16], &EGRESS.octets());

    // A first fragment: the UDP length names the whole datagram.
    let whole = testing::udp_packet((POD, 40000), (REMOTE, 53), &[7; 100]);
    let mut first = whole[..20 + 48].to_vec();
    first[2..4].copy_from_slice(&68u16.to_be_bytes());
    set_fragment(&mut first, true, 0);
    let c = classify(&first).unwrap();
    assert!(c.more_fragments);
    assert!(matches!(c.kind, PacketKind::Flow { .. }));
    // Its rewrite is the first 68 bytes of the whole datagram's rewrite.
    assert!(rewrite_src(&mut first, &c, EGRESS, 61000));
    let mut whole_rewritten = whole.clone();
    let whole_c = classify(&whole).unwrap();
    assert!(rewrite_src(&mut whole_rewritten, &whole_c, EGRESS, 61000));
    assert_eq!(first[20..], whole_rewritten[20..68]);
    assert!(crate::checksum::ipv4_header_valid(&first));
}

#[test]
fn bytes_past_total_length_are_ignored_and_untouched() {
    let mut packet = tcp();
    let len = packet.len();
    packet.extend_from_slice(&[0xEE; 32]);
    let c = classify(&packet).unwrap();
    assert_eq!(c.total_len, len);
    assert!(rewrite_src(&mut packet, &c, EGRESS, 61000));
    assert_eq!(&packet[len..], &[0xEE; 32]);
    assert!(all_checksums_valid(&packet[..len]));
}

#[test]
fn rewrites_refuse_a_classified_that_does_not_match() {
    let tcp_packet = tcp();
    let c = classify(&tcp_packet).unwrap();
    let original = udp();
    for bytes in [
        original.clone(),
        original[..30].to_vec(),
        vec![],
        vec![0x45; 60],
    ] {
        let mut packet = bytes.clone();
        assert!(!rewrite_src(&mut packet, &c, EGRESS, 1));
        assert!(!rewrite_dst(&mut packet, &c, EGRESS, 1));
        assert!(!rewrite_icmp_error(
            &mut packet,
            &c,
            Some(EGRESS),
            None,
            None,
            None
        ));
        assert_eq!(packet, bytes, "a refused rewrite must not write");
    }
}

#[test]
fn rewrite_src_on_icmp_error_moves_only_the_outer_source() {
    let error = testing::icmp_error(ROUTER, EGRESS, 3, 3, 0, &udp());
    let mut packet = error.clone();
    let c = classify(&packet).unwrap();
    assert!(rewrite_src(&mut packet, &c, REMOTE, 1));
    assert_eq!(&packet[12..16], &REMOTE.octets());
    assert_eq!(packet[20..], error[20..]);
    assert!(all_checksums_valid(&packet));
}

/// Found by the classify_rewrite fuzz target (CI's smoke run): an echo reply
/// whose identifier is translated to 0 and whose sequence and payload are 0
/// is an all-zero ICMP message. RFC 1624 eqn. 3 gives a 0x0000 checksum,
/// which a receiver rejects (the sum must be negative zero); 0xFFFF verifies.
#[test]
fn an_icmp_message_translated_to_all_zeros_keeps_a_valid_checksum() {
    let reply = testing::icmp_echo(REMOTE, POD, false, 0xFF00, 0, &[0; 8]);
    assert!(all_checksums_valid(&reply));
    let c = classify(&reply).unwrap();
    let mut bytes = reply.clone();
    assert!(rewrite_dst(&mut bytes, &c, POD, 0));
    assert_eq!(
        &bytes[20..24],
        &[0, 0, 0xFF, 0xFF],
        "type, code, checksum 0xFFFF"
    );
    assert!(all_checksums_valid(&bytes), "{bytes:02x?}");
    // And back: the identifier returns, and so does a checksum that verifies.
    let c = classify(&bytes).unwrap();
    assert!(rewrite_dst(&mut bytes, &c, POD, 0xFF00));
    assert!(all_checksums_valid(&bytes));
    assert_eq!(bytes, reply);
}
