//! The packet layer's hot path allocates nothing: classify, every rewrite,
//! the MSS clamp and the frag-needed builder run under a counting allocator.
//! (Its own test binary, so the allocator sees nothing but this test.)

use natcore::mss::{build_frag_needed, clamp_mss};
use natcore::wire::{classify, rewrite_dst, rewrite_icmp_error, rewrite_src};
use std::net::Ipv4Addr;

#[path = "support/counting_allocator.rs"]
mod counting_allocator;

use counting_allocator::allocations;

/// Golden packets (see natcore/src/wire/tests/golden.py).
const PACKETS: [&str; 9] = [
    // TCP_SYN
    "4500003c1c46400040061f7e0af40105f300fffe9c4001bb0102030400000000a002faf099e10000020405b40402080a000012340000000001030307",
    // UDP_DNS
    "450000281c46400040113876f300fffef200010914e900350014f169123401000001000000000000",
    // UDP_NO_CHECKSUM
    "450000221c46400040111f8d0af40105f300fffe9c4112b5000e000076786c616e3f",
    // ECHO_REQUEST
    "450000241c46400040011f9b0af40105f300fffe08005abc0bad00016162636465666768",
    // ERR_UDP
    "45c0003800000000400194fef300fffef20000070303320b00000000450000211c4640004011397ff2000007f300fffeee480035000ddc66",
    // ERR_TCP
    "45c00044000000004001c5f0c0000201f200000703044b8700000578450005a01c4640004006340bf2000007f300fffeee4801bb01020304050607085018faf060db0000",
    // ERR_ECHO
    "45c00038000000004001c5fcc0000201f20000070b00869500000000450000241c4640004001398cf2000007f300fffe08007655f00d0007",
    // TCP_IP_OPTIONS
    "470000301c464000400612830af40105f300fffe07070400000000009c4001bb01020304050607085010faf007dc0000",
    // SYNACK_NOP_MSS
    "450000301c46400040061f8af300fffe0af4010501bb9c4001020304050607087012faf02dc8000001020405b4010101",
];

#[test]
fn hot_path_does_not_allocate() {
    let a = Ipv4Addr::new(242, 0, 0, 7);
    let mut buffers: Vec<Vec<u8>> = PACKETS.iter().map(|h| hex::decode(h).unwrap()).collect();
    let mut reply = [0u8; 1500];
    let before = allocations();
    let mut translated = 0;
    for packet in &mut buffers {
        let c = classify(packet).unwrap();
        translated += usize::from(rewrite_src(packet, &c, a, 61000));
        translated += usize::from(rewrite_dst(packet, &c, a, 61001));
        translated += usize::from(rewrite_icmp_error(
            packet,
            &c,
            Some(a),
            Some(a),
            Some((a, 1)),
            Some((a, 2)),
        ));
        let c = classify(packet).unwrap();
        translated += usize::from(clamp_mss(packet, &c, 536));
        translated += usize::from(build_frag_needed(packet, 1280, a, &mut reply).is_some());
    }
    let after = allocations();
    assert_eq!(after - before, 0, "the packet layer allocated");
    // 6 flows × 2 rewrites + 3 errors × (2 outer + 1 full) + 2 clamps + 6 frag-needed.
    assert_eq!(translated, 12 + 9 + 2 + 6);
    // The counter does count.
    let boxed = std::hint::black_box(Box::new(after));
    assert!(
        allocations() > after,
        "counting allocator saw nothing ({boxed})"
    );
}
