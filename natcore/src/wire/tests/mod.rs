//! Classification and rewrite tests over factory packets.

mod classify;
mod golden;

use super::*;
use crate::testing::{self, all_checksums_valid, tcp_flags};
use crate::DropReason;

const POD: Ipv4Addr = Ipv4Addr::new(10, 244, 1, 5);
const EGRESS: Ipv4Addr = Ipv4Addr::new(242, 0, 0, 7);
const REMOTE: Ipv4Addr = Ipv4Addr::new(243, 0, 255, 254);
const ROUTER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const SVC_GLOBAL: Ipv4Addr = Ipv4Addr::new(242, 0, 1, 9);
const SVC: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);

#[test]
fn tcp_rewrite_src_and_back() {
    let original = testing::tcp_packet(
        (POD, 40000),
        (REMOTE, 443),
        tcp_flags::SYN,
        &testing::tcp_options::LINUX_SYN,
        b"",
    );
    let mut packet = original.clone();
    let c = classify(&packet).unwrap();
    let PacketKind::Flow {
        tuple,
        tcp_flags: flags,
        echo_request,
    } = c.kind
    else {
        panic!("{c:?}")
    };
    assert_eq!(
        tuple,
        FiveTuple {
            protocol: Protocol::Tcp,
            src: POD,
            src_port: 40000,
            dst: REMOTE,
            dst_port: 443
        }
    );
    assert_eq!(flags, tcp_flags::SYN);
    assert!(!echo_request);
    assert!(rewrite_src(&mut packet, &c, EGRESS, 61000));
    assert!(all_checksums_valid(&packet));
    let c2 = classify(&packet).unwrap();
    let PacketKind::Flow { tuple, .. } = c2.kind else {
        panic!()
    };
    assert_eq!((tuple.src, tuple.src_port), (EGRESS, 61000));
    assert!(rewrite_src(&mut packet, &c2, POD, 40000));
    assert_eq!(packet, original);
}

#[test]
fn icmp_error_with_udp_rewrite_and_back() {
    let offending = testing::udp_packet((EGRESS, 61000), (REMOTE, 53), b"query");
    let original = testing::icmp_error(ROUTER, EGRESS, 3, 4, 1400, &offending);
    assert!(all_checksums_valid(&original));
    let mut packet = original.clone();
    let c = classify(&packet).unwrap();
    let PacketKind::IcmpError { inner, .. } = c.kind else {
        panic!("{c:?}")
    };
    assert_eq!(
        (inner.src, inner.src_port, inner.dst, inner.dst_port),
        (EGRESS, 61000, REMOTE, 53)
    );
    assert!(rewrite_icmp_error(
        &mut packet,
        &c,
        None,
        Some(POD),
        Some((POD, 40000)),
        None
    ));
    assert!(all_checksums_valid(&packet));
    let expected_inner = {
        let mut o = offending.clone();
        let oc = classify(&o).unwrap();
        assert!(rewrite_src(&mut o, &oc, POD, 40000));
        o
    };
    assert_eq!(&packet[28..], &expected_inner[..28]);
    assert!(rewrite_icmp_error(
        &mut packet,
        &c,
        None,
        Some(EGRESS),
        Some((EGRESS, 61000)),
        None
    ));
    assert_eq!(packet, original);
}

#[test]
fn ipv6_is_refused() {
    let mut packet = [0u8; 40];
    packet[0] = 0x60;
    assert_eq!(classify(&packet), Err(DropReason::Ipv6));
}
